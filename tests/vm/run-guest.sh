#!/bin/sh
# run-guest.sh TESTLIST OUTDIR
#
# Boots Debian 12's own kernel (6.1, /boot/vmlinuz-6.1.*) under QEMU's
# software emulation (TCG: no KVM is needed or used) with an initramfs from
# mkinitramfs.sh, runs TESTLIST's tests in it (format in guest-init.sh),
# and leaves in OUTDIR:
#   console.log   the guest's whole serial console
#   NAME.rc       each test's exit status in the guest ("died" if the guest
#                 stopped while it ran), NAME.log its output
#   summary       NAME RC SECONDS per test, then the boot time and wall time
#   skip          the reason, when the guest cannot be run here (exit 77)
# The machine: one vCPU, 2 GiB in two NUMA nodes of 1 GiB, node 1 without
# CPUs (memory only: the stand-in for a CXL memory expander), and beside
# that RAM an emulated NVDIMM of HM_VM_PMEM (default 256M; 0: none), label-
# less, described by ACPI NFIT: guest-dax.sh makes it a device-dax device
# (/dev/dax0.0) for unit_dax.
# Exit: 77 (skipped) when QEMU, the 6.1 kernel image or a static busybox is
# missing; 1 when the guest did not boot; else 0 (result.sh reports each
# test, a test without a result included).
# Settings: HM_VM_QEMU, HM_VM_KERNEL (image), HM_VM_BUSYBOX, HM_VM_TIMEOUT
# (seconds for the whole guest, default 1200), HM_VM_APPEND (more kernel
# command line), HM_VM_PMEM (the NVDIMM's size).
set -u
list=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out"
mkdir -p "$out"

skip() {
	echo "$*" > "$out/skip"
	echo "skipped: $*"
	exit 77
}
[ -z "${HM_VM_SKIP:-}" ] || skip "$HM_VM_SKIP"
qemu=${HM_VM_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null 2>&1 ||
	skip "no $qemu (Debian: apt-get install qemu-system-x86; scripts/install-deps.sh)"
kernel=${HM_VM_KERNEL:-$(ls /boot/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -n 1)}
[ -n "$kernel" ] ||
	skip "no Debian 12 kernel image /boot/vmlinuz-6.1.* (apt-get install linux-image-amd64; scripts/install-deps.sh)"
[ -r "$kernel" ] || skip "kernel image $kernel is not readable"
busybox=${HM_VM_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || skip "no $busybox (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then
	skip "$busybox is linked dynamically (apt-get install busybox-static)"
fi
command -v cpio >/dev/null 2>&1 || skip "no cpio (apt-get install cpio)"

HM_VM_BUSYBOX=$busybox HM_VM_KERNEL=$kernel "$here/mkinitramfs.sh" "$list" "$out/initramfs.cpio.gz" || {
	echo "run-guest: building the initramfs failed" >&2
	exit 1
}
echo "run-guest: kernel $kernel, initramfs $(du -k "$out/initramfs.cpio.gz" | cut -f1) KiB, $(grep -cv '^[[:space:]]*\(#\|$\)' "$list") tests"
# the NVDIMM: outside the 2 GiB of RAM and its NUMA nodes (maxmem makes
# room for it above them), so the guest's RAM and nodes are the same with
# or without it
pmem=${HM_VM_PMEM:-256M}
nvdimm=""
mem=2G
machine=pc
if [ "$pmem" != 0 ]; then
	nvdimm="-object memory-backend-ram,id=nv0,size=$pmem -device nvdimm,id=nvdimm0,memdev=nv0"
	mem=2G,slots=2,maxmem=4G
	machine=pc,nvdimm=on
fi
t0=$(date +%s)
# $nvdimm unquoted: its words are QEMU's arguments
# -nographic: the serial port on stdio (into console.log); -no-reboot and
# panic=-1: a kernel panic ends QEMU instead of rebooting the guest
timeout -k 10 "${HM_VM_TIMEOUT:-1200}" "$qemu" \
	-accel tcg -cpu max -smp 1 -m $mem -machine $machine \
	-object memory-backend-ram,id=m0,size=1G \
	-object memory-backend-ram,id=m1,size=1G \
	-numa node,nodeid=0,cpus=0,memdev=m0 \
	-numa node,nodeid=1,memdev=m1 $nvdimm \
	-kernel "$kernel" -initrd "$out/initramfs.cpio.gz" \
	-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init ${HM_VM_APPEND:-}" \
	-nic none -nographic -monitor none -no-reboot < /dev/null > "$out/console.log" 2>&1
qrc=$?
t1=$(date +%s)
tr -d '\r' < "$out/console.log" > "$out/console.tmp" && mv "$out/console.tmp" "$out/console.log"

# the markers guest-init.sh prints, into NAME.rc / NAME.log / summary
awk -v out="$out" '
$1 == "@@VM" && $2 == "START" { cur = $3; started[cur] = 1; next }
$1 == "@@VM" && $2 == "BEGIN" { name = $3; log_ = out "/" name ".log"; printf "" > log_; inlog = 1; next }
$1 == "@@VM" && $2 == "END" {
	inlog = 0; close(log_)
	print $4 > (out "/" $3 ".rc"); close(out "/" $3 ".rc")
	printf "%s %s %s\n", $3, $4, $5 >> (out "/summary")
	done_[$3] = 1; next
}
$1 == "@@VM" && $2 == "BOOTED" { printf "boot %s s (kernel uptime at init)\n", $3 >> (out "/summary"); next }
$1 == "@@VM" && $2 == "DONE" { printf "done %s s (kernel uptime after the last test)\n", $3 >> (out "/summary"); next }
$1 == "@@VM" { next }
inlog { print >> log_ }
END {
	for (n in started) if (!(n in done_)) {
		print "died" > (out "/" n ".rc")
		printf "%s died -\n", n >> (out "/summary")
	}
}' "$out/console.log"
echo "wall $((t1 - t0)) s (QEMU exit $qrc)" >> "$out/summary"
cat "$out/summary"
grep -q '^@@VM BOOTED' "$out/console.log" || {
	echo "run-guest: the guest did not boot; its console:" >&2
	tail -n 40 "$out/console.log" >&2
	exit 1
}
if ! grep -q '^@@VM DONE' "$out/console.log"; then
	echo "run-guest: the guest stopped before its last test (QEMU exit $qrc; 124: timeout); console tail:"
	tail -n 20 "$out/console.log"
fi
exit 0
