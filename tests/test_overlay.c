/*
 * Tests of the read overlay: hand-checked cases, a property test against a
 * byte-array model, and a run at benchmark scale.
 *
 * The property tests take their seed from OVERLAY_SEED (default fixed) and
 * print it with every failure, so a failing run can be replayed.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../shim/overlay.h"

static const char LOWER[] = "abcdefghijklmnopqrstuvwxyz";
static const char UPPER[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
static const char DIGITS[] = "0123456789";

/* Held bytes of [0, n) as a string, '.' where nothing is held. */
static const char *render(const struct overlay *ov, size_t n)
{
	static char buf[128];

	cr_assert_lt(n, sizeof(buf));
	memset(buf, '.', n);
	buf[n] = '\0';
	overlay_apply(ov, 0, n, buf);
	return buf;
}

static void put(struct overlay *ov, uint64_t off, const char *src, uint64_t len)
{
	cr_assert_eq(overlay_insert(ov, off, len, src), 0,
		     "insert [%llu, +%llu) failed: %s", (unsigned long long)off,
		     (unsigned long long)len, strerror(errno));
}

static void expect(const struct overlay *ov, const char *image, size_t count)
{
	size_t n = strlen(image), held = 0, i;
	uint64_t end = 0;

	for (i = 0; i < n; i++) {
		if (image[i] != '.') {
			held++;
			end = i + 1;
		}
	}
	cr_expect_str_eq(render(ov, n), image);
	cr_expect_eq(overlay_count(ov), count, "count %zu, want %zu",
		     overlay_count(ov), count);
	cr_expect_eq(overlay_bytes(ov), held, "bytes %llu, want %zu",
		     (unsigned long long)overlay_bytes(ov), held);
	cr_expect_eq(overlay_end(ov), end, "end %llu, want %llu",
		     (unsigned long long)overlay_end(ov), (unsigned long long)end);
}

static struct overlay *ov;

static void setup(void)
{
	ov = overlay_new();
	cr_assert_not_null(ov);
}

static void teardown(void)
{
	overlay_free(ov);
}

TestSuite(overlay, .init = setup, .fini = teardown);

Test(overlay, empty)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	overlay_apply(ov, 0, sizeof(buf), buf);
	cr_expect_arr_eq(buf, "xxxxxxxx", sizeof(buf));
	expect(ov, "", 0);
	cr_expect_eq(overlay_next_data(ov, 0), UINT64_MAX);
	cr_expect_eq(overlay_next_data(ov, UINT64_MAX), UINT64_MAX);
}

Test(overlay, single)
{
	put(ov, 3, LOWER, 4);
	expect(ov, "...abcd..", 1);
	cr_expect_eq(overlay_next_data(ov, 0), 3);
	cr_expect_eq(overlay_next_data(ov, 3), 3);
	cr_expect_eq(overlay_next_data(ov, 6), 6);
	cr_expect_eq(overlay_next_data(ov, 7), UINT64_MAX);
}

Test(overlay, exact_overwrite)
{
	put(ov, 3, LOWER, 4);
	put(ov, 3, UPPER, 4);
	expect(ov, "...ABCD..", 1);
}

Test(overlay, overlap_left)
{
	put(ov, 4, LOWER, 6);
	put(ov, 2, UPPER, 4);
	/* the survivor keeps pointing at its own bytes: c and d, not a and b */
	expect(ov, "..ABCDcdef..", 2);
}

Test(overlay, overlap_right)
{
	put(ov, 2, LOWER, 6);
	put(ov, 6, UPPER, 4);
	expect(ov, "..abcdABCD..", 2);
}

Test(overlay, inside_split)
{
	put(ov, 2, LOWER, 10);
	put(ov, 5, UPPER, 2);
	expect(ov, "..abcABfghij..", 3);
	put(ov, 8, DIGITS, 1);
	expect(ov, "..abcABf0hij..", 5);
}

Test(overlay, covering_several)
{
	put(ov, 2, LOWER, 3);
	put(ov, 6, DIGITS, 2);
	put(ov, 9, LOWER, 3);
	put(ov, 3, UPPER, 7);
	expect(ov, "..aABCDEFGbc..", 3);
	/* covering every extent exactly from first start to last end */
	put(ov, 2, DIGITS, 10);
	expect(ov, "..0123456789..", 1);
	/* covering strictly more on both sides */
	put(ov, 1, LOWER, 13);
	expect(ov, ".abcdefghijklm.", 1);
}

Test(overlay, adjacent)
{
	put(ov, 4, UPPER, 2);
	put(ov, 2, LOWER, 2);
	put(ov, 6, DIGITS, 2);
	/* adjacent extents are not merged: they point at different bytes */
	expect(ov, "..abAB01..", 3);
	cr_expect_eq(overlay_next_data(ov, 4), 4);
	cr_expect_eq(overlay_next_data(ov, 8), UINT64_MAX);
}

Test(overlay, zero_length_insert_is_noop)
{
	cr_expect_eq(overlay_insert(ov, 5, 0, NULL), 0);
	expect(ov, "", 0);
	put(ov, 2, LOWER, 6);
	cr_expect_eq(overlay_insert(ov, 4, 0, UPPER), 0);
	cr_expect_eq(overlay_insert(ov, UINT64_MAX, 0, UPPER), 0);
	expect(ov, "..abcdef..", 1);
}

Test(overlay, apply_partially_overlapping)
{
	char buf[8];

	put(ov, 2, LOWER, 4);
	put(ov, 8, UPPER, 4);
	memset(buf, '.', sizeof(buf));
	overlay_apply(ov, 4, 6, buf);
	cr_expect_arr_eq(buf, "cd..AB..", sizeof(buf));

	memset(buf, '.', sizeof(buf));
	overlay_apply(ov, 3, 0, buf);
	overlay_apply(ov, 6, 2, buf);
	overlay_apply(ov, 12, 8, buf);
	overlay_apply(ov, UINT64_MAX - 4, 8, buf);
	cr_expect_arr_eq(buf, "........", sizeof(buf), "apply outside held bytes wrote");

	memset(buf, '.', sizeof(buf));
	overlay_apply(ov, 9, 2, buf);
	cr_expect_arr_eq(buf, "BC......", sizeof(buf));
}

Test(overlay, next_data)
{
	put(ov, 10, LOWER, 5);
	put(ov, 20, LOWER, 1);
	put(ov, 15, UPPER, 2);
	cr_expect_eq(overlay_next_data(ov, 0), 10);
	cr_expect_eq(overlay_next_data(ov, 12), 12);
	cr_expect_eq(overlay_next_data(ov, 15), 15);
	cr_expect_eq(overlay_next_data(ov, 16), 16);
	cr_expect_eq(overlay_next_data(ov, 17), 20);
	cr_expect_eq(overlay_next_data(ov, 20), 20);
	cr_expect_eq(overlay_next_data(ov, 21), UINT64_MAX);
	cr_expect_eq(overlay_next_data(ov, UINT64_MAX), UINT64_MAX);
}

Test(overlay, top_of_range)
{
	put(ov, UINT64_MAX - 4, LOWER, 4);
	cr_expect_eq(overlay_end(ov), UINT64_MAX);
	cr_expect_eq(overlay_next_data(ov, 0), UINT64_MAX - 4);
	cr_expect_eq(overlay_next_data(ov, UINT64_MAX - 1), UINT64_MAX - 1);

	char buf[4];
	overlay_apply(ov, UINT64_MAX - 2, 100, buf);
	cr_expect_arr_eq(buf, "cd", 2);

	errno = 0;
	cr_expect_eq(overlay_insert(ov, UINT64_MAX - 1, 2, UPPER), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(overlay_count(ov), 1, "a failed insert changed the overlay");
}

Test(overlay, clear)
{
	put(ov, 2, LOWER, 10);
	put(ov, 5, UPPER, 2);
	overlay_clear(ov);
	expect(ov, "", 0);
	cr_expect_eq(overlay_next_data(ov, 0), UINT64_MAX);
	put(ov, 1, DIGITS, 3);
	expect(ov, ".012..", 1);
	overlay_clear(ov);
	overlay_clear(ov);
	expect(ov, "", 0);
}

Test(overlay, free_and_reuse)
{
	overlay_free(NULL);
	/* Many short-lived overlays must recycle the pool, not exhaust it. */
	for (int round = 0; round < 2000; round++) {
		struct overlay *tmp = overlay_new();

		cr_assert_not_null(tmp);
		for (int i = 0; i < 200; i++)
			put(tmp, (uint64_t)(i * 7) % 300, LOWER, 1 + i % 20);
		overlay_free(tmp);
	}
	/* ... and leave other overlays alone */
	put(ov, 0, DIGITS, 4);
	expect(ov, "0123", 1);
}

/* --- property test against a byte-array model --- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

static uint64_t test_seed(void)
{
	const char *s = getenv("OVERLAY_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : 0x6a657473ull;

	rng_state = seed ? seed : 1;
	return seed;
}

/* A window of the file the model tracks byte by byte. */
struct region {
	uint64_t base;
	size_t size;
};

struct model {
	const struct region *regions;	/* ascending, not touching */
	size_t nregions;
	size_t total;
	uint32_t *writer;		/* per byte: insert number, 0 = not held */
	uint8_t *val;
	struct overlay *ov;
};

static uint8_t arena[1 << 16];

static void fill_arena(void)
{
	for (size_t i = 0; i < sizeof(arena); i++)
		arena[i] = (uint8_t)rnd();
}

static void model_init(struct model *m, const struct region *r, size_t n)
{
	m->regions = r;
	m->nregions = n;
	m->total = 0;
	for (size_t i = 0; i < n; i++)
		m->total += r[i].size;
	m->writer = calloc(m->total, sizeof(*m->writer));
	m->val = calloc(m->total, 1);
	m->ov = overlay_new();
	cr_assert(m->writer && m->val && m->ov);
}

static void model_fini(struct model *m)
{
	overlay_free(m->ov);
	free(m->writer);
	free(m->val);
}

/* Index into the model arrays of the first byte of region r. */
static size_t region_index(const struct model *m, size_t r)
{
	size_t idx = 0;

	for (size_t i = 0; i < r; i++)
		idx += m->regions[i].size;
	return idx;
}

static void model_insert(struct model *m, uint32_t writer, uint64_t seed)
{
	size_t r = rnd_below(m->nregions);
	const struct region *reg = &m->regions[r];
	size_t start = rnd_below(reg->size);
	size_t room = reg->size - start;
	/* mostly short writes so extents pile up, sometimes long ones */
	size_t maxlen = rnd_below(8) ? 24 : room;
	size_t len = 1 + rnd_below(maxlen < room ? maxlen : room);
	const uint8_t *data = arena + rnd_below(sizeof(arena) - len);
	size_t idx = region_index(m, r) + start;

	cr_assert_eq(overlay_insert(m->ov, reg->base + start, len, data), 0,
		     "seed %#llx: insert failed: %s", (unsigned long long)seed,
		     strerror(errno));
	for (size_t i = 0; i < len; i++) {
		m->writer[idx + i] = writer;
		m->val[idx + i] = data[i];
	}
}

static void model_clear(struct model *m)
{
	overlay_clear(m->ov);
	memset(m->writer, 0, m->total * sizeof(*m->writer));
}

/* Whether file offset x is held, and with which byte. */
static bool model_byte(const struct model *m, uint64_t x, uint8_t *val)
{
	size_t idx = 0;

	for (size_t r = 0; r < m->nregions; r++) {
		const struct region *reg = &m->regions[r];

		if (x >= reg->base && x - reg->base < reg->size) {
			idx += x - reg->base;
			*val = m->val[idx];
			return m->writer[idx] != 0;
		}
		idx += reg->size;
	}
	return false;
}

static uint64_t model_next_data(const struct model *m, uint64_t off)
{
	size_t idx = 0;

	for (size_t r = 0; r < m->nregions; r++) {
		const struct region *reg = &m->regions[r];
		uint64_t from = off > reg->base ? off - reg->base : 0;

		for (uint64_t i = from; i < reg->size; i++)
			if (m->writer[idx + i])
				return reg->base + i;
		idx += reg->size;
	}
	return UINT64_MAX;
}

/*
 * Apply [off, off+len) twice over opposite fills: a byte the overlay holds
 * reads the same both times, one it does not keeps its fill.
 */
static void check_window(const struct model *m, uint64_t off, size_t len,
			 uint64_t seed, long step)
{
	static uint8_t zeros[4096], ones[4096];

	cr_assert_leq(len, sizeof(zeros));
	memset(zeros, 0x00, len);
	memset(ones, 0xff, len);
	overlay_apply(m->ov, off, len, zeros);
	overlay_apply(m->ov, off, len, ones);
	for (size_t i = 0; i < len; i++) {
		uint8_t want = 0;
		bool held = model_byte(m, off + i, &want);
		bool ok = held ? zeros[i] == want && ones[i] == want
			       : zeros[i] == 0x00 && ones[i] == 0xff;

		cr_assert(ok, "seed %#llx step %ld: byte %#llx %s, read %#x/%#x, want %#x",
			  (unsigned long long)seed, step,
			  (unsigned long long)(off + i), held ? "held" : "not held",
			  zeros[i], ones[i], want);
	}
}

static void check_model(const struct model *m, uint64_t seed, long step)
{
	size_t idx = 0, held = 0, runs = 0;
	uint64_t end = 0;

	for (size_t r = 0; r < m->nregions; r++) {
		const struct region *reg = &m->regions[r];
		uint64_t lo = reg->base >= 8 ? reg->base - 8 : 0;

		for (size_t i = 0; i < reg->size; i++) {
			uint32_t w = m->writer[idx + i];

			if (!w)
				continue;
			held++;
			end = reg->base + i + 1;
			/*
			 * Fragments of one insert never touch again (the
			 * bytes between them stay held), so each run of one
			 * writer is exactly one extent.
			 */
			if (i == 0 || m->writer[idx + i - 1] != w)
				runs++;
		}
		check_window(m, lo, reg->base + reg->size + 8 - lo, seed, step);
		idx += reg->size;
	}
	cr_assert_eq(overlay_bytes(m->ov), held, "seed %#llx step %ld: bytes %llu, want %zu",
		     (unsigned long long)seed, step,
		     (unsigned long long)overlay_bytes(m->ov), held);
	cr_assert_eq(overlay_end(m->ov), end, "seed %#llx step %ld: end %#llx, want %#llx",
		     (unsigned long long)seed, step,
		     (unsigned long long)overlay_end(m->ov), (unsigned long long)end);
	cr_assert_eq(overlay_count(m->ov), runs, "seed %#llx step %ld: count %zu, want %zu",
		     (unsigned long long)seed, step, overlay_count(m->ov), runs);

	for (int q = 0; q < 4; q++) {
		const struct region *reg = &m->regions[rnd_below(m->nregions)];
		/* probe inside the region and in the gaps on either side */
		uint64_t off = reg->base + rnd_below(reg->size + 16);

		off = off >= 8 ? off - 8 : off;
		if (q == 0)
			off = 0;
		cr_assert_eq(overlay_next_data(m->ov, off), model_next_data(m, off),
			     "seed %#llx step %ld: next_data(%#llx) = %#llx, want %#llx",
			     (unsigned long long)seed, step, (unsigned long long)off,
			     (unsigned long long)overlay_next_data(m->ov, off),
			     (unsigned long long)model_next_data(m, off));
	}
	/* a random partial window, to exercise clipping at both ends */
	{
		const struct region *reg = &m->regions[rnd_below(m->nregions)];
		uint64_t off = reg->base + rnd_below(reg->size);
		size_t len = rnd_below(reg->size - (off - reg->base) + 1);

		check_window(m, off, len, seed, step);
	}
}

/*
 * Drive two overlays at once, so they share the node pool, and clear one of
 * them midway so freed nodes get reused under the other.
 */
static void run_property(const struct region *regions, size_t nregions, long steps)
{
	uint64_t seed = test_seed();
	struct model m[2];

	fill_arena();
	model_init(&m[0], regions, nregions);
	model_init(&m[1], regions, nregions);
	for (long step = 1; step <= steps; step++) {
		struct model *cur = &m[rnd_below(2)];

		if (step == steps / 2)
			model_clear(&m[0]);
		model_insert(cur, (uint32_t)step, seed);
		check_model(cur, seed, step);
	}
	check_model(&m[0], seed, steps);
	check_model(&m[1], seed, steps);
	model_fini(&m[0]);
	model_fini(&m[1]);
}

Test(overlay_property, small_file_dense_overlaps)
{
	static const struct region small[] = { { 0, 300 } };

	run_property(small, 1, 6000);
}

Test(overlay_property, large_sparse_offsets)
{
	static const struct region sparse[] = {
		{ 3 * 4096, 200 },
		{ (1ull << 32) - 100, 200 },		/* straddles 4 GiB */
		{ 1ull << 40, 200 },
		{ (1ull << 50) + 12345, 200 },
		{ 1ull << 62, 200 },
		{ UINT64_MAX - 300, 250 },
	};

	run_property(sparse, sizeof(sparse) / sizeof(sparse[0]), 6000);
}

/* --- scale: the benchmark's shape --- */

#define PAGE		4096u
#define PAGES		(1u << 18)	/* a 1 GiB file */
#define SCALE_WRITES	100000

struct page_model {
	uint32_t writer;		/* 0 = not held */
	const uint8_t *src;		/* where this page's held bytes live */
};

Test(overlay_property, scale_100k_page_writes, .init = setup, .fini = teardown,
     .timeout = 120)
{
	static uint8_t big_arena[(1u << 20) + 4 * PAGE];
	static uint8_t got[PAGE], window[1u << 20];
	struct page_model *pm = calloc(PAGES, sizeof(*pm));
	uint64_t seed = test_seed();
	size_t held = 0, runs = 0;
	struct timespec t0, t1;

	cr_assert_not_null(pm);
	for (size_t i = 0; i < sizeof(big_arena); i++)
		big_arena[i] = (uint8_t)rnd();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t w = 1; w <= SCALE_WRITES; w++) {
		/* mostly single pages; some multi-page writes split neighbours */
		size_t npages = rnd_below(4) ? 1 : 1 + rnd_below(4);
		size_t page = rnd_below(PAGES - npages + 1);
		const uint8_t *data = big_arena + rnd_below(1u << 20);

		cr_assert_eq(overlay_insert(ov, (uint64_t)page * PAGE, npages * PAGE, data), 0,
			     "seed %#llx: insert failed: %s", (unsigned long long)seed,
			     strerror(errno));
		for (size_t i = 0; i < npages; i++) {
			held += pm[page + i].writer == 0;
			pm[page + i].writer = w;
			pm[page + i].src = data + i * PAGE;
		}
		if (w % 1000)
			continue;
		cr_assert_eq(overlay_bytes(ov), (uint64_t)held * PAGE,
			     "seed %#llx write %u: bytes %llu, want %llu",
			     (unsigned long long)seed, w,
			     (unsigned long long)overlay_bytes(ov),
			     (unsigned long long)held * PAGE);
		for (int s = 0; s < 32; s++) {
			size_t p = rnd_below(PAGES);

			memset(got, 0, sizeof(got));
			overlay_apply(ov, (uint64_t)p * PAGE, PAGE, got);
			if (pm[p].writer)
				cr_assert_arr_eq(got, pm[p].src, PAGE,
						 "seed %#llx write %u: page %zu differs",
						 (unsigned long long)seed, w, p);
			else
				cr_assert_geq(overlay_next_data(ov, (uint64_t)p * PAGE),
					      (uint64_t)(p + 1) * PAGE,
					      "seed %#llx write %u: page %zu is not held but reads held",
					      (unsigned long long)seed, w, p);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_log_info("%d inserts, %zu extents, in %.3f s", SCALE_WRITES,
		    overlay_count(ov),
		    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);

	/* Finally the whole file, a MiB at a time, against the model. */
	for (size_t p = 0; p < PAGES; p++)
		if (pm[p].writer && (p == 0 || pm[p - 1].writer != pm[p].writer))
			runs++;
	cr_assert_eq(overlay_count(ov), runs, "count %zu, want %zu", overlay_count(ov), runs);
	for (size_t first = 0; first < PAGES; first += sizeof(window) / PAGE) {
		overlay_apply(ov, (uint64_t)first * PAGE, sizeof(window), window);
		for (size_t i = 0; i < sizeof(window) / PAGE; i++) {
			const struct page_model *e = &pm[first + i];

			if (e->writer)
				cr_assert_arr_eq(window + i * PAGE, e->src, PAGE,
						 "seed %#llx: page %zu differs",
						 (unsigned long long)seed, first + i);
		}
	}
	free(pm);
}
