//! The `distributed` feature: the example computed on Ballista's in-process
//! cluster (a scheduler and an executor over gRPC on loopback) gives the
//! tables a local run gives, cell for cell.
#![cfg(feature = "distributed")]

use datafusion::arrow::util::pretty::pretty_format_batches;
use metricc::cluster::Cluster;
use metricc::engine::{Engine, Options};
use metricc::semantic::query::{self, Request, Word};
use metricc::syntax::ast::Grain;

/// Every table of `request` on the example, printed, on `engine`.
fn tables(engine: &Engine, request: &Request) -> Vec<(String, String)> {
    let checked = metricc::driver::check(std::path::Path::new("metrics"));
    let model = checked.model.expect("the example checks");
    let q = query::resolve(request, &model).unwrap().query;
    engine
        .compute(&model, &q)
        .unwrap()
        .into_iter()
        .map(|t| {
            let text = pretty_format_batches(&t.batches).unwrap().to_string();
            (t.title, text)
        })
        .collect()
}

#[test]
fn the_example_on_a_standalone_cluster_matches_a_local_run() {
    let local = Engine::new(&Options::default()).unwrap();
    let cluster = Engine::new(&Options {
        cluster: Some(Cluster::Standalone),
        ..Options::default()
    })
    .unwrap();
    for request in [
        Request {
            grain: Some(Grain::Week),
            ..Request::default()
        },
        Request {
            grain: Some(Grain::Day),
            ..Request::default()
        },
        Request {
            grain: Some(Grain::Month),
            group_by: vec![Word::typed("sdk")],
            metrics: [
                "signups",
                "activation_rate",
                "onboarding",
                "retention",
                "requests",
                "latency_p95",
            ]
            .iter()
            .map(|m| Word::typed(*m))
            .collect(),
            ..Request::default()
        },
    ] {
        let want = tables(&local, &request);
        let started = std::time::Instant::now();
        let got = tables(&cluster, &request);
        eprintln!(
            "{} metrics on the cluster in {:?}",
            request.metrics.len(),
            started.elapsed()
        );
        assert_eq!(got.len(), want.len());
        for ((title, w), (_, g)) in want.iter().zip(&got) {
            assert_eq!(g, w, "{title} differs on the cluster");
        }
    }
}

/// The aggregates of `plan` named `name`, in plan order.
fn aggregates(
    plan: &datafusion::logical_expr::LogicalPlan,
    name: &str,
) -> Vec<datafusion::logical_expr::AggregateUDF> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::Expr;
    let mut out = Vec::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::AggregateFunction(a) = e
                    && a.func.name() == name
                {
                    out.push(a.func.as_ref().clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })
    .unwrap();
    out
}

/// The trap of sending functions by name, shown on the plan a client
/// sends: the receiver knows one funnel under `metricc_funnel` (as an
/// executor's registry would). By name, every funnel of the plan comes back
/// as that one; through metricc's codec, each comes back as itself.
#[test]
fn funnels_of_one_name_keep_their_settings_across_processes() {
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
    };
    use datafusion_proto::logical_plan::DefaultLogicalExtensionCodec;
    // Two funnels on two sources: two calls of `metricc_funnel` in one
    // plan, with two windows (one source's funnels share one call).
    let dir = tempfile::tempdir().unwrap();
    crate::fixtures::write_data(dir.path());
    std::fs::write(
        dir.path().join("metricc.yaml"),
        "name: t\ndefault_range: { from: 2026-03-01, to: 2026-03-15 }\n\
         sources:\n\
         \x20 events: { path: data/events.parquet, time: ts, entity: developer_id }\n\
         \x20 page_views: { path: data/page_views.parquet, time: ts, entity: visitor_id }\n\
         metrics:\n\
         \x20 keyed: { description: k, source: events, funnel: { steps: [a: \"event = 'signup'\", b: \"event = 'api_call'\"], within: 7d, value: conversion_rate } }\n\
         \x20 browsed: { description: b, source: page_views, funnel: { steps: [a: \"page = '/'\", b: \"page = '/docs'\"], within: 14d, value: conversion_rate } }\n",
    )
    .unwrap();
    let model = metricc::driver::check(dir.path()).model.expect("checks");
    let request = Request {
        grain: Some(Grain::Week),
        ..Request::default()
    };
    let q = query::resolve(&request, &model).unwrap().query;
    let engine = Engine::new(&Options::default()).unwrap();
    let plan = engine.plan(&model, &q).unwrap().tables.remove(0).plan;
    let sent = aggregates(&plan, "metricc_funnel");
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0], sent[1]);

    let receiver = datafusion::prelude::SessionContext::new();
    receiver.register_udaf(sent[0].clone());
    let task = receiver.task_ctx();
    let default = DefaultLogicalExtensionCodec {};
    let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &default).unwrap();
    let by_name = logical_plan_from_bytes_with_extension_codec(&bytes, &task, &default).unwrap();
    assert_eq!(
        aggregates(&by_name, "metricc_funnel"),
        vec![sent[0].clone(); 2]
    );

    let codec = metricc::cluster::codec::LogicalCodec::default();
    let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &codec).unwrap();
    let whole = logical_plan_from_bytes_with_extension_codec(&bytes, &task, &codec).unwrap();
    assert_eq!(aggregates(&whole, "metricc_funnel"), sent);
}

/// `metricc run --cluster standalone` prints what a local run prints, and
/// a `--cluster` that is not one is a usage error.
#[test]
fn run_on_a_cluster_prints_what_a_local_run_prints() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run", "-p", "metrics", "--by", "month", "--format", "csv", "-q",
        ];
        args.extend(extra);
        crate::run::metricc(&args, root)
    };
    let local = run(&[]);
    let cluster = run(&["--cluster", "standalone"]);
    assert_eq!(
        cluster.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&cluster.stderr)
    );
    assert_eq!(cluster.stdout, local.stdout);
    assert!(local.stdout.len() > 1000);
    let bad = run(&["--cluster", "http://localhost:50050"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("df://HOST:PORT"));
}

/// No scheduler at `--cluster`: E0311, and nothing computed.
#[test]
fn an_unreachable_scheduler_is_e0311() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = crate::run::metricc(
        &[
            "run",
            "-p",
            "metrics",
            "--cluster",
            "df://127.0.0.1:1",
            "-q",
        ],
        root,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("E0311")
            && err.contains("cannot reach the Ballista scheduler at `df://127.0.0.1:1`"),
        "{err}"
    );
    assert!(!err.contains("Parquet"), "{err}");
}
