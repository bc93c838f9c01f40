//! The diagnostic cases: every file in `tests/cases/` is a small project file
//! whose offending lines carry their expectation inline, as a trailing comment
//! `# error: [E0202]` (or `# warning: [W0002]`, several codes comma-separated).
//! The driver runs `check` on it beside the standard fixtures and compares the
//! codes and lines found with those expected, then snapshots the rendered output.
//!
//! A case starting with `# role: project` is the project file itself; any other
//! case is a definition file next to a minimal project file. W0001 and W0002 are
//! ignored unless the case expects one of them.

use crate::fixtures;
use metricc::diagnostics::Code;
use metricc::diagnostics::render::{self, Format, Style};
use metricc::driver;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// `(line, code)` pairs written in the case.
fn expectations(text: &str) -> BTreeSet<(usize, String)> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        for marker in ["# error: [", "# warning: ["] {
            if let Some(at) = line.find(marker) {
                let rest = &line[at + marker.len()..];
                let codes = &rest[..rest.find(']').expect("closing bracket")];
                for c in codes.split(',') {
                    out.insert((i + 1, c.trim().to_string()));
                }
            }
        }
    }
    out
}

/// Runs one case; returns the codes it covers.
fn run_case(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let tmp = tempfile::tempdir().unwrap();
    fixtures::write_data(tmp.path());
    let case_file = if text.starts_with("# role: project") {
        "metricc.yaml"
    } else {
        std::fs::write(
            tmp.path().join("metricc.yaml"),
            "name: case\nfiles: [case.yaml]\n",
        )
        .unwrap();
        "case.yaml"
    };
    std::fs::write(tmp.path().join(case_file), &text).unwrap();
    let checked = driver::check(tmp.path());
    let expected = expectations(&text);
    let wanted: BTreeSet<&str> = expected.iter().map(|(_, c)| c.as_str()).collect();
    let ignored = |c: Code| {
        matches!(c, Code::UnusedSource | Code::MissingDescription) && !wanted.contains(c.as_str())
    };
    let diags: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| !ignored(d.code))
        .cloned()
        .collect();
    let rendered = render::render(
        &diags,
        &checked.sources,
        Format::Human,
        Style {
            color: false,
            unicode: false,
        },
    );
    let rendered = rendered.replace(&tmp.path().display().to_string(), "[dir]");
    let found: BTreeSet<(usize, String)> = diags
        .iter()
        .map(|d| {
            let span = d
                .span
                .unwrap_or_else(|| panic!("case {name}: diagnostic without a span:\n{rendered}"));
            let (file, line, _) = render::location(&checked.sources, span);
            assert!(
                file.ends_with(case_file),
                "case {name}: diagnostic in {file}:\n{rendered}"
            );
            (line, d.code.as_str().to_string())
        })
        .collect();
    assert_eq!(
        found, expected,
        "case {name}: found (line, code) vs expected\n{rendered}"
    );
    insta::assert_snapshot!(format!("case_{name}"), rendered);
    expected.into_iter().map(|(_, c)| c).collect()
}

/// Codes whose cases are Rust tests (they need files no YAML case can make).
/// E0222 and E03xx are tested through `metricc run` in `run_cli.rs`, E04xx
/// through `metricc test` in `test_cmd.rs`, W0004 (files without statistics)
/// in `check_then_run.rs`, E0311 (no scheduler at `--cluster`) in
/// `distributed.rs`, with the `distributed` feature.
const COVERED_ELSEWHERE: &[&str] = &[
    "E0001", "E0002", "E0003", "E0004", "E0222", "E0301", "E0302", "E0303", "E0304", "E0305",
    "E0306", "E0307", "E0308", "E0309", "E0310", "E0311", "E0401", "E0402", "E0403", "E0404",
    "W0004",
];

#[test]
fn diagnostic_cases() {
    let mut covered: BTreeSet<String> = COVERED_ELSEWHERE.iter().map(|s| s.to_string()).collect();
    let files = case_files();
    assert!(
        files.len() >= 40,
        "expected the case folder, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for f in files {
        match std::panic::catch_unwind(|| run_case(&f)) {
            Ok(codes) => covered.extend(codes),
            Err(_) => failures.push(f.display().to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases (messages above): {failures:#?}"
    );
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !covered.contains(*c))
        .collect();
    assert!(missing.is_empty(), "codes without a case: {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/DIAGNOSTICS.md"))
            .unwrap();
    for c in Code::ALL {
        let heading = format!("## {} {}", c.as_str(), c.name());
        assert!(
            doc.contains(&heading),
            "docs/DIAGNOSTICS.md lacks `{heading}`"
        );
    }
}
