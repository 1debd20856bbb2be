/*
 * bench_migrate.c — migration throughput, each figure next to a baseline
 * measured in the same run.
 *
 *  1. Demotion by write-protect (the fallback on kernels without
 *     UFFDIO_MOVE, such as Debian 12's 6.1) against demotion by UFFDIO_MOVE
 *     on the same machine: for each folio size a managed region is filled
 *     and demoted to an "emu:" tier with hm_migrate (GB/s, the median of
 *     the rounds), in a process started with HM_DEMOTE_MOVE and then one
 *     with HM_DEMOTE_WP; the ratio WP / MOVE (target: at least 0.5).  A
 *     kernel without UFFDIO_MOVE reports MOVE as skipped.
 *  2. The NUMA tier (numa:NODE) against move_pages(2) of the same pages:
 *     2 MiB folios of a managed region to the node and back with
 *     hm_migrate, against move_pages of a plain anonymous mapping of the
 *     same size in 4 KiB pages as a managed folio's (MADV_NOHUGEPAGE),
 *     filled the same way (target: at least 1.0).  On a machine
 *     with a memory-only node (the 6.1 guest) pages really move; on one
 *     with a single node the tier is numa:0,cpus and both sides only ask
 *     the kernel to leave pages where they are (what is measured is then
 *     hetmem's own cost around the call).
 * Every region is verified after each move.
 *
 * Usage: bench_migrate [--quick]   (--quick: 64 MiB per size, 3 rounds)
 * Exit status: 0 when everything ran and verified, 1 otherwise.
 */
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hetmem.h"

#define PG 4096ul

static size_t region_mb = 256;
static int rounds = 5;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void fill(char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len / 8; i++)
		((uint64_t *)p)[i] = (i * 0x9e3779b97f4a7c15ull) ^ seed;
}

static int verify(const char *p, size_t len, unsigned seed, const char *what)
{
	for (size_t i = 0; i < len / 8; i++)
		if (((const uint64_t *)p)[i] != ((i * 0x9e3779b97f4a7c15ull) ^ seed)) {
			fprintf(stderr, "bench_migrate: %s: word %zu is wrong\n", what, i);
			return -1;
		}
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

/* Demotion GB/s (median) of each folio size in mode @mode into @out[3];
 * -1: the mode is not available, 1: a failure. */
static int demote_run(enum hm_demote_mode mode, double out[3])
{
	struct hm_config cfg = {.demote = mode};
	if (hm_init(&cfg)) {
		printf("  %s: not available here: %s\n", mode == HM_DEMOTE_MOVE ? "move" : "wp", hm_last_error());
		return -1;
	}
	int rc = 0;
	size_t len = region_mb << 20;
	char spec[64];
	snprintf(spec, sizeof(spec), "emu:%zuM", 2 * region_mb);
	int t = hm_tier_add(spec);
	if (t <= 0)
		fprintf(stderr, "bench_migrate: %s\n", hm_last_error());
	const size_t fsz[3] = {HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M};
	for (int k = 0; k < 3 && t > 0 && !rc; k++) {
		char *p = hm_alloc(len, fsz[k]);
		if (!p) {
			rc = 1;
			break;
		}
		double v[16];
		for (int r = 0; r < rounds && !rc; r++) {
			fill(p, len, 100u + (unsigned)r);
			double t0 = now_s();
			long m = hm_migrate(p, len, t, NULL);
			double dt = now_s() - t0;
			if (m != (long)(len / PG) || verify(p, len, 100u + (unsigned)r, "demoted region")) {
				fprintf(stderr, "bench_migrate: demotion moved %ld of %zu pages: %s\n", m, len / PG,
					hm_last_error());
				rc = 1;
			}
			v[r] = (double)len / dt / 1e9;
		}
		if (!rc)
			out[k] = median(v, rounds);
		hm_free(p, 0);
	}
	if (t <= 0)
		rc = 1;
	hm_shutdown();
	return rc;
}

/* A memory-only node, or -1 */
static int memory_node(void)
{
	for (int n = 0; n <= numa_max_node(); n++) {
		char p[96], buf[64] = "";
		snprintf(p, sizeof(p), "/sys/devices/system/node/node%d/cpulist", n);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
		if ((!buf[0] || buf[0] == '\n') && numa_node_size64(n, NULL) > 0)
			return n;
	}
	return -1;
}

/* move_pages of every page of [p, +len) to @node: seconds, or -1 */
static double move_all(char *p, size_t len, int node)
{
	size_t n = len / PG;
	void **pages = malloc(n * sizeof(void *));
	int *nodes = malloc(n * sizeof(int)), *st = malloc(n * sizeof(int));
	for (size_t i = 0; i < n; i++) {
		pages[i] = p + i * PG;
		nodes[i] = node;
	}
	double t0 = now_s();
	long rc = move_pages(0, n, pages, nodes, st, MPOL_MF_MOVE);
	/* pages busy for a moment (-EBUSY: held by the LRU's per-CPU
	 * batches) once more, as numa.c does */
	for (int tries = 0; rc >= 0 && tries < 2; tries++) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (st[i] == -EBUSY || st[i] == -EAGAIN)
				pages[m++] = pages[i];
		if (!m)
			break;
		int *st2 = malloc(m * sizeof(int));
		rc = move_pages(0, m, pages, nodes, st2, MPOL_MF_MOVE);
		for (size_t i = 0, j = 0; i < n && j < m; i++)
			if (st[i] == -EBUSY || st[i] == -EAGAIN)
				st[i] = st2[j++];
		free(st2);
	}
	double dt = now_s() - t0;
	size_t bad = 0;
	int first = 0;
	for (size_t i = 0; i < n; i++)
		if (st[i] != node && !bad++)
			first = st[i];
	if (rc < 0 || bad)
		fprintf(stderr, "bench_migrate: move_pages to node %d: %s, %zu of %zu pages elsewhere (the first: %d)\n",
			node, rc < 0 ? strerror(errno) : "done", bad, n, first);
	free(pages);
	free(nodes);
	free(st);
	return rc < 0 || bad ? -1 : dt;
}

static int numa_run(void)
{
	if (numa_available() < 0) {
		printf("numa: skipped: this kernel has no NUMA support\n");
		return 0;
	}
	int node = memory_node();
	bool real = node >= 0;
	if (!real)
		node = 0;
	char spec[64];
	snprintf(spec, sizeof(spec), real ? "numa:%d" : "numa:%d,cpus", node);
	int local = numa_node_of_cpu(sched_getcpu());
	if (hm_init(NULL)) {
		printf("numa: skipped: %s\n", hm_last_error());
		return 0;
	}
	int t = hm_tier_add(spec);
	if (t < 0) {
		printf("numa: skipped: %s\n", hm_last_error());
		hm_shutdown();
		return 0;
	}
	size_t len = region_mb << 20;
	char *p = hm_alloc(len, HM_FOLIO_2M);
	char *q = mmap(NULL, len + HM_FOLIO_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc = 0;
	if (!p || q == MAP_FAILED) {
		hm_shutdown();
		return 1;
	}
	q = (char *)(((uintptr_t)q + HM_FOLIO_2M - 1) & ~(uintptr_t)(HM_FOLIO_2M - 1));
	/* the same pages: a managed folio is 512 pages of 4 KiB (userfaultfd
	 * fills 4 KiB at a time), so the baseline's are too, not one THP */
	madvise(q, len, MADV_NOHUGEPAGE);
	double hto[16], hback[16], kto[16], kback[16];
	for (int r = 0; r < rounds && !rc; r++) {
		fill(p, len, 200u + (unsigned)r);
		fill(q, len, 200u + (unsigned)r);
		double t0 = now_s();
		long m1 = hm_migrate(p, len, t, NULL);
		double t1 = now_s();
		long m2 = hm_migrate(p, len, 0, NULL);
		double t2 = now_s();
		hto[r] = (double)len / (t1 - t0) / 1e9;
		hback[r] = (double)len / (t2 - t1) / 1e9;
		double a = move_all(q, len, node), b = move_all(q, len, local);
		kto[r] = (double)len / a / 1e9;
		kback[r] = (double)len / b / 1e9;
		if (m1 != (long)(len / PG) || m2 != (long)(len / PG) || a < 0 || b < 0 ||
		    verify(p, len, 200u + (unsigned)r, "numa tier region") || verify(q, len, 200u + (unsigned)r, "move_pages region")) {
			fprintf(stderr, "bench_migrate: numa round %d failed (hetmem %ld/%ld pages, move_pages %s)\n", r, m1,
				m2, a < 0 || b < 0 ? "failed" : "ok");
			rc = 1;
		}
	}
	if (!rc) {
		double h1 = median(hto, rounds), h2 = median(hback, rounds), k1 = median(kto, rounds),
		       k2 = median(kback, rounds);
		printf("numa: %s, %zu MiB of 2 MiB folios%s\n", spec, region_mb,
		       real ? "" : " (one node here: nothing really moves; hetmem's cost around move_pages)");
		printf("  %-10s %10s %12s %7s\n", "direction", "hetmem", "move_pages", "ratio");
		printf("  %-10s %7.2f GB/s %7.2f GB/s %7.2f\n", "to node", h1, k1, h1 / k1);
		printf("  %-10s %7.2f GB/s %7.2f GB/s %7.2f\n", "back", h2, k2, h2 / k2);
		printf("  target: hetmem at least as fast as move_pages (ratio >= 1.0): %s\n",
		       h1 / k1 >= 1.0 && h2 / k2 >= 1.0 ? "met" : "not met");
	}
	hm_free(p, 0);
	hm_shutdown();
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--quick")) {
		region_mb = 64;
		rounds = 3;
	} else if (argc > 1) {
		fprintf(stderr, "usage: bench_migrate [--quick]\n");
		return 2;
	}
	double mv[3] = {0}, wp[3] = {0};
	int rm = demote_run(HM_DEMOTE_MOVE, mv);
	int rw = demote_run(HM_DEMOTE_WP, wp);
	if (rm > 0 || rw > 0)
		return 1;
	const char *names[3] = {"4 KiB", "64 KiB", "2 MiB"};
	printf("demotion to emu:, %zu MiB per folio size, median of %d\n", region_mb, rounds);
	printf("  %-8s %10s %10s %7s\n", "folio", "move", "wp", "wp/move");
	bool met = true;
	for (int k = 0; k < 3; k++) {
		if (rm < 0 || rw < 0) {
			char a[32] = "n/a", b[32] = "n/a";
			if (!rm)
				snprintf(a, sizeof(a), "%.2f GB/s", mv[k]);
			if (!rw)
				snprintf(b, sizeof(b), "%.2f GB/s", wp[k]);
			printf("  %-8s %10s %10s %7s\n", names[k], a, b, "-");
			continue;
		}
		printf("  %-8s %5.2f GB/s %5.2f GB/s %7.2f\n", names[k], mv[k], wp[k], wp[k] / mv[k]);
		met &= wp[k] / mv[k] >= 0.5;
	}
	if (rm == 0 && rw == 0)
		printf("  target: write-protect at least half of UFFDIO_MOVE at every size: %s\n", met ? "met" : "not met");
	return numa_run();
}
