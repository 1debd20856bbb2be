/*
 * tier.h — tiers: the backend interface, the registry, the default slot
 * allocator and the data movers (tier.c).
 */
#ifndef HM_TIER_H
#define HM_TIER_H

#include "common.h"

/* ------------------------------------------------------------------------
 * Tiers.
 * ---------------------------------------------------------------------- */
struct hm_tier;

/* Runs of 2^0 .. 2^9 pages (4 KiB .. 2 MiB): the folio sizes a tier stores. */
#define HM_SLOT_ORDERS 10

/* A tier's class: how its pages relate to the program's page table. */
enum hm_tier_class {
	/* Device-private: a page on the tier is absent from the page table
	 * (its word says TIER and names a handle); a CPU access faults and
	 * the fault path copies it back into RAM.  emu, file, dax, lz4, zstd. */
	HM_TIER_PRIVATE = 0,
	/* Coherent: the CPU can map the tier's memory in place (a CPU-less
	 * NUMA node); a page stays mapped, the kernel moves it (ops->move) and
	 * its word says MAPPED (no handle: used_slots counts its pages).
	 * numa. */
	HM_TIER_COHERENT = 1,
};

/* One page-run write of a batch (ops->write_batch). */
struct hm_tier_io {
	uint64_t handle;  /* first handle; the run is handle .. handle+npages-1 */
	const void *buf;  /* npages * 4 KiB */
	size_t npages;
};

/*
 * The backend interface: one ops table per kind of memory (tiers/emu.c,
 * tiers/file.c).  docs/ARCHITECTURE.md "Adding a tier" is the recipe.
 *
 * Handles.  A page stored on a tier is named by a 48-bit handle kept in its
 * page word (PW_SLOT_MAX).  An allocation of 2^order pages returns the first
 * handle of a run: page k of the run is handle+k, and each handle can be
 * freed on its own.  With the default allocator a handle is a 4 KiB slot
 * index (byte offset handle * 4096 in the store); a backend with its own
 * allocator (ops->alloc) may make a handle name anything, such as an entry
 * of its own table that points at a variable-size (compressed) object
 * written by ops->write.
 *
 * Threads.  Every op may be called from any thread (the fault handler, the
 * reclaimer, a faulting thread with HETMEM_SIGFAULT, a program thread in
 * hm_migrate) and concurrently, except open and close.  A backend that needs
 * per-thread set-up (a GPU context made current) gives ops->attach: tier.c
 * calls it once in each thread before that thread's first data op on the tier.
 *
 * The fault path calls read or map, and free; it must not block on anything
 * but the store itself.
 */
struct hm_tier_ops {
	const char *kind;              /* the spec's KIND, as in "emu:1G" */
	const char *usage;             /* the spec's form, for error messages */
	enum hm_tier_class tier_class;
	size_t priv_size;              /* bytes of backend state at t->priv, zeroed
					* before open, freed after close */
	/* Parse @args (the part after "KIND:") and open the store; set
	 * t->capacity (bytes).  0 or -errno (with hm_error()). */
	int (*open)(struct hm_tier *t, const char *args);
	void (*close)(struct hm_tier *t);

	/* Optional: the backend's own allocator.  Both or neither; NULL: the
	 * default, a bitmap of capacity/4096 slots (tier.c).  alloc returns 0
	 * and the run's first handle, -ENOSPC (full) or another -errno; it may
	 * not succeed with fewer than 2^order handles.  free takes one run of
	 * handles that alloc returned (or part of one). */
	int (*alloc)(struct hm_tier *t, unsigned order, uint64_t *handle);
	void (*free)(struct hm_tier *t, uint64_t handle, size_t npages);

	/* Data of a private tier: copy @npages pages of consecutive handles
	 * from @handle.  0 or -errno (-EAGAIN, -EINTR: retried; -ENOSPC from
	 * write: the store is full although the handle was given, the page
	 * stays in RAM; any other: an I/O error). */
	int (*read)(struct hm_tier *t, uint64_t handle, void *buf, size_t npages);
	int (*write)(struct hm_tier *t, uint64_t handle, const void *buf, size_t npages);
	/* Optional: several writes in one call (one submission, one DMA
	 * batch).  0, or the -errno of the first run that failed (runs after
	 * it may or may not be written; the caller treats all as not). */
	int (*write_batch)(struct hm_tier *t, const struct hm_tier_io *io, size_t n);
	/* Optional: a CPU pointer to @npages pages from @handle in a private
	 * window of the store (never the managed range), so a fault-back
	 * copies from it directly; NULL when they are not contiguous there.
	 * A backend with map sets t->window/t->window_len to the window. */
	void *(*map)(struct hm_tier *t, uint64_t handle, size_t npages);
	/* Optional, default allocator only: give back the storage of the free
	 * slots [slot, slot+npages) (their content is dropped).  0 or -errno;
	 * -EOPNOTSUPP or -ENOSYS stops further calls. */
	int (*release)(struct hm_tier *t, uint64_t slot, size_t npages);

	/* Coherent class: move @n pages at @pages onto the tier (to_tier) or
	 * back to the program's local memory, writing each page's result
	 * (0 or -errno) to @status.  0, or -errno when nothing was moved. */
	int (*move)(struct hm_tier *t, void *const *pages, size_t n, bool to_tier, int *status);

	/* Optional: make the calling thread able to use the tier (see
	 * "Threads" above).  0 or -errno (the op that needed it fails). */
	int (*attach)(struct hm_tier *t);

	/* Optional, private class: the address at which the device itself
	 * reaches the page of @handle (a CUDA device pointer for cuda:, the
	 * window's CPU address for emu:, the emulated device's "DMA"
	 * address), for hm_device_pages.  0 and *addr, or -errno.  NULL: the
	 * store has no such address (compressed, file). */
	int (*device_addr)(struct hm_tier *t, uint64_t handle, uint64_t *addr);
};

struct hm_tier {
	int id;
	const struct hm_tier_ops *ops;
	char name[64];
	uint64_t capacity;             /* bytes, set by ops->open */
	uint64_t nslots;               /* capacity / 4096: handles the tier may hold */
	uint64_t gen;                  /* unique per tier created: per-thread attach */
	void *priv;                    /* backend state (ops->priv_size bytes) */
	void *window;                  /* the backend's CPU window of its store, or NULL */
	size_t window_len;
	_Atomic uint64_t used_slots;   /* pages stored (handles given out) */
	_Atomic uint64_t pages_in, pages_out, errors;
	struct hm_device *device;      /* owner, if a device's memory */

	/* The default allocator's state (unused with ops->alloc): a bitmap,
	 * 1 = in use, under lock; the lock is the only one the fault path
	 * takes on a tier */
	pthread_mutex_t lock;
	uint64_t *bitmap;
	uint64_t hint[HM_SLOT_ORDERS]; /* per order: no aligned run below is free */
	_Atomic uint64_t released;     /* bytes given back to the store (ops->release) */
	_Atomic bool no_release;       /* the store refused a release */
	uint64_t *pending;             /* per 64 KiB group: free, storage not yet
					* released (NULL: no ops->release); lock */
	uint64_t npending, pending_lo; /* set bits; no bit below group pending_lo */
	uint64_t release_keep;         /* pending groups a release pass leaves with their storage */
};

/* ------------------------------------------------------------------------
 * tier.c
 * ---------------------------------------------------------------------- */
HM_HIDDEN struct hm_tier *hm_tier_get(int id);
/* A page word @w that said MAPPED no longer does: its coherent tier holds
 * one page less (@moved: it moved off, counted in the tier's pages_out). */
HM_HIDDEN void hm_coherent_left(uint64_t w, bool moved);
HM_HIDDEN int hm_tier_create(const char *spec, struct hm_device *dev);
HM_HIDDEN int hm_tier_destroy(int id, bool force);
HM_HIDDEN void hm_tiers_close_all(void);
/* Register a backend (a kind of tier) beside emu and file: 0, -EEXIST (the
 * kind is taken) or -ENOSPC.  Not thread-safe against hm_tier_create. */
HM_HIDDEN int hm_tier_backend_register(const struct hm_tier_ops *ops);
/* Allocate a run of 2^order handles (ops->alloc, or the default: slots
 * aligned to 2^order): 0 and *handle, or -ENOSPC (or another -errno). */
HM_HIDDEN int hm_tier_alloc(struct hm_tier *t, unsigned order, uint64_t *handle);
HM_HIDDEN void hm_tier_free(struct hm_tier *t, uint64_t handle, size_t n);
/* give back the storage of freed slots (batched; see tier.c) */
HM_HIDDEN void hm_tier_release(struct hm_tier *t);
HM_HIDDEN void hm_tiers_release(void);
/* Data movers with retry of transient errors, error counting and the
 * per-thread attach. */
HM_HIDDEN int hm_tier_read(struct hm_tier *t, uint64_t slot, void *buf, size_t npages);
HM_HIDDEN int hm_tier_write(struct hm_tier *t, uint64_t slot, const void *buf, size_t npages);
/* @n runs in one call when the backend batches (ops->write_batch), else
 * one write each. */
HM_HIDDEN int hm_tier_write_batch(struct hm_tier *t, const struct hm_tier_io *io, size_t n);
/* A CPU pointer to @npages slots from @slot, or NULL (no window; or an
 * injected read failure, then *err is set). */
HM_HIDDEN const void *hm_tier_window(struct hm_tier *t, uint64_t slot, size_t npages, int *err);
extern const struct hm_tier_ops hm_tier_emu_ops, hm_tier_file_ops;

/* ------------------------------------------------------------------------
 * fdtier.c: ops for a backend whose store is one fd, slot s at byte
 * s * 4 KiB, and whose private state begins with that int fd (emu, file).
 * ---------------------------------------------------------------------- */
HM_HIDDEN int hm_tier_fd_read(struct hm_tier *t, uint64_t slot, void *buf, size_t npages);
HM_HIDDEN int hm_tier_fd_write(struct hm_tier *t, uint64_t slot, const void *buf, size_t npages);
/* punch the slots out of the fd (FALLOC_FL_PUNCH_HOLE): 0 or -errno */
HM_HIDDEN int hm_tier_fd_release(struct hm_tier *t, uint64_t slot, size_t npages);

/* ztier.c: the compressed tiers "lz4:SIZE" and "zstd:SIZE[,level=N]" */
extern const struct hm_tier_ops hm_tier_lz4_ops, hm_tier_zstd_ops;
/* tiers/dax.c: a device-dax character device (CXL or persistent memory
 * not onlined as a node), private: "dax:/dev/daxX.Y[,size=SIZE]" */
extern const struct hm_tier_ops hm_tier_dax_ops;
/* tiers/cuda.c: GPU memory through the CUDA driver API (dlopen'ed),
 * private: "cuda:N[,size=SIZE]" */
extern const struct hm_tier_ops hm_tier_cuda_ops;
/* A GPU, for discovery (hetmem info, hetmem run's default tier). */
struct hm_cuda_gpu {
	int index;        /* N of cuda:N */
	char name[96];
	uint64_t total, free; /* bytes (free: 0 unless usable) */
	bool usable;      /* a context could be made and its free memory read */
	char why[200];    /* why not, if not usable */
};
/* Up to @max GPUs the CUDA driver (libcuda.so.1, or HETMEM_CUDA_LIB)
 * sees into @out: how many (0: none, @why says so), or -errno when there
 * is no driver or it does not start (@why says why). */
HM_HIDDEN int hm_cuda_gpus(struct hm_cuda_gpu *out, int max, char *why, size_t whylen);
/* tiers/numa.c: a NUMA node, coherent */
extern const struct hm_tier_ops hm_tier_numa_ops;
/* The program's local nodes (bit n: node n) once a coherent tier exists,
 * else 0; bind a managed range to them (no-op while 0). */
HM_HIDDEN uint64_t hm_numa_local_mask(void);
HM_HIDDEN void hm_numa_bind_range(void *addr, size_t len);
/* A memory-only (CPU-less) node, for discovery (hetmem info, hetmem run's
 * default tier). */
struct hm_numa_node {
	int node;
	uint64_t total, free; /* bytes */
	int distance;         /* from node @from (the first with our CPUs) */
	int from;
	bool allowed;         /* in this process's cpuset mems */
};
/* Up to @max memory-only nodes into @out; returns how many. */
HM_HIDDEN int hm_numa_memory_nodes(struct hm_numa_node *out, int max);
static inline bool hm_tier_is_coherent(const struct hm_tier *t)
{
	return t && t->ops->tier_class == HM_TIER_COHERENT;
}
struct hm_ztier_usage {
	uint64_t logical; /* bytes of the pages stored (4 KiB each) */
	uint64_t stored;  /* bytes of their compressed payload */
	uint64_t pool;    /* bytes of RAM the pool's slabs take */
	uint64_t limit;   /* SIZE: the most the pool may take */
};
HM_HIDDEN bool hm_tier_is_compressed(const struct hm_tier *t);
/* A pool whose RAM is within this of its SIZE @limit is full: a write
 * fails before compressing (a sixteenth of SIZE, at most 16 pages) */
static inline uint64_t hm_ztier_margin(uint64_t limit)
{
	return limit / 16 < (16u << HM_PAGE_SHIFT) ? limit / 16 : (16u << HM_PAGE_SHIFT);
}
/* a compressed tier's usage now (hm_tier_is_compressed(t) must hold) */
HM_HIDDEN void hm_ztier_usage(const struct hm_tier *t, struct hm_ztier_usage *u);
/* What the folio at handles @handle.. (@npages) of a compressed tier holds,
 * for writeback (place/writeback.c): *age_s, seconds since it was written,
 * and *raw, how many of its pages are stored raw (incompressible).  0, or
 * -ENOENT while it is being written or freed, -EINVAL for handles out of
 * range.  Lock-free: an answer about a folio that moves meanwhile is only a
 * hint (the migration that acts on it locks the folio). */
HM_HIDDEN int hm_ztier_folio(const struct hm_tier *t, uint64_t handle, size_t npages, uint32_t *age_s, size_t *raw);


#endif
