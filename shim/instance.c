/*
 * Creating, joining and sharing the instance file.  See instance.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "instance.h"
#include "shim.h"

/*
 * The mapping is one reserved range of address space, so records never
 * move and the read overlay can point into it.  The file grows under it; no
 * page past the file's end is ever touched (that would SIGBUS).
 */
#define RESERVE   (64ull << 30)
#define GROW_STEP (16ull << 20)

pid_t js_my_pid;
struct js_shared *js_sh;
uint8_t *js_base;
static int inst_fd = -1;
static char inst_path[512];
static bool root;

bool js_instance_is_root(void)
{
	return root;
}

int js_instance_fd(void)
{
	return inst_fd;
}

const char *js_instance_path(void)
{
	return inst_path;
}

bool js_pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

void js_instance_lock(void)
{
	/* A member that died holding the lock left the log consistent: the
	 * tail moves only after a record is complete. */
	if (pthread_mutex_lock(&js_sh->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&js_sh->lock);
}

void js_instance_unlock(void)
{
	pthread_mutex_unlock(&js_sh->lock);
}

int js_instance_grow(uint64_t need)
{
	uint64_t size = js_sh->file_size;

	while (size < need)
		size += GROW_STEP;
	if (size > RESERVE) {
		errno = EFBIG;
		return -1;
	}
	if (size != js_sh->file_size) {
		if (REAL(ftruncate64)(inst_fd, size) < 0)
			return -1;
		js_sh->file_size = size;
	}
	return 0;
}

bool js_instance_wait_change(int state, int timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000 };

	/* Not FUTEX_PRIVATE: the word is shared by every member process. */
	syscall(SYS_futex, &js_sh->state, FUTEX_WAIT, state, &ts, NULL, 0);
	return atomic_load(&js_sh->state) != state;
}

void js_instance_wake_all(void)
{
	syscall(SYS_futex, &js_sh->state, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Take a member slot: ours from before an exec, a free one, or a dead one. */
static struct js_member *claim_slot(pid_t pid)
{
	struct js_member *free_slot = NULL;

	for (int i = 0; i < JS_MAX_MEMBERS; i++)
		if (atomic_load(&js_sh->members[i].pid) == pid)
			return &js_sh->members[i];
	for (int i = 0; i < JS_MAX_MEMBERS && !free_slot; i++) {
		struct js_member *m = &js_sh->members[i];
		int32_t old = atomic_load(&m->pid);

		if ((old == 0 || !js_pid_alive(old)) && atomic_compare_exchange_strong(&m->pid, &old, pid))
			free_slot = m;
	}
	if (!free_slot)
		return NULL;
	/* A dead member's counters may have leaked in the middle of a write. */
	for (int s = 0; s < JS_STRIPES; s++)
		atomic_store(&free_slot->stripes[s].inflight, 0);
	return free_slot;
}

static int map_file(int fd)
{
	void *map = (void *)syscall(SYS_mmap, NULL, RESERVE, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_NORESERVE, fd, 0);

	if (map == MAP_FAILED)
		return -1;
	js_base = map;
	return 0;
}

static int create_instance(void)
{
	pthread_mutexattr_t attr;
	struct js_shared *sh;
	int fd;

	REAL(mkdir)(js_cfg.state_dir, 0700);
	/*
	 * Never O_TRUNC: a journal a dead process left (and recovery could not
	 * replay) may bear our reused pid.  Take a new name instead.
	 */
	for (int n = 0; n < 100; n++) {
		if (n)
			snprintf(inst_path, sizeof inst_path, "%s/%d-%d.inst", js_cfg.state_dir, (int)getpid(), n);
		else
			snprintf(inst_path, sizeof inst_path, "%s/%d.inst", js_cfg.state_dir, (int)getpid());
		fd = REAL(open)(inst_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		js_log("cannot create %s: %s; this process will not be frozen", inst_path, strerror(errno));
		return -1;
	}
	/* Sparse: an idle instance costs a few pages. */
	if (REAL(ftruncate64)(fd, JS_HEADER_SIZE + GROW_STEP) < 0 || map_file(fd) < 0) {
		js_log("cannot map %s: %s", inst_path, strerror(errno));
		REAL(close)(fd);
		REAL(unlink)(inst_path);
		return -1;
	}
	sh = (struct js_shared *)js_base;
	sh->version = JS_INSTANCE_VERSION;
	sh->root_pid = getpid();
	snprintf(sh->name, sizeof sh->name, "%s", js_cfg.instance);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&sh->lock, &attr);
	pthread_mutex_init(&sh->sync_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	sh->tail = JS_HEADER_SIZE;
	sh->file_size = JS_HEADER_SIZE + GROW_STEP;
	atomic_store(&sh->state, JS_RUNNING);
	atomic_store_explicit((_Atomic uint64_t *)&sh->magic, JS_INSTANCE_MAGIC, memory_order_release);
	inst_fd = fd;
	root = true;
	/* Children that exec with the shim find the instance here. */
	setenv("JETSNAP_INSTANCE_FILE", inst_path, 1);
	return 0;
}

/* Join the instance an ancestor started, if it is alive. */
static int join_instance(const char *path)
{
	struct js_shared *sh;
	struct stat st;
	int fd = REAL(open)(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (REAL(fstat)(fd, &st) < 0 || st.st_uid != getuid() || st.st_size < (off_t)JS_HEADER_SIZE ||
	    map_file(fd) < 0) {
		REAL(close)(fd);
		return -1;
	}
	sh = (struct js_shared *)js_base;
	if (sh->magic != JS_INSTANCE_MAGIC || !js_pid_alive(sh->root_pid)) {
		syscall(SYS_munmap, js_base, RESERVE);
		js_base = NULL;
		REAL(close)(fd);
		return -1;
	}
	snprintf(inst_path, sizeof inst_path, "%s", path);
	inst_fd = fd;
	root = sh->root_pid == getpid();	/* the root exec'd itself */
	return 0;
}

static void publish(struct js_member *me)
{
	js_sh = (struct js_shared *)js_base;
	js_gate_attach(&js_sh->state, me ? me->stripes : NULL);
	js_mark_own_fd(inst_fd, true);
}

int js_instance_start(void)
{
	const char *inherited = getenv("JETSNAP_INSTANCE_FILE");

	js_my_pid = getpid();
	if (!(inherited && *inherited && join_instance(inherited) == 0) && create_instance() < 0)
		return -1;
	js_sh = (struct js_shared *)js_base;
	publish(claim_slot(getpid()));
	js_log("%s instance %s (%s)", root ? "root of" : "joined", js_sh->name, inst_path);
	return 0;
}

/* In a fork child: async-signal-safe work only (atomics). */
void js_instance_join_child(void)
{
	js_my_pid = getpid();
	if (!js_sh)
		return;
	root = false;
	publish(claim_slot(getpid()));
}

/* The root removes the file when it exits: the instance is over. */
__attribute__((destructor)) static void js_instance_end(void)
{
	if (root && js_sh && js_sh->root_pid == getpid() && inst_path[0]) {
		char reason[JS_REASON_MAX];

		if (!js_running())
			js_engine_drain(reason, sizeof reason);
		REAL(unlink)(inst_path);
	}
}
