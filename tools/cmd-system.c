/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* smtpcred --system init: make the broker's system store (docs/broker.md). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cli.h"

int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"owner", required_argument, NULL, 'o'},
	    {"seal", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	SmtpcredSeal seal = SMTPCRED_SEAL_AUTO;
	const char *owner = NULL, *how;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			puts("Usage: smtpcred --system init [--owner USER] "
			     "[--seal auto|systemd-creds|key-file]\n\n"
			     "Makes the system store of the broker (smtpcredd) "
			     "when there is none:\nits state directory, items/ "
			     "and a new master key, owned by USER (the\n"
			     "broker's user; default: the caller).  The key is "
			     "sealed with systemd-creds\n(the host key, TPM2 "
			     "where present; the broker gets it through\n"
			     "LoadCredentialEncrypted=) or kept in master.key, "
			     "readable only by USER.\nauto: systemd-creds when "
			     "it is installed and we are root.  An existing\n"
			     "store is only checked.");
			return EXIT_OK;
		case 'o':
			owner = optarg;
			break;
		case 's':
			if (strcmp(optarg, "auto") == 0)
				seal = SMTPCRED_SEAL_AUTO;
			else if (strcmp(optarg, "systemd-creds") == 0)
				seal = SMTPCRED_SEAL_SYSTEMD_CREDS;
			else if (strcmp(optarg, "key-file") == 0)
				seal = SMTPCRED_SEAL_KEY_FILE;
			else {
				g_autofree char *esc = cli_escape(optarg);

				return cli_usage("init",
						 "--seal: '%s' is not auto, "
						 "systemd-creds or key-file",
						 esc);
			}
			break;
		default:
			return cli_bad_option("init", c, argv);
		}
	}
	if (optind != argc)
		return cli_usage("init", "unexpected argument '%s'",
				 argv[optind]);
	if (smtpcred_system_dir() == NULL)
		return cli_usage("init", "init makes the system store: "
					 "'smtpcred --system init'");
	if (!smtpcred_system_init(seal, owner, &error))
		return cli_fail(error);
	how = smtpcred_system_seal(&error);
	if (how == NULL)
		return cli_fail(error);
	printf("system store %s: master key %s\n", smtpcred_system_dir(), how);
	return EXIT_OK;
}

int
cmd_allow(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"groups", required_argument, NULL, 'G'},
	    {"help", no_argument, NULL, 'h'},
	    {"units", required_argument, NULL, 'N'},
	    {"users", required_argument, NULL, 'U'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	g_auto(SmtpcredAccess) now = {0};
	SmtpcredAccess want = {0};
	gboolean given = FALSE;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			puts("Usage: smtpcred --system allow NAME [--users LIST] "
			     "[--groups LIST] [--units LIST]\n\n"
			     "Sets who may send with account NAME through the "
			     "broker (smtpcredd):\ncomma-separated user names "
			     "or uids, group names or gids (primary or\n"
			     "supplementary), systemd unit names.  A list not "
			     "given is kept; \"\"\nempties it.  Root always "
			     "may.  Without options, prints the lists.");
			return EXIT_OK;
		case 'G':
			want.groups = optarg;
			given = TRUE;
			break;
		case 'N':
			want.units = optarg;
			given = TRUE;
			break;
		case 'U':
			want.users = optarg;
			given = TRUE;
			break;
		default:
			return cli_bad_option("allow", c, argv);
		}
	}
	if (optind != argc - 1)
		return cli_usage("allow", optind >= argc
					      ? "the account NAME is missing"
					      : "exactly one account NAME is "
						"expected");
	if (smtpcred_system_dir() == NULL)
		return cli_usage("allow", "access lists are for the system "
					  "store: 'smtpcred --system allow'");
	store = cli_store(&error);
	if (store == NULL ||
	    !smtpcred_store_get_access(store, argv[optind], &now, &error))
		return cli_fail_account(argv[optind], error);
	if (given) {
		if (want.users == NULL)
			want.users = now.users;
		if (want.groups == NULL)
			want.groups = now.groups;
		if (want.units == NULL)
			want.units = now.units;
		if (!smtpcred_store_set_access(store, argv[optind], &want,
					       &error))
			return cli_fail_account(argv[optind], error);
	} else {
		want = now;
	}
	printf("users   %s\ngroups  %s\nunits   %s\n",
	       want.users && *want.users ? want.users : "-",
	       want.groups && *want.groups ? want.groups : "-",
	       want.units && *want.units ? want.units : "-");
	return EXIT_OK;
}
