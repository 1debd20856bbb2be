/*
 * stats.c — process-wide counters and their text form.  Counters are
 * relaxed atomics bumped where the event happens (HM_COUNT); tiers keep
 * their own in struct hm_tier.
 */
#include "internal.h"
#include "core/pubstats.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>



#define LD(f) atomic_load_explicit(&hm_cnt.f, memory_order_relaxed)

/* every field of hm_stats is a uint64_t: the size field, then the list */
#define HM_ONE_(name, how, src, doc) +1
_Static_assert(sizeof(struct hm_stats) == sizeof(uint64_t) * (1 HM_STATS_FIELDS(HM_ONE_)),
	       "hm_stats is its size field and the fields of HM_STATS_FIELDS");
#undef HM_ONE_

/* The whole struct of this library's version into @o. */
static void stats_fill(struct hm_stats *o)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	hm_wait_tick(); /* the fault-wait window, if a second has passed */
#define HM_GET_COPY(name, src) o->name = LD(src);
#define HM_GET_PAGES(name, src) o->name = LD(src) * HM_PAGE_SIZE;
#define HM_GET_MILLI(name, src) o->name = LD(src) / 1000;
#define HM_GET_CALC(name, src)
#define HM_GET_(name, how, src, doc) HM_GET_##how(name, src)
	HM_STATS_FIELDS(HM_GET_)
#undef HM_GET_
	/* the CALC fields */
	o->bytes_promoted = o->pages_promoted * HM_PAGE_SIZE;
	o->bytes_demoted = o->pages_demoted * HM_PAGE_SIZE;
	o->locked_bytes = hm_locked_bytes();
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

/* Appends to @buf at @n (of @len, at least 1) as snprintf does, never past
 * the end; each writer below appends at least once, so @buf ends in a NUL. */
#define TEXT_P(...) n += n < len ? (size_t)snprintf(buf + n, len - n, __VA_ARGS__) : 0

size_t hm_stats_text_moves(char *buf, size_t len, const struct hm_stats *s)
{
	char a[32], b[32];
	size_t n = 0;
	TEXT_P("  faults %llu (zero-fill %llu, fetched from tier %llu, waited on move %llu, wp %llu), readahead folios "
	       "%llu (first touches filled ahead %llu)\n",
	       (unsigned long long)s->faults, (unsigned long long)s->faults_zero, (unsigned long long)s->faults_fetch,
	       (unsigned long long)s->faults_wait, (unsigned long long)s->faults_wp,
	       (unsigned long long)s->readahead_folios, (unsigned long long)s->readahead_zero_folios);
	hm_fmt_bytes(a, sizeof(a), s->bytes_demoted);
	hm_fmt_bytes(b, sizeof(b), s->bytes_promoted);
	TEXT_P("  demoted %llu pages (%s), promoted %llu pages (%s), tier-to-tier %llu pages\n",
	       (unsigned long long)s->pages_demoted, a, (unsigned long long)s->pages_promoted, b,
	       (unsigned long long)s->pages_tier2tier);
	TEXT_P("  failures %llu, fallback-to-4K folios %llu, poisoned %llu, retries %llu, injected %llu, fork-homes "
	       "%llu\n",
	       (unsigned long long)s->migrate_failures, (unsigned long long)s->fallback_pages,
	       (unsigned long long)s->poisoned, (unsigned long long)s->retries, (unsigned long long)s->injected,
	       (unsigned long long)s->fork_homes);
	return n < len ? n : len - 1;
}

size_t hm_stats_text_budget(char *buf, size_t len, const struct hm_stats *s)
{
	char a[32], b[32];
	size_t n = 0;
	if (s->locked_bytes || s->over_budget) {
		hm_fmt_bytes(a, sizeof(a), s->locked_bytes);
		hm_fmt_bytes(b, sizeof(b), s->over_budget_peak);
		TEXT_P("  locked in RAM (mlock) %s; over the budget (nothing could be demoted) %llu times, %llu ms, "
		       "by %s at most\n",
		       a, (unsigned long long)s->over_budget, (unsigned long long)s->over_budget_ms, b);
	}
	const char *t = hm_thrash_sentence(s);
	TEXT_P("  fault wait %llu ms in all, %llu%% of the last second; thrashing %llu of %llu s%s%s\n",
	       (unsigned long long)(s->fault_wait_us / 1000), (unsigned long long)s->fault_wait_pct,
	       (unsigned long long)s->thrash_seconds, (unsigned long long)s->budget_seconds, t ? "\n  " : "",
	       t ? t : "");
	return n < len ? n : len - 1;
}

size_t hm_pub_preload_text(char *buf, size_t len, const struct hm_pub *p)
{
	size_t n = 0;
#define HM_PRE_(name, field) TEXT_P(#name " %llu\n", (unsigned long long)p->field);
	HM_PUB_PRELOAD_FIELDS(HM_PRE_)
#undef HM_PRE_
	TEXT_P("managed_share_pct %.1f\n", hm_pub_managed_share(p));
	return n < len ? n : len - 1;
}
#undef TEXT_P

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
	n += (int)hm_stats_text_moves(out + n, sizeof(out) - (size_t)n, &s);
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
	if (bg.bytes)
		n += (int)hm_stats_text_budget(out + n, sizeof(out) - (size_t)n, &s);
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
		struct hm_tier *t = hm_tier_get(i);
		if (t && hm_tier_is_compressed(t)) {
			/* packing waste: pool RAM beyond the payload, as a share of it */
			struct hm_ztier_usage u;
			char l[32], st[32], pl[32], lim[32], sv[32];
			hm_ztier_usage(t, &u);
			hm_fmt_bytes(l, sizeof(l), u.logical);
			hm_fmt_bytes(st, sizeof(st), u.stored);
			hm_fmt_bytes(pl, sizeof(pl), u.pool);
			hm_fmt_bytes(lim, sizeof(lim), u.limit);
			hm_fmt_bytes(sv, sizeof(sv), u.logical > u.pool ? u.logical - u.pool : 0);
			P("       pages %s compressed to %s in a pool of %s (of %s), ratio %.2f:1, waste %.1f%%: %s of RAM "
			  "saved\n",
			  l, st, pl, lim, u.pool ? (double)u.logical / (double)u.pool : 0.0,
			  u.stored ? 100.0 * ((double)u.pool - (double)u.stored) / (double)u.stored : 0.0, sv);
		}
		if (n > (int)sizeof(out) - 256)
			break;
	}
	if (s.comp_zero_pages || s.comp_same_pages || s.comp_incompressible || s.comp_pool_full || s.comp_ns)
		P("  compressed tiers: zero pages %llu, same-filled %llu, stored raw (incompressible) %llu, refused "
		  "(pool full) %llu, sent past the full pool %llu, written back to the next tier %llu; compress %llu ms, "
		  "decompress %llu ms\n",
		  (unsigned long long)s.comp_zero_pages, (unsigned long long)s.comp_same_pages,
		  (unsigned long long)s.comp_incompressible, (unsigned long long)s.comp_pool_full,
		  (unsigned long long)s.comp_spill_pages, (unsigned long long)s.comp_writeback_pages,
		  (unsigned long long)(s.comp_ns / 1000000),
		  (unsigned long long)(s.decomp_ns / 1000000));
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
