//! Rendering diagnostics for people (miette), for tools (JSON) and for GitHub
//! Actions annotations. The only place that turns spans into lines and columns.

use super::{Diagnostic, Severity};
use crate::fence::escape;
use crate::source::SourceSet;
use crate::span::{FileId, Span, char_floor, line_col};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use std::collections::HashMap;
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
    let mut lines = Lines::new(sources);
    match format {
        Format::Human => sorted.iter().map(|d| human(d, &mut lines, style)).collect(),
        Format::Json => json(&sorted, &mut lines),
        Format::Github => sorted.iter().map(|d| github(d, &mut lines)).collect(),
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

/// Where each line of a file starts, found once per file and render, so
/// that many diagnostics in one large file cost one pass over it, not one
/// each.
pub struct Lines<'a> {
    sources: &'a SourceSet,
    starts: HashMap<FileId, Vec<usize>>,
}

impl<'a> Lines<'a> {
    pub fn new(sources: &'a SourceSet) -> Self {
        Lines {
            sources,
            starts: HashMap::new(),
        }
    }

    fn starts(&mut self, file: FileId) -> &[usize] {
        let sources = self.sources;
        let text = &sources.get(file).text;
        self.starts.entry(file).or_insert_with(|| {
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// 0-based line of a byte offset.
    fn line_of(&mut self, file: FileId, offset: usize) -> usize {
        let starts = self.starts(file);
        starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&mut self, file: FileId, offset: usize) -> (usize, usize) {
        let sources = self.sources;
        let text = &sources.get(file).text;
        let offset = char_floor(text, offset);
        let line = self.line_of(file, offset);
        let start = self.starts(file)[line];
        let col = text[start..offset].chars().count();
        (line + 1, col + 1)
    }

    /// File name, 1-based line and column of a span.
    pub fn location(&mut self, span: Span) -> (String, usize, usize) {
        let (line, col) = self.line_col(span.file, span.start as usize);
        (self.sources.get(span.file).name.clone(), line, col)
    }
}

/// A label covers at most this many lines of a snippet; a label over a
/// whole file (a file that is not a mapping, say) shows its first lines.
const MAX_LABEL_LINES: usize = 3;
/// Snippet lines longer than this many characters are cut around the label.
const MAX_LINE_CHARS: usize = 200;
/// Labels further apart than this many lines are not drawn in one snippet;
/// the others are listed as notes with their location.
const MAX_SNIPPET_LINES: usize = 12;

/// The lines of a file a snippet shows, made safe for a terminal (control
/// characters escaped, long lines cut), with the line number of its first
/// line. miette is handed this excerpt and never the whole file, so a
/// diagnostic costs the size of its snippet and prints only a few lines.
struct Excerpt {
    name: String,
    text: String,
    first_line: usize,
    /// Where the primary label starts in the excerpt, and its column (in
    /// bytes, as miette counts) in the file's line: the header names the
    /// file's position, not the excerpt's.
    primary_at: usize,
    primary_column: usize,
}

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        let column = if span.offset() == self.primary_at && before == 0 {
            self.primary_column
        } else {
            inner.column()
        };
        // miette's `line_count` counts from the start of the text; kept so,
        // so that labels merge into one snippet as they do over a whole file.
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            column,
            inner.line_count() + self.first_line,
        )))
    }
}

/// The excerpt of `primary`'s file that shows `primary` and whichever of
/// `others` (same file) lie near it, with their spans moved into the
/// excerpt; the spans left out are returned by index.
fn excerpt(
    lines: &mut Lines,
    primary: Span,
    others: &[Span],
) -> (Excerpt, Span, Vec<Option<Span>>) {
    let sources = lines.sources;
    let file = sources.get(primary.file);
    let text = file.text.as_str();
    let floor = |o: usize| char_floor(text, o);
    let line_count = lines.starts(primary.file).len();
    let line_end = |lines: &mut Lines, l: usize| -> usize {
        let starts = lines.starts(primary.file);
        starts.get(l + 1).map_or(text.len(), |s| s - 1)
    };
    // Each span cut to its first lines.
    let clamp = |lines: &mut Lines, s: Span| -> (usize, usize, usize, usize) {
        let start = floor(s.start as usize);
        let first = lines.line_of(s.file, start);
        let last_allowed = first + MAX_LABEL_LINES - 1;
        let mut end = floor(s.end as usize).max(start);
        if lines.line_of(s.file, end) > last_allowed {
            end = line_end(lines, last_allowed.min(line_count - 1));
        }
        let last = lines.line_of(s.file, end);
        (start, end, first, last)
    };
    let p = clamp(lines, primary);
    let mut lo = p.2.saturating_sub(1);
    let mut hi = (p.3 + 1).min(line_count - 1);
    let mut kept: Vec<Option<(usize, usize)>> = Vec::new();
    for o in others {
        let c = clamp(lines, *o);
        let (nlo, nhi) = (
            lo.min(c.2.saturating_sub(1)),
            hi.max((c.3 + 1).min(line_count - 1)),
        );
        if nhi - nlo < MAX_SNIPPET_LINES {
            (lo, hi) = (nlo, nhi);
            kept.push(Some((c.0, c.1)));
        } else {
            kept.push(None);
        }
    }
    // The offsets to move into the excerpt.
    let mut wanted: Vec<usize> = vec![p.0, p.1];
    wanted.extend(kept.iter().flatten().flat_map(|(a, b)| [*a, *b]));
    let mut moved: HashMap<usize, usize> = HashMap::new();
    let mut out = String::new();
    for l in lo..=hi {
        let start = lines.starts(primary.file)[l];
        let mut end = line_end(lines, l);
        if text[start..end].ends_with('\r') {
            end -= 1;
        }
        let line = &text[start..end];
        let chars = line.chars().count();
        let here: Vec<usize> = wanted
            .iter()
            .copied()
            .filter(|w| (start..=end).contains(w))
            .collect();
        let (from, to) = if chars <= MAX_LINE_CHARS {
            (0, chars)
        } else {
            let anchor = here
                .iter()
                .map(|w| text[start..*w].chars().count())
                .min()
                .unwrap_or(0);
            let from = anchor.saturating_sub(MAX_LINE_CHARS / 4);
            (from, (from + MAX_LINE_CHARS).min(chars))
        };
        if from > 0 {
            out.push('…');
        }
        for (i, (at, c)) in line.char_indices().enumerate() {
            if i == from {
                for w in here.iter().filter(|w| **w <= start + at) {
                    moved.entry(*w).or_insert(out.len());
                }
            }
            if i >= from && i < to {
                if here.contains(&(start + at)) {
                    moved.entry(start + at).or_insert(out.len());
                }
                crate::fence::push_escaped(&mut out, c);
            }
        }
        for w in &here {
            moved.entry(*w).or_insert(out.len());
        }
        if to < chars {
            out.push('…');
        }
        if l < hi {
            out.push('\n');
        }
    }
    let mv = |s: (usize, usize)| {
        let a = moved.get(&s.0).copied().unwrap_or(0);
        let b = moved.get(&s.1).copied().unwrap_or(a).max(a);
        Span::new(primary.file, a, b)
    };
    let primary_moved = mv((p.0, p.1));
    let primary_line_start = lines.starts(primary.file)[p.2];
    let excerpt = Excerpt {
        name: crate::fence::escape(&file.name),
        text: out,
        first_line: lo,
        primary_at: primary_moved.start as usize,
        primary_column: p.0 - primary_line_start,
    };
    (
        excerpt,
        primary_moved,
        kept.into_iter().map(|k| k.map(mv)).collect(),
    )
}

struct Report<'a> {
    diag: &'a Diagnostic,
    source: Option<Excerpt>,
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

/// The diagnostic with its user text made safe for a terminal.
fn escaped(d: &Diagnostic) -> Diagnostic {
    let mut d = d.clone();
    d.message = escape(&d.message);
    d.label = escape(&d.label);
    d.help = d.help.as_deref().map(escape);
    for l in &mut d.secondary {
        l.message = escape(&l.message);
    }
    d
}

fn human(d: &Diagnostic, lines: &mut Lines, style: Style) -> String {
    let mut shown = escaped(d);
    // Secondary labels that cannot share the snippet (another file, or too
    // far away in this one) are listed after it.
    let mut notes: Vec<crate::diagnostics::Label> = Vec::new();
    let source = match d.span {
        None => None,
        Some(primary) => {
            let (same, other): (Vec<_>, Vec<_>) = shown
                .secondary
                .drain(..)
                .partition(|l| l.span.file == primary.file);
            notes.extend(other);
            let spans: Vec<Span> = same.iter().map(|l| l.span).collect();
            let (excerpt, moved, others) = excerpt(lines, primary, &spans);
            shown.span = Some(moved);
            for (l, m) in same.into_iter().zip(others) {
                match m {
                    Some(span) => shown
                        .secondary
                        .push(crate::diagnostics::Label { span, ..l }),
                    None => notes.push(l),
                }
            }
            Some(excerpt)
        }
    };
    let theme = match (style.unicode, style.color) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, _) => GraphicalTheme::none(),
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    let report = Report {
        diag: &shown,
        source,
    };
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("{}: {}\n", shown.code, shown.message);
    }
    for l in notes {
        let (file, line, col) = lines.location(l.span);
        out.push_str(&format!(
            "  note: {} ({}:{line}:{col})\n",
            l.message,
            escape(&file)
        ));
    }
    out.push('\n');
    out
}

fn json(diags: &[&Diagnostic], lines: &mut Lines) -> String {
    let mut pos = |span: Span| {
        let (file, line, column) = lines.location(span);
        let (end_line, end_column) = lines.line_col(span.file, span.end as usize);
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
                "location": d.span.map(&mut pos),
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

fn github(d: &Diagnostic, lines: &mut Lines) -> String {
    let level = match d.severity() {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = vec![format!(
        "title={}",
        gh_escape(&format!("{} {}", d.code, d.code.name()), true)
    )];
    if let Some(span) = d.span {
        let (file, line, col) = lines.location(span);
        let (end_line, end_col) = lines.line_col(span.file, span.end as usize);
        props.insert(0, format!("file={}", gh_escape(&file, true)));
        props.insert(
            1,
            format!("line={line},col={col},endLine={end_line},endColumn={end_col}"),
        );
    }
    let d = escaped(d);
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
