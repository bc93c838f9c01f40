//! `period_over_period` metrics through `metricc run`, on a handful of
//! events whose every value below was worked out by hand (the reasoning is
//! in comments).

use crate::run::{assert_csv, csv, metricc, project};

// Weeks start Monday: W1 2026-03-02, W2 03-09, W3 03-16. Calls per week:
// W1 3 (/x 2, /y 1), W2 2 (/x 1, /y 1), W3 4 (/x 3, /z 1).
const CALLS: &str = "
ts:timestamp,developer_id,event,endpoint,latency_ms:float
2026-03-03T10:00:00Z,a,api_call,/x,100
2026-03-04T10:00:00Z,b,api_call,/x,300
2026-03-05T10:00:00Z,a,api_call,/y,50
2026-03-10T10:00:00Z,a,api_call,/x,200
2026-03-15T23:59:59Z,b,api_call,/y,70
2026-03-16T00:00:00Z,c,api_call,/x,10
2026-03-17T10:00:00Z,a,api_call,/x,20
2026-03-18T10:00:00Z,a,api_call,/x,30
2026-03-19T10:00:00Z,b,api_call,/z,40
";

// Months: January 10, February 20 + 5 (the 28th), March 40 (the 31st).
const PAYMENTS: &str = "
paid_at:timestamp,developer_id,amount:float
2026-01-31T10:00:00Z,a,10
2026-02-15T10:00:00Z,a,20
2026-02-28T10:00:00Z,b,5
2026-03-31T10:00:00Z,a,40
";

const DEFS: &str = r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [endpoint] }
  payments: { path: data/payments.parquet, time: paid_at, entity: developer_id }
metrics:
  calls: { description: c, source: events, filter: "event = 'api_call'", measure: count(*) }
  calls_prev: { description: p, period_over_period: { metric: calls, offset: 1 week, value: previous } }
  calls_diff: { description: d, period_over_period: { metric: calls, offset: 1 week, value: difference } }
  calls_ratio: { description: r, period_over_period: { metric: calls, offset: 1 week, value: ratio } }
  calls_growth: { description: g, period_over_period: { metric: calls, offset: 1 week } }
  calls_growth_pct: { description: f, formula: calls_growth * 100 }
  calls_growth_prev: { description: n, period_over_period: { metric: calls_growth, offset: 1 week, value: previous } }
  latency: { description: l, source: events, measure: avg(latency_ms) }
  latency_prev: { description: l, period_over_period: { metric: latency, offset: 1 week, value: previous } }
  wau: { description: w, source: events, active: { window: 7d } }
  wau_prev: { description: w, period_over_period: { metric: wau, offset: 1 week, value: previous } }
  revenue: { description: r, source: payments, measure: sum(amount) }
  revenue_mom: { description: m, period_over_period: { metric: revenue, offset: 1 month, value: growth } }
  revenue_prev_month: { description: m, period_over_period: { metric: revenue, offset: 1 month, value: previous } }
"#;

fn fixture() -> tempfile::TempDir {
    project(
        "default_range: { from: 2026-03-09, to: 2026-03-23 }\n",
        DEFS,
        &[
            ("data/events.parquet", CALLS),
            ("data/payments.parquet", PAYMENTS),
        ],
    )
}

#[test]
fn each_value_against_the_week_before_which_lies_before_the_range() {
    let p = fixture();
    // W2 2 against W1 3 (before `--from`): -1, 2/3, -1/3. W3 4 against 2:
    // 2, 2, 1. In percent: -33.3, 100.
    let got = csv(
        p.path(),
        "--by week calls calls_prev calls_diff calls_ratio calls_growth calls_growth_pct",
    );
    assert_csv(
        &got,
        "week,calls,calls_prev,calls_diff,calls_ratio,calls_growth,calls_growth_pct
         2026-03-09,2,3,-1,0.6666666666666666,-0.3333333333333333,-33.33333333333333
         2026-03-16,4,2,2,2,1,100",
    );
}

#[test]
fn a_comparison_of_a_comparison_reads_two_offsets_back() {
    let p = fixture();
    // The growth of W1 over 02-23 .. 03-01 (no calls): 3 / 0, null. The
    // growth of W2 over W1: -1/3.
    let got = csv(p.path(), "--by week calls_growth calls_growth_prev");
    assert_csv(
        &got,
        "week,calls_growth,calls_growth_prev
         2026-03-09,-0.3333333333333333,
         2026-03-16,1,-0.3333333333333333",
    );
}

#[test]
fn a_breakdown_holds_the_values_of_both_periods() {
    let p = fixture();
    // /z has calls in W3 only, /y not in W3: every endpoint of either
    // period has a row. Counts of no rows are 0 (growth 0 / 0 is null);
    // an average of no rows is null.
    // W2 /x: 1 (200) against W1's 2 (100, 300; avg 200): -0.5.
    // W2 /y: 1 (70) against 1 (50): 0.
    // W3 /x: 3 (10, 20, 30; avg 20) against 1 (200): 2.
    // W3 /y: 0 against 1 (70): -1. W3 /z: 1 (40) against 0: null.
    let got = csv(
        p.path(),
        "--by week --group-by endpoint calls calls_prev calls_growth latency latency_prev",
    );
    assert_csv(
        &got,
        "week,endpoint,calls,calls_prev,calls_growth,latency,latency_prev
         2026-03-09,/x,1,2,-0.5,200,200
         2026-03-09,/y,1,1,0,70,50
         2026-03-09,/z,0,0,,,
         2026-03-16,/x,3,1,2,20,200
         2026-03-16,/y,0,1,-1,,70
         2026-03-16,/z,1,0,,40,",
    );
}

#[test]
fn without_buckets_the_range_moves_back() {
    let p = fixture();
    // 03-09 .. 03-23 holds 6 calls; moved back a week, 03-02 .. 03-16
    // holds W1 and W2: 5. Growth 1/5.
    let got = csv(p.path(), "calls calls_prev calls_growth");
    assert_csv(&got, "calls,calls_prev,calls_growth\n6,5,0.2");
}

#[test]
fn a_clipped_bucket_is_compared_with_the_same_clipped_days() {
    let p = fixture();
    // From Wednesday 03-11: the first bucket is 03-11 .. 03-16 (b's call at
    // 03-15 23:59:59), compared with 03-04 .. 03-09 (b 03-04, a 03-05).
    let got = csv(
        p.path(),
        "--by week --from 2026-03-11 --to 2026-03-23 calls calls_prev",
    );
    assert_csv(
        &got,
        "week,calls,calls_prev
         2026-03-09,1,2
         2026-03-16,4,2",
    );
}

#[test]
fn any_kind_compares_per_entity_values_too() {
    let p = fixture();
    // wau at each week's end: W2 a, b; W3 c, a, b. A week earlier: W1 a, b
    // (the table of the earlier range tests its own buckets' ends).
    let got = csv(p.path(), "--by week wau wau_prev");
    assert_csv(
        &got,
        "week,wau,wau_prev
         2026-03-09,2,2
         2026-03-16,3,2",
    );
}

#[test]
fn months_move_back_by_calendar_months() {
    let p = fixture();
    // February 25 against January 10: 1.5. March is clipped by `--to` to
    // 03-01 .. 03-31 (40 falls on the 31st): 0. It is compared with
    // 02-01 .. 02-28 (03-31 moved back a month is the last of February),
    // which leaves out the 5 of the 28th: 20. Growth -1.
    let got = csv(
        p.path(),
        "--by month --from 2026-02-01 --to 2026-03-31 revenue revenue_prev_month revenue_mom",
    );
    assert_csv(
        &got,
        "month,revenue,revenue_prev_month,revenue_mom
         2026-02-01,25,10,1.5
         2026-03-01,0,20,-1",
    );
}

#[test]
fn days_move_back_in_local_time_across_daylight_saving() {
    // New York moves to daylight saving on 2026-03-08: that day has 23
    // hours. Local days: 03-07 00:30 and 23:59:59 (EST), 03-08 00:00 and
    // 23:59:59 (EDT), 03-09 00:00.
    let p = project(
        "time_zone: America/New_York\ndefault_range: { from: 2026-03-08, to: 2026-03-10 }\n",
        "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  calls: { description: c, source: events, measure: count(*) }\n  calls_dod: { description: d, period_over_period: { metric: calls, offset: 1 day, value: difference } }\n  calls_prev: { description: p, period_over_period: { metric: calls, offset: 24 hours, value: previous } }\n",
        &[(
            "data/events.parquet",
            "ts:timestamp,developer_id\n2026-03-07T05:30:00Z,a\n2026-03-08T04:59:59Z,a\n2026-03-08T05:00:00Z,a\n2026-03-09T03:59:59Z,a\n2026-03-09T04:00:00Z,a\n",
        )],
    );
    // 03-08: 2 against 03-07's 2. 03-09: 1 against 2. `24 hours` is a day
    // of wall-clock time here, as `--by hour` buckets are wall-clock hours.
    let got = csv(p.path(), "--by day calls calls_dod calls_prev");
    assert_csv(
        &got,
        "day,calls,calls_dod,calls_prev
         2026-03-08,2,0,2
         2026-03-09,1,-1,2",
    );
}

#[test]
fn an_offset_that_is_no_whole_number_of_buckets_is_refused_with_its_place() {
    let p = fixture();
    // Named: E0309 on the offset, with the grains it fits.
    let out = metricc(&["run", "calls_growth", "--by", "month"], p.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("E0309"), "{err}");
    assert!(err.contains("defs.yaml:10:80"), "{err}");
    assert!(
        err.contains("1 week is not a whole number of months"),
        "{err}"
    );
    assert!(err.contains("`--by week`"), "{err}");
    // Through a formula too.
    let out = metricc(&["run", "calls_growth_pct", "--by", "month"], p.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(through `calls_growth`)"), "{err}");
    // Not named: left out with a note, the others computed.
    let out = metricc(
        &[
            "run",
            "--format",
            "csv",
            "--by",
            "month",
            "--from",
            "2026-02-01",
            "--to",
            "2026-04-01",
        ],
        p.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("with `--by month`, the earlier value they compare with is not a bucket of the run: calls_prev"),
        "{err}"
    );
    let got = String::from_utf8(out.stdout).unwrap();
    let header = got.lines().next().unwrap();
    assert!(
        header.contains("revenue_mom") && !header.contains("calls_prev"),
        "{header}"
    );
}

#[test]
fn explain_says_what_is_compared() {
    let p = fixture();
    let out = metricc(&["explain", "calls_growth", "--by", "week"], p.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("compare   growth of `calls` over 1 week"),
        "{text}"
    );
    // The earlier week's scan is a group of its own, over the earlier range.
    assert!(text.contains("1 week earlier"), "{text}");
}

/// `offset_to_grain`: each bucket against the first bucket of its period.
fn to_grain(project: &str) -> tempfile::TempDir {
    crate::run::project(
        project,
        r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [endpoint] }
  payments: { path: data/payments.parquet, time: paid_at, entity: developer_id }
metrics:
  calls: { description: c, source: events, filter: "event = 'api_call'", measure: count(*) }
  calls_week_start: { description: w, period_over_period: { metric: calls, offset_to_grain: week, value: previous } }
  revenue: { description: r, source: payments, measure: sum(amount) }
  revenue_qtd: { description: q, period_over_period: { metric: revenue, offset_to_grain: quarter, value: ratio } }
"#,
        &[
            ("data/events.parquet", CALLS),
            (
                "data/payments.parquet",
                &format!("{PAYMENTS}2026-01-05T10:00:00Z,c,7\n"),
            ),
        ],
    )
}

#[test]
fn each_bucket_against_the_first_bucket_of_its_period() {
    // Weeks start on Sunday here: 03-08 and 03-15. From Tuesday 03-10, the
    // days up to Saturday 03-14 are compared with Sunday 03-08 (before the
    // range, read whole: no calls); Sunday 03-15 (one call at 23:59:59)
    // with itself; 03-16 and 03-17 with 03-15.
    let p = to_grain("week_start: sunday\n");
    let got = csv(
        p.path(),
        "calls calls_week_start --by day --from 2026-03-10 --to 2026-03-18",
    );
    assert_csv(
        &got,
        "day,calls,calls_week_start
         2026-03-10,1,0
         2026-03-11,0,0
         2026-03-12,0,0
         2026-03-13,0,0
         2026-03-14,0,0
         2026-03-15,1,1
         2026-03-16,1,1
         2026-03-17,1,1",
    );
    // With a breakdown, the values are those seen in the rows read: from
    // Thursday 03-19, /z (03-19), and from the week's start on, /y (Sunday
    // 03-15) and /x (03-16 .. 03-18, so 0 and 0).
    let got = csv(
        p.path(),
        "calls calls_week_start --by day --from 2026-03-19 --to 2026-03-20 --group-by endpoint",
    );
    assert_csv(
        &got,
        "day,endpoint,calls,calls_week_start
         2026-03-19,/x,0,0
         2026-03-19,/y,0,1
         2026-03-19,/z,1,0",
    );
    // By month against the quarter's first: January (10 + 7, before
    // `from`, read whole) for February (25) and March (40).
    let got = csv(
        p.path(),
        "revenue revenue_qtd --by month --from 2026-02-01 --to 2026-04-01",
    );
    assert_csv(
        &got,
        "month,revenue,revenue_qtd
         2026-02-01,25,1.4705882352941178
         2026-03-01,40,2.3529411764705883",
    );
    // From inside January, January is the run's own clipped bucket, and
    // its own first, clipped alike: 01-20 .. 02-01 holds the 10 of the
    // 31st, not the 7 of the 5th. February against that January.
    let got = csv(
        p.path(),
        "revenue revenue_qtd --by month --from 2026-01-20 --to 2026-03-01",
    );
    assert_csv(
        &got,
        "month,revenue,revenue_qtd
         2026-01-01,10,1
         2026-02-01,25,2.5",
    );
}

#[test]
fn a_period_start_needs_buckets_that_start_every_period() {
    let p = to_grain("default_range: { from: 2026-03-02, to: 2026-03-23 }\n");
    // A quarter does not always start on a week's first day: refused, with
    // the place and the grains that fit.
    let out = metricc(&["run", "revenue_qtd", "--by", "week"], p.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E0309") && err.contains("a quarter does not always start a week"),
        "{err}"
    );
    assert!(
        err.contains("`--by day` or `--by month` or `--by quarter`"),
        "{err}"
    );
    // Without `--by`: no buckets to meet.
    let out = metricc(&["run", "revenue_qtd"], p.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs `--by`"), "{err}");
    // Not named: skipped with a note, the others computed.
    let out = metricc(&["run", "--format", "csv"], p.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("with no `--by`, the earlier value they compare with is not a bucket of the run: calls_week_start, revenue_qtd"),
        "{err}"
    );
    let explained = crate::run::stdout_of(&["explain", "revenue_qtd", "--by", "month"], p.path());
    assert!(
        explained.contains("`revenue` over its value at the start of its quarter")
            && explained.contains("at the start of its quarter"),
        "{explained}"
    );
}
