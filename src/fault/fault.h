/*
 * fault.h — the fault path: the handler thread and the fetch (fault.c),
 * signal mode (sigfault.c), lost pages (poison.c).
 */
#ifndef HM_FAULT_H
#define HM_FAULT_H

#include "common.h"
#include "space/space.h"

/* ------------------------------------------------------------------------
 * fault.c
 * ---------------------------------------------------------------------- */
/* Open the userfaultfd with features @want (the probe's answer @f is kept
 * in hm_g.feat), its second reference and the handler's stop eventfd: 0 or
 * -errno, nothing left open on failure.  hm_fault_close undoes it. */
HM_HIDDEN int hm_fault_open(uint64_t want, const struct hm_features *f);
HM_HIDDEN void hm_fault_close(void);
/* Start and stop (signal and join) the handler thread. */
HM_HIDDEN int hm_fault_start(void);
HM_HIDDEN void hm_fault_stop(void);
/* Mark pages [i, i+n) of @r poisoned (SIGBUS on access); caller holds the
 * folio lock. */
HM_HIDDEN void hm_folio_poison(struct hm_region *r, size_t i, size_t n);
/* Bring locked folio @head of @r back to RAM from wherever it is (TIER or
 * NONE -> HOST).  Caller holds the folio lock.  0, or -EIO (poisoned). */
HM_HIDDEN int hm_folio_fetch(struct hm_region *r, size_t head, bool wake);
/* A 2 MiB buffer private to the calling thread, or NULL. */
HM_HIDDEN void *hm_bounce(void);
/* True on the fault handler thread (which must never wait for an event to
 * be read: it is the one that reads them). */
HM_HIDDEN bool hm_on_handler(void);

/* ------------------------------------------------------------------------
 * sigfault.c: signal mode (HETMEM_FAULTS=signal).  The userfaultfd is opened
 * with UFFD_FEATURE_SIGBUS: a fault on an absent page raises SIGBUS in the
 * faulting thread, whose handler brings the folio back there and then; over
 * the budget it recycles a victim's page for it (victims queued by the
 * reclaimer), so no other thread is woken and no other CPU flushed.
 * ---------------------------------------------------------------------- */
/* poison.c: lost pages without UFFDIO_POISON (a fence that raises SIGBUS) */
HM_HIDDEN void hm_poison_fence(struct hm_region *r, size_t head, uintptr_t fault, pid_t tid);
/* fence the POISON pages of [first, last) now; caller holds the folio lock,
 * never the handler thread.  0 or -errno */
HM_HIDDEN int hm_poison_fence_locked(struct hm_region *r, size_t first, size_t last);
HM_HIDDEN bool hm_poison_own_unmap(uintptr_t start, uintptr_t end);
HM_HIDDEN void hm_poison_discard(uintptr_t start, uintptr_t end);
HM_HIDDEN void hm_poison_stop(void);
HM_HIDDEN int hm_sigfault_start(void);
HM_HIDDEN void hm_sigfault_stop(void);
/* The reclaimer's coldest resident folios, coldest first: the next victims a
 * faulting thread recycles (replaces the queue). */
HM_HIDDEN void hm_sigfault_victims(const uintptr_t *addrs, size_t n);
/* Whether the queue wants filling: few victims left, or filled more than
 * HM_SIG_VICTIMS_MS ago (@now: hm_clock_ms). */
HM_HIDDEN bool hm_sigfault_want_victims(uint32_t now);
#define HM_SIG_VICTIMS 65536
#ifndef HM_SIG_VICTIMS_MS
/* 1 s: at 200 ms a pass ran 3.7 times a second in GUPS's skewed phase and
 * its CPU (on the other vCPU) made the faults' own TLB flushes IPIs; 1 s was
 * faster in 3 of 3 alternating pairs (docs/bench-logs/JOURNAL.md) */
#define HM_SIG_VICTIMS_MS 1000
#endif
/* fault.c: serve a fault at @addr in this thread (signal mode).  1: served or
 * to be retried (the access faults again); 0: not a fault of hetmem's;
 * -EIO: the page is lost (poisoned). */
HM_HIDDEN int hm_fault_local(uintptr_t addr, bool write);
/* sigfault.c: bring TIER folio @head (one 4 KiB page) of @r in, or give a
 * NONE one its first (zeroed) page, by recycling a victim's page; caller
 * holds the folio lock.  0 done, 1 not possible (use the ordinary fetch). */
HM_HIDDEN int hm_sigfault_recycle(struct hm_region *r, size_t head);

#endif
