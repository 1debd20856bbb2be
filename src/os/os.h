/*
 * os.h — the system-call layer (prim.c), hetmem's descriptors (fdguard.c),
 * its threads (thread.c), feature masking (featmask.c).
 */
#ifndef HM_OS_H
#define HM_OS_H

#include "common.h"

/* ------------------------------------------------------------------------
 * prim.c: every system call goes through here so tests can inject failures.
 * Each returns 0 / a count, or -errno.
 * ---------------------------------------------------------------------- */
enum hm_site {
	HM_SITE_TIER_READ, HM_SITE_TIER_WRITE, HM_SITE_TIER_ALLOC,
	HM_SITE_UFFD_COPY, HM_SITE_UFFD_MOVE, HM_SITE_UFFD_WP,
	HM_SITE_MADVISE, HM_SITE_MMAP, HM_SITE_UFFD_MOVE_MISREPORT, HM_SITE_COUNT
};
/* 0, or the injected -errno for this call of @site. */
HM_HIDDEN int hm_prim_inject(enum hm_site site);

/* raw mapping calls (never libc's wrappers, never injected; see prim.c) */
HM_HIDDEN void *hm_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
HM_HIDDEN int hm_sys_munmap(void *addr, size_t len);
HM_HIDDEN int hm_sys_mprotect(void *addr, size_t len, int prot);
HM_HIDDEN int hm_sys_madvise(void *addr, size_t len, int advice);
HM_HIDDEN void *hm_sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
HM_HIDDEN void *hm_prim_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int *err);
HM_HIDDEN int hm_prim_munmap(void *addr, size_t len);
HM_HIDDEN int hm_prim_mprotect(void *addr, size_t len, int prot);
HM_HIDDEN int hm_prim_madvise(void *addr, size_t len, int advice);
HM_HIDDEN int hm_prim_pread(int fd, void *buf, size_t len, uint64_t off);
HM_HIDDEN int hm_prim_pwrite(int fd, const void *buf, size_t len, uint64_t off);
HM_HIDDEN int hm_prim_uffd_open(void);
HM_HIDDEN int hm_prim_uffd_api(int uffd, uint64_t want, uint64_t *got, uint64_t *ioctls);
HM_HIDDEN int hm_prim_uffd_register(int uffd, uintptr_t start, size_t len, uint64_t mode);
HM_HIDDEN int hm_prim_uffd_unregister(int uffd, uintptr_t start, size_t len);
/* UFFDIO_COPY of @len bytes; on partial progress *done has the bytes copied */
HM_HIDDEN int hm_prim_uffd_copy(int uffd, uintptr_t dst, const void *src, size_t len, bool wake, size_t *done);
HM_HIDDEN int hm_prim_uffd_zero(int uffd, uintptr_t dst, size_t len, bool wake, size_t *done);
HM_HIDDEN int hm_prim_uffd_move(int uffd, uintptr_t dst, uintptr_t src, size_t len, size_t *done);
/* the same with explicit UFFDIO_MOVE_MODE_* bits (hm_prim_uffd_move: DONTWAKE | ALLOW_SRC_HOLES) */
HM_HIDDEN int hm_prim_uffd_move_mode(int uffd, uintptr_t dst, uintptr_t src, size_t len, uint64_t mode, size_t *done);
HM_HIDDEN int hm_prim_uffd_wp(int uffd, uintptr_t start, size_t len, bool protect);
HM_HIDDEN int hm_prim_uffd_wake(int uffd, uintptr_t start, size_t len);
HM_HIDDEN int hm_prim_uffd_poison(int uffd, uintptr_t start, size_t len);
HM_HIDDEN int hm_prim_pages_present(void *addr, size_t len, unsigned char *vec);
HM_HIDDEN int hm_prim_vm_rw(void *local, const void *remote, size_t len, bool write);

/* fdguard.c: hetmem's descriptors, high, close-on-exec, out of the
 * program's way; the preload library's close/dup2 interposers ask here */
HM_HIDDEN void hm_fd_begin(void);
HM_HIDDEN void hm_fd_end(void);
HM_HIDDEN int hm_fd_hide(int fd, int *home);
HM_HIDDEN void hm_fd_set_home(int fd, int *home);
HM_HIDDEN int hm_fd_open(const char *path, int flags, mode_t mode, int *home);
HM_HIDDEN int hm_fd_close(int fd);
HM_HIDDEN void hm_fd_forget(int fd);
HM_HIDDEN bool hm_fd_is_ours(int fd);
HM_HIDDEN bool hm_fd_foreign(void);
HM_HIDDEN int hm_fd_cur(int fd);
HM_HIDDEN unsigned hm_fd_enter(void);
HM_HIDDEN void hm_fd_exit(unsigned idx);
HM_HIDDEN int hm_fd_evict(int fd);
HM_HIDDEN bool hm_fd_creating(void);
HM_HIDDEN void hm_fd_lock_for_close(void);
HM_HIDDEN void hm_fd_unlock_for_close(void);
HM_HIDDEN int hm_fd_list(unsigned first, unsigned last, int *out, int max);
HM_HIDDEN void hm_fd_lost(int fd, const char *what) __attribute__((noreturn));
HM_HIDDEN bool hm_fd_is_uffd(int fd);
HM_HIDDEN int hm_fd_keep_uffd(int fd);
HM_HIDDEN void hm_fd_release_uffd(void);
extern HM_HIDDEN void (*hm_fd_moved_hook)(void);

/* featmask.c: HETMEM_MASK_FEATURES's @list (NULL or "": none) applied to a
 * probe's answer; the caller reads the variable (core/options.c) */
HM_HIDDEN int hm_features_mask(struct hm_features *f, const char *list);
/* ------------------------------------------------------------------------
 * thread.c: hetmem's own threads.
 * ---------------------------------------------------------------------- */
/* Start a hetmem thread named @name running @fn(@arg), with every signal
 * blocked from its first instruction; @wake (or NULL) wakes it from its
 * sleep so that it reaches hm_thread_sync soon.  0 or a positive errno. */
HM_HIDDEN int hm_thread_start(pthread_t *t, const char *name, void *(*fn)(void *), void *arg,
			      void (*wake)(void));
/* In a hetmem thread, at its wait points: take the credentials a
 * hm_thread_creds_sync asked for, if one did (one atomic load if not);
 * hm_thread_sleep_ms sleeps @ms, or less when one asks. */
HM_HIDDEN void hm_thread_sync(void);
HM_HIDDEN void hm_thread_sleep_ms(unsigned ms);
/* Whether a request waits for this hetmem thread's hm_thread_sync (a
 * thread that waits on a condition variable of its own checks it under the
 * lock its wake function takes, so that no wake-up is lost). */
HM_HIDDEN bool hm_thread_pending(void);
/* Unblock SIGBUS in the calling hetmem thread (signal mode's reclaimer: its
 * own faults in registered memory are served by the SIGBUS handler). */
HM_HIDDEN void hm_thread_take_sigbus(void);
/* In a program thread: give every hetmem thread this thread's capabilities,
 * securebits, ambient and bounding sets, and wait (boundedly) until each
 * has; @what names the call for the message when one cannot.  0 or -errno. */
HM_HIDDEN int hm_thread_creds_sync(const char *what);
/* After a set*id call that followed hm_thread_creds_sync: every thread made
 * the same change, so their state is the caller's new one (no round trip at
 * the next call unless the caller changes its capabilities meanwhile). */
HM_HIDDEN void hm_thread_creds_after(void);

#endif
