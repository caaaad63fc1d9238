/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* smtpcred rotate, smtpcred rollback */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include <smtpsend/smtpsend.h>

#include "cli.h"
#include "parse.h"

/* The verify hook: an SMTP AUTH test with the pending secret (connect,
 * TLS verified, EHLO, AUTH, QUIT; no mail).  The secret is handed to the
 * sender through a one-shot provider that borrows the rotation's own copy:
 * nothing is duplicated, and the rotation wipes it. */
typedef struct {
	const char *user;
	const char *secret;
	size_t len;
	unsigned code; /* the server's AUTH reply */
} OneShot;

static int
os_acquire(void *ud, const char *account, const char *purpose,
	   unsigned timeout_ms, void **lease, char *msg, size_t msglen)
{
	(void)account;
	(void)purpose;
	(void)timeout_ms;
	(void)msg;
	(void)msglen;
	*lease = ud;
	return 0;
}

static const char *
os_user(void *lease)
{
	return ((OneShot *)lease)->user;
}

static int
os_borrow(void *lease, const char **secret, size_t *len)
{
	*secret = ((OneShot *)lease)->secret;
	*len = ((OneShot *)lease)->len;
	return 0;
}

static void
os_report(void *lease, unsigned smtp_code, const char *server)
{
	(void)server;
	((OneShot *)lease)->code = smtp_code;
}

static void
os_nothing(void *lease)
{
	(void)lease;
}

static smtpsend_tls_mode
tls_mode(const char *s)
{
	if (g_strcmp0(s, "implicit") == 0)
		return SMTPSEND_TLS_IMPLICIT;
	if (g_strcmp0(s, "none-loopback") == 0)
		return SMTPSEND_TLS_NONE_LOOPBACK;
	return SMTPSEND_TLS_STARTTLS;
}

static gboolean
verify_smtp(const SmtpcredSettings *settings, const char *secret,
	    gsize secret_len, gpointer user_data, GError **error)
{
	OneShot shot = {.user = settings->user,
			.secret = secret,
			.len = secret_len};
	const smtpsend_provider provider = {
	    .struct_version = 1,
	    .userdata = &shot,
	    .acquire = os_acquire,
	    .user = os_user,
	    .borrow = os_borrow,
	    .give_back = os_nothing,
	    .report = os_report,
	    .release = os_nothing,
	};
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_session *s = NULL;
	int r;

	(void)user_data;
	o.host = settings->host;
	o.port = settings->port;
	o.tls = tls_mode(settings->tls);
	o.ca_file = settings->ca_file;
	o.pin = settings->pin;
	o.mechs = settings->mechs;
	o.account = settings->name;
	o.purpose = "rotate --verify";
	o.provider = &provider;
	o.timeout_ms = 60000;
	r = smtpsend_session_new(&s, &o, &err);
	if (r == 0)
		r = smtpsend_session_verify_auth(s, &err);
	smtpsend_session_free(s);
	if (r < 0) {
		g_set_error(error, SMTPCRED_ERROR, SMTPCRED_ERROR_VERIFY,
			    "SMTP AUTH test against %s:%u failed (%s%s%s)",
			    settings->host, settings->port,
			    err.stage != NULL ? err.stage : "",
			    err.stage != NULL ? ": " : "", err.message);
		return FALSE;
	}
	return TRUE;
}

/* "version N is current (version M is previous until T)" */
static void
print_state(SmtpcredStore *store, const char *verb, const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredAccount) acc = smtpcred_store_get(store, name, &error);
	const SmtpcredVersion *cur, *prev = NULL;
	char t[RFC3339_BUFSZ];

	if (acc == NULL) {
		printf("%s %s\n", verb, name);
		return;
	}
	cur = smtpcred_account_usable(acc, NULL);
	for (guint i = 0; i < acc->versions->len; i++) {
		const SmtpcredVersion *v = g_ptr_array_index(acc->versions, i);

		if (v->state == SMTPCRED_STATE_PREVIOUS &&
		    (prev == NULL || v->grace_until > prev->grace_until))
			prev = v;
	}
	printf("%s %s: version %u is current", verb, name,
	       cur != NULL ? cur->version : 0);
	if (prev != NULL)
		printf(" (version %u is previous until %s)", prev->version,
		       fmt_time(prev->grace_until, t, sizeof(t)));
	putchar('\n');
}

static void
rotate_usage(void)
{
	puts("Usage: smtpcred rotate NAME [--verify] [--password-stdin | "
	     "--password-fd N]\n"
	     "       smtpcred rotate NAME --resume [--verify]\n"
	     "       smtpcred rotate NAME --abort\n\n"
	     "Stages a new password as a pending version, optionally "
	     "verifies it with an\nSMTP AUTH test (--verify; no mail is "
	     "sent), then promotes it: the old\nversion stays usable as "
	     "'previous' for the account's grace window.\n"
	     "--resume finishes an interrupted rotation; --abort drops an "
	     "uncommitted one.");
}

int
cmd_rotate(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"abort", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {"password-fd", required_argument, NULL, 'F'},
	    {"password-stdin", no_argument, NULL, 'S'},
	    {"resume", no_argument, NULL, 'r'},
	    {"verify", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	CliSecretSource src = {.fd = -1};
	_cleanup_secbuf_ secbuf secret = SECBUF_INIT;
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	gboolean resume = FALSE, abort_ = FALSE, verify = FALSE;
	const char *name;
	guint version = 0;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			abort_ = TRUE;
			break;
		case 'F':
			rc = cli_parse_fd("rotate", optarg, &src.fd);
			if (rc != 0)
				return rc;
			break;
		case 'h':
			rotate_usage();
			return EXIT_OK;
		case 'r':
			resume = TRUE;
			break;
		case 'S':
			src.from_stdin = TRUE;
			break;
		case 'v':
			verify = TRUE;
			break;
		default:
			return cli_bad_option("rotate", c, argv);
		}
	}
	if (optind != argc - 1)
		return cli_usage("rotate", "exactly one account NAME is "
					   "expected");
	name = argv[optind];
	if (resume && abort_)
		return cli_usage("rotate", "--resume and --abort exclude each "
					   "other");
	if ((resume || abort_) && (src.from_stdin || src.fd >= 0))
		return cli_usage("rotate", "--resume and --abort take no "
					   "password");
	if (abort_ && verify)
		return cli_usage("rotate", "--abort takes no --verify");

	if (!resume && !abort_) {
		g_autoptr(GError) e = NULL;

		if (!smtpcred_name_validate(name, &e))
			return cli_fail(e);
		rc = cli_read_secret(name, &src, &secret);
		if (rc != 0)
			return rc;
	}
	store = cli_store(&error);
	if (store == NULL)
		return cli_fail(error);

	if (abort_) {
		g_autoptr(SmtpcredAccount) acc =
		    smtpcred_store_get(store, name, NULL);
		guint pending = 0;

		for (guint i = 0; acc != NULL && i < acc->versions->len; i++) {
			const SmtpcredVersion *v =
			    g_ptr_array_index(acc->versions, i);

			if (v->state == SMTPCRED_STATE_PENDING)
				pending = v->version;
		}
		if (!smtpcred_store_rotate_abort(store, name, &error))
			return cli_fail_account(name, error);
		printf("aborted pending version %u of %s\n", pending, name);
		return EXIT_OK;
	}
	if (resume) {
		gboolean repaired = FALSE;

		if (!smtpcred_store_rotate_resume(store, name,
						  verify ? verify_smtp : NULL,
						  NULL, &repaired, &error))
			return cli_fail_account(name, error);
		if (!repaired) {
			printf("%s: nothing to resume\n", name);
			return EXIT_OK;
		}
		print_state(store, "resumed", name);
		return EXIT_OK;
	}
	if (!smtpcred_store_rotate(store, name, secret.data, secret.len,
				   verify ? verify_smtp : NULL, NULL, "manual",
				   &version, &error))
		return cli_fail_account(name, error);
	print_state(store, "rotated", name);
	return EXIT_OK;
}

int
cmd_rollback(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(SmtpcredStore) store = NULL;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			puts("Usage: smtpcred rollback NAME\n\n"
			     "Makes the previous password current again, "
			     "while it is inside the\naccount's grace window "
			     "(see 'smtpcred show NAME').");
			return EXIT_OK;
		default:
			return cli_bad_option("rollback", c, argv);
		}
	}
	if (optind != argc - 1)
		return cli_usage("rollback", "exactly one account NAME is "
					     "expected");
	store = cli_store(&error);
	if (store == NULL)
		return cli_fail(error);
	if (!smtpcred_store_rollback(store, argv[optind], &error))
		return cli_fail_account(argv[optind], error);
	{
		g_autoptr(SmtpcredAccount) acc =
		    smtpcred_store_get(store, argv[optind], NULL);
		const SmtpcredVersion *cur =
		    acc != NULL ? smtpcred_account_usable(acc, NULL) : NULL;

		printf("rolled back %s: version %u is current again\n",
		       argv[optind], cur != NULL ? cur->version : 0);
	}
	return EXIT_OK;
}
