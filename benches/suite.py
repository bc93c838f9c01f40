#!/usr/bin/env python3
"""The benchmark suite: metricc against DuckDB and ClickHouse (chDB) on the
same Parquet files, side by side in one run. Start it with benches/run.sh,
which builds metricc (release) and makes a Python environment with the peers.

    python3 benches/suite.py --metricc PATH --python VENV_PYTHON [--sizes 1M,10M[,100M]] [--shapes few,many]

Every size comes in two shapes of data: "few" entities with many events each
(`sample-data --developers N`, about 385 events per developer) and "many"
entities with few events each (`--events-per-developer 8.5`, ten times as
many developers per event as most API products have). For each size and
shape it generates the example's sources with `metricc sample-data`, copies the example project next to them,
checks that every engine gives the same answers, then times each workload as
a fresh process, `--runs` times in turns (so a change in the machine's load
hits all engines alike), and reports medians, peak memory, metricc's ratio
to the fastest peer and to its own scan floor. The table goes to stdout and
to benches/results/suite.md; `metricc check` on generated projects of 100 to
10,000 metrics (benches/check_scale.sh) is appended.

Workloads (all over the example's default_range, UTC):
- scan floor: read the entity, time and event columns of every event;
- endpoints: requests, error rate and p99 latency per endpoint and day;
- latency: p50, p95 and p99 latency per day (three points of one column);
- period over period: signups per week and their growth over the week before
  (against DuckDB);
- entity attributes: API calls per week and per the plan of their developer
  at each call, from the developers table's versions (against DuckDB's ASOF
  LEFT JOIN);
- conversion: developers whose most recent API key is followed by a
  successful call within a day (against DuckDB's ASOF join);
- onboarding funnel: developers at each of 4 steps within 14 days;
- the same funnel as two numbers (entered, converted), which is what the
  peers' queries compute (the step table also gives hours between steps);
- dau, wau, mau for every day of the range;
- weekly retention: signup-week cohorts, 9 periods;
- time to first call: median and p90 hours from signup to the first API
  call (against DuckDB; ClickHouse has no query of it here);
- the whole example project: one `metricc run` of its 56 metrics (the
  metrics table, the onboarding steps, the retention matrix and the LTV
  table) against DuckDB running its queries for the same numbers one after
  another in one process. chDB is not timed on it (its five workloads above
  are).
At 100M events every engine gets a 2 GB memory limit (`--memory-limit 2G`,
`SET memory_limit`, `max_memory_usage`): metricc spills where it must.
"""
import argparse
import csv
import datetime
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402
from common import ROOT, timed  # noqa: E402

SIZES = {"1M": 2600, "10M": 26000, "100M": 260000}
# The "many" shape: developers and events per developer for the same sizes.
MANY = {"1M": 118000, "10M": 1180000, "100M": 11800000}
MANY_EVENTS_PER_DEVELOPER = "8.5"
SHAPES = {"few": "few entities, many events each", "many": "many entities, few events each"}
SOURCES = ["events", "page_views", "payments", "marketing_spend", "survey_answers", "support_tickets",
           "developers"]
SCAN_METRIC = """metrics:
  scan_floor:
    description: Reads the entity, time and event columns of every event, nothing more
    owner: bench
    source: events
    measure: count(developer_id) + count(event)
""" + "".join(f"""
  onboarding_{value}:
    description: The onboarding funnel, developers that {value} (a number, not the step table)
    owner: bench
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - api_key: event = 'api_key_created'
        - first_call: event = 'api_call'
        - first_success: event = 'api_call' and status < 400
      within: 14d
      reuse_events: true
      value: {value}
""" for value in ("entered", "converted")) + """
  key_to_success_conversion:
    description: Of developers who created an API key, the share whose most recent key was followed by a successful API call within a day
    owner: bench
    source: events
    conversion:
      base: event = 'api_key_created'
      conversion: event = 'api_call' and status < 400
      within: 1d
      count: entities

  developers_retrying:
    description: Developers with a server error followed by another call within a minute
    owner: bench
    source: events
    sequence:
      conditions:
        - failed: event = 'api_call' and status >= 500
        - call: event = 'api_call'
      pattern: (?failed)(?t<=1m)(?call)
"""

# A peer runs as `python -c RUNNER ARGS`: DuckDB takes a JSON list of SQL
# statements and prints the rows of each SELECT; chDB takes one query.
DUCK_RUNNER = """
import duckdb, json, sys
con = duckdb.connect()
con.sql("SET enable_progress_bar=false"); con.sql("SET TimeZone='UTC'")
if sys.argv[2]: con.sql(f"SET memory_limit='{sys.argv[2]}'")
out = []
for q in json.loads(sys.argv[1]):
    r = con.sql(q)
    if r is not None:
        out.append({"columns": r.columns, "rows": r.fetchall()})
print(json.dumps(out, default=str))
"""
CH_RUNNER = """
import chdb, json, sys
settings = f" SETTINGS max_memory_usage = {sys.argv[2]}" if sys.argv[2] else ""
r = chdb.query(sys.argv[1] + settings, "JSONCompact")
print(json.dumps([{"rows": json.loads(r.data())["data"]}]))
"""


class Failed(Exception):
    """A command failed; the message is the error line of its stderr."""


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        lines = p.stderr.strip().splitlines()
        errors = [l for l in lines if re.search(r"Error|Exception|error\[|^E\d{4}", l)]
        why = (errors or lines or [f"exit {p.returncode}"])[-1].strip()
        raise Failed(why[:240])
    return p.stdout


FAILURES = []  # (size, workload, engine, why): peers that could not run a workload


def check_peer(sz, name, cmds, engine, check):
    """Runs `check` for a peer; a peer that fails (out of memory at 100M, say)
    is left out of that workload's timing and reported, not fatal."""
    try:
        check()
    except Failed as e:
        FAILURES.append((sz.label, name, engine, str(e)))
        print(f"[{sz.label}] {engine} failed on {name}: {e}")
        del cmds[engine]


def csv_rows(text):
    rows = list(csv.reader(text.splitlines()))
    return [tuple(cell(v) for v in r) for r in rows[1:]]


def cell(v):
    """Numbers as numbers, empty as None: metricc's CSV and the peers' JSON alike."""
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)):
        return v
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def same_value(a, b):
    a, b = cell(a), cell(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return a == b


def agree(what, ours, theirs, engine):
    """Exits unless two lists of rows are equal cell by cell (numbers to 1e-9)."""
    ours = [tuple(r) for r in ours]
    theirs = [tuple(r) for r in theirs]
    bad = [(a, b) for a, b in zip(ours, theirs)
           if len(a) != len(b) or not all(same_value(x, y) for x, y in zip(a, b))]
    if len(ours) != len(theirs) or bad:
        sys.exit(f"{what}: metricc and {engine} disagree ({len(ours)} against {len(theirs)} rows); "
                 f"first differences (metricc, {engine}): {bad[:3]}")


class Size:
    """One data size: its files, projects and the commands of each workload."""

    def __init__(self, args, size, shape):
        self.args, self.size, self.shape = args, size, shape
        self.label = f"{size} {shape}"
        label = self.label
        if shape == "few":
            self.developers = SIZES[size]
            base = Path(args.dir) / f"dev{self.developers}"
            self.generate = ["--developers", str(self.developers)]
        else:
            self.developers = MANY[size]
            base = Path(args.dir) / f"dev{self.developers}-epd{MANY_EVENTS_PER_DEVELOPER}"
            self.generate = ["--developers", str(self.developers),
                             "--events-per-developer", MANY_EVENTS_PER_DEVELOPER]
        self.data = base / "data"
        # Generated again when a table is missing, or the developers table
        # predates its visitor_id column; the other tables come out the same.
        if not all((self.data / f"{s}.parquet").exists() for s in SOURCES) or not has_column(
                args.python, self.data / "developers.parquet", "visitor_id"):
            wall, rss, _ = timed([args.metricc, "sample-data", str(self.data), *self.generate])
            print(f"[{label}] sample-data: {wall:.1f} s, peak {rss:.0f} MB")
        self.catalog = self.project(base / "suite-catalog", None)
        self.scan = self.project(base / "suite-scan", SCAN_METRIC)
        self.paths = {s: str((self.data / f"{s}.parquet").resolve()) for s in SOURCES}
        self.limit = args.memory_limit if size == "100M" else None
        self.events = int(json.loads(run(self.duck([peers.DUCKDB_SCAN])))[0]["rows"][0][0])
        print(f"[{label}] {self.events:,} events in {self.data}")

    def project(self, path, extra):
        path.mkdir(parents=True, exist_ok=True)
        for f in (ROOT / "metrics").glob("*.yaml"):
            shutil.copy(f, path / f.name)
        if extra:
            (path / "bench.yaml").write_text(extra)
        link = path / "data"
        if not link.exists():
            link.symlink_to(self.data.resolve())
        return path

    def metricc(self, project, *args):
        # The projects link to the data directory, outside them: opt in.
        cmd = [self.args.metricc, "run", "-q", "-p", str(project),
               "--allow-read", str(self.data.resolve()), *args]
        if self.limit:
            cmd += ["--memory-limit", self.limit]
        return cmd

    def duck(self, queries, limit=True):
        sql = [q.format(**self.paths) for q in queries]
        limit = self.limit.replace("G", "GB") if self.limit and limit else ""
        return [self.args.python, "-c", DUCK_RUNNER, json.dumps(sql), limit]

    def ch(self, query):
        limit = str(parse_bytes(self.limit)) if self.limit else ""
        return [self.args.python, "-c", CH_RUNNER, query.format(**self.paths), limit]


def grid_agree(what, ours, cmd, engine, key, empty):
    """metricc's (bucket, value) grid against a peer that reports only the
    cells with rows: the cells the peer has agree, the others hold `empty`."""
    theirs = sorted((tuple(r) for r in peer_rows(run(cmd[engine]))), key=key)
    have = {key(r) for r in theirs}
    if any(r[2] != empty for r in ours if key(r) not in have):
        sys.exit(f"{what}: metricc has rows {engine} lacks")
    agree(what, sorted((r for r in ours if key(r) in have), key=key), theirs, engine)


def has_column(python, parquet, column):
    code = ("import duckdb, sys; print(duckdb.sql(f\"SELECT count(*) FROM (DESCRIBE SELECT * FROM "
            "read_parquet('{sys.argv[1]}')) WHERE column_name = '{sys.argv[2]}'\").fetchall()[0][0])")
    return run([python, "-c", code, str(parquet), column]).strip() == "1"


def parse_bytes(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * units[s[-1].upper()]) if s[-1].upper() in units else int(s)


def peer_rows(out, i=0):
    return json.loads(out)[i]["rows"]


def workloads(sz):
    """name -> {engine: command}, after checking every engine's answers."""
    csvm = lambda *a: sz.metricc(sz.catalog, "--format", "csv", *a)  # noqa: E731
    w = {}

    # Scan floor: every engine reads all rows.
    name = "scan floor (entity, time, event)"
    scan = {"metricc": sz.metricc(sz.scan, "--format", "csv", "scan_floor"),
            "duckdb": sz.duck([peers.DUCKDB_SCAN]), "chdb": sz.ch(peers.CH_SCAN)}
    n = csv_rows(run(scan["metricc"]))[0][0] // 2
    for engine in ("duckdb", "chdb"):
        check_peer(sz, name, scan, engine, lambda: agree(
            "scan floor rows", [(n,)], [(peer_rows(run(scan[engine]))[0][0],)], engine))
    w[name] = scan

    # Per endpoint and day. metricc reports every (day, endpoint) pair that
    # has a row in the source, plus empty ones on its grid: compare the pairs
    # the peers report, and check the rest are empty.
    cmd = {"metricc": csvm("--by", "day", "--group-by", "endpoint", "requests", "error_rate", "latency_p99"),
           "duckdb": sz.duck([peers.DUCKDB_ENDPOINTS]), "chdb": sz.ch(peers.CH_ENDPOINTS)}
    ours = csv_rows(run(cmd["metricc"]))
    key = lambda r: (r[0], "" if r[1] is None else r[1])  # noqa: E731
    name = "endpoints: requests, error rate, p99 by day"

    def endpoints(engine):
        theirs = sorted((tuple(r) for r in peer_rows(run(cmd[engine]))), key=key)
        have = {key(r) for r in theirs}
        extra = [r for r in ours if key(r) not in have]
        if any(r[2] != 0 for r in extra):
            sys.exit(f"endpoints: metricc has rows {engine} lacks: {extra[:3]}")
        agree("endpoints", sorted((r for r in ours if key(r) in have), key=key), theirs, engine)
    for engine in ("duckdb", "chdb"):
        check_peer(sz, name, cmd, engine, lambda: endpoints(engine))
    print(f"[{sz.label}] endpoints agree: {len(ours)} day x endpoint rows")
    w[name] = cmd

    # Latency percentiles per day: three points of one column. Days without
    # calls are on metricc's grid (empty) and not in the peers' answers.
    cmd = {"metricc": csvm("--by", "day", "latency_p50", "latency_p95", "latency_p99"),
           "duckdb": sz.duck([peers.DUCKDB_LATENCY]), "chdb": sz.ch(peers.CH_LATENCY)}
    ours = csv_rows(run(cmd["metricc"]))
    name = "latency p50, p95, p99 by day"

    def latency(engine):
        theirs = [tuple(r) for r in peer_rows(run(cmd[engine]))]
        have = {r[0] for r in theirs}
        if any(r[1] is not None for r in ours if r[0] not in have):
            sys.exit(f"latency: metricc has days with calls that {engine} lacks")
        agree("latency", [r for r in ours if r[0] in have], theirs, engine)
    for engine in ("duckdb", "chdb"):
        check_peer(sz, name, cmd, engine, lambda: latency(engine))
    print(f"[{sz.label}] latency percentiles agree on {len(ours)} days")
    w[name] = cmd

    # Period over period: signups by week and their growth week over week,
    # against DuckDB.
    cmd = {"metricc": csvm("--by", "week", "signups", "signups_wow"),
           "duckdb": sz.duck([peers.DUCKDB_WOW])}
    ours = csv_rows(run(cmd["metricc"]))
    name = "signups by week, growth week over week"
    check_peer(sz, name, cmd, "duckdb", lambda: agree(
        "week over week", ours, [tuple(r) for r in peer_rows(run(cmd["duckdb"]))], "duckdb"))
    print(f"[{sz.label}] week over week agrees on {len(ours)} weeks")
    w[name] = cmd

    # Entity attributes: API calls by week and by the plan of their
    # developer at each call (the developers table's versions), against
    # DuckDB's ASOF LEFT JOIN. metricc's grid also has the (week, plan)
    # pairs without calls: compare the pairs DuckDB reports, check the rest
    # are empty.
    cmd = {"metricc": csvm("--by", "week", "--group-by", "developer.plan", "requests"),
           "duckdb": sz.duck([peers.DUCKDB_BY_PLAN])}
    ours = csv_rows(run(cmd["metricc"]))
    name = "requests by week and plan at each call"

    check_peer(sz, name, cmd, "duckdb", lambda: grid_agree("by plan", ours, cmd, "duckdb", key, 0))
    print(f"[{sz.label}] requests by plan agree on {len(ours)} week x plan rows")
    w[name] = cmd

    # A sequence pattern (the bench project's): developers with a server
    # error retried within a minute, by week, against ClickHouse's
    # sequenceMatch and a DuckDB window query.
    cmd = {"metricc": sz.metricc(sz.scan, "--format", "csv", "--by", "week", "developers_retrying"),
           "duckdb": sz.duck([peers.DUCKDB_RETRIED]), "chdb": sz.ch(peers.CH_RETRIED)}
    ours = [r for r in csv_rows(run(cmd["metricc"]))]
    name = "sequence: server error retried within a minute, by week"
    for engine in ("duckdb", "chdb"):
        check_peer(sz, name, cmd, engine, lambda: agree(
            "sequence", ours, [tuple(r) for r in peer_rows(run(cmd[engine]))], engine))
    print(f"[{sz.label}] sequence agrees on {len(ours)} weeks")
    w[name] = cmd

    # A conversion metric over many events (the bench project's, not the
    # example's): developers whose most recent key is followed by a
    # successful call within a day, against DuckDB's ASOF join.
    cmd = {"metricc": sz.metricc(sz.scan, "--format", "csv", "key_to_success_conversion"),
           "duckdb": sz.duck([peers.DUCKDB_CONVERSION])}
    ours = [tuple(csv_rows(run(cmd["metricc"]))[0])]
    name = "conversion: key to successful call within a day"
    check_peer(sz, name, cmd, "duckdb", lambda: agree(
        "conversion", ours, [tuple(peer_rows(run(cmd["duckdb"]))[0])], "duckdb"))
    print(f"[{sz.label}] conversion agrees: {ours[0]}")
    w[name] = cmd

    # A conversion across two sources (the example's): docs page views of
    # a visitor to the signup of the developer it became, within 7 days, by
    # week and channel, against DuckDB's ASOF joins. metricc's grid also has
    # (week, channel) pairs without views: they must be empty.
    cmd = {"metricc": csvm("--by", "week", "docs_to_signup_rate"),
           "duckdb": sz.duck([peers.DUCKDB_DOCS_SIGNUP])}
    ours = csv_rows(run(cmd["metricc"]))
    name = "conversion across two sources: docs view to signup within 7 days, by week and channel"

    check_peer(sz, name, cmd, "duckdb", lambda: grid_agree("docs to signup", ours, cmd, "duckdb", key, None))
    print(f"[{sz.label}] docs to signup agrees on {len(ours)} week x channel rows")
    w[name] = cmd

    # Onboarding funnel: developers at each step.
    cmd = {"metricc": csvm("onboarding"), "duckdb": sz.duck([peers.DUCKDB_FUNNEL]),
           "chdb": sz.ch(peers.CH_FUNNEL)}
    ours = [tuple(r[2] for r in csv_rows(run(cmd["metricc"])))]
    name = "onboarding funnel, 4 steps"
    for engine in ("duckdb", "chdb"):
        check_peer(sz, name, cmd, engine, lambda: agree(
            "onboarding", ours, [tuple(peer_rows(run(cmd[engine]))[0])], engine))
    print(f"[{sz.label}] onboarding agrees: {ours[0]}")
    w[name] = cmd

    # The same funnel as two numbers, entered and converted: what the peers'
    # queries compute, without the step table's hours between steps (which
    # need a row per developer).
    steps = ours[0]
    cmd = {"metricc": sz.metricc(sz.scan, "--format", "csv", "onboarding_entered", "onboarding_converted"),
           "duckdb": sz.duck([peers.DUCKDB_FUNNEL]), "chdb": sz.ch(peers.CH_FUNNEL)}
    counts = [tuple(csv_rows(run(cmd["metricc"]))[0])]
    agree("onboarding counts", counts, [(steps[0], steps[3])], "metricc step table")
    name = "onboarding funnel, entered and converted"
    print(f"[{sz.label}] onboarding counts agree: {counts[0]}")
    w[name] = cmd

    # dau, wau, mau for every day.
    cmd = {"metricc": csvm("--by", "day", "dau", "wau", "mau"),
           "duckdb": sz.duck([peers.DUCKDB_ACTIVE]), "chdb": sz.ch(peers.CH_ACTIVE)}
    ours = csv_rows(run(cmd["metricc"]))
    name = "dau, wau, mau for each day"
    for engine in ("duckdb", "chdb"):
        check_peer(sz, name, cmd, engine, lambda: agree(
            "dau, wau, mau", ours, peer_rows(run(cmd[engine])), engine))
    print(f"[{sz.label}] dau/wau/mau agree on {len(ours)} days")
    w[name] = cmd

    # Weekly retention: cohort size and retained per cohort and period.
    cmd = {"metricc": csvm("retention"), "duckdb": sz.duck([peers.DUCKDB_RETENTION]),
           "chdb": sz.ch(peers.CH_RETENTION)}
    ours = [r[:4] for r in csv_rows(run(cmd["metricc"]))]
    name = "weekly retention, 9 periods"
    for engine in ("duckdb", "chdb"):
        check_peer(sz, name, cmd, engine, lambda: agree(
            "retention", ours, peer_rows(run(cmd[engine])), engine))
    print(f"[{sz.label}] retention agrees on {len(ours)} cohort x period cells")
    w[name] = cmd

    # Time to first call: median and p90, against DuckDB.
    cmd = {"metricc": csvm("ttfc_median", "ttfc_p90"), "duckdb": sz.duck([peers.DUCKDB_TTFC])}
    ours = [tuple(csv_rows(run(cmd["metricc"]))[0])]
    name = "time to first call, median and p90"
    check_peer(sz, name, cmd, "duckdb", lambda: agree(
        "time to first call", ours, [tuple(peer_rows(run(cmd["duckdb"]))[0])], "duckdb"))
    print(f"[{sz.label}] time to first call agrees: {ours[0]}")
    w[name] = cmd

    # The whole example: 58 metrics (mrr_growth_qtd needs --by), the metrics table and three tables.
    if sz.size not in sz.args.skip_whole_example:
        w["whole example project (58 metrics, 4 tables)"] = catalog(sz)
    return w


def catalog(sz):
    """metricc's one run of every metric against DuckDB's queries for them,
    after checking every value."""
    ours_cmd = sz.metricc(sz.catalog)  # every table on the terminal, as a user sees it
    generated = run([sz.args.metricc, "explain", "-p", str(sz.catalog), "--allow-read",
                     str(sz.data.resolve()), "--sql", "--dialect", "duckdb"])
    script = [s.strip() for s in generated.split(";\n") if s.strip() and not s.strip().startswith("--")]
    script = [s.rstrip(";") for s in script if not s.startswith("SET TimeZone")]
    hand = [peers.DUCKDB_CATALOG_ACTIVE, peers.DUCKDB_CATALOG_ACTIVATION,
            peers.DUCKDB_CATALOG_TIME_BETWEEN, peers.DUCKDB_CATALOG_LTV,
            peers.DUCKDB_CATALOG_CONVERSION, peers.DUCKDB_CATALOG_DOCS_SIGNUP,
            peers.DUCKDB_CATALOG_SILENCE, peers.DUCKDB_FUNNEL, peers.DUCKDB_RETENTION]
    duck_cmd = sz.duck(script + hand)

    ours = json.loads(run(sz.metricc(sz.catalog, "--format", "json")))[0]
    timed_cmds = {"metricc": ours_cmd, "duckdb": duck_cmd}
    try:
        results = json.loads(run(duck_cmd))
    except Failed as e:
        FAILURES.append((sz.label, "whole example", "duckdb", str(e)))
        print(f"[{sz.label}] duckdb failed on the whole example: {e}")
        if not sz.limit:
            return {"metricc": ours_cmd}
        # metricc's answers are still checked: DuckDB without the limit.
        print(f"[{sz.label}] checking the whole example against duckdb without a memory limit")
        del timed_cmds["duckdb"]
        results = json.loads(run(sz.duck(script + hand, limit=False)))
    (sql_part, active, activation, tb, ltv, conversion, docs_signup, silence, funnel,
     retention) = results[-10:]
    theirs = dict(zip(sql_part["columns"], sql_part["rows"][0]))
    theirs.update(zip(["dau", "wau", "mau", "stickiness", "support_ticket_rate", "churned_developers",
                       "churn_rate", "net_developer_growth"], active["rows"][0]))
    theirs["activation_rate"] = activation["rows"][0][0]
    theirs.update(zip(["ttfc_median", "ttfc_p90", "time_to_first_success_median", "time_to_value"],
                      tb["rows"][0]))
    theirs.update(zip(["ltv", "ltv_dac_ratio"], ltv["rows"][0]))
    theirs["subscription_to_overage"] = conversion["rows"][0][0]
    theirs["docs_to_signup_rate"] = docs_signup["rows"][0][0]
    theirs["back_after_silence"] = silence["rows"][0][0]
    # The sequence metric against ClickHouse itself (checked, not timed).
    theirs["retried_failures"] = peer_rows(run(sz.ch(peers.CH_CATALOG_RETRIES)))[0][0]
    missing = sorted(set(ours) ^ set(theirs))
    if missing:
        sys.exit(f"catalog: the engines do not give the same metrics: {missing}")
    agree("catalog", [tuple(ours[k] for k in sorted(ours))], [tuple(theirs[k] for k in sorted(ours))], "duckdb")
    steps = [r[2] for r in csv_rows(run(sz.metricc(sz.catalog, "--format", "csv", "onboarding")))]
    agree("catalog onboarding", [tuple(steps)], [tuple(funnel["rows"][0])], "duckdb")
    matrix = [r[:4] for r in csv_rows(run(sz.metricc(sz.catalog, "--format", "csv", "retention")))]
    agree("catalog retention", matrix, retention["rows"], "duckdb")
    print(f"[{sz.label}] catalog agrees: {len(ours)} metric values, {len(steps)} funnel steps, "
          f"{len(matrix)} retention cells")
    return timed_cmds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metricc", default=str(ROOT / "target/release/metricc"))
    ap.add_argument("--python", default=sys.executable, help="a Python with duckdb and chdb")
    ap.add_argument("--sizes", default="1M,10M", help="comma-separated: 1M, 10M, 100M")
    ap.add_argument("--shapes", default="few,many", help="comma-separated: few, many (entities)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=str(ROOT / "target/bench"))
    ap.add_argument("--memory-limit", default="2G", help="memory for every engine at 100M")
    ap.add_argument("--results", default=str(ROOT / "benches/results/suite.md"))
    ap.add_argument("--skip-check-scale", action="store_true")
    ap.add_argument("--skip-whole-example", default="", help="sizes without the whole-example workload, e.g. 100M")
    args = ap.parse_args()

    versions = run([args.python, "-c", "import duckdb, chdb; print(duckdb.__version__, chdb.__version__)"]).split()
    metricc_version = run([args.metricc, "--version"]).strip()
    lines = [f"# metricc against DuckDB and chDB ({datetime.date.today().isoformat()}, "
             f"{os.cpu_count()} cores, {args.runs} runs each, median)", "",
             f"{metricc_version} (release), DuckDB {versions[0]}, chDB {versions[1]}. Each cell is "
             "a fresh process: median seconds, and peak resident MB in brackets (for the peers, of "
             "the Python process running them). Every engine gave the same numbers before timing. "
             "Queries: benches/peers.py; run: benches/run.sh.", ""]
    for label, shape in [(l.strip(), s.strip()) for l in args.sizes.split(",")
                         for s in args.shapes.split(",")]:
        sz = Size(args, label, shape)
        try:
            w = workloads(sz)
        except Failed as e:
            lines += [f"## {sz.events:,} events ({sz.label})", "", f"metricc failed: {e}", ""]
            print(f"[{sz.label}] metricc failed: {e}")
            continue
        times = {(name, e): [] for name, cmds in w.items() for e in cmds}
        peaks = {k: 0.0 for k in times}
        runs = 1 if sz.size == "100M" else args.runs
        for _ in range(runs):
            for name, cmds in w.items():
                for engine, cmd in cmds.items():
                    wall, rss, _ = timed(cmd)
                    times[(name, engine)].append(wall)
                    peaks[(name, engine)] = max(peaks[(name, engine)], rss)
        med = {k: statistics.median(v) for k, v in times.items()}
        floor = med[("scan floor (entity, time, event)", "metricc")]
        limit = f", {sz.limit} memory limit for every engine" if sz.limit else ""
        lines += [f"## {sz.events:,} events, {SHAPES[shape]} ({label}, "
                  f"`sample-data {' '.join(sz.generate)}`{limit})", "",
                  "| workload | metricc | DuckDB | chDB | metricc / fastest peer | metricc / scan floor |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, cmds in w.items():
            cellf = lambda e: (f"{med[(name, e)]:.2f} ({peaks[(name, e)]:.0f})"  # noqa: E731
                               if (name, e) in med else "–")
            peer_times = [med[(name, e)] for e in cmds if e != "metricc"]
            vs = f"{med[(name, 'metricc')] / min(peer_times):.2f}" if peer_times else "–"
            lines.append(f"| {name} | {cellf('metricc')} | {cellf('duckdb')} | {cellf('chdb')} | "
                         f"{vs} | {med[(name, 'metricc')] / floor:.2f} |")
        failed = [f for f in FAILURES if f[0] == sz.label]
        if failed:
            lines.append("")
            lines += [f"- {engine} could not run {what}: {why}" for _, what, engine, why in failed]
        lines.append("")
        print("\n".join(lines[-(len(w) + 5 + len(failed)):]))

    if not args.skip_check_scale:
        env = dict(os.environ, METRICC_BIN=args.metricc)
        subprocess.run(["bash", str(ROOT / "benches/check_scale.sh")], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        table = (ROOT / "benches/results/check_scale.md").read_text().split("\n", 2)[2]
        lines += ["## `metricc check` on generated projects", "",
                  "Median of 15 runs, against a 1-metric project (process start and six Parquet footers):",
                  "", table.strip(), ""]
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
