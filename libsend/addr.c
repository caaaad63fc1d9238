/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mail address parsing and IDN encoding (see addr.h). */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "alloc.h"
#include "punycode.h"

/* "xn--" (RFC 5890 2.3.2.5) */
#define ACE_PREFIX     "xn--"
#define ACE_PREFIX_LEN 4u

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_ldh(char c)
{
	return is_alpha(c) || is_digit(c) || c == '-';
}

/* RFC 5322 3.2.3 atext (ASCII part). */
static bool
is_atext(char c)
{
	return is_alpha(c) || is_digit(c) ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 4.1.2 qtextSMTP (ASCII part): %d32-33 / %d35-91 / %d93-126. */
static bool
is_qtext(char c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/*
 * Code points refused anywhere in an address even though they are valid
 * UTF-8: C1 controls, and spaces and invisible format characters that
 * would let two different addresses look the same.  Not the IDNA2008
 * tables; a floor.
 */
static bool
is_refused_cp(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0xa0) || cp == 0xad || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200f) ||
	       (cp >= 0x2028 && cp <= 0x202f) ||
	       (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff ||
	       (cp >= 0xfff0 && cp <= 0xffff);
}

/* One non-ASCII UTF-8 character at s[0..len) that an address may hold;
 * its length, or 0. */
static size_t
utf8_char(const char *s, size_t len, uint32_t *cp)
{
	size_t n = punycode_utf8_next(s, len, cp);

	if (n < 2 || is_refused_cp(*cp))
		return 0;
	return n;
}

/* ---- local part ------------------------------------------------------- */

/* The length of an allowed non-ASCII character at p[0..n), setting
 * *utf8; 0 if there is none. */
static size_t
local_utf8(const char *p, size_t n, bool *utf8)
{
	uint32_t cp;
	size_t c;

	if ((unsigned char)p[0] < 0x80)
		return 0;
	c = utf8_char(p, n, &cp);
	if (c > 0)
		*utf8 = true;
	return c;
}

/* Parse the local part at p[0..n); *end is where it stops (at the '@'). */
static int
parse_local(const char *p, size_t n, size_t *end, bool *utf8)
{
	size_t i, c, content = 0;

	*utf8 = false;
	if (n > 0 && p[0] == '"') {
		for (i = 1; i < n && p[i] != '"'; content++) {
			if (p[i] == '\\') {
				/* quoted-pairSMTP: "\" %d32-126 */
				if (i + 1 >= n || p[i + 1] < 32 ||
				    p[i + 1] > 126)
					return SMTPSEND_E_INVAL;
				i += 2;
				continue;
			}
			if (is_qtext(p[i])) {
				i++;
				continue;
			}
			c = local_utf8(p + i, n - i, utf8);
			if (c == 0)
				return SMTPSEND_E_INVAL;
			i += c;
		}
		if (i >= n || content == 0)
			return SMTPSEND_E_INVAL; /* unterminated or empty */
		*end = i + 1;
		return 0;
	}

	/* dot-atom: 1*atext *("." 1*atext) */
	for (i = 0; i < n && p[i] != '@';) {
		if (p[i] == '.') {
			if (i == 0 || p[i - 1] == '.')
				return SMTPSEND_E_INVAL;
			i++;
			continue;
		}
		if (is_atext(p[i])) {
			i++;
			continue;
		}
		c = local_utf8(p + i, n - i, utf8);
		if (c == 0)
			return SMTPSEND_E_INVAL; /* blank, special, control */
		i += c;
	}
	if (i == 0 || p[i - 1] == '.')
		return SMTPSEND_E_INVAL;
	*end = i;
	return 0;
}

/* ---- domain ----------------------------------------------------------- */

/* Length of a label separator at s[0..n) (".", U+3002, U+FF0E, U+FF61),
 * or 0. */
static size_t
separator_len(const char *s, size_t n)
{
	static const char *const wide[] = {
	    "\xe3\x80\x82", /* U+3002 IDEOGRAPHIC FULL STOP */
	    "\xef\xbc\x8e", /* U+FF0E FULLWIDTH FULL STOP */
	    "\xef\xbd\xa1", /* U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP */
	};

	if (n > 0 && s[0] == '.')
		return 1;
	for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
		if (n >= 3 && memcmp(s, wide[i], 3) == 0)
			return 3;
	}
	return 0;
}

/* An ASCII label: LDH, no hyphen at either end; "xn--" must decode. */
static int
check_ascii_label(const char *s, size_t n)
{
	uint32_t cps[SMTP_ADDR_LABEL_MAX];
	size_t ncp;

	if (n == 0 || n > SMTP_ADDR_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return SMTPSEND_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		if (!is_ldh(s[i]))
			return SMTPSEND_E_INVAL;
	}
	if (n > ACE_PREFIX_LEN && (s[0] == 'x' || s[0] == 'X') &&
	    (s[1] == 'n' || s[1] == 'N') && s[2] == '-' && s[3] == '-' &&
	    punycode_decode(s + ACE_PREFIX_LEN, n - ACE_PREFIX_LEN, cps,
			    sizeof(cps) / sizeof(cps[0]), &ncp) < 0)
		return SMTPSEND_E_INVAL;
	return 0;
}

/* Encode a label with non-ASCII characters to "xn--..." at out (room for
 * SMTP_ADDR_LABEL_MAX + 1 bytes); *outlen gets its length. */
static int
encode_label(const char *s, size_t n, char *out, size_t *outlen)
{
	uint32_t cps[SMTP_ADDR_LABEL_MAX];
	size_t ncp = 0, plen;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t c;

		if ((unsigned char)s[i] < 0x80) {
			if (!is_ldh(s[i]))
				return SMTPSEND_E_INVAL;
			cp = (unsigned char)s[i];
			if (cp >= 'A' && cp <= 'Z')
				cp += 'a' - 'A';
			c = 1;
		} else {
			c = utf8_char(s + i, n - i, &cp);
			if (c == 0)
				return SMTPSEND_E_INVAL;
		}
		/* every code point costs at least one octet encoded */
		if (ncp >= SMTP_ADDR_LABEL_MAX - ACE_PREFIX_LEN)
			return SMTPSEND_E_INVAL;
		cps[ncp++] = cp;
		i += c;
	}
	/* RFC 5891 4.2.3.1: no hyphen at either end nor in 3rd and 4th */
	if (ncp == 0 || cps[0] == '-' || cps[ncp - 1] == '-' ||
	    (ncp >= 4 && cps[2] == '-' && cps[3] == '-'))
		return SMTPSEND_E_INVAL;
	memcpy(out, ACE_PREFIX, ACE_PREFIX_LEN);
	if (punycode_encode(cps, ncp, out + ACE_PREFIX_LEN,
			    SMTP_ADDR_LABEL_MAX + 1 - ACE_PREFIX_LEN,
			    &plen) < 0)
		return SMTPSEND_E_INVAL; /* longer than 63 octets */
	*outlen = ACE_PREFIX_LEN + plen;
	return 0;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3). */
static int
check_literal(const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	const char *ip = s + 1;
	size_t iplen;
	int af = AF_INET;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return SMTPSEND_E_INVAL;
	iplen = n - 2;
	if (iplen > 5 && strncasecmp(ip, "IPv6:", 5) == 0) {
		af = AF_INET6;
		ip += 5;
		iplen -= 5;
	}
	if (iplen >= sizeof(buf))
		return SMTPSEND_E_INVAL;
	memcpy(buf, ip, iplen);
	buf[iplen] = '\0';
	if (inet_pton(af, buf, bin) != 1)
		return SMTPSEND_E_INVAL;
	return 0;
}

/* The domain at s[0..n) in A-label form at out (room for
 * SMTP_ADDR_DOMAIN_MAX + 1); *outlen gets its length, *idn whether a
 * label was encoded. */
static int
encode_domain(const char *s, size_t n, char *out, size_t *outlen, bool *idn)
{
	size_t o = 0, i = 0;
	int r;

	*idn = false;
	if (n == 0 || n > SMTP_ADDR_DOMAIN_UTF8_MAX)
		return SMTPSEND_E_INVAL;
	if (s[0] == '[') {
		r = check_literal(s, n);
		if (r < 0)
			return r;
		if (n > SMTP_ADDR_DOMAIN_MAX)
			return SMTPSEND_E_INVAL;
		memcpy(out, s, n);
		out[n] = '\0';
		*outlen = n;
		return 0;
	}
	for (;;) {
		char label[SMTP_ADDR_LABEL_MAX + 1];
		size_t start = i, llen, sep = 0;
		bool ascii = true;

		while (i < n && (sep = separator_len(s + i, n - i)) == 0) {
			if ((unsigned char)s[i] >= 0x80)
				ascii = false;
			i++;
		}
		if (i == start)
			return SMTPSEND_E_INVAL; /* empty label */
		if (ascii) {
			r = check_ascii_label(s + start, i - start);
			if (r < 0)
				return r;
			llen = i - start;
			memcpy(label, s + start, llen);
		} else {
			r = encode_label(s + start, i - start, label, &llen);
			if (r < 0)
				return r;
			*idn = true;
		}
		if (o + llen + (o > 0 ? 1 : 0) > SMTP_ADDR_DOMAIN_MAX)
			return SMTPSEND_E_INVAL;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, label, llen);
		o += llen;
		if (i == n)
			break;
		i += sep;
		if (i == n)
			return SMTPSEND_E_INVAL; /* a final dot */
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* ---- addr-spec, display name, one element ----------------------------- */

static int
parse_spec(smtp_addr *a, const char *p, size_t n)
{
	char dom[SMTP_ADDR_DOMAIN_MAX + 1];
	size_t lend, dlen;
	int r;

	r = parse_local(p, n, &lend, &a->utf8_local);
	if (r < 0)
		return r;
	if (lend >= n || p[lend] != '@')
		return SMTPSEND_E_INVAL;
	if (lend > SMTP_ADDR_LOCAL_MAX)
		return SMTPSEND_E_INVAL;
	r = encode_domain(p + lend + 1, n - lend - 1, dom, &dlen, &a->idn);
	if (r < 0)
		return r;
	/* "<" local "@" domain ">" */
	if (lend + 1 + dlen + 2 > SMTP_PATH_MAX)
		return SMTPSEND_E_INVAL;
	memcpy(a->spec, p, lend);
	a->spec[lend] = '@';
	memcpy(a->spec + lend + 1, dom, dlen + 1);
	a->local_len = lend;
	a->spec_len = lend + 1 + dlen;
	memcpy(a->domain_utf8, p + lend + 1, n - lend - 1);
	a->domain_utf8[n - lend - 1] = '\0';
	return 0;
}

/* Unquote the display name d[0..n) into a new string at *out (NULL when
 * it is empty). */
static int
parse_display(const char *d, size_t n, char **out)
{
	char buf[SMTP_ADDR_DISPLAY_MAX];
	size_t o = 0, i = 0;
	bool pending_space = false;
	char *s;

	while (i < n) {
		char c = d[i];

		if (is_blank(c)) {
			pending_space = o > 0;
			i++;
			continue;
		}
		if (pending_space) {
			if (o >= sizeof(buf))
				return SMTPSEND_E_LIMIT;
			buf[o++] = ' ';
			pending_space = false;
		}
		if (c == '"') {
			for (i++; i < n && d[i] != '"'; i++) {
				if (d[i] == '\\' && i + 1 < n)
					i++;
				if ((unsigned char)d[i] < 0x20 && d[i] != '\t')
					return SMTPSEND_E_INVAL;
				if (d[i] == 0x7f)
					return SMTPSEND_E_INVAL;
				if (o >= sizeof(buf))
					return SMTPSEND_E_LIMIT;
				buf[o++] = d[i];
			}
			if (i >= n)
				return SMTPSEND_E_INVAL; /* unterminated */
			i++;
			continue;
		}
		if ((unsigned char)c < 0x20 || c == 0x7f ||
		    strchr("<>,;:\\", c) != NULL)
			return SMTPSEND_E_INVAL;
		if (o >= sizeof(buf))
			return SMTPSEND_E_LIMIT;
		buf[o++] = c;
		i++;
	}
	for (i = 0; i < o;) {
		uint32_t cp;
		size_t c = punycode_utf8_next(buf + i, o - i, &cp);

		if (c == 0 || (cp >= 0x80 && cp < 0xa0))
			return SMTPSEND_E_INVAL;
		i += c;
	}
	if (o == 0) {
		*out = NULL;
		return 0;
	}
	s = common_malloc(o + 1);
	if (s == NULL)
		return SMTPSEND_E_NOMEM;
	memcpy(s, buf, o);
	s[o] = '\0';
	*out = s;
	return 0;
}

/* One element (no top-level comma; quotes and brackets balanced). */
static int
parse_one(smtp_addr *out, const char *s, size_t n)
{
	smtp_addr a;
	size_t lt, gt;
	bool quoted = false;
	int r;

	while (n > 0 && is_blank(s[0])) {
		s++;
		n--;
	}
	while (n > 0 && is_blank(s[n - 1]))
		n--;
	if (n == 0)
		return SMTPSEND_E_INVAL;

	/* the first '<' and '>' outside quotes */
	lt = gt = n;
	for (size_t i = 0; i < n; i++) {
		if (quoted && s[i] == '\\') {
			i++;
		} else if (s[i] == '"') {
			quoted = !quoted;
		} else if (!quoted && s[i] == '<' && lt == n) {
			lt = i;
		} else if (!quoted && s[i] == '>' && gt == n) {
			gt = i;
		}
	}

	memset(&a, 0, sizeof(a));
	if (lt == n && gt == n) {
		r = parse_spec(&a, s, n);
	} else {
		const char *in;
		size_t inlen;

		/* name-addr: [display] "<" addr-spec ">" and nothing after */
		if (lt == n || gt < lt || gt != n - 1)
			return SMTPSEND_E_INVAL;
		in = s + lt + 1;
		inlen = gt - lt - 1;
		while (inlen > 0 && is_blank(in[0])) {
			in++;
			inlen--;
		}
		while (inlen > 0 && is_blank(in[inlen - 1]))
			inlen--;
		r = parse_spec(&a, in, inlen);
		if (r == 0)
			r = parse_display(s, lt, &a.display);
	}
	if (r < 0)
		return r;
	*out = a;
	return 0;
}

/* ---- lists ------------------------------------------------------------ */

/* What split_list() reports, and where its elements go. */
struct split {
	size_t count;  /* non-blank elements */
	size_t commas; /* separating commas */
	smtp_addr *v;  /* NULL: only count; else parse into v[count] */
	size_t cap;    /* elements v has room for */
	smtp_local_fn local; /* maps a bare local name, or NULL */
	void *local_ud;
};

static bool
is_blank_span(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_blank(s[i]))
			return false;
	}
	return true;
}

int
smtp_local_name(const char *s, size_t n, size_t *start, size_t *len)
{
	size_t a = 0, b = n;

	while (a < b && is_blank(s[a]))
		a++;
	while (b > a && is_blank(s[b - 1]))
		b--;
	/* "Name <root>": the name between the brackets */
	if (b > a && s[b - 1] == '>') {
		const char *lt = memchr(s + a, '<', b - a);

		if (lt == NULL)
			return -1;
		a = (size_t)(lt - s) + 1;
		b--;
	}
	if (b == a || b - a > 64)
		return -1;
	for (size_t i = a; i < b; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '+'))
			return -1;
	}
	*start = a;
	*len = b - a;
	return 0;
}

/* An element s[0..n) ends. */
static int
split_element(struct split *sp, const char *s, size_t n)
{
	int r;

	if (is_blank_span(s, n))
		return 0;
	if (sp->count >= SMTP_ADDR_LIST_MAX)
		return SMTPSEND_E_LIMIT;
	if (sp->v != NULL) {
		size_t a, l;
		const char *to;

		if (sp->count >= sp->cap)
			return SMTPSEND_E_INVAL;
		/* A bare local name ("root", "Cron <www-data>") that the
		 * caller maps is replaced by its address, display name and
		 * all; anything else is parsed as it stands. */
		if (sp->local != NULL && memchr(s, '@', n) == NULL &&
		    smtp_local_name(s, n, &a, &l) == 0 &&
		    (to = sp->local(s + a, l, sp->local_ud)) != NULL)
			r = smtp_addr_parse(&sp->v[sp->count], to, strlen(to));
		else
			r = parse_one(&sp->v[sp->count], s, n);
		if (r < 0)
			return r;
	}
	sp->count++;
	return 0;
}

/*
 * Split s[0..n) at commas outside quotes and angle brackets.  NUL, CR,
 * LF, unbalanced quotes or brackets, a '<' inside brackets or a '>'
 * outside them are SMTPSEND_E_INVAL.  On failure sp->v[0..sp->count)
 * are the elements parsed so far.
 */
static int
split_list(struct split *sp, const char *s, size_t n)
{
	bool quoted = false, angle = false;
	size_t start = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n')
			return SMTPSEND_E_INVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (quoted) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '"')
				quoted = false;
		} else if (c == '"') {
			quoted = true;
		} else if (c == '<') {
			if (angle)
				return SMTPSEND_E_INVAL;
			angle = true;
		} else if (c == '>') {
			if (!angle)
				return SMTPSEND_E_INVAL;
			angle = false;
		} else if (c == ',' && !angle) {
			r = split_element(sp, s + start, i - start);
			if (r < 0)
				return r;
			sp->commas++;
			start = i + 1;
		}
	}
	if (quoted || angle)
		return SMTPSEND_E_INVAL;
	return split_element(sp, s + start, n - start);
}

/* ---- public ----------------------------------------------------------- */

void
smtp_addr_clear(smtp_addr *a)
{
	if (a == NULL)
		return;
	common_free(a->display);
	memset(a, 0, sizeof(*a));
}

int
smtp_addr_parse(smtp_addr *out, const char *s, size_t len)
{
	struct split sp = {0};
	smtp_addr a;
	int r;

	if (out == NULL || (s == NULL && len > 0))
		return SMTPSEND_E_INVAL;
	/* one element and no comma: check the whole input first */
	r = split_list(&sp, s, len);
	if (r < 0)
		return r;
	if (sp.count != 1 || sp.commas != 0)
		return SMTPSEND_E_INVAL;
	sp = (struct split){.v = &a, .cap = 1};
	r = split_list(&sp, s, len);
	if (r < 0)
		return r; /* parse_one() left a untouched */
	*out = a;
	return 0;
}

int
smtp_addr_parse_list(smtp_addr **out, size_t *n, const char *s, size_t len)
{
	return smtp_addr_parse_list_map(out, n, s, len, NULL, NULL);
}

int
smtp_addr_parse_list_map(smtp_addr **out, size_t *n, const char *s,
			 size_t len, smtp_local_fn local, void *ud)
{
	struct split sp = {0};
	smtp_addr *v;
	int r;

	if (out == NULL || n == NULL || (s == NULL && len > 0))
		return SMTPSEND_E_INVAL;
	r = split_list(&sp, s, len);
	if (r < 0)
		return r;
	if (sp.count == 0)
		return SMTPSEND_E_INVAL;
	v = common_calloc(sp.count, sizeof(*v));
	if (v == NULL)
		return SMTPSEND_E_NOMEM;
	sp = (struct split){
	    .v = v, .cap = sp.count, .local = local, .local_ud = ud};
	r = split_list(&sp, s, len);
	if (r < 0) {
		smtp_addr_list_free(v, sp.count);
		return r;
	}
	*out = v;
	*n = sp.count;
	return 0;
}

void
smtp_addr_list_free(smtp_addr *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		smtp_addr_clear(&v[i]);
	common_free(v);
}

const char *
smtp_addr_domain(const smtp_addr *a)
{
	if (a == NULL)
		return NULL;
	return a->spec + a->local_len + 1;
}

int
smtp_addr_format_path(const smtp_addr *a, char *buf, size_t bufsz, size_t *len)
{
	if (a == NULL || buf == NULL)
		return SMTPSEND_E_INVAL;
	if (a->spec_len == 0 || a->spec_len > SMTP_ADDR_SPEC_MAX)
		return SMTPSEND_E_INVAL;
	if (bufsz < a->spec_len + 3)
		return SMTPSEND_E_LIMIT;
	buf[0] = '<';
	memcpy(buf + 1, a->spec, a->spec_len);
	buf[a->spec_len + 1] = '>';
	buf[a->spec_len + 2] = '\0';
	if (len != NULL)
		*len = a->spec_len + 2;
	return 0;
}

int
smtp_addr_path_dup(const smtp_addr *a, char **out)
{
	char *p;
	int r;

	if (a == NULL || out == NULL)
		return SMTPSEND_E_INVAL;
	if (a->spec_len == 0 || a->spec_len > SMTP_ADDR_SPEC_MAX)
		return SMTPSEND_E_INVAL;
	p = common_malloc(a->spec_len + 3);
	if (p == NULL)
		return SMTPSEND_E_NOMEM;
	r = smtp_addr_format_path(a, p, a->spec_len + 3, NULL);
	if (r < 0) {
		common_free(p);
		return r;
	}
	*out = p;
	return 0;
}
