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
 *
 * Also pthread_create: a thread started by hetmem code (hm_tls_internal set
 * in its creator: a library hetmem loads starting threads of its own, such
 * as the CUDA driver while a cuda: tier opens) is hetmem's too, so it
 * starts with hm_tls_internal set: its malloc is glibc's and its mmaps are
 * not managed.  Otherwise its memory would be the program's managed memory
 * and could be demoted to the very device whose driver it belongs to, and
 * a driver thread faulting on it could hold up the fault-back that needs
 * the driver.  Threads the program starts are passed on untouched.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
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

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

struct internal_start {
	void *(*fn)(void *);
	void *arg;
};

/* A thread started by hetmem code: hetmem's from its first instruction. */
static void *internal_thread(void *a)
{
	hm_tls_internal = true;
	struct internal_start st = *(struct internal_start *)a;
	free(a); /* glibc's: allocated with hm_tls_internal set */
	return st.fn(st.arg);
}

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	static pthread_create_fn real;
	if (!real)
		real = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
	if (!real)
		return ENOSYS;
	if (!hm_tls_internal)
		return real(t, attr, fn, arg);
	struct internal_start *st = malloc(sizeof(*st));
	if (!st)
		return EAGAIN;
	st->fn = fn;
	st->arg = arg;
	int e = real(t, attr, internal_thread, st);
	if (e)
		free(st);
	return e;
}
