/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit log (DESIGN.md "Access log"): one JSON object per line,
 * hash-chained, appended under an exclusive lock and fsync'd.
 *
 *   canonical = {"seq":N,"ts":"...","event":"...","outcome":"...",
 *                "account":"...","version":N,"uid":N,"pid":N,"exe":"...",
 *                "purpose":"...","server":"...","smtp_code":N,
 *                "detail":"...","prev":"<64 hex>"}
 *   line      = canonical with ,"hash":"<64 hex>" before the final }
 *   hash      = hex SHA-256 of prev (its 64 ASCII hex digits) followed by
 *               the canonical bytes
 *
 * Keys are always present and always in this order, so the canonical bytes
 * of a line are the line minus its hash suffix: verification hashes exactly
 * what is on disk.  No field ever holds a secret or anything derived from
 * one: the API takes only names, codes and caller text.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "internal.h"
#include "logsafe.h"
#include "parse.h"

/* Limits on what one record may carry (bytes before escaping).  Longer
 * values are cut, so a record always fits AUDIT_LINE_MAX. */
#define AUDIT_WORD_MAX	  32u	/* event, outcome */
#define AUDIT_ACCOUNT_MAX 64u	/* = KR_NAME_MAX */
#define AUDIT_EXE_MAX	  512u
#define AUDIT_PURPOSE_MAX 256u
#define AUDIT_SERVER_MAX  300u	/* host name (253) + ":" + port */
#define AUDIT_DETAIL_MAX  512u
#define AUDIT_HEX	  64u	/* SHA-256 in hex */
_Static_assert(AUDIT_LINE_MAX > 6 * (2 * AUDIT_WORD_MAX + AUDIT_ACCOUNT_MAX +
				     AUDIT_EXE_MAX + AUDIT_PURPOSE_MAX +
				     AUDIT_SERVER_MAX + AUDIT_DETAIL_MAX) +
				    2 * AUDIT_HEX + 400,
	       "a record must always fit AUDIT_LINE_MAX");

static const char zero_hash[AUDIT_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

char *
smtpcred_audit_path(void)
{
	const char *env = secure_getenv("SMTPCRED_AUDIT_LOG");
	const char *state = secure_getenv("XDG_STATE_HOME");

	if (env != NULL && *env != '\0')
		return g_strdup(env);
	if (state != NULL && state[0] == '/')
		return g_build_filename(state, "smtpcred", "audit.log", NULL);
	if (getuid() == 0)
		return g_strdup("/var/log/smtpcred/audit.log");
	return g_build_filename(g_get_home_dir(), ".local", "state", "smtpcred",
				"audit.log", NULL);
}

void
smtpcred_audit_record_free(SmtpcredAuditRecord *r)
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
	g_free(r->prev);
	g_free(r->hash);
	g_free(r->line);
	g_free(r);
}

/* ---- building ---------------------------------------------------------- */

static void
add_str(GString *s, const char *key, const char *val, size_t cap)
{
	char buf[LOGSAFE_MAX(AUDIT_EXE_MAX)];
	size_t n = val != NULL ? strnlen(val, cap) : 0;

	g_string_append_printf(s, ",\"%s\":\"", key);
	logsafe_json(buf, sizeof(buf), val != NULL ? val : "", n);
	g_string_append(s, buf);
	g_string_append_c(s, '"');
}

static char *
hash_hex(const char *prev, const char *canonical, size_t len)
{
	g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);

	g_checksum_update(c, (const guchar *)prev, AUDIT_HEX);
	g_checksum_update(c, (const guchar *)canonical, (gssize)len);
	return g_strdup(g_checksum_get_string(c));
}

static char *
self_exe(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	if (n <= 0)
		return g_strdup("");
	buf[n] = '\0';
	return g_strdup(buf);
}

/* The whole line, '\n' included. */
static GString *
build_line(guint64 seq, const char *prev, const SmtpcredAuditEvent *ev)
{
	GString *s = g_string_sized_new(512);
	g_autofree char *exe = self_exe();
	g_autofree char *hash = NULL;
	char ts[RFC3339_BUFSZ];

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
	add_str(s, "prev", prev, AUDIT_HEX);
	g_string_append_c(s, '}');

	hash = hash_hex(prev, s->str, s->len);
	g_string_truncate(s, s->len - 1);
	g_string_append_printf(s, ",\"hash\":\"%s\"}\n", hash);
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

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static gboolean
read_u4(Cursor *c, gunichar *out)
{
	gunichar v = 0;

	if (c->end - c->p < 4)
		return FALSE;
	for (int i = 0; i < 4; i++) {
		int h = hexval(c->p[i]);

		if (h < 0)
			return FALSE;
		v = v * 16 + (gunichar)h;
	}
	c->p += 4;
	*out = v;
	return TRUE;
}

/* A JSON string (after the opening quote was seen) into UTF-8. */
static char *
read_string(Cursor *c, const char **why)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (;;) {
		unsigned char ch;

		if (c->p >= c->end) {
			*why = "unterminated string";
			return NULL;
		}
		ch = (unsigned char)*c->p++;
		if (ch == '"')
			break;
		if (ch < 0x20) {
			*why = "control character in a string";
			return NULL;
		}
		if (ch != '\\') {
			g_string_append_c(s, (char)ch);
			continue;
		}
		if (c->p >= c->end) {
			*why = "unterminated escape";
			return NULL;
		}
		ch = (unsigned char)*c->p++;
		switch (ch) {
		case '"':
		case '\\':
		case '/':
			g_string_append_c(s, (char)ch);
			break;
		case 'b':
			g_string_append_c(s, '\b');
			break;
		case 'f':
			g_string_append_c(s, '\f');
			break;
		case 'n':
			g_string_append_c(s, '\n');
			break;
		case 'r':
			g_string_append_c(s, '\r');
			break;
		case 't':
			g_string_append_c(s, '\t');
			break;
		case 'u': {
			gunichar u, lo;

			if (!read_u4(c, &u)) {
				*why = "bad \\u escape";
				return NULL;
			}
			if (u >= 0xd800 && u <= 0xdbff) {
				if (!expect(c, "\\u") || !read_u4(c, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff) {
					*why = "unpaired surrogate";
					return NULL;
				}
				u = 0x10000 + ((u - 0xd800) << 10) +
				    (lo - 0xdc00);
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				*why = "unpaired surrogate";
				return NULL;
			}
			g_string_append_unichar(s, u);
			break;
		}
		default:
			*why = "unknown escape";
			return NULL;
		}
	}
	if (!g_utf8_validate(s->str, (gssize)s->len, NULL) ||
	    memchr(s->str, '\0', s->len) != NULL) {
		*why = "string is not valid UTF-8";
		return NULL;
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

static gboolean
read_uint(Cursor *c, guint64 max, guint64 *out)
{
	char buf[24];
	size_t n = 0;
	uint64_t v;

	while (c->p < c->end && g_ascii_isdigit(*c->p) && n < sizeof(buf) - 1)
		buf[n++] = *c->p++;
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
	if (s == NULL || strlen(s) != AUDIT_HEX)
		return FALSE;
	for (size_t i = 0; i < AUDIT_HEX; i++)
		if (!g_ascii_isdigit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return FALSE;
	return TRUE;
}

gboolean
kr_audit_parse_line(const char *line, size_t len, SmtpcredAuditRecord *out,
		    GError **error)
{
	/* clang-format off */
	static const struct {
		const char *key;
		gboolean is_string;
		size_t str_off;	/* offset of the char* field */
		guint64 max;	/* for numbers */
	} fields[] = {
		{ "seq",	FALSE, 0, G_MAXUINT64 },
		{ "ts",		TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, ts), 0 },
		{ "event",	TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, event), 0 },
		{ "outcome",	TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, outcome), 0 },
		{ "account",	TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, account), 0 },
		{ "version",	FALSE, 0, G_MAXUINT },
		{ "uid",	FALSE, 0, G_MAXUINT },
		{ "pid",	FALSE, 0, G_MAXUINT },
		{ "exe",	TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, exe), 0 },
		{ "purpose",	TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, purpose), 0 },
		{ "server",	TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, server), 0 },
		{ "smtp_code",	FALSE, 0, 999 },
		{ "detail",	TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, detail), 0 },
		{ "prev",	TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, prev), 0 },
		{ "hash",	TRUE,  G_STRUCT_OFFSET(SmtpcredAuditRecord, hash), 0 },
	};
	/* clang-format on */
	g_autoptr(SmtpcredAuditRecord) r = g_new0(SmtpcredAuditRecord, 1);
	Cursor c = {line, line + len};
	const char *why = NULL;
	guint64 nums[G_N_ELEMENTS(fields)] = {0};

	if (len > AUDIT_LINE_MAX) {
		why = "line too long";
		goto bad;
	}
	if (!expect(&c, "{")) {
		why = "not a JSON object";
		goto bad;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
		g_autofree char *key_lit =
		    g_strdup_printf("%s\"%s\":", i > 0 ? "," : "",
				    fields[i].key);

		if (!expect(&c, key_lit)) {
			why = "fields missing, extra or out of order";
			goto bad;
		}
		if (fields[i].is_string) {
			char *v;

			if (!expect(&c, "\"")) {
				why = "a string value was expected";
				goto bad;
			}
			v = read_string(&c, &why);
			if (v == NULL)
				goto bad;
			G_STRUCT_MEMBER(char *, r, fields[i].str_off) = v;
		} else if (!read_uint(&c, fields[i].max, &nums[i])) {
			why = "a number value was expected";
			goto bad;
		}
	}
	if (!expect(&c, "}") || c.p != c.end) {
		why = "trailing data after the object";
		goto bad;
	}
	if (!is_hex64(r->prev) || !is_hex64(r->hash)) {
		why = "prev or hash is not 64 lowercase hex digits";
		goto bad;
	}
	r->seq = nums[0];
	r->version = (guint)nums[5];
	r->uid = (guint)nums[6];
	r->pid = (guint)nums[7];
	r->smtp_code = (guint)nums[11];
	r->line = g_strndup(line, len);
	*out = *r;
	g_free(g_steal_pointer(&r));
	return TRUE;

bad:
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
		    "not a valid audit record (%s)", why);
	return FALSE;
}

/* Recompute a parsed line's hash from its raw bytes. */
static gboolean
line_hash_ok(const SmtpcredAuditRecord *r)
{
	static const char sfx_head[] = ",\"hash\":\"";
	size_t len = strlen(r->line);
	size_t sfx = sizeof(sfx_head) - 1 + AUDIT_HEX + 2; /* "} */
	g_autofree char *canonical = NULL;
	g_autofree char *h = NULL;

	if (len < sfx + 1 ||
	    memcmp(r->line + len - sfx, sfx_head, sizeof(sfx_head) - 1) != 0)
		return FALSE;
	canonical = g_malloc(len - sfx + 2);
	memcpy(canonical, r->line, len - sfx);
	canonical[len - sfx] = '}';
	canonical[len - sfx + 1] = '\0';
	h = hash_hex(r->prev, canonical, len - sfx + 1);
	return strcmp(h, r->hash) == 0;
}

/* ---- the file -------------------------------------------------------- */

/* Open for appending (and reading the tail), refusing what a careful
 * program must not write into (STYLE.md S11).  -1 with AUDIT on error. */
static int
audit_open(const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	struct stat st;
	int fd, e;

	if (g_mkdir_with_parents(dir, 0700) < 0) {
		e = errno;
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "cannot create the audit log %s: its directory "
			    "%s: %s",
			    path, dir, g_strerror(e));
		return -1;
	}
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		e = errno;
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "cannot open the audit log %s: %s", path,
			    e == ELOOP ? "it is a symbolic link"
				       : g_strerror(e));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 022) != 0 ||
	    (st.st_uid != getuid() && st.st_uid != 0)) {
		close(fd);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "refusing the audit log %s: it must be a regular "
			    "file owned by you or root, not writable by group "
			    "or others",
			    path);
		return -1;
	}
	return fd;
}

gboolean
smtpcred_audit_check(const char *path, GError **error)
{
	g_autofree char *owned = path == NULL ? smtpcred_audit_path() : NULL;
	int fd = audit_open(path != NULL ? path : owned, error);

	if (fd < 0)
		return FALSE;
	close(fd);
	return TRUE;
}

gboolean
kr_audit_ready(GError **error)
{
	g_autofree char *path = smtpcred_audit_path();
	int fd = audit_open(path, error);

	if (fd < 0) {
		g_prefix_error(error, "nothing was changed: ");
		return FALSE;
	}
	close(fd);
	return TRUE;
}

/* The seq and hash of the last record, from the file's tail. */
static gboolean
read_head(int fd, const char *path, guint64 *seq, char prev[AUDIT_HEX + 1],
	  off_t *size, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *buf = NULL;
	SmtpcredAuditRecord r = {0};
	struct stat st;
	off_t start;
	size_t n;
	ssize_t got;
	char *line;

	if (fstat(fd, &st) < 0)
		goto io;
	*size = st.st_size;
	if (st.st_size == 0) {
		*seq = 0;
		memcpy(prev, zero_hash, AUDIT_HEX + 1);
		return TRUE;
	}
	n = (size_t)MIN((off_t)AUDIT_LINE_MAX + 1, st.st_size);
	start = st.st_size - (off_t)n;
	buf = g_malloc(n + 1);
	got = pread(fd, buf, n, start);
	if (got != (ssize_t)n)
		goto io;
	buf[n] = '\0';
	if (buf[n - 1] != '\n') {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "the audit log %s ends in an incomplete line (a "
			    "torn write); run 'smtpcred audit --verify' and "
			    "repair it",
			    path);
		return FALSE;
	}
	buf[n - 1] = '\0';
	line = strrchr(buf, '\n');
	line = line != NULL ? line + 1 : buf;
	if (line == buf && start > 0) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "the last line of the audit log %s is too long",
			    path);
		return FALSE;
	}
	if (!kr_audit_parse_line(line, strlen(line), &r, &local)) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "the last line of the audit log %s is damaged: "
			    "%s",
			    path, local->message);
		return FALSE;
	}
	*seq = r.seq;
	memcpy(prev, r.hash, AUDIT_HEX + 1);
	g_free(r.ts);
	g_free(r.event);
	g_free(r.outcome);
	g_free(r.account);
	g_free(r.exe);
	g_free(r.purpose);
	g_free(r.server);
	g_free(r.detail);
	g_free(r.prev);
	g_free(r.hash);
	g_free(r.line);
	return TRUE;

io:
	g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
		    "cannot read the audit log %s: %s", path,
		    g_strerror(errno));
	return FALSE;
}

static gboolean
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return FALSE;
		p += w;
		n -= (size_t)w;
	}
	return TRUE;
}

static void
summary_to_syslog(guint64 seq, const SmtpcredAuditEvent *ev)
{
	char account[LOGSAFE_MAX(AUDIT_ACCOUNT_MAX)];
	char detail[LOGSAFE_MAX(128)];
	const char *d = ev->detail != NULL ? ev->detail : "";
	gboolean ok = g_strcmp0(ev->outcome, "ok") == 0;

	logsafe_escape(account, sizeof(account),
		       ev->account != NULL ? ev->account : "",
		       ev->account != NULL
			   ? strnlen(ev->account, AUDIT_ACCOUNT_MAX)
			   : 0);
	logsafe_escape(detail, sizeof(detail), d, strnlen(d, 128));
	/* No openlog(): a library must not change the program's ident. */
	syslog(LOG_AUTHPRIV | (ok ? LOG_NOTICE : LOG_WARNING),
	       "smtpcred audit seq=%" G_GUINT64_FORMAT
	       " event=%s outcome=%s account='%s' version=%u uid=%u%s%s%s",
	       seq, ev->event, ev->outcome, account, ev->version,
	       (unsigned)getuid(), *detail ? " detail='" : "", detail,
	       *detail ? "'" : "");
}

gboolean
smtpcred_audit_append(const char *path, const SmtpcredAuditEvent *ev,
		      guint64 *seq_out, GError **error)
{
	g_autofree char *owned = path == NULL ? smtpcred_audit_path() : NULL;
	g_autoptr(GString) line = NULL;
	char prev[AUDIT_HEX + 1];
	guint64 seq = 0;
	off_t size = 0;
	int fd, r, e;

	g_return_val_if_fail(ev != NULL && ev->event != NULL &&
				 ev->outcome != NULL,
			     FALSE);
	if (path == NULL)
		path = owned;
	fd = audit_open(path, error);
	if (fd < 0)
		return FALSE;
	/* One writer at a time across processes: read the head, append,
	 * fsync, then let the next one in.  The chain never forks. */
	do
		r = flock(fd, LOCK_EX);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		e = errno;
		close(fd);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "cannot lock the audit log %s: %s", path,
			    g_strerror(e));
		return FALSE;
	}
	if (!read_head(fd, path, &seq, prev, &size, error)) {
		close(fd);
		return FALSE;
	}
	seq++;
	line = build_line(seq, prev, ev);
	if (!write_all(fd, line->str, line->len) || fsync(fd) < 0) {
		e = errno;
		/* A partial line would break every later append: cut it
		 * (best effort; verify names a torn line otherwise). */
		if (ftruncate(fd, size) < 0)
			e = e != 0 ? e : errno;
		close(fd);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "cannot write the audit log %s: %s", path,
			    g_strerror(e));
		return FALSE;
	}
	close(fd); /* releases the lock */
	summary_to_syslog(seq, ev);
	if (seq_out != NULL)
		*seq_out = seq;
	return TRUE;
}

/* ---- reading and verifying ---------------------------------------------- */

static void
record_free_cb(gpointer p)
{
	smtpcred_audit_record_free(p);
}

/* Calls fn for each line: (line, len, lineno, has_newline). */
static gboolean
each_line(const char *path, gboolean (*fn)(const char *, size_t, guint64,
					    gboolean, gpointer, GError **),
	  gpointer data, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *text = NULL;
	gsize len = 0;
	const char *p, *end;
	guint64 lineno = 0;

	if (!g_file_get_contents(path, &text, &len, &local)) {
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT,
			    "cannot read the audit log: %s", local->message);
		return FALSE;
	}
	p = text;
	end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		if (!fn(p, n, lineno, nl != NULL, data, error))
			return FALSE;
		p = nl != NULL ? nl + 1 : end;
	}
	return TRUE;
}

static gboolean
collect_line(const char *line, size_t len, guint64 lineno, gboolean nl,
	     gpointer data, GError **error)
{
	GPtrArray *out = data;
	g_autoptr(GError) local = NULL;
	SmtpcredAuditRecord *r = g_new0(SmtpcredAuditRecord, 1);

	(void)nl;
	if (!kr_audit_parse_line(line, len, r, &local)) {
		g_free(r);
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "line %" G_GUINT64_FORMAT ": %s", lineno,
			    local->message);
		return FALSE;
	}
	g_ptr_array_add(out, r);
	return TRUE;
}

GPtrArray *
smtpcred_audit_read(const char *path, GError **error)
{
	g_autofree char *owned = path == NULL ? smtpcred_audit_path() : NULL;
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(record_free_cb);

	if (!each_line(path != NULL ? path : owned, collect_line, out, error))
		return NULL;
	return g_steal_pointer(&out);
}

typedef struct {
	guint64 n;
	guint64 bad_line;
	char prev[AUDIT_HEX + 1];
} VerifyState;

static gboolean
verify_line(const char *line, size_t len, guint64 lineno, gboolean nl,
	    gpointer data, GError **error)
{
	VerifyState *v = data;
	g_autoptr(GError) local = NULL;
	g_autoptr(SmtpcredAuditRecord) r = g_new0(SmtpcredAuditRecord, 1);
	const char *why = NULL;

	v->bad_line = lineno;
	if (!nl) {
		why = "incomplete last line (a torn write)";
	} else if (!kr_audit_parse_line(line, len, r, &local)) {
		g_free(g_steal_pointer(&r));
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "line %" G_GUINT64_FORMAT ": %s", lineno,
			    local->message);
		return FALSE;
	} else if (!line_hash_ok(r)) {
		why = "hash mismatch (the record was edited)";
	} else if (r->seq != v->n + 1) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "line %" G_GUINT64_FORMAT ": seq %" G_GUINT64_FORMAT
			    " follows %" G_GUINT64_FORMAT
			    " (records missing, inserted or reordered)",
			    lineno, r->seq, v->n);
		return FALSE;
	} else if (strcmp(r->prev, v->prev) != 0) {
		why = "prev does not match the hash of the line before (the "
		      "chain was cut or spliced)";
	}
	if (why != NULL) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID,
			    "line %" G_GUINT64_FORMAT ": %s", lineno, why);
		return FALSE;
	}
	v->n = r->seq;
	memcpy(v->prev, r->hash, AUDIT_HEX + 1);
	return TRUE;
}

gboolean
smtpcred_audit_verify(const char *path, guint64 *n_records,
		      guint64 *bad_line, GError **error)
{
	g_autofree char *owned = path == NULL ? smtpcred_audit_path() : NULL;
	VerifyState v = {0, 0, {0}};

	memcpy(v.prev, zero_hash, sizeof(v.prev));
	if (!each_line(path != NULL ? path : owned, verify_line, &v, error)) {
		if (bad_line != NULL)
			*bad_line = v.bad_line;
		return FALSE;
	}
	if (n_records != NULL)
		*n_records = v.n;
	return TRUE;
}
