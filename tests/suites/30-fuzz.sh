#!/bin/bash
# Fuzzing (issue 6): every libFuzzer target under ASan+UBSan for 60 s,
# two at a time (2 cores), from its committed corpus; one TAP line per
# target, "not ok" on a crash, leak, timeout or OOM, the crasher kept in
# OUT_DIR/crashers/.  Longer runs: tests/fuzz/campaign.
# Usage: bash tests/suites/30-fuzz.sh SRC_DIR OUT_DIR
set -uo pipefail
src=$(cd "${1:?source dir}" && pwd)
out=$(mkdir -p "${2:?output dir}" && cd "$2" && pwd)

# clang with libFuzzer and the sanitizer runtimes (Debian 12: clang 14),
# installed by scripts/install-deps.sh --test.
if ! command -v clang >/dev/null ||
	! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a \
		>/dev/null 2>&1; then
	echo "Bail out! clang 14 with libFuzzer is not installed (scripts/install-deps.sh --test installs clang and libclang-rt-14-dev)"
	exit 1
fi
rm -rf "$out/build"
bash "$src/tests/fuzz/campaign" --tap -j 2 "${FUZZ_SECONDS:-60}" "$out"
# 1 is a failed target (reported as "not ok"); 3: nothing could run.
[ $? -ne 3 ]
