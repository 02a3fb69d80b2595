# tests: the man pages lint clean and match the code; make install gives a
# usable installation (owner: docs/install).
TESTS += tests/man_lint.sh tests/install.sh
dist_check_SCRIPTS += tests/man_lint.sh tests/install.sh
EXTRA_DIST += tests/checks_lib.sh
