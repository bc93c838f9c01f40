//! `metricc explain --sql --dialect duckdb` run in DuckDB gives the numbers of
//! `metricc run`: an independent engine checks both the plans and the SQL.
//!
//! Needs a Python with the `duckdb` package: `METRICC_DUCKDB_PYTHON` names it
//! (`.ci/run` makes a venv and sets it). Without the variable, `python3` is
//! tried. When neither has `duckdb` the test says SKIPPED on the terminal
//! (past the test harness's capture), and fails when `CI` is set, so a CI
//! run without DuckDB cannot pass these tests unseen.

use crate::run::{metricc, project, standard};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A Python with `duckdb`, or `None` once the test is reported skipped.
fn python(test: &str) -> Option<String> {
    crate::run::python_that_imports(
        "METRICC_DUCKDB_PYTHON",
        "duckdb",
        "pip install duckdb",
        test,
    )
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["run", "--quiet", "--format", "json"];
    all.extend(args);
    let out = metricc(&all, dir);
    assert!(
        out.status.success(),
        "run {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn duckdb(python: &str, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["explain", "--sql", "--dialect", "duckdb"];
    all.extend(args);
    let out = metricc(&all, dir);
    assert!(
        out.status.success(),
        "explain {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/duckdb/run_sql.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let res = child.wait_with_output().unwrap();
    assert!(
        res.status.success(),
        "DuckDB rejected the SQL of {args:?}: {}\n{}",
        String::from_utf8_lossy(&res.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&res.stdout).unwrap()
}

fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, a), (kb, b))| ka == kb && same(a, b))
        }
        _ => a == b,
    }
}

/// The example's per-entity metrics (funnels, time_between, activity,
/// cohorts, conversions, sequences), which have no SQL form; each is
/// checked against DuckDB by a script of its own.
const SEQUENCE_METRICS: &[&str] = &[
    "activation_rate",
    "ttfc_median",
    "ttfc_p90",
    "time_to_first_success_median",
    "time_to_value",
    "ltv",
    "ltv_dac_ratio",
    "mau",
    "support_ticket_rate",
    "dau",
    "wau",
    "stickiness",
    "churned_developers",
    "churn_rate",
    "net_developer_growth",
    "subscription_to_overage",
    "docs_to_signup_rate",
    "retried_failures",
    "back_after_silence",
];

/// The JSON a hand-written DuckDB script prints: `tests/duckdb/SCRIPT`
/// over the example's `data/FILE`, with `args` after it.
fn script(python: &str, name: &str, file: &str, args: &[&str]) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .arg(root.join("tests/duckdb").join(name))
        .arg(root.join("metrics/data").join(file))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(python: &str, dir: &Path, args: &[&str]) {
    let mut ours = json(dir, args);
    let theirs = duckdb(python, dir, args);
    // The SQL leaves out the per-entity metrics (no SQL form): compare the rest.
    let sql_keys: Vec<String> = theirs
        .as_array()
        .and_then(|rows| rows.first())
        .and_then(|r| r.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(rows) = ours.as_array_mut() {
        for row in rows {
            if let Some(o) = row.as_object_mut() {
                let dropped: Vec<String> = o
                    .keys()
                    .filter(|k| !sql_keys.contains(k))
                    .cloned()
                    .collect();
                for k in dropped {
                    assert!(
                        SEQUENCE_METRICS.contains(&k.as_str()),
                        "{k} missing from the SQL"
                    );
                    o.remove(&k);
                }
            }
        }
    }
    assert!(
        ours.as_array().is_some_and(|a| !a.is_empty()),
        "{args:?}: an empty result proves nothing"
    );
    assert!(
        same(&ours, &theirs),
        "{args:?}\nmetricc: {ours}\nduckdb:  {theirs}"
    );
}

#[test]
fn duckdb_runs_the_sql_to_the_same_numbers() {
    let Some(py) = python("duckdb::duckdb_runs_the_sql_to_the_same_numbers") else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let p = example.to_str().unwrap();
    for args in [
        vec!["-p", p],
        vec!["-p", p, "--by", "day"],
        vec!["-p", p, "--by", "week", "--group-by", "channel"],
        vec!["-p", p, "--by", "month", "--group-by", "endpoint"],
        // Attributes as of each row's time: a join with a time condition.
        vec!["-p", p, "--by", "week", "--group-by", "developer.plan"],
        vec![
            "-p",
            p,
            "--group-by",
            "developer.company_size,developer.country",
        ],
        vec![
            "-p",
            p,
            "--by",
            "hour",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-04",
        ],
    ] {
        check(&py, &example, &args);
    }

    // Occurrence, running totals, cross-source formulas, null breakdowns.
    let s = standard("");
    for args in [
        vec!["--by", "day"],
        vec![
            "--by",
            "week",
            "--group-by",
            "sdk",
            "requests",
            "first_calls",
            "latency_p90",
            "requests_total",
        ],
        vec!["--group-by", "channel", "spend", "signups", "cac"],
    ] {
        check(&py, s.path(), &args);
    }

    // A zone with daylight saving and Sunday weeks.
    let z = project(
        "time_zone: America/New_York\nweek_start: sunday\n",
        "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  calls: { description: c, source: events, measure: count(*) }\n  calls_wtd: { description: w, cumulative: { metric: calls, to_date: week } }\n",
        &[(
            "data/events.parquet",
            "ts:timestamp,developer_id\n2026-03-08T04:30:00Z,d1\n2026-03-08T05:00:00Z,d1\n2026-03-08T07:30:00Z,d2\n2026-03-09T03:59:00Z,d3\n2026-03-09T04:00:00Z,d3\n2026-03-15T04:00:00Z,d1\n",
        )],
    );
    for grain in ["hour", "day", "week"] {
        check(
            &py,
            z.path(),
            &["--by", grain, "--from", "2026-03-07", "--to", "2026-03-16"],
        );
    }
}

/// The funnel engine against funnels written by hand in DuckDB SQL, on the
/// example's sample data (about 400 signups).
#[test]
fn duckdb_agrees_on_activation_and_time_to_first_call() {
    let Some(py) = python("duckdb::duckdb_agrees_on_activation_and_time_to_first_call") else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let ours = json(
        &example,
        &["activation_rate", "ttfc_median", "ttfc_p90", "--by", "week"],
    );
    let theirs = script(
        &py,
        "funnels.py",
        "events.parquet",
        &["2026-01-05", "2026-05-05"],
    );
    assert!(ours.as_array().is_some_and(|a| a.len() > 10), "{ours}");
    assert!(same(&ours, &theirs), "metricc: {ours}\nduckdb:  {theirs}");
}

/// The activity engines against DAU/WAU/MAU and weekly retention written by
/// hand in DuckDB SQL (a running sum of per-developer deltas; cohorts joined
/// to weekly activity), on the example's sample data.
#[test]
fn duckdb_agrees_on_active_developers_and_retention() {
    let Some(py) = python("duckdb::duckdb_agrees_on_active_developers_and_retention") else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    for (what, args) in [
        ("active", vec!["dau", "wau", "mau", "--by", "day"]),
        ("retention", vec!["retention"]),
    ] {
        let ours = json(&example, &args);
        let theirs = script(&py, "activity.py", "events.parquet", &[what]);
        assert!(ours.as_array().is_some_and(|a| a.len() > 100), "{ours}");
        assert!(
            same(&ours, &theirs),
            "{what}\nmetricc: {ours}\nduckdb:  {theirs}"
        );
    }
}

/// The conversion metric against an ASOF join written by hand in DuckDB
/// SQL, on the example's sample data, by week.
#[test]
fn duckdb_agrees_on_the_conversion_metric() {
    let Some(py) = python("duckdb::duckdb_agrees_on_the_conversion_metric") else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let ours = json(&example, &["subscription_to_overage", "--by", "week"]);
    let theirs = script(
        &py,
        "conversion.py",
        "payments.parquet",
        &["2026-01-05", "2026-05-05"],
    );
    assert!(ours.as_array().is_some_and(|a| a.len() > 10), "{ours}");
    assert!(same(&ours, &theirs), "metricc: {ours}\nduckdb:  {theirs}");
}

/// The conversion across two sources (docs page views of a visitor, the
/// signup of the developer whose `visitor_id` it is) against DuckDB ASOF
/// joins written by hand, by week and channel.
#[test]
fn duckdb_agrees_on_the_conversion_across_two_sources() {
    let Some(py) = python("duckdb::duckdb_agrees_on_the_conversion_across_two_sources") else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let ours = json(&example, &["docs_to_signup_rate", "--by", "week"]);
    let data = example.join("data");
    let file = |name: &str| data.join(name).to_string_lossy().into_owned();
    let theirs = script(
        &py,
        "conversion_sources.py",
        "page_views.parquet",
        &[
            &file("events.parquet"),
            &file("developers.parquet"),
            "2026-01-05",
            "2026-05-05",
        ],
    );
    assert!(ours.as_array().is_some_and(|a| a.len() > 50), "{ours}");
    // Not all zero: visitors of the sample data do sign up.
    assert!(
        theirs
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["docs_to_signup_rate"].as_f64() > Some(0.0)),
        "{theirs}"
    );
    assert!(same(&ours, &theirs), "metricc: {ours}\nduckdb:  {theirs}");
}

#[test]
fn duckdb_agrees_on_the_sequence_metric() {
    let Some(py) = python("duckdb::duckdb_agrees_on_the_sequence_metric") else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let ours = json(&example, &["retried_failures", "--by", "week"]);
    let theirs = script(
        &py,
        "sequence.py",
        "events.parquet",
        &["2026-01-05", "2026-05-05"],
    );
    assert!(ours.as_array().is_some_and(|a| a.len() > 10), "{ours}");
    // Not all zero: the sample data's incident week has retries.
    assert!(
        ours.to_string().contains("\"retried_failures\":6"),
        "{ours}"
    );
    assert!(same(&ours, &theirs), "metricc: {ours}\nduckdb:  {theirs}");
}
