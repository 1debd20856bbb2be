/*
 * record.c — recording what the placement did, for `hetmem heatmap`.
 *
 * While a record is open (hm_record_start(), or HETMEM_RECORD=PATH at
 * hm_init), the reclaimer thread appends a sample every interval (default
 * 200 ms): the time, residency and budget, and for each region, cut into at
 * most HM_RECORD_BUCKETS equal address buckets, the fraction of each
 * bucket's folios that are in RAM and their mean access count as the policy
 * keeps it (struct hm_pstate.count: recency counts accesses of the last
 * generations, frequency a decayed count, fifo none).  It only reads page
 * words and policy state; it changes nothing.
 *
 * A sample visits every folio, so its cost grows with managed memory: the
 * interval is stretched to at least 20 times the last sample's cost (at most
 * 5% of one CPU), and samples and their time are counted in hm_stats.
 * Samples are written by the reclaimer, so they exist only while a budget
 * is set.
 *
 * The format (text, one item per line, fields separated by one space):
 *   hetmem-record 1                     first line
 *   interval_ms N                       the interval asked for
 *   sample T_MS RESIDENT BUDGET POLICY  T_MS since hm_init; bytes
 *   region BASE SIZE FOLIO NB           BASE in hex; NB buckets
 *   r BASE V1 .. VNB                    per mille of folios in RAM
 *   h BASE V1 .. VNB                    mean access count x 100
 * Lines starting with '#' are comments.  Each sample is followed by one
 * region/r/h triple per region alive at that time.
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
	fprintf(f, "hetmem-record 1\ninterval_ms %u\n", interval_ms);
	fprintf(f, "# sample T_MS RESIDENT_BYTES BUDGET_BYTES POLICY\n"
		   "# region BASE SIZE FOLIO_SIZE NBUCKETS\n"
		   "# r BASE per-mille of the bucket's folios in RAM, one value per bucket\n"
		   "# h BASE mean policy access count x100, one value per bucket\n");
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

int hm_record_env(void)
{
	const char *path = getenv("HETMEM_RECORD"), *ms = getenv("HETMEM_RECORD_MS");
	unsigned long v = 0;
	if (ms && *ms) {
		char *end;
		v = strtoul(ms, &end, 10);
		if (*end || v < 10 || v > 60000)
			return hm_error(EINVAL, "HETMEM_RECORD_MS='%s': expected 10..60000 milliseconds", ms);
	}
	if (!path || !*path)
		return 0;
	pthread_mutex_lock(&rec_lock);
	int rc = rec_open(path, (unsigned)v, "HETMEM_RECORD");
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

static void sample_region(FILE *f, struct hm_region *r)
{
	size_t fp = region_folio_pages(r), nf = r->npages / fp;
	size_t nb = nf < HM_RECORD_BUCKETS ? nf : HM_RECORD_BUCKETS;
	uint32_t res[HM_RECORD_BUCKETS] = {0}, tot[HM_RECORD_BUCKETS] = {0};
	uint64_t cnt[HM_RECORD_BUCKETS] = {0};
	for (size_t fo = 0; fo < nf; fo++) {
		size_t b = fo * nb / nf;
		uint64_t w = atomic_load_explicit(&r->words[fo * fp], memory_order_relaxed);
		tot[b]++;
		res[b] += pw_loc(w) == HM_LOC_HOST;
		cnt[b] += hm_policy_count(r, fo);
	}
	fprintf(f, "region %#lx %zu %zu %zu\nr %#lx", (unsigned long)r->base, r->size, fp << HM_PAGE_SHIFT, nb,
		(unsigned long)r->base);
	for (size_t b = 0; b < nb; b++)
		fprintf(f, " %u", tot[b] ? (unsigned)((uint64_t)res[b] * 1000 / tot[b]) : 0);
	fprintf(f, "\nh %#lx", (unsigned long)r->base);
	for (size_t b = 0; b < nb; b++)
		fprintf(f, " %llu", tot[b] ? (unsigned long long)(cnt[b] * 100 / tot[b]) : 0ull);
	fputc('\n', f);
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
