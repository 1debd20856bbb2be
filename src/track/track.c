/*
 * track.c — hotness tracking of RESIDENT folios, without hardware counters.
 *
 * Faults on non-resident pages are free access events (fault.c gives them to
 * the policy).  A folio that stays in RAM and is used faults no more, so the
 * tracker adds two mechanisms, both run from the reclaimer's scan
 * (hm_track_scan, reclaim.c) and both bounded by a CPU budget:
 *
 *  - Write tracking.  "wp-async": the userfaultfd is opened with
 *    UFFD_FEATURE_WP_ASYNC (+ WP_UNPOPULATED) and regions are registered for
 *    write-protect; each scan, the PAGEMAP_SCAN ioctl with
 *    PM_SCAN_WP_MATCHING reports the pages written since the last scan
 *    (PAGE_IS_WRITTEN) and write-protects them again, in one page-table walk.
 *    A write to a protected page is resolved by the kernel itself (no
 *    message), so it costs a minor fault once per page per scan.  Async
 *    write-protect changes WP semantics for the whole userfaultfd: a sync WP
 *    fault no longer parks the writer.  So wp-async is only used in MOVE
 *    demotion mode, and there migrate.c uses the WP path only for read-only
 *    folios (hm_protect then takes the folio locks, so a folio cannot become
 *    writable in the middle of its demotion); a folio UFFDIO_MOVE refuses
 *    (pages shared with a forked child, a transient EBUSY/ENOMEM) stays in
 *    RAM instead of falling back to WP demotion.  Because of that cost,
 *    wp-async is used only when write tracking is asked for by name
 *    (HETMEM_TRACK=write or all); "auto" (the default) takes soft-dirty
 *    where the kernel has it, and read sampling, which sees writes too.
 *    wp-async used to lose pages under concurrent migrations (uffd_stress
 *    with HETMEM_TRACK=write: a demotion's UFFDIO_MOVE into staging
 *    answered EEXIST and the page later read zeros).  The cause was not
 *    write-protect markers but a UFFDIO_MOVE that misreports: on Linux 6.18,
 *    with async write-protect in use and non-cooperative events pending
 *    (EAGAIN), a move that DID move the page can answer EEXIST with nothing
 *    counted as moved (seen in uffd_stress traces, where the staging slot
 *    was checked empty just before the call, and in a standalone probe).
 *    migrate.c took it at its word and left the folio HOST with its only
 *    copy in staging.  Now every failed move is checked against the page
 *    tables (stage_folio in migrate.c; take_sample here), and the
 *    "uffd_move_misreport" injection site tests that path.  Markers were
 *    checked and ruled out on 6.18: the scan asks only for PRESENT written
 *    pages, so it installs no marker on a hole (without that category mask
 *    it would); MADV_DONTNEED drops markers in anonymous memory; a page
 *    moved out leaves an empty PTE, not a marker.  Markers do appear where
 *    UFFDIO_WRITEPROTECT covers a hole (the WP demotion of a read-only
 *    folio); UFFDIO_MOVE into one answers EEXIST and UFFDIO_ZEROPAGE
 *    EEXIST, UFFDIO_COPY fills it and unprotecting drops it, which the
 *    fill, put-back and restore paths rely on.  wp-async stays opt-in
 *    (HETMEM_TRACK_WPASYNC=1 with HETMEM_TRACK=write or all): it takes the
 *    write-protect fallback away from MOVE demotion (a folio UFFDIO_MOVE
 *    refuses stays in RAM), and the kernel misbehaviour it works around is
 *    observed, not explained; on a kernel without soft-dirty (this
 *    project's machine) there is otherwise no write tracking.
 *    "soft-dirty" (the fallback, e.g. with HETMEM_DEMOTE=wp): each scan
 *    reads bit 55 of /proc/self/pagemap for every managed page, then writes
 *    "4" to /proc/self/clear_refs.  That clear is PROCESS-WIDE: it
 *    write-protects every page of the process (heap, stacks, unmanaged
 *    memory too), so the first write to any page after each scan takes a
 *    minor fault, and it resets soft-dirty bits other users of them (CRIU)
 *    rely on.  A write between the read and the clear is missed.
 *
 *  - Read sampling by hint faults ("sample").  Each scan takes a
 *    rate-limited sample of resident folios, from a window that sweeps all
 *    managed folios from a random start, out of the page table: the
 *    folio's pages are moved with UFFDIO_MOVE (no copy) into a private hold
 *    area registered with the same userfaultfd; the page-table words keep
 *    LOC = HOST and get the SAMPLED bit.  When the program touches one, the
 *    fault handler moves the pages straight back (hm_folio_fetch ->
 *    hm_track_restore) and gives the policy an HM_EV_HINT.  Samples not
 *    touched within HETMEM_TRACK_SAMPLE_MS (1 s) are put back by a later scan, with no event:
 *    that is cold evidence.  Like NUMA balancing's hint faults, this sees
 *    reads as well as writes.
 *
 * Correctness of sampling.  A sample (struct sample) covers pages
 * [page, page+n) of a region and sits at @hold in the hold area.  All
 * samples are in one table under T.lock, and a sample's data moves back only
 * under T.lock, so two parties never restore it twice.  The invariant is
 * that a page marked SAMPLED is absent from the page table and only a
 * restore repopulates it: every path that works on a folio's data first
 * puts its samples back (hm_folio_fetch: program faults, device accesses,
 * evictions, fork; hm_migrate_region phase 1: migrations, reclaim,
 * shutdown), so it sees an ordinary resident folio.  Discards and unmaps
 * (REMOVE/UNMAP events, hm_free, region_free) drop the held copy of the
 * pages concerned (hm_track_drop); a partial mremap re-keys or splits the
 * samples to the new region (hm_track_remap) — the held data follows the
 * addresses.  Before fork every sample is put back (and any that could not
 * be is fenced with SIGBUS in the child like a page on a device).  Taking a
 * sample needs the folio lock (trylock) and the fork lock shared, and only
 * folios wholly HOST, unprotected, with no event pending and no device
 * write in flight are taken.  A restore that meets -EAGAIN (an event waits
 * to be read) on the handler thread gives up at once and the faulting
 * thread faults again; elsewhere it retries outside T.lock.  If a sample's
 * region is now read-only (hm_protect), UFFDIO_MOVE refuses (EINVAL: the
 * VMAs' protections differ) and the pages are copied back with UFFDIO_COPY.
 *
 * CPU budget: each scan is timed with CLOCK_THREAD_CPUTIME_ID, hint faults
 * are timed on the handler thread (hm_track_charge) and each is also charged
 * the program's own time (its trap, sleep and wake-up), as measured by a
 * probe fault the reclaimer times once per scan, from a CPU other than the
 * handler's (probe_hint_cost: the median of the last 8; 50 us until the
 * first), and a write scan is also charged an estimated WP_FAULT_NS per
 * page it re-protects (the minor fault the program takes at its next write
 * there); a credit grows by cpu_pct% of the wall time elapsed and pays for
 * all of it.  With no credit, a scan does no write scan and takes no
 * sample; the number of samples per scan halves when over budget and grows
 * by a quarter when well under.
 */
#include "internal.h"
#include "os/uffd_compat.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* PAGEMAP_SCAN (Linux 6.7 uapi; not in Debian 12's headers) */
struct hm_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct hm_page_region {
	uint64_t start, end, categories;
};
#define HM_PAGEMAP_SCAN _IOWR('f', 16, struct hm_pm_scan_arg)
#define HM_PM_SCAN_WP_MATCHING (1ull << 0)
#define HM_PAGE_IS_WRITTEN (1ull << 1)
#define HM_PAGE_IS_PRESENT (1ull << 3)
#define PM_SOFT_DIRTY (1ull << 55)

#define HOLD_CHUNK HM_FOLIO_2M
#define NCHUNK 4096         /* samples in flight at most (8 GiB of address space,
			     * reserved, populated only where a sample is) */
#define NCHUNK_MIN 64       /* the smallest hold area worth having (128 MiB) */
#define MAX_ENT 8192        /* samples, with room for splits by mremap */
#define DEFAULT_SAMPLE_MS 1000 /* an untouched sample goes back after this long */
#define DEFAULT_CPU_PCT 2
#define DEFAULT_SAMPLES 64  /* samples per scan at most, by default */
#define EAGAIN_TRIES 1000
/* What one async write-protect fault costs the program (a minor fault in the
 * kernel, no message): each page a write scan re-protects will take one
 * when written again, so the scan is charged this much per page it found
 * written (an estimate, not measured at run time). */
#define WP_FAULT_NS 1000
/* What a hint fault costs the PROGRAM beyond the handler's CPU time (which is
 * measured and charged too): the faulting thread traps, sleeps while the
 * handler is woken and serves the fault, and is woken again.  Measured on
 * the project's 2-vCPU VM (a bench_track-style loop with sampling at 20
 * times the default rate, so the cost stands out of the noise), in program
 * time per hint fault, handler included: 10-25 us when the program and the
 * handler share a CPU (since the handler's spin yields; 65-100 us before),
 * up to ~250 us when the other vCPU was idle and each of the two wake-ups
 * went through the hypervisor.  Charging only the handler's ~15 us of CPU
 * let the budget admit several times the overhead it claims to bound.  The
 * handler cannot time it (the fault message carries no time stamp, and the
 * faulting thread's wait is not visible to it), so a probe measures it
 * (below); this estimate stands until the first probe. */
#define HINT_FAULT_NS 50000
/* The cost is measured at run time by a probe: once per scan the reclaimer
 * reads a page that is not there in a chunk of the hold area kept for it
 * (PROBE_CHUNK, never a sample's), which takes the same round trip as a
 * hint fault (trap, the handler woken, a UFFDIO_ZEROPAGE instead of the
 * move back, the faulting thread woken), and times it; each hint fault is
 * charged the median of the last 8 probes on top of the handler's CPU time.
 * The reclaimer faults from a CPU other than the one the handler last ran
 * on, as a program thread does: at the fault its own CPU is busy (the
 * faulting thread is still on it), so the scheduler wakes the handler on
 * another, and on a VM the handler's wake-up and the faulting thread's each
 * cross vCPUs.  Probing from wherever the reclaimer happened to be, often
 * the handler's own CPU, measured the cheap local round trip: 27-50 us on
 * the 2-vCPU VM, against 75-160 us from the other CPU.  With the higher
 * figure the 2% budget admits a third to a half as many samples when
 * nothing is under pressure (bench_track --paired 100: 4,162-4,995 samples
 * against ~14,950).  What read sampling then costs the program is within
 * this VM's noise of the 3% target (docs/bench-logs/JOURNAL.md).  (A probe now and
 * then lands behind the program on its CPU and takes a scheduler slice,
 * 2-5 ms: the median of 8 drops those.) */
#define PROBE_CHUNK (T.nchunk - 1)

enum wr_mech { WR_NONE, WR_WPASYNC, WR_SOFTDIRTY };
static const char *const wr_name[] = {"none", "wp-async", "soft-dirty"};

struct sample {
	struct hm_region *r; /* no reference: region_free drops its samples first */
	size_t page, n;      /* pages [page, page+n) of r */
	uintptr_t hold;      /* where their data is */
	int chunk;
	uint32_t born;       /* hm_clock_ms() when taken */
};

static struct {
	/* settings (hm_track_config / hm_track_set) */
	unsigned want;        /* HM_TRACK_* asked for (0: auto) */
	_Atomic unsigned cpu_pct; /* hm_track_set may change it at any time */
	unsigned max_samples; /* per scan */
	unsigned scan_ms;     /* the reclaimer's scan interval under budget */
	unsigned sample_ms;   /* how long a sample stays out */
	unsigned next_chunk;  /* where chunk_alloc looks first */
	/* what this process can do (hm_track_choose) */
	unsigned avail;
	enum wr_mech wr_avail; /* the write mechanism if WRITE is on */
	_Atomic unsigned on;   /* in force */
	int pm_fd, cr_fd;
	/* the hold area and the samples */
	pthread_mutex_t lock;
	_Atomic uintptr_t hold_base; /* read by the handler (hm_track_in_hold) */
	int nchunk;                  /* chunks in the hold area (<= NCHUNK) */
	bool no_room;                /* no hold area fitted the address-space limit */
	struct sample ent[MAX_ENT];
	size_t nent;
	uint16_t chunk_refs[NCHUNK];
	bool chunk_dirty[NCHUNK]; /* may hold stale data: zap before reuse */
	bool chunk_zap[NCHUNK];   /* free but dirty: the reclaimer zaps it */
	/* budget: reclaimer thread only */
	int64_t credit_ns;
	uint64_t last_wall;
	unsigned nsample;
	uint64_t rng;
	_Atomic uint64_t charged; /* handler CPU time on hint faults (ns) */
	_Atomic uint64_t hints;   /* hint faults charged, hint_ns each */
	uint64_t hint_ns;         /* program time per hint fault: median of the probes */
	uint64_t probe_ns[8];     /* the last 8 probes (0: none yet) */
	unsigned nprobe;
	size_t probe_off;         /* next page of the probe chunk */
} T = {.lock = PTHREAD_MUTEX_INITIALIZER, .pm_fd = -1, .cr_fd = -1};

static uint64_t ns_of(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------- */
/* Settings                                                                 */
/* ---------------------------------------------------------------------- */

static int parse_track(const char *s, unsigned *out)
{
	unsigned m = 0;
	char buf[128];
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcasecmp(tok, "auto"))
			m |= HM_TRACK_AUTO;
		else if (!strcasecmp(tok, "none"))
			m |= HM_TRACK_NONE;
		else if (!strcasecmp(tok, "faults"))
			m |= HM_TRACK_FAULTS;
		else if (!strcasecmp(tok, "write"))
			m |= HM_TRACK_WRITE;
		else if (!strcasecmp(tok, "sample"))
			m |= HM_TRACK_SAMPLE;
		else if (!strcasecmp(tok, "all"))
			m |= HM_TRACK_ALL;
		else
			return -EINVAL;
	}
	if ((m & HM_TRACK_NONE) && (m & ~HM_TRACK_NONE))
		return -EINVAL;
	*out = m;
	return 0;
}

int hm_track_config(const struct hm_config *cfg)
{
	unsigned want = cfg ? cfg->track : 0;
	unsigned pct = cfg && cfg->track_cpu_pct ? cfg->track_cpu_pct : DEFAULT_CPU_PCT;
	if (want & ~(HM_TRACK_ALL | HM_TRACK_NONE) || ((want & HM_TRACK_NONE) && (want & ~HM_TRACK_NONE)))
		return hm_error(EINVAL, "hm_init: bad track mechanisms 0x%x (HM_TRACK_* bits; NONE alone)", want);
	if (pct > 100)
		return hm_error(EINVAL, "hm_init: track_cpu_pct %u > 100", pct);
	const char *e = getenv("HETMEM_TRACK");
	if (e && *e && parse_track(e, &want))
		return hm_error(EINVAL, "HETMEM_TRACK='%s': expected auto, none, faults, write, sample, all "
					"or a comma list of faults, write, sample", e);
	e = getenv("HETMEM_TRACK_CPU");
	if (e && *e) {
		char *end;
		unsigned long v = strtoul(e, &end, 10);
		if (*end == '%')
			end++;
		if (*end || v < 1 || v > 100)
			return hm_error(EINVAL, "HETMEM_TRACK_CPU='%s': expected 1..100 (percent of one CPU)", e);
		pct = (unsigned)v;
	}
	unsigned samples = DEFAULT_SAMPLES, sample_ms = DEFAULT_SAMPLE_MS, scan_ms = 500;
	int rc = hm_env_uint("HETMEM_TRACK_SAMPLES", 1, NCHUNK, "folios per scan", &samples);
	if (!rc)
		rc = hm_env_uint("HETMEM_TRACK_SAMPLE_MS", 10, 10000, "ms", &sample_ms);
	if (!rc) /* a test hook: scans more often */
		rc = hm_env_uint("HETMEM_TRACK_SCAN_MS", 10, 10000, "ms", &scan_ms);
	if (rc)
		return rc;
	T.want = want;
	T.cpu_pct = pct;
	T.max_samples = samples;
	T.scan_ms = scan_ms;
	T.sample_ms = sample_ms;
	return 0;
}

unsigned hm_track_scan_ms(void)
{
	return T.scan_ms ? T.scan_ms : 500;
}

/* What this kernel and set-up allow, and the write mechanism. */
static void possible(const struct hm_features *f, enum hm_demote_mode demote, unsigned *avail, enum wr_mech *wr)
{
	*avail = HM_TRACK_FAULTS;
	*wr = WR_NONE;
	/* Opt-in (HETMEM_TRACK_WPASYNC=1): it takes the write-protect
	 * fallback away from MOVE demotion, and its data loss under
	 * concurrent migrations came from a UFFDIO_MOVE misreport that
	 * migrate.c now checks for (see the header comment) */
	const char *ok = getenv("HETMEM_TRACK_WPASYNC");
	if (f->wp_async && f->pagemap_scan && f->wp && demote == HM_DEMOTE_MOVE && ok && *ok == '1')
		*wr = WR_WPASYNC;
	else if (f->soft_dirty)
		*wr = WR_SOFTDIRTY;
	if (*wr != WR_NONE)
		*avail |= HM_TRACK_WRITE;
	if (f->move)
		*avail |= HM_TRACK_SAMPLE;
}

/* "auto" takes every mechanism that costs nothing else: not wp-async, which
 * takes away the write-protect fallback of MOVE demotion (see the header
 * comment): it must be asked for by name. */
static unsigned resolve(unsigned want, unsigned avail, enum wr_mech wr)
{
	if (want & HM_TRACK_NONE)
		return 0;
	if (want == HM_TRACK_AUTO)
		return wr == WR_WPASYNC ? avail & ~HM_TRACK_WRITE : avail;
	return want | HM_TRACK_FAULTS;
}

static int why_not(const char *fn, unsigned miss, enum hm_demote_mode demote, const struct hm_features *f)
{
	if (miss & HM_TRACK_WRITE)
		return hm_error(ENOTSUP, "%s: write tracking needs soft-dirty bits (CONFIG_MEM_SOFT_DIRTY), or async "
					 "write-protect + PAGEMAP_SCAN (Linux >= 6.7) with demote mode move%s and "
					 "HETMEM_TRACK_WPASYNC=1 (opt-in: folios UFFDIO_MOVE refuses then stay in RAM)",
				fn, demote == HM_DEMOTE_MOVE ? "" : " (in force: wp)");
	if (T.no_room && f->move)
		return hm_error(ENOTSUP, "%s: read sampling is off in this process: the address-space limit "
					 "(ulimit -v) left no room for its hold area", fn);
	return hm_error(ENOTSUP, "%s: read sampling needs UFFDIO_MOVE (Linux >= 6.8)", fn);
}

/* Fill f->track / f->track_write with what "auto" would choose. */
void hm_track_describe(struct hm_features *f, enum hm_demote_mode demote)
{
	unsigned avail;
	enum wr_mech wr;
	if (demote == HM_DEMOTE_AUTO)
		demote = f->move ? HM_DEMOTE_MOVE : HM_DEMOTE_WP;
	possible(f, demote, &avail, &wr);
	if (atomic_load(&hm_g.initialised)) {
		f->track = atomic_load(&T.on);
		f->track_write = wr_name[(f->track & HM_TRACK_WRITE) ? T.wr_avail : WR_NONE];
	} else {
		/* what HETMEM_TRACK=all would get */
		f->track = avail;
		f->track_write = wr_name[wr];
	}
}

int hm_track_choose(struct hm_features *f, uint64_t *want)
{
	unsigned avail;
	enum wr_mech wr;
	possible(f, hm_g.demote, &avail, &wr);
	unsigned on = resolve(T.want, avail, wr);
	if (on & ~avail)
		return why_not("hm_init", on & ~avail, hm_g.demote, f);
	/* async WP is a property of the whole userfaultfd: the uffd is opened
	 * with it only when write tracking is asked for at hm_init; otherwise
	 * write tracking stays unavailable (hm_track_set answers -ENOTSUP) */
	if (wr == WR_WPASYNC && !(on & HM_TRACK_WRITE)) {
		wr = WR_NONE;
		avail &= ~HM_TRACK_WRITE;
	}
	T.avail = avail;
	T.wr_avail = wr;
	atomic_store(&T.on, on);
	*want = wr == WR_WPASYNC ? (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED) : 0;
	f->track = on;
	f->track_write = wr_name[(on & HM_TRACK_WRITE) ? wr : WR_NONE];
	T.nsample = T.max_samples;
	T.hint_ns = HINT_FAULT_NS;
	T.probe_off = 0;
	T.nprobe = 0;
	T.credit_ns = 0;
	T.last_wall = 0;
	T.rng = ns_of(CLOCK_MONOTONIC) | 1;
	T.no_room = false;
	return 0;
}

bool hm_track_wp_async(void)
{
	return T.wr_avail == WR_WPASYNC && atomic_load(&hm_g.initialised);
}

int hm_track_start(void)
{
	if (T.wr_avail == WR_SOFTDIRTY) {
		T.pm_fd = hm_fd_open("/proc/self/pagemap", O_RDONLY, 0, &T.pm_fd);
		T.cr_fd = hm_fd_open("/proc/self/clear_refs", O_WRONLY, 0, &T.cr_fd);
		if (T.pm_fd < 0 || T.cr_fd < 0) {
			/* no soft-dirty after all: no write tracking */
			T.avail &= ~HM_TRACK_WRITE;
			T.wr_avail = WR_NONE;
			atomic_fetch_and(&T.on, ~HM_TRACK_WRITE);
		}
	}
	if (!(T.avail & HM_TRACK_SAMPLE))
		return 0;
	/* The hold area is address space only, but it counts against
	 * RLIMIT_AS: a program started with a `ulimit -v` must still have the
	 * room it would have without hetmem.  Under a limit the area takes at
	 * most a sixteenth of it, and halves until it fits, down to NCHUNK_MIN
	 * chunks; without even that the process runs with no read sampling
	 * (said by hetmem info and hm_track_set). */
	uintptr_t base;
	int rc = -ENOMEM;
	int n = NCHUNK;
	struct rlimit as;
	if (!getrlimit(RLIMIT_AS, &as) && as.rlim_cur != RLIM_INFINITY)
		while (n >= NCHUNK_MIN && (rlim_t)n * HOLD_CHUNK > as.rlim_cur / 16)
			n /= 2;
	for (; n >= NCHUNK_MIN; n /= 2) {
		rc = hm_map_registered((size_t)n * HOLD_CHUNK, HOLD_CHUNK, "the tracker's hold area", &base);
		if (rc != -ENOMEM)
			break;
	}
	if (rc == -ENOMEM && T.want != HM_TRACK_AUTO && (T.want & HM_TRACK_SAMPLE))
		return hm_error(ENOMEM, "hm_init: read sampling (asked for by name) needs at least %d MiB of "
					"address space for its hold area, and the address-space limit (ulimit -v) "
					"leaves less", NCHUNK_MIN * 2);
	if (rc == -ENOMEM) {
		T.avail &= ~HM_TRACK_SAMPLE;
		atomic_fetch_and(&T.on, ~HM_TRACK_SAMPLE);
		T.no_room = true;
		hm_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	T.nchunk = n;
	T.hold_base = base;
	return 0;
}

void hm_track_stop(void)
{
	hm_track_restore_all();
	pthread_mutex_lock(&T.lock);
	/* anything still held belongs to memory that is gone */
	T.nent = 0;
	memset(T.chunk_refs, 0, sizeof(T.chunk_refs));
	memset(T.chunk_dirty, 0, sizeof(T.chunk_dirty));
	memset(T.chunk_zap, 0, sizeof(T.chunk_zap));
	if (T.hold_base) {
		hm_prim_uffd_unregister(hm_g.uffd, T.hold_base, (size_t)T.nchunk * HOLD_CHUNK);
		hm_sys_munmap((void *)T.hold_base, (size_t)T.nchunk * HOLD_CHUNK);
		T.hold_base = 0;
	}
	pthread_mutex_unlock(&T.lock);
	if (T.pm_fd >= 0)
		hm_fd_close(T.pm_fd);
	if (T.cr_fd >= 0)
		hm_fd_close(T.cr_fd);
	T.pm_fd = T.cr_fd = -1;
	atomic_store(&T.on, 0);
	/* T.avail and T.wr_avail stay until the next hm_init: the handler,
	 * still running, may read them (hm_track_wp_async) */
}

bool hm_track_in_hold(uintptr_t a)
{
	uintptr_t b = atomic_load_explicit(&T.hold_base, memory_order_relaxed);
	return b && a >= b && a < b + (size_t)T.nchunk * HOLD_CHUNK;
}

HM_API int hm_track_set(unsigned mechanisms, unsigned cpu_pct)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_track_set: hetmem is not initialised");
	if (mechanisms & ~(HM_TRACK_ALL | HM_TRACK_NONE) ||
	    ((mechanisms & HM_TRACK_NONE) && (mechanisms & ~HM_TRACK_NONE)))
		return hm_error(EINVAL, "hm_track_set: bad mechanisms 0x%x (HM_TRACK_* bits; NONE alone)", mechanisms);
	if (cpu_pct > 100)
		return hm_error(EINVAL, "hm_track_set: a CPU budget of %u%% is over 100%%", cpu_pct);
	unsigned on = resolve(mechanisms, T.avail, T.wr_avail);
	if (on & ~T.avail) {
		if ((on & ~T.avail & HM_TRACK_WRITE) && hm_g.feat.wp_async && hm_g.feat.pagemap_scan &&
		    hm_g.demote == HM_DEMOTE_MOVE)
			return hm_error(ENOTSUP, "hm_track_set: write tracking by async write-protect must be "
						 "chosen at hm_init (HETMEM_TRACK=write or all, or hm_config.track)");
		return why_not("hm_track_set", on & ~T.avail, hm_g.demote, &hm_g.feat);
	}
	if (cpu_pct)
		T.cpu_pct = cpu_pct;
	T.want = mechanisms;
	atomic_store(&T.on, on);
	return 0;
}

HM_API unsigned hm_track_get(unsigned *cpu_pct)
{
	if (cpu_pct)
		*cpu_pct = T.cpu_pct ? T.cpu_pct : DEFAULT_CPU_PCT;
	unsigned on = atomic_load(&T.on);
	return on ? on : HM_TRACK_FAULTS;
}

void hm_track_charge(uint64_t ns)
{
	atomic_fetch_add_explicit(&T.charged, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&T.hints, 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------------- */
/* Samples: the table (under T.lock)                                        */
/* ---------------------------------------------------------------------- */

static int chunk_alloc(void)
{
	for (int k = 0; k < T.nchunk; k++) {
		int i = (int)((T.next_chunk + (unsigned)k) % (unsigned)T.nchunk);
		if (i != PROBE_CHUNK && !T.chunk_refs[i] && !T.chunk_zap[i]) {
			T.chunk_refs[i] = 1;
			T.next_chunk = (unsigned)i + 1;
			return i;
		}
	}
	return -1;
}

static void ent_remove(size_t k)
{
	struct sample *e = &T.ent[k];
	/* a chunk that may hold stale pages is zapped by the reclaimer before
	 * it is used again (zap_chunks): never here, since MADV_DONTNEED on
	 * the registered hold area waits for the handler to read its REMOVE
	 * event, and this may run on the handler or hold up the handler */
	if (--T.chunk_refs[e->chunk] == 0 && T.chunk_dirty[e->chunk])
		T.chunk_zap[e->chunk] = true;
	T.ent[k] = T.ent[--T.nent];
}

static void clear_bits(struct hm_region *r, size_t i, size_t n)
{
	for (size_t k = i; k < i + n; k++)
		atomic_fetch_and(&r->words[k], ~PW_SAMPLED);
}

/* Copy back the present pages of @e from @off on (the region became
 * read-only, so UFFDIO_MOVE refuses).  Only present hold pages are read: a
 * hole would fault on the hold area.  0 or -errno (progress in *off). */
static int copy_back(struct sample *e, uintptr_t dst, size_t *off)
{
	size_t len = e->n << HM_PAGE_SHIFT;
	unsigned char present[HM_MAX_FOLIO_PAGES];
	while (*off < len) {
		size_t chunk = len - *off;
		if (chunk > ((size_t)HM_MAX_FOLIO_PAGES << HM_PAGE_SHIFT))
			chunk = (size_t)HM_MAX_FOLIO_PAGES << HM_PAGE_SHIFT;
		int rc = hm_prim_pages_present((void *)(e->hold + *off), chunk, present);
		if (rc)
			return rc;
		for (size_t k = 0; k < chunk >> HM_PAGE_SHIFT; k++) {
			if (present[k] & 1) {
				size_t done = 0;
				rc = hm_prim_uffd_copy(hm_g.uffd, dst + *off, (void *)(e->hold + *off), HM_PAGE_SIZE, false,
						       &done);
				if (rc && rc != -EEXIST)
					return rc;
			}
			*off += HM_PAGE_SIZE;
		}
	}
	return 0;
}

/* Put sample @k's data back into its region and forget the sample.
 * 0, or -EAGAIN (progress kept; try again), or another -errno (kept). */
static int restore_ent(size_t k)
{
	struct sample *e = &T.ent[k];
	uintptr_t dst = e->r->base + (e->page << HM_PAGE_SHIFT);
	size_t len = e->n << HM_PAGE_SHIFT, off = 0;
	int rc = 0;
	while (off < len) {
		size_t done = 0;
		rc = hm_prim_uffd_move(hm_g.uffd, dst + off, e->hold + off, len - off, &done);
		off += done;
		if (!rc)
			break;
		if (rc == -EEXIST) {
			/* present in the region already (restored before by a
			 * partial restore, or never moved out by a partial sample),
			 * or a write-protect marker UFFDIO_MOVE takes for present:
			 * UFFDIO_COPY tells them apart (it fills a marker), so copy
			 * the rest; what stays in the hold area is stale */
			off &= ~(HM_PAGE_SIZE - 1);
			T.chunk_dirty[e->chunk] = true;
			rc = copy_back(e, dst, &off);
			break;
		}
		if (rc == -EINVAL) { /* protections differ now (hm_protect) */
			T.chunk_dirty[e->chunk] = true;
			rc = copy_back(e, dst, &off);
		}
		break;
	}
	if (rc) {
		/* what moved back is back; shrink the sample to the rest so a
		 * retry does not walk it again */
		size_t skip = off >> HM_PAGE_SHIFT;
		if (skip && skip < e->n) {
			clear_bits(e->r, e->page, skip);
			e->page += skip;
			e->n -= skip;
			e->hold += skip << HM_PAGE_SHIFT;
		}
		return rc;
	}
	clear_bits(e->r, e->page, e->n);
	ent_remove(k);
	return 0;
}

static bool overlaps(const struct sample *e, const struct hm_region *r, size_t i, size_t n)
{
	return e->r == r && e->page < i + n && i < e->page + e->n;
}

int hm_track_restore(struct hm_region *r, size_t head)
{
	size_t fp = region_folio_pages(r);
	bool handler = hm_on_handler();
	for (int tries = 0;; tries++) {
		int rc = 0;
		pthread_mutex_lock(&T.lock);
		for (size_t k = 0; k < T.nent && !rc;) {
			if (!overlaps(&T.ent[k], r, head, fp)) {
				k++;
				continue;
			}
			rc = restore_ent(k); /* on success entry k is now another one */
			if (rc)
				break;
		}
		pthread_mutex_unlock(&T.lock);
		/* EAGAIN: an event waits for the handler; never wait for it on
		 * the handler itself, and never while holding T.lock */
		if (rc != -EAGAIN || handler || tries >= EAGAIN_TRIES)
			return rc;
		struct timespec ts = {0, 20 * 1000};
		nanosleep(&ts, NULL);
	}
}

void hm_track_restore_all(void)
{
	for (int tries = 0; tries < EAGAIN_TRIES; tries++) {
		bool again = false;
		pthread_mutex_lock(&T.lock);
		for (size_t k = 0; k < T.nent;) {
			if (restore_ent(k)) {
				again = true;
				k++;
			}
		}
		pthread_mutex_unlock(&T.lock);
		if (!again)
			return;
		struct timespec ts = {0, 20 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* Add a sample; caller holds T.lock.  False if the table is full. */
static bool ent_add(struct hm_region *r, size_t page, size_t n, uintptr_t hold, int chunk, uint32_t born);

void hm_track_drop(struct hm_region *r, size_t i, size_t n)
{
	pthread_mutex_lock(&T.lock);
	for (size_t k = 0; k < T.nent;) {
		struct sample *e = &T.ent[k];
		if (!overlaps(e, r, i, n)) {
			k++;
			continue;
		}
		size_t lo = e->page > i ? e->page : i;
		size_t hi = e->page + e->n < i + n ? e->page + e->n : i + n;
		size_t end = e->page + e->n;
		/* the held copies of [lo, hi) are stale now: no restore may put
		 * them back, so the sample stops covering them, and the chunk is
		 * zapped once free */
		T.chunk_dirty[e->chunk] = true;
		clear_bits(r, lo, hi - lo);
		if (lo == e->page && hi == end) {
			ent_remove(k);
			continue;
		}
		if (lo > e->page && hi < end &&
		    !ent_add(r, hi, end - hi, e->hold + ((hi - e->page) << HM_PAGE_SHIFT), e->chunk, e->born)) {
			/* no room to split (cannot happen while samples are only
			 * taken with 64 entries to spare, unless more than 64
			 * splits pile up within one sample's life): the part after
			 * loses its sample and would read zeros.  Said loudly. */
			fprintf(stderr, "hetmem: tracker: sample table full while dropping pages; "
					"%zu pages may read back as zeros\n", end - hi);
		}
		e = &T.ent[k];
		if (lo > e->page) {
			e->n = lo - e->page; /* the part before stays */
		} else {
			e->hold += (hi - e->page) << HM_PAGE_SHIFT;
			e->n = end - hi;
			e->page = hi;
		}
		k++;
	}
	pthread_mutex_unlock(&T.lock);
}

static bool ent_add(struct hm_region *r, size_t page, size_t n, uintptr_t hold, int chunk, uint32_t born)
{
	if (T.nent == MAX_ENT)
		return false;
	T.ent[T.nent++] = (struct sample){.r = r, .page = page, .n = n, .hold = hold, .chunk = chunk, .born = born};
	T.chunk_refs[chunk]++;
	return true;
}

void hm_track_remap(struct hm_region *from, size_t first, size_t n, struct hm_region *to)
{
	pthread_mutex_lock(&T.lock);
	size_t nent = T.nent; /* entries added below need no visit */
	for (size_t k = 0; k < nent; k++) {
		struct sample *e = &T.ent[k];
		if (!overlaps(e, from, first, n))
			continue;
		size_t lo = e->page > first ? e->page : first;
		size_t hi = e->page + e->n < first + n ? e->page + e->n : first + n;
		size_t end = e->page + e->n;
		uintptr_t hold = e->hold;
		size_t page = e->page;
		/* the moved part [lo, hi) follows @to; a part before stays in
		 * this entry, a part after gets an entry of its own */
		bool ok = true;
		if (lo > page)
			ok = ent_add(to, lo - first, hi - lo, hold + ((lo - page) << HM_PAGE_SHIFT), e->chunk, e->born);
		if (ok && hi < end)
			ok = ent_add(from, hi, end - hi, hold + ((hi - page) << HM_PAGE_SHIFT), e->chunk, e->born);
		if (!ok) {
			fprintf(stderr, "hetmem: tracker: no room to split a sample across an mremap; "
					"%zu pages may read back as zeros\n", hi - lo);
			continue;
		}
		e = &T.ent[k];
		if (lo > page) {
			e->n = lo - page;
		} else {
			e->r = to;
			e->page = lo - first;
			e->n = hi - lo;
		}
	}
	pthread_mutex_unlock(&T.lock);
}

/* ---------------------------------------------------------------------- */
/* Taking samples (reclaimer thread)                                        */
/* ---------------------------------------------------------------------- */

static uint64_t rnd(void)
{
	/* xorshift64 */
	uint64_t x = T.rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	T.rng = x;
	return x;
}

/* Whether folio @head can be taken; @locked: the caller holds its lock. */
static bool sampleable(struct hm_region *r, size_t head, size_t fp, bool locked)
{
	for (size_t i = head; i < head + fp; i++) {
		uint64_t w = atomic_load_explicit(&r->words[i], memory_order_relaxed);
		if (pw_loc(w) != HM_LOC_HOST || (w & (PW_PROT_MASK | PW_PENDING | PW_SAMPLED | PW_SELFZAP)))
			return false;
		if (i == head && !locked && (w & PW_MOVING))
			return false;
	}
	return true;
}

static bool take_sample(struct hm_region *r, size_t head)
{
	size_t fp = region_folio_pages(r);
	bool taken = false;
	if (atomic_load(&r->dying) || atomic_load(&r->dev_writers) || !sampleable(r, head, fp, false))
		return false;
	if (!hm_folio_trylock(r, head, NULL))
		return false;
	if (!sampleable(r, head, fp, true) || atomic_load(&r->dev_writers))
		goto out_unlock;
	pthread_mutex_lock(&T.lock);
	/* room for the sample, with a margin for splits by mremap meanwhile */
	int c = T.nent < MAX_ENT - 64 ? chunk_alloc() : -1;
	pthread_mutex_unlock(&T.lock);
	if (c < 0)
		goto out_unlock;
	uintptr_t hold = T.hold_base + (size_t)c * HOLD_CHUNK;
	uintptr_t addr = r->base + (head << HM_PAGE_SHIFT);
	size_t len = fp << HM_PAGE_SHIFT, done = 0;
	/* one try: EAGAIN or a refusal (pages shared with a child) just
	 * means another folio gets sampled */
	int rc = hm_prim_uffd_move(hm_g.uffd, hold, addr, len, &done);
	if (rc && !done) {
		/* The kernel may answer an error for pages it did move (seen
		 * on Linux 6.18 under async write-protect: EEXIST, move =
		 * -EEXIST, the page in the hold area and the program's PTE
		 * empty; see stage_folio in migrate.c).  The chunk was empty:
		 * a page present there now was moved, so this is a sample
		 * (a restore skips pages that stayed, EEXIST) */
		unsigned char pres[HM_MAX_FOLIO_PAGES];
		if (hm_prim_pages_present((void *)hold, len, pres)) {
			done = len; /* cannot tell: a sample restores whatever is there */
		} else {
			for (size_t k = 0; k < fp && !done; k++)
				if (pres[k] & 1)
					done = len;
		}
	}
	pthread_mutex_lock(&T.lock);
	if (!done) {
		T.chunk_refs[c] = 0;
	} else {
		/* a partial move is a sample too: a restore skips the pages
		 * that stayed (EEXIST) */
		T.ent[T.nent++] = (struct sample){.r = r, .page = head, .n = fp, .hold = hold, .chunk = c,
						  .born = hm_clock_ms()};
		for (size_t i = head; i < head + fp; i++)
			atomic_fetch_or(&r->words[i], PW_SAMPLED);
		HM_COUNT(track_samples, 1);
		taken = true;
	}
	pthread_mutex_unlock(&T.lock);
out_unlock:
	hm_folio_unlock(r, head);
	return taken;
}

/* Take @count samples, visiting all folios of all regions in a scattered
 * order (a stride prime to their number, from a random start): every
 * resident folio is offered in turn, so a folio in use is seen within
 * (folios / samples per scan) scans, and consecutive samples land in
 * different 2 MiB blocks, so every block's heat (policy.c) is measured
 * early rather than one block after another. */
static void take_samples(struct hm_region **rs, size_t n, unsigned count)
{
	static uint64_t cursor;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		if (!atomic_load(&rs[i]->dying))
			total += rs[i]->npages >> (rs[i]->folio_shift - HM_PAGE_SHIFT);
	if (!total || pthread_rwlock_tryrdlock(&hm_g.fork_lock))
		return;
	if (!cursor)
		cursor = rnd() | 1;
	uint64_t stride = 7919; /* prime to total: the order visits every folio */
	for (;;) {
		uint64_t a = stride, b = total;
		while (b) {
			uint64_t t = a % b;
			a = b;
			b = t;
		}
		if (a == 1)
			break;
		stride += 2;
	}
	/* @count samples taken, offering at most 16 folios per sample (those
	 * not resident cannot be sampled) and each folio at most once */
	unsigned taken = 0;
	for (uint64_t s = 0; taken < count && s < total && s < 16ull * count; s++) {
		uint64_t g = (uint64_t)(((unsigned __int128)cursor++ * stride) % total);
		for (size_t i = 0; i < n; i++) {
			struct hm_region *r = rs[i];
			if (atomic_load(&r->dying))
				continue;
			uint64_t nf = r->npages >> (r->folio_shift - HM_PAGE_SHIFT);
			if (g < nf) {
				taken += take_sample(r, (size_t)g << (r->folio_shift - HM_PAGE_SHIFT));
				break;
			}
			g -= nf;
		}
	}
	pthread_rwlock_unlock(&hm_g.fork_lock);
}

/* Samples untouched for T.sample_ms go back, with no event: cold evidence.
 * No waiting here (the handler may need T.lock): EAGAIN is tried again at
 * the next scan. */
static void return_stale(uint32_t now)
{
	/* T.lock is taken per sample, not across the whole walk: a hint fault
	 * the handler serves meanwhile (hm_track_restore) needs it, and its
	 * program thread waits for it.  The table may change between two
	 * restores (the handler removes entries, which moves the last one to
	 * the hole): a stale sample passed over that way goes back at the next
	 * scan, and none is restored twice (a restore removes it under the
	 * lock). */
	for (size_t k = 0;;) {
		pthread_mutex_lock(&T.lock);
		while (k < T.nent && now - T.ent[k].born < T.sample_ms)
			k++;
		if (k >= T.nent) {
			pthread_mutex_unlock(&T.lock);
			return;
		}
		struct hm_region *r = T.ent[k].r;
		size_t page = T.ent[k].page;
		if (restore_ent(k) == 0)
			hm_policy_sampled(r, page, false); /* untouched: cold evidence */
		else
			k++; /* EAGAIN: again at the next scan */
		pthread_mutex_unlock(&T.lock);
	}
}

/* ---------------------------------------------------------------------- */
/* Write tracking (reclaimer thread)                                        */
/* ---------------------------------------------------------------------- */

/* One event per written folio in [start, end) of @r; @last dedupes. */
static void written(struct hm_region *r, uintptr_t start, uintptr_t end, size_t *last)
{
	uintptr_t base = r->base;
	if (start < base)
		start = base;
	if (end > base + r->size)
		end = base + r->size;
	size_t fsz = (size_t)1 << r->folio_shift;
	for (uintptr_t a = start & ~(fsz - 1); a < end; a += fsz) {
		size_t head = (a - base) >> HM_PAGE_SHIFT;
		if (*last == head + 1)
			continue;
		*last = head + 1;
		if (pw_loc(atomic_load_explicit(&r->words[head], memory_order_relaxed)) != HM_LOC_HOST)
			continue;
		hm_policy_event(r, head, HM_EV_WRITE);
		HM_COUNT(track_written, 1);
	}
}

static uint64_t scan_wpasync(struct hm_region *r)
{
	uint64_t pages = 0;
	struct hm_page_region vec[256];
	uintptr_t start = r->base, end = r->base + r->size;
	size_t last = 0;
	while (start < end) {
		struct hm_pm_scan_arg a = {
			.size = sizeof(a),
			.flags = HM_PM_SCAN_WP_MATCHING,
			.start = start,
			.end = end,
			.vec = (uintptr_t)vec,
			.vec_len = 256,
			/* present pages only: with WP_UNPOPULATED (which
			 * WP_ASYNC implies) protecting a hole installs a
			 * marker, which UFFDIO_ZEROPAGE and UFFDIO_MOVE then
			 * refuse as "present" (EEXIST) */
			.category_mask = HM_PAGE_IS_WRITTEN | HM_PAGE_IS_PRESENT,
			.return_mask = HM_PAGE_IS_WRITTEN,
		};
		unsigned fs = hm_fd_enter(); /* fdguard.c: never the program's file */
		int n = ioctl(hm_fd_cur(T.pm_fd), HM_PAGEMAP_SCAN, &a);
		hm_fd_exit(fs);
		if (n < 0)
			return pages; /* e.g. the range was unmapped meanwhile */
		for (int k = 0; k < n; k++) {
			written(r, vec[k].start, vec[k].end, &last);
			pages += (vec[k].end - vec[k].start) >> HM_PAGE_SHIFT;
		}
		if (a.walk_end <= start || a.walk_end >= end)
			return pages;
		start = a.walk_end;
	}
	return pages;
}

static void scan_softdirty(struct hm_region *r)
{
	uint64_t ents[1024];
	size_t last = 0;
	uintptr_t base = r->base;
	for (size_t i = 0; i < r->npages;) {
		size_t chunk = r->npages - i < 1024 ? r->npages - i : 1024;
		unsigned fs = hm_fd_enter(); /* fdguard.c: never the program's file */
		ssize_t got = pread(hm_fd_cur(T.pm_fd), ents, chunk * 8, (off_t)(((base >> HM_PAGE_SHIFT) + i) * 8));
		hm_fd_exit(fs);
		if (got <= 0)
			return;
		size_t m = (size_t)got / 8;
		for (size_t k = 0; k < m; k++)
			if (ents[k] & PM_SOFT_DIRTY) {
				uintptr_t a = base + ((i + k) << HM_PAGE_SHIFT);
				written(r, a, a + HM_PAGE_SIZE, &last);
			}
		i += m;
	}
}

static void write_scan(struct hm_region **rs, size_t n)
{
	enum wr_mech wr = T.wr_avail;
	if (wr == WR_WPASYNC && T.pm_fd < 0)
		T.pm_fd = hm_fd_open("/proc/self/pagemap", O_RDONLY, 0, &T.pm_fd);
	if (T.pm_fd < 0)
		return;
	uint64_t reprotected = 0;
	for (size_t i = 0; i < n; i++) {
		if (atomic_load(&rs[i]->dying))
			continue;
		if (wr == WR_WPASYNC)
			reprotected += scan_wpasync(rs[i]);
		else
			scan_softdirty(rs[i]);
	}
	/* the program pays a minor fault for each page re-protected (and, with
	 * soft-dirty, for every page of the process it writes: not counted) */
	T.credit_ns -= (int64_t)(reprotected * WP_FAULT_NS);
	if (wr == WR_SOFTDIRTY) {
		unsigned fs = hm_fd_enter(); /* fdguard.c: never the program's file */
		ssize_t w = pwrite(hm_fd_cur(T.cr_fd), "4", 1, 0);
		hm_fd_exit(fs);
		if (w != 1)
			return;
	}
	HM_COUNT(track_write_scans, 1);
}

/* ---------------------------------------------------------------------- */
/* The scan step                                                            */
/* ---------------------------------------------------------------------- */

/* Empty the free chunks that may hold stale pages.  The MADV_DONTNEED is
 * made outside T.lock: it waits for the handler to read its REMOVE event,
 * and the handler may need T.lock meanwhile. */
static void zap_chunks(void)
{
	int list[NCHUNK], n = 0;
	pthread_mutex_lock(&T.lock);
	for (int i = 0; i < T.nchunk; i++)
		if (T.chunk_zap[i])
			list[n++] = i;
	pthread_mutex_unlock(&T.lock);
	for (int k = 0; k < n; k++)
		hm_sys_madvise((void *)(T.hold_base + (size_t)list[k] * HOLD_CHUNK), HOLD_CHUNK, MADV_DONTNEED);
	pthread_mutex_lock(&T.lock);
	for (int k = 0; k < n; k++) {
		T.chunk_zap[list[k]] = false;
		T.chunk_dirty[list[k]] = false;
	}
	pthread_mutex_unlock(&T.lock);
}

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
	 * descheduled (seen: 4.7 ms among probes of 16-80 us) must not
	 * throttle sampling for the next several scans, as a running mean did */
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

static size_t nent_now(void)
{
	pthread_mutex_lock(&T.lock);
	size_t n = T.nent;
	pthread_mutex_unlock(&T.lock);
	return n;
}

void hm_track_scan(struct hm_region **rs, size_t n)
{
	unsigned on = atomic_load(&T.on);
	size_t held = nent_now();
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
		return_stale(hm_clock_ms());
	zap_chunks();
	bool afford = T.credit_ns > 0;
	if (afford && (on & HM_TRACK_WRITE))
		write_scan(rs, n);
	if (afford && (on & HM_TRACK_SAMPLE) && T.hold_base) {
		probe_hint_cost();
		take_samples(rs, n, T.nsample);
	}

	uint64_t spent = ns_of(CLOCK_THREAD_CPUTIME_ID) - c0;
	T.credit_ns -= (int64_t)spent;
	HM_COUNT(track_cpu_ns, spent + charged);
	if (T.credit_ns < 0)
		T.nsample = T.nsample > 1 ? T.nsample / 2 : 1;
	else if (T.credit_ns > (int64_t)(2 * (spent + charged + program)) && T.nsample < T.max_samples)
		T.nsample = T.nsample + T.nsample / 4 + 1 > T.max_samples ? T.max_samples : T.nsample + T.nsample / 4 + 1;
}

const struct hm_space_client hm_track_space = {
	.name = "track",
	.pages_gone = hm_track_drop,
	.remap = hm_track_remap,
};
