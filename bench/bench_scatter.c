/*
 * bench_scatter — does it matter where in physical memory a hot set's pages
 * lie?  A machine property, measured for GUPS's idle phases (
 * docs/bench-logs/JOURNAL.md): hetmem's hot set is made of pages a tier fetch
 * or a recycled victim gave it, from anywhere in memory, where a fresh
 * allocation takes the free lists' pages in a run.
 *
 * Usage: bench_scatter [--size SIZE] [--spread K[,K...]] [--stride] [--seconds S]
 *
 * For each K: region A is SIZE allocated fresh and written; region B is
 * SIZE made of a random one in K of the pages of a fresh K*SIZE (--stride:
 * every Kth page, so that the low bits of their frame numbers are alike),
 * moved there frame and all with UFFDIO_MOVE, the call hetmem demotes and
 * recycles with; the other pages are freed.  Then random 8-byte read-modify-writes alternate between
 * A and B in 100 ms windows for S seconds, so the machine's drift falls on
 * both alike, and the rates, their ratio and the number of distinct 2 MiB
 * physical frames under each region are printed (frame numbers need root).
 * K = 1 is the control: B is moved the same way but not scattered.
 * Both regions are 4 KiB pages (MADV_NOHUGEPAGE).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../src/os/uffd_compat.h"
#include "bench_common.h"

#define WIN_NS 100000000ull
#define MAX_K 16


static void *map4k(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* B: @len / 4096 pages of a fresh @k * @len, moved into a region registered
 * with @uffd: every @k-th page (@stride), or a random 1 in @k.  NULL with a
 * message on failure. */
static uint64_t *scattered(int uffd, size_t len, int k, bool stride)
{
	size_t big_len = (size_t)k * len;
	char *big = map4k(big_len), *b = map4k(len);
	if (!big || !b) {
		fprintf(stderr, "bench_scatter: mmap: %s\n", strerror(errno));
		return NULL;
	}
	for (size_t i = 0; i < big_len; i += 4096)
		big[i] = 1;
	struct uffdio_register reg = {.range = {(uintptr_t)b, len}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		fprintf(stderr, "bench_scatter: UFFDIO_REGISTER: %s\n", strerror(errno));
		return NULL;
	}
	size_t n = len / 4096, nbig = big_len / 4096;
	uint32_t *pick = malloc(nbig * sizeof(*pick));
	if (!pick) {
		fprintf(stderr, "bench_scatter: out of memory\n");
		return NULL;
	}
	uint64_t s = 0x2545f4914f6cdd1dull;
	for (size_t i = 0; i < nbig; i++)
		pick[i] = (uint32_t)(stride ? i * k : i);
	if (!stride) /* the first n of a random permutation */
		for (size_t i = 0; i < n; i++) {
			size_t j = i + xorshift64(&s) % (nbig - i);
			uint32_t t = pick[i];
			pick[i] = pick[j];
			pick[j] = t;
		}
	for (size_t i = 0; i < n; i++) {
		struct uffdio_move mv = {.dst = (uintptr_t)b + i * 4096, .src = (uintptr_t)big + (size_t)pick[i] * 4096,
					 .len = 4096};
		if (ioctl(uffd, UFFDIO_MOVE, &mv)) {
			fprintf(stderr, "bench_scatter: UFFDIO_MOVE: %s\n", strerror(errno));
			free(pick);
			return NULL;
		}
	}
	free(pick);
	munmap(big, big_len);
	return (uint64_t *)b;
}

static void frames(const char *what, const void *p, size_t len)
{
	size_t present;
	long f = pagemap_frames_2m(p, len, &present);
	if (f >= 0)
		printf("%s %ld", what, f);
	else
		printf("%s: %s", what, f == -EPERM ? "need root" : strerror((int)-f));
}

int main(int argc, char **argv)
{
	uint64_t size = 1ull << 30;
	int ks[MAX_K], nk = 0;
	double secs = 20;
	bool stride = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			if (parse_size(argv[++i], &size) || size < (1u << 20) || size % 4096) {
				fprintf(stderr, "bench_scatter: --size %s: a size of at least 1M, in 4K pages\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--spread") && i + 1 < argc) {
			char *s = argv[++i], *end;
			nk = 0;
			do {
				long k = strtol(s, &end, 10);
				if (end == s || k < 1 || k > 64 || nk == MAX_K || (*end && *end != ',')) {
					fprintf(stderr, "bench_scatter: --spread %s: a list of 1 to %d numbers in 1..64\n",
						argv[i], MAX_K);
					return 2;
				}
				ks[nk++] = (int)k;
				s = end + 1;
			} while (*end == ',');
		} else if (!strcmp(argv[i], "--stride")) {
			stride = true;
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			secs = atof(argv[++i]);
			if (secs < 1 || secs > 3600) {
				fprintf(stderr, "bench_scatter: --seconds %s: 1 to 3600\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: bench_scatter [--size SIZE] [--spread K[,K...]] [--stride] [--seconds S]\n");
			return 2;
		}
	}
	if (!nk) {
		ks[0] = 1, ks[1] = 8, ks[2] = 16;
		nk = 3;
	}
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_MOVE};
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		printf("bench_scatter: skipped: userfaultfd with UFFDIO_MOVE unavailable (%s)\n", strerror(errno));
		return 0;
	}
	for (int j = 0; j < nk; j++) {
		uint64_t *a = map4k(size), s = 0x9e3779b97f4a7c15ull;
		if (!a) {
			fprintf(stderr, "bench_scatter: mmap: %s\n", strerror(errno));
			return 1;
		}
		for (size_t i = 0; i < size / 8; i++)
			a[i] = xorshift64(&s);
		uint64_t *b = scattered(uffd, size, ks[j], stride);
		if (!b)
			return 1;
		for (size_t i = 0; i < size / 8; i++)
			b[i] = xorshift64(&s);
		double sum[2] = {0, 0};
		int n[2] = {0, 0};
		uint64_t t0 = mono_ns(), nw = size / 8;
		for (int w = 0; mono_ns() - t0 < (uint64_t)(secs * 1e9); w++) {
			uint64_t *q = w & 1 ? b : a, cnt = 0, ws = mono_ns(), t;
			do {
				for (int k = 0; k < 512; k++) {
					uint64_t x = xorshift64(&s);
					q[x % nw] += x;
				}
				cnt += 512;
			} while ((t = mono_ns()) < ws + WIN_NS);
			sum[w & 1] += (double)cnt * 1e9 / (double)(t - ws);
			n[w & 1]++;
		}
		double ra = sum[0] / n[0], rb = sum[1] / n[1];
		printf("%s %2d: fresh %.2f M/s, scattered %.2f M/s, scattered/fresh %.0f%%;", stride ? "stride" : "random 1 in", ks[j], ra / 1e6, rb / 1e6,
		       100 * rb / ra);
		frames(" 2 MiB frames under fresh", a, size);
		frames(", under scattered", b, size);
		printf("\n");
		fflush(stdout);
		munmap(a, size);
		munmap(b, size);
	}
	return 0;
}
