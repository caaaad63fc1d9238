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

# The tests start their own bus and keyring; nothing from a desktop
# session may leak in (a prompt must never open a window).
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS
export LC_ALL=C.UTF-8

status=0
run_build() {
	local dir=$1; shift
	rm -rf "$dir"
	if ! meson setup "$dir" -Dtest_hooks=true --werror "$@" >"$dir.setup.log" 2>&1; then
		cat "$dir.setup.log"; status=1; return
	fi
	if ! meson compile -C "$dir" >"$dir.compile.log" 2>&1; then
		tail -50 "$dir.compile.log"; status=1; return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
}

# The first build's tests run under the whole-run canary scan (issue 6):
# a watcher reads every process's argv and environment as it starts and
# every 50 ms; the tests keep their temporary trees (KEEP_TEST_FILES) in
# one folder, searched afterwards with the meson logs
# (tests/hygiene/canary-run.py).  The result is one more TAP file.
canary_run() {
	local run pid
	run=$(mktemp -d /tmp/smtpcred-run.XXXXXX)
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
