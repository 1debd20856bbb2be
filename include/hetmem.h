/*
 * hetmem.h — the public API of libhetmem, a user-space heterogeneous memory
 * manager.
 *
 * Managed memory is ordinary anonymous memory of this process whose pages can
 * live in system RAM (tier 0) or on a device-private tier (an emulated device
 * pool, a file or DAX device).  A CPU access to a page that lives on a tier
 * faults, and the page's whole folio is copied back to RAM by hetmem's fault
 * handler thread, transparently to the program and to system calls.
 *
 * Conventions:
 *  - Actions return 0 (or a count) on success and a negative errno on failure.
 *    On failure nothing was changed, unless the function documents a per-page
 *    result.  A message naming what was wrong is available from
 *    hm_last_error() in the calling thread.
 *  - Predicates return bool; look-ups return a pointer or NULL.
 *  - All sizes are in bytes; SIZE strings accept K, M, G, T suffixes (powers
 *    of 1024).
 *
 * Thread safety: every function may be called from any thread once hm_init()
 * has returned, except hm_init() and hm_shutdown() themselves.
 */
#ifndef HETMEM_H
#define HETMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hetmem_counters.h" /* HM_STATS_FIELDS: the fields of struct hm_stats */

#ifdef __cplusplus
extern "C" {
#endif

#define HM_API __attribute__((visibility("default")))

#define HM_VERSION_MAJOR 0
#define HM_VERSION_MINOR 1

/* Maximum number of tiers, host RAM (tier 0) included. */
#define HM_MAX_TIERS 16

/* Folio sizes an allocation may ask for. */
#define HM_FOLIO_4K   ((size_t)4096)
#define HM_FOLIO_64K  ((size_t)65536)
#define HM_FOLIO_2M   ((size_t)2097152)

/* ---------------------------------------------------------------------- */
/* Initialisation                                                          */
/* ---------------------------------------------------------------------- */

/* How a folio is taken out of RAM without losing a concurrent write. */
enum hm_demote_mode {
	HM_DEMOTE_AUTO = 0, /* UFFDIO_MOVE where the kernel has it, else WP */
	HM_DEMOTE_MOVE = 1, /* UFFDIO_MOVE the pages into a staging range */
	HM_DEMOTE_WP = 2,   /* write-protect, copy, MADV_DONTNEED, unprotect */
};

/* Settings for hm_init.  A caller zeroes it (or starts from HM_CONFIG_INIT)
 * and sets what it wants: every 0 means the default.  @size lets the struct
 * grow: the bytes of it the caller knows (HM_CONFIG_INIT sets it; 0 means
 * this header's size).  A library newer than the caller reads only @size
 * bytes; an older one refuses a larger struct whose extra fields are not 0. */
struct hm_config {
	uint32_t size;              /* sizeof(struct hm_config) of the caller, or 0 */
	enum hm_demote_mode demote; /* HM_DEMOTE_AUTO unless forced */
	unsigned readahead_max;     /* folios read ahead on sequential faults
				       (0 = default 8, HM_READAHEAD_OFF = none) */
	unsigned spin_us;           /* the fault handler busy-polls this long
				       after serving faults before it sleeps
				       (0 = default 50, HM_SPIN_OFF = never) */
	unsigned flags;             /* HM_CFG_* */
	unsigned track;             /* hotness tracking of resident folios:
				       HM_TRACK_* mechanisms (0 = HM_TRACK_AUTO:
				       every one the kernel supports) */
	unsigned track_cpu_pct;     /* CPU budget of the tracker, percent of
				       one CPU (0 = default 2, 1..100) */
};
#define HM_CONFIG_INIT { .size = sizeof(struct hm_config) }
#define HM_READAHEAD_OFF 0xffffffffu
#define HM_SPIN_OFF 0xffffffffu
/* Do not bring device pages home before fork(); a forked child then gets
 * SIGBUS (never zeros) if it touches a page that was on a device. */
#define HM_CFG_NO_FORK_HOME 0x1u

/* Hotness tracking mechanisms (hm_config.track, hm_track_set, HETMEM_TRACK).
 * Faults on non-resident pages (first touch, fetch, refault) are always
 * access events; HM_TRACK_FAULTS names that baseline alone. */
#define HM_TRACK_AUTO   0x0u /* every mechanism the kernel supports, except
				write tracking by async write-protect (it
				costs MOVE demotion its write-protect
				fallback: folios shared with a forked child
				then stay in RAM): ask for WRITE by name */
#define HM_TRACK_FAULTS 0x1u /* faults only (always on) */
#define HM_TRACK_WRITE  0x2u /* writes to resident folios: soft-dirty bits
				(CONFIG_MEM_SOFT_DIRTY; clear_refs is
				process-wide), or, EXPERIMENTAL and only with
				HETMEM_TRACK_WPASYNC=1, userfaultfd async
				write-protect + PAGEMAP_SCAN (Linux >= 6.7,
				demote mode move; known to lose data under
				concurrent migrations) */
#define HM_TRACK_SAMPLE 0x4u /* reads: a rate-limited sample of resident
				folios is taken out of the page table and
				counted when it faults back (hint faults) */
#define HM_TRACK_NONE   0x8u /* no tracking of resident folios at all */
#define HM_TRACK_ALL    (HM_TRACK_FAULTS | HM_TRACK_WRITE | HM_TRACK_SAMPLE)

/*
 * hm_init - start hetmem in this process: open a userfaultfd, detect the
 * kernel's features, start the fault handler thread.
 * @cfg may be NULL for defaults; environment variables override it:
 * HETMEM_DEMOTE=auto|move|wp, HETMEM_READAHEAD=N (folios, 0 = off),
 * HETMEM_SPIN_US=N (0 = the handler never busy-polls), HETMEM_RECORD=PATH and
 * HETMEM_RECORD_MS=N (see hm_record_start),
 * HETMEM_TRACK=auto|none|faults|write|sample|all or a comma list
 * ("write,sample"), HETMEM_TRACK_CPU=N (percent of one CPU, 1..100).
 * A mechanism asked for by name that the kernel lacks fails with -ENOTSUP;
 * "auto" (the default) takes what there is (see HM_TRACK_AUTO).
 * Returns 0, or:
 *   -EALREADY  hetmem is already initialised in this process
 *   -EINVAL    @cfg or an environment variable holds a bad value
 *   -ENOENT, -EACCES, ...  HETMEM_RECORD names a file that cannot be opened
 *   -ENOTSUP   a forced demote mode the kernel lacks (HM_DEMOTE_MOVE without
 *              UFFDIO_MOVE, HM_DEMOTE_WP without write-protect support)
 *   -EPERM     userfaultfd is not permitted (not root and
 *              vm.unprivileged_userfaultfd=0)
 *   -ENOSYS    the kernel has no userfaultfd
 *   -ENOMEM, -EMFILE  resources
 */
HM_API int hm_init(const struct hm_config *cfg);

/*
 * hm_shutdown - stop the handler thread, bring every page back to RAM,
 * unregister all managed memory (it stays mapped and readable as ordinary
 * memory), close all tiers and devices.  Safe to call when not initialised.
 * Returns 0, or -EIO if some page could not be read back from its tier (that
 * page is left poisoned: an access gets SIGBUS).
 */
HM_API int hm_shutdown(void);

/* The message describing the calling thread's last failure ("" if none). */
HM_API const char *hm_last_error(void);

/* ---------------------------------------------------------------------- */
/* Kernel features                                                         */
/* ---------------------------------------------------------------------- */

struct hm_features {
	uint64_t uffd_features;  /* UFFD_FEATURE_* bits the kernel offers */
	bool uffd;               /* userfaultfd usable at all */
	bool move;               /* UFFDIO_MOVE (Linux >= 6.8) */
	bool wp;                 /* write-protect on anonymous memory */
	bool wp_unpopulated;     /* UFFD_FEATURE_WP_UNPOPULATED */
	bool wp_async;           /* UFFD_FEATURE_WP_ASYNC */
	bool poison;             /* UFFDIO_POISON (Linux >= 6.6) */
	bool thread_id;          /* UFFD_FEATURE_THREAD_ID */
	bool event_remap;        /* mremap events */
	bool event_remove;       /* madvise(DONTNEED/REMOVE) events */
	bool event_unmap;        /* munmap events */
	bool pagemap_scan;       /* PAGEMAP_SCAN ioctl (Linux >= 6.7) */
	enum hm_demote_mode demote; /* the mode in use (after hm_init) */
	bool soft_dirty;         /* soft-dirty bits (clear_refs 4, pagemap bit 55) */
	unsigned track;          /* HM_TRACK_* in force (after hm_init), else
				    what "auto" would choose */
	const char *track_write; /* write tracking: "wp-async", "soft-dirty"
				    or "none" */
	const char *masked;      /* features HETMEM_MASK_FEATURES hides (a
				    testing aid): "poison,move", or "" */
};

/*
 * hm_probe_features - detect what the kernel offers, with a throw-away
 * userfaultfd; does not need hm_init().  Returns 0, or the -errno of opening
 * a userfaultfd (then only ->uffd = false is meaningful).
 */
HM_API int hm_probe_features(struct hm_features *out);

/*
 * hm_uffd_check - whether this process gets a full userfaultfd (one that
 * serves faults taken inside system calls), which hetmem needs to manage
 * memory.  Returns 0 and says through which door in @why, or -errno with
 * @why saying why not and what an administrator can do about it.
 */
HM_API int hm_uffd_check(char *why, size_t len);

/* ---------------------------------------------------------------------- */
/* Tiers                                                                   */
/* ---------------------------------------------------------------------- */

/*
 * hm_tier_add - add a device-private tier from a spec string:
 *   "emu:SIZE[,lazy]"        an emulated device pool of SIZE bytes, backed by
 *                            a memfd that is never mapped into managed ranges;
 *                            reserved (populated) at once, or with ",lazy" as
 *                            pages are demoted
 *   "file:PATH[,size=SIZE]"  a regular file (created or grown to SIZE; SIZE
 *                            may be omitted for an existing file) or a block /
 *                            DAX device (its own size)
 *   "lz4:SIZE", "zstd:SIZE[,level=N]"  a compressed tier: pages compressed
 *                            into a pool of at most SIZE bytes of RAM (4 x
 *                            SIZE of pages); zstd's level N from
 *                            ZSTD_minCLevel() to ZSTD_maxCLevel() (default 3)
 * Returns the new tier's id (1 .. HM_MAX_TIERS-1), or:
 *   -EINVAL   malformed spec, unknown kind, size zero, not a multiple of 4 KiB
 *             after rounding, or unparsable
 *   -E2BIG    size larger than the backend can hold (2^48 pages) or, for emu,
 *             larger than the machine's RAM + swap (lz4, zstd: its RAM)
 *   -ERANGE   zstd level out of zstd's range
 *   -ENOSPC   all HM_MAX_TIERS tiers in use, or the file cannot be grown
 *   -ENOENT, -EACCES, -EISDIR, ...  the file cannot be opened (errno of open)
 *   -ENODEV   hetmem not initialised
 */
HM_API int hm_tier_add(const char *spec);

struct hm_tier_info {
	int id;
	char name[64];        /* "ram", "emu:64M", "file:/path" */
	char kind[16];        /* "ram", "emu", "file", "lz4", "zstd" */
	bool coherent;        /* CPU can map it in place (false: device-private) */
	bool device;          /* owned by an hm_device */
	uint64_t capacity;    /* bytes (for ram: the machine's RAM) */
	uint64_t used;        /* bytes of slots in use (ram: managed resident) */
	uint64_t pages_in;    /* 4 KiB pages written to this tier */
	uint64_t pages_out;   /* 4 KiB pages read back from this tier */
	uint64_t errors;      /* read/write errors returned by the backend */
	uint64_t released;    /* bytes of freed slots whose storage was given
			       * back to the system (emu memfd, file: punched) */
};

/* hm_tier_info - describe tier @id.  Returns 0, -ENOENT (no such tier) or
 * -ENODEV (not initialised). */
HM_API int hm_tier_info(int id, struct hm_tier_info *out);

/* Number of tier ids in use, host RAM included (ids are 0 .. n-1, some may
 * be removed: hm_tier_info() then answers -ENOENT). */
HM_API int hm_tier_count(void);

/*
 * hm_tier_remove - remove a tier with no pages on it.
 * Returns 0, -ENOENT, -EINVAL (tier 0, or a device's tier: close the
 * device), -EBUSY (pages still live there: migrate them away first).
 */
HM_API int hm_tier_remove(int id);

/* ---------------------------------------------------------------------- */
/* Managed memory                                                          */
/* ---------------------------------------------------------------------- */

/*
 * hm_alloc - allocate @size bytes of managed memory, zero-filled, aligned to
 * @folio_size (4 KiB, 64 KiB or 2 MiB: the unit in which its pages move).
 * @size is rounded up to a whole number of folios.  Memory is reserved
 * lazily (MAP_NORESERVE): a folio takes RAM when first touched.
 * Returns the address, or NULL with errno set and hm_last_error() filled:
 *   EINVAL  size 0, or folio_size not one of the three
 *   E2BIG   size larger than the address space hetmem can manage (2^47)
 *   ENOMEM  no address space / metadata memory
 *   ENODEV  hetmem not initialised
 */
HM_API void *hm_alloc(size_t size, size_t folio_size);

/*
 * hm_free - release managed memory: the whole allocation at @addr (@size 0 or
 * its full size) or a folio-aligned part of it.  Its device slots are freed;
 * the range is unmapped.  Waits for device accesses and migrations in flight
 * on the range.
 * Returns 0, or -EINVAL (misaligned, or @addr is not managed memory).
 */
HM_API int hm_free(void *addr, size_t size);

/* True when @addr lies in managed memory of this process. */
HM_API bool hm_is_managed(const void *addr);

/* The folio size of the allocation holding @addr, or 0 if unmanaged. */
HM_API size_t hm_folio_size(const void *addr);

/*
 * hm_protect - mprotect() for managed memory; also records the protection so
 * devices honour it for pages that live on a device.  @prot is PROT_NONE or
 * a combination of PROT_READ and PROT_WRITE.  Range must be page aligned.
 * Returns 0, -EINVAL (misaligned, bad @prot, not managed), or the errno of
 * mprotect.
 */
HM_API int hm_protect(void *addr, size_t len, int prot);

/* ---------------------------------------------------------------------- */
/* Migration and placement                                                 */
/* ---------------------------------------------------------------------- */

/* Per-page results of hm_migrate() (besides 0 and negative errnos). */
#define HM_MIGRATE_SKIPPED 1 /* nothing to move: unpopulated or already there */

/*
 * hm_migrate - move the folios covering [@addr, @addr+@len) to tier @tier
 * (0 = RAM), in three phases: collect and lock the folios, copy each, commit
 * or restore each.  The range must be page aligned and inside managed memory
 * (one or more allocations); it is widened to whole folios.
 * @status, if not NULL, gets one int per 4 KiB page of the (widened) range —
 * call hm_migrate_pages() to size it: 0 moved, HM_MIGRATE_SKIPPED, or
 * -errno: -ENOSPC tier full (a compressed tier: its pool), -E2BIG a page
 * of the folio does not compress to 3/4 of 4 KiB (the folio stays in RAM),
 * -EIO backend failed (page stays where it was,
 * except a page that could not be read back: it is poisoned and reports
 * -EIO), -EACCES page is PROT_NONE, -EBUSY folio locked by another mover for
 * too long, -EFAULT page unmapped, -EAGAIN (or -ENOMEM) a transient kernel
 * condition outlasted the retries: the page stayed where it was, call again.
 * A folio that does not fit on the tier as one contiguous run falls back to
 * single pages; if that fails too it stays where it is.  No data is lost.
 * Returns the number of pages moved (>= 0), or for errors of the call itself:
 *   -EINVAL  misaligned, not managed, or @tier invalid
 *   -ENOENT  no tier @tier
 *   -ENODEV  not initialised
 */
HM_API long hm_migrate(void *addr, size_t len, int tier, int *status);

/* Number of status entries hm_migrate() writes for this range. */
HM_API size_t hm_migrate_pages(const void *addr, size_t len);

/* Page locations reported by hm_where(). */
#define HM_WHERE_NONE     (-1) /* never populated: reads as zeros */
#define HM_WHERE_POISON   (-2) /* lost: an access gets SIGBUS */
#define HM_WHERE_UNMAPPED (-3) /* freed or unmapped */

/*
 * hm_where - where each 4 KiB page of [@addr, @addr+@len) lives: a tier id
 * (0 = RAM) or HM_WHERE_*.  @where has room for @len/4096 ints.  A page being
 * moved reports where it was when the move started.
 * Returns 0, -EINVAL (misaligned or not managed).
 */
HM_API int hm_where(const void *addr, size_t len, int *where);

/* ---------------------------------------------------------------------- */
/* Counters                                                                */
/* ---------------------------------------------------------------------- */

/* A snapshot of the counters (hm_stats_get).  @size: the bytes filled, the
 * smaller of the caller's struct and the library's, so that the struct can
 * grow: a field beyond @size is one the library does not have (left 0). */
struct hm_stats {
	uint64_t size;             /* bytes of this struct that hm_stats_get filled */
	/* the counters of hetmem_counters.h, in its order (each a uint64_t) */
#define HM_STATS_FIELD_(name, how, src, doc) uint64_t name;
	HM_STATS_FIELDS(HM_STATS_FIELD_)
#undef HM_STATS_FIELD_
};

/* hm_stats_get - a snapshot of the process-wide counters into @out, a struct
 * of @size bytes (the macro passes the caller's sizeof).  Returns 0 or -EINVAL
 * (@out NULL, or @size too small for @out->size).  The function
 * hm_stats_get(out) without the macro fills this header's whole struct. */
HM_API int hm_stats_get_size(struct hm_stats *out, size_t size);
HM_API int hm_stats_get(struct hm_stats *out);
#define hm_stats_get(out) hm_stats_get_size((out), sizeof(*(out)))

/* hm_stats_print - write the counters and the tier table to @fd as text.
 * Returns 0 or -errno of write. */
HM_API int hm_stats_print(int fd);

/* ---------------------------------------------------------------------- */
/* Devices and mirrors (the emulated device plays test_hmm's role)          */
/* ---------------------------------------------------------------------- */

struct hm_device;

/*
 * hm_device_open - create a device with its own memory (a tier of its own,
 * from the same spec syntax as hm_tier_add: "emu:SIZE" or "file:...").
 * Returns 0 and *@out, or the errors of hm_tier_add().
 */
HM_API int hm_device_open(const char *spec, struct hm_device **out);

/*
 * hm_device_close - evict the device's memory to RAM, drop its mirrors,
 * remove its tier.  Returns 0 or -EIO (a page could not be read back: it is
 * poisoned).  @dev is freed in both cases.
 */
HM_API int hm_device_close(struct hm_device *dev);

/* The tier id of the device's memory. */
HM_API int hm_device_tier(const struct hm_device *dev);

/*
 * hm_device_mirror - give @dev a view of [@addr, @addr+@len): managed,
 * page-aligned memory.  A range may be mirrored by one device at a time.
 * Returns 0, or -EINVAL (misaligned, not managed), -EBUSY (part of the range
 * is mirrored by another device: the message names it), -EEXIST (already
 * mirrored by @dev).
 */
HM_API int hm_device_mirror(struct hm_device *dev, void *addr, size_t len);

/* hm_device_unmirror - drop the mirror that starts at @addr.  Returns 0 or
 * -ENOENT. */
HM_API int hm_device_unmirror(struct hm_device *dev, void *addr);

/* Flags of hm_device_read/write. */
#define HM_DEV_MIGRATE 0x1u /* migrate the folios into device memory first */

/*
 * hm_device_read / hm_device_write - the device reads (writes) @len bytes at
 * mirrored address @addr into (from) @buf, like a DMA.  Pages in device
 * memory are accessed there; other pages are accessed where they are (a page
 * on another tier is faulted back to RAM first, as HMM's hmm_range_fault
 * does), unless HM_DEV_MIGRATE asks to migrate them into device memory first
 * (if the device is full they are accessed in place).  Protection is
 * honoured: no write to a read-only page, no access to PROT_NONE.
 * Returns 0, or:
 *   -EINVAL  bad arguments
 *   -ENOENT  the range is not (wholly) mirrored by @dev
 *   -EACCES  protection forbids the access (no byte was written)
 *   -EIO     a page is poisoned or device memory failed
 *   -EFAULT  the range was unmapped meanwhile
 */
HM_API int hm_device_read(struct hm_device *dev, const void *addr, void *buf,
			  size_t len, unsigned flags);
HM_API int hm_device_write(struct hm_device *dev, void *addr, const void *buf,
			   size_t len, unsigned flags);

/* hm_device_migrate - hm_migrate() into the device's memory, for a mirrored
 * range (-ENOENT if not mirrored by @dev). */
HM_API long hm_device_migrate(struct hm_device *dev, void *addr, size_t len,
			      int *status);

/*
 * hm_device_pages - where the device itself reaches the pages of a mirrored
 * range: for each of the @npages 4 KiB pages from @addr (page-aligned,
 * mirrored by @dev), @out[k] gets the page's address in the device's memory
 * as the device uses it (a CUDA device pointer for a "cuda:N" device, the
 * address in the tier's window for "emu:", whose device is the CPU), or 0
 * for a page that is not in the device's memory (hm_device_migrate puts it
 * there).  Pages are not contiguous there: device code goes through the
 * table (examples/cuda_mirror.c).
 *
 * An address stays valid while its page stays in the device's memory: a
 * CPU access to the page faults it back to RAM (with what the device wrote
 * there), as do hm_migrate, hm_device_evict, hm_device_close and hm_free;
 * take the table again after any of them.  hetmem cannot see the device's
 * own accesses: finish (synchronise) the device's work on the range before
 * the CPU touches it.
 * Returns the number of pages in the device's memory, or -EINVAL (NULL
 * arguments, misaligned), -ENOENT (the range is not mirrored by @dev),
 * -EOPNOTSUPP (the device's memory has no addresses a device can use: a
 * compressed or file tier).
 */
HM_API long hm_device_pages(struct hm_device *dev, const void *addr, size_t npages, uint64_t *out);

/*
 * hm_device_evict - the device gives back all its memory: every page on it
 * is migrated to RAM.  Returns the number of pages evicted, or -EIO if some
 * page could not be read (it is poisoned; the others are evicted).
 */
HM_API long hm_device_evict(struct hm_device *dev);

/* ---------------------------------------------------------------------- */
/* Automatic tiering: a RAM budget and placement policies                    */
/* ---------------------------------------------------------------------- */

#define HM_BUDGET_OFF UINT64_MAX

struct hm_budget {
	uint64_t bytes; /* 0: no budget */
	uint64_t low;   /* reclaim stops below this many resident bytes */
	uint64_t high;  /* reclaim starts above this many */
	int tier;       /* where the reclaimer demotes to */
};

/*
 * hm_budget_set - keep managed memory resident in RAM under @bytes: a
 * background reclaimer demotes the coldest folios (as the policy ranks them)
 * to @tier when residency passes @high_pct of the budget, down to @low_pct.
 * @low_pct/@high_pct 0 take the defaults (90, 95); @tier 0 picks the first
 * tier that is not a device's.  HM_BUDGET_OFF turns the budget off.  A new
 * budget takes effect at once.  On error the previous settings are kept.
 * Returns 0, or:
 *   -EINVAL  @bytes under 2 MiB, or watermarks out of order (need
 *            0 < low < high <= 100)
 *   -E2BIG   @bytes larger than the machine's RAM
 *   -ENOENT  no tier @tier, or no tier at all to demote to
 *   -ENODEV  not initialised
 */
HM_API int hm_budget_set(uint64_t bytes, unsigned low_pct, unsigned high_pct, int tier);

/* hm_budget_get - the budget in force.  Returns 0, -EINVAL, -ENODEV. */
HM_API int hm_budget_get(struct hm_budget *out);

/*
 * hm_policy_set - choose the placement policy by name: "recency" (the
 * default: aging in generations, like the kernel's multi-generation LRU),
 * "frequency" (an access histogram whose hot threshold is sized to the
 * budget, like MEMTIS) or "fifo" (arrival order, no hotness: the baseline).
 * Also HETMEM_POLICY=NAME at hm_init.  Returns 0, -EINVAL (unknown name: the
 * policy in force is kept), -ENODEV.
 */
HM_API int hm_policy_set(const char *name);

/* The name of the policy in force. */
HM_API const char *hm_policy_get(void);

/* Placement advice (hm_advise). */
#define HM_ADVISE_NORMAL 0 /* the policy decides (the default) */
#define HM_ADVISE_HOT    1 /* never demoted by the reclaimer (like mlock) */
#define HM_ADVISE_COLD   2 /* demoted before any other folio (like MADV_COLD) */

/*
 * hm_advise - tell the reclaimer how to treat the folios of [@addr,
 * @addr+@len): HM_ADVISE_HOT folios are never demoted by the reclaimer (they
 * can still be moved with hm_migrate), HM_ADVISE_COLD folios are demoted
 * first whenever residency is over the budget's high watermark, and
 * HM_ADVISE_NORMAL gives the folios back to the policy.  Advice applies to
 * the folios whose first page lies in the range, replaces earlier advice on
 * that range, and is dropped with the memory (hm_free).  It moves nothing by
 * itself, and a fault still brings an advised-cold folio back to RAM.  More
 * HOT memory than the budget keeps residency over the budget.  The range may
 * span several allocations.
 * Returns 0, or (and then no advice was changed):
 *   -EINVAL  @len 0, @addr or @len not 4 KiB aligned, unknown @advice, or
 *            part of the range is not managed memory
 *   -ENOSPC  an allocation would hold more than 1024 separate advice ranges
 *   -ENOMEM  out of memory
 *   -ENODEV  not initialised
 */
HM_API int hm_advise(void *addr, size_t len, int advice);

/* hm_advice_at - the advice in force for the folio holding @addr
 * (HM_ADVISE_*), or -EINVAL (not managed memory). */
HM_API int hm_advice_at(const void *addr);

/* ---------------------------------------------------------------------- */
/* Recording, for `hetmem heatmap`                                          */
/* ---------------------------------------------------------------------- */

/*
 * hm_record_start - write a record of placement to @path (created or
 * truncated): every @interval_ms (0 = 200) the reclaimer appends a sample of
 * the time, residency, and for each region, cut into at most 256 address
 * buckets, the fraction of each bucket's folios in RAM and their mean access
 * count as the policy keeps it.  `hetmem heatmap PATH -o OUT.png` draws it.
 * Samples are taken only while a budget is set (the reclaimer takes them);
 * a sample visits every folio, so the interval is stretched to keep its cost
 * under 5% of one CPU (hm_stats.record_samples, record_us).  The format is
 * described in src/track/record.c.  Also HETMEM_RECORD=PATH (and
 * HETMEM_RECORD_MS=N) at hm_init (%p in PATH: the pid; under `hetmem run`
 * without %p only the program it started records).  A second call replaces
 * the record.
 * Returns 0, or:
 *   -EINVAL  @path NULL or empty, @interval_ms not 0 and outside 10..60000
 *   -ENODEV  not initialised
 *   other    the -errno of opening @path (-ENOENT, -EACCES, ...)
 */
HM_API int hm_record_start(const char *path, unsigned interval_ms);

/* hm_record_stop - close the record (hm_shutdown does too).  Returns 0 (also
 * when no record is open) or -EIO if some sample could not be written. */
HM_API int hm_record_stop(void);
/*
 * hm_track_set - choose the hotness-tracking mechanisms (HM_TRACK_* bits,
 * HM_TRACK_AUTO for all the kernel and this process's set-up support,
 * HM_TRACK_NONE for none) and the tracker's CPU budget in percent of one CPU
 * (1..100; 0 keeps the current one).  The tracker runs in the reclaimer's
 * scans, so it works while a budget is set.  Write tracking by async
 * write-protect must have been chosen at hm_init (it changes how the
 * userfaultfd is opened); otherwise soft-dirty is used where the kernel has
 * it.  On error the previous settings are kept.
 * Returns 0, or:
 *   -EINVAL   unknown bits, or @cpu_pct over 100
 *   -ENOTSUP  a mechanism this kernel / set-up does not have (the message
 *             says why)
 *   -ENODEV   not initialised
 */
HM_API int hm_track_set(unsigned mechanisms, unsigned cpu_pct);

/* The mechanisms in force (HM_TRACK_* bits; HM_TRACK_FAULTS alone when none
 * of the others) and, if @cpu_pct is not NULL, the CPU budget. */
HM_API unsigned hm_track_get(unsigned *cpu_pct);

#ifdef __cplusplus
}
#endif
#endif /* HETMEM_H */
