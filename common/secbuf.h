/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * secbuf: growable heap buffer for secret bytes (passwords, tokens, base64
 * of credentials).  Rules (STYLE.md S1-S4, S8):
 *  - never realloc()ed in place: grow = allocate, copy, wipe old, free old;
 *  - always wiped with explicit_bzero() before its memory is freed;
 *  - hard size cap SECBUF_MAX;
 *  - best-effort mlock() and MADV_DONTDUMP on every block (EPERM/ENOMEM from
 *    mlock are not errors).
 * Blocks are page-aligned so madvise() applies to whole pages that hold
 * nothing else.
 */
#pragma once

#include <stddef.h>
#include <string.h>

#define SECBUF_MAX (64u * 1024u) /* no SMTP secret or AUTH line is bigger */

typedef struct secbuf {
	char *data; /* NUL-terminated when non-NULL */
	size_t len; /* bytes used, without the NUL */
	size_t cap; /* bytes allocated, with the NUL */
} secbuf;

#define SECBUF_INIT ((secbuf){NULL, 0, 0})

/* Make room for 'extra' more bytes plus the NUL.  0, -ENOMEM, -E2BIG. */
int secbuf_reserve(secbuf *b, size_t extra);
/* Append n bytes (may contain NUL bytes).  0, -ENOMEM, -E2BIG. */
int secbuf_append(secbuf *b, const void *p, size_t n);
/* Append a NUL-terminated string. */
int secbuf_append_str(secbuf *b, const char *s);
/* Drop the contents (wiped) but keep the allocation. */
void secbuf_clear(secbuf *b);
/* Wipe, free, reset to SECBUF_INIT; NULL and an empty buffer are fine. */
void secbuf_wipe(secbuf *b);

/* Scope-bound ownership: the buffer is wiped on every return path. */
#define _cleanup_secbuf_ __attribute__((__cleanup__(secbuf_wipe)))

/* Wipe memory the compiler may not optimise away.  The one wipe helper
 * (STYLE.md principle 3); NULL or n == 0 is a no-op. */
void secure_wipe(void *p, size_t n);

/* Constant-time comparison of two byte strings; the lengths are compared
 * too (a length difference is not hidden, the contents are).  Returns 0
 * when equal. */
int secure_memeq(const void *a, size_t alen, const void *b, size_t blen);

/* Wipe a fixed-size stack object (array or struct) when the scope ends. */
struct wipe_guard {
	void *p;
	size_t n;
};

static inline void
wipe_guard_run(struct wipe_guard *g)
{
	if (g->p != NULL)
		secure_wipe(g->p, g->n);
}

/* clang-format off */
#define WIPE_CAT_(a, b)	a##b
#define WIPE_CAT(a, b)	WIPE_CAT_(a, b)
#define WIPE_ON_EXIT(var)						\
	__attribute__((__cleanup__(wipe_guard_run), __unused__))	\
	struct wipe_guard WIPE_CAT(wipe_guard_, __LINE__) =		\
	    { &(var), sizeof(var) }
/* clang-format on */
