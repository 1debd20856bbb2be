/*
 * stats.c — process-wide counters and their text form.  Counters are
 * relaxed atomics bumped where the event happens (HM_COUNT); tiers keep
 * their own in struct hm_tier.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>



#define LD(f) atomic_load_explicit(&hm_cnt.f, memory_order_relaxed)

/* The whole struct of this library's version into @o. */
static void stats_fill(struct hm_stats *o)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	hm_wait_tick(); /* the fault-wait window, if a second has passed */
	o->faults = LD(faults);
	o->faults_zero = LD(faults_zero);
	o->faults_fetch = LD(faults_fetch);
	o->faults_wait = LD(faults_wait);
	o->faults_wp = LD(faults_wp);
	o->readahead_folios = LD(readahead_folios);
	o->pages_promoted = LD(pages_promoted);
	o->pages_demoted = LD(pages_demoted);
	o->pages_tier2tier = LD(pages_tier2tier);
	o->bytes_promoted = o->pages_promoted * HM_PAGE_SIZE;
	o->bytes_demoted = o->pages_demoted * HM_PAGE_SIZE;
	o->migrate_failures = LD(migrate_failures);
	o->fallback_pages = LD(fallback_pages);
	o->poisoned = LD(poisoned);
	o->retries = LD(retries);
	o->injected = LD(injected);
	o->fork_homes = LD(fork_homes);
	o->unmanaged_faults = LD(unmanaged_faults);
	o->regions = LD(regions);
	o->managed_bytes = LD(managed_bytes);
	o->resident_bytes = LD(resident_pages) * HM_PAGE_SIZE;
	o->metadata_bytes = LD(metadata_bytes);
	o->device_reads = LD(device_reads);
	o->device_writes = LD(device_writes);
	o->device_evictions = LD(device_evictions);
	o->policy_events = LD(policy_events);
	o->refaults = LD(refaults);
	o->reclaim_scans = LD(reclaim_scans);
	o->reclaim_pages = LD(reclaim_pages);
	o->thrash_backoffs = LD(thrash_backoffs);
	o->throttled_faults = LD(throttled_faults);
	o->advise_hot_kept = LD(advise_hot_kept);
	o->advise_cold_first = LD(advise_cold_first);
	o->record_samples = LD(record_samples);
	o->record_us = LD(record_us);
	o->track_write_scans = LD(track_write_scans);
	o->track_written = LD(track_written);
	o->track_samples = LD(track_samples);
	o->track_hint_faults = LD(track_hint_faults);
	o->track_cpu_us = LD(track_cpu_ns) / 1000;
	o->block_promotions = LD(block_promotions);
	o->block_promoted_pages = LD(block_promoted_pages);
	o->sig_faults = LD(sig_faults);
	o->sig_recycled = LD(sig_recycled);
	o->sig_retries = LD(sig_retries);
	o->locked_bytes = hm_locked_bytes();
	o->over_budget = LD(over_budget);
	o->over_budget_ms = LD(over_budget_ms);
	o->over_budget_peak = LD(over_budget_peak);
	o->fault_wait_us = LD(fault_wait_ns) / 1000;
	o->fault_wait_pct = LD(fault_wait_pct);
	o->thrash_seconds = LD(thrash_ms) / 1000;
	o->budget_seconds = LD(budget_ms) / 1000;
	o->thrashing = LD(thrash_now);
}

HM_API int hm_stats_get_size(struct hm_stats *o, size_t size)
{
	if (!o || size < sizeof(o->size))
		return hm_error(EINVAL, "hm_stats_get: %s", o ? "output smaller than its size field" : "NULL output");
	struct hm_stats all;
	stats_fill(&all);
	if (size > sizeof(all)) {
		memset((char *)o + sizeof(all), 0, size - sizeof(all));
		size = sizeof(all);
	}
	memcpy(o, &all, size);
	o->size = size;
	return 0;
}

#undef hm_stats_get
HM_API int hm_stats_get(struct hm_stats *o)
{
	return hm_stats_get_size(o, sizeof(*o));
}

/* @b bytes as "1.5 GiB" (also used by the hetmem command) */

const char *hm_thrash_sentence(const struct hm_stats *s)
{
	/* the last second, or most of the run */
	bool most = s->thrash_seconds >= 2 && s->thrash_seconds * 2 >= s->budget_seconds;
	bool now = s->thrashing && s->thrash_seconds >= 2;
	return now || most ? "thrashing: most of the time is spent waiting on faults; the working set is larger "
			     "than the budget"
			   : NULL;
}

HM_API int hm_stats_print(int fd)
{
	struct hm_stats s;
	hm_stats_get(&s);
	char out[4096], a[32], b[32], c[32];
	int n = 0;
#define P(...) n += snprintf(out + n, sizeof(out) - (size_t)n, __VA_ARGS__)
	hm_fmt_bytes(a, sizeof(a), s.managed_bytes);
	hm_fmt_bytes(b, sizeof(b), s.resident_bytes);
	hm_fmt_bytes(c, sizeof(c), s.metadata_bytes);
	P("hetmem: %llu regions, %s managed, %s resident in RAM, %s of page tables (%.1f B per 4 KiB page)\n",
	  (unsigned long long)s.regions, a, b, c,
	  s.managed_bytes ? (double)s.metadata_bytes / (double)(s.managed_bytes >> 12) : 0.0);
	P("  faults %llu (zero-fill %llu, fetched from tier %llu, waited on move %llu, wp %llu), readahead folios %llu\n",
	  (unsigned long long)s.faults, (unsigned long long)s.faults_zero,
	  (unsigned long long)s.faults_fetch, (unsigned long long)s.faults_wait,
	  (unsigned long long)s.faults_wp, (unsigned long long)s.readahead_folios);
	hm_fmt_bytes(a, sizeof(a), s.bytes_demoted);
	hm_fmt_bytes(b, sizeof(b), s.bytes_promoted);
	P("  demoted %llu pages (%s), promoted %llu pages (%s), tier-to-tier %llu pages\n",
	  (unsigned long long)s.pages_demoted, a, (unsigned long long)s.pages_promoted, b,
	  (unsigned long long)s.pages_tier2tier);
	P("  failures %llu, fallback-to-4K folios %llu, poisoned %llu, retries %llu, injected %llu, fork-homes %llu\n",
	  (unsigned long long)s.migrate_failures, (unsigned long long)s.fallback_pages,
	  (unsigned long long)s.poisoned, (unsigned long long)s.retries,
	  (unsigned long long)s.injected, (unsigned long long)s.fork_homes);
	struct hm_budget bg = {0};
	if (atomic_load(&hm_g.initialised))
		hm_budget_get(&bg);
	if (bg.bytes) {
		hm_fmt_bytes(a, sizeof(a), bg.bytes);
		P("  budget %s (policy %s, tier %d): reclaim scans %llu, reclaimed %llu pages, refaults %llu, "
		  "thrash back-offs %llu, policy events %llu, blocks promoted whole %llu (%llu pages)\n",
		  a, hm_policy_get(), bg.tier, (unsigned long long)s.reclaim_scans, (unsigned long long)s.reclaim_pages,
		  (unsigned long long)s.refaults, (unsigned long long)s.thrash_backoffs,
		  (unsigned long long)s.policy_events, (unsigned long long)s.block_promotions,
		  (unsigned long long)s.block_promoted_pages);
	}
	if (bg.bytes && (s.locked_bytes || s.over_budget)) {
		hm_fmt_bytes(a, sizeof(a), s.locked_bytes);
		hm_fmt_bytes(b, sizeof(b), s.over_budget_peak);
		P("  locked in RAM (mlock) %s; over the budget (nothing could be demoted) %llu times, %llu ms, "
		  "by %s at most\n",
		  a, (unsigned long long)s.over_budget, (unsigned long long)s.over_budget_ms, b);
	}
	if (bg.bytes) {
		const char *t = hm_thrash_sentence(&s);
		P("  fault wait %llu ms in all, %llu%% of the last second; thrashing %llu of %llu s%s%s\n",
		  (unsigned long long)(s.fault_wait_us / 1000), (unsigned long long)s.fault_wait_pct,
		  (unsigned long long)s.thrash_seconds, (unsigned long long)s.budget_seconds, t ? "\n  " : "",
		  t ? t : "");
	}
	if (s.sig_faults)
		P("  faults in the faulting thread (signal mode) %llu: recycled a victim's page %llu, busy and "
		  "retried %llu\n",
		  (unsigned long long)s.sig_faults, (unsigned long long)s.sig_recycled,
		  (unsigned long long)s.sig_retries);
	if (s.advise_hot_kept || s.advise_cold_first || s.record_samples)
		P("  advice: hot folios kept %llu, cold folios ranked first %llu; record: %llu samples, %llu ms\n",
		  (unsigned long long)s.advise_hot_kept, (unsigned long long)s.advise_cold_first,
		  (unsigned long long)s.record_samples, (unsigned long long)(s.record_us / 1000));
	if (atomic_load(&hm_g.initialised)) {
		struct hm_features f;
		hm_probe_features(&f);
		unsigned pct = 0, on = hm_track_get(&pct);
		P("  tracking %s%s%s (write: %s), cpu budget %u%%: write scans %llu, written folios %llu, "
		  "samples %llu, hint faults %llu, tracker cpu %llu us\n",
		  "faults", (on & HM_TRACK_WRITE) ? "+write" : "", (on & HM_TRACK_SAMPLE) ? "+sample" : "",
		  f.track_write, pct, (unsigned long long)s.track_write_scans, (unsigned long long)s.track_written,
		  (unsigned long long)s.track_samples, (unsigned long long)s.track_hint_faults,
		  (unsigned long long)s.track_cpu_us);
	}
	P("  %-4s %-24s %12s %12s %12s %12s %8s\n", "id", "tier", "capacity", "used", "pages-in", "pages-out", "errors");
	int nt = hm_tier_count();
	for (int i = 0; i < nt; i++) {
		struct hm_tier_info ti;
		if (hm_tier_info(i, &ti))
			continue;
		hm_fmt_bytes(a, sizeof(a), ti.capacity);
		hm_fmt_bytes(c, sizeof(c), ti.used);
		P("  %-4d %-24s %12s %12s %12llu %12llu %8llu\n", ti.id, ti.name, a, c,
		  (unsigned long long)ti.pages_in, (unsigned long long)ti.pages_out,
		  (unsigned long long)ti.errors);
		if (n > (int)sizeof(out) - 256)
			break;
	}
#undef P
	size_t off = 0;
	while (off < (size_t)n) {
		ssize_t w = write(fd, out + off, (size_t)n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return hm_error(errno, "hm_stats_print: cannot write to fd %d", fd);
		}
		off += (size_t)w;
	}
	return 0;
}
