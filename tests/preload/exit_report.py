#!/usr/bin/python3
"""hetmem run reports however the program ends, for its whole process tree,
and cleans up after it (like perf stat).

Each case runs a real program (Debian's python3, dash, bash) under
`hetmem run --dram 32M --stats=FILE` and checks:
  - the report is written after exit, _exit (dash's `exit`, os._exit), a
    segfault, and death by SIGINT (to the process group, as Ctrl-C does),
    SIGTERM (sent to hetmem run: passed on), SIGKILL (sent to the program:
    its last periodic update, "N ms before it ended");
  - hetmem run ends as the program did: its exit status, or the same signal;
  - through a shell wrapper the report names python3 as well as bash;
  - no /dev/shm/hetmem.PID of any process of the run is left, and a stale
    record of a dead pid is removed;
  - HETMEM_STATS without hetmem run (preload only) still reports.
usage: exit_report.py HETMEM
"""
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

hetmem = os.path.abspath(sys.argv[1])
preload = os.path.join(os.path.dirname(hetmem), "libhetmem-preload.so")
PY = "/usr/bin/python3"
tmp = tempfile.mkdtemp()
stats = os.path.join(tmp, "stats.txt")
fails = 0
n = 0
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the segfault case: no core files

# python3 that fills 64 MiB (twice the budget: pages go to the device),
# says "ready PID", then does what @tail says
def prog(tail):
    return ("import os, sys, time\n"
            "x = bytearray(64 << 20)\n"
            "for i in range(0, len(x), 4096): x[i] = 1\n"
            "print('ready', os.getpid(), flush=True)\n" + tail)


def ok(name):
    global n
    n += 1
    print("ok   " + name)


def bad(name, text=""):
    global n, fails
    n += 1
    fails += 1
    print("FAIL " + name)
    if text:
        print(text)


def report():
    try:
        return open(stats).read()
    except OSError:
        return ""


def pids_of(text):
    return [int(p) for p in re.findall(r"^hetmem: pid (\d+),", text, re.M)]


def start(argv, **kw):
    if os.path.exists(stats):
        os.unlink(stats)
    return subprocess.Popen([hetmem, "run", "--dram", "32M", "--stats=" + stats, "--"] + argv,
                            stdout=subprocess.PIPE, text=True, **kw)


def ready(p):
    line = p.stdout.readline()
    m = re.match(r"ready (\d+)", line)
    if not m:
        return None
    time.sleep(0.6)  # at least one periodic update after the fill
    return int(m.group(1))


def check(name, p, want_rc, want_prog, want_how):
    """@p has ended: its status (want_rc: exit code, or -signal), and the
    report's block of @want_prog says @want_how; no record is left."""
    rc = p.wait(timeout=60)
    p.stdout.close()
    text = report()
    if rc != want_rc:
        bad("%s: hetmem run ended with %s, the program with %s" % (name, rc, want_rc), text)
        return
    m = re.search(r"^hetmem: pid (\d+),[^\n]*: [^\n]*%s[^\n]*\n  ([^\n]*)\n(.*?)(?=^hetmem: pid|\Z)" % want_prog,
                  text, re.M | re.S)
    if not m:
        bad("%s: no block for /%s/ in the report" % (name, want_prog), text)
        return
    if not re.search(want_how, m.group(2)):
        bad("%s: the block says '%s', expected /%s/" % (name, m.group(2), want_how), text)
        return
    if not re.search(r"faults [1-9]", m.group(3)):
        bad("%s: the block has no faults counted" % name, text)
        return
    left = [q for q in pids_of(text) if os.path.exists("/dev/shm/hetmem.%d" % q)]
    if left:
        bad("%s: records left behind: %s" % (name, left), text)
        return
    ok("%s (status %s): %s" % (name, rc, m.group(2)))


# a plain exit, and an exit code passed through
p = start([PY, "-c", prog("sys.exit(3)")])
ready(p)
check("exit 3", p, 3, "python3", r"^exited with status 3$")

# _exit: no destructor runs, the last periodic update is reported
p = start([PY, "-c", prog("os._exit(5)")])
ready(p)
check("os._exit(5)", p, 5, "python3", r"exited without a final update.*last update, \d+ ms before it ended")

# dash's exit is _exit
p = start(["/bin/sh", "-c", "exit 4"])
rc = p.wait(timeout=60)
p.stdout.close()
if rc == 4 and re.search(r"^hetmem: pid \d+,.*: /bin/sh -c exit 4\n  exited without a final update", report(), re.M):
    ok("sh -c 'exit 4' (dash, _exit): status 4, reported")
else:
    bad("sh -c 'exit 4': status %s" % rc, report())

# a segfault: hetmem run dies of SIGSEGV too
p = start([PY, "-c", prog("import ctypes; ctypes.string_at(0)")])
ready(p)
check("segfault", p, -signal.SIGSEGV, "python3", r"^killed by SIGSEGV.*last update, \d+ ms before it ended")

# SIGTERM sent to hetmem run is passed on; a shell that kills itself
p = start([PY, "-c", prog("time.sleep(30)")])
ready(p)
p.send_signal(signal.SIGTERM)
check("SIGTERM to hetmem run", p, -signal.SIGTERM, "python3", r"^killed by SIGTERM")

p = start(["/bin/sh", "-c", "kill -TERM $$"])
rc = p.wait(timeout=60)
p.stdout.close()
if rc == -signal.SIGTERM and "killed by SIGTERM" in report():
    ok("sh -c 'kill -TERM $$': hetmem run dies of SIGTERM, as the program did")
else:
    bad("sh -c 'kill -TERM $$': status %s" % rc, report())

# SIGKILL to the program: its last periodic update
p = start([PY, "-c", prog("time.sleep(30)")])
pid = ready(p)
os.kill(pid, signal.SIGKILL)
check("SIGKILL to the program", p, -signal.SIGKILL, "python3",
      r"^killed by SIGKILL; no final update: counters of its last update, \d+ ms before it ended")

# Ctrl-C: SIGINT to the whole process group; python3 dies of it
p = start([PY, "-c", prog("time.sleep(30)")], start_new_session=True)
ready(p)
os.killpg(p.pid, signal.SIGINT)
check("SIGINT to the process group (Ctrl-C)", p, -signal.SIGINT, "python3", r"^killed by SIGINT")

# through a shell wrapper: python3 as well as bash, and the totals
p = start(["/bin/bash", "-c", "%s -c \"$0\"; true" % PY, prog("pass")])
ready(p)
check("bash -c 'python3 ...; true': python3's block", p, 0, "(?<=: )/usr/bin/python3 -c", r"^exited$")
text = report()
if re.search(r"^hetmem: pid \d+,.*: /bin/bash -c", text, re.M) and \
        re.search(r"^  exited with status 0$", text, re.M) and \
        re.search(r"^hetmem: total of the \d+ processes above$", text, re.M):
    ok("bash -c 'python3 ...; true': bash's block (the program) and the totals")
else:
    bad("bash -c 'python3 ...; true': bash's block or totals", text)

# hetmem run killed outright takes the program with it (as when they were
# one process), rather than leaving it running unreported
p = start([PY, "-c", prog("time.sleep(30)")])
pid = ready(p)
p.kill()
p.wait(timeout=60)
p.stdout.close()
gone = False
for _ in range(100):
    try:
        with open("/proc/%d/stat" % pid) as f:
            gone = f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        gone = True
    if gone:
        break
    time.sleep(0.05)
if gone:
    ok("SIGKILL to hetmem run: the program is killed too")
else:
    os.kill(pid, signal.SIGKILL)
    bad("SIGKILL to hetmem run: the program %d kept running" % pid)

# a stale record of a dead pid goes
q = subprocess.Popen(["/bin/true"])
q.wait()
stale = "/dev/shm/hetmem.%d" % q.pid
open(stale, "w").write("stale")
p = start(["/bin/true"])
p.wait(timeout=60)
p.stdout.close()
if os.path.exists(stale):
    os.unlink(stale)
    bad("the stale record %s was left" % stale)
else:
    ok("hetmem run removed the stale record of dead pid %d" % q.pid)

# preload only: HETMEM_STATS still reports at exit
f = os.path.join(tmp, "preload.txt")
env = dict(os.environ, LD_PRELOAD=preload, HETMEM_DRAM="32M", HETMEM_STATS=f)
subprocess.run([PY, "-c", "x = bytearray(8 << 20)"], env=env, timeout=60)
try:
    t = open(f).read()
except OSError:
    t = ""
if re.search(r"^hetmem: pid \d+, policy recency", t, re.M) and re.search(r"faults [1-9]", t):
    ok("HETMEM_STATS without hetmem run reports at exit")
else:
    bad("HETMEM_STATS without hetmem run", t)

print("%d passed, %d failed" % (n - fails, fails))
sys.exit(1 if fails else 0)
