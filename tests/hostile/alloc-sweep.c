/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * alloc-sweep PORT CA_FILE USER PASSWORD_FILE
 *
 * Allocation failure at every allocation site of common/ and libsend
 * during a whole send (issue 6): for n = 1, 2, ... the n-th allocation
 * made through common/alloc (every allocation of libsend and common goes
 * there) fails, and one complete send runs: session, STARTTLS, AUTH PLAIN,
 * a message with a text part, the data, QUIT, free.  Each run must end
 * (text and html alternative, an encoded subject and header) with either
 * the message sent (the failure hit nothing that mattered) or
 * a clean typed error, SMTPSEND_E_NOMEM for one of libsend's own
 * allocations, and never report as sent what the server did not accept.
 * The sweep ends at the first n that the run no longer reaches.  Under
 * ASan/LSan, any crash or leak on any of those paths fails the test.
 * Test builds only (-Dtest_hooks=true); links libsend's internal library
 * for the hook.  Prints "runs N, sent S, nomem M, other O" and exits 0
 * when every run was clean.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpsend/smtpsend.h>

#include "alloc.h"

static char password[256];

static int
p_acquire(void *ud, const char *account, const char *purpose, unsigned ms,
	  void **lease, char *msg, size_t msglen)
{
	(void)ud, (void)account, (void)purpose, (void)ms, (void)msg,
	    (void)msglen;
	*lease = password;
	return 0;
}
static const char *
p_user(void *lease)
{
	(void)lease;
	return getenv("SWEEP_USER");
}
static int
p_borrow(void *lease, const char **secret, size_t *len)
{
	*secret = lease;
	*len = strlen(lease);
	return 0;
}
static void
p_nop(void *lease)
{
	(void)lease;
}

static const smtpsend_provider provider = {
    .struct_version = 1,
    .acquire = p_acquire,
    .user = p_user,
    .borrow = p_borrow,
    .give_back = p_nop,
    .release = p_nop,
};

/* One complete send; 0 sent, else the smtpsend code. */
static int
one_send(unsigned port, const char *ca)
{
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_result res = SMTPSEND_RESULT_INIT;
	smtpsend_session *s = NULL;
	smtpsend_message *m = NULL;
	int r;

	o.host = "localhost";
	o.port = (uint16_t)port;
	o.ca_file = ca;
	o.account = "sweep";
	o.mechs = "PLAIN";
	o.provider = &provider;
	o.timeout_ms = 20000;
	r = smtpsend_session_new(&s, &o, &err);
	if (r == 0)
		r = smtpsend_message_new(&m, &err);
	if (r == 0)
		r = smtpsend_message_set_from(m, "a@test.example", &err);
	if (r == 0)
		r = smtpsend_message_add_rcpt(m, "to", "b@example.org", &err);
	if (r == 0)
		r = smtpsend_message_set_subject(m, "sweep \xc3\xa9t\xc3\xa9",
						 &err);
	if (r == 0)
		r = smtpsend_message_set_text(m, "line one\nline two\n", 18,
					      &err);
	if (r == 0)
		r = smtpsend_message_set_html(m, "<p>line one</p>\n", 16, &err);
	if (r == 0)
		r = smtpsend_message_add_header(m, "X-Sweep", "caf\xc3\xa9",
						&err);
	if (r == 0)
		r = smtpsend_send(s, m, &res, &err);
	if (r == 0 && !res.sent)
		r = SMTPSEND_E_PROTO; /* "ok" but not sent: never allowed */
	if (r < 0 && res.sent)
		r = -1000; /* an error that claims "sent" */
	smtpsend_result_clear(&res);
	smtpsend_message_free(m);
	smtpsend_session_free(s);
	return r;
}

int
main(int argc, char **argv)
{
	long runs = 0, sent = 0, nomem = 0, other = 0, bad = 0;
	FILE *f;

	if (argc != 5)
		return 64;
	f = fopen(argv[4], "r");
	if (f == NULL || fgets(password, sizeof(password), f) == NULL)
		return 66;
	fclose(f);
	password[strcspn(password, "\n")] = '\0';
	setenv("SWEEP_USER", argv[3], 1);

	for (long n = 1; n < 100000; n++) {
		long used;
		int r;

		common_alloc_reset_for_tests(n);
		r = one_send((unsigned)strtoul(argv[1], NULL, 10), argv[2]);
		used = common_alloc_count_for_tests();
		runs++;
		if (r == 0)
			sent++;
		else if (r == SMTPSEND_E_NOMEM)
			nomem++;
		else if (r == -1000) {
			printf("n=%ld: an error reported as sent\n", n);
			bad++;
		} else {
			/* A failed allocation in a place whose caller maps
			 * it to its own error (e.g. a parser's limit) is
			 * still clean, but say where. */
			printf("n=%ld: code %d (%s)\n", n, r,
			       smtpsend_code_str(r));
			other++;
		}
		if (used < n) /* the n-th allocation never happened */
			break;
	}
	common_alloc_reset_for_tests(0);
	memset(password, 0, sizeof(password));
	printf("runs %ld, sent %ld, nomem %ld, other %ld\n", runs, sent, nomem,
	       other);
	return bad == 0 && sent >= 1 && nomem >= 1 ? 0 : 1;
}
