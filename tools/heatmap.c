/*
 * heatmap.c — `hetmem heatmap RECORD -o OUT.{png,svg,pdf}`: draws a record
 * written by hm_record_start / HETMEM_RECORD (format 2: src/track/record.c) as two
 * pictures over time (x) and address (y): where each address range is (never
 * populated, in RAM, on each device tier, or not managed at that time), and
 * the policy's mean access count of its populated folios.
 *
 * Any number of regions: every region of the record shares one address
 * axis, on which only the address ranges that were populated at some time
 * are drawn (--all: every managed range) and the gaps between them are cut
 * out; a thin line marks each cut.  --list lists the regions, --region picks
 * some (by number, or by address range).
 *
 * The record is read twice and never held in memory: the first pass checks
 * every line (a malformed one is reported with its number and nothing is
 * drawn) and collects the regions, the tiers, the sample times and which
 * buckets were ever populated; that gives the address axis and a grid of at
 * most MAX_COLS time columns by NROWS address rows.  The second pass adds
 * each sample's buckets into the grid cells they overlap (weighted by bytes;
 * several samples falling into one column are averaged), and each cell's
 * colour is the byte-weighted mix of its states' colours.  The grid goes to
 * gnuplot (Debian: gnuplot-nox) as image data, through a script in a private
 * temporary directory; the picture is written there, its format checked by
 * its first bytes, and only then copied to OUT, so that a failure writes
 * nothing.  The format comes from OUT's extension, checked before anything
 * else.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_NB 256
#define MAX_TIERS 16
#define MAX_COLS 1000
#define NROWS 800

struct region {
	unsigned long base;
	unsigned long long size, folio;
	int nb;
	bool pick;                 /* selected by --region */
	double first, last;        /* seconds: first and last sample with it */
	unsigned peak_ram, peak_dev; /* per mille of the region, the most seen */
	uint8_t touched[MAX_NB / 8]; /* bucket ever populated (RAM or a tier) */
};

/* an address range on the axis: [start, end) drawn from axis offset off */
struct seg {
	unsigned long start, end;
	double off;
};

struct format {
	const char *ext, *term, *magic;
	size_t mlen, moff; /* magic expected within the first moff + mlen bytes */
};

static const struct format formats[] = {
	{".png", "pngcairo size 1400,1000 font ',10'", "\x89PNG\r\n\x1a\n", 8, 0},
	{".svg", "svg size 1400,1000 font 'sans,10' background rgb 'white'", "<svg", 4, 1024},
	{".pdf", "pdfcairo size 29.7cm,21cm font ',8'", "%PDF-", 5, 0},
};

struct record {
	const char *path;
	struct region *reg;
	int nreg, capreg;
	int *hash; /* open addressing over reg, -1 empty; size hcap */
	size_t hcap;
	char tier_name[MAX_TIERS][80];
	bool tier_used[MAX_TIERS];
	size_t ns;
	double t0, tlast;
	char policy[32];
	unsigned long long budget;
	unsigned interval_ms;
	/* the axis, and the grid (second pass) */
	struct seg *seg;
	size_t nseg;
	double total;  /* bytes on the axis */
	int ncols;
	double dt;     /* seconds per column */
	int tslot[MAX_TIERS], ntslot; /* tier id -> its slot in dev */
	float *cov, *untouched, *ram, *pop, *hot, *dev;
	int *colsamples;
};

static int bad(const struct record *rc, size_t line, const char *what)
{
	fprintf(stderr, "hetmem heatmap: %s:%zu: %s\n", rc->path, line, what);
	return -1;
}

static size_t hslot(unsigned long base, unsigned long long size, size_t cap)
{
	uint64_t h = (base >> 12) * 0x9e3779b97f4a7c15ull ^ size * 0xc2b2ae3d27d4eb4full;
	return (size_t)(h >> 17) & (cap - 1);
}

/* the region with this base, size and folio size, or -1 */
static int find_region(const struct record *rc, unsigned long base, unsigned long long size,
		       unsigned long long folio)
{
	if (!rc->hcap)
		return -1;
	for (size_t i = hslot(base, size, rc->hcap);; i = (i + 1) & (rc->hcap - 1)) {
		int k = rc->hash[i];
		if (k < 0)
			return -1;
		if (rc->reg[k].base == base && rc->reg[k].size == size && rc->reg[k].folio == folio)
			return k;
	}
}

static int add_region(struct record *rc, const struct region *r)
{
	if (rc->nreg == rc->capreg) {
		int nc = rc->capreg ? rc->capreg * 2 : 64;
		struct region *n = realloc(rc->reg, (size_t)nc * sizeof(*n));
		if (!n)
			return -1;
		rc->reg = n;
		rc->capreg = nc;
	}
	if ((size_t)(rc->nreg + 1) * 2 > rc->hcap) {
		size_t nc = rc->hcap ? rc->hcap * 2 : 256;
		int *h = malloc(nc * sizeof(int));
		if (!h)
			return -1;
		memset(h, 0xff, nc * sizeof(int));
		free(rc->hash);
		rc->hash = h;
		rc->hcap = nc;
		for (int k = 0; k < rc->nreg; k++) {
			size_t i = hslot(rc->reg[k].base, rc->reg[k].size, nc);
			while (h[i] >= 0)
				i = (i + 1) & (nc - 1);
			h[i] = k;
		}
	}
	size_t i = hslot(r->base, r->size, rc->hcap);
	while (rc->hash[i] >= 0)
		i = (i + 1) & (rc->hcap - 1);
	rc->hash[i] = rc->nreg;
	rc->reg[rc->nreg++] = *r;
	return rc->nreg - 1;
}

/* first address of bucket b of r (the writer puts folio f in bucket
 * f * nb / nf) */
static unsigned long bucket_start(const struct region *r, int b)
{
	unsigned long long nf = r->size / r->folio;
	unsigned long long f = ((unsigned long long)b * nf + (unsigned long long)r->nb - 1) / (unsigned long long)r->nb;
	return r->base + (unsigned long)(f * r->folio);
}

/* Parse NB values after p into v, each 0..maxv (0: no bound). */
static int parse_values(char *p, int nb, long maxv, long *v)
{
	for (int i = 0; i < nb; i++) {
		char *end;
		errno = 0;
		long x = strtol(p, &end, 10);
		if (end == p || errno || x < 0 || x > 100000000 || (maxv && x > maxv))
			return -1;
		v[i] = x;
		p = end;
	}
	while (*p == ' ')
		p++;
	return *p ? -1 : 0;
}

/* One region's values in one sample, complete when the next region or
 * sample line (or the end) comes. */
struct cur {
	int reg;         /* -1: none open */
	bool have_r, have_h, have_n;
	uint32_t have_d; /* bit per tier */
	long r[MAX_NB], n[MAX_NB], h[MAX_NB], dsum[MAX_NB];
	long d[MAX_TIERS][MAX_NB];
	double t;        /* the sample's time */
	size_t line;     /* of the region line */
};

static void accumulate(struct record *rc, const struct cur *c);
static int column_of(const struct record *rc, double t);

/* the current region's values are complete: check them, then (pass 1)
 * note what was populated or (pass 2) add them to the grid */
static int close_region(struct record *rc, struct cur *c, int pass)
{
	if (c->reg < 0)
		return 0;
	struct region *r = &rc->reg[c->reg];
	if (!c->have_r || !c->have_h)
		return bad(rc, c->line, "a region line without its r and h lines");
	unsigned long long ram = 0, dev = 0;
	for (int b = 0; b < r->nb; b++) {
		if (c->r[b] + c->dsum[b] + (c->have_n ? c->n[b] : 0) > 1000)
			return bad(rc, c->line, "a bucket's r, d and n values add up to more than 1000");
		if (c->r[b] + c->dsum[b])
			r->touched[b / 8] |= (uint8_t)(1u << (b % 8));
		ram += (unsigned long long)c->r[b];
		dev += (unsigned long long)c->dsum[b];
	}
	if (pass == 1) {
		if (ram / (unsigned)r->nb > r->peak_ram)
			r->peak_ram = (unsigned)(ram / (unsigned)r->nb);
		if (dev / (unsigned)r->nb > r->peak_dev)
			r->peak_dev = (unsigned)(dev / (unsigned)r->nb);
		r->last = c->t;
	} else if (r->pick) {
		accumulate(rc, c);
	}
	c->reg = -1;
	return 0;
}

/* Read the record; pass 1 checks it and collects, pass 2 fills the grid. */
static int read_record(struct record *rc, int pass)
{
	FILE *f = fopen(rc->path, "re");
	if (!f) {
		fprintf(stderr, "hetmem heatmap: cannot open %s: %s\n", rc->path, strerror(errno));
		return -1;
	}
	struct cur *c = calloc(1, sizeof(*c));
	char *line = NULL;
	size_t cap = 0, ln = 0, ns = 0;
	ssize_t n;
	int rcode = -1;
	if (!c) {
		fprintf(stderr, "hetmem heatmap: out of memory\n");
		goto out;
	}
	c->reg = -1;
	while ((n = getline(&line, &cap, f)) > 0) {
		ln++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (ln == 1) {
			if (!strcmp(line, "hetmem-record 1")) {
				bad(rc, ln, "a version 1 record (written by an older hetmem), which does not tell memory on a "
					    "device from memory never touched: record it again with this hetmem (version 2)");
				goto out;
			}
			if (strcmp(line, "hetmem-record 2")) {
				bad(rc, ln, "not a hetmem record (the first line must be 'hetmem-record 2')");
				goto out;
			}
			continue;
		}
		if (!line[0] || line[0] == '#')
			continue;
		if (!strncmp(line, "interval_ms ", 12)) {
			if (sscanf(line + 12, "%u", &rc->interval_ms) != 1) {
				bad(rc, ln, "bad interval_ms line");
				goto out;
			}
		} else if (!strncmp(line, "sample ", 7)) {
			unsigned t;
			unsigned long long res, bud;
			char pol[32];
			if (close_region(rc, c, pass))
				goto out;
			if (sscanf(line + 7, "%u %llu %llu %31s", &t, &res, &bud, pol) != 4) {
				bad(rc, ln, "bad sample line (expected: sample T_MS RESIDENT BUDGET POLICY)");
				goto out;
			}
			if (ns && t / 1000.0 < c->t) {
				bad(rc, ln, "sample time goes backwards");
				goto out;
			}
			c->t = t / 1000.0;
			if (!ns)
				rc->t0 = c->t;
			rc->tlast = c->t;
			rc->budget = bud;
			if (pass == 2) /* samples per column, for averaging */
				rc->colsamples[column_of(rc, c->t)]++;
			snprintf(rc->policy, sizeof(rc->policy), "%s", pol);
			ns++;
		} else if (!strncmp(line, "tier ", 5)) {
			int id, off = 0;
			if (sscanf(line + 5, "%d %n", &id, &off) != 1 || id < 1 || id >= MAX_TIERS || !off) {
				bad(rc, ln, "bad tier line (expected: tier ID NAME, ID 1..15)");
				goto out;
			}
			snprintf(rc->tier_name[id], sizeof(rc->tier_name[id]), "%s", line + 5 + off);
		} else if (!strncmp(line, "region ", 7)) {
			struct region r = {0};
			if (close_region(rc, c, pass))
				goto out;
			if (!ns) {
				bad(rc, ln, "region line before any sample line");
				goto out;
			}
			if (sscanf(line + 7, "%lx %llu %llu %d", &r.base, &r.size, &r.folio, &r.nb) != 4 || r.nb < 1 ||
			    r.nb > MAX_NB || !r.size || !r.folio || r.size % r.folio || r.size / r.folio < (unsigned)r.nb ||
			    r.base + r.size < r.base) {
				bad(rc, ln, "bad region line (expected: region BASE SIZE FOLIO NB, NB 1..256 and at most "
					    "SIZE/FOLIO)");
				goto out;
			}
			int i = find_region(rc, r.base, r.size, r.folio);
			if (i >= 0 && rc->reg[i].nb != r.nb) {
				bad(rc, ln, "a region changed its number of buckets");
				goto out;
			}
			if (i < 0) {
				if (pass == 2) { /* the file changed between the passes */
					bad(rc, ln, "the record changed while it was being read");
					goto out;
				}
				r.first = c->t;
				r.pick = true;
				if ((i = add_region(rc, &r)) < 0) {
					bad(rc, ln, "out of memory");
					goto out;
				}
			}
			c->reg = i;
			c->line = ln;
			c->have_r = c->have_h = c->have_n = false;
			c->have_d = 0;
			memset(c->dsum, 0, sizeof(c->dsum));
		} else if ((line[0] == 'r' || line[0] == 'h' || line[0] == 'd' || line[0] == 'n') && line[1] == ' ') {
			char *end;
			unsigned long base = strtoul(line + 2, &end, 16);
			if (c->reg < 0 || rc->reg[c->reg].base != base) {
				bad(rc, ln, "values for a region with no region line just before");
				goto out;
			}
			int nb = rc->reg[c->reg].nb, tier = 0;
			long *v;
			bool *seen = NULL;
			if (line[0] == 'd') {
				char *e2;
				long t = strtol(end, &e2, 10);
				if (e2 == end || t < 1 || t >= MAX_TIERS) {
					bad(rc, ln, "bad d line (expected: d BASE TIER V1 .. VNB, TIER 1..15)");
					goto out;
				}
				tier = (int)t;
				end = e2;
				if (c->have_d & (1u << tier)) {
					bad(rc, ln, "values given twice for one region in one sample");
					goto out;
				}
				c->have_d |= 1u << tier;
				v = c->d[tier];
			} else {
				seen = line[0] == 'r' ? &c->have_r : line[0] == 'h' ? &c->have_h : &c->have_n;
				v = line[0] == 'r' ? c->r : line[0] == 'h' ? c->h : c->n;
				if (*seen) {
					bad(rc, ln, "values given twice for one region in one sample");
					goto out;
				}
				*seen = true;
			}
			if (parse_values(end, nb, line[0] == 'h' ? 0 : 1000, v)) {
				bad(rc, ln, line[0] == 'h' ? "expected NB non-negative counts" : "expected NB per-mille values (0..1000)");
				goto out;
			}
			if (line[0] == 'd') {
				rc->tier_used[tier] = true;
				for (int b = 0; b < nb; b++)
					c->dsum[b] += v[b];
			}
		} else {
			bad(rc, ln, "unknown line (expected sample, tier, region, r, d, n, h or a # comment)");
			goto out;
		}
	}
	if (close_region(rc, c, pass))
		goto out;
	if (ln == 0) {
		fprintf(stderr, "hetmem heatmap: %s is empty\n", rc->path);
		goto out;
	}
	if (pass == 1 && (ns < 2 || !rc->nreg)) {
		fprintf(stderr, "hetmem heatmap: %s has %zu sample(s) and %d region(s): at least 2 samples of a region are "
				"needed (samples are taken only while a budget is set)\n",
			rc->path, ns, rc->nreg);
		goto out;
	}
	if (pass == 2 && ns != rc->ns) {
		fprintf(stderr, "hetmem heatmap: %s changed while it was being read\n", rc->path);
		goto out;
	}
	rc->ns = ns;
	rcode = 0;
out:
	free(c);
	free(line);
	fclose(f);
	return rcode;
}

/* --region LIST: numbers (as --list shows them), N-M, or 0xA-0xB address
 * ranges, separated by commas; an address range picks the regions that
 * overlap it and cuts the axis to it */
struct arange {
	unsigned long lo, hi;
};

static int pick_regions(struct record *rc, const char *spec, struct arange **ar, size_t *nar)
{
	for (int i = 0; i < rc->nreg; i++)
		rc->reg[i].pick = false;
	char *s = strdup(spec), *save = NULL;
	if (!s)
		return -1;
	int rcode = -1;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end, *dash = strchr(tok, '-');
		if (!strncmp(tok, "0x", 2) || !strncmp(tok, "0X", 2)) {
			unsigned long lo = strtoul(tok, &end, 16), hi;
			if (end != dash || !dash || (hi = strtoul(dash + 1, &end, 16), *end) || hi <= lo) {
				fprintf(stderr, "hetmem heatmap: --region '%s': an address range is 0xSTART-0xEND (END above START)\n", tok);
				goto out;
			}
			struct arange *n = realloc(*ar, (*nar + 1) * sizeof(**ar));
			if (!n)
				goto out;
			*ar = n;
			n[(*nar)++] = (struct arange){lo, hi};
			for (int i = 0; i < rc->nreg; i++)
				if (rc->reg[i].base < hi && rc->reg[i].base + rc->reg[i].size > lo)
					rc->reg[i].pick = true;
			continue;
		}
		long a = strtol(tok, &end, 10), b = a;
		if (end == tok || (*end && *end != '-') || (*end == '-' && (b = strtol(end + 1, &end, 10), *end)) || a < 0 ||
		    b < a) {
			fprintf(stderr, "hetmem heatmap: --region '%s': expected a region number, N-M, or 0xSTART-0xEND\n", tok);
			goto out;
		}
		if (b >= rc->nreg) {
			fprintf(stderr, "hetmem heatmap: --region %ld: the record has regions 0..%d (hetmem heatmap %s --list)\n",
				b, rc->nreg - 1, rc->path);
			goto out;
		}
		for (long i = a; i <= b; i++)
			rc->reg[i].pick = true;
	}
	rcode = 0;
out:
	free(s);
	return rcode;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The axis: the picked regions' buckets (ever populated ones unless @all),
 * clipped to the address ranges, merged where they touch or overlap. */
static int build_axis(struct record *rc, bool all, const struct arange *ar, size_t nar)
{
	size_t cap = 0;
	for (int i = 0; i < rc->nreg; i++)
		if (rc->reg[i].pick)
			cap += (size_t)rc->reg[i].nb;
	struct seg *s = malloc((cap ? cap : 1) * sizeof(*s));
	if (!s)
		return -1;
	size_t n = 0;
	for (int i = 0; i < rc->nreg; i++) {
		struct region *r = &rc->reg[i];
		if (!r->pick)
			continue;
		for (int b = 0; b < r->nb; b++) {
			if (!all && !(r->touched[b / 8] & (1u << (b % 8))))
				continue;
			unsigned long lo = bucket_start(r, b), hi = b + 1 < r->nb ? bucket_start(r, b + 1) : r->base + r->size;
			if (nar) { /* clip to the union of the ranges: the first that overlaps (enough for one or a few) */
				bool any = false;
				for (size_t k = 0; k < nar && !any; k++)
					if (lo < ar[k].hi && hi > ar[k].lo) {
						lo = lo > ar[k].lo ? lo : ar[k].lo;
						hi = hi < ar[k].hi ? hi : ar[k].hi;
						any = true;
					}
				if (!any)
					continue;
			}
			s[n++] = (struct seg){lo, hi, 0};
		}
	}
	qsort(s, n, sizeof(*s), cmp_seg);
	size_t m = 0;
	for (size_t k = 0; k < n; k++) {
		if (m && s[k].start <= s[m - 1].end) {
			if (s[k].end > s[m - 1].end)
				s[m - 1].end = s[k].end;
		} else {
			s[m++] = s[k];
		}
	}
	double off = 0;
	for (size_t k = 0; k < m; k++) {
		s[k].off = off;
		off += (double)(s[k].end - s[k].start);
	}
	rc->seg = s;
	rc->nseg = m;
	rc->total = off;
	return 0;
}

/* add bytes [lo, hi) of one bucket, with fractions given, to column col */
static void add_range(struct record *rc, int col, unsigned long lo, unsigned long hi, const float *frac, float hot)
{
	/* the first segment ending above lo */
	size_t a = 0, b = rc->nseg;
	while (a < b) {
		size_t m = (a + b) / 2;
		if (rc->seg[m].end <= lo)
			a = m + 1;
		else
			b = m;
	}
	double rowb = rc->total / NROWS;
	for (size_t k = a; k < rc->nseg && rc->seg[k].start < hi; k++) {
		unsigned long s = lo > rc->seg[k].start ? lo : rc->seg[k].start;
		unsigned long e = hi < rc->seg[k].end ? hi : rc->seg[k].end;
		if (s >= e)
			continue;
		double y0 = rc->seg[k].off + (double)(s - rc->seg[k].start), y1 = y0 + (double)(e - s);
		int r0 = (int)(y0 / rowb), r1 = (int)ceil(y1 / rowb);
		if (r1 > NROWS)
			r1 = NROWS;
		for (int row = r0 < 0 ? 0 : r0; row < r1; row++) {
			double c0 = row * rowb, c1 = c0 + rowb;
			double w = (y1 < c1 ? y1 : c1) - (y0 > c0 ? y0 : c0);
			if (w <= 0)
				continue;
			size_t cell = (size_t)col * NROWS + (size_t)row;
			/* frac: 0 covered, 1 untouched, 2 ram, 3 populated, 4.. per tier slot */
			rc->cov[cell] += (float)(w * frac[0]);
			rc->untouched[cell] += (float)(w * frac[1]);
			rc->ram[cell] += (float)(w * frac[2]);
			rc->pop[cell] += (float)(w * frac[3]);
			rc->hot[cell] += (float)(w * frac[3] * hot);
			for (int t = 0; t < rc->ntslot; t++)
				rc->dev[cell * (size_t)rc->ntslot + (size_t)t] += (float)(w * frac[4 + t]);
		}
	}
}

static int column_of(const struct record *rc, double t)
{
	int c = (int)((t - rc->t0) / rc->dt);
	return c < 0 ? 0 : c >= rc->ncols ? rc->ncols - 1 : c;
}

static void accumulate(struct record *rc, const struct cur *c)
{
	const struct region *r = &rc->reg[c->reg];
	int col = column_of(rc, c->t);
	float frac[4 + MAX_TIERS];
	for (int b = 0; b < r->nb; b++) {
		float gone = c->have_n ? (float)c->n[b] / 1000 : 0;
		float ram = (float)c->r[b] / 1000, dev = (float)c->dsum[b] / 1000;
		frac[0] = 1 - gone;
		frac[1] = 1 - gone - ram - dev;
		if (frac[1] < 0)
			frac[1] = 0;
		frac[2] = ram;
		frac[3] = ram + dev;
		for (int t = 1; t < MAX_TIERS; t++)
			if (rc->tslot[t] >= 0)
				frac[4 + rc->tslot[t]] = (c->have_d & (1u << t)) ? (float)c->d[t][b] / 1000 : 0;
		unsigned long lo = bucket_start(r, b), hi = b + 1 < r->nb ? bucket_start(r, b + 1) : r->base + r->size;
		add_range(rc, col, lo, hi, frac, (float)c->h[b] / 100);
	}
}

/* the colours: one per state; a cell mixes them by bytes */
static const unsigned c_none[3] = {255, 255, 255}; /* not managed at that time */
static const unsigned c_untouched[3] = {190, 190, 190};
static const unsigned c_nopop[3] = {215, 215, 215}; /* hotness: nothing populated */
static const unsigned c_ram[3] = {214, 39, 40};
static const unsigned c_tier[][3] = {{31, 119, 180}, {44, 160, 44}, {148, 103, 189}, {23, 190, 207}, {140, 86, 75}};
#define NTIERC (sizeof(c_tier) / sizeof(c_tier[0]))

static void hexcol(char *b, const unsigned *c)
{
	sprintf(b, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* which states appear in the picture, for the key */
struct seen {
	bool none, untouched, ram, tier[MAX_TIERS];
};

static int write_grid(struct record *rc, const char *img, const char *hotf, struct seen *sn, double *hmax)
{
	FILE *fi = fopen(img, "we"), *fh = fopen(hotf, "we");
	if (!fi || !fh) {
		if (fi)
			fclose(fi);
		if (fh)
			fclose(fh);
		return -1;
	}
	double rowb = rc->total / NROWS;
	*hmax = 0;
	int last = -1; /* the last column that had a sample: empty columns repeat it */
	for (int col = 0; col < rc->ncols; col++) {
		int src = rc->colsamples[col] ? col : last;
		if (rc->colsamples[col])
			last = col;
		double x = rc->t0 + (col + 0.5) * rc->dt;
		for (int row = 0; row < NROWS; row++) {
			double y = (row + 0.5) * rowb / 1048576.0;
			double rgb[3] = {255, 255, 255}, hv = NAN;
			if (src >= 0) {
				size_t cell = (size_t)src * NROWS + (size_t)row;
				double tot = rowb * rc->colsamples[src];
				double none = tot - rc->cov[cell];
				double parts[3 + MAX_TIERS];
				const unsigned *cols[3 + MAX_TIERS];
				int np = 0;
				parts[np] = none > 0 ? none : 0, cols[np++] = c_none;
				parts[np] = rc->untouched[cell], cols[np++] = c_untouched;
				parts[np] = rc->ram[cell], cols[np++] = c_ram;
				for (int t = 1; t < MAX_TIERS; t++)
					if (rc->tslot[t] >= 0) {
						parts[np] = rc->dev[cell * (size_t)rc->ntslot + (size_t)rc->tslot[t]];
						cols[np++] = c_tier[rc->tslot[t] % NTIERC];
					}
				double sum = 0;
				for (int k = 0; k < np; k++)
					sum += parts[k];
				if (sum > 0) {
					for (int j = 0; j < 3; j++) {
						rgb[j] = 0;
						for (int k = 0; k < np; k++)
							rgb[j] += parts[k] / sum * cols[k][j];
					}
					/* a state is in the key when it fills at least a tenth of some cell */
					sn->none |= parts[0] > sum / 10;
					sn->untouched |= parts[1] > sum / 10;
					sn->ram |= parts[2] > sum / 10;
					for (int t = 1, k = 3; t < MAX_TIERS; t++)
						if (rc->tslot[t] >= 0)
							sn->tier[t] |= parts[k++] > sum / 10;
				}
				if (rc->pop[cell] > 0) {
					hv = rc->hot[cell] / rc->pop[cell];
					if (hv > *hmax)
						*hmax = hv;
				}
			}
			fprintf(fi, "%.4f %.4f %d %d %d\n", x, y, (int)(rgb[0] + 0.5), (int)(rgb[1] + 0.5), (int)(rgb[2] + 0.5));
			if (isnan(hv))
				fprintf(fh, "%.4f %.4f NaN\n", x, y);
			else
				fprintf(fh, "%.4f %.4f %.3f\n", x, y, hv);
		}
		fputc('\n', fi);
		fputc('\n', fh);
	}
	int e = ferror(fi) | ferror(fh);
	e |= fclose(fi) != 0;
	e |= fclose(fh) != 0;
	return e ? -1 : 0;
}

static void fmt_bytes(char *b, size_t n, double v)
{
	if (v >= (double)(1ull << 30))
		snprintf(b, n, "%.1f GiB", v / (1ull << 30));
	else if (v >= (double)(1ull << 20))
		snprintf(b, n, "%.1f MiB", v / (1ull << 20));
	else
		snprintf(b, n, "%.0f KiB", v / 1024);
}

/* @s in a gnuplot double-quoted string: backslashes and quotes escaped,
 * no newlines, no enhanced-text markup */
static void gp_str(FILE *g, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', g);
		fputc(*s == '\n' ? ' ' : *s, g);
	}
}

static void list_regions(const struct record *rc)
{
	printf("%s: %zu samples over %.1f s, %d region(s)\n", rc->path, rc->ns, rc->tlast - rc->t0, rc->nreg);
	printf("%5s  %-31s %10s %6s %15s %8s %8s %s\n", "N", "addresses", "size", "folio", "seen (s)", "RAM max",
	       "dev max", "populated");
	for (int i = 0; i < rc->nreg; i++) {
		const struct region *r = &rc->reg[i];
		char sz[32], range[40], seen[32];
		int touched = 0;
		for (int b = 0; b < r->nb; b++)
			touched += !!(r->touched[b / 8] & (1u << (b % 8)));
		fmt_bytes(sz, sizeof(sz), (double)r->size);
		snprintf(range, sizeof(range), "%#lx-%#lx", r->base, r->base + (unsigned long)r->size);
		snprintf(seen, sizeof(seen), "%.1f-%.1f", r->first - rc->t0, r->last - rc->t0);
		printf("%5d  %-31s %10s %5lluK %15s %7.1f%% %7.1f%% %d%%\n", i, range, sz, r->folio >> 10, seen,
		       r->peak_ram / 10.0, r->peak_dev / 10.0, touched * 100 / r->nb);
	}
	for (int t = 1; t < MAX_TIERS; t++)
		if (rc->tier_name[t][0])
			printf("tier %d: %s\n", t, rc->tier_name[t]);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hetmem heatmap RECORD -o OUT.png|OUT.svg|OUT.pdf [--region LIST] [--all]\n"
		   "       hetmem heatmap RECORD --list\n"
		   "  draws a record (HETMEM_RECORD=RECORD, or hm_record_start) over time and address: where the\n"
		   "  memory is (never populated, in RAM, on each device tier) and the policy's access counts.\n"
		   "  All regions share one address axis with the gaps between them cut out; only address ranges\n"
		   "  populated at some time are drawn.\n"
		   "  -o OUT          the picture; its format from the extension: .png, .svg or .pdf\n"
		   "  --list          list the record's regions (numbered) and tiers, draw nothing\n"
		   "  --region LIST   draw only these regions: numbers from --list, N-M, or 0xSTART-0xEND\n"
		   "                  address ranges, separated by commas\n"
		   "  --all           draw every managed address range, also those never populated\n"
		   "  Needs gnuplot (Debian: apt-get install gnuplot-nox; scripts/install-deps.sh).\n");
}

/* copy the finished picture to its place */
static int copy_out(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		goto done;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (ssize_t o = 0; o < n;) {
			ssize_t w = write(out, buf + o, (size_t)(n - o));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				goto done;
			}
			o += w;
		}
	rc = n < 0 ? -1 : 0;
done:
	if (out >= 0 && close(out) && !rc)
		rc = -1;
	if (out >= 0 && rc) {
		int e = errno;
		unlink(to);
		errno = e;
	}
	close(in);
	return rc;
}

int hm_heatmap_main(int argc, char **argv)
{
	const char *in = NULL, *out = NULL, *regspec = NULL;
	bool list = false, all = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--region") && i + 1 < argc)
			regspec = argv[++i];
		else if (!strncmp(argv[i], "--region=", 9))
			regspec = argv[i] + 9;
		else if (!strcmp(argv[i], "--list"))
			list = true;
		else if (!strcmp(argv[i], "--all"))
			all = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!in && argv[i][0] != '-')
			in = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!in || (!out && !list)) {
		usage(stderr);
		return 2;
	}
	const struct format *fmt = NULL;
	if (out) {
		const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
		for (size_t k = 0; dot && (!slash || dot > slash) && k < sizeof(formats) / sizeof(formats[0]); k++)
			if (!strcasecmp(dot, formats[k].ext))
				fmt = &formats[k];
		if (!fmt) {
			fprintf(stderr, "hetmem heatmap: -o %s: cannot tell the format from %s%s%s; supported: .png, .svg, "
					".pdf\n",
				out, dot && (!slash || dot > slash) ? "the extension '" : "a name without an extension",
				dot && (!slash || dot > slash) ? dot : "", dot && (!slash || dot > slash) ? "'" : "");
			return 2;
		}
	}
	struct record rc = {.path = in};
	for (int t = 0; t < MAX_TIERS; t++)
		rc.tslot[t] = -1;
	struct arange *ar = NULL;
	size_t nar = 0;
	int status = 1;
	char dir[] = "/tmp/hetmem-heatmap-XXXXXX", img[64], hotf[64], gp[64], pic[64];
	bool have_dir = false;
	FILE *g = NULL;
	if (read_record(&rc, 1))
		goto out;
	if (list) {
		list_regions(&rc);
		status = 0;
		goto out;
	}
	if (regspec && pick_regions(&rc, regspec, &ar, &nar)) {
		status = 2;
		goto out;
	}
	if (build_axis(&rc, all, ar, nar)) {
		fprintf(stderr, "hetmem heatmap: out of memory\n");
		goto out;
	}
	if (!rc.nseg) {
		fprintf(stderr, "hetmem heatmap: %s: nothing to draw: %s populated at any time%s\n", in,
			regspec ? "no memory of the regions picked was" : "no managed memory was",
			all ? "" : " (--all draws the managed ranges anyway)");
		goto out;
	}
	int npick = 0;
	double managed = 0;
	for (int i = 0; i < rc.nreg; i++)
		if (rc.reg[i].pick) {
			npick++;
			managed += (double)rc.reg[i].size;
		}
	/* the grid: columns of equal time, one per sample up to MAX_COLS */
	rc.ncols = rc.ns < MAX_COLS ? (int)rc.ns : MAX_COLS;
	rc.dt = (rc.tlast - rc.t0) * (double)rc.ns / (double)(rc.ns - 1) / rc.ncols;
	if (rc.dt <= 0)
		rc.dt = 0.001;
	for (int t = 1; t < MAX_TIERS; t++)
		if (rc.tier_used[t])
			rc.tslot[t] = rc.ntslot++;
	size_t cells = (size_t)rc.ncols * NROWS;
	rc.cov = calloc(cells, sizeof(float));
	rc.untouched = calloc(cells, sizeof(float));
	rc.ram = calloc(cells, sizeof(float));
	rc.pop = calloc(cells, sizeof(float));
	rc.hot = calloc(cells, sizeof(float));
	rc.dev = calloc(cells * (size_t)(rc.ntslot ? rc.ntslot : 1), sizeof(float));
	rc.colsamples = calloc((size_t)rc.ncols, sizeof(int));
	if (!rc.cov || !rc.untouched || !rc.ram || !rc.pop || !rc.hot || !rc.dev || !rc.colsamples) {
		fprintf(stderr, "hetmem heatmap: out of memory\n");
		goto out;
	}
	if (read_record(&rc, 2))
		goto out;

	if (!mkdtemp(dir)) {
		fprintf(stderr, "hetmem heatmap: mkdtemp: %s\n", strerror(errno));
		goto out;
	}
	have_dir = true;
	snprintf(img, sizeof(img), "%s/where.dat", dir);
	snprintf(hotf, sizeof(hotf), "%s/hot.dat", dir);
	snprintf(gp, sizeof(gp), "%s/plot.gp", dir);
	snprintf(pic, sizeof(pic), "%s/picture%s", dir, fmt->ext);
	struct seen sn = {0};
	double hmax;
	if (write_grid(&rc, img, hotf, &sn, &hmax) || !(g = fopen(gp, "we"))) {
		fprintf(stderr, "hetmem heatmap: cannot write to %s: %s\n", dir, strerror(errno));
		goto out;
	}
	char bud[32] = "none", drawn[32], cut[32], mb[32];
	if (rc.budget)
		fmt_bytes(bud, sizeof(bud), (double)rc.budget);
	fmt_bytes(drawn, sizeof(drawn), rc.total);
	double ymax = rc.total / 1048576.0;
	fprintf(g, "set terminal %s\nset output '%s'\nset encoding utf8\n", fmt->term, pic);
	fprintf(g, "set termoption noenhanced\nset multiplot layout 2,1 title \"hetmem record ");
	gp_str(g, in);
	fprintf(g, ": policy %s, budget %s, %zu samples over %.1f s\\n%d region(s), %s drawn", rc.policy, bud, rc.ns,
		rc.tlast - rc.t0, npick, drawn);
	if (managed > rc.total + 4096 && !nar) {
		fmt_bytes(cut, sizeof(cut), managed - rc.total);
		fprintf(g, " (%s managed but never populated left out: --all draws it)", cut);
	}
	fprintf(g, " in %zu address range(s), gaps between them cut out\" font ',12'\n", rc.nseg);
	fprintf(g, "set lmargin at screen 0.13\nset rmargin at screen 0.80\n"
		   "set xlabel 'time (s)'\nset ylabel 'address (managed ranges, gaps cut out)'\n"
		   "set xrange [%g:%g]\nset yrange [0:%g]\nset tics out\nset mytics 1\n",
		rc.t0, rc.t0 + rc.dt * rc.ncols, ymax);
	/* ytics: the start of each range, and aligned addresses inside ranges
	 * large enough (about 8 over the axis), labelled with the address;
	 * a label too close to the last one is left out */
	fprintf(g, "set ytics (");
	unsigned long step = 4096;
	while ((double)step * 16 < rc.total)
		step <<= 1;
	double lastl = -1e30, mind = ymax / 22;
	int nl = 0;
	for (size_t k = 0; k < rc.nseg; k++) {
		unsigned long a = rc.seg[k].start;
		for (;;) {
			double y = (rc.seg[k].off + (double)(a - rc.seg[k].start)) / 1048576.0;
			if (y - lastl >= mind && ymax - y >= mind / 2) {
				fprintf(g, "%s'%#lx' %g", nl++ ? ", " : "", a, y);
				lastl = y;
			}
			unsigned long next = (a / step + 1) * step;
			if (next >= rc.seg[k].end || next < a)
				break;
			a = next;
		}
	}
	fprintf(g, "%s'%#lx' %g)\n", nl ? ", " : "", rc.seg[rc.nseg - 1].end, ymax);
	/* a thin line at each cut between ranges (where there are not too many) */
	if (rc.nseg <= 400)
		for (size_t k = 1; k < rc.nseg; k++)
			fprintf(g, "set arrow from graph 0, first %g to graph 1, first %g nohead front lc rgb '#404040' lw 0.4 dt 3\n",
				rc.seg[k].off / 1048576.0, rc.seg[k].off / 1048576.0);
	char col[16];
	fprintf(g, "set key outside right top vertical Left reverse samplen 2 spacing 1.3 title 'where the memory is'\n");
	fprintf(g, "set title 'placement (a row mixing states mixes their colours)'\n"
		   "plot '%s' using 1:2:3:4:5 with rgbimage notitle", img);
	if (sn.none)
		fprintf(g, ", keyentry with boxes fs solid border lc rgb 'black' fc rgb '#ffffff' title 'not managed then'");
	if (sn.untouched) {
		hexcol(col, c_untouched);
		fprintf(g, ", keyentry with boxes fs solid noborder fc rgb '%s' title 'never populated (untouched)'", col);
	}
	if (sn.ram) {
		hexcol(col, c_ram);
		fprintf(g, ", keyentry with boxes fs solid noborder fc rgb '%s' title 'in RAM'", col);
	}
	for (int t = 1; t < MAX_TIERS; t++)
		if (rc.tslot[t] >= 0 && sn.tier[t]) {
			hexcol(col, c_tier[rc.tslot[t] % NTIERC]);
			fprintf(g, ", keyentry with boxes fs solid noborder fc rgb '%s' title \"on tier %d", col, t);
			if (rc.tier_name[t][0]) {
				fprintf(g, " (");
				gp_str(g, rc.tier_name[t]);
				fprintf(g, ")");
			}
			fprintf(g, "\"");
		}
	fprintf(g, "\n");
	hexcol(col, c_nopop);
	fprintf(g, "unset arrow\nset key off\n");
	if (rc.nseg <= 400)
		for (size_t k = 1; k < rc.nseg; k++)
			fprintf(g, "set arrow from graph 0, first %g to graph 1, first %g nohead front lc rgb '#404040' lw 0.4 dt 3\n",
				rc.seg[k].off / 1048576.0, rc.seg[k].off / 1048576.0);
	fprintf(g, "set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '%s' fillstyle solid noborder\n"
		   "set title \"hotness: the policy's mean access count of the populated folios (grey: none populated)\"\n"
		   "set palette defined (0 '#fff5b0', 0.35 '#ffb000', 0.7 '#d00000', 1 '#300000')\n"
		   "set cbrange [0:%g]\nset cblabel 'mean access count' offset 1,0\n"
		   "set colorbox user origin screen 0.83, screen 0.08 size screen 0.02, screen 0.35\n"
		   "plot '%s' using 1:2:3 with image notitle\nunset multiplot\n",
		col, hmax > 0 ? hmax : 1, hotf);
	fmt_bytes(mb, sizeof(mb), managed);
	if (fclose(g)) {
		g = NULL;
		fprintf(stderr, "hetmem heatmap: cannot write %s\n", gp);
		goto out;
	}
	g = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "hetmem heatmap: fork: %s\n", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", gp, (char *)NULL);
		_exit(127);
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127) {
		fprintf(stderr, "hetmem heatmap: gnuplot not found in PATH: install it (Debian: apt-get install "
				"gnuplot-nox, or scripts/install-deps.sh)\n");
		goto out;
	}
	if (!WIFEXITED(ws) || WEXITSTATUS(ws)) {
		fprintf(stderr, "hetmem heatmap: gnuplot failed (status %d)\n", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
		goto out;
	}
	char head[1100] = {0};
	FILE *o = fopen(pic, "re");
	size_t got = o ? fread(head, 1, sizeof(head) - 1, o) : 0;
	if (o)
		fclose(o);
	if (got < fmt->mlen || !memmem(head, got < fmt->moff + fmt->mlen ? got : fmt->moff + fmt->mlen, fmt->magic,
				       fmt->mlen)) {
		fprintf(stderr, "hetmem heatmap: gnuplot wrote no %s picture (does it have the terminal '%.*s'?)\n",
			fmt->ext + 1, (int)strcspn(fmt->term, " "), fmt->term);
		goto out;
	}
	if (copy_out(pic, out)) {
		fprintf(stderr, "hetmem heatmap: cannot write %s: %s\n", out, strerror(errno));
		goto out;
	}
	printf("hetmem heatmap: %s: %zu samples over %.1f s, %d of %d region(s) (%s managed, %s drawn in %zu "
	       "range(s)) -> %s\n",
	       in, rc.ns, rc.tlast - rc.t0, npick, rc.nreg, mb, drawn, rc.nseg, out);
	status = 0;
out:
	if (g)
		fclose(g);
	if (have_dir) {
		if (getenv("HETMEM_HEATMAP_KEEP")) { /* for debugging the script, and the tests */
			fprintf(stderr, "hetmem heatmap: kept %s\n", dir);
		} else {
			unlink(img);
			unlink(hotf);
			unlink(gp);
			unlink(pic);
			rmdir(dir);
		}
	}
	free(ar);
	free(rc.reg);
	free(rc.hash);
	free(rc.seg);
	free(rc.cov);
	free(rc.untouched);
	free(rc.ram);
	free(rc.pop);
	free(rc.hot);
	free(rc.dev);
	free(rc.colsamples);
	return status;
}
