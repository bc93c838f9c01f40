"""The example's sequence metric (retried_failures) by week, computed apart
from metricc: DuckDB reads each developer's API calls of each week in
order (at one instant, failures first), and a plain scan counts a failure
whose next call comes within a minute, then skips that call (a match uses
its events up). That is what the pattern (?failed)(?t<=1m)(?call) counts
when every event is a call. Prints a JSON array like `metricc run --format
json --by week`. Usage: sequence.py EVENTS_PARQUET FROM TO (UTC dates,
half-open; FROM a Monday)."""
import datetime
import json
import sys

import duckdb

events, start, end = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
rows = con.execute(
    f"""
SELECT developer_id, (epoch_us(ts) // 86400000000 + 3) // 7 AS wk, epoch_us(ts) AS t,
       coalesce(status >= 500, false) AS failed
FROM read_parquet('{events}')
WHERE event = 'api_call' AND ts >= TIMESTAMPTZ '{start}' AND ts < TIMESTAMPTZ '{end}'
ORDER BY developer_id, wk, t, failed DESC
"""
).fetchall()
counts = {}
i = 0
while i < len(rows):
    d, wk, t, failed = rows[i]
    nxt = rows[i + 1] if i + 1 < len(rows) else None
    if failed and nxt and nxt[0] == d and nxt[1] == wk and nxt[2] - t <= 60_000_000:
        counts[wk] = counts.get(wk, 0) + 1
        i += 2
    else:
        i += 1
first = datetime.date.fromisoformat(start)
last = datetime.date.fromisoformat(end)
out = []
week = first
while week < last:
    wk = ((week - datetime.date(1970, 1, 1)).days + 3) // 7
    out.append({"week": week.isoformat(), "retried_failures": counts.get(wk, 0)})
    week += datetime.timedelta(days=7)
print(json.dumps(out))
