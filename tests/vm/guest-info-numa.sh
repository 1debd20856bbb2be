#!/bin/sh
# In the guest: hetmem info lists the memory-only node 1 with its spec, and
# `hetmem run` with no --tier picks it (before compressed memory).
# $1: the hetmem command.
fail() { echo "FAIL: $*"; exit 1; }
out=$("$1" info 2>&1) || fail "hetmem info failed: $out"
echo "$out" | grep "memory-only node\|hetmem run's tier"
echo "$out" | grep -q "^memory-only node 1: .*--tier numa:1" || fail "hetmem info does not list node 1"
echo "$out" | grep -q "^hetmem run's tier: *numa:1 " || fail "hetmem run's default tier is not numa:1"
echo "ok"
