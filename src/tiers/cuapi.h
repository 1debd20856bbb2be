/*
 * cuapi.h — the part of the CUDA driver API hetmem uses (tiers/cuda.c and
 * bench/bench_cuda.c), declared here because cuda.h is not needed to build
 * hetmem: the driver (libcuda.so.1) is loaded with dlopen at run time and
 * its entry points resolved into struct cuapi (hm_cuda_load).  The types
 * and names are cuda.h's; the symbols are the _v2 ones libcuda exports for
 * the calls cuda.h renames.
 */
#ifndef HM_CUAPI_H
#define HM_CUAPI_H

#include "common.h"

typedef int CUresult; /* 0: CUDA_SUCCESS */
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef unsigned long long CUdeviceptr;

#define CU_MEMHOSTALLOC_PORTABLE 0x01 /* pinned for every context */
#define CU_STREAM_NON_BLOCKING 0x1    /* no implicit sync with stream 0 */
#define CU_EVENT_DISABLE_TIMING 0x2   /* an event for waiting only: cheaper */
#define CUDA_ERROR_NO_DEVICE 100

struct cuapi {
	char path[256]; /* what was dlopen'ed */
	CUresult (*Init)(unsigned);
	CUresult (*DriverGetVersion)(int *);
	CUresult (*DeviceGetCount)(int *);
	CUresult (*DeviceGet)(CUdevice *, int);
	CUresult (*DeviceGetName)(char *, int, CUdevice);
	CUresult (*DeviceTotalMem)(size_t *, CUdevice);
	CUresult (*PrimaryCtxRetain)(CUcontext *, CUdevice);
	CUresult (*PrimaryCtxRelease)(CUdevice);
	CUresult (*CtxGetCurrent)(CUcontext *);
	CUresult (*CtxSetCurrent)(CUcontext);
	CUresult (*CtxPushCurrent)(CUcontext);
	CUresult (*CtxPopCurrent)(CUcontext *);
	CUresult (*MemGetInfo)(size_t *, size_t *);
	CUresult (*MemAlloc)(CUdeviceptr *, size_t);
	CUresult (*MemFree)(CUdeviceptr);
	CUresult (*MemHostAlloc)(void **, size_t, unsigned);
	CUresult (*MemFreeHost)(void *);
	CUresult (*StreamCreate)(CUstream *, unsigned);
	CUresult (*StreamDestroy)(CUstream);
	CUresult (*StreamSynchronize)(CUstream);
	CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
	CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
	CUresult (*EventCreate)(CUevent *, unsigned);
	CUresult (*EventDestroy)(CUevent);
	CUresult (*EventRecord)(CUevent, CUstream);
	CUresult (*EventSynchronize)(CUevent);
	CUresult (*GetErrorString)(CUresult, const char **);
};

/* The driver HETMEM_CUDA_LIB names, else libcuda.so.1, loaded (once per
 * path; never unloaded) and initialised (cuInit): 0 and *out, or -errno
 * with a sentence in @why and no message: -ENOENT no driver, -ENOSYS a
 * symbol missing, -ENODEV no GPU, -EIO cuInit failed. */
HM_HIDDEN int hm_cuda_load(const struct cuapi **out, char *why, size_t whylen);

#endif
