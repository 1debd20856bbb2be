/*
 * device.c — devices and mirrors: the emulated device that plays the role of
 * the kernel's test_hmm driver.
 *
 * A device owns a tier (its memory) and a set of mirrored ranges of managed
 * memory.  It reads and writes them like a DMA engine: a page that lives in
 * the device's memory is accessed there, under its folio lock; any other
 * page is accessed where it is, through process_vm_readv/writev on this
 * process, which goes through the MMU exactly like a CPU access — so the VMA
 * protection is honoured, a page on another tier is faulted back to RAM by
 * the handler thread, and a concurrent demotion cannot lose the write.
 * HM_DEV_MIGRATE first migrates the folios into device memory (the way a
 * GPU's first touch of managed memory does), falling back to access in place
 * when device memory is full.
 *
 * A range is mirrored by at most one device at a time; another device asking
 * for it gets -EBUSY.  Mirror bookkeeping is under one mutex (not on any
 * fault path).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct mirror {
	uintptr_t base;
	size_t len;
};

struct hm_device {
	int tier;
	char name[64];
	struct mirror *mirrors;
	size_t nmirrors, cap;
	struct hm_device *next;
};

static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hm_device *devices;

HM_API int hm_device_open(const char *spec, struct hm_device **out)
{
	if (!out)
		return hm_error(EINVAL, "hm_device_open: NULL output");
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_device_open: hetmem is not initialised");
	if (hm_g.sigfault)
		return hm_error(ENOTSUP, "hm_device_open: devices need HETMEM_FAULTS=handler (a device accesses pages in "
					 "place with process_vm_readv, which fails with EFAULT on an absent page in signal mode)");
	struct hm_device *d = calloc(1, sizeof(*d));
	if (!d)
		return hm_error(ENOMEM, "hm_device_open: out of memory");
	int id = hm_tier_create(spec, d);
	if (id < 0) {
		free(d);
		return id;
	}
	d->tier = id;
	snprintf(d->name, sizeof(d->name), "%s", spec);
	pthread_mutex_lock(&dev_lock);
	d->next = devices;
	devices = d;
	pthread_mutex_unlock(&dev_lock);
	*out = d;
	return 0;
}

HM_API int hm_device_tier(const struct hm_device *d)
{
	return d ? d->tier : hm_error(EINVAL, "hm_device_tier: NULL device");
}

static bool overlaps(const struct mirror *m, uintptr_t a, size_t len)
{
	return a < m->base + m->len && m->base < a + len;
}

HM_API int hm_device_mirror(struct hm_device *d, void *addr, size_t len)
{
	if (!d)
		return hm_error(EINVAL, "hm_device_mirror: NULL device");
	uintptr_t a = (uintptr_t)addr;
	if ((a & (HM_PAGE_SIZE - 1)) || (len & (HM_PAGE_SIZE - 1)) || len == 0)
		return hm_error(EINVAL, "hm_device_mirror: [%p, +%zu) is not a non-empty page-aligned range", addr, len);
	struct hm_region *rs[64];
	int n = hm_regions_get_range(a, len, rs, 64);
	if (n < 0)
		return hm_error(EINVAL, "hm_device_mirror: [%p, +%zu) is not all managed memory", addr, len);
	for (int j = 0; j < n; j++)
		hm_region_put(rs[j]);
	int rc = 0;
	pthread_mutex_lock(&dev_lock);
	for (struct hm_device *o = devices; o; o = o->next) {
		for (size_t k = 0; k < o->nmirrors; k++) {
			if (!overlaps(&o->mirrors[k], a, len))
				continue;
			if (o == d)
				rc = hm_error(EEXIST, "hm_device_mirror: [%p, +%zu) is already mirrored by this device",
					      addr, len);
			else
				rc = hm_error(EBUSY, "hm_device_mirror: [%p, +%zu) is owned by device '%s' (tier %d)",
					      addr, len, o->name, o->tier);
			goto out;
		}
	}
	if (d->nmirrors == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct mirror *m = realloc(d->mirrors, cap * sizeof(*m));
		if (!m) {
			rc = hm_error(ENOMEM, "hm_device_mirror: out of memory");
			goto out;
		}
		d->mirrors = m;
		d->cap = cap;
	}
	d->mirrors[d->nmirrors++] = (struct mirror){a, len};
out:
	pthread_mutex_unlock(&dev_lock);
	return rc;
}

HM_API int hm_device_unmirror(struct hm_device *d, void *addr)
{
	if (!d)
		return hm_error(EINVAL, "hm_device_unmirror: NULL device");
	pthread_mutex_lock(&dev_lock);
	for (size_t k = 0; k < d->nmirrors; k++) {
		if (d->mirrors[k].base == (uintptr_t)addr) {
			d->mirrors[k] = d->mirrors[--d->nmirrors];
			pthread_mutex_unlock(&dev_lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&dev_lock);
	return hm_error(ENOENT, "hm_device_unmirror: no mirror of this device starts at %p", addr);
}

/* Called when managed memory goes away (hm_free, munmap, mremap): mirrors
 * lose that part; what a mirror covers outside it stays mirrored (a mirror
 * straddling it becomes two).  Caller holds no folio lock. */
void hm_devices_forget_range(uintptr_t a, size_t len)
{
	uintptr_t end = a + len;
	pthread_mutex_lock(&dev_lock);
	for (struct hm_device *d = devices; d; d = d->next) {
		for (size_t k = 0; k < d->nmirrors;) {
			struct mirror m = d->mirrors[k];
			uintptr_t mend = m.base + m.len;
			if (!overlaps(&m, a, len)) {
				k++;
				continue;
			}
			if (m.base < a && mend > end) {
				if (d->nmirrors == d->cap) {
					size_t cap = d->cap * 2;
					struct mirror *nm = realloc(d->mirrors, cap * sizeof(*nm));
					if (nm) {
						d->mirrors = nm;
						d->cap = cap;
					}
				}
				if (d->nmirrors < d->cap) /* else (no memory) the right side is dropped */
					d->mirrors[d->nmirrors++] = (struct mirror){end, mend - end};
				d->mirrors[k++].len = a - m.base;
			} else if (m.base < a) {
				d->mirrors[k++].len = a - m.base;
			} else if (mend > end) {
				d->mirrors[k++] = (struct mirror){end, mend - end};
			} else {
				d->mirrors[k] = d->mirrors[--d->nmirrors];
			}
		}
	}
	pthread_mutex_unlock(&dev_lock);
}

static bool mirrored(struct hm_device *d, uintptr_t a, size_t len)
{
	bool ok = false;
	pthread_mutex_lock(&dev_lock);
	for (size_t k = 0; k < d->nmirrors && !ok; k++)
		ok = a >= d->mirrors[k].base && a + len <= d->mirrors[k].base + d->mirrors[k].len;
	pthread_mutex_unlock(&dev_lock);
	return ok;
}

/* One access of [a, a+len) inside one folio of @r. */
static int access_folio(struct hm_device *d, struct hm_region *r, uintptr_t a, char *buf, size_t len, bool write)
{
	size_t fp = region_folio_pages(r);
	size_t i = (a - r->base) >> HM_PAGE_SHIFT;
	size_t head = i & ~(fp - 1);
	hm_folio_lock(r, head);
	uint64_t w = atomic_load(&r->words[i]);
	unsigned loc = pw_loc(w);
	if (loc == HM_LOC_TIER && pw_tier(w) == d->tier) {
		/* in our memory: access it there, page by page */
		struct hm_tier *t = hm_tier_get(d->tier);
		int rc = 0;
		while (len && !rc) {
			size_t pi = (a - r->base) >> HM_PAGE_SHIFT;
			size_t off = a & (HM_PAGE_SIZE - 1);
			size_t n = HM_PAGE_SIZE - off < len ? HM_PAGE_SIZE - off : len;
			uint64_t pw = atomic_load(&r->words[pi]);
			if (pw_loc(pw) != HM_LOC_TIER || pw_tier(pw) != d->tier) {
				hm_folio_unlock(r, head);
				return 1; /* mixed folio: caller goes in place */
			}
			char *page = hm_bounce();
			if (!page) {
				rc = -ENOMEM;
				break;
			}
			rc = hm_tier_read(t, pw_slot(pw), page, 1);
			if (rc) {
				rc = -EIO;
				break;
			}
			if (write) {
				memcpy(page + off, buf, n);
				rc = hm_tier_write(t, pw_slot(pw), page, 1);
				if (rc)
					rc = -EIO;
			} else {
				memcpy(buf, page + off, n);
			}
			a += n;
			buf += n;
			len -= n;
		}
		hm_folio_unlock(r, head);
		return rc;
	}
	hm_folio_unlock(r, head);
	if (loc == HM_LOC_POISON)
		return -EIO;
	return 1; /* access in place */
}

static int device_access(struct hm_device *d, uintptr_t a, char *buf, size_t len, unsigned flags, bool write)
{
	const char *fn = write ? "hm_device_write" : "hm_device_read";
	if (!d || (!buf && len))
		return hm_error(EINVAL, "%s: NULL device or buffer", fn);
	if (flags & ~HM_DEV_MIGRATE)
		return hm_error(EINVAL, "%s: unknown flags 0x%x", fn, flags);
	if (!len)
		return 0;
	if (a + len < a || !mirrored(d, a, len))
		return hm_error(ENOENT, "%s: [%p, +%zu) is not mirrored by device '%s'", fn, (void *)a, len, d->name);
	struct hm_region *rs[64];
	int n = hm_regions_get_range(a, len, rs, 64);
	if (n < 0)
		return hm_error(EFAULT, "%s: [%p, +%zu) is no longer managed memory", fn, (void *)a, len);
	HM_COUNT(device_reads, write ? 0 : 1);
	HM_COUNT(device_writes, write ? 1 : 0);
	int rc = 0;
	/* protection first: a refused write writes nothing */
	for (int j = 0; j < n && !rc; j++) {
		struct hm_region *r = rs[j];
		uintptr_t lo = a > r->base ? a : r->base;
		uintptr_t hi = a + len < r->base + r->size ? a + len : r->base + r->size;
		for (uintptr_t p = lo & ~(HM_PAGE_SIZE - 1); p < hi; p += HM_PAGE_SIZE) {
			uint64_t w = atomic_load(&r->words[(p - r->base) >> HM_PAGE_SHIFT]);
			if ((w & PW_NOREAD) || (write && (w & PW_NOWRITE))) {
				rc = hm_error(EACCES, "%s: page %p is protected against this access", fn, (void *)p);
				break;
			}
			if (pw_loc(w) == HM_LOC_UNMAPPED) {
				rc = hm_error(EFAULT, "%s: page %p was unmapped", fn, (void *)p);
				break;
			}
		}
	}
	if (!rc && (flags & HM_DEV_MIGRATE)) {
		for (int j = 0; j < n; j++) {
			struct hm_region *r = rs[j];
			size_t fs = (size_t)1 << r->folio_shift;
			uintptr_t lo = (a > r->base ? a : r->base) & ~(fs - 1);
			uintptr_t hi = a + len < r->base + r->size ? a + len : r->base + r->size;
			hi = (hi + fs - 1) & ~(fs - 1);
			/* a full device leaves pages in place: not an error */
			hm_migrate_region(r, (lo - r->base) >> HM_PAGE_SHIFT, (hi - r->base) >> HM_PAGE_SHIFT,
					  d->tier, NULL, HM_MIG_WAIT);
		}
	}
	uintptr_t p = a;
	char *b = buf;
	for (int j = 0; j < n && !rc; j++) {
		struct hm_region *r = rs[j];
		size_t fs = (size_t)1 << r->folio_shift;
		uintptr_t hi = a + len < r->base + r->size ? a + len : r->base + r->size;
		while (p < hi && !rc) {
			uintptr_t fend = (p & ~(fs - 1)) + fs;
			size_t chunk = (fend < hi ? fend : hi) - p;
			int ar = access_folio(d, r, p, b, chunk, write);
			if (ar == 1) {
				/* process_vm_writev pins the pages and writes through
				 * the kernel's mapping, past a write-protect: a WP
				 * demotion of this folio meanwhile would lose the write
				 * (demote_copy() backs off while this is nonzero) */
				if (write)
					atomic_fetch_add(&r->dev_writers, 1);
				ar = hm_prim_vm_rw(b, (void *)p, chunk, write);
				if (write)
					atomic_fetch_sub(&r->dev_writers, 1);
				if (ar == -EFAULT) {
					/* protection we were not told about, or unmapped */
					ar = hm_error(EFAULT, "%s: page %p is not accessible (unmapped or protected)", fn,
						      (void *)p);
				} else if (ar) {
					ar = hm_error(-ar, "%s: access to %p failed", fn, (void *)p);
				}
			} else if (ar) {
				ar = hm_error(-ar, "%s: device memory failed at %p", fn, (void *)p);
			}
			rc = ar;
			p += chunk;
			b += chunk;
		}
	}
	for (int j = 0; j < n; j++)
		hm_region_put(rs[j]);
	return rc;
}

HM_API int hm_device_read(struct hm_device *d, const void *addr, void *buf, size_t len, unsigned flags)
{
	return device_access(d, (uintptr_t)addr, buf, len, flags, false);
}

HM_API int hm_device_write(struct hm_device *d, void *addr, const void *buf, size_t len, unsigned flags)
{
	return device_access(d, (uintptr_t)addr, (char *)buf, len, flags, true);
}

HM_API long hm_device_migrate(struct hm_device *d, void *addr, size_t len, int *status)
{
	if (!d)
		return hm_error(EINVAL, "hm_device_migrate: NULL device");
	if (!mirrored(d, (uintptr_t)addr, len))
		return hm_error(ENOENT, "hm_device_migrate: [%p, +%zu) is not mirrored by device '%s'", addr, len,
				d->name);
	return hm_migrate(addr, len, d->tier, status);
}

HM_API long hm_device_pages(struct hm_device *d, const void *addr, size_t npages, uint64_t *out)
{
	uintptr_t a = (uintptr_t)addr;
	size_t len = npages << HM_PAGE_SHIFT;
	if (!d || !addr || (!out && npages))
		return hm_error(EINVAL, "hm_device_pages: NULL device, address or table");
	if (a & (HM_PAGE_SIZE - 1))
		return hm_error(EINVAL, "hm_device_pages: %p is not page-aligned", addr);
	if (!npages)
		return 0;
	if (npages > SIZE_MAX >> HM_PAGE_SHIFT || a + len < a || !mirrored(d, a, len))
		return hm_error(ENOENT, "hm_device_pages: [%p, +%zu pages) is not mirrored by device '%s'", addr,
				npages, d->name);
	struct hm_tier *t = hm_tier_get(d->tier);
	if (!t || !t->ops->device_addr)
		return hm_error(EOPNOTSUPP, "hm_device_pages: device '%s' (a %s tier) has no addresses a device can use",
				d->name, t ? t->ops->kind : "closed");
	long on = 0;
	for (size_t k = 0; k < npages;) {
		uintptr_t pa = a + (k << HM_PAGE_SHIFT);
		struct hm_region *r = hm_region_get(pa);
		if (!r)
			return hm_error(EFAULT, "hm_device_pages: %p is no longer managed memory", (void *)pa);
		size_t fp = region_folio_pages(r);
		size_t i = (pa - r->base) >> HM_PAGE_SHIFT;
		size_t head = i & ~(fp - 1);
		/* under the folio lock: a page in the middle of a move has
		 * no place to give */
		hm_folio_lock(r, head);
		for (; k < npages && i < head + fp; k++, i++) {
			uint64_t w = atomic_load(&r->words[i]);
			out[k] = 0;
			if (pw_loc(w) == HM_LOC_TIER && pw_tier(w) == d->tier &&
			    !t->ops->device_addr(t, pw_slot(w), &out[k]))
				on++;
		}
		hm_folio_unlock(r, head);
		hm_region_put(r);
	}
	return on;
}

/* Every page on the device's tier goes home. */
static long evict(struct hm_device *d, bool *failed)
{
	long moved = 0;
	size_t n;
	struct hm_region **rs = hm_regions_snapshot(&n);
	if (!rs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct hm_region *r = rs[i];
		size_t fp = region_folio_pages(r);
		for (size_t head = 0; head < r->npages; head += fp) {
			bool ours = false;
			for (size_t k = head; k < head + fp && !ours; k++) {
				uint64_t w = atomic_load(&r->words[k]);
				ours = pw_loc(w) == HM_LOC_TIER && pw_tier(w) == d->tier;
			}
			if (!ours)
				continue;
			hm_folio_lock(r, head);
			uint64_t before = atomic_load(&hm_cnt.pages_promoted);
			if (hm_folio_fetch(r, head, true) == -EIO)
				*failed = true;
			moved += (long)(atomic_load(&hm_cnt.pages_promoted) - before);
			hm_folio_unlock(r, head);
		}
		hm_region_put(r);
	}
	free(rs);
	HM_COUNT(device_evictions, (uint64_t)moved);
	return moved;
}

HM_API long hm_device_evict(struct hm_device *d)
{
	if (!d)
		return hm_error(EINVAL, "hm_device_evict: NULL device");
	bool failed = false;
	long moved = evict(d, &failed);
	if (moved < 0)
		return hm_error((int)-moved, "hm_device_evict: out of memory");
	if (failed)
		return hm_error(EIO, "hm_device_evict: some pages could not be read back and are poisoned");
	return moved;
}

HM_API int hm_device_close(struct hm_device *d)
{
	if (!d)
		return hm_error(EINVAL, "hm_device_close: NULL device");
	bool failed = false;
	evict(d, &failed);
	pthread_mutex_lock(&dev_lock);
	for (struct hm_device **pp = &devices; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	pthread_mutex_unlock(&dev_lock);
	hm_tier_destroy(d->tier, true);
	free(d->mirrors);
	free(d);
	if (failed)
		return hm_error(EIO, "hm_device_close: some pages could not be read back and are poisoned");
	return 0;
}

void hm_devices_close_all(void)
{
	for (;;) {
		pthread_mutex_lock(&dev_lock);
		struct hm_device *d = devices;
		pthread_mutex_unlock(&dev_lock);
		if (!d)
			break;
		hm_device_close(d);
	}
}

/* The region layer's client (space.h): a mirror is of addresses, like an mmu
 * interval notifier, so a device loses its view of a range that goes. */
static void device_range_gone(uintptr_t start, size_t len)
{
	hm_devices_forget_range(start, len);
}

const struct hm_space_client hm_device_space = {
	.name = "device",
	.range_gone = device_range_gone,
};
