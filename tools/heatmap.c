/*
 * heatmap.c — `hetmem heatmap RECORD -o OUT.png`: draws a record written by
 * hm_record_start / HETMEM_RECORD (format: src/record.c) as two heat maps
 * over time (x) and address (y): the fraction of each address bucket in RAM,
 * and the policy's mean access count of the bucket.  Every region seen in the
 * record gets its own band of rows, in order of first appearance.
 *
 * The record is parsed and checked completely first (a malformed line is
 * reported with its number and nothing is drawn); then the data go to
 * gnuplot (Debian: gnuplot-nox) through a script in a private temporary
 * directory, and the output is checked to be a PNG.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_REGIONS 64
#define MAX_NB 256

struct region {
	unsigned long base;
	unsigned long long size, folio;
	int nb, row; /* buckets, first row on the y axis */
};

struct sample {
	double t;                   /* seconds */
	unsigned long long resident, budget;
	int *r[MAX_REGIONS], *h[MAX_REGIONS];
};

struct record {
	struct region reg[MAX_REGIONS];
	int nreg;
	struct sample *s;
	size_t ns, cap;
	char policy[32];
	unsigned interval_ms;
};

static int bad(const char *path, size_t line, const char *what)
{
	fprintf(stderr, "hetmem heatmap: %s:%zu: %s\n", path, line, what);
	return -1;
}

static int find_region(struct record *rc, unsigned long base)
{
	for (int i = 0; i < rc->nreg; i++)
		if (rc->reg[i].base == base)
			return i;
	return -1;
}

/* Parse "NAME BASE v1 .. vNB" into a new array. */
static int parse_values(char *p, int nb, int maxv, int **out)
{
	int *v = malloc((size_t)nb * sizeof(int));
	if (!v)
		return -1;
	for (int i = 0; i < nb; i++) {
		char *end;
		long x = strtol(p, &end, 10);
		if (end == p || x < 0 || x > 100000000 || (maxv && x > maxv)) {
			free(v);
			return -1;
		}
		v[i] = (int)x;
		p = end;
	}
	while (*p == ' ' || *p == '\n')
		p++;
	if (*p) {
		free(v);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse(const char *path, struct record *rc)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "hetmem heatmap: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0, ln = 0;
	ssize_t n;
	int rcode = -1;
	while ((n = getline(&line, &cap, f)) > 0) {
		ln++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (ln == 1) {
			if (strcmp(line, "hetmem-record 1")) {
				bad(path, ln, "not a hetmem record (the first line must be 'hetmem-record 1')");
				goto out;
			}
			continue;
		}
		if (!line[0] || line[0] == '#')
			continue;
		if (!strncmp(line, "interval_ms ", 12)) {
			if (sscanf(line + 12, "%u", &rc->interval_ms) != 1) {
				bad(path, ln, "bad interval_ms line");
				goto out;
			}
		} else if (!strncmp(line, "sample ", 7)) {
			unsigned t;
			struct sample s = {0};
			char pol[32];
			if (sscanf(line + 7, "%u %llu %llu %31s", &t, &s.resident, &s.budget, pol) != 4) {
				bad(path, ln, "bad sample line (expected: sample T_MS RESIDENT BUDGET POLICY)");
				goto out;
			}
			if (rc->ns && t < rc->s[rc->ns - 1].t * 1000) {
				bad(path, ln, "sample time goes backwards");
				goto out;
			}
			s.t = t / 1000.0;
			snprintf(rc->policy, sizeof(rc->policy), "%s", pol);
			if (rc->ns == rc->cap) {
				size_t nc = rc->cap ? rc->cap * 2 : 256;
				struct sample *ns = realloc(rc->s, nc * sizeof(*ns));
				if (!ns) {
					bad(path, ln, "out of memory");
					goto out;
				}
				rc->s = ns;
				rc->cap = nc;
			}
			rc->s[rc->ns++] = s;
		} else if (!strncmp(line, "region ", 7)) {
			struct region r = {0};
			if (!rc->ns) {
				bad(path, ln, "region line before any sample line");
				goto out;
			}
			if (sscanf(line + 7, "%lx %llu %llu %d", &r.base, &r.size, &r.folio, &r.nb) != 4 || r.nb < 1 ||
			    r.nb > MAX_NB || !r.size || !r.folio) {
				bad(path, ln, "bad region line (expected: region BASE SIZE FOLIO NB, NB 1..256)");
				goto out;
			}
			int i = find_region(rc, r.base);
			if (i >= 0 && (rc->reg[i].nb != r.nb || rc->reg[i].size != r.size)) {
				/* the address was reused by another allocation */
				bad(path, ln, "a region changed its size at the same address (not supported)");
				goto out;
			}
			if (i < 0) {
				if (rc->nreg == MAX_REGIONS) {
					bad(path, ln, "more than 64 regions");
					goto out;
				}
				r.row = rc->nreg ? rc->reg[rc->nreg - 1].row + rc->reg[rc->nreg - 1].nb : 0;
				rc->reg[rc->nreg++] = r;
			}
		} else if ((line[0] == 'r' || line[0] == 'h') && line[1] == ' ') {
			char *end;
			unsigned long base = strtoul(line + 2, &end, 16);
			int i = find_region(rc, base);
			if (!rc->ns || i < 0) {
				bad(path, ln, "values for a region with no region line in this sample");
				goto out;
			}
			struct sample *s = &rc->s[rc->ns - 1];
			int **slot = line[0] == 'r' ? &s->r[i] : &s->h[i];
			if (*slot) {
				bad(path, ln, "values given twice for one region in one sample");
				goto out;
			}
			if (parse_values(end, rc->reg[i].nb, line[0] == 'r' ? 1000 : 0, slot)) {
				bad(path, ln, line[0] == 'r' ? "expected NB per-mille values (0..1000)"
							     : "expected NB non-negative counts");
				goto out;
			}
		} else {
			bad(path, ln, "unknown line (expected sample, region, r, h or a # comment)");
			goto out;
		}
	}
	if (ln == 0) {
		fprintf(stderr, "hetmem heatmap: %s is empty\n", path);
		goto out;
	}
	if (rc->ns < 2 || !rc->nreg) {
		fprintf(stderr, "hetmem heatmap: %s has %zu sample(s) and %d region(s): at least 2 samples of a region are "
				"needed (samples are taken only while a budget is set)\n",
			path, rc->ns, rc->nreg);
		goto out;
	}
	rcode = 0;
out:
	free(line);
	fclose(f);
	return rcode;
}

static int write_data(const char *path, const struct record *rc, bool hot)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	for (size_t k = 0; k < rc->ns; k++) {
		const struct sample *s = &rc->s[k];
		for (int i = 0; i < rc->nreg; i++) {
			const int *v = hot ? s->h[i] : s->r[i];
			for (int b = 0; b < rc->reg[i].nb; b++) {
				if (v)
					fprintf(f, "%.3f %d %g\n", s->t, rc->reg[i].row + b, hot ? v[b] / 100.0 : v[b] / 1000.0);
				else
					fprintf(f, "%.3f %d NaN\n", s->t, rc->reg[i].row + b);
			}
		}
		fputc('\n', f);
	}
	return fclose(f);
}

static void fmt_bytes(char *b, size_t n, unsigned long long v)
{
	if (v >= 1ull << 30)
		snprintf(b, n, "%.1f GiB", (double)v / (1ull << 30));
	else
		snprintf(b, n, "%.1f MiB", (double)v / (1ull << 20));
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hetmem heatmap RECORD -o OUT.png\n"
		   "  draws a record (HETMEM_RECORD=RECORD, or hm_record_start) as two heat maps over time and\n"
		   "  address: the fraction of each address bucket in RAM, and the policy's access counts.\n"
		   "  Needs gnuplot (Debian: apt-get install gnuplot-nox; scripts/install-deps.sh).\n");
}

int hm_heatmap_main(int argc, char **argv)
{
	const char *in = NULL, *out = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
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
	if (!in || !out) {
		usage(stderr);
		return 2;
	}
	struct record rc = {0};
	if (parse(in, &rc))
		return 1;

	char dir[] = "/tmp/hetmem-heatmap-XXXXXX", res[64], hot[64], gp[64];
	if (!mkdtemp(dir)) {
		fprintf(stderr, "hetmem heatmap: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(res, sizeof(res), "%s/resident.dat", dir);
	snprintf(hot, sizeof(hot), "%s/hot.dat", dir);
	snprintf(gp, sizeof(gp), "%s/plot.gp", dir);
	int status = 1;
	FILE *g = NULL;
	if (write_data(res, &rc, false) || write_data(hot, &rc, true) || !(g = fopen(gp, "we"))) {
		fprintf(stderr, "hetmem heatmap: cannot write to %s: %s\n", dir, strerror(errno));
		goto out;
	}
	char bud[32] = "none";
	if (rc.s[rc.ns - 1].budget)
		fmt_bytes(bud, sizeof(bud), rc.s[rc.ns - 1].budget);
	int rows = rc.reg[rc.nreg - 1].row + rc.reg[rc.nreg - 1].nb;
	/* the output path goes into a gnuplot string: refuse quotes */
	if (strchr(out, '\'') || strchr(out, '\n')) {
		fprintf(stderr, "hetmem heatmap: the output path may not contain quotes or newlines\n");
		goto out;
	}
	fprintf(g, "set terminal pngcairo size 1200,900 font ',10'\n"
		   "set output '%s'\n"
		   "set multiplot layout 2,1 title 'hetmem record %s: policy %s, budget %s, %zu samples'\n"
		   "set view map\nunset key\nset pm3d map corners2color c1\n"
		   "set xlabel 'time (s)'\nset ylabel 'address (region: offset)'\n"
		   "set xrange [%g:%g]\nset yrange [0:%d]\n",
		out, in, rc.policy, bud, rc.ns, rc.s[0].t, rc.s[rc.ns - 1].t, rows);
	fprintf(g, "set ytics (");
	for (int i = 0; i < rc.nreg; i++) {
		char sz[32];
		fmt_bytes(sz, sizeof(sz), rc.reg[i].size);
		fprintf(g, "%s'R%d 0' %d, 'R%d %s' %d", i ? ", " : "", i, rc.reg[i].row, i, sz,
			rc.reg[i].row + rc.reg[i].nb);
	}
	fprintf(g, ")\n");
	fprintf(g, "set palette defined (0 'white', 0.5 'orange', 1 'dark-red')\n"
		   "set title 'resident in RAM (fraction of the bucket)'\nset cbrange [0:1]\n"
		   "splot '%s' using 1:2:3 with pm3d\n"
		   "set palette defined (0 'white', 0.3 'yellow', 0.6 'red', 1 'black')\n"
		   "set title \"hotness (policy's mean access count per folio)\"\nset autoscale cb\n"
		   "set cbrange [0:*]\n"
		   "splot '%s' using 1:2:3 with pm3d\nunset multiplot\n",
		res, hot);
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
	unsigned char sig[8] = {0};
	FILE *o = fopen(out, "re");
	size_t got = o ? fread(sig, 1, 8, o) : 0;
	if (o)
		fclose(o);
	if (got != 8 || memcmp(sig, "\x89PNG\r\n\x1a\n", 8)) {
		fprintf(stderr, "hetmem heatmap: gnuplot wrote no PNG to %s\n", out);
		goto out;
	}
	printf("hetmem heatmap: %s: %zu samples over %.1f s, %d region(s) -> %s\n", in, rc.ns,
	       rc.s[rc.ns - 1].t - rc.s[0].t, rc.nreg, out);
	status = 0;
out:
	if (g)
		fclose(g);
	if (getenv("HETMEM_HEATMAP_KEEP")) { /* for debugging the script */
		fprintf(stderr, "hetmem heatmap: kept %s\n", dir);
	} else {
		unlink(res);
		unlink(hot);
		unlink(gp);
		rmdir(dir);
	}
	for (size_t k = 0; k < rc.ns; k++)
		for (int i = 0; i < rc.nreg; i++) {
			free(rc.s[k].r[i]);
			free(rc.s[k].h[i]);
		}
	free(rc.s);
	return status;
}
