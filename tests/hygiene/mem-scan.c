/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mem-scan ACCOUNT USER MASKED_HEX FROM TO
 * mem-scan --plant USER MASKED_HEX
 *
 * --plant is the scanner's own check: it leaves every form of the
 * password in clear on the heap, scans, and exits 0 only when each form
 * was found (so a scanner that finds nothing cannot pass unnoticed).
 *
 * "No secret left in memory" (issue 6): sends one message through
 * libsmtpsend with libsmtpcred's lease (the account's mechanism list picks
 * PLAIN, LOGIN or SCRAM-SHA-256), frees the session, and then, still
 * running, reads its own memory (/proc/self/maps + /proc/self/mem, every
 * readable mapping) looking for the password in every form an SMTP AUTH
 * exchange makes of it:
 *   raw; UTF-16LE and UTF-16BE; base64 of "\0USER\0PASSWORD" (the AUTH
 *   PLAIN response); base64 of the password alone at each of the three
 *   alignments (the LOGIN response, or the password inside any larger
 *   base64 blob).
 *
 * The password never exists here in clear: it comes in as hex of its
 * bytes XOR 0x5a, every pattern is kept XOR-masked, and the comparison
 * unmasks one byte at a time in a register.  Prints each hit as
 * "HIT form address mapping-line", then "hits N"; exits 0 only with no
 * hit and a message that was sent.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <fcntl.h>

#include <smtpcred/provider.h>
#include <smtpsend/smtpsend.h>

#define MASK	0x5a
#define PAT_MAX 1024

typedef struct {
	const char *form;
	unsigned char m[PAT_MAX]; /* pattern XOR MASK */
	size_t len;
} pattern;

static pattern pats[16];
static size_t npats;
static int form_hits[16]; /* hits per pattern */

static void
wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

static void
add(const char *form, const unsigned char *plain, size_t n)
{
	pattern *p = &pats[npats++];

	p->form = form;
	p->len = n;
	for (size_t i = 0; i < n; i++)
		p->m[i] = plain[i] ^ MASK;
}

static size_t
b64(const unsigned char *in, size_t n, unsigned char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = (unsigned char)a[(v >> 18) & 63];
		out[o++] = (unsigned char)a[(v >> 12) & 63];
		out[o++] = i + 1 < n ? (unsigned char)a[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? (unsigned char)a[v & 63] : '=';
	}
	return o;
}

/* Build the masked patterns; every clear temporary is wiped at once. */
static int
build_patterns(const char *user, const char *hex)
{
	unsigned char pw[256], tmp[PAT_MAX], enc[PAT_MAX];
	size_t n = strlen(hex) / 2, ulen = strlen(user), k;

	if (n == 0 || n > 200 || ulen > 200)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		pw[i] = (unsigned char)(v ^ MASK);
	}
	add("raw", pw, n);
	for (size_t i = 0; i < n; i++) {
		tmp[2 * i] = pw[i];
		tmp[2 * i + 1] = 0;
	}
	add("utf16le", tmp, 2 * n);
	for (size_t i = 0; i < n; i++) {
		tmp[2 * i] = 0;
		tmp[2 * i + 1] = pw[i];
	}
	add("utf16be", tmp, 2 * n);
	/* AUTH PLAIN: base64("\0user\0password") */
	tmp[0] = 0;
	memcpy(tmp + 1, user, ulen);
	tmp[1 + ulen] = 0;
	memcpy(tmp + 2 + ulen, pw, n);
	k = b64(tmp, 2 + ulen + n, enc);
	add("base64-plain", enc, k);
	/* The password inside any base64 text, at each alignment: encode
	 * it after 0, 1 or 2 filler bytes and keep the characters that
	 * depend on the password alone. */
	for (size_t pad = 0; pad < 3; pad++) {
		static const char *const form[] = {"base64-0", "base64-1",
						   "base64-2"};
		size_t first, last;

		memset(tmp, 'x', pad);
		memcpy(tmp + pad, pw, n);
		k = b64(tmp, pad + n, enc);
		first = pad == 0 ? 0 : 4;	 /* skip the group with filler */
		last = ((pad + n) / 3) * 4; /* whole groups only */
		if (last > first + 8)
			add(form[pad], enc + first, last - first);
	}
	wipe(pw, sizeof(pw));
	wipe(tmp, sizeof(tmp));
	wipe(enc, sizeof(enc));
	return 0;
}

/* Does the region hold pattern p at i?  Unmasked a byte at a time. */
static int
match_at(const unsigned char *r, size_t rlen, size_t i, const pattern *p)
{
	if (rlen - i < p->len)
		return 0;
	for (size_t j = 0; j < p->len; j++)
		if ((unsigned char)(r[i + j] ^ MASK) != p->m[j])
			return 0;
	return 1;
}

static int
scan_region(const unsigned char *r, size_t len, unsigned long base,
	    const char *mapline)
{
	int hits = 0;

	for (size_t k = 0; k < npats; k++) {
		const pattern *p = &pats[k];
		unsigned char first = p->m[0] ^ MASK;
		size_t i = 0;

		while (i < len) {
			const unsigned char *q = memchr(r + i, first, len - i);

			if (q == NULL)
				break;
			i = (size_t)(q - r);
			if (match_at(r, len, i, p)) {
				/* Our own masked patterns never match:
				 * they are stored XOR-ed. */
				printf("HIT %s 0x%lx %s", p->form,
				       base + (unsigned long)i, mapline);
				hits++;
				form_hits[k]++;
			}
			i++;
		}
	}
	return hits;
}

static int
scan_self(void)
{
	FILE *maps = fopen("/proc/self/maps", "re");
	int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	char line[512];
	int hits = 0;

	if (maps == NULL || mem < 0)
		return -1;
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long lo, hi;
		char perms[5];
		unsigned char *buf;

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || strstr(line, "[vvar]") != NULL ||
		    strstr(line, "[vsyscall]") != NULL || hi - lo > (1ul << 30))
			continue;
		buf = malloc(hi - lo);
		if (buf == NULL)
			continue;
		if (pread(mem, buf, hi - lo, (off_t)lo) == (ssize_t)(hi - lo))
			hits += scan_region(buf, hi - lo, lo, line);
		/* The copy may hold hits too: wipe before freeing it. */
		wipe(buf, hi - lo);
		free(buf);
	}
	fclose(maps);
	close(mem);
	return hits;
}

int
main(int argc, char **argv)
{
	smtpsend_options o = SMTPSEND_OPTIONS_INIT;
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_result res = SMTPSEND_RESULT_INIT;
	smtpsend_session *s = NULL;
	smtpsend_message *m = NULL;
	int r, hits, sent;

	if (argc == 4 && strcmp(argv[1], "--plant") == 0) {
		size_t found = 0;

		if (build_patterns(argv[2], argv[3]) < 0)
			return 64;
		static unsigned char *plant[16];

		for (size_t k = 0; k < npats; k++) {
			plant[k] = malloc(pats[k].len);
			if (plant[k] == NULL)
				return 71;
			for (size_t j = 0; j < pats[k].len; j++)
				plant[k][j] = pats[k].m[j] ^ MASK;
		}
		hits = scan_self();
		for (size_t k = 0; k < npats; k++) {
			wipe(plant[k], pats[k].len);
			free(plant[k]);
		}
		for (size_t k = 0; k < npats; k++)
			found += form_hits[k] > 0;
		printf("patterns %zu\nforms found %zu\nhits %d\n", npats,
		       found, hits);
		return hits > 0 && found == npats ? 0 : 1;
	}
	if (argc != 6 || build_patterns(argv[2], argv[3]) < 0) {
		fprintf(stderr, "usage: mem-scan ACCOUNT USER MASKED_HEX FROM "
				"TO\n");
		return 64;
	}
	wipe(argv[3], strlen(argv[3]));
	o.purpose = "memory hygiene test";
	/* MEM_SCAN_BROKER=SOCKET: through smtpcredd, which holds the
	 * password; this process must then never see it (issue 13). */
	if (getenv("MEM_SCAN_BROKER") != NULL)
		r = smtpsend_session_new_broker(&s, getenv("MEM_SCAN_BROKER"),
						argv[1], &o, &err);
	else
		r = smtpsend_session_new_for_account(
		    &s, argv[1], smtpcred_send_provider(), &o, &err);
	if (r == 0)
		r = smtpsend_message_new(&m, &err);
	if (r == 0)
		r = smtpsend_message_set_from(m, argv[4], &err);
	if (r == 0)
		r = smtpsend_message_add_rcpt(m, "to", argv[5], &err);
	if (r == 0)
		r = smtpsend_message_set_subject(m, "memory hygiene", &err);
	if (r == 0)
		r = smtpsend_message_set_text(m, "hello\n", 6, &err);
	if (r == 0)
		r = smtpsend_send(s, m, &res, &err);
	sent = r == 0 && res.sent;
	if (!sent)
		fprintf(stderr, "send failed: %s\n", err.message);
	smtpsend_result_clear(&res);
	smtpsend_message_free(m);
	smtpsend_session_free(s);

	hits = scan_self();
	printf("patterns %zu\nhits %d\n", npats, hits);
	return sent && hits == 0 ? 0 : 1;
}
