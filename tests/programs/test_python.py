"""test_python.py — Debian's python3 building and checking large lists and
bytearrays (about 100 MiB) under a 32 MiB RAM budget; the hashes it prints
must be exactly those without hetmem, and pages must have gone to the device
and come back."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hmprog as H

N = int(os.environ.get("HM_PYTHON_N", "400000"))
PROG = r"""
import hashlib, sys
N = %(n)d
h = hashlib.sha256
# a list of ints and one of strings, a dict, and bytearrays
ints = [(i * 2654435761) %% 4294967296 for i in range(N)]
strs = ["s%%d-%%x" %% (i, v) for i, v in enumerate(ints)]
d = {s: i for i, s in enumerate(strs[::3])}
ba = bytearray(32 << 20)
for off in range(0, len(ba), 4096):
    ba[off:off + 8] = off.to_bytes(8, "little")
chunks = [bytearray((i %% 251,)) * 65536 for i in range(300)]
print("ints", sum(ints), h(repr(ints[::997]).encode()).hexdigest())
print("strs", len(strs), h("".join(strs[::13]).encode()).hexdigest())
ints.sort()
print("sorted", ints[0], ints[N // 2], ints[-1], h(repr(ints[::1009]).encode()).hexdigest())
print("dict", len(d), sum(d[s] for s in strs[::3000]))
print("bytearray", h(ba).hexdigest())
print("chunks", h(b"".join(chunks)).hexdigest())
ok = all(ba[off:off + 8] == off.to_bytes(8, "little") for off in range(0, len(ba), 4096))
ok = ok and all(c.count(i %% 251) == 65536 for i, c in enumerate(chunks))
ok = ok and all(strs[i] == "s%%d-%%x" %% (i, (i * 2654435761) %% 4294967296) for i in range(0, N, 7))
print("checked", ok)
sys.exit(0 if ok else 1)
""" % {"n": N}


def main():
    py = "/usr/bin/python3"  # Debian's, not a python3 earlier on PATH
    if not os.access(py, os.X_OK):
        H.skip("/usr/bin/python3 is not installed (scripts/install-deps.sh installs it)")
    H.batch_test("python3", [py, "-"], PROG.encode(), os.environ.get("HM_PYTHON_BUDGET", "32M"))


if __name__ == "__main__":
    main()
