/*
 * writeback.c — chains of tiers: RAM -> compressed -> the next tier.
 *
 * When the budget's tier is a compressed one (lz4:, zstd:) and another
 * tier that is not a device's comes after it (a file: tier above all:
 * `--tier lz4:1G --tier file:PATH`), the reclaimer calls hm_writeback_pass
 * at every tick, and it moves folios from the compressed tier to that next
 * tier with the ordinary tier-to-tier migration (migrate.c), which locks
 * each folio, so a fault meanwhile waits or finds it where it went:
 *   - incompressible folios (half their pages or more stored raw) at once:
 *     they save no RAM in the pool;
 *   - folios stored for HETMEM_WRITEBACK_AGE seconds or more (60 by
 *     default; 0 = never by age): a folio on a tier has not been touched
 *     since it got there (any access faults it back), so its age on the
 *     tier is its idle time; zram's writeback of idle pages, automatic;
 *   - when the pool passes WB_HIGH of its SIZE, the oldest until it is back
 *     under WB_LOW, so demotion from RAM does not stop at a full pool.
 * Passes that only look at age run once a second; under pool pressure,
 * every tick, unless the last pressured pass moved nothing (the next tier
 * full or failing), then once a second too.  A page on the next tier
 * faults back to RAM directly.
 *
 * Demotion does not wait for that room: while the pool is full, the
 * reclaimer sends its victims straight to the next tier
 * (hm_writeback_spill_tier), as zswap sends a page it cannot store to the
 * swap device.  A small pool is then a cache of the most recently demoted
 * pages in front of the next tier, not a bottleneck.
 */
#include "internal.h"

#include <stdlib.h>

#define WB_PERIOD_MS 1000
#define WB_HIGH 90 /* percent of the pool's SIZE: write back the oldest */
#define WB_LOW 80  /* ... until under this */

/* the tier after @from that writeback goes to, or -1 */
static int next_tier(int from)
{
	for (int i = from + 1; i < HM_MAX_TIERS; i++) {
		struct hm_tier *t = hm_tier_get(i);
		/* (a coherent tier takes pages from RAM, not from a pool) */
		if (t && !t->device && !hm_tier_is_compressed(t) && !hm_tier_is_coherent(t))
			return i;
	}
	return -1;
}

int hm_writeback_spill_tier(void)
{
	int from = atomic_load(&hm_g.budget_tier);
	struct hm_tier *zt = hm_g.budget ? hm_tier_get(from) : NULL;
	if (!zt || !hm_tier_is_compressed(zt))
		return -1;
	int to = next_tier(from);
	if (to < 0)
		return -1;
	struct hm_ztier_usage u;
	hm_ztier_usage(zt, &u);
	/* full: as ztier's write judges it */
	return u.pool + hm_ztier_margin(u.limit) > u.limit ? to : -1;
}

/* Scores: incompressible first, then idle (older first), then (under
 * pressure only) the rest, older first. */
#define S_IDLE (1ull << 32)
#define S_PRESSURE (2ull << 32)

uint64_t hm_writeback_pass(struct hm_victim *buf, size_t keep, size_t *heads, uint32_t now)
{
	static uint32_t last;
	static bool stalled; /* the last pressured pass moved nothing */
	int from = atomic_load(&hm_g.budget_tier);
	struct hm_tier *zt = hm_g.budget ? hm_tier_get(from) : NULL;
	if (!zt || !hm_tier_is_compressed(zt))
		return 0;
	int to = next_tier(from);
	if (to < 0)
		return 0;
	struct hm_ztier_usage u;
	hm_ztier_usage(zt, &u);
	bool pressure = u.pool * 100 > u.limit * WB_HIGH;
	if ((!pressure || stalled) && now - last < WB_PERIOD_MS)
		return 0;
	last = now;
	/* pool bytes to free under pressure; a folio frees about its logical
	 * bytes times the pool's share of them */
	uint64_t need = pressure ? u.pool - u.limit * WB_LOW / 100 : 0;
	double per_byte = u.logical ? (double)u.pool / (double)u.logical : 1.0;
	unsigned age = hm_g.writeback_age_s;

	size_t nr;
	struct hm_region **rs = hm_regions_snapshot(&nr);
	if (!rs)
		return 0;
	struct hm_victims vs = {.v = buf, .keep = keep, .bar = UINT64_MAX};
	for (size_t i = 0; i < nr; i++) {
		struct hm_region *r = rs[i];
		size_t fp = region_folio_pages(r);
		if (atomic_load(&r->dying))
			continue;
		for (size_t head = 0; head < r->npages; head += fp) {
			uint64_t w = atomic_load(&r->words[head]);
			if (pw_loc(w) != HM_LOC_TIER || pw_tier(w) != from || (w & PW_MOVING))
				continue;
			uint32_t a;
			size_t raw;
			if (hm_ztier_folio(zt, pw_slot(w), fp, &a, &raw))
				continue;
			uint64_t score;
			if (raw * 2 >= fp)
				score = 0;
			else if (age && a >= age)
				score = S_IDLE + (UINT32_MAX - a);
			else if (pressure)
				score = S_PRESSURE + (UINT32_MAX - a);
			else
				continue;
			hm_victims_add(&vs, (struct hm_victim){score, r, head});
		}
	}
	hm_victims_trim(&vs);
	size_t n = vs.n;
	qsort(buf, n, sizeof(buf[0]), hm_victim_cmp_score);
	/* the must-go ones, then pressure's until enough is freed */
	size_t take = 0;
	uint64_t freed = 0;
	while (take < n && (buf[take].score < S_PRESSURE || freed < need)) {
		freed += (uint64_t)((double)((uint64_t)region_folio_pages(buf[take].r) << HM_PAGE_SHIFT) * per_byte);
		take++;
	}
	qsort(buf, take, sizeof(buf[0]), hm_victim_cmp_place);
	uint64_t moved = 0;
	for (size_t j = 0; j < take;) {
		struct hm_region *r = buf[j].r;
		size_t end = j;
		while (end < take && buf[end].r == r) {
			heads[end - j] = buf[end].head;
			end++;
		}
		long m = hm_migrate_heads(r, heads, end - j, to, HM_MIG_TRY);
		if (m > 0)
			moved += (uint64_t)m;
		j = end;
	}
	for (size_t i = 0; i < nr; i++)
		hm_region_put(rs[i]);
	free(rs);
	if (pressure)
		stalled = moved == 0;
	if (moved) {
		HM_COUNT(comp_writeback_pages, moved);
		hm_reclaim_changed(); /* room in the pool: demotion may work again */
	}
	return moved;
}
