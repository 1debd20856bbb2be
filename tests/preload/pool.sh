#!/bin/sh
# pool.sh — the default tier's footprint under real programs.
#
#   pool.sh HETMEM start   `hetmem run --tier emu:4G -- /bin/true` finishes in
#                          seconds and never holds the 4 GiB (peak RSS of the
#                          whole run, check process included, from
#                          /usr/bin/time -v, under 256 MiB), and it says at
#                          start that the tier is emulated in RAM; a run with
#                          the default tier (lz4, compressed in RAM) says
#                          nothing, and `hetmem info` names that tier and why
#   pool.sh HETMEM sort    coreutils sort of a ~30 MB input under
#                          `hetmem run --dram 32M` with the default tier (lz4):
#                          output byte-equal to sort's own, and the peak of
#                          VmRSS (the compressed pool is the program's own
#                          heap memory) at most 1.5x sort's own peak + 64 MiB.
#                          The run is sampled every 50 ms and killed past
#                          4x that bound, so a pool that keeps what it frees
#                          cannot take the machine.
#   pool.sh HETMEM chain   the same sort under `hetmem run --dram 32M --tier
#                          lz4:8M --tier file:...` with HETMEM_WRITEBACK_AGE=1:
#                          output byte-equal, pages written back to the file
#                          (the report's "written back N", the file tier's
#                          pages-in), and the compressed pool within 8 MiB
# HETMEM_DEMOTE is passed through (CTest runs sort under move and wp).
# Exit 0 pass, 1 fail, 77 skipped.
. "$(dirname "$0")/../lib.sh"
hetmem=$1
what=$2
tmp=$(mktemp -d /tmp/hetmem-pool.XXXXXX) || exit 1
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$hetmem" run --dram 16M -- /bin/true >"$tmp/o" 2>&1 || hm_skip "hetmem run cannot start a program here: $(cat "$tmp/o")"

# peak of VmRSS (kB) of process $1 until it exits; kill it past $2 kB
peak_of() {
	peak=0
	while [ -r /proc/$1/status ]; do
		# an exited process (a zombie, until it is waited for) is done
		grep -q '^State:.*Z' /proc/$1/status 2>/dev/null && break
		r=$(awk '/^VmRSS:/ {print $2}' /proc/$1/status 2>/dev/null)
		if [ -n "$r" ] && [ "$r" -gt "$peak" ]; then
			peak=$r
			if [ "$peak" -gt "$2" ]; then
				kill -9 $1 2>/dev/null
				echo "$peak killed"
				return
			fi
		fi
		sleep 0.05
	done
	echo "$peak"
}

case $what in
start)
	[ -x /usr/bin/time ] || hm_skip "/usr/bin/time is not installed (package time)"
	t0=$(date +%s)
	/usr/bin/time -v "$hetmem" run --tier emu:4G -- /bin/true >"$tmp/o" 2>"$tmp/e" ||
		fail "hetmem run --tier emu:4G -- /bin/true failed: $(cat "$tmp/e")"
	t1=$(date +%s)
	rss=$(awk -F: '/Maximum resident set size/ {print $2+0}' "$tmp/e")
	echo "emu:4G /bin/true: peak RSS $rss kB, $((t1 - t0)) s"
	[ -n "$rss" ] || fail "no peak RSS from /usr/bin/time -v: $(cat "$tmp/e")"
	[ "$rss" -lt 262144 ] || fail "hetmem run --tier emu:4G -- /bin/true peaked at $rss kB: the pool is filled up front"
	[ $((t1 - t0)) -lt 10 ] || fail "hetmem run --tier emu:4G -- /bin/true took $((t1 - t0)) s"
	grep -q "^hetmem: tier emu:4G is emulated in RAM: pages demoted there still use RAM" "$tmp/e" ||
		fail "no line saying the tier is emulated: $(cat "$tmp/e")"
	"$hetmem" run --dram 16M -- /bin/true 2>"$tmp/e" || fail "the default tier: $(cat "$tmp/e")"
	[ ! -s "$tmp/e" ] || fail "the default tier: hetmem run said something: $(cat "$tmp/e")"
	"$hetmem" info >"$tmp/i" 2>&1 || fail "hetmem info: $(cat "$tmp/i")"
	if ls /dev/dax* /dev/pmem* >/dev/null 2>&1; then
		# device-dax is mapped (dax:), a pmem block device read (file:)
		grep -Eq "^hetmem run's tier: *(dax:/dev/dax|file:/dev/pmem)" "$tmp/i" ||
			fail "hetmem info: no DAX/pmem default: $(cat "$tmp/i")"
	else
		grep -q "^hetmem run's tier: *lz4:[0-9]*M (when no --tier is given): no usable GPU, memory-only NUMA node, DAX or persistent-memory device here, so demoted pages are compressed in RAM" "$tmp/i" ||
			fail "hetmem info: the default is not lz4 with its reason: $(grep "run's tier" "$tmp/i")"
	fi
	;;
sort)
	sort=$(command -v sort) || hm_skip "sort is not installed"
	export LC_ALL=C
	awk 'BEGIN { srand(7); for (i = 0; i < 1200000; i++) printf "%08x%08x %d\n", rand() * 4294967296, rand() * 4294967296, i }' >"$tmp/in"
	"$sort" "$tmp/in" >"$tmp/want" &
	pid=$!
	base=$(peak_of $pid 100000000)
	wait $pid || fail "sort without hetmem failed"
	pid=""
	bound=$((base * 3 / 2 + 65536))
	"$hetmem" run --dram 32M --stats="$tmp/stats" -- "$sort" "$tmp/in" >"$tmp/got" 2>"$tmp/e" &
	pid=$!
	peak=$(peak_of $pid $((bound * 4)))
	wait $pid
	rc=$?
	pid=""
	echo "sort of $(($(wc -c <"$tmp/in") >> 20)) MiB: peak VmRSS ${base} kB alone, ${peak} under hetmem --dram 32M (bound $bound kB)"
	case $peak in *killed*) fail "killed at VmRSS ${peak% killed} kB: the pool keeps growing" ;; esac
	[ $rc = 0 ] || fail "sort under hetmem exited $rc: $(cat "$tmp/e")"
	cmp -s "$tmp/want" "$tmp/got" || fail "sort under hetmem wrote other output"
	grep -q "demoted [1-9]" "$tmp/stats" || fail "nothing was demoted: $(cat "$tmp/stats")"
	grep -q "^  1 *lz4:" "$tmp/stats" || fail "the default tier is not lz4: $(cat "$tmp/stats")"
	[ "$peak" -le "$bound" ] || fail "peak VmRSS $peak kB under hetmem, over $bound kB (sort alone: $base kB)"
	;;
chain)
	sort=$(command -v sort) || hm_skip "sort is not installed"
	export LC_ALL=C
	awk 'BEGIN { srand(7); for (i = 0; i < 1200000; i++) printf "%08x%08x %d\n", rand() * 4294967296, rand() * 4294967296, i }' >"$tmp/in"
	"$sort" "$tmp/in" >"$tmp/want" || fail "sort without hetmem failed"
	HETMEM_WRITEBACK_AGE=1 "$hetmem" run --dram 32M --tier lz4:8M --tier "file:$tmp/wb,size=256M" \
		--stats="$tmp/stats" -- "$sort" "$tmp/in" >"$tmp/got" 2>"$tmp/e" || fail "sort under hetmem failed: $(cat "$tmp/e")"
	cmp -s "$tmp/want" "$tmp/got" || fail "sort under hetmem (lz4 then file) wrote other output"
	grep "compressed:" "$tmp/stats" | head -1
	grep -q "written back [1-9]" "$tmp/stats" || fail "nothing was written back to the file: $(cat "$tmp/stats")"
	# the totals' tier table: tier 2, the file, took pages in
	awk '$1 == "2" && $2 ~ /^file:/ { if ($(NF-2) + 0 > 0) ok = 1 } END { exit !ok }' "$tmp/stats" ||
		fail "the file tier took no pages: $(grep -A4 ' id ' "$tmp/stats")"
	;;
*)
	echo "usage: pool.sh HETMEM start|sort|chain"
	exit 2
	;;
esac
echo "pass"
