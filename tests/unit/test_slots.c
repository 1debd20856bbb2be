/*
 * test_slots.c — the tier slot allocator (hm_tier_alloc / hm_tier_free):
 * runs of 2^order slots aligned to 2^order, exhaustion gives -ENOSPC,
 * freed slots are reused, fragmentation makes large orders fail while
 * order 0 still works, used counts stay exact, the bits past the end of a
 * tier whose size is not a multiple of 64 slots are never handed out, and
 * a scan over a fragmented tier terminates, and freed slots give their
 * memory back to the store.
 *
 * Tiers are real emu tiers made with hm_tier_create() (no hm_init needed).
 */
#include "unit.h"
#include "hetmem_inject.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static struct hm_tier *make_tier(const char *spec)
{
	int id = hm_tier_create(spec, NULL);
	if (id <= 0)
		fail_msg("hm_tier_create(%s) = %d: %s", spec, id, hm_last_error());
	struct hm_tier *t = hm_tier_get(id);
	assert_non_null(t);
	return t;
}

static void drop_tier(struct hm_tier *t)
{
	assert_int_equal(hm_tier_destroy(t->id, true), 0);
}

static bool slot_used(struct hm_tier *t, uint64_t s)
{
	return t->bitmap[s >> 6] & (1ull << (s & 63));
}

static uint64_t bits_set(struct hm_tier *t)
{
	uint64_t n = 0;
	for (uint64_t s = 0; s < t->nslots; s++)
		n += slot_used(t, s);
	return n;
}

static void test_orders_and_alignment(void **state)
{
	struct hm_tier *t = make_tier("emu:4M");
	assert_int_equal(t->nslots, 1024);
	assert_int_equal(atomic_load(&t->used_slots), 0);

	uint64_t s0, s4, s9, s4b, s9b;
	assert_int_equal(hm_tier_alloc(t, 0, &s0), 0);
	assert_true(s0 < t->nslots);
	assert_true(slot_used(t, s0));
	assert_int_equal(atomic_load(&t->used_slots), 1);

	assert_int_equal(hm_tier_alloc(t, 4, &s4), 0);
	assert_int_equal(s4 % 16, 0);
	assert_true(s4 + 16 <= t->nslots);
	assert_true(s0 < s4 || s0 >= s4 + 16);
	for (uint64_t k = 0; k < 16; k++)
		assert_true(slot_used(t, s4 + k));
	assert_int_equal(atomic_load(&t->used_slots), 17);

	assert_int_equal(hm_tier_alloc(t, 9, &s9), 0);
	assert_int_equal(s9 % 512, 0);
	/* slot 0 (and the order-4 run) are in the first half: the 2 MiB run
	 * must be the second half */
	assert_int_equal(s9, 512);
	assert_int_equal(atomic_load(&t->used_slots), 17 + 512);

	/* a second order-9 run does not fit any more */
	assert_int_equal(hm_tier_alloc(t, 9, &s9b), -ENOSPC);
	assert_int_equal(atomic_load(&t->used_slots), 17 + 512);

	/* another order-4 run is aligned and disjoint from the first */
	assert_int_equal(hm_tier_alloc(t, 4, &s4b), 0);
	assert_int_equal(s4b % 16, 0);
	assert_true(s4b >= s4 + 16 || s4b + 16 <= s4);
	assert_true(s4b < 512);

	/* orders 6..8 (whole-word scans) are aligned too, and avoid used bits */
	uint64_t s6, s7;
	assert_int_equal(hm_tier_alloc(t, 6, &s6), 0);
	assert_int_equal(s6 % 64, 0);
	assert_true(s6 != 0 && s6 < 512);
	assert_int_equal(hm_tier_alloc(t, 7, &s7), 0);
	assert_int_equal(s7 % 128, 0);
	assert_true(s7 < 512 && (s7 + 128 <= s6 || s7 >= s6 + 64) && s7 != 0);
	assert_int_equal(atomic_load(&t->used_slots), 17 + 512 + 16 + 64 + 128);
	assert_int_equal(bits_set(t), atomic_load(&t->used_slots));

	hm_tier_free(t, s9, 512);
	hm_tier_free(t, s7, 128);
	hm_tier_free(t, s6, 64);
	hm_tier_free(t, s4b, 16);
	hm_tier_free(t, s4, 16);
	hm_tier_free(t, s0, 1);
	assert_int_equal(atomic_load(&t->used_slots), 0);
	assert_int_equal(bits_set(t), 0);
	drop_tier(t);
}

static void test_exhaustion_and_reuse(void **state)
{
	struct hm_tier *t = make_tier("emu:1M"); /* 256 slots */
	uint64_t n = t->nslots;
	assert_int_equal(n, 256);
	bool *seen = calloc(n, 1);
	uint64_t s;
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(hm_tier_alloc(t, 0, &s), 0);
		assert_true(s < n);
		assert_false(seen[s]); /* never handed out twice */
		seen[s] = true;
	}
	assert_int_equal(atomic_load(&t->used_slots), n);
	assert_int_equal(hm_tier_alloc(t, 0, &s), -ENOSPC);
	assert_int_equal(hm_tier_alloc(t, 4, &s), -ENOSPC);
	assert_int_equal(hm_tier_alloc(t, 9, &s), -ENOSPC);
	assert_int_equal(atomic_load(&t->used_slots), n);

	/* free one slot: it is the one handed out next */
	hm_tier_free(t, 77, 1);
	assert_int_equal(atomic_load(&t->used_slots), n - 1);
	assert_false(slot_used(t, 77));
	assert_int_equal(hm_tier_alloc(t, 0, &s), 0);
	assert_int_equal(s, 77);
	assert_int_equal(hm_tier_alloc(t, 0, &s), -ENOSPC);

	/* free an aligned run of 16: an order-4 allocation gets exactly it */
	hm_tier_free(t, 32, 16);
	assert_int_equal(atomic_load(&t->used_slots), n - 16);
	assert_int_equal(hm_tier_alloc(t, 4, &s), 0);
	assert_int_equal(s, 32);
	assert_int_equal(atomic_load(&t->used_slots), n);

	/* free 16 slots that are not an aligned run: order 4 fails, 0 works */
	hm_tier_free(t, 40, 16); /* 40..55 straddles two aligned runs */
	assert_int_equal(hm_tier_alloc(t, 4, &s), -ENOSPC);
	assert_int_equal(atomic_load(&t->used_slots), n - 16);
	/* ... but the two aligned runs of 8 inside it are found */
	assert_int_equal(hm_tier_alloc(t, 3, &s), 0);
	assert_int_equal(s, 40);
	assert_int_equal(hm_tier_alloc(t, 3, &s), 0);
	assert_int_equal(s, 48);
	assert_int_equal(hm_tier_alloc(t, 0, &s), -ENOSPC);
	assert_int_equal(atomic_load(&t->used_slots), n);
	assert_int_equal(bits_set(t), n);

	drop_tier(t);
	free(seen);
}

static void test_fragmentation(void **state)
{
	struct hm_tier *t = make_tier("emu:4M"); /* 1024 slots */
	uint64_t n = t->nslots, s;
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(hm_tier_alloc(t, 0, &s), 0);
	/* free every other slot: half the tier is free, in single slots */
	for (uint64_t i = 1; i < n; i += 2)
		hm_tier_free(t, i, 1);
	assert_int_equal(atomic_load(&t->used_slots), n / 2);
	assert_int_equal(hm_tier_alloc(t, 9, &s), -ENOSPC);
	assert_int_equal(hm_tier_alloc(t, 4, &s), -ENOSPC);
	assert_int_equal(hm_tier_alloc(t, 1, &s), -ENOSPC);
	assert_int_equal(atomic_load(&t->used_slots), n / 2);
	/* order 0 still works, on an odd (freed) slot, until all are used */
	for (uint64_t i = 0; i < n / 2; i++) {
		assert_int_equal(hm_tier_alloc(t, 0, &s), 0);
		assert_int_equal(s % 2, 1);
	}
	assert_int_equal(hm_tier_alloc(t, 0, &s), -ENOSPC);
	assert_int_equal(atomic_load(&t->used_slots), n);
	assert_int_equal(bits_set(t), n);
	drop_tier(t);
}

/* A tier whose slot count is not a multiple of 64: the padding bits of the
 * last bitmap word are never handed out and never counted as used. */
static void test_odd_size_tier(void **state)
{
	struct hm_tier *t = make_tier("emu:100K"); /* 25 slots */
	assert_int_equal(t->nslots, 25);
	uint64_t s;
	assert_int_equal(hm_tier_alloc(t, 9, &s), -ENOSPC); /* larger than the tier */
	assert_int_equal(hm_tier_alloc(t, 5, &s), -ENOSPC); /* 32 > 25 */
	assert_int_equal(hm_tier_alloc(t, 4, &s), 0);
	assert_int_equal(s, 0);
	/* 9 slots left (16..24), but no aligned run of 16 */
	assert_int_equal(hm_tier_alloc(t, 4, &s), -ENOSPC);
	assert_int_equal(hm_tier_alloc(t, 3, &s), 0);
	assert_int_equal(s, 16);
	assert_int_equal(hm_tier_alloc(t, 1, &s), -ENOSPC); /* only slot 24 left */
	assert_int_equal(hm_tier_alloc(t, 0, &s), 0);
	assert_int_equal(s, 24);
	assert_int_equal(hm_tier_alloc(t, 0, &s), -ENOSPC);
	assert_int_equal(atomic_load(&t->used_slots), 25);
	hm_tier_free(t, 0, 25);
	assert_int_equal(atomic_load(&t->used_slots), 0);
	for (int i = 0; i < 25; i++) {
		assert_int_equal(hm_tier_alloc(t, 0, &s), 0);
		assert_true(s < 25);
	}
	assert_int_equal(hm_tier_alloc(t, 0, &s), -ENOSPC);
	drop_tier(t);
}

/* A small tier (64 KiB = 16 slots): orders above its size fail at once. */
static void test_tiny_tier(void **state)
{
	struct hm_tier *t = make_tier("emu:64K");
	uint64_t s;
	assert_int_equal(hm_tier_alloc(t, 9, &s), -ENOSPC);
	assert_int_equal(hm_tier_alloc(t, 5, &s), -ENOSPC);
	assert_int_equal(hm_tier_alloc(t, 4, &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(hm_tier_alloc(t, 0, &s), -ENOSPC);
	hm_tier_free(t, 0, 16);
	assert_int_equal(atomic_load(&t->used_slots), 0);
	drop_tier(t);
}

/*
 * Failed scans must terminate.  The scan for an order below 6 starts at the
 * order's hint and skips full 64-slot words; if the hint lies inside a
 * full word and the rest of the tier has free slots but no aligned run, the
 * scan must still come back to its start and answer -ENOSPC.
 * Run in a child with an alarm so a hang is a failure, not a stuck test.
 */
static void fragmented_scan_child(unsigned order)
{
	struct hm_tier *t = make_tier("emu:512K"); /* 128 slots, two words */
	uint64_t n = 1ull << order, s, first;
	/* one run of this order at slot 0: the order's hint is now n */
	if (hm_tier_alloc(t, order, &first) || first != 0)
		_exit(10);
	/* fill the rest of the tier with single slots */
	for (uint64_t i = n; i < t->nslots; i++)
		if (hm_tier_alloc(t, 0, &s))
			_exit(11);
	/* free n odd slots in word 1: enough free space, but no aligned run */
	for (uint64_t k = 0; k < n; k++)
		hm_tier_free(t, 64 + 2 * k + 1, 1);
	if (atomic_load(&t->used_slots) != t->nslots - n)
		_exit(12);
	int rc = hm_tier_alloc(t, order, &s);
	if (rc != -ENOSPC)
		_exit(13);
	if (hm_tier_alloc(t, 0, &s) || s < 64 || s % 2 != 1)
		_exit(14);
	_exit(0);
}

static void test_fragmented_scan_terminates(void **state)
{
	for (unsigned order = 1; order <= 5; order++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			alarm(3);
			fragmented_scan_child(order);
		}
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (WIFSIGNALED(st))
			fail_msg("order %u: slot allocator scan did not terminate (killed by signal %d)", order,
				 WTERMSIG(st));
		if (WEXITSTATUS(st))
			fail_msg("order %u: child failed at step %d", order, WEXITSTATUS(st));
	}
}

/* The injection site tier_alloc makes the allocator fail without touching
 * the bitmap. */
static void test_alloc_injection(void **state)
{
	struct hm_tier *t = make_tier("emu:64K");
	uint64_t before = stats_now().injected, s;
	assert_int_equal(hm_inject("tier_alloc", ENOMEM, 1, 2), 0);
	assert_int_equal(hm_tier_alloc(t, 0, &s), 0);       /* skipped */
	assert_int_equal(hm_tier_alloc(t, 0, &s), -ENOMEM); /* injected */
	assert_int_equal(hm_tier_alloc(t, 0, &s), -ENOMEM);
	assert_int_equal(hm_tier_alloc(t, 0, &s), 0);       /* count used up */
	assert_int_equal(stats_now().injected, before + 2);
	assert_int_equal(atomic_load(&t->used_slots), 2);
	assert_int_equal(bits_set(t), 2);
	hm_inject_clear();
	drop_tier(t);
}

static uint64_t store_blocks(struct hm_tier *t)
{
	struct stat st;
	const int *memfd = t->priv; /* struct emu's first field (tiers/emu.c) */
	assert_int_equal(fstat(*memfd, &st), 0);
	return (uint64_t)st.st_blocks;
}

/* Freed slots give their memory back to the memfd: whole 64 KiB groups,
 * batched until a release pass; a group that is partly in use, or taken
 * again before the pass, keeps its data. */
static void test_release(void **state)
{
	struct hm_tier *t = make_tier("emu:4M");
	t->release_keep = 0; /* every free group given back (the kept ones: below) */
	char *win = t->window;
	uint64_t s, a, b, r;
	assert_int_equal(store_blocks(t), 0); /* nothing is filled up front */
	assert_int_equal(hm_tier_alloc(t, 6, &s), 0);
	memset(win + (s << 12), 0x5a, 64 << 12);
	assert_true(store_blocks(t) >= (64 << 12) / 512);
	hm_tier_free(t, s, 64);
	assert_int_equal(bits_set(t), 0);
	hm_tier_release(t);
	assert_int_equal(store_blocks(t), 0);
	assert_int_equal(atomic_load(&t->released), 64 << 12);
	assert_int_equal(bits_set(t), 0);

	/* a group with a slot still in use keeps it */
	assert_int_equal(hm_tier_alloc(t, 0, &a), 0);
	assert_int_equal(hm_tier_alloc(t, 0, &b), 0);
	assert_int_equal(a >> 4, b >> 4);
	memset(win + (a << 12), 1, 4096);
	memset(win + (b << 12), 2, 4096);
	hm_tier_free(t, a, 1);
	hm_tier_release(t);
	assert_int_equal(win[b << 12], 2);
	assert_int_equal(atomic_load(&t->released), 64 << 12);
	hm_tier_free(t, b, 1);
	hm_tier_release(t);
	assert_int_equal(store_blocks(t), 0);

	/* a pending group taken again before the pass keeps the new data */
	assert_int_equal(hm_tier_alloc(t, 4, &a), 0);
	memset(win + (a << 12), 3, 16 << 12);
	hm_tier_free(t, a, 16);
	assert_int_equal(hm_tier_alloc(t, 4, &r), 0);
	assert_int_equal(r, a); /* the lowest free run is reused */
	memset(win + (r << 12), 4, 16 << 12);
	hm_tier_release(t);
	for (size_t k = 0; k < 16 << 12; k += 4096)
		assert_int_equal(win[(r << 12) + k], 4);
	hm_tier_free(t, r, 16);
	hm_tier_release(t);
	assert_int_equal(store_blocks(t), 0);
	assert_int_equal(atomic_load(&t->used_slots), 0);

	/* with a keep of 4 groups, a pass leaves the lowest 4 of 8 filled */
	t->release_keep = 4;
	uint64_t before = atomic_load(&t->released);
	assert_int_equal(hm_tier_alloc(t, 7, &s), 0);
	memset(win + (s << 12), 5, 128 << 12);
	hm_tier_free(t, s, 128);
	hm_tier_release(t);
	assert_int_equal(atomic_load(&t->released) - before, 64 << 12);
	assert_int_equal(store_blocks(t), (64 << 12) / 512);
	for (size_t k = 0; k < 64 << 12; k += 4096)
		assert_int_equal(win[(s << 12) + k], 5);
	drop_tier(t);
}

/* A file tier punches freed groups out of its file too. */
static void test_release_file(void **state)
{
	char path[] = "/tmp/hetmem-slots-XXXXXX", spec[64];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(spec, sizeof(spec), "file:%s,size=1M", path);
	struct hm_tier *t = make_tier(spec);
	t->release_keep = 0;
	uint64_t s;
	assert_int_equal(hm_tier_alloc(t, 6, &s), 0);
	char *buf = malloc(64 << 12);
	memset(buf, 0x33, 64 << 12);
	assert_int_equal(hm_tier_write(t, s, buf, 64), 0);
	uint64_t written = store_blocks(t);
	assert_true(written >= (64 << 12) / 512);
	hm_tier_free(t, s, 64);
	hm_tier_release(t);
	if (atomic_load(&t->no_release)) {
		/* this file system cannot punch holes: nothing to check */
		drop_tier(t);
		unlink(path);
		free(buf);
		HM_SKIP_CASE("this file system cannot punch holes");
	}
	assert_int_equal(atomic_load(&t->released), 64 << 12);
	assert_true(store_blocks(t) + (64 << 12) / 512 <= written);
	drop_tier(t);
	unlink(path);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orders_and_alignment),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_release_file),
		cmocka_unit_test(test_exhaustion_and_reuse),
		cmocka_unit_test(test_fragmentation),
		cmocka_unit_test(test_odd_size_tier),
		cmocka_unit_test(test_tiny_tier),
		cmocka_unit_test(test_fragmented_scan_terminates),
		cmocka_unit_test(test_alloc_injection),
	};
	return cmocka_run_group_tests_name("unit_slots", tests, NULL, NULL);
}
