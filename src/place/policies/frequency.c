/*
 * policies/frequency.c — an access histogram whose hot threshold is sized
 * to the budget, after MEMTIS: every folio counts its accesses (halved every
 * DECAY_MS while the folio is off RAM, so the count follows the recent
 * rate; a resident folio keeps its count, since hetmem sees few of its
 * accesses); each scan builds a
 * histogram of counts in powers of two, and the hot threshold is the lowest
 * bucket such that all folios at or above it fit in the RAM budget.  Folios
 * below the threshold are evicted first, lowest count first, oldest first.
 * A refault adds a bonus to the count (the thrashing damper).  A write seen
 * by write tracking or a hint fault on a sampled folio (track.c) counts as
 * one access.
 */
#include "place/policy.h"

#define DECAY_MS 1000
#define REFAULT_BONUS 4

static void freq_event(struct hm_pstate *ps, const struct hm_policy_ctx *ctx, enum hm_event ev, uint32_t now)
{
	unsigned add = ev == HM_EV_REFAULT ? REFAULT_BONUS : 1;
	ps->count = ps->count > 0xffff - add ? 0xffff : (uint16_t)(ps->count + add);
	ps->stamp = now;
}

static void freq_tick(struct hm_policy_ctx *ctx, uint32_t now)
{
	/* size the hot threshold to the budget: walk buckets from the top */
	uint64_t bytes = 0;
	unsigned thr = 17;
	for (int b = 16; b >= 1; b--) {
		if (bytes + ctx->hist_bytes[b] > ctx->budget_folio_bytes)
			break;
		bytes += ctx->hist_bytes[b];
		thr = (unsigned)b;
	}
	/* bucket b holds counts in [2^b - 1, 2^(b+1) - 2] */
	ctx->hot_threshold = thr >= 17 ? 0xffff : (uint16_t)((1u << thr) - 1);
	if (now - ctx->last_decay >= DECAY_MS)
		ctx->last_decay = now;
}

static void freq_scan(struct hm_pstate *ps, const struct hm_policy_ctx *ctx, uint32_t now, bool resident)
{
	/* a resident folio keeps its count: no events is no evidence there */
	if (ctx->last_decay == now && !resident)
		ps->count >>= 1;
}

static uint64_t freq_score(const struct hm_pstate *ps, const struct hm_policy_ctx *ctx, uint32_t now)
{
	uint64_t hot = ps->count >= ctx->hot_threshold ? 1 : 0;
	return (hot << 63) | ((uint64_t)ps->count << 32) | ps->stamp;
}

const struct hm_policy_ops hm_policy_frequency = {
	.name = "frequency",
	.summary = "access histogram with a hot threshold sized to the budget (MEMTIS-like)",
	.event = freq_event,
	.tick = freq_tick,
	.scan = freq_scan,
	/* no block heat: a hot block that cools for a moment would lose all
	 * its pages at once here (hot resident pages have low counts: they
	 * fault no more in RAM) */
	.blocks = false,
	.score = freq_score,
};
