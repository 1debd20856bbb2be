/*
 * scan.c — the tracker's scan step (hm_track_scan, from the reclaimer) and
 * its CPU budget.
 *
 * Each scan is timed with CLOCK_THREAD_CPUTIME_ID; hint faults are timed on
 * the handler thread (hm_track_charge) and each is also charged the
 * program's own time (its trap, sleep and wake-up), as measured by a probe
 * fault the reclaimer times once per scan (probe_hint_cost); a write scan is
 * also charged WP_FAULT_NS per page it re-protects.  A credit grows by
 * cpu_pct% of the wall time elapsed and pays for all of it.  With no credit,
 * a scan does no write scan and takes no sample; the number of samples per
 * scan halves when over budget and grows by a quarter when well under.
 */
#include "track/track_int.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The probe: the reclaimer reads a page that is not there in PROBE_CHUNK,
 * which takes the same round trip as a hint fault (trap, the handler woken,
 * a UFFDIO_ZEROPAGE instead of the move back, the faulting thread woken),
 * and times it; each hint fault is charged the median of the last 8 probes
 * on top of the handler's CPU time.  It faults from a CPU other than the one
 * the handler last ran on, as a program thread does (its own CPU is busy at
 * the fault, so the handler wakes on another): probing from the handler's
 * own CPU measures the cheaper local round trip (about half, on a 2-vCPU
 * VM).  The median drops a probe that landed behind the program on its CPU
 * and waited out a scheduler slice (milliseconds). */
/* Time one fault round trip through the handler (see PROBE_CHUNK) and fold
 * it into T.hint_ns.  Reclaimer thread only; its faults are never held
 * back at the budget (hold_fault). */
static void probe_hint_cost(void)
{
	if (T.probe_off >= HOLD_CHUNK) {
		/* every page of the probe chunk was read once: empty it (outside
		 * T.lock: the REMOVE event waits for the handler) */
		hm_sys_madvise((void *)(T.hold_base + (size_t)PROBE_CHUNK * HOLD_CHUNK), HOLD_CHUNK, MADV_DONTNEED);
		T.probe_off = 0;
	}
	volatile const char *a = (const char *)(T.hold_base + (size_t)PROBE_CHUNK * HOLD_CHUNK + T.probe_off);
	T.probe_off += HM_PAGE_SIZE;
	/* fault from where a program thread would: with HETMEM_CPUS, any CPU
	 * outside hetmem's; otherwise one other than the handler's last
	 * (a process confined to one CPU probes there) */
	cpu_set_t mine, away;
	bool moved = false;
	int hcpu = atomic_load_explicit(&hm_g.handler_cpu, memory_order_relaxed);
	if (hcpu >= 0 && !pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine) && CPU_ISSET(hcpu, &mine)) {
		away = mine;
		if (hm_g.cpus_set) {
			CPU_ZERO(&away);
			long n = sysconf(_SC_NPROCESSORS_ONLN);
			for (long c = 0; c < n && c < CPU_SETSIZE; c++)
				if (!CPU_ISSET((int)c, &hm_g.cpus))
					CPU_SET((int)c, &away);
		}
		CPU_CLR(hcpu, &away);
		moved = CPU_COUNT(&away) && !pthread_setaffinity_np(pthread_self(), sizeof(away), &away);
	}
	uint64_t t0 = ns_of(CLOCK_MONOTONIC);
	(void)*a; /* absent: the handler zero-fills it */
	uint64_t dt = ns_of(CLOCK_MONOTONIC) - t0;
	if (moved)
		pthread_setaffinity_np(pthread_self(), sizeof(mine), &mine);
	/* the median of the last 8: one probe during which the reclaimer was
	 * descheduled (milliseconds, against tens of microseconds) must not
	 * throttle sampling for the next several scans, as a mean would */
	T.probe_ns[T.nprobe++ % 8] = dt;
	uint64_t v[8];
	unsigned n = T.nprobe < 8 ? T.nprobe : 8;
	memcpy(v, T.probe_ns, sizeof(v));
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	T.hint_ns = n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
void hm_track_scan(struct hm_region **rs, size_t n)
{
	unsigned on = atomic_load(&T.on);
	size_t held = hm_trk_nent();
	if (!(on & (HM_TRACK_WRITE | HM_TRACK_SAMPLE)) && !held)
		return;
	uint64_t wall = ns_of(CLOCK_MONOTONIC), c0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
	int64_t cap = (int64_t)T.cpu_pct * 10000000; /* 1 s worth of budget */
	if (!T.last_wall)
		T.credit_ns = cap / 10;
	else
		T.credit_ns += (int64_t)((wall - T.last_wall) * T.cpu_pct / 100);
	if (T.credit_ns > cap)
		T.credit_ns = cap;
	T.last_wall = wall;
	uint64_t charged = atomic_exchange(&T.charged, 0);
	uint64_t program = atomic_exchange(&T.hints, 0) * T.hint_ns;
	T.credit_ns -= (int64_t)(charged + program);

	if (held)
		hm_trk_return_stale(hm_clock_ms());
	hm_trk_zap_chunks();
	bool afford = T.credit_ns > 0;
	if (afford && (on & HM_TRACK_WRITE))
		hm_trk_write_scan(rs, n);
	if (afford && (on & HM_TRACK_SAMPLE) && T.hold_base) {
		probe_hint_cost();
		hm_trk_take_samples(rs, n, T.nsample);
	}

	uint64_t spent = ns_of(CLOCK_THREAD_CPUTIME_ID) - c0;
	T.credit_ns -= (int64_t)spent;
	HM_COUNT(track_cpu_ns, spent + charged);
	if (T.credit_ns < 0)
		T.nsample = T.nsample > 1 ? T.nsample / 2 : 1;
	else if (T.credit_ns > (int64_t)(2 * (spent + charged + program)) && T.nsample < T.max_samples)
		T.nsample = T.nsample + T.nsample / 4 + 1 > T.max_samples ? T.max_samples : T.nsample + T.nsample / 4 + 1;
}
