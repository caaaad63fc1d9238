/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for libsend/ehlo.c: EHLO capability parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ehlo.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_LINES     10

static smtp_reply reply;

/* Build a complete reply from "250-..." lines; the last must end it. */
static void
make_reply(const char *const *lines)
{
	int rc = REPLY_MORE;

	smtp_reply_reset(&reply);
	for (size_t i = 0; i < MAX_LINES && lines[i] != NULL; i++) {
		assert_int_equal(rc, REPLY_MORE);
		rc = smtp_reply_feed(&reply, lines[i], strlen(lines[i]));
	}
	assert_int_equal(rc, REPLY_DONE);
}

static void
parse(smtp_caps *c, const char *const *lines)
{
	make_reply(lines);
	assert_int_equal(smtp_caps_parse(c, &reply), 0);
}

static void
test_ehlo_typical(void **state)
{
	static const char *const lines[] = {
	    "250-mail.example.org Hello client.example.net [192.0.2.7]",
	    "250-PIPELINING",
	    "250-SIZE 35882577",
	    "250-8BITMIME",
	    "250-AUTH PLAIN LOGIN XOAUTH2",
	    "250-ENHANCEDSTATUSCODES",
	    "250-SMTPUTF8",
	    "250-DSN",
	    "250-CHUNKING",
	    "250 STARTTLS",
	    NULL,
	};
	smtp_caps c;

	(void)state;
	parse(&c, lines);
	assert_true(c.starttls);
	assert_true(c.pipelining);
	assert_true(c.eightbitmime);
	assert_true(c.smtputf8);
	assert_true(c.enhancedstatuscodes);
	assert_true(c.dsn);
	assert_true(c.chunking);
	assert_true(c.size_present);
	assert_int_equal(c.size_max, 35882577);
	assert_true(c.auth_present);
	assert_int_equal(c.auth,
			 SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN | SMTP_AUTH_XOAUTH2);
	assert_string_equal(c.auth_names, "PLAIN LOGIN XOAUTH2");
	assert_true(smtp_caps_has_auth(&c, "plain"));
	assert_true(smtp_caps_has_auth(&c, "XOAUTH2"));
	assert_false(smtp_caps_has_auth(&c, "SCRAM-SHA-256"));
	assert_false(smtp_caps_has_auth(&c, "CRAM-MD5"));
}

static void
test_ehlo_greeting_is_not_a_capability(void **state)
{
	static const char *const one[] = {"250 STARTTLS", NULL};
	static const char *const two[] = {"250-STARTTLS", "250 SIZE 10", NULL};
	smtp_caps c;

	(void)state;
	parse(&c, one);
	assert_false(c.starttls);
	parse(&c, two);
	assert_false(c.starttls);
	assert_true(c.size_present);
}

/* Keywords match as whole tokens, in any case. */
struct kw_case {
	const char *line;
	bool starttls;
};

/* clang-format off */
static const struct kw_case kw_cases[] = {
	{"250 STARTTLS",	true},
	{"250 starttls",	true},
	{"250 StartTls",	true},
	{"250  STARTTLS",	true},	/* a blank before the keyword */
	{"250 STARTTLS extra",	true},	/* parameters do not matter */
	{"250 XSTARTTLS",	false},
	{"250 STARTTLSX",	false},
	{"250 START-TLS",	false},
	{"250 STARTTLS=1",	false},	/* '=' only for AUTH */
	{"250 STARTTLS,",	false},
	{"250 STARTTLS\x80",	false},
	{"250 STARTTL",		false},
	{"250 -STARTTLS",	false},
	{"250 ",		false},
	{"250",			false},
};
/* clang-format on */

static void
test_ehlo_keywords_are_tokens(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(kw_cases); i++) {
		const char *lines[] = {"250-mx", kw_cases[i].line, NULL};
		smtp_caps c;

		parse(&c, lines);
		if (c.starttls != kw_cases[i].starttls)
			fail_msg("'%s': starttls %d, want %d", kw_cases[i].line,
				 c.starttls, kw_cases[i].starttls);
	}
}

struct size_case {
	const char *line;
	bool present;
	uint64_t max;
};

/* clang-format off */
static const struct size_case size_cases[] = {
	{"250 SIZE",				true,  0},
	{"250 SIZE 0",				true,  0},
	{"250 SIZE 10240000",			true,  10240000},
	{"250 size 52428800",			true,  52428800},
	{"250 SIZE  7",				true,  7},
	{"250 SIZE 10 20",			true,  10},
	{"250 SIZE 18446744073709551615",	true,  UINT64_MAX},
	{"250 SIZE 18446744073709551616",	true,  0},
	{"250 SIZE 99999999999999999999999",	true,  0},
	{"250 SIZE abc",			true,  0},
	{"250 SIZE -1",				true,  0},
	{"250 SIZE +5",				true,  0},
	{"250 SIZE 5M",				true,  0},
	{"250 SIZES 5",				false, 0},
	{"250 XSIZE 5",				false, 0},
};
/* clang-format on */

static void
test_ehlo_size(void **state)
{
	static const char *const twice[] = {"250-mx", "250-SIZE 100",
					    "250 SIZE 200", NULL};
	smtp_caps c;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(size_cases); i++) {
		const char *lines[] = {"250-mx", size_cases[i].line, NULL};

		parse(&c, lines);
		if (c.size_present != size_cases[i].present ||
		    c.size_max != size_cases[i].max)
			fail_msg("'%s': present %d max %llu",
				 size_cases[i].line, c.size_present,
				 (unsigned long long)c.size_max);
	}
	parse(&c, twice);
	assert_int_equal(c.size_max, 200);
}

static void
test_ehlo_auth(void **state)
{
	static const char *const old[] = {"250-mx", "250-AUTH=LOGIN PLAIN",
					  "250 AUTH SCRAM-SHA-256 PLAIN", NULL};
	static const char *const mixed[] = {
	    "250-mx",
	    "250-auth scram-sha-256-plus oauthbearer GSSAPI plain PLAIN",
	    "250-AUTH PLAIN,LOGIN THIS-NAME-IS-LONGER-THAN-20 a/b",
	    "250 AUTH\tLOGIN  \t CRAM-MD5 ",
	    NULL,
	};
	static const char *const bare[] = {"250-mx", "250 AUTH", NULL};
	static const char *const notauth[] = {"250-mx", "250-XAUTH PLAIN",
					      "250 AUTHX LOGIN", NULL};
	static const char *const eq_only[] = {"250-mx", "250 AUTH=", NULL};
	smtp_caps c;

	(void)state;
	parse(&c, old);
	assert_true(c.auth_present);
	assert_int_equal(c.auth, SMTP_AUTH_LOGIN | SMTP_AUTH_PLAIN |
				     SMTP_AUTH_SCRAM_SHA_256);
	assert_string_equal(c.auth_names, "LOGIN PLAIN SCRAM-SHA-256");

	parse(&c, mixed);
	assert_int_equal(c.auth, SMTP_AUTH_SCRAM_SHA_256_PLUS |
				     SMTP_AUTH_OAUTHBEARER | SMTP_AUTH_PLAIN |
				     SMTP_AUTH_LOGIN);
	assert_string_equal(c.auth_names, "SCRAM-SHA-256-PLUS OAUTHBEARER "
					  "GSSAPI PLAIN LOGIN CRAM-MD5");
	assert_true(smtp_caps_has_auth(&c, "gssapi"));
	assert_true(smtp_caps_has_auth(&c, "CRAM-MD5"));
	assert_true(smtp_caps_has_auth(&c, "SCRAM-SHA-256-PLUS"));
	assert_false(smtp_caps_has_auth(&c, "SCRAM-SHA-256"));
	assert_false(smtp_caps_has_auth(&c, "SCRAM"));
	assert_false(smtp_caps_has_auth(&c, "PLAIN,LOGIN"));
	assert_false(smtp_caps_has_auth(&c, ""));
	assert_false(smtp_caps_has_auth(&c, "PLAIN LOGIN"));
	assert_false(smtp_caps_has_auth(&c, NULL));
	assert_false(smtp_caps_has_auth(NULL, "PLAIN"));

	parse(&c, bare);
	assert_true(c.auth_present);
	assert_int_equal(c.auth, 0);
	assert_string_equal(c.auth_names, "");

	parse(&c, notauth);
	assert_false(c.auth_present);
	assert_int_equal(c.auth, 0);

	parse(&c, eq_only);
	assert_true(c.auth_present);
	assert_int_equal(c.auth, 0);
}

/* More names than SMTP_CAPS_AUTH_NAMES_MAX holds: the rest are dropped,
 * known mechanisms keep their bits. */
static void
test_ehlo_auth_names_overflow(void **state)
{
	static char lines_buf[8][SMTP_REPLY_LINE_MAX + 1];
	const char *lines[10];
	smtp_caps c;
	size_t i;

	(void)state;
	lines[0] = "250-mx";
	for (i = 0; i < 8; i++) {
		size_t o = (size_t)snprintf(lines_buf[i], sizeof(lines_buf[i]),
					    "250-AUTH");

		for (unsigned k = 0; k < 10; k++)
			o += (size_t)snprintf(lines_buf[i] + o,
					      sizeof(lines_buf[i]) - o,
					      " X-MECH-%02zu-%02u", i, k);
		lines[i + 1] = lines_buf[i];
	}
	lines[9] = "250 AUTH PLAIN SCRAM-SHA-256-PLUS";
	make_reply(lines);
	assert_int_equal(smtp_caps_parse(&c, &reply), 0);
	assert_true(strlen(c.auth_names) < sizeof(c.auth_names));
	assert_true(smtp_caps_has_auth(&c, "X-MECH-00-00"));
	assert_false(smtp_caps_has_auth(&c, "X-MECH-07-09"));
	assert_true(smtp_caps_has_auth(&c, "PLAIN"));
	assert_true(smtp_caps_has_auth(&c, "scram-sha-256-plus"));
	assert_int_equal(c.auth,
			 SMTP_AUTH_PLAIN | SMTP_AUTH_SCRAM_SHA_256_PLUS);
}

static void
test_ehlo_malformed_lines_ignored(void **state)
{
	static const char *const lines[] = {
	    "250-mx.example.org",
	    "250-",
	    "250-   ",
	    "250-=AUTH PLAIN",
	    "250-\tPIPELINING",
	    "250-8BITMIME\xc3\xa4",
	    "250-\xc3\xa4 STARTTLS",
	    "250-DSN",
	    "250 SMTPUTF8",
	    NULL,
	};
	smtp_caps c;

	(void)state;
	parse(&c, lines);
	assert_false(c.auth_present);
	assert_true(c.pipelining);
	assert_false(c.eightbitmime);
	assert_false(c.starttls);
	assert_true(c.dsn);
	assert_true(c.smtputf8);
}

static void
test_ehlo_refuses_bad_input(void **state)
{
	static const char *const fail[] = {"550 5.7.1 go away", NULL};
	static const char *const ok[] = {"250-mx", "250 STARTTLS", NULL};
	smtp_caps c, before;

	(void)state;
	memset(&before, 0x5a, sizeof(before));
	c = before;
	make_reply(fail);
	assert_int_equal(smtp_caps_parse(&c, &reply), SMTPSEND_E_INVAL);
	assert_memory_equal(&c, &before, sizeof(c));

	smtp_reply_reset(&reply);
	assert_int_equal(smtp_reply_feed(&reply, "250-mx", 6), REPLY_MORE);
	assert_int_equal(smtp_caps_parse(&c, &reply), SMTPSEND_E_INVAL);
	assert_int_equal(smtp_reply_feed(&reply, "251 x", 5), SMTPSEND_E_PROTO);
	assert_int_equal(smtp_caps_parse(&c, &reply), SMTPSEND_E_INVAL);
	assert_memory_equal(&c, &before, sizeof(c));

	make_reply(ok);
	assert_int_equal(smtp_caps_parse(NULL, &reply), SMTPSEND_E_INVAL);
	assert_int_equal(smtp_caps_parse(&c, NULL), SMTPSEND_E_INVAL);
	assert_int_equal(smtp_caps_parse(&c, &reply), 0);
	assert_true(c.starttls);
	smtp_caps_clear(&c);
	assert_false(c.starttls);
	smtp_caps_clear(NULL);
}

static void
test_auth_mech_names(void **state)
{
	static const unsigned bits[] = {
	    SMTP_AUTH_PLAIN,         SMTP_AUTH_LOGIN,
	    SMTP_AUTH_XOAUTH2,       SMTP_AUTH_OAUTHBEARER,
	    SMTP_AUTH_SCRAM_SHA_256, SMTP_AUTH_SCRAM_SHA_256_PLUS,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bits); i++) {
		const char *name = smtp_auth_mech_name(bits[i]);

		assert_non_null(name);
		assert_int_equal(smtp_auth_mech_bit(name, strlen(name)),
				 bits[i]);
	}
	assert_string_equal(smtp_auth_mech_name(SMTP_AUTH_SCRAM_SHA_256),
			    "SCRAM-SHA-256");
	assert_null(smtp_auth_mech_name(0));
	assert_null(smtp_auth_mech_name(SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN));
	assert_int_equal(smtp_auth_mech_bit("login", 5), SMTP_AUTH_LOGIN);
	assert_int_equal(smtp_auth_mech_bit("PLAINX", 6), 0);
	assert_int_equal(smtp_auth_mech_bit("PLAINX", 5), SMTP_AUTH_PLAIN);
	assert_int_equal(smtp_auth_mech_bit("PLAI", 4), 0);
	assert_int_equal(smtp_auth_mech_bit(NULL, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ehlo_typical),
	    cmocka_unit_test(test_ehlo_greeting_is_not_a_capability),
	    cmocka_unit_test(test_ehlo_keywords_are_tokens),
	    cmocka_unit_test(test_ehlo_size),
	    cmocka_unit_test(test_ehlo_auth),
	    cmocka_unit_test(test_ehlo_auth_names_overflow),
	    cmocka_unit_test(test_ehlo_malformed_lines_ignored),
	    cmocka_unit_test(test_ehlo_refuses_bad_input),
	    cmocka_unit_test(test_auth_mech_names),
	};

	return cmocka_run_group_tests_name("libsend-ehlo", tests, NULL, NULL);
}
