/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for common/secbuf.c: growth, cap, wiping, constant-time
 * comparison, scope-bound wipe guards, and (with -Dtest_hooks=true)
 * allocation failure.
 *
 * Linked with -Wl,--wrap=common_free and -Wl,--wrap=secure_wipe so the
 * tests can look at a block just before it goes back to the allocator and
 * at what the wipe guards wipe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "secbuf.h"

#define CANARY     "CANARY-s3cr3t-common"
#define CANARY_LEN (sizeof(CANARY) - 1)

/* --- link-time wrappers --------------------------------------------------- */

void __real_common_free(void *p);
void __wrap_common_free(void *p);
void __real_secure_wipe(void *p, size_t n);
void __wrap_secure_wipe(void *p, size_t n);

/* A block the test expects to be freed, and what it held at that time. */
static struct {
	const void *p;
	size_t n;
	bool freed;
	bool was_zero;
} watch;

/* The last wipe done through the (wrapped) secure_wipe() reference. */
static struct {
	const void *p;
	size_t n;
	unsigned calls;
	bool zero_after;
} wiped;

static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != 0)
			return false;
	return true;
}

void
__wrap_common_free(void *p)
{
	if (p != NULL && p == watch.p) {
		watch.freed = true;
		watch.was_zero = all_zero(p, watch.n);
	}
	__real_common_free(p);
}

void
__wrap_secure_wipe(void *p, size_t n)
{
	__real_secure_wipe(p, n);
	wiped.p = p;
	wiped.n = n;
	wiped.calls++;
	wiped.zero_after = p == NULL || all_zero(p, n);
}

static void
watch_block(const secbuf *b)
{
	watch.p = b->data;
	watch.n = b->cap;
	watch.freed = false;
	watch.was_zero = false;
}

static int
reset_watches(void **state)
{
	(void)state;
	memset(&watch, 0, sizeof(watch));
	memset(&wiped, 0, sizeof(wiped));
#ifdef SMTPCRED_TEST_HOOKS
	common_alloc_reset_for_tests(0);
#endif
	return 0;
}

static size_t
pagesz(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* A deterministic, non-zero pattern of n bytes. */
static void
fill_pattern(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('A' + (i * 7 + seed) % 26);
}

/* --- basic behaviour ------------------------------------------------------ */

static void
test_secbuf_init_is_empty(void **state)
{
	secbuf b = SECBUF_INIT;

	(void)state;
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	secbuf_wipe(&b);
	assert_null(b.data);
}

struct append_case {
	const char *name;
	const char *pieces[4]; /* NULL-terminated */
	const char *want;
};

/* clang-format off */
static const struct append_case append_cases[] = {
	{"one piece",     {CANARY},                         CANARY},
	{"empty piece",   {""},                             ""},
	{"two pieces",    {"user\\", CANARY},               "user\\" CANARY},
	{"empty between", {"a", "", "b"},                   "ab"},
	{"three pieces",  {"\x01", CANARY, "\xff"},         "\x01" CANARY "\xff"},
};
/* clang-format on */

static void
test_secbuf_append_str_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(append_cases) / sizeof(append_cases[0]);
	     i++) {
		const struct append_case *c = &append_cases[i];
		_cleanup_secbuf_ secbuf b = SECBUF_INIT;

		for (size_t k = 0; k < 4 && c->pieces[k] != NULL; k++)
			if (secbuf_append_str(&b, c->pieces[k]) != 0)
				fail_msg("case '%s': append failed", c->name);
		assert_non_null(b.data);
		if (b.len != strlen(c->want) || strcmp(b.data, c->want) != 0)
			fail_msg("case '%s': wrong contents", c->name);
		assert_true(b.len < b.cap);
	}
}

static void
test_secbuf_append_keeps_embedded_nul(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	static const char plain[] = "\0user\0" CANARY; /* AUTH PLAIN shape */

	(void)state;
	assert_int_equal(secbuf_append(&b, plain, sizeof(plain) - 1), 0);
	assert_int_equal(b.len, sizeof(plain) - 1);
	assert_memory_equal(b.data, plain, sizeof(plain) - 1);
	assert_int_equal(b.data[b.len], '\0');
}

static void
test_secbuf_append_zero_bytes_allocates_empty_string(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;

	(void)state;
	assert_int_equal(secbuf_append(&b, NULL, 0), 0);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
}

static void
test_secbuf_rejects_null_arguments(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;

	(void)state;
	assert_int_equal(secbuf_append(&b, NULL, 1), -EINVAL);
	assert_int_equal(secbuf_append_str(&b, NULL), -EINVAL);
	assert_int_equal(secbuf_reserve(NULL, 1), -EINVAL);
	assert_null(b.data);
}

static void
test_secbuf_blocks_are_page_aligned(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	char big[3 * 4096];

	(void)state;
	fill_pattern(big, sizeof(big), 1);
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	assert_int_equal((uintptr_t)b.data % pagesz(), 0);
	assert_int_equal(b.cap % pagesz(), 0);
	assert_int_equal(secbuf_append(&b, big, sizeof(big)), 0);
	assert_int_equal((uintptr_t)b.data % pagesz(), 0);
	assert_int_equal(b.cap % pagesz(), 0);
}

static void
test_secbuf_contents_preserved_across_growth(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	static char want[SECBUF_MAX];
	size_t used = 0;
	unsigned growths = 0;

	(void)state;
	/* Odd-sized pieces so the copy crosses every block boundary. */
	while (used < SECBUF_MAX) {
		size_t n = 1000 + used % 333;
		size_t oldcap = b.cap;

		if (n > SECBUF_MAX - used)
			n = SECBUF_MAX - used;
		fill_pattern(want + used, n, (unsigned)used);
		assert_int_equal(secbuf_append(&b, want + used, n), 0);
		used += n;
		if (b.cap != oldcap)
			growths++;
		assert_int_equal(b.len, used);
		assert_memory_equal(b.data, want, used);
		assert_int_equal(b.data[used], '\0');
	}
	assert_true(growths > 2);
}

static void
test_secbuf_growth_wipes_old_block(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	char big[2 * 4096];

	(void)state;
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	watch_block(&b);
	fill_pattern(big, sizeof(big), 2);
	assert_int_equal(secbuf_append(&b, big, sizeof(big)), 0);
	assert_ptr_not_equal(b.data, watch.p);
	assert_true(watch.freed);
	assert_true(watch.was_zero);
	assert_memory_equal(b.data, CANARY, CANARY_LEN);
}

static void
test_secbuf_wipe_zeroes_block_before_free(void **state)
{
	secbuf b = SECBUF_INIT;

	(void)state;
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	watch_block(&b);
	secbuf_wipe(&b);
	assert_true(watch.freed);
	assert_true(watch.was_zero);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void
test_secbuf_cleanup_attribute_wipes_on_scope_exit(void **state)
{
	(void)state;
	{
		_cleanup_secbuf_ secbuf b = SECBUF_INIT;

		assert_int_equal(secbuf_append_str(&b, CANARY), 0);
		watch_block(&b);
	}
	assert_true(watch.freed);
	assert_true(watch.was_zero);
}

static void
test_secbuf_clear_wipes_and_keeps_allocation(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	char *data;
	size_t cap;

	(void)state;
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	data = b.data;
	cap = b.cap;
	secbuf_clear(&b);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_true(all_zero(b.data, b.cap));
	/* Reusable without a new allocation. */
	assert_int_equal(secbuf_append_str(&b, "next"), 0);
	assert_ptr_equal(b.data, data);
	assert_string_equal(b.data, "next");
}

static void
test_secbuf_wipe_accepts_null_and_empty(void **state)
{
	secbuf b = SECBUF_INIT;

	(void)state;
	secbuf_wipe(NULL);
	secbuf_wipe(&b);
	secbuf_wipe(&b);
	secbuf_clear(NULL);
	secbuf_clear(&b);
	assert_null(b.data);
}

static void
test_secbuf_reserve_does_not_change_contents(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;

	(void)state;
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	assert_int_equal(secbuf_reserve(&b, 5 * 4096), 0);
	assert_true(b.cap >= CANARY_LEN + 5 * 4096 + 1);
	assert_int_equal(b.len, CANARY_LEN);
	assert_string_equal(b.data, CANARY);
}

static void
test_secbuf_append_from_itself_across_growth(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	char want[2 * 4096 + 2];
	size_t cap;

	(void)state;
	fill_pattern(want, 4096 - 1, 3);
	assert_int_equal(secbuf_append(&b, want, 4096 - 1), 0);
	cap = b.cap;
	/* The source lies in the block that the append replaces. */
	assert_int_equal(secbuf_append(&b, b.data, b.len), 0);
	assert_true(b.cap > cap);
	memcpy(want + 4096 - 1, want, 4096 - 1);
	assert_int_equal(b.len, 2 * (4096 - 1));
	assert_memory_equal(b.data, want, b.len);
}

/* --- cap ------------------------------------------------------------------ */

static void
test_secbuf_fills_exactly_to_cap(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	static char big[SECBUF_MAX];

	(void)state;
	fill_pattern(big, sizeof(big), 4);
	assert_int_equal(secbuf_append(&b, big, sizeof(big)), 0);
	assert_int_equal(b.len, SECBUF_MAX);
	assert_int_equal(b.data[SECBUF_MAX], '\0');
	assert_int_equal(secbuf_append(&b, NULL, 0), 0);
}

static void
test_secbuf_e2big_past_cap_leaves_buffer_intact(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	static char big[SECBUF_MAX];
	char *data;
	size_t cap;

	(void)state;
	fill_pattern(big, sizeof(big), 5);
	assert_int_equal(secbuf_append(&b, big, SECBUF_MAX - CANARY_LEN), 0);
	data = b.data;
	cap = b.cap;
	assert_int_equal(secbuf_append_str(&b, CANARY "x"), -E2BIG);
	assert_int_equal(secbuf_reserve(&b, CANARY_LEN + 1), -E2BIG);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.len, SECBUF_MAX - CANARY_LEN);
	assert_memory_equal(b.data, big, b.len);
	assert_int_equal(b.data[b.len], '\0');
	/* Exactly up to the cap is still fine. */
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	assert_int_equal(b.len, SECBUF_MAX);
}

static void
test_secbuf_reserve_huge_is_e2big_not_overflow(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;

	(void)state;
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	assert_int_equal(secbuf_reserve(&b, SIZE_MAX), -E2BIG);
	assert_int_equal(secbuf_reserve(&b, SIZE_MAX - CANARY_LEN), -E2BIG);
	assert_int_equal(secbuf_reserve(&b, (size_t)SECBUF_MAX + 1), -E2BIG);
	assert_string_equal(b.data, CANARY);
}

/* --- secure_wipe, secure_memeq -------------------------------------------- */

static void
test_secure_wipe_zeroes_and_accepts_null(void **state)
{
	char buf[] = CANARY;

	(void)state;
	secure_wipe(NULL, 10);
	secure_wipe(buf, 0);
	assert_string_equal(buf, CANARY);
	secure_wipe(buf, sizeof(buf));
	assert_true(all_zero(buf, sizeof(buf)));
}

struct memeq_case {
	const char *name;
	const char *a;
	size_t alen;
	const char *b;
	size_t blen;
	bool equal;
};

/* clang-format off */
static const struct memeq_case memeq_cases[] = {
	{"both empty",        "",          0,              "",          0,              true},
	{"null and empty",    NULL,        0,              "",          0,              true},
	{"same canary",       CANARY,      CANARY_LEN,     CANARY,      CANARY_LEN,     true},
	{"first byte",        "X" CANARY,  CANARY_LEN + 1, "Y" CANARY,  CANARY_LEN + 1, false},
	{"last byte",         CANARY "a",  CANARY_LEN + 1, CANARY "b",  CANARY_LEN + 1, false},
	{"prefix",            CANARY,      CANARY_LEN - 1, CANARY,      CANARY_LEN,     false},
	{"empty vs one",      "",          0,              "a",         1,              false},
	{"embedded nul",      "a\0b",      3,              "a\0c",      3,              false},
	{"high bit",          "\x80",      1,              "\x00",      1,              false},
	{"equal past nul",    "a\0b",      3,              "a\0b",      3,              true},
};
/* clang-format on */

static void
test_secure_memeq_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(memeq_cases) / sizeof(memeq_cases[0]);
	     i++) {
		const struct memeq_case *c = &memeq_cases[i];
		int r = secure_memeq(c->a, c->alen, c->b, c->blen);
		int r2 = secure_memeq(c->b, c->blen, c->a, c->alen);

		if ((r == 0) != c->equal || (r2 == 0) != c->equal)
			fail_msg("case '%s': got %d/%d", c->name, r, r2);
	}
}

static void
test_secure_memeq_every_single_bit_differs(void **state)
{
	unsigned char a[16], b[16];

	(void)state;
	memset(a, 0x5a, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(b, a, sizeof(b));
			b[i] ^= (unsigned char)(1u << bit);
			assert_int_not_equal(secure_memeq(a, 16, b, 16), 0);
		}
	}
	assert_int_equal(secure_memeq(a, 16, a, 16), 0);
}

/* --- WIPE_ON_EXIT --------------------------------------------------------- */

struct creds {
	char user[16];
	char pass[32];
};

static int
use_array(bool early)
{
	char pin[32];
	WIPE_ON_EXIT(pin);

	memcpy(pin, CANARY, sizeof(CANARY));
	if (early)
		return 1;
	return pin[0] == 'C' ? 0 : -1;
}

static void
use_struct(void)
{
	struct creds c;
	WIPE_ON_EXIT(c);

	memcpy(c.user, "user", 5);
	memcpy(c.pass, CANARY, sizeof(CANARY));
}

static void
test_wipe_on_exit_wipes_array_on_every_return(void **state)
{
	(void)state;
	assert_int_equal(use_array(false), 0);
	assert_int_equal(wiped.calls, 1);
	assert_int_equal(wiped.n, 32);
	assert_true(wiped.zero_after);

	assert_int_equal(use_array(true), 1);
	assert_int_equal(wiped.calls, 2);
	assert_int_equal(wiped.n, 32);
	assert_true(wiped.zero_after);
}

static void
test_wipe_on_exit_wipes_struct(void **state)
{
	(void)state;
	use_struct();
	assert_int_equal(wiped.calls, 1);
	assert_int_equal(wiped.n, sizeof(struct creds));
	assert_true(wiped.zero_after);
}

static void
test_wipe_on_exit_two_guards_in_one_scope(void **state)
{
	(void)state;
	{
		char a[8];
		WIPE_ON_EXIT(a);
		char b[24];
		WIPE_ON_EXIT(b);

		memcpy(a, "1234567", 8);
		memcpy(b, CANARY, sizeof(CANARY));
	}
	/* Cleanups run in reverse order: b first, a last. */
	assert_int_equal(wiped.calls, 2);
	assert_int_equal(wiped.n, 8);
	assert_true(wiped.zero_after);
}

/* --- allocation failure (test hooks only) --------------------------------- */

#ifdef SMTPCRED_TEST_HOOKS

static void
test_secbuf_first_allocation_failure_is_enomem(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;

	(void)state;
	common_alloc_reset_for_tests(1);
	assert_int_equal(secbuf_append_str(&b, CANARY), -ENOMEM);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* Only the n-th allocation fails. */
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	assert_string_equal(b.data, CANARY);
}

static void
test_secbuf_reserve_failure_leaves_buffer_intact(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	char *data;
	size_t cap;

	(void)state;
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	data = b.data;
	cap = b.cap;
	common_alloc_reset_for_tests(1);
	assert_int_equal(secbuf_reserve(&b, cap), -ENOMEM);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.len, CANARY_LEN);
	assert_string_equal(b.data, CANARY);
}

static void
test_secbuf_append_failure_leaves_buffer_intact(void **state)
{
	_cleanup_secbuf_ secbuf b = SECBUF_INIT;
	char big[3 * 4096];
	char *data;
	size_t cap;

	(void)state;
	fill_pattern(big, sizeof(big), 6);
	assert_int_equal(secbuf_append_str(&b, CANARY), 0);
	data = b.data;
	cap = b.cap;
	common_alloc_reset_for_tests(1);
	assert_int_equal(secbuf_append(&b, big, sizeof(big)), -ENOMEM);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.len, CANARY_LEN);
	assert_string_equal(b.data, CANARY);
}

/* Pieces appended by the sweep scenario: every growth step up to the cap. */
static const size_t sweep_sizes[] = {CANARY_LEN, 1,     4000, 5000,
				     9000,       20000, 27000};

static size_t
sweep_scenario(secbuf *b, const char *src, int *rc)
{
	size_t done = 0, off = 0;

	*rc = 0;
	for (size_t i = 0; i < sizeof(sweep_sizes) / sizeof(sweep_sizes[0]);
	     i++) {
		*rc = secbuf_append(b, src + off, sweep_sizes[i]);
		if (*rc < 0)
			break;
		off += sweep_sizes[i];
		done = off;
	}
	return done;
}

static void
test_secbuf_alloc_failure_sweep_ends_in_enomem(void **state)
{
	static char src[SECBUF_MAX];
	bool completed = false;
	long n;

	(void)state;
	memcpy(src, CANARY, CANARY_LEN);
	fill_pattern(src + CANARY_LEN, sizeof(src) - CANARY_LEN, 7);
	for (n = 1; n < 100 && !completed; n++) {
		_cleanup_secbuf_ secbuf b = SECBUF_INIT;
		size_t done;
		int rc;

		common_alloc_reset_for_tests(n);
		done = sweep_scenario(&b, src, &rc);
		if (common_alloc_count_for_tests() < n) {
			/* No failure was injected: the run must succeed. */
			assert_int_equal(rc, 0);
			completed = true;
		} else if (rc != -ENOMEM) {
			fail_msg("fail_at=%ld: got %d, want -ENOMEM", n, rc);
		}
		/* Whatever was appended before the failure is intact. */
		assert_int_equal(b.len, done);
		if (done > 0) {
			assert_memory_equal(b.data, src, done);
			assert_int_equal(b.data[done], '\0');
		}
	}
	assert_true(completed);
	assert_true(n > 2); /* at least one failure was injected */
}

#endif /* SMTPCRED_TEST_HOOKS */

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_secbuf_init_is_empty, reset_watches),
	    cmocka_unit_test_setup(test_secbuf_append_str_table, reset_watches),
	    cmocka_unit_test_setup(test_secbuf_append_keeps_embedded_nul,
				   reset_watches),
	    cmocka_unit_test_setup(
		test_secbuf_append_zero_bytes_allocates_empty_string,
		reset_watches),
	    cmocka_unit_test_setup(test_secbuf_rejects_null_arguments,
				   reset_watches),
	    cmocka_unit_test_setup(test_secbuf_blocks_are_page_aligned,
				   reset_watches),
	    cmocka_unit_test_setup(test_secbuf_contents_preserved_across_growth,
				   reset_watches),
	    cmocka_unit_test_setup(test_secbuf_growth_wipes_old_block,
				   reset_watches),
	    cmocka_unit_test_setup(test_secbuf_wipe_zeroes_block_before_free,
				   reset_watches),
	    cmocka_unit_test_setup(
		test_secbuf_cleanup_attribute_wipes_on_scope_exit,
		reset_watches),
	    cmocka_unit_test_setup(test_secbuf_clear_wipes_and_keeps_allocation,
				   reset_watches),
	    cmocka_unit_test_setup(test_secbuf_wipe_accepts_null_and_empty,
				   reset_watches),
	    cmocka_unit_test_setup(test_secbuf_reserve_does_not_change_contents,
				   reset_watches),
	    cmocka_unit_test_setup(test_secbuf_append_from_itself_across_growth,
				   reset_watches),
	    cmocka_unit_test_setup(test_secbuf_fills_exactly_to_cap,
				   reset_watches),
	    cmocka_unit_test_setup(
		test_secbuf_e2big_past_cap_leaves_buffer_intact, reset_watches),
	    cmocka_unit_test_setup(
		test_secbuf_reserve_huge_is_e2big_not_overflow, reset_watches),
	    cmocka_unit_test_setup(test_secure_wipe_zeroes_and_accepts_null,
				   reset_watches),
	    cmocka_unit_test_setup(test_secure_memeq_table, reset_watches),
	    cmocka_unit_test_setup(test_secure_memeq_every_single_bit_differs,
				   reset_watches),
	    cmocka_unit_test_setup(
		test_wipe_on_exit_wipes_array_on_every_return, reset_watches),
	    cmocka_unit_test_setup(test_wipe_on_exit_wipes_struct,
				   reset_watches),
	    cmocka_unit_test_setup(test_wipe_on_exit_two_guards_in_one_scope,
				   reset_watches),
#ifdef SMTPCRED_TEST_HOOKS
	    cmocka_unit_test_setup_teardown(
		test_secbuf_first_allocation_failure_is_enomem, reset_watches,
		reset_watches),
	    cmocka_unit_test_setup_teardown(
		test_secbuf_reserve_failure_leaves_buffer_intact, reset_watches,
		reset_watches),
	    cmocka_unit_test_setup_teardown(
		test_secbuf_append_failure_leaves_buffer_intact, reset_watches,
		reset_watches),
	    cmocka_unit_test_setup_teardown(
		test_secbuf_alloc_failure_sweep_ends_in_enomem, reset_watches,
		reset_watches),
#endif
	};

	return cmocka_run_group_tests_name("common-secbuf", tests, NULL, NULL);
}
