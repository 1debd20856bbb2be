#!/bin/bash
# bench/exit.sh BUILD_DIR [--mib N] [--budget MiB] [--rounds R] [--no-zram]
#
# The cost of the exit of a program with N MiB (default 1536) of memory
# written: from the program's last line (bench/exit_prog.c prints the time
# just before main returns) to its exit status reaching this shell, median of
# R rounds (default 5); and the cost of its writes, a first touch of every
# page in order (ns a page: the kernel's anonymous fault, or hetmem's
# first-touch fault-around), for
#   ram        the program plainly
#   hetmem     under `hetmem run --dram` twice its size (nothing demoted)
#   hetmem-bud under `hetmem run --dram BUDGET` (default 128 MiB: most of it
#              on the default tier, lz4 compressed in RAM)
#   kernel     in a memcg limited to BUDGET with zram swap (root only)
# Target (issue 19): hetmem's exit at most 0.5 s more than the program's own.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -x "$1/hetmem" ] || [ ! -x "$1/bench/exit_prog" ]; then
	echo "usage: bench/exit.sh BUILD_DIR [--mib N] [--budget MiB] [--rounds R] [--no-zram]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
shift
mib=1536 budget=128 rounds=5 zram=1
while [ $# -gt 0 ]; do
	case $1 in
	--mib) mib=$2; shift 2 ;;
	--budget) budget=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--no-zram) zram=0; shift ;;
	*) echo "exit.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
prog=$build/bench/exit_prog
cg="" zdev=""
trap 'set +e; zram_memcg_down' EXIT INT TERM
print_header
echo "program: $mib MiB written, budget $budget MiB, $rounds rounds"
zram_ok=0
if [ "$zram" = 1 ] && zram_memcg_up exit "$((mib * 2))" "$budget"; then
	zram_ok=1
fi
# one NAME PREFIX...: "EXIT_MS FILL_NS_PER_PAGE"
one() {
	local out t1
	out=$("$@" "$prog" "$mib")
	t1=$(date +%s%N)
	set -- $out
	echo "$(((t1 - $1) / 1000000)):$2"
}
declare -A res
for c in ram hetmem hetmem-bud kernel; do res[$c]=""; done
for _ in $(seq "$rounds"); do
	res[ram]+=" $(one env)"
	res[hetmem]+=" $(one "$build/hetmem" run --dram "$((mib * 2))M" --)"
	res[hetmem-bud]+=" $(one "$build/hetmem" run --dram "${budget}M" --)"
	[ "$zram_ok" = 1 ] && res[kernel]+=" $(one sh -c "echo \$\$ > $cg/cgroup.procs && exec \"\$@\"" sh)"
done
# med "LIST" FIELD: the median of field 1 (exit) or 2 (fill) of a:b pairs
med() { printf '%s\n' $1 | cut -d: -f"$2" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
printf "\n%-11s %9s %14s   %s\n" config "exit ms" "fill ns/page" "(all rounds, exit:fill)"
for c in ram hetmem hetmem-bud kernel; do
	[ -n "${res[$c]}" ] || continue
	printf "%-11s %9s %14s   %s\n" "$c" "$(med "${res[$c]}" 1)" "$(med "${res[$c]}" 2)" "${res[$c]}"
done
r=$(med "${res[ram]}" 1)
for c in hetmem hetmem-bud; do
	awk -v a="$(med "${res[$c]}" 1)" -v b="$r" -v c="$c" 'BEGIN {
		d = (a - b) / 1000; printf "%s: exit %+.2f s against the program alone (target <= +0.50 s: %s)\n", c, d, d <= 0.5 ? "met" : "NOT met" }'
done
awk -v a="$(med "${res[hetmem]}" 2)" -v b="$(med "${res[ram]}" 2)" 'BEGIN {
	printf "first touch in order: hetmem %d ns a page, the kernel'"'"'s anonymous fault %d: %.2fx\n", a, b, a / b }'
