/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The trace hook: redacted protocol lines and notes.  Redaction is decided
 * by whoever builds a line (the 'show' prefix), never by matching the
 * finished line. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void
trace_line(smtpsend_trace_fn fn, void *ud, int dir, const char *line,
	   size_t len, size_t show)
{
	static const char mask[] = "<redacted>";
	char buf[SMTP_REPLY_LINE_MAX + sizeof(mask)];
	size_t n;

	if (fn == NULL)
		return;
	if (show >= len) {
		n = len < SMTP_REPLY_LINE_MAX ? len : SMTP_REPLY_LINE_MAX;
		fn(dir, line, n, ud);
		return;
	}
	n = show < SMTP_REPLY_LINE_MAX ? show : SMTP_REPLY_LINE_MAX;
	memcpy(buf, line, n);
	memcpy(buf + n, mask, sizeof(mask) - 1);
	fn(dir, buf, n + sizeof(mask) - 1, ud);
}

void
trace_note(smtpsend_trace_fn fn, void *ud, int dir, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (fn == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fn(dir, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1,
	   ud);
}
