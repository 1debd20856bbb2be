/*
 * cases_common.h — helpers shared by the test programs of tests/preload
 * (preload_cases.c, thread_cases.c, audit_cases.c, fd_cases.c,
 * preload_mlock.c, pool_walk.c): ordinary programs that do not link hetmem
 * and run under `hetmem run`.
 *
 *   FAIL(fmt, ...)      "FAIL function:line: message" on stderr, exit 1
 *   pat/fill/check      the data pattern the programs write and check word
 *                       by word (a wrong word is reported with its index)
 *   need_hetmem         looks hetmem's API up with dlsym (the preload
 *                       library exports the hm_ functions) into the
 *                       pointers below; not under hetmem is a failure
 *   on_device           pages of a buffer that are on a device (hm_where)
 *   wait_demoted        waits (up to 5 s) for some of a buffer to be there
 *   run_case            runs the case a program was asked for, by name
 *
 * Everything is static, so each program includes it once and uses what it
 * needs; the API pointers a program does not use are marked unused.
 */
#ifndef HM_CASES_COMMON_H
#define HM_CASES_COMMON_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hetmem.h"

#define MiB (1024 * 1024ul)
#define FAIL(...)                                                        \
	do {                                                             \
		fprintf(stderr, "FAIL %s:%d: ", __func__, __LINE__);      \
		fprintf(stderr, __VA_ARGS__);                             \
		fprintf(stderr, "\n");                                    \
		exit(1);                                                  \
	} while (0)

/* hetmem's API, found by hetmem_lookup() */
static int (*stats_get)(struct hm_stats *) __attribute__((unused));
static int (*where)(const void *, size_t, int *) __attribute__((unused));
static int (*inject)(const char *, int, unsigned, unsigned) __attribute__((unused));
static long (*migrate)(void *, size_t, int, int *) __attribute__((unused));
static int (*tier_info)(int, struct hm_tier_info *) __attribute__((unused));
static int (*tier_count)(void) __attribute__((unused));

/* Look up hetmem's API: NULL when every function is there, else the name of
 * the first one missing (the program does not run under hetmem). */
static inline const char *hetmem_lookup(void)
{
	stats_get = (int (*)(struct hm_stats *))dlsym(RTLD_DEFAULT, "hm_stats_get");
	where = (int (*)(const void *, size_t, int *))dlsym(RTLD_DEFAULT, "hm_where");
	inject = (int (*)(const char *, int, unsigned, unsigned))dlsym(RTLD_DEFAULT, "hm_inject");
	migrate = (long (*)(void *, size_t, int, int *))dlsym(RTLD_DEFAULT, "hm_migrate");
	tier_info = (int (*)(int, struct hm_tier_info *))dlsym(RTLD_DEFAULT, "hm_tier_info");
	tier_count = (int (*)(void))dlsym(RTLD_DEFAULT, "hm_tier_count");
	return !stats_get ? "hm_stats_get" : !where ? "hm_where" : !inject ? "hm_inject"
	       : !migrate ? "hm_migrate" : !tier_info ? "hm_tier_info" : !tier_count ? "hm_tier_count" : NULL;
}

static inline bool under_hetmem(void)
{
	return !hetmem_lookup();
}

static inline void need_hetmem(void)
{
	const char *missing = hetmem_lookup();
	if (missing)
		FAIL("not running under hetmem (no %s): run me with hetmem run", missing);
}

static inline uint64_t pat(uint64_t i, uint64_t seed)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
	return x ^ (x >> 29);
}

static inline void fill(uint64_t *p, size_t bytes, uint64_t seed)
{
	for (size_t i = 0; i < bytes / 8; i++)
		p[i] = pat(i, seed);
}

/* index of the first word of bytes [off, off+bytes) of a buffer filled with
 * fill(p, .., seed) that does not hold the pattern, or SIZE_MAX */
static inline size_t first_wrong(const uint64_t *p, size_t off, size_t bytes, uint64_t seed)
{
	for (size_t i = off / 8; i < (off + bytes) / 8; i++)
		if (p[i] != pat(i, seed))
			return i;
	return SIZE_MAX;
}

/* check bytes [off, off+bytes) of a buffer filled with fill(p, .., seed) */
static inline void check_part(const uint64_t *p, size_t off, size_t bytes, uint64_t seed, const char *what)
{
	size_t i = first_wrong(p, off, bytes, seed);
	if (i != SIZE_MAX)
		FAIL("%s: word %zu is %#llx, expected %#llx", what, i, (unsigned long long)p[i],
		     (unsigned long long)pat(i, seed));
}

static inline void check(const uint64_t *p, size_t bytes, uint64_t seed, const char *what)
{
	check_part(p, 0, bytes, seed, what);
}

/* pages of [p, p+len) that are on a device now (needs hetmem_lookup()) */
static inline size_t on_device(const void *p, size_t len)
{
	uintptr_t a = ((uintptr_t)p + 4095) & ~4095ul, e = ((uintptr_t)p + len) & ~4095ul;
	size_t n = (e - a) / 4096, k = 0;
	int *w = calloc(n, sizeof(int));
	if (!w || where((void *)a, e - a, w))
		FAIL("hm_where(%p, %zu) failed: the buffer is not managed", (void *)a, (size_t)(e - a));
	for (size_t i = 0; i < n; i++)
		k += w[i] > 0;
	free(w);
	return k;
}

/* Wait (up to 5 s) for the reclaimer to put some of @p on the device. */
static inline void wait_demoted(const void *p, size_t len, const char *what)
{
	for (int i = 0; i < 500; i++) {
		if (on_device(p, len) > 0)
			return;
		usleep(10000);
	}
	FAIL("%s: no page of %zu bytes went to the device under the budget", what, len);
}

struct named_case {
	const char *name;
	int (*fn)(void);
};

/* Run the case called @name of @cases[@n]: its exit status, with "NAME: ok"
 * on stdout when it passes; 2 with "unknown case NAME" when there is none. */
static inline int run_case(const char *name, const struct named_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, cases[i].name)) {
			int rc = cases[i].fn();
			if (!rc)
				printf("%s: ok\n", name);
			return rc;
		}
	fprintf(stderr, "unknown case %s\n", name);
	return 2;
}

#endif
