/*
 * sigfault.c — signal mode (HETMEM_FAULTS=signal): faults served in the
 * faulting thread.
 *
 * The userfaultfd is opened with UFFD_FEATURE_SIGBUS, so a MISSING fault in a
 * registered range raises SIGBUS (BUS_ADRERR) in the thread that took it
 * instead of queueing a message for the handler thread.  Our SIGBUS handler
 * serves it there and then (hm_fault_local in fault.c) and returns: the
 * access is retried and finds the page.  Nothing crosses CPUs: no handler to
 * wake, no faulting thread to wake back (on a VM each of those wake-ups of a
 * halted vCPU goes through the hypervisor; docs/ARCHITECTURE.md).
 *
 * Over the budget, a fault that brings a 4 KiB folio in also takes one out,
 * and reuses its page: the victim's page is moved (UFFDIO_MOVE) into this
 * thread's staging page, copied to the budget's tier, overwritten with the
 * faulting page's data and moved (UFFDIO_MOVE again) to the faulting
 * address.  No page is allocated or freed, no MADV_DONTNEED raises a REMOVE
 * event that the handler thread must read, and the TLB flushes (of the
 * victim's PTE and the staging page's) are of this thread's own CPU when no
 * other thread of the program runs elsewhere.  The victims are the reclaimer's: each pass under
 * pressure queues the coldest resident folios (hm_sigfault_victims), and a
 * fault takes them coldest first, checking each is still resident and
 * unlocked.  With no victim at hand the fault fetches as usual and the
 * reclaimer demotes in the background.
 *
 * What signal mode costs the program, and why it is an opt-in:
 * a system call that touches an absent page (read(2) into a buffer on a
 * tier, process_vm_readv) fails with EFAULT instead of waiting, so devices
 * (which access in place with process_vm_readv) are refused; the program must
 * not take SIGBUS for itself (a handler installed after hm_init replaces
 * ours); write-protect is not used (a write-protect fault would raise
 * SIGBUS too), so demotion is by UFFDIO_MOVE only and write tracking by
 * async write-protect is off.  A SIGBUS that is not a fault of ours (another
 * mapping's, or a poisoned page's BUS_MCEERR_AR) goes to the handler that was
 * installed before, or kills the process as it would have.
 *
 * The handler runs on the faulting thread's stack, in a signal context: the
 * fault path takes only locks that the thread cannot be holding when it
 * touches managed memory (folio locks by trylock, the region table's read
 * lock, the tracker's mutex, rc_lock to kick the reclaimer, the tier slot locks),
 * and allocates only from glibc (hm_tls_internal is set while it runs: the
 * compressed tier grows its pool from a fault here); the staging page and
 * bounce buffers are mapped once per thread.
 */
#include "internal.h"
#include "os/uffd_compat.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define STAGE_PAGES 4096 /* threads that can recycle (one staging page each) */

static struct sigaction old_sa;
static bool installed;
static uintptr_t stage_base;
static _Atomic unsigned stage_next;
static _Atomic unsigned stage_gen; /* one per hm_init: a thread's page is of one */
static __thread uintptr_t my_stage __attribute__((tls_model("initial-exec")));
static __thread unsigned my_gen __attribute__((tls_model("initial-exec")));
static __thread bool my_stage_dirty __attribute__((tls_model("initial-exec")));

/* The victim queue: addresses of folios, the coldest at the top. */
static atomic_flag vq_lock = ATOMIC_FLAG_INIT;
static uintptr_t vq[HM_SIG_VICTIMS];
static _Atomic size_t vq_n; /* written under vq_lock; read without it as a hint */
static _Atomic uint32_t vq_filled_ms; /* when the queue was last filled (hm_clock_ms) */
static _Atomic bool vq_asked = true; /* a fault looked for a victim since the last fill (or none yet) */

static void vq_take(void)
{
	while (atomic_flag_test_and_set_explicit(&vq_lock, memory_order_acquire))
		sched_yield();
}

static void vq_give(void)
{
	atomic_flag_clear_explicit(&vq_lock, memory_order_release);
}

void hm_sigfault_victims(const uintptr_t *addrs, size_t n)
{
	if (n > HM_SIG_VICTIMS)
		n = HM_SIG_VICTIMS;
	vq_take();
	for (size_t k = 0; k < n; k++)
		vq[n - 1 - k] = addrs[k]; /* the coldest last: popped first */
	atomic_store_explicit(&vq_n, n, memory_order_relaxed);
	atomic_store_explicit(&vq_filled_ms, hm_clock_ms(), memory_order_relaxed);
	atomic_store_explicit(&vq_asked, false, memory_order_relaxed);
	vq_give();
}

bool hm_sigfault_want_victims(uint32_t now)
{
	/* no fault looked for a victim since the last fill: the queue is as
	 * good as it was, and a settled program (everything it touches in
	 * RAM) is spared the reclaimer's passes over every resident folio */
	if (!atomic_load_explicit(&vq_asked, memory_order_relaxed))
		return false;
	/* running low, or old: a queue filled before the reclaimer demoted on
	 * its own (or before the program moved on) can be all stale, and
	 * stale entries drain only a few per fault */
	return atomic_load_explicit(&vq_n, memory_order_relaxed) < HM_SIG_VICTIMS / 4 ||
	       now - atomic_load_explicit(&vq_filled_ms, memory_order_relaxed) >= HM_SIG_VICTIMS_MS;
}

static bool vq_pop(uintptr_t *a)
{
	if (!atomic_load_explicit(&vq_n, memory_order_relaxed))
		return false;
	vq_take();
	size_t n = atomic_load_explicit(&vq_n, memory_order_relaxed);
	bool ok = n > 0;
	if (ok) {
		*a = vq[n - 1];
		atomic_store_explicit(&vq_n, n - 1, memory_order_relaxed);
	}
	vq_give();
	return ok;
}

/* This thread's staging page (registered with the userfaultfd, empty
 * between faults), or 0 when all were taken (a thread keeps its page until
 * hm_shutdown, even after it exits: a program that starts more than
 * STAGE_PAGES threads over its life recycles only in the first ones). */
static uintptr_t stage_page(void)
{
	unsigned gen = atomic_load_explicit(&stage_gen, memory_order_relaxed);
	if (hm_likely(my_gen == gen))
		return my_stage; /* 0: none was left for this thread */
	my_gen = gen;
	my_stage = 0;
	my_stage_dirty = false;
	unsigned k = atomic_fetch_add(&stage_next, 1);
	if (k < STAGE_PAGES)
		my_stage = stage_base + ((uintptr_t)k << HM_PAGE_SHIFT);
	return my_stage;
}

/* A resident, unlocked 4 KiB folio to give up its page, locked and
 * referenced; NULL if none of the next few queued will do. */
static struct hm_region *victim_get(struct hm_region *self, size_t self_head, size_t *vhead)
{
	if (!atomic_load_explicit(&vq_asked, memory_order_relaxed)) /* written once per fill, not per fault */
		atomic_store_explicit(&vq_asked, true, memory_order_relaxed);
	for (int tries = 0; tries < 32; tries++) {
		uintptr_t a;
		if (!vq_pop(&a))
			return NULL;
		struct hm_region *v = hm_region_get(a);
		if (!v)
			continue;
		size_t head = (a - v->base) >> HM_PAGE_SHIFT;
		if (region_folio_pages(v) != 1 || (v == self && head == self_head) || !hm_folio_trylock(v, head, NULL)) {
			hm_region_put(v);
			continue;
		}
		uint64_t w = atomic_load(&v->words[head]);
		if (pw_loc(w) != HM_LOC_HOST ||
		    (w & (PW_PROT_MASK | PW_PENDING | PW_SAMPLED | PW_SELFZAP)) ||
		    atomic_load(&v->dying)) {
			hm_folio_unlock(v, head);
			hm_region_put(v);
			continue;
		}
		*vhead = head;
		return v;
	}
	return NULL;
}

/* UFFDIO_MOVE of one page, no holes (-ENOENT if @src has none), retried
 * while an event waits for the handler thread (-EAGAIN). */
static int move_page(uintptr_t dst, uintptr_t src)
{
	for (int k = 0;; k++) {
		size_t done = 0;
		int rc = hm_prim_uffd_move_mode(hm_g.uffd, dst, src, HM_PAGE_SIZE, UFFDIO_MOVE_MODE_DONTWAKE, &done);
		if (done == HM_PAGE_SIZE)
			return 0;
		if (rc != -EAGAIN || k >= 64)
			return rc ? rc : -EIO;
		sched_yield();
	}
}

/* The victim's page is in our staging page and could not be written to the
 * tier: it goes back (the staging copy is the only one, so keep trying: a
 * move, else a copy; only a range that is gone stops it). */
static void put_back(uintptr_t vaddr, uintptr_t stage)
{
	for (int k = 0;; k++) {
		if (!move_page(vaddr, stage))
			return;
		size_t done = 0;
		int rc = hm_prim_uffd_copy(hm_g.uffd, vaddr, (const void *)stage, HM_PAGE_SIZE, false, &done);
		if (!rc || rc == -EEXIST) {
			my_stage_dirty = true; /* the copy source stays behind */
			return;
		}
		if (rc == -ENOENT || rc == -EFAULT || rc == -ESRCH) {
			my_stage_dirty = true;
			return; /* unmapped meanwhile: nothing to put back into */
		}
		sched_yield();
	}
}

int hm_sigfault_recycle(struct hm_region *r, size_t head)
{
	uint64_t budget = hm_g.budget;
	if (!budget || (atomic_load_explicit(&hm_cnt.resident_pages, memory_order_relaxed) << HM_PAGE_SHIFT) +
			       HM_PAGE_SIZE <= hm_g.budget_low)
		return 1;
	uintptr_t stage = stage_page();
	if (!stage)
		return 1;
	if (my_stage_dirty) {
		/* a failed recycle left a page there: empty it (rare) */
		if (hm_prim_madvise((void *)stage, HM_PAGE_SIZE, MADV_DONTNEED))
			return 1;
		my_stage_dirty = false;
	}
	uint64_t w = atomic_load(&r->words[head]);
	if (w & PW_PROT_MASK)
		return 1; /* a protected page's VMA differs from staging's: UFFDIO_MOVE refuses */
	bool first = pw_loc(w) == HM_LOC_NONE; /* a first touch: zeros */
	struct hm_tier *from = first ? NULL : hm_tier_get(pw_tier(w));
	struct hm_tier *to = hm_tier_get(hm_g.budget_tier);
	if ((!first && !from) || !to)
		return 1;
	/* a demotion: held off by fork like the movers' (migrate.c); never
	 * waited for here (this thread may be the one forking) */
	if (pthread_rwlock_tryrdlock(&hm_g.fork_lock))
		return 1;
	size_t vhead;
	struct hm_region *v = victim_get(r, head, &vhead);
	if (!v) {
		pthread_rwlock_unlock(&hm_g.fork_lock);
		return 1;
	}
	uint64_t vslot;
	int rc = hm_tier_alloc(to, 0, &vslot);
	if (rc)
		goto out_victim;
	uintptr_t vaddr = v->base + (vhead << HM_PAGE_SHIFT);
	/* 1. the victim's page out of the program's view, into our staging
	 * page (no holes: a page the program discarded is not worth it) */
	rc = move_page(stage, vaddr);
	if (rc) {
		hm_tier_free(to, vslot, 1);
		goto out_victim;
	}
	/* 2. its data to the tier; the words say so */
	rc = hm_tier_write(to, vslot, (const void *)stage, 1);
	if (rc) {
		put_back(vaddr, stage);
		hm_tier_free(to, vslot, 1);
		goto out_victim;
	}
	pw_set(&v->words[vhead], HM_LOC_TIER, to->id, vslot);
	HM_COUNT(resident_pages, -1);
	HM_COUNT(pages_demoted, 1);
	HM_COUNT(reclaim_pages, 1);
	hm_policy_demoted(v, vhead);
	hm_folio_unlock(v, vhead);
	hm_region_put(v);
	pthread_rwlock_unlock(&hm_g.fork_lock);
	/* 3. the faulting page's data (or zeros) over it, and the page to its
	 * place */
	const void *src = first ? NULL : hm_tier_window(from, pw_slot(w), 1, &rc);
	if (first)
		memset((void *)stage, 0, HM_PAGE_SIZE);
	else if (src)
		memcpy((void *)stage, src, HM_PAGE_SIZE);
	else if (!rc)
		rc = hm_tier_read(from, pw_slot(w), (void *)stage, 1);
	if (!rc)
		rc = move_page(r->base + (head << HM_PAGE_SHIFT), stage);
	if (rc) {
		my_stage_dirty = true;
		return 1; /* the ordinary fetch copies it */
	}
	pw_set(&r->words[head], HM_LOC_HOST, 0, 0);
	if (!first) {
		hm_tier_free(from, pw_slot(w), 1);
		HM_COUNT(pages_promoted, 1);
	}
	HM_COUNT(resident_pages, 1);
	HM_COUNT(sig_recycled, 1);
	return 0;

out_victim:
	hm_folio_unlock(v, vhead);
	hm_region_put(v);
	pthread_rwlock_unlock(&hm_g.fork_lock);
	return 1;
}

static bool is_write(void *ucv)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ucv;
	return uc && (uc->uc_mcontext.gregs[REG_ERR] & 2);
#else
	(void)ucv;
	return false;
#endif
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	if (si->si_code == BUS_ADRERR) {
		/* hetmem code on the program's thread: what it allocates (the
		 * compressed tier grows its pool in z_write) is glibc's, never
		 * the program's mimalloc, whose memory is managed: a fault
		 * taken inside this handler would find SIGBUS blocked and kill
		 * the process.  glibc's malloc cannot be interrupted here with
		 * its lock held: this thread was touching managed memory, which
		 * glibc's allocator never does. */
		bool was = hm_tls_internal;
		hm_tls_internal = true;
		int rc = hm_fault_local((uintptr_t)si->si_addr, is_write(uc));
		hm_tls_internal = was;
		if (rc == 1) {
			errno = saved;
			return;
		}
		/* -EIO: poisoned; with UFFDIO_POISON the retried access gets the
		 * kernel's BUS_MCEERR_AR, else this thread is the faulting one:
		 * pass the signal on as a memory error's (no fence needed) */
		if (rc == -EIO) {
			si->si_code = BUS_MCEERR_AR;
			if (hm_g.feat.poison) {
				errno = saved;
				return;
			}
		}
	}
	/* not ours: as if we were not here */
	if ((old_sa.sa_flags & SA_SIGINFO) && old_sa.sa_sigaction) {
		old_sa.sa_sigaction(sig, si, uc);
	} else if (old_sa.sa_handler != SIG_DFL && old_sa.sa_handler != SIG_IGN) {
		old_sa.sa_handler(sig);
	} else {
		/* the default action: the retried access raises it again */
		signal(SIGBUS, SIG_DFL);
	}
	errno = saved;
}

int hm_sigfault_start(void)
{
	if (!hm_g.sigfault)
		return 0;
	int rc = hm_map_registered((size_t)STAGE_PAGES << HM_PAGE_SHIFT, HM_PAGE_SIZE, "the signal-mode staging pages",
				   &stage_base);
	if (rc)
		return rc;
	atomic_store(&stage_next, 0);
	atomic_fetch_add(&stage_gen, 1);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_sa)) {
		rc = hm_error(errno, "hm_init: cannot install the SIGBUS handler for HETMEM_FAULTS=signal");
		hm_prim_uffd_unregister(hm_g.uffd, stage_base, (size_t)STAGE_PAGES << HM_PAGE_SHIFT);
		hm_sys_munmap((void *)stage_base, (size_t)STAGE_PAGES << HM_PAGE_SHIFT);
		stage_base = 0;
		return rc;
	}
	installed = true;
	return 0;
}

void hm_sigfault_stop(void)
{
	if (installed)
		sigaction(SIGBUS, &old_sa, NULL);
	installed = false;
	vq_take();
	atomic_store_explicit(&vq_n, 0, memory_order_relaxed);
	atomic_store_explicit(&vq_asked, true, memory_order_relaxed);
	vq_give();
	if (stage_base) {
		hm_prim_uffd_unregister(hm_g.uffd, stage_base, (size_t)STAGE_PAGES << HM_PAGE_SHIFT);
		hm_sys_munmap((void *)stage_base, (size_t)STAGE_PAGES << HM_PAGE_SHIFT);
	}
	stage_base = 0;
}
