/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * EHLO capability parsing (RFC 5321 4.1.1.1).  Pure: no I/O, no
 * allocation, no global state; safe from any thread on distinct objects.
 *
 * The first line of the reply is the server's domain and greeting, never
 * a capability.  Every other line is "keyword *(SP param)"; keywords are
 * matched case-insensitively and as whole tokens ("XSTARTTLS" is not
 * STARTTLS, "STARTTLSX" neither).  Lines that do not have that shape are
 * ignored rather than fatal: servers vary and an odd line must not cost
 * the session.  Decisions:
 *   - "AUTH=LOGIN PLAIN" (the pre-RFC 4954 form some servers still add)
 *     counts as AUTH; mechanisms from several AUTH lines are merged.
 *     Mechanism names must be RFC 4422 names (1..20 of A-Z 0-9 - _,
 *     either case; kept upper-cased); other parameters are skipped.
 *   - SIZE (RFC 1870): without a parameter or with "0", size_max is 0
 *     (no limit given).  A parameter that is not a plain decimal number
 *     that fits 64 bits also gives size_present with size_max 0: the
 *     server's limit is unknown, so we send and let it refuse with 552
 *     rather than refuse locally on a guess.  A later SIZE line replaces
 *     an earlier one.
 *   - Flag capabilities are set whatever parameters follow them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reply.h"

/* SASL mechanisms the library knows (bits of smtp_caps.auth). */
enum {
	SMTP_AUTH_PLAIN = 1u << 0,
	SMTP_AUTH_LOGIN = 1u << 1,
	SMTP_AUTH_XOAUTH2 = 1u << 2,
	SMTP_AUTH_OAUTHBEARER = 1u << 3,
	SMTP_AUTH_SCRAM_SHA_256 = 1u << 4,
	SMTP_AUTH_SCRAM_SHA_256_PLUS = 1u << 5,
};

/* A SASL mechanism name: at most 20 characters (RFC 4422 3.1). */
#define SMTP_SASL_NAME_MAX 20u
/* Bytes kept of the advertised mechanism names, ' '-separated; names that
 * do not fit are dropped (known ones still set their bit). */
#define SMTP_CAPS_AUTH_NAMES_MAX 512u

typedef struct smtp_caps {
	bool starttls;            /* RFC 3207 */
	bool pipelining;          /* RFC 2920 */
	bool eightbitmime;        /* RFC 6152 */
	bool smtputf8;            /* RFC 6531 */
	bool enhancedstatuscodes; /* RFC 2034 */
	bool dsn;                 /* RFC 3461 */
	bool chunking;            /* RFC 3030 */
	bool size_present;        /* RFC 1870 */
	uint64_t size_max;        /* 0: no limit given (see above) */
	bool auth_present;        /* an AUTH keyword was seen */
	unsigned auth;            /* SMTP_AUTH_* bits of known mechanisms */
	char auth_names[SMTP_CAPS_AUTH_NAMES_MAX]; /* every valid mechanism,
						    * upper case, no
						    * duplicates, ' '-separated,
						    * NUL-terminated */
} smtp_caps;

/* Forget every capability (after STARTTLS, before EHLO again). */
void smtp_caps_clear(smtp_caps *c);

/*
 * Parse a complete EHLO reply.  r must be complete (smtp_reply_complete)
 * with code 250, else SMTPSEND_E_INVAL; NULL arguments are
 * SMTPSEND_E_INVAL too.  Returns 0 with *out replaced; on failure *out is
 * untouched.
 */
int smtp_caps_parse(smtp_caps *out, const smtp_reply *r);

/* Whether the server offers the mechanism called name (any case; any
 * name, known or not).  False for NULL or for a name that is not a valid
 * SASL mechanism name. */
bool smtp_caps_has_auth(const smtp_caps *c, const char *name);

/* The SMTP_AUTH_* bit of a mechanism name (len bytes, any case), or 0 if
 * the library does not know it. */
unsigned smtp_auth_mech_bit(const char *name, size_t len);

/* The upper-case name of one SMTP_AUTH_* bit ("SCRAM-SHA-256"), or NULL
 * for anything else.  Static storage. */
const char *smtp_auth_mech_name(unsigned bit);
