/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SMTP reply assembly (RFC 5321 4.2) and the transport's line splitter.
 * Pure: no I/O, no allocation, no logging, no global state, so the
 * functions are safe to call from any thread on distinct objects, can be
 * tested from tables and fed directly by a fuzzer.
 *
 * What a line may hold (STYLE.md 8.3 rule 5):
 *   - three digits: the first 2..5, the second 0..5, the third 0..9;
 *   - then end of line, ' ' (last line) or '-' (more lines follow);
 *   - then text of HT, 0x20..0x7e or any byte >= 0x80.  Bytes >= 0x80 are
 *     accepted without checking that they form UTF-8: SMTPUTF8 servers
 *     send UTF-8 and some others send Latin-1 in error texts, and
 *     refusing a 5xx because of its wording would hide the real error.
 *     Users of the text escape it before showing it (errors.c does).
 *     NUL, CR, LF, DEL and the other control bytes are refused.
 *   - every line of a reply carries the same code.
 * Limits (internal.h): SMTP_REPLY_LINE_MAX bytes a line, without CRLF;
 * SMTP_REPLY_LINES_MAX lines; SMTP_REPLY_TEXT_MAX bytes of text
 * including the '\n' separators and the final NUL.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

typedef struct smtp_reply {
	unsigned code;     /* 200..559 once a line was accepted */
	char enhanced[16]; /* RFC 3463 "x.y.z" from the first line, or "" */
	size_t nlines;     /* lines accepted so far */
	/* The texts after "NNN-"/"NNN ", joined by '\n', NUL-terminated;
	 * the enhanced code stays in the text. */
	char text[SMTP_REPLY_TEXT_MAX];
	size_t text_len; /* bytes in text, without the NUL */
	int state;       /* private: REPLY_MORE, REPLY_DONE or an error */
} smtp_reply;

enum {
	REPLY_MORE = 0, /* the reply goes on: feed the next line */
	REPLY_DONE = 1, /* the last line was fed: the reply is complete */
};

/* Empty *r for the next reply.  Cheap: the text buffer is not cleared. */
void smtp_reply_reset(smtp_reply *r);

/*
 * Feed one line of a reply, CRLF already removed.  Returns REPLY_MORE,
 * REPLY_DONE, or a negative smtpsend_code:
 *   SMTPSEND_E_PROTO  malformed line, or a code that differs from the
 *                     earlier lines of this reply;
 *   SMTPSEND_E_LIMIT  line, line count or text over the limits above;
 *   SMTPSEND_E_INVAL  r or line NULL, or *r already complete or failed
 *                     (call smtp_reply_reset() first).
 * After an error the reply is failed: fields keep the lines accepted
 * before it, and further feeds return SMTPSEND_E_INVAL until a reset.
 */
int smtp_reply_feed(smtp_reply *r, const char *line, size_t len);

/* True when the last feed returned REPLY_DONE. */
bool smtp_reply_complete(const smtp_reply *r);

/*
 * Line idx (0-based) of the reply's text, without its "NNN-" prefix:
 * *line points into r->text (not NUL-terminated at *len), valid until
 * the next feed or reset.  Returns false when idx >= r->nlines.
 */
bool smtp_reply_line(const smtp_reply *r, size_t idx, const char **line,
		     size_t *len);

/*
 * Find the first line in buf[0..len).  A line ends with CRLF; a bare LF
 * is accepted as a line end too (some servers send one; the CR before an
 * LF is never part of the line, a CR anywhere else is, and the reply
 * parser then refuses it).  Returns:
 *   1  a line was found: *line_len bytes from buf, without the line end,
 *      and *consumed bytes (line plus line end) to drop from the buffer;
 *   0  no line end yet and fewer than SMTP_REPLY_LINE_MAX + 2 bytes: read
 *      more (outputs untouched);
 *   SMTPSEND_E_LIMIT  the line is longer than SMTP_REPLY_LINE_MAX bytes,
 *      whether or not its end has arrived;
 *   SMTPSEND_E_INVAL  a NULL argument (buf may be NULL when len is 0).
 */
int smtp_line_next(const char *buf, size_t len, size_t *line_len,
		   size_t *consumed);
