/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The broker protocol's framing (docs/broker.md), shared by the client in
 * libsend and the broker smtpcredd.  Plain C, no allocation.
 *
 * On a SOCK_STREAM Unix socket, every message is a frame: one type byte,
 * the payload length as 4 bytes big-endian, then the payload (at most
 * WIRE_FRAME_MAX bytes).  Request, answer and result payloads are
 * key=value lines ("\n"-terminated) whose values escape bytes below 0x20,
 * '%' and 0x7f as %XX; message data payloads are raw bytes.
 *
 * Every read and write has a deadline (milliseconds on CLOCK_MONOTONIC);
 * a peer that stalls, closes early, or sends a frame of an unknown type
 * or an oversized length is an error, never a wait without end.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION	1
#define WIRE_FRAME_MAX	(64u * 1024u)	/* payload bytes of one frame */
#define WIRE_HEADER	5		/* type + length */

/* Frame types. */
enum {
	WIRE_REQUEST = 'R', /* client: what to send (key=value) */
	WIRE_GO	     = 'K', /* broker: allowed; send the data */
	WIRE_DATA    = 'D', /* client: message bytes (CRLF lines) */
	WIRE_END     = 'E', /* client: end of data (key=value: size) */
	WIRE_TRACE   = 'T', /* broker: one redacted protocol line */
	WIRE_RESULT  = 'S', /* broker: the outcome (key=value) */
	WIRE_STDOUT  = 'O', /* broker: an admin command's output (bytes) */
	WIRE_STDERR  = 'X', /* broker: its messages (bytes) */
};

/* Milliseconds since an arbitrary point (CLOCK_MONOTONIC). */
int64_t wire_now_ms(void);

/* Write one frame.  0, or -errno (-ETIMEDOUT at the deadline, -EPIPE when
 * the peer is gone, -EMSGSIZE for a payload over WIRE_FRAME_MAX). */
int wire_write(int fd, int type, const void *payload, size_t len,
	       int64_t deadline_ms);

/* Read one frame into buf (cap bytes, at most WIRE_FRAME_MAX useful).
 * 0 with *type and *len set; -ECONNRESET when the peer closed before a
 * whole frame (at a frame boundary too), -ETIMEDOUT, -EMSGSIZE when the
 * announced length exceeds cap, -errno otherwise. */
int wire_read(int fd, int *type, char *buf, size_t cap, size_t *len,
	      int64_t deadline_ms);

/* ---- key=value payloads ------------------------------------------------- */

typedef struct wire_kv {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow; /* something did not fit: do not send */
} wire_kv;

/* Start an empty payload in buf. */
void wire_kv_init(wire_kv *kv, char *buf, size_t cap);
/* Append "key=value\n", the value escaped.  Keys are [a-z0-9_]+. */
void wire_kv_add(wire_kv *kv, const char *key, const char *value);
void wire_kv_addu(wire_kv *kv, const char *key, uint64_t value);

/* Iterate the lines of a received payload.  Each call decodes the next
 * line into key (cap kcap) and value (cap vcap, NUL-terminated, may hold
 * no NUL since %00 is refused).  1 with a pair, 0 at the end, -EINVAL
 * for a malformed line (no '=', bad key, bad escape, too long). */
typedef struct wire_kv_iter {
	const char *p;
	const char *end;
} wire_kv_iter;

void wire_kv_iter_init(wire_kv_iter *it, const char *payload, size_t len);
int wire_kv_next(wire_kv_iter *it, char *key, size_t kcap, char *value,
		 size_t vcap);
