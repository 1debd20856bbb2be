/*
 * thread.c — hetmem's own threads: how they start, and how they keep the
 * program's credentials.
 *
 * Signals.  Every hetmem thread (the fault handler, the reclaimer, the
 * preload library's publisher) is started by hm_thread_start with every
 * signal blocked: the mask is filled around pthread_create and the caller's
 * is restored after, so the new thread starts with the full mask and never
 * has a moment without it.  The kernel then never picks a hetmem thread for
 * a process-directed signal (kill, a timer, SIGCHLD...): a program that
 * blocks a signal in all its threads and takes it with sigwait or signalfd
 * still gets it, and a program's handler never runs on hetmem's stack.
 * glibc keeps its own SIGCANCEL and SIGSETXID out of any mask, so set*id
 * broadcasts still reach these threads.  A synchronous fault (SIGSEGV,
 * SIGBUS) of a hetmem thread is then fatal as by default, with one
 * exception: in signal mode (sigfault.c) the reclaimer's own accesses to
 * registered memory (a hole in a staging chunk) raise SIGBUS in it, which
 * the SIGBUS handler serves, so the reclaimer takes SIGBUS there
 * (hm_thread_take_sigbus); a SIGBUS sent with kill(2) to a program that
 * blocks it in every thread could then reach the reclaimer.
 *
 * Credentials.  In Linux capabilities, securebits (keep-caps among them),
 * ambient capabilities and the bounding set belong to each thread, while
 * glibc applies setuid, setgid, setgroups and the rest to every thread of
 * the process (SIGSETXID) and aborts the process if one thread's call fails
 * where another's succeeded.  A program that changes its capabilities and
 * then its ids (setpriv, daemons, sandboxes: keep-caps, setresuid, capset,
 * setgroups) would leave hetmem's threads with other capabilities than its
 * own, and be aborted at its next set*id call; and a program that drops its
 * capabilities means the whole process to be without them.  So the preload
 * library (creds.c) calls hm_thread_creds_sync before each set*id call and
 * after each capability change: it reads the calling thread's state and
 * asks every hetmem thread to take the same.  capset and prctl act on the
 * calling thread only, so each thread applies the state to itself: the
 * request is a generation number; each thread looks at it at its wait
 * points (hm_thread_sync: one atomic load when nothing is asked), and is
 * woken from its sleep by its wake function (the handler's eventfd, the
 * reclaimer's condition variable, hm_thread_sleep_ms's).  The caller waits
 * for every thread's answer for at most CREDS_WAIT_MS, never longer.
 */
#include "internal.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 8
#define CREDS_WAIT_MS 5000

/* A thread's credential state that may differ between threads. */
struct creds {
	struct __user_cap_data_struct cap[_LINUX_CAPABILITY_U32S_3];
	int securebits;
	uint64_t ambient;  /* bit n: capability n is ambient */
	uint64_t bounding; /* bit n: capability n is in the bounding set */
};

struct slot {
	_Atomic pid_t tid;       /* 0: free or not started yet */
	pid_t pid;               /* the process that started it (a forked child has none) */
	const char *name;
	void *(*fn)(void *);
	void *arg;
	void (*wake)(void);      /* wakes the thread from its sleep, or NULL */
	_Atomic uint64_t done;   /* the last request it answered */
	int result;              /* that answer: 0 or -errno */
	bool used;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;   /* slots, sleepers */
static pthread_cond_t sleep_cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t req_lock = PTHREAD_MUTEX_INITIALIZER; /* one request at a time */
/* held while wake functions run and while a thread leaves: a wake function
 * never runs for a thread that is gone (the handler's eventfd may be closed
 * and its number reused once the handler is joined) */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[MAX_THREADS];
static _Atomic uint64_t req_gen;
static struct creds req_creds; /* written before req_gen moves, under req_lock */
/* What every hetmem thread has now, when known_valid (both under req_lock):
 * a caller with these credentials needs no round trip.  A thread started
 * since (known_stale) has its creator's, which may be other. */
static struct creds known;
static bool known_valid;
static _Atomic bool known_stale;
static __thread struct slot *self __attribute__((tls_model("initial-exec")));
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int last_cap(void)
{
	static int last = -1;
	if (last < 0) {
		int n = CAP_LAST_CAP;
		/* a newer kernel may know more: the first one it refuses ends it */
		while (n < 63 && prctl(PR_CAPBSET_READ, (unsigned long)n + 1, 0, 0, 0) >= 0)
			n++;
		last = n;
	}
	return last;
}

static int creds_get(struct creds *c)
{
	memset(c, 0, sizeof(*c));
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	if (syscall(SYS_capget, &h, c->cap))
		return -errno;
	c->securebits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (c->securebits < 0)
		c->securebits = 0;
	/* an ambient capability is both permitted and inheritable */
	bool amb = false;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		amb |= (c->cap[i].permitted & c->cap[i].inheritable) != 0;
	for (int n = 0; n <= last_cap(); n++) {
		if (prctl(PR_CAPBSET_READ, (unsigned long)n, 0, 0, 0) > 0)
			c->bounding |= 1ull << n;
		if (amb && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, (unsigned long)n, 0, 0) > 0)
			c->ambient |= 1ull << n;
	}
	return 0;
}

static bool creds_equal(const struct creds *a, const struct creds *b)
{
	return !memcmp(a->cap, b->cap, sizeof(a->cap)) && a->securebits == b->securebits &&
	       a->ambient == b->ambient && a->bounding == b->bounding;
}

static int capset_self(const struct __user_cap_data_struct *cap)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	memcpy(d, cap, sizeof(d));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* Make the calling thread's state @want.  Steps in the order the kernel
 * allows them: every permitted capability effective first (CAP_SETPCAP for
 * the securebits and the bounding set), then securebits, bounding set and
 * ambient set, then the capabilities themselves.  A thread can lose but
 * never gain privilege here: what it lacks it cannot take, and the result
 * is checked against @want. */
static int creds_apply(const struct creds *want)
{
	struct creds cur;
	int rc = creds_get(&cur);
	if (rc)
		return rc;
	if (creds_equal(&cur, want))
		return 0;
	struct __user_cap_data_struct wide[_LINUX_CAPABILITY_U32S_3];
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		wide[i] = cur.cap[i];
		wide[i].effective = cur.cap[i].permitted;
		wide[i].inheritable = want->cap[i].inheritable;
	}
	if (capset_self(wide)) {
		for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
			wide[i].inheritable = cur.cap[i].inheritable;
		capset_self(wide);
	}
	if (cur.securebits != want->securebits &&
	    prctl(PR_SET_SECUREBITS, (unsigned long)want->securebits, 0, 0, 0) &&
	    (cur.securebits ^ want->securebits) == (1 << SECURE_KEEP_CAPS))
		prctl(PR_SET_KEEPCAPS, (unsigned long)!!(want->securebits & (1 << SECURE_KEEP_CAPS)), 0, 0, 0);
	for (int n = 0; n <= last_cap(); n++)
		if ((cur.bounding & ~want->bounding) & (1ull << n))
			prctl(PR_CAPBSET_DROP, (unsigned long)n, 0, 0, 0);
	if (cur.ambient != want->ambient) {
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		for (int n = 0; n <= last_cap(); n++)
			if (want->ambient & (1ull << n))
				prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)n, 0, 0);
	}
	capset_self(want->cap);
	rc = creds_get(&cur);
	if (rc)
		return rc;
	return creds_equal(&cur, want) ? 0 : -EPERM;
}

void hm_thread_sync(void)
{
	struct slot *s = self;
	if (!s)
		return;
	uint64_t g = atomic_load(&req_gen);
	if (hm_likely(atomic_load_explicit(&s->done, memory_order_relaxed) == g))
		return;
	s->result = creds_apply(&req_creds);
	atomic_store(&s->done, g);
}

bool hm_thread_pending(void)
{
	return self && atomic_load(&self->done) != atomic_load(&req_gen);
}

void hm_thread_sleep_ms(unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&lock);
	if (!self || atomic_load(&self->done) == atomic_load(&req_gen))
		pthread_cond_timedwait(&sleep_cv, &lock, &ts);
	pthread_mutex_unlock(&lock);
	hm_thread_sync();
}

static void *trampoline(void *arg)
{
	struct slot *s = arg;
	self = s;
	atomic_store(&s->tid, (pid_t)syscall(SYS_gettid));
	hm_thread_sync(); /* a request made while it started */
	void *ret = s->fn(s->arg);
	pthread_mutex_lock(&wake_lock);
	atomic_store(&s->tid, 0);
	pthread_mutex_unlock(&wake_lock);
	pthread_mutex_lock(&lock);
	s->used = false;
	pthread_mutex_unlock(&lock);
	return ret;
}

/* A forked child has none of these threads, and a request in flight in
 * the parent may have held the locks across fork(). */
static void atfork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	pthread_mutex_init(&req_lock, NULL);
	pthread_mutex_init(&wake_lock, NULL);
	pthread_cond_init(&sleep_cv, NULL);
	for (int i = 0; i < MAX_THREADS; i++) {
		atomic_store(&slots[i].tid, 0);
		slots[i].used = false;
	}
	known_valid = false;
}

static void atfork_install(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

int hm_thread_start(pthread_t *t, const char *name, void *(*fn)(void *), void *arg, void (*wake)(void))
{
	pthread_once(&atfork_once, atfork_install);
	pthread_mutex_lock(&lock);
	struct slot *s = NULL;
	for (int i = 0; i < MAX_THREADS && !s; i++)
		if (!slots[i].used)
			s = &slots[i];
	if (!s) {
		pthread_mutex_unlock(&lock);
		return EAGAIN;
	}
	s->used = true;
	s->pid = getpid();
	s->name = name;
	s->fn = fn;
	s->arg = arg;
	s->wake = wake;
	/* it starts with its creator's credentials: nothing to answer yet */
	atomic_store(&s->done, atomic_load(&req_gen));
	pthread_mutex_unlock(&lock);
	atomic_store(&known_stale, true);

	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(t, NULL, trampoline, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		pthread_mutex_lock(&lock);
		s->used = false;
		pthread_mutex_unlock(&lock);
		return e;
	}
	pthread_setname_np(*t, name); /* top -H, ps -L */
	/* registered before this returns: a credential change from now on
	 * waits for it */
	for (int i = 0; i < 100000 && !atomic_load(&s->tid); i++)
		sched_yield();
	return 0;
}

void hm_thread_take_sigbus(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether this process has a hetmem thread now (not in a forked child). */
static bool any_thread(void)
{
	if (self)
		return false; /* a hetmem thread itself: never the program's call */
	pid_t pid = getpid();
	for (int i = 0; i < MAX_THREADS; i++)
		if (atomic_load(&slots[i].tid) && slots[i].pid == pid)
			return true;
	return false;
}

/* req_lock, waiting at most CREDS_WAIT_MS: a call from a signal handler
 * that interrupted this very file's code must not hang. */
static bool req_take(const char *what)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CREDS_WAIT_MS / 1000;
	if (!pthread_mutex_timedlock(&req_lock, &until))
		return true;
	fprintf(stderr, "hetmem: %s: another change of credentials is under way; hetmem's threads "
			"may not have the calling thread's capabilities\n", what);
	return false;
}

void hm_thread_creds_after(void)
{
	if (!any_thread())
		return;
	int saved_errno = errno;
	if (!req_take("set*id"))
		return;
	/* the call ran in every thread from the same state: each thread's
	 * state became what the caller's is now */
	if (known_valid && !atomic_load(&known_stale) && creds_get(&known))
		known_valid = false;
	pthread_mutex_unlock(&req_lock);
	errno = saved_errno;
}

int hm_thread_creds_sync(const char *what)
{
	if (!any_thread())
		return 0;
	pid_t pid = getpid();
	int saved_errno = errno;
	if (!req_take(what)) {
		errno = saved_errno;
		return -EDEADLK;
	}
	struct creds c;
	int rc = creds_get(&c);
	if (rc) {
		pthread_mutex_unlock(&req_lock);
		errno = saved_errno;
		return rc;
	}
	if (atomic_exchange(&known_stale, false))
		known_valid = false;
	if (known_valid && creds_equal(&c, &known)) {
		pthread_mutex_unlock(&req_lock);
		errno = saved_errno;
		return 0; /* they have it already */
	}
	pthread_mutex_lock(&lock);
	req_creds = c;
	uint64_t g = atomic_fetch_add(&req_gen, 1) + 1;
	pthread_cond_broadcast(&sleep_cv);
	pthread_mutex_unlock(&lock);
	pthread_mutex_lock(&wake_lock);
	for (int i = 0; i < MAX_THREADS; i++)
		if (atomic_load(&slots[i].tid) && slots[i].pid == pid && slots[i].wake)
			slots[i].wake();
	pthread_mutex_unlock(&wake_lock);
	uint64_t t0 = mono_ms();
	const char *late = NULL, *failed = NULL;
	int fail_rc = 0;
	for (;;) {
		late = NULL;
		for (int i = 0; i < MAX_THREADS && !late; i++) {
			struct slot *s = &slots[i];
			if (atomic_load(&s->tid) && s->pid == pid && atomic_load(&s->done) < g)
				late = s->name;
		}
		uint64_t waited = mono_ms() - t0;
		if (!late || waited >= CREDS_WAIT_MS)
			break;
		if (waited < 2) { /* they answer within microseconds when idle */
			sched_yield();
			continue;
		}
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < MAX_THREADS; i++) {
		struct slot *s = &slots[i];
		if (atomic_load(&s->tid) && s->pid == pid && atomic_load(&s->done) >= g && s->result) {
			failed = s->name;
			fail_rc = s->result;
		}
	}
	known = c;
	known_valid = !late && !failed;
	pthread_mutex_unlock(&req_lock);
	if (late) {
		fprintf(stderr, "hetmem: %s: hetmem's thread %s did not take the calling thread's capabilities "
				"within %d ms; the call may fail in it\n", what, late, CREDS_WAIT_MS);
		rc = -ETIMEDOUT;
	} else if (failed) {
		fprintf(stderr, "hetmem: %s: hetmem's thread %s cannot take the calling thread's capabilities: %s; "
				"the call may fail in it\n", what, failed, strerror(-fail_rc));
		rc = fail_rc;
	}
	errno = saved_errno;
	return rc;
}

/* Confine the calling hetmem thread to HETMEM_CPUS, if set (options.c). */
void hm_pin_own_thread(void)
{
	if (hm_g.cpus_set)
		sched_setaffinity(0, sizeof(hm_g.cpus), &hm_g.cpus); /* best effort: a cpuset may refuse */
}
