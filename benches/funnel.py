#!/usr/bin/env python3
"""The onboarding funnel at scale: metricc against the best hand-written DuckDB
SQL for the same funnel, and against the scan of the columns it reads.

    python3 benches/funnel.py --metricc target/release/metricc --developers 31000

Generates sample data with `metricc sample-data` (about 320 events per
developer: 31,000 developers is about 10M events) unless it exists, copies
the example project next to it, checks that both engines give the same
numbers, then times each workload as a fresh process, `--runs` times, and
reports medians, ratios measured in the same run, and peak memory.
Needs Python with `duckdb` (the CI venv has it) and /usr/bin/time.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, prepare, timed  # noqa: E402

# The example's `onboarding`: signup -> key -> first call -> first success
# within 14 days, a first call that succeeds counting twice (reuse_events).
# Each signup starts an attempt; each step is the first fitting event at or
# after the step before (ASOF joins); per developer the best attempt counts.
DUCKDB_FUNNEL = """
WITH e AS (SELECT developer_id AS d, ts, event, status FROM read_parquet('{events}')),
s AS (SELECT d, ts AS t1 FROM e WHERE event = 'signup'
      AND ts >= TIMESTAMPTZ '2026-01-05' AND ts < TIMESTAMPTZ '2026-05-05'),
k AS (SELECT d, ts FROM e WHERE event = 'api_key_created'),
c AS (SELECT d, ts FROM e WHERE event = 'api_call'),
ok AS (SELECT d, ts FROM e WHERE event = 'api_call' AND status < 400),
a2 AS (SELECT s.d, s.t1, k.ts AS t2 FROM s ASOF LEFT JOIN k ON s.d = k.d AND k.ts >= s.t1),
a3 AS (SELECT a2.*, c.ts AS t3 FROM a2 ASOF LEFT JOIN c ON a2.d = c.d AND c.ts >= a2.t2),
a4 AS (SELECT a3.*, ok.ts AS t4 FROM a3 ASOF LEFT JOIN ok ON a3.d = ok.d AND ok.ts >= a3.t3),
lv AS (
  SELECT d, max(CASE WHEN t4 <= t1 + INTERVAL 14 DAY THEN 4
                     WHEN t3 <= t1 + INTERVAL 14 DAY THEN 3
                     WHEN t2 <= t1 + INTERVAL 14 DAY THEN 2 ELSE 1 END) AS level
  FROM a4 GROUP BY d)
SELECT count(*) FILTER (level >= 1), count(*) FILTER (level >= 2),
       count(*) FILTER (level >= 3), count(*) FILTER (level >= 4)
FROM lv
"""

# count(col) would be answered from Parquet metadata alone: read every value.
DUCKDB_SCAN = """
SELECT sum(length(developer_id)), sum(epoch_us(ts)), sum(length(event)), sum(status)
FROM read_parquet('{events}')
"""

SCAN_METRIC = """
metrics:
  scan_floor:
    description: Reads the columns the onboarding funnel reads, nothing more
    owner: bench
    source: events
    measure: count(developer_id) + count(event) + count(status)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metricc", default=str(ROOT / "target/release/metricc"))
    ap.add_argument("--developers", type=int, default=31000)
    ap.add_argument("--dir", default=str(ROOT / "target/bench"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()

    project, events, n_events, _ = prepare(args, "project", SCAN_METRIC)

    # The project links to the data directory, outside it: opt in.
    metricc = [args.metricc, "run", "-q", "-p", str(project), "--allow-read",
               str(Path(events).parent), "--format", "json"]
    duck = lambda sql: [args.python, "-c",
                        "import duckdb,json,sys;duckdb.sql('SET enable_progress_bar=false');"
                        "print(json.dumps(duckdb.sql(sys.argv[1]).fetchall()))",
                        sql.format(events=events)]
    workloads = {
        "metricc onboarding": metricc + ["onboarding"],
        "duckdb onboarding (ASOF joins)": duck(DUCKDB_FUNNEL),
        "metricc scan floor": metricc + ["scan_floor"],
        "duckdb scan floor": duck(DUCKDB_SCAN),
    }

    # Same answers first.
    ours = json.loads(timed(workloads["metricc onboarding"])[2])
    ours = [row["entities"] for row in ours]
    theirs = json.loads(timed(workloads["duckdb onboarding (ASOF joins)"])[2])[0]
    if ours != theirs:
        sys.exit(f"the engines disagree: metricc {ours}, duckdb {theirs}")
    print(f"entities per step (both engines): {ours}")

    results = {}
    for name, cmd in workloads.items():
        runs = [timed(cmd) for _ in range(args.runs)]
        results[name] = (
            statistics.median(r[0] for r in runs),
            max(r[1] for r in runs),
        )
    floor = results["metricc scan floor"][0]
    duck_t = results["duckdb onboarding (ASOF joins)"][0]
    print(f"\n{'workload':34} {'median s':>9} {'peak MB':>8} {'/ metricc scan':>15} {'/ duckdb funnel':>16}")
    for name, (t, rss) in results.items():
        print(f"{name:34} {t:9.2f} {rss:8.0f} {t / floor:15.2f} {t / duck_t:16.2f}")


if __name__ == "__main__":
    main()
