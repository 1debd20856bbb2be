/*
 * preload.h — what the preload library's files share (preload/ only).
 */
#ifndef HM_PRELOAD_H
#define HM_PRELOAD_H

#include "common.h"

/* The mappings preload.c's mmap took and left (preload_stats.c publishes
 * them). */
extern HM_HIDDEN _Atomic uint64_t maps_managed, maps_unmanaged, bytes_unmanaged, maps_fallback;

/* preload_stats.c: the live record in /dev/shm and the report at exit. */
/* Create the record and start its publisher thread (from the constructor). */
HM_HIDDEN void hm_preload_stats_start(void);
/* In a forked child: the record is the parent's. */
HM_HIDDEN void hm_preload_stats_child(void);
/* At exit, in the process that started hetmem: the final record, or the
 * HETMEM_STATS report. */
HM_HIDDEN void hm_preload_stats_exit(void);

#endif
