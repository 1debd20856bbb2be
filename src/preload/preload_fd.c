/*
 * preload_fd.c — the preload library's close, close_range, closefrom, dup2
 * and dup3: the program's fd calls, kept off hetmem's own descriptors
 * (fdguard.c says which numbers those are and why).
 *
 *  - close(N) of one of hetmem's numbers: -1/EBADF, as the kernel answers
 *    for a number the program never opened; hetmem's file stays open.
 *  - close_range(first, last, flags) and closefrom(first): the range is
 *    closed around hetmem's numbers (CLOSE_RANGE_CLOEXEC alone is passed on
 *    whole: hetmem's descriptors are close-on-exec already).
 *  - dup2/dup3(old, N) onto one of hetmem's numbers: hetmem's descriptor
 *    moves to another high number first (hm_fd_evict), then the program's
 *    call gives it N.  dup2/dup3 from one of hetmem's numbers: EBADF.
 *
 * These go straight to the kernel (raw system calls), so they work from the
 * first constructor on.  In a forked or vfork()ed child (hetmem is off
 * there, and the fd table is the child's own) they are the kernel's alone.  While hetmem creates a
 * descriptor (it is briefly at a low number) a close waits for it to move.
 * A raw system call of the program bypasses all this: fdguard.c says what
 * is guaranteed then.
 */
#include "internal.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

EXPORT int close(int fd)
{
	bool wait = hm_fd_creating() && !hm_fd_foreign();
	if (wait)
		hm_fd_lock_for_close();
	int rc;
	if (hm_fd_is_ours(fd) && !hm_fd_foreign()) {
		errno = EBADF;
		rc = -1;
	} else
		rc = (int)syscall(SYS_close, fd);
	if (wait)
		hm_fd_unlock_for_close();
	return rc;
}

/* close_range around hetmem's numbers; the lock is held by the caller */
static int close_around(unsigned first, unsigned last, unsigned flags)
{
	int mine[64];
	int n = hm_fd_list(first, last, mine, 64);
	if (!n)
		return (int)syscall(SYS_close_range, first, last, flags);
	unsigned lo = first;
	int rc = 0;
	bool called = false;
	/* CLOSE_RANGE_UNSHARE: the first call unshares the table, the rest
	 * work on the new one */
	for (int i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)mine[i] : last;
		if (i < n ? hi > lo : lo <= last) {
			if (syscall(SYS_close_range, lo, i < n ? hi - 1 : last,
				    called ? flags & ~CLOSE_RANGE_UNSHARE : flags))
				rc = -1;
			called = true;
		}
		if (i < n)
			lo = hi + 1; /* a descriptor is below INT_MAX: no wrap */
	}
	if (!called && (flags & CLOSE_RANGE_UNSHARE))
		rc = unshare(CLONE_FILES);
	return rc;
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	if (first > last || (flags & CLOSE_RANGE_CLOEXEC) || hm_fd_foreign())
		return (int)syscall(SYS_close_range, first, last, flags);
	hm_fd_lock_for_close();
	int rc = close_around(first, last, (unsigned)flags);
	int e = errno;
	hm_fd_unlock_for_close();
	errno = e;
	return rc;
}

EXPORT void closefrom(int first)
{
	if (first < 0)
		first = 0;
	int e = errno;
	int rc;
	if (hm_fd_foreign())
		rc = (int)syscall(SYS_close_range, (unsigned)first, ~0U, 0);
	else {
		hm_fd_lock_for_close();
		rc = close_around((unsigned)first, ~0U, 0);
		hm_fd_unlock_for_close();
	}
	if (rc && errno == ENOSYS) {
		/* no close_range in this kernel: one by one */
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = first; fd < max; fd++)
			close((int)fd);
	}
	errno = e;
}

static int dup_onto(int old, int new, int flags, bool is_dup3)
{
	if ((hm_fd_is_ours(old) || hm_fd_is_ours(new)) && hm_fd_foreign())
		goto kernel; /* a child's own table (preload_fd.c's header) */
	if (hm_fd_is_ours(old)) {
		errno = EBADF;
		return -1;
	}
	if (hm_fd_is_ours(new)) {
		if (old == new) {
			errno = is_dup3 ? EINVAL : EBADF;
			return -1;
		}
		/* an invalid @old must not cost hetmem its number */
		if (fcntl(old, F_GETFD) < 0)
			return -1;
		int rc = hm_fd_evict(new);
		if (rc) {
			errno = -rc;
			return -1;
		}
	}
kernel:
	if (!is_dup3 && old == new)
		return fcntl(old, F_GETFD) < 0 ? -1 : new;
	return (int)syscall(SYS_dup3, old, new, flags);
}

EXPORT int dup2(int old, int new)
{
	return dup_onto(old, new, 0, false);
}

EXPORT int dup3(int old, int new, int flags)
{
	return dup_onto(old, new, flags, true);
}
