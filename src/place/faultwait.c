/*
 * faultwait.c — the fault-wait window: once a second, the share of the last
 * second the program spent waiting on faults (fault_wait_pct), and whether
 * that second was thrashing (thrash_now, thrash_ms), for the stats.  Closed
 * from the reclaimer's loop and from hm_stats_get (hm_wait_tick).
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/*
 * Fault wait over the window that ends now (@ms long).  The handler's time
 * serving faults is a lower bound of the program's wait (which adds the
 * wake-ups and the kernel's part); the faulting threads' own share of the
 * window spent blocked (neither running nor waiting for a CPU:
 * /proc/self/task/TID/schedstat) is the better measure when there are
 * many faults, so the report takes the larger.  A window with half of it so
 * spent and fetches from the tiers at THRASH_FETCHES a second or more is
 * thrashing.
 */
#define THRASH_PCT 50
#define THRASH_FETCHES 1000
_Atomic pid_t hm_wait_tids[HM_WAIT_TIDS];
static struct {
	pid_t tid;
	uint64_t run, queued;
} wait_seen[HM_WAIT_TIDS];

/* The largest share (percent) of @ms a recently faulting thread spent
 * blocked since the last window. */
static uint64_t threads_blocked(uint32_t ms)
{
	uint64_t best = 0;
	for (int k = 0; k < HM_WAIT_TIDS; k++) {
		pid_t tid = atomic_load_explicit(&hm_wait_tids[k], memory_order_relaxed);
		if (!tid)
			continue;
		char path[64], buf[128];
		snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		unsigned long long run, queued;
		if (n <= 0) {
			atomic_store_explicit(&hm_wait_tids[k], 0, memory_order_relaxed); /* gone */
			continue;
		}
		buf[n] = 0;
		if (sscanf(buf, "%llu %llu", &run, &queued) != 2)
			continue;
		if (wait_seen[k].tid == tid && ms) {
			uint64_t busy = (run - wait_seen[k].run + queued - wait_seen[k].queued) / 1000000;
			uint64_t pct = busy >= ms ? 0 : (ms - busy) * 100 / ms;
			best = pct > best ? pct : best;
		}
		wait_seen[k].tid = tid;
		wait_seen[k].run = run;
		wait_seen[k].queued = queued;
	}
	return best;
}

static pthread_mutex_t ww_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint32_t ww_start;
static _Atomic bool ww_start_set;
static uint64_t ww_wait, ww_fetch;

static void wait_window(uint32_t ms, uint64_t *last_wait_ns, uint64_t *last_fetch)
{
	uint64_t w = atomic_load(&hm_cnt.fault_wait_ns), f = atomic_load(&hm_cnt.faults_fetch);
	uint64_t pct = ms ? (w - *last_wait_ns) / 10000 / ms : 0;
	uint64_t fetches = f - *last_fetch;
	uint64_t blocked = threads_blocked(ms);
	/* a thread blocked with few faults waits on something else */
	if (fetches * 1000 >= (uint64_t)THRASH_FETCHES * ms && blocked > pct)
		pct = blocked;
	pct = pct > 100 ? 100 : pct;
	bool thrash = hm_g.budget && pct >= THRASH_PCT && fetches * 1000 >= (uint64_t)THRASH_FETCHES * ms;
	atomic_store(&hm_cnt.fault_wait_pct, pct);
	atomic_store(&hm_cnt.thrash_now, thrash);
	if (hm_g.budget) {
		HM_COUNT(budget_ms, ms);
		if (thrash)
			HM_COUNT(thrash_ms, ms);
	}
	*last_wait_ns = w;
	*last_fetch = f;
}

/* Close the fault-wait window if a second has passed: from the reclaimer's
 * loop, and from hm_stats_get (a long reclaim pass must not hide a second). */
void hm_wait_tick(void)
{
	uint32_t now = hm_clock_ms();
	/* hm_stats_get may be called in a tight loop: most calls stop here */
	bool set = atomic_load(&ww_start_set);
	if (!hm_g.budget || (set && now - atomic_load_explicit(&ww_start, memory_order_relaxed) < 1000) ||
	    pthread_mutex_trylock(&ww_lock))
		return;
	if (!atomic_load(&ww_start_set)) {
		ww_start = now;
		atomic_store(&ww_start_set, true);
		ww_wait = atomic_load(&hm_cnt.fault_wait_ns);
		ww_fetch = atomic_load(&hm_cnt.faults_fetch);
	} else if (now - ww_start >= 1000) {
		wait_window(now - ww_start, &ww_wait, &ww_fetch);
		ww_start = now;
	}
	pthread_mutex_unlock(&ww_lock);
}
