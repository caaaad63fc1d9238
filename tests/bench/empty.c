/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A program that does nothing: tests/bench/run.sh links it with the
 * libraries smtpsend loads, to time process start-up alone. */
int
main(void)
{
	return 0;
}
