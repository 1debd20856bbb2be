/*
 * space.h — regions (space.c): the region table, the folio lock, fork.
 */
#ifndef HM_SPACE_H
#define HM_SPACE_H

#include "common.h"
#include "space/pageword.h"

/* ------------------------------------------------------------------------
 * Regions: one per hm_alloc().
 * Invariants: base and size are multiples of the folio size; words has
 * size/4096 entries; a region in the table has refs >= 1 (the table's own);
 * once dying is set no new user takes a reference, and the memory is unmapped
 * only when refs drops to 0.
 * ---------------------------------------------------------------------- */
struct hm_region {
	uintptr_t base;
	size_t size;
	unsigned folio_shift;     /* 12, 16 or 21 */
	size_t npages;
	hm_pw_t *words;
	_Atomic long refs;
	_Atomic bool dying;
	_Atomic uintptr_t last_fault; /* folio index of the last fault + 1 */
	_Atomic unsigned ra_window;   /* current readahead window (folios) */
	uint64_t born;                /* hm_g.event_seq when created */
	_Atomic long dev_writers;     /* device writes in place in flight
				       * (device.c): WP demotion backs off */
	_Atomic uint64_t *pstate;     /* one struct hm_pstate per folio (policy.c) */
	_Atomic uint16_t *heat;       /* per 2 MiB block: hint-sample hit ratio (policy.c) */
	_Atomic uint32_t *bfetch;     /* per 2 MiB block: fetches in the current
				       * promotion window (policy.c: block promotion) */
	struct hm_adv_range *adv;     /* placement advice, sorted (advise.c) */
	size_t nadv;
	struct hm_adv_range *lck;     /* locked pages (mlock), sorted (lock.c) */
	size_t nlck;
};

static inline size_t region_folio_pages(const struct hm_region *r)
{
	return (size_t)1 << (r->folio_shift - HM_PAGE_SHIFT);
}

/* ------------------------------------------------------------------------
 * space.c: regions.
 * ---------------------------------------------------------------------- */
/* The region containing @addr with a reference taken, or NULL. */
HM_HIDDEN struct hm_region *hm_region_get(uintptr_t addr);
HM_HIDDEN void hm_region_put(struct hm_region *r);
/* Same, but also finds regions being freed (the fault handler serves them
 * until they are unmapped). */
HM_HIDDEN struct hm_region *hm_region_get_any(uintptr_t addr);
/* Take references on every region covering [addr, addr+len) in order.
 * Returns the count (<= max) or -EINVAL if a gap is not managed. */
HM_HIDDEN struct hm_region *hm_region_overlap(uintptr_t addr, uintptr_t end);
HM_HIDDEN void *hm_region_alloc(size_t size, size_t folio_size, void *hint, size_t align, const char *fn);
HM_HIDDEN int hm_regions_get_range(uintptr_t addr, size_t len, struct hm_region **out, int max);
HM_HIDDEN void hm_regions_shutdown(void);
/* Every region in the table, each with a reference taken (malloc'd array,
 * *n entries), or NULL (*n = 0) when out of memory. */
HM_HIDDEN struct hm_region **hm_regions_snapshot(size_t *n);
HM_HIDDEN void hm_region_event_remap(uintptr_t from, uintptr_t to, size_t len);
HM_HIDDEN void hm_region_event_remove(uintptr_t start, uintptr_t end, bool unmap, uint64_t seq);
HM_HIDDEN void hm_fork_install(void);
/* The fork handlers hm_fork_install registers, also called by the preload
 * library around the process-creating calls that run no atfork handlers
 * (glibc's clone without CLONE_VM, _Fork: preload_proc.c). */
HM_HIDDEN void hm_fork_prepare(void);
HM_HIDDEN void hm_fork_parent(void);
HM_HIDDEN void hm_fork_child(void);

/* Folio lock on the head word of folio @f (first page index).  trylock
 * returns the word seen before locking, or sets *busy. */
HM_HIDDEN bool hm_folio_trylock(struct hm_region *r, size_t head, uint64_t *old);
HM_HIDDEN void hm_folio_lock(struct hm_region *r, size_t head);
/* Unlock; wakes parked faults on the folio if any. */
HM_HIDDEN void hm_folio_unlock(struct hm_region *r, size_t head);


/* Address-space changes, told to the subsystems above the region layer that
 * keep state per region or per page (tracking, placement, devices), as the
 * kernel's mmu_notifier tells drivers: each registers one client at
 * start-up (hm_init); the region layer calls every client's hook, in the
 * order they were added.  Any hook may be NULL. */
struct hm_space_client {
	const char *name;
	/* region @r is being created: set up its state; 0, or -ENOMEM (the
	 * region is not created; the clients before are undone) */
	int (*region_new)(struct hm_region *r);
	/* the bytes of state region_new gave @r (counted as metadata) */
	size_t (*region_meta)(const struct hm_region *r);
	/* @r's memory is gone: drop every state of it */
	void (*region_free)(struct hm_region *r);
	/* pages [first, first+n) of @r were discarded or unmapped */
	void (*pages_gone)(struct hm_region *r, size_t first, size_t n);
	/* addresses [start, start+len) left the managed space (hm_free, munmap,
	 * the source of an mremap) */
	void (*range_gone)(uintptr_t start, size_t len);
	/* a partial mremap moved pages [first, first+n) of @from into @to (at 0) */
	void (*remap)(struct hm_region *from, size_t first, size_t n, struct hm_region *to);
};
/* Add @c (once; at most 8 clients). */
HM_HIDDEN void hm_space_client_add(const struct hm_space_client *c);

/* True if a page of folio @head of @r is out for a sample. */
static inline bool hm_folio_sampled(struct hm_region *r, size_t head)
{
	size_t fp = region_folio_pages(r);
	for (size_t i = head; i < head + fp; i++)
		if (atomic_load_explicit(&r->words[i], memory_order_relaxed) & PW_SAMPLED)
			return true;
	return false;
}

#endif
