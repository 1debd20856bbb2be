# bench/programs.sh's python workload: a 600 MiB bytearray touched a page at
# a time, 5M ints in a list, 500k short strings; read twice; prints a check
# that must be the same in every configuration.
import sys
scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
b = bytearray(int(600 * scale) << 20)
for i in range(0, len(b), 4096): b[i] = i & 255
ints = list(range(int(5_000_000 * scale)))
strs = [str(i) * 3 for i in range(int(500_000 * scale))]
s = 0
for _ in range(2):
    for i in range(0, len(b), 4096): s += b[i]
    s += sum(ints)
    s += sum(len(x) for x in strs)
print("check", s)
