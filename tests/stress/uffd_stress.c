/*
 * uffd_stress.c — hetmem's counterpart of the kernel's selftests/mm/uffd-stress.
 *
 *   uffd_stress FOLIO [SECONDS] [WORKERS] [MOVERS]
 *     FOLIO    4K, 64K or 2M: the folio size of the managed range
 *     SECONDS  how long the threads run (default 10)
 *     WORKERS  incrementing threads (default 4); MOVERS migrating threads
 *              (default 2)
 *   HETMEM_DEMOTE=move|wp picks the demotion mechanism under test; a mode the
 *   kernel lacks is reported as skipped (exit 77).
 *
 * A managed range (hm_alloc) of N pages; each page starts with a struct
 * spage (stress_common.h): a lock word, a tag naming the page and a counter.
 * The lock word lives INSIDE managed memory, so taking the lock is an atomic
 * read-modify-write on a page that may be in the middle of a demotion.
 *
 *  - WORKERS pick a random page, lock it, check its tag, increment its
 *    counter and a shadow copy in ordinary malloc'd memory, unlock.
 *  - MOVERS continuously migrate random folio ranges to an emu tier, back to
 *    RAM, into the device's memory, and now and then the whole range, and
 *    check every per-page status is one the API documents for this case.
 *  - A DEVICE thread (an emulated device mirroring the range) reads random
 *    ranges with hm_device_read, sometimes with HM_DEV_MIGRATE.  Half of the
 *    reads are done holding the pages' locks: the device must then see
 *    exactly the shadow values; a quarter of those also increment the
 *    counters through hm_device_write.  Unlocked reads check tags and that
 *    lock words hold a plausible owner.
 *
 * At the end everyone stops and every page's counter must equal its shadow
 * copy exactly (a mismatch is a lost write); the check is repeated after the
 * whole range was demoted again and hm_shutdown() brought it home.  The run
 * fails if no page was demoted or fetched back (it would prove nothing), or
 * if a lock word stayed held for 10 s (its unlock store was lost).
 * The last line is "uffd_stress: SUCCESS" or "uffd_stress: FAILURE (...)";
 * exit 0 only on success.  A watchdog reports a hang with every thread's
 * kernel stack.
 */
#include "stress_common.h"

#define PROG "uffd_stress"
#define MAX_DEV_PAGES 16

static struct {
	char *base;
	size_t size, npages, fpages, nfolios;
	int tier;             /* the emu tier movers use */
	struct hm_device *dev;
	int dev_tier;
	int nworkers, nmovers;
	uint64_t *shadow;             /* under the page lock */
	_Atomic uint64_t *issued;     /* increments started, lock-free */
	_Atomic bool stop_workers, stop_others;
	_Atomic uint64_t ops, moves, whole_moves, pages_moved, dev_reads, dev_exact, dev_writes;
	/* must stay zero */
	_Atomic uint64_t bad_tag, lock_err, bad_status, bad_ret, bad_dev;
	struct watchdog wd;
} g;

static inline struct spage *page_at(size_t i)
{
	return (struct spage *)(g.base + i * PAGE);
}

static void *worker(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg; /* 1..nworkers */
	uint64_t s = seed_for((int)id);
	uint64_t ops = 0;
	while (!atomic_load_explicit(&g.stop_workers, memory_order_relaxed)) {
		for (int k = 0; k < 64; k++) {
			size_t p = (size_t)rnd_below(&s, g.npages);
			struct spage *sp = page_at(p);
			page_lock(sp, id);
			if (sp->tag != tag_of(p)) {
				if (atomic_fetch_add(&g.bad_tag, 1) < 5)
					fprintf(stderr, PROG ": worker %u: page %zu has tag %#llx, expected %#llx\n", id,
						p, (unsigned long long)sp->tag, (unsigned long long)tag_of(p));
			}
			atomic_fetch_add_explicit(&g.issued[p], 1, memory_order_relaxed);
			sp->counter++;
			g.shadow[p]++;
			if (!page_unlock(sp, id) && atomic_fetch_add(&g.lock_err, 1) < 5)
				fprintf(stderr, PROG ": worker %u: lock word of page %zu changed while held\n", id, p);
		}
		ops += 64;
		atomic_fetch_add_explicit(&g.wd.progress, 1, memory_order_relaxed);
	}
	atomic_fetch_add(&g.ops, ops);
	return NULL;
}

/* A per-page migration status is fine if it is one a run without injected
 * failures can produce: moved, skipped, folio busy, tier full, or -EAGAIN
 * (a transient userfaultfd error, outlasting the library's retries while
 * another thread's madvise event is pending: the page stays where it was;
 * counted and printed). */
static _Atomic uint64_t eagain_status;
static bool status_ok(int st)
{
	if (st == -EAGAIN)
		atomic_fetch_add_explicit(&eagain_status, 1, memory_order_relaxed);
	return st == 0 || st == HM_MIGRATE_SKIPPED || st == -EBUSY || st == -ENOSPC || st == -EAGAIN;
}

static void *mover(void *arg)
{
	int id = (int)(uintptr_t)arg;
	uint64_t s = seed_for(100 + id);
	int *status = malloc(g.npages * sizeof(int));
	if (!status)
		abort();
	size_t maxf = g.fpages >= 512 ? 2 : 8;
	while (!atomic_load_explicit(&g.stop_others, memory_order_relaxed)) {
		size_t first, n;
		bool whole = rnd_below(&s, 64) == 0;
		if (whole) {
			first = 0;
			n = g.npages;
		} else {
			size_t f0 = (size_t)rnd_below(&s, g.nfolios);
			size_t nf = 1 + (size_t)rnd_below(&s, maxf);
			if (f0 + nf > g.nfolios)
				nf = g.nfolios - f0;
			first = f0 * g.fpages;
			n = nf * g.fpages;
		}
		unsigned r = (unsigned)rnd_below(&s, 20);
		int target = r < 9 ? g.tier : r < 18 ? 0 : g.dev_tier;
		long m = g.dev && target == g.dev_tier ? hm_device_migrate(g.dev, g.base + first * PAGE, n * PAGE, status)
					      : hm_migrate(g.base + first * PAGE, n * PAGE, target, status);
		if (m < 0) {
			if (atomic_fetch_add(&g.bad_ret, 1) < 5)
				fprintf(stderr, PROG ": mover %d: migrate [%zu, +%zu) to tier %d: %ld (%s)\n", id, first,
					n, target, m, hm_last_error());
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			if (status_ok(status[k]))
				continue;
			if (atomic_fetch_add(&g.bad_status, 1) < 5)
				fprintf(stderr, PROG ": mover %d: page %zu to tier %d: unexpected status %d (%s)\n", id,
					first + k, target, status[k], status[k] < 0 ? strerror(-status[k]) : "?");
		}
		atomic_fetch_add(&g.moves, 1);
		atomic_fetch_add(&g.pages_moved, (uint64_t)m);
		if (whole)
			atomic_fetch_add(&g.whole_moves, 1);
		atomic_fetch_add_explicit(&g.wd.progress, 1, memory_order_relaxed);
	}
	free(status);
	return NULL;
}

static void *device(void *arg)
{
	uint32_t id = (uint32_t)g.nworkers + 1;
	uint64_t s = seed_for(200);
	char *buf = malloc(MAX_DEV_PAGES * PAGE);
	if (!buf)
		abort();
	while (!atomic_load_explicit(&g.stop_others, memory_order_relaxed)) {
		sleep_ns(500000 + rnd_below(&s, 2500000));
		size_t k = 1 + (size_t)rnd_below(&s, MAX_DEV_PAGES);
		if (k > g.npages)
			k = g.npages;
		size_t p = (size_t)rnd_below(&s, g.npages - k + 1);
		unsigned flags = rnd_below(&s, 3) == 0 ? HM_DEV_MIGRATE : 0;
		bool locked = rnd_below(&s, 2);
		if (locked)
			for (size_t i = p; i < p + k; i++) /* ascending: workers hold one lock at a time */
				page_lock(page_at(i), id);
		int rc = hm_device_read(g.dev, page_at(p), buf, k * PAGE, flags);
		atomic_fetch_add(&g.dev_reads, 1);
		if (rc) {
			if (atomic_fetch_add(&g.bad_dev, 1) < 5)
				fprintf(stderr, PROG ": device read [%zu, +%zu) flags %u: %d (%s)\n", p, k, flags, rc,
					hm_last_error());
		} else {
			for (size_t j = 0; j < k; j++) {
				const struct spage *d = (const struct spage *)(buf + j * PAGE);
				size_t i = p + j;
				bool bad = d->tag != tag_of(i);
				if (locked)
					bad |= d->counter != g.shadow[i] || atomic_load_explicit(&d->lock, memory_order_relaxed) != id;
				else
					bad |= atomic_load_explicit(&d->lock, memory_order_relaxed) > id;
				if (bad && atomic_fetch_add(&g.bad_dev, 1) < 5)
					fprintf(stderr,
						PROG ": device read page %zu (%s, flags %u): tag %#llx counter %llu lock %u; "
						     "expected tag %#llx%s%llu\n",
						i, locked ? "locked" : "unlocked", flags, (unsigned long long)d->tag,
						(unsigned long long)d->counter, (unsigned)d->lock,
						(unsigned long long)tag_of(i), locked ? " counter " : " issued >= ",
						(unsigned long long)(locked ? g.shadow[i] : atomic_load(&g.issued[i])));
			}
			if (locked)
				atomic_fetch_add(&g.dev_exact, 1);
			if (locked && rnd_below(&s, 4) == 0) {
				/* the device increments the counters (a DMA read-modify-write) */
				for (size_t j = 0; j < k; j++) {
					((struct spage *)(buf + j * PAGE))->counter++;
					atomic_fetch_add(&g.issued[p + j], 1);
				}
				unsigned wflags = rnd_below(&s, 2) ? HM_DEV_MIGRATE : 0;
				rc = hm_device_write(g.dev, page_at(p), buf, k * PAGE, wflags);
				atomic_fetch_add(&g.dev_writes, 1);
				if (rc && atomic_fetch_add(&g.bad_dev, 1) < 5)
					fprintf(stderr, PROG ": device write [%zu, +%zu): %d (%s)\n", p, k, rc,
						hm_last_error());
				for (size_t j = 0; j < k; j++) {
					if (!rc) {
						g.shadow[p + j]++;
						continue;
					}
					/* failed (already counted): keep the shadow true to
					 * what landed so the final check counts lost writes */
					if (page_at(p + j)->counter == g.shadow[p + j] + 1)
						g.shadow[p + j]++;
					atomic_store(&g.issued[p + j], g.shadow[p + j]);
				}
			}
		}
		if (locked)
			for (size_t i = p; i < p + k; i++)
				if (!page_unlock(page_at(i), id) && atomic_fetch_add(&g.lock_err, 1) < 5)
					fprintf(stderr, PROG ": device: lock word of page %zu changed while held\n", i);
		atomic_fetch_add_explicit(&g.wd.progress, 1, memory_order_relaxed);
	}
	free(buf);
	return NULL;
}

/* Compare every page with its shadow; returns the number of mismatches. */
static size_t verify(const char *when)
{
	size_t bad = 0;
	for (size_t i = 0; i < g.npages; i++) {
		const struct spage *sp = page_at(i);
		uint64_t c = sp->counter, t = sp->tag;
		uint32_t l = atomic_load(&((struct spage *)sp)->lock);
		uint64_t is = atomic_load(&g.issued[i]);
		if (c == g.shadow[i] && t == tag_of(i) && l == 0 && is == g.shadow[i])
			continue;
		if (bad < 10)
			fprintf(stderr, PROG ": %s: page %zu: counter %llu shadow %llu issued %llu tag %#llx lock %u\n", when,
				i, (unsigned long long)c, (unsigned long long)g.shadow[i], (unsigned long long)is,
				(unsigned long long)t, l);
		bad++;
	}
	return bad;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || !parse_folio(argv[1])) {
		fprintf(stderr, "usage: %s 4K|64K|2M [SECONDS] [WORKERS] [MOVERS]\n", argv[0]);
		return 2;
	}
	size_t folio = parse_folio(argv[1]);
	double secs = argc > 2 ? atof(argv[2]) : 10;
	g.nworkers = argc > 3 ? atoi(argv[3]) : 4;
	g.nmovers = argc > 4 ? atoi(argv[4]) : 2;
	if (secs <= 0 || g.nworkers < 1 || g.nworkers > 64 || g.nmovers < 0 || g.nmovers > 16) {
		fprintf(stderr, "%s: bad arguments\n", argv[0]);
		return 2;
	}
	struct hm_features f;
	stress_start(PROG, &f);
	bool signal_mode = stress_signal_mode();
	int rc;

	g.npages = folio == HM_FOLIO_2M ? 4096 : 1024; /* 16 MiB (8 folios) or 4 MiB */
	g.size = g.npages * PAGE;
	g.fpages = folio / PAGE;
	g.nfolios = g.npages / g.fpages;
	char spec[64];
	snprintf(spec, sizeof(spec), "emu:%zuK", 2 * g.size / 1024);
	g.tier = hm_tier_add(spec);
	if (g.tier < 0) {
		printf(PROG ": FAILURE (hm_tier_add %s: %s)\n", spec, hm_last_error());
		return 1;
	}
	g.base = hm_alloc(g.size, folio);
	if (!g.base) {
		printf(PROG ": FAILURE (hm_alloc: %s)\n", hm_last_error());
		return 1;
	}
	snprintf(spec, sizeof(spec), "emu:%zuK", g.size / 1024);
	if (signal_mode) {
		/* devices need the handler thread (hm_device_open refuses):
		 * the device's share of the moves goes to the emu tier */
		g.dev_tier = g.tier;
	} else if ((rc = hm_device_open(spec, &g.dev)) || (rc = hm_device_mirror(g.dev, g.base, g.size))) {
		printf(PROG ": FAILURE (device: %s)\n", hm_last_error());
		return 1;
	} else {
		g.dev_tier = hm_device_tier(g.dev);
	}
	g.shadow = calloc(g.npages, sizeof(*g.shadow));
	g.issued = calloc(g.npages, sizeof(*g.issued));
	if (!g.shadow || !g.issued)
		abort();
	for (size_t i = 0; i < g.npages; i++)
		page_at(i)->tag = tag_of(i);

	printf(PROG ": demote=%s folio=%zuK pages=%zu folios=%zu workers=%d movers=%d seconds=%.1f "
		    "(lock word inside managed memory)\n",
	       demote_name(f.demote), folio / 1024, g.npages, g.nfolios, g.nworkers, g.nmovers, secs);

	watchdog_start(&g.wd, PROG, 30, (unsigned)secs + 60);
	pthread_t wt[64], mt[16], dt;
	for (int i = 0; i < g.nworkers; i++)
		pthread_create(&wt[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < g.nmovers; i++)
		pthread_create(&mt[i], NULL, mover, (void *)(uintptr_t)i);
	if (g.dev)
		pthread_create(&dt, NULL, device, NULL);

	sleep_ns((uint64_t)(secs * 1e9));

	atomic_store(&g.stop_workers, true);
	for (int i = 0; i < g.nworkers; i++)
		pthread_join(wt[i], NULL);
	atomic_store(&g.stop_others, true);
	for (int i = 0; i < g.nmovers; i++)
		pthread_join(mt[i], NULL);
	if (g.dev)
		pthread_join(dt, NULL);

	/* check 1: with pages scattered over RAM, the emu tier and the device */
	size_t mism = verify("after run");
	/* check 2: the whole range demoted, then read back through faults */
	int *status = malloc(g.npages * sizeof(int));
	long m = hm_migrate(g.base, g.size, g.tier, status);
	if (m < 0) {
		fprintf(stderr, PROG ": final demotion: %ld (%s)\n", m, hm_last_error());
		atomic_fetch_add(&g.bad_ret, 1);
	}
	for (size_t i = 0; m >= 0 && i < g.npages; i++)
		if (status[i] != 0 && status[i] != HM_MIGRATE_SKIPPED) {
			if (atomic_fetch_add(&g.bad_status, 1) < 5)
				fprintf(stderr, PROG ": final demotion: page %zu status %d\n", i, status[i]);
		}
	free(status);
	mism += verify("after demoting all");
	/* check 3: demoted again, then hm_shutdown() must bring it all home */
	hm_migrate(g.base, g.size / 2, g.tier, NULL);
	if (g.dev)
		hm_device_migrate(g.dev, g.base + g.size / 2, g.size / 2, NULL);

	struct hm_stats st;
	hm_stats_get(&st);
	hm_stats_print(1);
	rc = hm_shutdown();
	if (rc) {
		fprintf(stderr, PROG ": hm_shutdown: %d (%s)\n", rc, hm_last_error());
		atomic_fetch_add(&g.bad_ret, 1);
	}
	mism += verify("after hm_shutdown");
	watchdog_stop(&g.wd);

	printf(PROG ": %llu increments, %llu migrations (%llu whole-range), %llu pages moved, "
		    "%llu device reads (%llu exact), %llu device writes, %llu pages left in place by -EAGAIN\n",
	       (unsigned long long)g.ops, (unsigned long long)g.moves, (unsigned long long)g.whole_moves,
	       (unsigned long long)g.pages_moved, (unsigned long long)g.dev_reads, (unsigned long long)g.dev_exact,
	       (unsigned long long)g.dev_writes, (unsigned long long)eagain_status);
	bool vacuous = st.pages_demoted == 0 || st.faults_fetch == 0 || g.ops == 0;
	/* signal mode under a budget must have served faults in the faulting
	 * threads, and (4 KiB folios) recycled victims' pages in them */
	if (signal_mode && (st.sig_faults == 0 || (getenv("STRESS_BUDGET") && folio == HM_FOLIO_4K && !st.sig_recycled)))
		vacuous = true;
	if (vacuous)
		fprintf(stderr, PROG ": the run proved nothing: pages_demoted %llu, faults_fetch %llu, increments %llu, "
				"faults in the faulting thread %llu (recycling %llu)\n",
			(unsigned long long)st.pages_demoted, (unsigned long long)st.faults_fetch,
			(unsigned long long)g.ops, (unsigned long long)st.sig_faults,
			(unsigned long long)st.sig_recycled);
	uint64_t other = g.bad_tag + g.lock_err + g.bad_status + g.bad_ret + g.bad_dev + stuck_locks;
	if (mism == 0 && other == 0 && !vacuous) {
		printf(PROG ": SUCCESS\n");
		return 0;
	}
	printf(PROG ": FAILURE (%zu mismatches", mism);
	if (g.bad_tag)
		printf(", bad_tag=%llu", (unsigned long long)g.bad_tag);
	if (g.lock_err)
		printf(", lock_err=%llu", (unsigned long long)g.lock_err);
	if (stuck_locks)
		printf(", stuck_locks=%llu", (unsigned long long)stuck_locks);
	if (g.bad_status)
		printf(", bad_status=%llu", (unsigned long long)g.bad_status);
	if (g.bad_ret)
		printf(", bad_ret=%llu", (unsigned long long)g.bad_ret);
	if (g.bad_dev)
		printf(", bad_device=%llu", (unsigned long long)g.bad_dev);
	if (vacuous)
		printf(", vacuous: nothing demoted or fetched");
	printf(")\n");
	return 1;
}
