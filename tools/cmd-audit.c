/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* smtpcred audit: print, filter and verify the audit log. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "parse.h"

/* RFC 3339 UTC ("...Z") or a plain date "YYYY-MM-DD" (midnight UTC). */
static gboolean
parse_since(const char *s, gint64 *out)
{
	g_autofree char *full = NULL;
	int64_t t;

	if (strlen(s) == 10) {
		full = g_strconcat(s, "T00:00:00Z", NULL);
		s = full;
	}
	if (parse_rfc3339_utc(s, &t) < 0)
		return FALSE;
	*out = t;
	return TRUE;
}

static void
print_record(const SmtpcredAuditRecord *r)
{
	g_autofree char *account = cli_escape(r->account);
	g_autoptr(GString) line = g_string_new(NULL);

	g_string_append_printf(line, "%6" G_GUINT64_FORMAT " %s %-14s %-9s %s",
			       r->seq, r->ts, r->event, r->outcome,
			       r->account != NULL && *r->account ? account
								  : "-");
	if (r->version > 0)
		g_string_append_printf(line, " v%u", r->version);
	if (r->server != NULL && *r->server != '\0') {
		g_autofree char *v = cli_escape(r->server);

		g_string_append_printf(line, " server=%s", v);
	}
	if (r->smtp_code > 0)
		g_string_append_printf(line, " code=%u", r->smtp_code);
	if (r->purpose != NULL && *r->purpose != '\0') {
		g_autofree char *v = cli_escape(r->purpose);

		g_string_append_printf(line, " purpose='%s'", v);
	}
	if (r->detail != NULL && *r->detail != '\0') {
		g_autofree char *v = cli_escape(r->detail);

		g_string_append_printf(line, " detail='%s'", v);
	}
	g_string_append_printf(line, " uid=%u pid=%u", r->uid, r->pid);
	if (r->has_peer) {
		g_autofree char *exe = cli_escape(r->peer_exe);
		g_autofree char *unit = cli_escape(r->peer_unit);

		/* A broker's record: for whom it acted. */
		g_string_append_printf(line,
				       " for: uid=%u gid=%u pid=%u exe=%s", r->peer_uid,
				       r->peer_gid, r->peer_pid,
				       *r->peer_exe ? exe : "-");
		if (*r->peer_unit != '\0')
			g_string_append_printf(line, " unit=%s", unit);
	}
	puts(line->str);
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"account", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {"json", no_argument, NULL, 'j'},
	    {"since", required_argument, NULL, 's'},
	    {"verify", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) records = NULL;
	g_autofree char *path = smtpcred_audit_path();
	const char *account = NULL;
	gboolean json = FALSE, verify = FALSE;
	gint64 since = 0;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			account = optarg;
			break;
		case 'h':
			printf("Usage: smtpcred audit [--account NAME] "
			       "[--since TIME] [--json] [--verify]\n\n"
			       "Prints the audit log (%s).\n"
			       "--since takes RFC 3339 UTC "
			       "(2026-11-28T10:00:00Z) or a date (2026-11-28).\n"
			       "--json prints the raw JSON lines.  --verify "
			       "walks the hash chain and names\nthe first "
			       "line that was edited, deleted or reordered.\n",
			       path);
			return EXIT_OK;
		case 'j':
			json = TRUE;
			break;
		case 's':
			if (!parse_since(optarg, &since))
				return cli_usage("audit", "--since: '%s' is "
							  "not YYYY-MM-DD or "
							  "RFC 3339 UTC",
						 optarg);
			break;
		case 'v':
			verify = TRUE;
			break;
		default:
			return cli_bad_option("audit", c, argv);
		}
	}
	if (optind != argc)
		return cli_usage("audit", "unexpected argument '%s'",
				 argv[optind]);
	cli_remote_run();

	if (verify) {
		guint64 n = 0, bad = 0;

		if (!smtpcred_audit_verify(path, &n, &bad, &error)) {
			g_autofree char *msg = cli_escape(error->message);

			printf("audit log %s: %s\n", path, msg);
			return EXIT_FAIL;
		}
		printf("audit log %s: %" G_GUINT64_FORMAT
		       " records, chain intact\n",
		       path, n);
		return EXIT_OK;
	}

	records = smtpcred_audit_read(path, &error);
	if (records == NULL)
		return cli_fail(error);
	for (guint i = 0; i < records->len; i++) {
		const SmtpcredAuditRecord *r = g_ptr_array_index(records, i);
		int64_t t = 0;

		if (account != NULL && g_strcmp0(r->account, account) != 0)
			continue;
		if (since > 0 && (parse_rfc3339_utc(r->ts, &t) < 0 || t < since))
			continue;
		if (json)
			puts(r->line);
		else
			print_record(r);
	}
	return EXIT_OK;
}
