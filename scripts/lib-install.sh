# shellcheck shell=bash
# Sourced by the install scripts: which Debian packages are missing, and
# installing them with one clear line on stderr when anything fails.
#
# The trap this avoids (issue 12): `dpkg-query -W PKG...` exits 1 when any
# package it names was never installed -- the normal answer on a fresh
# machine -- so under `set -e` its exit status must never end the script.
# It is read as data here: a package counts as installed only when dpkg
# says "installed" for it.
#
#   INSTALL_TAG     prefix of every message (default: the script's name)
#   SMTPCRED_APT_UPDATED=1   apt-get update already ran in this run (set
#                   and exported by the first script that runs it)

INSTALL_TAG=${INSTALL_TAG:-$(basename "$0" .sh)}
APT_OPTS=(-q -o DPkg::Lock::Timeout=600)

# say MESSAGE...: one line on stderr, prefixed with the script's name.
say() { printf '%s: %s\n' "$INSTALL_TAG" "$*" >&2; }

# as_root CMD...: run CMD as root (sudo when not root already).
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# missing_packages PKG...: print the ones dpkg does not call installed,
# one per line, in the order given.  Fails (status 2) only when dpkg-query
# itself cannot run.
missing_packages() {
	local out rc p s
	declare -A st=()
	# 0: all known; 1: some were never installed (read on, not fatal)
	if out=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null); then
		rc=0
	else
		rc=$?
	fi
	if [ "$rc" -gt 1 ]; then
		say "dpkg-query failed (exit $rc): cannot tell which packages are installed"
		return 2
	fi
	while read -r p s; do
		# a Multi-Arch package may be listed once per architecture
		if [ "$s" = installed ]; then st[${p%%:*}]=1; fi
	done <<<"$out"
	for p in "$@"; do
		if [ -z "${st[$p]:-}" ]; then printf '%s\n' "$p"; fi
	done
}

# apt_update: refresh the package lists once per run.
apt_update() {
	[ "${SMTPCRED_APT_UPDATED:-0}" = 1 ] && return 0
	if ! as_root apt-get update "${APT_OPTS[@]}"; then
		say "apt-get update failed: check the network and /etc/apt/sources.list*"
		return 1
	fi
	export SMTPCRED_APT_UPDATED=1
}

# ensure_packages PKG...: install those that are missing (apt-get update
# first); nothing is run, and no package list touched, when none is.
ensure_packages() {
	local missing=() still=() out
	out=$(missing_packages "$@") || return 1
	if [ -z "$out" ]; then return 0; fi
	mapfile -t missing <<<"$out"
	say "installing ${missing[*]}"
	apt_update || { say "cannot install ${missing[*]}"; return 1; }
	if ! DEBIAN_FRONTEND=noninteractive as_root apt-get install -y "${APT_OPTS[@]}" \
		--no-install-recommends "${missing[@]}"; then
		say "apt-get install failed for: ${missing[*]} (see apt's message above)"
		return 1
	fi
	out=$(missing_packages "${missing[@]}") || return 1
	if [ -n "$out" ]; then
		mapfile -t still <<<"$out"
		say "apt-get reported success but these are not installed: ${still[*]}"
		return 1
	fi
	say "installed ${#missing[@]} packages"
}

# A script that stops on an error says which command failed and where.
on_error() {
	say "failed (exit $1) at line $2: $3"
}
