//! `metricc run` on tiny hand-made data: every value below was computed by
//! hand from the CSV rows written next to it.

use crate::fixtures::typed_csv_to_parquet;
use std::path::Path;
use std::process::{Command, Output};

pub fn metricc(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metricc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Reports a test as skipped for `why`: on the terminal, past the test
/// harness's capture (a skipped test would otherwise print `ok`), and as a
/// failure when `CI` is set, where every dependency must be present.
pub fn skipped(test: &str, why: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: {why}; CI is set, so this test may not be skipped");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// The Python named by the environment variable `var` (or `python3`) when
/// it can import `modules` (`import` syntax, comma-separated); otherwise
/// `None`, with `test` reported skipped and how to install them (`install`).
pub fn python_that_imports(var: &str, modules: &str, install: &str, test: &str) -> Option<String> {
    let candidate = std::env::var(var).unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&candidate)
        .args(["-c", &format!("import {modules}")])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(candidate);
    }
    skipped(
        test,
        &format!("`{candidate}` cannot import {modules} ({install}; set {var})"),
    );
    None
}

/// Runs `metricc ARGS` and returns stdout, failing on a non-zero exit.
pub fn stdout_of(args: &[&str], dir: &Path) -> String {
    let out = metricc(args, dir);
    assert!(
        out.status.success(),
        "metricc {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `metricc ARGS`, checks that it exits 1 (findings or a data
/// error), and returns its stdout and stderr together.
pub fn findings_of(args: &[&str], dir: &Path) -> String {
    let out = metricc(args, dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "metricc {args:?}:\n{text}");
    text
}

/// Runs `metricc run ARGS --format csv` and returns stdout, failing on a non-zero exit.
pub fn csv(dir: &Path, args: &str) -> String {
    let mut all: Vec<&str> = vec!["run", "--quiet", "--format", "csv"];
    all.extend(args.split_whitespace());
    stdout_of(&all, dir)
}

/// Compares CSV text cell by cell; numbers to a relative 1e-9 (an empty
/// cell is null).
pub fn assert_csv(got: &str, want: &str) {
    let rows = |s: &str| -> Vec<Vec<String>> {
        s.trim()
            .lines()
            .map(|l| l.trim().split(',').map(str::to_string).collect())
            .collect()
    };
    let (g, w) = (rows(got), rows(want));
    assert_eq!(g.len(), w.len(), "rows differ:\n{got}\nwant:\n{want}");
    for (gr, wr) in g.iter().zip(&w) {
        assert_eq!(gr.len(), wr.len(), "columns differ:\n{got}\nwant:\n{want}");
        for (a, b) in gr.iter().zip(wr) {
            let same = match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                _ => a == b,
            };
            assert!(same, "cell `{a}` != `{b}`:\n{got}\nwant:\n{want}");
        }
    }
}

fn expect(dir: &Path, args: &str, expected: &str) {
    let want: String = expected
        .trim()
        .lines()
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    assert_eq!(csv(dir, args), want, "metricc run {args}");
}

/// A project in a temp dir: `metricc.yaml` from `project`, `defs.yaml`, and
/// Parquet files from typed CSV.
pub fn project(project: &str, defs: &str, data: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("metricc.yaml"),
        format!("name: t\nfiles: [defs.yaml]\n{project}"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("defs.yaml"), defs).unwrap();
    for (path, csv) in data {
        typed_csv_to_parquet(csv, &tmp.path().join(path));
    }
    tmp
}

/// A project of one source, `events` (times `ts`, entity `developer_id`),
/// with `default_range` from `from` to `to` (empty: none) and `metrics`,
/// each a YAML entry ending in a newline.
pub fn events_project(from: &str, to: &str, events: &str, metrics: &[String]) -> tempfile::TempDir {
    let defs = format!(
        "sources:\n  events: {{ path: data/events.parquet, time: ts, entity: developer_id }}\nmetrics:\n{}",
        metrics.concat()
    );
    let range = if from.is_empty() {
        String::new()
    } else {
        format!("default_range: {{ from: {from}, to: {to} }}\n")
    };
    project(&range, &defs, &[("data/events.parquet", events)])
}

pub const EVENTS: &str = "
ts:timestamp,developer_id,event,status:int,endpoint,latency_ms:float,sdk,channel
2026-03-01T10:00:00Z,d1,signup,,,,python,search
2026-03-01T11:00:00Z,d1,api_call,200,/a,100,python,search
2026-03-01T12:00:00Z,d1,api_call,500,/a,300,python,search
2026-03-02T09:00:00Z,d2,signup,,,,node,social
2026-03-02T10:00:00Z,d2,api_call,200,/b,50,node,social
2026-03-02T10:30:00Z,d1,api_call,404,/b,200,python,search
2026-03-04T08:00:00Z,d3,api_call,200,/a,400,,search
2026-03-09T00:00:00Z,d2,api_call,200,/a,10,node,social
";

pub const PAYMENTS: &str = "
paid_at:timestamp,developer_id,amount:float,kind
2026-02-27T00:00:00Z,d1,49.0,subscription
2026-03-02T00:00:00Z,d1,49.0,subscription
2026-03-09T12:00:00Z,d2,10.5,overage
";

pub const SPEND: &str = "
day:date,channel,amount:float
2026-03-01,search,100.0
2026-03-02,social,50.0
2026-03-02,search,25.0
";

pub const DEFS: &str = r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [event, sdk, channel, endpoint] }
  payments: { path: data/payments.parquet, time: paid_at, entity: developer_id, dimensions: [kind] }
  spend: { path: data/spend.parquet, time: day, dimensions: [channel] }
metrics:
  requests: { description: calls, source: events, filter: event = 'api_call', measure: count(*) }
  errors: { description: failed calls, source: events, filter: event = 'api_call' and status >= 400, measure: count(*) }
  error_rate: { description: share failed, ratio: { numerator: errors, denominator: requests } }
  signups: { description: signups, source: events, filter: event = 'signup', measure: count_distinct(developer_id) }
  first_calls:
    description: developers whose first call fell in the bucket
    source: events
    filter: event = 'api_call'
    occurrence: first
    measure: count_distinct(developer_id)
  last_calls:
    description: developers whose last call fell in the bucket
    source: events
    filter: event = 'api_call'
    occurrence: last
    measure: count(*)
  requesters: { description: calling developers, source: events, filter: event = 'api_call', measure: count_distinct(developer_id) }
  latency_median: { description: median, source: events, filter: event = 'api_call', measure: median(latency_ms) }
  latency_p90: { description: p90, source: events, filter: event = 'api_call', measure: "percentile(latency_ms, 0.9)" }
  latency_avg: { description: mean, source: events, filter: event = 'api_call', measure: avg(latency_ms) }
  latency_min: { description: min, source: events, filter: event = 'api_call', measure: min(latency_ms) }
  latency_max: { description: max, source: events, filter: event = 'api_call', measure: max(latency_ms) }
  server_error_share:
    description: in-measure filter
    source: events
    filter: event = 'api_call'
    measure: count(*) filter (where status >= 500) / count(*)
  success_share:
    description: formula
    formula: "round(100 * (requests - errors) / requests, 1)"
  revenue: { description: payments, source: payments, measure: sum(amount) }
  revenue_total: { description: all time, cumulative: { metric: revenue } }
  revenue_2d: { description: trailing, cumulative: { metric: revenue, window: 2d } }
  revenue_wtd: { description: week to date, cumulative: { metric: revenue, to_date: week } }
  requests_total: { description: all time calls, cumulative: { metric: requests } }
  revenue_per_requester: { description: cross-source, formula: revenue / requesters }
  spend: { description: marketing, source: spend, measure: sum(amount) }
  cac: { description: spend per signup, ratio: { numerator: spend, denominator: signups } }
  python_requests:
    description: derived filter on every source underneath
    filter: sdk = 'python'
    formula: requests
"#;

pub fn standard(extra_project: &str) -> tempfile::TempDir {
    project(
        &format!("default_range: {{ from: 2026-03-01, to: 2026-03-10 }}\n{extra_project}"),
        DEFS,
        &[
            ("data/events.parquet", EVENTS),
            ("data/payments.parquet", PAYMENTS),
            ("data/spend.parquet", SPEND),
        ],
    )
}

#[test]
fn counts_by_day_fill_empty_days() {
    let p = standard("");
    expect(
        p.path(),
        "requests errors error_rate signups first_calls requesters --by day",
        "
        day,requests,errors,error_rate,signups,first_calls,requesters
        2026-03-01,2,1,0.5,1,1,1
        2026-03-02,2,1,0.5,1,1,2
        2026-03-03,0,0,,0,0,0
        2026-03-04,1,0,0.0,0,1,1
        2026-03-05,0,0,,0,0,0
        2026-03-06,0,0,,0,0,0
        2026-03-07,0,0,,0,0,0
        2026-03-08,0,0,,0,0,0
        2026-03-09,1,0,0.0,0,0,1
        ",
    );
}

#[test]
fn totals_over_the_range() {
    let p = standard("");
    // Latencies of the calls in range: 10 50 100 200 300 400.
    // median (100+200)/2; p90 at position 0.9*5 = 4.5, between 300 and 400.
    expect(
        p.path(),
        "requests error_rate latency_median latency_p90 latency_avg latency_min latency_max server_error_share success_share",
        "
        requests,error_rate,latency_median,latency_p90,latency_avg,latency_min,latency_max,server_error_share,success_share
        6,0.3333333333333333,150.0,350.0,176.66666666666666,10.0,400.0,0.16666666666666666,66.7
        ",
    );
}

#[test]
fn aggregates_by_day_are_null_on_empty_days() {
    let p = standard("");
    // 03-01: 100, 300; 03-02: 50, 200; 03-04: 400; 03-09: 10.
    expect(
        p.path(),
        "latency_median latency_p90 latency_avg latency_max --by day --to 2026-03-05",
        "
        day,latency_median,latency_p90,latency_avg,latency_max
        2026-03-01,200.0,280.0,200.0,300.0
        2026-03-02,125.0,185.0,125.0,200.0
        2026-03-03,,,,
        2026-03-04,400.0,400.0,400.0,400.0
        ",
    );
}

#[test]
fn occurrence_looks_at_all_time() {
    let p = standard("");
    // d1's first call is 03-01, d2's 03-02, d3's 03-04. Last calls: d1 03-02
    // 10:30, d3 03-04, d2 03-09. From 03-02 on, d1 is no longer "first".
    expect(
        p.path(),
        "first_calls last_calls --from 2026-03-02 --by week",
        "
        week,first_calls,last_calls
        2026-03-02,2,2
        2026-03-09,0,1
        ",
    );
}

#[test]
fn weeks_start_on_monday_by_default_and_clip_to_the_range() {
    let p = standard("");
    // 2026-03-01 is a Sunday: it is the last day of the week of 02-23.
    expect(
        p.path(),
        "requests errors error_rate --by week",
        "
        week,requests,errors,error_rate
        2026-02-23,2,1,0.5
        2026-03-02,3,1,0.3333333333333333
        2026-03-09,1,0,0.0
        ",
    );
}

#[test]
fn weeks_start_on_the_configured_day() {
    let p = standard("week_start: sunday\n");
    expect(
        p.path(),
        "requests --by week",
        "
        week,requests
        2026-03-01,5
        2026-03-08,1
        ",
    );
}

#[test]
fn months_quarters_years() {
    let p = standard("");
    for grain in ["month", "quarter", "year"] {
        let start = match grain {
            "month" => "2026-03-01",
            _ => "2026-01-01",
        };
        expect(
            p.path(),
            &format!("requests revenue --by {grain}"),
            &format!("{grain},requests,revenue\n{start},6,59.5"),
        );
    }
}

#[test]
fn running_totals_all_time_trailing_and_to_date() {
    let p = standard("");
    // Payments: 49 on 02-27 (before the range), 49 on 03-02, 10.5 on 03-09.
    // all time: 49 before 03-02, 98 from 03-02, 108.5 on 03-09.
    // 2d trailing: the day and the one before. week to date (Monday weeks):
    // 03-01 is in the week of 02-23, which holds the 02-27 payment.
    expect(
        p.path(),
        "revenue revenue_total revenue_2d revenue_wtd requests_total --by day",
        "
        day,revenue,revenue_total,revenue_2d,revenue_wtd,requests_total
        2026-03-01,0.0,49.0,0.0,49.0,2
        2026-03-02,49.0,98.0,49.0,49.0,4
        2026-03-03,0.0,98.0,49.0,49.0,4
        2026-03-04,0.0,98.0,0.0,49.0,5
        2026-03-05,0.0,98.0,0.0,49.0,5
        2026-03-06,0.0,98.0,0.0,49.0,5
        2026-03-07,0.0,98.0,0.0,49.0,5
        2026-03-08,0.0,98.0,0.0,49.0,5
        2026-03-09,10.5,108.5,10.5,10.5,6
        ",
    );
    expect(
        p.path(),
        "revenue revenue_total revenue_wtd",
        "
        revenue,revenue_total,revenue_wtd
        59.5,108.5,10.5
        ",
    );
}

#[test]
fn metrics_across_sources_join_on_bucket() {
    let p = standard("");
    // revenue / distinct callers; spend / signups.
    expect(
        p.path(),
        "revenue_per_requester cac --by day --to 2026-03-05",
        "
        day,revenue_per_requester,cac
        2026-03-01,0.0,100.0
        2026-03-02,24.5,75.0
        2026-03-03,,
        2026-03-04,0.0,
        ",
    );
    expect(
        p.path(),
        "revenue_per_requester cac",
        "revenue_per_requester,cac\n19.833333333333332,87.5",
    );
}

#[test]
fn breakdown_by_a_shared_dimension() {
    let p = standard("");
    // search: spend 125, signups d1; social: spend 50, signups d2.
    expect(
        p.path(),
        "spend signups cac --group-by channel",
        "
        channel,spend,signups,cac
        search,125.0,1,125.0
        social,50.0,1,50.0
        ",
    );
}

#[test]
fn breakdown_keeps_null_as_a_value_and_fills_every_bucket() {
    let p = standard("");
    // sdk: python d1 (3 calls), node d2 (2 calls), d3 has none (1 call).
    expect(
        p.path(),
        "requests --group-by sdk",
        "
        sdk,requests
        node,2
        python,3
        ,1
        ",
    );
    expect(
        p.path(),
        "requests --group-by sdk --by week --from 2026-03-02",
        "
        week,sdk,requests
        2026-03-02,node,1
        2026-03-02,python,1
        2026-03-02,,1
        2026-03-09,node,1
        2026-03-09,python,0
        2026-03-09,,0
        ",
    );
}

#[test]
fn filter_on_a_derived_metric_reaches_its_sources() {
    let p = standard("");
    expect(
        p.path(),
        "python_requests requests",
        "python_requests,requests\n3,6",
    );
}

#[test]
fn from_and_to_are_half_open() {
    let p = standard("");
    // 2026-03-02T10:00 is excluded by --to, included by --from.
    expect(
        p.path(),
        "requests --from 2026-03-02 --to 2026-03-02T10:00",
        "requests\n0",
    );
    expect(
        p.path(),
        "requests --from 2026-03-02T10:00 --to 2026-03-02T10:30",
        "requests\n1",
    );
    expect(
        p.path(),
        "requests --from 2026-03-02T10:00 --to 2026-03-02T10:31",
        "requests\n2",
    );
}

/// Events around New York's spring-forward day, 2026-03-08 (23 hours long:
/// 05:00Z to 04:00Z next day), a Sunday.
const DST_EVENTS: &str = "
ts:timestamp,developer_id,event
2026-03-08T04:30:00Z,d1,api_call
2026-03-08T05:00:00Z,d1,api_call
2026-03-08T06:30:00Z,d2,api_call
2026-03-08T07:30:00Z,d2,api_call
2026-03-09T03:59:00Z,d3,api_call
2026-03-09T04:00:00Z,d3,api_call
2026-11-01T05:30:00Z,d1,api_call
2026-11-01T06:30:00Z,d1,api_call
";

fn dst(extra: &str) -> tempfile::TempDir {
    project(
        &format!("time_zone: America/New_York\n{extra}"),
        "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  calls: { description: calls, source: events, measure: count(*) }\n  callers: { description: callers, source: events, measure: count_distinct(developer_id) }\n",
        &[("data/events.parquet", DST_EVENTS)],
    )
}

#[test]
fn a_23_hour_day_is_one_day() {
    let p = dst("");
    // 04:30Z is 23:30 EST on 03-07; 05:00Z is midnight 03-08; 03:59Z on 03-09
    // is 23:59 EDT on 03-08; 04:00Z is midnight 03-09.
    expect(
        p.path(),
        "calls callers --by day --from 2026-03-07 --to 2026-03-10",
        "
        day,calls,callers
        2026-03-07,1,1
        2026-03-08,4,3
        2026-03-09,1,1
        ",
    );
    // The local day as a range: midnight to midnight, 23 real hours.
    expect(
        p.path(),
        "calls --from 2026-03-08 --to 2026-03-09",
        "calls\n4",
    );
}

#[test]
fn local_hours_across_daylight_saving_changes() {
    let p = dst("");
    // Spring forward: 06:30Z = 01:30 EST, 07:30Z = 03:30 EDT; no 02:00 hour.
    expect(
        p.path(),
        "calls --by hour --from 2026-03-08 --to 2026-03-08T04:00",
        "
        hour,calls
        2026-03-08T00:00:00,1
        2026-03-08T01:00:00,1
        2026-03-08T03:00:00,1
        ",
    );
    // Fall back: 05:30Z = 01:30 EDT and 06:30Z = 01:30 EST share the local hour.
    expect(
        p.path(),
        "calls --by hour --from 2026-11-01T01:00 --to 2026-11-01T02:00",
        "
        hour,calls
        2026-11-01T01:00:00,2
        ",
    );
}

#[test]
fn sunday_weeks_in_a_zone() {
    let p = dst("week_start: sunday\n");
    expect(
        p.path(),
        "calls --by week --from 2026-03-01 --to 2026-03-15",
        "
        week,calls
        2026-03-01,1
        2026-03-08,5
        ",
    );
}
