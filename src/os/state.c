/*
 * state.c — the storage of the process-wide state that every layer
 * reads: the counters (struct hm_counters, core/stats.h; each layer counts
 * its events with HM_COUNT, core/stats.c reads them for hm_stats_get) and
 * the global struct (core/global.h, which names each field's owner).  At the
 * bottom of the stack, so that no layer links upward to reach them.
 */
#include "internal.h"

struct hm_counters hm_cnt;

struct hm_global hm_g = {
	.uffd = -1,
	.stop_efd = -1,
	.regions_lock = PTHREAD_RWLOCK_INITIALIZER,
	.tiers_lock = PTHREAD_MUTEX_INITIALIZER,
	.fork_lock = PTHREAD_RWLOCK_INITIALIZER,
	.staging_lock = PTHREAD_MUTEX_INITIALIZER,
	.ntiers = 1,
};
