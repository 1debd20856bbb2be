/*
 * test_semantics.c — HMM-style semantics of device-private tiers, modelled
 * on the kernel's tools/testing/selftests/mm/hmm-tests.c and the
 * userfaultfd selftests, driven through the emulated device (test_hmm's
 * role): mirror read/write, protection, migrate/read-back cycles, eviction,
 * fork, 2 MiB folios (empty, zero, populated, partially unmapped, mremapped),
 * device ownership, allocation fallback, munmap racing device access,
 * poisoning on a failed device read, MADV_DONTNEED and system calls on
 * demoted pages, demotion of swapped-out pages, and bad input to the
 * device API.
 *
 * The program runs under one demotion mode, taken from HETMEM_DEMOTE (CTest
 * runs it twice: move and wp).  It exits 77 (skipped) with a reason when the
 * kernel lacks what the mode needs.  Every test starts hetmem afresh (setup)
 * with one 64 MiB emulated device and shuts it down (teardown).
 *
 * Run one test: ./hm_semantics '*PATTERN*' (a cmocka test-name glob).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "hm_test.h"
#include "hetmem_inject.h"

#define PG ((size_t)4096)
#define MB ((size_t)1 << 20)
#define DEV_SPEC "emu:64M"

struct ctx {
	struct hm_device *dev;
	int tier;
};

static enum hm_demote_mode want_mode;

/* ---------------------------------------------------------------------- */
/* Helpers                                                                  */
/* ---------------------------------------------------------------------- */

/* A non-zero 64-bit pattern word for (seed, word index). */
static inline uint64_t pat(uint64_t seed, uint64_t idx)
{
	uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (idx + 1) * 0xBF58476D1CE4E5B9ull;
	x ^= x >> 31;
	x *= 0x94D049BB133111EBull;
	x ^= x >> 29;
	return x | 1;
}

/* Fill @len bytes (multiple of 8) with the pattern; word index starts at @w0. */
static void fill_pat(void *p, size_t len, uint64_t seed, size_t w0)
{
	uint64_t *q = p;
	for (size_t i = 0; i < len / 8; i++)
		q[i] = pat(seed, w0 + i);
}

/* Byte offset of the first word that differs from the pattern, or -1. */
static long check_pat(const void *p, size_t len, uint64_t seed, size_t w0)
{
	const uint64_t *q = p;
	for (size_t i = 0; i < len / 8; i++)
		if (q[i] != pat(seed, w0 + i))
			return (long)(i * 8);
	return -1;
}

/* Byte offset of the first non-zero byte, or -1. */
static long check_zero(const void *p, size_t len)
{
	const unsigned char *q = p;
	for (size_t i = 0; i < len; i++)
		if (q[i])
			return (long)i;
	return -1;
}

#define assert_pat(p, len, seed, w0)                                                        \
	do {                                                                                \
		long bad_ = check_pat((p), (len), (seed), (w0));                            \
		if (bad_ >= 0)                                                              \
			fail_msg("pattern mismatch at byte %ld of %zu (seed %llu)", bad_,  \
				 (size_t)(len), (unsigned long long)(seed));                \
	} while (0)

#define assert_zero(p, len)                                                               \
	do {                                                                              \
		long bad_ = check_zero((p), (len));                                       \
		if (bad_ >= 0)                                                            \
			fail_msg("non-zero byte at %ld of %zu", bad_, (size_t)(len));     \
	} while (0)

/* Number of pages of [p, p+len) whose location is @want (asserts hm_where
 * succeeds). */
static size_t where_count(const void *p, size_t len, int want)
{
	size_t n = len / PG, c = 0;
	int *w = calloc(n, sizeof(int));
	assert_non_null(w);
	int rc = hm_where(p, len, w);
	if (rc)
		fail_msg("hm_where(%p, %zu) = %d: %s", p, len, rc, hm_last_error());
	for (size_t i = 0; i < n; i++)
		c += w[i] == want;
	free(w);
	return c;
}

/* A folio being fetched (readahead) reports its old place until the fetch
 * commits, though its pages may already be readable: allow it a moment. */
static size_t where_settle(const void *p, size_t len, int want)
{
	size_t got = where_count(p, len, want);
	for (int i = 0; i < 1000 && got != len / PG; i++) {
		usleep(1000);
		got = where_count(p, len, want);
	}
	return got;
}

#define assert_where(p, len, want)                                                             \
	do {                                                                                   \
		size_t got_ = where_settle((p), (len), (want));                                \
		if (got_ != (len) / PG)                                                        \
			fail_msg("hm_where: only %zu of %zu pages at %d", got_, (size_t)(len) / PG, \
				 (int)(want));                                                 \
	} while (0)

/* Poll until all pages of the range are at @want (events are applied by the
 * handler thread just after the system call returns). */
static bool wait_where(const void *p, size_t len, int want, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (where_count(p, len, want) == len / PG)
			return true;
		usleep(1000);
	}
	return where_count(p, len, want) == len / PG;
}

static uint64_t tier_used(int tier)
{
	struct hm_tier_info ti;
	int rc = hm_tier_info(tier, &ti);
	if (rc)
		fail_msg("hm_tier_info(%d) = %d: %s", tier, rc, hm_last_error());
	return ti.used;
}

static bool wait_used(int tier, uint64_t want, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (tier_used(tier) == want)
			return true;
		usleep(1000);
	}
	return tier_used(tier) == want;
}

static struct hm_stats stats(void)
{
	struct hm_stats s;
	assert_int_equal(hm_stats_get(&s), 0);
	return s;
}

static void *alloc_mirrored(struct ctx *c, size_t len, size_t folio)
{
	void *p = hm_alloc(len, folio);
	if (!p)
		fail_msg("hm_alloc(%zu, %zu): %s", len, folio, hm_last_error());
	int rc = hm_device_mirror(c->dev, p, len);
	if (rc)
		fail_msg("hm_device_mirror: %d: %s", rc, hm_last_error());
	return p;
}

/* Migrate to the device; assert every page moved (status 0). */
static void dev_migrate_all(struct ctx *c, void *p, size_t len)
{
	size_t n = hm_migrate_pages(p, len);
	assert_int_equal(n, len / PG);
	int *st = calloc(n, sizeof(int));
	assert_non_null(st);
	long m = hm_device_migrate(c->dev, p, len, st);
	for (size_t i = 0; i < n; i++)
		if (st[i] != 0)
			fail_msg("hm_device_migrate moved %ld of %zu pages; page %zu: status %d", m, n, i, st[i]);
	if (m != (long)n)
		fail_msg("hm_device_migrate moved %ld of %zu pages: %s", m, n, hm_last_error());
	free(st);
	assert_where(p, len, c->tier);
}

/* Migrate to the device whatever is not there yet; assert no page failed
 * and all are there now. */
static void dev_migrate_rest(struct ctx *c, void *p, size_t len)
{
	size_t n = hm_migrate_pages(p, len);
	int *st = calloc(n, sizeof(int));
	assert_non_null(st);
	long m = hm_device_migrate(c->dev, p, len, st);
	assert_true(m >= 0);
	for (size_t i = 0; i < n; i++)
		if (st[i] != 0 && st[i] != HM_MIGRATE_SKIPPED)
			fail_msg("hm_device_migrate: page %zu: status %d", i, st[i]);
	free(st);
	assert_where(p, len, c->tier);
}

/* Wait for a child for at most @ms; kill it on timeout.  Returns the wait
 * status, or -1 on timeout. */
static int wait_child(pid_t pid, int ms)
{
	int st;
	for (int i = 0; i < ms; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void describe_status(int st, char *buf, size_t n)
{
	if (st == -1)
		snprintf(buf, n, "timed out");
	else if (WIFEXITED(st))
		snprintf(buf, n, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, n, "status 0x%x", st);
}

static void child_signal_pipes(int fd)
{
	char b = 1;
	if (write(fd, &b, 1) != 1)
		_exit(90);
}

static void child_wait_pipe(int fd)
{
	char b;
	if (read(fd, &b, 1) != 1)
		_exit(91);
}

/* ---------------------------------------------------------------------- */
/* Setup / teardown                                                         */
/* ---------------------------------------------------------------------- */

static int setup_with(void **state, const struct hm_config *cfg)
{
	static struct ctx c;
	hm_inject_clear();
	int rc = hm_init(cfg);
	if (rc) {
		fprintf(stderr, "hm_init: %d: %s\n", rc, hm_last_error());
		return -1;
	}
	struct hm_features f;
	if (hm_probe_features(&f) || f.demote != want_mode) {
		fprintf(stderr, "demote mode in use is %d, wanted %d\n", (int)f.demote, (int)want_mode);
		hm_shutdown();
		return -1;
	}
	rc = hm_device_open(DEV_SPEC, &c.dev);
	if (rc) {
		fprintf(stderr, "hm_device_open: %d: %s\n", rc, hm_last_error());
		hm_shutdown();
		return -1;
	}
	c.tier = hm_device_tier(c.dev);
	*state = &c;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

static int teardown(void **state)
{
	alarm(0); /* a test that failed with its watchdog armed */
	signal(SIGALRM, SIG_DFL);
	hm_inject_clear();
	int rc = hm_shutdown();
	if (rc)
		fprintf(stderr, "hm_shutdown: %d: %s\n", rc, hm_last_error());
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Bad input to the device API                                               */
/* ---------------------------------------------------------------------- */

static void test_bad_input(void **state)
{
	struct ctx *c = *state;
	struct hm_device *d2 = NULL;
	char local[8192];

	assert_int_equal(hm_device_open(NULL, &d2), -EINVAL);
	assert_true(hm_last_error()[0] != 0);
	assert_int_equal(hm_device_open("emu:64M", NULL), -EINVAL);
	assert_int_equal(hm_device_open("emu:0", &d2), -EINVAL);
	assert_int_equal(hm_device_open("nosuchkind:1M", &d2), -EINVAL);
	assert_int_equal(hm_device_open("emu:lots", &d2), -EINVAL);
	assert_int_equal(hm_device_tier(NULL), -EINVAL);

	char *p = hm_alloc(16 * PG, HM_FOLIO_4K);
	char *q = hm_alloc(16 * PG, HM_FOLIO_4K);
	assert_non_null(p);
	assert_non_null(q);
	char *plain = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(plain != MAP_FAILED);

	/* mirror */
	assert_int_equal(hm_device_mirror(NULL, p, 16 * PG), -EINVAL);
	assert_int_equal(hm_device_mirror(c->dev, p + 1, 4 * PG), -EINVAL);
	assert_int_equal(hm_device_mirror(c->dev, p, 100), -EINVAL);
	assert_int_equal(hm_device_mirror(c->dev, p, 0), -EINVAL);
	assert_int_equal(hm_device_mirror(c->dev, plain, 4 * PG), -EINVAL);
	assert_non_null(strstr(hm_last_error(), "managed"));
	assert_int_equal(hm_device_mirror(c->dev, p, 16 * PG), 0);
	assert_int_equal(hm_device_mirror(c->dev, p, 16 * PG), -EEXIST);
	assert_int_equal(hm_device_mirror(c->dev, p + 4 * PG, 4 * PG), -EEXIST);

	fill_pat(p, 16 * PG, 7, 0);

	/* read / write */
	assert_int_equal(hm_device_read(NULL, p, local, 64, 0), -EINVAL);
	assert_int_equal(hm_device_read(c->dev, p, NULL, 64, 0), -EINVAL);
	assert_int_equal(hm_device_write(c->dev, p, NULL, 64, 0), -EINVAL);
	assert_int_equal(hm_device_read(c->dev, p, local, 64, 0x80), -EINVAL);
	assert_int_equal(hm_device_write(c->dev, p, local, 64, 0x80), -EINVAL);
	assert_int_equal(hm_device_read(c->dev, q, local, 64, 0), -ENOENT);
	assert_non_null(strstr(hm_last_error(), "not mirrored"));
	assert_int_equal(hm_device_write(c->dev, q, local, 64, 0), -ENOENT);
	assert_int_equal(hm_device_read(c->dev, plain, local, 64, 0), -ENOENT);
	/* running past the end of the mirror */
	assert_int_equal(hm_device_read(c->dev, p + 15 * PG, local, 2 * PG, 0), -ENOENT);
	/* wrapping around the address space */
	assert_int_equal(hm_device_read(c->dev, (void *)(UINTPTR_MAX - 100), local, 4096, 0), -ENOENT);
	/* nothing to do is fine */
	assert_int_equal(hm_device_read(c->dev, p, local, 0, 0), 0);

	/* migrate */
	assert_int_equal(hm_device_migrate(NULL, p, PG, NULL), -EINVAL);
	assert_int_equal(hm_device_migrate(c->dev, q, PG, NULL), -ENOENT);
	assert_int_equal(hm_device_migrate(c->dev, p + 1, PG, NULL), -EINVAL);
	assert_int_equal(hm_migrate(p, PG, 15, NULL), -ENOENT);
	assert_int_equal(hm_migrate(p, PG, -1, NULL), -EINVAL);
	assert_int_equal(hm_migrate(plain, PG, c->tier, NULL), -EINVAL);
	/* nothing of the bad calls moved anything */
	assert_where(p, 16 * PG, 0);
	assert_pat(p, 16 * PG, 7, 0);

	/* unaligned device accesses are fine (a DMA of bytes) and cross a
	 * device page / RAM page boundary correctly */
	assert_int_equal(hm_migrate(p, PG, c->tier, NULL), 1);
	assert_int_equal(where_count(p, PG, c->tier), 1);
	assert_int_equal(hm_device_read(c->dev, p + 4000, local, 200, 0), 0);
	assert_pat(local, 200, 7, 4000 / 8);
	uint64_t w[25];
	fill_pat(w, sizeof(w), 8, 0);
	assert_int_equal(hm_device_write(c->dev, p + 4000, w, sizeof(w), 0), 0);
	assert_int_equal(where_count(p, PG, c->tier), 1); /* written on the device */
	assert_int_equal(memcmp(p + 4000, w, sizeof(w)), 0);
	assert_pat(p, 4000, 7, 0);
	assert_pat(p + 4200, 16 * PG - 4200, 7, 4200 / 8);

	/* unmirror */
	assert_int_equal(hm_device_unmirror(NULL, p), -EINVAL);
	assert_int_equal(hm_device_unmirror(c->dev, p + PG), -ENOENT);
	assert_int_equal(hm_device_unmirror(c->dev, p), 0);
	assert_int_equal(hm_device_read(c->dev, p, local, 64, 0), -ENOENT);
	assert_int_equal(hm_device_unmirror(c->dev, p), -ENOENT);

	assert_int_equal(hm_device_evict(NULL), -EINVAL);
	assert_int_equal(hm_device_close(NULL), -EINVAL);

	munmap(plain, 4 * PG);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_free(q, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* Mirror read/write of a whole range in one pass                            */
/* ---------------------------------------------------------------------- */

static void mirror_rw(struct ctx *c, size_t folio)
{
	const size_t len = 4 * MB;
	char *p = alloc_mirrored(c, len, folio);
	char *buf = malloc(len);
	assert_non_null(buf);
	struct hm_stats s0 = stats();

	/* device write (in place), then CPU read */
	fill_pat(buf, len, 1, 0);
	assert_int_equal(hm_device_write(c->dev, p, buf, len, 0), 0);
	assert_where(p, len, 0); /* in place: it did not migrate */
	assert_pat(p, len, 1, 0);

	/* CPU write, then device read (in place) */
	fill_pat(p, len, 2, 0);
	memset(buf, 0, len);
	assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0);
	assert_pat(buf, len, 2, 0);
	assert_where(p, len, 0);

	/* device write with migration: the pages now live on the device */
	fill_pat(buf, len, 3, 0);
	assert_int_equal(hm_device_write(c->dev, p, buf, len, HM_DEV_MIGRATE), 0);
	assert_where(p, len, c->tier);
	assert_int_equal(tier_used(c->tier), len);
	memset(buf, 0, len);
	assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0);
	assert_pat(buf, len, 3, 0);
	assert_where(p, len, c->tier); /* read there, not moved */
	/* the CPU sees the device's write and brings the pages home */
	assert_pat(p, len, 3, 0);
	assert_where(p, len, 0);
	assert_int_equal(tier_used(c->tier), 0);

	/* CPU write, then device read with migration */
	fill_pat(p, len, 4, 0);
	memset(buf, 0, len);
	assert_int_equal(hm_device_read(c->dev, p, buf, len, HM_DEV_MIGRATE), 0);
	assert_pat(buf, len, 4, 0);
	assert_where(p, len, c->tier);
	assert_pat(p, len, 4, 0);

	struct hm_stats s1 = stats();
	assert_int_equal(s1.device_reads - s0.device_reads, 3);
	assert_int_equal(s1.device_writes - s0.device_writes, 2);
	assert_true(s1.pages_demoted - s0.pages_demoted >= 2 * len / PG);
	assert_true(s1.faults_fetch > s0.faults_fetch);
	free(buf);
	assert_int_equal(hm_free(p, 0), 0);
}

static void test_mirror_rw_4k(void **state) { mirror_rw(*state, HM_FOLIO_4K); }
static void test_mirror_rw_64k(void **state) { mirror_rw(*state, HM_FOLIO_64K); }
static void test_mirror_rw_2m(void **state) { mirror_rw(*state, HM_FOLIO_2M); }

/* ---------------------------------------------------------------------- */
/* Protection                                                               */
/* ---------------------------------------------------------------------- */

static void test_protect(void **state)
{
	struct ctx *c = *state;
	const size_t len = 64 * PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_4K);
	char *buf = malloc(len);
	assert_non_null(buf);
	fill_pat(p, len, 10, 0);
	/* half in RAM, half on the device */
	dev_migrate_all(c, p + len / 2, len / 2);

	assert_int_equal(hm_protect(p, len, PROT_READ), 0);
	fill_pat(buf, len, 11, 0);
	for (unsigned fl = 0; fl <= HM_DEV_MIGRATE; fl += HM_DEV_MIGRATE) {
		assert_int_equal(hm_device_write(c->dev, p, buf, len, fl), -EACCES);
		assert_non_null(strstr(hm_last_error(), "protect"));
		/* a single byte on a device page, and one on a RAM page */
		assert_int_equal(hm_device_write(c->dev, p + len - 1, buf, 1, fl), -EACCES);
		assert_int_equal(hm_device_write(c->dev, p + 1, buf, 1, fl), -EACCES);
	}
	/* no byte changed, wherever it lives */
	assert_int_equal(where_count(p + len / 2, len / 2, c->tier), len / 2 / PG);
	memset(buf, 0, len);
	assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0); /* reading is allowed */
	assert_pat(buf, len, 10, 0);
	assert_pat(p, len, 10, 0); /* CPU read brings device pages into a read-only mapping */
	assert_where(p, len, 0);

	/* read-only pages can still be demoted and read back */
	dev_migrate_all(c, p, len);
	assert_int_equal(hm_device_write(c->dev, p, buf, PG, 0), -EACCES);
	assert_pat(p, len, 10, 0);

	/* PROT_NONE: no device access at all */
	dev_migrate_all(c, p + len / 2, len / 2);
	assert_int_equal(hm_protect(p, len, PROT_NONE), 0);
	assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), -EACCES);
	assert_int_equal(hm_device_read(c->dev, p + len - PG, buf, PG, 0), -EACCES); /* on device */
	assert_int_equal(hm_device_read(c->dev, p, buf, PG, HM_DEV_MIGRATE), -EACCES); /* in RAM */
	assert_int_equal(hm_device_write(c->dev, p, buf, PG, 0), -EACCES);
	/* migrating a PROT_NONE page out of RAM is refused per page */
	int st[64];
	assert_int_equal(hm_migrate_pages(p, len / 2), len / 2 / PG);
	assert_int_equal(hm_device_migrate(c->dev, p, len / 2, st), 0);
	for (size_t i = 0; i < len / 2 / PG; i++)
		assert_int_equal(st[i], -EACCES);
	assert_where(p, len / 2, 0);

	/* access restored: everything is still there, writes work again */
	assert_int_equal(hm_protect(p, len, PROT_READ | PROT_WRITE), 0);
	memset(buf, 0, len);
	assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0);
	assert_pat(buf, len, 10, 0);
	fill_pat(buf, len, 12, 0);
	assert_int_equal(hm_device_write(c->dev, p, buf, len, 0), 0);
	assert_pat(p, len, 12, 0);
	free(buf);
	assert_int_equal(hm_free(p, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* Migrate, read there, read half back on the CPU, migrate again; x10       */
/* ---------------------------------------------------------------------- */

static void migrate_cycle(struct ctx *c, size_t folio)
{
	const size_t len = 4 * MB, half = len / 2, np = len / PG;
	char *p = alloc_mirrored(c, len, folio);
	char *buf = malloc(len);
	int *st = calloc(np, sizeof(int));
	assert_non_null(buf);
	assert_non_null(st);
	struct hm_stats s0 = stats();

	for (uint64_t it = 0; it < 10; it++) {
		uint64_t seed = 100 + it;
		if (it & 1) {
			/* the device writes the new data into its memory */
			fill_pat(buf, len, seed, 0);
			assert_int_equal(hm_device_write(c->dev, p, buf, len, HM_DEV_MIGRATE), 0);
			assert_where(p, len, c->tier);
		} else {
			/* the CPU writes it (faulting back what was on the device) */
			fill_pat(p, len, seed, 0);
			assert_where(p, len, 0);
			dev_migrate_all(c, p, len);
		}
		/* the device reads it where it is */
		memset(buf, 0, len);
		assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0);
		assert_pat(buf, len, seed, 0);
		assert_where(p, len, c->tier);
		/* the CPU reads the upper half back */
		assert_pat(p + half, half, seed, half / 8);
		assert_where(p + half, half, 0);
		assert_where(p, half, c->tier);
		assert_int_equal(tier_used(c->tier), half);
		/* migrate again: only the upper half moves */
		long m = hm_device_migrate(c->dev, p, len, st);
		assert_int_equal(m, (long)(half / PG));
		for (size_t i = 0; i < np; i++)
			assert_int_equal(st[i], i < np / 2 ? HM_MIGRATE_SKIPPED : 0);
		assert_where(p, len, c->tier);
		memset(buf, 0, len);
		assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0);
		assert_pat(buf, len, seed, 0);
	}
	/* and the CPU sees the last data everywhere */
	assert_pat(p, len, 109, 0);
	struct hm_stats s1 = stats();
	assert_true(s1.pages_demoted - s0.pages_demoted >= 10 * np);
	assert_true(s1.pages_promoted - s0.pages_promoted >= 10 * np / 2);
	free(st);
	free(buf);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(tier_used(c->tier), 0);
}

static void test_migrate_cycle_4k(void **state) { migrate_cycle(*state, HM_FOLIO_4K); }
static void test_migrate_cycle_64k(void **state) { migrate_cycle(*state, HM_FOLIO_64K); }
static void test_migrate_cycle_2m(void **state) { migrate_cycle(*state, HM_FOLIO_2M); }

/* ---------------------------------------------------------------------- */
/* Device eviction keeps the data                                           */
/* ---------------------------------------------------------------------- */

static void test_evict(void **state)
{
	struct ctx *c = *state;
	const size_t len = 4 * MB;
	char *a = alloc_mirrored(c, len, HM_FOLIO_64K);
	char *b = alloc_mirrored(c, len, HM_FOLIO_2M);
	fill_pat(a, len, 20, 0);
	fill_pat(b, len, 21, 0);
	dev_migrate_all(c, a, len);
	dev_migrate_all(c, b + len / 2, len / 2);
	assert_int_equal(tier_used(c->tier), len + len / 2);
	struct hm_stats s0 = stats();

	long n = hm_device_evict(c->dev);
	assert_int_equal(n, (long)((len + len / 2) / PG));
	assert_where(a, len, 0);
	assert_where(b, len, 0);
	assert_int_equal(tier_used(c->tier), 0);
	struct hm_stats s1 = stats();
	assert_int_equal(s1.device_evictions - s0.device_evictions, (len + len / 2) / PG);
	/* evicted pages are in RAM: reading them makes no fetch fault */
	assert_pat(a, len, 20, 0);
	assert_pat(b, len, 21, 0);
	struct hm_stats s2 = stats();
	assert_int_equal(s2.faults_fetch, s1.faults_fetch);
	/* nothing left: evicting again moves nothing */
	assert_int_equal(hm_device_evict(c->dev), 0);
	/* the device still works after an eviction */
	dev_migrate_all(c, a, len);
	assert_pat(a, len, 20, 0);

	/* closing a device evicts too */
	struct hm_device *d2;
	char *p = hm_alloc(MB, HM_FOLIO_4K);
	assert_non_null(p);
	assert_int_equal(hm_device_open("emu:8M", &d2), 0);
	int t2 = hm_device_tier(d2);
	assert_int_equal(hm_device_mirror(d2, p, MB), 0);
	fill_pat(p, MB, 22, 0);
	assert_int_equal(hm_device_migrate(d2, p, MB, NULL), MB / PG);
	assert_where(p, MB, t2);
	assert_int_equal(hm_device_close(d2), 0);
	assert_where(p, MB, 0);
	assert_pat(p, MB, 22, 0);

	assert_int_equal(hm_free(a, 0), 0);
	assert_int_equal(hm_free(b, 0), 0);
	assert_int_equal(hm_free(p, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* fork after migration                                                     */
/* ---------------------------------------------------------------------- */

static void test_fork(void **state)
{
	struct ctx *c = *state;
	const size_t len = 2 * MB, np = len / PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_64K);
	fill_pat(p, len, 30, 0);
	dev_migrate_all(c, p, len);
	/* half of it back on the CPU: the child sees RAM and device pages
	 * (the upper half: readahead runs forward, within the region) */
	assert_pat(p + len / 2, len / 2, 30, len / 2 / 8);
	assert_where(p + len / 2, len / 2, 0);
	assert_where(p, len / 2, c->tier);
	struct hm_stats s0 = stats();

	int to_child[2], to_parent[2];
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		/* the parent's values, including pages that were on the device */
		if (check_pat(p, len, 30, 0) >= 0)
			_exit(10);
		/* a write here is ours only */
		fill_pat(p, len, 31, 0);
		child_signal_pipes(to_parent[1]);
		child_wait_pipe(to_child[0]); /* the parent wrote and migrated */
		if (check_pat(p, len, 31, 0) >= 0)
			_exit(11);
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
	char b;
	assert_int_equal(read(to_parent[0], &b, 1), 1);
	/* the child's writes are not seen here */
	assert_pat(p, len, 30, 0);
	struct hm_stats s1 = stats();
	assert_int_equal(s1.fork_homes - s0.fork_homes, np / 2);
	/* pages shared with the child (copy-on-write) can be migrated again */
	dev_migrate_all(c, p, len);
	/* and written, by the CPU and by the device: the child must not see it */
	fill_pat(p + len / 2, len / 2, 32, len / 2 / 8);
	char *buf = malloc(len / 2);
	assert_non_null(buf);
	fill_pat(buf, len / 2, 32, 0);
	assert_int_equal(hm_device_write(c->dev, p, buf, len / 2, 0), 0);
	free(buf);
	assert_int_equal(write(to_child[1], &b, 1), 1);
	int st = wait_child(pid, 10000);
	char desc[64];
	describe_status(st, desc, sizeof(desc));
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("fork child: %s (10: wrong values after fork, 11: saw the parent's write)", desc);
	assert_pat(p, len, 32, 0);
	close(to_child[1]);
	close(to_parent[0]);
	assert_int_equal(hm_free(p, 0), 0);
}

/* With HM_CFG_NO_FORK_HOME pages stay on the device across fork(); a child
 * that touches one gets SIGBUS at that address, never zeros. */
static volatile uintptr_t bus_lo, bus_hi;

static void child_bus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	uintptr_t a = (uintptr_t)si->si_addr;
	_exit(a >= bus_lo && a < bus_hi ? 42 : 43);
}

static void child_expect_sigbus(const volatile char *addr, uintptr_t lo, uintptr_t hi)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = child_bus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	bus_lo = lo;
	bus_hi = hi;
	sigaction(SIGBUS, &sa, NULL);
	volatile char v = *addr;
	(void)v;
	_exit(v == 0 ? 44 : 45); /* read something instead of faulting */
}

static void test_fork_nohome_sigbus(void **state)
{
	struct ctx *c;
	hm_shutdown();
	struct hm_config cfg = {.flags = HM_CFG_NO_FORK_HOME};
	assert_int_equal(setup_with(state, &cfg), 0);
	c = *state;
	const size_t len = 16 * PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_4K);
	fill_pat(p, len, 35, 0);
	dev_migrate_all(c, p + 8 * PG, 8 * PG);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (check_pat(p, 8 * PG, 35, 0) >= 0)
			_exit(10);
		child_expect_sigbus(p + 9 * PG + 123, (uintptr_t)p + 9 * PG, (uintptr_t)p + 10 * PG);
	}
	int st = wait_child(pid, 10000);
	char desc[64];
	describe_status(st, desc, sizeof(desc));
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 42)
		fail_msg("child touching a device page without fork-home: %s "
			 "(want exit 42 = SIGBUS at the page; 44 = read zeros, 45 = read data, 43 = wrong si_addr)",
			 desc);
	/* the parent still has everything */
	assert_where(p + 8 * PG, 8 * PG, c->tier);
	assert_pat(p, len, 35, 0);
	assert_int_equal(hm_free(p, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* Huge (2 MiB) folios                                                      */
/* ---------------------------------------------------------------------- */

static void test_huge_empty(void **state)
{
	struct ctx *c = *state;
	const size_t len = 4 * MB, np = len / PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_2M);
	int *st = calloc(np, sizeof(int));
	assert_non_null(st);
	assert_where(p, len, HM_WHERE_NONE);
	assert_int_equal(hm_migrate_pages(p, len), np);
	assert_int_equal(hm_device_migrate(c->dev, p, len, st), 0);
	for (size_t i = 0; i < np; i++)
		assert_int_equal(st[i], HM_MIGRATE_SKIPPED);
	assert_where(p, len, HM_WHERE_NONE);
	assert_int_equal(tier_used(c->tier), 0);
	char *buf = malloc(len);
	assert_non_null(buf);
	memset(buf, 0xa5, len);
	assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0);
	assert_zero(buf, len);
	assert_zero(p, len);
	free(buf);
	free(st);
	assert_int_equal(hm_free(p, 0), 0);
}

static void test_huge_zero(void **state)
{
	struct ctx *c = *state;
	const size_t len = 4 * MB;
	char *p = alloc_mirrored(c, len, HM_FOLIO_2M);
	/* populated by reading only: zero pages */
	assert_zero(p, len);
	assert_where(p, len, 0);
	dev_migrate_all(c, p, len);
	assert_int_equal(tier_used(c->tier), len);
	char *buf = malloc(len);
	assert_non_null(buf);
	memset(buf, 0xa5, len);
	assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0);
	assert_zero(buf, len);
	assert_zero(p, len);
	assert_where(p, len, 0);
	free(buf);
	assert_int_equal(hm_free(p, 0), 0);
}

static void test_huge_populated(void **state)
{
	struct ctx *c = *state;
	const size_t len = 4 * MB;
	char *p = alloc_mirrored(c, len, HM_FOLIO_2M);
	char *buf = malloc(len);
	assert_non_null(buf);
	fill_pat(p, len, 40, 0);
	dev_migrate_all(c, p, len);
	assert_int_equal(tier_used(c->tier), len);
	assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0);
	assert_pat(buf, len, 40, 0);
	/* one CPU touch brings the whole 2 MiB folio home, not one page */
	assert_int_equal(p[5 * PG], (char)(pat(40, 5 * PG / 8) & 0xff));
	assert_where(p, 2 * MB, 0);
	assert_where(p + 2 * MB, 2 * MB, c->tier);
	assert_pat(p, len, 40, 0);
	assert_int_equal(hm_free(p, 0), 0);

	/* a folio with only one page touched moves whole: the rest is zeros */
	p = alloc_mirrored(c, 2 * MB, HM_FOLIO_2M);
	fill_pat(p + 77 * PG, PG, 41, 0);
	assert_where(p, 2 * MB, 0);
	dev_migrate_all(c, p, 2 * MB);
	memset(buf, 0xa5, 2 * MB);
	assert_int_equal(hm_device_read(c->dev, p, buf, 2 * MB, 0), 0);
	assert_zero(buf, 77 * PG);
	assert_pat(buf + 77 * PG, PG, 41, 0);
	assert_zero(buf + 78 * PG, 2 * MB - 78 * PG);
	assert_zero(p, 77 * PG);
	assert_pat(p + 77 * PG, PG, 41, 0);
	assert_zero(p + 78 * PG, 2 * MB - 78 * PG);
	free(buf);
	assert_int_equal(hm_free(p, 0), 0);
}

static void test_huge_partial_unmap(void **state)
{
	struct ctx *c = *state;
	const size_t len = 8 * MB;
	char *p = alloc_mirrored(c, len, HM_FOLIO_2M);
	char *buf = malloc(len);
	assert_non_null(buf);
	fill_pat(p, len, 50, 0);
	dev_migrate_all(c, p, len);
	assert_int_equal(tier_used(c->tier), len);

	/* hm_free of a folio-aligned part: its device memory is freed */
	assert_int_equal(hm_free(p + 2 * MB, 2 * MB), 0);
	assert_where(p + 2 * MB, 2 * MB, HM_WHERE_UNMAPPED);
	assert_false(hm_is_managed(p + 2 * MB));
	assert_int_equal(tier_used(c->tier), 6 * MB);
	/* a misaligned part is refused and changes nothing */
	assert_int_equal(hm_free(p + MB, MB), -EINVAL);
	assert_int_equal(tier_used(c->tier), 6 * MB);

	/* raw munmap of half of a folio on the device: the handler sees it */
	assert_int_equal(munmap(p + 4 * MB + MB, MB), 0);
	if (!wait_where(p + 4 * MB + MB, MB, HM_WHERE_UNMAPPED, 2000))
		fail_msg("pages unmapped by munmap() not reported unmapped");
	if (!wait_used(c->tier, 5 * MB, 2000))
		fail_msg("device memory of munmapped pages not freed: used %llu",
			 (unsigned long long)tier_used(c->tier));

	/* the rest keeps its data, read by the device in its memory ... */
	assert_where(p, 2 * MB, c->tier);
	assert_where(p + 4 * MB, MB, c->tier);
	assert_int_equal(hm_device_read(c->dev, p, buf, 2 * MB, 0), 0);
	assert_pat(buf, 2 * MB, 50, 0);
	assert_int_equal(hm_device_read(c->dev, p + 6 * MB, buf, 2 * MB, 0), 0);
	assert_pat(buf, 2 * MB, 50, 6 * MB / 8);
	/* ... the device cannot reach the freed part */
	assert_true(hm_device_read(c->dev, p + 2 * MB, buf, PG, 0) < 0);
	/* ... and by the CPU */
	assert_pat(p, 2 * MB, 50, 0);
	assert_pat(p + 4 * MB, MB, 50, 4 * MB / 8);
	assert_pat(p + 6 * MB, 2 * MB, 50, 6 * MB / 8);
	assert_where(p + 4 * MB, MB, 0);
	assert_where(p + 4 * MB + MB, MB, HM_WHERE_UNMAPPED);

	/* migrating the partly unmapped folio again loses nothing */
	int st[512];
	hm_migrate(p + 4 * MB, MB, c->tier, st);
	assert_pat(p + 4 * MB, MB, 50, 4 * MB / 8);

	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(tier_used(c->tier), 0);
	free(buf);
}

static char *reserve_aligned(size_t len, size_t align)
{
	char *r = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(r != MAP_FAILED);
	char *a = (char *)(((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1));
	if (a > r)
		munmap(r, (size_t)(a - r));
	munmap(a + len, (size_t)(r + len + align - (a + len)));
	return a;
}

static void test_huge_mremap(void **state)
{
	struct ctx *c = *state;
	const size_t len = 4 * MB;
	char *p = alloc_mirrored(c, len, HM_FOLIO_2M);
	fill_pat(p, len, 60, 0);
	dev_migrate_all(c, p, len);
	/* one page of the second folio back in RAM: mixed placement */
	assert_pat(p + 3 * MB, PG, 60, 3 * MB / 8);
	assert_where(p + 2 * MB, 2 * MB, 0);

	/* the whole allocation moves */
	char *dst = reserve_aligned(len, 2 * MB);
	char *q = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	assert_true(q == dst);
	/* the data is read correctly at the new address (this faults the
	 * device pages back from there) */
	assert_pat(q, len, 60, 0);
	assert_true(hm_is_managed(q));
	assert_false(hm_is_managed(p));
	assert_int_equal(hm_folio_size(q), HM_FOLIO_2M);
	assert_where(q, len, 0);
	assert_int_equal(tier_used(c->tier), 0);
	/* and it can be demoted and read again there */
	assert_int_equal(hm_migrate(q, len, c->tier, NULL), len / PG);
	assert_where(q, len, c->tier);
	assert_pat(q, len, 60, 0);
	assert_int_equal(hm_free(q, 0), 0);
	assert_int_equal(tier_used(c->tier), 0);

	/* part of an allocation (one folio, on the device) moves */
	p = alloc_mirrored(c, len, HM_FOLIO_2M);
	fill_pat(p, len, 61, 0);
	dev_migrate_all(c, p, len);
	dst = reserve_aligned(2 * MB, 2 * MB);
	q = mremap(p + 2 * MB, 2 * MB, 2 * MB, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	assert_true(q == dst);
	assert_pat(q, 2 * MB, 61, 2 * MB / 8);
	assert_true(hm_is_managed(q));
	assert_where(q, 2 * MB, 0);
	assert_where(p, 2 * MB, c->tier); /* the part left behind is untouched */
	assert_pat(p, 2 * MB, 61, 0);
	assert_int_equal(hm_free(q, 0), 0);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(tier_used(c->tier), 0);
}

/* ---------------------------------------------------------------------- */
/* A range owned by one device is refused by another                        */
/* ---------------------------------------------------------------------- */

static void test_owner_refused(void **state)
{
	struct ctx *c = *state;
	const size_t len = 32 * PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_4K);
	struct hm_device *d2;
	assert_int_equal(hm_device_open("emu:8M", &d2), 0);
	assert_int_not_equal(hm_device_tier(d2), c->tier);
	char buf[PG];

	assert_int_equal(hm_device_mirror(d2, p, len), -EBUSY);
	const char *msg = hm_last_error();
	if (!strstr(msg, DEV_SPEC) || !strstr(msg, "owned"))
		fail_msg("refusal does not name the owner: '%s'", msg);
	/* any overlap is refused */
	assert_int_equal(hm_device_mirror(d2, p + 31 * PG, PG), -EBUSY);
	assert_int_equal(hm_device_mirror(d2, p + 8 * PG, 4 * PG), -EBUSY);
	/* and d2 cannot reach it */
	fill_pat(p, len, 70, 0);
	assert_int_equal(hm_device_read(d2, p, buf, PG, 0), -ENOENT);
	assert_int_equal(hm_device_write(d2, p, buf, PG, HM_DEV_MIGRATE), -ENOENT);
	assert_int_equal(hm_device_migrate(d2, p, len, NULL), -ENOENT);
	assert_where(p, len, 0);
	assert_pat(p, len, 70, 0);

	/* once the owner lets go, the other device may take it */
	dev_migrate_all(c, p, len);
	assert_int_equal(hm_device_unmirror(c->dev, p), 0);
	assert_int_equal(hm_device_mirror(d2, p, len), 0);
	assert_int_equal(hm_device_mirror(c->dev, p, PG), -EBUSY);
	assert_non_null(strstr(hm_last_error(), "emu:8M"));
	assert_int_equal(hm_device_read(d2, p, buf, PG, 0), 0);
	assert_pat(buf, PG, 70, 0);
	/* device to device */
	assert_int_equal(hm_device_migrate(d2, p, len, NULL), len / PG);
	assert_where(p, len, hm_device_tier(d2));
	assert_int_equal(tier_used(c->tier), 0);
	assert_pat(p, len, 70, 0);
	assert_int_equal(hm_device_close(d2), 0);
	assert_int_equal(hm_free(p, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* Allocation failure on the device falls back                              */
/* ---------------------------------------------------------------------- */

static void test_alloc_fallback_fragmented(void **state)
{
	(void)state;
	struct hm_device *d;
	assert_int_equal(hm_device_open("emu:4M", &d), 0);
	int t = hm_device_tier(d);
	const size_t np = 1024;

	/* fill the device, then free every other slot: no 2 MiB run is left */
	char *frag = hm_alloc(np * PG, HM_FOLIO_4K);
	assert_non_null(frag);
	assert_int_equal(hm_device_mirror(d, frag, np * PG), 0);
	fill_pat(frag, np * PG, 80, 0);
	assert_int_equal(hm_device_migrate(d, frag, np * PG, NULL), (long)np);
	assert_int_equal(tier_used(t), 4 * MB);
	for (size_t i = 0; i < np; i += 2)
		assert_int_equal(hm_migrate(frag + i * PG, PG, 0, NULL), 1);
	assert_int_equal(tier_used(t), 2 * MB);

	/* a 2 MiB folio falls back to single slots */
	char *h = hm_alloc(2 * MB, HM_FOLIO_2M);
	assert_non_null(h);
	assert_int_equal(hm_device_mirror(d, h, 2 * MB), 0);
	fill_pat(h, 2 * MB, 81, 0);
	struct hm_stats s0 = stats();
	int st[512];
	assert_int_equal(hm_device_migrate(d, h, 2 * MB, st), 512);
	for (int i = 0; i < 512; i++)
		assert_int_equal(st[i], 0);
	struct hm_stats s1 = stats();
	assert_int_equal(s1.fallback_pages - s0.fallback_pages, 1);
	assert_where(h, 2 * MB, t);
	assert_int_equal(tier_used(t), 4 * MB);
	char *buf = malloc(2 * MB);
	assert_non_null(buf);
	assert_int_equal(hm_device_read(d, h, buf, 2 * MB, 0), 0);
	assert_pat(buf, 2 * MB, 81, 0);

	/* the device is full: the next folio stays in RAM, -ENOSPC */
	char *h2 = hm_alloc(2 * MB, HM_FOLIO_2M);
	assert_non_null(h2);
	assert_int_equal(hm_device_mirror(d, h2, 2 * MB), 0);
	fill_pat(h2, 2 * MB, 82, 0);
	assert_int_equal(hm_device_migrate(d, h2, 2 * MB, st), 0);
	for (int i = 0; i < 512; i++)
		assert_int_equal(st[i], -ENOSPC);
	struct hm_stats s2 = stats();
	assert_int_equal(s2.migrate_failures - s1.migrate_failures, 512);
	assert_where(h2, 2 * MB, 0);
	assert_pat(h2, 2 * MB, 82, 0);
	/* a device access asking for migration is served in place */
	fill_pat(buf, 2 * MB, 83, 0);
	assert_int_equal(hm_device_write(d, h2, buf, 2 * MB, HM_DEV_MIGRATE), 0);
	assert_where(h2, 2 * MB, 0);
	assert_pat(h2, 2 * MB, 83, 0);

	/* everything intact */
	assert_pat(h, 2 * MB, 81, 0);
	for (size_t i = 0; i < np; i++)
		assert_pat(frag + i * PG, PG, 80, i * PG / 8);
	free(buf);
	assert_int_equal(hm_free(frag, 0), 0);
	assert_int_equal(hm_free(h, 0), 0);
	assert_int_equal(hm_free(h2, 0), 0);
	assert_int_equal(hm_device_close(d), 0);
}

static void test_alloc_fallback_inject(void **state)
{
	struct ctx *c = *state;
	const size_t len = 4 * MB;
	char *h = alloc_mirrored(c, len, HM_FOLIO_2M);
	fill_pat(h, len, 90, 0);
	int st[1024];

	/* the 2 MiB run fails once: single slots */
	struct hm_stats s0 = stats();
	assert_int_equal(hm_inject("tier_alloc", ENOMEM, 0, 1), 0);
	assert_int_equal(hm_device_migrate(c->dev, h, 2 * MB, st), 512);
	struct hm_stats s1 = stats();
	assert_int_equal(s1.fallback_pages - s0.fallback_pages, 1);
	assert_int_equal(s1.injected - s0.injected, 1);
	assert_where(h, 2 * MB, c->tier);

	/* the run and a single slot fail: the folio stays in RAM */
	assert_int_equal(hm_inject("tier_alloc", ENOMEM, 0, 2), 0);
	assert_int_equal(hm_device_migrate(c->dev, h + 2 * MB, 2 * MB, st), 0);
	for (int i = 0; i < 512; i++)
		assert_true(st[i] == -ENOMEM || st[i] == -ENOSPC);
	struct hm_stats s2 = stats();
	assert_int_equal(s2.migrate_failures - s1.migrate_failures, 512);
	assert_int_equal(s2.injected - s1.injected, 2);
	assert_where(h + 2 * MB, 2 * MB, 0);
	assert_int_equal(tier_used(c->tier), 2 * MB); /* no slot leaked */
	assert_pat(h, len, 90, 0);

	/* 4 KiB folios: per-page results, the first three stay in RAM */
	char *p = alloc_mirrored(c, 8 * PG, HM_FOLIO_4K);
	fill_pat(p, 8 * PG, 91, 0);
	assert_int_equal(hm_inject("tier_alloc", ENOMEM, 0, 3), 0);
	assert_int_equal(hm_device_migrate(c->dev, p, 8 * PG, st), 5);
	for (int i = 0; i < 8; i++)
		assert_int_equal(st[i], i < 3 ? -ENOMEM : 0);
	assert_where(p, 3 * PG, 0);
	assert_where(p + 3 * PG, 5 * PG, c->tier);
	/* a failure after some successes (skip) */
	assert_int_equal(hm_inject("tier_alloc", ENOMEM, 1, 1), 0);
	assert_int_equal(hm_device_migrate(c->dev, p, 3 * PG, st), 2);
	assert_int_equal(st[0], 0);
	assert_int_equal(st[1], -ENOMEM);
	assert_int_equal(st[2], 0);
	assert_pat(p, 8 * PG, 91, 0);
	hm_inject_clear();
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_free(h, 0), 0);
	assert_int_equal(tier_used(c->tier), 0);
}

/* ---------------------------------------------------------------------- */
/* munmap racing device access                                              */
/* ---------------------------------------------------------------------- */

#define RACE_CHUNK (16 * PG)

struct racer {
	struct hm_device *dev;
	char *base;
	size_t len;
	uint64_t seed;
	unsigned flags;
	unsigned rnd;
	atomic_bool *stop;
	atomic_int *unmapping; /* set just before the range is unmapped */
	long ok, errs, wrong, late, unexpected;
	int unexpected_rc;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	char *local = malloc(RACE_CHUNK);
	if (!local)
		return NULL;
	size_t nchunks = r->len / RACE_CHUNK;
	while (!atomic_load(r->stop)) {
		size_t off = (size_t)(rand_r(&r->rnd) % nchunks) * RACE_CHUNK;
		memset(local, 0, RACE_CHUNK);
		int before = atomic_load(r->unmapping);
		int rc = hm_device_read(r->dev, r->base + off, local, RACE_CHUNK, r->flags);
		if (rc == 0) {
			r->ok++;
			if (check_pat(local, RACE_CHUNK, r->seed, off / 8) >= 0) {
				/* a read that overlapped a raw munmap() may have read
				 * whatever got mapped there next (a DMA racing munmap);
				 * one that finished before it, or any read racing
				 * hm_free() (which waits for device accesses), may not */
				if (before || atomic_load(r->unmapping))
					r->late++;
				else
					r->wrong++;
			}
		} else if (rc == -ENOENT || rc == -EFAULT) {
			r->errs++;
		} else {
			r->unexpected++;
			r->unexpected_rc = rc;
		}
	}
	free(local);
	return NULL;
}

static void race_alarm(int sig)
{
	static const char m[] = "test_unmap_race: hung (no progress in 30 s)\n";
	(void)sig;
	if (write(2, m, sizeof(m) - 1) < 0)
		_exit(1);
	_exit(1);
}

static void test_unmap_race(void **state)
{
	struct ctx *c = *state;
	enum { NTHREADS = 3, ROUNDS = 16 };
	signal(SIGALRM, race_alarm);
	alarm(30);
	struct hm_stats s0 = stats();
	long total_ok = 0, total_err = 0, total_late = 0;
	for (int round = 0; round < ROUNDS; round++) {
		size_t folio = (round & 2) ? HM_FOLIO_2M : HM_FOLIO_4K;
		size_t len = 4 * MB;
		bool raw = round & 1;
		char *p = alloc_mirrored(c, len, folio);
		uint64_t seed = 200 + (uint64_t)round;
		fill_pat(p, len, seed, 0);
		/* some on the device, some in RAM */
		assert_int_equal(hm_device_migrate(c->dev, p, len / 2, NULL), (long)(len / 2 / PG));

		atomic_bool stop = false;
		atomic_int unmapping = 0;
		struct racer rs[NTHREADS];
		pthread_t th[NTHREADS];
		for (int i = 0; i < NTHREADS; i++) {
			rs[i] = (struct racer){.dev = c->dev, .base = p, .len = len, .seed = seed,
					       .flags = (i == 2 || (round & 4)) ? HM_DEV_MIGRATE : 0,
					       .rnd = (unsigned)(round * 10 + i), .stop = &stop,
					       .unmapping = &unmapping};
			assert_int_equal(pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
		}
		usleep(5000 + (useconds_t)(round % 4) * 3000);
		if (raw) {
			atomic_store(&unmapping, 1);
			assert_int_equal(munmap(p, len), 0);
		} else {
			assert_int_equal(hm_free(p, 0), 0);
		}
		usleep(5000); /* the readers keep going against the unmapped range */
		atomic_store(&stop, true);
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 10;
		for (int i = 0; i < NTHREADS; i++) {
			int e = pthread_timedjoin_np(th[i], NULL, &dl);
			if (e)
				fail_msg("round %d: reader %d did not finish: %s", round, i, strerror(e));
		}
		for (int i = 0; i < NTHREADS; i++) {
			if (rs[i].wrong || (!raw && rs[i].late))
				fail_msg("round %d (%s): reader %d got %ld successful reads with wrong data", round,
					 raw ? "munmap" : "hm_free", i, rs[i].wrong + rs[i].late);
			total_late += rs[i].late;
			if (rs[i].unexpected)
				fail_msg("round %d (%s): reader %d got unexpected error %d", round,
					 raw ? "munmap" : "hm_free", i, rs[i].unexpected_rc);
			total_ok += rs[i].ok;
			total_err += rs[i].errs;
		}
		/* all of the device memory came back */
		if (!wait_used(c->tier, 0, 2000))
			fail_msg("round %d (%s): %llu bytes of device memory leaked", round,
				 raw ? "munmap" : "hm_free", (unsigned long long)tier_used(c->tier));
		/* the range is no longer managed, and the device says so */
		char b[64];
		for (int i = 0; i < 2000 && hm_is_managed(p); i++)
			usleep(1000);
		assert_false(hm_is_managed(p));
		int rc = hm_device_read(c->dev, p, b, sizeof(b), 0);
		assert_true(rc == -ENOENT || rc == -EFAULT);
	}
	alarm(0);
	signal(SIGALRM, SIG_DFL);
	/* every region left the table (the last munmap's event may still be
	 * being applied by the handler thread: give it a moment) */
	struct hm_stats s1 = stats();
	for (int i = 0; i < 2000 && s1.regions != s0.regions; i++) {
		usleep(1000);
		s1 = stats();
	}
	assert_int_equal(s1.regions, s0.regions);
	printf("unmap race: %ld reads ok, %ld refused, %ld overlapping a raw munmap read a new mapping\n",
	       total_ok, total_err, total_late);
	/* both outcomes were seen over the rounds */
	assert_true(total_ok > 0);
	assert_true(total_err > 0);
}

/* ---------------------------------------------------------------------- */
/* A failed device read poisons the page: SIGBUS, never wrong data          */
/* ---------------------------------------------------------------------- */

static void test_poison_fork_child(void **state)
{
	struct ctx *c = *state;
	const size_t len = 4 * PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_4K);
	fill_pat(p, len, 300, 0);
	dev_migrate_all(c, p + PG, PG);
	struct hm_stats s0 = stats();

	assert_int_equal(hm_inject("tier_read", EIO, 0, 100), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* pages that were in RAM read fine */
		if (check_pat(p, PG, 300, 0) >= 0 || check_pat(p + 2 * PG, 2 * PG, 300, 2 * PG / 8) >= 0)
			_exit(10);
		child_expect_sigbus(p + PG + 100, (uintptr_t)p + PG, (uintptr_t)p + 2 * PG);
	}
	int st = wait_child(pid, 10000);
	hm_inject_clear();
	char desc[64];
	describe_status(st, desc, sizeof(desc));
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 42)
		fail_msg("child touching the poisoned page: %s (want exit 42 = SIGBUS in the page; "
			 "44 = read zeros, 45 = read data, 43 = wrong si_addr, 10 = bad data elsewhere)",
			 desc);
	struct hm_stats s1 = stats();
	assert_true(s1.poisoned - s0.poisoned >= 1);
	assert_true(s1.injected > s0.injected);
	assert_int_equal(where_count(p + PG, PG, HM_WHERE_POISON), 1);
	assert_int_equal(where_count(p, PG, 0), 1);
	assert_int_equal(where_count(p + 2 * PG, 2 * PG, 0), 2);
	/* the device refuses the poisoned page, never returns data for it */
	char buf[PG];
	assert_int_equal(hm_device_read(c->dev, p + PG, buf, PG, 0), -EIO);
	assert_int_equal(hm_device_read(c->dev, p, buf, PG, 0), 0);
	assert_pat(buf, PG, 300, 0);
	int ms[1];
	hm_migrate(p + PG, PG, c->tier, ms);
	assert_int_equal(ms[0], -EIO);
	assert_int_equal(hm_free(p, 0), 0);
}

static sigjmp_buf bus_jmp;
static volatile uintptr_t bus_addr;

static void parent_bus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	bus_addr = (uintptr_t)si->si_addr;
	siglongjmp(bus_jmp, 1);
}

static void test_poison_fault(void **state)
{
	struct ctx *c = *state;
	const size_t len = 4 * 16 * PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_64K);
	fill_pat(p, len, 310, 0);
	dev_migrate_all(c, p, len);
	struct hm_stats s0 = stats();

	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = parent_bus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGBUS, &sa, &old), 0);
	char *target = p + 16 * PG + 5 * PG + 17; /* inside the second folio */
	volatile char v = 0;
	bus_addr = 0;
	assert_int_equal(hm_inject("tier_read", EIO, 0, 100), 0);
	int got = sigsetjmp(bus_jmp, 1);
	if (!got)
		v = *(volatile char *)target;
	hm_inject_clear();
	sigaction(SIGBUS, &old, NULL);
	if (!got)
		fail_msg("reading a page the device could not give back returned %d instead of SIGBUS", v);
	/* SIGBUS at the address (or at least in the poisoned folio) */
	if (bus_addr < (uintptr_t)p + 16 * PG || bus_addr >= (uintptr_t)p + 32 * PG)
		fail_msg("SIGBUS si_addr %p outside the poisoned folio [%p, %p)", (void *)bus_addr,
			 (void *)(p + 16 * PG), (void *)(p + 32 * PG));
	struct hm_stats s1 = stats();
	assert_true(s1.poisoned - s0.poisoned >= 1);
	assert_int_equal(where_count(target - 17 - 5 * PG, 16 * PG, HM_WHERE_POISON), 16);
	/* other folios are unaffected */
	assert_where(p, 16 * PG, c->tier);
	assert_pat(p, 16 * PG, 310, 0);
	assert_pat(p + 32 * PG, 32 * PG, 310, 32 * PG / 8);
	/* a second touch faults again: still no data */
	got = 0;
	assert_int_equal(sigaction(SIGBUS, &sa, &old), 0);
	got = sigsetjmp(bus_jmp, 1);
	if (!got)
		v = *(volatile char *)(target + PG);
	sigaction(SIGBUS, &old, NULL);
	if (!got)
		fail_msg("second read of a poisoned page returned %d instead of SIGBUS", v);
	char buf[64];
	assert_int_equal(hm_device_read(c->dev, target, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(hm_free(p, 0), 0);
}

/* A lost page afterwards, the same with UFFDIO_POISON and without it (the
 * fence of poison.c: semantics_nopoison): a system call on it fails with
 * EFAULT, a SIGBUS hits every thread that touches it, a discarded one reads
 * zeros again, one unmapped alone is gone, one moved alone is lost at its
 * new address, and the region frees. */
static void touch_expect_sigbus(volatile char *a, const char *what)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = parent_bus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGBUS, &sa, &old), 0);
	bus_addr = 0;
	volatile char v = 0;
	int got = sigsetjmp(bus_jmp, 1);
	if (!got)
		v = *a;
	sigaction(SIGBUS, &old, NULL);
	if (!got)
		fail_msg("%s: read %d instead of SIGBUS", what, v);
	if (bus_addr >> 12 != (uintptr_t)a >> 12)
		fail_msg("%s: SIGBUS si_addr %p, not in the page of %p", what, (void *)bus_addr, (void *)a);
}

static void *touch_thread(void *arg)
{
	touch_expect_sigbus(arg, "another thread touching the lost page");
	return NULL;
}

static void test_poison_after(void **state)
{
	struct ctx *c = *state;
	const size_t len = 8 * PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_4K);
	fill_pat(p, len, 320, 0);
	dev_migrate_all(c, p, len);
	assert_int_equal(hm_inject("tier_read", EIO, 0, 100), 0);
	touch_expect_sigbus(p + 2 * PG + 8, "a page the device could not give back");
	touch_expect_sigbus(p + 5 * PG + 8, "a page the device could not give back");
	hm_inject_clear();
	assert_int_equal(where_count(p + 2 * PG, PG, HM_WHERE_POISON), 1);
	assert_int_equal(where_count(p + 5 * PG, PG, HM_WHERE_POISON), 1);
	/* again, and from another thread */
	touch_expect_sigbus(p + 2 * PG + 9, "a second touch of a lost page");
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, touch_thread, p + 5 * PG + 1), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* a system call reading it fails, and does not hang */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	errno = 0;
	ssize_t n = write(pfd[1], p + 2 * PG, 64);
	int e = errno;
	close(pfd[0]);
	close(pfd[1]);
	if (n != -1 || e != EFAULT)
		fail_msg("write(2) from a lost page: %zd (%s), want EFAULT", n, strerror(e));
	/* discarded, it reads zeros and takes new data.  (Through the library
	 * API a raw madvise is seen by its REMOVE event: wait for it; under
	 * hetmem run the madvise interposer does it before madvise returns,
	 * tested by preload_signals*) */
	assert_int_equal(madvise(p + 2 * PG, PG, MADV_DONTNEED), 0);
	if (!wait_where(p + 2 * PG, PG, HM_WHERE_NONE, 2000))
		fail_msg("a discarded lost page not reported absent");
	for (size_t k = 0; k < PG; k += 512)
		if (((volatile char *)p)[2 * PG + k])
			fail_msg("a discarded lost page reads %d at +%zu, want zeros",
				 ((volatile char *)p)[2 * PG + k], k);
	p[2 * PG + 1] = 7;
	assert_int_equal(((volatile char *)p)[2 * PG + 1], 7);
	assert_int_equal(where_count(p + 2 * PG, PG, 0), 1);
	/* unmapped alone, it is gone */
	assert_int_equal(munmap(p + 5 * PG, PG), 0);
	if (!wait_where(p + 5 * PG, PG, HM_WHERE_UNMAPPED, 2000))
		fail_msg("a lost page unmapped by munmap() not reported unmapped");
	/* moved alone (mremap), it is still lost at its new address */
	hm_inject("tier_read", EIO, 0, 100);
	touch_expect_sigbus(p + 6 * PG + 8, "a page the device could not give back");
	hm_inject_clear();
	char *dst = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(dst != MAP_FAILED);
	assert_true(mremap(p + 6 * PG, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst);
	if (!wait_where(dst, PG, HM_WHERE_POISON, 2000))
		fail_msg("a lost page moved by mremap() not reported lost at its new address");
	touch_expect_sigbus(dst + 3, "a lost page moved by mremap()");
	assert_int_equal(munmap(dst, PG), 0);
	/* the other pages keep their data */
	assert_pat(p, 2 * PG, 320, 0);
	assert_pat(p + 3 * PG, 2 * PG, 320, 3 * PG / 8);
	assert_pat(p + 7 * PG, PG, 320, 7 * PG / 8);
	assert_int_equal(hm_free(p, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* MADV_DONTNEED on a demoted page reads zeros                              */
/* ---------------------------------------------------------------------- */

static void test_dontneed_demoted(void **state)
{
	struct ctx *c = *state;
	struct hm_features f;
	assert_int_equal(hm_probe_features(&f), 0);
	if (!f.event_remove) {
		HM_SKIP_CASE("the kernel sends no userfaultfd REMOVE events");
	}
	/* 4 KiB folios */
	const size_t len = 8 * PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_4K);
	fill_pat(p, len, 400, 0);
	dev_migrate_all(c, p, len);
	assert_int_equal(madvise(p + 2 * PG, 2 * PG, MADV_DONTNEED), 0);
	if (!wait_where(p + 2 * PG, 2 * PG, HM_WHERE_NONE, 2000))
		fail_msg("discarded device pages not reported unpopulated");
	if (!wait_used(c->tier, 6 * PG, 2000))
		fail_msg("device memory of discarded pages not freed");
	char buf[2 * PG];
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(hm_device_read(c->dev, p + 2 * PG, buf, 2 * PG, 0), 0);
	assert_zero(buf, 2 * PG);
	assert_zero(p + 2 * PG, 2 * PG);
	assert_pat(p, 2 * PG, 400, 0);
	assert_pat(p + 4 * PG, 4 * PG, 400, 4 * PG / 8);
	assert_int_equal(hm_free(p, 0), 0);

	/* one page inside a 2 MiB folio on the device */
	p = alloc_mirrored(c, 2 * MB, HM_FOLIO_2M);
	fill_pat(p, 2 * MB, 401, 0);
	dev_migrate_all(c, p, 2 * MB);
	assert_int_equal(madvise(p + 100 * PG, PG, MADV_DONTNEED), 0);
	if (!wait_where(p + 100 * PG, PG, HM_WHERE_NONE, 2000))
		fail_msg("discarded page of a 2 MiB folio not reported unpopulated");
	assert_where(p, 100 * PG, c->tier);
	assert_pat(p, 100 * PG, 401, 0);
	assert_zero(p + 100 * PG, PG);
	assert_pat(p + 101 * PG, 2 * MB - 101 * PG, 401, 101 * PG / 8);
	/* and a page discarded while in RAM, then the folio demoted */
	assert_int_equal(madvise(p + 200 * PG, PG, MADV_DONTNEED), 0);
	if (!wait_where(p + 200 * PG, PG, HM_WHERE_NONE, 2000))
		fail_msg("page discarded in RAM not reported unpopulated");
	dev_migrate_all(c, p, 2 * MB);
	assert_zero(p + 200 * PG, PG);
	assert_zero(p + 100 * PG, PG);
	assert_pat(p + 201 * PG, 2 * MB - 201 * PG, 401, 201 * PG / 8);
	assert_int_equal(hm_free(p, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* System calls touching pages on the device                                */
/* ---------------------------------------------------------------------- */

static void test_syscalls_demoted(void **state)
{
	struct ctx *c = *state;
	const size_t len = 32 * PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_64K);
	char *buf = malloc(len);
	assert_non_null(buf);
	fill_pat(p, len, 500, 0);
	dev_migrate_all(c, p, len);

	/* write(2) from a demoted buffer into a pipe */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	ssize_t n = write(pfd[1], p + 100, 40000);
	assert_int_equal(n, 40000);
	size_t got = 0;
	while (got < 40000) {
		ssize_t r = read(pfd[0], buf + got, 40000 - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	for (size_t i = 0; i < 40000; i++)
		if (buf[i] != p[100 + i])
			fail_msg("write(2) from a demoted buffer: byte %zu differs", i);
	assert_pat(p, len, 500, 0);

	/* read(2) into a demoted buffer (partial pages: the rest is kept) */
	int fd = memfd_create("hm-sem", MFD_CLOEXEC);
	assert_true(fd >= 0);
	fill_pat(buf, len, 501, 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	dev_migrate_all(c, p, len);
	n = pread(fd, p + 1000, 50000, 8);
	assert_int_equal(n, 50000);
	assert_pat(p, 1000, 500, 0);
	assert_int_equal(memcmp(p + 1000, buf + 8, 50000), 0);
	assert_pat(p + 51000, len - 51000, 500, 51000 / 8);

	/* a pipe read straight into device pages, and vectored I/O */
	dev_migrate_all(c, p, len);
	assert_int_equal(write(pfd[1], buf, 3 * PG), (ssize_t)(3 * PG));
	assert_int_equal(read(pfd[0], p + 5 * PG, 3 * PG), (ssize_t)(3 * PG));
	assert_pat(p + 5 * PG, 3 * PG, 501, 0);
	fill_pat(p, len, 502, 0);
	dev_migrate_all(c, p, len);
	struct iovec iov[2] = {{p, 2 * PG}, {p + 20 * PG, 2 * PG}};
	assert_int_equal(pwritev(fd, iov, 2, 0), (ssize_t)(4 * PG));
	assert_int_equal(pread(fd, buf, 4 * PG, 0), (ssize_t)(4 * PG));
	assert_pat(buf, 2 * PG, 502, 0);
	assert_pat(buf + 2 * PG, 2 * PG, 502, 20 * PG / 8);
	/* readv(2) scattering into two demoted folios */
	dev_migrate_rest(c, p, len);
	struct iovec riov[2] = {{p + PG, PG}, {p + 17 * PG, 3 * PG}};
	assert_int_equal(preadv(fd, riov, 2, 0), (ssize_t)(4 * PG));
	assert_pat(p + PG, PG, 502, 0);
	assert_pat(p + 17 * PG, PG, 502, PG / 8);
	assert_pat(p + 18 * PG, 2 * PG, 502, 20 * PG / 8);
	assert_pat(p, PG, 502, 0);
	assert_pat(p + 2 * PG, 15 * PG, 502, 2 * PG / 8);
	assert_pat(p + 20 * PG, len - 20 * PG, 502, 20 * PG / 8);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	free(buf);
	assert_int_equal(hm_free(p, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* Pages the kernel swapped out are demoted with their data                 */
/* ---------------------------------------------------------------------- */

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static bool swap_configured(void)
{
	FILE *f = fopen("/proc/swaps", "r");
	if (!f)
		return false;
	char line[256];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n > 1; /* a header and at least one swap area */
}

/* Pages of [p, p+len) that /proc/self/pagemap reports swapped out. */
static size_t swapped_pages(const void *p, size_t len)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < len / PG; i++) {
		uint64_t e;
		off_t off = (off_t)(((uintptr_t)p / PG + i) * sizeof(e));
		if (pread(fd, &e, sizeof(e), off) == (ssize_t)sizeof(e) && (e & (1ull << 62)))
			n++;
	}
	close(fd);
	return n;
}

static void test_swapped_out_demote(void **state)
{
	struct ctx *c = *state;
	if (!swap_configured()) {
		HM_SKIP_CASE("no swap area configured: cannot have the kernel swap managed pages out");
	}
	const size_t len = 2 * MB;
	const size_t folios[] = {HM_FOLIO_4K, HM_FOLIO_2M};
	for (size_t k = 0; k < 2; k++) {
		char *p = alloc_mirrored(c, len, folios[k]);
		fill_pat(p, len, 600, 0);
		if (madvise(p, len, MADV_PAGEOUT) != 0 || swapped_pages(p, len) == 0) {
			hm_free(p, 0);
			HM_SKIP_CASE("MADV_PAGEOUT swapped no managed page out");
		}
		/* what is swapped out is not absent: its data goes to the device */
		dev_migrate_all(c, p, len);
		char *buf = malloc(len);
		assert_non_null(buf);
		assert_int_equal(hm_device_read(c->dev, p, buf, len, 0), 0);
		assert_pat(buf, len, 600, 0);
		free(buf);
		assert_pat(p, len, 600, 0);
		assert_int_equal(hm_free(p, 0), 0);
	}
}

/* ---------------------------------------------------------------------- */
/* Device addresses of a mirrored range (hm_device_pages)                    */
/* ---------------------------------------------------------------------- */

/* The emulated device reaches its pages through the tier's window: the
 * table must name, for each page in device memory, a place holding exactly
 * that page's bytes, and what the device writes there is what the CPU reads
 * after faulting the page back.  Pages not on the device are 0; a CPU touch
 * takes a page off the device; bad input is refused. */
static void test_device_pages(void **state)
{
	struct ctx *c = *state;
	size_t len = 16 * 64 * 1024, n = len / PG;
	char *p = alloc_mirrored(c, len, HM_FOLIO_64K);
	uint64_t *tab = calloc(n, sizeof(*tab));
	assert_non_null(tab);
	fill_pat(p, len, 77, 0);
	assert_int_equal(hm_device_pages(c->dev, p, n, tab), 0); /* all in RAM */
	for (size_t k = 0; k < n; k++)
		assert_true(tab[k] == 0);
	dev_migrate_all(c, p, len / 2);
	assert_int_equal(hm_device_pages(c->dev, p, n, tab), (long)(n / 2));
	for (size_t k = 0; k < n; k++) {
		if (k >= n / 2) {
			assert_true(tab[k] == 0);
			continue;
		}
		assert_true(tab[k] != 0);
		for (size_t j = 0; j < k; j++)
			assert_true(tab[j] != tab[k]); /* each page its own place */
		/* the device's view of page k is page k's bytes */
		uint64_t want[PG / 8];
		fill_pat(want, PG, 77, k * (PG / 8));
		if (memcmp((const void *)(uintptr_t)tab[k], want, PG))
			fail_msg("page %zu: the device address holds other bytes", k);
	}
	/* the device writes page 3 in its memory; the CPU sees it */
	memset((void *)(uintptr_t)tab[3], 0x3c, PG);
	assert_int_equal((unsigned char)p[3 * PG + 100], 0x3c);
	assert_where(p + 3 * PG, PG, 0); /* the touch brought it home */
	/* ... with its folio: the 16 pages of 64 KiB folio 0 left together */
	assert_int_equal(hm_device_pages(c->dev, p, n, tab), (long)(n / 2 - 16));
	for (size_t k = 0; k < 16; k++)
		assert_true(tab[k] == 0);
	/* bad input: nothing written to the table */
	uint64_t keep = 0x5555;
	assert_int_equal(hm_device_pages(NULL, p, 1, &keep), -EINVAL);
	assert_int_equal(hm_device_pages(c->dev, p + 1, 1, &keep), -EINVAL);
	assert_int_equal(hm_device_pages(c->dev, p, 1, NULL), -EINVAL);
	assert_int_equal(hm_device_pages(c->dev, p, n + 1, &keep), -ENOENT);
	char local[PG] __attribute__((aligned(4096)));
	assert_int_equal(hm_device_pages(c->dev, local, 1, &keep), -ENOENT);
	assert_true(keep == 0x5555);
	assert_int_equal(hm_device_pages(c->dev, p, 0, NULL), 0);
	/* a device on a compressed tier has no addresses to give */
	struct hm_device *z;
	assert_int_equal(hm_device_open("lz4:16M", &z), 0);
	char *q = hm_alloc(64 * 1024, HM_FOLIO_4K);
	assert_non_null(q);
	assert_int_equal(hm_device_mirror(z, q, 64 * 1024), 0);
	assert_int_equal(hm_device_pages(z, q, 1, &keep), -EOPNOTSUPP);
	assert_true(keep == 0x5555);
	assert_int_equal(hm_device_close(z), 0);
	hm_free(q, 0);
	hm_free(p, 0);
	free(tab);
}

/* ---------------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
	hm_test_require_uffd();
	struct hm_features f;
	hm_probe_features(&f);
	const char *mode = getenv("HETMEM_DEMOTE");
	if (!mode || !*mode || !strcasecmp(mode, "auto")) {
		want_mode = f.move ? HM_DEMOTE_MOVE : HM_DEMOTE_WP;
	} else if (!strcasecmp(mode, "move")) {
		want_mode = HM_DEMOTE_MOVE;
		if (!f.move) {
			hm_skip("HETMEM_DEMOTE=move needs UFFDIO_MOVE (Linux >= 6.8), which this kernel lacks");
		}
	} else if (!strcasecmp(mode, "wp")) {
		want_mode = HM_DEMOTE_WP;
		if (!f.wp) {
			hm_skip("HETMEM_DEMOTE=wp needs userfaultfd write-protect on anonymous memory");
		}
	} else {
		fprintf(stderr, "HETMEM_DEMOTE='%s': expected move, wp or auto\n", mode);
		return 1;
	}
	/* userfaultfd may open but be refused for the user (EPERM): skip */
	int rc = hm_init(NULL);
	if (rc) {
		hm_skip("hm_init failed: %s", hm_last_error());
	}
	hm_shutdown();
	printf("semantics: demote mode %s, kernel: move=%d wp=%d poison=%d remove-events=%d\n",
	       want_mode == HM_DEMOTE_MOVE ? "move" : "wp", f.move, f.wp, f.poison, f.event_remove);

	const struct CMUnitTest tests[] = {
		T(test_bad_input),
		T(test_device_pages),
		T(test_mirror_rw_4k),
		T(test_mirror_rw_64k),
		T(test_mirror_rw_2m),
		T(test_protect),
		T(test_migrate_cycle_4k),
		T(test_migrate_cycle_64k),
		T(test_migrate_cycle_2m),
		T(test_evict),
		T(test_fork),
		T(test_fork_nohome_sigbus),
		T(test_huge_empty),
		T(test_huge_zero),
		T(test_huge_populated),
		T(test_huge_partial_unmap),
		T(test_huge_mremap),
		T(test_owner_refused),
		T(test_alloc_fallback_fragmented),
		T(test_alloc_fallback_inject),
		T(test_unmap_race),
		T(test_poison_fork_child),
		T(test_poison_fault),
		T(test_poison_after),
		T(test_dontneed_demoted),
		T(test_syscalls_demoted),
		T(test_swapped_out_demote),
	};
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name(want_mode == HM_DEMOTE_MOVE ? "semantics(move)" : "semantics(wp)",
					   tests, NULL, NULL);
}
