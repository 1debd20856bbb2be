/*
 * tiers/file.c — a file or block/DAX device as device-private memory,
 * "file:PATH[,size=SIZE]".
 *
 * A regular file is created if missing and grown to SIZE (never shrunk: that
 * could cut data someone else keeps there); without size= an existing file's
 * own size is used.  A block device gives its own size.  Data moves with
 * pread/pwrite, so a failing disk shows up as -EIO on the page concerned.
 * A regular file gives back the blocks of freed slots (ops->release punches
 * them out), so its use on disk — or in RAM, for a file on tmpfs — is what
 * is stored; the reservation made at open is given up for punched space.
 * Block devices are left alone.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct file {
	int fd;          /* hidden from the program (fdguard.c); the first
			  * field: the shared fd ops (fdtier.c) read it */
	bool blockdev;   /* a block device: its blocks are never punched */
};
_Static_assert(offsetof(struct file, fd) == 0, "the fd ops (fdtier.c) read the fd at t->priv");

static int file_open(struct hm_tier *t, const char *args)
{
	struct file *f = t->priv;
	f->fd = -1;
	char path[4096];
	uint64_t size = 0;
	bool have_size = false;
	const char *comma = strchr(args, ',');
	size_t plen = comma ? (size_t)(comma - args) : strlen(args);
	if (plen == 0 || plen >= sizeof(path))
		return hm_error(EINVAL, "tier 'file:%s': expected file:PATH[,size=SIZE]", args);
	memcpy(path, args, plen);
	path[plen] = 0;
	if (comma) {
		if (strncmp(comma + 1, "size=", 5))
			return hm_error(EINVAL, "tier 'file:%s': unknown option '%s' (expected size=SIZE)", args, comma + 1);
		int rc = hm_parse_size(comma + 6, &size);
		if (rc)
			return hm_error(-rc, "tier 'file:%s': bad size '%s'", args, comma + 6);
		size &= ~(uint64_t)(HM_PAGE_SIZE - 1);
		if (size == 0)
			return hm_error(EINVAL, "tier 'file:%s': size %s is less than one 4 KiB page (at least 4K)", args,
					comma + 6);
		if ((size >> HM_PAGE_SHIFT) > PW_SLOT_MAX)
			return hm_error(E2BIG, "tier 'file:%s': size too large", args);
		have_size = true;
	}
	/* created only when a size says how big: a missing file without
	 * size= is -ENOENT, and no empty file is left behind */
	int fd = hm_fd_open(path, O_RDWR | (have_size ? O_CREAT : 0), 0600, &f->fd); /* out of the program's way */
	if (fd < 0)
		return hm_error(errno, "tier 'file:%s': cannot open '%s'", args, path);
	struct stat st;
	int rc;
	if (fstat(fd, &st)) {
		rc = hm_error(errno, "tier 'file:%s': cannot stat '%s'", args, path);
		goto err_close;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t dev_size = 0;
		if (ioctl(fd, BLKGETSIZE64, &dev_size)) {
			rc = hm_error(errno, "tier 'file:%s': cannot read the size of block device '%s'", args, path);
			goto err_close;
		}
		if (have_size && size > dev_size) {
			rc = hm_error(ENOSPC, "tier 'file:%s': size is larger than the device (%llu bytes)", args,
				      (unsigned long long)dev_size);
			goto err_close;
		}
		if (!have_size)
			size = dev_size & ~(uint64_t)(HM_PAGE_SIZE - 1);
		f->blockdev = true;
	} else if (S_ISREG(st.st_mode)) {
		if (!have_size) {
			size = (uint64_t)st.st_size & ~(uint64_t)(HM_PAGE_SIZE - 1);
			if (size == 0) {
				rc = hm_error(EINVAL, "tier 'file:%s': '%s' is empty; give size=SIZE", args, path);
				goto err_close;
			}
		} else if ((uint64_t)st.st_size < size) {
			/* reserve the blocks so a full disk fails now, not on a demotion */
			int e = posix_fallocate(fd, 0, (off_t)size);
			if (e) {
				if (e == EOPNOTSUPP || e == EINVAL) {
					if (ftruncate(fd, (off_t)size))
						e = errno;
					else
						e = 0;
				}
				if (e) {
					rc = hm_error(e == EFBIG ? ENOSPC : e, "tier 'file:%s': cannot grow '%s' to %llu bytes",
						      args, path, (unsigned long long)size);
					goto err_close;
				}
			}
		}
	} else {
		rc = hm_error(S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
			      "tier 'file:%s': '%s' is neither a regular file nor a block device", args, path);
		goto err_close;
	}
	if (size == 0) {
		rc = hm_error(EINVAL, "tier 'file:%s': size is zero", args);
		goto err_close;
	}
	t->capacity = size;
	return 0;
err_close:
	hm_fd_close(fd);
	f->fd = -1;
	return rc;
}

static void file_close(struct hm_tier *t)
{
	struct file *f = t->priv;
	if (f->fd >= 0)
		hm_fd_close(f->fd);
}

/* Punch the freed slots out of a regular file; a file system that cannot
 * answers -EOPNOTSUPP and is not asked again. */
static int file_release(struct hm_tier *t, uint64_t slot, size_t npages)
{
	struct file *f = t->priv;
	if (f->blockdev)
		return -EOPNOTSUPP;
	return hm_tier_fd_release(t, slot, npages);
}

const struct hm_tier_ops hm_tier_file_ops = {
	.kind = "file",
	.usage = "file:PATH[,size=SIZE]",
	.tier_class = HM_TIER_PRIVATE,
	.priv_size = sizeof(struct file),
	.open = file_open,
	.close = file_close,
	.read = hm_tier_fd_read,
	.write = hm_tier_fd_write,
	.map = NULL,
	.release = file_release,
};
