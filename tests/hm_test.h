/*
 * hm_test.h — small helpers shared by the tests (on top of cmocka).
 */
#ifndef HM_TEST_H
#define HM_TEST_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Skip the whole test program with a reason when userfaultfd is missing. */
static inline void hm_test_require_uffd(void)
{
	struct hm_features f;
	if (hm_probe_features(&f) != 0 || !f.uffd)
		hm_skip("userfaultfd not available: %s", hm_last_error());
}
#endif
