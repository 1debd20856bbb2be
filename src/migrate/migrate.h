/*
 * migrate.h — moving folios between RAM and tiers (migrate.c).
 */
#ifndef HM_MIGRATE_H
#define HM_MIGRATE_H

#include "common.h"
#include "space/space.h"

/* ------------------------------------------------------------------------
 * migrate.c
 * ---------------------------------------------------------------------- */
HM_HIDDEN long hm_migrate_region(struct hm_region *r, size_t first, size_t last, int tier, int *status, unsigned flags);
/* The same for @n folios of @r given by their first pages (any order, each
 * once), in batches that share one staging chunk: the reclaimer's victims. */
HM_HIDDEN long hm_migrate_heads(struct hm_region *r, const size_t *heads, size_t n, int tier, unsigned flags);
#define HM_MIG_WAIT 0x1u  /* wait for locked folios instead of -EBUSY */
#define HM_MIG_TRY 0x2u   /* skip locked folios at once (-EBUSY) */
HM_HIDDEN int hm_staging_init(void);
HM_HIDDEN void hm_staging_fini(void);

HM_HIDDEN int hm_map_registered(size_t size, size_t align, const char *what, uintptr_t *base);

#endif
