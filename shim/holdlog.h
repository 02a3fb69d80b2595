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
	JS_REC_BARRIER,		/* the application made what precedes durable */
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
 * from a whole one.  Any torn write changes it; it is not a defence against
 * an adversary.
 *
 * Version 2 (JS_INSTANCE_VERSION 2) hashes 64-byte blocks in eight
 * independent multiply-xor lanes, so the CPU runs them in parallel: a held
 * 4 KiB write pays ~0.2 µs for it instead of ~1 µs for the single dependent
 * chain of version 1, which recovery still reads.  It is computed while the
 * data is still in the caller's buffers (js_sum_update per iovec).
 */
struct js_sum {
	uint64_t lane[8];
	uint64_t total;
	uint8_t part[64];
	uint32_t npart;
};

static inline uint64_t js_sum_mix(uint64_t x, uint64_t w)
{
	x = (x ^ w) * 0xff51afd7ed558ccdull;
	return x ^ (x >> 29);
}

static inline void js_sum_block(struct js_sum *s, const uint8_t *p)
{
	for (int k = 0; k < 8; k++) {
		uint64_t w;

		__builtin_memcpy(&w, p + 8 * k, 8);
		s->lane[k] = js_sum_mix(s->lane[k], w);
	}
}

static inline void js_sum_init(struct js_sum *s)
{
	for (int k = 0; k < 8; k++)
		s->lane[k] = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
	s->total = 0;
	s->npart = 0;
}

static inline void js_sum_update(struct js_sum *s, const void *data, uint64_t n)
{
	const uint8_t *p = data;

	s->total += n;
	if (s->npart) {
		uint64_t take = 64 - s->npart < n ? 64 - s->npart : n;

		__builtin_memcpy(s->part + s->npart, p, take);
		s->npart += take;
		p += take;
		n -= take;
		if (s->npart < 64)
			return;
		js_sum_block(s, s->part);
		s->npart = 0;
	}
	for (; n >= 64; n -= 64, p += 64)
		js_sum_block(s, p);
	__builtin_memcpy(s->part, p, n);
	s->npart = n;
}

static inline uint32_t js_sum_final(struct js_sum *s)
{
	uint64_t x = s->total;

	if (s->npart) {
		__builtin_memset(s->part + s->npart, 0, 64 - s->npart);
		js_sum_block(s, s->part);
	}
	for (int k = 0; k < 8; k++)
		x = js_sum_mix(x, s->lane[k]);
	return (uint32_t)(x ^ (x >> 32));
}

/* The checksum of a record whose data follows it contiguously. */
static inline uint32_t js_rec_checksum(const struct js_rec *rec, const void *data)
{
	struct js_rec h = *rec;
	struct js_sum s;

	h.checksum = 0;
	js_sum_init(&s);
	js_sum_update(&s, &h, sizeof h);
	js_sum_update(&s, data, rec->len);
	return js_sum_final(&s);
}

/* Version 1's checksum: one dependent chain; kept to replay old journals. */
static inline uint32_t js_rec_checksum_v1(const struct js_rec *rec, const void *data)
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

/*
 * Append a record with pwritev at the tail: the kernel copies the data into
 * the log's page cache the way a plain pwrite would, with no page fault on
 * the mapping.  Returns its offset in the log, or 0 (errno set).
 */
uint64_t js_hold_append(const struct js_rec *hdr, const struct iovec *iov, int cnt);
/* pwritev all of v[0..n) (it may come back short on a full disk);
 * v is consumed.  0, or -1 with errno set. */
int js_pwritev_all(int fd, struct iovec *v, int n, uint64_t at);
uint64_t js_hold_tail(void);		/* end of the last record */
uint64_t js_hold_begin(void);		/* where the first record starts */
uint64_t js_hold_next(uint64_t pos, uint64_t len);	/* after a record of len bytes */
const struct js_rec *js_hold_at(uint64_t pos, uint64_t *next);
void js_hold_reset(void);		/* forget every record (after a drain) */

#endif
