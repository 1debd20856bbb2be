/*
 * options.h — sizes, HETMEM_* values, configuration (options.c), start-up from
 * the environment (runenv.c).
 */
#ifndef HM_OPTIONS_H
#define HM_OPTIONS_H

#include "common.h"

/* ------------------------------------------------------------------------
 * options.c: sizes, HETMEM_* values, configuration.
 * ---------------------------------------------------------------------- */

/* Variable @name's value @e as an integer in [@lo, @hi] into *@out; 0, or
 * -EINVAL with a message naming it and the range (in @unit). */
HM_HIDDEN int hm_parse_uint(const char *name, const char *e, unsigned lo, unsigned hi, const char *unit,
			    unsigned *out);
/* HETMEM_* variable @var was set from command-line option @opt ("--dram ",
 * "--stats="): messages about it name the option (hm_opt_label). */
HM_HIDDEN void hm_opt_from(const char *var, const char *opt);
HM_HIDDEN bool hm_opt_is_from(const char *var);
/* @var's value @val as the user typed it, in @buf: "--dram 64G" after
 * hm_opt_from, else "HETMEM_DRAM='64G'". */
HM_HIDDEN const char *hm_opt_label(const char *var, const char *val, char *buf, size_t len);
/* Parse a SIZE ("123", "64K", "1.5G", "2MiB", "1tb"): 0 or -EINVAL (overflow:
 * -E2BIG). */
HM_HIDDEN int hm_parse_size(const char *s, uint64_t *out);
HM_HIDDEN int hm_config_resolve(const struct hm_config *cfg);

/* The HETMEM_* variables of options.def, as typed: each field f, its
 * default unless f_set (the variable was set, and not empty).  Filled by
 * hm_options_parse / hm_options_parse_var only; each subsystem applies the
 * fields it owns (options.def names the owner of each group). */
struct hm_options {
#define HM_OPT_FIELD_BOOL(f) bool f, f##_set;
#define HM_OPT_FIELD_FLAG(f) bool f, f##_set;
#define HM_OPT_FIELD_UINT(f) unsigned f; bool f##_set;
#define HM_OPT_FIELD_PCT(f) unsigned f; bool f##_set;
#define HM_OPT_FIELD_SIZE(f) uint64_t f; bool f##_set;
#define HM_OPT_FIELD_FOLIO(f) size_t f; bool f##_set;
#define HM_OPT_FIELD_PID(f) int f; bool f##_set;
#define HM_OPT_FIELD_DEMOTE(f) enum hm_demote_mode f; bool f##_set;
#define HM_OPT_FIELD_FAULTS(f) bool f, f##_set;
#define HM_OPT_FIELD_TRACK(f) unsigned f; bool f##_set;
#define HM_OPT_FIELD_POLICY(f) const struct hm_policy_ops *f; bool f##_set;
#define HM_OPT_FIELD_CPUS(f) cpu_set_t f; bool f##_set;
#define HM_OPT_FIELD_STR(f) const char *f; bool f##_set;
#define HM_OPT(f, VAR, KIND, DEF, LO, HI, UNIT, ARG, HELP, VALUES, MEANING) HM_OPT_FIELD_##KIND(f)
#include "options.def"
#undef HM_OPT
};
/* Read the variables hm_init reads (options.def's INIT rows) into *@o,
 * with no other effect: 0, or -EINVAL with a message naming the variable
 * and the value typed (the first bad one in the table's order). */
HM_HIDDEN int hm_options_parse(struct hm_options *o);
/* The same for the one variable @var (any section), for an owner that
 * reads it at another moment than hm_init (options.def's PROBE and RUN
 * rows); the other fields are zero. */
HM_HIDDEN int hm_options_parse_var(struct hm_options *o, const char *var);

/* runenv.c: start hetmem from HETMEM_* (hetmem run, the preload library) */
HM_HIDDEN int hm_env_setup(void);
HM_HIDDEN int hm_env_maps(size_t *folio, size_t *min_map);
HM_HIDDEN void hm_env_default_tier(char *buf, size_t len, char *why, size_t whylen);
HM_HIDDEN void hm_env_note_emulated(void);
/* Confine the calling hetmem thread to HETMEM_CPUS, if set (options.c). */
HM_HIDDEN void hm_pin_own_thread(void);

#endif
