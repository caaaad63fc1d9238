/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Audit log internals shared with tests and fuzzers. */
#pragma once

#include <stddef.h>

#include <smtpcred/smtpcred.h>

/* The longest record line, without its newline. */
#define AUDIT_LINE_MAX 16384u

/* Parse one line (without its newline) of exactly the format this library
 * writes into *out (fields owned by *out; free them with
 * smtpcred_audit_record_free() on a heap copy, or field by field).  Pure:
 * no I/O.  INVALID naming what is wrong. */
gboolean kr_audit_parse_line(const char *line, size_t len,
			     SmtpcredAuditRecord *out, GError **error);
