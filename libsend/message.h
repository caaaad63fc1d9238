/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The message object behind smtpsend_message_*: what the session needs to
 * send it (envelope, flags, exact size) and a reader for its bytes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef struct msg_prep {
	char *from_path;	 /* "<local@a-label>" or "<>" */
	size_t nrcpt;
	char **rcpt_paths;	 /* "<local@a-label>" */
	char **rcpt_addrs;	 /* addr-spec, for results */
	bool smtputf8;		 /* an address needs SMTPUTF8 */
	bool eightbit;		 /* the body has 8-bit bytes */
	uint64_t size;		 /* bytes of the message as sent */
	const char *dsn_notify;	 /* borrowed from the message */
	const char *dsn_ret;
	const char *dsn_envid;
} msg_prep;

/* Resolve the envelope and measure the message (reads attachments and
 * spools raw input once, in constant memory). */
int message_prepare(smtpsend_message *m, msg_prep *p, smtpsend_error *err);
void msg_prep_clear(msg_prep *p);

/* The message bytes (RFC 5322, lines ending in CRLF), pulled in pieces.
 * *got == 0 means the end. */
typedef struct msg_reader msg_reader;
int message_open(smtpsend_message *m, msg_reader **out, smtpsend_error *err);
int msg_reader_read(msg_reader *r, char *buf, size_t n, size_t *got,
		    smtpsend_error *err);
void msg_reader_close(msg_reader *r);
