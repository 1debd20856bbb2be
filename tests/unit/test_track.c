/*
 * test_track.c — hotness tracking of resident folios, end to end.
 *
 * Usage: unit_track POLICY MECHANISM, MECHANISM one of write, sample, faults.
 * Two resident regions of 16 MiB: "hot" is populated first and then kept in
 * use by plain loads and stores (which fault no more once it is resident),
 * "idle" is populated later and left alone.  Then the budget drops so only
 * one fits.  With only faults as access events the hot region looks older
 * (colder) than the idle one and is demoted first (its pages fault back:
 * faults_fetch grows); with write tracking or read sampling the hot region
 * must stay resident, untouched by the reclaimer, and the idle one goes to
 * the device.  MECHANISM "faults" is the control: it checks that the
 * scenario does demote the hot region without tracking (so the other runs
 * would fail without it).  Data of both regions is checked at the end.
 * A mechanism the kernel lacks: exit 77 with the reason.
 */
#include "hm_test.h"
#include "internal.h" /* hm_g.pub_gen: the recency policy's generation */

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define MB (1024 * 1024)
#define REG (16 * MB)
#define PG 4096

static uint64_t *hot;
static _Atomic bool stop;
static _Atomic uint64_t increments;

static void *hot_loop(void *arg)
{
	uint64_t x = 88172645463325252ull, n = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int k = 0; k < 4096; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			hot[x % (REG / 8)] += 1; /* a read-modify-write, no fault */
			n++;
		}
	}
	atomic_store(&increments, n);
	return NULL;
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static size_t count_where(void *p, size_t len, int tier)
{
	size_t np = len / PG, c = 0;
	int *w = calloc(np, sizeof(int));
	if (!w || hm_where(p, len, w)) {
		fprintf(stderr, "hm_where failed: %s\n", hm_last_error());
		exit(1);
	}
	for (size_t i = 0; i < np; i++)
		c += w[i] == tier;
	free(w);
	return c;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s recency|frequency write|sample|faults\n", argv[0]);
		return 2;
	}
	const char *policy = argv[1], *mech = argv[2];
	hm_test_require_uffd();
	struct hm_config cfg = {0};
	bool control = !strcmp(mech, "faults");
	cfg.track = !strcmp(mech, "write") ? HM_TRACK_WRITE : !strcmp(mech, "sample") ? HM_TRACK_SAMPLE
										      : HM_TRACK_FAULTS;
	cfg.track_cpu_pct = 25; /* a test runs on a loaded 2-CPU machine */
	int rc = hm_init(&cfg);
	if (rc == -ENOTSUP) {
		hm_skip("tracking mechanism '%s' not available here: %s", mech, hm_last_error());
	}
	if (rc) {
		fprintf(stderr, "hm_init: %s\n", hm_last_error());
		return 1;
	}
	if (hm_policy_set(policy)) {
		fprintf(stderr, "hm_policy_set: %s\n", hm_last_error());
		return 1;
	}
	int t = hm_tier_add("emu:128M");
	if (t <= 0) {
		fprintf(stderr, "hm_tier_add: %s\n", hm_last_error());
		return 1;
	}
	/* a budget everything fits in: the reclaimer runs (and ages, and
	 * tracks) without demoting anything */
	if (hm_budget_set(256 * MB, 0, 0, t)) {
		fprintf(stderr, "hm_budget_set: %s\n", hm_last_error());
		return 1;
	}
	hot = hm_alloc(REG, HM_FOLIO_64K);
	uint64_t *idle = hm_alloc(REG, HM_FOLIO_64K);
	if (!hot || !idle)
		return 1;
	for (size_t i = 0; i < REG / 8; i++)
		hot[i] = i;
	/* a reclaimer scan or more (one that starts after the writes): the
	 * idle region is younger; for recency, a new generation */
	struct hm_stats sc;
	hm_stats_get(&sc);
	uint64_t scans = sc.reclaim_scans;
	uint32_t gen = atomic_load(&hm_g.pub_gen);
	bool recency = !strcmp(policy, "recency");
	HM_WAIT_UNTIL((hm_stats_get(&sc), sc.reclaim_scans >= scans + 2) &&
			      (!recency || atomic_load(&hm_g.pub_gen) != gen),
		      HM_WAIT_CAP_MS);
	if (recency && atomic_load(&hm_g.pub_gen) == gen) {
		printf("FAIL: no new generation in %d s\n", HM_WAIT_CAP_MS / 1000);
		return 1;
	}
	for (size_t i = 0; i < REG / 8; i++)
		idle[i] = i ^ 0x1d1e;

	pthread_t th;
	pthread_create(&th, NULL, hot_loop, NULL);
	/* several scans: writes seen, samples hint-faulted (at least 2.5 s,
	 * and five scans however long they take) */
	nap_ms(2500);
	hm_stats_get(&sc);
	scans = sc.reclaim_scans;
	HM_WAIT_UNTIL((hm_stats_get(&sc), sc.reclaim_scans >= scans + 5 &&
					   (strcmp(mech, "write") || sc.track_written) &&
					   (strcmp(mech, "sample") || sc.track_hint_faults)),
		      HM_WAIT_CAP_MS);

	struct hm_stats s0, s1;
	hm_stats_get(&s0);
	uint64_t budget = 24 * MB; /* one region fits, not two */
	if (hm_budget_set(budget, 0, 0, t)) {
		fprintf(stderr, "hm_budget_set: %s\n", hm_last_error());
		return 1;
	}
	HM_WAIT_UNTIL((hm_stats_get(&s1), s1.resident_bytes <= budget / 100 * 95), HM_WAIT_CAP_MS);
	/* let reclaim settle while the hot region stays in use: at least
	 * 500 ms and two more passes (the one in flight has ended), and until
	 * what the checks below look for is done: the idle region demoted,
	 * or without tracking (control) the hot one fetched back */
	nap_ms(500);
	hm_stats_get(&s1);
	scans = s1.reclaim_scans;
	HM_WAIT_UNTIL((hm_stats_get(&s1), s1.reclaim_scans >= scans + 2 &&
					   (control ? s1.faults_fetch > s0.faults_fetch
						    : count_where(idle, REG, t) >= (8 * MB) / PG)),
		      HM_WAIT_CAP_MS);
	hm_stats_get(&s1);
	size_t hot_ram = count_where(hot, REG, 0), idle_dev = count_where(idle, REG, t);
	uint64_t fetched = s1.faults_fetch - s0.faults_fetch;
	atomic_store(&stop, true);
	pthread_join(th, NULL);

	/* data: every increment landed, the idle pattern is intact */
	uint64_t sum = 0, want = 0, bad = 0;
	for (size_t i = 0; i < REG / 8; i++) {
		sum += hot[i];
		want += i;
		bad += idle[i] != (i ^ 0x1d1e);
	}
	printf("policy %s, tracking %s: hot region %zu/%d pages in RAM, idle region %zu/%d pages on the device, "
	       "%llu folios fetched back during reclaim; writes seen %llu (scans %llu), samples %llu, "
	       "hint faults %llu, tracker cpu %llu us\n",
	       policy, mech, hot_ram, REG / PG, idle_dev, REG / PG, (unsigned long long)fetched,
	       (unsigned long long)s1.track_written, (unsigned long long)s1.track_write_scans,
	       (unsigned long long)s1.track_samples, (unsigned long long)s1.track_hint_faults,
	       (unsigned long long)s1.track_cpu_us);
	int fail = 0;
	if (sum - want != atomic_load(&increments)) {
		printf("FAIL: hot region lost increments: %llu counted, %llu done\n", (unsigned long long)(sum - want),
		       (unsigned long long)atomic_load(&increments));
		fail = 1;
	}
	if (bad) {
		printf("FAIL: %llu words of the idle region changed\n", (unsigned long long)bad);
		fail = 1;
	}
	if (control) {
		/* without tracking the hot region looks older: it is demoted (and
		 * faults back) — the scenario would fail the tracked runs */
		if (fetched == 0) {
			printf("FAIL (control): without tracking the hot region was not demoted: the scenario does "
			       "not discriminate\n");
			fail = 1;
		}
	} else {
		if (fetched > 0 || hot_ram != REG / PG) {
			printf("FAIL: the hot region was demoted (%llu folios fetched back, %zu pages in RAM)\n",
			       (unsigned long long)fetched, hot_ram);
			fail = 1;
		}
		if (idle_dev < (8 * MB) / PG) {
			printf("FAIL: only %zu pages of the idle region were demoted\n", idle_dev);
			fail = 1;
		}
		if (!strcmp(mech, "write") && !s1.track_written)
			fail = 1, printf("FAIL: no write was seen\n");
		if (!strcmp(mech, "sample") && !s1.track_hint_faults)
			fail = 1, printf("FAIL: no hint fault was seen\n");
	}
	hm_budget_set(HM_BUDGET_OFF, 0, 0, 0);
	hm_free(hot, 0);
	hm_free(idle, 0);
	if (hm_shutdown())
		fail = 1;
	printf("%s\n", fail ? "FAILURE" : "SUCCESS");
	return fail;
}
