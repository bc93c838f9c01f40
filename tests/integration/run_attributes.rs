//! Entity attributes (`developer.plan`) through `metricc run`, `explain` and
//! `test`, on a handful of rows whose every value below was worked out by
//! hand (the reasoning is in comments).

use crate::fixtures::typed_csv_to_parquet;
use crate::run::{assert_csv, csv, findings_of, metricc, project, stdout_of};

// a signs up 03-02 09:00 and calls 03-02 10:00 and 03-10 10:00; b signs up
// 03-03 10:00 and calls 03-03 11:00 and 03-04 10:00; c and d only call.
const EVENTS: &str = "
ts:timestamp,developer_id,event,endpoint
2026-03-02T09:00:00Z,a,signup,
2026-03-02T10:00:00Z,a,api_call,/x
2026-03-03T10:00:00Z,b,signup,
2026-03-03T11:00:00Z,b,api_call,/x
2026-03-04T10:00:00Z,b,api_call,/y
2026-03-05T10:00:00Z,c,api_call,/x
2026-03-06T10:00:00Z,d,api_call,/x
2026-03-10T10:00:00Z,a,api_call,/y
";

// One row per developer: c's plan is null, d has no row.
const DEVELOPERS: &str = "
developer_id,plan,size:int
a,pro,50
b,free,5
c,,10
";

// Versions: a is free from its signup and pro from 03-04; b is free from
// the instant of its first call and pro from the instant of its second.
const HISTORY: &str = "
developer_id,valid_from:timestamp,plan,size:int
a,2026-03-02T09:00:00Z,free,50
a,2026-03-04T00:00:00Z,pro,50
b,2026-03-03T11:00:00Z,free,5
b,2026-03-04T10:00:00Z,pro,5
";

const PAYMENTS: &str = "
paid_at:timestamp,developer_id,amount:float
2026-03-03T00:00:00Z,a,10
2026-03-04T00:00:00Z,b,20
";

fn defs(entity: &str) -> String {
    format!(
        r#"
sources:
  events: {{ path: data/events.parquet, time: ts, entity: developer_id, dimensions: [endpoint] }}
  payments: {{ path: data/payments.parquet, time: paid_at, entity: developer_id }}
entities:
  developer:
{entity}
metrics:
  calls: {{ description: c, source: events, filter: "event = 'api_call'", measure: count(*) }}
  big_calls: {{ description: b, source: events, filter: "event = 'api_call' and developer.size >= 10", measure: count(*) }}
  callers: {{ description: d, source: events, filter: "event = 'api_call'", measure: count_distinct(developer_id) }}
  revenue: {{ description: r, source: payments, measure: sum(amount) }}
  activation:
    description: signups that call within a day
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - call: event = 'api_call'
      within: 1d
      value: conversion_rate
  ltv:
    description: revenue per developer by signup week
    cohort: {{ metric: revenue, source: events, event: "event = 'signup'", period: week, periods: 2, per_entity: true, cumulative: true }}
  activation_same_plan:
    description: the same, every step on one plan
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - call: event = 'api_call'
      within: 1d
      hold_constant: [developer.plan]
      value: conversion_rate
"#
    )
}

const STATIC: &str = "    key: developer_id\n    path: data/developers.parquet\n";
const VERSIONED: &str =
    "    key: developer_id\n    path: data/history.parquet\n    valid_from: valid_from\n";

fn fixture(entity: &str, table: (&str, &str)) -> tempfile::TempDir {
    let defs = defs(entity);
    let p = project(
        "default_range: { from: 2026-03-02, to: 2026-03-16 }\n",
        &defs,
        &[
            ("data/events.parquet", EVENTS),
            ("data/payments.parquet", PAYMENTS),
        ],
    );
    typed_csv_to_parquet(table.1, &p.path().join(table.0));
    p
}

fn static_table() -> tempfile::TempDir {
    fixture(STATIC, ("data/developers.parquet", DEVELOPERS))
}

#[test]
fn a_breakdown_and_a_filter_by_attributes_of_one_row_per_entity() {
    let p = static_table();
    // Calls: a (pro) 2, b (free) 2, c (null plan) 1 and d (no row) 1: both
    // null. Distinct callers: 1, 1, 2.
    let got = csv(p.path(), "calls callers --group-by developer.plan");
    assert_csv(
        &got,
        "developer.plan,calls,callers
         free,2,1
         pro,2,1
         ,2,2",
    );
    // By week: a's 03-10 call is the only one of the second week; every
    // plan seen has a row in every week.
    let got = csv(p.path(), "calls --by week --group-by developer.plan");
    assert_csv(
        &got,
        "week,developer.plan,calls
         2026-03-02,free,2
         2026-03-02,pro,1
         2026-03-02,,2
         2026-03-09,free,0
         2026-03-09,pro,1
         2026-03-09,,0",
    );
    // size >= 10: a (50) twice and c (10) once; d's null size fails it.
    let got = csv(p.path(), "big_calls");
    assert_csv(&got, "big_calls\n3");
}

#[test]
fn each_row_sees_the_version_that_holds_at_its_time() {
    let p = fixture(VERSIONED, ("data/history.parquet", HISTORY));
    // a: 03-02 10:00 free, 03-10 pro. b: 03-03 11:00 free (its version
    // starts at that instant), 03-04 10:00 pro (the same). c, d: no row.
    let got = csv(p.path(), "calls --group-by developer.plan");
    assert_csv(
        &got,
        "developer.plan,calls
         free,2
         pro,2
         ,2",
    );
    // Holding the plan: a signs up (free from that instant) and calls an
    // hour later, free. b signs up at 10:00 before its first version (null
    // plan) and calls at 11:00 on the free plan: no attempt of one plan
    // converts. Without holding it, both convert.
    let got = csv(p.path(), "activation activation_same_plan");
    assert_csv(
        &got,
        "activation,activation_same_plan
         1.0,0.5",
    );
    // Payments: a's at 03-03 00:00 (free from 03-02 09:00), b's at 03-04
    // 00:00 (free from 03-03 11:00, pro only from 03-04 10:00).
    let got = csv(p.path(), "revenue --group-by developer.plan");
    assert_csv(
        &got,
        "developer.plan,revenue
         free,30.0",
    );
}

#[test]
fn a_date_valid_from_starts_at_local_midnight() {
    // In New York, 2026-03-03 starts at 05:00 UTC: a's call at 04:00 UTC is
    // still 03-02 there and sees no version; the one at 06:00 sees pro.
    let p = project(
        "time_zone: America/New_York\ndefault_range: { from: 2026-03-01, to: 2026-03-05 }\n",
        r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id }
entities:
  developer: { key: developer_id, path: data/developers.parquet, valid_from: since }
metrics:
  calls: { description: c, source: events, measure: count(*) }
"#,
        &[
            (
                "data/events.parquet",
                "ts:timestamp,developer_id\n2026-03-03T04:00:00Z,a\n2026-03-03T06:00:00Z,a\n",
            ),
            (
                "data/developers.parquet",
                "developer_id,since:date,plan\na,2026-03-03,pro\n",
            ),
        ],
    );
    let got = csv(p.path(), "calls --group-by developer.plan");
    assert_csv(
        &got,
        "developer.plan,calls
         pro,1
         ,1",
    );
}

#[test]
fn a_funnel_broken_down_by_an_attribute() {
    let p = static_table();
    // a (pro) signs up 03-02 09:00 and calls an hour later; b (free) the
    // same on 03-03. c and d never sign up: no null row enters the funnel.
    let got = csv(p.path(), "activation --group-by developer.plan");
    assert_csv(
        &got,
        "developer.plan,activation
         free,1.0
         pro,1.0",
    );
}

#[test]
fn two_rows_for_one_key_stop_the_run() {
    let p = fixture(
        STATIC,
        (
            "data/developers.parquet",
            "developer_id,plan,size:int\na,pro,1\na,free,1\nb,free,1\n",
        ),
    );
    let err = findings_of(&["run", "calls", "--group-by", "developer.plan"], p.path());
    assert!(err.contains("E0310"), "{err}");
    assert!(err.contains("two rows for one `developer_id`"), "{err}");
    assert!(err.contains("`a` (2 rows)"), "{err}");
    // A metric that uses no attribute does not read the table, nor does
    // one whose plan names every column (a cohort's rows) but reads no
    // attribute.
    let got = csv(p.path(), "calls");
    assert_csv(&got, "calls\n6");
    stdout_of(&["run", "ltv"], p.path());
    // Two versions from one time.
    let p = fixture(
        VERSIONED,
        (
            "data/history.parquet",
            "developer_id,valid_from:timestamp,plan,size:int\na,2026-03-02T00:00:00Z,pro,1\na,2026-03-02T00:00:00Z,free,1\n",
        ),
    );
    let err = findings_of(&["run", "calls", "--group-by", "developer.plan"], p.path());
    assert!(
        err.contains("two versions of one `developer_id` from one `valid_from`"),
        "{err}"
    );
}

#[test]
fn unknown_attributes_and_sources_without_the_entity_are_errors() {
    let p = static_table();
    std::fs::write(
        p.path().join("defs.yaml"),
        defs(STATIC).replace("developer.size >= 10", "developer.sise >= 10"),
    )
    .unwrap();
    let err = findings_of(&["check"], p.path());
    assert!(err.contains("E0202"), "{err}");
    assert!(err.contains("did you mean `developer.size`?"), "{err}");
    // A source whose entity column is another has no such attribute.
    std::fs::write(
        p.path().join("defs.yaml"),
        defs(STATIC)
            .replace(
                "entity: developer_id }\nentities",
                "entity: amount }\nentities",
            )
            .replace(
                "measure: sum(amount) }",
                "filter: \"developer.plan = 'pro'\", measure: sum(amount) }",
            ),
    )
    .unwrap();
    let err = findings_of(&["check"], p.path());
    assert!(err.contains("unknown column `developer.plan`"), "{err}");
}

/// `metricc explain ARGS` in `dir`: its standard output.
fn explained(dir: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["explain"];
    all.extend(args);
    stdout_of(&all, dir)
}

#[test]
fn explain_names_the_attributes_and_joins_only_where_they_are_used() {
    let p = static_table();
    let has = |text: &str, part: &str| assert!(text.contains(part), "{part}:\n{text}");
    let lacks = |text: &str, part: &str| assert!(!text.contains(part), "{part}:\n{text}");
    let text = explained(
        p.path(),
        &["calls", "revenue", "--group-by", "developer.plan"],
    );
    has(
        &text,
        "attributes developer.plan from entity `developer`: the table's row with the row's `developer_id`; a row without one has nulls",
    );
    // Both groups break down by the plan: each joins.
    has(&text, "Right Join: __attr_key = events.developer_id");
    has(&text, "Right Join: __attr_key = payments.developer_id");
    // Without the breakdown, only `big_calls`'s group uses an attribute,
    // and `calls`, on the same source, is kept out of it.
    let text = explained(p.path(), &["big_calls", "calls", "revenue"]);
    has(&text, "Right Join: __attr_key = events.developer_id");
    lacks(&text, "__attr_key = payments.developer_id");
    lacks(&text, "developer.plan");
    has(
        &text,
        "source `events`, scan with the entity's attributes: 1 aggregate for big_calls",
    );
    has(&text, "source `events`, scan: 1 aggregate for calls");
    // LTV's cohort rows and the retention matrix's rows name every column
    // of their source, so their plans join the table; the optimizer finds
    // no attribute read and drops those joins: one join runs, that of
    // `paid_plan_requests`. The example's numbers are checked elsewhere.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let text = explained(
        p.path(),
        &[
            "-p",
            example.to_str().unwrap(),
            "paid_plan_requests",
            "ltv",
            "retention",
            "revenue_mtd",
            "--physical",
        ],
    );
    let physical = text.split("Physical plan").nth(1).unwrap_or_default();
    let joins = physical
        .lines()
        .filter(|l| l.contains("HashJoinExec") && l.contains("__attr_key"))
        .count();
    assert_eq!(joins, 1, "{physical}");
    // No attribute at all: no table read.
    let text = explained(p.path(), &["calls", "revenue"]);
    lacks(&text, "__entity_developer");
    lacks(&text, "attributes ");
}

#[test]
fn metricc_test_takes_the_entity_rows_under_given() {
    let p = static_table();
    std::fs::create_dir_all(p.path().join("tests")).unwrap();
    std::fs::write(
        p.path().join("tests/plans.test.yaml"),
        r#"
tests:
  - name: calls_by_plan
    metrics: [calls]
    group_by: [developer.plan]
    from: 2026-03-02
    to: 2026-03-09
    given:
      events:
        - { ts: 2026-03-02 10:00, developer_id: x, event: api_call }
        - { ts: 2026-03-03 10:00, developer_id: y, event: api_call }
        - { ts: 2026-03-04 10:00, developer_id: y, event: api_call }
      developer:
        - { developer_id: y, plan: pro }
    expect:
      - { developer.plan: pro, calls: 2 }
      - { developer.plan: null, calls: 1 }
  - name: no_entity_rows_give_nulls
    metrics: [calls]
    group_by: [developer.plan]
    from: 2026-03-02
    to: 2026-03-09
    given:
      events:
        - { ts: 2026-03-02 10:00, developer_id: x, event: api_call }
    expect:
      - { developer.plan: null, calls: 1 }
"#,
    )
    .unwrap();
    let out = metricc(&["test"], p.path());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2 passed"), "{text}");
}
