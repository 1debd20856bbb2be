/*
 * hetmem.c — the `hetmem` command: `hetmem info` shows what the kernel
 * offers and which mechanisms hetmem will use; `hetmem demo` runs the demo
 * (demo.c); `hetmem run` and `hetmem stat` (unmodified programs) are in run.c;
 * `hetmem heatmap` draws a record (heatmap.c).
 */
#include <linux/userfaultfd.h> /* UFFD_FEATURE_SIGBUS */
#include <errno.h>
#include <stdbool.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hetmem.h"
#include "tiers/tier.h" /* hm_numa_memory_nodes, hm_cuda_gpus */

int hm_demo_main(int argc, char **argv);
int hm_run_main(int argc, char **argv);
void hm_env_default_tier(char *buf, size_t len, char *why, size_t whylen);
int hm_stat_main(int argc, char **argv);
int hm_heatmap_main(int argc, char **argv);

#ifndef HM_VERSION
#define HM_VERSION "unknown"
#endif

/* The environment section of --help, from src/core/options.def. */
static void help_env(FILE *f)
{
	char arg[64];
	const char *help;
	/* rows without HELP are variables hetmem run sets itself */
#define HM_OPT(field, VAR, KIND, DEF, LO, HI, UNIT, ARG, HELP, VALUES, MEANING)                                 \
	help = HELP;                                                                                            \
	if (help) {                                                                                             \
		snprintf(arg, sizeof(arg), "%s=%s", VAR, ARG);                                                  \
		fprintf(f, "  %-28s ", arg);                                                                    \
		for (const char *p = help; *p; p++)                                                             \
			fputs(*p == '\n' ? "\n                               " : (char[]){*p, 0}, f);              \
		fputc('\n', f);                                                                                \
	}
#include "../src/core/options.def"
#undef HM_OPT
}

/* README.md's table of the variables hm_init reads (hidden option
 * --help-env-markdown; tests/tools/test_env_table.sh compares them). */
static void help_env_markdown(FILE *f)
{
	fputs("| variable | values | meaning |\n| --- | --- | --- |\n", f);
	const char *values, *meaning;
#define HM_OPT(field, VAR, KIND, DEF, LO, HI, UNIT, ARG, HELP, VALUES, MEANING)                                 \
	values = VALUES;                                                                                        \
	meaning = MEANING;                                                                                      \
	if (values && meaning)                                                                                  \
		fprintf(f, "| `%s` | %s | %s |\n", VAR, values, meaning);
#include "../src/core/options.def"
#undef HM_OPT
}

static void help(FILE *f)
{
	fprintf(f,
		"usage: hetmem COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  run [OPTIONS] -- PROGRAM [ARGS]   run an unmodified program with its memory managed\n"
		"                    (hetmem run --help)\n"
		"  stat [--json] [-w SEC] PID  live residency, faults, migrations of a program under hetmem\n"
		"  info              kernel features hetmem detects, and the mechanisms it will use\n"
		"  demo [OPTIONS]    a program with more data than its RAM budget (hetmem demo --help)\n"
		"  heatmap RECORD -o OUT.png|.svg|.pdf [--region LIST] [--all] | --list\n"
		"                    draw a record (HETMEM_RECORD): placement (RAM, each tier, never\n"
		"                    populated) and hotness over time and address\n"
		"                    over time and address (needs gnuplot)\n"
		"  help              this text\n"
		"  version           the version (also --version)\n"
		"\n"
		"environment:\n");
	help_env(f);
}

static const char *yesno(bool b)
{
	return b ? "yes" : "no";
}

/* The first line of a small sysfs file, without its newline; false if
 * there is none. */
static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok;
}

/* How an idle CPU waits.  A fault's thread sleeps until the handler thread
 * (on another CPU) wakes it; on a VM guest with the haltpoll driver and its
 * polling off, the sleeping vCPU halts and the wake-up goes through the
 * hypervisor: 18-19 us per 4 KiB fault-back against 8.8 us with polling on
 * this project's VM (docs/bench-logs/JOURNAL.md, session 6). */
static void cpuidle_info(void)
{
	char drv[64], poll[32];
	if (!read_line("/sys/devices/system/cpu/cpuidle/current_driver", drv, sizeof(drv)))
		snprintf(drv, sizeof(drv), "none");
	if (strcmp(drv, "haltpoll") || !read_line("/sys/module/haltpoll/parameters/guest_halt_poll_ns", poll, sizeof(poll))) {
		printf("cpu idle:             %s\n", drv);
		return;
	}
	printf("cpu idle:             haltpoll (VM guest), guest halt polling %s ns\n", poll);
	if (!strcmp(poll, "0"))
		printf("  note: polling off: each fault waits for a halted vCPU to be woken by the hypervisor;\n"
		       "        as root, echo 200000 > /sys/module/haltpoll/parameters/guest_halt_poll_ns\n"
		       "        halves that wait (at the cost of idle vCPUs polling up to 200 us), or\n"
		       "        HETMEM_IDLE_POLL=1 makes idle CPUs poll while a hetmem process runs\n");
}

/* GPUs the CUDA driver sees (tiers/cuda.c's discovery), with the --tier
 * spec for each: its default size is half the free memory. */
static void gpu_info(void)
{
	struct hm_cuda_gpu g[16];
	char why[512] = "";
	int n = hm_cuda_gpus(g, 16, why, sizeof(why));
	if (n <= 0) {
		printf("GPUs:                 none (%s)\n", why);
		return;
	}
	for (int i = 0; i < n; i++) {
		if (!g[i].usable) {
			printf("GPU %d:                %s, %llu MiB, cannot be used: %s\n", g[i].index, g[i].name,
			       (unsigned long long)(g[i].total >> 20), g[i].why);
			continue;
		}
		printf("GPU %d:                %s, %llu MiB (%llu MiB free): --tier cuda:%d (size=%lluM, half the free "
		       "memory; cuda:%d,size=SIZE for another)\n",
		       g[i].index, g[i].name, (unsigned long long)(g[i].total >> 20),
		       (unsigned long long)(g[i].free >> 20), g[i].index,
		       (unsigned long long)((g[i].free / 2) >> 21 << 1), g[i].index);
	}
}

/* Memory beyond RAM: memory-only NUMA nodes (CXL expanders) and DAX
 * devices, with the --tier spec for each. */
static void memory_info(void)
{
	gpu_info();
	struct hm_numa_node nodes[16];
	int n = hm_numa_memory_nodes(nodes, 16);
	if (!n)
		printf("memory-only nodes:    none (numa:NODE,cpus makes a node with CPUs a tier)\n");
	for (int i = 0; i < n; i++)
		printf("memory-only node %d:   %llu MiB (%llu MiB free), distance %d from node %d%s: --tier numa:%d\n",
		       nodes[i].node, (unsigned long long)(nodes[i].total >> 20), (unsigned long long)(nodes[i].free >> 20),
		       nodes[i].distance, nodes[i].from, nodes[i].allowed ? "" : ", not in this cpuset's mems",
		       nodes[i].node);
	glob_t g;
	if (glob("/dev/dax*", 0, NULL, &g) == 0) {
		for (size_t j = 0; j < g.gl_pathc; j++) {
			char p[256], sz[64] = "?";
			snprintf(p, sizeof(p), "/sys/bus/dax/devices/%s/size", g.gl_pathv[j] + 5);
			FILE *f = fopen(p, "r");
			unsigned long long b = 0;
			if (f && fscanf(f, "%llu", &b) == 1)
				snprintf(sz, sizeof(sz), "%llu MiB", b >> 20);
			if (f)
				fclose(f);
			printf("DAX device:           %s, %s: --tier dax:%s\n", g.gl_pathv[j], sz, g.gl_pathv[j]);
		}
		globfree(&g);
	} else {
		printf("DAX devices:          none\n");
	}
}

/* For each kernel feature hetmem can do without (the ones Debian 12's 6.1
 * lacks), when it is missing: what it is, and what hetmem does instead.
 * The fallbacks are those of init.c (demotion mode), migrate.c (WP
 * demotion), poison.c / sigfault.c (a lost page) and track.c (write
 * tracking, read sampling). */
static void missing_info(const struct hm_features *f, bool sig)
{
	if (f->move && f->poison && f->wp_async && f->wp_unpopulated && f->pagemap_scan)
		return;
	printf("missing kernel features (what hetmem does instead):\n");
	if (!f->move)
		printf("  no UFFDIO_MOVE (Linux >= 6.8): demotion write-protects the folio, copies it to the tier from the\n"
		       "        program's mapping (a write meanwhile waits in its write-protect fault), drops it\n"
		       "        (MADV_DONTNEED) and unprotects; no hint-fault read sampling (HETMEM_TRACK=sample);\n"
		       "        no signal mode (HETMEM_FAULTS=signal)\n");
	if (!f->poison) {
		if (sig)
			printf("  no UFFDIO_POISON (Linux >= 6.6): a page a tier cannot give back raises SIGBUS (BUS_MCEERR_AR)\n"
			       "        at the address from hetmem's SIGBUS handler in the faulting thread\n");
		else
			printf("  no UFFDIO_POISON (Linux >= 6.6): a page a tier cannot give back is fenced: an empty file is\n"
			       "        mapped over it (by the hm-poison thread for a fault), so an access gets SIGBUS\n"
			       "        BUS_ADRERR at the address (not BUS_MCEERR_AR) and a system call EFAULT\n");
	}
	/* what write tracking by async write-protect needs (track.c: WP_ASYNC,
	 * PAGEMAP_SCAN): without either, the same fallback */
	const char *instead =
		f->soft_dirty ? "        no write tracking by async write-protect (HETMEM_TRACK_WPASYNC=1): writes to\n"
				"        resident folios are tracked by soft-dirty bits instead\n"
		: f->move ? "        no write tracking by async write-protect (HETMEM_TRACK_WPASYNC=1): writes to\n"
			    "        resident folios are not tracked (no soft-dirty either); their hotness comes\n"
			    "        from faults and hint-fault samples\n"
			  : "        no write tracking by async write-protect (HETMEM_TRACK_WPASYNC=1): writes to\n"
			    "        resident folios are not tracked (no soft-dirty either); their hotness comes\n"
			    "        from faults alone\n";
	if (!f->wp_async)
		printf("  no async write-protect (UFFD_FEATURE_WP_ASYNC, Linux >= 6.7):\n%s", instead);
	/* track.c asks for it with WP_ASYNC, whatever the probe said */
	if (!f->wp_unpopulated)
		printf("  no WP_UNPOPULATED (UFFD_FEATURE_WP_UNPOPULATED, Linux >= 6.4): nothing changes: hetmem\n"
		       "        asks for it only with async write-protect (wp-async write tracking, Linux >= 6.7),\n"
		       "        which a kernel without it lacks too%s\n",
		       f->wp_async ? ";\n        masked alone, wp-async tracking still asks the kernel for it" : "");
	if (!f->pagemap_scan)
		printf("  no PAGEMAP_SCAN (Linux >= 6.7), with which async write-protect tracking finds and\n"
		       "        re-protects written pages:\n%s",
		       instead);
}

static int info(void)
{
	struct hm_features f;
	char why[512];
	int rc = hm_probe_features(&f);
	if (rc == -EINVAL) { /* HETMEM_MASK_FEATURES names an unknown feature */
		fprintf(stderr, "hetmem: %s\n", hm_last_error());
		return 2;
	}
	printf("hetmem %d.%d\n", HM_VERSION_MAJOR, HM_VERSION_MINOR);
	/* which userfaultfd this user gets decides whether hetmem can manage
	 * its processes at all (hetmem run refuses with the same words) */
	if (hm_uffd_check(why, sizeof(why))) {
		printf("userfaultfd:          unavailable to uid %d: %s\n", (int)getuid(), why);
		return 1;
	}
	printf("userfaultfd access:   %s\n", why);
	if (rc) {
		printf("userfaultfd:          unavailable (%s)\n", hm_last_error());
		return 1;
	}
	printf("userfaultfd:          yes (features 0x%llx)\n", (unsigned long long)f.uffd_features);
	if (f.masked && *f.masked)
		printf("  masked:             %s (HETMEM_MASK_FEATURES: shown and used as missing)\n", f.masked);
	printf("  UFFDIO_MOVE:        %s\n", yesno(f.move));
	printf("  write-protect:      %s (unpopulated %s, async %s)\n", yesno(f.wp), yesno(f.wp_unpopulated), yesno(f.wp_async));
	printf("  UFFDIO_POISON:      %s\n", yesno(f.poison));
	printf("  thread id:          %s\n", yesno(f.thread_id));
	printf("  events:             remap %s, remove %s, unmap %s\n", yesno(f.event_remap), yesno(f.event_remove),
	       yesno(f.event_unmap));
	printf("  SIGBUS mode:        %s (HETMEM_FAULTS=signal%s)\n", yesno(f.uffd_features & UFFD_FEATURE_SIGBUS),
	       f.move ? "" : " also needs UFFDIO_MOVE");
	printf("PAGEMAP_SCAN:         %s\n", yesno(f.pagemap_scan));
	printf("soft-dirty:           %s\n", yesno(f.soft_dirty));
	const char *faults = getenv("HETMEM_FAULTS");
	bool sig = faults && !strcmp(faults, "signal"); /* (hm_init checks it) */
	missing_info(&f, sig);
	cpuidle_info();
	memory_info();
	rc = hm_init(NULL);
	if (rc) {
		printf("hm_init:              failed: %s\n", hm_last_error());
		return 1;
	}
	hm_probe_features(&f);
	printf("demotion:             %s\n", f.demote == HM_DEMOTE_MOVE ? "UFFDIO_MOVE into staging"
					     : "write-protect, copy, MADV_DONTNEED");
	printf("poisoned pages:       %s\n", f.poison ? "UFFDIO_POISON (SIGBUS at the address, BUS_MCEERR_AR)"
					     : sig   ? "SIGBUS at the address from hetmem's SIGBUS handler "
						       "(BUS_MCEERR_AR; no UFFDIO_POISON)"
						     : "an empty file mapped over the page (SIGBUS at the address, "
						       "BUS_ADRERR; no UFFDIO_POISON)");
	printf("fork:                 pages on devices are brought home before fork()\n");
	char def[128], defwhy[300];
	hm_env_default_tier(def, sizeof(def), defwhy, sizeof(defwhy));
	printf("hetmem run's tier:    %s (when no --tier is given): %s\n", def, defwhy);
	unsigned pct = 0, on = hm_track_get(&pct);
	printf("hotness tracking:     faults%s%s (write tracking: %s; read sampling: %s), cpu budget %u%%\n",
	       (on & HM_TRACK_WRITE) ? " + write" : "", (on & HM_TRACK_SAMPLE) ? " + hint-fault sampling" : "",
	       f.track_write, (on & HM_TRACK_SAMPLE) ? "UFFDIO_MOVE out, fault back" : "off", pct);
	hm_shutdown();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--help-env-markdown")) {
		help_env_markdown(stdout);
		return 0;
	}
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		help(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("hetmem %s\n", HM_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "info"))
		return info();
	if (!strcmp(argv[1], "run"))
		return hm_run_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stat"))
		return hm_stat_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "demo"))
		return hm_demo_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "heatmap"))
		return hm_heatmap_main(argc - 1, argv + 1);
	fprintf(stderr, "hetmem: unknown command '%s' (try hetmem help)\n", argv[1]);
	return 2;
}
