"""test_redis.py — redis-server under a RAM budget well below its dataset.

Each run (plain, then under `hetmem run --dram 24M`): start redis-server,
load NKEYS unique keys with checkable values (about 63 MiB of server memory),
churn a second database with redis-benchmark, check every key of the first,
BGSAVE (a fork: the child writes the RDB from the parent's memory), stop,
restart from the RDB and check every key again.  The two runs must print the
same result line; under hetmem the stats must show pages demoted and
promoted, and at least 90% of the server's anonymous memory managed.
"""
import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hmprog as H

NKEYS = int(os.environ.get("HM_REDIS_KEYS", "48000"))
VLEN = 1200
BUDGET = os.environ.get("HM_REDIS_BUDGET", "24M")
BATCH = 500


def key(i):
    return b"key:%08d" % i


def value(i):
    seed = hashlib.sha256(b"%d" % i).hexdigest().encode()  # 64 bytes, unique per key
    return (seed * (VLEN // 64 + 1))[:VLEN]


def load(c):
    for b in range(0, NKEYS, BATCH):
        r = c.pipeline([("SET", key(i), value(i)) for i in range(b, min(NKEYS, b + BATCH))])
        if any(x != "OK" for x in r):
            H.fail("a SET did not answer OK")


def check_all(c, what):
    """Every key read back and compared; the result as a printable line."""
    bad = 0
    h = hashlib.sha256()
    for b in range(0, NKEYS, BATCH):
        ids = range(b, min(NKEYS, b + BATCH))
        vals = c.cmd("MGET", *[key(i) for i in ids])
        for i, v in zip(ids, vals):
            if v != value(i):
                if bad < 5:
                    H.log("%s: key %s: wrong value (%r...)" % (what, key(i).decode(), (v or b"")[:20]))
                bad += 1
            h.update(v or b"<nil>")
    n = c.cmd("DBSIZE")
    if bad or n != NKEYS:
        H.fail("%s: %d of %d keys wrong, DBSIZE %d" % (what, bad, NKEYS, n))
    return "%s: %d keys ok, dbsize %d, sha256 %s" % (what, NKEYS, n, h.hexdigest()[:16])


def server(argv_prefix, redis_server, port, d):
    argv = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--dbfilename", "dump.rdb",
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", os.path.join(d, "redis.log"),
            "--protected-mode", "no"]
    p = H.track(subprocess.Popen(argv_prefix(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    H.wait_port(port, p)
    return p


def shutdown(c, p, what):
    try:
        c.cmd("SHUTDOWN", "NOSAVE")
    except (ConnectionError, OSError):
        pass
    c.close()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        H.stop(p)
        H.fail("%s: redis-server did not stop" % what)
    err = p.stderr.read().decode(errors="replace")
    if err.strip():
        H.log(err.strip())


def one_run(hetmem, name, under):
    redis_server, bench = H.need("redis-server", "redis-benchmark")
    d = H.tmpdir("redis-" + name)
    port = H.free_port()
    stats = [os.path.join(d, "stats1.txt"), os.path.join(d, "stats2.txt")]
    wrap = [(lambda a, s=s: H.hetmem_cmd(hetmem, BUDGET, s, a)) if under else (lambda a: a) for s in stats]
    t0 = time.time()
    p = server(wrap[0], redis_server, port, d)
    sampler = H.Sampler(hetmem, p.pid) if under else None
    c = H.Resp(port)
    load(c)
    H.log("%s: loaded %d keys in %.1f s; used_memory %s" % (
        name, NKEYS, time.time() - t0,
        [l for l in c.cmd("INFO", "memory").decode().split("\r\n") if l.startswith("used_memory_human")]))
    # churn database 1 with redis-benchmark while database 0 stays put
    b = subprocess.run([bench, "-p", str(port), "--dbnum", "1", "-t", "set,get,lpush,lpop", "-n", "20000",
                        "-r", "20000", "-d", "512", "-P", "16", "-q"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    if b.returncode != 0:
        H.fail("%s: redis-benchmark failed: %s" % (name, b.stdout[-500:]))
    if sampler:
        sampler.sample_now()
    H.log("%s: redis-benchmark churn done at %.1f s" % (name, time.time() - t0))
    res = [check_all(c, "after load")]
    H.log("%s: first check done at %.1f s" % (name, time.time() - t0))
    if c.cmd("SELECT", 1) != "OK" or c.cmd("FLUSHDB") != "OK" or c.cmd("SELECT", 0) != "OK":
        H.fail("cannot flush database 1")
    # a background save forks; the child writes the RDB from its copy
    if c.cmd("BGSAVE") not in ("Background saving started",):
        H.fail("BGSAVE refused")
    end = time.time() + 60
    while True:
        info = c.cmd("INFO", "persistence").decode()
        if "rdb_bgsave_in_progress:0" in info:
            break
        if time.time() > end:
            H.fail("%s: BGSAVE did not finish in 60 s" % name)
        time.sleep(0.1)
    if "rdb_last_bgsave_status:ok" not in info:
        H.fail("%s: BGSAVE failed: %s" % (name, info))
    H.log("%s: BGSAVE done at %.1f s" % (name, time.time() - t0))
    res.append(check_all(c, "after bgsave"))
    if sampler:
        sampler.stop()
    shutdown(c, p, name)
    # restart from the RDB the child wrote
    p = server(wrap[1], redis_server, port, d)
    c = H.Resp(port)
    end = time.time() + 60
    while True:  # PING answers -LOADING until the RDB is in
        try:
            if c.cmd("PING") == "PONG" and "loading:0" in c.cmd("INFO", "persistence").decode():
                break
        except RuntimeError as e:
            if "LOADING" not in str(e):
                raise
        if time.time() > end:
            H.fail("%s: the RDB did not load in 60 s" % name)
        time.sleep(0.1)
    H.log("%s: restarted and loaded at %.1f s" % (name, time.time() - t0))
    res.append(check_all(c, "after restart"))
    shutdown(c, p, name)
    H.log("%s: %.1f s" % (name, time.time() - t0))
    for line in res:
        H.log("%s: %s" % (name, line))
    st = [H.read_stats(s) for s in stats] if under else []
    return res, st, sampler, d


def main():
    hetmem = H.hetmem_bin()
    H.need("redis-server", "redis-benchmark")
    H.check_uffd(hetmem)
    plain, _, _, d1 = one_run(hetmem, "plain", False)
    ours, st, sampler, d2 = one_run(hetmem, "hetmem", True)
    if plain != ours:
        H.fail("results differ:\n  plain:  %s\n  hetmem: %s" % (plain, ours))
    H.check_moved(st, "redis (both servers)")
    H.check_share(sampler, "redis")
    for d in (d1, d2):
        subprocess.run(["rm", "-rf", d])
    H.log("PASS: redis gives the same result under hetmem --dram %s" % BUDGET)


if __name__ == "__main__":
    main()
