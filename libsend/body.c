/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The DATA encoder: CRLF, dot-stuffing, limits (see body.h). */
#include <string.h>

#include "body.h"
#include "scan.h"

void
body_enc_init(body_enc *e)
{
	if (e == NULL)
		return;
	e->out_size = 0;
	e->eightbit = false;
	e->line_len = 0;
	e->at_bol = true;
	e->after_cr = false;
	e->finished = false;
	e->error = 0;
	e->staged = 0;
}

static int
fail(body_enc *e, int code)
{
	e->error = code;
	return code;
}

static int
flush(body_enc *e, body_out_fn out, void *userdata)
{
	int r;

	if (e->staged == 0)
		return 0;
	if (out != NULL) {
		r = out(e->stage, e->staged, userdata);
		if (r < 0)
			return fail(e, r);
	}
	e->out_size += e->staged;
	e->staged = 0;
	return 0;
}

/* Stage len bytes, passing full stages to out(). */
static int
put(body_enc *e, const char *p, size_t len, body_out_fn out, void *userdata)
{
	while (len > 0) {
		size_t n = BODY_ENC_STAGE_MAX - e->staged;
		int r;

		if (n > len)
			n = len;
		memcpy(e->stage + e->staged, p, n);
		e->staged += n;
		p += n;
		len -= n;
		if (e->staged == BODY_ENC_STAGE_MAX) {
			r = flush(e, out, userdata);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int
body_enc_feed(body_enc *e, const void *in, size_t inlen, body_out_fn out,
	      void *userdata)
{
	const unsigned char *p = in;
	size_t i = 0;
	int r;

	if (e == NULL)
		return SMTPSEND_E_INVAL;
	if (e->error < 0)
		return e->error;
	if (e->finished || (in == NULL && inlen > 0))
		return fail(e, SMTPSEND_E_INVAL);

	while (i < inlen) {
		unsigned char c = p[i], high = 0;
		size_t j;

		if (e->after_cr) {
			e->after_cr = false;
			if (c == '\n') {
				i++;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			r = put(e, "\r\n", 2, out, userdata);
			if (r < 0)
				return r;
			e->at_bol = true;
			e->line_len = 0;
			e->after_cr = c == '\r';
			i++;
			continue;
		}
		if (c == '\0')
			return fail(e, SMTPSEND_E_INVAL);

		/* A run of line bytes: check it all before passing any on. */
		j = i + scan_line(p + i, inlen - i, &high);
		if (j - i > SMTP_TEXT_LINE_MAX - e->line_len)
			return fail(e, SMTPSEND_E_LIMIT);
		if (e->at_bol && c == '.') {
			r = put(e, ".", 1, out, userdata);
			if (r < 0)
				return r;
		}
		r = put(e, (const char *)p + i, j - i, out, userdata);
		if (r < 0)
			return r;
		e->line_len += j - i;
		e->at_bol = false;
		if (high & 0x80)
			e->eightbit = true;
		i = j;
	}
	return flush(e, out, userdata);
}

int
body_enc_finish(body_enc *e, body_out_fn out, void *userdata)
{
	int r;

	if (e == NULL)
		return SMTPSEND_E_INVAL;
	if (e->error < 0)
		return e->error;
	if (e->finished)
		return fail(e, SMTPSEND_E_INVAL);
	if (!e->at_bol) {
		r = put(e, "\r\n", 2, out, userdata);
		if (r < 0)
			return r;
	}
	r = put(e, ".\r\n", 3, out, userdata);
	if (r < 0)
		return r;
	r = flush(e, out, userdata);
	if (r < 0)
		return r;
	e->finished = true;
	e->at_bol = true;
	e->line_len = 0;
	return 0;
}

int
body_unstuff(const char *in, size_t len, char *out, size_t *outlen)
{
	size_t i = 0, o = 0;

	if (in == NULL || out == NULL || outlen == NULL)
		return SMTPSEND_E_INVAL;
	while (i < len) {
		const char *cr, *lf;
		size_t end, n;

		cr = memchr(in + i, '\r', len - i);
		lf = memchr(in + i, '\n', len - i);
		/* The line ends at the first CR, which must be followed by
		 * LF, and no LF may come before it. */
		if (cr == NULL || (size_t)(cr - in) + 1 >= len ||
		    cr[1] != '\n' || lf != cr + 1)
			return SMTPSEND_E_INVAL;
		end = (size_t)(cr - in);
		n = end - i;
		if (n == 1 && in[i] == '.') {
			if (end + 2 != len)
				return SMTPSEND_E_INVAL;
			*outlen = o;
			return 0;
		}
		if (n > 0 && in[i] == '.') {
			if (in[i + 1] != '.')
				return SMTPSEND_E_INVAL;
			i++;
			n--;
		}
		memcpy(out + o, in + i, n);
		o += n;
		out[o++] = '\r';
		out[o++] = '\n';
		i = end + 2;
	}
	/* No terminator. */
	return SMTPSEND_E_INVAL;
}
