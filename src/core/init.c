/*
 * init.c — starting and stopping hetmem: hm_probe_features (what the kernel
 * offers), hm_init (the configuration resolved, the demotion mode chosen,
 * then each subsystem started in order: the userfaultfd, the CPU latency
 * request, staging, tracking, signal mode, the handler thread, the fork
 * handlers) and hm_shutdown (every page brought home, then each subsystem
 * stopped in the reverse order).  The top of the stack: it calls every
 * layer, and no layer calls it.
 */
#include "internal.h"
#include "os/uffd_compat.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct pm_scan_arg_compat {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN_COMPAT _IOWR('f', 16, struct pm_scan_arg_compat)

HM_API int hm_probe_features(struct hm_features *f)
{
	if (!f)
		return hm_error(EINVAL, "hm_probe_features: NULL output");
	memset(f, 0, sizeof(*f));
	hm_fd_begin();
	int fd = hm_fd_hide(hm_prim_uffd_open(), NULL);
	hm_fd_end();
	if (fd < 0)
		return hm_error(-fd, "userfaultfd is not available");
	uint64_t feats = 0;
	int rc = hm_prim_uffd_api(fd, 0, &feats, NULL);
	hm_fd_close(fd);
	if (rc)
		return hm_error(-rc, "UFFDIO_API failed");
	f->uffd = true;
	f->uffd_features = feats;
	f->move = feats & UFFD_FEATURE_MOVE;
	f->wp = feats & UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	f->wp_unpopulated = feats & UFFD_FEATURE_WP_UNPOPULATED;
	f->wp_async = feats & UFFD_FEATURE_WP_ASYNC;
	f->poison = feats & UFFD_FEATURE_POISON;
	f->thread_id = feats & UFFD_FEATURE_THREAD_ID;
	f->event_remap = feats & UFFD_FEATURE_EVENT_REMAP;
	f->event_remove = feats & UFFD_FEATURE_EVENT_REMOVE;
	f->event_unmap = feats & UFFD_FEATURE_EVENT_UNMAP;
	int pm = hm_fd_open("/proc/self/pagemap", O_RDONLY, 0, NULL);
	if (pm >= 0) {
		struct pm_scan_arg_compat a = {0}; /* size 0: EINVAL if known */
		f->pagemap_scan = ioctl(pm, PAGEMAP_SCAN_COMPAT, &a) < 0 && errno != ENOTTY;
		/* soft-dirty: a page just written has bit 55 set in pagemap
		 * when the kernel has CONFIG_MEM_SOFT_DIRTY (no clear_refs here:
		 * that would be process-wide) */
		static volatile char probe_page[2 * 4096];
		volatile char *pp = (volatile char *)(((uintptr_t)probe_page + 4095) & ~(uintptr_t)4095);
		pp[0]++;
		uint64_t ent = 0;
		if (pread(pm, &ent, sizeof(ent), (off_t)(((uintptr_t)pp >> HM_PAGE_SHIFT) * 8)) == sizeof(ent))
			f->soft_dirty = (ent >> 55) & 1;
		hm_fd_close(pm);
	}
	/* HETMEM_MASK_FEATURES and HETMEM_TRACK_WPASYNC as they are now: a
	 * probe also runs outside hm_init (`hetmem info`, hm_stats_print);
	 * neither kind of variable is refused by the parser (featmask.c checks
	 * the names) */
	struct hm_options mask, wpasync;
	hm_options_parse_var(&mask, "HETMEM_MASK_FEATURES");
	hm_options_parse_var(&wpasync, "HETMEM_TRACK_WPASYNC");
	rc = hm_features_mask(f, mask.mask_features);
	if (rc)
		return rc;
	f->demote = hm_g.initialised ? hm_g.demote : HM_DEMOTE_AUTO;
	hm_track_describe(f, hm_g.initialised ? hm_g.demote : HM_DEMOTE_AUTO, wpasync.track_wpasync);
	return 0;
}

/*
 * HETMEM_IDLE_POLL=1: hold a CPU latency request of 0 us (PM QoS,
 * /dev/cpu_dma_latency) while hetmem runs, so that idle CPUs poll instead of
 * entering an idle state.  A fault's thread sleeps until the handler, on
 * another CPU, wakes it; where waking a halted CPU is dear (a VM guest
 * whose halt polling is off: `hetmem info`) that wake-up is most of a
 * fault.  The cost: every idle CPU of the machine spins while the request
 * is held, so it is off by default.  Needs root (the device is 0600).  A
 * forked child shares the open file (O_CLOEXEC ends it at an exec): the
 * request lasts until the last of them closes it or exits.
 */
static int idle_poll_start(void)
{
	hm_g.qos_fd = -1;
	if (!hm_g.idle_poll)
		return 0;
	int fd = hm_fd_open("/dev/cpu_dma_latency", O_WRONLY, 0, &hm_g.qos_fd);
	if (fd < 0)
		return hm_error(errno, "HETMEM_IDLE_POLL=1: cannot open /dev/cpu_dma_latency (needs root): %s",
				strerror(errno));
	int32_t us = 0;
	if (write(fd, &us, sizeof(us)) != (ssize_t)sizeof(us)) {
		int e = errno ? errno : EIO;
		hm_fd_close(fd);
		hm_g.qos_fd = -1;
		return hm_error(e, "HETMEM_IDLE_POLL=1: cannot set a CPU latency request: %s", strerror(e));
	}
	return 0;
}

static void idle_poll_stop(void)
{
	if (hm_g.qos_fd >= 0)
		hm_fd_close(hm_g.qos_fd); /* the request ends with the last close */
	hm_g.qos_fd = -1;
}

HM_API int hm_init(const struct hm_config *cfg)
{
	int rc;
	if (hm_g.in_child)
		return hm_error(ENOTSUP, "hm_init: hetmem cannot be started in a forked child of a hetmem process");
	if (atomic_load(&hm_g.initialised))
		return hm_error(EALREADY, "hm_init: hetmem is already initialised");
	rc = hm_config_resolve(cfg);
	if (rc)
		return rc;
	/* the subsystems that keep state per region hear of its changes */
	hm_space_client_add(&hm_place_space);
	hm_space_client_add(&hm_track_space);
	hm_space_client_add(&hm_device_space);
	struct hm_features f;
	rc = hm_probe_features(&f);
	if (rc) {
		if (rc == -EPERM)
			return hm_error(EPERM, "hm_init: userfaultfd is not permitted (run as root or set vm.unprivileged_userfaultfd=1)");
		return rc;
	}
	if (hm_g.demote == HM_DEMOTE_MOVE && !f.move)
		return hm_error(ENOTSUP, "hm_init: demote mode 'move' needs UFFDIO_MOVE (Linux >= 6.8)");
	if (hm_g.demote == HM_DEMOTE_WP && !f.wp)
		return hm_error(ENOTSUP, "hm_init: demote mode 'wp' needs userfaultfd write-protect");
	if (hm_g.demote == HM_DEMOTE_AUTO) {
		if (f.move)
			hm_g.demote = HM_DEMOTE_MOVE;
		else if (f.wp)
			hm_g.demote = HM_DEMOTE_WP;
		else
			return hm_error(ENOTSUP, "hm_init: the kernel has neither UFFDIO_MOVE nor write-protect: "
						 "demotion could lose concurrent writes");
	}
	f.demote = hm_g.demote;
	if (hm_g.sigfault) {
		if (!(f.uffd_features & UFFD_FEATURE_SIGBUS))
			return hm_error(ENOTSUP, "hm_init: HETMEM_FAULTS=signal needs UFFD_FEATURE_SIGBUS (Linux >= 4.14)");
		if (hm_g.demote != HM_DEMOTE_MOVE)
			return hm_error(ENOTSUP, "hm_init: HETMEM_FAULTS=signal needs demote mode 'move' "
						 "(UFFDIO_MOVE, Linux >= 6.8): a write-protect fault would raise SIGBUS too");
		/* no write-protect at all: a write-protect fault would raise
		 * SIGBUS as well (so no write tracking by async write-protect) */
		f.wp = f.wp_async = f.wp_unpopulated = false;
		f.uffd_features &= ~(uint64_t)(UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_ASYNC |
					       UFFD_FEATURE_WP_UNPOPULATED);
	}
	uint64_t track_want = 0;
	rc = hm_track_choose(&f, &track_want);
	if (rc)
		return rc;
	uint64_t want = (f.uffd_features & (UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |
					   UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_THREAD_ID |
					   UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_POISON |
					   UFFD_FEATURE_MOVE | track_want)) |
			(hm_g.sigfault ? UFFD_FEATURE_SIGBUS : 0);
	rc = hm_fault_open(want, &f);
	if (rc)
		return rc;
	rc = idle_poll_start();
	if (rc)
		goto err_efd;
	rc = hm_staging_init();
	if (rc)
		goto err_qos;
	rc = hm_track_start();
	if (rc)
		goto err_staging;
	rc = hm_sigfault_start();
	if (rc)
		goto err_track;
	rc = hm_fault_start();
	if (rc)
		goto err_sig;
	hm_g.ntiers = 1;
	hm_fork_install();
	atomic_store(&hm_g.initialised, true);
	hm_error_clear();
	return 0;

err_sig:
	hm_sigfault_stop();
err_track:
	hm_track_stop();
err_staging:
	hm_staging_fini();
err_qos:
	idle_poll_stop();
err_efd:
	hm_fault_close();
	return rc;
}

/* Bring every page of @r home for hm_shutdown().  A transient error that
 * outlasts the retries (EAGAIN) leaves a page on its tier: try again for a
 * while, then poison what still did not come home, since once the range is
 * unregistered such a page would silently read as zeros. */
static void shutdown_home(struct hm_region *r)
{
	size_t fp = region_folio_pages(r);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		hm_migrate_region(r, 0, r->npages, 0, NULL, HM_MIG_WAIT);
		bool left = false;
		for (size_t k = 0; k < r->npages && !left; k++)
			left = pw_loc(atomic_load(&r->words[k])) == HM_LOC_TIER;
		if (!left)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 2) /* not transient after all */
			break;
		usleep(1000);
	}
	for (size_t head = 0; head < r->npages; head += fp) {
		hm_folio_lock(r, head);
		for (size_t k = head; k < head + fp; k++)
			if (pw_loc(atomic_load(&r->words[k])) == HM_LOC_TIER)
				hm_folio_poison(r, k, 1);
		hm_folio_unlock(r, head);
	}
}

HM_API int hm_shutdown(void)
{
	if (!atomic_load(&hm_g.initialised))
		return 0;
	uint64_t poisoned_before = atomic_load(&hm_cnt.poisoned);
	hm_reclaim_stop();
	/* samples back in place (the tracker runs in the reclaimer's scans,
	 * so no new one is taken now) */
	hm_track_restore_all();
	/* bring every page home while the handler still serves faults */
	size_t n;
	struct hm_region **rs = hm_regions_snapshot(&n);
	for (size_t i = 0; rs && i < n; i++) {
		shutdown_home(rs[i]);
		hm_region_put(rs[i]);
	}
	free(rs);
	hm_devices_close_all();
	/* unregister while the handler still runs: nothing may wait on it */
	hm_regions_shutdown();
	hm_poison_stop(); /* its fences' events are read by the handler */
	hm_track_stop();
	hm_staging_fini();
	hm_sigfault_stop();
	hm_fault_stop();
	hm_poison_stop(); /* one asked for since: no region left, nothing to map */
	hm_tiers_close_all();
	idle_poll_stop();
	hm_fault_close();
	atomic_store(&hm_g.initialised, false);
	if (atomic_load(&hm_cnt.poisoned) != poisoned_before)
		return hm_error(EIO, "hm_shutdown: some pages could not be read back and are poisoned");
	return 0;
}
