/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Punycode, RFC 3492, and strict UTF-8 (see punycode.h). */
#include <stdbool.h>
#include <string.h>

#include "punycode.h"

/* RFC 3492 5: the Punycode parameters. */
enum {
	PC_BASE = 36,
	PC_TMIN = 1,
	PC_TMAX = 26,
	PC_SKEW = 38,
	PC_DAMP = 700,
	PC_INITIAL_BIAS = 72,
	PC_INITIAL_N = 0x80,
	PC_DELIMITER = '-',
};

static bool
is_scalar(uint32_t cp)
{
	return cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
}

size_t
punycode_utf8_next(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t v, min;
	size_t n;

	if (s == NULL || len == 0 || cp == NULL)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		v = p[0] & 0x1fu;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		v = p[0] & 0x0fu;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		v = p[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0u) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3fu);
	}
	if (v < min || !is_scalar(v))
		return 0;
	*cp = v;
	return n;
}

size_t
punycode_utf8_put(uint32_t cp, char out[4])
{
	if (!is_scalar(cp))
		return 0;
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* RFC 3492 6.1. */
static uint32_t
adapt(uint32_t delta, uint32_t numpoints, bool firsttime)
{
	uint32_t k = 0;

	delta = firsttime ? delta / PC_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + ((PC_BASE - PC_TMIN + 1) * delta) / (delta + PC_SKEW);
}

/* The threshold t for position k (RFC 3492 6.2/6.3, "+ tmin" omitted as
 * the RFC allows). */
static uint32_t
threshold(uint32_t k, uint32_t bias)
{
	if (k <= bias)
		return PC_TMIN;
	if (k >= bias + PC_TMAX)
		return PC_TMAX;
	return k - bias;
}

static char
digit_char(uint32_t d)
{
	/* 0..25 'a'..'z', 26..35 '0'..'9' */
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* Digit value of c, or PC_BASE when c is not a digit. */
static uint32_t
digit_value(char c)
{
	if (c >= 'a' && c <= 'z')
		return (uint32_t)(c - 'a');
	if (c >= 'A' && c <= 'Z')
		return (uint32_t)(c - 'A');
	if (c >= '0' && c <= '9')
		return (uint32_t)(c - '0') + 26;
	return PC_BASE;
}

/* Append delta as a generalized variable-length integer (RFC 3492 3.3)
 * at out[*o], keeping room for the final NUL. */
static int
put_delta(uint32_t delta, uint32_t bias, char *out, size_t outsz, size_t *o)
{
	uint32_t q = delta;

	for (uint32_t k = PC_BASE;; k += PC_BASE) {
		uint32_t t = threshold(k, bias);

		if (q < t)
			break;
		if (*o + 1 >= outsz)
			return SMTPSEND_E_LIMIT;
		out[(*o)++] = digit_char(t + (q - t) % (PC_BASE - t));
		q = (q - t) / (PC_BASE - t);
	}
	if (*o + 1 >= outsz)
		return SMTPSEND_E_LIMIT;
	out[(*o)++] = digit_char(q);
	return 0;
}

int
punycode_encode(const uint32_t *in, size_t n, char *out, size_t outsz,
		size_t *outlen)
{
	uint32_t cp, m, delta = 0, bias = PC_INITIAL_BIAS, h, b;
	uint32_t next = PC_INITIAL_N;
	size_t o = 0;

	if ((in == NULL && n > 0) || out == NULL || outsz == 0)
		return SMTPSEND_E_INVAL;
	/* the lengths below are counted in uint32_t */
	if (n > UINT32_MAX - 1)
		return SMTPSEND_E_LIMIT;
	for (size_t i = 0; i < n; i++) {
		if (!is_scalar(in[i]))
			return SMTPSEND_E_INVAL;
	}

	for (size_t i = 0; i < n; i++) {
		if (in[i] < 0x80) {
			if (o + 1 >= outsz)
				return SMTPSEND_E_LIMIT;
			out[o++] = (char)in[i];
		}
	}
	h = b = (uint32_t)o;
	if (b > 0) {
		if (o + 1 >= outsz)
			return SMTPSEND_E_LIMIT;
		out[o++] = PC_DELIMITER;
	}

	while (h < n) {
		m = UINT32_MAX;
		for (size_t i = 0; i < n; i++) {
			if (in[i] >= next && in[i] < m)
				m = in[i];
		}
		if ((m - next) > (UINT32_MAX - delta) / (h + 1))
			return SMTPSEND_E_LIMIT;
		delta += (m - next) * (h + 1);
		next = m;
		for (size_t i = 0; i < n; i++) {
			cp = in[i];
			if (cp < next) {
				if (delta == UINT32_MAX)
					return SMTPSEND_E_LIMIT;
				delta++;
			}
			if (cp != next)
				continue;
			if (put_delta(delta, bias, out, outsz, &o) < 0)
				return SMTPSEND_E_LIMIT;
			bias = adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		if (delta == UINT32_MAX)
			return SMTPSEND_E_LIMIT;
		delta++;
		next++;
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return 0;
}

int
punycode_decode(const char *in, size_t n, uint32_t *out, size_t outmax,
		size_t *outlen)
{
	uint32_t cp = PC_INITIAL_N, i = 0, bias = PC_INITIAL_BIAS;
	size_t b = 0, pos, len = 0;

	if ((in == NULL && n > 0) || (out == NULL && outmax > 0) ||
	    outlen == NULL)
		return SMTPSEND_E_INVAL;
	if (n > UINT32_MAX - 1)
		return SMTPSEND_E_LIMIT;

	/* the basic code points: everything before the last delimiter */
	for (size_t j = 0; j < n; j++) {
		if (in[j] == PC_DELIMITER)
			b = j;
	}
	for (size_t j = 0; j < b; j++) {
		if ((unsigned char)in[j] >= 0x80)
			return SMTPSEND_E_INVAL;
		if (len >= outmax)
			return SMTPSEND_E_LIMIT;
		out[len++] = (unsigned char)in[j];
	}
	pos = b > 0 ? b + 1 : 0;

	while (pos < n) {
		uint32_t oldi = i, w = 1;

		for (uint32_t k = PC_BASE;; k += PC_BASE) {
			uint32_t digit, t;

			if (pos >= n)
				return SMTPSEND_E_INVAL;
			digit = digit_value(in[pos++]);
			if (digit >= PC_BASE)
				return SMTPSEND_E_INVAL;
			if (digit > (UINT32_MAX - i) / w)
				return SMTPSEND_E_INVAL;
			i += digit * w;
			t = threshold(k, bias);
			if (digit < t)
				break;
			if (w > UINT32_MAX / (PC_BASE - t))
				return SMTPSEND_E_INVAL;
			w *= PC_BASE - t;
			if (k > UINT32_MAX - PC_BASE)
				return SMTPSEND_E_INVAL;
		}
		bias = adapt(i - oldi, (uint32_t)len + 1, oldi == 0);
		if (i / (len + 1) > UINT32_MAX - cp)
			return SMTPSEND_E_INVAL;
		cp += i / (uint32_t)(len + 1);
		i %= (uint32_t)(len + 1);
		if (!is_scalar(cp))
			return SMTPSEND_E_INVAL;
		if (len >= outmax)
			return SMTPSEND_E_LIMIT;
		memmove(out + i + 1, out + i, (len - i) * sizeof(*out));
		out[i++] = cp;
		len++;
	}
	*outlen = len;
	return 0;
}
