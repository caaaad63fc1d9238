/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RFC 2047 encoded words and RFC 5322 folding (see encword.h). */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "encword.h"
#include "parse.h"
#include "punycode.h"

/* "=?UTF-8?B?" and "?=" around the encoded text. */
#define WORD_PREFIX   "=?UTF-8?"
#define WORD_OVERHEAD 12u
/* Room for one character of any length in either encoding ("=XX" four
 * times in Q), with the word's delimiters. */
#define WORD_MIN (WORD_OVERHEAD + 12u)
#define NO_FOLD  SIZE_MAX

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hex_upper[] = "0123456789ABCDEF";

/* ---- a growing output string ----------------------------------------- */

struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	int err;
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	char *np;
	size_t ncap;

	if (b->err < 0)
		return;
	if (n >= b->cap - b->len || b->p == NULL) {
		if (n > SIZE_MAX / 2 - b->len) {
			b->err = SMTPSEND_E_NOMEM;
			return;
		}
		ncap = b->cap > 0 ? b->cap : 256;
		while (ncap <= b->len + n)
			ncap *= 2;
		np = common_malloc(ncap);
		if (np == NULL) {
			b->err = SMTPSEND_E_NOMEM;
			return;
		}
		if (b->len > 0)
			memcpy(np, b->p, b->len);
		common_free(b->p);
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
sb_putc(struct sbuf *b, char c)
{
	sb_put(b, &c, 1);
}

static int
sb_finish(struct sbuf *b, char **out, size_t *outlen)
{
	sb_put(b, "", 1);
	if (b->err < 0) {
		common_free(b->p);
		b->p = NULL;
		return b->err;
	}
	*out = b->p;
	if (outlen != NULL)
		*outlen = b->len - 1;
	return 0;
}

/* ---- character classes ----------------------------------------------- */

static bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 5322 3.2.3 atext. */
static bool
is_atext(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Q characters written as they are: RFC 2047 5(3), the strictest rule,
 * so the same words serve in phrases and in unstructured text. */
static bool
is_q_plain(unsigned char c)
{
	return is_alnum(c) || c == '!' || c == '*' || c == '+' || c == '-' ||
	       c == '/';
}

static size_t
q_cost(unsigned char c)
{
	return is_q_plain(c) || c == ' ' ? 1 : 3;
}

bool
encword_name_valid(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > ENCWORD_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

bool
encword_utf8_valid(const char *s, size_t len)
{
	size_t i = 0;

	if (s == NULL)
		return len == 0;
	while (i < len) {
		uint32_t cp;
		size_t n;

		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		n = punycode_utf8_next(s + i, len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Length of the UTF-8 character at s[0..len) (valid input). */
static size_t
char_len(const char *s, size_t len)
{
	uint32_t cp;
	size_t n;

	if ((unsigned char)s[0] < 0x80)
		return 1;
	n = punycode_utf8_next(s, len, &cp);
	return n > 0 ? n : 1;
}

/* CR, LF, NUL: never in a field.  Checked before anything else so the
 * error does not depend on the value's other properties. */
static bool
has_line_bytes(const char *s, size_t len)
{
	return memchr(s, '\r', len) != NULL || memchr(s, '\n', len) != NULL ||
	       memchr(s, '\0', len) != NULL;
}

static bool
has_encword_start(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] == '=' && s[i + 1] == '?')
			return true;
	}
	return false;
}

/* ---- folding ---------------------------------------------------------- */

/*
 * Write "name:" and t[0..tlen) (t is " value", or empty), folded before
 * blanks into lines of at most soft characters, and CRLF.  A fold point
 * is the first blank of a run that has text after it.  A piece between
 * fold points that does not fit gets its own line: when strict, the
 * function returns 1 instead (nothing usable written); otherwise the line
 * may grow to hard characters, beyond which it is SMTPSEND_E_LIMIT.
 */
static int
fold(struct sbuf *b, const char *name, size_t nlen, const char *t, size_t tlen,
     size_t soft, size_t hard, bool strict)
{
	size_t last = 0, start = 0, col = nlen + 1;
	bool any = false, first = true;

	/* One past the last non-blank: fold points lie before it. */
	for (size_t i = 0; i < tlen; i++) {
		if (!is_blank((unsigned char)t[i])) {
			last = i + 1;
			any = true;
		}
	}
	if (!any)
		last = 0;

	sb_put(b, name, nlen);
	sb_putc(b, ':');
	for (;;) {
		size_t best = NO_FOLD, k;

		if (col + (tlen - start) <= soft) {
			sb_put(b, t + start, tlen - start);
			break;
		}
		for (k = first ? start : start + 1; k < last; k++) {
			bool fp =
			    is_blank((unsigned char)t[k]) &&
			    (k == 0 || !is_blank((unsigned char)t[k - 1]));

			if (!fp)
				continue;
			if (col + (k - start) > soft)
				break;
			best = k;
		}
		if (best == NO_FOLD) {
			if (strict)
				return 1;
			/* k: the first fold point past the line, or last */
			if (k >= last)
				k = tlen;
			if (col + (k - start) > hard)
				return SMTPSEND_E_LIMIT;
			best = k;
			if (best == tlen) {
				sb_put(b, t + start, tlen - start);
				break;
			}
		}
		sb_put(b, t + start, best - start);
		sb_put(b, "\r\n", 2);
		start = best;
		col = 0;
		first = false;
	}
	sb_put(b, "\r\n", 2);
	return 0;
}

/* Fold "name: value" (value may be empty). */
static int
fold_value(struct sbuf *b, const char *name, size_t nlen, const char *value,
	   size_t len, size_t soft, size_t hard, bool strict)
{
	struct sbuf t = {0};
	int r;

	if (len == 0)
		return fold(b, name, nlen, "", 0, soft, hard, strict);
	sb_putc(&t, ' ');
	sb_put(&t, value, len);
	if (t.err < 0)
		return t.err;
	r = fold(b, name, nlen, t.p, t.len, soft, hard, strict);
	common_free(t.p);
	return r;
}

/* ---- encoded words ---------------------------------------------------- */

static size_t
b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

static void
b64_put(struct sbuf *b, const unsigned char *s, size_t n)
{
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = b64_alphabet[(v >> 18) & 63];
		q[1] = b64_alphabet[(v >> 12) & 63];
		q[2] = (char)(i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=');
		q[3] = (char)(i + 2 < n ? b64_alphabet[v & 63] : '=');
		sb_put(b, q, 4);
	}
}

static void
q_put(struct sbuf *b, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char e[3] = {'=', hex_upper[s[i] >> 4], hex_upper[s[i] & 15]};

		if (is_q_plain(s[i]))
			sb_putc(b, (char)s[i]);
		else if (s[i] == ' ')
			sb_putc(b, '_');
		else
			sb_put(b, e, 3);
	}
}

/* Q when it is not longer than B for the whole text. */
static bool
prefer_q(const char *s, size_t len)
{
	size_t q = 0;

	for (size_t i = 0; i < len; i++)
		q += q_cost((unsigned char)s[i]);
	return q <= b64_len(len);
}

/*
 * How many octets of s[0..len) (whole characters, at least one) fit in an
 * encoded word of at most width characters (width >= WORD_MIN).
 */
static size_t
word_take(const char *s, size_t len, size_t width, bool q)
{
	size_t room = width - WORD_OVERHEAD, used = 0, n = 0;

	if (!q)
		room = room / 4 * 3;
	while (n < len) {
		size_t c = char_len(s + n, len - n), cost = c;

		if (q) {
			cost = 0;
			for (size_t i = 0; i < c; i++)
				cost += q_cost((unsigned char)s[n + i]);
		}
		if (used + cost > room)
			break;
		used += cost;
		n += c;
	}
	return n;
}

static void
word_put(struct sbuf *b, const char *s, size_t n, bool q)
{
	sb_put(b, WORD_PREFIX, sizeof(WORD_PREFIX) - 1);
	sb_put(b, q ? "Q?" : "B?", 2);
	if (q)
		q_put(b, (const unsigned char *)s, n);
	else
		b64_put(b, (const unsigned char *)s, n);
	sb_put(b, "?=", 2);
}

/*
 * "name:" and the whole value as encoded words, one per line; the first
 * word shares the name's line when room is left there for one (a line
 * with an encoded word has at most ENCWORD_LINE_ENCODED characters).
 */
static void
encode_field(struct sbuf *b, const char *name, size_t nlen, const char *v,
	     size_t len)
{
	size_t off = 0, width = 0, n;
	bool q;

	q = prefer_q(v, len);
	if (nlen + 2 < ENCWORD_LINE_ENCODED)
		width = ENCWORD_LINE_ENCODED - (nlen + 2);
	sb_put(b, name, nlen);
	sb_putc(b, ':');
	while (off < len) {
		if (off > 0 || width < WORD_MIN) {
			sb_put(b, "\r\n", 2);
			width = ENCWORD_WORD_MAX;
		}
		if (width > ENCWORD_WORD_MAX)
			width = ENCWORD_WORD_MAX;
		n = word_take(v + off, len - off, width, q);
		sb_putc(b, ' ');
		word_put(b, v + off, n, q);
		off += n;
	}
	sb_put(b, "\r\n", 2);
}

/* Checks shared by the field writers. */
static int
check_field(const char *name, const char *value, size_t len, size_t max)
{
	if (name == NULL || (value == NULL && len > 0))
		return SMTPSEND_E_INVAL;
	if (!encword_name_valid(name, strlen(name)))
		return SMTPSEND_E_INVAL;
	if (len > max)
		return SMTPSEND_E_LIMIT;
	if (len > 0 &&
	    (has_line_bytes(value, len) || !encword_utf8_valid(value, len)))
		return SMTPSEND_E_INVAL;
	return 0;
}

/* Printable ASCII and HT only. */
static bool
is_plain_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c != '\t' && (c < 0x20 || c > 0x7e))
			return false;
	}
	return true;
}

int
encword_unstructured(char **out, size_t *outlen, const char *name,
		     const char *value, size_t len)
{
	struct sbuf b = {0};
	size_t nlen;
	int r;

	if (out == NULL)
		return SMTPSEND_E_INVAL;
	r = check_field(name, value, len, ENCWORD_VALUE_MAX);
	if (r < 0)
		return r;
	nlen = strlen(name);
	if (is_plain_ascii(value, len) &&
	    (len == 0 || !is_blank((unsigned char)value[len - 1])) &&
	    !has_encword_start(value, len)) {
		r = fold_value(&b, name, nlen, value, len, ENCWORD_LINE_SOFT,
			       ENCWORD_LINE_SOFT, true);
		if (r < 0) {
			common_free(b.p);
			return r;
		}
		if (r == 0)
			return sb_finish(&b, out, outlen);
		/* A piece too long for a line: encode instead. */
		b.len = 0;
	}
	encode_field(&b, name, nlen, value, len);
	return sb_finish(&b, out, outlen);
}

int
encword_structured(char **out, size_t *outlen, const char *name,
		   const char *value, size_t len)
{
	struct sbuf b = {0};
	size_t soft = ENCWORD_LINE_SOFT;
	int r;

	if (out == NULL)
		return SMTPSEND_E_INVAL;
	r = check_field(name, value, len, ENCWORD_STRUCTURED_MAX);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return SMTPSEND_E_INVAL;
	}
	/* Lines with encoded words keep to RFC 2047's 76. */
	if (has_encword_start(value, len))
		soft = ENCWORD_LINE_ENCODED;
	r = fold_value(&b, name, strlen(name), value, len, soft,
		       SMTP_TEXT_LINE_MAX, false);
	if (r < 0) {
		common_free(b.p);
		return r;
	}
	return sb_finish(&b, out, outlen);
}

int
encword_phrase(char **out, size_t *outlen, const char *display, size_t len)
{
	struct sbuf b = {0};
	bool atoms = true, printable = true;
	size_t off = 0;

	if (out == NULL || display == NULL)
		return SMTPSEND_E_INVAL;
	if (len > ENCWORD_VALUE_MAX)
		return SMTPSEND_E_LIMIT;
	if (len == 0 || has_line_bytes(display, len) ||
	    !encword_utf8_valid(display, len))
		return SMTPSEND_E_INVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)display[i];

		if (c < 0x20 || c > 0x7e)
			printable = false;
		if (c == ' ') {
			if (i == 0 || i + 1 == len || display[i - 1] == ' ')
				atoms = false;
		} else if (!is_atext(c)) {
			atoms = false;
		}
	}
	if (has_encword_start(display, len))
		atoms = false;

	if (atoms && printable) {
		sb_put(&b, display, len);
	} else if (printable) {
		sb_putc(&b, '"');
		for (size_t i = 0; i < len; i++) {
			if (display[i] == '"' || display[i] == '\\')
				sb_putc(&b, '\\');
			sb_putc(&b, display[i]);
		}
		sb_putc(&b, '"');
	} else {
		bool q = false;
		size_t n;

		q = prefer_q(display, len);
		while (off < len) {
			n = word_take(display + off, len - off,
				      ENCWORD_WORD_MAX, q);
			if (off > 0)
				sb_putc(&b, ' ');
			word_put(&b, display + off, n, q);
			off += n;
		}
	}
	return sb_finish(&b, out, outlen);
}

/* ---- decoding (tests and fuzzers) ------------------------------------- */

static int
b64_value(unsigned char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_alphabet, c);
	return p != NULL ? (int)(p - b64_alphabet) : -1;
}

/* Decode the text of one encoded word; false when malformed. */
static bool
decode_text(struct sbuf *b, const char *s, size_t n, char enc)
{
	if (enc == 'Q' || enc == 'q') {
		for (size_t i = 0; i < n; i++) {
			int hi, lo;

			if (s[i] == '_') {
				sb_putc(b, ' ');
			} else if (s[i] == '=') {
				if (i + 2 >= n)
					return false;
				hi = hex_digit_value((unsigned char)s[i + 1]);
				lo = hex_digit_value((unsigned char)s[i + 2]);
				if (hi < 0 || lo < 0)
					return false;
				sb_putc(b, (char)(hi << 4 | lo));
				i += 2;
			} else if ((unsigned char)s[i] > 0x20 &&
				   (unsigned char)s[i] < 0x7f) {
				sb_putc(b, s[i]);
			} else {
				return false;
			}
		}
		return true;
	}
	if (n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		char o[3];
		size_t pad = 0;

		for (size_t j = 0; j < 4; j++) {
			if (s[i + j] == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad > 0) {
				return false;
			} else {
				v[j] = b64_value((unsigned char)s[i + j]);
				if (v[j] < 0)
					return false;
			}
		}
		o[0] = (char)(v[0] << 2 | v[1] >> 4);
		o[1] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		o[2] = (char)((v[2] & 3) << 6 | v[3]);
		sb_put(b, o, 3 - pad);
	}
	return true;
}

/*
 * If tok[0..n) has the shape of an encoded word, decode it into b:
 * returns 1 (decoded), 0 (not an encoded word: plain text) or
 * SMTPSEND_E_INVAL (the shape, but malformed).
 */
static int
decode_word(struct sbuf *b, const char *tok, size_t n)
{
	size_t cs, text, tlen;
	char enc;

	if (n < 8 || memcmp(tok, "=?", 2) != 0 ||
	    memcmp(tok + n - 2, "?=", 2) != 0)
		return 0;
	/* "=?" charset "?" enc "?" text "?=" */
	for (cs = 2; cs < n - 2 && tok[cs] != '?'; cs++)
		;
	if (cs == 2 || cs + 2 >= n - 2 || tok[cs + 2] != '?')
		return SMTPSEND_E_INVAL;
	enc = tok[cs + 1];
	if (enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q')
		return SMTPSEND_E_INVAL;
	text = cs + 3;
	tlen = n - 2 - text;
	if (memchr(tok + text, '?', tlen) != NULL ||
	    !decode_text(b, tok + text, tlen, enc))
		return SMTPSEND_E_INVAL;
	return 1;
}

int
encword_decode(char **out, size_t *outlen, const char *name, const char *field,
	       size_t len)
{
	struct sbuf u = {0}, b = {0}, tmp = {0};
	size_t nlen, i, pend_off = 0, pend_len = 0;
	bool last_word = false;
	int r = SMTPSEND_E_INVAL;

	if (out == NULL || name == NULL || field == NULL)
		return SMTPSEND_E_INVAL;
	nlen = strlen(name);
	if (len < nlen + 3 || memcmp(field, name, nlen) != 0 ||
	    field[nlen] != ':' || memcmp(field + len - 2, "\r\n", 2) != 0)
		return SMTPSEND_E_INVAL;

	/* Unfold: CRLF must be followed by a blank, or end the field. */
	for (i = nlen + 1; i < len; i++) {
		if (field[i] == '\r' && i + 1 < len && field[i + 1] == '\n') {
			if (i + 2 == len)
				break;
			if (!is_blank((unsigned char)field[i + 2]))
				goto out;
			i++;
			continue;
		}
		if (field[i] == '\r' || field[i] == '\n' || field[i] == '\0')
			goto out;
		sb_putc(&u, field[i]);
	}
	sb_putc(&u, '\0');
	if (u.err < 0) {
		r = u.err;
		goto out;
	}
	u.len--;

	/* Tokens: blank runs and the text between them. */
	i = u.len > 0 && u.p[0] == ' ' ? 1 : 0;
	while (i < u.len) {
		size_t j = i;
		bool blank = is_blank((unsigned char)u.p[i]);
		int w;

		while (j < u.len && is_blank((unsigned char)u.p[j]) == blank)
			j++;
		if (blank) {
			/* Held back until we know what follows. */
			pend_off = i;
			pend_len = j - i;
			i = j;
			continue;
		}
		w = decode_word(&tmp, u.p + i, j - i);
		if (w < 0 || tmp.err < 0) {
			r = w < 0 ? w : tmp.err;
			goto out;
		}
		/* Blanks between two encoded words vanish (RFC 2047 6.2). */
		if (pend_len > 0 && !(w == 1 && last_word))
			sb_put(&b, u.p + pend_off, pend_len);
		if (w == 1)
			sb_put(&b, tmp.p, tmp.len);
		else
			sb_put(&b, u.p + i, j - i);
		tmp.len = 0;
		pend_len = 0;
		last_word = w == 1;
		i = j;
	}
	if (pend_len > 0)
		sb_put(&b, u.p + pend_off, pend_len);
	r = sb_finish(&b, out, outlen);
	b.p = NULL;
out:
	common_free(u.p);
	common_free(b.p);
	common_free(tmp.p);
	return r;
}
