/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Declarations shared by the keyring sources; never installed. */
#pragma once

#include <glib.h>
#include <sys/types.h>
#include <string.h>

#include <smtpcred/smtpcred.h>

/* error.c */
int kr_error_to_code(const GError *error);
void kr_error_to_err(const GError *error, smtpcred_err *err);

/* The D-Bus-path level API lets us create items and read aliases without
 * loading whole collections. */
#ifndef SECRET_WITH_UNSTABLE
#define SECRET_WITH_UNSTABLE 1
#define SECRET_API_SUBJECT_TO_CHANGE 1
#endif
#include <libsecret/secret.h>

/* ---- model.c: the schema and attribute <-> struct mapping ------------ */

extern const SecretSchema kr_schema;

/* Attribute names (DESIGN.md "The credential model").  All STRING. */
#define KR_A_KIND	  "kind" /* "account" | "version" */
#define KR_A_ACCOUNT	  "account"
#define KR_A_VERSION	  "version"
#define KR_A_STATE	  "state"
#define KR_A_COMMIT	  "commit" /* "promote" | "rollback" | absent */
#define KR_A_ROTATION_ID  "rotation_id"
#define KR_A_CREATED	  "created"
#define KR_A_PROMOTED	  "promoted"
#define KR_A_VERIFIED	  "verified"
#define KR_A_NOT_AFTER	  "not_after"
#define KR_A_GRACE_UNTIL  "grace_until"
#define KR_A_SCHEMA_REV	  "schema_rev"

#define KR_NAME_MAX	  64
#define KR_SECRET_MAX	  4096 /* an SMTP password or token */
#define KR_VERSION_MAX	  1000000u

/* One Secret Service item of our schema, with a private copy of its
 * attributes. */
typedef struct {
	char *path;	   /* D-Bus object path */
	SecretItem *item;  /* proxy, made only when a change needs it */
	GHashTable *attrs; /* char* -> char*, owned */
	gboolean locked;
	guint version;	   /* 0 for the account item */
	SmtpcredState state;
} KrItem;

void kr_item_free(KrItem *it);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KrItem, kr_item_free)

/* The items of one account as found in the store. */
typedef struct {
	char *name;
	KrItem *account_item;	/* NULL when missing (damaged store) */
	GPtrArray *versions;	/* KrItem*, ascending by version */
	gboolean locked;
} KrAccountItems;

void kr_account_items_free(KrAccountItems *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KrAccountItems, kr_account_items_free)

gboolean kr_validate_name(const char *name, GError **error);
gboolean kr_validate_settings(const SmtpcredSettings *s, GError **error);
GHashTable *kr_settings_to_attrs(const SmtpcredSettings *s);
gboolean kr_attrs_to_settings(GHashTable *attrs, SmtpcredSettings *out,
			      GError **error);
void kr_version_from_item(const KrItem *it, SmtpcredVersion *out);
gboolean kr_item_parse_version(KrItem *it, GError **error);
GHashTable *kr_attrs_copy(GHashTable *attrs);
void kr_attrs_set_time(GHashTable *attrs, const char *key, gint64 t);
gint64 kr_attrs_get_time(GHashTable *attrs, const char *key);
SmtpcredAccount *kr_account_from_items(const KrAccountItems *a,
				       GError **error);
/* The usable version item (see smtpcred_account_usable). */
KrItem *kr_usable_item(const KrAccountItems *a, GError **error);
KrItem *kr_find_state(const KrAccountItems *a, SmtpcredState st,
		      guint *count);
guint kr_max_version(const KrAccountItems *a);
char *kr_version_label(const char *account, guint version);

/* "now" in unix seconds (SMTPCRED_TEST_NOW in test builds). */
gint64 kr_now(void);
/* Test builds: die by SIGKILL when SMTPCRED_TEST_CRASH_AT names point. */
void kr_crash_point(const char *point);

/* ---- store.c: Secret Service access with deadlines -------------------- */

struct _SmtpcredStore {
	SmtpcredStoreFlags flags;
	guint timeout_ms;
	GMainContext *ctx;
	GDBusConnection *bus;	/* searches and reads go straight here */
	char *dest;		/* the Secret Service's unique bus name */
	gboolean session;	/* the service with an encrypted session */
	SecretService *service;	/* made on first need (changes, secrets) */
	gboolean files;		/* the system store (system.c), no bus */
};

gint64 kr_deadline(const SmtpcredStore *store);
/* Signals received from the bus so far (store.c, "watching the keyring
 * for changes"): unchanged since a read began means the keyring announced
 * no change since, provided kr_store_watched() held when it began. */
guint kr_changes(void);
gboolean kr_store_watched(const SmtpcredStore *store);
/* Items read with GetAll by this process (for tests). */
guint kr_item_reads(void);
/* "VERSION (package NAME)" of the installed Debian package that holds
 * the file PATH (asked of dpkg-query; nothing else is run), or NULL. */
char *kr_package_version(const char *path);
/* The same with dpkg-query --admindir=ADMINDIR (tests). */
char *kr_package_version_in(const char *admindir, const char *path);
/* smtpcred_store_new(), with the encrypted transfer session only when
 * 'session' (reading secrets needs it; settings do not). */
SmtpcredStore *kr_store_open(SmtpcredStoreFlags flags, guint timeout_ms,
			     gboolean session, GError **error);
/* Load the items of one account (name != NULL) or of all accounts.
 * Element type KrAccountItems*, sorted by name. */
GPtrArray *kr_load(SmtpcredStore *store, const char *name, gint64 deadline,
		   GError **error);
KrAccountItems *kr_load_one(SmtpcredStore *store, const char *name,
			    gint64 deadline, GError **error);
/* LOCKED when the default collection is locked, NO_SERVICE when there
 * is none. */
gboolean kr_check_writable(SmtpcredStore *store, gint64 deadline,
			   GError **error);
gboolean kr_item_create(SmtpcredStore *store, GHashTable *attrs,
			const char *label, const char *secret, gsize len,
			gint64 deadline, GError **error);
gboolean kr_item_set_attrs(SmtpcredStore *store, KrItem *it,
			   GHashTable *attrs, gint64 deadline, GError **error);
gboolean kr_item_delete(SmtpcredStore *store, KrItem *it, gint64 deadline,
			GError **error);
/* The item's secret (libsecret non-pageable memory); unref to wipe. */
SecretValue *kr_item_secret(SmtpcredStore *store, KrItem *it,
			    gint64 deadline, GError **error);
/* The items at PATHS as they are now (gone ones left out of OUT) and the
 * secret of the item at SECRET_OF, all in one round trip. */
gboolean kr_items_and_secret(SmtpcredStore *store, char **paths,
			     const char *secret_of, gint64 deadline,
			     GPtrArray *out, SecretValue **value,
			     GError **error);
/* A method of org.freedesktop.Secret.Service, straight on the bus to the
 * service's unique name; errors mapped as every other call's. */
GVariant *kr_service_call(SmtpcredStore *store, const char *method,
			  GVariant *args, const char *reply_type,
			  gint64 deadline, const char *what, GError **error);

/* ---- session.c: the encrypted transfer session (OpenSSL) -------------- */

/* The path of this process's session with the service STORE talks to,
 * opened (a Diffie-Hellman exchange) on first need; g_free it. */
char *kr_session_path(SmtpcredStore *store, gint64 deadline, GError **error);
/* OpenSSL's first use and our half of the next exchange, made ahead: CPU
 * only, no bus (lease.c's preparing thread, before the gate opens). */
void kr_session_warm(void);
/* smtpcred_lease_prepare() whose exchange with the service waits until
 * kr_lease_prepare_go() (GATED): the caller's lookup goes first. */
void kr_lease_prepare_start(unsigned timeout_ms, gboolean gated);
void kr_lease_prepare_go(void);
/* Item.GetSecret's (oayays), decrypted into locked memory that is wiped
 * when the last reference to the value goes. */
SecretValue *kr_session_decode(GVariant *secret, GError **error);
void kr_session_forget(void);

/* Forget what this process resolved of every account (lease.c): called
 * by every change to the store. */
void kr_resolved_forget_all(void);

/* The lease behind smtpcred_lease_acquire(); with CHECK, refused
 * (CONFLICT) unless CHECK(settings as read now, DATA) says they still are
 * the ones the caller connected with. */
typedef gboolean (*KrSettingsCheck)(const SmtpcredSettings *now,
				    const void *data);
int kr_lease_acquire(struct smtpcred_lease **out, const char *account,
		     const char *purpose, unsigned timeout_ms,
		     KrSettingsCheck check, const void *data,
		     smtpcred_err *err);

/* Audit helper: append, mapping failure into error; returns FALSE only
 * when the record could not be written. */
gboolean kr_audit(const char *event, const char *outcome, const char *account,
		  guint version, const char *purpose, const char *server,
		  guint smtp_code, const char *detail, GError **error);
/* kr_audit() without waiting for the disk (kr_audit_append()): only for
 * the AUTH result. */
gboolean kr_audit_lazy(const char *event, const char *outcome,
		       const char *account, guint version, const char *purpose,
		       const char *server, guint smtp_code, const char *detail,
		       GError **error);
/* AUDIT unless the audit log can be opened for appending now: every
 * change is refused up front rather than made without its record. */
gboolean kr_audit_ready(GError **error);
/* Record a failed operation (audit errors are dropped: the operation's
 * own error is the one to report). */
void kr_audit_failure(const char *event, const char *account,
		      const GError *err);
/* Attributes of a new version item (created=now). */
GHashTable *kr_version_attrs(const char *account, guint version,
			     SmtpcredState state, const char *rotation_id);
/* INVALID unless 1..KR_SECRET_MAX bytes without NUL. */
gboolean kr_check_secret(const char *account, const char *secret, gsize len,
			 GError **error);
/* The outcome word for an error ("locked", "not-found", "failed", ...). */
const char *kr_outcome_for(const GError *error);

/* ---- system.c: the system store (sealed files) ----------------------- */

gboolean kr_system_active(void);
/* The owner of the system store's state directory. */
gboolean kr_system_owner(uid_t *uid, gid_t *gid);
/* The state directory is there and safe (INVALID, POLICY, NO_SERVICE). */
gboolean kr_files_check(GError **error);
/* The items (KrItem*) of account NAME, or of all accounts (NAME NULL),
 * each verified; a file that fails is INVALID (and audited). */
gboolean kr_files_read(const char *name, GPtrArray *out, GError **error);
gboolean kr_files_create(GHashTable *attrs, const char *secret, gsize len,
			 GError **error);
gboolean kr_files_set_attrs(KrItem *it, GHashTable *attrs, GError **error);
gboolean kr_files_delete(KrItem *it, GError **error);
/* The secret of IT, if IT is still the item the caller listed. */
SecretValue *kr_files_secret(KrItem *it, GError **error);

/* ---- rotation.c ------------------------------------------------------ */
/* Per-account lock file; -1 with BUSY when another process holds it. */
int kr_lock_account(const char *name, GError **error);
void kr_unlock_account(int fd);
