/*
 * cudastub.c — a stand-in for libcuda.so.1 for the tests: the CUDA driver
 * calls hetmem's cuda: tier makes (src/tiers/cuda.c), over host memory.
 * Built only for the tests (libhm_cudastub.so) and loaded only where
 * HETMEM_CUDA_LIB names it: nothing picks it up by default.
 *
 * Fake GPUs: HM_CUDASTUB_GPUS of them (default 1; 0: cuInit answers
 * CUDA_ERROR_NO_DEVICE, as the real driver does without a GPU), each with
 * HM_CUDASTUB_MEM bytes (default 1G; K/M/G suffixes).  Device memory is
 * malloc'd at cuMemAlloc (untouched pages cost nothing); free memory is the
 * size less what is allocated.
 *
 * Device semantics it checks, as the real driver would fail them:
 *  - a call that needs a context (allocation, free memory, streams,
 *    copies) fails with CUDA_ERROR_INVALID_CONTEXT when none is current in
 *    the calling thread (contexts are per-thread, with a push/pop stack);
 *    a copy on a stream of another context than the current one fails
 *    with CUDA_ERROR_INVALID_HANDLE;
 *  - a copy outside an allocation fails with CUDA_ERROR_INVALID_VALUE;
 *  - asynchronous copies must use pinned host memory (cuMemHostAlloc):
 *    a pageable pointer fails with CUDA_ERROR_INVALID_VALUE (the real
 *    driver would silently copy synchronously: the stub is stricter, so
 *    the tests see that hetmem stages through pinned buffers);
 *  - asynchronous copies are done at cuStreamSynchronize (or at the
 *    cuEventSynchronize of an event recorded after them), not when queued:
 *    a caller that reads a device-to-host buffer before synchronising
 *    reads stale bytes, and a test sees it.
 *
 * Failure injection: HM_CUDASTUB_FAIL (read at cuInit) or
 * hm_cudastub_fail() (at any time; counters restart), a comma list of
 *   init         cuInit fails (CUDA_ERROR_UNKNOWN)
 *   ctx          cuDevicePrimaryCtxRetain fails (CUDA_ERROR_OUT_OF_MEMORY)
 *   alloc        cuMemAlloc fails (CUDA_ERROR_OUT_OF_MEMORY)
 *   hostalloc    cuMemHostAlloc fails
 *   htod:N       the copy host-to-device after N good ones fails (once)
 *   dtoh:N       the copy device-to-host after N good ones fails (once);
 *                its destination is filled with 0xa5, never the data
 *   lost:N       after N good copies the context is lost: every later
 *                call fails with CUDA_ERROR_ILLEGAL_ADDRESS (sticky)
 * A failed copy's error comes back from the synchronisation that runs it.
 * hm_cudastub_counts() gives the number of copies, syncs and live
 * allocations, for tests that check batching.
 *
 * HM_CUDASTUB_THREAD=1: cuInit starts a thread of the driver's own, as the
 * real driver does, which maps 4 MiB and mallocs 1 MiB and asks hetmem
 * (hm_where, if the process has it) whether they are managed memory:
 * hm_cudastub_thread_managed() answers (tests/preload/cuda.sh).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define API __attribute__((visibility("default")))

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_ILLEGAL_ADDRESS = 700,
	CUDA_ERROR_UNKNOWN = 999,
};

#define MAX_GPUS 16
#define CTX_STACK 16

struct CUctx_st {
	int dev;
	_Atomic int refs; /* primary context retains (changed under lock, read by any thread's calls) */
};

struct op {
	bool htod;
	void *host;
	char *dev;
	size_t len;
	bool fail; /* injected: done as a failure at sync */
};

struct CUstream_st {
	struct CUctx_st *ctx;
	pthread_mutex_t lock;
	struct op *q;       /* queued copies: q[i] is copy number base + i */
	size_t n, cap;
	uint64_t base, done, total; /* copies: before q[0], done, queued */
};

struct CUevent_st {
	struct CUstream_st *s; /* NULL until recorded */
	uint64_t pos;          /* passed once s->done reaches it */
};

/* an allocation: device memory or pinned host memory */
struct alloc {
	char *p;
	size_t len;
	int dev; /* -1: pinned host memory */
	struct alloc *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool inited;
static int ngpus = 1;
static uint64_t gpu_mem = 1ull << 30;
static uint64_t gpu_used[MAX_GPUS];
static struct CUctx_st primary[MAX_GPUS];
static struct alloc *allocs;
static size_t nallocs;

/* injected failures */
static bool f_init, f_ctx, f_alloc, f_hostalloc;
static long f_htod = -1, f_dtoh = -1, f_lost = -1; /* -1: off */
static long n_htod, n_dtoh, n_copies;
static _Atomic bool lost;
static _Atomic long c_htod, c_dtoh, c_sync; /* counts, for hm_cudastub_counts */

static __thread struct CUctx_st *ctx_stack[CTX_STACK];
static __thread int ctx_depth; /* ctx_stack[ctx_depth - 1] is current */

static struct CUctx_st *current(void)
{
	return ctx_depth ? ctx_stack[ctx_depth - 1] : NULL;
}

static uint64_t parse_size(const char *s, uint64_t def)
{
	if (!s || !*s)
		return def;
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	switch (*end) {
	case 'T': case 't': v <<= 10; /* fall through */
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; break;
	default: break;
	}
	return v;
}

/* Set the injected failures from @spec (see the top); 0 or -EINVAL. */
API int hm_cudastub_fail(const char *spec)
{
	pthread_mutex_lock(&lock);
	f_init = f_ctx = f_alloc = f_hostalloc = false;
	f_htod = f_dtoh = f_lost = -1;
	n_htod = n_dtoh = n_copies = 0;
	atomic_store(&lost, false);
	int rc = 0;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
	char *save = NULL;
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(w, ':');
		long n = colon ? strtol(colon + 1, NULL, 10) : 0;
		if (colon)
			*colon = 0;
		if (!strcmp(w, "init"))
			f_init = true;
		else if (!strcmp(w, "ctx"))
			f_ctx = true;
		else if (!strcmp(w, "alloc"))
			f_alloc = true;
		else if (!strcmp(w, "hostalloc"))
			f_hostalloc = true;
		else if (!strcmp(w, "htod"))
			f_htod = n;
		else if (!strcmp(w, "dtoh"))
			f_dtoh = n;
		else if (!strcmp(w, "lost"))
			f_lost = n;
		else
			rc = -EINVAL;
	}
	pthread_mutex_unlock(&lock);
	if (rc)
		fprintf(stderr, "cudastub: bad HM_CUDASTUB_FAIL '%s'\n", spec);
	return rc;
}

/* copies each way, stream syncs, and live allocations (device + pinned) */
API void hm_cudastub_counts(long *htod, long *dtoh, long *syncs, long *live)
{
	*htod = atomic_load(&c_htod);
	*dtoh = atomic_load(&c_dtoh);
	*syncs = atomic_load(&c_sync);
	pthread_mutex_lock(&lock);
	*live = (long)nallocs;
	pthread_mutex_unlock(&lock);
}

/* The driver thread: started at cuInit, it waits for a question
 * (hm_cudastub_thread_managed, asked once the program runs, when hetmem
 * manages new memory), then maps and mallocs and answers: -1 no hm_where
 * in the process, 0 neither block is managed, 1 the mapping is, 2 the
 * malloc is, 3 both. */
static pthread_mutex_t th_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t th_cond = PTHREAD_COND_INITIALIZER;
static bool th_started, th_asked, th_answered;
static int th_answer;

static void *driver_thread(void *a)
{
	(void)a;
	pthread_mutex_lock(&th_lock);
	while (!th_asked)
		pthread_cond_wait(&th_cond, &th_lock);
	pthread_mutex_unlock(&th_lock);
	int (*where)(const void *, size_t, int *) =
		(int (*)(const void *, size_t, int *))dlsym(RTLD_DEFAULT, "hm_where");
	size_t mlen = 4u << 20, blen = 1u << 20;
	void *m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *b = malloc(blen);
	int ans = -1;
	if (where && m != MAP_FAILED && b) {
		int *w = malloc((mlen / 4096) * sizeof(int));
		memset(m, 1, mlen);
		memset(b, 1, blen);
		ans = (w && where(m, mlen, w) == 0 ? 1 : 0) |
		      (w && where((void *)((uintptr_t)b & ~(uintptr_t)4095), 4096, w) == 0 ? 2 : 0);
		free(w);
	}
	pthread_mutex_lock(&th_lock);
	th_answer = ans;
	th_answered = true;
	pthread_cond_broadcast(&th_cond);
	pthread_mutex_unlock(&th_lock);
	/* and stays, as a driver's thread does, holding its memory */
	for (;;)
		pause();
	return NULL;
}

/* the driver thread's answer (above), or -2 when there is no such thread */
API int hm_cudastub_thread_managed(void)
{
	pthread_mutex_lock(&th_lock);
	if (!th_started) {
		pthread_mutex_unlock(&th_lock);
		return -2;
	}
	th_asked = true;
	pthread_cond_broadcast(&th_cond);
	while (!th_answered)
		pthread_cond_wait(&th_cond, &th_lock);
	int ans = th_answer;
	pthread_mutex_unlock(&th_lock);
	return ans;
}

API CUresult cuInit(unsigned flags)
{
	(void)flags;
	pthread_mutex_lock(&lock);
	bool first = !inited;
	inited = true;
	pthread_mutex_unlock(&lock);
	if (first) {
		const char *g = getenv("HM_CUDASTUB_GPUS");
		ngpus = g && *g ? atoi(g) : 1;
		if (ngpus < 0 || ngpus > MAX_GPUS)
			ngpus = 1;
		gpu_mem = parse_size(getenv("HM_CUDASTUB_MEM"), 1ull << 30);
		for (int i = 0; i < MAX_GPUS; i++)
			primary[i].dev = i;
		const char *f = getenv("HM_CUDASTUB_FAIL");
		if (f && *f)
			hm_cudastub_fail(f);
		const char *th = getenv("HM_CUDASTUB_THREAD");
		pthread_t t;
		if (th && !strcmp(th, "1") && !pthread_create(&t, NULL, driver_thread, NULL)) {
			pthread_detach(t);
			th_started = true;
		}
	}
	if (f_init)
		return CUDA_ERROR_UNKNOWN;
	return ngpus ? CUDA_SUCCESS : CUDA_ERROR_NO_DEVICE;
}

API CUresult cuDriverGetVersion(int *v)
{
	*v = 12000;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGetCount(int *n)
{
	if (!inited)
		return CUDA_ERROR_NOT_INITIALIZED;
	*n = ngpus;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGet(CUdevice *d, int i)
{
	if (i < 0 || i >= ngpus)
		return CUDA_ERROR_INVALID_DEVICE;
	*d = i;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
	if (d < 0 || d >= ngpus)
		return CUDA_ERROR_INVALID_DEVICE;
	snprintf(name, (size_t)len, "hetmem cudastub GPU %d", d);
	return CUDA_SUCCESS;
}

API CUresult cuDeviceTotalMem_v2(size_t *b, CUdevice d)
{
	if (d < 0 || d >= ngpus)
		return CUDA_ERROR_INVALID_DEVICE;
	*b = gpu_mem;
	return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRetain(struct CUctx_st **c, CUdevice d)
{
	if (d < 0 || d >= ngpus)
		return CUDA_ERROR_INVALID_DEVICE;
	if (f_ctx)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&lock);
	primary[d].refs++;
	pthread_mutex_unlock(&lock);
	*c = &primary[d];
	return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d)
{
	if (d < 0 || d >= ngpus)
		return CUDA_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&lock);
	CUresult r = CUDA_ERROR_INVALID_CONTEXT;
	if (atomic_load(&primary[d].refs) > 0) {
		atomic_fetch_sub(&primary[d].refs, 1);
		r = CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

API CUresult cuCtxGetCurrent(struct CUctx_st **c)
{
	*c = current();
	return CUDA_SUCCESS;
}

/* replaces the top of the stack (NULL: no context current) */
API CUresult cuCtxSetCurrent(struct CUctx_st *c)
{
	if (!ctx_depth)
		ctx_depth = 1;
	ctx_stack[ctx_depth - 1] = c;
	return CUDA_SUCCESS;
}

API CUresult cuCtxPushCurrent_v2(struct CUctx_st *c)
{
	if (!c || ctx_depth == CTX_STACK)
		return CUDA_ERROR_INVALID_VALUE;
	ctx_stack[ctx_depth++] = c;
	return CUDA_SUCCESS;
}

API CUresult cuCtxPopCurrent_v2(struct CUctx_st **c)
{
	if (!ctx_depth)
		return CUDA_ERROR_INVALID_CONTEXT;
	struct CUctx_st *old = ctx_stack[--ctx_depth];
	if (c)
		*c = old;
	return CUDA_SUCCESS;
}

/* the current context, live: 0 or the error a call gets */
static CUresult need_ctx(void)
{
	if (atomic_load(&lost))
		return CUDA_ERROR_ILLEGAL_ADDRESS;
	struct CUctx_st *c = current();
	if (!c || atomic_load(&c->refs) == 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	return CUDA_SUCCESS;
}

API CUresult cuMemGetInfo_v2(size_t *free_b, size_t *total)
{
	CUresult r = need_ctx();
	if (r)
		return r;
	pthread_mutex_lock(&lock);
	*total = gpu_mem;
	*free_b = gpu_mem - gpu_used[current()->dev];
	pthread_mutex_unlock(&lock);
	return CUDA_SUCCESS;
}

static CUresult alloc_add(void *p, size_t len, int dev)
{
	struct alloc *a = malloc(sizeof(*a));
	if (!a)
		return CUDA_ERROR_OUT_OF_MEMORY;
	a->p = p;
	a->len = len;
	a->dev = dev;
	pthread_mutex_lock(&lock);
	a->next = allocs;
	allocs = a;
	nallocs++;
	if (dev >= 0)
		gpu_used[dev] += len;
	pthread_mutex_unlock(&lock);
	return CUDA_SUCCESS;
}

/* remove the allocation at @p of kind @dev (-1 host, else any device): 0,
 * or CUDA_ERROR_INVALID_VALUE when there is none */
static CUresult alloc_del(void *p, bool host)
{
	pthread_mutex_lock(&lock);
	for (struct alloc **pp = &allocs; *pp; pp = &(*pp)->next) {
		struct alloc *a = *pp;
		if (a->p == p && (a->dev < 0) == host) {
			*pp = a->next;
			nallocs--;
			if (a->dev >= 0)
				gpu_used[a->dev] -= a->len;
			pthread_mutex_unlock(&lock);
			free(a->p);
			free(a);
			return CUDA_SUCCESS;
		}
	}
	pthread_mutex_unlock(&lock);
	return CUDA_ERROR_INVALID_VALUE;
}

/* [p, p+len) inside one allocation of the kind asked (host: pinned)? */
static bool inside(const void *p, size_t len, bool host)
{
	bool ok = false;
	pthread_mutex_lock(&lock);
	for (struct alloc *a = allocs; a && !ok; a = a->next)
		ok = (a->dev < 0) == host && (const char *)p >= a->p && (const char *)p + len <= a->p + a->len;
	pthread_mutex_unlock(&lock);
	return ok;
}

API CUresult cuMemAlloc_v2(CUdeviceptr *dp, size_t len)
{
	CUresult r = need_ctx();
	if (r)
		return r;
	if (f_alloc || len == 0)
		return len ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_VALUE;
	int dev = current()->dev;
	pthread_mutex_lock(&lock);
	bool fits = len <= gpu_mem - gpu_used[dev];
	pthread_mutex_unlock(&lock);
	if (!fits)
		return CUDA_ERROR_OUT_OF_MEMORY;
	void *p = malloc(len);
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = alloc_add(p, len, dev);
	if (r) {
		free(p);
		return r;
	}
	*dp = (CUdeviceptr)(uintptr_t)p;
	return CUDA_SUCCESS;
}

API CUresult cuMemFree_v2(CUdeviceptr dp)
{
	CUresult r = need_ctx();
	if (r && r != CUDA_ERROR_ILLEGAL_ADDRESS)
		return r;
	return alloc_del((void *)(uintptr_t)dp, false);
}

API CUresult cuMemHostAlloc(void **p, size_t len, unsigned flags)
{
	(void)flags;
	CUresult r = need_ctx();
	if (r)
		return r;
	if (f_hostalloc)
		return CUDA_ERROR_OUT_OF_MEMORY;
	void *m = malloc(len);
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = alloc_add(m, len, -1);
	if (r)
		free(m);
	else
		*p = m;
	return r;
}

API CUresult cuMemFreeHost(void *p)
{
	return alloc_del(p, true);
}

API CUresult cuStreamCreate(struct CUstream_st **s, unsigned flags)
{
	(void)flags;
	CUresult r = need_ctx();
	if (r)
		return r;
	struct CUstream_st *st = calloc(1, sizeof(*st));
	if (!st)
		return CUDA_ERROR_OUT_OF_MEMORY;
	st->ctx = current();
	pthread_mutex_init(&st->lock, NULL);
	*s = st;
	return CUDA_SUCCESS;
}

API CUresult cuStreamDestroy_v2(struct CUstream_st *s)
{
	if (!s)
		return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_destroy(&s->lock);
	free(s->q);
	free(s);
	return CUDA_SUCCESS;
}

/* Queue a copy on @s after the checks the driver makes when it is queued;
 * whether it is to fail is decided now (the injection counters). */
static CUresult enqueue(struct CUstream_st *s, bool htod, void *host, char *dev, size_t len)
{
	CUresult r = need_ctx();
	if (r)
		return r;
	if (!s || s->ctx != current())
		return CUDA_ERROR_INVALID_HANDLE;
	if (!inside(dev, len, false) || !inside(host, len, true))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&lock);
	bool fail = false;
	if (htod && f_htod >= 0 && n_htod++ == f_htod)
		fail = true;
	if (!htod && f_dtoh >= 0 && n_dtoh++ == f_dtoh)
		fail = true;
	if (f_lost >= 0 && n_copies++ >= f_lost) {
		atomic_store(&lost, true);
		fail = true;
	}
	pthread_mutex_unlock(&lock);
	pthread_mutex_lock(&s->lock);
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct op *q = realloc(s->q, cap * sizeof(*q));
		if (!q) {
			pthread_mutex_unlock(&s->lock);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		s->q = q;
		s->cap = cap;
	}
	s->q[s->n++] = (struct op){ .htod = htod, .host = host, .dev = dev, .len = len, .fail = fail };
	s->total++;
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(htod ? &c_htod : &c_dtoh, 1);
	return CUDA_SUCCESS;
}

API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t len, struct CUstream_st *s)
{
	return enqueue(s, true, (void *)src, (char *)(uintptr_t)dst, len);
}

API CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t len, struct CUstream_st *s)
{
	return enqueue(s, false, dst, (char *)(uintptr_t)src, len);
}

/* Do @s's queued copies up to copy number @upto; a failed one does not
 * copy (device-to-host: its destination gets 0xa5 instead, never the
 * data) and its error is the answer.  Under s->lock. */
static CUresult run_until(struct CUstream_st *s, uint64_t upto)
{
	CUresult r = CUDA_SUCCESS;
	for (; s->done < upto; s->done++) {
		struct op *o = &s->q[s->done - s->base];
		if (o->fail) {
			r = atomic_load(&lost) ? CUDA_ERROR_ILLEGAL_ADDRESS : CUDA_ERROR_UNKNOWN;
			if (!o->htod)
				memset(o->host, 0xa5, o->len);
		} else if (o->htod) {
			memcpy(o->dev, o->host, o->len);
		} else {
			memcpy(o->host, o->dev, o->len);
		}
	}
	if (s->done == s->total) {
		s->n = 0;
		s->base = s->total;
	}
	if (!r && atomic_load(&lost))
		r = CUDA_ERROR_ILLEGAL_ADDRESS;
	return r;
}

API CUresult cuStreamSynchronize(struct CUstream_st *s)
{
	if (!s)
		return CUDA_ERROR_INVALID_HANDLE;
	atomic_fetch_add(&c_sync, 1);
	pthread_mutex_lock(&s->lock);
	CUresult r = run_until(s, s->total);
	pthread_mutex_unlock(&s->lock);
	return r;
}

API CUresult cuEventCreate(struct CUevent_st **e, unsigned flags)
{
	(void)flags;
	CUresult r = need_ctx();
	if (r)
		return r;
	*e = calloc(1, sizeof(**e));
	return *e ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

API CUresult cuEventDestroy_v2(struct CUevent_st *e)
{
	free(e);
	return CUDA_SUCCESS;
}

/* the event passes when the copies queued on @s so far are done */
API CUresult cuEventRecord(struct CUevent_st *e, struct CUstream_st *s)
{
	CUresult r = need_ctx();
	if (r)
		return r;
	if (!e || !s || s->ctx != current())
		return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&s->lock);
	e->s = s;
	e->pos = s->total;
	pthread_mutex_unlock(&s->lock);
	return CUDA_SUCCESS;
}

API CUresult cuEventSynchronize(struct CUevent_st *e)
{
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!e->s)
		return CUDA_SUCCESS; /* never recorded: passed */
	pthread_mutex_lock(&e->s->lock);
	CUresult r = e->pos > e->s->done ? run_until(e->s, e->pos) : CUDA_SUCCESS;
	pthread_mutex_unlock(&e->s->lock);
	return r;
}

API CUresult cuGetErrorString(CUresult r, const char **s)
{
	switch (r) {
	case CUDA_SUCCESS: *s = "no error"; break;
	case CUDA_ERROR_INVALID_VALUE: *s = "invalid argument"; break;
	case CUDA_ERROR_OUT_OF_MEMORY: *s = "out of memory"; break;
	case CUDA_ERROR_NOT_INITIALIZED: *s = "initialization error"; break;
	case CUDA_ERROR_NO_DEVICE: *s = "no CUDA-capable device is detected"; break;
	case CUDA_ERROR_INVALID_DEVICE: *s = "invalid device ordinal"; break;
	case CUDA_ERROR_INVALID_CONTEXT: *s = "invalid device context"; break;
	case CUDA_ERROR_INVALID_HANDLE: *s = "invalid resource handle"; break;
	case CUDA_ERROR_ILLEGAL_ADDRESS: *s = "an illegal memory access was encountered"; break;
	default: *s = "unknown error"; return CUDA_ERROR_INVALID_VALUE;
	}
	return CUDA_SUCCESS;
}

/*
 * Modules and launches, for examples/cuda_mirror.c: cuModuleLoadData takes
 * an image (the example's PTX text) that declares `.entry hm_add`, and
 * cuLaunchKernel of that function runs its host stand-in over the "device"
 * memory at once: for each of params nwords 32-bit words i, word i & 1023 of
 * the page at pages[i >> 10] gets delta + i added (the example's kernel).  The
 * table and the pages must lie inside device allocations, as on a GPU.  No
 * other kernel exists here: any other image fails with
 * CUDA_ERROR_INVALID_IMAGE, any other name with CUDA_ERROR_NOT_FOUND.
 */
#define CUDA_ERROR_INVALID_IMAGE 200
#define CUDA_ERROR_NOT_FOUND 500

struct CUmod_st {
	int kernels; /* 1: has hm_add */
};
struct CUfunc_st {
	int which; /* 1: hm_add */
};
static struct CUfunc_st fn_hm_add = {1};

API CUresult cuModuleLoadData(struct CUmod_st **m, const void *image)
{
	CUresult r = need_ctx();
	if (r)
		return r;
	if (!image || !strstr((const char *)image, ".entry hm_add("))
		return CUDA_ERROR_INVALID_IMAGE;
	*m = calloc(1, sizeof(**m));
	if (!*m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	(*m)->kernels = 1;
	return CUDA_SUCCESS;
}

API CUresult cuModuleUnload(struct CUmod_st *m)
{
	free(m);
	return CUDA_SUCCESS;
}

API CUresult cuModuleGetFunction(struct CUfunc_st **f, struct CUmod_st *m, const char *name)
{
	if (!m)
		return CUDA_ERROR_INVALID_HANDLE;
	if (strcmp(name, "hm_add"))
		return CUDA_ERROR_NOT_FOUND;
	*f = &fn_hm_add;
	return CUDA_SUCCESS;
}

API CUresult cuLaunchKernel(struct CUfunc_st *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
			    unsigned bz, unsigned shmem, struct CUstream_st *s, void **params, void **extra)
{
	(void)gy, (void)gz, (void)by, (void)bz, (void)shmem, (void)extra;
	CUresult r = need_ctx();
	if (r)
		return r;
	if (f != &fn_hm_add || !params)
		return CUDA_ERROR_INVALID_HANDLE;
	if (s && s->ctx != current())
		return CUDA_ERROR_INVALID_HANDLE;
	const unsigned long long *pages = (const unsigned long long *)(uintptr_t)*(CUdeviceptr *)params[0];
	unsigned long long nwords = *(unsigned long long *)params[1];
	unsigned delta = *(unsigned *)params[2];
	unsigned long long threads = (unsigned long long)gx * bx, npages = (nwords + 1023) / 1024;
	if (!inside(pages, npages * sizeof(*pages), false))
		return CUDA_ERROR_ILLEGAL_ADDRESS;
	for (unsigned long long i = 0; i < nwords && i < threads; i++) {
		unsigned *w = (unsigned *)(uintptr_t)pages[i >> 10];
		if (!(i & 1023) && !inside(w, 4096, false)) /* each page checked once */
			return CUDA_ERROR_ILLEGAL_ADDRESS;
		w[i & 1023] += delta + (unsigned)i;
	}
	return CUDA_SUCCESS;
}

API CUresult cuCtxSynchronize(void)
{
	return need_ctx();
}

/* synchronous copies (the example's page table) */
API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t len)
{
	CUresult r = need_ctx();
	if (r)
		return r;
	if (!inside((void *)(uintptr_t)dst, len, false))
		return CUDA_ERROR_INVALID_VALUE;
	memcpy((void *)(uintptr_t)dst, src, len);
	return CUDA_SUCCESS;
}
