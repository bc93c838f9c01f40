//! `metricc schema`: the JSON Schemas accept the example project and every
//! YAML block of the docs, and reject what `check` rejects for its keys,
//! as judged by an independent validator (the `jsonschema` crate).

use crate::docs::{dedent, yaml_blocks};
use crate::run::metricc;
use serde_json::Value as Json;
use std::path::Path;

fn schema(which: &str) -> jsonschema::Validator {
    let dir = tempfile::tempdir().unwrap();
    let out = metricc(&["schema", which], dir.path());
    assert_eq!(out.status.code(), Some(0), "metricc schema {which}");
    let schema: Json = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    assert!(
        jsonschema::meta::is_valid(&schema),
        "the {which} schema is not a valid JSON Schema"
    );
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// YAML 1.2, as metricc and editors' YAML servers read it: `on` and `n`
/// are words, not booleans.
fn yaml(text: &str) -> Json {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options(text, options)
        .unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

/// The validator's errors for `text`, one per line; empty when valid.
fn errors(v: &jsonschema::Validator, text: &str) -> String {
    v.iter_errors(&yaml(text))
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn the_example_project_validates() {
    let (project, definitions, tests) = (schema("project"), schema("definitions"), schema("tests"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let mut seen = (0, 0, 0);
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let (v, n) = if path.ends_with("metricc.yaml") {
            (&project, &mut seen.0)
        } else {
            (&definitions, &mut seen.1)
        };
        let found = errors(v, &read(&path));
        assert!(found.is_empty(), "{}:\n{found}", path.display());
        *n += 1;
    }
    for e in std::fs::read_dir(root.join("tests")).unwrap().flatten() {
        let path = e.path();
        if !path.to_string_lossy().ends_with(".test.yaml") {
            continue;
        }
        let found = errors(&tests, &read(&path));
        assert!(found.is_empty(), "{}:\n{found}", path.display());
        seen.2 += 1;
    }
    assert_eq!(seen, (1, 5, 4), "project, definition and test files seen");
}

#[test]
fn every_docs_block_validates() {
    let (project, definitions, tests) = (schema("project"), schema("definitions"), schema("tests"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for doc in [
        "docs/LANGUAGE.md",
        "docs/TESTING.md",
        "docs/DIFF.md",
        "docs/EDITORS.md",
        "README.md",
    ] {
        for block in yaml_blocks(&read(&root.join(doc))) {
            let block = dedent(&block);
            let first = block
                .lines()
                .find(|l| !l.starts_with('#'))
                .unwrap_or_default();
            let (v, text) = match first.split(':').next().unwrap_or_default() {
                "name" => (&project, block.clone()),
                // A part of the project file.
                "diff" | "default_range" => (&project, format!("name: docs\n{block}")),
                "sources" | "entities" | "metrics" => (&definitions, block.clone()),
                "tests" => (&tests, block.clone()),
                // One test's fixtures (TESTING.md's `given:` example).
                "given" => (
                    &tests,
                    format!(
                        "tests:\n  - name: t\n    metrics: [m]\n    expect: []\n{}",
                        block
                            .lines()
                            .map(|l| format!("    {l}\n"))
                            .collect::<String>()
                    ),
                ),
                other => panic!("{doc}: a YAML block of an unknown kind (`{other}`):\n{block}"),
            };
            let found = errors(v, &text);
            assert!(found.is_empty(), "{doc}:\n{text}\n{found}");
            checked += 1;
        }
    }
    assert!(checked >= 28, "{checked} blocks");
}

/// Each mistake is one `check` reports about keys: the schema must refuse
/// it too, and accept the file once it is mended.
#[test]
fn a_key_check_rejects_the_schema_rejects() {
    let definitions = schema("definitions");
    let source =
        "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\n";
    let cases = [
        // (what is wrong, the file, the file mended)
        (
            "an unknown key",
            "metrics:\n  m: { source: events, measure: count(*), colour: red }\n",
            "metrics:\n  m: { source: events, measure: count(*) }\n",
        ),
        (
            "a misspelt kind's key",
            "metrics:\n  m: { source: events, funnel: { steps: [a: x = 1], withn: 7d } }\n",
            "metrics:\n  m: { source: events, funnel: { steps: [a: x = 1], within: 7d } }\n",
        ),
        (
            "no kind",
            "metrics:\n  m: { source: events }\n",
            "metrics:\n  m: { source: events, formula: 1 }\n",
        ),
        (
            "two kinds",
            "metrics:\n  m: { source: events, measure: count(*), formula: 1 }\n",
            "metrics:\n  m: { source: events, measure: count(*) }\n",
        ),
        (
            "a required key missing",
            "metrics:\n  m: { source: events, retention: { cohort: a, return: b, period: week } }\n",
            "metrics:\n  m: { source: events, retention: { cohort: a, return: b, period: week, periods: 4 } }\n",
        ),
        (
            "a word not among a keyword's",
            "metrics:\n  m: { source: events, churn: { window: 7d, value: lost } }\n",
            "metrics:\n  m: { source: events, churn: { window: 7d, value: churned } }\n",
        ),
        (
            "both of two keys that exclude each other",
            "metrics:\n  m: { source: events, cumulative: { metric: n, window: 7d, to_date: month } }\n",
            "metrics:\n  m: { source: events, cumulative: { metric: n, window: 7d } }\n",
        ),
        (
            "neither of two keys one of which is needed",
            "metrics:\n  m: { source: events, active: {} }\n",
            "metrics:\n  m: { source: events, active: { calendar: week } }\n",
        ),
        (
            "a source without a path",
            "sources:\n  s: { time: ts }\n",
            "sources:\n  s: { time: ts, path: data/s.parquet }\n",
        ),
        (
            "a name that is not one",
            "metrics:\n  2m: { source: events, measure: count(*) }\n",
            "metrics:\n  m2: { source: events, measure: count(*) }\n",
        ),
    ];
    for (what, bad, good) in cases {
        let bad = if bad.starts_with("sources:") {
            bad.to_string()
        } else {
            format!("{source}{bad}")
        };
        let good = if good.starts_with("sources:") {
            good.to_string()
        } else {
            format!("{source}{good}")
        };
        assert!(
            !errors(&definitions, &bad).is_empty(),
            "{what}: the schema accepts\n{bad}"
        );
        let found = errors(&definitions, &good);
        assert!(
            found.is_empty(),
            "{what}: the schema refuses the mended file\n{good}\n{found}"
        );
        // And `check` refuses the mistake too.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metricc.yaml"),
            "name: t\nfiles: [defs.yaml]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("defs.yaml"), &bad).unwrap();
        let checked = metricc::driver::check(dir.path());
        assert!(
            checked.diagnostics.iter().any(|d| d.is_error()),
            "{what}: check accepts\n{bad}"
        );
    }

    let tests = schema("tests");
    for (what, bad) in [
        (
            "both expect and expect_error",
            "tests:\n  - { name: t, metrics: [m], expect: [], expect_error: E0202, define: {} }\n",
        ),
        (
            "expect without metrics",
            "tests:\n  - { name: t, expect: [] }\n",
        ),
        (
            "expect_error without define",
            "tests:\n  - { name: t, expect_error: E0202 }\n",
        ),
        (
            "an unknown key",
            "tests:\n  - { name: t, metrics: [m], expect: [], tolerence: 0.1 }\n",
        ),
    ] {
        assert!(
            !errors(&tests, bad).is_empty(),
            "{what}: the schema accepts\n{bad}"
        );
    }
    let good = "tests:\n  - { name: t, metrics: [m], expect: [], tolerance: 0.1 }\n";
    assert!(errors(&tests, good).is_empty());
}
