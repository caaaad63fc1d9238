/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Mail addresses for the envelope (RFC 5321 Mailbox, with RFC 6531
 * UTF-8) and for headers (a small part of RFC 5322 address syntax).
 * Pure: no I/O, no global state; memory through common/alloc.h.  Safe
 * from any thread on distinct objects.
 *
 * Accepted forms, with blanks (SP, HT) around them ignored:
 *   local@domain
 *   <local@domain>
 *   Display Name <local@domain>
 *   "Quoted, Name" <local@domain>
 * and, for headers, a list of them separated by commas (commas inside
 * quotes or angle brackets do not separate; empty elements are skipped).
 *
 * Local part: a dot-atom of RFC 5322 atext (plus UTF-8, RFC 6531) or a
 * quoted string of RFC 5321 qtextSMTP / quoted-pairSMTP (plus UTF-8).  It
 * is kept exactly as written, quotes included, and may not be empty
 * (`""` neither).  Any non-ASCII byte in it sets utf8_local: the server
 * must offer SMTPUTF8.
 *
 * Domain: LDH labels (RFC 5321 sub-domain; no final dot), or an address
 * literal "[192.0.2.1]" / "[IPv6:2001:db8::1]".  A label with non-ASCII
 * characters must be valid UTF-8; its ASCII letters are lower-cased and
 * it is encoded with Punycode to an A-label "xn--...".  This is NOT full
 * IDNA: there is no UTS #46 mapping or normalisation, only the label
 * separators U+3002, U+FF0E and U+FF61 are read as dots, and a short list
 * of control, space and invisible format characters is refused; other
 * code points are encoded as given.  ASCII labels keep their case; an
 * ASCII label "xn--..." must be valid Punycode.
 *
 * Display names: quoted parts are unquoted, blank runs outside quotes
 * become one space, the result must be UTF-8.  Outside quotes the
 * characters < > , ; : \ are refused (no groups, no obsolete routes);
 * parentheses are kept as text (comments are not interpreted).
 *
 * Errors: SMTPSEND_E_INVAL for anything that is not a valid address,
 * including the RFC length rules (local part over 64 octets, a label over
 * 63 or a domain over 253 octets after encoding, a path over
 * SMTP_PATH_MAX) and CR, LF or NUL anywhere; SMTPSEND_E_LIMIT for this
 * library's own caps (display name, list length); SMTPSEND_E_NOMEM.
 * The null reverse-path "<>" is not an address: callers handle it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* RFC 5321 4.5.3.1.1: a local part is at most 64 octets. */
#define SMTP_ADDR_LOCAL_MAX 64u
/* RFC 1035 2.3.4: a label is at most 63 octets. */
#define SMTP_ADDR_LABEL_MAX 63u
/* A domain in A-label form, without a final dot (RFC 1035 255 octets on
 * the wire less the length octets). */
#define SMTP_ADDR_DOMAIN_MAX 253u
/* local@domain inside "<...>" (SMTP_PATH_MAX counts the brackets). */
#define SMTP_ADDR_SPEC_MAX (SMTP_PATH_MAX - 2u)
/* The domain as written: no valid domain is longer (4 UTF-8 octets for
 * each of at most 253 encoded characters). */
#define SMTP_ADDR_DOMAIN_UTF8_MAX (4u * SMTP_ADDR_DOMAIN_MAX)
/* Display name after unquoting; a header line holds 998 octets. */
#define SMTP_ADDR_DISPLAY_MAX 512u
/* Addresses in one list. */
#define SMTP_ADDR_LIST_MAX 1000u

typedef struct smtp_addr {
	char spec[SMTP_ADDR_SPEC_MAX + 1]; /* "local@a-label.domain" */
	size_t local_len; /* spec[0..local_len) is the local part */
	size_t spec_len;
	char domain_utf8[SMTP_ADDR_DOMAIN_UTF8_MAX + 1]; /* as written */
	char *display;   /* unquoted UTF-8 display name, or NULL;
			  * owned: smtp_addr_clear() */
	bool utf8_local; /* non-ASCII local part: needs SMTPUTF8 */
	bool idn;        /* a domain label was Punycode-encoded */
} smtp_addr;

/* Free what *a owns and zero it; NULL is a no-op. */
void smtp_addr_clear(smtp_addr *a);

/*
 * Parse one address from s[0..len) (NUL bytes inside are refused).
 * Returns 0 with *out filled (release with smtp_addr_clear()), or a
 * negative code (see above) with *out untouched.
 */
int smtp_addr_parse(smtp_addr *out, const char *s, size_t len);

/*
 * Parse a comma-separated list of at least one address.  Returns 0 with
 * *out an array of *n addresses (caller frees with
 * smtp_addr_list_free()), or a negative code with *out and *n untouched.
 */
int smtp_addr_parse_list(smtp_addr **out, size_t *n, const char *s, size_t len);

/* Maps a bare local name (sendmail's "root") to an address, or NULL to
 * leave it (it then fails to parse as an address). */
typedef const char *(*smtp_local_fn)(const char *name, size_t len,
				     void *ud);
/* smtp_addr_parse_list(), with each element that is a bare local name --
 * letters, digits, ".", "_", "-", "+", no "@", alone or between angle
 * brackets -- replaced by what LOCAL maps it to. */
int smtp_addr_parse_list_map(smtp_addr **out, size_t *n, const char *s,
			     size_t len, smtp_local_fn local, void *ud);
/* The bare local name in s[0..n) as *start and *len, or -1 when there is
 * none (see smtp_addr_parse_list_map). */
int smtp_local_name(const char *s, size_t n, size_t *start, size_t *len);

/* Clear each address and free the array; NULL is a no-op. */
void smtp_addr_list_free(smtp_addr *v, size_t n);

/* The A-label domain: a pointer into a->spec (borrowed). */
const char *smtp_addr_domain(const smtp_addr *a);

/*
 * Write the SMTP path "<local@a-label.domain>" for MAIL FROM / RCPT TO,
 * NUL-terminated; *len (optional) gets its length.  Returns 0,
 * SMTPSEND_E_INVAL (NULL arguments) or SMTPSEND_E_LIMIT (bufsz too small;
 * SMTP_PATH_MAX + 1 is always enough).  buf is untouched on failure.
 */
int smtp_addr_format_path(const smtp_addr *a, char *buf, size_t bufsz,
			  size_t *len);

/* The same, allocated: *out is freed by the caller with common_free().
 * 0, SMTPSEND_E_INVAL or SMTPSEND_E_NOMEM. */
int smtp_addr_path_dup(const smtp_addr *a, char **out);
