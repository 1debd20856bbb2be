/*
 * test_file_tier.c — a regular file as a device-private tier:
 * "file:PATH,size=64M" creates/grows the file, data of every folio size
 * migrates there and back (explicitly, through CPU faults, and between the
 * file and an emu tier) intact, the tier reports its size and counters, an
 * existing file is reopened without size=, and the file is removed at the
 * end.
 */
#include "unit.h"
#include "hetmem_inject.h"

#include <sys/stat.h>

static char path[64];

static int setup(void **state)
{
	if (hm_init(NULL))
		return -1;
	snprintf(path, sizeof(path), "/tmp/hetmem-unit-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	hm_inject_clear();
	hm_shutdown();
	unlink(path);
	return 0;
}

static void test_file_round_trip(void **state)
{
	char spec[128];
	snprintf(spec, sizeof(spec), "file:%s,size=64M", path);
	int ft = EXPECT_OK(hm_tier_add(spec));
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 64 << 20); /* grown to SIZE */
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(ft, &ti), 0);
	assert_string_equal(ti.kind, "file");
	assert_non_null(strstr(ti.name, path));
	assert_int_equal(ti.capacity, 64 << 20);
	assert_int_equal(ti.used, 0);
	assert_false(ti.coherent);

	/* 8 MiB of each folio size */
	const size_t fsz[] = {HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M};
	char *p[3];
	const size_t np = (8u << 20) / PG;
	for (int k = 0; k < 3; k++) {
		p[k] = hm_alloc(np * PG, fsz[k]);
		assert_non_null(p[k]);
		fill_pattern(p[k], np, 300 + k);
	}
	int *st = malloc(np * sizeof(int)), *w = malloc(np * sizeof(int));
	for (int k = 0; k < 3; k++) {
		assert_int_equal(hm_migrate(p[k], np * PG, ft, st), np);
		for (size_t i = 0; i < np; i++)
			assert_int_equal(st[i], 0);
		assert_int_equal(hm_where(p[k], np * PG, w), 0);
		for (size_t i = 0; i < np; i++)
			assert_int_equal(w[i], ft);
	}
	assert_int_equal(hm_tier_info(ft, &ti), 0);
	assert_int_equal(ti.used, 3 * np * PG);
	assert_int_equal(ti.pages_in, 3 * np);
	/* the data really is in the file: the RAM copies are gone */
	assert_int_equal(stats_now().resident_bytes, 0);

	/* 4K region: explicit migration home */
	assert_int_equal(hm_migrate(p[0], np * PG, 0, st), np);
	ASSERT_PATTERN(p[0], np, 300);
	/* 64K region: CPU faults (with readahead) bring it home */
	ASSERT_PATTERN(p[1], np, 301);
	assert_int_equal(hm_where(p[1], np * PG, w), 0);
	for (size_t i = 0; i < np; i++)
		assert_int_equal(w[i], 0);
	/* 2M region: half through faults, half through a move to an emu tier
	 * and back */
	ASSERT_PATTERN(p[2], np / 2, 302);
	int et = EXPECT_OK(hm_tier_add("emu:8M"));
	assert_int_equal(hm_migrate(p[2] + np / 2 * PG, np / 2 * PG, et, NULL), np / 2);
	assert_int_equal(hm_where(p[2], np * PG, w), 0);
	for (size_t i = 0; i < np; i++)
		assert_int_equal(w[i], i < np / 2 ? 0 : et);
	assert_int_equal(hm_tier_info(ft, &ti), 0);
	assert_int_equal(ti.used, 0);
	assert_int_equal(ti.pages_out, 3 * np);
	assert_int_equal(ti.errors, 0);
	/* emu -> file -> RAM */
	assert_int_equal(hm_migrate(p[2], np * PG, ft, st), np / 2 * 2);
	assert_int_equal(hm_where(p[2], np * PG, w), 0);
	for (size_t i = 0; i < np; i++)
		assert_int_equal(w[i], ft);
	ASSERT_PATTERN(p[2], np, 302);

	/* new data, another round trip: nothing stale comes back */
	fill_pattern(p[0], np, 310);
	assert_int_equal(hm_migrate(p[0], np * PG, ft, NULL), np);
	assert_int_equal(hm_migrate(p[0], np * PG, 0, NULL), np);
	ASSERT_PATTERN(p[0], np, 310);

	for (int k = 0; k < 3; k++)
		assert_int_equal(hm_free(p[k], 0), 0);
	assert_int_equal(hm_tier_remove(et), 0);
	assert_int_equal(hm_tier_remove(ft), 0);
	/* the library never deletes the file: it is still there, full size */
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 64 << 20);

	/* an existing file needs no size= */
	snprintf(spec, sizeof(spec), "file:%s", path);
	ft = EXPECT_OK(hm_tier_add(spec));
	assert_int_equal(hm_tier_info(ft, &ti), 0);
	assert_int_equal(ti.capacity, 64 << 20);
	/* a smaller size= never shrinks it */
	assert_int_equal(hm_tier_remove(ft), 0);
	snprintf(spec, sizeof(spec), "file:%s,size=16M", path);
	ft = EXPECT_OK(hm_tier_add(spec));
	assert_int_equal(hm_tier_info(ft, &ti), 0);
	assert_int_equal(ti.capacity, 16 << 20);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 64 << 20);
	assert_int_equal(hm_tier_remove(ft), 0);

	free(st);
	free(w);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(errno, ENOENT);
}

/* A file tier with pages on it cannot be removed; a full file tier gives
 * per-page -ENOSPC; all data survives. */
static void test_file_busy_and_full(void **state)
{
	char spec[128];
	snprintf(spec, sizeof(spec), "file:%s,size=256K", path);
	int ft = EXPECT_OK(hm_tier_add(spec));
	enum { N = 96 };
	char *p = hm_alloc(N * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, N, 320);
	int st[N];
	assert_int_equal(hm_migrate(p, N * PG, ft, st), 64);
	for (int i = 0; i < N; i++)
		assert_int_equal(st[i], i < 64 ? 0 : -ENOSPC);
	EXPECT_ERR(hm_tier_remove(ft), EBUSY);
	ASSERT_PATTERN(p, N, 320);
	assert_int_equal(hm_tier_remove(ft), 0);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(unlink(path), 0);
}

int main(void)
{
	hm_test_require_uffd();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_busy_and_full, setup, teardown),
	};
	return cmocka_run_group_tests_name("unit_file_tier", tests, NULL, NULL);
}
