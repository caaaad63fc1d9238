#!/usr/bin/env bash
# KWallet 5.103 (Debian 12 package `libkf5wallet-bin`, daemon kwalletd5) as
# a headless org.freedesktop.secrets provider on a private D-Bus session bus.
#
# From nothing: private HOME/XDG dirs and bus -> kwalletrc -> kwalletd5
# offscreen -> wallet created and opened with NO dialog through kwalletd's
# D-Bus method org.kde.KWallet.pamOpen(wallet, PBKDF2 hash, timeout) (the
# call pam_kwallet's --pam-login path uses) -> restart so the Secret Service
# side sees the wallet -> Secret Service Unlock whose Prompt completes with no
# UI -> secret-tool store/search/lookup of a canary -> python3-dbus checks
# (sscheck.py: DH session, signals, lock/unlock/prompt) -> everything it
# started is stopped and removed.
#
# Usage: ./kwallet-secret-service.sh [--keep]   (--keep: leave the temp dir)
# Needs: libkf5wallet-bin, libqca-qt5-2-plugins (!), libsecret-tools,
#        dbus-daemon/dbus-bin, python3-dbus, python3-gi, python3-cryptography.
# Exit status: 0 when every must-have check passed.
set -u -o pipefail

# shellcheck source-path=SCRIPTDIR source=research-lib.sh
. "$(dirname "$0")/research-lib.sh"
research_begin kwallet "${1-}"
WALLET=kdewallet
CANARY="canary-$RANDOM-$RANDOM"
KW=(busctl --user call org.kde.kwalletd5 /modules/kwalletd5 org.kde.KWallet)

# ---------------------------------------------------------------- cleanup
stop_app() {
    [ -n "$APP_PID" ] || return 0
    # kwalletd5 writes a wallet to disk 5 s after a change (sync timer) or on
    # close; SIGTERM kills it without either, so a secret written in the last
    # 5 s is LOST while its Secret Service attributes (kept in a separate
    # <wallet>_attributes.json written at once) survive: the item then comes
    # back with an empty secret (seen).  So: closeAllWallets, then quit via
    # KDBusService's /MainApplication; SIGTERM/SIGKILL only as fallback.
    timeout 5 "${KW[@]}" closeAllWallets >/dev/null 2>&1
    timeout 5 busctl --user call org.kde.kwalletd5 /MainApplication \
        org.qtproject.Qt.QCoreApplication quit >/dev/null 2>&1
    stop_pid "$APP_PID" kwalletd5
    APP_PID=""
}

# ------------------------------------------------------------ environment
# kwalletd5 reads $XDG_CONFIG_HOME/kwalletrc and keeps wallets in
# $XDG_DATA_HOME/kwalletd/ (<wallet>.kwl, <wallet>.salt,
# <wallet>_attributes.json).  Offscreen, its dialogs (password, new
# wallet, access) are never answered: the recipe below never lets one open.
research_env
mkdir -p "$XDG_DATA_HOME/kwalletd"

# ---------------------------------------------------------------- kwalletrc
# The settings (and why each is there) are in tests/helpers/ss-provider.sh,
# which the test suite uses.
# shellcheck source-path=SCRIPTDIR source=../ss-provider.sh
WK_DIR=$T SMTPCRED_TEST_SS=kwallet . "$HERE/../ss-provider.sh"
kw_write_rc

# ------------------------------------------------------------- private bus
research_bus

log "== versions"
dpkg-query -W libkf5wallet-bin libkwalletbackend5-5 libqca-qt5-2-plugins libsecret-tools dbus-daemon \
    python3-dbus python3-gi python3-cryptography >&2 2>/dev/null
# kwalletd5 --version needs a session bus (KDBusService starts before the
# command line is parsed) and must run BEFORE the daemon: a second instance
# just activates the first one and exits 0 printing nothing.
log "kwalletd5 --version: $(kwalletd5 --version 2>/dev/null)"

# ---------------------------------------------------------- pamOpen helper
# kwalletd5 5.103 exports pamOpen(s wallet, ay hash, i sessionTimeout) on
# org.kde.KWallet (no-reply method).  It opens the wallet with a pre-hashed
# password, no dialog, and CREATES it (Blowfish) if it does not exist.
# hash = PBKDF2-HMAC-SHA512(password, salt, 50000 iterations, 56 bytes) with
# salt = the 56 bytes of $XDG_DATA_HOME/kwalletd/<wallet>.salt -- the same
# derivation kwalletd uses for a typed password, so the wallet also opens
# with that password in the normal dialog.  A hash of another length is
# silently rejected (openPreHashed accepts 20/40/56 bytes only; 64 -> nothing
# happens).  The password stays in a 0600 file, off every command line.
umask 077
printf '%s' "r14-test-password" >"$T/wallet-password"
cat >"$T/pam-open.py" <<'EOF'
import hashlib, os, sys, time
import dbus
wallet, pwfile, datadir = sys.argv[1:4]
salt_path = os.path.join(datadir, "kwalletd", wallet + ".salt")
if not os.path.exists(salt_path) or os.path.getsize(salt_path) == 0:
    with open(salt_path, "wb") as f:
        f.write(os.urandom(56))
salt = open(salt_path, "rb").read()
key = hashlib.pbkdf2_hmac("sha512", open(pwfile, "rb").read(), salt, 50000, 56)
kw = dbus.Interface(dbus.SessionBus().get_object("org.kde.kwalletd5", "/modules/kwalletd5"), "org.kde.KWallet")
if kw.isOpen(wallet, signature="s"):
    sys.exit(0)
kw.pamOpen(wallet, dbus.ByteArray(key), 0, signature="sayi", ignore_reply=True)
for _ in range(100):
    if kw.isOpen(wallet, signature="s"):
        sys.exit(0)
    time.sleep(0.05)
print("pamOpen did not open %s (kwalletd busy in a dialog? wrong password?)" % wallet, file=sys.stderr)
sys.exit(1)
EOF
pam_open() { "$PY" "$T/pam-open.py" "$WALLET" "$T/wallet-password" "$XDG_DATA_HOME"; }
PAM_OPEN="$PY $T/pam-open.py $WALLET $T/wallet-password $XDG_DATA_HOME"   # same, for sscheck.py

start_app() {
    kwalletd5 >>"$T/kwalletd5.log" 2>&1 &
    APP_PID=$!
    local _
    for _ in $(seq 200); do
        busctl --user status org.freedesktop.secrets >/dev/null 2>&1 && return 0
        kill -0 "$APP_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# ------------------------------------------------- bootstrap: create wallet
# The Secret Service side builds its collection list once, when kwalletd5
# starts, from the *.kwl files on disk; a wallet created later by pamOpen
# gets no collection (pamOpen emits no walletCreated).  CreateCollection is
# no way around it: its prompt opens a "new wallet password" dialog.  Hence:
# first daemon creates the wallet, second daemon serves it.
bootstrap() {
    start_app || return 1
    pam_open || return 1
    "${KW[@]}" close sb "$WALLET" true >/dev/null || return 1
    stop_app
    [ -s "$XDG_DATA_HOME/kwalletd/$WALLET.kwl" ]
}
step "bootstrap: kwalletd5 + pamOpen creates $WALLET.kwl" bootstrap || { bad "bootstrap"; cat "$T/kwalletd5.log" >&2; exit 1; }

# --------------------------------------------------------- serve + unlock
# After pamOpen the wallet is open in kwalletd but its collection still says
# Locked=true: the Secret Service object only learns a wallet handle through
# its own Unlock prompt.  That prompt calls kwalletd openAsync(); the wallet
# being open already and "Prompt on Open" false, it completes with no UI.
# (Until then Service.Lock also fails: "Can't lock object at path ...".)
serve() {
    start_app || return 1
    pam_open || return 1
    "$PY" "$HERE/sscheck.py" --unlock-only
}
step "start kwalletd5 + pamOpen + Secret Service Unlock/Prompt" serve || { bad "serve"; cat "$T/kwalletd5.log" >&2; exit 1; }

log "== identity (the Secret Service API has no name/version property)"
PID=$(busctl --user call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    GetConnectionUnixProcessID s org.freedesktop.secrets | awk '{print $2}')
log "org.freedesktop.secrets owner pid=$PID exe=$(readlink "/proc/$PID/exe")"
log "same connection also owns: $(busctl --user list --no-legend | awk -v p="$PID" '$2 == p && $1 !~ /^:/ {print $1}' | tr '\n' ' ')"
log "org.kde.kwalletd5 /MainApplication applicationName=$(busctl --user get-property org.kde.kwalletd5 /MainApplication org.qtproject.Qt.QCoreApplication applicationName) applicationVersion=$(busctl --user get-property org.kde.kwalletd5 /MainApplication org.qtproject.Qt.QCoreApplication applicationVersion)"
log "default alias -> $(busctl --user call org.freedesktop.secrets /org/freedesktop/secrets org.freedesktop.Secret.Service ReadAlias s default)"

# ---------------------------------------------------------- native API too
# With the wallet open and "Prompt on Open" false, KWallet's own API works
# headless too: org.kde.KWallet.open() returns a handle with no dialog.
# Caveats: a wallet created by pamOpen has no folders (only a dialog-created
# one gets "Passwords" and "Form Data"), and `kwallet-query -w` only
# overwrites an entry that already exists (for a new one it writes nothing
# and still exits 0) -- so create folder and entry over D-Bus first.
kq() {
    local h
    h=$("${KW[@]}" open sxs "$WALLET" 0 research14 | awk '{print $2}') && [ "$h" -gt 0 ] &&
        "${KW[@]}" createFolder iss "$h" Passwords research14 >/dev/null &&
        "${KW[@]}" writePassword issss "$h" Passwords native placeholder research14 >/dev/null &&
        printf '%s\n' "native-$CANARY" | kwallet-query -w native "$WALLET" >/dev/null 2>&1 &&
        [ "$(kwallet-query -r native "$WALLET" 2>/dev/null)" = "native-$CANARY" ]
}
if step "KWallet API: open, createFolder, writePassword, kwallet-query -w/-r" kq; then ok "KWallet native API + kwallet-query"; else bad "KWallet native API + kwallet-query"; fi

# --------------------------------------------------------------- secret-tool
dbus-monitor "type=method_call,interface=org.freedesktop.Secret.Service,member=OpenSession" \
    "type=signal,sender=org.freedesktop.secrets" >"$T/monitor.log" 2>&1 &
MON_PID=$!
sleep 0.3
st_store() { printf '%s' "$CANARY" | timeout 20 secret-tool store --label="r14 canary" service research14 account canary; }
st_search() { timeout 20 secret-tool search --all service research14 account canary >"$T/search.txt" 2>&1; }
st_lookup() {
    local v
    v=$(timeout 20 secret-tool lookup service research14 account canary 2>"$T/lookup.err")
    [ "$v" = "$CANARY" ] || { log "lookup got '$v' (stderr: $(cat "$T/lookup.err"))"; return 1; }
}
if step "secret-tool store" st_store; then ok "secret-tool store"; else bad "secret-tool store"; fi
if step "secret-tool search" st_search && grep -q "secret = $CANARY" "$T/search.txt"; then ok "secret-tool search"; else bad "secret-tool search"; fi
sed 's/^/    /' "$T/search.txt" >&2
if step "secret-tool lookup" st_lookup; then ok "secret-tool lookup returns the canary"; else bad "secret-tool lookup"; fi
sleep 0.5
kill "$MON_PID" 2>/dev/null
wait "$MON_PID" 2>/dev/null
MON_PID=""
log "session algorithms libsecret asked for: $(grep -A1 'member=OpenSession' "$T/monitor.log" | grep -o 'string "[^"]*"' | sort | uniq -c | tr -s ' \n' ' ')"
log "signals seen during store/search/lookup: $(grep -o 'member=[A-Za-z]*' "$T/monitor.log" | grep -v OpenSession | sort | uniq -c | tr -s ' \n' ' ')"
log "files: $(cd "$XDG_DATA_HOME/kwalletd" && ls)"
log "NOTE: item attributes are stored unencrypted: $(grep -c research14 "$XDG_DATA_HOME/kwalletd/${WALLET}_attributes.json") line(s) with 'research14' in ${WALLET}_attributes.json"

# ----------------------------------------------------------- persistence
restart() { stop_app && start_app && pam_open && "$PY" "$HERE/sscheck.py" --unlock-only >/dev/null; }
step "restart kwalletd5 (closeAllWallets+quit, start, pamOpen, Unlock)" restart || bad "restart"
if step "secret-tool lookup after restart" st_lookup; then ok "canary persisted in $WALLET.kwl"; else bad "lookup after restart"; fi

# ----------------------------------------------------------- python-dbus
# Out-of-band unlock after a Service.Lock (which closes the wallet in
# kwalletd): pamOpen first, then Service.Unlock's Prompt completes with no UI.
# With the wallet closed the Unlock prompt instead opens kwalletd's password
# dialog: never answered headless, and while it is up kwalletd refuses pamOpen
# (it is "processing" a transaction) -- the --headless-prompt-test part shows it.
step "sscheck.py (sessions, DH, signals, lock/unlock/prompt)" \
    "$PY" "$HERE/sscheck.py" --attr service research14 --attr account canary --canary "$CANARY" \
    --pre-unlock-cmd "$PAM_OPEN" --headless-prompt-test --prompt-timeout 5 2>&1 | tee "$T/sscheck.txt" >&2
if grep -q '^SSCHECK OK' "$T/sscheck.txt"; then ok "python3-dbus checks (DH session, create/read)"; else bad "python3-dbus checks"; fi

log "== timings"
cat "$TIMES" >&2
log "== result: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
