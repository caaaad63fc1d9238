/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for keyring/audit.c: the audit log reader and verifier.
 * The input is the bytes of a log file.  Properties (abort() otherwise):
 *   - smtpcred_audit_verify() and smtpcred_audit_read() take any bytes,
 *     and agree: a log that verifies reads back with as many records,
 *     each one's raw line as in the file;
 *   - tamper evidence: a log of records written by the real appender
 *     verifies, and the same log with one byte changed (position and
 *     change taken from the input's first four octets) fails exactly at
 *     the line holding that byte.
 * The log is handed over through a memfd, so the loop writes no disk.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *good;	/* a log written by smtpcred_audit_append() */
static size_t good_len;
static int mfd = -1;	/* the file handed to the reader */
static char mpath[64];	/* /proc/self/fd/N of mfd */

/* Appends a few records with escapes in them to a scratch log, keeps its
 * bytes and removes the file. */
static void
make_good_log(void)
{
	static const SmtpcredAuditEvent ev[] = {
	    {"store", "ok", "work", 1, NULL, NULL, 0, NULL},
	    {"lease", "ok", "work", 1, "fuzz \"quoted\" \\ \x01 caf\xc3\xa9",
	     "smtp.example.org:587", 0, NULL},
	    {"auth-result", "denied", "work", 1, NULL, "[::1]:25", 535,
	     "5.7.8 \xf0\x9f\x94\x92\ttab"},
	};
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("fuzz-audit-XXXXXX", &error);
	g_autofree char *path = NULL;
	gsize len = 0;

	if (dir == NULL)
		abort();
	path = g_build_filename(dir, "audit.log", NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(ev); i++)
		if (!smtpcred_audit_append(path, &ev[i], NULL, &error))
			abort();
	if (!g_file_get_contents(path, &good, &len, &error))
		abort();
	good_len = len;
	g_unlink(path);
	g_rmdir(dir);
}

static void
set_file(const void *p, size_t n)
{
	if (ftruncate(mfd, 0) < 0 ||
	    (n > 0 && pwrite(mfd, p, n, 0) != (ssize_t)n))
		abort();
}

static void
setup(void)
{
	if (mfd >= 0)
		return;
	mfd = memfd_create("fuzz-audit", MFD_CLOEXEC);
	if (mfd < 0)
		abort();
	snprintf(mpath, sizeof(mpath), "/proc/self/fd/%d", mfd);
	make_good_log();
}

static guint64
line_of(const char *p, size_t pos)
{
	guint64 n = 1;

	for (size_t i = 0; i < pos; i++)
		n += p[i] == '\n';
	return n;
}

/* Any bytes: no crash, and read agrees with verify. */
static void
check_any(const uint8_t *data, size_t size)
{
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;
	g_autoptr(GPtrArray) recs = NULL;
	guint64 n = G_MAXUINT64, bad = 0;

	set_file(data, size);
	if (!smtpcred_audit_verify(mpath, &n, &bad, &e1)) {
		if (e1 == NULL || bad == 0 || n != G_MAXUINT64)
			abort();
		return;
	}
	recs = smtpcred_audit_read(mpath, &e2);
	if (recs == NULL || recs->len != n)
		abort();
	for (guint i = 0; i < recs->len; i++) {
		const SmtpcredAuditRecord *r = g_ptr_array_index(recs, i);

		if (r->seq != i + 1 || strstr((const char *)data, r->line) ==
					       NULL)
			abort();
	}
}

/* The real appender's log verifies; one changed byte is found. */
static void
check_tamper(const uint8_t *data, size_t size)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *copy = NULL;
	guint64 n = 0, bad = 0;
	size_t pos;
	uint8_t x;

	if (size < 4)
		return;
	pos = ((size_t)data[0] << 16 | (size_t)data[1] << 8 | data[2]) %
	      good_len;
	x = data[3] != 0 ? data[3] : 0x20;
	set_file(good, good_len);
	if (!smtpcred_audit_verify(mpath, &n, &bad, &e) || n != 3)
		abort();
	copy = g_memdup2(good, good_len);
	copy[pos] = (char)(copy[pos] ^ x);
	set_file(copy, good_len);
	if (smtpcred_audit_verify(mpath, &n, &bad, &e) ||
	    bad != line_of(good, pos))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *z;

	setup();
	/* strstr() in check_any needs a terminated copy */
	z = malloc(size + 1);
	if (z == NULL)
		abort();
	if (size > 0)
		memcpy(z, data, size);
	z[size] = '\0';
	check_any((const uint8_t *)z, size);
	free(z);
	check_tamper(data, size);
	return 0;
}
