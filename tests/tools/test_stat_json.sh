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
"$hetmem" stat --counters $pid >"$tmp/cnt" || { echo "FAIL stat --counters"; exit 1; }
if "$hetmem" stat --counters --json $pid >/dev/null 2>&1; then echo "FAIL stat --counters --json accepted"; exit 1; fi
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
[ $? = 0 ] || { echo FAIL; exit 1; }
# hetmem stat --counters: a "NAME VALUE" line for each counter of the list
/usr/bin/python3 - "$counters" "$tmp/cnt" "$tmp/one" <<'PY'
import json, re, sys
fields = re.findall(r'^\tX\((\w+),', open(sys.argv[1]).read(), re.M)
lines = [l.split() for l in open(sys.argv[2])]
assert all(len(l) == 2 and l[1].isdigit() for l in lines), lines
names = [l[0] for l in lines]
missing = [f for f in fields if f not in names]
assert not missing, missing
extra = [n for n in names if n not in fields]
assert all(re.match(r'(preload_|peak_)', n) for n in extra), extra
print("ok: stat --counters: %d lines, every counter and the preload library's" % len(lines))
PY
[ $? = 0 ] || { echo FAIL; exit 1; }
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
[ $? = 0 ] || { echo FAIL; exit 1; }
