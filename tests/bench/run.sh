#!/bin/bash
# Benchmarks of libsmtpsend/smtpsend against libcurl's SMTP and msmtp on
# the same private Postfix sink (STARTTLS + AUTH PLAIN, certificate
# verified, messages discarded), in one run, reported as ratios: timings on
# these machines are noisy, so each workload runs five times (ROUNDS=N to
# change), alternating the clients, and each row gives the median of the
# rounds' own ratios and their range.  Not part of the test command.
#
#   tests/bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
QUICK=${1:-}
bash scripts/install-deps.sh --bench
bash scripts/install-test-servers.sh
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS
B=$src/build-bench
[ -f "$B/build.ninja" ] || meson setup "$B" --buildtype=release >/dev/null
meson compile -C "$B" >/dev/null
read -ra GLIB_CFLAGS_LIBS <<<"$(pkg-config --cflags --libs glib-2.0)"
read -ra GLIB_LIBS <<<"$(pkg-config --libs glib-2.0)"
read -ra CURL_CFLAGS_LIBS <<<"$(pkg-config --cflags --libs libcurl)"
gcc -O2 -o "$B/bench-send" tests/bench/bench-send.c \
	-Ilibsend/include -Ikeyring/include \
	-L"$B/libsend" -L"$B/keyring" -lsmtpsend -lsmtpcred \
	-Wl,-rpath,"$B/libsend:$B/keyring" "${GLIB_CFLAGS_LIBS[@]}"
gcc -O2 -o "$B/bench-curl" tests/bench/bench-curl.c "${CURL_CFLAGS_LIBS[@]}"
# (e)'s floor: start-up alone, with every library smtpsend loads
gcc -O2 -o "$B/bench-empty" tests/bench/empty.c -Wl,--no-as-needed \
	-L"$B/libsend" -L"$B/keyring" -lsmtpsend -lsmtpcred \
	-Wl,-rpath,"$B/libsend:$B/keyring" "${GLIB_LIBS[@]}"

export B QUICK SRC=$src
exec tests/helpers/with-keyring.sh bash "$src/tests/bench/inner.sh"
