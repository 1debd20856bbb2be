#!/bin/bash
# hetmem stat --json: the record of a program under hetmem run parses as
# JSON and holds every field of hetmem_counters.h; with -w, one object a line.
# usage: test_stat_json.sh HETMEM COUNTERS_H
set -u
hetmem=$1 counters=$2
tmp=$(mktemp -d)
rp=
trap '[ -n "$rp" ] && kill $rp 2>/dev/null; rm -rf "$tmp"' EXIT
"$hetmem" run --dram 32M -- /usr/bin/python3 -c 'import os,time; x=bytearray(8<<20); print("ready", os.getpid(), flush=True); time.sleep(30)' >"$tmp/prog" 2>&1 &
rp=$!
for _ in $(seq 300); do grep -q '^ready' "$tmp/prog" && break; sleep 0.1; done
pid=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$tmp/prog")
[ -n "$pid" ] || { grep -q 'userfaultfd' "$tmp/prog" && exit 77; echo "FAIL not ready:"; cat "$tmp/prog"; exit 1; }
"$hetmem" stat --json $pid >"$tmp/one" || { echo "FAIL stat --json"; exit 1; }
"$hetmem" stat --json -w 0.2 -n 2 $pid >"$tmp/two" || { echo "FAIL stat --json -w"; exit 1; }
/usr/bin/python3 - "$counters" "$tmp/one" "$tmp/two" <<'PY'
import json, re, sys
fields = re.findall(r'^\tX\((\w+),', open(sys.argv[1]).read(), re.M)
one = [json.loads(l) for l in open(sys.argv[2])]
two = [json.loads(l) for l in open(sys.argv[3])]
assert len(one) == 1 and len(two) == 2, (len(one), len(two))
for o in one + two:
    missing = [f for f in fields if f not in o]
    assert not missing, missing
    assert o["pid"] > 0 and o["tiers"], o
print("ok: stat --json: %d counters, one object a line with -w" % len(fields))
PY
# hetmem run --stats-format=json: one object a line, the text form's keys
"$hetmem" run --dram 32M --stats="$tmp/txt" -- /bin/true || { echo "FAIL run --stats"; exit 1; }
"$hetmem" run --dram 32M --stats="$tmp/js" --stats-format=json -- /bin/true || { echo "FAIL run --stats-format=json"; exit 1; }
/usr/bin/python3 - "$counters" "$tmp/txt" "$tmp/js" <<'PY'
import json, re, sys
fields = re.findall(r'^\tX\((\w+),', open(sys.argv[1]).read(), re.M)
keys = re.findall(r'^(\w+) [0-9.]+$', open(sys.argv[2]).read(), re.M)
objs = [json.loads(l) for l in open(sys.argv[3])]
assert objs and keys
for o in objs:
    missing = [f for f in fields + keys if f not in o]
    assert not missing, missing
print("ok: run --stats-format=json: the text form's %d keys and %d counters" % (len(keys), len(fields)))
PY
