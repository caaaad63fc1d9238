#!/bin/bash
# Deadlines hold when the keyring does not answer (DESIGN.md: every
# keyring call has a deadline, --timeout MS).
#
#  - With --allow-prompt and the collection locked, headless (no display,
#    a bus that activates nothing), nobody can answer the unlock prompt:
#    the command says "locked" within its deadline and changes nothing.
#  - A Secret Service that stops answering (SIGSTOP: hung, swapped out,
#    stuck in a dialog) before a command: the command exits 69 within its
#    deadline.
#  - One that stops in the middle of an unlock prompt: libsecret waits for
#    the service to acknowledge the prompt's Dismiss (D-Bus's own 25 s);
#    smtpcred gives up a quarter second after its deadline
#    (keyring/store.c, wait_for()).  Only kwalletd leaves a headless
#    prompt pending; gnome-keyring fails it at once and KeePassXC lists
#    no locked item to unlock, so there this check is a skip.
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

CANARY="CANARY-s3cr3t-cli-prompt"
HOST=smtp.example.org
TEMPFAIL=75
UNAVAILABLE=69
# Seconds allowed beyond a command's --timeout: the quarter second of
# grace, process start and exit, a loaded machine.
SLACK=2

# elapsed_within START_EPOCHREALTIME LIMIT_S WHAT
elapsed_within() {
	local took
	took=$("$PYTHON" -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' \
		"$1" "$EPOCHREALTIME")
	note "$3 took ${took}s (limit ${2}s)"
	"$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' \
		"$took" "$2" || fail "$3 took ${took}s, more than ${2}s"
}

begin "setup: account pr1 with two versions, the collection then locked"
expect_rc 0 "$SMTPCRED" add pr1 --host "$HOST" --user pr1 \
	--password-stdin < <(printf '%s\n' "$CANARY-pr1-v1")
expect_rc 0 "$SMTPCRED" rotate pr1 --password-stdin < <(printf '%s\n' "$CANARY-pr1-v2")
expect_rc 0 "$SMTPCRED" show pr1 --json
cp "$OUT" "$CAP_DIR/pr1-before.json"
expect_rc 0 keyring_ctl lock
end

begin "show --allow-prompt, locked, nobody to answer: 'locked' within the deadline"
t0=$EPOCHREALTIME
expect_rc "0|$TEMPFAIL" "$SMTPCRED" --allow-prompt --timeout 3000 show pr1
elapsed_within "$t0" $((3 + SLACK)) "show --allow-prompt"
assert_output_contains "locked"
assert_not_contains "$ERR" "not found"
end

begin "rotate --allow-prompt, locked: exit 75 'locked' within the deadline, nothing changed"
t0=$EPOCHREALTIME
expect_rc "$TEMPFAIL" "$SMTPCRED" --allow-prompt --timeout 3000 rotate pr1 \
	--password-stdin < <(printf '%s\n' "$CANARY-pr1-v3")
elapsed_within "$t0" $((3 + SLACK)) "rotate --allow-prompt"
assert_contains "$ERR" "locked"
end

# The service stopped in the middle of the unlock prompt.  dbus-monitor
# shows when the Prompt call went out; the service is stopped once it has.
begin "the Secret Service stops in the middle of an unlock prompt: the command gives up at its deadline"
mon=$WK_DIR/monitor.log
dbus-monitor --session "type='method_call',interface='org.freedesktop.Secret.Prompt'" \
	>"$mon" 2>&1 &
mpid=$!
sleep 0.5
run=$CAP_DIR/mid-prompt
t0=$EPOCHREALTIME
"$SMTPCRED" --allow-prompt --timeout 4000 show pr1 >"$run.out" 2>"$run.err" &
cpid=$!
for _ in $(seq 100); do
	grep -q 'member=Prompt' "$mon" && break
	kill -0 "$cpid" 2>/dev/null || break
	sleep 0.05
done
stopped=
if grep -q 'member=Prompt' "$mon" && kill -0 "$cpid" 2>/dev/null; then
	sleep 0.3 # the service is now showing its (invisible) dialog
	stopped=$(daemon_pid)
	kill -STOP "$stopped"
	# Finished meanwhile: the service had answered the prompt.
	if ! kill -0 "$cpid" 2>/dev/null; then
		kill -CONT "$stopped"
		stopped=
	fi
fi
timeout 60 tail --pid="$cpid" -f /dev/null
wait "$cpid"
rc=$?
[ -n "$stopped" ] && kill -CONT "$stopped"
kill "$mpid" 2>/dev/null
wait "$mpid" 2>/dev/null
if [ -z "$stopped" ]; then
	STEP_OPEN=0
	if grep -q 'member=Prompt' "$mon"; then
		tap_skip "$STEP_NAME" "$SMTPCRED_TEST_SS answers a headless prompt at once (exit $rc): none to stop in the middle"
	else
		tap_skip "$STEP_NAME" "$SMTPCRED_TEST_SS lists no locked item, so nothing prompts (exit $rc)"
	fi
else
	note "stopped $SMTPCRED_TEST_SS (pid $stopped) during the prompt; exit $rc: $(tail -1 "$run.err")"
	elapsed_within "$t0" $((4 + SLACK)) "show with the service stopped mid-prompt"
	rc_in "$rc" "$TEMPFAIL|$UNAVAILABLE" || fail "exit $rc, wanted 75 or 69"
	assert_matches "$run.err" 'locked|did not answer'
fi
end

begin "after the prompt: unlocked without one, the account is as it was"
if [ "$SMTPCRED_TEST_SS" = kwallet ]; then
	# kwalletd keeps the (invisible) password dialog of a headless
	# prompt, dismissed or not, and pamOpen no longer opens the wallet
	# until it restarts (tests/helpers/secret-service/README.md).
	if ! { ss_load && ss_stop && start_daemon; }; then
		fail "kwalletd did not restart"
	fi
fi
expect_rc 0 keyring_ctl unlock
expect_rc 0 "$SMTPCRED" show pr1 --json
assert_same_file "$CAP_DIR/pr1-before.json" "$OUT"
end

# A stopped service: every kind of call (search, lock state, create).
begin "a stopped Secret Service: list, show and add exit 69 within the deadline"
pid=$(daemon_pid)
kill -STOP "$pid"
t0=$EPOCHREALTIME
expect_rc "$UNAVAILABLE" "$SMTPCRED" --timeout 1500 list
elapsed_within "$t0" $((1 + SLACK)) "list"
assert_contains "$ERR" "did not answer within 1500 ms"
t0=$EPOCHREALTIME
expect_rc "$UNAVAILABLE" "$SMTPCRED" --timeout 1500 show pr1
elapsed_within "$t0" $((1 + SLACK)) "show"
t0=$EPOCHREALTIME
expect_rc "$UNAVAILABLE" "$SMTPCRED" --timeout 1500 add pr2 --host "$HOST" \
	--user pr2 --password-stdin < <(printf '%s\n' "$CANARY-pr2-v1")
elapsed_within "$t0" $((1 + SLACK)) "add"
assert_contains "$ERR" "did not answer"
kill -CONT "$pid"
end

begin "the service resumed: pr1 unchanged, pr2 was not added"
expect_rc 0 "$SMTPCRED" show pr1 --json
assert_same_file "$CAP_DIR/pr1-before.json" "$OUT"
expect_rc 0 "$SMTPCRED" list
assert_contains "$OUT" "pr1"
assert_not_contains "$OUT" "pr2"
end

canary_check "$CANARY"
finish
