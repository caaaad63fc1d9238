/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for libsend/addr.c: addresses for the envelope and headers,
 * IDN domains, the SMTP path, lists, and allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct ok_case {
	const char *in;
	const char *spec;
	const char *display;     /* NULL: none */
	const char *domain_utf8; /* NULL: the domain of spec */
	bool utf8_local;
	bool idn;
};

/* clang-format off */
static const struct ok_case ok_cases[] = {
	{"ann@example.org", "ann@example.org", NULL, NULL, false, false},
	{"  ann@example.org\t", "ann@example.org", NULL, NULL, false, false},
	{"<ann@example.org>", "ann@example.org", NULL, NULL, false, false},
	{"< ann@example.org >", "ann@example.org", NULL, NULL, false, false},
	{"Ann Example <ann@example.org>", "ann@example.org", "Ann Example",
	 NULL, false, false},
	{"Ann   Q.\tExample   <ann@example.org>", "ann@example.org",
	 "Ann Q. Example", NULL, false, false},
	{"\"Example, Ann\" <ann@example.org>", "ann@example.org",
	 "Example, Ann", NULL, false, false},
	{"\"Ann \\\"The\\\" Ex\\\\\" <ann@example.org>", "ann@example.org",
	 "Ann \"The\" Ex\\", NULL, false, false},
	{"\"Doe, J.\" Jr <j@example.org>", "j@example.org", "Doe, J. Jr", NULL,
	 false, false},
	{"Ann (work) <ann@example.org>", "ann@example.org", "Ann (work)", NULL,
	 false, false},
	{"\"\" <ann@example.org>", "ann@example.org", NULL, NULL, false,
	 false},
	{"\"<not@this>\" <ann@example.org>", "ann@example.org", "<not@this>",
	 NULL, false, false},
	{"J\xc3\xb6rg M\xc3\xbcller <jm@example.org>", "jm@example.org",
	 "J\xc3\xb6rg M\xc3\xbcller", NULL, false, false},
	{"Ann<ann@example.org>", "ann@example.org", "Ann", NULL, false, false},
	{"first.last+tag@example.org", "first.last+tag@example.org", NULL,
	 NULL, false, false},
	{"!#$%&'*+-/=?^_`{|}~@example.org", "!#$%&'*+-/=?^_`{|}~@example.org",
	 NULL, NULL, false, false},
	{"\"john doe\"@example.org", "\"john doe\"@example.org", NULL, NULL,
	 false, false},
	{"\"a@b,c<d>\"@example.org", "\"a@b,c<d>\"@example.org", NULL, NULL,
	 false, false},
	{"\"a\\\\b\\\"c\"@example.org", "\"a\\\\b\\\"c\"@example.org", NULL,
	 NULL, false, false},
	{"<\"x y\"@example.org>", "\"x y\"@example.org", NULL, NULL, false,
	 false},
	{"Ann@Example.ORG", "Ann@Example.ORG", NULL, NULL, false, false},
	{"root@localhost", "root@localhost", NULL, NULL, false, false},
	{"a@b-c.d1.example", "a@b-c.d1.example", NULL, NULL, false, false},
	{"a@123.example", "a@123.example", NULL, NULL, false, false},
	{"user@[192.0.2.1]", "user@[192.0.2.1]", NULL, NULL, false, false},
	{"user@[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]", NULL, NULL,
	 false, false},
	{"user@[ipv6:::1]", "user@[ipv6:::1]", NULL, NULL, false, false},
	{"user@xn--mnchen-3ya.example", "user@xn--mnchen-3ya.example", NULL,
	 NULL, false, false},
	/* IDN: labels with non-ASCII are encoded, lower-casing ASCII */
	{"user@m\xc3\xbcnchen.example", "user@xn--mnchen-3ya.example", NULL,
	 "m\xc3\xbcnchen.example", false, true},
	{"user@M\xc3\xbcnchen.Example", "user@xn--mnchen-3ya.Example", NULL,
	 "M\xc3\xbcnchen.Example", false, true},
	{"Ann <ann@\xc3\xbc.example>", "ann@xn--tda.example", "Ann",
	 "\xc3\xbc.example", false, true},
	{"user@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
	 "user@xn--r8jz45g.xn--zckzah", NULL,
	 "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
	 false, true},
	/* U+3002 IDEOGRAPHIC FULL STOP separates labels */
	{"user@\xe4\xbe\x8b\xe3\x81\x88\xe3\x80\x82\xe3\x83\x86\xe3\x82\xb9"
	 "\xe3\x83\x88",
	 "user@xn--r8jz45g.xn--zckzah", NULL,
	 "\xe4\xbe\x8b\xe3\x81\x88\xe3\x80\x82\xe3\x83\x86\xe3\x82\xb9"
	 "\xe3\x83\x88", false, true},
	/* RFC 6530-style: UTF-8 local part needs SMTPUTF8 */
	{"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	 "\xe5\x91\x8a",
	 "\xe7\x94\xa8\xe6\x88\xb7@xn--fsqu00a.xn--4rr70v", NULL,
	 "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", true, true},
	{"\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae@\xcf\x80\xce\xb1"
	 "\xcf\x81\xce\xac\xce\xb4\xce\xb5\xce\xb9\xce\xb3\xce\xbc\xce\xb1."
	 "\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae",
	 "\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae@xn--hxajbheg2az3al."
	 "xn--jxalpdlp", NULL,
	 "\xcf\x80\xce\xb1\xcf\x81\xce\xac\xce\xb4\xce\xb5\xce\xb9\xce\xb3"
	 "\xce\xbc\xce\xb1.\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae",
	 true, true},
	{"\"Jos\xc3\xa9 M\"@example.org", "\"Jos\xc3\xa9 M\"@example.org", NULL,
	 NULL, true, false},
	{"J\xc3\xb6rg@example.org", "J\xc3\xb6rg@example.org", NULL, NULL,
	 true, false},
};
/* clang-format on */

struct bad_case {
	const char *in;
	size_t len; /* 0: strlen */
	int want;
};

/* clang-format off */
static const struct bad_case bad_cases[] = {
	{"", 0, SMTPSEND_E_INVAL},
	{"   ", 0, SMTPSEND_E_INVAL},
	{"ann", 0, SMTPSEND_E_INVAL},
	{"ann@", 0, SMTPSEND_E_INVAL},
	{"@example.org", 0, SMTPSEND_E_INVAL},
	{"<>", 0, SMTPSEND_E_INVAL},
	{"Ann <>", 0, SMTPSEND_E_INVAL},
	{"ann@@example.org", 0, SMTPSEND_E_INVAL},
	{"ann@exa@mple.org", 0, SMTPSEND_E_INVAL},
	/* CR, LF, NUL anywhere */
	{"ann@example.org\r\nRCPT TO:<x@example.net>", 0, SMTPSEND_E_INVAL},
	{"ann@example.org\n", 0, SMTPSEND_E_INVAL},
	{"ann\r@example.org", 0, SMTPSEND_E_INVAL},
	{"\"a\rb\"@example.org", 0, SMTPSEND_E_INVAL},
	{"\"a\\\rb\"@example.org", 0, SMTPSEND_E_INVAL},
	{"Ann\n <ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"ann@exa\0mple.org", 16, SMTPSEND_E_INVAL},
	{"ann@example.org\0", 16, SMTPSEND_E_INVAL},
	/* local part */
	{"a nn@example.org", 0, SMTPSEND_E_INVAL},
	{"ann @example.org", 0, SMTPSEND_E_INVAL},
	{"ann.@example.org", 0, SMTPSEND_E_INVAL},
	{".ann@example.org", 0, SMTPSEND_E_INVAL},
	{"a..nn@example.org", 0, SMTPSEND_E_INVAL},
	{"a\"b@example.org", 0, SMTPSEND_E_INVAL},
	{"a(b)@example.org", 0, SMTPSEND_E_INVAL},
	{"a[b]@example.org", 0, SMTPSEND_E_INVAL},
	{"a\\b@example.org", 0, SMTPSEND_E_INVAL},
	{"a;b@example.org", 0, SMTPSEND_E_INVAL},
	{"a:b@example.org", 0, SMTPSEND_E_INVAL},
	{"a\x01@example.org", 0, SMTPSEND_E_INVAL},
	{"a\x7f@example.org", 0, SMTPSEND_E_INVAL},
	{"a\tb@example.org", 0, SMTPSEND_E_INVAL},
	{"\"\"@example.org", 0, SMTPSEND_E_INVAL},
	{"\"ann\"x@example.org", 0, SMTPSEND_E_INVAL},
	{"\"a\tb\"@example.org", 0, SMTPSEND_E_INVAL},
	{"\"a\x01\"@example.org", 0, SMTPSEND_E_INVAL},
	{"\"a\\\x01\"@example.org", 0, SMTPSEND_E_INVAL},
	{"ann\xff@example.org", 0, SMTPSEND_E_INVAL},
	{"ann\xc3@example.org", 0, SMTPSEND_E_INVAL},
	{"ann\xc2\x85@example.org", 0, SMTPSEND_E_INVAL},	/* C1 NEL */
	{"ann\xc2\xa0x@example.org", 0, SMTPSEND_E_INVAL},	/* NBSP */
	/* unbalanced */
	{"\"ann@example.org", 0, SMTPSEND_E_INVAL},
	{"\"Ann <ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"<ann@example.org", 0, SMTPSEND_E_INVAL},
	{"ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"<<ann@example.org>>", 0, SMTPSEND_E_INVAL},
	{"Ann <ann@example.org> x", 0, SMTPSEND_E_INVAL},
	{"<ann@example.org> <bob@example.org>", 0, SMTPSEND_E_INVAL},
	{"Ann > <ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"<@relay.example:ann@example.org>", 0, SMTPSEND_E_INVAL},
	/* display names */
	{"Ann; <ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"group: <ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"Ann\\ <ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"Ann\x01 <ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"\"Ann\x01\" <ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"Ann\xff <ann@example.org>", 0, SMTPSEND_E_INVAL},
	{"\"Ann\xc2\x9b\" <ann@example.org>", 0, SMTPSEND_E_INVAL},
	/* one address only */
	{"Smith, John <john@example.org>", 0, SMTPSEND_E_INVAL},
	{"ann@example.org, bob@example.org", 0, SMTPSEND_E_INVAL},
	{"ann@example.org,", 0, SMTPSEND_E_INVAL},
	{",ann@example.org", 0, SMTPSEND_E_INVAL},
	/* domain */
	{"ann@example..org", 0, SMTPSEND_E_INVAL},
	{"ann@.example.org", 0, SMTPSEND_E_INVAL},
	{"ann@example.org.", 0, SMTPSEND_E_INVAL},
	{"ann@.", 0, SMTPSEND_E_INVAL},
	{"ann@-example.org", 0, SMTPSEND_E_INVAL},
	{"ann@example-.org", 0, SMTPSEND_E_INVAL},
	{"ann@exa_mple.org", 0, SMTPSEND_E_INVAL},
	{"ann@exa mple.org", 0, SMTPSEND_E_INVAL},
	{"ann@example.org (comment)", 0, SMTPSEND_E_INVAL},
	{"ann@xn--en32g.example", 0, SMTPSEND_E_INVAL},	/* bad A-label */
	{"ann@xn--a!b.example", 0, SMTPSEND_E_INVAL},
	{"ann@[300.1.1.1]", 0, SMTPSEND_E_INVAL},
	{"ann@[192.0.2.1", 0, SMTPSEND_E_INVAL},
	{"ann@[192.0.2]", 0, SMTPSEND_E_INVAL},
	{"ann@[IPv6:zz::1]", 0, SMTPSEND_E_INVAL},
	{"ann@[IPv6:192.0.2.1]", 0, SMTPSEND_E_INVAL},
	{"ann@[example.org]", 0, SMTPSEND_E_INVAL},
	{"ann@[]", 0, SMTPSEND_E_INVAL},
	{"ann@[192.0.2.1].org", 0, SMTPSEND_E_INVAL},
	/* IDN labels */
	{"ann@m\xc3\xbcnchen\xff.example", 0, SMTPSEND_E_INVAL},
	{"ann@\xed\xa0\x80.example", 0, SMTPSEND_E_INVAL},	/* surrogate */
	{"ann@-\xc3\xbc.example", 0, SMTPSEND_E_INVAL},
	{"ann@\xc3\xbc-.example", 0, SMTPSEND_E_INVAL},
	{"ann@ab--\xc3\xbc.example", 0, SMTPSEND_E_INVAL},
	{"ann@a_\xc3\xbc.example", 0, SMTPSEND_E_INVAL},
	{"ann@ex\xe2\x80\x8b" "ample.org", 0, SMTPSEND_E_INVAL}, /* ZWSP */
	{"ann@ex\xc2\xa0mple.org", 0, SMTPSEND_E_INVAL},	/* NBSP */
	{"ann@\xef\xbb\xbf" "example.org", 0, SMTPSEND_E_INVAL}, /* BOM */
	{"ann@example\xe3\x80\x82", 0, SMTPSEND_E_INVAL},	/* final U+3002 */
};
/* clang-format on */

static void
check_ok(const struct ok_case *c, const smtp_addr *a)
{
	const char *at = strrchr(c->spec, '@');
	char path[SMTP_PATH_MAX + 1];
	size_t plen = 0;
	smtp_addr again;

	if (strcmp(a->spec, c->spec) != 0)
		fail_msg("'%s': spec '%s', want '%s'", c->in, a->spec, c->spec);
	assert_int_equal(a->spec_len, strlen(c->spec));
	assert_int_equal(a->local_len, (size_t)(at - c->spec));
	assert_string_equal(smtp_addr_domain(a), at + 1);
	if (c->display == NULL)
		assert_null(a->display);
	else if (a->display == NULL || strcmp(a->display, c->display) != 0)
		fail_msg("'%s': display '%s', want '%s'", c->in,
			 a->display ? a->display : "(null)", c->display);
	assert_string_equal(a->domain_utf8,
			    c->domain_utf8 ? c->domain_utf8 : at + 1);
	if (a->utf8_local != c->utf8_local || a->idn != c->idn)
		fail_msg("'%s': utf8_local %d idn %d", c->in, a->utf8_local,
			 a->idn);

	/* the SMTP path, and parsing its addr-spec gives it back */
	assert_int_equal(smtp_addr_format_path(a, path, sizeof(path), &plen),
			 0);
	assert_int_equal(plen, a->spec_len + 2);
	assert_int_equal(path[0], '<');
	assert_int_equal(path[plen - 1], '>');
	assert_memory_equal(path + 1, c->spec, a->spec_len);
	assert_int_equal(smtp_addr_parse(&again, path, plen), 0);
	assert_string_equal(again.spec, a->spec);
	smtp_addr_clear(&again);
}

static void
test_addr_accepts(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok_cases); i++) {
		const struct ok_case *c = &ok_cases[i];
		smtp_addr a;
		int r = smtp_addr_parse(&a, c->in, strlen(c->in));

		if (r != 0)
			fail_msg("'%s': rc %d", c->in, r);
		check_ok(c, &a);
		smtp_addr_clear(&a);
	}
}

static void
test_addr_refuses(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		smtp_addr a, before;
		int r;

		memset(&before, 0x5a, sizeof(before));
		a = before;
		r = smtp_addr_parse(&a, c->in, len);
		if (r != c->want)
			fail_msg("case %zu '%s': rc %d, want %d", i, c->in, r,
				 c->want);
		/* the output is untouched on failure */
		assert_memory_equal(&a, &before, sizeof(a));
	}
	assert_int_equal(smtp_addr_parse(NULL, "a@b", 3), SMTPSEND_E_INVAL);
	assert_int_equal(smtp_addr_parse(NULL, NULL, 0), SMTPSEND_E_INVAL);
}

/* Fill buf with "<local>@<domain>" of the given lengths, labels of at
 * most 63 octets; returns buf. */
static char *
make_addr(char *buf, size_t local_len, size_t domain_len)
{
	size_t o = 0, in_label = 0;

	for (size_t i = 0; i < local_len; i++)
		buf[o++] = 'l';
	buf[o++] = '@';
	for (size_t i = 0; i < domain_len; i++) {
		/* a dot every 64th octet; never first or last */
		if (in_label == 63 && i + 1 < domain_len) {
			buf[o++] = '.';
			in_label = 0;
			continue;
		}
		buf[o++] = 'd';
		in_label++;
	}
	buf[o] = '\0';
	return buf;
}

static void
test_addr_length_limits(void **state)
{
	char buf[1200], label[200];
	smtp_addr a;

	(void)state;
	/* local part: 64 octets, not 65; quotes count */
	make_addr(buf, 64, 11);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)), 0);
	smtp_addr_clear(&a);
	make_addr(buf, 65, 11);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)),
			 SMTPSEND_E_INVAL);
	snprintf(buf, sizeof(buf), "\"%062d\"@example.org", 0);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)), 0);
	smtp_addr_clear(&a);
	snprintf(buf, sizeof(buf), "\"%063d\"@example.org", 0);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)),
			 SMTPSEND_E_INVAL);

	/* a label: 63 octets, not 64 */
	memset(label, 'x', 64);
	snprintf(buf, sizeof(buf), "a@%.63s.org", label);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)), 0);
	smtp_addr_clear(&a);
	snprintf(buf, sizeof(buf), "a@%.64s.org", label);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)),
			 SMTPSEND_E_INVAL);

	/* the path: "<" + spec + ">" at most SMTP_PATH_MAX (256) */
	make_addr(buf, 1, SMTP_PATH_MAX - 4);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)), 0);
	assert_int_equal(a.spec_len, SMTP_PATH_MAX - 2);
	smtp_addr_clear(&a);
	make_addr(buf, 1, SMTP_PATH_MAX - 3);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)),
			 SMTPSEND_E_INVAL);
	make_addr(buf, 64, SMTP_PATH_MAX - 67);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)), 0);
	smtp_addr_clear(&a);
	make_addr(buf, 64, SMTP_PATH_MAX - 66);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)),
			 SMTPSEND_E_INVAL);
	/* a domain over 253 octets: refused whatever the path */
	make_addr(buf, 1, 254);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)),
			 SMTPSEND_E_INVAL);
	make_addr(buf, 1, 1100);
	assert_int_equal(smtp_addr_parse(&a, buf, strlen(buf)),
			 SMTPSEND_E_INVAL);
}

static void
test_addr_idn_label_limit(void **state)
{
	char buf[600];
	size_t o;
	smtp_addr a;

	(void)state;
	/* "xn--" + 55 basic + "-" + 3 digits for one U+00FC is 63 octets;
	 * a 56th basic code point makes 64 */
	for (size_t basic = 55; basic <= 56; basic++) {
		o = (size_t)snprintf(buf, sizeof(buf), "a@");
		for (size_t i = 0; i < basic; i++)
			buf[o++] = 'q';
		memcpy(buf + o, "\xc3\xbc.org", 7);
		o += 6;
		assert_int_equal(smtp_addr_parse(&a, buf, o),
				 basic == 55 ? 0 : SMTPSEND_E_INVAL);
		if (basic == 55) {
			/* the label and ".org" */
			assert_int_equal(strlen(smtp_addr_domain(&a)), 63 + 4);
			smtp_addr_clear(&a);
		}
	}
	/* many non-ASCII characters: too long once encoded */
	o = (size_t)snprintf(buf, sizeof(buf), "a@");
	for (size_t i = 0; i < 60; i++) {
		memcpy(buf + o, "\xe4\xbe\x8b", 3);
		o += 3;
	}
	buf[o] = '\0';
	assert_int_equal(smtp_addr_parse(&a, buf, o), SMTPSEND_E_INVAL);
}

static void
test_addr_display_limit(void **state)
{
	char buf[SMTP_ADDR_DISPLAY_MAX + 64];
	smtp_addr a;
	size_t o;

	(void)state;
	memset(buf, 'N', SMTP_ADDR_DISPLAY_MAX);
	o = SMTP_ADDR_DISPLAY_MAX;
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, " <a@example.org>");
	assert_int_equal(smtp_addr_parse(&a, buf, o), 0);
	assert_int_equal(strlen(a.display), SMTP_ADDR_DISPLAY_MAX);
	smtp_addr_clear(&a);

	memset(buf, 'N', SMTP_ADDR_DISPLAY_MAX + 1);
	o = SMTP_ADDR_DISPLAY_MAX + 1;
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, " <a@example.org>");
	assert_int_equal(smtp_addr_parse(&a, buf, o), SMTPSEND_E_LIMIT);
}

static void
test_addr_list(void **state)
{
	static const char *const in =
	    "ann@example.org, \"Bee, B.\" <b@example.org>,,"
	    "C <\"c,d\"@example.org> ,\t<e@m\xc3\xbcnchen.example>,";
	smtp_addr *v = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(smtp_addr_parse_list(&v, &n, in, strlen(in)), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].spec, "ann@example.org");
	assert_null(v[0].display);
	assert_string_equal(v[1].spec, "b@example.org");
	assert_string_equal(v[1].display, "Bee, B.");
	assert_string_equal(v[2].spec, "\"c,d\"@example.org");
	assert_string_equal(v[2].display, "C");
	assert_string_equal(v[3].spec, "e@xn--mnchen-3ya.example");
	smtp_addr_list_free(v, n);

	v = (smtp_addr *)0x1;
	n = 77;
	assert_int_equal(smtp_addr_parse_list(&v, &n, " , ,", 4),
			 SMTPSEND_E_INVAL);
	assert_int_equal(smtp_addr_parse_list(&v, &n, "", 0), SMTPSEND_E_INVAL);
	/* one bad element fails the list (and leaks nothing: ASan) */
	assert_int_equal(smtp_addr_parse_list(&v, &n,
					      "A <a@example.org>, bad, "
					      "c@example.org",
					      40),
			 SMTPSEND_E_INVAL);
	assert_int_equal(smtp_addr_parse_list(&v, &n, "a@example.org, <b", 17),
			 SMTPSEND_E_INVAL);
	assert_true(v == (smtp_addr *)0x1);
	assert_int_equal(n, 77);
	assert_int_equal(smtp_addr_parse_list(NULL, &n, "a@b", 3),
			 SMTPSEND_E_INVAL);
	smtp_addr_list_free(NULL, 3);
}

static void
test_addr_list_limit(void **state)
{
	static char buf[(SMTP_ADDR_LIST_MAX + 1) * 8];
	smtp_addr *v = NULL;
	size_t n = 0, o = 0;

	(void)state;
	for (size_t i = 0; i < SMTP_ADDR_LIST_MAX; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%sa@b.c",
				      i ? "," : "");
	assert_int_equal(smtp_addr_parse_list(&v, &n, buf, o), 0);
	assert_int_equal(n, SMTP_ADDR_LIST_MAX);
	smtp_addr_list_free(v, n);
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",a@b.c");
	assert_int_equal(smtp_addr_parse_list(&v, &n, buf, o),
			 SMTPSEND_E_LIMIT);
}

static void
test_addr_format_path(void **state)
{
	static const char *const in = "Ann <ann@m\xc3\xbcnchen.example>";
	char buf[SMTP_PATH_MAX + 1], *dup = NULL;
	smtp_addr a;
	size_t len;

	(void)state;
	assert_int_equal(smtp_addr_parse(&a, in, strlen(in)), 0);
	assert_int_equal(smtp_addr_format_path(&a, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "<ann@xn--mnchen-3ya.example>");
	assert_int_equal(len, 28);
	/* exactly enough room, then one byte short */
	assert_int_equal(smtp_addr_format_path(&a, buf, 29, NULL), 0);
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(smtp_addr_format_path(&a, buf, 28, NULL),
			 SMTPSEND_E_LIMIT);
	assert_int_equal(buf[0], 'z');
	assert_int_equal(smtp_addr_format_path(NULL, buf, 28, NULL),
			 SMTPSEND_E_INVAL);
	assert_int_equal(smtp_addr_path_dup(&a, &dup), 0);
	assert_string_equal(dup, "<ann@xn--mnchen-3ya.example>");
	common_free(dup);
	smtp_addr_clear(&a);
	smtp_addr_clear(&a);
	smtp_addr_clear(NULL);
	/* a cleared address has no path */
	assert_int_equal(smtp_addr_format_path(&a, buf, sizeof(buf), NULL),
			 SMTPSEND_E_INVAL);
	assert_int_equal(smtp_addr_path_dup(&a, &dup), SMTPSEND_E_INVAL);
}

#ifdef SMTPCRED_TEST_HOOKS
/* Every allocation failure ends in SMTPSEND_E_NOMEM with the outputs
 * untouched and nothing leaked (checked by ASan builds). */
static void
test_addr_alloc_failures(void **state)
{
	static const char *const in =
	    "\"Bee, B.\" <b@example.org>, C <c@example.org>, d@example.org";
	long fail_at;
	int r;

	(void)state;
	for (fail_at = 1;; fail_at++) {
		smtp_addr *v = (smtp_addr *)0x1;
		size_t n = 99;

		common_alloc_reset_for_tests(fail_at);
		r = smtp_addr_parse_list(&v, &n, in, strlen(in));
		if (r == 0) {
			assert_int_equal(n, 3);
			smtp_addr_list_free(v, n);
			break;
		}
		assert_int_equal(r, SMTPSEND_E_NOMEM);
		assert_true(v == (smtp_addr *)0x1);
		assert_int_equal(n, 99);
	}
	assert_true(fail_at > 2);

	for (fail_at = 1;; fail_at++) {
		smtp_addr a;
		char *dup = NULL;

		common_alloc_reset_for_tests(fail_at);
		r = smtp_addr_parse(&a, "Ann <ann@example.org>", 21);
		if (r == 0) {
			r = smtp_addr_path_dup(&a, &dup);
			smtp_addr_clear(&a);
		}
		if (r == 0) {
			common_free(dup);
			break;
		}
		assert_int_equal(r, SMTPSEND_E_NOMEM);
		assert_null(dup);
	}
	assert_int_equal(fail_at, 3);
	common_alloc_reset_for_tests(0);
}
#endif

/* sendmail's local names: "root" and "Name <root>" map, an address or
 * a name with other characters does not. */
static const char *
local_map(const char *name, size_t len, void *ud)
{
	(void)ud;
	if (len == 4 && memcmp(name, "root", 4) == 0)
		return "ops@example.org";
	if (len == 8 && memcmp(name, "www-data", 8) == 0)
		return "web@example.org";
	return NULL;
}

static void
test_addr_local_names(void **state)
{
	smtp_addr *v = NULL;
	size_t n = 0, a, l;
	const char *list = "root, Web <www-data>, ann@example.org";

	(void)state;
	assert_int_equal(smtp_local_name(" root ", 6, &a, &l), 0);
	assert_int_equal(a, 1);
	assert_int_equal(l, 4);
	assert_int_equal(smtp_local_name("Cron <root>", 11, &a, &l), 0);
	assert_int_equal(a, 6);
	assert_int_equal(l, 4);
	assert_int_equal(smtp_local_name("ro ot", 5, &a, &l), -1);
	assert_int_equal(smtp_local_name("a@b", 3, &a, &l), -1);
	assert_int_equal(smtp_local_name("<>", 2, &a, &l), -1);
	assert_int_equal(smtp_addr_parse_list_map(&v, &n, list, strlen(list),
						  local_map, NULL),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].spec, "ops@example.org");
	assert_string_equal(v[1].spec, "web@example.org");
	assert_string_equal(v[2].spec, "ann@example.org");
	smtp_addr_list_free(v, n);
	/* an unmapped local name still fails, as without a map */
	assert_true(smtp_addr_parse_list_map(&v, &n, "nobody", 6, local_map,
					     NULL) < 0);
	assert_true(smtp_addr_parse_list(&v, &n, "root", 4) < 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_accepts),
	    cmocka_unit_test(test_addr_refuses),
	    cmocka_unit_test(test_addr_length_limits),
	    cmocka_unit_test(test_addr_idn_label_limit),
	    cmocka_unit_test(test_addr_display_limit),
	    cmocka_unit_test(test_addr_list),
	    cmocka_unit_test(test_addr_list_limit),
	    cmocka_unit_test(test_addr_local_names),
	    cmocka_unit_test(test_addr_format_path),
#ifdef SMTPCRED_TEST_HOOKS
	    cmocka_unit_test(test_addr_alloc_failures),
#endif
	};

	return cmocka_run_group_tests_name("libsend-addr", tests, NULL, NULL);
}
