#!/usr/bin/python3
"""bench/pages.py DIR [--mib N]: page corpora for bench_compress, taken from
real programs, written to DIR as NAME.pages (whole 4 KiB pages, back to back).

  redis.pages   the anonymous memory of a redis-server holding realistic
                records (user profiles as hashes, JSON strings, counters,
                session tokens), read from /proc/PID/mem
  sqlite.pages  the file of an SQLite database (page size 4096) with a few
                tables and indexes of such records, as SQLite wrote it
  python.pages  the anonymous memory of a python3 process holding a heap of
                dicts, lists, strings and floats

Only pages present in RAM are taken (/proc/PID/pagemap, which needs root to
show frame numbers but shows presence to anyone), so a heap's untouched
reserve does not pass for zero pages.  Each corpus is cut at --mib MiB.
The records are made by a seeded generator, so two runs give similar
(not byte-equal: the programs' own layouts vary) corpora."""
import os, random, shutil, socket, subprocess, sys, tempfile, time

PAGE = 4096
FIRST = ["anna", "bob", "chen", "dmitri", "eva", "farah", "goran", "hiro", "ines", "jamal",
         "kofi", "lena", "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tariq"]
LAST = ["smith", "garcia", "muller", "rossi", "kowalski", "nguyen", "silva", "ivanov",
        "tanaka", "okafor", "jensen", "dubois", "novak", "haddad", "kim", "lopez"]
CITY = ["berlin", "lagos", "lima", "osaka", "porto", "quito", "riga", "seoul", "tunis", "york"]
WORDS = ("the of and to in is you that it he was for on are as with his they at be this have "
         "from or one had by word but not what all were we when your can said there use an each "
         "which she do how their if will up other about out many then them these so some her "
         "would make like him into time has look two more write go see number no way could "
         "people my than first water been call who oil its now find long down day did get come "
         "made may part order payment shipped delivered refund account session token").split()


def record(rnd, i):
    f, l = rnd.choice(FIRST), rnd.choice(LAST)
    return {
        "id": i, "name": f"{f.title()} {l.title()}", "email": f"{f}.{l}{rnd.randint(1, 999)}@example.com",
        "city": rnd.choice(CITY), "age": rnd.randint(18, 90), "score": round(rnd.random() * 1000, 3),
        "bio": " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(5, 40))),
        "token": "%032x" % rnd.getrandbits(128),
    }


def present_pages(pid, lo, hi):
    """Offsets of the pages of [lo, hi) present in RAM."""
    out = []
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        pm.seek(lo // PAGE * 8)
        raw = pm.read((hi - lo) // PAGE * 8)
    for k in range(len(raw) // 8):
        e = int.from_bytes(raw[8 * k:8 * k + 8], "little")
        if e >> 63 & 1:
            out.append(lo + k * PAGE)
    return out


def dump_anon(pid, path, limit):
    """Write the present pages of @pid's private anonymous writable mappings."""
    n = 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem, open(path, "wb") as o:
        for line in maps:
            parts = line.split()
            rng, perms = parts[0], parts[1]
            name = parts[5] if len(parts) > 5 else ""
            if not perms.startswith("rw") or perms[3] != "p" or (name and name != "[heap]"):
                continue
            lo, hi = (int(x, 16) for x in rng.split("-"))
            for a in present_pages(pid, lo, hi):
                try:
                    mem.seek(a)
                    b = mem.read(PAGE)
                except OSError:
                    continue
                if len(b) == PAGE:
                    o.write(b)
                    n += 1
                    if n * PAGE >= limit:
                        return n
    return n


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def corpus_redis(d, limit):
    exe = shutil.which("redis-server")
    if not exe:
        return "skipped: redis-server not installed"
    port = free_port()
    srv = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no",
                            "--bind", "127.0.0.1", "--dir", d], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                c = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        else:
            return "failed: redis-server did not start"
        rnd = random.Random(17)
        import json
        buf, nrec = [], max(20000, limit // 380)
        for i in range(nrec):
            r = record(rnd, i)
            kind = i % 4
            if kind == 0:
                args = ["HSET", f"user:{i}"]
                for k, v in r.items():
                    args += [k, v]
                buf.append(resp(*args))
            elif kind == 1:
                buf.append(resp("SET", f"doc:{i}", json.dumps(r)))
            elif kind == 2:
                buf.append(resp("SET", f"session:{r['token']}", f"{i}:{r['email']}"))
            else:
                buf.append(resp("INCRBY", f"counter:{r['city']}:{i % 5000}", r["age"]))
            if len(buf) >= 1000:
                c.sendall(b"".join(buf))
                buf = []
        buf.append(resp("PING"))
        c.sendall(b"".join(buf))
        c.settimeout(60)
        got = b""
        while not got.endswith(b"+PONG\r\n"):
            chunk = c.recv(1 << 20)
            if not chunk:
                return "failed: redis-server closed the connection"
            got += chunk
        c.close()
        n = dump_anon(srv.pid, os.path.join(d, "redis.pages"), limit)
        return f"{n} pages from redis-server ({nrec} records)"
    finally:
        srv.terminate()
        srv.wait()


def corpus_sqlite(d, limit):
    import sqlite3
    path = os.path.join(d, "corpus.db")
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA page_size=4096")
    db.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT, city TEXT, age INT, score REAL, bio TEXT, token TEXT)")
    db.execute("CREATE TABLE orders(id INTEGER PRIMARY KEY, user INT, amount REAL, status TEXT, note TEXT)")
    rnd = random.Random(23)
    i = 0
    while os.path.getsize(path) < limit * 0.9:
        rows = [record(rnd, i + k) for k in range(2000)]
        db.executemany("INSERT INTO users VALUES(:id,:name,:email,:city,:age,:score,:bio,:token)", rows)
        db.executemany("INSERT INTO orders(user, amount, status, note) VALUES(?,?,?,?)",
                       [(r["id"], round(rnd.random() * 500, 2), rnd.choice(["new", "paid", "shipped", "refunded"]),
                         " ".join(rnd.choice(WORDS) for _ in range(6))) for r in rows])
        db.commit()
        i += 2000
        if i == 2000:
            db.execute("CREATE INDEX users_email ON users(email)")
            db.execute("CREATE INDEX orders_user ON orders(user, status)")
    db.close()
    n = min(os.path.getsize(path), limit) // PAGE
    with open(path, "rb") as f, open(os.path.join(d, "sqlite.pages"), "wb") as o:
        o.write(f.read(n * PAGE))
    os.unlink(path)
    return f"{n} pages of an SQLite database ({i} users)"


PY_CHILD = r"""
import random, sys, os
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from pages import record
rnd = random.Random(31)
heap, n = [], 0
limit = int(sys.argv[2])
while n * 900 < limit:
    r = record(rnd, n)
    r["tags"] = [rnd.choice(["a", "b", "vip", "new", "eu", "us"]) for _ in range(rnd.randint(0, 5))]
    r["history"] = [rnd.random() for _ in range(rnd.randint(0, 12))]
    heap.append(r)
    n += 1
index = {r["email"]: r for r in heap}
print("ready", flush=True)
sys.stdin.readline()
"""


def corpus_python(d, limit):
    p = subprocess.Popen([sys.executable, "-c", PY_CHILD, os.path.abspath(__file__), str(limit)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != "ready":
            return "failed: the python heap program did not start"
        n = dump_anon(p.pid, os.path.join(d, "python.pages"), limit)
        return f"{n} pages of a python3 heap"
    finally:
        p.stdin.close()
        p.wait()


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d, mib = args[0], 32
    if len(args) == 3 and args[1] == "--mib":
        mib = int(args[2])
    elif len(args) != 1:
        print("usage: bench/pages.py DIR [--mib N]", file=sys.stderr)
        sys.exit(2)
    os.makedirs(d, exist_ok=True)
    for name, fn in (("redis", corpus_redis), ("sqlite", corpus_sqlite), ("python", corpus_python)):
        print(f"pages.py: {name}: {fn(d, mib << 20)}")


if __name__ == "__main__":
    main()
