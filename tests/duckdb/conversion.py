"""The example's conversion metric (key_to_success_conversion) by week,
written by hand in DuckDB SQL with an ASOF join: an independent check of
metricc's conversion rows. Prints a JSON array like `metricc run --format
json --by week`. Usage: conversion.py EVENTS_PARQUET FROM TO (UTC dates,
half-open; FROM a Monday)."""
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
-- keys from the range's start to a day past its end: a key after the end
-- takes the credit of the calls after it.
keys AS (
  SELECT developer_id AS d, ts AS t FROM e
  WHERE event = 'api_key_created'
    AND ts >= TIMESTAMPTZ '{start}' AND ts < TIMESTAMPTZ '{end}' + INTERVAL 1 DAY
),
calls AS (
  SELECT developer_id AS d, ts AS t FROM e
  WHERE event = 'api_call' AND status < 400
    AND ts >= TIMESTAMPTZ '{start}' AND ts < TIMESTAMPTZ '{end}' + INTERVAL 1 DAY
),
-- each successful call goes to the developer's most recent key at or before it
credited AS (
  SELECT calls.d, keys.t AS kt, calls.t AS ct
  FROM calls ASOF JOIN keys ON calls.d = keys.d AND calls.t >= keys.t
),
opportunities AS (
  SELECT date_trunc('week', t)::DATE AS week, count(DISTINCT d) AS n FROM keys
  WHERE t < TIMESTAMPTZ '{end}' GROUP BY 1
),
conversions AS (
  SELECT date_trunc('week', kt)::DATE AS week, count(DISTINCT d) AS n FROM credited
  WHERE kt < TIMESTAMPTZ '{end}' AND ct < kt + INTERVAL 1 DAY GROUP BY 1
),
weeks AS (
  SELECT range::DATE AS week
  FROM range(TIMESTAMP '{start}', TIMESTAMP '{end}', INTERVAL 7 DAY)
)
SELECT strftime(w.week, '%Y-%m-%d'),
       CASE WHEN coalesce(o.n, 0) = 0 THEN NULL ELSE coalesce(c.n, 0) / o.n END
FROM weeks w
LEFT JOIN opportunities o USING (week)
LEFT JOIN conversions c USING (week)
ORDER BY 1
"""
).fetchall()
print(json.dumps([{"week": w, "key_to_success_conversion": r} for w, r in rows]))
