/*
 * test_ztier.c — the compressed tiers (src/tiers/ztier.c), lz4 and zstd.
 *
 * Text-like, zero and same-filled pages of every folio size go to the tier
 * and come back intact (4 KiB explicitly, 64 KiB and 2 MiB through CPU
 * faults); random pages do not compress and are stored raw, alone and
 * inside large folios of text, and come back intact; a pool at its SIZE leaves the
 * pages it cannot take in RAM, intact; bad specs fail naming the spec; and
 * injected read and write failures lose or leave in RAM only their pages;
 * the pool's packing waste on a compressible mix is measured and bounded.
 */
#include "unit.h"

#include <inttypes.h>
#include <sys/mman.h>
#include <zstd.h>

enum kind { K_RANDOM, K_TEXT, K_ZERO, K_SAME };

/* A page of @kind, unique to (seed, pg): text is words drawn from a small
 * vocabulary (compresses 2-5x); same-filled repeats one non-zero word. */
static void gen_page(char *p, enum kind kind, unsigned seed, size_t pg)
{
	static const char *const words[] = {
		"the ",    "memory ", "page ",   "tier ",  "of ",    "and ",     "compressed ", "a ",
		"folio ",  "fault ",  "back ",   "to ",    "RAM ",   "slab ",    "class ",      "pool ",
		"object ", "handle ", "free ",   "list ",  "lz4 ",   "zstd ",    "level ",      "size ",
		"4096 ",   "bytes ",  "stored ", "waste ", "in ",    "reclaim ", "demote ",     "is\n",
	};
	uint64_t *w = (uint64_t *)p;
	switch (kind) {
	case K_RANDOM:
		for (size_t k = 0; k < PG / 8; k++)
			w[k] = unit_word(seed, pg, k);
		break;
	case K_ZERO:
		memset(p, 0, PG);
		break;
	case K_SAME:
		for (size_t k = 0; k < PG / 8; k++)
			w[k] = unit_word(seed, pg, 0) | 1;
		break;
	case K_TEXT: {
		/* the vocabulary a page draws from grows with pg: a spread of
		 * compressed sizes over many size classes */
		unsigned vocab = 4 + (unsigned)(unit_word(seed, pg, 1) % 29);
		size_t o = 0;
		for (uint64_t k = 0; o < PG; k++) {
			const char *s = words[unit_word(seed, pg, 2 + k) % vocab];
			size_t n = strlen(s);
			if (n > PG - o)
				n = PG - o;
			memcpy(p + o, s, n);
			o += n;
		}
		break;
	}
	}
}

static enum kind mix_kind(size_t pg)
{
	static const enum kind mix[] = {K_TEXT, K_ZERO, K_TEXT, K_SAME, K_TEXT, K_TEXT, K_ZERO, K_TEXT};
	return mix[pg % 8];
}

static void fill(char *p, size_t np, unsigned seed, enum kind (*kind)(size_t))
{
	for (size_t i = 0; i < np; i++)
		gen_page(p + i * PG, kind(i), seed, i);
}

/* first page that differs from what fill() wrote, or -1 */
static long check(const char *p, size_t np, unsigned seed, enum kind (*kind)(size_t))
{
	char want[PG];
	for (size_t i = 0; i < np; i++) {
		gen_page(want, kind(i), seed, i);
		if (memcmp(p + i * PG, want, PG))
			return (long)i;
	}
	return -1;
}

/* page @i of what fill() wrote is intact */
static bool page_ok(const char *p, size_t i, unsigned seed, enum kind (*kind)(size_t))
{
	char want[PG];
	gen_page(want, kind(i), seed, i);
	return !memcmp(p + i * PG, want, PG);
}

static enum kind all_random(size_t pg)
{
	return K_RANDOM;
}

/* a 64 KiB folio's worth of text with one random page in each */
static enum kind one_random(size_t pg)
{
	return pg % 16 == 5 ? K_RANDOM : K_TEXT;
}

static void assert_where(const char *p, size_t np, int tier)
{
	int *w = malloc(np * sizeof(int));
	assert_int_equal(hm_where(p, np * PG, w), 0);
	for (size_t i = 0; i < np; i++)
		if (w[i] != tier)
			fail_msg("page %zu is on tier %d, expected %d", i, w[i], tier);
	free(w);
}

static struct hm_ztier_usage usage(int id)
{
	struct hm_ztier_usage u;
	struct hm_tier *t = hm_tier_get(id);
	assert_non_null(t);
	assert_true(hm_tier_is_compressed(t));
	hm_ztier_usage(t, &u);
	return u;
}

/* Every folio size to the tier and back, then random pages that stay. */
static void round_trip(const char *spec)
{
	int id = EXPECT_OK(hm_tier_add(spec));
	const size_t fsz[] = {HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M};
	const size_t np = 1024; /* 4 MiB per region */
	char *p[3];
	struct hm_stats s0 = stats_now();
	for (int k = 0; k < 3; k++) {
		p[k] = hm_alloc(np * PG, fsz[k]);
		assert_non_null(p[k]);
		fill(p[k], np, 800 + k, mix_kind);
		assert_int_equal(hm_migrate(p[k], np * PG, id, NULL), (long)np);
		assert_where(p[k], np, id);
	}
	struct hm_stats s1 = stats_now();
	/* a quarter of the mix is zero pages, an eighth same-filled */
	assert_int_equal(s1.comp_zero_pages - s0.comp_zero_pages, 3 * np / 4);
	assert_int_equal(s1.comp_same_pages - s0.comp_same_pages, 3 * np / 8);
	struct hm_ztier_usage u = usage(id);
	assert_int_equal(u.logical, 3 * np * PG);
	/* text pages (half of them) carry a payload, smaller than a page */
	assert_true(u.stored > 0 && u.stored < 3 * (np / 2) * PG * 3 / 4);
	assert_true(u.pool >= u.stored && u.pool <= u.limit);
	assert_true(s1.comp_ns > s0.comp_ns);

	/* home: 4K explicitly, 64K and 2M through CPU faults (the handler
	 * thread decompresses) */
	assert_int_equal(hm_migrate(p[0], np * PG, 0, NULL), (long)np);
	for (int k = 0; k < 3; k++) {
		long bad = check(p[k], np, 800 + k, mix_kind);
		if (bad >= 0)
			fail_msg("%s: folio size %zu: page %ld has wrong data", spec, fsz[k], bad);
		assert_where(p[k], np, 0);
	}
	assert_true(stats_now().decomp_ns > s1.decomp_ns);
	u = usage(id);
	assert_int_equal(u.logical, 0);
	assert_int_equal(u.stored, 0);
	assert_int_equal(u.pool, 0); /* every slab went with its last object */

	/* random pages, and large folios with one random page: demoted, the
	 * random pages stored raw (4 KiB each), the rest compressed; read
	 * back right */
	for (int k = 0; k < 3; k++) {
		enum kind (*kind)(size_t) = k == 0 ? all_random : one_random;
		fill(p[k], np, 810 + k, kind);
		struct hm_stats a = stats_now();
		assert_int_equal(hm_migrate(p[k], np * PG, id, NULL), (long)np);
		struct hm_stats b = stats_now();
		size_t raw = 0;
		for (size_t i = 0; i < np; i++)
			raw += kind(i) == K_RANDOM;
		assert_int_equal(b.comp_incompressible - a.comp_incompressible, raw);
		assert_where(p[k], np, id);
		u = usage(id);
		assert_true(u.stored >= raw * PG);
		assert_true(u.pool >= u.stored);
		assert_int_equal(hm_migrate(p[k], np * PG, 0, NULL), (long)np);
		assert_where(p[k], np, 0);
		long bad = check(p[k], np, 810 + k, kind);
		if (bad >= 0)
			fail_msg("%s: folio size %zu: random data: page %ld has wrong data", spec, fsz[k], bad);
		assert_int_equal(usage(id).pool, 0);
	}
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(id, &ti), 0);
	assert_int_equal(ti.used, 0);
	for (int k = 0; k < 3; k++)
		assert_int_equal(hm_free(p[k], 0), 0);
	assert_int_equal(hm_tier_remove(id), 0);
}

static void test_lz4(void **state)
{
	round_trip("lz4:64M");
}

static void test_zstd(void **state)
{
	round_trip("zstd:64M,level=5");
}

/* Injected failures: a failed write leaves its folio in RAM, a failed
 * read (4 KiB folios: one page per read) loses that page only. */
static void test_injected(void **state)
{
	int id = EXPECT_OK(hm_tier_add("zstd:16M"));
	enum { N = 16 };
	char *p = hm_alloc(N * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill(p, N, 840, mix_kind);
	int st[N];
	assert_int_equal(hm_inject("tier_write", EIO, 3, 1), 0);
	assert_int_equal(hm_migrate(p, N * PG, id, st), N - 1);
	for (int i = 0; i < N; i++)
		assert_int_equal(st[i], i == 3 ? -EIO : 0);
	assert_true(page_ok(p, 3, 840, mix_kind));
	assert_int_equal(hm_migrate(p, N * PG, id, NULL), 1); /* page 3; the others are there */
	struct hm_stats s0 = stats_now();
	assert_int_equal(hm_inject("tier_read", EIO, 5, 1), 0);
	assert_int_equal(hm_migrate(p, N * PG, 0, st), N - 1);
	int w[N];
	assert_int_equal(hm_where(p, N * PG, w), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(st[i], i == 5 ? -EIO : 0);
		assert_int_equal(w[i], i == 5 ? HM_WHERE_POISON : 0);
		if (i != 5 && !page_ok(p, i, 840, mix_kind))
			fail_msg("page %d has wrong data", i);
	}
	assert_int_equal(stats_now().poisoned - s0.poisoned, 1);
	struct hm_ztier_usage u = usage(id);
	assert_int_equal(u.logical, 0); /* the lost page's object is freed */
	assert_int_equal(u.pool, 0);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(id), 0);
}

static enum kind all_text(size_t pg)
{
	return K_TEXT;
}

/* A pool of 64 KiB: what it cannot take stays in RAM with its data; the
 * pool never passes its SIZE. */
static void pool_full(const char *spec)
{
	int id = EXPECT_OK(hm_tier_add(spec));
	const size_t np = 256;
	char *p = hm_alloc(np * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill(p, np, 820, all_text);
	int *st = malloc(np * sizeof(int));
	struct hm_stats a = stats_now();
	long moved = hm_migrate(p, np * PG, id, st);
	struct hm_stats b = stats_now();
	size_t full = 0;
	for (size_t i = 0; i < np; i++) {
		assert_true(st[i] == 0 || st[i] == -ENOSPC);
		full += st[i] == -ENOSPC;
	}
	assert_true(moved > 0 && full > 0);
	assert_int_equal((size_t)moved + full, np);
	/* left behind: the pool was full, or (a batch allocates its handles
	 * first) the tier's 4 x 64 KiB of handles were all given out */
	assert_true(b.comp_pool_full - a.comp_pool_full > 0 && b.comp_pool_full - a.comp_pool_full <= full);
	struct hm_ztier_usage u = usage(id);
	assert_true(u.pool <= u.limit && u.pool > u.limit / 2);
	assert_int_equal(u.logical, (size_t)moved * PG);
	/* the pages left behind are in RAM, the others on the tier */
	int *w = malloc(np * sizeof(int));
	assert_int_equal(hm_where(p, np * PG, w), 0);
	for (size_t i = 0; i < np; i++)
		assert_int_equal(w[i], st[i] ? 0 : id);
	assert_int_equal(check(p, np, 820, all_text), -1); /* faults the others back */
	assert_int_equal(usage(id).pool, 0);
	free(w);
	free(st);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(id), 0);
}

static void test_pool_full(void **state)
{
	pool_full("lz4:64K");
	pool_full("zstd:64K,level=1");
}

static void test_bad_specs(void **state)
{
	EXPECT_ERR_MSG(hm_tier_add("lz4:0"), EINVAL, "lz4:0");
	EXPECT_ERR_MSG(hm_tier_add("zstd:100"), EINVAL, "zstd:100");
	EXPECT_ERR_MSG(hm_tier_add("lz4:lots"), EINVAL, "lz4:lots");
	EXPECT_ERR_MSG(hm_tier_add("lz4:1M,level=3"), EINVAL, "unknown option 'level=3'");
	EXPECT_ERR_MSG(hm_tier_add("zstd:1M,fast"), EINVAL, "unknown option 'fast'");
	EXPECT_ERR_MSG(hm_tier_add("zstd:1M,level=x"), EINVAL, "zstd:1M,level=x");
	EXPECT_ERR_MSG(hm_tier_add("zstd:1M,level=23"), ERANGE, "zstd:1M,level=23");
	EXPECT_ERR_MSG(hm_tier_add("zstd:1M,level=-200000"), ERANGE, "out of range");
	EXPECT_ERR_MSG(hm_tier_add("lz4:1000000T"), E2BIG, "more than this machine's RAM");
	/* the ends of zstd's range are accepted */
	char spec[64];
	snprintf(spec, sizeof(spec), "zstd:1M,level=%d", ZSTD_maxCLevel());
	int id = EXPECT_OK(hm_tier_add(spec));
	assert_int_equal(hm_tier_remove(id), 0);
	snprintf(spec, sizeof(spec), "zstd:1M,level=%d", ZSTD_minCLevel());
	id = EXPECT_OK(hm_tier_add(spec));
	assert_int_equal(hm_tier_remove(id), 0);
}

/* Packing waste, (pool - stored) / stored, on a compressible mix large
 * enough that each class's one partly filled slab is a small share. */
static void waste(const char *spec, double *out)
{
	int id = EXPECT_OK(hm_tier_add(spec));
	const size_t np = 16384; /* 64 MiB */
	char *p = hm_alloc(np * PG, HM_FOLIO_64K);
	assert_non_null(p);
	fill(p, np, 830, mix_kind);
	struct hm_stats s0 = stats_now();
	assert_int_equal(hm_migrate(p, np * PG, id, NULL), (long)np);
	struct hm_stats s1 = stats_now();
	struct hm_ztier_usage u = usage(id);
	double w = ((double)u.pool - (double)u.stored) / (double)u.stored;
	print_message("%s: %zu pages (%llu KiB) stored in %llu KiB of payload, pool %llu KiB: waste %.2f%%\n", spec,
		      np, (unsigned long long)(u.logical >> 10), (unsigned long long)(u.stored >> 10),
		      (unsigned long long)(u.pool >> 10), 100 * w);
	*out = w;
	/* home through the handler's faults (the text pages, half the mix,
	 * are the ones compressed and decompressed) */
	assert_int_equal(check(p, np, 830, mix_kind), -1);
	struct hm_stats s2 = stats_now();
	print_message("%s: %.2f us to compress a text page, %.2f us to decompress one\n", spec,
		      (double)(s1.comp_ns - s0.comp_ns) / 1000 / (np / 2),
		      (double)(s2.decomp_ns - s1.decomp_ns) / 1000 / (np / 2));
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(usage(id).pool, 0);
	assert_int_equal(hm_tier_remove(id), 0);
}

static void test_waste(void **state)
{
	double w;
	waste("lz4:256M", &w);
	assert_true(w >= 0 && w <= 0.05);
	waste("zstd:256M", &w);
	assert_true(w >= 0 && w <= 0.05);
}

/* --- writeback: lz4 then a file ------------------------------------------ */

/* text and zero pages with a random one in 8 (4 KiB folios: each random
 * page is an incompressible folio; larger folios stay compressible) */
static enum kind wb_kind(size_t pg)
{
	static const enum kind mix[] = {K_TEXT, K_ZERO, K_TEXT, K_TEXT, K_RANDOM, K_TEXT, K_SAME, K_TEXT};
	return mix[pg % 8];
}


/* wait (HM_WAIT_CAP_MS at most) for @want pages of @p on @tier; returns
 * how many are */
static size_t wait_on(const char *p, size_t np, int tier, size_t want)
{
	size_t n = 0;
	HM_WAIT_UNTIL((n = count_on(p, np, tier)) >= want, HM_WAIT_CAP_MS);
	return n;
}

/* Tier @zspec then a file tier of @fsize in a new temporary file (its
 * path into @path, 64 bytes): *z and *f are their ids. */
static void chain(const char *zspec, const char *fsize, char *path, int *z, int *f)
{
	char spec[128];
	snprintf(path, 64, "/tmp/hetmem-unit-wb-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(spec, sizeof(spec), "file:%s,size=%s", path, fsize);
	*z = EXPECT_OK(hm_tier_add(zspec));
	*f = EXPECT_OK(hm_tier_add(spec));
}

static void test_writeback(void **state)
{
	char path[64];
	int z, f;
	chain("lz4:64M", "64M", path, &z, &f);
	const size_t fsz[] = {HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M};
	const size_t np = 512; /* 2 MiB per region */
	char *p[3];
	for (int k = 0; k < 3; k++) {
		p[k] = hm_alloc(np * PG, fsz[k]);
		assert_non_null(p[k]);
		fill(p[k], np, 860 + k, wb_kind);
		assert_int_equal(hm_migrate(p[k], np * PG, z, NULL), (long)np);
	}
	/* by age never: only the incompressible folios (the 4 KiB region's
	 * random pages) go on to the file, and nothing else does */
	hm_g.writeback_age_s = 0;
	struct hm_stats s0 = stats_now();
	assert_int_equal(hm_budget_set(64 << 20, 0, 0, z), 0); /* room for all: no demotion */
	size_t raw = np / 8;
	assert_int_equal(wait_on(p[0], np, f, raw), raw);
	usleep(1500 * 1000); /* more passes: nothing more goes */
	assert_int_equal(count_on(p[0], np, f), raw);
	assert_int_equal(count_on(p[1], np, z), np);
	assert_int_equal(count_on(p[2], np, z), np);
	/* a batch is counted when its call ends, after its pages show */
	HM_WAIT_UNTIL(stats_now().comp_writeback_pages - s0.comp_writeback_pages >= raw, HM_WAIT_CAP_MS);
	assert_int_equal(stats_now().comp_writeback_pages - s0.comp_writeback_pages, raw);
	assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
	/* by age: all of it, within a few seconds of an age of 1 s */
	hm_g.writeback_age_s = 1;
	assert_int_equal(hm_budget_set(64 << 20, 0, 0, z), 0);
	for (int k = 0; k < 3; k++)
		if (wait_on(p[k], np, f, np) != np)
			fail_msg("folio size %zu: %zu of %zu pages written back", fsz[k], count_on(p[k], np, f), np);
	HM_WAIT_UNTIL(stats_now().comp_writeback_pages - s0.comp_writeback_pages >= 3 * np, HM_WAIT_CAP_MS);
	assert_int_equal(stats_now().comp_writeback_pages - s0.comp_writeback_pages, 3 * np);
	struct hm_ztier_usage u = usage(z);
	assert_int_equal(u.logical, 0);
	assert_int_equal(u.pool, 0);
	assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
	/* straight back from the file: 4K explicitly, 64K and 2M by faults */
	assert_int_equal(hm_migrate(p[0], np * PG, 0, NULL), (long)np);
	for (int k = 0; k < 3; k++) {
		long bad = check(p[k], np, 860 + k, wb_kind);
		if (bad >= 0)
			fail_msg("folio size %zu: page %ld has wrong data after writeback", fsz[k], bad);
		assert_int_equal(count_on(p[k], np, 0), np);
	}
	for (int k = 0; k < 3; k++)
		assert_int_equal(hm_free(p[k], 0), 0);
	assert_int_equal(hm_tier_remove(f), 0);
	assert_int_equal(hm_tier_remove(z), 0);
	unlink(path);
}

/* A pool far smaller than what the budget sends it: the reclaimer's
 * writeback keeps room in it and sends pages past it while it is full, so
 * the program stays near its budget, and every page comes back right. */
static void test_writeback_pressure(void **state)
{
	char path[64];
	int z, f;
	chain("lz4:256K", "64M", path, &z, &f);
	hm_g.writeback_age_s = 0; /* pressure alone */
	struct hm_stats s0 = stats_now();
	assert_int_equal(hm_budget_set(2 << 20, 0, 0, z), 0);
	const size_t np = 4096; /* 16 MiB of text: about 4 MiB compressed */
	char *p = hm_alloc(np * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill(p, np, 870, all_text);
	/* most pages off RAM, on the file: the pool holds 256 KiB */
	size_t on_f = wait_on(p, np, f, np / 2);
	if (on_f < np / 2)
		fail_msg("only %zu of %zu pages written back to the file", on_f, np);
	struct hm_ztier_usage u = usage(z);
	assert_true(u.pool <= u.limit);
	/* written back from the pool, or sent past it while it was full (a
	 * batch is counted when its call ends, after its pages show on the
	 * file: wait for the count too) */
	uint64_t wb = 0, spill = 0;
	HM_WAIT_UNTIL((wb = stats_now().comp_writeback_pages - s0.comp_writeback_pages,
		       spill = stats_now().comp_spill_pages - s0.comp_spill_pages, wb + spill >= np / 2),
		      HM_WAIT_CAP_MS);
	if (wb + spill < np / 2)
		fail_msg("%" PRIu64 " pages written back and %" PRIu64 " spilled: under %zu", wb, spill, np / 2);
	assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
	long bad = check(p, np, 870, all_text);
	if (bad >= 0)
		fail_msg("page %ld has wrong data after writeback", bad);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(f), 0);
	assert_int_equal(hm_tier_remove(z), 0);
	unlink(path);
}

/* A writeback file that is full: what it cannot take stays compressed,
 * intact, and the failure is counted (the file tier's errors or the
 * migration's failures); nothing is lost. */
static void test_writeback_file_full(void **state)
{
	char path[64];
	int z, f;
	chain("lz4:16M", "64K", path, &z, &f); /* a file of 16 pages */
	const size_t np = 256;
	char *p = hm_alloc(np * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill(p, np, 880, mix_kind);
	assert_int_equal(hm_migrate(p, np * PG, z, NULL), (long)np);
	hm_g.writeback_age_s = 1;
	struct hm_stats s0 = stats_now();
	assert_int_equal(hm_budget_set(64 << 20, 0, 0, z), 0);
	assert_int_equal(wait_on(p, np, f, 16), 16);
	usleep(1500 * 1000); /* more passes find the file full */
	/* and one has failed for it (counted as its call ends) */
	HM_WAIT_UNTIL(stats_now().migrate_failures > s0.migrate_failures, HM_WAIT_CAP_MS);
	assert_int_equal(count_on(p, np, f), 16);
	assert_int_equal(count_on(p, np, z), np - 16);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.comp_writeback_pages - s0.comp_writeback_pages, 16);
	assert_true(s1.migrate_failures > s0.migrate_failures);
	assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
	long bad = check(p, np, 880, mix_kind);
	if (bad >= 0)
		fail_msg("page %ld has wrong data after a full writeback file", bad);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(f), 0);
	assert_int_equal(hm_tier_remove(z), 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lz4),
		cmocka_unit_test(test_zstd),
		cmocka_unit_test(test_pool_full),
		cmocka_unit_test(test_injected),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_waste),
		cmocka_unit_test(test_writeback),
		cmocka_unit_test(test_writeback_pressure),
		cmocka_unit_test(test_writeback_file_full),
	};
	return cmocka_run_group_tests(tests, unit_setup_uffd, unit_teardown_shutdown);
}
