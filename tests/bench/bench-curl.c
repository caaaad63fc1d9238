/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-curl MODE N SIZE URL USER PASSFILE CAFILE FROM TO
 * The same workload as bench-send through libcurl's SMTP (STARTTLS
 * required, certificate verified).  MODE fresh forbids connection reuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

typedef struct {
	const char *data;
	size_t len, off;
} Src;

static size_t
rd(char *buf, size_t sz, size_t nm, void *ud)
{
	Src *s = ud;
	size_t n = sz * nm;

	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	return n;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	char pass[256] = "";
	char *msg;
	long n, size;
	size_t hl, len;
	FILE *f;
	CURL *c = NULL;
	struct curl_slist *rcpt = NULL;
	double t0;
	int fresh;

	if (argc != 10)
		return 64;
	fresh = strcmp(argv[1], "fresh") == 0;
	n = strtol(argv[2], NULL, 10);
	size = strtol(argv[3], NULL, 10);
	f = fopen(argv[6], "r");
	if (f == NULL || fgets(pass, sizeof(pass), f) == NULL)
		return 66;
	fclose(f);
	pass[strcspn(pass, "\n")] = '\0';
	msg = malloc((size_t)size + 256);
	hl = (size_t)snprintf(msg, 256, "From: %s\r\nTo: %s\r\nSubject: bench\r\n\r\n",
			      argv[8], argv[9]);
	for (long i = 0; i < size; i++)
		msg[hl + (size_t)i] = (i % 77 == 76) ? '\n' : (char)('a' + i % 26);
	len = hl + (size_t)size;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rcpt = curl_slist_append(rcpt, argv[9]);
	t0 = now();
	for (long i = 0; i < n; i++) {
		Src src = {msg, len, 0};
		CURLcode r;

		if (c == NULL) {
			c = curl_easy_init();
			curl_easy_setopt(c, CURLOPT_URL, argv[4]);
			curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
			curl_easy_setopt(c, CURLOPT_CAINFO, argv[7]);
			curl_easy_setopt(c, CURLOPT_USERNAME, argv[5]);
			curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
			curl_easy_setopt(c, CURLOPT_MAIL_FROM, argv[8]);
			curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, rd);
			if (fresh) {
				curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
				curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
			}
		}
		curl_easy_setopt(c, CURLOPT_READDATA, &src);
		r = curl_easy_perform(c);
		if (r != CURLE_OK) {
			fprintf(stderr, "curl: %s\n", curl_easy_strerror(r));
			return 1;
		}
	}
	curl_easy_cleanup(c);
	printf("%.3f\n", now() - t0);
	curl_slist_free_all(rcpt);
	free(msg);
	return 0;
}
