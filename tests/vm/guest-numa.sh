#!/bin/sh
# In the guest: the machine run-guest.sh asks QEMU for is there: two NUMA
# nodes online, node 0 with the CPU, node 1 with memory and no CPU (the
# stand-in for a CXL memory expander).
fail() { echo "FAIL: $*"; exit 1; }
n=/sys/devices/system/node
online=$(cat $n/online)
echo "nodes online: $online"
[ "$online" = 0-1 ] || fail "nodes online: $online, not 0-1"
for i in 0 1; do
	kb=$(awk '/MemTotal/ { print $4 }' $n/node$i/meminfo)
	echo "node$i: cpus '$(cat $n/node$i/cpulist)', MemTotal $kb kB"
	[ "${kb:-0}" -gt 500000 ] || fail "node$i has ${kb:-no} kB of memory"
done
[ "$(cat $n/node0/cpulist)" = 0 ] || fail "node0's cpus: $(cat $n/node0/cpulist)"
[ -z "$(cat $n/node1/cpulist)" ] || fail "node1 has cpus: $(cat $n/node1/cpulist)"
echo "ok: node 1 is memory-only"
