//! YAML [`Node`]s -> [`ast`](super::ast) for the project file and definition files.

use super::ast::*;
use super::fields::{Cx, Fields};
use super::yaml::{Node, NodeKind};
use crate::diagnostics::{Code, Diagnostic};

use super::keys;
pub use super::keys::KIND_KEYS;

/// Reads the project file; its own `sources` and `metrics` go into `ast`.
pub fn project(cx: &mut Cx, root: &Node, ast: &mut Ast) {
    let Some(f) = cx.fields(root, "the project file", &keys::PROJECT) else {
        return;
    };
    let p = &mut ast.project;
    p.file = cx.file;
    match f.get("name") {
        Some(n) => p.name = cx.name(n, "project name"),
        None => cx.missing(&f, "name", "the project file", "add `name: my_project`"),
    }
    p.description = f.get("description").and_then(|n| cx.text(n, "description"));
    if let Some(n) = f.get("files") {
        p.files = match &n.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|i| cx.text(i, "a file pattern"))
                .collect(),
            _ => cx.text(n, "files").into_iter().collect(),
        };
    }
    p.time_zone = f.get("time_zone").and_then(|n| cx.text(n, "time_zone"));
    p.week_start = f
        .get("week_start")
        .and_then(|n| cx.keyword(n, "week_start", Weekday::ALL, Weekday::parse));
    if let Some(n) = f.get("default_range")
        && let Some(r) = cx.fields(n, "default_range", &keys::DEFAULT_RANGE)
    {
        p.default_from = r.get("from").and_then(|n| cx.date(n, "default_range.from"));
        p.default_to = r.get("to").and_then(|n| cx.date(n, "default_range.to"));
        if let (Some(a), Some(b)) = (&p.default_from, &p.default_to)
            && a.value >= b.value
        {
            cx.report(
                Diagnostic::new(Code::InvalidWindow, "default_range is empty")
                    .at(b.span, "`to` must be after `from` (the range is half-open)")
                    .with_secondary(a.span, "`from` is here"),
            );
        }
    }
    if let Some(n) = f.get("diff")
        && let Some(d) = cx.fields(n, "diff", &keys::DIFF)
    {
        p.max_change = d
            .get("max_change")
            .and_then(|n| percent(cx, n, "max_change"));
        if let Some(m) = d.get("metrics") {
            each_entry(cx, m, "diff.metrics", |cx, name, body| {
                if let Some(limit) = percent(cx, body, "a metric's max_change") {
                    p.max_change_by_metric.push((name, limit));
                }
            });
        }
    }
    definitions(cx, &f, ast);
}

/// A share written as a percentage (`5%`, `0.5%`) or a plain number (a
/// fraction: `0.05`), as a fraction.
fn percent(cx: &mut Cx, node: &Node, context: &str) -> Option<crate::span::Spanned<f64>> {
    let text = cx.text(node, context)?;
    let t = text.value.trim();
    let parsed = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok().map(|v| v / 100.0),
        None => t.parse::<f64>().ok(),
    };
    match parsed {
        Some(v) if v.is_finite() && v >= 0.0 => Some(crate::span::Spanned::new(v, text.span)),
        _ => {
            cx.report(
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("`{context}` must be a share such as `5%`"),
                )
                .at(text.span, "not a percentage of zero or more")
                .with_help("write the largest relative change allowed, e.g. `5%` or `0.5%`"),
            );
            None
        }
    }
}

/// Reads a definition file (`sources:` and `metrics:`).
pub fn file(cx: &mut Cx, root: &Node, ast: &mut Ast) {
    if let Some(f) = cx.fields(root, "a definition file", &keys::FILE) {
        definitions(cx, &f, ast);
    }
}

fn definitions(cx: &mut Cx, f: &Fields, ast: &mut Ast) {
    if let Some(n) = f.get("sources") {
        each_entry(cx, n, "sources", |cx, name, body| {
            if let Some(s) = source(cx, name, body) {
                ast.sources.push(s);
            }
        });
    }
    if let Some(n) = f.get("entities") {
        each_entry(cx, n, "entities", |cx, name, body| {
            if let Some(e) = entity(cx, name, body) {
                ast.entities.push(e);
            }
        });
    }
    if let Some(n) = f.get("metrics") {
        each_entry(cx, n, "metrics", |cx, name, body| {
            if let Some(m) = metric(cx, name, body) {
                ast.metrics.push(m);
            }
        });
    }
}

/// Calls `each` for every `name: body` pair of a mapping, checking the names.
fn each_entry(cx: &mut Cx, node: &Node, context: &str, mut each: impl FnMut(&mut Cx, Name, &Node)) {
    match &node.kind {
        NodeKind::Map(pairs) => {
            let mut seen: Vec<&Name> = Vec::new();
            let names: Vec<Option<Name>> = pairs.iter().map(|(k, _)| cx.name(k, "name")).collect();
            for (name, (_, body)) in names.iter().zip(pairs) {
                let Some(name) = name else { continue };
                if let Some(first) = seen.iter().find(|n| n.value == name.value) {
                    cx.report(
                        Diagnostic::new(
                            Code::DuplicateKey,
                            format!("duplicate key `{}`", name.value),
                        )
                        .at(name.span, "defined again here")
                        .with_secondary(first.span, "first defined here")
                        .with_help("rename or remove one of the two"),
                    );
                    continue;
                }
                seen.push(name);
                each(cx, name.clone(), body);
            }
        }
        NodeKind::Null => {}
        _ => {
            cx.report(
                Diagnostic::new(
                    Code::WrongYamlType,
                    format!("`{context}` must be a mapping from names to definitions"),
                )
                .at(node.span, format!("found {}", node.shape()))
                .with_help(format!(
                    "write `{context}:` followed by indented `name:` entries"
                )),
            );
        }
    }
}

fn source(cx: &mut Cx, name: Name, body: &Node) -> Option<SourceDef> {
    let context = format!("source `{}`", name.value);
    let f = cx.fields(body, &context, &keys::SOURCE)?;
    let path = match f.get("path") {
        Some(n) => cx.text(n, "path"),
        None => {
            cx.missing(
                &f,
                "path",
                &context,
                "add `path: data/events.parquet` (a file, directory or glob)",
            );
            None
        }
    };
    let time = match f.get("time") {
        Some(n) => cx.text(n, "time column"),
        None => {
            cx.missing(
                &f,
                "time",
                &context,
                "add `time: ts`, the column holding each row's timestamp",
            );
            None
        }
    };
    let entity = f.get("entity").and_then(|n| cx.text(n, "entity column"));
    let dimensions = texts(cx, &f, "dimensions", "dimension");
    let description = f.get("description").and_then(|n| cx.text(n, "description"));
    Some(SourceDef {
        name,
        description,
        path: path?,
        time: time?,
        entity,
        dimensions,
    })
}

/// Key `key`'s list of texts (or one text), each an `item`; none without
/// the key.
fn texts(cx: &mut Cx, f: &Fields, key: &str, item: &str) -> Vec<Name> {
    match f.get(key) {
        Some(n) => match &n.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|i| cx.text(i, item)).collect(),
            _ => cx.text(n, key).into_iter().collect(),
        },
        None => Vec::new(),
    }
}

fn entity(cx: &mut Cx, name: Name, body: &Node) -> Option<EntityDef> {
    let context = format!("entity `{}`", name.value);
    let f = cx.fields(body, &context, &keys::ENTITY)?;
    let key = match f.get("key") {
        Some(n) => cx.text(n, "key column"),
        None => {
            cx.missing(
                &f,
                "key",
                &context,
                "add `key: developer_id`, the column naming the entity in its table and in the sources",
            );
            None
        }
    };
    let path = match f.get("path") {
        Some(n) => cx.text(n, "path"),
        None => {
            cx.missing(
                &f,
                "path",
                &context,
                "add `path: data/developers.parquet`, the table of its attributes",
            );
            None
        }
    };
    let attributes = texts(cx, &f, "attributes", "attribute");
    Some(EntityDef {
        description: f.get("description").and_then(|n| cx.text(n, "description")),
        valid_from: f
            .get("valid_from")
            .and_then(|n| cx.text(n, "valid_from column")),
        key: key?,
        path: path?,
        attributes,
        name,
    })
}

fn metric(cx: &mut Cx, name: Name, body: &Node) -> Option<MetricDef> {
    let context = format!("metric `{}`", name.value);
    let f = cx.fields(body, &context, &keys::METRIC)?;
    let kinds: Vec<&str> = f.keys().filter(|k| KIND_KEYS.contains(k)).collect();
    let kind_key = match kinds.as_slice() {
        [] => {
            cx.report(
                Diagnostic::new(
                    Code::MetricKindMissing,
                    format!("{context} does not say what it computes"),
                )
                .at(name.span, "no kind key in this metric")
                .with_help(format!(
                    "add one of: {}",
                    KIND_KEYS
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            return None;
        }
        [one] => *one,
        [first, second, ..] => {
            let first_span = f.key_span(first).unwrap_or(name.span);
            cx.report(
                Diagnostic::new(Code::ConflictingKinds, format!("{context} has two kinds"))
                    .at(
                        f.key_span(second).unwrap_or(name.span),
                        format!("`{second}` here"),
                    )
                    .with_secondary(first_span, format!("and `{first}` here"))
                    .with_help("a metric computes one thing; split it into two metrics"),
            );
            return None;
        }
    };
    let kind_node = f.get(kind_key).expect("kind key is present");
    let kind_span = f.key_span(kind_key).expect("kind key is present");
    let kind = super::kinds::read(cx, kind_key, kind_node, &context);
    let filter = f.get("filter").and_then(|n| cx.expr(n, "filter"));
    let tags = f
        .get("tags")
        .map(|n| cx.names(n, "tag"))
        .unwrap_or_default();
    Some(MetricDef {
        label: f.get("label").and_then(|n| cx.text(n, "label")),
        unit: f.get("unit").and_then(|n| cx.text(n, "unit")),
        description: f.get("description").and_then(|n| cx.text(n, "description")),
        owner: f.get("owner").and_then(|n| cx.text(n, "owner")),
        tags,
        source: f.get("source").and_then(|n| cx.name(n, "source name")),
        filter,
        occurrence: f
            .get("occurrence")
            .and_then(|n| cx.keyword(n, "occurrence", Occurrence::ALL, Occurrence::parse)),
        breakdown: f
            .get("breakdown")
            .map(|n| cx.column_names(n, "dimension"))
            .unwrap_or_default(),
        kind_span,
        kind: kind?,
        name,
    })
}
