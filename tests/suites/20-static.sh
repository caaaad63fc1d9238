#!/bin/bash
# Static analysis (issues 6, 12): cppcheck, clang-tidy (.clang-tidy),
# scan-build and shellcheck, each one TAP line, each passing only with zero
# findings.
# Suppressions live in tests/static/cppcheck.supp, .clang-tidy (and the
# per-directory keyring/.clang-tidy, tools/.clang-tidy), each with its
# reason; docs/static-analysis.md lists what each tool found.
# Usage: bash tests/suites/20-static.sh SRC_DIR OUT_DIR
set -uo pipefail
src=$(cd "${1:?source dir}" && pwd)
out=$(mkdir -p "${2:?output dir}" && cd "$2" && pwd)
cd "$src" || exit 1

n=0
tap() { # tap OK|FAIL description [log]
	n=$((n + 1))
	if [ "$1" = OK ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		[ -n "${3:-}" ] && sed 's/^/# /' "$3" | head -60
	fi
}

# The tools (Debian 12: cppcheck 2.10, clang-tidy/scan-build 14), installed
# by scripts/install-deps.sh --test like every tool of the test command.
need=()
for t in cppcheck clang clang-tidy run-clang-tidy scan-build shellcheck; do
	command -v "$t" >/dev/null || need+=("$t")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "Bail out! not installed: ${need[*]} (scripts/install-deps.sh --test installs them)"
	exit 1
fi
echo "1..4"

# A clang configuration gives the compile commands (no build needed: only
# config.h, which setup writes); each project file is listed once.
rm -rf "$out/build-clang"
if ! CC=clang meson setup "$out/build-clang" -Dtest_hooks=true \
	>"$out/setup.log" 2>&1; then
	cat "$out/setup.log" >&2
	for t in cppcheck clang-tidy; do tap FAIL "$t: meson setup failed"; done
else
	# tests/unit and tests/integration are left out of clang-tidy: the
	# analyzer does not know that a failed cmocka assertion ends the test,
	# and so reports the paths behind every assert (cppcheck reads them).
	/usr/bin/python3 tests/static/compdb.py "$out/build-clang" "$src" \
		"$out/cdb-tidy" common keyring libsend tools pam tests/fuzz >/dev/null
	/usr/bin/python3 tests/static/compdb.py "$out/build-clang" "$src" \
		"$out/cdb-all" common keyring libsend tools pam tests >/dev/null

	t0=$SECONDS
	nice cppcheck --project="$out/cdb-all/compile_commands.json" \
		--library=gtk --library=posix --library=openssl \
		--enable=warning,portability,performance --inline-suppr \
		--suppressions-list=tests/static/cppcheck.supp \
		--suppress='*:/usr/*' --error-exitcode=1 --quiet -j2 \
		>"$out/cppcheck.log" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && ! grep -q . "$out/cppcheck.log"; then
		tap OK "cppcheck: no findings ($((SECONDS - t0)) s)"
	else
		tap FAIL "cppcheck: $(grep -c '\]$' "$out/cppcheck.log") findings (rc $rc)" \
			"$out/cppcheck.log"
	fi

	t0=$SECONDS
	nice run-clang-tidy -p "$out/cdb-tidy" -j2 -quiet \
		>"$out/clang-tidy.raw" 2>&1
	rc=$?
	sed 's/\x1b\[[0-9;]*m//g' "$out/clang-tidy.raw" >"$out/clang-tidy.log"
	grep -E '^[^ ].*: (warning|error): .*\[[A-Za-z0-9.,-]+\]$' \
		"$out/clang-tidy.log" | sort -u >"$out/clang-tidy.findings"
	found=$(wc -l <"$out/clang-tidy.findings")
	if [ $rc -eq 0 ] && [ "$found" -eq 0 ]; then
		tap OK "clang-tidy: no findings ($((SECONDS - t0)) s)"
	else
		tap FAIL "clang-tidy: $found findings (rc $rc)" \
			"$out/clang-tidy.findings"
	fi
fi

# scan-build over a fresh build of the libraries and tools.  unix.Malloc
# is off here because the clang 14 analyzer does not model
# __attribute__((cleanup)) (g_autofree in keyring/ and tools/); clang-tidy
# runs it on common/, libsend/ and the fuzz targets, and LeakSanitizer
# covers the rest at run time.  DeprecatedOrUnsafeBufferHandling wants
# C11 Annex K, which glibc lacks (as in .clang-tidy).
rm -rf "$out/build-scan" "$out/scan-report"
t0=$SECONDS
if CC=clang nice scan-build -o "$out/scan-report" meson setup \
	"$out/build-scan" -Dtests=disabled >"$out/scan-setup.log" 2>&1 &&
	nice scan-build --status-bugs -o "$out/scan-report" \
		-disable-checker unix.Malloc \
		-disable-checker security.insecureAPI.DeprecatedOrUnsafeBufferHandling \
		ninja -C "$out/build-scan" >"$out/scan-build.log" 2>&1; then
	tap OK "scan-build: no bugs ($((SECONDS - t0)) s)"
else
	grep -E 'warning:|bugs? found|error' "$out/scan-build.log" \
		"$out/scan-setup.log" >"$out/scan-build.findings"
	tap FAIL "scan-build: $(grep -c 'warning:' "$out/scan-build.findings") findings" \
		"$out/scan-build.findings"
fi
# Every shell script in the tree through shellcheck: those with a sh/bash
# shebang and the sourced ones (a "# shellcheck shell=" line), at every
# severity; each suppression in a script carries its reason beside it.
mapfile -t scripts < <(git ls-files | while read -r f; do
	[ -f "$f" ] || continue
	if head -n 1 "$f" | grep -qE '^#!(/usr)?/bin/(env )?(ba)?sh\b' ||
		grep -qm1 '^# shellcheck shell=' "$f"; then echo "$f"; fi
done)
t0=$SECONDS
if [ ${#scripts[@]} -eq 0 ]; then
	tap FAIL "shellcheck: no shell script found (git ls-files failed?)"
elif shellcheck -x -f gcc "${scripts[@]}" >"$out/shellcheck.log" 2>&1; then
	tap OK "shellcheck: ${#scripts[@]} scripts, no findings ($((SECONDS - t0)) s)"
else
	tap FAIL "shellcheck: $(grep -c ': [a-z]*: ' "$out/shellcheck.log") findings in ${#scripts[@]} scripts" \
		"$out/shellcheck.log"
fi
exit 0
