"""The example's conversion metric (subscription_to_overage) by week,
written by hand in DuckDB SQL with an ASOF join: an independent check of
metricc's conversion rows. Prints a JSON array like `metricc run --format
json --by week`. Usage: conversion.py PAYMENTS_PARQUET FROM TO (UTC dates,
half-open; FROM a Monday)."""
import json
import sys

import duckdb

payments, start, end = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
con.execute(f"CREATE VIEW p AS SELECT * FROM read_parquet('{payments}')")
rows = con.execute(
    f"""
WITH
-- subscription payments from the range's start to 31 days past its end:
-- one after the end takes the credit of the overage after it.
subs AS (
  SELECT developer_id AS d, paid_at AS t FROM p
  WHERE kind = 'subscription'
    AND paid_at >= TIMESTAMPTZ '{start}' AND paid_at < TIMESTAMPTZ '{end}' + INTERVAL 31 DAY
),
overage AS (
  SELECT developer_id AS d, paid_at AS t FROM p
  WHERE kind = 'overage'
    AND paid_at >= TIMESTAMPTZ '{start}' AND paid_at < TIMESTAMPTZ '{end}' + INTERVAL 31 DAY
),
-- each overage payment goes to the most recent subscription payment at or before it
credited AS (
  SELECT overage.d, subs.t AS st, overage.t AS ot
  FROM overage ASOF JOIN subs ON overage.d = subs.d AND overage.t >= subs.t
),
opportunities AS (
  SELECT date_trunc('week', t)::DATE AS week, count(DISTINCT d) AS n FROM subs
  WHERE t < TIMESTAMPTZ '{end}' GROUP BY 1
),
conversions AS (
  SELECT date_trunc('week', st)::DATE AS week, count(DISTINCT d) AS n FROM credited
  WHERE st < TIMESTAMPTZ '{end}' AND ot < st + INTERVAL 31 DAY GROUP BY 1
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
print(json.dumps([{"week": w, "subscription_to_overage": r} for w, r in rows]))
