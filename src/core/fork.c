/*
 * fork.c — hetmem across fork(): before it, every sample is put back and
 * (unless HM_CFG_NO_FORK_HOME) every page on a tier brought home, with
 * movers held off and the region table held still; in the child, pages that
 * could not come home get SIGBUS instead of reading as zeros, and hetmem is
 * off.  The preload library also calls these around process-creating calls
 * that run no atfork handlers (preload_proc.c).  Above every layer it calls
 * (the region table, the fault path's fetch, tracking).
 */
#include "internal.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void region_bring_home(struct hm_region *r)
{
	size_t fp = region_folio_pages(r);
	for (size_t head = 0; head < r->npages; head += fp) {
		bool on_tier = false;
		for (size_t k = head; k < head + fp && !on_tier; k++)
			on_tier = pw_loc(atomic_load(&r->words[k])) == HM_LOC_TIER;
		if (!on_tier)
			continue;
		hm_folio_lock(r, head);
		uint64_t before = atomic_load(&hm_cnt.pages_promoted);
		hm_folio_fetch(r, head, true);
		HM_COUNT(fork_homes, atomic_load(&hm_cnt.pages_promoted) - before);
		hm_folio_unlock(r, head);
	}
}

static void fork_bring_home(void)
{
	/* bring every page on a device home; movers are held off by fork_lock */
	size_t n;
	struct hm_region **rs = hm_regions_snapshot(&n);
	if (!rs) {
		/* no memory for a snapshot: walk the table under its lock */
		pthread_rwlock_rdlock(&hm_g.regions_lock);
		for (size_t i = 0; i < hm_g.nregions; i++)
			region_bring_home(hm_g.regions[i]);
		pthread_rwlock_unlock(&hm_g.regions_lock);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		region_bring_home(rs[i]);
		hm_region_put(rs[i]);
	}
	free(rs);
}

/* The fork handlers run on the program's thread, and what they allocate
 * (hm_regions_snapshot's array, track.c's lists) must be glibc's, as in any
 * hetmem code: the program's malloc is mimalloc behind the mmap interposer,
 * and a fresh mimalloc segment mapped while fork_bring_home holds the region
 * table's read lock would wait for its write lock (table_insert) for ever (a
 * program whose first act is fork: /usr/bin/time).  The thread's flag is
 * kept across fork() here and restored in both processes; one fork at a time
 * holds fork_lock for writing, so one saved value suffices. */
static bool fork_saved_internal;

void hm_fork_prepare(void)
{
	if (!atomic_load(&hm_g.initialised))
		return;
	bool was = hm_tls_internal;
	hm_tls_internal = true;
	pthread_rwlock_wrlock(&hm_g.fork_lock);
	fork_saved_internal = was;
	/* samples (track.c) are absent pages: the child would read zeros */
	hm_track_restore_all();
	if (!(hm_g.cfg_flags & HM_CFG_NO_FORK_HOME))
		fork_bring_home();
	/* held across fork(): the child walks a consistent region table */
	pthread_rwlock_rdlock(&hm_g.regions_lock);
}

void hm_fork_parent(void)
{
	if (!atomic_load(&hm_g.initialised))
		return;
	pthread_rwlock_unlock(&hm_g.regions_lock);
	bool was = fork_saved_internal;
	pthread_rwlock_unlock(&hm_g.fork_lock);
	hm_tls_internal = was;
}

/* In the child, pages still on a device (HM_CFG_NO_FORK_HOME, or a failed
 * fetch) or poisoned are absent and nothing serves their faults: instead of
 * reading as zeros they get SIGBUS, from an empty file mapped over them. */
static bool child_lost(uint64_t w)
{
	/* on a tier, poisoned, or out for a sample that could not be put back */
	return pw_loc(w) == HM_LOC_TIER || pw_loc(w) == HM_LOC_POISON || (w & PW_SAMPLED);
}

static void fork_child_fence(void)
{
	int fd = -1;
	for (size_t k = 0; k < hm_g.nregions; k++) {
		struct hm_region *r = hm_g.regions[k];
		for (size_t i = 0; i < r->npages;) {
			size_t j = i + 1;
			if (!child_lost(atomic_load(&r->words[i]))) {
				i = j;
				continue;
			}
			while (j < r->npages && child_lost(atomic_load(&r->words[j])))
				j++;
			if (fd < 0)
				fd = memfd_create("hetmem-lost", MFD_CLOEXEC);
			if (fd >= 0)
				hm_sys_mmap((void *)(r->base + (i << HM_PAGE_SHIFT)), (j - i) << HM_PAGE_SHIFT,
				     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
			i = j;
		}
	}
	if (fd >= 0)
		close(fd);
}

void hm_fork_child(void)
{
	if (!atomic_load(&hm_g.initialised))
		return;
	fork_child_fence();
	pthread_rwlock_unlock(&hm_g.regions_lock);
	/* The child has no handler thread and no registration: its managed
	 * memory is ordinary memory.  hetmem is off here. */
	hm_g.in_child = true;
	atomic_store(&hm_g.initialised, false);
	hm_tls_internal = fork_saved_internal;
}

void hm_fork_install(void)
{
	static _Atomic bool done;
	if (!atomic_exchange(&done, true))
		pthread_atfork(hm_fork_prepare, hm_fork_parent, hm_fork_child);
}

