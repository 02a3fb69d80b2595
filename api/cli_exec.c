/*
 * cli_exec.c — jetsnap exec and jetsnap shim-path: find the preload shim
 * and start a program under it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "recover.h"

#ifndef JETSNAP_PKGLIBDIR
#error "build with -DJETSNAP_PKGLIBDIR='\"$(pkglibdir)\"' (api/cli.mk does)"
#endif

#define SHIM_NAME "libjetsnap-shim.so"

static int is_file(const char *path)
{
	return access(path, R_OK) == 0;
}

/*
 * The shim next to a jetsnap run from its build tree.  libtool puts the
 * real binary in .libs/ (behind a wrapper script) and the shim in
 * <builddir>/.libs/, so both <exe dir>/.libs/ and, when the exe itself is in
 * .libs/, <exe dir>/ are the build tree's.
 */
static int build_tree_shim(char *path, size_t size)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (len <= 0)
		return 0;
	exe[len] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	if (snprintf(path, size, "%s/.libs/" SHIM_NAME, exe) < (int)size && is_file(path))
		return 1;
	slash = strrchr(exe, '/');
	if (slash && !strcmp(slash + 1, ".libs") &&
	    snprintf(path, size, "%s/" SHIM_NAME, exe) < (int)size && is_file(path))
		return 1;
	return 0;
}

/* Fills path with the absolute path of the shim, or explains why it can't. */
static int find_shim(const struct cli_command *cmd, char *path, size_t size)
{
	const char *env = getenv("JETSNAP_SHIM");

	if (env && *env) {
		if (!realpath(env, path) || !is_file(path))
			return cli_fail(cmd, "JETSNAP_SHIM='%s' is not a readable file: "
					"point it at libjetsnap-shim.so, or unset it", env);
		return CLI_OK;
	}
	if (build_tree_shim(path, size))
		return CLI_OK;
	if (snprintf(path, size, "%s/" SHIM_NAME, JETSNAP_PKGLIBDIR) < (int)size && is_file(path))
		return CLI_OK;
	return cli_fail(cmd, "the shim is not installed in %s nor built next to this jetsnap: "
			"run 'make install', or set JETSNAP_SHIM to libjetsnap-shim.so",
			JETSNAP_PKGLIBDIR);
}

int cmd_shim_path(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char path[PATH_MAX];
	int c, rc;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(cmd);
		return cli_bad_option(cmd, c, argv);
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	rc = find_shim(cmd, path, sizeof(path));
	if (rc)
		return rc;
	printf("%s\n", path);
	return CLI_OK;
}

/* Is shim already one of the colon- or space-separated entries of list? */
static int preload_has(const char *list, const char *shim)
{
	size_t len = strlen(shim);

	for (const char *p = list; (p = strstr(p, shim)); p += len) {
		int starts = p == list || p[-1] == ':' || p[-1] == ' ';
		int ends = p[len] == '\0' || p[len] == ':' || p[len] == ' ';

		if (starts && ends)
			return 1;
	}
	return 0;
}

/* Puts the shim first in LD_PRELOAD, keeping what the user preloads already. */
static int set_preload(const struct cli_command *cmd, const char *shim)
{
	const char *old = getenv("LD_PRELOAD");
	char *value = NULL;
	int failed;

	if (old && *old && preload_has(old, shim))
		return CLI_OK;
	if (old && *old) {
		if (asprintf(&value, "%s:%s", shim, old) < 0)
			return cli_fail(cmd, "out of memory");
		failed = setenv("LD_PRELOAD", value, 1);
		free(value);
	} else {
		failed = setenv("LD_PRELOAD", shim, 1);
	}
	return failed ? cli_fail(cmd, "cannot set LD_PRELOAD: %s", strerror(errno)) : CLI_OK;
}

/*
 * The hold journal must lie outside the held files (SPEC "No data lost"):
 * a copy of the data would otherwise carry a half-written journal, and a
 * restore would replay it.  Only JETSNAP_PATHS says in advance what is held.
 */
static int check_state_dir(const struct cli_command *cmd)
{
	const char *paths = getenv("JETSNAP_PATHS");
	char state[512], dir[PATH_MAX];

	if (!paths || !*paths)
		return CLI_OK;
	js_state_dir_from_env(state, sizeof(state));
	if (!realpath(state, dir))
		snprintf(dir, sizeof(dir), "%s", state);
	for (const char *p = paths; *p;) {
		const char *end = strchrnul(p, ':');
		size_t n = end - p;

		while (n > 1 && p[n - 1] == '/')
			n--;
		if (n && strncmp(dir, p, n) == 0 && (dir[n] == '/' || dir[n] == 0))
			return cli_fail(cmd, "the state directory %s lies inside JETSNAP_PATHS (%.*s): "
				       "set JETSNAP_STATE_DIR to a directory outside the held files", dir,
				       (int)n, p);
		p = *end ? end + 1 : end;
	}
	return CLI_OK;
}

int cmd_exec(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *instance = NULL;
	char shim[PATH_MAX];
	int c, rc;

	/* '+': stop at CMD, whose own options are not ours. */
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!*optarg)
				return cli_usage_error(cmd, "the instance name is empty");
			instance = optarg;
			break;
		case 'h':
			return cli_help(cmd);
		default:
			return cli_bad_option(cmd, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "no command to run");
	rc = find_shim(cmd, shim, sizeof(shim));
	if (rc)
		return rc;
	rc = check_state_dir(cmd);
	if (rc)
		return rc;
	rc = set_preload(cmd, shim);
	if (rc)
		return rc;
	/* A new instance, even when run from inside one: an inherited
	 * instance file would make CMD join the caller's process tree. */
	unsetenv("JETSNAP_INSTANCE_FILE");
	if (instance && setenv("JETSNAP_INSTANCE", instance, 1))
		return cli_fail(cmd, "cannot set JETSNAP_INSTANCE: %s", strerror(errno));
	fflush(NULL);
	execvp(argv[optind], argv + optind);
	/* As env(1) and the shells do: 127 not found, 126 found but not runnable. */
	rc = errno == ENOENT ? 127 : 126;
	cli_fail(cmd, "cannot run '%s': %s", argv[optind], strerror(errno));
	return rc;
}
