/*
 * bench_common.c — what the benchmarks share: small sysfs/cgroupfs file
 * helpers, the kernel baseline's zram swap device (set up and torn down
 * again, also on failure) and memcg v1 groups, and reading a child's result
 * from a pipe with a timeout.  See bench_common.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PAGE ((size_t)4096)


static inline uint64_t bc_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Write @s to @path.  Returns 0 or -errno. */
int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(s);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	err = n < 0 ? -errno : ((size_t)n == len ? 0 : -EIO);
	if (close(fd) != 0 && err == 0)
		err = -errno;
	return err;
}

/* Read up to @len-1 bytes of @path into @buf, NUL-terminated, trailing
 * newline removed.  Returns 0 or -errno. */
int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int err = 0;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		err = -errno;
		n = 0;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	close(fd);
	return err;
}



/* The bracketed entry of a zram comp_algorithm line. */
static void current_alg(const char *line, char *out, size_t len)
{
	const char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;

	if (!a || !b || (size_t)(b - a - 1) >= len) {
		out[0] = '\0';
		return;
	}
	memcpy(out, a + 1, (size_t)(b - a - 1));
	out[b - a - 1] = '\0';
}

static bool word_in(const char *line, const char *word)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", line);
	for (tok = strtok_r(buf, " []", &save); tok; tok = strtok_r(NULL, " []", &save))
		if (strcmp(tok, word) == 0)
			return true;
	return false;
}

/* Is the zram device @id unused (no disksize, not swapped on)? */
static bool zram_free(int id)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), "/sys/block/zram%d/initstate", id);
	if (read_str(path, buf, sizeof(buf)) != 0)
		return false;
	return strcmp(buf, "0") == 0;
}

/* Undo whatever zram_setup() did; reports (does not stop at) each failure. */
void zram_teardown(struct zram_dev *z)
{
	char path[128], buf[32];
	int err;

	if (z->swapped_on) {
		if (swapoff(z->node) != 0)
			fprintf(stderr, "bench: swapoff(%s): %s — run `swapoff %s` by hand\n",
				z->node, strerror(errno), z->node);
		else
			z->swapped_on = false;
	}
	if (z->sized && !z->swapped_on) {
		snprintf(path, sizeof(path), "%s/reset", z->sys);
		/* the device can be briefly busy right after swapoff */
		for (int i = 0; i < 50; i++) {
			err = write_str(path, "1");
			if (err != -EBUSY)
				break;
			usleep(20000);
		}
		if (err)
			fprintf(stderr, "bench: write %s: %s\n", path, strerror(-err));
		else
			z->sized = false;
	}
	if (!z->sized && z->orig_alg[0]) {
		snprintf(path, sizeof(path), "%s/comp_algorithm", z->sys);
		err = write_str(path, z->orig_alg);
		if (err)
			fprintf(stderr, "bench: restore %s to %s: %s\n", path,
				z->orig_alg, strerror(-err));
	}
	if (z->node_created) {
		if (unlink(z->node) != 0)
			fprintf(stderr, "bench: unlink(%s): %s\n", z->node, strerror(errno));
		if (rmdir(z->tmpdir) != 0)
			fprintf(stderr, "bench: rmdir(%s): %s\n", z->tmpdir, strerror(errno));
		z->node_created = false;
	}
	if (z->hot_added && !z->sized) {
		snprintf(buf, sizeof(buf), "%d", z->id);
		err = write_str(ZRAM_CONTROL "/hot_remove", buf);
		if (err)
			fprintf(stderr, "bench: hot_remove zram%d: %s\n", z->id, strerror(-err));
		else
			z->hot_added = false;
	}
}

/* Find the block device node of zram @z->id, or make one in a private
 * temporary directory.  Returns 0 or -errno with @why filled. */
static int zram_node(struct zram_dev *z, char *why, size_t whylen)
{
	char path[128], buf[32];
	unsigned maj, min;
	struct stat st;
	int err;

	snprintf(z->node, sizeof(z->node), "/dev/zram%d", z->id);
	snprintf(path, sizeof(path), "%s/dev", z->sys);
	err = read_str(path, buf, sizeof(buf));
	if (err || sscanf(buf, "%u:%u", &maj, &min) != 2) {
		snprintf(why, whylen, "cannot read %s", path);
		return err ? err : -EINVAL;
	}
	if (stat(z->node, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == makedev(maj, min))
		return 0;
	snprintf(z->tmpdir, sizeof(z->tmpdir), "/tmp/hetmem-bench-XXXXXX");
	if (!mkdtemp(z->tmpdir)) {
		snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
		return -errno;
	}
	snprintf(z->node, sizeof(z->node), "%s/zram%d", z->tmpdir, z->id);
	if (mknod(z->node, S_IFBLK | 0600, makedev(maj, min)) != 0) {
		err = -errno;
		snprintf(why, whylen, "mknod %s: %s", z->node, strerror(errno));
		rmdir(z->tmpdir);
		return err;
	}
	z->node_created = true;
	return 0;
}

/* Write a version-1 swap header (what mkswap writes) to page 0 of @node. */
static int write_swap_header(const char *node, uint64_t disksize, char *why, size_t whylen)
{
	union {
		struct {
			char bootbits[1024];
			uint32_t version;
			uint32_t last_page;
			uint32_t nr_badpages;
			unsigned char uuid[16];
			char label[16];
		} h;
		unsigned char page[PAGE];
	} hdr;
	int fd, err = 0;

	memset(&hdr, 0, sizeof(hdr));
	hdr.h.version = 1;
	hdr.h.last_page = (uint32_t)(disksize / PAGE - 1);
	for (int i = 0; i < 16; i++)
		hdr.h.uuid[i] = (unsigned char)bc_mix64((uint64_t)getpid() * 16 + (uint64_t)i);
	snprintf(hdr.h.label, sizeof(hdr.h.label), "hetmem-bench");
	memcpy(hdr.page + PAGE - 10, "SWAPSPACE2", 10);

	fd = open(node, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "open %s: %s", node, strerror(errno));
		return -errno;
	}
	if (pwrite(fd, hdr.page, PAGE, 0) != (ssize_t)PAGE) {
		err = errno ? -errno : -EIO;
		snprintf(why, whylen, "write swap header to %s: %s", node, strerror(-err));
	} else if (fsync(fd) != 0) {
		err = -errno;
		snprintf(why, whylen, "fsync %s: %s", node, strerror(errno));
	}
	close(fd);
	return err;
}

/* Pick or create a free zram device, size it, make it swap and swapon it at
 * the highest priority.  On failure undoes what it did and fills @why. */
int zram_setup(struct zram_dev *z, uint64_t disksize, char *alg_out,
		      char *why, size_t whylen)
{
	return zram_setup_alg(z, disksize, NULL, alg_out, why, whylen);
}

int zram_setup_alg(struct zram_dev *z, uint64_t disksize, const char *want, char *alg_out,
		   char *why, size_t whylen)
{
	char path[128], line[256], buf[64];
	int err, prio = 32767;

	memset(z, 0, sizeof(*z));
	z->id = -1;
	for (int id = 0; id < 16; id++) {
		if (zram_free(id)) {
			z->id = id;
			break;
		}
	}
	if (z->id < 0) {
		err = read_str(ZRAM_CONTROL "/hot_add", buf, sizeof(buf));
		if (err) {
			snprintf(why, whylen, "no free zram device and hot_add failed: %s",
				 strerror(-err));
			return err;
		}
		z->id = atoi(buf);
		z->hot_added = true;
	}
	snprintf(z->sys, sizeof(z->sys), "/sys/block/zram%d", z->id);

	snprintf(path, sizeof(path), "%s/comp_algorithm", z->sys);
	err = read_str(path, line, sizeof(line));
	if (err) {
		snprintf(why, whylen, "read %s: %s", path, strerror(-err));
		goto fail;
	}
	current_alg(line, z->orig_alg, sizeof(z->orig_alg));
	if (want && !word_in(line, want)) {
		snprintf(why, whylen, "this kernel's zram has no %s (it offers: %s)", want, line);
		err = -ENOENT;
		goto fail;
	}
	snprintf(alg_out, 32, "%s", want ? want : word_in(line, "lz4") ? "lz4" :
		 word_in(line, "lzo-rle") ? "lzo-rle" : z->orig_alg);
	if (strcmp(alg_out, z->orig_alg) != 0) {
		err = write_str(path, alg_out);
		if (err) {
			snprintf(why, whylen, "set %s to %s: %s", path, alg_out, strerror(-err));
			goto fail;
		}
	}

	snprintf(path, sizeof(path), "%s/disksize", z->sys);
	snprintf(buf, sizeof(buf), "%" PRIu64, disksize);
	err = write_str(path, buf);
	if (err) {
		snprintf(why, whylen, "set %s: %s", path, strerror(-err));
		goto fail;
	}
	z->sized = true;

	err = zram_node(z, why, whylen);
	if (err)
		goto fail;
	err = write_swap_header(z->node, disksize, why, whylen);
	if (err)
		goto fail;
	if (swapon(z->node, SWAP_FLAG_PREFER |
		   ((prio << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK)) != 0) {
		err = -errno;
		snprintf(why, whylen, "swapon %s: %s", z->node, strerror(errno));
		goto fail;
	}
	z->swapped_on = true;
	return 0;
fail:
	zram_teardown(z);
	return err;
}


/* Remove the memcg directory; retried because a just-reaped child's memory
 * can take a moment to be uncharged. */
void memcg_remove(const char *cgdir)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (rmdir(cgdir) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			break;
		usleep(20000);
	}
	fprintf(stderr, "bench: rmdir(%s): %s — remove it by hand\n", cgdir,
		strerror(errno));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

long pagemap_frames_2m(const void *p, size_t len, size_t *present)
{
	size_t n = len / 4096, m = 0;
	uint64_t *e = malloc(n * sizeof(*e));
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	long distinct = 0;
	bool zero = true;

	*present = 0;
	if (!e || fd < 0) {
		long err = fd < 0 ? -errno : -ENOMEM;
		free(e);
		if (fd >= 0)
			close(fd);
		return err;
	}
	ssize_t got = pread(fd, e, n * sizeof(*e), (off_t)((uintptr_t)p / 4096 * sizeof(*e)));
	int rerr = errno;
	close(fd);
	if (got != (ssize_t)(n * sizeof(*e))) {
		free(e);
		return got < 0 ? -rerr : -EIO;
	}
	for (size_t i = 0; i < n; i++)
		if (e[i] >> 63) { /* present; bits 0-54: the frame number */
			uint64_t pfn = e[i] & ((1ull << 55) - 1);
			zero = zero && pfn == 0;
			e[m++] = pfn >> 9;
		}
	*present = m;
	if (m && zero) {
		free(e);
		return -EPERM;
	}
	qsort(e, m, sizeof(*e), cmp_u64);
	for (size_t i = 0; i < m; i++)
		distinct += !i || e[i] != e[i - 1];
	free(e);
	return distinct;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v <= 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1048576.0; end++; break;
	case 'g': case 'G': v *= 1073741824.0; end++; break;
	case 't': case 'T': v *= 1073741824.0 * 1024; end++; break;
	default: break;
	}
	if (*end)
		return -1;
	*out = ((uint64_t)v + 4095) & ~(uint64_t)4095;
	return 0;
}

long memcg_oom_kills(const char *cgdir)
{
	char path[160], buf[256];
	const char *k;
	int err;

	snprintf(path, sizeof(path), "%s/memory.oom_control", cgdir);
	if ((err = read_str(path, buf, sizeof(buf))))
		return err;
	if (!(k = strstr(buf, "oom_kill ")))
		return -ENOENT; /* a kernel before 4.13 does not count them */
	return strtol(k + strlen("oom_kill "), NULL, 10);
}

/* Read one struct from @fd within @timeout_ms.  Returns 0 or -errno. */
int read_result(int fd, void *buf, size_t len, int timeout_ms)
{
	char *b = buf;
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = mono_ns();
		int left_ms = now >= deadline ? 0 : (int)((deadline - now) / 1000000ull);
		int rc = poll(&pfd, 1, left_ms);
		ssize_t n;

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		n = read(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int zram_baseline_check(char *why, size_t whylen)
{
	char buf[64];

	if (geteuid() != 0) {
		snprintf(why, whylen, "not root");
		return -EPERM;
	}
	if (access(MEMCG_ROOT "/memory.limit_in_bytes", W_OK) != 0 &&
	    access(MEMCG_ROOT "/cgroup.procs", W_OK) != 0) {
		snprintf(why, whylen, "no memcg v1 hierarchy at %s", MEMCG_ROOT);
		return -ENOENT;
	}
	if (access("/sys/block/zram0", F_OK) != 0 && access(ZRAM_CONTROL "/hot_add", F_OK) != 0) {
		snprintf(why, whylen, "no zram (module not loaded)");
		return -ENOENT;
	}
	if (read_str("/sys/module/zswap/parameters/enabled", buf, sizeof(buf)) == 0 &&
	    (buf[0] == 'Y' || buf[0] == '1')) {
		snprintf(why, whylen, "zswap is enabled: swap-outs would land in zswap, not zram");
		return -EBUSY;
	}
	return 0;
}

int memcg_join(const char *cgdir, uint64_t limit, char *why, size_t whylen)
{
	char path[160], buf[64];
	int err;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgdir);
	snprintf(buf, sizeof(buf), "%d", (int)getpid());
	if ((err = write_str(path, buf))) {
		snprintf(why, whylen, "join memcg (%s): %s", path, strerror(-err));
		return err;
	}
	snprintf(path, sizeof(path), "%s/memory.swappiness", cgdir);
	if ((err = write_str(path, "100"))) {
		snprintf(why, whylen, "write %s: %s", path, strerror(-err));
		return err;
	}
	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", cgdir);
	snprintf(buf, sizeof(buf), "%" PRIu64, limit);
	if ((err = write_str(path, buf))) {
		snprintf(why, whylen, "write %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *b = buf;

	while (len > 0) {
		ssize_t n = write(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int pin_to_cpu(const char *prog, const char *arg)
{
	char *end;
	long c = strtol(arg, &end, 10);
	if (!*arg || *end || c < 0 || c >= CPU_SETSIZE) {
		fprintf(stderr, "%s: --cpu wants a CPU number, not '%s'\n", prog, arg);
		return -1;
	}
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET((int)c, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		fprintf(stderr, "%s: sched_setaffinity(CPU %ld): %s\n", prog, c, strerror(errno));
		return -1;
	}
	return (int)c;
}

int hold_idle_poll(const char *prog)
{
	int fd = open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: --idle-poll: cannot open /dev/cpu_dma_latency (needs root): %s\n", prog,
			strerror(errno));
		return -1;
	}
	int32_t us = 0;
	if (write(fd, &us, sizeof(us)) != (ssize_t)sizeof(us)) {
		fprintf(stderr, "%s: --idle-poll: cannot set the request: %s\n", prog, strerror(errno));
		close(fd);
		return -1;
	}
	return fd; /* kept open: the request lasts until exit */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @v. */
static double percentile(const double *v, size_t n, double p)
{
	size_t rank = (size_t)ceil(p * (double)n);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* Sorts @v (microseconds) in place. */
struct lat lat_summarize(double *v, size_t n)
{
	struct lat l = { 0 };
	double sum = 0;

	if (n == 0)
		return l;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	l.valid = true;
	l.n = n;
	l.p50 = percentile(v, n, 0.50);
	l.p99 = percentile(v, n, 0.99);
	l.mean = sum / (double)n;
	l.max = v[n - 1];
	return l;
}


/* Median of @v (sorted in place); NAN when empty. */
double median(double *v, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
