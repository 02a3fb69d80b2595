/*
 * The runtime directory, where instances serve their control sockets and
 * sessions live, and the per-thread reason of the last failure.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libjetsnap-int.h"

static __thread char reason[JS_REASON_MAX + 256];

void reason_clear(void)
{
	reason[0] = '\0';
}

JET_ERR fail(JET_ERR err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* The reason is one line: a newline would break the CLI's output. */
	for (char *p = reason; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return err;
}

bool reason_is_set(void)
{
	return reason[0] != '\0';
}

const char *reason_get(void)
{
	return reason;
}

/* Resolve the directory's name the way the shim does (protocol.h). */
static JET_ERR runtime_dir_name(char *buf, size_t len)
{
	const char *env = getenv("JETSNAP_RUNTIME_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (xdg && *xdg)
		n = snprintf(buf, len, "%s/jetsnap", xdg);
	else
		n = snprintf(buf, len, "/tmp/jetsnap-%u", (unsigned)getuid());
	if (n < 0 || (size_t)n >= len)
		return fail(JET_errNotInitialized,
			    "runtime directory name is too long: set JETSNAP_RUNTIME_DIR to a short path");
	/* A trailing slash would double up in socket paths, which are short. */
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	return JET_errSuccess;
}

/*
 * Create dir (mode 0700) unless it exists, then make sure nobody else can
 * plant sockets or session files in it: it must be a real directory owned
 * by us and closed to group and others.
 */
static JET_ERR private_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(JET_errNotInitialized,
			    "cannot create runtime directory %s: %s: create it (mode 0700) or set JETSNAP_RUNTIME_DIR",
			    dir, strerror(errno));
	if (lstat(dir, &st) < 0)
		return fail(JET_errNotInitialized, "cannot examine runtime directory %s: %s",
			    dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(JET_errNotInitialized,
			    "runtime directory %s is not a directory: remove it or set JETSNAP_RUNTIME_DIR",
			    dir);
	if (st.st_uid != geteuid())
		return fail(JET_errNotInitialized,
			    "runtime directory %s belongs to uid %u, not to you (uid %u): set JETSNAP_RUNTIME_DIR to a directory of your own",
			    dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return fail(JET_errNotInitialized,
			    "runtime directory %s is open to other users (mode %04o): run 'chmod 700 %s'",
			    dir, (unsigned)(st.st_mode & 07777), dir);
	return JET_errSuccess;
}

JET_ERR runtime_dir(char *buf, size_t len)
{
	char sessions[4200];
	JET_ERR err;

	err = runtime_dir_name(buf, len);
	if (err)
		return err;
	err = private_dir(buf);
	if (err)
		return err;
	snprintf(sessions, sizeof(sessions), "%s/sessions", buf);
	return private_dir(sessions);
}
