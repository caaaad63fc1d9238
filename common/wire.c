/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The broker protocol's framing: see wire.h. */
#include "wire.h"

#include "parse.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t
wire_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for EVENTS or the deadline passes. */
static int
wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline_ms - wire_now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0; /* ready, or an error the call will show */
	}
}

static int
write_full(int fd, const void *p, size_t n, int64_t deadline_ms)
{
	const char *c = p;

	while (n > 0) {
		/* MSG_NOSIGNAL: a vanished peer is -EPIPE, not SIGPIPE. */
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, deadline_ms);

			if (r < 0)
				return r;
			continue;
		}
		if (w < 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_full(int fd, void *p, size_t n, int64_t deadline_ms)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = recv(fd, c, n, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = wait_fd(fd, POLLIN, deadline_ms);

			if (w < 0)
				return w;
			continue;
		}
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

int
wire_write(int fd, int type, const void *payload, size_t len,
	   int64_t deadline_ms)
{
	unsigned char h[WIRE_HEADER];
	int r;

	if (len > WIRE_FRAME_MAX)
		return -EMSGSIZE;
	h[0] = (unsigned char)type;
	h[1] = (unsigned char)(len >> 24);
	h[2] = (unsigned char)(len >> 16);
	h[3] = (unsigned char)(len >> 8);
	h[4] = (unsigned char)len;
	r = write_full(fd, h, sizeof(h), deadline_ms);
	if (r == 0 && len > 0)
		r = write_full(fd, payload, len, deadline_ms);
	return r;
}

int
wire_read(int fd, int *type, char *buf, size_t cap, size_t *len,
	  int64_t deadline_ms)
{
	unsigned char h[WIRE_HEADER];
	size_t n;
	int r;

	r = read_full(fd, h, sizeof(h), deadline_ms);
	if (r < 0)
		return r;
	n = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 |
	    (size_t)h[4];
	if (n > WIRE_FRAME_MAX || n > cap)
		return -EMSGSIZE;
	r = read_full(fd, buf, n, deadline_ms);
	if (r < 0)
		return r;
	*type = h[0];
	*len = n;
	return 0;
}

/* ---- key=value ------------------------------------------------------------ */

void
wire_kv_init(wire_kv *kv, char *buf, size_t cap)
{
	kv->buf = buf;
	kv->cap = cap;
	kv->len = 0;
	kv->overflow = false;
}

static void
put(wire_kv *kv, const char *s, size_t n)
{
	if (kv->overflow || kv->cap - kv->len < n) {
		kv->overflow = true;
		return;
	}
	memcpy(kv->buf + kv->len, s, n);
	kv->len += n;
}

void
wire_kv_add(wire_kv *kv, const char *key, const char *value)
{
	put(kv, key, strlen(key));
	put(kv, "=", 1);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p < 0x20 || *p == '%' || *p == 0x7f) {
			char e[4];

			snprintf(e, sizeof(e), "%%%02X", *p);
			put(kv, e, 3);
		} else {
			put(kv, (const char *)p, 1);
		}
	}
	put(kv, "\n", 1);
}

void
wire_kv_addu(wire_kv *kv, const char *key, uint64_t value)
{
	char n[24];

	snprintf(n, sizeof(n), "%llu", (unsigned long long)value);
	wire_kv_add(kv, key, n);
}

void
wire_kv_iter_init(wire_kv_iter *it, const char *payload, size_t len)
{
	it->p = payload;
	it->end = payload + len;
}

int
wire_kv_next(wire_kv_iter *it, char *key, size_t kcap, char *value,
	     size_t vcap)
{
	const char *nl, *eq, *q;
	size_t k = 0, v = 0;

	if (it->p >= it->end)
		return 0;
	nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	if (nl == NULL)
		return -EINVAL;
	eq = memchr(it->p, '=', (size_t)(nl - it->p));
	if (eq == NULL || eq == it->p)
		return -EINVAL;
	for (q = it->p; q < eq; q++) {
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
		      *q == '_') ||
		    k + 1 >= kcap)
			return -EINVAL;
		key[k++] = *q;
	}
	key[k] = '\0';
	for (q = eq + 1; q < nl; q++) {
		char c = *q;

		if (c == '%') {
			int hi = q + 2 < nl ? hex_digit_value(q[1]) : -1;
			int lo = q + 2 < nl ? hex_digit_value(q[2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			c = (char)(hi * 16 + lo);
			q += 2;
		} else if ((unsigned char)c < 0x20 || c == 0x7f) {
			return -EINVAL;
		}
		if (v + 1 >= vcap)
			return -EINVAL;
		value[v++] = c;
	}
	value[v] = '\0';
	it->p = nl + 1;
	return 1;
}
