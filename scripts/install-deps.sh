#!/bin/bash
# Install the Debian 12 packages that building, running and testing
# smtpcred need.  Idempotent: when everything is there, nothing runs and no
# package list is touched.  Needs root (or sudo).
#
#   scripts/install-deps.sh           build + the demo (scripts/demo.sh)
#   scripts/install-deps.sh --test    also every tool the test command uses
#   scripts/install-deps.sh --bench   also the peers of tests/bench/
#   scripts/install-deps.sh --list [--test|--bench]
#                                     print the package names, install nothing
#
# The MTAs are not here: scripts/install-test-servers.sh unpacks them
# (Debian's MTAs conflict with each other; none is ever apt-installed).
# tests/install/install-path.sh checks that every package a test, the
# demo, debian/control's Build-Depends or debian/tests/control names is
# installed by a list here, and runs this script as on a fresh machine.
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib-install.sh
. "$here/lib-install.sh"
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR

BUILD=(
	build-essential pkgconf meson ninja-build git python3
	libglib2.0-dev libsecret-1-dev libssl-dev libpam0g-dev libcmocka-dev
)
# the demo: a real Secret Service on a private session bus, its helpers
# (Debian's python, not a pyenv one), and the man pages
RUN=(
	dbus-daemon dbus-bin gnome-keyring libsecret-tools python3-dbus
	groff-base man-db
	# ps, pkill, ss, setpriv, runuser, useradd (not in a minimal system)
	procps iproute2 util-linux passwd
)
TEST=(
	# static analysis, fuzzing (clang 14 + libFuzzer), shell scripts
	cppcheck clang clang-14 clang-tidy clang-tools libclang-rt-14-dev shellcheck
	# the Debian packages: build, lintian, blhc, hardening-check (devscripts),
	# file(1) to find the ELFs; the autopkgtests compile with gcc
	debhelper dpkg-dev lintian devscripts blhc file gcc libc6-dev
	# jq (audit lines as JSON), gcore (a core of the broker),
	# systemd-creds (the broker's sealed key); a fresh Debian booted with
	# systemd-nspawn for the broker under a real systemd (60-systemd)
	jq gdb systemd debootstrap systemd-container
	# the other two Secret Service implementations the README names, run
	# headless by tests/helpers/ss-provider.sh: KeePassXC (keepassxc-cli
	# makes the test database) and KWallet (kwalletd5); kwalletd5's
	# Diffie-Hellman session needs QCA's OpenSSL plugin, which is only a
	# Recommends of libqca-qt5-2 (without it libsecret cannot talk to it)
	keepassxc libkf5wallet-bin libqca-qt5-2-plugins
)
BENCH=(libcurl4-openssl-dev time msmtp python3-gi)

list=0 pkgs=("${BUILD[@]}" "${RUN[@]}")
for arg; do
	case $arg in
	--test) pkgs+=("${TEST[@]}") ;;
	--bench) pkgs+=("${BENCH[@]}") ;;
	--list) list=1 ;;
	-h | --help) sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) say "unknown option $arg (try --help)"; exit 64 ;;
	esac
done
if [ "$list" = 1 ]; then
	printf '%s\n' "${pkgs[@]}"
	exit 0
fi
ensure_packages "${pkgs[@]}" || exit 1
