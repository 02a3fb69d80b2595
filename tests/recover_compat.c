/*
 * recover_compat — write a hold journal as a dead instance would have left
 * it, in a given journal version, for tests/recover_compat.sh to replay
 * with `jetsnap recover` (SPEC "No data lost": a journal survives an
 * upgrade of jetsnap).
 *
 *   recover_compat DIR TARGET VERSION SUM
 *
 * DIR/<pid>.inst gets version VERSION in its header and two records (the
 * file TARGET, then "replayed by version VERSION\n" written at offset 0),
 * checksummed the version-1 way (SUM = 1) or the version-2 way (SUM = 2).
 * The pid is that of a child that has exited: the instance is dead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "holdlog.h"
#include "instance.h"

static void die(const char *what)
{
	fprintf(stderr, "recover_compat: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Append record (hdr, data) at *at of buf, checksummed the `sum` way. */
static void put(uint8_t *buf, uint64_t *at, struct js_rec hdr, const void *data, int sum)
{
	struct js_rec *rec = (struct js_rec *)(buf + *at);

	hdr.magic = JS_REC_MAGIC;
	*rec = hdr;
	memcpy(rec + 1, data, hdr.len);
	rec->checksum = sum == 1 ? js_rec_checksum_v1(rec, rec + 1) : js_rec_checksum(rec, rec + 1);
	*at += sizeof hdr + ((hdr.len + 7) & ~7ull);
}

int main(int argc, char **argv)
{
	char path[4096], data[64];
	uint64_t at = JS_HEADER_SIZE, size = JS_HEADER_SIZE + 4096;
	uint8_t *buf = calloc(1, size);
	struct js_shared *sh = (struct js_shared *)buf;
	pid_t dead;
	int fd, sum;

	if (argc != 5 || !buf) {
		fprintf(stderr, "usage: recover_compat DIR TARGET VERSION SUM\n");
		return 2;
	}
	sum = atoi(argv[4]);
	dead = fork();
	if (dead == 0)
		_exit(0);
	if (dead < 0 || waitpid(dead, NULL, 0) != dead)
		die("fork");
	sh->magic = JS_INSTANCE_MAGIC;
	sh->version = strtoull(argv[3], NULL, 10);
	sh->root_pid = dead;
	snprintf(data, sizeof data, "replayed by version %s\n", argv[3]);
	put(buf, &at, (struct js_rec){ .op = JS_REC_FILE, .seq = 1, .file = 0,
				       .len = strlen(argv[2]) + 1 }, argv[2], sum);
	put(buf, &at, (struct js_rec){ .op = JS_REC_WRITE, .seq = 2, .file = 0, .off = 0,
				       .len = strlen(data) }, data, sum);
	snprintf(path, sizeof path, "%s/%d.inst", argv[1], (int)dead);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, buf, size) != (ssize_t)size || close(fd) < 0)
		die(path);
	puts(path);
	return 0;
}
