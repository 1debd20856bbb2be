#!/bin/sh
# test_heatmap.sh HETMEM RECORD_RUN — records a short run (once through
# HETMEM_RECORD, once through hm_record_start), draws it with
# `hetmem heatmap`, and checks the PNG (signature, size); then checks that
# bad input (a malformed record, a missing file, no gnuplot) fails with a
# message.  Exit 77 (skipped) without gnuplot or userfaultfd.
set -u
hetmem=$1
run=$2
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "SKIPPED: gnuplot not installed (apt-get install gnuplot-nox)"
	exit 77
fi
dir=$(mktemp -d /tmp/hetmem-heatmap-test-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

HETMEM_RECORD="$dir/env.rec" HETMEM_RECORD_MS=20 "$run"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail "record_run (HETMEM_RECORD) exited $rc"
"$run" "$dir/api.rec" || fail "record_run (hm_record_start) exited $?"
head -1 "$dir/env.rec" | grep -qx 'hetmem-record 1' || fail "env.rec has no header"

for r in env api; do
	"$hetmem" heatmap "$dir/$r.rec" -o "$dir/$r.png" || fail "heatmap of $r.rec exited $?"
	sig=$(head -c 8 "$dir/$r.png" | od -An -tx1 | tr -d ' \n')
	[ "$sig" = 89504e470d0a1a0a ] || fail "$r.png is not a PNG (signature $sig)"
	size=$(wc -c <"$dir/$r.png")
	[ "$size" -gt 10000 ] || fail "$r.png is only $size bytes"
	echo "ok: $r.png, $size bytes"
done
# the picture must show the data: the same record with every value zeroed
# draws two blank panels, a much smaller PNG
awk '/^[rh] / { printf "%s %s", $1, $2; for (i = 3; i <= NF; i++) printf " 0"; print ""; next } { print }' \
	"$dir/env.rec" >"$dir/zero.rec"
"$hetmem" heatmap "$dir/zero.rec" -o "$dir/zero.png" 2>/dev/null || fail "heatmap of zero.rec exited $?"
zsize=$(wc -c <"$dir/zero.png")
size=$(wc -c <"$dir/env.png")
[ "$size" -gt $((zsize * 5 / 4)) ] || fail "env.png ($size bytes) is not larger than a blank picture ($zsize bytes)"
echo "ok: env.png $size bytes, blank $zsize bytes"

# bad input: non-zero exit and a message naming the problem
expect_fail() { # NAME NEEDLE CMD...
	name=$1 needle=$2
	shift 2
	"$@" >"$dir/out" 2>&1 && fail "$name: exited 0"
	grep -q "$needle" "$dir/out" || fail "$name: message does not say '$needle': $(cat "$dir/out")"
	[ -e "$dir/bad.png" ] && fail "$name: wrote an image anyway"
	echo "ok: $name: $(head -1 "$dir/out")"
}
printf 'not a record\n' >"$dir/bad1.rec"
expect_fail "wrong header" "not a hetmem record" "$hetmem" heatmap "$dir/bad1.rec" -o "$dir/bad.png"
# lines 7-10 are the first sample: sample, region, r, h
sed -n 9p "$dir/env.rec" | grep -q '^r 0x' || fail "unexpected record layout: $(sed -n 9p "$dir/env.rec" | cut -c1-40)"
awk 'NR == 9 { print "r " $2 " 1 2 3"; next } { print }' "$dir/env.rec" >"$dir/bad2.rec"
expect_fail "short value line" ":9: expected NB per-mille" "$hetmem" heatmap "$dir/bad2.rec" -o "$dir/bad.png"
awk 'NR == 9 { $3 = 1001 } { print }' "$dir/env.rec" >"$dir/bad5.rec"
expect_fail "value out of range" ":9:" "$hetmem" heatmap "$dir/bad5.rec" -o "$dir/bad.png"
awk 'NR == 9 { print "garbage here" } { print }' "$dir/env.rec" >"$dir/bad3.rec"
expect_fail "unknown line" "unknown line" "$hetmem" heatmap "$dir/bad3.rec" -o "$dir/bad.png"
head -10 "$dir/env.rec" >"$dir/bad4.rec"
expect_fail "one sample" "at least 2 samples" "$hetmem" heatmap "$dir/bad4.rec" -o "$dir/bad.png"
expect_fail "missing file" "cannot open" "$hetmem" heatmap "$dir/none.rec" -o "$dir/bad.png"
expect_fail "no gnuplot" "gnuplot not found" env PATH=/nonexistent "$hetmem" heatmap "$dir/env.rec" -o "$dir/bad.png"
expect_fail "no output" "usage" "$hetmem" heatmap "$dir/env.rec"
# a bad HETMEM_RECORD fails hm_init with a message
expect_fail "unwritable record" "HETMEM_RECORD" env HETMEM_RECORD=/nonexistent/dir/x.rec "$run"
echo "SUCCESS"
