/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * secbuf: growable buffer for secret bytes (see secbuf.h).
 *
 * Each block is a whole number of pages, page-aligned, so the mlock() and
 * MADV_DONTDUMP applied to it cover only this buffer's bytes.  Both are
 * best effort: a process without CAP_IPC_LOCK or over RLIMIT_MEMLOCK still
 * works, it just may have its secret paged out.  A block is released in
 * this order: wipe, undo madvise/mlock, free.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"
#include "secbuf.h"

static size_t
page_size(void)
{
	long p;

	p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (size_t)p : 4096;
}

/* Round n up to a multiple of the page size (n is at most SECBUF_MAX + 1,
 * so this cannot overflow). */
static size_t
round_to_page(size_t n)
{
	size_t ps;

	ps = page_size();
	return (n + ps - 1) / ps * ps;
}

static char *
block_alloc(size_t size)
{
	char *p;

	p = common_aligned_alloc(page_size(), size);
	if (p == NULL)
		return NULL;
	memset(p, 0, size); /* fresh memory, not a wipe */
	/* Best effort (STYLE.md S8): failures are deliberately ignored. */
	(void)mlock(p, size);
	(void)madvise(p, size, MADV_DONTDUMP);
	return p;
}

static void
block_free(char *p, size_t size)
{
	if (p == NULL)
		return;
	secure_wipe(p, size);
	/* The allocator may reuse these pages for ordinary data. */
	(void)madvise(p, size, MADV_DODUMP);
	(void)munlock(p, size);
	common_free(p);
}

void
secure_wipe(void *p, size_t n)
{
	if (p == NULL || n == 0)
		return;
	explicit_bzero(p, n);
}

int
secure_memeq(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile unsigned char *pa = a;
	const volatile unsigned char *pb = b;
	unsigned char d = 0;

	/* The length is not secret (secbuf.h); the contents are. */
	if (alen != blen)
		return 1;
	for (size_t i = 0; i < alen; i++)
		d |= pa[i] ^ pb[i];
	/* 1 when d != 0, without a data-dependent branch. */
	return (int)(((unsigned)d + 0xffu) >> 8);
}

int
secbuf_reserve(secbuf *b, size_t extra)
{
	size_t need, ncap, maxcap;
	char *n;

	if (b == NULL)
		return -EINVAL;
	if (extra > SECBUF_MAX || b->len > SECBUF_MAX - extra)
		return -E2BIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;

	/* Double, but never past the block that holds SECBUF_MAX. */
	maxcap = round_to_page((size_t)SECBUF_MAX + 1);
	ncap = b->cap * 2;
	if (ncap > maxcap)
		ncap = maxcap;
	if (ncap < need)
		ncap = round_to_page(need);

	/* No realloc(): it can leave the old bytes behind in freed heap. */
	n = block_alloc(ncap);
	if (n == NULL)
		return -ENOMEM;
	if (b->data != NULL)
		memcpy(n, b->data, b->len + 1);
	block_free(b->data, b->cap);
	b->data = n;
	b->cap = ncap;
	return 0;
}

int
secbuf_append(secbuf *b, const void *p, size_t n)
{
	const char *src = p;
	size_t off = 0;
	bool inside;
	int r;

	if (b == NULL || (p == NULL && n > 0))
		return -EINVAL;

	/* Appending part of the buffer to itself: the block may move. */
	inside = b->data != NULL && n > 0 &&
		 (uintptr_t)src >= (uintptr_t)b->data &&
		 (uintptr_t)src < (uintptr_t)b->data + b->cap;
	if (inside)
		off = (size_t)((uintptr_t)src - (uintptr_t)b->data);

	r = secbuf_reserve(b, n);
	if (r < 0)
		return r;
	/* reserve leaves a block of at least len + n + 1 (for the
	 * analyzer, which cannot see that cap > 0 implies data != NULL) */
	assert(b->data != NULL);
	if (inside)
		src = b->data + off;
	if (n > 0)
		memmove(b->data + b->len, src, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
secbuf_append_str(secbuf *b, const char *s)
{
	if (s == NULL)
		return -EINVAL;
	return secbuf_append(b, s, strlen(s));
}

void
secbuf_clear(secbuf *b)
{
	if (b == NULL || b->data == NULL)
		return;
	secure_wipe(b->data, b->cap);
	b->len = 0;
}

void
secbuf_wipe(secbuf *b)
{
	if (b == NULL)
		return;
	block_free(b->data, b->cap);
	*b = SECBUF_INIT;
}
