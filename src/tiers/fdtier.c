/*
 * tiers/fdtier.c — data ops shared by the backends whose store is one file
 * descriptor addressed by slot (emu's memfd, file's file or block device).
 *
 * Such a backend's private state (t->priv) begins with its int fd; slot s
 * is byte s * 4 KiB of that fd.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>

static inline int tier_fd(const struct hm_tier *t)
{
	return *(const int *)t->priv;
}

int hm_tier_fd_read(struct hm_tier *t, uint64_t slot, void *buf, size_t npages)
{
	return hm_prim_pread(tier_fd(t), buf, npages << HM_PAGE_SHIFT, slot << HM_PAGE_SHIFT);
}

int hm_tier_fd_write(struct hm_tier *t, uint64_t slot, const void *buf, size_t npages)
{
	return hm_prim_pwrite(tier_fd(t), buf, npages << HM_PAGE_SHIFT, slot << HM_PAGE_SHIFT);
}

/* Punch the freed slots out of the fd: their storage goes back to the
 * system (a memfd's pages, a regular file's blocks). */
int hm_tier_fd_release(struct hm_tier *t, uint64_t slot, size_t npages)
{
	if (fallocate(tier_fd(t), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(slot << HM_PAGE_SHIFT),
		      (off_t)(npages << HM_PAGE_SHIFT)))
		return -errno;
	return 0;
}
