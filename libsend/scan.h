/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Word-at-a-time scanners for the body paths (set_text, the MIME builder,
 * the DATA encoder), which look at every byte of a message.  Each returns
 * the length of the longest prefix of p[0..n) made only of the bytes it
 * passes; eight bytes are tested at once and the byte loop at the end
 * decides exactly, so a false alarm of the word test only costs time.
 * Pure functions, no state.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SCAN_ONES  0x0101010101010101ull
#define SCAN_HIGHS 0x8080808080808080ull

/* Some byte of w is below c (c <= 0x80; exact for bytes below 0x80,
 * bytes with the high bit set are not flagged). */
static inline uint64_t
scan_has_less(uint64_t w, unsigned char c)
{
	return (w - SCAN_ONES * c) & ~w & SCAN_HIGHS;
}

/* Some byte of w is zero. */
static inline uint64_t
scan_has_zero(uint64_t w)
{
	return (w - SCAN_ONES) & ~w & SCAN_HIGHS;
}

/* Printable ASCII: 0x20..0x7e. */
static inline size_t
scan_printable(const unsigned char *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (scan_has_less(w, 0x20) |
		    ((w | (w + SCAN_ONES)) & SCAN_HIGHS))
			break;
	}
	while (i < n && p[i] >= 0x20 && p[i] < 0x7f)
		i++;
	return i;
}

/* Anything but CR, LF and NUL; *high gets the OR of the bytes passed
 * (so *high & 0x80 tells whether one of them was 8-bit). */
static inline size_t
scan_line(const unsigned char *p, size_t n, unsigned char *high)
{
	uint64_t acc = 0;
	size_t i = 0;
	unsigned char h;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (scan_has_zero(w) | scan_has_zero(w ^ (SCAN_ONES * '\r')) |
		    scan_has_zero(w ^ (SCAN_ONES * '\n')))
			break;
		acc |= w;
	}
	h = (acc & SCAN_HIGHS) != 0 ? 0x80 : 0;
	for (; i < n && p[i] != '\r' && p[i] != '\n' && p[i] != '\0'; i++)
		h |= p[i];
	*high |= h;
	return i;
}
