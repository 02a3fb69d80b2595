/*
 * The control library (libjetsnap) against SPEC "The C API": every entry
 * point, state and error, with real target processes (tests/idle_target)
 * run under the shim, each test with its own runtime directory.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jetsnap.h"

#define ALL_PREPARE_BITS 0xFu
#define NEVER_ISSUED ((JET_OSSNAPID)0xABCDEF)
#define MAX_TARGETS 4

struct target {
	pid_t pid;
	int cmd;		/* its stdin */
	int ans;		/* its stdout */
	char file[PATH_MAX];	/* the file it writes, canonical */
};

static char tmpdir[64], rtdir[96];
static struct target targets[MAX_TARGETS];
static int ntargets;

static const char *err_name(JET_ERR err)
{
	const char *name = JetsnapErrorName(err);

	return name ? name : "?";
}

#define expect_err(call, want)                                                            \
	do {                                                                              \
		JET_ERR got_ = (call);                                                    \
		cr_assert_eq(got_, (want), "%s: got %d %s, want %d %s (reason: %s)", #call, \
			     got_, err_name(got_), (want), err_name(want), JetsnapLastReason()); \
	} while (0)

#define expect_ok(call) expect_err(call, JET_errSuccess)

static void setup(void)
{
	char state[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/jsapi.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
	/* Short: socket paths must fit in 108 bytes. */
	snprintf(rtdir, sizeof(rtdir), "%s/rt", tmpdir);
	cr_assert_eq(mkdir(rtdir, 0700), 0);
	snprintf(state, sizeof(state), "%s/state", tmpdir);
	cr_assert_eq(mkdir(state, 0700), 0);
	setenv("JETSNAP_RUNTIME_DIR", rtdir, 1);
	setenv("JETSNAP_STATE_DIR", state, 1);
	ntargets = 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void stop_target(struct target *t)
{
	for (int i = 0; i < 100; i++) {
		kill(t->pid, i ? 0 : SIGTERM);
		if (waitpid(t->pid, NULL, WNOHANG) == t->pid)
			goto done;
		usleep(10000);
	}
	kill(t->pid, SIGKILL);
	waitpid(t->pid, NULL, 0);
done:
	close(t->cmd);
	close(t->ans);
	t->pid = 0;
}

static void teardown(void)
{
	for (int i = 0; i < ntargets; i++)
		if (targets[i].pid > 0)
			stop_target(&targets[i]);
	chmod(rtdir, 0700);
	nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

static void target_path(char *buf, size_t len)
{
	const char *builddir = getenv("JETSNAP_BUILDDIR");
	char self[PATH_MAX - 64];
	ssize_t n;

	if (builddir) {
		snprintf(buf, len, "%s/tests/idle_target", builddir);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert_gt(n, 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(buf, len, "%s/idle_target", self);
}

static char *read_line(int fd, int timeout_ms)
{
	static char line[256];
	size_t n = 0;

	while (n + 1 < sizeof(line)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		cr_assert_gt(poll(&p, 1, timeout_ms), 0, "the target did not answer in %d ms", timeout_ms);
		cr_assert_eq(read(fd, &line[n], 1), 1, "the target exited");
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return line;
}

/* The pid's status as its shim reports it; false if it is not listed. */
static bool instance_status(pid_t pid, JETSNAP_INSTANCE_STATUS *out)
{
	JETSNAP_INSTANCE_STATUS *a;
	unsigned long c;
	bool found = false;

	expect_ok(JetsnapListInstances(&c, &a));
	for (unsigned long i = 0; i < c; i++)
		if (a[i].hInstanceId == (JET_INSTANCE)pid) {
			*out = a[i];
			found = true;
		}
	JetFreeBuffer((char *)a);
	return found;
}

static void wait_for_state(pid_t pid, const char *state)
{
	JETSNAP_INSTANCE_STATUS st = { 0 };

	for (int i = 0; i < 1000; i++) {
		if (instance_status(pid, &st) && strcmp(st.szState, state) == 0)
			return;
		usleep(10000);
	}
	cr_assert_fail("instance %d never became %s (last: %s)", pid, state, st.szState);
}

/* A target under the shim, named name, writing tmpdir/name.db. */
static struct target *start_target(const char *name, const char *mode)
{
	const char *shim = getenv("JETSNAP_SHIM");
	struct target *t = &targets[ntargets];
	char prog[PATH_MAX], file[PATH_MAX];
	int cmd[2], ans[2];

	cr_assert(shim && access(shim, R_OK) == 0,
		  "JETSNAP_SHIM (%s) is not a readable shim: run through 'make check'", shim ? shim : "unset");
	cr_assert_lt(ntargets, MAX_TARGETS);
	target_path(prog, sizeof(prog));
	snprintf(file, sizeof(file), "%s/%s.db", tmpdir, name);
	cr_assert_eq(pipe2(cmd, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(ans, O_CLOEXEC), 0);
	t->pid = fork();
	cr_assert_geq(t->pid, 0);
	if (t->pid == 0) {
		/* Never outlive a test that crashed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(cmd[0], STDIN_FILENO);
		dup2(ans[1], STDOUT_FILENO);
		setenv("LD_PRELOAD", shim, 1);
		setenv("JETSNAP_INSTANCE", name, 1);
		execl(prog, "idle_target", file, mode, (char *)NULL);
		_exit(127);
	}
	ntargets++;
	close(cmd[0]);
	close(ans[1]);
	t->cmd = cmd[1];
	t->ans = ans[0];
	cr_assert_str_eq(read_line(t->ans, 10000), "ready", "%s did not start", prog);
	cr_assert_not_null(realpath(file, t->file));
	wait_for_state(t->pid, "running");
	return t;
}

/* Have the target write "text\n"; returns once its write() returned. */
static void target_write(struct target *t, const char *text)
{
	cr_assert_gt(dprintf(t->cmd, "w %s\n", text), 0);
	cr_assert_str_eq(read_line(t->ans, 10000), "ok", "the target's write of %s failed", text);
}

/* The file as it is on disk (this process is not under the shim). */
static char *on_disk(const struct target *t)
{
	static char buf[4096];
	int fd = open(t->file, O_RDONLY);
	ssize_t n;

	cr_assert_geq(fd, 0, "%s: %s", t->file, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	return buf;
}

static JET_OSSNAPID prepare(JET_GRBIT grbit)
{
	JET_OSSNAPID id = 0;

	expect_ok(JetOSSnapshotPrepare(&id, grbit));
	cr_assert_neq(id, 0);
	return id;
}

static void freeze(JET_OSSNAPID id)
{
	JET_INSTANCE_INFO *a;
	unsigned long c;

	expect_ok(JetOSSnapshotFreeze(id, &c, &a, 0));
	JetFreeBuffer((char *)a);
}

static void set_timeout_ms(JET_API_PTR ms)
{
	expect_ok(JetSetSystemParameter(NULL, 0, JET_paramOSSnapshotTimeout, ms, NULL));
}

/* Every session call gives want for id: the session is gone (or never was). */
static void expect_all_calls(JET_OSSNAPID id, JET_ERR want)
{
	JET_INSTANCE_INFO *a;
	unsigned long c;

	expect_err(JetOSSnapshotPrepareInstance(id, 1, 0), want);
	expect_err(JetOSSnapshotFreeze(id, &c, &a, 0), want);
	cr_assert(c == 0 && a == NULL, "outputs are zeroed on failure");
	expect_err(JetOSSnapshotGetFreezeInfo(id, &c, &a, 0), want);
	cr_assert(c == 0 && a == NULL, "outputs are zeroed on failure");
	expect_err(JetOSSnapshotThaw(id, 0), want);
	expect_err(JetOSSnapshotTruncateLog(id, 0), want);
	expect_err(JetOSSnapshotTruncateLogInstance(id, 1, 0), want);
	expect_err(JetOSSnapshotAbort(id, 0), want);
	expect_err(JetOSSnapshotEnd(id, 0), want);
	expect_err(JetOSSnapshotEnd(id, JET_bitAbortSnapshot), want);
}

static bool info_has_file(const JET_INSTANCE_INFO *info, const char *path)
{
	for (JET_API_PTR i = 0; i < info->cDatabases; i++)
		if (strcmp(info->szDatabaseFileName[i], path) == 0)
			return strcmp(info->szDatabaseDisplayName[i], path) == 0;
	return false;
}

/* ---- argument checks, in SPEC order ------------------------------------ */

Test(api, bad_grbit_is_invalid_parameter_for_every_call)
{
	JET_OSSNAPID id = prepare(JET_bitExplicitPrepare | JET_bitContinueAfterThaw);
	JET_INSTANCE_INFO *a;
	unsigned long c;
	JET_OSSNAPID fresh = 0;

	/* A value just outside each call's set, on a live session. */
	expect_err(JetOSSnapshotPrepare(&fresh, ALL_PREPARE_BITS + 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotPrepare(&fresh, 0x80000000u), JET_errInvalidParameter);
	expect_err(JetOSSnapshotPrepareInstance(id, 1, 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotFreeze(id, &c, &a, 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotGetFreezeInfo(id, &c, &a, 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotThaw(id, 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotAbort(id, 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotEnd(id, JET_bitAbortSnapshot << 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotTruncateLog(id, JET_bitAllDatabasesSnapshot << 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotTruncateLogInstance(id, 1, JET_bitAllDatabasesSnapshot << 1),
		   JET_errInvalidParameter);
	cr_assert_neq(JetsnapLastReason()[0], '\0', "a bad grbit gives a reason");
	/* Nothing changed: the session is still Prepared and usable. */
	expect_ok(JetOSSnapshotGetFreezeInfo(id, &c, &a, 0));
	cr_assert_eq(c, 0);
	expect_ok(JetOSSnapshotFreeze(id, &c, &a, 0));
	expect_ok(JetOSSnapshotThaw(id, 0));
	expect_ok(JetOSSnapshotEnd(id, 0));
}

Test(api, grbit_is_checked_before_the_snapshot_id)
{
	JET_INSTANCE_INFO *a;
	unsigned long c;

	expect_err(JetOSSnapshotPrepareInstance(NEVER_ISSUED, 1, 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotFreeze(NEVER_ISSUED, &c, &a, 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotGetFreezeInfo(NEVER_ISSUED, &c, &a, 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotThaw(NEVER_ISSUED, 2), JET_errInvalidParameter);
	expect_err(JetOSSnapshotAbort(NEVER_ISSUED, 2), JET_errInvalidParameter);
	expect_err(JetOSSnapshotEnd(NEVER_ISSUED, 2), JET_errInvalidParameter);
	expect_err(JetOSSnapshotTruncateLog(NEVER_ISSUED, 2), JET_errInvalidParameter);
	expect_err(JetOSSnapshotTruncateLogInstance(NEVER_ISSUED, 1, 2), JET_errInvalidParameter);
}

Test(api, null_out_pointers_are_invalid_parameter_and_outputs_zeroed)
{
	JET_INSTANCE_INFO *a = (JET_INSTANCE_INFO *)&a;
	JETSNAP_INSTANCE_STATUS *s = (JETSNAP_INSTANCE_STATUS *)&s;
	unsigned long c = 77;

	expect_err(JetOSSnapshotPrepare(NULL, 0), JET_errInvalidParameter);
	/* Checked before the id: an unknown id still gives InvalidParameter. */
	expect_err(JetOSSnapshotFreeze(NEVER_ISSUED, NULL, &a, 0), JET_errInvalidParameter);
	cr_assert_null(a);
	expect_err(JetOSSnapshotFreeze(NEVER_ISSUED, &c, NULL, 0), JET_errInvalidParameter);
	cr_assert_eq(c, 0);
	a = (JET_INSTANCE_INFO *)&a;
	c = 77;
	expect_err(JetOSSnapshotGetFreezeInfo(NEVER_ISSUED, NULL, &a, 0), JET_errInvalidParameter);
	cr_assert_null(a);
	expect_err(JetOSSnapshotGetFreezeInfo(NEVER_ISSUED, &c, NULL, 0), JET_errInvalidParameter);
	cr_assert_eq(c, 0);
	a = (JET_INSTANCE_INFO *)&a;
	c = 77;
	expect_err(JetGetInstanceInfo(NULL, &a), JET_errInvalidParameter);
	cr_assert_null(a);
	expect_err(JetGetInstanceInfo(&c, NULL), JET_errInvalidParameter);
	cr_assert_eq(c, 0);
	c = 77;
	expect_err(JetsnapListInstances(NULL, &s), JET_errInvalidParameter);
	cr_assert_null(s);
	expect_err(JetsnapListInstances(&c, NULL), JET_errInvalidParameter);
	cr_assert_eq(c, 0);
	expect_err(JetGetSystemParameter(0, 0, JET_paramOSSnapshotTimeout, NULL, NULL, 0),
		   JET_errInvalidParameter);
	expect_ok(JetFreeBuffer(NULL));
}

Test(api, snapshot_id_zero_is_invalid_parameter)
{
	expect_all_calls(0, JET_errInvalidParameter);
}

Test(api, never_issued_snapshot_id_is_invalid_snap_id)
{
	JET_OSSNAPID id = prepare(JET_bitExplicitPrepare);

	expect_all_calls(NEVER_ISSUED, JET_errOSSnapshotInvalidSnapId);
	expect_all_calls(id + 1, JET_errOSSnapshotInvalidSnapId);
	expect_ok(JetOSSnapshotEnd(id, 0));
}

Test(api, ended_session_is_invalid_snap_id_and_leaves_a_tombstone)
{
	JET_OSSNAPID id = prepare(JET_bitExplicitPrepare);
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/sessions/%lu", rtdir, (unsigned long)id);
	cr_assert_eq(stat(path, &st), 0, "the session lives in %s", path);
	cr_assert_eq(st.st_mode & 077, 0);
	expect_ok(JetOSSnapshotEnd(id, 0));
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
	cr_assert_eq(stat(path, &st), 0, "an ended session keeps a tombstone");
	cr_assert_gt(prepare(JET_bitExplicitPrepare), id, "an ended id is never reissued");
}

/* ---- ids --------------------------------------------------------------- */

Test(api, ids_are_nonzero_unique_and_increasing)
{
	JET_OSSNAPID prev = 0;

	for (int i = 0; i < 20; i++) {
		JET_OSSNAPID id = prepare(JET_bitExplicitPrepare);

		cr_assert_gt(id, prev);
		cr_assert_eq((uint64_t)id >> 40, (uint64_t)geteuid(), "ids carry the uid");
		if (i == 0)
			cr_assert_eq(id & ((1ull << 40) - 1), 1, "a fresh runtime directory starts at 1");
		if (i % 2)
			expect_ok(JetOSSnapshotEnd(id, 0));
		prev = id;
	}
}

Test(api, ids_are_unique_across_control_processes)
{
	enum { CHILDREN = 4, EACH = 25 };
	JET_OSSNAPID ids[CHILDREN * EACH], last = 0;
	pid_t kids[CHILDREN];
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	for (int k = 0; k < CHILDREN; k++) {
		kids[k] = fork();
		cr_assert_geq(kids[k], 0);
		if (kids[k] == 0) {
			JET_OSSNAPID prev = 0, id;

			for (int i = 0; i < EACH; i++) {
				if (JetOSSnapshotPrepare(&id, JET_bitExplicitPrepare) != 0 || id <= prev)
					_exit(1);
				if (write(fds[1], &id, sizeof(id)) != sizeof(id))
					_exit(1);
				prev = id;
			}
			_exit(0);
		}
	}
	close(fds[1]);
	for (int i = 0; i < CHILDREN * EACH; i++)
		cr_assert_eq(read(fds[0], &ids[i], sizeof(ids[i])), sizeof(ids[i]));
	close(fds[0]);
	for (int k = 0; k < CHILDREN; k++) {
		int status;

		cr_assert_eq(waitpid(kids[k], &status, 0), kids[k]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed", k);
	}
	for (int i = 0; i < CHILDREN * EACH; i++) {
		cr_assert_neq(ids[i], 0);
		for (int j = 0; j < i; j++)
			cr_assert_neq(ids[i], ids[j], "id %lu issued twice", (unsigned long)ids[i]);
		if (ids[i] > last)
			last = ids[i];
	}
	cr_assert_gt(prepare(JET_bitExplicitPrepare), last);
}

/* ---- Prepare / PrepareInstance ----------------------------------------- */

Test(api, prepare_without_instances_is_not_initialized)
{
	char path[256];
	JET_OSSNAPID id = 42;
	int nfiles = 0;
	struct dirent *de;
	DIR *dir;

	expect_err(JetOSSnapshotPrepare(&id, 0), JET_errNotInitialized);
	cr_assert_eq(id, 0);
	cr_assert_neq(JetsnapLastReason()[0], '\0');
	snprintf(path, sizeof(path), "%s/sessions", rtdir);
	dir = opendir(path);
	cr_assert_not_null(dir);
	while ((de = readdir(dir)))
		nfiles += de->d_name[0] != '.';
	closedir(dir);
	cr_assert_eq(nfiles, 0, "a failed Prepare creates no session");
	/* ExplicitPrepare needs no instance: one may be started later. */
	expect_ok(JetOSSnapshotEnd(prepare(JET_bitExplicitPrepare), 0));
}

Test(api, prepare_enrolls_running_instances)
{
	struct target *t1 = start_target("t1", "plain");
	struct target *t2 = start_target("t2", "plain");
	JETSNAP_INSTANCE_STATUS st;
	JET_OSSNAPID id = prepare(0);
	JET_INSTANCE_INFO *a;
	unsigned long c;

	expect_ok(JetOSSnapshotGetFreezeInfo(id, &c, &a, 0));
	cr_assert_eq(c, 2);
	cr_assert_eq(a[0].hInstanceId, (JET_INSTANCE)(t1->pid < t2->pid ? t1->pid : t2->pid));
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(a[i].cDatabases, 0, "nothing is held before Freeze");
		cr_assert_str_eq(a[i].szInstanceName, a[i].hInstanceId == (JET_INSTANCE)t1->pid ? "t1" : "t2");
	}
	JetFreeBuffer((char *)a);
	cr_assert(instance_status(t1->pid, &st));
	cr_assert_eq(st.snapId, id);
	cr_assert_str_eq(st.szState, "running");
	expect_ok(JetOSSnapshotEnd(id, 0));
	cr_assert(instance_status(t1->pid, &st));
	cr_assert_eq(st.snapId, 0, "End leaves the instance in no session");
}

Test(api, prepare_instance)
{
	struct target *t1 = start_target("t1", "plain");
	struct target *t2 = start_target("t2", "plain");
	JET_OSSNAPID id = prepare(JET_bitExplicitPrepare);
	JET_INSTANCE_INFO *a;
	unsigned long c;

	expect_err(JetOSSnapshotPrepareInstance(id, t1->pid, 1), JET_errInvalidParameter);
	expect_err(JetOSSnapshotPrepareInstance(id, 0, 0), JET_errInvalidParameter);
	/* This test process is no instance: it has no socket. */
	expect_err(JetOSSnapshotPrepareInstance(id, getpid(), 0), JET_errInvalidParameter);
	expect_err(JetOSSnapshotPrepareInstance(id, (JET_INSTANCE)1 << 40, 0), JET_errInvalidParameter);
	expect_ok(JetOSSnapshotPrepareInstance(id, t1->pid, 0));
	expect_err(JetOSSnapshotPrepareInstance(id, t1->pid, 0), JET_errOSSnapshotNotAllowed);
	expect_ok(JetOSSnapshotGetFreezeInfo(id, &c, &a, 0));
	cr_assert_eq(c, 1);
	cr_assert_eq(a[0].hInstanceId, (JET_INSTANCE)t1->pid);
	JetFreeBuffer((char *)a);
	freeze(id);
	expect_err(JetOSSnapshotPrepareInstance(id, t2->pid, 0), JET_errOSSnapshotInvalidSequence);
	/* Only t1 is frozen. */
	target_write(t2, "t2 runs");
	cr_assert_str_eq(on_disk(t2), "t2 runs\n");
	target_write(t1, "t1 held");
	cr_assert_str_eq(on_disk(t1), "");
	expect_ok(JetOSSnapshotThaw(id, 0));
	cr_assert_str_eq(on_disk(t1), "t1 held\n");
}

Test(api, prepare_instance_on_an_instance_enrolled_by_prepare_is_not_allowed)
{
	struct target *t1 = start_target("t1", "plain");
	JET_OSSNAPID id = prepare(0);

	expect_err(JetOSSnapshotPrepareInstance(id, t1->pid, 0), JET_errOSSnapshotNotAllowed);
	cr_assert_neq(JetsnapLastReason()[0], '\0');
	expect_ok(JetOSSnapshotEnd(id, 0));
}

Test(api, an_instance_belongs_to_one_session)
{
	struct target *t1 = start_target("t1", "plain");
	JET_OSSNAPID a = prepare(0), b = prepare(JET_bitExplicitPrepare), c = 0;

	expect_err(JetOSSnapshotPrepareInstance(b, t1->pid, 0), JET_errOSSnapshotNotAllowed);
	cr_assert_neq(JetsnapLastReason()[0], '\0', "NotAllowed says why");
	/* Prepare finds no free instance. */
	expect_err(JetOSSnapshotPrepare(&c, 0), JET_errNotInitialized);
	cr_assert_not_null(strstr(JetsnapLastReason(), "session"), "%s", JetsnapLastReason());
	expect_ok(JetOSSnapshotEnd(a, 0));
	expect_ok(JetOSSnapshotPrepareInstance(b, t1->pid, 0));
	expect_ok(JetOSSnapshotEnd(b, 0));
}

Test(api, an_instance_left_in_a_dead_session_is_taken_back)
{
	struct target *t = start_target("t1", "plain");
	JETSNAP_INSTANCE_STATUS st;
	JET_OSSNAPID lost = prepare(0), id;
	char path[256];

	/* As if the control process had died inside Prepare. */
	snprintf(path, sizeof(path), "%s/sessions/%lu", rtdir, (unsigned long)lost);
	cr_assert_eq(unlink(path), 0);
	id = prepare(0);
	cr_assert(instance_status(t->pid, &st));
	cr_assert_eq(st.snapId, id);
	expect_ok(JetOSSnapshotEnd(id, 0));
}

/* ---- Freeze / Thaw ------------------------------------------------------ */

Test(api, freeze_holds_writes_and_thaw_drains_them)
{
	struct target *t = start_target("t1", "plain");
	JETSNAP_INSTANCE_STATUS st;
	JET_INSTANCE_INFO *a;
	JET_OSSNAPID id;
	unsigned long c;

	target_write(t, "A");
	id = prepare(0);
	expect_ok(JetOSSnapshotFreeze(id, &c, &a, 0));
	cr_assert_eq(c, 1);
	cr_assert_eq(a[0].hInstanceId, (JET_INSTANCE)t->pid);
	cr_assert_str_eq(a[0].szInstanceName, "t1");
	cr_assert(info_has_file(&a[0], t->file), "Freeze lists %s", t->file);
	cr_assert_null(a[0].szDatabaseSLVFileName_Obsolete);
	JetFreeBuffer((char *)a);
	cr_assert(instance_status(t->pid, &st));
	cr_assert_str_eq(st.szState, "frozen");
	cr_assert_eq(st.snapId, id);

	target_write(t, "B");
	cr_assert_str_eq(on_disk(t), "A\n", "nothing reaches the file while frozen");
	expect_ok(JetOSSnapshotGetFreezeInfo(id, &c, &a, 0));
	cr_assert_eq(c, 1);
	cr_assert(info_has_file(&a[0], t->file));
	JetFreeBuffer((char *)a);

	expect_ok(JetOSSnapshotThaw(id, 0));
	cr_assert_str_eq(on_disk(t), "A\nB\n");
	/* Without ContinueAfterThaw, Thaw ends the session. */
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
	cr_assert(instance_status(t->pid, &st));
	cr_assert_str_eq(st.szState, "running");
	cr_assert_eq(st.snapId, 0);
	target_write(t, "C");
	cr_assert_str_eq(on_disk(t), "A\nB\nC\n");
}

Test(api, second_freeze_is_invalid_sequence)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = prepare(0);
	JET_INSTANCE_INFO *a;
	unsigned long c;

	freeze(id);
	expect_err(JetOSSnapshotFreeze(id, &c, &a, 0), JET_errOSSnapshotInvalidSequence);
	cr_assert(c == 0 && a == NULL);
	target_write(t, "held");
	cr_assert_str_eq(on_disk(t), "", "still frozen");
	expect_ok(JetOSSnapshotThaw(id, 0));
	cr_assert_str_eq(on_disk(t), "held\n");
}

Test(api, thaw_from_prepared_is_invalid_sequence)
{
	start_target("t1", "plain");
	JET_OSSNAPID id = prepare(0);

	expect_err(JetOSSnapshotThaw(id, 0), JET_errOSSnapshotInvalidSequence);
	freeze(id);
	expect_ok(JetOSSnapshotThaw(id, 0));
}

Test(api, end_while_frozen_is_invalid_sequence)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = prepare(0);

	freeze(id);
	expect_err(JetOSSnapshotEnd(id, 0), JET_errOSSnapshotInvalidSequence);
	target_write(t, "held");
	cr_assert_str_eq(on_disk(t), "", "still frozen");
	expect_ok(JetOSSnapshotEnd(id, JET_bitAbortSnapshot));
	cr_assert_str_eq(on_disk(t), "held\n", "End(Abort) drains");
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
}

Test(api, freeze_is_all_or_none)
{
	struct target *t1 = start_target("t1", "plain");
	struct target *t2 = start_target("t2", "mmap-ro");
	JETSNAP_INSTANCE_STATUS st;
	JET_OSSNAPID id = prepare(0);
	JET_INSTANCE_INFO *a;
	unsigned long c;

	expect_err(JetOSSnapshotFreeze(id, &c, &a, 0), JET_errOSSnapshotNotAllowed);
	cr_assert(c == 0 && a == NULL);
	cr_assert_not_null(strstr(JetsnapLastReason(), t2->file), "the reason names the file: %s",
			   JetsnapLastReason());
	cr_assert(instance_status(t1->pid, &st));
	cr_assert_str_eq(st.szState, "running", "a failed Freeze leaves every instance running");
	target_write(t1, "free");
	cr_assert_str_eq(on_disk(t1), "free\n");
	/* The session stays Prepared. */
	expect_err(JetOSSnapshotThaw(id, 0), JET_errOSSnapshotInvalidSequence);
	expect_ok(JetOSSnapshotGetFreezeInfo(id, &c, &a, 0));
	cr_assert_eq(c, 2);
	JetFreeBuffer((char *)a);
	expect_ok(JetOSSnapshotEnd(id, 0));
}

Test(api, freeze_uses_the_timeout_in_force_when_called)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = prepare(0);

	set_timeout_ms(60000);
	freeze(id);
	set_timeout_ms(50);
	usleep(400000);
	target_write(t, "held");
	cr_assert_str_eq(on_disk(t), "");
	expect_ok(JetOSSnapshotThaw(id, 0));
}

Test(api, several_sessions_at_once)
{
	struct target *t1 = start_target("t1", "plain");
	struct target *t2 = start_target("t2", "plain");
	JET_OSSNAPID a = prepare(JET_bitExplicitPrepare), b = prepare(JET_bitExplicitPrepare);

	expect_ok(JetOSSnapshotPrepareInstance(a, t1->pid, 0));
	expect_ok(JetOSSnapshotPrepareInstance(b, t2->pid, 0));
	freeze(a);
	target_write(t1, "t1");
	target_write(t2, "t2");
	cr_assert_str_eq(on_disk(t1), "");
	cr_assert_str_eq(on_disk(t2), "t2\n");
	freeze(b);
	expect_ok(JetOSSnapshotThaw(a, 0));
	target_write(t2, "t2 again");
	cr_assert_str_eq(on_disk(t1), "t1\n");
	cr_assert_str_eq(on_disk(t2), "t2\n");
	expect_ok(JetOSSnapshotAbort(b, 0));
	cr_assert_str_eq(on_disk(t2), "t2\nt2 again\n");
}

/* ---- ContinueAfterThaw, TruncateLog ------------------------------------- */

Test(api, truncate_log_sequences)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = prepare(0);

	expect_err(JetOSSnapshotTruncateLog(id, 0), JET_errOSSnapshotInvalidSequence);
	expect_err(JetOSSnapshotTruncateLogInstance(id, t->pid, 0), JET_errOSSnapshotInvalidSequence);
	freeze(id);
	expect_err(JetOSSnapshotTruncateLog(id, 0), JET_errOSSnapshotInvalidSequence);
	expect_ok(JetOSSnapshotThaw(id, 0));
	/* Without ContinueAfterThaw the session ended with Thaw. */
	expect_err(JetOSSnapshotTruncateLog(id, 0), JET_errOSSnapshotInvalidSnapId);
}

Test(api, continue_after_thaw)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = prepare(JET_bitContinueAfterThaw);
	JET_INSTANCE_INFO *a;
	unsigned long c;

	freeze(id);
	target_write(t, "held");
	expect_ok(JetOSSnapshotThaw(id, 0));
	cr_assert_str_eq(on_disk(t), "held\n");
	expect_err(JetOSSnapshotThaw(id, 0), JET_errOSSnapshotInvalidSequence);
	expect_err(JetOSSnapshotFreeze(id, &c, &a, 0), JET_errOSSnapshotInvalidSequence);
	expect_err(JetOSSnapshotPrepareInstance(id, t->pid, 0), JET_errOSSnapshotInvalidSequence);
	expect_ok(JetOSSnapshotGetFreezeInfo(id, &c, &a, 0));
	cr_assert_eq(c, 1);
	cr_assert(info_has_file(&a[0], t->file), "Thawed lists the files of the freeze");
	JetFreeBuffer((char *)a);
	expect_ok(JetOSSnapshotTruncateLog(id, 0));
	expect_ok(JetOSSnapshotTruncateLog(id, JET_bitAllDatabasesSnapshot));
	expect_ok(JetOSSnapshotTruncateLogInstance(id, t->pid, 0));
	expect_err(JetOSSnapshotTruncateLogInstance(id, getpid(), 0), JET_errInvalidParameter);
	expect_err(JetOSSnapshotThaw(id, 0), JET_errOSSnapshotInvalidSequence);
	expect_ok(JetOSSnapshotEnd(id, 0));
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
}

Test(api, truncate_log_is_not_for_a_copy_snapshot)
{
	start_target("t1", "plain");
	JET_OSSNAPID id = prepare(JET_bitContinueAfterThaw | JET_bitCopySnapshot);

	freeze(id);
	expect_ok(JetOSSnapshotThaw(id, 0));
	expect_err(JetOSSnapshotTruncateLog(id, 0), JET_errOSSnapshotInvalidSequence);
	expect_err(JetOSSnapshotTruncateLog(id, JET_bitAllDatabasesSnapshot), JET_errOSSnapshotInvalidSequence);
	expect_ok(JetOSSnapshotEnd(id, 0));
}

/* ---- Abort --------------------------------------------------------------- */

Test(api, abort_drains_in_order_and_ends_the_session)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id, next;
	JET_INSTANCE_INFO *a;
	unsigned long c;

	target_write(t, "A");
	id = prepare(0);
	freeze(id);
	target_write(t, "B");
	target_write(t, "C");
	cr_assert_str_eq(on_disk(t), "A\n");
	/* A failed Abort leaves the session alive and frozen. */
	expect_err(JetOSSnapshotAbort(id, 1), JET_errInvalidParameter);
	expect_ok(JetOSSnapshotGetFreezeInfo(id, &c, &a, 0));
	cr_assert_eq(c, 1);
	JetFreeBuffer((char *)a);
	target_write(t, "D");
	cr_assert_str_eq(on_disk(t), "A\n");
	expect_ok(JetOSSnapshotAbort(id, 0));
	cr_assert_str_eq(on_disk(t), "A\nB\nC\nD\n");
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
	/* The instance is free for the next session. */
	next = prepare(0);
	expect_ok(JetOSSnapshotEnd(next, 0));
}

Test(api, abort_from_every_live_state)
{
	start_target("t1", "plain");
	JET_OSSNAPID id;

	id = prepare(0);
	expect_ok(JetOSSnapshotAbort(id, 0));
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);

	id = prepare(JET_bitContinueAfterThaw);
	freeze(id);
	expect_ok(JetOSSnapshotThaw(id, 0));
	expect_ok(JetOSSnapshotAbort(id, 0));
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);

	id = prepare(JET_bitContinueAfterThaw);
	freeze(id);
	expect_ok(JetOSSnapshotThaw(id, 0));
	expect_ok(JetOSSnapshotTruncateLog(id, 0));
	expect_ok(JetOSSnapshotEnd(id, JET_bitAbortSnapshot));
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
}

/* ---- timeouts ----------------------------------------------------------- */

/* Freeze with a short timeout and wait until the shim has let go on its own. */
static JET_OSSNAPID freeze_until_expired(struct target *t, JET_GRBIT grbit)
{
	JET_OSSNAPID id = prepare(grbit);

	set_timeout_ms(200);
	freeze(id);
	target_write(t, "held");
	wait_for_state(t->pid, "running");
	cr_assert_str_eq(on_disk(t), "held\n", "an expired freeze drains by itself");
	return id;
}

Test(api, thaw_after_timeout_is_timeout_and_ends_the_session)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = freeze_until_expired(t, 0);

	expect_err(JetOSSnapshotThaw(id, 0), JET_errOSSnapshotTimeOut);
	cr_assert_neq(JetsnapLastReason()[0], '\0');
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
	expect_ok(JetOSSnapshotEnd(prepare(0), 0));
}

Test(api, timeout_with_continue_after_thaw)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = freeze_until_expired(t, JET_bitContinueAfterThaw);
	JET_INSTANCE_INFO *a = (JET_INSTANCE_INFO *)&a;
	unsigned long c = 5;

	expect_ok(JetOSSnapshotGetFreezeInfo(id, &c, &a, 0));
	cr_assert(c == 0 && a == NULL, "no instance after a timeout");
	expect_err(JetOSSnapshotThaw(id, 0), JET_errOSSnapshotTimeOut);
	expect_err(JetOSSnapshotThaw(id, 0), JET_errOSSnapshotTimeOut);
	expect_err(JetOSSnapshotEnd(id, 0), JET_errOSSnapshotTimeOut);
	expect_err(JetOSSnapshotTruncateLog(id, 0), JET_errOSSnapshotInvalidSequence);
	expect_err(JetOSSnapshotFreeze(id, &c, &a, 0), JET_errOSSnapshotInvalidSequence);
	expect_ok(JetOSSnapshotEnd(id, JET_bitAbortSnapshot));
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
}

Test(api, end_after_timeout_is_timeout_then_abort_ends)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = freeze_until_expired(t, 0);

	expect_err(JetOSSnapshotEnd(id, 0), JET_errOSSnapshotTimeOut);
	expect_err(JetOSSnapshotEnd(id, 0), JET_errOSSnapshotTimeOut);
	expect_ok(JetOSSnapshotAbort(id, 0));
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
}

Test(api, timeout_zero_expires_at_once)
{
	start_target("t1", "plain");
	JET_OSSNAPID id = prepare(0);

	set_timeout_ms(0);
	freeze(id);
	usleep(100000);
	expect_err(JetOSSnapshotThaw(id, 0), JET_errOSSnapshotTimeOut);
}

/* ---- control processes --------------------------------------------------- */

/*
 * Run fn in a forked child, a control process of its own, and bring back
 * the len bytes it leaves in out (fn gets the child's copies of arg and
 * out).  fn must succeed there and the bytes must arrive.
 */
static void in_another_process(bool (*fn)(const void *arg, void *out), const void *arg,
			       void *out, size_t len, const char *what)
{
	int fds[2], status;
	pid_t kid;

	cr_assert_eq(pipe(fds), 0);
	kid = fork();
	cr_assert_geq(kid, 0);
	if (kid == 0)
		_exit(fn(arg, out) && write(fds[1], out, len) == (ssize_t)len ? 0 : 1);
	cr_assert_eq(waitpid(kid, &status, 0), kid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s in the other process failed",
		  what);
	cr_assert_eq(read(fds[0], out, len), (ssize_t)len);
	close(fds[0]);
	close(fds[1]);
}

static bool thaw_arg(const void *id, void *out)
{
	(void)out;
	return JetOSSnapshotThaw(*(const JET_OSSNAPID *)id, 0) == JET_errSuccess;
}

Test(api, a_session_is_thawed_by_another_process)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = prepare(0);

	freeze(id);
	target_write(t, "held");
	in_another_process(thaw_arg, &id, NULL, 0, "Thaw");
	cr_assert_str_eq(on_disk(t), "held\n");
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
}

/* Prepare and freeze a session; its id into out. */
static bool prepare_and_freeze(const void *arg, void *out)
{
	JET_INSTANCE_INFO *a;
	unsigned long c;

	(void)arg;
	return !JetOSSnapshotPrepare(out, 0) && !JetOSSnapshotFreeze(*(JET_OSSNAPID *)out, &c, &a, 0);
}

Test(api, a_session_made_and_frozen_by_another_process)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = 0;

	in_another_process(prepare_and_freeze, NULL, &id, sizeof(id), "Prepare/Freeze");
	target_write(t, "held");
	cr_assert_str_eq(on_disk(t), "", "the freeze outlives the process that made it");
	expect_ok(JetOSSnapshotThaw(id, 0));
	cr_assert_str_eq(on_disk(t), "held\n");
}

/* ---- instances ------------------------------------------------------------ */

Test(api, get_instance_info)
{
	JET_INSTANCE_INFO *a = (JET_INSTANCE_INFO *)&a;
	unsigned long c = 9;
	struct target *t1, *t2;
	JET_OSSNAPID id;

	expect_ok(JetGetInstanceInfo(&c, &a));
	cr_assert(c == 0 && a == NULL, "no instance: 0 and NULL");
	t1 = start_target("t1", "plain");
	t2 = start_target("t2", "plain");
	id = prepare(JET_bitExplicitPrepare);
	expect_ok(JetOSSnapshotPrepareInstance(id, t2->pid, 0));
	freeze(id);
	expect_ok(JetGetInstanceInfo(&c, &a));
	cr_assert_eq(c, 2);
	for (unsigned long i = 0; i < c; i++) {
		if (a[i].hInstanceId == (JET_INSTANCE)t1->pid) {
			cr_assert_str_eq(a[i].szInstanceName, "t1");
			cr_assert_eq(a[i].cDatabases, 0, "a running instance holds nothing");
		} else {
			cr_assert_eq(a[i].hInstanceId, (JET_INSTANCE)t2->pid);
			cr_assert_str_eq(a[i].szInstanceName, "t2");
			cr_assert(info_has_file(&a[i], t2->file));
		}
	}
	JetFreeBuffer((char *)a);
	expect_ok(JetOSSnapshotThaw(id, 0));
}

/* A socket that nothing listens on, as a crashed instance leaves it. */
static void dead_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path, strerror(errno));
	close(fd);
}

Test(api, stale_sockets_are_removed)
{
	JETSNAP_INSTANCE_STATUS *a;
	char stale[128], live[128];
	unsigned long c;
	int status;
	pid_t dead;

	/* One left by a process that died, one of a live process that serves nothing. */
	dead = fork();
	cr_assert_geq(dead, 0);
	if (dead == 0)
		_exit(0);
	cr_assert_eq(waitpid(dead, &status, 0), dead);
	snprintf(stale, sizeof(stale), "%s/%d.sock", rtdir, (int)dead);
	dead_socket(stale);
	snprintf(live, sizeof(live), "%s/%d.sock", rtdir, (int)getpid());
	dead_socket(live);

	expect_ok(JetsnapListInstances(&c, &a));
	cr_assert(c == 0 && a == NULL);
	cr_assert_neq(access(stale, F_OK), 0, "the dead process's socket is removed");
	cr_assert_eq(access(live, F_OK), 0, "a live process's socket is kept");
}

Test(api, an_instance_that_dies_while_frozen)
{
	struct target *t = start_target("t1", "plain");
	JET_OSSNAPID id = prepare(0);
	char sock[128];

	snprintf(sock, sizeof(sock), "%s/%d.sock", rtdir, (int)t->pid);
	freeze(id);
	kill(t->pid, SIGKILL);
	waitpid(t->pid, NULL, 0);
	t->pid = -1;
	close(t->cmd);
	close(t->ans);
	/* Its journal keeps what it wrote; there is nothing to drain here. */
	expect_ok(JetOSSnapshotThaw(id, 0));
	expect_all_calls(id, JET_errOSSnapshotInvalidSnapId);
	cr_assert_neq(access(sock, F_OK), 0, "its stale socket is removed");
}

Test(api, list_instances)
{
	struct target *t = start_target("t1", "plain");
	JETSNAP_INSTANCE_STATUS st;
	JET_OSSNAPID id = prepare(0);

	freeze(id);
	target_write(t, "0123456789");
	cr_assert(instance_status(t->pid, &st));
	cr_assert_str_eq(st.szInstanceName, "t1");
	cr_assert_str_eq(st.szState, "frozen");
	cr_assert_eq(st.snapId, id);
	cr_assert_geq(st.cbHeld, 11);
	cr_assert_geq(st.cHeldWrites, 1);
	cr_assert_geq(st.cFiles, 1);
	expect_ok(JetOSSnapshotThaw(id, 0));
}

/* ---- the runtime directory ---------------------------------------------- */

Test(api, an_open_runtime_directory_is_refused)
{
	JET_INSTANCE_INFO *a;
	JET_OSSNAPID id;
	unsigned long c;

	cr_assert_eq(chmod(rtdir, 0755), 0);
	expect_err(JetOSSnapshotPrepare(&id, JET_bitExplicitPrepare), JET_errNotInitialized);
	cr_assert_not_null(strstr(JetsnapLastReason(), rtdir), "%s", JetsnapLastReason());
	expect_err(JetGetInstanceInfo(&c, &a), JET_errNotInitialized);
	cr_assert_eq(chmod(rtdir, 0700), 0);
	expect_ok(JetOSSnapshotEnd(prepare(JET_bitExplicitPrepare), 0));
}

Test(api, a_runtime_directory_of_another_user_is_refused)
{
	JET_OSSNAPID id;

	if (geteuid() != 0)
		cr_skip_test("needs root to give the directory away");
	cr_assert_eq(chown(rtdir, 65534, 65534), 0);
	expect_err(JetOSSnapshotPrepare(&id, JET_bitExplicitPrepare), JET_errNotInitialized);
	cr_assert_not_null(strstr(JetsnapLastReason(), "uid 65534"), "%s", JetsnapLastReason());
	cr_assert_eq(chown(rtdir, 0, 0), 0);
}

Test(api, the_runtime_directory_is_created_private)
{
	char fresh[128];
	struct stat st;

	snprintf(fresh, sizeof(fresh), "%s/fresh", tmpdir);
	setenv("JETSNAP_RUNTIME_DIR", fresh, 1);
	expect_ok(JetOSSnapshotEnd(prepare(JET_bitExplicitPrepare), 0));
	cr_assert_eq(stat(fresh, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
}

/* ---- parameters, names, exports ----------------------------------------- */

/* The timeout parameter, with JETSNAP_TIMEOUT_MS = env (NULL: unset), into out. */
static bool timeout_with_env(const void *env, void *out)
{
	if (env)
		setenv("JETSNAP_TIMEOUT_MS", env, 1);
	else
		unsetenv("JETSNAP_TIMEOUT_MS");
	return !JetGetSystemParameter(0, 0, JET_paramOSSnapshotTimeout, out, NULL, 0);
}

/* The default as a fresh process sees it with JETSNAP_TIMEOUT_MS = env. */
static JET_API_PTR default_timeout(const char *env)
{
	JET_API_PTR v = 0;

	in_another_process(timeout_with_env, env, &v, sizeof(v), "JetGetSystemParameter");
	return v;
}

Test(api, snapshot_timeout_parameter)
{
	JET_INSTANCE inst = 0;
	JET_API_PTR v = 0;

	cr_assert_eq(default_timeout(NULL), 70000);
	cr_assert_eq(default_timeout("1234"), 1234);
	cr_assert_eq(default_timeout("0"), 0);
	cr_assert_eq(default_timeout("12ab"), 70000);
	cr_assert_eq(default_timeout("-5"), 70000);
	cr_assert_eq(default_timeout("99999999999"), 70000);

	expect_ok(JetSetSystemParameter(NULL, 0, JET_paramOSSnapshotTimeout, 5000, NULL));
	expect_ok(JetGetSystemParameter(0, 0, JET_paramOSSnapshotTimeout, &v, NULL, 0));
	cr_assert_eq(v, 5000);
	expect_ok(JetSetSystemParameter(&inst, 0, JET_paramOSSnapshotTimeout, 0, NULL));
	expect_ok(JetGetSystemParameter(inst, 0, JET_paramOSSnapshotTimeout, &v, NULL, 0));
	cr_assert_eq(v, 0);
	expect_err(JetSetSystemParameter(NULL, 0, JET_paramOSSnapshotTimeout, 2147483648u, NULL),
		   JET_errInvalidParameter);
	expect_err(JetSetSystemParameter(NULL, 0, JET_paramOSSnapshotTimeout, (JET_API_PTR)-1, NULL),
		   JET_errInvalidParameter);
	expect_ok(JetGetSystemParameter(0, 0, JET_paramOSSnapshotTimeout, &v, NULL, 0));
	cr_assert_eq(v, 0, "a refused value changes nothing");
	expect_ok(JetSetSystemParameter(NULL, 0, JET_paramOSSnapshotTimeout, 2147483647u, NULL));
	expect_err(JetSetSystemParameter(NULL, 0, 81, 1, NULL), JET_errInvalidParameter);
	expect_err(JetGetSystemParameter(0, 0, 83, &v, NULL, 0), JET_errInvalidParameter);
	expect_err(JetGetSystemParameter(0, 0, 0, NULL, NULL, 0), JET_errInvalidParameter);
}

Test(api, error_names)
{
	static const struct {
		JET_ERR err;
		const char *name;
	} names[] = {
		{ 0, "JET_errSuccess" },
		{ -900, "JET_errInvalidGrbit" },
		{ -1003, "JET_errInvalidParameter" },
		{ -1011, "JET_errOutOfMemory" },
		{ -1029, "JET_errNotInitialized" },
		{ -2401, "JET_errOSSnapshotInvalidSequence" },
		{ -2402, "JET_errOSSnapshotTimeOut" },
		{ -2403, "JET_errOSSnapshotNotAllowed" },
		{ -2404, "JET_errOSSnapshotInvalidSnapId" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cr_assert_str_eq(JetsnapErrorName(names[i].err), names[i].name);
	cr_assert_null(JetsnapErrorName(-1));
	cr_assert_null(JetsnapErrorName(12345));
	JetOSSnapshotThaw(0, 0);
	cr_assert_neq(JetsnapLastReason()[0], '\0');
	JetsnapErrorName(0);
	JetGetSystemParameter(0, 0, JET_paramOSSnapshotTimeout, &(JET_API_PTR){ 0 }, NULL, 0);
	cr_assert_str_eq(JetsnapLastReason(), "", "a successful call clears the reason");
}

Test(api, exports_exactly_the_api)
{
	static const char *const api[] = {
		"JetFreeBuffer", "JetGetInstanceInfo", "JetGetSystemParameter",
		"JetOSSnapshotAbort", "JetOSSnapshotEnd", "JetOSSnapshotFreeze",
		"JetOSSnapshotGetFreezeInfo", "JetOSSnapshotPrepare", "JetOSSnapshotPrepareInstance",
		"JetOSSnapshotThaw", "JetOSSnapshotTruncateLog", "JetOSSnapshotTruncateLogInstance",
		"JetSetSystemParameter", "JetsnapErrorName", "JetsnapLastReason", "JetsnapListInstances",
	};
	const char *builddir = getenv("JETSNAP_BUILDDIR");
	char cmd[PATH_MAX + 128], sym[256];
	size_t found = 0;
	FILE *nm;

	if (!builddir)
		cr_skip_test("JETSNAP_BUILDDIR is unset: run through 'make check'");
	snprintf(cmd, sizeof(cmd),
		 "nm -D --defined-only '%s/.libs/libjetsnap.so' | awk '$2 ~ /^[TDBRVW]$/ {print $3}'", builddir);
	nm = popen(cmd, "r");
	cr_assert_not_null(nm);
	while (fscanf(nm, "%255s", sym) == 1) {
		bool known = false;

		for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++)
			known |= strcmp(sym, api[i]) == 0;
		cr_expect(known, "libjetsnap.so exports %s, which jetsnap.h does not declare", sym);
		found += known;
	}
	cr_assert_eq(pclose(nm), 0, "%s failed", cmd);
	cr_assert_eq(found, sizeof(api) / sizeof(api[0]), "every API function is exported");
}
