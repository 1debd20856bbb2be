/*
 * options.c — the HETMEM_* variables of options.def parsed into struct
 * hm_options: hm_options_parse (the ones hm_init reads), then, with struct
 * hm_config, applied at hm_init (hm_config_resolve: hm_g's fields here, the
 * tracker's and the record's by their owners); hm_options_parse_var, one
 * variable, for owners that read theirs at another moment (the preload's
 * constructor and exit, `hetmem run`'s checks, hm_probe_features).  No
 * other file reads a HETMEM_* variable with getenv.  HETMEM_CPUS, hetmem's
 * own threads' CPUs.  Messages and value parsing are os/error.c's.
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


/* ------------------------------------------------------------------------
 * Parsing: HETMEM_* into struct hm_options, from options.def.  Nothing but
 * the struct (and, on a bad value, the error message) is written.
 * ---------------------------------------------------------------------- */

static int parse_bool(const char *var, const char *e, bool *out)
{
	if (strcmp(e, "0") && strcmp(e, "1"))
		return hm_error(EINVAL, "%s='%s': expected 0 or 1", var, e);
	*out = *e == '1';
	return 0;
}

static int parse_demote(const char *var, const char *e, enum hm_demote_mode *out)
{
	if (!strcasecmp(e, "auto"))
		*out = HM_DEMOTE_AUTO;
	else if (!strcasecmp(e, "move"))
		*out = HM_DEMOTE_MOVE;
	else if (!strcasecmp(e, "wp"))
		*out = HM_DEMOTE_WP;
	else
		return hm_error(EINVAL, "%s='%s': expected auto, move or wp", var, e);
	return 0;
}

/* the handler thread, or the faulting thread itself (sigfault.c) */
static int parse_faults(const char *var, const char *e, bool *sigfault)
{
	if (strcmp(e, "handler") && strcmp(e, "signal"))
		return hm_error(EINVAL, "%s='%s': expected handler or signal", var, e);
	*sigfault = !strcmp(e, "signal");
	return 0;
}

static int parse_policy(const char *var, const char *e, const struct hm_policy_ops **out)
{
	*out = hm_policy_find(e);
	char what[128], names[128];
	if (!*out)
		return hm_error_msg(EINVAL, "%s: expected %s", hm_opt_label(var, e, what, sizeof(what)),
				    hm_policy_names(names, sizeof(names), " or "));
	return 0;
}

/* HETMEM_TRACK: a list of mechanisms (track/track.c applies it) */
static int parse_track(const char *var, const char *s, unsigned *out)
{
	unsigned m = 0;
	char buf[128];
	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcasecmp(tok, "auto"))
			m |= HM_TRACK_AUTO;
		else if (!strcasecmp(tok, "none"))
			m |= HM_TRACK_NONE;
		else if (!strcasecmp(tok, "faults"))
			m |= HM_TRACK_FAULTS;
		else if (!strcasecmp(tok, "write"))
			m |= HM_TRACK_WRITE;
		else if (!strcasecmp(tok, "sample"))
			m |= HM_TRACK_SAMPLE;
		else if (!strcasecmp(tok, "all"))
			m |= HM_TRACK_ALL;
		else
			goto bad;
	}
	if ((m & HM_TRACK_NONE) && (m & ~HM_TRACK_NONE))
		goto bad;
	*out = m;
	return 0;
bad:
	return hm_error(EINVAL, "%s='%s': expected auto, none, faults, write, sample, all "
				"or a comma list of faults, write, sample", var, s);
}

/* an integer in @lo..@hi, optionally followed by '%' */
static int parse_pct(const char *var, const char *e, unsigned lo, unsigned hi, const char *unit, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(e, &end, 10);
	if (*end == '%')
		end++;
	if (*end || v < lo || v > hi)
		return hm_error(EINVAL, "%s='%s': expected %u..%u (%s)", var, e, lo, hi, unit);
	*out = (unsigned)v;
	return 0;
}

/* a size of at least @lo; messages name the value as typed (hm_opt_label:
 * "--min-map ..." when hetmem run was given it as an option) */
static int parse_size(const char *var, const char *e, uint64_t lo, const char *lo_s, uint64_t *out)
{
	uint64_t v;
	char what[128];
	if (hm_parse_size(e, &v) || v < lo)
		return hm_error_msg(EINVAL, "%s: expected a size of at least %s", hm_opt_label(var, e, what, sizeof(what)),
				    lo_s);
	*out = v;
	return 0;
}

static int parse_folio(const char *var, const char *e, size_t *out)
{
	uint64_t v;
	char what[128];
	if (hm_parse_size(e, &v) || (v != HM_FOLIO_4K && v != HM_FOLIO_64K && v != HM_FOLIO_2M))
		return hm_error_msg(EINVAL, "%s: expected 4K, 64K or 2M", hm_opt_label(var, e, what, sizeof(what)));
	*out = (size_t)v;
	return 0;
}

/* One HM_OPT of options.def: its default, then its variable if set. */
#define HM_OPT_PARSE_SET(f, VAR, CALL)                                                                          \
	do {                                                                                                    \
		const char *e = getenv(VAR);                                                                    \
		if (e && *e) {                                                                                  \
			int rc = CALL;                                                                          \
			if (rc)                                                                                 \
				return rc;                                                                      \
			o->f##_set = true;                                                                      \
		}                                                                                               \
	} while (0)
#define HM_OPT_PARSE_BOOL(f, VAR, DEF, LO, HI, UNIT)                                                            \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, parse_bool(VAR, e, &o->f))
#define HM_OPT_PARSE_FLAG(f, VAR, DEF, LO, HI, UNIT)                                                            \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, (o->f = *e == '1', 0))
#define HM_OPT_PARSE_UINT(f, VAR, DEF, LO, HI, UNIT)                                                            \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, hm_parse_uint(VAR, e, LO, HI, UNIT, &o->f))
#define HM_OPT_PARSE_PCT(f, VAR, DEF, LO, HI, UNIT)                                                             \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, parse_pct(VAR, e, LO, HI, UNIT, &o->f))
#define HM_OPT_PARSE_SIZE(f, VAR, DEF, LO, HI, UNIT)                                                            \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, parse_size(VAR, e, LO, UNIT, &o->f))
#define HM_OPT_PARSE_FOLIO(f, VAR, DEF, LO, HI, UNIT)                                                           \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, parse_folio(VAR, e, &o->f))
#define HM_OPT_PARSE_PID(f, VAR, DEF, LO, HI, UNIT)                                                             \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, (o->f = atoi(e), 0))
#define HM_OPT_PARSE_DEMOTE(f, VAR, DEF, LO, HI, UNIT)                                                          \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, parse_demote(VAR, e, &o->f))
#define HM_OPT_PARSE_FAULTS(f, VAR, DEF, LO, HI, UNIT)                                                          \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, parse_faults(VAR, e, &o->f))
#define HM_OPT_PARSE_TRACK(f, VAR, DEF, LO, HI, UNIT)                                                           \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, parse_track(VAR, e, &o->f))
#define HM_OPT_PARSE_POLICY(f, VAR, DEF, LO, HI, UNIT)                                                          \
	o->f = DEF;                                                                                             \
	HM_OPT_PARSE_SET(f, VAR, parse_policy(VAR, e, &o->f))
#define HM_OPT_PARSE_CPUS(f, VAR, DEF, LO, HI, UNIT)                                                            \
	CPU_ZERO(&o->f);                                                                                        \
	HM_OPT_PARSE_SET(f, VAR, parse_cpus(e, &o->f))
/* the string itself, even empty (HETMEM_STATS= is an error of its own) */
#define HM_OPT_PARSE_STR(f, VAR, DEF, LO, HI, UNIT)                                                             \
	o->f = getenv(VAR);                                                                                     \
	o->f##_set = o->f && *o->f;

enum { SEC_INIT = 1, SEC_PROBE, SEC_RUN };

/* The rows of section INIT, or (@only) the row of variable @only. */
static int parse(struct hm_options *o, const char *only)
{
	memset(o, 0, sizeof(*o));
	int sec = 0;
	(void)sec;
#define HM_OPT_SECTION(when) sec = SEC_##when;
#define HM_OPT(f, VAR, KIND, DEF, LO, HI, UNIT, ARG, HELP, VALUES, MEANING)                                     \
	if (only ? !strcmp(only, VAR) : sec == SEC_INIT) {                                                      \
		HM_OPT_PARSE_##KIND(f, VAR, DEF, LO, HI, UNIT);                                                 \
	}
#include "options.def"
#undef HM_OPT
	/* block promotion (policy.c): a block with this many fetches in one
	 * window is brought to RAM whole; 0 turns it off, for comparisons */
	if (o->block_promote == 1)
		return hm_error(EINVAL, "HETMEM_BLOCK_PROMOTE=1: a single fetch is no evidence (0 = off, or 2..%u)",
				HM_HEAT_PAGES);
	return 0;
}

int hm_options_parse(struct hm_options *o)
{
	return parse(o, NULL);
}

int hm_options_parse_var(struct hm_options *o, const char *var)
{
	return parse(o, var);
}

/* ------------------------------------------------------------------------
 * Applying: @cfg, then the parsed environment, to the state each subsystem
 * reads (hm_g's fields of the fault path, migration, placement, and
 * hetmem's threads).
 * ---------------------------------------------------------------------- */

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

	struct hm_options o;
	int rc = hm_options_parse(&o);
	if (rc)
		return rc;
	/* placement (place/): the policy, block heat and block promotion */
	hm_g.policy = o.policy;
	hm_g.block_heat = o.block_heat;
	hm_g.block_promote = o.block_promote;
	hm_g.writeback_age_s = o.writeback_age;
	/* hetmem's own threads (os/thread.c's hm_pin_own_thread) */
	hm_g.cpus_set = o.cpus_set;
	hm_g.cpus = o.cpus;
	/* the fault path (fault/): idle polling, signal mode, spinning */
	hm_g.idle_poll = o.idle_poll;
	hm_g.sigfault = o.sigfault;
	hm_g.spin_us = cfg && cfg->spin_us ? (cfg->spin_us == HM_SPIN_OFF ? 0 : cfg->spin_us) : 50;
	if (o.spin_us_set)
		hm_g.spin_us = o.spin_us;
	/* migration (migrate/): demotion and readahead; the environment
	 * overrides @cfg */
	if (o.demote_set)
		hm_g.demote = o.demote;
	if (o.readahead_set)
		hm_g.readahead_max = o.readahead ? o.readahead : HM_READAHEAD_OFF;
	if (hm_g.spin_us > 100000)
		return hm_error(EINVAL, "hm_init: spin_us %u > 100000", hm_g.spin_us);
	if (hm_g.readahead_max != HM_READAHEAD_OFF && hm_g.readahead_max > 64)
		return hm_error(EINVAL, "hm_init: readahead_max %u > 64", hm_g.readahead_max);
	/* the tracker and the record apply their own fields of @o */
	rc = hm_track_config(cfg, &o);
	if (rc)
		return rc;
	return hm_record_env(&o); /* last: it opens the record file */
}
