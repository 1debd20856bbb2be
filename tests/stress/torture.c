/*
 * torture.c — hetmem torture test in the style of rcutorture.
 *
 *   torture [SECONDS] [WORKERS] [MOVERS]     (defaults 15, 4, 2)
 *   HETMEM_DEMOTE=move|wp picks the demotion mechanism (a mode the kernel
 *   lacks: skipped, exit 77).
 *
 * Three managed allocations, one per folio size (4K, 64K, 2M), 8 MiB in all,
 * on a machine with an emu tier smaller than that (6 MiB, so whole-range
 * moves hit -ENOSPC and the single-slot fallback) and an emulated device
 * mirroring everything.  Every 4 KiB page carries a struct spage (lock word
 * inside managed memory, tag, counter) and a pattern: one word in each of its
 * other 63 cache lines, a function of (tag, counter, line).
 *
 *  - WORKERS, with random nanosleep jitter before and inside the critical
 *    section, lock a random page, verify its tag and its whole pattern
 *    against the counter (every visit), increment the counter and a shadow
 *    copy in malloc'd memory, rewrite the pattern, unlock.
 *  - MOVERS, with jitter, migrate random folio ranges of a random allocation
 *    to the emu tier, RAM or the device, now and then everything, and check
 *    each per-page status is a documented one.
 *  - The DEVICE thread locks a few pages, reads them with hm_device_read
 *    (sometimes HM_DEV_MIGRATE) and checks them exactly, and sometimes
 *    increments them through hm_device_write.
 *  - A CHECKER calls hm_where on everything: every page is populated, so it
 *    must be in RAM (0), on the emu tier or on the device's tier.
 *  - The INJECTOR arms failures at random through hm_inject: tier_write EIO,
 *    tier_read EAGAIN, uffd_copy EAGAIN, tier_alloc ENOMEM, uffd_move EBUSY.
 *    (Never tier_read EIO: that poisons pages by design, and a worker
 *    touching one would get SIGBUS; the semantics tests cover poison.)
 *
 * Counters that must stay zero: lost_writes (counter != shadow at the end),
 * bad_data (tag or pattern wrong on a visit or a device read), bad_state
 * (hm_where answered something impossible), bad_status (a per-page migration
 * result the API does not document for the injected failures), bad_return
 * (a call failed as a whole), bad_device (a device access failed with an
 * error the injections cannot explain, or saw wrong data), lock_errors (a
 * lock word changed while held), stuck_locks (a lock word still held
 * after 10 s: its unlock store was lost).  A SIGBUS or a hang (no progress for 30 s;
 * every thread's kernel stack is printed) is an immediate failure.
 * The last line is exactly "torture: SUCCESS" or "torture: FAILURE (...)"
 * listing the nonzero counters.
 */
#include "stress_common.h"
#include "hetmem_inject.h"

#define PROG "torture"
#define NREG 3
#define LINES (PAGE / 64)
#define MAX_DEV_PAGES 4

struct reg {
	char *base;
	size_t size, npages, fpages, nfolios, first; /* first: global index of page 0 */
	size_t folio;
};

static struct {
	struct reg r[NREG];
	size_t npages;
	int tier, dev_tier;
	struct hm_device *dev;
	int nworkers, nmovers;
	uint64_t *shadow;
	_Atomic bool stop_workers, stop_others;
	_Atomic uint64_t ops, moves, dev_reads, dev_writes, dev_failed, where_calls, arms;
	_Atomic uint64_t lost_writes, bad_data, bad_state, bad_status, bad_return, bad_device, lock_errors;
	struct watchdog wd;
} g;

static const struct {
	const char *site;
	int err;
	const char *name;
} inj[] = {
	{"tier_write", EIO, "EIO"}, {"tier_read", EAGAIN, "EAGAIN"}, {"uffd_copy", EAGAIN, "EAGAIN"},
	{"tier_alloc", ENOMEM, "ENOMEM"}, {"uffd_move", EBUSY, "EBUSY"},
};
#define NINJ (sizeof(inj) / sizeof(inj[0]))
static _Atomic uint64_t armed[NINJ];

static inline struct spage *page_at(size_t i)
{
	for (int k = NREG - 1; k >= 0; k--)
		if (i >= g.r[k].first)
			return (struct spage *)(g.r[k].base + (i - g.r[k].first) * PAGE);
	abort();
}

static inline uint64_t pat(uint64_t tag, uint64_t c, unsigned line)
{
	uint64_t x = tag ^ (c * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)line << 52);
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint64_t *line_word(void *page, unsigned line)
{
	return (uint64_t *)((char *)page + line * 64);
}

static void write_pattern(void *page, uint64_t tag, uint64_t c)
{
	for (unsigned l = 1; l < LINES; l++)
		*line_word(page, l) = pat(tag, c, l);
}

/* Check a page's tag and pattern against its own counter: the number of bad
 * words (0 = consistent). */
static unsigned check_page(const void *page, size_t i, uint64_t *counter)
{
	const struct spage *sp = page;
	unsigned bad = sp->tag != tag_of(i);
	uint64_t c = sp->counter;
	for (unsigned l = 1; l < LINES; l++)
		bad += *line_word((void *)page, l) != pat(tag_of(i), c, l);
	if (counter)
		*counter = c;
	return bad;
}

static void jitter(uint64_t *s, unsigned one_in, uint64_t max_ns)
{
	if (rnd_below(s, one_in) == 0)
		sleep_ns(rnd_below(s, max_ns));
}

static void *worker(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t s = seed_for((int)id), ops = 0;
	while (!atomic_load_explicit(&g.stop_workers, memory_order_relaxed)) {
		for (int k = 0; k < 16; k++) {
			jitter(&s, 16, 50000);
			size_t i = (size_t)rnd_below(&s, g.npages);
			struct spage *sp = page_at(i);
			page_lock(sp, id);
			uint64_t c;
			unsigned bad = check_page(sp, i, &c);
			if (bad && atomic_fetch_add(&g.bad_data, 1) < 5)
				fprintf(stderr, PROG ": worker %u: page %zu (counter %llu, shadow %llu): %u bad words\n",
					id, i, (unsigned long long)c, (unsigned long long)g.shadow[i], bad);
			if (c != g.shadow[i] && atomic_fetch_add(&g.lost_writes, 1) < 5)
				fprintf(stderr, PROG ": worker %u: page %zu: counter %llu, shadow %llu (lost write)\n", id,
					i, (unsigned long long)c, (unsigned long long)g.shadow[i]);
			jitter(&s, 64, 100000);
			/* from the shadow: a loss is reported once, then healed */
			g.shadow[i]++;
			sp->counter = g.shadow[i];
			write_pattern(sp, tag_of(i), g.shadow[i]);
			if (!page_unlock(sp, id) && atomic_fetch_add(&g.lock_errors, 1) < 5)
				fprintf(stderr, PROG ": worker %u: lock word of page %zu changed while held\n", id, i);
		}
		ops += 16;
		atomic_fetch_add_explicit(&g.wd.progress, 1, memory_order_relaxed);
	}
	atomic_fetch_add(&g.ops, ops);
	return NULL;
}

/* Per-page results the API documents, given the injected failures:
 * moved, skipped, busy, tier full, slot allocation failed (tier_alloc
 * ENOMEM), backend failed (tier_write EIO; tier_read or uffd_copy EAGAIN
 * past the library's retries: the page stays where it was). */
static const struct {
	int st;
	const char *name;
} statuses[] = {
	{0, "moved"}, {HM_MIGRATE_SKIPPED, "skipped"}, {-EBUSY, "EBUSY"}, {-ENOSPC, "ENOSPC"},
	{-ENOMEM, "ENOMEM"}, {-EIO, "EIO"}, {-EAGAIN, "EAGAIN"},
};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
static _Atomic uint64_t status_seen[NSTATUS];

static bool status_ok(int st)
{
	for (size_t k = 0; k < NSTATUS; k++)
		if (statuses[k].st == st) {
			atomic_fetch_add_explicit(&status_seen[k], 1, memory_order_relaxed);
			return true;
		}
	return false;
}

static void *mover(void *arg)
{
	int id = (int)(uintptr_t)arg;
	uint64_t s = seed_for(100 + id);
	size_t maxn = 0;
	for (int k = 0; k < NREG; k++)
		maxn = g.r[k].npages > maxn ? g.r[k].npages : maxn;
	int *status = malloc(maxn * sizeof(int));
	if (!status)
		abort();
	while (!atomic_load_explicit(&g.stop_others, memory_order_relaxed)) {
		jitter(&s, 2, 300000);
		struct reg *r = &g.r[rnd_below(&s, NREG)];
		size_t first, n;
		if (rnd_below(&s, 32) == 0) {
			first = 0;
			n = r->npages;
		} else {
			size_t f0 = (size_t)rnd_below(&s, r->nfolios);
			size_t nf = 1 + (size_t)rnd_below(&s, r->fpages >= 512 ? 1 : 8);
			if (f0 + nf > r->nfolios)
				nf = r->nfolios - f0;
			first = f0 * r->fpages;
			n = nf * r->fpages;
		}
		unsigned x = (unsigned)rnd_below(&s, 20);
		int target = x < 9 ? g.tier : x < 17 ? 0 : g.dev_tier;
		char *a = r->base + first * PAGE;
		long m = g.dev && target == g.dev_tier ? hm_device_migrate(g.dev, a, n * PAGE, status)
					      : hm_migrate(a, n * PAGE, target, status);
		if (m < 0) {
			if (atomic_fetch_add(&g.bad_return, 1) < 5)
				fprintf(stderr, PROG ": mover %d: migrate %zu pages to tier %d: %ld (%s)\n", id, n, target,
					m, hm_last_error());
			continue;
		}
		for (size_t k = 0; k < n; k++)
			if (!status_ok(status[k]) && atomic_fetch_add(&g.bad_status, 1) < 5)
				fprintf(stderr, PROG ": mover %d: %zuK-folio page %zu to tier %d: status %d (%s)\n", id,
					r->folio / 1024, first + k, target, status[k],
					status[k] < 0 ? strerror(-status[k]) : "?");
		atomic_fetch_add(&g.moves, 1);
		atomic_fetch_add_explicit(&g.wd.progress, 1, memory_order_relaxed);
	}
	free(status);
	return NULL;
}

static bool dev_err_ok(int rc)
{
	return rc == -EIO || rc == -EAGAIN || rc == -ENOMEM;
}

static void *device(void *arg)
{
	uint32_t id = (uint32_t)g.nworkers + 1;
	uint64_t s = seed_for(200);
	char *buf = aligned_alloc(PAGE, MAX_DEV_PAGES * PAGE);
	if (!buf)
		abort();
	while (!atomic_load_explicit(&g.stop_others, memory_order_relaxed)) {
		jitter(&s, 1, 2000000);
		/* a few pages inside one allocation */
		struct reg *r = &g.r[rnd_below(&s, NREG)];
		size_t k = 1 + (size_t)rnd_below(&s, MAX_DEV_PAGES);
		size_t p = r->first + (size_t)rnd_below(&s, r->npages - k + 1);
		unsigned flags = rnd_below(&s, 3) == 0 ? HM_DEV_MIGRATE : 0;
		for (size_t i = p; i < p + k; i++)
			page_lock(page_at(i), id);
		int rc = hm_device_read(g.dev, page_at(p), buf, k * PAGE, flags);
		atomic_fetch_add(&g.dev_reads, 1);
		if (rc) {
			if (dev_err_ok(rc))
				atomic_fetch_add(&g.dev_failed, 1);
			else if (atomic_fetch_add(&g.bad_device, 1) < 5)
				fprintf(stderr, PROG ": device read of %zu pages: %d (%s)\n", k, rc, hm_last_error());
		} else {
			for (size_t j = 0; j < k; j++) {
				uint64_t c;
				unsigned bad = check_page(buf + j * PAGE, p + j, &c);
				if ((bad || c != g.shadow[p + j]) && atomic_fetch_add(&g.bad_device, 1) < 5)
					fprintf(stderr,
						PROG ": device read page %zu (flags %u): %u bad words, counter %llu, shadow "
						     "%llu\n",
						p + j, flags, bad, (unsigned long long)c, (unsigned long long)g.shadow[p + j]);
			}
		}
		if (rnd_below(&s, 3) == 0) {
			/* the device increments each page: one page per write, so a
			 * failed write leaves that page as it was */
			for (size_t j = 0; j < k; j++) {
				char *pg = buf + j * PAGE;
				size_t i = p + j;
				/* all but the lock word, which other threads CAS */
				memcpy(pg + 8, (char *)page_at(i) + 8, PAGE - 8);
				struct spage *sp = (struct spage *)pg;
				atomic_store_explicit(&sp->lock, id, memory_order_relaxed);
				sp->counter = g.shadow[i] + 1;
				write_pattern(pg, tag_of(i), sp->counter);
				unsigned wf = rnd_below(&s, 2) ? HM_DEV_MIGRATE : 0;
				rc = hm_device_write(g.dev, page_at(i), pg, PAGE, wf);
				atomic_fetch_add(&g.dev_writes, 1);
				if (!rc)
					g.shadow[i]++;
				else if (dev_err_ok(rc))
					atomic_fetch_add(&g.dev_failed, 1);
				else if (atomic_fetch_add(&g.bad_device, 1) < 5)
					fprintf(stderr, PROG ": device write of page %zu: %d (%s)\n", i, rc, hm_last_error());
			}
		}
		for (size_t i = p; i < p + k; i++)
			if (!page_unlock(page_at(i), id) && atomic_fetch_add(&g.lock_errors, 1) < 5)
				fprintf(stderr, PROG ": device: lock word of page %zu changed while held\n", i);
		atomic_fetch_add_explicit(&g.wd.progress, 1, memory_order_relaxed);
	}
	free(buf);
	return NULL;
}

static void *checker(void *arg)
{
	uint64_t s = seed_for(300);
	int *where = malloc(g.npages * sizeof(int));
	if (!where)
		abort();
	while (!atomic_load_explicit(&g.stop_others, memory_order_relaxed)) {
		jitter(&s, 1, 5000000);
		for (int k = 0; k < NREG; k++) {
			struct reg *r = &g.r[k];
			int rc = hm_where(r->base, r->size, where);
			atomic_fetch_add(&g.where_calls, 1);
			if (rc) {
				if (atomic_fetch_add(&g.bad_return, 1) < 5)
					fprintf(stderr, PROG ": hm_where: %d (%s)\n", rc, hm_last_error());
				continue;
			}
			for (size_t i = 0; i < r->npages; i++) {
				int w = where[i];
				if (w == 0 || w == g.tier || w == g.dev_tier || w == stress_budget_tier ||
				    (w == stress_budget_tier2 && w >= 0))
					continue;
				/* every page was written at start: NONE would be lost
				 * data, POISON a lost page, UNMAPPED a freed one */
				if (atomic_fetch_add(&g.bad_state, 1) < 5)
					fprintf(stderr, PROG ": hm_where: %zuK-folio page %zu is at %d\n", r->folio / 1024,
						i, w);
			}
		}
		atomic_fetch_add_explicit(&g.wd.progress, 1, memory_order_relaxed);
	}
	free(where);
	return NULL;
}

static void *injector(void *arg)
{
	uint64_t s = seed_for(400);
	while (!atomic_load_explicit(&g.stop_others, memory_order_relaxed)) {
		sleep_ns(10000000 + rnd_below(&s, 100000000));
		size_t k = (size_t)rnd_below(&s, NINJ);
		unsigned skip = (unsigned)rnd_below(&s, 40);
		unsigned count = 1 + (unsigned)rnd_below(&s, 8);
		int rc = hm_inject(inj[k].site, inj[k].err, skip, count);
		if (rc && atomic_fetch_add(&g.bad_return, 1) < 5)
			fprintf(stderr, PROG ": hm_inject(%s): %d (%s)\n", inj[k].site, rc, hm_last_error());
		atomic_fetch_add(&armed[k], 1);
		atomic_fetch_add(&g.arms, 1);
	}
	hm_inject_clear();
	return NULL;
}

/* With everyone stopped: each page consistent and equal to its shadow. */
static uint64_t verify(const char *when)
{
	uint64_t bad = 0;
	for (size_t i = 0; i < g.npages; i++) {
		uint64_t c;
		unsigned words = check_page(page_at(i), i, &c);
		uint32_t l = atomic_load(&page_at(i)->lock);
		if (!words && c == g.shadow[i] && l == 0)
			continue;
		if (bad < 10)
			fprintf(stderr, PROG ": %s: page %zu: counter %llu shadow %llu, %u bad words, lock %u\n", when, i,
				(unsigned long long)c, (unsigned long long)g.shadow[i], words, l);
		bad++;
	}
	return bad;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	double secs = argc > 1 ? atof(argv[1]) : 15;
	g.nworkers = argc > 2 ? atoi(argv[2]) : 4;
	g.nmovers = argc > 3 ? atoi(argv[3]) : 2;
	if (secs <= 0 || g.nworkers < 1 || g.nworkers > 64 || g.nmovers < 0 || g.nmovers > 16) {
		fprintf(stderr, "usage: %s [SECONDS] [WORKERS] [MOVERS]\n", argv[0]);
		return 2;
	}
	struct hm_features f;
	stress_start(PROG, &f);
	int rc;

	const size_t folios[NREG] = {HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M};
	const size_t sizes[NREG] = {2u << 20, 2u << 20, 4u << 20};
	for (int k = 0; k < NREG; k++) {
		struct reg *r = &g.r[k];
		r->folio = folios[k];
		r->size = sizes[k];
		r->npages = r->size / PAGE;
		r->fpages = r->folio / PAGE;
		r->nfolios = r->npages / r->fpages;
		r->first = g.npages;
		g.npages += r->npages;
		r->base = hm_alloc(r->size, r->folio);
		if (!r->base) {
			printf(PROG ": FAILURE (hm_alloc: %s)\n", hm_last_error());
			return 1;
		}
	}
	/* smaller than the 8 MiB managed: whole-range moves fill it.
	 * TORTURE_TIER names another (a compressed tier: lz4:1536K takes
	 * 6 MiB of pages, whose pattern compresses about 6x) */
	const char *tspec = getenv("TORTURE_TIER");
	if (!tspec || !*tspec)
		tspec = "emu:6M";
	g.tier = hm_tier_add(tspec);
	bool signal_mode = stress_signal_mode(); /* no device: its moves go to the tier */
	if (g.tier < 0 || (!signal_mode && hm_device_open("emu:4M", &g.dev))) {
		printf(PROG ": FAILURE (tiers: %s)\n", hm_last_error());
		return 1;
	}
	g.dev_tier = g.dev ? hm_device_tier(g.dev) : g.tier;
	for (int k = 0; k < NREG && g.dev; k++)
		if (hm_device_mirror(g.dev, g.r[k].base, g.r[k].size)) {
			printf(PROG ": FAILURE (hm_device_mirror: %s)\n", hm_last_error());
			return 1;
		}
	g.shadow = calloc(g.npages, sizeof(*g.shadow));
	if (!g.shadow)
		abort();
	for (size_t i = 0; i < g.npages; i++) {
		page_at(i)->tag = tag_of(i);
		write_pattern(page_at(i), tag_of(i), 0);
	}
	printf(PROG ": demote=%s regions=4K:2M,64K:2M,2M:4M pages=%zu tier=%s device=%s workers=%d movers=%d "
		    "seconds=%.1f\n",
	       demote_name(f.demote), g.npages, tspec, g.dev ? "emu:4M" : "none (signal mode)", g.nworkers, g.nmovers, secs);

	watchdog_start(&g.wd, PROG, 30, (unsigned)secs + 60);
	pthread_t wt[64], mt[16], dt, ct, it;
	for (int i = 0; i < g.nworkers; i++)
		pthread_create(&wt[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < g.nmovers; i++)
		pthread_create(&mt[i], NULL, mover, (void *)(uintptr_t)i);
	if (g.dev)
		pthread_create(&dt, NULL, device, NULL);
	pthread_create(&ct, NULL, checker, NULL);
	pthread_create(&it, NULL, injector, NULL);

	sleep_ns((uint64_t)(secs * 1e9));

	atomic_store(&g.stop_workers, true);
	for (int i = 0; i < g.nworkers; i++)
		pthread_join(wt[i], NULL);
	atomic_store(&g.stop_others, true);
	for (int i = 0; i < g.nmovers; i++)
		pthread_join(mt[i], NULL);
	if (g.dev)
		pthread_join(dt, NULL);
	pthread_join(ct, NULL);
	pthread_join(it, NULL);
	hm_inject_clear();

	uint64_t lost = verify("after run");
	for (int k = 0; k < NREG; k++) {
		long m = hm_migrate(g.r[k].base, g.r[k].size, g.tier, NULL);
		if (m < 0 && atomic_fetch_add(&g.bad_return, 1) < 5)
			fprintf(stderr, PROG ": final demotion: %ld (%s)\n", m, hm_last_error());
	}
	lost += verify("after demoting all");
	for (int k = 0; k < NREG && g.dev; k++)
		hm_device_migrate(g.dev, g.r[k].base, g.r[k].size / 2, NULL);

	struct hm_stats st;
	hm_stats_get(&st);
	hm_stats_print(1);
	rc = hm_shutdown();
	if (rc && atomic_fetch_add(&g.bad_return, 1) < 5)
		fprintf(stderr, PROG ": hm_shutdown: %d (%s)\n", rc, hm_last_error());
	lost += verify("after hm_shutdown");
	watchdog_stop(&g.wd);
	atomic_fetch_add(&g.lost_writes, lost);

	printf(PROG ": %llu increments, %llu migrations, %llu device reads, %llu device writes "
		    "(%llu failed as injected), %llu hm_where scans, %llu injections armed:",
	       (unsigned long long)g.ops, (unsigned long long)g.moves, (unsigned long long)g.dev_reads,
	       (unsigned long long)g.dev_writes, (unsigned long long)g.dev_failed,
	       (unsigned long long)g.where_calls, (unsigned long long)g.arms);
	for (size_t k = 0; k < NINJ; k++)
		printf(" %s/%s=%llu", inj[k].site, inj[k].name, (unsigned long long)armed[k]);
	printf("\n" PROG ": per-page migration results:");
	for (size_t k = 0; k < NSTATUS; k++)
		printf(" %s=%llu", statuses[k].name, (unsigned long long)status_seen[k]);
	printf("\n");

	uint64_t vacuous = st.pages_demoted == 0 || st.faults_fetch == 0 || st.injected == 0 || g.ops == 0;
	/* signal mode under a budget: faults served in the workers, and
	 * victims' pages recycled in them (the 4 KiB region) */
	if (signal_mode && (st.sig_faults == 0 || (stress_budget_tier >= 0 && st.sig_recycled == 0)))
		vacuous = 1;
	/* a chain of budget tiers: the reclaimer's writeback ran */
	if (stress_budget_tier2 >= 0 && st.comp_writeback_pages == 0)
		vacuous = 1;
	if (vacuous)
		fprintf(stderr, PROG ": the run proved nothing: demoted %llu, fetched %llu, injected %llu, increments %llu, "
				"faults in the faulting thread %llu (recycling %llu), written back %llu\n",
			(unsigned long long)st.pages_demoted, (unsigned long long)st.faults_fetch,
			(unsigned long long)st.injected, (unsigned long long)g.ops, (unsigned long long)st.sig_faults,
			(unsigned long long)st.sig_recycled, (unsigned long long)st.comp_writeback_pages);
	struct {
		const char *name;
		uint64_t v;
	} c[] = {
		{"lost_writes", g.lost_writes}, {"bad_data", g.bad_data},     {"bad_state", g.bad_state},
		{"bad_status", g.bad_status},   {"bad_return", g.bad_return}, {"bad_device", g.bad_device},
		{"lock_errors", g.lock_errors}, {"stuck_locks", stuck_locks}, {"vacuous", vacuous},
	};
	bool fail = false;
	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++)
		fail |= c[k].v != 0;
	if (!fail) {
		printf(PROG ": SUCCESS\n");
		return 0;
	}
	printf(PROG ": FAILURE (");
	const char *sep = "";
	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++)
		if (c[k].v) {
			printf("%s%s=%llu", sep, c[k].name, (unsigned long long)c[k].v);
			sep = " ";
		}
	printf(")\n");
	return 1;
}
