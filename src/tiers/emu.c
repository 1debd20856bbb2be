/*
 * tiers/emu.c — the emulated device-private pool, "emu:SIZE".
 *
 * Device memory is a memfd of SIZE bytes.  It is never mapped into a managed
 * range: pages there are absent from the process's page table, exactly as
 * pages in GPU VRAM are.  For copies the library maps the memfd once into a
 * private window of its own (like a driver's kernel mapping of VRAM), so a
 * fault-back is a single UFFDIO_COPY from the window.
 */
#include "../internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static int emu_open(struct hm_tier *t, const char *args)
{
	uint64_t size;
	char num[64];
	bool lazy = false;
	const char *comma = strchr(args, ',');
	size_t nlen = comma ? (size_t)(comma - args) : strlen(args);
	if (comma) {
		if (strcmp(comma + 1, "lazy"))
			return hm_error(EINVAL, "tier 'emu:%s': unknown option '%s' (expected emu:SIZE[,lazy])", args, comma + 1);
		lazy = true;
	}
	if (nlen >= sizeof(num))
		return hm_error(EINVAL, "tier 'emu:%s': size is too long", args);
	memcpy(num, args, nlen);
	num[nlen] = 0;
	int rc = hm_parse_size(num, &size);
	if (rc)
		return hm_error(-rc, "tier 'emu:%s': size must be a number with an optional K/M/G/T suffix", args);
	size &= ~(uint64_t)(HM_PAGE_SIZE - 1);
	if (size == 0)
		return hm_error(EINVAL, "tier 'emu:%s': size is zero (at least 4K)", args);
	struct sysinfo si;
	if (sysinfo(&si) == 0) {
		uint64_t limit = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
		if (size > limit)
			return hm_error(E2BIG, "tier 'emu:%s': %llu bytes is more than this machine's RAM + swap (%llu)",
					args, (unsigned long long)size, (unsigned long long)limit);
	}
	hm_fd_begin(); /* out of the program's way (fdguard.c) */
	int fd = memfd_create("hetmem-emu", MFD_CLOEXEC);
	if (fd >= 0)
		fd = hm_fd_hide(fd, &t->fd);
	int e = errno;
	hm_fd_end();
	if (fd < 0)
		return hm_error(e, "tier 'emu:%s': memfd_create failed", args);
	if (ftruncate(fd, (off_t)size)) {
		rc = hm_error(errno, "tier 'emu:%s': cannot size the memfd", args);
		goto err_close;
	}
	int err = 0;
	/* The device's memory is reserved now, as a real device's is: the
	 * window is populated, so copies to and from it never take a minor
	 * fault per page.  ",lazy" leaves it unpopulated: memory is taken as
	 * pages are demoted (what `hetmem run` uses, so start-up stays fast
	 * and an unused capacity costs nothing). */
	void *w = hm_prim_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | (lazy ? MAP_NORESERVE : MAP_POPULATE), fd, 0, &err);
	if (w == MAP_FAILED) {
		rc = hm_error(err, "tier 'emu:%s': cannot map the device window", args);
		goto err_close;
	}
	t->window = w;
	t->capacity = size;
	return 0;
err_close:
	hm_fd_close(fd);
	t->fd = -1;
	return rc;
}

static void emu_close(struct hm_tier *t)
{
	if (t->window)
		hm_sys_munmap(t->window, t->capacity);
	if (t->fd >= 0)
		hm_fd_close(t->fd);
}

static void *emu_map(struct hm_tier *t, uint64_t off, size_t len)
{
	return (char *)t->window + off;
}

static int emu_read(struct hm_tier *t, uint64_t off, void *buf, size_t len)
{
	return hm_prim_pread(t->fd, buf, len, off);
}

static int emu_write(struct hm_tier *t, uint64_t off, const void *buf, size_t len)
{
	return hm_prim_pwrite(t->fd, buf, len, off);
}

const struct hm_tier_ops hm_tier_emu_ops = {
	.kind = "emu",
	.coherent = false,
	.open = emu_open,
	.close = emu_close,
	.read = emu_read,
	.write = emu_write,
	.map = emu_map,
};
