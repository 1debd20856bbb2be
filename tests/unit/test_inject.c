/*
 * test_inject.c — every failure-injection site of the syscall layer, armed
 * through hm_inject() while data migrates to a device tier and back.
 * For each: the per-page status reports exactly the pages that failed (or
 * success after a transparent retry), every byte of data is intact, a page
 * that could not be read back is poisoned (HM_WHERE_POISON; touching it
 * gets SIGBUS at its address, checked in a forked child), and the
 * counters (injected, retries, poisoned, tier errors) moved by the exact
 * amount.
 *
 * Registered twice: HETMEM_DEMOTE=move and HETMEM_DEMOTE=wp.  Sites that a
 * mode never reaches (uffd_move under wp) are checked to stay unreached.
 */
#include "unit.h"
#include "hetmem_inject.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

static enum hm_demote_mode mode;
static int tier; /* an emu tier made by the fixture */

static int setup(void **state)
{
	if (hm_init(NULL)) {
		fprintf(stderr, "hm_init: %s\n", hm_last_error());
		return -1;
	}
	struct hm_features f;
	hm_probe_features(&f);
	if (f.demote != mode) {
		fprintf(stderr, "demote mode %d, expected %d\n", f.demote, mode);
		return -1;
	}
	tier = hm_tier_add("emu:32M");
	if (tier <= 0) {
		fprintf(stderr, "hm_tier_add: %s\n", hm_last_error());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	return unit_teardown_shutdown(state);
}

static char *region(size_t np, size_t fsz, unsigned seed)
{
	char *p = hm_alloc(np * PG, fsz);
	assert_non_null(p);
	fill_pattern(p, np, seed);
	return p;
}

/* Page @pg of a pattern region holds its pattern. */
static bool page_ok(const char *p, size_t pg, unsigned seed)
{
	const volatile uint64_t *w = (const volatile uint64_t *)(p + pg * PG);
	for (size_t k = 0; k < PG / 8; k++)
		if (w[k] != unit_word(seed, pg, k))
			return false;
	return true;
}

static struct hm_tier_info tinfo(int id)
{
	struct hm_tier_info ti;
	assert_int_equal(hm_tier_info(id, &ti), 0);
	return ti;
}

/* status[i] must be @bad for pages in [bad_lo, bad_hi) and @good elsewhere */
static void expect_status(const int *st, size_t np, size_t bad_lo, size_t bad_hi, int bad, int good)
{
	for (size_t i = 0; i < np; i++) {
		int want = i >= bad_lo && i < bad_hi ? bad : good;
		if (st[i] != want)
			fail_msg("status[%zu] = %d (%s), expected %d", i, st[i], st[i] < 0 ? strerror(-st[i]) : "",
				 want);
	}
}

static void expect_where(const char *p, size_t np, size_t bad_lo, size_t bad_hi, int bad, int good)
{
	int *w = malloc(np * sizeof(int));
	assert_int_equal(hm_where(p, np * PG, w), 0);
	for (size_t i = 0; i < np; i++) {
		int want = i >= bad_lo && i < bad_hi ? bad : good;
		if (w[i] != want)
			fail_msg("where[%zu] = %d, expected %d", i, w[i], want);
	}
	free(w);
}

/* Migrate home and check every byte. */
static void home_and_check(char *p, size_t np, unsigned seed)
{
	long m = hm_migrate(p, np * PG, 0, NULL);
	assert_true(m >= 0);
	expect_where(p, np, 0, 0, 0, 0);
	ASSERT_PATTERN(p, np, seed);
}

/* ---------------------------------------------------------------------- */

static void test_tier_write(void **state)
{
	const int errs[] = {EIO, ENOSPC};
	for (int e = 0; e < 2; e++) {
		enum { N = 32 };
		unsigned seed = 100 + e;
		char *p = region(N, HM_FOLIO_4K, seed);
		struct hm_stats s0 = stats_now();
		uint64_t terr0 = tinfo(tier).errors;
		int st[N];
		assert_int_equal(hm_inject("tier_write", errs[e], 3, 2), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N - 2);
		expect_status(st, N, 3, 5, -errs[e], 0);
		expect_where(p, N, 3, 5, 0, tier);
		struct hm_stats s1 = stats_now();
		assert_int_equal(s1.injected - s0.injected, 2);
		assert_int_equal(s1.migrate_failures - s0.migrate_failures, 2);
		assert_int_equal(s1.pages_demoted - s0.pages_demoted, N - 2);
		assert_int_equal(tinfo(tier).errors - terr0, 2);
		assert_int_equal(tinfo(tier).used, (N - 2) * PG);
		/* the pages that stayed are intact, in RAM, and writable */
		assert_true(page_ok(p, 3, seed));
		assert_true(page_ok(p, 4, seed));
		p[3 * PG] ^= 0x7f;
		p[3 * PG] ^= 0x7f;
		assert_int_equal(hm_migrate(p, N * PG, 0, st), N - 2);
		expect_status(st, N, 3, 5, HM_MIGRATE_SKIPPED, 0);
		ASSERT_PATTERN(p, N, seed);
		assert_int_equal(tinfo(tier).used, 0);
		assert_int_equal(hm_free(p, 0), 0);
	}

	/* 64 KiB folios: a failed write fails the whole folio, which stays */
	char *q = region(64, HM_FOLIO_64K, 110);
	int st[64];
	uint64_t inj0 = stats_now().injected;
	assert_int_equal(hm_inject("tier_write", EIO, 1, 1), 0);
	assert_int_equal(hm_migrate(q, 64 * PG, tier, st), 48);
	expect_status(st, 64, 16, 32, -EIO, 0);
	expect_where(q, 64, 16, 32, 0, tier);
	assert_int_equal(stats_now().injected, inj0 + 1);
	home_and_check(q, 64, 110);
	assert_int_equal(hm_free(q, 0), 0);

	/* a 2 MiB folio */
	char *h = region(512, HM_FOLIO_2M, 111);
	int *st2 = malloc(512 * sizeof(int));
	assert_int_equal(hm_inject("tier_write", EIO, 0, 1), 0);
	assert_int_equal(hm_migrate(h, HM_FOLIO_2M, tier, st2), 0);
	expect_status(st2, 512, 0, 512, -EIO, 0);
	expect_where(h, 512, 0, 0, 0, 0);
	ASSERT_PATTERN(h, 512, 111);
	/* and with nothing armed it moves */
	assert_int_equal(hm_migrate(h, HM_FOLIO_2M, tier, st2), 512);
	home_and_check(h, 512, 111);
	free(st2);
	assert_int_equal(hm_free(h, 0), 0);
}

static void test_tier_read_eagain(void **state)
{
	enum { N = 32 };
	char *p = region(N, HM_FOLIO_4K, 120);
	int st[N];
	assert_int_equal(hm_migrate(p, N * PG, tier, NULL), N);
	struct hm_stats s0 = stats_now();
	uint64_t terr0 = tinfo(tier).errors;
	/* 3 failures in a row: within the retry budget of one read */
	assert_int_equal(hm_inject("tier_read", EAGAIN, 0, 3), 0);
	assert_int_equal(hm_migrate(p, N * PG, 0, st), N);
	expect_status(st, N, 0, 0, 0, 0);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.injected - s0.injected, 3);
	assert_int_equal(s1.retries - s0.retries, 3);
	assert_int_equal(s1.poisoned, s0.poisoned);
	assert_int_equal(tinfo(tier).errors, terr0);
	ASSERT_PATTERN(p, N, 120);

	/* the fault path retries too */
	assert_int_equal(hm_migrate(p, N * PG, tier, NULL), N);
	s0 = stats_now();
	assert_int_equal(hm_inject("tier_read", EAGAIN, 0, 2), 0);
	for (size_t k = 0; k < PG / 8; k++)
		assert_int_equal(((volatile uint64_t *)(p + 5 * PG))[k], unit_word(120, 5, k));
	s1 = stats_now();
	assert_int_equal(s1.injected - s0.injected, 2);
	assert_true(s1.retries - s0.retries >= 2);
	assert_int_equal(s1.poisoned, s0.poisoned);
	ASSERT_PATTERN(p, N, 120);
	assert_int_equal(hm_free(p, 0), 0);
}

/* --- poisoned pages ------------------------------------------------------- */

static void test_tier_read_eio_poisons(void **state)
{
	enum { N = 16 };
	const unsigned seed = 130;
	char *p = region(N, HM_FOLIO_4K, seed);
	int st[N];
	assert_int_equal(hm_migrate(p, N * PG, tier, NULL), N);
	struct hm_stats s0 = stats_now();
	uint64_t terr0 = tinfo(tier).errors;
	assert_int_equal(hm_inject("tier_read", EIO, 2, 1), 0);
	assert_int_equal(hm_migrate(p, N * PG, 0, st), N - 1);
	expect_status(st, N, 2, 3, -EIO, 0);
	expect_where(p, N, 2, 3, HM_WHERE_POISON, 0);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.injected - s0.injected, 1);
	assert_int_equal(s1.poisoned - s0.poisoned, 1);
	assert_int_equal(s1.migrate_failures - s0.migrate_failures, 1);
	assert_int_equal(tinfo(tier).errors - terr0, 1);
	assert_int_equal(tinfo(tier).used, 0); /* the lost page's slot is freed */
	bool skip[N] = {0};
	skip[2] = true;
	assert_int_equal(check_pattern_skip(p, N, seed, skip), -1);

	/* a poisoned page stays poisoned: it cannot go to a tier, and
	 * bringing it home reports -EIO again */
	int st1;
	assert_int_equal(hm_migrate(p + 2 * PG, PG, tier, &st1), 0);
	assert_int_equal(st1, -EIO);
	assert_int_equal(hm_migrate(p + 2 * PG, PG, 0, &st1), 0);
	assert_int_equal(st1, -EIO);
	expect_where(p, N, 2, 3, HM_WHERE_POISON, 0);

	/* touching it gets SIGBUS at its address, in a child */
	expect_sigbus_child(p, N, seed, skip, 2, true);
	expect_sigbus_child(p, N, seed, skip, 2, false);

	/* the fault path: a CPU read of a page whose tier read fails gets
	 * SIGBUS (not data), and the page is poisoned */
	assert_int_equal(hm_migrate(p + 9 * PG, PG, tier, NULL), 1);
	s0 = stats_now();
	assert_int_equal(hm_inject("tier_read", EIO, 0, 1), 0);
	assert_true(read_sigbus(p + 9 * PG + 5, p + 9 * PG));
	s1 = stats_now();
	assert_int_equal(s1.injected - s0.injected, 1);
	assert_int_equal(s1.poisoned - s0.poisoned, 1);
	int w[N];
	assert_int_equal(hm_where(p, N * PG, w), 0);
	assert_int_equal(w[9], HM_WHERE_POISON);
	assert_int_equal(w[2], HM_WHERE_POISON);
	skip[9] = true;
	assert_int_equal(check_pattern_skip(p, N, seed, skip), -1);
	expect_sigbus_child(p, N, seed, skip, 9, true);
	expect_sigbus_child(p, N, seed, skip, 2, true);

	/* freeing memory with poisoned pages is fine */
	assert_int_equal(hm_free(p, 0), 0);
}

/* A page that cannot be brought home by hm_shutdown is poisoned and stays
 * so once its range is ordinary memory again: SIGBUS, never zeros (with
 * UFFDIO_POISON its marker; without, the fence of poison.c, mapped at once
 * when a page is poisoned off the handler thread) */
static void test_poison_outlives_shutdown(void **state)
{
	enum { N = 4 };
	const unsigned seed = 135;
	char *p = region(N, HM_FOLIO_4K, seed);
	assert_int_equal(hm_migrate(p + PG, PG, tier, NULL), 1);
	assert_int_equal(hm_inject("tier_read", EIO, 0, 1000), 0);
	assert_int_equal(hm_shutdown(), -EIO);
	hm_inject_clear();
	bool skip[N] = {0};
	skip[1] = true;
	assert_int_equal(check_pattern_skip(p, N, seed, skip), -1);
	if (!read_sigbus(p + PG + 5, p + PG))
		fail_msg("a page lost at hm_shutdown reads data after it, not SIGBUS");
	munmap(p, N * PG);
}

static void test_tier_alloc(void **state)
{
	enum { N = 16 };
	char *p = region(N, HM_FOLIO_4K, 140);
	int st[N];
	struct hm_stats s0 = stats_now();
	assert_int_equal(hm_inject("tier_alloc", ENOMEM, 1, 2), 0);
	assert_int_equal(hm_migrate(p, N * PG, tier, st), N - 2);
	expect_status(st, N, 1, 3, -ENOMEM, 0);
	expect_where(p, N, 1, 3, 0, tier);
	assert_int_equal(stats_now().injected - s0.injected, 2);
	assert_int_equal(tinfo(tier).used, (N - 2) * PG);
	home_and_check(p, N, 140);
	assert_int_equal(hm_free(p, 0), 0);

	/* a 64 KiB folio whose run cannot be had falls back to single slots */
	char *q = region(32, HM_FOLIO_64K, 141);
	int st2[32];
	s0 = stats_now();
	assert_int_equal(hm_inject("tier_alloc", ENOMEM, 0, 1), 0);
	assert_int_equal(hm_migrate(q, 32 * PG, tier, st2), 32);
	expect_status(st2, 32, 0, 0, 0, 0);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.injected - s0.injected, 1);
	assert_int_equal(s1.fallback_pages - s0.fallback_pages, 1);
	home_and_check(q, 32, 141);
	/* run and first single both fail: that folio stays, the next moves */
	assert_int_equal(hm_inject("tier_alloc", ENOMEM, 0, 2), 0);
	assert_int_equal(hm_migrate(q, 32 * PG, tier, st2), 16);
	expect_status(st2, 32, 0, 16, -ENOMEM, 0);
	expect_where(q, 32, 0, 16, 0, tier);
	home_and_check(q, 32, 141);
	assert_int_equal(tinfo(tier).used, 0);
	assert_int_equal(hm_free(q, 0), 0);
}

static void test_uffd_move(void **state)
{
	enum { N = 16 };
	char *p = region(N, HM_FOLIO_4K, 150);
	int st[N];
	if (mode != HM_DEMOTE_MOVE) {
		/* write-protect demotion never moves pages: the site is unreached */
		uint64_t inj0 = stats_now().injected;
		assert_int_equal(hm_inject("uffd_move", EBUSY, 0, 100), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N);
		expect_status(st, N, 0, 0, 0, 0);
		home_and_check(p, N, 150);
		assert_int_equal(stats_now().injected, inj0);
		assert_int_equal(hm_free(p, 0), 0);
		return;
	}
	/* EBUSY / ENOMEM: UFFDIO_MOVE refused the folio, it falls back to
	 * write-protect demotion and moves anyway */
	const int errs[] = {EBUSY, ENOMEM};
	for (int e = 0; e < 2; e++) {
		uint64_t inj0 = stats_now().injected;
		assert_int_equal(hm_inject("uffd_move", errs[e], 1, 2), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N);
		expect_status(st, N, 0, 0, 0, 0);
		expect_where(p, N, 0, 0, 0, tier);
		assert_int_equal(stats_now().injected - inj0, 2);
		home_and_check(p, N, 150);
	}
	/* EIO: a hard failure; the folio stays in RAM */
	uint64_t inj0 = stats_now().injected;
	assert_int_equal(hm_inject("uffd_move", EIO, 4, 1), 0);
	assert_int_equal(hm_migrate(p, N * PG, tier, st), N - 1);
	expect_status(st, N, 4, 5, -EIO, 0);
	expect_where(p, N, 4, 5, 0, tier);
	assert_int_equal(stats_now().injected - inj0, 1);
	home_and_check(p, N, 150);

	/* restore: the write to the tier fails, and moving the pages back from
	 * staging fails too: they are copied back (with retried copies).  All
	 * N folios of the batch are staged (N moves) before the first write,
	 * so the move back is the N+1th call */
	inj0 = stats_now().injected;
	assert_int_equal(hm_inject("tier_write", EIO, 0, 1), 0);
	assert_int_equal(hm_inject("uffd_move", EBUSY, N, 1), 0);
	assert_int_equal(hm_inject("uffd_copy", ENOMEM, 0, 2), 0);
	assert_int_equal(hm_migrate(p, N * PG, tier, st), N - 1);
	expect_status(st, N, 0, 1, -EIO, 0);
	expect_where(p, N, 0, 1, 0, tier);
	assert_int_equal(stats_now().injected - inj0, 4);
	assert_true(page_ok(p, 0, 150)); /* page 0 is in RAM: no fault */
	home_and_check(p, N, 150);
	/* the restored page is ordinary, writable memory */
	p[10] = 1;
	assert_int_equal(p[10], 1);
	assert_int_equal(hm_free(p, 0), 0);
}

/*
 * UFFDIO_MOVE that moves the folio but answers an error with nothing counted
 * as moved (Linux 6.18 under async write-protect answered EEXIST so; see
 * stage_folio in migrate.c).  Taken at its word, the folio stayed HOST with
 * its only copy in staging, which was then dropped: the page read back as
 * zeros.  The page tables decide now: the folio is demoted like any other.
 */
static void test_uffd_move_misreport(void **state)
{
	enum { N = 16 };
	char *p = region(N, HM_FOLIO_4K, 160);
	int st[N];
	uint64_t inj0 = stats_now().injected;
	if (mode != HM_DEMOTE_MOVE) {
		assert_int_equal(hm_inject("uffd_move_misreport", EEXIST, 0, 100), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N);
		home_and_check(p, N, 160);
		assert_int_equal(stats_now().injected, inj0);
		hm_inject_clear();
		assert_int_equal(hm_free(p, 0), 0);
		return;
	}
	/* EEXIST (what was seen), and EAGAIN (retried: the retry then finds
	 * the page already in staging and gets a true EEXIST) */
	const int errs[] = {EEXIST, EAGAIN};
	for (int e = 0; e < 2; e++) {
		inj0 = stats_now().injected;
		assert_int_equal(hm_inject("uffd_move_misreport", errs[e], 3, 2), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N);
		expect_status(st, N, 0, 0, 0, 0);
		expect_where(p, N, 0, 0, 0, tier);
		assert_int_equal(stats_now().injected - inj0, 2);
		home_and_check(p, N, 160);
	}
	/* a misreported move, then the copy to the tier fails: the folio goes
	 * back into place whole */
	inj0 = stats_now().injected;
	assert_int_equal(hm_inject("uffd_move_misreport", EEXIST, 0, 1), 0);
	assert_int_equal(hm_inject("tier_write", EIO, 0, 1), 0);
	assert_int_equal(hm_migrate(p, N * PG, tier, st), N - 1);
	expect_status(st, N, 0, 1, -EIO, 0);
	expect_where(p, N, 0, 1, 0, tier);
	assert_int_equal(stats_now().injected - inj0, 2);
	assert_true(page_ok(p, 0, 160));
	home_and_check(p, N, 160);
	hm_inject_clear();
	assert_int_equal(hm_free(p, 0), 0);
}

static void test_uffd_copy(void **state)
{
	enum { N = 16 };
	const unsigned seed = 160;
	char *p = region(N, HM_FOLIO_4K, seed);
	int st[N];
	const int errs[] = {EAGAIN, ENOMEM};
	for (int e = 0; e < 2; e++) {
		assert_int_equal(hm_migrate(p, N * PG, tier, NULL), N);
		struct hm_stats s0 = stats_now();
		assert_int_equal(hm_inject("uffd_copy", errs[e], 1, 3), 0);
		assert_int_equal(hm_migrate(p, N * PG, 0, st), N);
		expect_status(st, N, 0, 0, 0, 0);
		struct hm_stats s1 = stats_now();
		assert_int_equal(s1.injected - s0.injected, 3);
		assert_int_equal(s1.retries - s0.retries, 3);
		assert_int_equal(s1.poisoned, s0.poisoned);
		expect_where(p, N, 0, 0, 0, 0);
		ASSERT_PATTERN(p, N, seed);
	}

	/* more failures than one copy retries: those pages stay on the tier,
	 * reported as failed, and lose nothing */
	assert_int_equal(hm_migrate(p, N * PG, tier, NULL), N);
	struct hm_stats s0 = stats_now();
	assert_int_equal(hm_inject("uffd_copy", EAGAIN, 0, 20), 0);
	long m = hm_migrate(p, N * PG, 0, st);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.injected - s0.injected, 20);
	assert_int_equal(s1.poisoned, s0.poisoned);
	int w[N];
	assert_int_equal(hm_where(p, N * PG, w), 0);
	int failed = 0;
	for (int i = 0; i < N; i++) {
		if (st[i] == 0) {
			assert_int_equal(w[i], 0);
		} else {
			if (st[i] != -EAGAIN)
				fail_msg("page %d: status %d, expected 0 or -EAGAIN", i, st[i]);
			assert_int_equal(w[i], tier); /* still there, not lost */
			failed++;
		}
	}
	assert_true(failed >= 1);
	assert_int_equal(m, N - failed);
	assert_int_equal(s1.migrate_failures - s0.migrate_failures, failed);
	hm_inject_clear();
	home_and_check(p, N, seed);

	/* the fault path retries until the copy succeeds */
	assert_int_equal(hm_migrate(p, N * PG, tier, NULL), N);
	s0 = stats_now();
	assert_int_equal(hm_inject("uffd_copy", EAGAIN, 0, 20), 0);
	for (size_t k = 0; k < PG / 8; k++)
		assert_int_equal(((volatile uint64_t *)(p + 7 * PG))[k], unit_word(seed, 7, k));
	s1 = stats_now();
	assert_int_equal(s1.injected - s0.injected, 20);
	assert_int_equal(s1.poisoned, s0.poisoned);
	ASSERT_PATTERN(p, N, seed);
	assert_int_equal(hm_free(p, 0), 0);
}

static void test_uffd_wp(void **state)
{
	enum { N = 16 };
	const unsigned seed = 170;
	char *p = region(N, HM_FOLIO_4K, seed);
	int st[N];
	uint64_t inj0 = stats_now().injected;
	if (mode == HM_DEMOTE_WP) {
		/* the 16 adjacent folios are one run (migrate.c): protecting
		 * the run fails, so each folio is protected on its own */
		assert_int_equal(hm_inject("uffd_wp", EIO, 0, 1), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N);
		expect_status(st, N, 0, 0, 0, 0);
		assert_int_equal(stats_now().injected - inj0, 1);
		home_and_check(p, N, seed);
		/* ... and protecting folio 0 on its own fails too: it stays,
		 * unprotected, in RAM */
		inj0 = stats_now().injected;
		assert_int_equal(hm_inject("uffd_wp", EIO, 0, 2), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N - 1);
		expect_status(st, N, 0, 1, -EIO, 0);
		expect_where(p, N, 0, 1, 0, tier);
		assert_int_equal(stats_now().injected - inj0, 2);
		p[0] ^= 0x5a; /* writable: no stray protection left */
		p[0] ^= 0x5a;
		home_and_check(p, N, seed);
		/* unprotecting the run after its commit fails (its protect
		 * succeeds first): the pages were already dropped, nothing is
		 * lost */
		inj0 = stats_now().injected;
		assert_int_equal(hm_inject("uffd_wp", EIO, 1, 1), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N);
		expect_status(st, N, 0, 0, 0, 0);
		assert_int_equal(stats_now().injected - inj0, 1);
		hm_inject_clear();
		home_and_check(p, N, seed);
	} else {
		/* with UFFDIO_MOVE, write-protect is only the fallback: make the
		 * move refuse folio 0, then the protect fail */
		assert_int_equal(hm_inject("uffd_move", EBUSY, 0, 1), 0);
		assert_int_equal(hm_inject("uffd_wp", EIO, 0, 1), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N - 1);
		expect_status(st, N, 0, 1, -EIO, 0);
		expect_where(p, N, 0, 1, 0, tier);
		assert_int_equal(stats_now().injected - inj0, 2);
		home_and_check(p, N, seed);
	}
	/* every page writable and correct afterwards */
	for (int i = 0; i < N; i++)
		p[i * PG + 1] ^= 0x33;
	for (int i = 0; i < N; i++)
		p[i * PG + 1] ^= 0x33;
	ASSERT_PATTERN(p, N, seed);
	assert_int_equal(hm_free(p, 0), 0);
}

static void test_madvise(void **state)
{
	enum { N = 16 };
	const unsigned seed = 180;
	char *p = region(N, HM_FOLIO_4K, seed);
	int st[N];
	uint64_t inj0 = stats_now().injected;
	if (mode == HM_DEMOTE_WP) {
		/* dropping the RAM copies of the run (the 16 adjacent folios,
		 * one MADV_DONTNEED) fails: the RAM copies stay authoritative,
		 * the tier copies are discarded */
		assert_int_equal(hm_inject("madvise", EIO, 0, 1), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), 0);
		expect_status(st, N, 0, N, -EIO, 0);
		expect_where(p, N, 0, N, 0, tier);
		assert_int_equal(stats_now().injected - inj0, 1);
		assert_int_equal(tinfo(tier).used, 0);
		for (int i = 0; i < N; i++) { /* not left write-protected */
			p[i * PG] ^= 1;
			p[i * PG] ^= 1;
		}
		home_and_check(p, N, seed);
		/* a folio on its own (a run of one): folio 1 of every other */
		inj0 = stats_now().injected;
		for (int i = 0; i < N; i += 2)
			assert_int_equal(hm_migrate(p + i * PG, PG, tier, NULL), 1);
		assert_int_equal(hm_inject("madvise", EIO, 0, 1), 0);
		assert_int_equal(hm_migrate(p + PG, PG, tier, st), 0);
		assert_int_equal(st[0], -EIO);
		expect_where(p, 2, 1, 2, 0, tier);
		assert_int_equal(stats_now().injected - inj0, 1);
		assert_int_equal(tinfo(tier).used, N / 2 * PG);
		p[PG] ^= 1; /* not left write-protected */
		p[PG] ^= 1;
		home_and_check(p, N, seed);
	} else {
		/* the staging range is emptied with madvise after each batch: a
		 * failure is retried and never shows in the result */
		assert_int_equal(hm_inject("madvise", EIO, 0, 1), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N);
		expect_status(st, N, 0, 0, 0, 0);
		assert_int_equal(stats_now().injected - inj0, 1);
		home_and_check(p, N, seed);
		/* persistent failure: still emptied (the next demotion into the
		 * same staging chunk works) */
		inj0 = stats_now().injected;
		assert_int_equal(hm_inject("madvise", EIO, 0, 1000), 0);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N);
		expect_status(st, N, 0, 0, 0, 0);
		assert_true(stats_now().injected - inj0 >= 1);
		hm_inject_clear();
		home_and_check(p, N, seed);
		assert_int_equal(hm_migrate(p, N * PG, tier, st), N);
		expect_status(st, N, 0, 0, 0, 0);
		home_and_check(p, N, seed);
	}
	assert_int_equal(hm_free(p, 0), 0);
}

static void test_mmap(void **state)
{
	struct hm_stats s0 = stats_now();
	int n = hm_tier_count();
	int fds = count_fds();
	assert_int_equal(hm_inject("mmap", ENOMEM, 0, 1), 0);
	EXPECT_NULL_ERR(hm_alloc(16 * PG, HM_FOLIO_4K), ENOMEM);
	assert_int_equal(hm_inject("mmap", ENOMEM, 0, 1), 0);
	EXPECT_ERR(hm_tier_add("emu:1M"), ENOMEM);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.injected - s0.injected, 2);
	assert_int_equal(s1.regions, s0.regions);
	assert_int_equal(s1.managed_bytes, s0.managed_bytes);
	assert_int_equal(hm_tier_count(), n);
	assert_int_equal(count_fds(), fds); /* the memfd was closed */

	/* hm_init: the staging range (mapped where the kernel has UFFDIO_MOVE)
	 * needs an mmap */
	struct hm_features f;
	assert_int_equal(hm_probe_features(&f), 0);
	assert_int_equal(hm_shutdown(), 0);
	fds = count_fds();
	assert_int_equal(hm_inject("mmap", ENOMEM, 0, 1), 0);
	if (f.move) {
		EXPECT_ERR(hm_init(NULL), ENOMEM);
		assert_int_equal(count_fds(), fds); /* uffd and eventfd closed */
		assert_int_equal(hm_tier_count(), 0);
		EXPECT_NULL_ERR(hm_alloc(PG, HM_FOLIO_4K), ENODEV);
		assert_int_equal(hm_init(NULL), 0);
	} else {
		assert_int_equal(hm_init(NULL), 0);
		hm_inject_clear();
	}
	/* works normally afterwards */
	tier = EXPECT_OK(hm_tier_add("emu:4M"));
	char *p = region(8, HM_FOLIO_4K, 190);
	assert_int_equal(hm_migrate(p, 8 * PG, tier, NULL), 8);
	home_and_check(p, 8, 190);
	assert_int_equal(hm_free(p, 0), 0);
}

/* The file tier moves data with pread/pwrite: same sites, same answers. */
static void test_file_tier_sites(void **state)
{
	char path[] = "/tmp/hetmem-unit-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char spec[128];
	snprintf(spec, sizeof(spec), "file:%s,size=4M", path);
	int ft = hm_tier_add(spec);
	unlink(path); /* the tier keeps its descriptor */
	assert_true(ft > 0);
	enum { N = 16 };
	const unsigned seed = 200;
	char *p = region(N, HM_FOLIO_4K, seed);
	int st[N];
	struct hm_stats s0 = stats_now();
	assert_int_equal(hm_inject("tier_write", EIO, 5, 1), 0);
	assert_int_equal(hm_migrate(p, N * PG, ft, st), N - 1);
	expect_status(st, N, 5, 6, -EIO, 0);
	expect_where(p, N, 5, 6, 0, ft);
	assert_int_equal(hm_inject("tier_read", EAGAIN, 0, 2), 0);
	assert_int_equal(hm_migrate(p, N * PG, 0, st), N - 1);
	expect_status(st, N, 5, 6, HM_MIGRATE_SKIPPED, 0);
	struct hm_stats s1 = stats_now();
	assert_int_equal(s1.injected - s0.injected, 3);
	assert_int_equal(s1.retries - s0.retries, 2);
	ASSERT_PATTERN(p, N, seed);
	/* a read error poisons */
	assert_int_equal(hm_migrate(p, N * PG, ft, NULL), N);
	assert_int_equal(hm_inject("tier_read", EIO, 3, 1), 0);
	assert_int_equal(hm_migrate(p, N * PG, 0, st), N - 1);
	expect_status(st, N, 3, 4, -EIO, 0);
	expect_where(p, N, 3, 4, HM_WHERE_POISON, 0);
	bool skip[N] = {0};
	skip[3] = true;
	assert_int_equal(check_pattern_skip(p, N, seed, skip), -1);
	expect_sigbus_child(p, N, seed, skip, 3, true);
	assert_int_equal(hm_free(p, 0), 0);
	assert_int_equal(hm_tier_remove(ft), 0);
}

/* A device reading its own memory through a failing backend gets -EIO; the
 * page stays on the device and reads fine once the failure is gone. */
static void test_device_sites(void **state)
{
	struct hm_device *d;
	assert_int_equal(hm_device_open("emu:4M", &d), 0);
	enum { N = 8 };
	const unsigned seed = 210;
	char *p = region(N, HM_FOLIO_4K, seed);
	assert_int_equal(hm_device_mirror(d, p, N * PG), 0);
	assert_int_equal(hm_device_migrate(d, p, N * PG, NULL), N);
	char buf[PG];
	assert_int_equal(hm_inject("tier_read", EIO, 0, 1), 0);
	EXPECT_ERR(hm_device_read(d, p + 2 * PG, buf, PG, 0), EIO);
	int w[N];
	assert_int_equal(hm_where(p, N * PG, w), 0);
	assert_int_equal(w[2], hm_device_tier(d));
	assert_int_equal(hm_device_read(d, p + 2 * PG, buf, PG, 0), 0);
	for (size_t k = 0; k < PG / 8; k++)
		assert_int_equal(((uint64_t *)buf)[k], unit_word(seed, 2, k));
	/* HM_DEV_MIGRATE on a device that cannot allocate: accessed in place */
	assert_int_equal(hm_migrate(p, N * PG, 0, NULL), N);
	assert_int_equal(hm_inject("tier_alloc", ENOMEM, 0, 100), 0);
	assert_int_equal(hm_device_read(d, p + 4 * PG, buf, PG, HM_DEV_MIGRATE), 0);
	for (size_t k = 0; k < PG / 8; k++)
		assert_int_equal(((uint64_t *)buf)[k], unit_word(seed, 4, k));
	assert_int_equal(hm_where(p, N * PG, w), 0);
	assert_int_equal(w[4], 0);
	hm_inject_clear();
	ASSERT_PATTERN(p, N, seed);
	assert_int_equal(hm_device_close(d), 0);
	assert_int_equal(hm_free(p, 0), 0);
}

int main(void)
{
	hm_test_require_uffd();
	struct hm_features f;
	hm_probe_features(&f);
	const char *m = getenv("HETMEM_DEMOTE");
	if (m && !strcmp(m, "move")) {
		if (!f.move) {
			hm_skip("HETMEM_DEMOTE=move needs UFFDIO_MOVE (Linux >= 6.8), which this kernel lacks");
		}
		mode = HM_DEMOTE_MOVE;
	} else if (m && !strcmp(m, "wp")) {
		if (!f.wp) {
			hm_skip("HETMEM_DEMOTE=wp needs userfaultfd write-protect, which this kernel lacks");
		}
		mode = HM_DEMOTE_WP;
	} else {
		mode = f.move ? HM_DEMOTE_MOVE : HM_DEMOTE_WP;
	}
	printf("demote mode: %s\n", mode == HM_DEMOTE_MOVE ? "move" : "wp");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tier_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tier_read_eagain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tier_read_eio_poisons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poison_outlives_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tier_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uffd_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uffd_move_misreport, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uffd_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uffd_wp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madvise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_tier_sites, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_sites, setup, teardown),
	};
	return cmocka_run_group_tests_name(mode == HM_DEMOTE_MOVE ? "unit_inject (move)" : "unit_inject (wp)", tests,
					   NULL, NULL);
}
