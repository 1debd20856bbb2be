/*
 * preload.c — the LD_PRELOAD face of hetmem: libhetmem-preload.so puts an
 * unmodified program's heap and large anonymous mappings in managed memory.
 *
 * `hetmem run` sets LD_PRELOAD and the HETMEM_* variables (runenv.c); the
 * constructor below starts hetmem from them.  Then:
 *
 *  - mmap: an anonymous, private, read-write mapping of at least
 *    HETMEM_MIN_MAP bytes (not MAP_FIXED, not a stack, not huge-TLB) becomes
 *    a managed region at the address the kernel (or the caller's hint) picks.
 *    Anything else goes to the kernel as it is.  If hetmem cannot take a
 *    mapping (out of metadata memory, say) the kernel maps it instead and the
 *    fallback is counted: the program never sees an error hetmem caused.
 *  - munmap: the managed parts are hm_free()d (a part of a region leaves a
 *    reserved PROT_NONE hole until the whole region is gone, see space.c);
 *    the rest goes to the kernel.  MAP_FIXED over managed memory frees the
 *    managed part first.
 *  - mprotect: the kernel's, plus the page words' protection bits (so a
 *    device never writes a read-only page).
 *  - mlock, mlock2, munlock, mlockall, munlockall: preload_lock.c.
 *  - madvise: MADV_FREE on managed memory becomes MADV_DONTNEED (the kernel
 *    would drop lazily-freed pages behind hetmem's back); DONTNEED itself and
 *    mremap reach hetmem as userfaultfd events (space.c), as for any program.
 *  - malloc and friends: mimalloc (Debian's libmimalloc), whose own memory
 *    comes through the mmap above, so the heap is managed.  In hetmem's own
 *    threads, and while an interposer runs hetmem code (hm_tls_internal),
 *    malloc is glibc's instead: hetmem's metadata never lives in managed
 *    memory, so the fault handler can never fault on its own data.  free()
 *    and realloc() go to whichever allocator owns the pointer.
 *  - fork: the library brings pages home before fork (space.c); in the child
 *    hetmem is off and these interposers pass everything to the kernel.
 *  - exec: the new program starts afresh; LD_PRELOAD and HETMEM_* are
 *    inherited, so it runs under hetmem too, with its own budget.
 *  - file descriptors: close, close_range, closefrom, dup2 and dup3 keep off
 *    hetmem's own descriptors (preload_fd.c, fdguard.c).
 *  - signals: hetmem installs no signal handler (but in signal mode,
 *    HETMEM_FAULTS=signal: see sigfault.c); the program's own SIGSEGV and
 *    SIGBUS handlers see the signals they would see without it (a poisoned
 *    page is a SIGBUS at its address).
 *
 * Live counters are published in /dev/shm/hetmem.PID (pubstats.h) for
 * `hetmem stat PID`; HETMEM_STATS prints them at exit.  Under `hetmem run`
 * (HETMEM_RUN set) the record gets a final update at exit and stays for
 * hetmem run, which writes the report of the whole process tree.  Without a
 * full userfaultfd (a user that vm.unprivileged_userfaultfd=0 keeps out) a
 * process runs unmanaged, and the constructor says so in one line.
 */
#include "internal.h"
#include "core/pubstats.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <mimalloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static _Atomic bool active; /* hetmem is on in this process */
static size_t folio = HM_FOLIO_4K, min_map = 64 << 10;
static pid_t owner;
static struct hm_pub *pub;
static char pub_path[64];
static pthread_t pub_thread;
static _Atomic bool pub_stop;
/* the publisher sleeps on this, so that the exit wakes it at once instead
 * of waiting out its period (up to 250 ms added to every exit) */
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pub_wake;
static _Atomic uint64_t maps_managed, maps_unmanaged, bytes_unmanaged, maps_fallback;

/* glibc's allocator, for hetmem's own allocations (resolved in the ctor) */
static struct {
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void (*free)(void *);
	void *(*memalign)(size_t, size_t);
	size_t (*usable)(void *);
} libc;

/* ---------------------------------------------------------------------- */
/* The malloc family                                                        */
/* ---------------------------------------------------------------------- */

static inline bool use_libc(void)
{
	return hm_tls_internal && libc.malloc;
}

/* Whether mimalloc owns @p (else glibc does).  mimalloc's segment map covers
 * only the addresses below 40 TiB (mimalloc 2.0): a segment the kernel
 * placed above (its address hint not honoured) is not in it, and its blocks
 * freed through glibc abort the program ("realloc(): invalid pointer").  Managed memory is never glibc's (glibc maps its own
 * memory behind our mmap), so a pointer in a region is mimalloc's.  Not
 * asked in hetmem's own code (hm_tls_internal), whose blocks are glibc's and
 * which may hold the region table's lock (table_insert's realloc). */
static inline bool ours(const void *p)
{
	if (mi_is_in_heap_region(p))
		return true;
	if (hm_tls_internal)
		return false;
	struct hm_region *r = hm_region_get_any((uintptr_t)p);
	if (r)
		hm_region_put(r);
	return r != NULL;
}

/* Allocations made before the constructor has started hetmem (other
 * libraries' constructors, the loader) come from this static arena, not from
 * mimalloc: mimalloc's first allocation maps its first 32 MiB segment, and
 * the main thread's heap keeps filling it, so made before hetmem is on it
 * would stay unmanaged for the whole run (a third of Redis's memory was).
 * Such blocks are never reused: free() ignores them, realloc() copies them
 * out.  If the arena runs out, mimalloc serves the rest as before. */
#define EARLY_SIZE (256u << 10)
static _Alignas(64) unsigned char early[EARLY_SIZE];
static _Atomic size_t early_used;
static _Atomic bool started; /* the constructor is done: mimalloc from now */

static inline bool is_early(const void *p)
{
	return (const unsigned char *)p >= early && (const unsigned char *)p < early + EARLY_SIZE;
}

/* A block of @n bytes aligned to @a (a power of two), its size in the 8
 * bytes before it; NULL when the arena is full. */
static void *early_alloc(size_t n, size_t a)
{
	if (a < 16)
		a = 16;
	if (n > EARLY_SIZE || a > EARLY_SIZE / 4)
		return NULL;
	size_t cur = atomic_load(&early_used), start, end;
	do {
		start = (cur + 8 + a - 1) & ~(a - 1);
		end = start + n;
		if (end > EARLY_SIZE)
			return NULL;
	} while (!atomic_compare_exchange_weak(&early_used, &cur, end));
	memcpy(early + start - 8, &n, sizeof(n));
	return early + start;
}

static size_t early_size(const void *p)
{
	size_t n;
	memcpy(&n, (const unsigned char *)p - 8, sizeof(n));
	return n;
}

#define EARLY_OR(n, a, call)                                                                                \
	do {                                                                                                 \
		if (!atomic_load_explicit(&started, memory_order_acquire) && !use_libc()) {                 \
			void *e_ = early_alloc((n), (a));                                                    \
			if (e_)                                                                              \
				return e_;                                                                   \
		}                                                                                            \
		return call;                                                                                 \
	} while (0)

EXPORT void *malloc(size_t n)
{
	EARLY_OR(n, 16, use_libc() ? libc.malloc(n) : mi_malloc(n));
}

EXPORT void *calloc(size_t n, size_t m)
{
	size_t t;
	/* the arena is zeroed and never reused */
	EARLY_OR(__builtin_mul_overflow(n, m, &t) ? SIZE_MAX : t, 16,
		 use_libc() ? libc.calloc(n, m) : mi_calloc(n, m));
}

EXPORT void free(void *p)
{
	if (!p || is_early(p))
		return;
	if (ours(p) || !libc.free)
		mi_free(p);
	else
		libc.free(p);
}

EXPORT void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	if (is_early(p)) {
		void *q = malloc(n);
		size_t old = early_size(p);
		if (q)
			memcpy(q, p, old < n ? old : n);
		return q;
	}
	if (ours(p) || !libc.realloc)
		return mi_realloc(p, n);
	return libc.realloc(p, n);
}

EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
	size_t t;
	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, t);
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (is_early(p))
		return early_size(p);
	if (ours(p) || !libc.usable)
		return mi_malloc_usable_size(p);
	return libc.usable(p);
}

EXPORT void *memalign(size_t a, size_t n)
{
	if (a & (a - 1))
		return use_libc() ? libc.memalign(a, n) : mi_memalign(a, n);
	EARLY_OR(n, a, use_libc() ? libc.memalign(a, n) : mi_memalign(a, n));
}

EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
	if (use_libc()) {
		if (a < sizeof(void *) || (a & (a - 1)))
			return EINVAL;
		void *p = libc.memalign(a, n);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	if (!atomic_load_explicit(&started, memory_order_acquire) && a >= sizeof(void *) && !(a & (a - 1))) {
		void *e = early_alloc(n, a);
		if (e) {
			*out = e;
			return 0;
		}
	}
	return mi_posix_memalign(out, a, n);
}

EXPORT void *aligned_alloc(size_t a, size_t n)
{
	if (a & (a - 1))
		return use_libc() ? libc.memalign(a, n) : mi_aligned_alloc(a, n);
	EARLY_OR(n, a, use_libc() ? libc.memalign(a, n) : mi_aligned_alloc(a, n));
}

EXPORT void *valloc(size_t n)
{
	return use_libc() ? libc.memalign(HM_PAGE_SIZE, n) : mi_valloc(n);
}

EXPORT void *pvalloc(size_t n)
{
	return use_libc() ? libc.memalign(HM_PAGE_SIZE, (n + HM_PAGE_SIZE - 1) & ~(HM_PAGE_SIZE - 1))
			  : mi_pvalloc(n);
}

/* ---------------------------------------------------------------------- */
/* The mapping calls                                                        */
/* ---------------------------------------------------------------------- */

static inline bool on(void)
{
	return atomic_load_explicit(&active, memory_order_acquire) && !hm_tls_internal;
}

/* for preload_lock.c's interposers */
HM_HIDDEN bool hm_preload_on(void)
{
	return on();
}

static size_t page_up(size_t n)
{
	return (n + HM_PAGE_SIZE - 1) & ~(size_t)(HM_PAGE_SIZE - 1);
}

/* Free the managed pages of [a, end); the parts outside every region are
 * left for the caller.  Runs with hm_tls_internal set. */
static void forget_managed(uintptr_t a, uintptr_t end)
{
	struct hm_region *r;
	while (a < end && (r = hm_region_overlap(a, end))) {
		uintptr_t base = r->base, rend = r->base + r->size;
		uintptr_t s = a > base ? a : base, e = end < rend ? end : rend;
		size_t fsz = (size_t)1 << r->folio_shift;
		if (s == base && e == rend) {
			hm_region_put(r);
			hm_free((void *)base, 0);
		} else {
			/* free each run of live pages, whole folios only; a partial
			 * folio at either end is left to the kernel's munmap and
			 * followed by the UNMAP event */
			uintptr_t fs = (s + fsz - 1) & ~(fsz - 1), fe = e & ~(fsz - 1);
			uintptr_t p = fs;
			while (p < fe) {
				while (p < fe && pw_loc(atomic_load(&r->words[(p - base) >> HM_PAGE_SHIFT])) == HM_LOC_UNMAPPED)
					p += fsz;
				uintptr_t q = p;
				while (q < fe && pw_loc(atomic_load(&r->words[(q - base) >> HM_PAGE_SHIFT])) != HM_LOC_UNMAPPED)
					q += fsz;
				if (q > p) {
					hm_region_put(r);
					hm_free((void *)p, q - p);
					r = hm_region_get_any(base);
					if (!r)
						break;
				}
				p = q;
			}
			if (r)
				hm_region_put(r);
			if (fs > s)
				hm_sys_munmap((void *)s, (fs < e ? fs : e) - s);
			if (fe < e && fe >= fs)
				hm_sys_munmap((void *)fe, e - fe);
		}
		a = e;
	}
}

/* Whether [a, a+len) overlaps managed memory. */
static bool overlaps(uintptr_t a, size_t len)
{
	struct hm_region *r = hm_region_overlap(a, a + len);
	if (r)
		hm_region_put(r);
	return r != NULL;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!on())
		return hm_sys_mmap(addr, len, prot, flags, fd, off);
	hm_tls_internal = true;
	void *p = MAP_FAILED;
	bool anon_private = (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE;
	if (flags & MAP_FIXED) {
		if (overlaps((uintptr_t)addr, page_up(len)))
			forget_managed((uintptr_t)addr, (uintptr_t)addr + page_up(len));
	} else if (anon_private && prot == (PROT_READ | PROT_WRITE) && len >= min_map &&
		   !(flags & (MAP_HUGETLB | MAP_GROWSDOWN | MAP_STACK | MAP_LOCKED | MAP_FIXED_NOREPLACE))) {
		size_t sz = page_up(len);
		size_t f = (sz & (folio - 1)) ? HM_FOLIO_4K : folio;
		p = hm_region_alloc(sz, f, addr, sz >= HM_FOLIO_2M ? HM_FOLIO_2M : f, "mmap");
		if (p) {
			atomic_fetch_add(&maps_managed, 1);
			hm_lock_new_region((uintptr_t)p, sz); /* mlockall(MCL_FUTURE) */
		} else {
			p = MAP_FAILED;
			atomic_fetch_add(&maps_fallback, 1);
		}
	}
	if (p == MAP_FAILED) {
		p = hm_sys_mmap(addr, len, prot, flags, fd, off);
		if (p != MAP_FAILED && anon_private) {
			atomic_fetch_add(&maps_unmanaged, 1);
			atomic_fetch_add(&bytes_unmanaged, len);
		}
	}
	hm_tls_internal = false;
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));

EXPORT int munmap(void *addr, size_t len)
{
	if (!on() || ((uintptr_t)addr & (HM_PAGE_SIZE - 1)) || !len)
		return hm_sys_munmap(addr, len);
	hm_tls_internal = true;
	uintptr_t a = (uintptr_t)addr, end = a + page_up(len);
	int rc = 0;
	struct hm_region *r;
	while (a < end) {
		r = hm_region_overlap(a, end);
		uintptr_t stop = r ? (r->base > a ? r->base : a) : end;
		uintptr_t rend = r ? r->base + r->size : end;
		if (r)
			hm_region_put(r);
		if (stop > a && hm_sys_munmap((void *)a, stop - a))
			rc = -1;
		if (!r)
			break;
		uintptr_t e = end < rend ? end : rend;
		forget_managed(stop, e);
		a = e;
	}
	hm_tls_internal = false;
	return rc;
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
	if (!on())
		return hm_sys_mprotect(addr, len, prot);
	int rc = hm_sys_mprotect(addr, len, prot);
	if (rc || ((uintptr_t)addr & (HM_PAGE_SIZE - 1)) || !len)
		return rc;
	int saved = errno;
	hm_tls_internal = true;
	uintptr_t a = (uintptr_t)addr, end = a + page_up(len);
	struct hm_region *r;
	int p = prot & (PROT_READ | PROT_WRITE);
	if (p == PROT_WRITE)
		p |= PROT_READ; /* as the MMU does */
	while (a < end && (r = hm_region_overlap(a, end))) {
		uintptr_t s = a > r->base ? a : r->base;
		uintptr_t e = end < r->base + r->size ? end : r->base + r->size;
		hm_region_put(r);
		hm_protect((void *)s, e - s, p);
		a = e;
	}
	/* hm_protect mprotected without PROT_EXEC: say it again as asked */
	if (prot & PROT_EXEC)
		hm_sys_mprotect(addr, len, prot);
	hm_tls_internal = false;
	errno = saved;
	return 0;
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	if (advice == MADV_FREE && on()) {
		hm_tls_internal = true;
		if (overlaps((uintptr_t)addr, page_up(len)))
			advice = MADV_DONTNEED;
		hm_tls_internal = false;
	}
	/* without UFFDIO_POISON a lost page is a fence (poison.c): discarded,
	 * it must read zeros as soon as madvise returns */
	if ((advice == MADV_DONTNEED || advice == MADV_REMOVE) && on() && !hm_g.feat.poison) {
		hm_tls_internal = true;
		hm_poison_discard((uintptr_t)addr, (uintptr_t)addr + page_up(len));
		hm_tls_internal = false;
	}
	return hm_sys_madvise(addr, len, advice);
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	/* the move itself is followed through UFFD_EVENT_REMAP (space.c) */
	return hm_sys_mremap(old, old_len, new_len, flags, new_addr);
}

/* ---------------------------------------------------------------------- */
/* Live statistics                                                          */
/* ---------------------------------------------------------------------- */

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
		atomic_store(&peak_managed, p->stats.resident_bytes + dev);
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
	const char *run = getenv("HETMEM_RUN"); /* "PID:NONCE", set by hetmem run */
	if (run && *run) {
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
	const char *dest = getenv("HETMEM_STATS");
	if (!dest || !*dest)
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
	dprintf(fd, "preload_maps_managed %llu\npreload_maps_unmanaged %llu\npreload_bytes_unmanaged %llu\n"
		    "preload_maps_fallback %llu\npeak_anon_bytes %llu\npeak_managed_bytes %llu\n"
		    "managed_share_pct %.1f\n",
		(unsigned long long)p.maps_managed, (unsigned long long)p.maps_unmanaged,
		(unsigned long long)p.bytes_unmanaged, (unsigned long long)p.maps_fallback,
		(unsigned long long)p.peak_anon, (unsigned long long)p.peak_managed,
		p.peak_anon ? 100.0 * (double)p.peak_managed / (double)p.peak_anon : 0.0);
	hm_stats_print(fd);
	if (fd != 2)
		hm_fd_close(fd);
}

/* ---------------------------------------------------------------------- */
/* Start and stop                                                           */
/* ---------------------------------------------------------------------- */

void hm_preload_child_off(void)
{
	/* the child has no handler thread: hetmem is off here (space.c) */
	atomic_store(&active, false);
	pub = NULL;
}

__attribute__((constructor(101))) static void preload_init(void)
{
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	if (h) {
		libc.malloc = (void *(*)(size_t))dlsym(h, "malloc");
		libc.calloc = (void *(*)(size_t, size_t))dlsym(h, "calloc");
		libc.realloc = (void *(*)(void *, size_t))dlsym(h, "realloc");
		libc.free = (void (*)(void *))dlsym(h, "free");
		libc.memalign = (void *(*)(size_t, size_t))dlsym(h, "memalign");
		libc.usable = (size_t(*)(void *))dlsym(h, "malloc_usable_size");
	}
	if (!libc.malloc || !libc.calloc || !libc.realloc || !libc.free || !libc.memalign || !libc.usable) {
		fprintf(stderr, "hetmem: cannot find glibc's allocator (libc.so.6): hetmem needs glibc\n");
		_exit(127);
	}
	hm_tls_internal = true;
	/* without a full userfaultfd (a user whom vm.unprivileged_userfaultfd=0
	 * and /dev/userfaultfd's permissions keep out, such as a program that
	 * changed its uid before exec), hetmem cannot serve this process
	 * correctly: it runs unmanaged, and says so once */
	char why[512];
	if (hm_uffd_check(why, sizeof(why))) {
		char prog[256] = "?";
		ssize_t n = readlink("/proc/self/exe", prog, sizeof(prog) - 1);
		prog[n > 0 ? n : 1] = 0;
		fprintf(stderr, "hetmem: %s (pid %d, uid %d) runs unmanaged: %s\n", prog, (int)getpid(),
			(int)getuid(), why);
		atomic_store(&started, true);
		hm_tls_internal = false;
		return;
	}
	int rc = hm_env_maps(&folio, &min_map);
	if (!rc)
		rc = hm_env_setup();
	if (rc) {
		char prog[256] = "?";
		ssize_t n = readlink("/proc/self/exe", prog, sizeof(prog) - 1);
		prog[n > 0 ? n : 1] = 0;
		fprintf(stderr, "hetmem: cannot start under %s: %s\n", prog, hm_last_error());
		_exit(127);
	}
	/* mimalloc reserves the first segments of each thread but the main one
	 * with PROT_NONE and commits them later with mprotect: such mappings
	 * are not ones hetmem can manage, so most of a multi-threaded
	 * program's heap would stay with the kernel.  Commit eagerly: the managed mapping is MAP_NORESERVE anyway. */
	if (!getenv("MIMALLOC_EAGER_COMMIT_DELAY"))
		mi_option_set(mi_option_eager_commit_delay, 0);
	owner = getpid();
	pthread_atfork(NULL, NULL, hm_preload_child_off);
	pub_start();
	atomic_store(&active, true);
	atomic_store(&started, true);
	hm_tls_internal = false;
}

__attribute__((destructor)) static void preload_fini(void)
{
	if (!atomic_load(&active) || getpid() != owner)
		return;
	hm_tls_internal = true;
	if (pub && pub->run_pid) {
		/* under hetmem run: the final counters stay in the record, which
		 * hetmem run reports and removes (it may be another user's file
		 * by now if the program changed its uid); the program writes no
		 * report itself.  Removed here only when hetmem run is gone. */
		pub_stop_thread();
		pub_update(true);
		if (kill(pub->run_pid, 0) && errno == ESRCH)
			unlink(pub_path);
		hm_tls_internal = false;
		return;
	}
	stats_report();
	if (pub) {
		pub_stop_thread();
		unlink(pub_path);
	}
	/* hetmem keeps running: the program's other destructors may still use
	 * managed memory, and the process is about to exit anyway */
	hm_tls_internal = false;
}
