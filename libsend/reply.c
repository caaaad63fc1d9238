/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SMTP reply assembly and line splitting (see reply.h). */
#include <string.h>

#include "reply.h"

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5321 textstring plus 8-bit bytes (see reply.h). */
static bool
is_text_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * Length of an RFC 3463 status code "class.subject.detail" at the start of
 * text (class one digit, subject and detail 1..3 digits), followed by the
 * end of the text or a space (RFC 2034 3).  0 when there is none.
 */
static size_t
enhanced_len(const char *text, size_t len)
{
	size_t i = 1;

	if (len < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') ||
	    text[1] != '.')
		return 0;
	for (int part = 0; part < 2; part++) {
		size_t start = ++i;

		while (i < len && i - start < 3 &&
		       is_digit((unsigned char)text[i]))
			i++;
		if (i == start)
			return 0;
		if (part == 0 && (i >= len || text[i] != '.'))
			return 0;
	}
	if (i < len && text[i] != ' ')
		return 0;
	return i;
}

void
smtp_reply_reset(smtp_reply *r)
{
	if (r == NULL)
		return;
	r->code = 0;
	r->enhanced[0] = '\0';
	r->nlines = 0;
	r->text[0] = '\0';
	r->text_len = 0;
	r->state = REPLY_MORE;
}

/* Check one line; on success *code and *text_off are set. */
static int
check_line(const char *line, size_t len, unsigned *code, size_t *text_off)
{
	const unsigned char *p = (const unsigned char *)line;

	if (len > SMTP_REPLY_LINE_MAX)
		return SMTPSEND_E_LIMIT;
	if (len < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '5' ||
	    !is_digit(p[2]))
		return SMTPSEND_E_PROTO;
	if (len > 3 && p[3] != ' ' && p[3] != '-')
		return SMTPSEND_E_PROTO;
	for (size_t i = 4; i < len; i++) {
		if (!is_text_byte(p[i]))
			return SMTPSEND_E_PROTO;
	}
	*code = (unsigned)(p[0] - '0') * 100 + (unsigned)(p[1] - '0') * 10 +
		(unsigned)(p[2] - '0');
	*text_off = len > 4 ? 4 : len;
	return 0;
}

int
smtp_reply_feed(smtp_reply *r, const char *line, size_t len)
{
	unsigned code;
	size_t off = 0, tlen, need; /* off is not set when check_line fails */
	int rc;

	if (r == NULL)
		return SMTPSEND_E_INVAL;
	if (r->state != REPLY_MORE)
		return SMTPSEND_E_INVAL;
	if (line == NULL) {
		r->state = SMTPSEND_E_INVAL;
		return SMTPSEND_E_INVAL;
	}

	rc = check_line(line, len, &code, &off);
	if (rc == 0 && r->nlines > 0 && code != r->code)
		rc = SMTPSEND_E_PROTO; /* the code changed mid-reply */
	if (rc == 0 && r->nlines >= SMTP_REPLY_LINES_MAX)
		rc = SMTPSEND_E_LIMIT;
	tlen = len - off;
	/* a '\n' before every line but the first, and the final NUL */
	need = tlen + (r->nlines > 0 ? 1 : 0) + 1;
	if (rc == 0 && need > sizeof(r->text) - r->text_len)
		rc = SMTPSEND_E_LIMIT;
	if (rc < 0) {
		r->state = rc;
		return rc;
	}

	if (r->nlines == 0) {
		size_t elen = enhanced_len(line + off, tlen);

		r->code = code;
		if (elen > 0 && line[off] == line[0]) {
			memcpy(r->enhanced, line + off, elen);
			r->enhanced[elen] = '\0';
		}
	} else {
		r->text[r->text_len++] = '\n';
	}
	if (tlen > 0)
		memcpy(r->text + r->text_len, line + off, tlen);
	r->text_len += tlen;
	r->text[r->text_len] = '\0';
	r->nlines++;

	r->state = (len == 3 || line[3] == ' ') ? REPLY_DONE : REPLY_MORE;
	return r->state;
}

bool
smtp_reply_complete(const smtp_reply *r)
{
	return r != NULL && r->state == REPLY_DONE && r->nlines > 0;
}

bool
smtp_reply_line(const smtp_reply *r, size_t idx, const char **line, size_t *len)
{
	const char *p, *end, *nl;

	if (r == NULL || line == NULL || len == NULL || idx >= r->nlines)
		return false;
	p = r->text;
	end = r->text + r->text_len;
	/* Text bytes never include '\n' (refused by the parser), so each
	 * '\n' is a line boundary. */
	for (size_t i = 0; i < idx; i++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return false;
		p = nl + 1;
	}
	nl = memchr(p, '\n', (size_t)(end - p));
	*line = p;
	*len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
	return true;
}

int
smtp_line_next(const char *buf, size_t len, size_t *line_len, size_t *consumed)
{
	/* a full line, its CR and its LF */
	const size_t window = SMTP_REPLY_LINE_MAX + 2;
	const char *nl;
	size_t n;

	if ((buf == NULL && len > 0) || line_len == NULL || consumed == NULL)
		return SMTPSEND_E_INVAL;
	if (len == 0)
		return 0;
	nl = memchr(buf, '\n', len < window ? len : window);
	if (nl == NULL)
		return len < window ? 0 : SMTPSEND_E_LIMIT;
	n = (size_t)(nl - buf);
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > SMTP_REPLY_LINE_MAX)
		return SMTPSEND_E_LIMIT;
	*line_len = n;
	*consumed = (size_t)(nl - buf) + 1;
	return 1;
}
