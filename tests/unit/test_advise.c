/*
 * test_advise.c — hm_advise(): bad input is refused with a clear error and
 * changes no advice; ranges split, replace and merge as documented; and end
 * to end, the reclaimer never demotes a HOT range and demotes a COLD range
 * before folios the policy would keep.
 */
#include "unit.h"

#include <time.h>

static void expect_advice(char *p, size_t from, size_t to, int want)
{
	for (size_t i = from; i < to; i++)
		if (hm_advice_at(p + i * PG) != want)
			fail_msg("page %zu: advice %d, expected %d", i, hm_advice_at(p + i * PG), want);
}

static void test_bad_input(void **state)
{
	char *p = hm_alloc(64 * PG, HM_FOLIO_4K);
	char *q = hm_alloc(16 * PG, HM_FOLIO_4K);
	assert_non_null(p);
	assert_non_null(q);
	EXPECT_OK(hm_advise(p, 8 * PG, HM_ADVISE_HOT));
	EXPECT_ERR_MSG(hm_advise(p, 64 * PG, 7), EINVAL, "unknown advice");
	EXPECT_ERR_MSG(hm_advise(p + 1, PG, HM_ADVISE_COLD), EINVAL, "aligned");
	EXPECT_ERR(hm_advise(p, PG + 1, HM_ADVISE_COLD), EINVAL);
	EXPECT_ERR(hm_advise(p, 0, HM_ADVISE_COLD), EINVAL);
	char stack[2 * 4096] __attribute__((aligned(4096)));
	EXPECT_ERR_MSG(hm_advise(stack, PG, HM_ADVISE_COLD), EINVAL, "not all managed");
	/* runs off the end of the allocation: nothing is changed, not even
	 * the managed part */
	EXPECT_ERR(hm_advise(p, 128 * PG, HM_ADVISE_COLD), EINVAL);
	EXPECT_ERR(hm_advice_at(stack), EINVAL);
	expect_advice(p, 0, 8, HM_ADVISE_HOT);
	expect_advice(p, 8, 64, HM_ADVISE_NORMAL);
	/* more than 1024 separate ranges in one allocation */
	char *big = hm_alloc(4096 * PG, HM_FOLIO_4K);
	assert_non_null(big);
	for (size_t i = 0; i < 1024; i++)
		EXPECT_OK(hm_advise(big + 2 * i * PG, PG, (i & 1) ? HM_ADVISE_HOT : HM_ADVISE_COLD));
	EXPECT_ERR_MSG(hm_advise(big + 2048 * PG, PG, HM_ADVISE_COLD), ENOSPC, "advice ranges");
	expect_advice(big, 2048, 2049, HM_ADVISE_NORMAL);
	expect_advice(big, 2046, 2047, HM_ADVISE_HOT);
	EXPECT_OK(hm_advise(big, 4096 * PG, HM_ADVISE_NORMAL)); /* clearing always fits */
	expect_advice(big, 0, 4096, HM_ADVISE_NORMAL);
	hm_free(big, 0);
	hm_free(q, 0);
	hm_free(p, 0);
	hm_shutdown();
	EXPECT_ERR(hm_advise(p, PG, HM_ADVISE_HOT), ENODEV);
	assert_int_equal(hm_init(NULL), 0);
}

static void test_ranges(void **state)
{
	char *p = hm_alloc(32 * PG, HM_FOLIO_4K);
	char *q = hm_alloc(32 * PG, HM_FOLIO_64K); /* 16 pages per folio */
	assert_non_null(p);
	assert_non_null(q);
	EXPECT_OK(hm_advise(p + 4 * PG, 8 * PG, HM_ADVISE_HOT));   /* [4,12) hot */
	EXPECT_OK(hm_advise(p + 8 * PG, 8 * PG, HM_ADVISE_COLD));  /* [8,16) cold */
	EXPECT_OK(hm_advise(p + 10 * PG, PG, HM_ADVISE_NORMAL));   /* hole at 10 */
	expect_advice(p, 0, 4, HM_ADVISE_NORMAL);
	expect_advice(p, 4, 8, HM_ADVISE_HOT);
	expect_advice(p, 8, 10, HM_ADVISE_COLD);
	expect_advice(p, 10, 11, HM_ADVISE_NORMAL);
	expect_advice(p, 11, 16, HM_ADVISE_COLD);
	expect_advice(p, 16, 32, HM_ADVISE_NORMAL);
	EXPECT_OK(hm_advise(p + 10 * PG, PG, HM_ADVISE_COLD));     /* merges back */
	expect_advice(p, 8, 16, HM_ADVISE_COLD);
	/* a folio's advice is that of its first page */
	EXPECT_OK(hm_advise(q + 16 * PG, PG, HM_ADVISE_HOT));
	expect_advice(q, 0, 16, HM_ADVISE_NORMAL);
	expect_advice(q, 16, 32, HM_ADVISE_HOT);
	/* freed memory forgets its advice */
	hm_free(p, 0);
	char *p2 = hm_alloc(32 * PG, HM_FOLIO_4K);
	assert_non_null(p2);
	expect_advice(p2, 0, 32, HM_ADVISE_NORMAL);
	hm_free(p2, 0);
	hm_free(q, 0);
}

static uint64_t resident_now(void)
{
	struct hm_stats s;
	hm_stats_get(&s);
	return s.resident_bytes;
}

static size_t in_ram(void *p, size_t len)
{
	size_t np = len / PG, n = 0;
	int *w = calloc(np, sizeof(int));
	assert_non_null(w);
	assert_int_equal(hm_where(p, len, w), 0);
	for (size_t i = 0; i < np; i++)
		n += w[i] == 0;
	free(w);
	return n;
}

/* Wait for the reclaimer to be done: residency at most the high watermark
 * (a pass demotes towards the low one, but may stop between the two, and
 * none starts below the high one), then two more passes counted, so that
 * the one in flight has ended.  Not a fixed time: under software emulation
 * a pass takes seconds. */
static void settle(void)
{
	struct hm_budget b;
	assert_int_equal(hm_budget_get(&b), 0);
	HM_WAIT_UNTIL(resident_now() <= b.high, HM_WAIT_CAP_MS);
	assert_true(resident_now() <= b.high);
	uint64_t scans = stats_now().reclaim_scans;
	HM_WAIT_UNTIL(stats_now().reclaim_scans >= scans + 2, HM_WAIT_CAP_MS);
}

/* HOT: the first pages written (the ones every policy would demote first)
 * stay in RAM.  COLD: read again last (with the budget lifted, so that they
 * are all in when reclaim starts), they still leave RAM before the normal
 * folios the policy ranks colder. */
static void test_reclaimer_honours(void **state)
{
	const char *pols[] = {"recency", "fifo"};
	int t = hm_tier_add("emu:128M");
	assert_true(t > 0);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(hm_policy_set(pols[k]), 0);
		size_t len = 32 << 20, hot = 4 << 20, budget = 8 << 20;
		uint64_t *p = hm_alloc(len, HM_FOLIO_4K);
		assert_non_null(p);
		char *c = (char *)p;
		EXPECT_OK(hm_advise(p, hot, HM_ADVISE_HOT));
		EXPECT_OK(hm_advise(c + hot, 4 << 20, HM_ADVISE_COLD));
		assert_int_equal(hm_budget_set(budget, 0, 0, t), 0);
		struct hm_stats s0 = stats_now();
		for (size_t i = 0; i < len / 8; i++)
			p[i] = i ^ 0xad51ce;
		settle();
		assert_int_equal(in_ram(p, hot), hot / PG);
		/* the newest normal pages are in RAM; now read the COLD range
		 * again: it comes back, and goes out again before them */
		size_t tail = 1 << 20;
		assert_int_equal(in_ram(c + len - tail, tail), tail / PG);
		uint64_t sum = 0;
		assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
		for (size_t i = hot / 8; i < (hot + (4 << 20)) / 8; i += PG / 8)
			sum += p[i];
		assert_int_equal(hm_budget_set(budget, 0, 0, t), 0);
		settle();
		/* and the COLD range out (the check below), which that pass
		 * did, or a later one does */
		HM_WAIT_UNTIL(in_ram(c + hot, 4 << 20) <= (4 << 20) / PG / 10, HM_WAIT_CAP_MS);
		printf("policy %s: hot %zu/%zu pages in RAM, cold %zu/%zu, newest normal %zu/%zu (sum %llx)\n",
		       pols[k], in_ram(p, hot), hot / PG, in_ram(c + hot, 4 << 20), (size_t)(4 << 20) / PG,
		       in_ram(c + len - tail, tail), tail / PG, (unsigned long long)sum);
		assert_int_equal(in_ram(p, hot), hot / PG);
		/* without the advice the re-read range would be the newest and
		 * stay; the batch may take a few normal folios beyond it */
		assert_true(in_ram(c + hot, 4 << 20) <= (4 << 20) / PG / 10);
		assert_true(in_ram(c + len - tail, tail) >= tail / PG * 3 / 4);
		struct hm_stats s1 = stats_now();
		assert_true(s1.advise_hot_kept > s0.advise_hot_kept);
		assert_true(s1.advise_cold_first > s0.advise_cold_first);
		for (size_t i = 0; i < len / 8; i++)
			if (p[i] != (i ^ 0xad51ce))
				fail_msg("word %zu lost", i);
		assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
		hm_free(p, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_input, unit_setup_uffd, unit_teardown_plain),
		cmocka_unit_test_setup_teardown(test_ranges, unit_setup_uffd, unit_teardown_plain),
		cmocka_unit_test_setup_teardown(test_reclaimer_honours, unit_setup_uffd, unit_teardown_plain),
	};
	return cmocka_run_group_tests_name("hm_advise", tests, NULL, NULL);
}
