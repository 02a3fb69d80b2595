/*
 * uring_refused — SPEC "Refusal": writes submitted through an io_uring
 * reach the kernel without a call the shim sees, so a process that has a
 * ring beside a held file cannot be frozen consistently.  Freeze must fail
 * with JET_errOSSnapshotNotAllowed and a reason naming the ring, change
 * nothing, and succeed once the ring is closed.
 *
 *   uring_refused FILE     (under the shim, FILE in JETSNAP_PATHS)
 *
 * Exit 0: as SPEC says; 1: not; 77: this kernel gives no io_uring.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "selffreeze.h"

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "uring_refused: FAIL: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

int main(int argc, char **argv)
{
	struct io_uring_params params;
	JET_OSSNAPID snap;
	char msg[1024];
	JET_ERR err;
	int fd, ring;

	if (argc != 2) {
		fprintf(stderr, "usage: uring_refused FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "before\n", 7) != 7)
		die("cannot write the file", strerror(errno));
	memset(&params, 0, sizeof params);
	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0) {
		printf("uring_refused: skipped: io_uring_setup: %s (kernel.io_uring_disabled?)\n",
		       strerror(errno));
		return 77;
	}
	err = selffreeze_begin(&snap, NULL, msg, sizeof msg);
	if (err != JET_errOSSnapshotNotAllowed)
		die("Freeze with an io_uring open did not fail with JET_errOSSnapshotNotAllowed",
		    err ? msg : "it succeeded");
	if (!strstr(msg, "io_uring") || !strstr(msg, "bypass"))
		die("the refusal does not say it is the io_uring", msg);
	printf("uring_refused: refused as it should be: %s\n", msg);
	/* Nothing changed: the process is not frozen, its writes go through. */
	if (write(fd, "after\n", 6) != 6 || raw_syscall4(SYS_fdatasync, fd, 0, 0, 0) != 0)
		die("a write after the refusal failed", strerror(errno));
	close(ring);
	if (selffreeze_begin(&snap, argv[1], msg, sizeof msg))
		die("Freeze without the ring failed", msg);
	if (selffreeze_end(snap, msg, sizeof msg))
		die("Thaw failed", msg);
	printf("uring_refused: with the ring closed the freeze succeeded\n");
	return 0;
}
