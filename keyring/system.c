/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The system store (issue 13, docs/broker.md): what smtpcredd, the broker
 * for daemons and cron, keeps where no desktop session exists.  The same
 * items as in the Secret Service -- an account's settings item and one
 * item per version, with the same attributes -- so the model, rotation,
 * policy and audit code is the desktop's, unchanged; only where an item
 * lives differs.  Here: one file per item under STATE/items/, sealed with
 * AES-256-GCM under the store's master key.
 *
 * An item file:
 *
 *   smtpcred-item 1\n
 *   id=<32 hex digits>\n            (= the file's name without ".item")
 *   <key>=<value>\n ...             the attributes, sorted by key; bytes
 *                                   below 0x20, '%' and 0x7f as %XX
 *   \n
 *   nonce (12 bytes) | ciphertext | tag (16 bytes)
 *
 * The text up to and including the blank line is the AEAD's associated
 * data, so the attributes are authenticated with the secret (an account
 * item has an empty secret: the tag is then a MAC over its attributes),
 * and the id inside must match the file name: an edited, truncated,
 * copied or renamed file fails and is refused, never used.
 *
 * The master key (32 random bytes) is, in this order:
 *   - $CREDENTIALS_DIRECTORY/smtpcred-master-key: systemd decrypted
 *     STATE/master.key.cred for the broker (LoadCredentialEncrypted=);
 *   - STATE/master.key, mode 0600 (the "key-file" seal);
 *   - STATE/master.key.cred decrypted with `systemd-creds decrypt` (root:
 *     the administrator's CLI; the host key, or TPM2 where present).
 * It lives in locked memory excluded from core dumps, for the process's
 * life.  Writes go to a temporary file, fsync, rename, fsync of the
 * folder: a crash leaves the old item or the new, never half of one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "internal.h"
#include "parse.h"
#include "secbuf.h"

#define ITEM_MAGIC	"smtpcred-item 1\n"
#define ITEM_SUFFIX	".item"
#define ITEM_ID_HEX	32
#define ITEM_HEADER_MAX (16u * 1024u)
#define NONCE_LEN	12
#define TAG_LEN		16
#define KEY_LEN		32
#define KEY_FILE	"master.key"
#define KEY_CRED	"master.key.cred"
#define KEY_CRED_NAME	"smtpcred-master-key"
#define ITEMS_MAX	4096 /* files in items/: far above any real use */
#define ITEM_FILE_MAX	(ITEM_HEADER_MAX + NONCE_LEN + KR_SECRET_MAX + TAG_LEN)

static GRecMutex sys_lock; /* the key is loaded under it */
static char *sys_dir;	   /* NULL: the desktop (Secret Service) scope */
static secbuf sys_key;	   /* KEY_LEN bytes once loaded */
static const char *sys_seal; /* where the key came from (static text) */

static void
sys_at_exit(void)
{
	g_rec_mutex_lock(&sys_lock);
	secbuf_wipe(&sys_key);
	g_clear_pointer(&sys_dir, g_free);
	g_rec_mutex_unlock(&sys_lock);
}

gboolean
smtpcred_system_scope(const char *state_dir, GError **error)
{
	const char *env = secure_getenv("SMTPCRED_SYSTEM_DIR");
	const char *dir = state_dir != NULL	      ? state_dir
			  : env != NULL && *env != '\0' ? env
							: SMTPCRED_SYSTEM_DIR_DEFAULT;
	static gboolean atexit_set;

	if (dir[0] != '/') {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "the system state directory must be an absolute "
			    "path, not '%s'",
			    dir);
		return FALSE;
	}
	g_rec_mutex_lock(&sys_lock);
	g_free(sys_dir);
	sys_dir = g_strdup(dir);
	secbuf_wipe(&sys_key);
	sys_seal = NULL;
	if (!atexit_set) {
		atexit(sys_at_exit);
		atexit_set = TRUE;
	}
	g_rec_mutex_unlock(&sys_lock);
	kr_resolved_forget_all();
	return TRUE;
}

const char *
smtpcred_system_dir(void)
{
	return sys_dir;
}

gboolean
kr_system_active(void)
{
	return sys_dir != NULL;
}

gboolean
kr_system_owner(uid_t *uid, gid_t *gid)
{
	struct stat st;

	if (sys_dir == NULL || stat(sys_dir, &st) < 0)
		return FALSE;
	*uid = st.st_uid;
	*gid = st.st_gid;
	return TRUE;
}

static char *
items_dir(void)
{
	return g_build_filename(sys_dir, "items", NULL);
}

/* EACCES and EPERM mean "not root or the broker": POLICY (exit 77). */
static void
set_errno_error(GError **error, int e, const char *what, const char *path)
{
	int code = e == EACCES || e == EPERM ? SMTPCRED_ERROR_POLICY
		   : e == ENOENT	     ? SMTPCRED_ERROR_NO_SERVICE
					     : SMTPCRED_ERROR_FAILED;

	if (code == SMTPCRED_ERROR_POLICY)
		g_set_error(error, SMTPCRED_ERROR, code,
			    "cannot %s %s: %s (the system store is for root "
			    "and the broker, smtpcredd)",
			    what, path, g_strerror(e));
	else if (code == SMTPCRED_ERROR_NO_SERVICE)
		g_set_error(error, SMTPCRED_ERROR, code,
			    "cannot %s %s: %s (no system store here: "
			    "'smtpcred --system init' makes one)",
			    what, path, g_strerror(e));
	else
		g_set_error(error, SMTPCRED_ERROR, code, "cannot %s %s: %s",
			    what, path, g_strerror(e));
}

/* A folder of the store: a real directory, not writable by group or
 * others, owned by root or by the store's owner. */
static gboolean
check_dir(const char *path, struct stat *st, GError **error)
{
	if (lstat(path, st) < 0) {
		set_errno_error(error, errno, "read", path);
		return FALSE;
	}
	if (!S_ISDIR(st->st_mode) || (st->st_mode & (S_IWGRP | S_IWOTH))) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "refusing the system store %s: %s", path,
			    !S_ISDIR(st->st_mode)
				? "not a directory"
				: "writable by group or others (chmod go-w)");
		return FALSE;
	}
	return TRUE;
}

gboolean
kr_files_check(GError **error)
{
	g_autofree char *items = items_dir();
	struct stat st, ist;

	if (!check_dir(sys_dir, &st, error) || !check_dir(items, &ist, error))
		return FALSE;
	if (ist.st_uid != st.st_uid) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "refusing the system store %s: items/ is owned by "
			    "uid %u, the store by uid %u",
			    sys_dir, (unsigned)ist.st_uid,
			    (unsigned)st.st_uid);
		return FALSE;
	}
	return TRUE;
}

/* ---- the master key ----------------------------------------------------- */

/* Read exactly KEY_LEN bytes from fd into the key buffer. */
static gboolean
read_key_fd(int fd, const char *from, GError **error)
{
	unsigned char buf[KEY_LEN + 1];
	size_t got = 0;
	WIPE_ON_EXIT(buf);

	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_errno_error(error, errno, "read", from);
			return FALSE;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf))
			break;
	}
	if (got != KEY_LEN) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "the master key %s is not %d bytes", from,
			    KEY_LEN);
		return FALSE;
	}
	secbuf_clear(&sys_key);
	if (secbuf_append(&sys_key, buf, KEY_LEN) < 0) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "out of memory for the master key");
		return FALSE;
	}
	return TRUE;
}

static gboolean
read_key_file(const char *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	struct stat st;
	gboolean ok;

	if (fd < 0) {
		set_errno_error(error, errno, "open the master key", path);
		return FALSE;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		close(fd);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "refusing the master key %s: not a regular file "
			    "of mode 0600 or stricter",
			    path);
		return FALSE;
	}
	ok = read_key_fd(fd, path, error);
	close(fd);
	return ok;
}

/* `systemd-creds decrypt --name=... CRED -`, its output read straight
 * into the key buffer from a pipe. */
static gboolean
decrypt_key_cred(const char *cred, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GSubprocess) p = NULL;
	gboolean ok;

	p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
				 G_SUBPROCESS_FLAGS_STDERR_SILENCE,
			     &local, "systemd-creds", "decrypt",
			     "--name=" KEY_CRED_NAME, cred, "-", NULL);
	if (p == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NO_SERVICE,
			    "cannot run systemd-creds to unseal %s: %s", cred,
			    local->message);
		return FALSE;
	}
	ok = read_key_fd(g_unix_input_stream_get_fd(G_UNIX_INPUT_STREAM(
			     g_subprocess_get_stdout_pipe(p))),
			 "from systemd-creds", error);
	if (!g_subprocess_wait(p, NULL, NULL) ||
	    !g_subprocess_get_if_exited(p) ||
	    g_subprocess_get_exit_status(p) != 0) {
		g_clear_error(error);
		g_set_error(error, SMTPCRED_ERROR,
			    geteuid() == 0 ? SMTPCRED_ERROR_FAILED
					   : SMTPCRED_ERROR_POLICY,
			    "systemd-creds could not unseal %s%s", cred,
			    geteuid() == 0 ? " (wrong host key or TPM?)"
					   : ": it needs root");
		secbuf_clear(&sys_key);
		return FALSE;
	}
	return ok;
}

static const unsigned char *load_master_key(GError **error);

/* The key, loaded once (see the head of this file); NULL on error.  Once
 * loaded it stays where it is until the scope changes or the process
 * ends, so the pointer may be used without the lock. */
static const unsigned char *
master_key(GError **error)
{
	const unsigned char *key;

	g_rec_mutex_lock(&sys_lock);
	key = load_master_key(error);
	g_rec_mutex_unlock(&sys_lock);
	return key;
}

static const unsigned char *
load_master_key(GError **error)
{
	const char *creds = secure_getenv("CREDENTIALS_DIRECTORY");
	g_autofree char *from_systemd = NULL;
	g_autofree char *file = NULL;
	g_autofree char *cred = NULL;
	gboolean ok;

	if (sys_key.len == KEY_LEN)
		return (const unsigned char *)sys_key.data;
	if (creds != NULL && creds[0] == '/')
		from_systemd = g_build_filename(creds, KEY_CRED_NAME, NULL);
	file = g_build_filename(sys_dir, KEY_FILE, NULL);
	cred = g_build_filename(sys_dir, KEY_CRED, NULL);
	if (from_systemd != NULL &&
	    g_file_test(from_systemd, G_FILE_TEST_EXISTS)) {
		/* systemd wrote it 0400 for the service's user. */
		int fd = open(from_systemd, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		if (fd < 0) {
			set_errno_error(error, errno, "open", from_systemd);
			return NULL;
		}
		ok = read_key_fd(fd, from_systemd, error);
		close(fd);
		sys_seal = "systemd-creds (unsealed by systemd for the "
			   "service)";
	} else if (g_file_test(file, G_FILE_TEST_EXISTS)) {
		ok = read_key_file(file, error);
		sys_seal = "key-file (master.key, readable only by the "
			   "store's owner)";
	} else if (g_file_test(cred, G_FILE_TEST_EXISTS)) {
		ok = decrypt_key_cred(cred, error);
		sys_seal = "systemd-creds (master.key.cred: host key, TPM2 "
			   "where present)";
	} else {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NO_SERVICE,
			    "the system store %s has no master key (%s or "
			    "%s): 'smtpcred --system init' makes one",
			    sys_dir, KEY_FILE, KEY_CRED);
		return NULL;
	}
	if (!ok) {
		sys_seal = NULL;
		return NULL;
	}
	return (const unsigned char *)sys_key.data;
}

const char *
smtpcred_system_seal(GError **error)
{
	const char *seal = NULL;

	g_rec_mutex_lock(&sys_lock);
	if (sys_dir == NULL)
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "not working on the system store");
	else if (master_key(error) != NULL)
		seal = sys_seal;
	g_rec_mutex_unlock(&sys_lock);
	return seal;
}

/* ---- item files ---------------------------------------------------------- */

static void
escape_value(GString *out, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p < 0x20 || *p == '%' || *p == 0x7f)
			g_string_append_printf(out, "%%%02X", *p);
		else
			g_string_append_c(out, (char)*p);
	}
}

static gboolean
valid_key(const char *k)
{
	if (*k == '\0')
		return FALSE;
	for (; *k; k++)
		if (!g_ascii_islower(*k) && *k != '_' && !g_ascii_isdigit(*k))
			return FALSE;
	return TRUE;
}

/* The header text (the associated data) for ID and ATTRS. */
static GString *
header_for(const char *id, GHashTable *attrs)
{
	g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(attrs),
					    (GCompareFunc)strcmp);
	GString *h = g_string_new(ITEM_MAGIC);

	g_string_append_printf(h, "id=%s\n", id);
	for (GList *l = keys; l != NULL; l = l->next) {
		g_string_append(h, l->data);
		g_string_append_c(h, '=');
		escape_value(h, g_hash_table_lookup(attrs, l->data));
		g_string_append_c(h, '\n');
	}
	g_string_append_c(h, '\n');
	return h;
}

/* Parse a header (already authenticated) into attributes. */
static GHashTable *
parse_header(const char *h, size_t len, const char *id, GError **error)
{
	g_autoptr(GHashTable) attrs =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	const char *p = h + strlen(ITEM_MAGIC), *end = h + len - 1;
	g_autofree char *want_id = g_strdup_printf("id=%s", id);
	gboolean first = TRUE;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eq;
		g_autofree char *key = NULL;
		GString *val;

		if (nl == NULL)
			break;
		if (first) {
			if ((size_t)(nl - p) != strlen(want_id) ||
			    memcmp(p, want_id, strlen(want_id)) != 0)
				goto bad;
			first = FALSE;
			p = nl + 1;
			continue;
		}
		eq = memchr(p, '=', (size_t)(nl - p));
		if (eq == NULL)
			goto bad;
		key = g_strndup(p, (gsize)(eq - p));
		if (!valid_key(key) || g_hash_table_contains(attrs, key))
			goto bad;
		val = g_string_new(NULL);
		for (const char *q = eq + 1; q < nl; q++) {
			if (*q == '%') {
				int hi = q + 2 < nl ? hex_digit_value(q[1]) : -1;
				int lo = q + 2 < nl ? hex_digit_value(q[2]) : -1;

				if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
					g_string_free(val, TRUE);
					goto bad;
				}
				g_string_append_c(val, (char)(hi * 16 + lo));
				q += 2;
			} else {
				g_string_append_c(val, *q);
			}
		}
		g_hash_table_insert(attrs, g_steal_pointer(&key),
				    g_string_free(val, FALSE));
		p = nl + 1;
	}
	if (first || p != end)
		goto bad;
	return g_steal_pointer(&attrs);
bad:
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
		    "system store item %s: malformed attributes", id);
	return NULL;
}

/* AES-256-GCM.  ENCRYPT: in -> out (same length), tag written; else tag
 * checked.  FALSE on any failure (a wrong tag among them). */
static gboolean
aead(gboolean encrypt, const unsigned char *key, const unsigned char *nonce,
     const GString *aad, const unsigned char *in, size_t len,
     unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	gboolean ok = FALSE;

	if (c == NULL || len > INT_MAX || aad->len > INT_MAX)
		goto out;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL,
			      encrypt ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) !=
		1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key, nonce, -1) != 1 ||
	    EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)aad->str,
			     (int)aad->len) != 1)
		goto out;
	if (len > 0 && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1)
		goto out;
	if (!encrypt &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, out + (len > 0 ? n : 0), &fin) != 1)
		goto out;
	if (encrypt &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	ok = TRUE;
out:
	EVP_CIPHER_CTX_free(c); /* cleanses the key schedule */
	return ok;
}

static gboolean
valid_id(const char *id)
{
	if (strlen(id) != ITEM_ID_HEX)
		return FALSE;
	for (const char *p = id; *p; p++)
		if (!g_ascii_isxdigit(*p) || g_ascii_isupper(*p))
			return FALSE;
	return TRUE;
}

/* The bytes of PATH, NUL-terminated; at most MAX + 1 are read (so a
 * longer file shows as *len > MAX).  Errors as set_errno_error. */
static char *
read_bounded(const char *path, size_t max, size_t *len, GError **error)
{
	g_autofree char *buf = g_malloc(max + 2);
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

	if (fd < 0) {
		set_errno_error(error, errno, "read", path);
		return NULL;
	}
	while (got < max + 1) {
		ssize_t n = read(fd, buf + got, max + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			set_errno_error(error, e, "read", path);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return g_steal_pointer(&buf);
}

/* Read and open one item file: its attributes and, when SECRET is not
 * NULL, its secret into *secret (wiped by the caller).  A file that fails
 * any check is INVALID and audited as tampered. */
static GHashTable *
read_item(const char *path, const char *id, secbuf *secret, GError **error)
{
	const unsigned char *key;
	g_autofree char *buf = NULL;
	size_t len = 0;
	const char *sep;
	size_t hlen, clen;
	GString aad;
	_cleanup_secbuf_ secbuf plain = SECBUF_INIT;
	GHashTable *attrs;

	buf = read_bounded(path, ITEM_FILE_MAX, &len, error);
	if (buf == NULL)
		return NULL;
	if (len > ITEM_FILE_MAX)
		goto tampered;
	key = master_key(error);
	if (key == NULL)
		return NULL;
	sep = len > strlen(ITEM_MAGIC) &&
		      memcmp(buf, ITEM_MAGIC, strlen(ITEM_MAGIC)) == 0
		  ? g_strstr_len(buf, (gssize)MIN(len, ITEM_HEADER_MAX),
				 "\n\n")
		  : NULL;
	if (sep == NULL)
		goto tampered;
	hlen = (size_t)(sep - buf) + 2;
	if (len < hlen + NONCE_LEN + TAG_LEN)
		goto tampered;
	clen = len - hlen - NONCE_LEN - TAG_LEN;
	if (clen > KR_SECRET_MAX || secbuf_reserve(&plain, MAX(clen, 1)) < 0)
		goto tampered;
	aad.str = buf;
	aad.len = hlen;
	if (!aead(FALSE, key, (unsigned char *)buf + hlen, &aad,
		  (unsigned char *)buf + hlen + NONCE_LEN, clen,
		  (unsigned char *)plain.data,
		  (unsigned char *)buf + hlen + NONCE_LEN + clen))
		goto tampered;
	plain.len = clen;
	plain.data[clen] = '\0';
	attrs = parse_header(buf, hlen, id, error);
	if (attrs == NULL)
		goto tampered;
	if (secret != NULL) {
		secbuf_clear(secret);
		if (secbuf_append(secret, plain.data, plain.len) < 0) {
			g_hash_table_unref(attrs);
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_FAILED,
				    "out of memory for a secret");
			return NULL;
		}
	}
	return attrs;

tampered:
	g_clear_error(error);
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
		    "system store item %s failed its integrity check "
		    "(changed, truncated, copied or renamed); refusing it",
		    path);
	kr_audit("integrity", "failed", NULL, 0, NULL, NULL, 0, path, NULL);
	return NULL;
}

/* The uid and gid new files get: the store's owner (root writing for
 * the broker's user). */
static gboolean
store_owner(uid_t *uid, gid_t *gid, GError **error)
{
	struct stat st;

	if (!check_dir(sys_dir, &st, error))
		return FALSE;
	*uid = st.st_uid;
	*gid = st.st_gid;
	return TRUE;
}

static gboolean
sync_dir(const char *dir, GError **error)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e;

	if (fd < 0 || fsync(fd) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		set_errno_error(error, e, "sync", dir);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

static gboolean
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return FALSE;
		c += w;
		n -= (size_t)w;
	}
	return TRUE;
}

/* Write the item ID (attributes ATTRS, secret SECRET/LEN) in place of any
 * earlier file of that id, atomically. */
static gboolean
write_item(const char *id, GHashTable *attrs, const char *secret, gsize len,
	   GError **error)
{
	const unsigned char *key = master_key(error);
	g_autofree char *dir = items_dir();
	g_autofree char *name = g_strconcat(id, ITEM_SUFFIX, NULL);
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *tmp = NULL;
	g_autoptr(GString) h = NULL;
	g_autofree unsigned char *ct = NULL;
	unsigned char nonce[NONCE_LEN], tag[TAG_LEN];
	uid_t uid;
	gid_t gid;
	int fd, e;

	if (key == NULL || !store_owner(&uid, &gid, error))
		return FALSE;
	if (len > KR_SECRET_MAX) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "a secret is at most %d bytes", KR_SECRET_MAX);
		return FALSE;
	}
	h = header_for(id, attrs);
	if (h->len > ITEM_HEADER_MAX) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "the attributes of an item are at most %u bytes",
			    ITEM_HEADER_MAX);
		return FALSE;
	}
	ct = g_malloc(len + 1);
	if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    !aead(TRUE, key, nonce, h, (const unsigned char *)secret, len, ct,
		  tag)) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "sealing item %s failed (OpenSSL)", id);
		return FALSE;
	}
	tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, name);
	fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_errno_error(error, errno, "create a file in", dir);
		return FALSE;
	}
	if ((geteuid() == 0 && fchown(fd, uid, gid) < 0) ||
	    !write_all(fd, h->str, h->len) ||
	    !write_all(fd, nonce, sizeof(nonce)) || !write_all(fd, ct, len) ||
	    !write_all(fd, tag, sizeof(tag)) || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		set_errno_error(error, e != 0 ? e : EIO, "write", tmp);
		return FALSE;
	}
	close(fd);
	kr_crash_point("system-before-rename");
	if (rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		set_errno_error(error, e, "rename into", path);
		return FALSE;
	}
	return sync_dir(dir, error);
}

gboolean
kr_files_read(const char *name, GPtrArray *out, GError **error)
{
	g_autofree char *dir = items_dir();
	g_autoptr(GDir) d = NULL;
	g_autoptr(GError) local = NULL;
	const char *f;
	guint n = 0;

	if (!kr_files_check(error))
		return FALSE;
	d = g_dir_open(dir, 0, &local);
	if (d == NULL) {
		set_errno_error(error,
				local->code == G_FILE_ERROR_ACCES ? EACCES
								  : EIO,
				"read", dir);
		return FALSE;
	}
	while ((f = g_dir_read_name(d)) != NULL) {
		g_autofree char *id = NULL;
		g_autofree char *path = NULL;
		g_autoptr(KrItem) it = NULL;
		GHashTable *attrs;

		if (f[0] == '.' || !g_str_has_suffix(f, ITEM_SUFFIX))
			continue; /* a write's temporary file */
		id = g_strndup(f, strlen(f) - strlen(ITEM_SUFFIX));
		if (!valid_id(id))
			continue;
		if (++n > ITEMS_MAX) {
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_INVALID,
				    "the system store has over %d items",
				    ITEMS_MAX);
			return FALSE;
		}
		path = g_build_filename(dir, f, NULL);
		attrs = read_item(path, id, NULL, error);
		if (attrs == NULL)
			return FALSE;
		if (name != NULL &&
		    g_strcmp0(g_hash_table_lookup(attrs, KR_A_ACCOUNT),
			      name) != 0) {
			g_hash_table_unref(attrs);
			continue;
		}
		it = g_new0(KrItem, 1);
		it->path = g_steal_pointer(&path);
		it->attrs = attrs;
		g_ptr_array_add(out, g_steal_pointer(&it));
	}
	return TRUE;
}

/* The id of an item read by kr_files_read (its file name). */
static char *
item_id(const KrItem *it)
{
	g_autofree char *base = g_path_get_basename(it->path);

	return g_strndup(base, strlen(base) - strlen(ITEM_SUFFIX));
}

gboolean
kr_files_create(GHashTable *attrs, const char *secret, gsize len,
		GError **error)
{
	unsigned char raw[ITEM_ID_HEX / 2];
	char id[ITEM_ID_HEX + 1];

	if (!kr_files_check(error))
		return FALSE;
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "no random bytes for an item id (OpenSSL)");
		return FALSE;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		g_snprintf(id + 2 * i, 3, "%02x", raw[i]);
	return write_item(id, attrs, secret, len, error);
}

gboolean
kr_files_set_attrs(KrItem *it, GHashTable *attrs, GError **error)
{
	g_autofree char *id = item_id(it);
	_cleanup_secbuf_ secbuf secret = SECBUF_INIT;
	GHashTable *old;

	old = read_item(it->path, id, &secret, error);
	if (old == NULL)
		return FALSE;
	g_hash_table_unref(old);
	return write_item(id, attrs, secret.data != NULL ? secret.data : "",
			  secret.len, error);
}

gboolean
kr_files_delete(KrItem *it, GError **error)
{
	g_autofree char *dir = items_dir();

	if (unlink(it->path) < 0 && errno != ENOENT) {
		set_errno_error(error, errno, "remove", it->path);
		return FALSE;
	}
	return sync_dir(dir, error);
}

SecretValue *
kr_files_secret(KrItem *it, GError **error)
{
	g_autofree char *id = item_id(it);
	_cleanup_secbuf_ secbuf secret = SECBUF_INIT;
	GHashTable *attrs;

	attrs = read_item(it->path, id, &secret, error);
	if (attrs == NULL)
		return NULL;
	/* The file may have changed since it was listed: it must still be
	 * the item the caller chose. */
	if (g_strcmp0(g_hash_table_lookup(attrs, KR_A_ACCOUNT),
		      g_hash_table_lookup(it->attrs, KR_A_ACCOUNT)) != 0 ||
	    g_strcmp0(g_hash_table_lookup(attrs, KR_A_VERSION),
		      g_hash_table_lookup(it->attrs, KR_A_VERSION)) != 0 ||
	    g_strcmp0(g_hash_table_lookup(attrs, KR_A_STATE),
		      g_hash_table_lookup(it->attrs, KR_A_STATE)) != 0) {
		g_hash_table_unref(attrs);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_CONFLICT,
			    "the system store changed while reading; retry");
		return NULL;
	}
	g_hash_table_unref(attrs);
	/* secret_value_new() copies into libsecret's non-pageable memory;
	 * ours is wiped when this returns. */
	return secret_value_new(secret.data != NULL ? secret.data : "",
				(gssize)secret.len, "text/plain");
}

/* ---- making a store -------------------------------------------------------- */

static gboolean
make_dir(const char *path, uid_t uid, gid_t gid, GError **error)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		set_errno_error(error, errno, "create", path);
		return FALSE;
	}
	if (geteuid() == 0 && chown(path, uid, gid) < 0) {
		set_errno_error(error, errno, "chown", path);
		return FALSE;
	}
	return TRUE;
}

/* Seal KEY with systemd-creds into PATH (its input on a pipe). */
static gboolean
seal_with_systemd_creds(const unsigned char *key, const char *path,
			GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GSubprocess) p = NULL;
	GOutputStream *in;
	gboolean wrote;

	p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE |
				 G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
				 G_SUBPROCESS_FLAGS_STDERR_SILENCE,
			     &local, "systemd-creds", "encrypt",
			     "--name=" KEY_CRED_NAME, "-", path, NULL);
	if (p == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_NO_SERVICE,
			    "cannot run systemd-creds: %s", local->message);
		return FALSE;
	}
	/* Straight from our buffer to the pipe: no copy in between. */
	in = g_subprocess_get_stdin_pipe(p);
	wrote = write_all(g_unix_output_stream_get_fd(
			      G_UNIX_OUTPUT_STREAM(in)),
			  key, KEY_LEN);
	(void)g_output_stream_close(in, NULL, NULL);
	if (!g_subprocess_wait(p, NULL, NULL) || !wrote ||
	    !g_subprocess_get_if_exited(p) ||
	    g_subprocess_get_exit_status(p) != 0) {
		unlink(path);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "systemd-creds encrypt failed (exit %d)",
			    g_subprocess_get_if_exited(p)
				? g_subprocess_get_exit_status(p)
				: -1);
		return FALSE;
	}
	return TRUE;
}

gboolean
smtpcred_system_init(SmtpcredSeal seal, const char *owner, GError **error)
{
	g_autofree char *items = NULL;
	g_autofree char *file = NULL;
	g_autofree char *cred = NULL;
	unsigned char key[KEY_LEN];
	WIPE_ON_EXIT(key);
	uid_t uid = geteuid();
	gid_t gid = getegid();
	gboolean ok = FALSE;

	if (sys_dir == NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "not working on the system store");
		return FALSE;
	}
	if (owner != NULL) {
		struct passwd pwbuf, *pw = NULL;
		char buf[4096];

		if (getpwnam_r(owner, &pwbuf, buf, sizeof(buf), &pw) != 0 ||
		    pw == NULL) {
			g_set_error(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_INVALID,
				    "no user '%s' to own the system store",
				    owner);
			return FALSE;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	items = g_build_filename(sys_dir, "items", NULL);
	file = g_build_filename(sys_dir, KEY_FILE, NULL);
	cred = g_build_filename(sys_dir, KEY_CRED, NULL);
	g_rec_mutex_lock(&sys_lock);
	if (!make_dir(sys_dir, uid, gid, error) ||
	    !make_dir(items, uid, gid, error))
		goto out;
	/* The audit log's folder, when it is to be made: the broker's user
	 * appends there too (audit.c hands it the log root creates). */
	{
		g_autofree char *log = smtpcred_audit_path();
		g_autofree char *logdir = g_path_get_dirname(log);

		g_autofree char *parent = g_path_get_dirname(logdir);

		if (!g_file_test(logdir, G_FILE_TEST_IS_DIR) &&
		    (g_mkdir_with_parents(parent, 0755) < 0 ||
		     !make_dir(logdir, uid, gid, error)))
			goto out;
	}
	if (g_file_test(file, G_FILE_TEST_EXISTS) ||
	    g_file_test(cred, G_FILE_TEST_EXISTS)) {
		/* Already made: only check that the key opens. */
		ok = master_key(error) != NULL && kr_files_check(error);
		goto out;
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_FAILED,
			    "no random bytes for the master key (OpenSSL)");
		goto out;
	}
	if (seal == SMTPCRED_SEAL_AUTO) {
		g_autofree char *creds = g_find_program_in_path("systemd-creds");

		seal = creds != NULL && geteuid() == 0
			   ? SMTPCRED_SEAL_SYSTEMD_CREDS
			   : SMTPCRED_SEAL_KEY_FILE;
	}
	if (seal == SMTPCRED_SEAL_SYSTEMD_CREDS) {
		if (!seal_with_systemd_creds(key, cred, error))
			goto out;
		/* The broker reads it through systemd, never from here;
		 * root's CLI decrypts it again with systemd-creds. */
		if (chmod(cred, 0600) < 0 ||
		    (geteuid() == 0 && chown(cred, 0, 0) < 0)) {
			set_errno_error(error, errno, "protect", cred);
			goto out;
		}
	} else {
		int fd = open(file,
			      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
				  O_NOFOLLOW,
			      0600);

		if (fd < 0) {
			set_errno_error(error, errno, "create", file);
			goto out;
		}
		if ((geteuid() == 0 && fchown(fd, uid, gid) < 0) ||
		    !write_all(fd, key, sizeof(key)) || fsync(fd) < 0) {
			int e = errno;

			close(fd);
			unlink(file);
			set_errno_error(error, e != 0 ? e : EIO, "write",
					file);
			goto out;
		}
		close(fd);
	}
	if (!sync_dir(sys_dir, error))
		goto out;
	secbuf_clear(&sys_key);
	ok = master_key(error) != NULL;
out:
	g_rec_mutex_unlock(&sys_lock);
	return ok;
}
