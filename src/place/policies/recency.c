/*
 * policies/recency.c — aging in generations, after the kernel's
 * multi-generation LRU: time is cut into generations (a new one every
 * AGE_MS); an access stamps the folio with the current generation; the
 * oldest generation is evicted first, and within a generation the folio
 * accessed least often.  A refault (a folio faulted back soon after its
 * demotion) is stamped one generation ahead, which protects it from the
 * next reclaim: the policy's thrashing damper.  Writes seen by write
 * tracking and hint faults on sampled folios (track.c) are accesses like
 * any other: the folio becomes young.
 *
 * Two lists, as the kernel's active/inactive LRU and 2Q do: a folio seen
 * once (first touch, or one fetch) is "recent"; a second access while the
 * count lasts makes it "frequent", and every recent folio is demoted before
 * any frequent one (oldest first within each).  So a cold page that one
 * access brought back is the first to go back, while a hot page that was
 * demoted and refaulted stays.  hetmem sees few accesses to resident
 * folios, so only off RAM does a count lapse (after FREQ_GENS generations
 * without an access); a resident frequent folio leaves by age among the
 * frequent when they overflow the budget.
 */
#include "place/policy.h"

#define AGE_MS 250
#define FREQ_GENS 40 /* 10 s */

static void recency_event(struct hm_pstate *ps, const struct hm_policy_ctx *ctx, enum hm_event ev, uint32_t now)
{
	ps->stamp = ctx->gen + (ev == HM_EV_REFAULT ? 1 : 0);
	if (ps->count < 0xffff)
		ps->count++;
}

static void recency_tick(struct hm_policy_ctx *ctx, uint32_t now)
{
	if (now - ctx->last_age >= AGE_MS) {
		ctx->gen++;
		ctx->last_age = now;
	}
}

static void recency_scan(struct hm_pstate *ps, const struct hm_policy_ctx *ctx, uint32_t now, bool resident)
{
	if (!resident && (int32_t)(ctx->gen - ps->stamp) > FREQ_GENS)
		ps->count = 0; /* old accesses stop counting */
}

static uint64_t recency_score(const struct hm_pstate *ps, const struct hm_policy_ctx *ctx, uint32_t now)
{
	uint64_t frequent = ps->count >= 2;
	return (frequent << 63) | ((uint64_t)ps->stamp << 16) | ps->count;
}

const struct hm_policy_ops hm_policy_recency = {
	.name = "recency",
	.summary = "multi-generation LRU: evict the oldest generation first",
	.event = recency_event,
	.tick = recency_tick,
	.scan = recency_scan,
	.blocks = true,
	.score = recency_score,
};
