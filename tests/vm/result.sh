#!/bin/sh
# result.sh OUTDIR NAME [KNOWN]: one guest test's result from run-guest.sh's
# OUTDIR, as a CTest test: its output, then exit 0 (passed in the guest), 77
# (skipped: in the guest, or no guest here) or 1 (failed, timed out, or no
# result).  KNOWN (a reason) marks a test known to fail in the guest: its
# failure, output included, is reported as skipped with that reason (a pass
# is still a pass).
out=$1
name=$2
known=${3:-}
if [ -f "$out/skip" ]; then
	echo "skipped: no guest: $(cat "$out/skip")"
	exit 77
fi
if [ ! -f "$out/$name.rc" ]; then
	if [ -f "$out/console.log" ]; then
		echo "no result for $name: the guest ended before it ran; console tail ($out/console.log):"
		tail -n 20 "$out/console.log"
	else
		echo "no result for $name: the guest was not run ($out/console.log missing)"
	fi
	exit 1
fi
rc=$(cat "$out/$name.rc")
[ -f "$out/$name.log" ] && cat "$out/$name.log"
if [ -n "$known" ] && [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
	echo "skipped: KNOWN_FAILING in the guest (tests/vm/CMakeLists.txt; it failed, exit $rc): $known"
	exit 77
fi
case "$rc" in
0) exit 0 ;;
77) exit 77 ;;	# the test's own "skipped: REASON" is in its output above
died)
	echo "FAILED in the guest: it stopped while $name ran; console tail ($out/console.log):"
	tail -n 20 "$out/console.log"
	exit 1 ;;
124|137|143)
	secs=$(awk -v n="$name" '$1 == n { print $3 }' "$out/summary" 2>/dev/null)
	echo "FAILED in the guest: killed (exit $rc) after ${secs:-?} s: its timeout in the guest's test list ran out, or a signal"
	exit 1 ;;
*) echo "FAILED in the guest: exit $rc"; exit 1 ;;
esac
