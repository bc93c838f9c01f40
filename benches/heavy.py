#!/usr/bin/env python3
"""One entity with millions of events: memory per entity.

    python3 benches/heavy.py --metricc target/release/metricc \\
        --developers 2600 --heavy-calls 10000000 --limits 256M,1G,2G

Generates sample data with one extra developer, `dev_heavy`, who makes
`--heavy-calls` API calls (`metricc sample-data --heavy-developer-calls`),
unless it exists; checks that metricc and DuckDB's hand-written funnel (the
ASOF joins of benches/funnel.py) give the same onboarding funnel; then times
the funnel in each engine without a limit and under each memory limit, as
fresh processes, `--runs` times, and reports medians, peak memory and the
ratio to DuckDB under the same limit. Needs Python with `duckdb` and
/usr/bin/time.
"""
import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402
from funnel import DUCKDB_FUNNEL  # noqa: E402

DUCK = """
import duckdb, json, sys
duckdb.sql('SET enable_progress_bar=false')
if sys.argv[2]:
    duckdb.sql(f"SET memory_limit='{sys.argv[2]}'")
print(json.dumps(duckdb.sql(sys.argv[1]).fetchall()))
"""


def timed(cmd):
    """Wall seconds, peak RSS in MB, stdout; None when the command fails."""
    import time
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        return None
    rss = next(int(line.split(":")[1]) / 1024 for line in p.stderr.splitlines()
               if "Maximum resident set size" in line)
    return wall, rss, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metricc", default=str(ROOT / "target/release/metricc"))
    ap.add_argument("--developers", type=int, default=2600)
    ap.add_argument("--heavy-calls", type=int, default=10_000_000)
    ap.add_argument("--limits", default="256M,1G,2G")
    ap.add_argument("--dir", default=str(ROOT / "target/bench"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()

    base = Path(args.dir) / f"dev{args.developers}-heavy{args.heavy_calls}"
    data = base / "data"
    if not (data / "events.parquet").exists():
        subprocess.run([args.metricc, "sample-data", str(data), "--developers",
                        str(args.developers), "--heavy-developer-calls",
                        str(args.heavy_calls)], check=True, capture_output=True)
    project = base / "project"
    project.mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "metrics").glob("*.yaml"):
        shutil.copy(f, project / f.name)
    link = project / "data"
    if not link.exists():
        link.symlink_to(data.resolve())
    events = str((data / "events.parquet").resolve())

    def metricc(limit):
        cmd = [args.metricc, "run", "-q", "-p", str(project), "--allow-read",
               str(data.resolve()), "--format", "json", "onboarding"]
        return cmd + (["--memory-limit", limit] if limit else [])

    def duck(limit):
        duck_limit = limit.replace("G", "GB").replace("M", "MB") if limit else ""
        return [args.python, "-c", DUCK, DUCKDB_FUNNEL.format(events=events), duck_limit]

    free = timed(metricc(""))
    ours = [row["entities"] for row in json.loads(free[2])]
    theirs = json.loads(timed(duck(""))[2])[0]
    if ours != theirs:
        sys.exit(f"the engines disagree: metricc {ours}, duckdb {theirs}")
    print(f"entities per step (both engines): {ours}; dev_heavy has "
          f"{args.heavy_calls:,} API calls")

    print(f"\n{'limit':>6} {'metricc s':>10} {'peak MB':>8} {'duckdb s':>9} {'peak MB':>8} "
          f"{'metricc / duckdb':>17}")
    for limit in [""] + args.limits.split(","):
        row = []
        for cmd in (metricc(limit), duck(limit)):
            runs = [timed(cmd) for _ in range(args.runs)]
            if any(r is None for r in runs):
                row.append(None)
            else:
                row.append((statistics.median(r[0] for r in runs), max(r[1] for r in runs)))
        cell = lambda r: f"{r[0]:10.2f} {r[1]:8.0f}" if r else f"{'fails':>10} {'':>8}"  # noqa: E731
        ratio = f"{row[0][0] / row[1][0]:17.2f}" if row[0] and row[1] else f"{'-':>17}"
        print(f"{limit or 'none':>6} {cell(row[0])} {cell(row[1])[1:]} {ratio}")


if __name__ == "__main__":
    main()
