/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The message builder: an RFC 5322 / MIME (RFC 2045-2047, 2231) message
 * from a From header, To and Cc headers, a subject, extra header fields, a
 * UTF-8 text and/or HTML body and attachments streamed from files.
 *
 * Two objects:
 *   - mime_msg holds the description (all strings copied; caller frees
 *     with mime_msg_free());
 *   - mime_gen streams the bytes of one copy of the message, pulled with
 *     mime_gen_read() in constant memory (caller frees with
 *     mime_gen_free()).  It borrows the mime_msg, which must outlive it.
 *
 * The first mime_gen_new() or mime_msg_measure() seals the message: the
 * Date (the current time unless mime_msg_set_date() gave one), the
 * Message-ID and the boundaries are fixed then, and every later setter
 * returns SMTPSEND_E_INVAL.  Every generator of a sealed message produces
 * the same bytes (as long as the attachment files do not change), so the
 * size measured for SIZE= is the size sent.  Sealing is not thread-safe;
 * after it, several generators may read one message from different
 * threads.
 *
 * Shape of the output:
 *   Date, From, To, Cc, Subject, Message-ID, the extra fields in the
 *   order added, MIME-Version: 1.0, then
 *   - text only: text/plain; charset=utf-8;
 *   - HTML only: text/html; charset=utf-8;
 *   - both: multipart/alternative (text, then HTML);
 *   - attachments: multipart/mixed holding the above (an empty text part
 *     when there is no body) and one part per file: Content-Type as given
 *     (or application/octet-stream) with a name parameter,
 *     Content-Disposition: attachment with a filename parameter (RFC 2231
 *     filename*=UTF-8''..., in sections when long, unless the name is
 *     short printable ASCII),
 *     base64 in lines of 76 characters.
 *   Bcc never appears.  Text and HTML get the transfer encoding chosen by
 *   mime_text_cte().  Boundaries are "=_" and 32 random hex digits: "=_"
 *   never occurs in quoted-printable or base64 output, and a boundary
 *   found in the raw text or HTML is drawn again.
 * Every line ends in CRLF and has at most SMTP_TEXT_LINE_MAX octets;
 * header lines aim at 78 characters (encword.h).  The body is 7-bit
 * ASCII; header fields are too, unless an address has a UTF-8 local
 * part (RFC 6532: mime_msg_utf8_headers()).  There are no NUL bytes
 * and no bare CR or LF; the session still passes the bytes through the
 * DATA encoder (body.h) for dot-stuffing.
 *
 * Decoding gives back the text and HTML exactly (with line ends made
 * CRLF, RFC 2046 4.1.1), except that a single 7bit text part without a
 * final line end gets one; attachments come back byte for byte.
 *
 * Errors (negative smtpsend_code; outputs untouched on failure):
 *   SMTPSEND_E_INVAL  NULL arguments, CR/LF/NUL or invalid UTF-8 where
 *                     text is expected, bad names or types, setters after
 *                     sealing, no From when sealing;
 *   SMTPSEND_E_LIMIT  the limits below;
 *   SMTPSEND_E_IO     a file could not be opened, read or examined; errno
 *                     holds the cause, or 0 when the file changed size
 *                     after it was measured (the message would not match
 *                     its SIZE=);
 *   SMTPSEND_E_NOMEM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "internal.h"

/* Attachments are read in chunks of this many octets: 864 base64 lines
 * of 57 octets (RFC 2045 6.8: 76 characters a line), about 48 KiB. */
#define MIME_FILE_CHUNK (57u * 864u)
/* Output prepared at once: one chunk as base64 lines with CRLF. */
#define MIME_PEND_MAX (864u * 78u)
/* A text or HTML body, in octets as given. */
#define MIME_TEXT_MAX (16u * 1024u * 1024u)
/* Attachments in one message. */
#define MIME_ATTACH_MAX 64u
/* Extra header fields in one message. */
#define MIME_HEADERS_MAX 64u
/* An attachment's name, in octets of UTF-8 (NAME_MAX). */
#define MIME_FILENAME_MAX 255u
/* A content type with its parameters. */
#define MIME_CTYPE_MAX 256u
/* A Message-ID domain (RFC 1035 and the brackets of a literal). */
#define MIME_DOMAIN_MAX 255u
/* A boundary: "=_" and 32 hex digits (RFC 2046 5.1.1 allows 70). */
#define MIME_BOUNDARY_LEN 34u
/* Quoted-printable lines, soft break included (RFC 2045 6.7 rule 5). */
#define MIME_QP_LINE_MAX 76u

typedef struct mime_msg mime_msg;
typedef struct mime_gen mime_gen;

/* Content-Transfer-Encoding of a text part. */
typedef enum mime_cte {
	MIME_CTE_7BIT = 0,
	MIME_CTE_QP = 1,
	MIME_CTE_BASE64 = 2,
} mime_cte;

typedef enum mime_addr_kind {
	MIME_ADDR_TO = 0,
	MIME_ADDR_CC = 1,
} mime_addr_kind;

/* Fill buf[0..n) with random octets; 0 or a negative smtpsend_code. */
typedef int (*mime_random_fn)(void *userdata, unsigned char *buf, size_t n);

/* An empty message.  0 or SMTPSEND_E_INVAL / SMTPSEND_E_NOMEM. */
int mime_msg_new(mime_msg **out);
/* Free m and everything it owns; NULL is a no-op.  No generator of m
 * may be left. */
void mime_msg_free(mime_msg *m);

/*
 * The From field.  value is an RFC 5322 mailbox list.  A value of ASCII
 * is taken as it is, only folded (encword_structured()), never encoded:
 * it may carry display names already made with encword_phrase().  A
 * value with UTF-8 is parsed as addresses (addr.h: "Name <local@domain>",
 * quoted names, lists) and written again: display names with
 * encword_phrase(), domains as A-labels, UTF-8 local parts as they are
 * (RFC 6532; see mime_msg_utf8_headers()).  id_domain is the domain for
 * the Message-ID (<random@id_domain>): a dot-atom or an address literal
 * of at most MIME_DOMAIN_MAX octets, normally the From address's domain.
 * Both copied.  Setting it again replaces it.
 */
int mime_msg_set_from(mime_msg *m, const char *value, const char *id_domain);

/* Append value (an address list, read as for From) to the To or Cc
 * field, after ", ".  The whole field is at most ENCWORD_STRUCTURED_MAX octets.
 * Bcc recipients are envelope only: they are never given to the builder. */
int mime_msg_add_address(mime_msg *m, mime_addr_kind kind, const char *value);

/* The Subject (UTF-8), encoded with encword_unstructured().  Copied. */
int mime_msg_set_subject(mime_msg *m, const char *subject);

/*
 * An extra field, at most MIME_HEADERS_MAX of them.  name must pass
 * encword_name_valid() and may not be one the builder writes (From, To,
 * Cc, Bcc, Subject, Date, Message-ID, MIME-Version, Content-*; any
 * case): SMTPSEND_E_INVAL.  A value of printable ASCII and HT is taken
 * as structured (folded only: pre-encoded words, addresses, msg-ids and
 * URLs pass untouched); a value with other UTF-8 is encoded as
 * unstructured text.
 */
int mime_msg_add_header(mime_msg *m, const char *name, const char *value);

/* The text or HTML body: UTF-8 without NUL, at most MIME_TEXT_MAX
 * octets, with any line ends (bare CR and bare LF are made CRLF) and
 * lines of any length (long ones make the part quoted-printable or
 * base64).  Copied; setting it again replaces it.  len 0 (text may then
 * be NULL) sets an empty body. */
int mime_msg_set_text(mime_msg *m, const char *text, size_t len);
int mime_msg_set_html(mime_msg *m, const char *html, size_t len);

/*
 * Attach the file at path (copied; opened now to check it is a readable
 * regular file, SMTPSEND_E_IO / SMTPSEND_E_INVAL otherwise, then closed;
 * read again by each generator).  content_type NULL: application/
 * octet-stream; otherwise "type/subtype" tokens (RFC 2045 5.1) and
 * optional "; parameters", printable ASCII, at most MIME_CTYPE_MAX.
 * name NULL: the path's last component; a name is 1..MIME_FILENAME_MAX
 * octets of UTF-8 without control characters or '/'.
 */
int mime_msg_attach_file(mime_msg *m, const char *path,
			 const char *content_type, const char *name);

/* Use t for the Date instead of the time of sealing (tests, resends).
 * The zone is the local one (localtime_r, TZ). */
int mime_msg_set_date(mime_msg *m, time_t t);

/* Draw Message-ID and boundaries from fn instead of getrandom(2)
 * (tests).  fn NULL restores getrandom. */
int mime_msg_set_random(mime_msg *m, mime_random_fn fn, void *userdata);

/*
 * Seal m and compute the exact size of the message in octets (CRLF
 * line ends, before dot-stuffing: RFC 1870 SIZE) without reading the
 * attachments: their sizes are taken with fstat(2) when sealing, and
 * generators check that the files still have them.  Errors as for
 * mime_gen_new().
 */
int mime_msg_measure(mime_msg *m, uint64_t *size);

/* True when an address in From, To or Cc has a UTF-8 local part, so the
 * header holds UTF-8 and the session needs SMTPUTF8.  Valid at any time.
 * The body is always ASCII. */
bool mime_msg_utf8_headers(const mime_msg *m);

/*
 * The transfer encoding for a text of len octets with CRLF line ends:
 * 7bit when it is printable ASCII (with HT) and no line is longer than
 * SMTP_TEXT_LINE_MAX; otherwise quoted-printable when that is not longer
 * than base64, base64 otherwise.
 */
mime_cte mime_text_cte(const char *text, size_t len);

/* A generator at the start of m (sealing m first: SMTPSEND_E_INVAL
 * without From, SMTPSEND_E_IO when an attachment is gone,
 * SMTPSEND_E_LIMIT when no boundary could be drawn).  It owns at most
 * one open file at a time (O_CLOEXEC) and two buffers of MIME_FILE_CHUNK
 * and MIME_PEND_MAX octets, allocated here: reading allocates nothing. */
int mime_gen_new(mime_gen **out, mime_msg *m);

/*
 * Copy up to bufsize next octets of the message to buf; *n gets how many
 * (fewer than bufsize only at the end; 0 means the end).  Errors are
 * sticky.  SMTPSEND_E_IO: a file could not be read or changed (see
 * above).
 */
int mime_gen_read(mime_gen *g, char *buf, size_t bufsize, size_t *n);

/* Close the open file, free g; NULL is a no-op. */
void mime_gen_free(mime_gen *g);
