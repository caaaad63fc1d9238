#!/bin/bash
# fresh-chroot.sh -- run a command in a pristine, freshly bootstrapped Debian 12
# chroot, from a fresh clone of a repository's committed HEAD (issue 12:
# the README's commands on a machine where none of their packages are).
# Not part of the test command (a whole run takes 15 minutes more); by
# hand, as root, after tests/install/make-image.sh made the image:
#   tests/install/fresh-chroot.sh . -- bash -c \
#       'rm -rf /var/lib/apt/lists/*; bash scripts/test.sh'
#
#   fresh-chroot.sh [--keep] [--image TAR] REPO_DIR -- CMD [ARGS...]
#
# Every run unpacks the image into a new /srv/fresh/run.XXXXXX, so nothing
# installed by one run is seen by the next.  The command runs as root in
# /root/src with the environment of a fresh root login; its exit status is
# passed through (130/143 if this script is interrupted).  On any exit the
# processes whose root is inside the chroot are killed, every mount under it
# is undone, and the directory is removed (unless --keep).
#
# Not a container: same PID and network namespace as the host, so a command
# inside can see (and, as root, signal) host processes and uses host ports.
set -u

# A shell starts background jobs with SIGINT ignored, and bash cannot trap a
# signal ignored at entry: re-exec with it restored, so that an interrupt
# always reaches the cleanup below.
if (( 0x$(awk '/^SigIgn:/ { print $2 }' /proc/$$/status) & 2 )); then
    exec env --default-signal=INT "$BASH" "$0" "$@"
fi

image=/srv/fresh/bookworm-minbase.tar.zst
keep=0
root=''

die() { echo "fresh-chroot: $*" >&2; exit 1; }
usage() { echo "usage: ${0##*/} [--keep] [--image TAR] REPO_DIR -- CMD [ARGS...]" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --keep) keep=1; shift ;;
        --image) [ $# -ge 2 ] || usage; image=$2; shift 2 ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) break ;;
    esac
done
if [ $# -lt 3 ] || [ "$2" != -- ]; then usage; fi
repo=$1; shift 2
[ "$(id -u)" = 0 ] || die "must run as root (chroot and mount need it)"
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib-install.sh
. "$(dirname "$0")/../../scripts/lib-install.sh"
ensure_packages zstd git || die "cannot install zstd and git"
[ -r "$image" ] || die "image not readable: $image (tests/install/make-image.sh makes it)"
[ -d "$repo" ] || die "repository is not a directory: $repo"

# Processes whose root directory is the chroot or below it.
inside_pids() {
    local p r
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        case $r in "$root"|"$root"/*) echo "${p#/proc/}" ;; esac
    done
}

cleanup() {
    local rc=$? pids mp left
    trap '' INT TERM HUP
    # From here on our messages go to fd 3; bash's own "Killed" job notices
    # for the processes we kill go to /dev/null.
    exec 3>&2 2>/dev/null
    [ -n "$root" ] || exit "$rc"
    # 1. Kill whatever is still running in there (daemons that forked away,
    #    a command we stopped waiting for).  Retry: they may fork meanwhile.
    for _ in $(seq 50); do
        pids=$(inside_pids)
        [ -n "$pids" ] || break
        # shellcheck disable=SC2086  # one PID per word
        kill -KILL $pids 2>/dev/null
        sleep 0.1
    done
    [ -z "$(inside_pids)" ] || echo "fresh-chroot: processes still inside $root after SIGKILL" >&3
    # 2. Unmount everything under the root, ours and any the command made,
    #    newest first (reverse /proc/self/mountinfo order); lazily if busy.
    for _ in 1 2 3; do
        left=0
        while read -r mp; do
            left=1
            umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null ||
                echo "fresh-chroot: cannot unmount $mp" >&3
        done < <(awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' \
                     /proc/self/mountinfo | tac)
        [ "$left" = 1 ] || break
    done
    if awk -v r="$root" '$5 == r || index($5, r "/") == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
        echo "fresh-chroot: mounts remain under $root; not removing it" >&3
        [ "$rc" != 0 ] || rc=1
    elif [ "$keep" = 1 ]; then
        echo "fresh-chroot: kept $root" >&3
    else
        # --one-file-system: never descend into anything still mounted.
        rm -rf --one-file-system "$root" || echo "fresh-chroot: cannot remove $root" >&3
    fi
    exit "$rc"
}
trap cleanup EXIT
for sig in INT:130 TERM:143 HUP:129; do
    # shellcheck disable=SC2064  # expand now, once per signal
    trap "echo 'fresh-chroot: got SIG${sig%:*}, tearing down' >&2; exit ${sig#*:}" "${sig%:*}"
done

mkdir -p /srv/fresh || die "cannot create /srv/fresh"
root=$(mktemp -d /srv/fresh/run.XXXXXX) || die "cannot create a run directory in /srv/fresh"

# tar picks the decompressor (zstd, gzip, ...) from the file's contents.
tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$root" -xf "$image" ||
    die "unpacking $image into $root failed"
# After the unpack: the image's "./" entry may carry a mode of its own, and
# mktemp's 0700 would lock every user but root out of / (ld.so fails with
# "Permission denied" for them).
chmod 755 "$root" || die "cannot chmod $root"
git clone -q --no-hardlinks "$repo" "$root/root/src" || die "git clone of $repo failed"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" || die "copying /etc/resolv.conf failed"
cp -L /etc/hosts "$root/etc/hosts" || die "copying /etc/hosts failed"

m() { # m DIR MOUNT-ARGS...: mount onto $root/DIR or die saying which
    local d=$1; shift
    mount "$@" "$root/$d" || die "mounting $d failed (mount $*)"
}
# /proc: ps, pgrep, /proc/self/fd, /proc/self/exe; dbus, daemons and apt use it.
m proc -t proc -o nosuid,nodev,noexec proc
# /sys: lscpu/nproc-style probes, udev-ish checks.  Read-only: nothing an
# install script legitimately does writes there, and writes would hit the host.
m sys -t sysfs -o ro,nosuid,nodev,noexec sysfs
# /dev itself is the image's own static /dev (null, zero, full, random,
# urandom, tty, console, ptmx, fd links: what debootstrap makes) -- a private
# copy per run, so a daemon creating e.g. /dev/log does not touch the host's.
# /dev/pts: a new devpts instance for ptys (script(1), ssh, expect, openpty);
# the image's /dev/ptmx node resolves to this sibling pts instance.
m dev/pts -t devpts -o newinstance,nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts
# /dev/shm: POSIX shared memory and semaphores (glib, python multiprocessing).
m dev/shm -t tmpfs -o nosuid,nodev,mode=1777 shm
# /run: empty at boot on a real machine; dbus-daemon's system socket, pid
# files, /run/user, /run/lock (= /var/lock) live here.
m run -t tmpfs -o nosuid,nodev,mode=755 run
install -d -m 1777 "$root/run/lock" || die "creating /run/lock failed"
# /tmp: fresh and world-writable with the sticky bit, as daemons and
# non-root users expect.
m tmp -t tmpfs -o nosuid,nodev,mode=1777 tmp

# Run in the background and wait, so that a signal to this script is handled
# at once (bash defers traps while a foreground child runs).  env restores
# SIGINT/SIGQUIT, which bash ignores in background children, and <&0 keeps
# our stdin instead of /dev/null.
env --default-signal=INT,QUIT chroot "$root" /usr/bin/env -i HOME=/root \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    TERM=dumb LANG=C.UTF-8 \
    /bin/bash -c 'cd /root/src && exec "$@"' bash "$@" <&0 &
child=$!
# Loop: wait can return early (e.g. on a signal) while the command still runs.
while :; do
    wait "$child"; rc=$?
    kill -0 "$child" 2>/dev/null || exit "$rc"
done
