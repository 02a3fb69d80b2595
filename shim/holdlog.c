/*
 * The hold log file and its mapping.  See holdlog.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "holdlog.h"
#include "shim.h"

/*
 * The whole log is one reserved range of address space: records never move,
 * so the read overlay can point into it.  The file grows under it in steps;
 * nothing touches a page past the file's end (that would SIGBUS).
 */
#define RESERVE   (64ull << 30)
#define GROW_STEP (16ull << 20)
#define HEADER    4096ull

struct log_header {
	uint64_t magic;
	uint64_t version;
	uint64_t tail;
	uint64_t seq;
};

static int log_fd = -1;
static uint8_t *base;
static uint64_t file_size;

int js_hold_fd(void)
{
	return log_fd;
}

static struct log_header *header(void)
{
	return (struct log_header *)base;
}

static int grow_to(uint64_t need)
{
	uint64_t size = file_size;

	while (size < need)
		size += GROW_STEP;
	if (size > RESERVE) {
		errno = EFBIG;
		return -1;
	}
	if (size != file_size) {
		if (REAL(ftruncate64)(log_fd, size) < 0)
			return -1;
		file_size = size;
	}
	return 0;
}

int js_hold_open(char *err, size_t errlen)
{
	char path[512];
	void *map;

	if (base)
		return 0;
	snprintf(path, sizeof path, "%s/%d.hold", js_cfg.state_dir, (int)getpid());
	REAL(mkdir)(js_cfg.state_dir, 0700);
	log_fd = REAL(open)(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		snprintf(err, errlen, "cannot create the hold log %s: %s (set JETSNAP_STATE_DIR to a writable directory outside the held files)",
			 path, strerror(errno));
		return -1;
	}
	map = (void *)syscall(SYS_mmap, NULL, RESERVE, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_NORESERVE, log_fd, 0);
	if (map == MAP_FAILED || grow_to(GROW_STEP) < 0) {
		snprintf(err, errlen, "cannot map the hold log %s: %s", path, strerror(errno));
		if (map != MAP_FAILED)
			syscall(SYS_munmap, map, RESERVE);
		REAL(close)(log_fd);
		log_fd = -1;
		return -1;
	}
	base = map;
	header()->magic = 0x4a4554534e4150ull;	/* "JETSNAP" */
	header()->version = 1;
	header()->tail = HEADER;
	js_log("hold log %s", path);
	return 0;
}

const void *js_hold_append(const struct js_rec *hdr, const struct iovec *iov, int cnt)
{
	uint64_t at = header()->tail;
	uint64_t size = sizeof *hdr + ((hdr->len + 7) & ~7ull);
	struct js_rec *rec;
	uint8_t *data;

	if (grow_to(at + size) < 0)
		return NULL;
	rec = (struct js_rec *)(base + at);
	*rec = *hdr;
	rec->magic = JS_REC_MAGIC;
	rec->seq = ++header()->seq;
	data = (uint8_t *)(rec + 1);
	for (int i = 0; i < cnt; i++) {
		memcpy(data, iov[i].iov_base, iov[i].iov_len);
		data += iov[i].iov_len;
	}
	header()->tail = at + size;
	return rec + 1;
}

uint64_t js_hold_tail(void)
{
	return base ? header()->tail : HEADER;
}

uint64_t js_hold_begin(void)
{
	return HEADER;
}

const struct js_rec *js_hold_at(uint64_t pos, uint64_t *next)
{
	const struct js_rec *rec = (const struct js_rec *)(base + pos);

	*next = pos + sizeof *rec + ((rec->len + 7) & ~7ull);
	return rec;
}

void js_hold_reset(void)
{
	if (!base)
		return;
	header()->tail = HEADER;
	/* Give the pages back: the next freeze starts small again. */
	if (file_size > GROW_STEP && REAL(ftruncate64)(log_fd, GROW_STEP) == 0)
		file_size = GROW_STEP;
}
