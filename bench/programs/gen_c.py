# bench/programs.sh's gcc input: gen_c.py N F prints a C file with a table of
# N pseudo-random constants (what makes cc1 big: a tree node per initializer)
# and F functions with a 32-way switch each.  Deterministic.
import sys
n, nf = int(sys.argv[1]), int(sys.argv[2])
w = sys.stdout.write
w("const unsigned int big_table[%d] = {\n" % n)
x = 12345
for i in range(n):
    x = (x * 1103515245 + 12345) & 0x7fffffff
    w("%d,%s" % (x % 1000003, "\n" if i % 16 == 15 else ""))
w("};\n")
for f in range(nf):
    w("int fn%d(int x, int y) {\n  int r = %d;\n  switch ((x ^ %d) & 31) {\n" % (f, f, f))
    for c in range(32):
        w("  case %d: r += big_table[(y + %d) & 1023] * %d + (x >> %d); if (r & 1) r ^= y * %d; break;\n" % (c, c + f, c + 1, c % 7, c + f))
    w("  }\n  for (int i = 0; i < (y & 7); i++) r = r * 33 + big_table[i + %d];\n  return r;\n}\n" % f)
