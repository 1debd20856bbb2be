/*
 * poison.c — a lost page raises SIGBUS by itself where the kernel has no
 * UFFDIO_POISON (before Linux 6.6).
 *
 * A page whose device copy cannot be read back is poisoned (its page word
 * says POISON; fault.c).  With UFFDIO_POISON the kernel marks the page and
 * any access gets SIGBUS at its address.  Without it, a SIGBUS queued to
 * the faulting thread from the handler thread is refused (a kernel si_code
 * may only be queued to oneself: EPERM), and waking the thread only makes
 * it fault again.  So the page is fenced instead: an empty memfd is mapped
 * over it (MAP_SHARED|MAP_FIXED, at a file offset beyond its size 0).  An
 * access beyond the end of a shared file mapping is a SIGBUS with si_addr =
 * the address (BUS_ADRERR), in any thread, and inside a system call it is
 * EFAULT, as for a real memory error.  Then the faulting thread is woken;
 * its retried access takes the SIGBUS.
 *
 * A page poisoned off the handler thread (a migration home, fork, hm_shutdown
 * bringing pages home) is fenced there and then, as UFFDIO_POISON marks it at
 * once: after hm_shutdown unregisters the range, it must still not read as
 * zeros.  On the handler thread (a fault) the fence is mapped by a worker
 * thread of its own, started at the first such fence: a MAP_FIXED over a registered range sends an UNMAP event, and the
 * mapping thread waits until the handler thread has read it — the handler
 * cannot map the fence itself.  The worker takes the folio lock, fences
 * each run of pages still POISON, notes its own UNMAP event so the handler
 * ignores it (hm_poison_own_unmap), registers the fence (missing mode: the
 * fence faults never reach the handler, since shmem raises SIGBUS beyond
 * end of file first) so that the program's munmap, mremap and madvise of it
 * still send their events, unlocks and wakes the folio.  If a fence cannot
 * be mapped, the faulting thread gets a SIGBUS by tgkill (SI_TKILL: no
 * si_addr) rather than a wake-up into the same fault.
 *
 * What the rest sees (compared with UFFDIO_POISON):
 *  - the page word stays POISON; hm_where says HM_WHERE_POISON;
 *  - munmap of it: an UNMAP event, the pages become UNMAPPED, as before;
 *  - madvise(DONTNEED) of it: a REMOVE event; the handler puts an
 *    anonymous registered page back (hm_poison_discard), and the page reads
 *    as zeros next, as a discarded UFFDIO_POISON marker does (the kernel
 *    zaps the marker: the next access is a missing fault);
 *  - mremap of exactly the fence moves it (a REMAP event; the words follow);
 *    an mremap spanning it and the rest of the region fails (EFAULT: two
 *    mappings), where UFFDIO_POISON's markers would move with the pages;
 *  - hm_free, hm_shutdown, fork: the fence is unregistered, unmapped, or
 *    inherited (shared: still SIGBUS in the child) like any part of the
 *    region.
 * Through the library API a raw madvise(DONTNEED) is seen by its REMOVE
 * event, which the handler reads after madvise has returned: an access at
 * once may still meet the fence.  Under `hetmem run` the madvise interposer
 * gives the fence back before madvise (preload.c).  One race is left: a
 * program that mremaps a page away while one of its threads is blocked
 * faulting on it, and maps something else there, before the worker maps the
 * fence, would have that mapping replaced by the fence.
 */
#include "internal.h"
#include "os/uffd_compat.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct job {
	struct job *next;
	uintptr_t addr; /* the folio */
	size_t len;
	uintptr_t fault; /* the faulting address */
	pid_t tid;       /* the faulting thread (0: unknown) */
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct job *q_head, **q_tail = &q_head;
static bool q_stop, started;
static pthread_t worker;

/* A POISON word's slot field is otherwise unused: 1 there says the page is
 * fenced (set and cleared under the folio lock, or by the one who maps the
 * page's anonymous memory back). */
#define FENCED 1
static bool fenced(uint64_t w)
{
	return pw_loc(w) == HM_LOC_POISON && pw_slot(w) == FENCED;
}

/* The ranges of fences being mapped (by the worker, and by threads that
 * poison a page off the handler): their UNMAP events are our own.  An entry
 * goes when the handler sees its event. */
#define OWN_MAX 16
static pthread_mutex_t own_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t own[OWN_MAX][2];
static _Atomic unsigned own_n;

bool hm_poison_own_unmap(uintptr_t start, uintptr_t end)
{
	if (!atomic_load(&own_n))
		return false;
	bool mine = false;
	pthread_mutex_lock(&own_lock);
	for (unsigned k = 0; k < OWN_MAX && !mine; k++) {
		if (own[k][0] == start && own[k][1] == end) {
			own[k][0] = own[k][1] = 0;
			atomic_fetch_sub(&own_n, 1);
			mine = true;
		}
	}
	pthread_mutex_unlock(&own_lock);
	return mine;
}

static void own_add(uintptr_t start, uintptr_t end)
{
	for (int tries = 0;; tries++) {
		pthread_mutex_lock(&own_lock);
		for (unsigned k = 0; k < OWN_MAX; k++) {
			/* a free entry, or after ~100 ms of waiting any: an entry
			 * whose event never came (its range was not registered) */
			if (!own[k][0] || tries >= 1000) {
				if (!own[k][0])
					atomic_fetch_add(&own_n, 1);
				own[k][0] = start;
				own[k][1] = end;
				pthread_mutex_unlock(&own_lock);
				return;
			}
		}
		pthread_mutex_unlock(&own_lock);
		usleep(100);
	}
}

/* The thread could not be given a fenced page: a SIGBUS it can see (no
 * si_addr: SI_TKILL), never a wake-up into the same fault. */
static void signal_thread(pid_t tid, uintptr_t addr)
{
	static _Atomic bool said;
	if (!atomic_exchange(&said, true))
		fprintf(stderr, "hetmem: cannot fence a lost page at %#lx (%s): SIGBUS sent without its address\n",
			(unsigned long)addr, strerror(errno));
	int rc = tid > 0 ? (int)syscall(SYS_tgkill, getpid(), tid, SIGBUS) : kill(getpid(), SIGBUS);
	if (rc)
		fprintf(stderr, "hetmem: cannot send SIGBUS for a lost page: %s\n", strerror(errno));
}

static int page_prot(uint64_t w)
{
	if (w & PW_NOREAD)
		return PROT_NONE;
	return (w & PW_NOWRITE) ? PROT_READ : PROT_READ | PROT_WRITE;
}

/* Map the fence over [a, a+len).  0 or -errno. */
static int fence(uintptr_t a, size_t len, int prot)
{
	int fd = memfd_create("hetmem-lost", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (hm_g.feat.event_unmap) /* (without UNMAP events there is none to skip) */
		own_add(a, a + len);
	/* offset = the address: adjacent fences of one file merge; all of it
	 * lies beyond the file's size 0 */
	void *p = hm_sys_mmap((void *)a, len, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)a);
	int e = errno;
	close(fd);
	if (p == MAP_FAILED) {
		if (hm_g.feat.event_unmap)
			hm_poison_own_unmap(a, a + len); /* no event: the entry goes */
		return -e;
	}
	/* registered, so that the program's munmap/mremap/madvise of it are
	 * events; if that fails the fence still raises SIGBUS */
	int rc = hm_prim_uffd_register(hm_g.uffd, a, len, UFFDIO_REGISTER_MODE_MISSING);
	if (rc)
		fprintf(stderr, "hetmem: a lost page's fence at %#lx is not registered (%s): "
				"unmapping it will not be seen\n", (unsigned long)a, strerror(-rc));
	return 0;
}

/* An anonymous registered page again over [a, a+len) (a fence or not: the
 * pages are lost either way, and now read as zeros).  0 or -errno. */
static int unfence(uintptr_t a, size_t len, int prot)
{
	/* unregistered first, so the mapping below sends no event */
	int rc = hm_prim_uffd_unregister(hm_g.uffd, a, len);
	if (rc)
		return rc;
	if (hm_sys_mmap((void *)a, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) ==
	    MAP_FAILED)
		return -errno;
	return hm_prim_uffd_register(hm_g.uffd, a, len, hm_g.register_mode);
}

int hm_poison_fence_locked(struct hm_region *r, size_t first, size_t last)
{
	int ret = 0;
	for (size_t i = first; i < last;) {
		uint64_t w = atomic_load(&r->words[i]);
		size_t j = i + 1;
		if (pw_loc(w) != HM_LOC_POISON || (w & PW_PENDING) || fenced(w)) {
			i = j;
			continue;
		}
		while (j < last) {
			uint64_t wj = atomic_load(&r->words[j]);
			if (pw_loc(wj) != HM_LOC_POISON || (wj & PW_PENDING) || fenced(wj) ||
			    (wj & PW_PROT_MASK) != (w & PW_PROT_MASK))
				break;
			j++;
		}
		uintptr_t a = r->base + (i << HM_PAGE_SHIFT);
		size_t len = (j - i) << HM_PAGE_SHIFT;
		int rc = fence(a, len, page_prot(w));
		if (rc && !ret)
			ret = rc;
		for (size_t k = i; !rc && k < j; k++)
			pw_set(&r->words[k], HM_LOC_POISON, 0, FENCED);
		/* discarded while we mapped (its REMOVE event is pending): no
		 * fence over a page that must read zeros */
		for (size_t k = i; !rc && k < j; k++) {
			if (atomic_load(&r->words[k]) & PW_PENDING) {
				for (size_t m = i; m < j; m++)
					pw_set(&r->words[m], HM_LOC_POISON, 0, 0);
				int u = unfence(a, len, page_prot(w));
				if (u)
					fprintf(stderr, "hetmem: a discarded lost page at %#lx stays fenced (%s): "
							"it raises SIGBUS instead of reading zeros\n",
						(unsigned long)a, strerror(-u));
				break;
			}
		}
		i = j;
	}
	return ret;
}

/* Fence the POISON pages of the folio at @addr; 0 or the first -errno. */
static int fence_folio(uintptr_t addr)
{
	struct hm_region *r = hm_region_get_any(addr);
	if (!r)
		return 0; /* gone: the retried access finds whatever is there now */
	size_t fp = region_folio_pages(r);
	size_t head = ((addr - r->base) >> HM_PAGE_SHIFT) & ~(fp - 1);
	hm_folio_lock(r, head);
	int ret = hm_poison_fence_locked(r, head, head + fp);
	hm_folio_unlock(r, head);
	hm_region_put(r);
	return ret;
}

static void run_job(struct job *j)
{
	int rc = fence_folio(j->addr);
	if (rc) {
		errno = -rc;
		signal_thread(j->tid, j->fault);
		return;
	}
	rc = hm_prim_uffd_wake(hm_g.uffd, j->addr, j->len);
	if (rc)
		fprintf(stderr, "hetmem: cannot wake a thread after fencing a lost page: %s\n", strerror(-rc));
}

/* hm_thread_start's wake: the worker looks at a credentials request */
static void worker_wake(void)
{
	pthread_mutex_lock(&q_lock);
	pthread_cond_signal(&q_cond);
	pthread_mutex_unlock(&q_lock);
}

static void *worker_main(void *arg)
{
	(void)arg;
	hm_tls_internal = true;
	pthread_mutex_lock(&q_lock);
	for (;;) {
		while (!q_head && !q_stop) {
			/* a credentials request (thread.c): its wake function
			 * signals q_cond under q_lock, after the request is
			 * visible, so checking here under q_lock loses none */
			if (hm_thread_pending()) {
				pthread_mutex_unlock(&q_lock);
				hm_thread_sync();
				pthread_mutex_lock(&q_lock);
				continue;
			}
			pthread_cond_wait(&q_cond, &q_lock);
		}
		struct job *j = q_head;
		if (!j)
			break; /* stopping, nothing left */
		q_head = j->next;
		if (!q_head)
			q_tail = &q_head;
		pthread_mutex_unlock(&q_lock);
		run_job(j);
		free(j);
		pthread_mutex_lock(&q_lock);
	}
	pthread_mutex_unlock(&q_lock);
	return NULL;
}

void hm_poison_fence(struct hm_region *r, size_t head, uintptr_t fault, pid_t tid)
{
	struct job *j = malloc(sizeof(*j));
	if (!j) {
		errno = ENOMEM;
		signal_thread(tid, fault);
		return;
	}
	j->next = NULL;
	j->addr = r->base + (head << HM_PAGE_SHIFT);
	j->len = (size_t)1 << r->folio_shift;
	j->fault = fault;
	j->tid = tid;
	pthread_mutex_lock(&q_lock);
	if (!started) {
		q_stop = false;
		int e = hm_thread_start(&worker, "hm-poison", worker_main, NULL, worker_wake);
		if (e) {
			pthread_mutex_unlock(&q_lock);
			free(j);
			errno = e;
			signal_thread(tid, fault);
			return;
		}
		started = true;
	}
	*q_tail = j;
	q_tail = &j->next;
	pthread_cond_signal(&q_cond);
	pthread_mutex_unlock(&q_lock);
}

void hm_poison_discard(uintptr_t start, uintptr_t end)
{
	uintptr_t a = start & ~(uintptr_t)(HM_PAGE_SIZE - 1);
	while (a < end) {
		struct hm_region *r = hm_region_overlap(a, end);
		if (!r)
			return;
		if (a < r->base)
			a = r->base;
		uintptr_t stop = end < r->base + r->size ? end : r->base + r->size;
		for (size_t i = (a - r->base) >> HM_PAGE_SHIFT; a < stop; i++, a += HM_PAGE_SIZE) {
			uint64_t w = atomic_load(&r->words[i]);
			/* only a fence: a page already given back may hold new data */
			bool took = false;
			while (fenced(w) && !(took = atomic_compare_exchange_weak(
						      &r->words[i], &w, w & ~((uint64_t)PW_SLOT_MAX << PW_SLOT_SHIFT))))
				;
			if (!took)
				continue;
			int rc = unfence(a, HM_PAGE_SIZE, page_prot(w));
			if (rc)
				fprintf(stderr, "hetmem: a discarded lost page at %#lx stays fenced (%s): "
						"it raises SIGBUS instead of reading zeros\n",
					(unsigned long)a, strerror(-rc));
		}
		hm_region_put(r);
	}
}

void hm_poison_stop(void)
{
	pthread_mutex_lock(&q_lock);
	bool was = started;
	q_stop = true;
	pthread_cond_signal(&q_cond);
	pthread_mutex_unlock(&q_lock);
	if (was)
		pthread_join(worker, NULL); /* after the jobs left: no thread stays asleep */
	pthread_mutex_lock(&q_lock);
	started = false;
	pthread_mutex_unlock(&q_lock);
}
