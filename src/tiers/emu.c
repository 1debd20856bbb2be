/*
 * tiers/emu.c — the emulated device-private pool, "emu:SIZE".
 *
 * Device memory is a memfd of SIZE bytes.  It is never mapped into a managed
 * range: pages there are absent from the process's page table, exactly as
 * pages in GPU VRAM are.  For copies the library maps the memfd once into a
 * private window of its own (like a driver's kernel mapping of VRAM), so a
 * fault-back is a single UFFDIO_COPY from the window.
 *
 * The pool is RAM: a page demoted here still uses a page of memory (in
 * RssShmem), so the memfd takes memory only as pages are demoted to it and
 * gives back the memory of freed slots (ops->release punches them out of the
 * memfd, which also drops them from the window).  Its footprint is what is
 * stored, never its SIZE: SIZE only bounds it.  ",lazy" is accepted and
 * means the same (the pool used to be filled up front without it).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

struct emu {
	int fd; /* the memfd, hidden from the program (fdguard.c); the first
		 * field: the shared fd ops (fdtier.c) and
		 * tests/unit/test_slots.c read it */
};
_Static_assert(offsetof(struct emu, fd) == 0, "the fd ops (fdtier.c) read the fd at t->priv");

static int emu_open(struct hm_tier *t, const char *args)
{
	struct emu *e = t->priv;
	e->fd = -1;
	uint64_t size;
	char num[64];
	const char *comma = strchr(args, ',');
	size_t nlen = comma ? (size_t)(comma - args) : strlen(args);
	if (comma) {
		if (strcmp(comma + 1, "lazy"))
			return hm_error(EINVAL, "tier 'emu:%s': unknown option '%s' (expected emu:SIZE[,lazy])", args, comma + 1);
	}
	if (nlen >= sizeof(num))
		return hm_error(EINVAL, "tier 'emu:%s': size is too long", args);
	memcpy(num, args, nlen);
	num[nlen] = 0;
	int rc = hm_parse_size(num, &size);
	if (rc)
		return hm_error(-rc, "tier 'emu:%s': size must be a number with an optional K/M/G/T suffix, such as 1G or 1.5G", args);
	size &= ~(uint64_t)(HM_PAGE_SIZE - 1);
	if (size == 0)
		return hm_error(EINVAL, "tier 'emu:%s': %s is less than one 4 KiB page (at least 4K)", args, num);
	struct sysinfo si;
	if (sysinfo(&si) == 0) {
		uint64_t limit = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
		char lim[32];
		hm_fmt_bytes(lim, sizeof(lim), limit);
		if (size > limit)
			return hm_error(E2BIG, "tier 'emu:%s': %s is more than this machine's RAM + swap (%s)", args, num,
					lim);
	}
	hm_fd_begin(); /* out of the program's way (fdguard.c) */
	int fd = memfd_create("hetmem-emu", MFD_CLOEXEC);
	if (fd >= 0)
		fd = hm_fd_hide(fd, &e->fd);
	int en = errno;
	hm_fd_end();
	if (fd < 0)
		return hm_error(en, "tier 'emu:%s': memfd_create failed", args);
	if (ftruncate(fd, (off_t)size)) {
		rc = hm_error(errno, "tier 'emu:%s': cannot size the memfd", args);
		goto err_close;
	}
	int err = 0;
	/* Not populated: filling SIZE up front would take that much RAM for
	 * nothing (and again in every process that opens the tier), and
	 * released slots would be emptied again anyway.  A demotion's copy
	 * takes the page, a fault-back's free gives it back. */
	void *w = hm_prim_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0, &err);
	if (w == MAP_FAILED) {
		rc = hm_error(err, "tier 'emu:%s': cannot map the device window", args);
		goto err_close;
	}
	t->window = w;
	t->window_len = size;
	t->capacity = size;
	return 0;
err_close:
	hm_fd_close(fd);
	e->fd = -1;
	return rc;
}

static void emu_close(struct hm_tier *t)
{
	struct emu *e = t->priv;
	if (t->window)
		hm_sys_munmap(t->window, t->window_len);
	if (e->fd >= 0)
		hm_fd_close(e->fd);
}

/* slot s is byte s * 4 KiB of the memfd and of the window */
static void *emu_map(struct hm_tier *t, uint64_t slot, size_t npages)
{
	return (char *)t->window + (slot << HM_PAGE_SHIFT);
}

/* A write of a run whose storage the memfd already has is a copy into the
 * window.  Storage it does not have (never written, or released: punched
 * out) is written with pwrite: a copy into the window would take a page
 * fault for each 4 KiB page, and each fault allocates a page, zeroes it and
 * maps it into the window (whose entries a later release must flush again);
 * pwrite allocates without zeroing and maps nothing.  For a 2 MiB folio
 * into released storage that doubled demotion's bandwidth (bench_fault).
 * One page is always copied: a residency check would cost it a system call
 * as well. */
#define EMU_CHECK_MAX 512 /* pages a residency check looks at (2 MiB) */
static int emu_write(struct hm_tier *t, uint64_t slot, const void *buf, size_t npages)
{
	char *w = (char *)t->window + (slot << HM_PAGE_SHIFT);
	if (npages > 1) {
		unsigned char vec[EMU_CHECK_MAX];
		for (size_t k = 0; k < npages; k += EMU_CHECK_MAX) {
			size_t n = npages - k < EMU_CHECK_MAX ? npages - k : EMU_CHECK_MAX;
			if (mincore(w + (k << HM_PAGE_SHIFT), n << HM_PAGE_SHIFT, vec))
				return hm_tier_fd_write(t, slot, buf, npages);
			for (size_t j = 0; j < n; j++)
				if (!(vec[j] & 1))
					return hm_tier_fd_write(t, slot, buf, npages);
		}
	}
	int rc = hm_prim_inject(HM_SITE_TIER_WRITE); /* a copy makes no system call */
	if (!rc)
		memcpy(w, buf, npages << HM_PAGE_SHIFT);
	return rc;
}

/* the emulated device reaches its memory where the window maps it */
static int emu_device_addr(struct hm_tier *t, uint64_t slot, uint64_t *addr)
{
	*addr = (uint64_t)(uintptr_t)emu_map(t, slot, 1);
	return 0;
}

const struct hm_tier_ops hm_tier_emu_ops = {
	.kind = "emu",
	.usage = "emu:SIZE[,lazy]",
	.tier_class = HM_TIER_PRIVATE,
	.priv_size = sizeof(struct emu),
	.open = emu_open,
	.close = emu_close,
	.read = hm_tier_fd_read,
	.write = emu_write,
	.map = emu_map,
	.release = hm_tier_fd_release, /* punched: the pages leave the window too */
	.device_addr = emu_device_addr,
};
