/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transport: one TCP connection, optionally wrapped in TLS, with a
 * read buffer, deadlines on every wait (poll), and nothing else.  The
 * protocol lives in session.c; parsing in reply.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "internal.h"

/* Bytes read ahead; also bounds what a server can make us buffer. */
#define CONN_RBUF_SIZE (32u * 1024u)

typedef struct conn {
	int fd;
	SSL *ssl;		/* NULL until TLS is up */
	bool loopback;		/* the peer address is 127/8 or ::1 */
	char peer[64];		/* numeric address, for messages */
	char rbuf[CONN_RBUF_SIZE];
	size_t rpos, rlen;	/* unread bytes are rbuf[rpos..rlen) */
} conn;

void conn_init(conn *c);
/* Resolve and connect (every address in turn) before the deadline;
 * TCP_NODELAY is set (commands are small and we pipeline ourselves). */
int conn_open(conn *c, const char *host, uint16_t port, int64_t deadline,
	      smtpsend_error *err);
/* Next line without its CRLF (bare LF tolerated); *len set.  The line
 * points into the read buffer and is valid until the next call. */
int conn_read_line(conn *c, const char **line, size_t *len, int64_t deadline,
		   const char *stage, smtpsend_error *err);
/* Write everything before the deadline. */
int conn_write(conn *c, const void *buf, size_t len, int64_t deadline,
	       const char *stage, smtpsend_error *err);
/* Bytes already received but not consumed (STARTTLS injection check). */
size_t conn_pending(const conn *c);
void conn_close(conn *c);

/* ---- tls.c ------------------------------------------------------------ */

typedef struct tls_config {
	const char *ca_file; /* NULL: system store */
	const char *pin;     /* "sha256//BASE64" or NULL */
	int tls_min;	     /* 12 or 13 */
} tls_config;

/* A client context: TLS >= tls_min, peer verification on, CA store. */
int tls_ctx_new(SSL_CTX **out, const tls_config *cfg, smtpsend_error *err);
/* Handshake on c->fd for host, verify chain + host name (or IP), check
 * the pin.  Any verification failure is SMTPSEND_E_TLS_VERIFY. */
int tls_start(conn *c, SSL_CTX *ctx, const char *host, const char *pin,
	      int64_t deadline, smtpsend_error *err);
/* RFC 9266 tls-exporter channel binding (TLS 1.3 only): 32 bytes. */
bool tls_exporter(conn *c, unsigned char out[32]);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for traces. */
const char *tls_describe(const conn *c, char *buf, size_t n);
