/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * smtpcred: the admin CLI.  main() hardens the process, parses the global
 * options and dispatches to cmd_<verb>(); this file also holds the helpers
 * every command shares (errors, secrets from the terminal/stdin/fd, JSON).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "logsafe.h"
#include "parse.h"

#define SECRET_MAX 4096 /* same bound as the library's */

CliGlobal cli = {.timeout_ms = SMTPCRED_DEFAULT_TIMEOUT_MS};

void
cli_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("smtpcred: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("smtpcred: ", stderr);
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'smtpcred %s%s--help'.\n", cmd ? cmd : "",
		cmd ? " " : "");
	return EXIT_USAGE;
}

int
cli_bad_option(const char *cmd, int c, char *const *argv)
{
	const char *arg = argv[optind - 1];
	/* Never echo an option's value: '--password=...' must not show. */
	g_autofree char *name = g_strndup(arg, strcspn(arg, "="));
	g_autofree char *esc = cli_escape(name);

	if (c == ':')
		return cli_usage(cmd, "option '%s' needs a value", esc);
	return cli_usage(cmd, "unknown option '%s'", esc);
}

int
cli_fail_account(const char *account, const GError *error)
{
	g_autofree char *msg = cli_escape(error->message);
	g_autofree char *quoted = NULL;

	/* no "%s" with NULL: that is undefined behaviour */
	if (account != NULL)
		quoted = g_strdup_printf("'%s'", account);
	if (account == NULL || strstr(error->message, quoted) != NULL)
		cli_msg("%s", msg);
	else
		cli_msg("%s: %s", account, msg);
	return cli_exit_for(error);
}

int
cli_exit_for(const GError *error)
{
	if (error == NULL)
		return EXIT_OK;
	if (error->domain != SMTPCRED_ERROR)
		return EXIT_FAIL;
	switch ((SmtpcredError)error->code) {
	case SMTPCRED_ERROR_NO_BUS:
	case SMTPCRED_ERROR_NO_SERVICE:
	case SMTPCRED_ERROR_TIMEOUT:
		return EXIT_UNAVAILABLE;
	case SMTPCRED_ERROR_LOCKED:
	case SMTPCRED_ERROR_BUSY:
		return EXIT_TEMPFAIL;
	case SMTPCRED_ERROR_POLICY:
		return EXIT_NOPERM;
	case SMTPCRED_ERROR_AUDIT:
		return EXIT_IOERR;
	case SMTPCRED_ERROR_INVALID:
		return EXIT_DATAERR;
	case SMTPCRED_ERROR_NOT_FOUND:
	case SMTPCRED_ERROR_AMBIGUOUS:
	case SMTPCRED_ERROR_CONFLICT:
	case SMTPCRED_ERROR_VERIFY:
	case SMTPCRED_ERROR_FAILED:
		return EXIT_FAIL;
	}
	return EXIT_FAIL;
}

char *
cli_escape(const char *s)
{
	size_t n;
	char *out;

	if (s == NULL)
		return g_strdup("-");
	n = strlen(s);
	out = g_malloc(LOGSAFE_MAX(n));
	logsafe_escape(out, LOGSAFE_MAX(n), s, n);
	return out;
}

int
cli_fail(const GError *error)
{
	g_autofree char *msg = cli_escape(error->message);

	cli_msg("%s", msg);
	return cli_exit_for(error);
}

SmtpcredStore *
cli_store(GError **error)
{
	cli_remote_run();
	return smtpcred_store_new(cli.allow_prompt ? SMTPCRED_STORE_ALLOW_PROMPT
						   : SMTPCRED_STORE_NONE,
				  cli.timeout_ms, error);
}

int
cli_parse_fd(const char *cmd, const char *arg, int *fd)
{
	int v;

	if (parse_fd(arg, &v) < 0)
		return cli_usage(cmd, "--password-fd: '%s' is not a file "
				      "descriptor number", arg);
	if (fcntl(v, F_GETFD) < 0)
		return cli_usage(cmd, "--password-fd: file descriptor %d is "
				      "not open", v);
	*fd = v;
	return 0;
}

/* Read to EOF (at most SECRET_MAX + 2 bytes) into out. */
static int
read_all(int fd, secbuf *out, const char *what)
{
	for (;;) {
		ssize_t n;
		int r = secbuf_reserve(out, 512);

		if (r < 0 || out->len > SECRET_MAX + 2) {
			cli_msg("the password from %s is longer than %d bytes",
				what, SECRET_MAX);
			return EXIT_DATAERR;
		}
		n = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_msg("cannot read the password from %s: %s", what,
				g_strerror(errno));
			return EXIT_DATAERR;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
	}
	/* One trailing newline (LF or CRLF) is the line's end, not data. */
	if (out->len > 0 && out->data[out->len - 1] == '\n')
		out->len--;
	if (out->len > 0 && out->data[out->len - 1] == '\r')
		out->len--;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return 0;
}

/* Read one line from the terminal with echo off. */
static int
read_tty_line(int tty, const char *prompt, secbuf *out)
{
	struct termios old, quiet;
	char c;
	int rc = 0;

	if (tcgetattr(tty, &old) < 0)
		return EXIT_FAIL;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	/* Echo off before the prompt shows: what is typed once it is
	 * visible is neither echoed nor flushed away. */
	if (tcsetattr(tty, TCSAFLUSH, &quiet) < 0)
		return EXIT_FAIL;
	if (write(tty, prompt, strlen(prompt)) < 0) {
		tcsetattr(tty, TCSAFLUSH, &old);
		return EXIT_FAIL;
	}
	for (;;) {
		ssize_t n = read(tty, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n')
			break;
		if (out->len >= SECRET_MAX + 1 ||
		    secbuf_append(out, &c, 1) < 0) {
			rc = EXIT_DATAERR;
			break;
		}
	}
	c = 0;
	tcsetattr(tty, TCSAFLUSH, &old);
	if (write(tty, "\n", 1) < 0)
		rc = rc ? rc : EXIT_FAIL;
	return rc;
}

static int
read_tty(const char *account, secbuf *out)
{
	_cleanup_secbuf_ secbuf again = SECBUF_INIT;
	g_autofree char *prompt =
	    g_strdup_printf("Password for %s: ", account);
	int tty, rc;

	tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0) {
		cli_msg("no terminal to read the password from; use "
			"--password-stdin or --password-fd");
		return EXIT_USAGE;
	}
	rc = read_tty_line(tty, prompt, out);
	if (rc == 0)
		rc = read_tty_line(tty, "Repeat password: ", &again);
	close(tty);
	if (rc != 0) {
		cli_msg("cannot read the password from the terminal");
		return rc;
	}
	if (secure_memeq(out->data, out->len, again.data, again.len) != 0) {
		cli_msg("the passwords do not match; nothing was changed");
		return EXIT_DATAERR;
	}
	return 0;
}

int
cli_read_secret(const char *account, const CliSecretSource *src, secbuf *out)
{
	int rc;

	if (src->fd >= 0) {
		g_autofree char *what = g_strdup_printf("fd %d", src->fd);

		rc = read_all(src->fd, out, what);
	} else if (src->from_stdin) {
		rc = read_all(STDIN_FILENO, out, "stdin");
	} else {
		rc = read_tty(account, out);
	}
	if (rc != 0)
		return rc;
	if (out->len == 0) {
		cli_msg("the password is empty; nothing was changed");
		return EXIT_DATAERR;
	}
	if (out->len > SECRET_MAX) {
		cli_msg("the password is longer than %d bytes", SECRET_MAX);
		return EXIT_DATAERR;
	}
	if (memchr(out->data, '\0', out->len) != NULL) {
		cli_msg("the password contains a NUL byte; nothing was "
			"changed");
		return EXIT_DATAERR;
	}
	cli_remote_input(out);
	return 0;
}

/* ---- JSON -------------------------------------------------------------- */

static void
json_key(GString *s, const char *key, gboolean comma)
{
	if (comma)
		g_string_append_c(s, ',');
	g_string_append_printf(s, "\"%s\":", key);
}

void
json_str(GString *s, const char *key, const char *val, gboolean comma)
{
	size_t n;
	g_autofree char *esc = NULL;

	json_key(s, key, comma);
	if (val == NULL) {
		g_string_append(s, "null");
		return;
	}
	n = strlen(val);
	esc = g_malloc(LOGSAFE_MAX(n));
	logsafe_json(esc, LOGSAFE_MAX(n), val, n);
	g_string_append_printf(s, "\"%s\"", esc);
}

void
json_uint(GString *s, const char *key, guint64 val, gboolean comma)
{
	json_key(s, key, comma);
	g_string_append_printf(s, "%" G_GUINT64_FORMAT, val);
}

void
json_bool(GString *s, const char *key, gboolean val, gboolean comma)
{
	json_key(s, key, comma);
	g_string_append(s, val ? "true" : "false");
}

void
json_time(GString *s, const char *key, gint64 t, gboolean comma)
{
	char buf[RFC3339_BUFSZ];

	if (t <= 0 || format_rfc3339_utc(t, buf, sizeof(buf)) < 0) {
		json_key(s, key, comma);
		g_string_append(s, "null");
		return;
	}
	json_str(s, key, buf, comma);
}

const char *
fmt_time(gint64 t, char *buf, size_t n)
{
	if (t <= 0 || format_rfc3339_utc(t, buf, n) < 0)
		g_strlcpy(buf, "-", n);
	return buf;
}

/* clang-format off */
static const char *const status_names[] = {
	[ST_OK]			= "ok",
	[ST_WAITING_LOGIN]	= "waiting-login",
	[ST_WARNING]		= "warning",
	[ST_PENDING]		= "pending",
	[ST_OVERDUE]		= "overdue",
	[ST_NO_CURRENT]		= "no-current",
	[ST_AMBIGUOUS]		= "ambiguous",
	[ST_LOCKED]		= "locked",
};
/* clang-format on */
_Static_assert(G_N_ELEMENTS(status_names) == ST_LOCKED + 1,
	       "status_names out of sync with AccountStatus");

const char *
account_status_str(AccountStatus st)
{
	return status_names[st];
}

AccountStatus
account_status(const SmtpcredAccount *a, guint warn_days,
	       gboolean use_warn_days, gint64 now,
	       const SmtpcredVersion **usable)
{
	g_autoptr(GError) e = NULL;
	const SmtpcredVersion *u;
	guint warn = use_warn_days ? warn_days : a->settings.warn_days;

	u = smtpcred_account_usable(a, &e);
	if (usable != NULL)
		*usable = u;
	if (a->locked)
		return ST_LOCKED;
	if (u == NULL) {
		if (g_error_matches(e, SMTPCRED_ERROR,
				    SMTPCRED_ERROR_AMBIGUOUS))
			return ST_AMBIGUOUS;
		if (a->versions->len == 0 &&
		    g_strcmp0(a->settings.source, "login") == 0)
			return ST_WAITING_LOGIN;
		return ST_NO_CURRENT;
	}
	if (u->not_after > 0 && now > u->not_after)
		return ST_OVERDUE;
	for (guint i = 0; i < a->versions->len; i++) {
		const SmtpcredVersion *v = g_ptr_array_index(a->versions, i);

		if (v->state == SMTPCRED_STATE_PENDING || v->commit)
			return ST_PENDING;
	}
	if (u->not_after > 0 && now > u->not_after - (gint64)warn * 86400)
		return ST_WARNING;
	return ST_OK;
}

/* ---- main -------------------------------------------------------------- */

/* Test builds only: with SMTPCRED_TEST_EXIT_FIFO=PATH, once the command
 * is done the process writes its pid to PATH.ready and waits until
 * something opens PATH (a FIFO the test made) for writing and closes it,
 * so the test can read this process's memory before it exits
 * (tests/hygiene). */
static void
test_pause_at_exit(void)
{
#ifdef SMTPCRED_TEST_HOOKS
	const char *fifo = secure_getenv("SMTPCRED_TEST_EXIT_FIFO");
	g_autofree char *ready = NULL;
	g_autofree char *pid = NULL;
	char c;
	int fd;

	if (fifo == NULL)
		return;
	ready = g_strdup_printf("%s.ready", fifo);
	pid = g_strdup_printf("%ld\n", (long)getpid());
	if (!g_file_set_contents(ready, pid, -1, NULL))
		return;
	fd = open(fifo, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while (read(fd, &c, 1) > 0)
			;
		close(fd);
	}
#endif
}

static void
harden(void)
{
	struct rlimit no_core = {0, 0};

	/* S7: no core dumps, no ptrace attach by other same-user processes. */
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Root with no session bus to find works on the system store: there is
 * no keyring for it to reach. */
static int
root_without_session(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	g_autofree char *bus = NULL;

	if (geteuid() != 0 || getenv("DBUS_SESSION_BUS_ADDRESS") != NULL)
		return 0;
	if (rt != NULL && rt[0] == '/') {
		bus = g_build_filename(rt, "bus", NULL);
		if (g_file_test(bus, G_FILE_TEST_EXISTS))
			return 0;
	}
	return 1;
}

/* Can this process open the system store itself (root, or its owner)?
 * If not, its admin commands go through the broker. */
static gboolean
store_is_ours(void)
{
	return geteuid() == 0 ||
	       access(smtpcred_system_dir(), R_OK | W_OK | X_OK) == 0;
}

/* Run by the broker for an administrator (smtpcredd --admin-group): the
 * records this command writes name the administrator, as the broker's
 * own records name a client.  Only a process that may write the system
 * audit log (root, the broker's user) gets this far, and either could
 * write any record anyway: the variables add a name, not a power. */
static void
audit_peer_from_broker(void)
{
	const char *uid = getenv("SMTPCRED_PEER_UID");
	const char *gid = getenv("SMTPCRED_PEER_GID");
	const char *pid = getenv("SMTPCRED_PEER_PID");
	const char *exe = getenv("SMTPCRED_PEER_EXE");
	const char *unit = getenv("SMTPCRED_PEER_UNIT");
	SmtpcredAuditPeer p = {0};

	if (uid == NULL || gid == NULL || pid == NULL ||
	    parse_uint(uid, 0, UINT32_MAX - 1, &p.uid) < 0 ||
	    parse_uint(gid, 0, UINT32_MAX - 1, &p.gid) < 0 ||
	    parse_uint(pid, 1, UINT32_MAX - 1, &p.pid) < 0)
		return;
	p.exe = exe != NULL && *exe != '\0' ? exe : NULL;
	p.unit = unit != NULL && *unit != '\0' ? unit : NULL;
	smtpcred_audit_set_peer(&p);
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"add", cmd_add, "store a new account and its first password"},
    {"rotate", cmd_rotate, "stage, verify and promote a new password"},
    {"rollback", cmd_rollback, "make the previous password current again"},
    {"list", cmd_list, "list accounts and their health"},
    {"show", cmd_show, "show an account's settings and versions"},
    {"remove", cmd_remove, "delete an account and all its versions"},
    {"audit", cmd_audit, "print or verify the audit log"},
    {"check", cmd_check, "monitoring: exit 0 ok, 1 warning, 2 overdue"},
    {"doctor", cmd_doctor, "diagnose the keyring, audit log and accounts"},
    {"init", cmd_init, "make the system store (with --system)"},
    {"allow", cmd_allow, "who may send with an account (with --system)"},
};

static void
usage(FILE *f)
{
	fputs("Usage: smtpcred [--system|--user|--broker] [--timeout MS] "
	      "[--allow-prompt] COMMAND [ARGS...]\n"
	      "       smtpcred COMMAND --help\n\n"
	      "SMTP credentials in the OS keyring, with rotation and an "
	      "audit log.\n\nCommands:\n",
	      f);
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name,
			commands[i].summary);
	fputs("\nGlobal options:\n"
	      "  --system         the broker's system store (smtpcredd), "
	      "not the keyring;\n"
	      "                   the default for root without a session "
	      "bus\n"
	      "  --user           the desktop keyring, also for root\n"
	      "  --broker         the system store through the broker, as "
	      "for a member\n"
	      "                   of its admin group (implies --system; "
	      "automatic when\n"
	      "                   this user cannot open the store)\n"
	      "  --timeout MS     keyring deadline in milliseconds (default "
	      "5000)\n"
	      "  --allow-prompt   let the keyring show an unlock prompt\n"
	      "  -h, --help       show this help\n"
	      "  --version        show the version\n\n"
	      "See smtpcred(1).\n",
	      f);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"allow-prompt", no_argument, NULL, 'P'},
	    {"broker", no_argument, NULL, 'B'},
	    {"help", no_argument, NULL, 'h'},
	    {"system", no_argument, NULL, 'S'},
	    {"timeout", required_argument, NULL, 't'},
	    {"user", no_argument, NULL, 'U'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	int scope = -1; /* 1 system, 0 user, -1 not said */
	gboolean via_broker = FALSE;
	unsigned ms;
	int c;

	harden();
	opterr = 0; /* we print our own messages, never an option's value */
	/* '+': stop at the command; its own options are parsed there. */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'B':
			via_broker = TRUE;
			break;
		case 'P':
			cli.allow_prompt = TRUE;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 't':
			if (parse_uint(optarg, 1, 600000, &ms) < 0)
				return cli_usage(NULL,
						 "--timeout: '%s' is not a "
						 "number of milliseconds "
						 "(1-600000)",
						 optarg);
			cli.timeout_ms = ms;
			break;
		case 'S':
		case 'U':
			if (scope == (c == 'U'))
				return cli_usage(NULL, "--system and --user "
						       "exclude each other");
			scope = c == 'S';
			break;
		case 'V':
			printf("smtpcred %s\n", SMTPCRED_VERSION);
			return EXIT_OK;
		default:
			return cli_bad_option(NULL, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage(NULL, "no command given");
	if (scope < 0)
		scope = root_without_session();
	if (via_broker && scope == 0)
		return cli_usage(NULL, "--broker is for the system store, not "
				       "--user");
	if (via_broker)
		scope = 1;
	if (scope == 1 && !smtpcred_system_scope(NULL, &error))
		return cli_fail(error);
	if (scope == 1 && strcmp(argv[optind], "init") != 0 &&
	    (via_broker || !store_is_ours()))
		cli_remote_setup(argc - optind, argv + optind);
	else if (scope == 1)
		audit_peer_from_broker();
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			/* The command sees argv[0] = its own name. */
			int rc;

			optind++;
			rc = commands[i].fn(argc - optind + 1,
					    argv + optind - 1);
			test_pause_at_exit();
			return rc;
		}
	}
	{
		g_autofree char *esc = cli_escape(argv[optind]);

		return cli_usage(NULL, "unknown command '%s'", esc);
	}
}
