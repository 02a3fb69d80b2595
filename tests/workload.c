/*
 * workload.c — the common part of the database writers (tests/workload.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

const char *wl_prog, *wl_usage;
volatile sig_atomic_t wl_stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	wl_stop_requested = 1;
}

void wl_install_stop_handlers(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

void die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", wl_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

void usage(void)
{
	fputs(wl_usage, stderr);
	exit(EXIT_USAGE);
}

const char *wl_next_option(int argc, char **argv, int *i, const char **positional,
			   const char **val)
{
	for (; *i < argc; ++*i) {
		const char *a = argv[*i];

		if (a[0] != '-') {
			if (*positional)
				usage();
			*positional = a;
			continue;
		}
		if (*i + 1 >= argc)
			usage();
		*val = argv[*i + 1];
		*i += 2;
		return a;
	}
	return NULL;
}

long long wl_count(const char *opt, const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < 0)
		die(EXIT_USAGE, "%s wants a non-negative integer, not '%s'", opt, s);
	return v;
}

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int wl_open_ack(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		die(EXIT_SQL, "cannot open the ack file %s: %s", path, strerror(errno));
	return fd;
}

void wl_ack(int fd, long long id)
{
	char line[64];
	int len = snprintf(line, sizeof(line), "%lld %llu\n", id,
			   (unsigned long long)monotonic_ns());
	ssize_t n;

	do
		n = write(fd, line, len);
	while (n < 0 && errno == EINTR);
	if (n != len)
		die(EXIT_SQL, "cannot append to the ack file: %s", n < 0 ? strerror(errno) : "short write");
}
