/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for libsend/reply.c.  The input is a byte stream from a
 * server: split into lines by smtp_line_next() as the transport does, fed
 * to the reply parser, reset after each complete reply or error.  Besides
 * the sanitizers, a complete reply must satisfy the documented
 * invariants (abort() otherwise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_complete(const smtp_reply *r)
{
	size_t total = 0, len;
	const char *line;

	if (r->code < 200 || r->code > 559 || r->nlines == 0 ||
	    r->nlines > SMTP_REPLY_LINES_MAX ||
	    r->text_len >= SMTP_REPLY_TEXT_MAX ||
	    strlen(r->text) != r->text_len ||
	    strlen(r->enhanced) >= sizeof(r->enhanced) ||
	    (r->enhanced[0] != '\0' &&
	     (unsigned)(r->enhanced[0] - '0') != r->code / 100))
		abort();
	for (size_t i = 0; i < r->nlines; i++) {
		if (!smtp_reply_line(r, i, &line, &len))
			abort();
		total += len + (i > 0 ? 1 : 0);
	}
	if (total != r->text_len || smtp_reply_line(r, r->nlines, &line, &len))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static smtp_reply r;
	const char *p = (const char *)data;
	size_t left = size;

	smtp_reply_reset(&r);
	while (left > 0) {
		size_t line_len = 0, used = 0;
		int rc = smtp_line_next(p, left, &line_len, &used);

		if (rc == 0) {
			/* the connection closed mid-line: feed what is left */
			line_len = left;
			used = left;
		} else if (rc < 0) {
			/* too long: skip past the next LF, as a transport
			 * that resynchronises would */
			const char *nl = memchr(p, '\n', left);

			used = nl != NULL ? (size_t)(nl - p) + 1 : left;
			p += used;
			left -= used;
			smtp_reply_reset(&r);
			continue;
		}
		if (line_len > used)
			abort();
		rc = smtp_reply_feed(&r, p, line_len);
		if (rc == REPLY_DONE)
			check_complete(&r);
		if (rc != REPLY_MORE)
			smtp_reply_reset(&r);
		p += used;
		left -= used;
	}
	return 0;
}
