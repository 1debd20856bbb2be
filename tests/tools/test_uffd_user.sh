#!/bin/bash
# test_uffd_user.sh HETMEM — a user without a full userfaultfd is refused,
# not crashed.  With vm.unprivileged_userfaultfd=0 and /dev/userfaultfd
# closed to it, a non-root user gets at most a user-mode-only userfaultfd,
# whose faults inside system calls are not served (python3 died with
# "OSError: Bad address").  As `nobody`:
#   - hetmem info says it cannot manage this user's processes, and why;
#   - hetmem run refuses with that message, exit 127, the program not started;
#   - a program started by root's hetmem run that changes its uid and execs
#     runs unmanaged, says so in one line, and hetmem run still reports;
#   - with /dev/userfaultfd opened to it, or vm.unprivileged_userfaultfd=1,
#     the same python3 runs managed (pages to the device and back) and right,
#     also after a uid change and exec under root's hetmem run (reported).
# Needs root (it sets the sysctl and /dev/userfaultfd's mode for its
# duration and restores both); skipped (77) otherwise.
set -u
. "$(dirname "$0")/../lib.sh"
hetmem=$1
[ "$(id -u)" -eq 0 ] || hm_skip "needs root (sets vm.unprivileged_userfaultfd)"
sysctl=/proc/sys/vm/unprivileged_userfaultfd
[ -w $sysctl ] || hm_skip "no writable $sysctl"
command -v setpriv >/dev/null || hm_skip "no setpriv"
[ -x /usr/bin/python3 ] || hm_skip "no /usr/bin/python3"
old_sysctl=$(cat $sysctl)
old_mode=
[ -e /dev/userfaultfd ] && old_mode=$(stat -c %a /dev/userfaultfd)
# hetmem and its preload library where nobody can run them
tmp=$(mktemp -d)
chmod 755 "$tmp"
cp "$hetmem" "$tmp/hetmem"
cp "$(dirname "$hetmem")/libhetmem-preload.so" "$tmp/"
chmod 755 "$tmp/hetmem" "$tmp/libhetmem-preload.so"
mkdir "$tmp/w" && chown nobody "$tmp/w" # where nobody writes its stats
restore() {
	echo "$old_sysctl" >$sysctl
	[ -n "$old_mode" ] && chmod "$old_mode" /dev/userfaultfd
	rm -rf "$tmp"
}
trap restore EXIT
H=$tmp/hetmem
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
fails=0 n=0
ok() { n=$((n + 1)); echo "ok   $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL $1"; [ -f "$tmp/out" ] && cat "$tmp/out"; }

# 64 MiB (twice the budget) written to a pipe by write(2) straight from
# managed memory (pages on the device: a fault inside the system call),
# then compared with what was read back
prog='import hashlib, os, sys
x = bytearray(os.urandom(1 << 20)) * 64
r, w = os.pipe()
if os.fork() == 0:
    os.close(w); h = hashlib.sha256()
    while True:
        b = os.read(r, 1 << 16)
        if not b: break
        h.update(b)
    print(h.hexdigest()); sys.stdout.flush(); os._exit(0)
os.close(r)
mv = memoryview(x)
for i in range(0, len(x), 1 << 20): os.write(w, mv[i:i + (1 << 20)])
os.close(w); os.wait()
print(hashlib.sha256(x).hexdigest())'
two_equal() { [ "$(grep -Ec '^[0-9a-f]{64}$' "$1")" -eq 2 ] && [ "$(grep -E '^[0-9a-f]{64}$' "$1" | sort -u | wc -l)" -eq 1 ]; }
msg="vm.unprivileged_userfaultfd=0 and no access to /dev/userfaultfd: hetmem cannot manage processes of this user"

echo 0 >$sysctl
[ -n "$old_mode" ] && chmod 600 /dev/userfaultfd

as_nobody "$H" info >"$tmp/out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "^userfaultfd: *unavailable to uid 65534: $msg" "$tmp/out" && grep -q "setfacl" "$tmp/out"; then
	ok "hetmem info as nobody: $(head -c 160 <(grep '^userfaultfd' "$tmp/out"))..."
else
	bad "hetmem info as nobody (exit $rc) does not say it cannot manage this user"
fi

rm -f "$tmp/w/started"
as_nobody "$H" run --dram 32M -- /usr/bin/python3 -c "open('$tmp/w/started', 'w'); $prog" >"$tmp/out" 2>&1
rc=$?
if [ $rc -eq 127 ] && [ ! -e "$tmp/w/started" ] && grep -q "^hetmem run: $msg" "$tmp/out"; then
	ok "hetmem run as nobody refuses: exit 127, the program not started"
else
	bad "hetmem run as nobody: exit $rc, started: $([ -e "$tmp/w/started" ] && echo yes || echo no)"
fi

# root's hetmem run; the program becomes nobody and execs python3
"$H" run --dram 32M --stats="$tmp/stats" -- /usr/bin/python3 -c "import os, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
os.execv('/usr/bin/python3', ['python3', '-c', sys.argv[1]])" "$prog" >"$tmp/out" 2>&1
rc=$?
if [ $rc -eq 0 ] && two_equal "$tmp/out" && [ "$(grep -v 'is emulated in RAM' "$tmp/out" | grep -c '^hetmem:')" -eq 1 ] &&
	grep -q "^hetmem: /usr/bin/python3[.0-9]* (pid [0-9]*, uid 65534) runs unmanaged: $msg" "$tmp/out" &&
	! grep -qi "cannot write\|stats" "$tmp/out" && grep -q "^hetmem: pid [0-9]*," "$tmp/stats"; then
	ok "a program that becomes nobody and execs runs unmanaged, says so in one line; hetmem run reports"
else
	bad "uid change then exec under hetmem run (exit $rc)"
	cat "$tmp/stats" 2>/dev/null | head -5
fi

# managed as nobody: through /dev/userfaultfd, then through the sysctl
for how in dev sysctl; do
	if [ $how = dev ]; then
		[ -n "$old_mode" ] || { echo "     (no /dev/userfaultfd: that case not run)"; continue; }
		chmod 666 /dev/userfaultfd
		want="through /dev/userfaultfd"
	else
		[ -n "$old_mode" ] && chmod 600 /dev/userfaultfd
		echo 1 >$sysctl
		want="through the userfaultfd(2) system call"
	fi
	as_nobody "$H" info >"$tmp/out" 2>&1
	if ! grep -q "^userfaultfd access: *full.*$want" "$tmp/out"; then
		bad "hetmem info as nobody ($how) does not say: $want"
		continue
	fi
	as_nobody "$H" run --dram 32M --stats="$tmp/w/st-$how" -- /usr/bin/python3 -c "$prog" >"$tmp/out" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && two_equal "$tmp/out" && grep -Eq "demoted [1-9][0-9]* pages" "$tmp/w/st-$how" &&
		grep -Eq "promoted [1-9][0-9]* pages" "$tmp/w/st-$how"; then
		ok "as nobody, $want: python3 runs managed and right ($(grep -Eo 'demoted [0-9]+ pages' "$tmp/w/st-$how" | head -n1))"
	else
		bad "as nobody, $want: exit $rc"
		cat "$tmp/w/st-$how" 2>/dev/null | head -8
	fi
done

# still with vm.unprivileged_userfaultfd=1: root's hetmem run, the program
# becomes nobody and execs python3, managed now; its record cannot reuse the
# name of the one root's program made (hetmem.PID is root's): the report has
# both programs, the second managed, and no record is left
"$H" run --dram 32M --stats="$tmp/stats2" -- /usr/bin/python3 -c "import os, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
os.execv('/usr/bin/python3', ['python3', '-c', sys.argv[1]])" "$prog" >"$tmp/out" 2>&1
rc=$?
pids=$(sed -n 's/^hetmem: pid \([0-9]*\),.*/\1/p' "$tmp/stats2" | sort -u)
if [ $rc -eq 0 ] && two_equal "$tmp/out" && ! grep -v 'is emulated in RAM' "$tmp/out" | grep -q "^hetmem" &&
	grep -q "exec'd the next program of pid" "$tmp/stats2" &&
	grep -A1 "^hetmem: pid [0-9]*, .*: python3 -c" "$tmp/stats2" | grep -q "^  exited with status 0" &&
	grep -Eq "^  demoted [1-9][0-9]* pages" "$tmp/stats2" &&
	! ls /dev/shm/hetmem.$pids /dev/shm/hetmem.$pids.* >/dev/null 2>&1; then
	ok "a program that becomes nobody and execs, managed: reported after the one before it, no record left"
else
	bad "uid change then exec, managed (exit $rc)"
	cat "$tmp/stats2" 2>/dev/null | grep "^hetmem\|^  [a-z]"
	ls -l /dev/shm
fi

echo "$((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
