#!/bin/sh
# test_heatmap.sh HETMEM RECORD_RUN — records a short run (once through
# HETMEM_RECORD, once through hm_record_start), draws it with
# `hetmem heatmap`, and checks the pictures: PNG, SVG and PDF by their first
# bytes, any other extension refused before any work and nothing written;
# never-populated memory in its own colour (--all draws the quarter that
# record_run never touches); --list and --region.  Then checks that bad
# input (a malformed record, a version 1 record, a missing file, no gnuplot)
# fails with a message.  Exit 77 (skipped) without gnuplot or userfaultfd.
set -u
. "$(dirname "$0")/../lib.sh"
hetmem=$1
run=$2
if ! command -v gnuplot >/dev/null 2>&1; then
	hm_skip "gnuplot not installed (apt-get install gnuplot-nox)"
fi
dir=$(mktemp -d /tmp/hetmem-heatmap-test-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

HETMEM_RECORD="$dir/env.rec" HETMEM_RECORD_MS=20 "$run"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail "record_run (HETMEM_RECORD) exited $rc"
"$run" "$dir/api.rec" || fail "record_run (hm_record_start) exited $?"
head -1 "$dir/env.rec" | grep -qx 'hetmem-record 2' || fail "env.rec has no header"

for r in env api; do
	"$hetmem" heatmap "$dir/$r.rec" -o "$dir/$r.png" || fail "heatmap of $r.rec exited $?"
	sig=$(head -c 8 "$dir/$r.png" | od -An -tx1 | tr -d ' \n')
	[ "$sig" = 89504e470d0a1a0a ] || fail "$r.png is not a PNG (signature $sig)"
	size=$(wc -c <"$dir/$r.png")
	[ "$size" -gt 10000 ] || fail "$r.png is only $size bytes"
	echo "ok: $r.png, $size bytes"
done
# the picture must show the data: the image data (kept by
# HETMEM_HEATMAP_KEEP) hold cells in RAM (red) and on the tier (blue), and
# the same record with every value zeroed holds none
share() { # IMAGE_DATA R G B -> per mille of the cells in that colour
	awk -v r="$2" -v g="$3" -v b="$4" 'NF == 5 { n++; if ($3 == r && $4 == g && $5 == b) k++ }
		END { print n ? int(k * 1000 / n) : 0 }' "$1"
}
keep() { # ARGS...: runs hetmem heatmap keeping its files; sets $kept
	HETMEM_HEATMAP_KEEP=1 "$hetmem" heatmap "$@" >"$dir/out" 2>&1 || fail "heatmap $* exited $?: $(cat "$dir/out")"
	kept=$(sed -n 's/.*kept //p' "$dir/out")
	[ -f "$kept/where.dat" ] || fail "no image data kept: $(cat "$dir/out")"
}
keep "$dir/env.rec" -o "$dir/keep.png"
ram=$(share "$kept/where.dat" 214 39 40) dev=$(share "$kept/where.dat" 31 119 180)
rm -rf "$kept"
[ "$ram" -ge 50 ] && [ "$dev" -ge 50 ] || fail "env.png: $ram per mille of the cells in RAM, $dev on the tier"
awk '/^[rhn] / { printf "%s %s", $1, $2; for (i = 3; i <= NF; i++) printf " 0"; print ""; next }
     /^d / { next } { print }' "$dir/env.rec" >"$dir/zero.rec"
keep --all "$dir/zero.rec" -o "$dir/zero.png"
zram=$(share "$kept/where.dat" 214 39 40) zdev=$(share "$kept/where.dat" 31 119 180)
zgrey=$(share "$kept/where.dat" 190 190 190)
rm -rf "$kept"
[ "$zram" -eq 0 ] && [ "$zdev" -eq 0 ] && [ "$zgrey" -ge 900 ] ||
	fail "zero.png: $zram per mille in RAM, $zdev on the tier, $zgrey untouched"
echo "ok: cells in RAM $ram, on the tier $dev per mille; all zero: $zgrey per mille untouched"

# the format comes from the extension
"$hetmem" heatmap "$dir/env.rec" -o "$dir/env.svg" >/dev/null || fail "heatmap to .svg exited $?"
head -c 1024 "$dir/env.svg" | grep -q '<svg' || fail "env.svg is not SVG: $(head -c 60 "$dir/env.svg" | od -c | head -2)"
head -c 8 "$dir/env.svg" | od -An -tx1 | grep -q '89 50 4e 47' && fail "env.svg holds PNG data"
echo "ok: env.svg is SVG"
"$hetmem" heatmap "$dir/env.rec" -o "$dir/env.pdf" >/dev/null || fail "heatmap to .pdf exited $?"
[ "$(head -c 5 "$dir/env.pdf")" = "%PDF-" ] || fail "env.pdf is not PDF"
echo "ok: env.pdf is PDF"
for ext in jpg txt PNG.bak; do
	"$hetmem" heatmap "$dir/none.rec" -o "$dir/x.$ext" >"$dir/out" 2>&1 && fail "-o x.$ext: exited 0"
	grep -q "'.${ext##*.}'.*supported: .png, .svg, .pdf" "$dir/out" || fail "-o x.$ext: message: $(cat "$dir/out")"
	[ -e "$dir/x.$ext" ] && fail "-o x.$ext: wrote a file"
	echo "ok: -o x.$ext refused before reading the record: $(cat "$dir/out")"
done

# never populated memory has its own colour: record_run never touches the
# last quarter of its 32 MiB region; --all draws it, the default leaves it out
keep --all "$dir/env.rec" -o "$dir/all.svg"
gall=$(share "$kept/where.dat" 190 190 190)
grep -q 'never populated' "$kept/plot.gp" || fail "the key does not name never-populated memory"
grep -q 'rgb(190, 190, 190)' "$dir/all.svg" || fail "all.svg has no untouched grey (in its key)"
rm -rf "$kept"
keep "$dir/env.rec" -o "$dir/def.png"
gdef=$(share "$kept/where.dat" 190 190 190)
rm -rf "$kept"
# the untouched quarter is 8 of 36 MiB: at least 15% of the cells with --all
[ "$gall" -ge 150 ] || fail "--all: only $gall per mille of the cells are untouched grey"
[ "$gdef" -lt $((gall - 100)) ] || fail "untouched grey: $gdef per mille by default, $gall with --all"
echo "ok: untouched grey: $gall per mille of the cells with --all, $gdef without"

# a colour per tier: the same record with the 32 MiB region's device pages
# on a second tier draws both tiers' colours and names both in the key
awk '/^tier 1 / { print; print "tier 2 file:/tmp/second"; next }
     /^region / { big = ($3 == 33554432) } /^d / && big { $3 = 2 } { print }' "$dir/env.rec" >"$dir/two.rec"
keep "$dir/two.rec" -o "$dir/two.png"
t1=$(share "$kept/where.dat" 31 119 180) t2=$(share "$kept/where.dat" 44 160 44)
grep -q 'on tier 1 (emu:64M)' "$kept/plot.gp" && grep -q 'on tier 2 (file:/tmp/second)' "$kept/plot.gp" ||
	fail "two.png: the key does not name both tiers: $(grep -o 'on tier[^"]*' "$kept/plot.gp")"
rm -rf "$kept"
[ "$t1" -ge 20 ] && [ "$t2" -ge 100 ] || fail "two.png: $t1 per mille of the cells on tier 1, $t2 on tier 2"
echo "ok: two tiers: $t1 and $t2 per mille of the cells in their colours"

# --list numbers the regions, --region picks them
"$hetmem" heatmap "$dir/env.rec" --list >"$dir/list" || fail "--list exited $?"
grep -q ' 2 region(s)' "$dir/list" || fail "--list: $(cat "$dir/list")"
small=$(awk '$3 == "4.0" && $4 == "MiB" { print $1 }' "$dir/list")
[ -n "$small" ] || fail "--list does not show the 4 MiB region: $(cat "$dir/list")"
"$hetmem" heatmap "$dir/env.rec" --region "$small" -o "$dir/one.png" >"$dir/out" || fail "--region $small exited $?"
grep -q '1 of 2 region(s) (4.0 MiB managed, 4.0 MiB drawn' "$dir/out" || fail "--region $small: $(cat "$dir/out")"
range=$(awk -v n="$small" '$1 == n { print $2 }' "$dir/list")
"$hetmem" heatmap "$dir/env.rec" --region "$range" -o "$dir/one.png" >"$dir/out" || fail "--region $range exited $?"
grep -q '1 of 2 region(s) (4.0 MiB managed, 4.0 MiB drawn' "$dir/out" || fail "--region $range: $(cat "$dir/out")"
"$hetmem" heatmap "$dir/env.rec" --region 0,1 -o "$dir/one.png" >"$dir/out" || fail "--region 0,1 exited $?"
grep -q '2 of 2 region(s)' "$dir/out" || fail "--region 0,1: $(cat "$dir/out")"
echo "ok: --region picks: $(cat "$dir/out")"
rm -f "$dir/bad.png"
expect_fail0() { "$@" >"$dir/out" 2>&1 && fail "$*: exited 0"; }
expect_fail0 "$hetmem" heatmap "$dir/env.rec" --region 2 -o "$dir/bad.png"
grep -q 'regions 0..1' "$dir/out" || fail "--region 2: $(cat "$dir/out")"
[ -e "$dir/bad.png" ] && fail "--region 2 wrote an image"
echo "ok: --region 2 refused: $(cat "$dir/out")"

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
# the first sample's r line, and the line after its last value line
rl=$(awk '/^r 0x/ { print NR; exit }' "$dir/env.rec")
[ -n "$rl" ] || fail "unexpected record layout: no r line"
awk -v l="$rl" 'NR == l { print "r " $2 " 1 2 3"; next } { print }' "$dir/env.rec" >"$dir/bad2.rec"
expect_fail "short value line" ":$rl: expected NB per-mille" "$hetmem" heatmap "$dir/bad2.rec" -o "$dir/bad.png"
awk -v l="$rl" 'NR == l { $3 = 1001 } { print }' "$dir/env.rec" >"$dir/bad5.rec"
expect_fail "value out of range" ":$rl:" "$hetmem" heatmap "$dir/bad5.rec" -o "$dir/bad.png"
awk -v l="$rl" 'NR == l { print "garbage here" } { print }' "$dir/env.rec" >"$dir/bad3.rec"
sed '1s/.*/hetmem-record 1/' "$dir/env.rec" >"$dir/v1.rec"
expect_fail "version 1 record" "version 1 record" "$hetmem" heatmap "$dir/v1.rec" -o "$dir/bad.png"
expect_fail "unknown line" "unknown line" "$hetmem" heatmap "$dir/bad3.rec" -o "$dir/bad.png"
awk '/^sample / && ++n == 2 { exit } { print }' "$dir/env.rec" >"$dir/bad4.rec"
expect_fail "one sample" "at least 2 samples" "$hetmem" heatmap "$dir/bad4.rec" -o "$dir/bad.png"
expect_fail "missing file" "cannot open" "$hetmem" heatmap "$dir/none.rec" -o "$dir/bad.png"
expect_fail "no gnuplot" "gnuplot not found" env PATH=/nonexistent "$hetmem" heatmap "$dir/env.rec" -o "$dir/bad.png"
expect_fail "no output" "usage" "$hetmem" heatmap "$dir/env.rec"
# a bad HETMEM_RECORD fails hm_init with a message
expect_fail "unwritable record" "HETMEM_RECORD" env HETMEM_RECORD=/nonexistent/dir/x.rec "$run"
echo "SUCCESS"
