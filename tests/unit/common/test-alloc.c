/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for common/alloc.c: the plain wrappers and, with
 * -Dtest_hooks=true, fault injection driven by SMTPCRED_FAIL_ALLOC_AT.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#ifdef SMTPCRED_TEST_HOOKS
/*
 * Must run first: the variable is read once, at the first counted
 * allocation of the process, and no common_* allocation has happened yet.
 */
static void
test_alloc_env_fails_only_the_nth_allocation(void **state)
{
	void *p[5];

	(void)state;
	assert_int_equal(setenv("SMTPCRED_FAIL_ALLOC_AT", "3", 1), 0);
	p[0] = common_malloc(16);
	p[1] = common_calloc(2, 8);
	p[2] = common_malloc(16);
	p[3] = common_aligned_alloc(4096, 4096);
	p[4] = common_malloc(16);
	assert_non_null(p[0]);
	assert_non_null(p[1]);
	assert_null(p[2]);
	assert_non_null(p[3]);
	assert_non_null(p[4]);
	assert_int_equal(common_alloc_count_for_tests(), 5);
	for (size_t i = 0; i < 5; i++)
		common_free(p[i]);
	/* Read once: changing it later has no effect. */
	assert_int_equal(setenv("SMTPCRED_FAIL_ALLOC_AT", "6", 1), 0);
	p[0] = common_malloc(1);
	assert_non_null(p[0]);
	common_free(p[0]);
	unsetenv("SMTPCRED_FAIL_ALLOC_AT");
}

static void
test_alloc_reset_fails_each_allocator(void **state)
{
	(void)state;
	common_alloc_reset_for_tests(1);
	assert_null(common_malloc(1));
	common_alloc_reset_for_tests(1);
	assert_null(common_calloc(1, 1));
	common_alloc_reset_for_tests(1);
	assert_null(common_aligned_alloc(4096, 4096));
	assert_true(common_alloc_should_fail() == false);
	common_alloc_reset_for_tests(2);
	assert_false(common_alloc_should_fail());
	assert_true(common_alloc_should_fail());
	assert_false(common_alloc_should_fail());
	common_alloc_reset_for_tests(0);
	for (int i = 0; i < 100; i++)
		assert_false(common_alloc_should_fail());
	assert_int_equal(common_alloc_count_for_tests(), 100);
}
#endif

static void
test_alloc_wrappers_allocate(void **state)
{
	unsigned char *m, *c, *a;

	(void)state;
	m = common_malloc(32);
	c = common_calloc(4, 8);
	a = common_aligned_alloc(4096, 8192);
	assert_non_null(m);
	assert_non_null(c);
	assert_non_null(a);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(c[i], 0);
	assert_int_equal((uintptr_t)a % 4096, 0);
	memset(m, 1, 32);
	memset(a, 1, 8192);
	common_free(m);
	common_free(c);
	common_free(a);
	common_free(NULL);
}

static void
test_alloc_calloc_overflow_is_null(void **state)
{
	(void)state;
	assert_null(common_calloc(SIZE_MAX / 2, 3));
}

static void
test_alloc_aligned_rejects_bad_alignment(void **state)
{
	(void)state;
	assert_null(common_aligned_alloc(3, 16));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef SMTPCRED_TEST_HOOKS
	    cmocka_unit_test(test_alloc_env_fails_only_the_nth_allocation),
	    cmocka_unit_test(test_alloc_reset_fails_each_allocator),
#endif
	    cmocka_unit_test(test_alloc_wrappers_allocate),
	    cmocka_unit_test(test_alloc_calloc_overflow_is_null),
	    cmocka_unit_test(test_alloc_aligned_rejects_bad_alignment),
	};

	return cmocka_run_group_tests_name("common-alloc", tests, NULL, NULL);
}
