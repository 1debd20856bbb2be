#!/bin/sh
# test_mask.sh HETMEM — HETMEM_MASK_FEATURES (a testing aid, src/os/featmask.c):
# `hetmem info` shows the masked features, reports them missing, and picks
# the fallbacks (write-protect demotion without UFFDIO_MOVE; a fence for a
# lost page without UFFDIO_POISON); without the mask it reports the kernel
# as it is; an unknown name is refused (hetmem info, hetmem run) with the
# list of known names; signal mode is refused without UFFD_FEATURE_SIGBUS.
# Exit 77 (skipped) without userfaultfd.
set -u
. "$(dirname "$0")/../lib.sh"
hetmem=$1
fail() { echo "FAIL: $*"; echo "$out"; exit 1; }
out=$(env -u HETMEM_MASK_FEATURES "$hetmem" info 2>&1)
if echo "$out" | grep -q "^userfaultfd: *unavailable"; then
	hm_skip "$(echo "$out" | grep '^userfaultfd')"
fi
echo "$out" | grep -q "masked:" && fail "a masked line without HETMEM_MASK_FEATURES"
# how a lost page is reported agrees with what the kernel has
if echo "$out" | grep -q "UFFDIO_POISON: *yes"; then
	echo "$out" | grep -q "^poisoned pages: *UFFDIO_POISON" || fail "UFFDIO_POISON present but not used"
else
	echo "$out" | grep -q "^poisoned pages: *an empty file mapped over" || fail "no UFFDIO_POISON: no fence named"
fi
out=$(HETMEM_MASK_FEATURES=poison,move "$hetmem" info 2>&1) || fail "hetmem info with a mask exited $?"
echo "$out" | grep -q "^  masked: *poison,move " || fail "masked features not shown"
echo "$out" | grep -q "UFFDIO_MOVE: *no" || fail "masked UFFDIO_MOVE reported present"
echo "$out" | grep -q "UFFDIO_POISON: *no" || fail "masked UFFDIO_POISON reported present"
echo "$out" | grep -q "^poisoned pages: *an empty file mapped over the page (SIGBUS at the address" ||
	fail "a lost page's report does not say it is fenced"
if echo "$out" | grep -q "write-protect: *yes"; then
	echo "$out" | grep -q "^demotion: *write-protect" || fail "demotion does not fall back to write-protect"
fi
out=$(HETMEM_MASK_FEATURES=poison,bogus "$hetmem" info 2>&1) && fail "an unknown feature name accepted"
echo "$out" | grep -q "unknown feature 'bogus' (known: .*poison" || fail "the refusal does not list the known names"
out=$(HETMEM_MASK_FEATURES=bogus "$hetmem" run --dram 32M -- /bin/true 2>&1) && fail "hetmem run accepted an unknown feature name"
echo "$out" | grep -q "unknown feature 'bogus'" || fail "hetmem run does not say which name is unknown"
# signal mode without UFFDIO_POISON: the faulting thread's own SIGBUS handler reports it
out=$(HETMEM_FAULTS=signal HETMEM_MASK_FEATURES=poison "$hetmem" info 2>&1)
if ! echo "$out" | grep -q "^hm_init: *failed"; then
	echo "$out" | grep -q "^poisoned pages: *SIGBUS at the address from hetmem's SIGBUS handler" ||
		fail "signal mode's report of a lost page is not its own"
fi
# a mode that needs a masked feature is refused, as on a kernel without it
out=$(HETMEM_FAULTS=signal HETMEM_MASK_FEATURES=sigbus "$hetmem" info 2>&1)
echo "$out" | grep -q "^hm_init: *failed: .*needs UFFD_FEATURE_SIGBUS" || fail "signal mode not refused without UFFD_FEATURE_SIGBUS"
echo "ok"
