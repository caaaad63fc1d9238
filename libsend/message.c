/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * smtpsend_message: the builder form (headers, text, html, attachments
 * streamed by mime.c) and the raw form (sendmail: a message on an fd,
 * normalised once into an unlinked spool file).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "alloc.h"
#include "message.h"
#include "encword.h"
#include "mime.h"

#define RAW_HEADER_MAX (256u * 1024u) /* header section of a raw message */
#define MAX_RCPTS      1000u	      /* per message */
#define RAW_CHUNK      (64u * 1024u)

typedef struct {
	char kind[4]; /* "to" "cc" "bcc" */
	smtp_addr a;
} msg_rcpt;

struct smtpsend_message {
	smtp_addr from;
	bool has_from;
	char *env_from; /* raw: -f ("" = null sender), or NULL */
	char *env_name; /* raw: -F */
	msg_rcpt *rcpts;
	size_t nrcpt;
	char *dsn_notify, *dsn_ret, *dsn_envid;
	mime_msg *mm;	/* the builder form's headers and parts */

	/* raw form */
	int raw_fd; /* the caller's fd, read once; -1 when none */
	unsigned raw_flags;
	int spool;  /* memfd with the normalised message, or -1 */
	uint64_t spool_size;
	bool spool_8bit;
	smtp_addr *hdr_rcpts; /* -t: from To/Cc/Bcc */
	size_t nhdr_rcpts;
	smtp_addr *hdr_from;  /* the From header: the sender without -f */
	size_t nhdr_from;
	bool raw;

	/* sendmail for a machine: local names ("root") and where their mail
	 * goes, and the sender for local senders (set_local) */
	char **alias_name, **alias_addr;
	size_t nalias;
	char *local_sender;
};

struct msg_reader {
	smtpsend_message *m;
	off_t off;	     /* raw: position in the spool */
	mime_gen *gen;	      /* builder */
};

static char *
sdup(const char *p, size_t n)
{
	char *d = common_malloc(n + 1);

	if (d != NULL) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static bool
bad_text(const char *s)
{
	return s == NULL || strpbrk(s, "\r\n") != NULL;
}

int
smtpsend_message_new(smtpsend_message **out, smtpsend_error *err)
{
	smtpsend_message *m;

	if (out == NULL)
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "no output location");
	m = common_calloc(1, sizeof(*m));
	if (m == NULL)
		return send_fail(err, SMTPSEND_E_NOMEM, "message",
				 "out of memory");
	m->raw_fd = -1;
	m->spool = -1;
	if (mime_msg_new(&m->mm) < 0) {
		common_free(m);
		return send_fail(err, SMTPSEND_E_NOMEM, "message",
				 "out of memory");
	}
	*out = m;
	return 0;
}

static void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		common_free(v[i]);
	common_free(v);
}

void
smtpsend_message_free(smtpsend_message *m)
{
	if (m == NULL)
		return;
	smtp_addr_clear(&m->from);
	common_free(m->env_from);
	common_free(m->env_name);
	for (size_t i = 0; i < m->nrcpt; i++)
		smtp_addr_clear(&m->rcpts[i].a);
	common_free(m->rcpts);
	mime_msg_free(m->mm);
	common_free(m->dsn_notify);
	common_free(m->dsn_ret);
	common_free(m->dsn_envid);
	smtp_addr_list_free(m->hdr_rcpts, m->nhdr_rcpts);
	for (size_t i = 0; i < m->nalias; i++) {
		common_free(m->alias_name[i]);
		common_free(m->alias_addr[i]);
	}
	common_free(m->alias_name);
	common_free(m->alias_addr);
	common_free(m->local_sender);
	smtp_addr_list_free(m->hdr_from, m->nhdr_from);
	if (m->spool >= 0)
		close(m->spool);
	common_free(m);
}

/* A mime.c error, named. */
static int
mime_fail(smtpsend_error *err, int r, const char *what)
{
	if (r >= 0)
		return 0;
	return send_fail(err, r, "message", "%s: %s", what,
			 r == SMTPSEND_E_NOMEM	 ? "out of memory"
			 : r == SMTPSEND_E_LIMIT ? "too long or too many"
						 : "invalid");
}

static int
addr_fail(smtpsend_error *err, int r, const char *what, const char *addr)
{
	return send_fail(err, r == SMTPSEND_E_NOMEM ? r : SMTPSEND_E_INVAL,
			 "message", "%s '%.80s' is not a valid address", what,
			 addr);
}

int
smtpsend_message_set_from(smtpsend_message *m, const char *addr,
			  smtpsend_error *err)
{
	smtp_addr a = {0};
	int r;

	if (m == NULL || addr == NULL)
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "no sender");
	r = smtp_addr_parse(&a, addr, strlen(addr));
	if (r < 0)
		return addr_fail(err, r, "sender", addr);
	r = mime_msg_set_from(m->mm, addr, smtp_addr_domain(&a));
	if (r < 0) {
		smtp_addr_clear(&a);
		return mime_fail(err, r, "the From header");
	}
	smtp_addr_clear(&m->from);
	m->from = a;
	m->has_from = true;
	return 0;
}

/* smtp_local_fn: the alias of a local name, "*" for any other. */
static const char *
map_local(const char *name, size_t len, void *ud)
{
	const smtpsend_message *m = ud;
	const char *any = NULL;

	for (size_t i = 0; i < m->nalias; i++) {
		if (strlen(m->alias_name[i]) == len &&
		    memcmp(m->alias_name[i], name, len) == 0)
			return m->alias_addr[i];
		if (strcmp(m->alias_name[i], "*") == 0)
			any = m->alias_addr[i];
	}
	return any;
}

int
smtpsend_message_set_local(smtpsend_message *m, const char *sender,
			   const char *const *names, const char *const *addrs,
			   size_t n, smtpsend_error *err)
{
	smtp_addr a = {0};

	if (m == NULL || (n > 0 && (names == NULL || addrs == NULL)) ||
	    m->nrcpt > 0 || m->nalias > 0 || n > MAX_RCPTS)
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "local names are set once, before any "
				 "recipient");
	if (sender != NULL) {
		int r = smtp_addr_parse(&a, sender, strlen(sender));

		smtp_addr_clear(&a);
		if (r < 0)
			return addr_fail(err, r, "sender for local senders",
					 sender);
		m->local_sender = sdup(sender, strlen(sender));
		if (m->local_sender == NULL)
			goto nomem;
	}
	m->alias_name = common_calloc(n + 1, sizeof(char *));
	m->alias_addr = common_calloc(n + 1, sizeof(char *));
	if (m->alias_name == NULL || m->alias_addr == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		size_t s0, l;
		int r;

		if (names[i] == NULL || addrs[i] == NULL ||
		    (strcmp(names[i], "*") != 0 &&
		     (smtp_local_name(names[i], strlen(names[i]), &s0, &l) <
			  0 ||
		      s0 != 0 || l != strlen(names[i]))))
			return send_fail(err, SMTPSEND_E_INVAL, "message",
					 "'%s' is not a local name",
					 names[i] != NULL ? names[i] : "");
		r = smtp_addr_parse(&a, addrs[i], strlen(addrs[i]));
		smtp_addr_clear(&a);
		if (r < 0)
			return addr_fail(err, r, "alias", addrs[i]);
		m->alias_name[i] = sdup(names[i], strlen(names[i]));
		m->alias_addr[i] = sdup(addrs[i], strlen(addrs[i]));
		m->nalias = i + 1;
		if (m->alias_name[i] == NULL || m->alias_addr[i] == NULL)
			goto nomem;
	}
	return 0;
nomem:
	return send_fail(err, SMTPSEND_E_NOMEM, "message", "out of memory");
}

int
smtpsend_message_add_rcpt(smtpsend_message *m, const char *kind,
			  const char *addr, smtpsend_error *err)
{
	msg_rcpt *nv;
	smtp_addr a = {0};
	int r;

	if (m == NULL || addr == NULL || kind == NULL ||
	    (strcmp(kind, "to") != 0 && strcmp(kind, "cc") != 0 &&
	     strcmp(kind, "bcc") != 0))
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "a recipient needs kind to, cc or bcc");
	if (m->nrcpt >= MAX_RCPTS)
		return send_fail(err, SMTPSEND_E_LIMIT, "message",
				 "more than %u recipients", MAX_RCPTS);
	/* A local name with an alias stands for the alias. */
	if (m->nalias > 0 && strchr(addr, '@') == NULL) {
		size_t s0, l;
		const char *to;

		if (smtp_local_name(addr, strlen(addr), &s0, &l) == 0 &&
		    (to = map_local(addr + s0, l, m)) != NULL)
			addr = to;
	}
	r = smtp_addr_parse(&a, addr, strlen(addr));
	if (r < 0)
		return addr_fail(err, r, "recipient", addr);
	if (strcmp(kind, "bcc") != 0) {
		r = mime_msg_add_address(m->mm,
					 strcmp(kind, "to") == 0 ? MIME_ADDR_TO
								 : MIME_ADDR_CC,
					 addr);
		if (r < 0) {
			smtp_addr_clear(&a);
			return mime_fail(err, r, "a recipient header");
		}
	}
	nv = common_calloc(m->nrcpt + 1, sizeof(*nv));
	if (nv == NULL) {
		smtp_addr_clear(&a);
		return send_fail(err, SMTPSEND_E_NOMEM, "message",
				 "out of memory");
	}
	if (m->nrcpt > 0)
		memcpy(nv, m->rcpts, m->nrcpt * sizeof(*nv));
	common_free(m->rcpts);
	m->rcpts = nv;
	snprintf(nv[m->nrcpt].kind, sizeof(nv[m->nrcpt].kind), "%s", kind);
	nv[m->nrcpt].a = a;
	m->nrcpt++;
	return 0;
}

static int
set_str(char **slot, const char *v, size_t n, smtpsend_error *err)
{
	char *d = sdup(v, n);

	if (d == NULL)
		return send_fail(err, SMTPSEND_E_NOMEM, "message",
				 "out of memory");
	common_free(*slot);
	*slot = d;
	return 0;
}

int
smtpsend_message_set_subject(smtpsend_message *m, const char *subject,
			     smtpsend_error *err)
{
	if (m == NULL || bad_text(subject))
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "the subject must not contain CR or LF");
	return mime_fail(err, mime_msg_set_subject(m->mm, subject),
			 "the subject");
}

int
smtpsend_message_add_header(smtpsend_message *m, const char *name,
			    const char *value, smtpsend_error *err)
{
	if (m == NULL || name == NULL || bad_text(value) ||
	    !encword_name_valid(name, strlen(name)))
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "a header needs a valid name and a value "
				 "without CR or LF");
	return mime_fail(err, mime_msg_add_header(m->mm, name, value),
			 "a header");
}

int
smtpsend_message_set_text(smtpsend_message *m, const char *text, size_t len,
			  smtpsend_error *err)
{
	if (m == NULL || (text == NULL && len > 0))
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "no text given");
	return mime_fail(err, mime_msg_set_text(m->mm, text != NULL ? text : "",
						len),
			 "the text");
}

int
smtpsend_message_set_html(smtpsend_message *m, const char *html, size_t len,
			  smtpsend_error *err)
{
	if (m == NULL || html == NULL)
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "no html given");
	return mime_fail(err, mime_msg_set_html(m->mm, html, len), "the html");
}

int
smtpsend_message_attach_file(smtpsend_message *m, const char *path,
			     const char *content_type, const char *name,
			     smtpsend_error *err)
{
	if (m == NULL || path == NULL || bad_text(path) ||
	    (content_type != NULL && bad_text(content_type)) ||
	    (name != NULL && bad_text(name)))
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "bad attachment arguments");
	if (access(path, R_OK) < 0)
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "cannot read attachment '%.100s'", path);
	return mime_fail(err,
			 mime_msg_attach_file(m->mm, path, content_type, name),
			 "an attachment");
}

int
smtpsend_message_set_raw_fd(smtpsend_message *m, int fd, unsigned flags,
			    smtpsend_error *err)
{
	if (m == NULL || fd < 0 ||
	    (flags & ~(SMTPSEND_RAW_RCPTS_FROM_HEADERS | SMTPSEND_RAW_DOT_ENDS |
		       SMTPSEND_RAW_ADD_MISSING)) != 0)
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "bad raw message arguments");
	m->raw = true;
	m->raw_fd = fd;
	m->raw_flags = flags;
	return 0;
}

int
smtpsend_message_set_envelope_from(smtpsend_message *m, const char *addr,
				   const char *display_name,
				   smtpsend_error *err)
{
	if (m == NULL || (addr != NULL && bad_text(addr)) ||
	    (display_name != NULL && bad_text(display_name)))
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "CR or LF in the envelope sender");
	if (addr != NULL && *addr != '\0') {
		smtp_addr a = {0};
		int r = smtp_addr_parse(&a, addr, strlen(addr));

		if (r < 0)
			return addr_fail(err, r, "sender", addr);
		smtp_addr_clear(&a);
	}
	if (addr != NULL && set_str(&m->env_from, addr, strlen(addr), err) < 0)
		return SMTPSEND_E_NOMEM;
	if (display_name != NULL &&
	    set_str(&m->env_name, display_name, strlen(display_name), err) < 0)
		return SMTPSEND_E_NOMEM;
	return 0;
}

static bool
dsn_word_ok(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (*s <= ' ' || *s >= 127 || *s == '=' || *s == '+')
			return false;
	return true;
}

int
smtpsend_message_set_dsn(smtpsend_message *m, const char *notify,
			 const char *ret, const char *envid,
			 smtpsend_error *err)
{
	if (m == NULL || !dsn_word_ok(notify) || !dsn_word_ok(envid) ||
	    (ret != NULL && strcasecmp(ret, "FULL") != 0 &&
	     strcasecmp(ret, "HDRS") != 0))
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "bad DSN parameters");
	if (notify != NULL &&
	    set_str(&m->dsn_notify, notify, strlen(notify), err) < 0)
		return SMTPSEND_E_NOMEM;
	if (ret != NULL && set_str(&m->dsn_ret, ret, strlen(ret), err) < 0)
		return SMTPSEND_E_NOMEM;
	if (envid != NULL &&
	    set_str(&m->dsn_envid, envid, strlen(envid), err) < 0)
		return SMTPSEND_E_NOMEM;
	return 0;
}

/* ---- raw messages: spool once, normalised ------------------------------- */

typedef struct {
	int out;	       /* spool fd */
	char *line;	       /* current line (without its end) */
	size_t len;
	bool in_header;
	bool skip_cont;	       /* dropping a Bcc field's continuation */
	bool eightbit;
	bool ended;	       /* a "." line with DOT_ENDS */
	char *hdr;	       /* unfolded recipient header values (-t) */
	size_t hdr_len, hdr_cap;
	bool seen_date, seen_msgid, seen_from;
	bool collecting;       /* in a To/Cc/Bcc field (-t) */
	char from[SMTP_TEXT_LINE_MAX + 1]; /* first line of the From field */
	uint64_t size;
	unsigned flags;
	char *obuf; /* RAW_CHUNK bytes gathered before a write(2) */
	size_t olen;
} spooler;

static int
write_all(int fd, const char *p, size_t n, smtpsend_error *err)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return send_fail(err, SMTPSEND_E_IO, "message",
					 "cannot spool the message");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write out what spool_write() gathered; before the spool is read or
 * sp->out changes. */
static int
spool_flush(spooler *sp, smtpsend_error *err)
{
	int r = sp->olen > 0 ? write_all(sp->out, sp->obuf, sp->olen, err) : 0;

	sp->olen = 0;
	return r;
}

/* Lines are short: gather them, one write(2) per RAW_CHUNK instead of two
 * per line. */
static int
spool_write(spooler *sp, const char *p, size_t n, smtpsend_error *err)
{
	if (sp->obuf != NULL && sp->olen + n <= RAW_CHUNK) {
		memcpy(sp->obuf + sp->olen, p, n);
		sp->olen += n;
		sp->size += (uint64_t)n;
		return 0;
	}
	if (spool_flush(sp, err) < 0)
		return -1;
	if (sp->obuf != NULL && n < RAW_CHUNK) {
		memcpy(sp->obuf, p, n);
		sp->olen = n;
		sp->size += (uint64_t)n;
		return 0;
	}
	if (write_all(sp->out, p, n, err) < 0)
		return -1;
	sp->size += (uint64_t)n;
	return 0;
}

static int
hdr_append(spooler *sp, const char *p, size_t n, smtpsend_error *err)
{
	if (sp->hdr_len + n + 2 > RAW_HEADER_MAX)
		return send_fail(err, SMTPSEND_E_LIMIT, "message",
				 "the recipient headers are too long");
	if (sp->hdr_len + n + 2 > sp->hdr_cap) {
		size_t ncap = (sp->hdr_cap ? sp->hdr_cap * 2 : 1024) + n + 2;
		char *nh = common_malloc(ncap);

		if (nh == NULL)
			return send_fail(err, SMTPSEND_E_NOMEM, "message",
					 "out of memory");
		if (sp->hdr != NULL)
			memcpy(nh, sp->hdr, sp->hdr_len);
		common_free(sp->hdr);
		sp->hdr = nh;
		sp->hdr_cap = ncap;
	}
	memcpy(sp->hdr + sp->hdr_len, p, n);
	sp->hdr_len += n;
	sp->hdr[sp->hdr_len] = '\0';
	return 0;
}

static bool
field_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* One complete input line (without its end).  Header handling first,
 * then the line goes to the spool with CRLF. */
static int
spool_line(spooler *sp, const char *line, size_t len, smtpsend_error *err)
{
	int r;

	if ((sp->flags & SMTPSEND_RAW_DOT_ENDS) && len == 1 && line[0] == '.') {
		sp->ended = true;
		return 0;
	}
	if (len > SMTP_TEXT_LINE_MAX)
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "a line is longer than %u octets (RFC 5322)",
				 SMTP_TEXT_LINE_MAX);
	if (memchr(line, '\0', len) != NULL)
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "the message contains a NUL byte");
	for (size_t i = 0; i < len && !sp->eightbit; i++)
		if ((unsigned char)line[i] >= 0x80)
			sp->eightbit = true;
	if (sp->in_header) {
		bool cont = len > 0 && (line[0] == ' ' || line[0] == '\t');

		if (len == 0) {
			sp->in_header = false;
			sp->collecting = sp->skip_cont = false;
		} else if (cont) {
			if (sp->collecting) {
				r = hdr_append(sp, line, len, err);
				if (r < 0)
					return r;
			}
			if (sp->skip_cont)
				return 0;
		} else {
			bool bcc = field_is(line, len, "Bcc");

			sp->collecting = false;
			sp->skip_cont = false;
			sp->seen_date |= field_is(line, len, "Date");
			sp->seen_msgid |= field_is(line, len, "Message-ID");
			if (!sp->seen_from && field_is(line, len, "From")) {
				size_t n = len - 5;

				memcpy(sp->from, line + 5, n);
				sp->from[n] = '\0';
				sp->seen_from = true;
			}
			if ((sp->flags & SMTPSEND_RAW_RCPTS_FROM_HEADERS) &&
			    (bcc || field_is(line, len, "To") ||
			     field_is(line, len, "Cc"))) {
				const char *v =
				    (const char *)memchr(line, ':', len) + 1;

				sp->collecting = true;
				if (sp->hdr_len > 0) {
					r = hdr_append(sp, ",", 1, err);
					if (r < 0)
						return r;
				}
				r = hdr_append(sp, v,
					       len - (size_t)(v - line), err);
				if (r < 0)
					return r;
			}
			if (bcc && (sp->flags &
				    SMTPSEND_RAW_RCPTS_FROM_HEADERS)) {
				sp->skip_cont = true;
				return 0; /* Bcc never reaches the wire */
			}
		}
	}
	r = spool_write(sp, line, len, err);
	if (r == 0)
		r = spool_write(sp, "\r\n", 2, err);
	return r;
}

static void
format_date(time_t t, char *buf, size_t n)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
					   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
					     "May", "Jun", "Jul", "Aug",
					     "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, n, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
make_message_id(const char *domain, char *buf, size_t n)
{
	unsigned char rnd[16] = {0};
	char hex[33];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	snprintf(buf, n, "<%s.%lld@%s>", hex, (long long)time(NULL), domain);
}

/* Date and Message-ID (and From) for a raw message that lacks them. */
static int
spool_missing(smtpsend_message *m, spooler *sp, int tmp,
	      smtpsend_error *err)
{
	char buf[512];
	int r = 0, n;

	/* The body spool is appended after this, to tmp, in every case. */
	sp->out = tmp;
	if (!(sp->flags & SMTPSEND_RAW_ADD_MISSING))
		return 0;
	if (!sp->seen_date) {
		char date[64];

		format_date(time(NULL), date, sizeof(date));
		n = snprintf(buf, sizeof(buf), "Date: %s", date);
		r = spool_write(sp, buf, (size_t)n, err);
		if (r == 0)
			r = spool_write(sp, "\r\n", 2, err);
	}
	if (r == 0 && !sp->seen_msgid) {
		char id[128];
		const char *dom = m->env_from != NULL
				      ? strrchr(m->env_from, '@')
				      : NULL;

		make_message_id(dom != NULL ? dom + 1 : "localhost", id,
				sizeof(id));
		n = snprintf(buf, sizeof(buf), "Message-ID: %s", id);
		r = spool_write(sp, buf, (size_t)n, err);
		if (r == 0)
			r = spool_write(sp, "\r\n", 2, err);
	}
	if (r == 0 && !sp->seen_from && m->env_from != NULL &&
	    *m->env_from != '\0') {
		if (m->env_name != NULL)
			n = snprintf(buf, sizeof(buf), "From: %s <%s>",
				     m->env_name, m->env_from);
		else
			n = snprintf(buf, sizeof(buf), "From: %s",
				     m->env_from);
		if (n < 0 || (size_t)n >= sizeof(buf))
			return send_fail(err, SMTPSEND_E_LIMIT, "message",
					 "the From header is too long");
		r = spool_write(sp, buf, (size_t)n, err);
		if (r == 0)
			r = spool_write(sp, "\r\n", 2, err);
	}
	return r;
}

/* Read the caller's fd once, normalising line ends to CRLF, into a spool;
 * missing headers are written first into a second spool that is then
 * followed by the message (two memfds, joined by copy). */
static int
raw_spool(smtpsend_message *m, smtpsend_error *err)
{
	spooler sp = {.in_header = true, .flags = m->raw_flags};
	char *in = NULL, *line = NULL;
	size_t llen = 0;
	bool cr = false;
	int body = -1, head = -1, r = 0;

	in = common_malloc(RAW_CHUNK);
	line = common_malloc(SMTP_TEXT_LINE_MAX + 2);
	sp.obuf = common_malloc(RAW_CHUNK);
	body = memfd_create("smtpsend-body", MFD_CLOEXEC);
	head = memfd_create("smtpsend-spool", MFD_CLOEXEC);
	if (in == NULL || line == NULL || sp.obuf == NULL) {
		r = send_fail(err, SMTPSEND_E_NOMEM, "message", "out of memory");
		goto out;
	}
	if (body < 0 || head < 0) {
		r = send_fail(err, SMTPSEND_E_IO, "message",
			      "cannot create a spool file");
		goto out;
	}
	sp.out = body;
	while (r == 0 && !sp.ended) {
		ssize_t n = read(m->raw_fd, in, RAW_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = send_fail(err, SMTPSEND_E_IO, "message",
				      "cannot read the message");
			break;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n && r == 0 && !sp.ended; i++) {
			char ch = in[i];

			/* CRLF, bare CR and bare LF all end a line. */
			if (cr) {
				cr = false;
				r = spool_line(&sp, line, llen, err);
				llen = 0;
				if (ch == '\n')
					continue;
				if (r < 0 || sp.ended)
					break;
			}
			if (ch == '\r') {
				cr = true;
				continue;
			}
			if (ch == '\n') {
				r = spool_line(&sp, line, llen, err);
				llen = 0;
				continue;
			}
			if (llen > SMTP_TEXT_LINE_MAX) {
				r = send_fail(err, SMTPSEND_E_INVAL, "message",
					      "a line is longer than %u octets "
					      "(RFC 5322)",
					      SMTP_TEXT_LINE_MAX);
				break;
			}
			line[llen++] = ch;
		}
	}
	if (r == 0 && (cr || llen > 0) && !sp.ended)
		r = spool_line(&sp, line, llen, err);
	if (r == 0 && sp.in_header && sp.size == 0)
		r = send_fail(err, SMTPSEND_E_INVAL, "message",
			      "the message is empty");
	if (r < 0)
		goto out;
	/* Without -f, the From header names the envelope sender. */
	if (sp.seen_from && m->env_from == NULL &&
	    smtp_addr_parse_list(&m->hdr_from, &m->nhdr_from, sp.from,
				 strlen(sp.from)) < 0)
		m->nhdr_from = 0;
	if (m->raw_flags & SMTPSEND_RAW_RCPTS_FROM_HEADERS) {
		r = sp.hdr_len == 0
			? 0
			: smtp_addr_parse_list_map(
			      &m->hdr_rcpts, &m->nhdr_rcpts, sp.hdr,
			      sp.hdr_len, m->nalias > 0 ? map_local : NULL, m);
		if (r < 0) {
			r = send_fail(err, SMTPSEND_E_INVAL, "message",
				      "a To, Cc or Bcc header has an invalid "
				      "address");
			goto out;
		}
	}
	{
		r = spool_flush(&sp, err);
		if (r < 0)
			goto out;
		sp.size = 0;
		r = spool_missing(m, &sp, head, err);
		if (r < 0)
			goto out;
		/* Append the body spool to the header spool. */
		if (lseek(body, 0, SEEK_SET) < 0) {
			r = send_fail(err, SMTPSEND_E_IO, "message",
				      "cannot rewind the spool");
			goto out;
		}
		for (;;) {
			ssize_t n = read(body, in, RAW_CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			r = spool_write(&sp, in, (size_t)n, err);
			if (r < 0)
				goto out;
		}
		r = spool_flush(&sp, err);
		if (r < 0)
			goto out;
	}
	m->spool = head;
	head = -1;
	m->spool_size = sp.size;
	m->spool_8bit = sp.eightbit;
	m->raw_fd = -1; /* read once */
out:
	if (body >= 0)
		close(body);
	if (head >= 0)
		close(head);
	common_free(sp.hdr);
	common_free(sp.obuf);
	common_free(in);
	common_free(line);
	return r;
}

/* ---- prepare / read ------------------------------------------------------ */

static int
add_path(msg_prep *p, const smtp_addr *a, smtpsend_error *err)
{
	char **np, **na;
	char *path = NULL;

	if (smtp_addr_path_dup(a, &path) < 0)
		return send_fail(err, SMTPSEND_E_NOMEM, "message",
				 "out of memory");
	np = common_calloc(p->nrcpt + 1, sizeof(char *));
	na = common_calloc(p->nrcpt + 1, sizeof(char *));
	if (np == NULL || na == NULL) {
		common_free(np);
		common_free(na);
		common_free(path);
		return send_fail(err, SMTPSEND_E_NOMEM, "message",
				 "out of memory");
	}
	if (p->nrcpt > 0) {
		memcpy(np, p->rcpt_paths, p->nrcpt * sizeof(char *));
		memcpy(na, p->rcpt_addrs, p->nrcpt * sizeof(char *));
	}
	np[p->nrcpt] = path;
	na[p->nrcpt] = sdup(a->spec, a->spec_len);
	common_free(p->rcpt_paths);
	common_free(p->rcpt_addrs);
	p->rcpt_paths = np;
	p->rcpt_addrs = na;
	/* Counted before the check, so msg_prep_clear() frees the path
	 * even when the copy of the address failed. */
	p->nrcpt++;
	if (na[p->nrcpt - 1] == NULL)
		return send_fail(err, SMTPSEND_E_NOMEM, "message",
				 "out of memory");
	if (a->utf8_local)
		p->smtputf8 = true;
	return 0;
}

void
msg_prep_clear(msg_prep *p)
{
	common_free(p->from_path);
	free_strv(p->rcpt_paths, p->nrcpt);
	free_strv(p->rcpt_addrs, p->nrcpt);
	memset(p, 0, sizeof(*p));
}

int
message_prepare(smtpsend_message *m, msg_prep *p, smtpsend_error *err)
{
	int r;

	memset(p, 0, sizeof(*p));
	if (m->raw && m->spool < 0) {
		if (m->raw_fd < 0)
			return send_fail(err, SMTPSEND_E_INVAL, "message",
					 "the raw message was already "
					 "consumed");
		r = raw_spool(m, err);
		if (r < 0)
			return r;
	}
	/* Envelope sender: -f, else the builder's From, else the raw From
	 * header; a local sender ("-f root", "From: root (Cron Daemon)",
	 * none at all) is the one set_local() names, when it does. */
	if (m->local_sender != NULL && !m->has_from &&
	    (m->env_from != NULL ? *m->env_from != '\0' &&
				       strchr(m->env_from, '@') == NULL
				 : m->nhdr_from == 0)) {
		smtp_addr a = {0};

		r = smtp_addr_parse(&a, m->local_sender,
				    strlen(m->local_sender));
		if (r == 0)
			r = smtp_addr_path_dup(&a, &p->from_path);
		smtp_addr_clear(&a);
		if (r < 0)
			return addr_fail(err, r, "sender", m->local_sender);
	} else if (m->env_from != NULL && *m->env_from == '\0') {
		p->from_path = sdup("<>", 2);
	} else if (m->env_from != NULL) {
		smtp_addr a = {0};

		r = smtp_addr_parse(&a, m->env_from, strlen(m->env_from));
		if (r == 0) {
			r = smtp_addr_path_dup(&a, &p->from_path);
			p->smtputf8 |= a.utf8_local;
		}
		smtp_addr_clear(&a);
		if (r < 0)
			return addr_fail(err, r, "sender", m->env_from);
	} else if (m->has_from) {
		if (smtp_addr_path_dup(&m->from, &p->from_path) < 0)
			return send_fail(err, SMTPSEND_E_NOMEM, "message",
					 "out of memory");
		p->smtputf8 |= m->from.utf8_local;
	} else if (m->nhdr_from > 0) {
		if (smtp_addr_path_dup(&m->hdr_from[0], &p->from_path) < 0)
			return send_fail(err, SMTPSEND_E_NOMEM, "message",
					 "out of memory");
		p->smtputf8 |= m->hdr_from[0].utf8_local;
	} else {
		return send_fail(err, SMTPSEND_E_INVAL, "message",
				 "no sender (use -f, --from or a From header)");
	}
	if (p->from_path == NULL)
		return send_fail(err, SMTPSEND_E_NOMEM, "message",
				 "out of memory");
	for (size_t i = 0; i < m->nrcpt; i++) {
		r = add_path(p, &m->rcpts[i].a, err);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; i < m->nhdr_rcpts; i++) {
		r = add_path(p, &m->hdr_rcpts[i], err);
		if (r < 0)
			goto fail;
	}
	if (p->nrcpt == 0) {
		r = send_fail(err, SMTPSEND_E_INVAL, "message",
			      "no recipients");
		goto fail;
	}
	p->dsn_notify = m->dsn_notify;
	p->dsn_ret = m->dsn_ret;
	p->dsn_envid = m->dsn_envid;
	if (m->raw) {
		p->size = m->spool_size;
		p->eightbit = m->spool_8bit;
		return 0;
	}
	p->smtputf8 |= mime_msg_utf8_headers(m->mm);
	r = mime_msg_measure(m->mm, &p->size);
	if (r < 0) {
		r = mime_fail(err, r, "the message");
		goto fail;
	}
	return 0;

fail:
	msg_prep_clear(p);
	return r;
}

int
message_open(smtpsend_message *m, msg_reader **out, smtpsend_error *err)
{
	msg_reader *rd = common_calloc(1, sizeof(*rd));
	int r;

	if (rd == NULL)
		return send_fail(err, SMTPSEND_E_NOMEM, "message",
				 "out of memory");
	rd->m = m;
	if (!m->raw) {
		r = mime_gen_new(&rd->gen, m->mm);
		if (r < 0) {
			common_free(rd);
			return mime_fail(err, r, "the message");
		}
	}
	*out = rd;
	return 0;
}

int
msg_reader_read(msg_reader *rd, char *buf, size_t n, size_t *got,
		smtpsend_error *err)
{
	ssize_t k;

	if (rd->gen != NULL) {
		int r = mime_gen_read(rd->gen, buf, n, got);

		return r < 0 ? send_fail(err, r, "data",
					 r == SMTPSEND_E_IO
					     ? "cannot read an attachment"
					     : "cannot generate the message")
			     : 0;
	}
	do
		k = pread(rd->m->spool, buf, n, rd->off);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return send_fail(err, SMTPSEND_E_IO, "data",
				 "cannot read the spooled message");
	rd->off += k;
	*got = (size_t)k;
	return 0;
}

void
msg_reader_close(msg_reader *rd)
{
	if (rd == NULL)
		return;
	mime_gen_free(rd->gen);
	common_free(rd);
}
