/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SASL client mechanisms: PLAIN, LOGIN, XOAUTH2, OAUTHBEARER. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "sasl.h"

/* clang-format off */
static const char *const mech_names[] = {
	[SASL_PLAIN]		= "PLAIN",
	[SASL_LOGIN]		= "LOGIN",
	[SASL_XOAUTH2]		= "XOAUTH2",
	[SASL_OAUTHBEARER]	= "OAUTHBEARER",
};
/* clang-format on */
_Static_assert(sizeof(mech_names) / sizeof(mech_names[0]) == _SASL_MAX,
	       "mech_names out of sync with sasl_mech");

/* Known SASL names we do not implement (yet): allowed in the list, never
 * chosen. */
static const char *const known_other[] = {
    "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", "CRAM-MD5",
};

const char *
sasl_mech_name(enum sasl_mech m)
{
	return (unsigned)m < _SASL_MAX ? mech_names[m] : NULL;
}

int
sasl_choose(const char *allow, bool (*offers)(const char *name, void *ud),
	    void *ud, bool have_channel_binding, enum sasl_mech *out)
{
	char name[32];
	const char *p = allow;
	bool any = false;

	(void)have_channel_binding;
	if (allow == NULL || offers == NULL)
		return SMTPSEND_E_INVAL;
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		bool known = false;

		if (n == 0 || n >= sizeof(name))
			return SMTPSEND_E_INVAL;
		memcpy(name, p, n);
		name[n] = '\0';
		p += n + (p[n] == ',');
		for (unsigned i = 0; i < _SASL_MAX; i++) {
			if (strcasecmp(name, mech_names[i]) != 0)
				continue;
			known = any = true;
			if (offers(mech_names[i], ud)) {
				*out = (enum sasl_mech)i;
				return 0;
			}
		}
		for (size_t i = 0; i < sizeof(known_other) / sizeof(known_other[0]);
		     i++)
			if (strcasecmp(name, known_other[i]) == 0)
				known = any = true;
		if (!known)
			return SMTPSEND_E_INVAL;
	}
	return any ? SMTPSEND_E_UNSUPPORTED : SMTPSEND_E_INVAL;
}

void
sasl_init(struct sasl_client *c)
{
	memset(c, 0, sizeof(*c));
	c->user = SECBUF_INIT;
	c->secret = SECBUF_INIT;
}

/* secbuf's -ENOMEM/-E2BIG as smtpsend codes. */
static int
map(int r)
{
	if (r == 0)
		return 0;
	return r == -E2BIG ? SMTPSEND_E_LIMIT : SMTPSEND_E_NOMEM;
}

/* Append base64 of raw to line ("=" for an empty response, RFC 4954). */
static int
append_b64(secbuf *line, const char *raw, size_t n)
{
	int r, k;

	if (n == 0)
		return secbuf_append(line, "=", 1);
	if (n > SMTP_AUTH_LINE_MAX)
		return SMTPSEND_E_LIMIT;
	r = secbuf_reserve(line, 4 * ((n + 2) / 3) + 1);
	if (r < 0)
		return map(r);
	k = EVP_EncodeBlock((unsigned char *)line->data + line->len,
			    (const unsigned char *)raw, (int)n);
	if (k < 0)
		return SMTPSEND_E_INVAL;
	line->len += (size_t)k;
	line->data[line->len] = '\0';
	return 0;
}

int
sasl_start(struct sasl_client *c, enum sasl_mech m, const char *user,
	   const char *secret, size_t len, const char *authzid,
	   const char *host, unsigned port,
	   const unsigned char *channel_binding, secbuf *line, size_t *show)
{
	_cleanup_secbuf_ secbuf raw = SECBUF_INIT;
	char prefix[40];
	size_t ulen;
	int r = 0;

	(void)channel_binding;
	if (user == NULL || secret == NULL || (unsigned)m >= _SASL_MAX ||
	    strpbrk(user, "\r\n") != NULL || memchr(secret, '\0', len) != NULL)
		return SMTPSEND_E_INVAL;
	ulen = strlen(user);
	c->mech = m;
	snprintf(prefix, sizeof(prefix), "AUTH %s", mech_names[m]);
	switch (m) {
	case SASL_PLAIN:
		/* authzid NUL authcid NUL passwd */
		if (authzid != NULL)
			r = secbuf_append_str(&raw, authzid);
		if (r == 0)
			r = secbuf_append(&raw, "", 1);
		if (r == 0)
			r = secbuf_append(&raw, user, ulen + 1);
		if (r == 0)
			r = secbuf_append(&raw, secret, len);
		c->done = true;
		break;
	case SASL_LOGIN:
		/* Username and password answer the two prompts. */
		r = secbuf_append(&c->user, user, ulen);
		if (r == 0)
			r = secbuf_append(&c->secret, secret, len);
		break;
	case SASL_XOAUTH2:
		r = secbuf_append_str(&raw, "user=");
		if (r == 0)
			r = secbuf_append(&raw, user, ulen);
		if (r == 0)
			r = secbuf_append_str(&raw, "\001auth=Bearer ");
		if (r == 0)
			r = secbuf_append(&raw, secret, len);
		if (r == 0)
			r = secbuf_append(&raw, "\001\001", 2);
		c->done = true;
		break;
	case SASL_OAUTHBEARER: {
		char hp[300];

		snprintf(hp, sizeof(hp), "\001host=%s\001port=%u\001auth=Bearer ",
			 host != NULL ? host : "", port);
		r = secbuf_append_str(&raw, "n,a=");
		if (r == 0)
			r = secbuf_append(&raw, user, ulen);
		if (r == 0)
			r = secbuf_append_str(&raw, ",");
		if (r == 0)
			r = secbuf_append_str(&raw, hp);
		if (r == 0)
			r = secbuf_append(&raw, secret, len);
		if (r == 0)
			r = secbuf_append(&raw, "\001\001", 2);
		c->done = true;
		break;
	}
	default:
		return SMTPSEND_E_INVAL;
	}
	if (r < 0)
		return map(r);
	r = map(secbuf_append_str(line, prefix));
	if (r < 0)
		return r;
	*show = line->len;
	if (m == SASL_LOGIN)
		return 0;
	r = map(secbuf_append(line, " ", 1));
	if (r < 0)
		return r;
	*show = line->len;
	return append_b64(line, raw.data, raw.len);
}

int
sasl_step(struct sasl_client *c, const char *challenge, size_t len,
	  secbuf *line, size_t *show)
{
	*show = 0;
	if (++c->step > SASL_STEPS_MAX)
		return SMTPSEND_E_PROTO;
	/* The challenge text must be base64 (possibly empty). */
	for (size_t i = 0; i < len; i++) {
		char ch = challenge[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
		      ch == '='))
			return SMTPSEND_E_PROTO;
	}
	switch (c->mech) {
	case SASL_LOGIN:
		if (c->step == 1)
			return append_b64(line, c->user.data, c->user.len);
		if (c->step == 2) {
			c->done = true;
			return append_b64(line, c->secret.data, c->secret.len);
		}
		return SMTPSEND_E_PROTO;
	case SASL_XOAUTH2:
		/* An error challenge (JSON): answer empty, the server then
		 * sends its final 5xx. */
		if (c->step == 1)
			return map(secbuf_reserve(line, 1));
		return SMTPSEND_E_PROTO;
	case SASL_OAUTHBEARER:
		if (c->step == 1)
			return append_b64(line, "\001", 1);
		return SMTPSEND_E_PROTO;
	default:
		return SMTPSEND_E_PROTO; /* PLAIN expects no challenge */
	}
}

int
sasl_finish(struct sasl_client *c)
{
	return c->done ? 0 : SMTPSEND_E_AUTH;
}

void
sasl_clear(struct sasl_client *c)
{
	secbuf_wipe(&c->user);
	secbuf_wipe(&c->secret);
	secure_wipe(c, sizeof(*c));
}
