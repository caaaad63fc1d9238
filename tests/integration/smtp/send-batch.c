/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * send-batch ACCOUNT N FROM TO: send N small messages over one session of
 * libsmtpsend with the keyring provider (one lease, one AUTH).  Prints
 * "sent N" and exits 0 only when every message was accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcred/provider.h>
#include <smtpsend/smtpsend.h>

int
main(int argc, char **argv)
{
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_session *s = NULL;
	long n, sent = 0;

	if (argc != 5 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: send-batch ACCOUNT N FROM TO\n");
		return 64;
	}
	o.purpose = "send-batch test";
	if (smtpsend_session_new_for_account(&s, argv[1],
					     smtpcred_send_provider(), &o,
					     &err) < 0) {
		fprintf(stderr, "session: %s\n", err.message);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		smtpsend_message *m = NULL;
		smtpsend_result res = SMTPSEND_RESULT_INIT;
		char subject[64], body[128];
		int r;

		snprintf(subject, sizeof(subject), "batch %ld", i + 1);
		snprintf(body, sizeof(body), "message %ld of %ld\n", i + 1, n);
		r = smtpsend_message_new(&m, &err);
		if (r == 0)
			r = smtpsend_message_set_from(m, argv[3], &err);
		if (r == 0)
			r = smtpsend_message_add_rcpt(m, "to", argv[4], &err);
		if (r == 0)
			r = smtpsend_message_set_subject(m, subject, &err);
		if (r == 0)
			r = smtpsend_message_set_text(m, body, strlen(body),
						      &err);
		if (r == 0)
			r = smtpsend_send(s, m, &res, &err);
		if (r == 0 && res.sent)
			sent++;
		else
			fprintf(stderr, "message %ld: %s: %s\n", i + 1,
				err.stage ? err.stage : "", err.message);
		smtpsend_result_clear(&res);
		smtpsend_message_free(m);
		if (r < 0)
			break;
	}
	smtpsend_session_free(s);
	printf("sent %ld\n", sent);
	return sent == n ? 0 : 1;
}
