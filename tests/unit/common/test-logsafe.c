/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for common/logsafe.c: escaping for logs and JSON, truncation
 * at unit boundaries, and the name / CR-LF-NUL validators.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "logsafe.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CANARY        "CANARY-s3cr3t-common"

/* Input with an explicit length so embedded NULs can be tested. */
struct esc_case {
	const char *name;
	const char *in;
	size_t len;
	const char *want;
};

#define IN(s) s, sizeof(s) - 1

/* clang-format off */
static const struct esc_case escape_cases[] = {
	{"empty",          IN(""),                     ""},
	{"plain",          IN("250 mx.example ok"),    "250 mx.example ok"},
	{"quotes kept",    IN("'a' \"b\""),            "'a' \"b\""},
	{"backslash",      IN("a\\b"),                 "a\\\\b"},
	{"tab cr lf",      IN("\t\r\n"),               "\\t\\r\\n"},
	{"forged line",    IN("ok\r\n250 fake"),       "ok\\r\\n250 fake"},
	{"nul",            IN("a\0b"),                 "a\\x00b"},
	{"control",        IN("\x01\x1b[31m"),         "\\x01\\x1b[31m"},
	{"del",            IN("\x7f"),                 "\\x7f"},
	{"utf8 escaped",   IN("\xc3\xa9"),             "\\xc3\\xa9"},
	{"high byte",      IN("\xff"),                 "\\xff"},
	{"space and tilde", IN(" ~"),                  " ~"},
};

static const struct esc_case json_cases[] = {
	{"empty",          IN(""),                     ""},
	{"plain",          IN("user@example.org"),     "user@example.org"},
	{"quote",          IN("a\"b"),                 "a\\\"b"},
	{"backslash",      IN("a\\b"),                 "a\\\\b"},
	{"slash kept",     IN("a/b"),                  "a/b"},
	{"newline",        IN("a\nb"),                 "a\\u000ab"},
	{"nul",            IN("a\0b"),                 "a\\u0000b"},
	{"esc",            IN("\x1b"),                 "\\u001b"},
	{"del",            IN("\x7f"),                 "\\u007f"},
	{"2-byte",         IN("caf\xc3\xa9"),          "caf\xc3\xa9"},
	{"3-byte",         IN("\xe2\x82\xac"),         "\xe2\x82\xac"},
	{"4-byte",         IN("\xf0\x9f\x98\x80"),     "\xf0\x9f\x98\x80"},
	{"U+FFFF",         IN("\xef\xbf\xbf"),         "\xef\xbf\xbf"},
	{"U+10FFFF",       IN("\xf4\x8f\xbf\xbf"),     "\xf4\x8f\xbf\xbf"},
	{"U+D7FF",         IN("\xed\x9f\xbf"),         "\xed\x9f\xbf"},
	{"U+E000",         IN("\xee\x80\x80"),         "\xee\x80\x80"},
	{"overlong 2",     IN("\xc0\xaf"),             "\\u00c0\\u00af"},
	{"overlong 2 c1",  IN("\xc1\xbf"),             "\\u00c1\\u00bf"},
	{"overlong 3",     IN("\xe0\x80\xaf"),         "\\u00e0\\u0080\\u00af"},
	{"overlong 3 max", IN("\xe0\x9f\xbf"),         "\\u00e0\\u009f\\u00bf"},
	{"overlong 4",     IN("\xf0\x80\x80\xaf"),     "\\u00f0\\u0080\\u0080\\u00af"},
	{"overlong 4 max", IN("\xf0\x8f\xbf\xbf"),     "\\u00f0\\u008f\\u00bf\\u00bf"},
	{"surrogate lo",   IN("\xed\xa0\x80"),         "\\u00ed\\u00a0\\u0080"},
	{"surrogate hi",   IN("\xed\xbf\xbf"),         "\\u00ed\\u00bf\\u00bf"},
	{"above 10FFFF",   IN("\xf4\x90\x80\x80"),     "\\u00f4\\u0090\\u0080\\u0080"},
	{"f5 lead",        IN("\xf5\x80\x80\x80"),     "\\u00f5\\u0080\\u0080\\u0080"},
	{"ff",             IN("\xff"),                 "\\u00ff"},
	{"lone cont",      IN("a\x80z"),               "a\\u0080z"},
	{"cut 3-byte",     IN("\xe2\x82"),             "\\u00e2\\u0082"},
	{"cut then ascii", IN("\xe2\x82x"),            "\\u00e2\\u0082x"},
	{"bad then good",  IN("\xc3\xc3\xa9"),         "\\u00c3\xc3\xa9"},
	{"cut 4-byte",     IN("\xf0\x9f\x98"),         "\\u00f0\\u009f\\u0098"},
};
/* clang-format on */

static void
run_table(const struct esc_case *cases, size_t n,
	  size_t (*fn)(char *, size_t, const char *, size_t))
{
	for (size_t i = 0; i < n; i++) {
		const struct esc_case *c = &cases[i];
		char out[LOGSAFE_MAX(64)];
		size_t r;

		assert_true(sizeof(out) >= LOGSAFE_MAX(c->len));
		r = fn(out, sizeof(out), c->in, c->len);
		if (strcmp(out, c->want) != 0)
			fail_msg("case '%s': got '%s', want '%s'", c->name, out,
				 c->want);
		assert_int_equal(r, strlen(c->want));
	}
}

static void
test_logsafe_escape_table(void **state)
{
	(void)state;
	run_table(escape_cases, ARRAY_SIZE(escape_cases), logsafe_escape);
}

static void
test_logsafe_json_table(void **state)
{
	(void)state;
	run_table(json_cases, ARRAY_SIZE(json_cases), logsafe_json);
}

/* --- an independent UTF-8 checker for the property tests ------------------ */

/* Decode one scalar value; -1 when the bytes are not well-formed. */
static long
decode_one(const unsigned char *s, size_t len, size_t *used)
{
	long cp;
	size_t n;

	if (s[0] < 0x80) {
		*used = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return -1;
	}
	if (len < n)
		return -1;
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	/* Shortest form only, no surrogates, Unicode range only. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp > 0x10ffff)
		return -1;
	*used = n;
	return cp;
}

/* Valid UTF-8, no raw controls, every '"' and '\\' escaped, and every
 * escape one of \" \\ \u00XX. */
static bool
is_valid_json_body(const char *out, size_t len)
{
	const unsigned char *s = (const unsigned char *)out;
	size_t i = 0, used;

	while (i < len) {
		long cp = decode_one(s + i, len - i, &used);

		if (cp < 0 || cp < 0x20 || cp == 0x7f || cp == '"')
			return false;
		if (cp == '\\') {
			if (i + 1 >= len)
				return false;
			if (s[i + 1] == '"' || s[i + 1] == '\\') {
				i += 2;
				continue;
			}
			if (s[i + 1] != 'u' || i + 6 > len ||
			    memcmp(s + i + 2, "00", 2) != 0 ||
			    strchr("0123456789abcdef", s[i + 4]) == NULL ||
			    strchr("0123456789abcdef", s[i + 5]) == NULL)
				return false;
			i += 6;
			continue;
		}
		i += used;
	}
	return true;
}

static void
test_logsafe_json_output_is_valid_utf8_for_all_short_inputs(void **state)
{
	unsigned char in[3];
	char out[LOGSAFE_MAX(3)];

	(void)state;
	/* Every 1- and 2-byte input, and every 3-byte input starting with
	 * a lead byte of a 3- or 4-byte sequence. */
	for (unsigned a = 0; a < 256; a++) {
		size_t r;

		in[0] = (unsigned char)a;
		r = logsafe_json(out, sizeof(out), (const char *)in, 1);
		if (!is_valid_json_body(out, r))
			fail_msg("1 byte %02x", a);
		for (unsigned b = 0; b < 256; b++) {
			in[1] = (unsigned char)b;
			r = logsafe_json(out, sizeof(out), (const char *)in, 2);
			if (!is_valid_json_body(out, r))
				fail_msg("2 bytes %02x %02x", a, b);
			if (a < 0xe0)
				continue;
			for (unsigned c = 0; c < 256; c++) {
				in[2] = (unsigned char)c;
				r = logsafe_json(out, sizeof(out),
						 (const char *)in, 3);
				if (!is_valid_json_body(out, r))
					fail_msg("3 bytes %02x %02x %02x", a, b,
						 c);
			}
		}
	}
}

static void
test_logsafe_json_valid_utf8_is_copied_unchanged(void **state)
{
	unsigned char in[4];
	char out[LOGSAFE_MAX(4)];

	(void)state;
	/* Every scalar value encodes to itself (except the ASCII ones the
	 * escaper must rewrite). */
	for (long cp = 0x20; cp <= 0x10ffff; cp++) {
		size_t n;

		if (cp == '"' || cp == '\\' || cp == 0x7f ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			continue;
		if (cp < 0x80) {
			in[0] = (unsigned char)cp;
			n = 1;
		} else if (cp < 0x800) {
			in[0] = (unsigned char)(0xc0 | (cp >> 6));
			in[1] = (unsigned char)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			in[0] = (unsigned char)(0xe0 | (cp >> 12));
			in[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			in[2] = (unsigned char)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			in[0] = (unsigned char)(0xf0 | (cp >> 18));
			in[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
			in[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			in[3] = (unsigned char)(0x80 | (cp & 0x3f));
			n = 4;
		}
		if (logsafe_json(out, sizeof(out), (const char *)in, n) != n ||
		    memcmp(out, in, n) != 0)
			fail_msg("U+%04lX was not copied", cp);
	}
}

static void
test_logsafe_escape_output_is_printable_ascii(void **state)
{
	char in[256], out[LOGSAFE_MAX(256)];
	size_t r;

	(void)state;
	for (size_t i = 0; i < 256; i++)
		in[i] = (char)i;
	r = logsafe_escape(out, sizeof(out), in, sizeof(in));
	assert_int_equal(r, strlen(out));
	for (size_t i = 0; i < r; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			fail_msg("raw byte %02x at %zu", (unsigned char)out[i],
				 i);
}

/* --- truncation ----------------------------------------------------------- */

/*
 * For every dstsz from 0 to the full size: the result is NUL-terminated,
 * fits, and is either the full output, or a prefix of it that ends on a
 * unit boundary followed by "..." (dstsz >= 4) or nothing (dstsz < 4).
 * 'bounds' marks the unit boundaries of the full output.
 */
static void
check_truncation(size_t (*fn)(char *, size_t, const char *, size_t),
		 const char *in, size_t len, const bool *bounds)
{
	char full[LOGSAFE_MAX(64)], out[LOGSAFE_MAX(64) + 8];
	size_t flen = fn(full, sizeof(full), in, len);

	assert_true(len <= 64);
	for (size_t sz = 0; sz <= flen + 1; sz++) {
		size_t r, keep;

		memset(out, '#', sizeof(out));
		r = fn(sz == 0 ? NULL : out, sz, in, len);
		if (sz == 0) {
			assert_int_equal(r, 0);
			continue;
		}
		assert_int_equal(out[r], '\0');
		assert_true(r < sz);
		assert_int_equal(out[sz], '#'); /* nothing past dstsz */
		if (sz > flen) {
			assert_int_equal(r, flen);
			assert_memory_equal(out, full, flen);
			continue;
		}
		keep = r;
		if (sz >= 4) {
			assert_true(r >= 3);
			assert_memory_equal(out + r - 3, "...", 3);
			keep = r - 3;
			/* As much as fits: the next unit would not. */
			for (size_t k = keep + 1; k <= flen; k++) {
				if (bounds[k]) {
					assert_true(k > sz - 4);
					break;
				}
			}
		}
		if (!bounds[keep])
			fail_msg("sz %zu: cut inside a unit at %zu", sz, keep);
		assert_memory_equal(out, full, keep);
	}
}

static void
mark_bounds(bool *bounds, size_t flen, const size_t *unit_lens, size_t n)
{
	size_t o = 0;

	memset(bounds, 0, (flen + 1) * sizeof(bool));
	bounds[0] = true;
	for (size_t i = 0; i < n; i++) {
		o += unit_lens[i];
		bounds[o] = true;
	}
	assert_int_equal(o, flen);
}

static void
test_logsafe_escape_truncation_never_splits_escape(void **state)
{
	static const char in[] = "ab\x01\\\r" CANARY "\xff\n";
	/* a b \x01 \\ \r then the canary's 20 bytes, \xff \n */
	size_t units[5 + 20 + 2] = {1, 1, 4, 2, 2};
	bool bounds[LOGSAFE_MAX(64)];
	size_t flen;
	char full[LOGSAFE_MAX(64)];

	(void)state;
	for (size_t i = 5; i < 25; i++)
		units[i] = 1;
	units[25] = 4;
	units[26] = 2;
	flen = logsafe_escape(full, sizeof(full), in, sizeof(in) - 1);
	mark_bounds(bounds, flen, units, ARRAY_SIZE(units));
	check_truncation(logsafe_escape, in, sizeof(in) - 1, bounds);
}

static void
test_logsafe_json_truncation_never_splits_utf8_or_escape(void **state)
{
	static const char in[] = "\xe2\x82\xac\"\x01"
				 "\xf0\x9f\x98\x80"
				 "x\xc3\xa9\xff\\";
	/* euro, \", \u0001, emoji, x, e-acute, \u00ff, \\ */
	static const size_t units[] = {3, 2, 6, 4, 1, 2, 6, 2};
	bool bounds[LOGSAFE_MAX(64)];
	char full[LOGSAFE_MAX(64)];
	size_t flen;

	(void)state;
	flen = logsafe_json(full, sizeof(full), in, sizeof(in) - 1);
	mark_bounds(bounds, flen, units, ARRAY_SIZE(units));
	check_truncation(logsafe_json, in, sizeof(in) - 1, bounds);
	/* Truncated output is still valid JSON text. */
	for (size_t sz = 1; sz <= flen; sz++) {
		char out[LOGSAFE_MAX(64)];
		size_t r = logsafe_json(out, sz, in, sizeof(in) - 1);

		assert_true(is_valid_json_body(out, r));
	}
}

struct trunc_case {
	const char *name;
	size_t dstsz;
	const char *in;
	const char *want;
};

/* clang-format off */
static const struct trunc_case trunc_cases[] = {
	{"fits exactly",     6, "hello",       "hello"},
	{"one short",        5, "hello",       "h..."},
	{"marker only",      4, "hello",       "..."},
	{"tiny no marker",   3, "hello",       "he"},
	{"one byte",         1, "hello",       ""},
	{"escape dropped",   6, "a\x01z",      "a..."},
	{"escape kept",      9, "a\x01zzzz",   "a\\x01..."},
	{"empty fits",       1, "",            ""},
};
/* clang-format on */

static void
test_logsafe_escape_truncation_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(trunc_cases); i++) {
		const struct trunc_case *c = &trunc_cases[i];
		char out[16];
		size_t r;

		r = logsafe_escape(out, c->dstsz, c->in, strlen(c->in));
		if (strcmp(out, c->want) != 0)
			fail_msg("case '%s': got '%s', want '%s'", c->name, out,
				 c->want);
		assert_int_equal(r, strlen(c->want));
	}
}

static void
test_logsafe_dstsz_zero_writes_nothing(void **state)
{
	char out[4] = "xyz";

	(void)state;
	assert_int_equal(logsafe_escape(out, 0, "abc", 3), 0);
	assert_int_equal(logsafe_json(out, 0, "abc", 3), 0);
	assert_string_equal(out, "xyz");
	assert_int_equal(logsafe_escape(NULL, 0, "abc", 3), 0);
}

static void
test_logsafe_null_source_is_empty(void **state)
{
	char out[8] = "xyz";

	(void)state;
	assert_int_equal(logsafe_escape(out, sizeof(out), NULL, 0), 0);
	assert_string_equal(out, "");
	assert_int_equal(logsafe_json(out, sizeof(out), NULL, 5), 0);
	assert_string_equal(out, "");
}

static void
test_logsafe_max_fits_worst_case(void **state)
{
	char in[32], out[LOGSAFE_MAX(32)];

	(void)state;
	memset(in, 0x01, sizeof(in));
	assert_int_equal(logsafe_json(out, sizeof(out), in, sizeof(in)),
			 6 * sizeof(in));
	assert_int_equal(logsafe_escape(out, sizeof(out), in, sizeof(in)),
			 4 * sizeof(in));
	memset(in, 0xff, sizeof(in));
	assert_int_equal(logsafe_json(out, sizeof(out), in, sizeof(in)),
			 6 * sizeof(in));
	assert_null(strstr(out, "..."));
}

/* --- validators ----------------------------------------------------------- */

struct name_case {
	const char *s;
	size_t len;
	bool ok;
};

/* clang-format off */
static const struct name_case name_cases[] = {
	{IN("work"),                 true},
	{IN("a"),                    true},
	{IN("Work_Mail-2.old"),      true},
	{IN("0day"),                 true},
	{IN("_x"),                   true},
	{IN("a."),                   true},
	{IN(""),                     false},
	{IN(".hidden"),              false},
	{IN("-opt"),                 false},
	{IN("a b"),                  false},
	{IN("a/b"),                  false},
	{IN("a\\b"),                 false},
	{IN("a\nb"),                 false},
	{IN("a\0b"),                 false},
	{IN("caf\xc3\xa9"),          false},
	{IN("a@b"),                  false},
	{IN("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), true},
	{IN("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), false},
	{NULL, 0,                    false},
};
/* clang-format on */

static void
test_logsafe_is_name_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(name_cases); i++) {
		const struct name_case *c = &name_cases[i];

		if (logsafe_is_name(c->s, c->len) != c->ok)
			fail_msg("case %zu ('%s'): want %d", i,
				 c->s ? c->s : "(null)", c->ok);
	}
}

/* clang-format off */
static const struct name_case crlf_cases[] = {
	{IN(""),                  true},
	{IN("user@example.org"),  true},
	{IN("tab\tok"),           true},
	{IN("caf\xc3\xa9"),       true},
	{IN("a\rb"),              false},
	{IN("a\nb"),              false},
	{IN("a\0b"),              false},
	{IN("end\r\n"),           false},
	{IN("\n"),                false},
	{NULL, 0,                 true},
	{NULL, 1,                 false},
};
/* clang-format on */

static void
test_logsafe_no_crlf_nul_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(crlf_cases); i++) {
		const struct name_case *c = &crlf_cases[i];

		if (logsafe_no_crlf_nul(c->s, c->len) != c->ok)
			fail_msg("case %zu: want %d", i, c->ok);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_logsafe_escape_table),
	    cmocka_unit_test(test_logsafe_json_table),
	    cmocka_unit_test(
		test_logsafe_json_output_is_valid_utf8_for_all_short_inputs),
	    cmocka_unit_test(test_logsafe_json_valid_utf8_is_copied_unchanged),
	    cmocka_unit_test(test_logsafe_escape_output_is_printable_ascii),
	    cmocka_unit_test(
		test_logsafe_escape_truncation_never_splits_escape),
	    cmocka_unit_test(
		test_logsafe_json_truncation_never_splits_utf8_or_escape),
	    cmocka_unit_test(test_logsafe_escape_truncation_table),
	    cmocka_unit_test(test_logsafe_dstsz_zero_writes_nothing),
	    cmocka_unit_test(test_logsafe_null_source_is_empty),
	    cmocka_unit_test(test_logsafe_max_fits_worst_case),
	    cmocka_unit_test(test_logsafe_is_name_table),
	    cmocka_unit_test(test_logsafe_no_crlf_nul_table),
	};

	return cmocka_run_group_tests_name("common-logsafe", tests, NULL, NULL);
}
