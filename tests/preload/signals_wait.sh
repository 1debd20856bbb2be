#!/bin/sh
# signals_wait.sh HETMEM — a Debian python3 that blocks SIGTERM in all its
# threads and waits for it with signal.sigwait, run under `hetmem run` with
# more data than the budget: a plain `kill -TERM PID` from outside must reach
# its sigwait (not kill it), and it must exit 0 after checking its data.  The
# signal comes while it is busy checking its data, before it calls sigwait
# (sigwait itself unblocks the signals it waits for, so a signal sent during
# the wait reaches it either way).
# Twice: HETMEM_DEMOTE=move and wp.
set -u
. "$(dirname "$0")/../lib.sh"
HM=$1
PY=/usr/bin/python3
[ -x "$PY" ] || hm_skip "no $PY (scripts/install-deps.sh)"
dir=$(mktemp -d /tmp/hetmem-sigwait.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/prog.py" <<'PYEOF'
import os, signal, sys, threading
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
stop = False
def work(chunks):  # a second thread of the program (it inherits the mask)
    while not stop:
        sum(c[0] for c in chunks)
chunks = [bytes([j % 251]) * (1 << 20) for j in range(96)]   # 96 MiB > 32 MiB budget
t = threading.Thread(target=work, args=(chunks,))
t.start()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
def check():
    return all(c == bytes([j % 251]) * (1 << 20) for j, c in enumerate(chunks))
sent = sys.argv[1] + ".sent"
for _ in range(200):  # busy until the SIGTERM is on its way (at most ~20 s)
    if os.path.exists(sent):
        break
    check()
sig = signal.sigwait({signal.SIGTERM})
stop = True
t.join()
ok = check()
print("sigwait got", signal.Signals(sig).name, "data", "ok" if ok else "CORRUPT", flush=True)
sys.exit(0 if ok and sig == signal.SIGTERM else 1)
PYEOF
fail=0
for mode in move wp; do
	rm -f "$dir/pid" "$dir/pid.sent"
	HETMEM_DEMOTE=$mode "$HM" run --dram 32M --tier emu:1G,lazy -- "$PY" "$dir/prog.py" "$dir/pid" &
	bg=$!
	i=0
	while [ ! -s "$dir/pid" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	if [ ! -s "$dir/pid" ]; then
		echo "FAIL ($mode): the program did not start"
		kill -KILL $bg 2>/dev/null; wait $bg; fail=1; continue
	fi
	sleep 0.5 # the reclaimer has demoted part of the data by now
	kill -TERM "$(cat "$dir/pid")"
	touch "$dir/pid.sent"
	i=0
	while kill -0 $bg 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
	if kill -0 $bg 2>/dev/null; then
		echo "FAIL ($mode): the program did not end within 20 s of its SIGTERM"
		kill -KILL "$(cat "$dir/pid")" $bg 2>/dev/null
	fi
	wait $bg
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL ($mode): exit status $rc (143: killed by the SIGTERM it was waiting for)"
		fail=1
	else
		echo "ok ($mode)"
	fi
done
exit $fail
