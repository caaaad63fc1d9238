/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Log-safe text.  Untrusted text (server replies, account names, caller
 * purposes, paths) is escaped before it reaches a log, an error message, a
 * terminal or a JSON document, so it can neither forge lines nor carry
 * terminal control sequences.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Escape for a log line or terminal: printable ASCII (0x20..0x7e) except
 * backslash is copied; backslash becomes "\\"; \t \n \r become "\t" "\n"
 * "\r"; every other byte (controls, DEL, bytes >= 0x80) becomes "\xHH".
 * Output is always NUL-terminated and truncated to fit dst (a truncated
 * result ends with "..." when dstsz >= 4; never a partial escape).
 * Returns the length written (without NUL).
 */
size_t logsafe_escape(char *dst, size_t dstsz, const char *src, size_t srclen);

/*
 * Escape as the body of a JSON string (RFC 8259), without the quotes:
 * '"' and '\\' are backslash-escaped, controls < 0x20 and 0x7f become
 * \u00XX, bytes >= 0x80 are copied only when they form valid UTF-8 and are
 * otherwise replaced by \u00XX of the byte (so the output is always valid
 * UTF-8 JSON).  Same truncation rules as logsafe_escape().
 * Returns the length written (without NUL).
 */
size_t logsafe_json(char *dst, size_t dstsz, const char *src, size_t srclen);

/* Bytes needed for the worst case of either escape of srclen bytes,
 * including the NUL. */
#define LOGSAFE_MAX(srclen) ((srclen) * 6 + 1)

/* True when s (len bytes) is a valid identifier for an account name:
 * 1..64 bytes of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool logsafe_is_name(const char *s, size_t len);

/* True when s (len bytes) contains no CR, LF or NUL (what SMTP command
 * arguments, header values and attribute values must satisfy). */
bool logsafe_no_crlf_nul(const char *s, size_t len);
