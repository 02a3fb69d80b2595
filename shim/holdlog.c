/*
 * Appending to and walking the hold log.  See holdlog.h.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "holdlog.h"
#include "instance.h"
#include "shim.h"

static uint64_t rec_size(uint64_t len)
{
	return sizeof(struct js_rec) + ((len + 7) & ~7ull);
}

int js_pwritev_all(int fd, struct iovec *v, int n, uint64_t at)
{
	while (n > 0) {
		ssize_t done = REAL(pwritev64)(fd, v, n, at);

		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0) {
			if (done == 0)
				errno = ENOSPC;
			return -1;
		}
		at += done;
		for (; n > 0 && (size_t)done >= v->iov_len; v++, n--)
			done -= v->iov_len;
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + done;
			v->iov_len -= done;
		}
	}
	return 0;
}

uint64_t js_hold_append(const struct js_rec *hdr, const struct iovec *iov, int cnt)
{
	static const uint8_t pad[8];
	uint64_t at = js_sh->tail, size = rec_size(hdr->len), pos;
	struct js_rec rec = *hdr;
	struct iovec v[64];
	struct js_sum sum;
	int n = 0;

	/* Past JETSNAP_MAX_JOURNAL the caller waits for the thaw instead. */
	if (at + size - JS_HEADER_SIZE > js_cfg.max_journal) {
		errno = ENOSPC;
		return 0;
	}
	if (js_instance_grow(at + size) < 0)
		return 0;
	rec.magic = JS_REC_MAGIC;
	rec.seq = js_sh->seq + 1;
	rec.pid = js_my_pid;	/* cached: glibc makes getpid a system call */
	rec.checksum = 0;
	js_sum_init(&sum);
	js_sum_update(&sum, &rec, sizeof rec);
	for (int i = 0; i < cnt; i++)
		js_sum_update(&sum, iov[i].iov_base, iov[i].iov_len);
	rec.checksum = js_sum_final(&sum);

	/* Header, data, padding; a writev with more vectors than v holds
	 * goes out in several calls. */
	v[n++] = (struct iovec){ &rec, sizeof rec };
	pos = at;
	for (int i = 0; i <= cnt; i++) {
		if (i < cnt && iov[i].iov_len)
			v[n++] = iov[i];
		else if (i == cnt && size > sizeof rec + hdr->len)
			v[n++] = (struct iovec){ (void *)pad, size - sizeof rec - hdr->len };
		if (n == 64 || (i == cnt && n)) {
			uint64_t bytes = 0;

			for (int k = 0; k < n; k++)
				bytes += v[k].iov_len;
			if (js_pwritev_all(js_instance_fd(), v, n, pos) < 0)
				return 0;
			pos += bytes;
			n = 0;
		}
	}
	js_sh->seq = rec.seq;
	/* Readers in other processes walk up to the tail: publish it last. */
	__atomic_store_n(&js_sh->tail, at + size, __ATOMIC_RELEASE);
	return at;
}

uint64_t js_hold_tail(void)
{
	return __atomic_load_n(&js_sh->tail, __ATOMIC_ACQUIRE);
}

uint64_t js_hold_next(uint64_t pos, uint64_t len)
{
	return pos + rec_size(len);
}

uint64_t js_hold_begin(void)
{
	return JS_HEADER_SIZE;
}

const struct js_rec *js_hold_at(uint64_t pos, uint64_t *next)
{
	const struct js_rec *rec = (const struct js_rec *)(js_base + pos);

	*next = pos + rec_size(rec->len);
	return rec;
}

void js_hold_reset(void)
{
	js_sh->tail = JS_HEADER_SIZE;
}
