/*
 * bench_compress — hetmem's compressed tier against the kernel's zram, on the
 * same pages, in the same run.
 *
 * Corpora (each cut or cycled to --size bytes):
 *   mix       synthetic: 15% zero pages, 5% same-filled, 10% random, 35%
 *             text, 35% records of small integers (made here, seeded)
 *   NAME      every DIR/NAME.pages file given with --pages DIR: pages taken
 *             from real programs by bench/pages.py (a redis heap, an SQLite
 *             database, a python heap)
 *
 * For each corpus:
 *   zram      (root, memcg v1, zram) a forked child in a memcg limited to a
 *             quarter of the corpus fills a region with it; the limit pushes
 *             the rest to a fresh zram swap device.  Its mm_stat gives the
 *             bytes stored and the RAM zram used for them (its allocator
 *             included); the swapped pages are then read back in random
 *             order with the limit lifted (the swap-in alone), timed.
 *   hetmem    a region of 4 KiB folios filled with the corpus is demoted
 *             whole to a "lz4:"/"zstd:" tier (hm_migrate); the tier's
 *             counters give the bytes stored, the pool's RAM and the time
 *             spent compressing; then every page that went to the tier is
 *             read back in random order, timed (the fault-back), and the
 *             data compared with the corpus.
 *
 * The ratio compared is bytes of pages taken off RAM over the RAM they now
 * use: zram's (orig_data_size + same_pages * 4096) / mem_used_total, and
 * hetmem's pages demoted * 4096 / pool bytes (incompressible pages are
 * demoted too, stored raw in the pool, as zram stores its "huge" pages).
 *
 * Usage: bench_compress [--quick] [--size SIZE] [--pages DIR] [--algo lz4|zstd]
 *                       [--level N] [--no-zram] [--cpu N]
 * Exit status 0 when every run completed and verified, 1 otherwise, 2 on a
 * usage error.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "hetmem.h"

#define PAGE ((size_t)4096)
#define MiB ((size_t)1 << 20)
#define MAX_CORPORA 8

struct opts {
	size_t size;
	const char *pages_dir;
	const char *algo;
	int level;          /* zstd level, 0 = the tier's default */
	bool no_zram;
};

struct corpus {
	char name[64];
	char *data;         /* o->size bytes */
};

struct zres {
	bool ok;
	char msg[256];
	char alg[32];
	uint64_t orig, compr, used, same, huge, swapped;
	struct lat swapin;
};

struct hres {
	bool ok;
	char msg[256];
	uint64_t demoted, incompressible, logical, stored, pool, zero, same;
	uint64_t comp_ns, decomp_ns;
	struct lat fault;
};

static inline void barrier(void)
{
	__asm__ __volatile__("" ::: "memory");
}

static inline uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void shuffle(size_t *idx, size_t n, uint64_t seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(mix(seed + i) % i), t = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

static const char *const words[] = {
	"the", "of", "and", "order", "payment", "shipped", "account", "session", "user",
	"name", "value", "status", "delivered", "refund", "price", "total", "email",
	"address", "city", "created", "updated", "null", "true", "false", "id",
};

/* One page of the synthetic mix; the kind of page @i is drawn from its hash. */
static void mix_page(char *p, uint64_t i)
{
	uint64_t h = mix(i * 0x100000001b3ull + 77), kind = h % 100, *w = (uint64_t *)p;

	if (kind < 15) {
		memset(p, 0, PAGE);
	} else if (kind < 20) {
		for (size_t j = 0; j < PAGE / 8; j++)
			w[j] = h;
	} else if (kind < 30) {
		for (size_t j = 0; j < PAGE / 8; j++)
			w[j] = mix(h + j);
	} else if (kind < 65) {
		size_t off = 0;
		uint64_t s = h;

		while (off < PAGE) {
			const char *wd = words[xorshift64(&s) % (sizeof(words) / sizeof(words[0]))];
			size_t n = strlen(wd);

			for (size_t k = 0; k < n && off < PAGE; k++)
				p[off++] = wd[k];
			if (off < PAGE)
				p[off++] = (xorshift64(&s) % 9) ? ' ' : '\n';
		}
	} else {
		/* records: {id, small count, a price in cents, a flag} as 32-bit ints */
		uint32_t *r = (uint32_t *)p;
		uint64_t s = h;

		for (size_t j = 0; j + 4 <= PAGE / 4; j += 4) {
			r[j] = (uint32_t)(i * 256 + j / 4);
			r[j + 1] = (uint32_t)(xorshift64(&s) % 16);
			r[j + 2] = (uint32_t)(xorshift64(&s) % 100000);
			r[j + 3] = (uint32_t)(xorshift64(&s) % 2);
		}
	}
}

static int load_file(const char *path, char *dst, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t have = 0;

	if (fd < 0)
		return -errno;
	while (have < size) {
		ssize_t n = read(fd, dst + have, size - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	have -= have % PAGE;
	if (have == 0)
		return -ENODATA;
	/* cycle a short corpus: compression is per page, so a repeat costs the
	 * same as the first copy in both systems */
	for (size_t off = have; off < size; off += have)
		memcpy(dst + off, dst, size - off < have ? size - off : have);
	return 0;
}

static int load_corpora(const struct opts *o, struct corpus *c)
{
	int n = 0;

	snprintf(c[n].name, sizeof(c[n].name), "mix");
	c[n].data = malloc(o->size);
	if (!c[n].data)
		return -ENOMEM;
	for (size_t off = 0; off < o->size; off += PAGE)
		mix_page(c[n].data + off, off / PAGE);
	n++;
	if (!o->pages_dir)
		return n;

	DIR *d = opendir(o->pages_dir);
	struct dirent *e;

	if (!d) {
		fprintf(stderr, "bench_compress: --pages %s: %s\n", o->pages_dir, strerror(errno));
		return -errno;
	}
	while ((e = readdir(d)) && n < MAX_CORPORA) {
		size_t len = strlen(e->d_name);
		char path[512];
		int rc;

		if (len < 7 || strcmp(e->d_name + len - 6, ".pages") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", o->pages_dir, e->d_name);
		c[n].data = malloc(o->size);
		if (!c[n].data)
			break;
		rc = load_file(path, c[n].data, o->size);
		if (rc) {
			fprintf(stderr, "bench_compress: %s: %s (skipped)\n", path, strerror(-rc));
			free(c[n].data);
			continue;
		}
		snprintf(c[n].name, sizeof(c[n].name), "%.*s", (int)(len - 6), e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* ---------------------------------------------------------------------- */
/* zram                                                                    */
/* ---------------------------------------------------------------------- */

static void zram_child(const struct opts *o, const struct corpus *c, const char *cgdir,
		       const char *zsys, int fd)
{
	struct zres r = { 0 };
	size_t npages = o->size / PAGE, nswap = 0;
	char path[160], buf[256];
	uint64_t *pm = malloc(npages * sizeof(*pm));
	size_t *idx = malloc(npages * sizeof(*idx));
	double *us = malloc(npages * sizeof(*us));
	char *p;
	int pmfd;

#define FAIL(...) do { snprintf(r.msg, sizeof(r.msg), __VA_ARGS__); goto out; } while (0)
	alarm(300);
	if (!pm || !idx || !us)
		FAIL("out of memory");
	if (memcg_join(cgdir, o->size / 4, r.msg, sizeof(r.msg)))
		goto out;
	p = mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		FAIL("mmap: %s", strerror(errno));
	madvise(p, o->size, MADV_NOHUGEPAGE);
	memcpy(p, c->data, o->size);

	snprintf(path, sizeof(path), "%s/mm_stat", zsys);
	if (read_str(path, buf, sizeof(buf)) != 0 ||
	    sscanf(buf, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %*u %*u %" SCNu64 " %*u %" SCNu64,
		   &r.orig, &r.compr, &r.used, &r.same, &r.huge) < 4)
		FAIL("cannot read %s", path);

	pmfd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pmfd < 0 || pread(pmfd, pm, npages * 8, (off_t)((uintptr_t)p / PAGE * 8)) != (ssize_t)(npages * 8))
		FAIL("read /proc/self/pagemap: %s", strerror(errno));
	close(pmfd);
	for (size_t i = 0; i < npages; i++)
		if (pm[i] & (1ull << 62))
			idx[nswap++] = i;
	r.swapped = nswap;
	if (nswap < npages / 2)
		FAIL("only %zu of %zu pages went to zram", nswap, npages);
	shuffle(idx, nswap, 0x5eed);

	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", cgdir);
	if (write_str(path, "-1"))
		FAIL("cannot lift %s", path);
	for (size_t i = 0; i < nswap; i++) {
		volatile char *q = p + idx[i] * PAGE;
		uint64_t t0 = mono_ns();

		barrier();
		(void)*q;
		barrier();
		us[i] = (double)(mono_ns() - t0) / 1000.0;
	}
	r.swapin = lat_summarize(us, nswap);
	if (memcmp(p, c->data, o->size) != 0)
		FAIL("data read back from zram differs");
	r.ok = true;
out:
#undef FAIL
	write_all(fd, &r, sizeof(r));
	_exit(r.ok ? 0 : 1);
}

static void bench_zram(const struct opts *o, const struct corpus *c, struct zres *res)
{
	char cgdir[128], why[256] = "", alg[32] = "";
	struct zram_dev z;
	int pfd[2], status;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (o->no_zram) {
		snprintf(res->msg, sizeof(res->msg), "--no-zram");
		return;
	}
	if (zram_baseline_check(res->msg, sizeof(res->msg)) != 0)
		return;
	/* the same algorithm when zram has it; else the closest it offers */
	if (zram_setup_alg(&z, o->size + 64 * MiB, o->algo, alg, why, sizeof(why)) != 0 &&
	    zram_setup_alg(&z, o->size + 64 * MiB, NULL, alg, why, sizeof(why)) != 0) {
		snprintf(res->msg, sizeof(res->msg), "%s", why);
		return;
	}
	snprintf(cgdir, sizeof(cgdir), MEMCG_ROOT "/hetmem-bench-compress-%d", (int)getpid());
	if (mkdir(cgdir, 0755) != 0) {
		snprintf(res->msg, sizeof(res->msg), "mkdir %s: %s", cgdir, strerror(errno));
		zram_teardown(&z);
		return;
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(res->msg, sizeof(res->msg), "pipe: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		zram_child(o, c, cgdir, z.sys, pfd[1]);
	}
	close(pfd[1]);
	if (pid < 0 || read_result(pfd[0], res, sizeof(*res), 280 * 1000) != 0) {
		snprintf(res->msg, sizeof(res->msg), "the zram child gave no result");
		res->ok = false;
		if (pid > 0)
			kill(pid, SIGKILL);
	}
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	close(pfd[0]);
	snprintf(res->alg, sizeof(res->alg), "%s", alg);
out:
	memcg_remove(cgdir);
	zram_teardown(&z);
}

/* ---------------------------------------------------------------------- */
/* hetmem                                                                  */
/* ---------------------------------------------------------------------- */

static void bench_hetmem(const struct opts *o, const struct corpus *c, int tier, struct hres *r)
{
	size_t npages = o->size / PAGE, n = 0;
	size_t *idx = malloc(npages * sizeof(*idx));
	double *us = malloc(npages * sizeof(*us));
	int *where = malloc(npages * sizeof(*where));
	struct hm_stats s0, s1, s2;
	char *p = NULL;
	long rc;

	memset(r, 0, sizeof(*r));
#define FAIL(...) do { snprintf(r->msg, sizeof(r->msg), __VA_ARGS__); goto out; } while (0)
	if (!idx || !us || !where)
		FAIL("out of memory");
	p = hm_alloc(o->size, PAGE);
	if (!p)
		FAIL("hm_alloc: %s", strerror(errno));
	memcpy(p, c->data, o->size);
	if (hm_stats_get(&s0) != 0)
		FAIL("hm_stats_get failed");
	rc = hm_migrate(p, o->size, tier, NULL);
	if (rc < 0)
		FAIL("hm_migrate: %s (%s)", strerror((int)-rc), hm_last_error());
	if (hm_stats_get(&s1) != 0 || hm_where(p, o->size, where) != 0)
		FAIL("hm_stats_get/hm_where failed");
	for (size_t i = 0; i < npages; i++)
		if (where[i] == tier)
			idx[n++] = i;
	r->demoted = n;
	r->incompressible = s1.comp_incompressible - s0.comp_incompressible;
	r->logical = s1.comp_logical_bytes - s0.comp_logical_bytes;
	r->stored = s1.comp_stored_bytes - s0.comp_stored_bytes;
	r->pool = s1.comp_pool_bytes;
	r->zero = s1.comp_zero_pages - s0.comp_zero_pages;
	r->same = s1.comp_same_pages - s0.comp_same_pages;
	r->comp_ns = s1.comp_ns - s0.comp_ns;
	shuffle(idx, n, 0x5eed);
	for (size_t i = 0; i < n; i++) {
		volatile char *q = p + idx[i] * PAGE;
		uint64_t t0 = mono_ns();

		barrier();
		(void)*q;
		barrier();
		us[i] = (double)(mono_ns() - t0) / 1000.0;
	}
	if (hm_stats_get(&s2) != 0)
		FAIL("hm_stats_get failed");
	r->decomp_ns = s2.decomp_ns - s1.decomp_ns;
	r->fault = lat_summarize(us, n);
	if (memcmp(p, c->data, o->size) != 0)
		FAIL("data read back from the tier differs");
	r->ok = true;
out:
#undef FAIL
	if (p && hm_free(p, 0) != 0)
		fprintf(stderr, "bench_compress: hm_free: %s\n", hm_last_error());
	free(idx);
	free(us);
	free(where);
}

/* ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_compress [--quick] [--size SIZE] [--pages DIR] [--algo lz4|zstd]\n"
		   "                      [--level N] [--no-zram] [--cpu N]\n"
		   "  --size SIZE  bytes of each corpus (default 64M; --quick: 16M)\n"
		   "  --pages DIR  also the corpora DIR/*.pages (made by bench/pages.py DIR)\n"
		   "  --algo A     hetmem's compressor (default lz4); zram uses the same when\n"
		   "               this kernel's zram offers it\n"
		   "  --level N    zstd's level\n"
		   "  --no-zram    skip the kernel baseline (it needs root, memcg v1 and zram)\n"
		   "  --cpu N      run everything (hetmem's threads, zram's child) on CPU N\n");
}

static double ratio_or_nan(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

int main(int argc, char **argv)
{
	struct opts o = { .size = 64 * MiB, .algo = "lz4" };
	struct corpus c[MAX_CORPORA];
	struct zres zr[MAX_CORPORA];
	struct hres hr[MAX_CORPORA];
	struct hm_config cfg = { .demote = HM_DEMOTE_AUTO, .readahead_max = HM_READAHEAD_OFF };
	char spec[96];
	int n, tier, status = 0;

	for (int i = 1; i < argc; i++) {
		uint64_t sz;

		if (!strcmp(argv[i], "--quick")) {
			o.size = 16 * MiB;
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			if (parse_size(argv[++i], &sz) || sz < MiB) {
				fprintf(stderr, "bench_compress: --size '%s': not a size of 1M or more\n", argv[i]);
				return 2;
			}
			o.size = (size_t)sz;
		} else if (!strcmp(argv[i], "--pages") && i + 1 < argc) {
			o.pages_dir = argv[++i];
		} else if (!strcmp(argv[i], "--algo") && i + 1 < argc) {
			o.algo = argv[++i];
			if (strcmp(o.algo, "lz4") && strcmp(o.algo, "zstd")) {
				fprintf(stderr, "bench_compress: --algo '%s': lz4 or zstd\n", o.algo);
				return 2;
			}
		} else if (!strcmp(argv[i], "--level") && i + 1 < argc) {
			o.level = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
			if (pin_to_cpu("bench_compress", argv[++i]) < 0)
				return 2;
		} else if (!strcmp(argv[i], "--no-zram")) {
			o.no_zram = true;
		} else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "bench_compress: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	n = load_corpora(&o, c);
	if (n < 0)
		return 1;
	printf("bench_compress: %d corpora of %zu MiB, hetmem tier %s%s, 4 KiB folios\n", n,
	       o.size / MiB, o.algo, o.level ? " (level set)" : "");

	/* zram first: its children fork before hetmem starts in this process */
	for (int i = 0; i < n; i++) {
		printf("zram: %s ...\n", c[i].name);
		fflush(stdout);
		bench_zram(&o, &c[i], &zr[i]);
	}

	if (hm_init(&cfg) != 0) {
		fprintf(stderr, "bench_compress: hm_init: %s\n", hm_last_error());
		return 1;
	}
	if (o.level)
		snprintf(spec, sizeof(spec), "%s:%zuM,level=%d", o.algo, 2 * o.size / MiB, o.level);
	else
		snprintf(spec, sizeof(spec), "%s:%zuM", o.algo, 2 * o.size / MiB);
	for (int i = 0; i < n; i++) {
		/* a fresh tier per corpus: the pool's RAM is then this corpus's */
		tier = hm_tier_add(spec);
		if (tier < 0) {
			fprintf(stderr, "bench_compress: hm_tier_add(\"%s\"): %s\n", spec, hm_last_error());
			return 1;
		}
		printf("hetmem: %s ...\n", c[i].name);
		fflush(stdout);
		bench_hetmem(&o, &c[i], tier, &hr[i]);
		if (hm_tier_remove(tier) != 0)
			fprintf(stderr, "bench_compress: hm_tier_remove: %s\n", hm_last_error());
	}

	printf("\n== compression ratio: bytes taken off RAM / RAM they use (higher is better) ==\n");
	printf("  %-8s %9s %9s %9s %8s %7s %7s %9s %9s\n", "corpus", "hetmem", "zram", "h/zram",
	       "waste", "same%", "incomp%", "comp MB/s", "dec MB/s");
	for (int i = 0; i < n; i++) {
		const struct hres *h = &hr[i];
		const struct zres *z = &zr[i];
		double hrat = ratio_or_nan((double)h->demoted * PAGE, (double)h->pool);
		double zrat = z->ok ? ratio_or_nan((double)z->orig + (double)z->same * PAGE, (double)z->used) : NAN;
		double pages = (double)o.size / PAGE;

		if (!h->ok) {
			printf("  %-8s hetmem failed: %s\n", c[i].name, h->msg);
			status = 1;
			continue;
		}
		printf("  %-8s %8.2f:1 %8.2f:1 %8.1f%% %7.1f%% %6.1f%% %6.1f%% %9.0f %9.0f\n", c[i].name,
		       hrat, zrat, 100 * ratio_or_nan(hrat, zrat),
		       100 * ratio_or_nan((double)h->pool - (double)h->stored, (double)h->stored),
		       100 * (double)(h->zero + h->same) / pages, 100 * (double)h->incompressible / pages,
		       ratio_or_nan((double)h->logical * 1000, (double)h->comp_ns),
		       ratio_or_nan((double)h->logical * 1000, (double)h->decomp_ns));
	}
	printf("  (waste: pool RAM over compressed bytes stored, minus 1; same%%: zero or same-filled pages;\n   MB/s: of pages, over hetmem's compress and decompress time;\n"
	       "   zram: %s)\n", n && zr[0].ok ? zr[0].alg : (n ? zr[0].msg : "-"));

	printf("\n== 4 KiB fault-back (us): hetmem's compressed tier against zram swap-in ==\n");
	printf("  %-8s %9s %9s %9s %9s %9s\n", "corpus", "hetm p50", "hetm p99", "zram p50", "zram p99", "p50 ratio");
	for (int i = 0; i < n; i++) {
		const struct hres *h = &hr[i];
		const struct zres *z = &zr[i];

		if (!h->ok)
			continue;
		if (!z->ok) {
			printf("  %-8s %9.2f %9.2f   zram not measured: %s\n", c[i].name, h->fault.p50,
			       h->fault.p99, z->msg);
			if (!o.no_zram && strstr(z->msg, "differs"))
				status = 1;
			continue;
		}
		printf("  %-8s %9.2f %9.2f %9.2f %9.2f %8.2fx\n", c[i].name, h->fault.p50, h->fault.p99,
		       z->swapin.p50, z->swapin.p99, ratio_or_nan(h->fault.p50, z->swapin.p50));
	}

	printf("\n== targets ==\n");
	for (int i = 0; i < n; i++) {
		const struct hres *h = &hr[i];
		const struct zres *z = &zr[i];
		double hrat = ratio_or_nan((double)h->demoted * PAGE, (double)h->pool);
		double zrat = z->ok ? ratio_or_nan((double)z->orig + (double)z->same * PAGE, (double)z->used) : NAN;
		double waste = ratio_or_nan((double)h->pool - (double)h->stored, (double)h->stored);

		if (!h->ok)
			continue;
		printf("  target: %-7s ratio / zram's (>= 95%%)           %7.1f%% -> %s\n", c[i].name,
		       100 * ratio_or_nan(hrat, zrat), isnan(zrat) ? "not measured" : hrat >= 0.95 * zrat ? "met" : "NOT met");
		printf("  target: %-7s pool waste (<= 5%%)                 %7.1f%% -> %s\n", c[i].name,
		       100 * waste, waste <= 0.05 ? "met" : "NOT met");
		if (z->ok)
			printf("  target: %-7s fault-back p50 / zram swap-in p50 (<= 1x) %5.2fx -> %s\n",
			       c[i].name, h->fault.p50 / z->swapin.p50,
			       h->fault.p50 <= z->swapin.p50 ? "met" : "NOT met");
	}
	hm_shutdown();
	for (int i = 0; i < n; i++)
		free(c[i].data);
	return status;
}
