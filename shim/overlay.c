/*
 * The read overlay (see overlay.h): a treap of non-overlapping extents keyed
 * by file offset.
 *
 * Why a treap: split and merge make "drop everything inside [off, end)" one
 * split pair plus a walk over the dropped nodes, so an insert costs
 * O(log n + k) for k displaced extents, with no rebalancing cases and no
 * recursion on the update path.  Priorities come from a per-overlay xorshift
 * generator with a fixed seed, so runs are reproducible; they do not depend
 * on the offsets, so no write pattern can degrade the tree.
 *
 * Why no malloc: the overlay is updated inside interposed calls, possibly in
 * a signal handler or between fork() and exec(), where malloc's lock may be
 * held.  Nodes come from a process-wide pool of mmap'd chunks.  The caller's
 * hold lock serialises the calls on the read views, but the drain's overlay
 * is used beside them, so the pool has a lock of its own (pool.lock).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "overlay.h"

struct extent {
	uint64_t off;
	uint64_t len;
	const uint8_t *data;
	struct extent *left, *right;
	uint32_t prio;			/* max-heap order */
};

struct overlay {
	struct extent *root;
	size_t count;
	uint64_t bytes;
	/*
	 * Held bytes never become unheld until a clear, so the end only grows
	 * and can be kept exact without a tree walk.
	 */
	uint64_t end;
	uint32_t rng;
};

/* Both kinds of object come from one pool of equal slots. */
union slot {
	struct extent extent;
	struct overlay overlay;
	union slot *next_free;
};

#define POOL_FIRST_CHUNK	(64u << 10)
#define POOL_MAX_CHUNK		(4u << 20)
#define RNG_SEED		0x9e3779b9u

/*
 * One pool for the process.  Overlays are used under the hold lock, except
 * the drain's, which runs beside writers: the pool has a lock of its own.
 */
static struct {
	pthread_mutex_t lock;
	union slot *free;
	char *cur, *limit;		/* unused tail of the newest chunk */
	size_t next_chunk;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* In a fork child, whatever thread held the pool lock is gone. */
void overlay_after_fork(void)
{
	pthread_mutex_init(&pool.lock, NULL);
}

/*
 * The shim interposes mmap; calling it by name would re-enter the shim from
 * inside the hold lock.
 */
static void *raw_mmap_anon(size_t size)
{
#ifdef SYS_mmap2
	long p = syscall(SYS_mmap2, NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
#else
	long p = syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
#endif
	return p == -1 ? NULL : (void *)p;
}

static void *pool_get_locked(void)
{
	union slot *s = pool.free;

	if (s) {
		pool.free = s->next_free;
		return s;
	}
	if ((size_t)(pool.limit - pool.cur) < sizeof(*s)) {
		size_t size = pool.next_chunk ? pool.next_chunk : POOL_FIRST_CHUNK;
		char *chunk = raw_mmap_anon(size);

		if (!chunk) {
			errno = ENOMEM;
			return NULL;
		}
		/* The old tail (smaller than a slot) is simply abandoned. */
		pool.cur = chunk;
		pool.limit = chunk + size;
		if (size < POOL_MAX_CHUNK)
			pool.next_chunk = size * 2;
		else
			pool.next_chunk = size;
	}
	s = (union slot *)pool.cur;
	pool.cur += sizeof(*s);
	return s;
}

static void *pool_get(void)
{
	void *s;

	pthread_mutex_lock(&pool.lock);
	s = pool_get_locked();
	pthread_mutex_unlock(&pool.lock);
	return s;
}

static void pool_put(void *p)
{
	union slot *s = p;

	pthread_mutex_lock(&pool.lock);
	s->next_free = pool.free;
	pool.free = s;
	pthread_mutex_unlock(&pool.lock);
}

static uint64_t extent_end(const struct extent *e)
{
	return e->off + e->len;
}

static struct extent *extent_new(struct overlay *ov)
{
	struct extent *e = pool_get();

	if (!e)
		return NULL;
	/* xorshift32: cheap, deterministic, never 0 from a non-zero seed */
	ov->rng ^= ov->rng << 13;
	ov->rng ^= ov->rng >> 17;
	ov->rng ^= ov->rng << 5;
	e->prio = ov->rng;
	e->left = e->right = NULL;
	return e;
}

/* Split t into keys < key (*lo) and keys >= key (*hi). */
static void treap_split(struct extent *t, uint64_t key,
			struct extent **lo, struct extent **hi)
{
	while (t) {
		if (t->off < key) {
			*lo = t;
			lo = &t->right;
			t = t->right;
		} else {
			*hi = t;
			hi = &t->left;
			t = t->left;
		}
	}
	*lo = NULL;
	*hi = NULL;
}

/* Join two treaps where every key of a is below every key of b. */
static struct extent *treap_merge(struct extent *a, struct extent *b)
{
	struct extent *root, **link = &root;

	while (a && b) {
		if (a->prio >= b->prio) {
			*link = a;
			link = &a->right;
			a = a->right;
		} else {
			*link = b;
			link = &b->left;
			b = b->left;
		}
	}
	*link = a ? a : b;
	return root;
}

static struct extent *treap_max(struct extent *t)
{
	while (t && t->right)
		t = t->right;
	return t;
}

/* Unlink and return the node with the largest key, NULL if t is empty. */
static struct extent *treap_pop_max(struct extent **t)
{
	struct extent **link = t, *e;

	if (!*t)
		return NULL;
	while ((*link)->right)
		link = &(*link)->right;
	e = *link;
	*link = e->left;
	e->left = NULL;
	return e;
}

/*
 * Give every node of t back to the pool.  Rotating left children up turns
 * the walk into a loop, so no stack is needed however deep t is.
 */
static void treap_release(struct overlay *ov, struct extent *t)
{
	while (t) {
		struct extent *l = t->left;

		if (l) {
			t->left = l->right;
			l->right = t;
			t = l;
			continue;
		}
		l = t->right;
		ov->count--;
		ov->bytes -= t->len;
		pool_put(t);
		t = l;
	}
}

struct overlay *overlay_new(void)
{
	struct overlay *ov = pool_get();

	if (!ov)
		return NULL;
	memset(ov, 0, sizeof(*ov));
	ov->rng = RNG_SEED;
	return ov;
}

void overlay_free(struct overlay *ov)
{
	if (!ov)
		return;
	overlay_clear(ov);
	pool_put(ov);
}

void overlay_clear(struct overlay *ov)
{
	treap_release(ov, ov->root);
	ov->root = NULL;
	ov->end = 0;
}

/*
 * Cut the extent that starts before off and runs past it.  If it also runs
 * past end, its tail is put back as spare, which *spare then hands over.
 */
static struct extent *trim_left_neighbour(struct overlay *ov,
					  struct extent *lower, struct extent **spare,
					  uint64_t off, uint64_t end)
{
	struct extent *p = treap_max(lower), *tail = NULL;
	uint64_t pend;

	if (!p || extent_end(p) <= off)
		return NULL;
	pend = extent_end(p);
	if (pend > end) {
		tail = *spare;
		*spare = NULL;
		tail->off = end;
		tail->len = pend - end;
		tail->data = p->data + (end - p->off);
		ov->count++;
		ov->bytes += tail->len;
	}
	ov->bytes -= p->len - (off - p->off);
	p->len = off - p->off;
	return tail;
}

int overlay_insert(struct overlay *ov, uint64_t off, uint64_t len, const void *data)
{
	struct extent *fresh, *spare, *lower, *upper, *inside, *last, *tail;
	uint64_t end = off + len;

	if (len == 0)
		return 0;
	if (end < off) {
		errno = EINVAL;
		return -1;
	}
	/*
	 * Take both nodes an insert may need before touching the tree, so a
	 * failure leaves the overlay as it was.
	 */
	fresh = extent_new(ov);
	if (!fresh)
		return -1;
	spare = extent_new(ov);
	if (!spare) {
		pool_put(fresh);
		return -1;
	}

	treap_split(ov->root, off, &lower, &upper);
	tail = trim_left_neighbour(ov, lower, &spare, off, end);
	/* A left neighbour reaching past end leaves nothing inside the range. */
	if (tail)
		upper = treap_merge(tail, upper);

	treap_split(upper, end, &inside, &upper);
	/* Only the last extent starting inside can reach past end. */
	last = treap_max(inside);
	if (last && extent_end(last) > end) {
		uint64_t cut = end - last->off;

		treap_pop_max(&inside);
		last->off = end;
		last->len -= cut;
		last->data += cut;
		ov->bytes -= cut;
		upper = treap_merge(last, upper);
	}
	treap_release(ov, inside);

	fresh->off = off;
	fresh->len = len;
	fresh->data = data;
	ov->root = treap_merge(treap_merge(lower, fresh), upper);
	ov->count++;
	ov->bytes += len;
	if (end > ov->end)
		ov->end = end;
	if (spare)
		pool_put(spare);
	return 0;
}

void overlay_truncate(struct overlay *ov, uint64_t len)
{
	struct extent *lower, *upper, *last;

	treap_split(ov->root, len, &lower, &upper);
	treap_release(ov, upper);
	/* Extents do not overlap, so the one starting last ends last. */
	last = treap_max(lower);
	if (last && extent_end(last) > len) {
		ov->bytes -= extent_end(last) - len;
		last->len = len - last->off;
	}
	ov->root = lower;
	ov->end = last ? extent_end(last) : 0;
}

/*
 * Copy every extent of t overlapping [lo, hi) onto buf, which maps offset
 * base.  Recursion goes only into left subtrees that overlap, so the depth
 * is the tree's height and the cost O(log n + k).
 */
static void apply_range(const struct extent *t, uint64_t lo, uint64_t hi,
			uint8_t *buf, uint64_t base)
{
	while (t) {
		uint64_t from, to;

		if (t->off >= hi) {
			t = t->left;
			continue;
		}
		if (extent_end(t) <= lo) {
			t = t->right;
			continue;
		}
		from = t->off > lo ? t->off : lo;
		to = extent_end(t) < hi ? extent_end(t) : hi;
		memcpy(buf + (from - base), t->data + (from - t->off), to - from);
		apply_range(t->left, lo, hi, buf, base);
		t = t->right;
	}
}

void overlay_apply(const struct overlay *ov, uint64_t off, uint64_t len, void *buf)
{
	/* Nothing is held at UINT64_MAX, so saturating the end loses nothing. */
	uint64_t hi = len > UINT64_MAX - off ? UINT64_MAX : off + len;

	if (len)
		apply_range(ov->root, off, hi, buf, off);
}

uint64_t overlay_end(const struct overlay *ov)
{
	return ov->end;
}

size_t overlay_count(const struct overlay *ov)
{
	return ov->count;
}

uint64_t overlay_bytes(const struct overlay *ov)
{
	return ov->bytes;
}

uint64_t overlay_next_data(const struct overlay *ov, uint64_t off)
{
	const struct extent *t = ov->root, *first = NULL;

	/* Extents do not overlap, so their ends are ordered like their keys. */
	while (t) {
		if (extent_end(t) > off) {
			first = t;
			t = t->left;
		} else {
			t = t->right;
		}
	}
	if (!first)
		return UINT64_MAX;
	return first->off > off ? first->off : off;
}

/* In order: the left subtree, the node, then the right one as a loop. */
static int walk(const struct extent *t, overlay_walk_fn *fn, void *arg)
{
	for (; t; t = t->right) {
		int ret = walk(t->left, fn, arg);

		if (ret || (ret = fn(t->off, t->len, t->data, arg)))
			return ret;
	}
	return 0;
}

int overlay_walk(const struct overlay *ov, overlay_walk_fn *fn, void *arg)
{
	return walk(ov->root, fn, arg);
}
