//! Active, churn, retention and cohort metrics through `metricc run`, on a
//! handful of developers whose every value below was worked out by hand (the
//! reasoning is in comments).

use crate::run::{assert_csv, csv, events_project, metricc, project};

/// The rows of the terminal table printed under `title:`, as CSV text
/// (`null` cells empty), for the result tables a CSV file leaves out.
fn table_after(dir: &std::path::Path, args: &str, title: &str) -> String {
    let mut all: Vec<&str> = vec!["run", "--quiet"];
    all.extend(args.split_whitespace());
    let out = metricc(&all, dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let start = text
        .find(&format!("{title}:"))
        .unwrap_or_else(|| panic!("no `{title}` in:\n{text}"));
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l
                .trim_matches('|')
                .split('|')
                .map(|c| match c.trim() {
                    "null" => "",
                    c => c,
                })
                .collect();
            format!("{}\n", cells.join(","))
        })
        .collect()
}

// Sunday 2026-03-01; weeks start Monday 2026-03-02.
const CALLS: &str = "
ts:timestamp,developer_id,event,endpoint
2026-02-20T10:00:00Z,a,api_call,/x
2026-03-01T00:00:00Z,a,api_call,/x
2026-03-03T23:59:59Z,a,api_call,/y
2026-03-02T12:00:00Z,b,api_call,/x
2026-03-02T13:00:00Z,b,api_call,/x
2026-03-06T00:00:00Z,b,api_call,/x
2026-02-27T09:00:00Z,c,api_call,/y
2026-03-04T08:00:00Z,d,signup,
2026-03-05T08:00:00Z,d,api_call,/y
";

const ACTIVE_DEFS: &str = r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [endpoint] }
metrics:
  dau: { description: d, source: events, filter: "event = 'api_call'", active: { window: 1d } }
  wau: { description: w, source: events, filter: "event = 'api_call'", active: { window: 7d } }
  wtd: { description: w, source: events, filter: "event = 'api_call'", active: { calendar: week } }
  stickiness: { description: s, formula: dau / wau }
  churned: { description: c, source: events, filter: "event = 'api_call'", churn: { window: 2d, value: churned } }
  churn_rate: { description: c, source: events, filter: "event = 'api_call'", churn: { window: 2d, value: rate } }
  new: { description: c, source: events, filter: "event = 'api_call'", churn: { window: 2d, value: new } }
  returning: { description: c, source: events, filter: "event = 'api_call'", churn: { window: 2d, value: returning } }
  resurrected: { description: c, source: events, filter: "event = 'api_call'", churn: { window: 2d, value: resurrected } }
  dormant: { description: c, source: events, filter: "event = 'api_call'", churn: { window: 2d, value: dormant } }
  net: { description: c, source: events, filter: "event = 'api_call'", churn: { window: 2d, value: net_growth } }
"#;

fn active_fixture(project_extra: &str) -> tempfile::TempDir {
    project(
        &format!("default_range: {{ from: 2026-03-01, to: 2026-03-08 }}\n{project_extra}"),
        ACTIVE_DEFS,
        &[("data/events.parquet", CALLS)],
    )
}

#[test]
fn dau_wau_and_week_to_date_by_day() {
    let p = active_fixture("");
    // Day D's windows end at D+1 00:00. dau: [D, D+1); wau: [D-6, D+1).
    // 03-01: dau a (exactly 00:00); wau a, c (02-27) — a's 02-20 is too old.
    // 03-02: b; wau a b c. 03-03: a (23:59:59); a b c. 03-04: nobody (d's
    // signup is no call); a b c. 03-05: d; wau from 02-27 00:00 keeps c: 4.
    // 03-06: b (00:00); c is gone: a b d. 03-07: nobody; from 03-01 00:00
    // exactly: a b d.
    // Week to date (weeks from Monday 03-02): 03-01 is the week of 02-23:
    // a, c. 03-02: b. 03-03 and 03-04: a b. 03-05 on: a b d.
    let got = csv(p.path(), "--by day dau wau wtd stickiness");
    assert_csv(
        &got,
        "day,dau,wau,wtd,stickiness
         2026-03-01,1,2,2,0.5
         2026-03-02,1,3,1,0.3333333333333333
         2026-03-03,1,3,2,0.3333333333333333
         2026-03-04,0,3,2,0
         2026-03-05,1,4,3,0.25
         2026-03-06,1,3,3,0.3333333333333333
         2026-03-07,0,3,3,0",
    );
    // One bucket: the windows end at the range's end, 03-08.
    let got = csv(p.path(), "dau wau");
    assert_csv(&got, "dau,wau\n0,3");
}

#[test]
fn churn_and_lifecycle_by_day() {
    let p = active_fixture("");
    // Window 2d: current [D-1, D+1), previous [D-3, D-1).
    // 03-01: cur a (03-01); prev c (02-27): c churned; a resurrected (its
    //   02-20 is before the previous window). rate 1/1, net 0 - 1.
    // 03-02: cur a, b; prev c: c churned, b new, a resurrected. net 1 - 1.
    // 03-03: cur a (03-03), b; prev a (03-01): a returning, b new; rate 0/1.
    // 03-04: cur a (03-03 23:59:59); prev a, b: b churned, a returning; 1/2.
    // 03-05: cur d; prev a (03-03), b (03-02): both churned; d new. 2/2.
    // 03-06: cur d, b (03-06 00:00); prev a: a churned; b resurrected (its
    //   03-02 is before 03-03); d new. 1/1.
    // 03-07: cur b; prev d: d churned; b resurrected. 1/1.
    let got = csv(
        p.path(),
        "--by day churned churn_rate new returning resurrected dormant net",
    );
    assert_csv(
        &got,
        "day,churned,churn_rate,new,returning,resurrected,dormant,net
         2026-03-01,1,1,0,0,1,1,-1
         2026-03-02,1,1,1,0,1,1,0
         2026-03-03,0,0,1,1,0,0,1
         2026-03-04,1,0.5,0,1,0,1,-1
         2026-03-05,2,1,1,0,0,2,-1
         2026-03-06,1,1,1,0,1,1,0
         2026-03-07,1,1,0,0,1,1,-1",
    );
}

#[test]
fn active_by_endpoint_counts_each_value() {
    let p = active_fixture("");
    // Weekly, wau at each week's end. Week of 02-23 (clipped to 03-01..03-02,
    // window [02-23, 03-02)): a /x (03-01), c /y (02-27). Week of 03-02
    // (clipped to 03-08, window [03-01, 03-08)): /x a b; /y a d.
    let got = csv(p.path(), "--by week --group-by endpoint wau");
    assert_csv(
        &got,
        "week,endpoint,wau
         2026-02-23,/x,1
         2026-02-23,/y,1
         2026-03-02,/x,2
         2026-03-02,/y,2",
    );
}

#[test]
fn days_follow_the_project_time_zone_across_daylight_saving() {
    // New York springs forward on 2026-03-08 (a 23-hour day). 03-09 03:30Z is
    // 03-08 23:30 EDT: active on the 8th. 03-09 04:30Z is 00:30 on the 9th.
    let p = project(
        "default_range: { from: 2026-03-07, to: 2026-03-10 }\ntime_zone: America/New_York\n",
        ACTIVE_DEFS,
        &[(
            "data/events.parquet",
            "
ts:timestamp,developer_id,event,endpoint
2026-03-09T03:30:00Z,a,api_call,/x
2026-03-09T04:30:00Z,b,api_call,/x
",
        )],
    );
    let got = csv(p.path(), "--by day dau wau");
    assert_csv(
        &got,
        "day,dau,wau
         2026-03-07,0,0
         2026-03-08,1,1
         2026-03-09,1,2",
    );
}

const SIGNUPS: &str = "
ts:timestamp,developer_id,event
2026-03-02T10:00:00Z,a,signup
2026-03-02T10:00:00Z,a,api_call
2026-03-09T00:00:00Z,a,api_call
2026-03-08T23:00:00Z,b,signup
2026-03-08T22:00:00Z,b,api_call
2026-03-16T01:00:00Z,b,api_call
2026-02-20T09:00:00Z,c,signup
2026-03-03T09:00:00Z,c,signup
2026-03-04T09:00:00Z,c,api_call
2026-03-10T12:00:00Z,d,signup
";

fn retention_fixture() -> tempfile::TempDir {
    let metric = |name: &str, extra: &str| {
        format!(
            "  {name}:\n    description: r\n    source: events\n    retention:\n      cohort: event = 'signup'\n      return: event = 'api_call'\n      period: week\n      periods: 2\n{extra}"
        )
    };
    events_project(
        "2026-03-02",
        "2026-03-18",
        SIGNUPS,
        &[
            metric("weekly", ""),
            metric("unbounded", "      match: on_or_after\n"),
            metric("recurring", "      cohort_type: recurring\n"),
            metric("rolling", "      anchor: rolling\n"),
        ],
    )
}

#[test]
fn weekly_retention_by_signup_cohort() {
    let p = retention_fixture();
    // Cohort week 03-02: a (signup Mon 10:00), b (Sun 23:00). c's first
    // signup (02-20) is before the range: no cohort.
    // Period 0: a's call at the signup instant counts; b's call an hour
    // before its signup does not. Period 1 (from 03-09 00:00 exactly): a.
    // Period 2 (03-16): b. Cohort 03-09: d, no calls; its period 2 (03-23)
    // starts after the range's end (03-18): null. Cohort 03-16: empty.
    let got = csv(p.path(), "weekly");
    assert_csv(
        &got,
        "cohort,period,cohort_size,retained,retention_rate
         2026-03-02,0,2,1,0.5
         2026-03-02,1,2,1,0.5
         2026-03-02,2,2,1,0.5
         2026-03-09,0,1,0,0
         2026-03-09,1,1,0,0
         2026-03-09,2,1,,
         2026-03-16,0,0,0,
         2026-03-16,1,0,,
         2026-03-16,2,0,,",
    );
}

#[test]
fn retention_options() {
    let p = retention_fixture();
    // on_or_after: a's latest return is in period 1, b's in period 2, so b
    // counts in 0, 1 and 2, a in 0 and 1.
    let got = csv(p.path(), "unbounded --to 2026-03-16");
    // With --to 03-16, b's 03-16 call is not read, period 2 has not begun.
    assert_csv(
        &got,
        "cohort,period,cohort_size,retained,retention_rate
         2026-03-02,0,2,1,0.5
         2026-03-02,1,2,1,0.5
         2026-03-02,2,2,,
         2026-03-09,0,1,0,0
         2026-03-09,1,1,,
         2026-03-09,2,1,,",
    );
    let got = csv(p.path(), "unbounded");
    assert_csv(
        &got,
        "cohort,period,cohort_size,retained,retention_rate
         2026-03-02,0,2,2,1
         2026-03-02,1,2,2,1
         2026-03-02,2,2,1,0.5
         2026-03-09,0,1,0,0
         2026-03-09,1,1,0,0
         2026-03-09,2,1,,
         2026-03-16,0,0,0,
         2026-03-16,1,0,,
         2026-03-16,2,0,,",
    );
    // Recurring: c's signup of 03-03 starts a cohort in week 03-02, and its
    // call of 03-04 is period 0.
    let got = csv(p.path(), "recurring --to 2026-03-16");
    assert_csv(
        &got,
        "cohort,period,cohort_size,retained,retention_rate
         2026-03-02,0,3,2,0.6666666666666666
         2026-03-02,1,3,1,0.3333333333333333
         2026-03-02,2,3,,
         2026-03-09,0,1,0,0
         2026-03-09,1,1,,
         2026-03-09,2,1,,",
    );
    // Rolling weeks from the signup instant: a's 03-09 00:00 call is 6d14h
    // after its signup, period 0; b's 03-16 01:00 call is 7d2h after its,
    // period 1. Period k is eligible when it starts before 03-18 00:00: a's
    // period 2 (03-16 10:00) is, b's (03-22 23:00) is not; d's period 1
    // (03-17 12:00) is, its period 2 is not.
    let got = csv(p.path(), "rolling");
    assert_csv(
        &got,
        "cohort,period,cohort_size,eligible,retained,retention_rate
         2026-03-02,0,2,2,1,0.5
         2026-03-02,1,2,2,1,0.5
         2026-03-02,2,2,1,0,0
         2026-03-09,0,1,1,0,0
         2026-03-09,1,1,1,0,0
         2026-03-09,2,1,0,,
         2026-03-16,0,0,0,0,
         2026-03-16,1,0,0,,
         2026-03-16,2,0,0,,",
    );
}

const LTV_EVENTS: &str = "
ts:timestamp,developer_id,event,channel
2026-01-10T10:00:00Z,a,signup,search
2026-01-20T10:00:00Z,b,signup,social
2026-02-05T10:00:00Z,c,signup,search
2025-12-20T10:00:00Z,d,signup,search
";

const LTV_PAYMENTS: &str = "
ts:timestamp,developer_id,amount:float
2026-01-09T10:00:00Z,a,5
2026-01-15T10:00:00Z,a,10
2026-02-15T10:00:00Z,a,20
2026-03-15T10:00:00Z,a,30
2026-03-01T10:00:00Z,b,40
2026-02-05T12:00:00Z,c,7
2026-01-05T10:00:00Z,d,100
";

const LTV_DEFS: &str = r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [channel] }
  payments: { path: data/payments.parquet, time: ts, entity: developer_id }
metrics:
  revenue: { description: r, source: payments, measure: sum(amount) }
  ltv:
    description: l
    cohort: { metric: revenue, source: events, event: "event = 'signup'", period: month, periods: 2, per_entity: true, cumulative: true }
  cohort_revenue:
    description: l
    cohort: { metric: revenue, source: events, event: "event = 'signup'", period: month, periods: 2 }
"#;

#[test]
fn ltv_by_signup_month() {
    let p = project(
        "default_range: { from: 2026-01-01, to: 2026-04-01 }\n",
        LTV_DEFS,
        &[
            ("data/events.parquet", LTV_EVENTS),
            ("data/payments.parquet", LTV_PAYMENTS),
        ],
    );
    // January cohort: a and b. Periods 0 and 1 are January and February.
    // a's 5 of 01-09 comes before its signup: not counted; a pays 10 in
    // January, 20 in February; its 30 of March and b's 40 of March are in
    // period 2, outside the 2 periods. So 30 over 2 developers: 15.
    // February cohort: c, who pays 7 two hours after signing up: 7.
    // March: no cohort, null per developer, 0 in total. d's cohort
    // (December) is before the range: its 100 counts nowhere.
    let got = csv(p.path(), "--by month ltv cohort_revenue");
    assert_csv(
        &got,
        "month,ltv,cohort_revenue
         2026-01-01,15,30
         2026-02-01,7,7
         2026-03-01,,0",
    );
    // The table, period by period: cumulative per developer, 10/2 then 30/2;
    // c's 7 then 7 again; April (period 1 of March) has not begun.
    let got = table_after(p.path(), "ltv", "ltv: by cohort and period since");
    assert_csv(
        &got,
        "cohort,period,cohort_size,ltv
         2026-01-01,0,2,5
         2026-01-01,1,2,15
         2026-02-01,0,1,7
         2026-02-01,1,1,7
         2026-03-01,0,0,
         2026-03-01,1,0,",
    );
    // Broken down by the signup's channel: search is a (and c), social b.
    let got = csv(p.path(), "--by month --group-by channel ltv");
    assert_csv(
        &got,
        "month,channel,ltv
         2026-01-01,search,30
         2026-01-01,social,0
         2026-02-01,search,7
         2026-02-01,social,
         2026-03-01,search,
         2026-03-01,social,",
    );
}

#[test]
fn more_memberships_than_one_call_reports() {
    // 65 active metrics on one filter: one aggregate reports at most 63, so
    // the planner opens a second group. Each must equal its value alone.
    let mut defs = String::from(
        "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [endpoint] }\nmetrics:\n",
    );
    for d in 1..=65 {
        defs.push_str(&format!(
            "  a{d}: {{ description: d, source: events, filter: \"event = 'api_call'\", active: {{ window: {d}d }} }}\n"
        ));
    }
    let p = project(
        "default_range: { from: 2026-03-01, to: 2026-03-08 }\n",
        &defs,
        &[("data/events.parquet", CALLS)],
    );
    let all = csv(p.path(), "--by day");
    let header: Vec<&str> = all.lines().next().unwrap().split(',').collect();
    for name in ["a1", "a2", "a63", "a64", "a65"] {
        let col = header.iter().position(|h| *h == name).unwrap();
        let together: Vec<&str> = all
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(col).unwrap())
            .collect();
        let alone = csv(p.path(), &format!("--by day {name}"));
        let alone: Vec<&str> = alone
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap())
            .collect();
        assert_eq!(together, alone, "{name}");
    }
    // By hand: a1 is the dau of dau_wau_and_week_to_date_by_day.
    let col = header.iter().position(|h| *h == "a1").unwrap();
    let a1: Vec<&str> = all
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap())
        .collect();
    assert_eq!(a1, ["1", "1", "1", "0", "1", "1", "0"]);
}

#[test]
fn cohorts_on_a_date_column_compare_local_days() {
    // Signups are dates (local days in Los Angeles); payments are instants.
    // 2026-02-01T04:00Z is 2026-01-31 20:00 in Los Angeles: before the
    // signup day, so not lifetime value. 2026-02-10T04:00Z is 02-09 20:00.
    let p = project(
        "default_range: { from: 2026-01-01, to: 2026-03-01 }\ntime_zone: America/Los_Angeles\n",
        r#"
sources:
  signups: { path: data/signups.parquet, time: day, entity: developer_id }
  payments: { path: data/payments.parquet, time: ts, entity: developer_id }
metrics:
  revenue: { description: r, source: payments, measure: sum(amount) }
  ltv:
    description: l
    cohort: { metric: revenue, source: signups, event: "true", period: month, periods: 2, per_entity: true }
"#,
        &[
            (
                "data/signups.parquet",
                "\nday:date,developer_id\n2026-02-01,a\n",
            ),
            (
                "data/payments.parquet",
                "\nts:timestamp,developer_id,amount:float\n2026-02-01T04:00:00Z,a,100\n2026-02-10T04:00:00Z,a,1\n",
            ),
        ],
    );
    let got = csv(p.path(), "--by month ltv");
    assert_csv(&got, "month,ltv\n2026-01-01,\n2026-02-01,1");
    let got = table_after(p.path(), "ltv", "ltv: by cohort and period since");
    assert_csv(
        &got,
        "cohort,period,cohort_size,ltv
         2026-01-01,0,0,
         2026-01-01,1,0,
         2026-02-01,0,1,1
         2026-02-01,1,1,",
    );
}

#[test]
fn ties_at_the_cohort_event_go_to_the_lowest_value() {
    // x signs up twice at one instant, under channels `z` and `ab`: the
    // lowest value, `ab`, takes it, in retention and in cohort metrics alike
    // (not the shortest).
    let p = project(
        "default_range: { from: 2026-03-02, to: 2026-03-09 }\n",
        r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [channel] }
metrics:
  calls: { description: c, source: events, filter: "event = 'api_call'", measure: count(*) }
  weekly:
    description: r
    source: events
    retention: { cohort: "event = 'signup'", return: "event = 'api_call'", period: week, periods: 1 }
  per_signup:
    description: c
    cohort: { metric: calls, source: events, event: "event = 'signup'", period: week, periods: 1 }
"#,
        &[(
            "data/events.parquet",
            "
ts:timestamp,developer_id,event,channel
2026-03-03T10:00:00Z,x,signup,z
2026-03-03T10:00:00Z,x,signup,ab
2026-03-04T10:00:00Z,x,api_call,
",
        )],
    );
    let got = csv(p.path(), "weekly --group-by channel");
    assert_csv(
        &got,
        "cohort,channel,period,cohort_size,retained,retention_rate
         2026-03-02,ab,0,1,1,1
         2026-03-02,ab,1,1,,",
    );
    let got = csv(p.path(), "per_signup --by week --group-by channel");
    assert_csv(&got, "week,channel,per_signup\n2026-03-02,ab,1");
}

#[test]
fn a_breakdown_may_not_shadow_a_table_column() {
    let p = project(
        "default_range: { from: 2026-03-02, to: 2026-03-09 }\n",
        r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [period] }
metrics:
  weekly:
    description: r
    source: events
    retention: { cohort: "event = 'signup'", return: "event = 'api_call'", period: week, periods: 1 }
"#,
        &[(
            "data/events.parquet",
            "\nts:timestamp,developer_id,event,period\n2026-03-03T10:00:00Z,x,signup,a\n",
        )],
    );
    let out = metricc(&["run", "weekly", "--group-by", "period"], p.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("E0303") && err.contains("already has a column `period`"),
        "{err}"
    );
}

#[test]
fn table_picks_the_result_table_a_file_gets() {
    let p = retention_fixture();
    // Without --table a CSV holds the first table; --table names another.
    let got = csv(p.path(), "weekly --table weekly --to 2026-03-09");
    assert_csv(
        &got,
        "cohort,period,cohort_size,retained,retention_rate
         2026-03-02,0,2,1,0.5
         2026-03-02,1,2,,
         2026-03-02,2,2,,",
    );
    let out = metricc(&["run", "weekly", "--table", "steps"], p.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("E0301") && err.contains("`weekly`"), "{err}");
}

#[test]
fn retention_min_occurrences_counts_returns_per_period() {
    // Cohort week 03-02: a and b sign up. Week 1 (03-09): a calls twice,
    // b once. Week 2 (03-16): b calls twice, one of them twice in the same
    // second (two rows, two occurrences). Period 0: a calls once, at the
    // signup instant; b never.
    let events = "
ts:timestamp,developer_id,event
2026-03-02T10:00:00Z,a,signup
2026-03-02T10:00:00Z,a,api_call
2026-03-09T08:00:00Z,a,api_call
2026-03-10T08:00:00Z,a,api_call
2026-03-03T10:00:00Z,b,signup
2026-03-11T10:00:00Z,b,api_call
2026-03-17T10:00:00Z,b,api_call
2026-03-17T10:00:00Z,b,api_call
";
    let metric = |name: &str, extra: &str| {
        format!(
            "  {name}:\n    description: r\n    source: events\n    retention:\n      cohort: event = 'signup'\n      return: event = 'api_call'\n      period: week\n      periods: 2\n{extra}"
        )
    };
    let p = events_project(
        "2026-03-02",
        "2026-03-23",
        events,
        &[
            metric("twice", "      min_occurrences: 2\n"),
            metric(
                "twice_after",
                "      min_occurrences: 2\n      match: on_or_after\n",
            ),
        ],
    );
    // Period 0 needs one call (a). Period 1 needs two: a. Period 2: b (its
    // two rows in one second count twice).
    assert_csv(
        &csv(p.path(), "twice --table twice"),
        "cohort,period,cohort_size,retained,retention_rate
         2026-03-02,0,2,1,0.5
         2026-03-02,1,2,1,0.5
         2026-03-02,2,2,1,0.5
         2026-03-09,0,0,0,
         2026-03-09,1,0,0,
         2026-03-09,2,0,,
         2026-03-16,0,0,0,
         2026-03-16,1,0,,
         2026-03-16,2,0,,",
    );
    // On or after: period 1 counts b too (its qualifying week 2 is later).
    let got = csv(p.path(), "twice_after --table twice_after");
    assert!(got.contains("2026-03-02,1,2,2,1.0"), "{got}");
    let out = crate::run::metricc(&["explain", "twice"], p.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("at least 2 return events in that period"),
        "{text}"
    );
}
