/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-send lease (DESIGN.md "The narrow per-send API").  Plain C at
 * the boundary; inside, the secret stays in the SecretValue libsecret
 * decrypted it into (non-pageable memory, wiped when the last reference
 * goes), and the lease holds the only reference.
 */
#include "config.h"

#include <errno.h>

#include <openssl/crypto.h>

#include "internal.h"
#include "parse.h"

struct smtpcred_lease {
	char *account;
	char *user;
	char *server; /* host:port from the settings */
	int version;
	SecretValue *value; /* the only reference to the secret */
	gboolean borrowed;
};

static void
set_err(smtpcred_err *err, const GError *error)
{
	kr_error_to_err(error, err);
}

/* The max-age policy: an expired version is refused when the account
 * enforces it. */
static gboolean
check_policy(const char *account, const SmtpcredSettings *settings,
	     const KrItem *usable, GError **error)
{
	gint64 not_after = kr_attrs_get_time(usable->attrs, KR_A_NOT_AFTER);

	if (settings->enforce && not_after > 0 && kr_now() > not_after) {
		char when[RFC3339_BUFSZ] = "?";

		format_rfc3339_utc(not_after, when, sizeof(when));
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_POLICY,
			    "account '%s': version %u expired at %s and the "
			    "account enforces its max age; rotate it",
			    account, usable->version, when);
		return FALSE;
	}
	return TRUE;
}

/* ---- what this process resolved a moment ago ---------------------------
 *
 * A sender looks an account up, connects, and leases right after the TLS
 * handshake; a program sending many messages does that per session.  The
 * last resolution of each account is kept: a lookup within
 * RESOLVED_TTL_US of it reads nothing from the keyring, and a lease
 * re-reads just the two items it names together with the secret (one
 * round trip instead of a search, a read of every item and then the
 * secret), or within RESOLVED_TTL_US only the secret when the keyring has
 * announced no change since (store.c counts its signals; a change
 * announced before the secret arrives sends the lease back to reading
 * the items).  An announced change also ends a lookup's reuse early.
 * The lease checks that the version is still current and takes
 * the settings as they are now; a sender's lease also refuses when they
 * differ from the ones it connected with (kr_lease_acquire), so a stale
 * entry can cost one retry, never send a password where the account no
 * longer points.  Any change this process makes to the store forgets
 * everything.
 */
#define RESOLVED_TTL_US (5 * G_USEC_PER_SEC)

typedef struct {
	char *account_path;
	char *usable_path;
	guint version;
	GHashTable *usable_attrs; /* the usable version's, for the policy */
	SmtpcredSettings s;
	gint64 at;	  /* monotonic time it was read from the keyring */
	guint changes;	  /* kr_changes() before that read began */
	gboolean watched; /* and the keyring's signals were counted */
} Resolved;

static GMutex resolved_lock;
static GHashTable *resolved_cache; /* account name -> Resolved* */

static void
settings_copy(SmtpcredSettings *dst, const SmtpcredSettings *src)
{
	*dst = *src;
	dst->name = g_strdup(src->name);
	dst->host = g_strdup(src->host);
	dst->tls = g_strdup(src->tls);
	dst->user = g_strdup(src->user);
	dst->mechs = g_strdup(src->mechs);
	dst->ca_file = g_strdup(src->ca_file);
	dst->pin = g_strdup(src->pin);
	dst->source = g_strdup(src->source);
}

static void
resolved_clear(Resolved *r)
{
	g_clear_pointer(&r->account_path, g_free);
	g_clear_pointer(&r->usable_path, g_free);
	g_clear_pointer(&r->usable_attrs, g_hash_table_unref);
	smtpcred_settings_clear(&r->s);
}

static void
resolved_free(gpointer p)
{
	resolved_clear(p);
	g_free(p);
}

/* Only a current version is remembered: anything else (a half-finished
 * promotion) takes the full path every time. */
static void
remember(const char *account, const char *account_path, const KrItem *usable,
	 const SmtpcredSettings *s, guint changes, gboolean watched)
{
	Resolved *r;

	if (usable->state != SMTPCRED_STATE_CURRENT)
		return;
	r = g_new0(Resolved, 1);
	r->account_path = g_strdup(account_path);
	r->usable_path = g_strdup(usable->path);
	r->version = usable->version;
	r->usable_attrs = kr_attrs_copy(usable->attrs);
	settings_copy(&r->s, s);
	r->at = g_get_monotonic_time();
	r->changes = changes;
	r->watched = watched;
	g_mutex_lock(&resolved_lock);
	if (resolved_cache == NULL)
		resolved_cache = g_hash_table_new_full(
		    g_str_hash, g_str_equal, g_free, resolved_free);
	g_hash_table_replace(resolved_cache, g_strdup(account), r);
	g_mutex_unlock(&resolved_lock);
}

/* A copy of the entry for ACCOUNT read at most MAX_AGE_US ago. */
static gboolean
recall(const char *account, gint64 max_age_us, Resolved *out)
{
	Resolved *r;
	gboolean found = FALSE;

	g_mutex_lock(&resolved_lock);
	r = resolved_cache != NULL ? g_hash_table_lookup(resolved_cache,
							 account)
				   : NULL;
	/* Too old, or the keyring announced a change since: read again. */
	if (r != NULL && g_get_monotonic_time() - r->at <= max_age_us &&
	    !(r->watched && r->changes != kr_changes())) {
		out->account_path = g_strdup(r->account_path);
		out->usable_path = g_strdup(r->usable_path);
		out->version = r->version;
		out->usable_attrs = kr_attrs_copy(r->usable_attrs);
		settings_copy(&out->s, &r->s);
		out->at = r->at;
		out->changes = r->changes;
		out->watched = r->watched;
		found = TRUE;
	}
	g_mutex_unlock(&resolved_lock);
	return found;
}

static void
forget(const char *account)
{
	g_mutex_lock(&resolved_lock);
	if (resolved_cache != NULL)
		g_hash_table_remove(resolved_cache, account);
	g_mutex_unlock(&resolved_lock);
}

void
kr_resolved_forget_all(void)
{
	g_mutex_lock(&resolved_lock);
	if (resolved_cache != NULL)
		g_hash_table_remove_all(resolved_cache);
	g_mutex_unlock(&resolved_lock);
}

__attribute__((destructor)) static void
resolved_at_exit(void)
{
	g_mutex_lock(&resolved_lock);
	g_clear_pointer(&resolved_cache, g_hash_table_unref);
	g_mutex_unlock(&resolved_lock);
}

/* The lease's fastest path: R was read less than RESOLVED_TTL_US ago and
 * the keyring has announced no change since, so only the secret is read.
 * A change announced before its answer arrives (store.c counts signals in
 * order) wipes it unused: FALSE, and the caller reads the items again. */
static gboolean
lease_unchanged(SmtpcredStore *store, const Resolved *r, gint64 deadline,
		SecretValue **value, SmtpcredSettings *settings,
		KrItem **usable)
{
	g_autoptr(SecretValue) v = NULL;
	g_autoptr(KrItem) it = NULL;

	if (!r->watched || r->changes != kr_changes() ||
	    g_get_monotonic_time() - r->at > RESOLVED_TTL_US)
		return FALSE;
	it = g_new0(KrItem, 1);
	it->path = g_strdup(r->usable_path);
	it->attrs = kr_attrs_copy(r->usable_attrs);
	it->version = r->version;
	it->state = SMTPCRED_STATE_CURRENT;
	v = kr_item_secret(store, it, deadline, NULL);
	if (v == NULL || r->changes != kr_changes())
		return FALSE;
	settings_copy(settings, &r->s);
	*value = g_steal_pointer(&v);
	*usable = g_steal_pointer(&it);
	return TRUE;
}

/* The lease's fast path: the two items of R and the secret in one round
 * trip.  TRUE with *value and *settings set when the version R names is
 * still the current one, unlocked; FALSE (nothing set, the secret wiped)
 * when anything differs or failed: the caller takes the full path, which
 * reports errors as they are. */
static gboolean
lease_fast(SmtpcredStore *store, const Resolved *r, gint64 deadline,
	   SecretValue **value, SmtpcredSettings *settings, KrItem **usable)
{
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(
	    (GDestroyNotify)kr_item_free);
	char *paths[] = {r->account_path, r->usable_path, NULL};
	g_autoptr(SecretValue) v = NULL;
	KrItem *acc = NULL, *ver = NULL;
	guint ver_i = 0;
	SmtpcredSettings s = {0};

	if (!kr_items_and_secret(store, paths, r->usable_path, deadline,
				 items, &v, NULL))
		return FALSE;
	for (guint i = 0; i < items->len; i++) {
		KrItem *it = g_ptr_array_index(items, i);

		if (strcmp(it->path, r->account_path) == 0)
			acc = it;
		else if (strcmp(it->path, r->usable_path) == 0) {
			ver = it;
			ver_i = i;
		}
	}
	if (acc == NULL || ver == NULL || acc->locked || ver->locked ||
	    g_strcmp0(g_hash_table_lookup(acc->attrs, KR_A_KIND),
		      "account") != 0 ||
	    g_strcmp0(g_hash_table_lookup(ver->attrs, KR_A_KIND),
		      "version") != 0 ||
	    g_strcmp0(g_hash_table_lookup(acc->attrs, KR_A_ACCOUNT),
		      r->s.name) != 0 ||
	    g_strcmp0(g_hash_table_lookup(ver->attrs, KR_A_ACCOUNT),
		      r->s.name) != 0 ||
	    !kr_item_parse_version(ver, NULL) || ver->version != r->version ||
	    ver->state != SMTPCRED_STATE_CURRENT ||
	    !kr_attrs_to_settings(acc->attrs, &s, NULL))
		return FALSE;
	*value = g_steal_pointer(&v);
	*settings = s;
	*usable = g_ptr_array_steal_index(items, ver_i);
	return TRUE;
}

/* Shared by lookup and lease: load the account, pick the usable version,
 * apply the policy.  On success *a_out and *settings are filled. */
static KrItem *
resolve(SmtpcredStore *store, const char *account, gint64 deadline,
	KrAccountItems **a_out, SmtpcredSettings *settings, GError **error)
{
	g_autoptr(KrAccountItems) a = NULL;
	KrItem *usable;

	a = kr_load_one(store, account, deadline, error);
	if (a == NULL)
		return NULL;
	if (a->account_item == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s': its settings item is missing",
			    account);
		return NULL;
	}
	if (!kr_attrs_to_settings(a->account_item->attrs, settings, error))
		return NULL;
	usable = kr_usable_item(a, error);
	if (usable == NULL)
		goto fail;
	if (usable->locked) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_LOCKED,
			    "account '%s': the keyring collection is locked",
			    account);
		goto fail;
	}
	if (!check_policy(account, settings, usable, error))
		goto fail;
	*a_out = g_steal_pointer(&a);
	return usable;

fail:
	smtpcred_settings_clear(settings);
	return NULL;
}

/* ---- preparing the transfer session ------------------------------------
 *
 * smtpcred_lease_prepare() opens the Secret Service's encrypted transfer
 * session on a thread of its own, so its Diffie-Hellman exchange overlaps
 * whatever the caller does next (a sender: connecting and the TLS
 * handshake).  The thread reads no secret and writes no audit record.  A
 * lease waits for it first, so libsecret is never used from two threads
 * at once; at exit it is cancelled and joined.
 *
 * The sender's provider starts it gated, before its lookup: the thread
 * first does OpenSSL's start-up and our half of the exchange (CPU only,
 * about 2 ms, while the lookup waits on the keyring), then waits for the
 * gate, so the service (which answers one call at a time, and spends
 * several ms on its half) answers the lookup first.
 */
static GMutex prepare_lock;
static GCond prepare_cond;
static GThread *prepare_thread;
static GCancellable *prepare_cancel;
static gboolean prepared;
static gboolean prepare_gate_open = TRUE;
static gboolean atexit_set;

typedef struct {
	GCancellable *cancel;
	guint timeout_ms;
} PrepareJob;

static gpointer
prepare_run(gpointer data)
{
	PrepareJob *job = data;
	g_autoptr(SmtpcredStore) store = NULL;
	gint64 until;

	kr_session_warm();
	/* The gate opens after the caller's lookup, at the latest after
	 * the timeout (then the lease will find the session half made). */
	until = g_get_monotonic_time() + (gint64)job->timeout_ms * 1000;
	g_mutex_lock(&prepare_lock);
	while (!prepare_gate_open &&
	       g_cond_wait_until(&prepare_cond, &prepare_lock, until))
		;
	g_mutex_unlock(&prepare_lock);
	/* Errors are the lease's to report: it tries again itself. */
	if (!g_cancellable_is_cancelled(job->cancel))
		store = kr_store_open(SMTPCRED_STORE_NONE, job->timeout_ms,
				      FALSE, NULL);
	/* The system store has no transfer session to prepare. */
	if (store != NULL && !store->files &&
	    !g_cancellable_is_cancelled(job->cancel))
		g_free(kr_session_path(store, kr_deadline(store), NULL));
	g_object_unref(job->cancel);
	g_free(job);
	return NULL;
}

/* Wait for a running preparation (it is bounded by its timeout). */
static void
prepare_wait(void)
{
	GThread *t;
	GCancellable *c;

	kr_lease_prepare_go(); /* a lease needs it now */
	g_mutex_lock(&prepare_lock);
	t = g_steal_pointer(&prepare_thread);
	c = g_steal_pointer(&prepare_cancel);
	g_mutex_unlock(&prepare_lock);
	if (t != NULL)
		g_thread_join(t);
	g_clear_object(&c);
}

void
kr_lease_prepare_go(void)
{
	g_mutex_lock(&prepare_lock);
	prepare_gate_open = TRUE;
	g_cond_broadcast(&prepare_cond);
	g_mutex_unlock(&prepare_lock);
}

static void
prepare_at_exit(void)
{
	g_mutex_lock(&prepare_lock);
	if (prepare_cancel != NULL)
		g_cancellable_cancel(prepare_cancel);
	g_mutex_unlock(&prepare_lock);
	kr_lease_prepare_go();
	prepare_wait();
}

void
smtpcred_lease_prepare(unsigned timeout_ms)
{
	kr_lease_prepare_start(timeout_ms, FALSE);
}

void
kr_lease_prepare_start(unsigned timeout_ms, gboolean gated)
{
	PrepareJob *job;

	g_mutex_lock(&prepare_lock);
	if (prepared) {
		g_mutex_unlock(&prepare_lock);
		return;
	}
	prepared = TRUE;
	prepare_gate_open = !gated;
	/* The thread uses OpenSSL (session.c), which cleans up in an atexit
	 * handler: ours must run first and join the thread, so it goes in
	 * after OpenSSL's (handlers run in reverse order). */
	if (!atexit_set) {
		/* (options 0 would return at once, registering nothing) */
		OPENSSL_init_crypto(OPENSSL_INIT_ADD_ALL_CIPHERS |
					OPENSSL_INIT_ADD_ALL_DIGESTS,
				    NULL);
		atexit_set = atexit(prepare_at_exit) == 0;
	}
	/* GLib 2.74 can deadlock when two threads register and initialise
	 * the same GObject types at once (the caller goes on to connect to
	 * the bus while the thread makes libsecret's proxy): set up the
	 * classes both need here, before the thread exists. */
	g_type_class_unref(g_type_class_ref(G_TYPE_DBUS_CONNECTION));
	g_type_class_unref(g_type_class_ref(G_TYPE_DBUS_PROXY));
	g_type_class_unref(g_type_class_ref(G_TYPE_TASK));
	prepare_cancel = g_cancellable_new();
	job = g_new0(PrepareJob, 1);
	job->cancel = g_object_ref(prepare_cancel);
	job->timeout_ms =
	    timeout_ms != 0 ? timeout_ms : SMTPCRED_DEFAULT_TIMEOUT_MS;
	prepare_thread = g_thread_try_new("smtpcred-prepare", prepare_run,
					  job, NULL);
	if (prepare_thread == NULL) { /* the lease will do it itself */
		g_object_unref(job->cancel);
		g_free(job);
	}
	g_mutex_unlock(&prepare_lock);
}

static smtpcred_account_info *
info_new(const SmtpcredSettings *s, guint usable_version)
{
	smtpcred_account_info *info = g_new0(smtpcred_account_info, 1);

	info->struct_version = 1;
	info->name = g_strdup(s->name);
	info->host = g_strdup(s->host);
	info->port = s->port;
	info->tls = g_strdup(s->tls);
	info->user = g_strdup(s->user);
	info->mechs = g_strdup(s->mechs);
	info->ca_file = g_strdup(s->ca_file);
	info->pin = g_strdup(s->pin);
	info->usable_version = (int)usable_version;
	return info;
}

int
smtpcred_account_lookup(smtpcred_account_info **out, const char *account,
			unsigned timeout_ms, smtpcred_err *err)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	g_autoptr(KrAccountItems) a = NULL;
	g_auto(SmtpcredSettings) s = {0};
	Resolved r = {0};
	KrItem *usable;
	guint changes;

	if (out == NULL || !kr_validate_name(account, &local))
		goto fail;
	if (recall(account, RESOLVED_TTL_US, &r)) {
		*out = info_new(&r.s, r.version);
		resolved_clear(&r);
		return SMTPCRED_OK;
	}
	store = kr_store_open(SMTPCRED_STORE_NONE, timeout_ms, FALSE, &local);
	if (store == NULL)
		goto fail;
	changes = kr_changes();
	usable = resolve(store, account, kr_deadline(store), &a, &s, &local);
	if (usable == NULL)
		goto fail;
	remember(account, a->account_item->path, usable, &s, changes,
		 kr_store_watched(store));
	*out = info_new(&s, usable->version);
	return SMTPCRED_OK;

fail:
	if (local == NULL)
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "no output location given");
	kr_audit_failure("lookup", account, local);
	set_err(err, local);
	return kr_error_to_code(local);
}

void
smtpcred_account_info_free(smtpcred_account_info *info)
{
	if (info == NULL)
		return;
	g_free(info->name);
	g_free(info->host);
	g_free(info->tls);
	g_free(info->user);
	g_free(info->mechs);
	g_free(info->ca_file);
	g_free(info->pin);
	g_free(info);
}

int
kr_lease_acquire(smtpcred_lease **out, const char *account,
		 const char *purpose, unsigned timeout_ms, KrSettingsCheck check,
		 const void *data, smtpcred_err *err)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GError) audit_err = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	g_autoptr(KrAccountItems) a = NULL;
	g_autoptr(KrItem) fast_item = NULL;
	g_autoptr(SecretValue) value = NULL;
	g_auto(SmtpcredSettings) s = {0};
	g_autofree char *server = NULL;
	g_autofree char *account_path = NULL;
	Resolved r = {0};
	smtpcred_lease *l;
	KrItem *usable = NULL;
	gint64 deadline;
	guint changes;
	gboolean watched, unchanged = FALSE;

	if (out == NULL || !kr_validate_name(account, &local))
		goto fail;
	/* One deadline for the whole lookup, connection included. */
	deadline = g_get_monotonic_time() +
		   (gint64)(timeout_ms != 0 ? timeout_ms
					    : SMTPCRED_DEFAULT_TIMEOUT_MS) *
		       1000;
	prepare_wait();
	kr_crash_point("lease-start");
	store = smtpcred_store_new(SMTPCRED_STORE_NONE, timeout_ms, &local);
	if (store == NULL)
		goto fail;
	/* Before anything is read: what this lease reads is at least as
	 * new as any change counted after this. */
	changes = kr_changes();
	watched = kr_store_watched(store);
	if (recall(account, G_MAXINT64, &r)) {
		kr_crash_point("lease-resolved");
		if (lease_unchanged(store, &r, deadline, &value, &s,
				    &fast_item)) {
			usable = fast_item;
			account_path = g_strdup(r.account_path);
			unchanged = TRUE;
		} else if (lease_fast(store, &r, deadline, &value, &s,
				      &fast_item)) {
			usable = fast_item;
			account_path = g_strdup(r.account_path);
		} else {
			forget(account);
		}
		resolved_clear(&r);
	}
	if (usable != NULL) {
		if (!check_policy(account, &s, usable, &local))
			goto fail;
	} else {
		usable = resolve(store, account, deadline, &a, &s, &local);
		if (usable == NULL)
			goto fail;
		account_path = g_strdup(a->account_item->path);
	}
	if (check != NULL && !check(&s, data)) {
		/* The sender connected with settings the account no longer
		 * has: no secret for that connection (one read with the
		 * items on the fast path is wiped unused). */
		forget(account);
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_CONFLICT,
			    "the settings of account '%s' changed after this "
			    "send connected; try again",
			    account);
		goto fail;
	}
	if (value == NULL) {
		kr_crash_point("lease-resolved");
		value = kr_item_secret(store, usable, deadline, &local);
		if (value == NULL)
			goto fail;
	}
	kr_crash_point("lease-secret-read");
	if (!unchanged) /* else the entry stands as read, with its age */
		remember(account, account_path, usable, &s, changes, watched);
	server = g_strdup_printf("%s:%u", s.host, s.port);

	/* Fail closed: no record, no secret (unless the account opts out). */
	if (!kr_audit("lease", "ok", account, usable->version, purpose, server,
		      0, NULL, &audit_err) &&
	    !s.audit_fail_open) {
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "lease of '%s' refused: %s", account,
			    audit_err->message);
		set_err(err, local);
		return kr_error_to_code(local);
	}

	l = g_new0(smtpcred_lease, 1);
	l->account = g_strdup(account);
	l->user = g_strdup(s.user);
	l->server = g_steal_pointer(&server);
	l->version = (int)usable->version;
	l->value = g_steal_pointer(&value);
	*out = l;
	return SMTPCRED_OK;

fail:
	/* value, if read, is wiped by its cleanup */
	if (local == NULL)
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "no output location given");
	kr_audit("lease", kr_outcome_for(local), account, 0, purpose, NULL, 0,
		 local->message, NULL);
	set_err(err, local);
	return kr_error_to_code(local);
}

int
smtpcred_lease_acquire(smtpcred_lease **out, const char *account,
		       const char *purpose, unsigned timeout_ms,
		       smtpcred_err *err)
{
	return kr_lease_acquire(out, account, purpose, timeout_ms, NULL, NULL,
				err);
}

const char *
smtpcred_lease_user(const smtpcred_lease *l)
{
	return l != NULL ? l->user : NULL;
}

const char *
smtpcred_lease_account(const smtpcred_lease *l)
{
	return l != NULL ? l->account : NULL;
}

int
smtpcred_lease_version(const smtpcred_lease *l)
{
	return l != NULL ? l->version : 0;
}

int
smtpcred_lease_borrow(smtpcred_lease *l, const char **secret, size_t *len)
{
	gsize n = 0;
	const char *p;

	if (l == NULL || l->value == NULL || l->borrowed || secret == NULL ||
	    len == NULL)
		return SMTPCRED_E_INVALID;
	p = secret_value_get(l->value, &n);
	l->borrowed = TRUE;
	*secret = p;
	*len = n;
	return SMTPCRED_OK;
}

void
smtpcred_lease_return(smtpcred_lease *l)
{
	if (l != NULL)
		l->borrowed = FALSE;
}

int
smtpcred_lease_report(smtpcred_lease *l, unsigned smtp_code,
		      const char *server)
{
	g_autoptr(GError) local = NULL;
	const char *outcome;

	if (l == NULL || smtp_code > 599)
		return SMTPCRED_E_INVALID;
	if (smtp_code >= 200 && smtp_code < 300)
		outcome = "ok";
	else if (smtp_code >= 400 && smtp_code < 500)
		outcome = "deferred";
	else
		outcome = "rejected";
	/* Written at once, not waited for on the disk: the lease record
	 * before it was, and this one sits between the AUTH reply and the
	 * message on every send (about 0.3 ms of fsync here). */
	if (!kr_audit_lazy("auth-result", outcome, l->account,
			   (guint)l->version, NULL,
			   server != NULL ? server : l->server, smtp_code, NULL,
			   &local))
		return SMTPCRED_E_AUDIT;
	return SMTPCRED_OK;
}

void
smtpcred_lease_release(smtpcred_lease *l)
{
	if (l == NULL)
		return;
	/* The last reference: libsecret wipes and frees the secret. */
	g_clear_pointer(&l->value, secret_value_unref);
	g_free(l->account);
	g_free(l->user);
	g_free(l->server);
	g_free(l);
}

const char *
smtpcred_version(void)
{
	return SMTPCRED_VERSION;
}
