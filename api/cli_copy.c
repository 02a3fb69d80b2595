/*
 * cli_copy.c — "jetsnap snapshot --copy-to DIR": copies the frozen files
 * while the instances are frozen, as fast as their filesystem allows, so
 * that the freeze lasts as short a time as possible.  A reflink (FICLONE)
 * shares the blocks and takes milliseconds whatever the size; else
 * copy_file_range keeps the data in the kernel; else read and write.
 * Holes stay holes, and modes, owners (when root) and mtimes are kept.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *const how_name[COPY_NHOW] = {
	[COPY_REFLINK] = "reflink",
	[COPY_RANGE] = "copy_file_range",
	[COPY_READ_WRITE] = "read-write",
};

static bool dir_is_empty(const char *path, bool *empty)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return false;
	*empty = true;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			*empty = false;
			break;
		}
	}
	closedir(d);
	return true;
}

int cli_copy_prepare(const struct cli_command *cmd, const char *dir, struct copy_job *job)
{
	bool empty;

	memset(job, 0, sizeof(*job));
	if (!*dir)
		return cli_usage_error(cmd, "the --copy-to directory is empty");
	if (mkdir(dir, 0777) == 0) {
		job->created = true;
	} else if (errno != EEXIST) {
		return cli_fail(cmd, "cannot create '%s': %s", dir, strerror(errno));
	} else if (!dir_is_empty(dir, &empty)) {
		return cli_usage_error(cmd, "--copy-to '%s' is not a directory (%s)", dir,
				       strerror(errno));
	} else if (!empty) {
		/* Mixing an old copy with a new one would make neither valid. */
		return cli_usage_error(cmd, "--copy-to '%s' is not empty: copy into a new or "
				       "empty directory", dir);
	}
	job->dir = realpath(dir, NULL);
	if (!job->dir) {
		int rc = cli_fail(cmd, "cannot resolve '%s': %s", dir, strerror(errno));

		cli_copy_finish(cmd, job, false);
		return rc;
	}
	return CLI_OK;
}

/* Is path equal to dir (of length len) or beneath it? */
static bool is_within(const char *path, const char *dir, size_t len)
{
	if (len == 1 && dir[0] == '/')
		return true;
	return !strncmp(path, dir, len) && (path[len] == '/' || !path[len]);
}

/*
 * Refuses a DIR inside the directory of a frozen file: a database's own
 * directory is what the next snapshot copies, and an image inside it
 * would be copied into itself, or taken for a database file.
 */
static int check_outside(const struct cli_command *cmd, const struct copy_job *job,
			 const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *slash = strrchr(paths[i], '/');
		char *parent, *real;
		bool inside;

		if (!slash || paths[i][0] != '/')
			return cli_fail(cmd, "the frozen file '%s' has no absolute path", paths[i]);
		parent = strndup(paths[i], slash == paths[i] ? 1 : (size_t)(slash - paths[i]));
		if (!parent)
			return cli_fail(cmd, "out of memory");
		/* The shim may name a file through a symlink; DIR is resolved. */
		real = realpath(parent, NULL);
		inside = is_within(job->dir, real ? real : parent, strlen(real ? real : parent));
		if (inside) {
			int rc = cli_usage_error(cmd, "--copy-to '%s' is inside '%s', which holds "
						 "the frozen file '%s': copy to a directory "
						 "outside it", job->dir, real ? real : parent,
						 paths[i]);

			free(real);
			free(parent);
			return rc;
		}
		free(real);
		free(parent);
	}
	return CLI_OK;
}

/* The length of the deepest directory that holds every path ("/a/b"; 0 for "/"). */
static size_t common_root_len(const char *const *paths, size_t n)
{
	size_t len = strrchr(paths[0], '/') - paths[0];

	for (size_t i = 1; i < n; i++) {
		while (len && !(!strncmp(paths[i], paths[0], len) && paths[i][len] == '/')) {
			while (len && paths[0][--len] != '/')
				;
		}
	}
	return len;
}

/* mkdir -p for the directories of dst below the copy's DIR (dst[0..skip) exists). */
static int make_parents(char *dst, size_t skip)
{
	for (char *p = dst + skip + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		int rc = mkdir(dst, 0777);

		*p = '/';
		if (rc && errno != EEXIST)
			return -1;
	}
	return 0;
}

static ssize_t read_write(int in, int out, off_t off, size_t len)
{
	static char buf[1 << 20];
	ssize_t n = pread(in, buf, len < sizeof(buf) ? len : sizeof(buf), off);

	for (ssize_t done = 0, w; n > 0 && done < n; done += w) {
		w = pwrite(out, buf + done, n - done, off + done);
		if (w < 0)
			return -1;
	}
	return n;
}

/*
 * Copies [off, off + len).  copy_file_range is refused across filesystems
 * on some kernels and by some filesystems: then read and write, for this
 * file and the rest of it.
 */
static int copy_segment(int in, int out, off_t off, off_t len, enum copy_how *how)
{
	while (len > 0) {
		ssize_t n;

		if (*how == COPY_RANGE) {
			loff_t from = off, to = off;

			n = copy_file_range(in, &from, out, &to, len, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
				      errno == EOPNOTSUPP)) {
				*how = COPY_READ_WRITE;
				continue;
			}
		} else {
			n = read_write(in, out, off, len);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			/* Frozen files do not shrink; one that did is not an image. */
			errno = ESTALE;
			return -1;
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* Copies the data of in, segment by segment: what lies between is a hole. */
static int copy_data(int in, int out, off_t size, enum copy_how *how)
{
	off_t data = 0, hole;

	*how = COPY_RANGE;
	while (data < size) {
		data = lseek(in, data, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0 && errno == EINVAL && !data) {
			data = 0;	/* no SEEK_DATA here: all data */
			hole = size;
		} else if (data < 0 || (hole = lseek(in, data, SEEK_HOLE)) < 0) {
			return -1;
		}
		if (hole > size)
			hole = size;
		if (copy_segment(in, out, data, hole - data, how))
			return -1;
		data = hole;
	}
	/* The trailing hole, which no write made. */
	return ftruncate(out, size);
}

/* Copies src to dst; on failure, *op says which step failed (errno, why). */
static int copy_file(const char *src, const char *dst, struct copy_result *res, const char **op)
{
	int in, out = -1, ret = -1;
	struct stat st;

	*op = "open";
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	*op = "stat";
	if (fstat(in, &st))
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		*op = "copy (not a regular file)";
		goto out;
	}
	*op = "create";
	/* Private until its mode is set: the data may be private too. */
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		goto out;
	res->bytes = st.st_size;
	*op = "copy";
	if (ioctl(out, FICLONE, in) == 0)
		res->how = COPY_REFLINK;
	else if (copy_data(in, out, st.st_size, &res->how))
		goto out;
	*op = "set the owner, mode and times of";
	/* chown first: it clears set-id bits that fchmod then restores. */
	if (geteuid() == 0 && fchown(out, st.st_uid, st.st_gid))
		goto out;
	if (fchmod(out, st.st_mode & 07777))
		goto out;
	/* Last: any write after it would move the mtime again. */
	if (futimens(out, (struct timespec[2]){ st.st_atim, st.st_mtim }))
		goto out;
	ret = 0;
out:
	if (out >= 0 && close(out) && !ret) {
		*op = "close";
		ret = -1;
	}
	close(in);
	return ret;
}

int cli_copy_run(const struct cli_command *cmd, struct copy_job *job,
		 const char *const *paths, size_t n)
{
	size_t root, dirlen = strlen(job->dir);
	const char *op;
	int rc;

	if (!n)
		return CLI_OK;
	rc = check_outside(cmd, job, paths, n);
	if (rc)
		return rc;
	job->results = calloc(n, sizeof(*job->results));
	if (!job->results)
		return cli_fail(cmd, "out of memory");
	root = common_root_len(paths, n);
	for (size_t i = 0; i < n; i++) {
		struct copy_result *r = &job->results[i];

		if (asprintf(&r->dst, "%s%s", job->dir, paths[i] + root) < 0) {
			r->dst = NULL;
			return cli_fail(cmd, "out of memory");
		}
		r->src = paths[i];
		job->n = i + 1;
		if (make_parents(r->dst, dirlen)) {
			op = "create the directories of";
			goto fail;
		}
		if (copy_file(paths[i], r->dst, r, &op))
			goto fail;
	}
	return CLI_OK;
fail:
	return cli_fail(cmd, "cannot %s '%s' (copying '%s'): %s", op, job->results[job->n - 1].dst,
			job->results[job->n - 1].src, strerror(errno));
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

void cli_copy_finish(const struct cli_command *cmd, struct copy_job *job, bool keep)
{
	uint64_t total = 0;
	size_t count[COPY_NHOW] = { 0 };

	if (job->dir && keep) {
		for (size_t i = 0; i < job->n; i++) {
			const struct copy_result *r = &job->results[i];

			printf("%s -> %s: %" PRIu64 " bytes by %s\n", r->src, r->dst, r->bytes,
			       how_name[r->how]);
			total += r->bytes;
			count[r->how]++;
		}
		printf("copied %zu file%s, %" PRIu64 " bytes, into %s: %zu by %s, %zu by %s, "
		       "%zu by %s\n", job->n, job->n == 1 ? "" : "s", total, job->dir,
		       count[COPY_REFLINK], how_name[COPY_REFLINK], count[COPY_RANGE],
		       how_name[COPY_RANGE], count[COPY_READ_WRITE], how_name[COPY_READ_WRITE]);
		/* After the thaw: durability costs the copy, not the freeze. */
		int fd = open(job->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || syncfs(fd))
			cli_fail(cmd, "cannot sync the copy in '%s': %s", job->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else if (job->dir) {
		/* A partial or invalid image must not pass for a backup. */
		nftw(job->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		if (job->created)
			rmdir(job->dir);
		else if (job->n)
			fprintf(stderr, "jetsnap %s: removed the incomplete copy from '%s'\n",
				cmd->name, job->dir);
	}
	for (size_t i = 0; i < job->n; i++)
		free(job->results[i].dst);
	free(job->results);
	free(job->dir);
	memset(job, 0, sizeof(*job));
}
