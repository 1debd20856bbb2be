/*
 * space.c — managed ranges: allocation, the region table, folio locks,
 * protection, placement queries and address-space events, told to the
 * layers above through their clients (struct hm_space_client).
 *
 * A region is one hm_alloc(): an anonymous private MAP_NORESERVE mapping,
 * aligned to its folio size and registered with the userfaultfd, plus one
 * 64-bit page-table word per 4 KiB page (space/pageword.h has the layout).  The
 * table of regions is a sorted array under a rwlock; users take a reference
 * on a region so hm_free() can wait for device accesses and migrations in
 * flight instead of pulling the memory from under them.
 *
 * Folio locks are the MOVING bit of the folio's head word, taken with a CAS.
 * A fault on a locked folio is parked (WAITERS) and woken at unlock; events
 * (madvise/munmap by the program) on a locked folio are recorded as PENDING
 * bits on the page words and applied by whoever unlocks.
 *
 * fork() is handled above this layer, in core/fork.c.
 */
#include "internal.h"
#include "os/uffd_compat.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* Clients: the subsystems above told of address-space changes              */
/* ---------------------------------------------------------------------- */

#define MAX_CLIENTS 8
static const struct hm_space_client *clients[MAX_CLIENTS];
static _Atomic unsigned nclients;

void hm_space_client_add(const struct hm_space_client *c)
{
	unsigned n = atomic_load(&nclients);
	for (unsigned i = 0; i < n; i++)
		if (clients[i] == c)
			return; /* once, however often hetmem is started */
	HM_ASSERT(n < MAX_CLIENTS);
	if (n < MAX_CLIENTS) {
		clients[n] = c;
		atomic_store(&nclients, n + 1);
	}
}

#define EACH_CLIENT(hook, ...)                                                    \
	do {                                                                      \
		unsigned n_ = atomic_load_explicit(&nclients, memory_order_acquire); \
		for (unsigned i_ = 0; i_ < n_; i_++)                              \
			if (clients[i_]->hook)                                    \
				clients[i_]->hook(__VA_ARGS__);                   \
	} while (0)

static void pages_gone(struct hm_region *r, size_t first, size_t n)
{
	EACH_CLIENT(pages_gone, r, first, n);
}

static void range_gone(uintptr_t start, size_t len)
{
	EACH_CLIENT(range_gone, start, len);
}

/* ---------------------------------------------------------------------- */
/* Folio locks                                                              */
/* ---------------------------------------------------------------------- */

bool hm_folio_trylock(struct hm_region *r, size_t head, uint64_t *oldp)
{
	hm_pw_t *p = &r->words[head];
	uint64_t old = atomic_load(p);
	while (!(old & PW_MOVING)) {
		if (atomic_compare_exchange_weak(p, &old, old | PW_MOVING)) {
			if (oldp)
				*oldp = old;
			return true;
		}
	}
	return false;
}

static void backoff(unsigned *spins)
{
	if (++*spins < 64) {
		sched_yield();
	} else {
		struct timespec ts = {0, 50 * 1000};
		nanosleep(&ts, NULL);
	}
}

void hm_folio_lock(struct hm_region *r, size_t head)
{
	unsigned spins = 0;
	while (!hm_folio_trylock(r, head, NULL))
		backoff(&spins);
}

/* Apply DISCARD/GONE bits left by events; caller holds the folio lock. */
static bool apply_pending(struct hm_region *r, size_t head)
{
	size_t n = region_folio_pages(r);
	bool any = false;
	for (size_t i = head; i < head + n; i++) {
		uint64_t w = atomic_load(&r->words[i]);
		if (!(w & PW_PENDING))
			continue;
		any = true;
		if (w & PW_SAMPLED) /* out for a sample: its held copy goes */
			pages_gone(r, i, 1);
		if (pw_loc(w) == HM_LOC_TIER) {
			struct hm_tier *t = hm_tier_get(pw_tier(w));
			if (t)
				hm_tier_free(t, pw_slot(w), 1);
		}
		if (pw_loc(w) == HM_LOC_HOST)
			HM_COUNT(resident_pages, -1);
		else if (pw_loc(w) == HM_LOC_MAPPED)
			hm_coherent_left(w, false);
		unsigned loc = (w & PW_GONE) ? HM_LOC_UNMAPPED : HM_LOC_NONE;
		if (pw_loc(w) == HM_LOC_UNMAPPED)
			loc = HM_LOC_UNMAPPED;
		pw_set(&r->words[i], loc, 0, 0);
		atomic_fetch_and(&r->words[i], ~PW_PENDING);
	}
	return any;
}

void hm_folio_unlock(struct hm_region *r, size_t head)
{
	hm_pw_t *p = &r->words[head];
	uint64_t old = atomic_fetch_and(p, ~(PW_MOVING | PW_WAITERS));
	HM_ASSERT(old & PW_MOVING);
	if (old & PW_WAITERS)
		hm_prim_uffd_wake(hm_g.uffd, r->base + (head << HM_PAGE_SHIFT), (size_t)1 << r->folio_shift);
	/* events that arrived while we held the lock (rare): apply them now */
	size_t n = region_folio_pages(r);
	for (size_t i = head; i < head + n; i++) {
		if (atomic_load(&r->words[i]) & PW_PENDING) {
			if (hm_folio_trylock(r, head, NULL)) {
				apply_pending(r, head);
				hm_folio_unlock(r, head);
			}
			break;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* The region table                                                         */
/* ---------------------------------------------------------------------- */

static size_t region_meta(const struct hm_region *r)
{
	size_t b = sizeof(*r) + r->npages * sizeof(hm_pw_t);
	unsigned n = atomic_load_explicit(&nclients, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		if (clients[i]->region_meta)
			b += clients[i]->region_meta(r);
	return b;
}

static void region_free(struct hm_region *r)
{
	pages_gone(r, 0, r->npages); /* no sample may outlive its region */
	HM_COUNT(metadata_bytes, -(uint64_t)region_meta(r));
	EACH_CLIENT(region_free, r);
	free(r->words);
	free(r);
}

void hm_region_put(struct hm_region *r)
{
	if (atomic_fetch_sub(&r->refs, 1) == 1)
		region_free(r);
}

/* index of the last region with base <= addr, or -1; caller holds the lock */
static long table_find(uintptr_t addr)
{
	long lo = 0, hi = (long)hm_g.nregions - 1, ans = -1;
	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		if (hm_g.regions[mid]->base <= addr) {
			ans = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return ans;
}

static struct hm_region *region_find(uintptr_t addr, bool allow_dying)
{
	struct hm_region *r = NULL;
	pthread_rwlock_rdlock(&hm_g.regions_lock);
	long i = table_find(addr);
	if (i >= 0) {
		struct hm_region *c = hm_g.regions[i];
		if (addr < c->base + c->size && (allow_dying || !atomic_load(&c->dying))) {
			atomic_fetch_add(&c->refs, 1);
			r = c;
		}
	}
	pthread_rwlock_unlock(&hm_g.regions_lock);
	return r;
}

struct hm_region *hm_region_get(uintptr_t addr)
{
	return region_find(addr, false);
}

/* For the fault handler: dying regions are still served until unmapped. */
struct hm_region *hm_region_get_any(uintptr_t addr)
{
	return region_find(addr, true);
}

struct hm_region **hm_regions_snapshot(size_t *n)
{
	pthread_rwlock_rdlock(&hm_g.regions_lock);
	*n = hm_g.nregions;
	struct hm_region **rs = malloc((*n ? *n : 1) * sizeof(*rs));
	for (size_t i = 0; rs && i < *n; i++) {
		rs[i] = hm_g.regions[i];
		atomic_fetch_add(&rs[i]->refs, 1);
	}
	pthread_rwlock_unlock(&hm_g.regions_lock);
	if (!rs)
		*n = 0;
	return rs;
}

/* The lowest live region that overlaps [addr, end), referenced, or NULL. */
struct hm_region *hm_region_overlap(uintptr_t addr, uintptr_t end)
{
	struct hm_region *r = NULL;
	pthread_rwlock_rdlock(&hm_g.regions_lock);
	long i = table_find(addr);
	if (i < 0 || hm_g.regions[i]->base + hm_g.regions[i]->size <= addr)
		i++;
	for (; (size_t)i < hm_g.nregions && hm_g.regions[i]->base < end; i++) {
		struct hm_region *c = hm_g.regions[i];
		if (!atomic_load(&c->dying)) {
			atomic_fetch_add(&c->refs, 1);
			r = c;
			break;
		}
	}
	pthread_rwlock_unlock(&hm_g.regions_lock);
	return r;
}

int hm_regions_get_range(uintptr_t addr, size_t len, struct hm_region **out, int max)
{
	int n = 0;
	uintptr_t a = addr, end = addr + len;
	if (end < addr)
		return -EINVAL; /* wraps around the address space */
	while (a < end) {
		if (n == max)
			goto err;
		struct hm_region *r = hm_region_get(a);
		if (!r)
			goto err;
		out[n++] = r;
		a = r->base + r->size;
	}
	return n;
err:
	while (n)
		hm_region_put(out[--n]);
	return -EINVAL;
}

static int table_insert(struct hm_region *r)
{
	pthread_rwlock_wrlock(&hm_g.regions_lock);
	if (hm_g.nregions == hm_g.cap_regions) {
		size_t cap = hm_g.cap_regions ? hm_g.cap_regions * 2 : 64;
		struct hm_region **n = realloc(hm_g.regions, cap * sizeof(*n));
		if (!n) {
			pthread_rwlock_unlock(&hm_g.regions_lock);
			return -ENOMEM;
		}
		hm_g.regions = n;
		hm_g.cap_regions = cap;
	}
	long i = table_find(r->base) + 1;
	memmove(&hm_g.regions[i + 1], &hm_g.regions[i], (hm_g.nregions - (size_t)i) * sizeof(r));
	hm_g.regions[i] = r;
	hm_g.nregions++;
	pthread_rwlock_unlock(&hm_g.regions_lock);
	return 0;
}

/* Remove @r from the table (drops the table's reference). */
static void table_remove(struct hm_region *r)
{
	bool found = false;
	pthread_rwlock_wrlock(&hm_g.regions_lock);
	for (size_t i = 0; i < hm_g.nregions; i++) {
		if (hm_g.regions[i] == r) {
			memmove(&hm_g.regions[i], &hm_g.regions[i + 1], (hm_g.nregions - i - 1) * sizeof(r));
			hm_g.nregions--;
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&hm_g.regions_lock);
	if (found) {
		HM_COUNT(regions, -1);
		HM_COUNT(managed_bytes, -(uint64_t)r->size);
		hm_region_put(r);
	}
}

/* ---------------------------------------------------------------------- */
/* Allocation                                                               */
/* ---------------------------------------------------------------------- */

static struct hm_region *region_new(uintptr_t base, size_t size, unsigned folio_shift)
{
	struct hm_region *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->base = base;
	r->size = size;
	r->folio_shift = folio_shift;
	r->npages = size >> HM_PAGE_SHIFT;
	r->words = calloc(r->npages, sizeof(hm_pw_t));
	if (!r->words) {
		free(r);
		return NULL;
	}
	unsigned n = atomic_load_explicit(&nclients, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		if (clients[i]->region_new && clients[i]->region_new(r)) {
			while (i-- > 0)
				if (clients[i]->region_free)
					clients[i]->region_free(r);
			free(r->words);
			free(r);
			return NULL;
		}
	}
	atomic_init(&r->refs, 1);
	atomic_init(&r->ra_window, 1);
	HM_COUNT(metadata_bytes, region_meta(r));
	r->born = atomic_load(&hm_g.event_seq);
	return r;
}

static int folio_shift_of(size_t folio_size)
{
	switch (folio_size) {
	case HM_FOLIO_4K: return 12;
	case HM_FOLIO_64K: return 16;
	case HM_FOLIO_2M: return 21;
	default: return -1;
	}
}

/*
 * Map, register and enter in the table a region of @size bytes (rounded up
 * to @folio_size) aligned to @align (a power of two, at least the folio),
 * placed at @hint if that address range is free (mmap's hint, never
 * MAP_FIXED).  hm_alloc() and the preload library's mmap() use it.  Returns
 * the base, or NULL with errno set and hm_last_error() naming @fn.
 */
void *hm_region_alloc(size_t size, size_t folio_size, void *hint, size_t align, const char *fn)
{
	int rc;
	if (!atomic_load(&hm_g.initialised)) {
		errno = -hm_error(ENODEV, "%s: hetmem is not initialised", fn);
		return NULL;
	}
	int shift = folio_shift_of(folio_size);
	if (shift < 0) {
		errno = -hm_error(EINVAL, "%s: folio size %zu is not 4K, 64K or 2M", fn, folio_size);
		return NULL;
	}
	if (size == 0) {
		errno = -hm_error(EINVAL, "%s: size is zero", fn);
		return NULL;
	}
	if (size > ((size_t)1 << 47)) {
		errno = -hm_error(E2BIG, "%s: size %zu is larger than 128 TiB", fn, size);
		return NULL;
	}
	if (align < folio_size)
		align = folio_size;
	size = (size + folio_size - 1) & ~(folio_size - 1);
	size_t span = size + (align > HM_PAGE_SIZE ? align : 0);
	int err = 0;
	char *p = MAP_FAILED;
	if (hint && !((uintptr_t)hint & (align - 1))) {
		/* an aligned hint: exactly there if that range is free.  The
		 * padded span below needs @align more than the caller asked for,
		 * which a caller that places its mappings back to back (mimalloc
		 * hints each 32 MiB segment right after the last) never has: the
		 * kernel then put it anywhere, above the 40 TiB mimalloc's
		 * segment map covers, and free() sent its blocks to glibc */
		p = hm_prim_mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				 -1, 0, &err);
		if (p != MAP_FAILED && p != (char *)hint) {
			hm_sys_munmap(p, size);
			p = MAP_FAILED;
		}
		if (p != MAP_FAILED)
			span = size;
	}
	if (p == MAP_FAILED)
		p = hm_prim_mmap(hint, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
				 0, &err);
	if (p == MAP_FAILED) {
		errno = -hm_error(err, "%s: cannot map %zu bytes of address space", fn, span);
		return NULL;
	}
	uintptr_t base = ((uintptr_t)p + align - 1) & ~(align - 1);
	if (base > (uintptr_t)p)
		hm_sys_munmap(p, base - (uintptr_t)p);
	if ((uintptr_t)p + span > base + size)
		hm_sys_munmap((void *)(base + size), (uintptr_t)p + span - (base + size));

	hm_numa_bind_range((void *)base, size); /* coherent tiers: containment (numa.c) */
	struct hm_region *r = region_new(base, size, (unsigned)shift);
	if (!r) {
		rc = hm_error(ENOMEM, "%s: no memory for the page table of %zu bytes", fn, size);
		goto err_unmap;
	}
	rc = hm_prim_uffd_register(hm_g.uffd, base, size, hm_g.register_mode);
	if (rc) {
		hm_error(-rc, "%s: cannot register %zu bytes with userfaultfd", fn, size);
		goto err_region;
	}
	if (table_insert(r)) {
		rc = hm_error(ENOMEM, "%s: cannot grow the region table", fn);
		goto err_unregister;
	}
	HM_COUNT(regions, 1);
	HM_COUNT(managed_bytes, size);
	return (void *)base;

err_unregister:
	hm_prim_uffd_unregister(hm_g.uffd, base, size);
err_region:
	region_free(r);
err_unmap:
	hm_sys_munmap((void *)base, size);
	errno = -rc;
	return NULL;
}

HM_API void *hm_alloc(size_t size, size_t folio_size)
{
	return hm_region_alloc(size, folio_size, NULL, folio_size, "hm_alloc");
}

/* Release pages [first, last) of @r: free their slots, mark them UNMAPPED.
 * Waits for each folio's lock. */
static void release_pages(struct hm_region *r, size_t first, size_t last)
{
	size_t fp = region_folio_pages(r);
	for (size_t head = first; head < last; head += fp) {
		hm_folio_lock(r, head);
		if (hm_folio_sampled(r, head))
			pages_gone(r, head, fp);
		for (size_t i = head; i < head + fp; i++) {
			uint64_t w = atomic_load(&r->words[i]);
			if (pw_loc(w) == HM_LOC_TIER) {
				struct hm_tier *t = hm_tier_get(pw_tier(w));
				if (t)
					hm_tier_free(t, pw_slot(w), 1);
			} else if (pw_loc(w) == HM_LOC_HOST) {
				HM_COUNT(resident_pages, -1);
			} else if (pw_loc(w) == HM_LOC_MAPPED) {
				hm_coherent_left(w, false);
			}
			pw_set(&r->words[i], HM_LOC_UNMAPPED, 0, 0);
		}
		hm_folio_unlock(r, head);
	}
}

static void wait_refs(struct hm_region *r, long want)
{
	unsigned spins = 0;
	while (atomic_load(&r->refs) > want)
		backoff(&spins);
}

HM_API int hm_free(void *addr, size_t size)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_free: hetmem is not initialised");
	uintptr_t a = (uintptr_t)addr;
	struct hm_region *r = hm_region_get(a);
	if (!r)
		return hm_error(EINVAL, "hm_free: %p is not managed memory", addr);
	size_t fsz = (size_t)1 << r->folio_shift;
	if (size == 0 || (a == r->base && size >= r->size)) {
		if (a != r->base) {
			hm_region_put(r);
			return hm_error(EINVAL, "hm_free: %p is inside an allocation that starts at %p",
					addr, (void *)r->base);
		}
		if (size > r->size) {
			hm_region_put(r);
			return hm_error(EINVAL, "hm_free: size %zu is larger than the allocation (%zu)", size, r->size);
		}
		bool was = atomic_exchange(&r->dying, true);
		if (was) {
			hm_region_put(r);
			return hm_error(EINVAL, "hm_free: %p is already being freed", addr);
		}
		range_gone(r->base, r->size);
		wait_refs(r, 2); /* the table's and ours */
		release_pages(r, 0, r->npages);
		hm_prim_uffd_unregister(hm_g.uffd, r->base, r->size);
		hm_sys_munmap((void *)r->base, r->size);
		table_remove(r);
		hm_region_put(r);
		return 0;
	}
	if ((a & (fsz - 1)) || (size & (fsz - 1))) {
		hm_region_put(r);
		return hm_error(EINVAL, "hm_free: part [%p, +%zu) is not aligned to the allocation's %zu-byte folios",
				addr, size, fsz);
	}
	if (size > r->base + r->size - a) { /* (a + size could wrap) */
		hm_region_put(r);
		return hm_error(EINVAL, "hm_free: [%p, +%zu) runs past the end of its allocation", addr, size);
	}
	size_t first = (a - r->base) >> HM_PAGE_SHIFT;
	/* a part freed before is not managed memory any more: freeing it again
	 * must not munmap whatever the kernel has put there since */
	for (size_t i = first; i < first + (size >> HM_PAGE_SHIFT); i++) {
		if (pw_loc(atomic_load(&r->words[i])) == HM_LOC_UNMAPPED) {
			hm_region_put(r);
			return hm_error(EINVAL, "hm_free: [%p, +%zu) was already freed or unmapped", addr, size);
		}
	}
	release_pages(r, first, first + (size >> HM_PAGE_SHIFT));
	range_gone(a, size);
	/* unregistered first, so our own munmap sends the handler no event */
	hm_prim_uffd_unregister(hm_g.uffd, a, size);
	/* keep the hole reserved (PROT_NONE, no memory) while the region
	 * lives: a mapping the kernel placed there (a later hm_alloc) would
	 * sit inside this region, hide its pages after the hole from lookups,
	 * and be unmapped by the final hm_free */
	if (hm_sys_mmap(addr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		hm_sys_munmap(addr, size);
	/* a region all of whose pages are gone leaves the table */
	bool all_gone = true;
	for (size_t i = 0; i < r->npages && all_gone; i++)
		all_gone = pw_loc(atomic_load(&r->words[i])) == HM_LOC_UNMAPPED;
	if (all_gone && !atomic_exchange(&r->dying, true)) {
		table_remove(r);
		hm_sys_munmap((void *)r->base, r->size); /* the reserved holes */
	}
	hm_region_put(r);
	return 0;
}

HM_API bool hm_is_managed(const void *addr)
{
	if (!atomic_load(&hm_g.initialised))
		return false;
	struct hm_region *r = hm_region_get((uintptr_t)addr);
	if (!r)
		return false;
	size_t i = ((uintptr_t)addr - r->base) >> HM_PAGE_SHIFT;
	bool ok = pw_loc(atomic_load(&r->words[i])) != HM_LOC_UNMAPPED;
	hm_region_put(r);
	return ok;
}

HM_API size_t hm_folio_size(const void *addr)
{
	if (!atomic_load(&hm_g.initialised))
		return 0;
	struct hm_region *r = hm_region_get((uintptr_t)addr);
	if (!r)
		return 0;
	size_t s = (size_t)1 << r->folio_shift;
	hm_region_put(r);
	return s;
}

/* Check a page range lies in one live region; returns it referenced. */
static int range_region(const void *addr, size_t len, const char *fn, struct hm_region **out)
{
	uintptr_t a = (uintptr_t)addr;
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "%s: hetmem is not initialised", fn);
	if ((a & (HM_PAGE_SIZE - 1)) || (len & (HM_PAGE_SIZE - 1)) || len == 0)
		return hm_error(EINVAL, "%s: [%p, +%zu) is not a non-empty page-aligned range", fn, addr, len);
	struct hm_region *r = hm_region_get(a);
	if (!r)
		return hm_error(EINVAL, "%s: %p is not managed memory", fn, addr);
	if (a + len > r->base + r->size || a + len < a) {
		hm_region_put(r);
		return hm_error(EINVAL, "%s: [%p, +%zu) runs past the end of its allocation", fn, addr, len);
	}
	*out = r;
	return 0;
}

HM_API int hm_protect(void *addr, size_t len, int prot)
{
	struct hm_region *r = NULL;
	if (prot & ~(PROT_READ | PROT_WRITE))
		return hm_error(EINVAL, "hm_protect: prot 0x%x has bits other than PROT_READ|PROT_WRITE", prot);
	if (prot == PROT_WRITE)
		return hm_error(EINVAL, "hm_protect: write-only memory is not supported; use PROT_READ|PROT_WRITE");
	int rc = range_region(addr, len, "hm_protect", &r);
	if (rc)
		return rc;
	/* With async write-protect (write tracking, track.c) a demotion of a
	 * read-only folio relies on it staying read-only: hold the folio
	 * locks while the protection changes (in address order, as movers) */
	size_t fp = region_folio_pages(r);
	size_t lk_first = (((uintptr_t)addr - r->base) >> HM_PAGE_SHIFT) & ~(fp - 1);
	size_t lk_last = ((uintptr_t)addr + len - r->base) >> HM_PAGE_SHIFT;
	bool lk = hm_track_wp_async();
	for (size_t h = lk_first; lk && h < lk_last; h += fp)
		hm_folio_lock(r, h);
	rc = hm_prim_mprotect(addr, len, prot);
	if (rc) {
		for (size_t h = lk_first; lk && h < lk_last; h += fp)
			hm_folio_unlock(r, h);
		hm_region_put(r);
		return hm_error(-rc, "hm_protect: mprotect(%p, %zu) failed", addr, len);
	}
	uint64_t set = 0;
	if (!(prot & PROT_READ))
		set |= PW_NOREAD;
	if (!(prot & PROT_WRITE))
		set |= PW_NOWRITE;
	size_t first = ((uintptr_t)addr - r->base) >> HM_PAGE_SHIFT;
	for (size_t i = first; i < first + (len >> HM_PAGE_SHIFT); i++) {
		atomic_fetch_and(&r->words[i], ~PW_PROT_MASK);
		atomic_fetch_or(&r->words[i], set);
	}
	for (size_t h = lk_first; lk && h < lk_last; h += fp)
		hm_folio_unlock(r, h);
	hm_region_put(r);
	return 0;
}

HM_API int hm_where(const void *addr, size_t len, int *where)
{
	if (!where)
		return hm_error(EINVAL, "hm_where: NULL output");
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_where: hetmem is not initialised");
	if (((uintptr_t)addr & (HM_PAGE_SIZE - 1)) || (len & (HM_PAGE_SIZE - 1)) || len == 0)
		return hm_error(EINVAL, "hm_where: [%p, +%zu) is not a non-empty page-aligned range", addr, len);
	struct hm_region *rs[64];
	int n = hm_regions_get_range((uintptr_t)addr, len, rs, 64);
	if (n < 0)
		return hm_error(EINVAL, "hm_where: [%p, +%zu) is not all managed memory", addr, len);
	uintptr_t a = (uintptr_t)addr, end = a + len;
	size_t k = 0;
	for (int j = 0; j < n; j++) {
		struct hm_region *r = rs[j];
		uintptr_t stop = end < r->base + r->size ? end : r->base + r->size;
		for (; a < stop; a += HM_PAGE_SIZE) {
			uint64_t w = atomic_load(&r->words[(a - r->base) >> HM_PAGE_SHIFT]);
			switch (pw_loc(w)) {
			case HM_LOC_NONE: where[k++] = HM_WHERE_NONE; break;
			case HM_LOC_HOST: where[k++] = 0; break;
			case HM_LOC_TIER:
			case HM_LOC_MAPPED: where[k++] = pw_tier(w); break;
			case HM_LOC_POISON: where[k++] = HM_WHERE_POISON; break;
			default: where[k++] = HM_WHERE_UNMAPPED; break;
			}
		}
		hm_region_put(r);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Address-space events from the program (read by the handler thread)       */
/* ---------------------------------------------------------------------- */

/* madvise(DONTNEED/REMOVE) (unmap=false) or munmap (unmap=true) of
 * [start, end).  Must never block on a folio lock: the lock holder may be
 * waiting for the handler thread. */
void hm_region_event_remove(uintptr_t start, uintptr_t end, bool unmap, uint64_t seq)
{
	uintptr_t a = start & ~(HM_PAGE_SIZE - 1);
	while (a < end) {
		struct hm_region *r = hm_region_get_any(a);
		if (!r) {
			/* skip to the next region, if any */
			pthread_rwlock_rdlock(&hm_g.regions_lock);
			long i = table_find(a);
			uintptr_t next = end;
			if ((size_t)(i + 1) < hm_g.nregions && hm_g.regions[i + 1]->base < end)
				next = hm_g.regions[i + 1]->base;
			pthread_rwlock_unlock(&hm_g.regions_lock);
			a = next;
			continue;
		}
		uintptr_t stop = end < r->base + r->size ? end : r->base + r->size;
		if (r->born >= seq) {
			/* mapped after the event was read: not its target */
			a = stop;
			hm_region_put(r);
			continue;
		}
		size_t fp = region_folio_pages(r);
		if (unmap) /* devices lose their view of it (as after hm_free) */
			range_gone(a, stop - a);
		for (; a < stop; a += HM_PAGE_SIZE) {
			size_t i = (a - r->base) >> HM_PAGE_SHIFT;
			size_t head = i & ~(fp - 1);
			if (!unmap && (atomic_fetch_and(&r->words[i], ~PW_SELFZAP) & PW_SELFZAP))
				continue; /* our own discard during a WP demotion */
			atomic_fetch_or(&r->words[i], unmap ? PW_GONE : PW_DISCARD);
			if (hm_folio_trylock(r, head, NULL)) {
				apply_pending(r, head);
				hm_folio_unlock(r, head);
			} /* else the holder applies it when it unlocks */
		}
		if (unmap) {
			/* a page of a folio locked by a mover is gone too: the GONE
			 * bit is applied at its unlock, and the region must leave
			 * the table now (a new mapping may take the address) */
			bool all_gone = true;
			for (size_t i = 0; i < r->npages && all_gone; i++) {
				uint64_t w = atomic_load(&r->words[i]);
				all_gone = pw_loc(w) == HM_LOC_UNMAPPED || (w & PW_GONE);
			}
			if (all_gone && !atomic_exchange(&r->dying, true))
				table_remove(r);
		}
		hm_region_put(r);
	}
}

/* mremap() moved [from, from+len) to @to.  The moved pages keep their
 * content wherever it lives: a whole region is re-based; a part becomes a
 * region of its own, carrying its page-table words. */
void hm_region_event_remap(uintptr_t from, uintptr_t to, size_t len)
{
	struct hm_region *r = hm_region_get_any(from);
	if (!r)
		return;
	/* a mirror is of addresses, like an mmu interval notifier: the device
	 * loses its view of the old range and must mirror the new one */
	range_gone(from, len);
	if (from == r->base && len >= r->size) {
		pthread_rwlock_wrlock(&hm_g.regions_lock);
		r->base = to;
		/* keep the table sorted */
		for (size_t i = 0; i < hm_g.nregions; i++) {
			if (hm_g.regions[i] != r)
				continue;
			memmove(&hm_g.regions[i], &hm_g.regions[i + 1], (hm_g.nregions - i - 1) * sizeof(r));
			hm_g.nregions--;
			break;
		}
		long j = table_find(to) + 1;
		memmove(&hm_g.regions[j + 1], &hm_g.regions[j], (hm_g.nregions - (size_t)j) * sizeof(r));
		hm_g.regions[j] = r;
		hm_g.nregions++;
		pthread_rwlock_unlock(&hm_g.regions_lock);
		hm_region_put(r);
		return;
	}
	if (from + len > r->base + r->size)
		len = r->base + r->size - from;
	unsigned shift = r->folio_shift;
	while (shift > HM_PAGE_SHIFT && (((to | from | len) & (((size_t)1 << shift) - 1)) ||
					 ((from - r->base) & (((size_t)1 << shift) - 1))))
		shift = shift == 21 ? 16 : 12;
	struct hm_region *n = region_new(to, len, shift);
	if (!n) {
		fprintf(stderr, "hetmem: out of memory tracking an mremap of %zu bytes; "
				"pages on a device in it will read back as SIGBUS\n", len);
		hm_region_put(r);
		return;
	}
	size_t first = (from - r->base) >> HM_PAGE_SHIFT;
	size_t fp = region_folio_pages(r);
	/* samples of moved pages: their held data follows the addresses */
	EACH_CLIENT(remap, r, first, n->npages, n);
	for (size_t head = first & ~(fp - 1); head < first + n->npages; head += fp) {
		hm_folio_lock(r, head);
		for (size_t i = head; i < head + fp; i++) {
			if (i < first || i >= first + n->npages)
				continue;
			uint64_t w = atomic_load(&r->words[i]);
			atomic_store(&n->words[i - first], w & ~(PW_MOVING | PW_WAITERS | PW_PENDING));
			pw_set(&r->words[i], HM_LOC_UNMAPPED, 0, 0); /* slot now owned by n */
		}
		hm_folio_unlock(r, head);
	}
	if (table_insert(n) == 0) {
		HM_COUNT(regions, 1);
		HM_COUNT(managed_bytes, len);
	}
	hm_region_put(r);
}

/* Called by hm_shutdown(): every region becomes ordinary memory. */
void hm_regions_shutdown(void)
{
	for (;;) {
		pthread_rwlock_rdlock(&hm_g.regions_lock);
		struct hm_region *r = hm_g.nregions ? hm_g.regions[0] : NULL;
		if (r)
			atomic_fetch_add(&r->refs, 1);
		pthread_rwlock_unlock(&hm_g.regions_lock);
		if (!r)
			break;
		atomic_store(&r->dying, true);
		wait_refs(r, 2);
		hm_prim_uffd_unregister(hm_g.uffd, r->base, r->size);
		/* its pages are ordinary memory now, no longer managed-resident */
		uint64_t host = 0;
		for (size_t i = 0; i < r->npages; i++) {
			uint64_t w = atomic_load(&r->words[i]);
			host += pw_loc(w) == HM_LOC_HOST;
			if (pw_loc(w) == HM_LOC_MAPPED)
				hm_coherent_left(w, false);
		}
		HM_COUNT(resident_pages, -host);
		table_remove(r);
		hm_region_put(r);
	}
	/* the handler still runs (and looks regions up): under the lock */
	pthread_rwlock_wrlock(&hm_g.regions_lock);
	free(hm_g.regions);
	hm_g.regions = NULL;
	hm_g.nregions = hm_g.cap_regions = 0;
	pthread_rwlock_unlock(&hm_g.regions_lock);
}
