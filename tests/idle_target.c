/*
 * A small database stand-in for the API tests, run under the shim.
 *
 *   idle_target FILE [plain|mmap-ro]
 *
 * Opens FILE for appending (plain), or the LMDB way (mmap-ro: written with
 * pwrite and mapped MAP_SHARED read-only, which a freeze must refuse),
 * prints "ready", then obeys one command per line on stdin:
 *   w TEXT   write "TEXT\n" (appended), then print "ok"
 *   q        exit
 * Commands come through a pipe and answers go out through one, so the test
 * knows exactly when a write has returned.  It exits on EOF or SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void say(const char *what)
{
	if (write(STDOUT_FILENO, what, strlen(what)) < 0)
		exit(1);
}

static int open_mapped(const char *path)
{
	static const char header[] = "header\n";
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || pwrite(fd, header, sizeof(header) - 1, 0) < 0)
		return -1;
	/* Kept for the whole life of the process, as LMDB keeps its map. */
	if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
		return -1;
	return lseek(fd, 0, SEEK_END) < 0 ? -1 : fd;
}

/* One line from stdin with raw reads: stdio must not buffer ahead of us. */
static int read_line(char *buf, size_t len)
{
	size_t n = 0;
	char c;

	while (n + 1 < len) {
		ssize_t r = read(STDIN_FILENO, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "plain";
	char line[4096];
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: idle_target FILE [plain|mmap-ro]\n");
		return 2;
	}
	if (strcmp(mode, "mmap-ro") == 0)
		fd = open_mapped(argv[1]);
	else
		fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0) {
		fprintf(stderr, "idle_target: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	say("ready\n");
	while (read_line(line, sizeof(line)) == 0) {
		if (strncmp(line, "w ", 2) == 0) {
			size_t len = strlen(line);

			line[len] = '\n';
			if (write(fd, line + 2, len - 1) != (ssize_t)(len - 1)) {
				say("err\n");
				continue;
			}
			say("ok\n");
		} else if (strcmp(line, "q") == 0) {
			break;
		}
	}
	return 0;
}
