#!/bin/bash
# The install path on a fresh machine (issue 12).  The install scripts run
# with dpkg-query, apt-get, apt-cache, dpkg-deb and the user tools seen
# through a stub folder first on PATH: the stubs answer as Debian does when
# the packages were never installed (dpkg-query exits 1), record every
# call, and "install" what apt-get is asked for.  Also: every package that
# debian/control and debian/tests/control name is in an install list,
# every listed name exists in the archive, and no other script installs
# packages on its own.  Output: TAP.
#
#   tests/install/install-path.sh SRC_DIR
#
# shellcheck disable=SC2016  # the stubs' bodies and awk programs below are single-quoted on purpose: they expand their own variables when they run
set -u
src=$(cd "${1:?source dir}" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-install.XXXXXX") || { echo "Bail out! cannot create a temporary directory"; exit 1; }
[ -n "${KEEP_TEST_FILES:-}" ] || trap 'rm -rf "$T"' EXIT

N=0 CUR="" CUR_OK=1
begin() { N=$((N + 1)); CUR=$1; CUR_OK=1; }
fail() { CUR_OK=0; printf '# %s\n' "$@"; }
end() { if [ "$CUR_OK" = 1 ]; then echo "ok $N - $CUR"; else echo "not ok $N - $CUR"; fi; }
# has FILE ERE: the file has a line matching ERE
has() { grep -qE -- "$2" "$1" || { fail "$(basename "$1") lacks /$2/:"; sed 's/^/#   /' "$1" | tail -8; }; }
hasnt() { ! grep -qE -- "$2" "$1" || { fail "$(basename "$1") has /$2/:"; grep -E -- "$2" "$1" | sed 's/^/#   /' | head -5; }; }

# --- the stubs --------------------------------------------------------
# State in $S: installed (one package per line), calls.log (every call
# to a stub, in order), fail-update / fail-install / fake-install (make
# the next apt-get update or install fail, or "succeed" doing nothing).
STUBS=$T/stubs
mkdir -p "$STUBS"
stub() { printf '#!/bin/bash\nS=${STUB_STATE:?}\necho "%s $*" >>"$S/calls.log"\n%s\n' "$1" "$2" >"$STUBS/$1"; chmod +x "$STUBS/$1"; }

# dpkg-query -W -f=FMT PKG...: a known-but-removed package prints
# "not-installed"; one never seen prints nothing on stdout, an error on
# stderr, and makes the exit status 1 (as Debian's does).
stub dpkg-query '
rc=0
for a; do
	case $a in -*) continue ;; esac
	if grep -qx -- "$a" "$S/installed" 2>/dev/null; then echo "$a installed"
	elif grep -qx -- "$a" "$S/removed" 2>/dev/null; then echo "$a not-installed"
	else echo "dpkg-query: no packages found matching $a" >&2; rc=1; fi
done
exit $rc'
stub apt-get '
case $1 in
update)
	if [ -e "$S/fail-update" ]; then
		echo "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease" >&2
		exit 100
	fi
	touch "$S/lists" ;;
install)
	[ -e "$S/lists" ] || { echo "E: Unable to locate package (no lists)" >&2; exit 100; }
	if [ -e "$S/fail-install" ]; then echo "E: Unable to correct problems" >&2; exit 100; fi
	[ -e "$S/fake-install" ] && exit 0
	for a in "${@:2}"; do
		case $a in -o) skip=1; continue ;; -*) continue ;; esac
		[ -n "${skip:-}" ] && { skip=; continue; }
		echo "$a" >>"$S/installed"
	done ;;
download)
	for a in "${@:2}"; do case $a in -*|*=*|[0-9]*) ;; *) : >"${a}_9.9_amd64.deb" ;; esac; done ;;
*) echo "apt-get stub: $1?" >&2; exit 100 ;;
esac'
stub apt-cache '
[ -e "$S/lists" ] || { echo "$2:"; echo "  Candidate: (none)"; exit 0; }
echo "$2:"; echo "  Installed: (none)"; echo "  Candidate: 9.9"'
stub dpkg-deb '
[ "$1" = -x ] || exit 2
mkdir -p "$3/usr/sbin" "$3/usr/lib/postfix/sbin"
: >"$3/usr/lib/postfix/sbin/master"; : >"$3/usr/lib/postfix/sbin/smtpd"; : >"$3/usr/sbin/exim4"'
stub getent 'grep -qx -- "$2" "$S/accounts" 2>/dev/null && echo "$2:x:999:999::/nonexistent:/usr/sbin/nologin" || exit 2'
stub useradd 'echo "${!#}" >>"$S/accounts"'
stub groupadd 'echo "${!#}" >>"$S/accounts"'
stub ldd 'echo "	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6"'
stub sudo 'echo "sudo must not be needed: we are root" >&2; exit 1'

# fresh NAME: a new machine state; run SCRIPT ARGS with the stubs
fresh() { S=$T/$1; rm -rf "$S"; mkdir -p "$S"; : >"$S/calls.log"; }
run() { # run SCRIPT ARGS...: stdout+stderr to $S/out, status to RC
	STUB_STATE=$S PATH=$STUBS:$PATH SMTPCRED_SERVERS_CACHE=$S/cache \
		SMTPCRED_APT_UPDATED=0 bash "$@" >"$S/out" 2>&1 </dev/null
	RC=$?
}
apt_calls() { grep -E '^(apt-get|apt-cache) ' "$S/calls.log"; }

DEPS=$src/scripts/install-deps.sh
SERVERS=$src/scripts/install-test-servers.sh
mapfile -t TESTPKGS < <(bash "$DEPS" --list --test)
mapfile -t SRVPKGS < <(bash "$SERVERS" --list)

# --- install-deps.sh ---------------------------------------------------
begin "install-deps --test on a fresh machine: dpkg-query exits 1, the script updates, installs every package, exits 0"
fresh deps-fresh
printf '%s\n' gnome-keyring debhelper >"$S/removed"   # known, not installed
run "$DEPS" --test
[ "$RC" = 0 ] || fail "exit $RC"
has "$S/calls.log" '^dpkg-query -W'
# update before install, and install names every package of the lists
first=$(apt_calls | sed -n 1p) second=$(apt_calls | sed -n 2p)
case $first in "apt-get update"*) ;; *) fail "first apt call: '$first'" ;; esac
case $second in "apt-get install -y"*) ;; *) fail "second apt call: '$second'" ;; esac
for p in "${TESTPKGS[@]}"; do
	grep -qx -- "$p" "$S/installed" 2>/dev/null || fail "not installed: $p"
done
has "$S/out" "^install-deps: installing build-essential "
has "$S/out" "^install-deps: installed ${#TESTPKGS[@]} packages"
end

begin "install-deps --test with everything installed: no apt-get, no package list touched, no output"
fresh deps-all
printf '%s\n' "${TESTPKGS[@]}" >"$S/installed"
run "$DEPS" --test
[ "$RC" = 0 ] || fail "exit $RC"
[ -z "$(apt_calls)" ] || fail "apt called: $(apt_calls | head -3)"
[ ! -s "$S/out" ] || fail "printed: $(head -3 "$S/out")"
end

begin "install-deps with two packages missing installs only those two"
fresh deps-two
bash "$DEPS" --list | grep -vxE 'meson|gnome-keyring' >"$S/installed"
run "$DEPS"
[ "$RC" = 0 ] || fail "exit $RC"
[ "$(apt_calls | sed -n 2p)" = "apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends meson gnome-keyring" ] ||
	fail "install call: $(apt_calls | sed -n 2p)"
end

begin "apt-get update failing: exit 1, one line saying what failed, nothing installed"
fresh deps-noupdate
touch "$S/fail-update"
run "$DEPS" --test
[ "$RC" = 1 ] || fail "exit $RC, wanted 1"
has "$S/out" '^install-deps: apt-get update failed: check the network'
has "$S/out" '^install-deps: cannot install build-essential '
hasnt "$S/calls.log" '^apt-get install'
end

begin "apt-get install failing: exit 1 naming the packages"
fresh deps-noinstall
touch "$S/fail-install"
run "$DEPS"
[ "$RC" = 1 ] || fail "exit $RC, wanted 1"
has "$S/out" '^install-deps: apt-get install failed for: build-essential .* \(see apt'"'"'s message above\)$'
end

begin "apt-get claiming success without installing: caught, exit 1"
fresh deps-fake
touch "$S/fake-install"
run "$DEPS"
[ "$RC" = 1 ] || fail "exit $RC, wanted 1"
has "$S/out" '^install-deps: apt-get reported success but these are not installed: build-essential '
end

begin "install-deps: an unknown option is a usage error (64) with a message"
fresh deps-usage
run "$DEPS" --tset
[ "$RC" = 64 ] || fail "exit $RC, wanted 64"
has "$S/out" '^install-deps: unknown option --tset \(try --help\)$'
[ -z "$(apt_calls)" ] || fail "apt called"
end

# --- install-test-servers.sh ---------------------------------------------
begin "install-test-servers on a fresh machine: installs, unpacks postfix and exim, creates the users, exits 0"
fresh srv-fresh
run "$SERVERS"
[ "$RC" = 0 ] || fail "exit $RC"
[ "$(apt_calls | sed -n 1p)" = "apt-get update -q -o DPkg::Lock::Timeout=600" ] || fail "first: $(apt_calls | sed -n 1p)"
for p in "${SRVPKGS[@]}"; do
	grep -qx -- "$p" "$S/installed" 2>/dev/null || fail "not installed: $p"
done
has "$S/calls.log" '^apt-get download .* postfix$'
has "$S/calls.log" '^apt-get download .* exim4-daemon-light$'
[ "$(grep -c '^apt-get update' "$S/calls.log")" = 1 ] || fail "apt-get update ran $(grep -c '^apt-get update' "$S/calls.log") times"
for u in postdrop postfix Debian-exim; do grep -qx "$u" "$S/accounts" || fail "no account $u"; done
[ "$(cat "$S/cache/postfix/.smtpcred-unpacked")" = "postfix 9.9" ] || fail "postfix stamp"
[ -d "$S/cache/exim" ] || fail "exim not unpacked"
has "$S/out" '^install-test-servers: ready '
end

begin "install-test-servers run again: no apt call, no user created"
mv "$S/calls.log" "$S/calls.first"; : >"$S/calls.log"
cp "$S/accounts" "$S/accounts.first" 2>/dev/null || : >"$S/accounts.first"
run "$SERVERS"
[ "$RC" = 0 ] || fail "exit $RC"
[ -z "$(apt_calls)" ] || fail "apt called: $(apt_calls | head -3)"
cmp -s "$S/accounts" "$S/accounts.first" || fail "accounts changed"
end

begin "install-test-servers with every package but no package lists: the unpack updates the lists first"
fresh srv-nolists
printf '%s\n' "${SRVPKGS[@]}" >"$S/installed"
run "$SERVERS"
[ "$RC" = 0 ] || fail "exit $RC"
[ "$(apt_calls | sed -n 1p)" = "apt-cache policy postfix" ] || fail "first: $(apt_calls | sed -n 1p)"
[ "$(apt_calls | sed -n 2p)" = "apt-get update -q -o DPkg::Lock::Timeout=600" ] || fail "second: $(apt_calls | sed -n 2p)"
hasnt "$S/calls.log" '^apt-get install'
end

begin "install-test-servers with the network down: exit 1 with a message, no half-unpacked server"
fresh srv-down
touch "$S/fail-update"
run "$SERVERS"
[ "$RC" = 1 ] || fail "exit $RC, wanted 1"
has "$S/out" '^install-test-servers: apt-get update failed'
[ ! -e "$S/cache/postfix" ] || fail "a postfix folder was left"
end

# --- the README commands stop with a reason ------------------------------
begin "test.sh and demo.sh with the network down: they stop at once, saying why"
fresh readme-down
touch "$S/fail-update"
run "$src/scripts/test.sh"
[ "$RC" = 1 ] || fail "test.sh exit $RC, wanted 1"
has "$S/out" '^install-deps: apt-get update failed'
[ "$(tail -n 1 "$S/out")" = "0 passed, 1 failed" ] || fail "test.sh last line: $(tail -n 1 "$S/out")"
run "$src/scripts/demo.sh"
[ "$RC" = 1 ] || fail "demo.sh exit $RC, wanted 1"
has "$S/out" '^demo: could not install the build and run dependencies$'
end

# --- what the lists must hold ---------------------------------------------
# deps LINE...: the package names of a Depends-style field
deps() { tr ',' '\n' | sed -E 's/\(.*\)//; s/\[.*\]//; s/^[[:space:]]+|[[:space:]]+$//g' | grep -v '^$' | sed 's/^debhelper-compat$/debhelper/'; }
field() { # field FILE NAME: every value of NAME (with continuation lines)
	awk -v f="$2" 'tolower($0) ~ "^" tolower(f) ":" { on = 1; sub(/^[^:]*:/, ""); print; next }
		/^[^ \t]/ { on = 0 } on { print }' "$1"
}
ALL=$T/all-lists
{ printf '%s\n' "${TESTPKGS[@]}" "${SRVPKGS[@]}"; bash "$DEPS" --list --bench; } | sort -u >"$ALL"

begin "every Build-Depends of debian/control is installed by install-deps --test"
while read -r p; do
	printf '%s\n' "${TESTPKGS[@]}" | grep -qx -- "$p" || fail "Build-Depends $p: in no list"
done < <(field "$src/debian/control" Build-Depends | deps)
end

begin "every Depends of debian/tests/control (but our own packages) is installed by the test command's lists"
while read -r p; do
	# ours: every binary package debian/control builds
	grep -qx "Package: $p" "$src/debian/control" && continue
	grep -qx -- "$p" "$ALL" || fail "autopkgtest Depends $p: in no list"
done < <(field "$src/debian/tests/control" Depends | deps)
end

begin "every package named in the lists exists in the archive (apt-cache: a candidate)"
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
	fail "no package lists here: cannot check the names"
else
	# one call: "NAME:" then its "Candidate:" line; unknown names print nothing
	mapfile -t names <"$ALL"
	apt-cache policy "${names[@]}" 2>/dev/null |
		awk '/^[^ ]/ { sub(/:$/, ""); p = $0 } /Candidate:/ && $2 != "(none)" { print p }' |
		sort -u >"$T/candidates"
	while read -r p; do fail "$p: no candidate in the archive"; done < <(comm -23 "$ALL" "$T/candidates")
fi
end

begin "every tool a test looks for (command -v, g_find_program_in_path) comes from a listed or a required package"
mapfile -t tools < <(cd "$src" && git grep -ohE 'command -v [a-z0-9_.+-]+|find_program_in_path\("[a-z0-9_.+-]+"' -- tests scripts debian/tests ':!tests/install/*' |
	sed -E 's/command -v //; s/find_program_in_path\("//; s/"$//' | sort -u)
# (test-audit.c looks for jq: a search that misses it is broken)
[[ " ${tools[*]} " == *" jq "* ]] || fail "the search found no jq (${tools[*]}): it is broken"
for tool in "${tools[@]}"; do
	path=$(command -v "$tool") || { fail "$tool: not installed"; continue; }
	# dpkg may know the file under /bin where PATH found /usr/bin (usrmerge)
	pkg=
	for f in "$path" "$(readlink -f "$path")" "${path#/usr}" "/usr${path#/usr}"; do
		pkg=$(dpkg-query -S "$f" 2>/dev/null | head -1 | cut -d: -f1)
		[ -n "$pkg" ] && break
	done
	[ -n "$pkg" ] || { fail "$tool ($path): no package owns it"; continue; }
	grep -qx -- "$pkg" "$ALL" && continue
	prio=$(dpkg-query -W -f='${Essential} ${Priority}' "$pkg" 2>/dev/null)
	case $prio in "yes "* | *" required") continue ;; esac
	fail "$tool comes from $pkg ($prio), which no install list names"
done
end

begin "only scripts/lib-install.sh runs apt-get install (no script installs on its own)"
# (50-debian and 60-systemd install the .debs 50-debian built: our
# packages, not a tool)
hits=$(cd "$src" && git grep -nE 'apt-get( [^|;]*)? install( |$)' -- ':!*.md' \
	':!tests/install/*' ':!scripts/lib-install.sh')
rc=$?
others=$(printf '%s\n' "$hits" | grep -vF -e '"${DEBS[@]}"' -e '/debs/*.deb')
# git grep: 0 found, 1 none; anything else means it could not look
if [ "$rc" -gt 1 ] || ! printf '%s\n' "$hits" | grep -qF '"${DEBS[@]}"'; then
	fail "git grep could not search the tree (exit $rc): is $src a git checkout?"
fi
[ -z "$others" ] || fail "apt-get install in: $others"
end

echo "1..$N"
