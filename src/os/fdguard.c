/*
 * fdguard.c — hetmem's own file descriptors, kept out of the program's way.
 *
 * hetmem lives in someone else's fd table: its userfaultfd, the handler's
 * eventfd, a tier's memfd or file, pagemap and clear_refs.  A program may
 * legally close every number above 2, close_range() them, or dup2() its own
 * file onto any number; done to one of hetmem's, that took its userfaultfd
 * away (the kernel then drops the registration: demoted data read as zeros)
 * or made hetmem read and write the program's file.  So:
 *
 *  - Every descriptor hetmem keeps is moved to a high number, close-on-exec
 *    (hm_fd_hide: F_DUPFD_CLOEXEC at or above a floor just under
 *    min(soft RLIMIT_NOFILE, 1024), lower when that fails), out of the way of
 *    the kernel's lowest-free-number choice, bash's fds 10 and up and 255 down,
 *    and registered in a small lock-free set.  Created and hidden under
 *    hm_fd_begin/hm_fd_end, so a program closing "every fd above 2" at that
 *    moment waits rather than closing the low number before it moves.
 *  - The preload library (preload_fd.c) interposes close, close_range,
 *    closefrom, dup2 and dup3: a close of one of hetmem's numbers is EBADF,
 *    as for a number the program never opened, a range is closed around
 *    them, and a dup2/dup3 onto one first moves hetmem's descriptor to
 *    another high number (hm_fd_evict: the variable that holds it is
 *    updated) and only then lets the program have the number.
 *  - A hetmem thread may have read the old number just before such a move:
 *    the system calls on hetmem's descriptors (prim.c, the handler's read,
 *    track.c) run inside hm_fd_enter/hm_fd_exit and pass the number through
 *    hm_fd_cur, which forwards a moved number to its new place; the move
 *    waits for the calls already inside to finish (two counters, as SRCU)
 *    before the program's dup2 replaces the old number.
 *  - A raw system call (syscall(SYS_close_range), a static or Go program's
 *    own) bypasses the interposers.  The userfaultfd cannot be released by
 *    it: a thread with a file table of its own (hm-keep, unshare(CLONE_FILES))
 *    holds a second reference that no system call of the program can reach,
 *    and the kernel drops the registration only at the last one.  Faults
 *    then wait in the kernel; the first of hetmem's uses of a lost
 *    descriptor (POLLNVAL; EBADF, EINVAL or a torn message on the handler's
 *    read; EBADF or ENOTTY on a userfaultfd ioctl; the handler's numbers
 *    naming another file than its userfaultfd and eventfd, by device and
 *    inode, checked each time poll wakes it; EBADF on a tier's file) stops
 *    the process with a message (hm_fd_lost, exit status 70), so no fault is
 *    served from anything else and none is left to read zeros.
 *    Not guaranteed: a raw dup2 of the program's file onto a file tier's
 *    descriptor is not detected (tier reads are not checked file by file);
 *    where a sandbox refuses unshare(CLONE_FILES) there is no second
 *    reference, and a raw close then races the handler's detection with the
 *    kernel dropping the registration; a raw dup2 onto the userfaultfd while
 *    the handler is busy (between two polls) is caught at its next poll or
 *    at the first read that is not whole messages, not before that read.
 *    The record's stream (record.c) writes through glibc, outside the
 *    enter/exit sections.  A dup2 onto one of hetmem's numbers when no other
 *    number is free fails with EMFILE: hetmem's descriptors count against
 *    the program's RLIMIT_NOFILE, as they always did.
 */
#include "internal.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FD_MAX 64      /* hetmem keeps a handful open at once */
#define FWD_MAX 16     /* moved numbers remembered for calls in flight */
#define FD_TOP_CAP 1024

struct fd_ent {
	_Atomic int fd;  /* -1 = free slot */
	int *home;       /* where hetmem keeps the number (updated on a move), or NULL */
};

static struct fd_ent ents[FD_MAX] = {[0 ... FD_MAX - 1] = {.fd = -1}};
static _Atomic int nents;
static struct {
	_Atomic int from, to;
} fwd[FWD_MAX] = {[0 ... FWD_MAX - 1] = {-1, -1}};
static _Atomic unsigned fwd_next;
static _Atomic bool moved_any;

/* Serialises hetmem's creation of descriptors with the program's closes
 * (while a descriptor is still at its low number) and with moves. */
static pthread_mutex_t fd_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP; /* hm_fd_open inside hm_fd_begin */
static _Atomic int creating;

/* SRCU-like: calls on hetmem's descriptors count themselves in users[idx]. */
static _Atomic unsigned users[2];
static _Atomic unsigned cur_idx;

static _Atomic bool lost_once;
static _Atomic pid_t owner; /* the process whose descriptors these are */

static int floor_fd(void)
{
	struct rlimit rl;
	long top = FD_TOP_CAP;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < top)
		top = (long)rl.rlim_cur;
	long f = top - FD_MAX;
	return f < 3 ? 3 : (int)f;
}

static void fd_atfork_child(void)
{
	/* the child has one thread: nothing can hold the lock there */
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&fd_lock, &a);
	pthread_mutexattr_destroy(&a);
	atomic_store(&creating, 0);
	atomic_store(&users[0], 0);
	atomic_store(&users[1], 0);
}

static pthread_once_t fd_once = PTHREAD_ONCE_INIT;
static void fd_init(void)
{
	pthread_atfork(NULL, NULL, fd_atfork_child);
}

void hm_fd_begin(void)
{
	pthread_once(&fd_once, fd_init);
	pthread_mutex_lock(&fd_lock);
	atomic_fetch_add(&creating, 1);
}

void hm_fd_end(void)
{
	atomic_fetch_sub(&creating, 1);
	pthread_mutex_unlock(&fd_lock);
}

bool hm_fd_is_ours(int fd)
{
	if (fd < 0 || !atomic_load_explicit(&nents, memory_order_acquire))
		return false;
	for (int i = 0; i < FD_MAX; i++)
		if (atomic_load_explicit(&ents[i].fd, memory_order_relaxed) == fd)
			return true;
	return false;
}

bool hm_fd_foreign(void)
{
	/* a forked or vfork()ed child: hetmem is off there and its table is
	 * the child's own; a vfork child shares hetmem's memory, which it must
	 * not change (the parent's numbers would name nothing) */
	return getpid() != atomic_load(&owner);
}

/* A free high number for a copy of @fd, close-on-exec: at or above the
 * floor, else lower; -errno if there is none. */
static int dup_high(int fd)
{
	for (int f = floor_fd(); f >= 3; f = f > 64 ? f / 2 : (f > 3 ? 3 : 2)) {
		int n = fcntl(fd, F_DUPFD_CLOEXEC, f);
		if (n >= 0)
			return n;
		if (errno != EMFILE && errno != EINVAL)
			return -errno;
		if (f == 3)
			break;
	}
	return -EMFILE;
}

static void fwd_drop(int from)
{
	for (int i = 0; i < FWD_MAX; i++)
		if (atomic_load(&fwd[i].from) == from)
			atomic_store(&fwd[i].from, -1);
}

static void do_register(int fd, int *home)
{
	fwd_drop(fd); /* a number hetmem holds again is its own, not forwarded */
	for (int i = 0; i < FD_MAX; i++) {
		int expect = -1;
		if (atomic_compare_exchange_strong(&ents[i].fd, &expect, -2)) {
			ents[i].home = home;
			atomic_store(&ents[i].fd, fd);
			atomic_fetch_add(&nents, 1);
			return;
		}
	}
	/* more than FD_MAX at once: it stays where it is, unguarded */
}

int hm_fd_hide(int fd, int *home)
{
	if (fd < 0)
		return fd;
	int n = dup_high(fd);
	if (n >= 0) {
		syscall(SYS_close, fd);
		fd = n;
	} else {
		/* no free high number: keep the low one, registered */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	atomic_store(&owner, getpid());
	do_register(fd, home);
	if (home)
		__atomic_store_n(home, fd, __ATOMIC_RELEASE);
	return fd;
}

void hm_fd_set_home(int fd, int *home)
{
	hm_fd_begin(); /* a move reads the home under the same lock */
	for (int i = 0; i < FD_MAX; i++)
		if (atomic_load(&ents[i].fd) == fd)
			ents[i].home = home;
	hm_fd_end();
}

int hm_fd_open(const char *path, int flags, mode_t mode, int *home)
{
	hm_fd_begin();
	int fd = open(path, flags | O_CLOEXEC, mode);
	int e = errno;
	if (fd >= 0)
		fd = hm_fd_hide(fd, home);
	hm_fd_end();
	errno = e;
	return fd;
}

static void do_unregister(int fd)
{
	for (int i = 0; i < FD_MAX; i++) {
		int expect = fd;
		if (atomic_compare_exchange_strong(&ents[i].fd, &expect, -1)) {
			ents[i].home = NULL;
			atomic_fetch_sub(&nents, 1);
			break;
		}
	}
	for (int i = 0; i < FWD_MAX; i++)
		if (atomic_load(&fwd[i].to) == fd)
			atomic_store(&fwd[i].from, -1);
}

void hm_fd_forget(int fd)
{
	hm_fd_begin();
	do_unregister(fd);
	hm_fd_end();
}

int hm_fd_close(int fd)
{
	if (fd < 0)
		return 0;
	hm_fd_begin();
	do_unregister(fd);
	int rc = (int)syscall(SYS_close, fd);
	hm_fd_end();
	return rc;
}

int hm_fd_cur(int fd)
{
	if (hm_likely(!atomic_load_explicit(&moved_any, memory_order_acquire)))
		return fd;
	for (int hop = 0; hop < FWD_MAX; hop++) {
		int k;
		for (k = 0; k < FWD_MAX; k++)
			if (atomic_load(&fwd[k].from) == fd)
				break;
		if (k == FWD_MAX)
			return fd;
		fd = atomic_load(&fwd[k].to);
	}
	return fd;
}

unsigned hm_fd_enter(void)
{
	unsigned idx = atomic_load(&cur_idx) & 1;
	atomic_fetch_add(&users[idx], 1);
	return idx;
}

void hm_fd_exit(unsigned idx)
{
	atomic_fetch_sub(&users[idx], 1);
}

/* Wait until every call on hetmem's descriptors that began before now has
 * ended (at most about a second: a thread stopped by a debugger must not
 * hang the program's dup2). */
static void fd_quiesce(void)
{
	unsigned old = atomic_fetch_add(&cur_idx, 1) & 1;
	for (int i = 0; i < 10100 && atomic_load(&users[old]); i++) {
		if (i < 100)
			sched_yield();
		else
			usleep(100);
	}
}

void (*hm_fd_moved_hook)(void);

int hm_fd_evict(int fd)
{
	if (!hm_fd_is_ours(fd) || hm_fd_foreign())
		return 0;
	hm_fd_begin();
	int rc = 0;
	for (int i = 0; i < FD_MAX; i++) {
		if (atomic_load(&ents[i].fd) != fd)
			continue;
		int n = dup_high(fd);
		if (n < 0) {
			rc = n;
			break;
		}
		int *home = ents[i].home;
		fwd_drop(n); /* n is hetmem's now, whatever it was before */
		/* forward the old number first: a call that read it is sent on */
		unsigned k = atomic_fetch_add(&fwd_next, 1) % FWD_MAX;
		atomic_store(&fwd[k].to, n);
		atomic_store(&fwd[k].from, fd);
		for (int j = 0; j < FWD_MAX; j++)
			if (atomic_load(&fwd[j].to) == fd)
				atomic_store(&fwd[j].to, n);
		atomic_store(&moved_any, true);
		atomic_store(&ents[i].fd, n);
		if (home)
			__atomic_store_n(home, n, __ATOMIC_RELEASE);
		break;
	}
	if (!rc) {
		if (hm_fd_moved_hook)
			hm_fd_moved_hook(); /* the handler polls the new number */
		fd_quiesce();
	}
	hm_fd_end();
	/* the old number still names hetmem's file: the caller's dup2/dup3
	 * replaces it (and so closes hetmem's copy there) */
	return rc;
}

bool hm_fd_creating(void)
{
	return atomic_load(&creating) != 0;
}

void hm_fd_lock_for_close(void)
{
	pthread_mutex_lock(&fd_lock);
}

void hm_fd_unlock_for_close(void)
{
	pthread_mutex_unlock(&fd_lock);
}

/* Hetmem's numbers in [first, last], sorted, into @out (at most @max). */
int hm_fd_list(unsigned first, unsigned last, int *out, int max)
{
	int n = 0;
	for (int i = 0; i < FD_MAX && n < max; i++) {
		int fd = atomic_load(&ents[i].fd);
		if (fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last)
			out[n++] = fd;
	}
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
			int t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

void hm_fd_lost(int fd, const char *what)
{
	if (atomic_exchange(&lost_once, true)) {
		for (;;)
			pause(); /* the first thread is stopping the process */
	}
	char msg[256];
	int n = snprintf(msg, sizeof(msg),
			 "hetmem: the program closed or replaced hetmem's %s (fd %d) with a raw system call; "
			 "stopping it so that it cannot read wrong data\n",
			 what, fd);
	if (n > 0 && write(2, msg, (size_t)n) < 0) {
		/* nothing more to say */
	}
	for (;;)
		syscall(SYS_exit_group, 70); /* EX_SOFTWARE */
}

/* ---------------------------------------------------------------------- */
/* The userfaultfd's second reference                                       */
/* ---------------------------------------------------------------------- */

static dev_t uffd_dev;
static ino_t uffd_ino;

bool hm_fd_is_uffd(int fd)
{
	struct stat st;
	if (fstat(fd, &st))
		return false;
	return st.st_dev == uffd_dev && st.st_ino == uffd_ino;
}

static _Atomic int keeper_stop, keeper_ready;
static _Atomic unsigned keeper_word; /* moved by every wake-up of the keeper */
static pthread_t keeper;
static bool keeper_on;

/* hm_thread_start's wake: a credentials request (thread.c) or the stop */
static void keeper_wake(void)
{
	atomic_fetch_add(&keeper_word, 1);
	syscall(SYS_futex, &keeper_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *keeper_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	hm_pin_own_thread();
	/* a file table of this thread's own, holding the userfaultfd alone:
	 * no close of the program's reaches it */
	bool ok = unshare(CLONE_FILES) == 0;
	atomic_store(&keeper_ready, ok ? 1 : -1);
	syscall(SYS_futex, &keeper_ready, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	if (!ok)
		return NULL;
	/* the program's files must not stay open here (a pipe's reader
	 * would never see its end) */
	if ((fd > 0 && syscall(SYS_close_range, 0, (unsigned)fd - 1, 0)) ||
	    syscall(SYS_close_range, (unsigned)fd + 1, ~0U, 0)) {
		long max = sysconf(_SC_OPEN_MAX); /* no close_range (Linux < 5.9) */
		for (long i = 0; i < max; i++)
			if (i != fd)
				syscall(SYS_close, (int)i);
	}
	for (;;) {
		/* the word is read before looking: a wake-up after the look
		 * changes it, and the wait returns at once */
		unsigned w = atomic_load(&keeper_word);
		hm_thread_sync(); /* the program's credentials, if it changed them */
		if (atomic_load(&keeper_stop))
			break;
		syscall(SYS_futex, &keeper_word, FUTEX_WAIT_PRIVATE, w, NULL, NULL, 0);
	}
	return NULL; /* its file table, and the reference, go with the thread */
}

int hm_fd_keep_uffd(int fd)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	uffd_dev = st.st_dev;
	uffd_ino = st.st_ino;
	atomic_store(&keeper_stop, 0);
	atomic_store(&keeper_ready, 0);
	/* started like every hetmem thread: signals blocked, and following
	 * the program's credentials (glibc's set*id reaches it too) */
	int e = hm_thread_start(&keeper, "hm-keep", keeper_main, (void *)(intptr_t)fd, keeper_wake);
	if (e)
		return -e;
	keeper_on = true;
	while (!atomic_load(&keeper_ready))
		syscall(SYS_futex, &keeper_ready, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return atomic_load(&keeper_ready) > 0 ? 0 : -ENOSYS;
}

void hm_fd_release_uffd(void)
{
	if (!keeper_on)
		return;
	atomic_store(&keeper_stop, 1);
	keeper_wake();
	pthread_join(keeper, NULL);
	keeper_on = false;
}
