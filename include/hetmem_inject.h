/*
 * hetmem_inject.h — failure injection for hetmem's tests: not part of the
 * installed API (only include/hetmem.h is installed).  The functions are
 * exported by libhetmem so that tests of the shared and preload libraries
 * reach them too; failures injected are counted in hm_stats.injected.
 */
#ifndef HETMEM_INJECT_H
#define HETMEM_INJECT_H

#include "hetmem.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * hm_inject - make the syscall layer fail call site @site with -@err: after
 * @skip successful calls, the next @count calls fail (count 0 clears the
 * site).  Sites: "tier_read", "tier_write", "tier_alloc", "uffd_copy",
 * "uffd_move", "uffd_wp", "madvise", "mmap", and "uffd_move_misreport": a
 * UFFDIO_MOVE that moved pages answers -@err with none counted as moved (as
 * Linux 6.18 was seen to do under async write-protect; only calls that moved
 * something count).  @err is a positive errno.
 * Returns 0, -EINVAL (unknown site or bad errno).
 */
HM_API int hm_inject(const char *site, int err, unsigned skip, unsigned count);

/* Clear all injected failures. */
HM_API void hm_inject_clear(void);

#ifdef __cplusplus
}
#endif
#endif /* HETMEM_INJECT_H */
