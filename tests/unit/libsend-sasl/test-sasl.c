/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for libsend/sasl.c: mechanism choice, byte-exact lines of
 * every mechanism, the RFC 7677 SCRAM-SHA-256 example, refusals, limits
 * and the canary rule (STYLE.md 10.2): the secret never shows in a
 * trace prefix, a reason string or the client struct after sasl_clear().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "alloc.h"
#include "sasl.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define CANARY     "CANARY-s3cr3t-sasl"
#define CANARY_B64 "Q0FOQVJZLXMzY3IzdC1zYXNs"

/* RFC 7677 section 3. */
#define RFC_USER         "user"
#define RFC_PASSWORD     "pencil"
#define RFC_CNONCE       "rOprNGfwEbeRWgbNEkqO"
#define RFC_NONCE        RFC_CNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SALT         "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_SERVER_FIRST "r=" RFC_NONCE ",s=" RFC_SALT ",i=4096"
#define RFC_PROOF        "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_NONCE ",p=" RFC_PROOF
#define RFC_VERIFIER     "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* ---- helpers ------------------------------------------------------------ */

/* base64 of n bytes into a static buffer (tests only: not re-entrant). */
static const char *
b64(const void *p, size_t n)
{
	static char out[4 * 4096];

	assert_true(n < 3 * 4096 - 3);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

static const char *
b64s(const char *s)
{
	return b64(s, strlen(s));
}

/* Decode a base64 line into out (NUL-terminated); returns the length. */
static size_t
unb64(const secbuf *line, char *out, size_t outsz)
{
	int n;
	size_t pad = 0;

	assert_true(line->len % 4 == 0);
	assert_true(line->len / 4 * 3 < outsz);
	n = EVP_DecodeBlock((unsigned char *)out,
			    (const unsigned char *)line->data, (int)line->len);
	assert_true(n >= 0);
	if (line->len > 0 && line->data[line->len - 1] == '=')
		pad++;
	if (line->len > 1 && line->data[line->len - 2] == '=')
		pad++;
	out[(size_t)n - pad] = '\0';
	return (size_t)n - pad;
}

static void
assert_line(const secbuf *line, const char *expect)
{
	assert_non_null(line->data);
	assert_int_equal(line->len, strlen(expect));
	assert_memory_equal(line->data, expect, line->len);
}

/* Canary rule for one line: the part a trace may show holds nothing of
 * the secret, its base64 (any alignment) or any 4-byte piece of either. */
static void
assert_prefix_clean(const secbuf *line, size_t show)
{
	static const char *const whole[] = {CANARY, CANARY_B64};
	const char *shown = line->data;
	char enc[3][64];

	assert_true(show <= line->len);
	/* base64 of the canary behind 0, 1 or 2 other bytes, edges cut. */
	for (size_t a = 0; a < 3; a++) {
		char raw[32] = "xx";
		const char *e;

		memcpy(raw + a, CANARY, sizeof(CANARY));
		e = b64(raw, a + sizeof(CANARY) - 1);
		snprintf(enc[a], sizeof(enc[a]), "%.*s", (int)strlen(e) - 8,
			 e + 4);
	}
	for (size_t i = 0; i < ARRAY_SIZE(whole); i++) {
		for (size_t o = 0; o + 4 <= strlen(whole[i]); o++)
			assert_null(memmem(shown, show, whole[i] + o, 4));
	}
	for (size_t a = 0; a < 3; a++) {
		for (size_t o = 0; o + 4 <= strlen(enc[a]); o++)
			assert_null(memmem(shown, show, enc[a] + o, 4));
	}
}

/* After sasl_clear() the struct is all zero and so, in particular, holds
 * neither the canary nor its base64 nor a given derived value. */
static void
assert_client_clean(const sasl_client *c, const void *derived, size_t dlen)
{
	const unsigned char *p = (const unsigned char *)c;

	assert_null(memmem(c, sizeof(*c), CANARY, strlen(CANARY)));
	assert_null(memmem(c, sizeof(*c), CANARY_B64, strlen(CANARY_B64)));
	if (derived != NULL)
		assert_null(memmem(c, sizeof(*c), derived, dlen));
	for (size_t i = 0; i < sizeof(*c); i++)
		assert_int_equal(p[i], 0);
	assert_null(c->secret.data);
	assert_null(c->user.data);
	assert_null(c->ir.data);
	assert_null(c->bare.data);
	assert_null(c->cbind.data);
	assert_int_equal(c->state, SASL_ST_NEW);
}

static int
step_str(sasl_client *c, const char *challenge, secbuf *line, size_t *show)
{
	return sasl_step(c, challenge, strlen(challenge), line, show);
}

static int
step_raw(sasl_client *c, const char *decoded, secbuf *line, size_t *show)
{
	return step_str(c, b64s(decoded), line, show);
}

/* ---- names and choice --------------------------------------------------- */

static void
test_sasl_mech_names(void **state)
{
	enum sasl_mech m = SASL_LOGIN;

	(void)state;
	assert_string_equal(sasl_mech_name(SASL_PLAIN), "PLAIN");
	assert_string_equal(sasl_mech_name(SASL_SCRAM_SHA_256_PLUS),
			    "SCRAM-SHA-256-PLUS");
	assert_null(sasl_mech_name(_SASL_MECH_MAX));
	assert_true(sasl_mech_lookup("scram-sha-256", 13, &m));
	assert_int_equal(m, SASL_SCRAM_SHA_256);
	assert_true(sasl_mech_lookup("XOAUTH2", 7, &m));
	assert_int_equal(m, SASL_XOAUTH2);
	/* whole names only */
	assert_false(sasl_mech_lookup("SCRAM-SHA-256", 12, &m));
	assert_false(sasl_mech_lookup("PLAINX", 6, &m));
	assert_false(sasl_mech_lookup("CRAM-MD5", 8, &m));
	assert_false(sasl_mech_lookup("", 0, &m));
	assert_int_equal(m, SASL_XOAUTH2);
}

struct server {
	const char *offers; /* ' '-separated */
	const char *asked[16];
	size_t n_asked;
};

static bool
fake_offers(const char *name, void *ud)
{
	struct server *s = ud;
	size_t n = strlen(name);
	const char *p = s->offers;

	if (s->n_asked < ARRAY_SIZE(s->asked))
		s->asked[s->n_asked++] = name;
	while (*p != '\0') {
		size_t len = strcspn(p, " ");

		if (len == n && memcmp(p, name, n) == 0)
			return true;
		p += len;
		p += *p == ' ';
	}
	return false;
}

static void
test_sasl_choose_table(void **state)
{
	/* clang-format off */
	static const struct {
		const char *allow, *server;
		bool cb;
		int rc;
		enum sasl_mech mech;
		bool gs2_y;
	} t[] = {
		{ "SCRAM-SHA-256,PLAIN", "PLAIN LOGIN SCRAM-SHA-256", false, 0, SASL_SCRAM_SHA_256, false },
		{ "PLAIN,SCRAM-SHA-256", "PLAIN LOGIN SCRAM-SHA-256", false, 0, SASL_PLAIN, false },
		{ "SCRAM-SHA-256,PLAIN", "PLAIN LOGIN", false, 0, SASL_PLAIN, false },
		{ "PLAIN", "LOGIN XOAUTH2 SCRAM-SHA-256", false, SMTPSEND_E_UNSUPPORTED, 0, false },
		{ "LOGIN", "PLAIN", true, SMTPSEND_E_UNSUPPORTED, 0, false },
		{ "XOAUTH2,OAUTHBEARER", "OAUTHBEARER XOAUTH2", false, 0, SASL_XOAUTH2, false },
		{ "OAUTHBEARER,XOAUTH2", "OAUTHBEARER XOAUTH2", false, 0, SASL_OAUTHBEARER, false },
		/* -PLUS only with channel binding data */
		{ "SCRAM-SHA-256-PLUS,SCRAM-SHA-256", "SCRAM-SHA-256 SCRAM-SHA-256-PLUS", false, 0, SASL_SCRAM_SHA_256, false },
		{ "SCRAM-SHA-256-PLUS,SCRAM-SHA-256", "SCRAM-SHA-256 SCRAM-SHA-256-PLUS", true, 0, SASL_SCRAM_SHA_256_PLUS, false },
		{ "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN", false, SMTPSEND_E_UNSUPPORTED, 0, false },
		/* binding possible, server lacks -PLUS: gs2 "y" */
		{ "SCRAM-SHA-256-PLUS,SCRAM-SHA-256", "SCRAM-SHA-256", true, 0, SASL_SCRAM_SHA_256, true },
		/* account does not allow -PLUS: we do not "support" it */
		{ "SCRAM-SHA-256", "SCRAM-SHA-256", true, 0, SASL_SCRAM_SHA_256, false },
		/* list order puts plain SCRAM first while the server has both */
		{ "SCRAM-SHA-256,SCRAM-SHA-256-PLUS", "SCRAM-SHA-256-PLUS SCRAM-SHA-256", true, 0, SASL_SCRAM_SHA_256, false },
		/* any case, blanks around names */
		{ " scram-sha-256 ,\tPlain ", "PLAIN", false, 0, SASL_PLAIN, false },
		{ "PLAIN,PLAIN,LOGIN", "LOGIN", false, 0, SASL_LOGIN, false },
		/* bad lists: unknown names even when a known one matches */
		{ "PLAIN,CRAM-MD5", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ "SCRAM-SHA-1", "SCRAM-SHA-1", false, SMTPSEND_E_INVAL, 0, false },
		{ "", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ " ", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ ",", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ "PLAIN,", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ ",PLAIN", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ "PLAIN,,LOGIN", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ "PLA IN", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ "PLAIN LOGIN", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ "PLAIN;LOGIN", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
		{ "P,P,P,P,P,P,P,P,P,P,P,P,P,P,P,P,P", "PLAIN", false, SMTPSEND_E_INVAL, 0, false },
	};
	/* clang-format on */

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct server s = {.offers = t[i].server};
		enum sasl_mech m = (enum sasl_mech)99;
		int rc;

		rc = sasl_choose(t[i].allow, fake_offers, &s, t[i].cb, &m);
		if (rc != t[i].rc)
			fail_msg("case %zu (%s): %d, expected %d", i,
				 t[i].allow, rc, t[i].rc);
		if (rc == 0) {
			assert_int_equal(m, t[i].mech);
		} else {
			assert_int_equal(m, 99); /* untouched */
		}
		/* offers() is only ever asked about allowed names */
		for (size_t k = 0; k < s.n_asked; k++) {
			enum sasl_mech a;
			bool listed = false;
			const char *p = t[i].allow;

			assert_true(sasl_mech_lookup(s.asked[k],
						     strlen(s.asked[k]), &a));
			while (*p != '\0') {
				size_t len = strcspn(p, ",");
				enum sasl_mech b;
				const char *q = p;
				size_t ql = len;

				while (ql > 0 && (*q == ' ' || *q == '\t')) {
					q++;
					ql--;
				}
				while (ql > 0 &&
				       (q[ql - 1] == ' ' || q[ql - 1] == '\t'))
					ql--;
				if (sasl_mech_lookup(q, ql, &b) && a == b)
					listed = true;
				p += len;
				p += *p == ',';
			}
			assert_true(listed);
			/* never -PLUS without binding data */
			if (!t[i].cb)
				assert_int_not_equal(a,
						     SASL_SCRAM_SHA_256_PLUS);
		}
		if (rc == 0) {
			struct server s2 = {.offers = t[i].server};

			assert_int_equal(sasl_want_gs2_y(m, t[i].allow,
							 fake_offers, &s2,
							 t[i].cb),
					 t[i].gs2_y);
		}
	}
	/* argument checks */
	{
		struct server s = {.offers = "PLAIN"};
		enum sasl_mech m = SASL_LOGIN;

		assert_int_equal(sasl_choose(NULL, fake_offers, &s, false, &m),
				 SMTPSEND_E_INVAL);
		assert_int_equal(sasl_choose("PLAIN", NULL, &s, false, &m),
				 SMTPSEND_E_INVAL);
		assert_int_equal(
		    sasl_choose("PLAIN", fake_offers, &s, false, NULL),
		    SMTPSEND_E_INVAL);
		assert_int_equal(m, SASL_LOGIN);
		assert_int_equal(sasl_allow_list_check("PLAIN, LOGIN"), 0);
		assert_int_equal(sasl_allow_list_check("PLAIN,X"),
				 SMTPSEND_E_INVAL);
		assert_int_equal(sasl_allow_list_check(NULL), SMTPSEND_E_INVAL);
	}
}

/* ---- PLAIN --------------------------------------------------------------- */

static void
test_sasl_plain_exact(void **state)
{
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 99;

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "user@example.org", CANARY,
				    strlen(CANARY), NULL, "smtp.example.org",
				    587, NULL, &line, &show),
			 0);
	assert_line(&line, "AUTH PLAIN "
			   "AHVzZXJAZXhhbXBsZS5vcmcAQ0FOQVJZLXMzY3IzdC1zYXNs");
	assert_int_equal(show, strlen("AUTH PLAIN "));
	assert_prefix_clean(&line, show);
	assert_int_equal(sasl_finish(&c), 0);
	sasl_clear(&c);
	assert_client_clean(&c, NULL, 0);

	/* with an authorization identity */
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "user@example.org", CANARY,
				    strlen(CANARY), "admin", NULL, 0, NULL,
				    &line, &show),
			 0);
	assert_line(&line, "AUTH PLAIN YWRtaW4AdXNlckBleGFtcGxlLm9yZwBDQU5BUlkt"
			   "czNjcjN0LXNhc2w=");
	assert_int_equal(show, 11);
	/* PLAIN expects no challenge after its initial response */
	assert_int_equal(step_str(&c, "", &line, &show), SMTPSEND_E_PROTO);
	assert_string_equal(sasl_reason(&c),
			    "unexpected 334 after the initial response");
	assert_null(strstr(sasl_reason(&c), CANARY));
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_INVAL);
	sasl_clear(&c);
	assert_client_clean(&c, NULL, 0);
}

/* ---- LOGIN --------------------------------------------------------------- */

static void
test_sasl_login_exact(void **state)
{
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 99;

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "user@example.org", CANARY,
				    strlen(CANARY), NULL, NULL, 0, NULL, &line,
				    &show),
			 0);
	assert_line(&line, "AUTH LOGIN");
	assert_int_equal(show, line.len); /* nothing secret in it */
	/* "Username:" */
	assert_int_equal(step_str(&c, "VXNlcm5hbWU6", &line, &show), 0);
	assert_line(&line, "dXNlckBleGFtcGxlLm9yZw==");
	assert_int_equal(show, 0);
	/* "Password:" */
	assert_int_equal(step_str(&c, "UGFzc3dvcmQ6", &line, &show), 0);
	assert_line(&line, CANARY_B64);
	assert_int_equal(show, 0);
	assert_null(c.secret.data); /* dropped as soon as it was used */
	/* a third prompt is not LOGIN */
	assert_int_equal(step_str(&c, "UGFzc3dvcmQ6", &line, &show),
			 SMTPSEND_E_PROTO);
	sasl_clear(&c);
	assert_client_clean(&c, NULL, 0);

	/* The prompts' text is not relied on: order decides. */
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", CANARY, strlen(CANARY),
				    NULL, NULL, 0, NULL, &line, &show),
			 0);
	assert_int_equal(step_raw(&c, "Password:", &line, &show), 0);
	assert_line(&line, "dQ==");
	assert_int_equal(step_str(&c, "", &line, &show), 0);
	assert_line(&line, CANARY_B64);
	assert_int_equal(sasl_finish(&c), 0);
	sasl_clear(&c);

	/* 235 after the user name only: incomplete, not success */
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", CANARY, strlen(CANARY),
				    NULL, NULL, 0, NULL, &line, &show),
			 0);
	assert_int_equal(step_str(&c, "VXNlcm5hbWU6", &line, &show), 0);
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_AUTH);
	assert_string_equal(sasl_reason(&c),
			    "235 before the exchange was complete");
	sasl_clear(&c);
	assert_client_clean(&c, NULL, 0);
}

/* ---- XOAUTH2 and OAUTHBEARER -------------------------------------------- */

static void
test_sasl_xoauth2_exact(void **state)
{
	static const char token[] =
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg";
	/* {"status":"401","schemes":"bearer
	 * mac","scope":"https://mail.google.com/"} */
	static const char error[] =
	    "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoi"
	    "aHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K";
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 99;

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "someuser@example.com",
				    token, strlen(token), NULL, NULL, 0, NULL,
				    &line, &show),
			 0);
	assert_line(
	    &line,
	    "AUTH XOAUTH2 "
	    "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5Ln"
	    "ZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
	assert_int_equal(show, strlen("AUTH XOAUTH2 "));
	/* the error challenge gets an empty line, then the server's 5xx */
	assert_int_equal(step_str(&c, error, &line, &show), 0);
	assert_non_null(line.data);
	assert_int_equal(line.len, 0);
	assert_int_equal(show, 0);
	assert_int_equal(step_str(&c, error, &line, &show), SMTPSEND_E_PROTO);
	sasl_clear(&c);

	/* 235 right away */
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "u", CANARY,
				    strlen(CANARY), NULL, NULL, 0, NULL, &line,
				    &show),
			 0);
	assert_prefix_clean(&line, show);
	assert_int_equal(sasl_finish(&c), 0);
	sasl_clear(&c);

	/* 235 after an answered error is not success */
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "u", CANARY,
				    strlen(CANARY), NULL, NULL, 0, NULL, &line,
				    &show),
			 0);
	assert_int_equal(step_str(&c, error, &line, &show), 0);
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_AUTH);
	sasl_clear(&c);
	assert_client_clean(&c, NULL, 0);
}

static void
test_sasl_oauthbearer_exact(void **state)
{
	/* RFC 7628 section 4.1 */
	static const char token[] =
	    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 99;

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_OAUTHBEARER, "user@example.com",
				    token, strlen(token), NULL,
				    "server.example.com", 143, NULL, &line,
				    &show),
			 0);
	assert_line(&line,
		    "AUTH OAUTHBEARER "
		    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY2"
		    "9tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNr"
		    "QmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
	assert_int_equal(show, strlen("AUTH OAUTHBEARER "));
	/* error challenge: the client answers ^A (RFC 7628 3.2.3) */
	assert_int_equal(
	    step_raw(&c, "{\"status\":\"invalid_token\"}", &line, &show), 0);
	assert_line(&line, "AQ==");
	assert_int_equal(show, 0);
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_AUTH);
	sasl_clear(&c);

	/* host and port left out */
	assert_int_equal(sasl_start(&c, SASL_OAUTHBEARER, "user@example.com",
				    token, strlen(token), NULL, NULL, 0, NULL,
				    &line, &show),
			 0);
	assert_line(&line,
		    "AUTH OAUTHBEARER "
		    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWF1dGg9QmVhcmVyIHZGOWRmdDRxbV"
		    "RjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
	assert_int_equal(sasl_finish(&c), 0);
	sasl_clear(&c);

	/* a= is a saslname; authzid wins over the user */
	assert_int_equal(sasl_start(&c, SASL_OAUTHBEARER, "u", "t", 1, "a,b=c",
				    NULL, 65535, NULL, &line, &show),
			 0);
	{
		char dec[256];

		line.len -= strlen("AUTH OAUTHBEARER ");
		memmove(line.data, line.data + strlen("AUTH OAUTHBEARER "),
			line.len + 1);
		unb64(&line, dec, sizeof(dec));
		assert_string_equal(dec, "n,a=a=2Cb=3Dc,\001port=65535\001"
					 "auth=Bearer t\001\001");
	}
	sasl_clear(&c);
	assert_client_clean(&c, NULL, 0);
}

/* ---- SCRAM -----------------------------------------------------------------
 */

/* The RFC 7677 numbers through the pure function (no nonce hook). */
static void
test_sasl_scram_compute_rfc7677(void **state)
{
	static const char auth[] = "n=" RFC_USER ",r=" RFC_CNONCE
				   "," RFC_SERVER_FIRST ",c=biws,r=" RFC_NONCE;
	static const unsigned char salt[] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12,
					     0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14,
					     0x12, 0x36, 0xfa, 0x81};
	unsigned char proof[SCRAM_HASH_LEN], sig[SCRAM_HASH_LEN];

	(void)state;
	assert_string_equal(b64(salt, sizeof(salt)), RFC_SALT);
	assert_int_equal(sasl_scram_compute(proof, sig, RFC_PASSWORD, 6, salt,
					    sizeof(salt), 4096, auth,
					    strlen(auth)),
			 0);
	assert_string_equal(b64(proof, sizeof(proof)), RFC_PROOF);
	assert_string_equal(b64(sig, sizeof(sig)), RFC_VERIFIER);
	assert_int_equal(sasl_scram_compute(proof, sig, RFC_PASSWORD, 6, salt,
					    0, 4096, auth, strlen(auth)),
			 SMTPSEND_E_INVAL);
}

#ifdef SMTPCRED_TEST_HOOKS
/* Start a SCRAM client with the RFC nonce. */
static void
scram_start(sasl_client *c, enum sasl_mech mech, const char *password,
	    const unsigned char *cb, secbuf *line, size_t *show)
{
	sasl_init(c);
	assert_int_equal(sasl_test_set_nonce(c, RFC_CNONCE), 0);
	assert_int_equal(sasl_start(c, mech, RFC_USER, password,
				    strlen(password), NULL, NULL, 0, cb, line,
				    show),
			 0);
}

static void
test_sasl_scram_rfc7677(void **state)
{
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 99;
	unsigned char sig[SCRAM_HASH_LEN + 1]; /* base64 padding decoded */

	(void)state;
	scram_start(&c, SASL_SCRAM_SHA_256, RFC_PASSWORD, NULL, &line, &show);
	/* "n,,n=user,r=rOprNGfwEbeRWgbNEkqO" */
	assert_line(&line, "AUTH SCRAM-SHA-256 "
			   "biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=");
	assert_int_equal(show, strlen("AUTH SCRAM-SHA-256 "));
	assert_int_equal(step_raw(&c, RFC_SERVER_FIRST, &line, &show), 0);
	assert_line(&line, b64s(RFC_CLIENT_FINAL));
	assert_line(&line, "Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVW"
			   "EyUmFUQ0FmdXhGSWxqKWhObEYkazAscD1kSHpiWmFwV0lrNGpV"
			   "aE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQ==");
	assert_int_equal(show, 0);
	assert_null(
	    c.secret.data); /* the password is gone after server-first */
	/* 235 now would be premature: the server has proven nothing */
	assert_int_equal(c.state, SASL_ST_SCRAM_FINAL);
	assert_int_equal(step_raw(&c, "v=" RFC_VERIFIER, &line, &show), 0);
	assert_non_null(line.data);
	assert_int_equal(line.len, 0);
	assert_int_equal(sasl_finish(&c), 0);
	/* the derived verifier must not survive sasl_clear() */
	EVP_DecodeBlock(sig, (const unsigned char *)RFC_VERIFIER, 44);
	sasl_clear(&c);
	assert_client_clean(&c, sig, SCRAM_HASH_LEN);

	/* extensions after i= and after v= are ignored (RFC 5802 5.1); one
	 * in server-first is part of the AuthMessage, so only the shape is
	 * checked there */
	scram_start(&c, SASL_SCRAM_SHA_256, RFC_PASSWORD, NULL, &line, &show);
	assert_int_equal(step_raw(&c, RFC_SERVER_FIRST, &line, &show), 0);
	assert_int_equal(step_raw(&c, "v=" RFC_VERIFIER ",x=ext", &line, &show),
			 0);
	assert_int_equal(sasl_finish(&c), 0);
	sasl_clear(&c);
	scram_start(&c, SASL_SCRAM_SHA_256, RFC_PASSWORD, NULL, &line, &show);
	assert_int_equal(step_raw(&c, RFC_SERVER_FIRST ",x=ext", &line, &show),
			 0);
	assert_int_equal(c.state, SASL_ST_SCRAM_FINAL);
	sasl_clear(&c);
}

static void
test_sasl_scram_refuses_server(void **state)
{
	/* clang-format off */
	static const struct {
		const char *first, *final; /* final NULL: first must fail */
		int rc;
		const char *why;
	} t[] = {
		/* the server does not prove it knows the password */
		{ RFC_SERVER_FIRST, "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", SMTPSEND_E_AUTH, "the server failed to prove it knows the password" },
		{ RFC_SERVER_FIRST, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=", SMTPSEND_E_AUTH, NULL },
		{ RFC_SERVER_FIRST, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", SMTPSEND_E_AUTH, NULL },
		{ RFC_SERVER_FIRST, "v=", SMTPSEND_E_AUTH, NULL },
		{ RFC_SERVER_FIRST, "v=AAAA", SMTPSEND_E_AUTH, NULL },
		{ RFC_SERVER_FIRST, "", SMTPSEND_E_AUTH, "the SCRAM server-final message has no verifier" },
		{ RFC_SERVER_FIRST, "x=1,v=" RFC_VERIFIER, SMTPSEND_E_AUTH, NULL },
		{ RFC_SERVER_FIRST, "e=invalid-proof", SMTPSEND_E_AUTH, "the server reported a SCRAM error" },
		/* the nonce must extend ours */
		{ "r=XOprNGfwEbeRWgbNEkqO%hvYD,s=" RFC_SALT ",i=4096", NULL, SMTPSEND_E_PROTO, "the SCRAM server nonce does not extend ours" },
		{ "r=" RFC_CNONCE ",s=" RFC_SALT ",i=4096", NULL, SMTPSEND_E_PROTO, NULL },
		{ "r=rOprNGfwEbeRWgbNEkq,s=" RFC_SALT ",i=4096", NULL, SMTPSEND_E_PROTO, NULL },
		{ "r=" RFC_CNONCE "\xc3\xa9,s=" RFC_SALT ",i=4096", NULL, SMTPSEND_E_PROTO, NULL },
		/* iteration counts */
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i=4095", NULL, SMTPSEND_E_INSECURE, "SCRAM iteration count below 4096" },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i=1", NULL, SMTPSEND_E_INSECURE, NULL },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i=0", NULL, SMTPSEND_E_INSECURE, NULL },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i=1000001", NULL, SMTPSEND_E_LIMIT, "SCRAM iteration count above 1000000" },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i=99999999999999999999", NULL, SMTPSEND_E_LIMIT, NULL },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i=", NULL, SMTPSEND_E_PROTO, NULL },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i=-4096", NULL, SMTPSEND_E_PROTO, NULL },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i=4096x", NULL, SMTPSEND_E_PROTO, NULL },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i= 4096", NULL, SMTPSEND_E_PROTO, NULL },
		/* salts */
		{ "r=" RFC_NONCE ",s=,i=4096", NULL, SMTPSEND_E_PROTO, "bad SCRAM salt" },
		{ "r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6g,i=4096", NULL, SMTPSEND_E_PROTO, NULL },
		{ "r=" RFC_NONCE ",s=W22Z aJ0SNY7soEsUEjb6gQ==,i=4096", NULL, SMTPSEND_E_PROTO, NULL },
		/* shape */
		{ "", NULL, SMTPSEND_E_PROTO, "malformed SCRAM server-first message" },
		{ "s=" RFC_SALT ",r=" RFC_NONCE ",i=4096", NULL, SMTPSEND_E_PROTO, NULL },
		{ "r=" RFC_NONCE ",s=" RFC_SALT, NULL, SMTPSEND_E_PROTO, NULL },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",", NULL, SMTPSEND_E_PROTO, NULL },
		{ "m=ext,r=" RFC_NONCE ",s=" RFC_SALT ",i=4096", NULL, SMTPSEND_E_PROTO, "the server requires an unknown SCRAM extension" },
		{ "e=other-error", NULL, SMTPSEND_E_AUTH, "the server reported a SCRAM error" },
		{ "r=" RFC_NONCE ",s=" RFC_SALT ",i=4096\n", NULL, SMTPSEND_E_PROTO, "control characters in the SCRAM server-first message" },
	};
	/* clang-format on */

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		sasl_client c;
		_cleanup_secbuf_ secbuf line = SECBUF_INIT;
		size_t show = 0;
		int rc;

		scram_start(&c, SASL_SCRAM_SHA_256, CANARY, NULL, &line, &show);
		rc = step_raw(&c, t[i].first, &line, &show);
		if (t[i].final != NULL) {
			assert_int_equal(rc, 0);
			assert_int_equal(secbuf_append_str(&line, "keep"), 0);
			show = 77;
			rc = step_raw(&c, t[i].final, &line, &show);
			/* outputs untouched on failure */
			assert_int_equal(show, 77);
			assert_non_null(strstr(line.data, "keep"));
		}
		if (rc != t[i].rc)
			fail_msg("case %zu: %d, expected %d (%s)", i, rc,
				 t[i].rc, sasl_reason(&c));
		if (t[i].why != NULL)
			assert_string_equal(sasl_reason(&c), t[i].why);
		assert_int_equal(c.state, SASL_ST_FAILED);
		assert_null(c.secret.data);
		assert_null(strstr(sasl_reason(&c), CANARY));
		/* a 235 now is not success either */
		assert_int_not_equal(sasl_finish(&c), 0);
		sasl_clear(&c);
		assert_client_clean(&c, NULL, 0);
	}
}

/* 235 before the server-final: the server proved nothing. */
static void
test_sasl_scram_early_235(void **state)
{
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 0;

	(void)state;
	scram_start(&c, SASL_SCRAM_SHA_256, RFC_PASSWORD, NULL, &line, &show);
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_AUTH);
	/* a failed check changes nothing: still not success later */
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_AUTH);
	sasl_clear(&c);

	scram_start(&c, SASL_SCRAM_SHA_256, RFC_PASSWORD, NULL, &line, &show);
	assert_int_equal(step_raw(&c, RFC_SERVER_FIRST, &line, &show), 0);
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_AUTH);
	assert_string_equal(sasl_reason(&c), "235 before the server proved it "
					     "knows the password");
	sasl_clear(&c);
	assert_client_clean(&c, NULL, 0);
}

static void
test_sasl_scram_plus_channel_binding(void **state)
{
	unsigned char cb[SASL_CB_DATA_LEN];
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 0;
	char dec[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cb); i++)
		cb[i] = (unsigned char)i;
	scram_start(&c, SASL_SCRAM_SHA_256_PLUS, RFC_PASSWORD, cb, &line,
		    &show);
	/* "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO" */
	assert_line(&line, "AUTH SCRAM-SHA-256-PLUS "
			   "cD10bHMtZXhwb3J0ZXIsLG49dXNlcixyPXJPcHJOR2Z3RWJlU"
			   "ldnYk5Fa3FP");
	assert_int_equal(show, strlen("AUTH SCRAM-SHA-256-PLUS "));
	assert_int_equal(step_raw(&c, RFC_SERVER_FIRST, &line, &show), 0);
	unb64(&line, dec, sizeof(dec));
	/* c= is base64("p=tls-exporter,," + the 32 exporter bytes) */
	assert_string_equal(
	    dec, "c=cD10bHMtZXhwb3J0ZXIsLAABAgMEBQYHCAkKCwwNDg8QERITF"
		 "BUWFxgZGhscHR4f,r=" RFC_NONCE
		 ",p=QC6CS20quADQRb3mT99YUH+n3VJxUvzuK0K0E1Vrs2M=");
	assert_int_equal(
	    step_raw(&c, "v=2GiAgapEppLVlUXbxUDksL3VgYHzuqiK5tR4mhJGgvs=",
		     &line, &show),
	    0);
	assert_int_equal(sasl_finish(&c), 0);
	sasl_clear(&c);
	assert_client_clean(&c, cb, sizeof(cb));

	/* the non-PLUS verifier does not fit a bound exchange */
	scram_start(&c, SASL_SCRAM_SHA_256_PLUS, RFC_PASSWORD, cb, &line,
		    &show);
	assert_int_equal(step_raw(&c, RFC_SERVER_FIRST, &line, &show), 0);
	assert_int_equal(step_raw(&c, "v=" RFC_VERIFIER, &line, &show),
			 SMTPSEND_E_AUTH);
	sasl_clear(&c);

	/* -PLUS needs the binding data */
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_SCRAM_SHA_256_PLUS, RFC_USER,
				    RFC_PASSWORD, 6, NULL, NULL, 0, NULL, &line,
				    &show),
			 SMTPSEND_E_INVAL);

	/* gs2 "y": binding possible, -PLUS not offered; c=base64("y,,") */
	sasl_init(&c);
	sasl_set_gs2_y(&c, true);
	assert_int_equal(sasl_test_set_nonce(&c, RFC_CNONCE), 0);
	assert_int_equal(sasl_start(&c, SASL_SCRAM_SHA_256, RFC_USER,
				    RFC_PASSWORD, 6, NULL, NULL, 0, cb, &line,
				    &show),
			 0);
	assert_line(&line, "AUTH SCRAM-SHA-256 "
			   "eSwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=");
	assert_int_equal(step_raw(&c, RFC_SERVER_FIRST, &line, &show), 0);
	unb64(&line, dec, sizeof(dec));
	assert_int_equal(strncmp(dec, "c=eSws,r=" RFC_NONCE ",p=", 9), 0);
	sasl_clear(&c);
}

/* User name and authzid are saslnames: "," and "=" escaped. */
static void
test_sasl_scram_saslname(void **state)
{
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 0;
	char dec[256];

	(void)state;
	sasl_init(&c);
	assert_int_equal(sasl_test_set_nonce(&c, "abc"), 0);
	assert_int_equal(sasl_start(&c, SASL_SCRAM_SHA_256, "u=s,er",
				    "p\xc3\xa4ss", 5, "ad,m=in", NULL, 0, NULL,
				    &line, &show),
			 0);
	line.len -= show;
	memmove(line.data, line.data + show, line.len + 1);
	unb64(&line, dec, sizeof(dec));
	assert_string_equal(dec, "n,a=ad=2Cm=3Din,n=u=3Ds=2Cer,r=abc");
	sasl_clear(&c);

	/* the hook refuses nonces SCRAM cannot carry */
	assert_int_equal(sasl_test_set_nonce(&c, ""), SMTPSEND_E_INVAL);
	assert_int_equal(sasl_test_set_nonce(&c, "a,b"), SMTPSEND_E_INVAL);
	assert_int_equal(sasl_test_set_nonce(&c, "a b"), SMTPSEND_E_INVAL);
}
#endif /* SMTPCRED_TEST_HOOKS */

/* Without the hook: a fresh random nonce each time, printable, no ','. */
static void
test_sasl_scram_random_nonce(void **state)
{
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 0;
	char first[SCRAM_NONCE_MAX + 1];

	(void)state;
	for (int round = 0; round < 2; round++) {
		char dec[256];
		const char *r;

		sasl_init(&c);
		assert_int_equal(sasl_start(&c, SASL_SCRAM_SHA_256, "user",
					    CANARY, strlen(CANARY), NULL, NULL,
					    0, NULL, &line, &show),
				 0);
		assert_prefix_clean(&line, show);
		line.len -= show;
		memmove(line.data, line.data + show, line.len + 1);
		unb64(&line, dec, sizeof(dec));
		assert_int_equal(strncmp(dec, "n,,n=user,r=", 12), 0);
		r = dec + 12;
		assert_int_equal(strlen(r), SCRAM_NONCE_LEN);
		assert_null(strchr(r, ','));
		for (const char *p = r; *p != '\0'; p++)
			assert_true(*p > 0x20 && *p < 0x7f);
		if (round == 0)
			memcpy(first, r, strlen(r) + 1);
		else
			assert_string_not_equal(first, r);
		sasl_clear(&c);
		assert_client_clean(&c, NULL, 0);
	}
}

/* ---- strict base64 and limits ------------------------------------------ */

static void
test_sasl_rejects_bad_base64(void **state)
{
	static const char *const bad[] = {
	    "Zm9v!",    "Zm9",       "Zm9v\n", "Zm9v\r",  " Zm9v",
	    "Zm9v ",    "Zm=v",      "Z===",   "====",    "=",
	    "Zm9v====", "Zh==",      "Zm9=",   "Zm9vYg=", "Zm9vYg=A",
	    "Zm 9v",    "Zm9v\0AAA", "-_-_",   "Zm9v=",
	};
	static const char *const good[] = {
	    "", "Zg==", "Zm8=", "Zm9v", "VXNlcm5hbWU6", "+/+/"};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		sasl_client c;
		_cleanup_secbuf_ secbuf line = SECBUF_INIT;
		size_t show = 5, len;

		sasl_init(&c);
		assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", CANARY,
					    strlen(CANARY), NULL, NULL, 0, NULL,
					    &line, &show),
				 0);
		len = i == 16 ? 8 : strlen(bad[i]); /* with its NUL */
		show = 5;
		if (sasl_step(&c, bad[i], len, &line, &show) !=
		    SMTPSEND_E_PROTO)
			fail_msg("accepted bad base64 case %zu", i);
		assert_string_equal(sasl_reason(&c),
				    "the challenge is not base64");
		assert_line(&line, "AUTH LOGIN"); /* untouched */
		assert_int_equal(show, 5);
		assert_null(c.secret.data);
		sasl_clear(&c);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		sasl_client c;
		_cleanup_secbuf_ secbuf line = SECBUF_INIT;
		size_t show;

		sasl_init(&c);
		assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", CANARY,
					    strlen(CANARY), NULL, NULL, 0, NULL,
					    &line, &show),
				 0);
		assert_int_equal(step_str(&c, good[i], &line, &show), 0);
		assert_line(&line, "dQ==");
		sasl_clear(&c);
	}
}

/* Every mechanism gives up within SASL_STEPS_MAX challenges, whatever
 * the server sends; the step counter itself is the last line of defence. */
static void
test_sasl_too_many_challenges(void **state)
{
	static const unsigned char cb[SASL_CB_DATA_LEN];
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show;

	(void)state;
	for (int m = 0; m < _SASL_MECH_MAX; m++) {
		unsigned ok = 0;
		int rc = 0;

		sasl_init(&c);
		assert_int_equal(sasl_start(&c, (enum sasl_mech)m, "u", "tok",
					    3, NULL, NULL, 0, cb, &line, &show),
				 0);
		for (unsigned i = 0; i <= SASL_STEPS_MAX && rc == 0; i++) {
			rc = step_str(&c, "", &line, &show);
			if (rc == 0)
				ok++;
		}
		assert_int_equal(rc, SMTPSEND_E_PROTO);
		assert_true(ok <= SASL_STEPS_MAX);
		sasl_clear(&c);
	}

	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", CANARY, strlen(CANARY),
				    NULL, NULL, 0, NULL, &line, &show),
			 0);
	c.steps = SASL_STEPS_MAX;
	assert_int_equal(step_str(&c, "", &line, &show), SMTPSEND_E_PROTO);
	assert_string_equal(sasl_reason(&c), "endless 334 challenges");
	assert_null(c.secret.data);
	sasl_clear(&c);
}

/* An initial response too long for the AUTH line waits for the first
 * 334 (RFC 4954 4); one that fits no line is refused up front. */
static void
test_sasl_long_initial_response(void **state)
{
	static char token[9400];
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 0, n;

	(void)state;
	memset(token, 'A', sizeof(token));
	/* "user=u^Aauth=Bearer " token "^A^A": 21 + n bytes, n = 9190 gives
	 * 12284 base64 characters: too long after "AUTH XOAUTH2 ", short
	 * enough alone. */
	n = 9190;
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "u", token, n, NULL, NULL,
				    0, NULL, &line, &show),
			 0);
	assert_line(&line, "AUTH XOAUTH2");
	assert_int_equal(show, line.len);
	assert_true(c.deferred);
	assert_int_equal(step_str(&c, "", &line, &show), 0);
	assert_int_equal(line.len, 12284);
	assert_int_equal(show, 0);
	assert_null(c.ir.data);
	assert_int_equal(sasl_finish(&c), 0);
	sasl_clear(&c);

	/* the largest that still fits on the AUTH line itself: 9204 bytes,
	 * 12272 characters, 13 + 12272 + CRLF = 12287 */
	n = 9183;
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "u", token, n, NULL, NULL,
				    0, NULL, &line, &show),
			 0);
	assert_int_equal(line.len, 13 + 12272);
	assert_false(c.deferred);
	sasl_clear(&c);
	n = 9184;
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "u", token, n, NULL, NULL,
				    0, NULL, &line, &show),
			 0);
	assert_true(c.deferred);
	sasl_clear(&c);
	/* the largest deferred one: 12284 characters + CRLF */
	n = 9192;
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "u", token, n, NULL, NULL,
				    0, NULL, &line, &show),
			 0);
	assert_int_equal(step_str(&c, "", &line, &show), 0);
	assert_int_equal(line.len, 12284);
	sasl_clear(&c);

	/* 235 before the deferred response went out */
	n = 9190;
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "u", token, n, NULL, NULL,
				    0, NULL, &line, &show),
			 0);
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_AUTH);
	sasl_clear(&c);

	/* fits in no line at all (12288 characters + CRLF) */
	assert_int_equal(secbuf_append_str(&line, "keep"), 0);
	show = 3;
	n = 9193;
	assert_int_equal(sasl_start(&c, SASL_XOAUTH2, "u", token, n, NULL, NULL,
				    0, NULL, &line, &show),
			 SMTPSEND_E_LIMIT);
	assert_int_equal(show, 3);
	assert_non_null(strstr(line.data, "keep"));
	assert_string_equal(sasl_reason(&c), "the initial response does not "
					     "fit in an AUTH line");
	c.why = NULL;
	assert_client_clean(&c, NULL, 0);
	n = sizeof(token);
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", token, n, NULL, NULL,
				    0, NULL, &line, &show),
			 SMTPSEND_E_LIMIT);
}

/* ---- argument refusals ------------------------------------------------- */

static void
test_sasl_refuses_credentials(void **state)
{
	/* clang-format off */
	static const struct {
		enum sasl_mech mech;
		const char *user, *secret;
		size_t len;
		const char *authzid, *host;
	} t[] = {
		{ SASL_PLAIN, "", "pw", 2, NULL, NULL },
		{ SASL_PLAIN, NULL, "pw", 2, NULL, NULL },
		{ SASL_PLAIN, "u\r\nRSET", "pw", 2, NULL, NULL },
		{ SASL_PLAIN, "u", "", 0, NULL, NULL },
		{ SASL_PLAIN, "u", NULL, 2, NULL, NULL },
		{ SASL_PLAIN, "u", "p\0w", 3, NULL, NULL },
		{ SASL_PLAIN, "u", "pw", 2, "a\nb", NULL },
		{ SASL_LOGIN, "u", "pw", 2, "admin", NULL },
		{ SASL_XOAUTH2, "u", "tok", 3, "admin", NULL },
		{ SASL_XOAUTH2, "u\001auth=x", "tok", 3, NULL, NULL },
		{ SASL_XOAUTH2, "u", "to k", 4, NULL, NULL },
		{ SASL_XOAUTH2, "u", "to\001k", 4, NULL, NULL },
		{ SASL_OAUTHBEARER, "u", "tok\xc3\xa9", 5, NULL, NULL },
		{ SASL_OAUTHBEARER, "u", "tok", 3, NULL, "h\001auth=x" },
		{ SASL_OAUTHBEARER, "u", "tok", 3, NULL, "" },
		{ SASL_SCRAM_SHA_256, "u", "pw\001", 3, NULL, NULL },
		{ SASL_SCRAM_SHA_256, "u", "pw\x7f", 3, NULL, NULL },
		{ SASL_SCRAM_SHA_256, "u", "pw\xff", 3, NULL, NULL },
		{ SASL_SCRAM_SHA_256, "u", "pw\xc3", 3, NULL, NULL },
		{ SASL_SCRAM_SHA_256, "u", "pw\xc0\xaf", 4, NULL, NULL },
		{ SASL_SCRAM_SHA_256, "u", "pw\xc2\x85", 4, NULL, NULL },
		{ SASL_SCRAM_SHA_256, "u", "pw\xed\xa0\x80", 5, NULL, NULL },
		{ SASL_SCRAM_SHA_256, "u", "pw\xf4\x90\x80\x80", 6, NULL, NULL },
		{ (enum sasl_mech)_SASL_MECH_MAX, "u", "pw", 2, NULL, NULL },
	};
	/* clang-format on */

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		sasl_client c;
		_cleanup_secbuf_ secbuf line = SECBUF_INIT;
		size_t show = 7;

		assert_int_equal(secbuf_append_str(&line, "keep"), 0);
		sasl_init(&c);
		if (sasl_start(&c, t[i].mech, t[i].user, t[i].secret, t[i].len,
			       t[i].authzid, t[i].host, 0, NULL, &line,
			       &show) != SMTPSEND_E_INVAL)
			fail_msg("case %zu accepted", i);
		assert_line(&line, "keep");
		assert_int_equal(show, 7);
		assert_true(sasl_reason(&c)[0] != '\0');
		c.why = NULL;
		assert_client_clean(&c, NULL, 0);
	}
}

static void
test_sasl_accepts_credentials(void **state)
{
	/* UTF-8 passwords are used as they are for SCRAM; anything but NUL
	 * goes for PLAIN and LOGIN. */
	static const char *const scram_ok[] = {"p\xc3\xa4ss", "\xe2\x82\xac",
					       "\xf0\x9f\x94\x91", "a b~"};
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(scram_ok); i++) {
		sasl_init(&c);
		assert_int_equal(sasl_start(&c, SASL_SCRAM_SHA_256, "u",
					    scram_ok[i], strlen(scram_ok[i]),
					    NULL, NULL, 0, NULL, &line, &show),
				 0);
		sasl_clear(&c);
	}
	sasl_init(&c);
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "u", "p\r\n\001w", 5, NULL,
				    NULL, 0, NULL, &line, &show),
			 0);
	sasl_clear(&c);
}

static void
test_sasl_misuse(void **state)
{
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 0;

	(void)state;
	sasl_init(&c);
	/* no exchange yet: refused, client unchanged */
	assert_int_equal(step_str(&c, "", &line, &show), SMTPSEND_E_INVAL);
	assert_int_equal(c.state, SASL_ST_NEW);
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_INVAL);
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "u", "pw", 2, NULL, NULL, 0,
				    NULL, NULL, &show),
			 SMTPSEND_E_INVAL);
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "u", "pw", 2, NULL, NULL, 0,
				    NULL, &line, NULL),
			 SMTPSEND_E_INVAL);
	assert_int_equal(sasl_start(NULL, SASL_PLAIN, "u", "pw", 2, NULL, NULL,
				    0, NULL, &line, &show),
			 SMTPSEND_E_INVAL);
	assert_int_equal(sasl_step(NULL, "", 0, &line, &show),
			 SMTPSEND_E_INVAL);
	assert_int_equal(sasl_finish(NULL), SMTPSEND_E_INVAL);
	sasl_clear(NULL);
	assert_string_equal(sasl_reason(NULL), "");

	/* started twice */
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", "pw", 2, NULL, NULL, 0,
				    NULL, &line, &show),
			 0);
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", "pw", 2, NULL, NULL, 0,
				    NULL, &line, &show),
			 SMTPSEND_E_INVAL);
	assert_null(c.secret.data);
	sasl_clear(&c);

	/* a NULL challenge is only "" */
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", "pw", 2, NULL, NULL, 0,
				    NULL, &line, &show),
			 0);
	assert_int_equal(sasl_step(&c, NULL, 0, &line, &show), 0);
	assert_int_equal(sasl_step(&c, NULL, 4, &line, &show),
			 SMTPSEND_E_INVAL);
	sasl_clear(&c);

	/* finished: no more steps, no second finish */
	assert_int_equal(sasl_start(&c, SASL_PLAIN, "u", "pw", 2, NULL, NULL, 0,
				    NULL, &line, &show),
			 0);
	assert_int_equal(sasl_finish(&c), 0);
	assert_int_equal(sasl_finish(&c), SMTPSEND_E_INVAL);
	assert_int_equal(step_str(&c, "", &line, &show), SMTPSEND_E_PROTO);
	sasl_clear(&c);

	/* over-long challenge */
	assert_int_equal(sasl_start(&c, SASL_LOGIN, "u", "pw", 2, NULL, NULL, 0,
				    NULL, &line, &show),
			 0);
	{
		static char big[SMTP_AUTH_LINE_MAX + 4];

		memset(big, 'A', sizeof(big));
		assert_int_equal(sasl_step(&c, big, sizeof(big), &line, &show),
				 SMTPSEND_E_LIMIT);
	}
	sasl_clear(&c);
}

/* ---- canary: every mechanism that handles the password ------------------ */

static void
test_sasl_canary_every_mech(void **state)
{
	static const unsigned char cb[SASL_CB_DATA_LEN] = {1, 2, 3};

	(void)state;
	for (int m = 0; m < _SASL_MECH_MAX; m++) {
		sasl_client c;
		_cleanup_secbuf_ secbuf line = SECBUF_INIT;
		size_t show = 0;
		unsigned i;

		sasl_init(&c);
		assert_int_equal(sasl_start(&c, (enum sasl_mech)m,
					    "user@example.org", CANARY,
					    strlen(CANARY), NULL, "h", 25, cb,
					    &line, &show),
				 0);
		assert_prefix_clean(&line, show);
		assert_true(
		    show == line.len ||
		    show == strlen("AUTH ") +
				strlen(sasl_mech_name((enum sasl_mech)m)) + 1);
		/* answer whatever the mechanism allows; every line's
		 * visible prefix is empty from here on */
		for (i = 0; i < SASL_STEPS_MAX; i++) {
			if (step_str(&c, "VXNlcm5hbWU6", &line, &show) < 0)
				break;
			assert_int_equal(show, 0);
			assert_prefix_clean(&line, show);
		}
		assert_null(strstr(sasl_reason(&c), CANARY));
		sasl_clear(&c);
		assert_client_clean(&c, NULL, 0);
	}
}

#ifdef SMTPCRED_TEST_HOOKS
/* A complete SCRAM exchange with the canary as password; the test plays
 * the server (with sasl_scram_compute for its signature). */
static void
test_sasl_canary_scram_exchange(void **state)
{
	static const char sf[] = "r=" RFC_NONCE ",s=" RFC_SALT ",i=4096";
	static const unsigned char salt[] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12,
					     0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14,
					     0x12, 0x36, 0xfa, 0x81};
	unsigned char proof[SCRAM_HASH_LEN], sig[SCRAM_HASH_LEN];
	char auth[1024], dec[512], v[128];
	sasl_client c;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	size_t show = 0, n;

	(void)state;
	scram_start(&c, SASL_SCRAM_SHA_256, CANARY, NULL, &line, &show);
	assert_prefix_clean(&line, show);
	assert_int_equal(step_raw(&c, sf, &line, &show), 0);
	assert_int_equal(show, 0);
	n = unb64(&line, dec, sizeof(dec));
	assert_true(n > 3);
	assert_null(strstr(dec, CANARY));
	/* the server's view: AuthMessage without the proof */
	*strstr(dec, ",p=") = '\0';
	snprintf(auth, sizeof(auth), "n=user,r=%s,%s,%s", RFC_CNONCE, sf, dec);
	assert_int_equal(sasl_scram_compute(proof, sig, CANARY, strlen(CANARY),
					    salt, sizeof(salt), 4096, auth,
					    strlen(auth)),
			 0);
	assert_true(strlen(b64(sig, sizeof(sig))) == 44);
	memcpy(v, "v=", 2);
	memcpy(v + 2, b64(sig, sizeof(sig)), 45);
	assert_int_equal(step_raw(&c, v, &line, &show), 0);
	assert_int_equal(sasl_finish(&c), 0);
	sasl_clear(&c);
	assert_client_clean(&c, sig, sizeof(sig));
	assert_client_clean(&c, proof, sizeof(proof));
}

/* Every allocation failure is a clean SMTPSEND_E_NOMEM: outputs
 * untouched, nothing leaked (ASan builds check), then success. */
static void
test_sasl_alloc_failures(void **state)
{
	static const enum sasl_mech mechs[] = {
	    SASL_PLAIN, SASL_LOGIN, SASL_OAUTHBEARER, SASL_SCRAM_SHA_256};

	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(mechs); k++) {
		long fail_at;

		for (fail_at = 1; fail_at < 200; fail_at++) {
			sasl_client c;
			secbuf line = SECBUF_INIT;
			size_t show = 42;
			int r;

			sasl_init(&c);
			assert_int_equal(sasl_test_set_nonce(&c, RFC_CNONCE),
					 0);
			common_alloc_reset_for_tests(fail_at);
			r = sasl_start(&c, mechs[k], RFC_USER, RFC_PASSWORD, 6,
				       NULL, "h", 25, NULL, &line, &show);
			if (r == 0 && mechs[k] == SASL_SCRAM_SHA_256)
				r = step_raw(&c, RFC_SERVER_FIRST, &line,
					     &show);
			if (r == 0 && mechs[k] == SASL_SCRAM_SHA_256)
				r = step_raw(&c, "v=" RFC_VERIFIER, &line,
					     &show);
			if (r == 0 && mechs[k] == SASL_LOGIN)
				r = step_str(&c, "", &line, &show);
			if (r == 0 && mechs[k] == SASL_LOGIN)
				r = step_str(&c, "", &line, &show);
			if (r == 0)
				r = sasl_finish(&c);
			common_alloc_reset_for_tests(0);
			sasl_clear(&c);
			secbuf_wipe(&line);
			if (r == 0)
				break;
			assert_int_equal(r, SMTPSEND_E_NOMEM);
		}
		assert_true(fail_at > 1 && fail_at < 200);
	}
}
#endif /* SMTPCRED_TEST_HOOKS */

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sasl_mech_names),
	    cmocka_unit_test(test_sasl_choose_table),
	    cmocka_unit_test(test_sasl_plain_exact),
	    cmocka_unit_test(test_sasl_login_exact),
	    cmocka_unit_test(test_sasl_xoauth2_exact),
	    cmocka_unit_test(test_sasl_oauthbearer_exact),
	    cmocka_unit_test(test_sasl_scram_compute_rfc7677),
#ifdef SMTPCRED_TEST_HOOKS
	    cmocka_unit_test(test_sasl_scram_rfc7677),
	    cmocka_unit_test(test_sasl_scram_refuses_server),
	    cmocka_unit_test(test_sasl_scram_early_235),
	    cmocka_unit_test(test_sasl_scram_plus_channel_binding),
	    cmocka_unit_test(test_sasl_scram_saslname),
#endif
	    cmocka_unit_test(test_sasl_scram_random_nonce),
	    cmocka_unit_test(test_sasl_rejects_bad_base64),
	    cmocka_unit_test(test_sasl_too_many_challenges),
	    cmocka_unit_test(test_sasl_long_initial_response),
	    cmocka_unit_test(test_sasl_refuses_credentials),
	    cmocka_unit_test(test_sasl_accepts_credentials),
	    cmocka_unit_test(test_sasl_misuse),
	    cmocka_unit_test(test_sasl_canary_every_mech),
#ifdef SMTPCRED_TEST_HOOKS
	    cmocka_unit_test(test_sasl_canary_scram_exchange),
	    cmocka_unit_test(test_sasl_alloc_failures),
#endif
	};

	return cmocka_run_group_tests_name("libsend-sasl", tests, NULL, NULL);
}
