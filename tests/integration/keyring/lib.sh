# shellcheck shell=bash
# Shared helpers of the smtpcred CLI integration tests (sourced, not run).
#
# The scripts run inside tests/helpers/with-keyring.sh (a private session
# bus with gnome-keyring unlocked in $WK_DIR), except cli-no-bus.sh, which
# makes its own $WK_DIR before sourcing this file.  $SMTPCRED is the CLI
# under test (absolute path).  Output is TAP: one "ok N - name" or
# "not ok N - name" per check, diagnostics as "# ..." lines, the plan last.
#
# A check is written as
#
#   begin "add reads the secret from --password-stdin"
#   expect_rc 0 "$SMTPCRED" add a1 --host h --user u --password-stdin \
#       < <(printf '%s\n' "$PW")
#   assert_contains "$OUT" "added a1 version 1"
#   end
#
# Every assertion that fails marks the current check as failed and prints
# why; the check's TAP line is written by `end`.  Assertions also return
# non-zero on failure, so they can be used in conditions.
#
# Secrets: tests use the canary "CANARY-s3cr3t-<test>" (plus suffixes) and
# finish with `canary_check`, which fails if the canary appears in any file
# under $WK_DIR (captured stdout/stderr included) other than the encrypted
# keyring file and the inputs the test wrote on purpose ($SECRET_DIR).

set -u
shopt -s lastpipe

: "${SMTPCRED:?SMTPCRED must name the smtpcred binary under test}"
: "${WK_DIR:?WK_DIR must name the test tree (run through with-keyring.sh)}"

PYTHON=/usr/bin/python3
# Built with -Dtest_hooks=true (SMTPCRED_TEST_CRASH_AT, SMTPCRED_TEST_NOW)?
# meson says so; run by hand, assume yes.
HAVE_HOOKS=${SMTPCRED_HAVE_TEST_HOOKS:-1}
CMD_TIMEOUT=${CMD_TIMEOUT:-30}	# seconds per CLI run (rc 124 on expiry)

CAP_DIR=$WK_DIR/captured	# stdout/stderr of every command run
SECRET_DIR=$WK_DIR/secret-in	# secret inputs written by the test itself
mkdir -p "$CAP_DIR"
mkdir -p "$SECRET_DIR" && chmod 700 "$SECRET_DIR"
printf '*\t%s\n' "the test's own password inputs" >"$SECRET_DIR/.canary-exempt"

T_NUM=0
T_FAILED=0
CAP_N=0
STEP_NAME=
STEP_FAILED=0
STEP_OPEN=0
OUT=/dev/null
ERR=/dev/null
RC=0

# ---- TAP ------------------------------------------------------------------

# Print stdin as TAP diagnostics, with any canary masked: a failure report
# must not itself spread a secret into the meson log.
diag() {
	# [t]: the pattern must not itself look like a canary in sed's argv
	sed -e 's/CANARY-s3cr3[t]-[A-Za-z0-9._-]*/<canary>/g' -e 's/^/# /'
}

note() {
	printf '%s\n' "$*" | diag
}

tap_ok() {
	T_NUM=$((T_NUM + 1))
	printf 'ok %d - %s\n' "$T_NUM" "$*"
}

tap_not_ok() {
	T_NUM=$((T_NUM + 1))
	T_FAILED=$((T_FAILED + 1))
	printf 'not ok %d - %s\n' "$T_NUM" "$*"
}

tap_skip() { # tap_skip NAME REASON
	T_NUM=$((T_NUM + 1))
	printf 'ok %d - %s # SKIP %s\n' "$T_NUM" "$1" "$2"
}

begin() {
	[ "$STEP_OPEN" = 1 ] && end
	STEP_NAME=$*
	STEP_FAILED=0
	STEP_OPEN=1
}

# Mark the current check failed, with a reason.
fail() {
	STEP_FAILED=1
	printf '%s\n' "$*" | diag
	return 1
}

end() {
	if [ "$STEP_OPEN" != 1 ]; then
		return 0
	fi
	STEP_OPEN=0
	if [ "$STEP_FAILED" = 0 ]; then
		tap_ok "$STEP_NAME"
	else
		tap_not_ok "$STEP_NAME"
	fi
}

# Print the plan; exit status 0 only when every check passed.  With
# $KEEP_CAPTURED set (debugging), the captured outputs are copied there.
finish() {
	end
	if [ -n "${KEEP_CAPTURED:-}" ]; then
		mkdir -p "$KEEP_CAPTURED" && cp -r "$CAP_DIR/." "$KEEP_CAPTURED/"
	fi
	printf '1..%d\n' "$T_NUM"
	[ "$T_FAILED" = 0 ]
	exit $?
}

# The whole script needs the test hooks: skip it (TAP "1..0 # SKIP").
skip_all_without_hooks() {
	if [ "$HAVE_HOOKS" != 1 ]; then
		printf '1..0 # SKIP needs a build with -Dtest_hooks=true\n'
		exit 0
	fi
}

# ---- running commands ----------------------------------------------------

# rc_in RC WANT: WANT is one code ("64") or alternatives ("64|65").
rc_in() {
	local rc=$1 w
	local IFS='|'
	for w in $2; do
		[ "$rc" = "$w" ] && return 0
	done
	return 1
}

# Show the first lines of a captured file in diagnostics.
excerpt() { # excerpt LABEL FILE
	if [ -s "$2" ]; then
		printf '%s:\n' "$1" | diag
		head -n 8 "$2" | cut -c 1-200 | diag
	fi
}

# expect_rc WANT CMD [ARGS...]
# Run CMD (stdin inherited), its stdout to $OUT and stderr to $ERR (new
# files under $CAP_DIR each run), its exit status to $RC.  Fails the check
# unless RC is in WANT.  CMD is run under `timeout` (unless it is a shell
# function).
expect_rc() {
	local want=$1 base
	shift
	CAP_N=$((CAP_N + 1))
	base=$CAP_DIR/$(printf '%03d' "$CAP_N")
	OUT=$base.out
	ERR=$base.err
	printf '%s\n' "$*" >"$base.cmd"
	if declare -F "$1" >/dev/null; then	# a shell function
		"$@" >"$OUT" 2>"$ERR"
	else
		timeout "$CMD_TIMEOUT" "$@" >"$OUT" 2>"$ERR"
	fi
	RC=$?
	printf '%s\n' "$RC" >"$base.rc"
	if ! rc_in "$RC" "$want"; then
		if [ "$RC" = 124 ]; then
			fail "timed out after ${CMD_TIMEOUT}s (wanted exit $want): $*"
		else
			fail "wanted exit $want, got $RC: $*"
		fi
		excerpt stdout "$OUT"
		excerpt stderr "$ERR"
		return 1
	fi
	return 0
}

# The same, with no controlling terminal (a new session): /dev/tty cannot
# be opened, whatever terminal the test suite was started from.
expect_rc_notty() {
	local want=$1
	shift
	expect_rc "$want" setsid -w "$@"
}

# expect_rc_pty WANT PW1 PW2 CMD...: run CMD with a new pseudo-terminal as
# its controlling terminal (stdin/stdout/stderr too); answer the first
# prompt containing "assword" with PW1 and the second with PW2, each only
# once the terminal's echo is off.  The transcript (what the terminal
# showed) goes to $OUT, $ERR is empty, the exit status to $RC.  A prompt
# answered while echo is on fails the check (and would show the secret in
# the transcript, which canary_check then finds).
expect_rc_pty() {
	local want=$1 base
	CAP_N=$((CAP_N + 1))
	base=$CAP_DIR/$(printf '%03d' "$CAP_N")
	OUT=$base.out
	ERR=$base.err
	printf '%s\n' "${*:4}" >"$base.cmd"
	: >"$ERR"
	# The answers go through a file (never argv or the environment: the
	# whole-run scan reads those of every process).
	(umask 077 && printf '%s\0%s' "$2" "$3" >"$SECRET_DIR/pty-answers")
	timeout "$CMD_TIMEOUT" "$PYTHON" - "$SECRET_DIR/pty-answers" "$OUT" "${@:4}" <<'EOF' 2>"$base.pty-err"
import os, select, sys, termios, time
answers_path, out_path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(answers_path, "rb") as f:
    answers = f.read().split(b"\0")
os.unlink(answers_path)
pid, fd = os.forkpty()
if pid == 0:
    os.execv(argv[0], argv)
buf = b""
def more(deadline):
    global buf
    r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
    if not r:
        return False
    try:
        data = os.read(fd, 4096)
    except OSError:
        return False
    buf += data
    return bool(data)
problem = None
seen = 0
for n, pw in enumerate(answers):
    deadline = time.time() + 10
    while buf.count(b"assword") <= seen and more(deadline):
        pass
    if buf.count(b"assword") <= seen:
        break  # no (further) prompt: the command ended or hangs
    seen = buf.count(b"assword")
    deadline = time.time() + 5
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        if time.time() > deadline:
            problem = "prompt %d: the terminal still echoes" % (n + 1)
            break
        time.sleep(0.01)
    if problem:
        break
    os.write(fd, pw + b"\n")
deadline = time.time() + 10
while more(deadline):
    pass
_, status = os.waitpid(pid, 0)
open(out_path, "wb").write(buf)
if problem:
    print(problem, file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
EOF
	RC=$?
	printf '%s\n' "$RC" >"$base.rc"
	if [ -s "$base.pty-err" ]; then
		fail "$(cat "$base.pty-err")"
	fi
	if ! rc_in "$RC" "$want"; then
		fail "wanted exit $want, got $RC (on a terminal): ${*:4}"
		excerpt terminal "$OUT"
		return 1
	fi
	return 0
}

# ---- assertions on captured text -----------------------------------------

assert_contains() { # FILE TEXT  (fixed string)
	grep -qF -f <(printf '%s\n' "$2") -- "$1" && return 0
	fail "$(basename "$1") does not contain '$2'"
	excerpt "$(basename "$1")" "$1"
	return 1
}

assert_not_contains() { # FILE TEXT
	grep -qF -f <(printf '%s\n' "$2") -- "$1" || return 0
	fail "$(basename "$1") contains '$2'"
	excerpt "$(basename "$1")" "$1"
	return 1
}

assert_matches() { # FILE ERE  (case-insensitive extended regex)
	grep -qiE -- "$2" "$1" && return 0
	fail "$(basename "$1") does not match /$2/"
	excerpt "$(basename "$1")" "$1"
	return 1
}

assert_not_matches() { # FILE ERE
	grep -qiE -- "$2" "$1" || return 0
	fail "$(basename "$1") matches /$2/"
	excerpt "$(basename "$1")" "$1"
	return 1
}

# The text is in stdout or stderr of the last command.
assert_output_contains() { # TEXT
	grep -qF -f <(printf '%s\n' "$1") -- "$OUT" "$ERR" && return 0
	fail "neither stdout nor stderr contains '$1'"
	excerpt stdout "$OUT"
	excerpt stderr "$ERR"
	return 1
}

assert_output_matches() { # ERE (case-insensitive)
	grep -qiE -- "$1" "$OUT" "$ERR" && return 0
	fail "neither stdout nor stderr matches /$1/"
	excerpt stdout "$OUT"
	excerpt stderr "$ERR"
	return 1
}

assert_empty() { # FILE
	[ ! -s "$1" ] && return 0
	fail "$(basename "$1") is not empty"
	excerpt "$(basename "$1")" "$1"
	return 1
}

assert_same_file() { # A B
	cmp -s -- "$1" "$2" && return 0
	fail "$(basename "$1") and $(basename "$2") differ"
	diff -u -- "$1" "$2" | head -n 20 | diag
	return 1
}

assert_eq() { # GOT WANT WHAT
	[ "$1" = "$2" ] && return 0
	fail "${3:-value}: wanted '$2', got '$1'"
	return 1
}

# ---- JSON ----------------------------------------------------------------

# Python bindings shared by json_true and json_get: `d` the document,
# `vs` d["versions"] when d is an object that has them, `by_state(s)` the
# versions in state s, `states()` their states in order, `nums()` their
# version numbers (as ints), `ver(n)` the version object n, `secs(ts)` an
# RFC 3339 time as unix seconds, `now` the current unix time (or
# $SMTPCRED_TEST_NOW when the test set it), DAY = 86400.
PY_PRELUDE='
import datetime, json, os, sys, time
d = json.load(open(sys.argv[1]))
vs = d.get("versions", []) if isinstance(d, dict) else []
def by_state(s):
    return [v for v in vs if v.get("state") == s]
def states():
    return [v.get("state") for v in vs]
def nums():
    return [int(v.get("version")) for v in vs]
def ver(n):
    m = [v for v in vs if int(v.get("version")) == n]
    return m[0] if len(m) == 1 else None
def secs(ts):
    return datetime.datetime.fromisoformat(ts).timestamp()
now = float(os.environ.get("SMTPCRED_TEST_NOW") or time.time())
DAY = 86400
'

# json_true FILE EXPR: FILE holds one JSON document; EXPR is a Python
# expression (bindings above) that must be true.
json_true() {
	local f=$1 expr=$2 why
	if why=$(T_PRELUDE=$PY_PRELUDE "$PYTHON" - "$f" "$expr" <<'EOF' 2>&1
import os, sys
try:
    exec(os.environ["T_PRELUDE"])
except Exception as e:
    print("not one JSON document: %s" % e)
    sys.exit(1)
try:
    r = eval(sys.argv[2])
except Exception as e:
    print("%s: %r" % (type(e).__name__, e))
    sys.exit(1)
sys.exit(0 if r else 1)
EOF
)
	then
		return 0
	fi
	fail "JSON check failed: $expr${why:+ ($why)}"
	excerpt "$(basename "$f")" "$f"
	return 1
}

# json_get FILE EXPR: print the value of EXPR (same bindings); strings
# raw, anything else as JSON.  Empty output on error.
json_get() {
	T_PRELUDE=$PY_PRELUDE "$PYTHON" - "$1" "$2" <<'EOF' 2>/dev/null
import os, sys
exec(os.environ["T_PRELUDE"])
r = eval(sys.argv[2])
print(r if isinstance(r, str) else json.dumps(r))
EOF
}

# jsonl_true FILE EXPR: FILE holds one JSON object per line, bound to the
# list `L` (each line must parse).
jsonl_true() {
	local f=$1 expr=$2 why
	if why=$("$PYTHON" - "$f" "$expr" <<'EOF' 2>&1
import json, sys
L = []
for n, line in enumerate(open(sys.argv[1]), 1):
    try:
        L.append(json.loads(line))
    except Exception as e:
        print("line %d is not JSON: %s" % (n, e))
        sys.exit(1)
try:
    r = eval(sys.argv[2])
except Exception as e:
    print("%s: %r" % (type(e).__name__, e))
    sys.exit(1)
sys.exit(0 if r else 1)
EOF
)
	then
		return 0
	fi
	fail "JSON-lines check failed: $expr${why:+ ($why)}"
	excerpt "$(basename "$f")" "$f"
	return 1
}

# ---- the environment under test ------------------------------------------

audit_log() {
	if [ -n "${SMTPCRED_AUDIT_LOG:-}" ]; then
		printf '%s\n' "$SMTPCRED_AUDIT_LOG"
	else
		printf '%s\n' "${XDG_STATE_HOME:?}/smtpcred/audit.log"
	fi
}

# Lock, unlock or query the default collection without a prompt
# (tests/helpers/keyring-ctl.py through $KEYRING_CTL, a command line).
keyring_ctl() {
	# shellcheck disable=SC2086 # $KEYRING_CTL is "python3 script"
	${KEYRING_CTL:?run through with-keyring.sh} "$@"
}

# Write a secret input file (mode 600) under $SECRET_DIR; print its path.
secret_file() { # NAME CONTENT  (content written with printf %s)
	local f=$SECRET_DIR/$1
	(umask 077 && printf '%s' "$2" >"$f")
	printf '%s\n' "$f"
}

# Dump every Secret Service item (collection, label, attributes; never the
# secret) of the session bus to FILE, one item per line, sorted.  Read
# straight from D-Bus, independent of the CLI.
keyring_items() { # FILE
	"$PYTHON" - >"$1" 2>"$1.err" <<'EOF'
import dbus
bus = dbus.SessionBus()
N = "org.freedesktop.secrets"
P = "org.freedesktop.DBus.Properties"
svc = bus.get_object(N, "/org/freedesktop/secrets")
out = []
for c in svc.Get("org.freedesktop.Secret.Service", "Collections", dbus_interface=P):
    co = bus.get_object(N, c)
    for i in co.Get("org.freedesktop.Secret.Collection", "Items", dbus_interface=P):
        it = bus.get_object(N, i)
        label = it.Get("org.freedesktop.Secret.Item", "Label", dbus_interface=P)
        attrs = it.Get("org.freedesktop.Secret.Item", "Attributes", dbus_interface=P)
        a = " ".join("%s=%s" % (k, attrs[k]) for k in sorted(attrs))
        out.append("%s\t%s\t%s" % (c.rsplit("/", 1)[-1], label, a))
for line in sorted(out):
    print(line)
EOF
}

# Items of one account only (attribute account=NAME), to FILE.
account_items() { # NAME FILE
	keyring_items "$2.all"
	tr '\t' ' ' <"$2.all" | sed 's/$/ /' | grep -F " account=$1 " >"$2" || true
}

# secret-tool lookup ATTR VALUE..., the secret on stdout.  Once more when
# it fails or finds nothing: against kwalletd one libsecret key exchange
# in 128 goes wrong (libsecret sends its DH public key without leading
# zero bytes, which kwalletd refuses: "Client public key size is
# invalid"; and kwalletd hashes the shared value without its leading zero
# bytes, libsecret with them: the secret then does not decrypt and
# secret-tool prints nothing).  A wrong or missing secret fails both
# times.  (smtpcred itself avoids both: keyring/session.c, store.c.)
ss_lookup() { # ATTR VALUE [ATTR VALUE...]
	local v
	# the x keeps trailing newlines of the secret ($(...) drops them)
	v=$(secret-tool lookup "$@" 2>/dev/null && printf x)
	if [ -n "${v%x}" ]; then
		printf '%s' "${v%x}"
		return 0
	fi
	secret-tool lookup "$@" 2>/dev/null
}

# The secret stored in the item with these attributes equals EXPECTED.
# The secret goes through a pipe only (never a file, never the output).
assert_secret() { # EXPECTED ATTR VALUE [ATTR VALUE...]
	local want=$1
	shift
	if ss_lookup "$@" | cmp -s - <(printf '%s' "$want"); then
		return 0
	fi
	fail "the secret stored under [$*] is not the expected one"
	return 1
}

# The PID of the session bus's Secret Service (empty when none), and a
# fresh unlocked one of the provider under test in its place (for tests
# that kill it; tests/helpers/ss-provider.sh).
daemon_pid() {
	dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
		org.freedesktop.DBus.GetConnectionUnixProcessID \
		string:org.freedesktop.secrets 2>/dev/null | awk '/uint32/ {print $2}'
}
ss_load() {
	# shellcheck source-path=SCRIPTDIR source=../../helpers/ss-provider.sh
	. "$(dirname "${BASH_SOURCE[0]}")/../../helpers/ss-provider.sh"
}
start_daemon() {
	ss_load || return 1
	ss_start
}

# A fresh FIFO for SMTPCRED_TEST_PAUSE_FIFO (test builds).
pause_fifo_new() { # FIFO
	rm -f "$1" "$1.ready"
	mkfifo "$1"
}

# Wait (10 s) until the process under test is paused at FIFO, SIGKILL the
# Secret Service, wait until it is gone, and let the process go on.
# KeePassXC and kwalletd5 write what they acknowledged a little later
# (ss-provider.sh): the kill comes once they have, so that what is tested
# is our recovery, not their durability (README, docs/threat-model.md).  When
# the pause is never reached, fail with MESSAGE and leave the process be.
kill_daemon_at_pause() { # FIFO MESSAGE
	for _ in $(seq 200); do [ -s "$1.ready" ] && break; sleep 0.05; done
	if [ ! -s "$1.ready" ]; then
		fail "$2"
		return 1
	fi
	ss_load && ss_settle
	kill -KILL "$(daemon_pid)" 2>/dev/null
	for _ in $(seq 100); do [ -z "$(daemon_pid)" ] && break; sleep 0.05; done
	: >"$1"
}

# ---- the canary -------------------------------------------------------------

# canary_check CANARY: one TAP check each for
#  - every file under $WK_DIR (captured stdout/stderr, the audit log,
#    config/cache/state files, a dump of all item labels and attributes)
#    except the keyring files and $SECRET_DIR: no canary;
#  - the provider's encrypted store files ($WK_VAULT_GLOB, set by
#    with-keyring.sh: gnome-keyring's *.keyring, KeePassXC's *.kdbx,
#    KWallet's *.kwl): no canary in plain text.  KWallet's
#    <wallet>_attributes.json is plain text and is in the first check.
canary_check() {
	local canary=$1 hits f n=0
	local vault=${WK_VAULT_GLOB:-${XDG_DATA_HOME:-/nonexistent}/keyrings/*.keyring}
	end
	if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -n "${XDG_DATA_HOME:-}" ]; then
		keyring_items "$CAP_DIR/items-at-end.txt" || true
	fi
	begin "canary: no trace of the secret in any file, output, label or attribute"
	# grep reads the canary from a file: never put it in argv
	(umask 077 && printf '%s\n' "$canary" >"$SECRET_DIR/.pattern")
	hits=$(find "$WK_DIR" -type f \
		! -path "$SECRET_DIR/*" \
		! -path "$vault" \
		-print0 | xargs -0 -r grep -laF -f "$SECRET_DIR/.pattern" -- 2>/dev/null)
	if [ -n "$hits" ]; then
		fail "canary found in:"
		printf '%s\n' "$hits" | sed "s|^$WK_DIR/||" | diag
	fi
	end
	begin "canary: keyring file holds no plain-text secret"
	# shellcheck disable=SC2086 # $vault is a glob (no blanks: mktemp paths)
	for f in $vault; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if grep -qaF -f "$SECRET_DIR/.pattern" -- "$f"; then
			fail "canary in plain text in ${f#"$WK_DIR"/}"
		fi
	done
	if [ "$n" = 0 ]; then
		STEP_OPEN=0
		tap_skip "$STEP_NAME" "no keyring file in this environment"
	fi
	end
}
