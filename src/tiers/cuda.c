/*
 * tiers/cuda.c — GPU memory through the CUDA driver API as device-private
 * memory, "cuda:N[,size=SIZE]".
 *
 * The driver is loaded at run time with dlopen("libcuda.so.1") (or the
 * library HETMEM_CUDA_LIB names: a test-only setting, for the stand-in
 * driver of tests/cudastub), so hetmem builds and runs on machines without
 * CUDA; cuda.h is not needed either: the few types and entry points used
 * are declared in tiers/cuapi.h.  A library, once loaded, stays loaded (a
 * tier keeps pointers into it, and the real driver's threads outlive any
 * context).
 *
 * Open retains GPU N's primary context (the one the CUDA runtime uses
 * too) and allocates one pool of SIZE bytes of device memory (cuMemAlloc):
 * the default slot allocator's slot s is byte s * 4 KiB of the pool.  SIZE
 * defaults to half the GPU's free memory (rounded down to 2 MiB); more than
 * the free memory is refused.  The CPU never reads the pool in place (no
 * ops->map): every copy goes through a ring of pinned host staging buffers
 * (cuMemHostAlloc), each with its own stream and mutex:
 *   read   a copy device-to-host into a staging buffer, a synchronisation
 *          of its stream, then memcpy into the caller's buffer (the fault
 *          path's page); above 512 KiB in pieces with an event after each,
 *          each piece copied out while the GPU copies the next;
 *   write  (and write_batch, a demotion's folios in one call) memcpy of
 *          each run into the staging buffer and an asynchronous copy
 *          host-to-device per 512 KiB piece (the GPU copies a piece while
 *          the CPU fills the next); the stream is synchronised once per
 *          full staging buffer and once at the end of the batch.
 * A caller takes the first staging buffer whose mutex is free (trylock
 * round the ring from a rotating start), else waits for one: the only
 * waits on the fault path are for the GPU.  A failed copy or
 * synchronisation is -EIO: a read's pages are poisoned by the fault path
 * (SIGBUS at their addresses), a write's pages stay in RAM.  A failed
 * device-to-host copy never reaches the caller's buffer.
 *
 * Contexts.  The driver's copies need the context current in the calling
 * thread.  ops->attach (once per thread, tier.c) makes the tier's context
 * current in a thread that has none (hetmem's own threads); each data op
 * checks the current context and, when it is another (a program thread
 * with its own CUDA context, or a second GPU's tier), pushes the tier's
 * context for the op and pops it after, so the program's CUDA state is
 * never changed under it.
 */
#include "internal.h"
#include "tiers/cuapi.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The symbols, with the _v2 names the real libcuda exports for the calls
 * cuda.h renames. */
static const struct {
	const char *name;
	size_t off;
} cu_syms[] = {
#define CU_SYM(f, n) {n, offsetof(struct cuapi, f)}
	CU_SYM(Init, "cuInit"),
	CU_SYM(DriverGetVersion, "cuDriverGetVersion"),
	CU_SYM(DeviceGetCount, "cuDeviceGetCount"),
	CU_SYM(DeviceGet, "cuDeviceGet"),
	CU_SYM(DeviceGetName, "cuDeviceGetName"),
	CU_SYM(DeviceTotalMem, "cuDeviceTotalMem_v2"),
	CU_SYM(PrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
	CU_SYM(PrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"),
	CU_SYM(CtxGetCurrent, "cuCtxGetCurrent"),
	CU_SYM(CtxSetCurrent, "cuCtxSetCurrent"),
	CU_SYM(CtxPushCurrent, "cuCtxPushCurrent_v2"),
	CU_SYM(CtxPopCurrent, "cuCtxPopCurrent_v2"),
	CU_SYM(MemGetInfo, "cuMemGetInfo_v2"),
	CU_SYM(MemAlloc, "cuMemAlloc_v2"),
	CU_SYM(MemFree, "cuMemFree_v2"),
	CU_SYM(MemHostAlloc, "cuMemHostAlloc"),
	CU_SYM(MemFreeHost, "cuMemFreeHost"),
	CU_SYM(StreamCreate, "cuStreamCreate"),
	CU_SYM(StreamDestroy, "cuStreamDestroy_v2"),
	CU_SYM(StreamSynchronize, "cuStreamSynchronize"),
	CU_SYM(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"),
	CU_SYM(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"),
	CU_SYM(EventCreate, "cuEventCreate"),
	CU_SYM(EventDestroy, "cuEventDestroy_v2"),
	CU_SYM(EventRecord, "cuEventRecord"),
	CU_SYM(EventSynchronize, "cuEventSynchronize"),
	CU_SYM(GetErrorString, "cuGetErrorString"),
#undef CU_SYM
};

/* Libraries loaded so far, by path (HETMEM_CUDA_LIB may name another
 * between two opens: the tests do); never unloaded. */
#define CU_MAX_LIBS 8
static struct cuapi *cu_libs[CU_MAX_LIBS];
static size_t cu_nlibs;
static pthread_mutex_t cu_lock = PTHREAD_MUTEX_INITIALIZER;

/* "CUDA error 2 (out of memory)" for @r, in @buf. */
static const char *cu_strerror(const struct cuapi *a, CUresult r, char *buf, size_t len)
{
	const char *s = NULL;
	if (!a->GetErrorString || a->GetErrorString(r, &s) || !s)
		s = "unknown error";
	snprintf(buf, len, "CUDA error %d (%s)", r, s);
	return buf;
}

int hm_cuda_load(const struct cuapi **out, char *why, size_t whylen)
{
	struct hm_options o;
	hm_options_parse_var(&o, "HETMEM_CUDA_LIB");
	const char *path = o.cuda_lib_set ? o.cuda_lib : "libcuda.so.1";
	int rc = 0;
	pthread_mutex_lock(&cu_lock);
	for (size_t i = 0; i < cu_nlibs; i++)
		if (!strcmp(cu_libs[i]->path, path)) {
			*out = cu_libs[i];
			goto out;
		}
	if (cu_nlibs == CU_MAX_LIBS || strlen(path) >= sizeof(cu_libs[0]->path)) {
		snprintf(why, whylen, "cannot load the CUDA driver '%s': too many drivers or too long a path", path);
		rc = -ENOSPC;
		goto out;
	}
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(why, whylen, "no CUDA driver: cannot load '%s'%s (%s)", path,
			 o.cuda_lib_set ? " (HETMEM_CUDA_LIB)" : "", e ? e : "dlopen failed");
		rc = -ENOENT;
		goto out;
	}
	struct cuapi *a = calloc(1, sizeof(*a));
	if (!a) {
		dlclose(h);
		snprintf(why, whylen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	snprintf(a->path, sizeof(a->path), "%s", path);
	for (size_t i = 0; i < sizeof(cu_syms) / sizeof(cu_syms[0]); i++) {
		void *f = dlsym(h, cu_syms[i].name);
		if (!f) {
			snprintf(why, whylen, "the CUDA driver '%s' lacks %s (a driver older than CUDA 11?)", path,
				 cu_syms[i].name);
			free(a);
			dlclose(h);
			rc = -ENOSYS;
			goto out;
		}
		memcpy((char *)a + cu_syms[i].off, &f, sizeof(f));
	}
	CUresult r = a->Init(0);
	if (r) {
		char e[160];
		snprintf(why, whylen, "the CUDA driver '%s' does not start (cuInit): %s", path,
			 r == CUDA_ERROR_NO_DEVICE ? "no CUDA-capable GPU" : cu_strerror(a, r, e, sizeof(e)));
		free(a);
		/* not unloaded: a driver that started threads may not go */
		rc = r == CUDA_ERROR_NO_DEVICE ? -ENODEV : -EIO;
		goto out;
	}
	cu_libs[cu_nlibs++] = a;
	*out = a;
out:
	pthread_mutex_unlock(&cu_lock);
	return rc;
}

/* --- discovery (hetmem info, hetmem run's default tier) ---------------- */

int hm_cuda_gpus(struct hm_cuda_gpu *out, int max, char *why, size_t whylen)
{
	const struct cuapi *a;
	int rc = hm_cuda_load(&a, why, whylen);
	if (rc)
		return rc;
	int n = 0;
	CUresult r = a->DeviceGetCount(&n);
	char e[160];
	if (r) {
		snprintf(why, whylen, "cuDeviceGetCount: %s", cu_strerror(a, r, e, sizeof(e)));
		return -EIO;
	}
	if (n == 0)
		snprintf(why, whylen, "the CUDA driver '%s' sees no GPU", a->path);
	int k = 0;
	for (int i = 0; i < n && k < max; i++) {
		struct hm_cuda_gpu *g = &out[k++];
		memset(g, 0, sizeof(*g));
		g->index = i;
		CUdevice d;
		size_t total = 0, free_b = 0, tot2 = 0;
		if (a->DeviceGet(&d, i) || a->DeviceGetName(g->name, (int)sizeof(g->name), d))
			snprintf(g->name, sizeof(g->name), "?");
		g->name[sizeof(g->name) - 1] = 0;
		if (!a->DeviceTotalMem(&total, d))
			g->total = total;
		/* free memory needs a context: the primary one, for a moment */
		CUcontext ctx, old;
		r = a->PrimaryCtxRetain(&ctx, d);
		if (r) {
			snprintf(g->why, sizeof(g->why), "no context: %s", cu_strerror(a, r, e, sizeof(e)));
			continue;
		}
		if (a->CtxPushCurrent(ctx) == 0) {
			r = a->MemGetInfo(&free_b, &tot2);
			a->CtxPopCurrent(&old);
			if (r)
				snprintf(g->why, sizeof(g->why), "cuMemGetInfo: %s", cu_strerror(a, r, e, sizeof(e)));
			else {
				g->free = free_b;
				g->usable = true;
			}
		} else {
			snprintf(g->why, sizeof(g->why), "cannot make its context current");
		}
		a->PrimaryCtxRelease(d);
	}
	return k;
}

/* --- the tier ------------------------------------------------------------ */

#define CU_STAGE_BYTES (2u << 20) /* one staging buffer: the largest folio */
#define CU_NSTAGE 8               /* buffers in the ring: 16 MiB pinned */
/* Copies are queued per piece of this much, so that the GPU copies one
 * piece while the CPU fills the staging buffer with the next (a write: no
 * extra synchronisation) or copies the last one out of it (a read: an
 * event after each piece, waited for in turn). */
#define CU_PIECE_BYTES (512u << 10)
#define CU_PIECES (CU_STAGE_BYTES / CU_PIECE_BYTES)

struct cu_stage {
	pthread_mutex_t lock; /* held for the whole of one op */
	void *host;           /* CU_STAGE_BYTES pinned */
	CUstream stream;
	CUevent done[CU_PIECES]; /* a read's piece k has arrived in host */
};

struct cuda {
	const struct cuapi *a;
	CUdevice dev;
	int index;
	bool retained;        /* the primary context is ours to release */
	CUcontext ctx;
	CUdeviceptr pool;     /* t->capacity bytes; slot s at pool + s * 4 KiB */
	_Atomic unsigned next; /* where the next op starts looking in the ring */
	unsigned nstage;      /* staging buffers set up */
	struct cu_stage stage[CU_NSTAGE];
};

/* The tier's context made current for one op: *pushed says whether it
 * was pushed (then cu_leave pops it).  0 or -EIO. */
static int cu_enter(struct cuda *c, bool *pushed)
{
	CUcontext cur = NULL;
	*pushed = false;
	if (c->a->CtxGetCurrent(&cur) == 0 && cur == c->ctx)
		return 0;
	if (c->a->CtxPushCurrent(c->ctx))
		return -EIO;
	*pushed = true;
	return 0;
}

static void cu_leave(struct cuda *c, bool pushed)
{
	CUcontext old;
	if (pushed)
		c->a->CtxPopCurrent(&old);
}

/* A staging buffer of the ring, locked: the first free one from a
 * rotating start, else the start's (waiting for it). */
static struct cu_stage *stage_get(struct cuda *c)
{
	unsigned start = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
	for (unsigned i = 0; i < c->nstage; i++) {
		struct cu_stage *s = &c->stage[(start + i) % c->nstage];
		if (!pthread_mutex_trylock(&s->lock))
			return s;
	}
	struct cu_stage *s = &c->stage[start % c->nstage];
	pthread_mutex_lock(&s->lock);
	return s;
}

static void cuda_close(struct hm_tier *t)
{
	struct cuda *c = t->priv;
	if (!c->a)
		return;
	bool pushed = false;
	if (c->retained && cu_enter(c, &pushed) == 0) {
		for (unsigned i = 0; i < c->nstage; i++) {
			struct cu_stage *s = &c->stage[i];
			c->a->StreamSynchronize(s->stream);
			for (unsigned k = 0; k < CU_PIECES; k++)
				c->a->EventDestroy(s->done[k]);
			c->a->StreamDestroy(s->stream);
			c->a->MemFreeHost(s->host);
			pthread_mutex_destroy(&s->lock);
		}
		if (c->pool)
			c->a->MemFree(c->pool);
		cu_leave(c, pushed);
	}
	c->nstage = 0;
	c->pool = 0;
	if (c->retained) {
		/* No thread's current context is changed: this one may be a
		 * program thread whose own CUDA work uses the same primary
		 * context.  A thread that keeps it current after the last
		 * release (attach made it so in hetmem's threads) holds a
		 * handle that a later retain makes live again (a primary
		 * context's handle does not change), and no op runs on it
		 * before then. */
		c->a->PrimaryCtxRelease(c->dev);
		c->retained = false;
	}
}

/* "N[,size=SIZE]": 0 and *index, *size (0: not given), or -EINVAL with a
 * message naming @args. */
static int cuda_parse(const char *args, int *index, uint64_t *size, const char **num)
{
	const char *p = args;
	char *end;
	*size = 0;
	*num = NULL;
	if (*p < '0' || *p > '9')
		return hm_error_msg(EINVAL, "tier 'cuda:%s': expected cuda:N[,size=SIZE] (N: the GPU's index, "
					    "as hetmem info lists them)", args);
	errno = 0;
	unsigned long n = strtoul(p, &end, 10);
	if (errno || n > 1024)
		return hm_error_msg(EINVAL, "tier 'cuda:%s': GPU index '%.*s' is too large", args, (int)(end - p), p);
	*index = (int)n;
	if (*end == 0)
		return 0;
	if (*end != ',')
		return hm_error_msg(EINVAL, "tier 'cuda:%s': expected cuda:N[,size=SIZE] (N: a GPU index, a number)",
				    args);
	if (strncmp(end + 1, "size=", 5))
		return hm_error_msg(EINVAL, "tier 'cuda:%s': unknown option '%s' (expected size=SIZE)", args, end + 1);
	*num = end + 6;
	if (hm_parse_size(*num, size))
		return hm_error_msg(EINVAL, "tier 'cuda:%s': size '%s' must be a number with an optional K/M/G/T "
					    "suffix, such as 1G or 1.5G", args, *num);
	*size &= ~(uint64_t)(HM_PAGE_SIZE - 1);
	if (*size == 0)
		return hm_error_msg(EINVAL, "tier 'cuda:%s': size %s is less than one 4 KiB page (at least 4K)", args,
				    *num);
	return 0;
}

static int cuda_open(struct hm_tier *t, const char *args)
{
	struct cuda *c = t->priv;
	uint64_t size;
	const char *num;
	int rc = cuda_parse(args, &c->index, &size, &num);
	if (rc)
		return rc;
	/* signal mode serves a fault in the faulting thread's SIGBUS handler:
	 * a driver call there could wait for a lock of the driver's that the
	 * interrupted thread holds (a program's own CUDA call touching a page
	 * off RAM) */
	if (hm_g.sigfault)
		return hm_error_msg(ENOTSUP, "tier 'cuda:%s': GPU tiers need HETMEM_FAULTS=handler (in signal mode a "
					     "fault would call the CUDA driver from a signal handler)", args);
	char why[512], e[160], a1[32], a2[32];
	const struct cuapi *a;
	rc = hm_cuda_load(&a, why, sizeof(why));
	if (rc)
		return hm_error_msg(-rc, "tier 'cuda:%s': %s", args, why);
	int n = 0;
	CUresult r = a->DeviceGetCount(&n);
	if (r)
		return hm_error_msg(EIO, "tier 'cuda:%s': cannot count the GPUs: %s", args, cu_strerror(a, r, e, sizeof(e)));
	if (c->index >= n && n == 0)
		return hm_error_msg(ENODEV, "tier 'cuda:%s': there is no GPU %d: the CUDA driver '%s' sees none", args,
				    c->index, a->path);
	if (c->index >= n)
		return hm_error_msg(ENODEV, "tier 'cuda:%s': there is no GPU %d: this machine has %d (cuda:0 .. cuda:%d)",
				    args, c->index, n, n - 1);
	char name[96] = "?";
	r = a->DeviceGet(&c->dev, c->index);
	if (!r)
		r = a->DeviceGetName(name, (int)sizeof(name), c->dev);
	name[sizeof(name) - 1] = 0;
	if (r)
		return hm_error_msg(EIO, "tier 'cuda:%s': GPU %d: %s", args, c->index, cu_strerror(a, r, e, sizeof(e)));
	r = a->PrimaryCtxRetain(&c->ctx, c->dev);
	if (r)
		return hm_error_msg(EIO, "tier 'cuda:%s': cannot create a context on GPU %d (%s): %s", args, c->index,
				    name, cu_strerror(a, r, e, sizeof(e)));
	c->a = a;
	c->retained = true;
	bool pushed;
	if (cu_enter(c, &pushed)) {
		rc = hm_error_msg(EIO, "tier 'cuda:%s': cannot make the context of GPU %d (%s) current", args,
				  c->index, name);
		goto err;
	}
	size_t free_b = 0, total_b = 0;
	r = a->MemGetInfo(&free_b, &total_b);
	if (r) {
		rc = hm_error_msg(EIO, "tier 'cuda:%s': cannot read the free memory of GPU %d (%s): %s", args, c->index,
				  name, cu_strerror(a, r, e, sizeof(e)));
		goto err_leave;
	}
	hm_fmt_bytes(a2, sizeof(a2), free_b);
	if (num && size > free_b) {
		hm_fmt_bytes(a1, sizeof(a1), size);
		rc = hm_error_msg(E2BIG, "tier 'cuda:%s': size %s (%s) is more than GPU %d (%s) has free (%s)", args,
				  num, a1, c->index, name, a2);
		goto err_leave;
	}
	if (!num) {
		/* half the free memory: the rest is left to the programs
		 * that use the GPU themselves */
		size = ((uint64_t)free_b / 2) & ~(uint64_t)(CU_STAGE_BYTES - 1);
		if (size == 0) {
			rc = hm_error_msg(ENOSPC, "tier 'cuda:%s': GPU %d (%s) has only %s free", args, c->index,
					  name, a2);
			goto err_leave;
		}
	}
	if ((size >> HM_PAGE_SHIFT) > PW_SLOT_MAX)
		size = (uint64_t)PW_SLOT_MAX << HM_PAGE_SHIFT; /* what a page word can name */
	r = a->MemAlloc(&c->pool, (size_t)size);
	if (r) {
		c->pool = 0;
		hm_fmt_bytes(a1, sizeof(a1), size);
		rc = hm_error_msg(ENOMEM, "tier 'cuda:%s': cannot allocate %s on GPU %d (%s, %s free): %s", args, a1,
				  c->index, name, a2, cu_strerror(a, r, e, sizeof(e)));
		goto err_leave;
	}
	for (unsigned i = 0; i < CU_NSTAGE; i++) {
		struct cu_stage *s = &c->stage[i];
		r = a->MemHostAlloc(&s->host, CU_STAGE_BYTES, CU_MEMHOSTALLOC_PORTABLE);
		if (r) {
			rc = hm_error_msg(ENOMEM, "tier 'cuda:%s': cannot allocate pinned host memory for staging "
						  "(%u MiB): %s", args, CU_STAGE_BYTES >> 20, cu_strerror(a, r, e, sizeof(e)));
			goto err_leave;
		}
		r = a->StreamCreate(&s->stream, CU_STREAM_NON_BLOCKING);
		bool stream = !r;
		unsigned k = 0;
		while (!r && k < CU_PIECES && !(r = a->EventCreate(&s->done[k], CU_EVENT_DISABLE_TIMING)))
			k++;
		if (r) {
			while (k--)
				a->EventDestroy(s->done[k]);
			if (stream)
				a->StreamDestroy(s->stream);
			a->MemFreeHost(s->host);
			rc = hm_error_msg(EIO, "tier 'cuda:%s': cannot create a stream and its events on GPU %d: %s", args,
					  c->index, cu_strerror(a, r, e, sizeof(e)));
			goto err_leave;
		}
		pthread_mutex_init(&s->lock, NULL);
		c->nstage = i + 1;
	}
	cu_leave(c, pushed);
	t->capacity = size;
	return 0;
err_leave:
	cu_leave(c, pushed);
err:
	cuda_close(t);
	return rc;
}

static int cuda_attach(struct hm_tier *t)
{
	struct cuda *c = t->priv;
	CUcontext cur = NULL;
	if (c->a->CtxGetCurrent(&cur))
		return -EIO;
	if (cur == NULL && c->a->CtxSetCurrent(c->ctx))
		return -EIO;
	return 0; /* another context is current: each op pushes ours */
}

/* The start of a data op: the tier's context current and a staging
 * buffer locked; NULL (-EIO) when the context cannot be made current. */
static struct cu_stage *op_begin(struct cuda *c, bool *pushed)
{
	if (cu_enter(c, pushed))
		return NULL;
	return stage_get(c);
}

static void op_end(struct cuda *c, struct cu_stage *s, bool pushed)
{
	pthread_mutex_unlock(&s->lock);
	cu_leave(c, pushed);
}

static int cuda_read(struct hm_tier *t, uint64_t slot, void *buf, size_t npages)
{
	struct cuda *c = t->priv;
	bool pushed;
	struct cu_stage *s = op_begin(c, &pushed);
	if (!s)
		return -EIO;
	int rc = 0;
	size_t len = npages << HM_PAGE_SHIFT;
	CUdeviceptr src = c->pool + (slot << HM_PAGE_SHIFT);
	for (size_t off = 0; off < len && !rc; off += CU_STAGE_BYTES) {
		size_t n = len - off < CU_STAGE_BYTES ? len - off : CU_STAGE_BYTES;
		if (n <= CU_PIECE_BYTES) {
			/* one piece (a 4 KiB or 64 KiB fault): the stream's sync */
			if (c->a->MemcpyDtoHAsync(s->host, src + off, n, s->stream) ||
			    c->a->StreamSynchronize(s->stream))
				rc = -EIO; /* nothing of it reaches @buf */
			else
				memcpy((char *)buf + off, s->host, n);
			continue;
		}
		/* all pieces queued, an event after each; each copied out of
		 * the staging buffer once its event has passed */
		size_t np = (n + CU_PIECE_BYTES - 1) / CU_PIECE_BYTES, queued = 0;
		for (; queued < np; queued++) {
			size_t o = queued * CU_PIECE_BYTES, m = n - o < CU_PIECE_BYTES ? n - o : CU_PIECE_BYTES;
			if (c->a->MemcpyDtoHAsync((char *)s->host + o, src + off + o, m, s->stream) ||
			    c->a->EventRecord(s->done[queued], s->stream))
				break;
		}
		if (queued < np)
			rc = -EIO;
		for (size_t k = 0; k < queued && !rc; k++) {
			size_t o = k * CU_PIECE_BYTES, m = n - o < CU_PIECE_BYTES ? n - o : CU_PIECE_BYTES;
			if (c->a->EventSynchronize(s->done[k]))
				rc = -EIO; /* this piece and those after it never reach @buf */
			else
				memcpy((char *)buf + off + o, (char *)s->host + o, m);
		}
		/* the buffer is free again only when nothing queued writes it */
		if (c->a->StreamSynchronize(s->stream))
			rc = -EIO;
	}
	op_end(c, s, pushed);
	return rc;
}

static int cuda_write_batch(struct hm_tier *t, const struct hm_tier_io *io, size_t nio)
{
	struct cuda *c = t->priv;
	bool pushed;
	struct cu_stage *s = op_begin(c, &pushed);
	if (!s)
		return -EIO;
	int rc = 0;
	size_t used = 0; /* bytes of the staging buffer queued since the last sync */
	for (size_t k = 0; k < nio && !rc; k++) {
		size_t len = io[k].npages << HM_PAGE_SHIFT;
		CUdeviceptr dst = c->pool + (io[k].handle << HM_PAGE_SHIFT);
		for (size_t off = 0; off < len;) {
			if (used == CU_STAGE_BYTES) {
				/* full: its copies must finish before it is refilled */
				if (c->a->StreamSynchronize(s->stream)) {
					rc = -EIO;
					break;
				}
				used = 0;
			}
			size_t n = len - off < CU_STAGE_BYTES - used ? len - off : CU_STAGE_BYTES - used;
			if (n > CU_PIECE_BYTES)
				n = CU_PIECE_BYTES;
			memcpy((char *)s->host + used, (const char *)io[k].buf + off, n);
			if (c->a->MemcpyHtoDAsync(dst + off, (char *)s->host + used, n, s->stream)) {
				rc = -EIO;
				break;
			}
			used += n;
			off += n;
		}
	}
	/* one sync for the batch (also after a failure: the buffer is free
	 * again only when nothing queued reads it) */
	if (c->a->StreamSynchronize(s->stream))
		rc = -EIO;
	op_end(c, s, pushed);
	return rc;
}

static int cuda_write(struct hm_tier *t, uint64_t slot, const void *buf, size_t npages)
{
	struct hm_tier_io io = { .handle = slot, .buf = buf, .npages = npages };
	return cuda_write_batch(t, &io, 1);
}

/* slot s is byte s * 4 KiB of the pool: the device pointer CUDA code uses */
static int cuda_device_addr(struct hm_tier *t, uint64_t slot, uint64_t *addr)
{
	struct cuda *c = t->priv;
	*addr = (uint64_t)(c->pool + (slot << HM_PAGE_SHIFT));
	return 0;
}

const struct hm_tier_ops hm_tier_cuda_ops = {
	.kind = "cuda",
	.usage = "cuda:N[,size=SIZE]",
	.tier_class = HM_TIER_PRIVATE,
	.priv_size = sizeof(struct cuda),
	.open = cuda_open,
	.close = cuda_close,
	.read = cuda_read,
	.write = cuda_write,
	.write_batch = cuda_write_batch,
	.attach = cuda_attach,
	.device_addr = cuda_device_addr,
};
