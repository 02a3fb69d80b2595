/*
 * tree_stress — threads write while another thread forks writers, across
 * freezes of the whole process tree (issue 4, item 7; tests/tree_stress.sh).
 *
 *   tree_stress [--freezes N] [--threads N] [--ops N] [--children N] [--seed N] DIR
 *
 * Every byte written is a function of (seed, writer, op), so the files end
 * the same whatever the interleaving:
 *   - writer thread t, op i: the writer threads of tests/stress.h (shared
 *     with tests/mt_writer): a pwrite into its own stripe of "shared" plus
 *     the header every writer writes with the same bytes (read back: it must
 *     be there), a pwritev of a 100-byte block of "blocks" it owns, or an
 *     append to its own "append-T" (and once an ftruncate: a size change,
 *     held or waiting while frozen);
 *   - forked child k (children are forked one after the other by a fork
 *     thread, at most MAX_INFLIGHT alive at once, paced by the writers'
 *     progress so that they run through the whole run): pwrites into its own
 *     region of "shared" and pwritev into its own blocks of "blocks" (read
 *     back), appends to its own "child-K" (fstat must show its own held
 *     size), reads the region of a child that has already exited (a held
 *     write of another process must be visible), and _exits; every fifth
 *     child also shrinks its file once with ftruncate (held, or waiting for
 *     the thaw in a process that is not the one that thaws).
 * After reaping child k the parent reads its region and file back: what a
 * child wrote, held or not, must be visible to the parent at once.
 *
 * A control thread freezes the program's own instance (the root pid is ours
 * when run directly under the shim) N times for FREEZE_MS (longer, up to
 * MAX_FREEZE_MS, until the freeze has seen what follows), after shares of
 * the writers' ops; each freeze must see child writes made entirely inside
 * it and a child that exited (and was reaped) inside it, and the files read
 * with raw system calls must not change between Freeze and Thaw.
 * tests/tree_stress.sh compares the files with a run without the shim.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "selffreeze.h"
#include "stress.h"

#define MAX_CHILDREN 256
#define MAX_INFLIGHT 4
#define CHILD_BLOCKS 8
#define REGION 4096		/* of "shared", per child */
#define CHILD_RECS 24
#define FREEZE_MS 250
#define MAX_FREEZE_MS 5000

/*
 * What children share with the parent: a MAP_SHARED anonymous page, so a
 * child's report survives its _exit and it sees the parent's freeze flags.
 */
static struct tree_shared {
	struct stress_shared s;		/* freeze flags, first failure */
	_Atomic long child_recs_frozen[STRESS_MAX_FREEZES];	/* child records made inside freeze k */
	_Atomic int children_frozen[STRESS_MAX_FREEZES];	/* children that wrote only inside freeze k */
	_Atomic int exited_frozen[STRESS_MAX_FREEZES];	/* children reaped inside freeze k */
	_Atomic int reaped[MAX_CHILDREN];	/* verified by the parent after exit */
} *tsh;

/* ---- the forked children ----------------------------------------------- */

/* Child k's writer number in stress_hash(): distinct from every thread's. */
static int child_writer(int k)
{
	return STRESS_MAX_THREADS + k;
}

static off_t child_region(int k)
{
	return STRESS_HEADER + (off_t)STRESS_MAX_THREADS * STRESS_STRIPE + (off_t)k * REGION;
}

static int child_record(int k, int j, char *rec, size_t cap)
{
	return snprintf(rec, cap, "child %d rec %d value %08x\n", k, j,
			stress_hash(child_writer(k), j, 4));
}

/* Which child records shrink the file: every fifth child, once, mid-way. */
static bool child_truncates_after(int k, int j)
{
	return k % 5 == 0 && j == CHILD_RECS / 2;
}

/* The bytes child k leaves in its own file, and in its region of "shared". */
static size_t child_file_image(int k, char *out, size_t cap)
{
	size_t size = 0;

	for (int j = 0; j < CHILD_RECS; j++) {
		size += child_record(k, j, out + size, cap - size);
		if (child_truncates_after(k, j))
			size -= 7;
	}
	return size;
}

static void child_region_image(int k, unsigned char *out)
{
	unsigned char buf[REGION];

	memset(out, 0, REGION);
	for (int j = 0; j < CHILD_RECS; j++) {
		size_t len = 1 + stress_hash(child_writer(k), j, 1) % 256;
		off_t off = stress_hash(child_writer(k), j, 2) % (REGION - len);

		stress_fill(buf, len, child_writer(k), j);
		memcpy(out + off, buf, len);
	}
}

/*
 * A region of "shared" is all zeros until its child writes, and exactly its
 * image after: compare only where the image has data, since the zeros of
 * a region never written are holes.
 */
static bool region_matches(int fd, int k, const char *who, const char *reader)
{
	unsigned char want[REGION], got[REGION];
	ssize_t n;

	child_region_image(k, want);
	n = pread(fd, got, REGION, child_region(k));
	if (n < 0) {
		set_failure("%s: pread of child %d's region: %s", who, k, strerror(errno));
		return false;
	}
	memset(got + n, 0, REGION - n);
	for (int b = 0; b < REGION; b++)
		if (got[b] != want[b]) {
			set_failure("%s: %s sees byte %d of child %d's region of shared as %#x, the "
				    "child wrote %#x (frozen: %d)", who, reader, b, k, got[b], want[b],
				    atomic_load(&tsh->s.frozen));
			return false;
		}
	return true;
}

/* Child k's appends, one record each, checking fstat after each. */
static bool child_appends(int k, int j, int fd, off_t *size, const char *who)
{
	char rec[96];
	int len = child_record(k, j, rec, sizeof(rec));
	struct stat st;

	if (write(fd, rec, len) != len) {
		set_failure("%s: append to child-%d: %s", who, k, strerror(errno));
		return false;
	}
	*size += len;
	if (child_truncates_after(k, j)) {
		*size -= 7;
		if (ftruncate(fd, *size) != 0) {
			set_failure("%s: ftruncate of child-%d: %s", who, k, strerror(errno));
			return false;
		}
	}
	if (fstat(fd, &st) != 0 || st.st_size != *size) {
		set_failure("%s: fstat of child-%d says %lld bytes, it wrote %lld (frozen: %d)", who,
			    k, (long long)st.st_size, (long long)*size, atomic_load(&tsh->s.frozen));
		return false;
	}
	return true;
}

/* The body of forked child k; verify_k: an exited child to read, or -1. */
static int child_main(int k, int verify_k)
{
	char path[4096], who[64];
	unsigned char buf[256];
	off_t size = 0;
	int before = stress_freeze_now();
	int fd, w = child_writer(k);

	snprintf(who, sizeof(who), "child %d (pid %d)", k, (int)getpid());
	if (verify_k >= 0 && !region_matches(stress.shared_fd, verify_k, who, "a later child"))
		return 1;
	stress_path(path, sizeof(path), "child-%d", k);
	/* No O_CREAT: creating a file in a held directory waits, by design. */
	fd = open(path, O_RDWR | O_APPEND);
	if (fd < 0) {
		set_failure("%s: cannot open %s: %s", who, path, strerror(errno));
		return 1;
	}
	for (int j = 0; j < CHILD_RECS; j++) {
		size_t len = 1 + stress_hash(w, j, 1) % 256;
		off_t off = child_region(k) + stress_hash(w, j, 2) % (REGION - len);

		stress_fill(buf, len, w, j);
		if (!write_and_verify(stress.shared_fd, who, "shared", buf, len, off) ||
		    !write_and_verify(stress.shared_fd, who, "shared (header)",
				      (const unsigned char *)stress_header, STRESS_HEADER, 0) ||
		    !pwritev_block(w, j, (off_t)STRESS_BLOCKS_PER_THREAD * stress.nthreads +
				   (off_t)k * CHILD_BLOCKS + j % CHILD_BLOCKS, who) ||
		    !child_appends(k, j, fd, &size, who))
			return 1;
		if (stress_still_in(before))
			atomic_fetch_add(&tsh->child_recs_frozen[before], 1);
		if (j % 4 == 3)
			sleep_ms(1);
	}
	if (close(fd) != 0) {
		/* Is it really closed, or did the shim refuse it (its own fd)? */
		set_failure("%s: close of its fd %d on child-%d: %s (the kernel says the fd is %s)",
			    who, fd, k, strerror(errno),
			    raw_syscall4(SYS_fcntl, fd, F_GETFD, 0, 0) < 0 ? "closed" : "open");
		return 1;
	}
	if (stress_still_in(before))
		atomic_fetch_add(&tsh->children_frozen[before], 1);
	return 0;
}

/* After child k exited: the parent must see everything it wrote. */
static void verify_reaped(int k, int status, int freeze_at_reap)
{
	char path[4096], want[CHILD_RECS * 96], got[CHILD_RECS * 96 + 1], who[64];
	size_t want_len = child_file_image(k, want, sizeof(want));
	ssize_t n;
	int fd;

	snprintf(who, sizeof(who), "parent after child %d exited", k);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!failed())
			set_failure("child %d ended with status %#x and no report", k, status);
		return;
	}
	if (!region_matches(stress.shared_fd, k, who, "the parent"))
		return;
	stress_path(path, sizeof(path), "child-%d", k);
	fd = open(path, O_RDONLY);
	n = fd < 0 ? -1 : pread(fd, got, sizeof(got), 0);
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)want_len || memcmp(got, want, want_len) != 0) {
		set_failure("%s: child-%d reads as %zd bytes%s, the child wrote %zu (frozen: %d)", who,
			    k, n, n == (ssize_t)want_len ? " that differ" : "", want_len,
			    atomic_load(&tsh->s.frozen));
		return;
	}
	atomic_store(&tsh->reaped[k], 1);
	/* Reaped with the same freeze still on: it exited while frozen. */
	if (stress_still_in(freeze_at_reap))
		atomic_fetch_add(&tsh->exited_frozen[freeze_at_reap], 1);
}

struct inflight {
	pid_t pid;
	int k;
};

/* Reap what has exited; with block, wait for one.  Returns how many are left. */
static int reap(struct inflight *fl, int n, bool block)
{
	for (int i = 0; i < n;) {
		int status, freeze = stress_freeze_now();
		pid_t r = waitpid(fl[i].pid, &status, block ? 0 : WNOHANG);

		if (r == fl[i].pid) {
			verify_reaped(fl[i].k, status, freeze);
			fl[i] = fl[--n];
			block = false;
			continue;
		}
		if (r < 0 && errno != EINTR) {
			set_failure("waitpid of child %d: %s", fl[i].k, strerror(errno));
			fl[i] = fl[--n];
			continue;
		}
		i++;
	}
	return n;
}

/* The newest child already reaped and verified, for the next one to read. */
static int last_reaped(int below)
{
	for (int k = below - 1; k >= 0; k--)
		if (atomic_load(&tsh->reaped[k]))
			return k;
	return -1;
}

static void *forker(void *arg)
{
	long total = (long)stress.nthreads * stress.nops;
	struct inflight fl[MAX_INFLIGHT];
	int n = 0;

	(void)arg;
	for (int k = 0; k < stress.nchildren && !failed(); k++) {
		/* Child k starts after k/(children+1) of the writers' ops. */
		long threshold = total * k / (stress.nchildren + 1);
		pid_t pid;
		int verify_k;

		while (atomic_load(&stress.ops_done) < threshold && !atomic_load(&stress.writers_done) &&
		       !failed()) {
			n = reap(fl, n, false);
			sleep_ms(1);
		}
		while (n == MAX_INFLIGHT && !failed()) {
			n = reap(fl, n, false);
			if (n == MAX_INFLIGHT)
				sleep_ms(1);
		}
		verify_k = last_reaped(k);
		pid = fork();
		if (pid < 0) {
			set_failure("fork of child %d: %s", k, strerror(errno));
			break;
		}
		if (pid == 0)
			_exit(child_main(k, verify_k));
		fl[n++] = (struct inflight){ pid, k };
	}
	while (n > 0)
		n = reap(fl, n, true);
	return NULL;
}

static bool freeze_tested(int k)
{
	return atomic_load(&stress.ops_frozen[k]) && atomic_load(&tsh->child_recs_frozen[k]) &&
	       atomic_load(&tsh->children_frozen[k]) && atomic_load(&tsh->exited_frozen[k]);
}

static void parse_args(int argc, char **argv)
{
	int i;

	stress.prog = "tree_stress";
	stress.nthreads = 4;
	stress.nops = 6000;
	stress.nchildren = 48;
	stress.seed = 1;
	stress.freeze_lead = 2;
	stress.freeze_ms = FREEZE_MS;
	stress.freeze_tested = freeze_tested;
	stress.max_freeze_ms = MAX_FREEZE_MS;
	for (i = 1; i < argc - 1; i += 2) {
		if (stress_option(argv[i], argv[i + 1]))
			continue;
		if (strcmp(argv[i], "--children") == 0)
			stress.nchildren = stress_int_arg(argv[i], argv[i + 1], 1, MAX_CHILDREN);
		else if (strcmp(argv[i], "--seed") == 0)
			stress.seed = (uint32_t)stress_int_arg(argv[i], argv[i + 1], 0, 0xfff);
		else
			break;
	}
	if (i != argc - 1 || argv[i][0] != '/') {
		fprintf(stderr, "usage: tree_stress [--freezes N] [--threads N] [--ops N] "
			"[--children N] [--seed N] /ABSOLUTE/DIR\n");
		exit(2);
	}
	stress.dir = argv[i];
}

/* Each freeze must have tested something in each kind of process. */
static int check_counts(void)
{
	int rc = 0;

	for (int k = 0; k < stress.nfreezes; k++) {
		const char *what = NULL;

		if (atomic_load(&stress.ops_frozen[k]) == 0)
			what = "no thread op was made entirely inside it";
		else if (atomic_load(&tsh->child_recs_frozen[k]) == 0)
			what = "no child record was written inside it";
		else if (atomic_load(&tsh->children_frozen[k]) == 0)
			what = "no child made all its writes inside it";
		else if (atomic_load(&tsh->exited_frozen[k]) == 0)
			what = "no child exited (and was reaped) inside it";
		if (what) {
			fprintf(stderr, "tree_stress: FAIL: freeze %d: %s (seed %u)\n", k + 1, what,
				stress.seed);
			rc = 1;
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	pthread_t fork_thread;
	int i;

	parse_args(argc, argv);
	tsh = mmap(NULL, sizeof(*tsh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tsh == MAP_FAILED) {
		fprintf(stderr, "tree_stress: cannot map shared memory: %s\n", strerror(errno));
		return 1;
	}
	stress.sh = &tsh->s;
	atomic_store(&tsh->s.freeze_no, -1);
	stress_create_files();

	if (stress_start())
		return 1;
	if (pthread_create(&fork_thread, NULL, forker, NULL) != 0) {
		fprintf(stderr, "tree_stress: cannot start the fork thread\n");
		return 1;
	}
	stress_join_writers();
	pthread_join(fork_thread, NULL);
	stress_finish();

	if (failed()) {
		fprintf(stderr, "tree_stress: FAIL: %s (seed %u)\n", tsh->s.failure, stress.seed);
		return 1;
	}
	printf("tree_stress: seed %u, %d threads x %d ops, %d children", stress.seed, stress.nthreads,
	       stress.nops, stress.nchildren);
	for (i = 0; i < stress.nfreezes; i++)
		printf("%s%ld/%ld/%d/%d", i ? ", " : "; per freeze thread ops/child records/"
		       "children wholly inside/children exited inside: ",
		       atomic_load(&stress.ops_frozen[i]), atomic_load(&tsh->child_recs_frozen[i]),
		       atomic_load(&tsh->children_frozen[i]), atomic_load(&tsh->exited_frozen[i]));
	printf("\n");
	return check_counts();
}
