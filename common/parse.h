/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Strict number parsing: the whole string must be a number, in range, with
 * no sign unless signed, no leading or trailing space, no empty string.
 * Replaces atoi/strtol-without-checks everywhere.  Output parameters are
 * left untouched on failure.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Decimal numbers are one or more ASCII digits, nothing else (the signed
 * parser allows one leading '-'; "-0" is 0); leading zeros are accepted
 * ("007" is 7).  min > max is -EINVAL. */

/* Decimal unsigned integer in [min, max].  0, -EINVAL (not a number),
 * -ERANGE (out of range). */
int parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Decimal signed integer in [min, max].  0, -EINVAL, -ERANGE. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Convenience wrappers with the same rules. */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* The value of a hexadecimal digit of either case, or -1. */
int hex_digit_value(int c);
/* A TCP port: 1..65535. */
int parse_port(const char *s, uint16_t *out);
/* A file descriptor number: 0..INT_MAX. */
int parse_fd(const char *s, int *out);

/* RFC 3339 UTC timestamp "YYYY-MM-DDTHH:MM:SSZ" (exactly that form, the
 * one this project writes) to seconds since the epoch.  0, -EINVAL.
 * Years 0000..9999 (proleptic Gregorian), seconds 00..59 (no leap second);
 * independent of TZ and the locale. */
int parse_rfc3339_utc(const char *s, int64_t *out);
/* Format seconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ" into buf
 * (at least RFC3339_BUFSZ bytes).  0, -EINVAL, -ERANGE (year outside
 * 0000..9999). */
#define RFC3339_BUFSZ 21
int format_rfc3339_utc(int64_t t, char *buf, size_t bufsz);
