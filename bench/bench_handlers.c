/*
 * bench_handlers.c — where a userfaultfd's handler thread should run: the
 * bare round trip of a 4 KiB MISSING fault (a thread touches an absent page,
 * a handler reads the message and places the page with UFFDIO_COPY, which
 * wakes the thread) with the handler placed four ways, in one run:
 *
 *   unpinned   one handler, wherever the scheduler puts it (hetmem's
 *              design today: the baseline)
 *   same-cpu   one handler pinned to the faulting thread's CPU (what
 *              bench_fault --cpu 1 measures for the whole of hetmem)
 *   other-cpu  one handler pinned to another CPU
 *   per-cpu    a handler pinned to each CPU, all reading the same
 *              userfaultfd (the "handler per CPU" design: a fault's message
 *              wakes every reader, and the nearest should win)
 *
 * The faulting thread is pinned to CPU 0 and touches the pages of a region
 * in a scattered order; each configuration runs --rounds times, taking
 * turns, and prints the p50 of each round and the median of the p50s, with
 * the ratio to "unpinned".  No hetmem code is involved: this measures the
 * kernel's mechanism, to decide a design before building it.
 *
 * Usage: bench_handlers [--pages N] [--rounds R]
 * Exit status: 0, or 1 when userfaultfd is unavailable or a page read wrong.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PG 4096ul
#define MAX_HANDLERS 64

static int uffd, stop_efd;
static char *src;

struct handler {
	pthread_t t;
	int cpu; /* -1: not pinned */
};

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s))
		fprintf(stderr, "bench_handlers: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	if (h->cpu >= 0)
		pin(h->cpu);
	struct pollfd p[2] = {{.fd = uffd, .events = POLLIN}, {.fd = stop_efd, .events = POLLIN}};
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		struct uffd_msg m;
		if (read(uffd, &m, sizeof(m)) != (ssize_t)sizeof(m))
			continue; /* another reader took it (EAGAIN) */
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		struct uffdio_copy c = {.dst = m.arg.pagefault.address & ~(PG - 1), .src = (uintptr_t)src, .len = PG};
		if (ioctl(uffd, UFFDIO_COPY, &c) && errno != EEXIST) {
			struct uffdio_range r = {.start = c.dst, .len = PG};
			ioctl(uffd, UFFDIO_WAKE, &r); /* the thread retries */
		}
	}
	return NULL;
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

enum config { UNPINNED, SAME_CPU, OTHER_CPU, PER_CPU, NCONFIG };
static const char *config_name[NCONFIG] = {"unpinned", "same-cpu", "other-cpu", "per-cpu"};

/* One round of @config over @npages: the p50 in µs, or -1 on a failure. */
static double run_round(enum config config, size_t npages, int ncpu)
{
	struct handler hs[MAX_HANDLERS];
	int nh = 0;
	char *r = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return -1;
	struct uffdio_register reg = {.range = {(uintptr_t)r, npages * PG}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		fprintf(stderr, "bench_handlers: UFFDIO_REGISTER: %s\n", strerror(errno));
		munmap(r, npages * PG);
		return -1;
	}
	switch (config) {
	case UNPINNED: hs[nh++].cpu = -1; break;
	case SAME_CPU: hs[nh++].cpu = 0; break;
	case OTHER_CPU: hs[nh++].cpu = 1; break;
	case PER_CPU:
		for (int c = 0; c < ncpu && nh < MAX_HANDLERS; c++)
			hs[nh++].cpu = c;
		break;
	default: break;
	}
	for (int k = 0; k < nh; k++)
		pthread_create(&hs[k].t, NULL, handler_main, &hs[k]);
	usleep(10000);
	double *v = malloc(npages * sizeof(*v));
	int bad = 0;
	for (size_t i = 0; i < npages; i++) {
		volatile char *q = r + ((i * 7919) % npages) * PG;
		double a = now_us();
		char c = *q;
		v[i] = now_us() - a;
		bad |= c != 0x5a;
	}
	uint64_t one = 1;
	if (write(stop_efd, &one, sizeof(one)) != sizeof(one))
		bad = 1;
	for (int k = 0; k < nh; k++)
		pthread_join(hs[k].t, NULL);
	uint64_t drain;
	if (read(stop_efd, &drain, sizeof(drain)) != sizeof(drain))
		bad = 1;
	munmap(r, npages * PG);
	qsort(v, npages, sizeof(*v), cmp_d);
	double p50 = v[npages / 2];
	free(v);
	if (bad) {
		fprintf(stderr, "bench_handlers: %s: a page read wrong\n", config_name[config]);
		return -1;
	}
	return p50;
}

int main(int argc, char **argv)
{
	size_t npages = 20000;
	int rounds = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			npages = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_handlers [--pages N] [--rounds R]\n");
			return 1;
		}
	}
	if (npages < 16 || rounds < 1 || rounds > 100) {
		fprintf(stderr, "bench_handlers: --pages must be at least 16 and --rounds 1..100\n");
		return 1;
	}
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 2) {
		printf("bench_handlers: skipped: one CPU online, nothing to place\n");
		return 0;
	}
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) {
		fprintf(stderr, "bench_handlers: userfaultfd: %s\n", strerror(errno));
		return 1;
	}
	struct uffdio_api api = {.api = UFFD_API};
	if (ioctl(uffd, UFFDIO_API, &api)) {
		fprintf(stderr, "bench_handlers: UFFDIO_API: %s\n", strerror(errno));
		return 1;
	}
	stop_efd = (int)syscall(SYS_eventfd2, 0, O_CLOEXEC);
	src = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stop_efd < 0 || src == MAP_FAILED)
		return 1;
	memset(src, 0x5a, PG);
	pin(0);
	printf("bench_handlers: 4 KiB MISSING round trip, faulting thread on CPU 0, %d CPUs, %zu pages, %d rounds\n",
	       ncpu, npages, rounds);
	double p[NCONFIG][100];
	for (int r = 0; r < rounds; r++)
		for (int c = 0; c < NCONFIG; c++)
			if ((p[c][r] = run_round((enum config)c, npages, ncpu)) < 0)
				return 1;
	double med[NCONFIG];
	printf("  %-10s %-40s %10s %10s\n", "handler", "p50 of each round (us)", "median", "/unpinned");
	for (int c = 0; c < NCONFIG; c++) {
		char line[512] = "";
		size_t o = 0;
		for (int r = 0; r < rounds && o < sizeof(line) - 12; r++)
			o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%.2f", r ? " " : "", p[c][r]);
		double s[100];
		memcpy(s, p[c], sizeof(double) * (size_t)rounds);
		qsort(s, (size_t)rounds, sizeof(double), cmp_d);
		med[c] = s[rounds / 2];
		printf("  %-10s %-40s %10.2f %9.2fx\n", config_name[c], line, med[c], med[c] / med[UNPINNED]);
	}
	return 0;
}
