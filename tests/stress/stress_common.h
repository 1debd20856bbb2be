/*
 * stress_common.h — helpers shared by the stress programs (uffd_stress.c,
 * torture.c): a per-thread PRNG, clocks, the skip logic for the demote mode
 * asked for in HETMEM_DEMOTE, a hang watchdog that dumps every thread's
 * kernel stack and wait channel, and a SIGBUS trap.
 *
 * Every page of the managed test range starts with a struct spage: a lock
 * word INSIDE managed memory (so the lock itself is migrated back and forth
 * with the data, and an atomic read-modify-write races demotion), a tag that
 * names the page, and the counter.  The shadow copies live in ordinary
 * malloc'd memory.
 */
#ifndef HM_STRESS_COMMON_H
#define HM_STRESS_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hetmem.h"
#include "../hm_test.h"

#define PAGE 4096u
#define TAG_MAGIC 0x5d1e55c0ffee0000ull

/* The head of every 4 KiB page of the managed test range. */
struct spage {
	_Atomic uint32_t lock; /* 0 free, else the holder's id (1..) */
	uint32_t pad;
	uint64_t tag;     /* TAG_MAGIC ^ page index: never changes */
	uint64_t counter; /* incremented under lock */
	uint64_t spare;
};

static inline uint64_t tag_of(size_t i) { return TAG_MAGIC ^ (uint64_t)i; }

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: one state per thread */
static inline uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static inline uint64_t rnd_below(uint64_t *s, uint64_t n) { return n ? rnd(s) % n : 0; }

static inline uint64_t seed_for(int id)
{
	uint64_t s = now_ns() ^ ((uint64_t)getpid() << 32) ^ ((uint64_t)(id + 1) * 0x9e3779b97f4a7c15ull);
	return s ? s : 1;
}

static inline void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Lock words found stuck: held far longer than any holder keeps them, so
 * the holder's unlock store was lost (a lost write).  Must stay zero. */
static _Atomic uint64_t stuck_locks;
#ifndef STUCK_NS
#define STUCK_NS (10000000000ull)
#endif

static inline void dump_stacks(void);

/* Spin-then-yield lock on a page's lock word (in managed memory).  A lock
 * held for more than STUCK_NS is counted in stuck_locks and taken over, so a
 * lost unlock shows up as a failure instead of hanging the test. */
static inline void page_lock(struct spage *p, uint32_t id)
{
	unsigned spins = 0;
	uint64_t t0 = 0;
	for (;;) {
		uint32_t z = 0;
		if (atomic_compare_exchange_weak_explicit(&p->lock, &z, id, memory_order_acquire,
							  memory_order_relaxed))
			return;
		if (++spins <= 16)
			continue;
		sched_yield();
		if ((spins & 1023) == 0) {
			uint64_t t = now_ns();
			if (!t0) {
				t0 = t;
			} else if (t - t0 > STUCK_NS && z != 0 &&
				   atomic_compare_exchange_strong_explicit(&p->lock, &z, id, memory_order_acquire,
									   memory_order_relaxed)) {
				if (atomic_fetch_add(&stuck_locks, 1) < 5)
					fprintf(stderr, "lock word at %p held by %u for over %llu s: its unlock was "
							"lost, or its holder is stuck; taken over\n",
						(void *)p, z, STUCK_NS / 1000000000ull);
				/* the first time: where every thread is now (a holder
				 * stuck in a fault shows there; a lost store does not) */
				static _Atomic bool dumped;
				if (!atomic_exchange(&dumped, true)) {
					dump_stacks();
					hm_stats_print(2);
				}
				return;
			}
		}
	}
}

/* Unlock; false if the lock word no longer names us (a lost write of the
 * lock word, or mutual exclusion broken). */
static inline bool page_unlock(struct spage *p, uint32_t id)
{
	uint32_t want = id;
	if (atomic_compare_exchange_strong_explicit(&p->lock, &want, 0, memory_order_release,
						    memory_order_relaxed))
		return true;
	atomic_store_explicit(&p->lock, 0, memory_order_release);
	return false;
}

/* Parse "4K", "64K", "2M" (or a byte count). 0 if bad. */
static inline size_t parse_folio(const char *s)
{
	if (!strcasecmp(s, "4K") || !strcmp(s, "4096"))
		return HM_FOLIO_4K;
	if (!strcasecmp(s, "64K") || !strcmp(s, "65536"))
		return HM_FOLIO_64K;
	if (!strcasecmp(s, "2M") || !strcmp(s, "2097152"))
		return HM_FOLIO_2M;
	return 0;
}

/* Skip (exit 77, with the reason) when the kernel cannot do what the run
 * asks for: no userfaultfd, or HETMEM_DEMOTE names a mode it lacks. */
static inline void stress_require(const char *prog)
{
	struct hm_features f;
	int rc = hm_probe_features(&f);
	if (rc || !f.uffd) {
		hm_skip("%s: userfaultfd not available: %s", prog, hm_last_error());
	}
	const char *m = getenv("HETMEM_DEMOTE");
	if (m && !strcasecmp(m, "move") && !f.move) {
		hm_skip("%s: HETMEM_DEMOTE=move needs UFFDIO_MOVE (Linux >= 6.8); this kernel lacks it", prog);
	}
	if (m && !strcasecmp(m, "wp") && !f.wp) {
		hm_skip("%s: HETMEM_DEMOTE=wp needs userfaultfd write-protect; this kernel lacks it", prog);
	}
}

static inline const char *demote_name(enum hm_demote_mode m)
{
	return m == HM_DEMOTE_MOVE ? "move" : m == HM_DEMOTE_WP ? "wp" : "auto";
}

/* ---------------------------------------------------------------------- */
/* Diagnostics: thread stacks, hang watchdog, SIGBUS                        */
/* ---------------------------------------------------------------------- */

static inline void cat_file(const char *path, const char *label)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	fprintf(stderr, "    %s: %s%s", label, buf, buf[n - 1] == '\n' ? "" : "\n");
}

/* Print each thread's name, state, wait channel and kernel stack (gdb may
 * hang on a process whose threads are parked in userfaultfd). */
static inline void dump_stacks(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return;
	struct dirent *e;
	char path[320];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		fprintf(stderr, "  thread %s\n", e->d_name);
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		cat_file(path, "comm");
		snprintf(path, sizeof(path), "/proc/self/task/%s/wchan", e->d_name);
		cat_file(path, "wchan");
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		cat_file(path, "stat");
		snprintf(path, sizeof(path), "/proc/self/task/%s/stack", e->d_name);
		cat_file(path, "stack");
		snprintf(path, sizeof(path), "/proc/self/task/%s/syscall", e->d_name);
		cat_file(path, "syscall");
	}
	closedir(d);
}

struct watchdog {
	const char *prog;
	_Atomic uint64_t progress;  /* bumped by every thread doing work */
	_Atomic bool done;
	unsigned stall_s;           /* no progress for this long = hang */
	unsigned limit_s;           /* the whole run may take this long */
	pthread_t thread;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	uint64_t start = now_ns(), last_change = start, last = atomic_load(&w->progress);
	while (!atomic_load(&w->done)) {
		sleep_ns(200 * 1000 * 1000ull);
		uint64_t p = atomic_load(&w->progress), t = now_ns();
		if (p != last) {
			last = p;
			last_change = t;
		}
		bool stalled = t - last_change > (uint64_t)w->stall_s * 1000000000ull;
		bool over = t - start > (uint64_t)w->limit_s * 1000000000ull;
		if (stalled || over) {
			fprintf(stderr, "%s: HANG: %s; thread stacks follow\n", w->prog,
				stalled ? "no progress" : "run exceeded its time limit");
			dump_stacks();
			hm_stats_print(2);
			printf("%s: FAILURE (hang: %s for %u s)\n", w->prog, stalled ? "no progress" : "run too long",
			       stalled ? w->stall_s : w->limit_s);
			fflush(stdout);
			_exit(1);
		}
	}
	return NULL;
}

static inline void watchdog_start(struct watchdog *w, const char *prog, unsigned stall_s, unsigned limit_s)
{
	w->prog = prog;
	atomic_store(&w->progress, 0);
	atomic_store(&w->done, false);
	w->stall_s = stall_s;
	w->limit_s = limit_s;
	pthread_create(&w->thread, NULL, watchdog_main, w);
}

static inline void watchdog_stop(struct watchdog *w)
{
	atomic_store(&w->done, true);
	pthread_join(w->thread, NULL);
}

static const char *sigbus_prog = "stress";

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "%s: SIGBUS at %p (code %d): a page was lost\n%s: FAILURE (sigbus=1)\n",
			 sigbus_prog, si->si_addr, si->si_code, sigbus_prog);
	if (n > 0 && write(1, buf, (size_t)n) < 0)
		_exit(1);
	_exit(1);
}

static inline void sigbus_trap(const char *prog)
{
	sigbus_prog = prog;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
}

/* The tier STRESS_BUDGET's reclaimer demotes to (-1: none), and the one
 * after it, STRESS_BUDGET_NEXT (-1: none) */
static int stress_budget_tier = -1, stress_budget_tier2 = -1;

/* Signal mode (HETMEM_FAULTS=signal): no devices (hm_device_open refuses) */
static inline bool stress_signal_mode(void)
{
	const char *fm = getenv("HETMEM_FAULTS");
	return fm && !strcmp(fm, "signal");
}

/* The common start: the mode's kernel features, the SIGBUS trap, hm_init
 * (a missing feature exits 77, skipped), then the features in use in *f. */
static inline void stress_start(const char *prog, struct hm_features *f)
{
	stress_require(prog);
	sigbus_trap(prog);
	int rc = hm_init(NULL);
	if (rc == -ENOTSUP || rc == -EPERM || rc == -ENOSYS) {
		hm_skip("%s: hm_init: %s", prog, hm_last_error());
	}
	if (rc) {
		printf("%s: FAILURE (hm_init: %s)\n", prog, hm_last_error());
		exit(1);
	}
	hm_probe_features(f); /* after hm_init, f->demote is the mode in use */
	/* STRESS_TRACK=1: a budget everything fits in (on a tier of its own),
	 * so the reclaimer runs and the tracker (HETMEM_TRACK*) takes samples
	 * and scans for writes while the test runs */
	const char *tr = getenv("STRESS_TRACK");
	if (tr && *tr == '1') {
		int t = hm_tier_add("emu:8M");
		if (t < 0 || hm_budget_set(256 << 20, 0, 0, t)) {
			printf("%s: FAILURE (tracking budget: %s)\n", prog, hm_last_error());
			exit(1);
		}
	}
	/* STRESS_BUDGET=SIZE (bytes, K or M): a budget smaller than the test
	 * range, so the reclaimer demotes all the time (and, in signal mode,
	 * faulting threads recycle its victims' pages) */
	/* STRESS_BUDGET_TIER=SPEC: the budget's tier (default emu:32M);
	 * STRESS_BUDGET_NEXT=SPEC: a tier after it (a file behind a compressed
	 * tier: the reclaimer's writeback moves pages from the first to it) */
	const char *bs = getenv("STRESS_BUDGET");
	if (bs && *bs) {
		char *end;
		unsigned long long b = strtoull(bs, &end, 10);
		b <<= *end == 'M' ? 20 : *end == 'K' ? 10 : 0;
		const char *ts = getenv("STRESS_BUDGET_TIER"), *next = getenv("STRESS_BUDGET_NEXT");
		if (!ts || !*ts)
			ts = "emu:32M";
		bool has_next = next && *next;
		int t = hm_tier_add(ts);
		int t2 = has_next ? hm_tier_add(next) : -1;
		if (t < 0 || (has_next && t2 < 0) || hm_budget_set(b, 0, 0, t)) {
			printf("%s: FAILURE (budget %s on %s: %s)\n", prog, bs, ts, hm_last_error());
			exit(1);
		}
		stress_budget_tier = t;
		stress_budget_tier2 = t2;
	}
}

#endif
