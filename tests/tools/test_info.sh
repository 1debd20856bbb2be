#!/bin/sh
# test_info.sh HETMEM — `hetmem info` reports the kernel's userfaultfd
# features and the mechanisms hetmem picks, and its "cpu idle" line agrees
# with sysfs: the cpuidle driver, and for the haltpoll driver (a VM guest)
# its guest_halt_poll_ns, with the note exactly when polling is off.
# Exit 77 (skipped) without userfaultfd.
set -u
. "$(dirname "$0")/../lib.sh"
hetmem=$1
out=$("$hetmem" info 2>&1)
rc=$?
fail() { echo "FAIL: $*"; echo "$out"; exit 1; }
if echo "$out" | grep -q "^userfaultfd: *unavailable"; then
	hm_skip "$(echo "$out" | grep '^userfaultfd')"
fi
[ $rc -eq 0 ] || fail "hetmem info exited $rc"
echo "$out" | grep -q "^demotion: " || fail "no demotion line"
line=$(echo "$out" | grep "^cpu idle: ") || fail "no cpu idle line"
drv=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none)
case "$line" in
*" $drv"*) ;;
*) fail "cpu idle line '$line' does not name the driver '$drv'" ;;
esac
note=no
echo "$out" | grep -q "note: polling off" && note=yes
want=no
if [ "$drv" = haltpoll ]; then
	poll=$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || echo "")
	if [ -n "$poll" ]; then
		echo "$line" | grep -q "guest halt polling $poll ns" || fail "'$line' does not give guest_halt_poll_ns $poll"
		[ "$poll" = 0 ] && want=yes
	fi
fi
[ $note = $want ] || fail "polling-off note shown: $note, expected: $want"
echo "ok: $line (note: $note)"
