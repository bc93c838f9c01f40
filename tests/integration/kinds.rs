//! The metric kinds as one place states them: what `check` accepts `run`
//! runs, and each kind's stated shape is what its table holds.

use crate::run::{DEFS, EVENTS, PAYMENTS, SPEND, metricc, project};
use metricc::engine::{Engine, Options};
use metricc::semantic::query::{self, Request};

/// A cohort over a first-occurrence measure made `run` fail as an internal
/// error (exit 101) although `check` accepted it; `check` now reports it.
#[test]
fn a_cohort_of_a_first_occurrence_measure_is_a_check_error() {
    let defs = format!(
        "{DEFS}  first_call_cohorts:
    description: first calls by signup cohort
    cohort:
      metric: first_calls
      source: events
      event: event = 'signup'
      period: week
      periods: 2
"
    );
    let p = project(
        "default_range: { from: 2026-03-01, to: 2026-03-10 }\n",
        &defs,
        &[
            ("data/events.parquet", EVENTS),
            ("data/payments.parquet", PAYMENTS),
            ("data/spend.parquet", SPEND),
        ],
    );
    let check = metricc(&["check", "."], p.path());
    let err = String::from_utf8_lossy(&check.stderr).to_string()
        + &String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{err}");
    assert!(err.contains("E0221"), "{err}");
    assert!(
        err.contains("counts only each entity's first occurrence"),
        "{err}"
    );
    let run = metricc(&["run", "first_call_cohorts"], p.path());
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Every table the example computes has the columns its kind's shape states
/// (which `check` uses to refuse a breakdown that would clash with them).
#[test]
fn tables_have_the_columns_their_shape_states() {
    let checked = metricc::driver::check(std::path::Path::new("metrics"));
    let model = checked.model.expect("the example checks");
    let request = Request::default();
    let q = query::resolve(&request, &model).expect("the default query resolves");
    let engine = Engine::new(&Options::default()).unwrap();
    let computed = engine.compute(&model, &q.query).unwrap();
    let mut seen = 0;
    for t in &computed {
        let Some(name) = &t.metric else { continue };
        let shape = model.metric(name).unwrap().shape.table.clone().unwrap();
        assert_eq!(t.title, shape.title);
        let columns: Vec<&str> = t
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        for c in &shape.columns {
            assert!(
                columns.contains(&c.as_str()),
                "{name}: no column `{c}` in {columns:?}"
            );
        }
        seen += 1;
    }
    // ltv (a cohort), onboarding (a funnel's steps), retention.
    assert_eq!(seen, 3);
}
