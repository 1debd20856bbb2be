/*
 * place.h — placement: policies' glue (policy.c), the reclaimer (reclaim.c),
 * advice (advise.c), locked memory (lock.c).
 */
#ifndef HM_PLACE_H
#define HM_PLACE_H

#include "common.h"
#include "core/global.h"
#include "core/stats.h"
#include "place/policy.h"

/* ------------------------------------------------------------------------
 * policy.c, reclaim.c
 * ---------------------------------------------------------------------- */
/* The region layer's client (space.h): placement's per-region state. */
extern HM_HIDDEN const struct hm_space_client hm_place_space;
HM_HIDDEN uint32_t hm_clock_ms(void);
/* An event on folio @head of @r for the policy; a hint fault and a fetch also
 * heat the folio's block (block heat, below). */
HM_HIDDEN void hm_policy_event(struct hm_region *r, size_t head, enum hm_event ev);
HM_HIDDEN void hm_policy_demoted(struct hm_region *r, size_t head);
/* A reclaim pass's visit to folio @folio: the policy's aging (its .scan),
 * every folio visited; returns the folio's access count after it. */
HM_HIDDEN uint16_t hm_policy_scan(struct hm_region *r, size_t folio, uint32_t now, bool resident);
/* A resident folio's rank as a victim, lower first (the policy's .score,
 * then block heat): only for the pass's candidates, after hm_policy_scan. */
HM_HIDDEN uint64_t hm_policy_score(struct hm_region *r, size_t folio, uint32_t now);
/* Block heat (DAMON-style spatial aggregation of hint-fault samples): a
 * sample of page @page of @r was touched (@hit: hm_policy_event does this
 * for HM_EV_HINT) or went back untouched (track.c). */
#define HM_HEAT_PAGES 512 /* pages per block: 2 MiB */
#define HM_BLOCK_PROMOTE_DEFAULT 16 /* fetches per window (policy.c) */
HM_HIDDEN void hm_policy_sampled(struct hm_region *r, size_t page, bool hit);
/* Time's cooling of block heat: the reclaimer asks how many decay steps are
 * due (once per pass) and applies them to every region. */
HM_HIDDEN unsigned hm_policy_heat_steps(uint32_t now, uint64_t resident_bytes, uint64_t samples_total);
HM_HIDDEN void hm_policy_heat_decay(struct hm_region *r, unsigned steps);
/* Whether page @page of @r is in a hot block. */
HM_HIDDEN bool hm_policy_block_hot(struct hm_region *r, size_t page);
HM_HIDDEN uint16_t hm_policy_count(struct hm_region *r, size_t folio);
/* Block promotion: block @block (2 MiB, HM_HEAT_PAGES pages) of @r reached
 * the promotion threshold of fetches within one window (policy.c, at least
 * hm_g.block_promote); the reclaimer brings the rest of it to RAM
 * (policy.c calls this; reclaim.c queues it). */
HM_HIDDEN void hm_reclaim_promote(struct hm_region *r, size_t block);
/* The block was promoted whole: it ranks as hot as a block can be. */
HM_HIDDEN void hm_policy_block_promoted(struct hm_region *r, size_t block);
/* The reclaimer's choice of the K coldest of N candidates (reclaim.c):
 * candidates go into @v (room for 2 * @keep); when it is full, a selection
 * keeps the @keep lowest scores and the highest of them becomes @bar, which a
 * later candidate must be below.  After hm_victims_trim, v[0..n) are the
 * (at most) @keep lowest scores added, in no order.  Start with n = 0 and
 * bar = UINT64_MAX. */
struct hm_victim {
	uint64_t score;
	struct hm_region *r;
	size_t head;
};
struct hm_victims {
	struct hm_victim *v;
	size_t n, keep;
	uint64_t bar;
};
HM_HIDDEN void hm_victims_add(struct hm_victims *vs, struct hm_victim x);
HM_HIDDEN void hm_victims_trim(struct hm_victims *vs);
/* qsort orders of victims: by score (lower first), by region and address */
HM_HIDDEN int hm_victim_cmp_score(const void *a, const void *b);
HM_HIDDEN int hm_victim_cmp_place(const void *a, const void *b);
/* writeback.c: a compressed budget tier's folios on to the next tier
 * (incompressible, idle, or the pool nearly full); the reclaimer calls it
 * every tick with its buffers (@keep folios at most, @buf room for 2 *
 * @keep, @heads for @keep).  Returns the pages moved. */
HM_HIDDEN uint64_t hm_writeback_pass(struct hm_victim *buf, size_t keep, size_t *heads, uint32_t now);
/* The tier a demotion to the budget's compressed tier goes to instead, now
 * that its pool is full (writeback's next tier), or -1 */
HM_HIDDEN int hm_writeback_spill_tier(void);
/* Ask the reclaimer to bring folio @head of @r, on a coherent tier, back
 * to local memory (it was seen used). */
HM_HIDDEN void hm_reclaim_promote_folio(struct hm_region *r, size_t head);
/* Wake the reclaimer if residency passed the high watermark. */
HM_HIDDEN void hm_reclaim_kick(void);
static inline void hm_reclaim_check(void)
{
	if (hm_g.budget && (atomic_load_explicit(&hm_cnt.resident_pages, memory_order_relaxed) << HM_PAGE_SHIFT) >
				   hm_g.budget_high)
		hm_reclaim_kick();
}
HM_HIDDEN void hm_reclaim_stop(void);

/* Whether residency is at the budget: then the fault handler holds new
 * faults back while the reclaimer makes progress (at most 2 s for a held
 * fault, HOLD_CAP_MS in fault.c; released after 200 ms without progress,
 * HOLD_STALL_MS).  The budget is a limit, as a memory cgroup's is: letting
 * residency run 16 MiB past it (as it did) made hetmem's total memory 1.18x
 * the kernel's at an 84 MiB budget (bench/programs.sh's python). */
HM_HIDDEN bool hm_reclaim_must_hold(void);
HM_HIDDEN uint64_t hm_reclaim_progress(void);
HM_HIDDEN pid_t hm_reclaim_tid(void);
/* Something that may let the reclaimer demote again happened (memory
 * unlocked): wake it even when it has found nothing to demote. */
HM_HIDDEN void hm_reclaim_changed(void);
/* A fault of thread @tid was served: the thrashing report watches how much
 * of its time the faulting threads spend blocked (reclaim.c). */
#define HM_WAIT_TIDS 8
extern HM_HIDDEN _Atomic pid_t hm_wait_tids[HM_WAIT_TIDS];
HM_HIDDEN void hm_wait_tick(void);
static inline void hm_wait_note(pid_t tid)
{
	if (atomic_load_explicit(&hm_wait_tids[tid % HM_WAIT_TIDS], memory_order_relaxed) != tid)
		atomic_store_explicit(&hm_wait_tids[tid % HM_WAIT_TIDS], tid, memory_order_relaxed);
}

/* ------------------------------------------------------------------------
 * advise.c: per-region placement advice (hm_advise), read by the reclaimer
 * through a cursor that walks a private copy in address order.
 * ---------------------------------------------------------------------- */
struct hm_adv_range {
	size_t first, last; /* pages [first, last) of the region */
	int advice;         /* HM_ADVISE_HOT or HM_ADVISE_COLD */
};
struct hm_adv_cursor {
	struct hm_adv_range *r;
	size_t n, i;
};
/* Copy @r's advice (none if out of memory); then ask page by page, in
 * increasing order, with hm_adv_next; release with hm_adv_end. */
HM_HIDDEN void hm_adv_begin(struct hm_region *r, struct hm_adv_cursor *c);
static inline int hm_adv_next(struct hm_adv_cursor *c, size_t page)
{
	while (c->i < c->n && c->r[c->i].last <= page)
		c->i++;
	return c->i < c->n && c->r[c->i].first <= page ? c->r[c->i].advice : HM_ADVISE_NORMAL;
}
HM_HIDDEN void hm_adv_end(struct hm_adv_cursor *c);
/* Drop a dying region's advice. */
HM_HIDDEN void hm_adv_free(struct hm_region *r);
/* @old with pages [a, b) set to @advice (NORMAL: removed): the new array
 * (NULL when empty) in *out; 0 or -ENOMEM / -ENOSPC. */
HM_HIDDEN int hm_adv_build(const struct hm_adv_range *old, size_t n, size_t a, size_t b, int advice,
			   struct hm_adv_range **out, size_t *nout);

/* ------------------------------------------------------------------------
 * lock.c: locked memory (mlock) in managed regions: never demoted, counted
 * in the budget.
 * ---------------------------------------------------------------------- */
/* Mark the managed pages of [a, a+len) locked or unlocked: 0 or -errno. */
HM_HIDDEN int hm_lock_range(uintptr_t a, size_t len, bool lock);
/* Every region's pages locked or unlocked (mlockall, munlockall). */
HM_HIDDEN void hm_lock_all(bool lock);
/* A region just mapped: locked if mlockall(MCL_FUTURE) is in force. */
HM_HIDDEN void hm_lock_new_region(uintptr_t a, size_t len);
/* Bring the managed pages of [a, a+len) on a tier back to RAM. */
HM_HIDDEN void hm_lock_home(uintptr_t a, size_t len);
/* The reclaimer's cursor over @r's locked ranges (release: hm_adv_end);
 * hm_lock_any: whether a page of folio [head, head+fp) is locked, asked in
 * increasing order of @head. */
HM_HIDDEN void hm_lock_begin(struct hm_region *r, struct hm_adv_cursor *c);
HM_HIDDEN bool hm_lock_any(struct hm_adv_cursor *c, size_t head, size_t fp);
HM_HIDDEN uint64_t hm_locked_bytes(void);
HM_HIDDEN void hm_lock_free(struct hm_region *r);
/* Whether @a lies in one of hetmem's own mappings (staging, the tracker's
 * hold area, a tier's window), which a program's mlockall must not lock. */
HM_HIDDEN bool hm_lock_internal(uintptr_t a);
/* Populates by a program's mlock in flight: no fault is held meanwhile. */
extern HM_HIDDEN _Atomic int hm_lock_populating;
/* mlockall(MCL_FUTURE) in force: regions mapped from now on are locked. */
extern HM_HIDDEN _Atomic bool hm_lock_future;


#endif
