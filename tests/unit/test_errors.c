/*
 * test_errors.c — bad input to every public function.  Each failing call
 * must return the exact -errno hetmem.h documents, leave a message in
 * hm_last_error(), and change nothing: tier count, page placement, data,
 * statistics and output arguments stay as they were.
 *
 * The first group runs before hm_init (everything answers -ENODEV, a bad
 * configuration is refused); the second runs each test between hm_init and
 * hm_shutdown.
 */
#include "unit.h"
#include "hetmem_inject.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* Before hm_init                                                          */
/* ---------------------------------------------------------------------- */

static void test_before_init(void **state)
{
	char buf[2 * PG] __attribute__((aligned(4096)));
	int w[2] = {77, 77}, st[2] = {77, 77};
	struct hm_tier_info ti;
	struct hm_device *d = (struct hm_device *)0x1;

	EXPECT_ERR(hm_tier_add("emu:1M"), ENODEV);
	EXPECT_ERR(hm_tier_info(0, &ti), ENODEV);
	EXPECT_ERR(hm_tier_remove(1), ENODEV);
	EXPECT_NULL_ERR(hm_alloc(PG, HM_FOLIO_4K), ENODEV);
	EXPECT_ERR(hm_free(buf, 0), ENODEV);
	EXPECT_ERR(hm_protect(buf, PG, PROT_READ), ENODEV);
	EXPECT_ERR(hm_migrate(buf, PG, 0, st), ENODEV);
	EXPECT_ERR(hm_where(buf, PG, w), ENODEV);
	EXPECT_ERR(hm_device_open("emu:1M", &d), ENODEV);
	assert_ptr_equal(d, (struct hm_device *)0x1);
	assert_int_equal(w[0], 77);
	assert_int_equal(st[0], 77);
	/* predicates and counts answer "nothing" */
	assert_false(hm_is_managed(buf));
	assert_int_equal(hm_folio_size(buf), 0);
	assert_int_equal(hm_tier_count(), 0);
	assert_int_equal(hm_migrate_pages(buf, PG), 0);
	/* safe when not initialised */
	assert_int_equal(hm_shutdown(), 0);
	struct hm_stats s;
	assert_int_equal(hm_stats_get(&s), 0);
	assert_int_equal(s.regions, 0);
	/* works without hm_init */
	struct hm_features f;
	assert_int_equal(hm_probe_features(&f), 0);
	assert_true(f.uffd);
	EXPECT_ERR(hm_probe_features(NULL), EINVAL);
}

static void expect_init_refused(const struct hm_config *cfg, const char *needle)
{
	int fds = count_fds();
	EXPECT_ERR_MSG(hm_init(cfg), EINVAL, needle);
	/* still not initialised, nothing leaked */
	assert_int_equal(hm_tier_count(), 0);
	EXPECT_NULL_ERR(hm_alloc(PG, HM_FOLIO_4K), ENODEV);
	assert_int_equal(count_fds(), fds);
}

static void test_init_bad_config(void **state)
{
	char *saved_demote = getenv("HETMEM_DEMOTE") ? strdup(getenv("HETMEM_DEMOTE")) : NULL;
	char *saved_ra = getenv("HETMEM_READAHEAD") ? strdup(getenv("HETMEM_READAHEAD")) : NULL;
	unsetenv("HETMEM_READAHEAD");

	setenv("HETMEM_DEMOTE", "bogus", 1);
	expect_init_refused(NULL, "bogus");
	setenv("HETMEM_DEMOTE", "moveX", 1);
	expect_init_refused(NULL, "HETMEM_DEMOTE");
	unsetenv("HETMEM_DEMOTE");

	setenv("HETMEM_READAHEAD", "abc", 1);
	expect_init_refused(NULL, "HETMEM_READAHEAD");
	setenv("HETMEM_READAHEAD", "65", 1);
	expect_init_refused(NULL, "HETMEM_READAHEAD");
	setenv("HETMEM_READAHEAD", "-1", 1);
	expect_init_refused(NULL, "HETMEM_READAHEAD");
	unsetenv("HETMEM_READAHEAD");

	setenv("HETMEM_BLOCK_PROMOTE", "1", 1); /* 0 (off) or 2..512 */
	expect_init_refused(NULL, "HETMEM_BLOCK_PROMOTE");
	setenv("HETMEM_BLOCK_PROMOTE", "513", 1);
	expect_init_refused(NULL, "HETMEM_BLOCK_PROMOTE");
	setenv("HETMEM_BLOCK_PROMOTE", "16x", 1);
	expect_init_refused(NULL, "HETMEM_BLOCK_PROMOTE");
	unsetenv("HETMEM_BLOCK_PROMOTE");

	const char *bad_cpus[] = {"x", "1-0", "99999", "1,", "-1", "0;1", "2-"};
	for (size_t k = 0; k < sizeof(bad_cpus) / sizeof(bad_cpus[0]); k++) {
		setenv("HETMEM_CPUS", bad_cpus[k], 1);
		expect_init_refused(NULL, "HETMEM_CPUS");
	}
	unsetenv("HETMEM_CPUS");

	setenv("HETMEM_IDLE_POLL", "2", 1); /* 0 or 1 */
	expect_init_refused(NULL, "HETMEM_IDLE_POLL");
	setenv("HETMEM_IDLE_POLL", "yes", 1);
	expect_init_refused(NULL, "HETMEM_IDLE_POLL");
	unsetenv("HETMEM_IDLE_POLL");

	struct hm_config cfg = {0};
	cfg.demote = (enum hm_demote_mode)9;
	expect_init_refused(&cfg, "demote");
	cfg.demote = HM_DEMOTE_AUTO;
	cfg.flags = 0x80;
	expect_init_refused(&cfg, "flags");
	cfg.flags = 0;
	cfg.readahead_max = 100;
	expect_init_refused(&cfg, "readahead");
	cfg.readahead_max = 0;

	/* a caller's struct hm_config larger than this library's: refused
	 * when a field beyond ours is set, read as ours when they are all 0 */
	struct {
		struct hm_config c;
		uint64_t newer;
	} big = {{0}, 1};
	big.c.size = sizeof(big);
	EXPECT_ERR_MSG(hm_init(&big.c), ENOTSUP, "does not have");
	big.newer = 0;
	assert_int_equal(hm_init(&big.c), 0);
	assert_int_equal(hm_shutdown(), 0);
	cfg.size = 2; /* smaller than the size field itself */
	expect_init_refused(&cfg, "too small");
	cfg.size = sizeof(cfg);

	/* the environment overrides a good cfg with a bad value too */
	cfg.readahead_max = 0;
	setenv("HETMEM_DEMOTE", "", 1); /* empty: ignored */
	assert_int_equal(hm_init(&cfg), 0);
	assert_int_equal(hm_shutdown(), 0);
	setenv("HETMEM_DEMOTE", "WP", 1); /* case-insensitive */
	assert_int_equal(hm_init(&cfg), 0);
	struct hm_features f;
	assert_int_equal(hm_probe_features(&f), 0);
	assert_int_equal(f.demote, HM_DEMOTE_WP);
	assert_int_equal(hm_shutdown(), 0);

	if (saved_demote)
		setenv("HETMEM_DEMOTE", saved_demote, 1);
	else
		unsetenv("HETMEM_DEMOTE");
	if (saved_ra)
		setenv("HETMEM_READAHEAD", saved_ra, 1);
	free(saved_demote);
	free(saved_ra);
}

/* ---------------------------------------------------------------------- */
/* After hm_init                                                           */
/* ---------------------------------------------------------------------- */

static void test_init_twice(void **state)
{
	int tier = EXPECT_OK(hm_tier_add("emu:1M"));
	char *p = hm_alloc(4 * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, 4, 7);
	assert_int_equal(hm_migrate(p, 2 * PG, tier, NULL), 2);
	int n = hm_tier_count();
	int fds = count_fds();
	EXPECT_ERR_MSG(hm_init(NULL), EALREADY, "already");
	struct hm_config cfg = {.demote = (enum hm_demote_mode)9};
	EXPECT_ERR(hm_init(&cfg), EALREADY); /* already wins over a bad cfg */
	/* nothing changed: tiers, memory, placement, fds */
	assert_int_equal(hm_tier_count(), n);
	assert_int_equal(count_fds(), fds);
	assert_true(hm_is_managed(p));
	int w[4];
	assert_int_equal(hm_where(p, 4 * PG, w), 0);
	assert_int_equal(w[0], tier);
	assert_int_equal(w[2], 0);
	ASSERT_PATTERN(p, 4, 7);
	assert_int_equal(hm_free(p, 0), 0);
}

struct spec_case {
	const char *spec;
	int err;
};

static void test_tier_specs(void **state)
{
	char path[] = "/tmp/hetmem-unit-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char s_size0[128], s_foo[128], s_badsize[128], s_small[128], s_nosize[128], s_huge[128], s_emptyopt[128];
	snprintf(s_size0, sizeof(s_size0), "file:%s,size=0", path);
	snprintf(s_foo, sizeof(s_foo), "file:%s,foo=1", path);
	snprintf(s_badsize, sizeof(s_badsize), "file:%s,size=12Q", path);
	snprintf(s_small, sizeof(s_small), "file:%s,size=100", path);
	snprintf(s_nosize, sizeof(s_nosize), "file:%s", path); /* exists, empty */
	snprintf(s_huge, sizeof(s_huge), "file:%s,size=1048576T", path); /* 2^48 pages */
	snprintf(s_emptyopt, sizeof(s_emptyopt), "file:%s,", path);

	const struct spec_case cases[] = {
		{"", EINVAL},
		{"emu", EINVAL},
		{"emu:", EINVAL},
		{"emu:0", EINVAL},
		{"emu:100", EINVAL},      /* less than one page after rounding */
		{"emu:abc", EINVAL},
		{"emu:-5", EINVAL},
		{"emu:1,5M", EINVAL},     /* a decimal comma (1.5M is a size) */
		{"emu:4M,size=1M", EINVAL},
		{"emu:99999T", E2BIG},    /* more than RAM + swap */
		{"emu:18446744073709551616", E2BIG},
		{"bogus:1M", EINVAL},
		{":1M", EINVAL},
		{"EMU:1M", EINVAL},
		{"file:", EINVAL},
		{"file:,size=1M", EINVAL},
		{"file:/nonexistent-dir/x,size=1M", ENOENT},
		{"file:/tmp,size=1M", EISDIR},
		{"file:/tmp", EISDIR},
		{s_size0, EINVAL},
		{s_foo, EINVAL},
		{s_badsize, EINVAL},
		{s_small, EINVAL},
		{s_nosize, EINVAL},
		{s_huge, E2BIG},
		{s_emptyopt, EINVAL},
	};
	int n = hm_tier_count();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *spec = cases[i].spec;
		hm_error_clear();
		int rc = hm_tier_add(spec);
		if (rc != -cases[i].err)
			fail_msg("hm_tier_add('%s') = %d (%s), expected -%d (%s); '%s'", spec, rc,
				 rc < 0 ? strerror(-rc) : "ok", cases[i].err, strerror(cases[i].err), hm_last_error());
		if (!hm_last_error()[0])
			fail_msg("hm_tier_add('%s') left no message", spec);
		/* the message names the spec (or says what is missing) */
		if (*spec && !strstr(hm_last_error(), spec))
			fail_msg("hm_tier_add('%s'): message does not name the spec: '%s'", spec, hm_last_error());
		assert_int_equal(hm_tier_count(), n);
		/* hm_device_open refuses the same specs the same way */
		struct hm_device *d = (struct hm_device *)0x1;
		EXPECT_ERR(hm_device_open(spec, &d), cases[i].err);
		assert_ptr_equal(d, (struct hm_device *)0x1);
		assert_int_equal(hm_tier_count(), n);
	}
	EXPECT_ERR(hm_tier_add(NULL), EINVAL);
	assert_int_equal(hm_tier_count(), n);
	/* the file was not grown by any refused spec */
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	unlink(path);

	/* a file that does not exist and no size: refused, not created */
	char missing[] = "/tmp/hetmem-unit-missing-XXXXXX";
	fd = mkstemp(missing);
	assert_true(fd >= 0);
	close(fd);
	unlink(missing);
	char spec[128];
	snprintf(spec, sizeof(spec), "file:%s", missing);
	EXPECT_ERR_MSG(hm_tier_add(spec), ENOENT, missing);
	assert_int_equal(hm_tier_count(), n);
	if (access(missing, F_OK) == 0) {
		unlink(missing);
		fail_msg("a refused 'file:%s' left the file behind", missing);
	}
	/* no tier was added, no slot left behind: a good spec gets the next id */
	int id = EXPECT_OK(hm_tier_add("emu:1M"));
	assert_int_equal(id, n);
	assert_int_equal(hm_tier_remove(id), 0);
}

/* HM_MAX_TIERS - 1 device tiers; one more is -ENOSPC and changes nothing. */
static void test_tier_table_full(void **state)
{
	int ids[HM_MAX_TIERS];
	for (int i = 1; i < HM_MAX_TIERS; i++) {
		ids[i] = EXPECT_OK(hm_tier_add("emu:64K"));
		assert_int_equal(ids[i], i);
	}
	assert_int_equal(hm_tier_count(), HM_MAX_TIERS);
	EXPECT_ERR_MSG(hm_tier_add("emu:64K"), ENOSPC, "emu:64K");
	struct hm_device *d = NULL;
	EXPECT_ERR(hm_device_open("emu:64K", &d), ENOSPC);
	assert_null(d);
	assert_int_equal(hm_tier_count(), HM_MAX_TIERS);
	/* a freed id is reused */
	assert_int_equal(hm_tier_remove(7), 0);
	assert_int_equal(hm_tier_add("emu:128K"), 7);
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(7, &ti), 0);
	assert_int_equal(ti.capacity, 128 * 1024);
	for (int i = 1; i < HM_MAX_TIERS; i++)
		assert_int_equal(hm_tier_remove(i), 0);
}

static void test_tier_remove_info(void **state)
{
	struct hm_tier_info ti;
	EXPECT_ERR(hm_tier_info(0, NULL), EINVAL);
	EXPECT_ERR(hm_tier_info(1, &ti), ENOENT);
	EXPECT_ERR(hm_tier_info(-1, &ti), ENOENT);
	EXPECT_ERR(hm_tier_info(99, &ti), ENOENT);
	EXPECT_ERR(hm_tier_info(HM_MAX_TIERS, &ti), ENOENT);
	EXPECT_ERR(hm_tier_remove(0), EINVAL);
	EXPECT_ERR(hm_tier_remove(3), ENOENT);
	EXPECT_ERR(hm_tier_remove(-1), ENOENT);
	EXPECT_ERR(hm_tier_remove(99), ENOENT);
	assert_int_equal(hm_tier_info(0, &ti), 0);
	assert_string_equal(ti.kind, "ram");
	assert_true(ti.capacity > 0);

	int tier = EXPECT_OK(hm_tier_add("emu:1M"));
	char *p = hm_alloc(8 * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, 8, 8);
	assert_int_equal(hm_migrate(p, 8 * PG, tier, NULL), 8);
	int n = hm_tier_count();
	EXPECT_ERR_MSG(hm_tier_remove(tier), EBUSY, "8 pages");
	/* the tier and its pages are untouched */
	assert_int_equal(hm_tier_count(), n);
	assert_int_equal(hm_tier_info(tier, &ti), 0);
	assert_int_equal(ti.used, 8 * PG);
	int w[8];
	assert_int_equal(hm_where(p, 8 * PG, w), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(w[i], tier);
	ASSERT_PATTERN(p, 8, 8);
	/* once empty it goes, and then it is gone */
	assert_int_equal(hm_tier_remove(tier), 0);
	EXPECT_ERR(hm_tier_remove(tier), ENOENT);
	EXPECT_ERR(hm_tier_info(tier, &ti), ENOENT);
	EXPECT_ERR(hm_migrate(p, PG, tier, NULL), ENOENT);
	assert_int_equal(hm_free(p, 0), 0);
}

static void test_alloc_bad(void **state)
{
	struct hm_stats s0 = stats_now();
	EXPECT_NULL_ERR(hm_alloc(0, HM_FOLIO_4K), EINVAL);
	EXPECT_NULL_ERR(hm_alloc(0, HM_FOLIO_2M), EINVAL);
	EXPECT_NULL_ERR(hm_alloc(PG, 0), EINVAL);
	EXPECT_NULL_ERR(hm_alloc(PG, 8192), EINVAL);
	EXPECT_NULL_ERR(hm_alloc(PG, 4097), EINVAL);
	EXPECT_NULL_ERR(hm_alloc(PG, 1 << 20), EINVAL);
	EXPECT_NULL_ERR(hm_alloc(PG, 1 << 30), EINVAL);
	EXPECT_NULL_ERR(hm_alloc(PG, SIZE_MAX), EINVAL);
	EXPECT_NULL_ERR(hm_alloc(((size_t)1 << 47) + 1, HM_FOLIO_4K), E2BIG);
	EXPECT_NULL_ERR(hm_alloc((size_t)1 << 50, HM_FOLIO_2M), E2BIG);
	EXPECT_NULL_ERR(hm_alloc(SIZE_MAX, HM_FOLIO_4K), E2BIG);
	EXPECT_NULL_ERR(hm_alloc(SIZE_MAX - HM_FOLIO_2M + 2, HM_FOLIO_2M), E2BIG);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.regions, s0.regions);
	assert_int_equal(s1.managed_bytes, s0.managed_bytes);
}

static void test_free_bad(void **state)
{
	char *p = hm_alloc(4 * HM_FOLIO_64K, HM_FOLIO_64K);
	assert_non_null(p);
	fill_pattern(p, 64, 9);
	int stack_var;
	struct hm_stats s0 = stats_now();
	EXPECT_ERR(hm_free(NULL, 0), EINVAL);
	EXPECT_ERR(hm_free(&stack_var, 0), EINVAL);
	EXPECT_ERR(hm_free(p + 4 * HM_FOLIO_64K, 0), EINVAL); /* just past the end */
	EXPECT_ERR_MSG(hm_free(p + 1, 0), EINVAL, "inside");   /* not the start */
	EXPECT_ERR(hm_free(p + HM_FOLIO_64K, 0), EINVAL);
	EXPECT_ERR(hm_free(p, 5 * HM_FOLIO_64K), EINVAL);      /* larger than it */
	EXPECT_ERR(hm_free(p, PG), EINVAL);                    /* not whole folios */
	EXPECT_ERR(hm_free(p + PG, HM_FOLIO_64K), EINVAL);     /* misaligned part */
	EXPECT_ERR(hm_free(p, HM_FOLIO_64K + 1), EINVAL);
	EXPECT_ERR(hm_free(p + 3 * HM_FOLIO_64K, 2 * HM_FOLIO_64K), EINVAL); /* past the end */
	EXPECT_ERR(hm_free(p + HM_FOLIO_64K, SIZE_MAX & ~(HM_FOLIO_64K - 1)), EINVAL);
	/* nothing was freed */
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.regions, s0.regions);
	assert_int_equal(s1.managed_bytes, s0.managed_bytes);
	for (size_t off = 0; off < 4 * HM_FOLIO_64K; off += PG)
		assert_true(hm_is_managed(p + off));
	ASSERT_PATTERN(p, 64, 9);
	/* free twice: the second is refused */
	assert_int_equal(hm_free(p + HM_FOLIO_64K, HM_FOLIO_64K), 0);
	EXPECT_ERR(hm_free(p + HM_FOLIO_64K, HM_FOLIO_64K), EINVAL);
	assert_int_equal(hm_free(p, 0), 0);
	EXPECT_ERR(hm_free(p, 0), EINVAL);
}

static void test_protect_bad(void **state)
{
	char *p = hm_alloc(8 * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, 8, 10);
	int stack_var;
	EXPECT_ERR(hm_protect(p, PG, PROT_EXEC), EINVAL);
	EXPECT_ERR(hm_protect(p, PG, PROT_READ | PROT_EXEC), EINVAL);
	EXPECT_ERR(hm_protect(p, PG, PROT_WRITE), EINVAL);
	EXPECT_ERR(hm_protect(p, PG, 0x100), EINVAL);
	EXPECT_ERR(hm_protect(p + 1, PG, PROT_READ), EINVAL);
	EXPECT_ERR(hm_protect(p, 100, PROT_READ), EINVAL);
	EXPECT_ERR(hm_protect(p, 0, PROT_READ), EINVAL);
	EXPECT_ERR(hm_protect(&stack_var, PG, PROT_READ), EINVAL);
	EXPECT_ERR(hm_protect(NULL, PG, PROT_READ), EINVAL);
	EXPECT_ERR(hm_protect(p, 9 * PG, PROT_READ), EINVAL); /* past the end */
	EXPECT_ERR(hm_protect(p + PG, SIZE_MAX & ~(PG - 1), PROT_READ), EINVAL);
	/* nothing changed: still writable, data intact, no protection bits */
	ASSERT_PATTERN(p, 8, 10);
	fill_pattern(p, 8, 11);
	struct hm_region *r = hm_region_get((uintptr_t)p);
	assert_non_null(r);
	for (int i = 0; i < 8; i++)
		assert_int_equal(atomic_load(&r->words[i]) & PW_PROT_MASK, 0);
	hm_region_put(r);

	/* a PROT_NONE page cannot be migrated to a device: per-page -EACCES */
	int tier = EXPECT_OK(hm_tier_add("emu:1M"));
	assert_int_equal(hm_protect(p + PG, PG, PROT_NONE), 0);
	int st[8];
	assert_int_equal(hm_migrate(p, 8 * PG, tier, st), 7);
	assert_int_equal(st[1], -EACCES);
	int w[8];
	assert_int_equal(hm_where(p, 8 * PG, w), 0);
	assert_int_equal(w[1], 0);
	assert_int_equal(hm_protect(p + PG, PG, PROT_READ | PROT_WRITE), 0);
	ASSERT_PATTERN(p, 8, 11);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(tier), 0);
}

static void test_migrate_bad(void **state)
{
	int tier = EXPECT_OK(hm_tier_add("emu:1M"));
	char *p = hm_alloc(8 * PG, HM_FOLIO_4K);
	char *q = hm_alloc(2 * HM_FOLIO_64K, HM_FOLIO_64K);
	assert_non_null(p);
	assert_non_null(q);
	fill_pattern(p, 8, 12);
	assert_int_equal(hm_migrate(p, 4 * PG, tier, NULL), 4);
	int w0[8], w[8], st[8];
	assert_int_equal(hm_where(p, 8 * PG, w0), 0);
	for (int i = 0; i < 8; i++)
		st[i] = 4242;
	struct hm_stats s0 = stats_now();
	int stack_var;

	EXPECT_ERR(hm_migrate(p + 1, PG, tier, st), EINVAL);
	EXPECT_ERR(hm_migrate(p, PG + 1, tier, st), EINVAL);
	EXPECT_ERR(hm_migrate(p, 0, tier, st), EINVAL);
	EXPECT_ERR(hm_migrate(&stack_var, PG, tier, st), EINVAL);
	EXPECT_ERR(hm_migrate(NULL, PG, 0, st), EINVAL);
	EXPECT_ERR(hm_migrate(p, 9 * PG, tier, st), EINVAL);   /* runs past the region */
	EXPECT_ERR(hm_migrate(p - PG, 2 * PG, 0, st), EINVAL); /* starts before it */
	EXPECT_ERR(hm_migrate(p, SIZE_MAX & ~(PG - 1), 0, st), EINVAL);
	EXPECT_ERR_MSG(hm_migrate(p, PG, -1, st), EINVAL, "-1");
	EXPECT_ERR_MSG(hm_migrate(p, PG, 99, st), EINVAL, "99");
	EXPECT_ERR(hm_migrate(p, PG, HM_MAX_TIERS, st), EINVAL);
	EXPECT_ERR_MSG(hm_migrate(p, PG, tier + 1, st), ENOENT, "tier");
	EXPECT_ERR(hm_migrate(p, PG, HM_MAX_TIERS - 1, st), ENOENT);
	/* misaligned inside a 64K-folio region is still a 4 KiB question */
	EXPECT_ERR(hm_migrate(q + 100, PG, tier, NULL), EINVAL);

	/* nothing moved, status untouched, data intact */
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.pages_demoted, s0.pages_demoted);
	assert_int_equal(s1.pages_promoted, s0.pages_promoted);
	assert_int_equal(s1.migrate_failures, s0.migrate_failures);
	assert_int_equal(hm_where(p, 8 * PG, w), 0);
	assert_memory_equal(w, w0, sizeof(w));
	for (int i = 0; i < 8; i++)
		assert_int_equal(st[i], 4242);
	ASSERT_PATTERN(p, 8, 12);

	/* a freed part inside the range: its pages report -EFAULT */
	assert_int_equal(hm_free(q + HM_FOLIO_64K, HM_FOLIO_64K), 0);
	int st2[32];
	assert_int_equal(hm_migrate(q, 2 * HM_FOLIO_64K, tier, st2), 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(st2[i], i < 16 ? HM_MIGRATE_SKIPPED : -EFAULT);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_free(q, 0), 0);
	assert_int_equal(hm_tier_remove(tier), 0);
}

static void test_where_bad(void **state)
{
	char *p = hm_alloc(4 * PG, HM_FOLIO_4K);
	assert_non_null(p);
	int w[4] = {55, 55, 55, 55};
	int stack_var;
	EXPECT_ERR(hm_where(p, PG, NULL), EINVAL);
	EXPECT_ERR(hm_where(p + 1, PG, w), EINVAL);
	EXPECT_ERR(hm_where(p, 10, w), EINVAL);
	EXPECT_ERR(hm_where(p, 0, w), EINVAL);
	EXPECT_ERR(hm_where(&stack_var, PG, w), EINVAL);
	EXPECT_ERR(hm_where(p, 5 * PG, w), EINVAL);
	EXPECT_ERR(hm_where(p + PG, SIZE_MAX & ~(PG - 1), w), EINVAL); /* wraps around */
	for (int i = 0; i < 4; i++)
		assert_int_equal(w[i], 55);
	assert_int_equal(hm_free(p, 0), 0);
	EXPECT_ERR(hm_where(p, PG, w), EINVAL);
	assert_int_equal(w[0], 55);
}

static void test_stats_bad(void **state)
{
	EXPECT_ERR(hm_stats_get(NULL), EINVAL);
	/* a caller's smaller struct hm_stats gets its own bytes only */
	struct hm_stats big;
	memset(&big, 0x5a, sizeof(big));
	size_t part = offsetof(struct hm_stats, faults_zero);
	assert_int_equal(hm_stats_get_size(&big, part), 0);
	assert_int_equal(big.size, part);
	assert_int_equal(((unsigned char *)&big)[part], 0x5a);
	EXPECT_ERR(hm_stats_get_size(&big, 4), EINVAL);
	assert_int_equal(hm_stats_get(&big), 0);
	assert_int_equal(big.size, sizeof(big));
	EXPECT_ERR(hm_stats_print(-1), EBADF);
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(hm_stats_print(pfd[1]), 0);
	char buf[4096];
	ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_non_null(strstr(buf, "hetmem:"));
	assert_non_null(strstr(buf, "ram"));
	close(pfd[0]);
	/* a closed pipe: -EPIPE (SIGPIPE ignored), with a message */
	signal(SIGPIPE, SIG_IGN);
	EXPECT_ERR(hm_stats_print(pfd[1]), EPIPE);
	close(pfd[1]);
	signal(SIGPIPE, SIG_DFL);
}

static void test_device_bad(void **state)
{
	struct hm_device *d1 = NULL, *d2 = NULL;
	EXPECT_ERR(hm_device_open("emu:1M", NULL), EINVAL);
	EXPECT_ERR(hm_device_open(NULL, &d1), EINVAL);
	assert_null(d1);
	int n = hm_tier_count();
	assert_int_equal(hm_device_open("emu:2M", &d1), 0);
	assert_int_equal(hm_device_open("emu:1M", &d2), 0);
	assert_int_equal(hm_tier_count(), n + 2);
	EXPECT_ERR(hm_device_tier(NULL), EINVAL);
	int t1 = hm_device_tier(d1);
	assert_true(t1 > 0);
	EXPECT_ERR_MSG(hm_tier_remove(t1), EINVAL, "device");
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(t1, &ti), 0);
	assert_true(ti.device);

	char *p = hm_alloc(8 * PG, HM_FOLIO_4K);
	char *q = hm_alloc(2 * PG, HM_FOLIO_4K);
	assert_non_null(p);
	assert_non_null(q);
	fill_pattern(p, 8, 13);
	int stack_var;
	EXPECT_ERR(hm_device_mirror(NULL, p, PG), EINVAL);
	EXPECT_ERR(hm_device_mirror(d1, p + 1, PG), EINVAL);
	EXPECT_ERR(hm_device_mirror(d1, p, 0), EINVAL);
	EXPECT_ERR(hm_device_mirror(d1, p, 100), EINVAL);
	EXPECT_ERR(hm_device_mirror(d1, &stack_var, PG), EINVAL);
	EXPECT_ERR(hm_device_mirror(d1, p, 9 * PG), EINVAL);
	EXPECT_ERR(hm_device_mirror(d1, p + PG, SIZE_MAX & ~(PG - 1)), EINVAL); /* wraps */
	assert_int_equal(hm_device_mirror(d1, p, 8 * PG), 0);
	EXPECT_ERR(hm_device_mirror(d1, p + PG, PG), EEXIST);
	EXPECT_ERR_MSG(hm_device_mirror(d2, p + 2 * PG, PG), EBUSY, "emu:2M");
	EXPECT_ERR(hm_device_unmirror(NULL, p), EINVAL);
	EXPECT_ERR(hm_device_unmirror(d2, p), ENOENT);
	EXPECT_ERR(hm_device_unmirror(d1, p + PG), ENOENT);

	char buf[2 * PG];
	memset(buf, 0x77, sizeof(buf));
	EXPECT_ERR(hm_device_read(NULL, p, buf, 10, 0), EINVAL);
	EXPECT_ERR(hm_device_read(d1, p, NULL, 10, 0), EINVAL);
	EXPECT_ERR(hm_device_read(d1, p, buf, 10, 0x8), EINVAL);
	EXPECT_ERR(hm_device_write(NULL, p, buf, 10, 0), EINVAL);
	EXPECT_ERR(hm_device_write(d1, p, NULL, 10, 0), EINVAL);
	EXPECT_ERR(hm_device_write(d1, p, buf, 10, 0x10), EINVAL);
	EXPECT_ERR(hm_device_read(d1, q, buf, 10, 0), ENOENT);           /* not mirrored */
	EXPECT_ERR(hm_device_read(d2, p, buf, 10, 0), ENOENT);           /* another's */
	EXPECT_ERR(hm_device_read(d1, p + 7 * PG, buf, 2 * PG, 0), ENOENT); /* past the mirror */
	EXPECT_ERR(hm_device_write(d1, p + PG, buf, SIZE_MAX, 0), ENOENT);
	/* protection: a refused write writes nothing */
	assert_int_equal(hm_protect(p, 2 * PG, PROT_READ), 0);
	EXPECT_ERR(hm_device_write(d1, p + PG - 8, buf, 16, 0), EACCES);
	EXPECT_ERR(hm_device_write(d1, p + 2 * PG - 8, buf, 16, 0), EACCES);
	assert_int_equal(hm_protect(p, PG, PROT_NONE), 0);
	EXPECT_ERR(hm_device_read(d1, p, buf, 8, 0), EACCES);
	assert_int_equal(hm_protect(p, 2 * PG, PROT_READ | PROT_WRITE), 0);
	ASSERT_PATTERN(p, 8, 13);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal((unsigned char)buf[i], 0x77);

	long st = 0;
	EXPECT_ERR(hm_device_migrate(NULL, p, PG, NULL), EINVAL);
	EXPECT_ERR(hm_device_migrate(d2, p, PG, NULL), ENOENT);
	EXPECT_ERR(hm_device_migrate(d1, q, PG, NULL), ENOENT);
	EXPECT_ERR(hm_device_evict(NULL), EINVAL);
	EXPECT_ERR(hm_device_close(NULL), EINVAL);
	/* the good path still works after all that */
	st = hm_device_migrate(d1, p, 8 * PG, NULL);
	assert_int_equal(st, 8);
	assert_int_equal(hm_device_read(d1, p + 3 * PG, buf, PG, 0), 0);
	for (size_t k = 0; k < PG / 8; k++)
		assert_int_equal(((uint64_t *)buf)[k], unit_word(13, 3, k));
	ASSERT_PATTERN(p, 8, 13);
	assert_int_equal(hm_device_close(d2), 0);
	assert_int_equal(hm_device_close(d1), 0);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_free(q, 0), 0);
}

static void test_inject_bad(void **state)
{
	uint64_t inj0 = stats_now().injected;
	EXPECT_ERR(hm_inject(NULL, EIO, 0, 1), EINVAL);
	EXPECT_ERR_MSG(hm_inject("tier_reed", EIO, 0, 1), EINVAL, "tier_reed");
	EXPECT_ERR(hm_inject("", EIO, 0, 1), EINVAL);
	EXPECT_ERR(hm_inject("TIER_READ", EIO, 0, 1), EINVAL);
	EXPECT_ERR(hm_inject("tier_read", 0, 0, 1), EINVAL);
	EXPECT_ERR(hm_inject("tier_read", -5, 0, 1), EINVAL);
	EXPECT_ERR(hm_inject("tier_read", 5000, 0, 1), EINVAL);
	/* nothing was armed: a round trip works and injects nothing */
	int tier = EXPECT_OK(hm_tier_add("emu:1M"));
	char *p = hm_alloc(8 * PG, HM_FOLIO_4K);
	assert_non_null(p);
	fill_pattern(p, 8, 14);
	assert_int_equal(hm_migrate(p, 8 * PG, tier, NULL), 8);
	assert_int_equal(hm_migrate(p, 8 * PG, 0, NULL), 8);
	ASSERT_PATTERN(p, 8, 14);
	assert_int_equal(stats_now().injected, inj0);
	/* count 0 disarms a site */
	assert_int_equal(hm_inject("tier_write", EIO, 0, 5), 0);
	assert_int_equal(hm_inject("tier_write", EIO, 0, 0), 0);
	assert_int_equal(hm_migrate(p, 8 * PG, tier, NULL), 8);
	assert_int_equal(stats_now().injected, inj0);
	/* hm_inject_clear disarms everything */
	assert_int_equal(hm_inject("tier_read", EIO, 0, 5), 0);
	hm_inject_clear();
	assert_int_equal(hm_migrate(p, 8 * PG, 0, NULL), 8);
	ASSERT_PATTERN(p, 8, 14);
	assert_int_equal(stats_now().injected, inj0);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(tier), 0);
}

/* After hm_shutdown every call is -ENODEV again; hm_init works again. */
static void test_after_shutdown(void **state)
{
	char *p = hm_alloc(PG, HM_FOLIO_4K);
	assert_non_null(p);
	assert_int_equal(hm_shutdown(), 0);
	int w;
	EXPECT_ERR(hm_where(p, PG, &w), ENODEV);
	EXPECT_ERR(hm_migrate(p, PG, 0, NULL), ENODEV);
	EXPECT_ERR(hm_free(p, 0), ENODEV);
	EXPECT_ERR(hm_tier_add("emu:1M"), ENODEV);
	EXPECT_NULL_ERR(hm_alloc(PG, HM_FOLIO_4K), ENODEV);
	assert_false(hm_is_managed(p));
	munmap(p, PG);
	assert_int_equal(hm_init(NULL), 0);
	assert_int_equal(hm_tier_count(), 1);
}

/* The aggregate CPU latency request (PM QoS), or -1 if it cannot be read. */
static long cpu_latency_now(void)
{
	int fd = open("/dev/cpu_dma_latency", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int32_t v = -1;
	ssize_t n = read(fd, &v, sizeof(v));
	close(fd);
	return n == (ssize_t)sizeof(v) ? v : -1;
}

/* HETMEM_IDLE_POLL=1 holds a 0 us CPU latency request from hm_init to
 * hm_shutdown; without the right to (not root) hm_init refuses with EACCES
 * and a message, and leaks nothing. */
static void test_idle_poll(void **state)
{
	(void)state;
	if (access("/dev/cpu_dma_latency", F_OK)) {
		HM_SKIP_CASE("no /dev/cpu_dma_latency (kernel without PM QoS)");
	}
	setenv("HETMEM_IDLE_POLL", "1", 1);
	int fds = count_fds();
	if (geteuid() != 0) {
		EXPECT_ERR_MSG(hm_init(NULL), EACCES, "cpu_dma_latency");
		assert_int_equal(count_fds(), fds);
		unsetenv("HETMEM_IDLE_POLL");
		HM_SKIP_CASE("holding the request needs root (refusal checked)");
	}
	long before = cpu_latency_now();
	assert_true(before >= 0);
	assert_int_equal(hm_init(NULL), 0);
	assert_int_equal(cpu_latency_now(), 0);
	assert_int_equal(hm_shutdown(), 0);
	unsetenv("HETMEM_IDLE_POLL");
	assert_int_equal(cpu_latency_now(), before); /* released */
	assert_int_equal(count_fds(), fds);
	/* off (the default): no request */
	assert_int_equal(hm_init(NULL), 0);
	assert_int_equal(cpu_latency_now(), before);
	assert_int_equal(hm_shutdown(), 0);
}

/* HETMEM_CPUS=0: hetmem's threads (the handler, here) run on CPU 0 only;
 * the calling thread keeps its own affinity. */
static void test_cpus(void **state)
{
	(void)state;
	cpu_set_t mine;
	assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
	/* threads there before hm_init (a sanitizer's own) are not ours */
	pid_t before[64];
	int nbefore = 0;
	DIR *d0 = opendir("/proc/self/task");
	assert_non_null(d0);
	for (struct dirent *de; (de = readdir(d0)) && nbefore < 64;)
		if (atoi(de->d_name) > 0)
			before[nbefore++] = (pid_t)atoi(de->d_name);
	closedir(d0);
	setenv("HETMEM_CPUS", "0", 1);
	assert_int_equal(hm_init(NULL), 0);
	unsetenv("HETMEM_CPUS");
	pid_t self = (pid_t)syscall(SYS_gettid);
	int others = 0, on0 = 0;
	/* each thread pins itself as it starts: give the handler a moment */
	for (int tries = 0; tries < 200 && (!others || on0 != others); tries++) {
		if (tries)
			nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
		DIR *d = opendir("/proc/self/task");
		assert_non_null(d);
		others = on0 = 0;
		for (struct dirent *de; (de = readdir(d));) {
			pid_t tid = (pid_t)atoi(de->d_name);
			bool old = tid <= 0 || tid == self;
			for (int k = 0; k < nbefore && !old; k++)
				old = before[k] == tid;
			if (old)
				continue;
			others++;
			cpu_set_t set;
			if (!sched_getaffinity(tid, sizeof(set), &set) && CPU_COUNT(&set) == 1 && CPU_ISSET(0, &set))
				on0++;
		}
		closedir(d);
	}
	assert_true(others >= 1);
	assert_int_equal(on0, others); /* the handler (and any other of ours) */
	cpu_set_t now;
	assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
	assert_true(CPU_EQUAL(&now, &mine));
	assert_int_equal(hm_shutdown(), 0);
}

int main(void)
{
	hm_test_require_uffd();
	const struct CMUnitTest before[] = {
		cmocka_unit_test(test_before_init),
		cmocka_unit_test(test_init_bad_config),
		cmocka_unit_test(test_idle_poll),
		cmocka_unit_test(test_cpus),
	};
	const struct CMUnitTest after[] = {
		cmocka_unit_test_setup_teardown(test_init_twice, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_tier_specs, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_tier_table_full, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_tier_remove_info, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_alloc_bad, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_free_bad, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_protect_bad, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_migrate_bad, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_where_bad, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_stats_bad, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_device_bad, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_inject_bad, unit_setup_init, unit_teardown_shutdown),
		cmocka_unit_test_setup_teardown(test_after_shutdown, unit_setup_init, unit_teardown_shutdown),
	};
	int fails = cmocka_run_group_tests_name("unit_errors: before hm_init", before, NULL, NULL);
	fails += cmocka_run_group_tests_name("unit_errors: after hm_init", after, NULL, NULL);
	return fails ? 1 : 0;
}
