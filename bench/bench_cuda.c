/*
 * bench_cuda.c — the GPU tier (cuda:0) against the CUDA driver's own pinned
 * copies, measured in the same run (bench/cuda.sh runs it after the tests).
 *
 * Baseline: the driver (libcuda.so.1, or HETMEM_CUDA_LIB) loaded directly;
 * a pinned host buffer (cuMemHostAlloc) the size of the region and a device
 * buffer as large, copied in blocks of 64 KiB and of 2 MiB, each block an
 * asynchronous copy followed by a stream synchronisation (the granularity
 * at which hetmem moves a folio), host-to-device and device-to-host (GB/s,
 * the best of the rounds); and, for information, the whole buffer in one
 * copy each way.
 *
 * hetmem: a managed region of 64 KiB and then of 2 MiB folios, filled,
 * demoted to a cuda:0 tier with hm_migrate (host-to-device GB/s) and
 * promoted back with hm_migrate (device-to-host GB/s), verified each
 * round; the ratio to the baseline of the same block size (target: 2 MiB
 * at least 70% each way).  Then fault-back latency: regions of 4 KiB and
 * 64 KiB folios demoted and read one byte per folio in random order with
 * readahead off, each read timed: p50 and p99 (target: 4 KiB p50 at most
 * 30 us), verified.
 *
 * Against the stand-in driver (tests/cudastub) every copy is a host
 * memcpy: the figures then say nothing about a GPU, and the output says so.
 *
 * Usage: bench_cuda [--quick]   (--quick: 64 MiB regions, 3 rounds)
 * Exit status: 0 when everything ran and verified, or when there is no GPU
 * ("skipped: REASON"); 1 when something failed or data came back wrong.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hetmem.h"
#include "tiers/cuapi.h"

#define PG 4096ul

/* the driver, loaded as the cuda: tier loads it (tiers/cuapi.h) */
static const struct cuapi *cu;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void fill(char *p, size_t len, unsigned seed)
{
	uint64_t *w = (uint64_t *)p;
	for (size_t i = 0; i < len / 8; i++)
		w[i] = mix(((uint64_t)seed << 40) ^ i);
}

static bool verify(const char *p, size_t len, unsigned seed, const char *what)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < len / 8; i++)
		if (w[i] != mix(((uint64_t)seed << 40) ^ i)) {
			printf("FAIL: %s: wrong data at byte %zu\n", what, i * 8);
			return false;
		}
	return true;
}

/* Load the driver (HETMEM_CUDA_LIB, else libcuda.so.1) as the tier does:
 * 0, or -1 with the reason in @why. */
static int load(char *why, size_t len)
{
	if (hm_cuda_load(&cu, why, len))
		return -1;
	int n = 0;
	CUresult r = cu->DeviceGetCount(&n);
	if (r || n == 0) {
		snprintf(why, len, "the CUDA driver '%s' sees no GPU (cuDeviceGetCount: %d)", cu->path, r);
		return -1;
	}
	return 0;
}

/* The pinned baseline: GB/s of @len bytes copied in @block-byte copies,
 * each synchronised; best of @rounds.  Negative on a driver error. */
static double pinned_gbps(void *host, CUdeviceptr dev, CUstream s, size_t len, size_t block, bool htod, int rounds)
{
	double best = -1;
	for (int r = 0; r < rounds; r++) {
		double t0 = now_s();
		for (size_t off = 0; off < len; off += block) {
			CUresult e = htod ? cu->MemcpyHtoDAsync(dev + off, (char *)host + off, block, s)
					  : cu->MemcpyDtoHAsync((char *)host + off, dev + off, block, s);
			if (e || cu->StreamSynchronize(s))
				return -1;
		}
		double g = (double)len / (now_s() - t0) / 1e9;
		if (g > best)
			best = g;
	}
	return best;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	size_t len = (quick ? 64ul : 256ul) << 20;
	int rounds = quick ? 3 : 5;
	char why[512];
	if (load(why, sizeof(why))) {
		printf("skipped: %s\n", why);
		return 0;
	}
	char name[128] = "?";
	cu->DeviceGetName(name, sizeof(name), 0);
	bool stand_in = strstr(name, "cudastub") != NULL;
	printf("GPU 0: %s (driver %s)\n", name, cu->path);
	if (stand_in)
		printf("NOTE: the stand-in driver (tests/cudastub): every copy is a host memcpy; these figures mean "
		       "nothing about a GPU\n");

	/* --- baseline: the driver's pinned copies --------------------------- */
	CUcontext ctx, old;
	void *host = NULL;
	CUdeviceptr dev = 0;
	CUstream s = NULL;
	if (cu->PrimaryCtxRetain(&ctx, 0) || cu->CtxPushCurrent(ctx) || cu->MemHostAlloc(&host, len, 1) ||
	    cu->MemAlloc(&dev, len) || cu->StreamCreate(&s, 1)) {
		printf("FAIL: the baseline cannot set up %zu MiB of pinned and device memory\n", len >> 20);
		return 1;
	}
	fill(host, len, 1);
	const size_t blocks[] = {64ul << 10, 2ul << 20};
	double base[2][2]; /* [block][htod?] */
	for (int b = 0; b < 2; b++)
		for (int d = 1; d >= 0; d--) /* to the device first: then back */
			base[b][d] = pinned_gbps(host, dev, s, len, blocks[b], d, rounds);
	double whole_h = pinned_gbps(host, dev, s, len, len, true, rounds);
	double whole_d = pinned_gbps(host, dev, s, len, len, false, rounds);
	bool ok = verify(host, len, 1, "pinned baseline round trip");
	cu->StreamDestroy(s);
	cu->MemFree(dev);
	cu->MemFreeHost(host);
	cu->CtxPopCurrent(&old);
	cu->PrimaryCtxRelease(0);
	printf("pinned cuMemcpy*Async + sync per block, %zu MiB:\n", len >> 20);
	for (int b = 0; b < 2; b++)
		printf("  %4zu KiB blocks: host-to-device %6.2f GB/s, device-to-host %6.2f GB/s\n", blocks[b] >> 10,
		       base[b][1], base[b][0]);
	printf("  one %zu MiB copy: host-to-device %6.2f GB/s, device-to-host %6.2f GB/s (for information)\n",
	       len >> 20, whole_h, whole_d);

	/* --- hetmem: migration through the cuda:0 tier ----------------------- */
	setenv("HETMEM_READAHEAD", "0", 1); /* fault-back: one folio per fault */
	if (hm_init(NULL)) {
		printf("FAIL: hm_init: %s\n", hm_last_error());
		return 1;
	}
	char spec[64];
	snprintf(spec, sizeof(spec), "cuda:0,size=%zuM", (len >> 20) + 64);
	int t = hm_tier_add(spec);
	if (t < 0) {
		printf("FAIL: hm_tier_add(\"%s\"): %s\n", spec, hm_last_error());
		return 1;
	}
	printf("hetmem hm_migrate through --tier %s, %zu MiB, median of %d rounds:\n", spec, len >> 20, rounds);
	double mig[2][2] = {{0}};
	for (int b = 0; b < 2 && ok; b++) {
		char *p = hm_alloc(len, blocks[b]);
		double out[16], in[16];
		if (!p) {
			printf("FAIL: hm_alloc: %s\n", hm_last_error());
			return 1;
		}
		for (int r = 0; r < rounds && ok; r++) {
			fill(p, len, 10 + (unsigned)r);
			double t0 = now_s();
			long m1 = hm_migrate(p, len, t, NULL);
			double t1 = now_s();
			long m2 = hm_migrate(p, len, 0, NULL);
			double t2 = now_s();
			if (m1 != (long)(len / PG) || m2 != (long)(len / PG)) {
				printf("FAIL: %zu KiB folios: moved %ld and %ld of %zu pages: %s\n", blocks[b] >> 10, m1, m2,
				       len / PG, hm_last_error());
				ok = false;
			}
			out[r] = (double)len / (t1 - t0) / 1e9;
			in[r] = (double)len / (t2 - t1) / 1e9;
			ok = ok && verify(p, len, 10 + (unsigned)r, "hetmem round trip");
		}
		hm_free(p, 0);
		if (!ok)
			break;
		mig[b][1] = median(out, rounds);
		mig[b][0] = median(in, rounds);
		printf("  %4zu KiB folios: demotion %6.2f GB/s (%3.0f%% of pinned), promotion %6.2f GB/s (%3.0f%% of "
		       "pinned)\n", blocks[b] >> 10, mig[b][1], 100 * mig[b][1] / base[b][1], mig[b][0],
		       100 * mig[b][0] / base[b][0]);
	}

	/* --- fault-back latency ---------------------------------------------- */
	const size_t fsz[] = {4096, 64ul << 10};
	double p50[2] = {0}, p99[2] = {0};
	for (int f = 0; f < 2 && ok; f++) {
		size_t flen = (quick ? 16ul : 64ul) << 20, n = flen / fsz[f];
		char *p = hm_alloc(flen, fsz[f]);
		double *lat = malloc(n * sizeof(double));
		size_t *order = malloc(n * sizeof(size_t));
		if (!p || !lat || !order) {
			printf("FAIL: fault-back set-up: %s\n", hm_last_error());
			return 1;
		}
		fill(p, flen, 50 + (unsigned)f);
		if (hm_migrate(p, flen, t, NULL) != (long)(flen / PG)) {
			printf("FAIL: fault-back: demotion: %s\n", hm_last_error());
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			order[i] = i;
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = mix(i) % (i + 1), x = order[i];
			order[i] = order[j];
			order[j] = x;
		}
		for (size_t i = 0; i < n; i++) {
			volatile char *a = p + order[i] * fsz[f] + 8;
			double t0 = now_s();
			(void)*a;
			lat[i] = (now_s() - t0) * 1e6;
		}
		ok = verify(p, flen, 50 + (unsigned)f, "fault-back");
		qsort(lat, n, sizeof(double), cmp_double);
		p50[f] = lat[n / 2];
		p99[f] = lat[n * 99 / 100];
		printf("fault-back, %2zu KiB folios (%zu faults): p50 %7.1f us, p99 %7.1f us\n", fsz[f] >> 10, n, p50[f],
		       p99[f]);
		free(lat);
		free(order);
		hm_free(p, 0);
	}
	hm_tier_remove(t);
	hm_shutdown();
	if (!ok)
		return 1;
	printf("targets%s: 2 MiB demotion >= 70%% of pinned host-to-device: %s; 2 MiB promotion >= 70%% of pinned "
	       "device-to-host: %s; 4 KiB fault-back p50 <= 30 us: %s\n",
	       stand_in ? " (stand-in: not meaningful)" : "", mig[1][1] >= 0.7 * base[1][1] ? "met" : "not met",
	       mig[1][0] >= 0.7 * base[1][0] ? "met" : "not met", p50[0] <= 30 ? "met" : "not met");
	return 0;
}
