//! Rendering diagnostics for people (miette), for tools (JSON) and for GitHub
//! Actions annotations. The only place that turns spans into lines and columns.

use super::{Diagnostic, Severity};
use crate::source::SourceSet;
use crate::span::{Span, line_col};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use std::fmt;

/// How `check` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Annotated source snippets, for people.
    Human,
    /// One JSON document with every diagnostic, for tools.
    Json,
    /// GitHub Actions workflow commands (`::error file=..,line=..,col=..::`).
    Github,
}

/// Options for human rendering.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    pub unicode: bool,
}

/// Renders every diagnostic in `format`, sorted by file and position.
pub fn render(diags: &[Diagnostic], sources: &SourceSet, format: Format, style: Style) -> String {
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by_key(|d| (d.span.map(|s| (s.file, s.start)), d.code));
    match format {
        Format::Human => sorted.iter().map(|d| human(d, sources, style)).collect(),
        Format::Json => json(&sorted, sources),
        Format::Github => sorted.iter().map(|d| github(d, sources)).collect(),
    }
}

/// A summary line such as `2 errors, 1 warning`.
pub fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

/// File name, 1-based line and column of a span.
pub fn location(sources: &SourceSet, span: Span) -> (String, usize, usize) {
    let file = sources.get(span.file);
    let (line, col) = line_col(&file.text, span.start as usize);
    (file.name.clone(), line, col)
}

struct Report<'a> {
    diag: &'a Diagnostic,
    source: Option<NamedSource<String>>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

fn source_span(span: Span) -> SourceSpan {
    SourceSpan::new((span.start as usize).into(), span.len())
}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let c = self.diag.code;
        Some(Box::new(format!("{}[{}]", c.as_str(), c.name())))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.diag.span?;
        self.source.as_ref()?;
        let primary = LabeledSpan::new_primary_with_span(
            Some(self.diag.label.clone()).filter(|l| !l.is_empty()),
            source_span(span),
        );
        let same_file = self
            .diag
            .secondary
            .iter()
            .filter(move |l| l.span.file == span.file);
        let rest = same_file
            .map(|l| LabeledSpan::new_with_span(Some(l.message.clone()), source_span(l.span)));
        Some(Box::new(std::iter::once(primary).chain(rest)))
    }
}

fn human(d: &Diagnostic, sources: &SourceSet, style: Style) -> String {
    let source = d.span.map(|s| {
        let f = sources.get(s.file);
        NamedSource::new(f.name.clone(), f.text.clone())
    });
    let theme = match (style.unicode, style.color) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, _) => GraphicalTheme::none(),
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    let report = Report { diag: d, source };
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("{}: {}\n", d.code, d.message);
    }
    // Secondary labels in other files cannot share the snippet: list them.
    if let Some(primary) = d.span {
        for l in d.secondary.iter().filter(|l| l.span.file != primary.file) {
            let (file, line, col) = location(sources, l.span);
            out.push_str(&format!("  note: {} ({file}:{line}:{col})\n", l.message));
        }
    }
    out.push('\n');
    out
}

fn json(diags: &[&Diagnostic], sources: &SourceSet) -> String {
    let pos = |span: Span| {
        let (file, line, column) = location(sources, span);
        let (end_line, end_column) = line_col(&sources.get(span.file).text, span.end as usize);
        serde_json::json!({
            "file": file, "line": line, "column": column,
            "end_line": end_line, "end_column": end_column,
            "start_byte": span.start, "end_byte": span.end,
        })
    };
    let items: Vec<_> = diags
        .iter()
        .map(|d| {
            serde_json::json!({
                "code": d.code.as_str(),
                "name": d.code.name(),
                "severity": match d.severity() { Severity::Error => "error", Severity::Warning => "warning" },
                "message": d.message,
                "label": d.label,
                "location": d.span.map(pos),
                "related": d.secondary.iter().map(|l| serde_json::json!({"message": l.message, "location": pos(l.span)})).collect::<Vec<_>>(),
                "help": d.help,
            })
        })
        .collect();
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let doc = serde_json::json!({
        "diagnostics": items,
        "errors": errors,
        "warnings": diags.len() - errors,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// GitHub workflow commands need `%`, CR, LF escaped in the message, and `,` `:` too in properties.
fn gh_escape(s: &str, property: bool) -> String {
    let mut out = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

fn github(d: &Diagnostic, sources: &SourceSet) -> String {
    let level = match d.severity() {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = vec![format!(
        "title={}",
        gh_escape(&format!("{} {}", d.code, d.code.name()), true)
    )];
    if let Some(span) = d.span {
        let (file, line, col) = location(sources, span);
        let (end_line, end_col) = line_col(&sources.get(span.file).text, span.end as usize);
        props.insert(0, format!("file={}", gh_escape(&file, true)));
        props.insert(
            1,
            format!("line={line},col={col},endLine={end_line},endColumn={end_col}"),
        );
    }
    let mut msg = d.message.clone();
    if !d.label.is_empty() {
        msg.push_str(&format!(": {}", d.label));
    }
    if let Some(h) = &d.help {
        msg.push_str(&format!("\nhelp: {h}"));
    }
    format!(
        "::{level} {}::{}\n",
        props.join(","),
        gh_escape(&msg, false)
    )
}
