/*
 * policy.h — the placement-policy plug-in interface.
 *
 * A policy sees events on folios (a first touch, a fault that brought the
 * folio back from a tier, a refault soon after a demotion, and from the
 * tracker (track.c) a write to a resident folio or a hint fault on a sampled
 * one: accesses that cause no fault of their own) and periodic
 * ticks, and ranks resident folios by coldness: the reclaimer demotes the
 * lowest scores first.  Each folio has one struct hm_pstate (8 bytes) that
 * the policy owns; the policy never touches page-table words, takes no
 * locks and makes no system calls, so a trace with a fake clock drives it
 * deterministically (tests/unit/test_policy.c).
 *
 * Time is in milliseconds since hm_init (or the test's fake clock).
 */
#ifndef HM_POLICY_H
#define HM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hm_pstate {
	uint32_t stamp;   /* policy-defined: arrival time, generation, ... */
	uint16_t count;   /* policy-defined: access count, ... */
	uint16_t demoted; /* low 16 bits of (time / 16 ms) of the last demotion, 0 = none */
};

enum hm_event {
	HM_EV_FIRST_TOUCH, /* the folio was populated (zero-filled) */
	HM_EV_FETCH,       /* a fault brought it back from a tier */
	HM_EV_REFAULT,     /* ... soon after it was demoted (thrashing) */
	HM_EV_PROMOTE,     /* hm_migrate brought it to RAM */
	HM_EV_WRITE,       /* write tracking saw the resident folio written */
	HM_EV_HINT,        /* a sampled resident folio was touched (hint fault) */
};

/* What the reclaimer tells a policy at each tick. */
struct hm_policy_ctx {
	uint64_t budget_folio_bytes; /* the budget (bytes) */
	uint64_t folio_hist[17];     /* folios by floor(log2(count + 1)), all folios */
	uint64_t hist_bytes[17];     /* the same, in bytes */
	uint32_t gen;                /* recency: the current generation */
	uint32_t last_age;           /* recency: when gen last advanced */
	uint32_t last_decay;         /* frequency: when counts were last halved */
	uint16_t hot_threshold;      /* frequency: counts >= this are hot */
};

struct hm_policy_ops {
	const char *name;
	const char *summary;
	/* an event on a folio at time @now; on the fault path, @ctx holds only
	 * gen and hot_threshold (as of the last tick) */
	void (*event)(struct hm_pstate *ps, const struct hm_policy_ctx *ctx, enum hm_event ev, uint32_t now);
	/* start of a scan (aging, decay); @ctx->folio_hist is from the last scan */
	void (*tick)(struct hm_policy_ctx *ctx, uint32_t now);
	/* per-folio part of a scan (decay); may be NULL.  @resident: the folio
	 * is in RAM.  hetmem sees few accesses to resident folios (hint-fault
	 * samples, writes where tracked), so time without events is evidence of
	 * coldness only for folios off RAM: policies age only those. */
	void (*scan)(struct hm_pstate *ps, const struct hm_policy_ctx *ctx, uint32_t now, bool resident);
	/* coldness of a resident folio: lower is demoted first */
	uint64_t (*score)(const struct hm_pstate *ps, const struct hm_policy_ctx *ctx, uint32_t now);
	/* rank folios in blocks that hint-fault samples found hot above all
	 * others (policy.c: block heat); false for fifo, the baseline without
	 * hotness */
	bool blocks;
};

extern const struct hm_policy_ops hm_policy_fifo, hm_policy_recency, hm_policy_frequency;

/* Histogram bucket of an access count: floor(log2(count + 1)), 0..16. */
static inline unsigned hm_count_bucket(uint16_t c)
{
	unsigned b = 0;
	uint32_t v = (uint32_t)c + 1;
	while (v >>= 1)
		b++;
	return b;
}

/* The registry: the ops named @name, or NULL. */
const struct hm_policy_ops *hm_policy_find(const char *name);
/* All policies, NULL-terminated. */
extern const struct hm_policy_ops *const hm_policies[];
/* The policies' names in @buf as a list ("recency, frequency" then
 * @last_sep before the last), for messages. */
const char *hm_policy_names(char *buf, size_t len, const char *last_sep);

#endif
