# Faults and limits: a drain that meets a full file system (needs root and
# a loop device).
check_PROGRAMS += tests/fault_writer
tests_fault_writer_LDFLAGS = -no-install
TESTS += tests/drain_fault.sh
dist_check_SCRIPTS += tests/drain_fault.sh

# Held memory bounded by JETSNAP_MAX_PENDING; writers wait at JETSNAP_MAX_JOURNAL.
check_PROGRAMS += tests/memory_bound
tests_memory_bound_SOURCES = tests/memory_bound.c tests/selffreeze.h tests/journal_cache.h
tests_memory_bound_LDADD = libjetsnap.la $(DL_PTHREAD_LIBS)
tests_memory_bound_LDFLAGS = -no-install
TESTS += tests/memory_bound.sh
dist_check_SCRIPTS += tests/memory_bound.sh

# A process with an io_uring beside a held file is refused a freeze.
check_PROGRAMS += tests/uring_refused
tests_uring_refused_SOURCES = tests/uring_refused.c tests/selffreeze.h
tests_uring_refused_LDADD = libjetsnap.la
tests_uring_refused_LDFLAGS = -no-install
TESTS += tests/uring_refused.sh
dist_check_SCRIPTS += tests/uring_refused.sh
