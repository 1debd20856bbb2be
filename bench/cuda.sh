#!/bin/bash
# bench/cuda.sh BUILD_DIR [--quick]
# The GPU tier on this machine's GPU 0, in one command: the cuda tier's
# tests against the real driver (unit_cuda --real), the example that runs
# a kernel over a mirrored range (examples/cuda_mirror.c), then bench_cuda's
# figures (hm_migrate through cuda:0 against the driver's pinned copies of
# the same block size, 64 KiB and 2 MiB; 4 KiB and 64 KiB fault-back
# p50/p99).  Without a GPU (no libcuda.so.1, or it sees none) it prints
# "skipped: REASON" and exits 0.
# With HETMEM_CUDA_LIB naming the stand-in driver (tests/cudastub) it runs
# the stand-in's tests and figures instead: a check of this script and of
# bench_cuda, whose figures then mean nothing (they say so).
set -uo pipefail
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: bench/cuda.sh BUILD_DIR [--quick]" >&2
	exit 2
fi
build=$1
shift
test_bin=$build/tests/unit/unit_cuda bench_bin=$build/bench/bench_cuda
for b in "$test_bin" "$bench_bin"; do
	if [ ! -x "$b" ]; then
		echo "cuda.sh: $b not found: build first (make build)" >&2
		exit 1
	fi
done

echo "### tests"
if [ -n "${HETMEM_CUDA_LIB:-}" ]; then
	echo "(HETMEM_CUDA_LIB=$HETMEM_CUDA_LIB: the stand-in driver, not a GPU)"
	export HM_CUDASTUB_GPUS=${HM_CUDASTUB_GPUS:-2} HM_CUDASTUB_MEM=${HM_CUDASTUB_MEM:-1G}
	out=$(timeout 600 "$test_bin" "$HETMEM_CUDA_LIB" 2>&1)
else
	out=$(timeout 600 "$test_bin" --real 2>&1)
fi
rc=$?
echo "$out" | grep -E '^(GPU|skipped|\[  (PASSED|FAILED)|\[  ERROR)' | head -n 40 || true
if [ $rc -eq 77 ]; then
	exit 0 # its "skipped: REASON" is above
fi
if [ $rc -ne 0 ]; then
	echo "$out" | tail -n 40
	echo "FAIL: the cuda tier's tests (exit $rc)"
	exit 1
fi

echo "### examples/cuda_mirror (a kernel over a mirrored range, checked on the CPU)"
mirror_bin=$build/tests/unit/cuda_mirror
if [ -x "$mirror_bin" ]; then
	timeout 300 "$mirror_bin"
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "FAIL: cuda_mirror (exit $rc)"
		exit 1
	fi
else
	echo "cuda.sh: $mirror_bin not found: build first (make build)" >&2
	exit 1
fi

echo "### bench_cuda $*"
timeout 900 "$bench_bin" "$@"
rc=$?
[ $rc -eq 0 ] || echo "FAIL: bench_cuda (exit $rc)"
exit $rc
