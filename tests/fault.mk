# A drain that meets a full file system (needs root and a loop device).
check_PROGRAMS += tests/fault_writer
tests_fault_writer_LDFLAGS = -no-install
TESTS += tests/drain_fault.sh
dist_check_SCRIPTS += tests/drain_fault.sh
