/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the smtpcred command files: options, errors, secrets, JSON. */
#pragma once

#include <glib.h>
#include <smtpcred/smtpcred.h>

#include "secbuf.h"

/* sysexits.h values, spelled out so the table below reads on its own. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 64,
	EXIT_DATAERR = 65,
	EXIT_UNAVAILABLE = 69,
	EXIT_IOERR = 74,
	EXIT_TEMPFAIL = 75,
	EXIT_NOPERM = 77,
};

typedef struct {
	guint timeout_ms;
	gboolean allow_prompt;
	gboolean remote; /* the system store through the broker (remote.c) */
} CliGlobal;

extern CliGlobal cli;

/* "smtpcred: ..." on stderr. */
void cli_msg(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Usage error: message naming the problem, a hint, exit code 64. */
int cli_usage(const char *cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Print the error and return the exit code for it. */
int cli_fail(const GError *error);
int cli_exit_for(const GError *error);
/* The same, prefixing "ACCOUNT: " unless the message names it already. */
int cli_fail_account(const char *account, const GError *error);
/* getopt's '?' or ':' as a usage error naming the option (without any
 * "=value" part), exit 64. */
int cli_bad_option(const char *cmd, int c, char *const *argv);

/* The store of the scope chosen; for a command that goes through the
 * broker, runs it there and exits instead (remote.c). */
SmtpcredStore *cli_store(GError **error);

/* Admin commands through the broker (remote.c).  setup: this command goes
 * through the broker (ARGS: the command and its arguments).  input: the
 * password read, to pass as the command's standard input.  option: one
 * more option the local part settled (remove's confirmation: --yes).
 * run: when set up, send the command, print its output and exit with its
 * status; else return at once. */
void cli_remote_setup(int argc, char **argv);
void cli_remote_input(secbuf *secret);
void cli_remote_option(const char *opt);
void cli_remote_run(void);

/* Where a secret comes from. */
typedef struct {
	gboolean from_stdin;
	int fd; /* -1: not given */
} CliSecretSource;

/* Read a secret (fd, stdin, or the terminal asked twice) into out.
 * Returns 0 or an exit code (message already printed). */
int cli_read_secret(const char *account, const CliSecretSource *src,
		    secbuf *out);
/* Parse --password-fd's argument; exit code or 0. */
int cli_parse_fd(const char *cmd, const char *arg, int *fd);

/* JSON output helpers (strings escaped with logsafe_json). */
void json_str(GString *s, const char *key, const char *val, gboolean comma);
void json_uint(GString *s, const char *key, guint64 val, gboolean comma);
void json_bool(GString *s, const char *key, gboolean val, gboolean comma);
void json_time(GString *s, const char *key, gint64 t, gboolean comma);
/* Format a time for people: RFC 3339 or "-". buf >= 21 bytes. */
const char *fmt_time(gint64 t, char *buf, size_t n);
/* Escape untrusted text for the terminal (static buffer per call site is
 * the caller's: returns a newly allocated string). */
char *cli_escape(const char *s);

/* An account's health, shared by list, check and doctor. */
typedef enum {
	ST_OK,
	ST_WAITING_LOGIN,
	ST_WARNING,
	ST_PENDING,
	ST_OVERDUE,
	ST_NO_CURRENT,
	ST_AMBIGUOUS,
	ST_LOCKED,
} AccountStatus;

AccountStatus account_status(const SmtpcredAccount *a, guint warn_days,
			     gboolean use_warn_days, gint64 now,
			     const SmtpcredVersion **usable);
const char *account_status_str(AccountStatus st);

int cmd_add(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_allow(int argc, char **argv);
