/*
 * test_tier_ops.c — the tier interface (src/tiers/tier.h) with a backend
 * that uses what emu and file do not: its own allocator whose handles name
 * variable-size objects (an all-zero page is stored with no payload, any
 * other as a copy), a batched write, backend private state and a
 * per-thread attach.  Data of every folio size goes to it and back,
 * explicitly and through CPU faults, intact; attach runs once per thread; a
 * store that fills although handles remain leaves the pages in RAM, intact;
 * a backend lacking its class's data ops is refused, and an unknown kind's error lists the
 * registered kinds.
 */
#include "unit.h"
#include "hetmem_inject.h"

#include <pthread.h>
#include <sys/mman.h>

/* --- the "vobj" backend: vobj:NPAGES[,bytes=N] --------------------------- */

struct obj {
	void *data; /* NULL: an all-zero page (no payload) */
	bool used;
};

struct vobj {
	pthread_mutex_t lock;
	struct obj *objs; /* one per handle */
	size_t nobjs;
	size_t bytes, max_bytes; /* payload stored, and its bound (0: none) */
};

static _Atomic unsigned attach_calls, batch_calls, batch_runs;
static __thread bool this_thread_attached;
static _Atomic unsigned attach_twice; /* attach called again in one thread */

static int vobj_open(struct hm_tier *t, const char *args)
{
	struct vobj *v = t->priv;
	char *end;
	unsigned long n = strtoul(args, &end, 10);
	if (!n)
		return hm_error(EINVAL, "vobj:%s: expected vobj:NPAGES[,bytes=N]", args);
	if (!strncmp(end, ",bytes=", 7))
		v->max_bytes = strtoul(end + 7, NULL, 10);
	v->objs = calloc(n, sizeof(*v->objs));
	if (!v->objs)
		return -ENOMEM;
	v->nobjs = n;
	pthread_mutex_init(&v->lock, NULL);
	t->capacity = (uint64_t)n * PG;
	return 0;
}

static void vobj_close(struct hm_tier *t)
{
	struct vobj *v = t->priv;
	for (size_t i = 0; i < v->nobjs; i++)
		free(v->objs[i].data);
	free(v->objs);
	pthread_mutex_destroy(&v->lock);
}

/* the lowest free run of 2^order handles (any alignment) */
static int vobj_alloc(struct hm_tier *t, unsigned order, uint64_t *handle)
{
	struct vobj *v = t->priv;
	size_t n = (size_t)1 << order, run = 0;
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < v->nobjs; i++) {
		run = v->objs[i].used ? 0 : run + 1;
		if (run == n) {
			for (size_t k = i + 1 - n; k <= i; k++)
				v->objs[k].used = true;
			*handle = i + 1 - n;
			pthread_mutex_unlock(&v->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&v->lock);
	return -ENOSPC;
}

static void vobj_free(struct hm_tier *t, uint64_t handle, size_t npages)
{
	struct vobj *v = t->priv;
	pthread_mutex_lock(&v->lock);
	for (size_t k = handle; k < handle + npages; k++) {
		assert_true(v->objs[k].used);
		if (v->objs[k].data)
			v->bytes -= PG;
		free(v->objs[k].data);
		v->objs[k] = (struct obj){0};
	}
	pthread_mutex_unlock(&v->lock);
}

static bool all_zero(const char *p)
{
	for (size_t i = 0; i < PG; i++)
		if (p[i])
			return false;
	return true;
}

static int vobj_write(struct hm_tier *t, uint64_t handle, const void *buf, size_t npages)
{
	assert_true(this_thread_attached);
	struct vobj *v = t->priv;
	for (size_t k = 0; k < npages; k++) {
		const char *src = (const char *)buf + k * PG;
		struct obj *o = &v->objs[handle + k];
		assert_true(o->used);
		pthread_mutex_lock(&v->lock);
		free(o->data);
		if (o->data)
			v->bytes -= PG;
		o->data = NULL;
		bool full = !all_zero(src) && v->max_bytes && v->bytes + PG > v->max_bytes;
		if (!full && !all_zero(src) && (o->data = malloc(PG))) {
			memcpy(o->data, src, PG);
			v->bytes += PG;
		}
		pthread_mutex_unlock(&v->lock);
		if (full)
			return -ENOSPC;
	}
	return 0;
}

static int vobj_write_batch(struct hm_tier *t, const struct hm_tier_io *io, size_t n)
{
	atomic_fetch_add(&batch_calls, 1);
	atomic_fetch_add(&batch_runs, (unsigned)n);
	for (size_t k = 0; k < n; k++) {
		int rc = vobj_write(t, io[k].handle, io[k].buf, io[k].npages);
		if (rc)
			return rc;
	}
	return 0;
}

static int vobj_read(struct hm_tier *t, uint64_t handle, void *buf, size_t npages)
{
	assert_true(this_thread_attached);
	struct vobj *v = t->priv;
	for (size_t k = 0; k < npages; k++) {
		struct obj *o = &v->objs[handle + k];
		assert_true(o->used);
		if (o->data)
			memcpy((char *)buf + k * PG, o->data, PG);
		else
			memset((char *)buf + k * PG, 0, PG);
	}
	return 0;
}

static int vobj_attach(struct hm_tier *t)
{
	(void)t;
	if (this_thread_attached)
		atomic_fetch_add(&attach_twice, 1);
	this_thread_attached = true;
	atomic_fetch_add(&attach_calls, 1);
	return 0;
}

static const struct hm_tier_ops vobj_ops = {
	.kind = "vobj",
	.usage = "vobj:NPAGES[,bytes=N]",
	.tier_class = HM_TIER_PRIVATE,
	.priv_size = sizeof(struct vobj),
	.open = vobj_open,
	.close = vobj_close,
	.alloc = vobj_alloc,
	.free = vobj_free,
	.read = vobj_read,
	.write = vobj_write,
	.write_batch = vobj_write_batch,
	.attach = vobj_attach,
};

static int fake_open(struct hm_tier *t, const char *args)
{
	t->capacity = PG;
	return 0;
}
static void fake_close(struct hm_tier *t) {}
static const struct hm_tier_ops coherent_ops = {
	.kind = "coh",
	.tier_class = HM_TIER_COHERENT,
	.open = fake_open,
	.close = fake_close,
};

static int setup(void **state)
{
	if (hm_init(NULL))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	hm_inject_clear();
	hm_shutdown();
	return 0;
}

static size_t payload_bytes(int id)
{
	struct vobj *v = hm_tier_get(id)->priv;
	pthread_mutex_lock(&v->lock);
	size_t b = v->bytes;
	pthread_mutex_unlock(&v->lock);
	return b;
}

/* Every folio size there and back; every other page all zeros (stored with
 * no payload), every fourth never touched. */
static void test_round_trip(void **state)
{
	int id = EXPECT_OK(hm_tier_add("vobj:4096"));
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(id, &ti), 0);
	assert_string_equal(ti.kind, "vobj");
	assert_int_equal(ti.capacity, 4096 * PG);
	assert_false(ti.coherent);

	const size_t fsz[] = {HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M};
	const size_t np = 1024; /* 4 MiB each */
	char *p[3];
	int *w = malloc(np * sizeof(int));
	bool *odd = malloc(np);
	for (size_t i = 0; i < np; i++)
		odd[i] = i % 2;
	unsigned batches0 = atomic_load(&batch_calls);
	for (int k = 0; k < 3; k++) {
		p[k] = hm_alloc(np * PG, fsz[k]);
		assert_non_null(p[k]);
		fill_pattern(p[k], np, 700 + k);
		for (size_t i = 1; i < np; i += 2)
			memset(p[k] + i * PG, 0, PG);
		for (size_t i = 3; k && i < np; i += 4) /* in a large folio: a zero page */
			assert_int_equal(madvise(p[k] + i * PG, PG, MADV_DONTNEED), 0);
		assert_int_equal(hm_migrate(p[k], np * PG, id, NULL), (long)np);
		assert_int_equal(hm_where(p[k], np * PG, w), 0);
		for (size_t i = 0; i < np; i++) /* a discarded page may say "none" (-1) */
			assert_true(w[i] == id || (k && i % 4 == 3 && w[i] == -1));
	}
	assert_int_equal(hm_tier_info(id, &ti), 0);
	/* every page but the discarded ones, which may be stored as zero pages */
	assert_true(ti.used <= 3 * np * PG && ti.used >= (3 * np - 2 * np / 4) * PG);
	/* only the patterned pages (every other one) carry a payload */
	assert_int_equal(payload_bytes(id), 3 * (np / 2) * PG);
	/* the demotions went through the batched write */
	assert_true(atomic_load(&batch_calls) > batches0);
	/* a folio with zero pages in it is one batch of several runs */
	assert_true(atomic_load(&batch_runs) > atomic_load(&batch_calls));

	/* home: 4K explicitly, 64K and 2M through CPU faults */
	assert_int_equal(hm_migrate(p[0], np * PG, 0, NULL), (long)np);
	for (int k = 0; k < 3; k++) {
		for (size_t i = 1; i < np; i += 2)
			assert_true(all_zero(p[k] + i * PG));
		assert_int_equal(check_pattern_skip(p[k], np, 700 + k, odd), -1);
		assert_int_equal(hm_where(p[k], np * PG, w), 0);
		for (size_t i = 0; i < np; i++)
			assert_int_equal(w[i], 0);
	}
	assert_int_equal(hm_tier_info(id, &ti), 0);
	assert_int_equal(ti.used, 0);
	assert_int_equal(ti.errors, 0);
	assert_int_equal(payload_bytes(id), 0);
	/* attach ran once in each thread that used the tier, and ran */
	assert_true(atomic_load(&attach_calls) >= 1);
	assert_int_equal(atomic_load(&attach_twice), 0);
	for (int k = 0; k < 3; k++)
		assert_int_equal(hm_free(p[k], 0), 0);
	free(w);
	free(odd);
	assert_int_equal(hm_tier_remove(id), 0);
}

/* The store fills (bytes=) while handles remain: the write's -ENOSPC leaves
 * the pages in RAM with their data (each failed write counted on the tier,
 * as any failed write is). */
static void test_store_full(void **state)
{
	int id = EXPECT_OK(hm_tier_add("vobj:1024,bytes=262144")); /* 64 pages of payload */
	const size_t np = 256;
	char *p = hm_alloc(np * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, np, 710);
	int *st = malloc(np * sizeof(int));
	long moved = hm_migrate(p, np * PG, id, st);
	assert_int_equal(moved, 64);
	size_t full = 0;
	for (size_t i = 0; i < np; i++)
		if (st[i] == -ENOSPC)
			full++;
	assert_int_equal(full, np - 64);
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(id, &ti), 0);
	assert_int_equal(ti.used, 64 * PG); /* the failed ones' handles were freed */
	assert_int_equal(ti.errors, np - 64);
	ASSERT_PATTERN(p, np, 710);
	assert_int_equal(hm_free(p, 0), 0);
	free(st);
	assert_int_equal(hm_tier_remove(id), 0);
}

/* A backend without the data ops of its class (a coherent one without
 * move) is refused; an unknown kind's error names what was typed and the
 * kinds. */
static void test_refused(void **state)
{
	assert_int_equal(hm_tier_add("coh:x"), -EINVAL);
	assert_non_null(strstr(hm_last_error(), "coh:x"));
	assert_non_null(strstr(hm_last_error(), "data ops of its class"));
	assert_int_equal(hm_tier_add("nosuch:1M"), -EINVAL);
	assert_non_null(strstr(hm_last_error(), "'nosuch'"));
	assert_non_null(strstr(hm_last_error(), "emu, file, lz4, zstd, numa, dax, cuda, vobj, coh"));
	assert_int_equal(hm_tier_backend_register(&vobj_ops), -EEXIST);
}

int main(void)
{
	assert_int_equal(hm_tier_backend_register(&vobj_ops), 0);
	assert_int_equal(hm_tier_backend_register(&coherent_ops), 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_store_full),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
