# bench/programs.sh's redis data: gen_redis.py N prints the RESP commands
# that SET key:%012d (the names redis-benchmark's -r gives __rand_int__) to
# 1024-byte values, half text, half hex of a seeded generator, for N keys.
# Deterministic.
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
x = 7
words = b"user account order invoice shipped pending paid region north south east west item price qty "
for i in range(n):
    k = b"key:%012d" % i
    h = bytearray()
    while len(h) < 512:
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xffffffffffffffff
        h += b"%016x" % x
    t = (b"%d:" % i + words[i % 50:] + words) * 8
    v = (bytes(h[:512]) + t)[:1024]
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
