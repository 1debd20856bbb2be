/*
 * audit_cases.c — the less common ways a program can start processes and
 * move data, run under `hetmem run --dram 32M`: each case puts a buffer of
 * 64 MiB on the device (hm_migrate through dlsym, so the pages really are
 * off RAM), does the thing, and checks every byte on both sides.
 *
 *   spawn     posix_spawn of /bin/true (glibc: clone with CLONE_VM|CLONE_VFORK)
 *   vfork     vfork + execve of /bin/true
 *   clone     glibc's clone() without CLONE_VM: the child checks the
 *             parent's data (pthread_atfork handlers do not run for it)
 *   _Fork     glibc's _Fork(), which runs no atfork handlers either
 *   odirect   O_DIRECT write from and read into pages on the device
 *
 * "not under hetmem" is a failure, not a pass.  Exit 0 = pass.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../hm_test.h"
#include "cases_common.h"

#define LEN (64 * MiB)

extern char **environ;
pid_t _Fork(void);

/* 0 when [p, p+bytes) holds the pattern, else 1 (with a message) */
static int verify(const uint64_t *p, size_t bytes, uint64_t seed, const char *what)
{
	size_t i = first_wrong(p, 0, bytes, seed);
	if (i == SIZE_MAX)
		return 0;
	fprintf(stderr, "FAIL %s: word %zu is %#llx, expected %#llx\n", what, i, (unsigned long long)p[i],
		(unsigned long long)pat(i, seed));
	return 1;
}

/* A buffer of LEN bytes with the pattern, every page of it on tier 1. */
static uint64_t *demoted(uint64_t seed)
{
	uint64_t *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		FAIL("mmap: %s", strerror(errno));
	fill(p, LEN, seed);
	long rc = migrate(p, LEN, 1, NULL);
	if (rc < 0)
		FAIL("hm_migrate to tier 1: %ld", rc);
	int w[16];
	if (where(p, sizeof(w) / sizeof(w[0]) * 4096, w) || w[0] <= 0)
		FAIL("the buffer did not go to the device (hm_where says tier %d)", w[0]);
	return p;
}

static void wait_ok(pid_t pid, const char *what)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		FAIL("%s: waitpid: %s", what, strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		FAIL("%s: the child failed (status %#x)", what, st);
}

static int case_spawn(void)
{
	uint64_t *p = demoted(1);
	pid_t pid;
	char *argv[] = {"true", NULL};
	int e = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
	if (e)
		FAIL("posix_spawn: %s", strerror(e));
	wait_ok(pid, "posix_spawn");
	return verify(p, LEN, 1, "parent after posix_spawn");
}

static int case_vfork(void)
{
	uint64_t *p = demoted(2);
	pid_t pid = vfork();
	if (pid < 0)
		FAIL("vfork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = {"true", NULL};
		execve("/bin/true", argv, environ);
		_exit(127);
	}
	wait_ok(pid, "vfork");
	return verify(p, LEN, 2, "parent after vfork");
}

static uint64_t *clone_buf;

static int clone_child(void *arg)
{
	(void)arg;
	return verify(clone_buf, LEN, 3, "clone child");
}

static int case_clone(void)
{
	clone_buf = demoted(3);
	size_t ssz = 1 * MiB;
	char *stack = mmap(NULL, ssz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		FAIL("mmap stack: %s", strerror(errno));
	pid_t pid = clone(clone_child, stack + ssz, SIGCHLD, NULL);
	if (pid < 0)
		FAIL("clone: %s", strerror(errno));
	wait_ok(pid, "clone without CLONE_VM");
	return verify(clone_buf, LEN, 3, "parent after clone");
}

static int case_Fork(void)
{
	uint64_t *p = demoted(4);
	pid_t pid = _Fork();
	if (pid < 0)
		FAIL("_Fork: %s", strerror(errno));
	if (pid == 0)
		_exit(verify(p, LEN, 4, "_Fork child"));
	wait_ok(pid, "_Fork");
	return verify(p, LEN, 4, "parent after _Fork");
}

static int case_odirect(void)
{
	char path[] = "/var/tmp/hetmem-odirect-XXXXXX";
	int fd = mkostemp(path, O_DIRECT);
	if (fd < 0)
		FAIL("mkostemp(O_DIRECT): %s", strerror(errno));
	unlink(path);
	uint64_t *p = demoted(5);
	/* write from pages on the device */
	ssize_t n = pwrite(fd, p, LEN, 0);
	if (n == -1 && errno == EINVAL) {
		hm_skip("the file system of /var/tmp has no O_DIRECT");
	}
	if (n != (ssize_t)LEN)
		FAIL("O_DIRECT pwrite: %zd (%s)", n, strerror(errno));
	/* read into pages on the device, over a different pattern */
	uint64_t *q = demoted(6);
	n = pread(fd, q, LEN, 0);
	if (n != (ssize_t)LEN)
		FAIL("O_DIRECT pread: %zd (%s)", n, strerror(errno));
	close(fd);
	return verify(p, LEN, 5, "O_DIRECT source") | verify(q, LEN, 5, "O_DIRECT destination");
}

int main(int argc, char **argv)
{
	need_hetmem();
	if (argc != 2)
		FAIL("usage: audit_cases spawn|vfork|clone|_Fork|odirect");
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {{"spawn", case_spawn}, {"vfork", case_vfork}, {"clone", case_clone},
		     {"_Fork", case_Fork}, {"odirect", case_odirect}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(argv[1], cases[i].name)) {
			int rc = cases[i].fn();
			if (!rc)
				printf("PASS %s\n", argv[1]);
			return rc;
		}
	FAIL("unknown case '%s'", argv[1]);
}
