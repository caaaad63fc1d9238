/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for libsend/body.c, the DATA encoder.  The input is encoded
 * whole, one octet at a time, and in pieces whose sizes come from the
 * input.  Properties (abort() otherwise):
 *   - the three runs agree: the same output, or the same error;
 *   - an error is SMTPSEND_E_INVAL exactly when a NUL comes before any
 *     line over SMTP_TEXT_LINE_MAX octets, SMTPSEND_E_LIMIT otherwise;
 *   - the output has CRLF line ends only, "\r\n.\r\n" only as its very
 *     end (no SMTP smuggling), and no line over SMTP_TEXT_LINE_MAX + 1
 *     octets (the stuffed dot);
 *   - body_unstuff() of the output is the input with its line ends made
 *     CRLF and a final one added;
 *   - out_size and eightbit are right.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IN_MAX (64u * 1024u)

struct sink {
	char *buf;
	size_t len;
	size_t cap;
};

static int
sink_out(const char *buf, size_t len, void *userdata)
{
	struct sink *s = userdata;

	if (len == 0 || len > s->cap - s->len)
		abort();
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	return 0;
}

/* Encode with piece sizes taken in turn from sizes[0..nsizes). */
static int
encode(const uint8_t *in, size_t len, const size_t *sizes, size_t nsizes,
       struct sink *s, body_enc *e)
{
	size_t off = 0, k = 0;
	int r;

	s->len = 0;
	body_enc_init(e);
	while (off < len) {
		size_t n = sizes[k++ % nsizes];

		if (n > len - off)
			n = len - off;
		r = body_enc_feed(e, in + off, n, sink_out, s);
		if (r < 0)
			return r;
		off += n;
	}
	return body_enc_finish(e, sink_out, s);
}

/* The error the input must give: 0, SMTPSEND_E_INVAL or _LIMIT. */
static int
expected_error(const uint8_t *in, size_t len)
{
	size_t line = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			line = 0;
			continue;
		}
		if (in[i] == '\0')
			return SMTPSEND_E_INVAL;
		if (++line > SMTP_TEXT_LINE_MAX)
			return SMTPSEND_E_LIMIT;
	}
	return 0;
}

static size_t
normalise(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0;
	bool bol = true;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
				i++;
			out[o++] = '\r';
			out[o++] = '\n';
			bol = true;
		} else {
			out[o++] = (char)in[i];
			bol = false;
		}
	}
	if (!bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

static void
check_wire(const char *out, size_t len)
{
	size_t start = 0;

	if (len < 3 || memcmp(out + len - 3, ".\r\n", 3) != 0)
		abort();
	if (len > 3 && memcmp(out, ".\r\n", 3) == 0)
		abort();
	for (size_t i = 0; i < len; i++) {
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();
		if (out[i] != '\r')
			continue;
		if (i + 1 >= len || out[i + 1] != '\n')
			abort();
		if (i - start > SMTP_TEXT_LINE_MAX + 1)
			abort();
		if (i + 5 <= len && memcmp(out + i, "\r\n.\r\n", 5) == 0 &&
		    i + 5 != len)
			abort();
		start = i + 2;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t whole[] = {IN_MAX}, one[] = {1};
	size_t pieces[8], cap = 2 * size + 8, nlen, blen = 0;
	struct sink a, b;
	char *norm, *back;
	bool high = false;
	body_enc e;
	int ra, rb, want;

	if (size > IN_MAX)
		return 0;
	for (size_t i = 0; i < 8; i++)
		pieces[i] = 1 + (size > i ? data[i] : i) % 97;
	a = (struct sink){malloc(cap), 0, cap};
	b = (struct sink){malloc(cap), 0, cap};
	norm = malloc(cap);
	back = malloc(cap);
	if (a.buf == NULL || b.buf == NULL || norm == NULL || back == NULL)
		abort();

	want = expected_error(data, size);
	ra = encode(data, size, whole, 1, &a, &e);
	if (ra != want)
		abort();
	rb = encode(data, size, one, 1, &b, &e);
	if (rb != ra ||
	    (ra == 0 && (b.len != a.len || memcmp(a.buf, b.buf, a.len) != 0)))
		abort();
	rb = encode(data, size, pieces, 8, &b, &e);
	if (rb != ra ||
	    (ra == 0 && (b.len != a.len || memcmp(a.buf, b.buf, a.len) != 0)))
		abort();

	if (ra == 0) {
		if (e.out_size != a.len)
			abort();
		for (size_t i = 0; i < size; i++)
			high |= data[i] >= 0x80;
		if (e.eightbit != high)
			abort();
		check_wire(a.buf, a.len);
		nlen = normalise(data, size, norm);
		if (body_unstuff(a.buf, a.len, back, &blen) != 0 ||
		    blen != nlen || memcmp(back, norm, nlen) != 0)
			abort();
	}
	free(a.buf);
	free(b.buf);
	free(norm);
	free(back);
	return 0;
}
