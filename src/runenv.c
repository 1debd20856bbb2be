/*
 * runenv.c — start hetmem from the environment, the way `hetmem run` and
 * the preload library do:
 *
 *   HETMEM_TIER=SPEC[;SPEC...]  device tiers (hm_tier_add specs); unset: the
 *                               best the machine has (hm_env_default_tier)
 *   HETMEM_DRAM=SIZE            RAM budget of managed memory (hm_budget_set)
 *   HETMEM_POLICY=NAME          placement policy (read by hm_init)
 *   HETMEM_FOLIO=4K|64K|2M      folio size of the mappings the preload manages
 *   HETMEM_MIN_MAP=SIZE         smallest anonymous mapping it manages
 *   HETMEM_STATS=FILE|-         print the counters at exit (- = stderr)
 *
 * `hetmem run` calls hm_env_setup() in its own process to check every
 * setting before it starts the program (a bad one is an error there, not in
 * the program), then sets the variables and execs; the preload library calls
 * it again from its constructor in the program.
 */
#include "internal.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

/* The best device tier this machine has, as a spec, in @buf.  A DAX or
 * persistent-memory device first (the file backend maps it); otherwise the
 * emulated device, sized to the machine's RAM and populated lazily, so it
 * costs only what is demoted to it. */
void hm_env_default_tier(char *buf, size_t len)
{
	static const char *const pats[] = {"/dev/dax*", "/dev/pmem*"};
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		glob_t g;
		if (glob(pats[i], 0, NULL, &g) == 0) {
			for (size_t j = 0; j < g.gl_pathc; j++) {
				if (access(g.gl_pathv[j], R_OK | W_OK) == 0) {
					snprintf(buf, len, "file:%s", g.gl_pathv[j]);
					globfree(&g);
					return;
				}
			}
			globfree(&g);
		}
	}
	struct sysinfo si;
	uint64_t ram = 1ull << 30;
	if (sysinfo(&si) == 0)
		ram = (uint64_t)si.totalram * si.mem_unit;
	snprintf(buf, len, "emu:%lluM,lazy", (unsigned long long)(ram >> 20));
}

/* Parse HETMEM_FOLIO and HETMEM_MIN_MAP.  0 or -EINVAL (hm_error). */
int hm_env_maps(size_t *folio, size_t *min_map)
{
	uint64_t v;
	const char *e = getenv("HETMEM_FOLIO");
	*folio = HM_FOLIO_4K;
	if (e && *e) {
		if (hm_parse_size(e, &v) || (v != HM_FOLIO_4K && v != HM_FOLIO_64K && v != HM_FOLIO_2M))
			return hm_error(EINVAL, "HETMEM_FOLIO='%s': expected 4K, 64K or 2M", e);
		*folio = v;
	}
	e = getenv("HETMEM_MIN_MAP");
	*min_map = 64 << 10;
	if (e && *e) {
		if (hm_parse_size(e, &v) || v < HM_PAGE_SIZE)
			return hm_error(EINVAL, "HETMEM_MIN_MAP='%s': expected a size of at least 4K", e);
		*min_map = v;
	}
	return 0;
}

int hm_env_setup(void)
{
	size_t folio, min_map;
	int rc = hm_env_maps(&folio, &min_map);
	if (rc)
		return rc;
	const char *stats = getenv("HETMEM_STATS");
	if (stats && !*stats)
		return hm_error(EINVAL, "HETMEM_STATS is empty: expected a file name or '-'");
	rc = hm_init(NULL);
	if (rc)
		return rc;
	const char *e = getenv("HETMEM_TIER");
	char def[128];
	if (!e || !*e) {
		hm_env_default_tier(def, sizeof(def));
		e = def;
	}
	char *list = strdup(e), *save = NULL;
	if (!list) {
		rc = hm_error(ENOMEM, "HETMEM_TIER: out of memory");
		goto err;
	}
	for (char *spec = strtok_r(list, ";", &save); spec; spec = strtok_r(NULL, ";", &save)) {
		rc = hm_tier_add(spec);
		if (rc < 0)
			break;
		rc = 0;
	}
	free(list);
	if (rc)
		goto err;
	if (hm_tier_count() < 2) {
		rc = hm_error(EINVAL, "HETMEM_TIER='%s': no device tier", e);
		goto err;
	}
	e = getenv("HETMEM_DRAM");
	if (e && *e) {
		uint64_t bytes;
		rc = hm_parse_size(e, &bytes);
		if (rc) {
			rc = hm_error(EINVAL, "HETMEM_DRAM='%s': expected a size such as 512M or 2G", e);
			goto err;
		}
		rc = hm_budget_set(bytes, 0, 0, 0);
		if (rc)
			goto err;
	}
	return 0;
err:
	{
		/* keep the message: hm_shutdown() may overwrite it */
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", hm_last_error());
		hm_shutdown();
		hm_error_restore(msg);
		return rc;
	}
}
