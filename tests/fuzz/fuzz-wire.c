/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for common/wire.c's key=value payloads: what smtpcredd
 * reads from any local user (a request) and what a client reads from the
 * broker (a result).  Properties (abort() otherwise):
 *   - wire_kv_next() walks any bytes to the end or to -EINVAL, never past
 *     the payload, and gives keys of [a-z0-9_] (values are any bytes but
 *     NUL once their escapes are decoded: %00 is refused; a raw control
 *     byte in the payload is refused too);
 *   - every pair it gives survives the trip: wire_kv_add() of the pairs
 *     and a second walk give the same pairs, and that encoding is a fixed
 *     point (encoding it again gives the same bytes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAIRS_MAX 64
#define VAL_MAX	  1024

static char keys[PAIRS_MAX][32], vals[PAIRS_MAX][VAL_MAX];

static int
walk(const char *p, size_t n, size_t *count)
{
	wire_kv_iter it;
	char k[32], v[VAL_MAX];
	int r;

	*count = 0;
	wire_kv_iter_init(&it, p, n);
	while ((r = wire_kv_next(&it, k, sizeof(k), v, sizeof(v))) == 1) {
		if (it.p > p + n || k[0] == '\0')
			abort();
		for (const char *c = k; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') ||
			      (*c >= '0' && *c <= '9') || *c == '_'))
				abort();
		if (*count < PAIRS_MAX) {
			memcpy(keys[*count], k, sizeof(k));
			memcpy(vals[*count], v, sizeof(v));
		}
		(*count)++;
	}
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char enc[PAIRS_MAX * (32 + 3 * VAL_MAX + 2)];
	static char again[sizeof(enc)];
	static char k2[PAIRS_MAX][32], v2[PAIRS_MAX][VAL_MAX];
	wire_kv kv, kv2;
	size_t n, m;

	if (walk((const char *)data, size, &n) < 0 || n > PAIRS_MAX)
		return 0;
	wire_kv_init(&kv, enc, sizeof(enc));
	for (size_t i = 0; i < n; i++)
		wire_kv_add(&kv, keys[i], vals[i]);
	if (kv.overflow)
		abort();
	memcpy(k2, keys, sizeof(k2));
	memcpy(v2, vals, sizeof(v2));
	if (walk(enc, kv.len, &m) != 0 || m != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (strcmp(k2[i], keys[i]) != 0 || strcmp(v2[i], vals[i]) != 0)
			abort();
	wire_kv_init(&kv2, again, sizeof(again));
	for (size_t i = 0; i < n; i++)
		wire_kv_add(&kv2, keys[i], vals[i]);
	if (kv2.len != kv.len || memcmp(enc, again, kv.len) != 0)
		abort();
	return 0;
}
