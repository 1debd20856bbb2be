/*
 * tiers/dax.c — a Linux device-dax character device as device-private
 * memory, "dax:/dev/daxX.Y[,size=SIZE]".
 *
 * Device-dax is how CXL memory and persistent memory appear when they are
 * not (yet) onlined as a NUMA node: a character device whose whole range
 * the CPU maps with mmap, and nothing else (it has no read or write).  The
 * tier maps the device once, MAP_SHARED, into a private window of its own
 * (never a managed range), exactly as emu maps its memfd: a demotion is a
 * memcpy into the window, a fault-back one UFFDIO_COPY from it.  Pages on
 * the tier are absent from the program's page table (HM_TIER_PRIVATE).
 *
 * The device is checked to be device-dax (a character device whose
 * /sys/dev/char/MAJ:MIN/subsystem is .../dax); its size and alignment come
 * from sysfs (size, align; align defaults to 2 MiB).  Device-dax refuses a
 * mapping whose address or length is not a multiple of its alignment, so
 * the window is placed in a larger reservation at an aligned address and
 * its length rounded up to the alignment.  SIZE (default: the whole
 * device) bounds what the tier stores; it may not exceed the device.
 *
 * One process per device: two would hand out the same slots and overwrite
 * each other's pages (a program under hetmem run --tier dax:... that execs
 * another gives it the same HETMEM_TIER).  So the descriptor is kept, with
 * an exclusive flock (a second process's open fails with EBUSY, saying so),
 * until the tier closes; nothing reads or writes through it.  A forked
 * child shares the lock (the same open file; hetmem is off there).  Freed
 * slots are not
 * given back (device memory costs nothing when unused), and the data does
 * not persist across opens: the tier is a cache of the program's pages, not
 * a store of its own.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DAX_DEFAULT_ALIGN (2u << 20)

struct dax {
	int fd;         /* the device, flock'ed; hidden from the program
			 * (fdguard.c: its home for moves) */
	size_t map_len; /* the window's mapped length (a multiple of the alignment) */
	dev_t rdev;     /* the device: two tiers on one would overwrite each other */
};

/* A number from a sysfs attribute (decimal or 0x hex): 0 or -errno. */
static int sysfs_u64(const char *path, uint64_t *v)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char buf[64];
	int rc = fgets(buf, sizeof(buf), f) ? 0 : -EIO;
	fclose(f);
	if (rc)
		return rc;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(buf, &end, 0);
	if (errno || end == buf)
		return -EINVAL;
	*v = x;
	return 0;
}

/* An attribute of the device: /sys/dev/char/MAJ:MIN/@attr, else
 * /sys/bus/dax/devices/NAME/@attr (NAME: the path's last component). */
static int dax_attr(const char *sysdev, const char *path, const char *attr, uint64_t *v)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/%s", sysdev, attr);
	int rc = sysfs_u64(p, v);
	if (rc == 0)
		return 0;
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	snprintf(p, sizeof(p), "/sys/bus/dax/devices/%s/%s", name, attr);
	return sysfs_u64(p, v) == 0 ? 0 : rc;
}

static int dax_open(struct hm_tier *t, const char *args)
{
	struct dax *d = t->priv;
	d->fd = -1;
	char path[PATH_MAX];
	uint64_t size = 0;
	bool have_size = false;
	const char *comma = strchr(args, ',');
	size_t plen = comma ? (size_t)(comma - args) : strlen(args);
	if (plen == 0)
		return hm_error_msg(EINVAL, "tier 'dax:%s': expected dax:/dev/daxX.Y[,size=SIZE]", args);
	if (plen >= sizeof(path))
		return hm_error_msg(EINVAL, "tier 'dax:%s': the path is too long", args);
	memcpy(path, args, plen);
	path[plen] = 0;
	const char *num = NULL;
	if (comma) {
		if (strncmp(comma + 1, "size=", 5))
			return hm_error_msg(EINVAL, "tier 'dax:%s': unknown option '%s' (expected size=SIZE)", args,
					    comma + 1);
		num = comma + 6;
		int rc = hm_parse_size(num, &size);
		if (rc)
			return hm_error_msg(EINVAL, "tier 'dax:%s': size '%s' must be a number with an optional "
						    "K/M/G/T suffix, such as 1G or 1.5G", args, num);
		size &= ~(uint64_t)(HM_PAGE_SIZE - 1);
		if (size == 0)
			return hm_error_msg(EINVAL, "tier 'dax:%s': size %s is less than one 4 KiB page (at least 4K)",
					    args, num);
		have_size = true;
	}

	/* checked before opening: opening a device of another kind may have
	 * effects of its own (a tape rewinds) */
	struct stat st;
	if (stat(path, &st))
		return hm_error(errno, "tier 'dax:%s': cannot open '%s'", args, path);
	if (!S_ISCHR(st.st_mode))
		return hm_error_msg(ENODEV, "tier 'dax:%s': '%s' is not a device-dax device (it is %s, not a character "
					    "device; file:PATH takes a file or block device)", args, path,
				    S_ISREG(st.st_mode) ? "a regular file" : S_ISDIR(st.st_mode) ? "a directory"
					    : S_ISBLK(st.st_mode)                     ? "a block device"
										      : "not a device");
	char sysdev[96], link[PATH_MAX];
	unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);
	snprintf(sysdev, sizeof(sysdev), "/sys/dev/char/%u:%u", maj, min);
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/subsystem", sysdev);
	ssize_t n = readlink(sub, link, sizeof(link) - 1);
	if (n < 0)
		return hm_error_msg(ENODEV, "tier 'dax:%s': '%s' is not a device-dax device (character device %u:%u "
					    "has no %s)", args, path, maj, min, sub);
	link[n] = 0;
	const char *subsys = strrchr(link, '/');
	subsys = subsys ? subsys + 1 : link;
	if (strcmp(subsys, "dax"))
		return hm_error_msg(ENODEV, "tier 'dax:%s': '%s' is not a device-dax device (character device %u:%u "
					    "belongs to '%s', not 'dax')", args, path, maj, min, subsys);

	for (int i = 1; i < HM_MAX_TIERS; i++) {
		struct hm_tier *o = hm_tier_get(i);
		if (o && o->ops == &hm_tier_dax_ops && ((struct dax *)o->priv)->rdev == st.st_rdev)
			return hm_error_msg(EEXIST, "tier 'dax:%s': device '%s' (%u:%u) is tier %d already", args, path,
					    maj, min, i);
	}
	d->rdev = st.st_rdev;

	uint64_t dev_size = 0, align = DAX_DEFAULT_ALIGN;
	int rc = dax_attr(sysdev, path, "size", &dev_size);
	if (rc)
		return hm_error(-rc, "tier 'dax:%s': cannot read the size of '%s' (%s/size)", args, path, sysdev);
	if (dax_attr(sysdev, path, "align", &align) || align == 0)
		align = DAX_DEFAULT_ALIGN;
	if (align & (align - 1) || align < HM_PAGE_SIZE)
		return hm_error_msg(EINVAL, "tier 'dax:%s': '%s' gives an alignment of %llu bytes (%s/align), not a "
					    "power of two of at least 4 KiB", args, path, (unsigned long long)align,
				    sysdev);
	uint64_t usable = dev_size & ~(align - 1);
	if (usable == 0)
		return hm_error_msg(ENOSPC, "tier 'dax:%s': '%s' has %llu bytes, less than its alignment (%llu)", args,
				    path, (unsigned long long)dev_size, (unsigned long long)align);
	if (have_size && size > usable) {
		char a[32], b[32];
		hm_fmt_bytes(a, sizeof(a), size);
		hm_fmt_bytes(b, sizeof(b), usable);
		return hm_error_msg(E2BIG, "tier 'dax:%s': size %s (%s) is more than device '%s' has (%s)", args, num, a,
				    path, b);
	}
	if (!have_size)
		size = usable;
	if ((size >> HM_PAGE_SHIFT) > PW_SLOT_MAX)
		size = (uint64_t)PW_SLOT_MAX << HM_PAGE_SHIFT; /* what a page word can name */
	size_t len = (size_t)((size + align - 1) & ~(align - 1)); /* <= usable */

	hm_fd_begin(); /* out of the program's way (fdguard.c) */
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		fd = hm_fd_hide(fd, &d->fd);
	int en = errno;
	hm_fd_end();
	if (fd < 0)
		return hm_error(en, "tier 'dax:%s': cannot open '%s'", args, path);
	struct stat fst;
	if (fstat(fd, &fst) || !S_ISCHR(fst.st_mode) || fst.st_rdev != st.st_rdev) {
		rc = hm_error_msg(ENODEV, "tier 'dax:%s': '%s' changed between its check and its open", args, path);
		goto err_close;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno == EWOULDBLOCK)
			rc = hm_error_msg(EBUSY, "tier 'dax:%s': device '%s' is in use by another process's tier "
						 "(one process per device-dax device: their pages would overwrite "
						 "each other's)", args, path);
		else
			rc = hm_error(errno, "tier 'dax:%s': cannot lock '%s'", args, path);
		goto err_close;
	}

	/* an aligned window: reserve len + align, map the device over the
	 * aligned part, give back the rest */
	int err = 0;
	char *res = hm_prim_mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0,
				 &err);
	if (res == MAP_FAILED) {
		rc = hm_error(err, "tier 'dax:%s': cannot reserve %zu bytes of address space for the window", args,
			      len + align);
		goto err_close;
	}
	uintptr_t base = ((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1);
	void *w = hm_prim_mmap((void *)base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			       __atomic_load_n(&d->fd, __ATOMIC_ACQUIRE), 0, &err);
	if (w == MAP_FAILED) {
		hm_sys_munmap(res, len + align);
		rc = hm_error(err, "tier 'dax:%s': cannot map '%s' (%zu bytes, alignment %llu)", args, path, len,
			      (unsigned long long)align);
		goto err_close;
	}
	if (base > (uintptr_t)res)
		hm_sys_munmap(res, base - (uintptr_t)res);
	if ((uintptr_t)res + len + align > base + len)
		hm_sys_munmap((void *)(base + len), (uintptr_t)res + len + align - (base + len));
	d->map_len = len;
	t->window = w;
	t->window_len = (size_t)size;
	t->capacity = size;
	return 0;
err_close:
	hm_fd_close(__atomic_load_n(&d->fd, __ATOMIC_ACQUIRE)); /* the lock goes with it */
	d->fd = -1;
	return rc;
}

static void dax_close(struct hm_tier *t)
{
	struct dax *d = t->priv;
	if (t->window)
		hm_sys_munmap(t->window, d->map_len);
	if (d->fd >= 0)
		hm_fd_close(d->fd);
}

/* slot s is byte s * 4 KiB of the device and of the window */
static void *dax_map(struct hm_tier *t, uint64_t slot, size_t npages)
{
	return (char *)t->window + (slot << HM_PAGE_SHIFT);
}

/* device-dax has no read or write: every copy goes through the window */
static int dax_read(struct hm_tier *t, uint64_t slot, void *buf, size_t npages)
{
	memcpy(buf, dax_map(t, slot, npages), npages << HM_PAGE_SHIFT);
	return 0;
}

static int dax_write(struct hm_tier *t, uint64_t slot, const void *buf, size_t npages)
{
	memcpy(dax_map(t, slot, npages), buf, npages << HM_PAGE_SHIFT);
	return 0;
}

const struct hm_tier_ops hm_tier_dax_ops = {
	.kind = "dax",
	.usage = "dax:/dev/daxX.Y[,size=SIZE]",
	.tier_class = HM_TIER_PRIVATE,
	.priv_size = sizeof(struct dax),
	.open = dax_open,
	.close = dax_close,
	.read = dax_read,
	.write = dax_write,
	.map = dax_map,
};
