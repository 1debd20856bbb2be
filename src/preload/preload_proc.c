/*
 * preload_proc.c — the preload library's interposers for the ways to make a
 * new process that run no pthread_atfork handlers: glibc's clone() without
 * CLONE_VM and _Fork().
 *
 * A child does not inherit the userfaultfd registration, so a page left on a
 * device would read as zeros in it.  fork() is covered by the atfork handlers
 * of space.c (pages brought home before, hetmem off in the child); clone()
 * without CLONE_VM and _Fork() skip those handlers, so these wrappers run the
 * same three steps around them.  With CLONE_VM (threads, vfork, posix_spawn)
 * the child shares the parent's memory and its faults are served by the
 * parent's handler: nothing to do.
 *
 * Not covered: the raw system calls (syscall(SYS_clone / SYS_fork /
 * SYS_clone3) without CLONE_VM), which no library can see; README lists them.
 * _Fork() is async-signal-safe in glibc, these wrappers are not (they take
 * hetmem's locks and bring pages home): a program that calls _Fork() from a
 * signal handler that interrupted one of hetmem's interposers could wait on
 * a lock held by the code it interrupted.
 */
#include "internal.h"

#include <dlfcn.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/types.h>

#define EXPORT __attribute__((visibility("default")))

void hm_preload_child_off(void);

typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);

struct clone_call {
	int (*fn)(void *);
	void *arg;
};

/* First thing in the child: the child's side of fork handling.  @a points
 * into the parent's stack, which the child has a copy of (no CLONE_VM). */
static int clone_child(void *a)
{
	struct clone_call c = *(struct clone_call *)a;
	hm_fork_child();
	hm_preload_child_off();
	return c.fn(c.arg);
}

EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	static clone_fn real;
	if (!real)
		real = (clone_fn)dlsym(RTLD_NEXT, "clone");
	/* the optional arguments, read as glibc's clone reads them: whatever
	 * the caller put there is passed on unchanged */
	va_list ap;
	va_start(ap, arg);
	pid_t *ptid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *ctid = va_arg(ap, pid_t *);
	va_end(ap);
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if ((flags & CLONE_VM) || !fn)
		return real(fn, stack, flags, arg, ptid, tls, ctid);
	struct clone_call c = {fn, arg};
	hm_fork_prepare();
	int rc = real(clone_child, stack, flags, &c, ptid, tls, ctid);
	int e = errno;
	hm_fork_parent();
	errno = e;
	return rc;
}

EXPORT pid_t _Fork(void)
{
	static pid_t (*real)(void);
	if (!real)
		real = (pid_t(*)(void))dlsym(RTLD_NEXT, "_Fork");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	hm_fork_prepare();
	pid_t pid = real();
	int e = errno;
	if (pid == 0) {
		hm_fork_child();
		hm_preload_child_off();
	} else {
		hm_fork_parent();
	}
	errno = e;
	return pid;
}
