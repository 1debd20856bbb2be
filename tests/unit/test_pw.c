/*
 * test_pw.c — the page-table word: field extraction (pw_loc, pw_tier,
 * pw_slot), pw_set() keeping the bits that belong to other parties, the
 * field layout, and the folio lock on a region's head word (trylock,
 * unlock, events left pending while the folio was locked).
 */
#include "unit.h"

static void test_layout(void **state)
{
	/* fields do not overlap and cover what they must */
	const uint64_t flags[] = {PW_MOVING, PW_WAITERS, PW_NOREAD, PW_NOWRITE, PW_SAMPLED,
				  PW_DISCARD, PW_GONE, PW_SELFZAP};
	uint64_t all = PW_LOC_MASK | PW_TIER_MASK;
	assert_int_equal(PW_LOC_MASK & PW_TIER_MASK, 0);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		assert_int_equal(__builtin_popcountll(flags[i]), 1);
		assert_int_equal(all & flags[i], 0);
		all |= flags[i];
	}
	/* the slot field starts above every flag and holds 48 bits */
	assert_true((1ull << PW_SLOT_SHIFT) > all);
	assert_int_equal(PW_SLOT_MAX << PW_SLOT_SHIFT >> PW_SLOT_SHIFT, PW_SLOT_MAX);
	assert_int_equal(64 - PW_SLOT_SHIFT, 48);
	/* every location and every tier id fits */
	assert_true(HM_LOC_UNMAPPED <= PW_LOC_MASK);
	assert_int_equal((uint64_t)(HM_MAX_TIERS - 1) << PW_TIER_SHIFT & ~PW_TIER_MASK, 0);
	assert_int_equal(PW_KEEP & (PW_LOC_MASK | PW_TIER_MASK), 0);
	assert_int_equal(PW_KEEP >> PW_SLOT_SHIFT, 0);
	assert_int_equal(PW_PENDING, PW_DISCARD | PW_GONE);
	assert_int_equal(PW_PROT_MASK, PW_NOREAD | PW_NOWRITE);
}

static void test_extract(void **state)
{
	uint64_t w = HM_LOC_TIER | (7ull << PW_TIER_SHIFT) | (123456ull << PW_SLOT_SHIFT) | PW_MOVING | PW_NOWRITE;
	assert_int_equal(pw_loc(w), HM_LOC_TIER);
	assert_int_equal(pw_tier(w), 7);
	assert_int_equal(pw_slot(w), 123456);
	assert_int_equal(pw_loc(0), HM_LOC_NONE);
	assert_int_equal(pw_tier(0), 0);
	assert_int_equal(pw_slot(0), 0);
	/* extremes */
	w = HM_LOC_TIER | ((uint64_t)(HM_MAX_TIERS - 1) << PW_TIER_SHIFT) | (PW_SLOT_MAX << PW_SLOT_SHIFT);
	assert_int_equal(pw_tier(w), HM_MAX_TIERS - 1);
	assert_int_equal(pw_slot(w), PW_SLOT_MAX);
	assert_int_equal(pw_loc(w), HM_LOC_TIER);
	/* every flag set does not disturb the fields */
	w = HM_LOC_POISON | PW_MOVING | PW_WAITERS | PW_NOREAD | PW_NOWRITE | PW_SAMPLED | PW_PENDING | PW_SELFZAP;
	assert_int_equal(pw_loc(w), HM_LOC_POISON);
	assert_int_equal(pw_tier(w), 0);
	assert_int_equal(pw_slot(w), 0);
}

static void test_set_keeps_other_bits(void **state)
{
	hm_pw_t word;
	const uint64_t keep = PW_MOVING | PW_WAITERS | PW_NOREAD | PW_SAMPLED | PW_DISCARD | PW_SELFZAP;
	atomic_init(&word, HM_LOC_HOST | keep);

	uint64_t old = pw_set(&word, HM_LOC_TIER, 3, 999);
	assert_int_equal(old, HM_LOC_HOST | keep);
	uint64_t w = atomic_load(&word);
	assert_int_equal(pw_loc(w), HM_LOC_TIER);
	assert_int_equal(pw_tier(w), 3);
	assert_int_equal(pw_slot(w), 999);
	assert_int_equal(w & PW_KEEP, keep);

	/* tier -> tier': tier and slot replaced, not or-ed */
	old = pw_set(&word, HM_LOC_TIER, 12, PW_SLOT_MAX);
	assert_int_equal(pw_tier(old), 3);
	assert_int_equal(pw_slot(old), 999);
	w = atomic_load(&word);
	assert_int_equal(pw_tier(w), 12);
	assert_int_equal(pw_slot(w), PW_SLOT_MAX);
	assert_int_equal(w & PW_KEEP, keep);

	/* back to host: tier and slot cleared */
	pw_set(&word, HM_LOC_HOST, 0, 0);
	w = atomic_load(&word);
	assert_int_equal(pw_loc(w), HM_LOC_HOST);
	assert_int_equal(pw_tier(w), 0);
	assert_int_equal(pw_slot(w), 0);
	assert_int_equal(w, HM_LOC_HOST | keep);

	/* each kept bit survives alone, and no other bit appears */
	const uint64_t bits[] = {PW_MOVING, PW_WAITERS, PW_NOREAD, PW_NOWRITE, PW_SAMPLED,
				 PW_DISCARD, PW_GONE, PW_SELFZAP};
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		atomic_store(&word, HM_LOC_TIER | (5ull << PW_TIER_SHIFT) | (77ull << PW_SLOT_SHIFT) | bits[i]);
		pw_set(&word, HM_LOC_POISON, 0, 0);
		assert_int_equal(atomic_load(&word), HM_LOC_POISON | bits[i]);
	}
}

/* A region struct on the heap, never mapped: enough for the lock helpers. */
static struct hm_region *fake_region(unsigned folio_shift, size_t npages)
{
	struct hm_region *r = calloc(1, sizeof(*r));
	r->base = 0x7f0000000000ull;
	r->size = npages * PG;
	r->folio_shift = folio_shift;
	r->npages = npages;
	r->words = calloc(npages, sizeof(hm_pw_t));
	atomic_init(&r->refs, 1);
	return r;
}

static void free_region(struct hm_region *r)
{
	free(r->words);
	free(r);
}

static void test_folio_pages(void **state)
{
	struct hm_region *r = fake_region(12, 4);
	assert_int_equal(region_folio_pages(r), 1);
	r->folio_shift = 16;
	assert_int_equal(region_folio_pages(r), 16);
	r->folio_shift = 21;
	assert_int_equal(region_folio_pages(r), 512);
	free_region(r);
}

static void test_folio_lock(void **state)
{
	struct hm_region *r = fake_region(16, 32); /* two 64 KiB folios */
	atomic_store(&r->words[0], HM_LOC_HOST | PW_NOREAD);
	uint64_t old = 0;
	assert_true(hm_folio_trylock(r, 0, &old));
	assert_int_equal(old, HM_LOC_HOST | PW_NOREAD);
	assert_true(atomic_load(&r->words[0]) & PW_MOVING);
	assert_false(hm_folio_trylock(r, 0, &old)); /* held */
	/* the other folio is independent */
	assert_true(hm_folio_trylock(r, 16, NULL));
	assert_false(atomic_load(&r->words[1]) & PW_MOVING); /* tail words untouched */

	/* unlock clears MOVING and WAITERS, keeps the rest */
	atomic_fetch_or(&r->words[0], PW_WAITERS);
	hm_folio_unlock(r, 0);
	assert_int_equal(atomic_load(&r->words[0]), HM_LOC_HOST | PW_NOREAD);
	hm_folio_unlock(r, 16);
	assert_int_equal(atomic_load(&r->words[16]), 0);

	/* hm_folio_lock takes a free lock at once */
	hm_folio_lock(r, 0);
	assert_true(atomic_load(&r->words[0]) & PW_MOVING);
	hm_folio_unlock(r, 0);
	free_region(r);
}

/* Events that arrived while a folio was locked are applied at unlock: a
 * DISCARD makes the page NONE, a GONE makes it UNMAPPED, a page on a tier
 * gets its slot freed. */
static void test_pending_applied_at_unlock(void **state)
{
	struct hm_tier *t;
	int id = hm_tier_create("emu:64K", NULL);
	assert_true(id > 0);
	t = hm_tier_get(id);
	uint64_t slot;
	assert_int_equal(hm_tier_alloc(t, 0, &slot), 0);

	struct hm_region *r = fake_region(16, 16);
	for (int i = 0; i < 16; i++)
		atomic_store(&r->words[i], HM_LOC_HOST);
	atomic_store(&r->words[3], HM_LOC_TIER | ((uint64_t)id << PW_TIER_SHIFT) | (slot << PW_SLOT_SHIFT));
	uint64_t res0 = atomic_load(&hm_cnt.resident_pages);

	assert_true(hm_folio_trylock(r, 0, NULL));
	atomic_fetch_or(&r->words[2], PW_DISCARD);
	atomic_fetch_or(&r->words[3], PW_DISCARD);
	atomic_fetch_or(&r->words[5], PW_GONE);
	atomic_fetch_or(&r->words[7], PW_NOWRITE);
	hm_folio_unlock(r, 0);

	assert_int_equal(atomic_load(&r->words[2]), HM_LOC_NONE);
	assert_int_equal(atomic_load(&r->words[3]), HM_LOC_NONE);
	assert_int_equal(atomic_load(&r->words[5]), HM_LOC_UNMAPPED);
	assert_int_equal(atomic_load(&r->words[7]), HM_LOC_HOST | PW_NOWRITE);
	assert_int_equal(atomic_load(&r->words[0]), HM_LOC_HOST); /* unlocked */
	assert_int_equal(atomic_load(&t->used_slots), 0);          /* tier slot freed */
	/* two host pages left RAM (2 and 5); the tier page was not resident */
	assert_int_equal(res0 - atomic_load(&hm_cnt.resident_pages), 2);
	free_region(r);
	assert_int_equal(hm_tier_destroy(id, false), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_extract),
		cmocka_unit_test(test_set_keeps_other_bits),
		cmocka_unit_test(test_folio_pages),
		cmocka_unit_test(test_folio_lock),
		cmocka_unit_test(test_pending_applied_at_unlock),
	};
	return cmocka_run_group_tests_name("unit_pw", tests, NULL, NULL);
}
