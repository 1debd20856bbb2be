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

/* "Key:   N kB" of /proc/meminfo in bytes, or 0. */
static uint64_t meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	uint64_t v = 0;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtoull(line + kl + 1, NULL, 10) << 10;
	if (f)
		fclose(f);
	return v;
}

/* The best device tier this machine has, as a spec, in @buf.  A DAX or
 * persistent-memory device first (the file backend maps it); otherwise the
 * emulated device.  That one is RAM, so it is sized to what it can hold
 * without taking the machine: the memory available now less the RAM budget
 * (HETMEM_DRAM) the program keeps besides, at least 64 MiB.  It takes
 * memory only for what is demoted to it and gives freed slots back. */
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
	uint64_t avail = meminfo("MemAvailable"), budget = 0;
	if (avail == 0 || avail > ram)
		avail = ram;
	const char *e = getenv("HETMEM_DRAM");
	if (e && *e && hm_parse_size(e, &budget))
		budget = 0; /* hm_env_setup reports the bad value */
	uint64_t size = avail > budget ? avail - budget : 0;
	if (size < (64ull << 20))
		size = 64ull << 20;
	snprintf(buf, len, "emu:%lluM", (unsigned long long)(size >> 20));
}

/* One line on stderr for each emulated tier: what is demoted there is still
 * in RAM, so it saves no memory (`hetmem run` says so at start). */
void hm_env_note_emulated(void)
{
	int n = hm_tier_count();
	for (int id = 1; id < n; id++) {
		struct hm_tier_info ti;
		if (!hm_tier_info(id, &ti) && !strcmp(ti.kind, "emu"))
			fprintf(stderr, "hetmem: tier %s is emulated in RAM: pages demoted there still use RAM; "
					"name a device with --tier (file:PATH, a DAX device) to save memory\n", ti.name);
	}
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
