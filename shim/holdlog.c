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

uint64_t js_hold_append(const struct js_rec *hdr, const struct iovec *iov, int cnt)
{
	uint64_t at = js_sh->tail;
	struct js_rec *rec;
	uint8_t *data;

	/* Past JETSNAP_MAX_JOURNAL the caller waits for the thaw instead. */
	if (at + rec_size(hdr->len) - JS_HEADER_SIZE > js_cfg.max_journal) {
		errno = ENOSPC;
		return 0;
	}
	if (js_instance_grow(at + rec_size(hdr->len)) < 0)
		return 0;
	rec = (struct js_rec *)(js_base + at);
	*rec = *hdr;
	rec->magic = JS_REC_MAGIC;
	rec->seq = ++js_sh->seq;
	rec->pid = js_my_pid;	/* cached: glibc makes getpid a system call */
	data = (uint8_t *)(rec + 1);
	for (int i = 0; i < cnt; i++) {
		memcpy(data, iov[i].iov_base, iov[i].iov_len);
		data += iov[i].iov_len;
	}
	rec->checksum = 0;
	rec->checksum = js_rec_checksum(rec, rec + 1);
	/* Readers in other processes walk up to the tail: publish it last. */
	__atomic_store_n(&js_sh->tail, at + rec_size(hdr->len), __ATOMIC_RELEASE);
	return at;
}

uint64_t js_hold_tail(void)
{
	return __atomic_load_n(&js_sh->tail, __ATOMIC_ACQUIRE);
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
	/* Give the pages back: the next freeze starts small again. */
	if (js_sh->file_size > JS_HEADER_SIZE + (16ull << 20) &&
	    REAL(ftruncate64)(js_instance_fd(), JS_HEADER_SIZE + (16ull << 20)) == 0)
		js_sh->file_size = JS_HEADER_SIZE + (16ull << 20);
}
