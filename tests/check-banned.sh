#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Banned calls (STYLE.md section 12): report every call of a banned
# function in the C sources of the components.
#
# Usage: check-banned.sh SOURCE_ROOT
#
# A hit is a whole identifier followed by optional blanks and '(' (so
# snprintf and strerror_r are not hits).  Lines that are plainly comment
# text (starting with "/*", "* " or "*/") are skipped, so documentation
# may name the functions it replaces.  Exit 0 and "no banned calls" when
# clean; otherwise each hit as file:line and exit 1.

set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 SOURCE_ROOT" >&2
	exit 2
fi
cd "$1"

banned='strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|getpass|system|popen|alloca|strerror|rand|srand'

dirs=()
for d in common keyring libsend pam tools broker; do
	[ -d "$d" ] && dirs+=("$d")
done
if [ ${#dirs[@]} -eq 0 ]; then
	echo "no banned calls"
	exit 0
fi

# shellcheck disable=SC2016  # $0, $1 ... below are awk's, not the shell's
hits=$(find -H "${dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print0 |
	sort -z |
	xargs -0 -r awk -v re="(^|[^A-Za-z0-9_])(${banned})[ \t]*[(]" '
		/^[ \t]*(\/\*|\*[ \t\/]|\*$)/ { next }
		{
			line = $0
			while (match(line, re)) {
				m = substr(line, RSTART, RLENGTH)
				sub(/^[^A-Za-z_]/, "", m)
				sub(/[ \t]*[(]$/, "", m)
				printf "%s:%d: banned call %s()\n", FILENAME, FNR, m
				line = substr(line, RSTART + RLENGTH)
			}
		}')

if [ -n "$hits" ]; then
	printf '%s\n' "$hits"
	exit 1
fi
echo "no banned calls"
