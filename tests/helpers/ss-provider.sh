# shellcheck shell=bash
# Start, stop and restart the Secret Service provider under test on the
# private session bus of tests/helpers/with-keyring.sh (sourced by it and
# by tests/integration/keyring/lib.sh).  The provider is chosen by
#   SMTPCRED_TEST_SS = gnome-keyring (default) | keepassxc | kwallet
# The recipes and the findings behind every setting are in
# tests/helpers/secret-service/README.md; the reasons are repeated here.
#
# Needs: WK_DIR, HOME and XDG_* (private), KEYRING_PASSWORD,
# DBUS_SESSION_BUS_ADDRESS.  Functions:
#   ss_prepare   once per tree: config files, the database / wallet
#   ss_start     start the daemon and unlock its default collection with
#                no prompt; the daemon's PID goes to $WK_DIR/keyring.pid
#   ss_stop      stop it so that it saves what it holds (KWallet loses
#                the last 5 s of changes on a hard kill)
#   ss_pid       the PID that owns org.freedesktop.secrets (empty: none)
#   ss_settle    wait until the daemon has written what it acknowledged
#                (before a test kills it: see the providers' notes)
# and sets WK_VAULT_GLOB: the provider's encrypted store files (the canary
# check looks for the canary in them as plain text, separately).

SMTPCRED_TEST_SS=${SMTPCRED_TEST_SS:-gnome-keyring}

ss_log() { printf 'ss-provider: %s\n' "$*" >&2; }

ss_pid() {
	dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
		org.freedesktop.DBus.GetConnectionUnixProcessID \
		string:org.freedesktop.secrets 2>/dev/null | awk '/uint32/ {print $2}'
}

# Wait until the default collection reports Locked=false (readiness: both
# KeePassXC and kwalletd5 own the name before their collection is usable).
ss_wait_unlocked() { # TRIES(x50 ms)
	local _ r
	for _ in $(seq "$1"); do
		r=$(busctl --user get-property org.freedesktop.secrets \
			/org/freedesktop/secrets/aliases/default \
			org.freedesktop.Secret.Collection Locked 2>/dev/null)
		[ "$r" = "b false" ] && return 0
		sleep 0.05
	done
	return 1
}

# ---- gnome-keyring ----------------------------------------------------------
# `gnome-keyring-daemon --unlock` reads the password on stdin, creates the
# `login` keyring if missing, unlocks it and sets the `default` alias;
# --replace takes over from a daemon the bus may have activated (locked)
# after a test killed the first one.
gk_prepare() { :; }
gk_start() {
	printf '%s' "$KEYRING_PASSWORD" |
		gnome-keyring-daemon --replace --unlock --components=secrets \
			>/dev/null 2>>"$WK_DIR/keyring.log"
}
gk_stop() { kill "$(ss_pid)" 2>/dev/null; }
# gnome-keyring writes the keyring file before it answers a change.
gk_settle() { :; }

# ---- KeePassXC 2.7 ----------------------------------------------------------
# The database: keepassxc-cli db-create (password twice on stdin, -t 100:
# a 100 ms KDF instead of 1 s: each open pays it).  A database is served
# on the Secret Service only if its Meta/CustomData item
# FDO_SECRETS_EXPOSED_GROUP names a group (set in the GUI's database
# settings; there is no default and keepassxc-cli cannot set it): export
# to XML, add the item for the root group, import into the test database.
# Without it there is no collection and a store waits on KeePassXC's
# invisible "new database" wizard.
KPXC_DB_DIR=$WK_DIR/kpxc
kpxc_prepare() {
	local cli=$KPXC_DB_DIR/cli.log
	mkdir -p "$KPXC_DB_DIR" "$XDG_CONFIG_HOME/keepassxc"
	WK_KPXC_DB=$KPXC_DB_DIR/smtpcred.kdbx
	export WK_KPXC_DB
	printf '%s\n%s\n' "$KEYRING_PASSWORD" "$KEYRING_PASSWORD" |
		keepassxc-cli db-create -q -p -t 100 "$KPXC_DB_DIR/seed.kdbx" 2>>"$cli" || return 1
	printf '%s\n' "$KEYRING_PASSWORD" |
		keepassxc-cli export -q -f xml "$KPXC_DB_DIR/seed.kdbx" >"$KPXC_DB_DIR/seed.xml" 2>>"$cli" || return 1
	/usr/bin/python3 - "$KPXC_DB_DIR/seed.xml" "$KPXC_DB_DIR/exposed.xml" <<'EOF' || return 1
import base64, re, sys, uuid
x = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"<Root>\s*<Group>\s*<UUID>([^<]+)</UUID>", x)
root = uuid.UUID(bytes=base64.b64decode(m.group(1)))
item = ("<CustomData><Item><Key>FDO_SECRETS_EXPOSED_GROUP</Key>"
        "<Value>{%s}</Value></Item></CustomData>" % root)
# the collection's Label (its D-Bus path comes from the file name)
x = x.replace("<DatabaseName/>", "<DatabaseName>smtpcred-test</DatabaseName>", 1)
# No recycle bin: a deleted item would stay in the file, secret included,
# inside the exposed group, where KeePassXC 2.7.4's SearchItems can then
# meet an entry it has no item object for
x = x.replace("<RecycleBinEnabled>True</RecycleBinEnabled>",
              "<RecycleBinEnabled>False</RecycleBinEnabled>", 1)
x = x.replace("</Meta>", item + "</Meta>", 1)
open(sys.argv[2], "w", encoding="utf-8").write(x)
EOF
	printf '%s\n%s\n' "$KEYRING_PASSWORD" "$KEYRING_PASSWORD" |
		keepassxc-cli import -q -p -t 100 "$KPXC_DB_DIR/exposed.xml" "$WK_KPXC_DB" 2>>"$cli" || return 1
	rm -f "$KPXC_DB_DIR/seed.xml" "$KPXC_DB_DIR/exposed.xml" "$KPXC_DB_DIR/seed.kdbx"
	kpxc_write_ini
}
# Also used by tests/helpers/secret-service/keepassxc-secret-service.sh.
kpxc_write_ini() {
	mkdir -p "$XDG_CONFIG_HOME/keepassxc"
	# keepassxc.ini (XDG_CONFIG_HOME):
	# [General] SingleInstance=false: a second keepassxc would hand its
	#   arguments to a running one (socket in XDG_RUNTIME_DIR) and exit.
	#   Remember*/OpenPrevious*=false: open only the file we name.
	#   AutoSaveAfterEveryChange=false: 2.7.4 saves in a background
	#     thread after every change and crashes (SIGSEGV in the pooled
	#     thread, QUuid::toRfc4122) when the next change arrives during
	#     that save, which a rotation's several changes in a row do; with
	#     it off no run crashed.  AutoSaveOnExit=true: appExit, and
	#     locking the database (kpxc_settle), save without asking
	#     (docs/threat-model.md T1c).
	# [GUI] CheckForUpdates=false: no network, no first-start question.
	# [Security] LockDatabaseIdle/ScreenLock=false: nothing relocks the
	#   database behind the test's back.
	# [FdoSecrets] Enabled=true: serve org.freedesktop.secrets (default off).
	#   ShowNotification=false: no desktop notification per secret read.
	#   ConfirmAccessItem=false: else every first GetSecret of a client
	#     opens an access dialog (invisible offscreen: the read hangs).
	#   ConfirmDeleteItem=false: else Item.Delete's prompt asks a human.
	#   UnlockBeforeSearch=false: else SearchItems on a locked database
	#     opens the unlock dialog and the call times out after 25 s.
	cat >"$XDG_CONFIG_HOME/keepassxc/keepassxc.ini" <<'EOF'
[General]
ConfigVersion=2
SingleInstance=false
RememberLastDatabases=false
RememberLastKeyFiles=false
OpenPreviousDatabasesOnStartup=false
AutoSaveAfterEveryChange=false
AutoSaveOnExit=true

[GUI]
CheckForUpdates=false
ShowTrayIcon=false

[Security]
LockDatabaseIdle=false
LockDatabaseScreenLock=false

[FdoSecrets]
Enabled=true
ShowNotification=false
ConfirmAccessItem=false
ConfirmDeleteItem=false
UnlockBeforeSearch=false
EOF
}
# `keepassxc --pw-stdin FILE` opens and unlocks FILE with no dialog (Qt's
# offscreen platform: no display, nothing shown).  It owns the bus name
# ~0.1 s after start but its collection stays Locked for ~0.3 s more; a
# client arriving then would get an Unlock prompt that never completes:
# ready = the default alias reads Locked=false.
kpxc_start() {
	printf '%s\n' "$KEYRING_PASSWORD" |
		QT_QPA_PLATFORM=offscreen keepassxc --pw-stdin "$WK_KPXC_DB" \
			>>"$WK_DIR/keyring.log" 2>&1 &
	ss_wait_unlocked 300
}
# appExit (File > Quit) saves; KeePassXC catches SIGTERM and may ignore it
# while an (invisible) dialog is open, so SIGKILL is the last resort.
kpxc_stop() {
	local pid _
	pid=$(ss_pid)
	[ -n "$pid" ] || return 0
	timeout 5 busctl --user call org.keepassxc.KeePassXC.MainWindow /keepassxc \
		org.keepassxc.KeePassXC.MainWindow appExit >/dev/null 2>&1
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
}

# With auto-save off (kpxc_write_ini) KeePassXC writes the .kdbx only on
# appExit or when the database is locked.  Settled = locked through its
# own lockAllDatabases (which saves, no dialog with AutoSaveOnExit) and
# unlocked again without a prompt (keyring-ctl.py).
kpxc_settle() {
	timeout 10 busctl --user call org.keepassxc.KeePassXC.MainWindow /keepassxc \
		org.keepassxc.KeePassXC.MainWindow lockAllDatabases >/dev/null 2>&1
	$KEYRING_CTL unlock
}

# ---- KWallet 5 (kwalletd5) --------------------------------------------------
# kwalletrc (XDG_CONFIG_HOME), [Wallet]:
#   Enabled=true              else kwalletd5 exits.
#   First Use=false           no first-use handling (it rewrites the file).
#   Default Wallet=kdewallet  what the `default` alias resolves to.
#   Local Wallet, Use One Wallet: one wallet for everything.
#   Prompt on Open=false      else each new application id that opens the
#                             open wallet gets an "allow access?" dialog.
#   Leave Open=true, Close When Idle=false, Close on Screensaver=false:
#                             nothing closes (= locks) it behind our back.
#   Launch Manager=false      no kwalletmanager5.
# [org.freedesktop.secrets] apiEnabled=true: serve the Secret Service
#   (5.103 defaults to true; explicit so the test does not depend on it).
KW_WALLET=kdewallet
# Also used by tests/helpers/secret-service/kwallet-secret-service.sh.
kw_write_rc() {
	cat >"$XDG_CONFIG_HOME/kwalletrc" <<EOF
[Wallet]
Enabled=true
First Use=false
Default Wallet=$KW_WALLET
Local Wallet=$KW_WALLET
Use One Wallet=true
Prompt on Open=false
Leave Open=true
Close When Idle=false
Close on Screensaver=false
Launch Manager=false

[org.freedesktop.secrets]
apiEnabled=true
EOF
}
kw_prepare() {
	mkdir -p "$XDG_DATA_HOME/kwalletd"
	kw_write_rc
	# The Secret Service side of kwalletd5 lists its collections once, at
	# start, from the *.kwl files; a wallet created later (pamOpen emits
	# no walletCreated) has no collection, and CreateCollection opens a
	# "new wallet password" dialog.  So a first daemon creates the wallet
	# (pamOpen creates a missing one) and closes it; ss_start's daemon
	# serves it.
	kw_daemon || return 1
	$KEYRING_CTL open || return 1
	kw_stop
	[ -s "$XDG_DATA_HOME/kwalletd/$KW_WALLET.kwl" ]
}
kw_daemon() {
	local _
	QT_QPA_PLATFORM=offscreen kwalletd5 </dev/null >>"$WK_DIR/keyring.log" 2>&1 &
	for _ in $(seq 200); do
		busctl --user status org.freedesktop.secrets >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
# After pamOpen (keyring-ctl.py open) the wallet is open in kwalletd but
# its collection still says Locked: the Secret Service side learns a
# wallet handle only through its own Unlock prompt, which then completes
# with no UI (keyring-ctl.py unlock does both).
kw_start() {
	kw_daemon && $KEYRING_CTL unlock && ss_wait_unlocked 100
}
# kwalletd5 writes a wallet 5 s after a change or when it is closed (a
# SIGKILL in between loses the secrets written since, and keeps their
# attributes); org.kde.KWallet.sync writes it now.  It needs a handle:
# open() gives one with no dialog, the wallet being open and "Prompt on
# Open" false.
kw_settle() {
	local h
	h=$(timeout 5 busctl --user call org.kde.kwalletd5 /modules/kwalletd5 \
		org.kde.KWallet open sxs "$KW_WALLET" 0 smtpcred-test 2>/dev/null | awk '{print $2}')
	[ -n "$h" ] && [ "$h" -ge 0 ] || return 0
	timeout 5 busctl --user call org.kde.kwalletd5 /modules/kwalletd5 \
		org.kde.KWallet sync is "$h" smtpcred-test >/dev/null 2>&1
}
# kwalletd5 writes a wallet 5 s after a change or when it is closed; a
# SIGTERM in between loses the secret (its attributes, kept apart in
# <wallet>_attributes.json, survive).  closeAllWallets, then quit.
kw_stop() {
	local pid _
	pid=$(ss_pid)
	[ -n "$pid" ] || return 0
	timeout 5 busctl --user call org.kde.kwalletd5 /modules/kwalletd5 \
		org.kde.KWallet closeAllWallets >/dev/null 2>&1
	timeout 5 busctl --user call org.kde.kwalletd5 /MainApplication \
		org.qtproject.Qt.QCoreApplication quit >/dev/null 2>&1
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
}

# ---- dispatch -------------------------------------------------------------
case $SMTPCRED_TEST_SS in
gnome-keyring)
	WK_VAULT_GLOB="$XDG_DATA_HOME/keyrings/*.keyring"
	ss_prefix=gk ;;
keepassxc)
	WK_VAULT_GLOB="$KPXC_DB_DIR/*.kdbx"
	WK_KPXC_DB=$KPXC_DB_DIR/smtpcred.kdbx
	export WK_KPXC_DB
	ss_prefix=kpxc ;;
kwallet)
	WK_VAULT_GLOB="$XDG_DATA_HOME/kwalletd/*.kwl"
	ss_prefix=kw ;;
*)
	ss_log "unknown SMTPCRED_TEST_SS=$SMTPCRED_TEST_SS"
	return 1 ;;
esac
export WK_VAULT_GLOB SMTPCRED_TEST_SS

ss_prepare() { "${ss_prefix}_prepare"; }
ss_stop() { "${ss_prefix}_stop"; }
ss_settle() { "${ss_prefix}_settle"; }
ss_start() {
	local _ pid=
	"${ss_prefix}_start" || return 1
	for _ in $(seq 100); do
		pid=$(ss_pid)
		[ -n "$pid" ] && break
		sleep 0.05
	done
	echo "$pid" >"$WK_DIR/keyring.pid"
	[ -n "$pid" ]
}
