/*
 * copy_target — the instance "snapshot --copy-to" copies: it keeps two
 * files open under DIR and writes to them every 20 ms, until SIGTERM:
 *   DIR/db/main.db       sparse: 64 MiB (or more if it was), data written
 *                        only in a few 4 KiB blocks
 *   DIR/db/wal/log.txt   one line appended per round
 * While DIR/pause exists it writes nothing (and says so by creating
 * DIR/paused), so that a test can take a reference copy of a still state.
 *
 * Usage: copy_target DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DB_SIZE (64L << 20)
#define BLOCK 4096

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* One round: a line in the log, then the round number in two blocks of the db. */
static int write_round(int db, int log, unsigned long n)
{
	char block[BLOCK], line[64];
	int len = snprintf(line, sizeof(line), "round %lu\n", n);

	memset(block, 'a' + n % 26, sizeof(block));
	memcpy(block, line, len);
	if (write(log, line, len) != len)
		return -1;
	/* Block 0 and one of 8 blocks spread over the file: the rest stays holes. */
	if (pwrite(db, block, BLOCK, 0) != BLOCK ||
	    pwrite(db, block, BLOCK, (n % 8) * (DB_SIZE / 8) + BLOCK) != BLOCK)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	char db_path[4096], log_path[4096], pause_path[4096], paused_path[4096];
	unsigned long n = 0;
	struct stat st;
	int db, log;

	if (argc != 2) {
		fprintf(stderr, "usage: copy_target DIR\n");
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	path_in(db_path, sizeof(db_path), argv[1], "db/main.db");
	path_in(log_path, sizeof(log_path), argv[1], "db/wal/log.txt");
	path_in(pause_path, sizeof(pause_path), argv[1], "pause");
	path_in(paused_path, sizeof(paused_path), argv[1], "paused");
	db = open(db_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	/* A bigger main.db made beforehand (scripts/bench/copy-to) is kept. */
	if (db < 0 || log < 0 || fstat(db, &st) ||
	    (st.st_size < DB_SIZE && ftruncate(db, DB_SIZE))) {
		fprintf(stderr, "copy_target: cannot create the files in %s/db: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	while (!stop) {
		if (access(pause_path, F_OK) == 0) {
			if (access(paused_path, F_OK))
				close(open(paused_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
		} else {
			unlink(paused_path);
			if (write_round(db, log, n++)) {
				perror("copy_target: write");
				return 1;
			}
		}
		nanosleep(&pause, NULL);
	}
	return 0;
}
