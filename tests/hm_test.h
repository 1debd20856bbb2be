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

/* Skip the whole test program with a reason when userfaultfd is missing. */
static inline void hm_test_require_uffd(void)
{
	struct hm_features f;
	if (hm_probe_features(&f) != 0 || !f.uffd) {
		printf("SKIPPED: userfaultfd not available: %s\n", hm_last_error());
		exit(HM_SKIP_CODE);
	}
}
#endif
