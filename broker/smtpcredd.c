/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * smtpcredd: the system credential broker (issue 13, docs/broker.md).
 *
 * Holds the system store's accounts under its own uid and sends mail for
 * local clients that may use them: a client connects to the Unix socket,
 * names an account and streams an envelope and a message; the broker
 * checks the client (SO_PEERCRED, its groups, its systemd unit) against
 * the account's access lists, spools the message, opens the verified TLS
 * session itself, leases the password for AUTH (audited, naming the
 * client), sends, and returns the per-recipient results.  The client
 * never sees the password.
 *
 * One thread per connection, at most --max-clients served at once and at
 * most --max-per-user of them for one uid (the next wait their turn); every read and write has a deadline; a bad
 * request is answered and closed, and the broker goes on serving others.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <smtpcred/provider.h>
#include <smtpcred/smtpcred.h>
#include <smtpsend/smtpsend.h>

#include "logsafe.h"
#include "parse.h"
#include "secbuf.h"
#include "wire.h"

/* strerror(3) is not thread-safe: the GNU strerror_r into a buffer that
 * lives as long as the enclosing block. */
#define ERRSTR(e) strerror_r((e), (char[128]){0}, 128)

#define REQUEST_TIMEOUT_MS 30000	 /* to send the request */
#define DATA_TIMEOUT_MS	   300000 /* to stream the message */
#define RCPTS_MAX	   1000		 /* recipients of one message */
#define PURPOSE_MAX	   256
#define GROUPS_MAX	   256		 /* supplementary groups read */
#define DRAIN_SECONDS	   30		 /* at SIGTERM, for running sends */
#define ADMIN_ARGS_MAX	   64		 /* arguments of one admin command */
#define ADMIN_INPUT_MAX	   8192		 /* its standard input (a password) */
#define ADMIN_TIMEOUT_MS   660000	 /* longest admin command (rotate) */
#define ADMIN_OUTPUT_MAX   (16u << 20) /* output passed back, per stream */

static struct {
	const char *socket;
	const char *state_dir;
	const char *default_account;
	const char *seal;
	const char *admin_group;
	const char *admin_cli;
	unsigned max_clients;
	unsigned max_per_user; /* 0: 3/4 of max_clients */
	uint64_t max_size;
	char spool[4096];
} opt = {
    .socket = SMTPSEND_BROKER_SOCKET,
    .admin_group = "smtpcred-admin",
    .admin_cli = SMTPCRED_CLI_PATH,
    .max_clients = 32,
    .max_size = 50u * 1024 * 1024,
};

static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t active_cond = PTHREAD_COND_INITIALIZER;
static unsigned active;	    /* connection threads */
static unsigned serving;    /* of them, served now (max_clients) */
static GHashTable *per_uid; /* uid -> served now (max_per_user) */
static volatile sig_atomic_t stopping;
static int stop_pipe[2] = {-1, -1};

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	fputs("smtpcredd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- who is asking ------------------------------------------------------- */

typedef struct {
	struct ucred cred;
	gid_t groups[GROUPS_MAX];
	int ngroups;
	char exe[512];
	char unit[257];
} Peer;

/* The unit of a process: the last component of its cgroup path that is
 * a service or scope ("0::/system.slice/cron.service"). */
static void
peer_unit(pid_t pid, char *out, size_t n)
{
	char path[64], line[1024];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/cgroup", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p, *tok, *save = NULL;

		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		for (p = line + 3; (tok = strtok_r(p, "/", &save)) != NULL;
		     p = NULL) {
			size_t l = strlen(tok);

			if ((l > 8 && strcmp(tok + l - 8, ".service") == 0) ||
			    (l > 6 && strcmp(tok + l - 6, ".scope") == 0))
				snprintf(out, n, "%s", tok);
		}
	}
	fclose(f);
}

/* The client's program: /proc/PID/exe when we may read it (root, or the
 * same user); otherwise its argv[0] as it says, marked unverified. */
static void
peer_exe(pid_t pid, char *out, size_t n)
{
	char path[64];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	r = readlink(path, out, n - 1);
	if (r > 0) {
		out[r] = '\0';
		return;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	out[0] = '\0';
	if (fd >= 0) {
		char arg0[256];

		r = read(fd, arg0, sizeof(arg0) - 1);
		close(fd);
		if (r > 0) {
			arg0[r] = '\0';
			snprintf(out, n, "%s (argv[0], unverified)", arg0);
		}
	}
}

static int
read_peer(int fd, Peer *p)
{
	socklen_t len = sizeof(p->cred);
	socklen_t glen = sizeof(p->groups);

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &p->cred, &len) < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &glen) == 0)
		p->ngroups = (int)(glen / sizeof(gid_t));
	peer_exe(p->cred.pid, p->exe, sizeof(p->exe));
	peer_unit(p->cred.pid, p->unit, sizeof(p->unit));
	return 0;
}

/* ---- the access lists -------------------------------------------------------- */

static bool
token_is_uid(const char *tok, uid_t uid)
{
	unsigned v;
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (parse_uint(tok, 0, UINT32_MAX - 1, &v) == 0)
		return (uid_t)v == uid;
	return getpwnam_r(tok, &pw, buf, sizeof(buf), &res) == 0 &&
	       res != NULL && res->pw_uid == uid;
}

static bool
token_gid(const char *tok, gid_t *out)
{
	unsigned v;
	struct group gr, *res = NULL;
	char buf[8192];

	if (parse_uint(tok, 0, UINT32_MAX - 1, &v) == 0) {
		*out = (gid_t)v;
		return true;
	}
	if (getgrnam_r(tok, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
		return false;
	*out = res->gr_gid;
	return true;
}

/* Does LIST (comma-separated) hold a token for which MATCH is true? */
static bool
list_has(const char *list, const Peer *p,
	 bool (*match)(const char *tok, const Peer *p))
{
	char tok[257];
	size_t n;

	while (list != NULL && *list != '\0') {
		n = strcspn(list, ",");
		if (n > 0 && n < sizeof(tok)) {
			memcpy(tok, list, n);
			tok[n] = '\0';
			if (match(tok, p))
				return true;
		}
		list += n;
		if (*list == ',')
			list++;
	}
	return false;
}

static bool
match_user(const char *tok, const Peer *p)
{
	return token_is_uid(tok, p->cred.uid);
}

static bool
match_group(const char *tok, const Peer *p)
{
	gid_t g;

	if (!token_gid(tok, &g))
		return false;
	if (g == p->cred.gid)
		return true;
	for (int i = 0; i < p->ngroups; i++)
		if (p->groups[i] == g)
			return true;
	return false;
}

static bool
match_unit(const char *tok, const Peer *p)
{
	return p->unit[0] != '\0' && strcmp(tok, p->unit) == 0;
}

/* NULL when PEER may send with ACCOUNT, else why not (static text). */
static const char *
check_access(const char *account, const Peer *p, GError **error)
{
	g_autoptr(SmtpcredStore) store = NULL;
	g_auto(SmtpcredAccess) a = {0};

	store = smtpcred_store_new(SMTPCRED_STORE_NONE, 0, error);
	if (store == NULL ||
	    !smtpcred_store_get_access(store, account, &a, error))
		return "error";
	if (p->cred.uid == 0 || list_has(a.users, p, match_user) ||
	    list_has(a.groups, p, match_group) ||
	    list_has(a.units, p, match_unit))
		return NULL;
	return "denied";
}

/* ---- one connection ------------------------------------------------------------ */

typedef struct {
	int fd;
	Peer peer;
	char account[65];
	char purpose[PURPOSE_MAX + 1];
	char from[257];
	char *rcpts[RCPTS_MAX];
	size_t nrcpt;
	uint64_t size;
	unsigned timeout_ms;
	bool trace;
	bool ping;  /* op=ping: say who we are, nothing else */
	bool admin; /* op=admin: run smtpcred --system ARGS for an admin */
	char *args[ADMIN_ARGS_MAX];
	size_t nargs;
	char dsn_notify[64], dsn_ret[8], dsn_envid[101];
	char buf[WIRE_FRAME_MAX + 1];
} Conn;

static void
conn_free(Conn *c)
{
	for (size_t i = 0; i < c->nrcpt; i++)
		g_free(c->rcpts[i]);
	for (size_t i = 0; i < c->nargs; i++)
		g_free(c->args[i]);
	if (c->fd >= 0)
		close(c->fd);
	g_free(c);
}

/* Send the result frame of an error (or of success when e->code == 0). */
static void
send_result(Conn *c, const smtpsend_error *e, const smtpsend_result *res)
{
	char out[WIRE_FRAME_MAX];
	wire_kv kv;

	wire_kv_init(&kv, out, sizeof(out));
	if (e->code == 0) {
		wire_kv_add(&kv, "code", "0");
	} else {
		char n[16];

		snprintf(n, sizeof(n), "%d", e->code); /* negative */
		wire_kv_add(&kv, "code", n);
		wire_kv_addu(&kv, "class", (uint64_t)e->klass);
		wire_kv_add(&kv, "stage", e->stage != NULL ? e->stage : "");
		wire_kv_addu(&kv, "reply", e->reply_code);
		wire_kv_add(&kv, "enhanced", e->enhanced);
		wire_kv_add(&kv, "message", e->message);
	}
	if (res != NULL) {
		wire_kv_addu(&kv, "sent", res->sent ? 1 : 0);
		wire_kv_addu(&kv, "final", res->reply_code);
		wire_kv_add(&kv, "final_enhanced", res->enhanced);
		for (size_t i = 0; i < res->n_rcpts; i++) {
			char line[400];

			snprintf(line, sizeof(line), "%u %s %s",
				 res->rcpts[i].reply_code,
				 res->rcpts[i].enhanced[0]
				     ? res->rcpts[i].enhanced
				     : "-",
				 res->rcpts[i].addr ? res->rcpts[i].addr
						    : "");
			wire_kv_add(&kv, "rcpt", line);
		}
	}
	(void)wire_write(c->fd, WIRE_RESULT, out, kv.len,
			 wire_now_ms() + 10000);
}

static void
refuse(Conn *c, int code, int klass, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
refuse(Conn *c, int code, int klass, const char *stage, const char *fmt, ...)
{
	smtpsend_error e = SMTPSEND_ERROR_INIT;
	char msg[SMTPSEND_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e.code = code;
	e.klass = klass;
	e.stage = stage;
	logsafe_escape(e.message, sizeof(e.message), msg, strlen(msg));
	send_result(c, &e, NULL);
}

static bool
copy_field(char *dst, size_t n, const char *v)
{
	size_t l = strlen(v);

	if (l >= n)
		return false;
	memcpy(dst, v, l + 1);
	return true;
}

/* Parse the request frame into c.  NULL, or what is wrong. */
static const char *
parse_request(Conn *c, size_t len)
{
	wire_kv_iter it;
	char key[32];
	bool version = false, op = false;
	int r;

	c->ping = false;
	c->timeout_ms = 300000;
	wire_kv_iter_init(&it, c->buf, len);
	for (;;) {
		char value[1024];

		r = wire_kv_next(&it, key, sizeof(key), value, sizeof(value));
		if (r == 0)
			break;
		if (r < 0)
			return "a malformed line";
		if (strcmp(key, "version") == 0) {
			if (strcmp(value, "1") != 0)
				return "an unknown protocol version";
			version = true;
		} else if (strcmp(key, "op") == 0) {
			if (strcmp(value, "ping") == 0)
				c->ping = true;
			else if (strcmp(value, "admin") == 0)
				c->admin = true;
			else if (strcmp(value, "send") != 0)
				return "an unknown operation";
			op = true;
		} else if (strcmp(key, "account") == 0) {
			if (!copy_field(c->account, sizeof(c->account), value))
				return "an account name too long";
		} else if (strcmp(key, "purpose") == 0) {
			(void)copy_field(c->purpose, sizeof(c->purpose),
					 value);
		} else if (strcmp(key, "from") == 0) {
			if (!copy_field(c->from, sizeof(c->from), value))
				return "a sender address too long";
		} else if (strcmp(key, "rcpt") == 0) {
			if (c->nrcpt >= RCPTS_MAX)
				return "more than 1000 recipients";
			if (strlen(value) > 256 || value[0] == '\0')
				return "a bad recipient address";
			c->rcpts[c->nrcpt++] = g_strdup(value);
		} else if (strcmp(key, "size") == 0) {
			if (parse_uint64(value, 0, UINT64_MAX, &c->size) < 0)
				return "a bad size";
		} else if (strcmp(key, "timeout_ms") == 0) {
			unsigned t;

			if (parse_uint(value, 1000, 600000, &t) < 0)
				return "a bad timeout";
			c->timeout_ms = t;
		} else if (strcmp(key, "arg") == 0) {
			if (c->nargs >= ADMIN_ARGS_MAX)
				return "more than 64 arguments";
			c->args[c->nargs++] = g_strdup(value);
		} else if (strcmp(key, "trace") == 0) {
			c->trace = strcmp(value, "1") == 0;
		} else if (strcmp(key, "dsn_notify") == 0) {
			if (!copy_field(c->dsn_notify, sizeof(c->dsn_notify),
					value))
				return "a bad DSN notify";
		} else if (strcmp(key, "dsn_ret") == 0) {
			if (!copy_field(c->dsn_ret, sizeof(c->dsn_ret), value))
				return "a bad DSN ret";
		} else if (strcmp(key, "dsn_envid") == 0) {
			if (!copy_field(c->dsn_envid, sizeof(c->dsn_envid),
					value))
				return "a bad DSN envid";
		}
		/* Unknown keys are ignored: a newer client may say more. */
	}
	if (version && op && c->ping)
		return NULL;
	if (version && op && c->admin)
		return c->nargs == 0 ? "no command" : NULL;
	if (!version || !op || c->account[0] == '\0')
		return "no version, operation or account";
	if (c->nrcpt == 0)
		return "no recipients";
	return NULL;
}

/* Receive the data frames into an unlinked spool file.  fd, or -1 after
 * answering the client. */
static int
receive_data(Conn *c)
{
	int64_t deadline = wire_now_ms() + DATA_TIMEOUT_MS;
	uint64_t got = 0;
	int fd, type, r;
	size_t len;

	fd = open(opt.spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		refuse(c, SMTPSEND_E_IO, SMTPSEND_CLASS_TEMPORARY, "broker",
		       "the broker cannot spool the message: %s",
		       ERRSTR(errno));
		return -1;
	}
	for (;;) {
		r = wire_read(c->fd, &type, c->buf, WIRE_FRAME_MAX, &len,
			      deadline);
		if (r < 0)
			goto fail_io;
		if (type == WIRE_END)
			break;
		if (type != WIRE_DATA) {
			refuse(c, SMTPSEND_E_PROTO, SMTPSEND_CLASS_PERMANENT,
			       "broker", "unexpected frame in the message");
			goto fail;
		}
		got += len;
		if (got > c->size || got > opt.max_size) {
			refuse(c, SMTPSEND_E_LIMIT, SMTPSEND_CLASS_LOCAL, "data",
			       "the message is larger than announced or "
			       "than the broker accepts (%llu bytes)",
			       (unsigned long long)opt.max_size);
			goto fail;
		}
		for (size_t off = 0; off < len;) {
			ssize_t w = write(fd, c->buf + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				refuse(c, SMTPSEND_E_IO,
				       SMTPSEND_CLASS_TEMPORARY, "broker",
				       "the broker cannot spool the message: "
				       "%s",
				       ERRSTR(errno));
				goto fail;
			}
			off += (size_t)w;
		}
	}
	if (got != c->size) {
		refuse(c, SMTPSEND_E_PROTO, SMTPSEND_CLASS_PERMANENT, "data",
		       "the message has %llu bytes, %llu were announced",
		       (unsigned long long)got, (unsigned long long)c->size);
		goto fail;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		goto fail_io;
	return fd;
fail_io:
	/* The client is gone or stalled: nothing to answer. */
	say("client pid %ld: the message did not arrive (%s); nothing sent",
	    (long)c->peer.cred.pid, ERRSTR(-r));
fail:
	close(fd);
	return -1;
}

static void
trace_to_client(int dir, const char *line, size_t len, void *ud)
{
	Conn *c = ud;
	char out[1100];

	if (len > sizeof(out) - 2)
		len = sizeof(out) - 2;
	out[0] = (char)('0' + (dir & 3));
	memcpy(out + 1, line, len);
	(void)wire_write(c->fd, WIRE_TRACE, out, len + 1,
			 wire_now_ms() + 5000);
}

static void
send_message(Conn *c, int spool)
{
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_error e = SMTPSEND_ERROR_INIT;
	smtpsend_result res = SMTPSEND_RESULT_INIT;
	smtpsend_session *s = NULL;
	smtpsend_message *m = NULL;
	int r;

	o.timeout_ms = c->timeout_ms;
	o.purpose = c->purpose[0] ? c->purpose : "smtpcredd";
	if (c->trace) {
		o.trace = trace_to_client;
		o.trace_data = c;
	}
	r = smtpsend_message_new(&m, &e);
	if (r == 0)
		r = smtpsend_message_set_envelope_from(m, c->from, NULL, &e);
	for (size_t i = 0; r == 0 && i < c->nrcpt; i++)
		r = smtpsend_message_add_rcpt(m, "to", c->rcpts[i], &e);
	if (r == 0 && (c->dsn_notify[0] || c->dsn_ret[0] || c->dsn_envid[0]))
		r = smtpsend_message_set_dsn(
		    m, c->dsn_notify[0] ? c->dsn_notify : NULL,
		    c->dsn_ret[0] ? c->dsn_ret : NULL,
		    c->dsn_envid[0] ? c->dsn_envid : NULL, &e);
	if (r == 0)
		r = smtpsend_message_set_raw_fd(m, spool, 0, &e);
	if (r == 0)
		r = smtpsend_session_new_for_account(
		    &s, c->account, smtpcred_send_provider(), &o, &e);
	if (r == 0)
		r = smtpsend_send(s, m, &res, &e);
	if (r == 0)
		e.code = 0;
	send_result(c, &e, &res);
	smtpsend_result_clear(&res);
	smtpsend_session_free(s);
	smtpsend_message_free(m);
}

/* op=ping (smtpcred doctor): the version, the store, how its key is
 * sealed, the sends running now. */
static void
answer_ping(Conn *c)
{
	char out[2048];
	wire_kv kv;
	unsigned n;

	pthread_mutex_lock(&active_lock);
	n = serving;
	pthread_mutex_unlock(&active_lock);
	wire_kv_init(&kv, out, sizeof(out));
	wire_kv_add(&kv, "code", "0");
	wire_kv_add(&kv, "broker", "smtpcredd " SMTPCRED_VERSION);
	wire_kv_add(&kv, "store", smtpcred_system_dir());
	wire_kv_add(&kv, "seal", opt.seal);
	wire_kv_addu(&kv, "active", n);
	wire_kv_addu(&kv, "max_clients", opt.max_clients);
	(void)wire_write(c->fd, WIRE_RESULT, out, kv.len,
			 wire_now_ms() + 10000);
}

/* ---- admin commands (op=admin) ------------------------------------------------ */

/* What an administrator may run through the broker: smtpcred --system
 * VERB ...  Not init: the store exists before the broker can run. */
static const char *const admin_verbs[] = {
    "add",   "allow", "audit",	"check",    "doctor",
    "list",  "remove", "rotate", "rollback", "show",
};

static bool
is_admin(const Peer *p)
{
	if (p->cred.uid == 0)
		return true;
	return opt.admin_group[0] != '\0' && match_group(opt.admin_group, p);
}

static void
admin_result(Conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The result of an admin command: its exit status and, when the broker
 * itself refused or failed, why. */
static void
admin_result(Conn *c, int status, const char *fmt, ...)
{
	char out[2048], msg[1024], esc[LOGSAFE_MAX(1024)];
	wire_kv kv;
	va_list ap;

	wire_kv_init(&kv, out, sizeof(out));
	wire_kv_addu(&kv, "exit", (uint64_t)status);
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		logsafe_escape(esc, sizeof(esc), msg, strlen(msg));
		wire_kv_add(&kv, "message", esc);
	}
	(void)wire_write(c->fd, WIRE_RESULT, out, kv.len,
			 wire_now_ms() + 10000);
}

/* The command's standard input (at most ADMIN_INPUT_MAX bytes: a
 * password), as DATA frames up to END.  0, or -1 after answering. */
static int
admin_input(Conn *c, secbuf *in)
{
	int64_t deadline = wire_now_ms() + REQUEST_TIMEOUT_MS;
	int type, r;
	size_t len;

	for (;;) {
		r = wire_read(c->fd, &type, c->buf, WIRE_FRAME_MAX, &len,
			      deadline);
		if (r < 0)
			return -1;
		if (type == WIRE_END)
			break;
		if (type != WIRE_DATA) {
			admin_result(c, 76, "input was expected");
			explicit_bzero(c->buf, len);
			return -1;
		}
		if (in->len + len > ADMIN_INPUT_MAX) {
			explicit_bzero(c->buf, len);
			admin_result(c, 65, "the input is longer than %u bytes",
				     ADMIN_INPUT_MAX);
			return -1;
		}
		r = secbuf_append(in, c->buf, len);
		explicit_bzero(c->buf, len);
		if (r < 0) {
			admin_result(c, 71, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* "NAME=value" into env[*n] when the broker has NAME set. */
static void
env_pass(char **env, size_t *n, const char *name)
{
	const char *v = getenv(name);

	if (v != NULL)
		env[(*n)++] = g_strdup_printf("%s=%s", name, v);
}

/* Send what FD (a memfd the command wrote) holds as TYPE frames. */
static void
admin_output(Conn *c, int fd, int type)
{
	uint64_t sent = 0;
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return;
	while (sent < ADMIN_OUTPUT_MAX &&
	       (n = read(fd, c->buf, WIRE_FRAME_MAX)) > 0) {
		if (wire_write(c->fd, type, c->buf, (size_t)n,
			       wire_now_ms() + 30000) < 0)
			return;
		sent += (uint64_t)n;
	}
}

/* Wait for PID until the deadline; its wait status, or -1 when it had
 * to be killed. */
static int
admin_wait(pid_t pid)
{
	int64_t deadline = wire_now_ms() + ADMIN_TIMEOUT_MS;
	struct timespec tick = {0, 20 * 1000 * 1000};
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -1;
		if (wire_now_ms() > deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		nanosleep(&tick, NULL);
	}
}

/* Run `smtpcred --system ARGS` as the broker's user for an
 * administrator (root, or a member of --admin-group): the store stays
 * readable by the broker alone, and the command's own audit records name
 * the administrator.  Its input (a password) goes through a pipe, never a
 * file; its output comes back as frames, then its exit status. */
static void
serve_admin(Conn *c)
{
	_cleanup_secbuf_ secbuf in = SECBUF_INIT;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, dfl;
	char *argv[ADMIN_ARGS_MAX + 3];
	char cli_path[PATH_MAX], system_opt[] = "--system";
	char *env[16] = {0};
	size_t ne = 0, na = 0;
	int pfd[2] = {-1, -1}, out = -1, err = -1, st;
	bool known = false;
	pid_t pid;
	int r;

	for (size_t i = 0; i < G_N_ELEMENTS(admin_verbs); i++)
		known = known || strcmp(c->args[0], admin_verbs[i]) == 0;
	if (!known) {
		admin_result(c, 64, "'%s' is not a command the broker runs "
				    "(add, allow, audit, check, doctor, list, "
				    "remove, rotate, rollback, show)",
			     c->args[0]);
		return;
	}
	if (!is_admin(&c->peer)) {
		g_autofree char *detail = g_strdup_printf(
		    "smtpcred %s: not root or in group %s", c->args[0],
		    opt.admin_group[0] ? opt.admin_group : "(none)");
		SmtpcredAuditEvent ev = {.event = "admin",
					 .outcome = "denied",
					 .detail = detail};

		(void)smtpcred_audit_append(NULL, &ev, NULL, NULL);
		say("denied: uid %u is not an administrator (smtpcred %s)",
		    (unsigned)c->peer.cred.uid, c->args[0]);
		admin_result(c, 77,
			     "uid %u may not administer the system store: "
			     "only root%s%s may",
			     (unsigned)c->peer.cred.uid,
			     opt.admin_group[0] ? " and members of group " : "",
			     opt.admin_group);
		return;
	}
	if (wire_write(c->fd, WIRE_GO, NULL, 0, wire_now_ms() + 10000) < 0 ||
	    admin_input(c, &in) < 0)
		return;

	if (pipe2(pfd, O_CLOEXEC) < 0 ||
	    (out = memfd_create("smtpcred-out", MFD_CLOEXEC)) < 0 ||
	    (err = memfd_create("smtpcred-err", MFD_CLOEXEC)) < 0) {
		admin_result(c, 71, "cannot run the command: %s",
			     ERRSTR(errno));
		goto out;
	}
	/* At most ADMIN_INPUT_MAX bytes: the pipe holds them all. */
	if (in.len > 0 && write(pfd[1], in.data, in.len) != (ssize_t)in.len) {
		admin_result(c, 71, "cannot pass the input: %s",
			     ERRSTR(errno));
		goto out;
	}
	secbuf_wipe(&in);
	close(pfd[1]);
	pfd[1] = -1;

	g_strlcpy(cli_path, opt.admin_cli, sizeof(cli_path));
	argv[na++] = cli_path;
	argv[na++] = system_opt;
	for (size_t i = 0; i < c->nargs; i++)
		argv[na++] = c->args[i];
	argv[na] = NULL;
	env[ne++] = g_strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
			     "/usr/bin:/sbin:/bin");
	env[ne++] = g_strdup_printf("SMTPCRED_SYSTEM_DIR=%s",
				    smtpcred_system_dir());
	env_pass(env, &ne, "SMTPCRED_AUDIT_LOG");
	env_pass(env, &ne, "SMTPCRED_BROKER_SOCKET");
	env_pass(env, &ne, "CREDENTIALS_DIRECTORY");
	env_pass(env, &ne, "TZ");
	env[ne++] = g_strdup_printf("SMTPCRED_PEER_UID=%u",
				    (unsigned)c->peer.cred.uid);
	env[ne++] = g_strdup_printf("SMTPCRED_PEER_GID=%u",
				    (unsigned)c->peer.cred.gid);
	env[ne++] = g_strdup_printf("SMTPCRED_PEER_PID=%ld",
				    (long)c->peer.cred.pid);
	env[ne++] = g_strdup_printf("SMTPCRED_PEER_EXE=%s", c->peer.exe);
	env[ne++] = g_strdup_printf("SMTPCRED_PEER_UNIT=%s", c->peer.unit);
	env[ne] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
	posix_spawnattr_init(&sa);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &dfl);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
					  POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&pid, opt.admin_cli, &fa, &sa, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	close(pfd[0]);
	pfd[0] = -1;
	if (r != 0) {
		say("cannot run %s: %s", opt.admin_cli, ERRSTR(r));
		admin_result(c, 69, "the broker cannot run %s: %s",
			     opt.admin_cli, ERRSTR(r));
		goto out;
	}
	st = admin_wait(pid);
	admin_output(c, out, WIRE_STDOUT);
	admin_output(c, err, WIRE_STDERR);
	if (st < 0) {
		say("uid %u: smtpcred %s ran out of time and was killed",
		    (unsigned)c->peer.cred.uid, c->args[0]);
		admin_result(c, 75, "the command did not finish in %d s",
			     ADMIN_TIMEOUT_MS / 1000);
	} else if (WIFEXITED(st)) {
		say("uid %u ran smtpcred %s: exit %d",
		    (unsigned)c->peer.cred.uid, c->args[0], WEXITSTATUS(st));
		admin_result(c, WEXITSTATUS(st), NULL);
	} else {
		say("uid %u: smtpcred %s died of signal %d",
		    (unsigned)c->peer.cred.uid, c->args[0], WTERMSIG(st));
		admin_result(c, 70, "the command died of signal %d",
			     WTERMSIG(st));
	}
out:
	for (size_t i = 0; i < ne; i++)
		g_free(env[i]);
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0)
			close(pfd[i]);
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
}

static void
serve(Conn *c)
{
	SmtpcredAuditPeer ap;
	g_autoptr(GError) error = NULL;
	const char *bad, *why;
	size_t len;
	int type, r, spool;

	ap = (SmtpcredAuditPeer){.uid = c->peer.cred.uid,
				 .gid = c->peer.cred.gid,
				 .pid = (guint)c->peer.cred.pid,
				 .exe = c->peer.exe,
				 .unit = c->peer.unit};
	smtpcred_audit_set_peer(&ap);
	r = wire_read(c->fd, &type, c->buf, WIRE_FRAME_MAX, &len,
		      wire_now_ms() + REQUEST_TIMEOUT_MS);
	if (r < 0) {
		if (r == -EMSGSIZE)
			refuse(c, SMTPSEND_E_LIMIT, SMTPSEND_CLASS_LOCAL,
			       "broker", "the request is too large");
		return;
	}
	if (type != WIRE_REQUEST) {
		refuse(c, SMTPSEND_E_PROTO, SMTPSEND_CLASS_PERMANENT, "broker",
		       "a request was expected");
		return;
	}
	bad = parse_request(c, len);
	if (bad != NULL) {
		refuse(c, SMTPSEND_E_INVAL, SMTPSEND_CLASS_LOCAL, "broker",
		       "bad request: %s", bad);
		return;
	}
	if (c->ping) {
		answer_ping(c);
		return;
	}
	if (c->admin) {
		serve_admin(c);
		return;
	}
	if (strcmp(c->account, "default") == 0 && opt.default_account)
		g_strlcpy(c->account, opt.default_account,
			  sizeof(c->account));
	if (!smtpcred_name_validate(c->account, NULL)) {
		refuse(c, SMTPSEND_E_INVAL, SMTPSEND_CLASS_LOCAL, "broker",
		       "bad request: not an account name");
		return;
	}
	if (c->size > opt.max_size) {
		refuse(c, SMTPSEND_E_LIMIT, SMTPSEND_CLASS_LOCAL, "data",
		       "the message (%llu bytes) is larger than the broker "
		       "accepts (%llu bytes)",
		       (unsigned long long)c->size,
		       (unsigned long long)opt.max_size);
		return;
	}
	why = check_access(c->account, &c->peer, &error);
	if (why != NULL && strcmp(why, "denied") == 0) {
		SmtpcredAuditEvent ev = {.event = "denied",
					 .outcome = "denied",
					 .account = c->account,
					 .purpose = c->purpose,
					 .detail = "not in the account's "
						   "access lists"};

		(void)smtpcred_audit_append(NULL, &ev, NULL, NULL);
		refuse(c, SMTPSEND_E_CREDENTIAL, SMTPSEND_CLASS_PERMANENT,
		       "policy",
		       "uid %u may not send with account '%s' (smtpcred "
		       "--system allow %s)",
		       (unsigned)c->peer.cred.uid, c->account, c->account);
		return;
	}
	if (why != NULL) {
		bool temp = !g_error_matches(error, SMTPCRED_ERROR,
					     SMTPCRED_ERROR_NOT_FOUND) &&
			    !g_error_matches(error, SMTPCRED_ERROR,
					     SMTPCRED_ERROR_INVALID);

		refuse(c, SMTPSEND_E_CREDENTIAL,
		       temp ? SMTPSEND_CLASS_TEMPORARY
			    : SMTPSEND_CLASS_PERMANENT,
		       "setup", "%s", error->message);
		return;
	}
	r = wire_write(c->fd, WIRE_GO, NULL, 0, wire_now_ms() + 10000);
	if (r < 0)
		return;
	spool = receive_data(c);
	if (spool < 0)
		return;
	send_message(c, spool);
	close(spool);
}

/* With active_lock held: sleep until a slot frees or a second passes. */
static void
wait_a_moment(void)
{
	struct timespec soon;

	clock_gettime(CLOCK_REALTIME, &soon);
	soon.tv_sec += 1;
	pthread_cond_timedwait(&active_cond, &active_lock, &soon);
}

/* Wait for a slot: fewer than --max-clients served, and fewer than
 * --max-per-user for this uid (root: no per-user bound), so that one
 * user's clients, however many or slow, leave slots for everyone else.
 * false when the wait outlasted a client's own patience or the broker is
 * stopping. */
static bool
take_slot(uid_t uid)
{
	int64_t until = wire_now_ms() + DATA_TIMEOUT_MS;
	gpointer key = GUINT_TO_POINTER((guint)uid);
	unsigned mine;

	pthread_mutex_lock(&active_lock);
	for (;;) {
		mine = GPOINTER_TO_UINT(g_hash_table_lookup(per_uid, key));
		if (serving < opt.max_clients &&
		    (uid == 0 || mine < opt.max_per_user))
			break;
		if (stopping || wire_now_ms() > until) {
			pthread_mutex_unlock(&active_lock);
			return false;
		}
		wait_a_moment();
	}
	serving++;
	g_hash_table_insert(per_uid, key, GUINT_TO_POINTER(mine + 1));
	pthread_mutex_unlock(&active_lock);
	return true;
}

static void
give_slot(uid_t uid)
{
	gpointer key = GUINT_TO_POINTER((guint)uid);
	unsigned mine;

	pthread_mutex_lock(&active_lock);
	serving--;
	mine = GPOINTER_TO_UINT(g_hash_table_lookup(per_uid, key));
	if (mine <= 1)
		g_hash_table_remove(per_uid, key);
	else
		g_hash_table_insert(per_uid, key, GUINT_TO_POINTER(mine - 1));
	pthread_cond_broadcast(&active_cond);
	pthread_mutex_unlock(&active_lock);
}

static void busy(int fd);

static void *
conn_thread(void *arg)
{
	Conn *c = arg;

	if (read_peer(c->fd, &c->peer) < 0) {
		say("cannot read the client's credentials: %s",
		    ERRSTR(errno));
	} else if (!take_slot(c->peer.cred.uid)) {
		busy(c->fd);
		c->fd = -1;
	} else {
		serve(c);
		give_slot(c->peer.cred.uid);
	}
	smtpcred_audit_set_peer(NULL);
	conn_free(c);
	pthread_mutex_lock(&active_lock);
	active--;
	pthread_cond_broadcast(&active_cond);
	pthread_mutex_unlock(&active_lock);
	return NULL;
}

/* ---- the socket and the loop ------------------------------------------------- */

/* systemd socket activation (sd_listen_fds(3)): fd 3 when LISTEN_PID is
 * us and LISTEN_FDS is 1. */
static int
activated_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	unsigned p, n;

	if (pid == NULL || fds == NULL || parse_uint(pid, 1, INT32_MAX, &p) < 0 ||
	    (pid_t)p != getpid() || parse_uint(fds, 1, 1, &n) < 0)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	(void)fcntl(3, F_SETFD, FD_CLOEXEC);
	return 3;
}

static int
listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		say("the socket path %s is too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A socket left by an earlier run (never anything else). */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			say("%s exists and is not a socket; not touching it",
			    path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0666) < 0 || listen(fd, 128) < 0) {
		say("cannot listen on %s: %s", path, ERRSTR(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void
on_signal(int sig)
{
	int e = errno;

	(void)sig;
	stopping = 1;
	if (stop_pipe[1] >= 0)
		(void)!write(stop_pipe[1], "x", 1);
	errno = e;
}

static void
busy(int fd)
{
	Conn c = {.fd = fd};

	refuse(&c, SMTPSEND_E_IO, SMTPSEND_CLASS_TEMPORARY, "broker",
	       "the broker is busy (%u clients); try again", opt.max_clients);
	close(fd);
}

static int
serve_forever(int lfd)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!stopping) {
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN},
				      {.fd = stop_pipe[0], .events = POLLIN}};
		Conn *c;
		pthread_t t;
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			say("poll: %s", ERRSTR(errno));
			return 1;
		}
		if (stopping)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		/* Clients beyond the slots wait for one in their thread
		 * (take_slot), and beyond four times as many in the listen
		 * queue (their own deadlines bound the wait) rather than
		 * being turned away: a cron job does not retry. */
		pthread_mutex_lock(&active_lock);
		while (active >= opt.max_clients * 5 && !stopping)
			wait_a_moment();
		pthread_mutex_unlock(&active_lock);
		if (stopping)
			break;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != EAGAIN &&
			    errno != ECONNABORTED)
				say("accept: %s", ERRSTR(errno));
			if (errno == EMFILE || errno == ENFILE)
				usleep(100000);
			continue;
		}
		pthread_mutex_lock(&active_lock);
		active++;
		pthread_mutex_unlock(&active_lock);
		c = g_new0(Conn, 1);
		c->fd = fd;
		if (pthread_create(&t, &attr, conn_thread, c) != 0) {
			say("cannot start a thread: %s", ERRSTR(errno));
			busy(fd);
			c->fd = -1;
			conn_free(c);
			pthread_mutex_lock(&active_lock);
			active--;
			pthread_mutex_unlock(&active_lock);
		}
	}
	pthread_attr_destroy(&attr);
	/* Let running sends finish (bounded), then go. */
	{
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += DRAIN_SECONDS;
		pthread_mutex_lock(&active_lock);
		while (active > 0 &&
		       pthread_cond_timedwait(&active_cond, &active_lock,
					      &until) == 0)
			;
		if (active > 0)
			say("stopping with %u sends unfinished", active);
		pthread_mutex_unlock(&active_lock);
	}
	return 0;
}

static void
usage(FILE *f)
{
	fputs("Usage: smtpcredd [--socket PATH] [--state-dir DIR] "
	      "[--max-clients N]\n"
	      "                 [--max-size BYTES] [--default-account NAME]\n\n"
	      "The system credential broker: sends mail for local clients "
	      "with the\naccounts of the system store, which only it (and "
	      "root) can read.\nRuns in the foreground; systemd starts it "
	      "from smtpcredd.socket.\n\n"
	      "  --socket PATH          listen here (default "
	      SMTPSEND_BROKER_SOCKET ";\n"
	      "                         ignored under socket activation)\n"
	      "  --state-dir DIR        the system store (default "
	      "$SMTPCRED_SYSTEM_DIR,\n"
	      "                         else " SMTPCRED_SYSTEM_DIR_DEFAULT ")\n"
	      "  --max-clients N        sends at once (default 32); more "
	      "wait their turn\n"
	      "  --max-per-user N       of them for one user (default 3/4 "
	      "of --max-clients;\n"
	      "                         root is bound only by "
	      "--max-clients)\n"
	      "  --max-size BYTES       largest message (default 52428800)\n"
	      "  --default-account NAME the account a client's \"default\" "
	      "means\n"
	      "  --admin-group GROUP    its members may run admin commands "
	      "through the\n"
	      "                         broker (default smtpcred-admin; \"\": "
	      "root only)\n"
	      "  --admin-cli PATH       the smtpcred it runs for them "
	      "(default\n"
	      "                         " SMTPCRED_CLI_PATH ")\n\n"
	      "The audit log: $SMTPCRED_AUDIT_LOG, else "
	      "/var/log/smtpcred/audit.log.\nSee smtpcredd(8).\n",
	      f);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"admin-cli", required_argument, NULL, 'C'},
	    {"admin-group", required_argument, NULL, 'g'},
	    {"default-account", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {"max-clients", required_argument, NULL, 'c'},
	    {"max-per-user", required_argument, NULL, 'u'},
	    {"max-size", required_argument, NULL, 'm'},
	    {"socket", required_argument, NULL, 's'},
	    {"state-dir", required_argument, NULL, 'd'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	g_autoptr(GError) error = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	struct rlimit no_core = {0, 0};
	const char *seal;
	unsigned u;
	int c, lfd;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!smtpcred_name_validate(optarg, NULL)) {
				say("--default-account: not an account name");
				return 64;
			}
			opt.default_account = optarg;
			break;
		case 'c':
			if (parse_uint(optarg, 1, 4096, &u) < 0) {
				say("--max-clients: 1-4096");
				return 64;
			}
			opt.max_clients = u;
			break;
		case 'u':
			if (parse_uint(optarg, 1, 4096, &u) < 0) {
				say("--max-per-user: 1-4096");
				return 64;
			}
			opt.max_per_user = u;
			break;
		case 'C':
			if (optarg[0] != '/' || strlen(optarg) >= PATH_MAX) {
				say("--admin-cli: an absolute path");
				return 64;
			}
			opt.admin_cli = optarg;
			break;
		case 'd':
			opt.state_dir = optarg;
			break;
		case 'g':
			opt.admin_group = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'm':
			if (parse_uint64(optarg, 1024, UINT64_MAX / 2,
					 &opt.max_size) < 0) {
				say("--max-size: a number of bytes (>= 1024)");
				return 64;
			}
			break;
		case 's':
			opt.socket = optarg;
			break;
		case 'V':
			printf("smtpcredd %s\n", SMTPCRED_VERSION);
			return 0;
		default:
			say("unknown option or missing value: %s (try --help)",
			    argv[optind - 1]);
			return 64;
		}
	}
	if (optind != argc) {
		say("unexpected argument (try --help)");
		return 64;
	}
	if (opt.max_per_user == 0)
		opt.max_per_user = MAX(1u, opt.max_clients * 3 / 4);
	if (opt.max_per_user > opt.max_clients)
		opt.max_per_user = opt.max_clients;
	per_uid = g_hash_table_new(g_direct_hash, g_direct_equal);
	/* No core files, no ptrace by the broker's own user. */
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);

	if (!smtpcred_system_scope(opt.state_dir, &error)) {
		say("%s", error->message);
		return 78;
	}
	seal = opt.seal = smtpcred_system_seal(&error);
	if (seal == NULL) {
		say("the system store %s cannot be opened: %s",
		    smtpcred_system_dir(), error->message);
		return 78;
	}
	if (!smtpcred_audit_check(NULL, &error)) {
		say("%s", error->message);
		return 74;
	}
	snprintf(opt.spool, sizeof(opt.spool), "%s", smtpcred_system_dir());
	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		say("pipe: %s", ERRSTR(errno));
		return 71;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	lfd = activated_socket();
	if (lfd >= 0)
		opt.socket = "the socket systemd passed";
	else
		lfd = listen_on(opt.socket);
	if (lfd < 0)
		return 71;
	say("serving the system store %s (master key: %s) on %s",
	    smtpcred_system_dir(), seal, opt.socket);
	return serve_forever(lfd);
}
