#!/bin/bash
# Install what tests/servers/ needs to run real SMTP servers on loopback
# (Debian 12, root).  Idempotent; safe to run again.
#
#   scripts/install-test-servers.sh          install, unpack, create users
#   scripts/install-test-servers.sh --list   print the apt packages only
#
# 1. apt-get installs the tools and the libraries of the MTAs (apt-get
#    update first, only when something is missing; scripts/lib-install.sh).
# 2. Postfix and Exim are NOT installed (they conflict with each other and
#    with whatever MTA the machine has): their .debs are downloaded and
#    unpacked with dpkg-deb -x under $SMTPCRED_SERVERS_CACHE (default
#    /var/cache/smtpcred-test-servers), once (SMTPCRED_SERVERS_REFRESH=1:
#    again when apt has a newer version); no maintainer script runs.
#      $CACHE/postfix/usr/sbin/postfix, $CACHE/postfix/usr/lib/postfix/...
#      $CACHE/exim/usr/sbin/exim4
# 3. Creates the system users the daemons insist on: postfix, group
#    postdrop, Debian-exim.
#
# The start scripts in tests/servers/ look for the same cache folder.
# Not root: re-runs itself under sudo.
set -Eeuo pipefail

PKGS=(
	# clients the checks use, the PKI, the scripted servers
	swaks libnet-ssleay-perl curl openssl ca-certificates python3 python3-aiosmtpd
	# SASL backend of the private Postfix (not started by apt:
	# policy-rc.d, and nothing here uses init scripts)
	dovecot-core
	# run-time libraries of the unpacked postfix (ldd of its binaries)
	libdb5.3 libicu72 libnsl2 libsasl2-2 libssl3 netbase
	# run-time libraries of the unpacked exim4 (GnuTLS build)
	libcrypt1 libgnutls30 libgnutls-dane0 libidn12 libidn2-0 libpcre2-8-0
	# setpriv, setsid; ps; ss (diagnostics)
	util-linux procps iproute2
)
if [ "${1:-}" = --list ]; then
	printf '%s\n' "${PKGS[@]}"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || exec sudo -E bash "$0" "$@"
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib-install.sh
. "$here/lib-install.sh"
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR
CACHE=${SMTPCRED_SERVERS_CACHE:-/var/cache/smtpcred-test-servers}

ensure_packages "${PKGS[@]}" || exit 1

# Unpack one .deb into $CACHE/$dir unless it is already there (with
# SMTPCRED_SERVERS_REFRESH=1: unless apt's candidate version is there).
# The stamp file names the version; a half-done unpack is never left in
# place (unpack into a temporary folder, then rename).
unpack() {
	local pkg=$1 dir=$2 want="" have tmp
	have=$(cat "$CACHE/$dir/.smtpcred-unpacked" 2>/dev/null || true)
	if [ -n "$have" ] && [ "${SMTPCRED_SERVERS_REFRESH:-0}" != 1 ]; then
		return 0
	fi
	want=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [ -n "$have" ] && { [ -z "$want" ] || [ "$want" = "(none)" ] || [ "$have" = "$pkg $want" ]; }; then
		return 0
	fi
	if [ -z "$want" ] || [ "$want" = "(none)" ]; then
		# no package lists yet (a fresh machine with nothing missing above)
		apt_update || return 1
		want=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
	fi
	tmp=$(mktemp -d "$CACHE/.unpack.XXXXXX") || { say "cannot create a folder in $CACHE"; return 1; }
	# root downloads unsandboxed (the _apt user cannot write here); old
	# package lists may name a version the mirror no longer has
	if ! (cd "$tmp" && apt-get download "${APT_OPTS[@]}" -o APT::Sandbox::User=root "$pkg"); then
		SMTPCRED_APT_UPDATED=0
		apt_update || return 1
		want=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
		if ! (cd "$tmp" && apt-get download "${APT_OPTS[@]}" -o APT::Sandbox::User=root "$pkg"); then
			say "apt-get download $pkg failed (see apt's message above)"
			rm -rf "$tmp"
			return 1
		fi
	fi
	if ! dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/root"; then
		say "dpkg-deb could not unpack $(ls "$tmp"/*.deb 2>/dev/null || echo "$pkg: no .deb downloaded")"
		rm -rf "$tmp"
		return 1
	fi
	echo "$pkg $want" >"$tmp/root/.smtpcred-unpacked"
	rm -rf "${CACHE:?}/${dir:?}"
	mv "$tmp/root" "$CACHE/$dir"
	rm -rf "$tmp"
	echo "install-test-servers: unpacked $pkg $want into $CACHE/$dir" >&2
}

mkdir -p "$CACHE"
unpack postfix postfix || exit 1
unpack exim4-daemon-light exim || exit 1

# Users and groups (no home, no login).
getent group postdrop >/dev/null || groupadd --system postdrop
getent passwd postfix >/dev/null ||
	useradd --system --user-group --no-create-home \
		--home-dir /var/spool/postfix --shell /usr/sbin/nologin postfix
getent passwd Debian-exim >/dev/null ||
	useradd --system --user-group --no-create-home \
		--home-dir /var/spool/exim4 --shell /usr/sbin/nologin Debian-exim

# Fail here, not in a test, when a library is missing.
for bin in "$CACHE/postfix/usr/lib/postfix/sbin/master" \
	"$CACHE/postfix/usr/lib/postfix/sbin/smtpd" "$CACHE/exim/usr/sbin/exim4"; do
	if LD_LIBRARY_PATH="$CACHE/postfix/usr/lib/postfix" ldd "$bin" | grep 'not found'; then
		echo "install-test-servers: $bin misses the libraries above" >&2
		exit 1
	fi
done
echo "install-test-servers: ready ($CACHE)" >&2
