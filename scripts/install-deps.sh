#!/bin/bash
# Install what building, running and testing smtpcred needs on Debian 12.
# Idempotent; safe to run again.  Needs root (or sudo).
#
#   scripts/install-deps.sh          build + run + test dependencies
set -euo pipefail

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

PKGS=(
	# build
	build-essential pkg-config meson ninja-build
	libglib2.0-dev libsecret-1-dev libssl-dev libpam0g-dev libcmocka-dev
	# a real Secret Service on a private session bus
	dbus-daemon dbus-bin gnome-keyring libsecret-tools
	# test helpers (Debian's python, not a pyenv one)
	python3 python3-dbus
	# man page checks
	groff-base man-db
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}" >&2
	$SUDO apt-get update -q -o DPkg::Lock::Timeout=600
	$SUDO apt-get install -y -q -o DPkg::Lock::Timeout=600 \
		--no-install-recommends "${missing[@]}"
fi
