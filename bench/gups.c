/*
 * gups.c — GUPS (giga-updates per second) on a working set larger than the
 * RAM budget: 8-byte read-modify-writes at random addresses, single thread,
 * on hetmem with each placement policy and against the bounds and baselines
 * that explain the figures, all measured in the same run.
 *
 * Configurations, each in its own forked child (so memory is returned
 * between runs; the child's result comes back through a pipe):
 *   allram     the working set in plain anonymous memory (MADV_NOHUGEPAGE,
 *              like hetmem's 4 KiB pages): the upper bound (a)
 *   recency, frequency, fifo
 *              hetmem, an "emu:" device tier the size of the working set,
 *              hm_budget_set(budget), that policy (b, c)
 *   oracle     hetmem with the hot set advised HM_ADVISE_HOT (never demoted)
 *              and the rest HM_ADVISE_COLD (demoted before anything else,
 *              so a cold page brought in by an access goes straight back
 *              when room is needed): the best placement when a cold access
 *              costs a fault (d)
 *   kernel     the allram program in a fresh memcg v1 group limited to the
 *              budget, swapping to a zram device (root only; set up and torn
 *              down here: bench_common.c) (e)
 *
 * The working set is filled with random words (zram would dedupe zeros).
 * Then, in the same child, the phases run one after another:
 *   idle H     every update goes to a hot set of H bytes at the start of the
 *              working set; the rest was written once by the fill (one
 *              phase per --hot size)
 *   skewed     90% of updates to the hot set (--skew-hot), 10% uniform over
 *              the whole working set
 *   moving     as idle, with the hot set at the start; after half the phase
 *              it jumps to the middle of the working set
 * Each phase counts updates in 100 ms windows; a phase's "settled" rate is
 * the mean over its second half (for moving: the second half before the
 * jump), and the recovery time is how long after the jump the rate over
 * half a second first reaches 90% of that settled rate again.  Migration
 * traffic is hetmem's promoted + demoted bytes (hm_stats), or for the kernel
 * the system's pswpin + pswpout (/proc/vmstat) pages.
 *
 * Usage: gups [--quick] [--ws SIZE] [--budget SIZE] [--hot SIZE[,SIZE...]]
 *             [--skew-hot SIZE] [--seconds S] [--configs LIST] [--no-zram] [--cpu N]
 *             [--idle-poll] [--record DIR] [--paired-idle] [--tier SPEC]
 * Exit status 0 when every configuration that ran gave a result (targets
 * are reported, not turned into an exit status; a skipped kernel baseline
 * is not a failure), 1 otherwise, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "hetmem.h"

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)
#define WIN_MS 100
#define MAX_HOT 4
#define MAX_PHASES (MAX_HOT + 2)
#define MAX_WIN 6000 /* windows per phase: 600 s */

enum cfg_kind { C_ALLRAM, C_HETMEM, C_ORACLE, C_KERNEL };

struct cfg {
	const char *name;
	enum cfg_kind kind;
	const char *policy; /* hetmem */
};

static const struct cfg all_cfgs[] = {
	{"allram", C_ALLRAM, NULL},   {"recency", C_HETMEM, "recency"}, {"frequency", C_HETMEM, "frequency"},
	{"fifo", C_HETMEM, "fifo"},   {"oracle", C_ORACLE, "recency"},  {"kernel", C_KERNEL, NULL},
};
#define NCFG (sizeof(all_cfgs) / sizeof(all_cfgs[0]))

struct opts {
	uint64_t ws, budget, hot[MAX_HOT], skew_hot;
	int nhot;
	double seconds;
	bool run[NCFG];
	bool no_zram;
	bool no_idle; /* --hot none */
	bool paired_idle; /* --paired-idle */
	const char *record; /* directory for hetmem records, or NULL */
	const char *tier;   /* --tier: hetmem's tier (default emu:WS) */
};

struct phase_res {
	char name[16];
	uint64_t hot;
	double rate;          /* settled updates/s */
	double traffic;       /* migration bytes/s over the whole phase */
	double recover_s;     /* moving: seconds to 90% after the jump, -1 never */
	double after;         /* moving: settled rate at the end, after the jump */
	double ref_rate;      /* --paired-idle: the in-process all-in-RAM reference's
			       * settled rate in the same phase (0: none) */
	double fault_ratio;   /* faults per 1000 updates over the settled half (the
			       * kernel: pages swapped in); -1: not counted */
	double local_share;   /* hetmem: share of the settled half's updates whose
			       * page was in local RAM (1 in 512 looked up with
			       * hm_where); -1: not counted */
};

struct cfg_res {
	bool ok;
	char msg[256];
	double fill_s;
	int nphases;
	struct phase_res ph[MAX_PHASES];
};

/* ---------------------------------------------------------------------- */

/* uniform in [0, n) */
static inline uint64_t below(uint64_t x, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)x * n) >> 64);
}

static void fmt_size(char *b, size_t n, uint64_t v)
{
	if (v >= GiB)
		snprintf(b, n, "%.3gG", (double)v / (double)GiB);
	else
		snprintf(b, n, "%.4gM", (double)v / (double)MiB);
}

/* ---------------------------------------------------------------------- */
/* The measured loop, shared by every configuration                        */
/* ---------------------------------------------------------------------- */

struct run_ctx {
	const struct cfg *cfg;
	uint64_t *p;
	uint64_t ws;
	uint64_t seed;
	uint64_t (*traffic)(void); /* cumulative migration bytes */
	uint64_t (*faults)(void);  /* not hetmem: cumulative faults (the kernel: pages
				    * swapped in), or NULL */
	bool hetmem;               /* hetmem's counters over each settled half (its faults:
				    * every fault served, hint faults included) */
	uint64_t *ref;             /* --paired-idle: plain memory, the reference */
	uint64_t ref_len;
	void (*place)(struct run_ctx *c, uint64_t hot_off, uint64_t hot_len, uint64_t old_off);
	int fd; /* the pipe to the parent: the results so far after each phase */
};

/* CPU time of every thread but this one (hetmem's reclaimer, fault handler) */
static uint64_t other_threads_cpu_ns(void)
{
	struct rusage all, me;
	getrusage(RUSAGE_SELF, &all);
	getrusage(RUSAGE_THREAD, &me);
	uint64_t a = (uint64_t)(all.ru_utime.tv_sec + all.ru_stime.tv_sec) * 1000000000ull +
		     (uint64_t)(all.ru_utime.tv_usec + all.ru_stime.tv_usec) * 1000ull;
	uint64_t m = (uint64_t)(me.ru_utime.tv_sec + me.ru_stime.tv_sec) * 1000000000ull +
		     (uint64_t)(me.ru_utime.tv_usec + me.ru_stime.tv_usec) * 1000ull;
	return a > m ? a - m : 0;
}

static uint64_t no_traffic(void)
{
	return 0;
}

static uint64_t hm_traffic(void)
{
	struct hm_stats s;
	hm_stats_get(&s);
	return s.bytes_promoted + s.bytes_demoted;
}

/* The system's pages swapped in, plus those swapped out if @out. */
static uint64_t vmstat_swap_pages(bool out)
{
	FILE *f = fopen("/proc/vmstat", "re");
	char line[128];
	uint64_t v, sum = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "pswpin %" SCNu64, &v) == 1 || (out && sscanf(line, "pswpout %" SCNu64, &v) == 1))
			sum += v;
	fclose(f);
	return sum;
}

/* the kernel baseline's faults on swapped pages */
static uint64_t vmstat_swapins(void)
{
	return vmstat_swap_pages(false);
}

static uint64_t vmstat_traffic(void)
{
	return vmstat_swap_pages(true) * 4096;
}

/* The oracle knows the hot set: pin it, send everything else back first. */
static void oracle_place(struct run_ctx *c, uint64_t hot_off, uint64_t hot_len, uint64_t old_off)
{
	int rc = hm_advise(c->p, c->ws, HM_ADVISE_COLD);
	if (!rc)
		rc = hm_advise((char *)c->p + hot_off, hot_len, HM_ADVISE_HOT);
	if (rc) {
		fprintf(stderr, "gups: oracle: hm_advise: %s\n", hm_last_error());
		exit(1);
	}
}

static double mean(const double *v, int from, int to)
{
	double s = 0;
	for (int i = from; i < to; i++)
		s += v[i];
	return to > from ? s / (to - from) : 0;
}

/* The counters at either end of a phase's settled half. */
struct snap {
	struct hm_stats s; /* hetmem's */
	uint64_t faults, t, other_cpu;
};

static void snap_take(const struct run_ctx *c, struct snap *x)
{
	if (c->hetmem)
		hm_stats_get(&x->s);
	x->faults = c->hetmem ? x->s.faults : c->faults ? c->faults() : 0;
	x->t = mono_ns();
	x->other_cpu = other_threads_cpu_ns();
}

/*
 * Where an idle hot set's pages lie in (guest-)physical memory.  On this VM
 * (bench_scatter, docs/bench-logs/JOURNAL.md session 9) 1 GiB made of every 8th page
 * of 8 GiB ran random updates at 59-63% of the rate of 1 GiB allocated
 * fresh, alternating 100 ms windows in one process; a random 1 in 8 at 72%
 * once and 106% once: where the pages lie can move the rate by a third.
 * Pages a tier fetch or a recycled victim gave the hot set can lie anywhere,
 * so the count is printed next to the rates, for the hot set and its paired
 * reference alike.
 */
static void print_frames(const struct run_ctx *c, const char *name, const char *hs, const void *hot, uint64_t len,
			 const void *ref)
{
	size_t np, nr = 0;
	long f = pagemap_frames_2m(hot, len, &np), fr = ref ? pagemap_frames_2m(ref, len, &nr) : 0;
	if (f == -EPERM) {
		printf("  %-9s %-7s %-6s 2 MiB frames under the hot set: not shown (frame numbers need root)\n",
		       c->cfg->name, name, hs);
		return;
	}
	if (f < 0 || fr < 0)
		return;
	printf("  %-9s %-7s %-6s 2 MiB frames under the hot set: %ld (%zu pages in RAM)", c->cfg->name, name, hs, f,
	       np);
	if (ref)
		printf(", under the reference: %ld (%zu pages)", fr, nr);
	printf("\n");
}

/* The mean of the windows of one parity in [from, to) (--paired-idle). */
static double mean_par(const double *v, int from, int to, int parity)
{
	double s = 0;
	int n = 0;
	for (int i = from; i < to; i++)
		if ((i & 1) == parity) {
			s += v[i];
			n++;
		}
	return n ? s / n : 0;
}

/*
 * One phase: @pct_hot percent of the updates go to [hot_off, +hot_len), the
 * rest uniformly anywhere; if @jump_to is not UINT64_MAX the hot set moves
 * there after half the phase.  Prints the per-second series.
 *
 * --paired-idle: in an idle phase, the odd windows update a plain (not
 * hetmem) hot set of the same size instead, so all-in-RAM is measured in the
 * same process, interleaved 100 ms by 100 ms with hetmem: the machine's
 * drift over minutes (other tenants) falls on both alike.  What it leaves
 * out: hetmem's threads run during both kinds of window, so their CPU (the
 * settled-half line) is not in the ratio.
 */
static void phase(struct run_ctx *c, const char *name, uint64_t hot_off, uint64_t hot_len, unsigned pct_hot,
		  double secs, uint64_t jump_to, struct phase_res *out)
{
	static double rate[MAX_WIN];
	static uint64_t wcnt[MAX_WIN];
	int nwin = (int)(secs * 1000 / WIN_MS), jump_win = jump_to == UINT64_MAX ? -1 : nwin / 2;
	if (nwin > MAX_WIN)
		nwin = MAX_WIN;
	if (c->place)
		c->place(c, hot_off, hot_len, UINT64_MAX);
	bool idle = pct_hot == 100 && jump_to == UINT64_MAX;
	bool paired = idle && c->ref && hot_len <= c->ref_len;
	uint64_t *p = c->p, nw = c->ws / 8, hw = hot_len / 8, hbase = hot_off / 8;
	uint64_t thr = (uint64_t)pct_hot * (UINT64_MAX / 100);
	uint64_t s = c->seed, t0 = mono_ns(), tr0 = c->traffic();
	uint64_t wend = t0 + WIN_MS * 1000000ull, wstart = t0, cnt = 0;
	int settled_end = jump_win >= 0 ? jump_win : nwin;
	struct snap a = {0}, b = {0};
	uint64_t *q = p, qbase = hbase;
	uint64_t looked = 0, local = 0;
	for (int w = 0; w < nwin;) {
		if ((w == settled_end / 2 || w == settled_end) && cnt == 0)
			snap_take(c, w == settled_end ? &b : &a);
		for (int k = 0; k < 512; k++) {
			uint64_t x = xorshift64(&s), y = xorshift64(&s);
			uint64_t i = pct_hot == 100 || y < thr ? qbase + below(x, hw) : below(x, nw);
			if (!k && c->hetmem && q == p && w >= settled_end / 2 && w < settled_end) {
				int where = -1;
				if (!hm_where((void *)((uintptr_t)&q[i] & ~(uintptr_t)4095), 4096, &where)) {
					looked++;
					local += where == 0;
				}
			}
			q[i] += x; /* the 8-byte read-modify-write */
		}
		cnt += 512;
		uint64_t t = mono_ns();
		if (t < wend)
			continue;
		rate[w] = (double)cnt * 1e9 / (double)(t - wstart);
		wcnt[w] = cnt;
		cnt = 0;
		wstart = t;
		wend = t + WIN_MS * 1000000ull;
		w++;
		if (paired) { /* odd windows: the reference */
			q = w & 1 ? c->ref : p;
			qbase = w & 1 ? 0 : hbase;
		}
		if (w == jump_win) {
			if (c->place)
				c->place(c, jump_to, hot_len, hot_off);
			hbase = jump_to / 8;
			qbase = hbase; /* (never paired) */
		}
	}
	c->seed = s;
	double el = (double)(mono_ns() - t0) / 1e9;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->hot = hot_len;
	out->traffic = (double)(c->traffic() - tr0) / el;
	if (!b.t) /* the phase ended at settled_end */
		snap_take(c, &b);
	/* placement's measure that the machine's speed does not move: how
	 * many updates in a thousand took a fault (in the paired windows too:
	 * the reference's updates never fault, so count only hetmem's) */
	uint64_t upd = 0;
	for (int w = settled_end / 2; w < settled_end; w++)
		if (!paired || !(w & 1))
			upd += wcnt[w];
	out->fault_ratio = (c->hetmem || c->faults) && upd ? 1000.0 * (double)(b.faults - a.faults) / (double)upd : -1;
	out->local_share = looked ? (double)local / (double)looked : -1;
	out->rate = paired ? mean_par(rate, settled_end / 2, settled_end, 0) : mean(rate, settled_end / 2, settled_end);
	if (paired)
		out->ref_rate = mean_par(rate, settled_end / 2, settled_end, 1);
	out->recover_s = -1;
	if (jump_win >= 0) {
		int half = 500 / WIN_MS;
		for (int w = jump_win; w + half <= nwin; w++)
			if (mean(rate, w, w + half) >= 0.9 * out->rate) {
				out->recover_s = (double)(w + half - jump_win) * WIN_MS / 1000.0;
				break;
			}
		out->after = mean(rate, jump_win + (nwin - jump_win) / 2, nwin);
	}
	/* the per-second series, in millions of updates per second */
	char hs[16];
	fmt_size(hs, sizeof(hs), hot_len);
	printf("  %-9s %-7s %-6s M/s per s:", c->cfg->name, name, hs);
	int per = 1000 / WIN_MS;
	for (int w = 0; w + per <= nwin; w += per) {
		if (jump_win >= 0 && w == jump_win)
			printf(" |jump|");
		printf(" %.2f", (paired ? mean_par(rate, w, w + per, 0) : mean(rate, w, w + per)) / 1e6);
	}
	printf("\n");
	if (paired) {
		printf("  %-9s %-7s %-6s reference, all-in-RAM in this process, M/s per s:", c->cfg->name, name, hs);
		for (int w = 0; w + per <= nwin; w += per)
			printf(" %.2f", mean_par(rate, w, w + per, 1) / 1e6);
		printf("\n");
	}
	if (out->local_share >= 0)
		printf("  %-9s %-7s %-6s settled half: %.1f%% of updates to pages in local RAM (%" PRIu64
		       " looked up with hm_where)\n",
		       c->cfg->name, name, hs, 100 * out->local_share, looked);
	if (c->hetmem && b.t > a.t) {
		/* why a settled phase runs below all-in-RAM: faults (placement),
		 * the tracker's samples, or the reclaimer's passes */
		double d = (double)(b.t - a.t) / 1e9;
		printf("  %-9s %-7s %-6s settled half, per s: faults %.0f (fetched %.0f, recycled %.0f), "
		       "demoted %.1f MiB, samples %.0f (touched %.0f), reclaim passes %.1f; "
		       "hetmem's threads %.0f%% of a CPU\n",
		       c->cfg->name, name, hs, (double)(b.s.faults - a.s.faults) / d,
		       (double)(b.s.faults_fetch - a.s.faults_fetch) / d, (double)(b.s.sig_recycled - a.s.sig_recycled) / d,
		       (double)(b.s.bytes_demoted - a.s.bytes_demoted) / d / MiB,
		       (double)(b.s.track_samples - a.s.track_samples) / d,
		       (double)(b.s.track_hint_faults - a.s.track_hint_faults) / d,
		       (double)(b.s.reclaim_scans - a.s.reclaim_scans) / d, (double)(b.other_cpu - a.other_cpu) / 1e7 / d);
		if (b.s.coherent_pages_out > a.s.coherent_pages_out || b.s.coherent_promote_asks > a.s.coherent_promote_asks)
			printf("  %-9s %-7s %-6s settled half, per s: coherent tier: %.0f folios asked back, %.1f MiB "
			       "moved back, %.1f MiB moved there; write scans %.1f, written folios %.0f\n",
			       c->cfg->name, name, hs, (double)(b.s.coherent_promote_asks - a.s.coherent_promote_asks) / d,
			       (double)(b.s.coherent_pages_in - a.s.coherent_pages_in) * 4096 / d / MiB,
			       (double)(b.s.coherent_pages_out - a.s.coherent_pages_out) * 4096 / d / MiB,
			       (double)(b.s.track_write_scans - a.s.track_write_scans) / d,
			       (double)(b.s.track_written - a.s.track_written) / d);
	}
	if (idle)
		print_frames(c, name, hs, (const char *)c->p + hot_off, hot_len, paired ? c->ref : NULL);
	fflush(stdout);
}

static void fill(struct run_ctx *c)
{
	uint64_t s = 0x9e3779b97f4a7c15ull ^ c->ws;
	for (uint64_t i = 0; i < c->ws / 8; i++)
		c->p[i] = xorshift64(&s);
}

static void run_all(struct run_ctx *c, const struct opts *o, struct cfg_res *r)
{
	uint64_t t0 = mono_ns();
	fill(c);
	r->fill_s = (double)(mono_ns() - t0) / 1e9;
	printf("  %-9s fill %.1f s\n", c->cfg->name, r->fill_s);
	fflush(stdout);
	/* after each phase the results so far go to the parent, so a child
	 * killed later (the kernel baseline by its memcg's OOM killer) still
	 * leaves the phases it finished */
	for (int h = 0; h < o->nhot; h++) {
		phase(c, "idle", 0, o->hot[h], 100, o->seconds, UINT64_MAX, &r->ph[r->nphases++]);
		write_all(c->fd, r, sizeof(*r));
	}
	phase(c, "skewed", 0, o->skew_hot, 90, o->seconds, UINT64_MAX, &r->ph[r->nphases++]);
	write_all(c->fd, r, sizeof(*r));
	phase(c, "moving", 0, o->skew_hot, 100, 2 * o->seconds, (o->ws / 2) & ~(uint64_t)4095, &r->ph[r->nphases++]);
	r->ok = true;
}

/* ---------------------------------------------------------------------- */
/* Children                                                                */
/* ---------------------------------------------------------------------- */

static uint64_t *map_plain(uint64_t ws, struct cfg_res *r)
{
	void *p = mmap(NULL, ws, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(r->msg, sizeof(r->msg), "mmap %" PRIu64 " bytes: %s", ws, strerror(errno));
		return NULL;
	}
	madvise(p, ws, MADV_NOHUGEPAGE);
	return p;
}

static void child(const struct cfg *cfg, const struct opts *o, const char *cgdir, int fd)
{
	struct cfg_res r = {0};
	struct run_ctx c = {.cfg = cfg, .ws = o->ws, .seed = 0x5eed1234abcdull, .traffic = no_traffic, .fd = fd};
	alarm((unsigned)(o->seconds * (o->nhot + 3) * 3 + 1800)); /* never outlive a stuck parent */
	/* --paired-idle: the reference hot set, plain memory written once.
	 * The all-in-RAM config gets one too, as the control: two plain
	 * regions of one process, alternated the same way, show how far apart
	 * the machine puts two sets of pages that nothing tells apart. */
	if (o->paired_idle && o->nhot && cfg->kind != C_KERNEL) {
		uint64_t m = 0;
		for (int h = 0; h < o->nhot; h++)
			m = o->hot[h] > m ? o->hot[h] : m;
		if (!(c.ref = map_plain(m, &r)))
			goto out;
		c.ref_len = m;
		uint64_t x = 0x243f6a8885a308d3ull;
		for (uint64_t i = 0; i < m / 8; i++)
			c.ref[i] = xorshift64(&x);
	}
	if (cfg->kind == C_ALLRAM || cfg->kind == C_KERNEL) {
		if (cfg->kind == C_KERNEL) {
			if (memcg_join(cgdir, o->budget, r.msg, sizeof(r.msg)))
				goto out;
			c.traffic = vmstat_traffic;
			c.faults = vmstat_swapins;
		}
		if (!(c.p = map_plain(o->ws, &r)))
			goto out;
		run_all(&c, o, &r);
		goto out;
	}
	int rc = hm_init(NULL);
	char spec[64];
	if (o->tier)
		snprintf(spec, sizeof(spec), "%s", o->tier);
	else
		snprintf(spec, sizeof(spec), "emu:%" PRIu64, o->ws);
	int tier = rc ? rc : hm_tier_add(spec);
	if (tier < 0 || (rc = hm_policy_set(cfg->policy)) || (rc = hm_budget_set(o->budget, 0, 0, tier))) {
		snprintf(r.msg, sizeof(r.msg), "hetmem set-up: %s", hm_last_error());
		goto out;
	}
	if (!(c.p = hm_alloc(o->ws, HM_FOLIO_4K))) {
		snprintf(r.msg, sizeof(r.msg), "hm_alloc: %s", hm_last_error());
		goto out;
	}
	c.traffic = hm_traffic;
	c.hetmem = true;
	if (o->record) {
		char path[512];
		snprintf(path, sizeof(path), "%s/gups-%s.rec", o->record, cfg->name);
		if (hm_record_start(path, 0)) {
			snprintf(r.msg, sizeof(r.msg), "%s", hm_last_error());
			goto out;
		}
	}
	if (cfg->kind == C_ORACLE) {
		c.place = oracle_place;
		if (hm_advise(c.p, o->ws, HM_ADVISE_COLD)) {
			snprintf(r.msg, sizeof(r.msg), "hm_advise: %s", hm_last_error());
			goto out;
		}
	}
	run_all(&c, o, &r);
	struct hm_stats s;
	hm_stats_get(&s);
	printf("  %-9s hetmem: faults %" PRIu64 " (fetched %" PRIu64 "), demoted %" PRIu64 " MiB, promoted %" PRIu64
	       " MiB, refaults %" PRIu64 ", thrash back-offs %" PRIu64 ", throttled faults %" PRIu64
	       ", samples %" PRIu64 " (touched %" PRIu64 "), tracker cpu %" PRIu64 " ms, blocks promoted whole %" PRIu64
	       " (%" PRIu64 " MiB)\n",
	       cfg->name, s.faults, s.faults_fetch, s.bytes_demoted / MiB, s.bytes_promoted / MiB, s.refaults,
	       s.thrash_backoffs, s.throttled_faults, s.track_samples, s.track_hint_faults, s.track_cpu_us / 1000,
	       s.block_promotions, s.block_promoted_pages * 4096 / MiB);
	if (s.sig_faults)
		printf("  %-9s signal mode: faults in the faulting thread %" PRIu64 ", recycled a victim's page %" PRIu64
		       ", busy and retried %" PRIu64 "\n",
		       cfg->name, s.sig_faults, s.sig_recycled, s.sig_retries);
	fflush(stdout);
out:
	write_all(fd, &r, sizeof(r));
	_exit(r.ok ? 0 : 1);
}

/* Run @cfg in a child (for the kernel: inside a zram + memcg set-up). */
static void run_cfg(const struct cfg *cfg, const struct opts *o, struct cfg_res *r)
{
	char cgdir[128] = "", alg[32] = "";
	struct zram_dev z;
	bool zram = false;
	sigset_t block, old;
	int pfd[2], status;
	memset(r, 0, sizeof(*r));
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (cfg->kind == C_KERNEL) {
		if (o->no_zram) {
			snprintf(r->msg, sizeof(r->msg), "skipped: --no-zram");
			goto out_signals;
		}
		if (zram_baseline_check(r->msg, sizeof(r->msg)))
			goto out_signals;
		/* room for the whole working set (random data does not
		 * compress), plus headroom: swap slots are freed lazily, and
		 * with exactly the working set the kernel baseline was
		 * OOM-killed inside its group at 2 GiB / 512 MiB */
		if (zram_setup(&z, o->ws + o->ws / 8 + (64ull << 20), alg, r->msg, sizeof(r->msg)))
			goto out_signals;
		zram = true;
		snprintf(cgdir, sizeof(cgdir), MEMCG_ROOT "/hetmem-gups-%d", (int)getpid());
		if (mkdir(cgdir, 0755) != 0) {
			snprintf(r->msg, sizeof(r->msg), "mkdir %s: %s", cgdir, strerror(errno));
			cgdir[0] = '\0';
			goto out_zram;
		}
		printf("  kernel    memcg v1 limit %" PRIu64 " MiB, zram swap %s (%s)\n", o->budget / MiB, z.node, alg);
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(r->msg, sizeof(r->msg), "pipe: %s", strerror(errno));
		goto out_cg;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(r->msg, sizeof(r->msg), "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		goto out_cg;
	}
	if (pid == 0) {
		close(pfd[0]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		child(cfg, o, cgdir, pfd[1]);
	}
	close(pfd[1]);
	/* the results so far after each phase, the whole set last; keep the
	 * newest complete one */
	uint64_t deadline = mono_ns() + (uint64_t)((o->seconds * (o->nhot + 3) * 2 + 1200) * 1e9);
	static struct cfg_res got;
	int err;
	for (;;) {
		uint64_t now = mono_ns();
		err = read_result(pfd[0], &got, sizeof(got), now >= deadline ? 0 : (int)((deadline - now) / 1000000));
		if (err)
			break;
		*r = got;
		if (r->ok)
			break;
	}
	if (err == -ETIMEDOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (!r->ok) {
		char why[160];
		long kills = cgdir[0] ? memcg_oom_kills(cgdir) : 0;
		if (err == -ETIMEDOUT)
			snprintf(why, sizeof(why), "no result within the time allowed: killed");
		else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && kills > 0)
			snprintf(why, sizeof(why), "killed by the kernel's OOM killer in its memcg (its reclaim could not "
						   "keep the group under the limit)");
		else if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(status));
		if (!r->msg[0])
			snprintf(r->msg, sizeof(r->msg), "%s after %d of %d phases", why, r->nphases, o->nhot + 2);
	}
out_cg:
	if (cgdir[0])
		memcg_remove(cgdir);
out_zram:
	if (zram)
		zram_teardown(&z);
out_signals:
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: gups [--quick] [--ws SIZE] [--budget SIZE] [--hot SIZE[,SIZE...]] [--skew-hot SIZE]\n"
		   "            [--seconds S] [--configs NAME[,NAME...]] [--no-zram] [--cpu N] [--idle-poll]\n"
		   "            [--record DIR] [--paired-idle] [--tier SPEC]\n"
		   "  --tier SPEC      hetmem's tier (default emu:WS; numa:NODE for a NUMA node: then the share\n"
		   "                   of updates served from local RAM is the measure)\n"
		   "  --ws SIZE        working set (default 8G)\n"
		   "  --budget SIZE    RAM budget, and the kernel baseline's memcg limit (default 2G)\n"
		   "  --hot LIST       hot-set sizes of the idle-cold phases (default 512M,1G,1536M);\n"
		   "                   none: no idle phase (needs --skew-hot)\n"
		   "  --skew-hot SIZE  hot set of the skewed and moving phases (default: the middle --hot size)\n"
		   "  --seconds S      length of each phase; moving runs 2*S with the jump at S (default 20)\n"
		   "  --configs LIST   of allram,recency,frequency,fifo,oracle,kernel (default: all)\n"
		   "  --quick          --ws 256M --budget 64M --hot 16M,32M,48M --seconds 2\n"
		   "  --no-zram        skip the kernel baseline\n"
		   "  --paired-idle    in the idle phases, hetmem configs alternate 100 ms windows with a plain\n"
		   "                   hot set of the same size in the same process: all-in-RAM measured\n"
		   "                   side by side (hetmem's own threads' CPU is not in that ratio); allram\n"
		   "                   alternates two plain regions, the control\n"
		   "  --cpu N          run everything (every configuration, hetmem's threads included) on CPU N\n"
		   "  --idle-poll      hold a 0 us CPU latency request (PM QoS, root) for the whole run: idle\n"
		   "                   CPUs poll instead of halting, for every configuration alike (the kernel\n"
		   "                   baseline too; HETMEM_IDLE_POLL=1 alone would favour hetmem's)\n"
		   "  --record DIR     hetmem configs write DIR/gups-CONFIG.rec (draw: hetmem heatmap)\n");
}

/* Whether @r holds phase @k (a child killed part-way holds the phases before) */
static bool done(const struct cfg_res *r, int k)
{
	return r && k < r->nphases;
}

static const struct cfg_res *res_of(const struct cfg_res *res, const struct opts *o, const char *name)
{
	for (size_t i = 0; i < NCFG; i++)
		if (!strcmp(all_cfgs[i].name, name))
			return o->run[i] && res[i].nphases > 0 ? &res[i] : NULL;
	return NULL;
}

static void target(const char *what, bool have, double v, double want, const char *unit, bool higher)
{
	if (!have) {
		printf("  target: %-58s    n/a  -> not measured\n", what);
		return;
	}
	if (v < 0) {
		printf("  target: %-58s  never -> NOT met\n", what);
		return;
	}
	bool met = higher ? v >= want : v <= want;
	printf("  target: %-58s %6.2f%s -> %s\n", what, v, unit, met ? "met" : "NOT met");
}

/* A target on @r's rate in phase @k over @x's, times @scale */
static void target_ratio(const char *what, const struct cfg_res *r, const struct cfg_res *x, int k, double scale,
			 double want, const char *unit)
{
	bool have = done(r, k) && done(x, k) && x->ph[k].rate > 0;
	target(what, have, have ? scale * r->ph[k].rate / x->ph[k].rate : 0, want, unit, true);
}

/* The label of table row @k: the phase and its hot-set size. */
static void row_head(const struct opts *o, int k)
{
	char h[16];
	const char *pn = k < o->nhot ? "idle" : k == o->nhot ? "skewed" : "moving";
	fmt_size(h, sizeof(h), k < o->nhot ? o->hot[k] : o->skew_hot);
	printf("%-8s %-7s", pn, h);
}

/* Options that only shape the defaults (whether they were given). */
struct given {
	bool quick, hot, skew, ws, budget, sec;
};

/* Parse the list of --hot: false if bad. */
static bool parse_hot(struct opts *o, const char *v)
{
	char buf[256], *tok, *save;
	snprintf(buf, sizeof(buf), "%s", v);
	o->nhot = 0;
	if (!strcmp(v, "none")) { /* no idle phase: skewed and moving only */
		o->no_idle = true;
		return true;
	}
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->nhot == MAX_HOT || parse_size(tok, &o->hot[o->nhot]))
			return false;
		o->nhot++;
	}
	return true;
}

/* Parse the list of --configs: false if it names an unknown one. */
static bool parse_configs(struct opts *o, const char *v)
{
	char buf[256], *tok, *save;
	snprintf(buf, sizeof(buf), "%s", v);
	for (size_t k = 0; k < NCFG; k++)
		o->run[k] = false;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t k;
		for (k = 0; k < NCFG && strcmp(all_cfgs[k].name, tok); k++)
			;
		if (k == NCFG)
			return false;
		o->run[k] = true;
	}
	return true;
}

/* Parse the command line into @o: -1 to go on, else the exit status (0 for
 * --help, 2 for a bad option, usage printed). */
static int parse_args(int argc, char **argv, struct opts *o, struct given *g)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = true;
		if (!strcmp(a, "--quick")) {
			g->quick = true;
			continue;
		} else if (!strcmp(a, "--paired-idle")) {
			o->paired_idle = true;
			continue;
		} else if (!strcmp(a, "--no-zram")) {
			o->no_zram = true;
			continue;
		} else if (!strcmp(a, "--idle-poll")) {
			/* held until exit, by the parent: every child alike */
			if (hold_idle_poll("gups") < 0)
				return 2;
			printf("gups: idle CPUs poll (a 0 us CPU latency request) for every configuration\n");
			continue;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!v) {
			ok = false;
		} else if (!strcmp(a, "--cpu")) {
			/* every configuration alike (children inherit it): a
			 * fault's round trip then needs no wake-up across vCPUs */
			int c = pin_to_cpu("gups", v);
			if (c < 0)
				return 2;
			printf("gups: every configuration runs on CPU %d only\n", c);
		} else if (!strcmp(a, "--record")) {
			o->record = v;
		} else if (!strcmp(a, "--tier")) {
			o->tier = v;
		} else if (!strcmp(a, "--ws")) {
			ok = !parse_size(v, &o->ws);
			g->ws = true;
		} else if (!strcmp(a, "--budget")) {
			ok = !parse_size(v, &o->budget);
			g->budget = true;
		} else if (!strcmp(a, "--skew-hot")) {
			ok = !parse_size(v, &o->skew_hot);
			g->skew = true;
		} else if (!strcmp(a, "--seconds")) {
			o->seconds = atof(v);
			ok = o->seconds >= 1 && o->seconds <= 300;
			g->sec = true;
		} else if (!strcmp(a, "--hot")) {
			ok = parse_hot(o, v);
			g->hot = true;
		} else if (!strcmp(a, "--configs")) {
			ok = parse_configs(o, v);
		} else {
			ok = false;
		}
		if (!ok) {
			usage(stderr);
			return 2;
		}
		i++; /* the option's value */
	}
	return -1;
}

/* The defaults that depend on other options (--quick's smaller sizes,
 * hot sets from the budget), then the checks: -1 if sound, else 2. */
static int settle_opts(struct opts *o, const struct given *g)
{
	if (g->quick) { /* smaller defaults; explicit options still win */
		if (!g->ws)
			o->ws = 256 * MiB;
		if (!g->budget)
			o->budget = 64 * MiB;
		if (!g->sec)
			o->seconds = 2;
		if (!g->hot && !g->ws && !g->budget) {
			o->hot[0] = 16 * MiB, o->hot[1] = 32 * MiB, o->hot[2] = 48 * MiB;
			o->nhot = 3;
		}
	}
	if (o->no_idle && !g->skew) {
		fprintf(stderr, "gups: --hot none needs --skew-hot\n");
		return 2;
	}
	if (!o->nhot && !o->no_idle) {
		o->hot[0] = o->budget / 4, o->hot[1] = o->budget / 2, o->hot[2] = o->budget / 4 * 3;
		o->nhot = 3;
	}
	if (!g->skew)
		o->skew_hot = o->hot[o->nhot / 2];
	for (int h = 0; h < o->nhot; h++)
		if (o->hot[h] > o->ws / 2) {
			fprintf(stderr, "gups: a hot set (%" PRIu64 " MiB) may be at most half the working set\n",
				o->hot[h] / MiB);
			return 2;
		}
	if (o->skew_hot > o->ws / 2 || o->budget < 4 * MiB || o->budget >= o->ws) {
		fprintf(stderr, "gups: need --skew-hot <= half the working set and 4 MiB <= --budget < --ws\n");
		return 2;
	}
	return -1;
}

static void print_setup(const struct opts *o)
{
	char ws[16], bu[16], sk[16], hs[64] = "";
	fmt_size(ws, sizeof(ws), o->ws);
	fmt_size(bu, sizeof(bu), o->budget);
	fmt_size(sk, sizeof(sk), o->skew_hot);
	for (int h = 0; h < o->nhot; h++) {
		char t[16];
		fmt_size(t, sizeof(t), o->hot[h]);
		snprintf(hs + strlen(hs), sizeof(hs) - strlen(hs), "%s%s", h ? "," : "", t);
	}
	printf("gups: working set %s, budget %s, idle hot sets %s, skewed/moving hot set %s, %.0f s per phase "
	       "(moving %.0f s), 4 KiB folios, emu tier\n", ws, bu, hs, sk, o->seconds, 2 * o->seconds);
	fflush(stdout);
}

/* Run every configuration asked for into @res: true if a hetmem one (or
 * allram) failed; the kernel baseline's failure is only reported. */
static bool run_configs(const struct opts *o, struct cfg_res *res)
{
	bool fail = false;
	for (size_t i = 0; i < NCFG; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		if (!o->run[i])
			continue;
		uint64_t t0 = mono_ns();
		run_cfg(&all_cfgs[i], o, &res[i]);
		printf("  %-9s %s (%.0f s)\n", all_cfgs[i].name, res[i].ok ? "done" : res[i].msg,
		       (double)(mono_ns() - t0) / 1e9);
		fflush(stdout);
		if (!res[i].ok && all_cfgs[i].kind != C_KERNEL)
			fail = true;
	}
	return fail;
}

enum column { COL_RATE, COL_TRAFFIC, COL_FAULTS };

/* A table of one number per phase and configuration ("-" where not measured). */
static void print_column_table(const struct opts *o, const struct cfg_res *res, enum column c)
{
	for (int k = 0; k < o->nhot + 2; k++) {
		row_head(o, k);
		for (size_t i = 0; i < NCFG; i++) {
			if (!o->run[i])
				continue;
			const struct phase_res *ph = &res[i].ph[k];
			if (!done(&res[i], k) || (c == COL_FAULTS && ph->fault_ratio < 0))
				printf(" %10s", "-");
			else if (c == COL_RATE)
				printf(" %10.3f", ph->rate / 1e6);
			else if (c == COL_TRAFFIC)
				printf(" %10.1f", ph->traffic / (double)MiB);
			else
				printf(" %10.2f", ph->fault_ratio);
		}
		printf("\n");
	}
}

static void print_rates(const struct opts *o, const struct cfg_res *res)
{
	printf("\n== updates/s (millions; settled: mean of the second half of each phase) ==\n");
	printf("%-8s %-7s", "phase", "hot");
	for (size_t i = 0; i < NCFG; i++)
		if (o->run[i])
			printf(" %10s", all_cfgs[i].name);
	printf("\n");
	print_column_table(o, res, COL_RATE);
}

static void print_ratios(const struct opts *o, const struct cfg_res *res)
{
	const struct cfg_res *ram = res_of(res, o, "allram"), *orc = res_of(res, o, "oracle");
	printf("\n== ratios: to all-in-RAM (a) / to the oracle (d) ==\n");
	for (int k = 0; k < o->nhot + 2; k++) {
		row_head(o, k);
		for (size_t i = 0; i < NCFG; i++) {
			if (!o->run[i])
				continue;
			char cell[32] = "-";
			if (done(&res[i], k)) {
				double r = res[i].ph[k].rate;
				char a[12] = "-", d[12] = "-";
				if (done(ram, k) && ram->ph[k].rate > 0)
					snprintf(a, sizeof(a), "%.0f%%", 100 * r / ram->ph[k].rate);
				if (done(orc, k) && orc->ph[k].rate > 0)
					snprintf(d, sizeof(d), "%.0f%%", 100 * r / orc->ph[k].rate);
				snprintf(cell, sizeof(cell), "%s/%s", a, d);
			}
			printf(" %10s", cell);
		}
		printf("\n");
	}
}

static void print_paired(const struct opts *o, const struct cfg_res *res)
{
	printf("\n== idle, paired in one process: hetmem / its all-in-RAM reference (M/s), alternating 100 ms "
	       "windows; allram: plain / another plain region, the control ==\n");
	for (int k = 0; k < o->nhot; k++) {
		row_head(o, k);
		for (size_t i = 0; i < NCFG; i++) {
			if (!o->run[i])
				continue;
			char cell[40] = "-";
			const struct phase_res *ph = &res[i].ph[k];
			if (done(&res[i], k) && ph->ref_rate > 0)
				snprintf(cell, sizeof(cell), "%.1f/%.1f=%.0f%%", ph->rate / 1e6, ph->ref_rate / 1e6,
					 100 * ph->rate / ph->ref_rate);
			printf(" %18s", cell);
		}
		printf("\n");
	}
}

static void print_moving(const struct opts *o, const struct cfg_res *res)
{
	int last = o->nhot + 1;
	printf("\n== moving: settled before the jump, after it, and the time to get back to 90%% ==\n");
	for (size_t i = 0; i < NCFG; i++) {
		if (!o->run[i] || !done(&res[i], last))
			continue;
		const struct phase_res *m = &res[i].ph[last];
		char rec[32];
		if (m->recover_s >= 0)
			snprintf(rec, sizeof(rec), "%.1f s", m->recover_s);
		else
			snprintf(rec, sizeof(rec), "not within %.0f s", o->seconds);
		printf("  %-9s before %.3f M/s, after %.3f M/s, recovery %s\n", all_cfgs[i].name, m->rate / 1e6,
		       m->after / 1e6, rec);
	}
}

/* The targets of one hetmem configuration (@r NULL when it failed). */
static void print_cfg_targets(const struct opts *o, const struct cfg_res *res, const char *name,
			      const struct cfg_res *r)
{
	const struct cfg_res *ram = res_of(res, o, "allram"), *orc = res_of(res, o, "oracle");
	const struct cfg_res *fifo = res_of(res, o, "fifo"), *ker = res_of(res, o, "kernel");
	int last = o->nhot + 1;
	char what[96];
	for (int k = 0; k < o->nhot; k++) {
		if (o->hot[k] > o->budget / 4 * 3)
			continue;
		char h[16];
		fmt_size(h, sizeof(h), o->hot[k]);
		snprintf(what, sizeof(what), "%s idle %s / all-in-RAM (>= 90%%)", name, h);
		target_ratio(what, r, ram, k, 100, 90, "%");
		if (o->paired_idle) {
			bool have = done(r, k) && r->ph[k].ref_rate > 0;
			snprintf(what, sizeof(what), "%s idle %s / all-in-RAM paired (>= 90%%)", name, h);
			target(what, have, have ? 100 * r->ph[k].rate / r->ph[k].ref_rate : 0, 90, "%", true);
		}
	}
	int s = o->nhot;
	snprintf(what, sizeof(what), "%s skewed / oracle (>= 90%%)", name);
	target_ratio(what, r, orc, s, 100, 90, "%");
	if (strcmp(name, "fifo")) {
		snprintf(what, sizeof(what), "%s skewed / fifo (>= 1.5x)", name);
		target_ratio(what, r, fifo, s, 1, 1.5, "x");
	}
	snprintf(what, sizeof(what), "%s skewed / kernel+zram (>= 1x)", name);
	target_ratio(what, r, ker, s, 1, 1.0, "x");
	snprintf(what, sizeof(what), "%s moving: back to 90%% after the jump (<= 10 s)", name);
	bool have = done(r, last);
	target(what, have, have ? r->ph[last].recover_s : -1, 10, " s", false);
}

static void print_targets(const struct opts *o, const struct cfg_res *res)
{
	printf("\n== targets ==\n");
	for (size_t i = 0; i < NCFG; i++)
		if (all_cfgs[i].kind == C_HETMEM && o->run[i])
			print_cfg_targets(o, res, all_cfgs[i].name, res[i].ok ? &res[i] : NULL);
}

int main(int argc, char **argv)
{
	struct opts o = {.ws = 8 * GiB, .budget = 2 * GiB, .seconds = 20};
	struct given g = {0};
	for (size_t i = 0; i < NCFG; i++)
		o.run[i] = true;
	int rc = parse_args(argc, argv, &o, &g);
	if (rc < 0)
		rc = settle_opts(&o, &g);
	if (rc >= 0)
		return rc;
	print_setup(&o);

	struct cfg_res res[NCFG];
	bool fail = run_configs(&o, res);

	print_rates(&o, res);
	print_ratios(&o, res);
	if (o.paired_idle)
		print_paired(&o, res);
	printf("\n== migration traffic (MiB/s, promoted + demoted; kernel: pswpin + pswpout) ==\n");
	print_column_table(&o, res, COL_TRAFFIC);
	printf("\n== faults per 1000 updates over each settled half (placement, whatever the machine's speed; "
	       "kernel: pages swapped in) ==\n");
	print_column_table(&o, res, COL_FAULTS);
	print_moving(&o, res);
	print_targets(&o, res);
	return fail ? 1 : 0;
}
