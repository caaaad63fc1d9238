/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for libsend/encword.c: RFC 2047 encoded words (and the
 * examples of its section 8), folding (RFC 5322 2.2.3), field names,
 * display names, and the refusal of CR, LF and NUL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "encword.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Check the shape of a field: CRLF line ends only, lines of at most max
 * characters (ENCWORD_LINE_ENCODED for lines with an encoded word),
 * continuation lines starting with a blank and holding something else
 * too.
 */
static void
assert_field_shape(const char *f, size_t len, size_t max)
{
	size_t start = 0;

	assert_true(len >= 2);
	assert_memory_equal(f + len - 2, "\r\n", 2);
	for (size_t i = 0; i < len; i++) {
		bool blank_only = true;

		if (f[i] == '\n')
			assert_true(i > 0 && f[i - 1] == '\r');
		if (f[i] != '\r')
			continue;
		assert_true(i + 1 < len && f[i + 1] == '\n');
		assert_in_range(i - start, 1, max);
		if (memmem(f + start, i - start, "=?", 2) != NULL)
			assert_in_range(i - start, 1, ENCWORD_LINE_ENCODED);
		if (start > 0) {
			assert_true(f[start] == ' ' || f[start] == '\t');
			for (size_t j = start; j < i; j++) {
				if (f[j] != ' ' && f[j] != '\t')
					blank_only = false;
			}
			assert_false(blank_only);
		}
		start = i + 2;
		i++;
	}
}

/* Every encoded word of the field: at most 75 characters, and its text
 * alone is whole UTF-8 characters. */
static void
assert_words_whole(const char *f, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		char tmp[128], *dec = NULL;
		size_t end, dlen = 0;

		if (f[i] != '=' || f[i + 1] != '?')
			continue;
		end = i + 2;
		/* "=?UTF-8?X?" then the text up to "?=" */
		end += strlen("UTF-8?X?");
		while (end + 1 < len && !(f[end] == '?' && f[end + 1] == '='))
			end++;
		end += 2;
		assert_in_range(end - i, 13, ENCWORD_WORD_MAX);
		snprintf(tmp, sizeof(tmp), "X: %.*s\r\n", (int)(end - i),
			 f + i);
		assert_int_equal(
		    encword_decode(&dec, &dlen, "X", tmp, strlen(tmp)), 0);
		assert_true(dlen > 0);
		assert_true(encword_utf8_valid(dec, dlen));
		common_free(dec);
		i = end - 1;
	}
}

/* Encode, check the shape and the words, decode back. */
static void
round_trip(const char *name, const char *value, size_t len)
{
	char *f = NULL, *dec = NULL;
	size_t flen = 0, dlen = 0;

	assert_int_equal(encword_unstructured(&f, &flen, name, value, len), 0);
	assert_int_equal(strlen(f), flen);
	assert_field_shape(f, flen, ENCWORD_LINE_SOFT);
	if (strstr(f, "=?") != NULL)
		assert_words_whole(f, flen);
	assert_int_equal(encword_decode(&dec, &dlen, name, f, flen), 0);
	assert_int_equal(dlen, len);
	assert_memory_equal(dec, value, len);
	common_free(dec);
	common_free(f);
}

struct name_case {
	const char *name;
	bool valid;
};

/* clang-format off */
static const struct name_case name_cases[] = {
	{"Subject", true},
	{"X-Mailer", true},
	{"x!#$%&'*+-.^_`|~", true},
	{"", false},
	{"Bad Name", false},
	{"Bad:Name", false},
	{"Tab\tName", false},
	{"Caf\xc3\xa9", false},
	{"Del\x7f", false},
};
/* clang-format on */

static void
test_encword_field_names(void **state)
{
	char longname[ENCWORD_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(name_cases); i++)
		assert_int_equal(encword_name_valid(name_cases[i].name,
						    strlen(name_cases[i].name)),
				 name_cases[i].valid);
	memset(longname, 'N', sizeof(longname));
	assert_true(encword_name_valid(longname, ENCWORD_NAME_MAX));
	assert_false(encword_name_valid(longname, ENCWORD_NAME_MAX + 1));
	assert_false(encword_name_valid(NULL, 0));
}

struct field_case {
	const char *name;
	const char *value;
	const char *want;
};

/* clang-format off */
static const struct field_case unstructured_cases[] = {
	{"ascii kept", "Hello world", "Subject: Hello world\r\n"},
	{"empty", "", "Subject:\r\n"},
	{"tab kept", "a\tb", "Subject: a\tb\r\n"},
	{"leading blanks kept", "  x", "Subject:   x\r\n"},
	{"Q when shorter", "Caf\xc3\xa9 au lait",
	 "Subject: =?UTF-8?Q?Caf=C3=A9_au_lait?=\r\n"},
	{"B when shorter, short", "Caf\xc3\xa9",
	 "Subject: =?UTF-8?B?Q2Fmw6k=?=\r\n"},
	{"B when shorter", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	 "Subject: =?UTF-8?B?5pel5pys6Kqe?=\r\n"},
	{"space as underscore", "tr\xc3\xa8s bien",
	 "Subject: =?UTF-8?Q?tr=C3=A8s_bien?=\r\n"},
	{"looks encoded: encoded", "a =?x?Q?y?= b",
	 "Subject: =?UTF-8?B?YSA9P3g/UT95Pz0gYg==?=\r\n"},
	{"trailing blank: encoded", "abc ", "Subject: =?UTF-8?Q?abc_?=\r\n"},
	{"control: encoded", "abc\x01" "def",
	 "Subject: =?UTF-8?Q?abc=01def?=\r\n"},
	{"specials in Q", "\xc3\xa9!*+-/_=?.abcdefghijklmnopqrst",
	 "Subject: =?UTF-8?Q?=C3=A9!*+-/=5F=3D=3F=2Eabcdefghijklmnopqrst?=\r\n"},
};
/* clang-format on */

static void
test_encword_unstructured_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(unstructured_cases); i++) {
		const struct field_case *c = &unstructured_cases[i];
		char *f = NULL;
		size_t flen = 0;

		print_message("# case: %s\n", c->name);
		assert_int_equal(encword_unstructured(&f, &flen, "Subject",
						      c->value,
						      strlen(c->value)),
				 0);
		assert_string_equal(f, c->want);
		assert_int_equal(flen, strlen(c->want));
		common_free(f);
		round_trip("Subject", c->value, strlen(c->value));
	}
}

struct refuse_case {
	const char *name;
	const char *value;
	size_t len;
	int want;
};

/* clang-format off */
static const struct refuse_case refuse_cases[] = {
	{"CR", "a\rb", 3, SMTPSEND_E_INVAL},
	{"LF", "a\nb", 3, SMTPSEND_E_INVAL},
	{"CRLF injection", "x\r\nBcc: v@w", 11, SMTPSEND_E_INVAL},
	{"folded injection", "x\r\n y", 5, SMTPSEND_E_INVAL},
	{"NUL", "a\0b", 3, SMTPSEND_E_INVAL},
	{"lone continuation", "\x80", 1, SMTPSEND_E_INVAL},
	{"overlong", "\xc0\xaf", 2, SMTPSEND_E_INVAL},
	{"surrogate", "\xed\xa0\x80", 3, SMTPSEND_E_INVAL},
	{"truncated", "\xe2\x82", 2, SMTPSEND_E_INVAL},
	{"above U+10FFFF", "\xf4\x90\x80\x80", 4, SMTPSEND_E_INVAL},
};
/* clang-format on */

static void
test_encword_refuses_line_bytes(void **state)
{
	static char big[ENCWORD_VALUE_MAX + 1];
	static char untouched[] = "untouched";
	char *f = untouched;
	size_t flen = 7;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(refuse_cases); i++) {
		const struct refuse_case *c = &refuse_cases[i];

		print_message("# case: %s\n", c->name);
		assert_int_equal(encword_unstructured(&f, &flen, "Subject",
						      c->value, c->len),
				 c->want);
		assert_int_equal(
		    encword_structured(&f, &flen, "To", c->value, c->len),
		    c->want);
		assert_int_equal(encword_phrase(&f, &flen, c->value, c->len),
				 c->want);
		assert_string_equal(f, "untouched");
		assert_int_equal(flen, 7);
	}
	memset(big, 'a', sizeof(big));
	assert_int_equal(
	    encword_unstructured(&f, &flen, "Subject", big, sizeof(big)),
	    SMTPSEND_E_LIMIT);
	assert_int_equal(encword_phrase(&f, &flen, big, sizeof(big)),
			 SMTPSEND_E_LIMIT);
	assert_int_equal(encword_unstructured(&f, &flen, "Bad Name", "x", 1),
			 SMTPSEND_E_INVAL);
	assert_int_equal(encword_unstructured(&f, &flen, NULL, "x", 1),
			 SMTPSEND_E_INVAL);
	assert_int_equal(encword_unstructured(NULL, &flen, "S", "x", 1),
			 SMTPSEND_E_INVAL);
	assert_int_equal(encword_structured(&f, &flen, "To", "a\x01", 2),
			 SMTPSEND_E_INVAL);
}

struct decode_case {
	const char *field;
	const char *want;
};

/* RFC 2047 8 (inside unstructured text rather than comments), plus
 * lower-case encodings and hex. */
/* clang-format off */
static const struct decode_case decode_cases[] = {
	{"X: =?ISO-8859-1?Q?a?=\r\n", "a"},
	{"X: =?ISO-8859-1?Q?a?= b\r\n", "a b"},
	{"X: =?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=\r\n", "ab"},
	{"X: =?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=\r\n", "ab"},
	{"X: =?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=\r\n", "ab"},
	{"X: =?ISO-8859-1?Q?a_b?=\r\n", "a b"},
	{"X: =?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=\r\n", "a b"},
	{"X: =?US-ASCII?Q?Keith_Moore?=\r\n", "Keith Moore"},
	{"X: =?ISO-8859-1?Q?Andr=E9?= Pirard\r\n", "Andr\xe9 Pirard"},
	{"X: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n"
	 " =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=\r\n",
	 "If you can read this you understand the example."},
	{"X: a =?utf-8?q?=c3=a9?= b\r\n", "a \xc3\xa9 b"},
	{"X: plain\r\n\ttext\r\n", "plain\ttext"},
	{"X:\r\n", ""},
};
/* clang-format on */

static void
test_encword_decode_rfc2047_examples(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(decode_cases); i++) {
		const struct decode_case *c = &decode_cases[i];
		char *dec = NULL;
		size_t dlen = 0;

		print_message("# case %zu\n", i);
		assert_int_equal(encword_decode(&dec, &dlen, "X", c->field,
						strlen(c->field)),
				 0);
		assert_int_equal(dlen, strlen(c->want));
		assert_memory_equal(dec, c->want, dlen);
		common_free(dec);
	}
}

static void
test_encword_decode_refuses_malformed(void **state)
{
	static const char *const bad[] = {
	    "X: =?UTF-8?X?abc?=\r\n", /* unknown encoding */
	    "X: =?UTF-8?B?abc?=\r\n", /* base64 length */
	    "X: =?UTF-8?Q?=4?=\r\n",  /* short hex */
	    "X: =?UTF-8?Q?=ZZ?=\r\n", /* bad hex */
	    "X: =??Q?abc?=\r\n",      /* no charset */
	    "X: a\r\nb\r\n",          /* continuation without blank */
	    "X: a\nb\r\n",            /* bare LF */
	    "X: a",                   /* no CRLF */
	    "Y: a\r\n",               /* other name */
	};
	char *dec = NULL;
	size_t dlen = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(
		    encword_decode(&dec, &dlen, "X", bad[i], strlen(bad[i])),
		    SMTPSEND_E_INVAL);
}

/* Texts that need several encoded words: the splits must fall between
 * characters of 1 to 4 octets, B and Q alike. */
static void
test_encword_splits_between_characters(void **state)
{
	static const char *const pieces[] = {
	    "a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", " ", "z"};
	char value[2048];

	(void)state;
	for (size_t mix = 0; mix < 64; mix++) {
		size_t len = 0, n = 0;

		/* every rotation of the pieces, different lengths */
		while (len < 200 + mix * 13) {
			const char *p = pieces[(n * (mix + 1) + n / 7) %
					       ARRAY_SIZE(pieces)];

			memcpy(value + len, p, strlen(p));
			len += strlen(p);
			n++;
		}
		round_trip("Subject", value, len);
	}
	/* only 4-octet characters: each word holds whole ones */
	for (size_t i = 0; i < 100; i++)
		memcpy(value + 4 * i, "\xf0\x9f\x98\x80", 4);
	round_trip("Subject", value, 400);
	/* only 2-octet characters (Q chosen: check) */
	for (size_t i = 0; i < 100; i++)
		memcpy(value + 2 * i, i % 2 ? "\xc3\xa9" : "ab", 2);
	round_trip("Subject", value, 200);
}

static void
test_encword_folds_ascii(void **state)
{
	char value[1200], *f = NULL;
	size_t flen = 0, len = 0;

	(void)state;
	/* 300 characters of words: folded at blanks, never encoded */
	while (len < 300) {
		memcpy(value + len, "word ", 5);
		len += 5;
	}
	memcpy(value + len, "end", 3);
	len += 3;
	assert_int_equal(encword_unstructured(&f, &flen, "Subject", value, len),
			 0);
	assert_null(strstr(f, "=?"));
	assert_non_null(strstr(f, "\r\n word"));
	assert_field_shape(f, flen, ENCWORD_LINE_SOFT);
	common_free(f);
	round_trip("Subject", value, len);

	/* multiple blanks and tabs: the fold keeps them all */
	memcpy(value, "aaaaaaaaaa  \t  ", 15);
	for (size_t i = 15; i < 400; i++)
		value[i] = i % 20 < 2 ? ' ' : (char)('a' + i % 26);
	round_trip("Subject", value, 400);

	/* a word longer than a line: encoded instead */
	memset(value, 'x', 100);
	assert_int_equal(encword_unstructured(&f, &flen, "Subject", value, 100),
			 0);
	assert_non_null(strstr(f, "=?UTF-8?"));
	common_free(f);
	round_trip("Subject", value, 100);

	/* a long field name: the value starts on the next line */
	round_trip("X-A-Very-Long-Field-Name-That-Takes-Up-Most-Of-The-"
		   "First-Line-Indeed",
		   "short value", 11);
	round_trip("X-A-Very-Long-Field-Name-That-Takes-Up-Most-Of-The-"
		   "First-Line-Indeed",
		   "caf\xc3\xa9", 5);
	memset(value, 'N', ENCWORD_NAME_MAX);
	value[ENCWORD_NAME_MAX] = '\0';
	{
		char name[ENCWORD_NAME_MAX + 1];

		memcpy(name, value, sizeof(name));
		round_trip(name, "v", 1);
		round_trip(name, "\xc3\xa9", 2);
	}
}

static void
test_encword_structured_folding(void **state)
{
	char value[4096], *f = NULL;
	size_t flen = 0, len = 0;

	(void)state;
	assert_int_equal(
	    encword_structured(&f, &flen, "To", "Ann <ann@example.org>", 21),
	    0);
	assert_string_equal(f, "To: Ann <ann@example.org>\r\n");
	common_free(f);

	/* a list: folded at the blanks after the commas */
	for (int i = 0; i < 20; i++)
		len += (size_t)snprintf(value + len, sizeof(value) - len,
					"%sUser %d <user%d@example.org>",
					i ? ", " : "", i, i);
	assert_int_equal(encword_structured(&f, &flen, "To", value, len), 0);
	assert_field_shape(f, flen, ENCWORD_LINE_SOFT);
	common_free(f);

	/* a token too long for 78 stays whole on its own line */
	memcpy(value, "<", 1);
	memset(value + 1, 'a', 200);
	memcpy(value + 201, "@example.org>", 13);
	assert_int_equal(encword_structured(&f, &flen, "List-Id", value, 214),
			 0);
	assert_memory_equal(f, "List-Id:\r\n <aaaa", 16);
	assert_field_shape(f, flen, SMTP_TEXT_LINE_MAX);
	common_free(f);

	/* beyond 998: refused */
	memset(value, 'a', 1000);
	assert_int_equal(encword_structured(&f, &flen, "X", value, 1000),
			 SMTPSEND_E_LIMIT);

	/* UTF-8 (RFC 6532) passes; encoded words keep lines to 76 */
	assert_int_equal(encword_structured(&f, &flen, "From",
					    "J\xc3\xb6rg <j@example.org>", 21),
			 0);
	assert_string_equal(f, "From: J\xc3\xb6rg <j@example.org>\r\n");
	common_free(f);
	len = 0;
	for (int i = 0; i < 10; i++)
		len +=
		    (size_t)snprintf(value + len, sizeof(value) - len,
				     "%s=?UTF-8?Q?M=C3=BCller_%d?= <m%d@e.org>",
				     i ? ", " : "", i, i);
	assert_int_equal(encword_structured(&f, &flen, "Cc", value, len), 0);
	assert_field_shape(f, flen, ENCWORD_LINE_ENCODED);
	common_free(f);
}

struct phrase_case {
	const char *name;
	const char *in;
	const char *want;
};

/* clang-format off */
static const struct phrase_case phrase_cases[] = {
	{"atoms", "Ann Smith", "Ann Smith"},
	{"one atom", "ann", "ann"},
	{"comma", "Smith, Ann", "\"Smith, Ann\""},
	{"dot", "John Q. Public", "\"John Q. Public\""},
	{"quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\""},
	{"double space", "a  b", "\"a  b\""},
	{"leading space", " a", "\" a\""},
	{"angle brackets", "<x@y>", "\"<x@y>\""},
	{"looks encoded", "=?UTF-8?Q?x?=", "\"=?UTF-8?Q?x?=\""},
	{"non-ASCII", "Ann M\xc3\xbcller", "=?UTF-8?Q?Ann_M=C3=BCller?="},
	{"tab", "tab\there", "=?UTF-8?Q?tab=09here?="},
	{"CJK", "\xe5\xb1\xb1\xe7\x94\xb0",
	 "=?UTF-8?B?5bGx55Sw?="},
};
/* clang-format on */

static void
test_encword_display_names(void **state)
{
	char value[600], *p = NULL;
	size_t plen = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(phrase_cases); i++) {
		const struct phrase_case *c = &phrase_cases[i];

		print_message("# case: %s\n", c->name);
		assert_int_equal(
		    encword_phrase(&p, &plen, c->in, strlen(c->in)), 0);
		assert_string_equal(p, c->want);
		assert_int_equal(plen, strlen(c->want));
		common_free(p);
	}
	assert_int_equal(encword_phrase(&p, &plen, "", 0), SMTPSEND_E_INVAL);

	/* a long name: several words of at most 75, separated by spaces,
	 * then a whole From field folds to lines of 76 */
	for (size_t i = 0; i < 100; i++)
		memcpy(value + 3 * i, "\xe2\x82\xac", 3);
	assert_int_equal(encword_phrase(&p, &plen, value, 300), 0);
	assert_null(strchr(p, '\r'));
	assert_words_whole(p, plen);
	{
		char full[1024], *f = NULL;
		size_t flen = 0;
		int n = snprintf(full, sizeof(full), "%s <e@example.org>", p);

		assert_int_equal(
		    encword_structured(&f, &flen, "From", full, (size_t)n), 0);
		assert_field_shape(f, flen, ENCWORD_LINE_ENCODED);
		common_free(f);
	}
	common_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encword_field_names),
	    cmocka_unit_test(test_encword_unstructured_table),
	    cmocka_unit_test(test_encword_refuses_line_bytes),
	    cmocka_unit_test(test_encword_decode_rfc2047_examples),
	    cmocka_unit_test(test_encword_decode_refuses_malformed),
	    cmocka_unit_test(test_encword_splits_between_characters),
	    cmocka_unit_test(test_encword_folds_ascii),
	    cmocka_unit_test(test_encword_structured_folding),
	    cmocka_unit_test(test_encword_display_names),
	};

	return cmocka_run_group_tests_name("libsend-encword", tests, NULL,
					   NULL);
}
