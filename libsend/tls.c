/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TLS client (OpenSSL 3): TLS >= 1.2, chain verification always on, host
 * name (or IP address) checked by OpenSSL, SNI, optional SPKI pin.  Never
 * our own name matcher (STYLE.md 8.3).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "alloc.h"
#include "conn.h"

/* Drain OpenSSL's error queue into *err, keeping the first entry. */
static int
tls_fail(smtpsend_error *err, int code, const char *stage, const char *what)
{
	unsigned long e, first = 0;
	char buf[160] = "";

	while ((e = ERR_get_error()) != 0)
		if (first == 0)
			first = e;
	if (first != 0)
		ERR_error_string_n(first, buf, sizeof(buf));
	return send_fail(err, code, stage, "%s%s%s", what, *buf ? ": " : "",
			 buf);
}

/*
 * Contexts are shared within the process: building one costs more CPU
 * than the rest of a TLS handshake (parsing the CA file or the system
 * store).  A cached context is reused only while its CA file is the same
 * file with the same size and modification time, so a replaced or edited
 * CA file is read again.  Only what the context holds is shared (the CA
 * store and settings); pins, host names and sessions are per connection,
 * and session caching stays off.
 */
#define CTX_CACHE_SLOTS 4

typedef struct {
	char *ca_file; /* NULL: the system store */
	int tls_min;
	struct stat st;
	SSL_CTX *ctx;
} ctx_slot;

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static ctx_slot ctx_cache[CTX_CACHE_SLOTS];
static unsigned ctx_next;

/* The file whose identity keys the cache entry: the CA file, or the
 * system bundle (SSL_CERT_FILE or OpenSSL's default). */
static bool
ctx_identity(const tls_config *cfg, struct stat *st)
{
	const char *f = cfg->ca_file;

	if (f == NULL) {
		if (getenv(X509_get_default_cert_dir_env()) != NULL)
			return false; /* a directory store: not cached */
		f = getenv(X509_get_default_cert_file_env());
		if (f == NULL)
			f = X509_get_default_cert_file();
	}
	memset(st, 0, sizeof(*st));
	return stat(f, st) == 0 && S_ISREG(st->st_mode);
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static bool
same_name(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static SSL_CTX *
ctx_cache_get(const tls_config *cfg, const struct stat *st)
{
	SSL_CTX *found = NULL;

	pthread_mutex_lock(&ctx_lock);
	for (unsigned i = 0; i < CTX_CACHE_SLOTS; i++) {
		ctx_slot *c = &ctx_cache[i];

		if (c->ctx != NULL && c->tls_min == cfg->tls_min &&
		    same_name(c->ca_file, cfg->ca_file) &&
		    same_file(&c->st, st) && SSL_CTX_up_ref(c->ctx) == 1) {
			found = c->ctx;
			break;
		}
	}
	pthread_mutex_unlock(&ctx_lock);
	return found;
}

static void
ctx_cache_put(const tls_config *cfg, const struct stat *st, SSL_CTX *ctx)
{
	char *name = NULL;
	ctx_slot *c;

	if (cfg->ca_file != NULL) {
		size_t n = strlen(cfg->ca_file) + 1;

		name = common_malloc(n);
		if (name == NULL)
			return; /* not cached: still correct */
		memcpy(name, cfg->ca_file, n);
	}
	if (SSL_CTX_up_ref(ctx) != 1) {
		common_free(name);
		return;
	}
	pthread_mutex_lock(&ctx_lock);
	c = &ctx_cache[ctx_next++ % CTX_CACHE_SLOTS];
	SSL_CTX_free(c->ctx);
	common_free(c->ca_file);
	c->ca_file = name;
	c->tls_min = cfg->tls_min;
	c->st = *st;
	c->ctx = ctx;
	pthread_mutex_unlock(&ctx_lock);
}

static int tls_ctx_build(SSL_CTX **out, const tls_config *cfg,
			 smtpsend_error *err);

int
tls_ctx_new(SSL_CTX **out, const tls_config *cfg, smtpsend_error *err)
{
	struct stat st;
	bool cacheable = ctx_identity(cfg, &st);
	int r;

	if (cacheable) {
		*out = ctx_cache_get(cfg, &st);
		if (*out != NULL)
			return 0;
	}
	r = tls_ctx_build(out, cfg, err);
	if (r == 0 && cacheable)
		ctx_cache_put(cfg, &st, *out);
	return r;
}

static int
tls_ctx_build(SSL_CTX **out, const tls_config *cfg, smtpsend_error *err)
{
	SSL_CTX *ctx;
	int ok;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return tls_fail(err, SMTPSEND_E_TLS, "tls-setup",
				"cannot create a TLS context");
	if (SSL_CTX_set_min_proto_version(
		ctx, cfg->tls_min >= 13 ? TLS1_3_VERSION : TLS1_2_VERSION) !=
	    1)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ok = cfg->ca_file != NULL
		 ? SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL)
		 : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		SSL_CTX_free(ctx);
		return tls_fail(err, SMTPSEND_E_TLS, "tls-setup",
				cfg->ca_file != NULL
				    ? "cannot load the CA file"
				    : "cannot load the system CA store");
	}
	/* Every session is new: no tickets to store or leak. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
				     SSL_OP_NO_RENEGOTIATION);
	*out = ctx;
	return 0;

fail:
	SSL_CTX_free(ctx);
	return tls_fail(err, SMTPSEND_E_TLS, "tls-setup",
			"cannot configure TLS");
}

static bool
is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

/* Compare the peer's SubjectPublicKeyInfo SHA-256 with "sha256//B64". */
static int
check_pin(SSL *ssl, const char *pin, smtpsend_error *err)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned char b64[64];
	unsigned mdlen = 0;
	int len;

	if (cert == NULL)
		return send_fail(err, SMTPSEND_E_TLS_VERIFY, "tls-verify",
				 "the server sent no certificate");
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0 || EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(),
				   NULL) != 1) {
		OPENSSL_free(der);
		return tls_fail(err, SMTPSEND_E_TLS, "tls-verify",
				"cannot hash the server's public key");
	}
	OPENSSL_free(der);
	EVP_EncodeBlock(b64, md, (int)mdlen);
	if (strlen(pin) != 8 + 44 ||
	    CRYPTO_memcmp(pin + 8, b64, 44) != 0)
		return send_fail(err, SMTPSEND_E_TLS_VERIFY, "tls-verify",
				 "the server's public key does not match the "
				 "pin (sha256//%s)",
				 b64);
	return 0;
}

int
tls_start(conn *c, SSL_CTX *ctx, const char *host, const char *pin,
	  int64_t deadline, smtpsend_error *err)
{
	SSL *ssl;
	long vr;

	ERR_clear_error();
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		return tls_fail(err, SMTPSEND_E_TLS, "tls-setup",
				"cannot create a TLS connection");
	if (is_ip_literal(host)) {
		/* No SNI for addresses (RFC 6066 3); check the IP SAN. */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) !=
		    1)
			goto setup_fail;
	} else {
		/* SSL_set_tlsext_host_name() is a macro taking a non-const
		 * pointer (OpenSSL copies the name and refuses one over
		 * TLSEXT_MAXLEN_host_name): give it our own copy
		 * rather than casting const away. */
		char sni[TLSEXT_MAXLEN_host_name + 1];
		size_t n = strlen(host);

		if (n >= sizeof(sni))
			goto setup_fail;
		memcpy(sni, host, n + 1);
		if (SSL_set_tlsext_host_name(ssl, sni) != 1 ||
		    SSL_set1_host(ssl, host) != 1)
			goto setup_fail;
	}
	if (SSL_set_fd(ssl, c->fd) != 1)
		goto setup_fail;

	for (;;) {
		int r = SSL_connect(ssl), e;
		short ev;

		if (r == 1)
			break;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			struct pollfd p;
			int64_t left = deadline - send_now_us();

			ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
			p = (struct pollfd){.fd = c->fd, .events = ev};
			if (left <= 0) {
				SSL_free(ssl);
				return send_fail(err, SMTPSEND_E_TIMEOUT,
						 "tls-handshake",
						 "TLS handshake timed out");
			}
			if (poll(&p, 1, (int)((left + 999) / 1000)) < 0 &&
			    errno != EINTR) {
				SSL_free(ssl);
				return send_fail(err, SMTPSEND_E_IO,
						 "tls-handshake", "poll failed");
			}
			continue;
		}
		if (BIO_number_read(SSL_get_rbio(ssl)) == 0 &&
		    (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ||
		     ERR_GET_REASON(ERR_peek_error()) ==
			 SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
			/* The peer went away before sending a single
			 * handshake byte: a network failure to retry, not a
			 * TLS refusal (a server that answers and then fails
			 * the handshake is refused below). */
			ERR_clear_error();
			SSL_free(ssl);
			return send_fail(err, SMTPSEND_E_IO, "tls-handshake",
					 "the server closed the connection "
					 "during the TLS handshake");
		}
		vr = SSL_get_verify_result(ssl);
		if (vr != X509_V_OK) {
			ERR_clear_error();
			SSL_free(ssl);
			return send_fail(err, SMTPSEND_E_TLS_VERIFY,
					 "tls-verify",
					 "certificate of '%s' refused: %s",
					 host,
					 X509_verify_cert_error_string(vr));
		}
		SSL_free(ssl);
		return tls_fail(err, SMTPSEND_E_TLS, "tls-handshake",
				"TLS handshake failed");
	}
	/* A second check: the handshake must already have failed. */
	vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK || SSL_get0_peer_certificate(ssl) == NULL) {
		SSL_free(ssl);
		return send_fail(err, SMTPSEND_E_TLS_VERIFY, "tls-verify",
				 "certificate of '%s' refused: %s", host,
				 X509_verify_cert_error_string(vr));
	}
	if (pin != NULL) {
		int r = check_pin(ssl, pin, err);

		if (r < 0) {
			SSL_free(ssl);
			return r;
		}
	}
	c->ssl = ssl;
	return 0;

setup_fail:
	SSL_free(ssl);
	return tls_fail(err, SMTPSEND_E_TLS, "tls-setup",
			"cannot set up TLS for the host");
}

bool
tls_exporter(conn *c, unsigned char out[32])
{
	static const char label[] = "EXPORTER-Channel-Binding";

	if (c->ssl == NULL || SSL_version(c->ssl) < TLS1_3_VERSION)
		return false;
	return SSL_export_keying_material(c->ssl, out, 32, label,
					  sizeof(label) - 1, NULL, 0, 0) == 1;
}

const char *
tls_describe(const conn *c, char *buf, size_t n)
{
	if (c->ssl == NULL)
		snprintf(buf, n, "plaintext");
	else
		snprintf(buf, n, "%s %s", SSL_get_version(c->ssl),
			 SSL_get_cipher_name(c->ssl));
	return buf;
}
