/*
 * tripwire_target — the program tests/strace_tripwire.sh runs under strace
 * with the shim preloaded.
 *
 *   tripwire_target HELD MANIFEST
 *
 * It writes a "before" record to HELD (not synced), freezes itself, writes distinctive
 * records to HELD through every write entry point (and through stdio),
 * thaws, writes an "after" record, and checks HELD byte for byte.  Markers
 * go to /dev/null: a device is never held, so strace shows them exactly
 * when they are made and they split the trace into before / frozen /
 * draining / after.  MANIFEST receives, in order, "TAG OFFSET LENGTH" for
 * every record made while frozen, for the script to check the drain with.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "jetsnap.h"
#include "selffreeze.h"

#define FILE_MAX 32768
#define MAX_RECORDS 16

static struct {
	int fd, append_fd, marker_fd;
	FILE *stream;
	unsigned char model[FILE_MAX];
	size_t size;
	struct { char tag[8]; long off; size_t len; } rec[MAX_RECORDS];
	int nrec;
	JET_OSSNAPID snap;
	int frozen;
} t;

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	/* Thaw first: stderr is a file the shim holds while frozen. */
	if (t.frozen && selffreeze_end(t.snap, msg, sizeof(msg)))
		fprintf(stderr, "tripwire_target: while failing: %s\n", msg);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "tripwire_target: %s\n", msg);
	exit(1);
}

static void marker(const char *what)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "JS-MARK %s\n", what);

	if (write(t.marker_fd, line, n) != n)
		die("cannot write the %s marker to /dev/null: %s", what, strerror(errno));
}

/*
 * The bytes of record number i: its tag, then a letter pattern, all
 * printable so that strace shows them as they are.
 */
static void record_bytes(int i, char *buf, size_t len)
{
	char tag[16];
	size_t taglen = snprintf(tag, sizeof(tag), "JSREC%02d:", i);

	for (size_t k = 0; k < len; k++)
		buf[k] = k < taglen ? tag[k] : (char)('a' + (i * 7 + k) % 26);
}

/* Record that record i was written at off, in the model and the manifest. */
static void note(int i, long off, const char *buf, size_t len)
{
	if (off + len > FILE_MAX)
		die("record %d does not fit the model", i);
	if ((size_t)off > t.size)
		memset(t.model + t.size, 0, off - t.size);
	memcpy(t.model + off, buf, len);
	if (off + len > t.size)
		t.size = off + len;
	if (i == 0 || i == 99)
		return;
	if (t.nrec == MAX_RECORDS)
		die("too many records");
	snprintf(t.rec[t.nrec].tag, sizeof(t.rec[0].tag), "JSREC%02d", i);
	t.rec[t.nrec].off = off;
	t.rec[t.nrec].len = len;
	t.nrec++;
}

/* The manifest line "BARRIER": the application synced the file here. */
static void note_barrier(void)
{
	if (t.nrec == MAX_RECORDS)
		die("too many records");
	snprintf(t.rec[t.nrec].tag, sizeof(t.rec[0].tag), "BARRIER");
	t.rec[t.nrec].off = -1;
	t.rec[t.nrec].len = 0;
	t.nrec++;
}

static void check(const char *call, ssize_t got, size_t want)
{
	if (got != (ssize_t)want)
		die("%s returned %zd (%s), expected %zu", call, got,
		    got < 0 ? strerror(errno) : "short", want);
}

static void seek(int fd, off_t off)
{
	if (lseek(fd, off, SEEK_SET) != off)
		die("lseek to %lld: %s", (long long)off, strerror(errno));
}

/* Records 1-11: one per write entry point, some overlapping earlier ones,
 * with an fdatasync between records 6 and 7. */
static void write_frozen_records(void)
{
	char a[128], b[128], c[128];
	struct iovec iov[3];

	record_bytes(1, a, 100);
	check("pwrite", pwrite(t.fd, a, 100, 4096), 100);
	note(1, 4096, a, 100);

	record_bytes(2, a, 50);
	check("pwrite64", pwrite64(t.fd, a, 50, 8192), 50);
	note(2, 8192, a, 50);

	record_bytes(3, a, 80);
	seek(t.fd, 1000);
	check("write", write(t.fd, a, 80), 80);
	note(3, 1000, a, 80);

	record_bytes(4, a, 120);
	seek(t.fd, 2000);
	iov[0] = (struct iovec){ a, 40 };
	iov[1] = (struct iovec){ a + 40, 40 };
	iov[2] = (struct iovec){ a + 80, 40 };
	check("writev", writev(t.fd, iov, 3), 120);
	note(4, 2000, a, 120);

	record_bytes(5, a, 120);
	iov[0] = (struct iovec){ a, 60 };
	iov[1] = (struct iovec){ a + 60, 60 };
	check("pwritev", pwritev(t.fd, iov, 2, 12288), 120);
	note(5, 12288, a, 120);

	/* Overlaps record 1: the drain must leave 6's bytes over 1's. */
	record_bytes(6, b, 40);
	iov[0] = (struct iovec){ b, 40 };
	check("pwritev2", pwritev2(t.fd, iov, 1, 4120, 0), 40);
	note(6, 4120, b, 40);

	/*
	 * A barrier: the drain may merge and reorder the writes made between
	 * two fsyncs, never across one.  Record 11 overlaps record 3 from the
	 * other side of it.
	 */
	if (fdatasync(t.fd) != 0)
		die("fdatasync while frozen: %s", strerror(errno));
	note_barrier();

	/*
	 * glibc's stdio writes with its internal __write, not the exported
	 * one: the shim makes streams on held files go through its wrappers.
	 * TRIPWIRE_STDIO=1 (the test sets it) writes this record through the
	 * stream; without it, through pwrite.
	 */
	record_bytes(7, a, 90);
	if (getenv("TRIPWIRE_STDIO")) {
		if (fseek(t.stream, 16384, SEEK_SET) != 0)
			die("fseek: %s", strerror(errno));
		if (fwrite(a, 1, 90, t.stream) != 90 || fflush(t.stream) != 0)
			die("fwrite/fflush of record 7: %s", strerror(errno));
	} else {
		check("pwrite (record 7)", pwrite(t.fd, a, 90, 16384), 90);
	}
	note(7, 16384, a, 90);

	record_bytes(8, a, 30);
	check("pwrite (extending)", pwrite(t.fd, a, 30, 20000), 30);
	note(8, 20000, a, 30);

	/* Offset -1: at and past the descriptor's cursor. */
	record_bytes(9, a, 50);
	seek(t.fd, 3000);
	iov[0] = (struct iovec){ a, 25 };
	iov[1] = (struct iovec){ a + 25, 25 };
	check("pwritev64v2 at the cursor", pwritev64v2(t.fd, iov, 2, -1, 0), 50);
	note(9, 3000, a, 50);

	/* O_APPEND lands at the held end of file (after record 8). */
	record_bytes(10, a, 70);
	check("write on the O_APPEND descriptor", write(t.append_fd, a, 70), 70);
	note(10, 20030, a, 70);

	/* Overlaps record 3. */
	record_bytes(11, c, 33);
	iov[0] = (struct iovec){ c, 33 };
	check("pwritev64", pwritev64(t.fd, iov, 1, 1010), 33);
	note(11, 1010, c, 33);
}

static void verify_file(void)
{
	unsigned char buf[FILE_MAX + 1];
	ssize_t n = pread(t.fd, buf, sizeof(buf), 0);

	if (n != (ssize_t)t.size)
		die("the file is %zd bytes after the run, expected %zu", n, t.size);
	for (size_t i = 0; i < t.size; i++)
		if (buf[i] != t.model[i])
			die("byte %zu of the file is 0x%02x after the run, expected 0x%02x",
			    i, buf[i], t.model[i]);
}

static void write_manifest(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("cannot create %s: %s", path, strerror(errno));
	for (int i = 0; i < t.nrec; i++)
		fprintf(f, "%s %ld %zu\n", t.rec[i].tag, t.rec[i].off, t.rec[i].len);
	if (fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
	char buf[64], msg[512];

	if (argc != 3 || argv[1][0] != '/') {
		fprintf(stderr, "usage: tripwire_target /ABSOLUTE/HELD MANIFEST\n");
		return 2;
	}
	t.fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	t.append_fd = open(argv[1], O_WRONLY | O_APPEND);
	t.stream = fopen(argv[1], "r+");
	t.marker_fd = open("/dev/null", O_WRONLY);
	if (t.fd < 0 || t.append_fd < 0 || !t.stream || t.marker_fd < 0)
		die("cannot open %s or /dev/null: %s", argv[1], strerror(errno));

	/* Not synced: Freeze must flush it (guarantee 1), and the script checks. */
	record_bytes(0, buf, 64);
	check("pwrite (before)", pwrite(t.fd, buf, 64, 0), 64);
	note(0, 0, buf, 64);

	if (selffreeze_begin(&t.snap, argv[1], msg, sizeof(msg)))
		die("%s", msg);
	t.frozen = 1;
	marker("frozen");
	write_frozen_records();
	marker("thawing");
	t.frozen = 0;
	if (selffreeze_end(t.snap, msg, sizeof(msg)))
		die("%s", msg);
	marker("thawed");

	record_bytes(99, buf, 64);
	check("pwrite (after)", pwrite(t.fd, buf, 64, 24576), 64);
	note(99, 24576, buf, 64);
	if (fsync(t.fd) != 0)
		die("fsync: %s", strerror(errno));
	verify_file();
	write_manifest(argv[2]);
	return 0;
}
