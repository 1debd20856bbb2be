/*
 * tier.c — the tier registry, spec strings, the slot allocator and the data
 * movers every backend shares.
 *
 * Tier 0 is host RAM and has no struct; tiers 1.. are device-private
 * backends (src/tiers/) behind struct hm_tier_ops.  A tier's memory is cut
 * into 4 KiB slots; a folio of 2^k pages takes a run of 2^k slots aligned to
 * 2^k (or, as a fallback on a fragmented tier, single slots).  The allocator
 * is a bitmap under a per-tier mutex: slot allocation is the only lock the
 * fault path may take, and only on the tier it frees slots on.
 *
 * It hands out the lowest free run, so a tier's footprint stays near what is
 * stored on it rather than creeping over its whole capacity: each order keeps
 * a hint below which no aligned run of that order is free (an allocation
 * scans up from it; a free that leaves a run of the order entirely free
 * lowers it), so a scan only passes runs that were in use.
 *
 * A backend whose store costs memory or space (the emu memfd, a file) gives
 * a freed slot's storage back through ops->release.  A call per free would
 * put a system call (and a TLB flush of the window) on every fault-back, so
 * it is batched: a free that leaves a whole 64 KiB group free marks it
 * pending (no system call), an allocation in a pending group unmarks it,
 * and hm_tier_release() gives back the pending groups, contiguous ones in
 * one call.  The reclaimer runs it on its tick; a free that finds 16 MiB
 * pending runs it too, so a process without a reclaimer is bounded as well.
 * While a pass releases them the groups are marked in use (not counted in
 * used_slots), so no allocation can hand them out and have its data dropped.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RELEASE_ORDER 4 /* slots are given back to the store in 64 KiB groups */
/* The lowest free groups, up to this much (and a quarter of the tier at
 * most: t->release_keep), keep their storage: the
 * allocator hands out the lowest free run first, so a demotion after a
 * promotion refills pages the store already has instead of taking fresh
 * ones (a fresh page costs the store an allocation and a zeroing: giving
 * back every free group halved bench_fault's 4 KiB demotion bandwidth and
 * quartered 2 MiB's).  The pool's storage stays within what it holds plus
 * this much. */
#define RELEASE_KEEP_GROUPS ((32u << 20) >> (RELEASE_ORDER + HM_PAGE_SHIFT))

/* The kinds of tier: the built-in backends, then any registered. */
#define MAX_BACKENDS 16
static const struct hm_tier_ops *backends[MAX_BACKENDS] = {&hm_tier_emu_ops, &hm_tier_file_ops, &hm_tier_lz4_ops,
							    &hm_tier_zstd_ops, &hm_tier_numa_ops, &hm_tier_dax_ops,
							    &hm_tier_cuda_ops};
static size_t nbackends = 7;
static _Atomic uint64_t tier_gen; /* hm_tier.gen: never reused */

int hm_tier_backend_register(const struct hm_tier_ops *ops)
{
	for (size_t i = 0; i < nbackends; i++)
		if (!strcmp(backends[i]->kind, ops->kind))
			return -EEXIST;
	if (nbackends == MAX_BACKENDS)
		return -ENOSPC;
	backends[nbackends++] = ops;
	return 0;
}

/* "emu, file, ..." for an error message */
static const char *kinds_list(char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < nbackends && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", backends[i]->kind);
	return buf;
}

struct hm_tier *hm_tier_get(int id)
{
	if (id <= 0 || id >= HM_MAX_TIERS)
		return NULL;
	return atomic_load_explicit(&hm_g.tiers[id], memory_order_acquire);
}

void hm_coherent_left(uint64_t w, bool moved)
{
	struct hm_tier *t = hm_tier_get(pw_tier(w));
	if (!t)
		return;
	atomic_fetch_sub(&t->used_slots, 1);
	if (moved)
		atomic_fetch_add(&t->pages_out, 1);
}

int hm_tier_create(const char *spec, struct hm_device *dev)
{
	if (!spec)
		return hm_error(EINVAL, "tier spec is NULL");
	const char *colon = strchr(spec, ':');
	if (!colon || colon == spec)
		return hm_error(EINVAL, "tier spec '%s': expected KIND:ARGS (emu:SIZE or file:PATH[,size=SIZE])", spec);
	const struct hm_tier_ops *ops = NULL;
	for (size_t i = 0; i < nbackends; i++)
		if (strlen(backends[i]->kind) == (size_t)(colon - spec) &&
		    !strncmp(backends[i]->kind, spec, (size_t)(colon - spec)))
			ops = backends[i];
	char known[256];
	if (!ops)
		return hm_error(EINVAL, "tier spec '%s': unknown kind '%.*s' (known: %s)", spec, (int)(colon - spec),
				spec, kinds_list(known, sizeof(known)));
	/* a coherent tier's pages move by ops->move (migrate.c), a private
	 * one's by read and write */
	if (ops->tier_class == HM_TIER_COHERENT ? !ops->move : !ops->read || !ops->write)
		return hm_error(EINVAL, "tier spec '%s': backend '%s' lacks the data ops of its class", spec, ops->kind);
	if (!ops->alloc != !ops->free)
		return hm_error(EINVAL, "tier spec '%s': backend '%s' gives alloc without free or free without alloc",
				spec, ops->kind);

	struct hm_tier *t = calloc(1, sizeof(*t));
	if (!t)
		return hm_error(ENOMEM, "tier '%s': out of memory", spec);
	t->ops = ops;
	t->device = dev;
	t->gen = atomic_fetch_add(&tier_gen, 1) + 1;
	snprintf(t->name, sizeof(t->name), "%s", spec);
	pthread_mutex_init(&t->lock, NULL);
	int rc;
	if (ops->priv_size && !(t->priv = calloc(1, ops->priv_size))) {
		rc = hm_error(ENOMEM, "tier '%s': out of memory", spec);
		goto err_free;
	}
	rc = ops->open(t, colon + 1);
	if (rc)
		goto err_free;
	t->nslots = t->capacity >> HM_PAGE_SHIFT;
	if (t->nslots > PW_SLOT_MAX + 1)
		t->nslots = PW_SLOT_MAX + 1; /* what a page word can name */
	if (ops->alloc || ops->tier_class == HM_TIER_COHERENT)
		goto registered; /* the backend allocates, or no handles: no bitmap */
	t->bitmap = calloc((t->nslots + 63) / 64, sizeof(uint64_t));
	if (!t->bitmap) {
		rc = hm_error(ENOMEM, "tier '%s': no memory for the slot bitmap", spec);
		goto err_close;
	}
	if (ops->release) {
		uint64_t ngroups = t->nslots >> RELEASE_ORDER;
		t->pending = calloc((ngroups + 63) / 64 + 1, sizeof(uint64_t));
		if (!t->pending) {
			rc = hm_error(ENOMEM, "tier '%s': no memory for the release bitmap", spec);
			goto err_bitmap;
		}
		t->pending_lo = ngroups;
		t->release_keep = RELEASE_KEEP_GROUPS < ngroups / 4 ? RELEASE_KEEP_GROUPS : ngroups / 4;
	}
	/* mark the bits past the end as used so whole-word scans never hand
	 * them out */
	for (uint64_t s = t->nslots; s < ((t->nslots + 63) & ~63ull); s++)
		t->bitmap[s >> 6] |= 1ull << (s & 63);

registered:
	pthread_mutex_lock(&hm_g.tiers_lock);
	int id = -1;
	for (int i = 1; i < HM_MAX_TIERS; i++)
		if (!atomic_load(&hm_g.tiers[i])) {
			id = i;
			break;
		}
	if (id < 0) {
		pthread_mutex_unlock(&hm_g.tiers_lock);
		rc = hm_error(ENOSPC, "tier '%s': all %d tiers in use", spec, HM_MAX_TIERS - 1);
		goto err_bitmap;
	}
	t->id = id;
	atomic_store_explicit(&hm_g.tiers[id], t, memory_order_release);
	if (id >= hm_g.ntiers)
		hm_g.ntiers = id + 1;
	pthread_mutex_unlock(&hm_g.tiers_lock);
	return id;

err_bitmap:
	free(t->pending);
	free(t->bitmap);
err_close:
	ops->close(t);
err_free:
	pthread_mutex_destroy(&t->lock);
	free(t->priv);
	free(t);
	return rc;
}

int hm_tier_destroy(int id, bool force)
{
	pthread_mutex_lock(&hm_g.tiers_lock);
	struct hm_tier *t = hm_tier_get(id);
	if (!t) {
		pthread_mutex_unlock(&hm_g.tiers_lock);
		return hm_error(ENOENT, "tier %d: no such tier", id);
	}
	if (!force && atomic_load(&t->used_slots)) {
		pthread_mutex_unlock(&hm_g.tiers_lock);
		return hm_error(EBUSY, "tier %d (%s): %llu pages still live there", id, t->name,
				(unsigned long long)atomic_load(&t->used_slots));
	}
	atomic_store(&hm_g.tiers[id], NULL);
	pthread_mutex_unlock(&hm_g.tiers_lock);
	/* the thread that freed the last slot may still be inside its unlock
	 * (used_slots drops under the lock): wait for it to leave */
	pthread_mutex_lock(&t->lock);
	pthread_mutex_unlock(&t->lock);
	t->ops->close(t);
	free(t->pending);
	free(t->bitmap);
	pthread_mutex_destroy(&t->lock);
	free(t->priv);
	free(t);
	return 0;
}

void hm_tiers_close_all(void)
{
	for (int i = 1; i < HM_MAX_TIERS; i++)
		if (hm_tier_get(i))
			hm_tier_destroy(i, true);
	hm_g.ntiers = 1;
}

/* --- the default allocator: 4 KiB slots in a bitmap ------------------- */

static bool run_free(const uint64_t *bm, uint64_t s, unsigned order)
{
	if (order >= 6) {
		for (uint64_t w = s >> 6; w < (s >> 6) + (1ull << (order - 6)); w++)
			if (bm[w])
				return false;
		return true;
	}
	uint64_t mask = ((1ull << (1u << order)) - 1) << (s & 63);
	return !(bm[s >> 6] & mask);
}

static void run_set(uint64_t *bm, uint64_t s, size_t n, bool used)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t b = s + i;
		if (used)
			bm[b >> 6] |= 1ull << (b & 63);
		else
			bm[b >> 6] &= ~(1ull << (b & 63));
	}
}

/* After slots [s, s+n) became free: lower each order's hint to the lowest
 * aligned run of that order, overlapping them, that is now entirely free.
 * Caller holds the lock. */
static void hints_freed(struct hm_tier *t, uint64_t s, uint64_t n)
{
	for (unsigned o = 0; o < HM_SLOT_ORDERS; o++) {
		uint64_t len = 1ull << o;
		for (uint64_t r = s & ~(len - 1); r < s + n && r < t->hint[o]; r += len) {
			if (r + len <= t->nslots && run_free(t->bitmap, r, o)) {
				t->hint[o] = r;
				break;
			}
		}
	}
}

/* Groups left entirely free wait in t->pending until a release pass gives
 * their storage back: the reclaimer's tick runs one, and so does a free
 * that finds this much waiting (a process with no reclaimer). */
#define RELEASE_INLINE_BYTES (16u << 20)
#define RELEASE_RANGES 64 /* contiguous ranges one pass collects */

static bool pending_test(const uint64_t *pm, uint64_t g)
{
	return pm[g >> 6] & (1ull << (g & 63));
}

/* Groups [g0, g1) are in use again: they need no release. Under the lock. */
static void pending_clear(struct hm_tier *t, uint64_t g0, uint64_t g1)
{
	for (uint64_t g = g0; g < g1 && t->npending; g++)
		if (pending_test(t->pending, g)) {
			t->pending[g >> 6] &= ~(1ull << (g & 63));
			t->npending--;
		}
}

static int slots_alloc(struct hm_tier *t, unsigned order, uint64_t *slot)
{
	uint64_t n = 1ull << order;
	if (n > t->nslots)
		return -ENOSPC;
	pthread_mutex_lock(&t->lock);
	if (t->nslots - atomic_load(&t->used_slots) < n) {
		pthread_mutex_unlock(&t->lock);
		return -ENOSPC;
	}
	/* the lowest free aligned run at or above the hint (none is below it) */
	uint64_t limit = t->nslots & ~(n - 1);
	for (uint64_t s = t->hint[order]; s < limit;) {
		/* skip full words quickly for small orders */
		if (order < 6 && t->bitmap[s >> 6] == ~0ull) {
			s = (s | 63) + 1;
		} else if (run_free(t->bitmap, s, order)) {
			run_set(t->bitmap, s, n, true);
			t->hint[order] = s + n;
			atomic_fetch_add(&t->used_slots, n);
			if (t->pending)
				pending_clear(t, s >> RELEASE_ORDER, ((s + n - 1) >> RELEASE_ORDER) + 1);
			pthread_mutex_unlock(&t->lock);
			*slot = s;
			return 0;
		} else {
			s += n;
		}
	}
	/* none free above the hint either: the next scan starts at the end,
	 * until a free lowers it */
	t->hint[order] = limit;
	pthread_mutex_unlock(&t->lock);
	return -ENOSPC;
}

/* Give back the storage of the groups waiting in t->pending.  They are
 * marked in use (not counted in used_slots) while ops->release runs outside
 * the lock, so no allocation hands them out and has its data dropped. */
void hm_tier_release(struct hm_tier *t)
{
	uint64_t g = 1ull << RELEASE_ORDER;
	for (;;) {
		uint64_t ra[RELEASE_RANGES], rb[RELEASE_RANGES]; /* slot ranges [ra, rb) */
		size_t nr = 0;
		pthread_mutex_lock(&t->lock);
		uint64_t ngroups = t->nslots >> RELEASE_ORDER;
		/* the lowest t->release_keep pending groups stay pending
		 * (their storage kept); pending_lo stays at or below them */
		uint64_t kept = 0;
		for (uint64_t w = t->pending_lo >> 6; t->npending > kept && w <= (ngroups - 1) >> 6; w++) {
			if (!t->pending[w])
				continue;
			uint64_t bits = t->pending[w];
			while (bits && nr < RELEASE_RANGES) {
				uint64_t gi = (w << 6) + (uint64_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				if (kept < t->release_keep) {
					kept++;
					continue;
				}
				t->pending[w] &= ~(1ull << (gi & 63));
				t->npending--;
				uint64_t s = gi << RELEASE_ORDER;
				if (!run_free(t->bitmap, s, RELEASE_ORDER))
					continue; /* cannot be: alloc clears the bit */
				run_set(t->bitmap, s, g, true);
				if (nr && rb[nr - 1] == s) {
					rb[nr - 1] = s + g;
				} else {
					ra[nr] = s;
					rb[nr] = s + g;
					nr++;
				}
			}
			if (!kept)
				t->pending_lo = w << 6;
			if (nr == RELEASE_RANGES)
				break;
		}
		if (!t->npending)
			t->pending_lo = ngroups;
		pthread_mutex_unlock(&t->lock);
		if (!nr)
			return;
		uint64_t done = 0;
		for (size_t k = 0; k < nr; k++) {
			int rc = atomic_load_explicit(&t->no_release, memory_order_relaxed)
					 ? -EOPNOTSUPP
					 : t->ops->release(t, ra[k], rb[k] - ra[k]);
			if (rc == -EOPNOTSUPP || rc == -ENOSYS)
				atomic_store(&t->no_release, true); /* the store cannot give space back */
			else if (!rc)
				done += (rb[k] - ra[k]) << HM_PAGE_SHIFT;
		}
		atomic_fetch_add_explicit(&t->released, done, memory_order_relaxed);
		pthread_mutex_lock(&t->lock);
		for (size_t k = 0; k < nr; k++) {
			run_set(t->bitmap, ra[k], rb[k] - ra[k], false);
			hints_freed(t, ra[k], rb[k] - ra[k]);
		}
		pthread_mutex_unlock(&t->lock);
		if (nr < RELEASE_RANGES)
			return;
	}
}

/* A release pass on every tier (the reclaimer's tick).  tiers_lock keeps a
 * tier from being destroyed under the pass. */
void hm_tiers_release(void)
{
	pthread_mutex_lock(&hm_g.tiers_lock);
	for (int i = 1; i < HM_MAX_TIERS; i++) {
		struct hm_tier *t = hm_tier_get(i);
		if (t && t->pending)
			hm_tier_release(t);
	}
	pthread_mutex_unlock(&hm_g.tiers_lock);
}

static void slots_free(struct hm_tier *t, uint64_t slot, size_t n)
{
	pthread_mutex_lock(&t->lock);
#ifdef HM_DEBUG
	for (size_t i = 0; i < n; i++)
		HM_ASSERT(t->bitmap[(slot + i) >> 6] & (1ull << ((slot + i) & 63)));
#endif
	run_set(t->bitmap, slot, n, false);
	atomic_fetch_sub(&t->used_slots, n);
	hints_freed(t, slot, n);
	/* the groups this free left entirely free: those wholly inside it,
	 * and the partly covered ones at either end if the rest of them is
	 * free too; they wait for a release pass */
	bool now = false;
	if (t->pending && !atomic_load_explicit(&t->no_release, memory_order_relaxed)) {
		uint64_t g = 1ull << RELEASE_ORDER;
		uint64_t a = slot & ~(g - 1), b = (slot + n + g - 1) & ~(g - 1);
		if (b > (t->nslots & ~(g - 1)) || !run_free(t->bitmap, b - g, RELEASE_ORDER))
			b -= g;
		if (a < b && !run_free(t->bitmap, a, RELEASE_ORDER))
			a += g;
		for (uint64_t s = a; s < b; s += g) {
			uint64_t gi = s >> RELEASE_ORDER;
			if (!pending_test(t->pending, gi)) {
				t->pending[gi >> 6] |= 1ull << (gi & 63);
				t->npending++;
			}
		}
		if (a < b && (a >> RELEASE_ORDER) < t->pending_lo)
			t->pending_lo = a >> RELEASE_ORDER;
		now = ((t->npending - (t->npending < t->release_keep ? t->npending : t->release_keep))
		       << (RELEASE_ORDER + HM_PAGE_SHIFT)) >= RELEASE_INLINE_BYTES;
	}
	pthread_mutex_unlock(&t->lock);
	if (now)
		hm_tier_release(t);
}

/* --- allocation: the backend's or the default -------------------------- */

int hm_tier_alloc(struct hm_tier *t, unsigned order, uint64_t *handle)
{
	int ie = hm_prim_inject(HM_SITE_TIER_ALLOC);
	if (ie)
		return ie;
	if (order >= HM_SLOT_ORDERS)
		return -EINVAL;
	if (!t->ops->alloc)
		return slots_alloc(t, order, handle);
	int rc = t->ops->alloc(t, order, handle);
	if (!rc)
		atomic_fetch_add(&t->used_slots, 1ull << order);
	return rc;
}

void hm_tier_free(struct hm_tier *t, uint64_t handle, size_t n)
{
	if (!t->ops->free) {
		slots_free(t, handle, n);
		return;
	}
	t->ops->free(t, handle, n);
	atomic_fetch_sub(&t->used_slots, n);
}

/* --- data movers -------------------------------------------------------- */

#define TIER_RETRIES 3

/* The generation of each tier this thread has attached to (ops->attach). */
static __thread uint64_t attached[HM_MAX_TIERS] __attribute__((tls_model("initial-exec")));

static inline int tier_attach(struct hm_tier *t)
{
	if (!t->ops->attach || attached[t->id] == t->gen)
		return 0;
	int rc = t->ops->attach(t);
	if (!rc)
		attached[t->id] = t->gen;
	return rc;
}

/* What one attempt of a data op moves: one run (io == NULL: slot, buf,
 * npages, write) or a batch of writes (io, n). */
struct tier_op {
	uint64_t slot;
	void *buf;
	size_t npages;
	bool write;
	const struct hm_tier_io *io;
	size_t n;
};

static inline int tier_attempt(struct hm_tier *t, const struct tier_op *op)
{
	if (op->io)
		return t->ops->write_batch(t, op->io, op->n);
	/* a write goes to the backend's own op where it has one, window or
	 * not: it knows whether its store already has the pages (emu.c) */
	if (!t->ops->map || (op->write && t->ops->write))
		return op->write ? t->ops->write(t, op->slot, op->buf, op->npages)
				 : t->ops->read(t, op->slot, op->buf, op->npages);
	/* a window copy makes no system call: inject here */
	int rc = hm_prim_inject(op->write ? HM_SITE_TIER_WRITE : HM_SITE_TIER_READ);
	if (!rc) {
		void *p = t->ops->map(t, op->slot, op->npages);
		if (op->write)
			memcpy(p, op->buf, op->npages << HM_PAGE_SHIFT);
		else
			memcpy(op->buf, p, op->npages << HM_PAGE_SHIFT);
	}
	return rc;
}

/* Attach, then the op, tried again on -EAGAIN/-EINTR up to TIER_RETRIES
 * times (each counted in retries); a failure counts in t->errors. */
static inline int tier_retry(struct hm_tier *t, const struct tier_op *op)
{
	int rc = tier_attach(t);
	for (int attempt = rc ? TIER_RETRIES + 1 : 0; attempt <= TIER_RETRIES; attempt++) {
		rc = tier_attempt(t, op);
		if (rc != -EAGAIN && rc != -EINTR)
			break;
		HM_COUNT(retries, 1);
	}
	if (rc)
		atomic_fetch_add(&t->errors, 1);
	return rc;
}

static int tier_io(struct hm_tier *t, uint64_t slot, void *buf, size_t npages, bool write)
{
	struct tier_op op = { .slot = slot, .buf = buf, .npages = npages, .write = write };
	int rc = tier_retry(t, &op);
	if (rc)
		return rc;
	atomic_fetch_add_explicit(write ? &t->pages_in : &t->pages_out, npages, memory_order_relaxed);
	return 0;
}

int hm_tier_read(struct hm_tier *t, uint64_t slot, void *buf, size_t npages)
{
	return tier_io(t, slot, buf, npages, false);
}

int hm_tier_write(struct hm_tier *t, uint64_t slot, const void *buf, size_t npages)
{
	return tier_io(t, slot, (void *)buf, npages, true);
}

int hm_tier_write_batch(struct hm_tier *t, const struct hm_tier_io *io, size_t n)
{
	if (!t->ops->write_batch || n == 1) {
		for (size_t k = 0; k < n; k++) {
			int rc = tier_io(t, io[k].handle, (void *)io[k].buf, io[k].npages, true);
			if (rc)
				return rc;
		}
		return 0;
	}
	struct tier_op op = { .io = io, .n = n };
	int rc = tier_retry(t, &op);
	if (rc)
		return rc;
	size_t pages = 0;
	for (size_t k = 0; k < n; k++)
		pages += io[k].npages;
	atomic_fetch_add_explicit(&t->pages_in, pages, memory_order_relaxed);
	return 0;
}

const void *hm_tier_window(struct hm_tier *t, uint64_t slot, size_t npages, int *err)
{
	*err = 0;
	if (!t->ops->map)
		return NULL;
	int rc = tier_attach(t);
	for (int attempt = 0; !rc; attempt++) {
		rc = hm_prim_inject(HM_SITE_TIER_READ);
		if ((rc != -EAGAIN && rc != -EINTR) || attempt == TIER_RETRIES)
			break;
		HM_COUNT(retries, 1);
		rc = 0; /* transient: try again */
	}
	if (rc) {
		atomic_fetch_add(&t->errors, 1);
		*err = rc;
		return NULL;
	}
	const void *p = t->ops->map(t, slot, npages);
	if (p)
		atomic_fetch_add_explicit(&t->pages_out, npages, memory_order_relaxed);
	return p;
}

/* --- public face -------------------------------------------------------- */

HM_API int hm_tier_add(const char *spec)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_tier_add: hetmem is not initialised");
	return hm_tier_create(spec, NULL);
}

HM_API int hm_tier_remove(int id)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_tier_remove: hetmem is not initialised");
	if (id == 0)
		return hm_error(EINVAL, "hm_tier_remove: tier 0 is host RAM");
	struct hm_tier *t = hm_tier_get(id);
	if (!t)
		return hm_error(ENOENT, "hm_tier_remove: no tier %d", id);
	if (t->device)
		return hm_error(EINVAL, "hm_tier_remove: tier %d is a device's memory; close the device", id);
	return hm_tier_destroy(id, false);
}

HM_API int hm_tier_count(void)
{
	if (!atomic_load(&hm_g.initialised))
		return 0;
	return hm_g.ntiers;
}

HM_API int hm_tier_info(int id, struct hm_tier_info *o)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_tier_info: hetmem is not initialised");
	if (!o)
		return hm_error(EINVAL, "hm_tier_info: NULL output");
	memset(o, 0, sizeof(*o));
	o->id = id;
	if (id == 0) {
		snprintf(o->name, sizeof(o->name), "ram");
		snprintf(o->kind, sizeof(o->kind), "ram");
		o->coherent = true;
		o->capacity = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
		o->used = atomic_load(&hm_cnt.resident_pages) * HM_PAGE_SIZE;
		o->pages_in = atomic_load(&hm_cnt.pages_promoted);
		o->pages_out = atomic_load(&hm_cnt.pages_demoted);
		return 0;
	}
	struct hm_tier *t = hm_tier_get(id);
	if (!t)
		return hm_error(ENOENT, "hm_tier_info: no tier %d", id);
	snprintf(o->name, sizeof(o->name), "%s", t->name);
	snprintf(o->kind, sizeof(o->kind), "%s", t->ops->kind);
	o->coherent = t->ops->tier_class == HM_TIER_COHERENT;
	o->device = t->device != NULL;
	o->capacity = t->capacity;
	o->used = atomic_load(&t->used_slots) * HM_PAGE_SIZE;
	o->pages_in = atomic_load(&t->pages_in);
	o->pages_out = atomic_load(&t->pages_out);
	o->errors = atomic_load(&t->errors);
	o->released = atomic_load(&t->released);
	return 0;
}
