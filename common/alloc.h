/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Allocation wrappers for common/ and libsend/ (STYLE.md 10.4).  In builds
 * with -Dtest_hooks=true (SMTPCRED_TEST_HOOKS) every allocation made through
 * these functions is counted from process start, and the n-th one fails
 * when SMTPCRED_FAIL_ALLOC_AT=n is set in the environment (read once, with
 * secure_getenv).  Only the n-th allocation fails; later ones succeed again.
 * Without test hooks these are plain malloc/calloc/free.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* malloc(size); NULL on failure (errno ENOMEM). */
void *common_malloc(size_t size);
/* calloc(n, size); NULL on failure or when n * size overflows. */
void *common_calloc(size_t n, size_t size);
/* size bytes aligned to align (a power of two, a multiple of
 * sizeof(void *)); NULL on failure.  Freed with common_free(). */
void *common_aligned_alloc(size_t align, size_t size);
/* free(p); NULL is fine.  Does not wipe: secrets are wiped by their owner
 * (secbuf_wipe, secure_wipe) before this is called. */
void common_free(void *p);

/* Count one allocation and say whether it must fail.  For allocators that
 * do not go through the functions above; always false without test
 * hooks. */
bool common_alloc_should_fail(void);

#ifdef SMTPCRED_TEST_HOOKS
/* Test-only: restart the count at zero and fail the fail_at-th allocation
 * from now on (0 or less: never fail); the environment is no longer
 * consulted afterwards. */
void common_alloc_reset_for_tests(long fail_at);
/* Test-only: allocations counted since start or the last reset. */
long common_alloc_count_for_tests(void);
#endif
