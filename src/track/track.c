/*
 * track.c — hotness tracking of resident folios: the settings, the choice of
 * mechanisms, start-up and shutdown, the public hm_track_set / hm_track_get.
 *
 * Faults on non-resident pages are free access events (fault.c gives them to
 * the policy).  A folio that stays in RAM and is used faults no more, so the
 * tracker adds two mechanisms, run from the reclaimer's scan (scan.c) within
 * a CPU budget:
 *  - write tracking (write.c): soft-dirty bits, or async write-protect with
 *    PAGEMAP_SCAN (opt-in: HETMEM_TRACK_WPASYNC=1, because async
 *    write-protect changes WP semantics for the whole userfaultfd, so a
 *    folio UFFDIO_MOVE refuses then stays in RAM instead of falling back to
 *    WP demotion; used only in MOVE demotion mode);
 *  - read sampling by hint faults (sample.c): resident folios moved out to a
 *    hold area and moved back when touched, like NUMA balancing's hint
 *    faults.
 * "auto" (the default) takes soft-dirty where the kernel has it, and read
 * sampling, which sees writes too.  Kernel behaviour this relies on is in
 * docs/KERNEL-NOTES.md.
 */
#include "track/track_int.h"
#include "os/uffd_compat.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

struct hm_track_state hm_track_T = {.lock = PTHREAD_MUTEX_INITIALIZER, .pm_fd = -1, .cr_fd = -1};

static const char *const wr_name[] = {"none", "wp-async", "soft-dirty"};

/* ---------------------------------------------------------------------- */
/* Settings                                                                 */
/* ---------------------------------------------------------------------- */

/* options.def's range of HETMEM_TRACK_SAMPLES is 1..NCHUNK */
_Static_assert(NCHUNK == 4096, "HETMEM_TRACK_SAMPLES' range in options.def");

int hm_track_config(const struct hm_config *cfg, const struct hm_options *o)
{
	unsigned want = cfg ? cfg->track : 0;
	unsigned pct = cfg && cfg->track_cpu_pct ? cfg->track_cpu_pct : DEFAULT_CPU_PCT;
	if (want & ~(HM_TRACK_ALL | HM_TRACK_NONE) || ((want & HM_TRACK_NONE) && (want & ~HM_TRACK_NONE)))
		return hm_error(EINVAL, "hm_init: bad track mechanisms 0x%x (HM_TRACK_* bits; NONE alone)", want);
	if (pct > 100)
		return hm_error(EINVAL, "hm_init: track_cpu_pct %u > 100", pct);
	/* the environment (parsed by hm_options_parse) overrides @cfg */
	T.want = o->track_set ? o->track : want;
	T.cpu_pct = o->track_cpu_set ? o->track_cpu : pct;
	T.max_samples = o->track_samples_set ? o->track_samples : DEFAULT_SAMPLES;
	T.scan_ms = o->track_scan_ms_set ? o->track_scan_ms : 500; /* a test hook: scans more often */
	T.sample_ms = o->track_sample_ms_set ? o->track_sample_ms : DEFAULT_SAMPLE_MS;
	T.wpasync_ok = o->track_wpasync;
	return 0;
}

unsigned hm_track_scan_ms(void)
{
	return T.scan_ms ? T.scan_ms : 500;
}

/* What this kernel and set-up allow, and the write mechanism. */
static void possible(const struct hm_features *f, enum hm_demote_mode demote, bool wpasync_ok, unsigned *avail,
		     enum wr_mech *wr)
{
	*avail = HM_TRACK_FAULTS;
	*wr = WR_NONE;
	/* wp-async is opt-in (HETMEM_TRACK_WPASYNC=1): it takes the
	 * write-protect fallback away from MOVE demotion */
	if (f->wp_async && f->pagemap_scan && f->wp && demote == HM_DEMOTE_MOVE && wpasync_ok)
		*wr = WR_WPASYNC;
	else if (f->soft_dirty)
		*wr = WR_SOFTDIRTY;
	if (*wr != WR_NONE)
		*avail |= HM_TRACK_WRITE;
	if (f->move)
		*avail |= HM_TRACK_SAMPLE;
}

/* "auto" takes every mechanism that costs nothing else: not wp-async, which
 * takes away the write-protect fallback of MOVE demotion: it must be asked
 * for by name. */
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
void hm_track_describe(struct hm_features *f, enum hm_demote_mode demote, bool wpasync_ok)
{
	unsigned avail;
	enum wr_mech wr;
	if (demote == HM_DEMOTE_AUTO)
		demote = f->move ? HM_DEMOTE_MOVE : HM_DEMOTE_WP;
	possible(f, demote, wpasync_ok, &avail, &wr);
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
	possible(f, hm_g.demote, T.wpasync_ok, &avail, &wr);
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
const struct hm_space_client hm_track_space = {
	.name = "track",
	.pages_gone = hm_track_drop,
	.remap = hm_track_remap,
};
