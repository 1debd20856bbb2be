/*
 * demo.c — `hetmem demo`: a program whose data is bigger than the RAM
 * budget it is given.  It writes DATA bytes of managed memory with at most
 * DRAM bytes resident: by default hetmem's reclaimer keeps it under the
 * budget (hm_budget_set, with the chosen policy); with --manual the demo
 * itself demotes its oldest chunk whenever it would pass the budget
 * (explicit hm_migrate).  It then reads everything back in a second pass —
 * pages on the device fault back transparently, whole folios at a time, with
 * readahead — verifies every word, and prints where the pages were and the
 * counters.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hetmem.h"

int hm_parse_size(const char *s, uint64_t *out);

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t pattern(uint64_t i)
{
	return i * 0x9E3779B97F4A7C15ull ^ (i >> 7);
}

static void residency(const char *when, void *base, size_t len, int tier)
{
	size_t np = len / 4096;
	int *w = malloc(np * sizeof(int));
	if (!w || hm_where(base, len, w)) {
		free(w);
		return;
	}
	size_t ram = 0, dev = 0, none = 0;
	for (size_t i = 0; i < np; i++) {
		if (w[i] == 0)
			ram++;
		else if (w[i] == tier)
			dev++;
		else
			none++;
	}
	printf("  %-22s RAM %6zu MiB | device %6zu MiB | untouched %6zu MiB\n", when, ram * 4096 >> 20,
	       dev * 4096 >> 20, none * 4096 >> 20);
	free(w);
}

/* --manual: demote chunks from *next on (never chunk @k, the one about to
 * be used) until one more chunk fits in the budget. */
static void make_room(uint64_t *mem, uint64_t chunk, uint64_t dram, int tier, size_t *next, size_t k)
{
	struct hm_stats s;
	hm_stats_get(&s);
	while (s.resident_bytes + chunk > dram && *next < k) {
		if (hm_migrate((char *)mem + *next * chunk, chunk, tier, NULL) < 0) {
			fprintf(stderr, "hetmem demo: demotion failed: %s\n", hm_last_error());
			return;
		}
		(*next)++;
		hm_stats_get(&s);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hetmem demo [--dram SIZE] [--data SIZE] [--tier SPEC] [--folio 4K|64K|2M]\n"
		   "                   [--policy recency|frequency|fifo] [--manual]\n"
		   "  Writes --data bytes (default 512M) through a RAM budget of --dram (default 128M):\n"
		   "  the reclaimer demotes cold data to the device tier (default emu:1G) (--manual: the\n"
		   "  demo demotes its oldest chunk itself), then reads it all back (faults bring it\n"
		   "  home) and verifies it.\n");
}

int hm_demo_main(int argc, char **argv)
{
	uint64_t dram = 128ull << 20, data = 512ull << 20, folio = 64 << 10;
	const char *tier_spec = "emu:1G", *policy = NULL;
	bool manual = false;
	static const struct option opts[] = {{"dram", 1, 0, 'd'}, {"data", 1, 0, 's'}, {"tier", 1, 0, 't'},
					      {"folio", 1, 0, 'f'}, {"policy", 1, 0, 'p'}, {"manual", 0, 0, 'm'},
					      {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		uint64_t *dst = c == 'd' ? &dram : c == 's' ? &data : c == 'f' ? &folio : NULL;
		if (dst) {
			if (hm_parse_size(optarg, dst) || *dst == 0) {
				fprintf(stderr, "hetmem demo: bad size '%s' for --%s\n", optarg,
					c == 'd' ? "dram" : c == 's' ? "data" : "folio");
				return 2;
			}
		} else if (c == 't') {
			tier_spec = optarg;
		} else if (c == 'p') {
			policy = optarg;
		} else if (c == 'm') {
			manual = true;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (folio != HM_FOLIO_4K && folio != HM_FOLIO_64K && folio != HM_FOLIO_2M) {
		fprintf(stderr, "hetmem demo: --folio must be 4K, 64K or 2M\n");
		return 2;
	}
	uint64_t chunk = folio > (1 << 20) ? folio : (1 << 20);
	if (dram < 2 * chunk) {
		fprintf(stderr, "hetmem demo: --dram must be at least %llu bytes (two chunks)\n",
			(unsigned long long)(2 * chunk));
		return 2;
	}
	data = (data + chunk - 1) / chunk * chunk;
	int rc = hm_init(NULL);
	if (rc) {
		fprintf(stderr, "hetmem demo: %s\n", hm_last_error());
		return 1;
	}
	int tier = hm_tier_add(tier_spec);
	if (tier < 0) {
		fprintf(stderr, "hetmem demo: %s\n", hm_last_error());
		hm_shutdown();
		return 1;
	}
	if (policy && hm_policy_set(policy)) {
		fprintf(stderr, "hetmem demo: %s\n", hm_last_error());
		hm_shutdown();
		return 2;
	}
	if (!manual && hm_budget_set(dram, 0, 0, tier)) {
		fprintf(stderr, "hetmem demo: %s\n", hm_last_error());
		hm_shutdown();
		return 1;
	}
	uint64_t *mem = hm_alloc(data, folio);
	if (!mem) {
		fprintf(stderr, "hetmem demo: %s\n", hm_last_error());
		hm_shutdown();
		return 1;
	}
	printf("hetmem demo: %llu MiB of data, RAM budget %llu MiB, device tier %d (%s), %llu KiB folios, %s\n",
	       (unsigned long long)(data >> 20), (unsigned long long)(dram >> 20), tier, tier_spec,
	       (unsigned long long)(folio >> 10),
	       manual ? "demoting by hand (--manual)" : "reclaimer on");
	if (!manual)
		printf("  policy %s\n", hm_policy_get());

	/* pass 1: write, demoting the oldest chunk whenever over budget */
	double t0 = now();
	size_t nchunks = data / chunk, oldest = 0;
	uint64_t words_per_chunk = chunk / 8, max_resident = 0;
	for (size_t k = 0; k < nchunks; k++) {
		struct hm_stats s;
		if (manual)
			make_room(mem, chunk, dram, tier, &oldest, k);
		for (uint64_t i = k * words_per_chunk; i < (k + 1) * words_per_chunk; i++)
			mem[i] = pattern(i);
		hm_stats_get(&s);
		if (s.resident_bytes > max_resident)
			max_resident = s.resident_bytes;
	}
	double t1 = now();
	printf("pass 1 (write):  %.2f s, %.0f MiB/s, peak resident %llu MiB\n", t1 - t0,
	       (double)data / (1 << 20) / (t1 - t0), (unsigned long long)(max_resident >> 20));
	residency("after writing:", mem, data, tier);

	/* pass 2: read everything; device pages fault back; keep the budget
	 * by demoting what we have read */
	uint64_t bad = 0;
	size_t behind = 0;
	for (size_t k = 0; k < nchunks; k++) {
		struct hm_stats s;
		if (manual)
			make_room(mem, chunk, dram, tier, &behind, k);
		for (uint64_t i = k * words_per_chunk; i < (k + 1) * words_per_chunk; i++)
			bad += mem[i] != pattern(i);
		hm_stats_get(&s);
		if (s.resident_bytes > max_resident)
			max_resident = s.resident_bytes;
	}
	double t2 = now();
	printf("pass 2 (read+verify): %.2f s, %.0f MiB/s, peak resident %llu MiB\n", t2 - t1,
	       (double)data / (1 << 20) / (t2 - t1), (unsigned long long)(max_resident >> 20));
	residency("after reading:", mem, data, tier);
	hm_stats_print(STDOUT_FILENO);
	printf("verify: %s (%llu bad words of %llu)\n", bad ? "FAILED" : "OK", (unsigned long long)bad,
	       (unsigned long long)(data / 8));
	hm_free(mem, 0);
	rc = hm_shutdown();
	if (rc)
		fprintf(stderr, "hetmem demo: %s\n", hm_last_error());
	return bad || rc ? 1 : 0;
}
