/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Staged rotation (DESIGN.md "Rotation"), rollback, resume and abort.
 *
 * Steps of a rotation, each one Secret Service write, under a per-account
 * lock file:
 *
 *   create   version N+1 stored as `pending` with a fresh rotation_id
 *   verify   optional hook (an SMTP AUTH test); sets `verified`
 *   intent   N+1 gets commit=promote            (the point of no return)
 *   demote   N becomes `previous` with grace_until
 *   promote  N+1 becomes `current`, commit removed, promoted/not_after set
 *   retire   older `previous` versions become `retired`
 *   prune    retired versions beyond `keep` are deleted
 *
 * Between demote and promote there is no `current`, but exactly one
 * version carries the commit intent, and the resolver (kr_usable_item)
 * uses it: at every point exactly one version is usable.  Resume rolls an
 * intent forward; an uncommitted pending version is resumed from verify or
 * dropped by abort.  Rollback uses the same intent/demote/promote steps.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "parse.h"
#include "secbuf.h"

/* ---- per-account lock ------------------------------------------------- */

static char *
lock_dir(void)
{
	const char *rt = g_getenv("XDG_RUNTIME_DIR");
	g_autofree char *audit = NULL;
	g_autofree char *dir = NULL;

	if (kr_system_active())
		return g_build_filename(smtpcred_system_dir(), "locks", NULL);
	if (rt != NULL && *rt == '/')
		return g_build_filename(rt, "smtpcred", NULL);
	if (getuid() == 0)
		return g_strdup("/run/smtpcred");
	audit = smtpcred_audit_path();
	dir = g_path_get_dirname(audit);
	return g_build_filename(dir, "locks", NULL);
}

int
kr_lock_account(const char *name, GError **error)
{
	g_autofree char *dir = lock_dir();
	g_autofree char *file = NULL;
	g_autofree char *path = NULL;
	int fd;

	if (g_mkdir_with_parents(dir, 0700) < 0) {
		int e = errno;

		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "cannot create the lock directory %s: %s", dir,
			    g_strerror(e));
		return -1;
	}
	file = g_strconcat(name, ".lock", NULL);
	path = g_build_filename(dir, file, NULL);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int e = errno;

		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "cannot open the lock file %s: %s", path,
			    g_strerror(e));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_BUSY,
				    "another process is changing account "
				    "'%s' (lock %s held); try again",
				    name, path);
		else
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_FAILED,
				    "cannot lock %s: %s", path, g_strerror(e));
		return -1;
	}
	return fd;
}

void
kr_unlock_account(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

typedef struct {
	int fd;
} AccountLock;

static void
account_lock_release(AccountLock *l)
{
	kr_unlock_account(l->fd);
	l->fd = -1;
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AccountLock, account_lock_release)

/* The start of every change: a valid name, a writable audit log (a change
 * is refused rather than made without its record) and the account lock. */
static gboolean
lock_for_change(const char *name, AccountLock *lock, GError **error)
{
	if (!kr_validate_name(name, error) || !kr_audit_ready(error))
		return FALSE;
	lock->fd = kr_lock_account(name, error);
	return lock->fd >= 0;
}

/* ... and then an unlocked collection and the account's items. */
static KrAccountItems *
begin_change(SmtpcredStore *store, const char *name, AccountLock *lock,
	     gint64 deadline, GError **error)
{
	if (!lock_for_change(name, lock, error) ||
	    !kr_check_writable(store, deadline, error))
		return NULL;
	return kr_load_one(store, name, deadline, error);
}

/* ---- steps ------------------------------------------------------------- */

/* "after-demote" for a rotation, "rollback-after-demote" for a rollback. */
static void
crash_point(const char *kind, const char *step)
{
	g_autofree char *p = NULL;

	if (strcmp(kind, "promote") == 0) {
		kr_crash_point(step);
		return;
	}
	p = g_strconcat(kind, "-", step, NULL);
	kr_crash_point(p);
}

static gboolean
set_attr(SmtpcredStore *store, KrItem *it, const char *key, const char *val,
	 gint64 deadline, GError **error)
{
	g_autoptr(GHashTable) a = kr_attrs_copy(it->attrs);

	if (val != NULL)
		g_hash_table_insert(a, g_strdup(key), g_strdup(val));
	else
		g_hash_table_remove(a, key);
	return kr_item_set_attrs(store, it, a, deadline, error);
}

/* Retire every `previous` except 'keep' and 'newv'. */
static gboolean
retire_others(SmtpcredStore *store, KrAccountItems *a, const KrItem *keep,
	      const KrItem *newv, gint64 deadline, gboolean *changed,
	      GError **error)
{
	for (guint i = 0; i < a->versions->len; i++) {
		KrItem *it = g_ptr_array_index(a->versions, i);

		if (it->state != SMTPCRED_STATE_PREVIOUS || it == keep ||
		    it == newv)
			continue;
		if (!set_attr(store, it, KR_A_STATE, "retired", deadline,
			      error))
			return FALSE;
		it->state = SMTPCRED_STATE_RETIRED;
		*changed = TRUE;
	}
	return TRUE;
}

/* Delete the oldest retired versions beyond settings->keep. */
static gboolean
prune(SmtpcredStore *store, KrAccountItems *a,
      const SmtpcredSettings *settings, gint64 deadline, gboolean *changed,
      GError **error)
{
	guint n_retired = 0;

	for (guint i = 0; i < a->versions->len; i++)
		if (((KrItem *)g_ptr_array_index(a->versions, i))->state ==
		    SMTPCRED_STATE_RETIRED)
			n_retired++;
	/* Versions are sorted ascending: the oldest retired go first. */
	for (guint i = 0; i < a->versions->len && n_retired > settings->keep;
	     i++) {
		KrItem *it = g_ptr_array_index(a->versions, i);

		if (it->state != SMTPCRED_STATE_RETIRED)
			continue;
		if (!kr_item_delete(store, it, deadline, error))
			return FALSE;
		kr_audit("rotate-prune", "ok", a->name, it->version, NULL,
			 NULL, 0, NULL, NULL);
		g_ptr_array_remove_index(a->versions, i);
		i--;
		n_retired--;
		*changed = TRUE;
	}
	return TRUE;
}

/* The commit intent is "<kind>:<version to demote>", kind "promote" or
 * "rollback"; the demoted version is recorded so that a resume retires
 * exactly the right versions. */
static gboolean
parse_intent(const KrItem *it, char **kind, guint *old)
{
	const char *v = g_hash_table_lookup(it->attrs, KR_A_COMMIT);
	const char *colon = v != NULL ? strchr(v, ':') : NULL;
	unsigned n;

	if (colon == NULL || parse_uint(colon + 1, 0, KR_VERSION_MAX, &n) < 0)
		return FALSE;
	*kind = g_strndup(v, (gsize)(colon - v));
	if (strcmp(*kind, "promote") != 0 && strcmp(*kind, "rollback") != 0) {
		g_clear_pointer(kind, g_free);
		return FALSE;
	}
	*old = n;
	return TRUE;
}

/*
 * Make 'newv' current and 'oldv' (the current one, may be NULL) previous,
 * through the commit intent:  intent -> demote -> retire -> promote ->
 * prune.  kind is "promote" (rotation) or "rollback".  Each step is
 * skipped when already done, so resume calls this too.
 */
static gboolean
promote(SmtpcredStore *store, KrAccountItems *a, KrItem *newv, KrItem *oldv,
	const SmtpcredSettings *settings, const char *kind, gint64 deadline,
	GError **error)
{
	gint64 now = kr_now();
	gboolean changed = FALSE;

	if (newv->state != SMTPCRED_STATE_CURRENT &&
	    !g_hash_table_contains(newv->attrs, KR_A_COMMIT)) {
		g_autofree char *intent = g_strdup_printf(
		    "%s:%u", kind, oldv != NULL ? oldv->version : 0);

		if (!set_attr(store, newv, KR_A_COMMIT, intent, deadline,
			      error))
			return FALSE;
	}
	crash_point(kind, "after-intent");

	if (oldv != NULL && oldv->state == SMTPCRED_STATE_CURRENT) {
		g_autoptr(GHashTable) at = kr_attrs_copy(oldv->attrs);
		gboolean rollback = strcmp(kind, "rollback") == 0;

		/* A rotation keeps the old password usable as `previous`
		 * for the grace window; a rolled-back password was the
		 * problem, so it is retired (a second rollback is refused). */
		g_hash_table_insert(at, g_strdup(KR_A_STATE),
				    g_strdup(rollback ? "retired" : "previous"));
		if (rollback)
			g_hash_table_remove(at, KR_A_GRACE_UNTIL);
		else
			kr_attrs_set_time(at, KR_A_GRACE_UNTIL,
					  now + (gint64)settings->grace_days *
						    86400);
		if (!kr_item_set_attrs(store, oldv, at, deadline, error))
			return FALSE;
		oldv->state = rollback ? SMTPCRED_STATE_RETIRED
				       : SMTPCRED_STATE_PREVIOUS;
	}
	crash_point(kind, "after-demote");

	if (!retire_others(store, a, oldv, newv, deadline, &changed, error))
		return FALSE;
	crash_point(kind, "after-retire");

	if (newv->state != SMTPCRED_STATE_CURRENT ||
	    g_hash_table_contains(newv->attrs, KR_A_COMMIT)) {
		g_autoptr(GHashTable) at = kr_attrs_copy(newv->attrs);
		gboolean fresh = newv->state == SMTPCRED_STATE_PENDING;

		g_hash_table_insert(at, g_strdup(KR_A_STATE),
				    g_strdup("current"));
		g_hash_table_remove(at, KR_A_COMMIT);
		g_hash_table_remove(at, KR_A_GRACE_UNTIL);
		if (fresh) {
			/* A new password: its age starts now.  A rolled-back
			 * one keeps its own promoted/not_after. */
			kr_attrs_set_time(at, KR_A_PROMOTED, now);
			if (settings->max_age_days > 0)
				kr_attrs_set_time(
				    at, KR_A_NOT_AFTER,
				    now +
					(gint64)settings->max_age_days * 86400);
			else
				g_hash_table_remove(at, KR_A_NOT_AFTER);
		}
		if (!kr_item_set_attrs(store, newv, at, deadline, error))
			return FALSE;
		newv->state = SMTPCRED_STATE_CURRENT;
	}
	crash_point(kind, "after-promote");

	if (!prune(store, a, settings, deadline, &changed, error))
		return FALSE;
	crash_point(kind, "after-prune");
	return TRUE;
}

static KrItem *
find_version(const KrAccountItems *a, guint version)
{
	for (guint i = 0; i < a->versions->len; i++) {
		KrItem *it = g_ptr_array_index(a->versions, i);

		if (it->version == version)
			return it;
	}
	return NULL;
}

static KrItem *
find_intent(const KrAccountItems *a, guint *count)
{
	KrItem *found = NULL;
	guint n = 0;

	for (guint i = 0; i < a->versions->len; i++) {
		KrItem *it = g_ptr_array_index(a->versions, i);

		if (g_hash_table_contains(it->attrs, KR_A_COMMIT)) {
			found = it;
			n++;
		}
	}
	*count = n;
	return found;
}

/* The newest `previous` (latest grace_until): the rollback target. */
static KrItem *
newest_previous(const KrAccountItems *a)
{
	KrItem *best = NULL;
	gint64 best_t = -1;

	for (guint i = 0; i < a->versions->len; i++) {
		KrItem *it = g_ptr_array_index(a->versions, i);
		gint64 t;

		if (it->state != SMTPCRED_STATE_PREVIOUS)
			continue;
		t = kr_attrs_get_time(it->attrs, KR_A_GRACE_UNTIL);
		if (best == NULL || t > best_t ||
		    (t == best_t && it->version > best->version)) {
			best = it;
			best_t = t;
		}
	}
	return best;
}

static gboolean
load_settings(const KrAccountItems *a, SmtpcredSettings *s, GError **error)
{
	if (a->account_item == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s': its settings item is missing",
			    a->name);
		return FALSE;
	}
	return kr_attrs_to_settings(a->account_item->attrs, s, error);
}

/* Run the verify hook on a stored pending version and record the result. */
static gboolean
verify_pending(SmtpcredStore *store, KrAccountItems *a, KrItem *pending,
	       const SmtpcredSettings *settings, SmtpcredVerifyFunc verify,
	       gpointer user_data, const char *secret, gsize secret_len,
	       GError **error)
{
	g_autoptr(SecretValue) value = NULL;
	g_autoptr(GError) local = NULL;
	char buf[RFC3339_BUFSZ];

	if (verify == NULL)
		return TRUE;
	if (secret == NULL) {
		value = kr_item_secret(store, pending, kr_deadline(store),
				       error);
		if (value == NULL)
			return FALSE;
		secret = secret_value_get(value, &secret_len);
	}
	if (!verify(settings, secret, secret_len, user_data, &local)) {
		kr_audit("rotate-verify", "failed", a->name, pending->version,
			 NULL, NULL, 0, local != NULL ? local->message : NULL,
			 NULL);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_VERIFY,
			    "the new password of '%s' did not verify: %s",
			    a->name,
			    local != NULL ? local->message : "refused");
		return FALSE;
	}
	g_clear_pointer(&value, secret_value_unref);
	if (format_rfc3339_utc(kr_now(), buf, sizeof(buf)) == 0 &&
	    !set_attr(store, pending, KR_A_VERIFIED, buf, kr_deadline(store),
		      error))
		return FALSE;
	kr_audit("rotate-verify", "ok", a->name, pending->version, NULL, NULL,
		 0, NULL, NULL);
	return TRUE;
}

/* The rotation itself; the caller holds the account lock. */
static gboolean
rotate_locked(SmtpcredStore *store, const char *name, const char *secret,
	      gsize secret_len, SmtpcredVerifyFunc verify, gpointer user_data,
	      const char *reason, guint *new_version, GError **error)
{
	g_auto(SmtpcredSettings) settings = {0};
	g_autoptr(KrAccountItems) a = NULL;
	g_autoptr(GHashTable) attrs = NULL;
	g_autofree char *rotation_id = NULL;
	g_autofree char *label = NULL;
	KrItem *cur, *pending, *intent;
	guint n_cur, n_pending, n_intent, old_version, version;
	gint64 deadline = kr_deadline(store);

	if (!kr_check_writable(store, deadline, error))
		return FALSE;
	a = kr_load_one(store, name, deadline, error);
	if (a == NULL || !load_settings(a, &settings, error))
		return FALSE;

	/* 1. snapshot */
	pending = kr_find_state(a, SMTPCRED_STATE_PENDING, &n_pending);
	intent = find_intent(a, &n_intent);
	if (n_pending > 0 || n_intent > 0) {
		KrItem *left = pending != NULL ? pending : intent;

		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_CONFLICT,
			    "account '%s' has an interrupted rotation "
			    "(version %u); run 'smtpcred rotate %s --resume' "
			    "to finish it or 'smtpcred rotate %s --abort' to "
			    "drop it",
			    name, left->version, name, name);
		return FALSE;
	}
	cur = kr_find_state(a, SMTPCRED_STATE_CURRENT, &n_cur);
	if (n_cur > 1) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AMBIGUOUS,
			    "account '%s' has %u current versions; refusing "
			    "to rotate (run 'smtpcred doctor')",
			    name, n_cur);
		return FALSE;
	}
	if (n_cur == 0 && a->versions->len > 0) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NOT_FOUND,
			    "account '%s' has no current version; run "
			    "'smtpcred doctor'",
			    name);
		return FALSE;
	}
	old_version = cur != NULL ? cur->version : 0;
	version = kr_max_version(a) + 1;
	if (version > KR_VERSION_MAX) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s' ran out of version numbers", name);
		return FALSE;
	}

	/* 2. create */
	rotation_id = g_uuid_string_random();
	attrs = kr_version_attrs(name, version, SMTPCRED_STATE_PENDING,
				 rotation_id);
	label = kr_version_label(name, version);
	if (!kr_item_create(store, attrs, label, secret, secret_len, deadline,
			    error))
		return FALSE;
	kr_audit("rotate-create", "ok", name, version, NULL, NULL, 0, reason,
		 NULL);
	kr_crash_point("after-create");

	g_clear_pointer(&a, kr_account_items_free);
	a = kr_load_one(store, name, kr_deadline(store), error);
	if (a == NULL)
		return FALSE;
	pending = find_version(a, version);
	if (pending == NULL ||
	    g_strcmp0(g_hash_table_lookup(pending->attrs, KR_A_ROTATION_ID),
		      rotation_id) != 0) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_CONFLICT,
			    "account '%s' changed during the rotation "
			    "(pending version %u is gone)",
			    name, version);
		return FALSE;
	}

	/* 3. verify: on failure `current` is untouched and the pending
	 * version is dropped. */
	if (!verify_pending(store, a, pending, &settings, verify, user_data,
			    secret, secret_len, error)) {
		kr_item_delete(store, pending, kr_deadline(store), NULL);
		return FALSE;
	}
	kr_crash_point("after-verify");

	/* 4. compare-and-set: `current` must still be version N. */
	g_clear_pointer(&a, kr_account_items_free);
	deadline = kr_deadline(store);
	a = kr_load_one(store, name, deadline, error);
	if (a == NULL)
		return FALSE;
	cur = kr_find_state(a, SMTPCRED_STATE_CURRENT, &n_cur);
	pending = find_version(a, version);
	if (n_cur > 1 || (cur != NULL ? cur->version : 0) != old_version ||
	    pending == NULL || pending->state != SMTPCRED_STATE_PENDING) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_CONFLICT,
			    "account '%s': the current version changed "
			    "during the rotation; nothing was promoted (run "
			    "'smtpcred rotate %s --abort')",
			    name, name);
		return FALSE;
	}
	if (!promote(store, a, pending, cur, &settings, "promote", deadline,
		     error))
		return FALSE;
	kr_audit("rotate-promote", "ok", name, version, NULL, NULL, 0, reason,
		 NULL);
	if (new_version != NULL)
		*new_version = version;
	return TRUE;
}

gboolean
smtpcred_store_rotate(SmtpcredStore *store, const char *name,
		      const char *secret, gsize secret_len,
		      SmtpcredVerifyFunc verify, gpointer user_data,
		      const char *reason, guint *new_version, GError **error)
{
	g_auto(AccountLock) lock = {-1};
	g_autoptr(GError) local = NULL;

	if (!kr_check_secret(name, secret, secret_len, &local) ||
	    !lock_for_change(name, &lock, &local))
		goto fail;
	if (!rotate_locked(store, name, secret, secret_len, verify, user_data,
			   reason != NULL ? reason : "manual", new_version,
			   &local))
		goto fail;
	return TRUE;

fail:
	kr_audit_failure("rotate", name, local);
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

static gboolean
resume_locked(SmtpcredStore *store, const char *name,
	      SmtpcredVerifyFunc verify, gpointer user_data,
	      gboolean *repaired, GError **error)
{
	g_auto(SmtpcredSettings) settings = {0};
	g_autoptr(KrAccountItems) a = NULL;
	KrItem *cur, *pending, *intent;
	guint n_cur, n_pending, n_intent;
	gint64 deadline = kr_deadline(store);
	gboolean changed = FALSE;

	*repaired = FALSE;
	if (!kr_check_writable(store, deadline, error))
		return FALSE;
	a = kr_load_one(store, name, deadline, error);
	if (a == NULL || !load_settings(a, &settings, error))
		return FALSE;
	cur = kr_find_state(a, SMTPCRED_STATE_CURRENT, &n_cur);
	pending = kr_find_state(a, SMTPCRED_STATE_PENDING, &n_pending);
	intent = find_intent(a, &n_intent);

	if (n_intent > 1 || n_cur > 1 ||
	    (n_intent == 0 && n_pending > 1)) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AMBIGUOUS,
			    "account '%s' is in a state resume cannot "
			    "repair safely (%u current, %u pending, %u "
			    "intents); fix it by hand with 'smtpcred show'",
			    name, n_cur, n_pending, n_intent);
		return FALSE;
	}
	if (intent != NULL) {
		/* Roll the committed promote/rollback forward. */
		g_autofree char *kind = NULL;
		guint old = 0;
		KrItem *oldv;

		if (!parse_intent(intent, &kind, &old)) {
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_INVALID,
				    "account '%s': version %u has a malformed "
				    "commit intent",
				    name, intent->version);
			return FALSE;
		}
		oldv = old > 0 ? find_version(a, old) : NULL;
		if (cur != NULL && cur != intent && cur != oldv) {
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_AMBIGUOUS,
				    "account '%s': version %u is current but "
				    "the interrupted %s was to replace version "
				    "%u; fix it by hand",
				    name, cur->version, kind, old);
			return FALSE;
		}
		if (!promote(store, a, intent, oldv, &settings, kind, deadline,
			     error))
			return FALSE;
		kr_audit("rotate-resume", "ok", name, intent->version, NULL,
			 NULL, 0, kind, NULL);
		*repaired = TRUE;
		return TRUE;
	}
	if (pending != NULL) {
		/* Not committed yet: continue from verify. */
		if (!verify_pending(store, a, pending, &settings, verify,
				    user_data, NULL, 0, error))
			return FALSE;
		if (!promote(store, a, pending, cur, &settings, "promote",
			     kr_deadline(store), error))
			return FALSE;
		kr_audit("rotate-resume", "ok", name, pending->version, NULL,
			 NULL, 0, "promote", NULL);
		*repaired = TRUE;
		return TRUE;
	}
	if (cur == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NOT_FOUND,
			    "account '%s' has no current version and nothing "
			    "to resume",
			    name);
		return FALSE;
	}
	/* Finish the prune a crash after promote left over (and, as a
	 * repair, retire all but the newest `previous`). */
	if (!retire_others(store, a, newest_previous(a), NULL, deadline,
			   &changed, error) ||
	    !prune(store, a, &settings, deadline, &changed, error))
		return FALSE;
	if (changed)
		kr_audit("rotate-resume", "ok", name, cur->version, NULL, NULL,
			 0, "retire/prune", NULL);
	*repaired = changed;
	return TRUE;
}

gboolean
smtpcred_store_rotate_resume(SmtpcredStore *store, const char *name,
			     SmtpcredVerifyFunc verify, gpointer user_data,
			     gboolean *repaired, GError **error)
{
	g_auto(AccountLock) lock = {-1};
	g_autoptr(GError) local = NULL;
	gboolean fixed = FALSE;

	if (!lock_for_change(name, &lock, &local))
		goto fail;
	if (!resume_locked(store, name, verify, user_data, &fixed, &local))
		goto fail;
	if (repaired != NULL)
		*repaired = fixed;
	return TRUE;

fail:
	kr_audit_failure("rotate-resume", name, local);
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

gboolean
smtpcred_store_rotate_abort(SmtpcredStore *store, const char *name,
			    GError **error)
{
	g_auto(AccountLock) lock = {-1};
	g_autoptr(GError) local = NULL;
	g_autoptr(KrAccountItems) a = NULL;
	KrItem *pending;
	guint n_pending, n_intent;
	gint64 deadline = kr_deadline(store);

	a = begin_change(store, name, &lock, deadline, &local);
	if (a == NULL)
		goto fail;
	find_intent(a, &n_intent);
	if (n_intent > 0) {
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_CONFLICT,
			    "account '%s': the rotation is already committed; "
			    "run 'smtpcred rotate %s --resume' to finish it "
			    "(then 'smtpcred rollback %s' if needed)",
			    name, name, name);
		goto fail;
	}
	pending = kr_find_state(a, SMTPCRED_STATE_PENDING, &n_pending);
	if (pending == NULL) {
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_NOT_FOUND,
			    "account '%s' has no pending rotation to abort",
			    name);
		goto fail;
	}
	for (guint i = 0; i < a->versions->len; i++) {
		KrItem *it = g_ptr_array_index(a->versions, i);

		if (it->state != SMTPCRED_STATE_PENDING)
			continue;
		if (!kr_item_delete(store, it, deadline, &local))
			goto fail;
		kr_audit("rotate-abort", "ok", name, it->version, NULL, NULL, 0,
			 NULL, NULL);
	}
	return TRUE;

fail:
	kr_audit_failure("rotate-abort", name, local);
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

gboolean
smtpcred_store_rollback(SmtpcredStore *store, const char *name,
			GError **error)
{
	g_auto(AccountLock) lock = {-1};
	g_auto(SmtpcredSettings) settings = {0};
	g_autoptr(GError) local = NULL;
	g_autoptr(KrAccountItems) a = NULL;
	KrItem *cur, *prev;
	guint n_cur, n_pending, n_intent;
	gint64 deadline = kr_deadline(store), grace;

	a = begin_change(store, name, &lock, deadline, &local);
	if (a == NULL || !load_settings(a, &settings, &local))
		goto fail;
	kr_find_state(a, SMTPCRED_STATE_PENDING, &n_pending);
	find_intent(a, &n_intent);
	if (n_pending > 0 || n_intent > 0) {
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_CONFLICT,
			    "account '%s' has an interrupted rotation; run "
			    "'smtpcred rotate %s --resume' or '--abort' first",
			    name, name);
		goto fail;
	}
	cur = kr_find_state(a, SMTPCRED_STATE_CURRENT, &n_cur);
	if (n_cur != 1) {
		g_set_error(&local, SMTPCRED_ERROR,
			    n_cur > 1 ? SMTPCRED_ERROR_AMBIGUOUS
				      : SMTPCRED_ERROR_NOT_FOUND,
			    "account '%s' has %u current versions; cannot "
			    "roll back",
			    name, n_cur);
		goto fail;
	}
	prev = newest_previous(a);
	if (prev == NULL) {
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_NOT_FOUND,
			    "account '%s' has no previous version to roll "
			    "back to",
			    name);
		goto fail;
	}
	grace = kr_attrs_get_time(prev->attrs, KR_A_GRACE_UNTIL);
	if (grace <= kr_now()) {
		char when[RFC3339_BUFSZ] = "unknown";

		format_rfc3339_utc(grace, when, sizeof(when));
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_POLICY,
			    "account '%s': the grace window of version %u "
			    "closed at %s; rotate to a new password instead",
			    name, prev->version, when);
		goto fail;
	}
	if (!promote(store, a, prev, cur, &settings, "rollback", deadline,
		     &local))
		goto fail;
	kr_audit("rollback", "ok", name, prev->version, NULL, NULL, 0, NULL,
		 NULL);
	return TRUE;

fail:
	kr_audit_failure("rollback", name, local);
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

gboolean
smtpcred_store_sync(SmtpcredStore *store, const char *name,
		    const char *secret, gsize secret_len, const char *reason,
		    gboolean *changed, GError **error)
{
	g_auto(AccountLock) lock = {-1};
	g_auto(SmtpcredSettings) settings = {0};
	g_autoptr(GError) local = NULL;
	g_autoptr(KrAccountItems) a = NULL;
	g_autoptr(SecretValue) value = NULL;
	KrItem *usable;
	const char *stored;
	gsize stored_len = 0;
	gint64 deadline = kr_deadline(store);

	if (!kr_check_secret(name, secret, secret_len, &local))
		goto fail;
	a = begin_change(store, name, &lock, deadline, &local);
	if (a == NULL || !load_settings(a, &settings, &local))
		goto fail;
	if (g_strcmp0(settings.source, "login") != 0) {
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_POLICY,
			    "account '%s' is not kept in step with the login "
			    "password (it was not added with --source login)",
			    name);
		goto fail;
	}
	if (a->versions->len > 0) {
		usable = kr_usable_item(a, &local);
		if (usable == NULL)
			goto fail;
		value = kr_item_secret(store, usable, deadline, &local);
		if (value == NULL)
			goto fail;
		stored = secret_value_get(value, &stored_len);
		if (secure_memeq(stored, stored_len, secret, secret_len) == 0) {
			*changed = FALSE;
			return TRUE;
		}
		g_clear_pointer(&value, secret_value_unref);
	}
	if (!rotate_locked(store, name, secret, secret_len, NULL, NULL, reason,
			   NULL, &local))
		goto fail;
	*changed = TRUE;
	return TRUE;

fail:
	kr_audit_failure("sync", name, local);
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}
