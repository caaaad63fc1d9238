/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Declarations shared by the libsend sources (never installed).  Every
 * limit has its reason next to it (STYLE.md section 8.2).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <smtpsend/smtpsend.h>

/* A reply line, without CRLF.  RFC 5321 4.5.3.1.5 allows 512; real servers
 * send a little more in EHLO and error texts. */
#define SMTP_REPLY_LINE_MAX 1000u
/* Lines in one reply: EHLO is the longest legitimate one. */
#define SMTP_REPLY_LINES_MAX 64u
/* Text of one reply, lines joined by '\n'. */
#define SMTP_REPLY_TEXT_MAX (16u * 1024u)
/* A command line, without CRLF (RFC 5321 4.5.3.1.4: 512 with CRLF). */
#define SMTP_CMD_LINE_MAX 510u
/* An AUTH command or continuation (RFC 4954 4: 12288 octets). */
#define SMTP_AUTH_LINE_MAX 12288u
/* A text line of the message, without CRLF (RFC 5322 2.1.1). */
#define SMTP_TEXT_LINE_MAX 998u
/* An address (RFC 5321 4.5.3.1.3: path 256 octets). */
#define SMTP_PATH_MAX 256u
/* SASL round trips before we give up (SCRAM needs 2, LOGIN 2). */
#define SASL_STEPS_MAX 4u

/* ---- errors.c: the one place that fills smtpsend_error --------------- */

/* Set *err (when non-NULL) and return code.  fmt text is sanitised. */
int send_fail(smtpsend_error *err, int code, const char *stage,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same for a server reply: code from the reply's class (4xx
 * temporary, 5xx permanent), reply text (sanitised, truncated) kept. */
int send_fail_reply(smtpsend_error *err, int code, const char *stage,
		    unsigned reply_code, const char *enhanced,
		    const char *text, const char *what);
/* The class a code implies when no reply says otherwise. */
int send_code_class(int code);

/* ---- trace.c ---------------------------------------------------------- */

/* Pass a line to the hook, revealing only its first 'show' bytes (the
 * builder of the line decides; never pattern-matched afterwards). */
void trace_line(smtpsend_trace_fn fn, void *ud, int dir, const char *line,
		size_t len, size_t show);
void trace_note(smtpsend_trace_fn fn, void *ud, int dir, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- broker.c: smtpcredd as the transport (docs/broker.md) ------------- */

typedef struct send_broker send_broker;
int broker_new(send_broker **out, const char *path, const char *account,
	       const smtpsend_options *o, smtpsend_error *err);
void broker_free(send_broker *b);
/* One message through the broker: what smtpsend_send() reports. */
int broker_send(send_broker *b, smtpsend_message *m, smtpsend_result *res,
		smtpsend_error *err);

/* ---- time -------------------------------------------------------------- */

/* Monotonic microseconds. */
int64_t send_now_us(void);
