/*
 * record.c — recording what the placement did, for `hetmem heatmap`.
 *
 * While a record is open (hm_record_start(), or HETMEM_RECORD=PATH at
 * hm_init; under `hetmem run` only the program it started records, unless
 * PATH has %p, replaced by each process's pid), the reclaimer thread appends a sample every interval (default
 * 200 ms): the time, residency and budget, and for each region, cut into at
 * most HM_RECORD_BUCKETS equal address buckets, the fraction of each
 * bucket's folios that are in RAM and on each tier (the rest was never
 * populated), and their mean access count as the policy keeps it (struct
 * hm_pstate.count: recency counts accesses of the last generations,
 * frequency a decayed count, fifo none).  It only reads page
 * words and policy state; it changes nothing.
 *
 * A sample visits every folio, so its cost grows with managed memory: the
 * interval is stretched to at least 20 times the last sample's cost (at most
 * 5% of one CPU), and samples and their time are counted in hm_stats.
 * Samples are written by the reclaimer, so they exist only while a budget
 * is set.
 *
 * The format (text, one item per line, fields separated by one space):
 *   hetmem-record 2                     first line
 *   interval_ms N                       the interval asked for
 *   sample T_MS RESIDENT BUDGET POLICY  T_MS since hm_init; bytes
 *   tier ID NAME                        a tier present now (NAME: its spec,
 *                                       the rest of the line)
 *   region BASE SIZE FOLIO NB           BASE in hex; NB buckets
 *   r BASE V1 .. VNB                    per mille of folios in RAM
 *   d BASE TIER V1 .. VNB               per mille on tier TIER (a line per
 *                                       tier holding any folio of the region)
 *   n BASE V1 .. VNB                    per mille no longer mapped (only if
 *                                       any)
 *   h BASE V1 .. VNB                    mean access count x 100
 * Lines starting with '#' are comments.  Each sample is followed by its tier
 * lines, then one region line per region alive at that time, followed by its
 * r, d, n and h lines.  The rest of a bucket (1000 - r - d - n) was never
 * populated (or was discarded, or lost): a program's untouched memory.
 * Version 1 had no d, n or tier lines; `hetmem heatmap` refuses it.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MS 200

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *rec_f;
static unsigned rec_ms, rec_eff_ms;
static uint32_t rec_last;
static bool rec_failed;

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

/* fclose of the record: glibc closes the descriptor itself, so it leaves
 * hetmem's set first */
static int rec_close(FILE *f)
{
	hm_fd_begin();
	hm_fd_forget(fileno(f));
	int rc = fclose(f);
	hm_fd_end();
	return rc;
}

/* open @path as the record; the caller holds rec_lock */
static int rec_open(const char *path, unsigned interval_ms, const char *who)
{
	if (!path || !*path)
		return hm_error(EINVAL, "%s: no path", who);
	if (!interval_ms)
		interval_ms = DEFAULT_MS;
	if (interval_ms < 10 || interval_ms > 60000)
		return hm_error(EINVAL, "%s: interval %u ms out of range (10..60000)", who, interval_ms);
	/* out of the program's way (fdguard.c); a move of it rewrites the
	 * stream's descriptor (glibc's FILE::_fileno), under rec_lock */
	int fd = hm_fd_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, NULL);
	if (fd < 0)
		return hm_error(errno, "%s: cannot open '%s'", who, path);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = errno;
		hm_fd_close(fd);
		return hm_error(e, "%s: fdopen", who);
	}
	hm_fd_set_home(fd, &f->_fileno);
	if (rec_f)
		rec_close(rec_f);
	rec_f = f;
	rec_ms = rec_eff_ms = interval_ms;
	rec_last = 0;
	rec_failed = false;
	fprintf(f, "hetmem-record 2\ninterval_ms %u\n", interval_ms);
	fprintf(f, "# sample T_MS RESIDENT_BYTES BUDGET_BYTES POLICY\n"
		   "# tier ID NAME\n"
		   "# region BASE SIZE FOLIO_SIZE NBUCKETS\n"
		   "# r BASE per-mille of the bucket's folios in RAM, one value per bucket\n"
		   "# d BASE TIER per-mille of the bucket's folios on tier TIER\n"
		   "# n BASE per-mille of the bucket's folios no longer mapped\n"
		   "# h BASE mean policy access count x100, one value per bucket\n"
		   "# the rest of a bucket (1000 - r - d - n) was never populated\n");
	fflush(f);
	return 0;
}

HM_API int hm_record_start(const char *path, unsigned interval_ms)
{
	if (!atomic_load(&hm_g.initialised))
		return hm_error(ENODEV, "hm_record_start: hetmem is not initialised");
	pthread_mutex_lock(&rec_lock);
	int rc = rec_open(path, interval_ms, "hm_record_start");
	pthread_mutex_unlock(&rec_lock);
	return rc;
}

int hm_record_env(const struct hm_options *o)
{
	const char *path = o->record;
	if (!o->record_set)
		return 0;
	/* Under `hetmem run` only the program it started records (the programs
	 * it starts inherit the setting, and would truncate the same file and
	 * write into it at the same time), unless PATH has %p: then every
	 * process records to its own file, %p replaced by its pid. */
	const char *pp = strstr(path, "%p");
	if (o->stats_pid_set && !pp && o->stats_pid != (int)getpid())
		return 0;
	char name[4096];
	if (pp && snprintf(name, sizeof(name), "%.*s%d%s", (int)(pp - path), path, (int)getpid(), pp + 2) >=
			  (int)sizeof(name))
		return hm_error(ENAMETOOLONG, "HETMEM_RECORD: the path is too long");
	pthread_mutex_lock(&rec_lock);
	int rc = rec_open(pp ? name : path, o->record_ms, "HETMEM_RECORD");
	pthread_mutex_unlock(&rec_lock);
	return rc;
}

HM_API int hm_record_stop(void)
{
	int rc = 0;
	pthread_mutex_lock(&rec_lock);
	if (rec_f) {
		bool bad = ferror(rec_f) || rec_failed;
		if (rec_close(rec_f) != 0 || bad)
			rc = hm_error(EIO, "hm_record_stop: the record could not be written completely");
		rec_f = NULL;
	}
	pthread_mutex_unlock(&rec_lock);
	return rc;
}

/* per-bucket counts of one region's sample; guarded by rec_lock (static:
 * the tier counts are too large for the reclaimer's stack) */
static uint32_t s_tot[HM_RECORD_BUCKETS], s_res[HM_RECORD_BUCKETS], s_gone[HM_RECORD_BUCKETS];
static uint32_t s_dev[HM_MAX_TIERS][HM_RECORD_BUCKETS];
static uint64_t s_cnt[HM_RECORD_BUCKETS];

static void put_permille(FILE *f, const uint32_t *v, size_t nb)
{
	for (size_t b = 0; b < nb; b++)
		fprintf(f, " %u", s_tot[b] ? (unsigned)((uint64_t)v[b] * 1000 / s_tot[b]) : 0);
	fputc('\n', f);
}

static void sample_region(FILE *f, struct hm_region *r)
{
	size_t fp = region_folio_pages(r), nf = r->npages / fp;
	size_t nb = nf < HM_RECORD_BUCKETS ? nf : HM_RECORD_BUCKETS;
	uint32_t tiers = 0; /* bit per tier holding any folio */
	bool gone = false;
	memset(s_tot, 0, sizeof(s_tot));
	memset(s_res, 0, sizeof(s_res));
	memset(s_gone, 0, sizeof(s_gone));
	memset(s_dev, 0, sizeof(s_dev));
	memset(s_cnt, 0, sizeof(s_cnt));
	for (size_t fo = 0; fo < nf; fo++) {
		size_t b = fo * nb / nf;
		uint64_t w = atomic_load_explicit(&r->words[fo * fp], memory_order_relaxed);
		unsigned loc = pw_loc(w);
		s_tot[b]++;
		if (loc == HM_LOC_HOST) {
			s_res[b]++;
		} else if (loc == HM_LOC_TIER) {
			int t = pw_tier(w);
			s_dev[t][b]++;
			tiers |= 1u << t;
		} else if (loc == HM_LOC_UNMAPPED) {
			s_gone[b]++;
			gone = true;
		}
		s_cnt[b] += hm_policy_count(r, fo);
	}
	unsigned long base = (unsigned long)r->base;
	fprintf(f, "region %#lx %zu %zu %zu\nr %#lx", base, r->size, fp << HM_PAGE_SHIFT, nb, base);
	put_permille(f, s_res, nb);
	for (int t = 0; t < HM_MAX_TIERS; t++)
		if (tiers & (1u << t)) {
			fprintf(f, "d %#lx %d", base, t);
			put_permille(f, s_dev[t], nb);
		}
	if (gone) {
		fprintf(f, "n %#lx", base);
		put_permille(f, s_gone, nb);
	}
	fprintf(f, "h %#lx", base);
	for (size_t b = 0; b < nb; b++)
		fprintf(f, " %llu", s_tot[b] ? (unsigned long long)(s_cnt[b] * 100 / s_tot[b]) : 0ull);
	fputc('\n', f);
}

/* a tier line per tier present now, so that the picture can name them */
static void sample_tiers(FILE *f)
{
	pthread_mutex_lock(&hm_g.tiers_lock);
	for (int t = 1; t < HM_MAX_TIERS; t++) {
		struct hm_tier *tp = atomic_load(&hm_g.tiers[t]);
		if (tp)
			fprintf(f, "tier %d %s\n", t, tp->name[0] ? tp->name : "?");
	}
	pthread_mutex_unlock(&hm_g.tiers_lock);
}

void hm_record_tick(uint32_t now)
{
	if (!rec_f) /* racy peek: a missed sample is harmless */
		return;
	pthread_mutex_lock(&rec_lock);
	if (!rec_f || (rec_last && now - rec_last < rec_eff_ms)) {
		pthread_mutex_unlock(&rec_lock);
		return;
	}
	uint64_t t0 = mono_us();
	rec_last = now ? now : 1;
	size_t nr;
	struct hm_region **rs = hm_regions_snapshot(&nr);
	fprintf(rec_f, "sample %u %llu %llu %s\n", now,
		(unsigned long long)(atomic_load(&hm_cnt.resident_pages) << HM_PAGE_SHIFT),
		(unsigned long long)hm_g.budget, hm_policy_get());
	sample_tiers(rec_f);
	for (size_t i = 0; rs && i < nr; i++) {
		if (!atomic_load(&rs[i]->dying))
			sample_region(rec_f, rs[i]);
		hm_region_put(rs[i]);
	}
	free(rs);
	if (fflush(rec_f) != 0)
		rec_failed = true;
	uint64_t us = mono_us() - t0;
	/* at most 5% of one CPU */
	unsigned min_ms = (unsigned)(us * 20 / 1000);
	rec_eff_ms = min_ms > rec_ms ? min_ms : rec_ms;
	HM_COUNT(record_samples, 1);
	HM_COUNT(record_us, us);
	pthread_mutex_unlock(&rec_lock);
}
