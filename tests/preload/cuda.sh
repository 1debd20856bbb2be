#!/bin/bash
# The cuda: tier under `hetmem run`, against the stand-in driver
# (tests/cudastub, through HETMEM_CUDA_LIB): `hetmem info` lists its GPU
# and the spec to use, and says so when there is no driver; `hetmem run`
# with no --tier takes the GPU and a program's memory survives demotion to
# it and faults back (preload_cases threads checks every byte); bad specs
# are refused before the program starts, naming what was typed.
# A thread the driver starts while the tier opens is hetmem's: its memory
# is not managed (cuda_thread).
# usage: cuda.sh HETMEM PRELOAD_CASES CUDASTUB CUDA_THREAD
set -u
hetmem=$1 cases=$2 stub=$3 thread_prog=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
export HM_CUDASTUB_GPUS=1 HM_CUDASTUB_MEM=1G
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

# hetmem info: the GPU, its free memory and spec, and the default tier
HETMEM_CUDA_LIB=$stub "$hetmem" info >"$tmp/info" 2>&1
line=$(grep '^GPU 0:' "$tmp/info")
want='GPU 0:                hetmem cudastub GPU 0, 1024 MiB (1024 MiB free): --tier cuda:0 (size=512M, half the free memory; cuda:0,size=SIZE for another)'
[ "$line" = "$want" ] && ok "info lists the GPU" || fail "info: got '$line'"
grep -q "^hetmem run's tier:    cuda:0 (when no --tier is given): GPU 0" "$tmp/info" && ok "info: the default tier is the GPU" ||
	fail "info: default tier: $(grep "run's tier" "$tmp/info")"
HETMEM_CUDA_LIB=$tmp/none.so "$hetmem" info >"$tmp/info2" 2>&1
grep -q "^GPUs:                 none (no CUDA driver: cannot load '$tmp/none.so' (HETMEM_CUDA_LIB)" "$tmp/info2" &&
	ok "info without a driver" || fail "info without a driver: $(grep GPU "$tmp/info2")"
grep -q "^hetmem run's tier:    cuda" "$tmp/info2" && fail "info without a driver: the default tier is a GPU"

# a program under hetmem run, its tier the GPU by default and by name
for args in "" "--tier cuda:0,size=256M"; do
	HETMEM_CUDA_LIB=$stub "$hetmem" run --dram 32M $args --stats="$tmp/stats" -- "$cases" threads >"$tmp/out" 2>&1
	rc=$?
	name="run ${args:-(no --tier)}"
	if [ $rc -ne 0 ] || ! grep -q '^threads: ok' "$tmp/out"; then
		fail "$name: exit $rc"; cat "$tmp/out"; continue
	fi
	# the tier table's row: id, name, capacity, used, then pages-in
	# (> 0: pages went there), pages-out (> 0: they came back), errors
	row=$(grep -E '^  1 +cuda:0' "$tmp/stats")
	read -r in out errs <<<"$(echo "$row" | awk '{print $(NF-2), $(NF-1), $NF}')"
	if [ -z "$row" ] || [ "${in:-0}" -eq 0 ] || [ "${out:-0}" -eq 0 ] || [ "${errs:-1}" -ne 0 ]; then
		fail "$name: the GPU tier's row: '$row'"
	else
		ok "$name: $(echo "$row" | awk '{print $2}') pages-in $in pages-out $out errors $errs"
	fi
done

# the driver's own thread (started at cuInit, in the tier's open) gets
# glibc's malloc and unmanaged mappings, not the program's managed memory
HETMEM_CUDA_LIB=$stub HM_CUDASTUB_THREAD=1 "$hetmem" run --dram 32M --tier cuda:0,size=64M -- "$thread_prog" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "$(tail -n1 "$tmp/out")" || { fail "driver thread (exit $rc)"; cat "$tmp/out"; }

# bad input: refused before the program runs, naming what was typed
marker=$tmp/started
expect_error() {
	local name=$1 want=$2
	shift 2
	rm -f "$marker"
	"$hetmem" run "$@" -- /bin/sh -c "touch $marker" >"$tmp/out" 2>"$tmp/err"
	local rc=$? got
	got=$(head -n1 "$tmp/err")
	if [ $rc -eq 0 ] || [ -e "$marker" ]; then
		fail "$name: exit $rc, program started: $([ -e "$marker" ] && echo yes || echo no)"; return
	fi
	[[ $got == $want* ]] && ok "$name: $got" || { fail "$name: expected '$want...'"; echo "     got: $got"; }
}
export HETMEM_CUDA_LIB=$stub
expect_error "GPU out of range" "hetmem run: --tier cuda:3: there is no GPU 3: this machine has 1 (cuda:0 .. cuda:0)" --tier cuda:3
expect_error "too large" "hetmem run: --tier cuda:0,size=2G: size 2G (" --tier cuda:0,size=2G
expect_error "bad size" "hetmem run: --tier cuda:0,size=big: size 'big' must be a number" --tier cuda:0,size=big
HM_CUDASTUB_FAIL=ctx expect_error "no context" "hetmem run: --tier cuda:0: cannot create a context on GPU 0 (hetmem cudastub GPU 0): CUDA error 2 (out of memory)" --tier cuda:0
HETMEM_CUDA_LIB=$tmp/none.so expect_error "no driver" "hetmem run: --tier cuda:0: no CUDA driver: cannot load '$tmp/none.so' (HETMEM_CUDA_LIB)" --tier cuda:0

if [ $fails -ne 0 ]; then
	echo "$fails failed"
	exit 1
fi
echo "all passed"
