//! Funnels and `time_between` through `metricc run`, on five developers whose
//! every value below was worked out by hand (the reasoning is in comments).

use crate::run::{assert_csv, csv, events_project, project};

/// Weeks start Monday: 2026-03-02 and 2026-03-09.
const EVENTS: &str = "
ts:timestamp,developer_id,event,status:int,api_key_id,channel
2026-03-02T10:00:00Z,d1,signup,,,search
2026-03-02T11:00:00Z,d1,api_key_created,,k1,
2026-03-03T10:00:00Z,d1,api_call,401,k1,
2026-03-04T10:00:00Z,d1,api_call,200,k1,
2026-03-03T09:00:00Z,d2,api_key_created,,k2,
2026-03-03T09:00:00Z,d2,signup,,,social
2026-03-10T09:00:00Z,d2,api_call,200,k2,
2026-03-04T12:00:00Z,d3,signup,,,search
2026-03-04T13:00:00Z,d3,api_call,200,,
2026-03-05T12:00:00Z,d3,api_key_created,,k3,
2026-03-09T08:00:00Z,d4,signup,,,social
2026-03-09T09:00:00Z,d4,api_key_created,,k4,
2026-03-16T08:00:01Z,d4,api_call,200,k4,
2026-03-10T00:00:00Z,d5,signup,,,search
2026-03-10T01:00:00Z,d5,api_key_created,,k5,
2026-03-10T02:00:00Z,d5,api_call,500,k9,
";

const DEFS: &str = r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [event, channel] }
metrics:
  onboarding:
    description: four steps
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - api_key: event = 'api_key_created'
        - first_call: event = 'api_call'
        - first_success: event = 'api_call' and status < 400
      within: 14d
      reuse_events: true
  activation:
    description: success within 7 days of signup
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - success: event = 'api_call' and status < 400
      within: 7d
      value: conversion_rate
  activation_last:
    description: the same, attributed to the last step reached
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - success: event = 'api_call' and status < 400
      within: 7d
      attribution: last_step
      value: conversion_rate
  strict_onboarding:
    description: no other event between the steps
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - api_key: event = 'api_key_created'
        - first_call: event = 'api_call'
      within: 14d
      order: strict
      value: converted
  keyed:
    description: a call with the key just created
    source: events
    funnel:
      steps:
        - api_key: event = 'api_key_created'
        - call: event = 'api_call'
      within: 14d
      hold_constant: [api_key_id]
      value: converted
  keyed_entered:
    description: entered the keyed funnel
    source: events
    funnel:
      steps:
        - api_key: event = 'api_key_created'
        - call: event = 'api_call'
      within: 14d
      hold_constant: [api_key_id]
      value: entered
  clean_entered:
    description: signups not disqualified by a server error before success
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - success: event = 'api_call' and status < 400
      within: 7d
      exclude:
        - event: event = 'api_call' and status >= 500
          between: [signup, success]
      value: entered
  ttfc:
    description: hours from signup to first call
    source: events
    time_between:
      from: event = 'signup'
      to: event = 'api_call'
      statistic: median
  search_ttfc:
    description: the same, for developers from search
    source: events
    filter: channel = 'search' or event <> 'signup'
    time_between:
      from: event = 'signup'
      to: event = 'api_call'
      statistic: max
"#;

fn fixture() -> tempfile::TempDir {
    project(
        "default_range: { from: 2026-03-02, to: 2026-03-16 }\n",
        DEFS,
        &[("data/events.parquet", EVENTS)],
    )
}

const S: f64 = 1.0 / 3600.0; // one second in hours

#[test]
fn onboarding_step_table_by_week() {
    let p = fixture();
    // Week 03-02: d1 reaches all four steps (key +1h, call +23h, success +24h);
    // d2's key shares the signup's instant (ties take lower steps first: 0h),
    // and its first call at +168h succeeds, so reuse makes it step 4 too (0h);
    // d3 calls before creating a key, so stops at the key (+24h).
    // Week 03-09: d4 (key +1h, call 7d 1s after the key... +167h 1s, success 0h);
    // d5 (key +1h, call +1h that fails: step 3).
    let got = csv(p.path(), "onboarding --by week");
    let (a, b) = (167.0 + S, 168.0 + S);
    let want = format!(
        "week,step,step_name,entities,conversion_from_previous,conversion_from_first,avg_hours_from_previous,median_hours_from_previous,p90_hours_from_previous,median_hours_from_first
2026-03-02,1,signup,3,,,,,,
2026-03-02,2,api_key,3,1.0,1.0,{},1.0,19.4,1.0
2026-03-02,3,first_call,2,{},{},95.5,95.5,153.5,96.0
2026-03-02,4,first_success,2,1.0,{},12.0,12.0,21.6,108.0
2026-03-09,1,signup,2,,,,,,
2026-03-09,2,api_key,2,1.0,1.0,1.0,1.0,1.0,1.0
2026-03-09,3,first_call,2,1.0,1.0,{},{},{},{}
2026-03-09,4,first_success,1,0.5,0.5,0.0,0.0,0.0,{b}
",
        25.0 / 3.0,
        2.0 / 3.0,
        2.0 / 3.0,
        2.0 / 3.0,
        (a + 1.0) / 2.0,
        (a + 1.0) / 2.0,
        1.0 + 0.9 * (a - 1.0),
        (b + 2.0) / 2.0,
    );
    assert_csv(&got, &want);
}

#[test]
fn conversion_window_edge_strict_hold_and_exclusions() {
    let p = fixture();
    // activation: d1 (+48h), d2 (exactly +7d: the edge is inclusive) and d3
    // (+1h, no key needed) convert; d4 succeeds 7d 1s after: too late; d5
    // only fails. strict: d3's call comes between signup and key. keyed:
    // d5's call uses another key. clean_entered: d5's server error after
    // signup, before any success, disqualifies its only attempt.
    let got = csv(
        p.path(),
        "activation strict_onboarding keyed keyed_entered clean_entered --by week",
    );
    assert_csv(
        &got,
        "week,activation,strict_onboarding,keyed,keyed_entered,clean_entered
         2026-03-02,1.0,2,2,3,3
         2026-03-09,0.0,2,1,2,1",
    );
}

#[test]
fn time_between_is_first_from_to_first_to() {
    let p = fixture();
    // Hours to the first call: d1 24, d2 168, d3 1 | d4 168 and 1s, d5 2.
    let got = csv(p.path(), "ttfc activation --by week");
    assert_csv(
        &got,
        &format!(
            "week,ttfc,activation\n2026-03-02,24.0,1.0\n2026-03-09,{},0.0",
            (168.0 + S + 2.0) / 2.0
        ),
    );
    // Totals: the median of five; the activation share of five signups.
    let got = csv(p.path(), "ttfc activation");
    assert_csv(&got, "ttfc,activation\n24.0,0.6");
}

#[test]
fn breakdown_follows_the_attribution() {
    let p = fixture();
    // first_step (default): the signup's channel. last_step: the channel of
    // the last step reached; the success calls carry none (empty = null), so
    // week 03-02's three converters count under null.
    let got = csv(
        p.path(),
        "activation activation_last --by week --group-by channel",
    );
    assert_csv(
        &got,
        "week,channel,activation,activation_last
         2026-03-02,search,1.0,
         2026-03-02,social,1.0,
         2026-03-02,,,1.0
         2026-03-09,search,0.0,0.0
         2026-03-09,social,0.0,0.0
         2026-03-09,,,",
    );
}

#[test]
fn the_range_bounds_entry_not_conversion() {
    let p = fixture();
    // Only week 03-09's signups enter; d4 converts (onboarding, 14d) with its
    // call after the range's end.
    let got = csv(
        p.path(),
        "strict_onboarding --from 2026-03-09 --to 2026-03-16",
    );
    assert_csv(&got, "strict_onboarding\n2");
}

#[test]
fn explain_states_the_rules_and_funnels_have_no_sql() {
    let p = fixture();
    let out = crate::run::metricc(&["explain", "onboarding", "ttfc"], p.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for rule in [
        "edge inclusive",
        "the latest start",
        "ties at one instant take lower steps first",
        "one event may satisfy consecutive steps",
        "first such event over all time",
        "funnel onboarding, step by step",
    ] {
        assert!(text.contains(rule), "missing `{rule}` in:\n{text}");
    }
    let out = crate::run::metricc(&["explain", "onboarding", "--sql"], p.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("E0308") && err.contains("onboarding"), "{err}");
    // Without names, --sql leaves them out with a note.
    let out = crate::run::metricc(&["explain", "--sql"], p.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "nothing is left: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The funnel aggregate runs in one phase after a repartition by entity (the
/// numbers are the other tests' business; this pins the plan shape).
#[test]
fn funnel_aggregate_runs_in_one_phase() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let out = crate::run::metricc(
        &[
            "explain",
            "-p",
            example.to_str().unwrap(),
            "onboarding",
            "ttfc_median",
            "--physical",
        ],
        &example,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let funnel_aggs: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("AggregateExec") && l.contains("metricc_funnel"))
        .collect();
    assert!(!funnel_aggs.is_empty(), "{text}");
    for l in funnel_aggs {
        assert!(l.contains("mode=Single"), "{l}");
    }
}

#[test]
fn sequences_of_one_source_give_alone_what_they_give_together() {
    // All funnels and time_betweens of a source run in one pass; each
    // column must be what the metric gives when it runs alone, whatever
    // the other sequences' filters, orders, windows and held values.
    let p = fixture();
    // By hand, search developers' hours to the first call: d1 24, d3 1, d5
    // 2 (d2 and d4, from social, took 168 and more); the median of all five
    // is d1's 24.
    assert_csv(
        &csv(p.path(), "search_ttfc ttfc"),
        "search_ttfc,ttfc
         24.0,24.0",
    );
    let metrics = [
        "activation",
        "activation_last",
        "strict_onboarding",
        "keyed",
        "keyed_entered",
        "clean_entered",
        "ttfc",
        "search_ttfc",
    ];
    for query in ["--by week", "--by day --group-by channel", ""] {
        let together = csv(p.path(), &format!("{} {query}", metrics.join(" ")));
        let rows: Vec<Vec<&str>> = together.lines().map(|l| l.split(',').collect()).collect();
        let keys = rows[0].len() - metrics.len();
        for (i, m) in metrics.iter().enumerate() {
            let alone = csv(p.path(), &format!("{m} {query}"));
            let alone: Vec<&str> = alone.lines().collect();
            // Together, the grid also has the breakdown values other
            // metrics saw: those extra rows are empty (0 for counts).
            let column: Vec<String> = rows
                .iter()
                .map(|r| {
                    let mut cells: Vec<&str> = r[..keys].to_vec();
                    cells.push(r[keys + i]);
                    cells.join(",")
                })
                .filter(|row| {
                    alone.contains(&row.as_str()) || {
                        let cell = row.rsplit(',').next().unwrap_or("");
                        let key = &row[..row.len() - cell.len()];
                        assert!(
                            !alone.iter().any(|a| a.starts_with(key)),
                            "{m} with `{query}`: {row} differs from alone"
                        );
                        assert!(cell.is_empty() || cell == "0", "{m}: {row}");
                        false
                    }
                })
                .collect();
            assert_eq!(alone, column, "{m} with `{query}`");
        }
    }
}

/// ClickHouse's `funnel_test_strict_order` table (its test
/// `00632_aggregation_window_funnel`): six users, steps a, b, c, and `d`
/// matching none, one second apart.
const CLICKHOUSE_ROWS: &[(&str, &str)] = &[
    ("u1", "abc"),
    ("u2", "adbc"),
    ("u3", "aabbcc"),
    ("u4", "aaaabbcc"),
    ("u5", "aabbdcc"),
    ("u6", "ccbbaa"),
];

#[test]
fn clickhouse_modes_through_run() {
    let mut events = String::from("ts:timestamp,developer_id,event\n");
    for (user, rows) in CLICKHOUSE_ROWS {
        for (i, e) in rows.chars().enumerate() {
            events.push_str(&format!("2026-03-02T10:00:0{}Z,{user},{e}\n", i + 1));
        }
    }
    let funnel = |name: &str, options: &str| {
        format!(
            "  {name}:\n    description: a b c\n    source: events\n    funnel:\n      steps:\n        - a: event = 'a'\n        - b: event = 'b'\n        - c: event = 'c'\n      within: 1d\n{options}"
        )
    };
    let p = events_project(
        "2026-03-02",
        "2026-03-09",
        &events,
        &[
            funnel("ch_default", "      reuse_events: true\n"),
            funnel("ch_strict_order", "      order: strict_order\n"),
            funnel(
                "ch_dedup",
                "      order: strict_order\n      strict_deduplication: true\n",
            ),
            funnel("posthog_strict", "      order: strict\n"),
        ],
    );
    // ClickHouse's levels per user: default 3 3 3 3 3 1; strict_order
    // 3 1 3 3 2 1; with strict_deduplication 3 1 2 2 2 1. PostHog's strict
    // (metricc's `strict`): u1 3; u2 1 (d breaks it); u3 to u5 2 (the
    // repeated a or b breaks each attempt); u6 1.
    for (metric, reached) in [
        ("ch_default", [6, 5, 5]),
        ("ch_strict_order", [6, 4, 3]),
        ("ch_dedup", [6, 4, 1]),
        ("posthog_strict", [6, 4, 1]),
    ] {
        let got = csv(p.path(), metric);
        let entities: Vec<String> = got
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().to_string())
            .collect();
        assert_eq!(entities, reached.map(|n| n.to_string()), "{metric}:\n{got}");
    }
    // explain names the mode.
    let out = crate::run::metricc(&["explain", "ch_dedup"], p.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("order     strict_order (ClickHouse's windowFunnel)"),
        "{text}"
    );
    assert!(text.contains("dedup     strict_deduplication"), "{text}");
}

#[test]
fn window_edge_and_unbounded_windows() {
    // d1 converts exactly 7 days after signing up, d2 eight days after.
    let events = "ts:timestamp,developer_id,event
2026-03-02T10:00:00Z,d1,signup
2026-03-09T10:00:00Z,d1,paid
2026-03-02T10:00:00Z,d2,signup
2026-03-10T10:00:00Z,d2,paid
";
    let funnel = |name: &str, options: &str| {
        format!(
            "  {name}:\n    description: signup to paid\n    source: events\n    funnel:\n      steps:\n        - signup: event = 'signup'\n        - paid: event = 'paid'\n{options}      value: converted\n"
        )
    };
    let p = events_project(
        "2026-03-02",
        "2026-03-03",
        events,
        &[
            funnel("inclusive", "      within: 7d\n"),
            funnel(
                "exclusive",
                "      within: 7d\n      window_edge: exclusive\n",
            ),
            funnel("unbounded", "      within: unbounded\n"),
        ],
    );
    // Inclusive (ClickHouse, PostHog): d1's payment at exactly 7d counts, 1.
    // Exclusive (MetricFlow): it does not, 0. Unbounded: both, 2.
    assert_csv(
        &csv(p.path(), "inclusive exclusive unbounded --by day"),
        "day,inclusive,exclusive,unbounded\n2026-03-02,1,0,2",
    );
    let out = crate::run::metricc(&["explain", "exclusive", "unbounded"], p.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("7d from the attempt's first event, edge exclusive"),
        "{text}"
    );
    assert!(
        text.contains("window    unbounded: any later step counts"),
        "{text}"
    );
}

#[test]
fn best_attempt_first_complete_reports_posthogs_times() {
    // d1 signs up twice and converts after each: 1 hour after the first,
    // 4 hours after the second.
    let events = "ts:timestamp,developer_id,event
2026-03-02T00:00:00Z,d1,signup
2026-03-02T01:00:00Z,d1,paid
2026-03-02T05:00:00Z,d1,signup
2026-03-02T09:00:00Z,d1,paid
";
    let funnel = |name: &str, options: &str| {
        format!(
            "  {name}:\n    description: signup to paid\n    source: events\n    funnel:\n      steps:\n        - signup: event = 'signup'\n        - paid: event = 'paid'\n      within: 1d\n{options}"
        )
    };
    let p = events_project(
        "2026-03-02",
        "2026-03-03",
        events,
        &[
            funnel("latest", ""),
            funnel("posthog", "      best_attempt: first_complete\n"),
        ],
    );
    let hours = |metric: &str| -> String {
        let got = csv(p.path(), metric);
        got.lines()
            .nth(2)
            .unwrap()
            .split(',')
            .nth(6)
            .unwrap()
            .to_string()
    };
    // `median_hours_from_previous` of step 2.
    assert_eq!(hours("latest"), "4.0");
    assert_eq!(hours("posthog"), "1.0");
}

#[test]
fn time_to_convert_bins_the_time_between_two_steps() {
    // Signup to paid: d1 30 minutes, d2 2 hours, d3 3 days, d4 exactly
    // 1 hour (an edge belongs to the bin above it); d5 never pays.
    let events = "ts:timestamp,developer_id,event
2026-03-02T10:00:00Z,d1,signup
2026-03-02T10:30:00Z,d1,paid
2026-03-02T10:00:00Z,d2,signup
2026-03-02T12:00:00Z,d2,paid
2026-03-03T10:00:00Z,d3,signup
2026-03-06T10:00:00Z,d3,paid
2026-03-03T10:00:00Z,d4,signup
2026-03-03T11:00:00Z,d4,paid
2026-03-04T10:00:00Z,d5,signup
";
    let defs = "sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id }
metrics:
  ttc:
    description: time from signup to paid
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - paid: event = 'paid'
      within: 7d
      value: time_to_convert
      time_to_convert: { bins: [1h, 1d] }
  ttc_default:
    description: the same with the default bins
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - paid: event = 'paid'
      within: 7d
      value: time_to_convert
";
    let p = project(
        "default_range: { from: 2026-03-02, to: 2026-03-09 }\n",
        defs,
        &[("data/events.parquet", events)],
    );
    assert_csv(
        &csv(p.path(), "ttc"),
        "bin,from,to,entities,share
         1,0,1h,1,0.25
         2,1h,1d,2,0.5
         3,1d,,1,0.25",
    );
    // By day: 03-02 has d1 and d2, 03-03 has d3 and d4, 03-04 only d5 who
    // never paid (0 of 0: share null).
    let got = csv(p.path(), "ttc --by day");
    assert!(got.contains("2026-03-02,1,0,1h,1,0.5"), "{got}");
    assert!(got.contains("2026-03-03,3,1d,,1,0.5"), "{got}");
    assert!(got.contains("2026-03-04,1,0,1h,0,\n"), "{got}");
    // Default bins: 1m 10m 1h 6h 1d 3d 7d, and beyond.
    let got = csv(p.path(), "ttc_default");
    let entities: Vec<&str> = got
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    // 30m in [10m, 1h); 1h and 2h in [1h, 6h); 3d in [3d, 7d).
    assert_eq!(entities, ["0", "0", "1", "2", "0", "0", "1", "0"], "{got}");
}

#[test]
fn exclude_scope_entity_drops_the_entity_when_the_counted_attempt_saw_one() {
    // d1: signup, cancel, pay, signup, pay. Its first attempt saw the
    // cancel; its second is clean. d2: signup, pay (clean).
    // Both attempts of d1 complete, and the latest start counts: clean,
    // so both scopes count d1. d3: signup, pay, signup, cancel, pay: the
    // counted attempt (the latest start) saw the cancel: `attempt` keeps
    // d3's first attempt, `entity` drops d3.
    let events = "ts:timestamp,developer_id,event
2026-03-02T00:00:00Z,d1,signup
2026-03-02T01:00:00Z,d1,cancel
2026-03-02T02:00:00Z,d1,pay
2026-03-02T03:00:00Z,d1,signup
2026-03-02T04:00:00Z,d1,pay
2026-03-02T00:00:00Z,d2,signup
2026-03-02T01:00:00Z,d2,pay
2026-03-02T00:00:00Z,d3,signup
2026-03-02T01:00:00Z,d3,pay
2026-03-02T02:00:00Z,d3,signup
2026-03-02T03:00:00Z,d3,cancel
2026-03-02T04:00:00Z,d3,pay
";
    let funnel = |name: &str, options: &str| {
        format!(
            "  {name}:\n    description: signup to pay\n    source: events\n    funnel:\n      steps:\n        - signup: event = 'signup'\n        - pay: event = 'pay'\n      within: 1d\n      exclude:\n        - event: event = 'cancel'\n          between: [signup, pay]\n{options}      value: converted\n"
        )
    };
    let p = events_project(
        "2026-03-02",
        "2026-03-03",
        events,
        &[
            funnel("per_attempt", ""),
            funnel("per_entity", "      exclude_scope: entity\n"),
        ],
    );
    assert_csv(
        &csv(p.path(), "per_attempt per_entity"),
        "per_attempt,per_entity\n3,2",
    );
}

/// Two rows of one step at one instant that differ only in their
/// breakdown value: one event in metricc's orders, so a breakdown adds up
/// to the total; two rows (a repeated step) under ClickHouse's
/// deduplication, as ClickHouse reads them.
#[test]
fn a_breakdown_never_changes_how_far_an_entity_got() {
    let events = "ts:timestamp,developer_id,event,channel
2026-03-02T09:00:00Z,d1,signup,web
2026-03-02T10:00:00Z,d1,api_key_created,web
2026-03-02T10:00:00Z,d1,api_key_created,ads
2026-03-02T11:00:00Z,d1,api_call,web
";
    let funnel = |name: &str, options: &str| {
        format!(
            "  {name}:\n    description: three steps\n    source: events\n    funnel:\n      steps:\n        - signup: event = 'signup'\n        - key: event = 'api_key_created'\n        - call: event = 'api_call'\n      within: 1d\n{options}      value: converted\n"
        )
    };
    let defs = format!(
        "sources:\n  events: {{ path: data/events.parquet, time: ts, entity: developer_id, dimensions: [channel] }}\nmetrics:\n{}{}",
        funnel("strict", "      order: strict\n"),
        funnel(
            "dedup",
            "      order: strict_order\n      strict_deduplication: true\n"
        ),
    );
    let p = project(
        "default_range: { from: 2026-03-02, to: 2026-03-03 }\n",
        &defs,
        &[("data/events.parquet", events)],
    );
    // strict: the two key rows are one event, so the call follows it: 1,
    // with or without the breakdown. ClickHouse's deduplication sees the
    // key twice and stops at 2: 0, with or without it.
    assert_csv(&csv(p.path(), "strict dedup"), "strict,dedup\n1,0");
    assert_csv(
        &csv(p.path(), "strict dedup --group-by channel"),
        "channel,strict,dedup\nweb,1,0",
    );
    // `order: strict` with ClickHouse's deduplication is refused.
    let p = events_project(
        "",
        "",
        events,
        &[funnel(
            "both",
            "      order: strict\n      strict_deduplication: true\n",
        )],
    );
    let out = crate::run::metricc(&["check"], p.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("E0223") && text.contains("order: strict_order"),
        "{text}"
    );
}
