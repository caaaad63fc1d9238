#!/bin/bash
# The README's test command: install what is needed, build twice (gcc with
# --werror, then ASan+UBSan), run every suite in both builds, and end with
# one line "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.." || { echo "test.sh: cannot enter the source tree"; exit 1; }
src=$PWD

bash scripts/install-deps.sh --test || { echo "0 passed, 1 failed"; exit 1; }
# Real MTAs for the sender's interop tests (unpacked, never apt-installed).
bash scripts/install-test-servers.sh || { echo "0 passed, 1 failed"; exit 1; }

# Some tests run programs as other users (the PAM module's helper as a
# test user, the broker as its own user, the MTAs): they must reach the
# checkout and its build.  A clone under /root (mode 0700) is out of their
# reach, so the tests then run from a copy that is not.
if [ -z "${SMTPCRED_TEST_COPY:-}" ] &&
	! setpriv --reuid=65534 --regid=65534 --clear-groups -- test -r "$src/scripts/test.sh" 2>/dev/null; then
	copy=/var/tmp/smtpcred-test
	echo "test.sh: $src is not readable by other users, and some tests run as other users: running from a copy in $copy/src" >&2
	if ! { rm -rf "$copy" && mkdir -p "$copy/src" && chmod 755 "$copy" "$copy/src"; }; then
		echo "test.sh: cannot make $copy"; echo "0 passed, 1 failed"; exit 1
	fi
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		# what is tracked and what is new, as the checkout has it, and
		# .git (the static checks ask git which files are the tree's)
		(cd "$src" && { echo .git; git ls-files; git ls-files --others --exclude-standard; } |
			sort -u | while read -r f; do [ -e "$f" ] && echo "$f"; done |
			tar -cf - -T -) | tar -xf - -C "$copy/src"
	else
		tar -C "$src" --exclude='./build-*' -cf - . | tar -xf - -C "$copy/src"
	fi || { echo "test.sh: copying $src to $copy failed"; echo "0 passed, 1 failed"; exit 1; }
	chmod -R a+rX "$copy/src"
	SMTPCRED_TEST_COPY=1 exec bash "$copy/src/scripts/test.sh"
fi

# The tests start their own bus and keyring; nothing from a desktop
# session may leak in (a prompt must never open a window).
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS
export LC_ALL=C.UTF-8

status=0
test_extra=()	# more `meson test` arguments for the next run_build
run_build() {
	local dir=$1; shift
	rm -rf "$dir"
	if ! meson setup "$dir" -Dtest_hooks=true --werror "$@" >"$dir.setup.log" 2>&1; then
		cat "$dir.setup.log"; status=1; return
	fi
	if ! meson compile -C "$dir" >"$dir.compile.log" 2>&1; then
		tail -50 "$dir.compile.log"; status=1; return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 2 "${test_extra[@]}" || status=1
}

# The first build's tests run under the whole-run canary scan (issue 6):
# a watcher reads every process's argv and environment as it starts and
# every 50 ms; the tests keep their temporary trees (KEEP_TEST_FILES) in
# one folder, searched afterwards with the meson logs
# (tests/hygiene/canary-run.py).  The result is one more TAP file.
canary_run() {
	local run pid
	run=$(mktemp -d /tmp/smtpcred-run.XXXXXX) || { echo "test.sh: cannot create a temporary directory" >&2; exit 1; }
	chmod 711 "$run"	# test users and MTAs reach their folders below
	/usr/bin/python3 "$src/tests/hygiene/canary-run.py" watch "$run.hits" &
	pid=$!
	sleep 0.5
	/usr/bin/python3 "$src/tests/hygiene/canary-run.py" plant "$run"
	TMPDIR=$run KEEP_TEST_FILES=1 "$@"
	kill -TERM "$pid"; wait "$pid"
	/usr/bin/python3 "$src/tests/hygiene/canary-run.py" report "$run.hits" \
		"$run" "$src/build-ci/meson-logs" >"$src/build-ci/canary-run.tap"
	cat "$src/build-ci/canary-run.tap"
	rm -rf "$run" "$run.hits"
}

canary_run run_build "$src/build-ci"
# The keyring suites against KeePassXC and KWallet (issue 14) run in the
# first build only: what they add is the provider's dialogue with two more
# services, not more of our code under the sanitizers, and a second run
# would cost about 4 minutes more.
test_extra=(--no-suite keyring-keepassxc --no-suite keyring-kwallet)
run_build "$src/build-asan" -Db_sanitize=address,undefined -Db_lundef=false

# Slower suites outside meson (packaging, static analysis, fuzzing, ...):
# each prints TAP into build-suites/NAME.tap (tests/suites/README.md).
rm -rf "$src/build-suites"; mkdir -p "$src/build-suites"
for suite in "$src"/tests/suites/*.sh; do
	[ -e "$suite" ] || continue
	name=$(basename "$suite" .sh)
	echo "== suite $name" >&2
	mkdir -p "$src/build-suites/$name"
	bash "$suite" "$src" "$src/build-suites/$name" \
		>"$src/build-suites/$name.tap" 2>"$src/build-suites/$name.log"
	rc=$?
	cat "$src/build-suites/$name.tap"
	if [ $rc -ne 0 ]; then
		echo "suite $name: exited $rc (see build-suites/$name.log)" >&2
		tail -20 "$src/build-suites/$name.log" >&2
	fi
done

/usr/bin/python3 "$src/scripts/summary.py" "$src/build-ci" "$src/build-asan" \
	--tap "$src"/build-ci/canary-run.tap "$src"/build-suites/*.tap || status=1
exit $status
