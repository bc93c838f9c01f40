#!/usr/bin/env python3
"""Active developers and retention at scale: metricc against the best
hand-written DuckDB SQL for the same numbers, and against the scan of the
columns they read.

    python3 benches/activity.py --metricc target/release/metricc --developers 31000

Two workloads over the example's events: DAU, WAU and MAU (trailing 1, 7 and
30 days) for every day of the 120-day default range, and the `retention`
matrix (weekly signup cohorts, 8 weeks). Generates sample data with
`metricc sample-data` (about 320 events per developer: 31,000 developers is
about 10M events) unless it exists, copies the example project next to it,
checks that both engines give the same numbers, then times each workload as a
fresh process, `--runs` times (the workloads take turns, so a change in the
machine's load hits them alike), and reports medians, ratios measured in the
same run, and peak memory; the table also goes to benches/results/activity.md.
Needs Python with `duckdb` (the CI venv has it) and /usr/bin/time.
"""
import argparse
import csv
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, prepare, timed  # noqa: E402
FROM, TO = "2026-01-05", "2026-05-05"  # the example's default_range; time zone UTC

# DuckDB's time zone functions (CAST(ts AS DATE), date_trunc('week', ts) on a
# TIMESTAMPTZ) go through ICU and cost more than the rest of these queries: on
# 10M events the CAST variant of the active query below took 1.6 s against
# 0.6 s, and date_trunc('week') made retention 3.1 s against 0.4 s. The
# project's time zone is UTC, so the SQL computes UTC day numbers
# (epoch_us(ts) // 86400000000, day 0 = 1970-01-01, a Thursday) and Monday
# weeks ((day + 3) // 7) with integer arithmetic instead, which is exact in UTC.

# `dau`, `wau`, `mau`: for each day D, the developers with an api_call in
# [D + 1 day - W, D + 1 day), W = 1, 7, 30 days. Reduce to distinct
# (developer, day) pairs; an active day d counts on the days [d, d + W - 1],
# of which the developer's previous active day (gap days before) has already
# counted the days before d + max(0, W - gap): so +1 there and -1 at d + W,
# and a running sum over the days gives the number active on each day.
# Variants measured on 10M events (2 cores, best of 5): the same deltas built
# with one unnest of six-element lists instead of the UNION ALL, 0.65 s
# against 0.58 s; a range join of each day with the (developer, day) pairs of
# its trailing 30 days and count(DISTINCT) FILTER per window, 4.7 s.
DUCKDB_ACTIVE = """
WITH d AS (
  SELECT DISTINCT developer_id AS dev, epoch_us(ts) // 86400000000 AS day
  FROM read_parquet('{events}')
  WHERE event = 'api_call'
    AND ts >= TIMESTAMPTZ '2026-01-05' - INTERVAL 29 DAY AND ts < TIMESTAMPTZ '2026-05-05'),
p AS (
  SELECT day, coalesce(day - lag(day) OVER (PARTITION BY dev ORDER BY day), 30) AS gap
  FROM d),
per_day AS (
  SELECT day, sum(d1) AS d1, sum(d7) AS d7, sum(d30) AS d30 FROM (
    SELECT day, 1 AS d1, 0 AS d7, 0 AS d30 FROM p
    UNION ALL SELECT day + 1, -1, 0, 0 FROM p
    UNION ALL SELECT day + greatest(0, 7 - gap), 0, 1, 0 FROM p
    UNION ALL SELECT day + 7, 0, -1, 0 FROM p
    UNION ALL SELECT day + greatest(0, 30 - gap), 0, 0, 1 FROM p
    UNION ALL SELECT day + 30, 0, 0, -1 FROM p)
  GROUP BY day),
days AS (SELECT range AS day FROM range(DATE '2025-12-07' - DATE '1970-01-01',
                                        DATE '2026-05-05' - DATE '1970-01-01')),
run AS (
  SELECT day, sum(coalesce(d1, 0)) OVER w AS dau, sum(coalesce(d7, 0)) OVER w AS wau,
         sum(coalesce(d30, 0)) OVER w AS mau
  FROM days LEFT JOIN per_day USING (day) WINDOW w AS (ORDER BY day))
SELECT strftime(DATE '1970-01-01' + CAST(day AS INTEGER), '%Y-%m-%d'),
       CAST(dau AS BIGINT), CAST(wau AS BIGINT), CAST(mau AS BIGINT)
FROM run WHERE day >= DATE '2026-01-05' - DATE '1970-01-01' ORDER BY day
"""

# The example's `retention`: cohort = each developer's first signup, if it
# falls in the range, by its Monday week; retained in period k = an api_call
# in week cohort + k (k = 0..8), at or after the signup and before the end of
# the range. Per developer and week with a call, the last call of the week
# decides period 0 (a call at or after the signup); later weeks come after it
# anyway. Periods not begun by the end of the range are null, and so are
# those of empty cohort weeks, as metricc reports them.
# Variant measured on 10M events: joining the cohort to every api_call and
# counting distinct developers per (cohort, k), 0.80 s against 0.41 s.
DUCKDB_RETENTION = """
WITH c AS (
  SELECT developer_id AS dev, t0, (epoch_us(t0) // 86400000000 + 3) // 7 AS cw
  FROM (SELECT developer_id, min(ts) AS t0 FROM read_parquet('{events}')
        WHERE event = 'signup' GROUP BY developer_id)
  WHERE t0 >= TIMESTAMPTZ '2026-01-05' AND t0 < TIMESTAMPTZ '2026-05-05'),
aw AS (
  SELECT developer_id AS dev, (epoch_us(ts) // 86400000000 + 3) // 7 AS wk, max(ts) AS last
  FROM read_parquet('{events}')
  WHERE event = 'api_call' AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05'
  GROUP BY 1, 2),
r AS (
  SELECT c.cw, aw.wk - c.cw AS k, count(*) AS retained
  FROM c JOIN aw ON aw.dev = c.dev
  WHERE aw.wk BETWEEN c.cw AND c.cw + 8 AND aw.last >= c.t0
  GROUP BY 1, 2),
s AS (SELECT cw, count(*) AS n FROM c GROUP BY cw),
weeks AS (SELECT range AS cw FROM range((DATE '2026-01-05' - DATE '1970-01-01' + 3) // 7,
                                        (DATE '2026-05-04' - DATE '1970-01-01' + 3) // 7 + 1)),
periods AS (SELECT range AS k FROM range(9))
SELECT strftime(DATE '1970-01-01' + CAST(7 * weeks.cw - 3 AS INTEGER), '%Y-%m-%d') AS cohort,
       periods.k, coalesce(s.n, 0),
       CASE WHEN s.n > 0 AND 7 * (weeks.cw + periods.k) - 3 < DATE '2026-05-05' - DATE '1970-01-01'
            THEN coalesce(r.retained, 0) END
FROM weeks CROSS JOIN periods
LEFT JOIN s ON s.cw = weeks.cw
LEFT JOIN r ON r.cw = weeks.cw AND r.k = periods.k
ORDER BY weeks.cw, periods.k
"""

# Not count(developer_id), ...: DuckDB answers a count of a column from the
# Parquet statistics without reading it (0.00 s on 10M events), and a range
# filter on ts that every row group passes is dropped the same way. Summing
# a function of every value makes it read and decode all three columns.
DUCKDB_SCAN = """
SELECT sum(length(developer_id)), sum(epoch_us(ts)), sum(length(event))
FROM read_parquet('{events}')
"""

# metricc reads ts for the range filter.
SCAN_METRIC = """
metrics:
  scan_floor:
    description: Reads the columns the activity and retention metrics read, nothing more
    owner: bench
    source: events
    measure: count(developer_id) + count(event)
"""


def csv_rows(text):
    """metricc's CSV as tuples: integers where they parse, None for empty fields."""
    def cell(v):
        if v == "":
            return None
        try:
            return int(v)
        except ValueError:
            return v
    return [tuple(cell(v) for v in row) for row in list(csv.reader(text.splitlines()))[1:]]


def same(what, ours, theirs, width):
    """Exit unless metricc's rows (first `width` columns) equal DuckDB's."""
    ours = [row[:width] for row in ours]
    theirs = [tuple(row) for row in theirs]
    if ours != theirs:
        diff = [(a, b) for a, b in zip(ours, theirs) if a != b][:5]
        sys.exit(f"the engines disagree on {what}: {len(ours)} rows from metricc, "
                 f"{len(theirs)} from duckdb; first differences (metricc, duckdb): {diff}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metricc", default=str(ROOT / "target/release/metricc"))
    ap.add_argument("--developers", type=int, default=31000)
    ap.add_argument("--dir", default=str(ROOT / "target/bench"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--results", default=str(ROOT / "benches/results/activity.md"))
    args = ap.parse_args()

    # Its own project next to the data (funnel.py's has another scan_floor).
    project, events, n_events, duckdb_version = prepare(args, "project-activity", SCAN_METRIC)
    metricc_version = subprocess.run(
        [args.metricc, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()

    # The project links to the data directory, outside it: opt in.
    metricc = [args.metricc, "run", "-q", "-p", str(project), "--allow-read",
               str(Path(events).parent), "--format", "csv"]
    duck = lambda sql: [args.python, "-c",
                        "import duckdb,json,sys;duckdb.sql('SET enable_progress_bar=false');"
                        "duckdb.sql(\"SET TimeZone='UTC'\");"
                        "print(json.dumps(duckdb.sql(sys.argv[1]).fetchall()))",
                        sql.format(events=events)]
    workloads = {
        "metricc dau, wau, mau by day": metricc + ["--by", "day", "--from", FROM, "--to", TO,
                                                   "dau", "wau", "mau"],
        "duckdb dau, wau, mau (deltas)": duck(DUCKDB_ACTIVE),
        "metricc retention": metricc + ["retention"],
        "duckdb retention (week pairs)": duck(DUCKDB_RETENTION),
        "metricc scan floor": metricc + ["scan_floor"],
        "duckdb scan floor": duck(DUCKDB_SCAN),
    }
    pairs = [  # (metricc workload, its DuckDB counterpart)
        ("metricc dau, wau, mau by day", "duckdb dau, wau, mau (deltas)"),
        ("metricc retention", "duckdb retention (week pairs)"),
        ("metricc scan floor", "duckdb scan floor"),
    ]

    # Same answers first: every day's dau, wau, mau; every cohort and period's
    # cohort size and retained developers (null where the period had not begun).
    ours = csv_rows(timed(workloads["metricc dau, wau, mau by day"])[2])
    theirs = json.loads(timed(workloads["duckdb dau, wau, mau (deltas)"])[2])
    same("dau, wau, mau", ours, theirs, 4)
    days = (datetime.date.fromisoformat(TO) - datetime.date.fromisoformat(FROM)).days
    if len(ours) != days:
        sys.exit(f"expected {days} days, got {len(ours)}")
    last = ours[-1]
    print(f"dau, wau, mau (both engines): {len(ours)} days, on {last[0]}: {last[1:]}")
    ours = csv_rows(timed(workloads["metricc retention"])[2])
    theirs = json.loads(timed(workloads["duckdb retention (week pairs)"])[2])
    same("retention", ours, theirs, 4)
    cohorts = sorted({row[0] for row in ours})
    print(f"retention (both engines): {len(cohorts)} cohorts, "
          f"{sum(row[2] for row in ours if row[1] == 0):,} developers")

    times = {name: [] for name in workloads}
    peaks = {name: 0.0 for name in workloads}
    for _ in range(args.runs):
        for name, cmd in workloads.items():
            wall, rss, _ = timed(cmd)
            times[name].append(wall)
            peaks[name] = max(peaks[name], rss)
    results = {name: (statistics.median(times[name]), peaks[name]) for name in workloads}
    floor = results["metricc scan floor"][0]
    versus = {m: results[m][0] / results[d][0] for m, d in pairs}

    print(f"\n{'workload':32} {'median s':>9} {'peak MB':>8} {'/ metricc scan':>15} {'metricc / duckdb':>17}")
    lines = ["| workload | median s | peak MB | / metricc scan floor | metricc / duckdb |",
             "|---|---:|---:|---:|---:|"]
    for name, (t, rss) in results.items():
        v = f"{versus[name]:.2f}" if name in versus else ""
        print(f"{name:32} {t:9.2f} {rss:8.0f} {t / floor:15.2f} {v:>17}")
        lines.append(f"| {name} | {t:.2f} | {rss:.0f} | {t / floor:.2f} | {v} |")

    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"# metricc dau/wau/mau and retention against DuckDB "
        f"({datetime.date.today().isoformat()}, {os.cpu_count()} cores, "
        f"{args.runs} runs each, median)\n\n"
        f"{n_events:,} events (`metricc sample-data --developers {args.developers}`); "
        f"{metricc_version} (`{args.metricc}`), DuckDB {duckdb_version}. "
        f"Each workload is a fresh process; peak MB is the largest resident set "
        f"(for DuckDB, of the Python process running it). Both engines gave the same "
        f"numbers for every day and every cohort and period before timing. "
        f"SQL: benches/activity.py.\n\n" + "\n".join(lines) + "\n"
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
