/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The broker as the transport (docs/broker.md): a session made with
 * smtpsend_session_new_broker() never opens an SMTP connection and never
 * sees a credential.  Per message it connects to smtpcredd's Unix socket,
 * sends the envelope (what message_prepare resolved), waits for the
 * broker's go-ahead (its policy check), streams the message bytes exactly
 * as they would go on the wire before dot-stuffing, and reads the
 * broker's trace lines and its result: the same smtpsend_result and
 * smtpsend_error a direct send gives.  A broker that goes away before its
 * result is a temporary error, and nothing is reported as sent.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc.h"
#include "internal.h"
#include "message.h"
#include "parse.h"
#include "wire.h"

/* strerror(3) is not thread-safe: the GNU strerror_r into a buffer that
 * lives as long as the enclosing block. */
#define ERRSTR(e) strerror_r((e), (char[128]){0}, 128)

struct send_broker {
	char *path;
	char *account;
	char *purpose;
	unsigned timeout_ms;
	smtpsend_trace_fn trace;
	void *trace_data;
};

static char *
sdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = common_malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

void
broker_free(send_broker *b)
{
	if (b == NULL)
		return;
	common_free(b->path);
	common_free(b->account);
	common_free(b->purpose);
	common_free(b);
}

int
broker_new(send_broker **out, const char *path, const char *account,
	   const smtpsend_options *o, smtpsend_error *err)
{
	/* secure_getenv: a setuid program's caller does not choose. */
	const char *env = secure_getenv("SMTPCRED_BROKER_SOCKET");
	send_broker *b;

	if (path == NULL)
		path = env != NULL && *env != '\0' ? env
						   : SMTPSEND_BROKER_SOCKET;
	/* The codes are returned as constants: *out is set exactly when 0
	 * is returned, which an analyzer of this file alone can see. */
	if (account == NULL || *account == '\0' || strlen(account) > 64 ||
	    strpbrk(account, "\r\n") != NULL) {
		send_fail(err, SMTPSEND_E_INVAL, "setup",
			  "an account name is required");
		return SMTPSEND_E_INVAL;
	}
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		send_fail(err, SMTPSEND_E_INVAL, "setup",
			  "the broker's socket path is too long");
		return SMTPSEND_E_INVAL;
	}
	b = common_calloc(1, sizeof(*b));
	if (b == NULL) {
		send_fail(err, SMTPSEND_E_NOMEM, "setup", "out of memory");
		return SMTPSEND_E_NOMEM;
	}
	b->path = sdup(path);
	b->account = sdup(account);
	b->purpose = sdup(o != NULL && o->purpose != NULL ? o->purpose
							  : "smtpsend");
	b->timeout_ms = o != NULL && o->timeout_ms != 0 ? o->timeout_ms
							: 300000;
	b->trace = o != NULL ? o->trace : NULL;
	b->trace_data = o != NULL ? o->trace_data : NULL;
	if (b->path == NULL || b->account == NULL || b->purpose == NULL) {
		broker_free(b);
		send_fail(err, SMTPSEND_E_NOMEM, "setup", "out of memory");
		return SMTPSEND_E_NOMEM;
	}
	*out = b;
	return 0;
}

/* A failure of the broker connection itself: temporary, nothing sent. */
static int
io_fail(smtpsend_error *err, const char *stage, int r, const char *what,
	const char *path)
{
	int code = r == -ETIMEDOUT ? SMTPSEND_E_TIMEOUT : SMTPSEND_E_IO;

	send_fail(err, code, stage, "%s (broker %s): %s", what, path,
		  r == -ECONNRESET ? "the broker closed the connection"
				   : ERRSTR(-r));
	if (err != NULL) {
		err->sys_errno = r == -ETIMEDOUT ? 0 : -r;
		err->klass = SMTPSEND_CLASS_TEMPORARY;
	}
	return code;
}

static int
connect_broker(const send_broker *b, int64_t deadline, int *fd_out,
	       smtpsend_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	memcpy(sa.sun_path, b->path, strlen(b->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return io_fail(err, "connect", -errno, "no socket", b->path);
	/* A local stream socket connects at once or not at all. */
	while ((r = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 &&
	       errno == EINTR)
		;
	if (r < 0) {
		int e = errno;

		close(fd);
		if (e == ENOENT || e == ECONNREFUSED) {
			send_fail(err, SMTPSEND_E_IO, "connect",
				  "the broker smtpcredd is not running (no "
				  "socket at %s)",
				  b->path);
			if (err != NULL) {
				err->sys_errno = e;
				err->klass = SMTPSEND_CLASS_TEMPORARY;
			}
			return SMTPSEND_E_IO;
		}
		return io_fail(err, "connect", -e, "cannot connect", b->path);
	}
	(void)deadline;
	*fd_out = fd;
	return 0;
}

/* The envelope sender of a prepared message: "<a@b>" without the angle
 * brackets ("" for the null sender). */
static void
from_addr(const msg_prep *p, char *out, size_t n)
{
	size_t len = strlen(p->from_path);

	if (len >= 2 && p->from_path[0] == '<' && p->from_path[len - 1] == '>')
		snprintf(out, n, "%.*s", (int)(len - 2), p->from_path + 1);
	else
		snprintf(out, n, "%s", p->from_path);
}

static int
send_request(const send_broker *b, int fd, const msg_prep *p, char *buf,
	     int64_t deadline, smtpsend_error *err)
{
	wire_kv kv;
	char from[SMTP_PATH_MAX + 1];
	int r;

	wire_kv_init(&kv, buf, WIRE_FRAME_MAX);
	wire_kv_addu(&kv, "version", WIRE_VERSION);
	wire_kv_add(&kv, "op", "send");
	wire_kv_add(&kv, "account", b->account);
	wire_kv_add(&kv, "purpose", b->purpose);
	from_addr(p, from, sizeof(from));
	wire_kv_add(&kv, "from", from);
	for (size_t i = 0; i < p->nrcpt; i++)
		wire_kv_add(&kv, "rcpt", p->rcpt_addrs[i]);
	wire_kv_addu(&kv, "size", p->size);
	if (p->dsn_notify != NULL)
		wire_kv_add(&kv, "dsn_notify", p->dsn_notify);
	if (p->dsn_ret != NULL)
		wire_kv_add(&kv, "dsn_ret", p->dsn_ret);
	if (p->dsn_envid != NULL)
		wire_kv_add(&kv, "dsn_envid", p->dsn_envid);
	wire_kv_addu(&kv, "timeout_ms", b->timeout_ms);
	wire_kv_addu(&kv, "trace", b->trace != NULL);
	if (kv.overflow)
		return send_fail(err, SMTPSEND_E_LIMIT, "mail",
				 "the envelope is too large for the broker "
				 "(%zu recipients)",
				 p->nrcpt);
	r = wire_write(fd, WIRE_REQUEST, buf, kv.len, deadline);
	if (r < 0)
		return io_fail(err, "mail", r, "cannot send the request",
			       b->path);
	return 0;
}

/* Copy src into dst (n bytes), cut to fit. */
static void
cut(char *dst, size_t n, const char *src)
{
	size_t l = strnlen(src, n - 1);

	memcpy(dst, src, l);
	dst[l] = '\0';
}

/* Fill err and result from a result frame.  Returns the code it holds. */
static int
read_result(const char *buf, size_t len, smtpsend_result *res,
	    smtpsend_error *err, const send_broker *b)
{
	wire_kv_iter it;
	char key[32], val[SMTPSEND_ERROR_MSG_MAX + SMTP_PATH_MAX + 64];
	int code = SMTPSEND_E_PROTO, klass = -1, have_code = 0, r;
	unsigned reply = 0, u;
	char enhanced[16] = "", stage[16] = "broker";
	char msg[SMTPSEND_ERROR_MSG_MAX] = "";
	size_t nr = 0, cap = 0;
	smtpsend_rcpt_result *rcpts = NULL;

	wire_kv_iter_init(&it, buf, len);
	while ((r = wire_kv_next(&it, key, sizeof(key), val, sizeof(val))) >
	       0) {
		int64_t v;

		if (strcmp(key, "code") == 0 &&
		    parse_int64(val, SMTPSEND_E_UNSUPPORTED, 0, &v) == 0) {
			code = (int)v;
			have_code = 1;
		} else if (strcmp(key, "class") == 0 &&
			   parse_uint(val, 0, 3, &u) == 0) {
			klass = (int)u;
		} else if (strcmp(key, "stage") == 0) {
			cut(stage, sizeof(stage), val);
		} else if (strcmp(key, "reply") == 0 &&
			   parse_uint(val, 0, 999, &u) == 0) {
			reply = u;
		} else if (strcmp(key, "enhanced") == 0) {
			cut(enhanced, sizeof(enhanced), val);
		} else if (strcmp(key, "message") == 0) {
			cut(msg, sizeof(msg), val);
		} else if (res != NULL && strcmp(key, "final") == 0 &&
			   parse_uint(val, 0, 999, &u) == 0) {
			res->reply_code = u;
		} else if (res != NULL && strcmp(key, "final_enhanced") == 0) {
			cut(res->enhanced, sizeof(res->enhanced), val);
		} else if (res != NULL && strcmp(key, "sent") == 0) {
			res->sent = strcmp(val, "1") == 0;
		} else if (res != NULL && strcmp(key, "rcpt") == 0) {
			/* "CODE ENHANCED ADDR" (ENHANCED "-" when none) */
			char *sp1 = strchr(val, ' ');
			char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
			smtpsend_rcpt_result *nrc;

			if (sp2 == NULL)
				continue;
			*sp1 = *sp2 = '\0';
			if (parse_uint(val, 0, 999, &u) < 0)
				continue;
			if (nr == cap) {
				cap = cap ? cap * 2 : 8;
				nrc = common_calloc(cap, sizeof(*nrc));
				if (nrc == NULL)
					break;
				if (rcpts != NULL)
					memcpy(nrc, rcpts, nr * sizeof(*nrc));
				common_free(rcpts);
				rcpts = nrc;
			}
			rcpts[nr].addr = sdup(sp2 + 1);
			rcpts[nr].reply_code = u;
			cut(rcpts[nr].enhanced, sizeof(rcpts[nr].enhanced),
			    strcmp(sp1 + 1, "-") == 0 ? "" : sp1 + 1);
			if (u >= 200 && u < 300)
				res->n_accepted++;
			nr++;
		}
	}
	if (res != NULL) {
		res->rcpts = rcpts;
		res->n_rcpts = nr;
	} else {
		common_free(rcpts);
	}
	if (r < 0 || !have_code) {
		if (res != NULL)
			res->sent = 0;
		return send_fail(err, SMTPSEND_E_PROTO, "broker",
				 "the broker %s sent a malformed result",
				 b->path);
	}
	if (code == 0)
		return 0;
	if (res != NULL)
		res->sent = 0;
	if (err != NULL) {
		/* The stage names are static: map back to ours. */
		static const char *const stages[] = {
		    "setup",	    "connect",	  "greeting", "ehlo",
		    "starttls",	    "tls-handshake", "tls-verify", "auth",
		    "mail",	    "rcpt",	  "data",     "dot", "body", "tls",
		    "quit",	    "rset",	  "message",  "send",
		    "broker",	    "policy"};
		const char *st = "broker";

		for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]);
		     i++)
			if (strcmp(stage, stages[i]) == 0)
				st = stages[i];
		send_fail(err, code, st, "%s", msg);
		if (klass >= 0)
			err->klass = klass;
		err->reply_code = reply;
		cut(err->enhanced, sizeof(err->enhanced), enhanced);
	}
	return code;
}

/* Stream the message's bytes as data frames, then the end frame. */
static int
send_data(const send_broker *b, int fd, smtpsend_message *m, char *buf,
	  int64_t deadline, smtpsend_error *err)
{
	msg_reader *rd = NULL;
	uint64_t total = 0;
	wire_kv kv;
	int r;

	r = message_open(m, &rd, err);
	if (r < 0)
		return r;
	for (;;) {
		size_t got = 0;

		r = msg_reader_read(rd, buf, WIRE_FRAME_MAX, &got, err);
		if (r < 0 || got == 0)
			break;
		total += got;
		r = wire_write(fd, WIRE_DATA, buf, got, deadline);
		if (r < 0) {
			r = io_fail(err, "data", r, "cannot send the message",
				    b->path);
			break;
		}
	}
	msg_reader_close(rd);
	if (r < 0)
		return r;
	wire_kv_init(&kv, buf, WIRE_FRAME_MAX);
	wire_kv_addu(&kv, "size", total);
	r = wire_write(fd, WIRE_END, buf, kv.len, deadline);
	if (r < 0)
		return io_fail(err, "data", r, "cannot send the message",
			       b->path);
	return 0;
}

int
broker_send(send_broker *b, smtpsend_message *m, smtpsend_result *res,
	    smtpsend_error *err)
{
	int64_t deadline = wire_now_ms() + b->timeout_ms;
	msg_prep p = {0};
	char *buf = NULL;
	int fd = -1, r, type;
	size_t len;
	bool go = false;

	smtpsend_result_clear(res);
	r = message_prepare(m, &p, err);
	if (r < 0)
		goto out;
	buf = common_malloc(WIRE_FRAME_MAX + 1);
	if (buf == NULL) {
		r = send_fail(err, SMTPSEND_E_NOMEM, "setup", "out of memory");
		goto out;
	}
	r = connect_broker(b, deadline, &fd, err);
	if (r < 0)
		goto out;
	r = send_request(b, fd, &p, buf, deadline, err);
	if (r < 0)
		goto out;
	for (;;) {
		r = wire_read(fd, &type, buf, WIRE_FRAME_MAX, &len, deadline);
		if (r < 0) {
			r = io_fail(err, go ? "data" : "mail", r,
				    "no result from the broker; the message "
				    "may not have been sent",
				    b->path);
			goto out;
		}
		buf[len] = '\0';
		if (type == WIRE_TRACE && len >= 1 && buf[0] >= '0' &&
		    buf[0] <= '3') {
			if (b->trace != NULL)
				trace_line(b->trace, b->trace_data,
					   buf[0] - '0', buf + 1, len - 1,
					   len - 1);
		} else if (type == WIRE_GO && !go) {
			go = true;
			r = send_data(b, fd, m, buf, deadline, err);
			if (r < 0)
				goto out;
		} else if (type == WIRE_RESULT) {
			r = read_result(buf, len, res, err, b);
			goto out;
		} else {
			r = send_fail(err, SMTPSEND_E_PROTO, "broker",
				      "the broker %s sent an unexpected "
				      "frame",
				      b->path);
			goto out;
		}
	}
out:
	if (r < 0 && res != NULL)
		res->sent = 0;
	if (fd >= 0)
		close(fd);
	common_free(buf);
	msg_prep_clear(&p);
	return r;
}

int
smtpsend_broker_ping(const char *socket_path, char *info, size_t n,
		     smtpsend_error *err)
{
	send_broker *b = NULL;
	char *buf = NULL;
	wire_kv kv;
	wire_kv_iter it;
	char key[32], val[512];
	size_t len = 0, used = 0;
	int fd = -1, type = 0, r;
	int64_t deadline = wire_now_ms() + 5000;

	if (info == NULL || n == 0)
		return send_fail(err, SMTPSEND_E_INVAL, "setup",
				 "no room for the answer");
	info[0] = '\0';
	r = broker_new(&b, socket_path, "ping", NULL, err);
	if (r < 0)
		return r;
	buf = common_malloc(WIRE_FRAME_MAX + 1);
	if (buf == NULL) {
		r = send_fail(err, SMTPSEND_E_NOMEM, "setup", "out of memory");
		goto out;
	}
	r = connect_broker(b, deadline, &fd, err);
	if (r < 0)
		goto out;
	wire_kv_init(&kv, buf, WIRE_FRAME_MAX);
	wire_kv_addu(&kv, "version", WIRE_VERSION);
	wire_kv_add(&kv, "op", "ping");
	r = wire_write(fd, WIRE_REQUEST, buf, kv.len, deadline);
	if (r == 0)
		r = wire_read(fd, &type, buf, WIRE_FRAME_MAX, &len, deadline);
	if (r < 0) {
		r = io_fail(err, "connect", r, "no answer", b->path);
		goto out;
	}
	if (type != WIRE_RESULT) {
		r = send_fail(err, SMTPSEND_E_PROTO, "broker",
			      "the broker %s sent an unexpected frame",
			      b->path);
		goto out;
	}
	/* An older broker, or one in trouble, answers with an error. */
	{
		smtpsend_result none = SMTPSEND_RESULT_INIT;

		r = read_result(buf, len, &none, err, b);
		smtpsend_result_clear(&none);
		if (r < 0)
			goto out;
	}
	/* "key=value" pairs but the code, joined by "; " */
	wire_kv_iter_init(&it, buf, len);
	while (wire_kv_next(&it, key, sizeof(key), val, sizeof(val)) > 0) {
		int w;

		if (strcmp(key, "code") == 0 || strcmp(key, "sent") == 0)
			continue;
		w = snprintf(info + used, n - used, "%s%s=%s",
			     used > 0 ? "; " : "", key, val);
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	common_free(buf);
	broker_free(b);
	return r;
}
