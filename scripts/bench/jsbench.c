/*
 * jsbench — the benchmark programs behind scripts/bench/run, one binary
 * with a subcommand per figure.  Built by scripts/bench/run with gcc into a
 * temporary directory (not part of the Autotools build).  Every time is
 * CLOCK_MONOTONIC, so the timestamps of several processes line up.
 *
 *   wloop FILE THREADS N           pass-through 4 KiB pwrite loop
 *   rloop FILE pread|read N        pass-through 4 KiB read loop
 *   held FILE N freeze|nofreeze    N random 4 KiB pwrites, held or not
 *   extents FILE NEXT NREADS freeze|nofreeze
 *                                  4 KiB preads of a file with NEXT held extents
 *   writers FILE K                 K threads writing 4 KiB until SIGTERM
 *                                  (JSBENCH_PAUSE_US: pause after each write)
 *   ctl PID ROUNDS GAP_MS HOLD_MS  freeze/thaw instance PID from outside
 *   fsctl DIR DELAY_MS HOLD_MS     FIFREEZE/FITHAW the file system of DIR
 *   lat FILE SECONDS PERIOD_US OUT one paced 4 KiB writer, latency per write
 *   drain FILE MB                  hold MB of random 4 KiB writes, then Thaw
 *
 * freeze/drain modes must run under the shim: the program freezes itself
 * through the control library, as a backup tool would from outside.
 * Output is "key value" lines for the script to pick up.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "jetsnap.h"
#include "journal_cache.h"

#define BLK 4096
#define LOOP_BLOCKS 256		/* pass-through loops cycle over 1 MiB: page cache only */

/* JSBENCH_IO=0 makes the pass-through loops issue 0-byte calls: the
 * cheapest the kernel gets, so the wrapper's own cost in ns stands out. */
static size_t io_size = BLK;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("jsbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int open_file(const char *path, int flags)
{
	int fd = open(path, flags | O_CREAT, 0644);

	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	return fd;
}

static void fill(int fd, size_t blocks)
{
	static char buf[BLK];

	memset(buf, 'x', sizeof buf);
	for (size_t i = 0; i < blocks; i++)
		if (pwrite(fd, buf, BLK, i * BLK) != BLK)
			die("fill: %s", strerror(errno));
}

/* xorshift: the same random offsets in the shim and the baseline run. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* A random permutation of 0..n-1: every block written once. */
static uint32_t *permutation(uint32_t n)
{
	uint32_t *p = malloc(n * sizeof *p);
	uint64_t x = 88172645463325252ull;

	if (!p)
		die("out of memory");
	for (uint32_t i = 0; i < n; i++)
		p[i] = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = rnd(&x) % (i + 1), t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

/* ---- self-freeze through the control library -------------------------- */

static void check(JET_ERR err, const char *call)
{
	const char *reason;

	if (!err)
		return;
	reason = JetsnapLastReason();
	die("%s failed: %s (%d)%s%s", call, JetsnapErrorName(err) ? JetsnapErrorName(err) : "?",
	    (int)err, reason && *reason ? ": " : "", reason ? reason : "");
}

static JET_OSSNAPID session_for(pid_t pid)
{
	JET_OSSNAPID id;

	check(JetSetSystemParameter(NULL, 0, JET_paramOSSnapshotTimeout, 120000, NULL),
	      "JetSetSystemParameter");
	check(JetOSSnapshotPrepare(&id, JET_bitExplicitPrepare | JET_bitContinueAfterThaw),
	      "JetOSSnapshotPrepare");
	check(JetOSSnapshotPrepareInstance(id, (JET_INSTANCE)pid, 0), "JetOSSnapshotPrepareInstance");
	return id;
}

static void freeze(JET_OSSNAPID id)
{
	unsigned long n;
	JET_INSTANCE_INFO *info;

	check(JetOSSnapshotFreeze(id, &n, &info, 0), "JetOSSnapshotFreeze");
	JetFreeBuffer((char *)info);
}

static void thaw(JET_OSSNAPID id)
{
	check(JetOSSnapshotThaw(id, 0), "JetOSSnapshotThaw");
}

static bool want_freeze(const char *mode)
{
	if (!strcmp(mode, "freeze"))
		return true;
	if (strcmp(mode, "nofreeze"))
		die("mode is freeze or nofreeze, not %s", mode);
	return false;
}

/* ---- pass-through loops (callgrind toggles on these functions) -------- */

struct wjob {
	int fd;
	long n;
	pthread_barrier_t *go;
};

/*
 * The fastest batch of BATCH calls, per call.  Other work on the shared
 * cores only ever adds time, so the minimum of many short batches is the
 * figure least disturbed by it; the loops report it beside the mean.
 */
#define BATCH 256
static _Atomic uint64_t best_batch = UINT64_MAX;

static void batch_done(uint64_t *t0, long i)
{
	uint64_t t = now_ns(), d = t - *t0, cur = atomic_load(&best_batch);

	(void)i;
	while (d < cur && !atomic_compare_exchange_weak(&best_batch, &cur, d))
		;
	*t0 = t;
}

__attribute__((noinline)) void pwrite_loop(int fd, long n)
{
	static __thread char buf[BLK];
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (pwrite(fd, buf, io_size, (i % LOOP_BLOCKS) * BLK) != (ssize_t)io_size)
			die("pwrite: %s", strerror(errno));
		if (i % BATCH == BATCH - 1)
			batch_done(&t0, i);
	}
}

static void *wjob_run(void *arg)
{
	struct wjob *j = arg;

	pthread_barrier_wait(j->go);
	pwrite_loop(j->fd, j->n);
	return NULL;
}

static int cmd_wloop(char **av)
{
	int threads = atoi(av[1]);
	long n = atol(av[2]);
	pthread_t tid[16];
	struct wjob job[16];
	pthread_barrier_t go;
	uint64_t t0;

	if (threads < 1 || threads > 16)
		die("1..16 threads");
	pthread_barrier_init(&go, NULL, threads + 1);
	for (int t = 0; t < threads; t++) {
		char path[4096];

		snprintf(path, sizeof path, "%s.%d", av[0], t);
		job[t] = (struct wjob){ open_file(path, O_RDWR), n, &go };
		fill(job[t].fd, LOOP_BLOCKS);
		pthread_create(&tid[t], NULL, wjob_run, &job[t]);
	}
	pthread_barrier_wait(&go);
	t0 = now_ns();
	for (int t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	printf("ns_per_op %.1f\nbest_ns_per_op %.1f\n", (double)(now_ns() - t0) / n,
	       (double)best_batch / BATCH);
	return 0;
}

__attribute__((noinline)) void read_loop(int fd, bool positional, long n)
{
	static char buf[BLK];
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		ssize_t r;

		if (positional) {
			r = pread(fd, buf, io_size, (i % LOOP_BLOCKS) * BLK);
		} else {
			if (i % LOOP_BLOCKS == 0)
				lseek(fd, 0, SEEK_SET);
			r = read(fd, buf, io_size);
		}
		if (r != (ssize_t)io_size)
			die("read: %s", r < 0 ? strerror(errno) : "short read");
		if (i % BATCH == BATCH - 1)
			batch_done(&t0, i);
	}
}

static int cmd_rloop(char **av)
{
	int fd = open_file(av[0], O_RDWR);
	long n = atol(av[2]);
	uint64_t t0;

	fill(fd, LOOP_BLOCKS);
	read_loop(fd, !strcmp(av[1], "pread"), LOOP_BLOCKS);	/* warm */
	best_batch = UINT64_MAX;
	t0 = now_ns();
	read_loop(fd, !strcmp(av[1], "pread"), n);
	printf("ns_per_op %.1f\nbest_ns_per_op %.1f\n", (double)(now_ns() - t0) / n,
	       (double)best_batch / BATCH);
	return 0;
}

/* ---- held writes, and reads through many held extents ------------------ */

static int cmd_held(char **av)
{
	long n = atol(av[1]);
	bool frozen = want_freeze(av[2]);
	int fd = open(av[0], O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint32_t *perm = permutation(n);
	static char buf[BLK];
	JET_OSSNAPID id = 0;
	uint64_t t0, t1;

	if (fd < 0)
		die("cannot open %s: %s", av[0], strerror(errno));
	memset(buf, 'h', sizeof buf);
	if (frozen) {
		id = session_for(getpid());
		freeze(id);
	}
	t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (pwrite(fd, buf, BLK, (off_t)perm[i] * BLK) != BLK)
			die("pwrite: %s", strerror(errno));
	t1 = now_ns();
	printf("ns_per_op %.1f\n", (double)(t1 - t0) / n);
	if (frozen) {
		thaw(id);
		JetOSSnapshotEnd(id, 0);
	}
	return 0;
}

static int cmd_extents(char **av)
{
	long next = atol(av[1]), nreads = atol(av[2]);
	bool frozen = want_freeze(av[3]);
	int fd = open(av[0], O_RDWR | O_CREAT | O_TRUNC, 0644);
	static char buf[BLK];
	uint64_t x = 2463534242ull, t0, t1;
	JET_OSSNAPID id = 0;

	if (fd < 0 || ftruncate(fd, (off_t)next * BLK) < 0)
		die("cannot make %s: %s", av[0], strerror(errno));
	if (frozen) {
		id = session_for(getpid());
		freeze(id);
		/* One 64-byte extent per 4 KiB page: NEXT extents that never merge,
		 * and every 4 KiB read below overlaps exactly one. */
		memset(buf, 'e', 64);
		for (long i = 0; i < next; i++)
			if (pwrite(fd, buf, 64, i * BLK + (i % 63) * 64) != 64)
				die("pwrite: %s", strerror(errno));
	}
	for (long i = 0; i < 1000; i++)		/* warm */
		if (pread(fd, buf, BLK, (off_t)(rnd(&x) % next) * BLK) != BLK)
			die("pread: %s", strerror(errno));
	t0 = now_ns();
	for (long i = 0; i < nreads; i++)
		if (pread(fd, buf, BLK, (off_t)(rnd(&x) % next) * BLK) != BLK)
			die("pread: %s", strerror(errno));
	t1 = now_ns();
	printf("ns_per_op %.1f\n", (double)(t1 - t0) / nreads);
	if (frozen) {
		JETSNAP_INSTANCE_STATUS *st = NULL;
		unsigned long c = 0;

		if (JetsnapListInstances(&c, &st) == 0)
			for (unsigned long i = 0; i < c; i++)
				if (st[i].hInstanceId == (JET_INSTANCE)getpid())
					printf("held_writes %llu\n", (unsigned long long)st[i].cHeldWrites);
		JetFreeBuffer((char *)st);
		thaw(id);
		JetOSSnapshotEnd(id, 0);
	}
	return 0;
}

/* ---- busy writers, and freezing them from outside ------------------------ */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* JSBENCH_PAUSE_US: sleep that long after each write (0: flat out). */
static long writer_pause_us;

static void *busy_writer(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static __thread char buf[BLK];

	for (long i = 0; !stop; i++) {
		if (pwrite(fd, buf, BLK, (i % LOOP_BLOCKS) * BLK) != BLK)
			die("pwrite: %s", strerror(errno));
		if (writer_pause_us) {
			struct timespec ts = { 0, writer_pause_us * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static int cmd_writers(char **av)
{
	int k = atoi(av[1]);
	pthread_t tid[64];

	if (k < 1 || k > 64)
		die("1..64 writers");
	if (getenv("JSBENCH_PAUSE_US"))
		writer_pause_us = atol(getenv("JSBENCH_PAUSE_US")) % 1000000;
	signal(SIGTERM, on_term);
	for (int t = 0; t < k; t++) {
		char path[4096];

		snprintf(path, sizeof path, "%s.%d", av[0], t);
		pthread_create(&tid[t], NULL, busy_writer, (void *)(intptr_t)open_file(path, O_RDWR));
	}
	printf("ready\n");
	fflush(stdout);
	for (int t = 0; t < k; t++)
		pthread_join(tid[t], NULL);
	return 0;
}

/* A session per round: ESE allows one Freeze per Prepare. */
static int cmd_ctl(char **av)
{
	pid_t pid = atoi(av[0]);
	int rounds = atoi(av[1]);
	long gap = atol(av[2]), hold = atol(av[3]);

	for (int r = 0; r < rounds; r++) {
		JET_OSSNAPID id;
		uint64_t t0, t1, t2, t3;

		sleep_ms(gap);
		id = session_for(pid);
		t0 = now_ns();
		freeze(id);
		t1 = now_ns();
		sleep_ms(hold);
		t2 = now_ns();
		thaw(id);
		t3 = now_ns();
		JetOSSnapshotEnd(id, 0);
		printf("round %d freeze_call %llu frozen %llu thaw_call %llu thawed %llu\n", r,
		       (unsigned long long)t0, (unsigned long long)t1, (unsigned long long)t2,
		       (unsigned long long)t3);
		fflush(stdout);
	}
	return 0;
}

static int cmd_fsctl(char **av)
{
	int fd = open(av[0], O_RDONLY | O_DIRECTORY);
	uint64_t t0, t1, t2, t3;

	if (fd < 0)
		die("cannot open %s: %s", av[0], strerror(errno));
	sleep_ms(atol(av[1]));
	t0 = now_ns();
	if (ioctl(fd, FIFREEZE, 0) < 0)
		die("FIFREEZE %s: %s", av[0], strerror(errno));
	t1 = now_ns();
	sleep_ms(atol(av[2]));
	t2 = now_ns();
	if (ioctl(fd, FITHAW, 0) < 0)
		die("FITHAW %s: %s", av[0], strerror(errno));
	t3 = now_ns();
	printf("round 0 freeze_call %llu frozen %llu thaw_call %llu thawed %llu\n",
	       (unsigned long long)t0, (unsigned long long)t1, (unsigned long long)t2,
	       (unsigned long long)t3);
	return 0;
}

/* ---- write latency over time ------------------------------------------- */

static int cmd_lat(char **av)
{
	int fd = open_file(av[0], O_RDWR);
	double secs = atof(av[1]);
	long period = atol(av[2]) * 1000;
	uint64_t start = now_ns(), end = start + (uint64_t)(secs * 1e9), next = start;
	size_t cap = (size_t)(secs * 1e9 / period) + 16, n = 0;
	uint64_t *t = malloc(cap * sizeof *t), *l = malloc(cap * sizeof *l);
	static char buf[BLK];
	FILE *out;

	if (!t || !l)
		die("out of memory");
	fill(fd, 1024);
	while (n < cap) {
		uint64_t a = now_ns(), b;
		struct timespec ts;

		if (a >= end)
			break;
		if (pwrite(fd, buf, BLK, (n % 1024) * BLK) != BLK)
			die("pwrite: %s", strerror(errno));
		b = now_ns();
		t[n] = a;
		l[n++] = b - a;
		/* Paced on an absolute clock; slots missed by a stalled write
		 * are skipped, not made up in a burst. */
		while (next <= b)
			next += period;
		ts.tv_sec = next / 1000000000u;
		ts.tv_nsec = next % 1000000000u;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	out = fopen(av[3], "w");
	if (!out)
		die("cannot write %s: %s", av[3], strerror(errno));
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%llu %llu\n", (unsigned long long)t[i], (unsigned long long)l[i]);
	fclose(out);
	return 0;
}

/* ---- drain, and memory per held byte ------------------------------------- */

struct mem {
	long vmrss, rssanon, rssfile, rssshmem;	/* kB */
};

static struct mem mem_now(void)
{
	struct mem m = { 0 };
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		die("cannot read /proc/self/status");
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "VmRSS: %ld", &m.vmrss);
		sscanf(line, "RssAnon: %ld", &m.rssanon);
		sscanf(line, "RssFile: %ld", &m.rssfile);
		sscanf(line, "RssShmem: %ld", &m.rssshmem);
	}
	fclose(f);
	return m;
}

static int cmd_drain(char **av)
{
	uint32_t blocks = (uint32_t)(atol(av[1]) * (1024 * 1024 / BLK));
	uint32_t *perm = permutation(blocks);
	int fd = open(av[0], O_RDWR | O_CREAT | O_TRUNC, 0644);
	static char buf[BLK];
	JET_OSSNAPID id = session_for(getpid());
	struct mem m0, m1;
	uint64_t t0, t1, t2, t3;
	long j0, j1;

	if (fd < 0)
		die("cannot open %s: %s", av[0], strerror(errno));
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)i;
	freeze(id);
	m0 = mem_now();
	j0 = journal_cached_kib(getenv("JETSNAP_STATE_DIR"));
	t0 = now_ns();
	for (uint32_t i = 0; i < blocks; i++)
		if (pwrite(fd, buf, BLK, (off_t)perm[i] * BLK) != BLK)
			die("pwrite: %s", strerror(errno));
	t1 = now_ns();
	m1 = mem_now();
	j1 = journal_cached_kib(getenv("JETSNAP_STATE_DIR"));
	thaw(id);
	t2 = now_ns();
	if (fdatasync(fd) < 0)
		die("fdatasync: %s", strerror(errno));
	t3 = now_ns();
	JetOSSnapshotEnd(id, 0);
	printf("held_bytes %llu\nhold_ns %llu\ndrain_ns %llu\nsync_ns %llu\n",
	       (unsigned long long)blocks * BLK, (unsigned long long)(t1 - t0),
	       (unsigned long long)(t2 - t1), (unsigned long long)(t3 - t2));
	printf("d_vmrss_kb %ld\nd_rssanon_kb %ld\nd_rssfile_kb %ld\nd_rssshmem_kb %ld\n",
	       m1.vmrss - m0.vmrss, m1.rssanon - m0.rssanon, m1.rssfile - m0.rssfile,
	       m1.rssshmem - m0.rssshmem);
	printf("d_journal_cached_kb %ld\n", j1 - j0);
	return 0;
}

static const struct {
	const char *name;
	int nargs;
	int (*run)(char **av);
} cmds[] = {
	{ "wloop", 3, cmd_wloop },	{ "rloop", 3, cmd_rloop },
	{ "held", 3, cmd_held },	{ "extents", 4, cmd_extents },
	{ "writers", 2, cmd_writers },	{ "ctl", 4, cmd_ctl },
	{ "fsctl", 3, cmd_fsctl },	{ "lat", 4, cmd_lat },
	{ "drain", 2, cmd_drain },
};

static void *idle_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t idle;

	/* JSBENCH_IDLE_THREAD=1: one more thread that does nothing, like the
	 * shim's control thread, so a baseline can be multi-threaded too. */
	if (getenv("JSBENCH_IDLE_THREAD"))
		pthread_create(&idle, NULL, idle_thread, NULL);
	if (getenv("JSBENCH_IO"))
		io_size = strtoul(getenv("JSBENCH_IO"), NULL, 10) > BLK ? BLK : strtoul(getenv("JSBENCH_IO"), NULL, 10);
	for (size_t i = 0; argc > 1 && i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			if (argc - 2 != cmds[i].nargs)
				die("%s takes %d arguments (see the comment at the top of jsbench.c)",
				    cmds[i].name, cmds[i].nargs);
			return cmds[i].run(argv + 2);
		}
	die("usage: jsbench wloop|rloop|held|extents|writers|ctl|fsctl|lat|drain ARGS…");
}
