/*
 * test_region.c — managed regions seen through the public API: lookup
 * (hm_is_managed, hm_folio_size), alignment and rounding of hm_alloc,
 * hm_where through a page's life (never touched, touched, migrated, freed),
 * hm_migrate_pages widening, a migration larger than the tier (per-page
 * -ENOSPC, data intact), the fallback to single slots on a fragmented tier,
 * tier usage counters, and hm_shutdown leaving the memory readable.
 */
#include "unit.h"

static void test_lookup(void **state)
{
	const size_t fsz[] = {HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M};
	int stack_var = 0;
	assert_false(hm_is_managed(&stack_var));
	assert_int_equal(hm_folio_size(&stack_var), 0);
	assert_false(hm_is_managed(NULL));
	assert_int_equal(hm_folio_size(NULL), 0);
	for (int k = 0; k < 3; k++) {
		size_t size = 3 * fsz[k];
		char *p = hm_alloc(size, fsz[k]);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % fsz[k], 0);
		assert_true(hm_is_managed(p));
		assert_true(hm_is_managed(p + size / 2));
		assert_true(hm_is_managed(p + size - 1));
		assert_false(hm_is_managed(p + size));
		assert_false(hm_is_managed(p - 1));
		assert_int_equal(hm_folio_size(p), fsz[k]);
		assert_int_equal(hm_folio_size(p + size - 1), fsz[k]);
		assert_int_equal(hm_folio_size(p + size), 0);
		assert_int_equal(hm_free(p, 0), 0);
		assert_false(hm_is_managed(p));
		assert_int_equal(hm_folio_size(p), 0);
	}
}

/* Sizes are rounded up to whole folios; the stats count the regions. */
static void test_alloc_rounding(void **state)
{
	struct hm_stats s0 = stats_now();
	char *a = hm_alloc(1, HM_FOLIO_64K);
	char *b = hm_alloc(HM_FOLIO_2M + 1, HM_FOLIO_2M);
	char *c = hm_alloc(4097, HM_FOLIO_4K);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.regions - s0.regions, 3);
	assert_int_equal(s1.managed_bytes - s0.managed_bytes, HM_FOLIO_64K + 2 * HM_FOLIO_2M + 2 * PG);
	assert_true(hm_is_managed(a + HM_FOLIO_64K - 1));
	/* past a's end: unmanaged, unless the kernel put b or c right there */
	assert_true(!hm_is_managed(a + HM_FOLIO_64K) || a + HM_FOLIO_64K == b || a + HM_FOLIO_64K == c);
	assert_true(hm_is_managed(b + 2 * HM_FOLIO_2M - 1));
	assert_true(hm_is_managed(c + 2 * PG - 1));
	/* zero-filled, and writable to the last byte of the rounded size */
	assert_int_equal(a[HM_FOLIO_64K - 1], 0);
	a[HM_FOLIO_64K - 1] = 1;
	b[2 * HM_FOLIO_2M - 1] = 2;
	assert_int_equal(b[0], 0);
	assert_int_equal(hm_free(a, 0), 0);
	assert_int_equal(hm_free(b, 0), 0);
	assert_int_equal(hm_free(c, 2 * PG), 0); /* full size is accepted too */
	struct hm_stats s2 = stats_now();
	assert_int_equal(s2.regions, s0.regions);
	assert_int_equal(s2.managed_bytes, s0.managed_bytes);
}

/* Many regions: every lookup finds its own, in any order of freeing. */
static void test_many_regions(void **state)
{
	enum { N = 200 };
	char *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = hm_alloc((size_t)(1 + i % 5) * PG, HM_FOLIO_4K);
		assert_non_null(p[i]);
		p[i][0] = (char)i;
	}
	for (int i = 0; i < N; i++) {
		assert_true(hm_is_managed(p[i]));
		assert_int_equal(p[i][0], (char)i);
	}
	for (int i = 0; i < N; i += 2)
		assert_int_equal(hm_free(p[i], 0), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(hm_is_managed(p[i]), i % 2 == 1);
		if (i % 2)
			assert_int_equal(p[i][0], (char)i);
	}
	for (int i = 1; i < N; i += 2)
		assert_int_equal(hm_free(p[i], 0), 0);
}

#define expect_where(p, n, want) expect_where_at(p, n, want, __LINE__)
static void expect_where_at(const void *p, size_t npages, const int *want, int line)
{
	int *w = malloc(npages * sizeof(int));
	assert_int_equal(hm_where(p, npages * PG, w), 0);
	for (size_t i = 0; i < npages; i++)
		if (w[i] != want[i])
			fail_msg("line %d: hm_where page %zu = %d, expected %d", line, i, w[i], want[i]);
	free(w);
}

static void test_where_life(void **state)
{
	int tier = EXPECT_OK(hm_tier_add("emu:16M"));
	enum { NP = 64 }; /* four 64 KiB folios */
	char *p = hm_alloc(NP * PG, HM_FOLIO_64K);
	assert_non_null(p);
	int want[NP];

	for (int i = 0; i < NP; i++)
		want[i] = HM_WHERE_NONE;
	expect_where(p, NP, want);

	/* a read touch populates the whole folio (zeros) */
	assert_int_equal(((volatile char *)p)[5 * PG], 0);
	for (int i = 0; i < 16; i++)
		want[i] = 0;
	expect_where(p, NP, want);
	/* a write touch in the third folio */
	p[40 * PG + 7] = 'x';
	for (int i = 32; i < 48; i++)
		want[i] = 0;
	expect_where(p, NP, want);

	/* migrating everything: populated folios move, untouched ones are
	 * skipped and stay NONE */
	int st[NP];
	assert_int_equal(hm_migrate_pages(p, NP * PG), NP);
	long moved = hm_migrate(p, NP * PG, tier, st);
	assert_int_equal(moved, 32);
	for (int i = 0; i < NP; i++) {
		bool pop = i < 16 || (i >= 32 && i < 48);
		assert_int_equal(st[i], pop ? 0 : HM_MIGRATE_SKIPPED);
		want[i] = pop ? tier : HM_WHERE_NONE;
	}
	expect_where(p, NP, want);
	/* a sub-range query */
	int w2[4];
	assert_int_equal(hm_where(p + 30 * PG, 4 * PG, w2), 0);
	assert_int_equal(w2[0], HM_WHERE_NONE);
	assert_int_equal(w2[1], HM_WHERE_NONE);
	assert_int_equal(w2[2], tier);
	assert_int_equal(w2[3], tier);

	/* the CPU touches one page: its folio comes home */
	assert_int_equal(p[40 * PG + 7], 'x');
	for (int i = 32; i < 48; i++)
		want[i] = 0;
	expect_where(p, NP, want);

	/* migrating again: what is already there is skipped */
	moved = hm_migrate(p, NP * PG, tier, st);
	assert_int_equal(moved, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(st[i], HM_MIGRATE_SKIPPED);
	for (int i = 32; i < 48; i++) {
		assert_int_equal(st[i], 0);
		want[i] = tier;
	}
	expect_where(p, NP, want);

	/* freeing a folio: its pages report UNMAPPED and its slots go */
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(tier, &ti), 0);
	assert_int_equal(ti.used, 32 * PG);
	assert_int_equal(hm_free(p, HM_FOLIO_64K), 0);
	assert_int_equal(hm_tier_info(tier, &ti), 0);
	assert_int_equal(ti.used, 16 * PG);
	assert_false(hm_is_managed(p));
	assert_true(hm_is_managed(p + HM_FOLIO_64K));
	for (int i = 0; i < 16; i++)
		want[i] = HM_WHERE_UNMAPPED;
	expect_where(p, NP, want);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_info(tier, &ti), 0);
	assert_int_equal(ti.used, 0);
	assert_int_equal(hm_tier_remove(tier), 0);
}

/* Freeing a part leaves a hole that nothing else may fill while the rest
 * of the allocation lives: later allocations land elsewhere, the pages
 * after the hole stay managed, the final hm_free unmaps only what is
 * ours, and a part cannot be freed twice. */
static void test_partial_free_hole(void **state)
{
	int tier = EXPECT_OK(hm_tier_add("emu:1M"));
	enum { NP = 8, NB = 64 };
	char *a = hm_alloc(NP * PG, HM_FOLIO_4K);
	assert_non_null(a);
	fill_pattern(a, NP, 7);
	uint64_t regions0 = stats_now().regions;
	assert_int_equal(hm_free(a + PG, PG), 0);
	assert_false(hm_is_managed(a + PG));
	int want[NP];
	for (int i = 0; i < NP; i++)
		want[i] = i == 1 ? HM_WHERE_UNMAPPED : 0;
	expect_where(a, NP, want);
	EXPECT_ERR(hm_free(a + PG, PG), EINVAL); /* twice */
	EXPECT_ERR(hm_free(a, 2 * PG), EINVAL);  /* covering the hole */

	char *b[NB];
	for (int i = 0; i < NB; i++) {
		b[i] = hm_alloc(PG, HM_FOLIO_4K);
		assert_non_null(b[i]);
		if (b[i] >= a && b[i] < a + NP * PG)
			fail_msg("allocation %d landed at %p, inside the live allocation at %p", i, b[i], a);
		b[i][0] = (char)(i + 1);
	}
	/* the pages after the hole are still managed and still migrate */
	for (int i = 2; i < NP; i++)
		assert_true(hm_is_managed(a + i * PG));
	assert_int_equal(hm_migrate(a + 2 * PG, (NP - 2) * PG, tier, NULL), NP - 2);
	bool skip[NP] = {false, true};
	assert_int_equal(check_pattern_skip(a, NP, 7, skip), -1);

	assert_int_equal(hm_free(a, 0), 0);
	for (int i = 0; i < NB; i++) {
		assert_true(hm_is_managed(b[i]));
		assert_int_equal(b[i][0], (char)(i + 1));
		assert_int_equal(hm_free(b[i], 0), 0);
	}
	assert_int_equal(stats_now().regions, regions0 - 1);

	/* freed part by part: the last part takes the allocation away */
	char *c = hm_alloc(4 * PG, HM_FOLIO_4K);
	assert_non_null(c);
	for (int i = 3; i >= 0; i--) {
		assert_true(hm_is_managed(c + i * PG));
		assert_int_equal(hm_free(c + i * PG, PG), 0);
		assert_false(hm_is_managed(c + i * PG));
	}
	assert_int_equal(stats_now().regions, regions0 - 1);
	EXPECT_ERR(hm_free(c, 0), EINVAL);
	assert_int_equal(hm_tier_remove(tier), 0);
}

/* hm_migrate_pages counts whole folios around the range. */
/* Regions asked for back to back at aligned hints (as mimalloc places its
 * segments through the preload library's mmap) land exactly there: the
 * 2 MiB alignment padding must not push the second one elsewhere. */
static void test_hint_back_to_back(void **state)
{
	(void)state;
	size_t sz = 32 << 20;
	/* a free, 2 MiB-aligned stretch of address space for both */
	char *probe = mmap(NULL, 3 * sz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(probe != MAP_FAILED);
	char *h = (char *)(((uintptr_t)probe + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
	munmap(probe, 3 * sz);
	/* and something right after it, as the next segment would be */
	char *wall = mmap(h + 2 * sz, 2 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	assert_ptr_equal(wall, h + 2 * sz);
	char *a = hm_region_alloc(sz, HM_FOLIO_4K, h, HM_FOLIO_2M, "test");
	char *b = hm_region_alloc(sz, HM_FOLIO_4K, h + sz, HM_FOLIO_2M, "test");
	assert_ptr_equal(a, h);
	assert_ptr_equal(b, h + sz);
	a[0] = 1;
	b[sz - 1] = 2;
	assert_int_equal(hm_free(a, 0), 0);
	assert_int_equal(hm_free(b, 0), 0);
	munmap(wall, 2 << 20);
}

static void test_migrate_pages(void **state)
{
	char *p = hm_alloc(2 * HM_FOLIO_2M, HM_FOLIO_2M);
	char *q = hm_alloc(4 * HM_FOLIO_64K, HM_FOLIO_64K);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal(hm_migrate_pages(p, PG), 512);
	assert_int_equal(hm_migrate_pages(p + HM_FOLIO_2M - PG, 2 * PG), 1024);
	assert_int_equal(hm_migrate_pages(q + PG, PG), 16);
	assert_int_equal(hm_migrate_pages(q + 15 * PG, 2 * PG), 32);
	assert_int_equal(hm_migrate_pages(q, 0), 0);
	/* status array of a widened range: one entry per page of the folios */
	int tier = EXPECT_OK(hm_tier_add("emu:8M"));
	memset(q, 0x11, 4 * HM_FOLIO_64K);
	int st[32];
	for (int i = 0; i < 32; i++)
		st[i] = 12345;
	assert_int_equal(hm_migrate(q + 15 * PG, 2 * PG, tier, st), 32);
	for (int i = 0; i < 32; i++)
		assert_int_equal(st[i], 0);
	int w[64];
	assert_int_equal(hm_where(q, 64 * PG, w), 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(w[i], i < 32 ? tier : 0);
	for (size_t i = 0; i < 4 * HM_FOLIO_64K; i++)
		if (q[i] != 0x11)
			fail_msg("byte %zu changed", i);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_free(q, 0), 0);
	assert_int_equal(hm_tier_remove(tier), 0);
}

/* A migration bigger than the tier: the pages that fit move, the others
 * report -ENOSPC and stay in RAM; no byte changes. */
static void test_full_tier(void **state)
{
	int tier = EXPECT_OK(hm_tier_add("emu:256K")); /* 64 slots */
	enum { NP = 128 };
	char *p = hm_alloc(NP * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, NP, 1);
	struct hm_stats s0 = stats_now();
	int st[NP], w[NP];
	long moved = hm_migrate(p, NP * PG, tier, st);
	assert_int_equal(moved, 64);
	int ok = 0, nospc = 0;
	assert_int_equal(hm_where(p, NP * PG, w), 0);
	for (int i = 0; i < NP; i++) {
		if (st[i] == 0) {
			ok++;
			assert_int_equal(w[i], tier);
		} else {
			assert_int_equal(st[i], -ENOSPC);
			assert_int_equal(w[i], 0);
			nospc++;
		}
	}
	assert_int_equal(ok, 64);
	assert_int_equal(nospc, 64);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.migrate_failures - s0.migrate_failures, 64);
	assert_int_equal(s1.pages_demoted - s0.pages_demoted, 64);
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(tier, &ti), 0);
	assert_int_equal(ti.used, ti.capacity);
	/* every byte is still there, through faults on the tier pages */
	ASSERT_PATTERN(p, NP, 1);
	assert_int_equal(hm_tier_info(tier, &ti), 0);
	assert_int_equal(ti.used, 0);

	/* 64 KiB folios on a 96 KiB tier: one folio fits; the second finds
	 * neither an aligned run nor 16 single slots, and stays whole in RAM */
	int t2 = EXPECT_OK(hm_tier_add("emu:96K"));
	char *q = hm_alloc(2 * HM_FOLIO_64K, HM_FOLIO_64K);
	assert_non_null(q);
	fill_pattern(q, 32, 2);
	int st2[32];
	assert_int_equal(hm_migrate(q, 2 * HM_FOLIO_64K, t2, st2), 16);
	for (int i = 0; i < 32; i++)
		assert_int_equal(st2[i], i < 16 ? 0 : -ENOSPC);
	assert_int_equal(hm_tier_info(t2, &ti), 0);
	assert_int_equal(ti.used, 16 * PG);
	/* the tier with pages on it cannot go */
	EXPECT_ERR(hm_tier_remove(t2), EBUSY);
	/* back home explicitly */
	assert_int_equal(hm_migrate(q, 2 * HM_FOLIO_64K, 0, st2), 16);
	for (int i = 0; i < 32; i++)
		assert_int_equal(st2[i], i < 16 ? 0 : HM_MIGRATE_SKIPPED);
	ASSERT_PATTERN(q, 32, 2);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_free(q, 0), 0);
	assert_int_equal(hm_tier_remove(tier), 0);
	assert_int_equal(hm_tier_remove(t2), 0);
}

/* A folio that finds no aligned run on a fragmented tier falls back to
 * single slots; it comes back intact from scattered slots. */
static void test_fallback_single_slots(void **state)
{
	int tier = EXPECT_OK(hm_tier_add("emu:256K")); /* 64 slots */
	struct hm_tier *t = hm_tier_get(tier);
	assert_non_null(t);
	uint64_t s;
	/* take every slot, then free every other one: 32 free, no run of 2 */
	for (int i = 0; i < 64; i++)
		assert_int_equal(hm_tier_alloc(t, 0, &s), 0);
	for (uint64_t i = 0; i < 64; i += 2)
		hm_tier_free(t, i, 1);
	char *p = hm_alloc(HM_FOLIO_64K, HM_FOLIO_64K);
	assert_non_null(p);
	fill_pattern(p, 16, 3);
	uint64_t fb0 = stats_now().fallback_pages;
	int st[16];
	assert_int_equal(hm_migrate(p, HM_FOLIO_64K, tier, st), 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(st[i], 0);
	assert_int_equal(stats_now().fallback_pages, fb0 + 1);
	int w[16];
	assert_int_equal(hm_where(p, HM_FOLIO_64K, w), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(w[i], tier);
	/* the folio's pages went to 16 of the freed (even) slots */
	struct hm_region *r = hm_region_get((uintptr_t)p);
	assert_non_null(r);
	for (int i = 0; i < 16; i++) {
		uint64_t pw = atomic_load(&r->words[i]);
		assert_int_equal(pw_loc(pw), HM_LOC_TIER);
		assert_int_equal(pw_slot(pw) % 2, 0);
	}
	hm_region_put(r);
	/* a fault brings the whole folio home from its scattered slots */
	ASSERT_PATTERN(p, 16, 3);
	assert_int_equal(hm_where(p, HM_FOLIO_64K, w), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(w[i], 0);
	assert_int_equal(atomic_load(&t->used_slots), 32);
	for (uint64_t i = 1; i < 64; i += 2)
		hm_tier_free(t, i, 1);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(tier), 0);
}

/* Tier-to-tier migration and tier counters. */
static void test_tier_to_tier(void **state)
{
	int a = EXPECT_OK(hm_tier_add("emu:4M"));
	int b = EXPECT_OK(hm_tier_add("emu:4M"));
	enum { NP = 48 };
	char *p = hm_alloc(NP * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, NP, 4);
	struct hm_stats s0 = stats_now();
	assert_int_equal(hm_migrate(p, NP * PG, a, NULL), NP);
	assert_int_equal(hm_migrate(p, NP * PG, b, NULL), NP);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.pages_demoted - s0.pages_demoted, NP);
	assert_int_equal(s1.pages_tier2tier - s0.pages_tier2tier, NP);
	struct hm_tier_info ia, ib;
	assert_int_equal(hm_tier_info(a, &ia), 0);
	assert_int_equal(hm_tier_info(b, &ib), 0);
	assert_int_equal(ia.used, 0);
	assert_int_equal(ib.used, NP * PG);
	assert_int_equal(ia.pages_in, NP);
	assert_int_equal(ia.pages_out, NP);
	assert_int_equal(ib.pages_in, NP);
	assert_string_equal(ia.kind, "emu");
	assert_string_equal(ia.name, "emu:4M");
	assert_false(ia.coherent);
	assert_int_equal(ia.capacity, 4u << 20);
	int w[NP];
	assert_int_equal(hm_where(p, NP * PG, w), 0);
	for (int i = 0; i < NP; i++)
		assert_int_equal(w[i], b);
	ASSERT_PATTERN(p, NP, 4);
	assert_int_equal(hm_tier_info(b, &ib), 0);
	assert_int_equal(ib.used, 0);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(a), 0);
	assert_int_equal(hm_tier_remove(b), 0);
}

/* hm_shutdown brings every page home and leaves the memory as ordinary,
 * readable memory; a new hm_init starts from a clean slate. */
static void test_shutdown_keeps_data(void **state)
{
	int tier = EXPECT_OK(hm_tier_add("emu:8M"));
	char *p = hm_alloc(HM_FOLIO_2M, HM_FOLIO_2M);
	char *q = hm_alloc(32 * PG, HM_FOLIO_4K);
	assert_non_null(p);
	assert_non_null(q);
	fill_pattern(p, 512, 5);
	fill_pattern(q, 32, 6);
	assert_int_equal(hm_migrate(p, HM_FOLIO_2M, tier, NULL), 512);
	assert_int_equal(hm_migrate(q, 32 * PG, tier, NULL), 32);
	assert_int_equal(hm_shutdown(), 0);
	assert_false(hm_is_managed(p));
	assert_int_equal(hm_tier_count(), 0);
	ASSERT_PATTERN(p, 512, 5);
	ASSERT_PATTERN(q, 32, 6);
	/* it is ordinary memory now: writable, and ours to unmap */
	p[0] = 1;
	munmap(p, HM_FOLIO_2M);
	munmap(q, 32 * PG);

	assert_int_equal(hm_init(NULL), 0);
	assert_int_equal(hm_tier_count(), 1);
	struct hm_stats s = stats_now();
	assert_int_equal(s.regions, 0);
	assert_int_equal(s.managed_bytes, 0);
	assert_int_equal(s.resident_bytes, 0);
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(0, &ti), 0);
	assert_int_equal(ti.used, 0);
	EXPECT_ERR(hm_tier_info(tier, &ti), ENOENT);
}

int main(void)
{
	hm_test_require_uffd();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_alloc_rounding, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_many_regions, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_where_life, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_partial_free_hole, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_hint_back_to_back, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_migrate_pages, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_full_tier, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_fallback_single_slots, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_tier_to_tier, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_shutdown_keeps_data, unit_setup_init, unit_teardown_shutdown),
	};
	return cmocka_run_group_tests_name("unit_region", tests, NULL, NULL);
}
