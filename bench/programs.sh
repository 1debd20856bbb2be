#!/bin/bash
# bench/programs.sh BUILD_DIR [--programs LIST] [--budgets D1,D2] [--rounds R]
#                   [--no-zram] [--quick] [--timeout S]
#
# Real programs under the same RAM budget, three ways, taking turns:
#   ram     the program plainly, no budget (the baseline; its peak RSS is the
#           program's footprint)
#   kernel  in a memory cgroup (v1) with memory.limit_in_bytes = BUDGET,
#           swapping to a zram device (lz4) set up for the run (root only)
#   hetmem  under `hetmem run --dram BUDGET` (default tier and mode)
# The budgets are fractions of the footprint the first ram run measures:
# footprint / D for each D of --budgets (default 4,10), rounded to MiB, at
# least 16 MiB.  For each run: the wall time, the peak RSS (GNU time's %M,
# placed outside hetmem run and outside the cgroup's `sh -c` wrapper: the
# largest descendant's max RSS), for kernel the zram device's peak
# (mem_used_max, reset before each run), and the total: RSS + zram peak for
# kernel, RSS alone for hetmem (its compressed pool is in the process's
# heap).  Then hetmem/kernel for time and total memory (targets <= 1.00) and
# hetmem/ram for time, and at the end a summary table for docs/BENCHMARKS.md.
# With R rounds (--rounds, default 1) each column is the median of R runs.
#
# The programs (--programs, a comma list; default python,sqlite,sort,redis,gcc):
#   python  bench/programs/python_mix.py: a 600 MiB bytearray, 5M ints, 500k
#           strings, read twice (~0.85 GB); its check line must equal the
#           ram run's and the value computed in closed form
#   sqlite  the sqlite3 CLI on :memory:, bench/programs/sqlite.sql: 300k
#           rows of computed text, an index, aggregates, integrity_check
#           (must print ok); output byte-equal to the ram run's
#   sort    GNU sort (LC_ALL=C, -S 1200M: in memory, --parallel=1) of a
#           ~85 MB generated text file (900k lines); output sha256 equal to the ram
#           run's, `sort -c` on it, the line count kept
#   redis   redis-server (no persistence) loaded with redis-cli --pipe from
#           bench/programs/gen_redis.py (120k keys of 1 KiB, deterministic),
#           then redis-benchmark GETs over the keys; wall time = load + GETs;
#           DEBUG DIGEST and DBSIZE must equal the ram run's
#   gcc     gcc -O2 -frandom-seed=1 -c of bench/programs/gen_c.py's file (a
#           600k-constant table and 20 switch functions); the object file
#           must be byte-identical (cmp) to the ram run's
#   java    NOT in the defaults (only with --programs java):
#           bench/programs/Alloc.java, 1M linked records (~350 MB RSS).
#           java: heap not managed by hetmem: the JVM reserves its heap with
#           a PROT_NONE mapping and commits it in place (MAP_FIXED / mprotect),
#           which the preload library leaves to the kernel: under `hetmem run
#           --dram 64M --stats` peak_managed_bytes is ~4 MiB of ~340 MiB anon
#           (preload_maps_unmanaged 62, ~4 GB unmanaged), so the hetmem
#           column would only measure the kernel without a budget.
# Sizes: apart from python (~0.85 GB, the issue's program) the footprints are
# ~100-200 MB, not more: at 1/4 and 1/10 of them a run under hetmem or the
# kernel takes 5-30 times as long as in RAM (sort and sqlite the most), and
# the default run takes about 15 minutes on a shared 2-CPU machine.
# At small budgets the memcg's OOM killer often ends the kernel's run (its
# reclaim gives up when the working set does not fit): "killed (OOM)".
# --quick: smaller inputs (about a third).  --timeout S (default 600): a run
# taking longer is killed and reported as timed out.
#
# Exit status: 0 when every run verified (missed targets are not failures);
# 1 when a configuration's output differs from the ram run's, a program's own
# check fails, or a run crashed or timed out.  A kernel run the memcg's OOM
# killer ended is reported as "killed (OOM)" and left out of the ratios.
set -euo pipefail

usage="usage: bench/programs.sh BUILD_DIR [--programs LIST] [--budgets D1,D2] [--rounds R] [--no-zram] [--quick] [--timeout S]"
if [ $# -lt 1 ] || [ ! -x "$1/hetmem" ]; then
	echo "$usage" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
shift
programs=python,sqlite,sort,redis,gcc
budgets=4,10 rounds=1 zram=1 quick=0 tmo=600
while [ $# -gt 0 ]; do
	case $1 in
	--programs) programs=$2; shift 2 ;;
	--budgets) budgets=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--no-zram) zram=0; shift ;;
	--quick) quick=1; shift ;;
	--timeout) tmo=$2; shift 2 ;;
	*) echo "programs.sh: unknown option $1" >&2; echo "$usage" >&2; exit 2 ;;
	esac
done
for p in ${programs//,/ }; do
	case $p in python|sqlite|sort|redis|gcc|java) ;; *) echo "programs.sh: unknown program '$p' (python, sqlite, sort, redis, gcc, java)" >&2; exit 2 ;; esac
done
here=$(cd "$(dirname "$0")" && pwd)
pdir=$here/programs
. "$here/common.sh"
hetmem=$build/hetmem
dir=$(mktemp -d /tmp/hetmem-bench-programs.XXXXXX)
cg="" zdev="" srv=""
cleanup() {
	set +e
	[ -n "$srv" ] && kill -9 "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	zram_memcg_down
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# input sizes
if [ "$quick" = 1 ]; then
	py_scale=0.33 sq_rows=100000 sort_lines=300000 redis_keys=40000 gcc_n=200000 gcc_f=10 java_n=300000
else
	py_scale=1 sq_rows=300000 sort_lines=900000 redis_keys=120000 gcc_n=600000 gcc_f=20 java_n=1000000
fi
redis_gets=$((redis_keys * 3))
port=$((20000 + $$ % 20000))

print_header
echo "programs: $programs; budgets footprint / {$budgets}; $rounds round(s); timeout ${tmo} s$([ "$quick" = 1 ] && echo '; --quick')"
echo

zram_ok=0
if [ "$zram" = 1 ] && zram_memcg_up programs 4096 1024; then
	if echo 0 > "/sys/block/zram$zdev/mem_used_max" 2>/dev/null; then
		zram_ok=1
	else
		echo "(kernel baseline skipped: /sys/block/zram$zdev/mem_used_max is not writable, its peak cannot be reset)"
	fi
fi
echo

# (one runs in a command substitution: the failures go to a file)
fail() {
	echo "programs.sh: FAIL: $*" >&2
	echo "$*" >> "$dir/fails"
}

# ---- inputs, once per run --------------------------------------------------
prep() {
	case $1 in
	python)
		# the check in closed form: the bytearray's sampled bytes are
		# (i & 255) at multiples of 4096, all 0
		py_expect=$(/usr/bin/python3 -c '
import sys
s = float(sys.argv[1])
n, m = int(5_000_000 * s), int(500_000 * s)
print(2 * (n * (n - 1) // 2 + sum(3 * len(str(i)) for i in range(m))))' "$py_scale") ;;
	sqlite) sed "s/@N@/$sq_rows/" "$pdir/sqlite.sql" > "$dir/sqlite.sql" ;;
	sort)
		awk -v n="$sort_lines" 'BEGIN { x = 12345
			for (i = 0; i < n; i++) { x = (x * 1103515245 + 12345) % 2147483648
				printf "%010d %s %x line-%d %s\n", x, substr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", x % 40 + 1, 20), x, i,
					substr("the quick brown fox jumps over the lazy dog again and again", 1, 20 + i % 40) } }' > "$dir/sort.in" ;;
	redis) /usr/bin/python3 "$pdir/gen_redis.py" "$redis_keys" > "$dir/redis.resp" ;;
	gcc) /usr/bin/python3 "$pdir/gen_c.py" "$gcc_n" "$gcc_f" > "$dir/big.c" ;;
	java)
		mkdir -p "$dir/java"
		javac -d "$dir/java" "$pdir/Alloc.java"
		# does hetmem manage the JVM's heap?
		LC_ALL=C "$hetmem" run --dram 64M --stats -- java -Xmx1g -XX:+UseSerialGC -XX:-UseCompressedOops -cp "$dir/java" Alloc 200000 \
			>/dev/null 2>"$dir/java-stats" || true
		local pm pa pu
		pm=$(awk '$1 == "peak_managed_bytes" { s += $2 } END { printf "%.1f", s / 1048576 }' "$dir/java-stats")
		pa=$(awk '$1 == "peak_anon_bytes" { s += $2 } END { printf "%.1f", s / 1048576 }' "$dir/java-stats")
		pu=$(awk '$1 == "preload_maps_unmanaged" { s += $2 } END { print s + 0 }' "$dir/java-stats")
		echo "java: heap not managed by hetmem? peak_managed_bytes ${pm} MiB of peak_anon_bytes ${pa} MiB, preload_maps_unmanaged ${pu} (the JVM reserves its heap PROT_NONE and commits it in place; see the header)" ;;
	esac
}

# ---- one run -----------------------------------------------------------------
# run_prog PROG CFG TAG PREFIX...: runs PROG under PREFIX with GNU time
# outside it; leaves the result to compare in $dir/res-TAG, the time file in
# $dir/time-TAG; returns the exit status; wall time (for redis: load + GETs)
# in $dir/wall-TAG when the program measures its own.
run_prog() {
	local prog=$1 cfg=$2 tag=$3
	shift 3
	local T=(/usr/bin/time -o "$dir/time-$tag" -f '%e %M' timeout -k 10 "$tmo" "$@")
	rm -f "$dir/res-$tag" "$dir/wall-$tag" "$dir/time-$tag"
	case $prog in
	python) "${T[@]}" /usr/bin/python3 "$pdir/python_mix.py" "$py_scale" > "$dir/res-$tag" 2>"$dir/err-$tag" ;;
	sqlite) "${T[@]}" sqlite3 :memory: < "$dir/sqlite.sql" > "$dir/res-$tag" 2>"$dir/err-$tag" ;;
	sort)
		local rc=0
		rm -f "$dir/sort.out"
		LC_ALL=C "${T[@]}" sort -S 1200M --parallel=1 -T "$dir" -o "$dir/sort.out" "$dir/sort.in" 2>"$dir/err-$tag" || rc=$?
		[ "$rc" = 0 ] || return $rc
		{ sha256sum < "$dir/sort.out"; wc -l < "$dir/sort.out"
		  LC_ALL=C sort -c "$dir/sort.out" && echo "sort -c ok"; } > "$dir/res-$tag" 2>&1
		rm -f "$dir/sort.out" ;;
	gcc)
		local rc=0
		rm -f "$dir/big.o"
		"${T[@]}" gcc -O2 -frandom-seed=1 -c "$dir/big.c" -o "$dir/big.o" 2>"$dir/err-$tag" || rc=$?
		[ "$rc" = 0 ] || return $rc
		if [ "$cfg" = ram ] && [ ! -f "$dir/big.o.ref" ]; then
			cp "$dir/big.o" "$dir/big.o.ref"
		fi
		if cmp -s "$dir/big.o" "$dir/big.o.ref"; then
			echo "object identical to the ram run's ($(stat -c %s "$dir/big.o") B)" > "$dir/res-$tag"
		else
			echo "object differs from the ram run's: $(cmp "$dir/big.o" "$dir/big.o.ref" 2>&1 | head -1)" > "$dir/res-$tag"
		fi ;;
	java) "${T[@]}" java -Xmx1g -XX:+UseSerialGC -XX:-UseCompressedOops -cp "$dir/java" Alloc "$java_n" > "$dir/res-$tag" 2>"$dir/err-$tag" ;;
	redis)
		local rc=0 t0 t1 ok=0
		"${T[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
			--logfile "$dir/redis-$tag.log" > "$dir/err-$tag" 2>&1 &
		srv=$!
		for _ in $(seq 400); do redis-cli -p "$port" ping >/dev/null 2>&1 && { ok=1; break; }; kill -0 "$srv" 2>/dev/null || break; sleep 0.05; done
		if [ "$ok" = 1 ]; then
			t0=$(date +%s.%N)
			{ redis-cli -p "$port" --pipe < "$dir/redis.resp" > "$dir/pipe-$tag" 2>&1 &&
			  redis-benchmark -p "$port" -t get -n "$redis_gets" -r "$redis_keys" -c 50 -P 16 -q > "$dir/bench-$tag" 2>&1; } || rc=$?
			t1=$(date +%s.%N)
			awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }' > "$dir/wall-$tag"
			{ echo "dbsize $(redis-cli -p "$port" dbsize)"; echo "digest $(redis-cli -p "$port" debug digest)"
			  grep -q 'errors: 0, replies: ' "$dir/pipe-$tag" && echo "load ok"; } > "$dir/res-$tag" 2>&1 || true
			redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
		fi
		local src=0
		wait "$srv" || src=$?
		srv=""
		[ "$ok" = 1 ] || return $((src ? src : 1))
		[ "$rc" = 0 ] || return 1
		# shutdown nosave exits 0; killed by the OOM killer: 137
		return $src ;;
	esac
}

# the program's own check on its result (beyond equality with the ram run's)
own_check() {
	local prog=$1 f=$2
	case $prog in
	python) [ "$(cat "$f")" = "check $py_expect" ] ;;
	sqlite) [ "$(tail -1 "$f")" = ok ] ;;
	sort) grep -qx "sort -c ok" "$f" && grep -qx "$sort_lines" "$f" ;;
	redis) grep -qx "dbsize $redis_keys" "$f" && grep -qx "load ok" "$f" ;;
	gcc) grep -q '^object identical' "$f" ;;
	java) grep -q '^check [0-9-]' "$f" ;;
	esac
}

# one configuration: prints "WALL RSS_MiB ZRAM_MiB TOTAL_MiB STATUS" (STATUS:
# ok, MISMATCH, CHECK-FAILED, killed-OOM, timeout, failed-N)
one() {
	local prog=$1 cfg=$2 bud=$3 round=$4 tag="$1-$2-$3-$4" rc=0 oom0=0 oom1=0 zpk=0
	case $cfg in
	ram) run_prog "$prog" ram "$tag" env || rc=$? ;;
	hetmem) run_prog "$prog" hetmem "$tag" "$hetmem" run --dram "${bud}M" -- || rc=$? ;;
	kernel)
		echo 1 > "$cg/memory.force_empty" 2>/dev/null || true
		echo "$((bud * 1024 * 1024))" > "$cg/memory.limit_in_bytes"
		echo 0 > "/sys/block/zram$zdev/mem_used_max"
		oom0=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control")
		run_prog "$prog" kernel "$tag" sh -c "echo \$\$ > $cg/cgroup.procs && exec \"\$@\"" sh || rc=$?
		oom1=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control")
		zpk=$(awk '{ print $5 }' "/sys/block/zram$zdev/mm_stat") ;;
	esac
	local wall rss st
	read -r wall rss < <(tail -1 "$dir/time-$tag" 2>/dev/null || echo "0 0")
	[ -f "$dir/wall-$tag" ] && wall=$(cat "$dir/wall-$tag")
	if [ "${oom1:-0}" != "${oom0:-0}" ]; then
		st=killed-OOM
	elif [ "$rc" = 124 ]; then
		st=timeout
	elif [ "$rc" != 0 ]; then
		st=failed-$rc
	elif [ "$cfg" = ram ] && [ "$round" = 1 ]; then
		cp "$dir/res-$tag" "$dir/ref-$prog"
		if own_check "$prog" "$dir/res-$tag"; then st=ok; else st=CHECK-FAILED; fi
	elif ! cmp -s "$dir/res-$tag" "$dir/ref-$prog"; then
		st=MISMATCH
	elif ! own_check "$prog" "$dir/res-$tag"; then
		st=CHECK-FAILED
	else
		st=ok
	fi
	case $st in
	ok | killed-OOM) ;;
	MISMATCH) fail "$prog $cfg at $bud MiB (round $round): output differs from the ram run's: $(diff "$dir/ref-$prog" "$dir/res-$tag" | head -5 | tr '\n' ' ')" ;;
	CHECK-FAILED) fail "$prog $cfg at $bud MiB (round $round): the program's own check failed: $(head -c 300 "$dir/res-$tag" | tr '\n' ' ')" ;;
	timeout) fail "$prog $cfg at $bud MiB (round $round): timed out after $tmo s (hang?)" ;;
	*) fail "$prog $cfg at $bud MiB (round $round): exited $rc: $(tail -3 "$dir/err-$tag" 2>/dev/null | tr '\n' ' ')" ;;
	esac
	awk -v w="$wall" -v r="$rss" -v z="$zpk" -v c="$cfg" -v s="$st" 'BEGIN {
		r /= 1024; z /= 1048576
		printf "%s %.1f %s %.1f %s\n", w, r, (c == "kernel" ? sprintf("%.1f", z) : "-"), r + z, s }'
}

# the median of column COL of the "ok" lines of results RES
med() {
	printf '%s\n' "$1" | awk -v f="$2" '$5 == "ok" { print $f }' | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

summary=()
for prog in ${programs//,/ }; do
	echo "--- $prog: preparing the input" >&2
	prep "$prog"
	declare -A R=()
	R[ram]=$(one "$prog" ram 0 1)
	fp=$(printf '%s\n' "${R[ram]}" | awk '{ print int($2 + 0.5) }')
	if [ "$(printf '%s\n' "${R[ram]}" | awk '{ print $5 }')" != ok ]; then
		echo "$prog: the ram run did not verify ($(printf '%s\n' "${R[ram]}")): skipped"
		echo
		continue
	fi
	buds=()
	for d in ${budgets//,/ }; do
		b=$(awk -v f="$fp" -v d="$d" 'BEGIN { b = int(f / d + 0.5); print (b < 16 ? 16 : b) }')
		buds+=("$b")
	done
	for round in $(seq "$rounds"); do
		[ "$round" = 1 ] || R[ram]+=$'\n'"$(one "$prog" ram 0 "$round")"
		for b in "${buds[@]}"; do
			echo "--- $prog round $round budget $b MiB" >&2
			if [ "$zram_ok" = 1 ]; then R[kernel-$b]+="${R[kernel-$b]:+$'\n'}$(one "$prog" kernel "$b" "$round")"; fi
			R[hetmem-$b]+="${R[hetmem-$b]:+$'\n'}$(one "$prog" hetmem "$b" "$round")"
		done
	done
	echo "$prog  footprint $fp MiB$([ "$rounds" -gt 1 ] && echo "  (medians of $rounds rounds)")"
	printf "  %-7s %-7s %8s %8s %9s %10s  %s\n" budget config "wall s" "rss MiB" "zram MiB" "total MiB" check
	for b in "${buds[@]}"; do
		declare -A W=() M=()
		for c in ram kernel hetmem; do
			key=$c-$b
			[ "$c" = ram ] && key=ram
			[ -n "${R[$key]:-}" ] || continue
			res=${R[$key]}
			# the status: ok when every round verified, else the others
			st=$(printf '%s\n' "$res" | awk '{ print $5 }' | sort | uniq -c | awk '{ printf "%s%s", (NR > 1 ? "," : ""), ($1 > 1 || NR > 1 ? $2 "x" $1 : $2) }')
			st=${st//killed-OOM/killed (OOM)}
			if [ -n "$(med "$res" 1)" ]; then
				W[$c]=$(med "$res" 1) M[$c]=$(med "$res" 4)
				printf "  %-7s %-7s %8.2f %8.0f %9s %10.0f  %s\n" "$b" "$c" "${W[$c]}" "$(med "$res" 2)" \
					"$([ "$c" = kernel ] && printf '%.0f' "$(med "$res" 3)" || echo -)" "${M[$c]}" "$st"
			else
				printf "  %-7s %-7s %8s %8s %9s %10s  %s\n" "$b" "$c" - - - - "$st"
			fi
		done
		line="  ratios at $b MiB:"
		if [ -n "${W[hetmem]:-}" ] && [ -n "${W[kernel]:-}" ]; then
			line+=$(awk -v a="${W[hetmem]}" -v b="${W[kernel]}" -v c="${M[hetmem]}" -v d="${M[kernel]}" 'BEGIN {
				printf " hetmem/kernel time %.2f (target <= 1.00), memory %.2f (target <= 1.00);", a / b, c / d }')
		elif [ "$zram_ok" = 1 ]; then
			line+=" hetmem/kernel: no kernel result;"
		fi
		if [ -n "${W[hetmem]:-}" ]; then
			line+=$(awk -v a="${W[hetmem]}" -v b="${W[ram]}" 'BEGIN { printf " hetmem/ram time %.1f", a / b }')
		else
			line+=" no hetmem result"
		fi
		echo "$line"
		summary+=("$(awk -v p="$prog" -v bu="$b" -v hs="${W[hetmem]:-}" -v ks="${W[kernel]:-}" -v hm="${M[hetmem]:-}" -v km="${M[kernel]:-}" 'BEGIN {
			printf "| %s | %d | %s | %s | %s | %s | %s | %s |", p, bu,
				(hs != "" ? sprintf("%.2f", hs) : "-"), (ks != "" ? sprintf("%.2f", ks) : "-"),
				(hs != "" && ks != "" ? sprintf("%.2f", hs / ks) : "-"),
				(hm != "" ? sprintf("%.0f", hm) : "-"), (km != "" ? sprintf("%.0f", km) : "-"),
				(hm != "" && km != "" ? sprintf("%.2f", hm / km) : "-") }')")
	done
	unset R W M
	echo
done

echo "summary (time and memory targets: hetmem/kernel <= 1.00)"
echo "| program | budget MiB | hetmem s | kernel s | time ratio | hetmem MiB | kernel MiB | memory ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${summary[@]}"
echo
if [ -s "$dir/fails" ]; then
	echo "FAILED: $(wc -l < "$dir/fails") run(s) did not verify:"
	sed 's/^/  /' "$dir/fails"
	exit 1
fi
echo "all runs verified"
