/*
 * The shim's diagnostics go to JETSNAP_LOG when it is set, and nowhere
 * else: the application's stdout and stderr are not ours.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

void js_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, fd;

	if (!js_cfg.log_path[0])
		return;
	n = snprintf(line, sizeof line, "jetsnap[%d] %llu ", (int)getpid(),
		     (unsigned long long)js_now_us());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* Opened per line: the log is rare, and a kept fd could be closed or
	 * reused by the application. */
	fd = REAL(open)(js_cfg.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	(void)!REAL(write)(fd, line, n);
	REAL(close)(fd);
}
