/*
 * cli_target — one process for the CLI tests to freeze: it appends a line
 * to FILE every 50 ms (so a freeze has writes to hold, and a test can see
 * them stop and resume) until SIGTERM or SIGINT.
 *
 * Usage: cli_target FILE
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	char line[64];
	unsigned long n = 0;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: cli_target FILE\n");
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	while (!stop) {
		int len = snprintf(line, sizeof(line), "line %lu\n", n++);

		if (write(fd, line, len) != len) {
			perror("write");
			return 1;
		}
		nanosleep(&pause, NULL);
	}
	close(fd);
	return 0;
}
