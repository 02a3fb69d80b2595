/*
 * selffreeze.h — a test program run under the shim freezes and thaws
 * itself through the control library, the way a backup tool would freeze
 * it from outside.  Shared by the shim-level test programs (tests/shim.mk).
 *
 * The instance handle of a process started under the shim is its pid.
 */
#ifndef JETSNAP_TESTS_SELFFREEZE_H
#define JETSNAP_TESTS_SELFFREEZE_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jetsnap.h"

/* Say which call failed and why, in one line, into msg. */
static inline JET_ERR selffreeze_report(char *msg, size_t len, const char *call, JET_ERR err)
{
	const char *name = JetsnapErrorName(err);
	const char *reason = JetsnapLastReason();

	snprintf(msg, len, "%s failed: %s (%d)%s%s", call, name ? name : "unknown JET_ERR",
		 (int)err, reason && *reason ? ": " : "", reason ? reason : "");
	return err;
}

/*
 * Is path (absolute) among the files the freeze reported for our instance?
 * A freeze that holds a file must name it, or a backup tool would not copy it.
 */
static inline bool selffreeze_lists(unsigned long n, const JET_INSTANCE_INFO *info,
				    const char *path)
{
	for (unsigned long i = 0; i < n; i++) {
		if (info[i].hInstanceId != (JET_INSTANCE)getpid())
			continue;
		for (JET_API_PTR d = 0; d < info[i].cDatabases; d++)
			if (info[i].szDatabaseFileName[d] &&
			    strcmp(info[i].szDatabaseFileName[d], path) == 0)
				return true;
	}
	return false;
}

/*
 * Prepare a session for this process only and freeze it.  When must_hold
 * is not NULL, the freeze must name that file as held.  0 on success, else
 * the JET_ERR (or -1 for a missing file) with a one-line message in msg.
 */
static inline JET_ERR selffreeze_begin(JET_OSSNAPID *id, const char *must_hold,
				       char *msg, size_t len)
{
	unsigned long n = 0;
	JET_INSTANCE_INFO *info = NULL;
	JET_ERR err;

	*id = 0;
	/*
	 * Far above any freeze window of these tests, far below the default 70 s:
	 * a freeze that never ends (a deadlock) fails the test in reasonable time.
	 */
	err = JetSetSystemParameter(NULL, 0, JET_paramOSSnapshotTimeout,
				    getenv("SELFFREEZE_TIMEOUT_MS") ?
				    strtoul(getenv("SELFFREEZE_TIMEOUT_MS"), NULL, 10) : 30000, NULL);
	if (err)
		return selffreeze_report(msg, len, "JetSetSystemParameter(OSSnapshotTimeout)", err);
	err = JetOSSnapshotPrepare(id, JET_bitExplicitPrepare | JET_bitContinueAfterThaw);
	if (err)
		return selffreeze_report(msg, len, "JetOSSnapshotPrepare", err);
	err = JetOSSnapshotPrepareInstance(*id, (JET_INSTANCE)getpid(), 0);
	if (err) {
		selffreeze_report(msg, len, "JetOSSnapshotPrepareInstance", err);
		goto fail;
	}
	err = JetOSSnapshotFreeze(*id, &n, &info, 0);
	if (err) {
		selffreeze_report(msg, len, "JetOSSnapshotFreeze", err);
		goto fail;
	}
	if (must_hold && !selffreeze_lists(n, info, must_hold)) {
		snprintf(msg, len, "JetOSSnapshotFreeze succeeded but did not list %.300s "
			 "among the held files of instance %ld", must_hold, (long)getpid());
		JetFreeBuffer((char *)info);
		/* Thaw so that the caller's report is not itself held. */
		JetOSSnapshotThaw(*id, 0);
		err = -1;
		goto fail;
	}
	JetFreeBuffer((char *)info);
	return 0;
fail:
	JetOSSnapshotEnd(*id, JET_bitAbortSnapshot);
	*id = 0;
	return err;
}

/* Thaw and end the session.  0, or the JET_ERR with a message in msg. */
static inline JET_ERR selffreeze_end(JET_OSSNAPID id, char *msg, size_t len)
{
	JET_ERR err = JetOSSnapshotThaw(id, 0);

	if (err) {
		selffreeze_report(msg, len, "JetOSSnapshotThaw", err);
		JetOSSnapshotEnd(id, JET_bitAbortSnapshot);
		return err;
	}
	err = JetOSSnapshotEnd(id, 0);
	if (err)
		return selffreeze_report(msg, len, "JetOSSnapshotEnd", err);
	return 0;
}

/*
 * A system call the shim cannot see, to look at the disk behind its back.
 * The shim may interpose syscall() itself (to dispatch SYS_pread64 to its
 * overlay), so this issues the instruction directly.  Returns -errno on
 * failure, like the kernel.
 */
static inline long raw_syscall4(long nr, long a, long b, long c, long d)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = d;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;

	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
#else
	long ret = syscall(nr, a, b, c, d);

	return ret < 0 ? -errno : ret;
#endif
}

/*
 * Fold one file, as the disk has it, into an FNV-1a checksum: its name,
 * then its contents, read with raw system calls behind the shim's back (a
 * missing file adds only its name).  Guarantee 2 says this must not change
 * between Freeze and Thaw.
 */
static inline uint64_t raw_file_checksum(uint64_t sum, const char *path)
{
	unsigned char buf[65536];
	long fd = raw_syscall4(SYS_openat, AT_FDCWD, (long)path, O_RDONLY, 0), n;

	for (const char *p = path; fd >= 0 && *p; p++)
		sum = (sum ^ (unsigned char)*p) * 0x100000001b3ull;
	while (fd >= 0 && (n = raw_syscall4(SYS_read, fd, (long)buf, sizeof(buf), 0)) > 0)
		for (long k = 0; k < n; k++)
			sum = (sum ^ buf[k]) * 0x100000001b3ull;
	if (fd >= 0)
		raw_syscall4(SYS_close, fd, 0, 0, 0);
	return sum;
}

#endif
