/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* EHLO capability parsing (see ehlo.h). */
#include <string.h>

#include "ehlo.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* clang-format off */
static const struct {
	unsigned bit;
	const char *name;
} mechs[] = {
	{ SMTP_AUTH_PLAIN,		"PLAIN" },
	{ SMTP_AUTH_LOGIN,		"LOGIN" },
	{ SMTP_AUTH_XOAUTH2,		"XOAUTH2" },
	{ SMTP_AUTH_OAUTHBEARER,	"OAUTHBEARER" },
	{ SMTP_AUTH_SCRAM_SHA_256,	"SCRAM-SHA-256" },
	{ SMTP_AUTH_SCRAM_SHA_256_PLUS,	"SCRAM-SHA-256-PLUS" },
};
/* clang-format on */

static char
ascii_upper(char c)
{
	return (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
}

static bool
is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9');
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* s[0..len) equals the upper-case word, ignoring ASCII case. */
static bool
token_is(const char *s, size_t len, const char *word)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (word[i] == '\0' || ascii_upper(s[i]) != word[i])
			return false;
	}
	return word[i] == '\0';
}

/* RFC 4422 3.1 sasl-mech: 1*20 of upper-case ALPHA, DIGIT, "-", "_";
 * lower case is accepted here and upper-cased by the callers. */
static bool
is_sasl_name(const char *s, size_t len)
{
	if (len == 0 || len > SMTP_SASL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	}
	return true;
}

unsigned
smtp_auth_mech_bit(const char *name, size_t len)
{
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(mechs); i++) {
		if (token_is(name, len, mechs[i].name))
			return mechs[i].bit;
	}
	return 0;
}

const char *
smtp_auth_mech_name(unsigned bit)
{
	for (size_t i = 0; i < ARRAY_SIZE(mechs); i++) {
		if (mechs[i].bit == bit)
			return mechs[i].name;
	}
	return NULL;
}

void
smtp_caps_clear(smtp_caps *c)
{
	if (c != NULL)
		memset(c, 0, sizeof(*c));
}

/* Whether names (' '-separated, upper case) holds name (len bytes, any
 * case). */
static bool
names_have(const char *names, const char *name, size_t len)
{
	const char *p = names;

	for (;;) {
		const char *sp = strchr(p, ' ');
		size_t n = sp != NULL ? (size_t)(sp - p) : strlen(p);
		size_t i = 0;

		if (n == len) {
			while (i < len && ascii_upper(name[i]) == p[i])
				i++;
			if (i == len && len > 0)
				return true;
		}
		if (sp == NULL)
			return false;
		p = sp + 1;
	}
}

/* One AUTH parameter: set its bit and remember its name. */
static void
add_mech(smtp_caps *c, const char *s, size_t len)
{
	size_t used = strlen(c->auth_names);
	size_t need = len + (used > 0 ? 1 : 0);

	if (!is_sasl_name(s, len))
		return;
	c->auth |= smtp_auth_mech_bit(s, len);
	if (names_have(c->auth_names, s, len))
		return;
	if (need >= sizeof(c->auth_names) - used)
		return; /* dropped; see SMTP_CAPS_AUTH_NAMES_MAX */
	if (used > 0)
		c->auth_names[used++] = ' ';
	for (size_t i = 0; i < len; i++)
		c->auth_names[used++] = ascii_upper(s[i]);
	c->auth_names[used] = '\0';
}

/* RFC 1870 size-param: a decimal number; false if it is not one or does
 * not fit 64 bits. */
static bool
parse_size(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Next parameter of a line: skips blanks; false at the end. */
static bool
next_param(const char **p, const char *end, const char **tok, size_t *len)
{
	const char *s = *p;
	const char *e;

	while (s < end && is_blank(*s))
		s++;
	if (s == end)
		return false;
	e = s;
	while (e < end && !is_blank(*e))
		e++;
	*tok = s;
	*len = (size_t)(e - s);
	*p = e;
	return true;
}

static void
parse_line(smtp_caps *c, const char *line, size_t len)
{
	const char *p = line, *end = line + len;
	const char *kw, *tok;
	size_t kwlen, toklen;
	bool size_ok = false;
	uint64_t size = 0;

	while (p < end && is_blank(*p))
		p++;
	kw = p;
	/* RFC 5321 ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	if (p == end || !is_alnum(*p))
		return;
	while (p < end && (is_alnum(*p) || *p == '-'))
		p++;
	kwlen = (size_t)(p - kw);
	if (p < end && *p == '=' && token_is(kw, kwlen, "AUTH")) {
		p++; /* "AUTH=LOGIN PLAIN": the '=' starts the parameters */
	} else if (p < end && !is_blank(*p)) {
		return; /* not a keyword token: ignore the line */
	}

	if (token_is(kw, kwlen, "STARTTLS")) {
		c->starttls = true;
	} else if (token_is(kw, kwlen, "PIPELINING")) {
		c->pipelining = true;
	} else if (token_is(kw, kwlen, "8BITMIME")) {
		c->eightbitmime = true;
	} else if (token_is(kw, kwlen, "SMTPUTF8")) {
		c->smtputf8 = true;
	} else if (token_is(kw, kwlen, "ENHANCEDSTATUSCODES")) {
		c->enhancedstatuscodes = true;
	} else if (token_is(kw, kwlen, "DSN")) {
		c->dsn = true;
	} else if (token_is(kw, kwlen, "CHUNKING")) {
		c->chunking = true;
	} else if (token_is(kw, kwlen, "SIZE")) {
		if (next_param(&p, end, &tok, &toklen))
			size_ok = parse_size(tok, toklen, &size);
		c->size_present = true;
		c->size_max = size_ok ? size : 0;
	} else if (token_is(kw, kwlen, "AUTH")) {
		c->auth_present = true;
		while (next_param(&p, end, &tok, &toklen))
			add_mech(c, tok, toklen);
	}
}

int
smtp_caps_parse(smtp_caps *out, const smtp_reply *r)
{
	smtp_caps c;
	const char *line;
	size_t len;

	if (out == NULL || !smtp_reply_complete(r) || r->code != 250)
		return SMTPSEND_E_INVAL;
	smtp_caps_clear(&c);
	/* line 0 is the domain and greeting */
	for (size_t i = 1; smtp_reply_line(r, i, &line, &len); i++)
		parse_line(&c, line, len);
	*out = c;
	return 0;
}

bool
smtp_caps_has_auth(const smtp_caps *c, const char *name)
{
	size_t len;
	unsigned bit;

	if (c == NULL || name == NULL)
		return false;
	len = strlen(name);
	if (!is_sasl_name(name, len))
		return false;
	bit = smtp_auth_mech_bit(name, len);
	if (bit != 0)
		return (c->auth & bit) != 0;
	return names_have(c->auth_names, name, len);
}
