#!/bin/sh
# A program started under a small address-space limit (ulimit -v) runs under
# `hetmem run` as it runs without it: hetmem's reserved ranges (the tracker's
# hold area above all, 8 GiB of address space) shrink to fit or go, and the
# program's data is right.  Usage: rlimit_as.sh HETMEM
set -u
. "$(dirname "$0")/../lib.sh"
hetmem=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
prog='
import hashlib
b = bytearray(96 << 20)
for i in range(0, len(b), 4096):
    b[i] = (i >> 12) & 255
d1 = hashlib.sha256(b).hexdigest()
for r in range(2):
    d2 = hashlib.sha256(b).hexdigest()
    assert d1 == d2, "data changed"
print("ok")
'
# the same program without hetmem, under the same limit: it must work there
out=$(ulimit -v 1200000; python3 -c "$prog" 2>&1)
[ "$out" = ok ] || hm_skip "python3 does not run under ulimit -v 1200000 even without hetmem: $out"
out=$(ulimit -v 1200000; "$hetmem" run --dram 32M --tier "file:$dir/tier,size=512M" -- python3 -c "$prog" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ "$(printf '%s\n' "$out" | tail -n 1)" != ok ]; then
	echo "FAIL: under ulimit -v 1200000, hetmem run gave exit $rc:"
	printf '%s\n' "$out"
	exit 1
fi
echo "PASS: python3 under ulimit -v 1200000 and hetmem run: $out"
