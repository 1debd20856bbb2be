// bench/programs.sh's java workload: N linked records of a few hundred bytes
// each (a few hundred MiB of objects), summed twice; prints a checksum.
public class Alloc {
    static final class Rec {
        long a, b;
        long[] pad;
        Rec next;
        Rec(long i) { a = i; b = i * 31 + 7; pad = new long[24]; pad[(int) (i % 24)] = i ^ 0x5555; }
    }
    public static void main(String[] args) {
        int n = Integer.parseInt(args[0]);
        Rec head = null;
        for (int i = 0; i < n; i++) { Rec r = new Rec(i); r.next = head; head = r; }
        long s = 0;
        for (int round = 0; round < 2; round++)
            for (Rec r = head; r != null; r = r.next) { s += r.a + r.b; for (long p : r.pad) s ^= p + round; }
        System.out.println("check " + s);
    }
}
