/*
 * alloc.c — the library example of README.md as a complete program:
 * allocate managed memory, write it, move it to a device tier, touch it
 * (a fault brings the first folio back to RAM) and check that every byte
 * survived the trip.  Exits 0 on success, 1 on failure, 77 when this
 * machine has no usable userfaultfd (hm_init fails).
 *
 * Build: make -C examples (uses pkg-config --cflags --libs hetmem).
 */
#include <hetmem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE (256u << 20)

static int fail(const char *what)
{
	fprintf(stderr, "alloc: %s: %s\n", what, hm_last_error());
	return 1;
}

int main(void)
{
	int r = hm_init(NULL); /* 0 or -errno; hm_last_error() says why */
	if (r) {
		fprintf(stderr, "alloc: hm_init: %s (%s)\n", strerror(-r), hm_last_error());
		return 77;
	}
	int dev = hm_tier_add("emu:1G"); /* tier id, or -errno */
	if (dev < 0)
		return fail("hm_tier_add");
	char *p = hm_alloc(SIZE, HM_FOLIO_64K); /* zero-filled managed memory */
	if (!p)
		return fail("hm_alloc");
	memset(p, 1, SIZE);
	size_t n = hm_migrate_pages(p, SIZE);
	int *st = calloc(n, sizeof(int));
	if (!st)
		return fail("calloc");
	long moved = hm_migrate(p, SIZE, dev, st); /* pages now on the device, st[i] per page */
	if (moved < 0)
		return fail("hm_migrate");
	int *where = calloc(SIZE / 4096, sizeof(int));
	if (!where || hm_where(p, SIZE, where))
		return fail("hm_where");
	size_t on_dev = 0;
	for (size_t i = 0; i < SIZE / 4096; i++)
		on_dev += where[i] == dev;
	p[0]++; /* faults the first folio back to RAM */
	int bad = p[0] != 2;
	for (size_t i = 1; i < SIZE && !bad; i++)
		bad = p[i] != 1;
	hm_stats_print(1);
	if (hm_free(p, 0))
		return fail("hm_free");
	if (hm_shutdown())
		return fail("hm_shutdown");
	free(st);
	free(where);
	printf("alloc: %ld pages moved, %zu were on the device; data %s\n", moved, on_dev,
	       bad ? "WRONG" : "intact");
	if (bad || moved <= 0 || on_dev == 0)
		return 1;
	return 0;
}
