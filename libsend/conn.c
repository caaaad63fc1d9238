/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transport: TCP (+TLS) with poll() deadlines on every wait. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "conn.h"
#include "secbuf.h"

void
conn_init(conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int
io_fail(smtpsend_error *err, const char *stage, const char *what, int e)
{
	char buf[128];

	send_fail(err, SMTPSEND_E_IO, stage, "%s: %s", what,
		  strerror_r(e, buf, sizeof(buf)));
	if (err != NULL)
		err->sys_errno = e;
	return SMTPSEND_E_IO;
}

/* Wait for fd to become readable/writable before the deadline. */
static int
wait_fd(int fd, short events, int64_t deadline, const char *stage,
	smtpsend_error *err)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - send_now_us();
		int r;

		if (left <= 0)
			return send_fail(err, SMTPSEND_E_TIMEOUT, stage,
					 "timed out waiting for the server");
		r = poll(&p, 1, (int)((left + 999) / 1000));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return io_fail(err, stage, "poll", errno);
	}
}

static bool
addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

int
conn_open(conn *c, const char *host, uint16_t port, int64_t deadline,
	  smtpsend_error *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res = NULL, *ai;
	char service[8];
	int r, last_errno = ECONNREFUSED;

	snprintf(service, sizeof(service), "%u", port);
	r = getaddrinfo(host, service, &hints, &res);
	if (r != 0)
		return send_fail(err, SMTPSEND_E_IO, "connect",
				 "cannot resolve '%s': %s", host,
				 gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int fd, one = 1, soerr = 0;
		socklen_t sl = sizeof(soerr);

		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			if (errno != EINPROGRESS) {
				last_errno = errno;
				close(fd);
				continue;
			}
			r = wait_fd(fd, POLLOUT, deadline, "connect", err);
			if (r < 0) {
				close(fd);
				freeaddrinfo(res);
				return r;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
				       &sl) < 0 ||
			    soerr != 0) {
				last_errno = soerr != 0 ? soerr : errno;
				close(fd);
				continue;
			}
		}
		c->fd = fd;
		c->loopback = addr_is_loopback(ai->ai_addr);
		getnameinfo(ai->ai_addr, ai->ai_addrlen, c->peer,
			    sizeof(c->peer), NULL, 0, NI_NUMERICHOST);
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	return io_fail(err, "connect", "cannot connect", last_errno);
}

/* Read more bytes into the buffer (TLS or plain). */
static int
fill(conn *c, int64_t deadline, const char *stage, smtpsend_error *err)
{
	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen == sizeof(c->rbuf))
		return send_fail(err, SMTPSEND_E_LIMIT, stage,
				 "reply line too long");
	for (;;) {
		short ev = POLLIN;
		int r;

		if (c->ssl != NULL) {
			int n, e;

			ERR_clear_error();
			n = SSL_read(c->ssl, c->rbuf + c->rlen,
				     (int)(sizeof(c->rbuf) - c->rlen));
			if (n > 0) {
				c->rlen += (size_t)n;
				return 0;
			}
			e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_ZERO_RETURN)
				return send_fail(err, SMTPSEND_E_IO, stage,
						 "the server closed the "
						 "connection");
			if (e == SSL_ERROR_WANT_WRITE)
				ev = POLLOUT;
			else if (e == SSL_ERROR_SYSCALL && errno != 0 &&
				 errno != EAGAIN)
				return io_fail(err, stage, "read", errno);
			else if (e != SSL_ERROR_WANT_READ) {
				ERR_clear_error();
				return send_fail(err, SMTPSEND_E_IO, stage,
						 "the TLS connection broke");
			}
		} else {
			ssize_t n = recv(c->fd, c->rbuf + c->rlen,
					 sizeof(c->rbuf) - c->rlen, 0);

			if (n > 0) {
				c->rlen += (size_t)n;
				return 0;
			}
			if (n == 0)
				return send_fail(err, SMTPSEND_E_IO, stage,
						 "the server closed the "
						 "connection");
			if (errno != EAGAIN && errno != EINTR)
				return io_fail(err, stage, "read", errno);
		}
		r = wait_fd(c->fd, ev, deadline, stage, err);
		if (r < 0)
			return r;
	}
}

int
conn_read_line(conn *c, const char **line, size_t *len, int64_t deadline,
	       const char *stage, smtpsend_error *err)
{
	for (;;) {
		char *start = c->rbuf + c->rpos;
		size_t avail = c->rlen - c->rpos;
		char *nl = memchr(start, '\n', avail);

		if (nl != NULL) {
			size_t n = (size_t)(nl - start);

			if (n > SMTP_REPLY_LINE_MAX + 1)
				return send_fail(err, SMTPSEND_E_LIMIT, stage,
						 "reply line longer than %u "
						 "bytes",
						 SMTP_REPLY_LINE_MAX);
			if (n > 0 && start[n - 1] == '\r')
				n--;
			*line = start;
			*len = n;
			c->rpos += (size_t)(nl - start) + 1;
			return 0;
		}
		if (avail > SMTP_REPLY_LINE_MAX + 2)
			return send_fail(err, SMTPSEND_E_LIMIT, stage,
					 "reply line longer than %u bytes",
					 SMTP_REPLY_LINE_MAX);
		{
			int r = fill(c, deadline, stage, err);

			if (r < 0)
				return r;
		}
	}
}

int
conn_write(conn *c, const void *buf, size_t len, int64_t deadline,
	   const char *stage, smtpsend_error *err)
{
	const char *p = buf;

	while (len > 0) {
		short ev = POLLOUT;
		int r;

		if (c->ssl != NULL) {
			int n, e;

			ERR_clear_error();
			n = SSL_write(c->ssl, p,
				      (int)(len > 1u << 30 ? 1u << 30 : len));
			if (n > 0) {
				p += n;
				len -= (size_t)n;
				continue;
			}
			e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ)
				ev = POLLIN;
			else if (e != SSL_ERROR_WANT_WRITE) {
				ERR_clear_error();
				return send_fail(err, SMTPSEND_E_IO, stage,
						 "the TLS connection broke "
						 "while writing");
			}
		} else {
			ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

			if (n > 0) {
				p += n;
				len -= (size_t)n;
				continue;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return io_fail(err, stage, "write", errno);
		}
		r = wait_fd(c->fd, ev, deadline, stage, err);
		if (r < 0)
			return r;
	}
	return 0;
}

size_t
conn_pending(const conn *c)
{
	size_t n = c->rlen - c->rpos;

	if (c->ssl != NULL)
		n += (size_t)SSL_pending(c->ssl);
	return n;
}

void
conn_close(conn *c)
{
	if (c->ssl != NULL) {
		/* Best effort close_notify; never wait for the answer. */
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	/* The buffer may have held AUTH challenges: clear it. */
	secure_wipe(c->rbuf, sizeof(c->rbuf));
	c->rpos = c->rlen = 0;
}
