/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* smtpcred list, smtpcred show: settings and metadata, never a secret. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "parse.h"

static void
warn_locked(gboolean any_locked)
{
	if (any_locked)
		cli_msg("warning: the keyring collection is locked; passwords "
			"cannot be read until it is unlocked");
}

int
cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"json", no_argument, NULL, 'j'},
	    {"overdue", no_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	g_autoptr(GPtrArray) accounts = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	gboolean json = FALSE, overdue = FALSE, any_locked = FALSE;
	gboolean first = TRUE;
	gint64 now = smtpcred_now();
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			puts("Usage: smtpcred list [--json] [--overdue]\n\n"
			     "Lists accounts: host, user, usable version, its "
			     "expiry and a status\n(ok, warning, overdue, "
			     "pending, waiting-login, locked, ambiguous,\n"
			     "no-current).  --overdue keeps the overdue ones.");
			return EXIT_OK;
		case 'j':
			json = TRUE;
			break;
		case 'o':
			overdue = TRUE;
			break;
		default:
			return cli_bad_option("list", c, argv);
		}
	}
	if (optind != argc)
		return cli_usage("list", "unexpected argument '%s'",
				 argv[optind]);
	store = cli_store(&error);
	if (store == NULL)
		return cli_fail(error);
	accounts = smtpcred_store_list(store, &error);
	if (accounts == NULL)
		return cli_fail(error);

	if (json)
		g_string_append_c(out, '[');
	else
		g_string_append_printf(out, "%-20s %-30s %-20s %-7s %-13s %s\n",
				       "NAME", "HOST:PORT", "USER", "VERSION",
				       "STATE", "NOT_AFTER");
	for (guint i = 0; i < accounts->len; i++) {
		const SmtpcredAccount *a = g_ptr_array_index(accounts, i);
		const SmtpcredVersion *u = NULL;
		AccountStatus st = account_status(a, 0, FALSE, now, &u);
		char t[RFC3339_BUFSZ];

		any_locked |= a->locked;
		if (overdue && st != ST_OVERDUE)
			continue;
		if (json) {
			if (!first)
				g_string_append_c(out, ',');
			g_string_append_c(out, '{');
			json_str(out, "name", a->settings.name, FALSE);
			json_str(out, "host", a->settings.host, TRUE);
			json_uint(out, "port", a->settings.port, TRUE);
			json_str(out, "tls", a->settings.tls, TRUE);
			json_str(out, "user", a->settings.user, TRUE);
			json_uint(out, "version", u != NULL ? u->version : 0,
				  TRUE);
			json_time(out, "not_after",
				  u != NULL ? u->not_after : 0, TRUE);
			json_str(out, "status", account_status_str(st), TRUE);
			g_string_append_c(out, '}');
		} else {
			g_autofree char *hp = g_strdup_printf(
			    "%s:%u", a->settings.host, a->settings.port);
			g_autofree char *user = cli_escape(a->settings.user);

			g_string_append_printf(
			    out, "%-20s %-30s %-20s %-7u %-13s %s\n",
			    a->settings.name, hp, user,
			    u != NULL ? u->version : 0, account_status_str(st),
			    fmt_time(u != NULL ? u->not_after : 0, t,
				     sizeof(t)));
		}
		first = FALSE;
	}
	if (json)
		g_string_append(out, "]\n");
	fputs(out->str, stdout);
	warn_locked(any_locked);
	return EXIT_OK;
}

static void
show_json(const SmtpcredAccount *a, AccountStatus st)
{
	const SmtpcredSettings *s = &a->settings;
	g_autoptr(GString) out = g_string_new("{");

	json_str(out, "name", s->name, FALSE);
	json_str(out, "host", s->host, TRUE);
	json_uint(out, "port", s->port, TRUE);
	json_str(out, "tls", s->tls, TRUE);
	json_str(out, "user", s->user, TRUE);
	json_str(out, "mechs", s->mechs, TRUE);
	json_str(out, "ca_file", s->ca_file, TRUE);
	json_str(out, "pin", s->pin, TRUE);
	json_uint(out, "max_age_days", s->max_age_days, TRUE);
	json_uint(out, "warn_days", s->warn_days, TRUE);
	json_uint(out, "grace_days", s->grace_days, TRUE);
	json_uint(out, "keep", s->keep, TRUE);
	json_bool(out, "enforce", s->enforce, TRUE);
	json_str(out, "audit_fail", s->audit_fail_open ? "open" : "closed",
		 TRUE);
	json_str(out, "source", s->source, TRUE);
	json_time(out, "created", s->created, TRUE);
	json_bool(out, "locked", a->locked, TRUE);
	json_str(out, "status", account_status_str(st), TRUE);
	g_string_append(out, ",\"versions\":[");
	for (guint i = 0; i < a->versions->len; i++) {
		const SmtpcredVersion *v = g_ptr_array_index(a->versions, i);

		if (i > 0)
			g_string_append_c(out, ',');
		g_string_append_c(out, '{');
		json_uint(out, "version", v->version, FALSE);
		json_str(out, "state", smtpcred_state_to_string(v->state),
			 TRUE);
		json_bool(out, "commit", v->commit, TRUE);
		json_time(out, "created", v->created, TRUE);
		json_time(out, "promoted", v->promoted, TRUE);
		json_time(out, "verified", v->verified, TRUE);
		json_time(out, "not_after", v->not_after, TRUE);
		json_time(out, "grace_until", v->grace_until, TRUE);
		json_str(out, "rotation_id", v->rotation_id, TRUE);
		g_string_append_c(out, '}');
	}
	g_string_append(out, "]}\n");
	fputs(out->str, stdout);
}

static void
show_text(const SmtpcredAccount *a, AccountStatus st)
{
	const SmtpcredSettings *s = &a->settings;
	g_autofree char *user = cli_escape(s->user);
	char t1[RFC3339_BUFSZ], t2[RFC3339_BUFSZ], t3[RFC3339_BUFSZ];

	printf("account     %s\n", s->name);
	printf("server      %s:%u (tls %s)\n", s->host, s->port, s->tls);
	printf("user        %s\n", user);
	printf("mechanisms  %s\n", s->mechs);
	printf("ca-file     %s\n", s->ca_file != NULL ? s->ca_file : "-");
	printf("pin         %s\n", s->pin != NULL ? s->pin : "-");
	if (s->max_age_days > 0)
		printf("max-age     %u days (warn %u days before; enforce: "
		       "%s)\n",
		       s->max_age_days, s->warn_days,
		       s->enforce ? "yes" : "no");
	else
		printf("max-age     none\n");
	printf("grace       %u days; keep %u retired\n", s->grace_days,
	       s->keep);
	printf("audit       fail %s\n", s->audit_fail_open ? "open" : "closed");
	printf("source      %s\n", s->source != NULL ? s->source : "-");
	printf("created     %s\n", fmt_time(s->created, t1, sizeof(t1)));
	printf("status      %s\n", account_status_str(st));
	if (a->versions->len == 0) {
		printf("versions    none%s\n",
		       st == ST_WAITING_LOGIN
			   ? " (waits for the next login)"
			   : "");
		return;
	}
	printf("versions\n");
	for (guint i = 0; i < a->versions->len; i++) {
		const SmtpcredVersion *v = g_ptr_array_index(a->versions, i);

		printf("  v%-4u %-8s%s created %s promoted %s not_after %s",
		       v->version, smtpcred_state_to_string(v->state),
		       v->commit ? "*" : " ",
		       fmt_time(v->created, t1, sizeof(t1)),
		       fmt_time(v->promoted, t2, sizeof(t2)),
		       fmt_time(v->not_after, t3, sizeof(t3)));
		if (v->verified > 0)
			printf(" verified %s",
			       fmt_time(v->verified, t1, sizeof(t1)));
		if (v->grace_until > 0)
			printf(" grace_until %s",
			       fmt_time(v->grace_until, t1, sizeof(t1)));
		putchar('\n');
	}
}

int
cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	g_autoptr(SmtpcredAccount) acc = NULL;
	gboolean json = FALSE;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			puts("Usage: smtpcred show NAME [--json]\n\n"
			     "Shows an account's settings and every stored "
			     "version with its state and\ntimestamps "
			     "(never the password).  '*' marks a version "
			     "with a committed\npromote or rollback that "
			     "'rotate --resume' finishes.");
			return EXIT_OK;
		case 'j':
			json = TRUE;
			break;
		default:
			return cli_bad_option("show", c, argv);
		}
	}
	if (optind != argc - 1)
		return cli_usage("show", "exactly one account NAME is "
					 "expected");
	store = cli_store(&error);
	if (store == NULL)
		return cli_fail(error);
	acc = smtpcred_store_get(store, argv[optind], &error);
	if (acc == NULL)
		return cli_fail_account(argv[optind], error);
	if (json)
		show_json(acc, account_status(acc, 0, FALSE, smtpcred_now(), NULL));
	else
		show_text(acc, account_status(acc, 0, FALSE, smtpcred_now(), NULL));
	warn_locked(acc->locked);
	return EXIT_OK;
}
