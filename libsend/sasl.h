/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SASL client mechanisms (RFC 4954 framing), pure: no I/O.  PLAIN
 * (RFC 4616), LOGIN, XOAUTH2 and OAUTHBEARER (RFC 7628).  Every buffer that
 * holds the secret or its base64 is a secbuf, wiped on every path.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"
#include "secbuf.h"

enum sasl_mech {
	SASL_PLAIN,
	SASL_LOGIN,
	SASL_XOAUTH2,
	SASL_OAUTHBEARER,
	_SASL_MAX,
};

struct sasl_client {
	enum sasl_mech mech;
	unsigned step;	  /* challenges answered */
	bool done;	  /* the exchange needs no further step */
	secbuf user;	  /* LOGIN: sent at the first prompt */
	secbuf secret;	  /* LOGIN: sent at the second prompt */
};

/* The mechanism's name as in EHLO ("PLAIN"); NULL for out of range. */
const char *sasl_mech_name(enum sasl_mech m);

/* The first mechanism of the allow-list (comma-separated, preference
 * order) that the server offers and we implement.  SMTPSEND_E_INVAL for
 * an empty list or a name we do not know at all, SMTPSEND_E_UNSUPPORTED
 * when nothing matches.  Never anything outside the list. */
int sasl_choose(const char *allow, bool (*offers)(const char *name, void *ud),
		void *ud, bool have_channel_binding, enum sasl_mech *out);

void sasl_init(struct sasl_client *c);
/* Build "AUTH <MECH> [initial response]" into line (appended); *show is
 * how many leading bytes may be traced. */
int sasl_start(struct sasl_client *c, enum sasl_mech m, const char *user,
	       const char *secret, size_t len, const char *authzid,
	       const char *host, unsigned port,
	       const unsigned char *channel_binding, secbuf *line,
	       size_t *show);
/* Answer one 334 challenge (base64 text).  SMTPSEND_E_PROTO for a
 * challenge the mechanism does not expect or bad base64. */
int sasl_step(struct sasl_client *c, const char *challenge, size_t len,
	      secbuf *line, size_t *show);
/* After 235: 0 when the mechanism is complete. */
int sasl_finish(struct sasl_client *c);
/* Wipe everything. */
void sasl_clear(struct sasl_client *c);
