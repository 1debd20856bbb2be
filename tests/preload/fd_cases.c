/*
 * fd_cases.c — an ordinary program (it does not link hetmem) that does to
 * its file descriptor table what daemons, sandboxes and shells do, while
 * most of its data is on the device under `hetmem run --dram 32M`, and then
 * checks every byte of that data.
 *
 *   close     close() of every number from 3 to sysconf(_SC_OPEN_MAX)
 *   range     close_range(3, ~0U, 0), then closefrom(3)
 *   dup2      dup2() of /dev/null onto every number 3..1023, then dup3()
 *             onto them again, then closefrom(3)
 *   raw       syscall(SYS_close_range, 3, ~0U, 0), bypassing libc, right
 *             after faulting pages back (the handler is busy then): the
 *             data must read back right, or hetmem must stop the process
 *             with its message (the test script checks which); a wrong
 *             byte is a failure
 *   rawdup    the same with syscall(SYS_dup3) of /dev/null onto every
 *             number 3..1023
 *   layout    hetmem's descriptors (its userfaultfd, eventfd and the
 *             emulated device's memfd, found in /proc/self/fd) are
 *             close-on-exec and at 900 or above, out of the numbers a
 *             program gets from open() or uses in a shell script
 *
 * Each case fills 64 MiB (twice the budget), waits until part of it
 * is on the device, does its fd work, checks all of it, then writes and
 * checks another 64 MiB (demotion and fault-back still work).  Exit 0 =
 * pass; "FAIL" on stderr and exit 1 on a wrong byte.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cases_common.h"

#define LEN (64 * MiB)

/* like check(), with the count of wrong words */
static void check_all(const uint64_t *p, size_t bytes, uint64_t seed, const char *what)
{
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < bytes / 8; i++)
		if (p[i] != pat(i, seed) && !bad++)
			first = i;
	if (bad)
		FAIL("%s: %zu of %zu words wrong, the first at byte %zu: %#llx, expected %#llx", what, bad, bytes / 8,
		     first * 8, (unsigned long long)p[first], (unsigned long long)pat(first, seed));
}

/* hetmem's count of pages demoted so far */
static uint64_t pages_demoted(void)
{
	struct hm_stats s;
	if (stats_get(&s))
		FAIL("hm_stats_get failed");
	return s.pages_demoted;
}

static void wait_any_demoted(void)
{
	for (int i = 0; i < 500; i++) {
		if (pages_demoted() > 0)
			return;
		usleep(10000);
	}
	FAIL("no page went to the device under the budget");
}

static void do_close(void)
{
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < max; fd++)
		close((int)fd);
}

static void do_range(void)
{
	if (close_range(3, ~0U, 0))
		FAIL("close_range: %s", strerror(errno));
	closefrom(3);
}

static void do_dup2(void)
{
	int null = open("/dev/null", O_RDONLY);
	if (null < 0)
		FAIL("open /dev/null: %s", strerror(errno));
	for (int fd = 3; fd < 1024; fd++)
		if (fd != null && dup2(null, fd) != fd)
			FAIL("dup2(%d, %d): %s", null, fd, strerror(errno));
	for (int fd = 3; fd < 1024; fd++)
		if (fd != null && dup3(null, fd, O_CLOEXEC) != fd)
			FAIL("dup3(%d, %d): %s", null, fd, strerror(errno));
	/* every number the program dup2'd onto is the program's /dev/null */
	for (int fd = 3; fd < 1024; fd++) {
		char c;
		if (read(fd, &c, 1) != 0)
			FAIL("fd %d is not /dev/null after dup2", fd);
	}
	closefrom(3);
}

static void do_raw(const uint64_t *p)
{
	/* fault pages back from the device just before: the handler is busy
	 * (spinning between faults, no poll holding the userfaultfd) when the
	 * descriptor goes */
	volatile uint64_t sink = 0;
	for (size_t i = 0; i < (8 * MiB) / 8; i += 512)
		sink += p[i];
	if (syscall(SYS_close_range, 3, ~0U, 0))
		FAIL("close_range: %s", strerror(errno));
	fprintf(stderr, "raw close_range done\n");
}

static void do_rawdup(const uint64_t *p)
{
	volatile uint64_t sink = 0;
	for (size_t i = 0; i < (8 * MiB) / 8; i += 512)
		sink += p[i];
	int null = open("/dev/null", O_RDONLY);
	if (null < 0)
		FAIL("open /dev/null: %s", strerror(errno));
	for (int fd = 3; fd < 1024; fd++)
		if (fd != null && syscall(SYS_dup3, null, fd, 0) != fd)
			FAIL("dup3(%d, %d): %s", null, fd, strerror(errno));
	fprintf(stderr, "raw dup3 done\n");
}

static void do_layout(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		FAIL("opendir /proc/self/fd: %s", strerror(errno));
	int seen = 0;
	for (struct dirent *de; (de = readdir(d));) {
		int fd = atoi(de->d_name);
		char path[320], target[256], info[512];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strstr(target, "[userfaultfd]") && !strstr(target, "[eventfd]") && !strstr(target, "hetmem-emu"))
			continue;
		seen++;
		if (fd < 900)
			FAIL("hetmem's %s is fd %d, in the program's way", target, fd);
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", de->d_name);
		int f = open(path, O_RDONLY);
		n = f < 0 ? -1 : read(f, info, sizeof(info) - 1);
		if (f >= 0)
			close(f);
		if (n <= 0)
			FAIL("cannot read %s", path);
		info[n] = 0;
		char *fl = strstr(info, "flags:");
		if (!fl || !(strtoul(fl + 6, NULL, 8) & O_CLOEXEC))
			FAIL("hetmem's %s (fd %d) is not close-on-exec", target, fd);
	}
	closedir(d);
	if (seen < 3)
		FAIL("found %d of hetmem's descriptors (userfaultfd, eventfd, memfd), expected 3", seen);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: fd_cases close|range|dup2|raw|rawdup|layout\n");
		return 2;
	}
	need_hetmem();
	uint64_t *p = malloc(LEN);
	if (!p)
		FAIL("malloc");
	fill(p, LEN, 11);
	wait_any_demoted();
	if (!strcmp(argv[1], "close"))
		do_close();
	else if (!strcmp(argv[1], "range"))
		do_range();
	else if (!strcmp(argv[1], "dup2"))
		do_dup2();
	else if (!strcmp(argv[1], "raw"))
		do_raw(p);
	else if (!strcmp(argv[1], "rawdup"))
		do_rawdup(p);
	else if (!strcmp(argv[1], "layout"))
		do_layout();
	else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	check_all(p, LEN, 11, "data demoted before the fd calls");
	uint64_t *q = malloc(LEN);
	if (!q)
		FAIL("malloc");
	uint64_t before = pages_demoted();
	fill(q, LEN, 12);
	check_all(q, LEN, 12, "data written after the fd calls");
	check_all(p, LEN, 11, "data demoted before the fd calls, again");
	if (pages_demoted() == before)
		FAIL("nothing was demoted after the fd calls");
	printf("%s: ok\n", argv[1]);
	return 0;
}
