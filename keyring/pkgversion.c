/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which installed package a program came from, and its version, read from
 * dpkg's database (no program is run): for `smtpcred doctor`, because
 * gnome-keyring-daemon and KeePassXC do not say their version on the bus.
 */
#include "config.h"

#include <string.h>

#include "internal.h"

#define DPKG_DIR "/var/lib/dpkg"

/* Does the file list TEXT (one path per line) hold the line PATH? */
static gboolean
lists_path(const char *text, const char *path)
{
	size_t n = strlen(path);

	for (const char *p = text; (p = strstr(p, path)) != NULL; p += n)
		if ((p == text || p[-1] == '\n') &&
		    (p[n] == '\n' || p[n] == '\0'))
			return TRUE;
	return FALSE;
}

/* The package whose file list names PATH ("name" without ":arch"). */
static char *
owner_of(const char *info_dir, const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(info_dir, 0, NULL);
	const char *f;

	if (dir == NULL)
		return NULL;
	while ((f = g_dir_read_name(dir)) != NULL) {
		g_autofree char *file = NULL;
		g_autofree char *text = NULL;

		if (!g_str_has_suffix(f, ".list"))
			continue;
		file = g_build_filename(info_dir, f, NULL);
		if (!g_file_get_contents(file, &text, NULL, NULL) ||
		    !lists_path(text, path))
			continue;
		/* "name[:arch].list" (names may hold dots, never ':') */
		return g_strndup(f, MIN(strcspn(f, ":"),
					strlen(f) - strlen(".list")));
	}
	return NULL;
}

/* The Version of installed package NAME in dpkg's status file. */
static char *
version_of(const char *status_file, const char *name)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) stanzas = NULL;
	g_autofree char *want = g_strdup_printf("Package: %s\n", name);

	if (!g_file_get_contents(status_file, &text, NULL, NULL))
		return NULL;
	stanzas = g_strsplit(text, "\n\n", -1);
	for (guint i = 0; stanzas[i] != NULL; i++) {
		const char *s = stanzas[i], *v;

		if (!g_str_has_prefix(s, want) ||
		    strstr(s, "\nStatus: install ok installed\n") == NULL ||
		    (v = strstr(s, "\nVersion: ")) == NULL)
			continue;
		v += strlen("\nVersion: ");
		return g_strndup(v, MIN(strcspn(v, "\n"), 64));
	}
	return NULL;
}

char *
kr_package_version_in(const char *dpkg_dir, const char *path)
{
	g_autofree char *info = NULL;
	g_autofree char *status = NULL;
	g_autofree char *pkg = NULL;
	g_autofree char *version = NULL;

	if (path == NULL || *path != '/')
		return NULL;
	info = g_build_filename(dpkg_dir, "info", NULL);
	pkg = owner_of(info, path);
	if (pkg == NULL)
		return NULL;
	status = g_build_filename(dpkg_dir, "status", NULL);
	version = version_of(status, pkg);
	if (version == NULL)
		return NULL;
	return g_strdup_printf("%s (package %s)", version, pkg);
}

char *
kr_package_version(const char *path)
{
	return kr_package_version_in(DPKG_DIR, path);
}
