#!/bin/sh
# mkinitramfs.sh TESTLIST OUT.cpio.gz
#
# Builds the guest's initramfs (newc cpio, gzip) for run-guest.sh:
#   /bin          busybox-static and a link per applet (sh, mount, timeout, ...)
#   /init         the guest's init (guest-init.sh): mounts, runs the tests, powers off
#   /vm/tests.txt the test list (format in guest-init.sh)
#   every absolute path the test list names that is a file on this machine
#   (the test binaries and the hetmem command, at the same paths as here, so
#   the commands read as on the host), the hetmem command and its preload
#   library, and every shared library they link (ldd), the dynamic loader
#   included.  Binaries are copied without their debug sections.
# What the guest needs to boot and test (userfaultfd, NUMA, tmpfs,
# devtmpfs, the 8250 serial console, gzip initramfs) is built into Debian
# 12's kernel (CONFIG_*=y in /boot/config-6.1*).  The NVDIMM's drivers are
# modules: those of the kernel HM_VM_KERNEL (/boot/vmlinuz-VERSION: from
# /lib/modules/VERSION) for ACPI NFIT, libnvdimm and device-dax are copied,
# with /vm/modules listing them in load order (guest-dax.sh loads them),
# and ndctl and daxctl with their libraries (guest-dax.sh makes the NVDIMM
# a device-dax device).  Missing ones are left out; guest-dax.sh says so.
# Extra files to carry: HM_VM_EXTRA="PATH..." (absolute paths).
set -eu
list=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
busybox=${HM_VM_BUSYBOX:-/bin/busybox}
root=$(mktemp -d "${TMPDIR:-/tmp}/hm-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/bin" "$root/sbin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" \
	"$root/tmp" "$root/run" "$root/vm" "$root/root"
cp "$busybox" "$root/bin/busybox"
for a in $("$busybox" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
ln -sf ../bin/busybox "$root/sbin/poweroff"
cp "$here/guest-init.sh" "$root/init"
chmod 755 "$root/init"
cp "$list" "$root/vm/tests.txt"
# users for tests that drop privileges (setpriv, nobody)
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"

# copy FILE to the same path under the root, without debug sections if ELF
put() {
	[ -e "$root$1" ] && return 0
	mkdir -p "$root$(dirname "$1")"
	if head -c 4 "$1" | grep -q ELF && command -v strip >/dev/null 2>&1; then
		strip --strip-debug -o "$root$1" "$1" 2>/dev/null || cp -L "$1" "$root$1"
	else
		cp -L "$1" "$root$1"
	fi
	chmod --reference="$1" "$root$1" 2>/dev/null || true
}
# FILE and the shared libraries it links
put_with_libs() {
	put "$1"
	head -c 4 "$1" | grep -q ELF || return 0
	for lib in $(ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		put "$lib"
		# where the libraries resolve through links (merged /usr), the
		# target's path too, as the loader may be asked for either
		real=$(readlink -f "$lib")
		[ "$real" = "$lib" ] || put "$real"
	done
}

files=$(tr ' \t=,' '\n\n\n\n' < "$list" | grep '^/' | sort -u || true)
for f in $files ${HM_VM_EXTRA:-}; do
	[ -f "$f" ] && put_with_libs "$f"
	# a directory a path lies in (a tier file the test creates)
	mkdir -p "$root$(dirname "$f")"
done

# the NVDIMM's drivers, in load order (each after those it needs:
# modules.dep), and the tools that configure it
kver=$(basename "${HM_VM_KERNEL:-}" | sed -n 's/^vmlinuz-//p')
: > "$root/vm/modules"
if [ -n "$kver" ] && [ -d "/lib/modules/$kver" ]; then
	for m in drivers/nvdimm/libnvdimm drivers/acpi/nfit/nfit drivers/nvdimm/nd_btt drivers/nvdimm/nd_pmem \
		drivers/dax/device_dax drivers/dax/dax_pmem; do
		f=/lib/modules/$kver/kernel/$m.ko
		if [ -f "$f" ]; then
			put "$f"
			echo "$f" >> "$root/vm/modules"
		else
			echo "# missing on the host: $f" >> "$root/vm/modules"
		fi
	done
else
	echo "# missing on the host: /lib/modules/${kver:-?} (the modules of ${HM_VM_KERNEL:-the guest kernel})" >> "$root/vm/modules"
fi
for tool in ndctl daxctl; do
	p=$(command -v "$tool" 2>/dev/null || true)
	[ -n "$p" ] && put_with_libs "$p"
done

(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out"
