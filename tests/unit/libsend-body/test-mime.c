/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for libsend/mime.c: whole messages are generated, checked
 * line by line (CRLF, at most 998 octets), then taken apart again by the
 * small MIME reader below (multipart split by boundary, quoted-printable
 * and base64 decoding, RFC 2047 and RFC 2231 names) and compared with
 * what went in, byte for byte.  Also: transfer-encoding choice, the
 * boundary check, the Date format, sizes, refusals, file changes, heap
 * use while streaming, and allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "encword.h"
#include "mime.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_PARTS     8
#define BIG_SIZE      (5u * 1024u * 1024u)

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

/* ---- fixtures ----------------------------------------------------------- */

struct fixture {
	char dir[64];
	char paths[4][128];
	size_t npaths;
};

static int
setup_dir(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test-mime-XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int
teardown_dir(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < fx->npaths; i++)
		unlink(fx->paths[i]);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Write a file in the fixture's directory; returns its path. */
static const char *
write_file(struct fixture *fx, const char *name, const void *data, size_t len)
{
	char *path = fx->paths[fx->npaths++], tmp[sizeof(fx->paths[0])];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/%s", fx->dir, name);
	memcpy(path, tmp, sizeof(tmp));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Reproducible "random" octets (xorshift32). */
static void
fill_random(unsigned char *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed ? seed : 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)(x >> 24);
	}
}

/* A random source for the builder: a counter, or zeros first. */
struct test_rng {
	unsigned calls;
	unsigned zero_calls; /* the first this many draws are all zeros */
};

static int
test_random(void *userdata, unsigned char *buf, size_t n)
{
	struct test_rng *r = userdata;

	r->calls++;
	if (r->calls <= r->zero_calls) {
		memset(buf, 0, n);
		return 0;
	}
	fill_random(buf, n, r->calls * 7919u);
	return 0;
}

/* ---- generating --------------------------------------------------------- */

/* The whole message, read in pieces of chunk octets; caller frees. */
static char *
generate(mime_msg *m, size_t chunk, size_t *len)
{
	mime_gen *g = NULL;
	uint64_t size = 0;
	size_t off = 0, n = 0;
	char *buf;

	assert_int_equal(mime_msg_measure(m, &size), 0);
	buf = malloc(size + chunk + 1);
	assert_non_null(buf);
	assert_int_equal(mime_gen_new(&g, m), 0);
	do {
		assert_int_equal(mime_gen_read(g, buf + off, chunk, &n), 0);
		assert_true(n == chunk || n < chunk);
		off += n;
		assert_true(off <= size);
	} while (n > 0);
	/* the end stays the end */
	assert_int_equal(mime_gen_read(g, buf, chunk, &n), 0);
	assert_int_equal(n, 0);
	mime_gen_free(g);
	assert_int_equal(off, size);
	buf[off] = '\0';
	*len = off;
	return buf;
}

/* Every line ends in CRLF and has at most 998 octets; no NUL; 7-bit
 * unless allowed. */
static void
assert_lines_ok(const char *msg, size_t len, bool allow_8bit)
{
	size_t start = 0;

	assert_true(len >= 2);
	assert_memory_equal(msg + len - 2, "\r\n", 2);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];

		assert_true(c != '\0');
		if (!allow_8bit)
			assert_true(c < 0x80);
		if (c == '\n')
			assert_true(i > 0 && msg[i - 1] == '\r');
		if (c == '\r') {
			assert_true(i + 1 < len && msg[i + 1] == '\n');
			assert_true(i - start <= SMTP_TEXT_LINE_MAX);
			start = i + 2;
		}
	}
}

/* ---- a small MIME reader --------------------------------------------------
 */

struct part {
	char ctype[2048];
	char cte[64];
	char filename[1024]; /* decoded; "" when none */
	char *body;          /* decoded; malloc */
	size_t len;
};

struct parsed {
	struct part parts[MAX_PARTS];
	size_t nparts;
};

static void
parsed_free(struct parsed *p)
{
	for (size_t i = 0; i < p->nparts; i++)
		free(p->parts[i].body);
	p->nparts = 0;
}

/*
 * Find field name in the header block h[0..hlen) (CRLF lines, the blank
 * line excluded): copy its raw text (name included, CRLFs kept) to raw
 * and its unfolded value to val.  false when absent.
 */
static bool
header_get(const char *h, size_t hlen, const char *name, char *raw,
	   size_t rawsz, char *val, size_t valsz)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; i < hlen;) {
		size_t end = i;

		/* the field ends at a CRLF not followed by a blank */
		while (end + 1 < hlen &&
		       !(h[end] == '\r' && h[end + 1] == '\n' &&
			 (end + 2 >= hlen ||
			  (h[end + 2] != ' ' && h[end + 2] != '\t'))))
			end++;
		end += 2;
		if (end - i > nlen && strncasecmp(h + i, name, nlen) == 0 &&
		    h[i + nlen] == ':') {
			size_t o = 0, j = i + nlen + 1;

			if (raw != NULL) {
				assert_true(end - i < rawsz);
				memcpy(raw, h + i, end - i);
				raw[end - i] = '\0';
			}
			while (j < end && h[j] == ' ')
				j++;
			for (; j < end - 2; j++) {
				if (h[j] == '\r' || h[j] == '\n')
					continue;
				assert_true(o + 1 < valsz);
				val[o++] = h[j];
			}
			val[o] = '\0';
			return true;
		}
		i = end;
	}
	return false;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static size_t
qp_decode(const char *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] != '=') {
			out[o++] = in[i];
			continue;
		}
		if (i + 1 < len && in[i + 1] == '\r') {
			assert_true(i + 2 < len && in[i + 2] == '\n');
			i += 2; /* soft line break */
			continue;
		}
		assert_true(i + 2 < len);
		assert_true(hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0);
		out[o++] = (char)(hexval(in[i + 1]) << 4 | hexval(in[i + 2]));
		i += 2;
	}
	return o;
}

static size_t
b64_decode(const char *in, size_t len, char *out)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	size_t o = 0, n = 0, line = 0;

	for (size_t i = 0; i < len; i++) {
		const char *p;

		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\n') {
				assert_true(line <= 76);
				line = 0;
			}
			continue;
		}
		line++;
		if (in[i] == '=')
			break;
		p = strchr(al, in[i]);
		assert_non_null(p);
		acc = acc << 6 | (uint32_t)(p - al);
		if (++n == 4) {
			out[o++] = (char)(acc >> 16);
			out[o++] = (char)(acc >> 8);
			out[o++] = (char)acc;
			acc = 0;
			n = 0;
		}
	}
	if (n == 3) {
		out[o++] = (char)(acc >> 10);
		out[o++] = (char)(acc >> 2);
	} else if (n == 2) {
		out[o++] = (char)(acc >> 4);
	}
	return o;
}

/* Percent-decode s (up to ';' or the end) onto out[*o..]. */
static void
pct_append(const char *s, char *out, size_t *o, size_t outsz)
{
	for (; *s != '\0' && *s != ';'; s++) {
		assert_true(*o + 1 < outsz);
		if (*s == '%') {
			assert_true(hexval(s[1]) >= 0 && hexval(s[2]) >= 0);
			out[(*o)++] = (char)(hexval(s[1]) << 4 | hexval(s[2]));
			s += 2;
		} else {
			out[(*o)++] = *s;
		}
	}
}

/* The value of parameter attr in an unfolded field value: attr="x",
 * attr*=UTF-8''..., or attr*0*=UTF-8''..., attr*1*=... (RFC 2231). */
static bool
param_get(const char *val, const char *attr, char *out, size_t outsz)
{
	char key[80];
	const char *p;
	size_t o = 0;
	unsigned sect;

	snprintf(key, sizeof(key), "; %s=\"", attr);
	p = strstr(val, key);
	if (p != NULL) {
		const char *q;

		p += strlen(key);
		q = strchr(p, '"');
		assert_non_null(q);
		assert_true((size_t)(q - p) < outsz);
		memcpy(out, p, (size_t)(q - p));
		out[q - p] = '\0';
		return true;
	}
	snprintf(key, sizeof(key), "; %s*=UTF-8''", attr);
	p = strstr(val, key);
	if (p != NULL) {
		pct_append(p + strlen(key), out, &o, outsz);
		out[o] = '\0';
		return true;
	}
	for (sect = 0;; sect++) {
		snprintf(key, sizeof(key),
			 sect == 0 ? "; %s*%u*=UTF-8''" : "; %s*%u*=", attr,
			 sect);
		p = strstr(val, key);
		if (p == NULL)
			break;
		pct_append(p + strlen(key), out, &o, outsz);
	}
	out[o] = '\0';
	return sect > 0;
}

static void parse_entity(struct parsed *p, const char *e, size_t len);

static void
parse_multipart(struct parsed *p, const char *body, size_t len,
		const char *boundary)
{
	char delim[128];
	size_t dlen, pos;

	dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	/* no delimiter-like line inside the parts (RFC 2046 5.1.1) */
	assert_memory_equal(body, delim + 2, dlen - 2);
	pos = dlen - 2;
	for (;;) {
		const char *next;

		assert_memory_equal(body + pos, "\r\n", 2);
		pos += 2;
		next = memmem(body + pos, len - pos, delim, dlen);
		assert_non_null(next);
		parse_entity(p, body + pos, (size_t)(next - (body + pos)));
		pos = (size_t)(next - body) + dlen;
		if (memcmp(body + pos, "--", 2) == 0)
			break;
	}
	pos += 2;
	/* only the final CRLF (or the outer delimiter) may follow */
	assert_true(len - pos <= 2);
}

/* One entity: header block, blank line, body. */
static void
parse_entity(struct parsed *p, const char *e, size_t len)
{
	char ctype[2048], cte[64] = "7bit", disp[2048];
	const char *sep = memmem(e, len, "\r\n\r\n", 4);
	const char *body;
	size_t hlen, blen;
	struct part *pt;

	assert_non_null(sep);
	hlen = (size_t)(sep - e) + 2;
	body = sep + 4;
	blen = len - (size_t)(body - e);
	assert_true(
	    header_get(e, hlen, "Content-Type", NULL, 0, ctype, sizeof(ctype)));
	if (strncmp(ctype, "multipart/", 10) == 0) {
		char boundary[128];

		assert_true(
		    param_get(ctype, "boundary", boundary, sizeof(boundary)));
		assert_int_equal(strlen(boundary), MIME_BOUNDARY_LEN);
		parse_multipart(p, body, blen, boundary);
		return;
	}
	assert_true(p->nparts < MAX_PARTS);
	pt = &p->parts[p->nparts++];
	memset(pt, 0, sizeof(*pt));
	snprintf(pt->ctype, sizeof(pt->ctype), "%s", ctype);
	header_get(e, hlen, "Content-Transfer-Encoding", NULL, 0, cte,
		   sizeof(cte));
	snprintf(pt->cte, sizeof(pt->cte), "%s", cte);
	if (header_get(e, hlen, "Content-Disposition", NULL, 0, disp,
		       sizeof(disp))) {
		char fromtype[1024];

		assert_true(strncmp(disp, "attachment", 10) == 0);
		assert_true(param_get(disp, "filename", pt->filename,
				      sizeof(pt->filename)));
		/* the Content-Type's name parameter says the same */
		assert_true(
		    param_get(ctype, "name", fromtype, sizeof(fromtype)));
		assert_string_equal(fromtype, pt->filename);
	}
	pt->body = malloc(blen + 1);
	assert_non_null(pt->body);
	if (strcmp(cte, "base64") == 0) {
		pt->len = b64_decode(body, blen, pt->body);
	} else if (strcmp(cte, "quoted-printable") == 0) {
		/* lines of at most 76, no blank before a line end */
		for (size_t i = 0, col = 0; i < blen; i++, col++) {
			if (body[i] == '\r') {
				assert_true(col <= MIME_QP_LINE_MAX);
				if (i > 0)
					assert_true(body[i - 1] != ' ' &&
						    body[i - 1] != '\t');
				col = (size_t)-1;
				i++;
			}
		}
		pt->len = qp_decode(body, blen, pt->body);
	} else {
		assert_string_equal(cte, "7bit");
		memcpy(pt->body, body, blen);
		pt->len = blen;
	}
}

/* Top level: the header block's fields, then the entity. */
static void
parse_message(struct parsed *p, const char *msg, size_t len)
{
	p->nparts = 0;
	parse_entity(p, msg, len);
}

/* The text as the builder stores it: line ends made CRLF. */
static char *
crlf(const char *s, size_t len, size_t *outlen)
{
	char *o = malloc(2 * len + 1);
	size_t n = 0;

	assert_non_null(o);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
				i++;
			o[n++] = '\r';
			o[n++] = '\n';
		} else {
			o[n++] = s[i];
		}
	}
	*outlen = n;
	return o;
}

static void
assert_part_text(const struct part *pt, const char *type, const char *text,
		 size_t len)
{
	size_t nlen;
	char *norm = crlf(text, len, &nlen);
	char want[128];

	snprintf(want, sizeof(want), "text/%s; charset=utf-8", type);
	assert_string_equal(pt->ctype, want);
	assert_int_equal(pt->len, nlen);
	assert_memory_equal(pt->body, norm, nlen);
	free(norm);
}

static size_t
heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* ---- tests ---------------------------------------------------------- */

static const char subject[] =
    "Gr\xc3\xbc\xc3\x9f"
    "e aus K\xc3\xb6ln \xe2\x80\x94 "
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x93\x8e and a rather "
    "long tail so that the subject needs several encoded words";
static const char text_body[] =
    "Hello,\n\nthe report is attached.\n.\nA line with a dot above.\n"
    "Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9"
    "e, trailing blank \n"
    "--=_ not a boundary\r\nFrom the start of a line\rend";
static const char html_body[] =
    "<html><body><p>Hello,</p><p>the report is attached.</p>"
    "<p>Caf&eacute; \xe2\x82\xac 10</p></body></html>\n";

static void
test_mime_full_message_round_trip(void **state)
{
	struct fixture *fx = *state;
	static const char small[] = "id,name\n1,ann\n2,bob\n";
	unsigned char *big;
	const char *big_path, *small_path;
	struct test_rng rng = {0, 0};
	struct parsed p;
	mime_msg *m = NULL;
	char *msg, raw[2048], val[2048], *dec = NULL;
	size_t len, hlen, dlen = 0;
	const char *sep;

	big = malloc(BIG_SIZE);
	assert_non_null(big);
	fill_random(big, BIG_SIZE, 42);
	big_path = write_file(fx, "random.bin", big, BIG_SIZE);
	small_path = write_file(fx, "small.csv", small, strlen(small));

	assert_int_equal(mime_msg_new(&m), 0);
	assert_int_equal(mime_msg_set_random(m, test_random, &rng), 0);
	assert_int_equal(
	    mime_msg_set_from(m, "=?UTF-8?Q?J=C3=B6rg?= <jorg@example.org>",
			      "example.org"),
	    0);
	assert_int_equal(
	    mime_msg_add_address(m, MIME_ADDR_TO, "Ann <ann@example.org>"), 0);
	assert_int_equal(
	    mime_msg_add_address(m, MIME_ADDR_TO, "bob@example.net"), 0);
	assert_int_equal(
	    mime_msg_add_address(m, MIME_ADDR_CC, "\"Smith, C\" <c@ex.org>"),
	    0);
	assert_int_equal(mime_msg_set_subject(m, subject), 0);
	assert_int_equal(mime_msg_add_header(m, "X-Mailer", "smtpsend test"),
			 0);
	assert_int_equal(
	    mime_msg_add_header(m, "Comments", "non-ASCII \xc3\xa9t\xc3\xa9"),
	    0);
	assert_int_equal(mime_msg_set_text(m, text_body, sizeof(text_body) - 1),
			 0);
	assert_int_equal(mime_msg_set_html(m, html_body, sizeof(html_body) - 1),
			 0);
	assert_int_equal(mime_msg_attach_file(m, big_path, NULL, NULL), 0);
	assert_int_equal(mime_msg_attach_file(m, small_path, "text/csv",
					      "r\xc3\xa9sum\xc3\xa9 "
					      "\xe2\x82\xac 2024 with a long "
					      "name that needs sections.csv"),
			 0);

	/* odd read sizes, and a second generator gives the same bytes */
	msg = generate(m, 1000, &len);
	{
		size_t len2;
		char *again = generate(m, 65536 + 7, &len2);

		assert_int_equal(len2, len);
		assert_memory_equal(again, msg, len);
		free(again);
	}
	assert_lines_ok(msg, len, false);

	/* the header block */
	sep = strstr(msg, "\r\n\r\n");
	assert_non_null(sep);
	hlen = (size_t)(sep - msg) + 2;
	assert_true(header_get(msg, hlen, "Subject", raw, sizeof(raw), val,
			       sizeof(val)));
	assert_int_equal(
	    encword_decode(&dec, &dlen, "Subject", raw, strlen(raw)), 0);
	assert_int_equal(dlen, strlen(subject));
	assert_memory_equal(dec, subject, dlen);
	common_free(dec);
	assert_true(header_get(msg, hlen, "From", NULL, 0, val, sizeof(val)));
	assert_string_equal(val, "=?UTF-8?Q?J=C3=B6rg?= <jorg@example.org>");
	assert_true(header_get(msg, hlen, "To", NULL, 0, val, sizeof(val)));
	assert_string_equal(val, "Ann <ann@example.org>, bob@example.net");
	assert_true(header_get(msg, hlen, "Cc", NULL, 0, val, sizeof(val)));
	assert_string_equal(val, "\"Smith, C\" <c@ex.org>");
	assert_false(header_get(msg, hlen, "Bcc", NULL, 0, val, sizeof(val)));
	assert_true(
	    header_get(msg, hlen, "Message-ID", NULL, 0, val, sizeof(val)));
	assert_int_equal(strlen(val), strlen("<@example.org>") + 32);
	assert_true(val[0] == '<' && strstr(val, "@example.org>") != NULL);
	assert_true(header_get(msg, hlen, "Date", NULL, 0, val, sizeof(val)));
	assert_true(
	    header_get(msg, hlen, "MIME-Version", NULL, 0, val, sizeof(val)));
	assert_string_equal(val, "1.0");
	assert_true(
	    header_get(msg, hlen, "X-Mailer", NULL, 0, val, sizeof(val)));
	assert_string_equal(val, "smtpsend test");
	assert_true(header_get(msg, hlen, "Comments", raw, sizeof(raw), val,
			       sizeof(val)));
	assert_int_equal(
	    encword_decode(&dec, &dlen, "Comments", raw, strlen(raw)), 0);
	assert_string_equal(dec, "non-ASCII \xc3\xa9t\xc3\xa9");
	common_free(dec);
	assert_true(
	    header_get(msg, hlen, "Content-Type", NULL, 0, val, sizeof(val)));
	assert_true(strncmp(val, "multipart/mixed; boundary=\"=_", 29) == 0);

	/* the parts, decoded */
	parse_message(&p, msg, len);
	assert_int_equal(p.nparts, 4);
	assert_part_text(&p.parts[0], "plain", text_body,
			 sizeof(text_body) - 1);
	assert_string_equal(p.parts[0].cte, "quoted-printable");
	assert_part_text(&p.parts[1], "html", html_body, sizeof(html_body) - 1);
	assert_string_equal(p.parts[2].ctype,
			    "application/octet-stream; name=\"random.bin\"");
	assert_string_equal(p.parts[2].filename, "random.bin");
	assert_string_equal(p.parts[2].cte, "base64");
	assert_int_equal(p.parts[2].len, BIG_SIZE);
	assert_memory_equal(p.parts[2].body, big, BIG_SIZE);
	assert_true(
	    strncmp(p.parts[3].ctype, "text/csv; name*0*=UTF-8''", 25) == 0);
	assert_string_equal(
	    p.parts[3].filename,
	    "r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac 2024 with a long "
	    "name that needs sections.csv");
	assert_int_equal(p.parts[3].len, strlen(small));
	assert_memory_equal(p.parts[3].body, small, strlen(small));
	parsed_free(&p);

	assert_false(mime_msg_utf8_headers(m));
	free(msg);
	free(big);
	mime_msg_free(m);
}

/*
 * Heap while streaming: measured with mallinfo2() (glibc's count of
 * octets in use, main arena plus mmapped blocks) before the generator is
 * made and after every read.  The whole process is measured, so the
 * bound holds for everything the generator allocates.  Not meaningful
 * under AddressSanitizer (its allocator is not glibc's): skipped there.
 * With test hooks, the allocations made through common/alloc.h while
 * reading are counted too: there must be none.
 */
static void
test_mime_streams_in_constant_memory(void **state)
{
	struct fixture *fx = *state;
	unsigned char *big;
	const char *path;
	mime_msg *m = NULL;
	mime_gen *g = NULL;
	uint64_t size = 0, total = 0;
	size_t base, peak, n = 0;
	char *buf;
#ifdef SMTPCRED_TEST_HOOKS
	long allocs;
#endif

	big = malloc(BIG_SIZE);
	assert_non_null(big);
	fill_random(big, BIG_SIZE, 7);
	path = write_file(fx, "big.bin", big, BIG_SIZE);
	free(big);

	assert_int_equal(mime_msg_new(&m), 0);
	assert_int_equal(mime_msg_set_from(m, "a@example.org", "example.org"),
			 0);
	assert_int_equal(mime_msg_set_text(m, "see attached\n", 13), 0);
	assert_int_equal(mime_msg_attach_file(m, path, NULL, NULL), 0);
	assert_int_equal(mime_msg_measure(m, &size), 0);
	assert_true(size > BIG_SIZE / 3 * 4);
	buf = malloc(4096);
	assert_non_null(buf);

	base = heap_in_use();
	peak = base;
	assert_int_equal(mime_gen_new(&g, m), 0);
#ifdef SMTPCRED_TEST_HOOKS
	allocs = common_alloc_count_for_tests();
#endif
	do {
		size_t now;

		assert_int_equal(mime_gen_read(g, buf, 4096, &n), 0);
		total += n;
		now = heap_in_use();
		if (now > peak)
			peak = now;
	} while (n > 0);
#ifdef SMTPCRED_TEST_HOOKS
	assert_int_equal(common_alloc_count_for_tests(), allocs);
#endif
	assert_int_equal(total, size);
	mime_gen_free(g);
#ifndef HAVE_ASAN
	print_message("# heap: %zu octets above the start while streaming "
		      "%u octets of attachment\n",
		      peak - base, BIG_SIZE);
	/* two buffers of MIME_FILE_CHUNK and MIME_PEND_MAX, the struct,
	 * and malloc's own overhead */
	assert_true(peak - base <= MIME_FILE_CHUNK + MIME_PEND_MAX + 16384);
#endif
	free(buf);
	mime_msg_free(m);
}

struct cte_case {
	const char *name;
	const char *text;
	mime_cte want;
};

/* clang-format off */
static const struct cte_case cte_cases[] = {
	{"empty", "", MIME_CTE_7BIT},
	{"ascii", "Hello\r\nworld\r\n", MIME_CTE_7BIT},
	{"tab", "a\tb\r\n", MIME_CTE_7BIT},
	{"mostly ascii", "Caf\xc3\xa9 au lait, s'il vous pla\xc3\xaet\r\n",
	 MIME_CTE_QP},
	{"control", "bell\x07 ring\r\n", MIME_CTE_QP},
	{"cyrillic", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
		     "\xd0\xbc\xd0\xb8\xd1\x80", MIME_CTE_BASE64},
	{"cjk", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
		"\xe6\x96\x87\xe7\xab\xa0", MIME_CTE_BASE64},
};
/* clang-format on */

static void
test_mime_chooses_transfer_encoding(void **state)
{
	char line[SMTP_TEXT_LINE_MAX + 3];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cte_cases); i++) {
		print_message("# case: %s\n", cte_cases[i].name);
		assert_int_equal(
		    mime_text_cte(cte_cases[i].text, strlen(cte_cases[i].text)),
		    cte_cases[i].want);
	}
	/* 998 octets in a line: 7bit; 999: quoted-printable */
	memset(line, 'a', sizeof(line));
	memcpy(line + SMTP_TEXT_LINE_MAX, "\r\n", 2);
	assert_int_equal(mime_text_cte(line, SMTP_TEXT_LINE_MAX + 2),
			 MIME_CTE_7BIT);
	line[SMTP_TEXT_LINE_MAX] = 'a';
	assert_int_equal(mime_text_cte(line, SMTP_TEXT_LINE_MAX + 1),
			 MIME_CTE_QP);
}

/* One text part alone: its body comes back exactly (a 7bit text gains
 * a final line end, RFC 5322 needs one).  want_cte NULL: any. */
static void
check_single(const char *text, size_t len, const char *want_cte, bool html)
{
	static const char *const names[] = {"7bit", "quoted-printable",
					    "base64"};
	struct parsed p;
	mime_msg *m = NULL;
	char *msg;
	size_t mlen, nlen;
	char *norm = crlf(text, len, &nlen);

	if (want_cte == NULL)
		want_cte = names[mime_text_cte(norm, nlen)];

	assert_int_equal(mime_msg_new(&m), 0);
	assert_int_equal(mime_msg_set_from(m, "a@example.org", "example.org"),
			 0);
	if (html)
		assert_int_equal(mime_msg_set_html(m, text, len), 0);
	else
		assert_int_equal(mime_msg_set_text(m, text, len), 0);
	msg = generate(m, 77, &mlen);
	assert_lines_ok(msg, mlen, false);
	parse_message(&p, msg, mlen);
	assert_int_equal(p.nparts, 1);
	assert_string_equal(p.parts[0].cte, want_cte);
	assert_string_equal(p.parts[0].ctype,
			    html ? "text/html; charset=utf-8"
				 : "text/plain; charset=utf-8");
	if (strcmp(want_cte, "7bit") == 0 &&
	    (nlen == 0 || norm[nlen - 1] != '\n')) {
		if (nlen > 0) {
			norm[nlen++] = '\r';
			norm[nlen++] = '\n';
		}
	}
	assert_int_equal(p.parts[0].len, nlen);
	assert_memory_equal(p.parts[0].body, norm, nlen);
	free(norm);
	parsed_free(&p);
	free(msg);
	mime_msg_free(m);
}

static void
test_mime_single_parts(void **state)
{
	static char qp[4000], b64[3000], longline[2500];

	(void)state;
	check_single("plain text\n", 11, "7bit", false);
	check_single("no final line end", 17, "7bit", false);
	check_single("", 0, "7bit", false);
	check_single("<p>hi</p>", 9, "7bit", true);
	check_single("some plain words, then caf\xc3\xa9 \n", 30,
		     "quoted-printable", false);
	check_single("some plain words, then caf\xc3\xa9 ", 29,
		     "quoted-printable", false);
	check_single("some plain words, then caf\xc3\xa9\t", 29,
		     "quoted-printable", false);
	check_single("some plain words, then caf\xc3\xa9", 28,
		     "quoted-printable", true);
	check_single("\xd0\x9f\xd1\x80\xd0\xb8", 6, "base64", false);

	/* quoted-printable or base64: blanks, '=', dots, line ends */
	for (uint32_t seed = 1; seed <= 40; seed++) {
		static const char *const tok[] = {
		    "ab", " ",    "=",     "\t",          "\xc3\xa9",
		    "\n", ".",    "x",     "  \n",        "=\n",
		    "\r", "\r\n", "From ", "\xe2\x82\xac"};
		size_t len = 0;
		uint32_t x = seed;

		while (len < sizeof(qp) - 8) {
			const char *t;

			x = x * 1103515245u + 12345u;
			t = tok[(x >> 16) % ARRAY_SIZE(tok)];
			memcpy(qp + len, t, strlen(t));
			len += strlen(t);
		}
		check_single(qp, len, NULL, false);
		/* a shorter piece, cut between characters */
		len = seed * 97 % len;
		while (len > 0 && ((unsigned char)qp[len] & 0xc0) == 0x80)
			len--;
		check_single(qp, len, NULL, seed % 2 == 0);
	}
	for (size_t i = 0; i < sizeof(longline); i++)
		longline[i] = i % 3 == 0 ? ' ' : 'w';
	check_single(longline, sizeof(longline), "quoted-printable", false);
	/* lines of exactly 76 and 77 around soft breaks */
	for (size_t n = 70; n < 82; n++) {
		memset(longline, 'q', n);
		longline[n - 1] = ' ';
		longline[n] = '\xc3';
		longline[n + 1] = '\xa9';
		check_single(longline, n + 2, "quoted-printable", false);
		longline[n + 2] = '\n';
		check_single(longline, n + 3, "quoted-printable", false);
	}
	/* base64 text, several lines */
	for (size_t i = 0; i < sizeof(b64); i += 2)
		memcpy(b64 + i, "\xd0\x96", 2);
	check_single(b64, sizeof(b64), "base64", false);
	check_single(b64, 2 * 28, "base64", true);
}

static void
test_mime_alternative_without_attachments(void **state)
{
	struct parsed p;
	mime_msg *m = NULL;
	char *msg, val[256];
	size_t len;

	(void)state;
	assert_int_equal(mime_msg_new(&m), 0);
	assert_int_equal(mime_msg_set_from(m, "a@example.org", "example.org"),
			 0);
	assert_int_equal(mime_msg_set_text(m, "text", 4), 0);
	assert_int_equal(mime_msg_set_html(m, "<b>html</b>", 11), 0);
	msg = generate(m, 4096, &len);
	assert_lines_ok(msg, len, false);
	assert_true(header_get(msg, (size_t)(strstr(msg, "\r\n\r\n") - msg) + 2,
			       "Content-Type", NULL, 0, val, sizeof(val)));
	assert_true(strncmp(val, "multipart/alternative; boundary=", 32) == 0);
	parse_message(&p, msg, len);
	assert_int_equal(p.nparts, 2);
	assert_part_text(&p.parts[0], "plain", "text", 4);
	assert_part_text(&p.parts[1], "html", "<b>html</b>", 11);
	parsed_free(&p);
	free(msg);
	mime_msg_free(m);
}

static void
test_mime_attachment_names_and_types(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *type;
		const char *name;
		const char *want_type; /* Content-Type up to the name */
	} cases[] = {
	    {NULL, NULL, "application/octet-stream"},
	    {"image/png", "plain.png", "image/png"},
	    {"text/plain; charset=us-ascii", "with space.txt",
	     "text/plain; charset=us-ascii"},
	    {NULL, "quote\"back\\slash", "application/octet-stream"},
	    {NULL, "\xe6\x97\xa5\xe6\x9c\xac.txt", "application/octet-stream"},
	    {NULL, "=?UTF-8?Q?looks_encoded?=", "application/octet-stream"},
	};
	static char longname[MIME_FILENAME_MAX + 1];
	const char *path;
	struct parsed p;
	mime_msg *m = NULL;
	char *msg;
	size_t len;

	path = write_file(fx, "data.bin", "0123456789", 10);
	assert_int_equal(mime_msg_new(&m), 0);
	assert_int_equal(mime_msg_set_from(m, "a@example.org", "example.org"),
			 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(
		    mime_msg_attach_file(m, path, cases[i].type, cases[i].name),
		    0);
	/* 255 octets of 3-octet characters: 16 sections */
	for (size_t i = 0; i + 3 <= MIME_FILENAME_MAX; i += 3)
		memcpy(longname + i, "\xe2\x82\xac", 3);
	assert_int_equal(mime_msg_attach_file(m, path, NULL, longname), 0);
	msg = generate(m, 333, &len);
	assert_lines_ok(msg, len, false);
	{
		/* header lines of attachments stay within 78 */
		const char *s = msg;

		while ((s = strstr(s, "Content-Disposition")) != NULL) {
			const char *end = strstr(s, "\r\n\r\n");

			for (const char *l = s; l < end;) {
				const char *e = strstr(l, "\r\n");

				assert_true(e - l <= 78);
				l = e + 2;
			}
			s = end;
		}
	}
	parse_message(&p, msg, len);
	assert_int_equal(p.nparts, ARRAY_SIZE(cases) + 2);
	assert_int_equal(p.parts[0].len, 0); /* the empty text part */
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct part *pt = &p.parts[i + 1];

		print_message("# case %zu\n", i);
		assert_true(strncmp(pt->ctype, cases[i].want_type,
				    strlen(cases[i].want_type)) == 0);
		assert_string_equal(pt->filename,
				    cases[i].name ? cases[i].name : "data.bin");
		assert_int_equal(pt->len, 10);
		assert_memory_equal(pt->body, "0123456789", 10);
	}
	assert_string_equal(p.parts[ARRAY_SIZE(cases) + 1].filename, longname);
	parsed_free(&p);
	free(msg);
	mime_msg_free(m);
}

static void
test_mime_boundary_not_in_text(void **state)
{
	struct fixture *fx = *state;
	struct test_rng rng = {0, 1};
	const char *path;
	struct parsed p;
	mime_msg *m = NULL;
	char text[128], *msg;
	size_t len;

	/* the first draw would give "=_000...0": put it in the text */
	snprintf(text, sizeof(text), "a\r\n--=_%032d\r\nb\r\n", 0);
	path = write_file(fx, "x.bin", "x", 1);
	assert_int_equal(mime_msg_new(&m), 0);
	assert_int_equal(mime_msg_set_random(m, test_random, &rng), 0);
	assert_int_equal(mime_msg_set_from(m, "a@example.org", "example.org"),
			 0);
	assert_int_equal(mime_msg_set_text(m, text, strlen(text)), 0);
	assert_int_equal(mime_msg_attach_file(m, path, NULL, NULL), 0);
	msg = generate(m, 4096, &len);
	assert_non_null(strstr(msg, "boundary=\"=_"));
	assert_null(
	    strstr(msg, "boundary=\"=_00000000000000000000000000000000"));
	parse_message(&p, msg, len);
	assert_int_equal(p.nparts, 2);
	assert_string_equal(p.parts[0].cte, "7bit");
	assert_part_text(&p.parts[0], "plain", text, strlen(text));
	parsed_free(&p);
	free(msg);
	mime_msg_free(m);

	/* a source that always collides: refused, not looping */
	rng = (struct test_rng){0, 1000};
	assert_int_equal(mime_msg_new(&m), 0);
	assert_int_equal(mime_msg_set_random(m, test_random, &rng), 0);
	assert_int_equal(mime_msg_set_from(m, "a@example.org", "example.org"),
			 0);
	assert_int_equal(mime_msg_set_text(m, text, strlen(text)), 0);
	assert_int_equal(mime_msg_attach_file(m, path, NULL, NULL), 0);
	{
		mime_gen *g = NULL;

		assert_int_equal(mime_gen_new(&g, m), SMTPSEND_E_LIMIT);
		assert_null(g);
	}
	mime_msg_free(m);
}

static void
check_date(const char *tz, const char *want)
{
	mime_msg *m = NULL;
	char *msg, val[128];
	size_t len;

	setenv("TZ", tz, 1);
	tzset();
	assert_int_equal(mime_msg_new(&m), 0);
	assert_int_equal(mime_msg_set_from(m, "a@example.org", "example.org"),
			 0);
	assert_int_equal(mime_msg_set_date(m, 1700000000), 0);
	msg = generate(m, 4096, &len);
	assert_true(header_get(msg, len, "Date", NULL, 0, val, sizeof(val)));
	assert_string_equal(val, want);
	free(msg);
	mime_msg_free(m);
}

static void
test_mime_date(void **state)
{
	(void)state;
	check_date("UTC", "Tue, 14 Nov 2023 22:13:20 +0000");
	check_date("<+0530>-5:30", "Wed, 15 Nov 2023 03:43:20 +0530");
	check_date("<-0330>3:30", "Tue, 14 Nov 2023 18:43:20 -0330");
	setenv("TZ", "UTC", 1);
	tzset();
}

static void
test_mime_refusals(void **state)
{
	struct fixture *fx = *state;
	static char big[MIME_TEXT_MAX + 1];
	const char *path;
	mime_msg *m = NULL;
	mime_gen *g = NULL;
	uint64_t size;

	path = write_file(fx, "f.bin", "abc", 3);
	assert_int_equal(mime_msg_new(&m), 0);

	/* no From yet */
	assert_int_equal(mime_gen_new(&g, m), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_measure(m, &size), SMTPSEND_E_INVAL);

	assert_int_equal(mime_msg_set_from(m, "a@b.org\r\nBcc: x@y", "b.org"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_from(m, "a@b.org", "b..org"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_from(m, "a@b.org", "b.org>"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_from(m, "", "b.org"), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_from(m, "a@b.org", "[192.0.2.1]"), 0);
	assert_int_equal(mime_msg_add_address(m, MIME_ADDR_TO, "x\ny"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_add_address(m, 7, "x@y"), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_subject(m, "a\rb"), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_subject(m, "\xff"), SMTPSEND_E_INVAL);

	/* header names the builder writes itself, and bad names/values */
	assert_int_equal(mime_msg_add_header(m, "bcc", "x@y"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_add_header(m, "Date", "x"), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_add_header(m, "MESSAGE-ID", "<x@y>"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_add_header(m, "Content-Type", "text/plain"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_add_header(m, "X Y", "v"), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_add_header(m, "X-Y", "v\r\nBcc: z"),
			 SMTPSEND_E_INVAL);
	for (unsigned i = 0; i < MIME_HEADERS_MAX; i++)
		assert_int_equal(mime_msg_add_header(m, "X-N", "v"), 0);
	assert_int_equal(mime_msg_add_header(m, "X-N", "v"), SMTPSEND_E_LIMIT);

	/* bodies */
	assert_int_equal(mime_msg_set_text(m, "a\0b", 3), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_text(m, "\xc3", 1), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_html(m, big, sizeof(big)),
			 SMTPSEND_E_LIMIT);

	/* attachments */
	errno = 0;
	assert_int_equal(mime_msg_attach_file(m, "/nonexistent/x", NULL, NULL),
			 SMTPSEND_E_IO);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(mime_msg_attach_file(m, fx->dir, NULL, "d"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_attach_file(m, path, "text", NULL),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_attach_file(m, path, "text/", NULL),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_attach_file(m, path, "te xt/plain", NULL),
			 SMTPSEND_E_INVAL);
	assert_int_equal(
	    mime_msg_attach_file(m, path, "text/plain\r\nX: y", NULL),
	    SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_attach_file(m, path, NULL, "a/b"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_attach_file(m, path, NULL, "a\nb"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_attach_file(m, path, NULL, ""),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_attach_file(m, "/", NULL, NULL),
			 SMTPSEND_E_INVAL);
	for (unsigned i = 0; i < MIME_ATTACH_MAX; i++)
		assert_int_equal(mime_msg_attach_file(m, path, NULL, NULL), 0);
	assert_int_equal(mime_msg_attach_file(m, path, NULL, NULL),
			 SMTPSEND_E_LIMIT);

	/* sealed: no more changes */
	assert_int_equal(mime_msg_measure(m, &size), 0);
	assert_int_equal(mime_msg_set_subject(m, "late"), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_text(m, "late", 4), SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_add_header(m, "X-Late", "v"),
			 SMTPSEND_E_INVAL);
	assert_int_equal(mime_msg_set_date(m, 0), SMTPSEND_E_INVAL);

	/* misuse of the generator */
	assert_int_equal(mime_gen_new(NULL, m), SMTPSEND_E_INVAL);
	assert_int_equal(mime_gen_new(&g, m), 0);
	{
		char b[4];
		size_t n;

		assert_int_equal(mime_gen_read(g, b, 0, &n), SMTPSEND_E_INVAL);
		assert_int_equal(mime_gen_read(g, NULL, 4, &n),
				 SMTPSEND_E_INVAL);
		assert_int_equal(mime_gen_read(g, b, 4, NULL),
				 SMTPSEND_E_INVAL);
	}
	mime_gen_free(g);
	mime_gen_free(NULL);
	mime_msg_free(m);
	mime_msg_free(NULL);
}

static void
test_mime_utf8_address_headers(void **state)
{
	mime_msg *m = NULL;
	char *msg, val[512];
	size_t len, hlen;

	(void)state;
	assert_int_equal(mime_msg_new(&m), 0);
	/* UTF-8 display names are encoded, IDN domains become A-labels */
	assert_int_equal(mime_msg_set_from(m,
					   "Ann M\xc3\xbcller <ann@b\xc3\xbc"
					   "cher.example>",
					   "xn--bcher-kva.example"),
			 0);
	assert_int_equal(mime_msg_add_address(
			     m, MIME_ADDR_TO,
			     "\"J\xc3\xb6rg M\xc3\xbcller\" <j@example.org>, "
			     "\"Smith, Bo\" <bo@b\xc3\xbc"
			     "cher.example>"),
			 0);
	assert_false(mime_msg_utf8_headers(m));
	/* a UTF-8 local part stays: the header needs SMTPUTF8 (known
	 * before sealing) */
	assert_int_equal(mime_msg_add_address(m, MIME_ADDR_CC,
					      "j\xc3\xb6rg@b\xc3\xbc"
					      "cher.example"),
			 0);
	assert_true(mime_msg_utf8_headers(m));
	assert_int_equal(
	    mime_msg_add_address(m, MIME_ADDR_CC, "not an address \xc3\xa9"),
	    SMTPSEND_E_INVAL);
	msg = generate(m, 4096, &len);
	assert_lines_ok(msg, len, true);
	hlen = (size_t)(strstr(msg, "\r\n\r\n") - msg) + 2;
	assert_true(header_get(msg, hlen, "From", NULL, 0, val, sizeof(val)));
	assert_string_equal(val, "=?UTF-8?Q?Ann_M=C3=BCller?= "
				 "<ann@xn--bcher-kva.example>");
	assert_true(header_get(msg, hlen, "To", NULL, 0, val, sizeof(val)));
	assert_string_equal(val, "=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= "
				 "<j@example.org>, \"Smith, Bo\" "
				 "<bo@xn--bcher-kva.example>");
	assert_true(header_get(msg, hlen, "Cc", NULL, 0, val, sizeof(val)));
	assert_string_equal(val, "j\xc3\xb6rg@xn--bcher-kva.example");
	assert_true(
	    header_get(msg, hlen, "Message-ID", NULL, 0, val, sizeof(val)));
	assert_non_null(strstr(val, "@xn--bcher-kva.example>"));
	free(msg);
	mime_msg_free(m);
}

/* Read m to the end with a fresh generator: the code of the first
 * failing read, or 0. */
static int
drain(mime_msg *m)
{
	static char buf[8192];
	mime_gen *g = NULL;
	size_t n = 0;
	int r;

	r = mime_gen_new(&g, m);
	if (r < 0)
		return r;
	do {
		r = mime_gen_read(g, buf, sizeof(buf), &n);
	} while (r == 0 && n > 0);
	if (r < 0) {
		/* errors stick */
		assert_int_equal(mime_gen_read(g, buf, sizeof(buf), &n), r);
	}
	mime_gen_free(g);
	return r;
}

static void
test_mime_file_changes_are_caught(void **state)
{
	struct fixture *fx = *state;
	static unsigned char data[3 * MIME_FILE_CHUNK];
	const char *path;
	mime_msg *m = NULL;
	uint64_t size = 0;

	fill_random(data, sizeof(data), 3);
	/* exactly two chunks: the end is found by the probe read */
	path = write_file(fx, "c.bin", data, 2 * MIME_FILE_CHUNK);
	assert_int_equal(mime_msg_new(&m), 0);
	assert_int_equal(mime_msg_set_from(m, "a@example.org", "example.org"),
			 0);
	assert_int_equal(mime_msg_attach_file(m, path, NULL, NULL), 0);
	assert_int_equal(mime_msg_measure(m, &size), 0);
	assert_int_equal(drain(m), 0);

	/* grown, shrunk, removed */
	write_file(fx, "c.bin", data, 2 * MIME_FILE_CHUNK + 1);
	fx->npaths--;
	assert_int_equal(drain(m), SMTPSEND_E_IO);
	write_file(fx, "c.bin", data, 2 * MIME_FILE_CHUNK - 1);
	fx->npaths--;
	assert_int_equal(drain(m), SMTPSEND_E_IO);
	write_file(fx, "c.bin", data, 2 * MIME_FILE_CHUNK);
	fx->npaths--;
	assert_int_equal(drain(m), 0);
	unlink(path);
	assert_int_equal(drain(m), SMTPSEND_E_IO);
	assert_int_equal(errno, ENOENT);
	mime_msg_free(m);
}

#ifdef SMTPCRED_TEST_HOOKS
/* Build and generate a full message failing the n-th allocation for
 * n = 1, 2, ... until a run succeeds: every failure is a clean
 * SMTPSEND_E_NOMEM (ASan builds check for leaks). */
static void
test_mime_allocation_failures(void **state)
{
	struct fixture *fx = *state;
	const char *path = write_file(fx, "n.bin", "nomem", 5);
	bool done = false;

	for (long n = 1; !done && n < 1000; n++) {
		mime_msg *m = NULL;
		int r;

		common_alloc_reset_for_tests(n);
		r = mime_msg_new(&m);
		if (r == 0)
			r = mime_msg_set_from(
			    m, "=?UTF-8?Q?J=C3=B6rg?= <j@e.org>", "e.org");
		if (r == 0)
			r = mime_msg_add_address(m, MIME_ADDR_TO, "a@e.org");
		if (r == 0)
			r = mime_msg_add_address(m, MIME_ADDR_CC, "b@e.org");
		if (r == 0)
			r = mime_msg_set_subject(m, "caf\xc3\xa9 subject");
		if (r == 0)
			r = mime_msg_add_header(m, "X-A", "\xc3\xa9");
		if (r == 0)
			r = mime_msg_set_text(m, "t\xc3\xa9xt", 5);
		if (r == 0)
			r = mime_msg_set_html(m, "<p>h</p>", 8);
		if (r == 0)
			r = mime_msg_attach_file(m, path, NULL,
						 "n\xc3\xa9.bin");
		if (r == 0)
			r = drain(m);
		if (r == 0)
			done = true;
		else if (r != SMTPSEND_E_NOMEM)
			fail_msg("allocation %ld: %d", n, r);
		mime_msg_free(m);
	}
	common_alloc_reset_for_tests(0);
	assert_true(done);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mime_full_message_round_trip,
					    setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(
		test_mime_streams_in_constant_memory, setup_dir, teardown_dir),
	    cmocka_unit_test(test_mime_chooses_transfer_encoding),
	    cmocka_unit_test(test_mime_single_parts),
	    cmocka_unit_test(test_mime_alternative_without_attachments),
	    cmocka_unit_test_setup_teardown(
		test_mime_attachment_names_and_types, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_mime_boundary_not_in_text,
					    setup_dir, teardown_dir),
	    cmocka_unit_test(test_mime_date),
	    cmocka_unit_test_setup_teardown(test_mime_refusals, setup_dir,
					    teardown_dir),
	    cmocka_unit_test(test_mime_utf8_address_headers),
	    cmocka_unit_test_setup_teardown(test_mime_file_changes_are_caught,
					    setup_dir, teardown_dir),
#ifdef SMTPCRED_TEST_HOOKS
	    cmocka_unit_test_setup_teardown(test_mime_allocation_failures,
					    setup_dir, teardown_dir),
#endif
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests_name("libsend-mime", tests, NULL, NULL);
}
