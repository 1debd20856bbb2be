/*
 * runenv.c — start hetmem from the environment, the way `hetmem run` and
 * the preload library do:
 *
 *   HETMEM_TIER=SPEC[;SPEC...]  device tiers (hm_tier_add specs); unset: the
 *                               best the machine has (hm_env_default_tier)
 *   HETMEM_DRAM=SIZE            RAM budget of managed memory (hm_budget_set)
 *   HETMEM_POLICY=NAME          placement policy (read by hm_init)
 *   HETMEM_FOLIO=4K|64K|2M      folio size of the mappings the preload manages
 *   HETMEM_MIN_MAP=SIZE         smallest anonymous mapping it manages
 *   HETMEM_STATS=FILE|-         print the counters at exit (- = stderr)
 *
 * `hetmem run` calls hm_env_setup() in its own process to check every
 * setting before it starts the program (a bad one is an error there, not in
 * the program), then sets the variables and execs; the preload library calls
 * it again from its constructor in the program.  Its messages are for the
 * user who typed the setting: they name it as typed (hm_opt_label: "--dram
 * 64G" from hetmem run, "HETMEM_DRAM='64G'" from the environment), say what
 * is wrong in words and what would be accepted.
 */
#include "internal.h"

#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

/* "Key:   N kB" of /proc/meminfo in bytes, or 0. */
static uint64_t meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	uint64_t v = 0;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtoull(line + kl + 1, NULL, 10) << 10;
	if (f)
		fclose(f);
	return v;
}

/* The smallest free memory a GPU needs to be hetmem run's default tier
 * (which takes half of it). */
#define GPU_DEFAULT_MIN_FREE (128ull << 20)

/* The best device tier this machine has, as a spec, in @buf, and in @why
 * (if not NULL) a sentence saying why.  A GPU's memory first (cuda:N, the
 * GPU with the most free memory, at least 128 MiB, whose context can be
 * made: half its free memory; never in signal mode, which refuses GPU
 * tiers), then a memory-only NUMA node (a
 * CXL expander: numa:NODE, the largest), then a device-dax device (dax:,
 * mapped) or a persistent-memory block device (file:): memory beyond RAM.  Otherwise the lz4
 * compressed tier: demoted pages are kept compressed in RAM, so they take
 * about a half to a third of the RAM they took (pages that do not compress
 * stay in RAM).  Its SIZE bounds the pool's RAM; the pool takes RAM only for
 * what it holds, so the bound is what it may take without taking the
 * machine: the memory available now less the RAM budget (HETMEM_DRAM) the
 * program keeps besides, at least 64 MiB. */
void hm_env_default_tier(char *buf, size_t len, char *why, size_t whylen)
{
	/* not in signal mode, which refuses GPU tiers (tiers/cuda.c) */
	struct hm_options fo;
	hm_options_parse_var(&fo, "HETMEM_FAULTS");
	struct hm_cuda_gpu gpus[16];
	char cwhy[256];
	int ng = fo.sigfault ? 0 : hm_cuda_gpus(gpus, 16, cwhy, sizeof(cwhy)), gbest = -1;
	for (int i = 0; i < ng; i++)
		if (gpus[i].usable && gpus[i].free >= GPU_DEFAULT_MIN_FREE &&
		    (gbest < 0 || gpus[i].free > gpus[gbest].free))
			gbest = i;
	if (gbest >= 0) {
		snprintf(buf, len, "cuda:%d", gpus[gbest].index);
		if (why)
			snprintf(why, whylen, "GPU %d (%s) has %llu MiB free: the tier takes half of it", gpus[gbest].index,
				 gpus[gbest].name, (unsigned long long)(gpus[gbest].free >> 20));
		return;
	}
	/* a memory-only NUMA node (a CXL expander): the largest this process
	 * may use; the CPU reads its pages in place */
	struct hm_numa_node nodes[16];
	int nn = hm_numa_memory_nodes(nodes, 16), best = -1;
	for (int i = 0; i < nn; i++)
		if (nodes[i].allowed && (best < 0 || nodes[i].total > nodes[best].total))
			best = i;
	if (best >= 0) {
		snprintf(buf, len, "numa:%d", nodes[best].node);
		if (why)
			snprintf(why, whylen, "node %d is memory-only (%llu MiB, distance %d from node %d): memory beyond "
					      "local RAM that the CPU reads in place", nodes[best].node,
				 (unsigned long long)(nodes[best].total >> 20), nodes[best].distance, nodes[best].from);
		return;
	}
	static const char *const pats[] = {"/dev/dax*", "/dev/pmem*"};
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		glob_t g;
		if (glob(pats[i], 0, NULL, &g) == 0) {
			for (size_t j = 0; j < g.gl_pathc; j++) {
				if (access(g.gl_pathv[j], R_OK | W_OK) == 0) {
					/* device-dax is mapped (dax:), persistent
					 * memory's block device read (file:) */
					snprintf(buf, len, "%s:%s", i == 0 ? "dax" : "file", g.gl_pathv[j]);
					if (why)
						snprintf(why, whylen, "%s is a %s device: memory beyond RAM", g.gl_pathv[j],
							 i == 0 ? "DAX" : "persistent-memory");
					globfree(&g);
					return;
				}
			}
			globfree(&g);
		}
	}
	struct sysinfo si;
	uint64_t ram = 1ull << 30;
	if (sysinfo(&si) == 0)
		ram = (uint64_t)si.totalram * si.mem_unit;
	uint64_t avail = meminfo("MemAvailable"), budget = 0;
	if (avail == 0 || avail > ram)
		avail = ram;
	struct hm_options o;
	hm_options_parse_var(&o, "HETMEM_DRAM");
	if (o.dram_set && hm_parse_size(o.dram, &budget))
		budget = 0; /* hm_env_setup reports the bad value */
	uint64_t size = avail > budget ? avail - budget : 0;
	if (size < (64ull << 20))
		size = 64ull << 20;
	snprintf(buf, len, "lz4:%lluM", (unsigned long long)(size >> 20));
	if (why)
		snprintf(why, whylen,
			 "no usable GPU, memory-only NUMA node, DAX or persistent-memory device here, so demoted pages are compressed in RAM "
			 "(lz4); the pool may take up to the memory available (%llu MiB) less the RAM "
			 "budget (%llu MiB)%s",
			 (unsigned long long)(avail >> 20), (unsigned long long)(budget >> 20),
			 size == (64ull << 20) ? ", at least 64 MiB" : "");
}

/* One line on stderr for each emulated tier: what is demoted there is still
 * in RAM, so it saves no memory (`hetmem run` says so at start). */
void hm_env_note_emulated(void)
{
	int n = hm_tier_count();
	for (int id = 1; id < n; id++) {
		struct hm_tier_info ti;
		if (!hm_tier_info(id, &ti) && !strcmp(ti.kind, "emu"))
			fprintf(stderr, "hetmem: tier %s is emulated in RAM: pages demoted there still use RAM; "
					"name a device with --tier (dax:/dev/daxX.Y, file:PATH, numa:NODE) to save memory\n", ti.name);
	}
}

/* Parse HETMEM_FOLIO and HETMEM_MIN_MAP.  0 or -EINVAL (hm_error). */
int hm_env_maps(size_t *folio, size_t *min_map)
{
	struct hm_options o;
	int rc = hm_options_parse_var(&o, "HETMEM_FOLIO");
	if (rc)
		return rc;
	*folio = o.folio;
	rc = hm_options_parse_var(&o, "HETMEM_MIN_MAP");
	if (rc)
		return rc;
	*min_map = o.min_map;
	return 0;
}

/* @b rounded down to a tenth of its largest unit, in @buf: "23.5G" (a size
 * hm_parse_size reads back as at most @b), or with @spaced "23.5 GiB". */
static void size_floor(char *buf, size_t len, uint64_t b, bool spaced)
{
	static const char units[] = "KMGT";
	unsigned u = 0;
	while (u < 3 && b >> (10 * (u + 2)))
		u++;
	unsigned shift = 10 * (u + 1);
	if (b < 1024) {
		snprintf(buf, len, spaced ? "%llu B" : "%llu", (unsigned long long)b);
		return;
	}
	uint64_t whole = b >> shift, tenth = ((b - (whole << shift)) * 10) >> shift;
	char num[32];
	if (tenth)
		snprintf(num, sizeof(num), "%llu.%u", (unsigned long long)whole, (unsigned)tenth);
	else
		snprintf(num, sizeof(num), "%llu", (unsigned long long)whole);
	snprintf(buf, len, spaced ? "%s %ciB" : "%s%c", num, units[u]);
}

/* HETMEM_DRAM's value @e as a budget in *@bytes, checked here rather than
 * by hm_budget_set so that a refusal names the value as typed and says
 * what would be accepted.  0, or -errno after a message. */
static int env_budget(const char *e, uint64_t *bytes)
{
	char what[128], ram_s[32], max_s[32];
	hm_opt_label("HETMEM_DRAM", e, what, sizeof(what));
	uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	size_floor(ram_s, sizeof(ram_s), ram, true);
	size_floor(max_s, sizeof(max_s), ram, false);
	int rc = hm_parse_size(e, bytes);
	if (rc == -EINVAL)
		return hm_error_msg(EINVAL, "%s: expected a size such as 512M, 1.5G or 2G", what);
	if (rc || *bytes > ram)
		return hm_error_msg(E2BIG, "%s is more than this machine's RAM (%s): give at most %s", what, ram_s,
				    max_s);
	if (*bytes < HM_FOLIO_2M)
		return hm_error_msg(EINVAL, "%s is less than the smallest RAM budget, 2M", what);
	return 0;
}

/* HETMEM_STATS=FILE is written when the program exits: check now that it
 * can be (an existing file is opened for writing, untouched; a new one is
 * created and removed again), so that a bad name is refused before the
 * program runs instead of losing its report at the end.  Only in a process
 * that writes the report (preload.c's stats_report: the one
 * HETMEM_STATS_PID names, unless the name has %p) or that was given it as
 * an option. */
static int env_stats(void)
{
	struct hm_options o, run;
	hm_options_parse_var(&o, "HETMEM_STATS");
	hm_options_parse_var(&run, "HETMEM_STATS_PID");
	const char *e = o.stats;
	if (!e)
		return 0;
	if (!*e)
		return hm_error_msg(EINVAL, "HETMEM_STATS is empty: expected a file name or '-'");
	if (!strcmp(e, "-"))
		return 0;
	const char *pp = strstr(e, "%p");
	if (!hm_opt_is_from("HETMEM_STATS") && !pp && run.stats_pid_set && run.stats_pid != (int)getpid())
		return 0;
	char what[256], name[4096], dir[4096];
	hm_opt_label("HETMEM_STATS", e, what, sizeof(what));
	if (pp)
		snprintf(name, sizeof(name), "%.*s%d%s", (int)(pp - e), e, (int)getpid(), pp + 2);
	else
		snprintf(name, sizeof(name), "%s", e);
	struct stat st;
	int fd;
	if (stat(name, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return hm_error_msg(EISDIR, "%s: %s is a directory; expected a file name or '-'", what, name);
		/* a FIFO or a terminal is not opened: that could block */
		if (!S_ISREG(st.st_mode))
			fd = access(name, W_OK) ? -1 : -2;
		else
			fd = open(name, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd == -1)
			return hm_error_msg(errno, "%s: cannot write %s: %s", what, name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	int err = errno;
	snprintf(dir, sizeof(dir), "%s", name);
	char *d = dirname(dir);
	if (err == ENOENT && stat(d, &st) && errno == ENOENT)
		return hm_error_msg(ENOENT, "%s: the directory %s does not exist", what, d);
	fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return hm_error_msg(errno, "%s: cannot create %s: %s", what, name, strerror(errno));
	close(fd);
	unlink(name);
	return 0;
}

/* A tier's message starts "tier 'SPEC': ": name the spec as the user typed
 * it instead ("--tier SPEC: ", or "HETMEM_TIER='SPEC': "). */
static void tier_message(const char *spec)
{
	char head[300], msg[512], what[300];
	hm_error_for_user();
	snprintf(head, sizeof(head), "tier '%s': ", spec);
	const char *m = hm_last_error();
	if (strncmp(m, head, strlen(head)))
		return;
	hm_opt_label("HETMEM_TIER", spec, what, sizeof(what));
	snprintf(msg, sizeof(msg), "%s: %s", what, m + strlen(head));
	hm_error_restore(msg);
}

int hm_env_setup(void)
{
	size_t folio, min_map;
	int rc = hm_env_maps(&folio, &min_map);
	if (rc)
		return rc;
	rc = env_stats();
	if (rc)
		return rc;
	uint64_t bytes = 0;
	struct hm_options o;
	hm_options_parse_var(&o, "HETMEM_DRAM");
	if (o.dram_set) {
		rc = env_budget(o.dram, &bytes);
		if (rc)
			return rc;
	}
	rc = hm_init(NULL);
	if (rc) {
		hm_error_for_user();
		return rc;
	}
	hm_options_parse_var(&o, "HETMEM_TIER");
	const char *e = o.tier;
	char def[128];
	if (!o.tier_set) {
		hm_env_default_tier(def, sizeof(def), NULL, 0);
		e = def;
	}
	char *list = strdup(e), *save = NULL;
	if (!list) {
		rc = hm_error(ENOMEM, "HETMEM_TIER: out of memory");
		goto err;
	}
	for (char *spec = strtok_r(list, ";", &save); spec; spec = strtok_r(NULL, ";", &save)) {
		rc = hm_tier_add(spec);
		if (rc < 0) {
			tier_message(spec);
			break;
		}
		rc = 0;
	}
	free(list);
	if (rc)
		goto err;
	if (hm_tier_count() < 2) {
		char what[300];
		rc = hm_error_msg(EINVAL, "%s: no device tier", hm_opt_label("HETMEM_TIER", e, what, sizeof(what)));
		goto err;
	}
	if (bytes) {
		rc = hm_budget_set(bytes, 0, 0, 0);
		if (rc)
			goto err;
	}
	return 0;
err:
	{
		/* keep the message: hm_shutdown() may overwrite it */
		char msg[512];
		hm_error_for_user();
		snprintf(msg, sizeof(msg), "%s", hm_last_error());
		hm_shutdown();
		hm_error_restore(msg);
		return rc;
	}
}
