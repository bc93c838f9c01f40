//! Test files (`*.test.yaml`) -> [`TestCase`]s, every value with its span.
//! Reports what is wrong with the file's shape; what needs the project
//! (columns, metrics) is checked when a test is prepared.

use crate::diagnostics::Diagnostics;
use crate::diagnostics::{Code, Diagnostic, did_you_mean};
use crate::fence::Fence;
use crate::source::SourceSet;
use crate::span::{FileId, Span, Spanned};
use crate::syntax::ast::{Ast, Grain, Name, Weekday};
use crate::syntax::build;
use crate::syntax::fields::Cx;
use crate::syntax::keys;
use crate::syntax::yaml::{self, Node, NodeKind};
use std::path::Path;

/// One test, as written.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: Name,
    pub description: Option<String>,
    pub metrics: Vec<Name>,
    /// The `metrics` key, or the test's name when there is none.
    pub metrics_span: Span,
    pub from: Option<Name>,
    pub to: Option<Name>,
    pub by: Option<Spanned<Grain>>,
    pub group_by: Vec<Name>,
    pub time_zone: Option<Name>,
    pub week_start: Option<Spanned<Weekday>>,
    pub table: Option<Name>,
    pub tolerance: Option<Spanned<f64>>,
    /// `complete: false`: result rows no expected row names are not reported.
    pub complete: bool,
    pub given: Vec<Fixture>,
    /// The `given` key, when there is one.
    pub given_span: Option<Span>,
    pub expect: Option<Spanned<Vec<Row>>>,
    pub define: Option<Ast>,
    /// The span of the `define` value: problems found reading it are what
    /// `expect_error` may expect.
    pub define_span: Option<Span>,
    pub expect_error: Option<Spanned<Code>>,
    /// Whether this stands for a whole test file that could not be read.
    pub whole_file: bool,
    /// What reading the test found wrong: a test with an error is reported,
    /// not run.
    pub problems: Diagnostics,
}

impl TestCase {
    /// A test file that cannot be read as tests, reported as one broken test.
    pub fn unreadable(file: FileId, name: &str, problems: Diagnostics) -> TestCase {
        let span = Span::new(file, 0, 0);
        TestCase {
            name: Spanned::new(name.to_string(), span),
            description: None,
            metrics: Vec::new(),
            metrics_span: span,
            from: None,
            to: None,
            by: None,
            group_by: Vec::new(),
            time_zone: None,
            week_start: None,
            table: None,
            tolerance: None,
            complete: true,
            given: Vec::new(),
            given_span: None,
            expect: None,
            define: None,
            define_span: None,
            expect_error: None,
            whole_file: true,
            problems,
        }
    }

    pub fn broken(&self) -> bool {
        self.problems.iter().any(Diagnostic::is_error)
    }
}

/// The rows given for one source.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub source: Name,
    pub rows: Vec<Row>,
}

/// A row: column names and cells, in the order written.
#[derive(Debug, Clone)]
pub struct Row {
    pub span: Span,
    pub cells: Vec<(Name, Cell)>,
}

/// One value as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// A YAML string (or a CSV cell).
    Text(String),
    /// A YAML number, with its written text.
    Number(f64, String),
    Bool(bool),
}

impl Value {
    /// The value as text, for conversion to a column type.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Text(s) => Some(s.clone()),
            Value::Number(_, raw) => Some(raw.clone()),
            Value::Bool(b) => Some(b.to_string()),
        }
    }
}

/// Reads one test file. `sources` gets any CSV fixture it names.
pub fn read(
    fence: &Fence,
    file: FileId,
    sources: &mut SourceSet,
    diags: &mut Diagnostics,
) -> Vec<TestCase> {
    let text = sources.get(file).text.clone();
    let dir = sources
        .get(file)
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let root = match yaml::parse(file, &text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            // A warning, as for an empty definition file: nothing to run.
            diags.push(
                Diagnostic::new(Code::EmptyFile, "test file is empty")
                    .at(Span::new(file, 0, 0), "no test in this file")
                    .with_help("add `tests:` with a list of tests, or delete the file"),
            );
            return Vec::new();
        }
        Err(d) => return vec![TestCase::unreadable(file, &sources.get(file).name, vec![d])],
    };
    let mut csvs: Vec<(usize, usize, Name)> = Vec::new();
    let mut cases = Vec::new();
    let before = diags.len();
    'read: {
        let mut cx = Cx {
            file,
            text: &text,
            diags,
        };
        let Some(f) = cx.fields(&root, "a test file", &keys::TEST_FILE) else {
            break 'read;
        };
        let Some(list) = f.get("tests") else {
            cx.missing(
                &f,
                "tests",
                "a test file",
                "add `tests:` with a list of tests",
            );
            break 'read;
        };
        let NodeKind::Seq(items) = &list.kind else {
            cx.report(
                Diagnostic::new(Code::WrongYamlType, "`tests` must be a list of tests")
                    .at(list.span, format!("found {}", list.shape()))
                    .with_help("write each test as a list item: `- name: ...`"),
            );
            break 'read;
        };
        for item in items {
            if let Some(case) = test(&mut cx, item, cases.len(), &mut csvs) {
                cases.push(case);
            }
        }
    }
    if diags[before..].iter().any(Diagnostic::is_error) {
        let found = diags.split_off(before);
        let name = sources.get(file).name.clone();
        cases.push(TestCase::unreadable(file, &name, found));
    }
    // CSV fixtures: read each file and parse it into rows with spans in it.
    for (case, fixture, path) in csvs {
        let full = dir.join(&path.value);
        // Refused as written whether or not it exists (a refusal must not
        // tell what is there); a file that exists is refused when a link
        // leads it out.
        let refused = fence
            .written(&dir, &path.value)
            .err()
            .or_else(|| full.exists().then(|| fence.found(&full).err()).flatten());
        if let Some(why) = refused {
            cases[case].problems.push(
                Diagnostic::new(
                    Code::PathOutsideProject,
                    "the fixture is outside the project",
                )
                .at(path.span, why)
                .with_help(fence.help()),
            );
            continue;
        }
        let (id, read) = sources.read(&full);
        let before = diags.len();
        match read {
            Ok(()) => {
                let csv_text = sources.get(id).text.clone();
                cases[case].given[fixture].rows = csv_rows(id, &csv_text, diags);
            }
            Err(e) => diags.push(
                Diagnostic::new(
                    Code::InvalidFixtureValue,
                    format!("cannot read the fixture `{}`", path.value),
                )
                .at(path.span, crate::source::describe(&e))
                .with_help(format!(
                    "CSV paths are relative to the test file's directory `{}`",
                    dir.display()
                )),
            ),
        }
        let found = diags.split_off(before);
        cases[case].problems.extend(found);
    }
    cases
}

/// Reads one test; `None` when it has no usable name.
fn test(
    cx: &mut Cx,
    node: &Node,
    index: usize,
    csvs: &mut Vec<(usize, usize, Name)>,
) -> Option<TestCase> {
    let before = cx.diags.len();
    let f = cx.fields(node, "a test", &keys::TEST)?;
    // A test without a usable name is still reported, under its position.
    let name = match f.get("name") {
        Some(n) => cx.name(n, "test name"),
        None => {
            cx.missing(&f, "name", "a test", "add `name: what_the_test_shows`");
            None
        }
    }
    .unwrap_or_else(|| Spanned::new(format!("#{}", index + 1), f.label_span()));
    let description = f
        .get("description")
        .and_then(|n| cx.text(n, "description"))
        .map(|d| d.value);
    let metrics = f
        .get("metrics")
        .map(|n| cx.names(n, "metric name"))
        .unwrap_or_default();
    let metrics_span = f.key_span("metrics").unwrap_or(name.span);
    let from = f.get("from").and_then(|n| cx.text(n, "from"));
    let to = f.get("to").and_then(|n| cx.text(n, "to"));
    let by = f
        .get("by")
        .and_then(|n| cx.keyword(n, "by", Grain::ALL, Grain::parse));
    let group_by = f
        .get("group_by")
        .map(|n| cx.column_names(n, "dimension"))
        .unwrap_or_default();
    let time_zone = f.get("time_zone").and_then(|n| cx.text(n, "time_zone"));
    let week_start = f
        .get("week_start")
        .and_then(|n| cx.keyword(n, "week_start", Weekday::ALL, Weekday::parse));
    let table = f.get("table").and_then(|n| cx.name(n, "table"));
    let tolerance = f.get("tolerance").and_then(|n| {
        let v = match &n.kind {
            NodeKind::Int(i) => Some(*i as f64),
            NodeKind::Float(x) => Some(*x),
            NodeKind::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match v {
            Some(v) if v.is_finite() && v >= 0.0 => Some(Spanned::new(v, n.span)),
            _ => {
                cx.report(
                    Diagnostic::new(Code::InvalidValue, "invalid tolerance")
                        .at(n.span, "not a number of 0 or more")
                        .with_help("write e.g. `tolerance: 1e-6`"),
                );
                None
            }
        }
    });
    let complete = f
        .get("complete")
        .and_then(|n| cx.bool(n, "complete"))
        .is_none_or(|b| b.value);
    let mut given = Vec::new();
    if let Some(n) = f.get("given") {
        let pairs: &[(Node, Node)] = match &n.kind {
            NodeKind::Map(pairs) => pairs,
            NodeKind::Null => &[],
            _ => {
                cx.report(
                    Diagnostic::new(
                        Code::WrongYamlType,
                        "`given` must map sources to their rows",
                    )
                    .at(n.span, format!("found {}", n.shape()))
                    .with_help("write `given: { events: [ {...}, ... ], payments: [] }`"),
                );
                &[]
            }
        };
        for (key, value) in pairs {
            let Some(source) = cx.name(key, "source name") else {
                continue;
            };
            if given
                .iter()
                .any(|x: &Fixture| x.source.value == source.value)
            {
                cx.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        format!("duplicate key `{}`", source.value),
                    )
                    .at(source.span, "given again here")
                    .with_help("give each source's rows once"),
                );
                continue;
            }
            let rows = match &value.kind {
                NodeKind::Map(_) => {
                    if let Some(c) = cx.fields(value, "a CSV fixture", &keys::CSV_FIXTURE) {
                        match c.get("csv").and_then(|p| cx.text(p, "csv")) {
                            Some(path) => csvs.push((index, given.len(), path)),
                            None => cx.missing(
                                &c,
                                "csv",
                                "a CSV fixture",
                                "write `{ csv: fixtures/events.csv }`, or the rows as a list",
                            ),
                        }
                    }
                    Vec::new()
                }
                _ => rows(cx, value, "fixture rows"),
            };
            given.push(Fixture { source, rows });
        }
    }
    let expect = f.get("expect").map(|n| {
        if n.kind == NodeKind::Null {
            cx.report(
                Diagnostic::new(Code::InvalidFixtureValue, "`expect` has no rows")
                    .at(n.span, "nothing written here")
                    .with_help("write the expected rows, or `expect: []` for a table with no rows"),
            );
        }
        Spanned::new(rows(cx, n, "expected rows"), n.span)
    });
    let define = f.get("define").map(|n| {
        let mut ast = Ast::default();
        build::file(cx, n, &mut ast);
        ast
    });
    let expect_error = f.get("expect_error").and_then(|n| {
        let text = cx.text(n, "expect_error")?;
        let want = text.value.trim().to_ascii_uppercase();
        match Code::ALL
            .iter()
            .find(|c| c.as_str() == want || c.name() == text.value.trim())
        {
            Some(c) => Some(Spanned::new(*c, n.span)),
            None => {
                let help = match did_you_mean(&want, Code::ALL.iter().map(|c| c.as_str())) {
                    Some(s) => {
                        format!("did you mean `{s}`? the codes are listed in docs/DIAGNOSTICS.md")
                    }
                    None => {
                        "write a code such as `E0202`; the codes are listed in docs/DIAGNOSTICS.md"
                            .into()
                    }
                };
                cx.report(
                    Diagnostic::new(Code::InvalidValue, "unknown diagnostic code")
                        .at(n.span, format!("`{}` is not a metricc code", text.value))
                        .with_help(help),
                );
                None
            }
        }
    });
    match (f.key_span("expect"), f.key_span("expect_error")) {
        (None, None) => cx.missing(
            &f,
            "expect",
            "a test",
            "add `expect:` with the expected rows, or `expect_error: CODE` for a definition that must be rejected",
        ),
        (Some(_), Some(span)) => cx.report(
            Diagnostic::new(Code::ConflictingKinds, "a test has both `expect` and `expect_error`")
                .at(span, "a test either computes a table or expects a check error")
                .with_help("split it into two tests"),
        ),
        (Some(_), None) if f.key_span("metrics").is_none() => cx.missing(
            &f,
            "metrics",
            "a test with `expect`",
            "add `metrics: [name, ...]`: the metrics whose values `expect` gives",
        ),
        (Some(_), None) if metrics.is_empty() => cx.report(
            Diagnostic::new(Code::MissingKey, "`metrics` names no metric")
                .at(metrics_span, "an empty list")
                .with_help("name the metrics whose values `expect` gives"),
        ),
        _ => {}
    }
    if f.key_span("expect_error").is_some() && f.key_span("define").is_none() {
        cx.missing(
            &f,
            "define",
            "a test with `expect_error`",
            "add `define:` with the definitions that checking must reject",
        );
    }
    let problems = cx.diags.split_off(before);
    Some(TestCase {
        name,
        description,
        metrics,
        metrics_span,
        from,
        to,
        by,
        group_by,
        time_zone,
        week_start,
        table,
        tolerance,
        complete,
        given,
        given_span: f.key_span("given"),
        expect,
        define,
        define_span: f.get("define").map(|n| n.span),
        expect_error,
        whole_file: false,
        problems,
    })
}

/// A list of rows, each a mapping of column to scalar.
fn rows(cx: &mut Cx, node: &Node, context: &str) -> Vec<Row> {
    let items: &[Node] = match &node.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => &[],
        _ => {
            cx.report(
                Diagnostic::new(
                    Code::InvalidFixtureValue,
                    format!("{context} must be a list of rows"),
                )
                .at(node.span, format!("found {}", node.shape()))
                .with_help("write one `- { column: value, ... }` per row, or `[]` for none"),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        let NodeKind::Map(pairs) = &item.kind else {
            cx.report(
                Diagnostic::new(
                    Code::InvalidFixtureValue,
                    "a row must be a mapping of columns to values",
                )
                .at(item.span, format!("found {}", item.shape()))
                .with_help("write the row as `{ column: value, ... }`"),
            );
            continue;
        };
        let mut cells: Vec<(Name, Cell)> = Vec::new();
        for (k, v) in pairs {
            let Some(column) = cx.text(k, "a column name") else {
                continue;
            };
            if let Some((first, _)) = cells.iter().find(|(c, _)| c.value == column.value) {
                cx.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        format!("duplicate column `{}`", column.value),
                    )
                    .at(column.span, "written again here")
                    .with_secondary(first.span, "first written here")
                    .with_help("give each column once per row"),
                );
                continue;
            }
            let value = match &v.kind {
                NodeKind::Null => Value::Null,
                NodeKind::Str(s) => Value::Text(s.clone()),
                // The written text keeps `1e-3` and `007` as typed; a value
                // reached through an alias (`*rows`) has the alias's text.
                NodeKind::Int(i) => {
                    Value::Number(*i as f64, number_text(cx.raw(v), &i.to_string()))
                }
                NodeKind::Float(x) => Value::Number(*x, number_text(cx.raw(v), &x.to_string())),
                NodeKind::Bool(b) => Value::Bool(*b),
                NodeKind::Map(_) | NodeKind::Seq(_) => {
                    cx.report(
                        Diagnostic::new(
                            Code::InvalidFixtureValue,
                            format!("the value of `{}` must be a single value", column.value),
                        )
                        .at(v.span, format!("found {}", v.shape()))
                        .with_help("write a number, text, a time, `true`/`false` or `null`"),
                    );
                    continue;
                }
            };
            cells.push((
                column,
                Cell {
                    value,
                    span: v.span,
                },
            ));
        }
        out.push(Row {
            span: item.span,
            cells,
        });
    }
    out
}

fn number_text(raw: &str, value: &str) -> String {
    if raw.trim().parse::<f64>().is_ok() {
        raw.trim().to_string()
    } else {
        value.to_string()
    }
}

/// Parses CSV text into rows: the first record names the columns, an empty
/// cell is null. Spans point at each cell in the file.
pub fn csv_rows(file: FileId, text: &str, diags: &mut Diagnostics) -> Vec<Row> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut header: Vec<Name> = Vec::new();
    let mut out = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let start = reader.position().byte() as usize;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = e
                    .position()
                    .map_or(start, |p| p.byte() as usize)
                    .min(text.len());
                diags.push(
                    Diagnostic::new(Code::InvalidFixtureValue, "malformed CSV")
                        .at(Span::new(file, at, (at + 1).min(text.len())), e.to_string())
                        .with_help("fix the quoting on this line"),
                );
                break;
            }
        }
        let start = record.position().map_or(start, |p| p.byte() as usize);
        let spans: Vec<Span> = field_spans(text, start, record.len())
            .into_iter()
            .map(|(s, e)| Span::new(file, s, e))
            .collect();
        let values: Vec<String> = record
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        if header.is_empty() {
            header = values
                .iter()
                .zip(&spans)
                .map(|(v, s)| Spanned::new(v.trim().trim_start_matches('\u{feff}').to_string(), *s))
                .collect();
            for (i, h) in header.iter().enumerate() {
                if h.value.is_empty() {
                    diags.push(
                        Diagnostic::new(Code::InvalidFixtureValue, "a CSV header cell is empty")
                            .at(h.span, "every column needs a name")
                            .with_help("name the column after the source's column"),
                    );
                } else if let Some(first) = header[..i].iter().find(|x| x.value == h.value) {
                    diags.push(
                        Diagnostic::new(
                            Code::InvalidFixtureValue,
                            format!("duplicate column `{}`", h.value),
                        )
                        .at(h.span, "named again here")
                        .with_secondary(first.span, "first named here")
                        .with_help("give each column once"),
                    );
                }
            }
            continue;
        }
        let row_span = match (spans.first(), spans.last()) {
            (Some(a), Some(b)) => a.to(*b),
            _ => Span::new(file, start, start),
        };
        if values.len() == 1 && values[0].trim().is_empty() {
            continue;
        }
        if values.len() != header.len() {
            diags.push(
                Diagnostic::new(
                    Code::InvalidFixtureValue,
                    format!(
                        "this row has {} cells, the header {}",
                        values.len(),
                        header.len()
                    ),
                )
                .at(row_span, "one cell per header column expected")
                .with_help("add or remove cells; an empty cell is null"),
            );
            continue;
        }
        let cells = header
            .iter()
            .zip(values.into_iter().zip(spans))
            .map(|(h, (v, span))| {
                let value = if v.is_empty() {
                    Value::Null
                } else {
                    Value::Text(v)
                };
                (h.clone(), Cell { value, span })
            })
            .collect();
        out.push(Row {
            span: row_span,
            cells,
        });
    }
    if header.is_empty() {
        diags.push(
            Diagnostic::new(Code::InvalidFixtureValue, "the CSV fixture is empty")
                .at(Span::new(file, 0, 0), "no header line")
                .with_help(
                    "the first line names the columns; an empty source is `name: []` in the test",
                ),
        );
    }
    out
}

/// The byte ranges of the `n` fields of the CSV record starting at `start`,
/// quotes included, found by scanning the raw text (the parser's own ranges
/// are of unescaped values).
fn field_spans(text: &str, start: usize, n: usize) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(n);
    let mut i = start.min(bytes.len());
    let mut field_start = i;
    let mut quoted = false;
    while i < bytes.len() && out.len() < n {
        match bytes[i] {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push((field_start, i));
                field_start = i + 1;
            }
            b'\n' | b'\r' if !quoted => break,
            _ => {}
        }
        i += 1;
    }
    if out.len() < n {
        out.push((field_start, i));
    }
    while out.len() < n {
        out.push((i, i));
    }
    out
}
