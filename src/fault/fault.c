/*
 * fault.c — the userfaultfd: opening it, the handler thread,
 * and bringing a folio back to RAM (the fault-back, HMM's migrate_to_ram).
 *
 * One handler thread polls the userfaultfd and an eventfd (shutdown).  For a
 * MISSING fault it locks the faulting folio (CAS on the head word), copies
 * the whole folio into place with one UFFDIO_COPY straight from the tier's
 * window (or through a bounce buffer), marks it HOST and unlocks; the copy
 * wakes the faulting thread.  A fault on a folio that another thread holds
 * locked (a migration) is parked: the WAITERS bit makes the unlocker wake the
 * range, and the woken thread faults again if the page is still absent.  The
 * handler never blocks on a folio lock, so a mover may safely wait on it.
 *
 * Sequential faults grow a per-region readahead window (up to readahead_max
 * folios) of folios fetched after the faulting one.
 *
 * A tier that cannot give a page back poisons it: UFFDIO_POISON where the
 * kernel has it (an access then gets SIGBUS at that address, like a memory
 * error), else the page is fenced by an empty file mapped over it, which
 * raises the same SIGBUS (poison.c), before the faulting thread is woken.
 */
#include "internal.h"
#include "os/uffd_compat.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BOUNCE_SIZE ((size_t)HM_MAX_FOLIO_PAGES << HM_PAGE_SHIFT)

/* ---------------------------------------------------------------------- */
/* Per-thread bounce buffer for tiers without a window                     */
/* ---------------------------------------------------------------------- */

static pthread_key_t bounce_key;
static pthread_once_t bounce_once = PTHREAD_ONCE_INIT;

static void bounce_release(void *p)
{
	hm_sys_munmap(p, BOUNCE_SIZE);
}

static void bounce_key_init(void)
{
	pthread_key_create(&bounce_key, bounce_release);
}

/* A 2 MiB buffer private to the calling thread, or NULL. */
void *hm_bounce(void)
{
	pthread_once(&bounce_once, bounce_key_init);
	void *b = pthread_getspecific(bounce_key);
	if (!b) {
		b = hm_sys_mmap(NULL, BOUNCE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED)
			return NULL;
		pthread_setspecific(bounce_key, b);
	}
	return b;
}

/* ---------------------------------------------------------------------- */
/* Filling pages                                                            */
/* ---------------------------------------------------------------------- */

#define COPY_RETRIES 8
/* Off the handler thread (a mover fetching a folio home, hm_shutdown), an
 * -EAGAIN usually means an event is waiting for the handler to read it:
 * back off exponentially (~5 ms in all) rather than fail the fetch.  The
 * handler itself cannot wait for its own read: it gives up after
 * COPY_RETRIES and the faulting thread faults again. */
#define COPY_RETRIES_WAIT 16
/* Thread-local variables read on the fault path are initial-exec: a
 * general-dynamic one goes through __tls_get_addr, which reads the thread's
 * DTV, and glibc allocates a new thread's DTV with calloc, which under the
 * preload library is mimalloc's, in managed memory.  In signal mode that DTV
 * page may be on the tier when the SIGBUS handler runs: the fault inside the
 * handler, with SIGBUS blocked, killed the program. */
static __thread bool on_handler __attribute__((tls_model("initial-exec")));

bool hm_on_handler(void)
{
	return on_handler;
}

/* UFFDIO_COPY (src != NULL) or UFFDIO_ZEROPAGE of [dst, dst+len), tolerant
 * of pages already present (EEXIST: skipped) and of transient errors.
 * @wake false: the faulting thread is not woken here; the caller wakes it
 * once the page-table words say the page is in RAM (otherwise the program
 * runs on and hm_where() still reports the old place).
 * Returns 0, -EFAULT (range no longer mapped) or the last -errno; *@placed
 * gets the length of the leading part now in place (all of it on success:
 * on a failure, those pages are mapped even though the rest is not). */
/* zeros to copy from where UFFDIO_ZEROPAGE cannot be used */
static char zero_src[BOUNCE_SIZE] __attribute__((aligned(4096)));
/* Set while the handler serves a write fault: a first touch is then filled
 * by copying zeros.  UFFDIO_ZEROPAGE maps the shared zero page read-only,
 * so the retried write takes a second (copy-on-write) fault whose TLB flush
 * interrupts every CPU running the program: measured in GUPS's fill, that
 * doubled the cost of a first touch.  A read keeps UFFDIO_ZEROPAGE (no page
 * is allocated until the program writes). */
static __thread bool zero_for_write __attribute__((tls_model("initial-exec")));

static int fill_upto(uintptr_t dst, const char *src, size_t len, bool wake, size_t *placed)
{
	size_t off = 0;
	int tries = 0;
	*placed = 0;
	/* With async write-protect (write tracking) an unpopulated page may
	 * carry a write-protect marker, which UFFDIO_ZEROPAGE refuses (EEXIST)
	 * and UFFDIO_COPY fills: copy zeros there */
	if (!src && len <= BOUNCE_SIZE && (zero_for_write || hm_track_wp_async()))
		src = zero_src;
	while (off < len) {
		size_t done = 0;
		int rc = src ? hm_prim_uffd_copy(hm_g.uffd, dst + off, src + off, len - off, wake, &done)
			     : hm_prim_uffd_zero(hm_g.uffd, dst + off, len - off, wake, &done);
		off += done;
		if (!rc)
			continue;
		if (rc == -EEXIST) {
			/* a page is already there: keep it, go on with the next */
			off = (off & ~(HM_PAGE_SIZE - 1)) + HM_PAGE_SIZE;
			continue;
		}
		if (rc == -ENOENT || rc == -EFAULT || rc == -ESRCH)
			return -EFAULT; /* the range is gone: nothing counts as placed */
		/* EAGAIN means a non-cooperative event (a REMOVE, UNMAP, REMAP) is
		 * waiting to be read: on the handler thread, which is the one to
		 * read it, retrying cannot help — give up at once; the faulting
		 * thread is woken, the event read, and the fault comes back. */
		if ((rc == -EAGAIN || rc == -EINTR || rc == -ENOMEM) && !(on_handler && rc == -EAGAIN) &&
		    ++tries <= (on_handler ? COPY_RETRIES : COPY_RETRIES_WAIT)) {
			HM_COUNT(retries, 1);
			if (rc == -ENOMEM)
				usleep(100);
			else if (tries > COPY_RETRIES)
				usleep(20u << (tries - COPY_RETRIES - 1));
			continue;
		}
		*placed = off & ~(HM_PAGE_SIZE - 1);
		return rc;
	}
	*placed = len;
	return 0;
}

static int fill(uintptr_t dst, const char *src, size_t len, bool wake)
{
	size_t placed;
	return fill_upto(dst, src, len, wake, &placed);
}

/* Mark pages [i, i+n) of @r poisoned; caller holds the folio lock. */
void hm_folio_poison(struct hm_region *r, size_t i, size_t n)
{
	for (size_t k = i; k < i + n; k++) {
		uint64_t w = atomic_load(&r->words[k]);
		if (pw_loc(w) == HM_LOC_TIER) {
			struct hm_tier *t = hm_tier_get(pw_tier(w));
			if (t)
				hm_tier_free(t, pw_slot(w), 1);
		}
		if (pw_loc(w) != HM_LOC_POISON) {
			pw_set(&r->words[k], HM_LOC_POISON, 0, 0);
			HM_COUNT(poisoned, 1);
		}
	}
	if (hm_g.feat.poison)
		hm_prim_uffd_poison(hm_g.uffd, r->base + (i << HM_PAGE_SHIFT), n << HM_PAGE_SHIFT);
	else if (!on_handler && !hm_g.sigfault) /* (the handler's faults: serve_fault) */
		hm_poison_fence_locked(r, i, i + n);
}

/* Pages [i, i+n) of @r live on tier @tid from @slot on: copy them into
 * place.  0, -EIO (poisoned), or another -errno (left on the tier). */
static int copy_in(struct hm_region *r, size_t i, size_t n, int tid, uint64_t slot)
{
	uintptr_t dst = r->base + (i << HM_PAGE_SHIFT);
	size_t len = n << HM_PAGE_SHIFT;
	struct hm_tier *t = hm_tier_get(tid);
	if (!t) {
		hm_folio_poison(r, i, n);
		return -EIO;
	}
	int err;
	const void *src = hm_tier_window(t, slot, n, &err);
	if (!src && !err) {
		void *b = hm_bounce();
		if (!b)
			return -ENOMEM;
		err = hm_tier_read(t, slot, b, n);
		src = b;
	}
	if (err) {
		if (err == -ENOMEM)
			return err; /* our memory, not the device's: retry later */
		if (err == -EAGAIN || err == -EINTR)
			return err; /* transient, retries exhausted: the data is still
				     * there; the faulting thread is woken and faults
				     * again.  Only a real read error poisons. */
		hm_folio_poison(r, i, n);
		return -EIO;
	}
	size_t placed;
	int rc = fill_upto(dst, src, len, false, &placed);
	/* The pages already copied are mapped even if the rest failed (a
	 * transient error outlasting the retries): they are in RAM now and must
	 * say so.  Left saying TIER, a device would write to the stale tier
	 * copy, and a later fetch would keep the RAM page: a lost write. */
	size_t done = placed >> HM_PAGE_SHIFT;
	if (done) {
		/* the words say RAM before the slots go: a free may give the
		 * storage back (a system call), and the mapped pages are the
		 * program's already */
		for (size_t k = i; k < i + done; k++)
			pw_set(&r->words[k], HM_LOC_HOST, 0, 0);
		hm_tier_free(t, slot, done);
		HM_COUNT(pages_promoted, done);
		HM_COUNT(resident_pages, done);
	}
	return rc;
}

/* Pages [i, i+n) of @r say MAPPED: fill those absent from the page table
 * with zeros in RAM (HOST now); the present ones stay where they are. */
static int refill_mapped(struct hm_region *r, size_t i, size_t n)
{
	unsigned char pres[HM_MAX_FOLIO_PAGES];
	uintptr_t a = r->base + (i << HM_PAGE_SHIFT);
	int rc = hm_prim_pages_present((void *)a, n << HM_PAGE_SHIFT, pres);
	if (rc)
		return rc;
	for (size_t k = 0; k < n && !rc; k++) {
		if (pres[k] & 1)
			continue;
		rc = fill(a + (k << HM_PAGE_SHIFT), NULL, HM_PAGE_SIZE, false);
		if (!rc) {
			hm_coherent_left(pw_set(&r->words[i + k], HM_LOC_HOST, 0, 0), false);
			HM_COUNT(resident_pages, 1);
		}
	}
	return rc;
}

int hm_folio_fetch(struct hm_region *r, size_t head, bool wake)
{
	size_t fp = region_folio_pages(r);
	int ret = 0;
	size_t i = head;
	/* a folio out for a hint-fault sample (track.c) comes back first; its
	 * pages are then in place (one that is not faults again and is
	 * refilled below as an absent HOST page) */
	bool restored = false;
	if (hm_unlikely(hm_folio_sampled(r, head))) {
		int rc = hm_track_restore(r, head);
		if (rc)
			return rc; /* the data stays held; the fault comes back */
		restored = true;
	}
	while (i < head + fp) {
		uint64_t w = atomic_load(&r->words[i]);
		unsigned loc = pw_loc(w);
		size_t j = i + 1;
		while (j < head + fp) {
			uint64_t wj = atomic_load(&r->words[j]);
			if (pw_loc(wj) != loc)
				break;
			if (loc == HM_LOC_TIER && (pw_tier(wj) != pw_tier(w) || pw_slot(wj) != pw_slot(w) + (j - i)))
				break;
			j++;
		}
		size_t n = j - i;
		uintptr_t dst = r->base + (i << HM_PAGE_SHIFT);
		int rc = 0;
		switch (loc) {
		case HM_LOC_NONE: {
			size_t placed; /* on a failure, what was placed is HOST too */
			rc = fill_upto(dst, NULL, n << HM_PAGE_SHIFT, false, &placed);
			size_t done = placed >> HM_PAGE_SHIFT;
			for (size_t k = i; k < i + done; k++)
				pw_set(&r->words[k], HM_LOC_HOST, 0, 0);
			HM_COUNT(resident_pages, done);
			break;
		}
		case HM_LOC_HOST:
			/* should be mapped; refill what the program discarded */
			if (!restored)
				rc = fill(dst, NULL, n << HM_PAGE_SHIFT, false);
			break;
		case HM_LOC_MAPPED:
			/* on a coherent tier, in place; a page the program
			 * discarded (its REMOVE event not read yet) is refilled
			 * in RAM and is HOST from now on */
			if (!restored)
				rc = refill_mapped(r, i, n);
			break;
		case HM_LOC_TIER:
			rc = copy_in(r, i, n, pw_tier(w), pw_slot(w));
			break;
		case HM_LOC_POISON:
			if (hm_g.feat.poison)
				hm_prim_uffd_poison(hm_g.uffd, dst, n << HM_PAGE_SHIFT);
			rc = -EIO;
			break;
		default: /* UNMAPPED */
			break;
		}
		if (rc == -EFAULT) {
			/* unmapped under us: the pages are gone */
			for (size_t k = i; k < j; k++) {
				uint64_t wk = atomic_load(&r->words[k]);
				if (pw_loc(wk) == HM_LOC_TIER) {
					struct hm_tier *t = hm_tier_get(pw_tier(wk));
					if (t)
						hm_tier_free(t, pw_slot(wk), 1);
				} else if (pw_loc(wk) == HM_LOC_MAPPED) {
					hm_coherent_left(wk, false);
				}
				pw_set(&r->words[k], HM_LOC_UNMAPPED, 0, 0);
			}
			rc = 0;
		}
		if (rc && (!ret || rc == -EIO))
			ret = rc;
		i = j;
	}
	/* its pages read soft-dirty now (Linux 6.1 marks a page UFFDIO_COPY
	 * placed): not a write of the program's (track/write.c) */
	atomic_fetch_or_explicit(&r->words[head], PW_PLACED, memory_order_relaxed);
	if (wake)
		hm_prim_uffd_wake(hm_g.uffd, r->base + (head << HM_PAGE_SHIFT), fp << HM_PAGE_SHIFT);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* The handler thread                                                       */
/* ---------------------------------------------------------------------- */

/* The readahead window after a fault on folio @head: while faults come in
 * order it doubles up to readahead_max folios; a fault out of order resets
 * it (0: no readahead now).  r->last_fault holds the folio expected next,
 * plus one; ra_done records how far the readahead went. */
static unsigned ra_window(struct hm_region *r, size_t head)
{
	if (hm_g.readahead_max == HM_READAHEAD_OFF)
		return 0;
	uintptr_t f = head / region_folio_pages(r);
	unsigned win = atomic_load(&r->ra_window);
	if (atomic_load(&r->last_fault) != f + 1) {
		atomic_store(&r->ra_window, 1);
		atomic_store(&r->last_fault, f + 2);
		return 0;
	}
	win = win * 2 > hm_g.readahead_max ? hm_g.readahead_max : win * 2;
	atomic_store(&r->ra_window, win);
	return win;
}

/* @k folios after folio @head were brought in: the next fault in order is
 * the one after them */
static void ra_done(struct hm_region *r, size_t head, size_t k)
{
	atomic_store(&r->last_fault, head / region_folio_pages(r) + k + 2);
}

/* Swap readahead: after a fault that fetched folio @head from a tier, the
 * next @win folios on a tier come in too, before the faulting thread is
 * woken: woken first, a thread reading in order faults on the next folio
 * while the handler is still fetching it, and pays a round trip per folio
 * after all (as the kernel's swap readahead, the faulting access waits for
 * the cluster). */
static void fault_readahead(struct hm_region *r, size_t head, unsigned win)
{
	size_t fp = region_folio_pages(r);
	size_t k;
	for (k = 0; k < win; k++) {
		size_t h = head + (k + 1) * fp;
		if (h >= r->npages || pw_loc(atomic_load(&r->words[h])) != HM_LOC_TIER)
			break;
		if (!hm_folio_trylock(r, h, NULL))
			break;
		if (pw_loc(atomic_load(&r->words[h])) == HM_LOC_TIER && hm_folio_fetch(r, h, true) == 0)
			HM_COUNT(readahead_folios, 1);
		hm_folio_unlock(r, h);
	}
	ra_done(r, head, k);
}

/* First-touch fault-around: after a first touch of folio @head (placed, its
 * thread not woken yet), the next never-populated folios of the window are
 * filled in the same way with one more ioctl, before the thread is woken.  A
 * program filling a fresh buffer in order (a bytearray, an array's
 * initialisation, a heap growing) then takes one userfaultfd round trip per
 * window instead of one per page; woken after the fill, it does not chase
 * the fill-around and fault on its next page meanwhile.  Zeros are copied
 * (real pages) when the fault was a write, else the zero page is mapped. */
static bool folio_never_populated(struct hm_region *r, size_t head, size_t fp)
{
	for (size_t k = head; k < head + fp; k++)
		if (pw_loc(atomic_load(&r->words[k])) != HM_LOC_NONE)
			return false;
	return true;
}

static void zero_around(struct hm_region *r, size_t head, bool write, unsigned win)
{
	size_t fp = region_folio_pages(r);
	size_t first = head + fp, end = first;
	size_t most = BOUNCE_SIZE >> HM_PAGE_SHIFT; /* zero_src's size: copied zeros */
	while ((end - first) / fp < win && end + fp <= r->npages && end + fp - first <= most) {
		/* looked at before the lock (cheap), and again under it */
		if (!folio_never_populated(r, end, fp) || !hm_folio_trylock(r, end, NULL))
			break;
		if (!folio_never_populated(r, end, fp)) {
			hm_folio_unlock(r, end);
			break;
		}
		end += fp;
	}
	if (end == first) {
		ra_done(r, head, 0);
		return;
	}
	size_t placed = 0;
	zero_for_write = write;
	fill_upto(r->base + (first << HM_PAGE_SHIFT), NULL, (end - first) << HM_PAGE_SHIFT, false, &placed);
	zero_for_write = false;
	size_t done = placed >> HM_PAGE_SHIFT;
	for (size_t k = first; k < first + done; k++)
		pw_set(&r->words[k], HM_LOC_HOST, 0, 0);
	HM_COUNT(resident_pages, done);
	for (size_t h = first; h < end; h += fp) {
		bool in = h + fp <= first + done; /* the whole folio placed */
		if (in) {
			atomic_fetch_or_explicit(&r->words[h], PW_PLACED, memory_order_relaxed);
			HM_COUNT(readahead_folios, 1);
			HM_COUNT(readahead_zero_folios, 1);
		}
		hm_folio_unlock(r, h);
		if (in)
			hm_policy_event(r, h, HM_EV_FIRST_TOUCH);
	}
	ra_done(r, head, (end - first) / fp);
}

static bool in_staging(uintptr_t a)
{
	/* hm_shutdown clears these while the handler still runs */
	uintptr_t base = __atomic_load_n(&hm_g.staging_base, __ATOMIC_RELAXED);
	size_t size = __atomic_load_n(&hm_g.staging_size, __ATOMIC_RELAXED);
	return base && a >= base && a < base + size;
}

/* What a fault on page @i of folio @head (locked by the caller) is about:
 * its place before the fetch (counted), and whether it is a hint fault (the
 * folio was out for a sample, track.c; its service is then timed from
 * *@c0).  Shared by the handler thread and signal mode. */
static unsigned fault_begin(struct hm_region *r, size_t i, size_t head, bool *hint, struct timespec *c0)
{
	unsigned loc = pw_loc(atomic_load(&r->words[i]));
	*hint = (loc == HM_LOC_HOST || loc == HM_LOC_MAPPED) && hm_folio_sampled(r, head);
	if (*hint)
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, c0);
	if (loc == HM_LOC_TIER)
		HM_COUNT(faults_fetch, 1);
	else if (loc == HM_LOC_NONE)
		HM_COUNT(faults_zero, 1);
	return loc;
}

/* After the fault's fetch (result @rc) and unlock: the policy's events, the
 * reclaimer's kick, and a hint fault's count and CPU charge (track.c's
 * budget). */
static void fault_end(struct hm_region *r, size_t head, unsigned loc, bool hint, int rc, const struct timespec *c0)
{
	if (!rc && (loc == HM_LOC_TIER || loc == HM_LOC_NONE)) {
		hm_policy_event(r, head, loc == HM_LOC_TIER ? HM_EV_FETCH : HM_EV_FIRST_TOUCH);
		hm_reclaim_check();
	}
	if (hint) {
		if (!rc) {
			hm_policy_event(r, head, HM_EV_HINT);
			HM_COUNT(track_hint_faults, 1);
		}
		struct timespec c1;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		hm_track_charge((uint64_t)((c1.tv_sec - c0->tv_sec) * 1000000000L + (c1.tv_nsec - c0->tv_nsec)));
	}
}

static void serve_fault(const struct uffd_msg *m)
{
	uintptr_t addr = (uintptr_t)m->arg.pagefault.address & ~(uintptr_t)(HM_PAGE_SIZE - 1);
	bool wp = m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP;
	pid_t tid = hm_g.feat.thread_id ? (pid_t)m->arg.pagefault.feat.ptid : 0;
	HM_COUNT(faults, 1);

	if (in_staging(addr) || hm_track_in_hold(addr)) { /* a hole moved into staging: it was zeros */
		/* (or the tracker's probe, track.c); if the fill fails (EAGAIN:
		 * an event waits), the thread must still be woken to fault again */
		if (fill(addr, NULL, HM_PAGE_SIZE, true))
			hm_prim_uffd_wake(hm_g.uffd, addr, HM_PAGE_SIZE);
		return;
	}
	struct hm_region *r = hm_region_get_any(addr);
	if (!r) {
		HM_COUNT(unmanaged_faults, 1);
		if (wp) {
			if (hm_prim_uffd_wp(hm_g.uffd, addr, HM_PAGE_SIZE, false))
				hm_prim_uffd_wake(hm_g.uffd, addr, HM_PAGE_SIZE);
		} else if (fill(addr, NULL, HM_PAGE_SIZE, true))
			hm_prim_uffd_wake(hm_g.uffd, addr, HM_PAGE_SIZE);
		return;
	}
	size_t fp = region_folio_pages(r);
	size_t i = (addr - r->base) >> HM_PAGE_SHIFT;
	size_t head = i & ~(fp - 1);
	hm_pw_t *hw = &r->words[head];
	uint64_t w = atomic_load(hw);
	for (;;) {
		if (w & PW_MOVING) {
			/* a mover holds the folio: park; the unlock wakes us */
			if (atomic_compare_exchange_weak(hw, &w, w | PW_WAITERS)) {
				HM_COUNT(faults_wait, 1);
				if (wp)
					HM_COUNT(faults_wp, 1);
				hm_region_put(r);
				return;
			}
			continue;
		}
		if (atomic_compare_exchange_weak(hw, &w, w | PW_MOVING))
			break;
	}
	if (wp) {
		/* write-protected outside a demotion (a stale marker): lift it.
		 * If that fails (EAGAIN while an event is pending), wake the
		 * thread anyway: it retries the write and faults again, rather
		 * than sleeping forever on a fault nobody will resolve. */
		HM_COUNT(faults_wp, 1);
		if (hm_prim_uffd_wp(hm_g.uffd, addr, HM_PAGE_SIZE, false))
			hm_prim_uffd_wake(hm_g.uffd, addr, HM_PAGE_SIZE);
		hm_folio_unlock(r, head);
		hm_region_put(r);
		return;
	}
	bool hint;
	struct timespec c0 = {0, 0};
	unsigned loc = fault_begin(r, i, head, &hint, &c0); /* counted before the fetch wakes the thread */
	bool write = m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE;
	zero_for_write = write;
	/* without UFFDIO_POISON, a lost page is fenced before the thread is
	 * woken (poison.c): woken now, it would only fault again.  A first
	 * touch wakes after its fill-around. */
	unsigned win = loc == HM_LOC_NONE || loc == HM_LOC_TIER ? ra_window(r, head) : 0;
	bool wake_now = hm_g.feat.poison && !win;
	int rc = hm_folio_fetch(r, head, wake_now);
	zero_for_write = false;
	if (!rc && win && loc == HM_LOC_NONE)
		zero_around(r, head, write, win);
	else if (!rc && win)
		fault_readahead(r, head, win);
	if (rc == -EIO && !hm_g.feat.poison)
		hm_poison_fence(r, head, (uintptr_t)m->arg.pagefault.address, tid);
	else if (rc || !wake_now)
		hm_prim_uffd_wake(hm_g.uffd, r->base + (head << HM_PAGE_SHIFT), fp << HM_PAGE_SHIFT);
	hm_folio_unlock(r, head);
	fault_end(r, head, loc, hint, rc, &c0);
	hm_region_put(r);
}

/* Signal mode: a MISSING fault at @fault_addr, served in the faulting thread
 * (sigfault.c calls this from its SIGBUS handler).  Like serve_fault, but a
 * folio held by a mover cannot be waited for here (no one would wake us):
 * the thread yields and the access faults again. */
int hm_fault_local(uintptr_t fault_addr, bool write)
{
	uintptr_t addr = fault_addr & ~(uintptr_t)(HM_PAGE_SIZE - 1);
	if (hm_g.in_child || !atomic_load(&hm_g.initialised))
		return 0; /* a forked child's fence, or after hm_shutdown */
	struct hm_region *r = NULL;
	if (in_staging(addr) || hm_track_in_hold(addr)) {
		fill(addr, NULL, HM_PAGE_SIZE, false);
	} else if (!(r = hm_region_get_any(addr))) {
		/* a registered range that is no region (any more): zeros, as the
		 * handler does; a range that is not registered refuses (EINVAL,
		 * ENOENT): then the signal is not ours */
		int rc = fill(addr, NULL, HM_PAGE_SIZE, false);
		if (rc && rc != -EAGAIN)
			return 0;
		HM_COUNT(unmanaged_faults, 1);
	}
	HM_COUNT(faults, 1);
	HM_COUNT(sig_faults, 1);
	if (!r)
		return 1;
	size_t fp = region_folio_pages(r);
	size_t i = (addr - r->base) >> HM_PAGE_SHIFT;
	size_t head = i & ~(fp - 1);
	if (!hm_folio_trylock(r, head, NULL)) {
		HM_COUNT(sig_retries, 1);
		hm_region_put(r);
		sched_yield();
		return 1;
	}
	bool hint;
	struct timespec c0 = {0, 0};
	unsigned loc = fault_begin(r, i, head, &hint, &c0);
	int rc = 1;
	if ((loc == HM_LOC_TIER || loc == HM_LOC_NONE) && fp == 1)
		rc = hm_sigfault_recycle(r, head);
	if (rc == 1) {
		zero_for_write = write;
		rc = hm_folio_fetch(r, head, false);
		zero_for_write = false;
	}
	hm_folio_unlock(r, head);
	fault_end(r, head, loc, hint, rc, &c0);
	hm_region_put(r);
	return rc == -EIO ? -EIO : 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* After serving faults, watch the userfaultfd for up to spin_us before
 * sleeping in poll(): on a VM a sleeping thread's wake-up across CPUs costs
 * far more than a fault (bench_fault: a bare round trip 100 us, 13 us with
 * the spin), and faults come in bursts.  The watch yields the CPU between
 * looks: the thread a fault just woke is often queued on this very CPU (the
 * scheduler ran the handler where the fault was taken), and a busy wait kept
 * it there, off CPU, for the whole spin (seen with perf sched on the 2-CPU
 * VM: every hint fault cost the program ~50 us more than its service).
 * Where nothing else is runnable, sched_yield returns at once and this is
 * the busy wait it was.  Whether to spin at all depends on the machine's
 * load (GUPS skewed phase, 4 GiB / 1 GiB, 2 vCPUs, alternating runs): with
 * another job keeping both vCPUs busy, the busy wait cost 25% (0.41 M
 * updates/s against 0.55 without a spin); on the idle VM, where a halted
 * vCPU takes a trip through the hypervisor to wake, no spin cost half (0.16
 * and 0.19 against 0.34 and 0.38 with the yielding spin).  The yielding
 * spin is the default.  True if a message is waiting (or shutdown was
 * asked: poll() then sees it). */
static bool spin_for_message(void)
{
	if (!hm_g.spin_us)
		return false;
	uint64_t end = mono_ns() + (uint64_t)hm_g.spin_us * 1000;
	struct pollfd pfd[2] = {{.fd = hm_g.uffd, .events = POLLIN}, {.fd = hm_g.stop_efd, .events = POLLIN}};
	do {
		if (poll(pfd, 2, 0) > 0)
			return !pfd[1].revents;
		sched_yield();
	} while (mono_ns() < end);
	return false;
}

/*
 * Faults held back at the budget.  When resident memory reaches the budget
 * (hm_reclaim_must_hold), a fault that would add a folio waits for the
 * reclaimer — but the handler thread itself must not wait: the reclaimer's
 * MADV_DONTNEED of a staging chunk (or, in WP mode, of the demoted pages)
 * sends a REMOVE event that only this thread reads, and the reclaimer's own
 * faults (a hole in staging, process_vm_readv in WP mode) are served only
 * here.  So the fault message is set aside (its thread stays blocked in the
 * kernel) and the handler goes on reading; held faults are served once
 * residency is back under the bound, or after HOLD_CAP_MS in all (a full
 * tier must not hang the program), or when the reclaimer has made no
 * progress for HOLD_STALL_MS.
 */
#define HOLD_MAX 256
#define HOLD_CAP_MS 2000
#define HOLD_STALL_MS 200

static struct uffd_msg held[HOLD_MAX];
static unsigned nheld;
static uint32_t held_since, held_progress_ms;
static uint64_t held_progress;

/* Hold @m back instead of serving it now?  Never a write-protect fault, a
 * fault in staging, or one of the reclaimer's own. */
static bool hold_fault(const struct uffd_msg *m)
{
	if (nheld == HOLD_MAX || (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ||
	    in_staging((uintptr_t)m->arg.pagefault.address) || hm_track_in_hold((uintptr_t)m->arg.pagefault.address))
		return false;
	pid_t tid = hm_g.feat.thread_id ? (pid_t)m->arg.pagefault.feat.ptid : 0;
	if (tid && tid == hm_reclaim_tid())
		return false;
	if (!nheld && !hm_reclaim_must_hold())
		return false;
	/* only a fault that adds a folio to RAM waits: not a hint fault (the
	 * folio is resident, out for a sample) or one already served */
	uintptr_t a = (uintptr_t)m->arg.pagefault.address;
	struct hm_region *r = hm_region_get_any(a);
	if (r) {
		unsigned loc = pw_loc(atomic_load(&r->words[(a - r->base) >> HM_PAGE_SHIFT]));
		hm_region_put(r);
		if (loc != HM_LOC_NONE && loc != HM_LOC_TIER)
			return false;
	}
	uint32_t now = hm_clock_ms();
	if (!nheld) {
		held_since = held_progress_ms = now;
		held_progress = hm_reclaim_progress();
	}
	held[nheld++] = *m;
	HM_COUNT(throttled_faults, 1);
	return true;
}

/* serve_fault, its time counted as fault wait (the thrashing report) */
static void serve_timed(const struct uffd_msg *m)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	serve_fault(m);
	clock_gettime(CLOCK_MONOTONIC, &b);
	HM_COUNT(fault_wait_ns, (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec)));
	if (hm_g.feat.thread_id)
		hm_wait_note((pid_t)m->arg.pagefault.feat.ptid);
}

static void serve_held(void)
{
	unsigned n = nheld;
	nheld = 0;
	HM_COUNT(fault_wait_ns, (uint64_t)n * (hm_clock_ms() - held_since) * 1000000u);
	for (unsigned k = 0; k < n; k++)
		serve_timed(&held[k]);
}

/* Serve the held faults if their wait is over. */
static void release_held(void)
{
	if (!nheld)
		return;
	uint32_t now = hm_clock_ms();
	uint64_t done = hm_reclaim_progress();
	if (done != held_progress) {
		held_progress = done;
		held_progress_ms = now;
	}
	if (hm_reclaim_must_hold() && now - held_since < HOLD_CAP_MS && now - held_progress_ms < HOLD_STALL_MS)
		return;
	serve_held();
}

/* hm_shutdown asks the handler to stop; an eventfd wake-up without it is
 * handler_kick's: one of hetmem's descriptors moved (fdguard.c), poll the new
 * numbers; or a credentials request (thread.c), taken at the loop's top. */
static _Atomic bool handler_stop;
static dev_t efd_dev;
static ino_t efd_ino;

static void handler_kick(void)
{
	uint64_t one = 1;
	int fd = __atomic_load_n(&hm_g.stop_efd, __ATOMIC_ACQUIRE);
	if (write(fd, &one, sizeof(one)) != sizeof(one)) {
		/* the eventfd is full: a wake-up is pending anyway */
	}
}

/* The handler's descriptors are gone or name another file (the program
 * closed or replaced them with a raw system call): faults can no longer be
 * served, and a fault is never served from anything but the userfaultfd.
 * Checked when poll wakes the handler, and on a failed or odd read. */
static bool handler_check_fds(int uffd, int efd, short urev, short erev)
{
	/* inside hm_fd_enter/exit: a move (hm_fd_evict) waits for this section
	 * before the program's dup2 replaces the old number, so a number that
	 * is still hetmem's here names hetmem's file until the fstat is done
	 * (looked at outside, a move between the comparison and the fstat
	 * read as the program having replaced the descriptor) */
	unsigned fs = hm_fd_enter();
	bool moved = uffd != __atomic_load_n(&hm_g.uffd, __ATOMIC_ACQUIRE) ||
		     efd != __atomic_load_n(&hm_g.stop_efd, __ATOMIC_ACQUIRE);
	bool ulost = false, elost = false;
	if (!moved) {
		ulost = (urev & POLLNVAL) || !hm_fd_is_uffd(uffd);
		struct stat st;
		elost = (erev & POLLNVAL) ||
			((erev & POLLIN) && (fstat(efd, &st) || st.st_dev != efd_dev || st.st_ino != efd_ino));
	}
	hm_fd_exit(fs);
	if (moved)
		return false; /* moved while polling: poll the new numbers */
	if (ulost)
		hm_fd_lost(uffd, "userfaultfd");
	if (elost)
		hm_fd_lost(efd, "eventfd");
	return true;
}

static void *handler_main(void *arg)
{
	hm_tls_internal = true;
	on_handler = true;
	hm_pin_own_thread();
	struct pollfd pfd[2] = {{.fd = hm_g.uffd, .events = POLLIN}, {.fd = hm_g.stop_efd, .events = POLLIN}};
	struct uffd_msg msgs[16];
	bool busy = false;
	for (;;) {
		hm_thread_sync();
		release_held();
		if (busy && spin_for_message())
			goto drain;
		/* the numbers are read afresh: a dup2 of the program's onto one
		 * of them moves hetmem's descriptor (fdguard.c) */
		pfd[0].fd = __atomic_load_n(&hm_g.uffd, __ATOMIC_ACQUIRE);
		pfd[1].fd = __atomic_load_n(&hm_g.stop_efd, __ATOMIC_ACQUIRE);
		int p = poll(pfd, 2, nheld ? 1 : -1);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "hetmem: handler: poll failed: %s\n", strerror(errno));
			break;
		}
		if (p > 0 && !handler_check_fds(pfd[0].fd, pfd[1].fd, pfd[0].revents, pfd[1].revents))
			continue;
		if (pfd[1].revents) {
			if (!atomic_load(&handler_stop)) {
				uint64_t v;
				unsigned fs = hm_fd_enter();
				if (read(hm_fd_cur(__atomic_load_n(&hm_g.stop_efd, __ATOMIC_ACQUIRE)), &v, sizeof(v)) < 0) {
					/* EAGAIN: another kick drained it */
				}
				hm_fd_exit(fs);
				if (!(pfd[0].revents & POLLIN))
					continue;
				goto drain;
			}
			serve_held(); /* no thread is left blocked on a held fault */
			break;
		}
		if (pfd[0].revents & (POLLERR | POLLHUP)) {
			fprintf(stderr, "hetmem: handler: userfaultfd closed\n");
			break;
		}
drain:
		busy = true;
		for (;;) {
			unsigned fs = hm_fd_enter();
			int ufd = hm_fd_cur(__atomic_load_n(&hm_g.uffd, __ATOMIC_ACQUIRE));
			ssize_t n = read(ufd, msgs, sizeof(msgs));
			int e = errno;
			hm_fd_exit(fs);
			if (n < 0) {
				if (e == EINTR)
					continue;
				if (e == EBADF || e == EINVAL)
					hm_fd_lost(ufd, "userfaultfd");
				if (e != EAGAIN)
					fprintf(stderr, "hetmem: handler: read failed: %s\n", strerror(e));
				break;
			}
			if (n == 0 || n % (ssize_t)sizeof(msgs[0]))
				hm_fd_lost(ufd, "userfaultfd"); /* not a userfaultfd's messages */
			uint64_t seq = atomic_fetch_add(&hm_g.event_seq, 1) + 1;
			atomic_store_explicit(&hm_g.handler_cpu, sched_getcpu(), memory_order_relaxed);
			for (size_t k = 0; k < (size_t)n / sizeof(msgs[0]); k++) {
				const struct uffd_msg *m = &msgs[k];
				switch (m->event) {
				case UFFD_EVENT_PAGEFAULT:
					if (!hold_fault(m))
						serve_timed(m);
					break;
				case UFFD_EVENT_REMAP:
					hm_region_event_remap(m->arg.remap.from, m->arg.remap.to, m->arg.remap.len);
					break;
				case UFFD_EVENT_REMOVE:
					if (!hm_g.feat.poison) /* lost pages read zeros again */
						hm_poison_discard(m->arg.remove.start, m->arg.remove.end);
					hm_region_event_remove(m->arg.remove.start, m->arg.remove.end, false, seq);
					break;
				case UFFD_EVENT_UNMAP:
					if (hm_poison_own_unmap(m->arg.remove.start, m->arg.remove.end))
						break; /* a lost page's fence mapped (poison.c) */
					hm_region_event_remove(m->arg.remove.start, m->arg.remove.end, true, seq);
					break;
				default:
					break;
				}
			}
			release_held();
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Opening the userfaultfd, starting and stopping the handler               */
/* ---------------------------------------------------------------------- */

int hm_fault_open(uint64_t want, const struct hm_features *f)
{
	hm_fd_begin();
	int fd = hm_fd_hide(hm_prim_uffd_open(), &hm_g.uffd);
	hm_fd_end();
	if (fd < 0)
		return hm_error(-fd, "hm_init: cannot open a userfaultfd");
	uint64_t got = 0;
	int rc = hm_prim_uffd_api(fd, want, &got, NULL);
	if (rc) {
		hm_error(-rc, "hm_init: UFFDIO_API refused features 0x%llx", (unsigned long long)want);
		goto err_close;
	}
	hm_g.feat = *f;
	hm_g.register_mode = UFFDIO_REGISTER_MODE_MISSING | (f->wp ? UFFDIO_REGISTER_MODE_WP : 0);
	/* a second reference to the userfaultfd that the program cannot close
	 * (fdguard.c): the kernel keeps the registration while it lives.
	 * Where a sandbox refuses unshare(CLONE_FILES) hetmem runs without it:
	 * only a raw close of the program's loses then (see fdguard.c) */
	hm_fd_keep_uffd(fd);
	hm_fd_begin();
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	hm_g.stop_efd = efd < 0 ? -1 : hm_fd_hide(efd, &hm_g.stop_efd);
	hm_fd_end();
	struct stat est;
	if (hm_g.stop_efd < 0 || fstat(hm_g.stop_efd, &est)) {
		rc = hm_error(errno, "hm_init: eventfd failed");
		hm_fault_close();
		return rc;
	}
	efd_dev = est.st_dev;
	efd_ino = est.st_ino;
	atomic_store(&handler_stop, false);
	hm_fd_moved_hook = handler_kick;
	atomic_store(&hm_g.handler_cpu, -1);
	return 0;

err_close:
	hm_fd_release_uffd();
	hm_fd_close(hm_g.uffd);
	hm_g.uffd = -1;
	return rc;
}

int hm_fault_start(void)
{
	int e = hm_thread_start(&hm_g.handler, "hm-fault", handler_main, NULL, handler_kick);
	return e ? hm_error(e, "hm_init: cannot start the handler thread") : 0;
}

void hm_fault_stop(void)
{
	uint64_t one = 1;
	atomic_store(&handler_stop, true);
	if (write(hm_g.stop_efd, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, "hetmem: shutdown: cannot signal the handler: %s\n", strerror(errno));
	pthread_join(hm_g.handler, NULL);
}

void hm_fault_close(void)
{
	hm_fd_moved_hook = NULL;
	if (hm_g.stop_efd >= 0)
		hm_fd_close(hm_g.stop_efd);
	hm_fd_release_uffd();
	hm_fd_close(hm_g.uffd);
	hm_g.stop_efd = hm_g.uffd = -1;
}
