/*
 * tests/lmdb_writer.c — an LMDB writer for tests/lmdb_refused.sh.
 *
 *   lmdb_writer DIR --ack FILE [--writemap]
 *
 * Commits one new key per write transaction, for ever: key "k%010u" = value
 * "v%u" for n = 1, 2, …  After each commit returns it appends "n\n" to the
 * ack file, so a test can count commits from outside while it runs.  By
 * default LMDB reads data.mdb through a read-only MAP_SHARED mapping and
 * writes it with pwrite/writev; --writemap (MDB_WRITEMAP) writes it through a
 * writable shared mapping instead.
 *
 * On SIGTERM or SIGINT it finishes the transaction in hand, closes the
 * environment and prints "committed N max_commit_us M": M is the longest time
 * one transaction took from begin to ack, so the test can tell whether the
 * writer was ever stalled.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "lmdb_writer: %s: %s\n", what, mdb_strerror(rc));
	exit(1);
}

static unsigned long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

static void usage(void)
{
	fprintf(stderr, "usage: lmdb_writer DIR --ack FILE [--writemap]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *ackpath = NULL;
	unsigned int flags = 0;
	unsigned long long worst = 0;
	unsigned int n = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;
	int ack, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ack") && i + 1 < argc)
			ackpath = argv[++i];
		else if (!strcmp(argv[i], "--writemap"))
			flags |= MDB_WRITEMAP;
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else
			usage();
	}
	if (!dir || !ackpath)
		usage();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	ack = open(ackpath, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (ack < 0) {
		fprintf(stderr, "lmdb_writer: cannot open %s: %s\n", ackpath, strerror(errno));
		return 1;
	}
	if ((rc = mdb_env_create(&env)))
		die("mdb_env_create", rc);
	if ((rc = mdb_env_set_mapsize(env, 256UL << 20)))
		die("mdb_env_set_mapsize", rc);
	if ((rc = mdb_env_open(env, dir, flags, 0644)))
		die(dir, rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) ||
	    (rc = mdb_txn_commit(txn)))
		die("opening the main database", rc);

	while (!stop) {
		char kbuf[32], vbuf[32], line[16];
		unsigned long long t0 = now_us(), dt;
		MDB_val key, val;
		int len;

		key.mv_size = snprintf(kbuf, sizeof kbuf, "k%010u", n + 1);
		key.mv_data = kbuf;
		val.mv_size = snprintf(vbuf, sizeof vbuf, "v%u", n + 1);
		val.mv_data = vbuf;
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)))
			die("mdb_txn_begin", rc);
		if ((rc = mdb_put(txn, dbi, &key, &val, MDB_NOOVERWRITE)))
			die("mdb_put", rc);
		if ((rc = mdb_txn_commit(txn)))
			die("mdb_txn_commit", rc);
		n++;
		len = snprintf(line, sizeof line, "%u\n", n);
		if (write(ack, line, len) != len) {
			fprintf(stderr, "lmdb_writer: writing the ack file: %s\n", strerror(errno));
			return 1;
		}
		dt = now_us() - t0;
		if (dt > worst)
			worst = dt;
	}
	mdb_env_close(env);
	close(ack);
	printf("committed %u max_commit_us %llu\n", n, worst);
	return 0;
}
