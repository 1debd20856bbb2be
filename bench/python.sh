#!/bin/bash
# bench/python.sh BUILD_DIR [--budget MiB] [--heap MiB] [--kops N] [--rounds R] [--no-zram] [--tier SPEC]
#
# A python workload (bench/python_heap.py: a heap of HEAP MiB of records, then
# N thousand lookups, 90% on a hot tenth) in three configurations, taking
# turns for R rounds (default 3; medians count):
#   ram     plain python3, everything in RAM (the baseline)
#   hetmem  under `hetmem run --dram BUDGET` (its default tier, lz4
#           compressed in RAM, unless --tier names one)
#   zram    in a memory cgroup (v1) with memory.limit_in_bytes = BUDGET,
#           swapping to a zram device set up for the run (root only)
# For each: lookups per second, and the total memory it takes once the heap
# is built and the lookups are done: the process's VmRSS (hetmem's
# compressed pool is in the process's heap, so counted there), plus for zram
# the RAM zram uses (mm_stat mem_used_total).  The program's checksum must
# be the same in every configuration.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1/hetmem" ]; then
	echo "usage: bench/python.sh BUILD_DIR [--budget MiB] [--heap MiB] [--kops N] [--rounds R] [--no-zram] [--tier SPEC]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
shift
budget_mb=128 heap_mb=512 kops=2000 rounds=3 zram=1 tier=""
while [ $# -gt 0 ]; do
	case $1 in
	--budget) budget_mb=$2; shift 2 ;;
	--heap) heap_mb=$2; shift 2 ;;
	--kops) kops=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--no-zram) zram=0; shift ;;
	--tier) tier=$2; shift 2 ;;
	*) echo "python.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
hetmem=$build/hetmem
dir=$(mktemp -d /tmp/hetmem-bench-python.XXXXXX)
cg="" zdev=""
cleanup() {
	set +e
	zram_memcg_down
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

print_header
echo "python:  $(/usr/bin/python3 --version); heap ~${heap_mb} MiB, budget ${budget_mb} MiB, ${kops}k lookups"
echo

zram_ok=0
if [ "$zram" = 1 ] && zram_memcg_up python "$((heap_mb * 3))" "$budget_mb"; then
	zram_ok=1
fi

# run_one NAME PREFIX...: prints "NAME OPS TOTAL_MiB CHECK"
run_one() {
	local name=$1 pid ppid_ rss ops check
	shift
	trap '' PIPE # a program killed meanwhile: the line to its fifo must not kill this shell
	rm -f "$dir/in" "$dir/out"
	mkfifo "$dir/in"
	"$@" /usr/bin/python3 "$here/python_heap.py" "$heap_mb" "$kops" <"$dir/in" >"$dir/out" 2>"$dir/err-$name" &
	ppid_=$!
	exec 9>"$dir/in"
	# until it has printed its check, or died (the memcg's OOM killer at a
	# budget too small for the kernel's reclaim)
	for _ in $(seq 6000); do
		grep -q '^check' "$dir/out" 2>/dev/null && break
		kill -0 "$ppid_" 2>/dev/null || break
		sleep 0.1
	done
	# the python process: the prefix's child for hetmem run, else itself
	pid=$(pgrep -n -f "python_heap.py $heap_mb $kops" || true)
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
	if [ "$name" = zram ]; then
		rss=$((rss + $(awk '{ print $3 }' "/sys/block/zram$zdev/mm_stat") / 1024))
	fi
	echo >&9 2>/dev/null || true
	exec 9>&-
	wait "$ppid_" || echo "python.sh: $name exited $? (137: killed, the OOM killer at this budget?): $(cat "$dir/err-$name")" >&2
	ops=$(awk '/^ops/ { print $2 }' "$dir/out")
	check=$(awk '/^check/ { print $2 }' "$dir/out")
	echo "$name ${ops:-0} $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') ${check:-none}"
}

all=()
for round in $(seq "$rounds"); do
	all+=("$(run_one ram env)")
	all+=("$(run_one hetmem "$hetmem" run --dram "${budget_mb}M" ${tier:+--tier "$tier"} --)")
	[ "$zram_ok" = 1 ] && all+=("$(run_one zram sh -c "echo \$\$ > $cg/cgroup.procs && exec \"\$@\"" sh)")
done
printf '%s\n' "${all[@]}" | sed 's/^/    run: /' >&2
# runs that did not finish (killed) are counted and left out of the medians
for c in ram hetmem zram; do
	k=$(printf '%s\n' "${all[@]}" | awk -v c="$c" '$1 == c && $4 == "none"' | wc -l)
	[ "$k" = 0 ] || echo "python.sh: $c: $k of $rounds runs did not finish (killed: at this budget the OOM killer ended it)"
done
all=($(printf '%s\n' "${all[@]}" | awk '$4 != "none"' | tr ' ' '_'))
all=("${all[@]//_/ }")
checks=$(printf '%s\n' "${all[@]}" | awk '{ print $4 }' | sort -u | wc -l)
printf "\nmedians of %s rounds\n%-8s %12s %10s\n" "$rounds" config "lookups/s" "total MiB"
declare -A ops tot
for c in ram hetmem zram; do
	# the median of each column on its own
	med() { printf '%s\n' "${all[@]}" | awk -v c="$c" -v f="$1" '$1 == c { print $f }' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
	r="$(med 2) $(med 3)"
	[ "$r" != " " ] || continue
	set -- $r
	ops[$c]=$1 tot[$c]=$2
	printf "%-8s %12s %10s\n" "$c" "$1" "$2"
done
echo
[ "$checks" = 1 ] || { echo "python.sh: the program's checksum differs between runs: $(printf '%s\n' "${all[@]}")" >&2; exit 1; }
awk -v a="${ops[hetmem]}" -v b="${ops[ram]}" 'BEGIN { printf "hetmem / all-in-RAM lookups: %.2f\n", a / b }'
if [ -n "${ops[zram]:-}" ]; then
	awk -v a="${ops[hetmem]}" -v b="${ops[zram]}" -v c="${tot[hetmem]}" -v d="${tot[zram]}" 'BEGIN {
		printf "hetmem / kernel+zram: lookups %.2f (target >= 1.00), total memory %.1f / %.1f MiB = %.2f (target <= 1.00)\n", a / b, c, d, c / d }'
fi
