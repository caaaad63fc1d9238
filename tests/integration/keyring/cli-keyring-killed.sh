#!/bin/bash
# The keyring daemon killed in the middle of a rotation (issue 6, fault
# injection): at each rotation step the process pauses (test builds:
# SMTPCRED_TEST_PAUSE_AT), gnome-keyring-daemon is killed with SIGKILL,
# and the rotation goes on against a bus without a Secret Service.  Each
# time: a typed error or a finished rotation, never a crash; after the
# daemon is started again (unlocked), `rotate --resume` leaves exactly one current
# version holding one of the two passwords, and the audit chain verifies.
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
skip_all_without_hooks

CANARY="CANARY-s3cr3t-keyring-killed"
FIFO=$WK_DIR/pause

current_of() {
	"$SMTPCRED" show "$1" --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(",".join(str(v["version"]) for v in d["versions"] if v["state"] == "current") or "-")'
}

for step in after-create after-verify after-intent after-demote after-promote after-retire after-prune; do
	a=k-$step
	begin "$step: the keyring daemon killed mid-rotation: typed error or done, no crash"
	expect_rc 0 "$SMTPCRED" add "$a" --host smtp.example.org --user "$a" \
		--password-stdin < <(printf '%s\n' "$CANARY-$a-v1")
	pause_fifo_new "$FIFO"
	SMTPCRED_TEST_PAUSE_AT=$step SMTPCRED_TEST_PAUSE_FIFO=$FIFO \
		"$SMTPCRED" --timeout 2000 rotate "$a" --password-stdin \
		< <(printf '%s\n' "$CANARY-$a-v2") >"$WK_DIR/rot.out" 2>"$WK_DIR/rot.err" &
	rpid=$!
	kill_daemon_at_pause "$FIFO" "the rotation never reached $step"
	wait "$rpid"
	rc=$?
	note "rotate: exit $rc $(tail -1 "$WK_DIR/rot.err")"
	# 0: nothing was left to do on the keyring; 69: keyring unreachable;
	# 75: it did not answer in time; 1: the bus started a fresh (locked)
	# daemon that does not know the items ("the keyring changed while we
	# read it").  Never a signal (>= 128).
	rc_in "$rc" '0|1|69|75' || fail "rotate exited $rc: $(tail -2 "$WK_DIR/rot.err")"
	[ "$rc" = 0 ] || assert_matches "$WK_DIR/rot.err" 'secret service|session bus|did not answer|keyring'
	start_daemon || fail "gnome-keyring-daemon did not come back"
	end

	begin "$step: after the daemon is back, rotate --resume leaves exactly one current version"
	expect_rc 0 "$SMTPCRED" rotate "$a" --resume
	cur=$(current_of "$a")
	case $cur in
	1 | 2) ;;
	*) fail "current versions after resume: '$cur'" ;;
	esac
	expect_rc 0 "$SMTPCRED" audit --verify
	end
done

canary_check "$CANARY"
finish
