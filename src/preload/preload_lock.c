/*
 * preload_lock.c — the preload library's mlock, mlock2, munlock, mlockall
 * and munlockall (see lock.c for what hetmem does with locked memory).
 *
 *  - mlock / mlock2: the kernel's with MLOCK_ONFAULT first (it checks the
 *    limits and marks the range locked without touching a page, so a
 *    refusal changes nothing); then the managed parts are marked locked
 *    (the reclaimer stops choosing them), their pages on a tier brought
 *    home, and, unless the program asked MLOCK_ONFAULT, the kernel's mlock
 *    again populates the rest: its faults reach the handler, which holds
 *    none while a populate is in flight.
 *  - munlock: the kernel's, then the managed parts unmarked (they may be
 *    demoted again).
 *  - mlockall: the kernel's with MCL_ONFAULT (no page touched); hetmem's own
 *    mappings (staging, the tracker's hold area, a tier's window) are
 *    unlocked again at once, since locking them would fill them or stop
 *    demotions; every region is marked locked and its pages brought home;
 *    without MCL_ONFAULT each of the program's mappings is then populated
 *    by mlock.  MCL_FUTURE: regions mapped later are marked locked
 *    (preload.c's mmap); the kernel locks them on fault (MCL_ONFAULT is
 *    always given to it: a mapping populated before hetmem registers it
 *    would be RAM that hetmem does not see).
 *  - munlockall: the kernel's; every region unmarked.
 * In a forked child, and in hetmem's own threads, they are the kernel's.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

HM_HIDDEN bool hm_preload_on(void); /* preload.c: hetmem is on, not in its own code */

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

static int sys_mlock2(uintptr_t a, size_t len, unsigned flags)
{
	return (int)syscall(SYS_mlock2, a, len, flags);
}

static int sys_mlockall(int flags)
{
	return (int)syscall(SYS_mlockall, flags);
}

/* The page-aligned span of [addr, addr+len), as the kernel rounds it. */
static void span(const void *addr, size_t len, uintptr_t *a, size_t *n)
{
	uintptr_t s = (uintptr_t)addr & ~(uintptr_t)(HM_PAGE_SIZE - 1);
	uintptr_t e = ((uintptr_t)addr + len + HM_PAGE_SIZE - 1) & ~(uintptr_t)(HM_PAGE_SIZE - 1);
	*a = s;
	*n = e > s ? e - s : 0;
}

/* Populate [a, a+n) with the kernel's mlock (locked already, on fault). */
static int populate(uintptr_t a, size_t n)
{
	atomic_fetch_add(&hm_lock_populating, 1);
	int rc = sys_mlock2(a, n, 0);
	atomic_fetch_sub(&hm_lock_populating, 1);
	return rc;
}

EXPORT int mlock2(const void *addr, size_t len, unsigned int flags)
{
	if (!hm_preload_on() || (flags & ~MLOCK_ONFAULT))
		return sys_mlock2((uintptr_t)addr, len, flags);
	if (sys_mlock2((uintptr_t)addr, len, MLOCK_ONFAULT))
		return -1;
	uintptr_t a;
	size_t n;
	span(addr, len, &a, &n);
	int rc = 0;
	hm_tls_internal = true;
	hm_lock_range(a, n, true);
	if (!(flags & MLOCK_ONFAULT)) {
		hm_lock_home(a, n);
		rc = populate(a, n);
	}
	hm_tls_internal = false;
	return rc;
}

EXPORT int mlock(const void *addr, size_t len)
{
	return mlock2(addr, len, 0);
}

EXPORT int munlock(const void *addr, size_t len)
{
	int rc = (int)syscall(SYS_munlock, addr, len);
	if (rc || !hm_preload_on())
		return rc;
	uintptr_t a;
	size_t n;
	span(addr, len, &a, &n);
	hm_tls_internal = true;
	hm_lock_range(a, n, false);
	hm_reclaim_changed();
	hm_tls_internal = false;
	return 0;
}

/* Each mapping of /proc/self/maps not hetmem's own: @fn(start, len). */
static void each_mapping(bool own, int (*fn)(uintptr_t, size_t))
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	char line[512];
	unsigned long s, e;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &s, &e) != 2 || e <= s)
			continue;
		if (s >= 0x800000000000ul) /* [vsyscall] */
			continue;
		if (hm_lock_internal(s) == own)
			fn(s, e - s);
	}
	fclose(f);
}

static int unlock_own(uintptr_t a, size_t n)
{
	return (int)syscall(SYS_munlock, a, n);
}

EXPORT int mlockall(int flags)
{
	if (!hm_preload_on() || (flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) || !(flags & (MCL_CURRENT | MCL_FUTURE)))
		return sys_mlockall(flags);
	if (sys_mlockall(flags | MCL_ONFAULT))
		return -1;
	hm_tls_internal = true;
	atomic_store(&hm_lock_future, (flags & MCL_FUTURE) != 0);
	if (flags & MCL_CURRENT) {
		each_mapping(true, unlock_own);
		hm_lock_all(true);
		if (!(flags & MCL_ONFAULT)) {
			size_t nr;
			struct hm_region **rs = hm_regions_snapshot(&nr);
			for (size_t i = 0; i < nr; i++) {
				hm_lock_home(rs[i]->base, rs[i]->size);
				hm_region_put(rs[i]);
			}
			free(rs);
			each_mapping(false, populate);
		}
	}
	hm_tls_internal = false;
	return 0;
}

EXPORT int munlockall(void)
{
	int rc = (int)syscall(SYS_munlockall);
	if (rc || !hm_preload_on())
		return rc;
	hm_tls_internal = true;
	atomic_store(&hm_lock_future, false);
	hm_lock_all(false);
	hm_reclaim_changed();
	hm_tls_internal = false;
	return 0;
}
