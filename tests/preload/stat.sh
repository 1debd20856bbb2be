#!/bin/bash
# hetmem stat: a program under hetmem run publishes its counters; stat
# shows them (pages on the device, faults), watch mode prints rate lines,
# and stat refuses a process that is not under hetmem or has exited.
# usage: stat.sh HETMEM PRELOAD_CASES
set -u
hetmem=$1 cases=$2
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0 n=0
ok() { n=$((n + 1)); echo "ok   $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL $1"; [ -f "$tmp/o" ] && cat "$tmp/o"; }

# hetmem run forks the program: stat is given the program's pid (it prints it)
"$hetmem" run --dram 32M --tier emu:1G,lazy -- "$cases" hold >"$tmp/prog" 2>&1 &
runpid=$!
for _ in $(seq 300); do
	grep -q '^ready' "$tmp/prog" && break
	sleep 0.1
done
pid=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$tmp/prog")
if [ -z "$pid" ]; then
	echo "FAIL the program did not get ready:"; cat "$tmp/prog"
	exit 1
fi

# the counters are published every 250 ms: a program that got ready sooner
# (its first touches filled ahead) may not have published its faults yet
for _ in $(seq 20); do
	"$hetmem" stat $pid >"$tmp/o" 2>&1
	grep -Eq "^faults [1-9]" "$tmp/o" && break
	sleep 0.1
done
if grep -q "^pid $pid: .*preload_cases hold" "$tmp/o" && grep -q "policy recency, RAM budget 32.0 MiB" "$tmp/o" &&
	grep -Eq "in RAM, [0-9.]+ [KMG]iB on devices" "$tmp/o" && grep -Eq "^faults [1-9]" "$tmp/o"; then
	ok "stat shows the program, its budget, pages on the device and faults"
else
	bad "stat output"
fi

"$hetmem" stat $runpid >"$tmp/o" 2>&1
if grep -q "^pid $pid: .*preload_cases hold" "$tmp/o"; then
	ok "stat of hetmem run's pid shows the program it started"
else
	bad "stat of hetmem run's pid"
fi

"$hetmem" stat -w 0.2 -n 2 $pid >"$tmp/o" 2>&1
if [ "$(grep -Ec '^ +[0-9.]+ +[0-9]+' "$tmp/o")" -eq 2 ] && grep -q "faults/s" "$tmp/o"; then
	ok "watch mode prints a header and two rate lines"
else
	bad "watch mode"
fi

if "$hetmem" stat $$ >"$tmp/o" 2>&1; then
	bad "stat of a process not under hetmem exits 0"
elif grep -q "not running under hetmem" "$tmp/o"; then
	ok "stat of a process not under hetmem: $(cat "$tmp/o")"
else
	bad "stat of a process not under hetmem: message"
fi

kill -9 $pid
wait $runpid 2>/dev/null
if "$hetmem" stat $pid >"$tmp/o" 2>&1; then
	bad "stat of an exited process exits 0"
elif grep -Eq "has exited|no process" "$tmp/o"; then
	ok "stat of an exited process: $(cat "$tmp/o")"
else
	bad "stat of an exited process: message"
fi
if [ -e /dev/shm/hetmem.$pid ]; then
	bad "the record of the killed program is left behind"
	rm -f /dev/shm/hetmem.$pid
else
	ok "hetmem run removed the killed program's record"
fi
pid=

if "$hetmem" stat notapid >"$tmp/o" 2>&1; then
	bad "stat notapid exits 0"
else
	ok "stat refuses a bad argument: $(head -n1 "$tmp/o")"
fi

echo "$((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
