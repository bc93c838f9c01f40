"""What the benchmark scripts share: timing a fresh process, and the
generated data with a copy of the example project beside it."""
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd, env=None):
    """Wall seconds, peak RSS in MB, stdout."""
    t = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    rss = next(
        int(line.split(":")[1]) / 1024
        for line in p.stderr.splitlines()
        if "Maximum resident set size" in line
    )
    return wall, rss, p.stdout


def prepare(args, project_name, scan_metric):
    """Generates `args.developers` developers' data under `args.dir` unless
    it exists, copies the example project to `project_name` beside it with
    `scan_metric` as bench.yaml; returns (project, events file, event count,
    DuckDB version)."""
    base = Path(args.dir) / f"dev{args.developers}"
    data = base / "data"
    if not (data / "events.parquet").exists():
        wall, rss, _ = timed(
            [args.metricc, "sample-data", str(data), "--developers", str(args.developers)]
        )
        print(f"sample-data: {wall:.1f} s, peak {rss:.0f} MB")
    project = base / project_name
    project.mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "metrics").glob("*.yaml"):
        shutil.copy(f, project / f.name)
    (project / "bench.yaml").write_text(scan_metric)
    link = project / "data"
    if not link.exists():
        link.symlink_to(data.resolve())
    events = str((data / "events.parquet").resolve())
    n_events, duckdb_version = json.loads(
        subprocess.run(
            [args.python, "-c",
             f"import duckdb,json;print(json.dumps([duckdb.sql(\"select count(*) from read_parquet('{events}')\").fetchall()[0][0], duckdb.__version__]))"],
            capture_output=True, text=True, check=True,
        ).stdout
    )
    print(f"events: {n_events:,}")
    return project, events, n_events, duckdb_version
