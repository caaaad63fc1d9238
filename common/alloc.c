/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Allocation wrappers with optional fault injection (see alloc.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "alloc.h"
#include "parse.h"

#ifdef SMTPCRED_TEST_HOOKS

/* States of alloc_fail_at before the environment has been read. */
#define FAIL_AT_UNREAD (-1L)

/* Atomics: the counter may be hit from several threads (GDBus workers in
 * the keyring helper); injection itself only needs to be deterministic in
 * single-threaded tests. */
static long alloc_count;
static long alloc_fail_at = FAIL_AT_UNREAD;

static long
fail_at_from_env(void)
{
	const char *v;
	int64_t n;

	v = secure_getenv("SMTPCRED_FAIL_ALLOC_AT");
	if (v == NULL || parse_int64(v, 0, LONG_MAX, &n) < 0)
		return 0;
	return (long)n;
}

bool
common_alloc_should_fail(void)
{
	long fail_at, n;

	fail_at = __atomic_load_n(&alloc_fail_at, __ATOMIC_ACQUIRE);
	if (fail_at == FAIL_AT_UNREAD) {
		long expected = FAIL_AT_UNREAD;

		/* A racing thread computes the same value; first one wins. */
		fail_at = fail_at_from_env();
		if (!__atomic_compare_exchange_n(
			&alloc_fail_at, &expected, fail_at, false,
			__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			fail_at = expected;
	}
	n = __atomic_add_fetch(&alloc_count, 1, __ATOMIC_ACQ_REL);
	return fail_at > 0 && n == fail_at;
}

void
common_alloc_reset_for_tests(long fail_at)
{
	__atomic_store_n(&alloc_count, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&alloc_fail_at, fail_at > 0 ? fail_at : 0,
			 __ATOMIC_RELEASE);
}

long
common_alloc_count_for_tests(void)
{
	return __atomic_load_n(&alloc_count, __ATOMIC_ACQUIRE);
}

#else /* !SMTPCRED_TEST_HOOKS */

bool
common_alloc_should_fail(void)
{
	return false;
}

#endif /* SMTPCRED_TEST_HOOKS */

void *
common_malloc(size_t size)
{
	if (common_alloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(size);
}

void *
common_calloc(size_t n, size_t size)
{
	if (common_alloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	/* Checked here too, so sanitizers see no overflowing request. */
	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	/* calloc(0) may give NULL or not: ask for a byte, as glibc does */
	return calloc(n != 0 ? n : 1, size != 0 ? size : 1);
}

void *
common_aligned_alloc(size_t align, size_t size)
{
	void *p = NULL;
	int r;

	if (common_alloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	if (align < sizeof(void *) || (align & (align - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	r = posix_memalign(&p, align, size);
	if (r != 0) {
		errno = r;
		return NULL;
	}
	return p;
}

void
common_free(void *p)
{
	free(p);
}
