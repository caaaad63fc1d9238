/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-send MODE N SIZE ACCOUNT FROM TO
 *   MODE batch: N messages of SIZE bytes over one session (one lease),
 *               through smtpsend_send_batch() in groups of up to
 *               BATCH_GROUP messages or 8 MiB (pipelined across messages)
 *   MODE single: the same, one smtpsend_send() per message
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

#define BATCH_GROUP 50

static int
build(smtpsend_message **m, const char *from, const char *to,
      const char *body, size_t len, smtpsend_error *err)
{
	int r = smtpsend_message_new(m, err);

	if (r == 0)
		r = smtpsend_message_set_from(*m, from, err);
	if (r == 0)
		r = smtpsend_message_add_rcpt(*m, "to", to, err);
	if (r == 0)
		r = smtpsend_message_set_subject(*m, "bench", err);
	if (r == 0)
		r = smtpsend_message_set_text(*m, body, len, err);
	return r;
}

static int
send_one(smtpsend_session *s, const char *from, const char *to,
	 const char *body, size_t len)
{
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_result res = SMTPSEND_RESULT_INIT;
	smtpsend_message *m = NULL;
	int r = build(&m, from, to, body, len, &err);

	if (r == 0)
		r = smtpsend_send(s, m, &res, &err);
	if (r < 0)
		fprintf(stderr, "send: %s\n", err.message);
	smtpsend_result_clear(&res);
	smtpsend_message_free(m);
	return r;
}

/* k messages in one smtpsend_send_batch() call. */
static int
send_group(smtpsend_session *s, long k, const char *from, const char *to,
	   const char *body, size_t len)
{
	smtpsend_message *m[BATCH_GROUP] = {0};
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	size_t sent = 0;
	int r = 0;

	for (long i = 0; r == 0 && i < k; i++)
		r = build(&m[i], from, to, body, len, &err);
	if (r == 0)
		r = smtpsend_send_batch(s, m, (size_t)k, NULL, NULL, &sent);
	if (r < 0)
		fprintf(stderr, "batch: %s (%zu of %ld sent)\n",
			smtpsend_code_str(r), sent, k);
	for (long i = 0; i < k; i++)
		smtpsend_message_free(m[i]);
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
	int batch, single;

	if (argc != 7)
		return 64;
	batch = strcmp(argv[1], "batch") == 0;
	single = strcmp(argv[1], "single") == 0;
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
		if (batch) {
			/* Up to BATCH_GROUP messages, and about 8 MiB, per
			 * call: the messages of a group are all built first. */
			long g = 8L * 1024 * 1024 / (size + 1) + 1;
			long k = g < BATCH_GROUP ? g : BATCH_GROUP;

			if (k > n - i)
				k = n - i;

			if (s == NULL &&
			    smtpsend_session_new_for_account(
				&s, argv[4], smtpcred_send_provider(), &o,
				&err) < 0) {
				fprintf(stderr, "session: %s\n", err.message);
				return 1;
			}
			if (send_group(s, k, argv[5], argv[6], body,
				       (size_t)size) < 0)
				return 1;
			i += k - 1;
			continue;
		}
		if (s == NULL &&
		    smtpsend_session_new_for_account(&s, argv[4],
						     smtpcred_send_provider(),
						     &o, &err) < 0) {
			fprintf(stderr, "session: %s\n", err.message);
			return 1;
		}
		if (send_one(s, argv[5], argv[6], body, (size_t)size) < 0)
			return 1;
		if (!single) {
			smtpsend_session_free(s);
			s = NULL;
		}
	}
	smtpsend_session_free(s);
	printf("%.3f\n", now() - t0);
	free(body);
	return 0;
}
