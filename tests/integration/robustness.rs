//! No input makes metricc panic or hang: arbitrary text, mutated real files,
//! hostile YAML. Property tests over the front end.

use metricc::source::SourceSet;
use metricc::syntax::{FileRole, ast::Ast, parse_file};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn parse_text(text: &str, role: FileRole) -> usize {
    let mut sources = SourceSet::new();
    let id = sources.add("t.yaml", PathBuf::from("t.yaml"), text.to_string());
    let mut ast = Ast::default();
    let mut diags = Vec::new();
    parse_file(id, sources.get(id), role, &mut ast, &mut diags);
    // Every span must lie inside the file and render.
    for d in &diags {
        if let Some(s) = d.span {
            assert!(s.start <= s.end && s.end as usize <= text.len(), "{d:?}");
        }
    }
    let _ = metricc::diagnostics::render::render(
        &diags,
        &sources,
        metricc::diagnostics::render::Format::Human,
        metricc::diagnostics::render::Style {
            color: false,
            unicode: true,
        },
    );
    diags.len()
}

fn example_file(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("metrics")
            .join(name),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        parse_text(&text, FileRole::Definitions);
        parse_text(&text, FileRole::Project);
    }

    #[test]
    fn yamlish_text_never_panics(text in "[a-z_:\\-\\[\\]{}()'\" \n#*&!|>0-9=<.,]{0,300}") {
        parse_text(&text, FileRole::Definitions);
    }

    #[test]
    fn mutated_example_never_panics(
        file in prop::sample::select(vec!["acquisition.yaml", "engagement.yaml", "business.yaml", "sources.yaml", "metricc.yaml"]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = example_file(file).into_bytes();
        for (at, byte, op) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let role = if file == "metricc.yaml" { FileRole::Project } else { FileRole::Definitions };
        parse_text(&text, role);
    }
}

/// Mutated copies of the example, run through the whole front end (schemas and resolver too).
#[test]
fn mutated_example_projects_never_panic() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&example).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, tmp.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    std::os::unix::fs::symlink(example.join("data"), tmp.path().join("data")).unwrap();
    let original = example_file("acquisition.yaml");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    });
    let strategy = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop::sample::select(vec![
                "", "x", ")", "'", "(", " or ", "#", "\n  ", ": ", "count(*)",
            ]),
        ),
        1..4,
    );
    runner
        .run(&strategy, |edits| {
            let mut text = original.clone();
            for (at, insert) in edits {
                let mut i = at.index(text.len() + 1);
                while !text.is_char_boundary(i) {
                    i -= 1;
                }
                text.insert_str(i, insert);
            }
            std::fs::write(tmp.path().join("acquisition.yaml"), &text).unwrap();
            let _ = metricc::driver::check(tmp.path());
            Ok(())
        })
        .unwrap();
}

#[test]
fn hostile_yaml_is_refused_with_a_diagnostic() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
    let started = std::time::Instant::now();
    assert!(parse_text(bomb, FileRole::Definitions) >= 1);
    assert!(
        started.elapsed().as_secs() < 10,
        "alias expansion must be bounded"
    );
    let deep = format!("{}x{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(parse_text(&deep, FileRole::Definitions), 1);
    let deep_map = (0..5_000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect::<String>();
    assert!(parse_text(&deep_map, FileRole::Definitions) >= 1);
    let deep_expr = format!(
        "metrics:\n  m:\n    measure: {}1{}\n",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert_eq!(parse_text(&deep_expr, FileRole::Definitions), 1);
    assert_eq!(parse_text("", FileRole::Definitions), 1);
    assert_eq!(parse_text("\u{feff}", FileRole::Definitions), 1);
    parse_text("metrics: !!binary aGVsbG8=", FileRole::Definitions);
    parse_text("--- \n...\n---\nmetrics: {}\n", FileRole::Definitions);
    parse_text(
        "metrics:\n  m:\n    measure: \"\\ud800\"\n",
        FileRole::Definitions,
    );
}

#[test]
fn truncated_parquet_is_a_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    crate::fixtures::write_data(tmp.path());
    let good = std::fs::read(tmp.path().join("data/events.parquet")).unwrap();
    for cut in [0, 4, good.len() / 2, good.len() - 1] {
        std::fs::write(tmp.path().join("data/cut.parquet"), &good[..cut]).unwrap();
        std::fs::write(tmp.path().join("metricc.yaml"), "name: t\nsources:\n  e: { path: data/cut.parquet, time: ts }\nmetrics:\n  n: { description: n, source: e, measure: count(*) }\n").unwrap();
        let checked = metricc::driver::check(tmp.path());
        let codes: Vec<&str> = checked
            .diagnostics
            .iter()
            .map(|d| d.code.as_str())
            .collect();
        assert_eq!(codes, ["E0213"], "cut at {cut}");
    }
}
