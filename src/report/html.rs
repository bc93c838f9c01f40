//! report: sections -> the HTML page: a header with the query, a contents
//! list, and per metric its charts, legends and tables. All CSS is inline
//! and nothing is loaded; `@media print` keeps each chart on one page.

use super::frame::Frame;
use super::{Figure, Input, Section};
use std::fmt::Write;

/// A table of text cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Columns of numbers, aligned right; the others left.
    pub numeric: Vec<bool>,
}

/// Columns of the kinds' own tables that hold shares, written as
/// percentages like the charts' labels (the funnel's step and bin tables,
/// the retention matrix).
const SHARE_COLUMNS: &[&str] = &[
    "conversion_from_previous",
    "conversion_from_first",
    "share",
    "retention_rate",
];

impl Table {
    /// A result table as computed, numbers as `metricc run` writes them,
    /// shares as percentages.
    pub fn of(f: &Frame) -> Table {
        Table {
            numeric: f
                .columns
                .iter()
                .map(|c| c.iter().all(|v| !matches!(v, super::Cell::Text(_))))
                .collect(),
            head: f.names.clone(),
            rows: (0..f.rows())
                .map(|r| {
                    f.columns
                        .iter()
                        .zip(&f.names)
                        .map(|(c, name)| match &c[r] {
                            super::Cell::Num(v) if SHARE_COLUMNS.contains(&name.as_str()) => {
                                format!("{:.1}%", v * 100.0)
                            }
                            super::Cell::Num(v) => super::units::number(*v),
                            super::Cell::Text(t) => t.clone(),
                            super::Cell::Null => "–".into(),
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

/// Text escaped for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main { max-width: 940px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 28px; border-bottom: 1px solid var(--line); padding-bottom: 12px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 2px; }
.meta, .about, figcaption, .more { color: var(--muted); font-size: 13px; }
.notes { font-size: 13px; color: var(--muted); margin: 8px 0 0; padding-left: 18px; }
nav ol { columns: 3 14em; margin: 12px 0 0; padding-left: 20px; font-size: 14px; }
a { color: #0969da; text-decoration: none; }
section.metric { padding: 26px 0 18px; border-bottom: 1px solid var(--line); }
.desc { margin: 4px 0 2px; }
figure { margin: 14px 0 0; }
figure svg { display: block; width: 100%; height: auto; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 0 0; padding: 0; list-style: none; font-size: 13px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.numbers { max-height: 320px; overflow: auto; margin-top: 10px; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; text-align: right; white-space: nowrap; border-bottom: 1px solid var(--soft); }
th.t, td.t { text-align: left; }
thead th { position: sticky; top: 0; background: var(--soft); font-weight: 600; }
.failed { color: #cf222e; }
.empty { color: var(--muted); font-style: italic; }
footer { max-width: 940px; margin: 0 auto; padding: 16px 20px 40px; color: var(--muted); font-size: 12px; }
@media print {
  body { font-size: 11pt; }
  nav { display: none; }
  section.metric { break-inside: avoid; page-break-inside: avoid; }
  .numbers { max-height: none; overflow: visible; border: 0; }
  thead th { position: static; }
  a { color: inherit; }
}
"#;

pub fn page(input: &Input, sections: &[Section]) -> String {
    let project = &input.model.project.name;
    let q = input.query;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"metricc {}\">\n<title>{} metrics</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        escape(project)
    );
    let _ = write!(o, "<header>\n<h1>{} metrics</h1>\n", escape(project));
    let range = format!(
        "{} to {} (the end excluded), {}",
        q.range.from.format("%Y-%m-%d %H:%M"),
        q.range.to.format("%Y-%m-%d %H:%M"),
        input.model.project.time_zone
    );
    let by = match q.grain {
        Some(g) => format!("by {}", g.as_str()),
        None => "one total over the range".to_string(),
    };
    let breakdown = if q.group_by.is_empty() {
        String::new()
    } else {
        format!(", broken down by {}", q.group_by.join(", "))
    };
    let _ = writeln!(
        o,
        "<p class=\"meta\">{}; {by}{}. Made by metricc {} on {}.</p>",
        escape(&range),
        escape(&breakdown),
        env!("CARGO_PKG_VERSION"),
        escape(&input.made)
    );
    if !input.notes.is_empty() {
        o.push_str("<ul class=\"notes\">\n");
        for n in &input.notes {
            let _ = writeln!(o, "<li>{}</li>", escape(n));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("<nav><ol>\n");
    for s in sections {
        let _ = writeln!(
            o,
            "<li><a href=\"#m-{}\">{}</a></li>",
            escape(&s.name),
            escape(&s.title)
        );
    }
    o.push_str("</ol></nav>\n</header>\n<main>\n");
    for s in sections {
        section(&mut o, s);
    }
    o.push_str("</main>\n<footer>Each chart draws the table under it. Computed by metricc from the project's Parquet files; the page loads nothing and runs no script.</footer>\n</body>\n</html>\n");
    o
}

fn section(o: &mut String, s: &Section) {
    let _ = writeln!(
        o,
        "<section class=\"metric\" id=\"m-{0}\">\n<h2>{1}</h2>",
        escape(&s.name),
        escape(&s.title)
    );
    if let Some(d) = &s.description {
        let _ = writeln!(o, "<p class=\"desc\">{}</p>", escape(d));
    }
    let _ = writeln!(
        o,
        "<p class=\"about\"><code>{}</code> · {}</p>",
        escape(&s.name),
        escape(&s.about)
    );
    for f in &s.figures {
        figure(o, &s.name, f);
    }
    o.push_str("</section>\n");
}

fn figure(o: &mut String, metric: &str, f: &Figure) {
    // A chart with nothing to draw is marked, for readers and checkers.
    let empty = matches!(f.svg, Ok(None));
    let _ = writeln!(
        o,
        "<figure class=\"chart\" data-metric=\"{}\"{}>",
        escape(metric),
        if empty { " data-empty=\"true\"" } else { "" }
    );
    if let Some(c) = &f.caption {
        let _ = writeln!(o, "<figcaption>{}</figcaption>", escape(c));
    }
    match &f.svg {
        Ok(Some(svg)) => o.push_str(&responsive(svg)),
        Ok(None) => o.push_str("<p class=\"empty\">No value in this range: nothing to draw.</p>\n"),
        Err(e) => {
            let _ = writeln!(
                o,
                "<p class=\"failed\">The chart could not be drawn ({}); the numbers are below.</p>",
                escape(e)
            );
        }
    }
    if !f.legend.is_empty() {
        o.push_str("<ul class=\"legend\">");
        for (i, name) in f.legend.iter().enumerate() {
            let (r, g, b) = super::chart::PALETTE[i % super::chart::PALETTE.len()];
            let _ = write!(
                o,
                "<li><i style=\"background:rgb({r},{g},{b})\"></i>{}</li>",
                escape(name)
            );
        }
        o.push_str("</ul>\n");
    }
    if f.more > 0 {
        let _ = writeln!(
            o,
            "<p class=\"more\">{} more not drawn, the smallest; the table has them all.</p>",
            f.more
        );
    }
    o.push_str("<div class=\"numbers\"><table>\n<thead><tr>");
    let class = |i: usize| {
        if f.table.numeric.get(i).copied().unwrap_or(false) {
            ""
        } else {
            " class=\"t\""
        }
    };
    for (i, h) in f.table.head.iter().enumerate() {
        let _ = write!(o, "<th{}>{}</th>", class(i), escape(h));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for row in &f.table.rows {
        o.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let _ = write!(o, "<td{}>{}</td>", class(i), escape(c));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table></div>\n</figure>\n");
}

/// An SVG that scales to its container: the fixed width and height
/// plotters writes give way to its view box.
fn responsive(svg: &str) -> String {
    let Some(start) = svg.find("<svg") else {
        return svg.to_string();
    };
    let end = svg[start..].find('>').map_or(svg.len(), |e| start + e);
    let mut head = svg[start..end].to_string();
    for attr in ["width", "height"] {
        if let Some(i) = head.find(&format!(" {attr}=\""))
            && let Some(j) = head[i + attr.len() + 3..].find('"')
        {
            head.replace_range(i..i + attr.len() + 4 + j, "");
        }
    }
    format!("{}{} role=\"img\"{}\n", &svg[..start], head, &svg[end..])
}
