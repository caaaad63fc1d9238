/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsmtpcred: the narrow per-send API (the lease).  Plain C99: no GLib,
 * no libsecret types, so libsend (and any non-GLib program) can consume it.
 *
 * One lease per SMTP AUTH exchange:
 *
 *   smtpcred_lease_acquire()   look up the account's usable version, check
 *                              policy, write a "lease" audit record
 *   smtpcred_lease_borrow()    the secret is visible from here ...
 *   smtpcred_lease_return()    ... to here (build the AUTH line in between)
 *   smtpcred_lease_report()    the server's reply code to AUTH, audited
 *   smtpcred_lease_release()   wipes and frees; NULL is fine
 *
 * Nothing is cached between leases.  Every function is thread-safe as long
 * as one lease is used by one thread at a time.
 */
#ifndef SMTPCRED_LEASE_H
#define SMTPCRED_LEASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMTPCRED_API       __attribute__((__visibility__("default")))
#define SMTPCRED_NODISCARD __attribute__((__warn_unused_result__))

/* clang-format off */
/* Negative codes mirror SmtpcredError (smtpcred.h): code = -(error + 1). */
typedef enum smtpcred_code {
	SMTPCRED_OK		=   0,
	SMTPCRED_E_NOT_FOUND	=  -1,	/* no such account, or no usable version */
	SMTPCRED_E_LOCKED	=  -2,	/* the keyring collection is locked */
	SMTPCRED_E_NO_BUS	=  -3,	/* no D-Bus session bus */
	SMTPCRED_E_NO_SERVICE	=  -4,	/* no Secret Service on the bus */
	SMTPCRED_E_AMBIGUOUS	=  -5,	/* two usable versions: refused */
	SMTPCRED_E_POLICY	=  -6,	/* expired and enforced, grace closed */
	SMTPCRED_E_AUDIT	=  -7,	/* audit log unwritable (fail closed) */
	SMTPCRED_E_INVALID	=  -8,	/* bad argument or bad stored data */
	SMTPCRED_E_TIMEOUT	=  -9,	/* deadline passed */
	SMTPCRED_E_BUSY		= -10,	/* another rotation holds the lock */
	SMTPCRED_E_CONFLICT	= -11,	/* exists already / changed under us */
	SMTPCRED_E_VERIFY	= -12,	/* verify hook refused the secret */
	SMTPCRED_E_FAILED	= -13,	/* other backend failure */
	SMTPCRED_E_NOMEM	= -14,
} smtpcred_code;
/* clang-format on */

#define SMTPCRED_ERR_VERSION 1
#define SMTPCRED_ERR_MSG_MAX 256

/* Caller-owned error details; never contains secret material. */
typedef struct smtpcred_err {
	uint32_t struct_version;	/* SMTPCRED_ERR_VERSION */
	int code;			/* a smtpcred_code */
	char message[SMTPCRED_ERR_MSG_MAX];	/* sanitised, for people */
} smtpcred_err;

#define SMTPCRED_ERR_INIT {.struct_version = SMTPCRED_ERR_VERSION}

/* Static name of a code ("locked", "not-found", ...); never NULL. */
SMTPCRED_API const char *smtpcred_code_str(int code);

/* Account settings needed to connect (no secret).  Strings are owned by
 * the struct; free with smtpcred_account_info_free(). */
typedef struct smtpcred_account_info {
	uint32_t struct_version;	/* 1 */
	char *name;
	char *host;
	uint16_t port;
	char *tls;		/* "implicit" | "starttls" | "none-loopback" */
	char *user;
	char *mechs;		/* comma-separated allow-list, e.g. "PLAIN,LOGIN" */
	char *ca_file;		/* NULL: system store */
	char *pin;		/* "sha256//BASE64" or NULL */
	int usable_version;	/* version a lease would use now, 0 if none */
} smtpcred_account_info;

/* Look up an account's settings without touching its secret.
 * timeout_ms 0 means the default (5000).  Never prompts.
 * Returns 0 or a negative smtpcred_code; *out set only on success. */
SMTPCRED_API SMTPCRED_NODISCARD int
smtpcred_account_lookup(smtpcred_account_info **out, const char *account,
			unsigned timeout_ms, smtpcred_err *err);
SMTPCRED_API void smtpcred_account_info_free(smtpcred_account_info *info);

typedef struct smtpcred_lease smtpcred_lease;

/* Optional: a lease will follow soon (a sender calls this after looking
 * up the account, before connecting).  Opens the keyring's encrypted
 * transfer session on a background thread, so its key exchange overlaps
 * the caller's own work; reads no secret, writes no audit record, returns
 * at once.  Once per process; the next lease waits for it (at most
 * timeout_ms, 0 meaning 5000). */
SMTPCRED_API void smtpcred_lease_prepare(unsigned timeout_ms);

/* Acquire a lease on the account's usable secret.  'purpose' is free text
 * for the audit log (escaped there), e.g. "smtpsend to 2 rcpts".  The
 * deadline covers the whole lookup; timeout_ms 0 means 5000.  A lease is
 * refused (SMTPCRED_E_POLICY) when the version is past not_after and the
 * account enforces max age, and (SMTPCRED_E_AUDIT) when the audit record
 * cannot be written and the account fails closed (the default).
 * Returns 0 or a negative smtpcred_code; *out set only on success. */
SMTPCRED_API SMTPCRED_NODISCARD int
smtpcred_lease_acquire(smtpcred_lease **out, const char *account,
		       const char *purpose, unsigned timeout_ms,
		       smtpcred_err *err);

/* Borrowed strings, valid until smtpcred_lease_release(). */
SMTPCRED_API const char *smtpcred_lease_user(const smtpcred_lease *l);
SMTPCRED_API const char *smtpcred_lease_account(const smtpcred_lease *l);
SMTPCRED_API int smtpcred_lease_version(const smtpcred_lease *l);

/* Borrow the secret: *secret points to len bytes (NUL-terminated) in
 * non-pageable memory owned by the lease.  The pointer must not be kept
 * past smtpcred_lease_return().  Returns 0, SMTPCRED_E_INVALID when already
 * borrowed or already released. */
SMTPCRED_API SMTPCRED_NODISCARD int
smtpcred_lease_borrow(smtpcred_lease *l, const char **secret, size_t *len);
SMTPCRED_API void smtpcred_lease_return(smtpcred_lease *l);

/* Record the server's reply code to AUTH (e.g. 235, 535) and the server
 * ("host:port") in the audit log: in the file when this returns, not
 * waited for on the disk (the lease record before it was; a system crash
 * within seconds may lose this one).  Returns 0 or a negative code (the
 * AUTH already happened: callers may only log the failure). */
SMTPCRED_API int smtpcred_lease_report(smtpcred_lease *l, unsigned smtp_code,
				       const char *server);

/* Wipe the secret and free the lease.  NULL is a no-op. */
SMTPCRED_API void smtpcred_lease_release(smtpcred_lease *l);

#ifdef __cplusplus
}
#endif

#endif /* SMTPCRED_LEASE_H */
