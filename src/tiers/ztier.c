/*
 * tiers/ztier.c — the compressed tiers, "lz4:SIZE" and "zstd:SIZE[,level=N]".
 *
 * A page demoted here is compressed into a pool of RAM (zram's role, in
 * user space).  SIZE bounds the RAM the pool may take; the tier names
 * 4 x SIZE of pages (its capacity, the handles it gives out), since most
 * pages take far less than 4 KiB once compressed.
 *
 * Handles are the backend's own (ops->alloc/free): a bitmap of handles
 * handing out the lowest free aligned run of 2^order, and one entry per
 * handle saying what the page is:
 *   - same-filled: every 64-bit word of the page is equal (zero pages
 *     above all): no payload, the word is kept in the entry;
 *   - an object: the compressed bytes, in the pool.
 *   - a raw page: a page that does not compress to 3/4 of 4 KiB or less
 *     (incompressible: random or already compressed data) is stored as it
 *     is, in a class of its own, and read back with a copy (zram's "huge"
 *     pages).  Counted in comp_incompressible.  Keeping it in RAM instead
 *     would leave the program over its budget for as long as such data
 *     lives, and compress it again at every reclaim pass.
 * A pool that cannot take the object within SIZE fails the write with
 * -ENOSPC: the migration path leaves the folio in RAM, intact (as for any
 * failed write).
 *
 * The pool (zsmalloc's layout): objects are packed by size class, classes
 * 16 bytes apart up to 3072 bytes.  Each class has slabs of 1 to 16
 * contiguous pages (see z_layouts and slab_pages: small while the class
 * has few), each
 * holding a fixed number of objects that may span the slab's page
 * boundaries.  An object whose class has no free object takes one of a
 * class at most 4% larger if that has one (Z_SLACK), before a new slab is
 * made.  A slab's free objects form a list threaded through them (a
 * free object's first two bytes: the next free index), so neither alloc nor
 * free searches; a handle's entry names its slab and index, so free is
 * O(1).  A slab whose last object goes is given back.  Each class has its
 * own mutex (the reclaimer's demotions and the fault path's frees); reads
 * take no lock: an object's slab cannot go while the object lives, and the
 * object's entry changes only under its folio's lock.
 *
 * Compression contexts are per thread: zstd's are made by ops->attach
 * (which tier.c calls once in each thread) and freed at the thread's exit.
 */
#include "internal.h"

#include <errno.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <zstd.h>

#define Z_MAX_OBJ (HM_PAGE_SIZE * 3 / 4) /* larger: incompressible, stored raw */
#define Z_CLASS_STEP 16
#define Z_RAW_CLASS (Z_MAX_OBJ / Z_CLASS_STEP) /* the class of raw pages, after the 16-byte classes */
#define Z_NCLASSES (Z_RAW_CLASS + 1)
/* Slab layouts by how many slabs the class has (see slab_pages): its first
 * slabs small, so that a class with few objects keeps little RAM in its
 * one partly filled slab; later ones long, so that a busy class loses
 * little at each slab's end.  {slabs the class has already, most pages,
 * share of a slab its end may leave unused} */
#define Z_LAYOUTS 3
static const struct {
	uint32_t from_slabs, max_pages;
	double tail;
} z_layouts[Z_LAYOUTS] = {{0, 4, 0.10}, {2, 8, 0.04}, {8, 16, 0.02}};
#define Z_HANDLES_PER_PAGE 4 /* capacity: 4 x SIZE of pages */

enum { ZE_FREE, ZE_EMPTY, ZE_SAME, ZE_OBJ };

struct zslab {
	char *mem;                /* pages * 4 KiB, objects back to back */
	struct zslab *prev, *next; /* the class's list of slabs with a free object */
	uint16_t nfree;           /* free objects */
	uint16_t free_head;       /* first free object on the list (if nfree > fresh) */
	uint16_t fresh;           /* objects [fresh, nobj) were never used (not listed) */
	uint16_t listed;          /* free objects on the threaded list */
	uint16_t nobj;            /* objects it holds (its layout's) */
	uint16_t pages;           /* its pages */
};

/* one per handle */
struct zent {
	union {
		uint64_t word;        /* ZE_SAME: the word every 8 bytes hold */
		struct zslab *slab;   /* ZE_OBJ: the object's slab */
	};
	uint16_t idx;             /* ZE_OBJ: the object's index in its slab */
	uint16_t len;             /* ZE_OBJ: compressed bytes (4096: a raw page) */
	uint8_t cls;              /* ZE_OBJ: the class it is in (its own or a larger one) */
	uint8_t state;
};

struct zclass {
	pthread_mutex_t lock;
	uint32_t size;            /* object bytes */
	uint32_t pages[Z_LAYOUTS]; /* pages per slab of each layout */
	uint32_t nslabs;          /* slabs it has */
	struct zslab *partial;    /* slabs with a free object */
};

struct ztier {
	bool zstd;
	int level;
	uint64_t limit;           /* SIZE: the pool's bound (bytes) */
	uint64_t nhandles;
	struct zent *ents;
	/* per handle, for writeback (hm_ztier_folio): 0 when it stores
	 * nothing, else (seconds of CLOCK_MONOTONIC when written + 1) << 1,
	 * | 1 if the page is stored raw.  Atomic: the reclaimer reads it
	 * without the folio's lock. */
	_Atomic uint32_t *meta;
	/* the handle allocator: 1 = in use, under hlock */
	pthread_mutex_t hlock;
	uint64_t *bitmap;
	uint64_t hint[HM_SLOT_ORDERS]; /* per order: no free aligned run below */
	uint64_t top;             /* no handle at or above it was ever given out (under hlock) */
	struct zclass cls[Z_NCLASSES];
	/* this tier's share of the comp_* counters */
	_Atomic uint64_t pool_bytes, stored_bytes, logical_bytes;
};

/* the class made for objects of @len bytes */
static inline unsigned class_index(size_t len)
{
	if (len > Z_MAX_OBJ)
		return Z_RAW_CLASS;
	return (unsigned)((len + Z_CLASS_STEP - 1) / Z_CLASS_STEP - 1);
}

/* An object may go into a class at most this share larger than its own
 * when its own has no free object and that one has: fewer classes with a
 * partly filled slab (about 1% less waste on real heaps). */
#define Z_SLACK 0.04

/* --- per-thread compression state --------------------------------------- */

struct zthread {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};
static pthread_key_t zkey;
static pthread_once_t zkey_once = PTHREAD_ONCE_INIT;
static __thread struct zthread zthr __attribute__((tls_model("initial-exec")));

static void zthread_exit(void *p)
{
	struct zthread *z = p;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	z->cctx = NULL;
	z->dctx = NULL;
}

static void zkey_make(void)
{
	pthread_key_create(&zkey, zthread_exit);
}

/* zstd's contexts for this thread (one pair serves every zstd tier: the
 * level is given per call) */
static int z_attach(struct hm_tier *t)
{
	struct ztier *z = t->priv;
	if (!z->zstd || (zthr.cctx && zthr.dctx))
		return 0;
	pthread_once(&zkey_once, zkey_make);
	if (!zthr.cctx)
		zthr.cctx = ZSTD_createCCtx();
	if (!zthr.dctx)
		zthr.dctx = ZSTD_createDCtx();
	if (!zthr.cctx || !zthr.dctx)
		return -ENOMEM;
	pthread_setspecific(zkey, &zthr);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- open / close -------------------------------------------------------- */

/* Pages per slab for objects of @size in a layout of at most @max pages:
 * the fewest whose slab leaves at most @tail unused at its end, else the
 * count that leaves the smallest share (2064-byte objects: 2.4% with 16
 * pages).  A class's partly filled slab is what it wastes beyond the
 * slabs' ends: with 16-page slabs in every class that was most of the
 * waste on real heaps (7-9%), hence the small first slabs. */
static uint32_t slab_pages(uint32_t size, uint32_t max, double tail)
{
	uint32_t best = 1;
	double bw = 1.0;
	for (uint32_t k = 1; k <= max; k++) {
		uint32_t bytes = k * (uint32_t)HM_PAGE_SIZE;
		double w = (double)(bytes % size) / bytes;
		if (w <= tail)
			return k;
		if (w < bw - 1e-9) {
			bw = w;
			best = k;
		}
	}
	return best;
}

static int z_open(struct hm_tier *t, const char *args)
{
	struct ztier *z = t->priv;
	const char *kind = t->ops->kind;
	z->zstd = !strcmp(kind, "zstd");
	z->level = 3; /* zstd's default level */
	const char *comma = strchr(args, ',');
	size_t nlen = comma ? (size_t)(comma - args) : strlen(args);
	/* options: zstd's level=N, nothing for lz4 */
	for (const char *o = comma; o; o = strchr(o + 1, ',')) {
		const char *opt = o + 1;
		size_t olen = strcspn(opt, ",");
		if (z->zstd && !strncmp(opt, "level=", 6)) {
			char *end;
			errno = 0;
			long lv = strtol(opt + 6, &end, 10);
			if (end == opt + 6 || (size_t)(end - opt) != olen || errno)
				return hm_error(EINVAL, "tier '%s:%s': level must be a number (%s)", kind, args, t->ops->usage);
			if (lv < ZSTD_minCLevel() || lv > ZSTD_maxCLevel())
				return hm_error(ERANGE, "tier '%s:%s': zstd level %ld is out of range (%d..%d)", kind,
						args, lv, ZSTD_minCLevel(), ZSTD_maxCLevel());
			z->level = (int)lv;
		} else {
			return hm_error(EINVAL, "tier '%s:%s': unknown option '%.*s' (expected %s)", kind, args, (int)olen,
					opt, t->ops->usage);
		}
	}
	char num[64];
	if (nlen >= sizeof(num))
		return hm_error(EINVAL, "tier '%s:%s': size is too long", kind, args);
	memcpy(num, args, nlen);
	num[nlen] = 0;
	uint64_t size;
	int rc = hm_parse_size(num, &size);
	if (rc)
		return hm_error(-rc, "tier '%s:%s': size must be a number with an optional K/M/G/T suffix, such as 1G or 1.5G",
				kind, args);
	size &= ~(uint64_t)(HM_PAGE_SIZE - 1);
	if (size == 0)
		return hm_error(EINVAL, "tier '%s:%s': %s is less than one 4 KiB page (at least 4K)", kind, args, num);
	struct sysinfo si;
	if (sysinfo(&si) == 0) {
		uint64_t ram = (uint64_t)si.totalram * si.mem_unit;
		char lim[32];
		hm_fmt_bytes(lim, sizeof(lim), ram);
		if (size > ram)
			return hm_error(E2BIG, "tier '%s:%s': %s is more than this machine's RAM (%s)", kind, args, num, lim);
	}
	z->limit = size;
	z->nhandles = (size >> HM_PAGE_SHIFT) * Z_HANDLES_PER_PAGE;
	if (z->nhandles > PW_SLOT_MAX + 1)
		z->nhandles = PW_SLOT_MAX + 1;
	z->ents = calloc(z->nhandles, sizeof(*z->ents));
	z->meta = calloc(z->nhandles, sizeof(*z->meta));
	z->bitmap = calloc((z->nhandles + 63) / 64, sizeof(uint64_t));
	if (!z->ents || !z->meta || !z->bitmap) {
		free(z->ents);
		free(z->meta);
		free(z->bitmap);
		return hm_error(ENOMEM, "tier '%s:%s': no memory for the handle table", kind, args);
	}
	/* the bits past the end are in use, so whole-word scans skip them */
	for (uint64_t s = z->nhandles; s < ((z->nhandles + 63) & ~63ull); s++)
		z->bitmap[s >> 6] |= 1ull << (s & 63);
	pthread_mutex_init(&z->hlock, NULL);
	for (uint32_t c = 0; c < Z_NCLASSES; c++) {
		struct zclass *k = &z->cls[c];
		pthread_mutex_init(&k->lock, NULL);
		k->size = c == Z_RAW_CLASS ? (uint32_t)HM_PAGE_SIZE : (c + 1) * Z_CLASS_STEP;
		for (int l = 0; l < Z_LAYOUTS; l++)
			k->pages[l] = slab_pages(k->size, z_layouts[l].max_pages, z_layouts[l].tail);
	}
	t->capacity = z->nhandles << HM_PAGE_SHIFT;
	return 0;
}

static void obj_free(struct ztier *z, struct zent *e);

static void z_close(struct hm_tier *t)
{
	struct ztier *z = t->priv;
	/* only the handles ever given out: the tables are sized for 4 x SIZE
	 * and mostly never touched (walking them all would fault them in) */
	for (uint64_t h = 0; h < z->top; h++)
		if (z->ents[h].state == ZE_OBJ)
			obj_free(z, &z->ents[h]);
	/* every slab went with its last object */
	HM_COUNT(comp_logical_bytes, -atomic_load(&z->logical_bytes));
	for (uint32_t c = 0; c < Z_NCLASSES; c++)
		pthread_mutex_destroy(&z->cls[c].lock);
	pthread_mutex_destroy(&z->hlock);
	free(z->ents);
	free(z->meta);
	free(z->bitmap);
}

/* --- handles ------------------------------------------------------------- */

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

/* the lowest free aligned run of 2^order handles */
static int z_alloc(struct hm_tier *t, unsigned order, uint64_t *handle)
{
	struct ztier *z = t->priv;
	uint64_t n = 1ull << order;
	uint64_t limit = z->nhandles & ~(n - 1);
	pthread_mutex_lock(&z->hlock);
	for (uint64_t s = z->hint[order]; s < limit;) {
		if (order < 6 && z->bitmap[s >> 6] == ~0ull) {
			s = (s | 63) + 1;
		} else if (run_free(z->bitmap, s, order)) {
			run_set(z->bitmap, s, n, true);
			z->hint[order] = s + n;
			if (s + n > z->top)
				z->top = s + n;
			for (uint64_t h = s; h < s + n; h++)
				z->ents[h].state = ZE_EMPTY;
			pthread_mutex_unlock(&z->hlock);
			*handle = s;
			return 0;
		} else {
			s += n;
		}
	}
	z->hint[order] = limit;
	pthread_mutex_unlock(&z->hlock);
	return -ENOSPC;
}

/* Drop what handle @h stores (its entry becomes EMPTY). */
static void ent_clear(struct ztier *z, struct zent *e)
{
	atomic_store_explicit(&z->meta[e - z->ents], 0, memory_order_relaxed);
	uint8_t st = e->state;
	if (st == ZE_OBJ)
		obj_free(z, e);
	if (st == ZE_OBJ || st == ZE_SAME) {
		atomic_fetch_sub(&z->logical_bytes, HM_PAGE_SIZE);
		HM_COUNT(comp_logical_bytes, -(uint64_t)HM_PAGE_SIZE);
	}
	e->state = ZE_EMPTY;
}

static void z_free(struct hm_tier *t, uint64_t handle, size_t npages)
{
	struct ztier *z = t->priv;
	for (uint64_t h = handle; h < handle + npages; h++) {
		ent_clear(z, &z->ents[h]);
		z->ents[h].state = ZE_FREE;
	}
	pthread_mutex_lock(&z->hlock);
	run_set(z->bitmap, handle, npages, false);
	/* a hint only says nothing is free below it: lowering it to the freed
	 * run's aligned start keeps that true */
	for (unsigned o = 0; o < HM_SLOT_ORDERS; o++) {
		uint64_t a = handle & ~((1ull << o) - 1);
		if (a < z->hint[o])
			z->hint[o] = a;
	}
	pthread_mutex_unlock(&z->hlock);
}

/* --- the pool ------------------------------------------------------------ */

static inline uint16_t *obj_next(struct zclass *k, struct zslab *s, uint32_t i)
{
	return (uint16_t *)(s->mem + (size_t)i * k->size);
}

static void partial_remove(struct zclass *k, struct zslab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		k->partial = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void partial_add(struct zclass *k, struct zslab *s)
{
	s->prev = NULL;
	s->next = k->partial;
	if (k->partial)
		k->partial->prev = s;
	k->partial = s;
}

/* A free object of slab @s of class @k (its lock held) into @e */
static void obj_take(struct zclass *k, struct zslab *s, struct zent *e)
{
	uint32_t i;
	if (s->listed) {
		i = s->free_head;
		s->free_head = *obj_next(k, s, i);
		s->listed--;
	} else {
		i = s->fresh++;
	}
	if (--s->nfree == 0)
		partial_remove(k, s);
	e->slab = s;
	e->idx = (uint16_t)i;
}

/* An object of @len bytes: its slab and index in @e.  0, or -ENOSPC (the
 * pool would pass SIZE) or -ENOMEM. */
static int obj_alloc(struct ztier *z, size_t len, struct zent *e)
{
	unsigned c = class_index(len), last = c;
	if (c != Z_RAW_CLASS) {
		last = c + (unsigned)((double)z->cls[c].size * Z_SLACK) / Z_CLASS_STEP;
		if (last >= Z_RAW_CLASS)
			last = Z_RAW_CLASS - 1;
	}
	struct zclass *k = &z->cls[c];
	pthread_mutex_lock(&k->lock);
	if (k->partial) {
		obj_take(k, k->partial, e);
		pthread_mutex_unlock(&k->lock);
		e->cls = (uint8_t)c;
		e->len = (uint16_t)len;
		return 0;
	}
	pthread_mutex_unlock(&k->lock);
	/* its class has no free object: one of a little larger class */
	for (unsigned j = c + 1; j <= last; j++) {
		struct zclass *n = &z->cls[j];
		pthread_mutex_lock(&n->lock);
		if (n->partial) {
			obj_take(n, n->partial, e);
			pthread_mutex_unlock(&n->lock);
			e->cls = (uint8_t)j;
			e->len = (uint16_t)len;
			return 0;
		}
		pthread_mutex_unlock(&n->lock);
	}
	pthread_mutex_lock(&k->lock);
	struct zslab *s = k->partial; /* one may have come meanwhile */
	if (!s) {
		int l = Z_LAYOUTS - 1;
		while (l > 0 && k->nslabs < z_layouts[l].from_slabs)
			l--;
		uint32_t pages = k->pages[l];
		uint64_t bytes = (uint64_t)pages << HM_PAGE_SHIFT;
		uint64_t was = atomic_fetch_add(&z->pool_bytes, bytes);
		if (was + bytes > z->limit) {
			atomic_fetch_sub(&z->pool_bytes, bytes);
			pthread_mutex_unlock(&k->lock);
			return -ENOSPC;
		}
		s = calloc(1, sizeof(*s));
		if (s)
			s->mem = malloc(bytes);
		if (!s || !s->mem) {
			free(s);
			atomic_fetch_sub(&z->pool_bytes, bytes);
			pthread_mutex_unlock(&k->lock);
			return -ENOMEM;
		}
		s->pages = (uint16_t)pages;
		s->nobj = (uint16_t)(bytes / k->size);
		s->nfree = s->nobj;
		k->nslabs++;
		HM_COUNT(comp_pool_bytes, bytes);
		partial_add(k, s);
	}
	obj_take(k, s, e);
	pthread_mutex_unlock(&k->lock);
	e->cls = (uint8_t)c;
	e->len = (uint16_t)len;
	return 0;
}

static void obj_free(struct ztier *z, struct zent *e)
{
	struct zclass *k = &z->cls[e->cls];
	struct zslab *s = e->slab;
	atomic_fetch_sub(&z->stored_bytes, e->len);
	HM_COUNT(comp_stored_bytes, -(uint64_t)e->len);
	pthread_mutex_lock(&k->lock);
	if (s->nfree == 0)
		partial_add(k, s);
	s->nfree++;
	if (s->nfree == s->nobj) {
		/* the slab's last object: give it back */
		partial_remove(k, s);
		k->nslabs--;
		pthread_mutex_unlock(&k->lock);
		uint64_t bytes = (uint64_t)s->pages << HM_PAGE_SHIFT;
		free(s->mem);
		free(s);
		atomic_fetch_sub(&z->pool_bytes, bytes);
		HM_COUNT(comp_pool_bytes, -bytes);
	} else {
		*obj_next(k, s, e->idx) = s->free_head;
		s->free_head = e->idx;
		s->listed++;
		pthread_mutex_unlock(&k->lock);
	}
	e->state = ZE_EMPTY;
}

/* --- data ---------------------------------------------------------------- */

/* true and *word if every 64-bit word of the page is the same */
static bool same_filled(const void *page, uint64_t *word)
{
	const uint64_t *w = page;
	uint64_t v = w[0];
	for (size_t i = 1; i < HM_PAGE_SIZE / 8; i++)
		if (w[i] != v)
			return false;
	*word = v;
	return true;
}

static int write_page(struct ztier *z, struct zent *e, const char *src)
{
	ent_clear(z, e);
	uint64_t word;
	if (same_filled(src, &word)) {
		e->word = word;
		e->state = ZE_SAME;
		if (word)
			HM_COUNT(comp_same_pages, 1);
		else
			HM_COUNT(comp_zero_pages, 1);
	} else {
		/* a full pool: fail before compressing, which it would only
		 * throw away (the reclaimer tries again, or sends the page on
		 * to the next tier: writeback.c) */
		if (atomic_load_explicit(&z->pool_bytes, memory_order_relaxed) + hm_ztier_margin(z->limit) > z->limit) {
			HM_COUNT(comp_pool_full, 1);
			return -ENOSPC;
		}
		char buf[Z_MAX_OBJ];
		uint64_t t0 = now_ns();
		size_t len;
		if (z->zstd) {
			size_t r = ZSTD_compressCCtx(zthr.cctx, buf, sizeof(buf), src, HM_PAGE_SIZE, z->level);
			len = ZSTD_isError(r) ? 0 : r; /* dstSize_tooSmall: over 3/4 of a page */
		} else {
			int r = LZ4_compress_default(src, buf, (int)HM_PAGE_SIZE, (int)sizeof(buf));
			len = r > 0 ? (size_t)r : 0; /* 0: it did not fit in 3/4 of a page */
		}
		HM_COUNT(comp_ns, now_ns() - t0);
		const char *from = buf;
		if (!len) {
			len = HM_PAGE_SIZE; /* incompressible: stored raw */
			from = src;
		}
		int rc = obj_alloc(z, len, e);
		if (rc) {
			HM_COUNT(comp_pool_full, 1);
			return rc;
		}
		if (len == HM_PAGE_SIZE)
			HM_COUNT(comp_incompressible, 1);
		memcpy(e->slab->mem + (size_t)e->idx * z->cls[e->cls].size, from, len);
		e->state = ZE_OBJ;
		atomic_fetch_add(&z->stored_bytes, len);
		HM_COUNT(comp_stored_bytes, len);
	}
	atomic_fetch_add(&z->logical_bytes, HM_PAGE_SIZE);
	HM_COUNT(comp_logical_bytes, HM_PAGE_SIZE);
	return 0;
}

static int z_write(struct hm_tier *t, uint64_t handle, const void *buf, size_t npages)
{
	struct ztier *z = t->priv;
	int ie = hm_prim_inject(HM_SITE_TIER_WRITE); /* no system call here to fail: inject here */
	if (ie)
		return ie;
	if (z->zstd && !zthr.cctx)
		return -ENOMEM; /* attach failed */
	uint32_t stamp = (uint32_t)(now_ns() / 1000000000ull + 1) << 1;
	for (size_t k = 0; k < npages; k++) {
		struct zent *e = &z->ents[handle + k];
		int rc = write_page(z, e, (const char *)buf + (k << HM_PAGE_SHIFT));
		if (rc)
			return rc;
		bool raw = e->state == ZE_OBJ && e->len == HM_PAGE_SIZE;
		atomic_store_explicit(&z->meta[handle + k], stamp | raw, memory_order_relaxed);
	}
	/* the peak of RAM saved, for the exit report (at exit the program
	 * may have freed what it had on the tier) */
	uint64_t lg = atomic_load_explicit(&hm_cnt.comp_logical_bytes, memory_order_relaxed);
	uint64_t pl = atomic_load_explicit(&hm_cnt.comp_pool_bytes, memory_order_relaxed);
	uint64_t cur = atomic_load_explicit(&hm_cnt.comp_saved_peak_bytes, memory_order_relaxed);
	while (lg > pl && lg - pl > cur &&
	       !atomic_compare_exchange_weak_explicit(&hm_cnt.comp_saved_peak_bytes, &cur, lg - pl, memory_order_relaxed,
						      memory_order_relaxed))
		;
	return 0;
}

int hm_ztier_folio(const struct hm_tier *t, uint64_t handle, size_t npages, uint32_t *age_s, size_t *raw)
{
	const struct ztier *z = t->priv;
	if (handle >= z->nhandles || npages > z->nhandles - handle)
		return -EINVAL;
	uint32_t now = (uint32_t)(now_ns() / 1000000000ull + 1), newest = 0;
	size_t nraw = 0;
	for (size_t k = 0; k < npages; k++) {
		uint32_t m = atomic_load_explicit(&z->meta[handle + k], memory_order_relaxed);
		if (!m)
			return -ENOENT; /* being written or freed */
		nraw += m & 1;
		newest = (m >> 1) > newest ? (m >> 1) : newest;
	}
	*age_s = now > newest ? now - newest : 0;
	*raw = nraw;
	return 0;
}

static int z_read(struct hm_tier *t, uint64_t handle, void *buf, size_t npages)
{
	struct ztier *z = t->priv;
	int ie = hm_prim_inject(HM_SITE_TIER_READ);
	if (ie)
		return ie;
	if (z->zstd && !zthr.dctx)
		return -ENOMEM; /* attach failed */
	for (size_t k = 0; k < npages; k++) {
		const struct zent *e = &z->ents[handle + k];
		char *dst = (char *)buf + (k << HM_PAGE_SHIFT);
		if (e->state == ZE_OBJ && e->len == HM_PAGE_SIZE) {
			memcpy(dst, e->slab->mem + (size_t)e->idx * HM_PAGE_SIZE, HM_PAGE_SIZE); /* raw */
		} else if (e->state == ZE_OBJ) {
			const char *src = e->slab->mem + (size_t)e->idx * z->cls[e->cls].size;
			uint64_t t0 = now_ns();
			size_t got;
			if (z->zstd) {
				size_t r = ZSTD_decompressDCtx(zthr.dctx, dst, HM_PAGE_SIZE, src, e->len);
				got = ZSTD_isError(r) ? 0 : r;
			} else {
				int r = LZ4_decompress_safe(src, dst, (int)e->len, (int)HM_PAGE_SIZE);
				got = r > 0 ? (size_t)r : 0;
			}
			HM_COUNT(decomp_ns, now_ns() - t0);
			if (got != HM_PAGE_SIZE)
				return -EIO;
		} else {
			/* same-filled, or a handle never written (zeros) */
			uint64_t v = e->state == ZE_SAME ? e->word : 0, *w = (uint64_t *)dst;
			for (size_t i = 0; i < HM_PAGE_SIZE / 8; i++)
				w[i] = v;
		}
	}
	return 0;
}

void hm_ztier_usage(const struct hm_tier *t, struct hm_ztier_usage *u)
{
	struct ztier *z = t->priv;
	u->logical = atomic_load(&z->logical_bytes);
	u->stored = atomic_load(&z->stored_bytes);
	u->pool = atomic_load(&z->pool_bytes);
	u->limit = z->limit;
}

bool hm_tier_is_compressed(const struct hm_tier *t)
{
	return t->ops == &hm_tier_lz4_ops || t->ops == &hm_tier_zstd_ops;
}

const struct hm_tier_ops hm_tier_lz4_ops = {
	.kind = "lz4",
	.usage = "lz4:SIZE",
	.tier_class = HM_TIER_PRIVATE,
	.priv_size = sizeof(struct ztier),
	.open = z_open,
	.close = z_close,
	.alloc = z_alloc,
	.free = z_free,
	.read = z_read,
	.write = z_write,
	.attach = z_attach,
};

const struct hm_tier_ops hm_tier_zstd_ops = {
	.kind = "zstd",
	.usage = "zstd:SIZE[,level=N]",
	.tier_class = HM_TIER_PRIVATE,
	.priv_size = sizeof(struct ztier),
	.open = z_open,
	.close = z_close,
	.alloc = z_alloc,
	.free = z_free,
	.read = z_read,
	.write = z_write,
	.attach = z_attach,
};
