//! An entity with far more events than any other (a bot, a load test, one
//! customer's production traffic): under a memory limit a funnel's rows are
//! sorted by entity and time, and an entity past `funnel::HEAVY` events of
//! a sequence is swept as they come instead of held. Every answer is the
//! one the unlimited run (which holds every event) gives, for every order
//! and option the stream runs differently.

use crate::run::{assert_csv, csv, events_project, project, stdout_of};
use metricc::lower::functions::HEAVY;

/// One developer with about three times `HEAVY` API calls (one every 30 s
/// for 70 days), a signup every 5 days and a key after every other signup,
/// one `account_deleted`; and 40 developers of a few events. Rows are
/// shuffled, so that only the plan's sort puts them in order.
fn events() -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let at = |secs: i64| {
        (start + chrono::Duration::seconds(secs))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let mut rows = Vec::new();
    let calls = 70 * 24 * 120;
    assert!(calls > 3 * HEAVY);
    for i in 0..calls as i64 {
        let status = if i % 7 == 0 { 500 } else { 200 };
        let endpoint = ["/a", "/b", "/c"][(i % 3) as usize];
        let sdk = if (i / 5000) % 2 == 0 {
            "python"
        } else {
            "node"
        };
        rows.push(format!(
            "{},bot,api_call,{status},{endpoint},{sdk}",
            at(i * 30 + 7)
        ));
    }
    for k in 0..14i64 {
        let sdk = if k % 3 == 0 { "node" } else { "python" };
        rows.push(format!("{},bot,signup,,,{sdk}", at(k * 5 * 86_400 + 3_600)));
        if k % 2 == 0 {
            rows.push(format!(
                "{},bot,api_key_created,,,{sdk}",
                at(k * 5 * 86_400 + 7_200)
            ));
        }
    }
    rows.push(format!("{},bot,account_deleted,,,python", at(31 * 86_400)));
    for d in 0..40i64 {
        let sdk = if d % 2 == 0 { "python" } else { "node" };
        let t = d * 40_000;
        rows.push(format!("{},d{d},signup,,,{sdk}", at(t)));
        if d % 3 != 0 {
            rows.push(format!("{},d{d},api_key_created,,,{sdk}", at(t + 600 * d)));
        }
        if d % 4 != 0 {
            let status = if d % 5 == 0 { 404 } else { 200 };
            rows.push(format!(
                "{},d{d},api_call,{status},/a,{sdk}",
                at(t + 3_000 * d)
            ));
        }
    }
    // A fixed shuffle (a linear congruential sequence).
    let mut r: u64 = 7;
    for i in (1..rows.len()).rev() {
        r = r
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rows.swap(i, (r >> 33) as usize % (i + 1));
    }
    format!(
        "ts:timestamp,developer_id,event,status:int,endpoint,sdk\n{}\n",
        rows.join("\n")
    )
}

fn funnel(name: &str, body: &str) -> String {
    format!(
        "  {name}:\n    description: {name}\n    source: events\n    funnel:\n      steps:\n        - signup: event = 'signup'\n        - key: event = 'api_key_created'\n        - call: event = 'api_call'\n        - success: event = 'api_call' and status < 400\n{body}"
    )
}

#[test]
fn a_heavy_entity_gives_the_same_answers_under_a_memory_limit() {
    let metrics = [
        funnel(
            "ordered",
            "      within: 3d\n      reuse_events: true\n      value: conversion_rate\n",
        ),
        funnel(
            "ordered_steps",
            "      within: 3d\n      reuse_events: true\n      attribution: { step: call }\n",
        ),
        funnel(
            "strict",
            "      within: 3d\n      order: strict\n      reuse_events: true\n      value: converted\n",
        ),
        funnel("any", "      within: 1d\n      order: any\n      value: converted\n"),
        funnel(
            "excluded",
            "      within: unbounded\n      exclude:\n        - event: event = 'account_deleted'\n          between: [signup, success]\n      value: converted\n",
        ),
        funnel(
            "held",
            "      within: 2d\n      hold_constant: [sdk]\n      best_attempt: first_complete\n      value: converted\n",
        ),
        funnel(
            "clickhouse",
            "      within: 2d\n      order: strict_order\n      value: converted\n",
        ),
        "  ttfc:\n    description: ttfc\n    source: events\n    time_between: { from: event = 'signup', to: event = 'api_call', statistic: median, unit: minutes }\n"
            .to_string(),
    ];
    let defs = format!(
        "sources:\n  events: {{ path: data/events.parquet, time: ts, entity: developer_id, dimensions: [sdk, endpoint] }}\nmetrics:\n{}",
        metrics.concat()
    );
    let dir = project(
        "default_range: { from: 2026-03-02, to: 2026-05-18 }\n",
        &defs,
        &[("data/events.parquet", &events())],
    );
    for args in [
        "ordered strict any excluded held clickhouse ttfc",
        "--by week ordered strict any excluded held clickhouse ttfc",
        "--group-by sdk ordered strict any excluded held clickhouse",
        "ordered_steps",
        "--group-by endpoint ordered_steps",
    ] {
        let free = csv(dir.path(), args);
        // Seven sequences of one pass: the bot's events would need about
        // 45 MB held, and each sequence's store takes 2.6 MB at least.
        let limited = csv(dir.path(), &format!("{args} --memory-limit 128M"));
        assert_csv(&limited, &free);
        assert!(free.lines().count() > 1, "{args}: {free}");
    }
}

/// Under a limit the plan sorts a funnel's rows by entity and the funnel
/// aggregate reads them as sorted (so it emits each entity as it ends and
/// never spills its state); without one, neither.
#[test]
fn a_memory_limit_sorts_a_funnels_rows_by_entity() {
    let metrics = [funnel("ordered", "      within: 3d\n")];
    let events = "ts:timestamp,developer_id,event,status:int\n2026-03-02T00:00:00Z,d1,signup,\n";
    let dir = events_project("2026-03-02", "2026-03-09", events, &metrics);
    let physical = |extra: &[&str]| {
        let mut args = vec!["explain", "--physical", "ordered"];
        args.extend(extra);
        let text = stdout_of(&args, dir.path());
        let plan: Vec<String> = text
            .lines()
            .skip_while(|l| !l.starts_with("Physical plan"))
            .map(str::to_string)
            .collect();
        let at = plan
            .iter()
            .position(|l| l.contains("metricc_funnel"))
            .expect("a funnel aggregate");
        (plan[at].clone(), plan[at + 1].clone())
    };
    let (aggregate, input) = physical(&["--memory-limit", "256M"]);
    assert!(aggregate.contains("ordering_mode=Sorted"), "{aggregate}");
    assert!(
        input
            .trim_start()
            .starts_with("SortExec: expr=[developer_id@"),
        "{input}"
    );
    let (aggregate, input) = physical(&[]);
    assert!(!aggregate.contains("ordering_mode"), "{aggregate}");
    assert!(!input.contains("SortExec"), "{input}");
}
