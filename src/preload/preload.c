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
 * Live counters are published for `hetmem stat PID` and printed at exit
 * (preload_stats.c).  Without a
 * full userfaultfd (a user that vm.unprivileged_userfaultfd=0 keeps out) a
 * process runs unmanaged, and the constructor says so in one line.
 */
#include "internal.h"
#include "preload/preload.h"

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
/* Start and stop                                                           */
/* ---------------------------------------------------------------------- */

void hm_preload_child_off(void)
{
	/* the child has no handler thread: hetmem is off here (space.c) */
	atomic_store(&active, false);
	hm_preload_stats_child();
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
	if (rc == -EBUSY) {
		/* a tier's device is another process's (dax: is one process
		 * per device; a program that forks and execs hands its
		 * HETMEM_TIER on): this one runs unmanaged, and says so */
		char prog[256] = "?";
		ssize_t n = readlink("/proc/self/exe", prog, sizeof(prog) - 1);
		prog[n > 0 ? n : 1] = 0;
		fprintf(stderr, "hetmem: %s (pid %d) runs unmanaged: %s\n", prog, (int)getpid(), hm_last_error());
		atomic_store(&started, true);
		hm_tls_internal = false;
		return;
	}
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
	hm_preload_stats_start();
	atomic_store(&active, true);
	atomic_store(&started, true);
	hm_tls_internal = false;
}

__attribute__((destructor)) static void preload_fini(void)
{
	if (!atomic_load(&active) || getpid() != owner)
		return;
	hm_tls_internal = true;
	hm_preload_stats_exit();
	/* hetmem keeps running: the program's other destructors may still use
	 * managed memory, and the process is about to exit anyway */
	hm_tls_internal = false;
}
