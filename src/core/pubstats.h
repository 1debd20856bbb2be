/*
 * pubstats.h — the live statistics a process under `hetmem run` publishes,
 * and `hetmem stat PID` reads.
 *
 * The preload library (preload.c) maps /dev/shm/hetmem.PID (shared, 0600 of
 * the process's user) and rewrites it every HM_PUB_PERIOD_MS from its
 * publisher thread, and a final time at exit (->ended set) when the process
 * leaves through exit(); a process killed by a signal or leaving by _exit
 * keeps its last periodic update.  A process of a `hetmem run` carries the
 * run's identity (HETMEM_RUN: its pid and a nonce) in ->run_pid and
 * ->run_id and leaves its record for hetmem run, which reports every record
 * of its run when the program ends and removes them (report.c).  A process
 * whose hetmem.PID is another user's (it changed its uid, then exec'd) uses
 * hetmem.PID.UID.  A reader copies it with pread (not a mapping: an exec
 * truncates the file before rewriting it) under the sequence count: odd
 * while the writer is in the middle of an update; a copy taken with the same
 * even count before and after is consistent.
 *
 * The layout is versioned by HM_PUB_MAGIC, HM_PUB_VERSION and the sizes of
 * the records in the header: a reader built from another tree refuses a
 * file whose sizes differ instead of misreading it.
 */
#ifndef HM_PUBSTATS_H
#define HM_PUBSTATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "hetmem.h"

#define HM_PUB_MAGIC 0x54534d4d54454855ull /* "UHETMMST" */
#define HM_PUB_VERSION 2
#define HM_PUB_DIR "/dev/shm"
#define HM_PUB_PREFIX "hetmem."
#define HM_PUB_PERIOD_MS 250
#define HM_PUB_MAX_TIERS 8

struct hm_pub_tier {
	char name[64];
	uint64_t capacity;
	uint64_t used;
	uint64_t pages_in;
	uint64_t pages_out;
	uint64_t errors;
};

struct hm_pub {
	uint64_t magic;
	uint32_t version;
	uint32_t stats_size;  /* sizeof(struct hm_stats) of the writer */
	uint32_t tier_size;   /* sizeof(struct hm_pub_tier) */
	uint32_t total_size;  /* sizeof(struct hm_pub) */
	_Atomic uint64_t seq; /* odd while an update is being written */
	int32_t pid;
	uint32_t ntiers;
	char program[128];
	char policy[32];
	uint64_t budget;          /* bytes; 0 = none */
	uint64_t started_ms;      /* CLOCK_REALTIME, ms, at start */
	uint64_t updated_ms;      /* CLOCK_REALTIME, ms, of this update */
	uint64_t run_id;          /* the nonce of the hetmem run it belongs to; 0: none */
	int32_t run_pid;          /* that hetmem run's pid; 0: none */
	uint32_t ended;           /* 1: this is the final update, made at exit */
	/* the preload library's own counters */
	uint64_t maps_managed;    /* anonymous mappings made managed */
	uint64_t maps_unmanaged;  /* anonymous private mappings left to the kernel */
	uint64_t bytes_unmanaged; /* ... their bytes (mapped, not resident) */
	uint64_t maps_fallback;   /* ... of which hetmem could not take (errors) */
	uint64_t rss_anon;        /* RssAnon of /proc/self/status, bytes */
	/* the sample (one per update) when anonymous memory, RssAnon plus the
	 * bytes on devices, was largest: its size and how much was managed */
	uint64_t peak_anon;
	uint64_t peak_managed;
	struct hm_pub_tier tiers[HM_PUB_MAX_TIERS];
	struct hm_stats stats;
};

/* The preload library's counters of a record as the reports name them (the
 * text forms' "NAME VALUE" lines, the JSON form's keys): X(name, field of
 * struct hm_pub).  Totals of a process tree sum each field. */
#define HM_PUB_PRELOAD_FIELDS(X)                  \
	X(preload_maps_managed, maps_managed)       \
	X(preload_maps_unmanaged, maps_unmanaged)   \
	X(preload_bytes_unmanaged, bytes_unmanaged) \
	X(preload_maps_fallback, maps_fallback)     \
	X(peak_anon_bytes, peak_anon)               \
	X(peak_managed_bytes, peak_managed)

/* The managed part of a record's anonymous memory (RssAnon + @dev, the
 * bytes on its tiers): the managed pages in RAM, those on tiers, and the
 * compressed tiers' pools, which are RAM of the process (in RssAnon) that
 * holds managed pages. */
static inline uint64_t hm_pub_managed_now(const struct hm_pub *p, uint64_t dev)
{
	uint64_t m = p->stats.resident_bytes + dev + p->stats.comp_pool_bytes, total = p->rss_anon + dev;
	return m < total ? m : total;
}

/* managed_share_pct, the line after them: the share of the peak of
 * anonymous memory that was managed, in percent */
static inline double hm_pub_managed_share(const struct hm_pub *p)
{
	return p->peak_anon ? 100.0 * (double)p->peak_managed / (double)p->peak_anon : 0.0;
}

/* stats.c: those lines, "NAME VALUE\n" each, then managed_share_pct, into
 * @buf (NUL-terminated, cut at @len >= 1); the HETMEM_STATS exit report
 * (preload_stats.c) and hetmem run's report (tools/report.c) print them.
 * Returns the length written. */
size_t hm_pub_preload_text(char *buf, size_t len, const struct hm_pub *p);

#endif
