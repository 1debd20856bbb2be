/*
 * cuda_mirror.c — a GPU kernel over memory hetmem manages, the way HMM lets
 * a driver's device work on a process's pages.
 *
 *  1. 8 MiB of managed memory (hm_alloc) is filled on the CPU: word i = i.
 *  2. A device is opened on GPU 0's memory (hm_device_open("cuda:0,...")),
 *     the range is mirrored by it and migrated into its memory
 *     (hm_device_migrate): the pages leave RAM for VRAM.
 *  3. hm_device_pages gives each page's device pointer; the table goes to
 *     the GPU, and a kernel (PTX below, JIT-compiled by the driver) adds
 *     DELTA + i to every word i through it.
 *  4. The CPU reads the words: each page faults back from VRAM with what
 *     the kernel wrote, and every word must be 2i + DELTA (a page the table
 *     put in another's place would get another's i).
 *
 * The CUDA driver is loaded with dlopen, as hetmem loads it: libcuda.so.1,
 * or the library HETMEM_CUDA_LIB names (the project's tests run this
 * example on their stand-in driver, tests/cudastub, which runs the
 * kernel's host equivalent).  No cuda.h is needed to build it.
 *
 * Exit status: 0 when every word checked, 77 when there is no CUDA driver
 * or GPU (skipped), 1 on any failure.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hetmem.h"

#define LEN ((size_t)8 << 20)
#define DELTA 1000u

/* The kernel, as nvcc --ptx -arch=compute_75 gives it for:
 *   extern "C" __global__ void hm_add(const unsigned long long *pages,
 *                                     unsigned long long nwords, unsigned delta)
 *   {
 *           unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
 *           if (i >= nwords)
 *                   return;
 *           unsigned *w = (unsigned *)pages[i >> 10]; // 1024 words a page
 *           w[i & 1023] += delta + (unsigned)i;
 *   }
 * (.version lowered to 7.0 so that drivers from CUDA 11 on accept it.) */
static const char ptx[] =
	".version 7.0\n"
	".target sm_75\n"
	".address_size 64\n"
	".visible .entry hm_add(\n"
	"	.param .u64 hm_add_param_0,\n"
	"	.param .u64 hm_add_param_1,\n"
	"	.param .u32 hm_add_param_2\n"
	")\n"
	"{\n"
	"	.reg .pred %p<2>;\n"
	"	.reg .b32 %r<9>;\n"
	"	.reg .b64 %rd<15>;\n"
	"	ld.param.u64 %rd2, [hm_add_param_0];\n"
	"	ld.param.u64 %rd3, [hm_add_param_1];\n"
	"	ld.param.u32 %r1, [hm_add_param_2];\n"
	"	mov.u32 %r2, %ctaid.x;\n"
	"	mov.u32 %r3, %ntid.x;\n"
	"	mul.wide.u32 %rd4, %r2, %r3;\n"
	"	mov.u32 %r4, %tid.x;\n"
	"	cvt.u64.u32 %rd5, %r4;\n"
	"	add.s64 %rd1, %rd4, %rd5;\n"
	"	setp.ge.u64 %p1, %rd1, %rd3;\n"
	"	@%p1 bra $L__BB0_2;\n"
	"	cvta.to.global.u64 %rd6, %rd2;\n"
	"	shr.u64 %rd7, %rd1, 7;\n"
	"	and.b64 %rd8, %rd7, 144115188075855864;\n"
	"	add.s64 %rd9, %rd6, %rd8;\n"
	"	ld.global.u64 %rd10, [%rd9];\n"
	"	cvta.to.global.u64 %rd11, %rd10;\n"
	"	cvt.u32.u64 %r5, %rd1;\n"
	"	add.s32 %r6, %r5, %r1;\n"
	"	shl.b64 %rd12, %rd1, 2;\n"
	"	and.b64 %rd13, %rd12, 4092;\n"
	"	add.s64 %rd14, %rd11, %rd13;\n"
	"	ld.global.u32 %r7, [%rd14];\n"
	"	add.s32 %r8, %r6, %r7;\n"
	"	st.global.u32 [%rd14], %r8;\n"
	"$L__BB0_2:\n"
	"	ret;\n"
	"}\n";

/* the few driver calls used, as cuda.h declares them */
typedef int CUresult;
typedef unsigned long long CUdeviceptr;
struct cu {
	CUresult (*Init)(unsigned);
	CUresult (*DeviceGet)(int *, int);
	CUresult (*PrimaryCtxRetain)(void **, int);
	CUresult (*PrimaryCtxRelease)(int);
	CUresult (*CtxPushCurrent)(void *);
	CUresult (*CtxPopCurrent)(void **);
	CUresult (*CtxSynchronize)(void);
	CUresult (*MemAlloc)(CUdeviceptr *, size_t);
	CUresult (*MemFree)(CUdeviceptr);
	CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
	CUresult (*ModuleLoadData)(void **, const void *);
	CUresult (*ModuleUnload)(void *);
	CUresult (*ModuleGetFunction)(void **, void *, const char *);
	CUresult (*LaunchKernel)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *,
				 void **, void **);
};

static int load(struct cu *c)
{
	const char *lib = getenv("HETMEM_CUDA_LIB");
	void *h = dlopen(lib && *lib ? lib : "libcuda.so.1", RTLD_NOW);
	if (!h) {
		printf("cuda_mirror: skipped: no CUDA driver (%s)\n", dlerror());
		return 77;
	}
	static const char *names[] = {"cuInit", "cuDeviceGet", "cuDevicePrimaryCtxRetain",
				      "cuDevicePrimaryCtxRelease_v2", "cuCtxPushCurrent_v2", "cuCtxPopCurrent_v2",
				      "cuCtxSynchronize", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2",
				      "cuModuleLoadData", "cuModuleUnload", "cuModuleGetFunction", "cuLaunchKernel"};
	void **f = (void **)c;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (!(f[k] = dlsym(h, names[k]))) {
			fprintf(stderr, "cuda_mirror: the CUDA driver has no %s\n", names[k]);
			return 1;
		}
	return 0;
}

int main(void)
{
	struct cu cu;
	int rc = load(&cu);
	if (rc)
		return rc;
	if (hm_init(NULL)) {
		fprintf(stderr, "cuda_mirror: hm_init: %s\n", hm_last_error());
		return 1;
	}
	size_t nwords = LEN / sizeof(uint32_t), npages = LEN / 4096;
	uint32_t *p = hm_alloc(LEN, HM_FOLIO_64K);
	uint64_t *table = malloc(npages * sizeof(*table));
	if (!p || !table) {
		fprintf(stderr, "cuda_mirror: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < nwords; i++)
		p[i] = (uint32_t)i;

	struct hm_device *dev;
	if (hm_device_open("cuda:0,size=64M", &dev)) {
		printf("cuda_mirror: skipped: no GPU to use: %s\n", hm_last_error());
		return 77;
	}
	long moved;
	if (hm_device_mirror(dev, p, LEN) || (moved = hm_device_migrate(dev, p, LEN, NULL)) < 0) {
		fprintf(stderr, "cuda_mirror: mirroring or migrating to the GPU: %s\n", hm_last_error());
		return 1;
	}
	long on = hm_device_pages(dev, p, npages, table);
	if (on != (long)npages) {
		fprintf(stderr, "cuda_mirror: %ld of %zu pages in GPU memory after migrating %ld: %s\n", on, npages,
			moved, on < 0 ? hm_last_error() : "");
		return 1;
	}

	/* the kernel, in the GPU's primary context (hetmem's tier uses the
	 * same one) */
	int gpu;
	void *ctx, *old, *mod, *fn;
	CUdeviceptr dtable;
	unsigned delta = DELTA;
	unsigned long long nw = nwords;
	if (cu.Init(0) || cu.DeviceGet(&gpu, 0) || cu.PrimaryCtxRetain(&ctx, gpu) || cu.CtxPushCurrent(ctx)) {
		fprintf(stderr, "cuda_mirror: cannot use GPU 0's context\n");
		return 1;
	}
	void *params[] = {&dtable, &nw, &delta};
	if ((rc = cu.MemAlloc(&dtable, npages * sizeof(*table))) ||
	    (rc = cu.MemcpyHtoD(dtable, table, npages * sizeof(*table))) || (rc = cu.ModuleLoadData(&mod, ptx)) ||
	    (rc = cu.ModuleGetFunction(&fn, mod, "hm_add")) ||
	    (rc = cu.LaunchKernel(fn, (unsigned)((nwords + 255) / 256), 1, 1, 256, 1, 1, 0, NULL, params, NULL)) ||
	    (rc = cu.CtxSynchronize())) {
		fprintf(stderr, "cuda_mirror: the kernel failed: CUDA error %d\n", rc);
		return 1;
	}
	cu.ModuleUnload(mod);
	cu.MemFree(dtable);
	cu.CtxPopCurrent(&old);
	cu.PrimaryCtxRelease(gpu);

	/* the CPU's reads fault every page back from the GPU */
	struct hm_stats s0, s1;
	hm_stats_get(&s0);
	size_t bad = 0;
	for (size_t i = 0; i < nwords; i++)
		if (p[i] != 2 * (uint32_t)i + DELTA && bad++ < 5)
			fprintf(stderr, "cuda_mirror: word %zu is %u, not %u\n", i, p[i], 2 * (uint32_t)i + DELTA);
	hm_stats_get(&s1);
	long left = hm_device_pages(dev, p, npages, table);
	printf("cuda_mirror: %zu words through the GPU, %llu pages brought back by CPU faults, %ld left on the GPU, "
	       "%zu wrong\n", nwords, (unsigned long long)(s1.pages_promoted - s0.pages_promoted), left, bad);
	hm_device_close(dev);
	hm_free(p, 0);
	free(table);
	hm_shutdown();
	if (bad || left != 0) {
		fprintf(stderr, "cuda_mirror: FAILED\n");
		return 1;
	}
	printf("cuda_mirror: ok\n");
	return 0;
}
