#!/bin/sh
# setpriv.sh HETMEM — util-linux's setpriv dropping root for nobody under
# `hetmem run`, as daemons and sandbox tools do: it sets keep-caps, changes
# its gid and uid, gives itself capabilities back (capset, in its own thread
# only), then calls setgroups (--clear-groups) or initgroups (--init-groups)
# and execs a Debian python3 that allocates and re-reads more than the
# budget.  glibc runs each set*id call in every thread and aborts the process
# when the outcome differs between them, so hetmem's threads must have
# setpriv's capabilities at each call.  The python3 gets CAP_SYS_PTRACE as an
# ambient capability so that its own hetmem has a full userfaultfd as nobody.
# Twice per option: HETMEM_DEMOTE=move and wp.  Needs root.
set -u
. "$(dirname "$0")/../lib.sh"
HM=$1
PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || hm_skip "needs root (setpriv --reuid)"
command -v setpriv >/dev/null || hm_skip "no setpriv (util-linux)"
[ -x "$PY" ] || hm_skip "no $PY (scripts/install-deps.sh)"
getent passwd nobody >/dev/null || hm_skip "no user nobody"
grp=$(id -gn nobody)
PROG='
import os, sys
chunks = [bytes([j % 251]) * (1 << 20) for j in range(96)]
ok = all(c == bytes([j % 251]) * (1 << 20) for j, c in enumerate(chunks))
print("uid", os.getuid(), "gid", os.getgid(), "groups", os.getgroups(), "data", "ok" if ok else "CORRUPT")
sys.exit(0 if ok and os.getuid() == 65534 else 1)
'
fail=0
for groups in --clear-groups --init-groups; do
	for mode in move wp; do
		out=$(cd / && HETMEM_DEMOTE=$mode timeout 60 "$HM" run --dram 32M --tier emu:1G,lazy -- \
			setpriv --reuid=nobody --regid="$grp" $groups --inh-caps=+sys_ptrace \
			--ambient-caps=+sys_ptrace "$PY" -c "$PROG" 2>&1)
		rc=$?
		echo "$groups $mode: $out"
		if [ $rc -ne 0 ]; then
			echo "FAIL ($groups, $mode): exit status $rc (134: aborted)"
			fail=1
		fi
	done
done
exit $fail
