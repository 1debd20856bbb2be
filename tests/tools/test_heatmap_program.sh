#!/bin/sh
# test_heatmap_program.sh HETMEM — `hetmem heatmap` draws a real program:
# Debian's python3 under `hetmem run --dram 24M` with HETMEM_RECORD, building
# a bytearray and a list as the quick start does (pymalloc's arenas: one
# region per MiB of small objects) and 80 private anonymous mappings, so
# that the record holds well over 64 regions spread over distant address
# ranges.  The record is drawn to .png and .svg (checked by their first
# bytes), listed (--list numbers every region), and one region is picked
# (--region).  The program waits (at most 40 s) until the record holds a
# sample with all its mappings.  Exit 77 (skipped) without gnuplot, python3 or userfaultfd.
set -u
hetmem=$1
. "$(dirname "$0")/heatmap_common.sh"
heatmap_setup prog

cat >"$dir/prog.py" <<'PY'
import mmap, os, time
b = bytearray(24 << 20)
for i in range(0, len(b), 4096):
    b[i:i + 8] = i.to_bytes(8, "little")
l = [i * i for i in range(600_000)]
maps = [mmap.mmap(-1, 256 << 10, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) for _ in range(80)]
for k, m in enumerate(maps):
    for off in range(0, len(m), 4096):
        m[off] = k & 255
# samples come from hetmem's reclaimer, which a long reclaim pass can hold
# back for seconds on a busy machine: keep everything alive until a sample
# with all the mappings is in the record (at most 40 s)
deadline = time.monotonic() + 40
while time.monotonic() < deadline:
    with open(os.environ["HETMEM_RECORD"]) as f:
        last = f.read().rsplit("\nsample ", 1)[-1]
    if last.count("\nregion ") > 64:
        break
    time.sleep(0.1)
assert all(b[i:i + 8] == i.to_bytes(8, "little") for i in range(0, len(b), 4096))
assert sum(l) == sum(i * i for i in range(600_000))
assert all(m[off] == k & 255 for k, m in enumerate(maps) for off in range(0, len(m), 4096))
print("python3: data checked")
PY
HETMEM_RECORD="$dir/run.rec" HETMEM_RECORD_MS=50 "$hetmem" run --dram 24M -- $py "$dir/prog.py" >"$dir/out" 2>&1 ||
	fail "python3 under hetmem run exited $?: $(cat "$dir/out")"
grep -q 'data checked' "$dir/out" || fail "python3 did not check its data: $(cat "$dir/out")"
[ -s "$dir/run.rec" ] || fail "no record written: $(cat "$dir/out")"

"$hetmem" heatmap "$dir/run.rec" --list >"$dir/list" || fail "--list exited $?: $(cat "$dir/list")"
nreg=$(sed -n 's/.* \([0-9]*\) region(s)$/\1/p' "$dir/list" | head -1)
[ -n "$nreg" ] && [ "$nreg" -gt 64 ] || fail "the record has ${nreg:-no} regions, expected more than 64: $(head -3 "$dir/list")"
[ "$(awk '$1 ~ /^[0-9]+$/' "$dir/list" | wc -l)" -eq "$nreg" ] || fail "--list does not list $nreg regions"
echo "ok: python3 under hetmem run: $nreg regions recorded"

for ext in png svg; do
	"$hetmem" heatmap "$dir/run.rec" -o "$dir/run.$ext" >"$dir/out" 2>&1 || fail "heatmap to .$ext exited $?: $(cat "$dir/out")"
	grep -q "$nreg of $nreg region(s)" "$dir/out" || fail "heatmap to .$ext: $(cat "$dir/out")"
	echo "ok: $(cat "$dir/out")"
done
[ "$(head -c 8 "$dir/run.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "run.png is not a PNG"
head -c 1024 "$dir/run.svg" | grep -q '<svg' || fail "run.svg is not SVG"
[ "$(wc -c <"$dir/run.png")" -gt 20000 ] || fail "run.png is only $(wc -c <"$dir/run.png") bytes"
# the largest region alone
big=$(awk '$1 ~ /^[0-9]+$/ && $4 == "MiB" && $3 + 0 > max { max = $3 + 0; n = $1 } END { print n }' "$dir/list")
"$hetmem" heatmap "$dir/run.rec" --region "$big" -o "$dir/big.png" >"$dir/out" 2>&1 || fail "--region $big exited $?: $(cat "$dir/out")"
grep -q "1 of $nreg region(s)" "$dir/out" || fail "--region $big: $(cat "$dir/out")"
echo "ok: --region $big: $(cat "$dir/out")"
[ -n "${HETMEM_HEATMAP_SAVE:-}" ] && cp "$dir/run.png" "$dir/run.svg" "$HETMEM_HEATMAP_SAVE"/
echo "SUCCESS"
