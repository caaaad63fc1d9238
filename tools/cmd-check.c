/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* smtpcred check (monitoring), smtpcred doctor (diagnosis and repair) */
#include "config.h"

#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/crypto.h>
#define SECRET_WITH_UNSTABLE 1
#define SECRET_API_SUBJECT_TO_CHANGE 1
#include <libsecret/secret.h>

#include <smtpsend/smtpsend.h>

#include "cli.h"
#include "parse.h"

/* Monitoring severity of a status: 0 ok, 1 warning, 2 overdue/broken. */
static int
severity(AccountStatus st)
{
	switch (st) {
	case ST_OK:
	case ST_WAITING_LOGIN:
		return 0;
	case ST_WARNING:
	case ST_PENDING:
		return 1;
	case ST_OVERDUE:
	case ST_NO_CURRENT:
	case ST_AMBIGUOUS:
	case ST_LOCKED:
		return 2;
	}
	return 2;
}

/* One line describing an account's problem (empty for ok). */
static char *
describe(const SmtpcredAccount *a, AccountStatus st,
	 const SmtpcredVersion *u, gint64 now)
{
	char t[RFC3339_BUFSZ];

	switch (st) {
	case ST_OK:
	case ST_WAITING_LOGIN:
		return NULL;
	case ST_WARNING:
		return g_strdup_printf(
		    "%s: warning: version %u expires %s (in %" G_GINT64_FORMAT
		    " days); rotate it",
		    a->settings.name, u->version,
		    fmt_time(u->not_after, t, sizeof(t)),
		    (u->not_after - now + 86399) / 86400);
	case ST_PENDING:
		return g_strdup_printf("%s: warning: an interrupted rotation "
				       "is pending; run 'smtpcred rotate %s "
				       "--resume' or '--abort'",
				       a->settings.name, a->settings.name);
	case ST_OVERDUE:
		return g_strdup_printf(
		    "%s: overdue: version %u expired %s (%" G_GINT64_FORMAT
		    " days ago)%s",
		    a->settings.name, u->version,
		    fmt_time(u->not_after, t, sizeof(t)),
		    (now - u->not_after) / 86400,
		    a->settings.enforce ? "; leases are refused" : "");
	case ST_NO_CURRENT:
		return g_strdup_printf("%s: broken: no current version",
				       a->settings.name);
	case ST_AMBIGUOUS:
		return g_strdup_printf("%s: broken: more than one current "
				       "version (ambiguous)",
				       a->settings.name);
	case ST_LOCKED:
		return g_strdup_printf("%s: locked: the keyring collection is "
				       "locked",
				       a->settings.name);
	}
	return NULL;
}

int
cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"warn-days", required_argument, NULL, 'w'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	g_autoptr(GPtrArray) accounts = NULL;
	gboolean use_warn = FALSE, locked = FALSE;
	unsigned warn_days = 0;
	guint counts[3] = {0, 0, 0};
	gint64 now = smtpcred_now();
	int c, worst = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			puts("Usage: smtpcred check [--warn-days N]\n\n"
			     "For monitoring: prints one line per account with "
			     "a problem and exits\n0 all ok, 1 warning (expiry "
			     "within the warning window, an interrupted\n"
			     "rotation), 2 overdue or broken (expired, no or "
			     "two current versions,\nlocked keyring, keyring "
			     "unreachable).  --warn-days overrides every\n"
			     "account's warning window.");
			return EXIT_OK;
		case 'w':
			if (parse_uint(optarg, 0, 36500, &warn_days) < 0)
				return cli_usage("check", "--warn-days: '%s' "
							  "is not a number "
							  "(0-36500)",
						 optarg);
			use_warn = TRUE;
			break;
		default:
			return cli_bad_option("check", c, argv);
		}
	}
	if (optind != argc)
		return cli_usage("check", "unexpected argument '%s'",
				 argv[optind]);
	store = cli_store(&error);
	if (store == NULL) {
		cli_fail(error);
		return 2;
	}
	if (!smtpcred_store_is_locked(store, &locked, &error)) {
		cli_fail(error);
		return 2;
	}
	if (locked) {
		puts("keyring: locked: the default collection is locked; "
		     "leases will fail");
		worst = 2;
	}
	accounts = smtpcred_store_list(store, &error);
	if (accounts == NULL) {
		cli_fail(error);
		return 2;
	}
	for (guint i = 0; i < accounts->len; i++) {
		const SmtpcredAccount *a = g_ptr_array_index(accounts, i);
		const SmtpcredVersion *u = NULL;
		AccountStatus st = account_status(a, warn_days, use_warn, now,
						  &u);
		g_autofree char *line = describe(a, st, u, now);
		int sev = severity(st);

		counts[sev]++;
		worst = MAX(worst, sev);
		if (line != NULL)
			puts(line);
	}
	printf("%u account%s: %u ok, %u warning, %u overdue or broken\n",
	       accounts->len, accounts->len == 1 ? "" : "s", counts[0],
	       counts[1], counts[2]);
	return worst;
}

/* ---- doctor ------------------------------------------------------------ */

typedef struct {
	int fails;
	int warns;
} Report;

static void
line(Report *r, int level, const char *what, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void
line(Report *r, int level, const char *what, const char *fmt, ...)
{
	static const char *const tag[] = {"ok  ", "warn", "FAIL"};
	g_autofree char *detail = NULL;
	va_list ap;

	va_start(ap, fmt);
	detail = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	printf("%s  %s: %s\n", tag[level], what, detail);
	if (level == 2)
		r->fails++;
	else if (level == 1)
		r->warns++;
}

static void
check_audit(Report *r)
{
	g_autofree char *path = smtpcred_audit_path();
	g_autoptr(GError) error = NULL;
	guint64 n = 0, bad = 0;

	if (smtpcred_audit_check(path, &error)) {
		line(r, 0, "audit log", "%s is writable", path);
	} else {
		g_autofree char *msg = cli_escape(error->message);

		line(r, 2, "audit log", "%s", msg);
		g_clear_error(&error);
	}
	if (smtpcred_audit_verify(path, &n, &bad, &error)) {
		line(r, 0, "audit chain", "%" G_GUINT64_FORMAT
					  " records, intact",
		     n);
	} else {
		g_autofree char *msg = cli_escape(error->message);

		line(r, 2, "audit chain", "%s", msg);
	}
}

/* The real path of the shared object that holds fn. */
static char *
loaded_from(const void *fn)
{
	Dl_info info;
	char *real;

	if (dladdr(fn, &info) == 0 || info.dli_fname == NULL)
		return NULL;
	real = realpath(info.dli_fname, NULL);
	if (real == NULL)
		return g_strdup(info.dli_fname);
	/* realpath() memory is malloc's, ours is GLib's. */
	{
		char *copy = g_strdup(real);

		free(real);
		return copy;
	}
}

static void
check_versions(Report *r)
{
	unsigned long ossl = OpenSSL_version_num();
	g_autofree char *secret_path = NULL;

	line(r,
	     glib_check_version(2, 74, 0) == NULL ? 0 : 2, "GLib",
	     "%u.%u.%u in use (floor %s)", glib_major_version,
	     glib_minor_version, glib_micro_version, SMTPCRED_GLIB_FLOOR);
	/* libsecret has no run-time version query: report what we were
	 * built against (the build refuses anything below the floor) and
	 * the file the dynamic linker actually loaded. */
	secret_path = loaded_from((const void *)secret_service_get);
	line(r, SECRET_CHECK_VERSION(0, 20, 0) ? 0 : 2, "libsecret",
	     "%d.%d.%d at build time (floor %s), loaded from %s",
	     SECRET_MAJOR_VERSION, SECRET_MINOR_VERSION, SECRET_MICRO_VERSION,
	     SMTPCRED_SECRET_FLOOR, secret_path != NULL ? secret_path : "?");
	line(r, ossl >= 0x30000000UL ? 0 : 2, "OpenSSL",
	     "%s in use (floor %s)", OpenSSL_version(OPENSSL_VERSION),
	     SMTPCRED_OPENSSL_FLOOR);
}

/* The system store and its broker (smtpcred --system doctor). */
static SmtpcredStore *
check_system(Report *r)
{
	g_autoptr(GError) error = NULL;
	SmtpcredStore *store;
	smtpsend_error e = SMTPSEND_ERROR_INIT;
	char info[1024];
	const char *seal;

	store = cli_store(&error);
	if (store == NULL) {
		g_autofree char *msg = cli_escape(error->message);

		line(r, 2, "system store", "%s", msg);
		return NULL;
	}
	line(r, 0, "system store", "%s", smtpcred_system_dir());
	seal = smtpcred_system_seal(&error);
	if (seal == NULL) {
		g_autofree char *msg = cli_escape(error->message);

		line(r, 2, "master key", "%s", msg);
	} else {
		line(r, 0, "master key", "%s", seal);
	}
	/* The broker is started by its socket: not running is a warning
	 * only when its socket is missing too. */
	if (smtpsend_broker_ping(NULL, info, sizeof(info), &e) == 0) {
		g_autofree char *msg = cli_escape(info);

		line(r, 0, "broker", "%s", msg);
	} else {
		g_autofree char *msg = cli_escape(e.message);

		line(r, 1, "broker", "%s", msg);
	}
	return store;
}

int
cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"fix", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	g_autoptr(GPtrArray) accounts = NULL;
	Report r = {0, 0};
	gboolean fix = FALSE, locked = FALSE;
	const char *bus = g_getenv("DBUS_SESSION_BUS_ADDRESS");
	gint64 now = smtpcred_now();
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fix = TRUE;
			break;
		case 'h':
			puts("Usage: smtpcred doctor [--fix]\n\n"
			     "Checks the session bus, the Secret Service, the "
			     "lock state of the\ndefault collection, the audit "
			     "log and its chain, library versions\nagainst "
			     "their floors, and every account.  --fix "
			     "finishes interrupted\nrotations (rotate "
			     "--resume).  Exits 1 when anything FAILs.\n"
			     "With --system: the system store, how its master "
			     "key is sealed, and\nthe broker (smtpcredd) on its "
			     "socket ($SMTPCRED_BROKER_SOCKET).");
			return EXIT_OK;
		default:
			return cli_bad_option("doctor", c, argv);
		}
	}
	if (optind != argc)
		return cli_usage("doctor", "unexpected argument '%s'",
				 argv[optind]);

	cli_remote_run();
	check_versions(&r);
	check_audit(&r);
	if (smtpcred_system_dir() != NULL) {
		store = check_system(&r);
		if (store == NULL)
			return EXIT_FAIL;
		goto accounts;
	}
	store = cli_store(&error);
	if (store == NULL) {
		g_autofree char *msg = cli_escape(error->message);
		gboolean no_bus = g_error_matches(error, SMTPCRED_ERROR,
						  SMTPCRED_ERROR_NO_BUS);

		line(&r, no_bus ? 2 : 0, "session bus", "%s",
		     no_bus ? msg : "reachable");
		if (!no_bus)
			line(&r, 2, "Secret Service", "%s", msg);
		return r.fails > 0 ? EXIT_FAIL : EXIT_OK;
	}
	line(&r, 0, "session bus", "reachable (%s)",
	     bus != NULL ? "DBUS_SESSION_BUS_ADDRESS" : "default address");
	{
		g_autofree char *impl = NULL;
		g_autofree char *version = NULL;

		if (smtpcred_store_service_info(store, &impl, &version,
						NULL)) {
			g_autofree char *ei = cli_escape(impl);
			g_autofree char *ev =
			    version != NULL ? cli_escape(version) : NULL;

			line(&r, 0, "Secret Service", "reachable: %s %s", ei,
			     ev != NULL ? ev : "(version unknown)");
		} else {
			line(&r, 0, "Secret Service", "reachable");
		}
	}
	if (!smtpcred_store_is_locked(store, &locked, &error)) {
		g_autofree char *msg = cli_escape(error->message);

		line(&r, 2, "default collection", "%s", msg);
		return EXIT_FAIL;
	}
	line(&r, locked ? 2 : 0, "default collection", "%s",
	     locked ? "locked (unlock it; leases and changes will fail)"
		    : "unlocked");

accounts:
	accounts = smtpcred_store_list(store, &error);
	if (accounts == NULL) {
		g_autofree char *msg = cli_escape(error->message);

		line(&r, 2, "accounts", "%s", msg);
		return EXIT_FAIL;
	}
	for (guint i = 0; i < accounts->len; i++) {
		const SmtpcredAccount *a = g_ptr_array_index(accounts, i);
		const SmtpcredVersion *u = NULL;
		AccountStatus st = account_status(a, 0, FALSE, now, &u);
		g_autofree char *what =
		    g_strdup_printf("account %s", a->settings.name);
		g_autofree char *desc = describe(a, st, u, now);

		if (st == ST_PENDING && fix) {
			g_autoptr(GError) e = NULL;
			gboolean repaired = FALSE;

			if (smtpcred_store_rotate_resume(store,
							 a->settings.name,
							 NULL, NULL, &repaired,
							 &e))
				line(&r, 0, what, "interrupted rotation "
						  "finished");
			else
				line(&r, 2, what, "resume failed: %s",
				     e->message);
			continue;
		}
		{
			/* describe() starts with "NAME: "; the line already
			 * names the account. */
			const char *d = desc != NULL ? desc
						     : account_status_str(st);
			size_t n = strlen(a->settings.name);

			if (strncmp(d, a->settings.name, n) == 0 &&
			    d[n] == ':' && d[n + 1] == ' ')
				d += n + 2;
			line(&r, MIN(severity(st), 2), what, "%s", d);
		}
	}
	if (accounts->len == 0)
		line(&r, 0, "accounts", "none stored");
	return r.fails > 0 ? EXIT_FAIL : EXIT_OK;
}
