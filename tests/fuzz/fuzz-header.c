/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for libsend/encword.c.  The first input octet picks the
 * field name (short, or long enough to push the value to the next line);
 * the rest is the value.  Properties (abort() otherwise):
 *   - every writer refuses exactly the values it must: CR, LF, NUL or
 *     invalid UTF-8 (SMTPSEND_E_INVAL), too long (SMTPSEND_E_LIMIT);
 *   - encword_unstructured(): ASCII only, CRLF line ends only, lines of
 *     at most 78 characters (76 when they hold an encoded word),
 *     continuation lines start with a blank and are not blank-only,
 *     encoded words of at most 75 characters, and encword_decode() gives
 *     back the value;
 *   - encword_structured(): lines of at most 998 octets, and unfolding
 *     gives back "Name: value" exactly;
 *   - encword_phrase(): one line; unquoting or decoding gives back the
 *     value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "encword.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char short_name[] = "Subject";
static const char long_name[] =
    "X-A-Rather-Long-Field-Name-Used-To-Push-The-Value-Down-A-Line";

/* RFC 3629, written again here so the target does not trust the code
 * under test. */
static bool
utf8_ok(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			n = 2, cp = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			n = 3, cp = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			n = 4, cp = s[i] & 0x07;
		else
			return false;
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

static int
expected(const uint8_t *v, size_t len, size_t max)
{
	if (len > max)
		return SMTPSEND_E_LIMIT;
	if (memchr(v, '\r', len) || memchr(v, '\n', len) ||
	    memchr(v, '\0', len) || !utf8_ok(v, len))
		return SMTPSEND_E_INVAL;
	return 0;
}

/* CRLF lines; continuation lines start with a blank and hold more. */
static void
check_lines(const char *f, size_t len, size_t max, size_t max_encoded)
{
	size_t start = 0;

	if (len < 2 || memcmp(f + len - 2, "\r\n", 2) != 0 || strlen(f) != len)
		abort();
	for (size_t i = 0; i < len; i++) {
		bool blank_only = true;

		if (f[i] == '\n' && (i == 0 || f[i - 1] != '\r'))
			abort();
		if (f[i] != '\r')
			continue;
		if (f[i + 1] != '\n' || i - start > max)
			abort();
		if (memmem(f + start, i - start, "=?", 2) != NULL &&
		    i - start > max_encoded)
			abort();
		if (start > 0) {
			if (f[start] != ' ' && f[start] != '\t')
				abort();
			for (size_t j = start; j < i; j++)
				blank_only &= f[j] == ' ' || f[j] == '\t';
			if (blank_only)
				abort();
		}
		start = i + 2;
		i++;
	}
}

/* Encoded words: "=?UTF-8?" then "?=" within 75 characters. */
static void
check_words(const char *f, size_t len)
{
	for (const char *p = f;
	     (p = memmem(p, len - (size_t)(p - f), "=?", 2)) != NULL;) {
		const char *end;

		if (strncmp(p, "=?UTF-8?B?", 10) != 0 &&
		    strncmp(p, "=?UTF-8?Q?", 10) != 0)
			abort();
		end = strstr(p + 10, "?=");
		if (end == NULL || end + 2 - p > ENCWORD_WORD_MAX)
			abort();
		p = end + 2;
	}
}

static void
check_unstructured(const char *name, const uint8_t *v, size_t len)
{
	char *f = NULL, *dec = NULL;
	size_t flen = 0, dlen = 0;
	int r;

	r = encword_unstructured(&f, &flen, name, (const char *)v, len);
	if (r != expected(v, len, ENCWORD_VALUE_MAX))
		abort();
	if (r < 0)
		return;
	for (size_t i = 0; i < flen; i++) {
		if ((unsigned char)f[i] >= 0x80)
			abort();
	}
	check_lines(f, flen, ENCWORD_LINE_SOFT, ENCWORD_LINE_ENCODED);
	check_words(f, flen);
	if (encword_decode(&dec, &dlen, name, f, flen) != 0 || dlen != len ||
	    memcmp(dec, v, len) != 0)
		abort();
	common_free(dec);
	common_free(f);
}

static void
check_structured(const char *name, const uint8_t *v, size_t len)
{
	char *f = NULL, *u;
	size_t flen = 0, ulen = 0, nlen = strlen(name);
	bool ctl = false;
	int r, want;

	r = encword_structured(&f, &flen, name, (const char *)v, len);
	want = expected(v, len, ENCWORD_STRUCTURED_MAX);
	for (size_t i = 0; i < len; i++)
		ctl |= (v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f;
	if (want == 0 && ctl)
		want = SMTPSEND_E_INVAL;
	/* a run without blanks that cannot fit in 998 */
	if (r == SMTPSEND_E_LIMIT && want == 0)
		return;
	if (r != want)
		abort();
	if (r < 0)
		return;
	check_lines(f, flen, SMTP_TEXT_LINE_MAX, SMTP_TEXT_LINE_MAX);
	u = malloc(flen + 1);
	if (u == NULL)
		abort();
	for (size_t i = 0; i + 2 < flen; i++) {
		if (f[i] == '\r' && f[i + 1] == '\n') {
			i++;
			continue;
		}
		u[ulen++] = f[i];
	}
	/* "Name:" then " value", or nothing for an empty value */
	if (ulen != nlen + 1 + (len > 0 ? 1 + len : 0) ||
	    memcmp(u, name, nlen) != 0 || u[nlen] != ':' ||
	    (len > 0 && (u[nlen + 1] != ' ' ||
			     memcmp(u + nlen + 2, v, len) != 0)))
		abort();
	free(u);
	common_free(f);
}

static void
check_phrase(const uint8_t *v, size_t len)
{
	char *p = NULL, *dec = NULL, *field;
	size_t plen = 0, dlen = 0, o = 0;
	int r, want;

	r = encword_phrase(&p, &plen, (const char *)v, len);
	want = expected(v, len, ENCWORD_VALUE_MAX);
	if (want == 0 && len == 0)
		want = SMTPSEND_E_INVAL;
	if (r != want)
		abort();
	if (r < 0)
		return;
	if (strlen(p) != plen || memchr(p, '\r', plen) || memchr(p, '\n', plen))
		abort();
	if (p[0] == '"') {
		/* a quoted string */
		if (plen < 2 || p[plen - 1] != '"')
			abort();
		dec = malloc(plen);
		if (dec == NULL)
			abort();
		for (size_t i = 1; i + 1 < plen; i++) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				abort();
			dec[o++] = p[i];
		}
		if (o != len || memcmp(dec, v, len) != 0)
			abort();
		free(dec);
	} else if (strncmp(p, "=?UTF-8?", 8) == 0) {
		check_words(p, plen);
		field = malloc(plen + 8);
		if (field == NULL)
			abort();
		snprintf(field, plen + 8, "X: %s\r\n", p);
		if (encword_decode(&dec, &dlen, "X", field, strlen(field)) !=
			0 ||
		    dlen != len || memcmp(dec, v, len) != 0)
			abort();
		common_free(dec);
		free(field);
	} else if (plen != len || memcmp(p, v, len) != 0) {
		abort();
	}
	common_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name;

	if (size == 0 || size > 2 * ENCWORD_VALUE_MAX)
		return 0;
	name = data[0] & 1 ? long_name : short_name;
	data++;
	size--;
	check_unstructured(name, data, size);
	check_structured(name, data, size);
	check_phrase(data, size);
	return 0;
}
