/*
 * track_int.h — what the tracker's files share (track/ only): its one state
 * (T), the sample table's layout and the budget's constants.
 */
#ifndef HM_TRACK_INT_H
#define HM_TRACK_INT_H

#include "internal.h"

#include <time.h>

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
 * handler is woken and serves the fault, and is woken again.  The handler
 * cannot time that (the fault message carries no time stamp), so a probe
 * measures it (scan.c); this estimate stands until the first probe.  It is
 * of the order measured on a 2-vCPU VM: 10-25 us with program and handler
 * on one CPU, up to ~250 us when each wake-up crossed vCPUs. */
#define HINT_FAULT_NS 50000
/* A chunk of the hold area kept for the probe (scan.c), never a sample's. */
#define PROBE_CHUNK (T.nchunk - 1)

enum wr_mech { WR_NONE, WR_WPASYNC, WR_SOFTDIRTY };

struct sample {
	struct hm_region *r; /* no reference: region_free drops its samples first */
	size_t page, n;      /* pages [page, page+n) of r */
	uintptr_t hold;      /* where their data is */
	int chunk;
	uint32_t born;       /* hm_clock_ms() when taken */
};

struct hm_track_state {
	/* settings (hm_track_config / hm_track_set) */
	unsigned want;        /* HM_TRACK_* asked for (0: auto) */
	_Atomic unsigned cpu_pct; /* hm_track_set may change it at any time */
	unsigned max_samples; /* per scan */
	unsigned scan_ms;     /* the reclaimer's scan interval under budget */
	unsigned sample_ms;   /* how long a sample stays out */
	bool wpasync_ok;      /* HETMEM_TRACK_WPASYNC=1: write tracking may use async WP */
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
};

extern HM_HIDDEN struct hm_track_state hm_track_T;
#define T hm_track_T

static inline uint64_t ns_of(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* sample.c, for the scan step (reclaimer thread) */
/* Take up to @count samples from the regions @rs. */
HM_HIDDEN void hm_trk_take_samples(struct hm_region **rs, size_t n, unsigned count);
/* Put back, with no event, the samples untouched for T.sample_ms. */
HM_HIDDEN void hm_trk_return_stale(uint32_t now);
/* Empty the free chunks that may hold stale pages. */
HM_HIDDEN void hm_trk_zap_chunks(void);
/* Samples held now. */
HM_HIDDEN size_t hm_trk_nent(void);
/* write.c: one write-tracking pass over @rs (charges T.credit_ns). */
HM_HIDDEN void hm_trk_write_scan(struct hm_region **rs, size_t n);

#endif
