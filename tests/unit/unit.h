/*
 * unit.h — helpers shared by the unit tests: error-checking assertions that
 * look at both the returned -errno and hm_last_error(), data patterns that
 * make every byte of every page distinct per test, and the usual
 * hm_init/hm_shutdown fixtures.
 *
 * Include after <cmocka.h>'s prerequisites (stdarg, stddef, setjmp, stdint).
 */
#ifndef HM_UNIT_H
#define HM_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hm_test.h"
#include "hetmem_inject.h"
#include "internal.h"

#define PG ((size_t)4096)

/* expr must return exactly -E and leave a non-empty hm_last_error(). */
#define EXPECT_ERR(expr, E)                                                                  \
	do {                                                                                 \
		hm_error_clear();                                                            \
		long r_ = (long)(expr);                                                      \
		if (r_ != -(long)(E))                                                        \
			fail_msg("%s:%d: %s returned %ld (%s), expected -%s; last error: '%s'",    \
				 __FILE__, __LINE__, #expr, r_, r_ < 0 ? strerror((int)-r_) : "ok", \
				 #E, hm_last_error());                                       \
		if (!hm_last_error()[0])                                                     \
			fail_msg("%s:%d: %s failed with -%s but left no message", __FILE__,        \
				 __LINE__, #expr, #E);                                               \
	} while (0)

/* Same, and the message must mention @needle (what was wrong). */
#define EXPECT_ERR_MSG(expr, E, needle)                                                      \
	do {                                                                                 \
		EXPECT_ERR(expr, E);                                                         \
		if (!strstr(hm_last_error(), (needle)))                                      \
			fail_msg("%s:%d: message of %s does not name '%s': '%s'", __FILE__,        \
				 __LINE__, #expr, (needle), hm_last_error());                        \
	} while (0)

/* A pointer-returning call must give NULL, errno E and a message. */
#define EXPECT_NULL_ERR(expr, E)                                                             \
	do {                                                                                 \
		hm_error_clear();                                                            \
		errno = 0;                                                                   \
		void *p_ = (expr);                                                           \
		int e_ = errno;                                                              \
		if (p_ != NULL || e_ != (E))                                                 \
			fail_msg("%s:%d: %s returned %p errno %d (%s), expected NULL/%s; '%s'",    \
				 __FILE__, __LINE__, #expr, p_, e_, strerror(e_), #E,              \
				 hm_last_error());                                                   \
		if (!hm_last_error()[0])                                                     \
			fail_msg("%s:%d: %s failed but left no message", __FILE__, __LINE__, #expr); \
	} while (0)

/* expr must succeed (>= 0); the message is shown if not. */
#define EXPECT_OK(expr)                                                                      \
	({                                                                                   \
		long r_ = (long)(expr);                                                      \
		if (r_ < 0)                                                                  \
			fail_msg("%s:%d: %s failed: %ld (%s): '%s'", __FILE__, __LINE__, #expr,    \
				 r_, strerror((int)-r_), hm_last_error());                           \
		r_;                                                                          \
	})

/* --- data patterns ------------------------------------------------------ */

static inline uint64_t unit_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint64_t unit_word(unsigned seed, size_t page, size_t k)
{
	return unit_mix(((uint64_t)seed << 48) ^ ((uint64_t)page << 10) ^ k);
}

/* Fill @npages pages at @p with a pattern unique to (seed, page, offset). */
static inline void fill_pattern(void *p, size_t npages, unsigned seed)
{
	uint64_t *w = p;
	for (size_t pg = 0; pg < npages; pg++)
		for (size_t k = 0; k < PG / 8; k++)
			w[pg * (PG / 8) + k] = unit_word(seed, pg, k);
}

/* First page in [0, npages) that differs from the pattern (pages with
 * skip[pg] set are not read at all), or -1. */
static inline long check_pattern_skip(const void *p, size_t npages, unsigned seed, const bool *skip)
{
	const volatile uint64_t *w = p;
	for (size_t pg = 0; pg < npages; pg++) {
		if (skip && skip[pg])
			continue;
		for (size_t k = 0; k < PG / 8; k++)
			if (w[pg * (PG / 8) + k] != unit_word(seed, pg, k))
				return (long)pg;
	}
	return -1;
}

static inline long check_pattern(const void *p, size_t npages, unsigned seed)
{
	return check_pattern_skip(p, npages, seed, NULL);
}

#define ASSERT_PATTERN(p, npages, seed)                                                      \
	do {                                                                                 \
		long bad_ = check_pattern((p), (npages), (seed));                            \
		if (bad_ >= 0)                                                               \
			fail_msg("%s:%d: page %ld of %s has wrong data", __FILE__, __LINE__, bad_, #p); \
	} while (0)

static inline struct hm_stats stats_now(void)
{
	struct hm_stats s;
	hm_stats_get(&s);
	return s;
}

/* Open file descriptors of this process now (-1 if /proc is not there). */
static inline int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* --- fixtures ----------------------------------------------------------- */

/* hm_init with the defaults, the test program skipped without userfaultfd. */
static inline int unit_setup_uffd(void **state)
{
	(void)state;
	hm_test_require_uffd();
	assert_int_equal(hm_init(NULL), 0);
	return 0;
}

/* hm_shutdown, nothing else (unit_teardown_shutdown also clears injections). */
static inline int unit_teardown_plain(void **state)
{
	(void)state;
	hm_shutdown();
	return 0;
}

static inline int unit_setup_init(void **state)
{
	int rc = hm_init(NULL);
	if (rc) {
		fprintf(stderr, "hm_init failed: %d %s\n", rc, hm_last_error());
		return -1;
	}
	return 0;
}

static inline int unit_teardown_shutdown(void **state)
{
	hm_inject_clear();
	int rc = hm_shutdown();
	if (rc)
		fprintf(stderr, "hm_shutdown: %d %s\n", rc, hm_last_error());
	return 0;
}


/* how many of @np pages at @p are on tier @tier */
static inline size_t count_on(const char *p, size_t np, int tier)
{
	int *w = malloc(np * sizeof(int));
	assert_int_equal(hm_where(p, np * PG, w), 0);
	size_t n = 0;
	for (size_t i = 0; i < np; i++)
		n += w[i] == tier;
	free(w);
	return n;
}

/* Data of every folio size (8 MiB each, patterns from @seed) to device
 * tier @ft (@what names it) and back: explicitly, by CPU faults (with
 * readahead), and through an "emu:8M" tier it is moved to and from; then a
 * second round trip with new data.  Every page's result, place and data
 * are checked, and the tier's counts (empty to start with). */
static inline void tier_round_trip(int ft, unsigned seed, const char *what)
{
	struct hm_tier_info ti;
	/* 8 MiB of each folio size */
	const size_t fsz[] = {HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M};
	char *p[3];
	const size_t np = (8u << 20) / PG;
	for (int k = 0; k < 3; k++) {
		p[k] = hm_alloc(np * PG, fsz[k]);
		assert_non_null(p[k]);
		fill_pattern(p[k], np, seed + k);
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
	/* the data really is on the tier: the RAM copies are gone */
	assert_int_equal(stats_now().resident_bytes, 0);

	/* 4K region: explicit migration home */
	assert_int_equal(hm_migrate(p[0], np * PG, 0, st), np);
	ASSERT_PATTERN(p[0], np, seed);
	/* 64K region: CPU faults (with readahead) bring it home */
	ASSERT_PATTERN(p[1], np, seed + 1);
	assert_int_equal(hm_where(p[1], np * PG, w), 0);
	for (size_t i = 0; i < np; i++)
		assert_int_equal(w[i], 0);
	/* 2M region: half through faults, half through a move to an emu tier
	 * and back */
	ASSERT_PATTERN(p[2], np / 2, seed + 2);
	int et = EXPECT_OK(hm_tier_add("emu:8M"));
	/* Once in the 6.1 guest under TCG on a loaded host this move gave
	 * 512 of 1024 pages (the statuses were not recorded then; not seen in
	 * five runs since).  The likely cause: a folio the faults' readahead
	 * is still fetching (the handler fetches it after waking the faulting
	 * thread) is locked, and its pages answer -EBUSY.  So -EBUSY is tried
	 * again (pages already on emu are skipped) and says so; any other
	 * answer fails with the page's status. */
	long moved = 0;
	for (int tries = 0;; tries++) {
		long m = hm_migrate(p[2] + np / 2 * PG, np / 2 * PG, et, st);
		assert_true(m >= 0);
		moved += m;
		size_t busy = 0;
		for (size_t i = 0; i < np / 2; i++) {
			if (st[i] == -EBUSY)
				busy++;
			else if (st[i])
				fail_msg("%s -> emu: page %zu: %d (%s); '%s'", what, i, st[i], strerror(-st[i]),
					 hm_last_error());
		}
		if (!busy)
			break;
		if (tries == 100)
			fail_msg("%s -> emu: %zu pages still -EBUSY after 100 tries", what, busy);
		printf("%s -> emu: %zu pages busy (a readahead in flight), trying again\n", what, busy);
		usleep(10000);
	}
	assert_int_equal(moved, np / 2);
	assert_int_equal(hm_where(p[2], np * PG, w), 0);
	for (size_t i = 0; i < np; i++)
		assert_int_equal(w[i], i < np / 2 ? 0 : et);
	assert_int_equal(hm_tier_info(ft, &ti), 0);
	assert_int_equal(ti.used, 0);
	assert_int_equal(ti.pages_out, 3 * np);
	assert_int_equal(ti.errors, 0);
	/* emu -> the tier -> RAM */
	assert_int_equal(hm_migrate(p[2], np * PG, ft, st), np);
	assert_int_equal(hm_where(p[2], np * PG, w), 0);
	for (size_t i = 0; i < np; i++)
		assert_int_equal(w[i], ft);
	ASSERT_PATTERN(p[2], np, seed + 2);

	/* new data, another round trip: nothing stale comes back */
	fill_pattern(p[0], np, seed + 10);
	assert_int_equal(hm_migrate(p[0], np * PG, ft, NULL), np);
	assert_int_equal(hm_migrate(p[0], np * PG, 0, NULL), np);
	ASSERT_PATTERN(p[0], np, seed + 10);

	for (int k = 0; k < 3; k++)
		assert_int_equal(hm_free(p[k], 0), 0);
	assert_int_equal(hm_tier_remove(et), 0);
	free(st);
	free(w);
}

/* --- poisoned pages ------------------------------------------------------ */

static volatile uintptr_t bus_lo __attribute__((unused)), bus_hi __attribute__((unused));

static inline void child_bus_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	_exit(a >= bus_lo && a < bus_hi ? 42 : 43);
}

/* In a child: the healthy pages read right; touching poisoned page @bad
 * raises SIGBUS with si_addr inside it.  With @handler false the child must
 * simply die of SIGBUS. */
static inline void expect_sigbus_child(char *p, size_t np, unsigned seed, const bool *skip, size_t bad, bool handler)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(10);
		if (check_pattern_skip(p, np, seed, skip) >= 0)
			_exit(44);
		bus_lo = (uintptr_t)(p + bad * PG);
		bus_hi = bus_lo + PG;
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		if (handler) {
			sa.sa_sigaction = child_bus_handler;
			sa.sa_flags = SA_SIGINFO;
		} else {
			sa.sa_handler = SIG_DFL;
		}
		sigaction(SIGBUS, &sa, NULL);
		volatile char c = p[bad * PG + 123];
		(void)c;
		_exit(45); /* the read returned data: never acceptable */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (handler) {
		if (!WIFEXITED(status))
			fail_msg("child died of signal %d", WTERMSIG(status));
		switch (WEXITSTATUS(status)) {
		case 42: break;
		case 43: fail_msg("SIGBUS with si_addr outside the poisoned page");
		case 44: fail_msg("child saw wrong data in a healthy page");
		case 45: fail_msg("reading a poisoned page returned data instead of SIGBUS");
		default: fail_msg("child exit %d", WEXITSTATUS(status));
		}
	} else {
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGBUS)
			fail_msg("child did not die of SIGBUS (status 0x%x)", status);
	}
}

static sigjmp_buf bus_jmp __attribute__((unused));
static volatile uintptr_t bus_addr __attribute__((unused));

static inline void self_bus_handler(int sig, siginfo_t *si, void *uc)
{
	bus_addr = (uintptr_t)si->si_addr;
	siglongjmp(bus_jmp, 1);
}

/* Read @addr; true when it raised SIGBUS inside [lo, lo + PG), false when it
 * returned data. */
static inline bool read_sigbus(volatile char *addr, const char *lo)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = self_bus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, &old);
	bus_addr = 0;
	volatile bool got = false;
	if (sigsetjmp(bus_jmp, 1) == 0) {
		volatile char c = *addr;
		(void)c;
		got = true;
	}
	sigaction(SIGBUS, &old, NULL);
	if (got)
		return false;
	if (bus_addr < (uintptr_t)lo || bus_addr >= (uintptr_t)lo + PG)
		fail_msg("SIGBUS at %p, outside the page at %p", (void *)bus_addr, (void *)lo);
	return true;
}

#endif
