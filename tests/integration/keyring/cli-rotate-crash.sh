#!/bin/bash
# Crash injection into rotate and rollback (DESIGN.md "Rotation": no step
# can leave zero usable credentials; --resume repairs deterministically).
# Needs a build with -Dtest_hooks=true: SMTPCRED_TEST_CRASH_AT=<step> makes
# the process SIGKILL itself at that step.
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
skip_all_without_hooks

CANARY="CANARY-s3cr3t-cli-rotate-crash"
PW=$CANARY
HOST=smtp.example.org
KILLED=137	# 128 + SIGKILL

add() { # NAME: version 1 holds $PW-NAME-v1
	expect_rc 0 "$SMTPCRED" add "$1" --host "$HOST" --user "$1" \
		--password-stdin < <(printf '%s\n' "$PW-$1-v1")
}

rotate() { # NAME N [WANT [CRASH_STEP]]: rotate to version N ($PW-NAME-vN)
	local want=${3:-0}
	expect_rc "$want" env ${4:+"SMTPCRED_TEST_CRASH_AT=$4"} "$SMTPCRED" rotate "$1" \
		--password-stdin < <(printf '%s\n' "$PW-$1-v$2")
}

show_json() { # NAME [COPY]: show --json into $OUT (and a copy)
	expect_rc 0 "$SMTPCRED" show "$1" --json
	[ -n "${2:-}" ] && cp "$OUT" "$CAP_DIR/$2"
	return 0
}

# A lease could be served: exactly one current, or none and exactly one
# version carrying the commit intent.
assert_usable() { # FILE
	json_true "$1" 'len(by_state("current")) == 1 or (len(by_state("current")) == 0 and len([v for v in vs if v.get("commit") is True]) == 1)'
	json_true "$1" 'all(isinstance(v.get("commit"), bool) for v in vs)'
}

assert_settled() { # FILE
	json_true "$1" 'len(by_state("current")) == 1'
	json_true "$1" 'len(by_state("pending")) == 0'
	json_true "$1" 'not any(v.get("commit") for v in vs)'
	json_true "$1" 'len(by_state("previous")) <= 1 and len(by_state("retired")) <= 2'
}

# The secret a lease would get now is one of the expected ones (the
# current version, else the one carrying the commit intent).
assert_usable_secret() { # FILE NAME SECRET...
	local f=$1 name=$2 cur ok=1 s
	shift 2
	cur=$(json_get "$f" '[int(v["version"]) for v in vs if v["state"] == "current"] or [int(v["version"]) for v in vs if v.get("commit") is True]')
	cur=${cur#[}
	cur=${cur%]}
	if [ -z "$cur" ] || [[ $cur == *,* ]]; then
		fail "no single usable version in $(basename "$f")"
		return 1
	fi
	for s in "$@"; do
		if ss_lookup account "$name" version "$cur" |
			cmp -s - <(printf '%s' "$s"); then
			ok=0
		fi
	done
	[ "$ok" = 0 ] && return 0
	fail "the usable version $cur of $name does not hold an expected secret"
	return 1
}

# ---- a pending version left over (crash after create) -------------------------

begin "crash after create: the process dies by SIGKILL"
add p1
rotate p1 2 "$KILLED" after-create
show_json p1 p1-crashed.json
json_true "$OUT" 'ver(1)["state"] == "current" and ver(2) is not None and ver(2)["state"] == "pending"'
json_true "$OUT" 'ver(2).get("commit") is False'
assert_secret "$PW-p1-v1" account p1 state current
end

begin "check reports the left-over pending rotation as a warning (exit 1)"
expect_rc 1 "$SMTPCRED" check
assert_output_contains "p1"
expect_rc 0 "$SMTPCRED" list --json
json_true "$OUT" '[o["status"] for o in d if o["name"] == "p1"] == ["pending"]'
end

begin "a plain rotate with a pending version left over: exit 1 naming --resume and --abort"
rotate p1 3 1
assert_contains "$ERR" "--resume"
assert_contains "$ERR" "--abort"
assert_contains "$ERR" "p1"
show_json p1
assert_same_file "$CAP_DIR/p1-crashed.json" "$OUT"
end

begin "rotate --abort deletes the pending version; current untouched"
cur_before=$(json_get "$CAP_DIR/p1-crashed.json" 'ver(1)')
expect_rc 0 "$SMTPCRED" rotate p1 --abort
assert_contains "$OUT" "aborted pending version 2 of p1"
show_json p1
assert_settled "$OUT"
json_true "$OUT" 'nums() == [1]'
assert_eq "$(json_get "$OUT" 'ver(1)')" "$cur_before" "version 1 after --abort"
assert_secret "$PW-p1-v1" account p1 state current
end

begin "after --abort a plain rotate works"
rotate p1 2
show_json p1
assert_settled "$OUT"
json_true "$OUT" 'ver(2)["state"] == "current"'
assert_secret "$PW-p1-v2" account p1 state current
end

begin "--abort after the commit intent is refused (exit 1, names --resume); still usable"
add p2
rotate p2 2 "$KILLED" after-intent
show_json p2 p2-crashed.json
expect_rc 1 "$SMTPCRED" rotate p2 --abort
assert_contains "$ERR" "--resume"
show_json p2
assert_same_file "$CAP_DIR/p2-crashed.json" "$OUT"
assert_usable "$OUT"
end

begin "doctor --fix finishes an interrupted rotation"
add p3
rotate p3 2 "$KILLED" after-demote
expect_rc '0|1' "$SMTPCRED" doctor --fix
show_json p3
assert_settled "$OUT"
json_true "$OUT" 'ver(2)["state"] == "current" and ver(1)["state"] == "previous"'
assert_secret "$PW-p3-v2" account p3 state current
end

# ---- every crash point of a rotation -----------------------------------------

# Committed steps must end with the new version current after --resume;
# before the intent, resume may finish or drop the pending version.
for step in after-create after-verify after-intent after-demote after-promote after-retire after-prune; do
	a=c-$step
	case $step in
	after-create | after-verify) committed=0 ;;
	*) committed=1 ;;
	esac

	begin "$step: rotate is killed (137) and leaves a usable version"
	add "$a"
	rotate "$a" 2
	rotate "$a" 3
	rotate "$a" 4	# v1, v2 retired, v3 previous, v4 current
	rotate "$a" 5 "$KILLED" "$step"
	show_json "$a" "$a-crashed.json"
	assert_usable "$OUT"
	json_true "$OUT" 'ver(4) is not None'
	if [ "$committed" = 1 ]; then
		assert_usable_secret "$OUT" "$a" "$PW-$a-v4" "$PW-$a-v5"
	else
		assert_usable_secret "$OUT" "$a" "$PW-$a-v4"
	fi
	end

	begin "$step: rotate --resume exits 0 and settles the account"
	expect_rc 0 "$SMTPCRED" rotate "$a" --resume
	assert_matches "$OUT" "^(resumed $a: |$a: nothing to resume)"
	show_json "$a"
	assert_settled "$OUT"
	if [ "$committed" = 1 ]; then
		json_true "$OUT" 'ver(5)["state"] == "current" and ver(4)["state"] == "previous"'
		json_true "$OUT" 'nums() == [2, 3, 4, 5]'
		assert_secret "$PW-$a-v5" account "$a" state current
	else
		json_true "$OUT" '[int(v["version"]) for v in by_state("current")] in ([4], [5])'
	fi
	end

	begin "$step: a second --resume has nothing to do"
	expect_rc 0 "$SMTPCRED" rotate "$a" --resume
	assert_contains "$OUT" "$a: nothing to resume"
	end

	begin "$step: a plain rotate works again afterwards"
	rotate "$a" 6
	show_json "$a"
	assert_settled "$OUT"
	json_true "$OUT" 'ver(6)["state"] == "current"'
	assert_secret "$PW-$a-v6" account "$a" state current
	end
done

# ---- crash points of a rollback -------------------------------------------------

for step in rollback-after-intent rollback-after-demote; do
	a=c-$step
	begin "$step: rollback is killed (137) and leaves a usable version"
	add "$a"
	rotate "$a" 2	# v1 previous, v2 current
	expect_rc "$KILLED" env SMTPCRED_TEST_CRASH_AT="$step" "$SMTPCRED" rollback "$a"
	show_json "$a" "$a-crashed.json"
	assert_usable "$OUT"
	assert_usable_secret "$OUT" "$a" "$PW-$a-v1" "$PW-$a-v2"
	end

	begin "$step: rotate --resume finishes the rollback (version 1 current)"
	expect_rc 0 "$SMTPCRED" rotate "$a" --resume
	assert_matches "$OUT" "^resumed $a: "
	show_json "$a"
	assert_settled "$OUT"
	json_true "$OUT" 'ver(1)["state"] == "current"'
	assert_secret "$PW-$a-v1" account "$a" state current
	end

	begin "$step: a plain rotate works again afterwards"
	rotate "$a" 3
	show_json "$a"
	assert_settled "$OUT"
	json_true "$OUT" 'ver(3)["state"] == "current"'
	end
done

begin "crash records did not break the audit chain"
expect_rc 0 "$SMTPCRED" audit --verify
assert_contains "$OUT" "chain intact"
end

canary_check "$CANARY"
finish
