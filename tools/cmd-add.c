/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* smtpcred add, smtpcred remove */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "parse.h"

static void
add_usage(FILE *f)
{
	fputs("Usage: smtpcred add NAME --host HOST --user USER [--port PORT]\n"
	      "         [--tls implicit|starttls|none-loopback] [--mechs LIST]\n"
	      "         [--ca-file FILE] [--pin sha256//BASE64] [--max-age DAYS]\n"
	      "         [--warn-days N] [--grace DAYS] [--keep N] [--enforce]\n"
	      "         [--audit-fail closed|open] [--source login]\n"
	      "         [--password-stdin | --password-fd N]\n"
	      "         [--allow-user LIST] [--allow-group LIST] "
	      "[--allow-unit LIST]\n\n"
	      "Stores account NAME and its first password (asked on the "
	      "terminal\nunless --password-stdin or --password-fd is given). "
	      "With --source login\nno password is asked: pam_smtpcred stores "
	      "it at the next login.\n\n"
	      "With --system, in the broker's store, --allow-* say who may send "
	      "with it\nthrough smtpcredd: comma-separated user names or uids, "
	      "group names or\ngids, systemd units.  Root always may; nobody "
	      "else unless listed\n(smtpcred --system allow changes the "
	      "lists).\n",
	      f);
}

static int
days_arg(const char *opt, const char *arg, guint *out)
{
	unsigned v;

	if (parse_uint(arg, 0, 36500, &v) < 0)
		return cli_usage("add", "%s: '%s' is not a number of days "
					"(0-36500)", opt, arg);
	*out = v;
	return 0;
}

int
cmd_add(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"allow-group", required_argument, NULL, 'G'},
	    {"allow-unit", required_argument, NULL, 'N'},
	    {"allow-user", required_argument, NULL, 'U'},
	    {"audit-fail", required_argument, NULL, 'a'},
	    {"ca-file", required_argument, NULL, 'c'},
	    {"enforce", no_argument, NULL, 'e'},
	    {"grace", required_argument, NULL, 'g'},
	    {"help", no_argument, NULL, 'h'},
	    {"host", required_argument, NULL, 'H'},
	    {"keep", required_argument, NULL, 'k'},
	    {"max-age", required_argument, NULL, 'm'},
	    {"mechs", required_argument, NULL, 'M'},
	    {"password-fd", required_argument, NULL, 'F'},
	    {"password-stdin", no_argument, NULL, 'S'},
	    {"pin", required_argument, NULL, 'p'},
	    {"port", required_argument, NULL, 'P'},
	    {"source", required_argument, NULL, 's'},
	    {"tls", required_argument, NULL, 't'},
	    {"user", required_argument, NULL, 'u'},
	    {"warn-days", required_argument, NULL, 'w'},
	    {NULL, 0, NULL, 0},
	};
	g_auto(SmtpcredSettings) s = {
	    .max_age_days = 90,
	    .warn_days = 14,
	    .grace_days = 7,
	    .keep = 2,
	};
	CliSecretSource src = {.fd = -1};
	_cleanup_secbuf_ secbuf secret = SECBUF_INIT;
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	g_autofree char *ca_file = NULL;
	const char *host = NULL, *user = NULL, *tls = NULL, *mechs = NULL;
	const char *pin = NULL, *source = NULL;
	SmtpcredAccess allow = {0};
	uint16_t port = 0;
	unsigned keep;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (strcmp(optarg, "closed") != 0 &&
			    strcmp(optarg, "open") != 0)
				return cli_usage("add", "--audit-fail: '%s' is "
							"not closed or open",
						 optarg);
			s.audit_fail_open = strcmp(optarg, "open") == 0;
			break;
		case 'c':
			ca_file = g_canonicalize_filename(optarg, NULL);
			if (access(ca_file, R_OK) < 0) {
				cli_msg("add: cannot read the CA file '%s': "
					"%s",
					ca_file, g_strerror(errno));
				return EXIT_DATAERR;
			}
			break;
		case 'e':
			s.enforce = TRUE;
			break;
		case 'G':
			allow.groups = optarg;
			break;
		case 'N':
			allow.units = optarg;
			break;
		case 'U':
			allow.users = optarg;
			break;
		case 'F':
			rc = cli_parse_fd("add", optarg, &src.fd);
			if (rc != 0)
				return rc;
			break;
		case 'g':
			rc = days_arg("--grace", optarg, &s.grace_days);
			if (rc != 0)
				return rc;
			break;
		case 'h':
			add_usage(stdout);
			return EXIT_OK;
		case 'H':
			host = optarg;
			break;
		case 'k':
			if (parse_uint(optarg, 0, 100, &keep) < 0)
				return cli_usage("add", "--keep: '%s' is not a "
							"number (0-100)",
						 optarg);
			s.keep = keep;
			break;
		case 'm':
			rc = days_arg("--max-age", optarg, &s.max_age_days);
			if (rc != 0)
				return rc;
			break;
		case 'M':
			mechs = optarg;
			break;
		case 'p':
			pin = optarg;
			break;
		case 'P':
			if (parse_port(optarg, &port) < 0)
				return cli_usage("add", "--port: '%s' is not "
							"a port (1-65535)",
						 optarg);
			break;
		case 's':
			if (strcmp(optarg, "login") != 0)
				return cli_usage("add", "--source: only "
							"'login' is known");
			source = optarg;
			break;
		case 'S':
			src.from_stdin = TRUE;
			break;
		case 't':
			if (strcmp(optarg, "implicit") != 0 &&
			    strcmp(optarg, "starttls") != 0 &&
			    strcmp(optarg, "none-loopback") != 0)
				return cli_usage("add", "--tls: '%s' is not "
							"implicit, starttls or "
							"none-loopback",
						 optarg);
			tls = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'w':
			rc = days_arg("--warn-days", optarg, &s.warn_days);
			if (rc != 0)
				return rc;
			break;
		default:
			return cli_bad_option("add", c, argv);
		}
	}
	if (optind != argc - 1)
		return cli_usage("add", optind >= argc
					    ? "the account NAME is missing"
					    : "exactly one account NAME is "
					      "expected");
	if (host == NULL)
		return cli_usage("add", "--host is required");
	if ((allow.users || allow.groups || allow.units) &&
	    smtpcred_system_dir() == NULL)
		return cli_usage("add", "--allow-user, --allow-group and "
					"--allow-unit are for the system store "
					"(smtpcred --system add)");
	if (user == NULL)
		return cli_usage("add", "--user is required");
	if (source != NULL && (src.from_stdin || src.fd >= 0))
		return cli_usage("add", "--source login takes no password");
	if (tls == NULL)
		tls = port == 465 ? "implicit" : "starttls";
	if (port == 0)
		port = strcmp(tls, "implicit") == 0 ? 465 : 587;
	if (strcmp(tls, "none-loopback") == 0 &&
	    strcmp(host, "localhost") != 0 && strcmp(host, "127.0.0.1") != 0 &&
	    strcmp(host, "::1") != 0)
		return cli_usage("add", "--tls none-loopback is only allowed "
					"with --host localhost, 127.0.0.1 or "
					"::1");

	s.name = g_strdup(argv[optind]);
	s.host = g_strdup(host);
	s.port = port;
	s.tls = g_strdup(tls);
	s.user = g_strdup(user);
	s.mechs = g_strdup(mechs != NULL ? mechs : "SCRAM-SHA-256,PLAIN,LOGIN");
	s.ca_file = g_steal_pointer(&ca_file);
	s.pin = g_strdup(pin);
	s.source = g_strdup(source);

	/* Check everything but the keyring before asking for a password. */
	if (!smtpcred_settings_validate(&s, &error))
		return cli_fail(error);
	if (source == NULL) {
		rc = cli_read_secret(s.name, &src, &secret);
		if (rc != 0)
			return rc;
	}
	store = cli_store(&error);
	if (store == NULL)
		return cli_fail(error);
	if (!smtpcred_store_add(store, &s, secret.data, secret.len, &error))
		return cli_fail_account(s.name, error);
	if ((allow.users || allow.groups || allow.units) &&
	    !smtpcred_store_set_access(store, s.name, &allow, &error)) {
		cli_msg("added %s, but its access lists were not set", s.name);
		return cli_fail_account(s.name, error);
	}
	if (source != NULL)
		printf("added %s; version 1 will be stored at the next login\n",
		       s.name);
	else
		printf("added %s version 1\n", s.name);
	return EXIT_OK;
}

/* Ask on the terminal; ACC (when known) tells how many versions go. */
static gboolean
confirm_remove(const char *name, const SmtpcredAccount *acc)
{
	char answer[16] = "";

	if (acc != NULL)
		fprintf(stderr, "Remove %s and its %u stored versions? [y/N] ",
			name, acc->versions->len);
	else
		fprintf(stderr, "Remove %s and all its stored versions? "
				"[y/N] ",
			name);
	if (fgets(answer, sizeof(answer), stdin) == NULL ||
	    (answer[0] != 'y' && answer[0] != 'Y')) {
		cli_msg("not removed");
		return FALSE;
	}
	return TRUE;
}

int
cmd_remove(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"yes", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	g_autoptr(SmtpcredAccount) acc = NULL;
	gboolean yes = FALSE;
	guint n;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":hy", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			puts("Usage: smtpcred remove NAME [--yes]\n\n"
			     "Deletes account NAME and every stored version "
			     "of its password.\nAsks for confirmation on a "
			     "terminal unless --yes is given.");
			return EXIT_OK;
		case 'y':
			yes = TRUE;
			break;
		default:
			return cli_bad_option("remove", c, argv);
		}
	}
	if (optind != argc - 1)
		return cli_usage("remove", "exactly one account NAME is "
					   "expected");
	/* Through the broker the command has no terminal to ask on. */
	if (cli.remote && !yes && isatty(STDIN_FILENO) &&
	    isatty(STDERR_FILENO)) {
		if (!confirm_remove(argv[optind], NULL))
			return EXIT_FAIL;
		cli_remote_option("--yes");
	}
	store = cli_store(&error);
	if (store == NULL)
		return cli_fail(error);
	acc = smtpcred_store_get(store, argv[optind], &error);
	if (acc == NULL)
		return cli_fail_account(argv[optind], error);
	n = acc->versions->len + 1;
	if (!yes && isatty(STDIN_FILENO) && isatty(STDERR_FILENO) &&
	    !confirm_remove(argv[optind], acc))
		return EXIT_FAIL;
	if (!smtpcred_store_remove(store, argv[optind], &error))
		return cli_fail_account(argv[optind], error);
	printf("removed %s (%u items)\n", argv[optind], n);
	return EXIT_OK;
}
