/*
 * hm_test.h — small helpers shared by the tests (on top of cmocka).
 */
#ifndef HM_TEST_H
#define HM_TEST_H
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hetmem.h"

/* Exit code CTest reports as "skipped". */
#define HM_SKIP_CODE 77

/* The one way a test says it cannot run here: "skipped: REASON" on stdout,
 * then exit 77, which CTest reports as skipped (never as passed).  Inside a
 * cmocka test function, HM_SKIP_CASE prints the same line and marks that
 * case skipped (cmocka's skip()). */
#define hm_skip(...)                                                               \
	do {                                                                       \
		printf("skipped: ");                                               \
		printf(__VA_ARGS__);                                               \
		printf("\n");                                                      \
		fflush(stdout);                                                    \
		exit(HM_SKIP_CODE);                                                \
	} while (0)
#define HM_SKIP_CASE(...)                                                          \
	do {                                                                       \
		printf("skipped: ");                                               \
		printf(__VA_ARGS__);                                               \
		printf("\n");                                                      \
		skip();                                                            \
	} while (0)

/* Milliseconds of CLOCK_MONOTONIC. */
static inline uint64_t hm_test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A wait for the background reclaimer (or any thread of hetmem's): poll
 * @cond every 10 ms until it holds or @cap_ms of wall time have passed, then
 * go on (the assertion after it checks @cond again).  A fixed wait is not
 * enough: under software emulation (the 6.1 guest, 10-60x slower) the
 * reclaimer overran fixed waits of seconds; HM_WAIT_CAP_MS is the generous
 * cap. */
#define HM_WAIT_CAP_MS 30000
#define HM_WAIT_UNTIL(cond, cap_ms)                                                \
	do {                                                                       \
		uint64_t hm_wait_end_ = hm_test_now_ms() + (uint64_t)(cap_ms);     \
		while (!(cond) && hm_test_now_ms() < hm_wait_end_)                 \
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);  \
	} while (0)

/* Skip the whole test program with a reason when userfaultfd is missing. */
static inline void hm_test_require_uffd(void)
{
	struct hm_features f;
	if (hm_probe_features(&f) != 0 || !f.uffd)
		hm_skip("userfaultfd not available: %s", hm_last_error());
}
#endif
