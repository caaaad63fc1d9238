/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsmtpcred as libsmtpsend's credential provider: leases from the
 * keyring, one per AUTH exchange, audited, wiped on release; account
 * settings resolved from the keyring.  Plain C.
 */
#ifndef SMTPCRED_PROVIDER_H
#define SMTPCRED_PROVIDER_H

#include <smtpcred/lease.h>
#include <smtpsend/smtpsend.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A static provider; userdata unused.  Thread-safe. */
SMTPCRED_API const smtpsend_provider *smtpcred_send_provider(void);

#ifdef __cplusplus
}
#endif

#endif /* SMTPCRED_PROVIDER_H */
