#!/bin/sh
# wrappers.sh HETMEM — programs whose first act is fork, the wrappers people
# put in front of a command: GNU time, coreutils timeout, xargs, each under
# `hetmem run` running a Debian python3 that allocates and re-reads more than
# the budget.  Before the fix their fork handler waited for ever on the region
# table (a mimalloc segment mapped while the table was read-locked); every
# run here must end in time, exit 0, and the data must read back.
set -u
. "$(dirname "$0")/../lib.sh"
HM=$1
PY=/usr/bin/python3
[ -x "$PY" ] || hm_skip "no $PY (scripts/install-deps.sh)"
[ -x /usr/bin/time ] || hm_skip "no /usr/bin/time (scripts/install-deps.sh installs time)"
PROG='
import sys
chunks = [bytes([j % 251]) * (1 << 20) for j in range(96)]
ok = all(c == bytes([j % 251]) * (1 << 20) for j, c in enumerate(chunks))
print("data", "ok" if ok else "CORRUPT")
sys.exit(0 if ok else 1)
'
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '%s' "$PROG" > "$dir/prog.py"
echo "$dir/prog.py" > "$dir/list"
fail=0
run() {
	name=$1
	shift
	for mode in move wp; do
		out=$(HETMEM_DEMOTE=$mode timeout 60 "$HM" run --dram 32M --tier emu:1G,lazy -- "$@" 2>&1)
		rc=$?
		echo "$name $mode: rc $rc: $(echo "$out" | tr '\n' ' ')"
		if [ $rc -ne 0 ] || ! echo "$out" | grep -q "data ok"; then
			echo "FAIL ($name, $mode): exit status $rc (124: hung, killed by timeout)"
			fail=1
		fi
	done
}
run time /usr/bin/time -f "time: exit %x, max RSS %M KiB" "$PY" -c "$PROG"
run timeout timeout 50 "$PY" -c "$PROG"
run xargs xargs -a "$dir/list" "$PY"
exit $fail
