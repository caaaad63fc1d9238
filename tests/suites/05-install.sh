#!/bin/bash
# The install path as on a fresh machine (issue 12): tests/install/
# install-path.sh runs the install scripts against stubbed dpkg-query and
# apt-get that answer "never installed", and checks the package lists
# against debian/control, debian/tests/control and the archive.
#   tests/suites/05-install.sh SRC_DIR OUT_DIR
set -u
src=${1:?}
exec bash "$src/tests/install/install-path.sh" "$src"
