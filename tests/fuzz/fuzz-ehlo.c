/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for libsend/ehlo.c.  The input's lines (split at LF, CR
 * before it dropped) become an EHLO reply: with the first byte even each
 * line gets a "250-" prefix ("250 " for the last), with it odd the lines
 * are fed as they are, so replies with other codes and broken ones reach
 * the parser too.  Properties checked (abort() otherwise): a parse fails
 * exactly when the reply is not a complete 250; every advertised name is
 * found by smtp_caps_has_auth(); the names are NUL-terminated in their
 * buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ehlo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_caps(const smtp_caps *c)
{
	const char *p = c->auth_names;
	size_t n = strnlen(c->auth_names, sizeof(c->auth_names));

	if (n >= sizeof(c->auth_names))
		abort();
	if ((c->auth != 0 || n > 0) && !c->auth_present)
		abort();
	if (!c->size_present && c->size_max != 0)
		abort();
	while (*p != '\0') {
		char name[SMTP_SASL_NAME_MAX + 1];
		size_t len = strcspn(p, " ");

		if (len == 0 || len > SMTP_SASL_NAME_MAX)
			abort();
		memcpy(name, p, len);
		name[len] = '\0';
		if (!smtp_caps_has_auth(c, name))
			abort();
		p += len;
		if (*p == ' ')
			p++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static smtp_reply r;
	static char line[SMTP_REPLY_LINE_MAX + 1];
	const char *p, *end;
	bool raw;
	smtp_caps c;
	int rc = REPLY_MORE, pr;

	if (size == 0)
		return 0;
	raw = (data[0] & 1) != 0;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	smtp_reply_reset(&r);
	while (p < end && rc == REPLY_MORE) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		size_t o = 0;

		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (!raw) {
			memcpy(line, nl != NULL ? "250-" : "250 ", 4);
			o = 4;
		}
		if (len > sizeof(line) - 1 - o)
			len = sizeof(line) - 1 - o;
		memcpy(line + o, p, len);
		rc = smtp_reply_feed(&r, line, o + len);
		p = nl != NULL ? nl + 1 : end;
	}

	memset(&c, 0, sizeof(c));
	pr = smtp_caps_parse(&c, &r);
	if ((pr == 0) != (smtp_reply_complete(&r) && r.code == 250))
		abort();
	if (pr == 0)
		check_caps(&c);
	return 0;
}
