#!/bin/sh
# test_heatmap_tree.sh HETMEM — a record of a process tree under `hetmem
# run`: python3 (a 96 MiB bytearray) starts another python3 (a 40 MiB one),
# which inherits HETMEM_RECORD.  With a plain path only the program that
# `hetmem run` started records (the child must not truncate the file and
# write into it at the same time); with %p in the path each process records
# to its own file.  Every record must be one that `hetmem heatmap` reads.
# The budget (192M) is above the footprint: samples are taken while a
# budget is set, and nothing needs to move.  Exit 77 (skipped) without
# gnuplot, python3 or userfaultfd.
set -u
hetmem=$1
. "$(dirname "$0")/heatmap_common.sh"
heatmap_setup tree

# each process fills its bytearray, then waits (at most 20 s) until its own
# record has two samples with it; a process that does not record waits 1 s
cat >"$dir/prog.py" <<'PY'
import os, re, subprocess, sys, time
def fill_and_wait(mib):
    b = bytearray(mib << 20)
    for i in range(0, len(b), 4096):
        b[i] = 1
    path = os.environ["HETMEM_RECORD"].replace("%p", str(os.getpid()))
    mine = "%p" in os.environ["HETMEM_RECORD"] or len(sys.argv) == 1
    deadline = time.monotonic() + (20 if mine else 1)
    while time.monotonic() < deadline:
        if mine:
            with open(path, errors="replace") as f:
                sizes = [int(x) >> 20 for x in re.findall(r"^region \S+ (\d+) ", f.read(), re.M)]
            if sum(mib <= x < 2 * mib for x in sizes) >= 2:
                break
        time.sleep(0.05)
    assert sum(b[::4096]) == len(b) // 4096
    return b
if len(sys.argv) > 1:
    fill_and_wait(40)
    sys.exit(0)
b = fill_and_wait(96)
subprocess.run([sys.executable, sys.argv[0], "child"], check=True)
fill_and_wait(96)  # two more samples after the child ended
print("tree: data checked")
PY
HETMEM_RECORD="$dir/tree.rec" HETMEM_RECORD_MS=50 "$hetmem" run --dram 192M -- $py "$dir/prog.py" >"$dir/out" 2>&1 ||
	fail "python3 under hetmem run exited $?: $(cat "$dir/out")"
grep -q 'data checked' "$dir/out" || fail "python3: $(cat "$dir/out")"
"$hetmem" heatmap "$dir/tree.rec" --list >"$dir/list" 2>&1 || fail "tree.rec is not a record heatmap reads: $(cat "$dir/list")"
# a bytearray's region: larger than its size (allocator rounding), less than twice
has() { # LIST MIB -> whether a region of MIB..2*MIB MiB is listed
	awk -v m="$2" '$4 == "MiB" && $3 + 0 >= m && $3 + 0 < 2 * m { f = 1 } END { exit !f }' "$1"
}
has "$dir/list" 96 || fail "tree.rec has not the parent's 96 MiB bytearray: $(cat "$dir/list")"
has "$dir/list" 40 && fail "tree.rec has the child's 40 MiB bytearray: $(cat "$dir/list")"
"$hetmem" heatmap "$dir/tree.rec" -o "$dir/tree.png" >/dev/null || fail "drawing tree.rec exited $?"
echo "ok: a plain HETMEM_RECORD holds the program that hetmem run started, not its child"

HETMEM_RECORD="$dir/tree-%p.rec" HETMEM_RECORD_MS=50 "$hetmem" run --dram 192M -- $py "$dir/prog.py" >"$dir/out" 2>&1 ||
	fail "python3 under hetmem run (%p) exited $?: $(cat "$dir/out")"
n=0 parent=0 child=0
for f in "$dir"/tree-[0-9]*.rec; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	"$hetmem" heatmap "$f" --list >"$dir/list" 2>&1 || fail "$f is not a record heatmap reads: $(cat "$dir/list")"
	has "$dir/list" 96 && parent=$((parent + 1))
	has "$dir/list" 40 && child=$((child + 1))
done
[ $n -eq 2 ] && [ $parent -eq 1 ] && [ $child -eq 1 ] ||
	fail "HETMEM_RECORD with %p: $n record(s), $parent with the parent's bytearray, $child with the child's: $(ls "$dir")"
echo "ok: HETMEM_RECORD with %p: one record per process"
echo "SUCCESS"
