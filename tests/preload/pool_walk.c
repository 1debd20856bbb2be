/*
 * pool_walk.c — the footprint of a program whose pages keep moving between
 * RAM and the emulated device.  Run under `hetmem run --dram 16M --tier
 * emu:1G` (an emulated pool in RAM), it walks a 64 MiB buffer PASSES
 * times, writing every page and checking what it wrote before, and samples
 * its own memory after every pass: VmRSS (which counts the pool's window,
 * RssShmem, as well as RssAnon) and the emulated tiers' use from
 * hm_tier_info.  Each page is demoted and fetched back on every pass; if the
 * pool kept the memory of freed slots, or kept moving on to fresh ones, the
 * footprint would grow by the data moved on each pass.
 *
 * Pass: the peak VmRSS stays under 2x the buffer (plus 16 MiB for the
 * program, the libraries and the budget's slack), the tiers' used bytes stay
 * within the buffer, and every page reads back what was written.
 * Usage: pool_walk [PASSES]   Exit 0 = pass, 1 = fail.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cases_common.h"

#define BUF (64 * MiB)

static uint64_t status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t v = 0;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtoull(line + kl + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	int passes = argc > 1 ? atoi(argv[1]) : 8;
	need_hetmem();
	unsigned char *p = mmap(NULL, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	uint64_t peak_rss = 0, peak_used = 0, peak_cap = 0, released = 0;
	for (int pass = 0; pass < passes; pass++) {
		for (size_t off = 0; off < BUF; off += 4096) {
			uint64_t *w = (uint64_t *)(p + off);
			uint64_t want = pass ? (uint64_t)(pass - 1) << 40 | off : 0;
			if (*w != want) {
				fprintf(stderr, "FAIL: pass %d: page at +%zu reads %#llx, expected %#llx\n", pass, off,
					(unsigned long long)*w, (unsigned long long)want);
				return 1;
			}
			*w = (uint64_t)pass << 40 | off;
		}
		uint64_t rss = status_kib("VmRSS") << 10, used = 0;
		for (int id = 1; id < tier_count(); id++) {
			struct hm_tier_info ti;
			if (tier_info(id, &ti) == 0) {
				used += ti.used;
				released = ti.released;
				if (ti.capacity > peak_cap)
					peak_cap = ti.capacity;
			}
		}
		printf("pass %d: VmRSS %llu MiB (RssShmem %llu MiB), device used %llu MiB, released %llu MiB\n", pass,
		       (unsigned long long)(rss / MiB), (unsigned long long)(status_kib("RssShmem") / 1024),
		       (unsigned long long)(used / MiB), (unsigned long long)(released / MiB));
		if (rss > peak_rss)
			peak_rss = rss;
		if (used > peak_used)
			peak_used = used;
	}
	printf("peak VmRSS %llu MiB, peak device used %llu MiB (buffer %lu MiB)\n",
	       (unsigned long long)(peak_rss / MiB), (unsigned long long)(peak_used / MiB), BUF / MiB);
	if (peak_used == 0) {
		fprintf(stderr, "FAIL: nothing went to the device: the test does not test the pool\n");
		return 1;
	}
	if (peak_used > BUF) {
		fprintf(stderr, "FAIL: the device holds %llu MiB for a %lu MiB buffer\n",
			(unsigned long long)(peak_used / MiB), BUF / MiB);
		return 1;
	}
	if (peak_rss > 2 * BUF + 16 * MiB) {
		fprintf(stderr, "FAIL: peak VmRSS %llu MiB for a %lu MiB buffer: the pool keeps the memory of "
				"freed slots\n", (unsigned long long)(peak_rss / MiB), BUF / MiB);
		return 1;
	}
	return 0;
}
