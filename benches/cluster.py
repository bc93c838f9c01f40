#!/usr/bin/env python3
"""The whole example, local against a Ballista cluster on this machine.

    cargo build --release --features distributed
    python3 benches/cluster.py --metricc target/release/metricc [--sizes 10M,100M]

For each size and shape (the suite's: "few" developers with about 385
events each, "many" with 8.5 each), it generates the data with `metricc
sample-data` when it is missing, starts a `metricc scheduler` and two
`metricc executor` processes of one task each (two cores in all, as a local
run on a 2-core machine), and runs the whole example by week, local and on
the cluster, paired, `--runs` times. It checks that both print the same
bytes, and writes benches/results/cluster.md:

- wall time and peak memory of each side, and their ratio (one machine
  shows the cluster's overhead, not a speed-up);
- the peak memory of the scheduler and of each executor (VmHWM, over all
  runs of a size);
- the shuffle each run wrote: the bytes of the executors' work
  directories, per job (one per result table) and per stage, and the
  largest stage.

Needs GNU time (/usr/bin/time).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import timed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1M": 2600, "10M": 26000, "100M": 260000}
MANY = {"1M": 118000, "10M": 1180000, "100M": 11800000}
MANY_EVENTS_PER_DEVELOPER = "8.5"
TABLES = ["events", "page_views", "payments", "marketing_spend", "survey_answers", "support_tickets",
          "developers"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, proc):
    started = time.time()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"a cluster process exited with {proc.returncode}")
            if time.time() - started > 60:
                sys.exit(f"nothing listens on {port} after 60 s")
            time.sleep(0.1)


def peak_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sizes_below(path):
    """Bytes of each job directory below an executor's work directory, per stage."""
    out = {}
    if not path.exists():
        return out
    for job in path.iterdir():
        if not job.is_dir():
            continue
        for stage in job.iterdir():
            if stage.is_dir():
                total = sum(f.stat().st_size for f in stage.rglob("*") if f.is_file())
                out[(job.name, stage.name)] = total
    return out


def data_dir(base, size, shape, metricc):
    if shape == "few":
        gen = ["--developers", str(SIZES[size])]
        data = base / f"dev{SIZES[size]}" / "data"
    else:
        gen = ["--developers", str(MANY[size]), "--events-per-developer", MANY_EVENTS_PER_DEVELOPER]
        data = base / f"dev{MANY[size]}-epd{MANY_EVENTS_PER_DEVELOPER}" / "data"
    if not all((data / f"{t}.parquet").exists() for t in TABLES):
        wall, rss, _ = timed([metricc, "sample-data", str(data), *gen])
        print(f"[{size} {shape}] sample-data: {wall:.1f} s, peak {rss:.0f} MB")
    return data


def project(work, data):
    path = work / "project"
    path.mkdir(exist_ok=True)
    for f in (ROOT / "metrics").glob("*.yaml"):
        shutil.copy(f, path / f.name)
    link = path / "data"
    if not link.exists():
        link.symlink_to(data.resolve())
    return path


def mb(n):
    return f"{n / 2**20:,.1f} MB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metricc", required=True, help="a release metricc built with --features distributed")
    ap.add_argument("--sizes", default="10M")
    ap.add_argument("--shapes", default="few,many")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--dir", default=str(ROOT / "target/bench"))
    ap.add_argument("--results", default=str(ROOT / "benches/results/cluster.md"))
    ap.add_argument("--memory-limit", help="`run --memory-limit` of the local run (and of the client)")
    ap.add_argument("--executor-memory-limit", help="`executor --memory-limit` of each executor")
    args = ap.parse_args()
    metricc = str(Path(args.metricc).resolve())
    rows, stages_text = [], []
    for size in args.sizes.split(","):
        for shape in args.shapes.split(","):
            data = data_dir(Path(args.dir), size, shape, metricc)
            events_mb = (data / "events.parquet").stat().st_size / 2**20
            with tempfile.TemporaryDirectory(prefix="metricc-cluster-bench-") as tmp:
                work = Path(tmp)
                proj = project(work, data)
                procs = []
                try:
                    sport = free_port()
                    sched = subprocess.Popen([metricc, "scheduler", "--bind", f"127.0.0.1:{sport}"],
                                             stdout=subprocess.DEVNULL, stderr=open(work / "scheduler.log", "w"))
                    procs.append(sched)
                    wait_for(sport, sched)
                    dirs = []
                    for i in range(2):
                        d = work / f"executor{i}"
                        d.mkdir()
                        dirs.append(d)
                        flight, grpc = free_port(), free_port()
                        p = subprocess.Popen(
                            [metricc, "executor", "--scheduler", f"127.0.0.1:{sport}",
                             "--bind", f"127.0.0.1:{flight}", "--grpc-port", str(grpc),
                             "--concurrent-tasks", "1", "--work-dir", str(d),
                             *(["--memory-limit", args.executor_memory_limit]
                               if args.executor_memory_limit else [])],
                            stdout=subprocess.DEVNULL, stderr=open(work / f"executor{i}.log", "w"))
                        procs.append(p)
                        wait_for(flight, p)
                    time.sleep(1)
                    base = [metricc, "run", "-q", "-p", str(proj), "--allow-read", str(data.resolve()),
                            "--by", "week", "--format", "csv"]
                    if args.memory_limit:
                        base += ["--memory-limit", args.memory_limit]
                    for r in range(args.runs):
                        lw, lrss, lout = timed(base)
                        before = [sizes_below(d) for d in dirs]
                        cw, crss, cout = timed([*base, "--cluster", f"df://127.0.0.1:{sport}"])
                        after = [sizes_below(d) for d in dirs]
                        if lout != cout:
                            sys.exit(f"[{size} {shape}] the cluster printed other numbers than the local run")
                        per_stage = {}
                        for b, a in zip(before, after):
                            for k, v in a.items():
                                if k not in b:
                                    per_stage[k] = per_stage.get(k, 0) + v
                        shuffle = sum(per_stage.values())
                        jobs = len({j for j, _ in per_stage})
                        largest = max(per_stage.items(), key=lambda kv: kv[1], default=(("-", "-"), 0))
                        print(f"[{size} {shape}] run {r + 1}: local {lw:.1f} s {lrss:.0f} MB, "
                              f"cluster {cw:.1f} s (client {crss:.0f} MB), shuffle {mb(shuffle)} "
                              f"in {jobs} jobs, {len(per_stage)} stages")
                        rows.append((size, shape, events_mb, r + 1, lw, cw, lrss, crss, shuffle, jobs,
                                     len(per_stage), largest[1]))
                        if r == args.runs - 1:
                            top = sorted(per_stage.items(), key=lambda kv: -kv[1])[:5]
                            stages_text.append(
                                f"- {size} {shape}: " + ", ".join(f"{mb(v)}" for _, v in top))
                    peaks = [peak_mb(p.pid) for p in procs]
                    rows.append((size, shape, "peaks", peaks))
                finally:
                    for p in procs:
                        p.kill()
                        p.wait()
    lines = ["# The example on a Ballista cluster on one machine", "",
             "`python3 benches/cluster.py` (see its docstring). Whole example by week, local run",
             "against `run --cluster` to a `metricc scheduler` and two `metricc executor`",
             "processes of one task each, paired runs; both printed the same bytes.", "",
             "| size | shape | events.parquet | run | local | cluster | cluster / local | local peak | client peak | shuffle written | jobs | stages | largest stage |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    peaks_lines = []
    for row in rows:
        if row[2] == "peaks":
            size, shape, _, peaks = row
            peaks_lines.append(f"- {size} {shape}: scheduler {peaks[0]:.0f} MB, executors "
                               + ", ".join(f"{p:.0f} MB" for p in peaks[1:]))
            continue
        size, shape, emb, r, lw, cw, lrss, crss, shuffle, jobs, nst, largest = row
        lines.append(f"| {size} | {shape} | {emb:.0f} MB | {r} | {lw:.1f} s | {cw:.1f} s | {cw / lw:.2f}x | "
                     f"{lrss:.0f} MB | {crss:.0f} MB | {mb(shuffle)} | {jobs} | {nst} | {mb(largest)} |")
    lines += ["", "Peak memory of the cluster's processes over all runs of a size (VmHWM):", "", *peaks_lines,
              "", "The five largest stages of the last run (shuffle bytes written):", "", *stages_text, ""]
    Path(args.results).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
