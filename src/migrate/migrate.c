/*
 * migrate.c — three-phase migration with a per-page result, modelled on the
 * kernel's migrate_vma_setup / migrate_vma_pages / migrate_vma_finalize.
 *
 * A range is processed in batches of at most BATCH_PAGES pages:
 *   1. collect: lock each folio (head-word CAS), decide what it needs
 *      (fetch home, demote from RAM, move between tiers, or nothing);
 *   2. copy: allocate slots on the target and copy the data there;
 *   3. finalize: commit (page-table words point at the new place, old
 *      copies freed) or restore (the data stays where it was, new slots
 *      freed), then unlock.  Every page gets a result.
 *
 * Demotion takes the pages out of the process's page table before copying,
 * so a concurrent write cannot be lost:
 *   MOVE: UFFDIO_MOVE the folio's pages into a staging range (a write now
 *         faults, finds the folio locked and waits), copy from staging to
 *         the tier, drop the staging pages.  Restore moves them back.
 *   WP:   write-protect the folio (a write now faults and waits), copy from
 *         the managed range, MADV_DONTNEED it, unprotect.  Restore only
 *         unprotects.  Used where the kernel has no UFFDIO_MOVE, when forced
 *         (HETMEM_DEMOTE=wp), and for folios UFFDIO_MOVE refuses (pages
 *         shared with a forked child, read-only folios).
 * Absent pages inside a populated folio (discarded by the program) are
 * found in /proc/self/pagemap (mapped or swapped out = has data) and written
 * as zeros, so a copy never faults on an absent page.
 */
#include "internal.h"
#include "os/uffd_compat.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define BATCH_PAGES 1024 /* 4 MiB: two 2 MiB folios */
/* Batches of moves to or from coherent tiers: each move_pages call drains
 * every CPU's LRU batches first (lru_cache_disable), so one call per 4 MiB
 * cost hetmem 40% of move_pages' own throughput on the same pages; no
 * demotion (staging, spresent) is in such a batch. */
#define CBATCH_PAGES (16 * BATCH_PAGES)
#define STAGING_CHUNK ((size_t)BATCH_PAGES << HM_PAGE_SHIFT)
#define STAGING_CHUNKS 8
#define BUSY_WAIT_NS (200 * 1000 * 1000L)

/* ---------------------------------------------------------------------- */
/* Staging ranges for UFFDIO_MOVE                                           */
/* ---------------------------------------------------------------------- */

static pthread_cond_t staging_cv = PTHREAD_COND_INITIALIZER;

/*
 * Map @size bytes of anonymous memory aligned to @align and register them
 * with the userfaultfd (MISSING): the private ranges hetmem moves pages into
 * with UFFDIO_MOVE (staging here, the tracker's hold area).  0 and *@base, or
 * -errno with a message naming @what.
 */
int hm_map_registered(size_t size, size_t align, const char *what, uintptr_t *base)
{
	int err = 0;
	char *p = hm_prim_mmap(NULL, size + align, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0, &err);
	if (p == MAP_FAILED)
		return hm_error(err, "hm_init: cannot map %s", what);
	uintptr_t b = ((uintptr_t)p + align - 1) & ~(align - 1);
	if (b > (uintptr_t)p)
		hm_sys_munmap(p, b - (uintptr_t)p);
	hm_sys_munmap((void *)(b + size), (uintptr_t)p + align - b);
	int rc = hm_prim_uffd_register(hm_g.uffd, b, size, UFFDIO_REGISTER_MODE_MISSING);
	if (rc) {
		hm_sys_munmap((void *)b, size);
		return hm_error(-rc, "hm_init: cannot register %s", what);
	}
	*base = b;
	return 0;
}

int hm_staging_init(void)
{
	if (!hm_g.feat.move)
		return 0;
	size_t size = STAGING_CHUNK * STAGING_CHUNKS;
	uintptr_t base = 0;
	int rc = hm_map_registered(size, HM_FOLIO_2M, "the staging range", &base);
	if (rc)
		return rc;
	hm_g.staging_base = base;
	hm_g.staging_size = size;
	hm_g.staging_free = (1ull << STAGING_CHUNKS) - 1;
	return 0;
}

void hm_staging_fini(void)
{
	if (!hm_g.staging_base)
		return;
	hm_prim_uffd_unregister(hm_g.uffd, hm_g.staging_base, hm_g.staging_size);
	hm_sys_munmap((void *)hm_g.staging_base, hm_g.staging_size);
	/* the handler reads them (in_staging) until hm_shutdown stops it */
	__atomic_store_n(&hm_g.staging_base, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&hm_g.staging_size, 0, __ATOMIC_RELAXED);
}

static uintptr_t staging_get(void)
{
	pthread_mutex_lock(&hm_g.staging_lock);
	while (!hm_g.staging_free)
		pthread_cond_wait(&staging_cv, &hm_g.staging_lock);
	int i = __builtin_ctzll(hm_g.staging_free);
	hm_g.staging_free &= ~(1ull << i);
	pthread_mutex_unlock(&hm_g.staging_lock);
	return hm_g.staging_base + (size_t)i * STAGING_CHUNK;
}

static void staging_put(uintptr_t chunk)
{
	/* the chunk must be empty for the next UFFDIO_MOVE into it */
	int rc = 0;
	for (int tries = 0; tries < 100; tries++) {
		rc = hm_prim_madvise((void *)chunk, STAGING_CHUNK, MADV_DONTNEED);
		if (!rc)
			break;
	}
	if (rc)
		hm_sys_madvise((void *)chunk, STAGING_CHUNK, MADV_DONTNEED); /* injected errors must not wedge it */
	int i = (int)((chunk - hm_g.staging_base) / STAGING_CHUNK);
	pthread_mutex_lock(&hm_g.staging_lock);
	hm_g.staging_free |= 1ull << i;
	pthread_cond_signal(&staging_cv);
	pthread_mutex_unlock(&hm_g.staging_lock);
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                  */
/* ---------------------------------------------------------------------- */

static const char zero_page[HM_PAGE_SIZE] __attribute__((aligned(4096)));

/* UFFDIO_MOVE and UFFDIO_WRITEPROTECT fail with -EAGAIN while a
 * non-cooperative event (the REMOVE of another mover's MADV_DONTNEED) waits
 * for the handler to read it: transient, so retry for a while (~20 ms)
 * before reporting it.  Without this, a busy process sees most demotions
 * fail, and a failed unprotect leaves a stale write-protect marker. */
#define EAGAIN_TRIES 1000
static void eagain_pause(int k)
{
	if (k < 16) {
		sched_yield();
	} else {
		struct timespec ts = {0, 20 * 1000};
		nanosleep(&ts, NULL);
	}
}

static int uffd_wp_retry(uintptr_t addr, size_t len, bool protect)
{
	int rc, k = 0;
	while ((rc = hm_prim_uffd_wp(hm_g.uffd, addr, len, protect)) == -EAGAIN && k < EAGAIN_TRIES)
		eagain_pause(k++);
	return rc;
}

static int uffd_move_retry(uintptr_t dst, uintptr_t src, size_t len, size_t *done)
{
	int rc, k = 0;
	while ((rc = hm_prim_uffd_move(hm_g.uffd, dst, src, len, done)) == -EAGAIN && !*done && k < EAGAIN_TRIES)
		eagain_pause(k++);
	return rc;
}

/* A demotion that moved [addr, addr+len) into staging failed: put the pages
 * back.  The staging copy is the only one, so never give up on a transient
 * error (the caller discards staging afterwards): move back what moves,
 * copy the rest, skip pages already in place, stop only if the range is
 * gone (unmapped). */
static void put_back(uintptr_t addr, uintptr_t stage, size_t len)
{
	size_t off = 0;
	if (!uffd_move_retry(addr, stage, len, &off) && off == len)
		return;
	int k = 0;
	while (off < len) {
		size_t c = 0;
		int rc = hm_prim_uffd_copy(hm_g.uffd, addr + off, (void *)(stage + off), len - off, true, &c);
		off += c;
		if (!rc)
			continue;
		if (rc == -EEXIST) /* already there: keep it */
			off = (off & ~(HM_PAGE_SIZE - 1)) + HM_PAGE_SIZE;
		else if (rc == -EAGAIN || rc == -ENOMEM || rc == -EINTR)
			eagain_pause(k < EAGAIN_TRIES ? k++ : k);
		else
			break; /* -ENOENT, -EFAULT: the range is gone */
	}
}

/*
 * UFFDIO_MOVE the folio at @addr (@len bytes) into the empty staging slot
 * @stage.  0: all of it is in staging (holes stay holes).  -errno: none of
 * it is; whatever did move was put back and the slot is empty again.
 *
 * The kernel's answer is not taken on trust.  Under async write-protect
 * (write tracking: PAGEMAP_SCAN re-protecting pages, the program's writes
 * lifting the protection) with non-cooperative events pending (EAGAIN), Linux
 * 6.18 has been seen to answer EEXIST (move = -EEXIST, nothing moved) for a
 * page it DID move: afterwards the page is in staging and the program's PTE
 * is empty (uffd_stress traces and a standalone probe).  Taken at its word,
 * the folio stayed HOST with its only copy in a staging slot that was then
 * zapped or, as the next mover found, still occupied (EEXIST): the next fault
 * refilled the absent HOST page with zeros.  So after any failure the page
 * tables decide: if no page of the folio is left in the program's range,
 * everything moved; otherwise every page found in staging goes back
 * (put_back never overwrites a page that is present) and the slot is emptied.
 */
static int stage_folio(uintptr_t stage, uintptr_t addr, size_t len)
{
	size_t done = 0, n = len >> HM_PAGE_SHIFT;
	int rc = uffd_move_retry(stage, addr, len, &done);
	if (!rc)
		return 0;
	unsigned char ppres[HM_MAX_FOLIO_PAGES], spres[HM_MAX_FOLIO_PAGES];
	bool checked = !hm_prim_pages_present((void *)addr, len, ppres) &&
		       !hm_prim_pages_present((void *)stage, len, spres);
	if (checked) {
		bool left = false, staged = false;
		for (size_t k = 0; k < n; k++) {
			left |= ppres[k] & 1;
			staged |= spres[k] & 1;
		}
		if (!left)
			return 0;
		if (!staged) /* nothing moved: nothing to undo */
			return rc == -EEXIST ? -EAGAIN : rc;
		for (size_t k = 0, j; k < n; k = j) {
			for (j = k + 1; j < n && (spres[j] & 1) == (spres[k] & 1);)
				j++;
			if (spres[k] & 1)
				put_back(addr + (k << HM_PAGE_SHIFT), stage + (k << HM_PAGE_SHIFT),
					 (j - k) << HM_PAGE_SHIFT);
		}
	} else {
		/* cannot tell (pagemap unreadable): put back the whole folio;
		 * a page still in place is kept (EEXIST), a staging hole is a
		 * hole */
		put_back(addr, stage, len);
	}
	hm_sys_madvise((void *)stage, len, MADV_DONTNEED);
	/* EEXIST (here and above) is the misreport, or a staging slot that
	 * was not empty, never a page of the program in the way: the folio is
	 * whole in RAM, try it later */
	return rc == -EEXIST ? -EAGAIN : rc;
}

/* Allocate @n slots for a folio: one aligned run, or singles as fallback. */
static int alloc_slots(struct hm_tier *t, size_t n, uint64_t *slots)
{
	unsigned order = (unsigned)__builtin_ctzl(n);
	uint64_t s;
	int rc = hm_tier_alloc(t, order, &s);
	if (!rc) {
		for (size_t k = 0; k < n; k++)
			slots[k] = s + k;
		return 0;
	}
	if (n == 1)
		return rc;
	for (size_t k = 0; k < n; k++) {
		rc = hm_tier_alloc(t, 0, &slots[k]);
		if (rc) {
			for (size_t j = 0; j < k; j++)
				hm_tier_free(t, slots[j], 1);
			return rc;
		}
	}
	HM_COUNT(fallback_pages, 1);
	return 0;
}

static void free_slots(struct hm_tier *t, const uint64_t *slots, size_t n)
{
	for (size_t k = 0; k < n; k++)
		hm_tier_free(t, slots[k], 1);
}

/* Write pages [0, n) from @src (present[k] false: a zero page) to @slots,
 * coalescing runs of consecutive slots, as one batch (hm_tier_write_batch:
 * one call to a backend that batches).  0 or -errno. */
static int write_pages(struct hm_tier *t, const uint64_t *slots, const char *src,
		       const unsigned char *present, size_t n)
{
	struct hm_tier_io io[HM_MAX_FOLIO_PAGES];
	size_t nio = 0, k = 0;
	while (k < n) {
		bool pres = present[k] & 1;
		size_t j = k + 1;
		if (pres)
			while (j < n && (present[j] & 1) && slots[j] == slots[k] + (j - k))
				j++;
		io[nio++] = (struct hm_tier_io){
			.handle = slots[k], .buf = pres ? src + (k << HM_PAGE_SHIFT) : zero_page, .npages = j - k};
		k = j;
	}
	return hm_tier_write_batch(t, io, nio);
}

/* ---------------------------------------------------------------------- */
/* Per-folio work                                                           */
/* ---------------------------------------------------------------------- */

enum action { ACT_SKIP, ACT_FETCH, ACT_DEMOTE, ACT_T2T, ACT_CMOVE, ACT_FAIL };

struct mfolio {
	size_t head;       /* first page index in the region */
	enum action act;
	int rc;            /* folio result (0 or -errno) */
	bool locked;
	bool wp;           /* demoted through the WP path */
	bool wp_run;       /* ... protected and copied with its run (wp_run_prepare) */
	bool committed;    /* ... committed with its run (wp_run_commit) */
	const char *wsrc;  /* wp_run: its copy in the bounce buffer */
	uintptr_t stage;   /* staging address (MOVE path) */
	uint64_t *slots;   /* target slots, one per page */
	int *pst;          /* ACT_CMOVE: each page's result (0, -errno), or
			    * PST_STAYS for a page that needs no move (there
			    * already, or never populated) */
};

#define PST_STAYS 1

/* What folio @f needs to reach @tier (@t; NULL for RAM); caller holds its
 * lock.  A page on a coherent tier (MAPPED) is in the page table: to RAM
 * or to another coherent tier it moves (ACT_CMOVE), to a private tier it
 * is demoted like a page in RAM. */
static enum action classify(struct hm_region *r, struct mfolio *f, int tier, struct hm_tier *t)
{
	size_t fp = region_folio_pages(r);
	size_t host = 0, none = 0, on_target = 0, on_other = 0, poison = 0, gone = 0, noread = 0;
	size_t mapped = 0, mapped_on = 0;
	for (size_t i = f->head; i < f->head + fp; i++) {
		uint64_t w = atomic_load(&r->words[i]);
		if (w & PW_NOREAD)
			noread++;
		switch (pw_loc(w)) {
		case HM_LOC_NONE: none++; break;
		case HM_LOC_HOST: host++; break;
		case HM_LOC_TIER:
			if (pw_tier(w) == tier)
				on_target++;
			else
				on_other++;
			break;
		case HM_LOC_POISON: poison++; break;
		case HM_LOC_MAPPED:
			mapped++;
			mapped_on += pw_tier(w) == tier;
			break;
		default: gone++; break;
		}
	}
	if (gone == fp) {
		f->rc = -EFAULT;
		return ACT_FAIL;
	}
	if (tier == 0) {
		if (!mapped)
			return on_target + on_other + poison ? ACT_FETCH : ACT_SKIP;
		/* pages on private tiers come home by copy first (a lost one
		 * stays POISON: its result says so), then the rest move */
		if (on_target + on_other + poison)
			(void)hm_folio_fetch(r, f->head, true);
		return ACT_CMOVE;
	}
	if (poison) {
		f->rc = -EIO;
		return ACT_FAIL;
	}
	if (hm_tier_is_coherent(t)) {
		if (on_other) {
			/* (a folio demoted to a private tier before) */
			int rc = hm_folio_fetch(r, f->head, true);
			if (rc) {
				f->rc = rc;
				return ACT_FAIL;
			}
			host += on_other;
		}
		return host + mapped - mapped_on ? ACT_CMOVE : ACT_SKIP;
	}
	host += mapped; /* in the page table: demoted as from RAM */
	if (host + none + on_other == 0 || host + on_other == 0)
		return ACT_SKIP; /* all there already, or never populated */
	if (noread && host) {
		f->rc = -EACCES;
		return ACT_FAIL;
	}
	if (host && (on_other || on_target)) {
		/* mixed (should not happen): make it whole in RAM first */
		int rc = hm_folio_fetch(r, f->head, true);
		if (rc) {
			f->rc = rc;
			return ACT_FAIL;
		}
		return ACT_DEMOTE;
	}
	return host ? ACT_DEMOTE : ACT_T2T;
}

/* Take folio @f of @r out of RAM onto tier @t (copy phase), first half:
 * take its slots, then move its pages out of the program's view into
 * @stage (MOVE), or choose the write-protect path (f->wp).  Every folio of a
 * batch is staged before any is written (demote_write), so the staging
 * range is checked for holes once for the whole batch and dropped once. */
static int demote_stage(struct hm_region *r, struct mfolio *f, struct hm_tier *t, uintptr_t stage)
{
	size_t fp = region_folio_pages(r);
	size_t len = fp << HM_PAGE_SHIFT;
	uintptr_t addr = r->base + (f->head << HM_PAGE_SHIFT);
	int rc = alloc_slots(t, fp, f->slots);
	if (rc)
		return rc;
	f->wp = hm_g.demote == HM_DEMOTE_WP || (atomic_load(&r->words[f->head]) & PW_NOWRITE);
	if (!f->wp) {
		rc = stage_folio(stage, addr, len);
		if (rc) {
			if (rc != -EBUSY && rc != -EINVAL && rc != -EAGAIN && rc != -ENOMEM)
				goto err_slots;
			/* UFFDIO_MOVE refused this folio.  With async write-protect
			 * (write tracking, track.c) a write to a protected page is
			 * resolved by the kernel without waiting: the WP path could
			 * lose it, so the folio stays in RAM */
			f->wp = hm_g.feat.wp && !hm_track_wp_async();
			if (!f->wp)
				goto err_slots;
		} else {
			f->stage = stage;
		}
	}
	return 0;

err_slots:
	free_slots(t, f->slots, fp);
	return rc;
}

/* Second half: copy the folio to its slots.  @spresent: for a staged folio,
 * which of its staging pages hold data (from the batch's one check; NULL:
 * check here).  On a failure the folio is back in the program's view. */
static int demote_write(struct hm_region *r, struct mfolio *f, struct hm_tier *t, const unsigned char *spresent)
{
	size_t fp = region_folio_pages(r);
	size_t len = fp << HM_PAGE_SHIFT;
	uintptr_t addr = r->base + (f->head << HM_PAGE_SHIFT);
	uintptr_t stage = f->stage;
	unsigned char present[HM_MAX_FOLIO_PAGES];
	const unsigned char *pres = present;
	int rc;
	const char *src;
	if (f->wp && !f->wp_run) {
		rc = uffd_wp_retry(addr, len, true);
		if (rc)
			goto err_slots;
	}
	if (f->wp) {
		/* A device writing in place holds pages pinned and writes past the
		 * write-protect: copying and discarding now would lose its write.
		 * Checked after protecting, so a device write that starts later
		 * faults on the protection and waits for the folio. */
		if (atomic_load(&r->dev_writers)) {
			rc = -EBUSY;
			goto err_restore;
		}
		src = (const char *)addr;
	} else {
		src = (const char *)stage;
	}
	if ((f->wp && !f->wp_run) || !spresent) {
		rc = hm_prim_pages_present((void *)src, len, present);
		if (rc)
			goto err_restore;
	} else {
		pres = spresent;
	}
	if (f->wp_run) {
		src = f->wsrc;
	} else if (f->wp) {
		/* Read the protected folio with a system call, not with loads:
		 * if the program unmaps it meanwhile (munmap racing a demotion)
		 * this fails with EFAULT instead of a SIGSEGV in the mover.
		 * Absent pages are not read (they are written as zeros). */
		char *b = hm_bounce();
		if (!b) {
			rc = -ENOMEM;
			goto err_restore;
		}
		for (size_t k = 0, j; k < fp && !rc; k = j) {
			for (j = k + 1; j < fp && (present[j] & 1) == (present[k] & 1);)
				j++;
			if (present[k] & 1)
				rc = hm_prim_vm_rw(b + (k << HM_PAGE_SHIFT), (const void *)(addr + (k << HM_PAGE_SHIFT)),
						   (j - k) << HM_PAGE_SHIFT, false);
		}
		if (rc)
			goto err_restore;
		src = b;
	}
	rc = write_pages(t, f->slots, src, pres, fp);
	if (rc)
		goto err_restore;
	return 0;

err_restore:
	if (f->wp) {
		uffd_wp_retry(addr, len, false);
	} else {
		put_back(addr, stage, len);
		hm_sys_madvise((void *)stage, len, MADV_DONTNEED);
		f->stage = 0;
	}
err_slots:
	free_slots(t, f->slots, fp);
	return rc;
}

/*
 * Write-protect demotion in runs.  Adjacent folios of a batch that all take
 * the WP path are protected with one UFFDIO_WRITEPROTECT, checked for holes
 * once, copied with one process_vm_readv per run of present pages into the
 * bounce buffer (a run is at most its 2 MiB), and at commit discarded with
 * one MADV_DONTNEED (one REMOVE event for the handler to read, one wait for
 * it) and unprotected once: per 4 KiB folio those were six system calls and
 * a round trip to the handler thread.
 */
#define WP_RUN_PAGES HM_MAX_FOLIO_PAGES

/* The end of the WP run that starts at fs[k]: folios staged for the WP
 * path, adjacent in the region, WP_RUN_PAGES at most. */
static size_t wp_run_end(const struct mfolio *fs, size_t k, size_t nf, size_t fp, bool committing)
{
	size_t e = k + 1;
	while (e < nf && (e - k + 1) * fp <= WP_RUN_PAGES && fs[e].act == ACT_DEMOTE && !fs[e].rc && fs[e].wp &&
	       fs[e].head == fs[e - 1].head + fp && (!committing || fs[e].wp_run))
		e++;
	return e;
}

/* Protect, check and copy the run fs[k..e): on success each folio's wp_run
 * is set, its copy at wsrc and its pages' presence in @pres (from the run's
 * first page).  On a failure nothing is marked (unprotected again) and each
 * folio goes the single-folio way. */
static void wp_run_prepare(struct hm_region *r, struct mfolio *fs, size_t k, size_t e, unsigned char *pres)
{
	size_t fp = region_folio_pages(r), n = (e - k) * fp;
	uintptr_t addr = r->base + (fs[k].head << HM_PAGE_SHIFT);
	size_t len = n << HM_PAGE_SHIFT;
	char *b = hm_bounce();
	if (e - k < 2 || !b || uffd_wp_retry(addr, len, true))
		return;
	int rc = hm_prim_pages_present((void *)addr, len, pres);
	for (size_t i = 0, j; i < n && !rc; i = j) {
		for (j = i + 1; j < n && (pres[j] & 1) == (pres[i] & 1);)
			j++;
		if (pres[i] & 1)
			rc = hm_prim_vm_rw(b + (i << HM_PAGE_SHIFT), (const void *)(addr + (i << HM_PAGE_SHIFT)),
					   (j - i) << HM_PAGE_SHIFT, false);
	}
	if (rc) {
		uffd_wp_retry(addr, len, false);
		return;
	}
	for (size_t j = k; j < e; j++) {
		fs[j].wp_run = true;
		fs[j].wsrc = b + ((fs[j].head - fs[k].head) << HM_PAGE_SHIFT);
	}
}

static void commit_words(struct hm_region *r, struct mfolio *f, struct hm_tier *t);
static void selfzap_wait(struct hm_region *r, size_t first, size_t last);

/* Commit the written run fs[k..e) (all WP, rc 0; a single folio is a run
 * of one): one discard, one
 * wait for the handler, the words, one unprotect.  On a failed discard the
 * RAM copies stay authoritative: every folio of the run gets its rc. */
static void wp_run_commit(struct hm_region *r, struct mfolio *fs, size_t k, size_t e, struct hm_tier *t)
{
	size_t fp = region_folio_pages(r);
	size_t first = fs[k].head, last = fs[e - 1].head + fp;
	uintptr_t addr = r->base + (first << HM_PAGE_SHIFT);
	size_t len = (last - first) << HM_PAGE_SHIFT;
	for (size_t i = first; i < last; i++)
		atomic_fetch_or(&r->words[i], PW_SELFZAP);
	int rc = hm_prim_madvise((void *)addr, len, MADV_DONTNEED);
	/* the handler clears SELFZAP when it sees the REMOVE event; with no
	 * event (failure, or a kernel without REMOVE events) we do */
	if (rc || !hm_g.feat.event_remove)
		for (size_t i = first; i < last; i++)
			atomic_fetch_and(&r->words[i], ~PW_SELFZAP);
	if (!rc && hm_g.feat.event_remove)
		selfzap_wait(r, first, last);
	for (size_t j = k; j < e; j++) {
		fs[j].committed = true;
		if (rc) {
			free_slots(t, fs[j].slots, fp);
			fs[j].rc = rc;
		} else {
			commit_words(r, &fs[j], t);
		}
	}
	uffd_wp_retry(addr, len, false);
}

/* madvise returns once the handler has READ the REMOVE event, not handled
 * it.  Wait until it has cleared SELFZAP on pages [first, last): once
 * unlocked, a folio may be fetched and demoted again, and a late handler
 * would clear the new SELFZAP marks, then take that second discard for the
 * program's and drop the data. */
static void selfzap_wait(struct hm_region *r, size_t first, size_t last)
{
	struct timespec t0, now, nap = {0, 10 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = first; i < last; i++) {
		unsigned spins = 0;
		while (atomic_load(&r->words[i]) & PW_SELFZAP) {
			if (++spins < 64) {
				sched_yield();
				continue;
			}
			nanosleep(&nap, NULL);
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec > 5) { /* handler gone: do not wedge */
				atomic_fetch_and(&r->words[i], ~PW_SELFZAP);
				break;
			}
		}
	}
}

/* The words of demoted folio @f point at its slots on @t; counts. */
static void commit_words(struct hm_region *r, struct mfolio *f, struct hm_tier *t)
{
	size_t fp = region_folio_pages(r);
	size_t host = 0;
	for (size_t k = 0; k < fp; k++) {
		uint64_t old = pw_set(&r->words[f->head + k], HM_LOC_TIER, t->id, f->slots[k]);
		if (pw_loc(old) == HM_LOC_HOST)
			host++;
		else if (pw_loc(old) == HM_LOC_MAPPED)
			hm_coherent_left(old, true);
	}
	HM_COUNT(resident_pages, -(uint64_t)host);
	HM_COUNT(pages_demoted, fp);
	hm_policy_demoted(r, f->head);
}

/* Commit a demotion: the words point at the tier; RAM copies go. */
static int demote_commit(struct hm_region *r, struct mfolio *f, struct hm_tier *t)
{
	if (f->wp) { /* a run of one */
		wp_run_commit(r, f, 0, 1, t);
		return f->rc;
	}
	commit_words(r, f, t);
	return 0;
}

/* Move a folio that lives on tiers (and maybe NONE pages) to tier @t. */
static int t2t_copy(struct hm_region *r, struct mfolio *f, struct hm_tier *t)
{
	size_t fp = region_folio_pages(r);
	int rc = alloc_slots(t, fp, f->slots);
	if (rc)
		return rc;
	char *b = hm_bounce();
	if (!b) {
		rc = -ENOMEM;
		goto err;
	}
	for (size_t k = 0; k < fp; k++) {
		uint64_t w = atomic_load(&r->words[f->head + k]);
		const void *src = zero_page;
		if (pw_loc(w) == HM_LOC_TIER) {
			struct hm_tier *from = hm_tier_get(pw_tier(w));
			rc = from ? hm_tier_read(from, pw_slot(w), b, 1) : -EIO;
			if (rc)
				goto err;
			src = b;
		}
		rc = hm_tier_write(t, f->slots[k], src, 1);
		if (rc)
			goto err;
	}
	return 0;
err:
	free_slots(t, f->slots, fp);
	return rc;
}

static void t2t_commit(struct hm_region *r, struct mfolio *f, struct hm_tier *t)
{
	size_t fp = region_folio_pages(r);
	for (size_t k = 0; k < fp; k++) {
		uint64_t old = pw_set(&r->words[f->head + k], HM_LOC_TIER, t->id, f->slots[k]);
		if (pw_loc(old) == HM_LOC_TIER) {
			struct hm_tier *from = hm_tier_get(pw_tier(old));
			if (from)
				hm_tier_free(from, pw_slot(old), 1);
		}
	}
	HM_COUNT(pages_tier2tier, fp);
}

/* ---------------------------------------------------------------------- */
/* Coherent tiers: pages stay mapped, the kernel moves them (ops->move)     */
/* ---------------------------------------------------------------------- */

/* Does page word @w of a folio going to @tier (@t, NULL: RAM) need a move? */
static bool cmove_needs(uint64_t w, int tier)
{
	unsigned loc = pw_loc(w);
	if (!tier)
		return loc == HM_LOC_MAPPED;
	return loc == HM_LOC_HOST || (loc == HM_LOC_MAPPED && pw_tier(w) != tier);
}

/* The pages of the batch's ACT_CMOVE folios that move in the call for
 * coherent tier @src (to RAM; any, to a coherent tier): with @get, their
 * results from st[] into the folios' pst; else their addresses into
 * pages[].  Returns how many. */
static size_t cmove_walk(struct hm_region *r, struct mfolio *fs, size_t nf, int tier, int src, void **pages,
			 const int *st, bool get)
{
	size_t fp = region_folio_pages(r), n = 0;
	for (size_t k = 0; k < nf; k++) {
		struct mfolio *f = &fs[k];
		if (f->act != ACT_CMOVE)
			continue;
		for (size_t i = 0; i < fp; i++) {
			uint64_t w = atomic_load(&r->words[f->head + i]);
			if (f->pst[i] == PST_STAYS || (!tier && pw_tier(w) != src))
				continue;
			if (get)
				f->pst[i] = st[n];
			else
				pages[n] = (void *)(r->base + ((f->head + i) << HM_PAGE_SHIFT));
			n++;
		}
	}
	return n;
}

/* Phase 2 for the ACT_CMOVE folios of a batch: one ops->move call for all
 * their pages that need it (to RAM: one per coherent tier they are on),
 * each page's result into its folio's pst. */
static void cmove_batch(struct hm_region *r, struct mfolio *fs, size_t nf, int tier, struct hm_tier *t,
			void **pages, int *st)
{
	size_t fp = region_folio_pages(r);
	uint16_t srcs = 0; /* to RAM: the coherent tiers the pages are on */
	for (size_t k = 0; k < nf; k++) {
		struct mfolio *f = &fs[k];
		if (f->act != ACT_CMOVE)
			continue;
		for (size_t i = 0; i < fp; i++) {
			uint64_t w = atomic_load(&r->words[f->head + i]);
			bool need = cmove_needs(w, tier);
			f->pst[i] = need ? -EIO : PST_STAYS;
			if (need && !tier)
				srcs |= (uint16_t)(1u << pw_tier(w));
		}
	}
	for (int src = tier ? 0 : 1; src < (tier ? 1 : HM_MAX_TIERS); src++) {
		if (!tier && !(srcs & (1u << src)))
			continue;
		struct hm_tier *mt = tier ? t : hm_tier_get(src);
		size_t n = cmove_walk(r, fs, nf, tier, src, pages, NULL, false);
		if (!n)
			continue;
		if (mt && hm_tier_is_coherent(mt))
			mt->ops->move(mt, pages, n, tier != 0, st);
		else
			for (size_t j = 0; j < n; j++)
				st[j] = -EIO; /* its tier is gone */
		cmove_walk(r, fs, nf, tier, src, NULL, st, true);
	}
}

/* Phase 3 for an ACT_CMOVE folio: the moved pages' words and counts (added
 * once per folio: atomics are what a page costs here); the pages' results
 * into @status (as migrate_folios does). */
static long cmove_commit(struct hm_region *r, struct mfolio *f, int tier, struct hm_tier *t, int *status,
			 size_t first)
{
	size_t fp = region_folio_pages(r);
	long moved = 0;
	size_t in = 0, out = 0, host_left = 0, failed = 0;
	uint64_t left[HM_MAX_TIERS] = {0}; /* pages that left each coherent tier */
	for (size_t i = 0; i < fp; i++) {
		size_t pg = f->head + i;
		int st = f->pst[i];
		if (st == PST_STAYS) {
			unsigned loc = pw_loc(atomic_load(&r->words[pg]));
			st = loc == HM_LOC_POISON || loc == HM_LOC_TIER ? -EIO
			     : loc == HM_LOC_UNMAPPED                   ? -EFAULT
									: HM_MIGRATE_SKIPPED;
		} else if (!st) {
			uint64_t old = pw_set(&r->words[pg], tier ? HM_LOC_MAPPED : HM_LOC_HOST, tier, 0);
			if (pw_loc(old) == HM_LOC_MAPPED)
				left[pw_tier(old)]++;
			else
				host_left++;
			if (tier)
				out++;
			else
				in++;
		}
		if (st == 0)
			moved++;
		else if (st < 0)
			failed++;
		if (status)
			status[pg - first] = st;
	}
	for (int k = 1; k < HM_MAX_TIERS; k++) {
		struct hm_tier *from = left[k] ? hm_tier_get(k) : NULL;
		if (from) {
			atomic_fetch_sub(&from->used_slots, left[k]);
			atomic_fetch_add(&from->pages_out, left[k]);
		}
	}
	if (failed)
		HM_COUNT(migrate_failures, failed);
	if (in + out) /* migrated pages read soft-dirty on 6.1 (track/write.c) */
		atomic_fetch_or_explicit(&r->words[f->head], PW_PLACED, memory_order_relaxed);
	if (host_left)
		HM_COUNT(resident_pages, -(uint64_t)host_left);
	if (out) {
		atomic_fetch_add(&t->used_slots, out);
		atomic_fetch_add(&t->pages_in, out);
		HM_COUNT(coherent_pages_out, out);
		HM_COUNT(pages_demoted, out);
		hm_policy_demoted(r, f->head);
	}
	if (in) {
		HM_COUNT(resident_pages, in);
		HM_COUNT(coherent_pages_in, in);
		HM_COUNT(pages_promoted, in);
		hm_policy_event(r, f->head, HM_EV_PROMOTE);
	}
	return moved;
}

static bool lock_within(struct hm_region *r, size_t head, unsigned flags)
{
	if (hm_folio_trylock(r, head, NULL))
		return true;
	if (flags & HM_MIG_TRY)
		return false;
	if (flags & HM_MIG_WAIT) {
		hm_folio_lock(r, head);
		return true;
	}
	struct timespec t0, now, nap = {0, 20 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		nanosleep(&nap, NULL);
		if (hm_folio_trylock(r, head, NULL))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) > BUSY_WAIT_NS)
			return false;
	}
}

/* ---------------------------------------------------------------------- */
/* The three phases                                                         */
/* ---------------------------------------------------------------------- */

/*
 * Migrate the folios at fs[0..nf).head (each at most once, any order, at
 * most BATCH_PAGES pages in all, CBATCH_PAGES for coherent moves) of @r to @tier: lock and classify, copy,
 * commit or restore.  Per-page results go to status[page - first] when
 * @status is given.  Returns the pages moved.
 */
static long migrate_folios(struct hm_region *r, struct mfolio *fs, size_t nf, int tier, struct hm_tier *t,
			   int *status, size_t first, unsigned flags, void **cpages, int *cst)
{
	size_t fp = region_folio_pages(r);
	long moved = 0;
	/* phase 1: lock and classify */
	for (size_t k = 0; k < nf; k++) {
		struct mfolio *f = &fs[k];
		size_t head = f->head;
		if (!lock_within(r, head, flags)) {
			f->act = ACT_FAIL;
			f->rc = -EBUSY;
			continue;
		}
		f->locked = true;
		/* a folio out for a hint-fault sample comes back first */
		if (hm_folio_sampled(r, head)) {
			int rc = hm_track_restore(r, head);
			if (rc) {
				f->act = ACT_FAIL;
				f->rc = rc;
				continue;
			}
		}
		f->act = classify(r, f, tier, t);
	}
	/* phase 2: copy.  Demotions are staged first, all into one staging
	 * chunk, which is then checked for holes once and dropped once: a
	 * MADV_DONTNEED costs a TLB-flush interrupt on every CPU running the
	 * program and a REMOVE event the handler must read. */
	uintptr_t stage = 0;
	if (t && !hm_tier_is_coherent(t) && hm_g.demote == HM_DEMOTE_MOVE)
		for (size_t k = 0; k < nf && !stage; k++)
			if (fs[k].act == ACT_DEMOTE)
				stage = staging_get();
	uintptr_t stage_off = 0;
	bool have_cmove = false;
	for (size_t k = 0; k < nf; k++) {
		struct mfolio *f = &fs[k];
		switch (f->act) {
		case ACT_FETCH:
			f->rc = hm_folio_fetch(r, f->head, true);
			if (!f->rc)
				hm_policy_event(r, f->head, HM_EV_PROMOTE);
			break;
		case ACT_DEMOTE:
			f->rc = demote_stage(r, f, t, stage + stage_off);
			stage_off += fp << HM_PAGE_SHIFT;
			break;
		case ACT_T2T:
			f->rc = t2t_copy(r, f, t);
			break;
		case ACT_CMOVE:
			have_cmove = true;
			break;
		default:
			break;
		}
	}
	if (have_cmove)
		cmove_batch(r, fs, nf, tier, t, cpages, cst);
	unsigned char spresent[BATCH_PAGES];
	bool have_present = stage_off && !hm_prim_pages_present((void *)stage, stage_off, spresent);
	unsigned char wpres[WP_RUN_PAGES];
	for (size_t k = 0; k < nf;) {
		struct mfolio *f = &fs[k];
		if (f->act != ACT_DEMOTE || f->rc) {
			k++;
			continue;
		}
		if (f->wp) {
			/* a run of WP folios (one folio: the single way) */
			size_t e = wp_run_end(fs, k, nf, fp, false);
			wp_run_prepare(r, fs, k, e, wpres);
			for (size_t j = k; j < e; j++)
				fs[j].rc = demote_write(r, &fs[j], t,
							fs[j].wp_run ? wpres + (fs[j].head - f->head) : NULL);
			k = e;
			continue;
		}
		const unsigned char *sp = NULL;
		if (have_present)
			sp = spresent + ((f->stage - stage) >> HM_PAGE_SHIFT);
		f->rc = demote_write(r, f, t, sp);
		k++;
	}
	/* phase 3: commit or restore, results, unlock; WP runs first */
	for (size_t k = 0; k < nf;) {
		if (fs[k].act != ACT_DEMOTE || fs[k].rc || !fs[k].wp_run) {
			k++;
			continue;
		}
		size_t e = wp_run_end(fs, k, nf, fp, true);
		wp_run_commit(r, fs, k, e, t);
		k = e;
	}
	for (size_t k = 0; k < nf; k++) {
		struct mfolio *f = &fs[k];
		if (f->act == ACT_DEMOTE && !f->rc && !f->committed)
			f->rc = demote_commit(r, f, t);
		else if (f->act == ACT_T2T && !f->rc)
			t2t_commit(r, f, t);
		if (f->act == ACT_CMOVE) {
			moved += cmove_commit(r, f, tier, t, status, first);
			if (f->locked)
				hm_folio_unlock(r, f->head);
			continue;
		}
		for (size_t i = f->head; i < f->head + fp; i++) {
			int st;
			uint64_t w = atomic_load(&r->words[i]);
			if (f->act == ACT_SKIP)
				st = HM_MIGRATE_SKIPPED;
			else if (f->act == ACT_FETCH)
				/* a page still on a tier did not come home (a
				 * transient error outlasted the retries) */
				st = pw_loc(w) == HM_LOC_POISON ? -EIO
				     : pw_loc(w) == HM_LOC_UNMAPPED ? -EFAULT
				     : pw_loc(w) == HM_LOC_TIER ? (f->rc ? f->rc : -EIO) : 0;
			else
				st = f->rc;
			if (st == 0)
				moved++;
			else if (st < 0)
				HM_COUNT(migrate_failures, 1);
			if (status)
				status[i - first] = st;
		}
		if (f->locked)
			hm_folio_unlock(r, f->head);
	}
	if (stage)
		staging_put(stage);
	return moved;
}

/*
 * Migrate the folios of @r from page @first to @last (folio-aligned) to
 * @tier, a batch at a time (@heads NULL); or, with @heads, the @n folios
 * whose first pages it lists (no @status then).
 */
static long migrate_many(struct hm_region *r, size_t first, size_t last, const size_t *heads, size_t n, int tier,
			 int *status, unsigned flags)
{
	size_t fp = region_folio_pages(r);
	struct hm_tier *t = tier ? hm_tier_get(tier) : NULL;
	if (tier && !t)
		return -ENOENT;
	/* to RAM while coherent tiers exist, the pages may be MAPPED: the
	 * large batches too (holding more folio locks at once) */
	size_t batch = hm_tier_is_coherent(t) || (!tier && hm_numa_local_mask()) ? CBATCH_PAGES : BATCH_PAGES;
	size_t nfolios_max = batch / fp;
	/* per folio its state; per page: target slots; for coherent moves,
	 * results, addresses and the move call's results */
	struct mfolio *fs = malloc(nfolios_max * sizeof(*fs) + batch * (3 * sizeof(uint64_t) + 2 * sizeof(int)));
	if (!fs)
		return -ENOMEM;
	uint64_t *slots = (uint64_t *)(fs + nfolios_max);
	void **cpages = (void **)(slots + batch);
	int *pst = (int *)(cpages + batch);
	int *cst = pst + batch;
	if (!heads)
		n = (last - first + fp - 1) / fp;
	long moved = 0;
	pthread_rwlock_rdlock(&hm_g.fork_lock);
	for (size_t done = 0; done < n;) {
		size_t nf = 0;
		for (; done < n && nf < nfolios_max; done++, nf++) {
			struct mfolio *f = &fs[nf];
			memset(f, 0, sizeof(*f));
			f->head = heads ? heads[done] : first + done * fp;
			f->slots = slots + nf * fp;
			f->pst = pst + nf * fp;
		}
		moved += migrate_folios(r, fs, nf, tier, t, status, first, flags, cpages, cst);
	}
	pthread_rwlock_unlock(&hm_g.fork_lock);
	free(fs);
	return moved;
}

long hm_migrate_region(struct hm_region *r, size_t first, size_t last, int tier, int *status, unsigned flags)
{
	return migrate_many(r, first, last, NULL, 0, tier, status, flags);
}

long hm_migrate_heads(struct hm_region *r, const size_t *heads, size_t n, int tier, unsigned flags)
{
	return migrate_many(r, 0, 0, heads, n, tier, NULL, flags);
}

/* ---------------------------------------------------------------------- */
/* Public face                                                              */
/* ---------------------------------------------------------------------- */

HM_API size_t hm_migrate_pages(const void *addr, size_t len)
{
	if (!atomic_load(&hm_g.initialised) || !len)
		return 0;
	uintptr_t a = (uintptr_t)addr, end = a + len, lo = a, hi = end;
	struct hm_region *r = hm_region_get(a);
	if (r) {
		size_t fs = (size_t)1 << r->folio_shift;
		lo = a & ~(fs - 1);
		hm_region_put(r);
	}
	r = hm_region_get(end - 1);
	if (r) {
		size_t fs = (size_t)1 << r->folio_shift;
		hi = (end + fs - 1) & ~(fs - 1);
		hm_region_put(r);
	}
	return (hi - lo) >> HM_PAGE_SHIFT;
}

HM_API long hm_migrate(void *addr, size_t len, int tier, int *status)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_migrate: hetmem is not initialised");
	uintptr_t a = (uintptr_t)addr;
	if ((a & (HM_PAGE_SIZE - 1)) || (len & (HM_PAGE_SIZE - 1)) || len == 0 || a + len < a)
		return hm_error(EINVAL, "hm_migrate: [%p, +%zu) is not a non-empty page-aligned range", addr, len);
	if (tier < 0 || tier >= HM_MAX_TIERS)
		return hm_error(EINVAL, "hm_migrate: tier %d is out of range (0..%d)", tier, HM_MAX_TIERS - 1);
	if (tier && !hm_tier_get(tier))
		return hm_error(ENOENT, "hm_migrate: there is no tier %d", tier);
	struct hm_region *rs[64];
	int n = hm_regions_get_range(a, len, rs, 64);
	if (n < 0)
		return hm_error(EINVAL, "hm_migrate: [%p, +%zu) is not all managed memory", addr, len);
	long total = 0;
	size_t st_off = 0;
	uintptr_t end = a + len;
	for (int j = 0; j < n; j++) {
		struct hm_region *r = rs[j];
		size_t fsz = (size_t)1 << r->folio_shift;
		uintptr_t lo = (a > r->base ? a : r->base) & ~(fsz - 1);
		uintptr_t hi = end < r->base + r->size ? end : r->base + r->size;
		hi = (hi + fsz - 1) & ~(fsz - 1);
		long m = hm_migrate_region(r, (lo - r->base) >> HM_PAGE_SHIFT, (hi - r->base) >> HM_PAGE_SHIFT,
					   tier, status ? status + st_off : NULL, 0);
		st_off += (hi - lo) >> HM_PAGE_SHIFT;
		if (m < 0) {
			if (total == 0)
				total = hm_error((int)-m, "hm_migrate: tier %d disappeared", tier);
		} else if (total >= 0) {
			total += m;
		}
	}
	for (int j = 0; j < n; j++)
		hm_region_put(rs[j]);
	return total;
}
