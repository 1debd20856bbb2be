/*
 * run.c — `hetmem run` (start an unmodified program with its memory
 * managed) and `hetmem stat` (watch one that runs).
 *
 * hetmem run checks every setting in its own process first — it starts
 * hetmem with them (hm_env_setup: the tiers open, the budget is accepted,
 * the policy exists) and shuts it down again — and checks that the program
 * can be preloaded at all (found, executable, dynamically linked, not
 * set-user-ID).  Only then does it set LD_PRELOAD and HETMEM_* and exec the
 * program, so the program's pid is hetmem run's and a bad option never
 * starts it.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hetmem.h"
#include "../src/pubstats.h"

int hm_parse_size(const char *s, uint64_t *out);
int hm_env_setup(void);
void hm_fmt_bytes(char *buf, size_t n, uint64_t b);
const char *hm_thrash_sentence(const struct hm_stats *s);

#define PRELOAD_NAME "libhetmem-preload.so"

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: hetmem run [OPTIONS] -- PROGRAM [ARGS...]\n"
		"\n"
		"Run PROGRAM with its heap and large anonymous mappings in managed memory:\n"
		"pages beyond the RAM budget go to a device tier and come back on access.\n"
		"\n"
		"options:\n"
		"  --dram SIZE        RAM budget for managed memory (e.g. 512M, 2G); default: none\n"
		"  --tier SPEC        a device tier (repeatable): emu:SIZE[,lazy], file:PATH[,size=SIZE];\n"
		"                     default: the best the machine has (a DAX/pmem device, else\n"
		"                     the emulated device sized to RAM, lazily populated)\n"
		"  --policy NAME      recency (default), frequency or fifo\n"
		"  --folio SIZE       folio size of managed mappings: 4K (default), 64K or 2M\n"
		"  --stats[=FILE]     print the counters when the program exits (default: stderr)\n"
		"  -h, --help         this text\n"
		"\n"
		"The same settings for programs started another way:\n"
		"  LD_PRELOAD=/path/to/" PRELOAD_NAME " HETMEM_DRAM=SIZE HETMEM_TIER='SPEC;SPEC'\n"
		"  HETMEM_POLICY=NAME HETMEM_FOLIO=SIZE HETMEM_STATS=FILE|- (FILE may contain %%p: the pid)\n"
		"Child processes inherit them: a program the PROGRAM execs runs under hetmem too,\n"
		"with its own budget.  Watch a running program with `hetmem stat PID`.\n");
}

/* The preload library: $HETMEM_PRELOAD, or beside this executable, or in
 * ../lib/hetmem/ of it.  0 and @out, or -1 after a message. */
static int find_preload(char *out, size_t len)
{
	const char *e = getenv("HETMEM_PRELOAD");
	if (e && *e) {
		if (access(e, R_OK)) {
			fprintf(stderr, "hetmem run: HETMEM_PRELOAD=%s: %s\n", e, strerror(errno));
			return -1;
		}
		snprintf(out, len, "%s", e);
		return 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "hetmem run: cannot read /proc/self/exe: %s\n", strerror(errno));
		return -1;
	}
	self[n] = 0;
	char *slash = strrchr(self, '/');
	*slash = 0;
	const char *rel[] = {"/" PRELOAD_NAME, "/../lib/hetmem/" PRELOAD_NAME};
	for (size_t i = 0; i < 2; i++) {
		char p[PATH_MAX + 64];
		snprintf(p, sizeof(p), "%s%s", self, rel[i]);
		if (!access(p, R_OK) && realpath(p, out))
			return 0;
	}
	fprintf(stderr, "hetmem run: %s not found beside %s or in ../lib/hetmem (set HETMEM_PRELOAD)\n",
		PRELOAD_NAME, self);
	return -1;
}

/* Resolve @prog as execvp would; 0 and @out, or -1 after a message. */
static int find_program(const char *prog, char *out, size_t len)
{
	if (strchr(prog, '/')) {
		if (access(prog, F_OK)) {
			fprintf(stderr, "hetmem run: %s: %s\n", prog, strerror(errno));
			return -1;
		}
		if (access(prog, X_OK)) {
			fprintf(stderr, "hetmem run: %s: not executable\n", prog);
			return -1;
		}
		snprintf(out, len, "%s", prog);
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char *copy = strdup(path), *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", *d ? d : ".", prog);
		struct stat st;
		if (!stat(out, &st) && S_ISREG(st.st_mode) && !access(out, X_OK)) {
			free(copy);
			return 0;
		}
	}
	free(copy);
	fprintf(stderr, "hetmem run: %s: command not found\n", prog);
	return -1;
}

/* Refuse what LD_PRELOAD cannot reach: static executables (no PT_INTERP)
 * and set-user/group-ID ones (the loader ignores LD_PRELOAD for them).
 * Scripts (#!) are fine: their interpreter is preloaded.  0 or -1. */
static int check_preloadable(const char *path)
{
	struct stat st;
	if (stat(path, &st)) {
		fprintf(stderr, "hetmem run: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (st.st_mode & (S_ISUID | S_ISGID)) {
		fprintf(stderr, "hetmem run: %s is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD "
				"for it, so hetmem cannot manage its memory\n", path);
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "hetmem run: %s: %s\n", path, strerror(errno));
		return -1;
	}
	Elf64_Ehdr eh;
	ssize_t n = pread(fd, &eh, sizeof(eh), 0);
	if (n >= 2 && !memcmp(&eh, "#!", 2)) {
		close(fd);
		return 0;
	}
	if (n != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
		close(fd);
		fprintf(stderr, "hetmem run: %s is neither an ELF executable nor a #! script\n", path);
		return -1;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
		close(fd);
		fprintf(stderr, "hetmem run: %s is not a 64-bit program\n", path);
		return -1;
	}
	bool interp = false;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) != sizeof(ph))
			break;
		if (ph.p_type == PT_INTERP)
			interp = true;
	}
	close(fd);
	if (!interp) {
		fprintf(stderr, "hetmem run: %s is statically linked: LD_PRELOAD cannot reach it, so hetmem "
				"cannot manage its memory\n", path);
		return -1;
	}
	return 0;
}

int hm_run_main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			run_usage(stdout);
			return 0;
		}
		if (!strncmp(a, "--stats", 7) && (a[7] == 0 || a[7] == '=')) {
			if (a[7] == '=' && !a[8]) {
				fprintf(stderr, "hetmem run: --stats= needs a file name\n");
				return 2;
			}
			setenv("HETMEM_STATS", a[7] ? a + 8 : "-", 1);
			continue;
		}
		const char *opts[] = {"--dram", "--tier", "--policy", "--folio"};
		size_t k;
		for (k = 0; k < 4; k++) {
			size_t l = strlen(opts[k]);
			if (!strncmp(a, opts[k], l) && (a[l] == 0 || a[l] == '=')) {
				if (a[l] == '=')
					v = a + l + 1;
				else if (i + 1 < argc)
					v = argv[++i];
				else {
					fprintf(stderr, "hetmem run: %s needs a value\n", opts[k]);
					return 2;
				}
				break;
			}
		}
		if (k == 4) {
			if (a[0] != '-')
				break; /* the program, without "--" */
			fprintf(stderr, "hetmem run: unknown option '%s' (try hetmem run --help)\n", a);
			return 2;
		}
		if (!*v) {
			fprintf(stderr, "hetmem run: %s needs a value\n", opts[k]);
			return 2;
		}
		if (k == 0) {
			setenv("HETMEM_DRAM", v, 1);
		} else if (k == 1) {
			const char *old = getenv("HETMEM_TIER");
			static char tiers[4096];
			if (old && *old && tiers[0]) /* a second --tier adds to the first */
				snprintf(tiers + strlen(tiers), sizeof(tiers) - strlen(tiers), ";%s", v);
			else
				snprintf(tiers, sizeof(tiers), "%s", v);
			setenv("HETMEM_TIER", tiers, 1);
		} else if (k == 2) {
			setenv("HETMEM_POLICY", v, 1);
		} else {
			setenv("HETMEM_FOLIO", v, 1);
		}
	}
	if (i >= argc) {
		fprintf(stderr, "hetmem run: no program given\n");
		run_usage(stderr);
		return 2;
	}
	char prog[PATH_MAX], lib[PATH_MAX];
	if (find_program(argv[i], prog, sizeof(prog)) || check_preloadable(prog))
		return 127;
	if (find_preload(lib, sizeof(lib)))
		return 2;
	/* every setting is checked here, before the program starts */
	if (hm_env_setup()) {
		fprintf(stderr, "hetmem run: %s\n", hm_last_error());
		return 2;
	}
	hm_shutdown();
	/* the program keeps this pid: only it writes HETMEM_STATS, not the
	 * programs it starts (unless the name has %p) */
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("HETMEM_STATS_PID", pid, 1);
	const char *old = getenv("LD_PRELOAD");
	char pre[2 * PATH_MAX + 2];
	if (old && *old)
		snprintf(pre, sizeof(pre), "%s:%s", lib, old);
	else
		snprintf(pre, sizeof(pre), "%s", lib);
	setenv("LD_PRELOAD", pre, 1);
	execv(prog, argv + i);
	fprintf(stderr, "hetmem run: cannot execute %s: %s\n", prog, strerror(errno));
	return 127;
}

/* ---------------------------------------------------------------------- */
/* hetmem stat                                                              */
/* ---------------------------------------------------------------------- */


/* A consistent copy of the published record; 0, or -1 after a message. */
static int pub_read(const struct hm_pub *m, struct hm_pub *out, int pid)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t s1 = atomic_load(&m->seq);
		if (s1 & 1) {
			usleep(100);
			continue;
		}
		memcpy(out, (const void *)m, sizeof(*out));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load(&m->seq) == s1)
			return 0;
	}
	fprintf(stderr, "hetmem stat: %d: the record keeps changing under the reader\n", pid);
	return -1;
}

static void stat_print(const struct hm_pub *p)
{
	const struct hm_stats *s = &p->stats;
	char b1[32], b2[32], b3[32];
	uint64_t tier_bytes = 0;
	for (uint32_t t = 1; t < p->ntiers; t++)
		tier_bytes += p->tiers[t].used;
	uint64_t total = p->rss_anon + tier_bytes, managed = s->resident_bytes + tier_bytes;
	printf("pid %d: %s\n", p->pid, p->program);
	hm_fmt_bytes(b1, sizeof(b1), (uint64_t)p->budget);
	printf("policy %s, RAM budget %s\n", p->policy, p->budget ? b1 : "none");
	hm_fmt_bytes(b1, sizeof(b1), (uint64_t)s->managed_bytes);
	hm_fmt_bytes(b2, sizeof(b2), (uint64_t)s->resident_bytes);
	hm_fmt_bytes(b3, sizeof(b3), (uint64_t)tier_bytes);
	printf("managed: %s mapped in %llu regions; %s in RAM, %s on devices\n", b1,
	       (unsigned long long)s->regions, b2, b3);
	hm_fmt_bytes(b1, sizeof(b1), (uint64_t)p->rss_anon);
	hm_fmt_bytes(b2, sizeof(b2), (uint64_t)p->bytes_unmanaged);
	printf("anonymous memory: %s resident (RssAnon); %.1f%% of it (with devices) managed now, "
	       "%.1f%% at its peak; %llu mappings left to the kernel (%s)\n",
	       b1, total ? 100.0 * (double)managed / (double)total : 0.0,
	       p->peak_anon ? 100.0 * (double)p->peak_managed / (double)p->peak_anon : 0.0,
	       (unsigned long long)p->maps_unmanaged, b2);
	printf("%-4s %-28s %12s %12s %12s %12s\n", "id", "tier", "capacity", "used", "pages-in", "pages-out");
	for (uint32_t t = 0; t < p->ntiers; t++) {
		hm_fmt_bytes(b1, sizeof(b1), (uint64_t)p->tiers[t].capacity);
		hm_fmt_bytes(b2, sizeof(b2), (uint64_t)(t ? p->tiers[t].used : s->resident_bytes));
		printf("%-4u %-28s %12s %12s %12llu %12llu\n", t, p->tiers[t].name, b1, b2,
		       (unsigned long long)p->tiers[t].pages_in, (unsigned long long)p->tiers[t].pages_out);
	}
	printf("faults %llu (zero-fill %llu, from a device %llu, throttled %llu), readahead folios %llu\n",
	       (unsigned long long)s->faults, (unsigned long long)s->faults_zero,
	       (unsigned long long)s->faults_fetch, (unsigned long long)s->throttled_faults,
	       (unsigned long long)s->readahead_folios);
	hm_fmt_bytes(b1, sizeof(b1), (uint64_t)s->bytes_promoted);
	hm_fmt_bytes(b2, sizeof(b2), (uint64_t)s->bytes_demoted);
	printf("migrations: promoted %s, demoted %s\n", b1, b2);
	printf("policy decisions: %llu events, %llu scans, %llu pages reclaimed, %llu refaults, "
	       "%llu thrash back-offs\n",
	       (unsigned long long)s->policy_events, (unsigned long long)s->reclaim_scans,
	       (unsigned long long)s->reclaim_pages, (unsigned long long)s->refaults,
	       (unsigned long long)s->thrash_backoffs);
	hm_fmt_bytes(b1, sizeof(b1), (uint64_t)s->locked_bytes);
	hm_fmt_bytes(b2, sizeof(b2), (uint64_t)s->over_budget_peak);
	printf("locked in RAM (mlock) %s; over the budget (nothing could be demoted) %llu times, %.1f s, "
	       "by %s at most\n",
	       b1, (unsigned long long)s->over_budget, (double)s->over_budget_ms / 1000.0, b2);
	printf("fault wait: %llu%% of the last second; thrashing %llu of %llu s\n",
	       (unsigned long long)s->fault_wait_pct, (unsigned long long)s->thrash_seconds,
	       (unsigned long long)s->budget_seconds);
	const char *t = hm_thrash_sentence(s);
	if (t)
		printf("%s\n", t);
}

static void stat_line(const struct hm_pub *a, const struct hm_pub *b, double dt, bool header)
{
	if (header)
		printf("%8s %10s %10s %10s %10s %10s %10s %8s %6s\n", "time", "faults/s", "fetch/s", "prom MB/s",
		       "dem MB/s", "RAM MiB", "dev MiB", "refault", "wait%");
	uint64_t dev = 0;
	for (uint32_t t = 1; t < b->ntiers; t++)
		dev += b->tiers[t].used;
	printf("%8.1f %10.0f %10.0f %10.1f %10.1f %10.1f %10.1f %8llu %5llu%s\n",
	       (double)(b->updated_ms - b->started_ms) / 1000.0,
	       (double)(b->stats.faults - a->stats.faults) / dt,
	       (double)(b->stats.faults_fetch - a->stats.faults_fetch) / dt,
	       (double)(b->stats.bytes_promoted - a->stats.bytes_promoted) / dt / 1e6,
	       (double)(b->stats.bytes_demoted - a->stats.bytes_demoted) / dt / 1e6,
	       (double)b->stats.resident_bytes / 1048576.0, (double)dev / 1048576.0,
	       (unsigned long long)(b->stats.refaults - a->stats.refaults),
	       (unsigned long long)b->stats.fault_wait_pct, b->stats.thrashing ? " thrashing" : "");
	fflush(stdout);
}

static void stat_usage(FILE *f)
{
	fprintf(f, "usage: hetmem stat [-w SECONDS] [-n COUNT] PID\n"
		   "  Show a program under hetmem: residency per tier, faults, migrations, the\n"
		   "  policy's decisions.  -w: watch, a line of rates every SECONDS (default 1)\n"
		   "  until the program exits or COUNT lines are printed.\n");
}

int hm_stat_main(int argc, char **argv)
{
	double every = 0;
	long count = -1;
	int pid = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			stat_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-w") || !strcmp(argv[i], "--watch")) {
			every = 1;
			if (i + 1 < argc && strtod(argv[i + 1], NULL) > 0 && i + 2 < argc)
				every = strtod(argv[++i], NULL);
		} else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			count = strtol(argv[++i], NULL, 10);
		} else {
			char *end;
			long v = strtol(argv[i], &end, 10);
			if (*end || v <= 0 || pid != -1) {
				fprintf(stderr, "hetmem stat: bad argument '%s'\n", argv[i]);
				stat_usage(stderr);
				return 2;
			}
			pid = (int)v;
		}
	}
	if (pid < 0) {
		stat_usage(stderr);
		return 2;
	}
	if (every < 0.05 && every != 0) {
		fprintf(stderr, "hetmem stat: -w must be at least 0.05 s\n");
		return 2;
	}
	char path[64];
	snprintf(path, sizeof(path), HM_PUB_DIR "/" HM_PUB_PREFIX "%d", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (kill(pid, 0) && errno == ESRCH)
			fprintf(stderr, "hetmem stat: no process %d\n", pid);
		else
			fprintf(stderr, "hetmem stat: process %d is not running under hetmem (no %s)\n", pid, path);
		return 1;
	}
	struct stat st;
	if (fstat(fd, &st) || (size_t)st.st_size < sizeof(struct hm_pub)) {
		close(fd);
		fprintf(stderr, "hetmem stat: %s is not a hetmem record of this version\n", path);
		return 1;
	}
	const struct hm_pub *m = mmap(NULL, sizeof(*m), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		fprintf(stderr, "hetmem stat: cannot map %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (m->magic != HM_PUB_MAGIC || m->version != HM_PUB_VERSION || m->stats_size != sizeof(struct hm_stats) ||
	    m->tier_size != sizeof(struct hm_pub_tier) || m->total_size != sizeof(struct hm_pub)) {
		fprintf(stderr, "hetmem stat: %s was written by another version of hetmem\n", path);
		return 1;
	}
	if (kill(pid, 0) && errno == ESRCH) {
		fprintf(stderr, "hetmem stat: process %d has exited (stale %s)\n", pid, path);
		return 1;
	}
	static struct hm_pub a, b;
	if (pub_read(m, &a, pid))
		return 1;
	if (every == 0) {
		stat_print(&a);
		return 0;
	}
	bool header = true;
	for (long n = 0; count < 0 || n < count; n++) {
		struct timespec ts = {(time_t)every, (long)((every - (double)(time_t)every) * 1e9)};
		nanosleep(&ts, NULL);
		if (kill(pid, 0) && errno == ESRCH) {
			printf("process %d has exited\n", pid);
			return 0;
		}
		if (pub_read(m, &b, pid))
			return 1;
		double dt = (double)(b.updated_ms - a.updated_ms) / 1000.0;
		stat_line(&a, &b, dt > 0 ? dt : every, header);
		header = false;
		a = b;
	}
	return 0;
}
