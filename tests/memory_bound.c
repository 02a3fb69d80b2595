/*
 * memory_bound — held memory stays bounded (SPEC "No data lost": past
 * JETSNAP_MAX_PENDING the journal's pages go to disk and out of memory;
 * only past JETSNAP_MAX_JOURNAL do writers wait).
 *
 *   memory_bound rss DIR CAP_MIB      hold 4 x CAP of writes; resident
 *                                     memory (the process's and the journal's
 *                                     page cache) must grow by at most
 *                                     CAP + 16 MiB
 *   memory_bound journal DIR CAP_MIB  a writer holding 2 x CAP must wait at
 *                                     CAP until the thaw, then finish
 *
 * Run under the shim with JETSNAP_MAX_PENDING / JETSNAP_MAX_JOURNAL set to
 * CAP MiB.  In both, every byte is checked: read back while frozen (the
 * dropped pages come back) and on disk after the thaw.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jetsnap.h"
#include "journal_cache.h"
#include "selffreeze.h"

#define CHUNK (64 << 10)

static int fd;
static _Atomic long written;	/* chunks written */
static long chunks;

static void fill(unsigned char *buf, long i)
{
	for (int k = 0; k < CHUNK; k += 8) {
		uint64_t v = (uint64_t)i * 0x9e3779b97f4a7c15ull + k;

		memcpy(buf + k, &v, 8);
	}
}

static void die(const char *fmt, const char *what)
{
	fprintf(stderr, "memory_bound: FAIL: ");
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	exit(1);
}

/* Memory in KiB: this process's (anonymous, file-backed and shared) plus
 * the journal's page cache. */
static long rss_kib(void)
{
	char line[256];
	long total = journal_cached_kib(getenv("JETSNAP_STATE_DIR")), v;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f || total < 0)
		die("%s", "cannot read /proc/self/status or this test's JETSNAP_STATE_DIR");
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "RssAnon: %ld", &v) == 1 || sscanf(line, "RssFile: %ld", &v) == 1 ||
		    sscanf(line, "RssShmem: %ld", &v) == 1)
			total += v;
	fclose(f);
	return total;
}

static void *writer(void *arg)
{
	unsigned char *buf = malloc(CHUNK);

	(void)arg;
	for (long i = 0; i < chunks; i++) {
		fill(buf, i);
		if (pwrite(fd, buf, CHUNK, (off_t)i * CHUNK) != CHUNK)
			die("pwrite: %s", strerror(errno));
		atomic_store(&written, i + 1);
	}
	free(buf);
	return NULL;
}

static void check_file(const char *when)
{
	unsigned char *want = malloc(CHUNK), *got = malloc(CHUNK);

	for (long i = 0; i < chunks; i++) {
		fill(want, i);
		if (pread(fd, got, CHUNK, (off_t)i * CHUNK) != CHUNK || memcmp(got, want, CHUNK))
			die("a chunk read back wrong %s", when);
	}
	free(want);
	free(got);
}

int main(int argc, char **argv)
{
	char path[4096], msg[512];
	JET_OSSNAPID snap;
	pthread_t t;
	long cap, base, peak = 0;
	bool journal;

	if (argc != 4)
		die("%s", "usage: memory_bound rss|journal DIR CAP_MIB");
	journal = strcmp(argv[1], "journal") == 0;
	cap = atol(argv[3]) << 20;
	chunks = (journal ? 2 : 4) * cap / CHUNK;
	snprintf(path, sizeof path, "%s/held.dat", argv[2]);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("cannot create the file: %s", strerror(errno));
	if (selffreeze_begin(&snap, NULL, msg, sizeof msg))
		die("freeze: %s", msg);
	base = rss_kib();
	if (pthread_create(&t, NULL, writer, NULL))
		die("%s", "pthread_create");
	if (journal) {
		/* The writer must stop at the cap and stay there while frozen. */
		long stuck = 0, last = -1;

		for (int i = 0; i < 200 && stuck < 10; i++) {
			long w;

			nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
			w = atomic_load(&written);
			stuck = w == last ? stuck + 1 : 0;
			last = w;
		}
		if (atomic_load(&written) >= chunks)
			die("%s", "the writer held twice JETSNAP_MAX_JOURNAL without waiting");
		if (atomic_load(&written) * CHUNK > cap + CHUNK || stuck < 10)
			die("%s", "the writer did not stop at JETSNAP_MAX_JOURNAL");
		printf("memory_bound: journal: the writer waits at %ld MiB of a %ld MiB cap\n",
		       atomic_load(&written) * CHUNK >> 20, cap >> 20);
	} else {
		while (atomic_load(&written) < chunks) {
			long r = rss_kib();

			peak = r > peak ? r : peak;
			nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
		}
		pthread_join(t, NULL);
		peak = rss_kib() > peak ? rss_kib() : peak;
		printf("memory_bound: rss: held %ld MiB with JETSNAP_MAX_PENDING=%ld MiB; resident grew by %ld MiB\n",
		       chunks * CHUNK >> 20, cap >> 20, (peak - base) >> 10);
		if ((peak - base) * 1024 > cap + (16 << 20))
			die("%s", "resident memory (process and journal page cache) grew past JETSNAP_MAX_PENDING + 16 MiB");
		check_file("while frozen");
	}
	if (selffreeze_end(snap, msg, sizeof msg))
		die("thaw: %s", msg);
	if (journal)
		pthread_join(t, NULL);
	check_file("after the thaw");
	printf("memory_bound: %s: all %ld MiB correct after the thaw\n", argv[1], chunks * CHUNK >> 20);
	return 0;
}
