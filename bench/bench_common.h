/*
 * bench_common.h — helpers shared by the benchmarks (bench_fault, gups):
 * sysfs file access, the kernel baseline (a zram swap device and a memcg v1
 * group with a memory limit), and child-to-parent result pipes.
 *
 * The kernel baseline, step by step (root only):
 *   zram_baseline_check()  why it cannot run (not root, no memcg v1, no
 *                          zram, zswap on), or 0
 *   zram_setup()           pick or hot-add a free zram device, size it,
 *                          write a swap header, swapon at top priority
 *   mkdir MEMCG_ROOT/NAME  a fresh group; the child calls memcg_join()
 *   memcg_remove(), zram_teardown()   undo it all (also on failure)
 */
#ifndef HM_BENCH_COMMON_H
#define HM_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MEMCG_ROOT "/sys/fs/cgroup/memory"
#define ZRAM_CONTROL "/sys/class/zram-control"

/* --cpu N: pin the calling process (and the threads and children it makes
 * later) to CPU @arg.  Returns the CPU, or -1 after a message on stderr
 * naming @prog (not a CPU number, or sched_setaffinity refused it). */
int pin_to_cpu(const char *prog, const char *arg);
/* Hold a CPU latency request of 0 us (/dev/cpu_dma_latency, root) until the
 * process exits: idle CPUs poll instead of halting.  The fd, or -1 with a
 * message naming @prog. */
int hold_idle_poll(const char *prog);

/* Write @s to @path.  Returns 0 or -errno. */
int write_str(const char *path, const char *s);
/* Read up to @len-1 bytes of @path into @buf, NUL-terminated, trailing
 * newline removed.  Returns 0 or -errno. */
int read_str(const char *path, char *buf, size_t len);
/* Write all of @buf to @fd (retrying EINTR).  Returns 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Read one struct from @fd within @timeout_ms.  Returns 0 or -errno. */
int read_result(int fd, void *buf, size_t len, int timeout_ms);

struct zram_dev {
	int id;
	bool hot_added, sized, swapped_on, node_created;
	char sys[64];             /* /sys/block/zramN */
	char node[96];            /* block device node */
	char tmpdir[64];          /* where we made the node, if we did */
	char orig_alg[32];
};

/* 0 when the zram + memcg v1 baseline can run here; else -errno and the
 * reason in @why. */
int zram_baseline_check(char *why, size_t whylen);
/* Pick or create a free zram device, size it (@disksize bytes), make it swap
 * and swapon it at the highest priority; @alg_out (32 bytes) gets the
 * compressor (lz4 or lzo-rle if offered).  0, or -errno with @why filled and
 * everything undone. */
int zram_setup(struct zram_dev *z, uint64_t disksize, char *alg_out, char *why, size_t whylen);
/* Undo whatever zram_setup() did; reports (does not stop at) each failure. */
void zram_teardown(struct zram_dev *z);
/* zram_setup with the compressor @want ("lz4", "zstd"; NULL: as zram_setup);
 * -ENOENT with @why filled when the kernel's zram does not offer it. */
int zram_setup_alg(struct zram_dev *z, uint64_t disksize, const char *want, char *alg_out,
		   char *why, size_t whylen);
/* In the child: join @cgdir, swappiness 100, memory.limit_in_bytes = @limit.
 * 0 or -errno with @why filled. */
int memcg_join(const char *cgdir, uint64_t limit, char *why, size_t whylen);
/* Remove a memcg directory (retried while its memory is uncharged). */
void memcg_remove(const char *cgdir);
/* Over [p, p+len): how many pages are present in RAM (*present) and across
 * how many distinct 2 MiB frames of (guest-)physical memory they lie, from
 * /proc/self/pagemap.  -errno if it cannot be read; -EPERM without
 * CAP_SYS_ADMIN (the kernel then shows every frame number as 0). */
long pagemap_frames_2m(const void *p, size_t len, size_t *present);
/* "4096", "1.5G", "512M", "64k" (binary units), rounded up to 4 KiB pages:
 * 0, or -1 if it is not a positive size. */
int parse_size(const char *s, uint64_t *out);

/* CLOCK_MONOTONIC in nanoseconds */
static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64 (Marsaglia): the benchmarks' random addresses, a few cycles each */
static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Latency summary in microseconds.  Plain data: it crosses a pipe. */
struct lat {
	bool valid;
	size_t n;
	double p50, p99, mean, max;
};
/* Sorts @v (microseconds) in place; nearest-rank p50 and p99. */
struct lat lat_summarize(double *v, size_t n);
/* Median of @v (sorted in place); NAN when @n is 0. */
double median(double *v, size_t n);

/* How many tasks the kernel's OOM killer killed inside @cgdir (memcg v1's
 * memory.oom_control "oom_kill"), or -errno. */
long memcg_oom_kills(const char *cgdir);

#endif
