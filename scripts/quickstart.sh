#!/bin/sh
# Quick start, command 1: install what is missing (Debian 12, as root),
# build, and run the main job: an unmodified program (Debian's python3)
# under `hetmem run` with a RAM budget well below its footprint, then the
# counters it printed at exit.  `./build/hetmem demo` is the library demo.
set -e
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
make build
./build/hetmem info
echo
echo '$ hetmem run --dram 64M --stats -- python3 -c "...256 MiB of lists and bytearrays..."'
./build/hetmem run --dram 64M --stats "$@" -- /usr/bin/python3 -c '
import hashlib
b = bytearray(128 << 20)
for i in range(0, len(b), 4096):
    b[i:i + 8] = i.to_bytes(8, "little")
l = [i * i for i in range(2_000_000)]
h = hashlib.sha256(b)
h.update(repr(l[::1000]).encode())
assert all(b[i:i + 8] == i.to_bytes(8, "little") for i in range(0, len(b), 4096))
assert sum(l) == sum(i * i for i in range(2_000_000))
print("python3 under hetmem: data checked, sha256", h.hexdigest()[:16])
'
