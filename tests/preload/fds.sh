#!/bin/sh
# fds.sh HETMEM FD_CASES CASE — run `fd_cases CASE` under hetmem run with a
# 32 MiB budget (HETMEM_DEMOTE comes from the test's environment).
#
# close, range, dup2: the program must read every byte of its data back
# (exit 0, "CASE: ok").  raw (a raw close_range system call, which no
# interposer sees): either the data reads back right, or hetmem stops the
# process with its message; a wrong byte ("FAIL"), a crash or a hang is a
# failure.  rawdup (raw dup3 of /dev/null onto every number): the same.
# layout: hetmem's descriptors are high and close-on-exec.
set -u
hetmem=$1 prog=$2 case=$3
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
timeout 150 "$hetmem" run --dram 32M --tier emu:1G,lazy -- "$prog" "$case" >"$out" 2>"$err"
rc=$?
cat "$out"
cat "$err" >&2
if grep -q '^FAIL' "$err"; then
	echo "fds.sh: $case: the program failed its check: wrong data, or hetmem's descriptors in its way (exit $rc)" >&2
	exit 1
fi
if [ $rc -eq 0 ] && grep -q "^$case: ok" "$out"; then
	echo "fds.sh: $case: all data read back right"
	exit 0
fi
if [ "${case#raw}" != "$case" ] && [ $rc -ne 0 ] &&
   grep -q "hetmem: the program closed or replaced hetmem's [a-z' ]* (fd [0-9]*) with a raw system call; stopping it so that it cannot read wrong data" "$err"; then
	echo "fds.sh: $case: hetmem stopped the program with its message (exit $rc), no wrong byte read"
	exit 0
fi
echo "fds.sh: $case: the program ended with status $rc without reading its data back" >&2
exit 1
