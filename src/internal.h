/*
 * internal.h — shared definitions of libhetmem's files: the page-table word,
 * regions, tiers, the global state, and the prototypes each file exports to
 * the others.  Nothing here is public API.
 */
#ifndef HM_INTERNAL_H
#define HM_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "hetmem.h"
#include "policy.h"

/* hetmem's threads must hold none of the program's locks when it forks: a
 * lock held then stays held in the child's copy for ever.  glibc's
 * strerror() translates through the locale under its _nl_state_lock (a
 * reclaimer formatting an error while bash forks a command substitution
 * left the child waiting in textdomain() at start), so the library's code
 * uses strerrordesc_np (glibc >= 2.32), which takes no lock and returns the
 * untranslated text. */
static inline const char *hm_strerror(int err)
{
	const char *s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}
#define strerror(err) hm_strerror(err)

#define HM_HIDDEN __attribute__((visibility("hidden")))

#define HM_PAGE_SHIFT 12
#define HM_PAGE_SIZE ((size_t)1 << HM_PAGE_SHIFT)
#define HM_MAX_FOLIO_PAGES 512

#ifdef HM_DEBUG
#include <assert.h>
#define HM_ASSERT(x) assert(x)
#else
#define HM_ASSERT(x) ((void)0)
#endif

#define hm_likely(x) __builtin_expect(!!(x), 1)
#define hm_unlikely(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------------
 * The page-table word: one uint64_t per 4 KiB page of a region.
 *
 *   bits  0-2   LOC     where the content is (HM_LOC_*)
 *   bit   3     MOVING  folio lock (meaningful on a folio's head word only)
 *   bit   4     WAITERS a fault is parked on this locked folio (head only):
 *                       whoever unlocks must UFFDIO_WAKE the folio
 *   bit   5     NOREAD  hm_protect() removed read access
 *   bit   6     NOWRITE hm_protect() removed write access
 *   bit   7     ACCESSED set by faults (hotness hint for later policies)
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
 * MOVING set by the caller, taken with a CAS; the fault path takes no other
 * lock):
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
};

#define PW_LOC_MASK 0x7ull
#define PW_MOVING (1ull << 3)
#define PW_WAITERS (1ull << 4)
#define PW_NOREAD (1ull << 5)
#define PW_NOWRITE (1ull << 6)
#define PW_ACCESSED (1ull << 7)
#define PW_TIER_SHIFT 8
#define PW_TIER_MASK (0xfull << PW_TIER_SHIFT)
#define PW_DISCARD (1ull << 12)
#define PW_GONE (1ull << 13)
#define PW_SELFZAP (1ull << 14)
#define PW_SAMPLED (1ull << 15)
#define PW_PENDING (PW_DISCARD | PW_GONE)
#define PW_SLOT_SHIFT 16
#define PW_SLOT_MAX ((1ull << 48) - 1)
#define PW_PROT_MASK (PW_NOREAD | PW_NOWRITE)

typedef _Atomic uint64_t hm_pw_t;

static inline unsigned pw_loc(uint64_t w) { return (unsigned)(w & PW_LOC_MASK); }
static inline int pw_tier(uint64_t w) { return (int)((w & PW_TIER_MASK) >> PW_TIER_SHIFT); }
static inline uint64_t pw_slot(uint64_t w) { return w >> PW_SLOT_SHIFT; }
/* Bits a location change keeps: they belong to other parties. */
#define PW_KEEP (PW_MOVING | PW_WAITERS | PW_PROT_MASK | PW_ACCESSED | PW_PENDING | PW_SELFZAP | PW_SAMPLED)
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

/* ------------------------------------------------------------------------
 * Regions: one per hm_alloc().
 * Invariants: base and size are multiples of the folio size; words has
 * size/4096 entries; a region in the table has refs >= 1 (the table's own);
 * once dying is set no new user takes a reference, and the memory is unmapped
 * only when refs drops to 0.
 * ---------------------------------------------------------------------- */
struct hm_region {
	uintptr_t base;
	size_t size;
	unsigned folio_shift;     /* 12, 16 or 21 */
	size_t npages;
	hm_pw_t *words;
	_Atomic long refs;
	_Atomic bool dying;
	_Atomic uintptr_t last_fault; /* folio index of the last fault + 1 */
	_Atomic unsigned ra_window;   /* current readahead window (folios) */
	uint64_t born;                /* hm_g.event_seq when created */
	_Atomic long dev_writers;     /* device writes in place in flight
				       * (device.c): WP demotion backs off */
	_Atomic uint64_t *pstate;     /* one struct hm_pstate per folio (policy.c) */
	_Atomic uint16_t *heat;       /* per 2 MiB block: hint-sample hit ratio (policy.c) */
	_Atomic uint32_t *bfetch;     /* per 2 MiB block: fetches in the current
				       * promotion window (policy.c: block promotion) */
	struct hm_adv_range *adv;     /* placement advice, sorted (advise.c) */
	size_t nadv;
	struct hm_adv_range *lck;     /* locked pages (mlock), sorted (lock.c) */
	size_t nlck;
};

static inline size_t region_folio_pages(const struct hm_region *r)
{
	return (size_t)1 << (r->folio_shift - HM_PAGE_SHIFT);
}

/* ------------------------------------------------------------------------
 * Tiers.
 * ---------------------------------------------------------------------- */
struct hm_tier;

/* The backend ops table: one per kind of device-private memory. */
#define HM_SLOT_ORDERS 10 /* runs of 2^0 .. 2^9 slots (4 KiB .. 2 MiB) */

struct hm_tier_ops {
	const char *kind;
	bool coherent; /* CPU can map it in place (none yet) */
	/* parse @args (the part after "kind:") and open the backing store;
	 * set t->capacity.  0 or -errno (with hm_error()). */
	int (*open)(struct hm_tier *t, const char *args);
	void (*close)(struct hm_tier *t);
	/* copy @len bytes at byte offset @off: 0 or -errno */
	int (*read)(struct hm_tier *t, uint64_t off, void *buf, size_t len);
	int (*write)(struct hm_tier *t, uint64_t off, const void *buf, size_t len);
	/* optional: a CPU pointer to byte @off (a private window of the store,
	 * never the managed range), or NULL */
	void *(*map)(struct hm_tier *t, uint64_t off, size_t len);
	/* optional: give back the storage of the free bytes [off, off+len)
	 * (their content is dropped).  0 or -errno; -EOPNOTSUPP stops calls */
	int (*release)(struct hm_tier *t, uint64_t off, size_t len);
};

struct hm_tier {
	int id;
	const struct hm_tier_ops *ops;
	char name[64];
	uint64_t capacity;     /* bytes */
	uint64_t nslots;       /* capacity / 4096 */
	/* slot allocator: a bitmap, 1 = in use, guarded by lock */
	pthread_mutex_t lock;
	uint64_t *bitmap;
	uint64_t hint[HM_SLOT_ORDERS]; /* per order: no aligned run below is free */
	_Atomic uint64_t used_slots;
	_Atomic uint64_t released;     /* bytes given back to the store (ops->release) */
	_Atomic bool no_release;       /* the store refused a release */
	uint64_t *pending;             /* per 64 KiB group: free, storage not yet
					* released (NULL: no ops->release); lock */
	uint64_t npending, pending_lo; /* set bits; no bit below group pending_lo */
	uint64_t release_keep;         /* pending groups a release pass leaves with their storage */
	_Atomic uint64_t pages_in, pages_out, errors;
	struct hm_device *device; /* owner, if a device's memory */
	/* backend state */
	int fd;
	void *window;          /* emu: the memfd mapped privately for copies */
	bool is_blockdev;
};

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

/* ------------------------------------------------------------------------
 * Counters (stats.c).  Relaxed atomics; a snapshot is not a transaction.
 * ---------------------------------------------------------------------- */
struct hm_counters {
	_Atomic uint64_t faults, faults_zero, faults_fetch, faults_wait, faults_wp;
	_Atomic uint64_t readahead_folios;
	_Atomic uint64_t pages_promoted, pages_demoted, pages_tier2tier;
	_Atomic uint64_t migrate_failures, fallback_pages, poisoned, retries;
	_Atomic uint64_t injected, fork_homes, unmanaged_faults;
	_Atomic uint64_t regions, managed_bytes, resident_pages, metadata_bytes;
	_Atomic uint64_t device_reads, device_writes, device_evictions;
	_Atomic uint64_t policy_events, refaults, reclaim_scans, reclaim_pages, thrash_backoffs, throttled_faults;
	_Atomic uint64_t advise_hot_kept, advise_cold_first;
	_Atomic uint64_t record_samples, record_us;
	_Atomic uint64_t track_write_scans, track_written, track_samples, track_hint_faults, track_cpu_ns;
	_Atomic uint64_t block_promotions, block_promoted_pages;
	_Atomic uint64_t sig_faults, sig_recycled, sig_retries;
	_Atomic uint64_t over_budget, over_budget_ms, over_budget_peak;
	_Atomic uint64_t fault_wait_ns, fault_wait_pct, thrash_now, thrash_ms, budget_ms;
	_Atomic uint64_t locked_pages; /* in lock.c's ranges (a partial munmap keeps its part until the region goes) */
};
extern struct hm_counters hm_cnt;
#define HM_COUNT(field, n) atomic_fetch_add_explicit(&hm_cnt.field, (n), memory_order_relaxed)

/* ------------------------------------------------------------------------
 * options.c: errors, sizes, configuration.
 * ---------------------------------------------------------------------- */
/* Record a message for hm_last_error() and return -err (err positive). */
/* True in hetmem's own threads (handler, reclaimer) and while the preload
 * library's interposers run hetmem code: the preload library's malloc then
 * serves from glibc, never from managed memory, so hetmem never faults on
 * its own data.  Unused (always false) outside the preload library.
 * initial-exec: malloc reads it, so reaching it must never allocate. */
extern HM_HIDDEN __thread bool hm_tls_internal __attribute__((tls_model("initial-exec")));

HM_HIDDEN int hm_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Environment variable @name, if set and not empty, as an integer in
 * [@lo, @hi] into *@out; 0, or -EINVAL with a message naming it and the
 * range (in @unit). */
HM_HIDDEN int hm_env_uint(const char *name, unsigned lo, unsigned hi, const char *unit, unsigned *out);
HM_HIDDEN void hm_error_clear(void);
HM_HIDDEN void hm_fmt_bytes(char *buf, size_t n, uint64_t b);
/* stats.c: the thrashing sentence when @s says the program mostly waits
 * on faults (also for `hetmem stat`), or NULL. */
HM_HIDDEN const char *hm_thrash_sentence(const struct hm_stats *s);
HM_HIDDEN void hm_error_restore(const char *msg);
/* hm_error without the errno's text: for a message that says in words what
 * is wrong with a value the user gave. */
HM_HIDDEN int hm_error_msg(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message as a user of `hetmem run` should read it: without a
 * leading API function name ("hm_init: ") and without "(Invalid argument)". */
HM_HIDDEN void hm_error_for_user(void);
/* HETMEM_* variable @var was set from command-line option @opt ("--dram ",
 * "--stats="): messages about it name the option (hm_opt_label). */
HM_HIDDEN void hm_opt_from(const char *var, const char *opt);
HM_HIDDEN bool hm_opt_is_from(const char *var);
/* @var's value @val as the user typed it, in @buf: "--dram 64G" after
 * hm_opt_from, else "HETMEM_DRAM='64G'". */
HM_HIDDEN const char *hm_opt_label(const char *var, const char *val, char *buf, size_t len);
/* Parse a SIZE ("123", "64K", "1.5G", "2MiB", "1tb"): 0 or -EINVAL (overflow:
 * -E2BIG). */
HM_HIDDEN int hm_parse_size(const char *s, uint64_t *out);
HM_HIDDEN int hm_config_resolve(const struct hm_config *cfg);

/* ------------------------------------------------------------------------
 * prim.c: every system call goes through here so tests can inject failures.
 * Each returns 0 / a count, or -errno.
 * ---------------------------------------------------------------------- */
enum hm_site {
	HM_SITE_TIER_READ, HM_SITE_TIER_WRITE, HM_SITE_TIER_ALLOC,
	HM_SITE_UFFD_COPY, HM_SITE_UFFD_MOVE, HM_SITE_UFFD_WP,
	HM_SITE_MADVISE, HM_SITE_MMAP, HM_SITE_UFFD_MOVE_MISREPORT, HM_SITE_COUNT
};
/* 0, or the injected -errno for this call of @site. */
HM_HIDDEN int hm_prim_inject(enum hm_site site);

/* raw mapping calls (never libc's wrappers, never injected; see prim.c) */
HM_HIDDEN void *hm_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
HM_HIDDEN int hm_sys_munmap(void *addr, size_t len);
HM_HIDDEN int hm_sys_mprotect(void *addr, size_t len, int prot);
HM_HIDDEN int hm_sys_madvise(void *addr, size_t len, int advice);
HM_HIDDEN void *hm_sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
HM_HIDDEN void *hm_prim_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int *err);
HM_HIDDEN int hm_prim_munmap(void *addr, size_t len);
HM_HIDDEN int hm_prim_mprotect(void *addr, size_t len, int prot);
HM_HIDDEN int hm_prim_madvise(void *addr, size_t len, int advice);
HM_HIDDEN int hm_prim_pread(int fd, void *buf, size_t len, uint64_t off);
HM_HIDDEN int hm_prim_pwrite(int fd, const void *buf, size_t len, uint64_t off);
HM_HIDDEN int hm_prim_uffd_open(void);
HM_HIDDEN int hm_prim_uffd_api(int uffd, uint64_t want, uint64_t *got, uint64_t *ioctls);
HM_HIDDEN int hm_prim_uffd_register(int uffd, uintptr_t start, size_t len, uint64_t mode);
HM_HIDDEN int hm_prim_uffd_unregister(int uffd, uintptr_t start, size_t len);
/* UFFDIO_COPY of @len bytes; on partial progress *done has the bytes copied */
HM_HIDDEN int hm_prim_uffd_copy(int uffd, uintptr_t dst, const void *src, size_t len, bool wake, size_t *done);
HM_HIDDEN int hm_prim_uffd_zero(int uffd, uintptr_t dst, size_t len, bool wake, size_t *done);
HM_HIDDEN int hm_prim_uffd_move(int uffd, uintptr_t dst, uintptr_t src, size_t len, size_t *done);
/* the same with explicit UFFDIO_MOVE_MODE_* bits (hm_prim_uffd_move: DONTWAKE | ALLOW_SRC_HOLES) */
HM_HIDDEN int hm_prim_uffd_move_mode(int uffd, uintptr_t dst, uintptr_t src, size_t len, uint64_t mode, size_t *done);
HM_HIDDEN int hm_prim_uffd_wp(int uffd, uintptr_t start, size_t len, bool protect);
HM_HIDDEN int hm_prim_uffd_wake(int uffd, uintptr_t start, size_t len);
HM_HIDDEN int hm_prim_uffd_poison(int uffd, uintptr_t start, size_t len);
HM_HIDDEN int hm_prim_pages_present(void *addr, size_t len, unsigned char *vec);
HM_HIDDEN int hm_prim_vm_rw(void *local, const void *remote, size_t len, bool write);

/* fdguard.c: hetmem's descriptors, high, close-on-exec, out of the
 * program's way; the preload library's close/dup2 interposers ask here */
HM_HIDDEN void hm_fd_begin(void);
HM_HIDDEN void hm_fd_end(void);
HM_HIDDEN int hm_fd_hide(int fd, int *home);
HM_HIDDEN void hm_fd_set_home(int fd, int *home);
HM_HIDDEN int hm_fd_open(const char *path, int flags, mode_t mode, int *home);
HM_HIDDEN int hm_fd_close(int fd);
HM_HIDDEN void hm_fd_forget(int fd);
HM_HIDDEN bool hm_fd_is_ours(int fd);
HM_HIDDEN bool hm_fd_foreign(void);
HM_HIDDEN int hm_fd_cur(int fd);
HM_HIDDEN unsigned hm_fd_enter(void);
HM_HIDDEN void hm_fd_exit(unsigned idx);
HM_HIDDEN int hm_fd_evict(int fd);
HM_HIDDEN bool hm_fd_creating(void);
HM_HIDDEN void hm_fd_lock_for_close(void);
HM_HIDDEN void hm_fd_unlock_for_close(void);
HM_HIDDEN int hm_fd_list(unsigned first, unsigned last, int *out, int max);
HM_HIDDEN void hm_fd_lost(int fd, const char *what) __attribute__((noreturn));
HM_HIDDEN bool hm_fd_is_uffd(int fd);
HM_HIDDEN int hm_fd_keep_uffd(int fd);
HM_HIDDEN void hm_fd_release_uffd(void);
extern HM_HIDDEN void (*hm_fd_moved_hook)(void);

/* ------------------------------------------------------------------------
 * tier.c
 * ---------------------------------------------------------------------- */
HM_HIDDEN struct hm_tier *hm_tier_get(int id);
HM_HIDDEN int hm_tier_create(const char *spec, struct hm_device *dev);
HM_HIDDEN int hm_tier_destroy(int id, bool force);
HM_HIDDEN void hm_tiers_close_all(void);
/* Allocate a run of 2^order slots (aligned to 2^order): 0 and *slot, or
 * -ENOSPC. */
HM_HIDDEN int hm_slot_alloc(struct hm_tier *t, unsigned order, uint64_t *slot);
HM_HIDDEN void hm_slot_free(struct hm_tier *t, uint64_t slot, size_t n);
/* give back the storage of freed slots (batched; see tier.c) */
HM_HIDDEN void hm_tier_release(struct hm_tier *t);
HM_HIDDEN void hm_tiers_release(void);
/* Data movers with retry of transient errors and error counting. */
HM_HIDDEN int hm_tier_read(struct hm_tier *t, uint64_t slot, void *buf, size_t npages);
HM_HIDDEN int hm_tier_write(struct hm_tier *t, uint64_t slot, const void *buf, size_t npages);
/* A CPU pointer to @npages slots from @slot, or NULL (no window; or an
 * injected read failure, then *err is set). */
HM_HIDDEN const void *hm_tier_window(struct hm_tier *t, uint64_t slot, size_t npages, int *err);
extern const struct hm_tier_ops hm_tier_emu_ops, hm_tier_file_ops;

/* ------------------------------------------------------------------------
 * space.c: regions.
 * ---------------------------------------------------------------------- */
/* The region containing @addr with a reference taken, or NULL. */
HM_HIDDEN struct hm_region *hm_region_get(uintptr_t addr);
HM_HIDDEN void hm_region_put(struct hm_region *r);
/* Same, but also finds regions being freed (the fault handler serves them
 * until they are unmapped). */
HM_HIDDEN struct hm_region *hm_region_get_any(uintptr_t addr);
/* Take references on every region covering [addr, addr+len) in order.
 * Returns the count (<= max) or -EINVAL if a gap is not managed. */
/* runenv.c: start hetmem from HETMEM_* (hetmem run, the preload library) */
HM_HIDDEN int hm_env_setup(void);
HM_HIDDEN int hm_env_maps(size_t *folio, size_t *min_map);
HM_HIDDEN void hm_env_default_tier(char *buf, size_t len);
HM_HIDDEN void hm_env_note_emulated(void);
HM_HIDDEN int hm_map_registered(size_t size, size_t align, const char *what, uintptr_t *base);
HM_HIDDEN struct hm_region *hm_region_overlap(uintptr_t addr, uintptr_t end);
HM_HIDDEN void *hm_region_alloc(size_t size, size_t folio_size, void *hint, size_t align, const char *fn);
HM_HIDDEN int hm_regions_get_range(uintptr_t addr, size_t len, struct hm_region **out, int max);
HM_HIDDEN void hm_regions_shutdown(void);
/* Every region in the table, each with a reference taken (malloc'd array,
 * *n entries), or NULL (*n = 0) when out of memory. */
HM_HIDDEN struct hm_region **hm_regions_snapshot(size_t *n);
HM_HIDDEN void hm_region_event_remap(uintptr_t from, uintptr_t to, size_t len);
HM_HIDDEN void hm_region_event_remove(uintptr_t start, uintptr_t end, bool unmap, uint64_t seq);
HM_HIDDEN void hm_fork_install(void);
/* The fork handlers hm_fork_install registers, also called by the preload
 * library around the process-creating calls that run no atfork handlers
 * (glibc's clone without CLONE_VM, _Fork: preload_proc.c). */
HM_HIDDEN void hm_fork_prepare(void);
HM_HIDDEN void hm_fork_parent(void);
HM_HIDDEN void hm_fork_child(void);

/* Folio lock on the head word of folio @f (first page index).  trylock
 * returns the word seen before locking, or sets *busy. */
HM_HIDDEN bool hm_folio_trylock(struct hm_region *r, size_t head, uint64_t *old);
HM_HIDDEN void hm_folio_lock(struct hm_region *r, size_t head);
/* Unlock; wakes parked faults on the folio if any. */
HM_HIDDEN void hm_folio_unlock(struct hm_region *r, size_t head);

/* ------------------------------------------------------------------------
 * fault.c
 * ---------------------------------------------------------------------- */
HM_HIDDEN int hm_fault_start(void);
HM_HIDDEN void hm_fault_stop(void);
/* Bring locked folio @head of @r back to RAM from wherever it is (TIER or
 * NONE -> HOST).  Caller holds the folio lock.  0, or -EIO (poisoned). */
HM_HIDDEN int hm_folio_fetch(struct hm_region *r, size_t head, bool wake);
/* A 2 MiB buffer private to the calling thread, or NULL. */
HM_HIDDEN void *hm_bounce(void);
/* True on the fault handler thread (which must never wait for an event to
 * be read: it is the one that reads them). */
HM_HIDDEN bool hm_on_handler(void);
/* Confine the calling hetmem thread to HETMEM_CPUS, if set (options.c). */
HM_HIDDEN void hm_pin_own_thread(void);

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

/* ------------------------------------------------------------------------
 * policy.c, reclaim.c
 * ---------------------------------------------------------------------- */
HM_HIDDEN uint32_t hm_clock_ms(void);
/* An event on folio @head of @r for the policy; a hint fault and a fetch also
 * heat the folio's block (block heat, below). */
HM_HIDDEN void hm_policy_event(struct hm_region *r, size_t head, enum hm_event ev);
HM_HIDDEN void hm_policy_demoted(struct hm_region *r, size_t head);
/* A reclaim pass's visit to folio @folio: the policy's aging (its .scan),
 * every folio visited; returns the folio's access count after it. */
HM_HIDDEN uint16_t hm_policy_scan(struct hm_region *r, size_t folio, uint32_t now, bool resident);
/* A resident folio's rank as a victim, lower first (the policy's .score,
 * then block heat): only for the pass's candidates, after hm_policy_scan. */
HM_HIDDEN uint64_t hm_policy_score(struct hm_region *r, size_t folio, uint32_t now);
/* Block heat (DAMON-style spatial aggregation of hint-fault samples): a
 * sample of page @page of @r was touched (@hit: hm_policy_event does this
 * for HM_EV_HINT) or went back untouched (track.c). */
#define HM_HEAT_PAGES 512 /* pages per block: 2 MiB */
#define HM_BLOCK_PROMOTE_DEFAULT 16 /* fetches per window (policy.c) */
HM_HIDDEN void hm_policy_sampled(struct hm_region *r, size_t page, bool hit);
/* Time's cooling of block heat: the reclaimer asks how many decay steps are
 * due (once per pass) and applies them to every region. */
HM_HIDDEN unsigned hm_policy_heat_steps(uint32_t now, uint64_t resident_bytes, uint64_t samples_total);
HM_HIDDEN void hm_policy_heat_decay(struct hm_region *r, unsigned steps);
/* Whether page @page of @r is in a hot block. */
HM_HIDDEN bool hm_policy_block_hot(struct hm_region *r, size_t page);
HM_HIDDEN uint16_t hm_policy_count(struct hm_region *r, size_t folio);
/* Block promotion: block @block (2 MiB, HM_HEAT_PAGES pages) of @r reached
 * the promotion threshold of fetches within one window (policy.c, at least
 * hm_g.block_promote); the reclaimer brings the rest of it to RAM
 * (policy.c calls this; reclaim.c queues it). */
HM_HIDDEN void hm_reclaim_promote(struct hm_region *r, size_t block);
/* The block was promoted whole: it ranks as hot as a block can be. */
HM_HIDDEN void hm_policy_block_promoted(struct hm_region *r, size_t block);
/* The reclaimer's choice of the K coldest of N candidates (reclaim.c):
 * candidates go into @v (room for 2 * @keep); when it is full, a selection
 * keeps the @keep lowest scores and the highest of them becomes @bar, which a
 * later candidate must be below.  After hm_victims_trim, v[0..n) are the
 * (at most) @keep lowest scores added, in no order.  Start with n = 0 and
 * bar = UINT64_MAX. */
struct hm_victim {
	uint64_t score;
	struct hm_region *r;
	size_t head;
};
struct hm_victims {
	struct hm_victim *v;
	size_t n, keep;
	uint64_t bar;
};
HM_HIDDEN void hm_victims_add(struct hm_victims *vs, struct hm_victim x);
HM_HIDDEN void hm_victims_trim(struct hm_victims *vs);
/* Wake the reclaimer if residency passed the high watermark. */
HM_HIDDEN void hm_reclaim_kick(void);
static inline void hm_reclaim_check(void)
{
	if (hm_g.budget && (atomic_load_explicit(&hm_cnt.resident_pages, memory_order_relaxed) << HM_PAGE_SHIFT) >
				   hm_g.budget_high)
		hm_reclaim_kick();
}
HM_HIDDEN void hm_reclaim_stop(void);

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
/* featmask.c: HETMEM_MASK_FEATURES applied to a probe's answer */
HM_HIDDEN int hm_features_mask(struct hm_features *f);
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
 * faster in 3 of 3 alternating pairs (docs/BENCHMARKS.md) */
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
/* Residency may pass the budget by at most this much: beyond it the fault
 * handler holds new faults back (for at most 50 ms each) while the
 * reclaimer catches up. */
#define HM_RECLAIM_BATCH ((uint64_t)16 << 20)
HM_HIDDEN bool hm_reclaim_must_hold(void);
HM_HIDDEN uint64_t hm_reclaim_progress(void);
HM_HIDDEN pid_t hm_reclaim_tid(void);
/* Something that may let the reclaimer demote again happened (memory
 * unlocked): wake it even when it has found nothing to demote. */
HM_HIDDEN void hm_reclaim_changed(void);
/* A fault of thread @tid was served: the thrashing report watches how much
 * of its time the faulting threads spend blocked (reclaim.c). */
#define HM_WAIT_TIDS 8
extern HM_HIDDEN _Atomic pid_t hm_wait_tids[HM_WAIT_TIDS];
HM_HIDDEN void hm_wait_tick(void);
static inline void hm_wait_note(pid_t tid)
{
	if (atomic_load_explicit(&hm_wait_tids[tid % HM_WAIT_TIDS], memory_order_relaxed) != tid)
		atomic_store_explicit(&hm_wait_tids[tid % HM_WAIT_TIDS], tid, memory_order_relaxed);
}

/* ------------------------------------------------------------------------
 * advise.c: per-region placement advice (hm_advise), read by the reclaimer
 * through a cursor that walks a private copy in address order.
 * ---------------------------------------------------------------------- */
struct hm_adv_range {
	size_t first, last; /* pages [first, last) of the region */
	int advice;         /* HM_ADVISE_HOT or HM_ADVISE_COLD */
};
struct hm_adv_cursor {
	struct hm_adv_range *r;
	size_t n, i;
};
/* Copy @r's advice (none if out of memory); then ask page by page, in
 * increasing order, with hm_adv_next; release with hm_adv_end. */
HM_HIDDEN void hm_adv_begin(struct hm_region *r, struct hm_adv_cursor *c);
static inline int hm_adv_next(struct hm_adv_cursor *c, size_t page)
{
	while (c->i < c->n && c->r[c->i].last <= page)
		c->i++;
	return c->i < c->n && c->r[c->i].first <= page ? c->r[c->i].advice : HM_ADVISE_NORMAL;
}
HM_HIDDEN void hm_adv_end(struct hm_adv_cursor *c);
/* Drop a dying region's advice. */
HM_HIDDEN void hm_adv_free(struct hm_region *r);
/* @old with pages [a, b) set to @advice (NORMAL: removed): the new array
 * (NULL when empty) in *out; 0 or -ENOMEM / -ENOSPC. */
HM_HIDDEN int hm_adv_build(const struct hm_adv_range *old, size_t n, size_t a, size_t b, int advice,
			   struct hm_adv_range **out, size_t *nout);

/* ------------------------------------------------------------------------
 * lock.c: locked memory (mlock) in managed regions: never demoted, counted
 * in the budget.
 * ---------------------------------------------------------------------- */
/* Mark the managed pages of [a, a+len) locked or unlocked: 0 or -errno. */
HM_HIDDEN int hm_lock_range(uintptr_t a, size_t len, bool lock);
/* Every region's pages locked or unlocked (mlockall, munlockall). */
HM_HIDDEN void hm_lock_all(bool lock);
/* A region just mapped: locked if mlockall(MCL_FUTURE) is in force. */
HM_HIDDEN void hm_lock_new_region(uintptr_t a, size_t len);
/* Bring the managed pages of [a, a+len) on a tier back to RAM. */
HM_HIDDEN void hm_lock_home(uintptr_t a, size_t len);
/* The reclaimer's cursor over @r's locked ranges (release: hm_adv_end);
 * hm_lock_any: whether a page of folio [head, head+fp) is locked, asked in
 * increasing order of @head. */
HM_HIDDEN void hm_lock_begin(struct hm_region *r, struct hm_adv_cursor *c);
HM_HIDDEN bool hm_lock_any(struct hm_adv_cursor *c, size_t head, size_t fp);
HM_HIDDEN uint64_t hm_locked_bytes(void);
HM_HIDDEN void hm_lock_free(struct hm_region *r);
/* Whether @a lies in one of hetmem's own mappings (staging, the tracker's
 * hold area, a tier's window), which a program's mlockall must not lock. */
HM_HIDDEN bool hm_lock_internal(uintptr_t a);
/* Populates by a program's mlock in flight: no fault is held meanwhile. */
extern HM_HIDDEN _Atomic int hm_lock_populating;
/* mlockall(MCL_FUTURE) in force: regions mapped from now on are locked. */
extern HM_HIDDEN _Atomic bool hm_lock_future;

/* ------------------------------------------------------------------------
 * record.c: samples of residency and hotness for `hetmem heatmap`.
 * ---------------------------------------------------------------------- */
#define HM_RECORD_BUCKETS 256
/* Open HETMEM_RECORD (at hm_init): 0, or -errno with a message. */
HM_HIDDEN int hm_record_env(void);
/* From the reclaimer's loop: append a sample if one is due. */
HM_HIDDEN void hm_record_tick(uint32_t now);

/* ------------------------------------------------------------------------
 * track.c: hotness tracking of resident folios (write tracking, hint-fault
 * sampling).  See the file's header comment.
 * ---------------------------------------------------------------------- */
/* Resolve the tracking settings (config + env) into the tracker; called by
 * hm_config_resolve.  0 or -EINVAL. */
HM_HIDDEN int hm_track_config(const struct hm_config *cfg);
/* Choose the mechanisms from the kernel's features (before the userfaultfd
 * is opened): the extra UFFD_FEATURE_* bits to ask for.  0 or -ENOTSUP. */
HM_HIDDEN int hm_track_choose(struct hm_features *f, uint64_t *want);
/* Fill f->track and f->track_write (hm_probe_features). */
HM_HIDDEN void hm_track_describe(struct hm_features *f, enum hm_demote_mode demote);
/* After the userfaultfd is open: map the hold area.  0 or -errno. */
HM_HIDDEN int hm_track_start(void);
/* Give every sample back and unmap the hold area (hm_shutdown). */
HM_HIDDEN void hm_track_stop(void);
/* How often the reclaimer scans when under budget (ms; 500 unless the
 * HETMEM_TRACK_SCAN_MS test hook says otherwise). */
HM_HIDDEN unsigned hm_track_scan_ms(void);
/* One tracking step from the reclaimer's pass over the regions @rs. */
HM_HIDDEN void hm_track_scan(struct hm_region **rs, size_t n);
/* True if @a lies in the hold area (a fault there is a hole: zero-fill). */
HM_HIDDEN bool hm_track_in_hold(uintptr_t a);
/* True if a page of folio @head of @r is out for a sample. */
static inline bool hm_track_folio_sampled(struct hm_region *r, size_t head)
{
	size_t fp = region_folio_pages(r);
	for (size_t i = head; i < head + fp; i++)
		if (atomic_load_explicit(&r->words[i], memory_order_relaxed) & PW_SAMPLED)
			return true;
	return false;
}
/* Put back every sample covering folio @head of @r (caller holds the folio
 * lock).  0, or -EAGAIN (an event is pending: on the handler thread it is not
 * waited for; the data stays in the hold area), or another -errno. */
HM_HIDDEN int hm_track_restore(struct hm_region *r, size_t head);
/* Pages [i, i+n) of @r are discarded or gone: drop their held copies. */
HM_HIDDEN void hm_track_drop(struct hm_region *r, size_t i, size_t n);
/* A partial mremap moved pages [first, first+n) of @from into @to (at 0). */
HM_HIDDEN void hm_track_remap(struct hm_region *from, size_t first, size_t n, struct hm_region *to);
/* Put back every sample (before fork, at shutdown). */
HM_HIDDEN void hm_track_restore_all(void);
/* Charge one hint fault to the tracker's budget: @ns of the handler's CPU
 * time, plus an estimate of what it cost the faulting thread. */
HM_HIDDEN void hm_track_charge(uint64_t ns);
/* Whether write tracking by async write-protect is in force on this uffd
 * (then sync write-protect cannot guard a demotion: migrate.c). */
HM_HIDDEN bool hm_track_wp_async(void);

/* ------------------------------------------------------------------------
 * device.c
 * ---------------------------------------------------------------------- */
HM_HIDDEN void hm_devices_close_all(void);
HM_HIDDEN void hm_devices_forget_range(uintptr_t start, size_t len);

/* ------------------------------------------------------------------------
 * thread.c: hetmem's own threads.
 * ---------------------------------------------------------------------- */
/* Start a hetmem thread named @name running @fn(@arg), with every signal
 * blocked from its first instruction; @wake (or NULL) wakes it from its
 * sleep so that it reaches hm_thread_sync soon.  0 or a positive errno. */
HM_HIDDEN int hm_thread_start(pthread_t *t, const char *name, void *(*fn)(void *), void *arg,
			      void (*wake)(void));
/* In a hetmem thread, at its wait points: take the credentials a
 * hm_thread_creds_sync asked for, if one did (one atomic load if not);
 * hm_thread_sleep_ms sleeps @ms, or less when one asks. */
HM_HIDDEN void hm_thread_sync(void);
HM_HIDDEN void hm_thread_sleep_ms(unsigned ms);
/* Whether a request waits for this hetmem thread's hm_thread_sync (a
 * thread that waits on a condition variable of its own checks it under the
 * lock its wake function takes, so that no wake-up is lost). */
HM_HIDDEN bool hm_thread_pending(void);
/* Unblock SIGBUS in the calling hetmem thread (signal mode's reclaimer: its
 * own faults in registered memory are served by the SIGBUS handler). */
HM_HIDDEN void hm_thread_take_sigbus(void);
/* In a program thread: give every hetmem thread this thread's capabilities,
 * securebits, ambient and bounding sets, and wait (boundedly) until each
 * has; @what names the call for the message when one cannot.  0 or -errno. */
HM_HIDDEN int hm_thread_creds_sync(const char *what);
/* After a set*id call that followed hm_thread_creds_sync: every thread made
 * the same change, so their state is the caller's new one (no round trip at
 * the next call unless the caller changes its capabilities meanwhile). */
HM_HIDDEN void hm_thread_creds_after(void);

#endif
