"""hmprog.py — shared helpers of the real-program tests (tests/programs/).

Each test runs a real program twice, once as it is and once under
`hetmem run --dram BUDGET --stats=FILE` with a budget well below the
program's footprint, and checks that
  - both runs give exactly the same result,
  - pages really went to the device and came back (the `demoted N pages`
    and `promoted N pages` lines of the stats are non-zero),
  - (where asked) at least 90% of the program's anonymous memory was managed,
    from live `hetmem stat PID` samples taken while it runs: the sample with
    the largest footprint (RssAnon + bytes on devices) counts.

Run by CTest as `/usr/bin/python3 test_X.py HETMEM_BINARY`.  A program that is
not installed makes the test exit 77 (CTest: skipped) with the reason.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
SHARE_TARGET = 90.0

_procs = []


def track(proc):
    """Kill @proc at exit if it still runs (a failed check must not leave a
    server behind)."""
    _procs.append(proc)
    return proc


def _kill_tracked():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_kill_tracked)


def _give_up(sig, frame):
    # before CTest's TIMEOUT (240 s) kills this script without running the
    # atexit handler, and on SIGTERM: fail, and stop the servers
    print("FAIL: %s" % ("no result after %d s (a hang?)" % WATCHDOG if sig == signal.SIGALRM
                        else "terminated"), flush=True)
    sys.exit(1)


WATCHDOG = int(os.environ.get("HM_PROG_WATCHDOG", "220"))
signal.signal(signal.SIGALRM, _give_up)
signal.signal(signal.SIGTERM, _give_up)
signal.alarm(WATCHDOG)


def log(*a):
    print(*a, flush=True)


def skip(why):
    log("SKIP:", why)
    sys.exit(SKIP)


def fail(why):
    log("FAIL:", why)
    sys.exit(1)


def hetmem_bin():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        fail("usage: %s HETMEM_BINARY (the built `hetmem` command)" % sys.argv[0])
    return os.path.abspath(sys.argv[1])


def need(*progs):
    """Full paths of @progs, or skip naming the first one missing."""
    out = []
    for p in progs:
        path = shutil.which(p, path="/usr/sbin:/usr/bin:/sbin:/bin")
        if not path:
            skip("%s is not installed (scripts/install-deps.sh installs it)" % p)
        out.append(path)
    return out


def check_uffd(hetmem):
    """Skip when hetmem cannot start here (no userfaultfd, say)."""
    r = subprocess.run([hetmem, "run", "--dram", "16M", "--", "/bin/true"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        skip("hetmem run cannot start a program here: " + r.stdout.strip())


def tmpdir(name):
    return tempfile.mkdtemp(prefix="hetmem-%s-" % name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            fail("the server exited with %d before it listened on %d" % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    fail("nothing listens on port %d after %d s" % (port, timeout))


def hetmem_cmd(hetmem, budget, stats, argv, extra=()):
    return [hetmem, "run", "--dram", budget, "--stats=" + stats, *extra, "--", *argv]


# ---------------------------------------------------------------------------
# Live samples of the managed share (hetmem stat PID)

_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _bytes(num, unit):
    return float(num) * _UNITS[unit]


def stat_once(hetmem, pid):
    """(share %, RssAnon bytes, device bytes) from `hetmem stat PID`, or None."""
    r = subprocess.run([hetmem, "stat", str(pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    if r.returncode != 0:
        return None
    m = re.search(r"in RAM, ([\d.]+) (\w+) on devices", r.stdout)
    a = re.search(r"anonymous memory: ([\d.]+) (\w+) resident \(RssAnon\); ([\d.]+)% of it", r.stdout)
    if not m or not a:
        return None
    return float(a.group(3)), _bytes(a.group(1), a.group(2)), _bytes(m.group(1), m.group(2))


class Sampler:
    """Samples `hetmem stat PID` every @period s in a thread; .peak() is the
    sample with the largest footprint (RssAnon + device bytes)."""

    def __init__(self, hetmem, pid, period=0.3):
        self.hetmem, self.pid, self.period = hetmem, pid, period
        self.samples = []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_ev.is_set():
            s = stat_once(self.hetmem, self.pid)
            if s:
                self.samples.append(s)
            self.stop_ev.wait(self.period)

    def sample_now(self):
        s = stat_once(self.hetmem, self.pid)
        if s:
            self.samples.append(s)

    def stop(self):
        self.stop_ev.set()
        self.t.join()

    def peak(self):
        if not self.samples:
            return None
        return max(self.samples, key=lambda s: s[1] + s[2])


def check_share(sampler, name, target=SHARE_TARGET):
    p = sampler.peak()
    if p is None:
        fail("%s: no `hetmem stat` sample of the running program" % name)
    share, rss, dev = p
    log("%s: managed share %.1f%% at peak footprint (RssAnon %.1f MiB + %.1f MiB on the device), "
        "%d samples" % (name, share, rss / 2**20, dev / 2**20, len(sampler.samples)))
    if share < target:
        fail("%s: only %.1f%% of the anonymous memory was managed (target %.0f%%)" % (name, share, target))
    return share


# ---------------------------------------------------------------------------
# The exit-time stats (--stats=FILE)

def read_stats(path):
    try:
        text = open(path).read()
    except OSError as e:
        fail("no stats file %s: %s" % (path, e))
    d = {}
    for key, pat in (("demoted", r"demoted (\d+) pages"), ("promoted", r"promoted (\d+) pages"),
                     ("faults", r"faults (\d+)"), ("poisoned", r"poisoned (\d+)"),
                     ("failures", r"failures (\d+)"), ("maps_managed", r"preload_maps_managed (\d+)"),
                     ("maps_fallback", r"preload_maps_fallback (\d+)")):
        m = re.search(pat, text)
        d[key] = int(m.group(1)) if m else None
    d["text"] = text
    return d


def check_moved(stats_list, name):
    """Pages went to the device and came back, summed over @stats_list (one
    stats dict per process run under hetmem)."""
    dem = sum(s["demoted"] or 0 for s in stats_list)
    pro = sum(s["promoted"] or 0 for s in stats_list)
    poi = sum(s["poisoned"] or 0 for s in stats_list)
    log("%s: demoted %d pages, promoted %d pages, poisoned %d" % (name, dem, pro, poi))
    if not dem or not pro:
        for s in stats_list:
            log(s["text"])
        fail("%s: pages did not go to the device and come back (demoted %d, promoted %d)" % (name, dem, pro))
    if poi:
        fail("%s: %d pages poisoned" % (name, poi))
    return dem, pro


def how_it_ended(proc):
    """After stop(@proc): its exit status or signal, and the end of its
    stderr if that was a pipe (a crash under hetmem says why there)."""
    rc = proc.returncode
    st = "killed by signal %d" % -rc if rc is not None and rc < 0 else "exit status %s" % rc
    tail = b""
    if proc.stderr:
        try:
            tail = proc.stderr.read()[-2000:]
        except (OSError, ValueError):
            pass
    return "%s; stderr: %s" % (st, tail.decode(errors="replace").strip() or "(empty)")


def stop(proc, timeout=20):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------
# A minimal Redis (RESP2) client: Debian's python3 has no redis module

class Resp:
    def __init__(self, port, timeout=60):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb", buffering=1 << 20)

    @staticmethod
    def enc(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = b"%d" % a
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def reply(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError("redis error: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("bad RESP line %r" % line)

    def pipeline(self, cmds):
        self.s.sendall(b"".join(self.enc(*c) for c in cmds))
        return [self.reply() for _ in cmds]

    def cmd(self, *args):
        return self.pipeline([args])[0]

    def close(self):
        self.f.close()
        self.s.close()


def batch_test(name, argv, stdin_data, budget, share=True, timeout=300):
    """Run @argv (a batch program reading @stdin_data) plainly and under
    hetmem; its output must be the same; pages must have moved; the share of
    managed anonymous memory must meet the target (@share)."""
    hetmem = hetmem_bin()
    check_uffd(hetmem)
    d = tmpdir(name)
    stats = os.path.join(d, "stats.txt")
    outs = []
    sampler = None
    for under in (False, True):
        cmd = hetmem_cmd(hetmem, budget, stats, argv) if under else argv
        t0 = time.time()
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if under:
            sampler = Sampler(hetmem, p.pid, period=0.2)
        try:
            out, err = p.communicate(stdin_data, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            fail("%s%s: did not finish in %d s" % (name, " under hetmem" if under else "", timeout))
        if sampler and under:
            sampler.stop()
        what = "hetmem" if under else "plain"
        log("%s %s: exit %d in %.1f s; %d bytes of output" % (name, what, p.returncode, time.time() - t0, len(out)))
        if p.returncode != 0:
            log(err.decode(errors="replace")[-2000:])
            fail("%s %s: exit status %d" % (name, what, p.returncode))
        outs.append(out)
    if outs[0] != outs[1]:
        log("plain:\n" + outs[0].decode(errors="replace")[-1500:])
        log("hetmem:\n" + outs[1].decode(errors="replace")[-1500:])
        fail("%s: the output under hetmem differs" % name)
    log("%s: output (the same in both runs):\n%s" % (name, outs[0].decode(errors="replace")[-1500:]))
    check_moved([read_stats(stats)], name)
    if share:
        check_share(sampler, name)
    subprocess.run(["rm", "-rf", d])
    log("PASS: %s gives the same result under hetmem --dram %s" % (name, budget))
