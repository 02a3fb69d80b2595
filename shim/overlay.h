/*
 * The read overlay: for one held file, an ordered map from file offset to
 * the newest held bytes.  Overlapping inserts split or drop older extents,
 * so a lookup sees exactly what the application last wrote there.
 *
 * Extents point at bytes the caller keeps alive (the hold log's mapping);
 * the overlay never copies data.  Nodes come from mmap'd chunks, never from
 * malloc: the overlay is used inside interposed calls.  One overlay is not
 * thread-safe (its users hold the shim's hold lock); the node pool is.
 */
#ifndef JETSNAP_OVERLAY_H
#define JETSNAP_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

struct overlay;

struct overlay *overlay_new(void);
void overlay_after_fork(void);	/* in a fork child: reset the pool's lock */
void overlay_free(struct overlay *ov);
/* Drop every extent; the overlay stays usable. */
void overlay_clear(struct overlay *ov);
/* Record that [off, off+len) now holds data[0..len).  0, or -1 (ENOMEM). */
int overlay_insert(struct overlay *ov, uint64_t off, uint64_t len, const void *data);
/* Copy the held bytes that overlap [off, off+len) onto buf (buf[0] is off). */
void overlay_apply(const struct overlay *ov, uint64_t off, uint64_t len, void *buf);
/* Drop every held byte at or past len (a held truncate). */
void overlay_truncate(struct overlay *ov, uint64_t len);
/* One past the last held byte, 0 if empty. */
uint64_t overlay_end(const struct overlay *ov);
/* Number of extents, and the number of distinct bytes they cover. */
size_t overlay_count(const struct overlay *ov);
uint64_t overlay_bytes(const struct overlay *ov);
/*
 * The first held byte at or after off, or UINT64_MAX if none (SEEK_DATA).
 */
uint64_t overlay_next_data(const struct overlay *ov, uint64_t off);
/*
 * Call fn for every extent in offset order, until it returns non-zero;
 * returns that value, or 0.
 */
typedef int overlay_walk_fn(uint64_t off, uint64_t len, const void *data, void *arg);
int overlay_walk(const struct overlay *ov, overlay_walk_fn *fn, void *arg);

#endif
