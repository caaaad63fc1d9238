/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Punycode (RFC 3492) and the strict UTF-8 helpers the IDN code needs.
 * Pure: no I/O, no allocation, no global state.
 *
 * This is only the Bootstring transform.  It is not IDNA: no Nameprep,
 * no UTS #46 mapping, no normalisation; addr.c decides what a label may
 * hold before encoding it.  No mixed-case annotation: basic code points
 * are copied as they are, digits are written in lower case.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/*
 * Decode one UTF-8 sequence from s[0..len): returns its length (1..4) and
 * sets *cp, or 0 for anything that is not well-formed UTF-8 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF, no truncated
 * sequence).  len 0 returns 0.
 */
size_t punycode_utf8_next(const char *s, size_t len, uint32_t *cp);

/* Write cp as UTF-8 into out (4 bytes are enough); returns the length,
 * or 0 when cp is a surrogate or above U+10FFFF. */
size_t punycode_utf8_put(uint32_t cp, char out[4]);

/*
 * Encode n code points (RFC 3492 6.3) into out, NUL-terminated, without
 * the "xn--" prefix; *outlen (optional) gets the length.  Returns 0,
 * SMTPSEND_E_INVAL (a NULL pointer, a surrogate or a value above
 * U+10FFFF), or SMTPSEND_E_LIMIT (out too small, or the arithmetic
 * overflow of 6.4).  out holds garbage on failure.
 */
int punycode_encode(const uint32_t *in, size_t n, char *out, size_t outsz,
		    size_t *outlen);

/*
 * Decode n bytes of Punycode (RFC 3492 6.2; digits in either case) into
 * at most outmax code points; *outlen gets how many.  Returns 0,
 * SMTPSEND_E_INVAL (malformed input: a non-basic byte, a bad digit,
 * truncation, overflow, or a result that is not a Unicode scalar value)
 * or SMTPSEND_E_LIMIT (more than outmax code points).
 */
int punycode_decode(const char *in, size_t n, uint32_t *out, size_t outmax,
		    size_t *outlen);
