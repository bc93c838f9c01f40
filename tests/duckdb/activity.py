"""DAU/WAU/MAU by day and the weekly retention matrix, written by hand in
DuckDB SQL (the queries of benches/activity.py) over the example's events:
an independent check of metricc's activity engines. Prints a JSON array like
`metricc run --format json`. Usage: activity.py EVENTS_PARQUET active|retention
(the example's range, 2026-01-05 to 2026-05-05, UTC)."""
import json
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benches"))
from activity import DUCKDB_ACTIVE, DUCKDB_RETENTION  # noqa: E402

events, what = sys.argv[1:3]
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
con.execute("SET enable_progress_bar=false")
if what == "active":
    rows = con.execute(DUCKDB_ACTIVE.format(events=events)).fetchall()
    out = [{"day": d, "dau": a, "wau": w, "mau": m} for d, a, w, m in rows]
else:
    rows = con.execute(DUCKDB_RETENTION.format(events=events)).fetchall()
    out = [
        {
            "cohort": c,
            "period": k,
            "cohort_size": n,
            "retained": r,
            "retention_rate": None if r is None or n == 0 else r / n,
        }
        for c, k, n, r in rows
    ]
print(json.dumps(out))
