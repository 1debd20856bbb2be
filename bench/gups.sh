#!/bin/bash
# bench/gups.sh BUILD_DIR [gups options]
# Print the machine, then run the GUPS benchmark built in BUILD_DIR (see
# bench/gups.c; --quick for a smoke run of about two minutes).  The kernel
# baseline (memcg v1 + zram) needs root.  The full default run (8 GiB
# working set, 2 GiB budget) takes about half an hour: run it with nohup.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "usage: bench/gups.sh BUILD_DIR [--quick] [--ws SIZE] [--budget SIZE] [--hot LIST] [--seconds S] ..." >&2
	exit 2
fi
build=$1
shift
b="$build/bench/gups"
if [ ! -x "$b" ]; then
	echo "gups.sh: $b not found: build first" >&2
	exit 1
fi
. "$(dirname "$0")/common.sh"
print_header
echo "command: gups $*"
echo
start=$(date +%s)
status=0
"$b" "$@" || status=$?
echo
echo "gups.sh: $(($(date +%s) - start)) s, exit status $status"
exit $status
