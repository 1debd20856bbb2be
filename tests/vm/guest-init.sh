#!/bin/sh
# The guest's /init (mkinitramfs.sh copies it there): mounts what the tests
# need, runs each line of /vm/tests.txt as root, prints each result in a
# form run-guest.sh parses, then powers the guest off.
#
# /vm/tests.txt, one test a line (blank lines and # comments skipped):
#   NAME TIMEOUT [VAR=VALUE...] PROG [ARGS...]
# run as `timeout TIMEOUT env VAR=VALUE... PROG ARGS...` in /tmp.
#
# Serial console output, each marker on a line of its own:
#   @@VM BOOTED UPTIME                  init has started (kernel uptime, s)
#   @@VM START NAME                     before the test runs
#   @@VM BEGIN NAME                     its output (stdout and stderr) follows
#   @@VM END NAME RC SECONDS            its exit status and run time
#   @@VM DONE                           every test has run
# A test's output is kept in a file while it runs and printed between BEGIN
# and END afterwards, so kernel messages do not cut into it.
PATH=/bin:/sbin
export PATH HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
# /tmp: its own tmpfs, unless the initramfs holds files there (a build tree
# under /tmp, such as a clone in /tmp: a mount would hide it); the root is
# a tmpfs itself then
if [ -z "$(ls -A /tmp 2>/dev/null)" ]; then
	mount -t tmpfs -o mode=1777 tmp /tmp
else
	chmod 1777 /tmp
fi
# the tests run as root; a test that drops its privileges still gets a
# userfaultfd (as on a host where the sysctl is set)
echo 1 > /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
echo; echo "@@VM BOOTED $(up)"	# on a line of its own, after the firmware's output
echo "@@VM KERNEL $(uname -r)"
echo "@@VM NODES $(cat /sys/devices/system/node/online) CPUS $(cat /sys/devices/system/cpu/online)"
while read -r name tmo rest; do
	case "$name" in ''|'#'*) continue ;; esac
	echo "@@VM START $name"
	t0=$(up)
	# shellcheck disable=SC2086 # the line's words are the command's
	(cd /tmp && exec timeout "$tmo" env $rest) > "/tmp/$name.out" 2>&1 < /dev/null
	rc=$?
	t1=$(up)
	echo "@@VM BEGIN $name"
	awk '{ print }' "/tmp/$name.out"	# the last line ended, for END's sake
	echo "@@VM END $name $rc $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")"
	rm -f "/tmp/$name.out"
done < /vm/tests.txt
echo "@@VM DONE $(up)"
poweroff -f
