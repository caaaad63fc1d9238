/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The word-at-a-time scanners (libsend/scan.h) against a byte-by-byte
 * reference: every byte value at every position of a 24-byte run, so
 * each word alignment and the tail loop are covered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "scan.h"

#define RUN 24

static size_t
ref_printable(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] >= 0x20 && p[i] <= 0x7e)
		i++;
	return i;
}

static size_t
ref_line(const unsigned char *p, size_t n, unsigned char *high)
{
	size_t i = 0;

	while (i < n && p[i] != '\r' && p[i] != '\n' && p[i] != '\0')
		*high |= p[i++];
	return i;
}

static void
test_printable_every_byte_every_position(void **state)
{
	unsigned char buf[RUN];

	(void)state;
	for (size_t pos = 0; pos < RUN; pos++) {
		for (unsigned v = 0; v < 256; v++) {
			memset(buf, 'a', sizeof(buf));
			buf[pos] = (unsigned char)v;
			/* A neighbour that could mislead the word test. */
			if (pos + 1 < RUN)
				buf[pos + 1] = (unsigned char)(v ^ 0x80);
			for (size_t n = 0; n <= RUN; n++)
				assert_int_equal(scan_printable(buf, n),
						 ref_printable(buf, n));
		}
	}
}

static void
test_line_every_byte_every_position(void **state)
{
	unsigned char buf[RUN];

	(void)state;
	for (size_t pos = 0; pos < RUN; pos++) {
		for (unsigned v = 0; v < 256; v++) {
			memset(buf, 'b', sizeof(buf));
			buf[pos] = (unsigned char)v;
			for (size_t n = 0; n <= RUN; n++) {
				unsigned char h1 = 0, h2 = 0;

				assert_int_equal(scan_line(buf, n, &h1),
						 ref_line(buf, n, &h2));
				assert_int_equal(h1 & 0x80, h2 & 0x80);
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_printable_every_byte_every_position),
	    cmocka_unit_test(test_line_every_byte_every_position),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
