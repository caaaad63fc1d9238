#!/bin/bash
# smtpcred rotate / rollback against a real gnome-keyring
# (docs/cli-contract.md: "rotate", "rollback"; DESIGN.md "Rotation").
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

CANARY="CANARY-s3cr3t-cli-rotate"
PW=$CANARY
HOST=smtp.example.org
log=$(audit_log)

add() { # NAME [OPTIONS...]: version 1 holds $PW-NAME-v1
	expect_rc 0 "$SMTPCRED" add "$1" --host "$HOST" --user "$1" "${@:2}" \
		--password-stdin < <(printf '%s\n' "$PW-$1-v1")
}

rotate() { # NAME N: rotate to version N, secret $PW-NAME-vN
	expect_rc 0 "$SMTPCRED" rotate "$1" --password-stdin < <(printf '%s\n' "$PW-$1-v$2")
}

show_json() { # NAME: show --json into $OUT
	expect_rc 0 "$SMTPCRED" show "$1" --json
}

# The account is in a settled state: exactly one current, no pending, no
# version carrying a commit intent.
assert_settled() { # FILE
	json_true "$1" 'len(by_state("current")) == 1'
	json_true "$1" 'len(by_state("pending")) == 0'
	json_true "$1" 'not any(v.get("commit") for v in vs)'
}

begin "rotate prints 'rotated NAME: version 2 is current (version 1 is previous until T)'"
add r1
rotate r1 2
assert_matches "$OUT" '^rotated r1: version 2 is current \(version 1 is previous until [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\)'
end

begin "after rotate: version 2 current, version 1 previous with grace_until = now + 7 days"
show_json r1
cp "$OUT" "$CAP_DIR/r1-v2.json"
assert_settled "$OUT"
json_true "$OUT" 'nums() == [1, 2]'
json_true "$OUT" 'ver(2)["state"] == "current" and ver(1)["state"] == "previous"'
json_true "$OUT" 'abs(secs(ver(1)["grace_until"]) - (now + 7 * DAY)) < 3600'
json_true "$OUT" 'abs(secs(ver(2)["promoted"]) - now) < 3600'
json_true "$OUT" 'abs(secs(ver(2)["not_after"]) - (now + 90 * DAY)) < 3600'
json_true "$OUT" 'ver(2)["rotation_id"] and ver(2)["rotation_id"] != ver(1)["rotation_id"]'
end

begin "the new secret is stored as current, the old one as previous"
assert_secret "$PW-r1-v2" account r1 state current
assert_secret "$PW-r1-v1" account r1 state previous
assert_secret "$PW-r1-v2" account r1 version 2
end

begin "a lease would now use version 2 (the single current, no commit intent)"
json_true "$CAP_DIR/r1-v2.json" '[int(v["version"]) for v in vs if v["state"] == "current"] == [2]'
end

begin "the rotation wrote audit records (ok) for its steps, naming version 2"
jsonl_true "$log" 'len([r for r in L if r.get("account") == "r1" and "rotat" in str(r.get("event"))]) >= 2'
jsonl_true "$log" 'all(r.get("outcome") == "ok" for r in L if r.get("account") == "r1" and "rotat" in str(r.get("event")))'
jsonl_true "$log" 'any(r.get("account") == "r1" and "rotat" in str(r.get("event")) and r.get("version") in (2, "2") for r in L)'
"$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("account") == "r1": print(r.get("event"), r.get("outcome"), r.get("version"), r.get("detail"))' "$log" 2>&1 |
	sed 's/^/audit: /' | diag
end

begin "three more rotations: the oldest retired version is pruned (--keep 2)"
rotate r1 3
rotate r1 4
rotate r1 5
show_json r1
assert_settled "$OUT"
json_true "$OUT" 'nums() == [2, 3, 4, 5]'
json_true "$OUT" 'states() == ["retired", "retired", "previous", "current"]'
assert_secret "$PW-r1-v5" account r1 state current
assert_secret "$PW-r1-v4" account r1 state previous
end

begin "--keep 1 keeps one retired version"
add k1 --keep 1
rotate k1 2
rotate k1 3
rotate k1 4
show_json k1
assert_settled "$OUT"
json_true "$OUT" 'nums() == [2, 3, 4]'
json_true "$OUT" 'states() == ["retired", "previous", "current"]'
end

begin "rollback makes the previous version current again"
expect_rc 0 "$SMTPCRED" rollback r1
assert_contains "$OUT" "rolled back r1: version 4 is current again"
show_json r1
cp "$OUT" "$CAP_DIR/r1-rolled-back.json"
assert_settled "$OUT"
json_true "$OUT" 'ver(4)["state"] == "current"'
json_true "$OUT" 'ver(5) is None or ver(5)["state"] != "current"'
assert_secret "$PW-r1-v4" account r1 state current
jsonl_true "$log" 'any(r.get("account") == "r1" and "rollback" in str(r.get("event")) and r.get("outcome") == "ok" for r in L)'
end

begin "rollback again: refused (77 or 1) with a message, nothing changed"
expect_rc '77|1' "$SMTPCRED" rollback r1
assert_matches "$ERR" 'r1'
assert_matches "$ERR" 'grace|previous'
show_json r1
assert_same_file "$CAP_DIR/r1-rolled-back.json" "$OUT"
end

begin "rotate after a rollback works and makes version 6 current"
rotate r1 6
assert_contains "$OUT" "rotated r1: version 6 is current (version 4 is previous until"
show_json r1
assert_settled "$OUT"
json_true "$OUT" 'ver(6)["state"] == "current" and ver(4)["state"] == "previous"'
end

if [ "$HAVE_HOOKS" = 1 ]; then
	begin "rollback after the grace window: exit 77, nothing changed"
	add g1 --grace 1
	rotate g1 2
	show_json g1
	cp "$OUT" "$CAP_DIR/g1-before.json"
	later=$(($(date +%s) + 2 * 86400))
	expect_rc 77 env SMTPCRED_TEST_NOW="$later" "$SMTPCRED" rollback g1
	assert_matches "$ERR" 'grace'
	show_json g1
	assert_same_file "$CAP_DIR/g1-before.json" "$OUT"
	end

	begin "rollback inside a --grace 1 window (test clock + 12 h) works"
	expect_rc 0 env SMTPCRED_TEST_NOW="$(($(date +%s) + 43200))" "$SMTPCRED" rollback g1
	assert_contains "$OUT" "rolled back g1: version 1 is current again"
	end
else
	tap_skip "rollback after the grace window (test clock)" "needs -Dtest_hooks=true"
fi

begin "rotate of a missing account: exit 1 'not found', nothing created"
keyring_items "$CAP_DIR/items-before-missing"
expect_rc 1 "$SMTPCRED" rotate nosuch --password-stdin < <(printf '%s\n' "$PW-nosuch")
assert_contains "$ERR" "not found"
assert_contains "$ERR" "nosuch"
keyring_items "$CAP_DIR/items-after-missing"
assert_same_file "$CAP_DIR/items-before-missing" "$CAP_DIR/items-after-missing"
end

begin "rollback of a missing account: exit 1 'not found'"
expect_rc 1 "$SMTPCRED" rollback nosuch
assert_contains "$ERR" "not found"
end

begin "rotate with an empty secret: exit 65, nothing changed"
show_json r1
cp "$OUT" "$CAP_DIR/r1-before-bad.json"
expect_rc 65 "$SMTPCRED" rotate r1 --password-stdin </dev/null
assert_matches "$ERR" 'empty'
show_json r1
assert_same_file "$CAP_DIR/r1-before-bad.json" "$OUT"
end

begin "rotate with no terminal and no password option: exit 64, nothing changed"
expect_rc_notty 64 "$SMTPCRED" rotate r1 </dev/null
assert_contains "$ERR" "no terminal to read the password from"
show_json r1
assert_same_file "$CAP_DIR/r1-before-bad.json" "$OUT"
end

# --verify against 127.0.0.1:1, where nothing listens: refused at once
# whether or not this build has the SMTP sender (69 without it).
begin "rotate --verify that cannot verify: refused (1 or 69), current untouched, no pending left"
add vf1 --host 127.0.0.1 --port 1 --tls implicit
show_json vf1
cp "$OUT" "$CAP_DIR/vf1-before.json"
expect_rc '1|69' "$SMTPCRED" rotate vf1 --verify --password-stdin < <(printf '%s\n' "$PW-vf1-v2")
assert_matches "$ERR" 'verif'
show_json vf1
assert_same_file "$CAP_DIR/vf1-before.json" "$OUT"
assert_secret "$PW-vf1-v1" account vf1 state current
jsonl_true "$log" 'not any(r.get("account") == "vf1" and r.get("event") == "rotate-promote" for r in L)'
end

begin "rotate --resume with nothing to resume: exit 0 'nothing to resume'"
expect_rc 0 "$SMTPCRED" rotate r1 --resume
assert_contains "$OUT" "r1: nothing to resume"
show_json r1
assert_settled "$OUT"
end

begin "rotate --abort with no pending version: exit 1, nothing changed"
show_json r1
cp "$OUT" "$CAP_DIR/r1-before-abort.json"
expect_rc 1 "$SMTPCRED" rotate r1 --abort
assert_matches "$ERR" 'pending|nothing'
show_json r1
assert_same_file "$CAP_DIR/r1-before-abort.json" "$OUT"
end

begin "rotate --resume together with --abort: usage error 64"
expect_rc 64 "$SMTPCRED" rotate r1 --resume --abort </dev/null
end

# The per-account lock file is an implementation detail
# ($XDG_RUNTIME_DIR/smtpcred/NAME.lock in keyring/rotation.c); skipped if
# it is not there.
lockfile=${XDG_RUNTIME_DIR:-/nonexistent}/smtpcred/r1.lock
if [ -f "$lockfile" ]; then
	begin "rotate while another process holds the account's lock: exit 75, nothing changed"
	show_json r1
	cp "$OUT" "$CAP_DIR/r1-before-busy.json"
	exec 5<>"$lockfile"
	flock -x 5
	expect_rc 75 "$SMTPCRED" rotate r1 --password-stdin 5<&- < <(printf '%s\n' "$PW-r1-busy")
	assert_contains "$ERR" "r1"
	expect_rc 75 "$SMTPCRED" rollback r1 5<&-
	exec 5<&-
	show_json r1
	assert_same_file "$CAP_DIR/r1-before-busy.json" "$OUT"
	end
else
	tap_skip "rotate while another process holds the account's lock" "no lock file at $lockfile"
fi

begin "the audit chain is intact after all of this"
expect_rc 0 "$SMTPCRED" audit --verify
assert_contains "$OUT" "chain intact"
end

canary_check "$CANARY"
finish
