/*
 * thread_cases.c — an ordinary program (it does not link hetmem), run under
 * `hetmem run --dram 32M`, that does what a program may do with its signals
 * and credentials while hetmem's own threads run beside it, with more data
 * than the budget (part of it on the device), which it checks at the end:
 *
 *   sigwait     SIGTERM and SIGUSR1 blocked in all its threads; kill(2) of
 *               its own pid (process-directed, like a plain `kill PID`) must
 *               reach its sigtimedwait and its signalfd, never kill it
 *   handler     a handler of SIGUSR2, which only one of its threads leaves
 *               unblocked: it must always run on that thread (its tid)
 *   setuid      (root) drops every capability but CAP_SETUID with capset,
 *               then setuid(65534)
 *   dropcaps    (root) setpriv's sequence: keep-caps, setresgid, setresuid,
 *               capset back to its permitted set, setgroups(0); afterwards
 *               no thread of the process (hetmem's included) may have a
 *               capability the calling thread lacks
 *
 * Exit 0 = pass, 77 = skipped (not root), anything else = fail.
 */
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "../hm_test.h"
#include "cases_common.h"

#define DATA (96 * MiB)

static uint64_t *data;

static void data_fill(void)
{
	need_hetmem();
	data = malloc(DATA);
	if (!data)
		FAIL("malloc");
	fill(data, DATA, 7);
	wait_demoted(data, DATA, "the data");
}

static void data_check(const char *when)
{
	check(data, DATA, 7, when);
}

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* the name of thread @t of this process */
static const char *comm(pid_t t)
{
	static char name[64];
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)t);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(name, sizeof(name), f))
		snprintf(name, sizeof(name), "?");
	if (f)
		fclose(f);
	name[strcspn(name, "\n")] = 0;
	return name;
}

/* A program thread that reads the data while the signals fly. */
static _Atomic int stop;
static _Atomic pid_t worker_tid;

static void *worker(void *arg)
{
	if (arg) { /* the handler case: this thread takes SIGUSR2 */
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGUSR2);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	}
	worker_tid = tid();
	volatile uint64_t sum = 0;
	while (!stop)
		for (size_t i = 0; i < DATA / 8 && !stop; i += 512)
			sum += data[i];
	return NULL;
}

static int case_sigwait(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		FAIL("pthread_sigmask");
	data_fill();
	pthread_t w;
	pthread_create(&w, NULL, worker, NULL);
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	struct timespec two = {2, 0};
	for (int i = 0; i < 50; i++) {
		if (kill(getpid(), SIGTERM))
			FAIL("kill: %s", strerror(errno));
		int s = sigtimedwait(&term, NULL, &two);
		if (s != SIGTERM)
			FAIL("sigtimedwait got %d (%s), expected SIGTERM (round %d)", s, strerror(errno), i);
	}
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	int fd = signalfd(-1, &usr1, SFD_CLOEXEC);
	if (fd < 0)
		FAIL("signalfd: %s", strerror(errno));
	for (int i = 0; i < 50; i++) {
		if (kill(getpid(), SIGUSR1))
			FAIL("kill: %s", strerror(errno));
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) != 1)
			FAIL("signalfd: no SIGUSR1 within 2 s (round %d)", i);
		struct signalfd_siginfo si;
		if (read(fd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGUSR1)
			FAIL("signalfd: read a wrong signal (round %d)", i);
	}
	close(fd);
	stop = 1;
	pthread_join(w, NULL);
	data_check("after the signals");
	return 0;
}

static _Atomic int handled;
static _Atomic pid_t handled_on;

static void on_usr2(int sig)
{
	handled_on = tid();
	handled++;
}

static int case_handler(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* only the worker takes it */
	struct sigaction sa = {0};
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	data_fill();
	pthread_t w;
	pthread_create(&w, NULL, worker, (void *)1);
	while (!worker_tid)
		usleep(1000);
	for (int i = 0; i < 200; i++) {
		if (kill(getpid(), SIGUSR2))
			FAIL("kill: %s", strerror(errno));
		for (int t = 0; handled == i && t < 2000; t++)
			usleep(1000);
		if (handled != i + 1)
			FAIL("the handler of SIGUSR2 did not run (round %d)", i);
		if (handled_on != worker_tid)
			FAIL("the program's handler ran on thread %d (%s), not on the only program thread that "
			     "takes the signal (%d)", (int)handled_on, comm(handled_on), (int)worker_tid);
	}
	stop = 1;
	pthread_join(w, NULL);
	data_check("after the signals");
	return 0;
}

/* ---------------------------------------------------------------------- */

static int capget_self(struct __user_cap_data_struct d[2], pid_t t)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = t};
	return (int)syscall(SYS_capget, &h, d);
}

static int capset_self(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	return (int)syscall(SYS_capset, &h, d);
}

int capset(cap_user_header_t h, const cap_user_data_t d); /* glibc's (not in its headers) */

/* Every thread of the process has no capability (effective, permitted or
 * inheritable) that the calling thread lacks. */
static void no_thread_above_me(void)
{
	struct __user_cap_data_struct me[2], t[2];
	if (capget_self(me, 0))
		FAIL("capget: %s", strerror(errno));
	DIR *d = opendir("/proc/self/task");
	if (!d)
		FAIL("opendir /proc/self/task: %s", strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		pid_t id = atoi(e->d_name);
		if (id <= 0 || id == tid())
			continue;
		if (capget_self(t, id))
			continue; /* gone */
		for (int i = 0; i < 2; i++)
			if ((t[i].effective & ~me[i].effective) || (t[i].permitted & ~me[i].permitted) ||
			    (t[i].inheritable & ~me[i].inheritable))
				FAIL("thread %d (%s) has capabilities %#x/%#x the program's thread dropped (%#x/%#x)",
				     (int)id, comm(id), t[i].effective, t[i].permitted, me[i].effective, me[i].permitted);
	}
	closedir(d);
}

static int case_setuid(void)
{
	if (geteuid() != 0) {
		hm_skip("needs root (it drops root's capabilities)");
	}
	data_fill();
	struct __user_cap_data_struct d[2] = {{0}};
	d[CAP_SETUID / 32].effective = d[CAP_SETUID / 32].permitted = 1u << (CAP_SETUID % 32);
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	if (capset(&h, d)) /* glibc's, as libcap's callers do */
		FAIL("capset: %s", strerror(errno));
	no_thread_above_me();
	if (setuid(65534))
		FAIL("setuid(65534): %s", strerror(errno));
	if (getuid() != 65534 || geteuid() != 65534)
		FAIL("uid %d euid %d after setuid(65534)", (int)getuid(), (int)geteuid());
	no_thread_above_me();
	data_check("after setuid");
	return 0;
}

static int case_dropcaps(void)
{
	if (geteuid() != 0) {
		hm_skip("needs root (it changes its ids)");
	}
	data_fill();
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		FAIL("PR_SET_KEEPCAPS: %s", strerror(errno));
	if (setresgid(65534, 65534, 65534))
		FAIL("setresgid: %s", strerror(errno));
	if (setresuid(65534, 65534, 65534))
		FAIL("setresuid: %s", strerror(errno));
	/* keep-caps kept the permitted set; take CAP_SETGID back, in this thread */
	struct __user_cap_data_struct d[2];
	if (capget_self(d, 0))
		FAIL("capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		d[i].effective = d[i].permitted;
	if (capset_self(d)) /* the raw system call: the id calls must still agree */
		FAIL("capset: %s", strerror(errno));
	if (setgroups(0, NULL))
		FAIL("setgroups(0): %s", strerror(errno));
	if (getgroups(0, NULL) != 0)
		FAIL("still in %d groups", getgroups(0, NULL));
	/* now drop everything, as a sandbox would, and check no thread kept any */
	memset(d, 0, sizeof(d));
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	if (capset(&h, d))
		FAIL("capset (drop all): %s", strerror(errno));
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	no_thread_above_me();
	if (setresuid(65534, 65534, 65534)) /* allowed without privilege: same ids */
		FAIL("setresuid (same ids): %s", strerror(errno));
	if (getuid() != 65534 || getgid() != 65534)
		FAIL("uid %d gid %d", (int)getuid(), (int)getgid());
	data_check("after dropping privileges");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: %s sigwait|handler|setuid|dropcaps\n", argv[0]);
		return 2;
	}
	static const struct named_case cases[] = {
		{"sigwait", case_sigwait}, {"handler", case_handler}, {"setuid", case_setuid}, {"dropcaps", case_dropcaps},
	};
	return run_case(argv[1], cases, sizeof(cases) / sizeof(cases[0]));
}
