/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for smtpsend -t: the raw-message spooler of libsend/
 * message.c that takes the recipients from To, Cc and Bcc and removes
 * Bcc (SMTPSEND_RAW_RCPTS_FROM_HEADERS), driven exactly as the CLI drives
 * it (smtpsend_message_set_raw_fd on the input, then the preparation the
 * session does before MAIL FROM).  The first input octet picks the flags
 * and whether -f is given; the rest is the message.  Properties (abort()
 * otherwise):
 *   - a refused message is refused as INVAL or LIMIT, with a message;
 *   - an accepted one has at least one recipient, and every path is
 *     "<...>" of at most SMTP_PATH_MAX octets with no CR or LF;
 *   - the spooled message is exactly p.size octets, ends every line in
 *     CRLF with no bare CR or LF, has no NUL and no line over 998
 *     octets, keeps no Bcc field in its header, and has 8-bit octets
 *     only when p.eightbit says so.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(const char *path)
{
	size_t n = strlen(path);

	if (n < 2 || n > SMTP_PATH_MAX || path[0] != '<' ||
	    path[n - 1] != '>' || strpbrk(path, "\r\n") != NULL)
		abort();
}

/* Reads the whole prepared message and checks its shape. */
static void
check_spool(smtpsend_message *m, const msg_prep *p)
{
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	msg_reader *rd = NULL;
	char buf[4096];
	char head[4]; /* the first octets of the current line */
	uint64_t total = 0;
	size_t col = 0, got;
	bool in_header = true, eight = false, bol = true, cr = false;

	if (message_open(m, &rd, &err) < 0)
		abort();
	do {
		if (msg_reader_read(rd, buf, sizeof(buf), &got, &err) < 0)
			abort();
		for (size_t i = 0; i < got; i++) {
			char ch = buf[i];

			if (cr != (ch == '\n') || ch == '\0')
				abort();
			eight |= (unsigned char)ch >= 0x80;
			if (ch == '\n') {
				if (col == 0)
					in_header = false;
				col = 0;
				bol = true;
				cr = false;
				continue;
			}
			cr = ch == '\r';
			if (cr)
				continue;
			bol = false;
			if (col < sizeof(head))
				head[col] = ch;
			if (++col > SMTP_TEXT_LINE_MAX)
				abort();
			/* a header line starting "Bcc:" (any case) */
			if (in_header && col == sizeof(head) &&
			    strncasecmp(head, "Bcc:", sizeof(head)) == 0)
				abort();
		}
		total += got;
	} while (got > 0);
	if (cr || !bol || total != p->size || (eight && !p->eightbit))
		abort();
	msg_reader_close(rd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smtpsend_error err = SMTPSEND_ERROR_INIT;
	smtpsend_message *m = NULL;
	msg_prep p;
	unsigned flags = SMTPSEND_RAW_RCPTS_FROM_HEADERS;
	int fd, r;

	if (size < 1 || size > 1024 * 1024)
		return 0;
	if (data[0] & 1)
		flags |= SMTPSEND_RAW_DOT_ENDS;
	if (data[0] & 2)
		flags |= SMTPSEND_RAW_ADD_MISSING;
	fd = memfd_create("fuzz-rcpt", MFD_CLOEXEC);
	if (fd < 0 || (size > 1 && write(fd, data + 1, size - 1) !=
					   (ssize_t)(size - 1)) ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	if (smtpsend_message_new(&m, &err) < 0 ||
	    ((data[0] & 4) &&
	     smtpsend_message_set_envelope_from(m, "sender@example.org", NULL,
						&err) < 0) ||
	    smtpsend_message_set_raw_fd(m, fd, flags, &err) < 0)
		abort();
	r = message_prepare(m, &p, &err);
	if (r < 0) {
		if ((err.code != SMTPSEND_E_INVAL &&
		     err.code != SMTPSEND_E_LIMIT) ||
		    err.message[0] == '\0')
			abort();
	} else {
		if (p.nrcpt == 0 || p.from_path == NULL)
			abort();
		check_path(p.from_path);
		for (size_t i = 0; i < p.nrcpt; i++)
			check_path(p.rcpt_paths[i]);
		check_spool(m, &p);
		msg_prep_clear(&p);
	}
	smtpsend_message_free(m);
	close(fd);
	return 0;
}
