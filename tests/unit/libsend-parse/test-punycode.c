/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for libsend/punycode.c: the RFC 3492 7.1 sample strings
 * (encoded and decoded), error cases, and the strict UTF-8 helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "punycode.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CP_MAX        64

struct sample {
	const char *name;
	uint32_t cp[CP_MAX]; /* ends at the first 0 */
	const char *encoded;
	bool case_annotated; /* the RFC shows mixed-case annotation */
};

/* RFC 3492 section 7.1, (A) to (S).  Uppercase "U+" flags in the RFC
 * only mark mixed-case annotation; this encoder writes none, so the
 * one sample whose output carries an annotated digit, (I), is compared
 * ignoring case. */
/* clang-format off */
static const struct sample samples[] = {
	{"(A) Arabic (Egyptian)",
	 {0x0644, 0x064A, 0x0647, 0x0645, 0x0627, 0x0628, 0x062A, 0x0643,
	  0x0644, 0x0645, 0x0648, 0x0634, 0x0639, 0x0631, 0x0628, 0x064A,
	  0x061F},
	 "egbpdaj6bu4bxfgehfvwxn", false},
	{"(B) Chinese (simplified)",
	 {0x4ED6, 0x4EEC, 0x4E3A, 0x4EC0, 0x4E48, 0x4E0D, 0x8BF4, 0x4E2D,
	  0x6587},
	 "ihqwcrb4cv8a8dqg056pqjye", false},
	{"(C) Chinese (traditional)",
	 {0x4ED6, 0x5011, 0x7232, 0x4EC0, 0x9EBD, 0x4E0D, 0x8AAA, 0x4E2D,
	  0x6587},
	 "ihqwctvzc91f659drss3x8bo0yb", false},
	{"(D) Czech: Pro<ccaron>prost<ecaron>nemluv<iacute><ccaron>esky",
	 {0x0050, 0x0072, 0x006F, 0x010D, 0x0070, 0x0072, 0x006F, 0x0073,
	  0x0074, 0x011B, 0x006E, 0x0065, 0x006D, 0x006C, 0x0075, 0x0076,
	  0x00ED, 0x010D, 0x0065, 0x0073, 0x006B, 0x0079},
	 "Proprostnemluvesky-uyb24dma41a", false},
	{"(E) Hebrew",
	 {0x05DC, 0x05DE, 0x05D4, 0x05D4, 0x05DD, 0x05E4, 0x05E9, 0x05D5,
	  0x05D8, 0x05DC, 0x05D0, 0x05DE, 0x05D3, 0x05D1, 0x05E8, 0x05D9,
	  0x05DD, 0x05E2, 0x05D1, 0x05E8, 0x05D9, 0x05EA},
	 "4dbcagdahymbxekheh6e0a7fei0b", false},
	{"(F) Hindi (Devanagari)",
	 {0x092F, 0x0939, 0x0932, 0x094B, 0x0917, 0x0939, 0x093F, 0x0928,
	  0x094D, 0x0926, 0x0940, 0x0915, 0x094D, 0x092F, 0x094B, 0x0902,
	  0x0928, 0x0939, 0x0940, 0x0902, 0x092C, 0x094B, 0x0932, 0x0938,
	  0x0915, 0x0924, 0x0947, 0x0939, 0x0948, 0x0902},
	 "i1baa7eci9glrd9b2ae1bj0hfcgg6iyaf8o0a1dig0cd", false},
	{"(G) Japanese (kanji and hiragana)",
	 {0x306A, 0x305C, 0x307F, 0x3093, 0x306A, 0x65E5, 0x672C, 0x8A9E,
	  0x3092, 0x8A71, 0x3057, 0x3066, 0x304F, 0x308C, 0x306A, 0x3044,
	  0x306E, 0x304B},
	 "n8jok5ay5dzabd5bym9f0cm5685rrjetr6pdxa", false},
	{"(H) Korean (Hangul syllables)",
	 {0xC138, 0xACC4, 0xC758, 0xBAA8, 0xB4E0, 0xC0AC, 0xB78C, 0xB4E4,
	  0xC774, 0xD55C, 0xAD6D, 0xC5B4, 0xB97C, 0xC774, 0xD574, 0xD55C,
	  0xB2E4, 0xBA74, 0xC5BC, 0xB9C8, 0xB098, 0xC88B, 0xC744, 0xAE4C},
	 "989aomsvi5e83db1d2a355cv1e0vak1dwrv93d5xbh15a0dt30a5j"
	 "psd879ccm6fea98c", false},
	{"(I) Russian (Cyrillic)",
	 {0x043F, 0x043E, 0x0447, 0x0435, 0x043C, 0x0443, 0x0436, 0x0435,
	  0x043E, 0x043D, 0x0438, 0x043D, 0x0435, 0x0433, 0x043E, 0x0432,
	  0x043E, 0x0440, 0x044F, 0x0442, 0x043F, 0x043E, 0x0440, 0x0443,
	  0x0441, 0x0441, 0x043A, 0x0438},
	 "b1abfaaepdrnnbgefbaDotcwatmq2g4l", true},
	{"(J) Spanish",
	 {0x0050, 0x006F, 0x0072, 0x0071, 0x0075, 0x00E9, 0x006E, 0x006F,
	  0x0070, 0x0075, 0x0065, 0x0064, 0x0065, 0x006E, 0x0073, 0x0069,
	  0x006D, 0x0070, 0x006C, 0x0065, 0x006D, 0x0065, 0x006E, 0x0074,
	  0x0065, 0x0068, 0x0061, 0x0062, 0x006C, 0x0061, 0x0072, 0x0065,
	  0x006E, 0x0045, 0x0073, 0x0070, 0x0061, 0x00F1, 0x006F, 0x006C},
	 "PorqunopuedensimplementehablarenEspaol-fmd56a", false},
	{"(K) Vietnamese",
	 {0x0054, 0x1EA1, 0x0069, 0x0073, 0x0061, 0x006F, 0x0068, 0x1ECD,
	  0x006B, 0x0068, 0x00F4, 0x006E, 0x0067, 0x0074, 0x0068, 0x1EC3,
	  0x0063, 0x0068, 0x1EC9, 0x006E, 0x00F3, 0x0069, 0x0074, 0x0069,
	  0x1EBF, 0x006E, 0x0067, 0x0056, 0x0069, 0x1EC7, 0x0074},
	 "TisaohkhngthchnitingVit-kjcr8268qyxafd2f1b9g", false},
	{"(L) 3<nen>B<gumi><kinpachi><sensei>",
	 {0x0033, 0x5E74, 0x0042, 0x7D44, 0x91D1, 0x516B, 0x5148, 0x751F},
	 "3B-ww4c5e180e575a65lsy2b", false},
	{"(M) <amuro><namie>-with-SUPER-MONKEYS",
	 {0x5B89, 0x5BA4, 0x5948, 0x7F8E, 0x6075, 0x002D, 0x0077, 0x0069,
	  0x0074, 0x0068, 0x002D, 0x0053, 0x0055, 0x0050, 0x0045, 0x0052,
	  0x002D, 0x004D, 0x004F, 0x004E, 0x004B, 0x0045, 0x0059, 0x0053},
	 "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n", false},
	{"(N) Hello-Another-Way-<sorezore><no><basho>",
	 {0x0048, 0x0065, 0x006C, 0x006C, 0x006F, 0x002D, 0x0041, 0x006E,
	  0x006F, 0x0074, 0x0068, 0x0065, 0x0072, 0x002D, 0x0057, 0x0061,
	  0x0079, 0x002D, 0x305D, 0x308C, 0x305E, 0x308C, 0x306E, 0x5834,
	  0x6240},
	 "Hello-Another-Way--fc4qua05auwb3674vfr0b", false},
	{"(O) <hitotsu><yane><no><shita>2",
	 {0x3072, 0x3068, 0x3064, 0x5C4B, 0x6839, 0x306E, 0x4E0B, 0x0032},
	 "2-u9tlzr9756bt3uc0v", false},
	{"(P) Maji<de>Koi<suru>5<byou><mae>",
	 {0x004D, 0x0061, 0x006A, 0x0069, 0x3067, 0x004B, 0x006F, 0x0069,
	  0x3059, 0x308B, 0x0035, 0x79D2, 0x524D},
	 "MajiKoi5-783gue6qz075azm5e", false},
	{"(Q) <pafii>de<runba>",
	 {0x30D1, 0x30D5, 0x30A3, 0x30FC, 0x0064, 0x0065, 0x30EB, 0x30F3,
	  0x30D0},
	 "de-jg4avhby1noc0d", false},
	{"(R) <sono><supiido><de>",
	 {0x305D, 0x306E, 0x30B9, 0x30D4, 0x30FC, 0x30C9, 0x3067},
	 "d9juau41awczczp", false},
	{"(S) -> $1.00 <-",
	 {0x002D, 0x003E, 0x0020, 0x0024, 0x0031, 0x002E, 0x0030, 0x0030,
	  0x0020, 0x003C, 0x002D},
	 "-> $1.00 <--", false},
	/* Not from RFC 3492: the widely quoted IDN example label "münchen"
	 * (xn--mnchen-3ya). */
	{"münchen", {'m', 0xFC, 'n', 'c', 'h', 'e', 'n'}, "mnchen-3ya", false},
	{"one non-ASCII code point", {0xFC}, "tda", false},
	{"an astral code point", {0x1F600}, "e28h", false},
};
/* clang-format on */

static size_t
cp_len(const uint32_t *cp)
{
	size_t n = 0;

	while (n < CP_MAX && cp[n] != 0)
		n++;
	return n;
}

static void
test_punycode_rfc3492_encode(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		const struct sample *s = &samples[i];
		char out[128];
		size_t len = 0;
		int r;

		r = punycode_encode(s->cp, cp_len(s->cp), out, sizeof(out),
				    &len);
		if (r != 0)
			fail_msg("%s: rc %d", s->name, r);
		if (len != strlen(s->encoded) ||
		    (s->case_annotated ? strcasecmp(out, s->encoded)
				       : strcmp(out, s->encoded)) != 0)
			fail_msg("%s: '%s', want '%s'", s->name, out,
				 s->encoded);
		assert_int_equal(strlen(out), len);
	}
}

static void
test_punycode_rfc3492_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		const struct sample *s = &samples[i];
		uint32_t out[CP_MAX];
		size_t n = cp_len(s->cp), got = 0;
		int r;

		r = punycode_decode(s->encoded, strlen(s->encoded), out,
				    ARRAY_SIZE(out), &got);
		if (r != 0)
			fail_msg("%s: rc %d", s->name, r);
		if (got != n || memcmp(out, s->cp, n * sizeof(*out)) != 0)
			fail_msg("%s: decoded %zu code points, want %zu",
				 s->name, got, n);
		/* one code point short of room */
		r = punycode_decode(s->encoded, strlen(s->encoded), out, n - 1,
				    &got);
		if (r != SMTPSEND_E_LIMIT)
			fail_msg("%s: rc %d with too little room", s->name, r);
	}
}

static void
test_punycode_decode_upper_case(void **state)
{
	uint32_t out[CP_MAX];
	size_t got;

	(void)state;
	assert_int_equal(punycode_decode("MNCHEN-3YA", 10, out, CP_MAX, &got),
			 0);
	assert_int_equal(got, 7);
	assert_int_equal(out[0], 'M');
	assert_int_equal(out[1], 0xFC);
}

static void
test_punycode_encode_errors(void **state)
{
	static const uint32_t munchen[] = {'m', 0xFC, 'n', 'c', 'h', 'e', 'n'};
	static const uint32_t surrogate[] = {'a', 0xD800};
	static const uint32_t too_big[] = {0x110000};
	char out[16];
	size_t len = 99;

	(void)state;
	/* "mnchen-3ya" needs 11 bytes with its NUL */
	assert_int_equal(punycode_encode(munchen, 7, out, 11, &len), 0);
	assert_int_equal(punycode_encode(munchen, 7, out, 10, &len),
			 SMTPSEND_E_LIMIT);
	assert_int_equal(punycode_encode(munchen, 7, out, 3, &len),
			 SMTPSEND_E_LIMIT);
	assert_int_equal(punycode_encode(surrogate, 2, out, sizeof(out), &len),
			 SMTPSEND_E_INVAL);
	assert_int_equal(punycode_encode(too_big, 1, out, sizeof(out), &len),
			 SMTPSEND_E_INVAL);
	assert_int_equal(punycode_encode(NULL, 1, out, sizeof(out), &len),
			 SMTPSEND_E_INVAL);
	assert_int_equal(punycode_encode(munchen, 7, NULL, 0, &len),
			 SMTPSEND_E_INVAL);
	/* empty input: empty output */
	assert_int_equal(punycode_encode(NULL, 0, out, sizeof(out), &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	/* all basic: a trailing delimiter */
	assert_int_equal(punycode_encode(munchen, 1, out, sizeof(out), NULL),
			 0);
	assert_string_equal(out, "m-");
}

static void
test_punycode_decode_errors(void **state)
{
	static const char *const bad[] = {
	    "-",                    /* a delimiter alone is not a digit */
	    "a!b",                  /* not a digit */
	    "\xc3\xbc-tda",         /* non-basic before the delimiter */
	    "mnchen-3y",            /* truncated variable-length integer */
	    "99999999999999",       /* overflow */
	    "zzzzzzzzzzzzzzzzzzzz", /* overflow */
	    "en32g",                /* U+110000, above U+10FFFF */
	    "ib9b",                 /* U+D800, a surrogate */
	    "a-qo7g",               /* U+DFFF after "a" */
	};
	uint32_t out[CP_MAX];
	size_t got = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r =
		    punycode_decode(bad[i], strlen(bad[i]), out, CP_MAX, &got);

		if (r != SMTPSEND_E_INVAL)
			fail_msg("'%s': rc %d", bad[i], r);
	}
	/* basic code points only */
	assert_int_equal(punycode_decode("abc-", 4, out, CP_MAX, &got), 0);
	assert_int_equal(got, 3);
	assert_int_equal(punycode_decode("", 0, out, CP_MAX, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(punycode_decode("tda", 3, NULL, 5, &got),
			 SMTPSEND_E_INVAL);
	assert_int_equal(punycode_decode("tda", 3, NULL, 0, &got),
			 SMTPSEND_E_LIMIT);
	assert_int_equal(punycode_decode("tda", 3, out, CP_MAX, NULL),
			 SMTPSEND_E_INVAL);
}

struct utf8_case {
	const char *in;
	size_t len;
	size_t want_len;
	uint32_t want_cp;
};

/* clang-format off */
static const struct utf8_case utf8_cases[] = {
	{"a",			1, 1, 'a'},
	{"\x7f",		1, 1, 0x7f},
	{"\xc2\x80",		2, 2, 0x80},
	{"\xc3\xbc",		2, 2, 0xfc},
	{"\xdf\xbf",		2, 2, 0x7ff},
	{"\xe0\xa0\x80",	3, 3, 0x800},
	{"\xe3\x80\x82",	3, 3, 0x3002},
	{"\xed\x9f\xbf",	3, 3, 0xd7ff},
	{"\xee\x80\x80",	3, 3, 0xe000},
	{"\xef\xbf\xbf",	3, 3, 0xffff},
	{"\xf0\x90\x80\x80",	4, 4, 0x10000},
	{"\xf4\x8f\xbf\xbf",	4, 4, 0x10ffff},
	{"\xc3\xbcx",		3, 2, 0xfc},
	{"\x80",		1, 0, 0},	/* lone continuation */
	{"\xbf",		1, 0, 0},
	{"\xc0\x80",		2, 0, 0},	/* overlong NUL */
	{"\xc1\xbf",		2, 0, 0},	/* overlong */
	{"\xe0\x80\x80",	3, 0, 0},	/* overlong */
	{"\xe0\x9f\xbf",	3, 0, 0},	/* overlong */
	{"\xf0\x80\x80\x80",	4, 0, 0},	/* overlong */
	{"\xf0\x8f\xbf\xbf",	4, 0, 0},	/* overlong */
	{"\xed\xa0\x80",	3, 0, 0},	/* surrogate */
	{"\xed\xbf\xbf",	3, 0, 0},	/* surrogate */
	{"\xf4\x90\x80\x80",	4, 0, 0},	/* above U+10FFFF */
	{"\xf5\x80\x80\x80",	4, 0, 0},
	{"\xff",		1, 0, 0},
	{"\xc3",		1, 0, 0},	/* truncated */
	{"\xe3\x80",		2, 0, 0},
	{"\xf0\x90\x80",	3, 0, 0},
	{"\xc3\x28",		2, 0, 0},	/* bad continuation */
	{"\xe3\x80\xc0",	3, 0, 0},
	{"",			0, 0, 0},
};
/* clang-format on */

static void
test_utf8_next(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(utf8_cases); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		uint32_t cp = 0xdeadbeef;
		size_t n = punycode_utf8_next(c->in, c->len, &cp);

		if (n != c->want_len || (n > 0 && cp != c->want_cp))
			fail_msg("case %zu: len %zu cp %x", i, n, cp);
	}
}

static void
test_utf8_put_round_trip(void **state)
{
	static const uint32_t cps[] = {0,       0x7f,    0x80,   0x7ff,
				       0x800,   0xd7ff,  0xe000, 0xffff,
				       0x10000, 0x10ffff};
	char buf[4];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cps); i++) {
		uint32_t back = 0;
		size_t n = punycode_utf8_put(cps[i], buf);

		assert_true(n >= 1 && n <= 4);
		assert_int_equal(punycode_utf8_next(buf, n, &back), n);
		assert_int_equal(back, cps[i]);
	}
	assert_int_equal(punycode_utf8_put(0xd800, buf), 0);
	assert_int_equal(punycode_utf8_put(0xdfff, buf), 0);
	assert_int_equal(punycode_utf8_put(0x110000, buf), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_punycode_rfc3492_encode),
	    cmocka_unit_test(test_punycode_rfc3492_decode),
	    cmocka_unit_test(test_punycode_decode_upper_case),
	    cmocka_unit_test(test_punycode_encode_errors),
	    cmocka_unit_test(test_punycode_decode_errors),
	    cmocka_unit_test(test_utf8_next),
	    cmocka_unit_test(test_utf8_put_round_trip),
	};

	return cmocka_run_group_tests_name("libsend-punycode", tests, NULL,
					   NULL);
}
