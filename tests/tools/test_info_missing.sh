#!/bin/sh
# test_info_missing.sh HETMEM MASK — `hetmem info` names each kernel feature
# hetmem can do without that is missing, and what it does instead: with MASK
# (HETMEM_MASK_FEATURES as on Debian 12's 6.1: move, poison, wp_async,
# wp_unpopulated, pagemap_scan) a line for every one; with each name alone,
# that name's line; without a mask, a line only for what the kernel lacks
# (on a kernel with all of them, none, and no heading).  Exit 77 (skipped)
# without userfaultfd.
set -u
. "$(dirname "$0")/../lib.sh"
hetmem=$1
mask=$2
fail() { echo "FAIL: $*"; echo "$out"; exit 1; }
# the feature's mask name, the start of its line, and its yes/no line in the
# feature list (what the kernel has, as masked)
line_of() {
	case $1 in
	move) echo "  no UFFDIO_MOVE (Linux >= 6.8): demotion write-protects the folio" ;;
	poison) echo "  no UFFDIO_POISON (Linux >= 6.6): a page a tier cannot give back is fenced" ;;
	wp_async) echo "  no async write-protect (UFFD_FEATURE_WP_ASYNC" ;;
	wp_unpopulated) echo "  no WP_UNPOPULATED (UFFD_FEATURE_WP_UNPOPULATED" ;;
	pagemap_scan) echo "  no PAGEMAP_SCAN (Linux >= 6.7)" ;;
	esac
}
has() { # the feature list's answer for $1 in $out: 0 if present
	case $1 in
	move) echo "$out" | grep -q "^  UFFDIO_MOVE: *yes" ;;
	poison) echo "$out" | grep -q "^  UFFDIO_POISON: *yes" ;;
	wp_async) echo "$out" | grep -q "^  write-protect: *yes (unpopulated [a-z]*, async yes)" ;;
	wp_unpopulated) echo "$out" | grep -q "^  write-protect: *yes (unpopulated yes" ;;
	pagemap_scan) echo "$out" | grep -q "^PAGEMAP_SCAN: *yes" ;;
	esac
}
names="move poison wp_async wp_unpopulated pagemap_scan"
shows() { echo "$out" | grep -qF "$(line_of "$1")"; }

out=$(env -u HETMEM_MASK_FEATURES "$hetmem" info 2>&1)
if echo "$out" | grep -q "^userfaultfd: *unavailable"; then
	hm_skip "$(echo "$out" | grep '^userfaultfd')"
fi
# without a mask: a line exactly for what this kernel lacks
all=yes
for n in $names; do
	if has $n; then
		shows $n && fail "no mask, the kernel has $n, but info says it is missing"
	else
		all=no
		shows $n || fail "no mask, the kernel lacks $n, but info does not say so"
	fi
done
if [ $all = yes ] && echo "$out" | grep -q "^missing kernel features"; then
	fail "every feature present, yet a 'missing kernel features' heading"
fi
# the Debian 12 mask: every line, each after the heading
out=$(HETMEM_MASK_FEATURES=$mask "$hetmem" info 2>&1) || fail "hetmem info with the mask exited $?"
echo "$out" | grep -q "^missing kernel features (what hetmem does instead):" || fail "no heading with the mask"
for n in $names; do
	has $n && fail "masked $n reported present"
	shows $n || fail "masked $n: no line saying it is missing"
done
# what each says hetmem does instead (the fallbacks of init.c, migrate.c, poison.c, track.c)
echo "$out" | grep -q "^demotion: *write-protect, copy, MADV_DONTNEED" || fail "demotion is not write-protect"
echo "$out" | grep -q "BUS_ADRERR at the address (not BUS_MCEERR_AR)" || fail "the fence's SIGBUS not named"
if echo "$out" | grep -q "^soft-dirty: *yes"; then
	echo "$out" | grep -q "tracked by soft-dirty bits instead" || fail "soft-dirty fallback not named"
else
	echo "$out" | grep -q "resident folios are not tracked (no soft-dirty either)" || fail "no write tracking not named"
fi
# each name alone: its line, and no line for the others the kernel has
for n in $names; do
	out=$(HETMEM_MASK_FEATURES=$n "$hetmem" info 2>&1) || fail "hetmem info masking $n exited $?"
	shows $n || fail "masking $n alone: no line for it"
	for o in $names; do
		[ $o = $n ] && continue
		if has $o; then
			shows $o && fail "masking $n alone: a line for $o, which is present"
		fi
	done
done
echo "ok"
