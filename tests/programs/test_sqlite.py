"""test_sqlite.py — sqlite3 with an in-memory database (its pages live in the
heap: about 110 MiB at its peak) under a 32 MiB RAM budget: inserts, an index, queries
and PRAGMA integrity_check; the output must be exactly the one without
hetmem, and pages must have gone to the device and come back."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hmprog as H

ROWS = int(os.environ.get("HM_SQLITE_ROWS", "40000"))
SQL = """
PRAGMA cache_size = -400000;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, s TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %(rows)d)
INSERT INTO t SELECT i, (i * 7919) %% 100003,
  substr(replace(hex(zeroblob(500)), '00', printf('%%d.', i * 2654435761 %% 4294967296)), 1, 1000) FROM c;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(length(s)), sum(k) FROM t;
SELECT k, count(*), sum(unicode(substr(s, 5, 1))) FROM t GROUP BY k %% 7 ORDER BY 1;
SELECT id, substr(s, 1, 24) FROM t WHERE k BETWEEN 500 AND 520 ORDER BY k, id;
UPDATE t SET s = upper(substr(s, 1, 500)) || s WHERE id %% 3 = 0;
DELETE FROM t WHERE id %% 5 = 0;
SELECT count(*), sum(length(s)), total(k) FROM t;
SELECT sum(unicode(substr(s, (id %% 900) + 1, 1)) * (id %% 1000)) FROM t;
PRAGMA integrity_check;
""" % {"rows": ROWS}


def main():
    (sqlite,) = H.need("sqlite3")
    H.batch_test("sqlite3", [sqlite, ":memory:"], SQL.encode(), os.environ.get("HM_SQLITE_BUDGET", "32M"))


if __name__ == "__main__":
    main()
