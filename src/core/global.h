/*
 * global.h — the library's global state.
 */
#ifndef HM_GLOBAL_H
#define HM_GLOBAL_H

#include "common.h"
#include "place/policy.h"
#include "tiers/tier.h"
#include "space/space.h"

/* ------------------------------------------------------------------------
 * Global state.
 * ---------------------------------------------------------------------- */
struct hm_global {
	_Atomic bool initialised;
	bool in_child;             /* a forked child: hetmem is off here */
	int uffd;
	int stop_efd;              /* eventfd that stops the handler */
	pthread_t handler;
	struct hm_features feat;
	enum hm_demote_mode demote;
	unsigned readahead_max;
	unsigned spin_us;          /* handler busy-polls this long after work */
	bool idle_poll;            /* hold a 0 us CPU latency request (HETMEM_IDLE_POLL) */
	bool sigfault;             /* faults served in the faulting thread (HETMEM_FAULTS=signal) */
	bool cpus_set;             /* hetmem's threads run on cpus only (HETMEM_CPUS) */
	cpu_set_t cpus;
	int qos_fd;                /* /dev/cpu_dma_latency while idle_poll, or -1 */
	bool block_heat;           /* policies use block heat (HETMEM_BLOCK_HEAT) */
	unsigned block_promote;    /* fetches per window that promote a whole
				    * block; 0 = off (HETMEM_BLOCK_PROMOTE) */
	unsigned cfg_flags;
	uint64_t register_mode;    /* UFFDIO_REGISTER_MODE_* used for regions */

	/* region table: sorted by base; readers take rlock */
	pthread_rwlock_t regions_lock;
	struct hm_region **regions;
	size_t nregions, cap_regions;

	/* tiers: tiers[0] is NULL (host RAM); guarded by tiers_lock for
	 * add/remove; lookups read the atomic pointer */
	pthread_mutex_t tiers_lock;
	struct hm_tier *_Atomic tiers[HM_MAX_TIERS];
	int ntiers;

	/* incremented by the handler for each batch of messages it reads: an
	 * event applies only to regions born before it was read (a region
	 * mapped at the same address after the munmap is not its target) */
	_Atomic uint64_t event_seq;
	/* the CPU the handler thread last read messages on (track.c's probe
	 * faults from another one, as a program thread's faults usually are) */
	_Atomic int handler_cpu;

	/* automatic tiering (reclaim.c, policy.c) */
	const struct hm_policy_ops *_Atomic policy;
	struct hm_policy_ctx pctx;    /* the reclaimer's own: no other thread reads it */
	_Atomic uint32_t pub_gen;     /* what fault-path events may read of it, */
	_Atomic uint32_t pub_hot;     /* published after each tick */
	_Atomic uint64_t budget, budget_low, budget_high; /* bytes; budget 0 = none */
	_Atomic int budget_tier;

	/* migration vs fork: movers hold it shared, fork prepare exclusive */
	pthread_rwlock_t fork_lock;

	/* staging ranges for UFFDIO_MOVE demotion, one per mover at a time */
	pthread_mutex_t staging_lock;
	uintptr_t staging_base;
	size_t staging_size;       /* bytes; one HM_MAX_FOLIO slot per user */
	uint64_t staging_free;     /* bitmap of free staging slots */
};

extern struct hm_global hm_g;


#endif
