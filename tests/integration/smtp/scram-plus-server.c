/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A scripted SMTP submission server for SCRAM-SHA-256-PLUS with the
 * tls-exporter channel binding (RFC 5802, 7677, 9266), over STARTTLS
 * with OpenSSL.  No MTA in Debian 12 offers it (Dovecot 2.3 has no
 * channel binding, GNU SASL 1.10 only tls-unique, which TLS 1.3 lacks),
 * so tests/integration/smtp/scram-plus.sh checks the client's side
 * against this server's independent one, over a real handshake.
 *
 *   scram-plus-server PORTFILE LOG CHAIN KEY USER PASSFILE [MODE...]
 *
 * Listens on 127.0.0.1 (port 0), writes the port to PORTFILE, serves one
 * connection after another until killed.  Appends one line per event to
 * LOG: "auth MECH gs2=FLAG binding=ok|none|bad result=CODE", "mail",
 * "message BYTES".  Modes:
 *   tls12      TLS 1.2 at most (no tls-exporter binding for the client)
 *   hide-plus  offer only SCRAM-SHA-256 (yet bind: a "y" flag fails)
 *   bad-cb     compute the binding with another label (proof fails: 535)
 *   bad-sig    send a wrong server signature in the final challenge
 * The password never goes to LOG or stdout.  Test helper only.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#define LINE_MAX_ 4096
#define ITERATIONS 4096

static bool tls12, hide_plus, bad_cb, bad_sig;
static const char *log_path, *user;
static char password[256];

typedef struct {
	int fd;
	SSL *ssl;
	char buf[LINE_MAX_];
	size_t have;
} peer;

/* What the last exchange saw, for its LOG line. */
static char last_flag = '-';
static const char *last_binding = "none";

static void __attribute__((format(printf, 1, 2)))
logf_(const char *fmt, ...)
{
	FILE *f = fopen(log_path, "a");
	va_list ap;

	if (f == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static int
out(peer *p, const char *s)
{
	size_t n = strlen(s);

	if (p->ssl != NULL)
		return SSL_write(p->ssl, s, (int)n) == (int)n ? 0 : -1;
	return write(p->fd, s, n) == (ssize_t)n ? 0 : -1;
}

static ssize_t
in(peer *p, char *b, size_t n)
{
	if (p->ssl != NULL) {
		int r = SSL_read(p->ssl, b, (int)n);

		return r > 0 ? r : -1;
	}
	return read(p->fd, b, n);
}

/* One CRLF-terminated line, without the CRLF; -1 at EOF or on overflow. */
static int
get_line(peer *p, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(p->buf, '\n', p->have);

		if (nl != NULL) {
			size_t len = (size_t)(nl - p->buf);

			if (len >= size)
				return -1;
			memcpy(line, p->buf, len);
			if (len > 0 && line[len - 1] == '\r')
				len--;
			line[len] = '\0';
			p->have -= (size_t)(nl + 1 - p->buf);
			memmove(p->buf, nl + 1, p->have);
			return 0;
		}
		if (p->have == sizeof(p->buf))
			return -1;
		ssize_t r = in(p, p->buf + p->have, sizeof(p->buf) - p->have);

		if (r <= 0)
			return -1;
		p->have += (size_t)r;
	}
}

static int
b64dec(const char *s, unsigned char *outb, size_t size)
{
	size_t n = strlen(s);
	int len, pad = 0;

	if (n % 4 != 0 || n / 4 * 3 > size)
		return -1;
	len = EVP_DecodeBlock(outb, (const unsigned char *)s, (int)n);
	if (len < 0)
		return -1;
	if (n > 0 && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	return len - pad;
}

static void
b64enc(const unsigned char *b, size_t n, char *outs)
{
	EVP_EncodeBlock((unsigned char *)outs, b, (int)n);
}

static void
hmac(const unsigned char *key, size_t klen, const void *msg, size_t mlen,
     unsigned char md[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)klen, msg, mlen, md, &len);
}

/* The server's side of one SCRAM exchange; the SMTP reply code. */
static int
scram(peer *p, bool plus_mech, const char *ir)
{
	unsigned char cf[1024], cfin[1024], salt[16], salted[32], ckey[32],
	    skey[32], stored[32], sig[32], proof[48], cb[32], expect_c[64];
	char line[LINE_MAX_], sfirst[1536], msg[4096], b64[1024], nonce[64];
	unsigned char rnd[18];
	char *bare, *cnonce, *cbind, *cproof, *without;
	const char *binding;
	char flag;
	int n, gs2len;

	n = b64dec(ir, cf, sizeof(cf) - 1);
	if (n <= 0)
		return 501;
	cf[n] = '\0';
	/* gs2-header: "p=tls-exporter,," | "y,," | "n,," (no authzid) */
	if (strncmp((char *)cf, "p=tls-exporter,,", 16) == 0)
		flag = 'p', gs2len = 16;
	else if (strncmp((char *)cf, "y,,", 3) == 0)
		flag = 'y', gs2len = 3;
	else if (strncmp((char *)cf, "n,,", 3) == 0)
		flag = 'n', gs2len = 3;
	else
		return 501;
	if ((flag == 'p') != plus_mech)
		return 535; /* the header must match the mechanism */
	bare = (char *)cf + gs2len;
	if (strncmp(bare, "n=", 2) != 0 ||
	    strncmp(bare + 2, user, strlen(user)) != 0 ||
	    strncmp(bare + 2 + strlen(user), ",r=", 3) != 0)
		return 535;
	cnonce = bare + 2 + strlen(user) + 3;
	if (strlen(cnonce) > 200 || strchr(cnonce, ',') != NULL)
		return 501; /* no extensions expected, nor huge nonces */
	/* binding possible here, yet the client thinks we cannot: stripped */
	last_flag = flag;
	if (flag == 'y' && SSL_version(p->ssl) >= TLS1_3_VERSION) {
		last_binding = "downgrade";
		return 535;
	}
	RAND_bytes(rnd, sizeof(rnd));
	b64enc(rnd, sizeof(rnd), nonce);
	RAND_bytes(salt, sizeof(salt));
	b64enc(salt, sizeof(salt), b64);
	snprintf(sfirst, sizeof(sfirst), "r=%s%s,s=%s,i=%d", cnonce, nonce, b64,
		 ITERATIONS);
	b64enc((unsigned char *)sfirst, strlen(sfirst), b64);
	snprintf(line, sizeof(line), "334 %s\r\n", b64);
	if (out(p, line) < 0 || get_line(p, line, sizeof(line)) < 0)
		return -1;
	n = b64dec(line, cfin, sizeof(cfin) - 1);
	if (n <= 0)
		return 501;
	cfin[n] = '\0';
	/* client-final: c=...,r=...,p=... */
	cbind = (char *)cfin;
	cproof = strstr(cbind, ",p=");
	if (strncmp(cbind, "c=", 2) != 0 || cproof == NULL)
		return 501;
	without = strndup(cbind, (size_t)(cproof - cbind));
	/* c= must be base64(gs2-header [+ the 32 exporter bytes]) */
	memcpy(expect_c, cf, (size_t)gs2len);
	n = gs2len;
	if (flag == 'p') {
		static const char label[] = "EXPORTER-Channel-Binding";
		static const char other[] = "EXPORTER-Something-Else";

		if (SSL_version(p->ssl) < TLS1_3_VERSION ||
		    SSL_export_keying_material(
			p->ssl, cb, 32, bad_cb ? other : label,
			(bad_cb ? sizeof(other) : sizeof(label)) - 1, NULL, 0,
			0) != 1) {
			free(without);
			return 535;
		}
		memcpy(expect_c + n, cb, 32);
		n += 32;
	}
	b64enc(expect_c, (size_t)n, b64);
	{
		char *comma = strchr(cbind, ',');
		size_t clen = comma != NULL ? (size_t)(comma - cbind - 2) : 0;

		binding = clen == strlen(b64) &&
				  memcmp(cbind + 2, b64, clen) == 0
			      ? (flag == 'p' ? "ok" : "none")
			      : "bad";
	}
	snprintf(msg, sizeof(msg), "%s,%s,%s", bare, sfirst, without);
	free(without);
	PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt),
			  ITERATIONS, EVP_sha256(), 32, salted);
	hmac(salted, 32, "Client Key", 10, ckey);
	SHA256(ckey, 32, stored);
	hmac(stored, 32, msg, strlen(msg), sig);
	if (b64dec(cproof + 3, proof, sizeof(proof)) != 32)
		return 501;
	for (int i = 0; i < 32; i++)
		proof[i] ^= sig[i]; /* = the client's ClientKey, if right */
	last_binding = binding;
	if (strcmp(binding, "bad") == 0 || CRYPTO_memcmp(proof, ckey, 32) != 0)
		return 535;
	hmac(salted, 32, "Server Key", 10, skey);
	hmac(skey, 32, msg, strlen(msg), sig);
	if (bad_sig)
		sig[0] ^= 1;
	b64enc(sig, 32, b64);
	snprintf(msg, sizeof(msg), "v=%s", b64);
	b64enc((unsigned char *)msg, strlen(msg), b64);
	snprintf(line, sizeof(line), "334 %s\r\n", b64);
	if (out(p, line) < 0 || get_line(p, line, sizeof(line)) < 0)
		return -1;
	/* "*": the client cancelled (it did not accept our signature) */
	return line[0] == '\0' ? 235 : 501;
}

static void
serve(int fd, SSL_CTX *ctx)
{
	peer p = {.fd = fd};
	char line[LINE_MAX_];
	bool authed = false, in_tx = false;

	if (out(&p, "220 scramplus.test ESMTP test server\r\n") < 0)
		goto done;
	while (get_line(&p, line, sizeof(line)) == 0) {
		if (strncasecmp(line, "EHLO ", 5) == 0) {
			out(&p, "250-scramplus.test\r\n250-8BITMIME\r\n");
			out(&p, p.ssl == NULL ? "250 STARTTLS\r\n"
				: hide_plus   ? "250 AUTH SCRAM-SHA-256\r\n"
					      : "250 AUTH SCRAM-SHA-256-PLUS "
						"SCRAM-SHA-256\r\n");
		} else if (strcasecmp(line, "STARTTLS") == 0 && p.ssl == NULL) {
			out(&p, "220 2.0.0 go ahead\r\n");
			p.ssl = SSL_new(ctx);
			if (p.ssl == NULL || SSL_set_fd(p.ssl, fd) != 1 ||
			    SSL_accept(p.ssl) != 1)
				goto done;
		} else if (strncasecmp(line, "AUTH ", 5) == 0 && p.ssl != NULL &&
			   !authed) {
			char *mech = line + 5, *ir = strchr(mech, ' ');
			bool plus;
			int code;

			if (ir == NULL) {
				out(&p, "501 5.5.2 initial response required\r\n");
				continue;
			}
			*ir++ = '\0';
			plus = strcasecmp(mech, "SCRAM-SHA-256-PLUS") == 0;
			if (!plus && strcasecmp(mech, "SCRAM-SHA-256") != 0) {
				out(&p, "504 5.5.4 mechanism not offered\r\n");
				continue;
			}
			last_flag = '-';
			last_binding = "none";
			code = scram(&p, plus, ir);
			logf_("auth %s gs2=%c binding=%s result=%d", mech,
			      last_flag, last_binding, code);
			if (code < 0)
				goto done;
			authed = code == 235;
			out(&p, code == 235   ? "235 2.7.0 ok\r\n"
				: code == 535 ? "535 5.7.8 authentication failed\r\n"
					      : "501 5.5.2 bad exchange\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			logf_("mail");
			in_tx = authed;
			out(&p, authed ? "250 2.1.0 ok\r\n"
				       : "530 5.7.0 authentication required\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			out(&p, in_tx ? "250 2.1.5 ok\r\n" : "503 5.5.1 no MAIL\r\n");
		} else if (strcasecmp(line, "DATA") == 0 && in_tx) {
			long bytes = 0;

			out(&p, "354 go ahead\r\n");
			while (get_line(&p, line, sizeof(line)) == 0 &&
			       strcmp(line, ".") != 0)
				bytes += (long)strlen(line) + 2;
			logf_("message %ld", bytes);
			in_tx = false;
			out(&p, "250 2.0.0 queued\r\n");
		} else if (strcasecmp(line, "RSET") == 0) {
			in_tx = false;
			out(&p, "250 2.0.0 ok\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			out(&p, "221 2.0.0 bye\r\n");
			break;
		} else {
			out(&p, "502 5.5.2 not here\r\n");
		}
	}
done:
	if (p.ssl != NULL) {
		SSL_shutdown(p.ssl);
		SSL_free(p.ssl);
	}
	close(fd);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	SSL_CTX *ctx;
	FILE *f;
	int ls;

	if (argc < 7) {
		fprintf(stderr, "usage: %s PORTFILE LOG CHAIN KEY USER PASSFILE "
				"[tls12|hide-plus|bad-cb|bad-sig...]\n",
			argv[0]);
		return 2;
	}
	log_path = argv[2];
	user = argv[5];
	for (int i = 7; i < argc; i++) {
		tls12 |= strcmp(argv[i], "tls12") == 0;
		hide_plus |= strcmp(argv[i], "hide-plus") == 0;
		bad_cb |= strcmp(argv[i], "bad-cb") == 0;
		bad_sig |= strcmp(argv[i], "bad-sig") == 0;
	}
	f = fopen(argv[6], "r");
	if (f == NULL || fgets(password, sizeof(password), f) == NULL) {
		fprintf(stderr, "cannot read the password file\n");
		return 1;
	}
	fclose(f);
	password[strcspn(password, "\r\n")] = '\0';
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, argv[3]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[4], SSL_FILETYPE_PEM) != 1 ||
	    (tls12 && SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1)) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(ls, 8) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) < 0) {
		perror("listen");
		return 1;
	}
	f = fopen(argv[1], "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%u\n", ntohs(a.sin_port));
	fclose(f);
	for (;;) {
		int fd = accept(ls, NULL, NULL);

		if (fd >= 0)
			serve(fd, ctx);
	}
}
