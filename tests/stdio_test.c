/*
 * stdio_test — streams on held files behave like their descriptors
 * (SPEC "What a freeze guarantees" 3; shim/stdio.c).  Prints TAP.
 *
 * One deterministic workload writes three files through stdio — fwrite,
 * fprintf, fputs, fseek, an "a" stream, an fdopen'ed one, a line-buffered
 * and an unbuffered one, freopen — and checks, at every step, what a reader
 * sees through the same stream, another stream and read(), and what ftell
 * and lseek(fileno()) say, against an in-memory model.  It runs three times:
 *   ref     without the shim (checks the test against glibc and the kernel)
 *   pass    under the shim, never frozen (pass-through)
 *   frozen  under the shim, frozen in the middle: the disk, read with raw
 *           system calls, must not change while frozen; fclose and freopen
 *           work while frozen; fopen("w") of a held file waits (it would
 *           truncate); a forked child's stream flushed by exit() is held
 *           too; fsync(fileno(fp)) in a thread returns once thawed; after
 *           Thaw every file is byte-identical to ref.
 * The program re-executes itself under $JETSNAP_SHIM for the last two.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jetsnap.h"
#include "selffreeze.h"
#include "tap.h"

#define CHILD_ENV "JETSNAP_STDIO_TEST_DIR"
#define MAXSIZE (1 << 20)

struct sfile {
	const char *name;
	char path[1200];
	FILE *fp;
	bool append;		/* the stream writes at the end */
	unsigned char *model;
	size_t size;
	off_t pos;		/* the stream's position in the model */
	unsigned char *image;	/* the disk at Freeze */
	size_t image_size;
};

static struct {
	bool frozen;
	JET_OSSNAPID snap;
	struct sfile a, b, c;
} t;

static void __attribute__((noreturn, format(printf, 1, 2))) bail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (t.frozen && selffreeze_end(t.snap, msg, sizeof(msg)))
		printf("# while bailing out: %s\n", msg);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("Bail out! %s: %s\n", tap_label, msg);
	exit(1);
}

/* The disk behind the shim's back: raw system calls.  -1 if missing. */
static ssize_t raw_read_file(const char *path, unsigned char *buf, size_t cap)
{
	long fd = raw_syscall4(SYS_openat, AT_FDCWD, (long)path, O_RDONLY, 0);
	long n;

	if (fd < 0)
		return -1;
	n = raw_syscall4(SYS_pread64, fd, (long)buf, cap, 0);
	raw_syscall4(SYS_close, fd, 0, 0, 0);
	return n;
}

static ssize_t read_fd_all(int fd, unsigned char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t r;

	while (got < cap && (r = read(fd, buf + got, cap - got)) > 0)
		got += r;
	return got;
}

/* ---- the model -------------------------------------------------------- */

static void model_put(struct sfile *f, const void *data, size_t len)
{
	off_t at = f->append ? (off_t)f->size : f->pos;

	if (at + len > MAXSIZE)
		bail("%s grows past the test's model", f->name);
	if ((size_t)at > f->size)
		memset(f->model + f->size, 0, at - f->size);
	memcpy(f->model + at, data, len);
	if ((size_t)at + len > f->size)
		f->size = at + len;
	f->pos = at + len;
}

static void pattern(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static void s_fwrite(struct sfile *f, size_t len, unsigned seed)
{
	static unsigned char buf[MAXSIZE];
	size_t n;

	pattern(buf, len, seed);
	n = fwrite(buf, 1, len, f->fp);
	if (n != len)
		tap(false, "fwrite(%s, %zu bytes) wrote %zu (%s)", f->name, len, n, strerror(errno));
	model_put(f, buf, len);
}

static void __attribute__((format(printf, 2, 3))) s_fprintf(struct sfile *f, const char *fmt, ...)
{
	char want[512];
	va_list ap;
	int n, w;

	va_start(ap, fmt);
	w = vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	n = vfprintf(f->fp, fmt, ap);
	va_end(ap);
	if (n != w)
		tap(false, "fprintf(%s) returned %d, expected %d (%s)", f->name, n, w, strerror(errno));
	model_put(f, want, w);
}

static void s_fputs(struct sfile *f, const char *s)
{
	if (fputs(s, f->fp) < 0)
		tap(false, "fputs(%s) failed: %s", f->name, strerror(errno));
	model_put(f, s, strlen(s));
}

static void s_seek(struct sfile *f, off_t off, int whence)
{
	off_t want = whence == SEEK_SET ? off : whence == SEEK_END ? (off_t)f->size + off : f->pos + off;

	if (fseeko(f->fp, off, whence) != 0)
		tap(false, "fseeko(%s, %lld, %d): %s", f->name, (long long)off, whence, strerror(errno));
	f->pos = want;
}

/* ---- what readers see ------------------------------------------------- */

static bool same(const unsigned char *got, ssize_t n, const unsigned char *want, size_t size,
		 char *why, size_t len)
{
	if (n != (ssize_t)size) {
		snprintf(why, len, "%zd bytes, expected %zu", n, size);
		return false;
	}
	for (size_t i = 0; i < size; i++)
		if (got[i] != want[i]) {
			snprintf(why, len, "byte %zu is 0x%02x, expected 0x%02x", i, got[i], want[i]);
			return false;
		}
	snprintf(why, len, "%zu bytes", size);
	return true;
}

/*
 * After fflush: ftell and the descriptor's cursor; the file through a new
 * stream, through read() and, when the stream can read, through itself; the
 * disk (unchanged while frozen, the model otherwise).
 */
static void s_check(struct sfile *f, const char *when, bool self_read)
{
	static unsigned char buf[MAXSIZE + 64];
	char why[128];
	struct stat st;
	FILE *other;
	ssize_t n;
	off_t cur;
	int fd;

	tap(fflush(f->fp) == 0, "%s %s: fflush", f->name, when);
	cur = ftello(f->fp);
	tap(cur == f->pos, "%s %s: ftello is %lld, expected %lld", f->name, when, (long long)cur,
	    (long long)f->pos);
	fd = fileno(f->fp);
	cur = fd >= 0 ? lseek(fd, 0, SEEK_CUR) : -1;
	tap(fd >= 0 && cur == f->pos, "%s %s: fileno %d, lseek(fileno, 0, SEEK_CUR) is %lld", f->name,
	    when, fd, (long long)cur);
	if (fd < 0 || fstat(fd, &st) != 0)
		st.st_size = -1;
	tap((size_t)st.st_size == f->size, "%s %s: fstat(fileno) size %lld, expected %zu", f->name,
	    when, (long long)st.st_size, f->size);
	{
		struct stat by_path;

		tap(stat(f->path, &by_path) == 0 && by_path.st_ino == st.st_ino && by_path.st_dev == st.st_dev,
		    "%s %s: fileno is a descriptor of the file itself", f->name, when);
	}

	other = fopen(f->path, "r");
	n = other ? (ssize_t)fread(buf, 1, sizeof(buf), other) : -1;
	tap(other && same(buf, n, f->model, f->size, why, sizeof(why)),
	    "%s %s: another stream reads the file: %s", f->name, when, other ? why : strerror(errno));
	if (other)
		tap(fclose(other) == 0, "%s %s: fclose of the reading stream", f->name, when);

	fd = open(f->path, O_RDONLY);
	n = fd >= 0 ? read_fd_all(fd, buf, sizeof(buf)) : -1;
	tap(fd >= 0 && same(buf, n, f->model, f->size, why, sizeof(why)), "%s %s: read() sees %s",
	    f->name, when, why);
	if (fd >= 0)
		close(fd);

	if (self_read) {
		off_t pos = f->pos;

		s_seek(f, 0, SEEK_SET);
		n = fread(buf, 1, sizeof(buf), f->fp);
		tap(same(buf, n, f->model, f->size, why, sizeof(why)), "%s %s: the stream reads itself: %s",
		    f->name, when, why);
		clearerr(f->fp);
		s_seek(f, pos, SEEK_SET);
	}

	n = raw_read_file(f->path, buf, sizeof(buf));
	if (t.frozen)
		tap(same(buf, n, f->image, f->image_size, why, sizeof(why)),
		    "%s %s: the disk is as it was at Freeze (%s)", f->name, when, why);
	else
		tap(same(buf, n, f->model, f->size, why, sizeof(why)), "%s %s: the disk holds %s",
		    f->name, when, why);
}

static void take_images(void)
{
	struct sfile *fs[] = { &t.a, &t.b, &t.c };

	for (int i = 0; i < 3; i++) {
		struct sfile *f = fs[i];
		ssize_t n;

		free(f->image);
		f->image = malloc(MAXSIZE + 64);
		if (!f->image)
			bail("out of memory");
		n = raw_read_file(f->path, f->image, MAXSIZE + 64);
		f->image_size = n > 0 ? n : 0;
	}
}

/* ---- the workload ------------------------------------------------------- */

static void *fsync_thread(void *arg)
{
	FILE *fp = arg;

	return (void *)(long)fsync(fileno(fp));
}

/* fopen("w") truncates: on a held file it must wait for the thaw, as
 * open(O_TRUNC) does, and not slip through glibc's internal open. */
static _Atomic bool truncated;

static void *truncate_thread(void *arg)
{
	FILE *fp = fopen(arg, "w");
	long ret = fp && fputs("rewritten\n", fp) >= 0 && fclose(fp) == 0 ? 0 : errno ? errno : -1;

	truncated = true;
	return (void *)ret;
}

static void sopen(struct sfile *f, const char *dir, const char *name, const char *mode)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
	f->name = name;
	f->fp = fopen(f->path, mode);
	if (!f->fp)
		bail("fopen(%s, \"%s\"): %s", f->path, mode, strerror(errno));
	if (!f->model && !(f->model = calloc(1, MAXSIZE)))
		bail("out of memory");
	f->size = 0;
	f->pos = 0;
	f->append = mode[0] == 'a';
}

/* Calls whose results do not depend on a freeze: modes and errors. */
static void check_modes(const char *dir)
{
	char path[1200];
	FILE *fp;
	int fd, fl;

	snprintf(path, sizeof(path), "%s/missing", dir);
	errno = 0;
	fp = fopen(path, "r");
	tap(!fp && errno == ENOENT, "fopen of a missing file: NULL, ENOENT (got %p, %s)", (void *)fp,
	    strerror(errno));
	errno = 0;
	fp = fopen(t.a.path, "wx");
	tap(!fp && errno == EEXIST, "fopen(\"wx\") of an existing file: NULL, EEXIST (%s)", strerror(errno));
	if (fp)
		fclose(fp);
	errno = 0;
	fp = fopen(t.a.path, "q");
	tap(!fp && errno == EINVAL, "fopen(\"q\"): NULL, EINVAL (%s)", strerror(errno));
	fp = fopen(t.a.path, "rbe");
	fd = fp ? fileno(fp) : -1;
	fl = fd >= 0 ? fcntl(fd, F_GETFD) : -1;
	tap(fp && fl >= 0 && (fl & FD_CLOEXEC), "fopen(\"rbe\"): close-on-exec descriptor %d", fd);
	if (fp) {
		int ch = fgetc(fp);

		tap(ch == t.a.model[0] && ungetc('Z', fp) == 'Z' && fgetc(fp) == 'Z' &&
		    fgetc(fp) == t.a.model[1], "fgetc, ungetc, fgetc on a read-only stream");
		tap(fputc('x', fp) == EOF && ferror(fp), "fputc on a read-only stream fails");
		tap(fclose(fp) == 0, "fclose of the read-only stream");
		errno = 0;
		tap(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "fclose closed descriptor %d", fd);
	}
	fd = open(t.a.path, O_RDONLY);
	errno = 0;
	fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	tap(!fp && errno == EINVAL, "fdopen(O_RDONLY descriptor, \"w\"): NULL, EINVAL (%s)", strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void workload(const char *dir, bool freeze)
{
	char msg[512];
	pthread_t th, trunc_th;
	void *th_ret = NULL;
	char dpath[1200];
	FILE *dfp;
	int fd, dfd;

	/* Before the freeze: a "w+" stream, an "a" one, an fdopen'ed "r+". */
	sopen(&t.a, dir, "a.dat", "w+");
	s_fwrite(&t.a, 10000, 1);
	s_fprintf(&t.a, "line %d of %s\n", 1, "a.dat");
	s_check(&t.a, "before the freeze", true);
	sopen(&t.b, dir, "b.log", "a");
	s_fputs(&t.b, "first line of b\n");
	s_check(&t.b, "before the freeze", false);
	snprintf(t.c.path, sizeof(t.c.path), "%s/c.dat", dir);
	fd = open(t.c.path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		bail("open(%s): %s", t.c.path, strerror(errno));
	t.c.name = "c.dat";
	t.c.fp = fdopen(fd, "r+");
	if (!t.c.fp)
		bail("fdopen(\"r+\"): %s", strerror(errno));
	if (!t.c.model && !(t.c.model = calloc(1, MAXSIZE)))
		bail("out of memory");
	t.c.size = 0;
	t.c.pos = 0;
	s_fwrite(&t.c, 5000, 3);
	s_check(&t.c, "before the freeze", true);
	tap(fileno(t.c.fp) == fd, "fileno of the fdopen'ed stream is its descriptor (%d, %d)",
	    fileno(t.c.fp), fd);
	check_modes(dir);

	snprintf(dpath, sizeof(dpath), "%s/d.txt", dir);
	dfp = fopen(dpath, "w");
	tap(dfp && fputs("original\n", dfp) >= 0 && fclose(dfp) == 0, "d.txt written");
	/* Open for writing at Freeze: d.txt is one of the held files. */
	dfd = open(dpath, O_WRONLY);
	if (dfd < 0)
		bail("open(%s): %s", dpath, strerror(errno));

	if (freeze) {
		if (selffreeze_begin(&t.snap, t.a.path, msg, sizeof(msg)))
			bail("%s", msg);
		t.frozen = true;
		take_images();
	}
	truncated = false;
	if (pthread_create(&trunc_th, NULL, truncate_thread, dpath) != 0)
		bail("pthread_create: %s", strerror(errno));
	/* Writes of every kind: buffered, bigger than the buffer, in place. */
	for (int i = 0; i < 50; i++)
		s_fprintf(&t.a, "record %04d: %s %x\n", i, "some text", i * 2654435761u);
	s_fwrite(&t.a, 20000, 2);
	s_seek(&t.a, 100, SEEK_SET);
	s_fputs(&t.a, "OVERWRITTEN IN PLACE");
	s_check(&t.a, "after writes", true);
	s_seek(&t.a, 40, SEEK_END);	/* a hole past the end */
	s_fwrite(&t.a, 300, 4);
	s_seek(&t.a, -10, SEEK_CUR);
	s_fputs(&t.a, "0123456789abc");
	s_check(&t.a, "after a hole and SEEK_CUR", true);

	/* "a": at the end whatever the position, also a new "a" stream. */
	s_fputs(&t.b, "second line of b\n");
	s_check(&t.b, "after an append", false);
	{
		struct sfile b2 = t.b;

		b2.fp = fopen(t.b.path, "a");
		tap(b2.fp != NULL, "a second \"a\" stream on b.log");
		if (b2.fp) {
			off_t at = ftello(b2.fp);

			tap(at == (off_t)t.b.size, "a new \"a\" stream starts at the end: %lld, expected %zu",
			    (long long)at, t.b.size);
			s_fprintf(&b2, "third line of b, from another stream %d\n", 3);
			tap(fclose(b2.fp) == 0, "fclose of the second \"a\" stream");
			t.b.size = b2.size;
			t.b.pos = b2.pos;
		}
	}
	s_fputs(&t.b, "fourth line of b\n");
	s_check(&t.b, "after appends through two streams", false);
	/* A forked child's stream, flushed by exit(): held like the parent's. */
	{
		static const char line[] = "fifth line of b, from a child at its exit\n";
		int status;
		pid_t pid;
		off_t pos;

		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			FILE *fp = fopen(t.b.path, "a");

			if (!fp || fputs(line, fp) < 0)
				_exit(1);
			exit(0);
		}
		tap(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0, "a child appends to b.log through a stream it leaves to exit()");
		pos = t.b.pos;	/* another description wrote: ours stays */
		model_put(&t.b, line, strlen(line));
		t.b.pos = pos;
		s_check(&t.b, "after the child's exit", false);
	}

	/* Line buffered: each line is written (held) when it ends. */
	setvbuf(t.c.fp, NULL, _IOLBF, 0);
	s_seek(&t.c, 0, SEEK_END);
	s_fputs(&t.c, "a line for c\n");
	{
		unsigned char buf[64];
		int rfd = open(t.c.path, O_RDONLY);
		ssize_t n = rfd >= 0 ? pread(rfd, buf, 13, 5000) : -1;

		tap(n == 13 && memcmp(buf, "a line for c\n", 13) == 0,
		    "a line-buffered stream writes at the newline without fflush");
		if (rfd >= 0)
			close(rfd);
	}
	/* Unbuffered: reads and writes in place. */
	setvbuf(t.c.fp, NULL, _IONBF, 0);
	s_seek(&t.c, 777, SEEK_SET);
	s_fwrite(&t.c, 1234, 5);
	s_check(&t.c, "unbuffered", true);
	/* fsync(fileno()) of a stream: waits for the thaw if it must. */
	if (pthread_create(&th, NULL, fsync_thread, t.a.fp) != 0)
		bail("pthread_create: %s", strerror(errno));
	usleep(50000);

	/* freopen of a stream onto another file, while frozen. */
	{
		int before = fileno(t.c.fp);
		FILE *fp = freopen(t.a.path, "r", t.c.fp);
		static unsigned char buf[MAXSIZE];
		char why[128];
		size_t n = fp ? fread(buf, 1, sizeof(buf), fp) : 0;

		tap(fp == t.c.fp, "freopen(a.dat, \"r\") of the c.dat stream");
		tap(fp && fileno(fp) == before, "freopen keeps the descriptor number (%d, %d)",
		    fp ? fileno(fp) : -1, before);
		tap(fp && same(buf, n, t.a.model, t.a.size, why, sizeof(why)),
		    "the reopened stream reads a.dat: %s", why);
		tap(fp && fputc('x', fp) == EOF, "the reopened stream is read-only");
		fp = fp ? freopen(t.c.path, "r+", fp) : NULL;
		tap(fp == t.c.fp, "freopen(c.dat, \"r+\") back");
		if (!fp)
			bail("freopen failed: %s", strerror(errno));
		t.c.pos = 0;
		s_fwrite(&t.c, 10, 6);
		s_check(&t.c, "after freopen back", true);
	}

	tap(fclose(t.b.fp) == 0, "fclose %s", freeze ? "while frozen" : "of b.log");
	if (freeze) {
		unsigned char buf[64];
		ssize_t n = raw_read_file(dpath, buf, sizeof(buf));

		tap(!truncated, "while frozen, fopen(\"w\") of a held file waits");
		tap(n == 9 && memcmp(buf, "original\n", 9) == 0,
		    "while frozen, the file fopen(\"w\") waits on is intact (%zd bytes)", n);
		for (struct sfile *f = &t.a; f <= &t.c; f++) {
			unsigned char *buf = malloc(MAXSIZE + 64);
			char why[128];
			ssize_t n = buf ? raw_read_file(f->path, buf, MAXSIZE + 64) : -1;

			tap(buf && same(buf, n, f->image, f->image_size, why, sizeof(why)),
			    "%s just before Thaw: the disk is as it was at Freeze (%s)", f->name, why);
			free(buf);
		}
		t.frozen = false;
		if (selffreeze_end(t.snap, msg, sizeof(msg)))
			bail("%s", msg);
	}
	if (pthread_join(th, &th_ret) != 0)
		bail("pthread_join: %s", strerror(errno));
	tap(th_ret == NULL, "fsync(fileno(stream)) in a thread returned %ld", (long)th_ret);
	if (pthread_join(trunc_th, &th_ret) != 0)
		bail("pthread_join: %s", strerror(errno));
	tap(th_ret == NULL, "fopen(\"w\"), fputs, fclose in a thread (error %ld)", (long)th_ret);
	{
		unsigned char buf[64];
		ssize_t n = raw_read_file(dpath, buf, sizeof(buf));

		tap(n == 10 && memcmp(buf, "rewritten\n", 10) == 0, "d.txt rewritten (%zd bytes)", n);
	}
	close(dfd);
	tap(fsync(fileno(t.a.fp)) == 0, "fsync(fileno(stream)) returns 0 (%s)", strerror(errno));
	s_check(&t.a, "after the thaw", true);
	s_fprintf(&t.a, "after the thaw %d\n", 99);
	tap(fclose(t.a.fp) == 0, "fclose a.dat");
	tap(fclose(t.c.fp) == 0, "fclose c.dat");
}

/* ---- runs ----------------------------------------------------------------- */

static void compare_dirs(const char *ref, const char *dir)
{
	static const char *const names[] = { "a.dat", "b.log", "c.dat" };
	static unsigned char x[MAXSIZE + 64], y[MAXSIZE + 64];

	for (int i = 0; i < 3; i++) {
		char p[1200], q[1200], why[128];
		ssize_t n, m;

		snprintf(p, sizeof(p), "%s/%s", ref, names[i]);
		snprintf(q, sizeof(q), "%s/%s", dir, names[i]);
		n = raw_read_file(p, x, sizeof(x));
		m = raw_read_file(q, y, sizeof(y));
		tap(n > 0 && same(y, m, x, n, why, sizeof(why)),
		    "%s is byte-identical to the run without the shim (%s)", names[i], why);
	}
}

static int run(const char *mode, const char *top)
{
	char dir[1024], ref[1024];

	tap_label = mode;
	snprintf(dir, sizeof(dir), "%s/%s", top, mode);
	snprintf(ref, sizeof(ref), "%s/ref", top);
	if (mkdir(dir, 0700) != 0)
		bail("mkdir %s: %s", dir, strerror(errno));
	workload(dir, strcmp(mode, "frozen") == 0);
	if (strcmp(mode, "ref") != 0)
		compare_dirs(ref, dir);
	return tap_failed;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	remove(path);
	return 0;
}

int main(int argc, char **argv)
{
	char rundir[] = "/tmp/js.XXXXXX", top[] = "/tmp/js-stdio.XXXXXX";
	const char *shim;
	int status, failed;

	if (getenv(CHILD_ENV)) {
		tap_continue();
		failed = run("pass", getenv(CHILD_ENV));
		failed += run("frozen", getenv(CHILD_ENV));
		printf("1..%d\n", tap_n);
		return failed ? 1 : 0;
	}
	shim = tap_shim();
	if (!mkdtemp(rundir) || !mkdtemp(top)) {
		printf("Bail out! cannot create temporary directories: %s\n", strerror(errno));
		return 1;
	}
	failed = run("ref", top);
	status = tap_rerun_under_shim(argv, shim, rundir, CHILD_ENV, top);
	if (!getenv("KEEP_TEST_DIR"))
		nftw(top, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	else
		printf("# keeping %s\n", top);
	nftw(rundir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	(void)argc;
	return failed || !WIFEXITED(status) ? 1 : WEXITSTATUS(status);
}
