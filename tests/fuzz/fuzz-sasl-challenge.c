/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for libsend/sasl.c: the input is a sequence of 334
 * challenges, one per line (split at LF), fed to one client of every
 * mechanism (plus an XOAUTH2 client whose initial response waits for the
 * first 334) with a fixed test password, then sasl_finish() and
 * sasl_clear().
 *
 * The first byte chooses the mode.  Bit 0 clear: lines go to sasl_step()
 * as they are, so the strict base64 decoder sees arbitrary text.  Bit 0
 * set: the harness base64-encodes each line first, so the fuzzer works on
 * the decoded SCRAM/LOGIN/OAuth grammar; a line starting "r=" then gets
 * the client's nonce inserted after "r=" (so server-first messages pass
 * the nonce check), and an input with an iteration count other than 4096
 * that would reach PBKDF2 is skipped (slowness is not a finding).
 *
 * Properties (abort() otherwise), besides the sanitizers:
 *   - every line built is "AUTH <MECH>" plus base64 or "=", or base64
 *     only, within SMTP_AUTH_LINE_MAX with CRLF; *show is within the line
 *     and 0 for responses;
 *   - once a step fails, every later step and sasl_finish() fail too;
 *   - SCRAM never finishes successfully: the fuzzer cannot know the
 *     server signature, so success would mean an unverified server;
 *   - the test password never appears in a line's visible prefix;
 *   - after sasl_clear() the client struct is all zero.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sasl.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PASSWORD "fuzz-password-1"
/* The only iteration count let through to PBKDF2 in encoded mode. */
#define ITER_OK 4096u
/* An XOAUTH2 token long enough to defer the initial response: with
 * "user@example.org" the response is 9211 bytes, 12284 in base64. */
#define LONG_TOKEN 9175u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct client {
	enum sasl_mech mech;
	bool long_token;
	sasl_client c;
	bool failed;
};

static bool
is_b64_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' || ch == '=';
}

static void
check_b64(const char *p, size_t n)
{
	if (n % 4 != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!is_b64_char(p[i]))
			abort();
	}
}

static void
check_line(const secbuf *line, size_t show, bool first)
{
	if (line->data == NULL || line->len + 2 > SMTP_AUTH_LINE_MAX ||
	    show > line->len || line->data[line->len] != '\0')
		abort();
	if (memmem(line->data, show, PASSWORD, strlen(PASSWORD)) != NULL)
		abort();
	if (!first) {
		if (show != 0)
			abort();
		check_b64(line->data, line->len);
		return;
	}
	if (line->len < 5 || memcmp(line->data, "AUTH ", 5) != 0)
		abort();
	if (show < line->len) {
		const char *r = line->data + show;
		size_t n = line->len - show;

		if (line->data[show - 1] != ' ')
			abort();
		if (!(n == 1 && r[0] == '='))
			check_b64(r, n);
	}
}

/* An iteration count in a decoded line that would cost PBKDF2 time:
 * 1..9 digits (more is refused before PBKDF2) other than 4096 within
 * the accepted range. */
static bool
too_slow(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned long v = 0;
		size_t d = 0;

		if (p[i] != 'i' || p[i + 1] != '=')
			continue;
		while (i + 2 + d < n && p[i + 2 + d] >= '0' &&
		       p[i + 2 + d] <= '9' && d < 12) {
			v = v * 10 + (unsigned long)(p[i + 2 + d] - '0');
			d++;
		}
		if (d >= 1 && d <= 9 && v != ITER_OK && v >= SCRAM_ITER_MIN &&
		    v <= SCRAM_ITER_MAX)
			return true;
	}
	return false;
}

/* Build what cl gets for one line: the line itself, or (encoded mode)
 * its base64, with the client nonce after a leading "r=". */
static bool
challenge_for(const struct client *cl, bool encode, const char *p, size_t n,
	      char *out, size_t outsz, size_t *outlen)
{
	static char raw[3 * 4096];
	size_t rl = 0;

	if (!encode) {
		if (n > outsz)
			return false;
		memcpy(out, p, n);
		*outlen = n;
		return true;
	}
	if (n >= 2 && p[0] == 'r' && p[1] == '=' && cl->c.nonce[0] != '\0') {
		size_t k = strlen(cl->c.nonce);

		if (2 + k + n - 2 > sizeof(raw))
			return false;
		memcpy(raw, "r=", 2);
		memcpy(raw + 2, cl->c.nonce, k);
		memcpy(raw + 2 + k, p + 2, n - 2);
		rl = 2 + k + n - 2;
	} else {
		if (n > sizeof(raw))
			return false;
		memcpy(raw, p, n);
		rl = n;
	}
	if ((rl + 2) / 3 * 4 + 1 > outsz)
		return false;
	*outlen = (size_t)EVP_EncodeBlock((unsigned char *)out,
					  (const unsigned char *)raw, (int)rl);
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char cb[SASL_CB_DATA_LEN] = {0x42, 0x17};
	static char token[LONG_TOKEN];
	static char chal[4 * 4096 + 4];
	struct client cl[] = {
	    {.mech = SASL_PLAIN},
	    {.mech = SASL_LOGIN},
	    {.mech = SASL_XOAUTH2},
	    {.mech = SASL_XOAUTH2, .long_token = true},
	    {.mech = SASL_OAUTHBEARER},
	    {.mech = SASL_SCRAM_SHA_256},
	    {.mech = SASL_SCRAM_SHA_256_PLUS},
	};
	const char *in, *end;
	bool encode;

	if (size == 0)
		return 0;
	encode = (data[0] & 1) != 0;
	in = (const char *)data + 1;
	end = (const char *)data + size;
	if (encode && too_slow(in, (size_t)(end - in)))
		return 0;
	memset(token, 'T', sizeof(token));

	for (size_t k = 0; k < ARRAY_SIZE(cl); k++) {
		secbuf line = SECBUF_INIT;
		const char *p = in;
		size_t show = 0;
		int r;

		sasl_init(&cl[k].c);
		sasl_set_gs2_y(&cl[k].c, (data[0] & 2) != 0);
#ifdef SMTPCRED_TEST_HOOKS
		/* reproducible runs where the hook exists */
		if (sasl_test_set_nonce(&cl[k].c, "fyko+d2lbbFgONRv9qkxdawL") <
		    0)
			abort();
#endif
		if (cl[k].long_token)
			r = sasl_start(&cl[k].c, cl[k].mech, "user@example.org",
				       token, sizeof(token), NULL, NULL, 0,
				       NULL, &line, &show);
		else
			r = sasl_start(&cl[k].c, cl[k].mech, "user@example.org",
				       PASSWORD, strlen(PASSWORD), NULL,
				       "smtp.example.org", 587, cb, &line,
				       &show);
		if (r != 0)
			abort();
		check_line(&line, show, true);

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n =
			    nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
			size_t clen;

			if (!challenge_for(&cl[k], encode, p, n, chal,
					   sizeof(chal), &clen))
				break;
			r = sasl_step(&cl[k].c, chal, clen, &line, &show);
			if (r == 0) {
				if (cl[k].failed)
					abort(); /* a failed exchange revived */
				check_line(&line, show, false);
			} else {
				if (r > 0 || sasl_reason(&cl[k].c)[0] == '\0')
					abort();
				cl[k].failed = true;
			}
			p = nl != NULL ? nl + 1 : end;
		}

		r = sasl_finish(&cl[k].c);
		if (r == 0 &&
		    (cl[k].failed || cl[k].mech == SASL_SCRAM_SHA_256 ||
		     cl[k].mech == SASL_SCRAM_SHA_256_PLUS))
			abort();
		sasl_clear(&cl[k].c);
		for (size_t i = 0; i < sizeof(cl[k].c); i++) {
			if (((const unsigned char *)&cl[k].c)[i] != 0)
				abort();
		}
		secbuf_wipe(&line);
	}
	return 0;
}
