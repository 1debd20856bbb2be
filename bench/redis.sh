#!/bin/bash
# bench/redis.sh BUILD_DIR [--budget MiB] [--requests N] [--rounds R] [--no-zram]
#                 [--values records|random] [--tier SPEC]
#
# redis-benchmark throughput and p99 latency for a dataset twice the RAM
# budget, in three configurations measured in the same run:
#   ram     plain redis-server, everything in RAM (the baseline)
#   hetmem  redis-server under `hetmem run --dram BUDGET` (its default tier,
#           lz4 compressed in RAM, unless --tier names one)
#   zram    redis-server in a memory cgroup (v1) with memory.limit_in_bytes =
#           BUDGET, swapping to a zram device set up for the run (root only)
# Keys: redis-benchmark 7.0 has no zipfian key choice, so the load is a small
# hot keyspace that fits the budget (HOT keys, a quarter of the budget) over a
# big cold dataset loaded first (2 x BUDGET in all): GET/SET with -r HOT touch
# only the hot keys, the cold ones should leave RAM.  The cold values are
# JSON records of made-up users (--values records, the default: they compress
# as real application data does) or random bytes (--values random: nothing
# compresses).  "total" is the memory the configuration takes for redis:
# the server's VmRSS (hetmem's compressed pool is in the process's heap, so
# counted there), plus for zram the RAM zram uses (mm_stat mem_used_total).
# The configurations take turns for R rounds (default 3); medians count.
# Then the start-up cost: `hetmem run -- /bin/true` against /bin/true (median
# of many runs).  Prints a table and the ratios.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1/hetmem" ]; then
	echo "usage: bench/redis.sh BUILD_DIR [--budget MiB] [--requests N] [--rounds R] [--no-zram]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
shift
budget_mb=64
requests=200000
rounds=3
zram=1
values=records
tier=""
while [ $# -gt 0 ]; do
	case $1 in
	--budget) budget_mb=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--no-zram) zram=0; shift ;;
	--values) values=$2; shift 2
		case $values in records|random) ;; *) echo "redis.sh: --values '$values': records or random" >&2; exit 2 ;; esac ;;
	--tier) tier=$2; shift 2 ;;
	*) echo "redis.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
for p in redis-server redis-cli redis-benchmark; do
	command -v $p >/dev/null || { echo "redis.sh: $p not installed (scripts/install-deps.sh)" >&2; exit 1; }
done

vlen=1024
data_mb=$((2 * budget_mb))
hot=$((budget_mb * 1024 * 1024 / 4 / (vlen + 100)))
cold=$(((data_mb * 1024 * 1024 - hot * (vlen + 100)) / (vlen + 100)))
port=$((20000 + $$ % 20000))
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
dir=$(mktemp -d /tmp/hetmem-bench-redis.XXXXXX)
hetmem=$build/hetmem
cg=""
zdev=""
srv=""

cleanup() {
	set +e
	[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	zram_memcg_down
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
echo "machine: $(nproc) CPUs (${model:-unknown}), $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "redis:   $(redis-server --version | cut -d' ' -f3-4); budget ${budget_mb} MiB; dataset ~${data_mb} MiB"
echo "         (${cold} cold + ${hot} hot keys of ${vlen} B); load: GET+SET, -r ${hot} (hot keys only), -c 50, -n ${requests}"
echo

# start redis (with the given prefix command), load, benchmark; prints
# "NAME SET_rps SET_p99 GET_rps GET_p99"
run_one() {
	local name=$1
	shift
	rm -f "$dir/dump.rdb"
	"$@" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
		--logfile "$dir/redis-$name.log" &
	srv=$!
	for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
	# the cold data: records (JSON of made-up users, padded to vlen) or
	# random bytes; the same seed in every configuration
	/usr/bin/python3 -c '
import json, os, random, sys
n, vlen, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, sys.argv[4])
from pages import record
rnd = random.Random(5)
out = sys.stdout.buffer
for i in range(n):
    k = b"cold:%d" % i
    if kind == "random":
        v = os.urandom(vlen)
    else:
        v = b""
        while len(v) < vlen:
            v += json.dumps(record(rnd, i)).encode()
        v = v[:vlen]
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, vlen, v))
' "$cold" "$vlen" "$values" "$(cd "$(dirname "$0")" && pwd)" | redis-cli -p "$port" --pipe >/dev/null
	redis-benchmark -p "$port" -t set -n "$((hot * 2))" -r "$hot" -d "$vlen" -P 32 -q >/dev/null 2>&1
	sleep 2 # let the reclaimer (or kswapd) push the cold data out
	local csv
	csv=$(redis-benchmark -p "$port" -t set,get -n "$requests" -r "$hot" -d "$vlen" -c 50 --csv 2>/dev/null)
	local mem rpid total
	mem=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory_human/ { sub("\r", "", $2); print $2 }')
	rpid=$(redis-cli -p "$port" info server | awk -F: '/^process_id/ { sub("\r", "", $2); print $2 }')
	total=$(awk '/^VmRSS:/ { print $2 }' "/proc/$rpid/status") # kB
	if [ "$name" = zram ]; then
		total=$((total + $(awk '{ print $3 }' "/sys/block/zram$zdev/mm_stat") / 1024))
	fi
	if [ "$name" = hetmem ]; then
		"$hetmem" stat "$srv" | sed -n '3,4p' | sed "s/^/    round $round hetmem stat: /" >&2
	elif [ "$name" = zram ]; then
		echo "    round $round zram: $(awk '{ printf "%.1f MiB stored, %.1f MiB compressed", $1 / 1048576, $2 / 1048576 }' "/sys/block/zram$zdev/mm_stat"); memcg usage $(($(cat "$cg/memory.usage_in_bytes") >> 20)) MiB" >&2
	fi
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
	wait "$srv" 2>/dev/null || true
	srv=""
	echo "$csv" | awk -F'","' -v n="$name" -v m="$mem" -v t="$total" '
		/^"SET/ { s_rps = $2; s_p99 = $7 }
		/^"GET/ { g_rps = $2; g_p99 = $7 }
		END { printf "%s %s %s %s %s %s %.1f\n", n, s_rps, s_p99, g_rps, g_p99, m, t / 1024 }'
}

zram_ok=0
if [ "$zram" = 1 ] && zram_memcg_up redis "$((data_mb * 2))" "$budget_mb"; then
	zram_ok=1
fi

# the configurations take turns, $rounds rounds; the median of each counts
all=()
for round in $(seq "$rounds"); do
	all+=("$(run_one ram env)")
	all+=("$(run_one hetmem "$hetmem" run --dram "${budget_mb}M" ${tier:+--tier "$tier"} --)")
	[ "$zram_ok" = 1 ] && all+=("$(run_one zram sh -c "echo \$\$ > $cg/cgroup.procs && exec \"\$@\"" sh)")
done
printf '%s\n' "${all[@]}" | sed 's/^/    run: /' >&2
results=()
for c in ram hetmem zram; do
	r=$(printf '%s\n' "${all[@]}" | awk -v c="$c" '
		$1 == c { n++; for (i = 2; i <= 5; i++) v[i, n] = $i; v[7, n] = $7; m = $6 }
		function med(i,   a, k, j, t) { for (k = 1; k <= n; k++) a[k] = v[i, k]
			for (k = 1; k <= n; k++) for (j = k + 1; j <= n; j++) if (a[j] + 0 < a[k] + 0) { t = a[k]; a[k] = a[j]; a[j] = t }
			return a[int((n + 1) / 2)] }
		END { if (n) printf "%s %s %s %s %s %s %s\n", c, med(2), med(3), med(4), med(5), m, med(7) }')
	[ -n "$r" ] && results+=("$r")
done

# start-up: hetmem run -- /bin/true against /bin/true, median of 101 runs
startup() {
	/usr/bin/python3 - "$@" <<'EOF'
import subprocess, sys, time
ts = []
for _ in range(101):
    t = time.perf_counter()
    subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL)  # hetmem run: "no --dram given"
    ts.append(time.perf_counter() - t)
ts.sort()
print("%.2f" % (ts[50] * 1000))
EOF
}
t_plain=$(startup /bin/true)
t_hm=$(startup "$hetmem" run -- /bin/true)

printf "\nmedians of %s rounds (values: %s)\n%-8s %12s %10s %12s %10s %10s %10s\n" "$rounds" "$values" config "SET req/s" "SET p99" "GET req/s" "GET p99" used_memory "total MiB"
for r in "${results[@]}"; do
	set -- $r
	printf "%-8s %12s %8s ms %12s %8s ms %10s %10s\n" "$1" "$2" "$3" "$4" "$5" "$6" "$7"
done
set -- ${results[0]}
ram_set=$2 ram_get=$4
set -- ${results[1]}
hm_set=$2 hm_get=$4
echo
awk -v a="$hm_set" -v b="$ram_set" -v c="$hm_get" -v d="$ram_get" 'BEGIN {
	printf "hetmem / all-in-RAM throughput: SET %.2f, GET %.2f (target >= 0.80)\n", a / b, c / d }'
if [ ${#results[@]} -gt 2 ]; then
	set -- ${results[2]}
	awk -v a="$hm_set" -v b="$2" -v c="$hm_get" -v d="$4" 'BEGIN {
		printf "hetmem / kernel+zram throughput: SET %.2f, GET %.2f (target >= 1.00)\n", a / b, c / d }'
	zt=$7
	set -- ${results[1]}
	awk -v a="$7" -v b="$zt" 'BEGIN {
		printf "hetmem / kernel+zram total memory: %.1f / %.1f MiB = %.2f (target <= 1.00)\n", a, b, a / b }'
fi
awk -v a="$t_hm" -v b="$t_plain" 'BEGIN {
	printf "start-up: /bin/true %.2f ms, hetmem run -- /bin/true %.2f ms: +%.2f ms (target <= 20 ms)\n", b, a, a - b }'
