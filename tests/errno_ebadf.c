/*
 * errno_ebadf — a held or faked call keeps its error semantics, and a held
 * success leaves errno alone (libeatmydata's tst-invalidfd, extended).
 * Every check runs twice: with the process running (which checks the test
 * against the kernel) and frozen.  Prints TAP.
 *
 * The program re-executes itself under the shim ($JETSNAP_SHIM) with a
 * runtime directory of its own, and cleans up after the child.
 */
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jetsnap.h"
#include "selffreeze.h"
#include "tap.h"

#define CHILD_ENV "JETSNAP_ERRNO_EBADF_DIR"
#define SENTINEL EDOM		/* an errno no call here sets on success */

static struct {
	int fd;			/* O_RDWR, held while frozen */
	int ro_fd;		/* O_RDONLY on the same file */
	int ap_fd;		/* O_WRONLY|O_APPEND on the same file */
	int bad_fd;		/* a closed descriptor number */
	int pipe_fd[2];
	char path[4096];
} t;

/* A call that must fail with want, whatever the freeze state. */
static void expect_error(const char *call, long ret, int want)
{
	int err = errno;

	tap(ret == -1 && err == want, "%s is -1 %s (got %ld, %s)", call, strerrorname_np(want),
	    ret, ret == -1 ? strerrorname_np(err) : "no error");
}

/* A call that must succeed with want and leave errno as it found it. */
static void expect_success(const char *call, long ret, long want)
{
	int err = errno;

	tap(ret == want && err == SENTINEL, "%s returns %ld and leaves errno alone (got %ld, errno %s)",
	    call, want, ret, strerrorname_np(err));
}

/*
 * A descriptor number that is closed now.  Not the lowest free one: the
 * shim's control thread may take that one for a connection at any time.
 */
static int closed_fd(void)
{
	int fd = 999;

	while (fd > 3 && (fcntl(fd, F_GETFD) != -1 || errno != EBADF))
		fd--;
	return fd;
}

static void run_checks(void)
{
	char buf[64] = "jetsnap errno check";
	struct iovec iov = { buf, 8 };
	struct stat st;

	t.bad_fd = closed_fd();

	errno = 0;
	expect_error("fsync(closed fd)", fsync(t.bad_fd), EBADF);
	errno = 0;
	expect_error("fdatasync(closed fd)", fdatasync(t.bad_fd), EBADF);
	errno = 0;
	expect_error("write(closed fd)", write(t.bad_fd, buf, 4), EBADF);
	errno = 0;
	expect_error("pwrite(closed fd)", pwrite(t.bad_fd, buf, 4, 0), EBADF);
	errno = 0;
	expect_error("writev(closed fd)", writev(t.bad_fd, &iov, 1), EBADF);
	errno = 0;
	expect_error("lseek(closed fd)", lseek(t.bad_fd, 0, SEEK_END), EBADF);
	errno = 0;
	expect_error("fstat(closed fd)", fstat(t.bad_fd, &st), EBADF);
	errno = 0;
	expect_error("fsync(pipe)", fsync(t.pipe_fd[1]), EINVAL);
	/* A write through a read-only descriptor of a held file is no write. */
	errno = 0;
	expect_error("write(O_RDONLY fd of the file)", write(t.ro_fd, buf, 4), EBADF);
	errno = 0;
	expect_error("pwrite(O_RDONLY fd of the file)", pwrite(t.ro_fd, buf, 4, 0), EBADF);
	errno = 0;
	expect_error("read(O_WRONLY fd of the file)", read(t.ap_fd, buf, 4), EBADF);
	errno = 0;
	expect_error("pwrite(fd, ..., offset -1)", pwrite(t.fd, buf, 4, -1), EINVAL);

	errno = SENTINEL;
	expect_success("pwrite(fd, 8 bytes at 100)", pwrite(t.fd, buf, 8, 100), 8);
	errno = SENTINEL;
	expect_success("lseek(fd, 0, SEEK_SET)", lseek(t.fd, 0, SEEK_SET), 0);
	errno = SENTINEL;
	expect_success("write(fd, 8 bytes) at offset 0", write(t.fd, buf, 8), 8);
	errno = SENTINEL;
	expect_success("pwritev(fd, 8 bytes at 200)", pwritev(t.fd, &iov, 1, 200), 8);
	errno = SENTINEL;
	expect_success("write(O_APPEND fd, 8 bytes)", write(t.ap_fd, buf, 8), 8);
	errno = SENTINEL;
	expect_success("pread(fd, 8 bytes at 100)", pread(t.fd, buf + 32, 8, 100), 8);
	errno = SENTINEL;
	expect_success("lseek(fd, 0, SEEK_CUR)", lseek(t.fd, 0, SEEK_CUR), 8);
	errno = SENTINEL;
	expect_success("fstat(fd)", fstat(t.fd, &st), 0);
}

/* The file must hold exactly the writes that succeeded, in both phases. */
static void check_contents(const char *when)
{
	char got[512], want[512] = { 0 };
	const char *data = "jetsnap ";
	ssize_t n = pread(t.fd, got, sizeof(got), 0);

	/* Two rounds of: 8 bytes at 100, at offset 0 through the cursor, at
	 * 200, then 8 appended at the end (208, then 216). */
	memcpy(want, data, 8);
	memcpy(want + 100, data, 8);
	memcpy(want + 200, data, 8);
	memcpy(want + 208, data, 8);
	memcpy(want + 216, data, 8);
	tap(n == 224 && memcmp(got, want, 224) == 0, "%s, the file holds exactly the successful writes "
	    "(%zd bytes, 224 expected)", when, n);
}

static int child(const char *dir)
{
	char msg[512];
	JET_OSSNAPID snap;

	snprintf(t.path, sizeof(t.path), "%s/errno.dat", dir);
	t.fd = open(t.path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	t.ro_fd = open(t.path, O_RDONLY);
	t.ap_fd = open(t.path, O_WRONLY | O_APPEND);
	if (t.fd < 0 || t.ro_fd < 0 || t.ap_fd < 0 || pipe(t.pipe_fd) != 0) {
		printf("Bail out! cannot set up %s: %s\n", t.path, strerror(errno));
		return 1;
	}
	printf("1..%d\n", 2 * 20 + 2);
	tap_label = "running";
	run_checks();
	if (selffreeze_begin(&snap, t.path, msg, sizeof(msg))) {
		printf("Bail out! %s\n", msg);
		return 1;
	}
	tap_label = "frozen";
	run_checks();
	if (selffreeze_end(snap, msg, sizeof(msg))) {
		printf("Bail out! %s\n", msg);
		return 1;
	}
	tap_label = "thawed";
	check_contents("after Thaw");
	tap(lseek(t.fd, 0, SEEK_CUR) == 8, "after Thaw, the cursor is where the frozen writes left it");
	unlink(t.path);
	return tap_failed ? 1 : 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* Remove a directory tree (the shim and the library leave state in theirs). */
static void remove_dir(const char *path)
{
	nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	char rundir[] = "/tmp/js.XXXXXX", dir[] = "/tmp/js-errno.XXXXXX";
	const char *shim;
	int status;

	if (getenv(CHILD_ENV))
		return child(getenv(CHILD_ENV));
	shim = tap_shim();
	if (!mkdtemp(rundir) || !mkdtemp(dir)) {
		printf("Bail out! cannot create temporary directories: %s\n", strerror(errno));
		return 1;
	}
	status = tap_rerun_under_shim(argv, shim, rundir, CHILD_ENV, dir);
	remove_dir(dir);
	remove_dir(rundir);
	(void)argc;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
