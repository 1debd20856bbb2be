/*
 * test_dax.c — a device-dax character device as a device-private tier
 * ("dax:/dev/daxX.Y[,size=SIZE]", tiers/dax.c).
 *
 * Everywhere: bad specs fail naming what was typed (a regular file,
 * /dev/null, a missing path, an unknown option, a bad size).  Where a
 * /dev/dax* device exists (the 6.1 guest's emulated NVDIMM in devdax mode,
 * tests/vm): a size larger than the device fails naming both, a second tier
 * on the same device is refused (in this process: EEXIST; held by another:
 * EBUSY, the device is flock'ed), data of every folio size goes to the
 * device and back (explicitly, through CPU faults, and between it and an
 * emu tier) intact, and a full tier leaves pages in RAM with -ENOSPC.
 * Without a device the program exits 77 (CTest: skipped) after the
 * bad-spec group, saying so.
 */
#include "unit.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/file.h>
#include <sys/stat.h>

static char dev[256];   /* the device-dax device, "" if none */
static char why[512];   /* why there is none */
static char tmpf[64];

/* The first /dev/dax* that is a character device we may open read-write. */
static void find_device(void)
{
	glob_t g;
	if (glob("/dev/dax*", 0, NULL, &g)) {
		snprintf(why, sizeof(why), "no /dev/dax* on this machine");
		return;
	}
	snprintf(why, sizeof(why), "/dev/dax* exists but none is a character device this process may read and write");
	for (size_t i = 0; i < g.gl_pathc && !dev[0]; i++) {
		struct stat st;
		if (stat(g.gl_pathv[i], &st) == 0 && S_ISCHR(st.st_mode) && access(g.gl_pathv[i], R_OK | W_OK) == 0)
			snprintf(dev, sizeof(dev), "%s", g.gl_pathv[i]);
	}
	globfree(&g);
}

static int setup(void **state)
{
	if (hm_init(NULL))
		return -1;
	snprintf(tmpf, sizeof(tmpf), "/tmp/hetmem-dax-XXXXXX");
	int fd = mkstemp(tmpf);
	if (fd < 0)
		return -1;
	/* a regular file with content: not refused for being empty */
	if (ftruncate(fd, 4 << 20)) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	hm_shutdown();
	unlink(tmpf);
	return 0;
}

static void test_bad_specs(void **state)
{
	char s[512];
	/* a regular file: file: takes it, dax: does not */
	snprintf(s, sizeof(s), "dax:%s", tmpf);
	EXPECT_ERR_MSG(hm_tier_add(s), ENODEV, tmpf);
	EXPECT_ERR_MSG(hm_tier_add(s), ENODEV, "is not a device-dax device");
	EXPECT_ERR_MSG(hm_tier_add(s), ENODEV, "regular file");
	/* a character device of another subsystem */
	EXPECT_ERR_MSG(hm_tier_add("dax:/dev/null"), ENODEV, "'/dev/null' is not a device-dax device");
	EXPECT_ERR_MSG(hm_tier_add("dax:/dev/null"), ENODEV, "'mem'");
	/* a directory */
	EXPECT_ERR_MSG(hm_tier_add("dax:/tmp"), ENODEV, "'/tmp' is not a device-dax device");
	/* a missing path */
	EXPECT_ERR_MSG(hm_tier_add("dax:/nonexistent/dax9.9"), ENOENT, "/nonexistent/dax9.9");
	/* the spec's form */
	EXPECT_ERR_MSG(hm_tier_add("dax:"), EINVAL, "dax:/dev/daxX.Y[,size=SIZE]");
	EXPECT_ERR_MSG(hm_tier_add("dax:,size=1G"), EINVAL, "dax:,size=1G");
	EXPECT_ERR_MSG(hm_tier_add("dax:/dev/dax0.0,color=red"), EINVAL, "color=red");
	EXPECT_ERR_MSG(hm_tier_add("dax:/dev/dax0.0,size=lots"), EINVAL, "'lots'");
	EXPECT_ERR_MSG(hm_tier_add("dax:/dev/dax0.0,size=1K"), EINVAL, "1K is less than one 4 KiB page");
	if (dev[0]) {
		/* more than the device has: both named */
		snprintf(s, sizeof(s), "dax:%s,size=1000T", dev);
		EXPECT_ERR_MSG(hm_tier_add(s), E2BIG, "1000T");
		EXPECT_ERR_MSG(hm_tier_add(s), E2BIG, dev);
		EXPECT_ERR_MSG(hm_tier_add(s), E2BIG, "is more than device");
	}
	assert_int_equal(hm_tier_count(), 1); /* nothing was left behind */
}

/* The device's size as the tier sees it (whole device). */
static uint64_t device_capacity(void)
{
	char s[300];
	snprintf(s, sizeof(s), "dax:%s", dev);
	int t = EXPECT_OK(hm_tier_add(s));
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(t, &ti), 0);
	assert_string_equal(ti.kind, "dax");
	assert_false(ti.coherent);
	assert_true(ti.capacity > 0);
	assert_int_equal(ti.capacity % PG, 0);
	/* one device, one tier: a second would overwrite the first's pages */
	EXPECT_ERR_MSG(hm_tier_add(s), EEXIST, "already");
	assert_int_equal(hm_tier_remove(t), 0);
	return ti.capacity;
}

static void test_dax_round_trip(void **state)
{
	uint64_t cap = device_capacity();
	printf("device %s: %llu MiB\n", dev, (unsigned long long)(cap >> 20));
	if (cap < (32u << 20))
		fail_msg("device %s has %llu bytes: the test needs 32 MiB", dev, (unsigned long long)cap);
	char spec[300];
	snprintf(spec, sizeof(spec), "dax:%s,size=32M", dev);
	int ft = EXPECT_OK(hm_tier_add(spec));
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(ft, &ti), 0);
	assert_string_equal(ti.kind, "dax");
	assert_non_null(strstr(ti.name, dev));
	assert_int_equal(ti.capacity, 32 << 20);
	assert_int_equal(ti.used, 0);

	tier_round_trip(ft, 400, "dax");
	assert_int_equal(hm_tier_remove(ft), 0);
}

/* One process per device: the tier holds an exclusive flock on it, and a
 * lock held elsewhere (another process's tier; here a second open file of
 * this one, which flock treats the same) refuses the tier with EBUSY. */
static void test_dax_exclusive(void **state)
{
	char spec[300];
	snprintf(spec, sizeof(spec), "dax:%s", dev);
	int t = EXPECT_OK(hm_tier_add(spec));
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_int_equal(hm_tier_remove(t), 0);
	/* the tier's close let it go */
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	EXPECT_ERR_MSG(hm_tier_add(spec), EBUSY, "in use by another process");
	EXPECT_ERR_MSG(hm_tier_add(spec), EBUSY, dev);
	close(fd);
	t = EXPECT_OK(hm_tier_add(spec));
	assert_int_equal(hm_tier_remove(t), 0);
}

/* A tier smaller than the device's alignment (2 MiB) is one page run of
 * 256K: full at 64 pages, the rest stay in RAM (-ENOSPC); a tier with
 * pages on it cannot be removed; all data survives. */
static void test_dax_full(void **state)
{
	char spec[300];
	snprintf(spec, sizeof(spec), "dax:%s,size=256K", dev);
	int ft = EXPECT_OK(hm_tier_add(spec));
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(ft, &ti), 0);
	assert_int_equal(ti.capacity, 256 << 10);
	enum { N = 96 };
	char *p = hm_alloc(N * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, N, 420);
	int st[N];
	assert_int_equal(hm_migrate(p, N * PG, ft, st), 64);
	for (int i = 0; i < N; i++)
		assert_int_equal(st[i], i < 64 ? 0 : -ENOSPC);
	EXPECT_ERR(hm_tier_remove(ft), EBUSY);
	ASSERT_PATTERN(p, N, 420);
	assert_int_equal(hm_tier_remove(ft), 0);
	assert_int_equal(hm_free(p, 0), 0);
}

int main(void)
{
	hm_test_require_uffd();
	find_device();
	const struct CMUnitTest bad[] = {
		cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
	};
	int rc = cmocka_run_group_tests_name("unit_dax_specs", bad, NULL, NULL);
	if (rc)
		return rc;
	if (!dev[0]) {
		fflush(stderr);
		printf("skipped: no device-dax device (%s); the bad-spec checks passed\n", why);
		return 77;
	}
	printf("device-dax device: %s\n", dev);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dax_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dax_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dax_exclusive, setup, teardown),
	};
	return cmocka_run_group_tests_name("unit_dax", tests, NULL, NULL);
}
