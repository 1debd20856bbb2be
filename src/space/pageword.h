/*
 * pageword.h — the page-table word, one per 4 KiB page of a region.
 */
#ifndef HM_PAGEWORD_H
#define HM_PAGEWORD_H

#include "common.h"

/* ------------------------------------------------------------------------
 * The page-table word: one uint64_t per 4 KiB page of a region.
 *
 *   bits  0-2   LOC     where the content is (HM_LOC_*)
 *   bit   3     MOVING  folio lock (meaningful on a folio's head word only)
 *   bit   4     WAITERS a fault is parked on this locked folio (head only):
 *                       whoever unlocks must UFFDIO_WAKE the folio
 *   bit   5     NOREAD  hm_protect() removed read access
 *   bit   6     NOWRITE hm_protect() removed write access
 *   bit   7     PLACED  hetmem placed the folio in the page table (a fetch,
 *                       a move) since the last soft-dirty scan (head word
 *                       only; track/write.c: its soft-dirty bit is not a
 *                       write of the program's)
 *   bits  8-11  TIER    tier id when LOC == TIER (HM_MAX_TIERS = 16)
 *   bit  12     DISCARD a madvise(DONTNEED) event arrived while the folio
 *                       was locked: applied by whoever unlocks it
 *   bit  13     GONE    same for an munmap event
 *   bit  14     SELFZAP hetmem itself is discarding this page (WP demotion):
 *                       the handler ignores the REMOVE event this causes
 *                       and clears the bit
 *   bit  15     SAMPLED the page is HOST but taken out of the page table
 *                       for a hint-fault sample (track.c): its data sits in
 *                       the tracker's hold area until restored; set and
 *                       cleared only by track.c under its mutex
 *   bits 16-63  SLOT    4 KiB slot index on that tier when LOC == TIER
 *
 * Transitions (all of a folio's words change only while its head word has
 * MOVING set by the caller, taken with a CAS.  The fault path never waits
 * for a folio lock (a fault on a locked folio is parked, WAITERS); it takes
 * the region table's read lock to find the region, a tier's slot lock to
 * free slots, and the tracker's mutex to put a sample back):
 *   NONE   -> HOST     first touch: the handler fills the folio with zeros
 *   HOST   -> TIER     demotion (migrate.c)
 *   TIER   -> HOST     fault-back (fault.c) or promotion (migrate.c)
 *   TIER   -> TIER'    migration between tiers
 *   TIER   -> POISON   the tier failed to give the data back
 *   any    -> NONE     madvise(DONTNEED) seen through a REMOVE event
 *   any    -> UNMAPPED hm_free() or munmap() seen through an UNMAP event
 * ---------------------------------------------------------------------- */
enum hm_loc {
	HM_LOC_NONE = 0,     /* never populated, or discarded: reads as zeros */
	HM_LOC_HOST = 1,     /* in RAM, mapped */
	HM_LOC_TIER = 2,     /* on a device tier at SLOT */
	HM_LOC_POISON = 3,   /* lost: access gets SIGBUS */
	HM_LOC_UNMAPPED = 4, /* no longer part of the address space */
	HM_LOC_MAPPED = 5,   /* in the page table, on coherent tier TIER (no
			      * SLOT): HOST -> MAPPED and back by ops->move.
			      * No word holds it yet: hm_tier_create refuses
			      * coherent tiers until the migration path
			      * serves them (and every "is it in RAM" test
			      * here treats it as present). */
};

#define PW_LOC_MASK 0x7ull
#define PW_MOVING (1ull << 3)
#define PW_WAITERS (1ull << 4)
#define PW_NOREAD (1ull << 5)
#define PW_NOWRITE (1ull << 6)
#define PW_TIER_SHIFT 8
#define PW_TIER_MASK (0xfull << PW_TIER_SHIFT)
#define PW_DISCARD (1ull << 12)
#define PW_GONE (1ull << 13)
#define PW_SELFZAP (1ull << 14)
#define PW_SAMPLED (1ull << 15)
#define PW_PLACED (1ull << 7)
#define PW_PENDING (PW_DISCARD | PW_GONE)
#define PW_SLOT_SHIFT 16
#define PW_SLOT_MAX ((1ull << 48) - 1)
#define PW_PROT_MASK (PW_NOREAD | PW_NOWRITE)

typedef _Atomic uint64_t hm_pw_t;

static inline unsigned pw_loc(uint64_t w) { return (unsigned)(w & PW_LOC_MASK); }
static inline int pw_tier(uint64_t w) { return (int)((w & PW_TIER_MASK) >> PW_TIER_SHIFT); }
static inline uint64_t pw_slot(uint64_t w) { return w >> PW_SLOT_SHIFT; }
/* Bits a location change keeps: they belong to other parties. */
#define PW_KEEP (PW_MOVING | PW_WAITERS | PW_PROT_MASK | PW_PENDING | PW_SELFZAP | PW_SAMPLED | PW_PLACED)
/* Set a word's location (the caller holds the folio lock); a CAS loop, since
 * event handling may set PENDING bits on tail words concurrently. */
static inline uint64_t pw_set(hm_pw_t *p, unsigned loc, int tier, uint64_t slot)
{
	uint64_t old = atomic_load(p), nw;
	do {
		nw = (old & PW_KEEP) | loc | ((uint64_t)tier << PW_TIER_SHIFT) | (slot << PW_SLOT_SHIFT);
	} while (!atomic_compare_exchange_weak(p, &old, nw));
	return old;
}


#endif
