/*
 * test_sigfault.c — signal mode (HETMEM_FAULTS=signal, sigfault.c): faults
 * served in the faulting thread from a SIGBUS handler.
 *
 *  - a bad HETMEM_FAULTS value is refused with EINVAL and a message;
 *  - pages demoted to a tier read back exactly, through faults served in
 *    this thread (sig_faults counts them);
 *  - under a budget smaller than the data, sweeps over it recycle victims'
 *    pages in the faults (sig_recycled) and every byte stays right;
 *  - devices are refused (ENOTSUP: they access in place with
 *    process_vm_readv, which fails on an absent page in this mode);
 *  - a SIGBUS that is not a fault of hetmem's (a file mapping past its end)
 *    still reaches the handler the program installed before hm_init.
 * A kernel without UFFD_FEATURE_SIGBUS or UFFDIO_MOVE skips (exit 77).
 */
#include "unit.h"

#include <linux/userfaultfd.h>

#include <signal.h>
#include <sys/mman.h>

#define MB ((size_t)1 << 20)

static int init_signal(void)
{
	setenv("HETMEM_FAULTS", "signal", 1);
	setenv("HETMEM_DEMOTE", "move", 1);
	int rc = hm_init(NULL);
	unsetenv("HETMEM_FAULTS");
	unsetenv("HETMEM_DEMOTE");
	return rc;
}

static void sig_fill(char *p, size_t len, unsigned seed)
{
	for (size_t off = 0; off < len; off += PG)
		for (size_t k = 0; k < PG; k += 512)
			*(uint64_t *)(p + off + k) = ((uint64_t)seed << 48) ^ (off + k);
}

static size_t sig_check(const char *p, size_t len, unsigned seed)
{
	size_t bad = 0;
	for (size_t off = 0; off < len; off += PG)
		for (size_t k = 0; k < PG; k += 512)
			bad += *(const uint64_t *)(p + off + k) != (((uint64_t)seed << 48) ^ (off + k));
	return bad;
}

/* Signal mode started, a tier of @tier_mb MiB, and @len bytes of 4 KiB
 * folios written with pattern @seed. */
static char *start(size_t len, unsigned tier_mb, unsigned seed, int *tier)
{
	assert_int_equal(init_signal(), 0);
	char spec[32];
	snprintf(spec, sizeof(spec), "emu:%uM", tier_mb);
	*tier = hm_tier_add(spec);
	assert_true(*tier > 0);
	char *p = hm_alloc(len, HM_FOLIO_4K);
	assert_non_null(p);
	sig_fill(p, len, seed);
	return p;
}

static void test_bad_value(void **state)
{
	(void)state;
	setenv("HETMEM_FAULTS", "signals", 1);
	EXPECT_ERR_MSG(hm_init(NULL), EINVAL, "HETMEM_FAULTS");
	unsetenv("HETMEM_FAULTS");
	/* nothing changed: an ordinary start works */
	assert_int_equal(hm_init(NULL), 0);
	assert_int_equal(hm_shutdown(), 0);
}

static void test_round_trip(void **state)
{
	(void)state;
	int t;
	size_t len = 4 * MB;
	char *p = start(len, 16, 1, &t);
	assert_int_equal(hm_migrate(p, len, t, NULL), (long)(len / PG));
	struct hm_stats s0, s1;
	hm_stats_get(&s0);
	assert_int_equal(sig_check(p, len, 1), 0);
	hm_stats_get(&s1);
	/* every page came back through a fault served here */
	assert_true(s1.sig_faults - s0.sig_faults >= len / PG);
	assert_true(s1.faults_fetch - s0.faults_fetch >= len / PG);
	int where[4];
	assert_int_equal(hm_where(p, 4 * PG, where), 0);
	for (int k = 0; k < 4; k++)
		assert_int_equal(where[k], 0);
	assert_int_equal(hm_free(p, len), 0);
	assert_int_equal(hm_shutdown(), 0);
}

static void test_recycle(void **state)
{
	(void)state;
	int t;
	size_t len = 12 * MB;
	char *p = start(len, 32, 2, &t);
	assert_int_equal(hm_budget_set(4 * MB, 0, 0, t), 0);
	struct hm_stats s;
	/* sweep until the faults have recycled victims (the reclaimer queues
	 * them within a pass or two), checking every byte each time */
	size_t bad = 0;
	uint64_t end = hm_test_now_ms() + HM_WAIT_CAP_MS;
	for (int sweep = 0; hm_test_now_ms() < end; sweep++) {
		bad += sig_check(p, len, 2);
		hm_stats_get(&s);
		if (s.sig_recycled > 1000 && sweep >= 3)
			break;
		usleep(10000);
	}
	assert_int_equal(bad, 0);
	hm_stats_get(&s);
	printf("sig_faults %llu, recycled %llu, demoted %llu pages\n", (unsigned long long)s.sig_faults,
	       (unsigned long long)s.sig_recycled, (unsigned long long)s.pages_demoted);
	assert_true(s.sig_recycled > 1000);
	/* writes land too: a new pattern, read back after the budget is off */
	sig_fill(p, len, 3);
	assert_int_equal(hm_budget_set(HM_BUDGET_OFF, 0, 0, 0), 0);
	assert_int_equal(sig_check(p, len, 3), 0);
	assert_int_equal(hm_free(p, len), 0);
	assert_int_equal(hm_shutdown(), 0);
}

static void test_device_refused(void **state)
{
	(void)state;
	assert_int_equal(init_signal(), 0);
	struct hm_device *d = NULL;
	EXPECT_ERR_MSG(hm_device_open("emu:4M", &d), ENOTSUP, "HETMEM_FAULTS");
	assert_null(d);
	assert_int_equal(hm_shutdown(), 0);
}

static sigjmp_buf foreign_jmp;
static volatile sig_atomic_t foreign_seen;
static void *volatile foreign_addr;

static void foreign_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	foreign_seen = 1;
	foreign_addr = si->si_addr;
	siglongjmp(foreign_jmp, 1);
}

static void test_foreign_sigbus(void **state)
{
	(void)state;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = foreign_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGBUS, &sa, &old), 0);
	assert_int_equal(init_signal(), 0);
	/* a page of an empty file: an access is the program's own SIGBUS */
	FILE *f = tmpfile();
	assert_non_null(f);
	volatile char *m = mmap(NULL, PG, PROT_READ, MAP_SHARED, fileno(f), 0);
	assert_true(m != MAP_FAILED);
	foreign_seen = 0;
	if (!sigsetjmp(foreign_jmp, 1))
		(void)m[0];
	assert_int_equal(foreign_seen, 1);
	assert_ptr_equal(foreign_addr, (void *)m);
	munmap((void *)m, PG);
	fclose(f);
	/* and managed memory still works after it */
	int t = hm_tier_add("emu:4M");
	char *p = hm_alloc(MB, HM_FOLIO_4K);
	assert_non_null(p);
	sig_fill(p, MB, 4);
	assert_true(hm_migrate(p, MB, t, NULL) > 0);
	assert_int_equal(sig_check(p, MB, 4), 0);
	assert_int_equal(hm_free(p, MB), 0);
	assert_int_equal(hm_shutdown(), 0);
	/* hm_shutdown gave SIGBUS back to the program's handler */
	struct sigaction now;
	sigaction(SIGBUS, NULL, &now);
	assert_ptr_equal((void *)now.sa_sigaction, (void *)foreign_handler);
	sigaction(SIGBUS, &old, NULL);
}

int main(void)
{
	struct hm_features f;
	if (hm_probe_features(&f) || !(f.uffd_features & UFFD_FEATURE_SIGBUS) || !f.move) {
		hm_skip("signal mode needs userfaultfd with UFFD_FEATURE_SIGBUS and UFFDIO_MOVE");
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_value),      cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_recycle),        cmocka_unit_test(test_device_refused),
		cmocka_unit_test(test_foreign_sigbus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
