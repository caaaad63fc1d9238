/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which installed package a program came from, and its version, asked of
 * dpkg-query (dpkg's database is private to dpkg): for `smtpcred doctor`,
 * because gnome-keyring-daemon and KeePassXC do not say their version on
 * the bus.  The service's own program is never run.
 */
#include "config.h"

#include <string.h>

#include "internal.h"

#define DPKG_QUERY "/usr/bin/dpkg-query"

/* The first line `dpkg-query [--admindir=DIR] OP [-f FORMAT] -- ARG`
 * prints, or NULL (not found, no dpkg-query, or it failed).  Fixed path,
 * no shell, empty environment. */
static char *
query(const char *admindir, const char *op, const char *format,
      const char *arg)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *out = NULL;
	char *env[] = {NULL};
	int status = 0;

	g_ptr_array_add(argv, g_strdup(DPKG_QUERY));
	if (admindir != NULL)
		g_ptr_array_add(argv, g_strconcat("--admindir=", admindir,
						  NULL));
	g_ptr_array_add(argv, g_strdup(op));
	if (format != NULL) {
		g_ptr_array_add(argv, g_strdup("-f"));
		g_ptr_array_add(argv, g_strdup(format));
	}
	g_ptr_array_add(argv, g_strdup("--"));
	g_ptr_array_add(argv, g_strdup(arg));
	g_ptr_array_add(argv, NULL);
	if (!g_spawn_sync(NULL, (char **)argv->pdata, env,
			  G_SPAWN_STDERR_TO_DEV_NULL |
			      G_SPAWN_CLOEXEC_PIPES,
			  NULL, NULL, &out, NULL, &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL) || out == NULL ||
	    *out == '\0' || *out == '\n')
		return NULL;
	return g_strndup(out, MIN(strcspn(out, "\n"), 128));
}

char *
kr_package_version_in(const char *admindir, const char *path)
{
	g_autofree char *owner = NULL;
	g_autofree char *pkg = NULL;
	g_autofree char *line = NULL;
	const char *version;

	/* an absolute path is matched exactly, a pattern is not */
	if (path == NULL || *path != '/' || strpbrk(path, "*?[\\") != NULL)
		return NULL;
	owner = query(admindir, "-S", NULL, path);
	/* "pkg[:arch][, pkg2...]: PATH"; a diversion line says so */
	if (owner == NULL || g_str_has_prefix(owner, "diversion "))
		return NULL;
	pkg = g_strndup(owner, strcspn(owner, ":, "));
	if (*pkg == '\0')
		return NULL;
	line = query(admindir, "-W", "${db:Status-Status} ${Version}\n", pkg);
	/* only an installed package's version (not a removed one's) */
	if (line == NULL || !g_str_has_prefix(line, "installed ") ||
	    *(version = line + strlen("installed ")) == '\0')
		return NULL;
	return g_strdup_printf("%.64s (package %s)", version, pkg);
}

char *
kr_package_version(const char *path)
{
	return kr_package_version_in(NULL, path);
}
