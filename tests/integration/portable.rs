//! Every function in the example's plans travels to another process with
//! its settings: DataFusion's own functions by name, each of metricc's as
//! bytes that read back as the same function (`engine::portable`). A
//! metricc function sent by name would be rebuilt from the receiver's
//! registry, with other settings or as DataFusion's function of that name.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::expr::WindowFunctionDefinition;
use datafusion::logical_expr::{AggregateUDF, Expr, LogicalPlan, ScalarUDF, WindowUDF};
use metricc::engine::{Engine, Options, portable};
use metricc::semantic::query::{self, Request};
use metricc::syntax::ast::Grain;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Default)]
struct Found {
    udafs: Vec<Arc<AggregateUDF>>,
    udfs: Vec<Arc<ScalarUDF>>,
    udwfs: Vec<Arc<WindowUDF>>,
}

fn functions(plan: &LogicalPlan, found: &mut Found) {
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                match e {
                    Expr::AggregateFunction(a) => found.udafs.push(a.func.clone()),
                    Expr::ScalarFunction(s) => found.udfs.push(s.func.clone()),
                    Expr::WindowFunction(w) => match &w.fun {
                        WindowFunctionDefinition::AggregateUDF(a) => found.udafs.push(a.clone()),
                        WindowFunctionDefinition::WindowUDF(u) => found.udwfs.push(u.clone()),
                    },
                    _ => {}
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })
    .unwrap();
}

/// The tag of metricc's bytes.
fn tag(bytes: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(&bytes[b"metricc1:".len()..]).unwrap();
    v["f"].as_str().unwrap().to_string()
}

/// Every function of `q`'s optimized plans, without and with a memory
/// limit: the limit swaps in other functions (bounded percentiles,
/// partitioned windows).
fn optimized_functions(model: &metricc::semantic::model::Model, q: &query::Query) -> Found {
    let mut found = Found::default();
    for options in [
        Options::default(),
        Options {
            memory_limit: Some(1 << 30),
            ..Options::default()
        },
    ] {
        let engine = Engine::new(&options).unwrap();
        for t in engine.plan(model, q).unwrap().tables {
            functions(&engine.optimize(&t.plan).unwrap(), &mut found);
        }
    }
    found
}

/// Checks that each of `functions` is DataFusion's own (in `builtin`) or
/// reads back equal from the bytes `encode` writes; gives those bytes.
fn travel<F: PartialEq + std::fmt::Debug>(
    functions: &[Arc<F>],
    name: impl Fn(&F) -> String,
    encode: impl Fn(&F) -> Option<Vec<u8>>,
    decode: impl Fn(&[u8]) -> Option<datafusion::common::Result<Arc<F>>>,
    builtin: &std::collections::HashMap<String, Arc<F>>,
) -> Vec<Vec<u8>> {
    let mut written = Vec::new();
    for u in functions {
        match encode(u) {
            Some(bytes) => {
                let back = decode(&bytes).unwrap().unwrap();
                assert_eq!(
                    back.as_ref(),
                    u.as_ref(),
                    "{} reads back as itself",
                    name(u)
                );
                written.push(bytes);
            }
            None => assert_eq!(
                builtin.get(&name(u)).map(|d| d.as_ref()),
                Some(u.as_ref()),
                "`{}` is neither DataFusion's function of that name nor written whole",
                name(u)
            ),
        }
    }
    written
}

/// Every function of `found` as [`travel`] checks it: the bytes written.
fn all_travel(found: &Found) -> Vec<Vec<u8>> {
    let datafusion = SessionStateBuilder::new().with_default_features().build();
    let mut written = travel(
        &found.udafs,
        |u| u.name().to_string(),
        portable::encode_udaf,
        portable::decode_udaf,
        datafusion.aggregate_functions(),
    );
    written.extend(travel(
        &found.udfs,
        |u| u.name().to_string(),
        portable::encode_udf,
        portable::decode_udf,
        datafusion.scalar_functions(),
    ));
    written.extend(travel(
        &found.udwfs,
        |u| u.name().to_string(),
        portable::encode_udwf,
        portable::decode_udwf,
        datafusion.window_functions(),
    ));
    written
}

#[test]
fn every_function_in_the_example_travels_with_its_settings() {
    let checked = metricc::driver::check(std::path::Path::new("metrics"));
    let model = checked.model.expect("the example checks");
    let request = Request {
        grain: Some(Grain::Month),
        ..Request::default()
    };
    let q = query::resolve(&request, &model).unwrap().query;
    let tags: BTreeSet<String> = all_travel(&optimized_functions(&model, &q))
        .iter()
        .map(|b| tag(b))
        .collect();
    // What the example's plans hold of metricc's functions (its zone is
    // UTC, so no local time; `fixture_functions_travel_too` has the rest).
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    assert_eq!(
        tags,
        [
            "metricc_active",
            "metricc_checked_add",
            "metricc_checked_mul",
            "metricc_checked_sub",
            "metricc_checked_sum",
            "metricc_count_distinct_views",
            "metricc_credit",
            "metricc_exact_avg",
            "metricc_exact_sum",
            "metricc_funnel",
            "metricc_percentiles",
            "metricc_retention",
            "metricc_running",
            "metricc_sequence",
        ]
    );
}

/// The functions the example does not use: local time in a zone, one
/// percentile alone (bounded under a memory limit), NaN-aware extremes,
/// metricc's `round`.
#[test]
fn fixture_functions_travel_too() {
    let dir = tempfile::tempdir().unwrap();
    crate::fixtures::write_data(dir.path());
    std::fs::write(
        dir.path().join("metricc.yaml"),
        "name: t\ntime_zone: Europe/Berlin\ndefault_range: { from: 2026-03-01, to: 2026-03-08 }\n\
         sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\n\
         metrics:\n\
         \x20 p90: { description: p, source: events, measure: \"percentile(latency_ms, 0.9)\" }\n\
         \x20 slowest: { description: s, source: events, measure: max(latency_ms) }\n\
         \x20 fastest: { description: f, source: events, measure: min(latency_ms) }\n\
         \x20 rounded: { description: r, formula: \"round(slowest, 1)\" }\n",
    )
    .unwrap();
    let model = metricc::driver::check(dir.path()).model.expect("checks");
    let request = Request {
        grain: Some(Grain::Day),
        ..Request::default()
    };
    let q = query::resolve(&request, &model).unwrap().query;
    let tags: BTreeSet<String> = all_travel(&optimized_functions(&model, &q))
        .iter()
        .map(|b| format!("{}: {}", tag(b), String::from_utf8_lossy(b)))
        .collect();
    let text = tags.into_iter().collect::<Vec<_>>().join("\n");
    for want in [
        r#"metricc_local_time: metricc1:{"f":"metricc_local_time","tz":"Europe/Berlin"}"#,
        r#"metricc_nan_max: metricc1:{"f":"metricc_nan_max"}"#,
        r#"metricc_nan_min: metricc1:{"f":"metricc_nan_min"}"#,
        r#"metricc_percentile: metricc1:{"budget":null,"f":"metricc_percentile"}"#,
        r#"metricc_percentile: metricc1:{"budget":67108864,"f":"metricc_percentile"}"#,
        r#"metricc_round: metricc1:{"f":"metricc_round"}"#,
    ] {
        assert!(text.contains(want), "no `{want}` in\n{text}");
    }
}

/// The trap: two funnels with different windows, or two zones, are two
/// functions of one name; each must read back as itself.
#[test]
fn one_name_with_two_settings_reads_back_as_two_functions() {
    let checked = metricc::driver::check(std::path::Path::new("metrics"));
    let model = checked.model.unwrap();
    let engine = Engine::new(&Options::default()).unwrap();
    let mut found = Found::default();
    for metric in ["activation_rate", "onboarding"] {
        let request = Request {
            metrics: vec![query::Word::typed(metric)],
            ..Request::default()
        };
        let q = query::resolve(&request, &model).unwrap().query;
        for t in engine.plan(&model, &q).unwrap().tables {
            functions(&t.plan, &mut found);
        }
    }
    let funnels: Vec<&Arc<AggregateUDF>> = found
        .udafs
        .iter()
        .filter(|u| u.name() == "metricc_funnel")
        .collect();
    assert!(funnels.len() >= 2, "two funnels: 7 days and 14 days");
    let (a, b) = (
        funnels[0],
        funnels
            .iter()
            .find(|f| f.as_ref() != funnels[0].as_ref())
            .unwrap(),
    );
    let (ba, bb) = (
        portable::encode_udaf(a).unwrap(),
        portable::encode_udaf(b).unwrap(),
    );
    assert_ne!(ba, bb);
    let (ra, rb) = (
        portable::decode_udaf(&ba).unwrap().unwrap(),
        portable::decode_udaf(&bb).unwrap().unwrap(),
    );
    assert_eq!(ra.as_ref(), a.as_ref());
    assert_eq!(rb.as_ref(), b.as_ref());
    assert_ne!(ra.as_ref(), rb.as_ref());
    // Bytes of another codec are not metricc's; damaged ones are an error.
    assert!(portable::decode_udaf(b"\x08\x01").is_none());
    assert!(
        portable::decode_udaf(b"metricc1:{\"f\":\"metricc_funnel\"}")
            .unwrap()
            .is_err()
    );
}
