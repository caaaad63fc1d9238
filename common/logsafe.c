/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Log-safe text (see logsafe.h).
 *
 * Both escapers split the input into units: one output token per input
 * byte, or per complete UTF-8 sequence for JSON.  Output is assembled
 * from whole units only, so truncation can never cut an escape or a
 * multi-byte character in half.  Hex digits are lower case.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "logsafe.h"

#define UNIT_MAX       6 /* "\u00xx" */
#define TRUNC_MARK     "..."
#define TRUNC_MARK_LEN (sizeof(TRUNC_MARK) - 1)

static const char hexdigits[] = "0123456789abcdef";

/* Writes the unit starting at src[i] into u; returns its length and sets
 * *used to the number of input bytes it stands for. */
typedef size_t (*unit_fn)(const unsigned char *src, size_t len, size_t i,
			  char *u, size_t *used);

static size_t
unit_escape(const unsigned char *src, size_t len, size_t i, char *u,
	    size_t *used)
{
	unsigned char c = src[i];

	(void)len;
	*used = 1;
	switch (c) {
	case '\\':
		u[0] = '\\';
		u[1] = '\\';
		return 2;
	case '\t':
		u[0] = '\\';
		u[1] = 't';
		return 2;
	case '\n':
		u[0] = '\\';
		u[1] = 'n';
		return 2;
	case '\r':
		u[0] = '\\';
		u[1] = 'r';
		return 2;
	default:
		break;
	}
	if (c >= 0x20 && c <= 0x7e) {
		u[0] = (char)c;
		return 1;
	}
	u[0] = '\\';
	u[1] = 'x';
	u[2] = hexdigits[c >> 4];
	u[3] = hexdigits[c & 0xf];
	return 4;
}

static bool
is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * Length of the well-formed UTF-8 sequence at s[0..len), or 0 when there
 * is none (RFC 3629 section 4): no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF.  The second byte's range
 * depends on the first byte; the remaining bytes are plain continuations.
 */
static size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* below is overlong */
		else if (c == 0xed)
			hi = 0x9f; /* above is a surrogate */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* below is overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above is beyond U+10FFFF */
	} else {
		return 0; /* ASCII, continuation, C0, C1, F5..FF */
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if (!is_cont(s[k]))
			return 0;
	return n;
}

static size_t
unit_json(const unsigned char *src, size_t len, size_t i, char *u, size_t *used)
{
	unsigned char c = src[i];
	size_t n;

	*used = 1;
	if (c == '"' || c == '\\') {
		u[0] = '\\';
		u[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		u[0] = (char)c;
		return 1;
	}
	if (c >= 0x80) {
		n = utf8_seq_len(src + i, len - i);
		if (n > 0) {
			memcpy(u, src + i, n);
			*used = n;
			return n;
		}
	}
	/* Controls, DEL, and bytes that are not part of valid UTF-8. */
	memcpy(u, "\\u00", 4);
	u[4] = hexdigits[c >> 4];
	u[5] = hexdigits[c & 0xf];
	return 6;
}

static size_t
escape_with(char *dst, size_t dstsz, const char *src, size_t srclen,
	    unit_fn next)
{
	const unsigned char *s = (const unsigned char *)src;
	char u[UNIT_MAX];
	size_t total = 0, limit, o = 0, i, n, used;
	bool truncated;

	if (dstsz == 0 || dst == NULL)
		return 0;
	if (s == NULL)
		srclen = 0;

	for (i = 0; i < srclen; i += used)
		total += next(s, srclen, i, u, &used);
	limit = dstsz - 1;
	truncated = total > limit;
	if (truncated && dstsz > TRUNC_MARK_LEN)
		limit -= TRUNC_MARK_LEN;

	for (i = 0; i < srclen; i += used) {
		n = next(s, srclen, i, u, &used);
		if (n > limit - o)
			break;
		memcpy(dst + o, u, n);
		o += n;
	}
	if (truncated && dstsz > TRUNC_MARK_LEN) {
		memcpy(dst + o, TRUNC_MARK, TRUNC_MARK_LEN);
		o += TRUNC_MARK_LEN;
	}
	dst[o] = '\0';
	return o;
}

size_t
logsafe_escape(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	return escape_with(dst, dstsz, src, srclen, unit_escape);
}

size_t
logsafe_json(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	return escape_with(dst, dstsz, src, srclen, unit_json);
}

bool
logsafe_is_name(const char *s, size_t len)
{
	if (s == NULL || len == 0 || len > 64)
		return false;
	if (s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

bool
logsafe_no_crlf_nul(const char *s, size_t len)
{
	if (s == NULL)
		return len == 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return false;
	return true;
}
