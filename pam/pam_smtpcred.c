/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam_smtpcred: keeps keyring credentials of accounts marked source=login
 * in step with the login password (DESIGN.md "PAM").
 *
 *   auth     capture: stash PAM_AUTHTOK (pam_set_data, wiped on cleanup);
 *            always PAM_IGNORE: this module never decides a login.
 *   session  open: hand the stash to the helper (reason login-sync), wipe
 *            it; close: wipe anything left.  Always PAM_SUCCESS.
 *   password PRELIM: ignore; UPDATE: hand the new token to the helper
 *            (reason password-change).  Always PAM_IGNORE.
 *
 * The helper (GLib, D-Bus, libsecret) runs as the user in a child that
 * drops privileges first (initgroups, setgid, setuid, all checked); the
 * token goes down a pipe, never through argv or the environment.  The
 * module waits at most timeout= milliseconds, then kills the helper.
 * Errors go to syslog (LOG_AUTHPRIV), never the token.  Links libpam and
 * common/ only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#include "parse.h"
#include "secbuf.h"
#include "smtpcred-pam.h"

#define STASH_KEY	   "smtpcred-authtok"
#define MAX_ACCOUNTS	   16
#define TIMEOUT_DEFAULT_MS 3000u
#define TIMEOUT_MAX_MS	   60000u

#define PAM_EXPORT __attribute__((__visibility__("default")))

typedef struct {
	bool capture;
	bool debug;
	const char *accounts[MAX_ACCOUNTS];
	int n_accounts;
	const char *only_if; /* comma-separated services, or NULL */
	unsigned timeout_ms;
	const char *helper;
} options;

/* ---- logging ------------------------------------------------------------ */

static void
logf_(pam_handle_t *pamh, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
logf_(pam_handle_t *pamh, int prio, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pam_syslog(pamh, prio, "%s", line);
#ifdef SMTPCRED_TEST_HOOKS
	/* Test builds: the same line also goes to a file the tests read. */
	{
		const char *path = secure_getenv("SMTPCRED_TEST_PAM_LOG");
		FILE *f = path != NULL ? fopen(path, "ae") : NULL;

		if (f != NULL) {
			fprintf(f, "pam_smtpcred: %s\n", line);
			fclose(f);
		}
	}
#endif
}

/* ---- options ------------------------------------------------------------ */

static void
parse_options(pam_handle_t *pamh, int argc, const char **argv, options *o)
{
	*o = (options){.timeout_ms = TIMEOUT_DEFAULT_MS,
		       .helper = SMTPCRED_PAM_HELPER};
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		unsigned ms;

		if (strcmp(a, "capture") == 0) {
			o->capture = true;
		} else if (strcmp(a, "debug") == 0) {
			o->debug = true;
		} else if (strncmp(a, "account=", 8) == 0) {
			if (o->n_accounts == MAX_ACCOUNTS)
				logf_(pamh, LOG_WARNING,
				      "more than %d account= options; "
				      "ignoring '%.64s'",
				      MAX_ACCOUNTS, a + 8);
			else if (!smtpcred_pam_name_ok(a + 8))
				logf_(pamh, LOG_WARNING,
				      "ignoring account= with a bad name");
			else
				o->accounts[o->n_accounts++] = a + 8;
		} else if (strncmp(a, "only_if=", 8) == 0) {
			o->only_if = a + 8;
		} else if (strncmp(a, "timeout=", 8) == 0) {
			if (parse_uint(a + 8, 1, TIMEOUT_MAX_MS, &ms) == 0)
				o->timeout_ms = ms;
			else
				logf_(pamh, LOG_WARNING,
				      "ignoring bad option '%.64s' (1 to %u "
				      "ms); using %u",
				      a, TIMEOUT_MAX_MS, o->timeout_ms);
#ifdef SMTPCRED_TEST_HOOKS
		} else if (strncmp(a, "helper=", 7) == 0) {
			o->helper = a + 7; /* test builds only */
#endif
		} else {
			logf_(pamh, LOG_WARNING, "ignoring unknown option '%.64s'",
			      a);
		}
	}
}

/* Is the PAM service one of only_if (or is there no only_if)? */
static bool
service_wanted(pam_handle_t *pamh, const options *o)
{
	const void *item = NULL;
	const char *svc, *p;
	size_t n;

	if (o->only_if == NULL)
		return true;
	if (pam_get_item(pamh, PAM_SERVICE, &item) != PAM_SUCCESS ||
	    item == NULL)
		return false;
	svc = item;
	n = strlen(svc);
	for (p = o->only_if; *p != '\0';) {
		size_t len = strcspn(p, ",");

		if (len == n && strncmp(p, svc, n) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

/* ---- the stash ---------------------------------------------------------- */

static void
stash_cleanup(pam_handle_t *pamh, void *data, int status)
{
	secbuf *b = data;

	(void)pamh;
	(void)status;
	secbuf_wipe(b);
	secure_wipe(b, sizeof(*b));
	free(b);
}

static int
stash_token(pam_handle_t *pamh, const char *tok)
{
	secbuf *b = calloc(1, sizeof(*b));

	if (b == NULL || secbuf_append_str(b, tok) < 0) {
		if (b != NULL)
			stash_cleanup(pamh, b, 0);
		return -1;
	}
	if (pam_set_data(pamh, STASH_KEY, b, stash_cleanup) != PAM_SUCCESS) {
		stash_cleanup(pamh, b, 0);
		return -1;
	}
	return 0;
}

/* Replacing the data runs the cleanup, which wipes. */
static void
stash_drop(pam_handle_t *pamh)
{
	const void *old = NULL;

	if (pam_get_data(pamh, STASH_KEY, &old) == PAM_SUCCESS && old != NULL)
		(void)pam_set_data(pamh, STASH_KEY, NULL, NULL);
}

/* ---- running the helper ------------------------------------------------- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Environment for the helper: a fixed minimum from passwd, plus the
 * session's bus and XDG locations from the PAM environment. */
static int
build_env(pam_handle_t *pamh, const struct passwd *pw, char **env,
	  size_t max, char *store, size_t storesz)
{
	static const char *const pass[] = {
	    "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_STATE_HOME",
	    "XDG_CONFIG_HOME", "XDG_DATA_HOME", "LANG", "LC_ALL",
	};
	size_t n = 0, used = 0;
	char runtime[64];

#define ADD(...)                                                           \
	do {                                                               \
		int k_ = snprintf(store + used, storesz - used, __VA_ARGS__); \
		if (k_ < 0 || (size_t)k_ >= storesz - used || n + 1 >= max)  \
			return -1;                                         \
		env[n++] = store + used;                                   \
		used += (size_t)k_ + 1;                                    \
	} while (0)
	ADD("HOME=%s", pw->pw_dir);
	ADD("USER=%s", pw->pw_name);
	ADD("LOGNAME=%s", pw->pw_name);
	ADD("PATH=/usr/bin:/bin");
	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		const char *v = pam_getenv(pamh, pass[i]);

		if (v != NULL)
			ADD("%s=%s", pass[i], v);
	}
#ifdef SMTPCRED_TEST_HOOKS
	/* Test builds: sanitizer settings reach the helper too. */
	{
		static const char *const san[] = {"ASAN_OPTIONS", "LSAN_OPTIONS",
						  "UBSAN_OPTIONS"};

		for (size_t i = 0; i < sizeof(san) / sizeof(san[0]); i++) {
			const char *v = secure_getenv(san[i]);

			if (v != NULL)
				ADD("%s=%s", san[i], v);
		}
	}
#endif
	if (pam_getenv(pamh, "XDG_RUNTIME_DIR") == NULL) {
		/* The usual place systemd-logind makes for the user. */
		snprintf(runtime, sizeof(runtime), "/run/user/%lu",
			 (unsigned long)pw->pw_uid);
		ADD("XDG_RUNTIME_DIR=%s", runtime);
	}
#undef ADD
	env[n] = NULL;
	return 0;
}

/* In the child: become the user, stdin from the pipe, exec.  Never
 * returns; exit codes 126/127 are ours (privilege drop, exec). */
__attribute__((noreturn)) static void
child_exec(const options *o, const struct passwd *pw, int rfd,
	   const char *reason, char **env)
{
	const char *args[4 + 2 * MAX_ACCOUNTS + 1];
	struct rlimit no_core = {0, 0};
	int n = 0, devnull;

	if (dup2(rfd, STDIN_FILENO) < 0)
		_exit(126);
	if (rfd != STDIN_FILENO)
		close(rfd);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull >= 0) {
		(void)dup2(devnull, STDOUT_FILENO);
		(void)dup2(devnull, STDERR_FILENO);
	}
	closefrom(3);
	setrlimit(RLIMIT_CORE, &no_core);
	if (getuid() == 0 || geteuid() == 0) {
		if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
		    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(126);
	}
	/* Checked: no way back to root, and really the user. */
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
	    getgid() != pw->pw_gid || getegid() != pw->pw_gid ||
	    (pw->pw_uid != 0 && setuid(0) == 0))
		_exit(126);
	if (chdir(pw->pw_dir) != 0 && chdir("/") != 0)
		_exit(126);
	args[n++] = o->helper;
	args[n++] = "--reason";
	args[n++] = reason;
	for (int i = 0; i < o->n_accounts; i++) {
		args[n++] = "--account";
		args[n++] = o->accounts[i];
	}
	args[n] = NULL;
	execve(o->helper, (char *const *)(uintptr_t)args, env);
	_exit(127);
}

static const char *
describe_exit(int code)
{
	switch (code) {
	case PAMH_EXIT_UNCHANGED:
		return "already in step, nothing changed";
	case PAMH_EXIT_CHANGED:
		return "keyring credential stored or rotated";
	case PAMH_EXIT_NO_BUS:
		return "no session bus yet, nothing done";
	case PAMH_EXIT_NO_SERVICE:
		return "no Secret Service on the session bus, nothing done";
	case PAMH_EXIT_LOCKED:
		return "the keyring is locked, nothing done";
	case PAMH_EXIT_NOT_LOGIN:
		return "an account is not marked source=login, left alone";
	case PAMH_EXIT_FAILED:
		return "the keyring refused the change";
	case PAMH_EXIT_USAGE:
		return "helper usage error";
	case 126:
		return "could not drop privileges to the user";
	case 127:
		return "helper could not be run (missing?)";
	default:
		return "unexpected helper exit";
	}
}

/* Wait for pid until the deadline; kill it when it passes.  Returns the
 * wait status, or -1 on timeout (the child is then killed and reaped). */
static int
wait_deadline(pid_t pid, int64_t deadline)
{
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		struct timespec ts = {0, 5 * 1000 * 1000};

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -2;
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
}

/* Write the whole token; the helper may die meanwhile (EPIPE). */
static int
write_token(int fd, const char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int64_t left = deadline - now_ms();
		ssize_t w;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
run_helper(pam_handle_t *pamh, const options *o, const char *tok,
	   size_t toklen, const char *reason)
{
	char *env[20], envstore[4096];
	const struct passwd *pw;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
	const char *user = NULL;
	int64_t t0 = now_ms(), deadline = t0 + o->timeout_ms;
	int fds[2], status, wrote;
	pid_t pid;

	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    (pw = pam_modutil_getpwnam(pamh, user)) == NULL) {
		logf_(pamh, LOG_ERR, "cannot find the user: %s skipped",
		      reason);
		return;
	}
	if (build_env(pamh, pw, env, sizeof(env) / sizeof(env[0]), envstore,
		      sizeof(envstore)) < 0) {
		logf_(pamh, LOG_ERR, "environment too large: %s skipped",
		      reason);
		return;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		logf_(pamh, LOG_ERR, "pipe: %m; %s skipped", reason);
		return;
	}
	pid = fork();
	if (pid < 0) {
		logf_(pamh, LOG_ERR, "fork: %m; %s skipped", reason);
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		close(fds[1]);
		child_exec(o, pw, fds[0], reason, env);
	}
	close(fds[0]);
	sigaction(SIGPIPE, &ign, &old_pipe);
	wrote = write_token(fds[1], tok, toklen, deadline);
	close(fds[1]);
	sigaction(SIGPIPE, &old_pipe, NULL);
	status = wait_deadline(pid, deadline);
	secure_wipe(envstore, sizeof(envstore));
	if (status == -1) {
		logf_(pamh, LOG_ERR,
		      "helper for user %s (%s) did not finish within %u ms; "
		      "killed",
		      pw->pw_name, reason, o->timeout_ms);
	} else if (status < 0) {
		logf_(pamh, LOG_ERR, "waiting for the helper failed (%s)",
		      reason);
	} else if (WIFSIGNALED(status)) {
		logf_(pamh, LOG_ERR,
		      "helper for user %s (%s) was killed by signal %d",
		      pw->pw_name, reason, WTERMSIG(status));
	} else {
		int code = WEXITSTATUS(status);
		int prio = code == PAMH_EXIT_UNCHANGED ||
				   code == PAMH_EXIT_CHANGED
			       ? LOG_INFO
			   : code == PAMH_EXIT_NO_BUS ||
				   code == PAMH_EXIT_NO_SERVICE ||
				   code == PAMH_EXIT_LOCKED
			       ? LOG_NOTICE
			       : LOG_ERR;

		if (prio != LOG_INFO || o->debug)
			logf_(pamh, prio,
			      "helper for user %s (%s): exit %d: %s%s",
			      pw->pw_name, reason, code, describe_exit(code),
			      wrote < 0 ? " (token not fully written)" : "");
	}
	if (o->debug)
		logf_(pamh, LOG_DEBUG, "%s took %lld ms", reason,
		      (long long)(now_ms() - t0));
}

/* ---- the PAM entry points ----------------------------------------------- */

PAM_EXPORT int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	options o;
	const char *tok = NULL;

	(void)flags;
	parse_options(pamh, argc, argv, &o);
	if (!o.capture || !service_wanted(pamh, &o))
		return PAM_IGNORE;
	if (pam_get_authtok(pamh, PAM_AUTHTOK, &tok, NULL) != PAM_SUCCESS ||
	    tok == NULL || tok[0] == '\0')
		return PAM_IGNORE;
	if (stash_token(pamh, tok) < 0)
		logf_(pamh, LOG_ERR, "cannot keep the password for the "
				     "session (out of memory)");
	else if (o.debug)
		logf_(pamh, LOG_DEBUG, "password kept for the session");
	return PAM_IGNORE;
}

PAM_EXPORT int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}

PAM_EXPORT int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
		    const char **argv)
{
	const void *data = NULL;
	const secbuf *b;
	options o;

	(void)flags;
	parse_options(pamh, argc, argv, &o);
	if (pam_get_data(pamh, STASH_KEY, &data) != PAM_SUCCESS ||
	    data == NULL)
		return PAM_SUCCESS;
	b = data;
	if (service_wanted(pamh, &o) && b->len > 0)
		run_helper(pamh, &o, b->data, b->len, "login-sync");
	stash_drop(pamh);
	return PAM_SUCCESS;
}

PAM_EXPORT int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
		     const char **argv)
{
	(void)flags;
	(void)argc;
	(void)argv;
	stash_drop(pamh);
	return PAM_SUCCESS;
}

PAM_EXPORT int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const char *tok = NULL;
	options o;

	if (!(flags & PAM_UPDATE_AUTHTOK))
		return PAM_IGNORE; /* PRELIM_CHECK: nothing to check */
	parse_options(pamh, argc, argv, &o);
	if (!service_wanted(pamh, &o))
		return PAM_IGNORE;
	/* The new password as set by the module before us; asking for it
	 * only when none did (then the conversation is asked). */
	if (pam_get_authtok(pamh, PAM_AUTHTOK, &tok, NULL) != PAM_SUCCESS ||
	    tok == NULL || tok[0] == '\0') {
		logf_(pamh, LOG_NOTICE, "no new password to keep in step");
		return PAM_IGNORE;
	}
	/* root changing another user's password gives no old token: the
	 * new one is all the helper needs. */
	run_helper(pamh, &o, tok, strlen(tok), "password-change");
	stash_drop(pamh); /* an old login stash is out of date now */
	return PAM_IGNORE;
}
