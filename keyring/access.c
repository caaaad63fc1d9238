/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who may send with an account through the broker (docs/broker.md): three
 * comma-separated lists kept as attributes of the account's settings item
 * in the system store (allow_users, allow_groups, allow_units), so they
 * are sealed and checked with it, and every change is audited.
 */
#include "config.h"

#include "internal.h"

#define ACCESS_TOKENS_MAX 64
#define ACCESS_TOKEN_MAX  256 /* a unit name's maximum */

static const char *const access_keys[] = {"allow_users", "allow_groups",
					  "allow_units"};

static gboolean
token_char(char c)
{
	return g_ascii_isalnum(c) || strchr("_.@:-\\\\", c) != NULL;
}

/* NULL or "" (none), or TOKEN[,TOKEN...] of names or numbers. */
static gboolean
valid_list(const char *what, const char *list, GError **error)
{
	guint n = 0, len = 0;

	if (list == NULL || *list == '\0')
		return TRUE;
	for (const char *p = list;; p++) {
		if (*p == ',' || *p == '\0') {
			if (len == 0 || ++n > ACCESS_TOKENS_MAX)
				goto bad;
			len = 0;
			if (*p == '\0')
				return TRUE;
		} else if (!token_char(*p) || ++len > ACCESS_TOKEN_MAX) {
			goto bad;
		}
	}
bad:
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
		    "%s: '%s' is not a comma-separated list of at most %d "
		    "names or numbers",
		    what, list, ACCESS_TOKENS_MAX);
	return FALSE;
}

void
smtpcred_access_clear(SmtpcredAccess *a)
{
	if (a == NULL)
		return;
	g_clear_pointer(&a->users, g_free);
	g_clear_pointer(&a->groups, g_free);
	g_clear_pointer(&a->units, g_free);
}

gboolean
smtpcred_store_get_access(SmtpcredStore *store, const char *name,
			  SmtpcredAccess *out, GError **error)
{
	g_autoptr(KrAccountItems) a = NULL;
	GHashTable *attrs;

	if (!kr_validate_name(name, error))
		return FALSE;
	a = kr_load_one(store, name, kr_deadline(store), error);
	if (a == NULL)
		return FALSE;
	if (a->account_item == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s': its settings item is missing", name);
		return FALSE;
	}
	attrs = a->account_item->attrs;
	out->users = g_strdup(g_hash_table_lookup(attrs, access_keys[0]));
	out->groups = g_strdup(g_hash_table_lookup(attrs, access_keys[1]));
	out->units = g_strdup(g_hash_table_lookup(attrs, access_keys[2]));
	return TRUE;
}

gboolean
smtpcred_store_set_access(SmtpcredStore *store, const char *name,
			  const SmtpcredAccess *access, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(KrAccountItems) a = NULL;
	g_autoptr(GHashTable) attrs = NULL;
	g_autofree char *detail = NULL;
	const char *lists[] = {access->users, access->groups, access->units};
	gint64 deadline = kr_deadline(store);

	if (!kr_validate_name(name, &local))
		goto fail;
	if (!store->files) {
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "access lists belong to the system store "
			    "(smtpcred --system)");
		goto fail;
	}
	if (!valid_list("users", access->users, &local) ||
	    !valid_list("groups", access->groups, &local) ||
	    !valid_list("units", access->units, &local) ||
	    !kr_audit_ready(&local) ||
	    !kr_check_writable(store, deadline, &local))
		goto fail;
	a = kr_load_one(store, name, deadline, &local);
	if (a == NULL)
		goto fail;
	if (a->account_item == NULL) {
		g_set_error(&local, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s': its settings item is missing", name);
		goto fail;
	}
	attrs = kr_attrs_copy(a->account_item->attrs);
	for (guint i = 0; i < G_N_ELEMENTS(access_keys); i++) {
		if (lists[i] != NULL && *lists[i] != '\0')
			g_hash_table_replace(attrs, g_strdup(access_keys[i]),
					     g_strdup(lists[i]));
		else
			g_hash_table_remove(attrs, access_keys[i]);
	}
	if (!kr_item_set_attrs(store, a->account_item, attrs, deadline,
			       &local))
		goto fail;
	detail = g_strdup_printf("users=%s groups=%s units=%s",
				 lists[0] ? lists[0] : "",
				 lists[1] ? lists[1] : "",
				 lists[2] ? lists[2] : "");
	if (!kr_audit("access", "ok", name, 0, NULL, NULL, 0, detail,
		      &local)) {
		g_prefix_error(&local, "account '%s': access set, but ", name);
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	return TRUE;
fail:
	kr_audit_failure("access", name, local);
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}
