/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The package version doctor reports (keyring/pkgversion.c): the real
 * dpkg-query, on a dpkg database the test writes (--admindir): found, not
 * found, removed, and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glib/gstdio.h>

#include "internal.h"

static void
put(const char *dir, const char *name, const char *text)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *parent = g_path_get_dirname(path);

	assert_int_equal(g_mkdir_with_parents(parent, 0700), 0);
	assert_true(g_file_set_contents(path, text, -1, NULL));
}

#define FIELDS "Priority: optional\nSection: misc\nMaintainer: T <t@t.test>\n"

static int
setup(void **state)
{
	char *dir = g_dir_make_tmp("test-pkgversion-XXXXXX", NULL);

	if (dir == NULL)
		return -1;
	put(dir, "updates/.keep", "");
	/* a package name with dots */
	put(dir, "info/foo.bar.list",
	    "/.\n/usr\n/usr/bin\n/usr/bin/foo-daemon\n/usr/share/doc/foo\n");
	put(dir, "info/other.list", "/usr/bin/foo-daemon-helper\n");
	put(dir, "info/gone.list", "/usr/bin/gone\n");
	put(dir, "status",
	    "Package: foo.bar\nStatus: install ok installed\n" FIELDS
	    "Architecture: amd64\nVersion: 1.2-3+b1\nDescription: f\n\n"
	    "Package: other\nStatus: install ok installed\n" FIELDS
	    "Architecture: amd64\nVersion: 1:"
	    "12345678901234567890123456789012345678901234567890"
	    "1234567890123456789\nDescription: o\n\n"
	    "Package: gone\nStatus: deinstall ok config-files\n" FIELDS
	    "Architecture: amd64\nVersion: 9\nDescription: g\n");
	*state = dir;
	return 0;
}

static int
teardown(void **state)
{
	g_autofree char *dir = *state;
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

	return system(cmd) == 0 ? 0 : -1;
}

static void
test_found_with_dots(void **state)
{
	g_autofree char *v =
	    kr_package_version_in(*state, "/usr/bin/foo-daemon");

	assert_string_equal(v, "1.2-3+b1 (package foo.bar)");
}

static void
test_whole_path_only(void **state)
{
	/* a prefix of a listed path, a listed path's prefix, a directory
	 * of someone else's file, a file of no package */
	assert_null(kr_package_version_in(*state, "/usr/bin/foo"));
	assert_null(kr_package_version_in(*state, "/usr/bin/foo-daemon-"));
	assert_null(kr_package_version_in(*state, "/usr/bin/nothing"));
}

static void
test_removed_package_is_unknown(void **state)
{
	assert_null(kr_package_version_in(*state, "/usr/bin/gone"));
}

static void
test_version_is_bounded(void **state)
{
	g_autofree char *v =
	    kr_package_version_in(*state, "/usr/bin/foo-daemon-helper");

	assert_non_null(v);
	assert_true(g_str_has_prefix(v, "1:1234567890"));
	assert_string_equal(v + 64, " (package other)");
}

static void
test_bad_input_is_unknown(void **state)
{
	assert_null(kr_package_version_in(*state, NULL));
	assert_null(kr_package_version_in(*state, ""));
	assert_null(kr_package_version_in(*state, "usr/bin/foo-daemon"));
	/* a pattern would match what it was not asked for */
	assert_null(kr_package_version_in(*state, "/usr/bin/foo-*"));
	assert_null(kr_package_version_in(*state, "/usr/bin/foo-daemo?"));
	assert_null(kr_package_version_in("/nonexistent", "/usr/bin/x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_found_with_dots),
	    cmocka_unit_test(test_whole_path_only),
	    cmocka_unit_test(test_removed_package_is_unknown),
	    cmocka_unit_test(test_version_is_bounded),
	    cmocka_unit_test(test_bad_input_is_unknown),
	};

	return cmocka_run_group_tests_name("keyring-pkgversion", tests, setup,
					   teardown);
}
