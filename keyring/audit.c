/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit log (DESIGN.md "Access log"): one JSON object per line,
 * hash-chained, appended under an exclusive lock and fsync'd (the AUTH
 * result without waiting for the disk: kr_audit_append()).
 *
 *   canonical = {"seq":N,"ts":"...","event":"...","outcome":"...",
 *                "account":"...","version":N,"uid":N,"pid":N,"exe":"...",
 *                "purpose":"...","server":"...","smtp_code":N,
 *                "detail":"...",[peer,]"prev":"<64 hex>"}
 *   peer      = "peer_uid":N,"peer_gid":N,"peer_pid":N,"peer_exe":"...",
 *               "peer_unit":"..."   (a broker's record: whom it acted for,
 *               from SO_PEERCRED; the five together or none)
 *   line      = canonical with ,"hash":"<64 hex>" before the final }
 *   hash      = hex SHA-256 of prev (its 64 ASCII hex digits) followed by
 *               the canonical bytes
 *
 * Keys are always present (the peer group: all five or none) and always
 * in this order, so the canonical bytes
 * of a line are the line minus its hash member: verification hashes exactly
 * what is on disk.  No field ever holds a secret or anything derived from
 * one: the API takes only names, codes and caller text.
 *
 * Honest limit: the chain has no key, so whoever can write the file can
 * rewrite all of it consistently.  It proves that nothing was edited,
 * removed or reordered *in place*; the per-record syslog summary (with
 * seq and hash) is the copy outside the user's reach that anchors it.
 *
 * Locking: flock(LOCK_EX) on the log's own descriptor, not on a sibling
 * lock file.  The lock then belongs to exactly the inode we append to,
 * there is no second file to create and secure (owner, mode, symlink
 * checks; a lock file pre-created by someone else), and the kernel drops
 * it when a writer dies.  The one thing a lock on the log cannot cover is
 * the log being renamed away (rotated) while we wait: after locking we
 * check that the path still names our inode and start over if not.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "internal.h"
#include "logsafe.h"
#include "parse.h"

#define AUDIT_HEX 64u /* SHA-256 in hex */

/* Every line is this skeleton with the values filled in. */
#define AUDIT_SKELETON                                                         \
	"{\"seq\":,\"ts\":\"\",\"event\":\"\",\"outcome\":\"\","               \
	"\"account\":\"\",\"version\":,\"uid\":,\"pid\":,\"exe\":\"\","        \
	"\"purpose\":\"\",\"server\":\"\",\"smtp_code\":,\"detail\":\"\","     \
	"\"prev\":\"\",\"hash\":\"\"}"
/* Digits of the numbers: seq (guint64), version, uid, pid, smtp_code. */
#define AUDIT_DIGITS (20u + 4u * 10u)
/* Worst case of the caller's strings: every byte escaped as \u00XX. */
#define AUDIT_ESCAPED_MAX                                                      \
	(6u * (2u * AUDIT_WORD_MAX + AUDIT_ACCOUNT_MAX + 2u * AUDIT_EXE_MAX +  \
	       AUDIT_PURPOSE_MAX + AUDIT_SERVER_MAX + AUDIT_DETAIL_MAX +       \
	       AUDIT_UNIT_MAX))
/* The peer group's keys and its three numbers. */
#define AUDIT_PEER_SKELETON                                                    \
	",\"peer_uid\":,\"peer_gid\":,\"peer_pid\":,\"peer_exe\":\"\","        \
	"\"peer_unit\":\"\""
_Static_assert(sizeof(AUDIT_SKELETON) - 1 + AUDIT_DIGITS + (RFC3339_BUFSZ - 1) +
		       2 * AUDIT_HEX + AUDIT_ESCAPED_MAX +
		       sizeof(AUDIT_PEER_SKELETON) - 1 + 3u * 10u +
		       1 /* '\n' */
		   <= AUDIT_LINE_MAX,
	       "a record must always fit AUDIT_LINE_MAX");

/* The client a broker thread is serving (smtpcred_audit_set_peer). */
typedef struct {
	gboolean set;
	guint uid, gid, pid;
	char exe[AUDIT_EXE_MAX + 1];
	char unit[AUDIT_UNIT_MAX + 1];
} Peer;
static __thread Peer peer;

void
smtpcred_audit_set_peer(const SmtpcredAuditPeer *p)
{
	memset(&peer, 0, sizeof(peer));
	if (p == NULL)
		return;
	peer.set = TRUE;
	peer.uid = p->uid;
	peer.gid = p->gid;
	peer.pid = p->pid;
	/* add_str() cuts and escapes when the record is written. */
	g_strlcpy(peer.exe, p->exe != NULL ? p->exe : "", sizeof(peer.exe));
	g_strlcpy(peer.unit, p->unit != NULL ? p->unit : "",
		  sizeof(peer.unit));
}

/* Caller text in the syslog summary is cut shorter than in the file. */
#define AUDIT_SYSLOG_TEXT_MAX 128u
/* How often an append starts over when the log is replaced under it. */
#define AUDIT_REOPEN_MAX 5
/* Read buffer of the line reader: one longest line plus a chunk. */
#define AUDIT_READ_CHUNK (64u * 1024u)

static const char zero_hash[AUDIT_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";
static const char hash_member[] = ",\"hash\":\"";

char *
smtpcred_audit_path(void)
{
	/* secure_getenv: a setuid/setgid program ignores the environment. */
	const char *env = secure_getenv("SMTPCRED_AUDIT_LOG");
	const char *state = secure_getenv("XDG_STATE_HOME");

	if (env != NULL && *env != '\0')
		return g_strdup(env);
	if (kr_system_active())
		return g_strdup("/var/log/smtpcred/audit.log");
	/* The XDG spec: a relative value is invalid and must be ignored. */
	if (state != NULL && state[0] == '/')
		return g_build_filename(state, "smtpcred", "audit.log", NULL);
	if (getuid() == 0)
		return g_strdup("/var/log/smtpcred/audit.log");
	return g_build_filename(g_get_home_dir(), ".local", "state", "smtpcred",
				"audit.log", NULL);
}

void
kr_audit_record_clear(SmtpcredAuditRecord *r)
{
	if (r == NULL)
		return;
	g_free(r->ts);
	g_free(r->event);
	g_free(r->outcome);
	g_free(r->account);
	g_free(r->exe);
	g_free(r->purpose);
	g_free(r->server);
	g_free(r->detail);
	g_free(r->peer_exe);
	g_free(r->peer_unit);
	g_free(r->prev);
	g_free(r->hash);
	g_free(r->line);
	memset(r, 0, sizeof(*r));
}

void
smtpcred_audit_record_free(SmtpcredAuditRecord *r)
{
	if (r == NULL)
		return;
	kr_audit_record_clear(r);
	g_free(r);
}

/* ---- building ---------------------------------------------------------- */

static gboolean
is_utf8_cont(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* How many bytes of s to keep when at most cap may be kept.  A cut never
 * splits a valid UTF-8 sequence (up to 3 bytes are given back); invalid
 * bytes are escaped one by one anyway. */
static size_t
field_len(const char *s, size_t cap)
{
	size_t n, cut;

	if (s == NULL)
		return 0;
	n = strnlen(s, cap);
	if (n < cap || s[n] == '\0')
		return n;
	/* s[n] is the first byte dropped. */
	cut = n;
	for (int k = 0; k < 3 && cut > 0 && is_utf8_cont(s[cut]); k++)
		cut--;
	if (cut < n && (unsigned char)s[cut] >= 0xc0)
		return cut;
	return n;
}

/* Append ,"key":"<escaped value>" (value cut to cap bytes first). */
static void
add_str(GString *s, const char *key, const char *val, size_t cap)
{
	size_t n = field_len(val, cap);
	size_t room = LOGSAFE_MAX(n);
	size_t at, w;

	g_string_append_printf(s, ",\"%s\":\"", key);
	at = s->len;
	g_string_set_size(s, at + room);
	w = logsafe_json(s->str + at, room, val != NULL ? val : "", n);
	g_string_truncate(s, at + w);
	g_string_append_c(s, '"');
}

static void
hash_hex(const char *prev, const char *canonical, size_t len,
	 char out[AUDIT_HEX + 1])
{
	g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);

	g_checksum_update(c, (const guchar *)prev, AUDIT_HEX);
	g_checksum_update(c, (const guchar *)canonical, (gssize)len);
	g_strlcpy(out, g_checksum_get_string(c), AUDIT_HEX + 1);
}

static void
self_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n < 0)
		n = 0;
	buf[n] = '\0';
}

/* The whole line, '\n' included; its hash in hash_out. */
static GString *
build_line(guint64 seq, const char *prev, const SmtpcredAuditEvent *ev,
	   char hash_out[AUDIT_HEX + 1])
{
	GString *s = g_string_sized_new(1024);
	char exe[PATH_MAX];
	char ts[RFC3339_BUFSZ];

	self_exe(exe, sizeof(exe));
	if (format_rfc3339_utc(kr_now(), ts, sizeof(ts)) < 0)
		g_strlcpy(ts, "1970-01-01T00:00:00Z", sizeof(ts));
	g_string_append_printf(s, "{\"seq\":%" G_GUINT64_FORMAT, seq);
	add_str(s, "ts", ts, sizeof(ts));
	add_str(s, "event", ev->event, AUDIT_WORD_MAX);
	add_str(s, "outcome", ev->outcome, AUDIT_WORD_MAX);
	add_str(s, "account", ev->account, AUDIT_ACCOUNT_MAX);
	g_string_append_printf(s, ",\"version\":%u,\"uid\":%u,\"pid\":%u",
			       ev->version, (unsigned)getuid(),
			       (unsigned)getpid());
	add_str(s, "exe", exe, AUDIT_EXE_MAX);
	add_str(s, "purpose", ev->purpose, AUDIT_PURPOSE_MAX);
	add_str(s, "server", ev->server, AUDIT_SERVER_MAX);
	g_string_append_printf(s, ",\"smtp_code\":%u", ev->smtp_code);
	add_str(s, "detail", ev->detail, AUDIT_DETAIL_MAX);
	if (peer.set) {
		g_string_append_printf(s,
				       ",\"peer_uid\":%u,\"peer_gid\":%u,"
				       "\"peer_pid\":%u",
				       peer.uid, peer.gid, peer.pid);
		add_str(s, "peer_exe", peer.exe, AUDIT_EXE_MAX);
		add_str(s, "peer_unit", peer.unit, AUDIT_UNIT_MAX);
	}
	add_str(s, "prev", prev, AUDIT_HEX);
	g_string_append_c(s, '}');

	hash_hex(prev, s->str, s->len, hash_out);
	g_string_truncate(s, s->len - 1);
	g_string_append_printf(s, "%s%s\"}\n", hash_member, hash_out);
	/* The _Static_assert above makes this impossible. */
	g_assert(s->len <= AUDIT_LINE_MAX);
	return s;
}

/* ---- parsing (pure) ------------------------------------------------------ */

typedef struct {
	const char *p, *end;
} Cursor;

static gboolean
expect(Cursor *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return FALSE;
	c->p += n;
	return TRUE;
}

/* "key": */
static gboolean
expect_key(Cursor *c, const char *key)
{
	size_t n = strlen(key);

	if ((size_t)(c->end - c->p) < n + 3 || c->p[0] != '"' ||
	    memcmp(c->p + 1, key, n) != 0 || c->p[n + 1] != '"' ||
	    c->p[n + 2] != ':')
		return FALSE;
	c->p += n + 3;
	return TRUE;
}

static gboolean
read_u4(Cursor *c, gunichar *out)
{
	gunichar v = 0;

	if (c->end - c->p < 4)
		return FALSE;
	for (int i = 0; i < 4; i++) {
		int h = hex_digit_value(c->p[i]);

		if (h < 0)
			return FALSE;
		v = v * 16 + (gunichar)h;
	}
	c->p += 4;
	*out = v;
	return TRUE;
}

/* The escape after a backslash, appended to s as UTF-8. */
static gboolean
read_escape(Cursor *c, GString *s, const char **why)
{
	gunichar u, lo;
	char ch;

	if (c->p >= c->end) {
		*why = "unterminated escape";
		return FALSE;
	}
	ch = *c->p++;
	switch (ch) {
	case '"':
	case '\\':
	case '/':
		g_string_append_c(s, ch);
		return TRUE;
	case 'b':
		g_string_append_c(s, '\b');
		return TRUE;
	case 'f':
		g_string_append_c(s, '\f');
		return TRUE;
	case 'n':
		g_string_append_c(s, '\n');
		return TRUE;
	case 'r':
		g_string_append_c(s, '\r');
		return TRUE;
	case 't':
		g_string_append_c(s, '\t');
		return TRUE;
	case 'u':
		break;
	default:
		*why = "unknown escape";
		return FALSE;
	}
	if (!read_u4(c, &u)) {
		*why = "bad \\u escape";
		return FALSE;
	}
	if (u >= 0xdc00 && u <= 0xdfff) {
		*why = "unpaired low surrogate";
		return FALSE;
	}
	if (u >= 0xd800 && u <= 0xdbff) {
		if (!expect(c, "\\u") || !read_u4(c, &lo) || lo < 0xdc00 ||
		    lo > 0xdfff) {
			*why = "unpaired high surrogate";
			return FALSE;
		}
		u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (u == 0) {
		*why = "NUL in a string";
		return FALSE;
	}
	g_string_append_unichar(s, u);
	return TRUE;
}

/* A JSON string (the opening quote already consumed), as UTF-8. */
static char *
read_string(Cursor *c, const char **why)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (;;) {
		char ch;

		if (c->p >= c->end) {
			*why = "unterminated string";
			return NULL;
		}
		ch = *c->p++;
		if (ch == '"')
			break;
		if ((unsigned char)ch < 0x20) {
			*why = "control character in a string";
			return NULL;
		}
		if (ch != '\\')
			g_string_append_c(s, ch);
		else if (!read_escape(c, s, why))
			return NULL;
	}
	if (!g_utf8_validate(s->str, (gssize)s->len, NULL)) {
		*why = "string is not valid UTF-8";
		return NULL;
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* An unsigned decimal without sign, leading zeros or exponent. */
static gboolean
read_uint(Cursor *c, guint64 max, guint64 *out)
{
	char buf[24];
	size_t n = 0;
	uint64_t v;

	while (c->p < c->end && g_ascii_isdigit(*c->p)) {
		if (n == sizeof(buf) - 1)
			return FALSE;
		buf[n++] = *c->p++;
	}
	buf[n] = '\0';
	if (n == 0 || (n > 1 && buf[0] == '0') ||
	    parse_uint64(buf, 0, max, &v) < 0)
		return FALSE;
	*out = v;
	return TRUE;
}

static gboolean
is_hex64(const char *s)
{
	if (strlen(s) != AUDIT_HEX)
		return FALSE;
	for (size_t i = 0; i < AUDIT_HEX; i++)
		if (!g_ascii_isdigit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return FALSE;
	return TRUE;
}

enum { F_STR, F_U64, F_UINT };

/* clang-format off */
#define STR_FIELD(name) F_STR, G_STRUCT_OFFSET(SmtpcredAuditRecord, name)
#define NUM_FIELD(t, name) t, G_STRUCT_OFFSET(SmtpcredAuditRecord, name)
static const struct {
	const char *key;
	int type;
	glong off;
} fields[] = {
	{ "seq",	NUM_FIELD(F_U64, seq) },
	{ "ts",		STR_FIELD(ts) },
	{ "event",	STR_FIELD(event) },
	{ "outcome",	STR_FIELD(outcome) },
	{ "account",	STR_FIELD(account) },
	{ "version",	NUM_FIELD(F_UINT, version) },
	{ "uid",	NUM_FIELD(F_UINT, uid) },
	{ "pid",	NUM_FIELD(F_UINT, pid) },
	{ "exe",	STR_FIELD(exe) },
	{ "purpose",	STR_FIELD(purpose) },
	{ "server",	STR_FIELD(server) },
	{ "smtp_code",	NUM_FIELD(F_UINT, smtp_code) },
	{ "detail",	STR_FIELD(detail) },
	{ "peer_uid",	NUM_FIELD(F_UINT, peer_uid) },	/* optional group */
	{ "peer_gid",	NUM_FIELD(F_UINT, peer_gid) },
	{ "peer_pid",	NUM_FIELD(F_UINT, peer_pid) },
	{ "peer_exe",	STR_FIELD(peer_exe) },
	{ "peer_unit",	STR_FIELD(peer_unit) },
	{ "prev",	STR_FIELD(prev) },
	{ "hash",	STR_FIELD(hash) },
};
#undef STR_FIELD
#undef NUM_FIELD
/* clang-format on */

#define PEER_FIELDS 5

gboolean
kr_audit_parse_line(const char *line, size_t len, SmtpcredAuditRecord *out,
		    GError **error)
{
	SmtpcredAuditRecord r = {0};
	Cursor c = {line, line + len};
	const char *why = NULL;
	const char *key = NULL;
	int64_t t;

	if (len >= AUDIT_LINE_MAX) {
		why = "line too long";
		goto bad;
	}
	if (!expect(&c, "{")) {
		why = "not a JSON object";
		goto bad;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
		guint64 v = 0;

		key = fields[i].key;
		/* The peer group is there, whole, or not at all. */
		if (strcmp(key, "peer_uid") == 0) {
			Cursor look = c;

			if (!expect(&look, ",") ||
			    !expect_key(&look, "peer_uid")) {
				i += PEER_FIELDS - 1;
				continue;
			}
			r.has_peer = TRUE;
		}
		if ((i > 0 && !expect(&c, ",")) || !expect_key(&c, key)) {
			why = "expected here (a key is missing, extra or "
			      "out of order)";
			goto bad;
		}
		switch (fields[i].type) {
		case F_STR: {
			char *s;

			if (!expect(&c, "\"")) {
				why = "a string was expected";
				goto bad;
			}
			s = read_string(&c, &why);
			if (s == NULL)
				goto bad;
			G_STRUCT_MEMBER(char *, &r, fields[i].off) = s;
			break;
		}
		case F_U64:
			if (!read_uint(&c, G_MAXUINT64, &v)) {
				why = "an unsigned integer was expected";
				goto bad;
			}
			G_STRUCT_MEMBER(guint64, &r, fields[i].off) = v;
			break;
		default:
			if (!read_uint(&c, G_MAXUINT, &v)) {
				why = "an unsigned 32-bit integer was "
				      "expected";
				goto bad;
			}
			G_STRUCT_MEMBER(guint, &r, fields[i].off) = (guint)v;
			break;
		}
	}
	key = NULL;
	if (!expect(&c, "}") || c.p != c.end) {
		why = "data after the last member";
		goto bad;
	}
	if (parse_rfc3339_utc(r.ts, &t) < 0) {
		key = "ts";
		why = "not an RFC 3339 UTC time";
		goto bad;
	}
	if (!is_hex64(r.prev) || !is_hex64(r.hash)) {
		key = !is_hex64(r.prev) ? "prev" : "hash";
		why = "not 64 lowercase hex digits";
		goto bad;
	}
	r.line = g_strndup(line, len);
	*out = r;
	return TRUE;

bad:
	kr_audit_record_clear(&r);
	if (key != NULL)
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "not a valid audit record (\"%s\": %s)", key, why);
	else
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "not a valid audit record (%s)", why);
	return FALSE;
}

/* Recompute a parsed line's hash from its raw bytes: the canonical bytes
 * are the line without its ,"hash":"<64 hex>" member, '}' kept. */
static gboolean
line_hash_ok(const SmtpcredAuditRecord *r)
{
	size_t len = strlen(r->line);
	size_t head = sizeof(hash_member) - 1;
	size_t sfx = head + AUDIT_HEX + 2; /* "} */
	g_autofree char *canonical = NULL;
	char h[AUDIT_HEX + 1];

	if (len < sfx + 1 ||
	    memcmp(r->line + len - sfx, hash_member, head) != 0 ||
	    memcmp(r->line + len - sfx + head, r->hash, AUDIT_HEX) != 0 ||
	    memcmp(r->line + len - 2, "\"}", 2) != 0)
		return FALSE;
	canonical = g_malloc(len - sfx + 1);
	memcpy(canonical, r->line, len - sfx);
	canonical[len - sfx] = '}';
	hash_hex(r->prev, canonical, len - sfx + 1, h);
	return strcmp(h, r->hash) == 0;
}

/* ---- the file -------------------------------------------------------- */

/* An AUDIT error: the message, then ": <errno text>" when e != 0. */
static void set_audit_error(GError **error, int e, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void
set_audit_error(GError **error, int e, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (e != 0)
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "%s: %s", msg, g_strerror(e));
	else
		g_set_error_literal(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
				    msg);
}

/* Open for appending (and reading the tail), refusing what a careful
 * program must not write into (STYLE.md S11).  -1 with AUDIT on error.
 *
 * O_RDWR, not O_WRONLY: the chain head must be read under the lock from
 * the very inode we append to, and a second open() of the path could
 * reach another file.  O_APPEND puts every write at the end regardless. */
static int
audit_open(const char *path, struct stat *st_out, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	struct stat st, lst;
	uid_t owner = 0;
	gid_t group = 0;
	int fd, e;

	if (g_mkdir_with_parents(dir, 0700) < 0) {
		e = errno;
		set_audit_error(error, e,
				"cannot create the directory %s of the audit "
				"log %s",
				dir, path);
		return -1;
	}
	fd = open(path,
		  O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
		      O_NOCTTY | O_NONBLOCK,
		  0600);
	if (fd < 0) {
		e = errno;
		if (e == ELOOP && lstat(path, &lst) == 0 &&
		    S_ISLNK(lst.st_mode))
			set_audit_error(error, 0,
					"refusing the audit log %s: it is a "
					"symbolic link",
					path);
		else
			set_audit_error(error, e,
					"cannot open the audit log %s", path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		set_audit_error(error, e, "cannot stat the audit log %s", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		set_audit_error(error, 0,
				"refusing the audit log %s: it is not a "
				"regular file",
				path);
		return -1;
	}
	/* The system scope: root (the CLI) and the broker's user append to
	 * one log, which belongs to the store's owner; one that root has
	 * just created is handed to that owner. */
	if (kr_system_active() && kr_system_owner(&owner, &group) &&
	    geteuid() == 0 && st.st_uid == 0 && st.st_size == 0 &&
	    owner != 0 && fchown(fd, owner, group) == 0)
		st.st_uid = owner;
	/* geteuid: the identity that creates and writes the file. */
	if (st.st_uid != geteuid() && st.st_uid != 0 &&
	    !(kr_system_active() && kr_system_owner(&owner, &group) &&
	      st.st_uid == owner)) {
		close(fd);
		set_audit_error(error, 0,
				"refusing the audit log %s: it is owned by uid "
				"%u, not by uid %u or root",
				path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		close(fd);
		set_audit_error(error, 0,
				"refusing the audit log %s: it is writable by "
				"group or others (mode %04o; chmod go-w fixes "
				"it)",
				path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (st_out != NULL)
		*st_out = st;
	return fd;
}

gboolean
smtpcred_audit_check(const char *path, GError **error)
{
	g_autofree char *owned = path == NULL ? smtpcred_audit_path() : NULL;
	int fd = audit_open(path != NULL ? path : owned, NULL, error);

	if (fd < 0)
		return FALSE;
	close(fd);
	return TRUE;
}

/* Admin changes write several records; with less room than this on the
 * log's file system one of them could fail after the keyring changed, so
 * the change is refused before it starts. */
#define AUDIT_MIN_FREE (64 * 1024)

gboolean
kr_audit_ready(GError **error)
{
	g_autofree char *path = smtpcred_audit_path();
	int fd = audit_open(path, NULL, error);
	struct statvfs fs;

	if (fd < 0) {
		g_prefix_error(error, "nothing was changed: ");
		return FALSE;
	}
	if (fstatvfs(fd, &fs) == 0 &&
	    (guint64)fs.f_bavail * fs.f_frsize < AUDIT_MIN_FREE) {
		close(fd);
		set_audit_error(error, ENOSPC,
				"nothing was changed: the file system of the "
				"audit log %s has less than %d KiB free",
				path, AUDIT_MIN_FREE / 1024);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

/* Lines in [0, size): the count of '\n', plus one for a torn last line.
 * Only used to name a line in an error; 0 when unknown. */
static guint64
count_lines(int fd, off_t size)
{
	g_autofree char *buf = g_malloc(AUDIT_READ_CHUNK);
	guint64 n = 0;
	off_t at = 0;
	char last = '\n';

	while (at < size) {
		ssize_t got = pread(fd, buf, AUDIT_READ_CHUNK, at);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return 0;
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
		last = buf[got - 1];
		at += got;
	}
	return n + (last != '\n');
}

/* The seq and hash of the last record, read from the file's tail (at most
 * one line back: AUDIT_LINE_MAX + 1 bytes). */
static gboolean
read_head(int fd, const char *path, off_t size, guint64 *seq,
	  char prev[AUDIT_HEX + 1], GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *buf = NULL;
	SmtpcredAuditRecord r = {0};
	const char *line, *nl;
	size_t n;
	off_t start;
	ssize_t got;

	if (size == 0) {
		*seq = 0;
		memcpy(prev, zero_hash, AUDIT_HEX + 1);
		return TRUE;
	}
	n = (size_t)MIN((off_t)AUDIT_LINE_MAX + 1, size);
	start = size - (off_t)n;
	buf = g_malloc(n);
	do
		got = pread(fd, buf, n, start);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)n) {
		set_audit_error(error, got < 0 ? errno : EIO,
				"cannot read the end of the audit log %s",
				path);
		return FALSE;
	}
	if (buf[n - 1] != '\n') {
		set_audit_error(error, 0,
				"the audit log %s ends in an incomplete line "
				"%" G_GUINT64_FORMAT
				" (a torn write); nothing was appended: check "
				"it with 'smtpcred audit --verify'",
				path, count_lines(fd, size));
		return FALSE;
	}
	nl = memrchr(buf, '\n', n - 1);
	line = nl != NULL ? nl + 1 : buf;
	if (nl == NULL && start > 0) {
		set_audit_error(error, 0,
				"the audit log %s: line %" G_GUINT64_FORMAT
				" is longer than %u bytes",
				path, count_lines(fd, size), AUDIT_LINE_MAX);
		return FALSE;
	}
	if (!kr_audit_parse_line(line, (size_t)(buf + n - 1 - line), &r,
				 &local)) {
		set_audit_error(error, 0,
				"the audit log %s: line %" G_GUINT64_FORMAT
				" (the last): %s",
				path, count_lines(fd, size), local->message);
		return FALSE;
	}
	if (r.seq == G_MAXUINT64) {
		kr_audit_record_clear(&r);
		set_audit_error(error, 0, "the audit log %s is full (seq)",
				path);
		return FALSE;
	}
	*seq = r.seq;
	memcpy(prev, r.hash, AUDIT_HEX + 1);
	kr_audit_record_clear(&r);
	return TRUE;
}

/* 0 or an errno value. */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		if (w == 0)
			return EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Make a new file's directory entry durable (best effort). */
static void
sync_dir_of(const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

static void
escape_for_syslog(char *dst, size_t dstsz, const char *s, size_t cap)
{
	logsafe_escape(dst, dstsz, s != NULL ? s : "", field_len(s, cap));
}

/* One line per record to syslog/journal (no openlog(): a library must not
 * change the program's ident).  Caller text is escaped and quoted. */
static void
summary_to_syslog(guint64 seq, const SmtpcredAuditEvent *ev, const char *hash)
{
	char event[LOGSAFE_MAX(AUDIT_WORD_MAX)];
	char outcome[LOGSAFE_MAX(AUDIT_WORD_MAX)];
	char account[LOGSAFE_MAX(AUDIT_ACCOUNT_MAX)];
	char server[LOGSAFE_MAX(AUDIT_SERVER_MAX)];
	char purpose[LOGSAFE_MAX(AUDIT_SYSLOG_TEXT_MAX)];
	char detail[LOGSAFE_MAX(AUDIT_SYSLOG_TEXT_MAX)];
	char client[64] = "";
	int level =
	    g_strcmp0(ev->outcome, "ok") == 0 ? LOG_NOTICE : LOG_WARNING;

	escape_for_syslog(event, sizeof(event), ev->event, AUDIT_WORD_MAX);
	escape_for_syslog(outcome, sizeof(outcome), ev->outcome,
			  AUDIT_WORD_MAX);
	escape_for_syslog(account, sizeof(account), ev->account,
			  AUDIT_ACCOUNT_MAX);
	escape_for_syslog(server, sizeof(server), ev->server, AUDIT_SERVER_MAX);
	escape_for_syslog(purpose, sizeof(purpose), ev->purpose,
			  AUDIT_SYSLOG_TEXT_MAX);
	escape_for_syslog(detail, sizeof(detail), ev->detail,
			  AUDIT_SYSLOG_TEXT_MAX);
	if (peer.set)
		g_snprintf(client, sizeof(client),
			   " peer_uid=%u peer_pid=%u", peer.uid, peer.pid);
	syslog(LOG_AUTHPRIV | level,
	       "smtpcred[audit] seq=%" G_GUINT64_FORMAT
	       " event=%s outcome=%s account='%s' version=%u uid=%u pid=%u%s "
	       "server='%s' smtp_code=%u purpose='%s' detail='%s' hash=%s",
	       seq, event, outcome, account, ev->version, (unsigned)getuid(),
	       (unsigned)getpid(), client, server, ev->smtp_code, purpose,
	       detail, hash);
}

/* A record that could not be written still leaves a trace in the journal
 * (an account with audit_fail_open leases without its record). */
static void
failure_to_syslog(const SmtpcredAuditEvent *ev, const GError *err)
{
	char event[LOGSAFE_MAX(AUDIT_WORD_MAX)];
	char outcome[LOGSAFE_MAX(AUDIT_WORD_MAX)];
	char account[LOGSAFE_MAX(AUDIT_ACCOUNT_MAX)];
	char why[LOGSAFE_MAX(256)];

	escape_for_syslog(event, sizeof(event), ev->event, AUDIT_WORD_MAX);
	escape_for_syslog(outcome, sizeof(outcome), ev->outcome,
			  AUDIT_WORD_MAX);
	escape_for_syslog(account, sizeof(account), ev->account,
			  AUDIT_ACCOUNT_MAX);
	escape_for_syslog(why, sizeof(why), err != NULL ? err->message : "",
			  256);
	syslog(LOG_AUTHPRIV | LOG_ERR,
	       "smtpcred[audit] record NOT written: event=%s outcome=%s "
	       "account='%s' version=%u uid=%u pid=%u error='%s'",
	       event, outcome, account, ev->version, (unsigned)getuid(),
	       (unsigned)getpid(), why);
}

/* Open the log and take its lock; the size under the lock in *size.
 * Starts over when the path stops naming the locked file (rotation). */
static int
open_locked(const char *path, off_t *size, GError **error)
{
	struct stat st, now;
	int fd, r, e;

	for (int attempt = 0; attempt < AUDIT_REOPEN_MAX; attempt++) {
		fd = audit_open(path, NULL, error);
		if (fd < 0)
			return -1;
		do
			r = flock(fd, LOCK_EX);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			e = errno;
			close(fd);
			set_audit_error(error, e,
					"cannot lock the audit log %s", path);
			return -1;
		}
		if (fstat(fd, &st) < 0) {
			e = errno;
			close(fd);
			set_audit_error(error, e,
					"cannot stat the audit log %s", path);
			return -1;
		}
		if (lstat(path, &now) == 0 && now.st_dev == st.st_dev &&
		    now.st_ino == st.st_ino) {
			*size = st.st_size;
			return fd;
		}
		close(fd); /* replaced while we waited: use the new one */
	}
	set_audit_error(error, 0,
			"the audit log %s was replaced %d times while waiting "
			"for its lock",
			path, AUDIT_REOPEN_MAX);
	return -1;
}

static gboolean
append_locked(int fd, const char *path, off_t size,
	      const SmtpcredAuditEvent *ev, gboolean durable, guint64 *seq_out,
	      char hash[AUDIT_HEX + 1], GError **error)
{
	g_autoptr(GString) line = NULL;
	char prev[AUDIT_HEX + 1];
	guint64 seq = 0;
	int e;

	if (!read_head(fd, path, size, &seq, prev, error))
		return FALSE;
	seq++;
	line = build_line(seq, prev, ev, hash);
	/* One write() of the whole line: with O_APPEND and the lock, no
	 * other record can land inside it. */
	e = write_all(fd, line->str, line->len);
	if (e == 0 && durable && fsync(fd) < 0)
		e = errno;
	/* Not waited for: the kernel starts writing it out now, and the
	 * next durable record's fsync covers it (kr_audit_append). */
	if (e == 0 && !durable)
		(void)sync_file_range(fd, size, (off_t)line->len,
				      SYNC_FILE_RANGE_WRITE);
	if (e != 0) {
		/* A partial line would stop every later append: cut it
		 * (best effort; verify names the torn line otherwise). */
		(void)!ftruncate(fd, size);
		set_audit_error(error, e, "cannot write the audit log %s",
				path);
		return FALSE;
	}
	if (size == 0)
		sync_dir_of(path);
	*seq_out = seq;
	return TRUE;
}

gboolean
smtpcred_audit_append(const char *path, const SmtpcredAuditEvent *ev,
		      guint64 *seq_out, GError **error)
{
	return kr_audit_append(path, ev, TRUE, seq_out, error);
}

gboolean
kr_audit_append(const char *path, const SmtpcredAuditEvent *ev,
		gboolean durable, guint64 *seq_out, GError **error)
{
	g_autofree char *owned = path == NULL ? smtpcred_audit_path() : NULL;
	g_autoptr(GError) local = NULL;
	char hash[AUDIT_HEX + 1];
	guint64 seq = 0;
	off_t size = 0;
	gboolean ok;
	int fd;

	g_return_val_if_fail(
	    ev != NULL && ev->event != NULL && ev->outcome != NULL, FALSE);
	if (path == NULL)
		path = owned;
	fd = open_locked(path, &size, &local);
	ok = fd >= 0 &&
	     append_locked(fd, path, size, ev, durable, &seq, hash, &local);
	if (fd >= 0)
		close(fd); /* releases the lock */
	if (!ok) {
		failure_to_syslog(ev, local);
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	summary_to_syslog(seq, ev, hash);
	if (seq_out != NULL)
		*seq_out = seq;
	return TRUE;
}

/* ---- reading and verifying ---------------------------------------------- */

/* Called for each line: its bytes (no '\n'), its 1-based number, and
 * whether it ended in '\n' (only the last line may not: a torn write). */
typedef gboolean (*LineFunc)(const char *line, size_t len, guint64 lineno,
			     gboolean has_nl, gpointer data, GError **error);

/*
 * Feed the log's lines to fn, streaming with a bounded buffer (a line over
 * AUDIT_LINE_MAX is INVALID without being buffered).  Reads the bytes the
 * file had when no append was in progress (the size is taken under a
 * shared lock), so a concurrent writer's half-written line is never seen.
 * A missing file has no lines.  On failure *lineno names the line (0: an
 * I/O error, domain AUDIT).
 */
static gboolean
each_line(const char *path, LineFunc fn, gpointer data, guint64 *lineno,
	  GError **error)
{
	const size_t cap = AUDIT_LINE_MAX + AUDIT_READ_CHUNK;
	g_autofree char *buf = NULL;
	struct stat st;
	size_t have = 0;
	off_t left;
	int fd, e, r;
	gboolean ok = FALSE;

	*lineno = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			return TRUE;
		set_audit_error(error, e, "cannot open the audit log %s", path);
		return FALSE;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		set_audit_error(error, e, "cannot stat the audit log %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_audit_error(error, 0,
				"cannot read the audit log %s: it is not a "
				"regular file",
				path);
		goto out;
	}
	do
		r = flock(fd, LOCK_SH);
	while (r < 0 && errno == EINTR);
	if (fstat(fd, &st) < 0) {
		e = errno;
		set_audit_error(error, e, "cannot stat the audit log %s", path);
		goto out;
	}
	if (r == 0)
		(void)flock(fd, LOCK_UN);
	left = st.st_size;
	/* zeroed: the analyzer cannot follow that only the first 'have'
	 * bytes are ever read */
	buf = g_malloc0(cap);
	for (;;) {
		const char *p = buf, *end = buf + have, *nl;
		ssize_t got;

		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			size_t len = (size_t)(nl - p);

			++*lineno;
			if (len >= AUDIT_LINE_MAX)
				goto too_long;
			if (!fn(p, len, *lineno, TRUE, data, error))
				goto out;
			p = nl + 1;
		}
		have = (size_t)(end - p);
		if (have >= AUDIT_LINE_MAX) {
			++*lineno;
			goto too_long;
		}
		memmove(buf, p, have);
		if (left == 0)
			break;
		got = read(fd, buf + have,
			   (size_t)MIN((off_t)(cap - have), left));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			e = got < 0 ? errno : EIO;
			*lineno = 0;
			set_audit_error(error, e,
					"cannot read the audit log %s", path);
			goto out;
		}
		have += (size_t)got;
		left -= got;
	}
	if (have > 0) {
		++*lineno;
		if (!fn(buf, have, *lineno, FALSE, data, error))
			goto out;
	}
	ok = TRUE;
	goto out;

too_long:
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
		    "line %" G_GUINT64_FORMAT ": longer than %u bytes", *lineno,
		    AUDIT_LINE_MAX);
out:
	close(fd);
	return ok;
}

static gboolean
collect_line(const char *line, size_t len, guint64 lineno, gboolean has_nl,
	     gpointer data, GError **error)
{
	GPtrArray *out = data;
	g_autoptr(GError) local = NULL;
	SmtpcredAuditRecord r;

	(void)has_nl; /* reading does not judge; verify does */
	if (!kr_audit_parse_line(line, len, &r, &local)) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "line %" G_GUINT64_FORMAT ": %s", lineno,
			    local->message);
		return FALSE;
	}
	g_ptr_array_add(out, g_memdup2(&r, sizeof(r)));
	return TRUE;
}

GPtrArray *
smtpcred_audit_read(const char *path, GError **error)
{
	g_autofree char *owned = path == NULL ? smtpcred_audit_path() : NULL;
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
	    (GDestroyNotify)smtpcred_audit_record_free);
	guint64 lineno;

	if (!each_line(path != NULL ? path : owned, collect_line, out, &lineno,
		       error))
		return NULL;
	return g_steal_pointer(&out);
}

typedef struct {
	guint64 n; /* seq of the last good line */
	char prev[AUDIT_HEX + 1];
} VerifyState;

static gboolean
verify_line(const char *line, size_t len, guint64 lineno, gboolean has_nl,
	    gpointer data, GError **error)
{
	VerifyState *v = data;
	g_autoptr(GError) local = NULL;
	SmtpcredAuditRecord r = {0};
	g_autofree char *why = NULL;

	if (!has_nl)
		why = g_strdup("incomplete last line (a torn write)");
	else if (!kr_audit_parse_line(line, len, &r, &local))
		why = g_strdup(local->message);
	else if (!line_hash_ok(&r))
		why = g_strdup("hash mismatch (record edited)");
	else if (r.seq != v->n + 1 && lineno == 1)
		why = g_strdup_printf("seq %" G_GUINT64_FORMAT
				      " where the log must start at 1 "
				      "(records missing)",
				      r.seq);
	else if (r.seq != v->n + 1)
		why = g_strdup_printf("seq %" G_GUINT64_FORMAT
				      " follows %" G_GUINT64_FORMAT
				      " (records missing or reordered)",
				      r.seq, v->n);
	else if (strcmp(r.prev, v->prev) != 0 && lineno == 1)
		why = g_strdup("prev is not 64 zeros (the chain does not "
			       "start here)");
	else if (strcmp(r.prev, v->prev) != 0)
		why = g_strdup_printf("prev is not the hash of line "
				      "%" G_GUINT64_FORMAT
				      " (chain broken or spliced)",
				      lineno - 1);
	if (why != NULL) {
		kr_audit_record_clear(&r);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "line %" G_GUINT64_FORMAT ": %s", lineno, why);
		return FALSE;
	}
	/* parsed, so hash is set (the analyzer assumes g_strdup() may
	 * return NULL and so why may be NULL on the torn-line path) */
	g_assert(r.hash != NULL);
	v->n = r.seq;
	memcpy(v->prev, r.hash, AUDIT_HEX + 1);
	kr_audit_record_clear(&r);
	return TRUE;
}

gboolean
smtpcred_audit_verify(const char *path, guint64 *n_records, guint64 *bad_line,
		      GError **error)
{
	g_autofree char *owned = path == NULL ? smtpcred_audit_path() : NULL;
	VerifyState v = {0, {0}};
	guint64 lineno = 0;

	memcpy(v.prev, zero_hash, sizeof(v.prev));
	if (!each_line(path != NULL ? path : owned, verify_line, &v, &lineno,
		       error)) {
		if (bad_line != NULL)
			*bad_line = lineno;
		return FALSE;
	}
	if (n_records != NULL)
		*n_records = v.n;
	return TRUE;
}
