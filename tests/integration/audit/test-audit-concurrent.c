/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Concurrent audit writers: 8 processes x 200 records into one log.  The
 * chain must verify, seq must run 1..1600 in file order and every record
 * must be there exactly once (no lost, interleaved or forked writes).
 * TAP on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <smtpcred/smtpcred.h>

#define WRITERS 8
#define RECORDS 200
#define TOTAL   (WRITERS * RECORDS)

static int
child(const char *path, int k)
{
	for (int j = 0; j < RECORDS; j++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *purpose =
		    g_strdup_printf("child %d rec %d", k, j);
		SmtpcredAuditEvent ev = {
		    .event = "lease",
		    .outcome = "ok",
		    .account = "concurrent",
		    .version = 1,
		    .purpose = purpose,
		};

		if (!smtpcred_audit_append(path, &ev, NULL, &error)) {
			fprintf(stderr, "child %d: %s\n", k, error->message);
			return 1;
		}
	}
	return 0;
}

static void
tap(int n, gboolean ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", n, what);
}

int
main(void)
{
	g_autofree char *dir = g_dir_make_tmp("audit-conc-XXXXXX", NULL);
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) recs = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) want = NULL;
	guint64 n = 0, bad = 0;
	gboolean seq_ok = TRUE, each_once = TRUE;
	pid_t pids[WRITERS];
	gint64 t0, t1;
	int failed = 0;

	printf("1..5\n");
	if (dir == NULL) {
		printf("Bail out! cannot create a temporary directory\n");
		return 1;
	}
	path = g_build_filename(dir, "audit.log", NULL);
	fflush(stdout); /* the children must not repeat buffered output */
	t0 = g_get_monotonic_time();
	for (int k = 0; k < WRITERS; k++) {
		pids[k] = fork();
		if (pids[k] == 0)
			_exit(child(path, k));
		if (pids[k] < 0)
			failed++;
	}
	for (int k = 0; k < WRITERS; k++) {
		int st = 0;

		if (pids[k] > 0 && (waitpid(pids[k], &st, 0) != pids[k] ||
				    !WIFEXITED(st) || WEXITSTATUS(st) != 0))
			failed++;
	}
	t1 = g_get_monotonic_time();
	tap(1, failed == 0, "8 writers finished without an error");
	printf("# %d records in %.2f s (%.0f records/s, fsync each)\n", TOTAL,
	       (double)(t1 - t0) / 1e6, TOTAL / ((double)(t1 - t0 + 1) / 1e6));

	if (!smtpcred_audit_verify(path, &n, &bad, &error))
		printf("# %s\n", error->message);
	tap(2, error == NULL, "the chain verifies");
	tap(3, n == TOTAL, "exactly 1600 records");

	/* Every (writer, record) pair, each to be seen exactly once. */
	want = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (int k = 0; k < WRITERS; k++)
		for (int j = 0; j < RECORDS; j++)
			g_hash_table_add(
			    want, g_strdup_printf("child %d rec %d", k, j));
	recs = smtpcred_audit_read(path, NULL);
	if (recs == NULL || recs->len != TOTAL)
		seq_ok = each_once = FALSE;
	for (guint i = 0; recs != NULL && i < recs->len; i++) {
		SmtpcredAuditRecord *r = g_ptr_array_index(recs, i);

		if (r->seq != (guint64)i + 1)
			seq_ok = FALSE;
		if (!g_hash_table_remove(want, r->purpose)) {
			printf("# unexpected or repeated: '%s'\n", r->purpose);
			each_once = FALSE;
		}
	}
	tap(4, seq_ok, "seq runs 1..1600 in file order");
	tap(5, each_once && g_hash_table_size(want) == 0,
	    "every (writer, record) pair appears exactly once");

	/* Kept for the whole-run canary scan (scripts/test.sh). */
	if (g_getenv("KEEP_TEST_FILES") == NULL) {
		unlink(path);
		rmdir(dir);
	}
	return 0;
}
