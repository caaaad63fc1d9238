#!/bin/bash
# Locked is not absent: with the default collection locked every command
# says "locked", the state-changing ones exit 75 and change nothing, the
# denials are audited, check exits 2 and doctor reports the lock
# (DESIGN.md "Locked is not absent"; docs/cli-contract.md exit codes).
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

CANARY="CANARY-s3cr3t-cli-locked"
PW=$CANARY
HOST=smtp.example.org
log=$(audit_log)
TEMPFAIL=75

begin "setup: account lk1 with a previous version; the collection is then locked"
expect_rc 0 "$SMTPCRED" add lk1 --host "$HOST" --user lk1 \
	--password-stdin < <(printf '%s\n' "$PW-lk1-v1")
expect_rc 0 "$SMTPCRED" rotate lk1 --password-stdin < <(printf '%s\n' "$PW-lk1-v2")
expect_rc 0 "$SMTPCRED" show lk1 --json
cp "$OUT" "$CAP_DIR/lk1-before.json"
keyring_items "$CAP_DIR/items-before"
locked_before=$("$PYTHON" -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("outcome") == "locked"))' "$log")
expect_rc 0 keyring_ctl lock
expect_rc 0 keyring_ctl status
assert_contains "$OUT" "locked"
assert_not_contains "$OUT" "unlocked"
end

# Each state-changing command: exit 75 and "locked" (with the account).
begin "add of a new account: exit 75, 'locked'"
expect_rc "$TEMPFAIL" "$SMTPCRED" add lk2 --host "$HOST" --user lk2 \
	--password-stdin < <(printf '%s\n' "$PW-lk2-v1")
assert_contains "$ERR" "locked"
assert_contains "$ERR" "lk2"
end

begin "rotate: exit 75, 'locked'"
expect_rc "$TEMPFAIL" "$SMTPCRED" rotate lk1 --password-stdin < <(printf '%s\n' "$PW-lk1-v3")
assert_contains "$ERR" "locked"
assert_contains "$ERR" "lk1"
end

begin "rollback: exit 75, 'locked'"
expect_rc "$TEMPFAIL" "$SMTPCRED" rollback lk1
assert_contains "$ERR" "locked"
end

begin "remove: exit 75, 'locked'"
expect_rc "$TEMPFAIL" "$SMTPCRED" remove lk1 --yes
assert_contains "$ERR" "locked"
end

begin "rotate --resume: exit 75, 'locked'"
expect_rc "$TEMPFAIL" "$SMTPCRED" rotate lk1 --resume
assert_contains "$ERR" "locked"
end

begin "rotate --abort: exit 75, 'locked'"
expect_rc "$TEMPFAIL" "$SMTPCRED" rotate lk1 --abort
assert_contains "$ERR" "locked"
end

# Read-only commands: report the lock (exit 0 with the state shown, or 75).
begin "show: reports 'locked' (exit 0 or 75), never 'not found'"
expect_rc "0|$TEMPFAIL" "$SMTPCRED" show lk1
assert_output_contains "locked"
assert_not_contains "$ERR" "not found"
end

begin "show --json: reports 'locked' (exit 0 or 75)"
expect_rc "0|$TEMPFAIL" "$SMTPCRED" show lk1 --json
assert_output_contains "locked"
if [ "$RC" = 0 ]; then
	json_true "$OUT" 'd["name"] == "lk1"'
fi
end

begin "list: reports 'locked' (exit 0 or 75)"
expect_rc "0|$TEMPFAIL" "$SMTPCRED" list
assert_output_contains "locked"
expect_rc "0|$TEMPFAIL" "$SMTPCRED" list --json
if [ "$RC" = 0 ]; then
	json_true "$OUT" '[o["status"] for o in d if o["name"] == "lk1"] == ["locked"]'
else
	assert_output_contains "locked"
fi
end

begin "check: exit 2, 'locked'"
expect_rc 2 "$SMTPCRED" check
assert_output_contains "locked"
end

begin "doctor: reports the collection as locked"
expect_rc '0|1' "$SMTPCRED" doctor
assert_matches "$OUT" '^(ok|warn|FAIL)[[:space:]]+.*collection.*locked'
assert_not_matches "$OUT" '^ok[[:space:]]+.*collection.*unlocked'
end

begin "no prompt was needed: the collection is still locked"
expect_rc 0 keyring_ctl status
assert_contains "$OUT" "locked"
assert_not_contains "$OUT" "unlocked"
end

begin "after unlocking: show --json is byte-identical, lk2 does not exist, no item changed"
expect_rc 0 keyring_ctl unlock
expect_rc 0 "$SMTPCRED" show lk1 --json
assert_same_file "$CAP_DIR/lk1-before.json" "$OUT"
expect_rc 1 "$SMTPCRED" show lk2
assert_contains "$ERR" "not found"
keyring_items "$CAP_DIR/items-after"
assert_same_file "$CAP_DIR/items-before" "$CAP_DIR/items-after"
assert_secret "$PW-lk1-v2" account lk1 state current
assert_secret "$PW-lk1-v1" account lk1 state previous
end

begin "the denied operations were audited with outcome 'locked'"
jsonl_true "$log" 'any(r.get("outcome") == "locked" and r.get("account") == "lk2" for r in L)'
jsonl_true "$log" 'len([r for r in L if r.get("outcome") == "locked" and r.get("account") == "lk1"]) >= 3'
jsonl_true "$log" 'len([r for r in L if r.get("outcome") == "locked"]) >= '"$((locked_before + 4))"
"$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("outcome") == "locked": print(r.get("event"), r.get("account"), r.get("detail"))' "$log" 2>&1 |
	sed 's/^/locked record: /' | diag
jsonl_true "$log" 'not any(r.get("outcome") == "ok" and r.get("account") == "lk2" for r in L)'
end

begin "the audit chain is intact"
expect_rc 0 "$SMTPCRED" audit --verify
assert_contains "$OUT" "chain intact"
end

begin "after unlocking, the commands work again (rotate, check)"
expect_rc 0 "$SMTPCRED" rotate lk1 --password-stdin < <(printf '%s\n' "$PW-lk1-v3")
expect_rc 0 "$SMTPCRED" check
end

canary_check "$CANARY"
finish
