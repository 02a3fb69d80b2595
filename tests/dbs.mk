# Real databases: LMDB refused, Redis end to end.
TESTS += tests/lmdb_refused.sh tests/redis_e2e.sh
dist_check_SCRIPTS += tests/lmdb_refused.sh tests/redis_e2e.sh
EXTRA_DIST += tests/dbs_lib.sh

# tests/lmdb_refused.sh uses tests/lmdb_writer when it is built here, and
# otherwise builds it itself (and skips, saying why, without liblmdb).
if HAVE_LMDB
check_PROGRAMS += tests/lmdb_writer
tests_lmdb_writer_SOURCES = tests/lmdb_writer.c
tests_lmdb_writer_LDADD = -llmdb
tests_lmdb_writer_LDFLAGS = -no-install
else
EXTRA_DIST += tests/lmdb_writer.c
endif

# The Redis client speaks RESP on a plain socket: no library needed.
check_PROGRAMS += tests/redis_client
tests_redis_client_SOURCES = tests/redis_client.c
tests_redis_client_LDFLAGS = -no-install
