/*
 * track.h — hotness tracking (track.c) and the heatmap record (record.c).
 */
#ifndef HM_TRACK_H
#define HM_TRACK_H

#include "common.h"
#include "space/space.h"

/* ------------------------------------------------------------------------
 * record.c: samples of residency and hotness for `hetmem heatmap`.
 * ---------------------------------------------------------------------- */
#define HM_RECORD_BUCKETS 256
struct hm_options;
/* Open HETMEM_RECORD, every HETMEM_RECORD_MS, as parsed into @o (at
 * hm_init): 0, or -errno with a message. */
HM_HIDDEN int hm_record_env(const struct hm_options *o);
/* From the reclaimer's loop: append a sample if one is due. */
HM_HIDDEN void hm_record_tick(uint32_t now);

/* ------------------------------------------------------------------------
 * track.c, sample.c, write.c, scan.c: hotness tracking of resident folios
 * (write tracking, hint-fault sampling).  See track.c's header comment.
 * ---------------------------------------------------------------------- */
/* The region layer's client (space.h): samples of pages that go are dropped,
 * those of remapped pages follow them. */
extern HM_HIDDEN const struct hm_space_client hm_track_space;
/* Resolve the tracking settings (@cfg, then the environment as parsed into
 * @o) into the tracker; called by hm_config_resolve.  0 or -EINVAL. */
HM_HIDDEN int hm_track_config(const struct hm_config *cfg, const struct hm_options *o);
/* Choose the mechanisms from the kernel's features (before the userfaultfd
 * is opened): the extra UFFD_FEATURE_* bits to ask for.  0 or -ENOTSUP. */
HM_HIDDEN int hm_track_choose(struct hm_features *f, uint64_t *want);
/* Fill f->track and f->track_write (hm_probe_features); @wpasync_ok:
 * HETMEM_TRACK_WPASYNC=1, as the caller read it. */
HM_HIDDEN void hm_track_describe(struct hm_features *f, enum hm_demote_mode demote, bool wpasync_ok);
/* After the userfaultfd is open: map the hold area.  0 or -errno. */
HM_HIDDEN int hm_track_start(void);
/* Give every sample back and unmap the hold area (hm_shutdown). */
HM_HIDDEN void hm_track_stop(void);
/* How often the reclaimer scans when under budget (ms; 500 unless the
 * HETMEM_TRACK_SCAN_MS test hook says otherwise). */
HM_HIDDEN unsigned hm_track_scan_ms(void);
/* One tracking step from the reclaimer's pass over the regions @rs. */
HM_HIDDEN void hm_track_scan(struct hm_region **rs, size_t n);
/* True if @a lies in the hold area (a fault there is a hole: zero-fill). */
HM_HIDDEN bool hm_track_in_hold(uintptr_t a);
/* Put back every sample covering folio @head of @r (caller holds the folio
 * lock).  0, or -EAGAIN (an event is pending: on the handler thread it is not
 * waited for; the data stays in the hold area), or another -errno. */
HM_HIDDEN int hm_track_restore(struct hm_region *r, size_t head);
/* Pages [i, i+n) of @r are discarded or gone: drop their held copies. */
HM_HIDDEN void hm_track_drop(struct hm_region *r, size_t i, size_t n);
/* A partial mremap moved pages [first, first+n) of @from into @to (at 0). */
HM_HIDDEN void hm_track_remap(struct hm_region *from, size_t first, size_t n, struct hm_region *to);
/* Put back every sample (before fork, at shutdown). */
HM_HIDDEN void hm_track_restore_all(void);
/* Charge one hint fault to the tracker's budget: @ns of the handler's CPU
 * time, plus an estimate of what it cost the faulting thread. */
HM_HIDDEN void hm_track_charge(uint64_t ns);
/* Whether write tracking by async write-protect is in force on this uffd
 * (then sync write-protect cannot guard a demotion: migrate.c). */
HM_HIDDEN bool hm_track_wp_async(void);


#endif
