"""Activation rate and time to first call by week, written by hand in DuckDB
SQL over the example's events: an independent check of metricc's funnel
engine. Prints a JSON array like `metricc run --format json --by week`.
Usage: funnels.py EVENTS_PARQUET FROM TO (UTC dates, half-open)."""
import json
import sys

import duckdb

events, start, end = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
con.execute(f"CREATE VIEW e AS SELECT * FROM read_parquet('{events}')")
rows = con.execute(
    f"""
WITH
-- activation: a signup in the range converts when a successful call follows
-- it within 7 days (edge inclusive); per developer and week, the best one.
signups AS (
  SELECT developer_id, ts, date_trunc('week', ts)::DATE AS week
  FROM e WHERE event = 'signup' AND ts >= TIMESTAMPTZ '{start}' AND ts < TIMESTAMPTZ '{end}'
),
attempts AS (
  SELECT s.developer_id, s.week,
         max(CASE WHEN c.ts IS NULL THEN 0 ELSE 1 END) AS converted
  FROM signups s
  LEFT JOIN e c ON c.developer_id = s.developer_id AND c.event = 'api_call'
       AND c.status < 400 AND c.ts >= s.ts AND c.ts <= s.ts + INTERVAL 7 DAY
  GROUP BY 1, 2
),
activation AS (
  SELECT week, sum(converted)::DOUBLE / count(*) AS activation_rate FROM attempts GROUP BY 1
),
-- time to first call: each developer's first signup ever, if in the range;
-- the first call at or after it.
firsts AS (
  SELECT developer_id, min(ts) AS ts FROM e WHERE event = 'signup' GROUP BY 1
),
ttfc AS (
  SELECT date_trunc('week', f.ts)::DATE AS week,
         (epoch_us(min(c.ts)) - epoch_us(f.ts)) / 3.6e9 AS hours
  FROM firsts f JOIN e c ON c.developer_id = f.developer_id AND c.event = 'api_call' AND c.ts >= f.ts
  WHERE f.ts >= TIMESTAMPTZ '{start}' AND f.ts < TIMESTAMPTZ '{end}'
  GROUP BY f.developer_id, f.ts
),
times AS (
  SELECT week, median(hours) AS ttfc_median, quantile_cont(hours, 0.9) AS ttfc_p90
  FROM ttfc GROUP BY 1
)
SELECT strftime(a.week, '%Y-%m-%d') AS week, a.activation_rate, t.ttfc_median, t.ttfc_p90
FROM activation a FULL JOIN times t USING (week)
ORDER BY 1
"""
).fetchall()
names = ["week", "activation_rate", "ttfc_median", "ttfc_p90"]
print(json.dumps([dict(zip(names, r)) for r in rows]))
