/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Admin commands through the broker (docs/broker.md, "Administrators").
 *
 * The system store is readable by the broker's user alone.  Root opens it
 * directly; any other administrator (a member of the broker's admin
 * group) has the command run by the broker: this process parses the
 * command and reads the password exactly as it would for a local store,
 * and at the first point where it would open the store it sends the
 * command (op=admin) with the password as the command's standard input
 * instead, prints what the broker's run printed, and exits with its
 * status.  Only the password's own source changes on the way: --password-fd
 * and the terminal become --password-stdin.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <smtpsend/smtpsend.h>

#include "cli.h"
#include "logsafe.h"
#include "parse.h"
#include "wire.h"

#define REMOTE_ARGS_MAX	 64
#define REQUEST_MS	 30000
#define COMMAND_MS	 700000 /* the broker gives a command 660 s */

static struct {
	int argc;
	char **argv;
	const char *extra; /* an option the local part settled (--yes) */
	secbuf *input;	   /* the command's password buffer, if one was read */
} rq;

void
cli_remote_setup(int argc, char **argv)
{
	cli.remote = TRUE;
	rq.argc = argc;
	rq.argv = argv;
}

void
cli_remote_input(secbuf *secret)
{
	/* No copy: the command's own buffer is sent, and wiped here before
	 * exit(), which skips the command's cleanup handlers. */
	if (cli.remote)
		rq.input = secret;
}

void
cli_remote_option(const char *opt)
{
	rq.extra = opt;
}

static const char *
socket_path(void)
{
	const char *env = secure_getenv("SMTPCRED_BROKER_SOCKET");

	return env != NULL && *env != '\0' ? env : SMTPSEND_BROKER_SOCKET;
}

static G_NORETURN void
remote_exit(int fd, int status)
{
	if (fd >= 0)
		close(fd);
	if (rq.input != NULL)
		secbuf_wipe(rq.input);
	fflush(stdout);
	exit(status);
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		cli_msg("the broker's socket path is too long: %s", path);
		remote_exit(-1, EXIT_USAGE);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cli_msg("socket: %s", g_strerror(errno));
		remote_exit(-1, EXIT_FAIL);
	}
	while ((r = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 &&
	       errno == EINTR)
		;
	if (r < 0) {
		int e = errno;

		cli_msg("uid %u cannot open the system store %s itself, and "
			"the broker smtpcredd is not answering at %s (%s): "
			"run this as root, or start smtpcredd.socket",
			(unsigned)geteuid(), smtpcred_system_dir(), path,
			g_strerror(e));
		remote_exit(fd, EXIT_UNAVAILABLE);
	}
	return fd;
}

/* The request: op=admin and the command's arguments, the password's
 * source rewritten to standard input. */
static void
send_request(int fd)
{
	char buf[WIRE_FRAME_MAX];
	gboolean has_stdin_opt = FALSE;
	wire_kv kv;
	int n = 0, r;

	wire_kv_init(&kv, buf, sizeof(buf));
	wire_kv_add(&kv, "version", "1");
	wire_kv_add(&kv, "op", "admin");
	for (int i = 0; i < rq.argc; i++) {
		const char *a = rq.argv[i];

		/* getopt takes any unambiguous prefix: --password-f is
		 * --password-fd, with its value joined or next. */
		if (i > 0 && g_str_has_prefix(a, "--password-f")) {
			if (strchr(a, '=') == NULL)
				i++;
			continue;
		}
		if (i > 0 && g_str_has_prefix(a, "--password-s"))
			has_stdin_opt = TRUE;
		wire_kv_add(&kv, "arg", a);
		n++;
		if (i == 0 && rq.extra != NULL) {
			wire_kv_add(&kv, "arg", rq.extra);
			n++;
		}
	}
	if (rq.input != NULL && !has_stdin_opt) {
		wire_kv_add(&kv, "arg", "--password-stdin");
		n++;
	}
	if (kv.overflow || n > REMOTE_ARGS_MAX) {
		cli_msg("the command is too long to pass to the broker");
		remote_exit(fd, EXIT_USAGE);
	}
	r = wire_write(fd, WIRE_REQUEST, buf, kv.len,
		       wire_now_ms() + REQUEST_MS);
	if (r < 0) {
		cli_msg("cannot send the command to the broker: %s",
			g_strerror(-r));
		remote_exit(fd, EXIT_TEMPFAIL);
	}
}

/* The broker's result frame: its exit status and any message. */
static G_NORETURN void
finish(int fd, const char *payload, size_t len)
{
	wire_kv_iter it;
	char key[32], value[1024];
	unsigned status = EXIT_FAIL;

	wire_kv_iter_init(&it, payload, len);
	while (wire_kv_next(&it, key, sizeof(key), value, sizeof(value)) ==
	       1) {
		if (strcmp(key, "exit") == 0) {
			if (parse_uint(value, 0, 255, &status) < 0)
				status = EXIT_FAIL;
		} else if (strcmp(key, "message") == 0) {
			g_autofree char *esc = cli_escape(value);

			cli_msg("%s", esc);
		}
	}
	remote_exit(fd, (int)status);
}

static void
write_all(int to, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(to, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void
cli_remote_run(void)
{
	static char buf[WIRE_FRAME_MAX + 1];
	const char *path;
	int64_t deadline;
	size_t len;
	int fd, type, r;

	if (!cli.remote)
		return;
	path = socket_path();
	fd = connect_to(path);
	send_request(fd);
	r = wire_read(fd, &type, buf, WIRE_FRAME_MAX, &len,
		      wire_now_ms() + REQUEST_MS);
	if (r == 0 && type == WIRE_RESULT)
		finish(fd, buf, len);
	if (r < 0 || type != WIRE_GO) {
		cli_msg("the broker at %s did not take the command: %s", path,
			r < 0 ? g_strerror(-r) : "an unexpected answer");
		remote_exit(fd, EXIT_TEMPFAIL);
	}
	r = 0;
	if (rq.input != NULL && rq.input->len > 0)
		r = wire_write(fd, WIRE_DATA, rq.input->data, rq.input->len,
			       wire_now_ms() + REQUEST_MS);
	if (rq.input != NULL)
		secbuf_wipe(rq.input);
	if (r == 0)
		r = wire_write(fd, WIRE_END, NULL, 0,
			       wire_now_ms() + REQUEST_MS);
	if (r < 0) {
		cli_msg("cannot pass the input to the broker: %s; nothing was "
			"run",
			g_strerror(-r));
		remote_exit(fd, EXIT_TEMPFAIL);
	}
	deadline = wire_now_ms() + COMMAND_MS;
	for (;;) {
		r = wire_read(fd, &type, buf, WIRE_FRAME_MAX, &len, deadline);
		if (r < 0) {
			cli_msg("the broker closed the connection before the "
				"command's result (%s): whether it ran is "
				"unknown; see the audit log",
				r == -ECONNRESET ? "connection closed"
						 : g_strerror(-r));
			remote_exit(fd, EXIT_TEMPFAIL);
		}
		if (type == WIRE_STDOUT) {
			fflush(stdout);
			write_all(STDOUT_FILENO, buf, len);
		} else if (type == WIRE_STDERR) {
			write_all(STDERR_FILENO, buf, len);
		} else if (type == WIRE_RESULT) {
			finish(fd, buf, len);
		} else {
			cli_msg("the broker sent an unexpected frame; whether "
				"the command ran is unknown");
			remote_exit(fd, EXIT_TEMPFAIL);
		}
	}
}
