/*
 * Start-up: copy the environment, resolve the real functions, start the
 * control thread.  Also the path rules of SPEC "databases".
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "instance.h"
#include "recover.h"
#include "shim.h"

struct js_config js_cfg;

static void copy_env(char *dst, size_t cap, const char *name, const char *fallback)
{
	const char *v = getenv(name);

	size_t n;

	if (!v || !*v)
		v = fallback ? fallback : "";
	n = strnlen(v, cap - 1);
	memcpy(dst, v, n);
	dst[n] = 0;
}

/* A byte count with an optional K, M or G suffix; the default if unset or
 * malformed (logged: the shim cannot tell the user otherwise). */
static uint64_t env_size(const char *name, uint64_t fallback)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return fallback;
	errno = 0;
	n = strtoull(v, &end, 10);
	switch (*end) {
	case 'G': case 'g': n <<= 10; /* fall through */
	case 'M': case 'm': n <<= 10; /* fall through */
	case 'K': case 'k': n <<= 10; end++; break;
	}
	if (errno || *end || n == 0) {
		js_log("%s=%s is not a size (bytes, or with K, M, G): using %llu", name, v,
		       (unsigned long long)fallback);
		return fallback;
	}
	return n;
}

void js_config_load(void)
{
	char fallback[256];
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (xdg && *xdg)
		snprintf(fallback, sizeof fallback, "%s/jetsnap", xdg);
	else
		snprintf(fallback, sizeof fallback, "/tmp/jetsnap-%u", (unsigned)getuid());
	copy_env(js_cfg.runtime_dir, sizeof js_cfg.runtime_dir, "JETSNAP_RUNTIME_DIR", fallback);
	js_default_state_dir(fallback, sizeof fallback, js_cfg.runtime_dir);
	copy_env(js_cfg.state_dir, sizeof js_cfg.state_dir, "JETSNAP_STATE_DIR", fallback);
	snprintf(fallback, sizeof fallback, "%s-%d", program_invocation_short_name, (int)getpid());
	copy_env(js_cfg.instance, sizeof js_cfg.instance, "JETSNAP_INSTANCE", fallback);
	copy_env(js_cfg.paths, sizeof js_cfg.paths, "JETSNAP_PATHS", "");
	copy_env(js_cfg.volatile_globs, sizeof js_cfg.volatile_globs, "JETSNAP_VOLATILE", "*-shm");
	copy_env(js_cfg.log_path, sizeof js_cfg.log_path, "JETSNAP_LOG", "");
	js_cfg.max_pending = env_size("JETSNAP_MAX_PENDING", 64ull << 20);
	js_cfg.max_journal = env_size("JETSNAP_MAX_JOURNAL", 16ull << 30);
}

static bool under(const char *path, const char *dir, size_t dirlen)
{
	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dirlen--;
	return strncmp(path, dir, dirlen) == 0 && (path[dirlen] == '/' || path[dirlen] == 0);
}

/* Memory, not data: never held (SPEC "databases"). */
bool js_path_is_memory_only(const char *path)
{
	static const char *const dirs[] = { "/dev/shm", "/proc", "/sys", "/run", "/dev" };

	if (path[0] != '/')
		return true;	/* "pipe:[…]", "socket:[…]", "/memfd:…" below */
	if (strncmp(path, "/memfd:", 7) == 0)
		return true;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (under(path, dirs[i], strlen(dirs[i])))
			return true;
	/* An unlinked file can never be in anyone's copy. */
	size_t n = strlen(path);
	return n > 10 && strcmp(path + n - 10, " (deleted)") == 0;
}

/* The shim's own files (hold log, sockets) are never the application's. */
bool js_path_is_own(const char *path)
{
	return under(path, js_cfg.state_dir, strlen(js_cfg.state_dir)) ||
	       under(path, js_cfg.runtime_dir, strlen(js_cfg.runtime_dir));
}

/* Inside JETSNAP_PATHS, or anywhere when it is unset. */
bool js_path_in_scope(const char *path)
{
	const char *p = js_cfg.paths;

	if (!*p)
		return true;
	while (*p) {
		const char *end = strchrnul(p, ':');

		if (end > p && under(path, p, end - p))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

/* Matches JETSNAP_VOLATILE: shared memory in a file, not data. */
bool js_path_is_volatile(const char *path)
{
	const char *p = js_cfg.volatile_globs;
	char glob[256];

	while (*p) {
		const char *end = strchrnul(p, ':');
		size_t n = end - p;

		if (n && n < sizeof glob) {
			memcpy(glob, p, n);
			glob[n] = 0;
			if (fnmatch(glob, path, 0) == 0)
				return true;
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

__attribute__((constructor)) static void js_init(void)
{
	int saved = errno;

	js_config_load();
	js_resolve_all();
	/* Before the application opens anything: what a dead instance held
	 * and acknowledged as durable goes back into its files first. */
	if (js_recover_dir(js_cfg.state_dir, js_log) < 0)
		js_log("some hold journals in %s could not be replayed; run 'jetsnap recover'", js_cfg.state_dir);
	if (js_instance_start() == 0 && js_instance_is_root())
		js_control_start();
	errno = saved;
}
