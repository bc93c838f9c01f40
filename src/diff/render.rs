//! The report of a diff: for a terminal, as Markdown for a pull request's
//! comment or a CI job summary, or as JSON.

use super::defs::{Change, DefDiff, Entry, Loc, Status};
use super::values::{Row, Series};
use crate::fence::escape;
use std::fmt::Write;

/// Everything a report shows.
pub struct Report<'a> {
    pub base: &'a str,
    pub head: &'a str,
    /// The query in words: "by week, 2026-01-05 to 2026-05-05".
    pub query: String,
    pub defs: Option<&'a DefDiff>,
    pub series: &'a [Series],
    /// (version label, diagnostics rendered as text) of versions that do
    /// not check or could not compute.
    pub problems: Vec<(String, String)>,
    /// (metric, limit, largest relative change) of every limit exceeded.
    pub exceeded: Vec<Exceeded>,
    pub notes: Vec<String>,
}

/// A metric whose change went past its limit.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exceeded {
    pub metric: String,
    /// The limit as a fraction; `None` under `--fail-on-change`.
    pub limit: Option<f64>,
    /// The largest relative change (infinite from 0 or to nothing).
    pub largest: f64,
}

/// How many rows of a value table the terminal and Markdown show before
/// saying how many more there are (JSON has them all).
const MAX_ROWS: usize = 40;

fn status_word(s: &Status) -> String {
    match s {
        Status::Added => "added".into(),
        Status::Removed => "removed".into(),
        Status::Renamed {
            from,
            because: None,
        } => format!("renamed from {from}"),
        Status::Renamed {
            from,
            because: Some(path),
        } => format!("renamed from {from}; affected: {}", path.join(" -> ")),
        Status::Changed => "changed".into(),
        Status::SameMeaning => "rewritten, same meaning".into(),
        Status::Documentation => "documentation only".into(),
        Status::Affected { because } => format!("affected: {}", because.join(" -> ")),
    }
}

fn at(l: &Option<Loc>) -> String {
    l.as_ref().map_or(String::new(), |l| {
        format!("{}:{}:{}", l.file, l.line, l.column)
    })
}

fn value(v: &Option<String>) -> String {
    v.as_deref().map_or("(none)".into(), |s| s.to_string())
}

fn number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", number(x))
    } else {
        number(x)
    }
}

/// The relative change of a row, or what happened where there is none.
fn percent(r: &Row) -> String {
    if !r.differs() {
        return String::new();
    }
    if let Some(p) = r.relative {
        return format!("{}{:.1}%", if p > 0.0 { "+" } else { "" }, p * 100.0);
    }
    let number = |c: &Option<super::values::Cell>| c.as_ref().and_then(|c| c.number);
    match (&r.base, &r.head) {
        (None, _) => "new row".into(),
        (_, None) => "row gone".into(),
        _ if number(&r.head).is_none() => "to null".into(),
        _ if number(&r.base).is_none() => "from null".into(),
        _ => "from 0".into(),
    }
}

fn cell(c: &Option<super::values::Cell>) -> String {
    c.as_ref().map_or("-".into(), |c| c.text.clone())
}

/// A series' one-line summary: `activation_rate: 12 of 17 rows changed;
/// largest 2026-02-02: 0.31 -> 0.35 (+0.04, +12.9%)`.
fn summary_line(s: &Series) -> String {
    summary_with(s, &|t| t.to_string())
}

/// [`summary_line`] with keys and cells (data, which may hold anything)
/// written by `text`: as they are for a terminal, as code spans for
/// Markdown (where `@name` would mention someone and `![](...)` load an
/// image).
fn summary_with(s: &Series, text: &dyn Fn(&str) -> String) -> String {
    let sum = s.summary();
    let name = match &s.column {
        None => s.metric.clone(),
        Some(c) => format!("{} ({c})", s.metric),
    };
    if sum.changed == 0 {
        return format!("{name}: no change in {} rows", sum.rows);
    }
    let mut out = format!("{name}: {} of {} rows changed", sum.changed, sum.rows);
    if let Some(r) = sum.largest.map(|i| &s.rows[i]) {
        let key = if r.key.is_empty() {
            "total".to_string()
        } else {
            text(&r.key.join(", "))
        };
        let _ = write!(
            out,
            "; largest {key}: {} -> {}",
            text(&cell(&r.base)),
            text(&cell(&r.head))
        );
        let mut paren = Vec::new();
        if let Some(c) = r.change {
            paren.push(signed(c));
        }
        let p = percent(r);
        if !p.is_empty() {
            paren.push(p);
        }
        if !paren.is_empty() {
            let _ = write!(out, " ({})", paren.join(", "));
        }
    }
    out
}

/// The header and the rows that changed of a value table.
fn changed_rows(s: &Series) -> (Vec<String>, Vec<Vec<String>>) {
    let (header, rows) = table_rows(s);
    let changed = rows
        .into_iter()
        .zip(&s.rows)
        .filter(|(_, r)| r.differs())
        .map(|(c, _)| c)
        .collect();
    (header, changed)
}

/// The rows of a value table as text cells: keys, base, head, change, %.
fn table_rows(s: &Series) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = s.keys.clone();
    header.extend(["base", "head", "change", "%"].map(String::from));
    let rows = s
        .rows
        .iter()
        .map(|r| {
            let mut cells = r.key.clone();
            cells.push(cell(&r.base));
            cells.push(cell(&r.head));
            cells.push(if r.differs() {
                r.change.map_or(String::new(), signed)
            } else {
                String::new()
            });
            cells.push(percent(r));
            cells
        })
        .collect();
    (header, rows)
}

fn aligned(header: &[String], rows: &[Vec<String>], indent: &str) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i >= widths.len() {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = indent.to_string();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i] - c.chars().count();
            // Keys to the left, numbers to the right.
            if i < cells.len() - 4 {
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

fn change_line(c: &Change) -> String {
    let path = if c.path.is_empty() {
        "(value)"
    } else {
        &c.path
    };
    format!("{path}: {} -> {}", value(&c.base), value(&c.head))
}

fn entries_text(kind: &str, entries: &[Entry], out: &mut String) {
    for e in entries {
        let _ = writeln!(
            out,
            "  {kind} {}: {}  [{}]",
            e.name,
            status_word(&e.status),
            match (&e.base_at, &e.head_at) {
                (Some(b), Some(h)) if b != h =>
                    format!("{} / {}", at(&Some(b.clone())), at(&Some(h.clone()))),
                (b, h) => at(&h.clone().or(b.clone())),
            }
        );
        for c in &e.changes {
            let _ = writeln!(out, "      {}", change_line(c));
            if c.base_at.is_some() || c.head_at.is_some() {
                let _ = writeln!(
                    out,
                    "        base {}  head {}",
                    at(&c.base_at),
                    at(&c.head_at)
                );
            }
        }
    }
}

/// The report for a terminal.
pub fn human(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "metricc diff: {} -> {} ({})", r.base, r.head, r.query);
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    for (label, text) in &r.problems {
        let _ = writeln!(out, "\n{label} does not check or run:\n{text}");
    }
    if let Some(d) = r.defs {
        out.push_str("\ndefinitions\n");
        if d.is_empty() {
            out.push_str("  no change\n");
        }
        for c in &d.project {
            let _ = writeln!(out, "  project {}", change_line(c));
        }
        entries_text("source", &d.sources, &mut out);
        entries_text("metric", &d.metrics, &mut out);
    }
    if !r.series.is_empty() {
        out.push_str("\nvalues\n");
    }
    for s in r.series {
        let _ = writeln!(out, "  {}", summary_line(s));
        let (header, changed) = changed_rows(s);
        if changed.is_empty() {
            continue;
        }
        let shown = changed.len().min(MAX_ROWS);
        out.push_str(&aligned(&header, &changed[..shown], "    "));
        if shown < changed.len() {
            let _ = writeln!(out, "    ... {} more changed rows", changed.len() - shown);
        }
    }
    exceeded_text(r, &mut out);
    escape(&out)
}

fn exceeded_text(r: &Report, out: &mut String) {
    for e in &r.exceeded {
        let largest = if e.largest.is_infinite() {
            "from or to nothing or 0".to_string()
        } else {
            format!("{:.1}%", e.largest * 100.0)
        };
        let _ = match e.limit {
            Some(l) => writeln!(
                out,
                "\nerror: {} changed by {largest}, more than its limit of {:.1}%",
                e.metric,
                l * 100.0
            ),
            None => writeln!(
                out,
                "\nerror: {} changed ({largest}) under --fail-on-change",
                e.metric
            ),
        };
    }
}

/// Markdown text of a table cell: pipes escaped, lines joined.
fn md(s: &str) -> String {
    let mut out = String::new();
    for c in escape(s).chars() {
        match c {
            '\n' => out.push(' '),
            '<' => out.push_str("&lt;"),
            // Markdown's punctuation, escaped so that text stays text.
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// User text as a Markdown code span that is safe in a table cell: no
/// entity is decoded inside a code span, so only pipes (which end a cell
/// even there) and backticks need care.
fn code(s: &str) -> String {
    let text = escape(s).replace('\n', " ").replace('|', "\\|");
    let ticks = "`".repeat(text.split(|c| c != '`').map(str::len).max().unwrap_or(0) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// A Markdown table of cells already escaped ([`md`], [`code`]); its last
/// `numbers` columns are right-aligned.
fn md_table(header: &[String], rows: &[Vec<String>], numbers: usize, out: &mut String) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let aligns: Vec<&str> = (0..header.len())
        .map(|i| {
            if i + numbers >= header.len() {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    let _ = writeln!(out, "|{}|", aligns.join("|"));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
}

/// The report as GitHub-flavoured Markdown.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## metricc diff: {} → {}\n\n{}\n",
        code(r.base),
        code(r.head),
        md(&r.query)
    );
    for n in &r.notes {
        let _ = writeln!(out, "> note: {}\n", md(n));
    }
    for (label, text) in &r.problems {
        let _ = writeln!(
            out,
            "**{} does not check or run:**\n\n```text\n{}\n```\n",
            md(label),
            escape(text).replace("```", "'''")
        );
    }
    if let Some(d) = r.defs {
        out.push_str("### Definitions\n\n");
        if d.is_empty() {
            out.push_str("No change.\n\n");
        } else {
            let mut rows = Vec::new();
            for c in &d.project {
                rows.push(vec![
                    "project".to_string(),
                    md(&c.path),
                    "changed".into(),
                    format!("{} → {}", code(&value(&c.base)), code(&value(&c.head))),
                ]);
            }
            for (kind, entries) in [("source", &d.sources), ("metric", &d.metrics)] {
                for e in entries {
                    let what = e
                        .changes
                        .iter()
                        .map(|c| {
                            format!(
                                "{}: {} → {}",
                                code(if c.path.is_empty() {
                                    "(value)"
                                } else {
                                    &c.path
                                }),
                                code(&value(&c.base)),
                                code(&value(&c.head))
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    rows.push(vec![
                        kind.to_string(),
                        code(&e.name),
                        md(&status_word(&e.status)),
                        what,
                    ]);
                }
            }
            md_table(
                &["", "name", "status", "what changed"].map(String::from),
                &rows,
                0,
                &mut out,
            );
            out.push('\n');
        }
    }
    if !r.series.is_empty() {
        out.push_str("### Values\n\n");
    }
    for s in r.series {
        let _ = writeln!(out, "- {}", summary_with(s, &code));
    }
    for s in r.series.iter().filter(|s| s.summary().changed > 0) {
        let (header, changed) = changed_rows(s);
        let name = match &s.column {
            None => s.metric.clone(),
            Some(c) => format!("{} ({c})", s.metric),
        };
        let _ = writeln!(
            out,
            "\n<details><summary>{}: {} changed {}</summary>\n",
            md(&name),
            changed.len(),
            if changed.len() == 1 { "row" } else { "rows" }
        );
        let shown = changed.len().min(MAX_ROWS);
        // Keys and values come from the data: code spans.
        let rows: Vec<Vec<String>> = changed[..shown]
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| if c.is_empty() { String::new() } else { code(c) })
                    .collect()
            })
            .collect();
        let header: Vec<String> = header.iter().map(|h| md(h)).collect();
        md_table(&header, &rows, 4, &mut out);
        if shown < changed.len() {
            let _ = writeln!(out, "\n{} more changed rows.", changed.len() - shown);
        }
        out.push_str("\n</details>\n");
    }
    let mut tail = String::new();
    exceeded_text(r, &mut tail);
    if !tail.is_empty() {
        out.push('\n');
        for l in tail.lines().filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "> **{}**", md(l));
        }
    }
    out
}

/// The report as one JSON document.
pub fn json(r: &Report) -> String {
    let series: Vec<serde_json::Value> = r
        .series
        .iter()
        .map(|s| {
            let sum = s.summary();
            serde_json::json!({
                "metric": s.metric,
                "column": s.column,
                "keys": s.keys,
                "rows": s.rows,
                "summary": {
                    "rows": sum.rows,
                    "changed": sum.changed,
                    "largest": sum.largest.map(|i| &s.rows[i]),
                },
            })
        })
        .collect();
    let doc = serde_json::json!({
        "base": r.base,
        "head": r.head,
        "query": r.query,
        "notes": r.notes,
        "problems": r.problems.iter().map(|(l, t)| serde_json::json!({"version": l, "diagnostics": t})).collect::<Vec<_>>(),
        "definitions": r.defs,
        "values": series,
        "exceeded": r.exceeded.iter().map(|e| serde_json::json!({
            "metric": e.metric,
            "limit": e.limit,
            "largest": if e.largest.is_finite() { serde_json::json!(e.largest) } else { serde_json::Value::Null },
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
