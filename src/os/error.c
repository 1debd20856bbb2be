/*
 * error.c — the bottom of the stack: error messages, and the parsing of the
 * values a user types (sizes, numbers).
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

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static __thread char last_error[256] __attribute__((tls_model("initial-exec")));
static __thread int last_errno __attribute__((tls_model("initial-exec")));  /* the errno of the last message, 0 if none */
static __thread size_t last_len __attribute__((tls_model("initial-exec"))); /* its length before " (strerror)" */

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

int hm_parse_uint(const char *name, const char *e, unsigned lo, unsigned hi, const char *unit, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(e, &end, 10);
	if (*end || v < lo || v > hi)
		return hm_error(EINVAL, "%s='%s': expected %u..%u %s", name, e, lo, hi, unit);
	*out = (unsigned)v;
	return 0;
}


/* @b bytes in binary units ("1.5 GiB") for messages and reports. */
void hm_fmt_bytes(char *buf, size_t n, uint64_t b)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}
