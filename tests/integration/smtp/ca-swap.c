/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ca-swap ACCOUNT CAFILE GOOD_CA BAD_CA FROM TO
 *
 * libsmtpsend shares TLS contexts (and so parsed CA stores) within a
 * process.  This checks that the sharing never outlives the CA file: in
 * one process, three sessions of ACCOUNT (whose CA file is CAFILE) send a
 * message each, with CAFILE replaced by a copy of GOOD_CA, then BAD_CA,
 * then GOOD_CA again.  The first and third must be sent, the second must
 * fail certificate verification (SMTPSEND_E_TLS_VERIFY) before AUTH.
 * Prints one line per step; exits 0 only when all three went as said.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcred/provider.h>
#include <smtpsend/smtpsend.h>

/* Replace dst by a copy of src (a new file, renamed over the old one). */
static int
install(const char *src, const char *dst)
{
	char tmp[4096], buf[8192];
	FILE *in, *out;
	size_t n;

	snprintf(tmp, sizeof(tmp), "%s.new", dst);
	in = fopen(src, "rb");
	out = fopen(tmp, "wb");
	if (in == NULL || out == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			return -1;
	fclose(in);
	if (fclose(out) != 0)
		return -1;
	return rename(tmp, dst);
}

static int
send_once(const char *account, const char *from, const char *to)
{
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_result res = SMTPSEND_RESULT_INIT;
	smtpsend_session *s = NULL;
	smtpsend_message *m = NULL;
	int r;

	o.purpose = "ca-swap test";
	r = smtpsend_session_new_for_account(&s, account,
					     smtpcred_send_provider(), &o,
					     &err);
	if (r == 0)
		r = smtpsend_message_new(&m, &err);
	if (r == 0)
		r = smtpsend_message_set_from(m, from, &err);
	if (r == 0)
		r = smtpsend_message_add_rcpt(m, "to", to, &err);
	if (r == 0)
		r = smtpsend_message_set_subject(m, "ca swap", &err);
	if (r == 0)
		r = smtpsend_message_set_text(m, "hello\n", 6, &err);
	if (r == 0)
		r = smtpsend_send(s, m, &res, &err);
	printf("%s %d %s\n", r == 0 && res.sent ? "sent" : "failed", r,
	       r == 0 ? "" : err.message);
	smtpsend_result_clear(&res);
	smtpsend_message_free(m);
	smtpsend_session_free(s);
	return r;
}

int
main(int argc, char **argv)
{
	int a, b, c;

	if (argc != 7) {
		fprintf(stderr, "usage: ca-swap ACCOUNT CAFILE GOOD_CA BAD_CA "
				"FROM TO\n");
		return 64;
	}
	if (install(argv[3], argv[2]) < 0)
		return 66;
	a = send_once(argv[1], argv[5], argv[6]);
	if (install(argv[4], argv[2]) < 0)
		return 66;
	b = send_once(argv[1], argv[5], argv[6]);
	if (install(argv[3], argv[2]) < 0)
		return 66;
	c = send_once(argv[1], argv[5], argv[6]);
	return a == 0 && b == SMTPSEND_E_TLS_VERIFY && c == 0 ? 0 : 1;
}
