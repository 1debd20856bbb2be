/*
 * reclaim.c — the RAM budget and the background reclaimer.
 *
 * With a budget set (hm_budget_set), a reclaimer thread keeps the managed
 * memory resident in RAM under it: when residency passes the high
 * watermark it scans every region, asks the policy for the coldness of each
 * resident folio, and demotes the coldest to the budget's tier until
 * residency is below the low watermark.  It wakes every TICK_MS, or at once
 * when the fault handler sees residency pass the high watermark
 * (hm_reclaim_kick).  Each scan also builds the histogram of access counts
 * the frequency policy sizes its hot threshold from.
 *
 * Thrashing: a folio faulted back within 2 s of its demotion is a refault;
 * the policy protects it (see policies/), and when refaults reach half the
 * demotions of the last second the reclaimer backs off (longer sleeps,
 * counted as thrash_backoffs) rather than churn.
 *
 * Each pass also runs the tracker (track.c): write tracking and hint-fault
 * sampling of resident folios, whose events reach the policy like faults.
 *
 * Nothing to demote: locked folios (mlock, lock.c) and HOT ones are never
 * victims, and a full tier or failing demotions free nothing.  When a pass
 * over the high watermark demotes nothing, the reclaimer says so once on
 * stderr, counts the time and the excess as over_budget, and lets residency
 * exceed the budget: no fault is held (hm_reclaim_must_hold) and faults no
 * longer kick it.  It tries again only when something may have changed (a
 * slot freed on its tier, the budget set, memory unlocked: hm_reclaim_changed)
 * or after a back-off that doubles up to FULL_BACKOFF_MAX_MS, so a full tier
 * costs no CPU.
 *
 * Fault wait: once a second it also closes the fault-wait window
 * (faultwait.c: fault_wait_pct, thrashing seconds).
 */
#include "internal.h"
#include "place/policy.h"

#include <sys/syscall.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 10
#define BACKOFF_MS 100
#define MAX_VICTIMS 65536 /* folios a pass can demote: 256 MiB of 4 KiB folios */
#define DEFAULT_LOW 90
#define DEFAULT_HIGH 95
#define FULL_BACKOFF_MS 50
#define FULL_BACKOFF_MAX_MS 1000
#define FULL_FAILING_MS 500

static pthread_mutex_t rc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rc_cv = PTHREAD_COND_INITIALIZER;
static pthread_t rc_thread;
static bool rc_running, rc_stop, rc_kicked;
/* nothing could be demoted: residency is let over the budget (see above) */
static _Atomic bool rc_full, rc_changed;

/*
 * The K coldest of N candidates, in O(N): candidates go into a buffer of 2K;
 * when it is full, a selection keeps its K coldest and the K-th score becomes
 * the bar a later candidate must pass.
 */
/* Reorder v[0..n) so that v[0..k) hold the k lowest scores (k < n). */
static void select_lowest(struct hm_victim *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;
	while (lo < hi) {
		/* median of three, then Hoare's partition (equal scores stop
		 * both scans, so runs of one score split evenly) */
		size_t mid = lo + (hi - lo) / 2;
		uint64_t a = v[lo].score, b = v[mid].score, c = v[hi].score;
		uint64_t piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		size_t i = lo, j = hi;
		for (;;) {
			while (v[i].score < piv)
				i++;
			while (v[j].score > piv)
				j--;
			if (i >= j)
				break;
			struct hm_victim t = v[i];
			v[i] = v[j];
			v[j] = t;
			i++;
			j--;
		}
		/* v[lo..j] <= piv <= v[j+1..hi] */
		if (k <= j)
			hi = j;
		else
			lo = j + 1;
	}
}

void hm_victims_trim(struct hm_victims *vs)
{
	if (vs->n <= vs->keep)
		return;
	select_lowest(vs->v, vs->n, vs->keep);
	vs->n = vs->keep;
	uint64_t m = 0;
	for (size_t i = 0; i < vs->n; i++)
		m = vs->v[i].score > m ? vs->v[i].score : m;
	vs->bar = m;
}

void hm_victims_add(struct hm_victims *vs, struct hm_victim x)
{
	if (x.score >= vs->bar)
		return;
	if (vs->n == 2 * vs->keep)
		hm_victims_trim(vs);
	if (x.score < vs->bar)
		vs->v[vs->n++] = x;
}

int hm_victim_cmp_score(const void *a, const void *b)
{
	const struct hm_victim *x = a, *y = b;
	return x->score < y->score ? -1 : x->score > y->score;
}

int hm_victim_cmp_place(const void *a, const void *b)
{
	const struct hm_victim *x = a, *y = b;
	if (x->r != y->r)
		return (uintptr_t)x->r < (uintptr_t)y->r ? -1 : 1;
	return x->head < y->head ? -1 : x->head > y->head;
}

static uint64_t resident(void)
{
	return atomic_load(&hm_cnt.resident_pages) << HM_PAGE_SHIFT;
}

/* How often a pass visits the folios off RAM too (the policy's aging of
 * them, the histogram of counts): passes under pressure in between rank only
 * the resident ones.  At GUPS's 8 GiB / 2 GiB, three folios in four are off
 * RAM, and the reclaimer runs about two passes a second. */
#define FULL_SCAN_MS 1000

/* One pass: scan, rank, and with @need demote until resident <= @target.
 * Returns pages demoted. */
static size_t pass_candidates; /* victims the last pass found */

/* Demote the @n folios of @r whose first pages @heads lists to @tier, the
 * budget's.  A compressed tier whose pool is full sends them on to the
 * next tier instead (writeback.c); those its pool refused during this
 * call follow them there.  Pages moved, like hm_migrate_heads. */
static long demote_heads(struct hm_region *r, size_t *heads, size_t n, int tier)
{
	int spill = hm_writeback_spill_tier();
	long m = hm_migrate_heads(r, heads, n, spill >= 0 ? spill : tier, HM_MIG_TRY);
	if (spill >= 0) {
		if (m > 0)
			HM_COUNT(comp_spill_pages, (uint64_t)m);
		return m;
	}
	size_t fp = region_folio_pages(r);
	if (m < 0 || (size_t)m >= n * fp || (spill = hm_writeback_spill_tier()) < 0)
		return m;
	/* the pool filled during the call: its refused folios, still in RAM */
	size_t left = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t w = atomic_load(&r->words[heads[k]]);
		if (pw_loc(w) == HM_LOC_HOST && !(w & PW_MOVING))
			heads[left++] = heads[k];
	}
	long m2 = left ? hm_migrate_heads(r, heads, left, spill, HM_MIG_TRY) : 0;
	if (m2 > 0) {
		HM_COUNT(comp_spill_pages, (uint64_t)m2);
		m += m2;
	}
	return m;
}

static uint64_t reclaim_pass(struct hm_victim *heap, size_t *heads, bool need, uint64_t target)
{
	static uint32_t last_full;
	uint32_t now = hm_clock_ms();
	bool full = !need || !last_full || now - last_full >= FULL_SCAN_MS;
	if (full)
		last_full = now;
	hm_g.pctx.budget_folio_bytes = hm_g.budget;
	hm_g.policy->tick(&hm_g.pctx, now);
	atomic_store_explicit(&hm_g.pub_gen, hm_g.pctx.gen, memory_order_relaxed);
	atomic_store_explicit(&hm_g.pub_hot, hm_g.pctx.hot_threshold, memory_order_relaxed);
	HM_COUNT(reclaim_scans, 1);

	size_t nr;
	struct hm_region **rs = hm_regions_snapshot(&nr);
	if (!rs)
		return 0;
	/* hotness of resident folios: write tracking, hint-fault samples */
	hm_track_scan(rs, nr);

	unsigned heat_steps = hm_policy_heat_steps(now, resident(), atomic_load(&hm_cnt.track_samples));
	uint64_t hist[17] = {0}, histb[17] = {0};
	struct hm_victims vs = {.v = heap, .keep = MAX_VICTIMS, .bar = UINT64_MAX};
	for (size_t i = 0; i < nr; i++) {
		struct hm_region *r = rs[i];
		size_t fp = region_folio_pages(r), fsz = fp << HM_PAGE_SHIFT;
		if (atomic_load(&r->dying))
			continue;
		hm_policy_heat_decay(r, heat_steps);
		struct hm_adv_cursor adv, lck;
		hm_adv_begin(r, &adv);
		hm_lock_begin(r, &lck);
		for (size_t head = 0, f = 0; head < r->npages; head += fp, f++) {
			uint64_t w = atomic_load(&r->words[head]);
			unsigned loc = pw_loc(w);
			if (loc == HM_LOC_NONE || loc == HM_LOC_UNMAPPED || (!full && loc != HM_LOC_HOST))
				continue;
			unsigned b = hm_count_bucket(hm_policy_scan(r, f, now, loc == HM_LOC_HOST || loc == HM_LOC_MAPPED));
			hist[b]++;
			histb[b] += fsz;
			if (!need || loc != HM_LOC_HOST || (w & (PW_MOVING | PW_NOREAD)))
				continue;
			/* locked memory (mlock) cannot leave RAM */
			if (hm_lock_any(&lck, head, fp))
				continue;
			/* hm_advise: HOT is never a victim, COLD goes first */
			int a = hm_adv_next(&adv, head);
			if (a == HM_ADVISE_HOT) {
				HM_COUNT(advise_hot_kept, 1);
				continue;
			}
			uint64_t score = 0;
			if (a == HM_ADVISE_COLD)
				HM_COUNT(advise_cold_first, 1);
			else /* ranking is for candidates only: a pass with no need
			      * scores nothing, one with need only the resident */
				score = hm_policy_score(r, f, now);
			hm_victims_add(&vs, (struct hm_victim){score, r, head});
		}
		hm_adv_end(&adv);
		hm_adv_end(&lck);
	}
	pass_candidates = vs.n;
	if (full) {
		memcpy(hm_g.pctx.folio_hist, hist, sizeof(hist));
		memcpy(hm_g.pctx.hist_bytes, histb, sizeof(histb));
	}

	hm_victims_trim(&vs);
	size_t nh = vs.n;
	uint64_t demoted = 0;
	if (nh) {
		/* coldest first, in batches; within a batch, adjacent folios go
		 * in one migration call */
		qsort(heap, nh, sizeof(heap[0]), hm_victim_cmp_score);
		int tier = hm_g.budget_tier;
		uint64_t have = resident();
		size_t k = 0;
		/* signal mode: demote here only past the high watermark (the
		 * faulting threads keep residency there by recycling) */
		bool here = !hm_g.sigfault || have > hm_g.budget_high;
		while (here && k < nh && have > target) {
			uint64_t need = have - target, take = 0;
			size_t b = k;
			while (b < nh && take < need) {
				take += (uint64_t)region_folio_pages(heap[b].r) << HM_PAGE_SHIFT;
				b++;
			}
			qsort(heap + k, b - k, sizeof(heap[0]), hm_victim_cmp_place);
			/* each region's victims in one call: they share staging
			 * chunks (one drop per chunk, not one per folio) */
			for (size_t j = k; j < b;) {
				struct hm_region *r = heap[j].r;
				size_t end = j;
				while (end < b && heap[end].r == r) {
					heads[end - j] = heap[end].head;
					end++;
				}
				long m = demote_heads(r, heads, end - j, tier);
				if (m > 0) {
					demoted += (uint64_t)m;
					HM_COUNT(reclaim_pages, (uint64_t)m);
				}
				j = end;
			}
			k = b;
			have = resident();
		}
		/* signal mode: the next coldest are the faulting threads' victims */
		if (hm_g.sigfault) {
			size_t n = 0;
			for (size_t j = k; j < nh && n < HM_SIG_VICTIMS; j++)
				heads[n++] = heap[j].r->base + (heap[j].head << HM_PAGE_SHIFT);
			hm_sigfault_victims((const uintptr_t *)heads, n);
		}
	}
	for (size_t i = 0; i < nr; i++)
		hm_region_put(rs[i]);
	free(rs);
	return demoted;
}

/*
 * Block promotion (policy.c asks, hm_reclaim_promote): blocks whose pages
 * are being fetched densely come to RAM whole, here, off the fault path.
 * The queue holds each block's first address (the region may go away
 * meanwhile: it is looked up again) and is guarded by rc_lock.
 */
#define PROMOTE_QUEUE 256
static uintptr_t pq[PROMOTE_QUEUE];
static size_t pq_n;

void hm_reclaim_promote(struct hm_region *r, size_t block)
{
	if (!hm_g.budget)
		return;
	pthread_mutex_lock(&rc_lock);
	if (rc_running && pq_n < PROMOTE_QUEUE) { /* full: the block asks again next window */
		pq[pq_n++] = r->base + ((block * HM_HEAT_PAGES) << HM_PAGE_SHIFT);
		rc_kicked = true;
		pthread_cond_signal(&rc_cv);
	}
	pthread_mutex_unlock(&rc_lock);
}

/*
 * Folios on a coherent tier (a NUMA node) seen used — a hint-fault sample
 * touched, a write tracked (policy.c) — come back to local memory here:
 * the CPU reads them in place, so no fault ever brings them.  The queue
 * holds folio addresses (a folio may be in it twice: the second finds it
 * HOST and is skipped), under rc_lock like pq; one write-tracking scan asks
 * for every folio written on the node, so it holds 32 MiB of 4 KiB folios.
 */
#define CPROMOTE_QUEUE 8192
static uintptr_t cq[CPROMOTE_QUEUE];
static size_t cq_n;

void hm_reclaim_promote_folio(struct hm_region *r, size_t head)
{
	if (!hm_g.budget)
		return;
	uintptr_t a = r->base + (head << HM_PAGE_SHIFT);
	pthread_mutex_lock(&rc_lock);
	if (rc_running && cq_n < CPROMOTE_QUEUE) { /* full: a later access asks again */
		cq[cq_n++] = a;
		HM_COUNT(coherent_promote_asks, 1);
		rc_kicked = true;
		pthread_cond_signal(&rc_cv);
	}
	pthread_mutex_unlock(&rc_lock);
}

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* Bring the queued coherent folios @fa back (sorted here), as far as the
 * budget allows: one reclaim pass makes room for all of them first (the
 * coldest resident folios go to the tier in their place), then each
 * region's folios go in one migration call.  Returns the pages demoted. */
static uint64_t promote_mapped(uintptr_t *fa, size_t n, struct hm_victim *heap, size_t *heads)
{
	uint64_t need = 0, demoted = 0;
	qsort(fa, n, sizeof(fa[0]), cmp_addr);
	for (size_t k = 0; k < n; k++) {
		struct hm_region *r = hm_region_get(fa[k]);
		if (!r)
			continue;
		size_t head = (fa[k] - r->base) >> HM_PAGE_SHIFT;
		if (pw_loc(atomic_load(&r->words[head])) == HM_LOC_MAPPED)
			need += (uint64_t)region_folio_pages(r) << HM_PAGE_SHIFT;
		hm_region_put(r);
	}
	if (!need)
		return 0;
	if (resident() + need > hm_g.budget_high) {
		uint64_t low = hm_g.budget_low;
		demoted = reclaim_pass(heap, heads, true, need < low ? low - need : 0);
	}
	for (size_t k = 0; k < n && hm_g.budget;) {
		struct hm_region *r = hm_region_get(fa[k]);
		if (!r) {
			k++;
			continue;
		}
		uint64_t fsz = (uint64_t)region_folio_pages(r) << HM_PAGE_SHIFT, room = 0, have = resident();
		if (have < hm_g.budget)
			room = hm_g.budget - have;
		size_t nh = 0;
		for (; k < n && fa[k] >= r->base && fa[k] < r->base + r->size; k++) {
			size_t head = (fa[k] - r->base) >> HM_PAGE_SHIFT;
			if (nh < MAX_VICTIMS && room >= fsz && (!nh || heads[nh - 1] != head) &&
			    pw_loc(atomic_load(&r->words[head])) == HM_LOC_MAPPED) {
				heads[nh++] = head;
				room -= fsz;
			}
		}
		if (nh)
			(void)hm_migrate_heads(r, heads, nh, 0, HM_MIG_TRY);
		hm_region_put(r);
	}
	return demoted;
}

/* The folios of block @first.. of @r that a promotion brings: those on a
 * tier that is not a device's (a device keeps what it holds until the CPU
 * touches it).  Fills @hs when given; returns their bytes. */
static uint64_t block_absent(struct hm_region *r, size_t first, size_t *hs, size_t *nh)
{
	size_t fp = region_folio_pages(r);
	size_t last = first + HM_HEAT_PAGES < r->npages ? first + HM_HEAT_PAGES : r->npages, n = 0;
	for (size_t head = first; head < last; head += fp) {
		uint64_t w = atomic_load(&r->words[head]);
		struct hm_tier *t = pw_loc(w) == HM_LOC_TIER ? hm_tier_get(pw_tier(w)) : NULL;
		if (t && !t->device) {
			if (hs)
				hs[n] = head;
			n++;
		}
	}
	if (nh)
		*nh = n;
	return (uint64_t)n * fp << HM_PAGE_SHIFT;
}

/* Bring the queued blocks to RAM.  Each is marked hot first (its pages in
 * RAM are then no victims).  Room comes from reclaim passes sized to what
 * the rest of the batch needs, not one pass per block (a pass scans every
 * folio: about 100 ms for 4 GiB), and a block is brought only if it fits in
 * the budget.  Returns the pages demoted to make room. */
static uint64_t promote_blocks(const uintptr_t *blocks, size_t n, struct hm_victim *heap, size_t *heads)
{
	uint64_t demoted = 0, need = 0;
	for (size_t k = 0; k < n; k++) {
		struct hm_region *r = hm_region_get(blocks[k]);
		if (!r)
			continue;
		size_t first = (blocks[k] - r->base) >> HM_PAGE_SHIFT;
		uint64_t b = block_absent(r, first, NULL, NULL);
		if (b)
			hm_policy_block_promoted(r, first / HM_HEAT_PAGES);
		need += b;
		hm_region_put(r);
	}
	size_t hs[HM_HEAT_PAGES];
	for (size_t k = 0; k < n && hm_g.budget; k++) {
		struct hm_region *r = hm_region_get(blocks[k]);
		if (!r)
			continue;
		size_t first = (blocks[k] - r->base) >> HM_PAGE_SHIFT, nh;
		uint64_t b = block_absent(r, first, hs, &nh);
		if (nh && resident() + b > hm_g.budget_high) {
			/* room for this block and the rest of the batch (a pass
			 * demotes at most MAX_VICTIMS folios) */
			uint64_t low = hm_g.budget_low;
			uint64_t m = reclaim_pass(heap, heads, true, need < low ? low - need : 0);
			demoted += m;
			if (!m) {
				hm_region_put(r); /* nothing could go: the rest waits */
				break;
			}
		}
		if (nh && resident() + b <= hm_g.budget) {
			long m = hm_migrate_heads(r, hs, nh, 0, HM_MIG_TRY);
			HM_COUNT(block_promotions, 1);
			if (m > 0)
				HM_COUNT(block_promoted_pages, (uint64_t)m);
		}
		need = need > b ? need - b : 0;
		hm_region_put(r);
	}
	return demoted;
}

static _Atomic pid_t rc_tid;

/* The "nothing can be demoted" state (the reclaimer's own, but rc_full). */
static uint32_t full_acc, full_tried, full_backoff;
static uint64_t full_slots; /* the budget tier's used slots at the last try */
static unsigned full_zero;  /* consecutive passes over the watermark that demoted nothing */
static uint32_t full_zero_since;
static bool full_said;

static uint64_t tier_used(void)
{
	struct hm_tier *t = hm_tier_get(hm_g.budget_tier);
	return t ? atomic_load(&t->used_slots) : 0;
}

static void full_account(uint32_t now)
{
	uint64_t have = resident(), b = hm_g.budget;
	if (b && have > b && have - b > atomic_load(&hm_cnt.over_budget_peak))
		atomic_store(&hm_cnt.over_budget_peak, have - b);
	HM_COUNT(over_budget_ms, now - full_acc);
	full_acc = now;
}

/* Say once why residency goes over the budget (after a pass that demoted
 * nothing: pass_candidates is that pass's). */
static void full_say(void)
{
	char over[32], bud[32], lk[32];
	uint64_t have = resident(), b = hm_g.budget;
	hm_fmt_bytes(over, sizeof(over), have > b ? have - b : 0);
	hm_fmt_bytes(bud, sizeof(bud), b);
	struct hm_tier *t = hm_tier_get(hm_g.budget_tier);
	const char *name = t ? t->name : "?";
	if (!pass_candidates) {
		hm_fmt_bytes(lk, sizeof(lk), hm_locked_bytes());
		fprintf(stderr,
			"hetmem: nothing in RAM can be demoted (%s locked by mlock, the rest advised HOT or in use): over the RAM "
			"budget (%s) by %s, the program keeps running\n",
			lk, bud, over);
	} else if (t && t->nslots - atomic_load(&t->used_slots) < HM_MAX_FOLIO_PAGES) {
		fprintf(stderr, "hetmem: tier %d (%s) is full: over the RAM budget (%s) by %s, the program keeps running\n",
			hm_g.budget_tier, name, bud, over);
	} else {
		fprintf(stderr,
			"hetmem: demotion to tier %d (%s) is failing: over the RAM budget (%s) by %s, the program keeps "
			"running\n",
			hm_g.budget_tier, name, bud, over);
	}
}

/* After a pass over the high watermark that demoted @m pages.  The state
 * ends only when residency is back under the watermark: a pass that frees a
 * few slots' worth while residency is far over the budget must not bring
 * back the hold (each held fault would wait for a reclaim that cannot
 * catch up). */
static void full_after_pass(uint64_t m, uint32_t now)
{
	bool in = atomic_load(&rc_full);
	if (resident() <= hm_g.budget_high) {
		full_zero = 0;
		if (in) {
			full_account(now);
			atomic_store(&rc_full, false);
		}
		return;
	}
	if (m) {
		full_zero = 0;
		full_backoff = FULL_BACKOFF_MS;
	} else if (!in) {
		/* a full tier or no victim at all: at once; failing demotions
		 * with room on the tier may be victims busy for a moment, so
		 * only when they persist (the hold covers that moment) */
		struct hm_tier *t = hm_tier_get(hm_g.budget_tier);
		bool sure = !pass_candidates || !t || t->nslots - atomic_load(&t->used_slots) < HM_MAX_FOLIO_PAGES;
		if (!full_zero++)
			full_zero_since = now;
		if (!sure && (full_zero < 3 || now - full_zero_since < FULL_FAILING_MS))
			return;
		HM_COUNT(over_budget, 1);
		full_acc = now;
		full_backoff = FULL_BACKOFF_MS;
		atomic_store(&rc_full, true); /* held faults go now */
		if (!full_said) {
			full_said = true;
			full_say();
		}
	} else if (full_backoff < FULL_BACKOFF_MAX_MS) {
		full_backoff *= 2;
	}
	full_tried = now;
	full_slots = tier_used();
}

/* In the state: whether to try a demoting pass now. */
static bool full_retry(uint32_t now)
{
	full_account(now);
	return atomic_exchange(&rc_changed, false) || tier_used() < full_slots || now - full_tried >= full_backoff;
}

static void *reclaim_main(void *arg)
{
	hm_tls_internal = true;
	atomic_store(&rc_tid, (pid_t)syscall(SYS_gettid));
	if (hm_g.sigfault)
		hm_thread_take_sigbus(); /* its faults in staging (thread.c) */
	hm_pin_own_thread();
	struct hm_victim *heap = malloc(2 * MAX_VICTIMS * sizeof(*heap));
	size_t *heads = malloc(MAX_VICTIMS * sizeof(*heads));
	uint64_t last_refaults = atomic_load(&hm_cnt.refaults);
	uint64_t window_demoted = 0;
	uint32_t window_start = hm_clock_ms(), last_scan = 0;
	unsigned sleep_ms = TICK_MS;
	pthread_mutex_lock(&rc_lock);
	while (!rc_stop && heap && heads) {
		if (!rc_kicked) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)sleep_ms * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&rc_cv, &rc_lock, &ts);
		}
		rc_kicked = false;
		if (rc_stop)
			break;
		uintptr_t blocks[PROMOTE_QUEUE];
		size_t nblocks = pq_n;
		memcpy(blocks, pq, nblocks * sizeof(blocks[0]));
		pq_n = 0;
		static uintptr_t cfolios[CPROMOTE_QUEUE]; /* (the reclaimer's alone) */
		size_t ncf = cq_n;
		memcpy(cfolios, cq, ncf * sizeof(cfolios[0]));
		cq_n = 0;
		pthread_mutex_unlock(&rc_lock);
		hm_thread_sync();

		uint32_t now = hm_clock_ms();
		bool over = hm_g.budget && resident() > hm_g.budget_high;
		/* signal mode: keep victims queued for the faulting threads once
		 * residency nears the budget */
		if (hm_g.sigfault && hm_g.budget && resident() > hm_g.budget_low / 2 && hm_sigfault_want_victims(now))
			over = true;
		/* nothing could be demoted: try again only on a change */
		bool stuck = atomic_load(&rc_full);
		if (stuck && over && !full_retry(now))
			over = false;
		else if (stuck && !over)
			full_after_pass(0, now);
		/* compressed tier -> next tier first: it may make room in the
		 * pool for this pass's demotions */
		hm_writeback_pass(heap, MAX_VICTIMS, heads, now);
		/* scan for the histogram and aging at least every 500 ms (a scan
		 * visits every folio: its cost grows with managed memory) */
		if (over || now - last_scan >= hm_track_scan_ms()) {
			uint64_t m = reclaim_pass(heap, heads, over, hm_g.budget_low);
			window_demoted += m;
			last_scan = now;
			if (over && hm_g.budget)
				full_after_pass(m, now);
		}
		if (nblocks && !atomic_load(&rc_full))
			window_demoted += promote_blocks(blocks, nblocks, heap, heads);
		if (ncf)
			window_demoted += promote_mapped(cfolios, ncf, heap, heads);
		hm_record_tick(now); /* record.c: a sample if one is due */
		hm_tiers_release(); /* tier.c: freed slots' storage goes back */
		hm_wait_tick();
		if (now - window_start >= 1000) {
			uint64_t rf = atomic_load(&hm_cnt.refaults);
			bool thrash = window_demoted > 0 && (rf - last_refaults) * 2 >= window_demoted;
			if (thrash)
				HM_COUNT(thrash_backoffs, 1);
			sleep_ms = thrash ? BACKOFF_MS : TICK_MS;
			last_refaults = rf;
			window_demoted = 0;
			window_start = now;
		}
		pthread_mutex_lock(&rc_lock);
	}
	pthread_mutex_unlock(&rc_lock);
	free(heap);
	free(heads);
	return NULL;
}

void hm_reclaim_kick(void)
{
	if (atomic_load_explicit(&rc_full, memory_order_relaxed))
		return; /* nothing to demote: faults do not wake it */
	pthread_mutex_lock(&rc_lock);
	rc_kicked = true;
	pthread_cond_signal(&rc_cv);
	pthread_mutex_unlock(&rc_lock);
}

/* Whether a fault that would add a folio must be held back now: resident
 * memory has reached the budget (the reclaimer keeps it under the high
 * watermark, below the budget, so this is the case only when it falls
 * behind).  Kicks the reclaimer. */
bool hm_reclaim_must_hold(void)
{
	uint64_t budget = hm_g.budget;
	if (!budget || resident() < budget)
		return false;
	/* never wait on a reclaim that can free nothing, nor in a populate
	 * of locked memory */
	if (atomic_load(&rc_full) || atomic_load(&hm_lock_populating))
		return false;
	hm_reclaim_kick();
	return true;
}

void hm_reclaim_changed(void)
{
	atomic_store(&rc_changed, true);
	pthread_mutex_lock(&rc_lock);
	rc_kicked = true;
	pthread_cond_signal(&rc_cv);
	pthread_mutex_unlock(&rc_lock);
}

/* Pages the reclaimer has demoted so far (its progress, for the hold). */
uint64_t hm_reclaim_progress(void)
{
	return atomic_load(&hm_cnt.reclaim_pages);
}

/* The reclaimer's thread id, so its own faults are never held back. */
pid_t hm_reclaim_tid(void)
{
	return atomic_load(&rc_tid);
}

void hm_reclaim_stop(void)
{
	pthread_mutex_lock(&rc_lock);
	bool running = rc_running;
	rc_stop = true;
	pthread_cond_signal(&rc_cv);
	pthread_mutex_unlock(&rc_lock);
	if (running)
		pthread_join(rc_thread, NULL);
	rc_running = false;
	rc_stop = false;
	pq_n = 0;
	cq_n = 0;
	hm_g.budget = 0;
	hm_record_stop(); /* the record ends with the reclaimer */
}

static int default_tier(void)
{
	for (int i = 1; i < HM_MAX_TIERS; i++) {
		struct hm_tier *t = hm_tier_get(i);
		if (t && !t->device)
			return i;
	}
	return -1;
}

HM_API int hm_budget_set(uint64_t bytes, unsigned low_pct, unsigned high_pct, int tier)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_budget_set: hetmem is not initialised");
	if (bytes == HM_BUDGET_OFF) {
		pthread_mutex_lock(&rc_lock);
		hm_g.budget = 0;
		pthread_mutex_unlock(&rc_lock);
		return 0;
	}
	if (bytes < HM_FOLIO_2M)
		return hm_error(EINVAL, "hm_budget_set: a budget of %llu bytes is too small (at least 2 MiB)",
				(unsigned long long)bytes);
	uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	if (bytes > ram)
		return hm_error(E2BIG, "hm_budget_set: a budget of %llu bytes is larger than this machine's RAM (%llu)",
				(unsigned long long)bytes, (unsigned long long)ram);
	if (!low_pct)
		low_pct = DEFAULT_LOW;
	if (!high_pct)
		high_pct = DEFAULT_HIGH;
	if (low_pct >= high_pct || high_pct > 100)
		return hm_error(EINVAL, "hm_budget_set: watermarks out of order: need 0 < low (%u%%) < high (%u%%) <= 100",
				low_pct, high_pct);
	if (tier == 0)
		tier = default_tier();
	if (tier < 0)
		return hm_error(ENOENT, "hm_budget_set: no tier to demote to: add one (hm_tier_add)");
	if (tier >= HM_MAX_TIERS || !hm_tier_get(tier))
		return hm_error(ENOENT, "hm_budget_set: there is no tier %d", tier);
	pthread_mutex_lock(&rc_lock);
	hm_g.budget_low = bytes / 100 * low_pct;
	hm_g.budget_high = bytes / 100 * high_pct;
	hm_g.budget_tier = tier;
	hm_g.budget = bytes;
	atomic_store(&rc_changed, true);
	int rc = 0;
	if (!rc_running) {
		int e = hm_thread_start(&rc_thread, "hm-reclaim", reclaim_main, NULL, hm_reclaim_kick);
		if (e) {
			hm_g.budget = 0;
			rc = hm_error(e, "hm_budget_set: cannot start the reclaimer thread");
		} else {
			rc_running = true;
		}
	}
	rc_kicked = true;
	pthread_cond_signal(&rc_cv);
	pthread_mutex_unlock(&rc_lock);
	return rc;
}

HM_API int hm_budget_get(struct hm_budget *out)
{
	if (!out)
		return hm_error(EINVAL, "hm_budget_get: NULL output");
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_budget_get: hetmem is not initialised");
	pthread_mutex_lock(&rc_lock);
	out->bytes = hm_g.budget;
	out->low = hm_g.budget ? hm_g.budget_low : 0;
	out->high = hm_g.budget ? hm_g.budget_high : 0;
	out->tier = hm_g.budget ? hm_g.budget_tier : 0;
	pthread_mutex_unlock(&rc_lock);
	return 0;
}
