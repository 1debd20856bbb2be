/*
 * policies/fifo.c — evict in arrival order, no hotness: what a plain
 * user-space pager does.  Kept as the baseline the other policies are
 * measured against.  stamp = when the folio last entered RAM.
 */
#include "place/policy.h"

static void fifo_event(struct hm_pstate *ps, const struct hm_policy_ctx *ctx, enum hm_event ev, uint32_t now)
{
	/* accesses to resident folios (write tracking, hint faults) are
	 * hotness: ignored by design, fifo is the no-hotness baseline */
	if (ev == HM_EV_WRITE || ev == HM_EV_HINT)
		return;
	ps->stamp = now; /* every other event is an arrival in RAM */
}

static void fifo_tick(struct hm_policy_ctx *ctx, uint32_t now)
{
}

static uint64_t fifo_score(const struct hm_pstate *ps, const struct hm_policy_ctx *ctx, uint32_t now)
{
	return ps->stamp;
}

const struct hm_policy_ops hm_policy_fifo = {
	.name = "fifo",
	.summary = "evict in arrival order (baseline, no hotness)",
	.event = fifo_event,
	.tick = fifo_tick,
	.score = fifo_score,
};
