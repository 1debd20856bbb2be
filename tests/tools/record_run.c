/*
 * record_run.c — a short run for the heatmap test: a 32 MiB region under an
 * 8 MiB budget, its first three quarters written once (the last quarter is
 * never touched), then its second quarter kept busy for about a second, and
 * a second region of 4 MiB written once, while a record is taken (HETMEM_RECORD from the environment, or
 * the path given as argv[1] through hm_record_start), after checking that
 * hm_record_start refuses bad input (and leaves a record already open by
 * HETMEM_RECORD alone).  Exits 77 (skipped) without userfaultfd.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hm_test.h"

int main(int argc, char **argv)
{
	hm_test_require_uffd();
	/* bad input: a clear error, and no record is opened */
	if (hm_record_start("/tmp/x", 0) != -ENODEV) {
		fprintf(stderr, "record_run: hm_record_start before hm_init did not fail with -ENODEV\n");
		return 1;
	}
	if (hm_init(NULL)) {
		fprintf(stderr, "record_run: hm_init: %s\n", hm_last_error());
		return 1;
	}
	struct {
		const char *path;
		unsigned ms;
		int err;
	} bad[] = {{NULL, 0, -EINVAL}, {"", 0, -EINVAL}, {"/tmp/x", 5, -EINVAL}, {"/tmp/x", 60001, -EINVAL},
		   {"/nonexistent/dir/x", 0, -ENOENT}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = hm_record_start(bad[i].path, bad[i].ms);
		if (rc != bad[i].err || !hm_last_error()[0]) {
			fprintf(stderr, "record_run: hm_record_start(%s, %u) = %d, expected %d\n",
				bad[i].path ? bad[i].path : "NULL", bad[i].ms, rc, bad[i].err);
			return 1;
		}
		printf("record_run: bad input refused: %s\n", hm_last_error());
	}
	if (argc > 1 && hm_record_start(argv[1], 20)) {
		fprintf(stderr, "record_run: hm_record_start: %s\n", hm_last_error());
		return 1;
	}
	int t = hm_tier_add("emu:64M");
	size_t len = 32 << 20;
	uint64_t *p = hm_alloc(len, HM_FOLIO_4K), *q = hm_alloc(4 << 20, HM_FOLIO_4K);
	if (t < 0 || !p || !q || hm_budget_set(8 << 20, 0, 0, t)) {
		fprintf(stderr, "record_run: set-up: %s\n", hm_last_error());
		return 1;
	}
	for (size_t i = 0; i < len / 8 / 4 * 3; i++)
		p[i] = i;
	for (size_t i = 0; i < (4 << 20) / 8; i++)
		q[i] = i;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t x = 88172645463325252ull, sum = 0;
	do {
		for (int k = 0; k < 4096; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			sum += p[(len / 32) + x % (len / 32)]; /* the second quarter */
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < 1200);
	struct hm_stats s;
	hm_stats_get(&s);
	printf("record_run: %llu samples, %llu us spent sampling (sum %llx)\n", (unsigned long long)s.record_samples,
	       (unsigned long long)s.record_us, (unsigned long long)sum);
	int rc = hm_shutdown();
	if (rc || s.record_samples < 2) {
		fprintf(stderr, "record_run: shutdown %d, %llu samples\n", rc, (unsigned long long)s.record_samples);
		return 1;
	}
	return 0;
}
