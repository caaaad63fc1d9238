/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsmtpcred: SMTP credentials in the Secret Service, with versions,
 * staged rotation, max-age policy and a tamper-evident audit log.
 *
 * GLib-facing API for administrative programs (smtpcred, the PAM helper).
 * Sending programs use the plain-C lease in <smtpcred/lease.h>.
 *
 * Errors are GErrors in the SMTPCRED_ERROR domain.  Output parameters are
 * set only on success.  Nothing here prompts unless the store was opened
 * with SMTPCRED_STORE_ALLOW_PROMPT; every call has a deadline.
 */
#ifndef SMTPCRED_SMTPCRED_H
#define SMTPCRED_SMTPCRED_H

#include <glib.h>

#include <smtpcred/lease.h>

G_BEGIN_DECLS

#define SMTPCRED_ERROR (smtpcred_error_quark())
SMTPCRED_API GQuark smtpcred_error_quark(void);

/* Keep in step with smtpcred_code: code = -(error + 1). */
typedef enum {
	SMTPCRED_ERROR_NOT_FOUND,
	SMTPCRED_ERROR_LOCKED,
	SMTPCRED_ERROR_NO_BUS,
	SMTPCRED_ERROR_NO_SERVICE,
	SMTPCRED_ERROR_AMBIGUOUS,
	SMTPCRED_ERROR_POLICY,
	SMTPCRED_ERROR_AUDIT,
	SMTPCRED_ERROR_INVALID,
	SMTPCRED_ERROR_TIMEOUT,
	SMTPCRED_ERROR_BUSY,
	SMTPCRED_ERROR_CONFLICT,
	SMTPCRED_ERROR_VERIFY,
	SMTPCRED_ERROR_FAILED,
} SmtpcredError;

#define SMTPCRED_DEFAULT_TIMEOUT_MS 5000u
#define SMTPCRED_SCHEMA_NAME	    "org.smtpcred.Credential"
#define SMTPCRED_SCHEMA_REV	    "1"

typedef enum {
	SMTPCRED_STATE_PENDING,
	SMTPCRED_STATE_CURRENT,
	SMTPCRED_STATE_PREVIOUS,
	SMTPCRED_STATE_RETIRED,
} SmtpcredState;

SMTPCRED_API const char *smtpcred_state_to_string(SmtpcredState s);

/* An account's settings.  Strings are owned (g_free). */
typedef struct {
	char *name;
	char *host;
	guint16 port;
	char *tls;	/* "implicit" | "starttls" | "none-loopback" */
	char *user;
	char *mechs;	/* comma-separated SASL allow-list */
	char *ca_file;	/* NULL: system CA store */
	char *pin;	/* "sha256//BASE64" or NULL */
	guint max_age_days;	/* 0: no max age */
	guint warn_days;	/* warning window before not_after */
	guint grace_days;	/* rollback window after a rotation */
	guint keep;		/* retired versions kept after pruning */
	gboolean enforce;	/* refuse leases past not_after */
	gboolean audit_fail_open;	/* lease even when audit is unwritable */
	char *source;	/* NULL or "login" (kept in step by pam_smtpcred) */
	gint64 created;	/* unix seconds */
} SmtpcredSettings;

/* One stored version (metadata only, never the secret). */
typedef struct {
	guint version;
	SmtpcredState state;
	gboolean commit;	/* a promote/rollback intent is recorded */
	gboolean locked;	/* the item is in a locked collection */
	char *rotation_id;
	gint64 created, promoted, verified, not_after, grace_until; /* 0: unset */
} SmtpcredVersion;

typedef struct {
	SmtpcredSettings settings;
	GPtrArray *versions; /* SmtpcredVersion*, ascending by version */
	gboolean locked;     /* some item of the account is locked */
} SmtpcredAccount;

SMTPCRED_API void smtpcred_settings_clear(SmtpcredSettings *s);
/* Check settings the way smtpcred_store_add() will (INVALID naming the
 * field), so tools can refuse bad input before asking for a password. */
SMTPCRED_API gboolean smtpcred_name_validate(const char *name,
					     GError **error);
SMTPCRED_API gboolean smtpcred_settings_validate(const SmtpcredSettings *s,
						 GError **error);
SMTPCRED_API void smtpcred_account_free(SmtpcredAccount *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmtpcredAccount, smtpcred_account_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SmtpcredSettings, smtpcred_settings_clear)

/* The version a lease would use now: the single `current`, or, while a
 * promote/rollback is half done, the single version carrying the commit
 * intent.  NULL with SMTPCRED_ERROR_AMBIGUOUS / NOT_FOUND otherwise. */
SMTPCRED_API const SmtpcredVersion *
smtpcred_account_usable(const SmtpcredAccount *a, GError **error);

typedef enum {
	SMTPCRED_STORE_NONE = 0,
	SMTPCRED_STORE_ALLOW_PROMPT = 1 << 0, /* interactive tools only */
} SmtpcredStoreFlags;

typedef struct _SmtpcredStore SmtpcredStore;

/* Connect to the session bus and the Secret Service.  timeout_ms 0 means
 * SMTPCRED_DEFAULT_TIMEOUT_MS and applies to each later call.
 * Errors: NO_BUS, NO_SERVICE, TIMEOUT. */
SMTPCRED_API SmtpcredStore *smtpcred_store_new(SmtpcredStoreFlags flags,
					       guint timeout_ms,
					       GError **error);
SMTPCRED_API void smtpcred_store_free(SmtpcredStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmtpcredStore, smtpcred_store_free)

/* ---- the system store (smtpcredd, docs/broker.md) --------------------
 *
 * Where no desktop session exists, the broker smtpcredd keeps the same
 * accounts and versions as sealed files under its state directory.  A
 * process that calls smtpcred_system_scope() works on that store from
 * then on: the stores it opens, its leases, its per-account locks and
 * its audit log ($SMTPCRED_AUDIT_LOG, else /var/log/smtpcred/audit.log).
 * STATE_DIR NULL: $SMTPCRED_SYSTEM_DIR, else the default below. */
#define SMTPCRED_SYSTEM_DIR_DEFAULT "/var/lib/smtpcred"
SMTPCRED_API gboolean smtpcred_system_scope(const char *state_dir,
					    GError **error);
/* The system state directory in use, or NULL in the desktop scope. */
SMTPCRED_API const char *smtpcred_system_dir(void);

typedef enum {
	SMTPCRED_SEAL_AUTO,	     /* systemd-creds where it works (root) */
	SMTPCRED_SEAL_SYSTEMD_CREDS, /* master.key.cred: host key / TPM2 */
	SMTPCRED_SEAL_KEY_FILE,	     /* master.key, 0600, the owner only */
} SmtpcredSeal;

/* Make the system store (its folders and master key) when it does not
 * exist, owned by OWNER (a user name; NULL: the caller), or check that
 * an existing one opens.  Needs smtpcred_system_scope() first. */
SMTPCRED_API gboolean smtpcred_system_init(SmtpcredSeal seal,
					   const char *owner, GError **error);
/* How the store's master key is sealed, in words (static); NULL with an
 * error when the key cannot be opened.  (Doctor.) */
SMTPCRED_API const char *smtpcred_system_seal(GError **error);

/* Who may send with an account through the broker: comma-separated
 * user names or uids, group names or gids (primary or supplementary),
 * systemd unit names (from the client's cgroup); NULL or "" for none.
 * Root may always; anyone else only when a list names them.  Owned
 * strings.  Kept with the account in the system store (INVALID in the
 * desktop keyring); a change is audited ("access"). */
typedef struct {
	char *users;
	char *groups;
	char *units;
} SmtpcredAccess;
SMTPCRED_API void smtpcred_access_clear(SmtpcredAccess *a);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SmtpcredAccess, smtpcred_access_clear)
SMTPCRED_API gboolean smtpcred_store_get_access(SmtpcredStore *store,
						const char *name,
						SmtpcredAccess *out,
						GError **error);
SMTPCRED_API gboolean smtpcred_store_set_access(SmtpcredStore *store,
						const char *name,
						const SmtpcredAccess *access,
						GError **error);

/* Is the default collection locked?  (Doctor.) */
SMTPCRED_API gboolean smtpcred_store_is_locked(SmtpcredStore *store,
					       gboolean *locked,
					       GError **error);

/* Which program serves the Secret Service (the base name of its
 * executable: "gnome-keyring-daemon", "keepassxc", "kwalletd5", or
 * "unknown") and its version: as it tells it on the bus, else as
 * "VERSION (package NAME)" as dpkg-query reports it for the package that
 * installed the executable, else NULL.  Both new strings (g_free); FALSE
 * for the system store.  (Doctor.) */
SMTPCRED_API gboolean smtpcred_store_service_info(SmtpcredStore *store,
						  char **name, char **version,
						  GError **error);

/* All accounts, sorted by name.  Element type SmtpcredAccount*. */
SMTPCRED_API GPtrArray *smtpcred_store_list(SmtpcredStore *store,
					    GError **error);
SMTPCRED_API SmtpcredAccount *smtpcred_store_get(SmtpcredStore *store,
						 const char *name,
						 GError **error);

/* Create an account and (unless settings->source is "login") version 1 as
 * `current`.  CONFLICT when the account exists; LOCKED, INVALID, ... */
SMTPCRED_API gboolean smtpcred_store_add(SmtpcredStore *store,
					 const SmtpcredSettings *settings,
					 const char *secret, gsize secret_len,
					 GError **error);
/* Delete the account and every version.  Audited. */
SMTPCRED_API gboolean smtpcred_store_remove(SmtpcredStore *store,
					    const char *name, GError **error);

/* The verify hook of a rotation: try the pending secret (an SMTP AUTH
 * test, no mail sent).  Return FALSE with an error to stop the rotation;
 * `current` is then untouched and the pending version is deleted. */
typedef gboolean (*SmtpcredVerifyFunc)(const SmtpcredSettings *settings,
				       const char *secret, gsize secret_len,
				       gpointer user_data, GError **error);

/* Staged rotation under the per-account lock: create pending -> verify
 * (when verify != NULL) -> compare-and-set promote -> retire -> prune.
 * 'reason' goes to the audit log ("manual", "login-sync", ...).
 * Errors: BUSY (lock held), CONFLICT (a pending version is left over, or
 * `current` changed), VERIFY, LOCKED, AMBIGUOUS, NOT_FOUND, ... */
SMTPCRED_API gboolean smtpcred_store_rotate(SmtpcredStore *store,
					    const char *name,
					    const char *secret,
					    gsize secret_len,
					    SmtpcredVerifyFunc verify,
					    gpointer user_data,
					    const char *reason,
					    guint *new_version,
					    GError **error);
/* Finish an interrupted rotation or rollback deterministically; repair
 * retire/prune leftovers.  *repaired says whether anything changed. */
SMTPCRED_API gboolean smtpcred_store_rotate_resume(SmtpcredStore *store,
						   const char *name,
						   SmtpcredVerifyFunc verify,
						   gpointer user_data,
						   gboolean *repaired,
						   GError **error);
/* Drop an uncommitted pending version.  NOT_FOUND when there is none,
 * CONFLICT when the promote is already committed (resume instead). */
SMTPCRED_API gboolean smtpcred_store_rotate_abort(SmtpcredStore *store,
						  const char *name,
						  GError **error);
/* Make `previous` current again while inside its grace window.
 * POLICY when the window has closed. */
SMTPCRED_API gboolean smtpcred_store_rollback(SmtpcredStore *store,
					      const char *name,
					      GError **error);

/* Store the secret when the account has no version yet, rotate when it
 * differs (constant-time compare), do nothing when it is equal.  The
 * account must have source=login.  *changed tells whether a version was
 * written.  For the PAM helper. */
SMTPCRED_API gboolean smtpcred_store_sync(SmtpcredStore *store,
					  const char *name,
					  const char *secret, gsize secret_len,
					  const char *reason, gboolean *changed,
					  GError **error);

/* ---- audit log ------------------------------------------------------ */

/* The log this process writes: $SMTPCRED_AUDIT_LOG, else (the system
 * scope) /var/log/smtpcred/audit.log, else
 * $XDG_STATE_HOME/smtpcred/audit.log, else /var/log/smtpcred/audit.log
 * for root, else ~/.local/state/smtpcred/audit.log.  Owned by the caller. */
SMTPCRED_API char *smtpcred_audit_path(void);

typedef struct {
	guint64 seq;
	char *ts;
	char *event;
	char *outcome;
	char *account;
	guint version;
	guint uid;
	guint pid;
	char *exe;
	char *purpose;
	char *server;
	guint smtp_code;
	char *detail;
	char *prev;
	char *hash;
	char *line; /* the raw line, without the newline */
	/* A broker's record: the client it acted for (else all 0/NULL). */
	gboolean has_peer;
	guint peer_uid, peer_gid, peer_pid;
	char *peer_exe;
	char *peer_unit;
} SmtpcredAuditRecord;

SMTPCRED_API void smtpcred_audit_record_free(SmtpcredAuditRecord *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmtpcredAuditRecord, smtpcred_audit_record_free)

/* Append one record (path NULL: smtpcred_audit_path()).  Under an
 * exclusive lock: reads the chain head, writes, fsyncs.  Also sends a
 * one-line summary to syslog (LOG_AUTHPRIV).  Error: AUDIT. */
typedef struct {
	const char *event;   /* "lease", "auth-result", "store", ... */
	const char *outcome; /* "ok", "denied", "locked", "failed", ... */
	const char *account; /* NULL: none */
	guint version;	     /* 0: none */
	const char *purpose; /* caller-supplied, may be NULL */
	const char *server;  /* "host:port" or NULL */
	guint smtp_code;     /* 0: none */
	const char *detail;  /* short non-secret detail or NULL */
} SmtpcredAuditEvent;

/* The party a broker acts for (SO_PEERCRED, /proc): recorded in every
 * record this thread writes until it is set again; NULL clears it.  The
 * strings are copied (and cut to the record's limits). */
typedef struct {
	guint uid, gid, pid;
	const char *exe;  /* NULL: unknown */
	const char *unit; /* the systemd unit, NULL: none */
} SmtpcredAuditPeer;
SMTPCRED_API void smtpcred_audit_set_peer(const SmtpcredAuditPeer *peer);

SMTPCRED_API gboolean smtpcred_audit_append(const char *path,
					    const SmtpcredAuditEvent *ev,
					    guint64 *seq_out, GError **error);

/* Can a record be appended to the log now?  Opens it the way
 * smtpcred_audit_append() does (creating it and its directory, refusing
 * symlinks, other owners and group/other-writable files).  Error: AUDIT. */
SMTPCRED_API gboolean smtpcred_audit_check(const char *path, GError **error);

/* Read every record (no verification).  Element type
 * SmtpcredAuditRecord*.  A line that does not parse is an error naming
 * its line number (INVALID).  A missing file gives an empty array. */
SMTPCRED_API GPtrArray *smtpcred_audit_read(const char *path, GError **error);

/* Walk the chain: each line parses, seq runs 1,2,3..., prev equals the
 * hash of the line before, hash = SHA-256(prev || canonical record).
 * On failure: FALSE, *bad_line = 1-based line number, error INVALID
 * with a message saying what is wrong there.  *n_records on success. */
SMTPCRED_API gboolean smtpcred_audit_verify(const char *path,
					    guint64 *n_records,
					    guint64 *bad_line,
					    GError **error);

/* The library's notion of now, in unix seconds (test builds honour
 * SMTPCRED_TEST_NOW), so tools judge expiry exactly as leases do. */
SMTPCRED_API gint64 smtpcred_now(void);

/* Versions of the libraries in use (for doctor): "2.74.6" etc. */
SMTPCRED_API const char *smtpcred_version(void);

G_END_DECLS

#endif /* SMTPCRED_SMTPCRED_H */
