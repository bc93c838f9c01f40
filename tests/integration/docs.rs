//! Every YAML block of docs/LANGUAGE.md checks clean against the fixtures.

use crate::fixtures;
use metricc::driver;
use std::path::Path;

const SOURCES: &str = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [event, endpoint, sdk] }\n  payments: { path: data/payments.parquet, time: paid_at, entity: developer_id }\n  page_views: { path: data/page_views.parquet, time: ts, entity: visitor_id, dimensions: [page, channel] }\n";
/// The fixtures' entity, for blocks that declare none of their own.
const ENTITIES: &str =
    "entities:\n  developer: { key: developer_id, path: data/developers.parquet }\n";

/// The YAML blocks of a Markdown file.
pub fn yaml_blocks(md: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in md.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn language_examples_check_clean() {
    let md =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/LANGUAGE.md"))
            .unwrap();
    let blocks = yaml_blocks(&md);
    assert!(blocks.len() >= 14, "found {} blocks", blocks.len());
    for block in blocks {
        let tmp = tempfile::tempdir().unwrap();
        fixtures::write_data(tmp.path());
        if block.starts_with("name:") {
            std::fs::write(tmp.path().join("metricc.yaml"), &block).unwrap();
            let defs = format!(
                "{SOURCES}metrics:\n  n: {{ description: rows, source: events, measure: count(*) }}\n"
            );
            std::fs::write(tmp.path().join("defs.yaml"), defs).unwrap();
        } else {
            std::fs::write(
                tmp.path().join("metricc.yaml"),
                "name: docs\nfiles: [defs.yaml]\n",
            )
            .unwrap();
            let entities = if block.starts_with("entities:") || block.contains("\nentities:") {
                ""
            } else {
                ENTITIES
            };
            let text = if block.starts_with("sources:") {
                block.clone()
            } else {
                format!("{SOURCES}{entities}{block}")
            };
            std::fs::write(tmp.path().join("defs.yaml"), text).unwrap();
        }
        let checked = driver::check(tmp.path());
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error() || d.code != metricc::diagnostics::Code::UnusedSource)
            .collect();
        assert!(
            errors.is_empty(),
            "docs example fails check:\n{block}\n{errors:#?}"
        );
    }
}

/// A block without the indentation all its lines share.
pub fn dedent(block: &str) -> String {
    let indent = block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    block
        .lines()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

/// Every complete test file in docs/TESTING.md and README.md passes on the
/// example project.
#[test]
fn testing_examples_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut blocks: Vec<String> = Vec::new();
    for doc in ["docs/TESTING.md", "README.md"] {
        let md = std::fs::read_to_string(root.join(doc)).unwrap();
        blocks.extend(
            yaml_blocks(&md)
                .iter()
                .map(|b| dedent(b))
                .filter(|b| b.starts_with("tests:")),
        );
    }
    assert!(blocks.len() >= 3, "found {} test blocks", blocks.len());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&example).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
        }
    }
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    for e in std::fs::read_dir(example.join("data")).unwrap().flatten() {
        std::fs::copy(e.path(), tmp.path().join("data").join(e.file_name())).unwrap();
    }
    for (i, b) in blocks.iter().enumerate() {
        std::fs::write(tmp.path().join(format!("doc{i}.test.yaml")), b).unwrap();
    }
    let out = crate::run::metricc(&["test", "."], tmp.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{} passed, 0 failed", blocks.len())),
        "{text}"
    );
}
