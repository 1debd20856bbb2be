#!/bin/sh
# guest-dax.sh [--need-device] PROG [ARGS...]: in the guest, make the
# emulated NVDIMM (run-guest.sh: label-less, ACPI NFIT) a device-dax device,
# then run PROG (unit_dax; or a program under hetmem run --tier dax:...).
#   1. load the modules /vm/modules lists (mkinitramfs.sh: libnvdimm, nfit,
#      device_dax, dax_pmem, in that order) with busybox insmod;
#   2. wait for the region's namespace0.0, then
#      ndctl create-namespace -f -e namespace0.0 --mode=devdax
#      (an info block on the namespace; its memory's struct pages on the
#      device itself, --map=dev);
#   3. wait for /dev/dax0.0.
# Each step is skipped once one has failed (the device is there already
# when an earlier test made it).  PROG runs whatever happened (unit_dax's
# bad-spec checks need no device).  If a step failed and PROG exits 77 (no
# device), the reason printed is that step's, so the guest test is reported
# skipped saying precisely why; a PROG that finds the device and passes is a
# pass.  --need-device: with no device, PROG is not run and the test is
# skipped (exit 77) with that reason.
PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
need=""
[ "${1:-}" = --need-device ] && { need=1; shift; }
reason=""
note() { [ -n "$reason" ] || reason=$*; echo "guest-dax: $*"; }

# 1. the modules
if [ ! -s /vm/modules ]; then
	note "no module list /vm/modules in the initramfs"
else
	while read -r m; do
		case "$m" in
		'#'*) note "${m#\# }"; continue ;;
		'') continue ;;
		esac
		name=$(basename "$m" .ko)
		if grep -q "^$name " /proc/modules 2>/dev/null; then
			continue
		fi
		if out=$(insmod "$m" 2>&1); then
			echo "guest-dax: loaded $name"
		else
			note "insmod $m failed: $out"
		fi
	done < /vm/modules
fi

# 2. the namespace, made devdax
ns=/sys/bus/nd/devices/namespace0.0
i=0
while [ -z "$reason" ] && [ ! -e $ns ] && [ $i -lt 50 ]; do
	sleep 0.2
	i=$((i + 1))
done
if [ -z "$reason" ] && [ ! -e $ns ]; then
	note "no NVDIMM namespace ($ns missing 10 s after loading the modules: no ACPI NFIT from QEMU? regions: $(ls /sys/bus/nd/devices 2>/dev/null | tr '\n' ' '))"
fi
if [ -z "$reason" ] && [ -c /dev/dax0.0 ]; then
	echo "guest-dax: /dev/dax0.0 is there already"
elif [ -z "$reason" ]; then
	if ! command -v ndctl > /dev/null 2>&1; then
		note "no ndctl in the initramfs (the host lacks it: apt-get install ndctl; scripts/install-deps.sh)"
	elif out=$(ndctl create-namespace -f -e namespace0.0 --mode=devdax 2>&1); then
		echo "guest-dax: ndctl create-namespace: $out"
	else
		note "ndctl create-namespace -f -e namespace0.0 --mode=devdax failed: $out"
	fi
fi

# 3. the device
i=0
while [ -z "$reason" ] && ! ls /dev/dax* > /dev/null 2>&1 && [ $i -lt 50 ]; do
	sleep 0.2
	i=$((i + 1))
done
if [ -z "$reason" ] && ! ls /dev/dax* > /dev/null 2>&1; then
	note "ndctl made namespace0.0 devdax but no /dev/dax* appeared (dax devices: $(ls /sys/bus/dax/devices 2>/dev/null | tr '\n' ' '))"
fi
if [ -z "$reason" ]; then
	for d in /sys/bus/dax/devices/*; do
		echo "guest-dax: $(basename "$d"): size $(cat "$d/size" 2>/dev/null), align $(cat "$d/align" 2>/dev/null), target_node $(cat "$d/target_node" 2>/dev/null)"
	done
	ls -l /dev/dax*
fi

if [ -n "$need" ] && [ -n "$reason" ]; then
	echo "skipped: no device-dax device in the guest: $reason"
	exit 77
fi
"$@"
rc=$?
if [ $rc = 77 ] && [ -n "$reason" ]; then
	echo "skipped: no device-dax device in the guest: $reason"
fi
exit $rc
