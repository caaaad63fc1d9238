#!/bin/bash
# make-image.sh -- (re)build the pristine image that fresh-chroot.sh unpacks:
# debootstrap --variant=minbase bookworm, plus the host's Debian apt sources
# (bookworm, bookworm-updates, bookworm-security; main).  Nothing else: no
# apt-get update, no policy-rc.d.  Only the downloaded .debs are dropped.
#
#   make-image.sh [OUT.tar.zst]      (default /srv/fresh/bookworm-minbase.tar.zst)
set -eu
out=${1:-/srv/fresh/bookworm-minbase.tar.zst}
die() { echo "make-image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib-install.sh
. "$(dirname "$0")/../../scripts/lib-install.sh"
ensure_packages debootstrap zstd || die "cannot install debootstrap and zstd"

mkdir -p /srv/fresh
dir=$(mktemp -d /srv/fresh/build.XXXXXX)
trap 'rm -rf --one-file-system "$dir"' EXIT

start=$(date +%s)
debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian \
    >"$dir.log" 2>&1 || die "debootstrap failed, see $dir.log"
echo "make-image: debootstrap took $(( $(date +%s) - start ))s" >&2

# The host's sources (deb822), instead of debootstrap's one-line sources.list.
rm -f "$dir/etc/apt/sources.list"
cat >"$dir/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -f "$dir"/var/cache/apt/archives/*.deb   # what apt-get clean would drop

chmod 755 "$dir"   # "./" in the tar: mktemp made it 0700
tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$dir" -cf - . |
    zstd -q -T0 -12 -f -o "$out.tmp" || die "packing $out failed"
mv "$out.tmp" "$out"
rm -f "$dir.log"
echo "make-image: wrote $out ($(du -h "$out" | cut -f1))" >&2
