#!/bin/sh
# dbus-daemon with its stdout on stderr (see with-keyring.sh): the address
# goes to dbus-run-session through --print-address=FD, not stdout.
exec dbus-daemon "$@" >&2
