/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for keyring/model.c: the mapping from Secret Service item
 * attributes (strings anyone with access to the keyring can edit) to the
 * credential model.  The input is "key=value" lines.  Properties (abort()
 * otherwise):
 *   - kr_attrs_to_settings() either fails with INVALID and leaves *out
 *     alone, or gives settings that validate and that survive the trip
 *     back: kr_settings_to_attrs() then kr_attrs_to_settings() gives the
 *     same settings (a creation time before 1970 is not written back:
 *     kr_attrs_set_time() drops times <= 0);
 *   - kr_item_parse_version() either fails with INVALID or gives a
 *     version in 1..KR_VERSION_MAX, and the version record built from the
 *     item has its state, version and the times the attributes hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static GHashTable *
attrs_from(const uint8_t *data, size_t size)
{
	GHashTable *a = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					      g_free);
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		const char *eq = memchr(p, '=', (size_t)(le - p));

		/* D-Bus strings are UTF-8 without NUL; g_strndup cuts at
		 * a NUL, and invalid UTF-8 stays: the parser must cope. */
		if (eq != NULL)
			g_hash_table_insert(a, g_strndup(p, (gsize)(eq - p)),
					    g_strndup(eq + 1,
						      (gsize)(le - eq - 1)));
		p = nl != NULL ? nl + 1 : end;
	}
	return a;
}

static void
same_settings(const SmtpcredSettings *a, const SmtpcredSettings *b)
{
	if (g_strcmp0(a->name, b->name) != 0 ||
	    g_strcmp0(a->host, b->host) != 0 ||
	    g_strcmp0(a->tls, b->tls) != 0 ||
	    g_strcmp0(a->user, b->user) != 0 ||
	    g_strcmp0(a->mechs, b->mechs) != 0 ||
	    g_strcmp0(a->ca_file, b->ca_file) != 0 ||
	    g_strcmp0(a->pin, b->pin) != 0 ||
	    g_strcmp0(a->source, b->source) != 0 || a->port != b->port ||
	    a->max_age_days != b->max_age_days ||
	    a->warn_days != b->warn_days || a->grace_days != b->grace_days ||
	    a->keep != b->keep || a->enforce != b->enforce ||
	    a->audit_fail_open != b->audit_fail_open ||
	    (a->created > 0 && a->created != b->created))
		abort();
}

static void
check_settings(GHashTable *attrs)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) back = NULL;
	SmtpcredSettings s, s2;

	memset(&s, 0xa5, sizeof(s));
	if (!kr_attrs_to_settings(attrs, &s, &error)) {
		const unsigned char *b = (const unsigned char *)&s;

		if (!g_error_matches(error, SMTPCRED_ERROR,
				     SMTPCRED_ERROR_INVALID))
			abort();
		for (size_t i = 0; i < sizeof(s); i++)
			if (b[i] != 0xa5)
				abort();
		return;
	}
	if (!kr_validate_settings(&s, NULL))
		abort();
	back = kr_settings_to_attrs(&s);
	if (!kr_attrs_to_settings(back, &s2, NULL))
		abort();
	same_settings(&s, &s2);
	smtpcred_settings_clear(&s);
	smtpcred_settings_clear(&s2);
}

static void
check_version(GHashTable *attrs)
{
	g_autoptr(GError) error = NULL;
	KrItem it = {.attrs = attrs};
	SmtpcredVersion v = {0};

	if (!kr_item_parse_version(&it, &error)) {
		if (!g_error_matches(error, SMTPCRED_ERROR,
				     SMTPCRED_ERROR_INVALID))
			abort();
		return;
	}
	if (it.version < 1 || it.version > KR_VERSION_MAX ||
	    (unsigned)it.state > SMTPCRED_STATE_RETIRED)
		abort();
	kr_version_from_item(&it, &v);
	if (v.version != it.version || v.state != it.state ||
	    v.created != kr_attrs_get_time(attrs, KR_A_CREATED) ||
	    v.not_after != kr_attrs_get_time(attrs, KR_A_NOT_AFTER))
		abort();
	g_free(v.rotation_id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GHashTable) attrs = NULL;

	if (size > 64 * 1024)
		return 0;
	attrs = attrs_from(data, size);
	check_settings(attrs);
	check_version(attrs);
	return 0;
}
