#!/bin/bash
# pam_smtpcred through real libpam (service files generated here, read with
# pam_start_confdir, never /etc/pam.d), a real unprivileged user created for
# the run and removed after, and a real gnome-keyring on that user's own
# private session bus.  Needs root.  Output: TAP.
#
#   PAM_MODULE, PAM_HELPER, PAM_DRIVER, SMTPCRED  built binaries
#   PAM_SMOKE=1  installed (release) module: only the cases that need no
#                test hook (helper=, SMTPCRED_TEST_PAM_LOG); the module
#                then runs its compiled-in helper (debian/tests/pam-smoke)
set -u
: "${PAM_MODULE:?}" "${PAM_HELPER:?}" "${PAM_DRIVER:?}" "${SMTPCRED:?}"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)

N=0 FAILED=0 CUR_OK=1
begin() { N=$((N + 1)); CUR=$1; CUR_OK=1; }
fail() { CUR_OK=0; printf '# %s\n' "$*" | sed "s/$CANARY_RE/<canary>/g"; }
end() {
	if [ "$CUR_OK" = 1 ]; then echo "ok $N - $CUR"; else
		echo "not ok $N - $CUR"; FAILED=$((FAILED + 1)); fi
}
assert_eq() { [ "$1" = "$2" ] || fail "$3: wanted '$2', got '$1'"; }
assert_grep() { grep -qE -- "$2" "$1" || { fail "$(basename "$1") lacks /$2/"; sed 's/^/#   /' "$1" | tail -5; }; }

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (a real user is created for the test)"
	exit 0
fi

CANARY1="CANARY-s3cr3t-pam-first-$$"
CANARY2="CANARY-s3cr3t-pam-second-$$"
CANARY3="CANARY-s3cr3t-pam-passwd-$$"
# [t]: the pattern must not itself look like a canary in grep's argv
CANARY_RE='CANARY-s3cr3[t]-pam-[a-z]*-[0-9]*'
U=smtpcredpam$$
T=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-pam.XXXXXX") || { echo "Bail out! cannot create a temporary directory"; exit 1; }
chmod 755 "$T"
cleanup() {
	touch "$T/stop"
	[ -n "${SAMPLER:-}" ] && kill "$SAMPLER" 2>/dev/null
	[ -n "${KR:-}" ] && wait "$KR" 2>/dev/null
	pkill -u "$U" 2>/dev/null
	userdel -r "$U" >/dev/null 2>&1
	[ -n "${KEEP_TEST_FILES:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

useradd -m -d "$T/home" -s /usr/sbin/nologin "$U" || { echo "1..0 # SKIP useradd failed"; exit 0; }
chmod 755 "$T/home"
mkdir -m 755 "$T/u" && chown "$U" "$T/u"	# the user writes its env here

# The user's own bus and keyring (with-keyring.sh run as the user); its
# environment is written to $T/env for the rest of the test.
# shellcheck disable=SC2016  # the inner script expands its own variables
runuser -u "$U" -- env -i PATH=/usr/bin:/bin HOME="$T/home" \
	bash "$top/tests/helpers/with-keyring.sh" bash -c '
		env | grep -E "^(DBUS_SESSION_BUS_ADDRESS|XDG_[A-Z_]*|HOME|KEYRING_CTL|KEYRING_PASSWORD)=" \
			| sed "s/^/export /; s/=/=\"/; s/$/\"/" >"$0/u/env.tmp" && mv "$0/u/env.tmp" "$0/u/env"
		while [ ! -e "$0/stop" ]; do sleep 0.2; done' "$T" >"$T/keyring.log" 2>&1 &
KR=$!
for _ in $(seq 100); do [ -s "$T/u/env" ] && break; sleep 0.1; done
if [ ! -s "$T/u/env" ]; then
	echo "Bail out! the user's keyring did not start: $(tail -3 "$T/keyring.log")"
	exit 1
fi
# shellcheck disable=SC1091  # written at run time by the keyring above
. "$T/u/env"
read -ra KCTL <<<"$KEYRING_CTL"	# "/usr/bin/python3 .../keyring-ctl.py"
as_user() { runuser -u "$U" -- env -i PATH=/usr/bin:/bin HOME="$HOME" \
	DBUS_SESSION_BUS_ADDRESS="$DBUS_SESSION_BUS_ADDRESS" \
	XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" XDG_STATE_HOME="$XDG_STATE_HOME" \
	XDG_DATA_HOME="$XDG_DATA_HOME" XDG_CONFIG_HOME="$XDG_CONFIG_HOME" \
	ASAN_OPTIONS="${ASAN_OPTIONS:-}" LSAN_OPTIONS="${LSAN_OPTIONS:-}" \
	UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" G_SLICE=always-malloc "$@"; }
AUDIT=$XDG_STATE_HOME/smtpcred/audit.log

# Nothing may carry a canary in its argv or environment while the test
# runs: sample every process every 20 ms.
( while [ ! -e "$T/stop" ]; do
	for p in /proc/[0-9]*; do
		cat "$p/cmdline" "$p/environ" 2>/dev/null | tr '\0' ' ' |
			grep -qE "$CANARY_RE" && echo "${p#/proc/}" >>"$T/proc-hits"
	done
	sleep 0.02
done ) &
SAMPLER=$!

# Scripts standing in for a broken helper (test builds take helper=).
printf '#!/bin/sh\nkill -SEGV $$\n' >"$T/crash.sh"
printf '#!/bin/sh\nexec sleep 30\n' >"$T/hang.sh"
chmod 755 "$T/crash.sh" "$T/hang.sh"

PAM_LOG=$T/pam.log
: >"$PAM_LOG"
chmod 644 "$PAM_LOG"
# service NAME [MODULE OPTIONS...]: a service file in $T/pam.d
mkdir -p "$T/pam.d"
service() {
	local name=$1; shift
	cat >"$T/pam.d/$name" <<EOF
auth     required pam_permit.so
auth     optional $PAM_MODULE capture $*
account  required pam_permit.so
session  optional $PAM_MODULE $*
password required pam_permit.so
password optional $PAM_MODULE $*
EOF
}
PAMENV=(DBUS_SESSION_BUS_ADDRESS="$DBUS_SESSION_BUS_ADDRESS"
	XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" XDG_STATE_HOME="$XDG_STATE_HOME"
	XDG_DATA_HOME="$XDG_DATA_HOME" XDG_CONFIG_HOME="$XDG_CONFIG_HOME")
# pam SERVICE ACTION PASSWORD [ENV...]: run the driver; output in $T/out
pam() {
	local svc=$1 action=$2 pw=$3; shift 3
	printf '%s\n' "$pw" | SMTPCRED_TEST_PAM_LOG=$PAM_LOG \
		"$PAM_DRIVER" "$T/pam.d" "$svc" "$U" "$action" "$@" >"$T/out" 2>&1
	RC=$?
}
# versions NAME: "N:C" (how many versions, which one is current)
versions() { as_user "$SMTPCRED" show "$1" --json 2>/dev/null |
	/usr/bin/python3 -c 'import json,sys
d = json.load(sys.stdin)
cur = [v["version"] for v in d["versions"] if v["state"] == "current"]
print("%d:%s" % (len(d["versions"]), ",".join(map(str, cur)) or "-"))' 2>/dev/null || echo none; }
keyring_digest() { as_user "$SMTPCRED" list --json 2>/dev/null | md5sum; }

H="helper=$PAM_HELPER"
service sync "$H" account=work timeout=5000
service other "$H" account=plain timeout=5000
service missing helper=/nonexistent/smtpcred-pam-helper account=work
service crash "helper=$T/crash.sh" account=work
service hang "helper=$T/hang.sh" account=work timeout=500
service onlyif "$H" account=work only_if=sshd,login frobnicate timeout=abc

begin "setup: a user, its keyring, account 'work' (source=login, no version yet) and 'plain' (not)"
as_user "$SMTPCRED" add work --host smtp.example.org --user u@example.org \
	--source login >"$T/add.out" 2>&1 || fail "add work: $(cat "$T/add.out")"
printf 'not-the-login-password\n' | as_user "$SMTPCRED" add plain \
	--host smtp.example.org --user p@example.org --password-stdin >"$T/add2.out" 2>&1 ||
	fail "add plain: $(cat "$T/add2.out")"
assert_eq "$(versions work)" 0:- "versions of work"
assert_eq "$(versions plain)" 1:1 "versions of plain"
end

begin "first login stores version 1 (reason login-sync), PAM results success/ignore"
pam sync login "$CANARY1" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
assert_grep "$T/out" '^authenticate success'
assert_grep "$T/out" '^open_session success'
assert_eq "$(versions work)" 1:1 "versions of work"
assert_grep "$AUDIT" '"event":"rotate-promote","outcome":"ok","account":"work","version":1,.*"detail":"login-sync"'
end

begin "the stored password is the login password"
# The keyring item holds exactly the canary: read it back as the user
# through the Secret Service with secret-tool (attribute search).
got=$(as_user secret-tool lookup account work kind version version 1 2>/dev/null)
[ "$got" = "$CANARY1" ] || fail "keyring item differs from the login password"
unset got
end

begin "second login with the same password changes nothing (no new version, no audit record)"
before=$(wc -l <"$AUDIT")
pam sync login "$CANARY1" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
assert_eq "$(versions work)" 1:1 "versions of work"
after=$(wc -l <"$AUDIT")
assert_eq "$after" "$before" "audit records"
end

begin "login after the password changed elsewhere rotates (version 2 current, login-sync)"
pam sync login "$CANARY2" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
assert_eq "$(versions work)" 2:2 "versions of work"
end

begin "passwd-style chauthtok rotates (version 3, reason password-change)"
pam sync passwd "$CANARY3" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
assert_grep "$T/out" '^chauthtok success'
assert_eq "$(versions work)" 3:3 "versions of work"
assert_grep "$AUDIT" '"event":"rotate-promote","outcome":"ok","account":"work","version":3,.*"detail":"password-change"'
end

if [ -z "${PAM_SMOKE:-}" ]; then
begin "only_if: another service leaves the keyring alone; bad options logged and ignored"
d=$(keyring_digest)
pam onlyif login "$CANARY1" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
assert_eq "$(keyring_digest)" "$d" "keyring listing"
assert_grep "$PAM_LOG" "ignoring unknown option 'frobnicate'"
assert_grep "$PAM_LOG" "ignoring bad option 'timeout=abc'"
end

begin "account not source=login: success, a log line explains, 'plain' untouched"
d=$(keyring_digest)
pam other login "$CANARY1" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
assert_eq "$(keyring_digest)" "$d" "keyring listing"
assert_grep "$PAM_LOG" 'exit 23: an account is not marked source=login'
end

begin "helper missing: success, logged, keyring untouched"
d=$(keyring_digest)
pam missing login "$CANARY1" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
assert_eq "$(keyring_digest)" "$d" "keyring listing"
assert_grep "$PAM_LOG" 'exit 127: helper could not be run'
end

begin "helper crashing: success, logged (signal 11), keyring untouched"
d=$(keyring_digest)
pam crash login "$CANARY1" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
assert_eq "$(keyring_digest)" "$d" "keyring listing"
assert_grep "$PAM_LOG" 'killed by signal 11'
end

begin "helper hanging: timeout=500 honoured (session open < 2 s), logged, killed"
pam hang login "$CANARY1" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
ms=$(sed -n 's/^elapsed //p' "$T/out")
if [ -z "$ms" ] || [ "$ms" -lt 450 ] || [ "$ms" -ge 2000 ]; then fail "open_session took ${ms:-?} ms"; fi
assert_grep "$PAM_LOG" 'did not finish within 500 ms; killed'
pgrep -u "$U" -f hang.sh >/dev/null && fail "the hanging helper is still running"
end

begin "no bus: success, exit 20 logged, nothing done"
d=$(keyring_digest)
pam sync login "$CANARY1" DBUS_SESSION_BUS_ADDRESS="unix:path=$T/no-such-bus" \
	XDG_RUNTIME_DIR="$T/no-runtime" XDG_STATE_HOME="$XDG_STATE_HOME"
assert_eq "$RC" 0 "driver exit"
assert_grep "$PAM_LOG" 'exit 20: no session bus'
assert_eq "$(keyring_digest)" "$d" "keyring listing"
end

begin "locked keyring: success, exit 22 logged, nothing damaged"
as_user "${KCTL[@]}" lock >/dev/null 2>&1 || fail "could not lock the collection"
pam sync login "$CANARY2" "${PAMENV[@]}"
assert_eq "$RC" 0 "driver exit"
assert_grep "$PAM_LOG" 'exit 22: the keyring is locked'
printf '%s' "$KEYRING_PASSWORD" | as_user "${KCTL[@]}" unlock >/dev/null 2>&1 ||
	as_user "${KCTL[@]}" unlock >/dev/null 2>&1
assert_eq "$(versions work)" 3:3 "versions of work"
as_user "$SMTPCRED" audit --verify >"$T/verify.out" 2>&1 || fail "audit chain: $(cat "$T/verify.out")"
end

fi

begin "the helper ran as the user, never as root"
assert_grep "$AUDIT" "\"uid\":$(id -u "$U"),\"pid\":[0-9]*,\"exe\":\"[^\"]*smtpcred-pam-helper\""
grep '"exe":"[^"]*smtpcred-pam-helper"' "$AUDIT" | grep -v "\"uid\":$(id -u "$U")," >"$T/other-uid" &&
	fail "a helper record with another uid: $(head -1 "$T/other-uid")"
owner=$(stat -c %U "$AUDIT")
assert_eq "$owner" "$U" "audit log owner"
end

begin "canary: in no file, log, output, argv or environment"
# Every file of the test, of the user's home and of the user's keyring
# tree (the keyring's own file is encrypted with the collection password).
kr_tree=$(dirname "$HOME")
if grep -rlE "$CANARY_RE" "$T" "$kr_tree" 2>/dev/null >"$T/hits.tmp"; then
	fail "canary found in: $(tr '\n' ' ' <"$T/hits.tmp")"
fi
touch "$T/stop"
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
SAMPLER=
[ -s "$T/proc-hits" ] && fail "a process had a canary in argv or environ: $(sort -u "$T/proc-hits" | tr '\n' ' ')"
end

echo "1..$N"
[ "$FAILED" = 0 ]
