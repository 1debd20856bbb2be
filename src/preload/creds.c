/*
 * creds.c — the preload library's interposers of the calls that change a
 * program's credentials, so that hetmem's threads always have the
 * credentials of the thread that changes them (thread.c says why).
 *
 * Before a set*id call (setuid, setgid, seteuid, setegid, setreuid,
 * setregid, setresuid, setresgid, setgroups, initgroups), which glibc runs
 * in every thread of the process and aborts on if the threads disagree,
 * hetmem's threads take the calling thread's capabilities, securebits,
 * ambient and bounding sets: the call then has the same outcome in them as
 * in the caller.  After a successful capability change of the calling
 * thread (capset, prctl's keep-caps, securebits, bounding set and ambient
 * options), they take it too: a program that drops a capability drops it
 * for hetmem's threads as well, which share its memory.  With no hetmem
 * thread running (hetmem off, a forked child) each interposer is the libc
 * call and nothing more.
 */
#include "internal.h"

#include <dlfcn.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

int capset(cap_user_header_t h, const cap_user_data_t d); /* not in glibc's headers */

/* glibc's function @name, resolved on first use */
#define REAL(name) \
	static __typeof__(&name) real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name); \
	if (!real_##name) { \
		errno = ENOSYS; \
		return -1; \
	}

/* a set*id call: hetmem's threads first take the caller's credentials */
#define SETXID1(name, t) \
	EXPORT int name(t a) \
	{ \
		REAL(name); \
		hm_thread_creds_sync(#name); \
		int rc_ = real_##name(a); \
		hm_thread_creds_after(); \
		return rc_; \
	}
#define SETXID2(name, t) \
	EXPORT int name(t a, t b) \
	{ \
		REAL(name); \
		hm_thread_creds_sync(#name); \
		int rc_ = real_##name(a, b); \
		hm_thread_creds_after(); \
		return rc_; \
	}
#define SETXID3(name, t) \
	EXPORT int name(t a, t b, t c) \
	{ \
		REAL(name); \
		hm_thread_creds_sync(#name); \
		int rc_ = real_##name(a, b, c); \
		hm_thread_creds_after(); \
		return rc_; \
	}

SETXID1(setuid, uid_t)
SETXID1(setgid, gid_t)
SETXID1(seteuid, uid_t)
SETXID1(setegid, gid_t)
SETXID2(setreuid, uid_t)
SETXID2(setregid, gid_t)
SETXID3(setresuid, uid_t)
SETXID3(setresgid, gid_t)

EXPORT int setgroups(size_t n, const gid_t *list)
{
	REAL(setgroups);
	hm_thread_creds_sync("setgroups");
	int rc = real_setgroups(n, list);
	hm_thread_creds_after();
	return rc;
}

/* glibc's initgroups calls its own setgroups, not this one */
EXPORT int initgroups(const char *user, gid_t group)
{
	REAL(initgroups);
	hm_thread_creds_sync("initgroups");
	int rc = real_initgroups(user, group);
	hm_thread_creds_after();
	return rc;
}

EXPORT int capset(cap_user_header_t h, const cap_user_data_t d)
{
	REAL(capset);
	int rc = real_capset(h, d);
	/* pid 0 or the caller's own tid: the calling thread's set changed */
	if (!rc && h && (h->pid == 0 || h->pid == (int)syscall(SYS_gettid))) {
		int e = errno;
		hm_thread_creds_sync("capset");
		errno = e;
	}
	return rc;
}

EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	REAL(prctl);
	int rc = real_prctl(option, a2, a3, a4, a5);
	bool creds = option == PR_SET_KEEPCAPS || option == PR_SET_SECUREBITS || option == PR_CAPBSET_DROP ||
		     (option == PR_CAP_AMBIENT && a2 != PR_CAP_AMBIENT_IS_SET);
	if (rc >= 0 && creds) {
		int e = errno;
		hm_thread_creds_sync("prctl");
		errno = e;
	}
	return rc;
}
