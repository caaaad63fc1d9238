/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log: format, chain, tamper detection, refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "internal.h"

#define CANARY "CANARY-s3cr3t-audit"

typedef struct {
	char *dir;
	char *path;
} Fixture;

static int
setup(void **state)
{
	Fixture *f = g_new0(Fixture, 1);

	f->dir = g_dir_make_tmp("test-audit-XXXXXX", NULL);
	f->path = g_build_filename(f->dir, "audit.log", NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	Fixture *f = *state;
	g_autoptr(GDir) d = g_dir_open(f->dir, 0, NULL);
	const char *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(f->dir, name, NULL);

		unlink(p);
	}
	rmdir(f->dir);
	g_free(f->dir);
	g_free(f->path);
	g_free(f);
	return 0;
}

static void
append(const char *path, const char *event, const char *account,
       const char *purpose)
{
	g_autoptr(GError) error = NULL;
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

	if (!smtpcred_audit_append(path, &ev, NULL, &error))
		fail_msg("append: %s", error->message);
}

static void
append_n(const char *path, int n)
{
	for (int i = 0; i < n; i++) {
		g_autofree char *p = g_strdup_printf("record %d", i + 1);

		append(path, "lease", "acct", p);
	}
}

static gchar **
read_lines(const char *path)
{
	g_autofree char *text = NULL;

	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return g_strsplit(text, "\n", -1); /* last element is "" */
}

static void
write_lines(const char *path, gchar **lines)
{
	g_autofree char *text = g_strjoinv("\n", lines);

	assert_true(g_file_set_contents(path, text, -1, NULL));
	chmod(path, 0600);
}

static guint64
verify_fails_at(const char *path)
{
	g_autoptr(GError) error = NULL;
	guint64 n = 0, bad = 0;

	assert_false(smtpcred_audit_verify(path, &n, &bad, &error));
	assert_true(g_error_matches(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_INVALID));
	/* The message names the line too. */
	{
		g_autofree char *want =
		    g_strdup_printf("line %" G_GUINT64_FORMAT ":", bad);

		assert_non_null(strstr(error->message, want));
	}
	return bad;
}

static void
test_audit_chain_verifies(void **state)
{
	Fixture *f = *state;
	g_autoptr(GError) error = NULL;
	guint64 n = 0, bad = 0;

	append_n(f->path, 3);
	assert_true(smtpcred_audit_verify(f->path, &n, &bad, &error));
	assert_int_equal(n, 3);
}

static void
test_audit_missing_log_is_empty_and_intact(void **state)
{
	Fixture *f = *state;
	g_autoptr(GPtrArray) recs = smtpcred_audit_read(f->path, NULL);
	guint64 n = 99;

	assert_non_null(recs);
	assert_int_equal(recs->len, 0);
	assert_true(smtpcred_audit_verify(f->path, &n, NULL, NULL));
	assert_int_equal(n, 0);
}

static void
test_audit_fields_round_trip(void **state)
{
	static const char *const purposes[] = {
	    "plain",
	    "quote \" backslash \\ slash /",
	    "new\nline and \r and \t tab",
	    "control \x01\x1f\x7f bytes",
	    "invalid utf-8 \xff\xfe end",
	    "non-ASCII: gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\xa7",
	};
	Fixture *f = *state;
	g_autoptr(GPtrArray) recs = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GError) error = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(purposes); i++)
		append(f->path, "lease", "acct", purposes[i]);
	recs = smtpcred_audit_read(f->path, &error);
	assert_non_null(recs);
	assert_int_equal(recs->len, G_N_ELEMENTS(purposes));
	for (size_t i = 0; i < G_N_ELEMENTS(purposes); i++) {
		SmtpcredAuditRecord *r = g_ptr_array_index(recs, i);

		assert_int_equal(r->seq, i + 1);
		assert_string_equal(r->event, "lease");
		assert_string_equal(r->outcome, "ok");
		assert_string_equal(r->account, "acct");
		assert_int_equal(r->version, 3);
		assert_int_equal(r->smtp_code, 235);
		assert_string_equal(r->server, "smtp.example.org:587");
		assert_int_equal(r->uid, getuid());
		assert_int_equal(r->pid, getpid());
		assert_true(g_utf8_validate(r->purpose, -1, NULL));
		/* Valid UTF-8 and printable text survive unchanged. */
		if (i == 0 || i == 1 || i == 2 || i == 5)
			assert_string_equal(r->purpose, purposes[i]);
	}
	/* One line per record, whatever the purpose contained. */
	lines = read_lines(f->path);
	assert_int_equal(g_strv_length(lines), G_N_ELEMENTS(purposes) + 1);
	assert_true(smtpcred_audit_verify(f->path, NULL, NULL, NULL));
}

static void
test_audit_detects_edited_field(void **state)
{
	Fixture *f = *state;
	g_auto(GStrv) lines = NULL;
	char *p;

	append_n(f->path, 5);
	lines = read_lines(f->path);
	p = strstr(lines[2], "\"acct\"");
	assert_non_null(p);
	p[1] = 'b'; /* account "bcct" */
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path), 3);
}

static void
test_audit_detects_deleted_line(void **state)
{
	Fixture *f = *state;
	g_auto(GStrv) lines = NULL;

	append_n(f->path, 5);
	lines = read_lines(f->path);
	g_free(lines[1]);
	memmove(&lines[1], &lines[2], 5 * sizeof(char *));
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path), 2);
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
	assert_int_equal(verify_fails_at(f->path), 2);
}

static void
test_audit_detects_rehashed_edit(void **state)
{
	/* Editing a record and recomputing its own hash still breaks the
	 * link to the next record. */
	Fixture *f = *state;
	g_autofree char *other = g_build_filename(f->dir, "other.log", NULL);
	g_auto(GStrv) lines = NULL;
	g_auto(GStrv) forged = NULL;

	append_n(f->path, 3);
	append(other, "lease", "acct", "forged record 1");
	lines = read_lines(f->path);
	forged = read_lines(other);
	g_free(lines[0]);
	lines[0] = g_strdup(forged[0]); /* a valid record 1, other content */
	write_lines(f->path, lines);
	assert_int_equal(verify_fails_at(f->path), 2);
	unlink(other);
}

static void
test_audit_detects_torn_and_garbage_lines(void **state)
{
	Fixture *f = *state;
	g_autoptr(GError) error = NULL;
	int fd;

	append_n(f->path, 2);
	fd = open(f->path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"seq\":3", 8), 8);
	close(fd);
	assert_int_equal(verify_fails_at(f->path), 3);
	/* Appending refuses to build on a torn tail (fail closed). */
	{
		SmtpcredAuditEvent ev = {.event = "lease", .outcome = "ok"};

		assert_false(smtpcred_audit_append(f->path, &ev, NULL, &error));
		assert_true(g_error_matches(error, SMTPCRED_ERROR,
					    SMTPCRED_ERROR_AUDIT));
	}
	assert_true(g_file_set_contents(f->path, "not json at all\n", -1,
					NULL));
	assert_int_equal(verify_fails_at(f->path), 1);
}

static void
test_audit_refuses_symlink(void **state)
{
	Fixture *f = *state;
	g_autofree char *target = g_build_filename(f->dir, "target", NULL);
	g_autoptr(GError) error = NULL;
	SmtpcredAuditEvent ev = {.event = "lease", .outcome = "ok"};

	assert_true(g_file_set_contents(target, "", 0, NULL));
	assert_int_equal(symlink(target, f->path), 0);
	assert_false(smtpcred_audit_append(f->path, &ev, NULL, &error));
	assert_true(g_error_matches(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_AUDIT));
	assert_non_null(strstr(error->message, "symbolic link"));
	unlink(target);
}

static void
test_audit_refuses_group_writable(void **state)
{
	Fixture *f = *state;
	g_autoptr(GError) error = NULL;
	SmtpcredAuditEvent ev = {.event = "lease", .outcome = "ok"};

	append_n(f->path, 1);
	chmod(f->path, 0620);
	assert_false(smtpcred_audit_append(f->path, &ev, NULL, &error));
	assert_true(g_error_matches(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_AUDIT));
	assert_false(smtpcred_audit_check(f->path, NULL));
}

static void
test_audit_unwritable_directory(void **state)
{
	Fixture *f = *state;
	g_autofree char *file = g_build_filename(f->dir, "plainfile", NULL);
	g_autofree char *path = g_build_filename(file, "audit.log", NULL);
	g_autoptr(GError) error = NULL;
	SmtpcredAuditEvent ev = {.event = "lease", .outcome = "ok"};

	assert_true(g_file_set_contents(file, "", 0, NULL));
	assert_false(smtpcred_audit_append(path, &ev, NULL, &error));
	assert_true(g_error_matches(error, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_AUDIT));
	assert_non_null(strstr(error->message, path));
	unlink(file);
}

static void
test_audit_parse_rejects_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{}",
	    "[1,2]",
	    "{\"seq\":1}",
	    "{\"seq\":01,\"ts\":\"x\"}",
	    "{\"seq\":-1}",
	};
	SmtpcredAuditRecord r;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;

		memset(&r, 0, sizeof(r));
		assert_false(kr_audit_parse_line(bad[i], strlen(bad[i]), &r,
						 &error));
		assert_non_null(error);
	}
}

static void
test_audit_never_holds_the_secret(void **state)
{
	/* The API carries names and codes only; a run that had a secret in
	 * memory leaves no trace of it in the log. */
	Fixture *f = *state;
	g_autofree char *text = NULL;
	char secret[] = CANARY;

	append_n(f->path, 2);
	append(f->path, "auth-result", "acct", NULL);
	assert_true(g_file_get_contents(f->path, &text, NULL, NULL));
	assert_null(strstr(text, secret));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_audit_chain_verifies),
	    T(test_audit_missing_log_is_empty_and_intact),
	    T(test_audit_fields_round_trip),
	    T(test_audit_detects_edited_field),
	    T(test_audit_detects_deleted_line),
	    T(test_audit_detects_swapped_lines),
	    T(test_audit_detects_rehashed_edit),
	    T(test_audit_detects_torn_and_garbage_lines),
	    T(test_audit_refuses_symlink),
	    T(test_audit_refuses_group_writable),
	    T(test_audit_unwritable_directory),
	    T(test_audit_parse_rejects_malformed),
	    T(test_audit_never_holds_the_secret),
	};
#undef T
	return cmocka_run_group_tests_name("keyring-audit", tests, NULL, NULL);
}
