/*
 * journal_cache.h — how much of the hold journals is in the page cache.
 *
 * The shim appends held data to the journal ($JETSNAP_STATE_DIR/<pid>.inst)
 * with pwritev, so held bytes are resident as that file's page cache, not as
 * the writer's mappings: memory tests and benchmarks add this to VmRSS.
 * Every .inst file of the directory counts (give each run its own).
 * Shared by tests/memory_bound.c and scripts/bench/jsbench.c.
 */
#ifndef JETSNAP_TESTS_JOURNAL_CACHE_H
#define JETSNAP_TESTS_JOURNAL_CACHE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* KiB of dir's journals in the page cache, or -1 if dir cannot be read. */
static inline long journal_cached_kib(const char *dir)
{
	unsigned char vec[4096];
	char path[4096];
	long pages = 0;
	struct dirent *d;
	DIR *dp;

	if (!dir || !(dp = opendir(dir)))
		return -1;
	while ((d = readdir(dp))) {
		struct stat st;
		uint8_t *map;
		int fd;

		if (!strstr(d->d_name, ".inst"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, d->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && st.st_size > 0 &&
		    (map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0)) != MAP_FAILED) {
			for (off_t at = 0; at < st.st_size; at += (off_t)sizeof vec * 4096) {
				size_t len = (size_t)(st.st_size - at);

				if (len > sizeof vec * 4096)
					len = sizeof vec * 4096;
				if (mincore(map + at, len, vec) == 0)
					for (size_t i = 0; i < (len + 4095) / 4096; i++)
						pages += vec[i] & 1;
			}
			munmap(map, st.st_size);
		}
		close(fd);
	}
	closedir(dp);
	return pages * 4;
}

#endif
