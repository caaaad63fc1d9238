#!/bin/bash
# Compile each public plain-C header on its own: as C99 with -pedantic, and
# as C++ (STYLE.md section 5).  Usage: headertest.sh INCLUDE_DIR HEADER...
set -eu
inc=$1; shift
t=$(mktemp -d) || { echo "headertest.sh: cannot create a temporary directory" >&2; exit 1; }
trap 'rm -rf "$t"' EXIT
fail=0 n=0
for h in "$@"; do
	printf '#include <%s>\nint main(void) { return 0; }\n' "$h" >"$t/c.c"
	cp "$t/c.c" "$t/cxx.cc"
	n=$((n + 1))
	if cc -std=c99 -pedantic -Wall -Wextra -Werror -I"$inc" -c "$t/c.c" -o "$t/c.o"; then
		echo "ok $n - $h compiles alone as C99 -pedantic"
	else
		echo "not ok $n - $h compiles alone as C99 -pedantic"; fail=1
	fi
	n=$((n + 1))
	if c++ -std=c++11 -pedantic -Wall -Wextra -Werror -I"$inc" -c "$t/cxx.cc" -o "$t/cxx.o"; then
		echo "ok $n - $h compiles alone as C++11"
	else
		echo "not ok $n - $h compiles alone as C++11"; fail=1
	fi
done
echo "1..$n"
exit $fail
