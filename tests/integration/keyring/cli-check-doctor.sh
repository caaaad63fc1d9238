#!/bin/bash
# smtpcred check (monitoring exit codes 0/1/2), list --overdue, and doctor
# (docs/cli-contract.md "check", "doctor").  Moving the clock needs a build
# with -Dtest_hooks=true: SMTPCRED_TEST_NOW=<unix seconds> is "now".
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

CANARY="CANARY-s3cr3t-cli-check-doctor"
PW=$CANARY
HOST=smtp.example.org
log=$(audit_log)
NOW=$(date +%s)
LATER=$((NOW + 200 * 86400))	# 200 days ahead

add() { # NAME [OPTIONS...]
	expect_rc 0 "$SMTPCRED" add "$1" --host "$HOST" --user "$1" "${@:2}" \
		--password-stdin < <(printf '%s\n' "$PW-$1-v1")
}

at_later() { # WANT CMD...: run with the clock 200 days ahead
	local want=$1
	shift
	expect_rc "$want" env SMTPCRED_TEST_NOW="$LATER" "$@"
}

begin "check with no account at all: exit 0"
expect_rc 0 "$SMTPCRED" check
end

begin "check with fresh accounts: exit 0, nothing to report"
add fresh1
add fresh2 --max-age 30 --warn-days 7
expect_rc 0 "$SMTPCRED" check
assert_not_contains "$OUT" "fresh1"
assert_not_contains "$OUT" "fresh2"
end

begin "an account inside its warning window (--max-age 10 --warn-days 30): exit 1 naming it"
add warn1 --max-age 10 --warn-days 30
expect_rc 1 "$SMTPCRED" check
assert_output_contains "warn1"
assert_not_contains "$OUT" "fresh1"
expect_rc 0 "$SMTPCRED" list --json
json_true "$OUT" '{o["name"]: o["status"] for o in d}["warn1"] == "warning"'
json_true "$OUT" '{o["name"]: o["status"] for o in d}["fresh1"] == "ok"'
end

begin "check --warn-days 100 puts the 90-day account in its warning window too"
expect_rc 1 "$SMTPCRED" check --warn-days 100
assert_output_contains "fresh1"
end

begin "check --warn-days abc: exit 64"
expect_rc 64 "$SMTPCRED" check --warn-days abc
end

if [ "$HAVE_HOOKS" = 1 ]; then
	begin "200 days later, after rotating the others: only the unrotated account is overdue"
	add old1 --max-age 30
	for a in fresh1 fresh2 warn1; do
		at_later 0 "$SMTPCRED" rotate "$a" --password-stdin < <(printf '%s\n' "$PW-$a-v2")
	done
	at_later 0 "$SMTPCRED" show fresh1 --json
	SMTPCRED_TEST_NOW=$LATER json_true "$OUT" 'abs(secs(ver(2)["promoted"]) - now) < 3600'
	end

	begin "200 days later: check exits 2 naming the overdue account"
	at_later 2 "$SMTPCRED" check
	assert_output_contains "old1"
	assert_output_matches 'overdue|not_after|expired'
	end

	begin "200 days later: list --overdue shows only it"
	at_later 0 "$SMTPCRED" list --overdue
	assert_matches "$OUT" '^old1[[:space:]]'
	assert_not_contains "$OUT" "fresh1"
	assert_not_contains "$OUT" "fresh2"
	assert_not_contains "$OUT" "warn1"
	at_later 0 "$SMTPCRED" list --overdue --json
	json_true "$OUT" '[(o["name"], o["status"]) for o in d] == [("old1", "overdue")]'
	at_later 0 "$SMTPCRED" list --json
	json_true "$OUT" '{o["name"]: o["status"] for o in d} == {"fresh1": "ok", "fresh2": "ok", "warn1": "warning", "old1": "overdue"}'
	end
else
	tap_skip "200 days later: check 2, list --overdue (test clock)" "needs -Dtest_hooks=true"
fi

begin "today (real clock) nothing is overdue: list --overdue is empty"
expect_rc 0 "$SMTPCRED" list --overdue --json
json_true "$OUT" 'd == []'
end

begin "an account waiting for its first login is not a failure (exit 0 or 1)"
expect_rc_notty 0 "$SMTPCRED" add login1 --host "$HOST" --user login1 --source login </dev/null
expect_rc '0|1' "$SMTPCRED" check
end

if [ "$HAVE_HOOKS" = 1 ]; then
	begin "an enforced account past not_after is overdue too (exit 2)"
	add enf1 --max-age 1 --enforce
	expect_rc 2 env SMTPCRED_TEST_NOW="$((NOW + 2 * 86400))" "$SMTPCRED" check
	assert_output_contains "enf1"
	end
else
	tap_skip "an enforced account past not_after (test clock)" "needs -Dtest_hooks=true"
fi

# The time-shifted accounts are removed: doctor looks at the real clock.
begin "cleanup: remove the accounts of the clock tests"
expect_rc 0 "$SMTPCRED" list --json
for a in $(json_get "$OUT" '" ".join(o["name"] for o in d)'); do
	expect_rc 0 "$SMTPCRED" remove "$a" --yes
done
expect_rc 0 "$SMTPCRED" list --json
json_true "$OUT" 'd == []'
end

# ---- doctor -----------------------------------------------------------------------

begin "doctor: exit 0 with ok lines for bus, service, collection, audit log and chain"
add good1
add warn2 --max-age 10 --warn-days 30
expect_rc 0 "$SMTPCRED" doctor
assert_matches "$OUT" '^ok[[:space:]]+session bus'
assert_matches "$OUT" '^ok[[:space:]]+Secret Service'
assert_matches "$OUT" '^ok[[:space:]]+.*collection.*unlocked'
assert_matches "$OUT" '^ok[[:space:]]+audit log.*writable|^ok[[:space:]]+audit log'
assert_matches "$OUT" '^ok[[:space:]]+audit chain'
assert_not_matches "$OUT" '^FAIL'
end

# ERE for a fixed string
ere() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }

begin "doctor names the Secret Service program that answered, and its version"
expect_rc 0 "$SMTPCRED" doctor
case ${SMTPCRED_TEST_SS:-gnome-keyring} in
gnome-keyring)
	# no version on the bus: the installed package's, as dpkg has it
	want=$(dpkg-query -W -f '${Version}' gnome-keyring)
	assert_matches "$OUT" "^ok[[:space:]]+Secret Service.*gnome-keyring-daemon $(ere "$want") \(package gnome-keyring\)\$" ;;
keepassxc)
	want=$(dpkg-query -W -f '${Version}' keepassxc)
	assert_matches "$OUT" "^ok[[:space:]]+Secret Service.*keepassxc $(ere "$want") \(package keepassxc\)\$" ;;
kwallet)
	# the version kwalletd5 itself reports, as the package has it
	want=$(dpkg-query -W -f '${Version}' libkf5wallet-bin | sed 's/-[^-]*$//')
	assert_matches "$OUT" "^ok[[:space:]]+Secret Service.*kwalletd5 ${want//./\\.}\$" ;;
esac
end

begin "doctor: version lines for GLib, libsecret and OpenSSL against their floors"
assert_matches "$OUT" '^(ok|warn)[[:space:]]+.*glib.*[0-9]+\.[0-9]+'
assert_matches "$OUT" '^(ok|warn)[[:space:]]+.*libsecret.*[0-9]+\.[0-9]+'
# the libsecret line names the library file really loaded
assert_matches "$OUT" 'libsecret.*loaded from /.*libsecret-1\.so'
assert_matches "$OUT" '^(ok|warn|FAIL)[[:space:]]+.*openssl.*[0-9]+\.[0-9]+'
end

begin "doctor: every line has the form 'ok|warn|FAIL  check: detail'"
[ -s "$OUT" ] || fail "doctor printed nothing"
"$PYTHON" -c '
import re, sys
bad = [l for l in open(sys.argv[1]).read().splitlines()
       if l and not re.match(r"^(ok|warn|FAIL)\s+[^:]+: ", l)]
sys.exit(1 if bad else 0)' "$OUT" || fail "a doctor line does not have the form 'STATUS  check: detail'"
end

begin "doctor names the account in its warning window (warn, not FAIL)"
assert_matches "$OUT" '^warn[[:space:]]+.*warn2'
assert_not_matches "$OUT" '^(warn|FAIL)[[:space:]]+.*good1'
end

begin "after corrupting the audit log, doctor exits 1 naming the audit chain"
cp "$log" "$CAP_DIR/audit.orig"
"$PYTHON" - "$log" <<'EOF'
import json, sys
p = sys.argv[1]
lines = open(p, "rb").read().split(b"\n")
h = json.loads(lines[1])["hash"].encode()
lines[1] = lines[1].replace(h, h[:-1] + (b"0" if h[-1:] != b"0" else b"1"))
open(p, "wb").write(b"\n".join(lines))
EOF
if cmp -s "$log" "$CAP_DIR/audit.orig"; then
	fail "the test could not corrupt line 2 of the log"
fi
expect_rc 1 "$SMTPCRED" doctor
assert_matches "$OUT" '^FAIL[[:space:]]+audit chain.*line'
cp "$CAP_DIR/audit.orig" "$log"
end

begin "with the log restored, doctor exits 0 again"
expect_rc 0 "$SMTPCRED" doctor
assert_matches "$OUT" '^ok[[:space:]]+audit chain'
end

begin "with an unwritable audit log, doctor FAILs the audit log check"
if [ "$(id -u)" = 0 ]; then
	# root writes through file modes: make the path a directory instead.
	mv "$log" "$log.saved"
	mkdir "$log"
	expect_rc 1 "$SMTPCRED" doctor
	assert_matches "$OUT" '^FAIL[[:space:]]+audit log'
	rmdir "$log"
	mv "$log.saved" "$log"
else
	chmod a-w "$log"
	expect_rc 1 "$SMTPCRED" doctor
	assert_matches "$OUT" '^FAIL[[:space:]]+audit log'
	chmod u+w "$log"
fi
end

# SMTPCRED_AUDIT_LOG below a regular file: cannot be created, even by root.
touch "$WK_DIR/notadir"
badlog=$WK_DIR/notadir/audit.log

begin "with an unwritable audit log, add exits 74 naming the log"
expect_rc 74 env SMTPCRED_AUDIT_LOG="$badlog" "$SMTPCRED" add io1 \
	--host "$HOST" --user io1 --password-stdin < <(printf '%s\n' "$PW-io1-v1")
assert_contains "$ERR" "$badlog"
end

begin "with an unwritable audit log, rotate exits 74 and current is unchanged"
expect_rc 0 "$SMTPCRED" show good1 --json
cp "$OUT" "$CAP_DIR/good1-before-74.json"
expect_rc 74 env SMTPCRED_AUDIT_LOG="$badlog" "$SMTPCRED" rotate good1 \
	--password-stdin < <(printf '%s\n' "$PW-good1-v2")
expect_rc 0 "$SMTPCRED" show good1 --json
json_true "$OUT" '[int(v["version"]) for v in vs if v["state"] == "current"] == [1]'
assert_secret "$PW-good1-v1" account good1 state current
end

canary_check "$CANARY"
finish
