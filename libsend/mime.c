/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The message builder (see mime.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "alloc.h"
#include "encword.h"
#include "mime.h"
#include "punycode.h"
#include "scan.h"

/* Octets in one base64 line of 76 characters (RFC 2045 6.8). */
#define B64_LINE_IN 57u
/* An RFC 2231 parameter section's value, so that a continuation line
 * ' name*NN*=' value ';' stays within 78 characters. */
#define PARAM_SECTION_MAX 48u
/* A file name written as a quoted string (name="..."). */
#define PARAM_QUOTED_MAX 60u
/* Attempts at a boundary that is not in the text (each has 128 random
 * bits: a second attempt already means the text was made to match). */
#define BOUNDARY_TRIES 8
/* Random octets in a boundary and in a Message-ID's left part. */
#define RANDOM_OCTETS 16u
/* Steps of the output: the header block, the mixed delimiters and a
 * nested alternative (14 in all), four per attachment, some slack. */
#define OPS_MAX (4u * MIME_ATTACH_MAX + 16u)
/* One header field of an attachment, folded (see att_field()). */
#define ATT_FIELD_MAX 4096u

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct text_part {
	char *data; /* line ends made CRLF; NULL when empty */
	size_t len;
	mime_cte cte;
	bool is_html;
	/* Set when sealing: */
	bool soft_end;    /* QP ends with '=' (alone, no final line end) */
	uint64_t enc_len; /* octets of the encoded body */
	char enc_last;    /* its last octet */
	char fields[112]; /* Content-Type and -Transfer-Encoding lines */
	size_t fields_len;
};

struct attachment {
	char *path;
	char *fields; /* Content-Type, -Disposition, -Transfer-Encoding */
	size_t fields_len;
	uint64_t size; /* set when sealing */
};

enum op_kind {
	OP_STR,
	OP_TEXT,
	OP_FILE,
};

struct op {
	enum op_kind kind;
	const char *s; /* OP_STR */
	size_t len;
	struct text_part *text; /* OP_TEXT */
	struct attachment *att; /* OP_FILE */
};

struct mime_msg {
	char *from; /* folded fields, CRLF included */
	size_t from_len;
	char domain[MIME_DOMAIN_MAX + 1];
	char *addrs[2]; /* To and Cc values, joined with ", " */
	size_t addrs_len[2];
	char *subject;
	size_t subject_len;
	char *hdr[MIME_HEADERS_MAX];
	size_t hdr_len[MIME_HEADERS_MAX];
	size_t nhdr;
	struct text_part text;
	struct text_part html;
	bool has_text;
	bool has_html;
	struct attachment *att[MIME_ATTACH_MAX];
	size_t natt;
	time_t date;
	bool date_set;
	mime_random_fn rnd;
	void *rnd_ud;
	bool from_utf8;  /* the From value keeps UTF-8 (RFC 6532) */
	bool addrs_utf8; /* a To or Cc value does */

	/* Set when sealing: */
	bool sealed;
	char *head; /* the message's header block, blank line included */
	size_t head_len;
	char ctype[2][96]; /* multipart Content-Type fields */
	char delim[2][3][MIME_BOUNDARY_LEN + 10]; /* open, next, close */
	size_t delim_len[2][3];
	struct op ops[OPS_MAX];
	size_t nops;
};

struct mime_gen {
	mime_msg *m; /* borrowed */
	size_t op;   /* the step under way */
	size_t off;  /* its progress in octets of input */
	size_t qp_col;
	bool qp_done; /* the final '=' of a soft end is out */
	bool b64_started;
	int fd;
	uint64_t got; /* octets read from the open file */
	bool end_done;
	char last; /* the last octet handed out */
	int error;
	const char *cur; /* octets ready to hand out */
	size_t cur_len;
	unsigned char *in; /* MIME_FILE_CHUNK */
	char *pend;        /* MIME_PEND_MAX */
};

enum {
	DELIM_OPEN,  /* "--B" CRLF */
	DELIM_NEXT,  /* CRLF "--B" CRLF */
	DELIM_CLOSE, /* CRLF "--B--" */
};

/* ---- small helpers ---------------------------------------------------- */

static char *
dup_mem(const char *s, size_t len)
{
	char *p;

	p = common_malloc(len + 1);
	if (p == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* A fixed-size output with an overflow flag. */
struct fbuf {
	char *p;
	size_t len;
	size_t cap;
	bool over;
};

static void
fb_put(struct fbuf *b, const char *s, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
fb_puts(struct fbuf *b, const char *s)
{
	fb_put(b, s, strlen(s));
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 2045 5.1 token characters. */
static bool
is_token(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* RFC 2231 7 attribute-char (as RFC 5987 3.2.1 attr-char). */
static bool
is_attr_char(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$&+-.^_`|~", c));
}

/* RFC 5322 3.2.3 atext. */
static bool
is_atext(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static void
hex_put(char *out, const unsigned char *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_lower[in[i] >> 4];
		out[2 * i + 1] = hex_lower[in[i] & 15];
	}
}

static int
sys_random(void *userdata, unsigned char *buf, size_t n)
{
	(void)userdata;
	while (n > 0) {
		ssize_t r;

		r = getrandom(buf, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return SMTPSEND_E_IO;
		}
		buf += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
draw(mime_msg *m, unsigned char *buf, size_t n)
{
	if (m->rnd != NULL)
		return m->rnd(m->rnd_ud, buf, n);
	return sys_random(NULL, buf, n);
}

/* ---- encoders --------------------------------------------------------- */

/* Base64 characters for n octets as lines of 76 (no line ends). */
static uint64_t
b64_size(uint64_t n)
{
	uint64_t lines = (n + B64_LINE_IN - 1) / B64_LINE_IN;

	if (n == 0)
		return 0;
	return (n + 2) / 3 * 4 + 2 * (lines - 1);
}

/* n octets as base64 lines, each but the part's first after a CRLF; out
 * has room for b64_size(n) + 2.  Returns the octets written. */
static size_t
b64_lines(const unsigned char *in, size_t n, char *out, bool *started)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += B64_LINE_IN) {
		size_t end = i + B64_LINE_IN < n ? i + B64_LINE_IN : n;

		if (*started) {
			out[o++] = '\r';
			out[o++] = '\n';
		}
		*started = true;
		for (size_t j = i; j < end; j += 3) {
			uint32_t v = (uint32_t)in[j] << 16;

			if (j + 1 < end)
				v |= (uint32_t)in[j + 1] << 8;
			if (j + 2 < end)
				v |= in[j + 2];
			out[o++] = b64_alphabet[(v >> 18) & 63];
			out[o++] = b64_alphabet[(v >> 12) & 63];
			out[o++] = (char)(j + 1 < end ? b64_alphabet[(v >> 6) & 63]
						      : '=');
			out[o++] = (char)(j + 2 < end ? b64_alphabet[v & 63] : '=');
		}
	}
	return o;
}

/*
 * Quoted-printable (RFC 2045 6.7) of a CRLF text from *pos, writing at
 * most room octets to out (NULL: only count).  Literal: '!'..'~' but
 * '=', and blanks not at a line end; lines of at most MIME_QP_LINE_MAX
 * characters, a soft break "=" included.  soft_end: the text has no
 * final line end and the part is the whole body, so it ends with "=".
 * Returns the octets produced; *last gets the last one.
 */
static size_t
qp_step(const char *in, size_t len, bool soft_end, size_t *pos, size_t *col,
	bool *done, char *out, size_t room, char *last)
{
	size_t o = 0, p = *pos, c0 = *col;

#define EMIT(str, n)                                                           \
	do {                                                                   \
		if (out != NULL)                                               \
			memcpy(out + o, (str), (n));                           \
		*last = (str)[(n)-1];                                          \
		o += (n);                                                      \
	} while (0)

	while (p < len && room - o >= 8) {
		unsigned char c = (unsigned char)in[p];
		bool end, eol, lit;
		size_t w, lim;

		if (c == '\r') {
			/* Always CRLF: the text was normalised. */
			EMIT("\r\n", 2);
			p += 2;
			c0 = 0;
			continue;
		}
		end = p + 1 == len;
		eol = end || in[p + 1] == '\r';
		lit = (c > ' ' && c < 0x7f && c != '=') ||
		      ((c == ' ' || c == '\t') && !eol);
		w = lit ? 1 : 3;
		lim = eol && !(end && soft_end) ? MIME_QP_LINE_MAX
						: MIME_QP_LINE_MAX - 1;
		if (c0 + w > lim) {
			EMIT("=\r\n", 3);
			c0 = 0;
		}
		if (lit) {
			char ch = (char)c;

			EMIT(&ch, 1);
		} else {
			char e[3] = {'=', hex_upper[c >> 4], hex_upper[c & 15]};

			EMIT(e, 3);
		}
		c0 += w;
		p++;
	}
	if (p == len && soft_end && !*done && room - o >= 1) {
		EMIT("=", 1);
		*done = true;
	}
#undef EMIT
	*pos = p;
	*col = c0;
	return o;
}

/* Base64 or quoted-printable, whichever is shorter, for text that cannot
 * go as 7bit. */
static mime_cte
cte_not_plain(const char *text, size_t len)
{
	size_t pos = 0, col = 0;
	bool done = false;
	uint64_t qp;
	char last;

	qp = qp_step(text, len, false, &pos, &col, &done, NULL, SIZE_MAX,
		     &last);
	return qp <= b64_size(len) ? MIME_CTE_QP : MIME_CTE_BASE64;
}

/* Can text (CRLF line ends) go as 7bit: printable ASCII and tabs, lines of
 * at most SMTP_TEXT_LINE_MAX octets? */
static bool
is_plain_text(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0, line = 0;

	while (i < len) {
		size_t k = scan_printable(p + i, len - i);

		i += k;
		line += k;
		if (line > SMTP_TEXT_LINE_MAX)
			return false;
		if (i == len)
			break;
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
			i += 2;
			line = 0;
		} else if (p[i] == '\t') {
			i++;
			if (++line > SMTP_TEXT_LINE_MAX)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

mime_cte
mime_text_cte(const char *text, size_t len)
{
	if (text == NULL || is_plain_text(text, len))
		return MIME_CTE_7BIT;
	return cte_not_plain(text, len);
}

/* ---- the message -------------------------------------------------------- */

int
mime_msg_new(mime_msg **out)
{
	mime_msg *m;

	if (out == NULL)
		return SMTPSEND_E_INVAL;
	m = common_calloc(1, sizeof(*m));
	if (m == NULL)
		return SMTPSEND_E_NOMEM;
	m->html.is_html = true;
	*out = m;
	return 0;
}

void
mime_msg_free(mime_msg *m)
{
	if (m == NULL)
		return;
	common_free(m->from);
	common_free(m->addrs[0]);
	common_free(m->addrs[1]);
	common_free(m->subject);
	for (size_t i = 0; i < m->nhdr; i++)
		common_free(m->hdr[i]);
	common_free(m->text.data);
	common_free(m->html.data);
	for (size_t i = 0; i < m->natt; i++) {
		common_free(m->att[i]->path);
		common_free(m->att[i]->fields);
		common_free(m->att[i]);
	}
	common_free(m->head);
	common_free(m);
}

static bool
has_high(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return true;
	}
	return false;
}

/* RFC 5322 3.6.4 id-right: a dot-atom or a literal without '[', ']', '\'. */
static bool
domain_valid(const char *d, size_t len)
{
	if (len == 0 || len > MIME_DOMAIN_MAX)
		return false;
	if (d[0] == '[') {
		if (len < 3 || d[len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < len; i++) {
			unsigned char c = (unsigned char)d[i];

			if (c <= ' ' || c >= 0x7f || c == '[' || c == ']' ||
			    c == '\\')
				return false;
		}
		return true;
	}
	if (d[0] == '.' || d[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '.' ? d[i + 1] == '.'
				: !is_atext((unsigned char)d[i]))
			return false;
	}
	return true;
}

/*
 * The header text of an address list.  A value of ASCII is taken as it is
 * (it may hold encoded words already).  A value with UTF-8 is parsed
 * (addr.h) and written again: each mailbox as encword_phrase() of its
 * display name and "<local@a-label>", or the bare addr-spec, joined with
 * ", ".  *utf8 tells whether the result still holds UTF-8 (a local part:
 * RFC 6532, the session needs SMTPUTF8).  *out: caller frees.
 */
static int
address_value(const char *value, char **out, size_t *outlen, bool *utf8)
{
	smtp_addr *v = NULL;
	char **phrase = NULL, *res = NULL;
	size_t n = 0, len, total = 0, o = 0;
	int r;

	len = strlen(value);
	if (len == 0)
		return SMTPSEND_E_INVAL;
	if (!has_high(value, len)) {
		res = dup_mem(value, len);
		if (res == NULL)
			return SMTPSEND_E_NOMEM;
		*out = res;
		*outlen = len;
		*utf8 = false;
		return 0;
	}
	r = smtp_addr_parse_list(&v, &n, value, len);
	if (r < 0)
		return r;
	phrase = common_calloc(n, sizeof(*phrase));
	if (phrase == NULL) {
		r = SMTPSEND_E_NOMEM;
		goto out;
	}
	*utf8 = false;
	for (size_t i = 0; i < n; i++) {
		size_t plen = 0;

		if (v[i].display != NULL) {
			r = encword_phrase(&phrase[i], &plen, v[i].display,
					   strlen(v[i].display));
			if (r < 0)
				goto out;
		}
		/* ", " phrase " <" spec ">" */
		total += 2 + plen + 3 + v[i].spec_len;
		*utf8 |= v[i].utf8_local;
	}
	if (total > ENCWORD_STRUCTURED_MAX) {
		r = SMTPSEND_E_LIMIT;
		goto out;
	}
	res = common_malloc(total + 1);
	if (res == NULL) {
		r = SMTPSEND_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0) {
			memcpy(res + o, ", ", 2);
			o += 2;
		}
		if (phrase[i] != NULL) {
			memcpy(res + o, phrase[i], strlen(phrase[i]));
			o += strlen(phrase[i]);
			memcpy(res + o, " <", 2);
			o += 2;
		}
		memcpy(res + o, v[i].spec, v[i].spec_len);
		o += v[i].spec_len;
		if (phrase[i] != NULL)
			res[o++] = '>';
	}
	res[o] = '\0';
	*out = res;
	*outlen = o;
	r = 0;
out:
	for (size_t i = 0; phrase != NULL && i < n; i++)
		common_free(phrase[i]);
	common_free(phrase);
	smtp_addr_list_free(v, n);
	return r;
}

int
mime_msg_set_from(mime_msg *m, const char *value, const char *id_domain)
{
	char *field = NULL, *v = NULL;
	size_t flen = 0, vlen = 0, dlen;
	bool utf8 = false;
	int r;

	if (m == NULL || value == NULL || id_domain == NULL || m->sealed)
		return SMTPSEND_E_INVAL;
	dlen = strlen(id_domain);
	if (!domain_valid(id_domain, dlen))
		return SMTPSEND_E_INVAL;
	r = address_value(value, &v, &vlen, &utf8);
	if (r < 0)
		return r;
	r = encword_structured(&field, &flen, "From", v, vlen);
	common_free(v);
	if (r < 0)
		return r;
	common_free(m->from);
	m->from = field;
	m->from_len = flen;
	m->from_utf8 = utf8;
	memcpy(m->domain, id_domain, dlen + 1);
	return 0;
}

int
mime_msg_add_address(mime_msg *m, mime_addr_kind kind, const char *value)
{
	char *field = NULL, *joined = NULL, *v = NULL;
	size_t vlen = 0, old, len;
	bool utf8 = false;
	int r;

	if (m == NULL || value == NULL || m->sealed ||
	    (kind != MIME_ADDR_TO && kind != MIME_ADDR_CC))
		return SMTPSEND_E_INVAL;
	r = address_value(value, &v, &vlen, &utf8);
	if (r < 0)
		return r;
	/* Check the value alone; the field is folded when sealing. */
	r = encword_structured(&field, NULL, "To", v, vlen);
	if (r < 0)
		goto out;
	old = m->addrs_len[kind];
	len = old + (old > 0 ? 2 : 0) + vlen;
	r = SMTPSEND_E_LIMIT;
	if (len > ENCWORD_STRUCTURED_MAX)
		goto out;
	r = SMTPSEND_E_NOMEM;
	joined = common_malloc(len + 1);
	if (joined == NULL)
		goto out;
	if (old > 0) {
		memcpy(joined, m->addrs[kind], old);
		memcpy(joined + old, ", ", 2);
	}
	memcpy(joined + len - vlen, v, vlen + 1);
	common_free(m->addrs[kind]);
	m->addrs[kind] = joined;
	m->addrs_len[kind] = len;
	m->addrs_utf8 |= utf8;
	r = 0;
out:
	common_free(field);
	common_free(v);
	return r;
}

int
mime_msg_set_subject(mime_msg *m, const char *subject)
{
	char *field = NULL;
	size_t flen = 0;
	int r;

	if (m == NULL || subject == NULL || m->sealed)
		return SMTPSEND_E_INVAL;
	r = encword_unstructured(&field, &flen, "Subject", subject,
				 strlen(subject));
	if (r < 0)
		return r;
	common_free(m->subject);
	m->subject = field;
	m->subject_len = flen;
	return 0;
}

static bool
name_reserved(const char *name)
{
	/* clang-format off */
	static const char *const reserved[] = {
		"From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID",
		"MIME-Version",
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (strcasecmp(name, reserved[i]) == 0)
			return true;
	}
	return strncasecmp(name, "Content-", 8) == 0;
}

int
mime_msg_add_header(mime_msg *m, const char *name, const char *value)
{
	char *field = NULL;
	size_t flen = 0, vlen;
	bool plain = true;
	int r;

	if (m == NULL || name == NULL || value == NULL || m->sealed)
		return SMTPSEND_E_INVAL;
	if (!encword_name_valid(name, strlen(name)) || name_reserved(name))
		return SMTPSEND_E_INVAL;
	if (m->nhdr == MIME_HEADERS_MAX)
		return SMTPSEND_E_LIMIT;
	vlen = strlen(value);
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c != '\t' && (c < ' ' || c > '~'))
			plain = false;
	}
	if (plain)
		r = encword_structured(&field, &flen, name, value, vlen);
	else
		r = encword_unstructured(&field, &flen, name, value, vlen);
	if (r < 0)
		return r;
	m->hdr[m->nhdr] = field;
	m->hdr_len[m->nhdr] = flen;
	m->nhdr++;
	return 0;
}

/* Copy text with every line end (CRLF, bare CR, bare LF) made CRLF. */
/*
 * Check text (UTF-8, no NUL) and measure it with every line end made CRLF,
 * in one pass.  *plain tells whether it can go as 7bit.  0 or
 * SMTPSEND_E_INVAL.
 */
static int
measure_text(const unsigned char *p, size_t len, size_t *out_len, bool *plain)
{
	size_t i = 0, n = 0, line = 0;
	bool ok7 = true;

	while (i < len) {
		size_t k = scan_printable(p + i, len - i);
		uint32_t cp;

		i += k;
		n += k;
		line += k;
		if (i == len)
			break;
		if (p[i] == '\r' || p[i] == '\n') {
			if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
				i++;
			i++;
			n += 2;
			if (line > SMTP_TEXT_LINE_MAX)
				ok7 = false;
			line = 0;
			continue;
		}
		if (p[i] == '\0')
			return SMTPSEND_E_INVAL;
		if (p[i] < 0x80) {
			ok7 = ok7 && p[i] == '\t';
			k = 1;
		} else {
			k = punycode_utf8_next((const char *)p + i, len - i,
					       &cp);
			if (k == 0)
				return SMTPSEND_E_INVAL;
			ok7 = false;
		}
		i += k;
		n += k;
		line += k;
	}
	*out_len = n;
	*plain = ok7 && line <= SMTP_TEXT_LINE_MAX;
	return 0;
}

/* Copy text into out (n bytes), every line end made CRLF. */
static void
copy_crlf(const unsigned char *p, size_t len, char *out, size_t n)
{
	size_t i = 0, o = 0;

	if (n == len) { /* no bare CR or LF: nothing to change */
		memcpy(out, p, len);
		return;
	}
	while (i < len) {
		unsigned char high = 0;
		size_t k = scan_line(p + i, len - i, &high);

		memcpy(out + o, p + i, k);
		i += k;
		o += k;
		if (i == len)
			break;
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
			i++;
		i++;
		out[o++] = '\r';
		out[o++] = '\n';
	}
}

static int
set_part(mime_msg *m, struct text_part *tp, bool *has, const char *text,
	 size_t len)
{
	size_t n = 0;
	char *data = NULL;
	bool plain = true;

	if (m == NULL || (text == NULL && len > 0) || m->sealed)
		return SMTPSEND_E_INVAL;
	if (len > MIME_TEXT_MAX)
		return SMTPSEND_E_LIMIT;
	if (len > 0 &&
	    measure_text((const unsigned char *)text, len, &n, &plain) < 0)
		return SMTPSEND_E_INVAL;
	if (n > 0) {
		data = common_malloc(n);
		if (data == NULL)
			return SMTPSEND_E_NOMEM;
		copy_crlf((const unsigned char *)text, len, data, n);
	}
	common_free(tp->data);
	tp->data = data;
	tp->len = n;
	tp->cte = plain ? MIME_CTE_7BIT : cte_not_plain(data, n);
	*has = true;
	return 0;
}

int
mime_msg_set_text(mime_msg *m, const char *text, size_t len)
{
	if (m == NULL)
		return SMTPSEND_E_INVAL;
	return set_part(m, &m->text, &m->has_text, text, len);
}

int
mime_msg_set_html(mime_msg *m, const char *html, size_t len)
{
	if (m == NULL)
		return SMTPSEND_E_INVAL;
	return set_part(m, &m->html, &m->has_html, html, len);
}

/* "type/subtype" of RFC 2045 tokens, then nothing or "; ..." (printable
 * ASCII). */
static bool
ctype_valid(const char *t, size_t len)
{
	size_t i = 0, start;

	if (len == 0 || len > MIME_CTYPE_MAX)
		return false;
	for (size_t j = 0; j < len; j++) {
		if (t[j] < ' ' || t[j] > '~')
			return false;
	}
	while (i < len && is_token((unsigned char)t[i]))
		i++;
	if (i == 0 || i == len || t[i] != '/')
		return false;
	start = ++i;
	while (i < len && is_token((unsigned char)t[i]))
		i++;
	if (i == start)
		return false;
	while (i < len && t[i] == ' ')
		i++;
	return i == len || t[i] == ';';
}

static bool
filename_valid(const char *n, size_t len)
{
	if (len == 0 || len > MIME_FILENAME_MAX || !encword_utf8_valid(n, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)n[i];

		if (c < ' ' || c == 0x7f || c == '/')
			return false;
	}
	return true;
}

/* Written as name="..." when short printable ASCII without '"', '\' and
 * "=?" (which some readers would decode). */
static bool
filename_quotable(const char *n, size_t len)
{
	if (len > PARAM_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (n[i] < ' ' || n[i] > '~' || n[i] == '"' || n[i] == '\\')
			return false;
		if (n[i] == '=' && i + 1 < len && n[i + 1] == '?')
			return false;
	}
	return true;
}

/* Append ";" and one parameter, on the same line when it fits in 78
 * characters, else on a continuation line. */
static void
param_put(struct fbuf *b, size_t *col, const char *p, size_t plen)
{
	fb_put(b, ";", 1);
	(*col)++;
	if (*col + 1 + plen > ENCWORD_LINE_SOFT) {
		fb_put(b, "\r\n", 2);
		*col = 0;
	}
	fb_put(b, " ", 1);
	fb_put(b, p, plen);
	*col += 1 + plen;
}

/* The file name as parameter attr: attr="name", or RFC 2231
 * attr*=UTF-8''%XX... in sections of at most PARAM_SECTION_MAX
 * characters cut between characters (attr*0*=, attr*1*=, ...). */
static void
name_params(struct fbuf *b, size_t *col, const char *attr, const char *n,
	    size_t len)
{
	char p[PARAM_SECTION_MAX + 40];
	size_t i = 0, total = 0;
	unsigned sect = 0;
	struct fbuf pb;

	if (filename_quotable(n, len)) {
		pb = (struct fbuf){p, 0, sizeof(p), false};
		fb_puts(&pb, attr);
		fb_put(&pb, "=\"", 2);
		fb_put(&pb, n, len);
		fb_put(&pb, "\"", 1);
		param_put(b, col, pb.p, pb.len);
		if (pb.over)
			b->over = true;
		return;
	}
	for (size_t j = 0; j < len; j++)
		total += is_attr_char((unsigned char)n[j]) ? 1 : 3;
	while (i < len) {
		size_t used = 0;
		char num[16];

		pb = (struct fbuf){p, 0, sizeof(p), false};
		fb_puts(&pb, attr);
		if (total > PARAM_SECTION_MAX) {
			snprintf(num, sizeof(num), "*%u", sect);
			fb_puts(&pb, num);
		}
		fb_put(&pb, "*=", 2);
		if (sect == 0)
			fb_puts(&pb, "UTF-8''");
		while (i < len) {
			size_t clen = 1, cost = 0;
			unsigned char c = (unsigned char)n[i];

			/* Whole UTF-8 characters (the name is valid UTF-8). */
			if (c >= 0xf0)
				clen = 4;
			else if (c >= 0xe0)
				clen = 3;
			else if (c >= 0xc0)
				clen = 2;
			for (size_t k = 0; k < clen; k++)
				cost += is_attr_char((unsigned char)n[i + k])
					    ? 1
					    : 3;
			if (used > 0 && used + cost > PARAM_SECTION_MAX)
				break;
			for (size_t k = 0; k < clen; k++) {
				unsigned char d = (unsigned char)n[i + k];
				char e[3] = {'%', hex_upper[d >> 4],
					     hex_upper[d & 15]};

				if (is_attr_char(d))
					fb_put(&pb, (const char *)&n[i + k], 1);
				else
					fb_put(&pb, e, 3);
			}
			used += cost;
			i += clen;
		}
		param_put(b, col, pb.p, pb.len);
		if (pb.over)
			b->over = true;
		sect++;
	}
}

/* The three fields of an attachment part. */
static int
att_fields(struct attachment *a, const char *ctype, const char *name,
	   size_t nlen)
{
	char *buf;
	struct fbuf b;
	size_t col;

	buf = common_malloc(ATT_FIELD_MAX);
	if (buf == NULL)
		return SMTPSEND_E_NOMEM;
	b = (struct fbuf){buf, 0, ATT_FIELD_MAX, false};
	fb_puts(&b, "Content-Type: ");
	fb_puts(&b, ctype);
	col = strlen("Content-Type: ") + strlen(ctype);
	name_params(&b, &col, "name", name, nlen);
	fb_puts(&b, "\r\nContent-Disposition: attachment");
	col = strlen("Content-Disposition: attachment");
	name_params(&b, &col, "filename", name, nlen);
	fb_puts(&b, "\r\nContent-Transfer-Encoding: base64\r\n");
	if (b.over) {
		common_free(buf);
		return SMTPSEND_E_LIMIT;
	}
	a->fields = dup_mem(b.p, b.len);
	a->fields_len = b.len;
	common_free(buf);
	return a->fields != NULL ? 0 : SMTPSEND_E_NOMEM;
}

/* Open a regular file for reading: fd, or a negative code (errno set). */
static int
open_regular(const char *path, struct stat *st)
{
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return SMTPSEND_E_IO;
	if (fstat(fd, st) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return SMTPSEND_E_IO;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		errno = 0;
		return SMTPSEND_E_INVAL;
	}
	return fd;
}

int
mime_msg_attach_file(mime_msg *m, const char *path, const char *content_type,
		     const char *name)
{
	struct attachment *a;
	struct stat st;
	const char *slash;
	size_t nlen;
	int fd, r;

	if (m == NULL || path == NULL || path[0] == '\0' || m->sealed)
		return SMTPSEND_E_INVAL;
	if (m->natt == MIME_ATTACH_MAX)
		return SMTPSEND_E_LIMIT;
	if (content_type == NULL)
		content_type = "application/octet-stream";
	if (!ctype_valid(content_type, strlen(content_type)))
		return SMTPSEND_E_INVAL;
	if (name == NULL) {
		slash = strrchr(path, '/');
		name = slash != NULL ? slash + 1 : path;
	}
	nlen = strlen(name);
	if (!filename_valid(name, nlen))
		return SMTPSEND_E_INVAL;

	fd = open_regular(path, &st);
	if (fd < 0)
		return fd;
	close(fd);

	a = common_calloc(1, sizeof(*a));
	if (a == NULL)
		return SMTPSEND_E_NOMEM;
	a->path = dup_mem(path, strlen(path));
	r = a->path != NULL ? att_fields(a, content_type, name, nlen)
			    : SMTPSEND_E_NOMEM;
	if (r < 0) {
		common_free(a->path);
		common_free(a);
		return r;
	}
	m->att[m->natt++] = a;
	return 0;
}

int
mime_msg_set_date(mime_msg *m, time_t t)
{
	if (m == NULL || m->sealed)
		return SMTPSEND_E_INVAL;
	m->date = t;
	m->date_set = true;
	return 0;
}

int
mime_msg_set_random(mime_msg *m, mime_random_fn fn, void *userdata)
{
	if (m == NULL || m->sealed)
		return SMTPSEND_E_INVAL;
	m->rnd = fn;
	m->rnd_ud = userdata;
	return 0;
}

bool
mime_msg_utf8_headers(const mime_msg *m)
{
	return m != NULL && (m->from_utf8 || m->addrs_utf8);
}

/* ---- sealing ---------------------------------------------------------- */

/* "Date: " RFC 5322 3.3 date-time, local zone, CRLF. */
static int
date_field(char *out, size_t outsz, time_t t)
{
	static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed",
					   "Thu", "Fri", "Sat"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	long off;
	int n;

	if (localtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_year < 0 ||
	    tm.tm_year > 9999 - 1900)
		return SMTPSEND_E_INVAL;
	off = tm.tm_gmtoff / 60;
	n = snprintf(out, outsz,
		     "Date: %s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n",
		     wday[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon],
		     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60,
		     (off < 0 ? -off : off) % 60);
	if (n < 0 || (size_t)n >= outsz)
		return SMTPSEND_E_INVAL;
	return n;
}

static bool
text_has(const struct text_part *tp, const char *s, size_t n)
{
	return tp->len >= n && memmem(tp->data, tp->len, s, n) != NULL;
}

/* Boundary number idx: random, not in the text or HTML, not the other. */
static int
make_boundary(mime_msg *m, size_t idx, const char *kind)
{
	unsigned char rnd[RANDOM_OCTETS];
	char b[MIME_BOUNDARY_LEN + 1];
	int tries, r;

	for (tries = 0; tries < BOUNDARY_TRIES; tries++) {
		r = draw(m, rnd, sizeof(rnd));
		if (r < 0)
			return r;
		b[0] = '=';
		b[1] = '_';
		hex_put(b + 2, rnd, sizeof(rnd));
		b[MIME_BOUNDARY_LEN] = '\0';
		if (text_has(&m->text, b, MIME_BOUNDARY_LEN) ||
		    text_has(&m->html, b, MIME_BOUNDARY_LEN))
			continue;
		if (idx == 1 && memcmp(m->delim[0][DELIM_OPEN] + 2, b,
				       MIME_BOUNDARY_LEN) == 0)
			continue;
		break;
	}
	if (tries == BOUNDARY_TRIES)
		return SMTPSEND_E_LIMIT;
	m->delim_len[idx][DELIM_OPEN] =
	    (size_t)snprintf(m->delim[idx][DELIM_OPEN],
			     sizeof(m->delim[idx][DELIM_OPEN]), "--%s\r\n", b);
	m->delim_len[idx][DELIM_NEXT] = (size_t)snprintf(
	    m->delim[idx][DELIM_NEXT], sizeof(m->delim[idx][DELIM_NEXT]),
	    "\r\n--%s\r\n", b);
	m->delim_len[idx][DELIM_CLOSE] = (size_t)snprintf(
	    m->delim[idx][DELIM_CLOSE], sizeof(m->delim[idx][DELIM_CLOSE]),
	    "\r\n--%s--", b);
	snprintf(m->ctype[idx], sizeof(m->ctype[idx]),
		 "Content-Type: multipart/%s;\r\n boundary=\"%s\"\r\n", kind,
		 b);
	return 0;
}

static const char *
cte_name(mime_cte cte)
{
	switch (cte) {
	case MIME_CTE_7BIT:
		return "7bit";
	case MIME_CTE_QP:
		return "quoted-printable";
	case MIME_CTE_BASE64:
		return "base64";
	}
	return "base64";
}

/* Fields and encoded size of a text part; whole: it is the only part. */
static void
seal_text(struct text_part *tp, bool whole)
{
	size_t pos = 0, col = 0;
	bool done = false;
	char last = '\0';

	tp->fields_len =
	    (size_t)snprintf(tp->fields, sizeof(tp->fields),
			     "Content-Type: text/%s; charset=utf-8\r\n"
			     "Content-Transfer-Encoding: %s\r\n",
			     tp->is_html ? "html" : "plain", cte_name(tp->cte));
	tp->soft_end = whole && tp->cte == MIME_CTE_QP && tp->len > 0 &&
		       tp->data[tp->len - 1] != '\n';
	tp->enc_last = '\0';
	switch (tp->cte) {
	case MIME_CTE_7BIT:
		tp->enc_len = tp->len;
		if (tp->len > 0)
			tp->enc_last = tp->data[tp->len - 1];
		break;
	case MIME_CTE_QP:
		tp->enc_len = qp_step(tp->data, tp->len, tp->soft_end, &pos,
				      &col, &done, NULL, SIZE_MAX, &last);
		tp->enc_last = last;
		break;
	case MIME_CTE_BASE64:
		tp->enc_len = b64_size(tp->len);
		/* Padding, or the low six bits of the last octet. */
		if (tp->len > 0) {
			last = tp->data[tp->len - 1];
			if (tp->len % 3 != 0)
				tp->enc_last = '=';
			else
				tp->enc_last =
				    b64_alphabet[(unsigned char)last & 63];
		}
		break;
	}
}

static void
op_push(mime_msg *m, struct op op)
{
	/* Cannot overflow (OPS_MAX); checked so it cannot write past. */
	if (m->nops < OPS_MAX)
		m->ops[m->nops++] = op;
}

static void
op_str(mime_msg *m, const char *s, size_t len)
{
	op_push(m, (struct op){.kind = OP_STR, .s = s, .len = len});
}

static void
op_text(mime_msg *m, struct text_part *tp, bool top)
{
	if (!top) {
		op_str(m, tp->fields, tp->fields_len);
		op_str(m, "\r\n", 2);
	}
	op_push(m, (struct op){.kind = OP_TEXT, .text = tp});
}

/* The header block: the fixed fields, then the top entity's fields. */
static int
seal_head(mime_msg *m, const char *entity, size_t entity_len)
{
	char date[64], id[MIME_DOMAIN_MAX + 64];
	char *addr[2] = {NULL, NULL};
	size_t addr_len[2] = {0, 0}, dlen, idlen, len, o = 0;
	unsigned char rnd[RANDOM_OCTETS];
	char hex[2 * RANDOM_OCTETS + 1];
	static const char mimever[] = "MIME-Version: 1.0\r\n";
	static const char *const addr_name[2] = {"To", "Cc"};
	int r;

	r = date_field(date, sizeof(date), m->date_set ? m->date : time(NULL));
	if (r < 0)
		return r;
	dlen = (size_t)r;
	r = draw(m, rnd, sizeof(rnd));
	if (r < 0)
		return r;
	hex_put(hex, rnd, sizeof(rnd));
	hex[2 * RANDOM_OCTETS] = '\0';
	idlen = (size_t)snprintf(id, sizeof(id), "Message-ID: <%s@%s>\r\n", hex,
				 m->domain);
	for (int k = 0; k < 2; k++) {
		if (m->addrs_len[k] == 0)
			continue;
		r = encword_structured(&addr[k], &addr_len[k], addr_name[k],
				       m->addrs[k], m->addrs_len[k]);
		if (r < 0)
			goto out;
	}

	len = dlen + m->from_len + addr_len[0] + addr_len[1] + m->subject_len +
	      idlen + sizeof(mimever) - 1 + entity_len + 2;
	for (size_t i = 0; i < m->nhdr; i++)
		len += m->hdr_len[i];
	m->head = common_malloc(len);
	if (m->head == NULL) {
		r = SMTPSEND_E_NOMEM;
		goto out;
	}
#define PUT(s, n)                                                              \
	do {                                                                   \
		if ((n) > 0)                                                   \
			memcpy(m->head + o, (s), (n));                         \
		o += (n);                                                      \
	} while (0)
	PUT(date, dlen);
	PUT(m->from, m->from_len);
	PUT(addr[0], addr_len[0]);
	PUT(addr[1], addr_len[1]);
	PUT(m->subject, m->subject_len);
	PUT(id, idlen);
	for (size_t i = 0; i < m->nhdr; i++)
		PUT(m->hdr[i], m->hdr_len[i]);
	PUT(mimever, sizeof(mimever) - 1);
	PUT(entity, entity_len);
	PUT("\r\n", 2);
#undef PUT
	m->head_len = o;
	r = 0;
out:
	common_free(addr[0]);
	common_free(addr[1]);
	return r;
}

static int
seal(mime_msg *m)
{
	bool alt = m->has_text && m->has_html, mixed = m->natt > 0;
	size_t ialt = mixed ? 1 : 0;
	struct text_part *leaf =
	    m->has_html && !m->has_text ? &m->html : &m->text;
	const char *entity;
	size_t entity_len;
	int r;

	if (m->sealed)
		return 0;
	if (m->from == NULL)
		return SMTPSEND_E_INVAL;

	if (mixed) {
		r = make_boundary(m, 0, "mixed");
		if (r < 0)
			return r;
	}
	if (alt) {
		r = make_boundary(m, ialt, "alternative");
		if (r < 0)
			return r;
	}
	seal_text(&m->text, !alt && !mixed);
	seal_text(&m->html, !alt && !mixed);
	for (size_t i = 0; i < m->natt; i++) {
		struct stat st;
		int fd;

		fd = open_regular(m->att[i]->path, &st);
		if (fd < 0)
			return fd == SMTPSEND_E_INVAL ? SMTPSEND_E_IO : fd;
		close(fd);
		m->att[i]->size = (uint64_t)st.st_size;
	}

	m->nops = 0;
	op_str(m, NULL, 0); /* the header block, below */
	if (mixed)
		op_str(m, m->delim[0][DELIM_OPEN], m->delim_len[0][DELIM_OPEN]);
	if (alt) {
		if (mixed) {
			op_str(m, m->ctype[ialt], strlen(m->ctype[ialt]));
			op_str(m, "\r\n", 2);
		}
		op_str(m, m->delim[ialt][DELIM_OPEN],
		       m->delim_len[ialt][DELIM_OPEN]);
		op_text(m, &m->text, false);
		op_str(m, m->delim[ialt][DELIM_NEXT],
		       m->delim_len[ialt][DELIM_NEXT]);
		op_text(m, &m->html, false);
		op_str(m, m->delim[ialt][DELIM_CLOSE],
		       m->delim_len[ialt][DELIM_CLOSE]);
	} else {
		op_text(m, leaf, !mixed);
	}
	for (size_t i = 0; i < m->natt; i++) {
		op_str(m, m->delim[0][DELIM_NEXT], m->delim_len[0][DELIM_NEXT]);
		op_str(m, m->att[i]->fields, m->att[i]->fields_len);
		op_str(m, "\r\n", 2);
		op_push(m, (struct op){.kind = OP_FILE, .att = m->att[i]});
	}
	if (mixed)
		op_str(m, m->delim[0][DELIM_CLOSE],
		       m->delim_len[0][DELIM_CLOSE]);

	if (mixed || alt) {
		/* multipart/mixed, or the alternative at the top */
		entity = m->ctype[0];
		entity_len = strlen(entity);
	} else {
		entity = leaf->fields;
		entity_len = leaf->fields_len;
	}
	r = seal_head(m, entity, entity_len);
	if (r < 0) {
		m->nops = 0;
		return r;
	}
	m->ops[0].s = m->head;
	m->ops[0].len = m->head_len;
	m->sealed = true;
	return 0;
}

int
mime_msg_measure(mime_msg *m, uint64_t *size)
{
	uint64_t total = 0;
	char last = '\0';
	int r;

	if (m == NULL || size == NULL)
		return SMTPSEND_E_INVAL;
	r = seal(m);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->nops; i++) {
		const struct op *op = &m->ops[i];

		switch (op->kind) {
		case OP_STR:
			total += op->len;
			if (op->len > 0)
				last = op->s[op->len - 1];
			break;
		case OP_TEXT:
			total += op->text->enc_len;
			if (op->text->enc_len > 0)
				last = op->text->enc_last;
			break;
		case OP_FILE:
			total += b64_size(op->att->size);
			if (op->att->size > 0)
				last = 'A'; /* any base64 character */
			break;
		}
	}
	if (last != '\n')
		total += 2;
	*size = total;
	return 0;
}

/* ---- the generator ---------------------------------------------------- */

int
mime_gen_new(mime_gen **out, mime_msg *m)
{
	mime_gen *g;
	int r;

	if (out == NULL || m == NULL)
		return SMTPSEND_E_INVAL;
	r = seal(m);
	if (r < 0)
		return r;
	g = common_calloc(1, sizeof(*g));
	if (g == NULL)
		return SMTPSEND_E_NOMEM;
	g->m = m;
	g->fd = -1;
	g->in = common_malloc(MIME_FILE_CHUNK);
	g->pend = common_malloc(MIME_PEND_MAX);
	if (g->in == NULL || g->pend == NULL) {
		mime_gen_free(g);
		return SMTPSEND_E_NOMEM;
	}
	*out = g;
	return 0;
}

void
mime_gen_free(mime_gen *g)
{
	if (g == NULL)
		return;
	if (g->fd >= 0)
		close(g->fd);
	common_free(g->in);
	common_free(g->pend);
	common_free(g);
}

static void
next_op(mime_gen *g)
{
	g->op++;
	g->off = 0;
	g->qp_col = 0;
	g->qp_done = false;
	g->b64_started = false;
}

static void
text_step(mime_gen *g, struct text_part *tp)
{
	size_t take;

	switch (tp->cte) {
	case MIME_CTE_7BIT:
		g->cur = tp->data;
		g->cur_len = tp->len;
		next_op(g);
		return;
	case MIME_CTE_QP:
		g->cur = g->pend;
		g->cur_len = qp_step(tp->data, tp->len, tp->soft_end, &g->off,
				     &g->qp_col, &g->qp_done, g->pend,
				     MIME_PEND_MAX, &g->last);
		if (g->off == tp->len && (!tp->soft_end || g->qp_done))
			next_op(g);
		return;
	case MIME_CTE_BASE64:
		take = tp->len - g->off;
		if (take > MIME_FILE_CHUNK)
			take = MIME_FILE_CHUNK;
		g->cur = g->pend;
		g->cur_len = b64_lines((const unsigned char *)tp->data + g->off,
				       take, g->pend, &g->b64_started);
		g->off += take;
		if (g->off == tp->len)
			next_op(g);
		return;
	}
}

/* The file changed since the message was sealed. */
static int
file_changed(void)
{
	errno = 0;
	return SMTPSEND_E_IO;
}

static int
file_step(mime_gen *g, struct attachment *a)
{
	size_t fill = 0;
	bool eof = false;
	struct stat st;
	ssize_t n;
	char probe;

	if (g->fd < 0) {
		int fd;

		fd = open_regular(a->path, &st);
		if (fd < 0)
			return fd == SMTPSEND_E_INVAL ? file_changed() : fd;
		g->fd = fd;
		g->got = 0;
		if ((uint64_t)st.st_size != a->size)
			return file_changed();
	}
	while (fill < MIME_FILE_CHUNK) {
		n = read(g->fd, g->in + fill, MIME_FILE_CHUNK - fill);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return SMTPSEND_E_IO;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		fill += (size_t)n;
		if (g->got + fill > a->size)
			return file_changed();
	}
	g->got += fill;
	if (eof && g->got != a->size)
		return file_changed();
	if (!eof && g->got == a->size) {
		/* A full last chunk: make sure nothing follows. */
		do {
			n = read(g->fd, &probe, 1);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return SMTPSEND_E_IO;
		if (n > 0)
			return file_changed();
		eof = true;
	}
	g->cur = g->pend;
	g->cur_len = b64_lines(g->in, fill, g->pend, &g->b64_started);
	if (eof) {
		close(g->fd);
		g->fd = -1;
		next_op(g);
	}
	return 0;
}

/* Stage the next octets: 0, 1 at the end, or a negative code. */
static int
gen_step(mime_gen *g)
{
	const mime_msg *m = g->m;
	const struct op *op;

	if (g->op == m->nops) {
		if (g->end_done)
			return 1;
		g->end_done = true;
		if (g->last != '\n') {
			g->cur = "\r\n";
			g->cur_len = 2;
		}
		return 0;
	}
	op = &m->ops[g->op];
	switch (op->kind) {
	case OP_STR:
		g->cur = op->s;
		g->cur_len = op->len;
		next_op(g);
		return 0;
	case OP_TEXT:
		text_step(g, op->text);
		return 0;
	case OP_FILE:
		return file_step(g, op->att);
	}
	return SMTPSEND_E_INVAL;
}

int
mime_gen_read(mime_gen *g, char *buf, size_t bufsize, size_t *n)
{
	size_t total = 0;
	int r;

	if (g == NULL || buf == NULL || bufsize == 0 || n == NULL)
		return SMTPSEND_E_INVAL;
	if (g->error < 0)
		return g->error;
	while (total < bufsize) {
		size_t k;

		if (g->cur_len > 0) {
			k = g->cur_len < bufsize - total ? g->cur_len
							 : bufsize - total;
			memcpy(buf + total, g->cur, k);
			g->cur += k;
			g->cur_len -= k;
			total += k;
			continue;
		}
		r = gen_step(g);
		if (r < 0) {
			g->error = r;
			return r;
		}
		if (r == 1)
			break;
		if (g->cur_len > 0)
			g->last = g->cur[g->cur_len - 1];
	}
	*n = total;
	return 0;
}
