"""The peers' queries for the benchmark suite: for each workload, the
DuckDB and ClickHouse (chDB) SQL a skilled user would write for the numbers
metricc computes from the example's definitions. Range 2026-01-05 to
2026-05-05 (the example's default_range), time zone UTC. `{events}` and the
other `{source}` placeholders are Parquet paths.

Both peers compute days and Monday weeks with integer arithmetic on UTC
epoch microseconds: exact in UTC, and far cheaper in DuckDB than its ICU
time-zone functions (see activity.py for the figures).
"""
from activity import DUCKDB_ACTIVE, DUCKDB_RETENTION  # noqa: F401
from funnel import DUCKDB_FUNNEL  # noqa: F401

# ---- scan floor: the columns the behavioural metrics read (entity, time, event)
# A count of a column is answered from Parquet statistics; summing a function
# of every value makes each engine read and decode the three columns.
DUCKDB_SCAN = """
SELECT count(*), sum(length(developer_id)), sum(epoch_us(ts) % 1000), sum(length(event))
FROM read_parquet('{events}')
"""
CH_SCAN = """
SELECT count(), sum(length(developer_id)), sum(toUnixTimestamp64Micro(ts) % 1000), sum(length(event))
FROM file('{events}', Parquet)
"""

# ---- per endpoint and day: requests, error rate (of calls with a status), p99 latency
DUCKDB_ENDPOINTS = """
WITH g AS (
  SELECT epoch_us(ts) // 86400000000 AS day, endpoint, count(*) AS requests,
         CASE WHEN count(status) > 0
              THEN count(*) FILTER (status >= 400) / count(status) END AS error_rate,
         quantile_cont(latency_ms, 0.99) AS latency_p99
  FROM read_parquet('{events}')
  WHERE event = 'api_call' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05'
  GROUP BY 1, 2)
SELECT strftime(DATE '1970-01-01' + CAST(day AS INTEGER), '%Y-%m-%d'), endpoint, requests,
       error_rate, latency_p99
FROM g ORDER BY day, endpoint
"""
CH_ENDPOINTS = """
SELECT toString(toDate(ts)) AS day, endpoint, count() AS requests,
       if(countIf(status IS NOT NULL) = 0, NULL,
          countIf(status >= 400) / countIf(status IS NOT NULL)) AS error_rate,
       quantileExactInclusive(0.99)(latency_ms) AS latency_p99
FROM file('{events}', Parquet)
WHERE event = 'api_call'
  AND ts >= toDateTime64('2026-01-05', 6, 'UTC') AND ts < toDateTime64('2026-05-05', 6, 'UTC')
GROUP BY day, endpoint
ORDER BY day, endpoint
"""

# ---- latency percentiles per day: p50, p95, p99 of one column. Both peers
# have a form that computes several quantiles from one set of values.
# DuckDB's median is quantile_cont(x, 0.5), a + (b - a) * 0.5, where
# metricc's (DataFusion's) is (a + b) / 2: they agree to 1e-9, not always to
# the bit.
DUCKDB_LATENCY = """
WITH g AS (
  SELECT epoch_us(ts) // 86400000000 AS day,
         quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS q
  FROM read_parquet('{events}')
  WHERE event = 'api_call' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05'
  GROUP BY 1)
SELECT strftime(DATE '1970-01-01' + CAST(day AS INTEGER), '%Y-%m-%d'), q[1], q[2], q[3]
FROM g ORDER BY day
"""
CH_LATENCY = """
SELECT day, q[1], q[2], q[3] FROM (
  SELECT toString(toDate(ts)) AS day,
         quantilesExactInclusive(0.5, 0.95, 0.99)(latency_ms) AS q
  FROM file('{events}', Parquet)
  WHERE event = 'api_call'
    AND ts >= toDateTime64('2026-01-05', 6, 'UTC') AND ts < toDateTime64('2026-05-05', 6, 'UTC')
  GROUP BY day)
ORDER BY day
"""

# ---- period over period: signups per week and their growth over the week
# before (`signups_wow`): each week's count against the same days 7 days
# earlier, the last week clipped by the range's end on both sides, the
# first compared with the week before the range.
DUCKDB_WOW = """
WITH cur AS (
  SELECT (epoch_us(ts) // 86400000000 + 3) // 7 AS wk, count(DISTINCT developer_id) AS n
  FROM read_parquet('{events}')
  WHERE event = 'signup' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05'
  GROUP BY 1),
prev AS (
  SELECT (epoch_us(ts) // 86400000000 + 3) // 7 + 1 AS wk, count(DISTINCT developer_id) AS n
  FROM read_parquet('{events}')
  WHERE event = 'signup' AND ts >= TIMESTAMPTZ '2025-12-29' AND ts < TIMESTAMPTZ '2026-04-28'
  GROUP BY 1)
SELECT strftime(DATE '1970-01-01' + CAST(cur.wk * 7 - 3 AS INTEGER), '%Y-%m-%d'), cur.n,
       CASE WHEN coalesce(prev.n, 0) = 0 THEN NULL ELSE (cur.n - prev.n) / prev.n END
FROM cur LEFT JOIN prev USING (wk)
ORDER BY cur.wk
"""

# ---- the onboarding funnel: windowFunnel is ClickHouse's own funnel
# function (the longest ordered chain within the window from a step-1 event;
# one event may match consecutive steps, as `reuse_events: true` says).
# Step-1 events are limited to the range; later steps may fall up to 14 days
# after it.
# ClickHouse skips a row for an aggregate when any argument is null, so a
# call whose status is null (the gateway lost it) would not count as the
# first call either: `ifNull` makes the last condition false, as metricc
# reads a null step predicate.
CH_FUNNEL = """
SELECT countIf(level >= 1), countIf(level >= 2), countIf(level >= 3), countIf(level >= 4)
FROM (
  SELECT developer_id,
         windowFunnel(14 * 86400 * 1000000)(toUInt64(toUnixTimestamp64Micro(ts)),
                      event = 'signup' AND ts < toDateTime64('2026-05-05', 6, 'UTC'),
                      event = 'api_key_created',
                      event = 'api_call',
                      event = 'api_call' AND ifNull(status < 400, 0)) AS level
  FROM file('{events}', Parquet)
  WHERE ts >= toDateTime64('2026-01-05', 6, 'UTC') AND ts < toDateTime64('2026-05-19', 6, 'UTC')
    AND event IN ('signup', 'api_key_created', 'api_call')
  GROUP BY developer_id)
WHERE level >= 1
"""

# ---- dau, wau, mau for every day: per developer, its sorted active days and
# the gap to the previous one give +1/-1 deltas per window (the same idea as
# the DuckDB query), a running sum over the days gives the counts.
CH_ACTIVE = """
WITH d AS (
  SELECT developer_id AS dev, intDiv(toUnixTimestamp64Micro(ts), 86400000000) AS day
  FROM file('{events}', Parquet)
  WHERE event = 'api_call'
    AND ts >= toDateTime64('2025-12-07', 6, 'UTC') AND ts < toDateTime64('2026-05-05', 6, 'UTC')
  GROUP BY dev, day),
per_day AS (
  SELECT tupleElement(t, 1) AS bucket, sum(tupleElement(t, 2)) AS d1,
         sum(tupleElement(t, 3)) AS d7, sum(tupleElement(t, 4)) AS d30
  FROM (
    SELECT days, arrayMap((x, i) -> if(i = 1, 30, x - days[i - 1]), days, arrayEnumerate(days)) AS gaps
    FROM (SELECT arraySort(groupArray(day)) AS days FROM d GROUP BY dev))
  ARRAY JOIN days AS a, gaps AS gap
  ARRAY JOIN [(a, 1, 0, 0), (a + 1, -1, 0, 0),
              (a + greatest(0, 7 - gap), 0, 1, 0), (a + 7, 0, -1, 0),
              (a + greatest(0, 30 - gap), 0, 0, 1), (a + 30, 0, 0, -1)] AS t
  GROUP BY bucket),
run AS (
  SELECT days.day AS day,
         sum(d1) OVER w AS dau, sum(d7) OVER w AS wau, sum(d30) OVER w AS mau
  FROM (SELECT toInt64(number) + toInt64(toDate('2025-12-07')) AS day
        FROM numbers(toUInt64(toDate('2026-05-05') - toDate('2025-12-07')))) AS days
  LEFT JOIN per_day ON per_day.bucket = days.day
  WINDOW w AS (ORDER BY days.day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
SELECT toString(toDate(day)), dau, wau, mau FROM run
WHERE day >= toInt64(toDate('2026-01-05')) ORDER BY day
"""

# ---- weekly retention: the DuckDB query's plan in ClickHouse SQL.
CH_RETENTION = """
WITH c AS (
  SELECT developer_id AS dev, t0, intDiv(intDiv(toUnixTimestamp64Micro(t0), 86400000000) + 3, 7) AS cw
  FROM (SELECT developer_id, min(ts) AS t0 FROM file('{events}', Parquet)
        WHERE event = 'signup' GROUP BY developer_id)
  WHERE t0 >= toDateTime64('2026-01-05', 6, 'UTC') AND t0 < toDateTime64('2026-05-05', 6, 'UTC')),
aw AS (
  SELECT developer_id AS dev, intDiv(intDiv(toUnixTimestamp64Micro(ts), 86400000000) + 3, 7) AS wk,
         max(ts) AS last
  FROM file('{events}', Parquet)
  WHERE event = 'api_call'
    AND ts >= toDateTime64('2026-01-05', 6, 'UTC') AND ts < toDateTime64('2026-05-05', 6, 'UTC')
  GROUP BY dev, wk),
r AS (
  SELECT c.cw AS cw, aw.wk - c.cw AS k, count() AS retained
  FROM c INNER JOIN aw ON aw.dev = c.dev
  WHERE aw.wk >= c.cw AND aw.wk <= c.cw + 8 AND aw.last >= c.t0
  GROUP BY cw, k),
s AS (SELECT cw, count() AS n FROM c GROUP BY cw),
grid AS (
  SELECT w.number + intDiv(toInt64(toDate('2026-01-05')) + 3, 7) AS cw, p.number AS k
  FROM numbers(intDiv(toInt64(toDate('2026-05-04')) + 3, 7) - intDiv(toInt64(toDate('2026-01-05')) + 3, 7) + 1) AS w
  CROSS JOIN numbers(9) AS p)
SELECT toString(toDate(7 * grid.cw - 3)) AS cohort, grid.k, s.n,
       if(s.n > 0 AND 7 * (grid.cw + grid.k) - 3 < toInt64(toDate('2026-05-05')), r.retained, NULL)
FROM grid
LEFT JOIN s ON s.cw = grid.cw
LEFT JOIN r ON r.cw = grid.cw AND r.k = grid.k
ORDER BY grid.cw, grid.k
"""

# ---- the whole catalog, in DuckDB: the metrics metricc can express in SQL
# come from `metricc explain --sql --dialect duckdb` (one query, the same
# shape a person would write: one aggregation per source); the per-entity
# metrics are the queries below, one per family, written by hand.
# One value each, over the whole range (no --by), as `metricc run` prints.
DUCKDB_CATALOG_ACTIVE = """
WITH calls AS (SELECT developer_id AS d, ts FROM read_parquet('{events}') WHERE event = 'api_call'),
win AS (
  SELECT count(DISTINCT d) FILTER (ts >= TIMESTAMPTZ '2026-05-04') AS dau,
         count(DISTINCT d) FILTER (ts >= TIMESTAMPTZ '2026-04-28') AS wau,
         count(DISTINCT d) FILTER (ts >= TIMESTAMPTZ '2026-04-05') AS mau
  FROM calls WHERE ts >= TIMESTAMPTZ '2026-04-05' AND ts < TIMESTAMPTZ '2026-05-05'),
dev AS (
  SELECT d, bool_or(ts >= TIMESTAMPTZ '2026-04-05') AS cur,
         bool_or(ts >= TIMESTAMPTZ '2026-03-06' AND ts < TIMESTAMPTZ '2026-04-05') AS prev,
         bool_or(ts < TIMESTAMPTZ '2026-04-05') AS before
  FROM calls WHERE ts < TIMESTAMPTZ '2026-05-05' GROUP BY d),
churn AS (
  SELECT count(*) FILTER (prev AND NOT cur) AS churned, count(*) FILTER (prev) AS prev,
         count(*) FILTER (cur AND NOT before) AS new
  FROM dev),
tickets AS (
  SELECT count(*) AS n FROM read_parquet('{support_tickets}')
  WHERE opened_at >= TIMESTAMPTZ '2026-01-05' AND opened_at < TIMESTAMPTZ '2026-05-05')
SELECT dau, wau, mau, dau / nullif(mau, 0) AS stickiness,
       1000 * tickets.n / nullif(mau, 0) AS support_ticket_rate,
       churned, churned / nullif(churn.prev, 0) AS churn_rate, new - churned AS net_growth
FROM win, churn, tickets
"""

# activation_rate: signup -> first success within 7 days, conversion rate;
# each signup in the range is an attempt, the best one counts.
DUCKDB_CATALOG_ACTIVATION = """
WITH s AS (SELECT developer_id AS d, ts AS t1 FROM read_parquet('{events}') WHERE event = 'signup'
           AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05'),
ok AS (SELECT developer_id AS d, ts FROM read_parquet('{events}')
       WHERE event = 'api_call' AND status < 400),
act AS (
  SELECT s.d, bool_or(ok.ts <= s.t1 + INTERVAL 7 DAY) AS converted
  FROM s ASOF LEFT JOIN ok ON s.d = ok.d AND ok.ts >= s.t1 GROUP BY s.d)
SELECT count(*) FILTER (converted) / count(*) AS activation_rate FROM act
"""

# The time_between metrics: from each developer's first signup (if in the
# range) to its first matching call at or after it; statistics over the
# developers with one. time_to_value is in days, the others in hours.
DUCKDB_CATALOG_TIME_BETWEEN = """
WITH f AS (SELECT developer_id AS d, min(ts) AS t0 FROM read_parquet('{events}')
           WHERE event = 'signup' GROUP BY developer_id
           HAVING min(ts) >= TIMESTAMPTZ '2026-01-05' AND min(ts) < TIMESTAMPTZ '2026-05-05'),
x AS (
  SELECT f.t0, min(e.ts) AS c,
         min(e.ts) FILTER (e.status < 400) AS ok,
         min(e.ts) FILTER (e.status < 400 AND e.environment = 'production') AS v
  FROM f JOIN read_parquet('{events}') e ON e.developer_id = f.d AND e.ts >= f.t0
  WHERE e.event = 'api_call'
  GROUP BY f.d, f.t0)
SELECT median((epoch_us(c) - epoch_us(t0)) / 3.6e9),
       quantile_cont((epoch_us(c) - epoch_us(t0)) / 3.6e9, 0.9),
       median((epoch_us(ok) - epoch_us(t0)) / 3.6e9),
       median((epoch_us(v) - epoch_us(t0)) / 8.64e10)
FROM x
"""

# key_to_success_conversion (the bench project's conversion metric): each successful call is
# credited to the developer's most recent key at or before it (ASOF join),
# and counts when that key is in the range and the call less than a day
# later; developers counted. Calls and keys are read up to a day past the
# range: a key after the range's end takes the credit of the calls after it.
DUCKDB_CONVERSION = """
WITH b AS (SELECT developer_id AS d, epoch_us(ts) AS t FROM read_parquet('{events}')
           WHERE event = 'api_key_created'
             AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-06'),
c AS (SELECT developer_id AS d, epoch_us(ts) AS t FROM read_parquet('{events}')
      WHERE event = 'api_call' AND status < 400
        AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-06'),
credited AS (SELECT c.d, b.t AS bt, c.t AS ct FROM c ASOF JOIN b ON c.d = b.d AND c.t >= b.t)
SELECT (SELECT count(DISTINCT d) FROM credited
        WHERE bt < epoch_us(TIMESTAMPTZ '2026-05-05') AND ct - bt < 86400000000)
       / (SELECT count(DISTINCT d) FROM b WHERE t < epoch_us(TIMESTAMPTZ '2026-05-05'))
"""

# API calls by week and by the plan their developer was on at the call: the
# version of the developers table whose valid_from is the latest at or
# before the call (ASOF LEFT JOIN); a call before its developer's first
# version, or of a developer without a row, has no plan.
DUCKDB_BY_PLAN = """
SELECT strftime(DATE '1970-01-01' + CAST(((epoch_us(e.ts) // 86400000000 + 3) // 7) * 7 - 3 AS INTEGER),
                '%Y-%m-%d') AS week,
       d.plan, count(*)
FROM (SELECT developer_id, ts FROM read_parquet('{events}')
      WHERE event = 'api_call' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05') e
ASOF LEFT JOIN read_parquet('{developers}') d
  ON e.developer_id = d.developer_id AND e.ts >= d.valid_from
GROUP BY 1, 2 ORDER BY 1, 2 NULLS LAST
"""

# Sequence patterns: developers with a server error followed by another
# call within a minute, by week; the events are the week's API calls (every
# one holds the condition "a call"). ClickHouse runs the pattern itself, on
# microsecond integers (`(?t<=V)` is in the timestamp's unit; DateTime64 is
# refused). In DuckDB a developer matches when some failure's next call
# (at one instant, failures first, as metricc orders them) comes within a
# minute: the existence of a match needs nothing more.
DUCKDB_RETRIED = """
WITH calls AS (
  SELECT developer_id AS d, epoch_us(ts) AS t, coalesce(status >= 500, false) AS failed,
         (epoch_us(ts) // 86400000000 + 3) // 7 AS wk
  FROM read_parquet('{events}')
  WHERE event = 'api_call' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05'),
nexts AS (
  SELECT d, wk, failed, t, lead(t) OVER (PARTITION BY d, wk ORDER BY t, failed DESC) AS nt FROM calls)
SELECT strftime(DATE '1970-01-01' + CAST(wk * 7 - 3 AS INTEGER), '%Y-%m-%d') AS week,
       count(DISTINCT d) FILTER (WHERE failed AND nt - t <= 60000000)
FROM nexts GROUP BY wk ORDER BY wk
"""

CH_RETRIED = """
SELECT toString(week), countIf(m) FROM (
  SELECT developer_id, toMonday(ts) AS week,
         sequenceMatch('(?1)(?t<=60000000)(?2)')(toUInt64(toUnixTimestamp64Micro(ts)),
                       ifNull(status >= 500, 0) = 1, 1 = 1) AS m
  FROM file('{events}', Parquet)
  WHERE event = 'api_call'
    AND ts >= toDateTime64('2026-01-05', 6, 'UTC') AND ts < toDateTime64('2026-05-05', 6, 'UTC')
  GROUP BY developer_id, week)
GROUP BY week ORDER BY week
"""

# retried_failures (the example's sequence metric) over the whole range:
# ClickHouse's own sequenceCount, the reference its rules come from.
CH_CATALOG_RETRIES = """
SELECT sum(n) FROM (
  SELECT sequenceCount('(?1)(?t<=60000000)(?2)')(toUInt64(toUnixTimestamp64Micro(ts)),
                       ifNull(status >= 500, 0) = 1, 1 = 1) AS n
  FROM file('{events}', Parquet)
  WHERE event = 'api_call'
    AND ts >= toDateTime64('2026-01-05', 6, 'UTC') AND ts < toDateTime64('2026-05-05', 6, 'UTC')
  GROUP BY developer_id)
"""

# subscription_to_overage (the example's conversion metric): each overage
# payment is credited to the developer's most recent subscription payment
# at or before it (ASOF join), and counts when that payment is in the range
# and the overage less than 31 days later; developers counted. Payments are
# read up to 31 days past the range.
DUCKDB_CATALOG_CONVERSION = """
WITH b AS (SELECT developer_id AS d, epoch_us(paid_at) AS t FROM read_parquet('{payments}')
           WHERE kind = 'subscription'
             AND paid_at >= TIMESTAMPTZ '2026-01-05' AND paid_at < TIMESTAMPTZ '2026-06-05'),
c AS (SELECT developer_id AS d, epoch_us(paid_at) AS t FROM read_parquet('{payments}')
      WHERE kind = 'overage'
        AND paid_at >= TIMESTAMPTZ '2026-01-05' AND paid_at < TIMESTAMPTZ '2026-06-05'),
credited AS (SELECT c.d, b.t AS bt, c.t AS ct FROM c ASOF JOIN b ON c.d = b.d AND c.t >= b.t)
SELECT (SELECT count(DISTINCT d) FROM credited
        WHERE bt < epoch_us(TIMESTAMPTZ '2026-05-05') AND ct - bt < 31 * 86400000000)
       / (SELECT count(DISTINCT d) FROM b WHERE t < epoch_us(TIMESTAMPTZ '2026-05-05'))
"""

# A conversion across two sources: docs page views are a visitor's, signups
# a developer's, and the developer's version of the developers table at the
# signup gives its visitor id. Each signup goes to the visitor's most recent
# docs view at or before it (ASOF JOIN) and counts when less than 7 days
# later; visitors are counted, by the view's week and channel. Views and
# signups are read up to 7 days past the range: a later view takes the
# credit of a signup after it.
DOCS_SIGNUP_CREDITS = """
WITH views AS (
  SELECT visitor_id AS v, epoch_us(ts) AS t, channel FROM read_parquet('{page_views}')
  WHERE page LIKE '/docs%' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-12'),
signups AS (
  SELECT d.visitor_id AS v, epoch_us(e.ts) AS t
  FROM (SELECT developer_id, ts FROM read_parquet('{events}')
        WHERE event = 'signup' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-12') e
  ASOF JOIN read_parquet('{developers}') d
    ON e.developer_id = d.developer_id AND e.ts >= d.valid_from),
credited AS (
  SELECT s.v, views.t AS vt, views.channel, s.t AS st
  FROM signups s ASOF JOIN views ON s.v = views.v AND s.t >= views.t
  WHERE views.t < epoch_us(TIMESTAMPTZ '2026-05-05') AND s.t - views.t < 7 * 86400000000),
opportunities AS (SELECT * FROM views WHERE t < epoch_us(TIMESTAMPTZ '2026-05-05'))
"""
DUCKDB_DOCS_SIGNUP = DOCS_SIGNUP_CREDITS + """
SELECT strftime(DATE '1970-01-01' + CAST(o.wk * 7 - 3 AS INTEGER), '%Y-%m-%d') AS week, o.channel,
       coalesce(c.n, 0) / o.n
FROM (SELECT (t // 86400000000 + 3) // 7 AS wk, channel, count(DISTINCT v) AS n
      FROM opportunities GROUP BY ALL) o
LEFT JOIN (SELECT (vt // 86400000000 + 3) // 7 AS wk, channel, count(DISTINCT v) AS n
           FROM credited GROUP BY ALL) c USING (wk, channel)
ORDER BY 1, 2
"""
DUCKDB_CATALOG_DOCS_SIGNUP = DOCS_SIGNUP_CREDITS + """
SELECT (SELECT count(DISTINCT v) FROM credited) / (SELECT count(DISTINCT v) FROM opportunities)
"""

# Developers back after 7 days of silence over the range: two API calls in a
# row (among the range's calls) at least 7 days apart.
DUCKDB_CATALOG_SILENCE = """
SELECT count(DISTINCT d) FROM (
  SELECT developer_id AS d,
         epoch_us(ts) - lag(epoch_us(ts)) OVER (PARTITION BY developer_id ORDER BY ts) AS gap
  FROM read_parquet('{events}')
  WHERE event = 'api_call' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05')
WHERE gap >= 7 * 86400000000
"""

# time to first call alone: the first two columns above, as its own workload.
DUCKDB_TTFC = """
WITH f AS (SELECT developer_id AS d, min(ts) AS t0 FROM read_parquet('{events}')
           WHERE event = 'signup' GROUP BY developer_id
           HAVING min(ts) >= TIMESTAMPTZ '2026-01-05' AND min(ts) < TIMESTAMPTZ '2026-05-05'),
x AS (
  SELECT f.t0, min(e.ts) AS c
  FROM f JOIN read_parquet('{events}') e ON e.developer_id = f.d AND e.ts >= f.t0
  WHERE e.event = 'api_call'
  GROUP BY f.d, f.t0)
SELECT median((epoch_us(c) - epoch_us(t0)) / 3.6e9),
       quantile_cont((epoch_us(c) - epoch_us(t0)) / 3.6e9, 0.9)
FROM x
"""

# ltv (per signup cohort: revenue from the signup instant on, months 0-11
# since the signup month, before the range's end, per developer of the
# cohort) and ltv / dac, dac being spend per signup.
DUCKDB_CATALOG_LTV = """
WITH f AS (SELECT developer_id AS d, min(ts) AS t0 FROM read_parquet('{events}')
           WHERE event = 'signup' GROUP BY developer_id
           HAVING min(ts) >= TIMESTAMPTZ '2026-01-05' AND min(ts) < TIMESTAMPTZ '2026-05-05'),
rev AS (
  SELECT sum(p.amount) AS amount
  FROM f JOIN read_parquet('{payments}') p ON p.developer_id = f.d
  WHERE p.paid_at >= f.t0 AND p.paid_at < TIMESTAMPTZ '2026-05-05'
    AND p.paid_at < date_trunc('month', f.t0 AT TIME ZONE 'UTC') + INTERVAL 12 MONTH),
spend AS (SELECT sum(amount) AS amount FROM read_parquet('{marketing_spend}')
          WHERE day >= DATE '2026-01-05' AND day < DATE '2026-05-05'),
signups AS (SELECT count(DISTINCT developer_id) AS n FROM read_parquet('{events}')
            WHERE event = 'signup' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05')
SELECT rev.amount / (SELECT count(*) FROM f) AS ltv,
       (rev.amount / (SELECT count(*) FROM f)) / (spend.amount / signups.n) AS ltv_dac_ratio
FROM rev, spend, signups
"""
