/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What pam_smtpcred and its helper share: the helper's exit codes (also
 * in pam_smtpcred(8)) and the account name rule. */
#pragma once

#include <stdbool.h>
#include <string.h>

#include "logsafe.h"

/* clang-format off */
enum {
	PAMH_EXIT_UNCHANGED  = 0,  /* every account already had this password */
	PAMH_EXIT_CHANGED    = 10, /* stored (first login) or rotated */
	PAMH_EXIT_NO_BUS     = 20, /* no session bus (yet): quietly nothing */
	PAMH_EXIT_NO_SERVICE = 21, /* bus, but no Secret Service on it */
	PAMH_EXIT_LOCKED     = 22, /* the collection is locked */
	PAMH_EXIT_NOT_LOGIN  = 23, /* an account is missing or not source=login */
	PAMH_EXIT_FAILED     = 24, /* any other keyring or audit failure */
	PAMH_EXIT_USAGE      = 64, /* bad arguments or no token on stdin */
};
/* clang-format on */

static inline bool
smtpcred_pam_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 64 && logsafe_is_name(name, n);
}
