/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * smtpcred-pam-helper --reason REASON [--account NAME...]
 *
 * Without --account: every account of the user marked source=login.
 * Run by pam_smtpcred as the user, with the password on stdin (never in
 * argv or the environment).  For each account (which must be marked
 * source=login) it stores the password when the account has no version
 * yet, rotates to it when it differs, and leaves everything alone when it
 * is equal (constant-time compare, smtpcred_store_sync).  The reason goes
 * to the audit log.  Exit codes: smtpcred-pam.h and pam_smtpcred(8).
 * It prints nothing; the module logs what the exit code means.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <smtpcred/smtpcred.h>

#include "secbuf.h"
#include "smtpcred-pam.h"

#define MAX_ACCOUNTS 16

/* The token: stdin up to EOF, at most 4096 bytes, one trailing newline
 * dropped (a terminal-style writer).  0 or -1. */
static int
read_token(secbuf *tok)
{
	char buf[512];

	for (;;) {
		/* Never more than the cap allows (one byte over tells). */
		size_t want = 4097 - tok->len < sizeof(buf) ? 4097 - tok->len
							    : sizeof(buf);
		ssize_t n = read(STDIN_FILENO, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			secure_wipe(buf, sizeof(buf));
			return -1;
		}
		if (n == 0)
			break;
		if (tok->len + (size_t)n > 4096 ||
		    secbuf_append(tok, buf, (size_t)n) < 0) {
			secure_wipe(buf, sizeof(buf));
			return -1;
		}
	}
	secure_wipe(buf, sizeof(buf));
	if (tok->len > 0 && tok->data[tok->len - 1] == '\n')
		tok->data[--tok->len] = '\0';
	return tok->len > 0 ? 0 : -1;
}

static int
exit_for(const GError *e)
{
	if (e == NULL || e->domain != SMTPCRED_ERROR)
		return PAMH_EXIT_FAILED;
	switch (e->code) {
	case SMTPCRED_ERROR_NO_BUS:
		return PAMH_EXIT_NO_BUS;
	case SMTPCRED_ERROR_NO_SERVICE:
	case SMTPCRED_ERROR_TIMEOUT:
		return PAMH_EXIT_NO_SERVICE;
	case SMTPCRED_ERROR_LOCKED:
		return PAMH_EXIT_LOCKED;
	case SMTPCRED_ERROR_NOT_FOUND:
	case SMTPCRED_ERROR_POLICY:
		return PAMH_EXIT_NOT_LOGIN;
	default:
		return PAMH_EXIT_FAILED;
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"account", required_argument, NULL, 'a'},
	    {"reason", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_secbuf_ secbuf tok = SECBUF_INIT;
	g_autoptr(SmtpcredStore) store = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = NULL;
	struct rlimit no_core = {0, 0};
	const char *accounts[MAX_ACCOUNTS], *reason = NULL;
	int n = 0, c, rc = PAMH_EXIT_UNCHANGED;

	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a' && n < MAX_ACCOUNTS && smtpcred_pam_name_ok(optarg))
			accounts[n++] = optarg;
		else if (c == 'r' && (strcmp(optarg, "login-sync") == 0 ||
				      strcmp(optarg, "password-change") == 0))
			reason = optarg;
		else
			return PAMH_EXIT_USAGE;
	}
	if (optind != argc || reason == NULL || read_token(&tok) < 0)
		return PAMH_EXIT_USAGE;

	store = smtpcred_store_new(SMTPCRED_STORE_NONE, 0, &error);
	if (store == NULL)
		return exit_for(error);
	if (n == 0) {
		all = smtpcred_store_list(store, &error);
		if (all == NULL)
			return exit_for(error);
		for (guint i = 0; i < all->len && n < MAX_ACCOUNTS; i++) {
			const SmtpcredAccount *a = g_ptr_array_index(all, i);

			if (g_strcmp0(a->settings.source, "login") == 0)
				accounts[n++] = a->settings.name;
		}
	}
	for (int i = 0; i < n; i++) {
		g_autoptr(GError) e = NULL;
		gboolean changed = FALSE;

		if (!smtpcred_store_sync(store, accounts[i], tok.data, tok.len,
					 reason, &changed, &e)) {
			int r = exit_for(e);

			/* The first failure decides, but every account is
			 * tried: one bad account must not stall the rest. */
			if (rc == PAMH_EXIT_UNCHANGED || rc == PAMH_EXIT_CHANGED)
				rc = r;
			continue;
		}
		if (changed && rc == PAMH_EXIT_UNCHANGED)
			rc = PAMH_EXIT_CHANGED;
	}
	return rc;
}
