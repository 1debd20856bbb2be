/*
 * policy.c — the policy registry and the glue between the fault and
 * migration paths and the policy's per-folio state.
 *
 * Each region has one 64-bit policy word per folio (struct hm_pstate, read
 * and written whole with relaxed atomics: an update racing a scan may be
 * lost, which costs a little accuracy and never correctness).  Events come
 * from the fault handler (first touch, fetch, refault) and from migrations
 * (promotion, demotion); the reclaimer (reclaim.c) ticks the policy and asks
 * it for scores.
 */
#include "internal.h"
#include "place/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every policy, the default first: the one list to extend when adding a
 * policy (docs/ARCHITECTURE.md, "Adding a policy"); messages and lookups
 * read their names from it. */
const struct hm_policy_ops *const hm_policies[] = {&hm_policy_recency, &hm_policy_frequency, &hm_policy_fifo,
						   NULL};

const char *hm_policy_names(char *buf, size_t len, const char *last_sep)
{
	size_t n = 0;
	buf[0] = 0;
	for (size_t i = 0; hm_policies[i] && n < len; i++) {
		const char *sep = !i ? "" : hm_policies[i + 1] ? ", " : last_sep;
		int k = snprintf(buf + n, len - n, "%s%s", sep, hm_policies[i]->name);
		n += k > 0 ? (size_t)k : 0;
	}
	return buf;
}

const struct hm_policy_ops *hm_policy_find(const char *name)
{
	for (int i = 0; name && hm_policies[i]; i++)
		if (!strcmp(hm_policies[i]->name, name))
			return hm_policies[i];
	return NULL;
}

/* A refault is a fetch within this long of the folio's demotion. */
#define REFAULT_WINDOW_TICKS 125 /* x 16 ms = 2 s */

static _Atomic uint64_t clock_base_ns; /* set once, by whichever thread asks first */

uint32_t hm_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	uint64_t base = atomic_load_explicit(&clock_base_ns, memory_order_relaxed);
	if (!base && !atomic_compare_exchange_strong(&clock_base_ns, &base, ns))
		; /* another thread set it first: base holds its value */
	else if (!base)
		base = ns;
	return (uint32_t)((ns - base) / 1000000ull);
}

static inline struct hm_pstate ps_load(struct hm_region *r, size_t folio)
{
	uint64_t v = atomic_load_explicit(&r->pstate[folio], memory_order_relaxed);
	struct hm_pstate ps;
	memcpy(&ps, &v, sizeof(ps));
	return ps;
}

static inline void ps_store(struct hm_region *r, size_t folio, struct hm_pstate ps)
{
	uint64_t v;
	memcpy(&v, &ps, sizeof(v));
	atomic_store_explicit(&r->pstate[folio], v, memory_order_relaxed);
}

static void heat_fetched(struct hm_region *r, size_t page, uint32_t now);

void hm_policy_event(struct hm_region *r, size_t head, enum hm_event ev)
{
	const struct hm_policy_ops *p = hm_g.policy;
	size_t f = head >> (r->folio_shift - HM_PAGE_SHIFT);
	uint32_t now = hm_clock_ms();
	struct hm_pstate ps = ps_load(r, f);
	if (ev == HM_EV_FETCH && ps.demoted) {
		uint16_t t16 = (uint16_t)((now >> 4) | 1);
		if ((uint16_t)(t16 - ps.demoted) < REFAULT_WINDOW_TICKS) {
			ev = HM_EV_REFAULT;
			HM_COUNT(refaults, 1);
		}
	}
	/* events run on the fault path: they see only what the reclaimer
	 * published, never its working context */
	struct hm_policy_ctx ctx = {
		.gen = atomic_load_explicit(&hm_g.pub_gen, memory_order_relaxed),
		.hot_threshold = (uint16_t)atomic_load_explicit(&hm_g.pub_hot, memory_order_relaxed),
	};
	p->event(&ps, &ctx, ev, now);
	ps_store(r, f, ps);
	HM_COUNT(policy_events, 1);
	/* a folio on a coherent tier that is used comes back (reclaim.c) */
	if ((ev == HM_EV_HINT || ev == HM_EV_WRITE) && pw_loc(atomic_load(&r->words[head])) == HM_LOC_MAPPED)
		hm_reclaim_promote_folio(r, head);
	/* the folio's block (block heat, below): a touched sample, or a fetch */
	if (ev == HM_EV_HINT)
		hm_policy_sampled(r, head, true);
	else if (ev == HM_EV_FETCH || ev == HM_EV_REFAULT)
		heat_fetched(r, head, now);
}

void hm_policy_demoted(struct hm_region *r, size_t head)
{
	size_t f = head >> (r->folio_shift - HM_PAGE_SHIFT);
	struct hm_pstate ps = ps_load(r, f);
	ps.demoted = (uint16_t)((hm_clock_ms() >> 4) | 1); /* never 0 */
	ps_store(r, f, ps);
}

/*
 * Block heat.  A hint-fault sample (track.c) tells about one page for the
 * time it is out; pages near each other tend to be used alike (the premise of
 * DAMON's regions), so each 2 MiB block of a region keeps a running hit
 * ratio of the samples taken in it (16-bit fixed point, each outcome weighs
 * a quarter; fetches and time below).  A resident folio in a block at or over
 * HEAT_HOT ranks above every folio outside one, hot blocks by their heat
 * (policies with .blocks, hm_policy_score): samples of a few pages protect
 * the whole block, where a per-folio count needs an event on every folio.
 */
#define HEAT_HOT 8192 /* a hit ratio of 1/8 */

void hm_policy_sampled(struct hm_region *r, size_t page, bool hit)
{
	if (page >= r->npages)
		return;
	_Atomic uint16_t *h = &r->heat[page / HM_HEAT_PAGES];
	uint16_t v = atomic_load_explicit(h, memory_order_relaxed);
	v = hit ? (uint16_t)(v + ((65535u - v) >> 2)) : (uint16_t)(v - (v >> 2));
	atomic_store_explicit(h, v, memory_order_relaxed);
}

/* Time cools every block: a quarter off per period, so a block stays hot
 * only while its samples keep being touched (a hot set that moves away
 * leaves cold blocks behind, even where few samples fall).  The period is
 * the time the sampler takes to offer every resident block two samples,
 * between 1 and 8 s: with a fixed second, a large managed set (GUPS at
 * 8 GiB / 2 GiB) had its hot blocks cooled faster than its samples could
 * re-heat them. */
#define HEAT_PERIOD_MIN_MS 1000
#define HEAT_PERIOD_MAX_MS 8000

void hm_policy_heat_decay(struct hm_region *r, unsigned steps)
{
	if (!steps)
		return;
	size_t nb = (r->npages + HM_HEAT_PAGES - 1) / HM_HEAT_PAGES;
	for (size_t b = 0; b < nb; b++) {
		uint16_t v = atomic_load_explicit(&r->heat[b], memory_order_relaxed);
		for (unsigned k = 0; k < steps && v; k++)
			v = (uint16_t)(v - (v >> 2) - (v < 4 ? v : 0));
		atomic_store_explicit(&r->heat[b], v, memory_order_relaxed);
	}
}

unsigned hm_policy_heat_steps(uint32_t now, uint64_t resident_bytes, uint64_t samples_total)
{
	static uint32_t last;
	static uint64_t last_samples;
	if (!last || now - last > 60000) { /* first call, or budget off for long */
		last = now;
		last_samples = samples_total;
		return 0;
	}
	uint32_t dt = now - last;
	if (dt < HEAT_PERIOD_MIN_MS)
		return 0;
	double rate = (double)(samples_total - last_samples) * 1000.0 / dt; /* samples/s */
	double blocks = (double)resident_bytes / ((double)HM_HEAT_PAGES * HM_PAGE_SIZE) + 1;
	double period = rate > 0 ? 2000.0 * blocks / rate : HEAT_PERIOD_MAX_MS;
	if (period < HEAT_PERIOD_MIN_MS)
		period = HEAT_PERIOD_MIN_MS;
	if (period > HEAT_PERIOD_MAX_MS)
		period = HEAT_PERIOD_MAX_MS;
	if (dt < period)
		return 0;
	last = now;
	last_samples = samples_total;
	return 1;
}

/* A fault that fetched page @page of @r: an access in its block too, but one
 * that comes with every access to a block off RAM, hot or cold.  It weighs
 * 1/4096 of a sample's hit: only a block fetched from hundreds of times per
 * cooling period (a hot set that just moved there) heats up by fetches alone;
 * one that gets a few fetches a second (uniform background accesses) stays
 * near zero.
 *
 * Block promotion.  Fetches are also counted per block in windows of
 * PROMOTE_WINDOW_MS; the fetch that brings a block's count to the
 * threshold asks the reclaimer to bring the rest of the block to RAM in one
 * go (hm_reclaim_promote), the way HeMem and MEMTIS place whole huge pages:
 * a hot set that lands on pages off RAM (GUPS's moving phase: 1 GiB is
 * 262,144 pages) otherwise comes back one fault at a time, tens of
 * microseconds each.  The threshold is hm_g.block_promote
 * (HETMEM_BLOCK_PROMOTE, default 16) or PROMOTE_OVER_MEAN times the mean
 * fetches per block fetched from in the last window, whichever is more (the
 * mean over every managed block was near zero for a program whose heap
 * reserves far more than it uses: redis's random GETs over 75 blocks got
 * every block promoted whole, twice the demotions): a block
 * must stand out from the background (GUPS's skewed phase at 4 GiB / 1 GiB
 * gives each block about 7 fetches per window at random; a fixed 16 then
 * promoted about ten cold blocks a second), but at most PROMOTE_MAX (a
 * block that dense in faults is hot, whatever the others do).
 * A window promotes at most a quarter of the budget's blocks: when more
 * blocks than that reach the threshold, the accesses are spread over more
 * than RAM holds, and whole blocks brought in only push out the ones
 * brought in before (redis's random GETs over 3.5 times the budget: half of
 * all promotions were of whole blocks, twice the demotions a page at a time
 * needs).
 * Fetches of a sequential stream (at or up to PROMOTE_STREAM_FOLIOS past the
 * folio fault.c's readahead expects next) are not counted, so a scan over
 * cold data promotes nothing. */
#define PROMOTE_WINDOW_MS 500
#define PROMOTE_OVER_MEAN 4
#define PROMOTE_MAX (HM_HEAT_PAGES / 4) /* a block this dense in faults is hot, whatever the mean */
#define PROMOTE_STREAM_FOLIOS 16

static _Atomic uint32_t promote_win;      /* the current window */
static _Atomic uint64_t promote_win_base; /* faults_fetch when it began */
static _Atomic uint32_t promote_want;     /* this window's threshold */
static _Atomic uint64_t promote_win_blocks; /* blocks fetched from in the current window */
static _Atomic uint32_t promote_win_done;   /* blocks it asked to promote */

/* The threshold for window @win (the first fetch of a window sets it). */
static uint32_t promote_threshold(uint32_t win)
{
	uint32_t want = atomic_load_explicit(&promote_want, memory_order_relaxed);
	uint32_t cur = atomic_load_explicit(&promote_win, memory_order_relaxed);
	if (cur == win && want)
		return want;
	if (!atomic_compare_exchange_strong(&promote_win, &cur, win))
		return want ? want : hm_g.block_promote; /* another thread moves it on */
	uint64_t f = atomic_load_explicit(&hm_cnt.faults_fetch, memory_order_relaxed);
	uint64_t base = atomic_exchange(&promote_win_base, f);
	uint64_t blocks = atomic_exchange(&promote_win_blocks, 0) + 1;
	atomic_store_explicit(&promote_win_done, 0, memory_order_relaxed);
	/* fetches in the last window, if it was the one before this one */
	uint64_t mean = win == ((cur + 1) & 0xffff) && base ? (f - base) / blocks : 0;
	want = hm_g.block_promote;
	if (mean * PROMOTE_OVER_MEAN > want)
		want = mean * PROMOTE_OVER_MEAN > PROMOTE_MAX ? PROMOTE_MAX : (uint32_t)(mean * PROMOTE_OVER_MEAN);
	if (want < hm_g.block_promote)
		want = hm_g.block_promote;
	atomic_store_explicit(&promote_want, want, memory_order_relaxed);
	return want;
}

static void heat_fetched(struct hm_region *r, size_t page, uint32_t now)
{
	if (page >= r->npages)
		return;
	size_t b = page / HM_HEAT_PAGES;
	_Atomic uint16_t *h = &r->heat[b];
	uint16_t v = atomic_load_explicit(h, memory_order_relaxed);
	atomic_store_explicit(h, (uint16_t)(v + ((65535u - v + 4095) >> 12)), memory_order_relaxed);
	if (!hm_g.block_promote || !hm_g.policy->blocks || !hm_g.block_heat)
		return;
	/* a fault at or just after the folio a sequential stream expects
	 * next (fault.c's readahead: last_fault holds it + 1; the stream may
	 * skip folios already in RAM) */
	size_t f = page >> (r->folio_shift - HM_PAGE_SHIFT);
	uintptr_t next = atomic_load_explicit(&r->last_fault, memory_order_relaxed);
	if (next && f + 1 >= next && f + 1 < next + PROMOTE_STREAM_FOLIOS)
		return;
	uint32_t win = (now / PROMOTE_WINDOW_MS) & 0xffff, c = 1;
	uint32_t old = atomic_load_explicit(&r->bfetch[b], memory_order_relaxed);
	if (old >> 16 == win)
		c = (old & 0xffff) + 1;
	else
		atomic_fetch_add_explicit(&promote_win_blocks, 1, memory_order_relaxed);
	if (c > 0xffff)
		c = 0xffff;
	atomic_store_explicit(&r->bfetch[b], win << 16 | c, memory_order_relaxed);
	if (c == promote_threshold(win)) {
		/* a quarter of the budget's blocks, at least one; no budget: no limit */
		uint64_t most = hm_g.budget ? (hm_g.budget >> 21) / 4 : UINT64_MAX;
		if (atomic_fetch_add_explicit(&promote_win_done, 1, memory_order_relaxed) < (most ? most : 1))
			hm_reclaim_promote(r, b);
	}
}

void hm_policy_block_promoted(struct hm_region *r, size_t block)
{
	if (block * HM_HEAT_PAGES < r->npages)
		atomic_store_explicit(&r->heat[block], 65535, memory_order_relaxed);
}

bool hm_policy_block_hot(struct hm_region *r, size_t page)
{
	return page < r->npages &&
	       atomic_load_explicit(&r->heat[page / HM_HEAT_PAGES], memory_order_relaxed) >= HEAT_HOT;
}

uint16_t hm_policy_scan(struct hm_region *r, size_t f, uint32_t now, bool resident)
{
	struct hm_pstate ps = ps_load(r, f), was = ps;
	const struct hm_policy_ops *p = hm_g.policy;
	/* stored back only if the policy changed it: a pass visits every
	 * folio (16 MiB of states at 8 GiB), and most are left as they were */
	if (p->scan) {
		p->scan(&ps, &hm_g.pctx, now, resident);
		if (memcmp(&ps, &was, sizeof(ps)))
			ps_store(r, f, ps);
	}
	return ps.count;
}

uint64_t hm_policy_score(struct hm_region *r, size_t f, uint32_t now)
{
	struct hm_pstate ps = ps_load(r, f);
	const struct hm_policy_ops *p = hm_g.policy;
	uint64_t s = p->score(&ps, &hm_g.pctx, now);
	if (!p->blocks || !hm_g.block_heat)
		return s;
	/* hot blocks rank by their heat, hottest kept longest (no cliff where
	 * the budget cannot hold them all), then by the policy's own order */
	size_t page = f << (r->folio_shift - HM_PAGE_SHIFT);
	uint16_t heat = atomic_load_explicit(&r->heat[page / HM_HEAT_PAGES], memory_order_relaxed);
	if (heat < HEAT_HOT)
		return s >> 1;
	return (1ull << 63) | ((uint64_t)(heat >> 8) << 55) | (s >> 9);
}

uint16_t hm_policy_count(struct hm_region *r, size_t f)
{
	return ps_load(r, f).count;
}

HM_API int hm_policy_set(const char *name)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_policy_set: hetmem is not initialised");
	const struct hm_policy_ops *p = hm_policy_find(name);
	if (!p) {
		char names[128];
		return hm_error(EINVAL, "hm_policy_set: unknown policy '%s' (known: %s)", name ? name : "(null)",
				hm_policy_names(names, sizeof(names), ", "));
	}
	hm_g.policy = p;
	return 0;
}

HM_API const char *hm_policy_get(void)
{
	const struct hm_policy_ops *p = hm_g.policy;
	return p ? p->name : "recency";
}

/* The region layer's client (space.h): placement's per-region state, the
 * policy's per-folio state and the per-block heat and fetch counts, lives and
 * dies with the region; so does its advice (advise.c, lock.c). */
static size_t place_blocks(const struct hm_region *r)
{
	return (r->npages + HM_HEAT_PAGES - 1) / HM_HEAT_PAGES;
}

static int place_region_new(struct hm_region *r)
{
	r->pstate = calloc(r->npages >> (r->folio_shift - HM_PAGE_SHIFT), sizeof(uint64_t));
	r->heat = calloc(place_blocks(r), sizeof(uint16_t));
	r->bfetch = calloc(place_blocks(r), sizeof(uint32_t));
	if (r->pstate && r->heat && r->bfetch)
		return 0;
	free(r->pstate);
	free(r->heat);
	free(r->bfetch);
	return -ENOMEM;
}

static size_t place_region_meta(const struct hm_region *r)
{
	return (r->npages >> (r->folio_shift - HM_PAGE_SHIFT)) * sizeof(uint64_t) +
	       place_blocks(r) * (sizeof(uint16_t) + sizeof(uint32_t));
}

static void place_region_free(struct hm_region *r)
{
	free(r->pstate);
	free(r->heat);
	free(r->bfetch);
	hm_adv_free(r);
}

const struct hm_space_client hm_place_space = {
	.name = "place",
	.region_new = place_region_new,
	.region_meta = place_region_meta,
	.region_free = place_region_free,
};
