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

	tier_round_trip(ft, 300, "file");
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
