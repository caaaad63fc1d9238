/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * send-batch ACCOUNT N FROM TO [BAD_EVERY [BAD_RCPT]]
 *
 * Sends N small messages with one smtpsend_send_batch() call over one
 * session of libsmtpsend with the keyring provider (one lease, one AUTH).
 * Message i (1-based) has the subject "batch i" and the body "message i
 * of N"; with BAD_EVERY > 0, every BAD_EVERY-th message goes to BAD_RCPT
 * (default no@reject.test) instead of TO, so the server refuses it.
 *
 * With SEND_BATCH_DSN="NOTIFY;RET;ENVID" in the environment every message
 * asks for delivery status notifications (RFC 3461) with those values.
 *
 * Prints one line per message, "i sent CODE" or "i failed CODE STAGE
 * TEXT", then "sent K".  Exits 0 only when exactly the messages that should
 * be accepted were and none of the others is reported as sent; 1 otherwise.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcred/provider.h>
#include <smtpsend/smtpsend.h>

static int
build(smtpsend_message **m, long i, long n, const char *from, const char *to,
      smtpsend_error *err)
{
	char subject[64], body[128];
	int r;

	snprintf(subject, sizeof(subject), "batch %ld", i);
	snprintf(body, sizeof(body), "message %ld of %ld\n", i, n);
	r = smtpsend_message_new(m, err);
	if (r == 0)
		r = smtpsend_message_set_from(*m, from, err);
	if (r == 0)
		r = smtpsend_message_add_rcpt(*m, "to", to, err);
	if (r == 0)
		r = smtpsend_message_set_subject(*m, subject, err);
	if (r == 0)
		r = smtpsend_message_set_text(*m, body, strlen(body), err);
	if (r == 0 && getenv("SEND_BATCH_DSN") != NULL) {
		char dsn[256], *ret, *envid;

		snprintf(dsn, sizeof(dsn), "%s", getenv("SEND_BATCH_DSN"));
		ret = strchr(dsn, ';');
		envid = ret != NULL ? strchr(ret + 1, ';') : NULL;
		if (envid == NULL)
			return SMTPSEND_E_INVAL;
		*ret++ = '\0';
		*envid++ = '\0';
		r = smtpsend_message_set_dsn(*m, dsn, ret, envid, err);
	}
	return r;
}

int
main(int argc, char **argv)
{
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_session *s = NULL;
	smtpsend_message **msgs;
	smtpsend_result *res;
	smtpsend_error *errs;
	const char *bad_rcpt = argc > 6 ? argv[6] : "no@reject.test";
	long n, bad_every = 0, want = 0;
	size_t sent = 0;
	int ok = 1;

	if (argc < 5 || argc > 7 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr,
			"usage: send-batch ACCOUNT N FROM TO [BAD_EVERY "
			"[BAD_RCPT]]\n");
		return 64;
	}
	if (argc > 5)
		bad_every = strtol(argv[5], NULL, 10);
	msgs = calloc((size_t)n, sizeof(*msgs));
	res = calloc((size_t)n, sizeof(*res));
	errs = calloc((size_t)n, sizeof(*errs));
	if (msgs == NULL || res == NULL || errs == NULL)
		return 71;
	for (long i = 0; i < n; i++) {
		bool bad = bad_every > 0 && (i + 1) % bad_every == 0;

		res[i] = (smtpsend_result)SMTPSEND_RESULT_INIT;
		errs[i] = (smtpsend_error)SMTPSEND_ERROR_INIT;
		if (build(&msgs[i], i + 1, n, argv[3], bad ? bad_rcpt : argv[4],
			  &err) < 0) {
			fprintf(stderr, "message %ld: %s\n", i + 1,
				err.message);
			return 1;
		}
		want += !bad;
	}
	o.purpose = "send-batch test";
	if (smtpsend_session_new_for_account(&s, argv[1],
					     smtpcred_send_provider(), &o,
					     &err) < 0) {
		fprintf(stderr, "session: %s\n", err.message);
		return 1;
	}
	if (smtpsend_send_batch(s, msgs, (size_t)n, res, errs, &sent) < 0)
		ok = want < n; /* some were meant to fail */
	for (long i = 0; i < n; i++) {
		bool bad = bad_every > 0 && (i + 1) % bad_every == 0;

		if (res[i].sent)
			printf("%ld sent %u\n", i + 1, res[i].reply_code);
		else
			printf("%ld failed %d %s %s\n", i + 1, errs[i].code,
			       errs[i].stage ? errs[i].stage : "-",
			       errs[i].message);
		if (res[i].sent == bad)
			ok = 0;
		smtpsend_result_clear(&res[i]);
		smtpsend_message_free(msgs[i]);
	}
	smtpsend_session_free(s);
	printf("sent %zu\n", sent);
	free(msgs);
	free(res);
	free(errs);
	return ok && (long)sent == want ? 0 : 1;
}
