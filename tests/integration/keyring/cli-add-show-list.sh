#!/bin/bash
# smtpcred add / show / list against a real gnome-keyring
# (docs/cli-contract.md: "Secrets", "add", "show", "list").
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

CANARY="CANARY-s3cr3t-cli-add-show-list"
PW=$CANARY
HOST=smtp.example.org

add() { # NAME [OPTIONS...] -- secret from stdin ($PW-NAME)
	local name=$1
	shift
	expect_rc 0 "$SMTPCRED" add "$name" --host "$HOST" --user "$name@example.org" \
		"$@" --password-stdin < <(printf '%s\n' "$PW-$name")
}

# ---- storing --------------------------------------------------------------

begin "add reads the secret from --password-stdin and stores version 1 as current"
expect_rc 0 "$SMTPCRED" add a1 --host "$HOST" --user a1@example.org \
	--password-stdin < <(printf '%s\n' "$PW-a1")
assert_contains "$OUT" "added a1 version 1"
assert_secret "$PW-a1" account a1 state current	# one "\n" stripped
end

begin "add reads the secret from --password-fd 3 (a file), strips one CRLF"
f=$(secret_file a2 "$PW-a2"$'\r\n')
expect_rc 0 "$SMTPCRED" add a2 --host "$HOST" --user a2@example.org \
	--password-fd 3 3<"$f"
assert_contains "$OUT" "added a2 version 1"
assert_secret "$PW-a2" account a2 state current
end

begin "only one trailing newline is stripped"
expect_rc 0 "$SMTPCRED" add nl2 --host "$HOST" --user nl2 \
	--password-stdin < <(printf '%s\n\n' "$PW-nl2")
assert_secret "$PW-nl2"$'\n' account nl2 state current
end

begin "the items carry the schema org.smtpcred.Credential"
account_items a1 "$CAP_DIR/items-a1"
if [ ! -s "$CAP_DIR/items-a1" ]; then
	fail "no Secret Service item has account=a1"
else
	assert_contains "$CAP_DIR/items-a1" "xdg:schema=org.smtpcred.Credential"
fi
end

begin "on a terminal: asks twice with echo off, stores the secret"
expect_rc_pty 0 "$PW-tty1" "$PW-tty1" "$SMTPCRED" add tty1 --host "$HOST" --user tty1
assert_contains "$OUT" "Password for tty1: "
assert_contains "$OUT" "Repeat password: "
assert_contains "$OUT" "added tty1 version 1"
assert_not_contains "$OUT" "$CANARY"
assert_secret "$PW-tty1" account tty1 state current
end

begin "on a terminal: two different answers: exit 65, nothing stored"
expect_rc_pty 65 "$PW-tty2" "$PW-tty2-other" "$SMTPCRED" add tty2 --host "$HOST" --user tty2
assert_matches "$OUT" 'match'
account_items tty2 "$CAP_DIR/items-tty2"
assert_empty "$CAP_DIR/items-tty2"
end

begin "--password-fd wins over --password-stdin"
f=$(secret_file both "$PW-both-fd")
expect_rc 0 "$SMTPCRED" add both --host "$HOST" --user both --password-stdin --password-fd 3 \
	3<"$f" < <(printf '%s\n' "$PW-both-stdin")
assert_secret "$PW-both-fd" account both state current
end

# ---- show -----------------------------------------------------------------

begin "show --json: settings, contract defaults, one current version, no secret"
expect_rc 0 "$SMTPCRED" show a1 --json
json_true "$OUT" 'd["name"] == "a1"'
json_true "$OUT" 'd["host"] == "'"$HOST"'" and d["user"] == "a1@example.org"'
json_true "$OUT" 'd["port"] in (587, "587") and d["tls"] == "starttls"'
json_true "$OUT" '(d["mechs"] if isinstance(d["mechs"], str) else ",".join(d["mechs"])) == "SCRAM-SHA-256,PLAIN,LOGIN"'
json_true "$OUT" 'len(vs) == 1 and vs[0]["version"] in (1, "1")'
json_true "$OUT" 'vs[0]["state"] == "current"'
json_true "$OUT" 'all(k in vs[0] for k in ("version","state","created","promoted","verified","not_after","grace_until","rotation_id"))'
json_true "$OUT" 'bool(vs[0]["created"]) and bool(vs[0]["not_after"]) and bool(vs[0]["rotation_id"])'
assert_not_contains "$OUT" "$CANARY"
assert_not_contains "$ERR" "$CANARY"
end

begin "show (text): host, port, user and the current version, no secret"
expect_rc 0 "$SMTPCRED" show a1
assert_contains "$OUT" "$HOST"
assert_contains "$OUT" "587"
assert_contains "$OUT" "a1@example.org"
assert_contains "$OUT" "current"
assert_not_contains "$OUT" "$CANARY"
end

begin "show of an unknown account: exit 1, not found"
expect_rc 1 "$SMTPCRED" show nosuch
assert_contains "$ERR" "not found"
assert_contains "$ERR" "nosuch"
end

# ---- defaults -------------------------------------------------------------

begin "defaults: --tls implicit gives port 465"
add i1 --tls implicit
expect_rc 0 "$SMTPCRED" show i1 --json
json_true "$OUT" 'd["tls"] == "implicit" and d["port"] in (465, "465")'
end

begin "defaults: --port 465 gives tls implicit"
add i2 --port 465
expect_rc 0 "$SMTPCRED" show i2 --json
json_true "$OUT" 'd["tls"] == "implicit" and d["port"] in (465, "465")'
end

begin "defaults: --port 2525 keeps tls starttls; --mechs is stored as given"
add s1 --port 2525 --mechs PLAIN
expect_rc 0 "$SMTPCRED" show s1 --json
json_true "$OUT" 'd["tls"] == "starttls" and d["port"] in (2525, "2525")'
json_true "$OUT" '(d["mechs"] if isinstance(d["mechs"], str) else ",".join(d["mechs"])) == "PLAIN"'
end

begin "none-loopback with host 127.0.0.1 is accepted"
expect_rc 0 "$SMTPCRED" add lo1 --host 127.0.0.1 --port 2525 --tls none-loopback \
	--user lo1 --password-stdin < <(printf '%s\n' "$PW-lo1")
expect_rc 0 "$SMTPCRED" show lo1 --json
json_true "$OUT" 'd["tls"] == "none-loopback" and d["host"] == "127.0.0.1"'
end

begin "a name of 64 characters is accepted"
n64=$(printf 'n%.0s' $(seq 1 64))
add "$n64"
expect_rc 0 "$SMTPCRED" show "$n64" --json
json_true "$OUT" 'len(d["name"]) == 64'
end

# ---- list -----------------------------------------------------------------

begin "list: one line per account with NAME HOST:PORT USER VERSION STATE"
expect_rc 0 "$SMTPCRED" list
assert_matches "$OUT" "^a1[[:space:]]+smtp\.example\.org:587[[:space:]]+a1@example\.org[[:space:]]+1[[:space:]]+ok([[:space:]]|$)"
assert_matches "$OUT" "^i1[[:space:]]+smtp\.example\.org:465[[:space:]]"
assert_not_contains "$OUT" "$CANARY"
end

begin "list --json: an array of objects with the contract's members"
expect_rc 0 "$SMTPCRED" list --json
json_true "$OUT" 'isinstance(d, list)'
json_true "$OUT" 'all(set(("name","host","port","tls","user","version","not_after","status")) <= set(o) for o in d)'
json_true "$OUT" '{"a1","a2","i1","i2","s1","lo1"} <= {o["name"] for o in d}'
json_true "$OUT" '[(o["port"], o["tls"], o["status"], o["version"]) for o in d if o["name"] == "a1"] in ([(587, "starttls", "ok", 1)], [("587", "starttls", "ok", "1")])'
json_true "$OUT" '[o["name"] for o in d] == sorted(o["name"] for o in d)'
end

# ---- conflicts and bad input ------------------------------------------------

begin "add of an existing account: exit 1 'already exists', nothing changed"
expect_rc 0 "$SMTPCRED" show a1 --json
cp "$OUT" "$CAP_DIR/a1-before.json"
account_items a1 "$CAP_DIR/a1-items-before"
expect_rc 1 "$SMTPCRED" add a1 --host other.example.org --user other \
	--password-stdin < <(printf '%s\n' "$PW-a1-again")
assert_contains "$ERR" "already exists"
assert_contains "$ERR" "a1"
expect_rc 0 "$SMTPCRED" show a1 --json
assert_same_file "$CAP_DIR/a1-before.json" "$OUT"
account_items a1 "$CAP_DIR/a1-items-after"
assert_same_file "$CAP_DIR/a1-items-before" "$CAP_DIR/a1-items-after"
assert_secret "$PW-a1" account a1 state current
end

keyring_items "$CAP_DIR/items-before-bad"

# bad_add WANT REGEX ARGS...: add with a secret on stdin fails with exit
# WANT, a message matching REGEX and nothing on stdout.  --password-stdin
# comes first so that ARGS may end with "-- NAME".
bad_add() {
	local want=$1 re=$2
	shift 2
	expect_rc "$want" "$SMTPCRED" add --password-stdin "$@" < <(printf '%s\n' "$PW-bad")
	assert_output_matches "$re"
	assert_empty "$OUT"
}

begin "bad name '../x': exit 65"
bad_add 65 'name' --host "$HOST" --user u -- ../x
end

begin "bad name '-x' (after --): exit 65"
bad_add 65 'name' --host "$HOST" --user u -- -x
end

begin "bad name '.x': exit 65"
bad_add 65 'name' --host "$HOST" --user u -- .x
end

begin "bad name of 65 characters: exit 65"
bad_add 65 'name' --host "$HOST" --user u -- "${n64}x"
end

begin "bad name with a space: exit 65"
bad_add 65 'name' --host "$HOST" --user u -- "a b"
end

begin "missing --host: exit 64 naming --host"
bad_add 64 'host' nohost --user u
end

begin "missing --user: exit 64 naming --user"
bad_add 64 'user' nouser --host "$HOST"
end

for p in 0 70000 abc -1 ''; do
	begin "--port '$p': exit 64"
	bad_add 64 'port' badport --host "$HOST" --user u --port "$p"
	end
done

begin "--tls bogus: exit 64 naming the value"
bad_add 64 'bogus|tls' badtls --host "$HOST" --user u --tls bogus
end

begin "--tls none-loopback with a non-loopback host: exit 64 or 65"
bad_add '64|65' 'loopback' badlo --host "$HOST" --user u --tls none-loopback --port 25
end

begin "empty password on stdin: exit 65 'empty'"
expect_rc 65 "$SMTPCRED" add empty1 --host "$HOST" --user u --password-stdin </dev/null
assert_output_matches 'empty'
end

begin "a password that is one newline is empty: exit 65"
expect_rc 65 "$SMTPCRED" add empty2 --host "$HOST" --user u --password-stdin < <(printf '\n')
assert_output_matches 'empty'
end

begin "a password with a NUL byte via --password-fd: exit 65"
f=$(secret_file nul "$PW-nul")
printf '\0tail\n' >>"$f"
expect_rc 65 "$SMTPCRED" add nul1 --host "$HOST" --user u --password-fd 3 3<"$f"
assert_output_matches 'NUL|null|zero byte|\\0'
end

begin "a password of 4097 bytes: exit 65"
long=$PW-$(printf 'x%.0s' $(seq 1 4097))
long=${long:0:4097}
expect_rc 65 "$SMTPCRED" add long1 --host "$HOST" --user u --password-stdin < <(printf '%s\n' "$long")
assert_output_matches '4096|long|too'
end

begin "no terminal and no password option: exit 64 naming the options"
expect_rc_notty 64 "$SMTPCRED" add notty1 --host "$HOST" --user u </dev/null
assert_contains "$ERR" "no terminal to read the password from"
assert_contains "$ERR" "--password-stdin"
assert_contains "$ERR" "--password-fd"
end

begin "--password-fd 99 (not open): exit 64 or 65, the message names fd 99"
expect_rc '64|65' "$SMTPCRED" add fd99 --host "$HOST" --user u --password-fd 99 </dev/null
assert_contains "$ERR" "99"
end

begin "--password-fd abc: exit 64"
expect_rc 64 "$SMTPCRED" add fdabc --host "$HOST" --user u --password-fd abc </dev/null
end

begin "nothing was stored by any refused add"
keyring_items "$CAP_DIR/items-after-bad"
assert_same_file "$CAP_DIR/items-before-bad" "$CAP_DIR/items-after-bad"
end

begin "a password of exactly 4096 bytes (plus newline) is accepted"
long=${long:0:4096}
expect_rc 0 "$SMTPCRED" add long2 --host "$HOST" --user u --password-stdin < <(printf '%s\n' "$long")
assert_secret "$long" account long2 state current
end

# ---- audit ------------------------------------------------------------------

begin "the audit log has a 'store' record with outcome ok for a1"
log=$(audit_log)
if [ ! -f "$log" ]; then
	fail "no audit log at $log"
else
	jsonl_true "$log" 'any(r.get("event") == "store" and r.get("outcome") == "ok" and r.get("account") == "a1" for r in L)'
	jsonl_true "$log" 'not any(r.get("event") == "store" and r.get("outcome") == "ok" and r.get("account") in ("../x", "-x", "nohost", "badport", "empty1", "nul1", "long1", "notty1") for r in L)'
fi
end

# ---- --source login -----------------------------------------------------------

begin "add --source login asks for no secret and says version 1 comes at the next login"
expect_rc_notty 0 "$SMTPCRED" add l1 --host "$HOST" --user l1 --source login </dev/null
assert_contains "$OUT" "added l1; version 1 will be stored at the next login"
end

begin "show l1 says it waits for the login; no version yet"
expect_rc 0 "$SMTPCRED" show l1
assert_matches "$OUT" 'login'
expect_rc 0 "$SMTPCRED" show l1 --json
json_true "$OUT" 'd.get("source") == "login"'
json_true "$OUT" 'len(vs) == 0'
expect_rc 0 "$SMTPCRED" list --json
json_true "$OUT" '[o["status"] for o in d if o["name"] == "l1"] == ["waiting-login"]'
end

# ---- process hardening ------------------------------------------------------

begin "while it waits for the password, the process has core dumps disabled"
fifo=$SECRET_DIR/fifo
mkfifo "$fifo"
exec 4<>"$fifo"
CAP_N=$((CAP_N + 1))
base=$CAP_DIR/$(printf '%03d' "$CAP_N")
"$SMTPCRED" add core1 --host "$HOST" --user u --password-fd 3 3<"$fifo" 4>&- \
	>"$base.out" 2>"$base.err" &
pid=$!
core=
for _ in $(seq 1 100); do
	[ -d "/proc/$pid" ] || break
	core=$(awk '/^Max core file size/ {print $5}' "/proc/$pid/limits" 2>/dev/null)
	[ "$core" = 0 ] && break
	sleep 0.05
done
assert_eq "$core" 0 "soft RLIMIT_CORE of the waiting process"
printf '%s\n' "$PW-core1" >&4
exec 4>&-
wait "$pid"
assert_eq "$?" 0 "exit status of add core1"
assert_secret "$PW-core1" account core1 state current
end

# ---- remove -------------------------------------------------------------------

begin "remove --yes deletes every item and says how many"
expect_rc 0 "$SMTPCRED" remove a2 --yes
assert_matches "$OUT" '^removed a2 \([0-9]+ items?\)'
account_items a2 "$CAP_DIR/items-a2-removed"
assert_empty "$CAP_DIR/items-a2-removed"
expect_rc 1 "$SMTPCRED" show a2
assert_contains "$ERR" "not found"
end

canary_check "$CANARY"
finish
