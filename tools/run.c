/*
 * run.c — `hetmem run` (start an unmodified program with its memory
 * managed) and `hetmem stat` (watch one that runs).
 *
 * hetmem run checks every setting in its own process first — it starts
 * hetmem with them (hm_env_setup: the tiers open, the budget is accepted,
 * the policy exists) and shuts it down again — and checks that the program
 * can be preloaded at all (found, executable, dynamically linked, not
 * set-user-ID; for a #! script, the same of its interpreter, and of the
 * program `#!/usr/bin/env PROG` runs), and that this user gets a full
 * userfaultfd (else it refuses, exit 127: hetmem could not serve the program
 * correctly).  Only then does it fork and exec the program with LD_PRELOAD
 * and HETMEM_*, so a bad option never starts it.  Messages name an option as
 * it was typed (hm_opt_from: "--dram 64G", not HETMEM_DRAM).  Without --dram
 * (and HETMEM_DRAM) the budget is half of the machine's RAM, and hetmem run
 * says so.
 *
 * Like perf stat, hetmem run stays as the program's parent (run_program):
 * it passes on the signals sent to it (SIGINT and SIGQUIT from the terminal
 * reach the program directly and are ignored here), follows the records
 * every preloaded process of the tree publishes in /dev/shm (report.c), and
 * when the program ends — by exit, _exit, or a signal, even SIGKILL — it
 * writes the --stats report of the whole tree from those records, removes
 * them, and ends as the program did (its exit status, or the same signal).
 * The program's pid is not hetmem run's: `hetmem stat` takes the program's.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hetmem.h"
#include "../src/core/pubstats.h"
#include "report.h"

int hm_parse_size(const char *s, uint64_t *out);
int hm_env_setup(void);
void hm_env_note_emulated(void);
void hm_fmt_bytes(char *buf, size_t n, uint64_t b);
void hm_opt_from(const char *var, const char *opt);
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
		"  --dram SIZE        RAM budget for managed memory (e.g. 512M, 1.5G);\n"
		"                     default: half of this machine's RAM\n"
		"  --tier SPEC        a device tier (repeatable): emu:SIZE[,lazy], file:PATH[,size=SIZE],\n"
		"                     dax:/dev/daxX.Y[,size=SIZE] (a device-dax device),\n"
		"                     numa:NODE[,size=SIZE][,cpus] (a NUMA node, pages stay mapped),\n"
		"                     cuda:N[,size=SIZE] (GPU N's memory; default half its free memory),\n"
		"                     lz4:SIZE or zstd:SIZE[,level=N] (compressed in SIZE of RAM);\n"
		"                     default: the best the machine has (a GPU, else a memory-only NUMA node, else\n"
		"                     a DAX/pmem device, else lz4, compressed in RAM: `hetmem info`\n"
		"                     shows which and why);\n"
		"                     a tier after a compressed one takes its idle and incompressible\n"
		"                     pages (--tier lz4:2G --tier file:/var/tmp/hm,size=16G)\n"
		"  --policy NAME      recency (default), frequency or fifo\n"
		"  --folio SIZE       folio size of managed mappings: 4K (default), 64K or 2M\n"
		"  --stats[=FILE]     print the counters when the program ends, however it ends: one\n"
		"                     block per process of its tree, then the totals (default: stderr;\n"
		"                     %%p in FILE: a file per process, named with its pid)\n"
		"  --stats-format=json  the --stats report as JSON, one object per process a line\n"
		"                     (every counter of hetmem_counters.h); text is the default\n"
		"  -h, --help         this text\n"
		"\n"
		"The same settings for programs started another way:\n"
		"  LD_PRELOAD=/path/to/" PRELOAD_NAME " HETMEM_DRAM=SIZE HETMEM_TIER='SPEC;SPEC'\n"
		"  HETMEM_POLICY=NAME HETMEM_FOLIO=SIZE HETMEM_STATS=FILE|- (FILE may contain %%p: the pid)\n"
		"Child processes inherit them: a program the PROGRAM execs runs under hetmem too,\n"
		"with its own budget.  Watch a running program with `hetmem stat PID`.\n");
}

/* The preload library: $HETMEM_PRELOAD, or beside this executable (the build
 * tree), or in ../lib/hetmem/ of it, or where `cmake --install` puts it: the
 * libdir relative to the executable's prefix (HM_LIBDIR_REL, for an install
 * to another prefix), else the configured libdir (HM_LIBDIR).  0 and @out,
 * or -1 after a message. */
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
#if defined(HM_LIBDIR) && defined(HM_LIBDIR_REL)
	{
		char p[2 * PATH_MAX + 64];
		snprintf(p, sizeof(p), "%s/../%s/%s", self, HM_LIBDIR_REL, PRELOAD_NAME);
		if (!access(p, R_OK) && realpath(p, out))
			return 0;
		snprintf(p, sizeof(p), "%s/%s", HM_LIBDIR, PRELOAD_NAME);
		if (!access(p, R_OK) && realpath(p, out))
			return 0;
	}
	fprintf(stderr, "hetmem run: %s not found beside %s, in ../lib/hetmem, ../%s or %s (set HETMEM_PRELOAD)\n",
		PRELOAD_NAME, self, HM_LIBDIR_REL, HM_LIBDIR);
#else
	fprintf(stderr, "hetmem run: %s not found beside %s or in ../lib/hetmem (set HETMEM_PRELOAD)\n",
		PRELOAD_NAME, self);
#endif
	return -1;
}

/* Resolve @prog as execvp would; 0 and @out, or -1 after a message.  @of:
 * the #! script that runs @prog through env, for the message, or NULL. */
static int find_program(const char *prog, char *out, size_t len, const char *of)
{
	char ctx[PATH_MAX + 64] = "";
	if (of)
		snprintf(ctx, sizeof(ctx), " (the program the #! line of %s runs)", of);
	if (strchr(prog, '/')) {
		if (access(prog, F_OK)) {
			fprintf(stderr, "hetmem run: %s%s: %s\n", prog, ctx, strerror(errno));
			return -1;
		}
		if (access(prog, X_OK)) {
			fprintf(stderr, "hetmem run: %s%s: not executable\n", prog, ctx);
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
	fprintf(stderr, "hetmem run: %s%s: command not found\n", prog, ctx);
	return -1;
}

static int check_preloadable(const char *path, const char *role, int depth);

/* The #! line of script @path (open as @fd, its first @n bytes in @head):
 * check its interpreter as a program, and for `#!/usr/bin/env [-S] PROG`
 * also PROG, found through PATH as env finds it: a static or set-user-ID
 * one would run the script unmanaged.  0 or -1 after a message. */
static int check_script(const char *path, const char *head, size_t n, int depth)
{
	if (depth >= 4) {
		fprintf(stderr, "hetmem run: %s: more than 4 levels of #! interpreters\n", path);
		return -1;
	}
	char line[256];
	size_t l = n < sizeof(line) ? n : sizeof(line) - 1;
	memcpy(line, head, l);
	line[l] = 0;
	line[strcspn(line, "\n")] = 0;
	/* as the kernel reads it: the interpreter, then one optional argument */
	char *p = line + 2;
	p += strspn(p, " \t");
	char *interp = p;
	p += strcspn(p, " \t");
	if (*p)
		*p++ = 0;
	p += strspn(p, " \t");
	for (size_t e = strlen(p); e && (p[e - 1] == ' ' || p[e - 1] == '\t'); e--)
		p[e - 1] = 0;
	if (!*interp) {
		fprintf(stderr, "hetmem run: %s: its #! line names no interpreter\n", path);
		return -1;
	}
	if (access(interp, F_OK) || access(interp, X_OK)) {
		fprintf(stderr, "hetmem run: %s: its #! interpreter %s %s\n", path, interp,
			errno == ENOENT ? "does not exist" : "is not executable");
		return -1;
	}
	char role[PATH_MAX + 64];
	snprintf(role, sizeof(role), "the #! interpreter of %s", path);
	if (check_preloadable(interp, role, depth + 1))
		return -1;
	const char *base = strrchr(interp, '/');
	if (strcmp(base ? base + 1 : interp, "env") || !*p)
		return 0;
	/* env's argument: with -S, words; the first that is neither an option
	 * (nor the value of -u NAME, -C DIR) nor NAME=VALUE is the program */
	bool split = !strncmp(p, "-S", 2), value = false;
	char *words = split ? p + 2 : p, *save = NULL;
	for (char *w = split ? strtok_r(words, " \t", &save) : words; w; w = split ? strtok_r(NULL, " \t", &save) : NULL) {
		if (value) {
			value = false;
			continue;
		}
		if (w[0] == '-') {
			value = !strcmp(w, "-u") || !strcmp(w, "-C") || !strcmp(w, "--unset") || !strcmp(w, "--chdir");
			continue;
		}
		if (strchr(w, '='))
			continue;
		char prog[PATH_MAX];
		if (find_program(w, prog, sizeof(prog), path))
			return -1;
		snprintf(role, sizeof(role), "the program the #! line of %s runs", path);
		return check_preloadable(prog, role, depth + 1);
	}
	return 0;
}

/* Refuse what LD_PRELOAD cannot reach: static executables (no PT_INTERP)
 * and set-user/group-ID ones (the loader ignores LD_PRELOAD for them).
 * A script (#!) is checked through its interpreter (check_script).  @role:
 * what @path is to the program typed, for the message ("the #! interpreter
 * of SCRIPT"), or NULL.  0 or -1 after a message. */
static int check_preloadable(const char *path, const char *role, int depth)
{
	char name[2 * PATH_MAX + 64];
	if (role)
		snprintf(name, sizeof(name), "%s (%s)", path, role);
	else
		snprintf(name, sizeof(name), "%s", path);
	struct stat st;
	if (stat(path, &st)) {
		fprintf(stderr, "hetmem run: %s: %s\n", name, strerror(errno));
		return -1;
	}
	if (st.st_mode & (S_ISUID | S_ISGID)) {
		fprintf(stderr, "hetmem run: %s is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD "
				"for it, so hetmem cannot manage its memory\n", name);
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "hetmem run: %s: %s\n", name, strerror(errno));
		return -1;
	}
	union {
		Elf64_Ehdr eh;
		char head[256];
	} u;
	ssize_t n = pread(fd, &u, sizeof(u), 0);
	Elf64_Ehdr eh = u.eh;
	if (n >= 2 && !memcmp(u.head, "#!", 2)) {
		close(fd);
		return check_script(path, u.head, (size_t)n, depth);
	}
	if (n < (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
		close(fd);
		fprintf(stderr, "hetmem run: %s is neither an ELF executable nor a #! script\n", name);
		return -1;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
		close(fd);
		fprintf(stderr, "hetmem run: %s is not a 64-bit program\n", name);
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
				"cannot manage its memory\n", name);
		return -1;
	}
	return 0;
}

/* Without --dram or HETMEM_DRAM, the budget is half of the machine's RAM
 * (in whole MiB), so that `hetmem run -- PROG` demotes what PROG leaves cold
 * once it holds that much; set in HETMEM_DRAM and said in @say (empty when
 * the user chose the budget). */
static void default_budget(char *say, size_t len)
{
	say[0] = 0;
	const char *e = getenv("HETMEM_DRAM");
	if (e && *e)
		return;
	uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t mib = ram / 2 >> 20;
	char v[32], b[32], r[32];
	snprintf(v, sizeof(v), "%lluM", (unsigned long long)mib);
	setenv("HETMEM_DRAM", v, 1);
	hm_fmt_bytes(b, sizeof(b), mib << 20);
	hm_fmt_bytes(r, sizeof(r), ram);
	snprintf(say, len, "hetmem run: no --dram given: the RAM budget is %s, half of this machine's %s "
		 "(--dram SIZE sets it)\n", b, r);
}

/* The program argv[@i] was not found: if it follows a bare --stats and a
 * "--" comes after it, the user meant it as the stats file. */
static void stats_hint(char **argv, int i, int argc)
{
	if (i < 2 || strcmp(argv[i - 1], "--stats"))
		return;
	for (int j = i + 1; j < argc; j++)
		if (!strcmp(argv[j], "--")) {
			fprintf(stderr, "hetmem run: to write the stats to a file, give --stats=%s\n", argv[i]);
			return;
		}
}

static int run_program(const char *prog, char **args, const char *preload);

/* The check above opened HETMEM_RECORD like any hetmem process; with %p in
 * it that is a file of hetmem run's own pid, which is not the program's:
 * remove it (without %p the program rewrites the same file). */
static void drop_check_record(void)
{
	const char *path = getenv("HETMEM_RECORD");
	const char *pp = path ? strstr(path, "%p") : NULL;
	if (!pp)
		return;
	char name[PATH_MAX];
	if (snprintf(name, sizeof(name), "%.*s%d%s", (int)(pp - path), path, (int)getpid(), pp + 2) <
	    (int)sizeof(name))
		unlink(name);
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
		if (!strcmp(a, "--stats-format=json") || !strcmp(a, "--stats-format=text")) {
			hm_runrep_json = a[15] == 'j';
			continue;
		}
		if (!strncmp(a, "--stats", 7) && (a[7] == 0 || a[7] == '=')) {
			if (a[7] == '=' && !a[8]) {
				fprintf(stderr, "hetmem run: --stats= needs a file name\n");
				return 2;
			}
			setenv("HETMEM_STATS", a[7] ? a + 8 : "-", 1);
			hm_opt_from("HETMEM_STATS", "--stats=");
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
		/* messages name the option as typed: "--dram 1T" or "--dram=1T" */
		static const char *const vars[][3] = {{"HETMEM_DRAM", "--dram ", "--dram="},
						      {"HETMEM_TIER", "--tier ", "--tier="},
						      {"HETMEM_POLICY", "--policy ", "--policy="},
						      {"HETMEM_FOLIO", "--folio ", "--folio="}};
		hm_opt_from(vars[k][0], vars[k][a[strlen(opts[k])] == '=' ? 2 : 1]);
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
	char prog[PATH_MAX], lib[PATH_MAX], say[256];
	if (find_program(argv[i], prog, sizeof(prog), NULL)) {
		stats_hint(argv, i, argc);
		return 127;
	}
	if (check_preloadable(prog, NULL, 0))
		return 127;
	if (find_preload(lib, sizeof(lib)))
		return 2;
	/* without a full userfaultfd hetmem cannot serve the program: refuse
	 * rather than start it unmanaged */
	char why[512];
	if (hm_uffd_check(why, sizeof(why))) {
		fprintf(stderr, "hetmem run: %s\n", why);
		return 127;
	}
	default_budget(say, sizeof(say));
	/* every setting is checked here, before the program starts */
	if (hm_env_setup()) {
		fprintf(stderr, "hetmem run: %s\n", hm_last_error());
		return 2;
	}
	hm_env_note_emulated();
	hm_shutdown();
	fputs(say, stderr);
	drop_check_record();
	const char *old = getenv("LD_PRELOAD");
	char pre[2 * PATH_MAX + 2];
	if (old && *old)
		snprintf(pre, sizeof(pre), "%s:%s", lib, old);
	else
		snprintf(pre, sizeof(pre), "%s", lib);
	return run_program(prog, argv + i, pre);
}

/* Signals hetmem run passes on to the program while it waits.  SIGINT and
 * SIGQUIT are not among them: the terminal sends those to the program's
 * whole process group already; hetmem run takes them and carries on. */
static const int forwarded[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM};

/* Fork, exec @prog with LD_PRELOAD=@preload in the child, wait for it while
 * following the records its process tree publishes (report.c), then report
 * them (with --stats), remove them, and end as the program did: its exit
 * status, or death by the same signal. */
static int run_program(const char *prog, char **args, const char *preload)
{
	/* the report is written here, not by the programs: a program that
	 * changed its uid may not be able to write it */
	char *dest = NULL;
	const char *d = getenv("HETMEM_STATS");
	if (d && *d)
		dest = strdup(d);
	unsetenv("HETMEM_STATS");
	unsetenv("HETMEM_STATS_PID");
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t run_id = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
	if (!run_id)
		run_id = 1;
	char runv[64];
	snprintf(runv, sizeof(runv), "%d:%llu", (int)getpid(), (unsigned long long)run_id);
	setenv("HETMEM_RUN", runv, 1);
	hm_pub_clean_stale();
	struct hm_runrep *rep = hm_runrep_new((int)getpid(), run_id);
	if (!rep) {
		fprintf(stderr, "hetmem run: out of memory\n");
		return 127;
	}

	sigset_t set, saved;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	for (size_t k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++)
		sigaddset(&set, forwarded[k]);
	sigprocmask(SIG_BLOCK, &set, &saved);
	fflush(NULL);
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "hetmem run: cannot fork: %s\n", strerror(errno));
		return 127;
	}
	if (child == 0) {
		/* hetmem run killed outright (SIGKILL: nothing to pass on)
		 * takes the program with it, as when they were one process,
		 * rather than leave it running with no one to report it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigprocmask(SIG_SETMASK, &saved, NULL);
		/* the program's pid, for what only the program does, not the
		 * processes it starts (HETMEM_RECORD without %p) */
		char pidv[32];
		snprintf(pidv, sizeof(pidv), "%d", (int)getpid());
		setenv("HETMEM_STATS_PID", pidv, 1);
		setenv("LD_PRELOAD", preload, 1);
		execv(prog, args);
		fprintf(stderr, "hetmem run: cannot execute %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	int status = 0;
	for (;;) {
		pid_t w = waitpid(child, &status, WNOHANG);
		if (w == child)
			break;
		if (w < 0 && errno != EINTR) {
			fprintf(stderr, "hetmem run: waitpid: %s\n", strerror(errno));
			status = 127 << 8;
			break;
		}
		struct timespec tick = {0, 100 * 1000000L};
		siginfo_t si;
		int sig = sigtimedwait(&set, &si, &tick);
		if (sig > 0 && sig != SIGCHLD && sig != SIGINT && sig != SIGQUIT)
			kill(child, sig);
		hm_runrep_tick(rep);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t end_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	hm_runrep_finish(rep, child, status, end_ms, dest);
	free(dest);
	if (WIFSIGNALED(status)) {
		/* die of the same signal, as the shell would have seen the
		 * program die; no core of hetmem run itself */
		int sig = WTERMSIG(status);
		struct rlimit no = {0, 0};
		setrlimit(RLIMIT_CORE, &no);
		signal(sig, SIG_DFL);
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, sig);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		raise(sig);
		return 128 + sig;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}

/* ---------------------------------------------------------------------- */
/* hetmem stat                                                              */
/* ---------------------------------------------------------------------- */


/* A consistent copy of the published record in @fd, read with pread (not
 * mapped: a program that execs truncates its record before it rewrites it,
 * and a mapping of it would fault); 0, or -1 after a message. */
static int pub_read(int fd, struct hm_pub *out, int pid)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t s2;
		if (pread(fd, out, sizeof(*out), 0) == (ssize_t)sizeof(*out) && !(out->seq & 1) &&
		    pread(fd, &s2, sizeof(s2), offsetof(struct hm_pub, seq)) == (ssize_t)sizeof(s2) && s2 == out->seq)
			return 0;
		usleep(100);
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
	uint64_t total = p->rss_anon + tier_bytes, managed = hm_pub_managed_now(p, tier_bytes);
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
	       hm_pub_managed_share(p),
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
	hm_comp_line(stdout, s, true);
	const char *t = hm_thrash_sentence(s);
	if (t)
		printf("%s\n", t);
}

/* The record as one JSON object on a line: the fields of the text form,
 * the counters of hetmem_counters.h, the tiers. */
static void stat_json(const struct hm_pub *p)
{
	printf("{\"pid\": %d, \"program\": ", p->pid);
	hm_json_str(stdout, p->program);
	printf(", \"policy\": ");
	hm_json_str(stdout, p->policy);
	printf(", \"budget\": %llu, \"time\": %.3f, \"rss_anon\": %llu, \"maps_managed\": %llu, "
	       "\"maps_unmanaged\": %llu, \"bytes_unmanaged\": %llu, \"peak_anon\": %llu, \"peak_managed\": %llu",
	       (unsigned long long)p->budget, (double)(p->updated_ms - p->started_ms) / 1000.0,
	       (unsigned long long)p->rss_anon, (unsigned long long)p->maps_managed,
	       (unsigned long long)p->maps_unmanaged, (unsigned long long)p->bytes_unmanaged,
	       (unsigned long long)p->peak_anon, (unsigned long long)p->peak_managed);
	hm_json_stats(stdout, &p->stats);
	hm_json_tiers(stdout, p);
	printf("}\n");
	fflush(stdout);
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
	fprintf(f, "usage: hetmem stat [--json | --counters] [-w SECONDS] [-n COUNT] PID\n"
		   "  Show a program under hetmem (PID: its own, or that of the hetmem run that\n"
		   "  started it): residency per tier, faults, migrations, the policy's decisions.\n"
		   "  -w: watch, a line of rates every SECONDS (default 1) until the program\n"
		   "  exits or COUNT lines are printed.\n"
		   "  --json: the record as one JSON object (every counter, the tiers); with -w,\n"
		   "  one such object per line every SECONDS instead of the rates.\n"
		   "  --counters: every counter as a \"NAME VALUE\" line (/proc/vmstat's form),\n"
		   "  the names of --json.\n");
}

int hm_stat_main(int argc, char **argv)
{
	double every = 0;
	long count = -1;
	int pid = -1;
	bool json = false, counters = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			stat_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--counters")) {
			counters = true;
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
	if (pid < 0 || (json && counters) || (counters && every)) {
		if (json && counters)
			fprintf(stderr, "hetmem stat: --json and --counters: give one\n");
		else if (counters && every)
			fprintf(stderr, "hetmem stat: --counters shows one snapshot (no -w)\n");
		stat_usage(stderr);
		return 2;
	}
	if (every < 0.05 && every != 0) {
		fprintf(stderr, "hetmem stat: -w must be at least 0.05 s\n");
		return 2;
	}
	hm_pub_clean_stale();
	char path[160], name[128];
	snprintf(path, sizeof(path), HM_PUB_DIR "/" HM_PUB_PREFIX "%d", pid);
	int prog = 0;
	if (hm_pub_name(pid, name, sizeof(name)) && (prog = hm_pub_run_program(pid)) > 0)
		pid = prog; /* the pid of a hetmem run: the program it started */
	if (!hm_pub_name(pid, name, sizeof(name)))
		snprintf(path, sizeof(path), HM_PUB_DIR "/%s", name);
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
	static struct hm_pub a, b;
	if (pread(fd, &a, sizeof(a), 0) != (ssize_t)sizeof(a) || a.magic != HM_PUB_MAGIC ||
	    a.version != HM_PUB_VERSION || a.stats_size != sizeof(struct hm_stats) ||
	    a.tier_size != sizeof(struct hm_pub_tier) || a.total_size != sizeof(struct hm_pub)) {
		close(fd);
		fprintf(stderr, "hetmem stat: %s was written by another version of hetmem\n", path);
		return 1;
	}
	if (kill(pid, 0) && errno == ESRCH) {
		close(fd);
		fprintf(stderr, "hetmem stat: process %d has exited (stale %s)\n", pid, path);
		return 1;
	}
	if (pub_read(fd, &a, pid))
		return 1;
	if (every == 0) {
		if (json)
			stat_json(&a);
		else if (counters)
			hm_counters_text(stdout, &a);
		else
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
		if (pub_read(fd, &b, pid))
			return 1;
		double dt = (double)(b.updated_ms - a.updated_ms) / 1000.0;
		if (json)
			stat_json(&b);
		else
			stat_line(&a, &b, dt > 0 ? dt : every, header);
		header = false;
		a = b;
	}
	return 0;
}
