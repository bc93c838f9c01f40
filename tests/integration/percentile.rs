//! Exact percentiles under a memory budget: the accumulators sort their
//! values into runs and write runs to temporary files, and the answers are
//! the same bits as without a budget.

use metricc::driver;
use metricc::engine::{Engine, Options};
use metricc::lower::{Query, Range};
use metricc::syntax::ast::Grain;
use std::path::Path;

/// Every table of a run as rows of cells, rows sorted.
fn computed(options: &Options, query: &Query) -> Vec<Vec<Vec<String>>> {
    use datafusion::arrow::util::display::array_value_to_string;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let model = driver::check(&dir).model.expect("the example checks");
    let engine = Engine::new(options).unwrap();
    let computed = engine.compute(&model, query).expect("computes");
    computed
        .iter()
        .map(|t| {
            let mut rows = Vec::new();
            for b in &t.batches {
                for r in 0..b.num_rows() {
                    let cells = b
                        .columns()
                        .iter()
                        .map(|c| array_value_to_string(c, r).unwrap())
                        .collect();
                    rows.push(cells);
                }
            }
            rows.sort();
            rows
        })
        .collect()
}

/// The first table of a run as rows of cells, sorted.
fn cells(options: &Options, query: &Query) -> Vec<Vec<String>> {
    computed(options, query).remove(0)
}

fn compute(budget: Option<usize>, query: &Query) -> Vec<Vec<String>> {
    let options = Options {
        threads: Some(2),
        percentile_budget: budget,
        ..Default::default()
    };
    cells(&options, query)
}

#[test]
fn a_budget_changes_no_percentile() {
    let day = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    };
    let metrics = ["latency_p50", "latency_p95", "latency_p99", "ttfc_p90"];
    let queries = [
        // One large group per metric: runs spill to disk.
        Query {
            metrics: metrics.iter().map(|m| m.to_string()).collect(),
            grain: None,
            range: Range {
                from: day("2026-01-05"),
                to: day("2026-05-05"),
            },
            group_by: vec![],
        },
        // Many small groups.
        Query {
            metrics: metrics[..3].iter().map(|m| m.to_string()).collect(),
            grain: Some(Grain::Week),
            range: Range {
                from: day("2026-01-05"),
                to: day("2026-05-05"),
            },
            group_by: vec!["endpoint".into()],
        },
    ];
    for q in &queries {
        let free = compute(None, q);
        // One row in total; a row per week and endpoint.
        assert!(free.len() == 1 || free.len() > 40, "{free:?}");
        assert!(free.iter().flatten().any(|c| c.contains('.')), "{free:?}");
        // 2 KB: a run every 128 values, spilled at once when they are
        // distinct, and spilled runs merged; 64 KB: runs merged in memory.
        for budget in [2048, 65536] {
            assert_eq!(compute(Some(budget), q), free, "budget {budget}");
        }
    }
}

/// `explain --physical` lines of the aggregates that hold a percentile.
fn percentile_aggregates(extra: &[&str]) -> Vec<String> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let mut args = vec![
        "explain",
        "-p",
        example.to_str().unwrap(),
        "latency_p99",
        "requests",
        "--physical",
    ];
    args.extend_from_slice(extra);
    let out = crate::run::metricc(&args, &example);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| l.contains("AggregateExec") && l.contains("metricc_percentile"))
        .map(str::to_string)
        .collect()
}

/// An aggregate holding a percentile runs in one phase, with or without a
/// memory limit: a partial state would be every value of its group.
#[test]
fn percentiles_aggregate_in_one_phase() {
    for extra in [&["--by", "week"][..], &[]] {
        for limit in [&[][..], &["--memory-limit", "2G"]] {
            let mut args = vec!["--threads", "2"];
            args.extend_from_slice(extra);
            args.extend_from_slice(limit);
            let plan = percentile_aggregates(&args);
            assert!(!plan.is_empty());
            for l in &plan {
                assert!(
                    l.contains("mode=Single") || l.contains("mode=SinglePartitioned"),
                    "{args:?}: {l}"
                );
            }
        }
    }
}

/// Every table of a run of the whole example.
fn tables(options: &Options, grain: Option<Grain>) -> Vec<Vec<Vec<String>>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let model = driver::check(&dir).model.expect("the example checks");
    let (from, to) = (model.project.default_from, model.project.default_to);
    let day = |d: Option<chrono::NaiveDate>| d.unwrap().and_hms_opt(0, 0, 0).unwrap();
    let query = Query {
        // Those the grain can give (as `metricc run` keeps them).
        metrics: model
            .metrics
            .iter()
            .filter(|m| metricc::semantic::query::fits(&model, &m.name, grain))
            .map(|m| m.name.clone())
            .collect(),
        grain,
        range: Range {
            from: day(from),
            to: day(to),
        },
        group_by: vec![],
    };
    computed(options, &query)
}

/// A memory limit changes how a run executes (one group at a time, bounded
/// percentiles in one phase, small batches), never its answers: every
/// table of the example, with and without a limit.
#[test]
fn a_memory_limit_changes_no_answer() {
    for grain in [None, Some(Grain::Week)] {
        let free = tables(&Options::default(), grain);
        let limited = tables(
            &Options {
                memory_limit: Some(1 << 30),
                ..Default::default()
            },
            grain,
        );
        assert_eq!(free.len(), 4, "the metrics table and three tables");
        assert_eq!(free.len(), limited.len());
        for (f, l) in free.iter().zip(&limited) {
            assert!(!f.is_empty());
            assert_eq!(f.len(), l.len());
            for (a, b) in f.iter().flatten().zip(l.iter().flatten()) {
                // Sums in another order may differ in the last bits.
                match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => assert!(
                        (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                        "{grain:?}: {a} against {b}"
                    ),
                    _ => assert_eq!(a, b, "{grain:?}"),
                }
            }
        }
    }
}

/// The median and percentiles of one column under one filter are computed
/// from one store (the engine merges them), and each answer is the one the
/// metric gives alone: DataFusion's `median` for the median, metricc's
/// percentile for the others, to the bit. By week and endpoint (many
/// groups) and in total (one group), with and without a memory limit (the
/// bounded store, spilling; a median alone moves to it too).
#[test]
fn percentiles_of_one_column_share_one_store_and_keep_their_answers() {
    let day = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    };
    let range = Range {
        from: day("2026-01-05"),
        to: day("2026-05-05"),
    };
    let metrics = ["latency_p50", "latency_p95", "latency_p99"];
    let free = Options {
        threads: Some(2),
        ..Default::default()
    };
    // With `..`: the `distributed` feature adds a field.
    #[allow(clippy::needless_update)]
    let limited = Options {
        threads: Some(2),
        memory_limit: Some(1 << 30),
        percentile_budget: Some(2048),
        ..Default::default()
    };
    for (grain, group_by) in [
        (Some(Grain::Week), vec!["endpoint".to_string()]),
        (None, vec![]),
    ] {
        let keys = group_by.len() + usize::from(grain.is_some());
        let query = |metrics: &[&str]| Query {
            metrics: metrics.iter().map(|m| m.to_string()).collect(),
            grain,
            range,
            group_by: group_by.clone(),
        };
        // Each metric alone, without a limit: nothing to merge.
        let alone: Vec<Vec<Vec<String>>> =
            metrics.iter().map(|m| cells(&free, &query(&[m]))).collect();
        for options in [&free, &limited] {
            let together = cells(options, &query(&metrics));
            assert!(together.len() > 2 || grain.is_none(), "{together:?}");
            for (i, want) in alone.iter().enumerate() {
                let mut got: Vec<Vec<String>> = together
                    .iter()
                    .map(|r| {
                        let mut cells = r[..keys].to_vec();
                        cells.push(r[keys + i].clone());
                        cells
                    })
                    .collect();
                got.sort();
                assert_eq!(&got, want, "{} with {options:?}", metrics[i]);
            }
            if options.memory_limit.is_some() {
                assert_eq!(cells(options, &query(&metrics[..1])), alone[0]);
            }
        }
    }
    // One store in the plan: one aggregate of three points, no median.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let mut args = vec!["explain", "-p", example.to_str().unwrap(), "--physical"];
    args.extend(metrics);
    let text = crate::run::stdout_of(&args, &example);
    let aggregates: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("AggregateExec"))
        .collect();
    assert!(
        aggregates.iter().all(|l| !l.contains("median(")
            && l.contains("metricc_percentiles(")
            && l.contains(", median, 0.95, 0.99)")),
        "{aggregates:#?}"
    );
}
