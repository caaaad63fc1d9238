/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The DATA encoder: message bytes in, the exact bytes to send after the
 * server's 354 out (RFC 5321 4.5.2 and 4.5.3.1.6).  Pure: no I/O, no
 * allocation, no global state; safe from any thread on distinct objects.
 *
 * What it does to the input:
 *   - every line end becomes CRLF: "\r\n", a bare "\r" and a bare "\n"
 *     each end one line ("\r\r\n" is two line ends);
 *   - every line that starts with '.' gets one more '.' (dot-stuffing);
 *   - finishing ends an unterminated last line with CRLF and appends the
 *     terminator ".\r\n".
 * So the output never holds a bare CR or LF, and never "\r\n.\r\n" before
 * the terminator, whatever the input: "\n.\n", "\r.\r", "\n.\r\n" and
 * the like become stuffed ".." lines (no SMTP smuggling).  An empty
 * input gives ".\r\n" alone.
 *
 * What it refuses (mode "refuse"; the message builder never produces
 * either, raw input is checked when it is spooled):
 *   - a line longer than SMTP_TEXT_LINE_MAX octets, counted without the
 *     line end and without the stuffed dot (RFC 5321 4.5.3.1.6 does not
 *     count that dot either): SMTPSEND_E_LIMIT;
 *   - a NUL byte: SMTPSEND_E_INVAL.
 * Errors are sticky: every later feed or finish returns the same code.
 * The bytes of earlier lines may already have gone to out(), so after an
 * error the caller must not end the DATA phase with a terminator; it
 * drops the connection (there is no way to cancel DATA in SMTP).
 *
 * Memory is constant (sizeof(body_enc), no allocation): the input may be
 * fed in pieces of any size, one byte at a time included, and the bytes
 * passed to out() are the same in total (not necessarily cut the same
 * way).  Each feed passes out every byte its input produced before it
 * returns, so nothing is held back between calls.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Output staged inside the encoder between two out() calls. */
#define BODY_ENC_STAGE_MAX 4096u

/*
 * Receives the encoded bytes (len >= 1; buf borrowed for the call).
 * Returns 0, or a negative smtpsend_code that stops the encoder and is
 * returned by the feed or finish that called it.
 */
typedef int (*body_out_fn)(const char *buf, size_t len, void *userdata);

typedef struct body_enc {
	/* Read-only for callers: */
	uint64_t out_size; /* bytes passed to out() so far (terminator
			    * included after finish) */
	bool eightbit;     /* a byte >= 0x80 was seen (BODY=8BITMIME) */
	/* Private: */
	size_t line_len; /* octets of the current line, before stuffing */
	bool at_bol;     /* the next byte starts a line */
	bool after_cr;   /* the last byte was CR: an LF now is its pair */
	bool finished;
	int error;
	size_t staged;
	char stage[BODY_ENC_STAGE_MAX];
} body_enc;

/* Start (or restart) an encoder.  NULL is a no-op. */
void body_enc_init(body_enc *e);

/*
 * Encode in[0..inlen).  out may be NULL to only count (out_size and
 * eightbit are kept the same way).  Returns 0 or a negative code:
 * SMTPSEND_E_INVAL (NUL byte, e NULL, in NULL with inlen > 0, or feed
 * after finish), SMTPSEND_E_LIMIT (line too long), or out()'s code.
 */
int body_enc_feed(body_enc *e, const void *in, size_t inlen, body_out_fn out,
		  void *userdata);

/*
 * End the data: CRLF after an unterminated last line, then ".\r\n".
 * Returns 0 or a negative code as for body_enc_feed(); finishing twice
 * is SMTPSEND_E_INVAL.
 */
int body_enc_finish(body_enc *e, body_out_fn out, void *userdata);

/*
 * The inverse, for tests and fuzzers: check that in[0..len) is exactly
 * what the encoder can produce (CRLF lines only, every line starting with
 * '.' stuffed, ".\r\n" once at the very end) and write the data without
 * the stuffing and the terminator to out (room for len bytes), its
 * length to *outlen.  Returns 0 or SMTPSEND_E_INVAL (NULL pointers or
 * input the encoder cannot produce).
 */
int body_unstuff(const char *in, size_t len, char *out, size_t *outlen);
