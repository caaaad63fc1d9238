#!/bin/bash
# The audit log's file system full, and read-only (issue 6, fault
# injection): every admin change and every lease is refused with a typed
# error (exit 74 for the CLI, SMTPCRED_E_AUDIT for a lease), the keyring
# is unchanged (exactly one current version), the log has no half record
# and its chain still verifies once the file system is back.  Needs root
# (it mounts a 256 KiB tmpfs); without root the whole script is skipped.
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root to mount a small tmpfs"
	exit 0
fi
CANARY="CANARY-s3cr3t-audit-faults"
MNT=$WK_DIR/auditfs
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=256k,mode=0700 tmpfs "$MNT" 2>/dev/null; then
	echo "1..0 # SKIP cannot mount a tmpfs here"
	exit 0
fi
trap 'umount "$MNT" 2>/dev/null' EXIT
export SMTPCRED_AUDIT_LOG=$MNT/audit.log

current_of() { # NAME: the current version number(s), or "-"
	"$SMTPCRED" show "$1" --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(",".join(str(v["version"]) for v in d["versions"] if v["state"] == "current") or "-")'
}

begin "setup: an account on a log in a 256 KiB tmpfs"
expect_rc 0 "$SMTPCRED" add af1 --host smtp.example.org --user af1 \
	--password-stdin < <(printf '%s\n' "$CANARY-v1")
assert_eq "$(current_of af1)" 1 "current version"
end

begin "file system full: rotate exits 74 before changing anything, the log has only whole lines"
dd if=/dev/zero of="$MNT/fill" bs=4k count=128 >/dev/null 2>&1	# up to ENOSPC
expect_rc 74 "$SMTPCRED" rotate af1 --password-stdin < <(printf '%s\n' "$CANARY-v2")
assert_output_matches 'nothing was changed: the file system of the audit log .* free'
assert_eq "$(current_of af1)" 1 "current version"
expect_rc 0 "$SMTPCRED" audit --verify
[ "$(tail -c 1 "$SMTPCRED_AUDIT_LOG" | od -An -c | tr -d ' ')" = '\n' ] ||
	fail "the log does not end with a whole line"
end

begin "file system full: add exits 74, no account is created"
expect_rc 74 "$SMTPCRED" add af2 --host smtp.example.org --user af2 \
	--password-stdin < <(printf '%s\n' "$CANARY-af2")
expect_rc 1 "$SMTPCRED" show af2
end

begin "read-only file system: rotate exits 74, nothing changes, chain intact"
rm -f "$MNT/fill"
mount -o remount,ro "$MNT"
expect_rc 74 "$SMTPCRED" rotate af1 --password-stdin < <(printf '%s\n' "$CANARY-ro")
assert_output_matches 'audit'
assert_eq "$(current_of af1)" 1 "current version"
expect_rc 0 "$SMTPCRED" audit --verify
mount -o remount,rw "$MNT"
end

begin "space and write access back: rotate works and the chain verifies"
expect_rc 0 "$SMTPCRED" rotate af1 --password-stdin < <(printf '%s\n' "$CANARY-back")
assert_eq "$(current_of af1)" 2 "current version"
expect_rc 0 "$SMTPCRED" audit --verify
end

canary_check "$CANARY"
finish
