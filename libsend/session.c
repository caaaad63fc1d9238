/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The SMTP session: one state enum, one transition function (set_state),
 * blocking I/O with a deadline per stage and one for the whole session.
 *
 * Order of a connection, and what each step guarantees:
 *   connect -> greeting -> EHLO -> [STARTTLS -> 220 with nothing buffered
 *   after it -> handshake with chain, host name and pin verified -> EHLO
 *   again, capabilities forgotten] -> AUTH (only over verified TLS, the
 *   mechanism chosen from the allow-list before any lease is taken; the
 *   lease released and its result reported right after the AUTH reply)
 *   -> READY.
 * A message: MAIL/RCPT/DATA (pipelined when offered) -> 354 -> the body
 * through the DATA encoder -> "." -> 2xx: only then is it sent.
 * When a send opens the connection, the server offers PIPELINING and the
 * mechanism is PLAIN with its whole initial response, the first envelope
 * follows the AUTH line without waiting (RFC 4954 4); the AUTH reply is
 * still read first, the lease released right after it, and a refusal
 * drops the connection before any message byte goes out.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "alloc.h"
#include "body.h"
#include "conn.h"
#include "ehlo.h"
#include "message.h"
#include "reply.h"
#include "sasl.h"
#include "secbuf.h"

/* RFC 5321 4.5.3.2 timeouts, in seconds. */
#define TIMEOUT_GREETING 300
#define TIMEOUT_MAIL	 300
#define TIMEOUT_RCPT	 300
#define TIMEOUT_DATA	 120
#define TIMEOUT_BLOCK	 180
#define TIMEOUT_DOT	 600
#define TIMEOUT_DEFAULT_SESSION_MS 300000u
/* Body bytes written per call. */
#define SEND_CHUNK (64u * 1024u)

typedef enum smtp_state {
	ST_INIT,
	ST_CONNECT,
	ST_GREETING,
	ST_EHLO,
	ST_STARTTLS,
	ST_TLS_HANDSHAKE,
	ST_AUTH,
	ST_READY,
	ST_MAIL,
	ST_DATA,
	ST_BODY,
	ST_RSET,
	ST_QUIT,
	ST_CLOSED,
	_ST_MAX,
} smtp_state;

/* clang-format off */
static const char *const state_names[] = {
	[ST_INIT]		= "init",
	[ST_CONNECT]		= "connect",
	[ST_GREETING]		= "greeting",
	[ST_EHLO]		= "ehlo",
	[ST_STARTTLS]		= "starttls",
	[ST_TLS_HANDSHAKE]	= "tls-handshake",
	[ST_AUTH]		= "auth",
	[ST_READY]		= "ready",
	[ST_MAIL]		= "mail",
	[ST_DATA]		= "data",
	[ST_BODY]		= "body",
	[ST_RSET]		= "rset",
	[ST_QUIT]		= "quit",
	[ST_CLOSED]		= "closed",
};
/* clang-format on */
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == _ST_MAX,
	       "state_names out of sync with smtp_state");

struct smtpsend_session {
	/* Options, with every string owned by the session. */
	char *host, *ca_file, *pin, *mechs, *ehlo_name, *account, *purpose;
	char server[300]; /* "host:port" for audit reports */
	uint16_t port;
	smtpsend_tls_mode tls;
	int tls_min;
	int allow_plaintext_auth;
	unsigned timeout_ms, stage_timeout_ms;
	const smtpsend_provider *provider;
	smtpsend_trace_fn trace;
	void *trace_data;

	SSL_CTX *ctx;
	conn c;
	smtp_state state;
	smtp_caps caps;
	bool authed;
	/* AUTH PLAIN sent with its initial response, reply not yet read:
	 * pipelined with the first envelope (RFC 4954 4).  The lease is
	 * held only until that reply (auth_settle). */
	void *auth_lease;
	/* That AUTH command (CRLF included), until it goes out in one write
	 * with the envelope (auth_write): one TLS record, so the server
	 * reads them together and answers them together. */
	secbuf auth_out;
	int64_t deadline; /* of the whole session */
	smtp_reply reply;
	/* smtpsend_session_new_broker(): every send goes to smtpcredd, and
	 * nothing above is used. */
	send_broker *broker;
};

static void
set_state(smtpsend_session *s, smtp_state next)
{
	/* The only place that writes s->state. */
	if (s->state != next)
		trace_note(s->trace, s->trace_data, 0, "state %s -> %s",
			   state_names[s->state], state_names[next]);
	s->state = next;
}

static char *
dup_or_null(const char *p)
{
	char *d;
	size_t n;

	if (p == NULL)
		return NULL;
	n = strlen(p) + 1;
	d = common_malloc(n);
	if (d != NULL)
		memcpy(d, p, n);
	return d;
}

static bool
has_crlf_nul(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") != NULL;
}

static void
free_strings(smtpsend_session *s)
{
	common_free(s->host);
	common_free(s->ca_file);
	common_free(s->pin);
	common_free(s->mechs);
	common_free(s->ehlo_name);
	common_free(s->account);
	common_free(s->purpose);
}

static int
session_init(smtpsend_session *s, const smtpsend_options *o,
	     const smtpsend_account *acct, smtpsend_error *err)
{
	const char *host = acct != NULL ? acct->host : o->host;
	const char *mechs = acct != NULL ? acct->mechs : o->mechs;

	s->tls = acct != NULL ? acct->tls : o->tls;
	s->port = acct != NULL ? acct->port : o->port;
	if (s->port == 0)
		s->port = s->tls == SMTPSEND_TLS_IMPLICIT ? 465 : 587;
	if (host == NULL || *host == '\0' || has_crlf_nul(host) ||
	    strlen(host) > 253)
		return send_fail(err, SMTPSEND_E_INVAL, "setup",
				 "a valid host name is required");
	if (has_crlf_nul(o->ehlo_name) || has_crlf_nul(mechs) ||
	    has_crlf_nul(o->account))
		return send_fail(err, SMTPSEND_E_INVAL, "setup",
				 "CR or LF in an option");
	if ((unsigned)s->tls > SMTPSEND_TLS_NONE_LOOPBACK)
		return send_fail(err, SMTPSEND_E_INVAL, "setup",
				 "unknown TLS mode");
	s->host = dup_or_null(host);
	s->ca_file = dup_or_null(acct != NULL ? acct->ca_file : o->ca_file);
	s->pin = dup_or_null(acct != NULL ? acct->pin : o->pin);
	s->mechs = dup_or_null(mechs != NULL ? mechs : "SCRAM-SHA-256,PLAIN,LOGIN");
	s->ehlo_name = dup_or_null(o->ehlo_name != NULL ? o->ehlo_name
							: "localhost");
	s->account = dup_or_null(o->account);
	s->purpose = dup_or_null(o->purpose != NULL ? o->purpose : "smtpsend");
	if (s->host == NULL || s->mechs == NULL || s->ehlo_name == NULL ||
	    s->purpose == NULL || (o->account != NULL && s->account == NULL) ||
	    (s->pin == NULL && (acct != NULL ? acct->pin : o->pin) != NULL) ||
	    (s->ca_file == NULL &&
	     (acct != NULL ? acct->ca_file : o->ca_file) != NULL))
		return send_fail(err, SMTPSEND_E_NOMEM, "setup",
				 "out of memory");
	snprintf(s->server, sizeof(s->server), "%s:%u", s->host, s->port);
	s->tls_min = o->tls_min >= 13 ? 13 : 12;
	s->allow_plaintext_auth = o->allow_plaintext_auth;
	s->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms
					   : TIMEOUT_DEFAULT_SESSION_MS;
	s->stage_timeout_ms = o->stage_timeout_ms;
	s->trace = o->trace;
	s->trace_data = o->trace_data;
	conn_init(&s->c);
	s->state = ST_INIT;
	return 0;
}

int
smtpsend_session_new(smtpsend_session **out, const smtpsend_options *opts,
		     smtpsend_error *err)
{
	smtpsend_session *s;
	int r;

	if (out == NULL || opts == NULL || opts->struct_version < 1)
		return send_fail(err, SMTPSEND_E_INVAL, "setup",
				 "options are required");
	s = common_calloc(1, sizeof(*s));
	if (s == NULL)
		return send_fail(err, SMTPSEND_E_NOMEM, "setup",
				 "out of memory");
	s->provider = opts->provider;
	r = session_init(s, opts, NULL, err);
	if (r < 0) {
		free_strings(s);
		common_free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* A provider refusal, classed as the provider says. */
static int
credential_fail(smtpsend_error *err, int r, const char *stage,
		const char *account, const char *msg)
{
	send_fail(err, SMTPSEND_E_CREDENTIAL, stage, "account '%s': %s",
		  account, msg);
	if (err != NULL)
		err->klass = r == SMTPSEND_PROVIDER_TEMPORARY
				 ? SMTPSEND_CLASS_TEMPORARY
				 : SMTPSEND_CLASS_PERMANENT;
	return SMTPSEND_E_CREDENTIAL;
}

int
smtpsend_session_new_for_account(smtpsend_session **out, const char *account,
				 const smtpsend_provider *provider,
				 const smtpsend_options *opts,
				 smtpsend_error *err)
{
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_account *acct = NULL;
	smtpsend_session *s;
	char msg[200] = "";
	int r;

	if (opts != NULL)
		o = *opts;
	if (provider == NULL)
		provider = o.provider;
	if (out == NULL || account == NULL || provider == NULL ||
	    provider->resolve == NULL)
		return send_fail(err, SMTPSEND_E_INVAL, "setup",
				 "an account and a provider that resolves "
				 "accounts are required");
	r = provider->resolve(provider->userdata, account, &acct, msg,
			      sizeof(msg));
	if (r < 0)
		return credential_fail(err, r, "setup", account, msg);
	o.account = account;
	o.provider = provider;
	s = common_calloc(1, sizeof(*s));
	if (s == NULL) {
		provider->resolve_free(provider->userdata, acct);
		return send_fail(err, SMTPSEND_E_NOMEM, "setup",
				 "out of memory");
	}
	s->provider = provider;
	r = session_init(s, &o, acct, err);
	provider->resolve_free(provider->userdata, acct);
	if (r < 0) {
		free_strings(s);
		common_free(s);
		return r;
	}
	*out = s;
	return 0;
}

int
smtpsend_session_new_broker(smtpsend_session **out, const char *socket_path,
			    const char *account, const smtpsend_options *opts,
			    smtpsend_error *err)
{
	smtpsend_session *s;
	int r;

	if (out == NULL)
		return send_fail(err, SMTPSEND_E_INVAL, "setup",
				 "no place for the session");
	s = common_calloc(1, sizeof(*s));
	if (s == NULL)
		return send_fail(err, SMTPSEND_E_NOMEM, "setup",
				 "out of memory");
	r = broker_new(&s->broker, socket_path, account, opts, err);
	if (r < 0) {
		common_free(s);
		return r;
	}
	conn_init(&s->c);
	*out = s;
	return 0;
}

/* ---- I/O helpers -------------------------------------------------------- */

/* The deadline of a stage: its RFC 5321 timeout (or the caller's), never
 * past the session's. */
static int64_t
stage_deadline(const smtpsend_session *s, unsigned seconds)
{
	int64_t ms = s->stage_timeout_ms != 0 ? (int64_t)s->stage_timeout_ms
					      : (int64_t)seconds * 1000;
	int64_t d = send_now_us() + ms * 1000;

	return d < s->deadline ? d : s->deadline;
}

/* Send one command line (CRLF added); only 'show' bytes reach the trace. */
static int
send_line(smtpsend_session *s, const char *line, size_t len, size_t show,
	  unsigned seconds, const char *stage, smtpsend_error *err)
{
	char buf[SMTP_CMD_LINE_MAX + 3];

	trace_line(s->trace, s->trace_data, 1, line, len, show);
	if (len <= SMTP_CMD_LINE_MAX) {
		int r;

		memcpy(buf, line, len);
		memcpy(buf + len, "\r\n", 2);
		r = conn_write(&s->c, buf, len + 2,
			       stage_deadline(s, seconds), stage, err);
		if (show < len)
			secure_wipe(buf, sizeof(buf));
		return r;
	}
	/* Long lines (AUTH) are written in two pieces: no copy. */
	{
		int r = conn_write(&s->c, line, len, stage_deadline(s, seconds),
				   stage, err);

		if (r < 0)
			return r;
		return conn_write(&s->c, "\r\n", 2, stage_deadline(s, seconds),
				  stage, err);
	}
}

/* Read one whole reply into s->reply. */
static int
read_reply(smtpsend_session *s, unsigned seconds, const char *stage,
	   smtpsend_error *err)
{
	int64_t deadline = stage_deadline(s, seconds);

	smtp_reply_reset(&s->reply);
	for (;;) {
		const char *line;
		size_t len;
		int r = conn_read_line(&s->c, &line, &len, deadline, stage, err);

		if (r == SMTPSEND_E_LIMIT) {
			/* A server past our reply limits broke the protocol. */
			if (err != NULL)
				err->code = SMTPSEND_E_PROTO;
			return SMTPSEND_E_PROTO;
		}
		if (r < 0)
			return r;
		trace_line(s->trace, s->trace_data, 2, line, len, len);
		r = smtp_reply_feed(&s->reply, line, len);
		if (r == REPLY_DONE)
			return 0;
		if (r < 0)
			return send_fail(err, SMTPSEND_E_PROTO, stage,
					 r == SMTPSEND_E_LIMIT
					     ? "the server's reply exceeds a "
					       "limit"
					     : "the server sent a malformed "
					       "reply");
	}
}

/* Map a non-expected reply to an error of its class. */
static int
reply_fail(smtpsend_session *s, int code, const char *stage, const char *what,
	   smtpsend_error *err)
{
	return send_fail_reply(err, code, stage, s->reply.code,
			       s->reply.enhanced, s->reply.text, what);
}

static void
drop_connection(smtpsend_session *s)
{
	secbuf_clear(&s->auth_out);
	if (s->auth_lease != NULL) {
		/* No reply to AUTH: nothing to report; wipe. */
		s->provider->release(s->auth_lease);
		s->auth_lease = NULL;
	}
	conn_close(&s->c);
	s->authed = false;
	memset(&s->caps, 0, sizeof(s->caps));
	set_state(s, ST_CLOSED);
}

/* ---- connecting --------------------------------------------------------- */

static int
do_ehlo(smtpsend_session *s, smtpsend_error *err)
{
	char line[SMTP_CMD_LINE_MAX];
	int n, r;

	/* Capabilities never survive a TLS upgrade. */
	memset(&s->caps, 0, sizeof(s->caps));
	set_state(s, ST_EHLO);
	n = snprintf(line, sizeof(line), "EHLO %s", s->ehlo_name);
	if (n < 0 || (size_t)n >= sizeof(line))
		return send_fail(err, SMTPSEND_E_INVAL, "ehlo",
				 "EHLO name too long");
	r = send_line(s, line, (size_t)n, (size_t)n, TIMEOUT_MAIL, "ehlo",
		      err);
	if (r == 0)
		r = read_reply(s, TIMEOUT_MAIL, "ehlo", err);
	if (r < 0)
		return r;
	if (s->reply.code != 250)
		return reply_fail(s, SMTPSEND_E_REJECTED, "ehlo",
				  "EHLO refused", err);
	return smtp_caps_parse(&s->caps, &s->reply) < 0
		   ? send_fail(err, SMTPSEND_E_PROTO, "ehlo",
			       "malformed EHLO reply")
		   : 0;
}

static int
do_starttls(smtpsend_session *s, smtpsend_error *err)
{
	int r;

	if (!s->caps.starttls)
		return send_fail(err, SMTPSEND_E_INSECURE, "starttls",
				 "the server does not offer STARTTLS; "
				 "refusing to continue in plaintext");
	set_state(s, ST_STARTTLS);
	r = send_line(s, "STARTTLS", 8, 8, TIMEOUT_MAIL, "starttls", err);
	if (r == 0)
		r = read_reply(s, TIMEOUT_MAIL, "starttls", err);
	if (r < 0)
		return r;
	if (s->reply.code != 220)
		return reply_fail(s, SMTPSEND_E_TLS, "starttls",
				  "STARTTLS refused", err);
	/* Anything already received was sent in plaintext before the
	 * handshake and could be an injected reply: refuse. */
	if (conn_pending(&s->c) > 0)
		return send_fail(err, SMTPSEND_E_PROTO, "starttls",
				 "the server sent data after its STARTTLS "
				 "reply (possible injection); refusing");
	set_state(s, ST_TLS_HANDSHAKE);
	r = tls_start(&s->c, s->ctx, s->host, s->pin,
		      stage_deadline(s, TIMEOUT_MAIL), err);
	if (r < 0)
		return r;
	{
		char d[96];

		trace_note(s->trace, s->trace_data, 3, "TLS: %s",
			   tls_describe(&s->c, d, sizeof(d)));
	}
	return do_ehlo(s, err);
}

static bool
offers_cb(const char *name, void *ud)
{
	const smtpsend_session *s = ud;

	return smtp_caps_has_auth(&s->caps, name);
}

/* Write a pending AUTH command and MORE (the envelope: not secret, but
 * it joins the secret's buffer) in one write; just MORE when no AUTH is
 * pending. */
static int
auth_write(smtpsend_session *s, const char *more, size_t n,
	   smtpsend_error *err)
{
	int r;

	if (s->auth_out.len == 0)
		return n == 0 ? 0
			      : conn_write(&s->c, more, n,
					   stage_deadline(s, TIMEOUT_MAIL),
					   "mail", err);
	r = n == 0 ? 0 : secbuf_append(&s->auth_out, more, n);
	if (r < 0)
		r = send_fail(err, SMTPSEND_E_NOMEM, "auth", "out of memory");
	else
		r = conn_write(&s->c, s->auth_out.data, s->auth_out.len,
			       stage_deadline(s, TIMEOUT_MAIL), "auth", err);
	secbuf_clear(&s->auth_out);
	return r;
}

/* The reply to a pipelined AUTH PLAIN (do_auth left it pending): read it
 * before any reply to what followed, report it, release the lease.  On
 * failure the connection is dropped, so nothing sent behind the AUTH
 * (an envelope, never a message body) can go further. */
static int
auth_settle(smtpsend_session *s, smtpsend_error *err)
{
	const smtpsend_provider *p = s->provider;
	void *lease = s->auth_lease;
	unsigned code = 0;
	int r;

	if (lease == NULL)
		return 0;
	/* Nothing rode with it after all: the AUTH command alone. */
	r = auth_write(s, NULL, 0, err);
	if (r == 0)
		r = read_reply(s, TIMEOUT_MAIL, "auth", err);
	if (r == 0) {
		code = s->reply.code;
		if (code == 334)
			r = send_fail(err, SMTPSEND_E_PROTO, "auth",
				      "the server asked for more after AUTH "
				      "PLAIN's initial response");
		else if (code != 235)
			r = reply_fail(s,
				       code >= 500 ? SMTPSEND_E_AUTH
						   : SMTPSEND_E_REJECTED,
				       "auth", "AUTH failed", err);
	}
	s->auth_lease = NULL;
	if (p->report != NULL && code != 0)
		p->report(lease, code, s->server);
	p->release(lease); /* wipes */
	if (r < 0) {
		drop_connection(s);
		return r;
	}
	s->authed = true;
	if (s->state == ST_AUTH) /* nothing was sent behind it */
		set_state(s, ST_READY);
	return 0;
}

/* AUTH with a lease: taken after TLS is verified and the mechanism chosen,
 * released (wiped) right after the server's final AUTH reply.  With
 * MAY_PIPELINE, an AUTH PLAIN whose initial response went out whole is
 * left pending (s->auth_lease) for the caller to send its first envelope
 * behind, then auth_settle(): one round trip less per connection. */
static int
do_auth(smtpsend_session *s, smtpsend_error *err, bool may_pipeline)
{
	const smtpsend_provider *p = s->provider;
	_cleanup_secbuf_ secbuf line = SECBUF_INIT;
	unsigned char cb[32];
	bool have_cb;
	enum sasl_mech mech;
	struct sasl_client sasl;
	void *lease = NULL;
	const char *secret = NULL;
	size_t secret_len = 0, show = 0;
	char msg[200] = "";
	unsigned steps = 0, auth_code = 0;
	int r;

	WIPE_ON_EXIT(cb);
	if (s->account == NULL)
		return 0;
	if (s->c.ssl == NULL &&
	    !(s->allow_plaintext_auth && s->c.loopback &&
	      s->tls == SMTPSEND_TLS_NONE_LOOPBACK))
		return send_fail(err, SMTPSEND_E_INSECURE, "auth",
				 "refusing AUTH on an unencrypted connection");
	if (p == NULL || p->acquire == NULL || p->borrow == NULL ||
	    p->release == NULL || p->user == NULL)
		return send_fail(err, SMTPSEND_E_INVAL, "auth",
				 "an account is set but no credential "
				 "provider");
	have_cb = tls_exporter(&s->c, cb);
	r = sasl_choose(s->mechs, offers_cb, s, have_cb, &mech);
	if (r < 0)
		return send_fail(err, r, "auth",
				 r == SMTPSEND_E_UNSUPPORTED
				     ? "the server offers none of the allowed "
				       "SASL mechanisms (%s)"
				     : "bad SASL mechanism list (%s)",
				 s->mechs);

	set_state(s, ST_AUTH);
	if (p->struct_version >= 2 && p->acquire_for != NULL) {
		smtpsend_account used = {
		    .host = s->host,
		    .port = s->port,
		    .tls = s->tls,
		    .mechs = s->mechs,
		    .ca_file = s->ca_file,
		    .pin = s->pin,
		};

		r = p->acquire_for(p->userdata, s->account, &used, s->purpose,
				   s->timeout_ms < 5000 ? s->timeout_ms : 5000,
				   &lease, msg, sizeof(msg));
	} else {
		r = p->acquire(p->userdata, s->account, s->purpose,
			       s->timeout_ms < 5000 ? s->timeout_ms : 5000,
			       &lease, msg, sizeof(msg));
	}
	if (r < 0)
		return credential_fail(err, r, "auth", s->account, msg);
	r = p->borrow(lease, &secret, &secret_len);
	if (r < 0) {
		p->release(lease);
		return send_fail(err, SMTPSEND_E_CREDENTIAL, "auth",
				 "the credential could not be borrowed");
	}
	sasl_init(&sasl);
	/* RFC 5802 6: say "y" when we could bind but -PLUS is not offered,
	 * so a server that supports it detects the stripped capability. */
	sasl_set_gs2_y(&sasl, sasl_want_gs2_y(mech, s->mechs, offers_cb, s,
					      have_cb));
	r = sasl_start(&sasl, mech, p->user(lease), secret, secret_len, NULL,
		       s->host, s->port, have_cb ? cb : NULL, &line, &show);
	if (r < 0) {
		send_fail(err, r, "auth", "cannot build the AUTH command");
	} else if (may_pipeline && mech == SASL_PLAIN && !sasl.deferred &&
		   s->caps.pipelining) {
		/* The whole exchange is this line (PLAIN has nothing more
		 * to say or check): the caller's envelope goes with it. */
		trace_line(s->trace, s->trace_data, 1, line.data, line.len,
			   show);
		r = secbuf_append(&line, "\r\n", 2);
		if (r == 0)
			r = secbuf_append(&s->auth_out, line.data, line.len);
		secbuf_clear(&line);
		if (r == 0) {
			if (p->give_back != NULL)
				p->give_back(lease);
			sasl_clear(&sasl);
			s->auth_lease = lease;
			return 0;
		}
		secbuf_clear(&s->auth_out);
		r = send_fail(err, SMTPSEND_E_NOMEM, "auth", "out of memory");
	} else {
		r = send_line(s, line.data, line.len, show, TIMEOUT_MAIL,
			      "auth", err);
	}
	secbuf_clear(&line);
	while (r == 0) {
		r = read_reply(s, TIMEOUT_MAIL, "auth", err);
		if (r == 0)
			auth_code = s->reply.code;
		if (r < 0 || s->reply.code != 334)
			break;
		if (++steps > SASL_STEPS_MAX) {
			r = send_fail(err, SMTPSEND_E_PROTO, "auth",
				      "too many AUTH challenges");
			break;
		}
		r = sasl_step(&sasl, s->reply.text, s->reply.text_len, &line,
			      &show);
		if (r < 0) {
			send_fail(err, r, "auth",
				  r == SMTPSEND_E_AUTH
				      ? "the server failed to prove it knows "
					"the password"
				      : "malformed AUTH challenge");
			/* Cancel the exchange (RFC 4954 4). */
			send_line(s, "*", 1, 1, TIMEOUT_MAIL, "auth", NULL);
			break;
		}
		r = send_line(s, line.data, line.len, show, TIMEOUT_MAIL,
			      "auth", err);
		secbuf_clear(&line);
	}
	if (p->give_back != NULL)
		p->give_back(lease);
	if (r == 0 && s->reply.code == 235) {
		r = sasl_finish(&sasl);
		if (r < 0)
			send_fail(err, r, "auth",
				  "the server accepted AUTH without proving "
				  "it knows the password");
	} else if (r == 0) {
		r = reply_fail(s,
			       s->reply.code >= 500 ? SMTPSEND_E_AUTH
						    : SMTPSEND_E_REJECTED,
			       "auth", "AUTH failed", err);
	}
	/* Report only a reply the server gave to AUTH: a failure before
	 * (building the line, a dropped connection) has no AUTH result. */
	if (p->report != NULL && auth_code != 0)
		p->report(lease, auth_code, s->server);
	p->release(lease); /* wipes */
	sasl_clear(&sasl);
	if (r < 0)
		return r;
	s->authed = true;
	return 0;
}

/* Connect, greet, TLS, AUTH.  With MAY_PIPELINE (a send about to write
 * its first envelope) the AUTH reply may be left pending: the caller
 * writes the envelope and then calls auth_settle(). */
static int
session_connect(smtpsend_session *s, smtpsend_error *err, bool may_pipeline)
{
	int r;

	if (s->state == ST_READY)
		return 0;
	if (s->c.fd >= 0)
		drop_connection(s);
	s->deadline = send_now_us() + (int64_t)s->timeout_ms * 1000;
	if (s->tls != SMTPSEND_TLS_NONE_LOOPBACK && s->ctx == NULL) {
		tls_config cfg = {.ca_file = s->ca_file,
				  .pin = s->pin,
				  .tls_min = s->tls_min};

		r = tls_ctx_new(&s->ctx, &cfg, err);
		if (r < 0)
			return r;
	}
	set_state(s, ST_CONNECT);
	r = conn_open(&s->c, s->host, s->port,
		      stage_deadline(s, TIMEOUT_GREETING), err);
	if (r < 0)
		goto fail;
	if (s->tls == SMTPSEND_TLS_NONE_LOOPBACK && !s->c.loopback) {
		r = send_fail(err, SMTPSEND_E_INSECURE, "connect",
			      "plaintext SMTP is only allowed to a loopback "
			      "address, and %s is not one",
			      s->c.peer);
		goto fail;
	}
	if (s->tls == SMTPSEND_TLS_IMPLICIT) {
		set_state(s, ST_TLS_HANDSHAKE);
		r = tls_start(&s->c, s->ctx, s->host, s->pin,
			      stage_deadline(s, TIMEOUT_GREETING), err);
		if (r < 0)
			goto fail;
	}
	set_state(s, ST_GREETING);
	r = read_reply(s, TIMEOUT_GREETING, "greeting", err);
	if (r < 0)
		goto fail;
	if (s->reply.code != 220) {
		r = reply_fail(s, SMTPSEND_E_REJECTED, "greeting",
			       "the server refused the connection", err);
		goto fail;
	}
	r = do_ehlo(s, err);
	if (r == 0 && s->tls == SMTPSEND_TLS_STARTTLS)
		r = do_starttls(s, err);
	if (r == 0)
		r = do_auth(s, err, may_pipeline);
	if (r < 0)
		goto fail;
	if (s->auth_lease == NULL) /* else auth_settle() makes it ready */
		set_state(s, ST_READY);
	return 0;

fail:
	drop_connection(s);
	return r;
}

int
smtpsend_session_connect(smtpsend_session *s, smtpsend_error *err)
{
	if (s == NULL)
		return send_fail(err, SMTPSEND_E_INVAL, "connect",
				 "no session");
	if (s->broker != NULL)
		return send_fail(err, SMTPSEND_E_UNSUPPORTED, "connect",
				 "a broker session has no connection of its "
				 "own: the broker connects per message");
	return session_connect(s, err, false);
}

static void
quit(smtpsend_session *s)
{
	if (s->c.fd < 0)
		return;
	if (s->state == ST_READY) {
		set_state(s, ST_QUIT);
		if (send_line(s, "QUIT", 4, 4, 10, "quit", NULL) == 0) {
			int64_t keep = s->deadline;

			/* Wait briefly for 221; never fail on it. */
			s->deadline = send_now_us() + 2 * 1000000;
			read_reply(s, 2, "quit", NULL);
			s->deadline = keep;
		}
	}
	drop_connection(s);
}

int
smtpsend_session_verify_auth(smtpsend_session *s, smtpsend_error *err)
{
	int r = smtpsend_session_connect(s, err);

	if (r < 0)
		return r;
	if (s->account != NULL && !s->authed)
		return send_fail(err, SMTPSEND_E_AUTH, "auth",
				 "not authenticated");
	quit(s);
	return 0;
}

void
smtpsend_session_free(smtpsend_session *s)
{
	if (s == NULL)
		return;
	broker_free(s->broker);
	quit(s);
	secbuf_wipe(&s->auth_out);
	SSL_CTX_free(s->ctx);
	free_strings(s);
	secure_wipe(&s->reply, sizeof(s->reply));
	common_free(s);
}

/* ---- sending ------------------------------------------------------------ */

void
smtpsend_result_clear(smtpsend_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_rcpts; i++) {
		/* The result owns its copies; the public field is const. */
		char *a;

		memcpy(&a, &r->rcpts[i].addr, sizeof(a));
		common_free(a);
	}
	common_free(r->rcpts);
	r->rcpts = NULL;
	r->n_rcpts = r->n_accepted = 0;
	r->reply_code = 0;
	r->enhanced[0] = '\0';
	r->sent = 0;
}

/* Append to a growing command buffer (not secret). */
typedef struct {
	char *p;
	size_t len, cap;
} cmdbuf;

static int
cmd_add(cmdbuf *b, const char *line, size_t n)
{
	if (b->p == NULL || b->len + n + 2 > b->cap) {
		size_t ncap = (b->cap ? b->cap * 2 : 1024) + n + 2;
		char *np = common_malloc(ncap);

		if (np == NULL)
			return SMTPSEND_E_NOMEM;
		if (b->p != NULL)
			memcpy(np, b->p, b->len);
		common_free(b->p);
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, line, n);
	memcpy(b->p + b->len + n, "\r\n", 2);
	b->len += n + 2;
	return 0;
}

static int
build_mail(const smtpsend_session *s, const msg_prep *p, char *line,
	   size_t n)
{
	int k = snprintf(line, n, "MAIL FROM:%s", p->from_path);
	size_t len;

	if (k < 0 || (size_t)k >= n)
		return SMTPSEND_E_LIMIT;
	len = (size_t)k;
#define ADD(...)                                                           \
	do {                                                               \
		k = snprintf(line + len, n - len, __VA_ARGS__);            \
		if (k < 0 || (size_t)k >= n - len)                         \
			return SMTPSEND_E_LIMIT;                           \
		len += (size_t)k;                                          \
	} while (0)
	if (s->caps.size_present)
		ADD(" SIZE=%llu", (unsigned long long)p->size);
	if (p->eightbit && s->caps.eightbitmime)
		ADD(" BODY=8BITMIME");
	if (p->smtputf8)
		ADD(" SMTPUTF8");
	if (s->caps.dsn && p->dsn_ret != NULL)
		ADD(" RET=%s", p->dsn_ret);
	if (s->caps.dsn && p->dsn_envid != NULL)
		ADD(" ENVID=%s", p->dsn_envid);
#undef ADD
	return (int)len;
}

static int
build_rcpt(const smtpsend_session *s, const msg_prep *p, size_t i,
	   char *line, size_t n)
{
	int k;

	if (s->caps.dsn && p->dsn_notify != NULL)
		k = snprintf(line, n, "RCPT TO:%s NOTIFY=%s", p->rcpt_paths[i],
			     p->dsn_notify);
	else
		k = snprintf(line, n, "RCPT TO:%s", p->rcpt_paths[i]);
	if (k < 0 || (size_t)k >= n)
		return SMTPSEND_E_LIMIT;
	return k;
}

static void
rcpt_result(smtpsend_result *res, size_t i, const smtp_reply *r)
{
	if (res == NULL || i >= res->n_rcpts)
		return;
	res->rcpts[i].reply_code = r->code;
	snprintf(res->rcpts[i].enhanced, sizeof(res->rcpts[i].enhanced), "%s",
		 r->enhanced);
	if (r->code >= 200 && r->code < 300)
		res->n_accepted++;
}

/* Reset the transaction after a refusal so the session stays usable. */
static int
rset(smtpsend_session *s, smtpsend_error *err)
{
	int r;

	set_state(s, ST_RSET);
	r = send_line(s, "RSET", 4, 4, TIMEOUT_MAIL, "rset", err);
	if (r == 0)
		r = read_reply(s, TIMEOUT_MAIL, "rset", err);
	if (r < 0) {
		drop_connection(s);
		return r;
	}
	set_state(s, ST_READY);
	return 0;
}

typedef struct {
	smtpsend_session *s;
	int rc;
	smtpsend_error *err;
	char *buf; /* SEND_CHUNK bytes of output staging */
	size_t len;
} body_sink;

static int
sink_flush(body_sink *k)
{
	int r;

	if (k->len == 0)
		return 0;
	r = conn_write(&k->s->c, k->buf, k->len,
		       stage_deadline(k->s, TIMEOUT_BLOCK), "data", k->err);
	k->len = 0;
	return r;
}

static int
sink_out(const char *p, size_t n, void *ud)
{
	body_sink *k = ud;

	while (n > 0) {
		size_t room = SEND_CHUNK - k->len;
		size_t take = n < room ? n : room;

		memcpy(k->buf + k->len, p, take);
		k->len += take;
		p += take;
		n -= take;
		if (k->len == SEND_CHUNK) {
			int r = sink_flush(k);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Stream the message through the DATA encoder; ends with ".\r\n".  The
 * trailer (the next message's pipelined commands, RFC 2920 3.1: message
 * content may start a group) goes out in the same final write. */
static int
send_body(smtpsend_session *s, smtpsend_message *m, const cmdbuf *trailer,
	  smtpsend_error *err)
{
	body_sink k = {.s = s, .err = err};
	struct body_enc enc;
	msg_reader *rd = NULL;
	char *in = NULL;
	int r;

	k.buf = common_malloc(SEND_CHUNK);
	in = common_malloc(SEND_CHUNK);
	if (k.buf == NULL || in == NULL) {
		r = send_fail(err, SMTPSEND_E_NOMEM, "data", "out of memory");
		goto out;
	}
	r = message_open(m, &rd, err);
	if (r < 0)
		goto out;
	body_enc_init(&enc);
	for (;;) {
		size_t got = 0;

		r = msg_reader_read(rd, in, SEND_CHUNK, &got, err);
		if (r < 0 || got == 0)
			break;
		r = body_enc_feed(&enc, in, got, sink_out, &k);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = body_enc_finish(&enc, sink_out, &k);
	if (r == 0 && trailer != NULL && trailer->len > 0)
		r = sink_out(trailer->p, trailer->len, &k);
	if (r == 0)
		r = sink_flush(&k);
	if (r < 0 && err != NULL && err->code == 0)
		send_fail(err, r, "data",
			  r == SMTPSEND_E_LIMIT
			      ? "a message line is longer than 998 octets"
			      : "the message could not be encoded");
out:
	msg_reader_close(rd);
	common_free(k.buf);
	common_free(in);
	return r;
}

/* One message's transaction. */
typedef struct {
	smtpsend_message *m;
	smtpsend_result *res;
	smtpsend_error *err;
	msg_prep p;
	int mail_code;
	bool pipelined; /* its MAIL/RCPT/DATA are on the wire already */
	bool failed;	/* refused before any I/O; err says why */
} send_tx;

/* How a transaction step ended. */
enum { TX_GO = 0, TX_DONE = 1, TX_BROKEN = 2 };

/* Checks that need the server's capabilities, and the result's recipient
 * list.  No I/O. */
static int
tx_check(smtpsend_session *s, send_tx *t)
{
	smtpsend_result *result = t->res;
	smtpsend_error *err = t->err;

	if (t->p.smtputf8 && !s->caps.smtputf8)
		return send_fail(err, SMTPSEND_E_UNSUPPORTED, "mail",
				 "an address is not ASCII and the server does "
				 "not offer SMTPUTF8");
	if (t->p.eightbit && !s->caps.eightbitmime)
		return send_fail(err, SMTPSEND_E_UNSUPPORTED, "mail",
				 "the message has 8-bit data and the server "
				 "does not offer 8BITMIME");
	if (s->caps.size_present && s->caps.size_max > 0 &&
	    t->p.size > s->caps.size_max)
		return send_fail(err, SMTPSEND_E_LIMIT, "mail",
				 "the message (%llu bytes) is larger than the "
				 "server accepts (%llu bytes)",
				 (unsigned long long)t->p.size,
				 (unsigned long long)s->caps.size_max);
	if (result != NULL) {
		result->rcpts =
		    common_calloc(t->p.nrcpt, sizeof(*result->rcpts));
		if (result->rcpts == NULL)
			return send_fail(err, SMTPSEND_E_NOMEM, "mail",
					 "out of memory");
		result->n_rcpts = t->p.nrcpt;
		for (size_t i = 0; i < t->p.nrcpt; i++)
			result->rcpts[i].addr = dup_or_null(t->p.rcpt_addrs[i]);
	}
	return 0;
}

/* MAIL, RCPT... and DATA of a pipelined transaction, appended to b. */
static int
tx_envelope(smtpsend_session *s, send_tx *t, cmdbuf *b)
{
	char line[SMTP_CMD_LINE_MAX + 1];
	int n = build_mail(s, &t->p, line, sizeof(line));
	int r = n < 0 ? n : cmd_add(b, line, (size_t)n);

	if (r == 0)
		trace_line(s->trace, s->trace_data, 1, line, (size_t)n,
			   (size_t)n);
	for (size_t i = 0; r == 0 && i < t->p.nrcpt; i++) {
		n = build_rcpt(s, &t->p, i, line, sizeof(line));
		r = n < 0 ? n : cmd_add(b, line, (size_t)n);
		if (r == 0)
			trace_line(s->trace, s->trace_data, 1, line,
				   (size_t)n, (size_t)n);
	}
	if (r == 0)
		r = cmd_add(b, "DATA", 4);
	if (r == 0)
		trace_line(s->trace, s->trace_data, 1, "DATA", 4, 4);
	if (r < 0)
		return send_fail(t->err, r, "mail", "command too long");
	return 0;
}

/* The replies to a pipelined MAIL, RCPT... and DATA. */
static int
tx_read_pipelined(smtpsend_session *s, send_tx *t)
{
	smtpsend_error *err = t->err;
	int r;

	set_state(s, ST_MAIL);
	r = read_reply(s, TIMEOUT_MAIL, "mail", err);
	if (r < 0)
		return TX_BROKEN;
	t->mail_code = (int)s->reply.code;
	if (t->mail_code == 421) {
		reply_fail(s, SMTPSEND_E_REJECTED, "mail",
			   "the server is closing the connection", err);
		return TX_BROKEN;
	}
	if (t->mail_code / 100 != 2)
		reply_fail(s, SMTPSEND_E_REJECTED, "mail", "sender refused",
			   err);
	for (size_t i = 0; i < t->p.nrcpt; i++) {
		r = read_reply(s, TIMEOUT_RCPT, "rcpt", err);
		if (r < 0)
			return TX_BROKEN;
		if (s->reply.code == 421) {
			reply_fail(s, SMTPSEND_E_REJECTED, "rcpt",
				   "the server is closing the connection",
				   err);
			return TX_BROKEN;
		}
		rcpt_result(t->res, i, &s->reply);
	}
	set_state(s, ST_DATA);
	r = read_reply(s, TIMEOUT_DATA, "data", err);
	return r < 0 ? TX_BROKEN : TX_GO;
}

/* MAIL, RCPT... and DATA one at a time (no PIPELINING). */
static int
tx_sequential(smtpsend_session *s, send_tx *t)
{
	char line[SMTP_CMD_LINE_MAX + 1];
	smtpsend_error *err = t->err;
	int n, r;

	set_state(s, ST_MAIL);
	n = build_mail(s, &t->p, line, sizeof(line));
	if (n < 0) {
		send_fail(err, SMTPSEND_E_LIMIT, "mail",
			  "MAIL command too long");
		return TX_DONE;
	}
	r = send_line(s, line, (size_t)n, (size_t)n, TIMEOUT_MAIL, "mail",
		      err);
	if (r == 0)
		r = read_reply(s, TIMEOUT_MAIL, "mail", err);
	if (r < 0)
		return TX_BROKEN;
	t->mail_code = (int)s->reply.code;
	if (t->mail_code / 100 != 2) {
		reply_fail(s, SMTPSEND_E_REJECTED, "mail", "sender refused",
			   err);
		rset(s, NULL);
		return TX_DONE;
	}
	for (size_t i = 0; i < t->p.nrcpt; i++) {
		n = build_rcpt(s, &t->p, i, line, sizeof(line));
		if (n < 0) {
			send_fail(err, SMTPSEND_E_LIMIT, "rcpt",
				  "RCPT command too long");
			rset(s, NULL);
			return TX_DONE;
		}
		r = send_line(s, line, (size_t)n, (size_t)n, TIMEOUT_RCPT,
			      "rcpt", err);
		if (r == 0)
			r = read_reply(s, TIMEOUT_RCPT, "rcpt", err);
		if (r < 0)
			return TX_BROKEN;
		rcpt_result(t->res, i, &s->reply);
	}
	if (t->res != NULL && t->res->n_accepted == 0) {
		send_fail(err, SMTPSEND_E_REJECTED, "rcpt",
			  "every recipient was refused");
		rset(s, NULL);
		return TX_DONE;
	}
	set_state(s, ST_DATA);
	r = send_line(s, "DATA", 4, 4, TIMEOUT_DATA, "data", err);
	if (r == 0)
		r = read_reply(s, TIMEOUT_DATA, "data", err);
	return r < 0 ? TX_BROKEN : TX_GO;
}

/* After the reply to DATA: go on to the body only with a 354 and
 * something to deliver; otherwise end the transaction cleanly. */
static int
tx_after_data(smtpsend_session *s, send_tx *t)
{
	smtpsend_result *result = t->res;
	smtpsend_error *err = t->err;
	bool none = result != NULL && result->n_accepted == 0;

	if (s->reply.code != 354) {
		if (t->mail_code / 100 == 2) {
			if (none)
				send_fail(err, SMTPSEND_E_REJECTED, "rcpt",
					  "every recipient was refused");
			else
				reply_fail(s, SMTPSEND_E_REJECTED, "data",
					   "DATA refused", err);
		}
		/* else err was set for MAIL */
		rset(s, NULL);
		return TX_DONE;
	}
	if (t->mail_code / 100 != 2 || none) {
		/* 354 although nothing can be delivered: end the empty
		 * transaction without sending the message. */
		if (send_line(s, ".", 1, 1, TIMEOUT_DOT, "data", err) == 0)
			read_reply(s, TIMEOUT_DOT, "data", NULL);
		if (t->mail_code / 100 == 2)
			send_fail(err, SMTPSEND_E_REJECTED, "rcpt",
				  "every recipient was refused");
		rset(s, NULL);
		return TX_DONE;
	}
	return TX_GO;
}

/* The reply to the final dot decides "sent". */
static int
tx_read_dot(smtpsend_session *s, send_tx *t)
{
	smtpsend_result *result = t->res;

	if (read_reply(s, TIMEOUT_DOT, "data", t->err) < 0)
		return TX_BROKEN;
	if (result != NULL) {
		result->reply_code = s->reply.code;
		snprintf(result->enhanced, sizeof(result->enhanced), "%s",
			 s->reply.enhanced);
	}
	set_state(s, ST_READY);
	if (s->reply.code / 100 != 2) {
		reply_fail(s, SMTPSEND_E_REJECTED, "data",
			   "the message was refused", t->err);
		return TX_DONE;
	}
	if (result != NULL)
		result->sent = 1;
	return TX_DONE;
}

/* The error code a transaction ended with (0: sent). */
static int
tx_code(const send_tx *t)
{
	if (t->res != NULL && t->res->sent)
		return 0;
	if (t->err != NULL && t->err->code < 0)
		return t->err->code;
	return SMTPSEND_E_REJECTED;
}

/* Through the broker: one request per message, each on its own. */
static int
broker_batch(smtpsend_session *s, smtpsend_message *const *msgs, size_t n,
	     smtpsend_result *results, smtpsend_error *errs, size_t *n_sent)
{
	int first = 0;
	size_t sent = 0;

	for (size_t i = 0; i < n; i++) {
		smtpsend_result own = SMTPSEND_RESULT_INIT;
		smtpsend_error own_err = SMTPSEND_ERROR_INIT;
		int r;

		r = msgs[i] == NULL
			? send_fail(errs != NULL ? &errs[i] : &own_err,
				    SMTPSEND_E_INVAL, "send", "no message")
			: broker_send(s->broker, msgs[i],
				      results != NULL ? &results[i] : &own,
				      errs != NULL ? &errs[i] : &own_err);
		smtpsend_result_clear(&own);
		if (r == 0)
			sent++;
		else if (first == 0)
			first = r;
	}
	if (n_sent != NULL)
		*n_sent = sent;
	return first;
}

int
smtpsend_send_batch(smtpsend_session *s, smtpsend_message *const *msgs,
		    size_t n, smtpsend_result *results, smtpsend_error *errs,
		    size_t *n_sent)
{
	smtpsend_result *own_res = NULL;
	smtpsend_error *own_err = NULL;
	send_tx *tx = NULL;
	cmdbuf next = {0};
	size_t i, sent = 0;
	int first = 0, r;

	if (n_sent != NULL)
		*n_sent = 0;
	if (s == NULL || msgs == NULL || n == 0)
		return send_fail(errs, SMTPSEND_E_INVAL, "send",
				 "no session or messages");
	if (s->broker != NULL)
		return broker_batch(s, msgs, n, results, errs, n_sent);
	tx = common_calloc(n, sizeof(*tx));
	if (results == NULL)
		results = own_res = common_calloc(n, sizeof(*own_res));
	if (errs == NULL)
		errs = own_err = common_calloc(n, sizeof(*own_err));
	if (tx == NULL || results == NULL || errs == NULL) {
		first = SMTPSEND_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		tx[i].m = msgs[i];
		tx[i].res = &results[i];
		tx[i].err = &errs[i];
		errs[i].code = 0;
		smtpsend_result_clear(&results[i]);
	}

	for (i = 0; i < n; i++) {
		send_tx *t = &tx[i];
		int st = TX_GO;

		if (t->failed)
			continue;
		if (!t->pipelined) {
			if (t->m == NULL) {
				send_fail(t->err, SMTPSEND_E_INVAL, "send",
					  "no message");
				continue;
			}
			if (message_prepare(t->m, &t->p, t->err) < 0)
				continue;
			if (session_connect(s, t->err, true) < 0)
				break; /* the rest fail the same way */
			if (tx_check(s, t) < 0) {
				/* (a refused AUTH drops the connection) */
				(void)auth_settle(s, NULL);
				continue;
			}
			if (s->caps.pipelining) {
				next.len = 0;
				set_state(s, ST_MAIL);
				if (tx_envelope(s, t, &next) < 0) {
					(void)auth_settle(s, NULL);
					if (s->c.fd >= 0) /* nothing sent */
						set_state(s, ST_READY);
					continue;
				}
				if (auth_write(s, next.p, next.len, t->err) <
				    0)
					st = TX_BROKEN;
				t->pipelined = true;
			}
		}
		/* A pipelined AUTH's reply comes before the envelope's. */
		if (st == TX_GO && auth_settle(s, t->err) < 0)
			st = TX_BROKEN;
		if (st == TX_GO)
			st = t->pipelined ? tx_read_pipelined(s, t)
					  : tx_sequential(s, t);
		if (st == TX_GO)
			st = tx_after_data(s, t);
		if (st == TX_GO) {
			send_tx *u = i + 1 < n ? &tx[i + 1] : NULL;

			/* The next message's commands ride behind this
			 * one's dot, once everything about it checks out
			 * locally. */
			next.len = 0;
			if (u != NULL && s->caps.pipelining) {
				if (u->m == NULL ||
				    message_prepare(u->m, &u->p, u->err) < 0 ||
				    tx_check(s, u) < 0 ||
				    tx_envelope(s, u, &next) < 0) {
					if (u->m == NULL)
						send_fail(u->err,
							  SMTPSEND_E_INVAL,
							  "send",
							  "no message");
					u->failed = true;
					next.len = 0;
				} else {
					u->pipelined = true;
				}
			}
			set_state(s, ST_BODY);
			if (send_body(s, t->m, &next, t->err) < 0)
				st = TX_BROKEN;
			else
				st = tx_read_dot(s, t);
		}
		if (st == TX_BROKEN) {
			/* After an I/O or protocol failure mid-transaction
			 * the connection's state is unknown: drop it.
			 * Nothing is reported as sent, and the rest of the
			 * batch fails with this error (a batch is one
			 * connection: the caller retries what failed). */
			t->res->sent = 0;
			drop_connection(s);
			break;
		}
	}
	/* Messages never reached (no connection, or it broke). */
	for (size_t j = i + 1; i < n && j < n; j++)
		if (errs[j].code == 0 && !tx[j].failed)
			errs[j] = errs[i];
	for (i = 0; i < n; i++) {
		r = tx_code(&tx[i]);
		if (r == 0)
			sent++;
		else if (first == 0)
			first = r;
	}
	if (n_sent != NULL)
		*n_sent = sent;
out:
	if (s->auth_lease != NULL) /* never left pending past a call */
		drop_connection(s);
	if (tx != NULL)
		for (i = 0; i < n; i++)
			msg_prep_clear(&tx[i].p);
	if (own_res != NULL)
		for (i = 0; i < n; i++)
			smtpsend_result_clear(&own_res[i]);
	common_free(own_res);
	common_free(own_err);
	common_free(tx);
	common_free(next.p);
	return first;
}

int
smtpsend_send(smtpsend_session *s, smtpsend_message *m,
	      smtpsend_result *result, smtpsend_error *err)
{
	smtpsend_result own = SMTPSEND_RESULT_INIT;
	smtpsend_error own_err = SMTPSEND_ERROR_INIT;
	int r;

	if (s == NULL || m == NULL)
		return send_fail(err, SMTPSEND_E_INVAL, "send",
				 "no session or message");
	r = smtpsend_send_batch(s, &m, 1, result != NULL ? result : &own,
				err != NULL ? err : &own_err, NULL);
	smtpsend_result_clear(&own);
	return r;
}
