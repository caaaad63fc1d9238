#!/bin/bash
# The broker under a real systemd (issue 13): a fresh Debian 12
# (debootstrap minbase + systemd, dbus, cron) booted with systemd-nspawn,
# the packages built by 50-debian installed in it, and then what an
# administrator of a server would do: smtpcred --system add, a cron job
# of a user, its output mailed by cron through /usr/sbin/sendmail
# (smtpcred-sendmail), smtpcredd started by its socket, the master key
# unsealed by systemd (LoadCredentialEncrypted=), the service confined
# (its user, no capabilities, no new privileges), the lease audited with
# the cron job's uid and unit.  The mail server is a private Postfix of
# the host's on 127.0.0.1 (the container shares the host's network).
#
#   tests/suites/60-systemd.sh SRC_DIR OUT_DIR      (TAP on stdout)
set -u
src=$(cd "${1:?source dir}" && pwd)
out=$(mkdir -p "${2:?output dir}" && cd "$2" && pwd)
N=0 FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $*"; }
notok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # NAME CMD...: one TAP line from CMD's status
	local name=$1
	shift
	if "$@" >"$out/check.log" 2>&1; then ok "$name"; else
		notok "$name" "exit $?: $*"
		tail -8 "$out/check.log" | sed 's/^/#   /' | sed "s/$CANARY_RE/<canary>/g"
	fi
}

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (debootstrap, systemd-nspawn)"
	exit 0
fi
need=()
for t in debootstrap systemd-nspawn nsenter; do
	command -v "$t" >/dev/null || need+=("$t")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "Bail out! not installed: ${need[*]} (scripts/install-deps.sh --test installs them)"
	exit 1
fi

CANARY="CANARY-s3cr3t-systemd-$$"
CANARY_RE='CANARY-s3cr3[t]-systemd-[0-9]*'
ROOT=$out/ct
SRV=$out/srv
NSPAWN_PID=
# shellcheck disable=SC2317  # run by the EXIT trap below
cleanup() {
	if [ -n "$NSPAWN_PID" ]; then
		kill "$NSPAWN_PID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$NSPAWN_PID" 2>/dev/null
	fi
	bash "$src/tests/servers/postfix.sh" stop "$SRV/s" >/dev/null 2>&1
}
trap cleanup EXIT

# The packages: those 50-debian built, else build them here.
DEBS=$src/build-suites/50-debian/b1
if ! ls "$DEBS"/smtpcred-broker_*.deb >/dev/null 2>&1; then
	DEBS=$out/debs
	rm -rf "$DEBS" && mkdir -p "$DEBS/smtpcred"
	(cd "$src" && { git ls-files; git ls-files --others --exclude-standard; } |
		sort -u | while read -r f; do [ -e "$f" ] && echo "$f"; done |
		tar -cf - -T -) | tar -xf - -C "$DEBS/smtpcred"
	if ! (cd "$DEBS/smtpcred" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
		dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
		echo "Bail out! the packages did not build (see $out/build.log)"
		exit 1
	fi
fi

# A fresh Debian 12 with systemd as its init, dbus and cron.
t0=$SECONDS
rm -rf "$ROOT"
if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,cron,ca-certificates \
	bookworm "$ROOT" http://deb.debian.org/debian >"$out/debootstrap.log" 2>&1; then
	echo "Bail out! debootstrap failed: $(tail -2 "$out/debootstrap.log")"
	exit 1
fi
cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/" 2>/dev/null &&
	rm -f "$ROOT/etc/apt/sources.list"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp -L /etc/hosts "$ROOT/etc/hosts"	# localhost, for the account's host
echo "smtpcred-ct" >"$ROOT/etc/hostname"
# The packages, installed as an administrator would (apt resolves their
# Depends): the container is not booted yet, so nothing starts.
mkdir -p "$ROOT/debs"
for f in "$DEBS"/*.deb; do
	case $f in *-dbgsym_*) ;; *) cp "$f" "$ROOT/debs/" ;; esac
done
if ! systemd-nspawn --quiet --register=no --keep-unit -D "$ROOT" --pipe /bin/sh -c \
	'export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q --no-install-recommends /debs/*.deb' \
	>"$out/install.log" 2>&1 </dev/null; then
	echo "Bail out! the packages did not install in the container: $(tail -3 "$out/install.log")"
	exit 1
fi
ok "a fresh Debian 12 with systemd, the seven packages installed ($((SECONDS - t0)) s)"

# The mail server, on the host's loopback.
printf '%s' "$CANARY" >"$out/server-pw"
bash "$src/tests/servers/pki.sh" "$SRV/pki" >/dev/null 2>&1
if ! SMTP_USER=alerts@test.example SMTP_PASS_FILE=$out/server-pw PKI_DIR=$SRV/pki \
	bash "$src/tests/servers/postfix.sh" start "$SRV/s" >"$out/postfix.log" 2>&1; then
	notok "the test Postfix starts" "$(tail -2 "$out/postfix.log")"
	echo "1..$N"
	exit 0
fi
# shellcheck disable=SC1091  # written at run time by postfix.sh
. "$SRV/s/ports.env"
cp "$SRV/pki/ca.crt" "$ROOT/etc/ssl/smtpcred-test-ca.crt"

# Boot.  The container's PID 1 is systemd-nspawn's child.
systemd-nspawn --quiet --register=no --keep-unit -D "$ROOT" -b --console=pipe \
	</dev/null >"$out/boot.log" 2>&1 &
NSPAWN_PID=$!
LEADER=
for _ in $(seq 200); do
	LEADER=$(pgrep -P "$NSPAWN_PID" -x systemd | head -1)
	[ -n "$LEADER" ] && break
	sleep 0.1
done
# ct CMD...: in the container, as a root login there would (no session
# bus, none of this script's environment)
ct() {
	nsenter -t "$LEADER" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 "$@"
}
state=
for _ in $(seq 120); do
	state=$(ct systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	sleep 0.5
done
if [ -z "$LEADER" ] || [ "$state" != running ]; then
	notok "systemd boots the container to 'running'" "state '$state'" \
		"$(ct systemctl --failed --no-legend 2>/dev/null | head -3)"
	echo "1..$N"
	exit 0
fi
ok "systemd boots the container (running, PID 1 is host pid $LEADER)"

check "smtpcredd.socket listens (enabled by the package), the service waits for a client" \
	ct sh -c 'systemctl is-active smtpcredd.socket && test -S /run/smtpcred/smtpcredd.sock && ! systemctl is-active smtpcredd.service'
# shellcheck disable=SC2016  # the container's shell expands it
check "the packaged store: owned by smtpcred, 0700, its key sealed with systemd-creds" \
	ct sh -c '[ "$(stat -c "%U %a" /var/lib/smtpcred)" = "smtpcred 700" ] && test -s /var/lib/smtpcred/master.key.cred && ! test -e /var/lib/smtpcred/master.key'

# The administrator: an account for the cron jobs of one user, and the
# machine's sendmail configuration.
# backup: Debian's system user of that name (uid 34), as cron jobs of
# system users are what this is for; other: a login user
ct useradd -m -s /bin/sh other
printf '%s' "$CANARY" | ct smtpcred add alerts --host localhost --port "$SUBMISSION_PORT" \
	--user alerts@test.example --mechs PLAIN --ca-file /etc/ssl/smtpcred-test-ca.crt \
	--password-stdin --allow-user backup >"$out/add.log" 2>&1
check "root's smtpcred (no session bus: the system store) adds the account" \
	grep -q '^added alerts version 1' "$out/add.log"
cat >"$ROOT/etc/smtpcred/sendmail.conf" <<CONF
from alerts@test.example
account alerts
alias root ops@example.org
alias * ops@example.org
CONF

# A real cron job whose output cron mails to root.
MARK="cron-output-$$"
printf 'MAILTO=root\n* * * * * echo %s\n' "$MARK" | ct crontab -u backup -
ct systemctl restart cron
got=
for _ in $(seq 150); do
	got=$(grep -l "$MARK" "$MAILDIR"/new/* 2>/dev/null | head -1)
	[ -n "$got" ] && break
	sleep 0.5
done
if [ -n "$got" ] && grep -q '^Delivered-To: ops@example.org' "$got" &&
	grep -q '^Return-Path: <alerts@test.example>' "$got" &&
	grep -q 'with ESMTPSA' "$got"; then
	ok "a cron job's output reaches root's alias through /usr/sbin/sendmail and the broker (TLS, AUTH)"
else
	notok "a cron job's output reaches root's alias" "got: ${got:-nothing in 75 s}" \
		"$(ct journalctl -u cron -u smtpcredd --no-pager -n 8 2>&1 | tail -8)"
fi

PID=$(ct systemctl show -p MainPID --value smtpcredd.service)
check "socket activation started smtpcredd as the smtpcred user, no capabilities, no new privileges" \
	ct sh -c "[ \"\$(stat -c %U /proc/$PID)\" = smtpcred ] && grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/$PID/status && grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$PID/status"
check "systemd unsealed the master key for it (LoadCredentialEncrypted=)" \
	ct sh -c 'journalctl -u smtpcredd --no-pager | grep -q "master key: systemd-creds (unsealed by systemd for the service)"'
ct smtpcred audit --json >"$out/audit.json" 2>&1
check "the lease names the cron job: its uid and the unit cron.service; the chain verifies" \
	sh -c "grep '\"event\":\"lease\"' '$out/audit.json' | grep -q '\"peer_uid\":$(ct id -u backup),.*\"peer_unit\":\"cron.service\"' && nsenter -t $LEADER -a -- env -i PATH=/usr/bin:/bin smtpcred audit --verify"
printf 'Subject: not allowed\n\nx\n' | ct runuser -u other -- /usr/sbin/sendmail root >"$out/other.log" 2>&1
rc=$?
if [ "$rc" = 77 ]; then ok "a user the account does not allow is refused (77)"; else
	notok "a user the account does not allow is refused (77)" "exit $rc: $(tail -1 "$out/other.log")"; fi
# An administrator who is not root: the package's admin group, the
# command run by the broker inside its sandbox (the key unsealed by
# systemd, never by the admin).
ct runuser -u other -- smtpcred --system list >"$out/adm0.log" 2>&1
rc=$?
ct usermod -a -G smtpcred-admin other
printf '%s' "$CANARY" | ct runuser -u other -- smtpcred --system rotate alerts --verify \
	--password-stdin >"$out/adm.log" 2>&1
rc2=$?
ct smtpcred show alerts >"$out/show.log" 2>&1
if [ "$rc" = 77 ] && [ "$rc2" = 0 ] && grep -Eq '^ *v2 +current' "$out/show.log"; then
	ok "a member of the package's smtpcred-admin group rotates (--verify) through the broker; before joining, 77"
else
	notok "a member of smtpcred-admin rotates through the broker" "before joining: exit $rc (wanted 77)" \
		"rotate: exit $rc2: $(tail -2 "$out/adm.log")" "$(ct journalctl -u smtpcredd --no-pager -n 4 2>&1)"
fi
ct smtpcred audit --json >"$out/audit.json" 2>&1
check "the rotation's records name the administrator; the chain verifies" \
	sh -c "grep '\"account\":\"alerts\",\"version\":2' '$out/audit.json' | grep -q '\"peer_uid\":$(ct id -u other),' && nsenter -t $LEADER -a -- env -i PATH=/usr/bin:/bin smtpcred audit --verify"
ct systemd-analyze security smtpcredd.service >"$out/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for smtpcredd.service: \([0-9.]*\).*/\1/p' "$out/security.log")
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
	ok "systemd-analyze security: exposure $score (at most 2.0)"
else
	notok "systemd-analyze security: exposure at most 2.0" "got '${score:-?}'"
fi
if grep -rlaq "CANARY-s3cr3[t]" "$ROOT/var/log" "$ROOT/tmp" "$ROOT/root" "$ROOT/home" \
	"$out/add.log" "$out/other.log" "$out/audit.json" "$out/adm.log" 2>/dev/null ||
	ct journalctl --no-pager | grep -qa "CANARY-s3cr3[t]"; then
	notok "the password is in no log, journal or file of the container"
else
	ok "the password is in no log, journal or file of the container"
fi
echo "1..$N"
exit 0
