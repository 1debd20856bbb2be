/*
 * report.c — `hetmem run`'s view of the records its process tree publishes
 * (pubstats.h): the report it prints when the program ends, however it ends,
 * and the removal of the records afterwards.
 *
 * Every preloaded process of a run carries the run's identity (HETMEM_RUN)
 * in its /dev/shm/hetmem.PID record.  While the program runs, hetmem run
 * looks at /dev/shm every tick (run.c's wait loop) for new records of its
 * run, and notes when each process it knows of is gone (no such pid, or a
 * zombie), so that a process that ended without a final update — killed by
 * a signal, or left by _exit — is reported with its last periodic update and
 * how long before its end that was.  When the program ends, a last look
 * collects what is left (the record of a process seen gone is removed as
 * soon as it is copied), the report is written (one block per process,
 * naming the program and its pid, then the totals when there are several),
 * and the records of ended processes are removed: hetmem run may read and
 * remove them even after a process changed its uid (it started the tree, as
 * that uid or as root).  A process still running (a daemon the program left
 * behind) is reported as such; its record stays until it exits.
 *
 * Records are read with pread, never mapped: a process that execs truncates
 * and rewrites its record, and a mapping of a truncated file would fault.
 * hm_pub_clean_stale removes the records of processes that are gone (their
 * pid no longer exists), whoever left them; hm_pub_run_program finds the
 * program a running hetmem run started, for `hetmem stat RUNPID`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hetmem.h"
#include "../src/core/pubstats.h"
#include "report.h"

void hm_fmt_bytes(char *buf, size_t n, uint64_t b);

_Static_assert(sizeof(struct hm_stats) % sizeof(uint64_t) == 0, "stats_add sums hm_stats as uint64_t");

struct proc {
	char name[64]; /* hetmem.PID, or hetmem.PID.UID (see pub_start) */
	int pid;
	uint64_t started_ms;
	uint64_t end_ms; /* when it was first seen gone; 0: not yet */
	struct hm_pub rec;
	bool have;
};

struct hm_runrep {
	int run_pid;
	uint64_t run_id;
	int n, cap;
	struct proc *procs;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether @pid is gone: no such process, or a zombie (its parent has not
 * reaped it yet, but it runs no more). */
static bool pid_gone(int pid)
{
	if (kill(pid, 0) && errno == ESRCH)
		return true;
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the name may hold spaces and parens */
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* The pid in a record's name, "hetmem.PID" or "hetmem.PID.UID" (the name a
 * process takes when "hetmem.PID" is another user's: it changed its uid and
 * exec'd), or 0. */
static int name_pid(const char *name)
{
	size_t l = strlen(HM_PUB_PREFIX);
	if (strncmp(name, HM_PUB_PREFIX, l) || !name[l])
		return 0;
	char *end;
	long v = strtol(name + l, &end, 10);
	if (*end == '.' && end[1]) {
		char *e2;
		strtol(end + 1, &e2, 10);
		if (!*e2)
			end = e2;
	}
	return *end || v <= 0 || v > INT32_MAX ? 0 : (int)v;
}

/* A consistent copy of the record in @fd (the sequence count even and the
 * same before and after); 0, or -1 if there is none of this version. */
static int rec_read(int fd, struct hm_pub *out)
{
	for (int tries = 0; tries < 200; tries++) {
		if (pread(fd, out, sizeof(*out), 0) != (ssize_t)sizeof(*out))
			return -1;
		if (out->magic != HM_PUB_MAGIC || out->version != HM_PUB_VERSION ||
		    out->stats_size != sizeof(struct hm_stats) || out->tier_size != sizeof(struct hm_pub_tier) ||
		    out->total_size != sizeof(struct hm_pub))
			return -1;
		uint64_t s1 = out->seq, s2;
		if (!(s1 & 1) && pread(fd, &s2, sizeof(s2), offsetof(struct hm_pub, seq)) == (ssize_t)sizeof(s2) &&
		    s2 == s1)
			return 0;
		usleep(100);
	}
	return -1;
}

static void unlink_rec(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), HM_PUB_DIR "/%s", name);
	unlink(path);
}

static int rec_open_read(const char *name, struct hm_pub *out)
{
	char path[128];
	snprintf(path, sizeof(path), HM_PUB_DIR "/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	int rc = rec_read(fd, out);
	close(fd);
	return rc;
}

void hm_pub_clean_stale(void)
{
	DIR *d = opendir(HM_PUB_DIR);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		int pid = name_pid(e->d_name);
		if (!pid || !(kill(pid, 0) && errno == ESRCH))
			continue;
		/* a record a running hetmem run has yet to report stays */
		struct hm_pub rec;
		if (!rec_open_read(e->d_name, &rec) && rec.run_pid > 0 && !(kill(rec.run_pid, 0) && errno == ESRCH))
			continue;
		unlinkat(dirfd(d), e->d_name, 0); /* another user's: fails quietly */
	}
	closedir(d);
}

/* The parent pid of @pid, or 0. */
static int ppid_of(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	int ppid = 0;
	char st;
	if (!p || sscanf(p + 1, " %c %d", &st, &ppid) != 2)
		return 0;
	return ppid;
}

int hm_pub_name(int pid, char *name, size_t len)
{
	DIR *d = opendir(HM_PUB_DIR);
	if (!d)
		return -1;
	uint64_t best = 0;
	int found = -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct hm_pub rec;
		if (name_pid(e->d_name) != pid || rec_open_read(e->d_name, &rec))
			continue;
		if (found < 0 || rec.started_ms >= best) {
			best = rec.started_ms;
			snprintf(name, len, "%s", e->d_name);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

int hm_pub_run_program(int run_pid)
{
	DIR *d = opendir(HM_PUB_DIR);
	if (!d)
		return 0;
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d)) && !found) {
		int pid = name_pid(e->d_name);
		struct hm_pub rec;
		if (pid && !rec_open_read(e->d_name, &rec) && rec.run_pid == run_pid && ppid_of(pid) == run_pid)
			found = pid;
	}
	closedir(d);
	return found;
}

struct hm_runrep *hm_runrep_new(int run_pid, uint64_t run_id)
{
	struct hm_runrep *r = calloc(1, sizeof(*r));
	if (r) {
		r->run_pid = run_pid;
		r->run_id = run_id;
	}
	return r;
}

static struct proc *find(struct hm_runrep *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->procs[i].name, name))
			return &r->procs[i];
	return NULL;
}

void hm_runrep_tick(struct hm_runrep *r)
{
	uint64_t now = now_ms();
	/* what is known: a fresh copy while it runs, the end noted once */
	for (int i = 0; i < r->n; i++) {
		struct proc *p = &r->procs[i];
		if (p->end_ms)
			continue;
		struct hm_pub rec;
		bool gone = pid_gone(p->pid);
		if (!rec_open_read(p->name, &rec) && rec.run_id == r->run_id) {
			p->rec = rec; /* after an exec, the new program's */
			p->have = true;
		}
		if (gone) {
			/* its last record is copied: the file can go now, so
			 * that a long run of short processes leaves no trail */
			p->end_ms = now;
			unlink_rec(p->name);
		}
	}
	/* new records of this run */
	DIR *d = opendir(HM_PUB_DIR);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		int pid = name_pid(e->d_name);
		if (!pid || strlen(e->d_name) >= sizeof(r->procs[0].name) || find(r, e->d_name))
			continue;
		struct hm_pub rec;
		if (rec_open_read(e->d_name, &rec) || rec.run_id != r->run_id || rec.run_pid != r->run_pid)
			continue;
		if (r->n == r->cap) {
			int cap = r->cap ? 2 * r->cap : 16;
			struct proc *np = realloc(r->procs, (size_t)cap * sizeof(*np));
			if (!np)
				break; /* out of memory: this one is not reported */
			r->procs = np;
			r->cap = cap;
		}
		struct proc *p = &r->procs[r->n++];
		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "%s", e->d_name);
		p->pid = pid;
		p->rec = rec;
		p->have = true;
		if (pid_gone(pid)) {
			p->end_ms = now;
			unlink_rec(p->name);
		}
	}
	closedir(d);
}

static void signame(char *buf, size_t len, int sig)
{
	const char *n = sigabbrev_np(sig);
	if (n)
		snprintf(buf, len, "SIG%s", n);
	else
		snprintf(buf, len, "signal %d", sig);
}

/* How @p ended, in words; @next: the record its pid made after an exec
 * under a new name (a uid change), or NULL. */
static void how_ended(char *buf, size_t len, const struct proc *p, const struct proc *next, int child, int status,
		      uint64_t child_end)
{
	char s[32];
	const struct hm_pub *c = &p->rec;
	if (next) {
		snprintf(buf, len, "exec'd the next program of pid %d (counters of its last update before)", p->pid);
		return;
	}
	uint64_t end = p->pid == child ? child_end : p->end_ms;
	uint64_t ago = end > c->updated_ms ? end - c->updated_ms : 0;
	if (!p->end_ms && p->pid != child) {
		snprintf(buf, len, "still running (counters as of now)");
		return;
	}
	if (p->pid == child && WIFSIGNALED(status)) {
		signame(s, sizeof(s), WTERMSIG(status));
		snprintf(buf, len, "killed by %s%s; no final update: counters of its last update, %llu ms before it ended",
			 s, WCOREDUMP(status) ? " (core dumped)" : "", (unsigned long long)ago);
	} else if (c->ended) {
		if (p->pid == child)
			snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
		else
			snprintf(buf, len, "exited");
	} else {
		/* the end of a process other than the program is when this
		 * process saw it gone: the time is at most that */
		snprintf(buf, len, "%s without a final update (killed by a signal, or left by _exit): counters of "
			 "its last update, %s%llu ms before it ended",
			 p->pid == child && WIFEXITED(status) ? "exited" : "ended", p->pid == child ? "" : "at most ",
			 (unsigned long long)ago);
	}
}

/* Sum of @b into @a, field by field (all of hm_stats are uint64_t). */
static void stats_add(struct hm_stats *a, const struct hm_stats *b)
{
	uint64_t *x = (uint64_t *)a;
	const uint64_t *y = (const uint64_t *)b;
	for (size_t i = 0; i < sizeof(*a) / sizeof(uint64_t); i++)
		x[i] += y[i];
}

/* stats.c: lines of hm_stats_print that a block shares (stats.h) */
size_t hm_stats_text_moves(char *buf, size_t len, const struct hm_stats *s);
size_t hm_stats_text_budget(char *buf, size_t len, const struct hm_stats *s);

bool hm_runrep_json;

static void json_block(FILE *f, const struct hm_pub *c, const char *head, const char *ended);

/* One block: the lines hetmem's own exit report (HETMEM_STATS) has, from
 * the record. */
/* The compressed tiers' line ("  compressed: ..."), when they were used:
 * what they hold, the pool and its waste, the RAM saved (@live: now, else
 * the most at once), and what happened to the pages written to them. */
void hm_comp_line(FILE *f, const struct hm_stats *s, bool live)
{
	if (!(s->comp_logical_bytes || s->comp_zero_pages || s->comp_same_pages || s->comp_incompressible ||
	      s->comp_pool_full))
		return;
	/* waste: pool RAM beyond the payload, as a share of it */
	char a[32], b[32], m[32], sv[32];
	hm_fmt_bytes(a, sizeof(a), s->comp_logical_bytes);
	hm_fmt_bytes(b, sizeof(b), s->comp_stored_bytes);
	hm_fmt_bytes(m, sizeof(m), s->comp_pool_bytes);
	uint64_t now = s->comp_logical_bytes > s->comp_pool_bytes ? s->comp_logical_bytes - s->comp_pool_bytes : 0;
	hm_fmt_bytes(sv, sizeof(sv), live ? now : s->comp_saved_peak_bytes);
	fprintf(f,
		"  compressed: %s of pages in %s of payload, pool %s (ratio %.2f:1, waste %.1f%%), %s of RAM saved %s; zero "
		"pages %llu, same-filled %llu, stored raw (incompressible) %llu, refused (pool full) %llu, "
		"sent past the full pool %llu, written back %llu; compress %llu ms, decompress %llu ms\n",
		a, b, m, s->comp_pool_bytes ? (double)s->comp_logical_bytes / (double)s->comp_pool_bytes : 0.0,
		s->comp_stored_bytes
			? 100.0 * ((double)s->comp_pool_bytes - (double)s->comp_stored_bytes) / (double)s->comp_stored_bytes
			: 0.0,
		sv, live ? "now" : "at most", (unsigned long long)s->comp_zero_pages,
		(unsigned long long)s->comp_same_pages, (unsigned long long)s->comp_incompressible,
		(unsigned long long)s->comp_pool_full, (unsigned long long)s->comp_spill_pages,
		(unsigned long long)s->comp_writeback_pages,
		(unsigned long long)(s->comp_ns / 1000000), (unsigned long long)(s->decomp_ns / 1000000));
}

static void print_block(FILE *f, const struct hm_pub *c, const char *head, const char *ended)
{
	if (hm_runrep_json) {
		json_block(f, c, head, ended);
		return;
	}
	const struct hm_stats *s = &c->stats;
	char a[32], b[32], m[32];
	fprintf(f, "%s\n", head);
	if (ended)
		fprintf(f, "  %s\n", ended);
	char pre[1024];
	hm_pub_preload_text(pre, sizeof(pre), c);
	fputs(pre, f);
	hm_fmt_bytes(a, sizeof(a), s->managed_bytes);
	hm_fmt_bytes(b, sizeof(b), s->resident_bytes);
	hm_fmt_bytes(m, sizeof(m), s->metadata_bytes);
	fprintf(f, "hetmem: %llu regions, %s managed, %s resident in RAM, %s of page tables\n",
		(unsigned long long)s->regions, a, b, m);
	char text[2048];
	hm_stats_text_moves(text, sizeof(text), s);
	fputs(text, f);
	fprintf(f, "  reclaim scans %llu, reclaimed %llu pages, refaults %llu, thrash back-offs %llu, "
		   "throttled faults %llu, policy events %llu\n",
		(unsigned long long)s->reclaim_scans, (unsigned long long)s->reclaim_pages,
		(unsigned long long)s->refaults, (unsigned long long)s->thrash_backoffs,
		(unsigned long long)s->throttled_faults, (unsigned long long)s->policy_events);
	if (c->budget) {
		hm_stats_text_budget(text, sizeof(text), s);
		fputs(text, f);
	}
	if (c->ntiers) {
		fprintf(f, "  %-4s %-24s %12s %12s %12s %12s %8s\n", "id", "tier", "capacity", "used", "pages-in",
			"pages-out", "errors");
		for (uint32_t t = 0; t < c->ntiers && t < HM_PUB_MAX_TIERS; t++) {
			hm_fmt_bytes(a, sizeof(a), c->tiers[t].capacity);
			hm_fmt_bytes(b, sizeof(b), t ? c->tiers[t].used : s->resident_bytes);
			fprintf(f, "  %-4u %-24.24s %12s %12s %12llu %12llu %8llu\n", t, c->tiers[t].name, a, b,
				(unsigned long long)c->tiers[t].pages_in, (unsigned long long)c->tiers[t].pages_out,
				(unsigned long long)c->tiers[t].errors);
		}
	}
	hm_comp_line(f, s, false);
}

/* The file a block goes to: @dest ("-" is stderr; "%p" in it: one file per
 * process, the pid in its name), opened on first use.  NULL after a message. */
static FILE *dest_open(const char *dest, int pid, FILE **shared)
{
	static bool failed; /* the one file could not be opened: said once */
	if (!strcmp(dest, "-"))
		return stderr;
	const char *pp = strstr(dest, "%p");
	if (!pp && *shared)
		return *shared;
	if (!pp && failed)
		return NULL;
	char name[4096];
	if (pp)
		snprintf(name, sizeof(name), "%.*s%d%s", (int)(pp - dest), dest, pid, pp + 2);
	else
		snprintf(name, sizeof(name), "%s", dest);
	FILE *f = fopen(name, "we");
	if (!f) {
		fprintf(stderr, "hetmem run: cannot write the stats to %s: %s\n", name, strerror(errno));
		failed = !pp;
		return NULL;
	}
	if (!pp)
		*shared = f;
	return f;
}

static int by_start(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;
	if (x->rec.started_ms != y->rec.started_ms)
		return x->rec.started_ms < y->rec.started_ms ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

void hm_runrep_finish(struct hm_runrep *r, int child, int status, uint64_t child_end_ms, const char *dest)
{
	/* the last look: the program has ended; the records of processes
	 * gone by now are final */
	hm_runrep_tick(r);
	for (int i = 0; i < r->n; i++)
		if (r->procs[i].pid == child && !r->procs[i].end_ms)
			r->procs[i].end_ms = child_end_ms;
	/* in the order the processes started */
	if (r->n > 1)
		qsort(r->procs, (size_t)r->n, sizeof(r->procs[0]), by_start);
	FILE *shared = NULL;
	struct hm_stats total;
	memset(&total, 0, sizeof(total));
	struct hm_pub sum;
	memset(&sum, 0, sizeof(sum));
	int reported = 0;
	for (int i = 0; dest && i < r->n; i++) {
		struct proc *p = &r->procs[i];
		if (!p->have)
			continue;
		char head[512], ended[256];
		snprintf(head, sizeof(head), "hetmem: pid %d, policy %s, budget %llu bytes: %s", p->pid, p->rec.policy,
			 (unsigned long long)p->rec.budget, p->rec.program);
		const struct proc *next = NULL;
		for (int j = 0; j < r->n; j++)
			if (j != i && r->procs[j].pid == p->pid &&
			    (r->procs[j].rec.started_ms > p->rec.started_ms ||
			     (r->procs[j].rec.started_ms == p->rec.started_ms &&
			      strlen(r->procs[j].name) > strlen(p->name)))) /* hetmem.PID.UID came later */
				next = &r->procs[j];
		how_ended(ended, sizeof(ended), p, next, child, status, child_end_ms);
		FILE *f = dest_open(dest, p->pid, &shared);
		if (!f)
			continue;
		print_block(f, &p->rec, head, ended);
		if (f != stderr && f != shared)
			fclose(f);
		stats_add(&total, &p->rec.stats);
#define HM_SUM_(name, field) sum.field += p->rec.field;
		HM_PUB_PRELOAD_FIELDS(HM_SUM_)
#undef HM_SUM_
		reported++;
	}
	if (dest && reported > 1 && !strstr(dest, "%p")) {
		FILE *f = dest_open(dest, 0, &shared);
		if (f) {
			char head[128];
			snprintf(head, sizeof(head), "hetmem: total of the %d processes above", reported);
			sum.stats = total;
			print_block(f, &sum, head, NULL);
		}
	}
	if (dest && !reported) {
		FILE *f = dest_open(dest, child, &shared);
		if (f)
			fprintf(f, "hetmem: no process of this run published its counters (none ran under hetmem: "
				   "see the messages above)\n");
		if (f && f != stderr && f != shared)
			fclose(f);
	}
	if (shared)
		fclose(shared);
	else
		fflush(stderr);
	/* the records of ended processes go; those still running keep
	 * theirs (the preload library removes it at exit, hetmem run gone) */
	for (int i = 0; i < r->n; i++)
		if (r->procs[i].end_ms)
			unlink_rec(r->procs[i].name);
	free(r->procs);
	free(r);
}

void hm_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void hm_json_stats(FILE *f, const struct hm_stats *s)
{
#define HM_JSON_(name, how, src, doc) fprintf(f, ", \"" #name "\": %llu", (unsigned long long)s->name);
	HM_STATS_FIELDS(HM_JSON_)
#undef HM_JSON_
}

/* Every counter of a record as "NAME VALUE" lines (/proc/vmstat's form):
 * the fields of HM_STATS_FIELDS under their struct hm_stats names, then the
 * preload library's counters (HM_PUB_PRELOAD_FIELDS). */
void hm_counters_text(FILE *f, const struct hm_pub *c)
{
#define HM_TXT_(name, how, src, doc) fprintf(f, #name " %llu\n", (unsigned long long)c->stats.name);
	HM_STATS_FIELDS(HM_TXT_)
#undef HM_TXT_
#define HM_TXT_PRE_(name, field) fprintf(f, #name " %llu\n", (unsigned long long)c->field);
	HM_PUB_PRELOAD_FIELDS(HM_TXT_PRE_)
#undef HM_TXT_PRE_
}

void hm_json_tiers(FILE *f, const struct hm_pub *c)
{
	fprintf(f, ", \"tiers\": [");
	for (uint32_t t = 0; t < c->ntiers && t < HM_PUB_MAX_TIERS; t++) {
		fprintf(f, "%s{\"id\": %u, \"name\": ", t ? ", " : "", t);
		hm_json_str(f, c->tiers[t].name);
		fprintf(f, ", \"capacity\": %llu, \"used\": %llu, \"pages_in\": %llu, \"pages_out\": %llu, "
			   "\"errors\": %llu}",
			(unsigned long long)c->tiers[t].capacity,
			(unsigned long long)(t ? c->tiers[t].used : c->stats.resident_bytes),
			(unsigned long long)c->tiers[t].pages_in, (unsigned long long)c->tiers[t].pages_out,
			(unsigned long long)c->tiers[t].errors);
	}
	fprintf(f, "]");
}

/* One block as a JSON object on a line: the head and end lines of the text
 * form as strings, its preload counters under the same names, the counters
 * of hetmem_counters.h, the tiers. */
static void json_block(FILE *f, const struct hm_pub *c, const char *head, const char *ended)
{
	fprintf(f, "{\"pid\": %d, \"head\": ", c->pid);
	hm_json_str(f, head);
	fprintf(f, ", \"ended\": ");
	hm_json_str(f, ended ? ended : "");
#define HM_JSON_PRE_(name, field) fprintf(f, ", \"" #name "\": %llu", (unsigned long long)c->field);
	HM_PUB_PRELOAD_FIELDS(HM_JSON_PRE_)
#undef HM_JSON_PRE_
	fprintf(f, ", \"managed_share_pct\": %.1f", hm_pub_managed_share(c));
	hm_json_stats(f, &c->stats);
	hm_json_tiers(f, c);
	fprintf(f, "}\n");
}
