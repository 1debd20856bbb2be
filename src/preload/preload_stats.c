/*
 * preload_stats.c — the preloaded process's statistics: a live record in
 * /dev/shm/hetmem.PID (pubstats.h), updated by a publisher thread, for
 * `hetmem stat PID`; and the HETMEM_STATS report at exit.  Under `hetmem
 * run` (HETMEM_RUN set) the record gets a final update at exit and stays
 * for hetmem run, which writes the report of the whole process tree.
 */
#include "internal.h"
#include "core/pubstats.h"
#include "preload/preload.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

_Atomic uint64_t maps_managed, maps_unmanaged, bytes_unmanaged, maps_fallback;
static struct hm_pub *pub;
static char pub_path[64];
static pthread_t pub_thread;
static _Atomic bool pub_stop;
/* the publisher sleeps on this, so that the exit wakes it at once instead
 * of waiting out its period (up to 250 ms added to every exit) */
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pub_wake;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t rss_anon(void)
{
	int fd = hm_fd_open("/proc/self/status", O_RDONLY, 0, NULL); /* never a number of the program's */
	if (fd < 0)
		return 0;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	hm_fd_close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strstr(buf, "RssAnon:");
	return p ? strtoull(p + 8, NULL, 10) << 10 : 0;
}

/* Fill @p with the counters now (not under the sequence count). */
static void pub_fill(struct hm_pub *p)
{
	struct hm_budget b;
	hm_stats_get(&p->stats);
	p->budget = hm_budget_get(&b) == 0 && b.bytes != HM_BUDGET_OFF ? b.bytes : 0;
	snprintf(p->policy, sizeof(p->policy), "%s", hm_policy_get());
	int n = 0;
	for (int id = 0; id < HM_MAX_TIERS && n < HM_PUB_MAX_TIERS; id++) {
		struct hm_tier_info ti;
		if (hm_tier_info(id, &ti))
			continue;
		struct hm_pub_tier *t = &p->tiers[n++];
		snprintf(t->name, sizeof(t->name), "%s", ti.name);
		t->capacity = ti.capacity;
		t->used = ti.used;
		t->pages_in = ti.pages_in;
		t->pages_out = ti.pages_out;
		t->errors = ti.errors;
	}
	p->ntiers = (uint32_t)n;
	p->maps_managed = atomic_load(&maps_managed);
	p->maps_unmanaged = atomic_load(&maps_unmanaged);
	p->bytes_unmanaged = atomic_load(&bytes_unmanaged);
	p->maps_fallback = atomic_load(&maps_fallback);
	p->rss_anon = rss_anon();
	p->updated_ms = now_ms();
	/* the managed share is judged at the peak: at exit the program may
	 * have freed most of its managed memory already */
	static _Atomic uint64_t peak_anon, peak_managed;
	uint64_t dev = 0;
	for (int i = 1; i < n; i++)
		dev += p->tiers[i].used;
	uint64_t total = p->rss_anon + dev;
	if (total > atomic_load(&peak_anon)) {
		atomic_store(&peak_anon, total);
		atomic_store(&peak_managed, hm_pub_managed_now(p, dev));
	}
	p->peak_anon = atomic_load(&peak_anon);
	p->peak_managed = atomic_load(&peak_managed);
}

static void pub_update(bool final)
{
	static struct hm_pub tmp;
	pub_fill(&tmp);
	uint64_t s = atomic_load(&pub->seq);
	atomic_store(&pub->seq, s + 1);
	atomic_thread_fence(memory_order_release);
	memcpy(pub->tiers, tmp.tiers, sizeof(tmp.tiers));
	memcpy(&pub->stats, &tmp.stats, sizeof(tmp.stats));
	memcpy(pub->policy, tmp.policy, sizeof(tmp.policy));
	pub->ntiers = tmp.ntiers;
	pub->budget = tmp.budget;
	pub->maps_managed = tmp.maps_managed;
	pub->maps_unmanaged = tmp.maps_unmanaged;
	pub->bytes_unmanaged = tmp.bytes_unmanaged;
	pub->maps_fallback = tmp.maps_fallback;
	pub->rss_anon = tmp.rss_anon;
	pub->peak_anon = tmp.peak_anon;
	pub->peak_managed = tmp.peak_managed;
	pub->updated_ms = tmp.updated_ms;
	pub->ended = final;
	atomic_thread_fence(memory_order_release);
	atomic_store(&pub->seq, s + 2);
}

/* hm_thread_start's wake for the publisher (a credentials request) */
static void pub_kick(void)
{
	pthread_mutex_lock(&pub_lock);
	pthread_cond_signal(&pub_wake);
	pthread_mutex_unlock(&pub_lock);
}

static void *pub_main(void *arg)
{
	hm_tls_internal = true;
	while (!atomic_load(&pub_stop)) {
		pub_update(false);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += HM_PUB_PERIOD_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		/* woken early by the exit (pub_stop) or by a credentials
		 * request (thread.c: pub_kick, under pub_lock) */
		pthread_mutex_lock(&pub_lock);
		while (!atomic_load(&pub_stop) && !hm_thread_pending() &&
		       pthread_cond_timedwait(&pub_wake, &pub_lock, &ts) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&pub_lock);
		hm_thread_sync();
	}
	return NULL;
}

/* Stop the publisher thread and wait for it. */
static void pub_stop_thread(void)
{
	pthread_mutex_lock(&pub_lock);
	atomic_store(&pub_stop, true);
	pthread_cond_signal(&pub_wake);
	pthread_mutex_unlock(&pub_lock);
	pthread_join(pub_thread, NULL);
}

static void pub_start(void)
{
	snprintf(pub_path, sizeof(pub_path), HM_PUB_DIR "/" HM_PUB_PREFIX "%d", (int)getpid());
	int fd = hm_fd_open(pub_path, O_RDWR | O_CREAT | O_TRUNC, 0600, NULL);
	if (fd < 0 && (errno == EACCES || errno == EPERM)) {
		/* this pid's record is another user's: the program before an
		 * exec had another uid (setpriv, su); this one gets its own */
		snprintf(pub_path, sizeof(pub_path), HM_PUB_DIR "/" HM_PUB_PREFIX "%d.%d", (int)getpid(),
			 (int)getuid());
		fd = hm_fd_open(pub_path, O_RDWR | O_CREAT | O_TRUNC, 0600, NULL);
	}
	if (fd < 0)
		return; /* no /dev/shm: no live stats (hetmem stat says so) */
	if (ftruncate(fd, sizeof(struct hm_pub))) {
		hm_fd_close(fd);
		unlink(pub_path);
		return;
	}
	void *m = hm_sys_mmap(NULL, sizeof(struct hm_pub), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	hm_fd_close(fd);
	if (m == MAP_FAILED) {
		unlink(pub_path);
		return;
	}
	pub = m;
	pub->magic = HM_PUB_MAGIC;
	pub->version = HM_PUB_VERSION;
	pub->stats_size = sizeof(struct hm_stats);
	pub->tier_size = sizeof(struct hm_pub_tier);
	pub->total_size = sizeof(struct hm_pub);
	pub->pid = (int32_t)getpid();
	pub->started_ms = now_ms();
	struct hm_options o;
	hm_options_parse_var(&o, "HETMEM_RUN"); /* "PID:NONCE", set by hetmem run */
	const char *run = o.run;
	if (o.run_set) {
		char *end;
		long rp = strtol(run, &end, 10);
		if (*end == ':' && rp > 0) {
			pub->run_pid = (int32_t)rp;
			pub->run_id = strtoull(end + 1, NULL, 10);
		}
	}
	int cfd = hm_fd_open("/proc/self/cmdline", O_RDONLY, 0, NULL);
	if (cfd >= 0) {
		ssize_t n = read(cfd, pub->program, sizeof(pub->program) - 1);
		hm_fd_close(cfd);
		/* one line: the arguments' NULs and control characters (a
		 * python3 -c script's newlines) become spaces */
		for (ssize_t i = 0; i + 1 < n; i++)
			if ((unsigned char)pub->program[i] < ' ')
				pub->program[i] = ' ';
	}
	pub_update(false);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pub_wake, &ca);
	pthread_condattr_destroy(&ca);
	if (hm_thread_start(&pub_thread, "hm-publish", pub_main, NULL, pub_kick)) {
		hm_sys_munmap(pub, sizeof(*pub));
		pub = NULL;
		unlink(pub_path);
	}
}

/* The report HETMEM_STATS asks for: hm_stats_print plus the preload's own
 * counters and the share of anonymous memory that was managed. */
static void stats_report(void)
{
	struct hm_options o;
	hm_options_parse_var(&o, "HETMEM_STATS"); /* read at exit: the program may have changed it */
	const char *dest = o.stats;
	if (!o.stats_set)
		return;
	const char *pp = strstr(dest, "%p"); /* every process its own file */
	char name[4096];
	if (pp)
		snprintf(name, sizeof(name), "%.*s%d%s", (int)(pp - dest), dest, (int)getpid(), pp + 2);
	else
		snprintf(name, sizeof(name), "%s", dest);
	dest = name;
	int fd = strcmp(dest, "-") ? hm_fd_open(dest, O_WRONLY | O_CREAT | O_TRUNC, 0644, NULL) : 2;
	if (fd < 0) {
		fprintf(stderr, "hetmem: cannot write the stats to %s: %s\n", dest, strerror(errno));
		return;
	}
	static struct hm_pub p;
	pub_fill(&p);
	dprintf(fd, "hetmem: pid %d, policy %s, budget %llu bytes\n", (int)getpid(), p.policy,
		(unsigned long long)p.budget);
	char pre[1024];
	hm_pub_preload_text(pre, sizeof(pre), &p);
	dprintf(fd, "%s", pre);
	hm_stats_print(fd);
	if (fd != 2)
		hm_fd_close(fd);
}

void hm_preload_stats_start(void)
{
	pub_start();
}

void hm_preload_stats_child(void)
{
	pub = NULL;
}

void hm_preload_stats_exit(void)
{
	if (pub && pub->run_pid) {
		/* under hetmem run: the final counters stay in the record, which
		 * hetmem run reports and removes (it may be another user's file
		 * by now if the program changed its uid); the program writes no
		 * report itself.  Removed here only when hetmem run is gone. */
		pub_stop_thread();
		pub_update(true);
		if (kill(pub->run_pid, 0) && errno == ESRCH)
			unlink(pub_path);
		return;
	}
	stats_report();
	if (pub) {
		pub_stop_thread();
		unlink(pub_path);
	}
}
