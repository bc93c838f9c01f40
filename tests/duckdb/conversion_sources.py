"""The example's conversion across two sources (docs_to_signup_rate) by week
and channel, written by hand in DuckDB SQL: docs page views are a visitor's,
signups a developer's, and the developer's row in developers.parquet valid
at the signup gives the visitor id. An ASOF join credits each signup to the
visitor's most recent docs page view at or before it. Prints a JSON array
like `metricc run --format json --by week`. Usage: conversion_sources.py
PAGE_VIEWS EVENTS DEVELOPERS FROM TO (UTC dates, half-open; FROM a Monday)."""
import json
import sys

import duckdb

page_views, events, developers, start, end = sys.argv[1:6]
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
rows = con.execute(
    f"""
WITH
-- docs page views from the range's start to 7 days past its end: a view
-- after the end takes the credit of a signup after it.
views AS (
  SELECT visitor_id AS v, ts AS t, channel FROM read_parquet('{page_views}')
  WHERE page LIKE '/docs%'
    AND ts >= TIMESTAMPTZ '{start}' AND ts < TIMESTAMPTZ '{end}' + INTERVAL 7 DAY
),
-- each signup with the visitor id of the developer's version at that time
signups AS (
  SELECT d.visitor_id AS v, e.ts AS t
  FROM read_parquet('{events}') e
  ASOF JOIN read_parquet('{developers}') d
    ON e.developer_id = d.developer_id AND e.ts >= d.valid_from
  WHERE e.event = 'signup'
    AND e.ts >= TIMESTAMPTZ '{start}' AND e.ts < TIMESTAMPTZ '{end}' + INTERVAL 7 DAY
),
credited AS (
  SELECT s.v, views.t AS vt, views.channel, s.t AS st
  FROM signups s ASOF JOIN views ON s.v = views.v AND s.t >= views.t
),
opportunities AS (
  SELECT date_trunc('week', t)::DATE AS week, channel, count(DISTINCT v) AS n
  FROM views WHERE t < TIMESTAMPTZ '{end}' GROUP BY ALL
),
conversions AS (
  SELECT date_trunc('week', vt)::DATE AS week, channel, count(DISTINCT v) AS n
  FROM credited
  WHERE vt < TIMESTAMPTZ '{end}' AND st < vt + INTERVAL 7 DAY GROUP BY ALL
),
-- every week of the range by every channel seen in it, as metricc's table
-- (a week without views in a channel has no rate)
cells AS (
  SELECT range::DATE AS week, channel
  FROM range(TIMESTAMP '{start}', TIMESTAMP '{end}', INTERVAL 7 DAY),
       (SELECT DISTINCT channel FROM views WHERE t < TIMESTAMPTZ '{end}')
)
SELECT strftime(week, '%Y-%m-%d'), channel,
       CASE WHEN coalesce(o.n, 0) = 0 THEN NULL ELSE coalesce(c.n, 0) / o.n END
FROM cells LEFT JOIN opportunities o USING (week, channel)
LEFT JOIN conversions c USING (week, channel)
ORDER BY 1, 2
"""
).fetchall()
print(
    json.dumps(
        [{"week": w, "channel": ch, "docs_to_signup_rate": r} for w, ch, r in rows]
    )
)
