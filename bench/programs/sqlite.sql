-- bench/programs.sh's sqlite workload: an in-memory table of ~N rows of
-- random-ish text (deterministic: computed from the row number), an index,
-- aggregates, then the integrity check (must print ok).  The row count
-- (the N placeholder below) is put in by programs.sh.
PRAGMA cache_size = -4000000;
PRAGMA temp_store = memory;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, s TEXT, v REAL);
INSERT INTO t(id, k, s, v)
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < @N@)
  SELECT i, (i * 7919) % 100003,
         printf('%08x-%s-%d-%s', (i * 2654435761) % 4294967296, hex((i * 40503) % 65536), i % 977,
                substr('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore', 1 + i % 40, 40 + i % 50)),
         (i % 1000) / 7.0
  FROM c;
CREATE INDEX t_k ON t(k, s);
SELECT count(*), sum(k), sum(length(s)), printf('%.3f', sum(v)) FROM t;
SELECT k % 10, count(*), max(s), min(s) FROM t GROUP BY k % 10 ORDER BY 1;
SELECT count(DISTINCT k) FROM t;
SELECT s FROM t WHERE k BETWEEN 5000 AND 5003 ORDER BY s LIMIT 5;
PRAGMA integrity_check;
