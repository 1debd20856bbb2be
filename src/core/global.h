/*
 * global.h — the library's global state, hm_g: each field annotated with
 * its owner, the one file that writes it (the rule is below).
 */
#ifndef HM_GLOBAL_H
#define HM_GLOBAL_H

#include "common.h"
#include "place/policy.h"
#include "tiers/tier.h"
#include "space/space.h"

/* ------------------------------------------------------------------------
 * Global state, one struct for the process (stored in os/state.c).
 *
 * The rule: every field has one owner, the file named in its comment, and
 * only the owner writes it (its initial value in os/state.c aside); every
 * other file reads it.  Where a second file writes a field, the comment
 * says which and why.  Four kinds of owner:
 *   options   core/options.c (hm_config_resolve) at hm_init, from struct
 *             hm_config and struct hm_options: the settings, read-only
 *             while hetmem runs
 *   init      core/init.c at hm_init and hm_shutdown; core/fork.c in a
 *             forked child
 *   a subsystem's file, for its run-time state (fault.c, space.c, tier.c,
 *             reclaim.c, policy.c, migrate.c), under the lock next to it
 *   fdguard   a descriptor field registered with hm_fd_hide(fd, &field):
 *             os/fdguard.c rewrites it when a program's dup2 moves the
 *             descriptor (the handler loads it atomically)
 * A lock's owner is the file that defines what it guards (initialised in
 * os/state.c); other files take it.
 *
 * The fields stay in this order rather than one sub-struct per owner: the
 * fault path reads uffd, feat, readahead_max, register_mode, the region
 * table, tiers and event_seq on every fault, and regrouping would change
 * which of them share a cache line with fields that other threads write
 * (event_seq, handler_cpu, pctx, the budget).
 * ---------------------------------------------------------------------- */
struct hm_global {
	_Atomic bool initialised;  /* init (true at the end of hm_init, false at
				    * hm_shutdown; fork.c: false in a child) */
	bool in_child;             /* fork.c: a forked child: hetmem is off here */
	int uffd;                  /* fault.c (open/close); fdguard */
	int stop_efd;              /* fault.c: eventfd that stops the handler; fdguard */
	pthread_t handler;         /* fault.c: the handler thread */
	struct hm_features feat;   /* fault.c (hm_fault_open): what hm_init chose */
	/* settings: options (HETMEM_* and struct hm_config) */
	enum hm_demote_mode demote; /* options; init.c resolves AUTO to MOVE or WP */
	unsigned readahead_max;
	unsigned spin_us;          /* handler busy-polls this long after work */
	bool idle_poll;            /* hold a 0 us CPU latency request (HETMEM_IDLE_POLL) */
	bool sigfault;             /* faults served in the faulting thread (HETMEM_FAULTS=signal) */
	bool cpus_set;             /* hetmem's threads run on cpus only (HETMEM_CPUS) */
	cpu_set_t cpus;
	int qos_fd;                /* init.c: /dev/cpu_dma_latency while idle_poll, or -1; fdguard */
	bool block_heat;           /* options: policies use block heat (HETMEM_BLOCK_HEAT) */
	unsigned block_promote;    /* options: fetches per window that promote a
				    * whole block; 0 = off (HETMEM_BLOCK_PROMOTE) */
	unsigned writeback_age_s;  /* options: compressed pages idle this long are written
				    * back to the next tier; 0 = by age never (HETMEM_WRITEBACK_AGE) */
	unsigned cfg_flags;        /* options: struct hm_config's flags */
	uint64_t register_mode;    /* fault.c (hm_fault_open): UFFDIO_REGISTER_MODE_*
				    * used for regions */

	/* space.c: the region table, sorted by base; readers (fork.c among
	 * them) take rlock */
	pthread_rwlock_t regions_lock;
	struct hm_region **regions;
	size_t nregions, cap_regions;

	/* tier.c: tiers[0] is NULL (host RAM); guarded by tiers_lock for
	 * add/remove; lookups read the atomic pointer (init.c sets ntiers to 1
	 * at hm_init) */
	pthread_mutex_t tiers_lock;
	struct hm_tier *_Atomic tiers[HM_MAX_TIERS];
	int ntiers;

	/* fault.c: incremented by the handler for each batch of messages it
	 * reads: an event applies only to regions born before it was read (a
	 * region mapped at the same address after the munmap is not its
	 * target) */
	_Atomic uint64_t event_seq;
	/* fault.c: the CPU the handler thread last read messages on (track's
	 * scan.c probe faults from another one, as a program thread's faults
	 * usually are) */
	_Atomic int handler_cpu;

	/* automatic tiering: the policy is policy.c's (hm_policy_set; options
	 * sets it at hm_init), the rest reclaim.c's (options clears pctx and
	 * pub_* at hm_init, before the reclaimer starts) */
	const struct hm_policy_ops *_Atomic policy;
	struct hm_policy_ctx pctx;    /* the reclaimer's own: no other thread reads it */
	_Atomic uint32_t pub_gen;     /* what fault-path events may read of it, */
	_Atomic uint32_t pub_hot;     /* published after each tick */
	_Atomic uint64_t budget, budget_low, budget_high; /* bytes; budget 0 = none */
	_Atomic int budget_tier;

	/* fork.c: migration vs fork: movers hold it shared, fork prepare
	 * exclusive */
	pthread_rwlock_t fork_lock;

	/* migrate.c: staging ranges for UFFDIO_MOVE demotion, one per mover at
	 * a time */
	pthread_mutex_t staging_lock;
	uintptr_t staging_base;
	size_t staging_size;       /* bytes; one HM_MAX_FOLIO slot per user */
	uint64_t staging_free;     /* bitmap of free staging slots */
};

extern struct hm_global hm_g;


#endif
