/*
 * test_cuda.c — GPU memory as a device-private tier ("cuda:N[,size=SIZE]",
 * tiers/cuda.c).
 *
 *   unit_cuda STUB     against the stand-in driver (tests/cudastub, loaded
 *                      through HETMEM_CUDA_LIB, the same dlopen path as
 *                      libcuda.so.1): everything below, failure injection
 *                      included.  CTest runs it with two fake GPUs.
 *   unit_cuda --real   against the real driver (libcuda.so.1): the groups
 *                      that need no injection; skipped (exit 77) with the
 *                      reason where the driver does not load or sees no GPU.
 *
 * What is checked: bad specs fail naming what was typed and leave nothing
 * behind (no tier, no device or pinned allocation); data of every folio
 * size through demotion and fault-back; write_batch (several runs, across
 * a staging buffer's end, in one call: one synchronisation per staging
 * buffer); a failed device-to-host copy poisons exactly its page (SIGBUS at
 * its address, explicitly and in the fault path), never wrong data; a
 * failed host-to-device copy leaves its folio in RAM intact; a lost context
 * poisons what was on the GPU and keeps what was in RAM; several threads
 * moving and faulting at once, one of them with another context of its own
 * current, which the tier leaves current; hetmem run's default tier
 * prefers a GPU.
 */
#include "unit.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>

void hm_env_default_tier(char *buf, size_t len, char *why, size_t whylen);

static bool real;         /* the real driver, not the stand-in */
static char stub[PATH_MAX]; /* the stand-in's path */
static int (*stub_fail)(const char *);
static void (*stub_counts)(long *, long *, long *, long *);

static long stub_live(void)
{
	long a, b, c, live = 0;
	if (stub_counts)
		stub_counts(&a, &b, &c, &live);
	return live;
}

static void stub_inject(const char *what)
{
	assert_non_null(stub_fail);
	assert_int_equal(stub_fail(what), 0);
}

static int setup(void **state)
{
	(void)state;
	/* a test that failed half-way may have left another library named */
	if (real)
		unsetenv("HETMEM_CUDA_LIB");
	else
		setenv("HETMEM_CUDA_LIB", stub, 1);
	if (hm_init(NULL))
		return -1;
	if (stub_fail)
		stub_fail("");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (stub_fail)
		stub_fail("");
	hm_shutdown();
	return 0;
}

static struct hm_tier_info tinfo(int id)
{
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(id, &ti), 0);
	return ti;
}

/* --- bad specs ------------------------------------------------------------ */

static void test_bad_specs(void **state)
{
	long live0 = stub_live();
	EXPECT_ERR_MSG(hm_tier_add("cuda:"), EINVAL, "cuda:N[,size=SIZE]");
	EXPECT_ERR_MSG(hm_tier_add("cuda:gpu0"), EINVAL, "tier 'cuda:gpu0'");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0x"), EINVAL, "cuda:0x");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0,color=red"), EINVAL, "unknown option 'color=red'");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0,size=lots"), EINVAL, "'lots'");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0,size=1K"), EINVAL, "1K is less than one 4 KiB page");
	EXPECT_ERR_MSG(hm_tier_add("cuda:99999999999"), EINVAL, "too large");
	/* an index past the last GPU: says how many there are */
	EXPECT_ERR_MSG(hm_tier_add("cuda:9"), ENODEV, "tier 'cuda:9': there is no GPU 9");
	if (!real)
		EXPECT_ERR_MSG(hm_tier_add("cuda:9"), ENODEV, "this machine has 2 (cuda:0 .. cuda:1)");
	/* more than the GPU has free: both named */
	EXPECT_ERR_MSG(hm_tier_add("cuda:0,size=1000T"), E2BIG, "tier 'cuda:0,size=1000T': size 1000T (");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0,size=1000T"), E2BIG, "is more than GPU 0");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0,size=1000T"), E2BIG, "has free");
	assert_int_equal(hm_tier_count(), 1);
	assert_int_equal(stub_live(), live0);
}

/* No driver where HETMEM_CUDA_LIB points: a clear error naming the spec
 * and the library, and nothing opened. */
static void test_no_driver(void **state)
{
	const char *old = getenv("HETMEM_CUDA_LIB");
	char keep[512];
	snprintf(keep, sizeof(keep), "%s", old ? old : "");
	setenv("HETMEM_CUDA_LIB", "/nonexistent/libcuda.so.1", 1);
	EXPECT_ERR_MSG(hm_tier_add("cuda:0"), ENOENT, "tier 'cuda:0': no CUDA driver: cannot load "
						      "'/nonexistent/libcuda.so.1' (HETMEM_CUDA_LIB)");
	struct hm_cuda_gpu g[4];
	char why[512];
	assert_true(hm_cuda_gpus(g, 4, why, sizeof(why)) < 0);
	assert_non_null(strstr(why, "no CUDA driver"));
	/* the default tier is then what it was without GPUs */
	char def[128];
	hm_env_default_tier(def, sizeof(def), NULL, 0);
	assert_true(strncmp(def, "cuda:", 5) != 0);
	if (old)
		setenv("HETMEM_CUDA_LIB", keep, 1);
	else
		unsetenv("HETMEM_CUDA_LIB");
	assert_int_equal(hm_tier_count(), 1);
}

/* The driver's own failures at open (stand-in only): a context that cannot
 * be created, device memory or pinned memory that cannot be allocated, a
 * driver that does not start.  Each a clear error, nothing left behind. */
static void test_open_failures(void **state)
{
	long live0 = stub_live();
	stub_inject("ctx");
	EXPECT_ERR_MSG(hm_tier_add("cuda:1"), EIO, "tier 'cuda:1': cannot create a context on GPU 1");
	EXPECT_ERR_MSG(hm_tier_add("cuda:1"), EIO, "CUDA error 2 (out of memory)");
	stub_inject("alloc");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0,size=16M"), ENOMEM, "tier 'cuda:0,size=16M': cannot allocate 16");
	stub_inject("hostalloc");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0,size=16M"), ENOMEM, "pinned host memory");
	assert_int_equal(stub_live(), live0);
	/* a driver that does not start: the stand-in under another name (a
	 * new path is loaded and initialised afresh) */
	char link[128], keep[512];
	snprintf(link, sizeof(link), "/tmp/hetmem-cudastub-%d.so", (int)getpid());
	unlink(link);
	assert_int_equal(symlink(stub, link), 0);
	snprintf(keep, sizeof(keep), "%s", getenv("HETMEM_CUDA_LIB"));
	setenv("HETMEM_CUDA_LIB", link, 1);
	stub_inject("init");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0"), EIO, "tier 'cuda:0': the CUDA driver");
	EXPECT_ERR_MSG(hm_tier_add("cuda:0"), EIO, "does not start (cuInit)");
	setenv("HETMEM_CUDA_LIB", keep, 1);
	unlink(link);
	stub_inject("");
	assert_int_equal(hm_tier_count(), 1);
	/* and after all that, a tier opens */
	int t = EXPECT_OK(hm_tier_add("cuda:1,size=8M"));
	assert_int_equal(hm_tier_remove(t), 0);
	assert_int_equal(stub_live(), live0);
}

/* --- data ----------------------------------------------------------------- */

static void test_open_close(void **state)
{
	long live0 = stub_live();
	struct hm_cuda_gpu g[4];
	char why[512] = "";
	int n = hm_cuda_gpus(g, 4, why, sizeof(why));
	assert_true(n > 0);
	assert_true(g[0].usable);
	/* the default size: half the free memory, in 2 MiB */
	int t = EXPECT_OK(hm_tier_add("cuda:0"));
	struct hm_tier_info ti = tinfo(t);
	assert_string_equal(ti.kind, "cuda");
	assert_false(ti.coherent);
	uint64_t want = (g[0].free / 2) & ~((2ull << 20) - 1);
	if (!real)
		assert_int_equal(ti.capacity, want);
	else if (ti.capacity + (64u << 20) < want || ti.capacity > want + (64u << 20))
		fail_msg("capacity %llu, expected about half of %llu free", (unsigned long long)ti.capacity,
			 (unsigned long long)g[0].free);
	if (!real) /* the pool and 8 staging buffers */
		assert_int_equal(stub_live(), live0 + 9);
	assert_int_equal(hm_tier_remove(t), 0);
	assert_int_equal(stub_live(), live0);
	/* two tiers on one GPU, and one on another */
	int a = EXPECT_OK(hm_tier_add("cuda:0,size=8M"));
	int b = EXPECT_OK(hm_tier_add("cuda:0,size=4M"));
	assert_int_equal(tinfo(a).capacity, 8 << 20);
	assert_int_equal(tinfo(b).capacity, 4 << 20);
	assert_int_equal(hm_tier_remove(a), 0);
	assert_int_equal(hm_tier_remove(b), 0);
	if (n > 1) {
		int c = EXPECT_OK(hm_tier_add("cuda:1,size=8M"));
		assert_int_equal(hm_tier_remove(c), 0);
	}
	assert_int_equal(stub_live(), live0);
	if (real)
		return;
	/* a program thread with GPU 0's primary context current (as the
	 * CUDA runtime makes it) keeps it current across a tier's open, its
	 * data ops and its close */
	void *h = dlopen(stub, RTLD_NOW | RTLD_NOLOAD);
	int (*retain)(void **, int) = (int (*)(void **, int))dlsym(h, "cuDevicePrimaryCtxRetain");
	int (*release)(int) = (int (*)(int))dlsym(h, "cuDevicePrimaryCtxRelease_v2");
	int (*setcur)(void *) = (int (*)(void *))dlsym(h, "cuCtxSetCurrent");
	int (*getcur)(void **) = (int (*)(void **))dlsym(h, "cuCtxGetCurrent");
	assert_true(retain && release && setcur && getcur);
	void *mine = NULL, *cur = NULL;
	assert_int_equal(retain(&mine, 0), 0);
	assert_int_equal(setcur(mine), 0);
	int d = EXPECT_OK(hm_tier_add("cuda:0,size=8M"));
	char *p = hm_alloc(16 * PG, HM_FOLIO_4K);
	fill_pattern(p, 16, 450);
	assert_int_equal(hm_migrate(p, 16 * PG, d, NULL), 16);
	assert_int_equal(hm_migrate(p, 16 * PG, 0, NULL), 16);
	ASSERT_PATTERN(p, 16, 450);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(d), 0);
	assert_int_equal(getcur(&cur), 0);
	assert_ptr_equal(cur, mine);
	assert_int_equal(setcur(NULL), 0);
	assert_int_equal(release(0), 0);
}

static void test_round_trip(void **state)
{
	int t = EXPECT_OK(hm_tier_add("cuda:0,size=64M"));
	assert_int_equal(tinfo(t).capacity, 64 << 20);
	tier_round_trip(t, 500, "cuda");
	assert_int_equal(hm_tier_remove(t), 0);
}

/* Several runs in one write_batch, crossing the 2 MiB staging buffer's end
 * (one synchronisation per staging buffer: two), read back each. */
static void test_write_batch(void **state)
{
	int id = EXPECT_OK(hm_tier_add("cuda:0,size=16M"));
	struct hm_tier *t = hm_tier_get(id);
	const size_t np[] = {1, 16, 512, 3, 7};
	enum { NR = 5 };
	uint64_t h[NR];
	const unsigned ord[] = {0, 4, 9, 2, 3};
	char *buf[NR], *back[NR];
	struct hm_tier_io io[NR];
	for (int k = 0; k < NR; k++) {
		assert_int_equal(hm_tier_alloc(t, ord[k], &h[k]), 0);
		buf[k] = malloc(np[k] * PG);
		back[k] = malloc(np[k] * PG);
		fill_pattern(buf[k], np[k], 600 + k);
		io[k] = (struct hm_tier_io){ .handle = h[k], .buf = buf[k], .npages = np[k] };
	}
	long h0 = 0, d0 = 0, s0 = 0, l0 = 0, h1 = 0, d1 = 0, s1 = 0, l1 = 0;
	if (stub_counts)
		stub_counts(&h0, &d0, &s0, &l0);
	assert_int_equal(hm_tier_write_batch(t, io, NR), 0);
	if (stub_counts) {
		stub_counts(&h1, &d1, &s1, &l1);
		/* 539 pages: 1, 16, then 495 of the 512 fill the buffer in
		 * pieces of at most 128 (128, 128, 128, 111; then a sync),
		 * then 17, 3 and 7: nine copies, two syncs */
		assert_int_equal(h1 - h0, 9);
		assert_int_equal(s1 - s0, 2);
	}
	for (int k = 0; k < NR; k++) {
		memset(back[k], 0, np[k] * PG);
		assert_int_equal(hm_tier_read(t, h[k], back[k], np[k]), 0);
		ASSERT_PATTERN(back[k], np[k], 600 + k);
	}
	/* a write and a read larger than a staging buffer: 4 MiB at once
	 * (the lowest free runs: two adjacent 2 MiB ones) */
	uint64_t big, big2;
	assert_int_equal(hm_tier_alloc(t, 9, &big), 0);
	assert_int_equal(hm_tier_alloc(t, 9, &big2), 0);
	assert_int_equal(big2, big + 512);
	char *two = malloc(1024 * PG);
	fill_pattern(two, 1024, 611);
	assert_int_equal(hm_tier_write(t, big, two, 1024), 0);
	memset(two, 0, 1024 * PG);
	assert_int_equal(hm_tier_read(t, big, two, 1024), 0);
	ASSERT_PATTERN(two, 1024, 611);
	hm_tier_free(t, big2, 512);
	hm_tier_free(t, big, 512);
	for (int k = 0; k < NR; k++) {
		hm_tier_free(t, h[k], np[k]);
		free(buf[k]);
		free(back[k]);
	}
	free(two);
	for (int k = 0; k < NR; k++)
		hm_tier_free(t, h[k] + np[k], (1u << ord[k]) - np[k]);
	assert_int_equal(tinfo(id).used, 0);
	assert_int_equal(hm_tier_remove(id), 0);
}

/* --- failures (stand-in only) --------------------------------------------- */

static void test_dtoh_fail_poisons(void **state)
{
	enum { N = 16 };
	const unsigned seed = 700;
	int t = EXPECT_OK(hm_tier_add("cuda:0,size=8M"));
	char *p = hm_alloc(N * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, N, seed);
	assert_int_equal(hm_migrate(p, N * PG, t, NULL), N);
	uint64_t err0 = tinfo(t).errors;
	struct hm_stats s0 = stats_now();
	/* the third copy back fails: page 2's (one read per folio, in order) */
	stub_inject("dtoh:2");
	int st[N], w[N];
	assert_int_equal(hm_migrate(p, N * PG, 0, st), N - 1);
	for (int i = 0; i < N; i++)
		assert_int_equal(st[i], i == 2 ? -EIO : 0);
	assert_int_equal(hm_where(p, N * PG, w), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(w[i], i == 2 ? HM_WHERE_POISON : 0);
	assert_int_equal(stats_now().poisoned - s0.poisoned, 1);
	assert_int_equal(tinfo(t).errors - err0, 1);
	assert_int_equal(tinfo(t).used, 0);
	bool skip[N] = {0};
	skip[2] = true;
	assert_int_equal(check_pattern_skip(p, N, seed, skip), -1);
	expect_sigbus_child(p, N, seed, skip, 2, true);

	/* the fault path: a CPU read of page 9 whose copy back fails gets
	 * SIGBUS at page 9, not the stand-in's 0xa5 filling */
	assert_int_equal(hm_migrate(p + 9 * PG, PG, t, NULL), 1);
	stub_inject("dtoh:0");
	assert_true(read_sigbus(p + 9 * PG + 5, p + 9 * PG));
	assert_int_equal(hm_where(p, N * PG, w), 0);
	assert_int_equal(w[9], HM_WHERE_POISON);
	skip[9] = true;
	assert_int_equal(check_pattern_skip(p, N, seed, skip), -1);
	expect_sigbus_child(p, N, seed, skip, 9, true);
	assert_int_equal(hm_free(p, 0), 0);

	/* 64 KiB folios: the failed copy was the second folio's, so its 16
	 * pages, and only they, are lost: SIGBUS at each of them */
	char *q = hm_alloc(64 * PG, HM_FOLIO_64K);
	assert_non_null(q);
	fill_pattern(q, 64, seed + 1);
	assert_int_equal(hm_migrate(q, 64 * PG, t, NULL), 64);
	stub_inject("dtoh:1");
	int st64[64], w64[64];
	assert_int_equal(hm_migrate(q, 64 * PG, 0, st64), 48);
	assert_int_equal(hm_where(q, 64 * PG, w64), 0);
	bool skip64[64] = {0};
	for (int i = 0; i < 64; i++) {
		bool lost = i >= 16 && i < 32;
		assert_int_equal(st64[i], lost ? -EIO : 0);
		assert_int_equal(w64[i], lost ? HM_WHERE_POISON : 0);
		skip64[i] = lost;
	}
	assert_int_equal(check_pattern_skip(q, 64, seed + 1, skip64), -1);
	expect_sigbus_child(q, 64, seed + 1, skip64, 16, true);
	expect_sigbus_child(q, 64, seed + 1, skip64, 31, true);
	assert_int_equal(hm_free(q, 0), 0);

	/* 2 MiB folios come back in four pieces of 512 KiB: the third
	 * piece of the first folio fails, that folio is lost whole, the
	 * second folio comes back intact through the same staging buffers */
	char *h = hm_alloc(1024 * PG, HM_FOLIO_2M);
	assert_non_null(h);
	fill_pattern(h, 1024, seed + 2);
	assert_int_equal(hm_migrate(h, 1024 * PG, t, NULL), 1024);
	int *st2 = malloc(1024 * sizeof(int)), *w2 = malloc(1024 * sizeof(int));
	bool *skip2 = calloc(1024, sizeof(bool));
	long d0 = 0, d1 = 0, x;
	stub_counts(&x, &d0, &x, &x);
	stub_inject("dtoh:2");
	assert_int_equal(hm_migrate(h, 1024 * PG, 0, st2), 512);
	stub_counts(&x, &d1, &x, &x);
	assert_int_equal(d1 - d0, 8); /* every piece of both was queued */
	assert_int_equal(hm_where(h, 1024 * PG, w2), 0);
	for (int i = 0; i < 1024; i++) {
		assert_int_equal(st2[i], i < 512 ? -EIO : 0);
		assert_int_equal(w2[i], i < 512 ? HM_WHERE_POISON : 0);
		skip2[i] = i < 512;
	}
	assert_int_equal(check_pattern_skip(h, 1024, seed + 2, skip2), -1);
	expect_sigbus_child(h, 1024, seed + 2, skip2, 300, true);
	free(st2);
	free(w2);
	free(skip2);
	assert_int_equal(hm_free(h, 0), 0);
	assert_int_equal(hm_tier_remove(t), 0);
}

static void test_htod_fail_stays(void **state)
{
	int t = EXPECT_OK(hm_tier_add("cuda:0,size=8M"));
	/* 4 KiB folios: the fourth page's copy fails, it stays in RAM */
	enum { N = 8 };
	char *p = hm_alloc(N * PG, HM_FOLIO_4K);
	fill_pattern(p, N, 710);
	int st[64], w[64];
	stub_inject("htod:3");
	assert_int_equal(hm_migrate(p, N * PG, t, st), N - 1);
	for (int i = 0; i < N; i++)
		assert_int_equal(st[i], i == 3 ? -EIO : 0);
	assert_int_equal(hm_where(p, N * PG, w), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(w[i], i == 3 ? 0 : t);
	assert_int_equal(tinfo(t).used, (N - 1) * PG);
	ASSERT_PATTERN(p, N, 710);
	/* 64 KiB folios: the second folio's copy fails, the folio stays */
	char *q = hm_alloc(64 * PG, HM_FOLIO_64K);
	fill_pattern(q, 64, 711);
	stub_inject("htod:1");
	assert_int_equal(hm_migrate(q, 64 * PG, t, st), 48);
	for (int i = 0; i < 64; i++)
		assert_int_equal(st[i], i >= 16 && i < 32 ? -EIO : 0);
	assert_int_equal(hm_where(q, 64 * PG, w), 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(w[i], i >= 16 && i < 32 ? 0 : t);
	ASSERT_PATTERN(q, 64, 711);
	/* with nothing armed everything moves (the checks above brought the
	 * rest home), and comes back intact */
	stub_inject("");
	assert_int_equal(hm_migrate(q, 64 * PG, t, NULL), 64);
	assert_int_equal(hm_migrate(p, N * PG, t, NULL), N);
	assert_int_equal(count_on(q, 64, t), 64);
	ASSERT_PATTERN(q, 64, 711);
	ASSERT_PATTERN(p, N, 710);
	assert_int_equal(tinfo(t).used, 0);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_free(q, 0), 0);
	assert_int_equal(hm_tier_remove(t), 0);
}

/* The context is lost (a sticky error: every later call fails): pages on
 * the GPU are poisoned as they are needed, pages in RAM stay there. */
static void test_lost_context(void **state)
{
	enum { N = 16 };
	int t = EXPECT_OK(hm_tier_add("cuda:0,size=8M"));
	char *p = hm_alloc(N * PG, HM_FOLIO_4K), *q = hm_alloc(N * PG, HM_FOLIO_4K);
	fill_pattern(p, N, 720);
	fill_pattern(q, N, 721);
	assert_int_equal(hm_migrate(p, N * PG, t, NULL), N);
	stub_inject("lost:0");
	int st[N];
	/* demotion fails: q stays in RAM, intact */
	assert_int_equal(hm_migrate(q, N * PG, t, st), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(st[i], -EIO);
	assert_int_equal(count_on(q, N, 0), N);
	ASSERT_PATTERN(q, N, 721);
	/* what was on the GPU cannot come back: SIGBUS, never data */
	assert_true(read_sigbus(p + 4 * PG, p + 4 * PG));
	assert_int_equal(hm_migrate(p, N * PG, 0, st), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(st[i], -EIO);
	assert_int_equal(count_on(p, N, HM_WHERE_POISON), N);
	assert_int_equal(tinfo(t).used, 0);
	bool all[N];
	for (int i = 0; i < N; i++)
		all[i] = true;
	expect_sigbus_child(p, N, 720, all, 7, true);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_free(q, 0), 0);
	assert_int_equal(hm_tier_remove(t), 0);
}

/* --- threads -------------------------------------------------------------- */

enum { NTHREADS = 12, TPAGES = 512, ROUNDS = 8 };

struct worker {
	pthread_t th;
	int tier;
	char *p;
	unsigned seed;
	bool own_ctx; /* make another context current first: it must stay */
	const char *err;
	char msg[300];
	int st[TPAGES];
	int retries; /* calls again after -EAGAIN/-EBUSY */
};

/* Move the worker's region to @tier, calling again while pages answer
 * -EAGAIN or -EBUSY (hm_migrate's transient answers: "call again"; with
 * several threads demoting by write-protect, a fault-back's UFFDIO_COPY
 * meets another thread's MADV_DONTNEED in flight); true when every page
 * moved, else false with wk->msg set. */
static bool migrate_all(struct worker *wk, int round, int tier)
{
	long moved = 0;
	for (int tries = 0; tries < 100; tries++) {
		long m = hm_migrate(wk->p, TPAGES * PG, tier, wk->st);
		if (m < 0)
			break;
		moved += m;
		int k = 0, again = 0, other = -1;
		for (k = 0; k < TPAGES; k++) {
			if (wk->st[k] == -EAGAIN || wk->st[k] == -EBUSY)
				again++;
			else if (wk->st[k] < 0 && other < 0)
				other = k;
		}
		if (other >= 0) {
			snprintf(wk->msg, sizeof(wk->msg), "round %d: to tier %d: page %d: %d (%s)", round, tier, other,
				 wk->st[other], strerror(-wk->st[other]));
			return false;
		}
		if (!again)
			break;
		wk->retries++;
	}
	if (moved == TPAGES)
		return true;
	snprintf(wk->msg, sizeof(wk->msg), "round %d: to tier %d: %ld of %d pages moved after retries: %s", round, tier,
		 moved, TPAGES, hm_last_error());
	return false;
}

static void *worker(void *arg)
{
	struct worker *wk = arg;
	typedef int (*getcur_fn)(void **);
	typedef int (*setcur_fn)(void *);
	typedef int (*retain_fn)(void **, int);
	typedef int (*release_fn)(int);
	getcur_fn getcur = NULL;
	setcur_fn setcur = NULL;
	release_fn release = NULL;
	void *mine = NULL;
	if (wk->own_ctx) {
		void *h = dlopen(stub, RTLD_NOW | RTLD_NOLOAD);
		retain_fn retain = (retain_fn)dlsym(h, "cuDevicePrimaryCtxRetain");
		setcur = (setcur_fn)dlsym(h, "cuCtxSetCurrent");
		getcur = (getcur_fn)dlsym(h, "cuCtxGetCurrent");
		release = (release_fn)dlsym(h, "cuDevicePrimaryCtxRelease_v2");
		if (!retain || !setcur || !getcur || !release || retain(&mine, 1) || setcur(mine)) {
			wk->err = "cannot make GPU 1's context current";
			return NULL;
		}
	}
	for (int r = 0; r < ROUNDS && !wk->err; r++) {
		unsigned seed = wk->seed + (unsigned)r;
		fill_pattern(wk->p, TPAGES, seed);
		long bad;
		if (migrate_all(wk, r, wk->tier) && (r & 1 || migrate_all(wk, r, 0)))
			if ((bad = check_pattern(wk->p, TPAGES, seed)) >= 0) /* odd rounds: by faults */
				snprintf(wk->msg, sizeof(wk->msg), "round %d: page %ld has wrong data after %s", r, bad,
					 r & 1 ? "fault-back" : "promotion");
		if (wk->msg[0])
			wk->err = wk->msg;
	}
	if (getcur) {
		void *cur = NULL;
		getcur(&cur);
		if (cur != mine)
			wk->err = "the thread's own context was changed";
		setcur(NULL);
		release(1);
	}
	return NULL;
}

static void test_threads(void **state)
{
	/* more threads than the ring has staging buffers (8): some wait */
	int t = EXPECT_OK(hm_tier_add("cuda:0,size=32M"));
	struct worker wk[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		wk[i] = (struct worker){ .tier = t, .seed = 800 + 16 * i, .own_ctx = !real && i == 0 };
		wk[i].p = hm_alloc(TPAGES * PG, i % 3 == 0 ? HM_FOLIO_4K : i % 3 == 1 ? HM_FOLIO_64K : HM_FOLIO_2M);
		assert_non_null(wk[i].p);
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&wk[i].th, NULL, worker, &wk[i]), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(wk[i].th, NULL);
	int retries = 0;
	for (int i = 0; i < NTHREADS; i++) {
		if (wk[i].err)
			fail_msg("thread %d: %s", i, wk[i].err);
		retries += wk[i].retries;
	}
	if (retries)
		printf("%d migrations called again after -EAGAIN/-EBUSY\n", retries);
	assert_int_equal(tinfo(t).errors, 0);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(hm_free(wk[i].p, 0), 0);
	assert_int_equal(tinfo(t).used, 0);
	assert_int_equal(hm_tier_remove(t), 0);
}

/* hetmem run with no --tier prefers a GPU's memory. */
static void test_default_tier(void **state)
{
	char def[128], why[300];
	hm_env_default_tier(def, sizeof(def), why, sizeof(why));
	assert_int_equal(strncmp(def, "cuda:", 5), 0);
	assert_non_null(strstr(why, "GPU"));
	int t = EXPECT_OK(hm_tier_add(def));
	assert_int_equal(hm_tier_remove(t), 0);
}

/* HETMEM_FAULTS=signal: a GPU tier is refused, naming the spec, and
 * nothing is opened. */
static void test_signal_mode_refused(void **state)
{
	long live0 = stub_live();
	EXPECT_ERR_MSG(hm_tier_add("cuda:0,size=8M"), ENOTSUP, "tier 'cuda:0,size=8M': GPU tiers need "
								"HETMEM_FAULTS=handler");
	assert_int_equal(hm_tier_count(), 1);
	assert_int_equal(stub_live(), live0);
	/* and hetmem run's default tier is not a GPU then */
	char def[128];
	hm_env_default_tier(def, sizeof(def), NULL, 0);
	assert_true(strncmp(def, "cuda:", 5) != 0);
}

int main(int argc, char **argv)
{
	hm_test_require_uffd();
	if (argc != 2) {
		fprintf(stderr, "usage: unit_cuda STUB.so | --real\n");
		return 2;
	}
	if (!strcmp(argv[1], "--real")) {
		real = true;
		unsetenv("HETMEM_CUDA_LIB");
		struct hm_cuda_gpu g[16];
		char why[512] = "";
		int n = hm_cuda_gpus(g, 16, why, sizeof(why));
		if (n <= 0)
			hm_skip("no GPU to test on: %s", why);
		if (!g[0].usable)
			hm_skip("GPU 0 (%s) cannot be used: %s", g[0].name, g[0].why);
		printf("GPU 0: %s, %llu MiB free of %llu\n", g[0].name, (unsigned long long)(g[0].free >> 20),
		       (unsigned long long)(g[0].total >> 20));
	} else {
		/* absolute: test_open_failures links to it from /tmp */
		if (!realpath(argv[1], stub)) {
			fprintf(stderr, "no stand-in driver at %s\n", argv[1]);
			return 1;
		}
		setenv("HETMEM_CUDA_LIB", stub, 1);
		void *h = dlopen(stub, RTLD_NOW);
		if (!h) {
			fprintf(stderr, "cannot load the stand-in %s: %s\n", stub, dlerror());
			return 1;
		}
		stub_fail = (int (*)(const char *))dlsym(h, "hm_cudastub_fail");
		stub_counts = (void (*)(long *, long *, long *, long *))dlsym(h, "hm_cudastub_counts");
		assert_non_null(stub_fail);
		assert_non_null(stub_counts);
	}
	const struct CMUnitTest common[] = {
		cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_tier, setup, teardown),
	};
	if (getenv("HETMEM_FAULTS") && !strcmp(getenv("HETMEM_FAULTS"), "signal")) {
		const struct CMUnitTest sig[] = {
			cmocka_unit_test_setup_teardown(test_signal_mode_refused, setup, teardown),
		};
		return cmocka_run_group_tests_name("unit_cuda_signal", sig, NULL, NULL);
	}
	int rc = cmocka_run_group_tests_name(real ? "unit_cuda_gpu" : "unit_cuda", common, NULL, NULL);
	if (rc || real)
		return rc;
	const struct CMUnitTest inject[] = {
		cmocka_unit_test_setup_teardown(test_open_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dtoh_fail_poisons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_htod_fail_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_context, setup, teardown),
	};
	return cmocka_run_group_tests_name("unit_cuda_inject", inject, NULL, NULL);
}
