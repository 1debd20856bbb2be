/*
 * test_policy.c — placement policies driven by synthetic access traces with
 * a fake clock (deterministic: the policy ops are called directly), then the
 * budget and reclaimer end to end: bad budget input, a cold region that ends
 * on the device while a hot one stays in RAM, and a budget never exceeded by
 * more than one reclaim batch.
 */
#include "unit.h"

#include <pthread.h>
#include <time.h>

#define NF 64

/* Rank folios coldest first by the policy's score. */
static void rank(const struct hm_policy_ops *p, struct hm_pstate *ps, const struct hm_policy_ctx *ctx,
		 uint32_t now, int *order, int n)
{
	uint64_t sc[NF];
	for (int i = 0; i < n; i++) {
		struct hm_pstate tmp = ps[i];
		if (p->scan)
			p->scan(&tmp, ctx, now, false);
		sc[i] = p->score(&tmp, ctx, now);
		order[i] = i;
	}
	for (int i = 1; i < n; i++) /* insertion sort, stable */
		for (int j = i; j > 0 && sc[order[j]] < sc[order[j - 1]]; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
}

static void test_registry(void **state)
{
	assert_ptr_equal(hm_policy_find("fifo"), &hm_policy_fifo);
	assert_ptr_equal(hm_policy_find("recency"), &hm_policy_recency);
	assert_ptr_equal(hm_policy_find("frequency"), &hm_policy_frequency);
	assert_null(hm_policy_find("lru"));
	assert_null(hm_policy_find(NULL));
}

/* fifo: arrival order, and re-arrival moves a folio to the back. */
static void test_fifo(void **state)
{
	const struct hm_policy_ops *p = &hm_policy_fifo;
	struct hm_policy_ctx ctx = {0};
	struct hm_pstate ps[NF] = {{0}};
	for (int i = 0; i < 8; i++)
		p->event(&ps[i], &ctx, HM_EV_FIRST_TOUCH, 10 + (uint32_t)i * 10);
	/* folio 0 comes back later: it is now the youngest */
	p->event(&ps[0], &ctx, HM_EV_FETCH, 500);
	int order[NF];
	rank(p, ps, &ctx, 600, order, 8);
	int want[8] = {1, 2, 3, 4, 5, 6, 7, 0};
	for (int i = 0; i < 8; i++)
		assert_int_equal(order[i], want[i]);
}

/* recency: generations advance with the fake clock; the folio touched in the
 * oldest generation goes first; a refault is protected for a generation. */
static void test_recency(void **state)
{
	const struct hm_policy_ops *p = &hm_policy_recency;
	struct hm_policy_ctx ctx = {0};
	struct hm_pstate ps[NF] = {{0}};
	uint32_t now = 0;
	/* gen 0: folios 0..3 */
	for (int i = 0; i < 4; i++)
		p->event(&ps[i], &ctx, HM_EV_FIRST_TOUCH, now);
	now += 300;
	p->tick(&ctx, now);
	assert_int_equal(ctx.gen, 1);
	/* gen 1: folios 4..7, and folio 1 again (hot) */
	for (int i = 4; i < 8; i++)
		p->event(&ps[i], &ctx, HM_EV_FIRST_TOUCH, now);
	p->event(&ps[1], &ctx, HM_EV_FETCH, now);
	now += 100;
	p->tick(&ctx, now); /* < 250 ms: no new generation */
	assert_int_equal(ctx.gen, 1);
	now += 200;
	p->tick(&ctx, now);
	assert_int_equal(ctx.gen, 2);
	/* gen 2: folio 5 refaults: stamped gen 3, protected */
	p->event(&ps[5], &ctx, HM_EV_REFAULT, now);
	int order[NF];
	rank(p, ps, &ctx, now, order, 8);
	/* coldest: 0, 2, 3 (gen 0), then gen 1 (4, 6, 7 once; 1 touched twice), then 5 */
	assert_true(order[0] == 0 || order[0] == 2 || order[0] == 3);
	assert_true(order[1] == 0 || order[1] == 2 || order[1] == 3);
	assert_true(order[2] == 0 || order[2] == 2 || order[2] == 3);
	assert_int_equal(order[7], 5);
	assert_int_equal(order[6], 1);
}

/* recency keeps two lists: a folio seen once (a cold page one access
 * brought back) goes before one seen twice (a hot page that refaulted),
 * even when it is younger; only off RAM does a count lapse with time. */
static void test_recency_two_lists(void **state)
{
	const struct hm_policy_ops *p = &hm_policy_recency;
	struct hm_policy_ctx ctx = {0};
	struct hm_pstate ps[2] = {{0}};
	uint32_t now = 0;
	p->event(&ps[0], &ctx, HM_EV_FIRST_TOUCH, now); /* hot: touched, */
	p->event(&ps[0], &ctx, HM_EV_REFAULT, now);     /* demoted, refaulted */
	for (int t = 0; t < 20; t++) {
		now += 250;
		p->tick(&ctx, now);
	}
	p->event(&ps[1], &ctx, HM_EV_FETCH, now); /* cold: one fetch, just now */
	int order[2];
	rank(p, ps, &ctx, now, order, 2); /* rank() scans as if off RAM */
	assert_int_equal(order[0], 1);
	/* 25 more generations (over FREQ_GENS since folio 0's access): in RAM
	 * the count stays, off RAM it lapses */
	for (int t = 0; t < 25; t++) {
		now += 250;
		p->tick(&ctx, now);
	}
	struct hm_pstate in = ps[0], off = ps[0];
	p->scan(&in, &ctx, now, true);
	p->scan(&off, &ctx, now, false);
	assert_int_equal(in.count, ps[0].count);
	assert_int_equal(off.count, 0);
}

/* frequency: a resident folio's count does not decay with time. */
static void test_frequency_resident_keeps(void **state)
{
	const struct hm_policy_ops *p = &hm_policy_frequency;
	struct hm_policy_ctx ctx = {0};
	struct hm_pstate ps = {0};
	for (int k = 0; k < 8; k++)
		p->event(&ps, &ctx, HM_EV_FETCH, 1);
	uint32_t now = 1 + 1500;
	p->tick(&ctx, now); /* a decay is due */
	struct hm_pstate in = ps, off = ps;
	p->scan(&in, &ctx, now, true);
	p->scan(&off, &ctx, now, false);
	assert_int_equal(in.count, 8);
	assert_int_equal(off.count, 4);
}

/* frequency: the hot threshold is sized to the budget; hot folios rank
 * last; counts decay with the fake clock. */
static void test_frequency(void **state)
{
	const struct hm_policy_ops *p = &hm_policy_frequency;
	struct hm_policy_ctx ctx = {0};
	struct hm_pstate ps[NF] = {{0}};
	uint32_t now = 1;
	/* 8 hot folios with 20 accesses, 8 warm with 3, 48 cold with 1 */
	for (int i = 0; i < NF; i++) {
		int n = i < 8 ? 20 : i < 16 ? 3 : 1;
		for (int k = 0; k < n; k++)
			p->event(&ps[i], &ctx, k ? HM_EV_FETCH : HM_EV_FIRST_TOUCH, now + (uint32_t)i);
	}
	/* the histogram as the reclaimer builds it; 64 KiB folios */
	for (int i = 0; i < NF; i++) {
		unsigned b = hm_count_bucket(ps[i].count);
		ctx.folio_hist[b]++;
		ctx.hist_bytes[b] += 65536;
	}
	/* budget for 10 folios: only the 8 hot ones fit above the threshold */
	ctx.budget_folio_bytes = 10 * 65536;
	p->tick(&ctx, now);
	assert_true(ctx.hot_threshold > 3 && ctx.hot_threshold <= 20);
	int order[NF];
	rank(p, ps, &ctx, now, order, NF);
	for (int i = 0; i < 48; i++)
		assert_true(order[i] >= 16); /* the cold ones first */
	for (int i = 56; i < NF; i++)
		assert_true(order[i] < 8); /* the hot ones last */
	/* a budget for everything: the threshold drops to take in the warm */
	ctx.budget_folio_bytes = (uint64_t)NF * 65536;
	p->tick(&ctx, now);
	assert_true(ctx.hot_threshold <= 3);
	/* decay: after DECAY_MS a scan halves the counts */
	now += 1500;
	p->tick(&ctx, now);
	struct hm_pstate h = ps[0];
	p->scan(&h, &ctx, now, false);
	assert_int_equal(h.count, 10);
	/* a refault adds a bonus */
	struct hm_pstate c = ps[40];
	p->event(&c, &ctx, HM_EV_REFAULT, now);
	assert_int_equal(c.count, ps[40].count + 4);
}

/* Tracker events (track.c): two folios arrive together; afterwards one is
 * kept in use by accesses that cause no fault (HM_EV_WRITE, HM_EV_HINT)
 * and the other is idle.  recency and frequency must rank the idle one
 * colder; fifo ignores the events (no hotness: it ranks by arrival). */
static void test_track_events(void **state)
{
	const struct hm_policy_ops *pols[] = {&hm_policy_recency, &hm_policy_frequency, &hm_policy_fifo};
	for (int k = 0; k < 3; k++) {
		for (int ev = HM_EV_WRITE; ev <= HM_EV_HINT; ev++) {
			const struct hm_policy_ops *p = pols[k];
			struct hm_policy_ctx ctx = {0};
			struct hm_pstate ps[2] = {{0}};
			uint32_t now = 1;
			/* folio 0 (the one that will be used) arrives first */
			p->event(&ps[0], &ctx, HM_EV_FIRST_TOUCH, now);
			p->event(&ps[1], &ctx, HM_EV_FIRST_TOUCH, now + 1);
			struct hm_pstate before = ps[0];
			for (int t = 0; t < 12; t++) {
				now += 250;
				p->tick(&ctx, now);
				if (p->scan) {
					p->scan(&ps[0], &ctx, now, false);
					p->scan(&ps[1], &ctx, now, false);
				}
				p->event(&ps[0], &ctx, (enum hm_event)ev, now); /* used, no fault */
			}
			int order[2];
			rank(p, ps, &ctx, now, order, 2);
			if (p == &hm_policy_fifo) {
				assert_int_equal(order[0], 0); /* still the oldest arrival */
				assert_int_equal(ps[0].stamp, before.stamp);
			} else {
				assert_int_equal(order[0], 1); /* the idle one goes first */
				assert_true(ps[0].count > ps[1].count);
			}
		}
	}
}

/* --- the budget, end to end ------------------------------------------ */

/* Block heat: samples in one 2 MiB block make the whole block hot (a hit
 * weighs a quarter: one hit is over the 1/8 threshold); samples that go back
 * untouched cool it again; other blocks are untouched by either. */
static void test_block_heat(void **state)
{
	struct hm_region r;
	memset(&r, 0, sizeof(r));
	r.npages = 3 * HM_HEAT_PAGES;
	r.heat = calloc(3, sizeof(uint16_t));
	assert_non_null(r.heat);
	for (size_t pg = 0; pg < r.npages; pg += 97)
		assert_false(hm_policy_block_hot(&r, pg));
	hm_policy_sampled(&r, HM_HEAT_PAGES + 7, true);
	assert_true(hm_policy_block_hot(&r, HM_HEAT_PAGES));            /* its first page */
	assert_true(hm_policy_block_hot(&r, 2 * HM_HEAT_PAGES - 1));    /* its last */
	assert_false(hm_policy_block_hot(&r, HM_HEAT_PAGES - 1));       /* the block before */
	assert_false(hm_policy_block_hot(&r, 2 * HM_HEAT_PAGES));       /* the block after */
	hm_policy_sampled(&r, HM_HEAT_PAGES + 300, false);
	hm_policy_sampled(&r, HM_HEAT_PAGES + 301, false);
	assert_true(hm_policy_block_hot(&r, HM_HEAT_PAGES)); /* 1/4 -> 3/16 -> 9/64 > 1/8 */
	hm_policy_sampled(&r, HM_HEAT_PAGES + 302, false);
	assert_false(hm_policy_block_hot(&r, HM_HEAT_PAGES)); /* 27/256 < 1/8 */
	for (int k = 0; k < 40; k++)
		hm_policy_sampled(&r, 2 * HM_HEAT_PAGES, true); /* saturates, no wrap */
	assert_true(hm_policy_block_hot(&r, 3 * HM_HEAT_PAGES - 1));
	assert_true(r.heat[2] > 60000);
	hm_policy_sampled(&r, r.npages, true); /* out of the region: ignored */
	assert_false(hm_policy_block_hot(&r, r.npages));
	free(r.heat);
}

static void test_budget_bad_input(void **state)
{
	EXPECT_ERR(hm_budget_set(64 << 20, 0, 0, 0), ENOENT); /* no tier yet */
	int t = hm_tier_add("emu:64M");
	assert_true(t > 0);
	assert_int_equal(hm_budget_set(32 << 20, 50, 80, t), 0);
	struct hm_budget b;
	assert_int_equal(hm_budget_get(&b), 0);
	EXPECT_ERR(hm_budget_set(0, 0, 0, 0), EINVAL);
	EXPECT_ERR(hm_budget_set(1 << 20, 0, 0, 0), EINVAL);
	EXPECT_ERR(hm_budget_set(UINT64_MAX - 1, 0, 0, 0), E2BIG);
	EXPECT_ERR_MSG(hm_budget_set(32 << 20, 90, 80, 0), EINVAL, "watermarks");
	EXPECT_ERR(hm_budget_set(32 << 20, 50, 101, 0), EINVAL);
	EXPECT_ERR(hm_budget_set(32 << 20, 0, 0, 9), ENOENT);
	EXPECT_ERR_MSG(hm_policy_set("lru"), EINVAL, "lru");
	assert_string_equal(hm_policy_get(), "recency");
	/* the previous settings are kept */
	struct hm_budget b2;
	assert_int_equal(hm_budget_get(&b2), 0);
	assert_int_equal(b.bytes, b2.bytes);
	assert_int_equal(b.low, b2.low);
	assert_int_equal(b.high, b2.high);
	assert_int_equal(b.tier, b2.tier);
	assert_int_equal(b.bytes, 32 << 20);
	assert_int_equal(b.low, (32 << 20) / 100 * 50);
	assert_int_equal(b.tier, t);
	assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
	assert_int_equal(hm_budget_get(&b2), 0);
	assert_int_equal(b2.bytes, 0);
	assert_int_equal(hm_policy_set("fifo"), 0);
	assert_string_equal(hm_policy_get(), "fifo");
	assert_int_equal(hm_policy_set("recency"), 0);
}

/* hm_track_set: bad input is refused with a message, the settings in force
 * stay; a mechanism this set-up lacks is -ENOTSUP. */
static void test_track_bad_input(void **state)
{
	unsigned pct = 0, on = hm_track_get(&pct);
	assert_true(on & HM_TRACK_FAULTS);
	EXPECT_ERR(hm_track_set(0x40, 0), EINVAL);
	EXPECT_ERR(hm_track_set(HM_TRACK_NONE | HM_TRACK_SAMPLE, 0), EINVAL);
	EXPECT_ERR_MSG(hm_track_set(HM_TRACK_AUTO, 101), EINVAL, "101");
	unsigned pct2 = 0;
	assert_int_equal(hm_track_get(&pct2), on);
	assert_int_equal(pct2, pct);
	struct hm_features f;
	hm_probe_features(&f);
	if (!strcmp(f.track_write, "none"))
		EXPECT_ERR(hm_track_set(HM_TRACK_WRITE, 0), ENOTSUP);
	assert_int_equal(hm_track_get(NULL), on);
	assert_int_equal(hm_track_set(HM_TRACK_NONE, 5), 0);
	assert_int_equal(hm_track_get(&pct2), HM_TRACK_FAULTS);
	assert_int_equal(pct2, 5);
	assert_int_equal(hm_track_set(HM_TRACK_AUTO, 0), 0);
	assert_int_equal(hm_track_get(&pct2), on);
	assert_int_equal(pct2, 5); /* 0 keeps the budget */
}

static uint64_t resident_now(void)
{
	struct hm_stats s;
	hm_stats_get(&s);
	return s.resident_bytes;
}

static void count_where(void *p, size_t len, int tier, size_t *ram, size_t *dev)
{
	size_t np = len / PG;
	int *w = calloc(np, sizeof(int));
	assert_non_null(w);
	assert_int_equal(hm_where(p, len, w), 0);
	*ram = *dev = 0;
	for (size_t i = 0; i < np; i++) {
		*ram += w[i] == 0;
		*dev += w[i] == tier;
	}
	free(w);
}

/* A cold region written first and left alone ends on the device; a hot one
 * written later and kept in use stays in RAM. */
static void test_cold_to_device(void **state)
{
	int t = hm_tier_add("emu:256M");
	assert_true(t > 0);
	size_t cold_len = 48 << 20, hot_len = 16 << 20;
	uint64_t *cold = hm_alloc(cold_len, HM_FOLIO_64K);
	uint64_t *hot = hm_alloc(hot_len, HM_FOLIO_64K);
	assert_non_null(cold);
	assert_non_null(hot);
	/* a budget that everything fits in starts the reclaimer, whose scans
	 * (every 500 ms) advance the generations: without it both regions
	 * would be stamped generation 0, and which one goes first would
	 * depend on their addresses */
	assert_int_equal(hm_budget_set(512 << 20, 0, 0, t), 0);
	for (size_t i = 0; i < cold_len / 8; i++)
		cold[i] = i ^ 0xc01d;
	/* a scan: a new generation, younger than every cold page's (only
	 * recency's generations advance; the other policies use none) */
	uint32_t gen = atomic_load(&hm_g.pub_gen);
	if (atomic_load(&hm_g.policy) == &hm_policy_recency) {
		HM_WAIT_UNTIL(atomic_load(&hm_g.pub_gen) != gen, HM_WAIT_CAP_MS);
		assert_int_not_equal(atomic_load(&hm_g.pub_gen), gen);
	}
	for (size_t i = 0; i < hot_len / 8; i++)
		hot[i] = i ^ 0x407;
	assert_int_equal(hm_budget_set(32 << 20, 0, 0, t), 0);
	HM_WAIT_UNTIL(resident_now() <= (32 << 20) / 100 * 95, HM_WAIT_CAP_MS);
	assert_true(resident_now() <= (32 << 20) / 100 * 95);
	size_t ram, dev;
	count_where(hot, hot_len, t, &ram, &dev);
	assert_int_equal(ram, hot_len / PG); /* all hot pages in RAM */
	count_where(cold, cold_len, t, &ram, &dev);
	assert_true(dev >= (cold_len - (16 << 20)) / PG); /* most of the cold on the device */
	struct hm_stats s;
	/* counted when a migration call returns: give it time */
	HM_WAIT_UNTIL((hm_stats_get(&s), s.reclaim_pages > 0), HM_WAIT_CAP_MS);
	assert_true(s.reclaim_pages > 0);
	for (size_t i = 0; i < hot_len / 8; i++)
		assert_int_equal(hot[i], i ^ 0x407);
	for (size_t i = 0; i < cold_len / 8; i++)
		if (cold[i] != (i ^ 0xc01d))
			fail_msg("cold word %zu lost", i);
	assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
	hm_free(cold, 0);
	hm_free(hot, 0);
}

/* Pages of block @b (2 MiB) of @p in RAM. */
static size_t block_in_ram(void *p, size_t b, int tier)
{
	size_t ram, dev;
	count_where((char *)p + (b << 21), 2 << 20, tier, &ram, &dev);
	return ram;
}

/* Block promotion: a block whose pages on the device are fetched densely
 * (random faults, 40 within a moment) comes to RAM whole; a block read
 * sequentially (readahead's business) and the untouched blocks stay on the
 * device; the data is intact everywhere. */
static void test_block_promote(void **state)
{
	int t = hm_tier_add("emu:64M");
	assert_true(t > 0);
	assert_int_equal(hm_policy_set("recency"), 0);
	size_t len = 16 << 20, np = len / PG;
	uint64_t *p = hm_alloc(len, HM_FOLIO_4K);
	assert_non_null(p);
	for (size_t i = 0; i < len / 8; i++)
		p[i] = i ^ 0xb10c;
	assert_int_equal(hm_budget_set(32 << 20, 0, 0, t), 0);
	assert_int_equal(hm_migrate(p, len, t, NULL), (long)np);
	struct hm_stats s0, s;
	hm_stats_get(&s0);
	/* the threshold grows with the mean fetches per block of the window
	 * before (policy.c): let the last test's fetches age out */
	nanosleep(&(struct timespec){1, 100 * 1000 * 1000}, NULL);
	/* block 2: pages scattered (a stride of 37 pages), 40 at once, then
	 * more a few at a time until the reclaimer has acted (a slow machine
	 * may spread the first 40 over two windows) */
	uint64_t sum = 0;
	size_t base = 2 * 512, k = 0;
	for (; k < 40; k++)
		sum += p[(base + (k * 37) % 512) * (PG / 8)];
	for (uint64_t end = hm_test_now_ms() + HM_WAIT_CAP_MS; hm_test_now_ms() < end;) {
		hm_stats_get(&s);
		if (s.block_promotions > s0.block_promotions)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		for (int j = 0; j < 4 && k < 512; j++, k++)
			sum += p[(base + (k * 37) % 512) * (PG / 8)];
	}
	/* block 4: the first 64 pages in order */
	for (size_t i = 0; i < 64; i++)
		sum += p[(4 * 512 + i) * (PG / 8)];
	HM_WAIT_UNTIL(block_in_ram(p, 2, t) == 512, HM_WAIT_CAP_MS);
	hm_stats_get(&s);
	printf("block promotion: %zu of 512 pages of the randomly faulted block in RAM (%zu touched), %zu of the "
	       "sequential one, %llu blocks promoted (%llu pages)\n",
	       block_in_ram(p, 2, t), k, block_in_ram(p, 4, t),
	       (unsigned long long)(s.block_promotions - s0.block_promotions),
	       (unsigned long long)(s.block_promoted_pages - s0.block_promoted_pages));
	assert_int_equal(block_in_ram(p, 2, t), 512);
	assert_true(s.block_promotions > s0.block_promotions);
	assert_true(s.block_promoted_pages > s0.block_promoted_pages);
	assert_true(block_in_ram(p, 4, t) < 512 / 2); /* what was read, and readahead */
	for (size_t b = 0; b < len >> 21; b++)
		if (b != 2 && b != 4)
			assert_int_equal(block_in_ram(p, b, t), 0);
	for (size_t i = 0; i < len / 8; i++)
		if (p[i] != (i ^ 0xb10c))
			fail_msg("word %zu lost (sum %llu)", i, (unsigned long long)sum);
	assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
	hm_free(p, 0);
}

static _Atomic bool sampling;
static _Atomic uint64_t peak;

static void *sampler(void *arg)
{
	while (atomic_load(&sampling)) {
		uint64_t r = resident_now();
		if (r > atomic_load(&peak))
			atomic_store(&peak, r);
	}
	return NULL;
}

/* Writing four times the budget never takes residency past the budget by
 * more than what one fault places (BOUND_SLACK: a folio and its fault-around
 * window; the handler holds faults at the budget), for each policy, in either
 * demotion mode (unit_policy_wp: HETMEM_DEMOTE=wp; the handler holds the
 * faults past the bound and goes on reading the REMOVE events of the
 * reclaimer's MADV_DONTNEED, fault.c hold_fault). */
#define BOUND_SLACK ((uint64_t)4 << 20)
static void test_budget_bound(void **state)
{
	const char *pols[] = {"recency", "frequency", "fifo"};
	int t = hm_tier_add("emu:512M");
	assert_true(t > 0);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(hm_policy_set(pols[k]), 0);
		size_t len = 128 << 20;
		uint64_t budget = 32 << 20;
		uint64_t *p = hm_alloc(len, HM_FOLIO_64K);
		assert_non_null(p);
		assert_int_equal(hm_budget_set(budget, 0, 0, t), 0);
		atomic_store(&peak, 0);
		atomic_store(&sampling, true);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, sampler, NULL), 0);
		for (size_t i = 0; i < len / 8; i++)
			p[i] = i * 31 + (uint64_t)k;
		uint64_t bad = 0;
		for (size_t i = 0; i < len / 8; i++)
			bad += p[i] != i * 31 + (uint64_t)k;
		atomic_store(&sampling, false);
		pthread_join(th, NULL);
		assert_int_equal(bad, 0);
		printf("policy %s, %s demotion: peak resident %.1f MiB for a %llu MiB budget (bound +%llu MiB)\n",
		       pols[k], hm_g.demote == HM_DEMOTE_WP ? "WP" : "MOVE",
		       (double)atomic_load(&peak) / (1 << 20), (unsigned long long)(budget >> 20),
		       (unsigned long long)(BOUND_SLACK >> 20));
		assert_true(atomic_load(&peak) <= budget + BOUND_SLACK);
		struct hm_stats s;
		hm_stats_get(&s);
		assert_true(s.reclaim_pages >= (len - budget) / PG / 2);
		assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
		hm_free(p, 0);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The reclaimer's selection keeps exactly the K lowest scores of N, through
 * many trims, with runs of equal scores (recency gives whole generations one
 * score) and with sorted input (the worst case of a naive quickselect). */
static void test_victim_selection(void **state)
{
	enum { KEEP = 1000, N = 20000 };
	struct hm_victim *buf = malloc(2 * KEEP * sizeof(*buf));
	uint64_t *all = malloc(N * sizeof(*all)), *got = malloc(KEEP * sizeof(*got));
	assert_non_null(buf);
	assert_non_null(all);
	assert_non_null(got);
	uint64_t x = 88172645463325252ull;
	for (int kind = 0; kind < 4; kind++) {
		struct hm_victims vs = {.v = buf, .keep = KEEP, .bar = UINT64_MAX};
		for (size_t i = 0; i < N; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			uint64_t sc = kind == 0 ? x : kind == 1 ? x % 7 : kind == 2 ? i : N - i;
			all[i] = sc;
			hm_victims_add(&vs, (struct hm_victim){sc, NULL, i});
		}
		hm_victims_trim(&vs);
		assert_int_equal(vs.n, KEEP);
		for (size_t i = 0; i < KEEP; i++) {
			got[i] = vs.v[i].score;
			assert_int_equal(all[vs.v[i].head], got[i]); /* an entry as it was added */
		}
		qsort(all, N, sizeof(*all), cmp_u64);
		qsort(got, KEEP, sizeof(*got), cmp_u64);
		for (size_t i = 0; i < KEEP; i++)
			assert_int_equal(got[i], all[i]);
	}
	/* many small cases: every K, N and spread of scores */
	for (int t = 0; t < 20000; t++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t keep = 1 + x % 50, n = 1 + (x >> 8) % 300;
		uint64_t spread = 1 + (x >> 20) % (t % 3 ? 1000000 : 4);
		struct hm_victims vs = {.v = buf, .keep = keep, .bar = UINT64_MAX};
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			all[i] = x % spread;
			hm_victims_add(&vs, (struct hm_victim){all[i], NULL, i});
		}
		hm_victims_trim(&vs);
		size_t want = n < keep ? n : keep;
		assert_int_equal(vs.n, want);
		for (size_t i = 0; i < want; i++)
			got[i] = vs.v[i].score;
		qsort(all, n, sizeof(*all), cmp_u64);
		qsort(got, want, sizeof(*got), cmp_u64);
		for (size_t i = 0; i < want; i++)
			assert_int_equal(got[i], all[i]);
	}
	/* fewer candidates than K: all kept */
	struct hm_victims vs = {.v = buf, .keep = KEEP, .bar = UINT64_MAX};
	for (size_t i = 0; i < 10; i++)
		hm_victims_add(&vs, (struct hm_victim){i, NULL, i});
	hm_victims_trim(&vs);
	assert_int_equal(vs.n, 10);
	free(buf);
	free(all);
	free(got);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_victim_selection),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_recency),
		cmocka_unit_test(test_recency_two_lists),
		cmocka_unit_test(test_frequency_resident_keeps),
		cmocka_unit_test(test_frequency),
		cmocka_unit_test(test_track_events),
		cmocka_unit_test(test_block_heat),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test_setup_teardown(test_budget_bad_input, unit_setup_uffd, unit_teardown_plain),
		cmocka_unit_test_setup_teardown(test_track_bad_input, unit_setup_uffd, unit_teardown_plain),
		cmocka_unit_test_setup_teardown(test_cold_to_device, unit_setup_uffd, unit_teardown_plain),
		cmocka_unit_test_setup_teardown(test_block_promote, unit_setup_uffd, unit_teardown_plain),
		cmocka_unit_test_setup_teardown(test_budget_bound, unit_setup_uffd, unit_teardown_plain),
	};
	int rc = cmocka_run_group_tests_name("policy (fake clock)", pure, NULL, NULL);
	return rc | cmocka_run_group_tests_name("budget and reclaimer", live, NULL, NULL);
}
