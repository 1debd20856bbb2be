/*
 * write.c — write tracking of resident folios: one event per folio written
 * since the last scan (reclaimer thread).
 *
 * "wp-async": the userfaultfd is opened with UFFD_FEATURE_WP_ASYNC
 * (+ WP_UNPOPULATED) and regions are registered for write-protect; each
 * scan, PAGEMAP_SCAN with PM_SCAN_WP_MATCHING reports the pages written
 * since the last scan (PAGE_IS_WRITTEN) and write-protects them again, in
 * one page-table walk.  The kernel resolves a write to a protected page
 * itself (no message): a minor fault once per page per scan.
 *
 * "soft-dirty": each scan reads bit 55 of /proc/self/pagemap for every
 * managed page, then writes "4" to /proc/self/clear_refs.  That clear is
 * process-wide: it write-protects every page of the process (heap, stacks,
 * unmanaged memory too), so the first write to any page after each scan
 * takes a minor fault, and it resets soft-dirty bits other users of them
 * (CRIU) rely on.  A write between the read and the clear is missed.
 */
#include "track/track_int.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* PAGEMAP_SCAN (Linux 6.7 uapi; not in Debian 12's headers) */
struct hm_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct hm_page_region {
	uint64_t start, end, categories;
};
#define HM_PAGEMAP_SCAN _IOWR('f', 16, struct hm_pm_scan_arg)
#define HM_PM_SCAN_WP_MATCHING (1ull << 0)
#define HM_PAGE_IS_WRITTEN (1ull << 1)
#define HM_PAGE_IS_PRESENT (1ull << 3)
#define PM_SOFT_DIRTY (1ull << 55)

/* One event per written folio in [start, end) of @r; @last dedupes. */
static void written(struct hm_region *r, uintptr_t start, uintptr_t end, size_t *last)
{
	uintptr_t base = r->base;
	if (start < base)
		start = base;
	if (end > base + r->size)
		end = base + r->size;
	size_t fsz = (size_t)1 << r->folio_shift;
	for (uintptr_t a = start & ~(fsz - 1); a < end; a += fsz) {
		size_t head = (a - base) >> HM_PAGE_SHIFT;
		if (*last == head + 1)
			continue;
		*last = head + 1;
		unsigned loc = pw_loc(atomic_load_explicit(&r->words[head], memory_order_relaxed));
		if (loc != HM_LOC_HOST && loc != HM_LOC_MAPPED) /* in the page table */
			continue;
		hm_policy_event(r, head, HM_EV_WRITE);
		HM_COUNT(track_written, 1);
	}
}

static uint64_t scan_wpasync(struct hm_region *r)
{
	uint64_t pages = 0;
	struct hm_page_region vec[256];
	uintptr_t start = r->base, end = r->base + r->size;
	size_t last = 0;
	while (start < end) {
		struct hm_pm_scan_arg a = {
			.size = sizeof(a),
			.flags = HM_PM_SCAN_WP_MATCHING,
			.start = start,
			.end = end,
			.vec = (uintptr_t)vec,
			.vec_len = 256,
			/* present pages only: with WP_UNPOPULATED (which
			 * WP_ASYNC implies) protecting a hole installs a
			 * marker, which UFFDIO_ZEROPAGE and UFFDIO_MOVE then
			 * refuse as "present" (EEXIST) */
			.category_mask = HM_PAGE_IS_WRITTEN | HM_PAGE_IS_PRESENT,
			.return_mask = HM_PAGE_IS_WRITTEN,
		};
		unsigned fs = hm_fd_enter(); /* fdguard.c: never the program's file */
		int n = ioctl(hm_fd_cur(T.pm_fd), HM_PAGEMAP_SCAN, &a);
		hm_fd_exit(fs);
		if (n < 0)
			return pages; /* e.g. the range was unmapped meanwhile */
		for (int k = 0; k < n; k++) {
			written(r, vec[k].start, vec[k].end, &last);
			pages += (vec[k].end - vec[k].start) >> HM_PAGE_SHIFT;
		}
		if (a.walk_end <= start || a.walk_end >= end)
			return pages;
		start = a.walk_end;
	}
	return pages;
}

/*
 * Soft-dirty bits hetmem set itself.  Linux 6.1 reports as soft-dirty a
 * page UFFDIO_COPY placed (a fetch for a read fault) and a page move_pages
 * migrated (a coherent tier's move): taken for writes, every fetched folio
 * counted one access for two, and every folio moved to a NUMA node since
 * the last scan was asked back (in the 6.1 guest each scan took the 12000
 * pages demoted since the last for written and churned the budget at
 * 9-12 MiB/s).  So whoever places a folio marks its head word PLACED, and
 * this scan takes a folio so marked for not written, and clears the mark
 * of every folio it visits.
 */
static void scan_softdirty(struct hm_region *r)
{
	uint64_t ents[1024];
	size_t last = 0, fp = region_folio_pages(r);
	uintptr_t base = r->base;
	bool placed = false; /* the current folio's mark (a read may end mid-folio) */
	for (size_t i = 0; i < r->npages;) {
		size_t chunk = r->npages - i < 1024 ? r->npages - i : 1024;
		unsigned fs = hm_fd_enter(); /* fdguard.c: never the program's file */
		ssize_t got = pread(hm_fd_cur(T.pm_fd), ents, chunk * 8, (off_t)(((base >> HM_PAGE_SHIFT) + i) * 8));
		hm_fd_exit(fs);
		if (got <= 0)
			return;
		size_t m = (size_t)got / 8;
		for (size_t k = 0; k < m; k++) {
			size_t pg = i + k;
			if (!(pg & (fp - 1)))
				placed = atomic_fetch_and_explicit(&r->words[pg], ~PW_PLACED, memory_order_relaxed) &
					 PW_PLACED;
			if ((ents[k] & PM_SOFT_DIRTY) && !placed) {
				uintptr_t a = base + (pg << HM_PAGE_SHIFT);
				written(r, a, a + HM_PAGE_SIZE, &last);
			}
		}
		i += m;
	}
}

void hm_trk_write_scan(struct hm_region **rs, size_t n)
{
	enum wr_mech wr = T.wr_avail;
	if (wr == WR_WPASYNC && T.pm_fd < 0)
		T.pm_fd = hm_fd_open("/proc/self/pagemap", O_RDONLY, 0, &T.pm_fd);
	if (T.pm_fd < 0)
		return;
	uint64_t reprotected = 0;
	for (size_t i = 0; i < n; i++) {
		if (atomic_load(&rs[i]->dying))
			continue;
		if (wr == WR_WPASYNC)
			reprotected += scan_wpasync(rs[i]);
		else
			scan_softdirty(rs[i]);
	}
	/* the program pays a minor fault for each page re-protected (and, with
	 * soft-dirty, for every page of the process it writes: not counted) */
	T.credit_ns -= (int64_t)(reprotected * WP_FAULT_NS);
	if (wr == WR_SOFTDIRTY) {
		unsigned fs = hm_fd_enter(); /* fdguard.c: never the program's file */
		ssize_t w = pwrite(hm_fd_cur(T.cr_fd), "4", 1, 0);
		hm_fd_exit(fs);
		if (w != 1)
			return;
	}
	HM_COUNT(track_write_scans, 1);
}
