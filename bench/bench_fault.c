/*
 * bench_fault.c — hetmem's fault-back latency and migration throughput, each
 * printed next to a baseline measured by the same program in the same run.
 *
 * Baselines (they need no hetmem):
 *   - the kernel's anonymous page fault: one write per 4 KiB page of a fresh
 *     anonymous mapping (MADV_NOHUGEPAGE), each touch timed; and, for
 *     information, the kernel's 2 MiB THP fault (MADV_HUGEPAGE).  Each runs
 *     twice and the second run counts: in a VM the first touch of guest
 *     memory also pays the host's fault;
 *   - memcpy: pre-faulted ("warm") source and destination the size of the
 *     hetmem region, copied in 4 KiB, 64 KiB and 2 MiB blocks (GB/s and the
 *     time of one block), plus one cache-hot 2 MiB block for information;
 *   - a bare userfaultfd round trip per folio size: a handler thread that
 *     polls, reads the fault and resolves it with one UFFDIO_COPY of the
 *     folio — the mechanism hetmem's fault-back rests on, without hetmem;
 *   - the kernel's swap-in from zram under a memcg v1 limit (root only): a
 *     zram swap device is set up, a forked child in a fresh memcg fills a
 *     region larger than its limit so that most of it goes to zram, then
 *     reads the swapped-out pages (found with /proc/self/pagemap) one at a
 *     time in random order; half with the limit in force (the baseline),
 *     half with the limit lifted (no reclaim, for information).  Everything
 *     set up is torn down again, also on failure, and SIGINT/SIGTERM/SIGHUP
 *     are held off in the parent until it is.
 *
 * hetmem: for each folio size (4 KiB, 64 KiB, 2 MiB) a managed region is
 * filled with data, demoted to an "emu:" tier (timed: demotion GB/s), read
 * back one byte per folio in random order with readahead off (each read timed:
 * fault-back latency), verified, demoted again and promoted with hm_migrate()
 * (timed: promotion GB/s) and verified again.
 *
 * Usage: bench_fault [--quick] [--no-zram] [--cpu N] [--help]
 * (--cpu N pins every thread to one CPU; in a VM without guest halt-polling a
 * wake-up across CPUs can cost far more than the fault itself.)
 * Exit status: 0 when every measurement ran and all data verified; 1 when
 * hetmem, the anonymous-fault or the memcpy baseline failed or data came back
 * wrong; 2 on a usage error.  A skipped zram, THP or userfaultfd baseline is
 * not a failure, and the targets (met / not met) are reported, not turned
 * into an exit status.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "hetmem.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define PAGE ((size_t)4096)


/* ---------------------------------------------------------------------- */
/* Options                                                                 */
/* ---------------------------------------------------------------------- */

struct opts {
	bool quick;
	bool no_zram;
	int cpu;            /* pin the whole process to this CPU, or -1 */
	size_t hm_size;     /* bytes per hetmem region (and memcpy baseline) */
	int rounds;         /* demote / fault back / promote rounds per folio size */
	size_t anon_size;   /* anonymous-fault baseline region */
	size_t thp_size;    /* THP-fault baseline region */
	size_t raw_size[3]; /* bare-userfaultfd baseline region per folio size */
	size_t zram_data;   /* bytes the zram child fills */
	size_t zram_limit;  /* its memcg limit */
	size_t zram_disk;   /* zram disksize */
	const char *tier_spec;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_fault [--quick] [--no-zram] [--cpu N]\n"
		"  --quick    smaller sizes, one round (< 30 s)\n"
		"  --no-zram  skip the zram swap-in baseline\n"
		"  --cpu N    run the whole process (hetmem's handler thread included)\n"
		"             on CPU N: fault round trips then need no cross-CPU wake-up\n");
}

/* ---------------------------------------------------------------------- */
/* Timing and summaries                                                    */
/* ---------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("bench_fault: clock_gettime(CLOCK_MONOTONIC)");
		exit(1);
	}
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void compiler_barrier(void)
{
	__asm__ __volatile__("" ::: "memory");
}

/* GB/s with GB = 1e9 bytes. */
static double gbps(size_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : NAN;
}

/* ---------------------------------------------------------------------- */
/* Data: compressible but not trivial, and checkable                       */
/* ---------------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The content of page @pageno under @seed: 2 KiB of pseudo-random words, then
 * 2 KiB of a short repeating pattern (about 2:1 for lzo/lz4). */
static void make_page(uint64_t *w, uint64_t pageno, uint64_t seed)
{
	uint64_t base = mix64(seed ^ (pageno * 0x100000001b3ull));

	for (size_t j = 0; j < PAGE / 16; j++)
		w[j] = mix64(base + j);
	for (size_t j = PAGE / 16; j < PAGE / 8; j++)
		w[j] = base ^ (j & 3);
}

static void fill_range(void *p, size_t len, uint64_t seed)
{
	for (size_t off = 0; off < len; off += PAGE)
		make_page((uint64_t *)((char *)p + off), off / PAGE, seed);
}

/* Returns true when [p, p+len) holds fill_range(p, len, seed); else sets
 * *@bad_off to the first bad page's offset. */
static bool verify_range(const void *p, size_t len, uint64_t seed, size_t *bad_off)
{
	uint64_t want[PAGE / 8];

	for (size_t off = 0; off < len; off += PAGE) {
		make_page(want, off / PAGE, seed);
		if (memcmp((const char *)p + off, want, PAGE) != 0) {
			*bad_off = off;
			return false;
		}
	}
	return true;
}

/* Fisher-Yates with a splitmix stream. */
static void shuffle(size_t *idx, size_t n, uint64_t seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(mix64(seed + i) % i);
		size_t t = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

static size_t *shuffled_indices(size_t n, uint64_t seed)
{
	size_t *idx = malloc(n * sizeof(*idx));

	if (!idx) {
		fprintf(stderr, "bench_fault: malloc(%zu indices) failed\n", n);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	shuffle(idx, n, seed);
	return idx;
}

static void *map_anon(size_t len, int advice, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "bench_fault: mmap(%zu) for %s: %s\n", len, what,
			strerror(errno));
		return NULL;
	}
	if (advice >= 0 && madvise(p, len, advice) != 0) {
		fprintf(stderr, "bench_fault: madvise(%s, %d): %s\n", what, advice,
			strerror(errno));
		munmap(p, len);
		return NULL;
	}
	return p;
}

/* ---------------------------------------------------------------------- */
/* Small file helpers for sysfs / cgroupfs / procfs                        */
/* ---------------------------------------------------------------------- */

/* "AnonHugePages:" of /proc/self/smaps_rollup in bytes, or -1. */
static long long anon_huge_bytes(void)
{
	char line[256];
	long long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* ---------------------------------------------------------------------- */
/* Baseline: the kernel's anonymous page fault                             */
/* ---------------------------------------------------------------------- */

/* One timed write per 4 KiB page, random order, base pages only. */
static int bench_anon_fault(size_t size, struct lat *out)
{
	size_t n = size / PAGE;
	double *us = malloc(n * sizeof(*us));
	size_t *idx = shuffled_indices(n, 0xa11ce);
	char *p = NULL;
	int err = -ENOMEM;

	if (!us || !idx)
		goto out;
	p = map_anon(size, MADV_NOHUGEPAGE, "anon-fault baseline");
	if (!p)
		goto out;
	for (size_t i = 0; i < n; i++) {
		volatile char *q = p + idx[i] * PAGE;
		uint64_t t0 = now_ns();

		compiler_barrier();
		*q = 1;
		compiler_barrier();
		us[i] = (double)(now_ns() - t0) / 1000.0;
	}
	*out = lat_summarize(us, n);
	err = 0;
	if (munmap(p, size) != 0)
		fprintf(stderr, "bench_fault: munmap(anon baseline): %s\n", strerror(errno));
out:
	free(us);
	free(idx);
	return err;
}

/* One timed write per 2 MiB, with MADV_HUGEPAGE.  Fills @why and returns
 * -ENOTSUP when the kernel did not hand out huge pages. */
static int bench_thp_fault(size_t size, struct lat *out, char *why, size_t whylen)
{
	size_t n = size / HM_FOLIO_2M, maplen = size + HM_FOLIO_2M;
	double *us = malloc(n * sizeof(*us));
	char *raw = NULL, *p;
	long long before, after;
	int err = -ENOMEM;

	if (!us) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	raw = map_anon(maplen, -1, "THP baseline");
	if (!raw) {
		snprintf(why, whylen, "mmap failed");
		goto out;
	}
	p = (char *)(((uintptr_t)raw + HM_FOLIO_2M - 1) & ~(uintptr_t)(HM_FOLIO_2M - 1));
	if (madvise(p, size, MADV_HUGEPAGE) != 0) {
		snprintf(why, whylen, "madvise(MADV_HUGEPAGE): %s", strerror(errno));
		err = -ENOTSUP;
		goto out_unmap;
	}
	before = anon_huge_bytes();
	for (size_t i = 0; i < n; i++) {
		volatile char *q = p + i * HM_FOLIO_2M;
		uint64_t t0 = now_ns();

		compiler_barrier();
		*q = 1;
		compiler_barrier();
		us[i] = (double)(now_ns() - t0) / 1000.0;
	}
	after = anon_huge_bytes();
	if (before < 0 || after < 0) {
		snprintf(why, whylen, "cannot read /proc/self/smaps_rollup");
		err = -ENOTSUP;
	} else if ((size_t)(after - before) < size * 9 / 10) {
		snprintf(why, whylen, "kernel gave %lld of %zu bytes as huge pages",
			 after - before, size);
		err = -ENOTSUP;
	} else {
		*out = lat_summarize(us, n);
		err = 0;
	}
out_unmap:
	if (munmap(raw, maplen) != 0)
		fprintf(stderr, "bench_fault: munmap(THP baseline): %s\n", strerror(errno));
out:
	free(us);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Baseline: memcpy                                                        */
/* ---------------------------------------------------------------------- */

struct memcpy_res {
	double gbps[3];        /* 4K, 64K, 2M blocks across the whole buffer */
	double us_per_block[3];
	double hot_2m_gbps;    /* one 2 MiB block, cache hot */
	double hot_2m_us;
};

static const size_t folio_sizes[3] = { HM_FOLIO_4K, HM_FOLIO_64K, HM_FOLIO_2M };
static const char *const folio_names[3] = { "4 KiB", "64 KiB", "2 MiB" };

/* Best of @reps passes copying @total bytes in @block-sized memcpy calls. */
static uint64_t time_memcpy(char *dst, const char *src, size_t total, size_t block,
			    int reps)
{
	uint64_t best = UINT64_MAX;

	for (int r = 0; r < reps; r++) {
		uint64_t t0 = now_ns(), t;

		for (size_t off = 0; off < total; off += block) {
			memcpy(dst + off, src + off, block);
			compiler_barrier();
		}
		t = now_ns() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

static int bench_memcpy(size_t size, int reps, struct memcpy_res *out)
{
	char *src = map_anon(size, -1, "memcpy source");
	char *dst = src ? map_anon(size, -1, "memcpy destination") : NULL;
	uint64_t t;

	if (!dst) {
		if (src)
			munmap(src, size);
		return -ENOMEM;
	}
	fill_range(src, size, 1);
	memset(dst, 0x5a, size);  /* pre-fault: "warm" */
	for (int i = 0; i < 3; i++) {
		t = time_memcpy(dst, src, size, folio_sizes[i], reps);
		out->gbps[i] = gbps(size, t);
		out->us_per_block[i] = (double)t / 1000.0 / (double)(size / folio_sizes[i]);
	}
	/* cache hot: the same 2 MiB block again and again */
	t = time_memcpy(dst, src, HM_FOLIO_2M, HM_FOLIO_2M, 200);
	out->hot_2m_gbps = gbps(HM_FOLIO_2M, t);
	out->hot_2m_us = (double)t / 1000.0;
	if (munmap(src, size) != 0 || munmap(dst, size) != 0)
		fprintf(stderr, "bench_fault: munmap(memcpy buffers): %s\n", strerror(errno));
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Baseline: a bare userfaultfd round trip (the mechanism hetmem rests on)  */
/* ---------------------------------------------------------------------- */

/* What hetmem's fault-back costs at the least: the faulting thread sleeps in
 * the kernel, a handler thread polls the userfaultfd, reads the message and
 * resolves it with one UFFDIO_COPY of the whole folio from a source buffer
 * (warm, like the emu tier's window), which wakes the faulting thread.  No
 * page table, no locks, no tier. */
struct raw_uffd {
	int uffd, stop_efd;
	uintptr_t base;
	const char *src;
	size_t fsz;
	int err;                  /* first failure in the handler, -errno */
};

static void *raw_uffd_handler(void *arg)
{
	struct raw_uffd *u = arg;
	struct pollfd pfd[2] = { { .fd = u->uffd, .events = POLLIN },
				 { .fd = u->stop_efd, .events = POLLIN } };
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct uffd_msg m;
		struct uffdio_copy c;
		uintptr_t dst;
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			u->err = -errno;
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		n = read(u->uffd, &m, sizeof(m));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n != (ssize_t)sizeof(m)) {
			u->err = n < 0 ? -errno : -EIO;
			return NULL;
		}
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		dst = (uintptr_t)m.arg.pagefault.address & ~(uintptr_t)(u->fsz - 1);
		c = (struct uffdio_copy){ .dst = dst, .src = (uintptr_t)u->src + (dst - u->base),
					  .len = u->fsz, .mode = 0 };
		if (ioctl(u->uffd, UFFDIO_COPY, &c) != 0 && errno != EEXIST) {
			u->err = -errno;
			/* wake the faulting thread anyway, so it cannot hang */
			struct uffdio_range r = { .start = dst, .len = u->fsz };
			ioctl(u->uffd, UFFDIO_WAKE, &r);
		}
	}
}

/* @size bytes of @fsz folios, one timed read per folio in random order.
 * Returns 0, or -errno with @why filled. */
static int bench_raw_uffd(size_t size, size_t fsz, struct lat *out, char *why, size_t whylen)
{
	struct raw_uffd u = { .uffd = -1, .stop_efd = -1, .fsz = fsz };
	size_t nf = size / fsz, maplen = size + fsz;
	double *us = malloc(nf * sizeof(*us));
	size_t *idx = shuffled_indices(nf, 0x0ffd + fsz);
	char *raw = NULL, *src = NULL, *p;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	pthread_t th;
	uint64_t one = 1;
	int err = -ENOMEM, e;

	if (!us || !idx) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	src = map_anon(size, -1, "userfaultfd source");
	raw = map_anon(maplen, MADV_NOHUGEPAGE, "userfaultfd region");
	if (!src || !raw) {
		snprintf(why, whylen, "mmap failed");
		goto out;
	}
	fill_range(src, size, 3);
	p = (char *)(((uintptr_t)raw + fsz - 1) & ~(uintptr_t)(fsz - 1));
	u.base = (uintptr_t)p;
	u.src = src;
	u.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u.uffd < 0) {
		err = -errno;
		snprintf(why, whylen, "userfaultfd: %s", strerror(errno));
		goto out;
	}
	if (ioctl(u.uffd, UFFDIO_API, &api) != 0) {
		err = -errno;
		snprintf(why, whylen, "UFFDIO_API: %s", strerror(errno));
		goto out;
	}
	reg = (struct uffdio_register){ .range = { .start = u.base, .len = size },
					.mode = UFFDIO_REGISTER_MODE_MISSING };
	if (ioctl(u.uffd, UFFDIO_REGISTER, &reg) != 0) {
		err = -errno;
		snprintf(why, whylen, "UFFDIO_REGISTER: %s", strerror(errno));
		goto out;
	}
	u.stop_efd = eventfd(0, EFD_CLOEXEC);
	if (u.stop_efd < 0) {
		err = -errno;
		snprintf(why, whylen, "eventfd: %s", strerror(errno));
		goto out;
	}
	e = pthread_create(&th, NULL, raw_uffd_handler, &u);
	if (e) {
		err = -e;
		snprintf(why, whylen, "pthread_create: %s", strerror(e));
		goto out;
	}
	for (size_t i = 0; i < nf && u.err == 0; i++) {
		volatile char *q = p + idx[i] * fsz + ((fsz / 2) & ~(PAGE - 1));
		uint64_t t0 = now_ns();

		compiler_barrier();
		(void)*q;
		compiler_barrier();
		us[i] = (double)(now_ns() - t0) / 1000.0;
	}
	if (write(u.stop_efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		fprintf(stderr, "bench_fault: write(eventfd): %s\n", strerror(errno));
	pthread_join(th, NULL);
	if (u.err) {
		err = u.err;
		snprintf(why, whylen, "handler: UFFDIO_COPY/read: %s", strerror(-u.err));
		goto out;
	}
	*out = lat_summarize(us, nf);
	err = 0;
out:
	/* unregister before unmapping (no events are enabled, but be tidy) */
	if (u.uffd >= 0) {
		struct uffdio_range r = { .start = u.base, .len = size };

		if (u.base)
			ioctl(u.uffd, UFFDIO_UNREGISTER, &r);
		close(u.uffd);
	}
	if (u.stop_efd >= 0)
		close(u.stop_efd);
	if (raw && munmap(raw, maplen) != 0)
		fprintf(stderr, "bench_fault: munmap(userfaultfd region): %s\n", strerror(errno));
	if (src && munmap(src, size) != 0)
		fprintf(stderr, "bench_fault: munmap(userfaultfd source): %s\n", strerror(errno));
	free(us);
	free(idx);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Baseline: the kernel's swap-in from zram under a memcg v1 limit         */
/* ---------------------------------------------------------------------- */

struct zram_res {
	bool ok;
	char msg[384];            /* why skipped or failed */
	char alg[32];             /* compressor in use */
	uint64_t pages, swapped;  /* region pages, pages found swapped out */
	struct lat limited;       /* swap-ins with the memcg limit in force */
	struct lat unlimited;     /* swap-ins with the limit lifted */
	uint64_t majflt_limited, majflt_unlimited;
	uint64_t orig_bytes, compr_bytes; /* zram mm_stat at the end of the fill */
};

/* Child side: join @cgdir, fill, let the limit push pages to zram, time the
 * swap-ins.  Always writes one struct zram_res to @fd. */
static void zram_child(const struct opts *o, const char *cgdir, const char *zsys, int fd)
{
	struct zram_res r = { 0 };
	char path[128], buf[64];
	size_t npages = o->zram_data / PAGE, nswap = 0, half;
	uint64_t *pm = NULL;
	size_t *idx = NULL, bad;
	double *us = NULL;
	char *p = NULL;
	struct rusage ru0, ru1;
	int pmfd = -1, err;
	ssize_t n;

#define CHILD_FAIL(...) do { snprintf(r.msg, sizeof(r.msg), __VA_ARGS__); goto out; } while (0)
	alarm(300); /* never outlive a stuck parent */

	if ((err = memcg_join(cgdir, o->zram_limit, r.msg, sizeof(r.msg))))
		goto out;

	p = map_anon(o->zram_data, MADV_NOHUGEPAGE, "zram baseline");
	pm = malloc(npages * sizeof(*pm));
	idx = malloc(npages * sizeof(*idx));
	us = malloc(npages * sizeof(*us));
	if (!p || !pm || !idx || !us)
		CHILD_FAIL("out of memory");
	fill_range(p, o->zram_data, 7);  /* the limit pushes the oldest to zram */

	snprintf(path, sizeof(path), "%s/mm_stat", zsys);
	if (read_str(path, buf, sizeof(buf)) == 0)
		sscanf(buf, "%" SCNu64 " %" SCNu64, &r.orig_bytes, &r.compr_bytes);

	/* which pages are out? (bit 62 of a pagemap entry: swapped) */
	pmfd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pmfd < 0)
		CHILD_FAIL("open /proc/self/pagemap: %s", strerror(errno));
	n = pread(pmfd, pm, npages * sizeof(*pm), (off_t)((uintptr_t)p / PAGE * sizeof(*pm)));
	if (n != (ssize_t)(npages * sizeof(*pm)))
		CHILD_FAIL("read /proc/self/pagemap: %s", n < 0 ? strerror(errno) : "short read");
	for (size_t i = 0; i < npages; i++)
		if (pm[i] & (1ull << 62))
			idx[nswap++] = i;
	r.pages = npages;
	r.swapped = nswap;
	if (nswap < npages / 2)
		CHILD_FAIL("only %zu of %zu pages went to zram", nswap, npages);
	shuffle(idx, nswap, 0x5eed);
	half = nswap / 2;

	/* half of them with the limit in force: each swap-in may reclaim */
	if (getrusage(RUSAGE_SELF, &ru0) != 0)
		CHILD_FAIL("getrusage: %s", strerror(errno));
	for (size_t i = 0; i < half; i++) {
		volatile char *q = p + idx[i] * PAGE;
		uint64_t t0 = now_ns();

		compiler_barrier();
		(void)*q;
		compiler_barrier();
		us[i] = (double)(now_ns() - t0) / 1000.0;
	}
	if (getrusage(RUSAGE_SELF, &ru1) != 0)
		CHILD_FAIL("getrusage: %s", strerror(errno));
	r.majflt_limited = (uint64_t)(ru1.ru_majflt - ru0.ru_majflt);
	r.limited = lat_summarize(us, half);

	/* the other half with the limit lifted: swap-in alone */
	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", cgdir);
	if ((err = write_str(path, "-1")))
		CHILD_FAIL("lift %s: %s", path, strerror(-err));
	ru0 = ru1;
	for (size_t i = half; i < nswap; i++) {
		volatile char *q = p + idx[i] * PAGE;
		uint64_t t0 = now_ns();

		compiler_barrier();
		(void)*q;
		compiler_barrier();
		us[i - half] = (double)(now_ns() - t0) / 1000.0;
	}
	if (getrusage(RUSAGE_SELF, &ru1) != 0)
		CHILD_FAIL("getrusage: %s", strerror(errno));
	r.majflt_unlimited = (uint64_t)(ru1.ru_majflt - ru0.ru_majflt);
	r.unlimited = lat_summarize(us, nswap - half);

	if (!verify_range(p, o->zram_data, 7, &bad))
		CHILD_FAIL("data read back from zram differs at offset %zu", bad);
	r.ok = true;
out:
#undef CHILD_FAIL
	write_all(fd, &r, sizeof(r));
	_exit(r.ok ? 0 : 1);
}

static void bench_zram(const struct opts *o, struct zram_res *res)
{
	char cgdir[128] = "", why[384] = "", alg[32] = "";
	sigset_t block, old;
	struct zram_dev z;
	int pfd[2] = { -1, -1 }, err, status;
	pid_t pid = -1;

	memset(res, 0, sizeof(*res));
	if (o->no_zram) {
		snprintf(res->msg, sizeof(res->msg), "--no-zram");
		return;
	}
	if (zram_baseline_check(res->msg, sizeof(res->msg)) != 0)
		return;

	/* From here on, hold off the usual termination signals until every
	 * piece of global state has been put back. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, &old) != 0) {
		snprintf(res->msg, sizeof(res->msg), "sigprocmask: %s", strerror(errno));
		return;
	}

	err = zram_setup(&z, o->zram_disk, alg, why, sizeof(why));
	if (err) {
		snprintf(res->msg, sizeof(res->msg), "%s", why);
		goto out_signals;
	}
	snprintf(cgdir, sizeof(cgdir), MEMCG_ROOT "/hetmem-bench-%d", (int)getpid());
	if (mkdir(cgdir, 0755) != 0) {
		snprintf(res->msg, sizeof(res->msg), "mkdir %s: %s", cgdir, strerror(errno));
		cgdir[0] = '\0';
		goto out_zram;
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(res->msg, sizeof(res->msg), "pipe: %s", strerror(errno));
		goto out_cg;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(res->msg, sizeof(res->msg), "fork: %s", strerror(errno));
		goto out_pipe;
	}
	if (pid == 0) {
		close(pfd[0]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		zram_child(o, cgdir, z.sys, pfd[1]);  /* does not return */
	}
	close(pfd[1]);
	pfd[1] = -1;
	err = read_result(pfd[0], res, sizeof(*res), 240 * 1000);
	snprintf(res->alg, sizeof(res->alg), "%s", alg);
	if (err) {
		snprintf(res->msg, sizeof(res->msg), "child gave no result: %s", strerror(-err));
		res->ok = false;
		if (kill(pid, SIGKILL) != 0 && errno != ESRCH)
			fprintf(stderr, "bench_fault: kill(%d): %s\n", (int)pid, strerror(errno));
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "bench_fault: waitpid(%d): %s\n", (int)pid, strerror(errno));
			break;
		}
	}
out_pipe:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
out_cg:
	memcg_remove(cgdir);
out_zram:
	zram_teardown(&z);
out_signals:
	if (sigprocmask(SIG_SETMASK, &old, NULL) != 0)
		fprintf(stderr, "bench_fault: sigprocmask: %s\n", strerror(errno));
}

/* ---------------------------------------------------------------------- */
/* hetmem                                                                  */
/* ---------------------------------------------------------------------- */

struct hm_res {
	bool ok;                  /* ran to the end and the data verified */
	char msg[256];            /* what went wrong */
	struct lat fault;         /* fault-back latency, µs */
	double demote_gbps;       /* median over demotions */
	double promote_gbps;      /* median over promotions */
	uint64_t folios;          /* folios per region */
	uint64_t faults_fetch, faults, readahead, demoted, promoted, failures;
	uint64_t short_moves;     /* hm_migrate calls that moved fewer pages */
};

static void hm_fail(struct hm_res *r, const char *what, long rc)
{
	const char *m = hm_last_error();

	snprintf(r->msg, sizeof(r->msg), "%s: %s%s%s", what,
		 rc < 0 ? strerror((int)-rc) : "unexpected result",
		 m && m[0] ? " — " : "", m ? m : "");
}

/* Time one hm_migrate of the whole region; counts a short move. */
static long timed_migrate(struct hm_res *r, char *p, size_t size, int tier, uint64_t *ns)
{
	uint64_t t0 = now_ns();
	long moved = hm_migrate(p, size, tier, NULL);

	*ns = now_ns() - t0;
	if (moved >= 0 && (size_t)moved != size / PAGE)
		r->short_moves++;
	return moved;
}

static void bench_hetmem_one(const struct opts *o, int tier, int fi, struct hm_res *r)
{
	size_t fsz = folio_sizes[fi], size = o->hm_size, nf = size / fsz, bad;
	int rounds = o->rounds;
	double *us = malloc((size_t)rounds * nf * sizeof(*us));
	double *dem = malloc((size_t)rounds * 2 * sizeof(*dem));
	double *pro = malloc((size_t)rounds * sizeof(*pro));
	size_t *idx = shuffled_indices(nf, 0xf011 + (uint64_t)fi);
	size_t nus = 0, ndem = 0, npro = 0;
	struct hm_stats s0, s1;
	uint64_t ns;
	char *p = NULL;
	long rc;

	memset(r, 0, sizeof(*r));
	r->folios = nf;
	if (!us || !dem || !pro || !idx) {
		snprintf(r->msg, sizeof(r->msg), "out of memory");
		goto out;
	}
	p = hm_alloc(size, fsz);
	if (!p) {
		hm_fail(r, "hm_alloc", -errno);
		goto out;
	}
	if (hm_stats_get(&s0) != 0) {
		hm_fail(r, "hm_stats_get", -EINVAL);
		goto out_free;
	}
	for (int round = 0; round < rounds; round++) {
		uint64_t seed = 100 + (uint64_t)round * 10 + (uint64_t)fi;

		fill_range(p, size, seed);

		/* demote (RAM -> tier) */
		rc = timed_migrate(r, p, size, tier, &ns);
		if (rc < 0) {
			hm_fail(r, "hm_migrate to the tier", rc);
			goto out_free;
		}
		dem[ndem++] = gbps(size, ns);

		/* fault back: one read per folio, random order */
		for (size_t i = 0; i < nf; i++) {
			volatile char *q = p + idx[i] * fsz + ((fsz / 2) & ~(PAGE - 1));
			uint64_t t0 = now_ns();

			compiler_barrier();
			(void)*q;
			compiler_barrier();
			us[nus++] = (double)(now_ns() - t0) / 1000.0;
		}
		if (!verify_range(p, size, seed, &bad)) {
			snprintf(r->msg, sizeof(r->msg),
				 "wrong data after fault-back at offset %zu (round %d)", bad, round);
			goto out_free;
		}

		/* demote again, then promote (tier -> RAM) with hm_migrate */
		rc = timed_migrate(r, p, size, tier, &ns);
		if (rc < 0) {
			hm_fail(r, "hm_migrate to the tier (2nd)", rc);
			goto out_free;
		}
		dem[ndem++] = gbps(size, ns);
		rc = timed_migrate(r, p, size, 0, &ns);
		if (rc < 0) {
			hm_fail(r, "hm_migrate to RAM", rc);
			goto out_free;
		}
		pro[npro++] = gbps(size, ns);
		if (!verify_range(p, size, seed, &bad)) {
			snprintf(r->msg, sizeof(r->msg),
				 "wrong data after promotion at offset %zu (round %d)", bad, round);
			goto out_free;
		}
	}
	if (hm_stats_get(&s1) != 0) {
		hm_fail(r, "hm_stats_get", -EINVAL);
		goto out_free;
	}
	r->fault = lat_summarize(us, nus);
	r->demote_gbps = median(dem, ndem);
	r->promote_gbps = median(pro, npro);
	r->faults = s1.faults - s0.faults;
	r->faults_fetch = s1.faults_fetch - s0.faults_fetch;
	r->readahead = s1.readahead_folios - s0.readahead_folios;
	r->demoted = s1.pages_demoted - s0.pages_demoted;
	r->promoted = s1.pages_promoted - s0.pages_promoted;
	r->failures = s1.migrate_failures - s0.migrate_failures;
	r->ok = true;
out_free:
	rc = hm_free(p, 0);
	if (rc != 0)
		fprintf(stderr, "bench_fault: hm_free: %s (%s)\n", strerror((int)-rc),
			hm_last_error());
out:
	free(us);
	free(dem);
	free(pro);
	free(idx);
}

/* hm_init, add the tier, run the three folio sizes.  Returns the tier id
 * (hetmem left initialised: see hetmem_finish), or -errno with @why filled
 * when hetmem could not start. */
static int bench_hetmem(const struct opts *o, struct hm_res res[3], char *why,
			size_t whylen, struct hm_stats *total)
{
	struct hm_config cfg = { .demote = HM_DEMOTE_AUTO,
				 .readahead_max = HM_READAHEAD_OFF };
	struct hm_features f;
	int rc, tier;

	rc = hm_init(&cfg);
	if (rc) {
		snprintf(why, whylen, "hm_init: %s (%s)", strerror(-rc), hm_last_error());
		return rc;
	}
	if (hm_probe_features(&f) == 0)
		printf("hetmem: demote mode %s (kernel: UFFDIO_MOVE %s, write-protect %s), "
		       "readahead off\n",
		       f.demote == HM_DEMOTE_MOVE ? "move" : f.demote == HM_DEMOTE_WP ? "wp" : "auto",
		       f.move ? "yes" : "no", f.wp ? "yes" : "no");
	tier = hm_tier_add(o->tier_spec);
	if (tier < 0) {
		snprintf(why, whylen, "hm_tier_add(\"%s\"): %s (%s)", o->tier_spec,
			 strerror(-tier), hm_last_error());
		rc = hm_shutdown();
		if (rc)
			fprintf(stderr, "bench_fault: hm_shutdown: %s\n", strerror(-rc));
		return tier;
	}
	for (int i = 0; i < 3; i++) {
		printf("hetmem: %s folios ...\n", folio_names[i]);
		fflush(stdout);
		bench_hetmem_one(o, tier, i, &res[i]);
	}
	if (hm_stats_get(total) != 0)
		memset(total, 0, sizeof(*total));
	return tier;
}

/* Remove the tier and shut hetmem down (after the report is out, so that a
 * problem here cannot cost the figures).  Returns 0 or -errno. */
static int hetmem_finish(int tier)
{
	int rc = hm_tier_remove(tier), err = 0;

	if (rc) {
		fprintf(stderr, "bench_fault: hm_tier_remove(%d): %s (%s)\n", tier,
			strerror(-rc), hm_last_error());
		err = rc;
	}
	rc = hm_shutdown();
	if (rc) {
		fprintf(stderr, "bench_fault: hm_shutdown: %s (%s)\n", strerror(-rc),
			hm_last_error());
		err = rc;
	}
	return err;
}

/* ---------------------------------------------------------------------- */
/* Report                                                                  */
/* ---------------------------------------------------------------------- */

static void print_lat_row(const char *name, const struct lat *l, const char *base_name,
			  const struct lat *b)
{
	char a50[16] = "-", a99[16] = "-", b50[16] = "", b99[16] = "", ratio[16] = "";

	if (name && l && l->valid) {
		snprintf(a50, sizeof(a50), "%.2f", l->p50);
		snprintf(a99, sizeof(a99), "%.2f", l->p99);
	}
	if (b && b->valid) {
		snprintf(b50, sizeof(b50), "%.2f", b->p50);
		if (isfinite(b->p99))
			snprintf(b99, sizeof(b99), "%.2f", b->p99);
		else
			snprintf(b99, sizeof(b99), "-");
		if (l && l->valid && b->p50 > 0)
			snprintf(ratio, sizeof(ratio), "%.2fx", l->p50 / b->p50);
	} else if (base_name) {
		snprintf(b50, sizeof(b50), "n/a");
	}
	if (!name)
		a50[0] = a99[0] = '\0';
	printf("  %-22s %9s %9s   %-34s %9s %9s %9s\n", name ? name : "", a50, a99,
	       base_name ? base_name : "", b50, b99, ratio);
}

/* One target line: @ratio against @target, as "x" or as a percentage. */
static void print_target(const char *what, double ratio, double target, bool higher_better,
			 bool percent)
{
	bool met;

	if (!isfinite(ratio)) {
		printf("  target: %-50s not measured\n", what);
		return;
	}
	met = higher_better ? ratio >= target : ratio <= target;
	if (percent)
		printf("  target: %-50s %6.0f%%  -> %s\n", what, 100 * ratio,
		       met ? "met" : "NOT met");
	else
		printf("  target: %-50s %6.2fx  -> %s\n", what, ratio, met ? "met" : "NOT met");
}

/* Everything one run measures, filled by the phases below, read by the report. */
struct results {
	struct lat anon, thp, raw[3];
	struct memcpy_res mc;
	struct zram_res zr;
	struct hm_res hr[3];
	struct hm_stats tot;
	bool hm_ran, all_ok;
	int tier;
};

/* Parse the command line into @o: -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			o->quick = true;
		} else if (strcmp(argv[i], "--no-zram") == 0) {
			o->no_zram = true;
		} else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc) {
			o->cpu = pin_to_cpu("bench_fault", argv[++i]);
			if (o->cpu < 0)
				return 2;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "bench_fault: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* The sizes of a quick or a full run. */
static void set_sizes(struct opts *o)
{
	if (o->quick) {
		o->hm_size = 64 * MiB;
		o->rounds = 1;
		o->anon_size = 64 * MiB;
		o->thp_size = 64 * MiB;
		o->zram_data = 64 * MiB;
		o->zram_limit = 16 * MiB;
		o->zram_disk = 256 * MiB;
	} else {
		o->hm_size = 256 * MiB;
		o->rounds = 3;
		o->anon_size = 256 * MiB;
		o->thp_size = 512 * MiB;
		o->zram_data = 256 * MiB;
		o->zram_limit = 64 * MiB;
		o->zram_disk = 1 * GiB;
	}
	/* 4 KiB round trips are many and slow where a wake-up crosses CPUs */
	o->raw_size[0] = o->hm_size / 4;
	o->raw_size[1] = o->raw_size[2] = o->hm_size;
	o->tier_spec = "emu:2G";
}

static void print_header(const struct opts *o)
{
	printf("bench_fault (%s): hetmem region %zu MiB x %d round(s), tier %s, %s\n",
	       o->quick ? "quick" : "full", o->hm_size / MiB, o->rounds, o->tier_spec,
	       o->cpu >= 0 ? "pinned to one CPU" : "not pinned");
	if (o->cpu >= 0)
		printf("pinned: every thread runs on CPU %d\n", o->cpu);
	printf("latencies in microseconds (one timed access each, random order, "
	       "CLOCK_MONOTONIC); GB/s = 1e9 bytes/s\n\n");
}

/* The kernel's own costs in the same run: anonymous and THP faults, memcpy,
 * bare userfaultfd round trips, swap-in from zram. */
static void run_baselines(const struct opts *o, struct results *r)
{
	char thp_why[160] = "";
	printf("baseline: kernel anonymous page fault (%zu MiB, 4 KiB pages) ...\n",
	       o->anon_size / MiB);
	fflush(stdout);
	/* each fault baseline runs twice and keeps the second: in a VM the first
	 * touch of guest memory also pays the host's fault, which is not the
	 * guest kernel's cost (hetmem's fault-back reuses recycled pages too) */
	if (bench_anon_fault(o->anon_size, &r->anon) != 0 ||
	    bench_anon_fault(o->anon_size, &r->anon) != 0)
		r->all_ok = false;
	printf("baseline: kernel THP fault (%zu MiB, 2 MiB pages) ...\n", o->thp_size / MiB);
	fflush(stdout);
	if (bench_thp_fault(o->thp_size, &r->thp, thp_why, sizeof(thp_why)) != 0 ||
	    bench_thp_fault(o->thp_size, &r->thp, thp_why, sizeof(thp_why)) != 0) {
		r->thp.valid = false;
		printf("THP baseline: skipped (%s)\n", thp_why);
	}
	printf("baseline: memcpy (%zu MiB, warm) ...\n", o->hm_size / MiB);
	fflush(stdout);
	if (bench_memcpy(o->hm_size, o->quick ? 2 : 3, &r->mc) != 0) {
		r->all_ok = false;
		for (int i = 0; i < 3; i++)
			r->mc.gbps[i] = r->mc.us_per_block[i] = NAN;
		r->mc.hot_2m_gbps = r->mc.hot_2m_us = NAN;
	}
	for (int i = 0; i < 3; i++) {
		char rwhy[160];

		printf("baseline: bare userfaultfd round trip, %s folios (%zu MiB) ...\n",
		       folio_names[i], o->raw_size[i] / MiB);
		fflush(stdout);
		if (bench_raw_uffd(o->raw_size[i], folio_sizes[i], &r->raw[i], rwhy, sizeof(rwhy))) {
			r->raw[i].valid = false;
			printf("userfaultfd baseline: skipped (%s)\n", rwhy);
		}
	}
	printf("baseline: kernel swap-in from zram under a memcg limit (%zu MiB in %zu MiB) ...\n",
	       o->zram_data / MiB, o->zram_limit / MiB);
	fflush(stdout);
	bench_zram(o, &r->zr);
	if (!r->zr.ok)
		printf("zram baseline: skipped (%s)\n", r->zr.msg);
}

/* hetmem's fault-back and migrations, per folio size. */
static void run_hetmem(const struct opts *o, struct results *r)
{
	char why[256] = "";
	r->tier = bench_hetmem(o, r->hr, why, sizeof(why), &r->tot);
	if (r->tier < 0) {
		printf("hetmem: skipped (%s)\n", why);
		r->all_ok = false;
		return;
	}
	r->hm_ran = true;
	for (int i = 0; i < 3; i++) {
		if (!r->hr[i].ok) {
			printf("hetmem %s folios: FAILED: %s\n", folio_names[i], r->hr[i].msg);
			r->all_ok = false;
		}
	}
}

static void print_latency(const struct results *r)
{
	const struct zram_res *zr = &r->zr;
	const struct memcpy_res *mc = &r->mc;
	printf("\n== fault latency (us) ==\n");
	printf("  %-22s %9s %9s   %-34s %9s %9s %9s\n", "hetmem fault-back", "p50", "p99",
	       "baseline (same run)", "p50", "p99", "ratio p50");
	const struct lat *l4 = r->hm_ran && r->hr[0].ok ? &r->hr[0].fault : NULL;
	const struct lat *l64 = r->hm_ran && r->hr[1].ok ? &r->hr[1].fault : NULL;
	const struct lat *l2m = r->hm_ran && r->hr[2].ok ? &r->hr[2].fault : NULL;
	struct lat mc64 = { .valid = isfinite(mc->us_per_block[1]),
			    .p50 = mc->us_per_block[1], .p99 = NAN };
	struct lat mc2m = { .valid = isfinite(mc->us_per_block[2]),
			    .p50 = mc->us_per_block[2], .p99 = NAN };
	struct lat mc4 = { .valid = isfinite(mc->us_per_block[0]),
			   .p50 = mc->us_per_block[0], .p99 = NAN };

	print_lat_row("4 KiB folio", l4, "kernel zram swap-in, memcg limit",
		      zr->ok ? &zr->limited : NULL);
	print_lat_row(NULL, l4, "kernel zram swap-in, no limit",
		      zr->ok ? &zr->unlimited : NULL);
	print_lat_row(NULL, l4, "bare userfaultfd round trip 4 KiB", &r->raw[0]);
	print_lat_row(NULL, l4, "kernel anon fault 4 KiB", &r->anon);
	print_lat_row(NULL, l4, "memcpy 4 KiB (mean)", &mc4);
	print_lat_row("64 KiB folio", l64, "bare userfaultfd round trip 64 KiB", &r->raw[1]);
	print_lat_row(NULL, l64, "memcpy 64 KiB (mean)", &mc64);
	print_lat_row("2 MiB folio", l2m, "bare userfaultfd round trip 2 MiB", &r->raw[2]);
	print_lat_row(NULL, l2m, "memcpy 2 MiB (mean)", &mc2m);
	print_lat_row(NULL, l2m, "kernel THP fault 2 MiB", r->thp.valid ? &r->thp : NULL);
	if (zr->ok)
		printf("  zram: %s, %" PRIu64 " of %" PRIu64 " pages swapped out, "
		       "%.2f:1 compressed; major faults %" PRIu64 "/%zu (limit), "
		       "%" PRIu64 "/%zu (no limit)\n",
		       zr->alg, zr->swapped, zr->pages,
		       zr->compr_bytes ? (double)zr->orig_bytes / (double)zr->compr_bytes : 0.0,
		       zr->majflt_limited, zr->limited.n, zr->majflt_unlimited, zr->unlimited.n);
}

static void print_throughput(const struct opts *o, const struct results *r)
{
	printf("\n== migration throughput (GB/s, %zu MiB per hm_migrate, median) ==\n",
	       o->hm_size / MiB);
	printf("  %-8s %8s %8s %10s   %-22s %7s %9s %9s\n", "folio", "demote", "promote",
	       "fault-back", "baseline", "GB/s", "dem/base", "pro/base");
	for (int i = 0; i < 3; i++) {
		char d[16] = "-", p[16] = "-", f[16] = "-", rd[16] = "", rp[16] = "", bn[40];
		double b = r->mc.gbps[i];
		const struct hm_res *h = &r->hr[i];

		if (r->hm_ran && h->ok) {
			snprintf(d, sizeof(d), "%.2f", h->demote_gbps);
			snprintf(p, sizeof(p), "%.2f", h->promote_gbps);
			snprintf(f, sizeof(f), "%.2f",
				 (double)folio_sizes[i] / (h->fault.p50 * 1000.0));
			snprintf(rd, sizeof(rd), "%.0f%%", 100 * h->demote_gbps / b);
			snprintf(rp, sizeof(rp), "%.0f%%", 100 * h->promote_gbps / b);
		}
		snprintf(bn, sizeof(bn), "memcpy %s blocks", folio_names[i]);
		printf("  %-8s %8s %8s %10s   %-22s %7.2f %9s %9s\n", folio_names[i], d, p, f, bn,
		       b, rd, rp);
	}
	printf("  (fault-back: one folio per fault at the p50 latency)\n");
	printf("  (memcpy of one cache-hot 2 MiB block: %.2f GB/s, %.1f us)\n",
	       r->mc.hot_2m_gbps, r->mc.hot_2m_us);
}

static void print_counters(const struct opts *o, const struct results *r)
{
	const struct hm_stats *tot = &r->tot;
	printf("\n== hetmem counters (hm_stats deltas per folio size) ==\n");
	printf("  %-8s %8s %10s %10s %10s %10s %10s %10s %8s\n", "folio", "folios",
	       "faults", "fetch", "readahead", "demoted", "promoted", "failures", "short");
	for (int i = 0; i < 3; i++) {
		const struct hm_res *h = &r->hr[i];
		if (!h->ok)
			continue;
		printf("  %-8s %8" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
		       " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %8" PRIu64 "\n",
		       folio_names[i], h->folios, h->faults, h->faults_fetch,
		       h->readahead, h->demoted, h->promoted, h->failures,
		       h->short_moves);
		if (h->faults_fetch != h->folios * (uint64_t)o->rounds)
			printf("  note: %s: %" PRIu64 " fetch faults for %" PRIu64
			       " timed touches: some touches did not fault\n",
			       folio_names[i], h->faults_fetch,
			       h->folios * (uint64_t)o->rounds);
	}
	printf("  total: faults served %" PRIu64 " (zero-fill %" PRIu64 ", fetch %" PRIu64
	       ", waited %" PRIu64 ", wp %" PRIu64 "), pages demoted %" PRIu64
	       ", promoted %" PRIu64 ", poisoned %" PRIu64 "\n",
	       tot->faults, tot->faults_zero, tot->faults_fetch, tot->faults_wait,
	       tot->faults_wp, tot->pages_demoted, tot->pages_promoted, tot->poisoned);
}

static void print_targets(const struct opts *o, const struct results *r)
{
	const struct hm_res *hr = r->hr;
	bool h0 = r->hm_ran && hr[0].ok, h2 = r->hm_ran && hr[2].ok;
	printf("\n== targets ==\n");
	print_target("4 KiB fault-back p50 / zram swap-in p50 (<= 1.5x)",
		     h0 && r->zr.ok ? hr[0].fault.p50 / r->zr.limited.p50 : NAN,
		     1.5, false, false);
	print_target("2 MiB demotion / memcpy 2 MiB blocks (>= 50%)",
		     h2 ? hr[2].demote_gbps / r->mc.gbps[2] : NAN, 0.5, true, true);
	print_target("2 MiB promotion / memcpy 2 MiB blocks (>= 50%)",
		     h2 ? hr[2].promote_gbps / r->mc.gbps[2] : NAN, 0.5, true, true);
	if (r->raw[0].valid && r->zr.ok)
		printf("  note: a bare userfaultfd round trip alone is %.2fx the zram swap-in p50 "
		       "here%s\n", r->raw[0].p50 / r->zr.limited.p50,
		       o->cpu < 0 ? " (--cpu N shows it without cross-CPU wake-ups)" : "");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct opts o = { .cpu = -1 };
	static struct results r = { .all_ok = true };
	uint64_t t_start = now_ns();

	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	set_sizes(&o);
	print_header(&o);
	run_baselines(&o, &r);
	run_hetmem(&o, &r);
	print_latency(&r);
	print_throughput(&o, &r);
	if (r.hm_ran)
		print_counters(&o, &r);
	print_targets(&o, &r);
	if (r.hm_ran && hetmem_finish(r.tier) != 0)
		r.all_ok = false;
	printf("\nbench_fault: %s in %.1f s\n", r.all_ok ? "done" : "done with FAILURES",
	       (double)(now_ns() - t_start) / 1e9);
	return r.all_ok ? 0 : 1;
}
