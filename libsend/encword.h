/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Header fields for the message builder: RFC 2047 encoded words, RFC 5322
 * folding, field names and display names.  Pure: no I/O, no global state;
 * memory through common/alloc.h.  Safe from any thread.
 *
 * Every function that writes a field writes all of it: "Name: value",
 * folded, ending in CRLF, as an allocated NUL-terminated string
 * (*out: caller frees with common_free(); *outlen: its length without
 * the NUL).  Folding only ever inserts CRLF before an existing SP or HT
 * (RFC 5322 2.2.3), at the first blank of a run that is followed by more
 * text, so unfolding gives back exactly "Name: value" and no line is
 * blank-only.  Output parameters are untouched on failure.
 *
 * Errors: SMTPSEND_E_INVAL for NULL arguments, a bad field name, CR, LF
 * or NUL in a value, other control bytes where they cannot be encoded,
 * and text that is not UTF-8 (RFC 3629); SMTPSEND_E_LIMIT for the limits
 * below; SMTPSEND_E_NOMEM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* An encoded word, "=?UTF-8?B?...?=" included (RFC 2047 2). */
#define ENCWORD_WORD_MAX 75u
/* A line holding an encoded word, CRLF excluded (RFC 2047 2). */
#define ENCWORD_LINE_ENCODED 76u
/* The line length every field aims at (RFC 5322 2.1.1 SHOULD). */
#define ENCWORD_LINE_SOFT 78u
/* A field name: with ": " it still fits the first line.  RFC 5322 sets
 * no limit of its own; no registered field name comes close. */
#define ENCWORD_NAME_MAX 76u
/* An unstructured value or a display name, in octets of UTF-8. */
#define ENCWORD_VALUE_MAX (16u * 1024u)
/* A structured value (an address list of up to SMTP_ADDR_LIST_MAX
 * addresses with display names fits). */
#define ENCWORD_STRUCTURED_MAX (256u * 1024u)

/* A field name of 1..ENCWORD_NAME_MAX printable ASCII characters
 * (33..126) other than ':' (RFC 5322 2.2; ftext). */
bool encword_name_valid(const char *name, size_t len);

/* True when s[0..len) is well-formed UTF-8 (RFC 3629). */
bool encword_utf8_valid(const char *s, size_t len);

/*
 * An unstructured field (RFC 5322 3.2.5, e.g. Subject) from a UTF-8
 * value of at most ENCWORD_VALUE_MAX octets.  A value of printable ASCII
 * and HT, which does not end in a blank, holds no "=?", and folds at its
 * blanks into lines of at most ENCWORD_LINE_SOFT characters, is kept as
 * it is.  Any other value is written whole as encoded words (charset
 * UTF-8, "B" or "Q", whichever is shorter), each at most
 * ENCWORD_WORD_MAX characters, cut between UTF-8 characters, one per
 * line (the first on the name's line when it fits), every line holding
 * one at most ENCWORD_LINE_ENCODED characters.  So every line of the
 * field has at most ENCWORD_LINE_SOFT characters.
 * Decoding (encword_decode) gives back the exact value.  An empty value
 * gives "Name:" and CRLF.  CR, LF and NUL are refused; other control
 * bytes are encoded.
 */
int encword_unstructured(char **out, size_t *outlen, const char *name,
			 const char *value, size_t len);

/*
 * A structured field, or any value the caller has already encoded (an
 * address list made with encword_phrase(), a msg-id, a content type with
 * parameters): value of at most ENCWORD_STRUCTURED_MAX octets is only
 * folded, never encoded.  Lines aim at ENCWORD_LINE_SOFT characters; a
 * run without blanks that does not fit stays whole on its own line, up
 * to SMTP_TEXT_LINE_MAX octets (longer: SMTPSEND_E_LIMIT).  Printable
 * ASCII, HT and UTF-8 (RFC 6532) are accepted; other control bytes are
 * refused.
 */
int encword_structured(char **out, size_t *outlen, const char *name,
		       const char *value, size_t len);

/*
 * A display name (RFC 5322 3.2.5 phrase) from UTF-8 text of 1 to
 * ENCWORD_VALUE_MAX octets, for "phrase <addr-spec>": atoms separated by
 * single spaces are kept; other printable ASCII becomes a quoted string
 * ('"' and '\' escaped); text with other bytes becomes encoded words
 * ("Q" restricted to the phrase-safe characters of RFC 2047 5(3), or "B")
 * separated by single spaces.  One line, not folded: the caller folds the
 * whole field with encword_structured().  *out as above, no CRLF.
 */
int encword_phrase(char **out, size_t *outlen, const char *display, size_t len);

/*
 * For tests and fuzzers: read back a field written by
 * encword_unstructured().  field[0..len) must be "name:" followed by
 * lines ending in CRLF (continuation lines start with SP or HT); the
 * unfolded value (one SP after the colon dropped) is decoded as
 * unstructured text: encoded words (any charset; the octets are not
 * converted) are recognised between blanks, and blanks between two
 * encoded words are dropped (RFC 2047 6.2).  *out (NUL-terminated;
 * caller frees with common_free()) and *outlen get the octets.  Returns
 * 0, SMTPSEND_E_INVAL (not such a field, or a malformed encoded word) or
 * SMTPSEND_E_NOMEM.
 */
int encword_decode(char **out, size_t *outlen, const char *name,
		   const char *field, size_t len);
