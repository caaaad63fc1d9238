/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for common/parse.c: strict decimal parsing and RFC 3339 UTC
 * timestamps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- parse_uint64 --------------------------------------------------------- */

struct u64_case {
	const char *in;
	uint64_t min, max;
	int want_rc;
	uint64_t want;
};

/* clang-format off */
static const struct u64_case u64_cases[] = {
	{"0",                     0, UINT64_MAX, 0,       0},
	{"1",                     0, UINT64_MAX, 0,       1},
	{"007",                   0, UINT64_MAX, 0,       7},
	{"000",                   0, UINT64_MAX, 0,       0},
	{"18446744073709551615",  0, UINT64_MAX, 0,       UINT64_MAX},
	{"018446744073709551615", 0, UINT64_MAX, 0,       UINT64_MAX},
	{"18446744073709551616",  0, UINT64_MAX, -ERANGE, 0},
	{"99999999999999999999",  0, UINT64_MAX, -ERANGE, 0},
	{"999999999999999999999999999999", 0, UINT64_MAX, -ERANGE, 0},
	{"99999999999999999999x", 0, UINT64_MAX, -EINVAL, 0},
	{"5",                     5, 5,          0,       5},
	{"4",                     5, 10,         -ERANGE, 0},
	{"11",                    5, 10,         -ERANGE, 0},
	{"1",                     2, 1,          -EINVAL, 0},
};
/* clang-format on */

static void
test_parse_uint64_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(u64_cases); i++) {
		const struct u64_case *c = &u64_cases[i];
		uint64_t v = 12345;
		int r = parse_uint64(c->in, c->min, c->max, &v);

		if (r != c->want_rc)
			fail_msg("'%s': got %d, want %d", c->in, r, c->want_rc);
		if (r == 0 && v != c->want)
			fail_msg("'%s': got value %llu", c->in,
				 (unsigned long long)v);
		if (r != 0 && v != 12345)
			fail_msg("'%s': output changed on failure", c->in);
	}
}

/* Not numbers at all: -EINVAL from every unsigned parser. */
static const char *const not_unsigned[] = {
    "",    " 1",  "1 ",  "+1",  "-1",  "0x10", "1a", "a",   "1.0",   "\t1",
    "1\n", "1,0", "1_0", "1e3", "--1", "-",    "+",  "0b1", "1\x7f", "\xd9\xa3",
};

static void
test_parse_rejects_non_numbers(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(not_unsigned); i++) {
		const char *s = not_unsigned[i];
		uint64_t v64 = 42;
		unsigned u = 42;
		uint16_t port = 42;
		int fd = 42;

		if (parse_uint64(s, 0, UINT64_MAX, &v64) != -EINVAL)
			fail_msg("parse_uint64 accepted '%s'", s);
		if (parse_uint(s, 0, UINT_MAX, &u) != -EINVAL)
			fail_msg("parse_uint accepted '%s'", s);
		if (parse_port(s, &port) != -EINVAL)
			fail_msg("parse_port accepted '%s'", s);
		if (parse_fd(s, &fd) != -EINVAL)
			fail_msg("parse_fd accepted '%s'", s);
		assert_int_equal(v64, 42);
		assert_int_equal(u, 42);
		assert_int_equal(port, 42);
		assert_int_equal(fd, 42);
	}
}

static void
test_parse_rejects_leading_space(void **state)
{
	uint64_t v = 9;

	(void)state;
	assert_int_equal(parse_uint64(" 1", 0, 10, &v), -EINVAL);
	assert_int_equal(v, 9);
}

static void
test_parse_rejects_trailing_space(void **state)
{
	uint64_t v = 9;

	(void)state;
	assert_int_equal(parse_uint64("1 ", 0, 10, &v), -EINVAL);
	assert_int_equal(v, 9);
}

static void
test_parse_rejects_plus_sign(void **state)
{
	uint64_t u = 9;
	int64_t s = 9;

	(void)state;
	assert_int_equal(parse_uint64("+1", 0, 10, &u), -EINVAL);
	assert_int_equal(parse_int64("+1", -10, 10, &s), -EINVAL);
	assert_int_equal(u, 9);
	assert_int_equal(s, 9);
}

static void
test_parse_rejects_null(void **state)
{
	uint64_t u = 9;
	int64_t s = 9;

	(void)state;
	assert_int_equal(parse_uint64(NULL, 0, 10, &u), -EINVAL);
	assert_int_equal(parse_int64(NULL, -10, 10, &s), -EINVAL);
	assert_int_equal(u, 9);
	assert_int_equal(s, 9);
}

/* --- parse_int64 ---------------------------------------------------------- */

struct i64_case {
	const char *in;
	int64_t min, max;
	int want_rc;
	int64_t want;
};

/* clang-format off */
static const struct i64_case i64_cases[] = {
	{"0",                    INT64_MIN, INT64_MAX, 0,       0},
	{"-0",                   INT64_MIN, INT64_MAX, 0,       0},
	{"-1",                   INT64_MIN, INT64_MAX, 0,       -1},
	{"-007",                 INT64_MIN, INT64_MAX, 0,       -7},
	{"9223372036854775807",  INT64_MIN, INT64_MAX, 0,       INT64_MAX},
	{"-9223372036854775808", INT64_MIN, INT64_MAX, 0,       INT64_MIN},
	{"9223372036854775808",  INT64_MIN, INT64_MAX, -ERANGE, 0},
	{"-9223372036854775809", INT64_MIN, INT64_MAX, -ERANGE, 0},
	{"-18446744073709551616", INT64_MIN, INT64_MAX, -ERANGE, 0},
	{"-5",                   -5,        5,         0,       -5},
	{"-6",                   -5,        5,         -ERANGE, 0},
	{"6",                    -5,        5,         -ERANGE, 0},
	{"-",                    INT64_MIN, INT64_MAX, -EINVAL, 0},
	{"--1",                  INT64_MIN, INT64_MAX, -EINVAL, 0},
	{"- 1",                  INT64_MIN, INT64_MAX, -EINVAL, 0},
	{" -1",                  INT64_MIN, INT64_MAX, -EINVAL, 0},
	{"-1 ",                  INT64_MIN, INT64_MAX, -EINVAL, 0},
	{"+1",                   INT64_MIN, INT64_MAX, -EINVAL, 0},
	{"-0x10",                INT64_MIN, INT64_MAX, -EINVAL, 0},
	{"",                     INT64_MIN, INT64_MAX, -EINVAL, 0},
	{"1",                    2,         1,         -EINVAL, 0},
};
/* clang-format on */

static void
test_parse_int64_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(i64_cases); i++) {
		const struct i64_case *c = &i64_cases[i];
		int64_t v = 12345;
		int r = parse_int64(c->in, c->min, c->max, &v);

		if (r != c->want_rc)
			fail_msg("'%s': got %d, want %d", c->in, r, c->want_rc);
		if (r == 0 && v != c->want)
			fail_msg("'%s': got value %lld", c->in, (long long)v);
		if (r != 0 && v != 12345)
			fail_msg("'%s': output changed on failure", c->in);
	}
}

/* --- wrappers ------------------------------------------------------------- */

struct wrap_case {
	const char *in;
	int want_rc;
	long long want;
};

/* clang-format off */
static const struct wrap_case port_cases[] = {
	{"1",      0,       1},
	{"25",     0,       25},
	{"0587",   0,       587},
	{"65535",  0,       65535},
	{"0",      -ERANGE, 0},
	{"65536",  -ERANGE, 0},
	{"-25",    -EINVAL, 0},
	{"smtp",   -EINVAL, 0},
};

static const struct wrap_case fd_cases[] = {
	{"0",           0,       0},
	{"3",           0,       3},
	{"2147483647",  0,       INT_MAX},
	{"2147483648",  -ERANGE, 0},
	{"-1",          -EINVAL, 0},
	{"3 ",          -EINVAL, 0},
};

static const struct wrap_case uint_cases[] = {
	{"4294967295",  0,       UINT_MAX},
	{"4294967296",  -ERANGE, 0},
	{"10",          0,       10},
};
/* clang-format on */

static void
test_parse_port_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(port_cases); i++) {
		const struct wrap_case *c = &port_cases[i];
		uint16_t v = 7;
		int r = parse_port(c->in, &v);

		if (r != c->want_rc)
			fail_msg("'%s': got %d, want %d", c->in, r, c->want_rc);
		assert_int_equal(v, r == 0 ? c->want : 7);
	}
}

static void
test_parse_fd_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fd_cases); i++) {
		const struct wrap_case *c = &fd_cases[i];
		int v = 7;
		int r = parse_fd(c->in, &v);

		if (r != c->want_rc)
			fail_msg("'%s': got %d, want %d", c->in, r, c->want_rc);
		assert_int_equal(v, r == 0 ? c->want : 7);
	}
}

static void
test_parse_uint_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(uint_cases); i++) {
		const struct wrap_case *c = &uint_cases[i];
		unsigned v = 7;
		int r = parse_uint(c->in, 0, UINT_MAX, &v);

		if (r != c->want_rc)
			fail_msg("'%s': got %d, want %d", c->in, r, c->want_rc);
		assert_int_equal(v, r == 0 ? c->want : 7);
	}
	{
		unsigned v = 7;

		assert_int_equal(parse_uint("9", 10, 20, &v), -ERANGE);
		assert_int_equal(v, 7);
	}
}

/* --- RFC 3339 ------------------------------------------------------------- */

struct ts_case {
	const char *text;
	int64_t t;
};

/* clang-format off */
static const struct ts_case ts_cases[] = {
	{"1970-01-01T00:00:00Z", 0},
	{"1970-01-01T00:00:01Z", 1},
	{"1969-12-31T23:59:59Z", -1},
	{"1970-01-02T00:00:00Z", 86400},
	{"2000-01-01T00:00:00Z", 946684800},
	{"2000-02-29T00:00:00Z", 951782400},
	{"2000-02-29T23:59:59Z", 951868799},
	{"2000-03-01T00:00:00Z", 951868800},
	{"2004-02-29T12:00:00Z", 1078056000},
	{"2024-12-31T23:59:59Z", 1735689599},
	{"2038-01-19T03:14:07Z", 2147483647},
	{"2038-01-19T03:14:08Z", 2147483648},
	{"2100-03-01T00:00:00Z", 4107542400},
	{"2106-02-07T06:28:16Z", 4294967296},
	{"9999-12-31T23:59:59Z", 253402300799},
	{"1900-03-01T00:00:00Z", -2203891200},
	{"1600-02-29T00:00:00Z", -11670998400},
	{"0000-01-01T00:00:00Z", -62167219200},
	{"0000-02-29T00:00:00Z", -62162121600},
};
/* clang-format on */

static void
test_rfc3339_round_trip_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ts_cases); i++) {
		const struct ts_case *c = &ts_cases[i];
		char buf[RFC3339_BUFSZ];
		int64_t t = 0;

		if (parse_rfc3339_utc(c->text, &t) != 0)
			fail_msg("'%s' rejected", c->text);
		if (t != c->t)
			fail_msg("'%s': got %lld, want %lld", c->text,
				 (long long)t, (long long)c->t);
		assert_int_equal(format_rfc3339_utc(c->t, buf, sizeof(buf)), 0);
		assert_string_equal(buf, c->text);
	}
}

static const char *const bad_timestamps[] = {
    "",
    "2024-01-01",
    "2024-01-01T00:00:00",
    "2024-01-01T00:00:00z",
    "2024-01-01t00:00:00Z",
    "2024-01-01 00:00:00Z",
    "2024-01-01T00:00:00+00:00",
    "2024-01-01T00:00:00.5Z",
    "2024-01-01T00:00:00Z ",
    " 2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00ZZ",
    "+2024-01-01T00:00:00Z",
    "02024-01-01T00:00:00Z",
    "2024-1-01T00:00:00Z",
    "2024-01-1T00:00:00Z",
    "2024-01-01T0:00:00Z",
    "2024/01/01T00:00:00Z",
    "2024-01-01T00-00-00Z",
    "2024-00-01T00:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-01-00T00:00:00Z",
    "2024-01-32T00:00:00Z",
    "2024-04-31T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2100-02-29T00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T00:60:00Z",
    "2024-01-01T00:00:60Z",
    "2024-01-01T-1:00:00Z",
    "2024-0a-01T00:00:00Z",
    "2024-01-01T00:00: 0Z",
    "-001-01-01T00:00:00Z",
};

static void
test_rfc3339_rejects_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_timestamps); i++) {
		int64_t t = 777;

		if (parse_rfc3339_utc(bad_timestamps[i], &t) != -EINVAL)
			fail_msg("accepted '%s'", bad_timestamps[i]);
		assert_int_equal(t, 777);
	}
	{
		int64_t t = 777;

		assert_int_equal(parse_rfc3339_utc(NULL, &t), -EINVAL);
		assert_int_equal(t, 777);
	}
}

static void
test_rfc3339_accepts_every_valid_day_of_leap_years(void **state)
{
	static const int years[] = {1970, 1999, 2000, 2023, 2024, 2100, 2400};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(years); i++) {
		char buf[RFC3339_BUFSZ];
		int64_t t, prev = 0;
		int64_t y = years[i];
		int ndays = 0;

		/* Every day of the year parses, and consecutive days are
		 * 86400 seconds apart. */
		for (int m = 1; m <= 12; m++) {
			for (int d = 1; d <= 31; d++) {
				snprintf(buf, sizeof(buf),
					 "%04d-%02d-%02dT00:00:00Z", (int)y, m,
					 d);
				if (parse_rfc3339_utc(buf, &t) != 0)
					continue;
				if (ndays > 0)
					assert_int_equal(t - prev, 86400);
				prev = t;
				ndays++;
			}
		}
		assert_int_equal(
		    ndays,
		    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 366 : 365);
	}
}

static void
test_rfc3339_format_matches_gmtime(void **state)
{
	/* Sample the range with a stride that is prime to 86400 so every
	 * time of day and both sides of the epoch are visited. */
	const int64_t lo = -62167219200, hi = 253402300799;
	const int64_t stride = 86400LL * 3652 + 7919;

	(void)state;
	for (int64_t t = lo; t <= hi; t += stride) {
		char mine[RFC3339_BUFSZ], theirs[64];
		time_t tt = (time_t)t;
		struct tm tm;
		int64_t back;

		assert_non_null(gmtime_r(&tt, &tm));
		assert_int_not_equal(
		    strftime(theirs, sizeof(theirs), "%Y-%m-%dT%H:%M:%SZ", &tm),
		    0);
		assert_int_equal(format_rfc3339_utc(t, mine, sizeof(mine)), 0);
		/* strftime pads years below 1000 differently; compare
		 * only where its output has the fixed form. */
		if (strlen(theirs) == RFC3339_BUFSZ - 1)
			assert_string_equal(mine, theirs);
		assert_int_equal(parse_rfc3339_utc(mine, &back), 0);
		assert_int_equal(back, t);
	}
}

static void
test_rfc3339_ignores_tz(void **state)
{
	int64_t a, b;

	(void)state;
	assert_int_equal(parse_rfc3339_utc("2024-07-01T12:00:00Z", &a), 0);
	setenv("TZ", "America/New_York", 1);
	tzset();
	assert_int_equal(parse_rfc3339_utc("2024-07-01T12:00:00Z", &b), 0);
	unsetenv("TZ");
	tzset();
	assert_int_equal(a, b);
	assert_int_equal(a, 1719835200);
}

static void
test_format_rfc3339_rejects_small_buffer(void **state)
{
	char buf[RFC3339_BUFSZ];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(format_rfc3339_utc(0, buf, RFC3339_BUFSZ - 1),
			 -EINVAL);
	assert_int_equal(buf[0], 'x');
	assert_int_equal(format_rfc3339_utc(0, NULL, RFC3339_BUFSZ), -EINVAL);
}

static void
test_format_rfc3339_rejects_out_of_range(void **state)
{
	char buf[RFC3339_BUFSZ];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(format_rfc3339_utc(253402300800, buf, sizeof(buf)),
			 -ERANGE);
	assert_int_equal(format_rfc3339_utc(-62167219201, buf, sizeof(buf)),
			 -ERANGE);
	assert_int_equal(format_rfc3339_utc(INT64_MAX, buf, sizeof(buf)),
			 -ERANGE);
	assert_int_equal(format_rfc3339_utc(INT64_MIN, buf, sizeof(buf)),
			 -ERANGE);
	assert_int_equal(buf[0], 'x');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_uint64_table),
	    cmocka_unit_test(test_parse_rejects_non_numbers),
	    cmocka_unit_test(test_parse_rejects_leading_space),
	    cmocka_unit_test(test_parse_rejects_trailing_space),
	    cmocka_unit_test(test_parse_rejects_plus_sign),
	    cmocka_unit_test(test_parse_rejects_null),
	    cmocka_unit_test(test_parse_int64_table),
	    cmocka_unit_test(test_parse_port_table),
	    cmocka_unit_test(test_parse_fd_table),
	    cmocka_unit_test(test_parse_uint_table),
	    cmocka_unit_test(test_rfc3339_round_trip_table),
	    cmocka_unit_test(test_rfc3339_rejects_malformed),
	    cmocka_unit_test(
		test_rfc3339_accepts_every_valid_day_of_leap_years),
	    cmocka_unit_test(test_rfc3339_format_matches_gmtime),
	    cmocka_unit_test(test_rfc3339_ignores_tz),
	    cmocka_unit_test(test_format_rfc3339_rejects_small_buffer),
	    cmocka_unit_test(test_format_rfc3339_rejects_out_of_range),
	};

	return cmocka_run_group_tests_name("common-parse", tests, NULL, NULL);
}
