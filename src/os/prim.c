/*
 * prim.c — the thin system-call layer.  Every system call libhetmem makes
 * goes through a function here, which returns 0 (or a count) or -errno and
 * never touches errno's meaning for the caller.  Each call site that can
 * meaningfully fail has a failure-injection point (hm_inject()): after `skip`
 * successful calls, the next `count` calls fail with the injected errno,
 * without making the system call, so tests can show every failure is handled.
 */
#include "internal.h"
#include "hetmem_inject.h"
#include "os/uffd_compat.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

struct hm_inject_site {
	const char *name;
	_Atomic int err;
	_Atomic unsigned skip;
	_Atomic unsigned count;
};

static struct hm_inject_site sites[HM_SITE_COUNT] = {
	[HM_SITE_TIER_READ] = {.name = "tier_read"},
	[HM_SITE_TIER_WRITE] = {.name = "tier_write"},
	[HM_SITE_TIER_ALLOC] = {.name = "tier_alloc"},
	[HM_SITE_UFFD_COPY] = {.name = "uffd_copy"},
	[HM_SITE_UFFD_MOVE] = {.name = "uffd_move"},
	[HM_SITE_UFFD_WP] = {.name = "uffd_wp"},
	[HM_SITE_MADVISE] = {.name = "madvise"},
	[HM_SITE_MMAP] = {.name = "mmap"},
	[HM_SITE_UFFD_MOVE_MISREPORT] = {.name = "uffd_move_misreport"},
};
static _Atomic int inject_armed;

int hm_prim_inject(enum hm_site site)
{
	if (hm_likely(!atomic_load_explicit(&inject_armed, memory_order_relaxed)))
		return 0;
	struct hm_inject_site *s = &sites[site];
	if (!atomic_load(&s->count))
		return 0;
	unsigned skip = atomic_load(&s->skip);
	while (skip) {
		if (atomic_compare_exchange_weak(&s->skip, &skip, skip - 1))
			return 0;
	}
	unsigned c = atomic_load(&s->count);
	while (c) {
		if (atomic_compare_exchange_weak(&s->count, &c, c - 1)) {
			HM_COUNT(injected, 1);
			return -atomic_load(&s->err);
		}
	}
	return 0;
}

HM_API int hm_inject(const char *site, int err, unsigned skip, unsigned count)
{
	if (!site || err <= 0 || err > 4095)
		return hm_error(EINVAL, "hm_inject: bad site or errno %d", err);
	for (int i = 0; i < HM_SITE_COUNT; i++) {
		if (strcmp(sites[i].name, site) == 0) {
			atomic_store(&sites[i].count, 0);
			atomic_store(&sites[i].err, err);
			atomic_store(&sites[i].skip, skip);
			atomic_store(&sites[i].count, count);
			if (count)
				atomic_store(&inject_armed, 1);
			return 0;
		}
	}
	return hm_error(EINVAL, "hm_inject: unknown site '%s'", site);
}

HM_API void hm_inject_clear(void)
{
	for (int i = 0; i < HM_SITE_COUNT; i++)
		atomic_store(&sites[i].count, 0);
	atomic_store(&inject_armed, 0);
}

#define INJECT(site)                                \
	do {                                        \
		int ie_ = hm_prim_inject(site);     \
		if (ie_)                            \
			return ie_;                 \
	} while (0)

/*
 * The memory-mapping calls, straight to the kernel, never injected.  Not
 * libc's wrappers: in the preload library mmap, munmap, mremap, madvise and
 * mprotect are hetmem's own interposers (preload.c), and hetmem's own
 * mappings (staging, bounce buffers, tier windows, holes) must not be
 * managed.  Each returns like the libc call (-1 / MAP_FAILED and errno).
 */
__thread bool hm_tls_internal __attribute__((tls_model("initial-exec")));

void *hm_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int hm_sys_munmap(void *addr, size_t len)
{
	return (int)syscall(SYS_munmap, addr, len);
}

int hm_sys_mprotect(void *addr, size_t len, int prot)
{
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

int hm_sys_madvise(void *addr, size_t len, int advice)
{
	return (int)syscall(SYS_madvise, addr, len, advice);
}

void *hm_sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

void *hm_prim_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int *err)
{
	int ie = hm_prim_inject(HM_SITE_MMAP);
	if (ie) {
		*err = -ie;
		return MAP_FAILED;
	}
	void *p = hm_sys_mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		*err = errno;
	return p;
}

int hm_prim_munmap(void *addr, size_t len)
{
	return hm_sys_munmap(addr, len) ? -errno : 0;
}

int hm_prim_mprotect(void *addr, size_t len, int prot)
{
	return hm_sys_mprotect(addr, len, prot) ? -errno : 0;
}

int hm_prim_madvise(void *addr, size_t len, int advice)
{
	INJECT(HM_SITE_MADVISE);
	return hm_sys_madvise(addr, len, advice) ? -errno : 0;
}

int hm_prim_pread(int fd, void *buf, size_t len, uint64_t off)
{
	INJECT(HM_SITE_TIER_READ);
	size_t done = 0;
	while (done < len) {
		unsigned s = hm_fd_enter();
		ssize_t n = pread(hm_fd_cur(fd), (char *)buf + done, len - done, (off_t)(off + done));
		hm_fd_exit(s);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EBADF && hm_fd_is_ours(fd))
				hm_fd_lost(fd, "tier's file");
			return -errno;
		}
		if (n == 0)
			return -EIO; /* short file: the data is not there */
		done += (size_t)n;
	}
	return 0;
}

int hm_prim_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	INJECT(HM_SITE_TIER_WRITE);
	size_t done = 0;
	while (done < len) {
		unsigned s = hm_fd_enter();
		ssize_t n = pwrite(hm_fd_cur(fd), (const char *)buf + done, len - done, (off_t)(off + done));
		hm_fd_exit(s);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EBADF && hm_fd_is_ours(fd))
				hm_fd_lost(fd, "tier's file");
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* The userfaultfd(2) system call, then /dev/userfaultfd (Linux >= 6.1, where
 * the system call is restricted by vm.unprivileged_userfaultfd=0 and the
 * device's permissions let the user in).  Never UFFD_USER_MODE_ONLY: such a
 * userfaultfd does not serve faults taken inside the kernel (a system call
 * such as write(2) from managed memory, or process_vm_readv used by
 * devices), which then fail with EFAULT on a page that lives on a tier, so
 * memory registered with it is not served correctly.  @via (may be NULL)
 * says which of the two gave the descriptor. */
static int uffd_open_via(const char **via)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		if (via)
			*via = "the userfaultfd(2) system call";
		return fd;
	}
	int err = errno;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		int e2 = errno;
		close(dev);
		if (fd >= 0) {
			if (via)
				*via = "/dev/userfaultfd";
			return fd;
		}
		err = e2;
	}
	return -err;
}

int hm_prim_uffd_open(void)
{
	return uffd_open_via(NULL);
}

HM_API int hm_uffd_check(char *why, size_t len)
{
	const char *via = NULL;
	int fd = uffd_open_via(&via);
	if (fd >= 0) {
		close(fd);
		snprintf(why, len, "full (kernel-mode faults served), through %s", via);
		return 0;
	}
	char sysctl[16] = "?";
	int sfd = open("/proc/sys/vm/unprivileged_userfaultfd", O_RDONLY | O_CLOEXEC);
	if (sfd >= 0) {
		ssize_t n = read(sfd, sysctl, sizeof(sysctl) - 1);
		close(sfd);
		sysctl[n > 0 ? n : 0] = 0;
		sysctl[strcspn(sysctl, "\n")] = 0;
	}
	if (fd == -EPERM || fd == -EACCES) {
		bool user_only = false;
		int u = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		if (u >= 0) {
			user_only = true;
			close(u);
		}
		snprintf(why, len,
			 "vm.unprivileged_userfaultfd=%s and no access to /dev/userfaultfd: hetmem cannot manage "
			 "processes of this user%s; ask root to `chmod`/`setfacl` /dev/userfaultfd for it or to set "
			 "the sysctl vm.unprivileged_userfaultfd=1",
			 sysctl, user_only ? " (only a user-mode-only userfaultfd is permitted, whose faults inside "
					     "system calls are not served: they would fail with EFAULT)" : "");
	} else {
		snprintf(why, len, "userfaultfd is not available: %s (a kernel without CONFIG_USERFAULTFD?)",
			 strerror(-fd));
	}
	return fd;
}

/* An ioctl on the userfaultfd, 0 or -errno.  Inside hm_fd_enter/exit with
 * the number passed through hm_fd_cur: a dup2 of the program's onto it
 * (which moves hetmem's descriptor first, fdguard.c) cannot make this call
 * land on the program's file.  EBADF or ENOTTY on hetmem's own userfaultfd
 * means the program closed or replaced it with a raw system call: stop. */
static int uffd_ioctl(int uffd, unsigned long req, void *arg)
{
	unsigned s = hm_fd_enter();
	int fd = hm_fd_cur(uffd);
	int rc = ioctl(fd, req, arg) ? -errno : 0;
	hm_fd_exit(s);
	if (hm_unlikely(rc == -EBADF || rc == -ENOTTY) && hm_fd_is_ours(fd))
		hm_fd_lost(fd, "userfaultfd");
	return rc;
}

int hm_prim_uffd_api(int uffd, uint64_t want, uint64_t *got, uint64_t *ioctls)
{
	struct uffdio_api api = {.api = UFFD_API, .features = want};
	int rc = uffd_ioctl(uffd, UFFDIO_API, &api);
	if (rc)
		return rc;
	if (got)
		*got = api.features;
	if (ioctls)
		*ioctls = api.ioctls;
	return 0;
}

int hm_prim_uffd_register(int uffd, uintptr_t start, size_t len, uint64_t mode)
{
	struct uffdio_register reg = {.range = {.start = start, .len = len}, .mode = mode};
	return uffd_ioctl(uffd, UFFDIO_REGISTER, &reg);
}

int hm_prim_uffd_unregister(int uffd, uintptr_t start, size_t len)
{
	struct uffdio_range r = {.start = start, .len = len};
	return uffd_ioctl(uffd, UFFDIO_UNREGISTER, &r);
}

int hm_prim_uffd_copy(int uffd, uintptr_t dst, const void *src, size_t len, bool wake, size_t *done)
{
	*done = 0;
	INJECT(HM_SITE_UFFD_COPY);
	struct uffdio_copy c = {.dst = dst, .src = (uintptr_t)src, .len = len,
				.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE};
	int rc = uffd_ioctl(uffd, UFFDIO_COPY, &c);
	if (c.copy > 0)
		*done = (size_t)c.copy;
	return rc;
}

int hm_prim_uffd_zero(int uffd, uintptr_t dst, size_t len, bool wake, size_t *done)
{
	*done = 0;
	struct uffdio_zeropage z = {.range = {.start = dst, .len = len},
				    .mode = wake ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE};
	int rc = uffd_ioctl(uffd, UFFDIO_ZEROPAGE, &z);
	if (z.zeropage > 0)
		*done = (size_t)z.zeropage;
	return rc;
}

int hm_prim_uffd_move_mode(int uffd, uintptr_t dst, uintptr_t src, size_t len, uint64_t mode, size_t *done)
{
	*done = 0;
	INJECT(HM_SITE_UFFD_MOVE);
	struct uffdio_move m = {.dst = dst, .src = src, .len = len, .mode = mode};
	int rc = uffd_ioctl(uffd, UFFDIO_MOVE, &m);
	if (m.move > 0)
		*done = (size_t)m.move;
	/* "uffd_move_misreport": the pages moved, the call says they did not
	 * (a kernel behaviour under async write-protect, docs/KERNEL-NOTES.md,
	 * which stage_folio in migrate.c checks for) */
	int lie = *done ? hm_prim_inject(HM_SITE_UFFD_MOVE_MISREPORT) : 0;
	if (lie) {
		*done = 0;
		return lie;
	}
	return rc;
}

int hm_prim_uffd_move(int uffd, uintptr_t dst, uintptr_t src, size_t len, size_t *done)
{
	return hm_prim_uffd_move_mode(uffd, dst, src, len,
				      UFFDIO_MOVE_MODE_DONTWAKE | UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, done);
}

int hm_prim_uffd_wp(int uffd, uintptr_t start, size_t len, bool protect)
{
	INJECT(HM_SITE_UFFD_WP);
	struct uffdio_writeprotect wp = {.range = {.start = start, .len = len},
					 .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
	return uffd_ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

int hm_prim_uffd_wake(int uffd, uintptr_t start, size_t len)
{
	struct uffdio_range r = {.start = start, .len = len};
	return uffd_ioctl(uffd, UFFDIO_WAKE, &r);
}

int hm_prim_uffd_poison(int uffd, uintptr_t start, size_t len)
{
	struct uffdio_poison p = {.range = {.start = start, .len = len}, .mode = 0};
	return uffd_ioctl(uffd, UFFDIO_POISON, &p);
}

/* Which pages of [addr, addr+len) hold data: vec[k] = 1 if page k is in
 * memory (mincore) or swapped out (/proc/self/pagemap bit 62), 0 if it is
 * absent (reads as zeros).  mincore() alone would call a swapped-out page
 * absent.  -ENOMEM if part of the range is not mapped. */
int hm_prim_pages_present(void *addr, size_t len, unsigned char *vec)
{
	if (mincore(addr, len, vec))
		return -errno;
	static _Atomic int pm_fd = -1;
	int fd = atomic_load(&pm_fd);
	if (fd < 0) {
		hm_fd_begin();
		int nfd = hm_fd_open("/proc/self/pagemap", O_RDONLY, 0, NULL);
		if (nfd < 0) {
			int e = errno;
			hm_fd_end();
			return -e;
		}
		int expect = -1;
		if (atomic_compare_exchange_strong(&pm_fd, &expect, nfd)) {
			fd = nfd;
			hm_fd_set_home(nfd, (int *)&pm_fd);
		} else {
			hm_fd_close(nfd);
			fd = expect;
		}
		hm_fd_end();
	}
	size_t n = len >> HM_PAGE_SHIFT;
	uint64_t ents[HM_MAX_FOLIO_PAGES];
	for (size_t done = 0; done < n;) {
		size_t chunk = n - done < HM_MAX_FOLIO_PAGES ? n - done : HM_MAX_FOLIO_PAGES;
		uint64_t off = (((uintptr_t)addr >> HM_PAGE_SHIFT) + done) * sizeof(uint64_t);
		unsigned s = hm_fd_enter();
		ssize_t r = pread(hm_fd_cur(atomic_load(&pm_fd)), ents, chunk * sizeof(uint64_t), (off_t)off);
		hm_fd_exit(s);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if ((size_t)r != chunk * sizeof(uint64_t))
			return -EIO;
		for (size_t k = 0; k < chunk; k++)
			vec[done + k] = ((vec[done + k] & 1) || ((ents[k] >> 62) & 1)) ? 1 : 0;
		done += chunk;
	}
	return 0;
}

int hm_prim_vm_rw(void *local, const void *remote, size_t len, bool write)
{
	struct iovec l = {.iov_base = local, .iov_len = len};
	struct iovec r = {.iov_base = (void *)remote, .iov_len = len};
	size_t done = 0;
	while (done < len) {
		l.iov_base = (char *)local + done;
		l.iov_len = len - done;
		r.iov_base = (char *)remote + done;
		r.iov_len = len - done;
		ssize_t n = write ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
				  : process_vm_readv(getpid(), &l, 1, &r, 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EFAULT;
		done += (size_t)n;
	}
	return 0;
}
