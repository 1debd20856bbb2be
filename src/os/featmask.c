/*
 * featmask.c — HETMEM_MASK_FEATURES: run as if the kernel lacked features.
 *
 * A testing aid.  hetmem chooses a mechanism per kernel feature (UFFDIO_MOVE
 * or write-protect demotion, UFFDIO_POISON or a fence for a lost page,
 * soft-dirty or async write-protect write tracking, ...), and the fallbacks
 * only run on kernels that lack the feature.  HETMEM_MASK_FEATURES takes a
 * comma-separated list of feature names (hm_features' field names: move,
 * poison, wp_async, ...); hm_probe_features applies it to what it detects,
 * so that every user of the answer — hm_init's choice of demotion mode and
 * of the userfaultfd features it asks for, hotness tracking, poisoning,
 * `hetmem info` — sees the kernel with those features missing.  The suite
 * runs its tests of each fallback that way on every kernel.
 *
 * An unknown name is refused (hm_init fails), with the list of known names:
 * a typo must not silently test the feature it meant to mask.  The variable
 * itself is read by hm_probe_features (core/options.def's row, a string:
 * the names are checked here, where they are known).
 */
#include "internal.h"
#include "os/uffd_compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mask_name {
	const char *name;
	uint64_t bits; /* UFFD_FEATURE_* bits it removes */
};

static const struct mask_name names[] = {
	/* write-protect without its refinements: none of them without it */
	{"wp", UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_ASYNC},
	{"wp_unpopulated", UFFD_FEATURE_WP_UNPOPULATED},
	{"wp_async", UFFD_FEATURE_WP_ASYNC},
	{"move", UFFD_FEATURE_MOVE},
	{"poison", UFFD_FEATURE_POISON},
	{"thread_id", UFFD_FEATURE_THREAD_ID},
	{"event_remap", UFFD_FEATURE_EVENT_REMAP},
	{"event_remove", UFFD_FEATURE_EVENT_REMOVE},
	{"event_unmap", UFFD_FEATURE_EVENT_UNMAP},
	{"sigbus", UFFD_FEATURE_SIGBUS},
	{"pagemap_scan", 0},
	{"soft_dirty", 0},
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* What is masked, as given (names separated by commas), for `hetmem info`. */
static char masked[256];

static void known_list(char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = 0;
	for (size_t k = 0; k < NNAMES && off < len; k++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", k ? ", " : "", names[k].name);
}

int hm_features_mask(struct hm_features *f, const char *list)
{
	const char *env = list;
	masked[0] = 0;
	f->masked = masked;
	if (!env || !*env)
		return 0;
	uint64_t bits = 0;
	bool scan = false, sd = false;
	const char *p = env;
	while (*p) {
		size_t n = strcspn(p, ",");
		size_t k;
		for (k = 0; k < NNAMES; k++)
			if (strlen(names[k].name) == n && !strncmp(p, names[k].name, n))
				break;
		if (n && k == NNAMES) {
			char known[256];
			known_list(known, sizeof(known));
			return hm_error(EINVAL, "HETMEM_MASK_FEATURES: unknown feature '%.*s' (known: %s)", (int)n, p,
					known);
		}
		if (n) {
			bits |= names[k].bits;
			scan |= !strcmp(names[k].name, "pagemap_scan");
			sd |= !strcmp(names[k].name, "soft_dirty");
			size_t used = strlen(masked);
			snprintf(masked + used, sizeof(masked) - used, "%s%s", used ? "," : "", names[k].name);
		}
		p += n;
		if (*p == ',')
			p++;
	}
	f->uffd_features &= ~bits;
	uint64_t u = f->uffd_features;
	f->move = f->move && (u & UFFD_FEATURE_MOVE);
	f->wp = f->wp && (u & UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	f->wp_unpopulated = f->wp_unpopulated && (u & UFFD_FEATURE_WP_UNPOPULATED);
	f->wp_async = f->wp_async && (u & UFFD_FEATURE_WP_ASYNC);
	f->poison = f->poison && (u & UFFD_FEATURE_POISON);
	f->thread_id = f->thread_id && (u & UFFD_FEATURE_THREAD_ID);
	f->event_remap = f->event_remap && (u & UFFD_FEATURE_EVENT_REMAP);
	f->event_remove = f->event_remove && (u & UFFD_FEATURE_EVENT_REMOVE);
	f->event_unmap = f->event_unmap && (u & UFFD_FEATURE_EVENT_UNMAP);
	if (scan)
		f->pagemap_scan = false;
	if (sd)
		f->soft_dirty = false;
	return 0;
}
