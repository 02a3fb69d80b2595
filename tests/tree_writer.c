/*
 * tree_writer — one writer process of tests/tree_join.sh.
 *
 *   tree_writer NAME DATAFILE CTLDIR [INTERVAL_MS]
 *
 * Appends the line "NAME NNNNNN\n" (NNNNNN = 0, 1, 2, ...) to DATAFILE, which
 * must exist (creating a file in a held directory waits for the thaw, by
 * design), every INTERVAL_MS (default 20), until CTLDIR/stop or
 * CTLDIR/NAME.stop exists.  After each line its own view must show every
 * byte it wrote, held or not: fstat's size is exactly what it appended and
 * the line reads back.  CTLDIR (outside JETSNAP_PATHS, so never held) gets
 * NAME.pid, NAME.count (lines written so far, rewritten in place), then
 * NAME.done ("COUNT\n") on success or NAME.err (one line) and exit 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_S 60	/* a writer the test forgot to stop stops itself */

static const char *name, *ctl;

static void put_file(const char *suffix, const char *text)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.%s", ctl, name, suffix);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror(path);
		close(fd);
	}
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	fprintf(stderr, "tree_writer %s: %s", name, msg);
	put_file("err", msg);
	exit(3);
}

static int stop_requested(void)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/stop", ctl);
	if (access(path, F_OK) == 0)
		return 1;
	snprintf(path, sizeof(path), "%s/%s.stop", ctl, name);
	return access(path, F_OK) == 0;
}

int main(int argc, char **argv)
{
	long interval = argc > 4 ? strtol(argv[4], NULL, 10) : 20;
	char line[128], back[128], text[64], path[4096];
	off_t written = 0, base;
	time_t start = time(NULL);
	struct stat st;
	int fd, count_fd;
	long n;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: tree_writer NAME DATAFILE CTLDIR [INTERVAL_MS]\n");
		return 2;
	}
	name = argv[1];
	ctl = argv[3];
	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	put_file("pid", text);
	snprintf(path, sizeof(path), "%s/%s.count", ctl, name);
	count_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	fd = open(argv[2], O_RDWR | O_APPEND);
	if (fd < 0 || count_fd < 0)
		die("cannot open %s or %s: %s", argv[2], path, strerror(errno));
	if (fstat(fd, &st) != 0)
		die("fstat %s: %s", argv[2], strerror(errno));
	base = st.st_size;
	for (n = 0; !stop_requested(); n++) {
		int len = snprintf(line, sizeof(line), "%s %06ld\n", name, n);

		if (time(NULL) - start > LIMIT_S)
			die("not stopped after %d s", LIMIT_S);
		if (write(fd, line, len) != len)
			die("line %ld: write: %s", n, strerror(errno));
		written += len;
		if (fstat(fd, &st) != 0 || st.st_size != base + written)
			die("line %ld: fstat says %lld bytes, it wrote %lld after %lld", n,
			    (long long)st.st_size, (long long)written, (long long)base);
		if (pread(fd, back, len, base + written - len) != len || memcmp(back, line, len))
			die("line %ld: does not read back at %lld", n, (long long)(base + written - len));
		snprintf(text, sizeof(text), "%08ld\n", n + 1);
		if (pwrite(count_fd, text, 9, 0) != 9)
			die("cannot update %s: %s", path, strerror(errno));
		nanosleep(&(struct timespec){ interval / 1000, interval % 1000 * 1000000 }, NULL);
	}
	if (close(fd) != 0)
		die("close %s: %s", argv[2], strerror(errno));
	snprintf(text, sizeof(text), "%ld\n", n);
	put_file("done", text);
	return 0;
}
