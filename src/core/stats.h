/*
 * stats.h — the counters (stats.c).
 */
#ifndef HM_STATS_H
#define HM_STATS_H

#include "common.h"

/* ------------------------------------------------------------------------
 * Counters (stats.c).  Relaxed atomics; a snapshot is not a transaction.
 * ---------------------------------------------------------------------- */
struct hm_counters {
	_Atomic uint64_t faults, faults_zero, faults_fetch, faults_wait, faults_wp;
	_Atomic uint64_t readahead_folios;
	_Atomic uint64_t pages_promoted, pages_demoted, pages_tier2tier;
	_Atomic uint64_t migrate_failures, fallback_pages, poisoned, retries;
	_Atomic uint64_t injected, fork_homes, unmanaged_faults;
	_Atomic uint64_t regions, managed_bytes, resident_pages, metadata_bytes;
	_Atomic uint64_t device_reads, device_writes, device_evictions;
	_Atomic uint64_t policy_events, refaults, reclaim_scans, reclaim_pages, thrash_backoffs, throttled_faults;
	_Atomic uint64_t advise_hot_kept, advise_cold_first;
	_Atomic uint64_t record_samples, record_us;
	_Atomic uint64_t track_write_scans, track_written, track_samples, track_hint_faults, track_cpu_ns;
	_Atomic uint64_t block_promotions, block_promoted_pages;
	_Atomic uint64_t sig_faults, sig_recycled, sig_retries;
	_Atomic uint64_t over_budget, over_budget_ms, over_budget_peak;
	_Atomic uint64_t fault_wait_ns, fault_wait_pct, thrash_now, thrash_ms, budget_ms;
	_Atomic uint64_t locked_pages; /* in lock.c's ranges (a partial munmap keeps its part until the region goes) */
};
extern struct hm_counters hm_cnt;
#define HM_COUNT(field, n) atomic_fetch_add_explicit(&hm_cnt.field, (n), memory_order_relaxed)

HM_HIDDEN void hm_fmt_bytes(char *buf, size_t n, uint64_t b);
/* stats.c: the thrashing sentence when @s says the program mostly waits
 * on faults (also for `hetmem stat`), or NULL. */
HM_HIDDEN const char *hm_thrash_sentence(const struct hm_stats *s);

#endif
