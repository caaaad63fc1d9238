/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Error reporting for libsend: codes, classes, sanitised messages. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "logsafe.h"

/* clang-format off */
static const char *const code_names[] = {
	[0]				= "ok",
	[-SMTPSEND_E_NOMEM]		= "out-of-memory",
	[-SMTPSEND_E_INVAL]		= "invalid",
	[-SMTPSEND_E_IO]		= "io",
	[-SMTPSEND_E_TIMEOUT]		= "timeout",
	[-SMTPSEND_E_TLS]		= "tls",
	[-SMTPSEND_E_TLS_VERIFY]	= "tls-verify",
	[-SMTPSEND_E_PROTO]		= "protocol",
	[-SMTPSEND_E_REJECTED]		= "rejected",
	[-SMTPSEND_E_AUTH]		= "auth",
	[-SMTPSEND_E_INSECURE]		= "insecure",
	[-SMTPSEND_E_LIMIT]		= "limit",
	[-SMTPSEND_E_CREDENTIAL]	= "credential",
	[-SMTPSEND_E_UNSUPPORTED]	= "unsupported",
};
/* clang-format on */
_Static_assert(sizeof(code_names) / sizeof(code_names[0]) ==
		   1 - SMTPSEND_E_UNSUPPORTED,
	       "code_names out of sync with smtpsend_code");

const char *
smtpsend_code_str(int code)
{
	if (code > 0 || code < SMTPSEND_E_UNSUPPORTED)
		return "unknown";
	return code_names[-code];
}

int
send_code_class(int code)
{
	switch (code) {
	case SMTPSEND_OK:
		return SMTPSEND_CLASS_NONE;
	case SMTPSEND_E_IO:
	case SMTPSEND_E_TIMEOUT:
	case SMTPSEND_E_CREDENTIAL:
		return SMTPSEND_CLASS_TEMPORARY;
	case SMTPSEND_E_NOMEM:
	case SMTPSEND_E_INVAL:
	case SMTPSEND_E_LIMIT:
		return SMTPSEND_CLASS_LOCAL;
	default:
		return SMTPSEND_CLASS_PERMANENT;
	}
}

static void
fill(smtpsend_error *err, int code, const char *stage, const char *msg)
{
	err->code = code;
	err->stage = stage;
	err->klass = send_code_class(code);
	logsafe_escape(err->message, sizeof(err->message), msg, strlen(msg));
}

int
send_fail(smtpsend_error *err, int code, const char *stage, const char *fmt,
	  ...)
{
	char msg[SMTPSEND_ERROR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err->reply_code = 0;
	err->enhanced[0] = '\0';
	err->sys_errno = 0;
	fill(err, code, stage, msg);
	return code;
}

int
send_fail_reply(smtpsend_error *err, int code, const char *stage,
		unsigned reply_code, const char *enhanced, const char *text,
		const char *what)
{
	char first[160];
	size_t n;

	if (err == NULL)
		return code;
	/* Only the first line of the server's text, escaped, is kept. */
	n = text != NULL ? strcspn(text, "\n") : 0;
	logsafe_escape(first, sizeof(first), text != NULL ? text : "", n);
	err->code = code;
	err->stage = stage;
	err->sys_errno = 0;
	snprintf(err->message, sizeof(err->message), "%s: server said %u %s",
		 what, reply_code, first);
	err->reply_code = reply_code;
	snprintf(err->enhanced, sizeof(err->enhanced), "%s",
		 enhanced != NULL ? enhanced : "");
	err->klass = reply_code >= 500	 ? SMTPSEND_CLASS_PERMANENT
		     : reply_code >= 400 ? SMTPSEND_CLASS_TEMPORARY
					 : send_code_class(code);
	return code;
}

int64_t
send_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
