/*
 * test_numa.c — the NUMA node tier (numa:NODE, a coherent tier: tiers/numa.c).
 *
 * On a machine with a memory-only node (the 6.1 guest's node 1, tests/vm)
 * the tier is that node and the tests check where the kernel says each page
 * is (move_pages with no target); on a machine without one (these hosts:
 * one node) the tier is node 0 with ",cpus", where moves leave pages where
 * they are, and the tests check the page words, counts and data only.
 * Pages go to the tier and back with a per-page result and stay mapped
 * there (reading them takes no fault); the budget sends cold pages to the
 * tier and counts only local pages; a page used on the tier comes back;
 * discards and frees give the tier's count back; bad specs fail naming what
 * was typed.  With a real node, nothing of the process is on it but what
 * hetmem put there (/proc/self/numa_maps).
 */
#include "unit.h"

#include <numa.h>
#include <numaif.h>

static int node = -1;  /* the tier's node */
static bool real;      /* a memory-only node: placement is checked */
static char spec[64];

/* 1: node @n has CPUs, 0: none, -1: no such node */
static int node_cpus(int n)
{
	char p[96], buf[64] = "";
	snprintf(p, sizeof(p), "/sys/devices/system/node/node%d/cpulist", n);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return buf[0] && buf[0] != '\n';
}

static int setup(void **state)
{
	if (numa_available() < 0) {
		printf("skipped: this kernel has no NUMA support\n");
		exit(77);
	}
	for (int n = 0; n <= numa_max_node() && node < 0; n++)
		if (node_cpus(n) == 0 && numa_node_size64(n, NULL) > 0)
			node = n;
	real = node >= 0;
	if (!real)
		node = 0;
	snprintf(spec, sizeof(spec), real ? "numa:%d" : "numa:%d,cpus", node);
	printf("tier %s (%s)\n", spec, real ? "a memory-only node: placement checked" : "no memory-only node here");
	/* these tests count the pages never touched (hm_migrate skips them):
	 * first-touch fault-around (fault.c) would fill the ones after a
	 * buffer filled in order */
	setenv("HETMEM_READAHEAD", "0", 1);
	return hm_init(NULL) ? -1 : 0;
}

static int teardown(void **state)
{
	hm_shutdown();
	return 0;
}

static void fill(char *p, size_t np, unsigned seed)
{
	for (size_t i = 0; i < np * PG / 8; i++)
		((uint64_t *)p)[i] = (i * 0x9e3779b97f4a7c15ull) ^ seed;
}

static long check(const char *p, size_t np, unsigned seed)
{
	for (size_t i = 0; i < np * PG / 8; i++)
		if (((const uint64_t *)p)[i] != ((i * 0x9e3779b97f4a7c15ull) ^ seed))
			return (long)(i * 8 / PG);
	return -1;
}

/* pages of [p, +np) the kernel has on node @n */
static size_t count_node(const char *p, size_t np, int n)
{
	void **pages = malloc(np * sizeof(void *));
	int *st = malloc(np * sizeof(int));
	for (size_t i = 0; i < np; i++)
		pages[i] = (void *)(p + i * PG);
	assert_int_equal(move_pages(0, np, pages, NULL, st, 0), 0);
	size_t c = 0;
	for (size_t i = 0; i < np; i++)
		c += st[i] == n;
	free(pages);
	free(st);
	return c;
}

static uint64_t tier_used(int id)
{
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(id, &ti), 0);
	return ti.used / PG;
}

static void test_bad_specs(void **state)
{
	EXPECT_ERR_MSG(hm_tier_add("numa:x"), EINVAL, "numa:x");
	EXPECT_ERR_MSG(hm_tier_add("numa:99"), ENODEV, "node 99 does not exist");
	EXPECT_ERR_MSG(hm_tier_add("numa:-1"), EINVAL, "numa:-1");
	char s[96];
	snprintf(s, sizeof(s), "numa:%d,color=red", node);
	EXPECT_ERR_MSG(hm_tier_add(s), EINVAL, "color=red");
	snprintf(s, sizeof(s), "%s,size=1000T", spec);
	EXPECT_ERR_MSG(hm_tier_add(s), E2BIG, "1000T");
	snprintf(s, sizeof(s), "%s,size=lots", spec);
	EXPECT_ERR_MSG(hm_tier_add(s), EINVAL, "lots");
	/* a node with CPUs is not memory-only: refused without ",cpus" */
	for (int n = 0; n <= numa_max_node(); n++) {
		if (node_cpus(n) == 1) {
			snprintf(s, sizeof(s), "numa:%d", n);
			EXPECT_ERR_MSG(hm_tier_add(s), EINVAL, ",cpus");
			break;
		}
	}
	/* the same node twice */
	int id = EXPECT_OK(hm_tier_add(spec));
	EXPECT_ERR_MSG(hm_tier_add(spec), EEXIST, "already");
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(id, &ti), 0);
	assert_true(ti.coherent);
	assert_string_equal(ti.kind, "numa");
	assert_int_equal(hm_tier_remove(id), 0);
}

/* Every folio size to the node and back: a result per page, in place there
 * (no fault to read), intact; untouched pages stay untouched. */
static void test_move(void **state)
{
	int id = EXPECT_OK(hm_tier_add(spec));
	const size_t fsz[] = {HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M};
	const size_t np = 1024;
	int *st = malloc(np * sizeof(int));
	for (int k = 0; k < 3; k++) {
		char *p = hm_alloc(np * PG, fsz[k]);
		assert_non_null(p);
		fill(p, np - 512, 900 + k); /* the last 2 MiB never touched */
		assert_int_equal(hm_migrate(p, np * PG, id, st), (long)(np - 512));
		for (size_t i = 0; i < np; i++)
			if (st[i] != (i < np - 512 ? 0 : HM_MIGRATE_SKIPPED))
				fail_msg("folio %zu: page %zu result %d", fsz[k], i, st[i]);
		assert_int_equal(count_on(p, np - 512, id), np - 512);
		assert_int_equal(count_on(p + (np - 512) * PG, 512, HM_WHERE_NONE), 512);
		assert_int_equal(tier_used(id), np - 512);
		if (real)
			assert_int_equal(count_node(p, np - 512, node), np - 512);
		struct hm_stats s0;
		assert_int_equal(hm_stats_get(&s0), 0);
		long bad = check(p, np - 512, 900 + k);
		if (bad >= 0)
			fail_msg("folio %zu: page %ld wrong on the node", fsz[k], bad);
		struct hm_stats s1;
		assert_int_equal(hm_stats_get(&s1), 0);
		assert_int_equal(s1.faults_fetch, s0.faults_fetch); /* read in place */
		assert_int_equal(hm_migrate(p, np * PG, 0, st), (long)(np - 512));
		for (size_t i = 0; i < np; i++)
			assert_int_equal(st[i], i < np - 512 ? 0 : HM_MIGRATE_SKIPPED);
		assert_int_equal(count_on(p, np - 512, 0), np - 512);
		assert_int_equal(tier_used(id), 0);
		if (real)
			assert_int_equal(count_node(p, np - 512, node), 0);
		assert_int_equal(check(p, np - 512, 900 + k), -1);
		/* on the node again, then freed: the tier's count goes back */
		assert_int_equal(hm_migrate(p, np * PG, id, NULL), (long)(np - 512));
		assert_int_equal(hm_free(p, 0), 0);
		assert_int_equal(tier_used(id), 0);
	}
	free(st);
	assert_int_equal(hm_tier_remove(id), 0);
}

/* A page the program discards on the node reads as zeros, is not on the
 * tier any more, and a new write lands in RAM. */
static void test_discard(void **state)
{
	int id = EXPECT_OK(hm_tier_add(spec));
	const size_t np = 256;
	char *p = hm_alloc(np * PG, HM_FOLIO_4K);
	fill(p, np, 910);
	assert_int_equal(hm_migrate(p, np * PG, id, NULL), (long)np);
	assert_int_equal(madvise(p, 64 * PG, MADV_DONTNEED), 0);
	for (size_t i = 0; i < 64 * PG; i++)
		if (p[i])
			fail_msg("byte %zu of a discarded page is %d", i, p[i]);
	/* the REMOVE event is read by the handler: wait for its count */
	for (int k = 0; k < 200 && tier_used(id) != np - 64; k++)
		usleep(10000);
	assert_int_equal(tier_used(id), np - 64);
	memset(p, 1, 64 * PG);
	assert_int_equal(count_on(p, 64, 0), 64);
	if (real)
		assert_int_equal(count_node(p, 64, node), 0);
	char *want = malloc(np * PG);
	fill(want, np, 910);
	assert_int_equal(memcmp(p + 64 * PG, want + 64 * PG, (np - 64) * PG), 0);
	free(want);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(tier_used(id), 0);
	assert_int_equal(hm_tier_remove(id), 0);
}

/* pages of the whole process on node @n, from /proc/self/numa_maps */
static size_t numa_maps_on(int n)
{
	FILE *f = fopen("/proc/self/numa_maps", "r");
	assert_non_null(f);
	char line[4096], key[16];
	snprintf(key, sizeof(key), " N%d=", n);
	size_t pages = 0;
	while (fgets(line, sizeof(line), f)) {
		char *k = strstr(line, key);
		if (k)
			pages += strtoull(k + strlen(key), NULL, 10);
	}
	fclose(f);
	return pages;
}

/* Under a budget: cold pages go to the node, the local ones stay within
 * the budget, all intact; then a range the program keeps writing comes
 * back to RAM (write tracking or samples see it used on the node). */
static void test_budget(void **state)
{
	int id = EXPECT_OK(hm_tier_add(spec));
	const size_t np = 8192; /* 32 MiB through an 8 MiB budget */
	char *p = hm_alloc(np * PG, HM_FOLIO_4K);
	assert_non_null(p);
	assert_int_equal(hm_budget_set(8 << 20, 0, 0, id), 0);
	fill(p, np, 920);
	size_t on = 0;
	for (int k = 0; k < 600 && (on = count_on(p, np, id)) < np * 3 / 4; k++)
		usleep(50000);
	if (on < np * 3 / 4)
		fail_msg("only %zu of %zu pages went to %s within 30 s", on, np, spec);
	struct hm_stats s;
	assert_int_equal(hm_stats_get(&s), 0);
	printf("%zu of %zu pages on %s, %llu KiB resident (budget 8 MiB)\n", on, np, spec,
	       (unsigned long long)(s.resident_bytes >> 10));
	assert_true(s.resident_bytes <= (10u << 20));
	/* the tier's count is its pages (read again while the reclaimer moves) */
	for (int k = 0; k < 200 && tier_used(id) != (on = count_on(p, np, id)); k++)
		usleep(20000);
	assert_int_equal(tier_used(id), on);
	if (real) {
		assert_true(count_node(p, np, node) >= on);
		/* containment: what the process has on the node is what hetmem
		 * put there (a few pages of slack for the tier's own moves in
		 * flight) */
		size_t there = numa_maps_on(node);
		printf("numa_maps: %zu pages on node %d, %llu on the tier\n", there, node,
		       (unsigned long long)tier_used(id));
		assert_true(there <= tier_used(id) + 64);
	}
	assert_int_equal(check(p, np, 920), -1);
	/* keep writing the first 1 MiB: it comes back */
	unsigned track = 0;
	struct hm_features feat;
	if (!hm_probe_features(&feat))
		track = feat.track;
	/* (read samples alone are rate-limited to 2% of a CPU: too few to
	 * bring 256 pages back within the cap) */
	if (!(track & HM_TRACK_WRITE)) {
		printf("no write tracking here (HETMEM_TRACK=write): the used range's return is not tested\n");
	} else {
		size_t back = 0;
		for (int k = 0; k < 600 && (back = count_on(p, 256, 0)) < 256 * 3 / 4; k++) {
			for (size_t i = 0; i < 256; i++)
				p[i * PG] ^= 1;
			usleep(50000);
		}
		assert_int_equal(hm_stats_get(&s), 0);
		printf("%zu of 256 used pages back in RAM (%llu asked back, %llu moved back)\n", back,
		       (unsigned long long)s.coherent_promote_asks, (unsigned long long)s.coherent_pages_in);
		if (back < 256 * 3 / 4)
			fail_msg("only %zu of 256 pages in use came back from %s within 30 s", back, spec);
	}
	assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(tier_used(id), 0);
	assert_int_equal(hm_tier_remove(id), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_move),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_budget),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
