/*
 * advise.c — placement advice (hm_advise): ranges of an allocation that the
 * reclaimer must never demote (HOT) or must demote before anything else
 * (COLD), like mlock() and madvise(MADV_COLD) for the device tier.
 *
 * Each region keeps a sorted array of non-overlapping page ranges
 * [first, last) with an advice other than NORMAL.  A call builds the new
 * array of every region it touches before it installs any (so a failure
 * changes nothing), then swaps them in under one lock.  The reclaimer copies
 * a region's array under that lock at the start of its walk over the region
 * and reads it with a cursor that moves forward with the folio index
 * (hm_adv_next), so a scan costs one comparison per folio.  Advice is rare
 * and small (at most MAX_RANGES per region): one global lock is enough.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_RANGES 1024
#define MAX_SPAN 64 /* regions one call may cover */

static pthread_mutex_t adv_lock = PTHREAD_MUTEX_INITIALIZER;

/* The array @old with [a, b) set to @advice (NORMAL: removed), merged with
 * equal neighbours (also lock.c's locked ranges).  Returns the new array (NULL when it is empty) in *out
 * and its length, or -ENOMEM / -ENOSPC. */
int hm_adv_build(const struct hm_adv_range *old, size_t n, size_t a, size_t b, int advice,
		     struct hm_adv_range **out, size_t *nout)
{
	struct hm_adv_range *v = malloc((n + 2) * sizeof(*v));
	size_t k = 0;
	bool placed = advice == HM_ADVISE_NORMAL;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i <= n; i++) {
		if (!placed && (i == n || old[i].first >= a)) {
			v[k++] = (struct hm_adv_range){a, b, advice};
			placed = true;
		}
		if (i == n)
			break;
		struct hm_adv_range x = old[i];
		if (x.last <= a || x.first >= b) { /* untouched */
			v[k++] = x;
			continue;
		}
		if (x.first < a) /* the part before */
			v[k++] = (struct hm_adv_range){x.first, a, x.advice};
		if (x.last > b) { /* the part after: keep order */
			if (!placed) {
				v[k++] = (struct hm_adv_range){a, b, advice};
				placed = true;
			}
			v[k++] = (struct hm_adv_range){b, x.last, x.advice};
		}
	}
	/* the entry before may have been emitted after the new one: sort */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && v[j].first < v[j - 1].first; j--) {
			struct hm_adv_range t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	size_t m = 0;
	for (size_t i = 0; i < k; i++) {
		if (m && v[m - 1].last == v[i].first && v[m - 1].advice == v[i].advice)
			v[m - 1].last = v[i].last;
		else
			v[m++] = v[i];
	}
	if (m > MAX_RANGES) {
		free(v);
		return -ENOSPC;
	}
	if (!m) {
		free(v);
		v = NULL;
	}
	*out = v;
	*nout = m;
	return 0;
}

HM_API int hm_advise(void *addr, size_t len, int advice)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_advise: hetmem is not initialised");
	if (advice != HM_ADVISE_NORMAL && advice != HM_ADVISE_HOT && advice != HM_ADVISE_COLD)
		return hm_error(EINVAL, "hm_advise: unknown advice %d (HM_ADVISE_NORMAL, _HOT or _COLD)", advice);
	if (!len || ((uintptr_t)addr | len) & (HM_PAGE_SIZE - 1))
		return hm_error(EINVAL, "hm_advise: [%p, +%zu) is empty or not 4 KiB aligned", addr, len);
	struct hm_region *rs[MAX_SPAN];
	int n = hm_regions_get_range((uintptr_t)addr, len, rs, MAX_SPAN);
	if (n < 0)
		return hm_error(EINVAL, "hm_advise: [%p, +%zu) is not all managed memory", addr, len);
	struct hm_adv_range *nv[MAX_SPAN] = {0};
	size_t nn[MAX_SPAN] = {0};
	uintptr_t a = (uintptr_t)addr, end = a + len;
	int rc = 0;
	pthread_mutex_lock(&adv_lock);
	for (int j = 0; j < n && !rc; j++) {
		struct hm_region *r = rs[j];
		uintptr_t lo = a > r->base ? a : r->base;
		uintptr_t hi = end < r->base + r->size ? end : r->base + r->size;
		rc = hm_adv_build(r->adv, r->nadv, (lo - r->base) >> HM_PAGE_SHIFT, (hi - r->base) >> HM_PAGE_SHIFT,
			       advice, &nv[j], &nn[j]);
		if (rc == -ENOSPC)
			hm_error(ENOSPC, "hm_advise: the allocation at %#lx would hold more than %d advice ranges",
				 (unsigned long)r->base, MAX_RANGES);
		else if (rc)
			hm_error(ENOMEM, "hm_advise: out of memory");
	}
	for (int j = 0; j < n; j++) {
		if (rc) {
			free(nv[j]);
			continue;
		}
		free(rs[j]->adv);
		rs[j]->adv = nv[j];
		rs[j]->nadv = nn[j];
	}
	pthread_mutex_unlock(&adv_lock);
	for (int j = 0; j < n; j++)
		hm_region_put(rs[j]);
	return rc;
}

HM_API int hm_advice_at(const void *addr)
{
	struct hm_region *r = hm_region_get((uintptr_t)addr);
	if (!r)
		return hm_error(EINVAL, "hm_advice_at: %p is not managed memory", addr);
	size_t fp = region_folio_pages(r);
	size_t head = (((uintptr_t)addr - r->base) >> HM_PAGE_SHIFT) & ~(fp - 1);
	struct hm_adv_cursor c = {0};
	pthread_mutex_lock(&adv_lock);
	c.r = r->adv;
	c.n = r->nadv;
	int adv = hm_adv_next(&c, head);
	pthread_mutex_unlock(&adv_lock);
	hm_region_put(r);
	return adv;
}

void hm_adv_begin(struct hm_region *r, struct hm_adv_cursor *c)
{
	c->r = NULL;
	c->n = c->i = 0;
	pthread_mutex_lock(&adv_lock);
	if (r->nadv && (c->r = malloc(r->nadv * sizeof(*c->r)))) {
		memcpy(c->r, r->adv, r->nadv * sizeof(*c->r));
		c->n = r->nadv;
	}
	pthread_mutex_unlock(&adv_lock);
}

void hm_adv_end(struct hm_adv_cursor *c)
{
	free(c->r);
	c->r = NULL;
	c->n = 0;
}

void hm_adv_free(struct hm_region *r)
{
	pthread_mutex_lock(&adv_lock);
	free(r->adv);
	r->adv = NULL;
	r->nadv = 0;
	pthread_mutex_unlock(&adv_lock);
	hm_lock_free(r); /* and its locked ranges (lock.c) */
}
