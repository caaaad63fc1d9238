/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SASL client lines, mechanism choice and secret hygiene. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/evp.h>

#include "sasl.h"

#define CANARY "CANARY-s3cr3t-sasl"

static bool
offers_plain_login(const char *name, void *ud)
{
	(void)ud;
	return strcmp(name, "PLAIN") == 0 || strcmp(name, "LOGIN") == 0;
}

static bool
offers_login(const char *name, void *ud)
{
	(void)ud;
	return strcmp(name, "LOGIN") == 0;
}

static void
test_sasl_choose_follows_allow_list(void **state)
{
	enum sasl_mech m;

	(void)state;
	assert_int_equal(sasl_choose("PLAIN,LOGIN", offers_plain_login, NULL,
				     false, &m),
			 0);
	assert_int_equal(m, SASL_PLAIN);
	assert_int_equal(sasl_choose("LOGIN,PLAIN", offers_plain_login, NULL,
				     false, &m),
			 0);
	assert_int_equal(m, SASL_LOGIN);
	/* SCRAM first in the list but not implemented here: the next one. */
	assert_int_equal(sasl_choose("SCRAM-SHA-256,PLAIN", offers_plain_login,
				     NULL, false, &m),
			 0);
	assert_int_equal(m, SASL_PLAIN);
	/* Never outside the list, even when the server offers more. */
	assert_int_equal(sasl_choose("PLAIN", offers_login, NULL, false, &m),
			 SMTPSEND_E_UNSUPPORTED);
	assert_int_equal(sasl_choose("BOGUS", offers_login, NULL, false, &m),
			 SMTPSEND_E_INVAL);
	assert_int_equal(sasl_choose("", offers_login, NULL, false, &m),
			 SMTPSEND_E_INVAL);
	assert_int_equal(sasl_choose("PLAIN,,LOGIN", offers_login, NULL,
				     false, &m),
			 SMTPSEND_E_INVAL);
}

static void
b64(const char *raw, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw,
			(int)n);
}

static void
test_sasl_plain_line(void **state)
{
	struct sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	char want[128] = "AUTH PLAIN ";
	static const char raw[] = "\0user@example.org\0" CANARY;
	size_t show = 0;

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "user@example.org", CANARY,
				    strlen(CANARY), NULL, NULL, 0, NULL, &line,
				    &show),
			 0);
	b64(raw, sizeof(raw) - 1, want + 11);
	assert_string_equal(line.data, want);
	assert_int_equal(show, 11);
	assert_int_equal(sasl_finish(&c), 0);
	sasl_clear(&c);
}

static void
test_sasl_login_answers_two_prompts(void **state)
{
	struct sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	char want[128];
	size_t show = 9;

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", CANARY, strlen(CANARY),
				    NULL, NULL, 0, NULL, &line, &show),
			 0);
	assert_string_equal(line.data, "AUTH LOGIN");
	assert_int_equal(show, 10);
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_AUTH);
	secbuf_clear(&line);
	assert_int_equal(sasl_step(&c, "VXNlcm5hbWU6", 12, &line, &show), 0);
	assert_string_equal(line.data, "dQ==");
	assert_int_equal(show, 0);
	secbuf_clear(&line);
	assert_int_equal(sasl_step(&c, "UGFzc3dvcmQ6", 12, &line, &show), 0);
	b64(CANARY, strlen(CANARY), want);
	assert_string_equal(line.data, want);
	assert_int_equal(sasl_finish(&c), 0);
	secbuf_clear(&line);
	/* A third prompt is a protocol error. */
	assert_int_equal(sasl_step(&c, "", 0, &line, &show), SMTPSEND_E_PROTO);
	sasl_clear(&c);
}

static void
test_sasl_xoauth2_and_oauthbearer_lines(void **state)
{
	struct sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	static const char x[] = "user=u@e.org\001auth=Bearer tok\001\001";
	static const char o[] =
	    "n,a=u@e.org,\001host=mx.e.org\001port=587\001auth=Bearer tok\001\001";
	char want[256];
	size_t show;

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "u@e.org", "tok", 3, NULL,
				    NULL, 0, NULL, &line, &show),
			 0);
	memcpy(want, "AUTH XOAUTH2 ", 13);
	b64(x, sizeof(x) - 1, want + 13);
	assert_string_equal(line.data, want);
	sasl_clear(&c);
	secbuf_clear(&line);
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_OAUTHBEARER, "u@e.org", "tok", 3,
				    NULL, "mx.e.org", 587, NULL, &line, &show),
			 0);
	memcpy(want, "AUTH OAUTHBEARER ", 17);
	b64(o, sizeof(o) - 1, want + 17);
	assert_string_equal(line.data, want);
	/* The error challenge is answered with ^A. */
	secbuf_clear(&line);
	assert_int_equal(sasl_step(&c, "eyJzdGF0dXMiOiI0MDEifQ==", 24, &line,
				   &show),
			 0);
	assert_string_equal(line.data, "AQ==");
	sasl_clear(&c);
}

static void
test_sasl_refuses_bad_input(void **state)
{
	struct sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show;

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "u\r\nMAIL", "p", 1, NULL,
				    NULL, 0, NULL, &line, &show),
			 SMTPSEND_E_INVAL);
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "u", "a\0b", 3, NULL, NULL,
				    0, NULL, &line, &show),
			 SMTPSEND_E_INVAL);
	/* PLAIN expects no challenge; LOGIN refuses non-base64 text. */
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "u", "p", 1, NULL, NULL, 0,
				    NULL, &line, &show),
			 0);
	assert_int_equal(sasl_step(&c, "", 0, &line, &show), SMTPSEND_E_PROTO);
	sasl_clear(&c);
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", "p", 1, NULL, NULL, 0,
				    NULL, &line, &show),
			 0);
	assert_int_equal(sasl_step(&c, "bad text!", 9, &line, &show),
			 SMTPSEND_E_PROTO);
	sasl_clear(&c);
}

static void
test_sasl_clear_leaves_no_secret(void **state)
{
	struct sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	char enc[64];
	size_t show;

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", CANARY, strlen(CANARY),
				    NULL, NULL, 0, NULL, &line, &show),
			 0);
	/* The traced prefix never includes the secret. */
	assert_null(memmem(line.data, show, CANARY, strlen(CANARY)));
	sasl_clear(&c);
	b64(CANARY, strlen(CANARY), enc);
	assert_null(memmem(&c, sizeof(c), CANARY, strlen(CANARY)));
	assert_null(memmem(&c, sizeof(c), enc, strlen(enc)));
	assert_null(c.secret.data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sasl_choose_follows_allow_list),
	    cmocka_unit_test(test_sasl_plain_line),
	    cmocka_unit_test(test_sasl_login_answers_two_prompts),
	    cmocka_unit_test(test_sasl_xoauth2_and_oauthbearer_lines),
	    cmocka_unit_test(test_sasl_refuses_bad_input),
	    cmocka_unit_test(test_sasl_clear_leaves_no_secret),
	};

	return cmocka_run_group_tests_name("libsend-sasl-basic", tests, NULL,
					   NULL);
}
