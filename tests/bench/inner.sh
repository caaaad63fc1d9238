#!/bin/bash
# The body of tests/bench/run.sh, inside a private bus with gnome-keyring.
set -eu
: "${B:?}" "${SRC:?}"
SRV=$(mktemp -d /tmp/smtpcred-bench.XXXXXX) || { echo "inner.sh: cannot create a temporary directory" >&2; exit 1; }
chmod 711 "$SRV"
BROKER_PID=
trap '[ -n "$BROKER_PID" ] && kill "$BROKER_PID"; bash "$SRC/tests/servers/postfix.sh" stop "$SRV/s" >/dev/null 2>&1; rm -rf "$SRV"' EXIT
PW=bench-$(head -c 9 /dev/urandom | base64 | tr -d "/+=")
USER_=bench@test.example
bash "$SRC/tests/servers/pki.sh" "$SRV/pki" >/dev/null 2>&1
SRV_SINK=discard SRV_MESSAGE_SIZE_LIMIT=0 SMTP_USER=$USER_ SMTP_PASS=$PW \
	PKI_DIR=$SRV/pki bash "$SRC/tests/servers/postfix.sh" start "$SRV/s" >/dev/null
# shellcheck disable=SC1091
. "$SRV/s/ports.env"
printf "%s" "$PW" >"$SRV/pass"	# libcurl's driver reads it from a file
printf "%s" "$PW" | "$B/tools/smtpcred" add bench --host localhost \
	--port "$SUBMISSION_PORT" --user "$USER_" --mechs PLAIN \
	--ca-file "$SRV/pki/ca.crt" --password-stdin >/dev/null
# msmtp takes its password from the same keyring (its own attributes).
printf "%s" "$PW" | secret-tool store --label=msmtp host localhost \
	service smtp user "$USER_"
cat >"$HOME/.msmtprc" <<CONF
defaults
tls on
tls_starttls on
tls_trust_file $SRV/pki/ca.crt
account bench
host localhost
port $SUBMISSION_PORT
auth plain
user $USER_
from $USER_
account default : bench
CONF
chmod 600 "$HOME/.msmtprc"
# (f): msmtp with the password in its own file, the way it is usually set
# up on servers (no keyring there)
sed 's/^auth plain$/auth plain\npassword '"$PW"'/' "$HOME/.msmtprc" >"$SRV/msmtprc-file"
chmod 600 "$SRV/msmtprc-file"
# (f): the broker, with the same account in a system store (key file;
# run as root here, a client of root's: the same code path as any allowed
# client, access lists included)
export SMTPCRED_SYSTEM_DIR=$SRV/sys SMTPCRED_AUDIT_LOG=$SRV/sys-audit.log
"$B/tools/smtpcred" --system init --seal key-file >/dev/null
printf "%s" "$PW" | "$B/tools/smtpcred" --system add bench --host localhost \
	--port "$SUBMISSION_PORT" --user "$USER_" --mechs PLAIN \
	--ca-file "$SRV/pki/ca.crt" --password-stdin >/dev/null
"$B/broker/smtpcredd" --socket "$SRV/broker.sock" </dev/null >"$SRV/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 50); do [ -S "$SRV/broker.sock" ] && break; sleep 0.1; done
unset SMTPCRED_SYSTEM_DIR SMTPCRED_AUDIT_LOG
{ printf 'From: %s\nTo: sink@example.org\nSubject: bench\n\n' "$USER_"
  for _ in $(seq 20); do printf '%075d\n' 0; done; } >"$SRV/msg.eml"	# ~1.6 KiB

URL=smtp://localhost:$SUBMISSION_PORT
ours() { "$B/bench-send" "$@" bench "$USER_" sink@example.org; }
curl_() {
	"$B/bench-curl" "$1" "$2" "$3" "$URL" "$USER_" "$SRV/pass" \
		"$SRV/pki/ca.crt" "$USER_" sink@example.org
}
procs() { # PROGRAM N: N processes, one message each; prints seconds
	local t0 t1 i
	t0=$(date +%s.%N)
	for i in $(seq "$2"); do
		case $1 in
		smtpsend) "$B/tools/smtpsend" --account bench -t <"$SRV/msg.eml" ||
			return 1 ;;
		msmtp) msmtp -t <"$SRV/msg.eml" || return 1 ;;
		msmtp-file) msmtp -C "$SRV/msmtprc-file" -t <"$SRV/msg.eml" ||
			return 1 ;;
		broker) SMTPCRED_BROKER_SOCKET=$SRV/broker.sock \
			"$B/tools/smtpsend" --system --account bench -t \
			<"$SRV/msg.eml" || return 1 ;;
		esac
	done
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}
ROUNDS=${ROUNDS:-5}
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
# runN CMD_A CMD_B BETTER [SCALE_B]: ROUNDS alternating runs of each.  A and Bt
# are the medians (Bt scaled by SCALE_B); R is the median of the rounds'
# own ratios (each pair ran back to back, so it sees the same machine),
# Rlo..Rhi their range, as BETTER says ("speed": B/A, "time": A/B).
runN() {
	local a=() b=() r=() i x y
	for i in $(seq "$ROUNDS"); do
		# ABBA: who goes first alternates, so neither always meets
		# the sink just after the other's load
		if [ $((i % 2)) = 1 ]; then
			x=$(eval "$1")
			y=$(eval "$2")
		else
			y=$(eval "$2")
			x=$(eval "$1")
		fi
		y=$(echo "$y * ${4:-1}" | bc -l)
		a+=("$x")
		b+=("$y")
		if [ "$3" = speed ]; then
			r+=("$(echo "$y / $x" | bc -l)")
		else
			r+=("$(echo "$x / $y" | bc -l)")
		fi
	done
	A=$(median "${a[@]}")
	Bt=$(median "${b[@]}")
	R=$(median "${r[@]}")
	Rlo=$(printf '%s\n' "${r[@]}" | sort -g | head -1)
	Rhi=$(printf '%s\n' "${r[@]}" | sort -g | tail -1)
}
row() { # name n ours peer better [ratio lo hi]
	awk -v name="$1" -v n="$2" -v a="$3" -v b="$4" -v better="$5" \
	    -v r="${6:-}" -v lo="${7:-}" -v hi="${8:-}" 'BEGIN {
		if (r == "")
			r = (better == "speed" ? b / a : a / b)
		printf "| %s | %d | %.3f s (%.0f/s) | %.3f s (%.0f/s) | %s %.2fx |",
			name, n, a, n / a, b, n / b, better, r
		if (lo != "")
			printf " %.2f-%.2f |", lo, hi
		else
			printf " |"
		printf "\n" }'
}
NA=2000 NB=200 NC=200 NP=30 NM=10
[ -n "${QUICK:-}" ] && { NA=200; NB=30; NC=20; NP=10; NM=3; }
echo "| workload | n | ours | peer | ratio (median of rounds) | range |"
echo "|---|---|---|---|---|---|"
runN "ours batch $NA 2048" "curl_ batch $NA 2048" speed
row "(a) 2 KiB, one connection (libcurl)" $NA "$A" "$Bt" speed "$R" "$Rlo" "$Rhi"
curl_a=$Bt
# Where (a)'s time goes: the whole machine's CPU (both cores: client,
# Postfix's smtpd/cleanup/qmgr/discard, Dovecot) and its idle time over one
# more run of each, per message.
cpu_ms() { awk '/^cpu /{printf "%d %d\n", $2+$3+$4+$6+$7+$8, $5}' /proc/stat; }
cpu_row() { # NAME CMD...: busy and idle ms per message of one run
	local b0 i0 b1 i1 hz
	hz=$(getconf CLK_TCK)
	read -r b0 i0 < <(cpu_ms)
	"${@:2}" >/dev/null
	read -r b1 i1 < <(cpu_ms)
	awk -v n="$1" -v b=$((b1 - b0)) -v i=$((i1 - i0)) -v hz="$hz" -v m="$NA" \
	    'BEGIN { printf "(a) %s: machine CPU %.2f ms per message, idle %.2f ms per message\n", n, b * 1000 / hz / m, i * 1000 / hz / m }'
}
cpu_rows=$(cpu_row ours ours batch "$NA" 2048; cpu_row libcurl curl_ batch "$NA" 2048)
raw() { /usr/bin/python3 "$SRC/tests/bench/raw-pipelined.py" "$SUBMISSION_PORT" \
	"$NA" "$1" "$SRV/pki/ca.crt" "$USER_" "$PW"; }
runN "raw data" "raw bdat" speed
row "(a') ceiling: bare pipelined DATA client, after AUTH (libcurl's median)" $NA "$A" "$curl_a" speed
row "(a'') ceiling: bare BDAT client, 32 in flight, after AUTH (libcurl's median)" $NA "$Bt" "$curl_a" speed
runN "ours fresh $NB 2048" "curl_ fresh $NB 2048" time
row "(b) 2 KiB, new connection + AUTH (+ lease) each (libcurl)" $NB "$A" "$Bt" time "$R" "$Rlo" "$Rhi"
runN "ours batch $NC 1048576" "curl_ batch $NC 1048576" time
row "(c) 1 MiB, one connection (libcurl)" $NC "$A" "$Bt" time "$R" "$Rlo" "$Rhi"
# msmtp runs NM messages a round; its time is scaled to NP messages
runN "procs smtpsend $NP" "procs msmtp $NM" speed "$(echo "$NP / $NM" | bc -l)"
row "(e) one process per message, password from the keyring (msmtp)" $NP "$A" "$Bt" speed "$R" "$Rlo" "$Rhi"
e_ours=$A e_msmtp=$Bt
# (f) the broker: a send through smtpcredd against the same send with the
# desktop keyring (target: no dearer), and against msmtp with its password
# in a file (what servers use without smtpcred)
runN "procs broker $NP" "procs smtpsend $NP" time
row "(f) one process per message through the broker (smtpsend, desktop keyring)" $NP "$A" "$Bt" time "$R" "$Rlo" "$Rhi"
runN "procs broker $NP" "procs msmtp-file $NP" speed
row "(f') one process per message through the broker (msmtp, password in a file)" $NP "$A" "$Bt" speed "$R" "$Rlo" "$Rhi"
# (e)'s floors: what every fresh process pays before it sends a byte
per_proc() { # PROGRAM N: ms per run of PROGRAM with no arguments
	local t0 t1 i
	t0=$(date +%s.%N)
	for i in $(seq "$2"); do "$1" </dev/null >/dev/null || return 1; done
	t1=$(date +%s.%N)
	echo "($t1 - $t0) * 1000 / $2" | bc -l
}
f_true=$(per_proc /bin/true 200)
f_empty=$(per_proc "$B/bench-empty" 200)
read -r _ f_dh _ f_plain < <(/usr/bin/python3 "$SRC/tests/bench/keyring-costs.py" 40)
head -c $((100 * 1024 * 1024)) /dev/urandom >"$SRV/big.bin"
echo hi | /usr/bin/time -f "%M" -o "$SRV/rss" "$B/tools/smtpsend" --account bench \
	--from "$USER_" --to sink@example.org --subject big \
	--attach "$SRV/big.bin" >/dev/null
echo
echo "(d) peak RSS of smtpsend sending a 100 MiB attachment: $(cat "$SRV/rss") KiB"
echo "$cpu_rows"
awk -v t="$f_true" -v e="$f_empty" -v dh="$f_dh" -v pl="$f_plain" \
    -v ours="$e_ours" -v np="$NP" -v msmtp="$e_msmtp" 'BEGIN {
	printf "(e) ms per process: smtpsend %.1f, msmtp %.1f (10x needs <= %.1f);", ours * 1000 / np, msmtp * 1000 / np, msmtp * 100 / np
	printf " floors: /bin/true %.2f, an empty program loading smtpsend'"'"'s libraries %.2f;", t, e
	printf " gnome-keyring'"'"'s OpenSession with the DH exchange %.2f (plain: %.2f)\n", dh, pl }'
echo "(ratio: speed = peer time / ours, >1 is faster; time = ours / peer, <1 is faster;"
echo " $ROUNDS alternating rounds; (e) msmtp ran $NM messages a round, scaled to $NP)"
