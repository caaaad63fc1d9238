/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SMTPCRED_ERROR domain and its mapping to the plain-C codes. */
#include "config.h"

#include <errno.h>

#include "internal.h"
#include "logsafe.h"

/* Written by hand: clang-format mangles G_DEFINE_QUARK (STYLE.md §3). */
GQuark
smtpcred_error_quark(void)
{
	return g_quark_from_static_string("smtpcred-error-quark");
}

/* clang-format off */
static const char *const code_names[] = {
	[0]				= "ok",
	[-SMTPCRED_E_NOT_FOUND]		= "not-found",
	[-SMTPCRED_E_LOCKED]		= "locked",
	[-SMTPCRED_E_NO_BUS]		= "no-session-bus",
	[-SMTPCRED_E_NO_SERVICE]	= "no-secret-service",
	[-SMTPCRED_E_AMBIGUOUS]		= "ambiguous",
	[-SMTPCRED_E_POLICY]		= "policy",
	[-SMTPCRED_E_AUDIT]		= "audit-unavailable",
	[-SMTPCRED_E_INVALID]		= "invalid",
	[-SMTPCRED_E_TIMEOUT]		= "timeout",
	[-SMTPCRED_E_BUSY]		= "busy",
	[-SMTPCRED_E_CONFLICT]		= "conflict",
	[-SMTPCRED_E_VERIFY]		= "verify-failed",
	[-SMTPCRED_E_FAILED]		= "failed",
	[-SMTPCRED_E_NOMEM]		= "out-of-memory",
};
/* clang-format on */
_Static_assert(G_N_ELEMENTS(code_names) == 1 - SMTPCRED_E_NOMEM,
	       "code_names out of sync with smtpcred_code");
_Static_assert(-(SMTPCRED_ERROR_FAILED + 1) == SMTPCRED_E_FAILED,
	       "SmtpcredError and smtpcred_code out of step");

const char *
smtpcred_code_str(int code)
{
	if (code > 0 || code < SMTPCRED_E_NOMEM)
		return "unknown";
	return code_names[-code];
}

int
kr_error_to_code(const GError *error)
{
	if (error == NULL)
		return SMTPCRED_OK;
	if (error->domain != SMTPCRED_ERROR)
		return SMTPCRED_E_FAILED;
	if (error->code < 0 || error->code > SMTPCRED_ERROR_FAILED)
		return SMTPCRED_E_FAILED;
	return -(error->code + 1);
}

void
kr_error_to_err(const GError *error, smtpcred_err *err)
{
	if (err == NULL)
		return;
	err->code = kr_error_to_code(error);
	if (error != NULL)
		logsafe_escape(err->message, sizeof(err->message),
			       error->message, strlen(error->message));
	else
		err->message[0] = '\0';
}
