/*
 * preload_cases.c — an ordinary program (it does not link hetmem) that the
 * tests run under `hetmem run --dram 32M`: each case allocates more than the
 * budget with malloc/mmap, so pages really go to the device, and checks that
 * what the program sees is exactly what it would see without hetmem.
 *
 *   threads   8 threads malloc, fill and verify their own buffers
 *   fork      the child reads the parent's data (pages on the device
 *             included); writes on either side stay on that side
 *   exec      an exec'd program runs under hetmem too (inherited settings)
 *   signals   the program's own SIGSEGV and SIGBUS handlers get their
 *             signals at the right address (PROT_NONE page; poisoned page)
 *   syscalls  write/read/send/recv/pwrite/pread from and into pages that
 *             are on the device
 *   remap     mremap (grow and move), partial munmap, mprotect, MADV_FREE
 *             of managed mappings
 *   hold      data partly on the device, then wait (for stat.sh)
 *
 * It reads hetmem's counters through dlsym (the preload library exports the
 * hm_ API); "not under hetmem" is a failure, not a pass.  Exit 0 = pass.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cases_common.h"

static struct hm_stats stats(void)
{
	struct hm_stats s;
	if (stats_get(&s))
		FAIL("hm_stats_get failed");
	return s;
}

static sigjmp_buf jb;
static volatile void *fault_addr;
static volatile int fault_sig;

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
	fault_sig = sig;
	fault_addr = si->si_addr;
	siglongjmp(jb, 1);
}

/* ---------------------------------------------------------------------- */

#define NTHREADS 8
#define PER_THREAD (24 * MiB)

static void *thread_main(void *arg)
{
	uint64_t seed = (uintptr_t)arg;
	for (int round = 0; round < 3; round++) {
		uint64_t *p = malloc(PER_THREAD);
		if (!p)
			FAIL("malloc");
		fill(p, PER_THREAD, seed + round);
		check(p, PER_THREAD, seed + round, "thread buffer");
		free(p);
	}
	return NULL;
}

static int case_threads(void)
{
	pthread_t t[NTHREADS];
	/* a big buffer kept across the threads' work, so it is pushed out */
	uint64_t *keep = malloc(64 * MiB);
	fill(keep, 64 * MiB, 7);
	for (long i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)(i * 1000));
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	check(keep, 64 * MiB, 7, "kept buffer");
	struct hm_stats s = stats();
	if (!s.pages_demoted || !s.faults_fetch)
		FAIL("pages demoted %llu, fetched %llu: the budget did not bite", (unsigned long long)s.pages_demoted,
		     (unsigned long long)s.faults_fetch);
	free(keep);
	return 0;
}

static int case_fork(void)
{
	size_t len = 96 * MiB;
	uint64_t *p = malloc(len);
	fill(p, len, 11);
	wait_demoted(p, len, "fork data");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		check(p, len, 11, "child's view of the parent's data");
		fill(p, len / 2, 12); /* the child's writes stay in the child */
		check(p, len / 2, 12, "child's own writes");
		void *q = malloc(8 * MiB); /* hetmem is off here: plain memory */
		memset(q, 1, 8 * MiB);
		free(q);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		FAIL("child failed (status %#x)", st);
	check(p, len, 11, "parent's data after the child wrote");
	/* and the parent keeps working under hetmem after the fork */
	fill(p, len, 13);
	wait_demoted(p, len, "parent after fork");
	check(p, len, 13, "parent's data, second pass");
	free(p);
	return 0;
}

static int case_exec(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[2], "child")) {
		/* the exec'd program: under hetmem too? */
		size_t len = 64 * MiB;
		uint64_t *p = malloc(len);
		fill(p, len, 21);
		wait_demoted(p, len, "exec'd program");
		check(p, len, 21, "exec'd program's data");
		printf("exec child ok\n");
		return 0;
	}
	size_t len = 64 * MiB;
	uint64_t *p = malloc(len);
	fill(p, len, 20);
	wait_demoted(p, len, "before exec");
	fflush(NULL);
	execl("/proc/self/exe", argv[0], "exec", "child", (char *)NULL);
	FAIL("exec: %s", strerror(errno));
}


static int case_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	size_t len = 64 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		FAIL("mmap");
	fill((uint64_t *)p, len, 31);
	wait_demoted(p, len, "signals data");
	/* 1. the program's own SIGSEGV handler, for a page it made PROT_NONE */
	char *guard = p + 5 * MiB;
	if (mprotect(guard, 4096, PROT_NONE))
		FAIL("mprotect: %s", strerror(errno));
	if (!sigsetjmp(jb, 1)) {
		(void)*(volatile char *)(guard + 100);
		FAIL("no SIGSEGV on a PROT_NONE page");
	}
	if (fault_sig != SIGSEGV || fault_addr != guard + 100)
		FAIL("got signal %d at %p, expected SIGSEGV at %p", fault_sig, fault_addr, (void *)(guard + 100));
	if (mprotect(guard, 4096, PROT_READ | PROT_WRITE))
		FAIL("mprotect back: %s", strerror(errno));
	check((uint64_t *)p, len, 31, "data around the guard page");

	/* 2. a page that cannot be read back from the device: SIGBUS at its
	 * address, in the program's own handler — never zeros */
	char *victim = p + 40 * MiB;
	long rc = migrate(victim, 4096, 1, NULL); /* (it may be there already) */
	if (rc < 0 || on_device(victim, 4096) != 1)
		FAIL("hm_migrate to the device: %ld, page on device: %zu", rc, on_device(victim, 4096));
	inject("tier_read", EIO, 0, 1);
	if (!sigsetjmp(jb, 1)) {
		volatile char c = *(volatile char *)(victim + 8);
		(void)c;
		FAIL("read a page the device failed to return");
	}
	inject("tier_read", EIO, 0, 0);
	if (fault_sig != SIGBUS || ((uintptr_t)fault_addr & ~4095ul) != (uintptr_t)victim)
		FAIL("got signal %d at %p, expected SIGBUS in %p", fault_sig, fault_addr, (void *)victim);
	/* every other page is intact */
	check((uint64_t *)p, 40 * MiB, 31, "pages before the poisoned one");
	/* 3. discarded, the lost page reads zeros at once, like any page */
	if (madvise(victim, 4096, MADV_DONTNEED))
		FAIL("madvise(MADV_DONTNEED) of the lost page: %s", strerror(errno));
	fault_sig = 0;
	if (!sigsetjmp(jb, 1)) {
		for (size_t k = 0; k < 4096; k++)
			if (((volatile char *)victim)[k])
				FAIL("a discarded lost page reads %d at +%zu, want zeros", victim[k], k);
	} else {
		FAIL("signal %d at %p reading a discarded lost page", fault_sig, fault_addr);
	}
	munmap(p, len);
	return 0;
}

static int case_syscalls(void)
{
	size_t len = 64 * MiB;
	uint64_t *src = malloc(len), *dst = malloc(len);
	fill(src, len, 41);
	memset(dst, 0, len);
	wait_demoted(src, len, "syscall source");
	size_t before = on_device(src, len);
	/* write(2) from pages on the device, read(2) into them */
	char path[] = "/tmp/hetmem-preload-XXXXXX";
	int fd = mkstemp(path);
	unlink(path);
	if (fd < 0)
		FAIL("mkstemp");
	if (write(fd, src, len) != (ssize_t)len)
		FAIL("write from managed memory: %s", strerror(errno));
	if (pread(fd, dst, len, 0) != (ssize_t)len)
		FAIL("pread into managed memory: %s", strerror(errno));
	check(dst, len, 41, "file round trip");
	close(fd);
	/* send/recv over a socket pair, in chunks, from and into device pages */
	uint64_t *dst2 = malloc(len);
	memset(dst2, 0, len);
	wait_demoted(src, len, "socket source");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		FAIL("socketpair");
	size_t sent = 0, got = 0;
	const size_t chunk = 1 * MiB;
	while (got < len) {
		if (sent < len && sent - got < 4 * chunk) {
			ssize_t n = send(sv[0], (char *)src + sent, chunk, MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				FAIL("send: %s", strerror(errno));
		}
		ssize_t n = recv(sv[1], (char *)dst2 + got, len - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			FAIL("recv: %s", strerror(errno));
	}
	check(dst2, len, 41, "socket round trip");
	close(sv[0]);
	close(sv[1]);
	if (!before)
		FAIL("no page was on the device when the system calls ran");
	free(src);
	free(dst);
	free(dst2);
	return 0;
}

static int case_remap(void)
{
	size_t len = 48 * MiB;
	uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 51);
	wait_demoted(p, len, "remap data");
	/* grow and move: the old pages follow (UFFD_EVENT_REMAP) */
	uint64_t *q = mremap(p, len, 2 * len, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		FAIL("mremap: %s", strerror(errno));
	check(q, len, 51, "moved pages");
	memset((char *)q + len, 0x5a, len); /* the grown part is ordinary memory */
	/* MADV_FREE of managed pages: zeros or the old data, never garbage */
	if (madvise((char *)q + 4 * MiB, 4 * MiB, MADV_FREE))
		FAIL("madvise(MADV_FREE): %s", strerror(errno));
	for (size_t i = 4 * MiB / 8; i < 8 * MiB / 8; i++)
		if (q[i] != 0 && q[i] != pat(i, 51))
			FAIL("word %zu after MADV_FREE is %#llx", i, (unsigned long long)q[i]);
	/* partial munmap in the middle; the rest stays */
	if (munmap((char *)q + 16 * MiB, 8 * MiB))
		FAIL("munmap part: %s", strerror(errno));
	check_part(q, 0, 4 * MiB, 51, "before the MADV_FREE part");
	check_part(q, 8 * MiB, 8 * MiB, 51, "between MADV_FREE and the hole");
	check_part(q, 24 * MiB, len - 24 * MiB, 51, "after the hole");
	for (size_t i = len / 8; i < 2 * len / 8; i++)
		if (q[i] != 0x5a5a5a5a5a5a5a5aull)
			FAIL("grown part word %zu changed", i);
	/* the hole is gone: touching it is a SIGSEGV, as without hetmem */
	struct sigaction sa = {0};
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	if (!sigsetjmp(jb, 1)) {
		(void)*(volatile char *)((char *)q + 20 * MiB);
		FAIL("the munmapped part can still be read");
	}
	if (fault_sig != SIGSEGV)
		FAIL("signal %d in the hole, expected SIGSEGV", fault_sig);
	/* mprotect read-only, then read everything that is left */
	if (mprotect(q, 16 * MiB, PROT_READ))
		FAIL("mprotect(PROT_READ): %s", strerror(errno));
	check_part(q, 8 * MiB, 8 * MiB, 51, "read-only part");
	if (munmap(q, 16 * MiB) || munmap((char *)q + 24 * MiB, 2 * len - 24 * MiB))
		FAIL("munmap the rest: %s", strerror(errno));
	return 0;
}

/* for `hetmem stat`: data partly on the device, then wait to be killed */
static int case_hold(void)
{
	size_t len = 64 * MiB;
	uint64_t *p = malloc(len);
	fill(p, len, 61);
	wait_demoted(p, len, "hold data");
	printf("ready %d\n", (int)getpid());
	for (int i = 0; i < 600; i++) {
		check(p, 4096, 61, "hold data");
		usleep(100000);
	}
	return 0;
}

static int main_argc;
static char **main_argv;

static int case_exec_main(void)
{
	return case_exec(main_argc, main_argv);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: preload_cases threads|fork|exec|signals|syscalls|remap\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	need_hetmem();
	main_argc = argc;
	main_argv = argv;
	static const struct named_case cases[] = {
		{"threads", case_threads},   {"fork", case_fork},   {"exec", case_exec_main}, {"signals", case_signals},
		{"syscalls", case_syscalls}, {"remap", case_remap}, {"hold", case_hold},
	};
	return run_case(argv[1], cases, sizeof(cases) / sizeof(cases[0]));
}
