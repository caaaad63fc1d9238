/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for libsend/addr.c and libsend/punycode.c.  The input is
 * parsed as one address (with its bytes as given, and as a C string cut
 * at the first NUL) and as a list.  Properties (abort() otherwise):
 *   - an accepted address formats to an SMTP path, and parsing the
 *     formatted addr-spec, or the path, gives the same addr-spec back;
 *   - what an address holds has no CR, LF or NUL, its A-label domain is
 *     ASCII, and its display name is UTF-8;
 *   - Punycode: the input read as UTF-8 code points encodes, and decoding
 *     that gives the code points back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"
#include "punycode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
has_crlfnul(const char *s, size_t len)
{
	return memchr(s, '\r', len) != NULL || memchr(s, '\n', len) != NULL ||
	       memchr(s, '\0', len) != NULL;
}

static bool
is_utf8(const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = punycode_utf8_next(s + i, len - i, &cp);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

static void
check_addr(const smtp_addr *a)
{
	char path[SMTP_PATH_MAX + 1];
	const char *dom;
	char *dup = NULL;
	size_t plen = 0;
	smtp_addr b;

	if (a->spec_len == 0 || a->spec_len > SMTP_ADDR_SPEC_MAX ||
	    strlen(a->spec) != a->spec_len ||
	    has_crlfnul(a->spec, a->spec_len) || a->local_len == 0 ||
	    a->local_len > SMTP_ADDR_LOCAL_MAX || a->spec[a->local_len] != '@')
		abort();
	dom = smtp_addr_domain(a);
	for (const char *d = dom; *d != '\0'; d++) {
		if ((unsigned char)*d >= 0x80)
			abort();
	}
	if (strlen(dom) > SMTP_ADDR_DOMAIN_MAX || !is_utf8(a->domain_utf8))
		abort();
	if (a->display != NULL &&
	    (a->display[0] == '\0' || !is_utf8(a->display) ||
	     strlen(a->display) > SMTP_ADDR_DISPLAY_MAX ||
	     has_crlfnul(a->display, strlen(a->display))))
		abort();
	if (!a->utf8_local) {
		for (size_t i = 0; i < a->local_len; i++) {
			if ((unsigned char)a->spec[i] >= 0x80)
				abort();
		}
	}

	if (smtp_addr_format_path(a, path, sizeof(path), &plen) != 0 ||
	    plen != a->spec_len + 2 || strlen(path) != plen)
		abort();
	if (smtp_addr_path_dup(a, &dup) != 0 || strcmp(dup, path) != 0)
		abort();
	common_free(dup);

	/* round trip: the addr-spec alone, then the path */
	if (smtp_addr_parse(&b, a->spec, a->spec_len) != 0)
		abort();
	if (strcmp(b.spec, a->spec) != 0 || b.local_len != a->local_len ||
	    b.utf8_local != a->utf8_local || b.display != NULL)
		abort();
	smtp_addr_clear(&b);
	if (smtp_addr_parse(&b, path, plen) != 0 ||
	    strcmp(b.spec, a->spec) != 0)
		abort();
	smtp_addr_clear(&b);
}

static void
check_punycode(const uint8_t *data, size_t size)
{
	uint32_t cps[128], back[128];
	char enc[1024];
	size_t n = 0, got = 0, elen = 0;
	const char *s = (const char *)data;

	for (size_t i = 0; i < size && n < 128;) {
		size_t c = punycode_utf8_next(s + i, size - i, &cps[n]);

		if (c == 0)
			return;
		i += c;
		n++;
	}
	if (punycode_encode(cps, n, enc, sizeof(enc), &elen) != 0)
		abort();
	if (enc[elen] != '\0')
		abort();
	if (punycode_decode(enc, elen, back, 128, &got) != 0 || got != n ||
	    memcmp(back, cps, n * sizeof(*cps)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	smtp_addr a, *v = NULL;
	size_t n = 0;

	if (size > 64 * 1024)
		return 0;
	if (smtp_addr_parse(&a, s, size) == 0) {
		check_addr(&a);
		smtp_addr_clear(&a);
	}
	if (smtp_addr_parse(&a, s, strnlen(s, size)) == 0) {
		check_addr(&a);
		smtp_addr_clear(&a);
	}
	if (smtp_addr_parse_list(&v, &n, s, size) == 0) {
		if (n == 0 || n > SMTP_ADDR_LIST_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			check_addr(&v[i]);
		smtp_addr_list_free(v, n);
	}
	check_punycode(data, size);
	return 0;
}
