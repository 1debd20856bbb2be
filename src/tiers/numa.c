/*
 * tiers/numa.c — a NUMA node as a coherent tier, "numa:NODE[,size=SIZE][,cpus]".
 *
 * A CXL memory expander (or a far socket's memory) is a NUMA node the CPU
 * reads in place.  A page on this tier stays mapped in the program's page
 * table; only its physical page is on NODE.  The migration path moves pages
 * there and back with move_pages(2) (ops->move), a batch per call, and the
 * page word says MAPPED with this tier's id (no slot): the CPU never faults
 * on it.  The RAM budget counts only the program's local pages (HOST), so
 * the reclaimer sends cold pages to the node; hot ones come back when the
 * tracking (hint-fault samples, write tracking) sees them used
 * (reclaim.c hm_reclaim_promote_folio).
 *
 * The node must exist and have memory; a node with CPUs is refused unless
 * ",cpus" is given (a far socket used as a tier).  SIZE bounds the pages the
 * program may put there (default: the node's memory).
 *
 * Local nodes: the nodes with CPUs this process may run on, less the nodes
 * of coherent tiers.  Containment: once a coherent tier exists, every
 * managed range is bound (mbind MPOL_BIND) to the local nodes and the
 * thread that added the tier gets the same task policy if it had none, so
 * the kernel never puts a new page of the program on the node by itself
 * when local memory runs short: only hetmem's migrations put pages there
 * (move_pages places pages on the node it is given whatever the policy).
 * With no local node left (numa:0,cpus on a one-node machine, a test
 * set-up) the tier's node counts as local: moves succeed without changing
 * where a page is, and the open says so.
 */
#include "internal.h"

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_NODES 64

struct numa_tier {
	int node;
};

/* The local nodes (bit n: node n), recomputed at each coherent tier's open;
 * 0 while there is none. */
static _Atomic uint64_t local_mask;

uint64_t hm_numa_local_mask(void)
{
	return atomic_load_explicit(&local_mask, memory_order_relaxed);
}

/* The node's CPU list from sysfs into @buf ("" for none); -errno if the
 * node does not exist. */
static int node_cpulist(int node, char *buf, size_t len)
{
	char path[96];
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	buf[0] = 0;
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Nodes with CPUs this process may run on. */
static uint64_t cpu_nodes(void)
{
	cpu_set_t set;
	uint64_t m = 0;
	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			int n = numa_node_of_cpu(c);
			if (n >= 0 && n < MAX_NODES)
				m |= 1ull << n;
		}
	return m;
}

/* Nodes of the coherent tiers there are, and @extra. */
static uint64_t tier_nodes(int extra)
{
	uint64_t m = extra >= 0 ? 1ull << extra : 0;
	for (int i = 1; i < HM_MAX_TIERS; i++) {
		struct hm_tier *t = hm_tier_get(i);
		if (t && t->ops == &hm_tier_numa_ops)
			m |= 1ull << ((struct numa_tier *)t->priv)->node;
	}
	return m;
}

/* Bind [addr, addr+len) to the local nodes (no-op without a coherent tier). */
void hm_numa_bind_range(void *addr, size_t len)
{
	uint64_t m = hm_numa_local_mask();
	if (!m)
		return;
	unsigned long mask = (unsigned long)m;
	/* best effort: a range that cannot be bound only loses containment */
	if (mbind(addr, len, MPOL_BIND, &mask, MAX_NODES + 1, 0))
		HM_COUNT(numa_bind_failures, 1);
}

static int numa_open(struct hm_tier *t, const char *args)
{
	struct numa_tier *nt = t->priv;
	char *end;
	errno = 0;
	long node = strtol(args, &end, 10);
	if (end == args || errno || node < 0)
		return hm_error_msg(EINVAL, "tier 'numa:%s': expected numa:NODE[,size=SIZE][,cpus] with NODE a node number",
				args);
	uint64_t size = 0;
	bool cpus_ok = false;
	for (const char *o = end; *o;) {
		if (*o != ',')
			return hm_error_msg(EINVAL, "tier 'numa:%s': expected numa:NODE[,size=SIZE][,cpus]", args);
		o++;
		size_t n = strcspn(o, ",");
		char opt[64];
		if (n >= sizeof(opt))
			return hm_error_msg(EINVAL, "tier 'numa:%s': option '%.*s' is too long", args, (int)n, o);
		memcpy(opt, o, n);
		opt[n] = 0;
		if (!strcmp(opt, "cpus")) {
			cpus_ok = true;
		} else if (!strncmp(opt, "size=", 5)) {
			if (hm_parse_size(opt + 5, &size) || size < HM_PAGE_SIZE)
				return hm_error_msg(EINVAL, "tier 'numa:%s': size '%s' must be a number with an optional "
							"K/M/G/T suffix, at least 4K", args, opt + 5);
		} else {
			return hm_error_msg(EINVAL, "tier 'numa:%s': unknown option '%s' (expected size=SIZE or cpus)", args,
					opt);
		}
		o += n;
	}
	if (numa_available() < 0)
		return hm_error(ENODEV, "tier 'numa:%s': this kernel has no NUMA support (get_mempolicy fails)", args);
	int maxn = numa_max_node();
	char cpus[256];
	if (node >= MAX_NODES || node > maxn || node_cpulist((int)node, cpus, sizeof(cpus)))
		return hm_error_msg(ENODEV, "tier 'numa:%s': node %ld does not exist (this machine has nodes 0-%d: see "
					"`hetmem info`)", args, node, maxn);
	long long freeb = 0;
	long long total = numa_node_size64((int)node, &freeb);
	if (total <= 0)
		return hm_error_msg(ENODEV, "tier 'numa:%s': node %ld has no memory", args, node);
	if (cpus[0] && !cpus_ok)
		return hm_error_msg(EINVAL, "tier 'numa:%s': node %ld has CPUs (%s): it is not a memory-only node (CXL); "
					"add ',cpus' to use it as a tier anyway", args, node, cpus);
	struct bitmask *allowed = numa_get_mems_allowed();
	bool ok = allowed && numa_bitmask_isbitset(allowed, (unsigned)node);
	if (allowed)
		numa_bitmask_free(allowed);
	if (!ok)
		return hm_error_msg(EACCES, "tier 'numa:%s': node %ld is not in this process's memory nodes (its cpuset's "
					"mems, /proc/self/status Mems_allowed_list)", args, node);
	char a[32], b[32];
	if (size > (uint64_t)total) {
		hm_fmt_bytes(a, sizeof(a), size);
		hm_fmt_bytes(b, sizeof(b), (uint64_t)total);
		return hm_error_msg(E2BIG, "tier 'numa:%s': size %s is more than node %ld has (%s)", args, a, node, b);
	}
	for (int i = 1; i < HM_MAX_TIERS; i++) {
		struct hm_tier *o = hm_tier_get(i);
		if (o && o->ops == &hm_tier_numa_ops && ((struct numa_tier *)o->priv)->node == node)
			return hm_error_msg(EEXIST, "tier 'numa:%s': node %ld is tier %d already", args, node, i);
	}
	nt->node = (int)node;
	t->capacity = (size ? size : (uint64_t)total) & ~(uint64_t)(HM_PAGE_SIZE - 1);

	uint64_t cn = cpu_nodes();
	uint64_t local = cn & ~tier_nodes((int)node);
	if (!local) /* the tier's node is local too (hetmem run says so) */
		local = cn ? cn : 1ull << node;
	atomic_store(&local_mask, local);
	/* the task policy of the thread adding the tier (in `hetmem run`, the
	 * program's main thread, whose threads inherit it), unless the
	 * program chose one */
	int mode = -1;
	if (!get_mempolicy(&mode, NULL, 0, NULL, 0) && mode == MPOL_DEFAULT) {
		unsigned long mask = (unsigned long)local;
		if (set_mempolicy(MPOL_BIND, &mask, MAX_NODES + 1))
			HM_COUNT(numa_bind_failures, 1);
	}
	/* ranges managed before the tier came */
	size_t nr;
	struct hm_region **rs = hm_regions_snapshot(&nr);
	if (rs) {
		for (size_t i = 0; i < nr; i++) {
			hm_numa_bind_range((void *)rs[i]->base, rs[i]->size);
			hm_region_put(rs[i]);
		}
		free(rs);
	}
	return 0;
}

static void numa_close(struct hm_tier *t)
{
	(void)t;
	/* the local mask stays: ranges bound to it keep that policy */
}

/* The local node to bring a page back to: the caller's CPU's node when it
 * is local, else the lowest local node. */
static int local_node(void)
{
	uint64_t m = hm_numa_local_mask();
	int cpu = sched_getcpu();
	int n = cpu >= 0 ? numa_node_of_cpu(cpu) : -1;
	if (n >= 0 && n < MAX_NODES && (m & (1ull << n)))
		return n;
	return m ? __builtin_ctzll(m) : 0;
}

static int numa_move(struct hm_tier *t, void *const *pages, size_t n, bool to_tier, int *status)
{
	struct numa_tier *nt = t->priv;
	int target = to_tier ? nt->node : local_node();
	/* one call for them all: each move_pages call drains every CPU's LRU
	 * batches first (migrate.c CBATCH_PAGES) */
	size_t chunk = n < 16384 ? n : 16384;
	int *nodes = malloc(chunk * sizeof(int));
	if (!nodes) {
		for (size_t k = 0; k < n; k++)
			status[k] = -ENOMEM;
		return -ENOMEM;
	}
	for (size_t k = 0; k < chunk; k++)
		nodes[k] = target;
	size_t done = 0;
	int ret = -EIO;
	while (done < n) {
		size_t c = n - done < chunk ? n - done : chunk;
		long rc = move_pages(0, c, (void **)(pages + done), nodes, status + done, MPOL_MF_MOVE);
		/* a page busy for a moment (-EBUSY, -EAGAIN: held by the LRU's
		 * per-CPU batches, or locked) once or twice more */
		for (int tries = 0; rc >= 0 && tries < 2; tries++) {
			size_t m = 0;
			for (size_t k = 0; k < c; k++)
				m += status[done + k] == -EBUSY || status[done + k] == -EAGAIN;
			void **again = m ? malloc(m * (sizeof(void *) + sizeof(int))) : NULL;
			if (!again)
				break; /* none busy, or no memory: they keep their first answer */
			int *st2 = (int *)(again + m);
			m = 0;
			for (size_t k = 0; k < c; k++)
				if (status[done + k] == -EBUSY || status[done + k] == -EAGAIN)
					again[m++] = pages[done + k];
			if (move_pages(0, m, again, nodes, st2, MPOL_MF_MOVE) >= 0)
				for (size_t k = 0, j = 0; k < c && j < m; k++)
					if (status[done + k] == -EBUSY || status[done + k] == -EAGAIN)
						status[done + k] = st2[j++];
			free(again);
		}
		if (rc < 0) {
			int e = errno;
			for (size_t k = 0; k < c; k++)
				status[done + k] = -e;
			if (ret == -EIO)
				ret = -e;
		} else {
			for (size_t k = 0; k < c; k++) {
				int s = status[done + k];
				/* the node the page is on, or -errno; a page that
				 * stayed elsewhere (shared with a forked child:
				 * MPOL_MF_MOVE moves only this process's own) failed */
				status[done + k] = s == target ? 0 : s < 0 ? s : -EBUSY;
				if (!status[done + k])
					ret = 0;
			}
		}
		done += c;
	}
	free(nodes);
	return ret;
}

const struct hm_tier_ops hm_tier_numa_ops = {
	.kind = "numa",
	.usage = "numa:NODE[,size=SIZE][,cpus]",
	.tier_class = HM_TIER_COHERENT,
	.priv_size = sizeof(struct numa_tier),
	.open = numa_open,
	.close = numa_close,
	.move = numa_move,
};

int hm_numa_memory_nodes(struct hm_numa_node *out, int max)
{
	if (numa_available() < 0)
		return 0;
	struct bitmask *allowed = numa_get_mems_allowed();
	uint64_t cn = cpu_nodes();
	int from = cn ? __builtin_ctzll(cn) : 0, n = 0;
	for (int node = 0; node <= numa_max_node() && node < MAX_NODES && n < max; node++) {
		char cpus[256];
		long long freeb = 0, total;
		if (node_cpulist(node, cpus, sizeof(cpus)) || cpus[0] || (total = numa_node_size64(node, &freeb)) <= 0)
			continue;
		out[n++] = (struct hm_numa_node){.node = node,
						 .total = (uint64_t)total,
						 .free = (uint64_t)(freeb > 0 ? freeb : 0),
						 .distance = numa_distance(from, node),
						 .from = from,
						 .allowed = allowed && numa_bitmask_isbitset(allowed, (unsigned)node)};
	}
	if (allowed)
		numa_bitmask_free(allowed);
	return n;
}
