/*
 * test_thread.c — hetmem's own threads (thread.c):
 *  - every one of them (handler, reclaimer) has every signal blocked but
 *    the two glibc keeps for itself, and hm_init leaves the caller's own
 *    mask as it was;
 *  - (root) after the calling thread drops capabilities and a bounding-set
 *    entry, hm_thread_creds_sync gives every hetmem thread exactly the same
 *    capabilities and bounding set, and says so within its bound.
 * The capability case runs in a child process forked before hm_init, so
 * that the other cases keep root's capabilities.
 */
#include "unit.h"

#include <dirent.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

/* Line @key of /proc/self/task/@tid/status as a hex number, and the
 * thread's name into @comm; false if the thread is gone. */
static bool task_field(const char *tid, const char *key, unsigned long long *v, char comm[32])
{
	char path[128], line[256];
	snprintf(path, sizeof(path), "/proc/self/task/%s/comm", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(comm, 32, f))
		comm[0] = 0;
	comm[strcspn(comm, "\n")] = 0;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/self/task/%s/status", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	bool found = false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key))) {
			*v = strtoull(line + strlen(key), NULL, 16);
			found = true;
		}
	fclose(f);
	return found;
}

/* Call @fn(tid, comm) for every hetmem thread (named hm-*); their count. */
static int each_hetmem_thread(void (*fn)(const char *tid, const char *comm))
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		unsigned long long v;
		char comm[32];
		if (!task_field(e->d_name, "Pid:", &v, comm) || strncmp(comm, "hm-", 3))
			continue;
		fn(e->d_name, comm);
		n++;
	}
	closedir(d);
	return n;
}

static void mask_is_full(const char *tid, const char *comm)
{
	unsigned long long blk;
	char c[32];
	assert_true(task_field(tid, "SigBlk:", &blk, c));
	/* every signal from 1 to 64 but SIGKILL, SIGSTOP and glibc's own
	 * SIGCANCEL (32) and SIGSETXID (33), which no mask can hold */
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33)
			continue;
		if (!(blk & (1ull << (sig - 1))))
			fail_msg("thread %s (%s) does not block signal %d (SigBlk %llx)", tid, comm, sig, blk);
	}
}

static void test_signals_blocked(void **state)
{
	(void)state;
	sigset_t before, after;
	sigemptyset(&before);
	sigaddset(&before, SIGUSR2);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	assert_int_equal(hm_init(NULL), 0);
	int t = hm_tier_add("emu:16M");
	assert_true(t > 0);
	assert_int_equal(hm_budget_set(4 << 20, 0, 0, t), 0); /* starts the reclaimer */
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	for (int sig = 1; sig < 32; sig++)
		assert_int_equal(sigismember(&after, sig), sig == SIGUSR2);
	int n = each_hetmem_thread(mask_is_full);
	assert_true(n >= 2); /* hm-fault, hm-reclaim */
	assert_int_equal(hm_shutdown(), 0);
	sigemptyset(&before);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
}

static unsigned long long my_eff, my_prm, my_bnd;
static bool caps_differ;

static void same_caps(const char *tid, const char *comm)
{
	unsigned long long eff, prm, bnd;
	char c[32];
	/* (in the forked child: no cmocka assertion, which would jump into
	 * the child's copy of the runner) */
	if (!task_field(tid, "CapEff:", &eff, c) || !task_field(tid, "CapPrm:", &prm, c) ||
	    !task_field(tid, "CapBnd:", &bnd, c))
		return; /* gone */
	if (eff != my_eff || prm != my_prm || bnd != my_bnd) {
		printf("thread %s (%s): CapEff %llx CapPrm %llx CapBnd %llx, the caller's %llx %llx %llx\n", tid,
		       comm, eff, prm, bnd, my_eff, my_prm, my_bnd);
		caps_differ = true;
	}
}

static int creds_child(void)
{
	if (hm_init(NULL))
		return 10;
	int t = hm_tier_add("emu:16M");
	if (t <= 0 || hm_budget_set(4 << 20, 0, 0, t))
		return 11;
	/* drop CAP_SYS_ADMIN and CAP_NET_ADMIN, CAP_SYS_BOOT from the bounding
	 * set, keep-caps on: in this thread only */
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d))
		return 12;
	d[0].effective &= ~(1u << CAP_SYS_ADMIN | 1u << CAP_NET_ADMIN);
	d[0].permitted &= ~(1u << CAP_SYS_ADMIN | 1u << CAP_NET_ADMIN);
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0) || prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return 13;
	if (syscall(SYS_capset, &h, d))
		return 14;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = hm_thread_creds_sync("test");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("hm_thread_creds_sync: %d in %.3f ms\n", rc,
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	if (rc)
		return 15;
	char self[32], c[32];
	snprintf(self, sizeof(self), "%ld", (long)syscall(SYS_gettid));
	task_field(self, "CapEff:", &my_eff, c);
	task_field(self, "CapPrm:", &my_prm, c);
	task_field(self, "CapBnd:", &my_bnd, c);
	if (my_eff & (1ull << CAP_SYS_ADMIN) || my_bnd & (1ull << CAP_SYS_BOOT))
		return 16;
	if (each_hetmem_thread(same_caps) < 2 || caps_differ)
		return 17;
	/* the data still serves: a fault and a demotion as this thread */
	char *p = hm_alloc(8 << 20, HM_FOLIO_4K);
	if (!p)
		return 18;
	memset(p, 0x5a, 8 << 20);
	if (hm_migrate(p, 8 << 20, t, NULL) < 0)
		return 19;
	for (size_t i = 0; i < (8 << 20); i += 4096)
		if (p[i] != 0x5a)
			return 20;
	hm_free(p, 8 << 20);
	return hm_shutdown() ? 21 : 0;
}

static void test_creds(void **state)
{
	(void)state;
	if (geteuid() != 0)
		HM_SKIP_CASE("needs root (changes credentials)");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc = creds_child();
		fflush(stdout);
		_exit(rc);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("the child failed: status %#x (exit code: the step, in creds_child)", st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creds), /* first: its child is not a hetmem process's */
		cmocka_unit_test(test_signals_blocked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
