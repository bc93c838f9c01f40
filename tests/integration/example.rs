//! The bundled example project checks clean and defines the whole catalog.

use metricc::driver;
use std::path::Path;

/// The 43 metric names of `shared/CATALOG.md`.
const CATALOG: &[&str] = &[
    "visitors",
    "signups",
    "api_keys_created",
    "first_calls",
    "first_successes",
    "production_integrations",
    "visitor_to_signup_rate",
    "signup_to_key_rate",
    "key_to_first_call_rate",
    "first_call_success_rate",
    "activation_rate",
    "onboarding",
    "ttfc_median",
    "ttfc_p90",
    "time_to_first_success_median",
    "time_to_value",
    "dau",
    "wau",
    "mau",
    "stickiness",
    "requests",
    "successful_requests",
    "error_requests",
    "error_rate",
    "endpoints_per_developer",
    "retention",
    "churned_developers",
    "churn_rate",
    "net_developer_growth",
    "revenue",
    "mrr",
    "arpd",
    "ltv",
    "dac",
    "ltv_dac_ratio",
    "nps",
    "support_ticket_rate",
    "quota_overage",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "availability",
    "webhook_success_rate",
];

#[test]
fn example_checks_clean_and_covers_the_catalog() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let checked = driver::check(&dir);
    assert!(checked.diagnostics.is_empty(), "{:#?}", checked.diagnostics);
    let model = checked.model.expect("model");
    assert_eq!(CATALOG.len(), 43);
    for name in CATALOG {
        let m = model
            .metric(name)
            .unwrap_or_else(|| panic!("catalog metric `{name}` is not defined"));
        assert!(
            m.description.is_some() && m.owner.is_some(),
            "{name} needs a description and an owner"
        );
    }
    assert_eq!(model.sources.len(), 6);
    assert_eq!(model.project.time_zone, chrono_tz::UTC);
    // Dependency order: every metric after what it uses.
    let pos = |n: &str| model.metrics.iter().position(|m| m.name == n).unwrap();
    assert!(pos("stickiness") > pos("dau") && pos("stickiness") > pos("mau"));
    assert!(
        pos("ltv_dac_ratio") > pos("ltv")
            && pos("ltv_dac_ratio") > pos("dac")
            && pos("dac") > pos("signups")
    );
}

/// `metricc run` on the bundled sample computes every catalog metric: a
/// number for each column metric, a non-empty table for each table metric.
#[test]
fn example_computes_the_whole_catalog() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let tables = ["onboarding", "retention"];
    let columns: Vec<&str> = CATALOG
        .iter()
        .copied()
        .filter(|n| !tables.contains(n))
        .collect();
    let mut args = vec!["run", "--quiet", "--format", "json"];
    args.extend(&columns);
    let out = crate::run::metricc(&args, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows[0];
    for name in &columns {
        assert!(
            row[name].is_number(),
            "`{name}` has no value: {}",
            row[name]
        );
    }
    for name in tables {
        let out = crate::run::metricc(&["run", "--quiet", "--format", "json", name], &dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            rows.as_array().is_some_and(|r| r.len() > 3),
            "`{name}` gave no table: {rows}"
        );
    }
}
