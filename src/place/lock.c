/*
 * lock.c — locked memory (mlock, mlock2, mlockall) in managed regions.
 *
 * Locked memory cannot leave RAM.  Each region keeps a sorted array of the
 * page ranges the program locked (the same form as placement advice,
 * advise.c, built by hm_adv_build), guarded by one mutex.  The reclaimer
 * skips every folio with a locked page (hm_lock_begin / hm_lock_any, a
 * cursor that moves forward with the folio index, as the advice's does); the
 * budget counts locked pages like any resident page, so when locked memory
 * alone exceeds the budget nothing is left to demote and the reclaimer takes
 * its "nothing can be demoted" path (reclaim.c): residency goes over the
 * budget and no fault is held.
 *
 * The preload library's interposers (preload_lock.c) call hm_lock_range
 * before the kernel's mlock (so the reclaimer stops choosing the range's
 * folios), bring the range's pages home (hm_lock_home), and let the kernel
 * populate the rest: its faults reach the handler, and while a populate is
 * in flight (hm_lock_populating) no fault is held, since the program's
 * mlock would wait on a reclaim that cannot free locked memory.
 * mlockall(MCL_FUTURE) makes each region mapped later locked
 * (hm_lock_new_region).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lck_lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic int hm_lock_populating;
_Atomic bool hm_lock_future;

#define LOCKED 1
#define MAX_SPAN 64

/* [lo, hi) of @r's pages locked (@lock) or unlocked; caller holds lck_lock.
 * 0 or -ENOMEM / -ENOSPC (nothing changed). */
static uint64_t pages_of(const struct hm_adv_range *v, size_t n)
{
	uint64_t p = 0;
	for (size_t k = 0; k < n; k++)
		p += v[k].last - v[k].first;
	return p;
}

static int mark(struct hm_region *r, size_t lo, size_t hi, bool lock)
{
	struct hm_adv_range *nv = NULL;
	size_t nn = 0;
	int rc = hm_adv_build(r->lck, r->nlck, lo, hi, lock ? LOCKED : HM_ADVISE_NORMAL, &nv, &nn);
	if (rc)
		return rc;
	/* the locked-pages counter (cheap for hm_stats_get) follows the arrays */
	atomic_fetch_add(&hm_cnt.locked_pages, pages_of(nv, nn) - pages_of(r->lck, r->nlck));
	free(r->lck);
	r->lck = nv;
	r->nlck = nn;
	return 0;
}

int hm_lock_range(uintptr_t a, size_t len, bool lock)
{
	uintptr_t end = a + len;
	int rc = 0;
	while (a < end) {
		struct hm_region *r = hm_region_overlap(a, end);
		if (!r)
			break;
		uintptr_t lo = a > r->base ? a : r->base;
		uintptr_t hi = end < r->base + r->size ? end : r->base + r->size;
		pthread_mutex_lock(&lck_lock);
		int e = mark(r, (lo - r->base) >> HM_PAGE_SHIFT, (hi - r->base) >> HM_PAGE_SHIFT, lock);
		pthread_mutex_unlock(&lck_lock);
		hm_region_put(r);
		if (e && !rc)
			rc = hm_error(-e, "mlock: cannot record the locked range [%#lx, %#lx) (%s)", (unsigned long)lo,
				      (unsigned long)hi, e == -ENOSPC ? "too many locked ranges" : "out of memory");
		a = hi;
	}
	return rc;
}

void hm_lock_all(bool lock)
{
	size_t n;
	struct hm_region **rs = hm_regions_snapshot(&n);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&lck_lock);
		mark(rs[i], 0, rs[i]->npages, lock);
		pthread_mutex_unlock(&lck_lock);
		hm_region_put(rs[i]);
	}
	free(rs);
}

void hm_lock_new_region(uintptr_t a, size_t len)
{
	if (atomic_load(&hm_lock_future))
		hm_lock_range(a, len, true);
}

/* Bring the managed pages of [a, a+len) that are on a tier back to RAM. */
void hm_lock_home(uintptr_t a, size_t len)
{
	uintptr_t end = a + len;
	while (a < end) {
		struct hm_region *r = hm_region_overlap(a, end);
		if (!r)
			break;
		uintptr_t lo = a > r->base ? a : r->base;
		uintptr_t hi = end < r->base + r->size ? end : r->base + r->size;
		size_t fsz = (size_t)1 << r->folio_shift;
		uintptr_t flo = lo & ~(fsz - 1), fhi = (hi + fsz - 1) & ~(fsz - 1);
		hm_migrate_region(r, (flo - r->base) >> HM_PAGE_SHIFT, (fhi - r->base) >> HM_PAGE_SHIFT, 0, NULL,
				  HM_MIG_WAIT);
		hm_region_put(r);
		a = hi;
	}
}

void hm_lock_begin(struct hm_region *r, struct hm_adv_cursor *c)
{
	c->r = NULL;
	c->n = c->i = 0;
	pthread_mutex_lock(&lck_lock);
	if (r->nlck && (c->r = malloc(r->nlck * sizeof(*c->r)))) {
		memcpy(c->r, r->lck, r->nlck * sizeof(*c->r));
		c->n = r->nlck;
	}
	pthread_mutex_unlock(&lck_lock);
}

bool hm_lock_any(struct hm_adv_cursor *c, size_t head, size_t fp)
{
	while (c->i < c->n && c->r[c->i].last <= head)
		c->i++;
	return c->i < c->n && c->r[c->i].first < head + fp;
}

uint64_t hm_locked_bytes(void)
{
	return atomic_load_explicit(&hm_cnt.locked_pages, memory_order_relaxed) << HM_PAGE_SHIFT;
}

void hm_lock_free(struct hm_region *r)
{
	pthread_mutex_lock(&lck_lock);
	atomic_fetch_sub(&hm_cnt.locked_pages, pages_of(r->lck, r->nlck));
	free(r->lck);
	r->lck = NULL;
	r->nlck = 0;
	pthread_mutex_unlock(&lck_lock);
}

bool hm_lock_internal(uintptr_t a)
{
	uintptr_t sb = __atomic_load_n(&hm_g.staging_base, __ATOMIC_RELAXED);
	size_t ss = __atomic_load_n(&hm_g.staging_size, __ATOMIC_RELAXED);
	if (sb && a >= sb && a < sb + ss)
		return true;
	if (hm_track_in_hold(a))
		return true;
	for (int i = 1; i < HM_MAX_TIERS; i++) {
		struct hm_tier *t = hm_tier_get(i);
		if (t && t->window && a >= (uintptr_t)t->window && a < (uintptr_t)t->window + t->window_len)
			return true;
	}
	return false;
}
