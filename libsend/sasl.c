/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SASL client mechanisms (see sasl.h): PLAIN, LOGIN, XOAUTH2, OAUTHBEARER,
 * SCRAM-SHA-256 and SCRAM-SHA-256-PLUS.  Every buffer that holds a
 * secret, a value derived from one, or its base64 is a secbuf or a fixed
 * array under WIPE_ON_EXIT.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "sasl.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Entries in an allow-list (there are 6 mechanisms; repeats allowed). */
#define SASL_ALLOW_MAX 16u
/* Random bytes behind our SCRAM nonce (base64: SCRAM_NONCE_LEN chars). */
#define SCRAM_NONCE_RAW 24u
/* Digits of an iteration count that fit in 32 bits (SCRAM_ITER_MAX has
 * 7); more is above the ceiling anyway. */
#define SCRAM_ITER_DIGITS_MAX 9u

_Static_assert(SCRAM_NONCE_RAW / 3 * 4 == SCRAM_NONCE_LEN,
	       "nonce length must be base64 of the raw bytes, no padding");
_Static_assert(SCRAM_NONCE_LEN <= SCRAM_NONCE_MAX, "nonce buffer too small");

/* clang-format off */
static const char *const mech_names[] = {
	[SASL_PLAIN]			= "PLAIN",
	[SASL_LOGIN]			= "LOGIN",
	[SASL_XOAUTH2]			= "XOAUTH2",
	[SASL_OAUTHBEARER]		= "OAUTHBEARER",
	[SASL_SCRAM_SHA_256]		= "SCRAM-SHA-256",
	[SASL_SCRAM_SHA_256_PLUS]	= "SCRAM-SHA-256-PLUS",
};
/* clang-format on */
_Static_assert(ARRAY_SIZE(mech_names) == _SASL_MECH_MAX,
	       "mech_names out of sync with enum sasl_mech");

/* ---- small helpers ---------------------------------------------------- */

static char
ascii_upper(char ch)
{
	return (char)(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
}

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* ASCII control characters: C0 and DEL. */
static bool
is_ctl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++) {
		if (is_ctl((unsigned char)*s))
			return true;
	}
	return false;
}

/* An OAuth 2.0 access token: visible ASCII only (RFC 6750 b64token is a
 * subset), so it cannot break the \x01 framing. */
static bool
token_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x21 || ch > 0x7e)
			return false;
	}
	return true;
}

/*
 * A SCRAM password (see sasl.h): valid UTF-8 (no overlong forms, no
 * surrogates, at most U+10FFFF) without C0, DEL or C1 controls, which
 * SASLprep prohibits (RFC 3454 C.2.1, C.2.2).
 */
static bool
scram_password_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		uint32_t cp, min;
		size_t k;

		if (p[i] < 0x80) {
			if (is_ctl(p[i]))
				return false;
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			k = 1;
			cp = p[i] & 0x1fu;
			min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			k = 2;
			cp = p[i] & 0x0fu;
			min = 0x800;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			k = 3;
			cp = p[i] & 0x07u;
			min = 0x10000;
		} else {
			return false;
		}
		if (n - i - 1 < k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
			return false;
		i += k + 1;
	}
	return true;
}

/* secbuf's negative errno as a smtpsend code. */
static int
sb_err(int r)
{
	if (r == -ENOMEM)
		return SMTPSEND_E_NOMEM;
	if (r == -E2BIG)
		return SMTPSEND_E_LIMIT;
	return SMTPSEND_E_INVAL;
}

/* Append unless an earlier append failed; *r keeps the first error (as a
 * smtpsend code). */
static void
put(secbuf *b, const void *p, size_t n, int *r)
{
	int e;

	if (*r < 0)
		return;
	e = secbuf_append(b, p, n);
	if (e < 0)
		*r = sb_err(e);
}

static void
put_str(secbuf *b, const char *s, int *r)
{
	put(b, s, strlen(s), r);
}

/* RFC 5802 5.1 saslname: "," and "=" escaped as "=2C" and "=3D". */
static void
put_saslname(secbuf *b, const char *s, int *r)
{
	for (; *s != '\0'; s++) {
		if (*s == ',')
			put(b, "=2C", 3, r);
		else if (*s == '=')
			put(b, "=3D", 3, r);
		else
			put(b, s, 1, r);
	}
}

/* ---- base64 (RFC 4648 section 4) --------------------------------------- */

/* Characters of the base64 form of n bytes. */
static size_t
b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Append the base64 of p[0..n) to b. */
static void
put_b64(secbuf *b, const void *p, size_t n, int *r)
{
	int e, k;

	if (*r < 0)
		return;
	if (n > SECBUF_MAX) {
		*r = SMTPSEND_E_LIMIT;
		return;
	}
	e = secbuf_reserve(b, b64_len(n));
	if (e < 0) {
		*r = sb_err(e);
		return;
	}
	k = EVP_EncodeBlock((unsigned char *)b->data + b->len,
			    (const unsigned char *)p, (int)n);
	if (k < 0 || (size_t)k != b64_len(n)) {
		*r = SMTPSEND_E_TLS;
		return;
	}
	b->len += (size_t)k;
	b->data[b->len] = '\0';
}

static int
b64_val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Strict decoding: whole quantums only, padding only at the very end, no
 * blanks or line breaks, unused bits zero (RFC 4648 3.5: one canonical
 * encoding).  Replaces *out's contents.  0, SMTPSEND_E_PROTO (not such
 * base64), SMTPSEND_E_NOMEM, SMTPSEND_E_LIMIT.
 */
static int
b64_decode(secbuf *out, const char *in, size_t len)
{
	int r;

	secbuf_clear(out);
	if (len % 4 != 0)
		return SMTPSEND_E_PROTO;
	r = secbuf_reserve(out, len / 4 * 3);
	if (r < 0)
		return sb_err(r);
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		unsigned char tri[3];
		unsigned v[4];
		size_t pad = 0;

		for (size_t k = 0; k < 4; k++) {
			int d;

			if (in[i + k] == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			d = b64_val(in[i + k]);
			if (d < 0 || pad > 0)
				return SMTPSEND_E_PROTO;
			v[k] = (unsigned)d;
		}
		if ((pad == 2 && (v[1] & 0x0f) != 0) ||
		    (pad == 1 && (v[2] & 0x03) != 0))
			return SMTPSEND_E_PROTO;
		tri[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		tri[1] = (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2);
		tri[2] = (unsigned char)((v[2] & 0x03) << 6 | v[3]);
		memcpy(out->data + out->len, tri, 3 - pad);
		out->len += 3 - pad;
		secure_wipe(tri, sizeof(tri));
	}
	out->data[out->len] = '\0';
	return 0;
}

/* ---- mechanism names and choice ---------------------------------------- */

const char *
sasl_mech_name(enum sasl_mech m)
{
	return (unsigned)m < _SASL_MECH_MAX ? mech_names[m] : NULL;
}

bool
sasl_mech_lookup(const char *name, size_t len, enum sasl_mech *out)
{
	if (name == NULL || out == NULL)
		return false;
	for (size_t m = 0; m < ARRAY_SIZE(mech_names); m++) {
		const char *w = mech_names[m];
		size_t i;

		for (i = 0; i < len && w[i] != '\0'; i++) {
			if (ascii_upper(name[i]) != w[i])
				break;
		}
		if (i == len && w[i] == '\0') {
			*out = (enum sasl_mech)m;
			return true;
		}
	}
	return false;
}

/* Parse an allow-list into v[0..*n). */
static int
parse_allow_list(const char *s, enum sasl_mech v[SASL_ALLOW_MAX], size_t *n)
{
	size_t k = 0;

	if (s == NULL)
		return SMTPSEND_E_INVAL;
	for (;;) {
		const char *b, *e;

		while (is_blank(*s))
			s++;
		b = s;
		while (*s != '\0' && *s != ',' && !is_blank(*s))
			s++;
		e = s;
		while (is_blank(*s))
			s++;
		if (*s != '\0' && *s != ',')
			return SMTPSEND_E_INVAL; /* a blank inside a name */
		if (b == e || k == SASL_ALLOW_MAX ||
		    !sasl_mech_lookup(b, (size_t)(e - b), &v[k]))
			return SMTPSEND_E_INVAL;
		k++;
		if (*s == '\0')
			break;
		s++; /* the ',' */
	}
	*n = k;
	return 0;
}

int
sasl_allow_list_check(const char *allow_list)
{
	enum sasl_mech v[SASL_ALLOW_MAX];
	size_t n;

	return parse_allow_list(allow_list, v, &n);
}

int
sasl_choose(const char *allow_list, sasl_offers_fn offers, void *userdata,
	    bool have_cb, enum sasl_mech *out)
{
	enum sasl_mech v[SASL_ALLOW_MAX];
	size_t n;
	int r;

	if (offers == NULL || out == NULL)
		return SMTPSEND_E_INVAL;
	r = parse_allow_list(allow_list, v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == SASL_SCRAM_SHA_256_PLUS && !have_cb)
			continue;
		if (offers(mech_names[v[i]], userdata)) {
			*out = v[i];
			return 0;
		}
	}
	return SMTPSEND_E_UNSUPPORTED;
}

bool
sasl_want_gs2_y(enum sasl_mech mech, const char *allow_list,
		sasl_offers_fn offers, void *userdata, bool have_cb)
{
	enum sasl_mech v[SASL_ALLOW_MAX];
	bool plus_allowed = false;
	size_t n;

	if (mech != SASL_SCRAM_SHA_256 || !have_cb || offers == NULL ||
	    parse_allow_list(allow_list, v, &n) < 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == SASL_SCRAM_SHA_256_PLUS)
			plus_allowed = true;
	}
	return plus_allowed &&
	       !offers(mech_names[SASL_SCRAM_SHA_256_PLUS], userdata);
}

/* ---- the client object ------------------------------------------------- */

void
sasl_init(sasl_client *c)
{
	if (c != NULL)
		*c = SASL_CLIENT_INIT;
}

void
sasl_set_gs2_y(sasl_client *c, bool y)
{
	if (c != NULL && c->state == SASL_ST_NEW)
		c->gs2_y = y;
}

/* Wipe every secret-derived member; the exchange state is kept. */
static void
drop_secrets(sasl_client *c)
{
	secbuf_wipe(&c->ir);
	secbuf_wipe(&c->user);
	secbuf_wipe(&c->secret);
	secbuf_wipe(&c->bare);
	secbuf_wipe(&c->cbind);
	secure_wipe(c->nonce, sizeof(c->nonce));
	secure_wipe(c->server_sig, sizeof(c->server_sig));
	c->deferred = false;
}

void
sasl_clear(sasl_client *c)
{
	if (c == NULL)
		return;
	drop_secrets(c);
	/* All zero is SASL_CLIENT_INIT. */
	secure_wipe(c, sizeof(*c));
}

const char *
sasl_reason(const sasl_client *c)
{
	return c != NULL && c->why != NULL ? c->why : "";
}

/* End the exchange: secrets wiped, state FAILED, reason kept. */
static int
step_fail(sasl_client *c, int code, const char *why)
{
	drop_secrets(c);
	c->state = SASL_ST_FAILED;
	c->why = why;
	return code;
}

/* sasl_start() failed: c goes back to new, only the reason stays. */
static int
start_fail(sasl_client *c, int code, const char *why)
{
	sasl_clear(c);
	c->why = why;
	return code;
}

/* Hand a finished line to the caller: the old one is wiped, *line is
 * moved (not copied) and reset. */
static void
give_line(secbuf *line_out, size_t *show, secbuf *line, size_t shown)
{
	secbuf_wipe(line_out);
	*line_out = *line;
	*line = SECBUF_INIT;
	*show = shown;
}

/* Whether a continuation line carrying the base64 of n bytes fits. */
static bool
response_fits(size_t n)
{
	return n <= SECBUF_MAX && b64_len(n) + 2 <= SMTP_AUTH_LINE_MAX;
}

/* ---- SCRAM-SHA-256 (RFC 5802, RFC 7677) -------------------------------- */

int
sasl_scram_compute(unsigned char proof[SCRAM_HASH_LEN],
		   unsigned char server_sig[SCRAM_HASH_LEN],
		   const char *password, size_t password_len,
		   const unsigned char *salt, size_t salt_len,
		   unsigned iterations, const char *auth_msg, size_t auth_len)
{
	static const char ckey_label[] = "Client Key";
	static const char skey_label[] = "Server Key";
	struct {
		unsigned char salted[SCRAM_HASH_LEN];
		unsigned char ckey[SCRAM_HASH_LEN];
		unsigned char stored[SCRAM_HASH_LEN];
		unsigned char csig[SCRAM_HASH_LEN];
		unsigned char skey[SCRAM_HASH_LEN];
		unsigned char ssig[SCRAM_HASH_LEN];
	} k;
	WIPE_ON_EXIT(k);
	const EVP_MD *md;
	unsigned len = 0;
	bool ok;

	if (proof == NULL || server_sig == NULL || password == NULL ||
	    salt == NULL || auth_msg == NULL || password_len > SECBUF_MAX ||
	    salt_len == 0 || salt_len > SCRAM_SALT_MAX || iterations == 0 ||
	    iterations > SCRAM_ITER_MAX || auth_len > SECBUF_MAX)
		return SMTPSEND_E_INVAL;

	md = EVP_sha256();
	/* SaltedPassword := Hi(Normalize(password), salt, i) */
	ok = md != NULL && PKCS5_PBKDF2_HMAC(password, (int)password_len, salt,
					     (int)salt_len, (int)iterations, md,
					     SCRAM_HASH_LEN, k.salted) == 1;
	/* ClientKey := HMAC(SaltedPassword, "Client Key") */
	ok = ok &&
	     HMAC(md, k.salted, SCRAM_HASH_LEN,
		  (const unsigned char *)ckey_label, sizeof(ckey_label) - 1,
		  k.ckey, &len) != NULL &&
	     len == SCRAM_HASH_LEN;
	/* StoredKey := H(ClientKey) */
	ok =
	    ok &&
	    EVP_Digest(k.ckey, SCRAM_HASH_LEN, k.stored, &len, md, NULL) == 1 &&
	    len == SCRAM_HASH_LEN;
	/* ClientSignature := HMAC(StoredKey, AuthMessage) */
	ok = ok &&
	     HMAC(md, k.stored, SCRAM_HASH_LEN, (const unsigned char *)auth_msg,
		  auth_len, k.csig, &len) != NULL &&
	     len == SCRAM_HASH_LEN;
	/* ServerKey := HMAC(SaltedPassword, "Server Key") */
	ok = ok &&
	     HMAC(md, k.salted, SCRAM_HASH_LEN,
		  (const unsigned char *)skey_label, sizeof(skey_label) - 1,
		  k.skey, &len) != NULL &&
	     len == SCRAM_HASH_LEN;
	/* ServerSignature := HMAC(ServerKey, AuthMessage) */
	ok = ok &&
	     HMAC(md, k.skey, SCRAM_HASH_LEN, (const unsigned char *)auth_msg,
		  auth_len, k.ssig, &len) != NULL &&
	     len == SCRAM_HASH_LEN;
	if (!ok) {
		ERR_clear_error(); /* leave no stale entries for tls.c */
		return SMTPSEND_E_TLS;
	}
	/* ClientProof := ClientKey XOR ClientSignature */
	for (size_t i = 0; i < SCRAM_HASH_LEN; i++)
		proof[i] = k.ckey[i] ^ k.csig[i];
	memcpy(server_sig, k.ssig, SCRAM_HASH_LEN);
	return 0;
}

/* A nonce: printable ASCII other than ',' (RFC 5802 5.1 "printable"). */
static bool
nonce_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return false;
	}
	return n > 0;
}

#ifdef SMTPCRED_TEST_HOOKS
int
sasl_test_set_nonce(sasl_client *c, const char *nonce)
{
	size_t n;

	if (c == NULL || nonce == NULL || c->state != SASL_ST_NEW)
		return SMTPSEND_E_INVAL;
	n = strlen(nonce);
	if (n > SCRAM_NONCE_MAX || !nonce_ok(nonce, n))
		return SMTPSEND_E_INVAL;
	memcpy(c->test_nonce, nonce, n + 1);
	return 0;
}
#endif

static int
scram_make_nonce(sasl_client *c)
{
	unsigned char raw[SCRAM_NONCE_RAW];

#ifdef SMTPCRED_TEST_HOOKS
	if (c->test_nonce[0] != '\0') {
		memcpy(c->nonce, c->test_nonce, sizeof(c->nonce));
		return 0;
	}
#endif
	if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
		ERR_clear_error();
		return SMTPSEND_E_TLS;
	}
	/* base64 has no ',' and is printable: a valid nonce as it is. */
	if (EVP_EncodeBlock((unsigned char *)c->nonce, raw, (int)sizeof(raw)) !=
	    (int)SCRAM_NONCE_LEN)
		return SMTPSEND_E_TLS;
	return 0;
}

/*
 * client-first-message = gs2-header client-first-message-bare, into ir;
 * keeps the bare message, the c= value and the password in c.
 */
static int
scram_client_first(sasl_client *c, secbuf *ir, const char *user,
		   const char *secret, size_t secret_len, const char *authzid,
		   const unsigned char *cb)
{
	_cleanup_secbuf_ secbuf gs2 = SECBUF_INIT;
	bool plus = c->mech == SASL_SCRAM_SHA_256_PLUS;
	int r = 0;

	if (!scram_password_ok(secret, secret_len)) {
		c->why = "the password has control characters or is not UTF-8";
		return SMTPSEND_E_INVAL;
	}
	if (plus && cb == NULL) {
		c->why = "SCRAM-SHA-256-PLUS without channel binding data";
		return SMTPSEND_E_INVAL;
	}
	r = scram_make_nonce(c);
	if (r < 0) {
		c->why = "no random nonce";
		return r;
	}

	/* gs2-header = gs2-cbind-flag "," [ authzid ] "," */
	put_str(&gs2, plus ? "p=tls-exporter," : c->gs2_y ? "y," : "n,", &r);
	if (authzid != NULL && authzid[0] != '\0') {
		put_str(&gs2, "a=", &r);
		put_saslname(&gs2, authzid, &r);
	}
	put_str(&gs2, ",", &r);
	/* client-first-message-bare = "n=" saslname ",r=" c-nonce */
	put_str(&c->bare, "n=", &r);
	put_saslname(&c->bare, user, &r);
	put_str(&c->bare, ",r=", &r);
	put_str(&c->bare, c->nonce, &r);
	put(ir, gs2.data, gs2.len, &r);
	put(ir, c->bare.data, c->bare.len, &r);
	/* c= is base64(gs2-header [cbind-data]) (RFC 5802 7) */
	if (plus)
		put(&gs2, cb, SASL_CB_DATA_LEN, &r);
	put_b64(&c->cbind, gs2.data, gs2.len, &r);
	put(&c->secret, secret, secret_len, &r);
	if (r < 0)
		c->why = "cannot build the SCRAM client-first message";
	return r;
}

/* The value of attribute "<name>=" at *p (up to the next ',' or end);
 * *p is advanced past the ','.  False when the attribute is not next. */
static bool
scram_attr(const char **p, const char *end, char name, const char **val,
	   size_t *vlen)
{
	const char *s = *p, *comma;

	if (end - s < 2 || s[0] != name || s[1] != '=')
		return false;
	s += 2;
	comma = memchr(s, ',', (size_t)(end - s));
	*val = s;
	*vlen = comma != NULL ? (size_t)(comma - s) : (size_t)(end - s);
	*p = comma != NULL ? comma + 1 : end;
	return true;
}

/* server-first-message -> client-final-message (RFC 5802 7). */
static int
scram_server_first(sasl_client *c, const secbuf *msg, secbuf *line)
{
	_cleanup_secbuf_ secbuf salt = SECBUF_INIT;
	_cleanup_secbuf_ secbuf final = SECBUF_INIT;
	_cleanup_secbuf_ secbuf auth = SECBUF_INIT;
	unsigned char proof[SCRAM_HASH_LEN], ssig[SCRAM_HASH_LEN];
	WIPE_ON_EXIT(proof);
	WIPE_ON_EXIT(ssig);
	const char *p = msg->data, *end = msg->data + msg->len;
	const char *rv, *sv, *iv;
	size_t rlen, slen, ilen, nlen;
	unsigned iter = 0;
	int r = 0;

	nlen = strlen(c->nonce);
	for (size_t i = 0; i < msg->len; i++) {
		if (is_ctl((unsigned char)msg->data[i]))
			return step_fail(c, SMTPSEND_E_PROTO,
					 "control characters in the SCRAM "
					 "server-first message");
	}
	if (msg->len >= 2 && p[0] == 'e' && p[1] == '=')
		return step_fail(c, SMTPSEND_E_AUTH,
				 "the server reported a SCRAM error");
	if (msg->len >= 2 && p[0] == 'm' && p[1] == '=')
		return step_fail(c, SMTPSEND_E_PROTO,
				 "the server requires an unknown SCRAM "
				 "extension");
	if (!scram_attr(&p, end, 'r', &rv, &rlen) ||
	    !scram_attr(&p, end, 's', &sv, &slen) ||
	    !scram_attr(&p, end, 'i', &iv, &ilen))
		return step_fail(c, SMTPSEND_E_PROTO,
				 "malformed SCRAM server-first message");
	/* Anything after i= is an extension we may ignore (RFC 5802 5.1). */

	/* The combined nonce must extend ours: otherwise this is a reply to
	 * some other exchange (or a replay). */
	if (rlen <= nlen || memcmp(rv, c->nonce, nlen) != 0 ||
	    !nonce_ok(rv, rlen))
		return step_fail(c, SMTPSEND_E_PROTO,
				 "the SCRAM server nonce does not extend ours");
	r = b64_decode(&salt, sv, slen);
	if (r < 0 || salt.len == 0 || salt.len > SCRAM_SALT_MAX)
		return step_fail(c,
				 r == SMTPSEND_E_NOMEM ? r : SMTPSEND_E_PROTO,
				 "bad SCRAM salt");
	for (size_t i = 0; i < ilen; i++) {
		if (iv[i] < '0' || iv[i] > '9')
			return step_fail(c, SMTPSEND_E_PROTO,
					 "bad SCRAM iteration count");
		if (i < SCRAM_ITER_DIGITS_MAX)
			iter = iter * 10 + (unsigned)(iv[i] - '0');
	}
	if (ilen == 0)
		return step_fail(c, SMTPSEND_E_PROTO,
				 "bad SCRAM iteration count");
	if (ilen > SCRAM_ITER_DIGITS_MAX)
		iter = UINT32_MAX; /* above the ceiling */
	if (iter < SCRAM_ITER_MIN)
		return step_fail(c, SMTPSEND_E_INSECURE,
				 "SCRAM iteration count below 4096");
	if (iter > SCRAM_ITER_MAX)
		return step_fail(c, SMTPSEND_E_LIMIT,
				 "SCRAM iteration count above 1000000");

	/* client-final-message-without-proof = "c=" base64 ",r=" nonce */
	put_str(&final, "c=", &r);
	put(&final, c->cbind.data, c->cbind.len, &r);
	put_str(&final, ",r=", &r);
	put(&final, rv, rlen, &r);
	/* AuthMessage = client-first-bare "," server-first "," final-w/o-p */
	put(&auth, c->bare.data, c->bare.len, &r);
	put_str(&auth, ",", &r);
	put(&auth, msg->data, msg->len, &r);
	put_str(&auth, ",", &r);
	put(&auth, final.data, final.len, &r);
	if (r < 0)
		return step_fail(c, r,
				 "cannot build the SCRAM client-final "
				 "message");

	r = sasl_scram_compute(proof, ssig, c->secret.data, c->secret.len,
			       (const unsigned char *)salt.data, salt.len, iter,
			       auth.data, auth.len);
	secbuf_wipe(&c->secret); /* not needed any more, whatever happened */
	if (r < 0)
		return step_fail(c, r, "SCRAM key derivation failed");

	put_str(&final, ",p=", &r);
	put_b64(&final, proof, sizeof(proof), &r);
	if (r == 0 && !response_fits(final.len))
		r = SMTPSEND_E_LIMIT;
	put_b64(line, final.data, final.len, &r);
	if (r < 0)
		return step_fail(c, r,
				 "cannot build the SCRAM client-final "
				 "message");
	memcpy(c->server_sig, ssig, sizeof(c->server_sig));
	secbuf_wipe(&c->bare);
	secbuf_wipe(&c->cbind);
	c->state = SASL_ST_SCRAM_FINAL;
	return 0;
}

/* server-final-message: the server proves it knows the password. */
static int
scram_server_final(sasl_client *c, const secbuf *msg)
{
	_cleanup_secbuf_ secbuf v = SECBUF_INIT;
	const char *p = msg->data, *end = msg->data + msg->len, *vv;
	size_t vlen;
	int r;

	if (msg->len >= 2 && p[0] == 'e' && p[1] == '=')
		return step_fail(c, SMTPSEND_E_AUTH,
				 "the server reported a SCRAM error");
	if (!scram_attr(&p, end, 'v', &vv, &vlen))
		return step_fail(c, SMTPSEND_E_AUTH,
				 "the SCRAM server-final message has no "
				 "verifier");
	r = b64_decode(&v, vv, vlen);
	if (r == SMTPSEND_E_NOMEM)
		return step_fail(c, r, "out of memory");
	if (r < 0 || v.len != SCRAM_HASH_LEN ||
	    CRYPTO_memcmp(v.data, c->server_sig, SCRAM_HASH_LEN) != 0)
		return step_fail(c, SMTPSEND_E_AUTH,
				 "the server failed to prove it knows the "
				 "password");
	secure_wipe(c->server_sig, sizeof(c->server_sig));
	c->state = SASL_ST_DONE;
	return 0;
}

/* ---- initial responses ------------------------------------------------- */

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd */
static int
plain_ir(secbuf *ir, const char *user, const char *secret, size_t secret_len,
	 const char *authzid)
{
	int r = 0;

	if (authzid != NULL)
		put_str(ir, authzid, &r);
	put(ir, "", 1, &r);
	put(ir, user, strlen(user) + 1, &r);
	put(ir, secret, secret_len, &r);
	return r;
}

/* XOAUTH2: "user=" user ^A "auth=Bearer " token ^A ^A */
static int
xoauth2_ir(secbuf *ir, const char *user, const char *secret, size_t secret_len)
{
	int r = 0;

	put_str(ir, "user=", &r);
	put_str(ir, user, &r);
	put_str(ir, "\001auth=Bearer ", &r);
	put(ir, secret, secret_len, &r);
	put(ir, "\001\001", 2, &r);
	return r;
}

/* OAUTHBEARER (RFC 7628 3.1): gs2-header ^A [host=H ^A] [port=P ^A]
 * "auth=Bearer " token ^A ^A */
static int
oauthbearer_ir(secbuf *ir, const char *user, const char *secret,
	       size_t secret_len, const char *authzid, const char *host,
	       uint16_t port)
{
	char num[8];
	size_t n = sizeof(num);
	int r = 0;

	put_str(ir, "n,a=", &r);
	put_saslname(ir, authzid != NULL && authzid[0] != '\0' ? authzid : user,
		     &r);
	put_str(ir, ",\001", &r);
	if (host != NULL) {
		put_str(ir, "host=", &r);
		put_str(ir, host, &r);
		put_str(ir, "\001", &r);
	}
	if (port != 0) {
		unsigned v = port;

		num[--n] = '\0';
		do {
			num[--n] = (char)('0' + v % 10);
			v /= 10;
		} while (v != 0);
		put_str(ir, "port=", &r);
		put_str(ir, num + n, &r);
		put_str(ir, "\001", &r);
	}
	put_str(ir, "auth=Bearer ", &r);
	put(ir, secret, secret_len, &r);
	put(ir, "\001\001", 2, &r);
	return r;
}

/* ---- start, step, finish ----------------------------------------------- */

/* Argument checks shared by every mechanism; sets c->why. */
static int
check_args(sasl_client *c, enum sasl_mech mech, const char *user,
	   const char *secret, size_t secret_len, const char *authzid,
	   const char *host)
{
	bool has_authzid = authzid != NULL && authzid[0] != '\0';

	if ((unsigned)mech >= _SASL_MECH_MAX) {
		c->why = "unknown SASL mechanism";
		return SMTPSEND_E_INVAL;
	}
	if (user == NULL || user[0] == '\0' || has_ctl(user)) {
		c->why = "the user name is empty or has control characters";
		return SMTPSEND_E_INVAL;
	}
	if (secret == NULL || secret_len == 0 || secret_len > SECBUF_MAX ||
	    memchr(secret, '\0', secret_len) != NULL) {
		c->why = "the secret is empty, too long or has a NUL byte";
		return SMTPSEND_E_INVAL;
	}
	if (has_authzid &&
	    (mech == SASL_LOGIN || mech == SASL_XOAUTH2 || has_ctl(authzid))) {
		c->why = "this authorization identity cannot be sent";
		return SMTPSEND_E_INVAL;
	}
	if ((mech == SASL_XOAUTH2 || mech == SASL_OAUTHBEARER) &&
	    !token_ok(secret, secret_len)) {
		c->why = "the OAuth token has characters outside visible ASCII";
		return SMTPSEND_E_INVAL;
	}
	if (mech == SASL_OAUTHBEARER && host != NULL &&
	    (host[0] == '\0' || has_ctl(host))) {
		c->why = "bad host name for OAUTHBEARER";
		return SMTPSEND_E_INVAL;
	}
	return 0;
}

int
sasl_start(sasl_client *c, enum sasl_mech mech, const char *user,
	   const char *secret, size_t secret_len, const char *authzid,
	   const char *host, uint16_t port, const unsigned char *cb,
	   secbuf *line_out, size_t *show)
{
	_cleanup_secbuf_ secbuf ir = SECBUF_INIT;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	enum sasl_state next;
	bool has_ir = true;
	size_t shown, head;
	int r = 0;

	if (c == NULL)
		return SMTPSEND_E_INVAL;
	if (c->state != SASL_ST_NEW || line_out == NULL || show == NULL)
		return start_fail(c, SMTPSEND_E_INVAL,
				  "sasl_start() on a used client");
	r = check_args(c, mech, user, secret, secret_len, authzid, host);
	if (r < 0)
		return start_fail(c, r, c->why);
	c->mech = mech;

	switch (mech) {
	case SASL_PLAIN:
		r = plain_ir(&ir, user, secret, secret_len, authzid);
		next = SASL_ST_SENT;
		break;
	case SASL_LOGIN:
		/* Answers to the two prompts; no initial response. */
		has_ir = false;
		if (!response_fits(strlen(user)) || !response_fits(secret_len))
			return start_fail(c, SMTPSEND_E_LIMIT,
					  "the credentials do not fit in an "
					  "AUTH line");
		put_str(&c->user, user, &r);
		put(&c->secret, secret, secret_len, &r);
		next = SASL_ST_LOGIN_USER;
		break;
	case SASL_XOAUTH2:
		r = xoauth2_ir(&ir, user, secret, secret_len);
		next = SASL_ST_SENT;
		break;
	case SASL_OAUTHBEARER:
		r = oauthbearer_ir(&ir, user, secret, secret_len, authzid, host,
				   port);
		next = SASL_ST_SENT;
		break;
	case SASL_SCRAM_SHA_256:
	case SASL_SCRAM_SHA_256_PLUS:
		r = scram_client_first(c, &ir, user, secret, secret_len,
				       authzid, cb);
		if (r < 0)
			return start_fail(c, r, c->why);
		next = SASL_ST_SCRAM_FIRST;
		break;
	default:
		return start_fail(c, SMTPSEND_E_INVAL, "unknown mechanism");
	}
	if (r < 0)
		return start_fail(c, r, "cannot build the AUTH command");

	/* "AUTH" SP mech [SP (base64 / "=")] (RFC 4954 4) */
	put_str(&line, "AUTH ", &r);
	put_str(&line, mech_names[mech], &r);
	head = line.len + 1;
	if (!has_ir) {
		shown = line.len;
	} else if (ir.len == 0) {
		put_str(&line, " =", &r);
		shown = head;
	} else if (ir.len <= SECBUF_MAX &&
		   head + b64_len(ir.len) + 2 <= SMTP_AUTH_LINE_MAX) {
		put_str(&line, " ", &r);
		put_b64(&line, ir.data, ir.len, &r);
		shown = head;
	} else if (response_fits(ir.len)) {
		/* Too long for the AUTH line: the client MUST NOT send it
		 * there, but answers the server's first (empty) 334. */
		c->ir = ir;
		ir = SECBUF_INIT;
		c->deferred = true;
		shown = line.len;
	} else {
		return start_fail(c, SMTPSEND_E_LIMIT,
				  "the initial response does not fit in an "
				  "AUTH line");
	}
	if (r < 0)
		return start_fail(c, r, "cannot build the AUTH command");
	c->state = next;
	give_line(line_out, show, &line, shown);
	return 0;
}

int
sasl_step(sasl_client *c, const char *challenge, size_t len, secbuf *line_out,
	  size_t *show)
{
	_cleanup_secbuf_ secbuf dec = SECBUF_INIT;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	int r = 0;

	if (c == NULL)
		return SMTPSEND_E_INVAL;
	if (line_out == NULL || show == NULL || (challenge == NULL && len > 0))
		return step_fail(c, SMTPSEND_E_INVAL, "bad arguments");
	if (c->state == SASL_ST_NEW || c->state == SASL_ST_FAILED) {
		/* Misuse: the client is left as it is. */
		c->why = "no AUTH exchange in progress";
		return SMTPSEND_E_INVAL;
	}
	if (c->state == SASL_ST_FINISHED) {
		c->why = "334 after the exchange succeeded";
		return SMTPSEND_E_PROTO;
	}
	if (++c->steps > SASL_STEPS_MAX)
		return step_fail(c, SMTPSEND_E_PROTO, "endless 334 challenges");
	if (len > SMTP_AUTH_LINE_MAX)
		return step_fail(c, SMTPSEND_E_LIMIT, "over-long challenge");
	r = b64_decode(&dec, challenge != NULL ? challenge : "", len);
	if (r < 0)
		return step_fail(c, r,
				 r == SMTPSEND_E_PROTO
				     ? "the challenge is not base64"
				     : "out of memory");

	if (c->deferred) {
		/* The first 334 (empty for these mechanisms) asks for the
		 * initial response we could not put in the AUTH line. */
		put_b64(&line, c->ir.data, c->ir.len, &r);
		secbuf_wipe(&c->ir);
		c->deferred = false;
		if (r < 0)
			return step_fail(c, r, "cannot build the response");
		give_line(line_out, show, &line, 0);
		return 0;
	}

	switch (c->state) {
	case SASL_ST_SENT:
		if (c->mech == SASL_XOAUTH2) {
			/* An error (JSON): Google's protocol wants an empty
			 * response, then the server sends its 5xx. */
			c->state = SASL_ST_OAUTH_ERROR;
		} else if (c->mech == SASL_OAUTHBEARER) {
			/* RFC 7628 3.2.3: the client answers a lone ^A. */
			put_b64(&line, "\001", 1, &r);
			c->state = SASL_ST_OAUTH_ERROR;
		} else {
			return step_fail(c, SMTPSEND_E_PROTO,
					 "unexpected 334 after the initial "
					 "response");
		}
		drop_secrets(c);
		break;
	case SASL_ST_LOGIN_USER:
		/* The prompt's text ("Username:") is not relied on. */
		put_b64(&line, c->user.data, c->user.len, &r);
		secbuf_wipe(&c->user);
		c->state = SASL_ST_LOGIN_PASS;
		break;
	case SASL_ST_LOGIN_PASS:
		put_b64(&line, c->secret.data, c->secret.len, &r);
		secbuf_wipe(&c->secret);
		c->state = SASL_ST_DONE;
		break;
	case SASL_ST_SCRAM_FIRST:
		r = scram_server_first(c, &dec, &line);
		if (r < 0)
			return r; /* step_fail() already ran */
		break;
	case SASL_ST_SCRAM_FINAL:
		r = scram_server_final(c, &dec);
		if (r < 0)
			return r;
		/* The outcome comes with the 235 after an empty response
		 * (RFC 4954 4: no additional data with success). */
		break;
	default:
		return step_fail(c, SMTPSEND_E_PROTO,
				 "unexpected 334 challenge");
	}
	if (line.data == NULL)
		put(&line, "", 0, &r); /* an empty line, not a NULL one */
	if (r < 0)
		return step_fail(c, r, "cannot build the response");
	give_line(line_out, show, &line, 0);
	return 0;
}

int
sasl_finish(sasl_client *c)
{
	if (c == NULL)
		return SMTPSEND_E_INVAL;
	switch (c->state) {
	case SASL_ST_SENT:
	case SASL_ST_DONE:
		if (c->deferred)
			break; /* 235 before the initial response */
		drop_secrets(c);
		c->state = SASL_ST_FINISHED;
		return 0;
	case SASL_ST_SCRAM_FIRST:
	case SASL_ST_SCRAM_FINAL:
		c->why = "235 before the server proved it knows the password";
		return SMTPSEND_E_AUTH;
	case SASL_ST_NEW:
	case SASL_ST_FINISHED:
	case SASL_ST_FAILED:
		c->why = "no AUTH exchange in progress";
		return SMTPSEND_E_INVAL;
	default:
		break;
	}
	c->why = "235 before the exchange was complete";
	return SMTPSEND_E_AUTH;
}
