/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libsmtpsend's provider interface, implemented with the lease. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <smtpcred/provider.h>

#include "internal.h"

/* Which keyring failures a queue should retry. */
static int
provider_class(int code)
{
	switch (code) {
	case SMTPCRED_E_LOCKED:
	case SMTPCRED_E_NO_BUS:
	case SMTPCRED_E_NO_SERVICE:
	case SMTPCRED_E_TIMEOUT:
	case SMTPCRED_E_BUSY:
	case SMTPCRED_E_AUDIT:
	case SMTPCRED_E_CONFLICT: /* the keyring changed while we read it */
	case SMTPCRED_E_NOMEM:
		return SMTPSEND_PROVIDER_TEMPORARY;
	default:
		return SMTPSEND_PROVIDER_PERMANENT;
	}
}

static int
p_acquire(void *userdata, const char *account, const char *purpose,
	  unsigned timeout_ms, void **lease, char *msg, size_t msglen)
{
	smtpcred_err err = SMTPCRED_ERR_INIT;
	smtpcred_lease *l = NULL;
	int r;

	(void)userdata;
	r = smtpcred_lease_acquire(&l, account, purpose, timeout_ms, &err);
	if (r < 0) {
		snprintf(msg, msglen, "%s", err.message);
		return provider_class(r);
	}
	*lease = l;
	return 0;
}

/* An account's "tls" setting as libsmtpsend's mode. */
static smtpsend_tls_mode
tls_mode(const char *tls)
{
	if (g_strcmp0(tls, "implicit") == 0)
		return SMTPSEND_TLS_IMPLICIT;
	if (g_strcmp0(tls, "none-loopback") == 0)
		return SMTPSEND_TLS_NONE_LOOPBACK;
	return SMTPSEND_TLS_STARTTLS;
}

/* The settings as read now still are the ones the session connected
 * with. */
static gboolean
same_settings(const SmtpcredSettings *now, const void *data)
{
	const smtpsend_account *used = data;

	return g_strcmp0(now->host, used->host) == 0 &&
	       now->port == used->port && tls_mode(now->tls) == used->tls &&
	       (now->mechs == NULL || g_strcmp0(now->mechs, used->mechs) == 0) &&
	       g_strcmp0(now->ca_file, used->ca_file) == 0 &&
	       g_strcmp0(now->pin, used->pin) == 0;
}

static int
p_acquire_for(void *userdata, const char *account,
	      const smtpsend_account *used, const char *purpose,
	      unsigned timeout_ms, void **lease, char *msg, size_t msglen)
{
	smtpcred_err err = SMTPCRED_ERR_INIT;
	smtpcred_lease *l = NULL;
	int r;

	(void)userdata;
	r = kr_lease_acquire(&l, account, purpose, timeout_ms, same_settings,
			     used, &err);
	if (r < 0) {
		snprintf(msg, msglen, "%s", err.message);
		return provider_class(r);
	}
	*lease = l;
	return 0;
}

static const char *
p_user(void *lease)
{
	return smtpcred_lease_user(lease);
}

static int
p_borrow(void *lease, const char **secret, size_t *len)
{
	return smtpcred_lease_borrow(lease, secret, len);
}

static void
p_give_back(void *lease)
{
	smtpcred_lease_return(lease);
}

static void
p_report(void *lease, unsigned smtp_code, const char *server)
{
	(void)smtpcred_lease_report(lease, smtp_code, server);
}

static void
p_release(void *lease)
{
	smtpcred_lease_release(lease);
}

/* The resolved account and the strings it points to, freed together. */
typedef struct {
	smtpsend_account pub;
	smtpcred_account_info *info;
} Resolved;

static int
p_resolve(void *userdata, const char *account, smtpsend_account **out,
	  char *msg, size_t msglen)
{
	smtpcred_err err = SMTPCRED_ERR_INIT;
	smtpcred_account_info *info = NULL;
	Resolved *r;
	int rc;

	(void)userdata;
	/* The lease comes after the TLS handshake: let the keyring's key
	 * exchange run meanwhile, and its CPU-only part during the lookup
	 * (the exchange with the service waits for the gate). */
	kr_lease_prepare_start(0, TRUE);
	rc = smtpcred_account_lookup(&info, account, 0, &err);
	kr_lease_prepare_go();
	if (rc < 0) {
		snprintf(msg, msglen, "%s", err.message);
		return provider_class(rc);
	}
	r = g_new0(Resolved, 1);
	r->info = info;
	r->pub.host = info->host;
	r->pub.port = info->port;
	r->pub.tls = tls_mode(info->tls);
	r->pub.mechs = info->mechs;
	r->pub.ca_file = info->ca_file;
	r->pub.pin = info->pin;
	*out = &r->pub;
	return 0;
}

static void
p_resolve_free(void *userdata, smtpsend_account *account)
{
	Resolved *r = (Resolved *)account; /* pub is the first member */

	(void)userdata;
	if (r == NULL)
		return;
	smtpcred_account_info_free(r->info);
	g_free(r);
}

const smtpsend_provider *
smtpcred_send_provider(void)
{
	static const smtpsend_provider provider = {
	    .struct_version = 2,
	    .acquire = p_acquire,
	    .user = p_user,
	    .borrow = p_borrow,
	    .give_back = p_give_back,
	    .report = p_report,
	    .release = p_release,
	    .resolve = p_resolve,
	    .resolve_free = p_resolve_free,
	    .acquire_for = p_acquire_for,
	};

	return &provider;
}
