#!/bin/bash
# bench/run.sh BUILD_DIR [--quick] [--no-zram] [--cpu N]
# Print the machine, then run the benchmarks built in BUILD_DIR; extra
# arguments go to each benchmark.  The zram baseline needs root.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: bench/run.sh BUILD_DIR [--quick] [--no-zram] [--cpu N]" >&2
	exit 2
fi
build=$1
shift

bins=("$build/bench/bench_fault" "$build/bench/bench_track")
for b in "${bins[@]}"; do
	if [ ! -x "$b" ]; then
		echo "run.sh: $b not found: build first (make build)" >&2
		exit 1
	fi
done

model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
echo "machine: $(nproc) CPUs (${model:-unknown model}), $mem RAM, Linux $(uname -r)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
if rev=$(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null); then
	echo "commit:  $rev"
fi
echo

status=0
for b in "${bins[@]}"; do
	echo "### $(basename "$b") $*"
	# a hung benchmark (say, a library deadlock) must not hang `make bench`
	timeout -k 10 900 "$b" "$@" || status=$?
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		echo "run.sh: $(basename "$b") timed out after 900 s" >&2
	fi
	echo
done
exit $status
