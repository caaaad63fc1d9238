/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Audit log internals shared with tests and fuzzers; never installed. */
#pragma once

#include <stddef.h>

#include <smtpcred/smtpcred.h>

/*
 * Limits (STYLE.md principle 2).  A record line is at most AUDIT_LINE_MAX
 * bytes, its '\n' included: readers refuse longer lines, and writers can
 * never produce one because each caller-supplied string is first cut to
 * the byte count below (before escaping, never inside a UTF-8 sequence)
 * and audit.c checks at compile time that the worst case (every byte
 * escaped as \u00XX, 6 bytes) of all fields together still fits.
 */
#define AUDIT_LINE_MAX    16384u /* 16 KiB: one write(2) under the lock */
#define AUDIT_WORD_MAX    32u   /* event, outcome: short words */
#define AUDIT_ACCOUNT_MAX 64u   /* = KR_NAME_MAX */
#define AUDIT_EXE_MAX     256u  /* readlink("/proc/self/exe") */
#define AUDIT_PURPOSE_MAX 256u  /* caller's free text */
#define AUDIT_SERVER_MAX  262u  /* host name (253) + ":" + port (5) + slack */
#define AUDIT_DETAIL_MAX  256u  /* short non-secret detail */
#define AUDIT_UNIT_MAX    256u  /* a systemd unit name (its maximum) */

/* smtpcred_audit_append(), and with DURABLE FALSE without waiting for the
 * disk: the record is in the file (and the chain) when this returns and
 * survives the process, but a crash of the whole system in the next few
 * seconds may lose it.  Only for records nothing waits on (the AUTH
 * result); every access to a secret is recorded durably, before use. */
gboolean kr_audit_append(const char *path, const SmtpcredAuditEvent *ev,
			 gboolean durable, guint64 *seq_out, GError **error);

/* Parse one line (without its '\n') of exactly the format this library
 * writes.  Pure: no I/O, no global state, safe on any bytes.  Strict:
 * every key present once, in order, no whitespace, unsigned decimal
 * numbers without leading zeros, JSON string escapes (\uXXXX with
 * surrogate pairs) decoded to UTF-8, strings must be valid UTF-8 without
 * NUL, ts RFC 3339 UTC, prev and hash 64 lowercase hex digits.
 * On success fills *out (its strings are owned by *out: release them with
 * kr_audit_record_clear()).  On failure *out is untouched and error is
 * SMTPCRED_ERROR_INVALID saying what is wrong (without a line number). */
gboolean kr_audit_parse_line(const char *line, size_t len,
			     SmtpcredAuditRecord *out, GError **error);

/* Free the strings of a record that is not itself heap-allocated and zero
 * it.  NULL is a no-op. */
void kr_audit_record_clear(SmtpcredAuditRecord *r);
