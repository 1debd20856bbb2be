/*
 * hetmem_counters.h — the one list of hetmem's counters, installed beside
 * hetmem.h (which includes it).
 *
 * HM_STATS_FIELDS(X) calls X(name, how, src, doc) once per field of struct
 * hm_stats after its size field, in the struct's order (the ABI: a new
 * counter goes at the end).  From it are made: the fields of struct
 * hm_stats (hetmem.h); inside the library, the counters the events bump
 * (struct hm_counters) and hm_stats_get's copy of them; in the hetmem
 * command, the JSON forms of the counters (hetmem run --stats-format=json,
 * hetmem stat --json) and the totals of a process tree.
 *
 *   name  the field of struct hm_stats, also its name in the JSON forms
 *   how   how the library gets its value from its internal counter src:
 *         COPY  the counter as it is
 *         PAGES the counter counts 4 KiB pages: times 4096
 *         MILLI the counter is in a unit a thousand times finer (ns for
 *               us, ms for s): divided by 1000
 *         CALC  no counter of its own: hm_stats_get computes it by hand
 *               (src is then "none")
 *   src   the library's internal counter (struct hm_counters) it comes from
 *   doc   what it counts
 *
 * Adding a counter: one line here (at the end), its HM_COUNT where the event
 * happens, and, if the text reports should show it, its place in their
 * sentences (src/core/stats.c: hm_stats_print and the lines it shares with
 * hetmem run's report, hm_stats_text_*; the rest of that report in
 * tools/report.c; hetmem stat in tools/run.c).
 */
#ifndef HETMEM_COUNTERS_H
#define HETMEM_COUNTERS_H

/* clang-format off */
#define HM_STATS_FIELDS(X) \
	X(faults, COPY, faults, "userfaultfd faults served")                                                            \
	X(faults_zero, COPY, faults_zero, "... filled with zeros (first touch)")                                        \
	X(faults_fetch, COPY, faults_fetch, "... that brought a folio back from a tier")                                \
	X(faults_wait, COPY, faults_wait, "... that waited for a folio in migration")                                   \
	X(faults_wp, COPY, faults_wp, "write-protect faults (writes during WP demote)")                                 \
	X(readahead_folios, COPY, readahead_folios, "folios brought back ahead of a fault")                             \
	X(pages_promoted, COPY, pages_promoted, "4 KiB pages moved to RAM")                                             \
	X(pages_demoted, COPY, pages_demoted, "4 KiB pages moved from RAM to a tier")                                   \
	X(pages_tier2tier, COPY, pages_tier2tier, "pages moved between two device tiers")                               \
	X(bytes_promoted, CALC, none, "... their bytes (pages_promoted * 4096)")                                        \
	X(bytes_demoted, CALC, none, "... their bytes (pages_demoted * 4096)")                                          \
	X(migrate_failures, COPY, migrate_failures, "pages that stayed put (per-page errors)")                          \
	X(fallback_pages, COPY, fallback_pages, "folios split to single slots on a full tier")                          \
	X(poisoned, COPY, poisoned, "pages lost to a backend read error")                                               \
	X(retries, COPY, retries, "transient errors retried (EAGAIN, EINTR)")                                           \
	X(injected, COPY, injected, "failures injected through hm_inject()")                                            \
	X(fork_homes, COPY, fork_homes, "pages brought home before a fork")                                             \
	X(unmanaged_faults, COPY, unmanaged_faults, "faults outside any region (zero-filled)")                          \
	X(regions, COPY, regions, "live allocations")                                                                   \
	X(managed_bytes, COPY, managed_bytes, "bytes of managed address space")                                         \
	X(resident_bytes, PAGES, resident_pages, "bytes of managed pages in RAM")                                       \
	X(metadata_bytes, COPY, metadata_bytes, "page tables and region records (malloc'd)")                            \
	X(device_reads, COPY, device_reads, "hm_device_read() calls")                                                   \
	X(device_writes, COPY, device_writes, "hm_device_write() calls")                                                \
	X(device_evictions, COPY, device_evictions, "pages evicted from devices to RAM")                                \
	X(policy_events, COPY, policy_events, "access events given to the policy")                                      \
	X(refaults, COPY, refaults, "folios faulted back within 2 s of demotion")                                       \
	X(reclaim_scans, COPY, reclaim_scans, "reclaimer passes over all regions")                                      \
	X(reclaim_pages, COPY, reclaim_pages, "pages the reclaimer demoted")                                            \
	X(thrash_backoffs, COPY, thrash_backoffs, "seconds the reclaimer backed off (thrashing)")                       \
	X(throttled_faults, COPY, throttled_faults, "faults held back: residency at budget + batch")                    \
	X(advise_hot_kept, COPY, advise_hot_kept, "folios the reclaimer passed over: advised HOT")                      \
	X(advise_cold_first, COPY, advise_cold_first, "folios ranked coldest by a scan: advised COLD")                  \
	X(record_samples, COPY, record_samples, "samples written to the record (hm_record_start)")                      \
	X(record_us, COPY, record_us, "time the reclaimer spent writing them")                                          \
	X(track_write_scans, COPY, track_write_scans, "write-tracking scans of all regions")                            \
	X(track_written, COPY, track_written, "written resident folios seen by them")                                   \
	X(track_samples, COPY, track_samples, "folios taken out for a hint fault")                                      \
	X(track_hint_faults, COPY, track_hint_faults, "... that the program touched (hint faults)")                     \
	X(track_cpu_us, MILLI, track_cpu_ns, "CPU time the tracker spent (us)")                                         \
	X(block_promotions, COPY, block_promotions, "2 MiB blocks brought to RAM whole (dense fetches)")                \
	X(block_promoted_pages, COPY, block_promoted_pages, "... pages they brought")                                   \
	X(sig_faults, COPY, sig_faults, "faults served in the faulting thread (HETMEM_FAULTS=signal)")                  \
	X(sig_recycled, COPY, sig_recycled, "... that took a victim's page (a demotion in the fault)")                  \
	X(sig_retries, COPY, sig_retries, "... that found the folio busy and faulted again")                            \
	X(locked_bytes, CALC, none, "managed bytes locked in RAM now (mlock, mlockall)")                                \
	X(over_budget, COPY, over_budget, "times residency went over the budget: nothing could be demoted")             \
	X(over_budget_ms, COPY, over_budget_ms, "... time spent over it")                                               \
	X(over_budget_peak, COPY, over_budget_peak, "... the most bytes it was over by")                                \
	X(fault_wait_us, MILLI, fault_wait_ns, "time the fault handler spent serving faults, held ones' wait included") \
	X(fault_wait_pct, COPY, fault_wait_pct, "... its share of the last second (percent, at most 100)")              \
	X(thrash_seconds, MILLI, thrash_ms, "seconds spent waiting on faults from the tiers (thrashing)")               \
	X(budget_seconds, MILLI, budget_ms, "seconds the reclaimer has been keeping a budget")                          \
	X(thrashing, COPY, thrash_now, "1: the last second was one of them")                                           \
	X(comp_logical_bytes, COPY, comp_logical_bytes, "bytes of pages held by compressed tiers (4 KiB each)")      \
	X(comp_stored_bytes, COPY, comp_stored_bytes, "... their compressed payload")                                \
	X(comp_pool_bytes, COPY, comp_pool_bytes, "... RAM their pools take (payload plus packing waste)")          \
	X(comp_saved_peak_bytes, COPY, comp_saved_peak_bytes, "the most RAM they saved at once (pages less pool)")  \
	X(comp_zero_pages, COPY, comp_zero_pages, "zero pages written to a compressed tier (no payload)")            \
	X(comp_same_pages, COPY, comp_same_pages, "... pages of one repeated non-zero word (no payload)")           \
	X(comp_incompressible, COPY, comp_incompressible, "pages over 3/4 of 4 KiB compressed: stored raw")         \
	X(comp_pool_full, COPY, comp_pool_full, "pages refused: the compressed pool was at its SIZE")              \
	X(comp_writeback_pages, COPY, comp_writeback_pages, "pages written back from a compressed tier to the next")  \
	X(comp_ns, COPY, comp_ns, "time spent compressing (ns)")                                                      \
	X(decomp_ns, COPY, decomp_ns, "time spent decompressing (ns)")                                                \
	X(comp_spill_pages, COPY, comp_spill_pages, "pages demoted past a full compressed pool to the next tier")      \
	X(coherent_pages_out, COPY, coherent_pages_out, "pages moved onto a coherent tier (a NUMA node)")             \
	X(coherent_pages_in, COPY, coherent_pages_in, "pages moved back from a coherent tier to local memory")        \
	X(coherent_promote_asks, COPY, coherent_promote_asks, "folios on a coherent tier seen used: asked back")      \
	X(numa_bind_failures, COPY, numa_bind_failures, "managed ranges that could not be bound to the local nodes")  \
	X(readahead_zero_folios, COPY, readahead_zero_folios, "... of them first touches filled ahead (fault-around)")
/* clang-format on */

#endif
