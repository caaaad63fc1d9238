/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log: format, chain, tamper detection, limits, refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "internal.h"

#define CANARY "CANARY-s3cr3t-audit"

typedef struct {
	char *dir;
	char *path;
} Fixture;

/* Every test gets its own directory, removed with everything in it. */
static int
setup(void **state)
{
	Fixture *f = g_new0(Fixture, 1);

	f->dir = g_dir_make_tmp("test-audit-XXXXXX", NULL);
	if (f->dir == NULL) {
		g_free(f);
		return -1;
	}
	f->path = g_build_filename(f->dir, "audit.log", NULL);
	*state = f;
	return 0;
}

static void
remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		g_autoptr(GDir) d = NULL;
		const char *name;

		chmod(path, 0700);
		d = g_dir_open(path, 0, NULL);
		while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
			g_autofree char *p = g_build_filename(path, name, NULL);

			remove_tree(p);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int
teardown(void **state)
{
	Fixture *f = *state;

	/* Kept for the whole-run canary scan (scripts/test.sh). */
	if (g_getenv("KEEP_TEST_FILES") == NULL)
		remove_tree(f->dir);
	g_free(f->dir);
	g_free(f->path);
	g_free(f);
	return 0;
}

static guint64
append_ev(const char *path, const SmtpcredAuditEvent *ev)
{
	g_autoptr(GError) error = NULL;
	guint64 seq = 0;

	if (!smtpcred_audit_append(path, ev, &seq, &error))
		fail_msg("append: %s", error->message);
	return seq;
}

static guint64
append(const char *path, const char *event, const char *account,
       const char *purpose)
{
	SmtpcredAuditEvent ev = {
	    .event = event,
	    .outcome = "ok",
	    .account = account,
	    .version = 3,
	    .purpose = purpose,
	    .server = "smtp.example.org:587",
	    .smtp_code = 235,
	    .detail = "unit test",
	};

	return append_ev(path, &ev);
}

/* fsync() calls, counted through ld --wrap (meson.build). */
static int fsyncs;
int __real_fsync(int fd);
int __wrap_fsync(int fd);

int
__wrap_fsync(int fd)
{
	fsyncs++;
	return __real_fsync(fd);
}

static void
append_n(const char *path, int n)
{
	for (int i = 0; i < n; i++) {
		g_autofree char *p = g_strdup_printf("record %d", i + 1);

		append(path, "lease", "acct", p);
	}
}

/* The file split at '\n'; the element after the last '\n' is "". */
static gchar **
read_lines(const char *path)
{
	g_autofree char *text = NULL;

	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return g_strsplit(text, "\n", -1);
}

static void
write_lines(const char *path, gchar **lines)
{
	g_autofree char *text = g_strjoinv("\n", lines);

	assert_true(g_file_set_contents(path, text, -1, NULL));
	assert_int_equal(chmod(path, 0600), 0);
}

/* Verify must fail with INVALID; returns the bad line, checks that the
 * message names it and contains want (when not NULL). */
static guint64
verify_fails_at(const char *path, const char *want)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *prefix = NULL;
	guint64 n = 77, bad = 0;

	assert_false(smtpcred_audit_verify(path, &n, &bad, &error));
	assert_true(
	    g_error_matches(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID));
	assert_int_equal(n, 77); /* untouched on failure */
	prefix = g_strdup_printf("line %" G_GUINT64_FORMAT ": ", bad);
	if (!g_str_has_prefix(error->message, prefix))
		fail_msg("'%s' does not start with '%s'", error->message,
			 prefix);
	if (want != NULL && strstr(error->message, want) == NULL)
		fail_msg("'%s' does not say '%s'", error->message, want);
	return bad;
}

static void
assert_append_refused(const char *path, const char *want)
{
	g_autoptr(GError) error = NULL;
	SmtpcredAuditEvent ev = {.event = "lease", .outcome = "ok"};
	guint64 seq = 99;

	assert_false(smtpcred_audit_append(path, &ev, &seq, &error));
	assert_true(
	    g_error_matches(error, SMTPCRED_ERROR, SMTPCRED_ERROR_AUDIT));
	assert_int_equal(seq, 99);
	assert_non_null(strstr(error->message, path));
	if (want != NULL && strstr(error->message, want) == NULL)
		fail_msg("'%s' does not say '%s'", error->message, want);
}

/* ---- the format and the chain ------------------------------------------ */

static void
test_audit_chain_verifies(void **state)
{
	Fixture *f = *state;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GRegex) re = NULL;
	char prev[65];
	guint64 n = 0, bad = 0;

	assert_int_equal(append(f->path, "lease", "acct", "one"), 1);
	assert_int_equal(append(f->path, "auth-result", "acct", "two"), 2);
	assert_int_equal(append(f->path, "store", NULL, NULL), 3);
	assert_true(smtpcred_audit_verify(f->path, &n, &bad, &error));
	assert_int_equal(n, 3);

	/* Every line has exactly the documented shape, and its hash is
	 * SHA-256(prev || line without the hash member), computed here
	 * independently of the library. */
	re = g_regex_new(
	    "^\\{\"seq\":[1-9][0-9]*,\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T"
	    "[0-9]{2}:[0-9]{2}:[0-9]{2}Z\",\"event\":\"[^\"]*\","
	    "\"outcome\":\"ok\",\"account\":\"[^\"]*\",\"version\":3,"
	    "\"uid\":[0-9]+,\"pid\":[0-9]+,\"exe\":\"[^\"]*\","
	    "\"purpose\":\"[^\"]*\",\"server\":\"[^\"]*\",\"smtp_code\":235,"
	    "\"detail\":\"unit test\",\"prev\":\"([0-9a-f]{64})\"(,\"hash\":"
	    "\"([0-9a-f]{64})\")\\}$",
	    0, 0, NULL);
	assert_non_null(re);
	lines = read_lines(f->path);
	assert_int_equal(g_strv_length(lines), 4);
	assert_string_equal(lines[3], "");
	memset(prev, '0', 64);
	prev[64] = '\0';
	for (int i = 0; i < 3; i++) {
		g_autoptr(GMatchInfo) m = NULL;
		g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
		g_autofree char *lprev = NULL, *hash = NULL;
		gint start = 0;

		if (!g_regex_match(re, lines[i], 0, &m))
			fail_msg("line %d has the wrong shape: %s", i + 1,
				 lines[i]);
		lprev = g_match_info_fetch(m, 1);
		hash = g_match_info_fetch(m, 3);
		assert_string_equal(lprev, prev);
		assert_true(g_match_info_fetch_pos(m, 2, &start, NULL));
		g_checksum_update(c, (const guchar *)prev, 64);
		g_checksum_update(c, (const guchar *)lines[i], start);
		g_checksum_update(c, (const guchar *)"}", 1);
		assert_string_equal(g_checksum_get_string(c), hash);
		g_strlcpy(prev, hash, sizeof(prev));
	}
	assert_null(strstr(lines[2], "\"account\":\"acct\""));
	assert_non_null(strstr(lines[2], "\"account\":\"\",\"version\""));
}

/* The AUTH result is in the file and the chain at once, without an
 * fsync; every other record is fsync'd, and so covers it. */
static void
test_audit_lazy_record_is_written_not_synced(void **state)
{
	Fixture *f = *state;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) lines = NULL;
	SmtpcredAuditEvent ev = {
	    .event = "auth-result",
	    .outcome = "ok",
	    .account = "acct",
	    .version = 3,
	    .server = "smtp.example.org:587",
	    .smtp_code = 235,
	};
	guint64 seq = 0, n = 0, bad = 0;

	assert_int_equal(append(f->path, "lease", "acct", "one"), 1);
	fsyncs = 0;
	assert_true(kr_audit_append(f->path, &ev, FALSE, &seq, &error));
	assert_int_equal(seq, 2);
	assert_int_equal(fsyncs, 0);
	lines = read_lines(f->path);
	assert_int_equal(g_strv_length(lines), 3);
	assert_non_null(strstr(lines[1], "\"event\":\"auth-result\""));
	assert_true(smtpcred_audit_verify(f->path, &n, &bad, &error));
	assert_int_equal(n, 2);

	assert_int_equal(append(f->path, "lease", "acct", "two"), 3);
	assert_int_equal(fsyncs, 1);
	assert_true(smtpcred_audit_verify(f->path, &n, &bad, &error));
	assert_int_equal(n, 3);
}

static void
test_audit_missing_log_is_empty_and_intact(void **state)
{
	Fixture *f = *state;
	g_autoptr(GPtrArray) recs = smtpcred_audit_read(f->path, NULL);
	guint64 n = 99, bad = 99;

	assert_non_null(recs);
	assert_int_equal(recs->len, 0);
	assert_true(smtpcred_audit_verify(f->path, &n, &bad, NULL));
	assert_int_equal(n, 0);
	/* An empty file is the same. */
	assert_true(g_file_set_contents(f->path, "", 0, NULL));
	assert_true(smtpcred_audit_verify(f->path, &n, &bad, NULL));
	assert_int_equal(n, 0);
}

static const char *const purposes[] = {
    "plain",
    "quote \" backslash \\ slash /",
    "new\nline and \r and \t tab",
    "control \x01\x1f\x7f bytes",
    "invalid utf-8 \xff\xfe end \xc3",
    "non-ASCII: gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\xa7",
    "",
};
/* What reading gives back: everything is exact except invalid UTF-8,
 * whose bytes were written as \u00XX (so 0xff reads back as U+00FF). */
static const char *const purposes_read[] = {
    "plain",
    "quote \" backslash \\ slash /",
    "new\nline and \r and \t tab",
    "control \x01\x1f\x7f bytes",
    "invalid utf-8 \xc3\xbf\xc3\xbe end \xc3\x83",
    "non-ASCII: gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\xa7",
    "",
};
G_STATIC_ASSERT(G_N_ELEMENTS(purposes) == G_N_ELEMENTS(purposes_read));

static void
append_purposes(const char *path)
{
	for (size_t i = 0; i < G_N_ELEMENTS(purposes); i++) {
		SmtpcredAuditEvent ev = {
		    .event = "lease",
		    .outcome = i % 2 ? "denied" : "ok",
		    .account = "acct",
		    .version = (guint)i,
		    .purpose = purposes[i],
		    .server = "mx.example.org:465",
		    .smtp_code = (guint)(500 + i),
		    .detail = purposes[(i + 1) % G_N_ELEMENTS(purposes)],
		};

		assert_int_equal(append_ev(path, &ev), i + 1);
	}
}

static void
test_audit_fields_round_trip(void **state)
{
	Fixture *f = *state;
	const size_t n = G_N_ELEMENTS(purposes);
	g_autoptr(GPtrArray) recs = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GError) error = NULL;
	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(len > 0);
	exe[len] = '\0';
	append_purposes(f->path);
	recs = smtpcred_audit_read(f->path, &error);
	assert_non_null(recs);
	assert_int_equal(recs->len, n);
	lines = read_lines(f->path);
	/* One line per record, whatever the strings contained. */
	assert_int_equal(g_strv_length(lines), n + 1);
	for (size_t i = 0; i < n; i++) {
		SmtpcredAuditRecord *r = g_ptr_array_index(recs, i);

		assert_int_equal(r->seq, i + 1);
		assert_string_equal(r->event, "lease");
		assert_string_equal(r->outcome, i % 2 ? "denied" : "ok");
		assert_string_equal(r->account, "acct");
		assert_int_equal(r->version, i);
		assert_int_equal(r->uid, getuid());
		assert_int_equal(r->pid, getpid());
		assert_string_equal(r->exe, exe);
		assert_string_equal(r->purpose, purposes_read[i]);
		assert_string_equal(r->server, "mx.example.org:465");
		assert_int_equal(r->smtp_code, 500 + i);
		assert_string_equal(r->detail, purposes_read[(i + 1) % n]);
		assert_int_equal(strlen(r->prev), 64);
		assert_int_equal(strlen(r->hash), 64);
		assert_string_equal(r->line, lines[i]);
		/* No raw control byte on disk (UTF-8 text is kept). */
		for (const char *p = lines[i]; *p != '\0'; p++)
			assert_true((unsigned char)*p >= 0x20 &&
				    (unsigned char)*p != 0x7f);
		if (i > 0) {
			SmtpcredAuditRecord *q = g_ptr_array_index(recs, i - 1);

			assert_string_equal(r->prev, q->hash);
		}
	}
	assert_true(smtpcred_audit_verify(f->path, NULL, NULL, NULL));
}

/* An independent JSON parser (jq) reads every line as an object with the
 * keys in the documented order and decodes the same strings. */
static void
test_audit_lines_are_json(void **state)
{
	static const char keys[] =
	    "[\"seq\",\"ts\",\"event\",\"outcome\",\"account\",\"version\","
	    "\"uid\",\"pid\",\"exe\",\"purpose\",\"server\",\"smtp_code\","
	    "\"detail\",\"prev\",\"hash\"]";
	Fixture *f = *state;
	g_autofree char *jq = g_find_program_in_path("jq");
	g_autofree char *out = NULL;
	g_auto(GStrv) got = NULL;
	int status = -1;

	if (jq == NULL)
		skip();
	append_purposes(f->path);
	{
		char raw[] = "-r";
		char filter[] =
		    "(keys_unsorted | tojson), (.purpose | @base64)";
		char *argv[] = {jq, raw, filter, f->path, NULL};

		assert_true(g_spawn_sync(NULL, argv, NULL,
					 G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
					 &out, NULL, &status, NULL));
	}
	assert_true(g_spawn_check_wait_status(status, NULL));
	got = g_strsplit(out, "\n", -1);
	assert_int_equal(g_strv_length(got), 2 * G_N_ELEMENTS(purposes) + 1);
	for (size_t i = 0; i < G_N_ELEMENTS(purposes); i++) {
		g_autofree char *b64 = g_base64_encode(
		    (const guchar *)purposes_read[i], strlen(purposes_read[i]));

		assert_string_equal(got[2 * i], keys);
		assert_string_equal(got[2 * i + 1], b64);
	}
}

static void
test_audit_long_fields_are_cut(void **state)
{
	Fixture *f = *state;
	g_autofree char *ctl = g_malloc(100001);
	g_autofree char *bad = g_malloc(100001);
	g_autoptr(GString) euro = g_string_new(NULL);
	g_autoptr(GString) account = g_string_new(NULL);
	g_autoptr(GPtrArray) recs = NULL;
	g_auto(GStrv) lines = NULL;
	SmtpcredAuditRecord *r;

	memset(ctl, 0x01, 100000);
	ctl[100000] = '\0';
	memset(bad, 0xff, 100000);
	bad[100000] = '\0';
	/* 3-byte characters: 256 is not a multiple of 3, so a naive cut
	 * would split one. */
	for (int i = 0; i < 200; i++)
		g_string_append(euro, "\xe2\x82\xac");
	for (int i = 0; i < 100; i++)
		g_string_append_c(account, '\x02');
	{
		SmtpcredAuditEvent ev = {
		    .event = ctl,
		    .outcome = bad,
		    .account = account->str,
		    .version = G_MAXUINT,
		    .purpose = ctl,
		    .server = bad,
		    .smtp_code = G_MAXUINT,
		    .detail = bad,
		};

		SmtpcredAuditPeer peer = {
		    .uid = G_MAXUINT,
		    .gid = G_MAXUINT,
		    .pid = G_MAXUINT,
		    .exe = ctl,
		    .unit = bad,
		};

		/* The worst case for every field at once, the peer group
		 * of a broker's record too, still fits. */
		smtpcred_audit_set_peer(&peer);
		append_ev(f->path, &ev);
		smtpcred_audit_set_peer(NULL);
		ev.purpose = euro->str;
		ev.detail = "ok";
		append_ev(f->path, &ev);
	}
	lines = read_lines(f->path);
	assert_int_equal(g_strv_length(lines), 3);
	assert_true(strlen(lines[0]) < AUDIT_LINE_MAX);
	assert_true(strlen(lines[0]) > AUDIT_LINE_MAX / 2);
	assert_true(smtpcred_audit_verify(f->path, NULL, NULL, NULL));
	recs = smtpcred_audit_read(f->path, NULL);
	assert_non_null(recs);
	r = g_ptr_array_index(recs, 0);
	assert_int_equal(strlen(r->event), AUDIT_WORD_MAX);
	assert_int_equal(strlen(r->account), AUDIT_ACCOUNT_MAX);
	assert_int_equal(strlen(r->purpose), AUDIT_PURPOSE_MAX);
	assert_int_equal(r->version, G_MAXUINT);
	assert_int_equal(r->smtp_code, G_MAXUINT);
	/* Each 0xff byte reads back as U+00FF (2 bytes). */
	assert_int_equal(strlen(r->detail), 2 * AUDIT_DETAIL_MAX);
	assert_int_equal(strlen(r->server), 2 * AUDIT_SERVER_MAX);
	assert_true(r->has_peer);
	assert_int_equal(r->peer_uid, G_MAXUINT);
	assert_int_equal(strlen(r->peer_exe), AUDIT_EXE_MAX);
	assert_int_equal(strlen(r->peer_unit), 2 * AUDIT_UNIT_MAX);
	r = g_ptr_array_index(recs, 1);
	assert_false(r->has_peer);
	assert_null(r->peer_exe);
	assert_int_equal(strlen(r->purpose), AUDIT_PURPOSE_MAX / 3 * 3);
	assert_true(g_str_has_prefix(euro->str, r->purpose));
}

/* A broker's records name the client (the peer group); the others do
 * not; both verify, and a record with half a peer group does not parse. */
static void
test_audit_peer_group(void **state)
{
	Fixture *f = *state;
	SmtpcredAuditPeer peer = {.uid = 1001,
				  .gid = 1002,
				  .pid = 4242,
				  .exe = "/usr/bin/cron",
				  .unit = "cron.service"};
	SmtpcredAuditEvent ev = {.event = "lease", .outcome = "ok",
				 .account = "alerts", .version = 1};
	g_autoptr(GPtrArray) recs = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GError) err = NULL;
	SmtpcredAuditRecord r = {0};
	SmtpcredAuditRecord *a, *b;
	char *cut;

	smtpcred_audit_set_peer(&peer);
	append_ev(f->path, &ev);
	smtpcred_audit_set_peer(NULL);
	append_ev(f->path, &ev);
	assert_true(smtpcred_audit_verify(f->path, NULL, NULL, NULL));
	recs = smtpcred_audit_read(f->path, NULL);
	assert_non_null(recs);
	assert_int_equal(recs->len, 2);
	a = g_ptr_array_index(recs, 0);
	b = g_ptr_array_index(recs, 1);
	assert_true(a->has_peer);
	assert_int_equal(a->peer_uid, 1001);
	assert_int_equal(a->peer_gid, 1002);
	assert_int_equal(a->peer_pid, 4242);
	assert_string_equal(a->peer_exe, "/usr/bin/cron");
	assert_string_equal(a->peer_unit, "cron.service");
	assert_non_null(strstr(a->line, ",\"detail\":\"\",\"peer_uid\":1001,"));
	assert_false(b->has_peer);
	assert_null(strstr(b->line, "peer_"));
	/* Half a group: everything from peer_exe on is missing. */
	lines = read_lines(f->path);
	cut = strstr(lines[0], ",\"peer_exe\"");
	assert_non_null(cut);
	memmove(cut, strstr(cut, ",\"prev\""), strlen(strstr(cut, ",\"prev\"")) + 1);
	assert_false(kr_audit_parse_line(lines[0], strlen(lines[0]), &r, &err));
	assert_non_null(strstr(err->message, "peer_exe"));
}

/* ---- tampering ----------------------------------------------------------- */

static void
test_audit_detects_edited_field(void **state)
{
	Fixture *f = *state;
	g_auto(GStrv) lines = NULL;
	char *p;

	append_n(f->path, 5);
	lines = read_lines(f->path);
	p = strstr(lines[2], "\"record 3\"");
	assert_non_null(p);
	p[8] = '9'; /* purpose "record 9" */
	write_lines(f->path, lines);
	assert_int_equal(
	    verify_fails_at(f->path, "line 3: hash mismatch (record edited)"),
	    3);
}

static void
test_audit_detects_edited_number(void **state)
{
	Fixture *f = *state;
	g_auto(GStrv) lines = NULL;
	char *p;

	append_n(f->path, 4);
	lines = read_lines(f->path);
	p = strstr(lines[3], "\"smtp_code\":235");
	assert_non_null(p);
	p[13] = '5'; /* 535 */
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path, "hash mismatch"), 4);
}

static void
test_audit_detects_deleted_line(void **state)
{
	Fixture *f = *state;
	g_auto(GStrv) lines = NULL;

	append_n(f->path, 5);
	lines = read_lines(f->path);
	g_free(lines[2]);
	memmove(&lines[2], &lines[3], 4 * sizeof(char *));
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path,
					 "line 3: seq 4 follows 2 (records "
					 "missing or reordered)"),
			 3);
}

static void
test_audit_detects_deleted_first_line(void **state)
{
	Fixture *f = *state;
	g_auto(GStrv) lines = NULL;

	append_n(f->path, 3);
	lines = read_lines(f->path);
	g_free(lines[0]);
	memmove(&lines[0], &lines[1], 4 * sizeof(char *)); /* NULL too */
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path, "seq 2"), 1);
}

static void
test_audit_detects_swapped_lines(void **state)
{
	Fixture *f = *state;
	g_auto(GStrv) lines = NULL;
	char *t;

	append_n(f->path, 5);
	lines = read_lines(f->path);
	t = lines[1];
	lines[1] = lines[3];
	lines[3] = t;
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path, "seq 4 follows 1"), 2);
}

static void
test_audit_detects_spliced_record(void **state)
{
	/* A record that is valid on its own (from another log, with its
	 * own correct hash) still does not link to its neighbours. */
	Fixture *f = *state;
	g_autofree char *other = g_build_filename(f->dir, "other.log", NULL);
	g_auto(GStrv) lines = NULL;
	g_auto(GStrv) forged = NULL;

	append_n(f->path, 3);
	append(other, "lease", "acct", "forged record 1");
	lines = read_lines(f->path);
	forged = read_lines(other);
	g_free(lines[0]);
	lines[0] = g_strdup(forged[0]);
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path, "chain broken"), 2);
}

static void
test_audit_detects_torn_last_line(void **state)
{
	Fixture *f = *state;
	int fd;

	append_n(f->path, 2);
	fd = open(f->path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"seq\":3", 8), 8);
	close(fd);
	assert_int_equal(verify_fails_at(f->path, "torn"), 3);
	/* Appending refuses to build on a torn tail (fail closed), naming
	 * the line. */
	assert_append_refused(f->path, "incomplete line 3");
	/* A whole record without its newline is torn too. */
	{
		g_auto(GStrv) lines = read_lines(f->path);
		g_autofree char *text =
		    g_strconcat(lines[0], "\n", lines[1], NULL);

		assert_true(g_file_set_contents(f->path, text, -1, NULL));
		assert_int_equal(verify_fails_at(f->path, "torn"), 2);
		assert_append_refused(f->path, "incomplete line 2");
	}
}

static void
test_audit_detects_non_json_line(void **state)
{
	Fixture *f = *state;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) lines = NULL;

	append_n(f->path, 4);
	lines = read_lines(f->path);
	g_free(lines[2]);
	lines[2] = g_strdup("this is not JSON");
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path, "not a JSON object"), 3);
	/* Reading names the line too. */
	assert_null(smtpcred_audit_read(f->path, &error));
	assert_true(
	    g_error_matches(error, SMTPCRED_ERROR, SMTPCRED_ERROR_INVALID));
	assert_true(g_str_has_prefix(error->message, "line 3: "));
}

static void
test_audit_detects_overlong_line(void **state)
{
	Fixture *f = *state;
	g_auto(GStrv) lines = NULL;

	append_n(f->path, 3);
	lines = read_lines(f->path);
	g_free(lines[1]);
	lines[1] = g_malloc(3 * AUDIT_LINE_MAX);
	memset(lines[1], 'x', 3 * AUDIT_LINE_MAX - 1);
	lines[1][3 * AUDIT_LINE_MAX - 1] = '\0';
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path, "longer than"), 2);
}

static void
test_audit_detects_damaged_last_line_on_append(void **state)
{
	Fixture *f = *state;
	g_auto(GStrv) lines = NULL;

	append_n(f->path, 3);
	lines = read_lines(f->path);
	g_free(lines[2]);
	lines[2] = g_strdup("{\"seq\":3}");
	write_lines(f->path, lines);
	assert_append_refused(f->path, "line 3");
}

/* ---- the file ------------------------------------------------------------ */

static void
test_audit_creates_private_dir_and_file(void **state)
{
	Fixture *f = *state;
	g_autofree char *dir = g_build_filename(f->dir, "a", "b", NULL);
	g_autofree char *path = g_build_filename(dir, "audit.log", NULL);
	struct stat st;

	append(path, "lease", "acct", "x");
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(smtpcred_audit_check(path, NULL));
}

static void
test_audit_refuses_symlink(void **state)
{
	Fixture *f = *state;
	g_autofree char *target = g_build_filename(f->dir, "target", NULL);
	g_autofree char *text = NULL;

	assert_true(g_file_set_contents(target, "", 0, NULL));
	assert_int_equal(symlink(target, f->path), 0);
	assert_append_refused(f->path, "symbolic link");
	assert_true(g_file_get_contents(target, &text, NULL, NULL));
	assert_string_equal(text, "");
}

static void
test_audit_refuses_group_or_other_writable(void **state)
{
	Fixture *f = *state;

	append_n(f->path, 1);
	assert_int_equal(chmod(f->path, 0620), 0);
	assert_append_refused(f->path, "writable by group or others");
	assert_false(smtpcred_audit_check(f->path, NULL));
	assert_int_equal(chmod(f->path, 0602), 0);
	assert_append_refused(f->path, "mode 0602");
	/* Group-readable is fine (an admin group may read the log). */
	assert_int_equal(chmod(f->path, 0640), 0);
	append_n(f->path, 1);
}

static void
test_audit_refuses_non_regular_file(void **state)
{
	Fixture *f = *state;

	assert_int_equal(mkfifo(f->path, 0600), 0);
	assert_append_refused(f->path, "not a regular file");
	unlink(f->path);
	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_append_refused(f->path, NULL);
}

static void
test_audit_refuses_foreign_owner(void **state)
{
	Fixture *f = *state;

	if (geteuid() != 0)
		skip(); /* only root can give a file away */
	append_n(f->path, 1);
	assert_int_equal(chown(f->path, 65534, 65534), 0);
	assert_append_refused(f->path, "owned by uid 65534");
	/* Owned by root is fine. */
	assert_int_equal(chown(f->path, 0, 0), 0);
	append_n(f->path, 1);
}

static void
test_audit_unwritable_directory(void **state)
{
	Fixture *f = *state;
	g_autofree char *file = g_build_filename(f->dir, "plainfile", NULL);
	g_autofree char *path =
	    g_build_filename(file, "sub", "audit.log", NULL);

	/* The directory cannot be created (a file is in the way). */
	assert_true(g_file_set_contents(file, "", 0, NULL));
	assert_append_refused(path, "cannot create the directory");
	assert_false(smtpcred_audit_check(path, NULL));

	/* A directory without write permission (root ignores modes). */
	if (geteuid() != 0) {
		g_autofree char *ro = g_build_filename(f->dir, "ro", NULL);
		g_autofree char *p = g_build_filename(ro, "audit.log", NULL);

		assert_int_equal(mkdir(ro, 0500), 0);
		assert_append_refused(p, g_strerror(EACCES));
	}
}

/* A log renamed away (rotated) while a writer waits for its lock: the
 * record goes to the new file at the path, not into the old one. */
static void
test_audit_follows_rotation(void **state)
{
	Fixture *f = *state;
	g_autofree char *old = g_build_filename(f->dir, "audit.log.1", NULL);
	guint64 n = 0;
	int fd, st = 0;
	pid_t pid;

	append_n(f->path, 2);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		SmtpcredAuditEvent ev = {.event = "lease", .outcome = "ok"};

		close(fd); /* the lock belongs to the shared open file */
		_exit(smtpcred_audit_append(f->path, &ev, NULL, NULL) ? 0 : 1);
	}
	g_usleep(200 * 1000); /* let the child block on the lock */
	assert_int_equal(rename(f->path, old), 0);
	close(fd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(smtpcred_audit_verify(old, &n, NULL, NULL));
	assert_int_equal(n, 2);
	assert_true(smtpcred_audit_verify(f->path, &n, NULL, NULL));
	assert_int_equal(n, 1);
}

static void
test_audit_path_from_environment(void **state)
{
	g_autofree char *saved_log = g_strdup(g_getenv("SMTPCRED_AUDIT_LOG"));
	g_autofree char *saved_xdg = g_strdup(g_getenv("XDG_STATE_HOME"));
	char *p;

	(void)state;
	g_setenv("SMTPCRED_AUDIT_LOG", "/some/where.log", TRUE);
	g_setenv("XDG_STATE_HOME", "/state", TRUE);
	p = smtpcred_audit_path();
	assert_string_equal(p, "/some/where.log");
	g_free(p);

	g_unsetenv("SMTPCRED_AUDIT_LOG");
	p = smtpcred_audit_path();
	assert_string_equal(p, "/state/smtpcred/audit.log");
	g_free(p);

	g_setenv("XDG_STATE_HOME", "relative", TRUE); /* ignored (XDG) */
	p = smtpcred_audit_path();
	if (getuid() == 0)
		assert_string_equal(p, "/var/log/smtpcred/audit.log");
	else
		assert_true(
		    g_str_has_suffix(p, "/.local/state/smtpcred/audit.log"));
	g_free(p);

	if (saved_log != NULL)
		g_setenv("SMTPCRED_AUDIT_LOG", saved_log, TRUE);
	if (saved_xdg != NULL)
		g_setenv("XDG_STATE_HOME", saved_xdg, TRUE);
	else
		g_unsetenv("XDG_STATE_HOME");
}

/* ---- the pure parser ----------------------------------------------------- */

#define H0 "0000000000000000000000000000000000000000000000000000000000000000"
#define H1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
static const char good_line[] =
    "{\"seq\":7,\"ts\":\"2026-11-28T15:40:00Z\",\"event\":\"lease\","
    "\"outcome\":\"ok\",\"account\":\"a\",\"version\":0,\"uid\":4294967295,"
    "\"pid\":1,\"exe\":\"\\/usr\\/bin\\/x\",\"purpose\":\"\\ud83d\\udce7 "
    "\\u00e9 \\\"q\\\" \\\\ \\n\\t\\b\\f\\r \\u001f\",\"server\":\"\","
    "\"smtp_code\":0,\"detail\":\"\",\"prev\":\"" H0 "\",\"hash\":\"" H1 "\"}";

/* Parse len bytes from an exact-size heap copy (no NUL after them), so
 * the sanitizers catch any read past the end. */
static gboolean
parse_copy(const char *s, size_t len, SmtpcredAuditRecord *r, GError **error)
{
	g_autofree char *copy = g_memdup2(s, len > 0 ? len : 1);

	return kr_audit_parse_line(copy, len, r, error);
}

static void
test_audit_parse_decodes_escapes(void **state)
{
	SmtpcredAuditRecord r = {0};
	g_autoptr(GError) error = NULL;

	(void)state;
	if (!parse_copy(good_line, strlen(good_line), &r, &error))
		fail_msg("%s", error->message);
	assert_int_equal(r.seq, 7);
	assert_int_equal(r.uid, G_MAXUINT);
	assert_string_equal(r.exe, "/usr/bin/x");
	assert_string_equal(r.purpose, "\xf0\x9f\x93\xa7 \xc3\xa9 \"q\" \\ "
				       "\n\t\b\f\r \x1f");
	assert_string_equal(r.prev, H0);
	assert_string_equal(r.hash, H1);
	assert_string_equal(r.line, good_line);
	kr_audit_record_clear(&r);
	assert_null(r.line);
}

static void
test_audit_parse_rejects_malformed(void **state)
{
	/* Each case edits the good line: replace 'from' by 'to'. */
	static const struct {
		const char *from, *to;
	} cases[] = {
	    {"\"seq\":7", "\"seq\":07"},
	    {"\"seq\":7", "\"seq\":-7"},
	    {"\"seq\":7", "\"seq\":7.0"},
	    {"\"seq\":7", "\"seq\":7e0"},
	    {"\"seq\":7", "\"seq\":\"7\""},
	    {"\"seq\":7", "\"seq\": 7"},
	    {"\"seq\":7", "\"seq\":18446744073709551616"},
	    {"\"seq\":7", "\"seq\":123456789012345678901234567890"},
	    {"\"seq\":7", "\"seq\":"},
	    {"\"uid\":4294967295", "\"uid\":4294967296"},
	    {"\"pid\":1", "\"pid\":null"},
	    {"\\ud83d\\udce7", "\\ud83d"},
	    {"\\ud83d\\udce7", "\\ud83dx"},
	    {"\\ud83d\\udce7", "\\ud83d\\u0041"},
	    {"\\ud83d\\udce7", "\\udce7"},
	    {"\\u00e9", "\\u00g9"},
	    {"\\u00e9", "\\u00e"},
	    {"\\u00e9", "\\u0000"},
	    {"\\n", "\\x"},
	    {"\\n", "\n"},
	    {"\"a\"", "\"a\x01\""},
	    {"\"a\"", "\"a\xff\""},
	    {"\"a\"", "\"a\xc3\""},
	    {"\"a\"", "\"a"},
	    {"\"a\"", "a"},
	    {"2026-11-28T15:40:00Z", "yesterday"},
	    {"2026-11-28T15:40:00Z", "2026-11-28 15:40:00"},
	    {"\"prev\":\"0", "\"prev\":\"A"},
	    {"\"hash\":\"0", "\"hash\":\""},
	    {"\"hash\":\"0", "\"hash\":\"00"},
	    {",\"detail\":\"\"", ""},
	    {",\"detail\":\"\"", ",\"detail\":\"\",\"detail\":\"\""},
	    {",\"detail\":\"\"", ",\"detail\":\"\",\"x\":1"},
	    {"\"event\":\"lease\",\"outcome\":\"ok\"",
	     "\"outcome\":\"ok\",\"event\":\"lease\""},
	    {"\"event\"", "\"Event\""},
	    {"{\"seq\"", " {\"seq\""},
	    {"{\"seq\"", "[{\"seq\""},
	    {"{\"seq\"", "\"seq\""},
	    {"\"}", "\"} "},
	    {"\"}", "\"}}"},
	    {"\"}", "\""},
	    {"\"}", "\",}"},
	};
	static const char *const whole[] = {"",   "{",    "{}",
					    "[]", "null", "{\"seq\":1}"};
	SmtpcredAuditRecord r, before;

	(void)state;
	memset(&before, 0x5a, sizeof(before));
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GString) s = g_string_new(good_line);

		assert_true(
		    g_string_replace(s, cases[i].from, cases[i].to, 1) == 1);
		r = before;
		if (parse_copy(s->str, s->len, &r, &error))
			fail_msg("case %zu accepted: %s", i, s->str);
		assert_true(g_error_matches(error, SMTPCRED_ERROR,
					    SMTPCRED_ERROR_INVALID));
		/* The output is untouched on failure. */
		assert_memory_equal(&r, &before, sizeof(r));
	}
	for (size_t i = 0; i < G_N_ELEMENTS(whole); i++) {
		g_autoptr(GError) error = NULL;

		r = before;
		assert_false(
		    parse_copy(whole[i], strlen(whole[i]), &r, &error));
		assert_non_null(error);
		assert_memory_equal(&r, &before, sizeof(r));
	}
	/* Every prefix of a good line is rejected. */
	for (size_t n = 0; n < strlen(good_line); n++) {
		r = before;
		assert_false(parse_copy(good_line, n, &r, NULL));
	}
}

/* ---- secrets ------------------------------------------------------------- */

/* The API has no field for a secret: a run that holds one (here, in a
 * local and in the environment) cannot get it into the log or an error.
 * This guards against a future change that adds such a channel. */
static void
test_audit_never_holds_the_secret(void **state)
{
	Fixture *f = *state;
	char secret[] = CANARY;
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	SmtpcredAuditEvent ev = {.event = "lease", .outcome = "ok"};

	g_setenv("SMTPCRED_TEST_SECRET", secret, TRUE);
	append_n(f->path, 2);
	append(f->path, "auth-result", "acct", NULL);
	assert_true(g_file_get_contents(f->path, &text, NULL, NULL));
	assert_null(strstr(text, secret));
	assert_int_equal(chmod(f->path, 0666), 0);
	assert_false(smtpcred_audit_append(f->path, &ev, NULL, &error));
	assert_null(strstr(error->message, secret));
	g_unsetenv("SMTPCRED_TEST_SECRET");
	explicit_bzero(secret, sizeof(secret));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_audit_chain_verifies),
	    T(test_audit_lazy_record_is_written_not_synced),
	    T(test_audit_missing_log_is_empty_and_intact),
	    T(test_audit_fields_round_trip),
	    T(test_audit_lines_are_json),
	    T(test_audit_long_fields_are_cut),
	    T(test_audit_peer_group),
	    T(test_audit_detects_edited_field),
	    T(test_audit_detects_edited_number),
	    T(test_audit_detects_deleted_line),
	    T(test_audit_detects_deleted_first_line),
	    T(test_audit_detects_swapped_lines),
	    T(test_audit_detects_spliced_record),
	    T(test_audit_detects_torn_last_line),
	    T(test_audit_detects_non_json_line),
	    T(test_audit_detects_overlong_line),
	    T(test_audit_detects_damaged_last_line_on_append),
	    T(test_audit_creates_private_dir_and_file),
	    T(test_audit_refuses_symlink),
	    T(test_audit_refuses_group_or_other_writable),
	    T(test_audit_refuses_non_regular_file),
	    T(test_audit_refuses_foreign_owner),
	    T(test_audit_unwritable_directory),
	    T(test_audit_follows_rotation),
	    cmocka_unit_test(test_audit_path_from_environment),
	    cmocka_unit_test(test_audit_parse_decodes_escapes),
	    cmocka_unit_test(test_audit_parse_rejects_malformed),
	    T(test_audit_never_holds_the_secret),
	};
#undef T
	return cmocka_run_group_tests_name("keyring-audit", tests, NULL, NULL);
}
