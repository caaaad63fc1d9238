#!/bin/bash
# Debian packaging, end to end (issue 5), as root on Debian 12:
#   build the packages (dpkg-buildpackage -us -uc -b), lintian with no
#   error or warning, hardening-check on every ELF, install them, run the
#   autopkgtest scripts against the installed packages, enable and
#   disable the pam-auth-update profile, purge, prove nothing is left, and
#   build again from another directory: the .debs must be byte-identical.
#
#   tests/suites/50-debian.sh SRC_DIR OUT_DIR      (TAP on stdout)
set -u
src=${1:?} out=${2:?}
N=0
ok() { N=$((N + 1)); echo "ok $N - $*"; }
notok() { N=$((N + 1)); echo "not ok $N - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # NAME CMD...: one TAP line from CMD's status, its tail on failure
	local name=$1 log
	shift
	log=$(mktemp)
	if "$@" >"$log" 2>&1; then ok "$name"; else
		notok "$name" "exit $?: $*"; tail -15 "$log" | sed 's/^/#   /'; fi
	rm -f "$log"
}

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (installs and purges packages)"
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# The packaging tools come from scripts/install-deps.sh --test.
need=()
for t in dpkg-buildpackage dh lintian blhc hardening-check file gcc; do
	command -v "$t" >/dev/null || need+=("$t")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "Bail out! not installed: ${need[*]} (scripts/install-deps.sh --test installs them)"
	exit 1
fi

PKGS=(libsmtpcred0 libsmtpsend0 libsmtpcred-dev libpam-smtpcred smtpcred-tools
	smtpcred-broker smtpcred-sendmail)
# Nothing of ours may be installed before we start.
apt-get purge -y -q "${PKGS[@]}" >/dev/null 2>&1

# build DIR: a copy of the working tree (tracked and new files, no build
# directories) built in DIR/smtpcred; the .debs land in DIR.
build() {
	local d=$1
	rm -rf "$d"
	mkdir -p "$d/smtpcred"
	(cd "$src" && { git ls-files; git ls-files --others --exclude-standard; } |
		sort -u | while read -r f; do [ -e "$f" ] && echo "$f"; done |
		tar -cf - -T -) | tar -xf - -C "$d/smtpcred" || return 1
	(cd "$d/smtpcred" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
		dpkg-buildpackage -us -uc -b) >"$d/build.log" 2>&1
}

B1=$out/b1
# deb_of PKG: its .deb in $B1 (amd64, or all for smtpcred-sendmail)
deb_of() {
	local f
	for f in "$B1/${1}_0.1.0_amd64.deb" "$B1/${1}_0.1.0_all.deb"; do
		[ -f "$f" ] && { echo "$f"; return; }
	done
	echo "$B1/${1}_0.1.0_amd64.deb"
}
check "dpkg-buildpackage -us -uc -b builds all seven packages" build "$B1"
for p in "${PKGS[@]}"; do
	[ -f "$(deb_of "$p")" ] || notok "package $p was built" "missing"
done

check "blhc: every compile and link line of the build has the hardening flags" \
	blhc "$B1/build.log"

# lintian: errors and warnings fail; info tags are reported only.
if lintian --fail-on error,warning -I --pedantic "$B1"/smtpcred_*.changes \
	>"$out/lintian.log" 2>&1; then
	ok "lintian: no error, no warning ($(grep -c '^I:' "$out/lintian.log") info tags)"
else
	notok "lintian: no error, no warning" "$(grep -E '^[EW]:' "$out/lintian.log" | head -5)"
fi

# hardening-check on every ELF the packages install.
X=$out/extract
rm -rf "$X"
mkdir -p "$X"
for p in "${PKGS[@]}"; do dpkg-deb -x "$(deb_of "$p")" "$X"; done
while read -r f; do
	if file -b "$f" | grep -q '^ELF'; then
		# CET (-fcf-protection) is not part of bookworm's hardening=+all.
		# The PAM helper makes no call whose buffer size the compiler
		# cannot prove, so fortify has nothing to check there and
		# hardening-check would say "no protected functions" (lintian:
		# the info tag hardening-no-fortify-functions); it is built with
		# -D_FORTIFY_SOURCE=2 like everything else (blhc checks flags).
		extra=()
		case $f in */smtpcred-pam-helper) extra=(--nofortify) ;; esac
		check "hardening-check ${f#"$X"}${extra:+ (${extra[*]})}" \
			hardening-check --nocfprotection "${extra[@]}" "$f"
	fi
done < <(find "$X" -type f | sort)

# The SBOM is valid SPDX JSON naming the linked libraries with versions.
check "SBOM: SPDX 2.3 JSON with glib, libsecret, openssl, pam and their versions" \
	/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["spdxVersion"] == "SPDX-2.3" and d["dataLicense"] == "CC0-1.0"
names = {p["name"]: p["versionInfo"] for p in d["packages"]}
for n in ("smtpcred", "glib-2.0", "libsecret-1", "openssl", "pam"):
    assert names.get(n), n
rel = [r for r in d["relationships"] if r["relationshipType"] == "DEPENDS_ON"]
assert len(rel) == len(names) - 1
' "$X/usr/share/doc/smtpcred-tools/sbom.spdx.json"

# Install, recording what the system looked like before.  The source and
# output trees are left out wherever the checkout lives (CI clones it
# outside /work): the autopkgtests write their own files there.
SRC_ABS=$(cd "$src" && pwd -P) OUT_ABS=$(cd "$out" && pwd -P)
snap() { find / -xdev \( -path /proc -o -path /sys -o -path /tmp -o -path /run \
	-o -path /var/cache -o -path /var/log -o -path /var/lib/apt -o -path /var/lib/dpkg \
	-o -path /var/tmp -o -path /root -o -path /work -o -path /var/lib/systemd \
	-o -path /var/spool -o -path /var/mail -o -path "$SRC_ABS" -o -path "$OUT_ABS" \) \
	-prune -o -print 2>/dev/null | sort; }
snap >"$out/before.list"
DEBS=()
for p in "${PKGS[@]}"; do DEBS+=("$(deb_of "$p")"); done
check "the .debs install (apt resolves their Depends)" \
	apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${DEBS[@]}"
for p in "${PKGS[@]}"; do dpkg -L "$p" 2>/dev/null; done | sort -u >"$out/owned.list"

# The autopkgtests, from the source tree, against the installed packages.
for t in send-and-audit pam-smoke broker-send; do
	mkdir -p "$out/adt-$t"
	if (cd "$B1/smtpcred" && AUTOPKGTEST_TMP=$out/adt-$t bash "debian/tests/$t") \
		>"$out/adt-$t.log" 2>&1; then
		ok "autopkgtest $t"
	else
		notok "autopkgtest $t" "$(tail -8 "$out/adt-$t.log")"
	fi
done

# pam-auth-update: the profile is off after install, on when enabled,
# gone again when disabled; /etc/pam.d is only changed by pam-auth-update.
if grep -q pam_smtpcred /etc/pam.d/common-auth; then
	notok "the PAM profile is off after install" "common-auth names pam_smtpcred"
else
	ok "the PAM profile is off after install"
fi
pam-auth-update --enable smtpcred >/dev/null 2>&1
if grep -qE '^auth.*optional.*pam_smtpcred\.so capture' /etc/pam.d/common-auth &&
	grep -qE '^session.*optional.*pam_smtpcred\.so' /etc/pam.d/common-session &&
	grep -qE '^password.*optional.*pam_smtpcred\.so' /etc/pam.d/common-password; then
	ok "pam-auth-update --enable smtpcred adds optional lines to auth, session, password"
else
	notok "pam-auth-update --enable smtpcred adds optional lines" "$(grep -h smtpcred /etc/pam.d/common-* | head -3)"
fi

check "apt-get purge removes the seven packages" \
	apt-get purge -y -q -o DPkg::Lock::Timeout=600 "${PKGS[@]}"
if grep -q pam_smtpcred /etc/pam.d/common-*; then
	notok "purge leaves no pam_smtpcred line in /etc/pam.d (prerm ran pam-auth-update --remove)" \
		"$(grep -l pam_smtpcred /etc/pam.d/common-*)"
else
	ok "purge leaves no pam_smtpcred line in /etc/pam.d (prerm ran pam-auth-update --remove)"
fi
left=$(while read -r f; do [ -e "$f" ] && [ ! -d "$f" ] && echo "$f"; done <"$out/owned.list")
if [ -z "$left" ]; then ok "no file of the packages is left after purge"; else
	notok "no file of the packages is left after purge" "$left"; fi
snap >"$out/after.list"
if diff "$out/before.list" "$out/after.list" >"$out/fs.diff"; then
	ok "the file system is as it was before install (file-list diff empty)"
else
	notok "the file system is as it was before install" "$(head -5 "$out/fs.diff")"
fi
if dpkg -S pam_smtpcred.so >/dev/null 2>&1; then
	notok "dpkg -S knows no pam_smtpcred.so after purge"
else
	ok "dpkg -S knows no pam_smtpcred.so after purge"
fi

# Reproducible: the same source built again elsewhere (another build
# path), SOURCE_DATE_EPOCH from debian/changelog as dpkg sets it.
B2=$out/b2-elsewhere
check "second build from another directory" build "$B2"
diffs=""
for f in "$B1"/*.deb; do
	cmp -s "$f" "$B2/$(basename "$f")" || diffs="$diffs $(basename "$f")"
done
if [ -z "$diffs" ]; then
	debs=("$B1"/*.deb)
	ok "both builds give byte-identical .debs (${#debs[@]} files)"
else
	notok "both builds give byte-identical .debs" "differ:$diffs"
fi

echo "1..$N"
