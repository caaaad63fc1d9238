/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Secret Service access with deadlines, and the account operations that
 * are not rotation: connect, list, get, add, remove.
 *
 * Every D-Bus round trip runs as an async call on the store's own main
 * context, iterated until the reply arrives or the deadline cancels it, so
 * no call can hang (libsecret's sync prompts have no timeout).  Searches
 * never pass SECRET_SEARCH_UNLOCK, so nothing prompts unless the caller
 * opened the store with SMTPCRED_STORE_ALLOW_PROMPT.
 *
 * "Locked" is never reported as "not found", and every write first checks
 * that the default collection is unlocked.  gnome-keyring and KWallet
 * list the items of a locked collection (as locked), but KeePassXC knows
 * no item of a locked database: its search answers nothing at all.  So
 * an empty search is absence only when the default collection says it is
 * unlocked (kr_load).
 */
#include "config.h"

#include <errno.h>

#include "audit.h"
#include "internal.h"

/*
 * Waiting for one async call.  The completion slot is on the heap and
 * shared by the caller and the callback, so the caller can stop waiting
 * before the operation completes: libsecret answers a cancelled prompt
 * only after the service acknowledged Dismiss, so a service that hangs in
 * the middle of a prompt would hold us for D-Bus's own 25 s.  An
 * abandoned operation completes later on the store's context (or never,
 * once the store is gone: its task is then leaked, a few hundred bytes).
 */
typedef struct {
	GAsyncResult *res;
} KrDone;

/* Cancelled operations normally complete at once; this long for the
 * ones that need a round trip first (libsecret's Dismiss). */
#define KR_GRACE_MS 250

static void
kr_done_clear(gpointer p)
{
	KrDone *done = p;

	g_clear_object(&done->res);
}

static KrDone *
kr_done_new(void)
{
	KrDone *done = g_atomic_rc_box_new0(KrDone);

	/* One reference for the waiter, one for the callback. */
	return g_atomic_rc_box_acquire(done);
}

static void
kr_done_unref(KrDone *done)
{
	g_atomic_rc_box_release_full(done, kr_done_clear);
}

static void
kr_on_done(GObject *src, GAsyncResult *res, gpointer data)
{
	KrDone *done = data;

	(void)src;
	done->res = g_object_ref(res);
	kr_done_unref(done);
}

static gboolean
kr_on_deadline(gpointer data)
{
	g_cancellable_cancel(G_CANCELLABLE(data));
	return G_SOURCE_REMOVE;
}

static gboolean
on_grace_over(gpointer data)
{
	*(gboolean *)data = TRUE;
	return G_SOURCE_REMOVE;
}

static GSource *
timer_at(SmtpcredStore *store, gint64 when, GSourceFunc fn, gpointer data)
{
	gint64 left = MAX(when - g_get_monotonic_time(), 0);
	guint ms = (guint)MIN(left / 1000 + 1, G_MAXUINT);
	GSource *t = g_timeout_source_new(ms);

	g_source_set_callback(t, fn, data, NULL);
	g_source_attach(t, store->ctx);
	return t;
}

static void
timer_drop(GSource *t)
{
	g_source_destroy(t);
	g_source_unref(t);
}

/* Iterate the store's context until DONE has the result; cancel at the
 * deadline (the operation then completes with G_IO_ERROR_CANCELLED) and
 * stop waiting KR_GRACE_MS later.  Returns the result (NULL: abandoned,
 * a time-out) and drops the waiter's reference to DONE. */
static GAsyncResult *
wait_for(SmtpcredStore *store, GCancellable *cancel, gint64 deadline,
	 KrDone *done)
{
	gboolean late = FALSE;
	GSource *t = timer_at(store, deadline, kr_on_deadline, cancel);
	GSource *g = timer_at(store, deadline + KR_GRACE_MS * 1000,
			      on_grace_over, &late);
	GAsyncResult *res;

	while (done->res == NULL && !late)
		g_main_context_iteration(store->ctx, TRUE);
	timer_drop(t);
	timer_drop(g);
	res = g_steal_pointer(&done->res);
	kr_done_unref(done);
	return res;
}

/* Run CALL, which passes kr_on_done and KR_DONE as its callback, on the
 * store's context; RES gets the result, or NULL when the operation was
 * abandoned at the deadline (kr_late()). */
/* clang-format off */
#define KR_ASYNC(store, cancel, deadline, res, call)			\
	do {								\
		KrDone *KR_DONE = kr_done_new();			\
		g_main_context_push_thread_default((store)->ctx);	\
		call;							\
		(res) = wait_for((store), (cancel), (deadline), KR_DONE); \
		g_main_context_pop_thread_default((store)->ctx);	\
	} while (0)
/* clang-format on */

/* RES NULL: the operation was abandoned at the deadline, and *LOCAL says
 * so as if it had completed cancelled. */
static gboolean
kr_late(GAsyncResult *res, GError **local)
{
	if (res != NULL)
		return FALSE;
	g_set_error_literal(local, G_IO_ERROR, G_IO_ERROR_CANCELLED,
			    "abandoned at the deadline");
	return TRUE;
}

gint64
kr_deadline(const SmtpcredStore *store)
{
	return g_get_monotonic_time() + (gint64)store->timeout_ms * 1000;
}

#define SERVICE_NAME "org.freedesktop.secrets"
#define OWNER_KEY "smtpcred-service-owner" /* on the bus: its unique name */

/* The one place where GDBus/libsecret errors become SMTPCRED_ERRORs. */
static void
map_error(const SmtpcredStore *store, GError *local, const char *what,
	  GError **error)
{
	int code = SMTPCRED_ERROR_FAILED;
	const char *msg = local != NULL ? local->message : "unknown error";

	if (local == NULL) {
		code = SMTPCRED_ERROR_FAILED;
	} else if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
		   g_error_matches(local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
		   g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
		   g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT) ||
		   g_error_matches(local, G_DBUS_ERROR,
				   G_DBUS_ERROR_TIMED_OUT)) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_TIMEOUT,
			    "the Secret Service did not answer within %u ms "
			    "(%s)",
			    store->timeout_ms, what);
		return;
	} else if (local->domain == G_DBUS_ERROR &&
		   (local->code == G_DBUS_ERROR_SERVICE_UNKNOWN ||
		    local->code == G_DBUS_ERROR_NAME_HAS_NO_OWNER ||
		    local->code == G_DBUS_ERROR_SPAWN_CHILD_EXITED ||
		    local->code == G_DBUS_ERROR_SPAWN_EXEC_FAILED ||
		    local->code == G_DBUS_ERROR_SPAWN_FAILED ||
		    local->code == G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND)) {
		code = SMTPCRED_ERROR_NO_SERVICE;
		/* The daemon we talked to is gone: ask again next time. */
		if (store->bus != NULL)
			g_object_set_data(G_OBJECT(store->bus), OWNER_KEY,
					  NULL);
		g_set_error(error, SMTPCRED_ERROR, code,
			    "no Secret Service on the session bus (%s): %s",
			    what, msg);
		return;
	} else if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CLOSED) ||
		   g_error_matches(local, G_DBUS_ERROR,
				   G_DBUS_ERROR_DISCONNECTED)) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NO_BUS,
			    "the session bus connection is closed (%s): %s",
			    what, msg);
		return;
	} else if (g_error_matches(local, SECRET_ERROR,
				   SECRET_ERROR_IS_LOCKED)) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_LOCKED,
			    "the keyring collection is locked (%s)", what);
		return;
	} else if (g_error_matches(local, SECRET_ERROR,
				   SECRET_ERROR_NO_SUCH_OBJECT) ||
		   g_error_matches(local, G_DBUS_ERROR,
				   G_DBUS_ERROR_UNKNOWN_OBJECT) ||
		   /* gnome-keyring's answer for a path it does not have,
		    * and libsecret's for an item proxy without properties */
		   (g_error_matches(local, G_DBUS_ERROR,
				    G_DBUS_ERROR_UNKNOWN_METHOD) &&
		    (strstr(msg, "does not exist") != NULL ||
		     strstr(msg, "No such secret item") != NULL))) {
		/* Read a moment ago, gone now: the daemon restarted (a fresh
		 * one knows no item of a locked collection) or another
		 * process changed the account.  Reading again settles it. */
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_CONFLICT,
			    "the keyring changed while we read it (%s; its "
			    "daemon restarted, or another process changed "
			    "the account); try again: %s",
			    what, msg);
		return;
	}
	g_set_error(error, SMTPCRED_ERROR, code, "Secret Service %s failed: %s",
		    what, msg);
}

/* One method call with the store's deadline; errors mapped. */
static GVariant *
call(SmtpcredStore *store, GDBusConnection *bus, const char *dest,
     const char *path, const char *iface, const char *method, GVariant *args,
     const char *reply_type, gint64 deadline, const char *what,
     GError **error)
{
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;
	GVariant *reply = NULL;

	KR_ASYNC(store, cancel, deadline, res,
		 g_dbus_connection_call(bus, dest, path, iface, method, args,
					G_VARIANT_TYPE(reply_type),
					G_DBUS_CALL_FLAGS_NONE, -1, cancel,
					kr_on_done, KR_DONE));
	if (!kr_late(res, &local))
		reply = g_dbus_connection_call_finish(bus, res, &local);
	if (reply == NULL)
		map_error(store, local, what, error);
	return reply;
}

/* One call on the bus daemon: (b) or (as) reply, NULL on error. */
static GVariant *
bus_call(SmtpcredStore *store, GDBusConnection *bus, const char *method,
	 GVariant *args, const char *reply_type, gint64 deadline,
	 GError **error)
{
	return call(store, bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
		    "org.freedesktop.DBus", method, args, reply_type, deadline,
		    method, error);
}

/* The unique bus name of the Secret Service, started if it is only
 * activatable.  Our own calls go to that name, as libsecret's proxy does:
 * if the daemon dies, they fail (NO_SERVICE, retry later) instead of
 * starting a fresh daemon that knows nothing of this process's session
 * or may not have the keyring unlocked.  Asked once per bus connection;
 * a NO_SERVICE failure forgets it (map_error). */
static char *
service_owner(SmtpcredStore *store, GDBusConnection *bus, gint64 deadline,
	      GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GVariant) owner = NULL;
	g_autoptr(GVariant) names = NULL;
	g_autoptr(GVariant) started = NULL;
	g_autofree const char **list = NULL;
	const char *unique = NULL;

	owner = bus_call(store, bus, "GetNameOwner",
			 g_variant_new("(s)", SERVICE_NAME), "(s)", deadline,
			 &local);
	if (owner == NULL) {
		if (!g_error_matches(local, SMTPCRED_ERROR,
				     SMTPCRED_ERROR_NO_SERVICE)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return NULL;
		}
		g_clear_error(&local);
		names = bus_call(store, bus, "ListActivatableNames", NULL,
				 "(as)", deadline, error);
		if (names == NULL)
			return NULL;
		g_variant_get(names, "(^a&s)", &list);
		if (list == NULL || !g_strv_contains(list, SERVICE_NAME)) {
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_NO_SERVICE,
				    "no Secret Service on the session bus: "
				    "nothing owns or can start %s (is "
				    "gnome-keyring, KWallet or KeePassXC "
				    "running?)",
				    SERVICE_NAME);
			return NULL;
		}
		started = bus_call(store, bus, "StartServiceByName",
				   g_variant_new("(su)", SERVICE_NAME, 0u),
				   "(u)", deadline, error);
		if (started == NULL)
			return NULL;
		owner = bus_call(store, bus, "GetNameOwner",
				 g_variant_new("(s)", SERVICE_NAME), "(s)",
				 deadline, error);
		if (owner == NULL)
			return NULL;
	}
	g_variant_get(owner, "(&s)", &unique);
	return g_strdup(unique);
}

#define IMPL_KEY "smtpcred-service-impl" /* on the bus: program name */
#define EXE_KEY "smtpcred-service-exe"	 /* on the bus: its executable */

/* Which program serves the Secret Service: the executable of the process
 * that owns UNIQUE ("/usr/bin/gnome-keyring-daemon", ...), or NULL.  The
 * specification has no property for it; the bus daemon knows the
 * owner's PID. */
static char *
service_exe(SmtpcredStore *store, GDBusConnection *bus, const char *unique,
	    gint64 deadline)
{
	g_autoptr(GVariant) reply = NULL;
	g_autofree char *link = NULL;
	char *exe, *deleted;
	guint32 pid = 0;

	reply = bus_call(store, bus, "GetConnectionUnixProcessID",
			 g_variant_new("(s)", unique), "(u)", deadline, NULL);
	if (reply == NULL)
		return NULL;
	g_variant_get(reply, "(u)", &pid);
	link = g_strdup_printf("/proc/%u/exe", pid);
	exe = g_file_read_link(link, NULL);
	/* an executable replaced by an upgrade reads "... (deleted)" */
	deleted = exe != NULL ? g_strrstr(exe, " (deleted)") : NULL;
	if (deleted != NULL)
		*deleted = '\0';
	return exe;
}

/* Does this implementation announce every change it makes, before it
 * answers the call that made it?  gnome-keyring does.  KeePassXC 2.7 and
 * KWallet 5 send no signal at all when an item's attributes are set
 * (measured: tests/helpers/secret-service/README.md), so a count of
 * signals that has not moved proves nothing there; nor with a program we
 * do not know. */
static gboolean
impl_announces_changes(const char *impl)
{
	return g_strcmp0(impl, "gnome-keyring-daemon") == 0;
}

/* ---- watching the keyring for changes ---------------------------------
 *
 * The Secret Service announces every change it makes (Collection
 * ItemCreated/ItemChanged/ItemDeleted, PropertiesChanged, and so on).  A
 * filter on our bus connection counts every signal that reaches us; once
 * a match rule for the service's signals is in place, a count that has
 * not moved since a read started means the keyring sent no change since,
 * and what was read then still holds (lease.c uses that to read only the
 * secret).  Filters run in GDBus's worker thread in the order messages
 * arrive, so a signal sent before the answer to a call has been counted
 * by the time the answer is handed over.  Counting every signal, whoever
 * sent it, errs on the side of reading again.
 */
#define WATCH_KEY "smtpcred-watching" /* on the bus: the match rule holds */
#define FILTER_KEY "smtpcred-counting" /* on the bus: count_signals added */

static gint change_count;

guint
kr_changes(void)
{
	return (guint)g_atomic_int_get(&change_count);
}

gboolean
kr_store_watched(const SmtpcredStore *store)
{
	return store->bus != NULL &&
	       g_object_get_data(G_OBJECT(store->bus), WATCH_KEY) != NULL;
}

static GDBusMessage *
count_signals(GDBusConnection *bus, GDBusMessage *msg, gboolean incoming,
	      gpointer data)
{
	(void)bus;
	(void)data;
	if (incoming &&
	    g_dbus_message_get_message_type(msg) ==
		G_DBUS_MESSAGE_TYPE_SIGNAL &&
	    /* the bus daemon's greeting to us says nothing of the keyring */
	    !(g_strcmp0(g_dbus_message_get_sender(msg),
			"org.freedesktop.DBus") == 0 &&
	      (g_strcmp0(g_dbus_message_get_member(msg), "NameAcquired") ==
		   0 ||
	       g_strcmp0(g_dbus_message_get_member(msg), "NameLost") == 0)))
		g_atomic_int_inc(&change_count);
	return msg;
}

/* Ask the bus for the Secret Service's signals (by its well-known name,
 * so a restarted daemon's are included) and count them.  Sent before
 * anything else this store asks; the slot returned is for watch_finish().
 * Once per bus connection. */
static KrDone *
watch_start(SmtpcredStore *store, GDBusConnection *bus, GCancellable *cancel)
{
	KrDone *done = kr_done_new();

	if (g_object_get_data(G_OBJECT(bus), FILTER_KEY) == NULL) {
		g_dbus_connection_add_filter(bus, count_signals, NULL, NULL);
		g_object_set_data(G_OBJECT(bus), FILTER_KEY,
				  GINT_TO_POINTER(1));
	}
	g_main_context_push_thread_default(store->ctx);
	g_dbus_connection_call(
	    bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
	    "org.freedesktop.DBus", "AddMatch",
	    g_variant_new("(s)", "type='signal',sender='" SERVICE_NAME "'"),
	    NULL, G_DBUS_CALL_FLAGS_NONE, -1, cancel, kr_on_done, done);
	g_main_context_pop_thread_default(store->ctx);
	return done;
}

/* AddMatch's answer: on success the count can be trusted on this bus.
 * A failure only costs speed (every lease reads the items again). */
static void
watch_finish(SmtpcredStore *store, GDBusConnection *bus, GCancellable *cancel,
	     gint64 deadline, KrDone *done)
{
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GVariant) reply = NULL;

	if (done == NULL)
		return;
	g_main_context_push_thread_default(store->ctx);
	res = wait_for(store, cancel, deadline, done);
	g_main_context_pop_thread_default(store->ctx);
	if (res != NULL)
		reply = g_dbus_connection_call_finish(bus, res, NULL);
	if (reply != NULL)
		g_object_set_data(G_OBJECT(bus), WATCH_KEY, GINT_TO_POINTER(1));
}

/* GIO's session bus singleton lives only while someone holds it: without
 * this reference every store would connect afresh (a new unique name,
 * Hello and authentication) and lose what was learnt about the bus. */
static GMutex kept_lock;
static GDBusConnection *kept_bus;

static void
keep_bus(GDBusConnection *bus)
{
	g_mutex_lock(&kept_lock);
	if (kept_bus != bus) {
		g_clear_object(&kept_bus);
		kept_bus = g_object_ref(bus);
	}
	g_mutex_unlock(&kept_lock);
}

__attribute__((destructor)) static void
kept_bus_at_exit(void)
{
	g_mutex_lock(&kept_lock);
	g_clear_object(&kept_bus);
	g_mutex_unlock(&kept_lock);
}

SmtpcredStore *
smtpcred_store_new(SmtpcredStoreFlags flags, guint timeout_ms, GError **error)
{
	return kr_store_open(flags, timeout_ms, TRUE, error);
}

SmtpcredStore *
kr_store_open(SmtpcredStoreFlags flags, guint timeout_ms, gboolean session,
	      GError **error)
{
	g_autoptr(SmtpcredStore) store = g_new0(SmtpcredStore, 1);
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;
	g_autoptr(GDBusConnection) bus = NULL;
	gint64 deadline;

	store->flags = flags;
	store->timeout_ms = timeout_ms != 0 ? timeout_ms
					    : SMTPCRED_DEFAULT_TIMEOUT_MS;
	store->ctx = g_main_context_new();
	deadline = kr_deadline(store);
	/* The system store: files, no bus (system.c). */
	if (kr_system_active()) {
		if (!kr_files_check(error))
			return NULL;
		store->files = TRUE;
		store->session = session;
		return g_steal_pointer(&store);
	}

	KR_ASYNC(store, cancel, deadline, res,
		 g_bus_get(G_BUS_TYPE_SESSION, cancel, kr_on_done, KR_DONE));
	if (!kr_late(res, &local))
		bus = g_bus_get_finish(res, &local);
	if (bus == NULL) {
		if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_TIMEOUT,
				    "the session bus did not answer within "
				    "%u ms",
				    store->timeout_ms);
		else
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_NO_BUS,
				    "no session bus: %s (is "
				    "DBUS_SESSION_BUS_ADDRESS set, or "
				    "$XDG_RUNTIME_DIR/bus there?)",
				    local->message);
		return NULL;
	}
	g_clear_object(&res);
	keep_bus(bus);
	/* Asked once per bus connection: later failures of real calls say
	 * "no Secret Service" themselves (map_error), and the round trip
	 * is a tenth of a lease's time. */
	store->dest = g_strdup(g_object_get_data(G_OBJECT(bus), OWNER_KEY));
	if (store->dest == NULL) {
		g_autoptr(GCancellable) wcancel = NULL;
		KrDone *wdone = NULL;
		g_autofree char *impl = NULL;
		g_autofree char *exe = NULL;

		if (g_object_get_data(G_OBJECT(bus), WATCH_KEY) == NULL) {
			wcancel = g_cancellable_new();
			wdone = watch_start(store, bus, wcancel);
		}
		store->dest = service_owner(store, bus, deadline, error);
		/* The bus answers in order: AddMatch's reply is here. */
		watch_finish(store, bus, wcancel, deadline, wdone);
		if (store->dest == NULL)
			return NULL;
		exe = service_exe(store, bus, store->dest, deadline);
		impl = exe != NULL ? g_path_get_basename(exe)
				   : g_strdup("unknown");
		/* Signals are counted all the same, but without the promise
		 * that every change is announced the count is not trusted:
		 * every lease reads the items again (lease.c). */
		if (!impl_announces_changes(impl))
			g_object_set_data(G_OBJECT(bus), WATCH_KEY, NULL);
		g_object_set_data_full(G_OBJECT(bus), IMPL_KEY,
				       g_steal_pointer(&impl), g_free);
		g_object_set_data_full(G_OBJECT(bus), EXE_KEY,
				       g_steal_pointer(&exe), g_free);
		g_object_set_data_full(G_OBJECT(bus), OWNER_KEY,
				       g_strdup(store->dest), g_free);
		/* Another daemon (or the first): nothing read before
		 * counts as unchanged. */
		g_atomic_int_inc(&change_count);
	}
	/* GDBus turns org.freedesktop.Secret.Error.IsLocked and friends
	 * into SECRET_ERRORs only once libsecret has registered them. */
	(void)SECRET_ERROR;
	store->bus = g_steal_pointer(&bus);
	store->session = session;
	return g_steal_pointer(&store);
}

/* libsecret's SecretService, made when first needed: only changes and
 * unlocking need it.  Searches and reads are plain D-Bus calls, so a
 * process that only looks accounts up never pays for the proxy's half
 * dozen set-up calls.  With SESSION it negotiates the encrypted transfer
 * session, so a secret never crosses D-Bus (and GDBus's buffers) in
 * clear; that costs a Diffie-Hellman exchange on both sides (about 7 ms
 * here, once per store that writes; senders read with session.c's).
 *
 * The store's own proxy, not libsecret's process-wide one
 * (secret_service_get): a proxy's signal subscriptions deliver into the
 * context it was made on, and the shared one would outlive this store's:
 * every signal the service sends afterwards (KeePassXC sends some for
 * every change of any item) would queue there for good.  Ours goes with
 * the store, and the host's shared proxy is never touched. */
static SecretService *
need_service(SmtpcredStore *store, gint64 deadline, GError **error)
{
	g_autoptr(GCancellable) cancel = NULL;
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;

	if (store->service != NULL)
		return store->service;
	/* Twice at most: libsecret sends its DH public key unpadded, and
	 * kwalletd refuses one that is not 128 bytes (InvalidArgs "Client
	 * public key size is invalid"), one exchange in 256; a fresh key
	 * is full size 255 times in 256. */
	for (int attempt = 0; attempt < 2 && store->service == NULL;
	     attempt++) {
		g_clear_error(&local);
		g_clear_object(&res);
		g_clear_object(&cancel);
		cancel = g_cancellable_new();
		KR_ASYNC(store, cancel, deadline, res,
			 secret_service_open(
			     SECRET_TYPE_SERVICE, NULL,
			     store->session ? SECRET_SERVICE_OPEN_SESSION
					    : SECRET_SERVICE_NONE,
			     cancel, kr_on_done, KR_DONE));
		if (!kr_late(res, &local))
			store->service = secret_service_open_finish(res, &local);
		if (!g_error_matches(local, G_DBUS_ERROR,
				     G_DBUS_ERROR_INVALID_ARGS))
			break;
	}
	if (store->service == NULL) {
		map_error(store, local, "connect", error);
		if (error != NULL && *error != NULL &&
		    (*error)->code == SMTPCRED_ERROR_FAILED)
			(*error)->code = SMTPCRED_ERROR_NO_SERVICE;
		return NULL;
	}
	return store->service;
}

void
smtpcred_store_free(SmtpcredStore *store)
{
	if (store == NULL)
		return;
	g_clear_object(&store->service);
	g_clear_object(&store->bus);
	g_free(store->dest);
	/* GDBus frees a dropped signal subscription's data in an idle on
	 * the context it was made on (libsecret's proxies make three):
	 * run what is ready, bounded, so that nothing waits for a context
	 * nobody will iterate again. */
	for (int i = 0; store->ctx != NULL && i < 64 &&
			g_main_context_iteration(store->ctx, FALSE);
	     i++)
		;
	g_clear_pointer(&store->ctx, g_main_context_unref);
	g_free(store);
}

/* The D-Bus path of the default collection; NO_SERVICE when none. */
static char *
default_collection_path(SmtpcredStore *store, gint64 deadline, GError **error)
{
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;
	char *path = NULL;

	if (need_service(store, deadline, error) == NULL)
		return NULL;
	KR_ASYNC(store, cancel, deadline, res,
		 secret_service_read_alias_dbus_path(store->service,
						     "default", cancel,
						     kr_on_done, KR_DONE));
	if (!kr_late(res, &local))
		path = secret_service_read_alias_dbus_path_finish(
		    store->service, res, &local);
	if (local != NULL) {
		map_error(store, local, "read default collection", error);
		return NULL;
	}
	if (path == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NO_SERVICE,
			    "the Secret Service has no default collection "
			    "(no login keyring has been created)");
		return NULL;
	}
	return path;
}

/* Read the Locked property of an object freshly (cached proxy properties
 * could be stale). */
static gboolean
read_locked(SmtpcredStore *store, const char *path, const char *iface,
	    gint64 deadline, gboolean *locked, GError **error)
{
	GDBusConnection *conn = store->bus;
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) value = NULL;

	KR_ASYNC(store, cancel, deadline, res,
		 g_dbus_connection_call(
		     conn, store->dest, path,
		     "org.freedesktop.DBus.Properties", "Get",
		     g_variant_new("(ss)", iface, "Locked"),
		     G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, cancel,
		     kr_on_done, KR_DONE));
	if (!kr_late(res, &local))
		reply = g_dbus_connection_call_finish(conn, res, &local);
	if (reply == NULL) {
		map_error(store, local, "read lock state", error);
		return FALSE;
	}
	g_variant_get(reply, "(v)", &value);
	if (!g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "the Secret Service sent a bad Locked property");
		return FALSE;
	}
	*locked = g_variant_get_boolean(value);
	return TRUE;
}

gboolean
smtpcred_store_is_locked(SmtpcredStore *store, gboolean *locked,
			 GError **error)
{
	gint64 deadline = kr_deadline(store);
	g_autofree char *path = NULL;

	if (store->files) { /* files are never locked; unreadable is POLICY */
		*locked = FALSE;
		return kr_files_check(error);
	}
	path = default_collection_path(store, deadline, error);
	if (path == NULL)
		return FALSE;
	return read_locked(store, path, "org.freedesktop.Secret.Collection",
			   deadline, locked, error);
}

gboolean
smtpcred_store_service_info(SmtpcredStore *store, char **name,
			    char **version, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) value = NULL;
	const char *impl;

	*name = NULL;
	*version = NULL;
	if (store->files || store->bus == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "not a Secret Service store");
		return FALSE;
	}
	impl = g_object_get_data(G_OBJECT(store->bus), IMPL_KEY);
	/* kwalletd5 (a KDBusService) says its version on the bus; the
	 * other two have no such call (and their program is not run to
	 * ask): dpkg-query says which package installed the executable,
	 * and its version (kr_package_version). */
	reply = call(store, store->bus, store->dest, "/MainApplication",
		     "org.freedesktop.DBus.Properties", "Get",
		     g_variant_new("(ss)", "org.qtproject.Qt.QCoreApplication",
				   "applicationVersion"),
		     "(v)", kr_deadline(store), "read version", NULL);
	if (reply != NULL) {
		g_variant_get(reply, "(v)", &value);
		if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING) &&
		    *g_variant_get_string(value, NULL) != '\0')
			/* another program's text: bounded here, escaped
			 * by whoever prints it */
			*version = g_strndup(
			    g_variant_get_string(value, NULL), 64);
	}
	if (*version == NULL)
		*version = kr_package_version(
		    g_object_get_data(G_OBJECT(store->bus), EXE_KEY));
	*name = g_strdup(impl != NULL ? impl : "unknown");
	return TRUE;
}

gboolean
kr_check_writable(SmtpcredStore *store, gint64 deadline, GError **error)
{
	g_autofree char *path = NULL;
	gboolean locked = FALSE;

	if (store->files)
		return kr_files_check(error);
	path = default_collection_path(store, deadline, error);
	if (path == NULL)
		return FALSE;
	if (!read_locked(store, path, "org.freedesktop.Secret.Collection",
			 deadline, &locked, error))
		return FALSE;
	if (locked) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_LOCKED,
			    "the keyring collection is locked; unlock it "
			    "and retry");
		return FALSE;
	}
	return TRUE;
}

static gint
cmp_version(gconstpointer a, gconstpointer b)
{
	const KrItem *x = *(KrItem *const *)a, *y = *(KrItem *const *)b;

	return x->version < y->version ? -1 : x->version > y->version;
}

static gint
cmp_account(gconstpointer a, gconstpointer b)
{
	const KrAccountItems *x = *(KrAccountItems *const *)a;
	const KrAccountItems *y = *(KrAccountItems *const *)b;

	return strcmp(x->name, y->name);
}

static void
account_items_free_cb(gpointer p)
{
	kr_account_items_free(p);
}

static void
item_free_cb(gpointer p)
{
	kr_item_free(p);
}

/* The paths of our items matching 'query' (locked ones too).  With
 * ALLOW_PROMPT, locked ones are unlocked first (that may prompt). */
static char **
search_paths(SmtpcredStore *store, GHashTable *query, gint64 deadline,
	     GError **error)
{
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autofree const char **unlocked = NULL;
	g_autofree const char **locked = NULL;
	g_autoptr(GStrvBuilder) all = g_strv_builder_new();
	GVariantBuilder b;
	GHashTableIter iter;
	gpointer k, v;

	/* Service.SearchItems as libsecret would send it for our schema
	 * (its name is matched), straight on the bus. */
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{ss}"));
	g_hash_table_iter_init(&iter, query);
	while (g_hash_table_iter_next(&iter, &k, &v))
		g_variant_builder_add(&b, "{ss}", (const char *)k,
				      (const char *)v);
	g_variant_builder_add(&b, "{ss}", "xdg:schema", kr_schema.name);
	KR_ASYNC(store, cancel, deadline, res,
		 g_dbus_connection_call(
		     store->bus, store->dest,
		     "/org/freedesktop/secrets",
		     "org.freedesktop.Secret.Service", "SearchItems",
		     g_variant_new("(a{ss})", &b), G_VARIANT_TYPE("(aoao)"),
		     G_DBUS_CALL_FLAGS_NONE, -1, cancel, kr_on_done, KR_DONE));
	if (!kr_late(res, &local))
		reply = g_dbus_connection_call_finish(store->bus, res, &local);
	if (reply == NULL) {
		map_error(store, local, "search", error);
		return NULL;
	}
	g_variant_get(reply, "(^a&o^a&o)", &unlocked, &locked);
	if ((store->flags & SMTPCRED_STORE_ALLOW_PROMPT) && locked != NULL &&
	    locked[0] != NULL && need_service(store, deadline, NULL) != NULL) {
		g_clear_object(&res);
		cancel = (g_object_unref(cancel), g_cancellable_new());
		KR_ASYNC(store, cancel, deadline, res,
			 secret_service_unlock_dbus_paths(
			     store->service, locked, cancel, kr_on_done, KR_DONE));
		/* Refused or dismissed: the items stay locked, which the
		 * Locked property read below reports. */
		if (res != NULL)
			(void)secret_service_unlock_dbus_paths_finish(
			    store->service, res, NULL, NULL);
		/* Not answered in time: no time is left for that read. */
		if (g_cancellable_is_cancelled(cancel)) {
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_LOCKED,
				    "the keyring collection is locked and its "
				    "unlock prompt was not answered within %u "
				    "ms",
				    store->timeout_ms);
			return NULL;
		}
	}
	for (guint i = 0; unlocked != NULL && unlocked[i] != NULL; i++)
		g_strv_builder_add(all, unlocked[i]);
	for (guint i = 0; locked != NULL && locked[i] != NULL; i++)
		g_strv_builder_add(all, locked[i]);
	return g_strv_builder_end(all);
}

/* One GetAll per item, all in flight at once: one round trip instead of
 * the half dozen a SecretItem proxy costs to set up and tear down. */
typedef struct {
	GAsyncResult *res;
	guint *pending;
} ItemProps;

static void
on_props(GObject *src, GAsyncResult *res, gpointer data)
{
	ItemProps *p = data;

	(void)src;
	p->res = g_object_ref(res);
	(*p->pending)--;
}

static SecretValue *decode_secret(GVariant *reply, GError **error);

/* Is NAME an attribute of our schema?  Providers add their own to every
 * item (KeePassXC: Title, UserName, URL, Notes, Path, Uuid; all of them:
 * xdg:schema); those are not ours, and writing them back through our
 * schema would make libsecret refuse the whole update. */
static gboolean
in_schema(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(kr_schema.attributes) &&
			  kr_schema.attributes[i].name != NULL;
	     i++)
		if (strcmp(kr_schema.attributes[i].name, name) == 0)
			return TRUE;
	return FALSE;
}

static gint item_reads;

guint
kr_item_reads(void)
{
	return (guint)g_atomic_int_get(&item_reads);
}

/* GetAll of every item in PATHS into OUT (items gone meanwhile are left
 * out) and, with SECRET_OF, Item.GetSecret of that item into *VALUE: all
 * in flight at once, one round trip. */
static gboolean
read_item_props(SmtpcredStore *store, char **paths, gint64 deadline,
		const char *secret_of, SecretValue **value, GPtrArray *out,
		GError **error)
{
	GDBusConnection *conn = store->bus;
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	guint n = g_strv_length(paths), pending = n;
	g_autofree ItemProps *props = g_new0(ItemProps, n + 1);
	ItemProps sec = {NULL, &pending};
	gboolean ok = TRUE;
	GSource *t;

	if (secret_of != NULL) {
		g_autofree char *session = kr_session_path(store, deadline,
							   error);

		if (session == NULL)
			return FALSE;
		pending++;
		g_main_context_push_thread_default(store->ctx);
		g_dbus_connection_call(
		    conn, store->dest, secret_of,
		    "org.freedesktop.Secret.Item", "GetSecret",
		    g_variant_new("(o)", session),
		    G_VARIANT_TYPE("((oayays))"), G_DBUS_CALL_FLAGS_NONE, -1,
		    cancel, on_props, &sec);
	} else {
		g_main_context_push_thread_default(store->ctx);
	}
	g_atomic_int_add(&item_reads, (gint)n);
	for (guint i = 0; i < n; i++) {
		props[i].pending = &pending;
		g_dbus_connection_call(
		    conn, store->dest, paths[i],
		    "org.freedesktop.DBus.Properties", "GetAll",
		    g_variant_new("(s)", "org.freedesktop.Secret.Item"),
		    G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, -1,
		    cancel, on_props, &props[i]);
	}
	/* Plain GDBus calls: cancelled, they complete at once. */
	t = timer_at(store, deadline, kr_on_deadline, cancel);
	while (pending > 0)
		g_main_context_iteration(store->ctx, TRUE);
	timer_drop(t);
	g_main_context_pop_thread_default(store->ctx);

	if (secret_of != NULL) {
		g_autoptr(GError) local = NULL;
		g_autoptr(GVariant) reply =
		    g_dbus_connection_call_finish(conn, sec.res, &local);

		g_clear_object(&sec.res);
		if (reply == NULL) {
			map_error(store, local, "read secret", error);
			ok = FALSE;
		} else {
			*value = decode_secret(reply, error);
			ok = *value != NULL;
		}
	}
	for (guint i = 0; i < n; i++) {
		g_autoptr(GError) local = NULL;
		g_autoptr(GVariant) reply = NULL;
		g_autoptr(GVariant) dict = NULL;
		g_autoptr(GVariant) attrs = NULL;
		g_autoptr(KrItem) it = NULL;
		GVariantIter iter;
		const char *k, *v;

		reply = g_dbus_connection_call_finish(conn, props[i].res,
						      &local);
		g_clear_object(&props[i].res);
		if (!ok)
			continue;
		if (reply == NULL) {
			/* Deleted between search and read: not there. */
			if (g_error_matches(local, G_DBUS_ERROR,
					    G_DBUS_ERROR_UNKNOWN_METHOD) ||
			    g_error_matches(local, G_DBUS_ERROR,
					    G_DBUS_ERROR_UNKNOWN_OBJECT))
				continue;
			map_error(store, local, "read item", error);
			ok = FALSE;
			continue;
		}
		dict = g_variant_get_child_value(reply, 0);
		attrs = g_variant_lookup_value(dict, "Attributes",
					       G_VARIANT_TYPE("a{ss}"));
		it = g_new0(KrItem, 1);
		it->path = g_strdup(paths[i]);
		it->attrs = g_hash_table_new_full(g_str_hash, g_str_equal,
						  g_free, g_free);
		if (!g_variant_lookup(dict, "Locked", "b", &it->locked))
			it->locked = TRUE;
		if (attrs != NULL) {
			g_variant_iter_init(&iter, attrs);
			/* An empty value is a removed attribute (see
			 * kr_item_set_attrs). */
			while (g_variant_iter_next(&iter, "{&s&s}", &k, &v))
				if (in_schema(k) && *v != '\0')
					g_hash_table_insert(it->attrs,
							    g_strdup(k),
							    g_strdup(v));
		}
		g_ptr_array_add(out, g_steal_pointer(&it));
	}
	return ok;
}

/* The number of items the collection at PATH lists now. */
static gboolean
count_items(SmtpcredStore *store, const char *path, gint64 deadline,
	    gsize *n, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) value = NULL;

	reply = call(store, store->bus, store->dest, path,
		     "org.freedesktop.DBus.Properties", "Get",
		     g_variant_new("(ss)", "org.freedesktop.Secret.Collection",
				   "Items"),
		     "(v)", deadline, "list items", error);
	if (reply == NULL)
		return FALSE;
	g_variant_get(reply, "(v)", &value);
	if (!g_variant_is_of_type(value, G_VARIANT_TYPE("ao"))) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "the Secret Service sent a bad Items property");
		return FALSE;
	}
	*n = g_variant_n_children(value);
	return TRUE;
}

/* A search found nothing.  That is absence if the default collection is
 * unlocked, or if it is locked but still lists its items (gnome-keyring,
 * KWallet: their searches report locked items as locked).  A locked
 * collection that lists nothing may hide everything (KeePassXC knows no
 * item of a locked database): that is LOCKED, never "not found".  Plain
 * calls (ReadAlias, Get): no transfer session needed.  No default
 * collection means no item either. */
static gboolean
absent_for_sure(SmtpcredStore *store, gint64 deadline, GError **error)
{
	g_autoptr(GVariant) alias = NULL;
	const char *path = NULL;
	gboolean locked = FALSE;
	gsize n = 0;

	alias = kr_service_call(store, "ReadAlias",
				g_variant_new("(s)", "default"), "(o)",
				deadline, "read default collection", error);
	if (alias == NULL)
		return FALSE;
	g_variant_get(alias, "(&o)", &path);
	if (strcmp(path, "/") == 0)
		return TRUE;
	if (!read_locked(store, path, "org.freedesktop.Secret.Collection",
			 deadline, &locked, error))
		return FALSE;
	if (!locked)
		return TRUE;
	if (!count_items(store, path, deadline, &n, error))
		return FALSE;
	if (n == 0) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_LOCKED,
			    "the keyring collection is locked and shows no "
			    "item while locked; unlock it and retry");
		return FALSE;
	}
	return TRUE;
}

GPtrArray *
kr_load(SmtpcredStore *store, const char *name, gint64 deadline,
	GError **error)
{
	g_autoptr(GHashTable) query = NULL;
	g_autoptr(GHashTable) by_name = NULL;
	g_autoptr(GPtrArray) out = NULL;
	g_autoptr(GPtrArray) items = NULL;
	g_auto(GStrv) paths = NULL;

	items = g_ptr_array_new_with_free_func(item_free_cb);
	if (store->files) {
		if (!kr_files_read(name, items, error))
			return NULL;
	} else {
		query = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					      g_free);
		if (name != NULL)
			g_hash_table_insert(query, g_strdup(KR_A_ACCOUNT),
					    g_strdup(name));
		paths = search_paths(store, query, deadline, error);
		if (paths == NULL)
			return NULL;
		if (paths[0] == NULL && !absent_for_sure(store, deadline, error))
			return NULL;
		if (!read_item_props(store, paths, deadline, NULL, NULL, items,
				     error))
			return NULL;
	}

	out = g_ptr_array_new_with_free_func(account_items_free_cb);
	by_name = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < items->len; i++) {
		g_autoptr(KrItem) it = g_steal_pointer(&items->pdata[i]);
		KrAccountItems *acc;
		const char *acc_name, *kind;

		acc_name = g_hash_table_lookup(it->attrs, KR_A_ACCOUNT);
		kind = g_hash_table_lookup(it->attrs, KR_A_KIND);
		if (acc_name == NULL || kind == NULL)
			continue; /* not ours after all: ignore */

		acc = g_hash_table_lookup(by_name, acc_name);
		if (acc == NULL) {
			acc = g_new0(KrAccountItems, 1);
			acc->name = g_strdup(acc_name);
			acc->versions =
			    g_ptr_array_new_with_free_func(item_free_cb);
			g_ptr_array_add(out, acc);
			g_hash_table_insert(by_name, acc->name, acc);
		}
		acc->locked |= it->locked;
		if (strcmp(kind, "account") == 0) {
			if (acc->account_item != NULL) {
				g_set_error(error, SMTPCRED_ERROR,
					    SMTPCRED_ERROR_AMBIGUOUS,
					    "account '%s' has two settings "
					    "items; refusing to choose",
					    acc_name);
				return NULL;
			}
			acc->account_item = g_steal_pointer(&it);
		} else if (strcmp(kind, "version") == 0) {
			if (!kr_item_parse_version(it, error))
				return NULL;
			g_ptr_array_add(acc->versions, g_steal_pointer(&it));
		}
	}
	for (guint i = 0; i < out->len; i++) {
		KrAccountItems *acc = g_ptr_array_index(out, i);

		g_ptr_array_sort(acc->versions, cmp_version);
	}
	g_ptr_array_sort(out, cmp_account);
	return g_steal_pointer(&out);
}

KrAccountItems *
kr_load_one(SmtpcredStore *store, const char *name, gint64 deadline,
	    GError **error)
{
	g_autoptr(GPtrArray) all = kr_load(store, name, deadline, error);

	if (all == NULL)
		return NULL;
	if (all->len == 0) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NOT_FOUND,
			    "account '%s' not found", name);
		return NULL;
	}
	return g_ptr_array_steal_index(all, 0);
}

gboolean
kr_item_create(SmtpcredStore *store, GHashTable *attrs, const char *label,
	       const char *secret, gsize len, gint64 deadline, GError **error)
{
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;
	g_autoptr(GHashTable) props = NULL;
	g_autoptr(SecretValue) value = NULL;
	g_autofree char *coll = NULL;
	g_autofree char *path = NULL;
	GVariantBuilder b;
	GHashTableIter iter;
	gpointer k, v;

	kr_resolved_forget_all(); /* what this process read is stale */
	if (store->files)
		return kr_files_create(attrs, secret != NULL ? secret : "", len,
				       error);
	coll = default_collection_path(store, deadline, error);
	if (coll == NULL)
		return FALSE;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{ss}"));
	g_variant_builder_add(&b, "{ss}", "xdg:schema", kr_schema.name);
	g_hash_table_iter_init(&iter, attrs);
	while (g_hash_table_iter_next(&iter, &k, &v))
		g_variant_builder_add(&b, "{ss}", (const char *)k,
				      (const char *)v);
	props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
				      (GDestroyNotify)g_variant_unref);
	g_hash_table_insert(props, g_strdup("org.freedesktop.Secret.Item.Label"),
			    g_variant_ref_sink(g_variant_new_string(label)));
	g_hash_table_insert(props,
			    g_strdup("org.freedesktop.Secret.Item.Attributes"),
			    g_variant_ref_sink(g_variant_builder_end(&b)));

	/* secret_value_new() copies into libsecret's non-pageable memory. */
	value = secret_value_new(secret != NULL ? secret : "", (gssize)len,
				 "text/plain");
	for (int attempt = 0;; attempt++) {
		if (need_service(store, deadline, error) == NULL)
			return FALSE;
		KR_ASYNC(store, cancel, deadline, res,
			 secret_service_create_item_dbus_path(
			     store->service, coll, props, value,
			     SECRET_ITEM_CREATE_NONE, cancel, kr_on_done,
			     KR_DONE));
		if (!kr_late(res, &local))
			path = secret_service_create_item_dbus_path_finish(
			    store->service, res, &local);
		if (path != NULL)
			return TRUE;
		/* kwalletd 5.103 now and then drops libsecret's transfer
		 * session ("Can't find session ...", seen right after the
		 * daemon restarted); nothing was created.  Once: a fresh
		 * proxy with a fresh session. */
		if (attempt > 0 || local == NULL ||
		    strstr(local->message, "find session") == NULL)
			break;
		g_clear_error(&local);
		g_clear_object(&res);
		g_clear_object(&store->service);
		g_object_unref(cancel);
		cancel = g_cancellable_new();
	}
	map_error(store, local, "create item", error);
	return FALSE;
}

/* The item's libsecret proxy, made on first need (changes only). */
static gboolean
item_proxy(SmtpcredStore *store, KrItem *it, gint64 deadline, GError **error)
{
	g_autoptr(GCancellable) cancel = NULL;
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;

	if (it->item != NULL)
		return TRUE;
	if (need_service(store, deadline, error) == NULL)
		return FALSE;
	cancel = g_cancellable_new();
	KR_ASYNC(store, cancel, deadline, res,
		 secret_item_new_for_dbus_path(store->service, it->path,
					       SECRET_ITEM_NONE, cancel,
					       kr_on_done, KR_DONE));
	if (!kr_late(res, &local))
		it->item = secret_item_new_for_dbus_path_finish(res, &local);
	if (it->item == NULL) {
		map_error(store, local, "open item", error);
		return FALSE;
	}
	return TRUE;
}

gboolean
kr_item_set_attrs(SmtpcredStore *store, KrItem *it, GHashTable *attrs,
		  gint64 deadline, GError **error)
{
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;
	g_autoptr(GHashTable) send = NULL;
	GHashTableIter iter;
	gpointer k;

	kr_resolved_forget_all(); /* what this process read is stale */
	if (store->files) {
		if (!kr_files_set_attrs(it, attrs, error))
			return FALSE;
		g_hash_table_unref(it->attrs);
		it->attrs = kr_attrs_copy(attrs);
		return TRUE;
	}
	if (!item_proxy(store, it, deadline, error))
		return FALSE;
	/* The specification replaces an item's attributes, but KeePassXC
	 * merges the new ones into the old and never drops one: an
	 * attribute we drop is written as "" instead, which every reader
	 * here takes as absent (read_item_props). */
	send = kr_attrs_copy(attrs);
	g_hash_table_iter_init(&iter, it->attrs);
	while (g_hash_table_iter_next(&iter, &k, NULL))
		if (!g_hash_table_contains(send, k))
			g_hash_table_insert(send, g_strdup(k), g_strdup(""));
	KR_ASYNC(store, cancel, deadline, res,
		 secret_item_set_attributes(it->item, &kr_schema, send,
					    cancel, kr_on_done, KR_DONE));
	if (kr_late(res, &local) ||
	    !secret_item_set_attributes_finish(it->item, res, &local)) {
		map_error(store, local, "update item", error);
		return FALSE;
	}
	g_hash_table_unref(it->attrs);
	it->attrs = kr_attrs_copy(attrs);
	return TRUE;
}

gboolean
kr_item_delete(SmtpcredStore *store, KrItem *it, gint64 deadline,
	       GError **error)
{
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) local = NULL;

	kr_resolved_forget_all(); /* what this process read is stale */
	if (store->files)
		return kr_files_delete(it, error);
	if (!item_proxy(store, it, deadline, error))
		return FALSE;
	KR_ASYNC(store, cancel, deadline, res,
		 secret_item_delete(it->item, cancel, kr_on_done, KR_DONE));
	if (kr_late(res, &local) ||
	    !secret_item_delete_finish(it->item, res, &local)) {
		map_error(store, local, "delete item", error);
		return FALSE;
	}
	return TRUE;
}

GVariant *
kr_service_call(SmtpcredStore *store, const char *method, GVariant *args,
		const char *reply_type, gint64 deadline, const char *what,
		GError **error)
{
	return call(store, store->bus, store->dest, "/org/freedesktop/secrets",
		    "org.freedesktop.Secret.Service", method, args, reply_type,
		    deadline, what, error);
}

/* Item.GetSecret's reply, decrypted with our session (session.c). */
static SecretValue *
decode_secret(GVariant *reply, GError **error)
{
	g_autoptr(GVariant) secret = g_variant_get_child_value(reply, 0);

	return kr_session_decode(secret, error);
}

SecretValue *
kr_item_secret(SmtpcredStore *store, KrItem *it, gint64 deadline,
	       GError **error)
{
	g_autoptr(GPtrArray) none = g_ptr_array_new();
	char *no_paths[] = {NULL};
	SecretValue *value = NULL;

	if (it->locked) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_LOCKED,
			    "the keyring collection is locked; unlock it "
			    "and retry");
		return NULL;
	}
	if (store->files)
		return kr_files_secret(it, error);
	/* Item.GetSecret on our encrypted session (session.c): no item
	 * proxy, and the reply holds only ciphertext. */
	if (!kr_items_and_secret(store, no_paths, it->path, deadline, none,
				 &value, error))
		return NULL;
	return value;
}

/* The items at PATHS as they are now (gone ones left out) and the
 * secret of the item at SECRET_OF, in one round trip: a lease's re-check
 * of what this process resolved a moment ago. */
gboolean
kr_items_and_secret(SmtpcredStore *store, char **paths, const char *secret_of,
		    gint64 deadline, GPtrArray *out, SecretValue **value,
		    GError **error)
{
	*value = NULL;
	if (store->files) { /* no one-round-trip path: the caller reads */
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "not for the system store");
		return FALSE;
	}
	if (!read_item_props(store, paths, deadline, secret_of, value, out,
			     error)) {
		g_clear_pointer(value, secret_value_unref);
		return FALSE;
	}
	return TRUE;
}

const char *
kr_outcome_for(const GError *error)
{
	if (error == NULL)
		return "ok";
	if (error->domain != SMTPCRED_ERROR)
		return "failed";
	switch (error->code) {
	case SMTPCRED_ERROR_LOCKED:
		return "locked";
	case SMTPCRED_ERROR_NOT_FOUND:
		return "not-found";
	case SMTPCRED_ERROR_POLICY:
	case SMTPCRED_ERROR_AMBIGUOUS:
	case SMTPCRED_ERROR_BUSY:
	case SMTPCRED_ERROR_CONFLICT:
	case SMTPCRED_ERROR_INVALID:
		return "denied";
	default:
		return "failed";
	}
}

static gboolean
audit_event(gboolean durable, const char *event, const char *outcome,
	    const char *account, guint version, const char *purpose,
	    const char *server, guint smtp_code, const char *detail,
	    GError **error)
{
	SmtpcredAuditEvent ev = {
	    .event = event,
	    .outcome = outcome,
	    .account = account,
	    .version = version,
	    .purpose = purpose,
	    .server = server,
	    .smtp_code = smtp_code,
	    .detail = detail,
	};

	return kr_audit_append(NULL, &ev, durable, NULL, error);
}

gboolean
kr_audit(const char *event, const char *outcome, const char *account,
	 guint version, const char *purpose, const char *server,
	 guint smtp_code, const char *detail, GError **error)
{
	return audit_event(TRUE, event, outcome, account, version, purpose,
			   server, smtp_code, detail, error);
}

gboolean
kr_audit_lazy(const char *event, const char *outcome, const char *account,
	      guint version, const char *purpose, const char *server,
	      guint smtp_code, const char *detail, GError **error)
{
	return audit_event(FALSE, event, outcome, account, version, purpose,
			   server, smtp_code, detail, error);
}

/* Record a failed operation; an audit failure here cannot be reported
 * better than the operation's own error, so it is dropped. */
void
kr_audit_failure(const char *event, const char *account, const GError *err)
{
	kr_audit(event, kr_outcome_for(err), account, 0, NULL, NULL, 0,
		 err != NULL ? err->message : NULL, NULL);
}

GPtrArray *
smtpcred_store_list(SmtpcredStore *store, GError **error)
{
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GPtrArray) out = NULL;

	items = kr_load(store, NULL, kr_deadline(store), error);
	if (items == NULL)
		return NULL;
	out = g_ptr_array_new_with_free_func(
	    (GDestroyNotify)smtpcred_account_free);
	for (guint i = 0; i < items->len; i++) {
		KrAccountItems *a = g_ptr_array_index(items, i);
		SmtpcredAccount *acc = kr_account_from_items(a, error);

		if (acc == NULL)
			return NULL;
		g_ptr_array_add(out, acc);
	}
	return g_steal_pointer(&out);
}

SmtpcredAccount *
smtpcred_store_get(SmtpcredStore *store, const char *name, GError **error)
{
	g_autoptr(KrAccountItems) a = NULL;

	if (!kr_validate_name(name, error))
		return NULL;
	a = kr_load_one(store, name, kr_deadline(store), error);
	if (a == NULL)
		return NULL;
	return kr_account_from_items(a, error);
}

GHashTable *
kr_version_attrs(const char *account, guint version, SmtpcredState state,
		 const char *rotation_id)
{
	GHashTable *a =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

	g_hash_table_insert(a, g_strdup(KR_A_KIND), g_strdup("version"));
	g_hash_table_insert(a, g_strdup(KR_A_ACCOUNT), g_strdup(account));
	g_hash_table_insert(a, g_strdup(KR_A_VERSION),
			    g_strdup_printf("%u", version));
	g_hash_table_insert(a, g_strdup(KR_A_STATE),
			    g_strdup(smtpcred_state_to_string(state)));
	if (rotation_id != NULL)
		g_hash_table_insert(a, g_strdup(KR_A_ROTATION_ID),
				    g_strdup(rotation_id));
	g_hash_table_insert(a, g_strdup(KR_A_SCHEMA_REV),
			    g_strdup(SMTPCRED_SCHEMA_REV));
	kr_attrs_set_time(a, KR_A_CREATED, kr_now());
	return a;
}

gboolean
kr_check_secret(const char *account, const char *secret, gsize len,
		GError **error)
{
	if (secret == NULL || len == 0 || len > KR_SECRET_MAX ||
	    memchr(secret, '\0', len) != NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s': the password must be 1-%d bytes "
			    "without NUL bytes",
			    account, KR_SECRET_MAX);
		return FALSE;
	}
	return TRUE;
}

gboolean
smtpcred_store_add(SmtpcredStore *store, const SmtpcredSettings *settings,
		   const char *secret, gsize secret_len, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GPtrArray) existing = NULL;
	g_autoptr(GHashTable) attrs = NULL;
	g_autoptr(GHashTable) vattrs = NULL;
	g_autofree char *label = NULL;
	g_autofree char *rotation_id = NULL;
	SmtpcredSettings s = *settings;
	gboolean login = g_strcmp0(settings->source, "login") == 0;
	gint64 deadline = kr_deadline(store), now = kr_now();
	const char *name = settings->name;

	s.created = now;
	if (!kr_validate_settings(&s, &local))
		goto fail;
	if (!login && !kr_check_secret(name, secret, secret_len, &local))
		goto fail;
	if (!kr_audit_ready(&local) ||
	    !kr_check_writable(store, deadline, &local))
		goto fail;
	existing = kr_load(store, name, deadline, &local);
	if (existing == NULL)
		goto fail;
	if (existing->len > 0) {
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_CONFLICT,
			    "account '%s' already exists (use 'smtpcred "
			    "rotate' to change its password)",
			    name);
		goto fail;
	}

	attrs = kr_settings_to_attrs(&s);
	label = kr_version_label(name, 0);
	if (!kr_item_create(store, attrs, label, "", 0, deadline, &local))
		goto fail;
	if (login) {
		kr_audit("store", "ok", name, 0, NULL, NULL, 0,
			 "account added; version 1 waits for login", &local);
		goto audit_only;
	}

	rotation_id = g_uuid_string_random();
	vattrs = kr_version_attrs(name, 1, SMTPCRED_STATE_CURRENT,
				  rotation_id);
	kr_attrs_set_time(vattrs, KR_A_PROMOTED, now);
	if (s.max_age_days > 0)
		kr_attrs_set_time(vattrs, KR_A_NOT_AFTER,
				  now + (gint64)s.max_age_days * 86400);
	g_free(label);
	label = kr_version_label(name, 1);
	if (!kr_item_create(store, vattrs, label, secret, secret_len, deadline,
			    &local))
		goto fail;
	kr_audit("store", "ok", name, 1, NULL, NULL, 0, "account added",
		 &local);
audit_only:
	if (local != NULL) {
		g_prefix_error(&local, "account '%s' stored, but ", name);
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	return TRUE;

fail:
	kr_audit_failure("store", name, local);
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

gboolean
smtpcred_store_remove(SmtpcredStore *store, const char *name, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(KrAccountItems) a = NULL;
	gint64 deadline = kr_deadline(store);
	guint n = 0;

	if (!kr_validate_name(name, &local) || !kr_audit_ready(&local) ||
	    !kr_check_writable(store, deadline, &local))
		goto fail;
	a = kr_load_one(store, name, deadline, &local);
	if (a == NULL)
		goto fail;
	/* Versions first: a crash half-way leaves settings that a second
	 * remove finishes, never versions without settings. */
	for (guint i = 0; i < a->versions->len; i++) {
		if (!kr_item_delete(store, g_ptr_array_index(a->versions, i),
				    deadline, &local))
			goto fail;
		n++;
	}
	if (a->account_item != NULL) {
		if (!kr_item_delete(store, a->account_item, deadline, &local))
			goto fail;
		n++;
	}
	{
		g_autofree char *detail =
		    g_strdup_printf("removed %u items", n);

		if (!kr_audit("remove", "ok", name, 0, NULL, NULL, 0, detail,
			      &local)) {
			g_prefix_error(&local, "account '%s' removed, but ",
				       name);
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
	}
	return TRUE;

fail:
	kr_audit_failure("remove", name, local);
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}
