/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for libsend/reply.c: reply assembly (RFC 5321 4.2, enhanced
 * status codes of RFC 2034 / RFC 3463), its limits, and the line
 * splitter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "reply.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_LINES     6

/* Big enough to be static rather than on the stack. */
static smtp_reply reply;

struct reply_case {
	const char *name;
	const char *lines[MAX_LINES]; /* NULL-terminated */
	size_t len0; /* length of lines[0] when it holds NUL; 0: strlen */
	int want_rc; /* result of the last feed */
	unsigned want_code;    /* checked when want_rc == REPLY_DONE */
	const char *want_enh;  /* idem */
	const char *want_text; /* idem; NULL: not checked */
};

/* clang-format off */
static const struct reply_case cases[] = {
	{"single line", {"250 OK"}, 0, REPLY_DONE, 250, "", "OK"},
	{"code only", {"354"}, 0, REPLY_DONE, 354, "", ""},
	{"code and space", {"221 "}, 0, REPLY_DONE, 221, "", ""},
	{"RFC 5321 4.2.1 multi-line example",
	 {"250-First line", "250-Second line",
	  "250-234 Text beginning with numbers", "250 The last line"},
	 0, REPLY_DONE, 250, "",
	 "First line\nSecond line\n234 Text beginning with numbers\n"
	 "The last line"},
	{"EHLO reply",
	 {"250-mx.example.org greets you", "250-PIPELINING", "250-SIZE 1000",
	  "250 STARTTLS"},
	 0, REPLY_DONE, 250, "",
	 "mx.example.org greets you\nPIPELINING\nSIZE 1000\nSTARTTLS"},
	{"empty continuation text", {"250-", "250 x"}, 0, REPLY_DONE, 250, "",
	 "\nx"},
	{"RFC 2034 enhanced code", {"250 2.1.0 Sender ok"}, 0, REPLY_DONE, 250,
	 "2.1.0", "2.1.0 Sender ok"},
	{"RFC 3463 code, multi-line",
	 {"550-5.7.1 Relaying denied", "550 5.7.1 see the docs"}, 0,
	 REPLY_DONE, 550, "5.7.1", NULL},
	{"enhanced code alone", {"451 4.3.0"}, 0, REPLY_DONE, 451, "4.3.0",
	 NULL},
	{"enhanced code with 3-digit parts", {"554 5.123.456 x"}, 0,
	 REPLY_DONE, 554, "5.123.456", NULL},
	{"enhanced class differs from the code", {"250 5.0.0 odd"}, 0,
	 REPLY_DONE, 250, "", NULL},
	{"no enhanced code for 3xx", {"354 3.0.0 go ahead"}, 0, REPLY_DONE,
	 354, "", NULL},
	{"enhanced part too long", {"250 2.1.0000 x"}, 0, REPLY_DONE, 250, "",
	 NULL},
	{"enhanced code glued to text", {"250 2.1.0ok"}, 0, REPLY_DONE, 250,
	 "", NULL},
	{"enhanced code missing detail", {"250 2.1. x"}, 0, REPLY_DONE, 250,
	 "", NULL},
	{"enhanced code only on the first line",
	 {"250-hello", "250 2.0.0 ok"}, 0, REPLY_DONE, 250, "", NULL},
	{"HT in text", {"250 a\tb"}, 0, REPLY_DONE, 250, "", "a\tb"},
	{"UTF-8 text (SMTPUTF8)", {"550 Empf\xc3\xa4nger unbekannt"}, 0,
	 REPLY_DONE, 550, "", NULL},
	{"Latin-1 text", {"550 Empf\xe4nger"}, 0, REPLY_DONE, 550, "", NULL},
	{"more lines wanted", {"250-a", "250-b"}, 0, REPLY_MORE, 0, NULL,
	 NULL},

	{"code changes", {"250-a", "251 b"}, 0, SMTPSEND_E_PROTO, 0, NULL,
	 NULL},
	{"code changes on continuation", {"250-a", "550-b"}, 0,
	 SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"1xx is not SMTP", {"150 nope"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"6xx is not SMTP", {"600 nope"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"second digit over 5", {"260 nope"}, 0, SMTPSEND_E_PROTO, 0, NULL,
	 NULL},
	{"letter in code", {"2a0 x"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"bad separator _", {"250_x"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"bad separator letter", {"250x"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"bad separator HT", {"250\tx"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"four digits", {"2500 x"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"too short", {"25"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"empty line", {""}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"control byte", {"250 a\x01"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"escape byte", {"250 \x1b[31mred"}, 0, SMTPSEND_E_PROTO, 0, NULL,
	 NULL},
	{"DEL", {"250 a\x7f"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"CR in text", {"250 a\rb"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"LF in text", {"250 a\nb"}, 0, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"NUL in text", {"250 a\0b"}, 7, SMTPSEND_E_PROTO, 0, NULL, NULL},
	{"bad line after good ones", {"250-a", "250-b", "250 c\x02"}, 0,
	 SMTPSEND_E_PROTO, 0, NULL, NULL},
};
/* clang-format on */

static int
feed_all(smtp_reply *r, const struct reply_case *c)
{
	int rc = REPLY_MORE;

	smtp_reply_reset(r);
	for (size_t i = 0; i < MAX_LINES && c->lines[i] != NULL; i++) {
		size_t len = i == 0 && c->len0 ? c->len0 : strlen(c->lines[i]);

		rc = smtp_reply_feed(r, c->lines[i], len);
		if (rc != REPLY_MORE)
			break;
	}
	return rc;
}

static void
test_reply_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct reply_case *c = &cases[i];
		int rc = feed_all(&reply, c);

		if (rc != c->want_rc)
			fail_msg("case '%s': got %d, want %d", c->name, rc,
				 c->want_rc);
		if (rc != REPLY_DONE)
			continue;
		if (reply.code != c->want_code)
			fail_msg("case '%s': code %u, want %u", c->name,
				 reply.code, c->want_code);
		if (strcmp(reply.enhanced, c->want_enh) != 0)
			fail_msg("case '%s': enhanced '%s', want '%s'", c->name,
				 reply.enhanced, c->want_enh);
		if (c->want_text != NULL &&
		    strcmp(reply.text, c->want_text) != 0)
			fail_msg("case '%s': text '%s', want '%s'", c->name,
				 reply.text, c->want_text);
		assert_int_equal(reply.text_len, strlen(reply.text));
		assert_true(smtp_reply_complete(&reply));
	}
}

static void
test_reply_rejects_65_lines(void **state)
{
	int rc = REPLY_MORE;
	size_t i;

	(void)state;
	/* 64 lines are a complete reply */
	smtp_reply_reset(&reply);
	for (i = 0; i + 1 < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(smtp_reply_feed(&reply, "250-x", 5),
				 REPLY_MORE);
	assert_int_equal(smtp_reply_feed(&reply, "250 x", 5), REPLY_DONE);
	assert_int_equal(reply.nlines, SMTP_REPLY_LINES_MAX);

	/* the 65th line is refused, whatever it says */
	smtp_reply_reset(&reply);
	for (i = 0; i < SMTP_REPLY_LINES_MAX && rc == REPLY_MORE; i++)
		rc = smtp_reply_feed(&reply, "250-x", 5);
	assert_int_equal(rc, REPLY_MORE);
	assert_int_equal(smtp_reply_feed(&reply, "250 x", 5), SMTPSEND_E_LIMIT);
	assert_int_equal(reply.nlines, SMTP_REPLY_LINES_MAX);
}

static void
test_reply_line_length_limit(void **state)
{
	static char line[SMTP_REPLY_LINE_MAX + 2];

	(void)state;
	memset(line, 'a', sizeof(line));
	memcpy(line, "250 ", 4);
	smtp_reply_reset(&reply);
	assert_int_equal(smtp_reply_feed(&reply, line, SMTP_REPLY_LINE_MAX),
			 REPLY_DONE);
	assert_int_equal(reply.text_len, SMTP_REPLY_LINE_MAX - 4);

	smtp_reply_reset(&reply);
	assert_int_equal(smtp_reply_feed(&reply, line, SMTP_REPLY_LINE_MAX + 1),
			 SMTPSEND_E_LIMIT);
	/* a bad line is refused for its length before its content */
	line[0] = '9';
	smtp_reply_reset(&reply);
	assert_int_equal(smtp_reply_feed(&reply, line, SMTP_REPLY_LINE_MAX + 1),
			 SMTPSEND_E_LIMIT);
}

static void
test_reply_text_limit(void **state)
{
	static char line[SMTP_REPLY_LINE_MAX];
	size_t per_line = SMTP_REPLY_LINE_MAX - 4;
	size_t fit = 0;
	int rc = REPLY_MORE;

	(void)state;
	memset(line, 'b', sizeof(line));
	memcpy(line, "250-", 4);
	smtp_reply_reset(&reply);
	while (rc == REPLY_MORE) {
		rc = smtp_reply_feed(&reply, line, sizeof(line));
		if (rc == REPLY_MORE)
			fit++;
	}
	assert_int_equal(rc, SMTPSEND_E_LIMIT);
	/* text, '\n' separators and the NUL fill at most the buffer */
	assert_true(fit * per_line + (fit - 1) + 1 <= SMTP_REPLY_TEXT_MAX);
	assert_true((fit + 1) * per_line + fit + 1 > SMTP_REPLY_TEXT_MAX);
	assert_int_equal(reply.nlines, fit);
	assert_int_equal(reply.text_len, fit * per_line + fit - 1);
}

static void
test_reply_needs_reset(void **state)
{
	(void)state;
	smtp_reply_reset(&reply);
	assert_false(smtp_reply_complete(&reply));
	assert_int_equal(smtp_reply_feed(&reply, "250 a", 5), REPLY_DONE);
	assert_int_equal(smtp_reply_feed(&reply, "250 b", 5), SMTPSEND_E_INVAL);
	assert_string_equal(reply.text, "a");

	smtp_reply_reset(&reply);
	assert_int_equal(smtp_reply_feed(&reply, "250-a", 5), REPLY_MORE);
	assert_int_equal(smtp_reply_feed(&reply, "251 b", 5), SMTPSEND_E_PROTO);
	assert_false(smtp_reply_complete(&reply));
	assert_int_equal(smtp_reply_feed(&reply, "250 b", 5), SMTPSEND_E_INVAL);

	smtp_reply_reset(&reply);
	assert_int_equal(smtp_reply_feed(&reply, "220 ready", 9), REPLY_DONE);
	assert_int_equal(reply.code, 220);
	assert_int_equal(smtp_reply_feed(NULL, "250 a", 5), SMTPSEND_E_INVAL);
	smtp_reply_reset(&reply);
	assert_int_equal(smtp_reply_feed(&reply, NULL, 0), SMTPSEND_E_INVAL);
}

static void
test_reply_lines(void **state)
{
	const char *line;
	size_t len;

	(void)state;
	smtp_reply_reset(&reply);
	assert_false(smtp_reply_line(&reply, 0, &line, &len));
	assert_int_equal(smtp_reply_feed(&reply, "250-one", 7), REPLY_MORE);
	assert_int_equal(smtp_reply_feed(&reply, "250-", 4), REPLY_MORE);
	assert_int_equal(smtp_reply_feed(&reply, "250 three", 9), REPLY_DONE);
	assert_true(smtp_reply_line(&reply, 0, &line, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(line, "one", 3);
	assert_true(smtp_reply_line(&reply, 1, &line, &len));
	assert_int_equal(len, 0);
	assert_true(smtp_reply_line(&reply, 2, &line, &len));
	assert_int_equal(len, 5);
	assert_memory_equal(line, "three", 5);
	assert_false(smtp_reply_line(&reply, 3, &line, &len));
}

struct split_case {
	const char *name;
	const char *buf;
	size_t len; /* 0: strlen */
	int want_rc;
	size_t want_line_len, want_consumed;
};

/* clang-format off */
static const struct split_case split_cases[] = {
	{"CRLF line",		"250 ok\r\n",	  0, 1, 6, 8},
	{"bare LF line",	"250 ok\n",	  0, 1, 6, 7},
	{"first of two",	"250-a\r\n250 b\r\n", 0, 1, 5, 7},
	{"empty line",		"\r\n",		  0, 1, 0, 2},
	{"lone LF",		"\n",		  0, 1, 0, 1},
	{"inner CR kept",	"25\r0\n",	  0, 1, 4, 5},
	{"CR CR LF",		"250\r\r\n",	  0, 1, 4, 6},
	{"no end yet",		"250 ok",	  0, 0, 0, 0},
	{"CR without LF yet",	"250 ok\r",	  0, 0, 0, 0},
	{"nothing",		"",		  0, 0, 0, 0},
	{"NUL kept",		"25\0 x\n",	  6, 1, 5, 6},
};
/* clang-format on */

static void
test_line_next_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(split_cases); i++) {
		const struct split_case *c = &split_cases[i];
		size_t len = c->len ? c->len : strlen(c->buf);
		size_t ll = 12345, used = 54321;
		int rc = smtp_line_next(c->buf, len, &ll, &used);

		if (rc != c->want_rc)
			fail_msg("case '%s': got %d, want %d", c->name, rc,
				 c->want_rc);
		if (rc != 1) {
			assert_int_equal(ll, 12345);
			assert_int_equal(used, 54321);
			continue;
		}
		if (ll != c->want_line_len || used != c->want_consumed)
			fail_msg("case '%s': line %zu used %zu, want %zu %zu",
				 c->name, ll, used, c->want_line_len,
				 c->want_consumed);
	}
}

static void
test_line_next_limit(void **state)
{
	static char buf[SMTP_REPLY_LINE_MAX + 8];
	size_t ll, used;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	/* SMTP_REPLY_LINE_MAX bytes and CRLF: fine */
	buf[SMTP_REPLY_LINE_MAX] = '\r';
	buf[SMTP_REPLY_LINE_MAX + 1] = '\n';
	assert_int_equal(smtp_line_next(buf, sizeof(buf), &ll, &used), 1);
	assert_int_equal(ll, SMTP_REPLY_LINE_MAX);
	assert_int_equal(used, SMTP_REPLY_LINE_MAX + 2);
	/* one more byte with CRLF: the LF is beyond the window */
	memset(buf, 'x', sizeof(buf));
	buf[SMTP_REPLY_LINE_MAX + 1] = '\r';
	buf[SMTP_REPLY_LINE_MAX + 2] = '\n';
	assert_int_equal(smtp_line_next(buf, sizeof(buf), &ll, &used),
			 SMTPSEND_E_LIMIT);
	/* one more byte with a bare LF: in the window, still too long */
	memset(buf, 'x', sizeof(buf));
	buf[SMTP_REPLY_LINE_MAX + 1] = '\n';
	assert_int_equal(smtp_line_next(buf, sizeof(buf), &ll, &used),
			 SMTPSEND_E_LIMIT);
	/* no line end: wait up to LINE_MAX + 1 bytes, refuse at + 2 */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(
	    smtp_line_next(buf, SMTP_REPLY_LINE_MAX + 1, &ll, &used), 0);
	buf[SMTP_REPLY_LINE_MAX] = '\r';
	assert_int_equal(
	    smtp_line_next(buf, SMTP_REPLY_LINE_MAX + 1, &ll, &used), 0);
	assert_int_equal(
	    smtp_line_next(buf, SMTP_REPLY_LINE_MAX + 2, &ll, &used),
	    SMTPSEND_E_LIMIT);
	/* arguments */
	assert_int_equal(smtp_line_next(NULL, 0, &ll, &used), 0);
	assert_int_equal(smtp_line_next(NULL, 1, &ll, &used), SMTPSEND_E_INVAL);
	assert_int_equal(smtp_line_next(buf, 1, NULL, &used), SMTPSEND_E_INVAL);
}

/* The splitter and the parser together, as the transport uses them. */
static void
test_split_and_feed(void **state)
{
	const char *wire = "250-mx.example.org\r\n250-8BITMIME\n"
			   "250 2.0.0 ok\r\n220 next";
	size_t off = 0, len = strlen(wire), ll, used;
	int rc = REPLY_MORE;

	(void)state;
	smtp_reply_reset(&reply);
	while (rc == REPLY_MORE &&
	       smtp_line_next(wire + off, len - off, &ll, &used) == 1) {
		rc = smtp_reply_feed(&reply, wire + off, ll);
		off += used;
	}
	assert_int_equal(rc, REPLY_DONE);
	assert_int_equal(reply.nlines, 3);
	assert_string_equal(reply.text, "mx.example.org\n8BITMIME\n2.0.0 ok");
	assert_string_equal(reply.enhanced, "");
	assert_string_equal(wire + off, "220 next");
	assert_int_equal(smtp_line_next(wire + off, len - off, &ll, &used), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_table),
	    cmocka_unit_test(test_reply_rejects_65_lines),
	    cmocka_unit_test(test_reply_line_length_limit),
	    cmocka_unit_test(test_reply_text_limit),
	    cmocka_unit_test(test_reply_needs_reset),
	    cmocka_unit_test(test_reply_lines),
	    cmocka_unit_test(test_line_next_table),
	    cmocka_unit_test(test_line_next_limit),
	    cmocka_unit_test(test_split_and_feed),
	};

	return cmocka_run_group_tests_name("libsend-reply", tests, NULL, NULL);
}
