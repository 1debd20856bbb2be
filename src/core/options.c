/*
 * options.c — the HETMEM_* options and struct hm_config, applied to the
 * subsystems at hm_init (hm_config_resolve); HETMEM_CPUS, hetmem's own
 * threads' CPUs.  Messages and value parsing are os/error.c's.
 */
#include "internal.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
/*
 * HETMEM_CPUS=LIST ("1", "2-3", "0,2-3"): the CPUs hetmem's handler and
 * reclaimer run on.  Kept off the program's CPUs (e.g. `taskset -c 0
 * hetmem run ...` with HETMEM_CPUS=1), a demotion's TLB flush finds the
 * program's CPU idle (lazy TLB) far more often, and the program never waits
 * behind hetmem's threads for its CPU: on the project's 2-vCPU VM, with
 * HETMEM_IDLE_POLL=1, GUPS's skewed phase ran 0.686 and 0.683 M updates/s
 * against 0.387 and 0.480 unpinned, with 13,000 TLB shootdowns against
 * 1.18 million (docs/bench-logs/JOURNAL.md).  Every CPU must exist.
 */
static int parse_cpus(const char *e, cpu_set_t *set)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	const char *p = e;
	CPU_ZERO(set);
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p || a < 0)
			goto bad;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			if (end == p + 1 || b < a)
				goto bad;
			p = end;
		}
		if (b >= ncpu || b >= CPU_SETSIZE)
			return hm_error(EINVAL, "HETMEM_CPUS='%s': CPU %ld does not exist (this machine has %ld)", e, b,
					ncpu);
		for (long c = a; c <= b; c++)
			CPU_SET((int)c, set);
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			goto bad;
	}
	return 0;
bad:
	return hm_error(EINVAL, "HETMEM_CPUS='%s': expected a CPU list such as 1, 2-3 or 0,2-3", e);
}


/* Apply @cfg then the environment to hm_g.  0 or -EINVAL. */
int hm_config_resolve(const struct hm_config *cfg)
{
	/* the caller's struct, of the size it says, as this version's */
	struct hm_config known = {0};
	if (cfg) {
		size_t n = cfg->size ? cfg->size : sizeof(known);
		if (n < sizeof(known.size))
			return hm_error_msg(EINVAL, "hm_init: struct hm_config of %zu bytes is too small", n);
		for (size_t k = sizeof(known); k < n; k++)
			if (((const unsigned char *)cfg)[k])
				return hm_error_msg(ENOTSUP, "hm_init: struct hm_config of %zu bytes sets fields this "
							     "libhetmem (%zu bytes) does not have", n, sizeof(known));
		memcpy(&known, cfg, n < sizeof(known) ? n : sizeof(known));
		cfg = &known;
	}
	hm_g.demote = cfg ? cfg->demote : HM_DEMOTE_AUTO;
	hm_g.readahead_max = cfg && cfg->readahead_max ? cfg->readahead_max : 8;
	hm_g.cfg_flags = cfg ? cfg->flags : 0;
	if (hm_g.demote > HM_DEMOTE_WP)
		return hm_error(EINVAL, "hm_init: bad demote mode %d", (int)hm_g.demote);
	if (hm_g.cfg_flags & ~HM_CFG_NO_FORK_HOME)
		return hm_error(EINVAL, "hm_init: unknown flags 0x%x", hm_g.cfg_flags);

	memset(&hm_g.pctx, 0, sizeof(hm_g.pctx));
	atomic_store(&hm_g.pub_gen, 0);
	atomic_store(&hm_g.pub_hot, 0);
	hm_g.policy = &hm_policy_recency;
	const char *e = getenv("HETMEM_POLICY");
	if (e && *e) {
		hm_g.policy = hm_policy_find(e);
		char what[128], names[128];
		if (!hm_g.policy)
			return hm_error_msg(EINVAL, "%s: expected %s", hm_opt_label("HETMEM_POLICY", e, what, sizeof(what)),
					    hm_policy_names(names, sizeof(names), " or "));
	}
	hm_g.block_heat = true;
	e = getenv("HETMEM_BLOCK_HEAT"); /* for comparisons: 0 ranks by the policy alone */
	if (e && *e) {
		if (strcmp(e, "0") && strcmp(e, "1"))
			return hm_error(EINVAL, "HETMEM_BLOCK_HEAT='%s': expected 0 or 1", e);
		hm_g.block_heat = *e == '1';
	}
	/* block promotion (policy.c): a block with this many fetches in one
	 * window is brought to RAM whole; 0 turns it off, for comparisons */
	hm_g.block_promote = HM_BLOCK_PROMOTE_DEFAULT;
	int rc = hm_env_uint("HETMEM_BLOCK_PROMOTE", 0, HM_HEAT_PAGES, "fetches (0: off)", &hm_g.block_promote);
	if (rc)
		return rc;
	if (hm_g.block_promote == 1)
		return hm_error(EINVAL, "HETMEM_BLOCK_PROMOTE=1: a single fetch is no evidence (0 = off, or 2..%u)",
				HM_HEAT_PAGES);
	/* HETMEM_CPUS=LIST: the CPUs hetmem's own threads run on */
	hm_g.cpus_set = false;
	CPU_ZERO(&hm_g.cpus);
	e = getenv("HETMEM_CPUS");
	if (e && *e) {
		rc = parse_cpus(e, &hm_g.cpus);
		if (rc)
			return rc;
		hm_g.cpus_set = true;
	}
	/* idle CPUs poll instead of halting while hetmem runs (fault.c) */
	hm_g.idle_poll = false;
	e = getenv("HETMEM_IDLE_POLL");
	if (e && *e) {
		if (strcmp(e, "0") && strcmp(e, "1"))
			return hm_error(EINVAL, "HETMEM_IDLE_POLL='%s': expected 0 or 1", e);
		hm_g.idle_poll = *e == '1';
	}
	/* where faults are served: the handler thread, or the faulting thread
	 * itself (sigfault.c) */
	hm_g.sigfault = false;
	e = getenv("HETMEM_FAULTS");
	if (e && *e) {
		if (strcmp(e, "handler") && strcmp(e, "signal"))
			return hm_error(EINVAL, "HETMEM_FAULTS='%s': expected handler or signal", e);
		hm_g.sigfault = !strcmp(e, "signal");
	}
	e = getenv("HETMEM_DEMOTE");
	if (e && *e) {
		if (!strcasecmp(e, "auto"))
			hm_g.demote = HM_DEMOTE_AUTO;
		else if (!strcasecmp(e, "move"))
			hm_g.demote = HM_DEMOTE_MOVE;
		else if (!strcasecmp(e, "wp"))
			hm_g.demote = HM_DEMOTE_WP;
		else
			return hm_error(EINVAL, "HETMEM_DEMOTE='%s': expected auto, move or wp", e);
	}
	e = getenv("HETMEM_READAHEAD");
	if (e && *e) {
		unsigned v = 0;
		rc = hm_env_uint("HETMEM_READAHEAD", 0, 64, "folios", &v);
		if (rc)
			return rc;
		hm_g.readahead_max = v ? v : HM_READAHEAD_OFF;
	}
	hm_g.spin_us = cfg && cfg->spin_us ? (cfg->spin_us == HM_SPIN_OFF ? 0 : cfg->spin_us) : 50;
	rc = hm_env_uint("HETMEM_SPIN_US", 0, 100000, "microseconds", &hm_g.spin_us);
	if (rc)
		return rc;
	if (hm_g.spin_us > 100000)
		return hm_error(EINVAL, "hm_init: spin_us %u > 100000", hm_g.spin_us);
	if (hm_g.readahead_max != HM_READAHEAD_OFF && hm_g.readahead_max > 64)
		return hm_error(EINVAL, "hm_init: readahead_max %u > 64", hm_g.readahead_max);
	rc = hm_track_config(cfg);
	if (rc)
		return rc;
	return hm_record_env(); /* last: it opens the record file */
}
