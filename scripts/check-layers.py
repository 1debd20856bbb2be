#!/usr/bin/python3
"""check-layers.py LIBHETMEM.a SRC_DIR — the calls between libhetmem's layers.

Each folder of src/ is a layer; a file may call (link to) files of its own
layer and of the layers below it.  This reads which object uses which
object's symbols (nm) and fails on a call upward that is not in KNOWN below:
the upward calls that remain, each with the reason it is still there.  A new
one fails the test; one in KNOWN that is gone is reported, to be removed.
"""
import collections, os, re, subprocess, sys

# Lowest first.  track and place are one layer: tracking feeds placement.
RANKS = {"os": 0, "tiers": 1, "space": 2, "fault": 3, "migrate": 4,
         "track": 5, "place": 5, "policies": 5, "device": 6, "core": 7}

# (caller, callee): why the call upward is still there.
KNOWN = {
    ("fault", "policy"): "the fault path reports each fault to the policy (hm_policy_event): a direct call, kept for the fault path's speed",
    ("fault", "reclaim"): "the fault path wakes the reclaimer and asks whether to hold a fault (hm_reclaim_kick, hm_reclaim_must_hold)",
    ("fault", "track"): "a hint fault charges the tracker, a fault in its hold area is a hole, and write-protect faults depend on async WP (hm_track_charge, hm_track_in_hold, hm_track_wp_async)",
    ("fault", "sample"): "a hint fault puts its sample back (hm_track_restore)",
    ("fault", "faultwait"): "a faulting thread is noted for the fault-wait window (hm_wait_tids)",
    ("sigfault", "migrate"): "signal mode maps its spare range with hm_map_registered, which lives with the staging ranges in migrate.c",
    ("sigfault", "policy"): "signal mode tells the policy of the victim it recycles (hm_policy_demoted) and reads its clock",
    ("migrate", "policy"): "a demotion is reported to the policy (hm_policy_demoted)",
    ("migrate", "track"): "a migration asks whether async write-protect is in force (hm_track_wp_async)",
    ("migrate", "sample"): "a migration puts back the samples of its folios (hm_track_restore)",
    ("space", "track"): "hm_protect asks whether async write-protect tracking is in force (hm_track_wp_async)",
    ("cuda", "options"): "a cuda: tier reads HETMEM_CUDA_LIB (the tests' stand-in driver) with hm_options_parse_var where it loads the driver: at the tier's open and at GPU discovery (hetmem info, hetmem run's default tier), before hm_init too",
    ("numa", "space"): "a NUMA tier opened after ranges are managed binds them to the local nodes (containment: hm_regions_snapshot); the ranges managed later are bound by hm_region_alloc calling down",
}

def main():
    lib, src = sys.argv[1], sys.argv[2]
    layer = {}
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith(".c"):
                layer[f[:-2]] = os.path.basename(root)
    out = subprocess.run(["nm", "-A", lib], capture_output=True, text=True, check=True).stdout
    defs, uses = {}, collections.defaultdict(set)
    for line in out.splitlines():
        m = re.match(r"[^:]*:([\w-]+)\.c\.o:\s*(?:[0-9a-f]+)?\s+([A-Za-z])\s+(\S+)$", line)
        if not m:
            continue
        obj, t, sym = m.groups()
        if t == "U":
            uses[obj].add(sym)
        elif t in "TDBRVWC":
            defs.setdefault(sym, obj)
    if not uses:
        print("FAIL: nm found no object of", lib)
        return 1
    bad, seen = [], set()
    for obj in uses:
        if layer.get(obj) not in RANKS:
            bad.append(f"{obj}.c is in {layer.get(obj)}/, a folder with no rank in RANKS")
    for obj, syms in sorted(uses.items()):
        for callee in sorted({defs[s] for s in syms if s in defs} - {obj}):
            a, b = layer.get(obj), layer.get(callee)
            if a not in RANKS or b not in RANKS or RANKS[b] <= RANKS[a]:
                continue
            edge = (obj, callee)
            what = " ".join(sorted(s for s in syms if defs.get(s) == callee))
            if edge in KNOWN:
                seen.add(edge)
                print(f"known: {a}/{obj} -> {b}/{callee} ({what}): {KNOWN[edge]}")
            else:
                bad.append(f"{a}/{obj}.c calls up into {b}/{callee}.c: {what}")
    for edge in sorted(set(KNOWN) - seen):
        print(f"gone (remove it from KNOWN): {edge[0]} -> {edge[1]}")
    for b in bad:
        print("FAIL:", b)
    print(f"{len(layer)} files, {len(seen)} known upward calls, {len(bad)} new")
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main())
