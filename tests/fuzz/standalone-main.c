/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replays corpus files through a fuzz target without libFuzzer, so every
 * CI run (gcc) re-checks all saved inputs and past crashers.  Arguments
 * are files or directories (every regular file inside is replayed). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int r = -1;

	f = fopen(path, "rbe");
	if (f == NULL)
		return -1;
	for (;;) {
		size_t got;

		if (len == cap) {
			uint8_t *nbuf;

			cap = cap ? cap * 2 : 4096;
			nbuf = realloc(buf, cap);
			if (nbuf == NULL)
				goto out;
			buf = nbuf;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		goto out;
	LLVMFuzzerTestOneInput(buf, len);
	r = 0;
out:
	free(buf);
	fclose(f);
	return r;
}

static int
replay(const char *path, unsigned *n)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		(*n)++;
		return replay_file(path);
	}
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL && r == 0) {
		char sub[4096];

		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
				     e->d_name) >= sizeof(sub))
			r = -1;
		else
			r = replay(sub, n);
	}
	closedir(d);
	return r;
}

int
main(int argc, char **argv)
{
	unsigned n = 0;

	for (int i = 1; i < argc; i++) {
		if (replay(argv[i], &n) < 0) {
			perror(argv[i]);
			return EXIT_FAILURE;
		}
	}
	printf("replayed %u inputs\n", n);
	return n > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
