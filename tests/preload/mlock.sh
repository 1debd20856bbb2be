#!/bin/bash
# Locked memory, a full device tier and thrashing under `hetmem run`.
# usage: mlock.sh HETMEM PRELOAD_MLOCK CASE   (HETMEM_DEMOTE picks the mode)
#   memtester  Debian's memtester mlocks a buffer twice the budget (and more
#              than budget + one reclaim batch): it must finish, report ok
#              and exit 0
#   lock       preload_mlock lock / lockall: a locked buffer larger than the
#              budget stays in RAM, is counted as locked, and is demoted
#              again after munlock / munlockall, its data intact
#   full       a device tier much smaller than the data: the program runs at
#              about its own speed (at most 20x its time without hetmem, or
#              10 s), its data is right, and stderr says once that the tier
#              is full
#   thrash     a working set 8x the budget read randomly: --stats and
#              `hetmem stat` say it is thrashing; the same program with a
#              budget it fits in is not said to be
set -u
. "$(dirname "$0")/../lib.sh"
hetmem=$1 prog=$2 case=$3
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { fails=$((fails + 1)); echo "FAIL $1"; for f in "$@"; do [ -f "$f" ] && tail -c 3000 "$f"; done; }
now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

case $case in
memtester)
	mt=$(command -v memtester || ls /usr/sbin/memtester 2>/dev/null)
	[ -n "$mt" ] || hm_skip "memtester is not installed (scripts/install-deps.sh)"
	lim=$(ulimit -l)
	if [ "$(id -u)" != 0 ] && [ "$lim" != unlimited ] && [ "$lim" -lt 32768 ]; then
		hm_skip "memtester cannot mlock 28 MiB here (not root, RLIMIT_MEMLOCK ${lim} KiB)"
	fi
	# the budget's hold starts at budget + 16 MiB (one reclaim batch):
	# 28 MiB locked is past it
	t0=$(now)
	timeout 90 "$hetmem" run --dram 4M --tier emu:1G,lazy -- "$mt" 28M 1 >"$tmp/o" 2>"$tmp/e"
	rc=$?
	t=$(elapsed "$t0")
	if [ $rc -eq 0 ] && grep -q "locked\." "$tmp/o" && grep -q "^Done\." "$tmp/o" && ! grep -q FAILURE "$tmp/o"; then
		ok "memtester 28M under a 4 MiB budget: locked, ok, exit 0 in ${t} s"
	else
		bad "memtester 28M under a 4 MiB budget: exit $rc after ${t} s (124: still running at the timeout)" "$tmp/o" "$tmp/e"
	fi
	grep -q "nothing in RAM can be demoted" "$tmp/e" && ok "stderr: $(grep 'hetmem:' "$tmp/e" | head -1)" ||
		bad "stderr does not say why residency is over the budget" "$tmp/e"
	;;
lock)
	for c in lock lockall; do
		timeout 60 "$hetmem" run --dram 16M --tier emu:1G,lazy -- "$prog" $c 64 >"$tmp/o" 2>&1
		rc=$?
		[ $rc -eq 0 ] && grep -q "^$c: ok" "$tmp/o" && ok "$c 64 MiB under a 16 MiB budget" ||
			bad "$c 64 MiB under a 16 MiB budget: exit $rc (124: still running at the timeout)" "$tmp/o"
	done
	;;
full)
	t0=$(now)
	"$prog" full 256 >"$tmp/bare" 2>&1 || bad "the program fails without hetmem" "$tmp/bare"
	bare=$(elapsed "$t0")
	cap=$(awk -v b="$bare" 'BEGIN { c = b * 20; if (c < 10) c = 10; printf "%.1f", c }')
	t0=$(now)
	timeout 60 "$hetmem" run --stats --dram 16M --tier emu:16M,lazy -- "$prog" full 256 >"$tmp/o" 2>"$tmp/e"
	rc=$?
	t=$(elapsed "$t0")
	if [ $rc -eq 0 ] && grep -q "^full: ok" "$tmp/o"; then
		ok "256 MiB through a 16 MiB budget and a 16 MiB tier: data right, exit 0"
	else
		bad "256 MiB through a 16 MiB budget and a 16 MiB tier: exit $rc after $t s (124: still running at the timeout)" "$tmp/o" "$tmp/e"
	fi
	if awk -v t="$t" -v c="$cap" 'BEGIN { exit !(t <= c) }'; then
		ok "it took $t s, without hetmem $bare s (at most $cap s)"
	else
		bad "it took $t s, without hetmem $bare s: more than $cap s" "$tmp/e"
	fi
	n=$(grep -c "^hetmem: tier 1 (emu:16M,lazy) is full: over the RAM budget .* the program keeps running" "$tmp/e")
	[ "$n" -eq 1 ] && ok "stderr: $(grep 'is full' "$tmp/e")" ||
		bad "the 'tier is full' line is on stderr $n times, not once" "$tmp/e"
	grep -Eq "over the budget \(nothing could be demoted\) [1-9][0-9]* times" "$tmp/e" &&
		ok "--stats: $(grep -o 'over the budget.*' "$tmp/e")" || bad "--stats do not count the time over the budget" "$tmp/e"
	;;
thrash)
	"$hetmem" run --stats --dram 16M --tier emu:1G,lazy -- "$prog" thrash 128 8 >"$tmp/o" 2>"$tmp/e" &
	pid=$!
	# once it reads randomly, hetmem stat says so within a few seconds
	for _ in $(seq 300); do
		grep -q '^filled' "$tmp/o" && break
		sleep 0.1
	done
	for _ in $(seq 20); do
		"$hetmem" stat $pid >"$tmp/s" 2>&1
		grep -q "^thrashing:" "$tmp/s" && break
		sleep 0.5
	done
	wait $pid
	rc=$?
	pid=
	[ $rc -eq 0 ] && grep -q "^thrash: ok" "$tmp/o" || bad "the program failed: exit $rc" "$tmp/o" "$tmp/e"
	sentence="thrashing: most of the time is spent waiting on faults; the working set is larger than the budget"
	grep -q "$sentence" "$tmp/e" && ok "--stats: $(grep 'fault wait' "$tmp/e")" ||
		bad "--stats do not say the program is thrashing" "$tmp/e"
	grep -q "$sentence" "$tmp/s" && ok "hetmem stat: $(grep 'fault wait' "$tmp/s")" ||
		bad "hetmem stat does not say the program is thrashing" "$tmp/s"
	# the same program in a budget it fits in
	"$hetmem" run --stats --dram 256M --tier emu:1G,lazy -- "$prog" thrash 128 4 >"$tmp/o" 2>"$tmp/e"
	grep -q "thrashing:" "$tmp/e" && bad "a working set within the budget is said to thrash" "$tmp/e" ||
		ok "within the budget: $(grep 'fault wait' "$tmp/e")"
	;;
*)
	echo "unknown case $case"
	exit 2
	;;
esac
exit $((fails > 0))
