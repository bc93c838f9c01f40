//! Every YAML block of docs/LANGUAGE.md checks clean against the fixtures.

use crate::fixtures;
use metricc::driver;
use std::path::Path;

const SOURCES: &str = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [event, endpoint, sdk] }\n  payments: { path: data/payments.parquet, time: paid_at, entity: developer_id }\n";

fn yaml_blocks(md: &str) -> Vec<String> {
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
            let text = if block.starts_with("sources:") {
                block.clone()
            } else {
                format!("{SOURCES}{block}")
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
