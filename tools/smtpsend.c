/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * smtpsend: a sendmail-compatible sender whose SMTP password lives in the
 * keyring.  Two forms:
 *
 *   smtpsend [-t] [-f FROM] [-F NAME] [-i] [-oi] [--account NAME] [--] RCPT...
 *       an RFC 5322 message on stdin (sendmail mode)
 *   smtpsend --from A --to B [--cc C] [--bcc D] --subject S
 *            [--attach FILE]... [--html FILE] [--account NAME]
 *       the text body on stdin (builder mode)
 *
 * Exit codes follow sysexits.h; every temporary failure is 75 so that
 * queues retry.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>

#include <smtpcred/provider.h>
#include <smtpsend/smtpsend.h>

#include "logsafe.h"
#include "parse.h"

#define BODY_MAX (64u * 1024u * 1024u) /* builder text/html bodies */

static int verbose;

static void
msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
msg(const char *fmt, ...)
{
	va_list ap;

	fputs("smtpsend: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("smtpsend: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'smtpsend --help'.\n", stderr);
	return EX_USAGE;
}

/* An argument made safe to echo (never a value after '='). */
static const char *
escarg(const char *arg)
{
	static char buf[LOGSAFE_MAX(128)];
	size_t n = arg != NULL ? strcspn(arg, "=") : 0;

	logsafe_escape(buf, sizeof(buf), arg != NULL ? arg : "",
		       n < 128 ? n : 128);
	return buf;
}

static void
usage(void)
{
	puts("Usage: smtpsend [-t] [-f FROM] [-F NAME] [-i] [-oi] [--account NAME]\n"
	     "                [-v] [--timeout SEC] [--] [RCPT...]  < message\n"
	     "       smtpsend --from ADDR --to ADDR [--to ADDR]... [--cc ADDR]...\n"
	     "                [--bcc ADDR]... --subject TEXT [--attach FILE]...\n"
	     "                [--html FILE] [--account NAME] [-v]  < text-body\n\n"
	     "Sends mail through the account's SMTP submission server; the "
	     "password is\nleased from the keyring right before AUTH, over "
	     "verified TLS, and wiped\nright after.\n\n"
	     "  -t               recipients from To/Cc/Bcc (Bcc is removed)\n"
	     "  -f FROM          envelope sender\n"
	     "  -F NAME          sender's full name for an added From header\n"
	     "  -i, -oi          a line with a single dot does not end the "
	     "message\n"
	     "  --account NAME   keyring account (default $SMTPCRED_ACCOUNT, "
	     "then 'default')\n"
	     "  --system         send through the broker smtpcredd (system "
	     "accounts); the\n"
	     "                   default when no session bus is reachable and "
	     "the broker's\n"
	     "                   socket exists ($SMTPCRED_BROKER_SOCKET, "
	     "else\n"
	     "                   " SMTPSEND_BROKER_SOCKET ")\n"
	     "  --user           the desktop keyring, never the broker\n"
	     "  --timeout SEC    cap on the whole send (default 300)\n"
	     "  -v               print the redacted SMTP dialogue to stderr\n"
	     "  -N, -R, -V       DSN notify, return and envelope id\n\n"
	     "As /usr/sbin/sendmail: sendmail's -o, -B, -e, -L, -h, -C, -X, "
	     "-G, -U, -m, -n\nare accepted (no effect; -oi is -i); -bm "
	     "sends, -bp shows the (always\nempty) queue.  The sendmail "
	     "form reads /etc/smtpcred/sendmail.conf\n($SMTPCRED_SENDMAIL_CONF): "
	     "'from ADDRESS' (the sender for local senders),\n'account NAME', "
	     "'alias NAME ADDRESS' (local names such as root; * for\nany "
	     "other).\n\n"
	     "Exit status: 0 sent, 64 usage, 65 bad message, 67 recipients "
	     "refused,\n69 unavailable, 75 temporary failure (retry), 76 "
	     "protocol error,\n77 authentication refused, 78 configuration. "
	     "See smtpsend(1).");
}

static void
trace(int dir, const char *line, size_t len, void *ud)
{
	static const char *const tag[] = {"* ", "C: ", "S: ", "* "};
	char esc[LOGSAFE_MAX(1024)];

	(void)ud;
	logsafe_escape(esc, sizeof(esc), line, len < 1024 ? len : 1024);
	fprintf(stderr, "%s%s\n", tag[dir & 3], esc);
}

/* With no session bus to reach a keyring (cron, system services, root
 * without a desktop) the broker sends, when it is there. */
static int
use_broker(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	const char *sock = getenv("SMTPCRED_BROKER_SOCKET");
	char bus[4096];

	if (getenv("DBUS_SESSION_BUS_ADDRESS") != NULL)
		return 0;
	if (rt != NULL && rt[0] == '/') {
		snprintf(bus, sizeof(bus), "%s/bus", rt);
		if (access(bus, F_OK) == 0)
			return 0;
	}
	return access(sock != NULL && *sock ? sock : SMTPSEND_BROKER_SOCKET,
		      F_OK) == 0;
}

/* sysexits code for a failed send. */
static int
exit_for(const smtpsend_error *e, const smtpsend_result *res)
{
	/* Every temporary failure is 75, so that queues retry. */
	if (e->klass == SMTPSEND_CLASS_TEMPORARY && e->code != SMTPSEND_E_NOMEM)
		return EX_TEMPFAIL;
	/* The broker's access lists do not name this user. */
	if (e->stage != NULL && strcmp(e->stage, "policy") == 0)
		return EX_NOPERM;
	switch (e->code) {
	case SMTPSEND_E_NOMEM:
		return EX_OSERR;
	case SMTPSEND_E_INVAL:
	case SMTPSEND_E_LIMIT:
		return EX_DATAERR;
	case SMTPSEND_E_AUTH:
		return e->klass == SMTPSEND_CLASS_TEMPORARY ? EX_TEMPFAIL
							    : EX_NOPERM;
	case SMTPSEND_E_PROTO:
		return EX_PROTOCOL;
	case SMTPSEND_E_REJECTED:
		if (e->klass == SMTPSEND_CLASS_TEMPORARY)
			return EX_TEMPFAIL;
		if (res != NULL && res->n_rcpts > 0 && res->n_accepted == 0)
			return EX_NOUSER;
		return EX_UNAVAILABLE;
	case SMTPSEND_E_CREDENTIAL:
		return e->klass == SMTPSEND_CLASS_TEMPORARY ? EX_TEMPFAIL
							    : EX_CONFIG;
	case SMTPSEND_E_IO:
	case SMTPSEND_E_TIMEOUT:
		return EX_TEMPFAIL;
	case SMTPSEND_E_TLS:
	case SMTPSEND_E_TLS_VERIFY:
	case SMTPSEND_E_INSECURE:
	case SMTPSEND_E_UNSUPPORTED:
		return EX_UNAVAILABLE;
	default:
		return e->klass == SMTPSEND_CLASS_TEMPORARY ? EX_TEMPFAIL
							    : EX_SOFTWARE;
	}
}

static int
fail(const smtpsend_error *e, const smtpsend_result *res)
{
	msg("%s%s%s", e->stage != NULL ? e->stage : "", e->stage ? ": " : "",
	    e->message);
	return exit_for(e, res);
}

/* Read a whole file or stdin (builder bodies), bounded. */
static char *
slurp(int fd, size_t *len)
{
	size_t cap = 8192, n = 0;
	char *buf = malloc(cap);

	while (buf != NULL) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb;

			if (cap >= BODY_MAX) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (buf != NULL)
		buf[n] = '\0';
	*len = n;
	return buf;
}

typedef struct {
	const char *kind;
	const char *addr;
} Rcpt;

/* /etc/smtpcred/sendmail.conf: sendmail for the whole machine (cron,
 * mdadm, mail(1) ...).  Lines, '#' starts a comment:
 *   from ADDRESS        the envelope sender for local senders
 *   account NAME        the account when none is named
 *   alias NAME ADDRESS  where a local name's mail goes ("*": any other)
 */
#define CONF_ALIASES_MAX 256

#define SENDMAIL_CONF "/etc/smtpcred/sendmail.conf"

typedef struct {
	char *from;
	char *account;
	char *names[CONF_ALIASES_MAX];
	char *addrs[CONF_ALIASES_MAX];
	size_t n;
} SendmailConf;

static void
conf_clear(SendmailConf *c)
{
	free(c->from);
	free(c->account);
	for (size_t i = 0; i < c->n; i++) {
		free(c->names[i]);
		free(c->addrs[i]);
	}
	memset(c, 0, sizeof(*c));
}

/* 0 (a missing file is an empty configuration), or EX_CONFIG after
 * saying which line is wrong. */
static int
conf_read(const char *path, SendmailConf *c)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	unsigned no = 0;

	if (f == NULL)
		return errno == ENOENT ? 0 : (msg("cannot read %s: %m", path), EX_CONFIG);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL, *key, *a, *b, *extra;

		no++;
		line[strcspn(line, "#\n")] = '\0';
		key = strtok_r(line, " \t", &save);
		if (key == NULL)
			continue;
		a = strtok_r(NULL, " \t", &save);
		b = strtok_r(NULL, " \t", &save);
		extra = strtok_r(NULL, " \t", &save);
		if (strcmp(key, "from") == 0 && a != NULL && b == NULL) {
			free(c->from);
			c->from = strdup(a);
		} else if (strcmp(key, "account") == 0 && a != NULL && b == NULL) {
			free(c->account);
			c->account = strdup(a);
		} else if (strcmp(key, "alias") == 0 && a != NULL &&
			   b != NULL && extra == NULL &&
			   c->n < CONF_ALIASES_MAX) {
			c->names[c->n] = strdup(a);
			c->addrs[c->n++] = strdup(b);
		} else {
			msg("%s:%u: not 'from ADDRESS', 'account NAME' or "
			    "'alias NAME ADDRESS'",
			    path, no);
			fclose(f);
			return EX_CONFIG;
		}
	}
	fclose(f);
	for (size_t i = 0; i < c->n; i++)
		if (c->names[i] == NULL || c->addrs[i] == NULL)
			return (msg("out of memory"), EX_OSERR);
	return 0;
}

int
main(int argc, char **argv)
{
	enum {
		O_ACCOUNT = 256, O_SYSTEM, O_USER, O_FROM, O_TO, O_CC, O_BCC, O_SUBJECT,
		O_ATTACH, O_HTML, O_TIMEOUT, O_HELP, O_VERSION,
	};
	static const struct option opts[] = {
	    {"account", required_argument, NULL, O_ACCOUNT},
	    {"attach", required_argument, NULL, O_ATTACH},
	    {"bcc", required_argument, NULL, O_BCC},
	    {"cc", required_argument, NULL, O_CC},
	    {"from", required_argument, NULL, O_FROM},
	    {"help", no_argument, NULL, O_HELP},
	    {"html", required_argument, NULL, O_HTML},
	    {"subject", required_argument, NULL, O_SUBJECT},
	    {"system", no_argument, NULL, O_SYSTEM},
	    {"user", no_argument, NULL, O_USER},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"to", required_argument, NULL, O_TO},
	    {"version", no_argument, NULL, O_VERSION},
	    {NULL, 0, NULL, 0},
	};
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_result res = SMTPSEND_RESULT_INIT;
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_session *s = NULL;
	smtpsend_message *m = NULL;
	struct rlimit no_core = {0, 0};
	/* freed on every return, usage errors included */
	g_autofree Rcpt *rcpts = NULL;
	g_autofree const char **attach = NULL;
	size_t nrcpt = 0, nattach = 0;
	const char *account = NULL, *env_from = NULL, *full_name = NULL;
	const char *from = NULL, *subject = NULL, *html = NULL;
	bool extract = false, dot_ends = true, builder = false;
	unsigned timeout = 300;
	const char *dsn_notify = NULL, *dsn_ret = NULL, *dsn_envid = NULL;
	SendmailConf conf = {0};
	int scope = -1; /* 1 the broker, 0 the keyring, -1 not said */
	int c, rc = EX_SOFTWARE;

	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	opterr = 0;
	rcpts = g_new0(Rcpt, (size_t)argc + 1);
	attach = g_new0(const char *, (size_t)argc + 1);

	/* Besides its own, the options of sendmail(8) that programs pass to
	 * /usr/sbin/sendmail (cron: -FCronDaemon -i -B8BITMIME -oem): -o
	 * options (-oi is -i), -B, -e, -L, -h, -C, -X, -G, -U, -m, -n are
	 * accepted and have no effect here; -N, -R and -V are DSN's; -b
	 * picks a mode (m: send; p: the queue, which is always empty; i:
	 * the alias database, which is the configuration file). */
	while ((c = getopt_long(argc, argv, "+:tf:F:ivB:b:o:N:R:V:X:L:h:C:e:GUmn",
				opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (strcmp(optarg, "i") == 0)
				dot_ends = false;
			break;
		case 'B':
		case 'C':
		case 'e':
		case 'G':
		case 'h':
		case 'L':
		case 'm':
		case 'n':
		case 'U':
		case 'X':
			break;
		case 'b':
			if (strcmp(optarg, "p") == 0) {
				puts("Mail queue is empty (smtpsend keeps "
				     "none: a message is sent or refused at "
				     "once)");
				return EX_OK;
			}
			if (strcmp(optarg, "i") == 0)
				return EX_OK;
			if (strcmp(optarg, "m") != 0)
				return usage_error("-b%s is not supported (only "
						   "-bm, -bp, -bi)",
						   escarg(optarg));
			break;
		case 'N':
			dsn_notify = optarg;
			break;
		case 'R':
			dsn_ret = optarg;
			break;
		case 'V':
			dsn_envid = optarg;
			break;
		case 't':
			extract = true;
			break;
		case 'f':
			env_from = optarg;
			break;
		case 'F':
			full_name = optarg;
			break;
		case 'i':
			dot_ends = false;
			break;
		case 'v':
			verbose = 1;
			break;
		case O_ACCOUNT:
			account = optarg;
			break;
		case O_SYSTEM:
		case O_USER:
			if (scope == (c == O_USER))
				return usage_error("--system and --user "
						   "exclude each other");
			scope = c == O_SYSTEM;
			break;
		case O_FROM:
			from = optarg;
			builder = true;
			break;
		case O_TO:
		case O_CC:
		case O_BCC:
			rcpts[nrcpt].kind = c == O_TO	? "to"
					    : c == O_CC ? "cc"
							: "bcc";
			rcpts[nrcpt++].addr = optarg;
			builder = true;
			break;
		case O_SUBJECT:
			subject = optarg;
			builder = true;
			break;
		case O_ATTACH:
			attach[nattach++] = optarg;
			builder = true;
			break;
		case O_HTML:
			html = optarg;
			builder = true;
			break;
		case O_TIMEOUT:
			if (parse_uint(optarg, 1, 86400, &timeout) < 0)
				return usage_error("--timeout: '%s' is not a "
						   "number of seconds",
						   escarg(optarg));
			break;
		case O_HELP:
			usage();
			return EX_OK;
		case O_VERSION:
			printf("smtpsend %s\n", SMTPCRED_VERSION);
			return EX_OK;
		case ':':
			return usage_error("option '%s' needs a value",
					   escarg(argv[optind - 1]));
		default:
			return usage_error("unknown option '%s'",
					   escarg(argv[optind - 1]));
		}
	}
	/* Everything after the options (and after "--") is a recipient,
	 * never an option. */
	for (int i = optind; i < argc; i++) {
		rcpts[nrcpt].kind = "to";
		rcpts[nrcpt++].addr = argv[i];
	}
	if (builder && (extract || full_name != NULL))
		return usage_error("-t and -F belong to the sendmail form");
	if (builder && (from == NULL || subject == NULL))
		return usage_error("--from and --subject are required with "
				   "--to/--attach/--html");
	if (nrcpt == 0 && !extract)
		return usage_error("no recipients (give them as arguments, or "
				   "use -t)");
	/* The sendmail form reads the machine's sendmail configuration. */
	if (!builder) {
		const char *path = secure_getenv("SMTPCRED_SENDMAIL_CONF");

		rc = conf_read(path != NULL && *path ? path
						     : SENDMAIL_CONF,
			       &conf);
		if (rc != 0) {
			conf_clear(&conf);
			return rc;
		}
	}
	if (account == NULL)
		account = getenv("SMTPCRED_ACCOUNT");
	if ((account == NULL || *account == '\0') && conf.account != NULL)
		account = conf.account;
	if (account == NULL || *account == '\0')
		account = "default";

	if (smtpsend_message_new(&m, &err) < 0) {
		conf_clear(&conf);
		return fail(&err, NULL);
	}
	if ((conf.from != NULL || conf.n > 0) &&
	    smtpsend_message_set_local(m, conf.from,
				       (const char *const *)conf.names,
				       (const char *const *)conf.addrs,
				       conf.n, &err) < 0) {
		rc = fail(&err, NULL);
		goto out;
	}
	if ((dsn_notify || dsn_ret || dsn_envid) &&
	    smtpsend_message_set_dsn(m, dsn_notify, dsn_ret, dsn_envid,
				     &err) < 0) {
		rc = fail(&err, NULL);
		goto out;
	}
	for (size_t i = 0; i < nrcpt; i++)
		if (smtpsend_message_add_rcpt(m, rcpts[i].kind, rcpts[i].addr,
					      &err) < 0) {
			rc = fail(&err, NULL);
			goto out;
		}
	if (builder) {
		size_t len = 0;
		char *text = slurp(STDIN_FILENO, &len);

		if (text == NULL) {
			msg("cannot read the body from stdin: %m");
			rc = EX_IOERR;
			goto out;
		}
		if (smtpsend_message_set_from(m, from, &err) < 0 ||
		    smtpsend_message_set_subject(m, subject, &err) < 0 ||
		    smtpsend_message_set_text(m, text, len, &err) < 0) {
			free(text);
			rc = fail(&err, NULL);
			goto out;
		}
		free(text);
		if (html != NULL) {
			int fd = open(html, O_RDONLY | O_CLOEXEC);
			char *h = fd >= 0 ? slurp(fd, &len) : NULL;

			if (fd >= 0)
				close(fd);
			if (h == NULL) {
				msg("cannot read --html file '%s': %m", html);
				rc = EX_NOINPUT;
				goto out;
			}
			rc = smtpsend_message_set_html(m, h, len, &err);
			free(h);
			if (rc < 0) {
				rc = fail(&err, NULL);
				goto out;
			}
		}
		for (size_t i = 0; i < nattach; i++)
			if (smtpsend_message_attach_file(m, attach[i], NULL,
							 NULL, &err) < 0) {
				rc = fail(&err, NULL);
				goto out;
			}
	} else {
		unsigned flags = SMTPSEND_RAW_ADD_MISSING;

		if (extract)
			flags |= SMTPSEND_RAW_RCPTS_FROM_HEADERS;
		if (dot_ends)
			flags |= SMTPSEND_RAW_DOT_ENDS;
		if ((env_from != NULL || full_name != NULL) &&
		    smtpsend_message_set_envelope_from(m, env_from, full_name,
						       &err) < 0) {
			rc = fail(&err, NULL);
			goto out;
		}
		if (smtpsend_message_set_raw_fd(m, STDIN_FILENO, flags, &err) <
		    0) {
			rc = fail(&err, NULL);
			goto out;
		}
	}

	o.timeout_ms = timeout * 1000;
	o.purpose = builder ? "smtpsend (builder)" : "smtpsend (sendmail)";
	if (verbose)
		o.trace = trace;
	if (scope < 0)
		scope = use_broker();
	if (scope == 1 ? smtpsend_session_new_broker(&s, NULL, account, &o,
						    &err) < 0
		       : smtpsend_session_new_for_account(
			     &s, account, smtpcred_send_provider(), &o,
			     &err) < 0) {
		rc = fail(&err, NULL);
		goto out;
	}
	if (smtpsend_send(s, m, &res, &err) < 0) {
		rc = fail(&err, &res);
		goto out;
	}
	for (size_t i = 0; i < res.n_rcpts; i++)
		if (res.rcpts[i].reply_code / 100 != 2)
			msg("recipient %s refused: %u %s", res.rcpts[i].addr,
			    res.rcpts[i].reply_code, res.rcpts[i].enhanced);
	rc = EX_OK;
out:
	conf_clear(&conf);
	smtpsend_result_clear(&res);
	smtpsend_session_free(s);
	smtpsend_message_free(m);
	return rc;
}
