/*
 * options.c — error messages, size strings and the HETMEM_* options.
 *
 * Every failing action records a message in a thread-local buffer
 * (hm_error()) that hm_last_error() returns, so a caller gets both an errno
 * and a sentence naming what was wrong.
 *
 * Messages about a setting name it as the user typed it (hm_opt_label):
 * `hetmem run` registers the HETMEM_* variables it set from its options
 * (hm_opt_from), so a message says "--dram 64G", and "HETMEM_DRAM='64G'"
 * when the value came from the environment.  hm_error_for_user() turns a
 * library message into one for a user of hetmem run: no API function name
 * in front, no errno text where hetmem's own check refused a value.
 */
#include "internal.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static __thread char last_error[256];
static __thread int last_errno;  /* the errno of the last message, 0 if none */
static __thread size_t last_len; /* its length before " (strerror)" */

/* The message and " (the errno's text)", except for E2BIG, whose text
 * ("Argument list too long") is about exec and fits nothing hetmem says. */
int hm_error(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	last_errno = err;
	last_len = n < 0 ? 0 : (size_t)n < sizeof(last_error) ? (size_t)n : sizeof(last_error) - 1;
	if (err != E2BIG && n >= 0 && (size_t)n < sizeof(last_error) - 32)
		snprintf(last_error + n, sizeof(last_error) - (size_t)n, " (%s)", strerror(err));
	return -err;
}

/* A message that says in words what is wrong with a value: no errno text. */
int hm_error_msg(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	last_errno = 0;
	last_len = strlen(last_error);
	return -err;
}

/* Put back a message saved from hm_last_error(), verbatim. */
void hm_error_restore(const char *msg)
{
	snprintf(last_error, sizeof(last_error), "%s", msg);
	last_errno = 0;
	last_len = strlen(last_error);
}

void hm_error_clear(void)
{
	last_error[0] = 0;
	last_errno = 0;
	last_len = 0;
}

void hm_error_for_user(void)
{
	/* "(Invalid argument)" after a message that says what is invalid */
	if (last_errno == EINVAL && last_len < sizeof(last_error))
		last_error[last_len] = 0;
	last_errno = 0;
	/* "hm_init: ", "hm_budget_set: ": names only a programmer knows */
	size_t k = 0;
	if (!strncmp(last_error, "hm_", 3)) {
		k = 3;
		while ((last_error[k] >= 'a' && last_error[k] <= 'z') || last_error[k] == '_')
			k++;
		k = last_error[k] == ':' && last_error[k + 1] == ' ' ? k + 2 : 0;
	}
	memmove(last_error, last_error + k, strlen(last_error + k) + 1);
	last_len = strlen(last_error);
}

/* The HETMEM_* variables set from an option of this process's command line
 * (`hetmem run`), with the option as it is shown: "--dram ", "--stats=". */
static struct {
	const char *var, *opt;
} opt_from[8];

void hm_opt_from(const char *var, const char *opt)
{
	size_t i = 0;
	while (i < sizeof(opt_from) / sizeof(opt_from[0]) - 1 && opt_from[i].var && strcmp(opt_from[i].var, var))
		i++;
	opt_from[i].var = var;
	opt_from[i].opt = opt;
}

bool hm_opt_is_from(const char *var)
{
	for (size_t i = 0; i < sizeof(opt_from) / sizeof(opt_from[0]) && opt_from[i].var; i++)
		if (!strcmp(opt_from[i].var, var))
			return true;
	return false;
}

const char *hm_opt_label(const char *var, const char *val, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(opt_from) / sizeof(opt_from[0]) && opt_from[i].var; i++) {
		if (!strcmp(opt_from[i].var, var)) {
			snprintf(buf, len, "%s%s", opt_from[i].opt, val);
			return buf;
		}
	}
	snprintf(buf, len, "%s='%s'", var, val);
	return buf;
}

HM_API const char *hm_last_error(void)
{
	return last_error;
}

/*
 * SIZE: a whole or decimal number ("512", "1.5", ".5") and a unit K, M, G or
 * T (powers of 1024) with an optional B or iB, in any case, or B alone, or
 * no unit for bytes.  A fraction is exact (its digits are doubled as
 * decimal digits, one bit of the unit at a time) and rounded down to a
 * whole byte; a fraction of a byte without a unit ("1.5") is refused.
 * 0 and *out, -EINVAL for a malformed string, -E2BIG when it does not fit
 * in 64 bits.
 */
int hm_parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	if (*s == '-' || *s == '+')
		return -EINVAL;
	const char *p = s;
	uint64_t whole = 0;
	bool big = false;
	while (*p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p++ - '0');
		if (whole > (UINT64_MAX - d) / 10)
			big = true;
		else
			whole = whole * 10 + d;
	}
	size_t nwhole = (size_t)(p - s);
	unsigned char frac[64]; /* the fraction's digits, most significant first */
	size_t nfrac = 0;
	bool frac_nonzero = false;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (nfrac == sizeof(frac))
				return -EINVAL;
			frac_nonzero |= *p != '0';
			frac[nfrac++] = (unsigned char)(*p++ - '0');
		}
	}
	if (nwhole + nfrac == 0)
		return -EINVAL;
	unsigned shift = 0;
	switch (*p) {
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	case 't': case 'T': shift = 40; p++; break;
	}
	if (shift && (*p == 'i' || *p == 'I'))
		p++;
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p)
		return -EINVAL;
	if (!shift && frac_nonzero)
		return -EINVAL;
	if (big || (shift && whole > (UINT64_MAX >> shift)))
		return -E2BIG;
	/* floor(0.FRAC * 2^shift): double the decimal fraction @shift times,
	 * each time taking the digit carried out of it as the next bit */
	uint64_t part = 0;
	for (unsigned b = 0; b < shift && frac_nonzero; b++) {
		unsigned carry = 0;
		for (size_t i = nfrac; i-- > 0;) {
			unsigned d = frac[i] * 2u + carry;
			frac[i] = (unsigned char)(d % 10);
			carry = d / 10;
		}
		part = part << 1 | carry;
	}
	uint64_t v = whole << shift;
	if (part > UINT64_MAX - v)
		return -E2BIG;
	*out = v + part;
	return 0;
}

int hm_env_uint(const char *name, unsigned lo, unsigned hi, const char *unit, unsigned *out)
{
	const char *e = getenv(name);
	if (!e || !*e)
		return 0;
	char *end;
	unsigned long v = strtoul(e, &end, 10);
	if (*end || v < lo || v > hi)
		return hm_error(EINVAL, "%s='%s': expected %u..%u %s", name, e, lo, hi, unit);
	*out = (unsigned)v;
	return 0;
}

/*
 * HETMEM_CPUS=LIST ("1", "2-3", "0,2-3"): the CPUs hetmem's handler and
 * reclaimer run on.  Kept off the program's CPUs (e.g. `taskset -c 0
 * hetmem run ...` with HETMEM_CPUS=1), a demotion's TLB flush finds the
 * program's CPU idle (lazy TLB) far more often, and the program never waits
 * behind hetmem's threads for its CPU: on the project's 2-vCPU VM, with
 * HETMEM_IDLE_POLL=1, GUPS's skewed phase ran 0.686 and 0.683 M updates/s
 * against 0.387 and 0.480 unpinned, with 13,000 TLB shootdowns against
 * 1.18 million (docs/BENCHMARKS.md).  Every CPU must exist.
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

void hm_pin_own_thread(void)
{
	if (hm_g.cpus_set)
		sched_setaffinity(0, sizeof(hm_g.cpus), &hm_g.cpus); /* best effort: a cpuset may refuse */
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
