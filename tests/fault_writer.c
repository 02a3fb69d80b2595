/*
 * fault_writer FILE ACKS — append 4 KiB blocks to FILE, block i filled with
 * the byte 'a' + i % 26, fsync after each, and after each fsync returns
 * append "i\n" to ACKS (outside the held files).  Runs until killed; exits
 * 1 if a write or fsync fails (a frozen instance must never fail them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char block[4096], line[32];
	int fd, ack;

	if (argc != 3) {
		fputs("usage: fault_writer FILE ACKS\n", stderr);
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CREAT | O_APPEND, 0644);
	ack = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0 || ack < 0) {
		fprintf(stderr, "fault_writer: cannot open %s or %s: %s\n", argv[1], argv[2], strerror(errno));
		return 1;
	}
	for (long i = 0;; i++) {
		int n = snprintf(line, sizeof line, "%ld\n", i);

		memset(block, 'a' + i % 26, sizeof block);
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block || fsync(fd) != 0) {
			fprintf(stderr, "fault_writer: block %ld: %s\n", i, strerror(errno));
			return 1;
		}
		if (write(ack, line, n) != n)
			return 1;
		nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
	}
}
