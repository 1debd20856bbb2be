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

bins=("$build/bench/bench_fault" "$build/bench/bench_track" "$build/bench/bench_compress")
for b in "${bins[@]}"; do
	if [ ! -x "$b" ]; then
		echo "run.sh: $b not found: build first (make build)" >&2
		exit 1
	fi
done

. "$(dirname "$0")/common.sh"
print_header
echo

status=0
for b in "${bins[@]}"; do
	echo "### $(basename "$b") $*"
	# a hung benchmark (say, a library deadlock) must not hang `make bench`
	extra=()
	if [ "$(basename "$b")" = bench_compress ]; then
		# pages of real programs (redis, sqlite, python), when they are installed
		pages=$(mktemp -d)
		trap 'rm -rf "$pages"' EXIT
		/usr/bin/python3 "$(dirname "$0")/pages.py" "$pages" --mib 64 || true
		extra=(--pages "$pages")
	fi
	timeout -k 10 900 "$b" "${extra[@]}" "$@" || status=$?
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		echo "run.sh: $(basename "$b") timed out after 900 s" >&2
	fi
	echo
done
exit $status
