/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The credential model: the Secret Service schema, the attribute mapping
 * of accounts and versions, validation, and which version is usable.
 *
 * Attributes are readable by every program of the session: nothing here
 * is derived from a secret.  Timestamps are RFC 3339 UTC strings (the
 * INTEGER attribute path of libsecret is 32-bit).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"
#include "logsafe.h"
#include "parse.h"

/* clang-format off */
const SecretSchema kr_schema = {
	.name = SMTPCRED_SCHEMA_NAME,
	.flags = SECRET_SCHEMA_NONE,
	.attributes = {
		{ KR_A_KIND,		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_ACCOUNT,		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "host",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "port",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "tls",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "user",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "mechs",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "ca_file",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "pin",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "max_age_days",	SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "warn_days",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "grace_days",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "keep",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "enforce",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "audit_fail",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "source",		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_VERSION,		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_STATE,		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_COMMIT,		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_ROTATION_ID,	SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_CREATED,		SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_PROMOTED,	SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_VERIFIED,	SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_NOT_AFTER,	SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_GRACE_UNTIL,	SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ KR_A_SCHEMA_REV,	SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
};

static const char *const state_names[] = {
	[SMTPCRED_STATE_PENDING]	= "pending",
	[SMTPCRED_STATE_CURRENT]	= "current",
	[SMTPCRED_STATE_PREVIOUS]	= "previous",
	[SMTPCRED_STATE_RETIRED]	= "retired",
};
/* clang-format on */
_Static_assert(G_N_ELEMENTS(state_names) == SMTPCRED_STATE_RETIRED + 1,
	       "state_names out of sync with SmtpcredState");

const char *
smtpcred_state_to_string(SmtpcredState s)
{
	if ((unsigned)s > SMTPCRED_STATE_RETIRED)
		return "unknown";
	return state_names[s];
}

static gboolean
state_from_string(const char *s, SmtpcredState *out)
{
	for (unsigned i = 0; i < G_N_ELEMENTS(state_names); i++) {
		if (g_strcmp0(s, state_names[i]) == 0) {
			*out = (SmtpcredState)i;
			return TRUE;
		}
	}
	return FALSE;
}

gint64
kr_now(void)
{
#ifdef SMTPCRED_TEST_HOOKS
	const char *s = g_getenv("SMTPCRED_TEST_NOW");
	int64_t t;

	if (s != NULL && parse_int64(s, 0, INT64_MAX / 2, &t) == 0)
		return t;
#endif
	return (gint64)time(NULL);
}

gint64
smtpcred_now(void)
{
	return kr_now();
}

void
kr_crash_point(const char *point)
{
#ifdef SMTPCRED_TEST_HOOKS
	const char *at = g_getenv("SMTPCRED_TEST_CRASH_AT");
	const char *pause_at = g_getenv("SMTPCRED_TEST_PAUSE_AT");
	const char *fifo = g_getenv("SMTPCRED_TEST_PAUSE_FIFO");

	if (at != NULL && strcmp(at, point) == 0)
		raise(SIGKILL);
	/* Pause here until the test has done something to the world (kill
	 * the keyring daemon): PATH.ready says we are here, then wait for
	 * the FIFO at PATH to be opened for writing and closed. */
	if (pause_at != NULL && fifo != NULL && strcmp(pause_at, point) == 0) {
		g_autofree char *ready = g_strdup_printf("%s.ready", fifo);
		char c;
		int fd;

		if (g_file_set_contents(ready, point, -1, NULL)) {
			fd = open(fifo, O_RDONLY | O_CLOEXEC);
			while (fd >= 0 && read(fd, &c, 1) > 0)
				;
			if (fd >= 0)
				close(fd);
		}
	}
#else
	(void)point;
#endif
}

void
kr_item_free(KrItem *it)
{
	if (it == NULL)
		return;
	g_clear_object(&it->item);
	g_free(it->path);
	g_clear_pointer(&it->attrs, g_hash_table_unref);
	g_free(it);
}

void
kr_account_items_free(KrAccountItems *a)
{
	if (a == NULL)
		return;
	g_free(a->name);
	kr_item_free(a->account_item);
	g_clear_pointer(&a->versions, g_ptr_array_unref);
	g_free(a);
}

gboolean
kr_validate_name(const char *name, GError **error)
{
	if (name == NULL || !logsafe_is_name(name, strlen(name))) {
		char esc[LOGSAFE_MAX(KR_NAME_MAX + 1)];

		if (name != NULL)
			logsafe_escape(esc, sizeof(esc), name, strlen(name));
		else
			g_strlcpy(esc, "(none)", sizeof(esc));
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "invalid account name '%s': use 1-%d characters "
			    "of A-Z a-z 0-9 . _ -, not starting with . or -",
			    esc, KR_NAME_MAX);
		return FALSE;
	}
	return TRUE;
}

static gboolean
is_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 ||
	       strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0;
}

/* A host name or address literal: no spaces, controls or URL syntax. */
static gboolean
valid_host(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 253)
		return FALSE;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];

		if (!g_ascii_isalnum(c) && c != '.' && c != '-' && c != ':' &&
		    c != '_')
			return FALSE;
	}
	return TRUE;
}

static gboolean
valid_mechs(const char *m)
{
	g_auto(GStrv) parts = NULL;

	if (m == NULL || *m == '\0' || strlen(m) > 200)
		return FALSE;
	parts = g_strsplit(m, ",", -1);
	for (char **p = parts; *p != NULL; p++) {
		if (**p == '\0')
			return FALSE;
		for (const char *c = *p; *c != '\0'; c++)
			if (!g_ascii_isupper(*c) && !g_ascii_isdigit(*c) &&
			    *c != '-' && *c != '_')
				return FALSE;
	}
	return TRUE;
}

gboolean
kr_validate_settings(const SmtpcredSettings *s, GError **error)
{
	const char *bad = NULL;

	if (!kr_validate_name(s->name, error))
		return FALSE;
	if (s->host == NULL || !valid_host(s->host))
		bad = "host: a host name or IP address is required";
	else if (s->port == 0)
		bad = "port: must be 1-65535";
	else if (s->tls == NULL || (strcmp(s->tls, "implicit") != 0 &&
				    strcmp(s->tls, "starttls") != 0 &&
				    strcmp(s->tls, "none-loopback") != 0))
		bad = "tls: must be implicit, starttls or none-loopback";
	else if (strcmp(s->tls, "none-loopback") == 0 && !is_loopback(s->host))
		bad = "tls none-loopback is only allowed to localhost, "
		      "127.0.0.1 or ::1";
	else if (s->user == NULL || *s->user == '\0' || strlen(s->user) > 255 ||
		 !logsafe_no_crlf_nul(s->user, strlen(s->user)))
		bad = "user: 1-255 bytes without CR, LF or NUL";
	else if (!valid_mechs(s->mechs))
		bad = "mechs: a comma-separated list like PLAIN,LOGIN";
	else if (s->ca_file != NULL &&
		 (s->ca_file[0] != '/' || strlen(s->ca_file) > 4095 ||
		  !logsafe_no_crlf_nul(s->ca_file, strlen(s->ca_file))))
		bad = "ca-file: an absolute path is required";
	else if (s->pin != NULL && (!g_str_has_prefix(s->pin, "sha256//") ||
				    strlen(s->pin) != 8 + 44))
		bad = "pin: expected sha256// and 44 characters of base64";
	else if (s->max_age_days > 36500 || s->warn_days > 36500 ||
		 s->grace_days > 36500)
		bad = "days: at most 36500";
	else if (s->keep > 100)
		bad = "keep: at most 100";
	else if (s->source != NULL && strcmp(s->source, "login") != 0)
		bad = "source: only 'login' is known";
	if (bad != NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s': %s", s->name, bad);
		return FALSE;
	}
	if (s->pin != NULL) {
		gsize n = 0;
		g_autofree guchar *raw = g_base64_decode(s->pin + 8, &n);

		if (n != 32) {
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_INVALID,
				    "account '%s': pin is not the base64 of a "
				    "SHA-256 digest",
				    s->name);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
smtpcred_name_validate(const char *name, GError **error)
{
	return kr_validate_name(name, error);
}

gboolean
smtpcred_settings_validate(const SmtpcredSettings *s, GError **error)
{
	return kr_validate_settings(s, error);
}

static GHashTable *
attrs_new(void)
{
	return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

GHashTable *
kr_attrs_copy(GHashTable *attrs)
{
	GHashTable *c = attrs_new();
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, attrs);
	while (g_hash_table_iter_next(&it, &k, &v))
		if (strcmp(k, "xdg:schema") != 0)
			g_hash_table_insert(c, g_strdup(k), g_strdup(v));
	return c;
}

void
kr_attrs_set_time(GHashTable *attrs, const char *key, gint64 t)
{
	char buf[RFC3339_BUFSZ];

	if (t <= 0 || format_rfc3339_utc(t, buf, sizeof(buf)) < 0) {
		g_hash_table_remove(attrs, key);
		return;
	}
	g_hash_table_insert(attrs, g_strdup(key), g_strdup(buf));
}

gint64
kr_attrs_get_time(GHashTable *attrs, const char *key)
{
	const char *s = g_hash_table_lookup(attrs, key);
	int64_t t;

	if (s == NULL || parse_rfc3339_utc(s, &t) < 0)
		return 0;
	return t;
}

static void
set_uint(GHashTable *attrs, const char *key, guint v)
{
	g_hash_table_insert(attrs, g_strdup(key), g_strdup_printf("%u", v));
}

static void
set_str(GHashTable *attrs, const char *key, const char *v)
{
	if (v != NULL)
		g_hash_table_insert(attrs, g_strdup(key), g_strdup(v));
}

GHashTable *
kr_settings_to_attrs(const SmtpcredSettings *s)
{
	GHashTable *a = attrs_new();

	set_str(a, KR_A_KIND, "account");
	set_str(a, KR_A_ACCOUNT, s->name);
	set_str(a, "host", s->host);
	set_uint(a, "port", s->port);
	set_str(a, "tls", s->tls);
	set_str(a, "user", s->user);
	set_str(a, "mechs", s->mechs);
	set_str(a, "ca_file", s->ca_file);
	set_str(a, "pin", s->pin);
	set_uint(a, "max_age_days", s->max_age_days);
	set_uint(a, "warn_days", s->warn_days);
	set_uint(a, "grace_days", s->grace_days);
	set_uint(a, "keep", s->keep);
	set_str(a, "enforce", s->enforce ? "yes" : "no");
	set_str(a, "audit_fail", s->audit_fail_open ? "open" : "closed");
	set_str(a, "source", s->source);
	kr_attrs_set_time(a, KR_A_CREATED, s->created);
	set_str(a, KR_A_SCHEMA_REV, SMTPCRED_SCHEMA_REV);
	return a;
}

static gboolean
get_uint(GHashTable *attrs, const char *key, unsigned max, guint *out,
	 const char *account, GError **error)
{
	const char *s = g_hash_table_lookup(attrs, key);
	unsigned v;

	if (s == NULL || parse_uint(s, 0, max, &v) < 0) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s': stored attribute '%s' is missing "
			    "or not a number",
			    account, key);
		return FALSE;
	}
	*out = v;
	return TRUE;
}

gboolean
kr_attrs_to_settings(GHashTable *attrs, SmtpcredSettings *out, GError **error)
{
	SmtpcredSettings s = {0};
	const char *name = g_hash_table_lookup(attrs, KR_A_ACCOUNT);
	guint port = 0;
	gboolean ok;

	if (name == NULL)
		name = "?";
	s.name = g_strdup(name);
	s.host = g_strdup(g_hash_table_lookup(attrs, "host"));
	s.tls = g_strdup(g_hash_table_lookup(attrs, "tls"));
	s.user = g_strdup(g_hash_table_lookup(attrs, "user"));
	s.mechs = g_strdup(g_hash_table_lookup(attrs, "mechs"));
	s.ca_file = g_strdup(g_hash_table_lookup(attrs, "ca_file"));
	s.pin = g_strdup(g_hash_table_lookup(attrs, "pin"));
	s.source = g_strdup(g_hash_table_lookup(attrs, "source"));
	s.enforce = g_strcmp0(g_hash_table_lookup(attrs, "enforce"), "yes") == 0;
	s.audit_fail_open =
	    g_strcmp0(g_hash_table_lookup(attrs, "audit_fail"), "open") == 0;
	s.created = kr_attrs_get_time(attrs, KR_A_CREATED);
	ok = get_uint(attrs, "port", 65535, &port, name, error) &&
	     get_uint(attrs, "max_age_days", 36500, &s.max_age_days, name,
		      error) &&
	     get_uint(attrs, "warn_days", 36500, &s.warn_days, name, error) &&
	     get_uint(attrs, "grace_days", 36500, &s.grace_days, name,
		      error) &&
	     get_uint(attrs, "keep", 100, &s.keep, name, error);
	s.port = (guint16)port;
	if (ok)
		ok = kr_validate_settings(&s, error);
	if (!ok) {
		smtpcred_settings_clear(&s);
		return FALSE;
	}
	*out = s;
	return TRUE;
}

void
smtpcred_settings_clear(SmtpcredSettings *s)
{
	if (s == NULL)
		return;
	g_clear_pointer(&s->name, g_free);
	g_clear_pointer(&s->host, g_free);
	g_clear_pointer(&s->tls, g_free);
	g_clear_pointer(&s->user, g_free);
	g_clear_pointer(&s->mechs, g_free);
	g_clear_pointer(&s->ca_file, g_free);
	g_clear_pointer(&s->pin, g_free);
	g_clear_pointer(&s->source, g_free);
}

static void
version_free(gpointer p)
{
	SmtpcredVersion *v = p;

	g_free(v->rotation_id);
	g_free(v);
}

void
smtpcred_account_free(SmtpcredAccount *a)
{
	if (a == NULL)
		return;
	smtpcred_settings_clear(&a->settings);
	g_clear_pointer(&a->versions, g_ptr_array_unref);
	g_free(a);
}

void
kr_version_from_item(const KrItem *it, SmtpcredVersion *out)
{
	out->version = it->version;
	out->state = it->state;
	out->locked = it->locked;
	out->commit = g_hash_table_contains(it->attrs, KR_A_COMMIT);
	out->rotation_id =
	    g_strdup(g_hash_table_lookup(it->attrs, KR_A_ROTATION_ID));
	out->created = kr_attrs_get_time(it->attrs, KR_A_CREATED);
	out->promoted = kr_attrs_get_time(it->attrs, KR_A_PROMOTED);
	out->verified = kr_attrs_get_time(it->attrs, KR_A_VERIFIED);
	out->not_after = kr_attrs_get_time(it->attrs, KR_A_NOT_AFTER);
	out->grace_until = kr_attrs_get_time(it->attrs, KR_A_GRACE_UNTIL);
}

SmtpcredAccount *
kr_account_from_items(const KrAccountItems *a, GError **error)
{
	g_autoptr(SmtpcredAccount) acc = g_new0(SmtpcredAccount, 1);

	if (a->account_item == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s': its settings item is missing "
			    "(the store is damaged; remove and add it again)",
			    a->name);
		return NULL;
	}
	if (!kr_attrs_to_settings(a->account_item->attrs, &acc->settings,
				  error))
		return NULL;
	acc->locked = a->locked;
	acc->versions = g_ptr_array_new_with_free_func(version_free);
	for (guint i = 0; i < a->versions->len; i++) {
		SmtpcredVersion *v = g_new0(SmtpcredVersion, 1);

		kr_version_from_item(g_ptr_array_index(a->versions, i), v);
		g_ptr_array_add(acc->versions, v);
	}
	return g_steal_pointer(&acc);
}

/* Parse the version/state attributes of a version item into it. */
gboolean
kr_item_parse_version(KrItem *it, GError **error)
{
	const char *vs = g_hash_table_lookup(it->attrs, KR_A_VERSION);
	const char *st = g_hash_table_lookup(it->attrs, KR_A_STATE);
	const char *acc = g_hash_table_lookup(it->attrs, KR_A_ACCOUNT);
	unsigned v;

	if (vs == NULL || parse_uint(vs, 1, KR_VERSION_MAX, &v) < 0 ||
	    !state_from_string(st, &it->state)) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "account '%s': a version item has a bad version "
			    "or state attribute",
			    acc != NULL ? acc : "?");
		return FALSE;
	}
	it->version = v;
	return TRUE;
}

KrItem *
kr_find_state(const KrAccountItems *a, SmtpcredState st, guint *count)
{
	KrItem *found = NULL;
	guint n = 0;

	for (guint i = 0; i < a->versions->len; i++) {
		KrItem *it = g_ptr_array_index(a->versions, i);

		if (it->state == st) {
			found = it;
			n++;
		}
	}
	if (count != NULL)
		*count = n;
	return found;
}

guint
kr_max_version(const KrAccountItems *a)
{
	guint m = 0;

	for (guint i = 0; i < a->versions->len; i++) {
		KrItem *it = g_ptr_array_index(a->versions, i);

		m = MAX(m, it->version);
	}
	return m;
}

/*
 * The usable version: the single `current`.  A promote or rollback that
 * was interrupted between demoting the old version and promoting the new
 * one leaves no `current` but exactly one version with a commit intent;
 * that one is usable (roll-forward, as resume will finish it).  Two
 * candidates are ambiguous and refused.
 */
KrItem *
kr_usable_item(const KrAccountItems *a, GError **error)
{
	KrItem *cur, *intent = NULL;
	guint n_cur, n_intent = 0;

	cur = kr_find_state(a, SMTPCRED_STATE_CURRENT, &n_cur);
	if (n_cur == 1)
		return cur;
	if (n_cur > 1) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AMBIGUOUS,
			    "account '%s' has %u current versions; refusing "
			    "to choose (run 'smtpcred doctor')",
			    a->name, n_cur);
		return NULL;
	}
	for (guint i = 0; i < a->versions->len; i++) {
		KrItem *it = g_ptr_array_index(a->versions, i);

		if (g_hash_table_contains(it->attrs, KR_A_COMMIT)) {
			intent = it;
			n_intent++;
		}
	}
	if (n_intent == 1)
		return intent;
	if (n_intent > 1) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AMBIGUOUS,
			    "account '%s' has %u half-finished promotions; "
			    "refusing to choose (run 'smtpcred doctor')",
			    a->name, n_intent);
		return NULL;
	}
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NOT_FOUND,
		    a->account_item != NULL &&
			    g_strcmp0(g_hash_table_lookup(
					  a->account_item->attrs, "source"),
				      "login") == 0
			? "account '%s' has no current version yet (it is "
			  "stored at the next login)"
			: "account '%s' has no current version",
		    a->name);
	return NULL;
}

const SmtpcredVersion *
smtpcred_account_usable(const SmtpcredAccount *a, GError **error)
{
	const SmtpcredVersion *cur = NULL, *intent = NULL;
	guint n_cur = 0, n_intent = 0;

	for (guint i = 0; i < a->versions->len; i++) {
		const SmtpcredVersion *v = g_ptr_array_index(a->versions, i);

		if (v->state == SMTPCRED_STATE_CURRENT) {
			cur = v;
			n_cur++;
		}
		if (v->commit) {
			intent = v;
			n_intent++;
		}
	}
	if (n_cur == 1)
		return cur;
	if (n_cur == 0 && n_intent == 1)
		return intent;
	if (n_cur > 1 || n_intent > 1)
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AMBIGUOUS,
			    "account '%s' has more than one usable version",
			    a->settings.name);
	else
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NOT_FOUND,
			    "account '%s' has no current version",
			    a->settings.name);
	return NULL;
}

char *
kr_version_label(const char *account, guint version)
{
	if (version == 0)
		return g_strdup_printf("smtpcred account %s", account);
	return g_strdup_printf("smtpcred %s password v%u", account, version);
}
