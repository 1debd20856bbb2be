#!/usr/bin/python3
"""bench/python_heap.py MIB KOPS: a python workload for bench/python.sh.

Builds a heap of about MIB MiB of records (dicts of strings, numbers and
lists, like an application's cached objects), then serves KOPS thousand
lookups: 90% on a hot tenth of the records, 10% anywhere, each
reading and updating the record.  Prints "ops N" (lookups per second) and
"check SUM" (a checksum over every record, which must be the same in every
configuration), then waits for a line on stdin before exiting, so that its
memory can be measured while everything is still held."""
import os, random, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pages import record

mib, kops = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(41)
heap = []
while len(heap) * 1100 < mib << 20:
    r = record(rnd, len(heap))
    r["history"] = [rnd.random() for _ in range(rnd.randint(0, 12))]
    heap.append(r)
n, hot = len(heap), max(1, len(heap) // 10)
ops, t0 = 0, time.monotonic()
for _ in range(kops):
    for _ in range(1000):
        i = rnd.randrange(hot) if rnd.random() < 0.9 else rnd.randrange(n)
        r = heap[i]
        r["score"] = round(r["score"] * 0.99 + len(r["bio"]), 3)
        r["age"] = (r["age"] + 1) % 100
    ops += 1000
elapsed = time.monotonic() - t0
check = sum(r["age"] + len(r["bio"]) + len(r["history"]) for r in heap)
print("ops %.0f" % (ops / elapsed), flush=True)
print("check %d" % check, flush=True)
sys.stdin.readline()
