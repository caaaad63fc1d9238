#!/bin/bash
# Benchmarks of libsmtpsend/smtpsend against libcurl's SMTP on the same
# private Postfix sink (STARTTLS + AUTH PLAIN, certificate verified), in
# one run, reported as ratios (timings on these machines are noisy: compare
# within a run).  Not part of the test command.
#
#   tests/bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
QUICK=${1:-}
bash scripts/install-deps.sh
bash scripts/install-test-servers.sh
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	libcurl4-openssl-dev time >/dev/null
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS
B=$src/build-bench
[ -f "$B/build.ninja" ] || meson setup "$B" --buildtype=release >/dev/null
meson compile -C "$B" >/dev/null
gcc -O2 -o "$B/bench-send" tests/bench/bench-send.c \
	-Ilibsend/include -Ikeyring/include \
	-L"$B/libsend" -L"$B/keyring" -lsmtpsend -lsmtpcred \
	-Wl,-rpath,"$B/libsend:$B/keyring" $(pkg-config --cflags --libs glib-2.0)
gcc -O2 -o "$B/bench-curl" tests/bench/bench-curl.c $(pkg-config --cflags --libs libcurl)

export B QUICK SRC=$src
exec tests/helpers/with-keyring.sh bash -c '
set -eu
SRV=$(mktemp -d /tmp/smtpcred-bench.XXXXXX); chmod 711 "$SRV"
trap "bash $SRC/tests/servers/postfix.sh stop $SRV/s >/dev/null 2>&1; rm -rf $SRV" EXIT
PW=bench-$(head -c 9 /dev/urandom | base64 | tr -d "/+=")
bash "$SRC/tests/servers/pki.sh" "$SRV/pki" >/dev/null 2>&1
SRV_MESSAGE_SIZE_LIMIT=0 SMTP_USER=bench@test.example SMTP_PASS=$PW PKI_DIR=$SRV/pki \
	bash "$SRC/tests/servers/postfix.sh" start "$SRV/s" >/dev/null
. "$SRV/s/ports.env"
printf "%s" "$PW" >"$SRV/pass"
printf "%s" "$PW" | "$B/tools/smtpcred" add bench --host localhost \
	--port "$SUBMISSION_PORT" --user bench@test.example --mechs PLAIN \
	--ca-file "$SRV/pki/ca.crt" --password-stdin >/dev/null
URL=smtp://localhost:$SUBMISSION_PORT
ours() { "$B/bench-send" "$@" bench bench@test.example sink@example.org; }
curl_() { "$B/bench-curl" "$1" "$2" "$3" "$URL" bench@test.example "$SRV/pass" \
	"$SRV/pki/ca.crt" bench@test.example sink@example.org; }
NA=2000; NB=200; NC=200
[ -n "$QUICK" ] && { NA=200; NB=30; NC=20; }
row() { # name n ours curl better
	awk -v name="$1" -v n="$2" -v a="$3" -v b="$4" -v better="$5" "BEGIN {
		printf \"| %s | %d | %.2f s (%.0f/s) | %.2f s (%.0f/s) | %s %.2fx |\n\",
			name, n, a, n / a, b, n / b, better,
			(better == \"speed\" ? b / a : a / b) }"
}
echo "| workload | n | libsmtpsend | libcurl | ratio |"
echo "|---|---|---|---|---|"
a1=$(ours batch $NA 2048); c1=$(curl_ batch $NA 2048)
row "(a) 2 KiB, one connection" $NA "$a1" "$c1" speed
a2=$(ours fresh $NB 2048); c2=$(curl_ fresh $NB 2048)
row "(b) 2 KiB, new connection + AUTH (+ lease) each" $NB "$a2" "$c2" time
a3=$(ours batch $NC 1048576); c3=$(curl_ batch $NC 1048576)
row "(c) 1 MiB, one connection" $NC "$a3" "$c3" time
head -c $((100 * 1024 * 1024)) /dev/urandom >"$SRV/big.bin"
echo hi | /usr/bin/time -f "%M" -o "$SRV/rss" "$B/tools/smtpsend" --account bench \
	--from bench@test.example --to sink@example.org --subject big \
	--attach "$SRV/big.bin" >/dev/null
echo
echo "(d) peak RSS of smtpsend sending a 100 MiB attachment: $(cat "$SRV/rss") KiB"
echo "(ratio: speed = libcurl time / ours, >1 is faster; time = ours / libcurl, <1 is faster)"
'
