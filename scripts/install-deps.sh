#!/bin/sh
# Installs what hetmem needs to build and test on Debian 12 (run as root).
# Only missing packages are installed, so a second run is quick.
#   build: build-essential cmake pkg-config libcmocka-dev libmimalloc-dev
#   compressed tier (lz4:, zstd:): liblz4-dev libzstd-dev
#   NUMA tier (numa:NODE): libnuma-dev (move_pages, node sizes); numactl for
#   its tests (and an operator's cpusets/--membind)
#   hetmem heatmap: gnuplot-nox
#   the real-program tests (tests/programs) and bench/redis.sh: redis-server
#   redis-tools (redis-cli, redis-benchmark) sqlite3 memcached python3
#   tests/preload/pool.sh: time (/usr/bin/time -v)
#   tests/preload/mlock.sh: memtester (mlocks its buffer)
#   the guest tests (tests/vm): qemu-system-x86 (software emulation: no KVM
#   needed), linux-image-amd64 (Debian 12's 6.1 kernel, booted only in the
#   guest: its image in /boot/vmlinuz-6.1.*), busybox-static and cpio (the
#   guest's initramfs), ndctl and daxctl (carried into the guest: they make
#   its emulated NVDIMM a device-dax device for the dax: tier's test)
set -e
PKGS="build-essential cmake pkg-config libcmocka-dev libmimalloc-dev liblz4-dev libzstd-dev libnuma-dev numactl gnuplot-nox
redis-server redis-tools sqlite3 memcached python3 time memtester
qemu-system-x86 busybox-static cpio ndctl daxctl"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
		exit 1
	fi
	echo "install-deps: installing$missing"
	# redis-server and memcached ship services: keep the package scripts
	# from starting them (the tests start their own, on free ports).  A
	# policy-rc.d that is already there is left as it is.
	rcd=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		rcd=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' > "$rcd"
		chmod 755 "$rcd"
		trap 'rm -f "$rcd"' EXIT
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	# with systemd running, deb-systemd-invoke may still have started them
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl disable --now redis-server.service memcached.service >/dev/null 2>&1 || true
	fi
fi

# The guest's kernel.  The package's scripts (initramfs, bootloader) may
# fail where /boot is not a real one (a container); the guest needs only the
# image, so then the image package is unpacked instead (dpkg-deb -x into
# /boot, dpkg's database left as it was).
if ! ls /boot/vmlinuz-6.1.* >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: no /boot/vmlinuz-6.1.* (run as root, or install linux-image-amd64)" >&2
		exit 1
	fi
	echo "install-deps: installing linux-image-amd64 (the guest tests' kernel)"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-image-amd64 >/dev/null; then
		echo "install-deps: linux-image-amd64 did not install; unpacking its image instead" >&2
		img=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6/ { print $2; exit }')
		tmp=$(mktemp -d)
		(cd "$tmp" && apt-get download -qq "$img" && dpkg-deb -x "$img"_*.deb root)
		cp "$tmp"/root/boot/vmlinuz-* "$tmp"/root/boot/config-* /boot/
		# the guest's NVDIMM drivers (tests/vm/mkinitramfs.sh carries them)
		for d in "$tmp"/root/lib/modules/*; do
			v=$(basename "$d")
			for sub in drivers/nvdimm drivers/dax drivers/acpi/nfit; do
				[ -d "$d/kernel/$sub" ] || continue
				mkdir -p "/lib/modules/$v/kernel/$sub"
				cp -r "$d/kernel/$sub/." "/lib/modules/$v/kernel/$sub/"
			done
		done
		rm -rf "$tmp"
	fi
fi
