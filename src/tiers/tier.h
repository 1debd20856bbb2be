/*
 * tier.h — tiers: the backend interface and the slot allocator (tier.c).
 */
#ifndef HM_TIER_H
#define HM_TIER_H

#include "common.h"

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


#endif
