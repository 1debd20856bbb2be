/*
 * cuda_thread.c — run under `hetmem run --tier cuda:0` with the stand-in
 * driver (HETMEM_CUDA_LIB, HM_CUDASTUB_THREAD=1): asks the stand-in whether
 * the memory its own driver thread took (an mmap and a malloc, made in a
 * thread the driver started while the tier opened) is managed memory.  It
 * must not be: a driver's memory demoted to its own device could hold up
 * the fault-back that needs the driver (preload_proc.c, pthread_create).
 * Exit 0 when it is not managed, 1 when it is, 2 when it cannot tell.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	const char *lib = getenv("HETMEM_CUDA_LIB");
	void *h = lib ? dlopen(lib, RTLD_NOW | RTLD_NOLOAD) : NULL;
	int (*managed)(void) = h ? (int (*)(void))dlsym(h, "hm_cudastub_thread_managed") : NULL;
	if (!managed) {
		printf("cuda_thread: the stand-in driver is not loaded in this process (%s)\n", lib ? lib : "unset");
		return 2;
	}
	int ans = managed();
	switch (ans) {
	case 0: printf("cuda_thread: the driver thread's memory is not managed\n"); return 0;
	case -2: printf("cuda_thread: the stand-in started no driver thread (HM_CUDASTUB_THREAD=1?)\n"); return 2;
	case -1: printf("cuda_thread: the driver thread found no hm_where\n"); return 2;
	default:
		printf("cuda_thread: the driver thread's %s managed memory\n",
		       ans == 3 ? "mapping and malloc are" : ans == 1 ? "mapping is" : "malloc is");
		return 1;
	}
}
