/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Concurrent audit writers: 8 processes x 200 records into one log.  The
 * chain must verify, seq must run 1..1600 and every record must be there
 * exactly once (no lost, interleaved or forked writes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <smtpcred/smtpcred.h>

#define WRITERS 8
#define RECORDS 200

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

int
main(void)
{
	g_autofree char *dir = g_dir_make_tmp("audit-conc-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "audit.log", NULL);
	g_autoptr(GPtrArray) recs = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) seen = NULL;
	guint64 n = 0, bad = 0;
	pid_t pids[WRITERS];
	int failed = 0;

	printf("1..4\n");
	for (int k = 0; k < WRITERS; k++) {
		pids[k] = fork();
		if (pids[k] == 0)
			_exit(child(path, k));
	}
	for (int k = 0; k < WRITERS; k++) {
		int st = 0;

		waitpid(pids[k], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	printf("%s 1 - %d writers finished without an error\n",
	       failed == 0 ? "ok" : "not ok", WRITERS);

	if (smtpcred_audit_verify(path, &n, &bad, &error))
		printf("ok 2 - the chain verifies (%" G_GUINT64_FORMAT
		       " records)\n",
		       n);
	else
		printf("not ok 2 - the chain verifies: %s\n", error->message);
	printf("%s 3 - exactly %d records\n",
	       n == WRITERS * RECORDS ? "ok" : "not ok", WRITERS * RECORDS);

	recs = smtpcred_audit_read(path, NULL);
	seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (guint i = 0; recs != NULL && i < recs->len; i++) {
		SmtpcredAuditRecord *r = g_ptr_array_index(recs, i);

		g_hash_table_add(seen, g_strdup(r->purpose));
	}
	printf("%s 4 - every (writer, record) pair appears exactly once\n",
	       recs != NULL && recs->len == WRITERS * RECORDS &&
		       g_hash_table_size(seen) == WRITERS * RECORDS
		   ? "ok"
		   : "not ok");

	unlink(path);
	rmdir(dir);
	return 0;
}
