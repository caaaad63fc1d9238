#!/bin/bash
# smtpcred audit: the records written by add/rotate/rollback/remove, the
# filters, and the tamper evidence of the hash chain
# (docs/cli-contract.md "audit"; DESIGN.md "Access log").
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

CANARY="CANARY-s3cr3t-cli-audit"
PW=$CANARY
HOST=smtp.example.org
log=$(audit_log)

add() { # NAME
	expect_rc 0 "$SMTPCRED" add "$1" --host "$HOST" --user "$1" \
		--password-stdin < <(printf '%s\n' "$PW-$1-v1")
}

nlines() { # FILE (a missing file has 0 lines)
	if [ -f "$1" ]; then
		wc -l <"$1" | tr -d ' '
	else
		echo 0
	fi
}

begin "add, rotate, rollback and remove succeed"
add au1
add au2
expect_rc 0 "$SMTPCRED" rotate au1 --password-stdin < <(printf '%s\n' "$PW-au1-v2")
expect_rc 0 "$SMTPCRED" rollback au1
expect_rc 0 "$SMTPCRED" remove au2 --yes
end

begin "audit --verify: exit 0, 'audit log PATH: N records, chain intact'"
expect_rc 0 "$SMTPCRED" audit --verify
n=$(nlines "$log")
assert_contains "$OUT" "audit log $log: $n records, chain intact"
end

begin "every record has the fields of DESIGN.md, seq runs 1..N, prev links to the hash before"
jsonl_true "$log" 'all(set(("seq","ts","event","outcome","account","version","uid","pid","exe","purpose","server","smtp_code","prev","hash")) <= set(r) for r in L)'
jsonl_true "$log" '[r["seq"] for r in L] == list(range(1, len(L) + 1))'
jsonl_true "$log" 'all(L[i]["prev"] == L[i - 1]["hash"] for i in range(1, len(L)))'
jsonl_true "$log" 'all(isinstance(r["hash"], str) and len(r["hash"]) == 64 and all(c in "0123456789abcdef" for c in r["hash"]) for r in L)'
jsonl_true "$log" 'len({r["hash"] for r in L}) == len(L)'
jsonl_true "$log" 'all(r["uid"] == '"$(id -u)"' and isinstance(r["pid"], int) and r["pid"] > 0 for r in L)'
jsonl_true "$log" 'all(str(r["exe"]).endswith("smtpcred") for r in L)'
jsonl_true "$log" '__import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", L[0]["ts"]) is not None and all(a["ts"] <= b["ts"] for a, b in zip(L, L[1:]))'
end

begin "hash = SHA-256(prev || the line without its hash member), recomputed independently"
jsonl_true "$log" 'L[0]["prev"] == "0" * 64'
"$PYTHON" - "$log" <<'EOF' 2>&1 | diag
import hashlib, re, sys
bad = 0
for n, line in enumerate(open(sys.argv[1], "rb").read().splitlines(), 1):
    m = re.fullmatch(rb'(.*),"hash":"([0-9a-f]{64})"\}', line)
    prev = re.search(rb'"prev":"([0-9a-f]{64})"', line)
    if not m or not prev:
        print("line %d: no trailing hash member or no prev" % n)
        bad += 1
        continue
    want = hashlib.sha256(prev.group(1) + m.group(1) + b"}").hexdigest().encode()
    if want != m.group(2):
        print("line %d: hash is not SHA-256(prev || canonical)" % n)
        bad += 1
sys.exit(1 if bad else 0)
EOF
[ "${PIPESTATUS[0]}" = 0 ] || fail "recomputed hashes differ (see above)"
end

begin "the records tell what happened: store, rotate steps, rollback, remove"
jsonl_true "$log" '[r["outcome"] for r in L if r["event"] == "store" and r["account"] in ("au1", "au2")] == ["ok", "ok"]'
jsonl_true "$log" 'any("rotat" in r["event"] and r["account"] == "au1" and r["outcome"] == "ok" for r in L)'
jsonl_true "$log" 'any("rollback" in r["event"] and r["account"] == "au1" and r["outcome"] == "ok" for r in L)'
jsonl_true "$log" 'any("remove" in r["event"] and r["account"] == "au2" and r["outcome"] == "ok" for r in L)'
end

begin "audit --json prints the raw lines of the log"
expect_rc 0 "$SMTPCRED" audit --json
assert_same_file "$log" "$OUT"
end

begin "audit (text) prints the records"
expect_rc 0 "$SMTPCRED" audit
assert_contains "$OUT" "au1"
assert_contains "$OUT" "au2"
assert_matches "$OUT" 'rollback'
assert_matches "$OUT" 'remove'
end

begin "audit --account au2 keeps only au2's records"
expect_rc 0 "$SMTPCRED" audit --account au2 --json
want=$("$PYTHON" -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("account") == "au2"))' "$log")
jsonl_true "$OUT" 'len(L) == '"$want"' and len(L) >= 2 and all(r["account"] == "au2" for r in L)'
expect_rc 0 "$SMTPCRED" audit --account au1
assert_contains "$OUT" "au1"
assert_not_contains "$OUT" "au2"
end

begin "audit --account of an account without records prints nothing (exit 0)"
expect_rc 0 "$SMTPCRED" audit --account never --json
assert_empty "$OUT"
end

begin "audit --since: a date before everything keeps all, a future date none"
expect_rc 0 "$SMTPCRED" audit --since 2000-01-01 --json
assert_same_file "$log" "$OUT"
expect_rc 0 "$SMTPCRED" audit --since "$(date -u -d tomorrow +%F)" --json
assert_empty "$OUT"
end

begin "audit --since RFC 3339 time keeps the records from that second on"
sleep 1.2
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
add au3
expect_rc 0 "$SMTPCRED" audit --since "$since" --json
jsonl_true "$OUT" 'len(L) >= 1 and all(r["account"] == "au3" and r["ts"] >= "'"$since"'" for r in L)'
want=$("$PYTHON" -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["ts"] >= sys.argv[2]))' "$log" "$since")
assert_eq "$(nlines "$OUT")" "$want" "records since $since"
end

begin "audit --since with a bad time: exit 64"
expect_rc 64 "$SMTPCRED" audit --since yesterday
assert_contains "$ERR" "yesterday"
end

begin "SMTPCRED_AUDIT_LOG moves the log"
alt=$WK_DIR/alt/audit.log
mkdir -p "$WK_DIR/alt"
before=$(nlines "$log")
expect_rc 0 env SMTPCRED_AUDIT_LOG="$alt" "$SMTPCRED" add au4 --host "$HOST" --user au4 \
	--password-stdin < <(printf '%s\n' "$PW-au4-v1")
assert_eq "$(nlines "$log")" "$before" "lines of the default log"
if [ -f "$alt" ]; then
	jsonl_true "$alt" 'any(r["event"] == "store" and r["account"] == "au4" for r in L)'
else
	fail "no log at $alt"
fi
expect_rc 0 env SMTPCRED_AUDIT_LOG="$alt" "$SMTPCRED" audit --verify
assert_contains "$OUT" "audit log $alt:"
assert_contains "$OUT" "chain intact"
end

# ---- tampering ------------------------------------------------------------------

touch "$log"
cp "$log" "$CAP_DIR/audit.orig"
n=$(nlines "$log")
# A middle line that names au1 (not the first, not the last).
k=$("$PYTHON" -c '
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
c = [i + 1 for i, r in enumerate(L) if r.get("account") == "au1" and 0 < i < len(L) - 1]
print(c[len(c) // 2] if c else 2)' "$log" 2>/dev/null)
k=${k:-2}
note "log has $n lines; tampering with line $k"

restore() {
	cp "$CAP_DIR/audit.orig" "$log"
}

# expect_broken LINE_RE: audit --verify exits 1 naming the path and a line.
expect_broken() {
	expect_rc 1 "$SMTPCRED" audit --verify
	assert_output_contains "audit log $log: line "
	assert_output_matches "line $1"
	assert_not_matches "$OUT" 'chain intact'
}

begin "one character of one record changed (account name): exit 1 naming line $k"
"$PYTHON" - "$log" "$k" <<'EOF'
import sys
p, k = sys.argv[1], int(sys.argv[2])
lines = open(p, "rb").read().split(b"\n")
i = lines[k - 1].index(b"au1")
lines[k - 1] = lines[k - 1][:i] + b"au9" + lines[k - 1][i + 3:]
open(p, "wb").write(b"\n".join(lines))
EOF
expect_broken "$k([^0-9]|$)"
restore
end

begin "one hex digit of a hash changed: exit 1 naming line $k or $((k + 1))"
"$PYTHON" - "$log" "$k" <<'EOF'
import json, sys
p, k = sys.argv[1], int(sys.argv[2])
lines = open(p, "rb").read().split(b"\n")
h = json.loads(lines[k - 1])["hash"].encode()
flip = (b"0" if h[-1:] != b"0" else b"1")
lines[k - 1] = lines[k - 1].replace(h, h[:-1] + flip)
open(p, "wb").write(b"\n".join(lines))
EOF
expect_broken "($k|$((k + 1)))([^0-9]|$)"
restore
end

begin "a middle line deleted: exit 1 naming a line"
sed -i "${k}d" "$log"
expect_broken "[0-9]+"
restore
end

begin "two lines swapped: exit 1 naming a line"
"$PYTHON" - "$log" "$k" <<'EOF'
import sys
p, k = sys.argv[1], int(sys.argv[2])
lines = open(p, "rb").read().split(b"\n")
lines[k - 1], lines[k] = lines[k], lines[k - 1]
open(p, "wb").write(b"\n".join(lines))
EOF
expect_broken "[0-9]+"
restore
end

begin "a line that is not JSON: exit 1 naming it"
printf 'not json\n' >>"$log"
expect_broken "$((n + 1))([^0-9]|$)"
restore
end

begin "after restoring the original, the chain verifies again"
expect_rc 0 "$SMTPCRED" audit --verify
assert_contains "$OUT" "audit log $log: $n records, chain intact"
end

canary_check "$CANARY"
finish
