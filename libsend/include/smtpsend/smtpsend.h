/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsmtpsend public API.  C99, no GLib or OpenSSL types, no global state.
 * Every function that can fail returns int: 0 on success, a negative
 * smtpsend_code on failure, and (if err != NULL) fills *err.  Nothing is
 * printed: a trace hook receives redacted protocol lines.
 *
 * Typical use:
 *
 *   smtpsend_options o = SMTPSEND_OPTIONS_INIT;
 *   o.host = "smtp.example.org"; o.port = 587; o.account = "alerts";
 *   o.provider = smtpcred_send_provider();     (the keyring lease)
 *   smtpsend_session_new(&s, &o, &err);
 *   smtpsend_message_new(&m, &err);  ...set from/to/subject/body...
 *   smtpsend_send(s, m, &result, &err);
 *   smtpsend_session_free(s);
 */
#ifndef LIBSEND_SMTPSEND_H
#define LIBSEND_SMTPSEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMTPSEND_API	   __attribute__((__visibility__("default")))
#define SMTPSEND_NODISCARD __attribute__((__warn_unused_result__))

/* clang-format off */
typedef enum smtpsend_code {
	SMTPSEND_OK		=   0,
	SMTPSEND_E_NOMEM	=  -1,
	SMTPSEND_E_INVAL	=  -2,	/* caller passed bad arguments or data */
	SMTPSEND_E_IO		=  -3,	/* see err->sys_errno */
	SMTPSEND_E_TIMEOUT	=  -4,	/* a stage timeout or the deadline */
	SMTPSEND_E_TLS		=  -5,	/* handshake or library failure */
	SMTPSEND_E_TLS_VERIFY	=  -6,	/* chain, host name or pin refused */
	SMTPSEND_E_PROTO	=  -7,	/* the server broke RFC 5321 */
	SMTPSEND_E_REJECTED	=  -8,	/* 4xx/5xx; see err->reply_code */
	SMTPSEND_E_AUTH		=  -9,	/* credentials refused */
	SMTPSEND_E_INSECURE	= -10,	/* would expose a secret; refused */
	SMTPSEND_E_LIMIT	= -11,	/* a size, line or count limit */
	SMTPSEND_E_CREDENTIAL	= -12,	/* the provider gave no secret */
	SMTPSEND_E_UNSUPPORTED	= -13,	/* the server lacks what is needed */
} smtpsend_code;

typedef enum smtpsend_class {
	SMTPSEND_CLASS_NONE	 = 0,
	SMTPSEND_CLASS_TEMPORARY = 1,	/* 4xx, timeouts, I/O: retry later */
	SMTPSEND_CLASS_PERMANENT = 2,	/* 5xx, TLS refusals: do not retry */
	SMTPSEND_CLASS_LOCAL	 = 3,	/* our side: bad input, no memory */
} smtpsend_class;

#define SMTPSEND_ERROR_VERSION 1
#define SMTPSEND_ERROR_MSG_MAX 256

/* Caller-owned error details.  Never contains secret material.  Fields
 * are only ever appended; struct_version tells which exist. */
typedef struct smtpsend_error {
	uint32_t	 struct_version;	/* SMTPSEND_ERROR_VERSION */
	int		 code;			/* a smtpsend_code */
	int		 sys_errno;		/* 0 unless a syscall failed */
	unsigned	 reply_code;		/* e.g. 535; 0 if none */
	char		 enhanced[16];		/* RFC 3463 "5.7.8" or "" */
	const char	*stage;			/* static: "connect", "auth", ... */
	int		 klass;			/* a smtpsend_class */
	char		 message[SMTPSEND_ERROR_MSG_MAX]; /* sanitised text */
} smtpsend_error;

#define SMTPSEND_ERROR_INIT { .struct_version = SMTPSEND_ERROR_VERSION }
/* clang-format on */

/* Static name of a code ("timeout", ...); never NULL. */
SMTPSEND_API const char *smtpsend_code_str(int code);

typedef enum smtpsend_tls_mode {
	SMTPSEND_TLS_STARTTLS = 0, /* default: mandatory STARTTLS, no fallback */
	SMTPSEND_TLS_IMPLICIT = 1, /* TLS from the first byte (port 465) */
	SMTPSEND_TLS_NONE_LOOPBACK = 2, /* plaintext, loopback relays only */
} smtpsend_tls_mode;

/* An account's connection settings, as a provider resolves them. */
typedef struct smtpsend_account {
	const char *host;
	uint16_t port;
	smtpsend_tls_mode tls;
	const char *mechs;	/* SASL allow-list */
	const char *ca_file;	/* NULL: system store */
	const char *pin;	/* NULL: no pin */
} smtpsend_account;

/*
 * Credential provider: how the session gets a secret for one AUTH
 * exchange, after TLS is verified and the mechanism chosen.  libsmtpcred
 * supplies the keyring lease as the default; tests supply their own.
 * acquire() and resolve() return 0, or SMTPSEND_PROVIDER_PERMANENT (no
 * such account, policy refusal) or SMTPSEND_PROVIDER_TEMPORARY (keyring
 * locked or unreachable, audit log unwritable) with a sanitised message.  borrow() exposes the secret until give_back();
 * release() wipes.  All but report() are required.
 */
#define SMTPSEND_PROVIDER_PERMANENT (-1)
#define SMTPSEND_PROVIDER_TEMPORARY (-2)

typedef struct smtpsend_provider {
	uint32_t struct_version; /* 1, or 2 with acquire_for */
	void *userdata;
	int (*acquire)(void *userdata, const char *account,
		       const char *purpose, unsigned timeout_ms, void **lease,
		       char *msg, size_t msglen);
	const char *(*user)(void *lease);
	int (*borrow)(void *lease, const char **secret, size_t *len);
	void (*give_back)(void *lease);
	void (*report)(void *lease, unsigned smtp_code, const char *server);
	void (*release)(void *lease);
	/* Optional: resolve an account's settings (no secret involved);
	 * the result stays valid until resolve_free(). */
	int (*resolve)(void *userdata, const char *account,
		       smtpsend_account **out, char *msg, size_t msglen);
	void (*resolve_free)(void *userdata, smtpsend_account *account);
	/* struct_version 2, optional: acquire() for a session connected
	 * with the settings USED; the provider refuses (TEMPORARY) when the
	 * account no longer has them, so no secret goes to a server the
	 * account has stopped naming.  Called instead of acquire(). */
	int (*acquire_for)(void *userdata, const char *account,
			   const smtpsend_account *used, const char *purpose,
			   unsigned timeout_ms, void **lease, char *msg,
			   size_t msglen);
} smtpsend_provider;

/* Trace hook.  dir: 0 state change, 1 client to server, 2 server to
 * client, 3 note.  Lines are already redacted (AUTH payloads replaced). */
typedef void (*smtpsend_trace_fn)(int dir, const char *line, size_t len,
				  void *userdata);

#define SMTPSEND_OPTIONS_VERSION 1

typedef struct smtpsend_options {
	uint32_t struct_version;	/* SMTPSEND_OPTIONS_VERSION */
	const char *host;		/* required */
	uint16_t port;			/* 0: 587, or 465 for implicit */
	smtpsend_tls_mode tls;
	const char *ca_file;		/* NULL: the system store */
	const char *pin;		/* "sha256//BASE64" of the SPKI, or NULL */
	int tls_min;			/* 12 (default) or 13 */
	const char *mechs;		/* SASL allow-list, e.g. "SCRAM-SHA-256,PLAIN" */
	const char *ehlo_name;		/* NULL: "localhost" */
	const char *account;		/* passed to the provider; NULL: no AUTH */
	const char *purpose;		/* audit text for the provider */
	const smtpsend_provider *provider;
	int allow_plaintext_auth;	/* AUTH without TLS on loopback only */
	unsigned timeout_ms;		/* the whole session; 0: 300000 */
	unsigned stage_timeout_ms;	/* per reply; 0: RFC 5321 defaults */
	smtpsend_trace_fn trace;
	void *trace_data;
} smtpsend_options;

#define SMTPSEND_OPTIONS_INIT { .struct_version = SMTPSEND_OPTIONS_VERSION }

typedef struct smtpsend_session smtpsend_session;
typedef struct smtpsend_message smtpsend_message;

/* Create a session (no I/O yet).  The options are copied. */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_session_new(smtpsend_session **out, const smtpsend_options *opts,
		     smtpsend_error *err);
/* A session for an account whose settings the provider resolves
 * (opts->host/port/tls/mechs/ca_file/pin are taken from the account;
 * the other options, e.g. timeouts and trace, from opts, which may be
 * NULL).  opts->provider or provider must be set. */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_session_new_for_account(smtpsend_session **out, const char *account,
				 const smtpsend_provider *provider,
				 const smtpsend_options *opts,
				 smtpsend_error *err);
/*
 * A session whose messages go through the broker smtpcredd (system
 * accounts, docs/broker.md): this process never connects to an SMTP
 * server and never holds the credential.  Each smtpsend_send() connects
 * to the broker's Unix socket (socket_path NULL: $SMTPCRED_BROKER_SOCKET,
 * else SMTPSEND_BROKER_SOCKET), which checks that this process's user,
 * group or unit may use the account, sends the message over its own
 * verified TLS session and returns the result and error a direct send
 * would give.  From opts: purpose, timeout_ms, trace (the broker's
 * redacted trace); the connection settings are the account's, in the
 * broker.  smtpsend_session_connect() and _verify_auth() are
 * SMTPSEND_E_UNSUPPORTED.  No I/O here.
 */
#define SMTPSEND_BROKER_SOCKET "/run/smtpcred/smtpcredd.sock"
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_session_new_broker(smtpsend_session **out, const char *socket_path,
			    const char *account, const smtpsend_options *opts,
			    smtpsend_error *err);
/* Is the broker there?  Its answer ("broker=smtpcredd 0.1.0; store=...;
 * seal=...; active=N; max_clients=N") into info (n bytes).  5 s at most;
 * SMTPSEND_E_IO when it is not running. */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_broker_ping(const char *socket_path, char *info, size_t n,
		     smtpsend_error *err);

/* QUIT if connected, close, wipe.  NULL is a no-op. */
SMTPSEND_API void smtpsend_session_free(smtpsend_session *s);

/* Connect, greet, (STARTTLS,) verify, EHLO, and AUTH when an account is
 * set.  Called by smtpsend_send() when needed. */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_session_connect(smtpsend_session *s, smtpsend_error *err);

/* Connect and authenticate, then QUIT: no mail is sent (rotate --verify). */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_session_verify_auth(smtpsend_session *s, smtpsend_error *err);

/* ---- messages ---------------------------------------------------------- */

SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_new(smtpsend_message **out, smtpsend_error *err);
SMTPSEND_API void smtpsend_message_free(smtpsend_message *m);

/* Envelope and headers for the builder.  Addresses may carry a display
 * name ("Ann <ann@example.org>"); IDN domains are encoded; CR, LF and NUL
 * anywhere are refused (SMTPSEND_E_INVAL). */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_set_from(smtpsend_message *m, const char *addr,
			  smtpsend_error *err);
/* kind: "to", "cc" or "bcc" (bcc: envelope only). */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_add_rcpt(smtpsend_message *m, const char *kind,
			  const char *addr, smtpsend_error *err);
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_set_subject(smtpsend_message *m, const char *subject,
			     smtpsend_error *err);
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_add_header(smtpsend_message *m, const char *name,
			    const char *value, smtpsend_error *err);
/* UTF-8 text body; html (optional) makes a multipart/alternative. */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_set_text(smtpsend_message *m, const char *text, size_t len,
			  smtpsend_error *err);
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_set_html(smtpsend_message *m, const char *html, size_t len,
			  smtpsend_error *err);
/* Attach a file, streamed at send time in constant memory.  content_type
 * NULL: application/octet-stream; name NULL: the file's base name. */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_attach_file(smtpsend_message *m, const char *path,
			     const char *content_type, const char *name,
			     smtpsend_error *err);
/* A raw RFC 5322 message read from fd (sendmail mode).  It is read once,
 * when the message is first sent or measured, and spooled to an unlinked
 * temporary file (constant memory): bare CR/LF become CRLF, lines over
 * 998 octets and NUL bytes are refused (SMTPSEND_E_INVAL), dot-stuffing
 * is always applied on the wire.  flags: */
#define SMTPSEND_RAW_RCPTS_FROM_HEADERS 0x1u /* -t: To/Cc/Bcc are recipients;
						the Bcc header is removed */
#define SMTPSEND_RAW_DOT_ENDS		0x2u /* a line "." ends the input
						(sendmail without -i) */
#define SMTPSEND_RAW_ADD_MISSING	0x4u /* add Date, Message-ID and
						From (from the envelope
						sender) when absent */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_set_raw_fd(smtpsend_message *m, int fd, unsigned flags,
			    smtpsend_error *err);
/* The envelope sender for a raw message ("" for the null sender) and the
 * display name used when a From header has to be added (-f and -F). */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_set_envelope_from(smtpsend_message *m, const char *addr,
				   const char *display_name,
				   smtpsend_error *err);
/* sendmail for a whole machine (cron, mdadm, mail(1)...): local names --
 * a recipient without "@", as an argument or, with
 * SMTPSEND_RAW_RCPTS_FROM_HEADERS, in To/Cc/Bcc ("root", "Cron <root>")
 * -- are replaced by their address in names/addrs ("*" for any other
 * local name); one without an alias stays and is refused as an address.
 * SENDER (NULL: none) is the envelope sender when the message's own is
 * local or missing ("-f root", "From: root (Cron Daemon)").  Once per
 * message, before any recipient. */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_set_local(smtpsend_message *m, const char *sender,
			   const char *const *names, const char *const *addrs,
			   size_t n, smtpsend_error *err);
/* DSN parameters (RFC 3461): notify "NEVER" or a list of
 * SUCCESS,FAILURE,DELAY; ret "FULL" or "HDRS"; NULL leaves unset. */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_message_set_dsn(smtpsend_message *m, const char *notify,
			 const char *ret, const char *envid,
			 smtpsend_error *err);

/* ---- sending ----------------------------------------------------------- */

typedef struct smtpsend_rcpt_result {
	const char *addr;	/* borrowed from the result */
	unsigned reply_code;	/* RCPT reply */
	char enhanced[16];
} smtpsend_rcpt_result;

typedef struct smtpsend_result {
	uint32_t struct_version; /* 1 */
	unsigned reply_code;	 /* final reply to the data; 0 if not sent */
	char enhanced[16];
	size_t n_rcpts;
	smtpsend_rcpt_result *rcpts; /* owned; smtpsend_result_clear() */
	size_t n_accepted;	 /* recipients with a 2xx RCPT reply */
	int sent;		 /* 1 only when the server accepted the data */
} smtpsend_result;

#define SMTPSEND_RESULT_INIT { .struct_version = 1 }

SMTPSEND_API void smtpsend_result_clear(smtpsend_result *r);

/* Send one message over the session (connecting first if needed).  A
 * message is only reported as sent after the server's 2xx to the final
 * dot.  Some refused recipients with others accepted is success with
 * per-recipient codes in *result; all refused is SMTPSEND_E_REJECTED. */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_send(smtpsend_session *s, smtpsend_message *m,
	      smtpsend_result *result, smtpsend_error *err);

/*
 * Send n messages over the session's one connection.  With PIPELINING the
 * next message's MAIL/RCPT/DATA go out in the same write as this one's
 * final dot (RFC 2920 3.1), one round trip per message instead of two;
 * when the call opens the connection with AUTH PLAIN, the first envelope
 * follows the AUTH line (RFC 4954 4), and a refused AUTH ends the
 * connection before any message byte is sent.
 * results and errs (either may be NULL) have n entries, initialised with
 * SMTPSEND_RESULT_INIT / SMTPSEND_ERROR_INIT; entry i belongs to msgs[i]
 * and means exactly what smtpsend_send() reports for one message.  A
 * refused message does not stop the batch; a broken connection does: the
 * messages not yet accepted fail with its (temporary) error, and none of
 * them is reported as sent.  Returns 0 when every message was accepted,
 * otherwise the code of the first that was not; *n_sent (may be NULL)
 * counts the accepted ones.
 */
SMTPSEND_API SMTPSEND_NODISCARD int
smtpsend_send_batch(smtpsend_session *s, smtpsend_message *const *msgs,
		    size_t n, smtpsend_result *results, smtpsend_error *errs,
		    size_t *n_sent);

#ifdef __cplusplus
}
#endif

#endif /* LIBSEND_SMTPSEND_H */
