/*
 * The hold log: held mutations as records appended after the instance
 * file's shared header (instance.h), so every process of the instance sees
 * every record; the drain replays them in order, and so will crash
 * recovery.
 *
 * Record layout (8-byte aligned): struct js_rec, then `len` data bytes,
 * padded to 8.  Callers hold the instance lock.
 */
#ifndef JETSNAP_HOLDLOG_H
#define JETSNAP_HOLDLOG_H

#include <stdint.h>
#include <sys/uio.h>

#define JS_REC_MAGIC 0x4a535243u	/* "JSRC" */

enum js_rec_op {
	JS_REC_FILE = 1,	/* declares file index `file`: data = its path */
	JS_REC_WRITE,		/* data written at `off` of file `file` */
	JS_REC_TRUNCATE,	/* file `file` cut or extended to size `off` */
};

struct js_rec {
	uint32_t magic;
	uint32_t op;
	uint64_t seq;
	uint64_t dev, ino;	/* the file's identity */
	uint32_t file;		/* index into the instance's file table */
	uint32_t checksum;	/* of the data, for the journal's torn-tail check */
	uint64_t off;
	uint64_t len;
	int32_t pid;		/* who made it */
	uint32_t reserved;
};

/*
 * The record's checksum covers its header (with checksum 0) and data, so
 * recovery can tell a torn last record — one that was never acknowledged —
 * from a whole one.  A word-at-a-time multiply-xor hash: cheap, and any
 * torn write changes it.
 */
static inline uint32_t js_rec_checksum(const struct js_rec *rec, const void *data)
{
	struct js_rec h = *rec;
	uint64_t x = 0x9e3779b97f4a7c15ull, w;
	const uint8_t *p;
	uint64_t n;

	h.checksum = 0;
	for (int pass = 0; pass < 2; pass++) {
		p = pass ? (const uint8_t *)data : (const uint8_t *)&h;
		n = pass ? rec->len : sizeof h;
		for (; n >= 8; n -= 8, p += 8) {
			__builtin_memcpy(&w, p, 8);
			x = (x ^ w) * 0xff51afd7ed558ccdull;
			x ^= x >> 29;
		}
		for (; n; n--, p++)
			x = (x ^ *p) * 0xc4ceb9fe1a85ec53ull;
	}
	return (uint32_t)(x ^ (x >> 32));
}

/* Append a record; returns its offset in the log, or 0 (errno set). */
uint64_t js_hold_append(const struct js_rec *hdr, const struct iovec *iov, int cnt);
uint64_t js_hold_tail(void);		/* end of the last record */
uint64_t js_hold_begin(void);		/* where the first record starts */
const struct js_rec *js_hold_at(uint64_t pos, uint64_t *next);
void js_hold_reset(void);		/* forget every record (after a drain) */

#endif
