#!/bin/bash
# The test servers themselves (tests/servers/selftest.sh): every server the
# sender's tests rely on answers as its README says, checked with swaks,
# curl and openssl s_client.  Independent of our build, so it runs once
# here rather than in both meson builds.
#   tests/suites/10-servers.sh SRC_DIR OUT_DIR
set -u
src=${1:?}
exec bash "$src/tests/servers/selftest.sh"
