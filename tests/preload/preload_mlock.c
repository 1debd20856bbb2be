/*
 * preload_mlock.c — an ordinary program (it does not link hetmem) for the
 * tests of locked memory, a full device tier and thrashing under
 * `hetmem run` (mlock.sh runs it):
 *
 *   lock SIZE_MIB   mlock a malloc'd buffer larger than the budget: every
 *                   page is in RAM and stays there (none demoted while
 *                   locked); munlock; the data is right and part of the
 *                   buffer goes to the device again
 *   lockall SIZE_MIB  the same with mlockall(MCL_CURRENT | MCL_FUTURE): a
 *                   buffer mapped after it is locked too; munlockall
 *   full SIZE_MIB   write SIZE_MIB of data, read it back twice (the device
 *                   tier is smaller than the data: the tests time this)
 *   thrash SIZE_MIB SECONDS  random reads over SIZE_MIB for SECONDS
 *
 * Under hetmem it reads hetmem's counters through dlsym; "full" and
 * "thrash" also run without hetmem (the reference timing).  Exit 0 = pass.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cases_common.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Lock a buffer larger than the budget (mlock, or mlockall with @all), see
 * that none of it leaves RAM, unlock it, and see part of it leave again. */
static int case_lock(size_t mib, bool all)
{
	need_hetmem();
	size_t len = mib * MiB;
	uint64_t *p = malloc(len);
	if (!p)
		FAIL("malloc %zu MiB", mib);
	fill(p, len, 5);
	if (all ? mlockall(MCL_CURRENT | MCL_FUTURE) : mlock(p, len))
		FAIL("%s: %s", all ? "mlockall" : "mlock", strerror(errno));
	size_t dev = on_device(p, len);
	if (dev)
		FAIL("%zu pages of the locked buffer are on the device", dev);
	struct hm_stats s;
	stats_get(&s);
	if (s.locked_bytes < len)
		FAIL("stats say %llu bytes locked, expected at least %zu", (unsigned long long)s.locked_bytes, len);
	uint64_t *q = NULL;
	size_t qlen = 8 * MiB;
	if (all) { /* MCL_FUTURE: a new mapping is locked too */
		q = malloc(qlen);
		if (!q)
			FAIL("malloc");
		fill(q, qlen, 6);
	}
	/* the reclaimer runs, the program touches the data: none may leave */
	for (int round = 0; round < 5; round++) {
		check(p, len, 5, "locked buffer");
		usleep(100000);
		if ((dev = on_device(p, len)))
			FAIL("%zu pages of the locked buffer went to the device", dev);
		if (q && (dev = on_device(q, qlen)))
			FAIL("%zu pages of the buffer mapped after mlockall went to the device", dev);
	}
	if (all ? munlockall() : munlock(p, len))
		FAIL("%s: %s", all ? "munlockall" : "munlock", strerror(errno));
	stats_get(&s);
	if (s.locked_bytes)
		FAIL("stats say %llu bytes locked after unlocking", (unsigned long long)s.locked_bytes);
	for (int i = 0; i < 500 && !on_device(p, len); i++)
		usleep(10000);
	if (!on_device(p, len))
		FAIL("no page of the buffer went to the device after munlock");
	check(p, len, 5, "buffer after munlock");
	if (q)
		check(q, qlen, 6, "buffer mapped after mlockall");
	return 0;
}

/* Write @mib MiB, read it back twice. */
static int case_full(size_t mib)
{
	size_t len = mib * MiB;
	double t0 = now_s();
	uint64_t *p = malloc(len);
	if (!p)
		FAIL("malloc %zu MiB", mib);
	fill(p, len, 7);
	for (int k = 0; k < 2; k++)
		check(p, len, 7, "data");
	printf("full: %.3f s\n", now_s() - t0);
	return 0;
}

/* Random 8-byte reads over @mib MiB for @secs seconds. */
static int case_thrash(size_t mib, unsigned secs)
{
	size_t len = mib * MiB, n = len / 8;
	uint64_t *p = malloc(len);
	if (!p)
		FAIL("malloc %zu MiB", mib);
	fill(p, len, 9);
	printf("filled\n");
	uint64_t x = 88172645463325252ull, reads = 0;
	double end = now_s() + secs;
	while (now_s() < end) {
		for (int k = 0; k < 256; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t i = x % n;
			if (p[i] != pat(i, 9))
				FAIL("word %zu is wrong", i);
			reads++;
		}
	}
	printf("thrash: %llu reads\n", (unsigned long long)reads);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: preload_mlock lock|lockall|full MIB | thrash MIB SECONDS\n");
		return 2;
	}
	size_t mib = strtoul(argv[2], NULL, 10);
	int rc;
	if (!strcmp(argv[1], "lock"))
		rc = case_lock(mib, false);
	else if (!strcmp(argv[1], "lockall"))
		rc = case_lock(mib, true);
	else if (!strcmp(argv[1], "full"))
		rc = case_full(mib);
	else if (!strcmp(argv[1], "thrash") && argc > 3)
		rc = case_thrash(mib, (unsigned)strtoul(argv[3], NULL, 10));
	else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	if (!rc)
		printf("%s: ok\n", argv[1]);
	return rc;
}
