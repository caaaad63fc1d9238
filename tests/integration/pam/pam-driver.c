/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam-driver CONFDIR SERVICE USER ACTION [NAME=VALUE...]
 *
 * Drives real libpam (pam_start_confdir: the service file comes from
 * CONFDIR, never /etc/pam.d) the way a login or passwd program does.
 * Every password prompt is answered with the first line of stdin (so no
 * password is ever in argv or the environment).  NAME=VALUE pairs go into
 * the PAM environment (pam_putenv) before the session opens.
 *   ACTION login:  authenticate, acct_mgmt, open_session, close_session
 *   ACTION passwd: chauthtok
 * Prints "STEP RESULT" per PAM call, then the elapsed milliseconds of the
 * session open or chauthtok ("elapsed N").  Exits 0 when every call
 * returned PAM_SUCCESS or PAM_IGNORE, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <security/pam_appl.h>

static char password[4096];

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
     void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			r[i].resp = strdup(password);
	}
	*resp = r;
	return PAM_SUCCESS;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
step(const char *name, int r)
{
	printf("%s %s\n", name, r == PAM_SUCCESS ? "success"
				: r == PAM_IGNORE  ? "ignore"
						   : "failure");
	return r == PAM_SUCCESS || r == PAM_IGNORE;
}

int
main(int argc, char **argv)
{
	struct pam_conv pc = {conv, NULL};
	pam_handle_t *pamh = NULL;
	long long t0;
	int ok = 1, r;

	if (argc < 5) {
		fprintf(stderr, "usage: pam-driver CONFDIR SERVICE USER "
				"login|passwd [NAME=VALUE...]\n");
		return 64;
	}
	if (fgets(password, sizeof(password), stdin) == NULL)
		return 66;
	password[strcspn(password, "\n")] = '\0';
	r = pam_start_confdir(argv[2], argv[3], &pc, argv[1], &pamh);
	if (r != PAM_SUCCESS) {
		fprintf(stderr, "pam_start_confdir: %d\n", r);
		return 1;
	}
	for (int i = 5; i < argc; i++)
		if (pam_putenv(pamh, argv[i]) != PAM_SUCCESS)
			return 1;
	if (strcmp(argv[4], "login") == 0) {
		ok &= step("authenticate", pam_authenticate(pamh, 0));
		ok &= step("acct_mgmt", pam_acct_mgmt(pamh, 0));
		t0 = now_ms();
		ok &= step("open_session", pam_open_session(pamh, 0));
		printf("elapsed %lld\n", now_ms() - t0);
		ok &= step("close_session", pam_close_session(pamh, 0));
	} else {
		t0 = now_ms();
		ok &= step("chauthtok", pam_chauthtok(pamh, 0));
		printf("elapsed %lld\n", now_ms() - t0);
	}
	pam_end(pamh, PAM_SUCCESS);
	memset(password, 0, sizeof(password));
	return ok ? 0 : 1;
}
