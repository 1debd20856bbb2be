/*
 * stats.h — the counters (stats.c).
 */
#ifndef HM_STATS_H
#define HM_STATS_H

#include "common.h"

/* ------------------------------------------------------------------------
 * Counters (stats.c).  Relaxed atomics; a snapshot is not a transaction.
 * ---------------------------------------------------------------------- */
/* One per field of hetmem_counters.h that has a counter of its own (how is
 * not CALC), in the list's order, named by its src column; then those
 * hm_stats has no field for. */
#define HM_CNT_COPY(src) _Atomic uint64_t src;
#define HM_CNT_PAGES(src) _Atomic uint64_t src;
#define HM_CNT_MILLI(src) _Atomic uint64_t src;
#define HM_CNT_CALC(src)
#define HM_CNT_FIELD_(name, how, src, doc) HM_CNT_##how(src)
struct hm_counters {
	HM_STATS_FIELDS(HM_CNT_FIELD_)
	_Atomic uint64_t locked_pages; /* in lock.c's ranges (a partial munmap keeps its part until the region goes) */
};
#undef HM_CNT_FIELD_
extern struct hm_counters hm_cnt;
#define HM_COUNT(field, n) atomic_fetch_add_explicit(&hm_cnt.field, (n), memory_order_relaxed)

HM_HIDDEN void hm_fmt_bytes(char *buf, size_t n, uint64_t b);
/* stats.c: the thrashing sentence when @s says the program mostly waits
 * on faults (also for `hetmem stat`), or NULL. */
HM_HIDDEN const char *hm_thrash_sentence(const struct hm_stats *s);
/* stats.c: lines of the text report that hm_stats_print and hetmem run's
 * report (tools/report.c) share, into @buf (NUL-terminated, cut at @len,
 * which is at least 1);
 * each returns the length written.  _moves: the faults, the pages moved,
 * the failures.  _budget, for a process with a RAM budget: locked memory
 * and time over the budget (when there is either), the fault wait and
 * thrashing. */
HM_HIDDEN size_t hm_stats_text_moves(char *buf, size_t len, const struct hm_stats *s);
HM_HIDDEN size_t hm_stats_text_budget(char *buf, size_t len, const struct hm_stats *s);

#endif
