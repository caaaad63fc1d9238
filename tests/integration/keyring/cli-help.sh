#!/bin/bash
# smtpcred --help, COMMAND --help, --version and usage errors
# (docs/cli-contract.md: global options, exit code 64; STYLE.md 11).
# Run through tests/helpers/with-keyring.sh with $SMTPCRED set.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

CANARY="CANARY-s3cr3t-cli-help"
USAGE=64
COMMANDS="add rotate rollback list show remove audit check doctor"
VERSION=$(sed -n "s/^[[:space:]]*version:[[:space:]]*'\([^']*\)'.*/\1/p" \
	"$here/../../../meson.build" | head -n 1)

nlines() { # FILE (a missing file has 0 lines)
	if [ -f "$1" ]; then
		wc -l <"$1" | tr -d ' '
	else
		echo 0
	fi
}

begin "--help: exit 0, usage on stdout naming every command, nothing on stderr"
expect_rc 0 "$SMTPCRED" --help
cp "$OUT" "$CAP_DIR/help.txt"
assert_matches "$OUT" 'usage'
for c in $COMMANDS; do
	assert_matches "$OUT" "(^|[^a-z-])$c([^a-z-]|$)"
done
assert_contains "$OUT" "--version"
assert_contains "$OUT" "--timeout"
assert_contains "$OUT" "--allow-prompt"
assert_empty "$ERR"
end
HELP_LINES=$(nlines "$CAP_DIR/help.txt")

begin "-h is --help"
expect_rc 0 "$SMTPCRED" -h
assert_same_file "$CAP_DIR/help.txt" "$OUT"
end

begin "--help works without a session bus"
expect_rc 0 env DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent "$SMTPCRED" --help
assert_same_file "$CAP_DIR/help.txt" "$OUT"
end

# option_of CMD: one option the usage of CMD must show.
option_of() {
	case $1 in
	add) echo "--password-stdin" ;;
	rotate) echo "--resume" ;;
	rollback) echo "rollback" ;;
	list) echo "--overdue" ;;
	show) echo "--json" ;;
	remove) echo "--yes" ;;
	audit) echo "--verify" ;;
	check) echo "--warn-days" ;;
	doctor) echo "--fix" ;;
	esac
}

for c in $COMMANDS; do
	begin "$c --help: exit 0, its usage on stdout"
	expect_rc 0 "$SMTPCRED" "$c" --help
	assert_matches "$OUT" 'usage'
	assert_contains "$OUT" "$c"
	assert_contains "$OUT" "$(option_of "$c")"
	assert_empty "$ERR"
	end
done

begin "add --help: all the contract's options, and no option that takes a password"
expect_rc 0 "$SMTPCRED" add --help
for o in --host --port --tls --user --mechs --ca-file --pin --max-age --warn-days \
	--grace --keep --enforce --audit-fail --source --password-stdin --password-fd; do
	assert_contains "$OUT" "$o"
done
assert_not_matches "$OUT" '--password([= ]|$)|--secret|--pass[= ]'
end

begin "rotate --help: --verify, --resume, --abort, --password-stdin, --password-fd"
expect_rc 0 "$SMTPCRED" rotate --help
for o in --verify --resume --abort --password-stdin --password-fd; do
	assert_contains "$OUT" "$o"
done
end

begin "audit --help: --account, --since, --json, --verify"
expect_rc 0 "$SMTPCRED" audit --help
for o in --account --since --json --verify; do
	assert_contains "$OUT" "$o"
done
end

begin "--version: exit 0, prints the version ($VERSION)"
expect_rc 0 "$SMTPCRED" --version
assert_contains "$OUT" "$VERSION"
assert_eq "$(nlines "$OUT")" 1 "lines printed by --version"
end

# A usage error: exit 64, a message on stderr naming NEEDLE, nothing on
# stdout, and not the whole help (at most 3 lines).
usage_error() { # NEEDLE CMD...
	local needle=$1
	shift
	expect_rc "$USAGE" "$@" </dev/null
	assert_contains "$ERR" "$needle"
	assert_contains "$ERR" "smtpcred: "
	assert_empty "$OUT"
	if [ "$(nlines "$ERR")" -gt 3 ] || [ "$(nlines "$ERR")" -ge "$HELP_LINES" ]; then
		fail "the usage error printed $(nlines "$ERR") lines (the whole help has $HELP_LINES)"
	fi
}

begin "an unknown command: exit 64 naming it, without the whole help"
usage_error frobnicate "$SMTPCRED" frobnicate
end

begin "an unknown global option: exit 64 naming it"
usage_error --frobnicate "$SMTPCRED" --frobnicate list
end

begin "an unknown option of a command: exit 64 naming it"
usage_error --frobnicate "$SMTPCRED" list --frobnicate
end

begin "an unknown option of add: exit 64 naming it"
usage_error --colour "$SMTPCRED" add x1 --host h --user u --colour --password-stdin
end

begin "a password option that does not exist is refused (no --password=...)"
usage_error --password "$SMTPCRED" add x1 --host h --user u --password=typed-by-mistake
end

begin "(hardening, beyond the contract) the refused --password=VALUE is not echoed"
assert_not_contains "$ERR" "typed-by-mistake"
end

begin "no command: exit 64"
expect_rc "$USAGE" "$SMTPCRED" </dev/null
assert_empty "$OUT"
assert_matches "$ERR" 'usage|command'
end

begin "show without a name: exit 64"
usage_error "" "$SMTPCRED" show
end

begin "rotate without a name: exit 64"
usage_error "" "$SMTPCRED" rotate
end

begin "show with two names: exit 64"
usage_error "" "$SMTPCRED" show a b
end

begin "--timeout abc: exit 64 naming it"
usage_error abc "$SMTPCRED" --timeout abc list
end

begin "--timeout without a value: exit 64"
usage_error "" "$SMTPCRED" --timeout
end

canary_check "$CANARY"
finish
