/*
 * sample.c — read sampling by hint faults: the sample table, taking samples
 * and putting them back.
 *
 * Each scan takes a rate-limited sample of resident folios, from a window
 * that sweeps all managed folios from a random start, out of the page table:
 * the folio's pages are moved with UFFDIO_MOVE (no copy) into a private hold
 * area registered with the same userfaultfd; the page-table words keep
 * LOC = HOST and get the SAMPLED bit.  When the program touches one, the
 * fault handler moves the pages straight back (hm_folio_fetch ->
 * hm_track_restore) and gives the policy an HM_EV_HINT.  Samples not touched
 * within HETMEM_TRACK_SAMPLE_MS (1 s) are put back by a later scan, with no
 * event: that is cold evidence.
 *
 * Correctness.  A sample (struct sample) covers pages [page, page+n) of a
 * region and sits at @hold in the hold area.  All samples are in one table
 * under T.lock, and a sample's data moves back only under T.lock, so two
 * parties never restore it twice.  The invariant is that a page marked
 * SAMPLED is absent from the page table and only a restore repopulates it:
 * every path that works on a folio's data first puts its samples back
 * (hm_folio_fetch: program faults, device accesses, evictions, fork;
 * hm_migrate_region phase 1: migrations, reclaim, shutdown), so it sees an
 * ordinary resident folio.  Discards and unmaps (REMOVE/UNMAP events,
 * hm_free, region_free) drop the held copy of the pages concerned
 * (hm_track_drop); a partial mremap re-keys or splits the samples to the new
 * region (hm_track_remap) — the held data follows the addresses.  Before
 * fork every sample is put back (and any that could not be is fenced with
 * SIGBUS in the child like a page on a device).  Taking a sample needs the
 * folio lock (trylock) and the fork lock shared, and only folios wholly
 * HOST, unprotected, with no event pending and no device write in flight are
 * taken.  A restore that meets -EAGAIN (an event waits to be read) on the
 * handler thread gives up at once and the faulting thread faults again;
 * elsewhere it retries outside T.lock.  If a sample's region is now
 * read-only (hm_protect), UFFDIO_MOVE refuses (EINVAL: the VMAs' protections
 * differ) and the pages are copied back with UFFDIO_COPY.
 */
#include "track/track_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* ---------------------------------------------------------------------- */
/* Samples: the table (under T.lock)                                        */
/* ---------------------------------------------------------------------- */

static int chunk_alloc(void)
{
	for (int k = 0; k < T.nchunk; k++) {
		int i = (int)((T.next_chunk + (unsigned)k) % (unsigned)T.nchunk);
		if (i != PROBE_CHUNK && !T.chunk_refs[i] && !T.chunk_zap[i]) {
			T.chunk_refs[i] = 1;
			T.next_chunk = (unsigned)i + 1;
			return i;
		}
	}
	return -1;
}

static void ent_remove(size_t k)
{
	struct sample *e = &T.ent[k];
	/* a chunk that may hold stale pages is zapped by the reclaimer before
	 * it is used again (zap_chunks): never here, since MADV_DONTNEED on
	 * the registered hold area waits for the handler to read its REMOVE
	 * event, and this may run on the handler or hold up the handler */
	if (--T.chunk_refs[e->chunk] == 0 && T.chunk_dirty[e->chunk])
		T.chunk_zap[e->chunk] = true;
	T.ent[k] = T.ent[--T.nent];
}

static void clear_bits(struct hm_region *r, size_t i, size_t n)
{
	for (size_t k = i; k < i + n; k++)
		atomic_fetch_and(&r->words[k], ~PW_SAMPLED);
}

/* Copy back the present pages of @e from @off on (the region became
 * read-only, so UFFDIO_MOVE refuses).  Only present hold pages are read: a
 * hole would fault on the hold area.  0 or -errno (progress in *off). */
static int copy_back(struct sample *e, uintptr_t dst, size_t *off)
{
	size_t len = e->n << HM_PAGE_SHIFT;
	unsigned char present[HM_MAX_FOLIO_PAGES];
	while (*off < len) {
		size_t chunk = len - *off;
		if (chunk > ((size_t)HM_MAX_FOLIO_PAGES << HM_PAGE_SHIFT))
			chunk = (size_t)HM_MAX_FOLIO_PAGES << HM_PAGE_SHIFT;
		int rc = hm_prim_pages_present((void *)(e->hold + *off), chunk, present);
		if (rc)
			return rc;
		for (size_t k = 0; k < chunk >> HM_PAGE_SHIFT; k++) {
			if (present[k] & 1) {
				size_t done = 0;
				rc = hm_prim_uffd_copy(hm_g.uffd, dst + *off, (void *)(e->hold + *off), HM_PAGE_SIZE, false,
						       &done);
				if (rc && rc != -EEXIST)
					return rc;
			}
			*off += HM_PAGE_SIZE;
		}
	}
	return 0;
}

/* Put sample @k's data back into its region and forget the sample.
 * 0, or -EAGAIN (progress kept; try again), or another -errno (kept). */
static int restore_ent(size_t k)
{
	struct sample *e = &T.ent[k];
	uintptr_t dst = e->r->base + (e->page << HM_PAGE_SHIFT);
	size_t len = e->n << HM_PAGE_SHIFT, off = 0, copied = SIZE_MAX;
	int rc = 0;
	while (off < len) {
		size_t done = 0;
		rc = hm_prim_uffd_move(hm_g.uffd, dst + off, e->hold + off, len - off, &done);
		off += done;
		if (!rc)
			break;
		if (rc == -EEXIST) {
			/* present in the region already (restored before by a
			 * partial restore, or never moved out by a partial sample),
			 * or a write-protect marker UFFDIO_MOVE takes for present:
			 * UFFDIO_COPY tells them apart (it fills a marker), so copy
			 * the rest; what stays in the hold area is stale */
			off &= ~(HM_PAGE_SIZE - 1);
			T.chunk_dirty[e->chunk] = true;
			copied = off;
			rc = copy_back(e, dst, &off);
			break;
		}
		if (rc == -EINVAL) { /* protections differ now (hm_protect) */
			T.chunk_dirty[e->chunk] = true;
			copied = off;
			rc = copy_back(e, dst, &off);
		}
		break;
	}
	/* a copy lands in RAM: a page of a coherent tier copied back is HOST */
	for (size_t p = copied >> HM_PAGE_SHIFT; copied != SIZE_MAX && p < off >> HM_PAGE_SHIFT; p++) {
		uint64_t w = atomic_load(&e->r->words[e->page + p]);
		if (pw_loc(w) == HM_LOC_MAPPED) {
			hm_coherent_left(pw_set(&e->r->words[e->page + p], HM_LOC_HOST, 0, 0), false);
			HM_COUNT(resident_pages, 1);
		}
	}
	if (rc) {
		/* what moved back is back; shrink the sample to the rest so a
		 * retry does not walk it again */
		size_t skip = off >> HM_PAGE_SHIFT;
		if (skip && skip < e->n) {
			clear_bits(e->r, e->page, skip);
			e->page += skip;
			e->n -= skip;
			e->hold += skip << HM_PAGE_SHIFT;
		}
		return rc;
	}
	clear_bits(e->r, e->page, e->n);
	ent_remove(k);
	return 0;
}

static bool overlaps(const struct sample *e, const struct hm_region *r, size_t i, size_t n)
{
	return e->r == r && e->page < i + n && i < e->page + e->n;
}

int hm_track_restore(struct hm_region *r, size_t head)
{
	size_t fp = region_folio_pages(r);
	bool handler = hm_on_handler();
	for (int tries = 0;; tries++) {
		int rc = 0;
		pthread_mutex_lock(&T.lock);
		for (size_t k = 0; k < T.nent && !rc;) {
			if (!overlaps(&T.ent[k], r, head, fp)) {
				k++;
				continue;
			}
			rc = restore_ent(k); /* on success entry k is now another one */
			if (rc)
				break;
		}
		pthread_mutex_unlock(&T.lock);
		/* EAGAIN: an event waits for the handler; never wait for it on
		 * the handler itself, and never while holding T.lock */
		if (rc != -EAGAIN || handler || tries >= EAGAIN_TRIES)
			return rc;
		struct timespec ts = {0, 20 * 1000};
		nanosleep(&ts, NULL);
	}
}

void hm_track_restore_all(void)
{
	for (int tries = 0; tries < EAGAIN_TRIES; tries++) {
		bool again = false;
		pthread_mutex_lock(&T.lock);
		for (size_t k = 0; k < T.nent;) {
			if (restore_ent(k)) {
				again = true;
				k++;
			}
		}
		pthread_mutex_unlock(&T.lock);
		if (!again)
			return;
		struct timespec ts = {0, 20 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* Add a sample; caller holds T.lock.  False if the table is full. */
static bool ent_add(struct hm_region *r, size_t page, size_t n, uintptr_t hold, int chunk, uint32_t born);

void hm_track_drop(struct hm_region *r, size_t i, size_t n)
{
	pthread_mutex_lock(&T.lock);
	for (size_t k = 0; k < T.nent;) {
		struct sample *e = &T.ent[k];
		if (!overlaps(e, r, i, n)) {
			k++;
			continue;
		}
		size_t lo = e->page > i ? e->page : i;
		size_t hi = e->page + e->n < i + n ? e->page + e->n : i + n;
		size_t end = e->page + e->n;
		/* the held copies of [lo, hi) are stale now: no restore may put
		 * them back, so the sample stops covering them, and the chunk is
		 * zapped once free */
		T.chunk_dirty[e->chunk] = true;
		clear_bits(r, lo, hi - lo);
		if (lo == e->page && hi == end) {
			ent_remove(k);
			continue;
		}
		if (lo > e->page && hi < end &&
		    !ent_add(r, hi, end - hi, e->hold + ((hi - e->page) << HM_PAGE_SHIFT), e->chunk, e->born)) {
			/* no room to split (cannot happen while samples are only
			 * taken with 64 entries to spare, unless more than 64
			 * splits pile up within one sample's life): the part after
			 * loses its sample and would read zeros.  Said loudly. */
			fprintf(stderr, "hetmem: tracker: sample table full while dropping pages; "
					"%zu pages may read back as zeros\n", end - hi);
		}
		e = &T.ent[k];
		if (lo > e->page) {
			e->n = lo - e->page; /* the part before stays */
		} else {
			e->hold += (hi - e->page) << HM_PAGE_SHIFT;
			e->n = end - hi;
			e->page = hi;
		}
		k++;
	}
	pthread_mutex_unlock(&T.lock);
}

static bool ent_add(struct hm_region *r, size_t page, size_t n, uintptr_t hold, int chunk, uint32_t born)
{
	if (T.nent == MAX_ENT)
		return false;
	T.ent[T.nent++] = (struct sample){.r = r, .page = page, .n = n, .hold = hold, .chunk = chunk, .born = born};
	T.chunk_refs[chunk]++;
	return true;
}

void hm_track_remap(struct hm_region *from, size_t first, size_t n, struct hm_region *to)
{
	pthread_mutex_lock(&T.lock);
	size_t nent = T.nent; /* entries added below need no visit */
	for (size_t k = 0; k < nent; k++) {
		struct sample *e = &T.ent[k];
		if (!overlaps(e, from, first, n))
			continue;
		size_t lo = e->page > first ? e->page : first;
		size_t hi = e->page + e->n < first + n ? e->page + e->n : first + n;
		size_t end = e->page + e->n;
		uintptr_t hold = e->hold;
		size_t page = e->page;
		/* the moved part [lo, hi) follows @to; a part before stays in
		 * this entry, a part after gets an entry of its own */
		bool ok = true;
		if (lo > page)
			ok = ent_add(to, lo - first, hi - lo, hold + ((lo - page) << HM_PAGE_SHIFT), e->chunk, e->born);
		if (ok && hi < end)
			ok = ent_add(from, hi, end - hi, hold + ((hi - page) << HM_PAGE_SHIFT), e->chunk, e->born);
		if (!ok) {
			fprintf(stderr, "hetmem: tracker: no room to split a sample across an mremap; "
					"%zu pages may read back as zeros\n", hi - lo);
			continue;
		}
		e = &T.ent[k];
		if (lo > page) {
			e->n = lo - page;
		} else {
			e->r = to;
			e->page = lo - first;
			e->n = hi - lo;
		}
	}
	pthread_mutex_unlock(&T.lock);
}

/* ---------------------------------------------------------------------- */
/* Taking samples (reclaimer thread)                                        */
/* ---------------------------------------------------------------------- */

static uint64_t rnd(void)
{
	/* xorshift64 */
	uint64_t x = T.rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	T.rng = x;
	return x;
}

/* Whether folio @head can be taken; @locked: the caller holds its lock. */
static bool sampleable(struct hm_region *r, size_t head, size_t fp, bool locked)
{
	for (size_t i = head; i < head + fp; i++) {
		uint64_t w = atomic_load_explicit(&r->words[i], memory_order_relaxed);
		/* in the page table: in RAM, or on a coherent tier (a NUMA
		 * node: its samples tell the hot pages to bring back) */
		if ((pw_loc(w) != HM_LOC_HOST && pw_loc(w) != HM_LOC_MAPPED) ||
		    (w & (PW_PROT_MASK | PW_PENDING | PW_SAMPLED | PW_SELFZAP)))
			return false;
		if (i == head && !locked && (w & PW_MOVING))
			return false;
	}
	return true;
}

static bool take_sample(struct hm_region *r, size_t head)
{
	size_t fp = region_folio_pages(r);
	bool taken = false;
	if (atomic_load(&r->dying) || atomic_load(&r->dev_writers) || !sampleable(r, head, fp, false))
		return false;
	if (!hm_folio_trylock(r, head, NULL))
		return false;
	if (!sampleable(r, head, fp, true) || atomic_load(&r->dev_writers))
		goto out_unlock;
	pthread_mutex_lock(&T.lock);
	/* room for the sample, with a margin for splits by mremap meanwhile */
	int c = T.nent < MAX_ENT - 64 ? chunk_alloc() : -1;
	pthread_mutex_unlock(&T.lock);
	if (c < 0)
		goto out_unlock;
	uintptr_t hold = T.hold_base + (size_t)c * HOLD_CHUNK;
	uintptr_t addr = r->base + (head << HM_PAGE_SHIFT);
	size_t len = fp << HM_PAGE_SHIFT, done = 0;
	/* one try: EAGAIN or a refusal (pages shared with a child) just
	 * means another folio gets sampled */
	int rc = hm_prim_uffd_move(hm_g.uffd, hold, addr, len, &done);
	if (rc && !done) {
		/* The kernel may answer an error for pages it did move
		 * (under async write-protect: docs/KERNEL-NOTES.md).  The
		 * chunk was empty: a page present there now was moved, so
		 * this is a sample (a restore skips pages that stayed, EEXIST) */
		unsigned char pres[HM_MAX_FOLIO_PAGES];
		if (hm_prim_pages_present((void *)hold, len, pres)) {
			done = len; /* cannot tell: a sample restores whatever is there */
		} else {
			for (size_t k = 0; k < fp && !done; k++)
				if (pres[k] & 1)
					done = len;
		}
	}
	pthread_mutex_lock(&T.lock);
	if (!done) {
		T.chunk_refs[c] = 0;
	} else {
		/* a partial move is a sample too: a restore skips the pages
		 * that stayed (EEXIST) */
		T.ent[T.nent++] = (struct sample){.r = r, .page = head, .n = fp, .hold = hold, .chunk = c,
						  .born = hm_clock_ms()};
		for (size_t i = head; i < head + fp; i++)
			atomic_fetch_or(&r->words[i], PW_SAMPLED);
		HM_COUNT(track_samples, 1);
		taken = true;
	}
	pthread_mutex_unlock(&T.lock);
out_unlock:
	hm_folio_unlock(r, head);
	return taken;
}

/* Take @count samples, visiting all folios of all regions in a scattered
 * order (a stride prime to their number, from a random start): every
 * resident folio is offered in turn, so a folio in use is seen within
 * (folios / samples per scan) scans, and consecutive samples land in
 * different 2 MiB blocks, so every block's heat (policy.c) is measured
 * early rather than one block after another. */
void hm_trk_take_samples(struct hm_region **rs, size_t n, unsigned count)
{
	static uint64_t cursor;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		if (!atomic_load(&rs[i]->dying))
			total += rs[i]->npages >> (rs[i]->folio_shift - HM_PAGE_SHIFT);
	if (!total || pthread_rwlock_tryrdlock(&hm_g.fork_lock))
		return;
	if (!cursor)
		cursor = rnd() | 1;
	uint64_t stride = 7919; /* prime to total: the order visits every folio */
	for (;;) {
		uint64_t a = stride, b = total;
		while (b) {
			uint64_t t = a % b;
			a = b;
			b = t;
		}
		if (a == 1)
			break;
		stride += 2;
	}
	/* @count samples taken, offering at most 16 folios per sample (those
	 * not resident cannot be sampled) and each folio at most once */
	unsigned taken = 0;
	for (uint64_t s = 0; taken < count && s < total && s < 16ull * count; s++) {
		uint64_t g = (uint64_t)(((unsigned __int128)cursor++ * stride) % total);
		for (size_t i = 0; i < n; i++) {
			struct hm_region *r = rs[i];
			if (atomic_load(&r->dying))
				continue;
			uint64_t nf = r->npages >> (r->folio_shift - HM_PAGE_SHIFT);
			if (g < nf) {
				taken += take_sample(r, (size_t)g << (r->folio_shift - HM_PAGE_SHIFT));
				break;
			}
			g -= nf;
		}
	}
	pthread_rwlock_unlock(&hm_g.fork_lock);
}

/* Samples untouched for T.sample_ms go back, with no event: cold evidence.
 * No waiting here (the handler may need T.lock): EAGAIN is tried again at
 * the next scan. */
void hm_trk_return_stale(uint32_t now)
{
	/* T.lock is taken per sample, not across the whole walk: a hint fault
	 * the handler serves meanwhile (hm_track_restore) needs it, and its
	 * program thread waits for it.  The table may change between two
	 * restores (the handler removes entries, which moves the last one to
	 * the hole): a stale sample passed over that way goes back at the next
	 * scan, and none is restored twice (a restore removes it under the
	 * lock). */
	for (size_t k = 0;;) {
		pthread_mutex_lock(&T.lock);
		while (k < T.nent && now - T.ent[k].born < T.sample_ms)
			k++;
		if (k >= T.nent) {
			pthread_mutex_unlock(&T.lock);
			return;
		}
		struct hm_region *r = T.ent[k].r;
		size_t page = T.ent[k].page;
		if (restore_ent(k) == 0)
			hm_policy_sampled(r, page, false); /* untouched: cold evidence */
		else
			k++; /* EAGAIN: again at the next scan */
		pthread_mutex_unlock(&T.lock);
	}
}

/* ---------------------------------------------------------------------- */
/* The scan step                                                            */
/* ---------------------------------------------------------------------- */

/* Empty the free chunks that may hold stale pages.  The MADV_DONTNEED is
 * made outside T.lock: it waits for the handler to read its REMOVE event,
 * and the handler may need T.lock meanwhile. */
void hm_trk_zap_chunks(void)
{
	int list[NCHUNK], n = 0;
	pthread_mutex_lock(&T.lock);
	for (int i = 0; i < T.nchunk; i++)
		if (T.chunk_zap[i])
			list[n++] = i;
	pthread_mutex_unlock(&T.lock);
	for (int k = 0; k < n; k++)
		hm_sys_madvise((void *)(T.hold_base + (size_t)list[k] * HOLD_CHUNK), HOLD_CHUNK, MADV_DONTNEED);
	pthread_mutex_lock(&T.lock);
	for (int k = 0; k < n; k++) {
		T.chunk_zap[list[k]] = false;
		T.chunk_dirty[list[k]] = false;
	}
	pthread_mutex_unlock(&T.lock);
}
size_t hm_trk_nent(void)
{
	pthread_mutex_lock(&T.lock);
	size_t n = T.nent;
	pthread_mutex_unlock(&T.lock);
	return n;
}
