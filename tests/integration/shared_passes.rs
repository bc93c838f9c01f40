//! The per-entity passes that several groups or result tables of a run
//! read are planned the same in each, so that the run computes each once
//! (docs/RUNNING.md, "How a run is planned"); under a memory limit none is
//! shared. That the answers do not change is `percentile::a_memory_limit_changes_no_answer`
//! (a limited run shares nothing) and the example's outputs.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::LogicalPlan;
use metricc::engine::{Engine, Options};
use metricc::semantic::query::{self, Request};

/// Per alias: the distinct subplans under it, and the tables holding each.
fn passes(options: &Options, alias: &str) -> Vec<(LogicalPlan, Vec<usize>)> {
    let checked = metricc::driver::check(std::path::Path::new("metrics"));
    let model = checked.model.expect("the example checks");
    let q = query::resolve(&Request::default(), &model).expect("the default query resolves");
    let engine = Engine::new(options).unwrap();
    let lowered = engine.plan(&model, &q.query).unwrap();
    let mut out: Vec<(LogicalPlan, Vec<usize>)> = Vec::new();
    for (i, t) in lowered.tables.iter().enumerate() {
        t.plan
            .apply(|node| {
                if let LogicalPlan::SubqueryAlias(a) = node
                    && a.alias.table() == alias
                {
                    let input = a.input.as_ref().clone();
                    match out.iter_mut().find(|(p, _)| *p == input) {
                        Some((_, tables)) => tables.push(i),
                        None => out.push((input, vec![i])),
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
    }
    out
}

fn limited() -> Options {
    Options {
        memory_limit: Some(1 << 30),
        ..Default::default()
    }
}

#[test]
fn every_sequence_of_a_source_runs_in_one_pass_for_all_tables() {
    // The metrics table (activation_rate and the four time_between) and
    // the onboarding step table: one pass over events with all five.
    let shared = passes(&Options::default(), "__outcomes");
    assert_eq!(shared.len(), 1, "one pass: {shared:#?}");
    let tables = &shared[0].1;
    assert!(tables.len() >= 2 && tables.contains(&0), "{tables:?}");
    assert!(tables.iter().any(|t| *t != 0), "{tables:?}");
    let text = format!("{}", shared[0].0.display_indent());
    assert_eq!(text.matches("metricc_funnel(").count(), 1, "{text}");

    // Under a memory limit each table plans its own sequences.
    let alone = passes(&limited(), "__outcomes");
    assert_eq!(alone.len(), 2, "{alone:#?}");
}

#[test]
fn a_cohorts_entities_are_found_once_for_its_column_and_its_table() {
    // ltv: its column in the metrics table, its cohort table (rows and
    // sizes).
    let shared = passes(&Options::default(), "__cohorts");
    assert_eq!(shared.len(), 1, "{shared:#?}");
    assert!(shared[0].1.len() >= 3, "{:?}", shared[0].1);
}

#[test]
fn first_matches_on_one_source_are_picked_in_one_pass() {
    // api_keys_created, first_calls, first_successes and
    // production_integrations: four filters, one pass by developer.
    let shared = passes(&Options::default(), "__picks");
    assert_eq!(shared.len(), 1, "{shared:#?}");
    assert_eq!(shared[0].1.len(), 4);
    let text = format!("{}", shared[0].0.display_indent());
    for i in 0..4 {
        assert!(text.contains(&format!("AS __picked{i}")), "{text}");
    }
    assert_eq!(passes(&limited(), "__picks").len(), 4);
}

/// A table that shares the run's pass over a source reads only its own
/// sequences: the breakdown values of another table's sequences do not
/// become its rows. `search_onboarding` sees search developers only, and
/// `activation` every channel; both are step tables (step times), so they
/// share one pass.
#[test]
fn a_shared_pass_adds_no_breakdown_values_to_a_table() {
    use crate::run::{EVENTS, project, stdout_of};
    let defs = r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [event, channel] }
metrics:
  search_onboarding:
    description: search developers from signup to a call
    source: events
    filter: channel = 'search'
    funnel:
      steps:
        - signup: event = 'signup'
        - call: event = 'api_call'
      within: 7d
      value: steps
  activation:
    description: developers from signup to a successful call
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - success: event = 'api_call' and status < 400
      within: 7d
      value: steps
"#;
    let tmp = project(
        "default_range: { from: 2026-03-01, to: 2026-03-10 }\n",
        defs,
        &[("data/events.parquet", EVENTS)],
    );
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--quiet",
            "search_onboarding",
            "activation",
            "--group-by",
            "channel",
        ];
        args.extend(extra);
        stdout_of(&args, tmp.path())
    };
    let shared = run(&[]);
    // Under a memory limit each table plans its own pass.
    assert_eq!(shared, run(&["--memory-limit", "1G"]));
    let (search, all) = shared.split_at(shared.find("funnel activation").expect(&shared));
    assert!(all.contains("social"), "{shared}");
    // d1 signed up from search and called within the hour.
    assert!(search.contains("search"), "{shared}");
    assert!(!search.contains("social"), "{shared}");
}
