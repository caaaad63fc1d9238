/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Strict number and timestamp parsing (see parse.h).
 *
 * Decimal rules: one or more ASCII digits and nothing else; for the signed
 * parser one optional leading '-' ("-0" is 0).  No '+', no spaces, no
 * base prefixes, no locale.  Leading zeros are accepted ("007" is 7): they
 * are unambiguous in decimal, and file descriptor or port numbers written
 * by other tools sometimes carry them.  We never use strtol(), whose
 * whitespace skipping, sign handling and errno protocol are what this file
 * exists to avoid.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits only, at least one; the magnitude may be up to UINT64_MAX. */
static int
parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		unsigned d;

		if (!is_digit(*s))
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10) {
			/* Keep scanning: "99999999999999999999x" is not a
			 * number at all, so it is -EINVAL, not -ERANGE. */
			for (; *s != '\0'; s++)
				if (!is_digit(*s))
					return -EINVAL;
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int r;

	if (min > max)
		return -EINVAL;
	r = parse_digits(s, &v);
	if (r < 0)
		return r;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int
parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool neg = false;
	uint64_t mag;
	int64_t v;
	int r;

	if (min > max || s == NULL)
		return -EINVAL;
	if (*s == '-') {
		neg = true;
		s++;
	}
	r = parse_digits(s, &mag);
	if (r < 0)
		return r;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		/* -(INT64_MAX + 1) without overflowing. */
		v = mag == 0 ? 0 : -(int64_t)(mag - 1) - 1;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return -ERANGE;
		v = (int64_t)mag;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int
parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;
	int r;

	r = parse_uint64(s, min, max, &v);
	if (r < 0)
		return r;
	*out = (unsigned)v;
	return 0;
}

int
parse_port(const char *s, uint16_t *out)
{
	uint64_t v;
	int r;

	r = parse_uint64(s, 1, UINT16_MAX, &v);
	if (r < 0)
		return r;
	*out = (uint16_t)v;
	return 0;
}

int
parse_fd(const char *s, int *out)
{
	uint64_t v;
	int r;

	r = parse_uint64(s, 0, INT_MAX, &v);
	if (r < 0)
		return r;
	*out = (int)v;
	return 0;
}

/* --- RFC 3339 ----------------------------------------------------------- */

/* Years this project reads and writes: the four-digit years of RFC 3339,
 * in the proleptic Gregorian calendar. */
#define YEAR_MIN 0
#define YEAR_MAX 9999

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30,
						31, 31, 30, 31, 30, 31};

	if (m == 2 && is_leap(y))
		return 29;
	return mdays[m - 1];
}

/*
 * Days from 1970-01-01 to y-m-d (proleptic Gregorian), for y >= 0.
 *
 * Count from a year that starts on 1 March, so the leap day is the last
 * day of the counting year and the month lengths from March on follow the
 * 31/30 pattern that (153 * k + 2) / 5 reproduces.  400 is added to the
 * year so every intermediate value is non-negative (division then
 * truncates the way the calendar needs); the offset is a whole number of
 * 400-year cycles, so it cancels out in the difference to the epoch.
 */
static int64_t
days_since_base(int64_t y, int m, int d)
{
	int64_t yy = y + 400 - (m <= 2 ? 1 : 0);
	int64_t k = (m + 9) % 12; /* March = 0 ... February = 11 */
	int64_t doy = (153 * k + 2) / 5 + (d - 1);

	return yy * 365 + yy / 4 - yy / 100 + yy / 400 + doy;
}

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	return days_since_base(y, m, d) - days_since_base(1970, 1, 1);
}

/* Inverse of days_from_civil() for dates within YEAR_MIN..YEAR_MAX. */
static void
civil_from_days(int64_t days, int64_t *y_out, int *m_out, int *d_out)
{
	int64_t y;
	int m;

	/* An estimate within a year or so, then corrected exactly. */
	y = 1970 + days * 400 / 146097;
	while (days_from_civil(y, 1, 1) > days)
		y--;
	while (days_from_civil(y + 1, 1, 1) <= days)
		y++;
	for (m = 12; m > 1; m--)
		if (days_from_civil(y, m, 1) <= days)
			break;
	*y_out = y;
	*m_out = m;
	*d_out = (int)(days - days_from_civil(y, m, 1)) + 1;
}

/* n fixed decimal digits at s; -1 when any is not a digit. */
static int
fixed_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
parse_rfc3339_utc(const char *s, int64_t *out)
{
	/* "YYYY-MM-DDTHH:MM:SSZ": position of each separator. */
	static const struct {
		unsigned char pos;
		char c;
	} seps[] = {{4, '-'},  {7, '-'},  {10, 'T'},
		    {13, ':'}, {16, ':'}, {19, 'Z'}};
	int year, mon, day, hour, min, sec;
	size_t i;

	if (s == NULL)
		return -EINVAL;
	/* Length check first so the fixed offsets below stay in bounds. */
	for (i = 0; i < RFC3339_BUFSZ - 1; i++)
		if (s[i] == '\0')
			return -EINVAL;
	if (s[RFC3339_BUFSZ - 1] != '\0')
		return -EINVAL;
	for (i = 0; i < sizeof(seps) / sizeof(seps[0]); i++)
		if (s[seps[i].pos] != seps[i].c)
			return -EINVAL;

	year = fixed_digits(s, 4);
	mon = fixed_digits(s + 5, 2);
	day = fixed_digits(s + 8, 2);
	hour = fixed_digits(s + 11, 2);
	min = fixed_digits(s + 14, 2);
	sec = fixed_digits(s + 17, 2);
	if (year < YEAR_MIN || mon < 1 || mon > 12 || day < 1 ||
	    day > days_in_month(year, mon) || hour < 0 || hour > 23 ||
	    min < 0 || min > 59 || sec < 0 || sec > 59)
		return -EINVAL;

	*out = days_from_civil(year, mon, day) * 86400 + hour * 3600 +
	       min * 60 + sec;
	return 0;
}

static void
put_digits(char *p, int64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

int
format_rfc3339_utc(int64_t t, char *buf, size_t bufsz)
{
	int64_t tmin, tmax, days, secs, year;
	int mon, day;

	tmin = days_from_civil(YEAR_MIN, 1, 1) * 86400;
	tmax = days_from_civil(YEAR_MAX, 12, 31) * 86400 + 86399;
	if (buf == NULL || bufsz < RFC3339_BUFSZ)
		return -EINVAL;
	if (t < tmin || t > tmax)
		return -ERANGE;

	/* Floor division: times before 1970 belong to the earlier day. */
	days = t / 86400;
	secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &year, &mon, &day);

	put_digits(buf, year, 4);
	buf[4] = '-';
	put_digits(buf + 5, mon, 2);
	buf[7] = '-';
	put_digits(buf + 8, day, 2);
	buf[10] = 'T';
	put_digits(buf + 11, secs / 3600, 2);
	buf[13] = ':';
	put_digits(buf + 14, secs / 60 % 60, 2);
	buf[16] = ':';
	put_digits(buf + 17, secs % 60, 2);
	buf[19] = 'Z';
	buf[20] = '\0';
	return 0;
}

int
hex_digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
