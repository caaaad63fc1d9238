/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for libsend/body.c: line-end normalisation, dot-stuffing
 * (RFC 5321 4.5.2), SMTP smuggling inputs, chunking independence, the
 * round trip through body_unstuff(), and the limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define OUT_MAX       (64u * 1024u)

/* Collects everything the encoder passes on. */
struct sink {
	char buf[OUT_MAX];
	size_t len;
	unsigned calls;
	int fail_at; /* return an error on this call (1-based); 0: never */
};

static struct sink sink_a, sink_b;

static int
sink_out(const char *buf, size_t len, void *userdata)
{
	struct sink *s = userdata;

	assert_true(len > 0);
	s->calls++;
	if (s->fail_at > 0 && (int)s->calls == s->fail_at)
		return SMTPSEND_E_IO;
	assert_true(len <= OUT_MAX - s->len);
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	return 0;
}

static void
sink_reset(struct sink *s)
{
	s->len = 0;
	s->calls = 0;
	s->fail_at = 0;
}

/* Encode in[0..len) in pieces of chunk octets (0: all at once). */
static int
encode(struct sink *s, const char *in, size_t len, size_t chunk, body_enc *e)
{
	size_t off = 0;
	int r;

	sink_reset(s);
	body_enc_init(e);
	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		r = body_enc_feed(e, in + off, n, sink_out, s);
		if (r < 0)
			return r;
		off += n;
	}
	return body_enc_finish(e, sink_out, s);
}

/* The reference: line ends made CRLF, a final one added. */
static size_t
normalise(const char *in, size_t len, char *out)
{
	size_t o = 0;
	bool bol = true;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
				i++;
			out[o++] = '\r';
			out[o++] = '\n';
			bol = true;
		} else {
			out[o++] = in[i];
			bol = false;
		}
	}
	if (!bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

/* No bare CR or LF, and "\r\n.\r\n" (or a leading ".\r\n") only as the
 * terminator. */
static void
assert_wire_safe(const char *out, size_t len)
{
	assert_true(len >= 3);
	assert_memory_equal(out + len - 3, ".\r\n", 3);
	for (size_t i = 0; i < len; i++) {
		if (out[i] == '\r')
			assert_true(i + 1 < len && out[i + 1] == '\n');
		if (out[i] == '\n')
			assert_true(i > 0 && out[i - 1] == '\r');
	}
	for (size_t i = 0; i + 5 <= len; i++) {
		if (memcmp(out + i, "\r\n.\r\n", 5) == 0)
			assert_int_equal(i + 5, len);
	}
	if (len > 3)
		assert_false(memcmp(out, ".\r\n", 3) == 0);
}

struct enc_case {
	const char *name;
	const char *in;
	const char *want; /* the whole output, terminator included */
};

/* clang-format off */
static const struct enc_case norm_cases[] = {
	{"empty", "", ".\r\n"},
	{"one line, no end", "abc", "abc\r\n.\r\n"},
	{"CRLF kept", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
	{"bare LF", "a\nb\n", "a\r\nb\r\n.\r\n"},
	{"bare CR", "a\rb\r", "a\r\nb\r\n.\r\n"},
	{"CR CR LF is two ends", "a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
	{"LF CR is two ends", "a\n\rb", "a\r\n\r\nb\r\n.\r\n"},
	{"empty lines", "\n\n\r\n\r", "\r\n\r\n\r\n\r\n.\r\n"},
	{"mixed", "x\r\ny\nz\rw", "x\r\ny\r\nz\r\nw\r\n.\r\n"},
	{"8-bit kept", "caf\xc3\xa9\n", "caf\xc3\xa9\r\n.\r\n"},
	{"blank and tab kept", " \t \n", " \t \r\n.\r\n"},
};

static const struct enc_case stuff_cases[] = {
	{"dot line", ".\r\n", "..\r\n.\r\n"},
	{"dot at start", ".abc\r\n", "..abc\r\n.\r\n"},
	{"two dots", "..\r\n", "...\r\n.\r\n"},
	{"dot inside", "a.b\r\n.c\r\n", "a.b\r\n..c\r\n.\r\n"},
	{"dot after LF", "a\n.b", "a\r\n..b\r\n.\r\n"},
	{"dot after CR", "a\r.b", "a\r\n..b\r\n.\r\n"},
	{"dot not at start", "a.\r\n", "a.\r\n.\r\n"},
	{"unterminated dot", ".", "..\r\n.\r\n"},
	{"dot then blank", ". \r\n", ".. \r\n.\r\n"},
};

/* SMTP smuggling (and terminator injection) attempts. */
static const struct enc_case smuggle_cases[] = {
	{"LF dot LF", "a\n.\nMAIL FROM:<x@y>\n",
	 "a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n"},
	{"CRLF dot CRLF inside", "a\r\n.\r\nRCPT TO:<v@w>\r\n",
	 "a\r\n..\r\nRCPT TO:<v@w>\r\n.\r\n"},
	{"CR dot CR", "a\r.\rDATA\r", "a\r\n..\r\nDATA\r\n.\r\n"},
	{"LF dot CRLF", "a\n.\r\nQUIT\r\n", "a\r\n..\r\nQUIT\r\n.\r\n"},
	{"CRLF dot LF", "a\r\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},
	{"CR dot LF", "a\r.\nb", "a\r\n..\r\nb\r\n.\r\n"},
	{"CR dot CRLF", "a\r.\r\nb", "a\r\n..\r\nb\r\n.\r\n"},
	{"terminator first", ".\r\nMAIL FROM:<x@y>\r\n",
	 "..\r\nMAIL FROM:<x@y>\r\n.\r\n"},
	{"terminator at the end", "body\r\n.\r\n", "body\r\n..\r\n.\r\n"},
	{"lone dot", ".", "..\r\n.\r\n"},
	{"lone dot lines", "\n.\n.\n", "\r\n..\r\n..\r\n.\r\n"},
	{"dot CR at the end", "x\n.\r", "x\r\n..\r\n.\r\n"},
};
/* clang-format on */

static void
run_cases(const struct enc_case *cases, size_t n)
{
	body_enc e;

	for (size_t i = 0; i < n; i++) {
		const struct enc_case *c = &cases[i];
		size_t len = strlen(c->in), wlen = strlen(c->want);

		print_message("# case: %s\n", c->name);
		assert_int_equal(encode(&sink_a, c->in, len, 0, &e), 0);
		assert_int_equal(sink_a.len, wlen);
		assert_memory_equal(sink_a.buf, c->want, wlen);
		assert_int_equal(e.out_size, wlen);
		assert_wire_safe(sink_a.buf, sink_a.len);
		/* one octet at a time: the same bytes */
		assert_int_equal(encode(&sink_b, c->in, len, 1, &e), 0);
		assert_int_equal(sink_b.len, wlen);
		assert_memory_equal(sink_b.buf, c->want, wlen);
	}
}

static void
test_body_normalises_line_ends(void **state)
{
	(void)state;
	run_cases(norm_cases, ARRAY_SIZE(norm_cases));
}

static void
test_body_dot_stuffing(void **state)
{
	(void)state;
	run_cases(stuff_cases, ARRAY_SIZE(stuff_cases));
}

static void
test_body_defeats_smuggling(void **state)
{
	(void)state;
	run_cases(smuggle_cases, ARRAY_SIZE(smuggle_cases));
}

/* A reproducible byte soup rich in CR, LF, '.' and 8-bit octets. */
static void
soup(char *buf, size_t len, uint32_t seed)
{
	static const char alphabet[] = "\r\n..ab \t\xc3\xa9x";

	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
	}
}

static void
check_round_trip(const char *in, size_t len)
{
	static char norm[2 * OUT_MAX], back[OUT_MAX];
	size_t nlen, blen = 0;
	body_enc e;

	assert_int_equal(encode(&sink_a, in, len, 0, &e), 0);
	assert_wire_safe(sink_a.buf, sink_a.len);
	nlen = normalise(in, len, norm);
	assert_int_equal(body_unstuff(sink_a.buf, sink_a.len, back, &blen), 0);
	assert_int_equal(blen, nlen);
	assert_memory_equal(back, norm, nlen);
}

static void
test_body_chunking_does_not_matter(void **state)
{
	static char in[8192];
	static const size_t chunks[] = {1, 2, 3, 7, 64, 999, 4095, 4096, 4097};
	body_enc e;

	(void)state;
	for (uint32_t seed = 1; seed <= 20; seed++) {
		soup(in, sizeof(in), seed);
		assert_int_equal(encode(&sink_a, in, sizeof(in), 0, &e), 0);
		for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
			assert_int_equal(
			    encode(&sink_b, in, sizeof(in), chunks[c], &e), 0);
			assert_int_equal(sink_b.len, sink_a.len);
			assert_memory_equal(sink_b.buf, sink_a.buf, sink_a.len);
		}
	}
}

static void
test_body_round_trip(void **state)
{
	static char in[8192];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(norm_cases); i++)
		check_round_trip(norm_cases[i].in, strlen(norm_cases[i].in));
	for (size_t i = 0; i < ARRAY_SIZE(stuff_cases); i++)
		check_round_trip(stuff_cases[i].in, strlen(stuff_cases[i].in));
	for (size_t i = 0; i < ARRAY_SIZE(smuggle_cases); i++)
		check_round_trip(smuggle_cases[i].in,
				 strlen(smuggle_cases[i].in));
	for (uint32_t seed = 100; seed < 150; seed++) {
		size_t len = seed * 37 % sizeof(in);

		soup(in, len, seed);
		check_round_trip(in, len);
	}
}

static void
test_body_line_limit(void **state)
{
	static char line[SMTP_TEXT_LINE_MAX + 8];
	body_enc e;

	(void)state;
	memset(line, 'x', sizeof(line));

	/* 998 octets: fine, terminated or not, whole or byte by byte */
	memcpy(line + SMTP_TEXT_LINE_MAX, "\r\n", 2);
	assert_int_equal(encode(&sink_a, line, SMTP_TEXT_LINE_MAX + 2, 0, &e),
			 0);
	assert_int_equal(encode(&sink_a, line, SMTP_TEXT_LINE_MAX, 0, &e), 0);
	assert_int_equal(encode(&sink_a, line, SMTP_TEXT_LINE_MAX, 1, &e), 0);
	assert_int_equal(sink_a.len, SMTP_TEXT_LINE_MAX + 5);

	/* 999 octets: refused, however it arrives */
	line[SMTP_TEXT_LINE_MAX] = 'x';
	assert_int_equal(encode(&sink_a, line, SMTP_TEXT_LINE_MAX + 1, 0, &e),
			 SMTPSEND_E_LIMIT);
	assert_int_equal(encode(&sink_a, line, SMTP_TEXT_LINE_MAX + 1, 1, &e),
			 SMTPSEND_E_LIMIT);
	assert_int_equal(encode(&sink_a, line, SMTP_TEXT_LINE_MAX + 1, 500, &e),
			 SMTPSEND_E_LIMIT);
	/* sticky */
	assert_int_equal(body_enc_feed(&e, "\n", 1, sink_out, &sink_a),
			 SMTPSEND_E_LIMIT);
	assert_int_equal(body_enc_finish(&e, sink_out, &sink_a),
			 SMTPSEND_E_LIMIT);

	/* 998 starting with '.': the stuffed dot does not count */
	line[0] = '.';
	assert_int_equal(encode(&sink_a, line, SMTP_TEXT_LINE_MAX, 0, &e), 0);
	assert_int_equal(sink_a.len, SMTP_TEXT_LINE_MAX + 1 + 5);

	/* the count restarts at every kind of line end */
	memcpy(line, "ab\r", 3);
	assert_int_equal(encode(&sink_a, line, SMTP_TEXT_LINE_MAX + 2, 0, &e),
			 0);
	line[2] = '\n';
	assert_int_equal(encode(&sink_a, line, SMTP_TEXT_LINE_MAX + 2, 1, &e),
			 0);
}

static void
test_body_refuses_nul(void **state)
{
	body_enc e;

	(void)state;
	assert_int_equal(encode(&sink_a, "ab\0c", 4, 0, &e), SMTPSEND_E_INVAL);
	assert_int_equal(encode(&sink_a, "\0", 1, 0, &e), SMTPSEND_E_INVAL);
	assert_int_equal(encode(&sink_a, "a\r\0\n", 4, 1, &e),
			 SMTPSEND_E_INVAL);
	assert_int_equal(body_enc_finish(&e, sink_out, &sink_a),
			 SMTPSEND_E_INVAL);
}

static void
test_body_reports_8bit_and_size(void **state)
{
	body_enc e;

	(void)state;
	assert_int_equal(encode(&sink_a, "plain\n.x\n", 9, 0, &e), 0);
	assert_false(e.eightbit);
	assert_int_equal(e.out_size, strlen("plain\r\n..x\r\n.\r\n"));
	assert_int_equal(encode(&sink_a, "\xff", 1, 1, &e), 0);
	assert_true(e.eightbit);
	assert_int_equal(encode(&sink_a, "a\x80", 2, 0, &e), 0);
	assert_true(e.eightbit);

	/* counting only */
	body_enc_init(&e);
	assert_int_equal(body_enc_feed(&e, "abc\n.", 5, NULL, NULL), 0);
	assert_int_equal(body_enc_finish(&e, NULL, NULL), 0);
	assert_int_equal(e.out_size, strlen("abc\r\n..\r\n.\r\n"));
}

static void
test_body_output_error_and_misuse(void **state)
{
	static char big[3 * BODY_ENC_STAGE_MAX];
	body_enc e;

	(void)state;
	/* the callback's error stops the encoder and sticks */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = i % 80 == 79 ? '\n' : 'y';
	body_enc_init(&e);
	sink_reset(&sink_a);
	sink_a.fail_at = 2;
	assert_int_equal(body_enc_feed(&e, big, sizeof(big), sink_out, &sink_a),
			 SMTPSEND_E_IO);
	assert_int_equal(body_enc_finish(&e, sink_out, &sink_a), SMTPSEND_E_IO);

	/* feed or finish after finish */
	assert_int_equal(encode(&sink_a, "x", 1, 0, &e), 0);
	assert_int_equal(body_enc_feed(&e, "y", 1, sink_out, &sink_a),
			 SMTPSEND_E_INVAL);
	body_enc_init(&e);
	assert_int_equal(body_enc_finish(&e, sink_out, &sink_a), 0);
	assert_int_equal(body_enc_finish(&e, sink_out, &sink_a),
			 SMTPSEND_E_INVAL);

	/* NULL arguments */
	assert_int_equal(body_enc_feed(NULL, "x", 1, NULL, NULL),
			 SMTPSEND_E_INVAL);
	body_enc_init(&e);
	assert_int_equal(body_enc_feed(&e, NULL, 1, NULL, NULL),
			 SMTPSEND_E_INVAL);
	body_enc_init(&e);
	assert_int_equal(body_enc_feed(&e, NULL, 0, NULL, NULL), 0);
	assert_int_equal(body_enc_finish(NULL, NULL, NULL), SMTPSEND_E_INVAL);
	body_enc_init(NULL);
}

struct unstuff_case {
	const char *name;
	const char *in;
	int want_rc;
	const char *want;
};

/* clang-format off */
static const struct unstuff_case unstuff_cases[] = {
	{"terminator only", ".\r\n", 0, ""},
	{"lines", "a\r\n..b\r\n...\r\n.\r\n", 0, "a\r\n.b\r\n..\r\n"},
	{"no terminator", "a\r\n", SMTPSEND_E_INVAL, NULL},
	{"empty", "", SMTPSEND_E_INVAL, NULL},
	{"early terminator", "a\r\n.\r\nb\r\n.\r\n", SMTPSEND_E_INVAL, NULL},
	{"unstuffed dot line", ".b\r\n.\r\n", SMTPSEND_E_INVAL, NULL},
	{"bare LF", "a\nb\r\n.\r\n", SMTPSEND_E_INVAL, NULL},
	{"bare CR", "a\rb\r\n.\r\n", SMTPSEND_E_INVAL, NULL},
	{"unterminated last line", "a\r\n.\r\nb", SMTPSEND_E_INVAL, NULL},
	{"terminator without LF", "a\r\n.\r", SMTPSEND_E_INVAL, NULL},
};
/* clang-format on */

static void
test_body_unstuff_table(void **state)
{
	char out[64];
	size_t olen = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(unstuff_cases); i++) {
		const struct unstuff_case *c = &unstuff_cases[i];

		print_message("# case: %s\n", c->name);
		assert_int_equal(body_unstuff(c->in, strlen(c->in), out, &olen),
				 c->want_rc);
		if (c->want_rc == 0) {
			assert_int_equal(olen, strlen(c->want));
			assert_memory_equal(out, c->want, olen);
		}
	}
	assert_int_equal(body_unstuff(NULL, 0, out, &olen), SMTPSEND_E_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_body_normalises_line_ends),
	    cmocka_unit_test(test_body_dot_stuffing),
	    cmocka_unit_test(test_body_defeats_smuggling),
	    cmocka_unit_test(test_body_chunking_does_not_matter),
	    cmocka_unit_test(test_body_round_trip),
	    cmocka_unit_test(test_body_line_limit),
	    cmocka_unit_test(test_body_refuses_nul),
	    cmocka_unit_test(test_body_reports_8bit_and_size),
	    cmocka_unit_test(test_body_output_error_and_misuse),
	    cmocka_unit_test(test_body_unstuff_table),
	};

	return cmocka_run_group_tests_name("libsend-body", tests, NULL, NULL);
}
