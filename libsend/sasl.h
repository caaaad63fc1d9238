/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SASL client mechanisms for SMTP AUTH (RFC 4954): PLAIN (RFC 4616),
 * LOGIN (draft-murchison-sasl-login), XOAUTH2 (Google), OAUTHBEARER
 * (RFC 7628), SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677,
 * channel binding tls-exporter RFC 9266).
 *
 * Pure: no sockets, no printing, no global state.  The caller sends the
 * lines this module builds and passes back the text of each 334 reply.
 * One sasl_client per AUTH exchange; not thread-safe on one object, safe
 * on distinct ones.  Flow:
 *
 *   sasl_choose(allow_list, offers, ud, have_cb, &mech);
 *   sasl_init(&c);
 *   sasl_set_gs2_y(&c, sasl_want_gs2_y(mech, allow_list, offers, ud,
 *                                      have_cb));   (SCRAM-SHA-256)
 *   sasl_start(&c, mech, user, secret, len, NULL, host, port, cb,
 *              &line, &show);                       send "AUTH ..."
 *   each "334 <text>":  sasl_step(&c, text, len, &line, &show); send
 *   on 235:             sasl_finish(&c)  (0, or the exchange is bad)
 *   always:             sasl_clear(&c)
 *
 * When sasl_step() fails the exchange is over: the caller cancels it by
 * sending "*" (RFC 4954 4) or drops the connection, and never treats a
 * later 235 as success.
 *
 * Lines are built without CRLF.  *show is how many leading bytes of a
 * line may appear in a trace ("AUTH PLAIN "); the rest is for the wire
 * only (STYLE.md S6, snippet 6).  Every line is a secbuf: the caller
 * wipes it (secbuf_wipe) once it is sent.
 *
 * Secrets (STYLE.md section 7): the secret is borrowed for the length
 * of sasl_start() only.  What must outlive it lives in secbufs inside the
 * client: LOGIN keeps the password until the second prompt; SCRAM keeps
 * the password until the server-first message, then only the expected
 * ServerSignature (a fixed array) until the server-final message; an
 * initial response too long for the AUTH line is kept until the first
 * 334.  Each is wiped as soon as it has been used, on any failure of
 * sasl_step() and by a successful sasl_finish(); sasl_clear() wipes the
 * whole struct.  Nothing secret is ever in *show's prefix or in
 * sasl_reason().
 *
 * SCRAM decisions:
 *   - No SASLprep (RFC 4013).  SASLprep is the identity on printable
 *     ASCII, so those passwords are exact.  ASCII and C1 control
 *     characters (which SASLprep prohibits) and invalid UTF-8 are
 *     refused with SMTPSEND_E_INVAL.  Other UTF-8 is used as it is,
 *     unnormalised: right for servers that treat passwords as octets and
 *     for text already in NFKC without SASLprep-mapped characters (e.g.
 *     U+00A0); anything else fails with the server's 535.  The user name
 *     is treated the same way (",", "=" escaped as "=2C", "=3D").
 *   - Iteration counts outside [SCRAM_ITER_MIN, SCRAM_ITER_MAX] are
 *     refused before any PBKDF2 work: below, SMTPSEND_E_INSECURE; above,
 *     SMTPSEND_E_LIMIT (a server must not make us burn CPU).
 *   - The server must prove it knows the password: a server-final with a
 *     wrong or missing v=, an e= error, or a 235 before the server-final
 *     (sasl_finish()) is SMTPSEND_E_AUTH.  v= is compared with CRYPTO_memcmp.
 *   - gs2 flag: "p=tls-exporter" for -PLUS; "y" for SCRAM-SHA-256 when we
 *     could bind but the server did not offer -PLUS (downgrade detection,
 *     RFC 5802 6; sasl_want_gs2_y() says when); otherwise "n".
 *
 * Error codes (negative smtpsend_code): SMTPSEND_E_INVAL (bad arguments,
 * misuse, unusable credentials), SMTPSEND_E_NOMEM, SMTPSEND_E_LIMIT (a
 * line would exceed SMTP_AUTH_LINE_MAX), SMTPSEND_E_PROTO (bad base64, a
 * malformed or unexpected challenge, too many challenges),
 * SMTPSEND_E_AUTH (SCRAM server not proven, server error),
 * SMTPSEND_E_INSECURE (SCRAM iteration count too low), SMTPSEND_E_TLS
 * (an OpenSSL failure), SMTPSEND_E_UNSUPPORTED (sasl_choose: no overlap).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "secbuf.h"

enum sasl_mech {
	SASL_PLAIN,
	SASL_LOGIN,
	SASL_XOAUTH2,
	SASL_OAUTHBEARER,
	SASL_SCRAM_SHA_256,
	SASL_SCRAM_SHA_256_PLUS,
	_SASL_MECH_MAX,
};

/* RFC 9266 tls-exporter channel binding: 32 bytes. */
#define SASL_CB_DATA_LEN 32u
/* SHA-256 output, the size of every SCRAM-SHA-256 key and signature. */
#define SCRAM_HASH_LEN 32u
/* RFC 7677 4: at least 4096 iterations. */
#define SCRAM_ITER_MIN 4096u
/* About a second of PBKDF2-SHA-256 on slow hardware; servers use
 * 4096..600000 (OWASP 2023). */
#define SCRAM_ITER_MAX 1000000u
/* Salt bytes accepted from a server (RFC 5802 gives no bound; real salts
 * are 16..32 bytes). */
#define SCRAM_SALT_MAX 256u
/* Our client nonce: 24 random bytes as base64 (32 characters). */
#define SCRAM_NONCE_LEN 32u
/* Longest client nonce the test hook accepts. */
#define SCRAM_NONCE_MAX 64u

/* Static upper-case name ("SCRAM-SHA-256-PLUS"), or NULL when m is out of
 * range. */
const char *sasl_mech_name(enum sasl_mech m);
/* Look up a mechanism name (len bytes, any case).  True with *out set, or
 * false for a name this module does not implement. */
bool sasl_mech_lookup(const char *name, size_t len, enum sasl_mech *out);

/* Whether the server offers the mechanism called name (upper case, from
 * sasl_mech_name()); e.g. a wrapper around smtp_caps_has_auth(). */
typedef bool (*sasl_offers_fn)(const char *name, void *userdata);

/*
 * Check an allow-list: mechanism names separated by ',' (blanks around a
 * name ignored, any case), at least one.  0, or SMTPSEND_E_INVAL for
 * NULL, an empty list or entry, or a name this module does not know.
 */
int sasl_allow_list_check(const char *allow_list);

/*
 * Choose the first mechanism of allow_list (its order is the preference)
 * that offers() says the server has.  -PLUS is only chosen when have_cb
 * (tls-exporter data is available); nothing outside the list is ever
 * chosen.  Returns 0 with *out set, SMTPSEND_E_INVAL (see
 * sasl_allow_list_check(), or offers or out NULL) or
 * SMTPSEND_E_UNSUPPORTED (no overlap); *out untouched on failure.
 * Calls offers() synchronously only.
 */
int sasl_choose(const char *allow_list, sasl_offers_fn offers, void *userdata,
		bool have_cb, enum sasl_mech *out);

/*
 * RFC 5802 6: a client that supports channel binding but did not see
 * -PLUS advertised MUST send the gs2 flag "y" (so that a server that does
 * support it detects a stripped capability).  True when mech is
 * SCRAM-SHA-256, allow_list allows SCRAM-SHA-256-PLUS (we "support"
 * binding only where the account allows it), have_cb, and offers() says
 * the server lacks -PLUS.  Pass the result to sasl_set_gs2_y(); without
 * it SCRAM-SHA-256 sends "n".
 */
bool sasl_want_gs2_y(enum sasl_mech mech, const char *allow_list,
		     sasl_offers_fn offers, void *userdata, bool have_cb);

/* Internal; the order is the order of an exchange. */
enum sasl_state {
	SASL_ST_NEW = 0,     /* zeroed or cleared: sasl_start() may run */
	SASL_ST_SENT,        /* initial response sent; 235 expected */
	SASL_ST_LOGIN_USER,  /* LOGIN: waiting for the first prompt */
	SASL_ST_LOGIN_PASS,  /* LOGIN: waiting for the second prompt */
	SASL_ST_SCRAM_FIRST, /* waiting for server-first */
	SASL_ST_SCRAM_FINAL, /* waiting for server-final */
	SASL_ST_OAUTH_ERROR, /* OAuth error challenge answered */
	SASL_ST_DONE,        /* nothing more to send; 235 expected */
	SASL_ST_FINISHED,    /* sasl_finish() accepted the 235 */
	SASL_ST_FAILED,      /* a call failed; the exchange is over */
	_SASL_ST_MAX,
};

/*
 * One exchange.  Start from SASL_CLIENT_INIT (or any zeroed object) or
 * from sasl_clear().  Members are private to sasl.c (tests read them);
 * the secbufs and server_sig hold secret-derived bytes.
 */
typedef struct sasl_client {
	enum sasl_mech mech;
	enum sasl_state state;
	unsigned steps;  /* 334 challenges seen */
	bool deferred;   /* the initial response waits for a 334 */
	const char *why; /* static reason of the last failure */
	secbuf ir;       /* deferred initial response (raw) */
	secbuf user;     /* LOGIN: user name until the first prompt */
	secbuf secret;   /* LOGIN, SCRAM: the password until used */
	secbuf bare;     /* SCRAM: client-first-message-bare */
	secbuf cbind;    /* SCRAM: base64(gs2 header [+ cb data]) */
	bool gs2_y;      /* SCRAM-SHA-256: send "y" (sasl_set_gs2_y) */
	char nonce[SCRAM_NONCE_MAX + 1];          /* SCRAM client nonce */
	char test_nonce[SCRAM_NONCE_MAX + 1];     /* sasl_test_set_nonce() */
	unsigned char server_sig[SCRAM_HASH_LEN]; /* expected v= */
} sasl_client;

#define SASL_CLIENT_INIT ((sasl_client){.mech = SASL_PLAIN})

/* Reset c to SASL_CLIENT_INIT (fresh memory; not a wipe: use
 * sasl_clear() on a client that was used). */
void sasl_init(sasl_client *c);

/* Before sasl_start(): whether SCRAM-SHA-256 sends the gs2 flag "y"
 * (sasl_want_gs2_y()).  Ignored by the other mechanisms. */
void sasl_set_gs2_y(sasl_client *c, bool y);

/*
 * Start an exchange: *line_out is the AUTH command, "AUTH <MECH> <base64
 * initial response>" ("=" when the response is empty, RFC 4954 4) or
 * "AUTH LOGIN".  When the initial response would make the line longer
 * than SMTP_AUTH_LINE_MAX (CRLF included) it is sent in answer to the
 * first 334 instead (RFC 4954 4); a response that fits in no line is
 * SMTPSEND_E_LIMIT.  *show is set to the length of the "AUTH <MECH> "
 * prefix (the whole line when it carries no response).
 *
 * Arguments, all borrowed for the call only:
 *   user       authentication identity, non-empty, no control
 *              characters;
 *   secret     secret_len bytes (no NUL): the password, or the OAuth 2.0
 *              access token for XOAUTH2/OAUTHBEARER (visible ASCII only);
 *              not referenced after the call returns;
 *   authzid    NULL or "": none.  PLAIN, SCRAM and OAUTHBEARER (a=,
 *              which defaults to the user) only, else SMTPSEND_E_INVAL;
 *   host, port OAUTHBEARER host= and port= (NULL / 0: left out); ignored
 *              by the other mechanisms;
 *   cb         tls-exporter data, SASL_CB_DATA_LEN bytes, or NULL;
 *              required by SCRAM-SHA-256-PLUS, ignored elsewhere.
 *
 * c must be new (sasl_init(), SASL_CLIENT_INIT or sasl_clear()).  On
 * success the old contents of *line_out are wiped and replaced (the
 * caller wipes the line after sending).  On failure *line_out and *show
 * are untouched and c is cleared (sasl_reason() still says why).
 */
int sasl_start(sasl_client *c, enum sasl_mech mech, const char *user,
	       const char *secret, size_t secret_len, const char *authzid,
	       const char *host, uint16_t port, const unsigned char *cb,
	       secbuf *line_out, size_t *show);

/*
 * Answer one 334 challenge: challenge is the reply text after "334 "
 * (len bytes, strict base64 without blanks; "" for an empty one).  The
 * response, base64-encoded (possibly empty), replaces *line_out; *show
 * is 0.  More than SASL_STEPS_MAX challenges, or one the mechanism does
 * not expect, is SMTPSEND_E_PROTO.  OAuth error challenges (XOAUTH2,
 * OAUTHBEARER) are answered as their protocols require (an empty line,
 * "\x01"); the server's failure reply follows.  Failure leaves the
 * outputs untouched, wipes the held secrets and ends the exchange.
 */
int sasl_step(sasl_client *c, const char *challenge, size_t len,
	      secbuf *line_out, size_t *show);

/*
 * The server replied 235: 0 when the mechanism is complete (SCRAM: the
 * server-final was verified); held secrets are then wiped and further
 * 334s are SMTPSEND_E_PROTO.  SMTPSEND_E_AUTH when it is not (SCRAM:
 * the server has not proven it knows the password; LOGIN: a prompt
 * unanswered; an initial response never sent; an OAuth error answered):
 * the 235 must not count as success.  SMTPSEND_E_INVAL for misuse.  A
 * check only: a failure changes nothing, the caller ends the exchange
 * with sasl_clear().
 */
int sasl_finish(sasl_client *c);

/* Wipe everything (secbufs freed, the struct zeroed); c is then ready for
 * sasl_start() again.  NULL is a no-op. */
void sasl_clear(sasl_client *c);

/* Static text saying why the last call failed ("" if none).  Never
 * contains secret or server-supplied bytes. */
const char *sasl_reason(const sasl_client *c);

/*
 * SCRAM-SHA-256 proof and expected server signature (RFC 5802 3):
 * SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations), then
 * ClientKey, StoredKey, ClientSignature, ClientProof, ServerKey and
 * ServerSignature over auth_msg.  Every intermediate is wiped.  0, or
 * SMTPSEND_E_INVAL / SMTPSEND_E_TLS.  Exposed for tests.
 */
int sasl_scram_compute(unsigned char proof[SCRAM_HASH_LEN],
		       unsigned char server_sig[SCRAM_HASH_LEN],
		       const char *password, size_t password_len,
		       const unsigned char *salt, size_t salt_len,
		       unsigned iterations, const char *auth_msg,
		       size_t auth_len);

#ifdef SMTPCRED_TEST_HOOKS
/* Test-only: the next sasl_start() on c uses this client nonce (1 to
 * SCRAM_NONCE_MAX printable characters other than ',') instead of
 * RAND_bytes().  0 or SMTPSEND_E_INVAL. */
int sasl_test_set_nonce(sasl_client *c, const char *nonce);
#endif
