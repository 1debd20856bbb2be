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

/* Environment variable @name, if set and not empty, as an integer in
 * [@lo, @hi] into *@out; 0, or -EINVAL with a message naming it and the
 * range (in @unit). */
HM_HIDDEN int hm_env_uint(const char *name, unsigned lo, unsigned hi, const char *unit, unsigned *out);
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

/* runenv.c: start hetmem from HETMEM_* (hetmem run, the preload library) */
HM_HIDDEN int hm_env_setup(void);
HM_HIDDEN int hm_env_maps(size_t *folio, size_t *min_map);
HM_HIDDEN void hm_env_default_tier(char *buf, size_t len);
HM_HIDDEN void hm_env_note_emulated(void);
/* Confine the calling hetmem thread to HETMEM_CPUS, if set (options.c). */
HM_HIDDEN void hm_pin_own_thread(void);

#endif
