/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-send MODE N SIZE ACCOUNT FROM TO
 *   MODE batch: N messages of SIZE bytes over one session (one lease)
 *   MODE fresh: N messages, each on a new session (TLS + AUTH + lease)
 * Prints the elapsed seconds.  Benchmark only (tests/bench/run.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <smtpcred/provider.h>
#include <smtpsend/smtpsend.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
send_one(smtpsend_session *s, const char *from, const char *to,
	 const char *body, size_t len)
{
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_result res = SMTPSEND_RESULT_INIT;
	smtpsend_message *m = NULL;
	int r = smtpsend_message_new(&m, &err);

	if (r == 0)
		r = smtpsend_message_set_from(m, from, &err);
	if (r == 0)
		r = smtpsend_message_add_rcpt(m, "to", to, &err);
	if (r == 0)
		r = smtpsend_message_set_subject(m, "bench", &err);
	if (r == 0)
		r = smtpsend_message_set_text(m, body, len, &err);
	if (r == 0)
		r = smtpsend_send(s, m, &res, &err);
	if (r < 0)
		fprintf(stderr, "send: %s\n", err.message);
	smtpsend_result_clear(&res);
	smtpsend_message_free(m);
	return r;
}

int
main(int argc, char **argv)
{
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_session *s = NULL;
	long n, size;
	char *body;
	double t0;
	int batch;

	if (argc != 7)
		return 64;
	batch = strcmp(argv[1], "batch") == 0;
	n = strtol(argv[2], NULL, 10);
	size = strtol(argv[3], NULL, 10);
	body = malloc((size_t)size + 1);
	if (body == NULL)
		return 71;
	/* Text lines of 76 characters, like a real message body. */
	for (long i = 0; i < size; i++)
		body[i] = (i % 77 == 76) ? '\n' : (char)('a' + i % 26);
	body[size] = '\0';
	o.purpose = "bench";
	t0 = now();
	for (long i = 0; i < n; i++) {
		if (s == NULL &&
		    smtpsend_session_new_for_account(&s, argv[4],
						     smtpcred_send_provider(),
						     &o, &err) < 0) {
			fprintf(stderr, "session: %s\n", err.message);
			return 1;
		}
		if (send_one(s, argv[5], argv[6], body, (size_t)size) < 0)
			return 1;
		if (!batch) {
			smtpsend_session_free(s);
			s = NULL;
		}
	}
	smtpsend_session_free(s);
	printf("%.3f\n", now() - t0);
	free(body);
	return 0;
}
