/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The encrypted transfer session with the Secret Service, done with
 * OpenSSL (which the sender has loaded anyway) instead of libsecret's
 * libgcrypt code: algorithm dh-ietf1024-sha256-aes128-cbc-pkcs7 of the
 * Secret Service specification (section 7.3).
 *
 *   - Diffie-Hellman on the 1024-bit "Second Oakley Group" (RFC 2409),
 *     generator 2; public keys travel as unsigned big-endian bytes;
 *   - the shared value, padded to the prime's 128 bytes, goes through
 *     HKDF-SHA-256 with no salt and empty info to a 128-bit AES key;
 *   - each secret comes as (session, IV, AES-128-CBC ciphertext with
 *     PKCS#7 padding, content type).
 *
 * Why: libsecret's exchange cost a sending process about 7 ms of CPU
 * (two full-size modular exponentiations in libgcrypt, its first strong
 * random bytes), on the path of every smtpsend run; OpenSSL does the same
 * in a fraction of a millisecond.  The secret never crosses D-Bus in
 * clear: GDBus's buffers hold only ciphertext, and the plaintext is
 * decrypted straight into locked memory that is wiped when the last
 * reference to its SecretValue goes.  Writes (smtpcred add, rotate) still
 * use libsecret's own session.
 *
 * One session per process, opened with the service's unique bus name it
 * belongs to; forgotten when that name changes or the service says the
 * session is gone.
 */
#include "config.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "internal.h"
#include "secbuf.h"

#define ALGORITHM  "dh-ietf1024-sha256-aes128-cbc-pkcs7"
#define PRIME_LEN  128u /* bytes of the 1024-bit prime */
#define KEY_LEN	   16u	/* AES-128 */
#define IV_LEN	   16u
#define PRIV_BITS  256	/* of the private exponent, see keypair() */
#define CIPHER_MAX (KR_SECRET_MAX + 16u)

typedef struct {
	char *path; /* the session object on the service */
	char *dest; /* the service's unique bus name */
	secbuf key; /* KEY_LEN bytes, locked and wiped */
} Session;

static GMutex session_lock;
static Session *session;

static void
session_free(Session *s)
{
	if (s == NULL)
		return;
	g_free(s->path);
	g_free(s->dest);
	secbuf_wipe(&s->key);
	g_free(s);
}

/* Our half of the next exchange, made ahead (kr_session_warm). */
static GMutex spare_lock;
static BIGNUM *spare_x, *spare_y;

static void
spare_clear(void)
{
	g_mutex_lock(&spare_lock);
	BN_clear_free(spare_x);
	BN_free(spare_y);
	spare_x = spare_y = NULL;
	g_mutex_unlock(&spare_lock);
}

void
kr_session_forget(void)
{
	g_mutex_lock(&session_lock);
	g_clear_pointer(&session, session_free);
	g_mutex_unlock(&session_lock);
	spare_clear();
}

__attribute__((destructor)) static void
session_at_exit(void)
{
	kr_session_forget();
}

/* HKDF-SHA-256(no salt, empty info) of the shared value into key. */
static gboolean
derive_key(unsigned char *shared, size_t n, secbuf *key)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[3];
	gboolean ok = FALSE;

	char digest[] = "SHA256";

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      shared, n);
	params[2] = OSSL_PARAM_construct_end();
	if (kctx != NULL && secbuf_reserve(key, KEY_LEN) == 0 &&
	    EVP_KDF_derive(kctx, (unsigned char *)key->data, KEY_LEN,
			   params) == 1) {
		key->len = KEY_LEN;
		ok = TRUE;
	}
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

/* A 256-bit private exponent, never zero, into X and g^X mod P into Y.
 * The group gives about 80 bits of security, and for a safe-prime group
 * RFC 7919 and NIST SP 800-56A rev. 3 ask only that the exponent be at
 * least twice that long (OpenSSL's named groups use such short ones).
 * libsecret draws 1023 bits; 256 make each of our two exponentiations
 * (this one and the shared value's) about three times cheaper here
 * (0.49 -> 0.15 ms), and the service cannot tell the difference. */
static gboolean
keypair(BIGNUM *x, BIGNUM *y, const BIGNUM *p, BN_CTX *ctx)
{
	BIGNUM *g = BN_new();
	gboolean ok = g != NULL && BN_set_word(g, 2);

	do {
		ok = ok && BN_priv_rand_ex(x, PRIV_BITS, BN_RAND_TOP_ANY,
					   BN_RAND_BOTTOM_ANY, 0, ctx);
	} while (ok && BN_is_zero(x));
	ok = ok && BN_mod_exp_mont_consttime(y, g, x, p, ctx, NULL);
	BN_free(g);
	return ok;
}

/* A new keypair into *X and *Y; on failure the caller frees what is
 * there. */
static gboolean
new_keypair(BIGNUM **x, BIGNUM **y, const BIGNUM *p, BN_CTX *ctx)
{
	*x = BN_secure_new();
	*y = BN_new();
	return *x != NULL && *y != NULL && keypair(*x, *y, p, ctx);
}

void
kr_session_warm(void)
{
	BN_CTX *ctx = BN_CTX_secure_new();
	BIGNUM *p = BN_get_rfc2409_prime_1024(NULL);
	BIGNUM *x = NULL, *y = NULL;

	/* OpenSSL's first use (its configuration, the random generator)
	 * happens here, on the caller's thread. */
	if (ctx != NULL && p != NULL && new_keypair(&x, &y, p, ctx)) {
		g_mutex_lock(&spare_lock);
		if (spare_x == NULL) {
			spare_x = g_steal_pointer(&x);
			spare_y = g_steal_pointer(&y);
		}
		g_mutex_unlock(&spare_lock);
	}
	BN_clear_free(x);
	BN_free(y);
	BN_free(p);
	BN_CTX_free(ctx);
}

static Session *
session_open(SmtpcredStore *store, gint64 deadline, gboolean *again,
	     GError **error)
{
	BN_CTX *ctx = BN_CTX_secure_new();
	BIGNUM *p = BN_get_rfc2409_prime_1024(NULL);
	BIGNUM *x = NULL, *y = NULL;
	BIGNUM *peer = NULL, *z = BN_secure_new(), *pm1 = BN_new();
	unsigned char pub[PRIME_LEN], shared[PRIME_LEN];
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) output = NULL;
	const unsigned char *theirs;
	const char *path;
	Session *s = NULL;
	gsize n_theirs = 0;
	int n_pub;

	if (ctx == NULL || p == NULL || z == NULL || pm1 == NULL ||
	    !BN_sub(pm1, p, BN_value_one()))
		goto oom;
	/* A keypair made ahead is used once, for this exchange only. */
	g_mutex_lock(&spare_lock);
	x = g_steal_pointer(&spare_x);
	y = g_steal_pointer(&spare_y);
	g_mutex_unlock(&spare_lock);
	if (x == NULL && !new_keypair(&x, &y, p, ctx))
		goto oom;
	/* Padded to the prime's length: kwalletd refuses a key of any other
	 * size ("Client public key size is invalid"), which unpadded would
	 * be one exchange in 256; gnome-keyring and KeePassXC take both. */
	n_pub = BN_bn2binpad(y, pub, PRIME_LEN);
	reply = kr_service_call(
	    store, "OpenSession",
	    g_variant_new("(sv)", ALGORITHM,
			  g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, pub,
						    (gsize)n_pub, 1)),
	    "(vo)", deadline, "open session", error);
	if (reply == NULL)
		goto out;
	g_variant_get(reply, "(v&o)", &output, &path);
	if (!g_variant_is_of_type(output, G_VARIANT_TYPE_BYTESTRING))
		goto bad;
	theirs = g_variant_get_fixed_array(output, &n_theirs, 1);
	/* kwalletd sometimes sends 129 bytes, a 0x00 first (QCA's signed
	 * big-endian form): leading zero bytes say nothing of the value. */
	while (n_theirs > 1 && theirs[0] == 0) {
		theirs++;
		n_theirs--;
	}
	peer = BN_bin2bn(theirs, (int)MIN(n_theirs, (gsize)PRIME_LEN + 1),
			 NULL);
	/* 1 < peer < p - 1, or the shared value is trivial. */
	if (peer == NULL || n_theirs == 0 || n_theirs > PRIME_LEN ||
	    BN_cmp(peer, BN_value_one()) <= 0 || BN_cmp(peer, pm1) >= 0)
		goto bad;
	if (!BN_mod_exp_mont_consttime(z, peer, x, p, ctx, NULL) ||
	    BN_bn2binpad(z, shared, PRIME_LEN) != (int)PRIME_LEN)
		goto oom;
	/* The specification pads the shared value to 128 bytes before the
	 * HKDF; kwalletd (QCA) feeds it without its leading zero bytes, so
	 * when there are some (one exchange in 256) the two keys differ and
	 * no secret would decrypt.  Such an exchange is dropped and another
	 * made, with a fresh keypair: it does not matter which form the
	 * service uses. */
	if (shared[0] == 0) {
		g_autoptr(GVariant) closed = g_dbus_connection_call_sync(
		    store->bus, store->dest, path,
		    "org.freedesktop.Secret.Session", "Close", NULL, NULL,
		    G_DBUS_CALL_FLAGS_NONE,
		    (int)MAX((deadline - g_get_monotonic_time()) / 1000, 1),
		    NULL, NULL);

		*again = TRUE;
		goto out;
	}
	s = g_new0(Session, 1);
	if (!derive_key(shared, PRIME_LEN, &s->key)) {
		session_free(g_steal_pointer(&s));
		goto oom;
	}
	s->path = g_strdup(path);
	s->dest = g_strdup(store->dest);
	goto out;

bad:
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
		    "the Secret Service answered the key exchange with a "
		    "bad public key");
	goto out;
oom:
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
		    "the key exchange with the Secret Service failed: out "
		    "of memory or no random bytes");
out:
	secure_wipe(shared, sizeof(shared));
	BN_clear_free(x);
	BN_clear_free(z);
	BN_free(p);
	BN_free(y);
	BN_free(pm1);
	BN_free(peer);
	BN_CTX_free(ctx);
	return s;
}

char *
kr_session_path(SmtpcredStore *store, gint64 deadline, GError **error)
{
	Session *s;
	char *path = NULL;

	g_mutex_lock(&session_lock);
	if (session != NULL && g_strcmp0(session->dest, store->dest) != 0)
		g_clear_pointer(&session, session_free);
	for (int i = 0; session == NULL && i < 4; i++) {
		gboolean again = FALSE;

		session = session_open(store, deadline, &again, error);
		if (!again)
			break;
	}
	if (session == NULL && error != NULL && *error == NULL)
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "the key exchange with the Secret Service gave a "
			    "shared value with leading zero bytes four times");
	s = session;
	if (s != NULL)
		path = g_strdup(s->path);
	g_mutex_unlock(&session_lock);
	return path;
}

/* The plaintext's home: locked pages, wiped when libsecret drops the
 * SecretValue (its destroy notify gets the data pointer; the secbuf that
 * owns the pages sits right before it). */
typedef struct {
	secbuf b;
} Plain;

static void
plain_free(gpointer data)
{
	Plain *h;

	memcpy(&h, (char *)data - sizeof(Plain *), sizeof(h));
	secbuf_wipe(&h->b);
	g_free(h);
}

SecretValue *
kr_session_decode(GVariant *secret, GError **error)
{
	g_autoptr(GVariant) iv = NULL;
	g_autoptr(GVariant) value = NULL;
	const unsigned char *ivp, *ct;
	const char *path, *ctype;
	EVP_CIPHER_CTX *c = NULL;
	Plain *h = NULL;
	gsize n_iv = 0, n_ct = 0;
	char *out;
	int l1 = 0, l2 = 0;
	gboolean ok = FALSE;

	if (!g_variant_is_of_type(secret, G_VARIANT_TYPE("(oayays)")))
		goto bad;
	g_variant_get(secret, "(&o@ay@ay&s)", &path, &iv, &value, &ctype);
	ivp = g_variant_get_fixed_array(iv, &n_iv, 1);
	ct = g_variant_get_fixed_array(value, &n_ct, 1);
	if (n_iv != IV_LEN || n_ct == 0 || n_ct % 16 != 0 ||
	    n_ct > CIPHER_MAX)
		goto bad;

	h = g_new0(Plain, 1);
	if (secbuf_reserve(&h->b, sizeof(Plain *) + n_ct + 16) != 0) {
		g_free(h);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "out of locked memory for a secret");
		return NULL;
	}
	memcpy(h->b.data, &h, sizeof(h));
	out = h->b.data + sizeof(Plain *);

	g_mutex_lock(&session_lock);
	c = EVP_CIPHER_CTX_new();
	ok = session != NULL && strcmp(path, session->path) == 0 &&
	     c != NULL &&
	     EVP_DecryptInit_ex2(c, EVP_aes_128_cbc(),
				 (const unsigned char *)session->key.data, ivp,
				 NULL) == 1 &&
	     EVP_DecryptUpdate(c, (unsigned char *)out, &l1, ct,
			       (int)n_ct) == 1 &&
	     EVP_DecryptFinal_ex(c, (unsigned char *)out + l1, &l2) == 1;
	g_mutex_unlock(&session_lock);
	EVP_CIPHER_CTX_free(c); /* cleanses the key schedule */
	if (!ok) {
		plain_free(out);
		goto bad;
	}
	out[l1 + l2] = '\0';
	return secret_value_new_full(out, l1 + l2,
				     ctype[0] != '\0' ? ctype : "text/plain",
				     plain_free);

bad:
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
		    "the Secret Service sent a secret this process cannot "
		    "decrypt (another session, or damaged)");
	return NULL;
}
