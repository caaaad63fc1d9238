/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for raw messages (smtpsend_message_set_raw_fd, the sendmail
 * form): what the session would send and to whom, for each flag.  The
 * first case is the regression test for a bug the rcpt-headers fuzzer
 * found: without SMTPSEND_RAW_ADD_MISSING the message went out empty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "message.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct raw_case {
	const char *name;
	unsigned flags;
	const char *rcpt;  /* given as an argument, or NULL */
	const char *in;
	const char *want;  /* the message as spooled (NULL: not checked) */
	const char *want_prefix; /* what it starts with, when want is NULL */
	const char *want_rcpts[6]; /* in header order */
};

/* clang-format off */
static const struct raw_case cases[] = {
	{ "no flags: the message whole, line ends made CRLF", 0,
	  "bob@example.org",
	  "From: alice@example.org\nTo: bob@example.org\n\nhi\n.\nbye\n",
	  "From: alice@example.org\r\nTo: bob@example.org\r\n\r\nhi\r\n.\r\nbye\r\n",
	  NULL, { "<bob@example.org>" } },
	{ "-t: To, Cc and folded Bcc are recipients, Bcc is removed",
	  SMTPSEND_RAW_RCPTS_FROM_HEADERS, NULL,
	  "From: alice@example.org\r\nTo: Bob <bob@example.org>,\r\n"
	  " carol@example.org\r\nBcc: eve@example.org,\r\n\tfrank@example.org\r\n"
	  "Cc: dave@example.org\r\n\r\nBcc: in the body stays\r\n",
	  "From: alice@example.org\r\nTo: Bob <bob@example.org>,\r\n"
	  " carol@example.org\r\nCc: dave@example.org\r\n\r\n"
	  "Bcc: in the body stays\r\n",
	  NULL, { "<bob@example.org>", "<carol@example.org>",
		  "<eve@example.org>", "<frank@example.org>",
		  "<dave@example.org>" } },
	{ "a line with one dot ends the input with DOT_ENDS",
	  SMTPSEND_RAW_DOT_ENDS, "bob@example.org",
	  "From: alice@example.org\n\nfirst\n.\nnot sent\n",
	  "From: alice@example.org\r\n\r\nfirst\r\n",
	  NULL, { "<bob@example.org>" } },
	{ "ADD_MISSING puts Date and Message-ID first",
	  SMTPSEND_RAW_ADD_MISSING, "bob@example.org",
	  "From: alice@example.org\n\nhi\n",
	  NULL, "Date: ", { "<bob@example.org>" } },
};
/* clang-format on */

/* The prepared message's bytes, NUL-terminated. */
static char *
read_all(smtpsend_message *m, const msg_prep *p)
{
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	msg_reader *rd = NULL;
	char *buf = calloc(1, p->size + 1);
	size_t len = 0, got;

	assert_non_null(buf);
	assert_int_equal(message_open(m, &rd, &err), 0);
	do {
		assert_int_equal(msg_reader_read(rd, buf + len, p->size - len + 1,
						 &got, &err),
				 0);
		len += got;
	} while (got > 0 && len <= p->size);
	msg_reader_close(rd);
	assert_int_equal(len, p->size);
	return buf;
}

static void
test_raw_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct raw_case *c = &cases[i];
		smtpsend_error err = SMTPSEND_ERROR_INIT;
		smtpsend_message *m = NULL;
		size_t nwant = 0;
		msg_prep p;
		char *out;
		int fd = memfd_create("test-raw", MFD_CLOEXEC);

		print_message("# %s\n", c->name);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, c->in, strlen(c->in)),
				 (ssize_t)strlen(c->in));
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		assert_int_equal(smtpsend_message_new(&m, &err), 0);
		if (c->rcpt != NULL)
			assert_int_equal(smtpsend_message_add_rcpt(m, "to",
								   c->rcpt, &err),
					 0);
		assert_int_equal(smtpsend_message_set_raw_fd(m, fd, c->flags,
							     &err),
				 0);
		assert_int_equal(message_prepare(m, &p, &err), 0);
		assert_string_equal(p.from_path, "<alice@example.org>");
		while (nwant < ARRAY_SIZE(c->want_rcpts) &&
		       c->want_rcpts[nwant] != NULL)
			nwant++;
		assert_int_equal(p.nrcpt, nwant);
		for (size_t k = 0; k < nwant; k++)
			assert_string_equal(p.rcpt_paths[k], c->want_rcpts[k]);
		out = read_all(m, &p);
		if (c->want != NULL)
			assert_string_equal(out, c->want);
		else
			assert_memory_equal(out, c->want_prefix,
					    strlen(c->want_prefix));
		free(out);
		msg_prep_clear(&p);
		smtpsend_message_free(m);
		close(fd);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_raw_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
