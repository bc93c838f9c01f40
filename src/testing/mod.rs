//! Metric unit tests (`metricc test`, see docs/TESTING.md): test files ->
//! [`spec::TestCase`]s -> in-memory tables -> the same planner and engine as
//! `run` -> expected rows compared with the result ([`compare`]).

pub mod compare;
pub mod junit;
pub mod spec;
pub mod values;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, suggestion_help};
use crate::driver::{self, Checked};
use crate::engine::{Engine, Failure};
use crate::fence::Fence;
use crate::lower::{self, Table};
use crate::semantic::model::Model;
use crate::semantic::query::{self, Request, Word};
use crate::source::SourceSet;
use crate::span::{FileId, Span};
use spec::TestCase;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The tolerance for numbers when a test gives none.
pub const DEFAULT_TOLERANCE: f64 = 1e-9;

/// How one test ended.
#[derive(Debug, Clone)]
pub enum Status {
    Passed,
    /// The result differs: a one-line summary, and the lines saying how.
    Failed(String, Vec<String>),
    /// The test could not run: diagnostics on the test file (or the project).
    Error(Diagnostics),
}

/// One test's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub description: Option<String>,
    pub file: FileId,
    pub span: Span,
    pub status: Status,
    pub elapsed: Duration,
}

/// The test files of a project: every `*.test.yaml` below its directory,
/// found by [`crate::source::walk`], in path order (none when the directory
/// holds more entries than a walk visits).
pub fn files(dir: &Path) -> Vec<PathBuf> {
    crate::source::walk(dir, &crate::source::is_test_file).unwrap_or_default()
}

/// Every test of the project, read into `sources`. Problems of a test are
/// kept with it; problems of a whole file go to `diags`. Test files and
/// their CSV fixtures are held to `fence`.
pub fn load(
    fence: &Fence,
    dir: &Path,
    sources: &mut SourceSet,
    diags: &mut Diagnostics,
) -> Vec<(FileId, TestCase)> {
    let mut cases = Vec::new();
    for path in files(dir) {
        if let Err(why) = fence.found(&path) {
            diags.push(Diagnostic::new(Code::PathOutsideProject, why).with_help(fence.help()));
            continue;
        }
        let (id, read) = sources.read(&path);
        if let Err(e) = read {
            let name = sources.get(id).name.clone();
            let d = Diagnostic::new(
                Code::FileUnreadable,
                format!("cannot read `{name}`: {}", crate::source::describe(&e)),
            )
            .at(Span::new(id, 0, 0), "this test file")
            .with_help("fix or remove the test file");
            cases.push((id, TestCase::unreadable(id, &name, vec![d])));
            continue;
        }
        for case in spec::read(fence, id, sources, diags) {
            cases.push((id, case));
        }
    }
    // Test names are unique in the project.
    for i in 0..cases.len() {
        let first = cases[..i]
            .iter()
            .find(|(_, c)| c.name.value == cases[i].1.name.value)
            .map(|(_, c)| c.name.span);
        if let Some(first) = first {
            let d = Diagnostic::new(
                Code::DuplicateDefinition,
                format!("two tests are named `{}`", cases[i].1.name.value),
            )
            .at(cases[i].1.name.span, "named again here")
            .with_secondary(first, "first named here")
            .with_help("rename one; `--filter` and CI reports tell tests apart by name");
            cases[i].1.problems.push(d);
        }
    }
    cases
}

/// Runs tests against a checked project. Schemas are read from the sources'
/// Parquet footers once and shared.
pub struct Runner<'a> {
    pub checked: &'a Checked,
    pub model: &'a Model,
    pub engine: Engine,
    schemas: HashMap<String, datafusion::arrow::datatypes::SchemaRef>,
}

impl<'a> Runner<'a> {
    pub fn new(checked: &'a Checked, model: &'a Model, engine: Engine) -> Self {
        Runner {
            checked,
            model,
            engine,
            schemas: HashMap::new(),
        }
    }

    /// Runs one test.
    pub fn run(&mut self, file: FileId, case: &TestCase) -> Outcome {
        let start = Instant::now();
        let status = self.status(case);
        Outcome {
            name: case.name.value.clone(),
            description: case.description.clone(),
            file,
            span: case.name.span,
            status,
            elapsed: start.elapsed(),
        }
    }

    fn status(&mut self, case: &TestCase) -> Status {
        // Problems found while reading the test; the checks below still run,
        // so one run reports every problem, but nothing is computed.
        let mut diags: Diagnostics = case
            .problems
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        if let (Some(want), Some(define)) = (&case.expect_error, case.define_span) {
            // Problems found reading `define` (a bad key, an invalid name)
            // are what checking it reports.
            let inside = |d: &Diagnostic| {
                d.span.is_some_and(|s| {
                    s.file == define.file && s.start >= define.start && s.end <= define.end
                })
            };
            let (found, other): (Diagnostics, Diagnostics) =
                diags.into_iter().partition(|d| inside(d));
            if !other.is_empty() {
                return Status::Error(other);
            }
            if !found.is_empty() {
                return expect_error(want.value, &found);
            }
            diags = Vec::new();
        }
        if !diags.is_empty() && (case.expect_error.is_some() || case.expect.is_none()) {
            return Status::Error(diags);
        }
        // `define`: the project and the extra definitions, checked together.
        let defined;
        let mut model = match &case.define {
            None => self.model,
            Some(extra) => {
                let (model, found) = driver::check_with(self.checked, extra);
                if let Some(want) = &case.expect_error {
                    return expect_error(want.value, &found);
                }
                match model {
                    Some(m) => {
                        defined = m;
                        &defined
                    }
                    None => {
                        diags.extend(found.into_iter().filter(Diagnostic::is_error));
                        return Status::Error(diags);
                    }
                }
            }
        }
        .clone();
        let Some(expect) = &case.expect else {
            return Status::Error(diags);
        };
        if let Some(tz) = &case.time_zone {
            match crate::semantic::time_zone(tz) {
                Ok(z) => model.project.time_zone = z,
                Err(d) => diags.push(d),
            }
        }
        if let Some(w) = &case.week_start {
            model.project.week_start = w.value;
        }
        let tz = model.project.time_zone;
        let Some(query) = self.query(case, &model, &mut diags) else {
            return Status::Error(diags);
        };
        let tables = self.fixtures(case, &model, &query, &mut diags);
        if !diags.is_empty() {
            return Status::Error(diags);
        }
        let computed = match self.engine.compute_on(&model, &query, &tables) {
            Ok(c) => c,
            Err(Failure::Data(d)) => {
                return Status::Error(vec![d.at(case.name.span, "while computing this test")]);
            }
            Err(Failure::Internal(e)) => {
                return Status::Error(vec![
                    Diagnostic::new(
                        Code::MetricNotComputable,
                        "metricc failed to plan this test (a bug, please report it)",
                    )
                    .at(case.name.span, "in this test")
                    .with_help(e),
                ]);
            }
        };
        // The table `expect` describes.
        let names: Vec<String> = computed
            .iter()
            .map(|t| t.metric.clone().unwrap_or_else(|| "metrics".into()))
            .collect();
        let index = match &case.table {
            Some(want) => match names.iter().position(|n| *n == want.value) {
                Some(i) => i,
                None => {
                    return Status::Error(vec![
                        Diagnostic::new(
                            Code::UnknownResultColumn,
                            format!("this test has no table `{}`", want.value),
                        )
                        .at(want.span, "not a table of this run")
                        .with_help(suggestion_help(
                            &want.value,
                            "tables",
                            names.iter().map(String::as_str),
                        )),
                    ]);
                }
            },
            None if computed.len() == 1 => 0,
            None => names.iter().position(|n| n == "metrics").unwrap_or(0),
        };
        let Some(table) = computed.get(index) else {
            return Status::Failed("the run produced no table".into(), Vec::new());
        };
        let actual = match compare::actual(&table.schema, &table.batches) {
            Ok(a) => a,
            Err(e) => return Status::Failed(format!("cannot read the result: {e}"), Vec::new()),
        };
        // The table's own keys (a funnel's step, a cohort and period), its
        // bucket column and the breakdown.
        let mut candidates: Vec<String> = table
            .metric
            .as_ref()
            .and_then(|n| model.metric(n))
            .and_then(|m| m.shape.table.as_ref())
            .map_or_else(Vec::new, |t| t.keys.clone());
        if let Some(g) = query.grain {
            let mut taken = query.group_by.clone();
            taken.extend(query.metrics.iter().cloned());
            candidates.push(lower::bucket_column(g, &taken));
        }
        candidates.extend(query.group_by.iter().cloned());
        candidates.retain(|c| !query.metrics.contains(c));
        let keys = compare::key_columns(&actual, &candidates);
        let expected = compare::read_expected(&expect.value, &actual, &keys, tz, &mut diags);
        if !diags.is_empty() {
            return Status::Error(diags);
        }
        let tolerance = case
            .tolerance
            .as_ref()
            .map_or(DEFAULT_TOLERANCE, |t| t.value);
        let mut diffs = compare::compare(&expected, &actual, &keys, tolerance);
        if !case.complete {
            diffs.retain(|d| !matches!(d, compare::Difference::Unexpected { .. }));
        }
        if diffs.is_empty() {
            Status::Passed
        } else {
            Status::Failed(compare::summary(&diffs), compare::render(&diffs))
        }
    }

    /// The query the test runs, with `run`'s checks; each problem points at
    /// the test key it comes from.
    fn query(
        &self,
        case: &TestCase,
        model: &Model,
        diags: &mut Diagnostics,
    ) -> Option<lower::Query> {
        let word = |w: &crate::span::Spanned<String>| Word {
            value: w.value.clone(),
            span: Some(w.span),
        };
        let request = Request {
            metrics: case.metrics.iter().map(word).collect(),
            grain: case.by.as_ref().map(|b| b.value),
            from: case.from.as_ref().map(word),
            to: case.to.as_ref().map(word),
            group_by: case.group_by.iter().map(word).collect(),
            span: Some(case.name.span),
        };
        match query::resolve(&request, model) {
            Ok(r) => Some(r.query),
            Err(found) => {
                diags.extend(found);
                None
            }
        }
    }

    /// The in-memory tables of the sources the query reads, from `given`.
    fn fixtures(
        &mut self,
        case: &TestCase,
        model: &Model,
        query: &lower::Query,
        diags: &mut Diagnostics,
    ) -> HashMap<String, Table> {
        let mut read: Vec<String> = Vec::new();
        for m in query.metrics.iter().filter_map(|m| model.metric(m)) {
            for s in &m.sources {
                if !read.contains(s) {
                    read.push(s.clone());
                }
            }
        }
        // The entities whose attributes the sources read have: their rows
        // may be given, and are none when they are not.
        let mut entities: Vec<&crate::semantic::model::Entity> = Vec::new();
        for e in read
            .iter()
            .filter_map(|s| model.entity_of(model.source(s)?))
        {
            if !entities.iter().any(|x| x.name == e.name) {
                entities.push(e);
            }
        }
        let given_span = case.given_span.unwrap_or(case.name.span);
        for f in &case.given {
            if read.contains(&f.source.value) || entities.iter().any(|e| e.name == f.source.value) {
                continue;
            }
            let d = if model.source(&f.source.value).is_none()
                && model.entity(&f.source.value).is_none()
            {
                Diagnostic::new(
                    Code::UnknownSource,
                    format!("no source named `{}`", f.source.value),
                )
                .at(f.source.span, "not a source of the project")
                .with_help(suggestion_help(
                    &f.source.value,
                    "sources",
                    model
                        .sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .chain(model.entities.iter().map(|e| e.name.as_str())),
                ))
            } else {
                Diagnostic::new(
                    Code::FixtureMissing,
                    format!("the test's metrics do not read source `{}`", f.source.value),
                )
                .at(
                    f.source.span,
                    "rows for a source no metric of the test reads",
                )
                .with_help(format!(
                    "remove these rows; the metrics read {}",
                    read.iter()
                        .map(|r| format!("`{r}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            };
            diags.push(d);
        }
        let mut tables = HashMap::new();
        let tz = model.project.time_zone;
        for name in &read {
            let Some(source) = model.source(name) else {
                continue;
            };
            let Some(fixture) = case.given.iter().find(|f| f.source.value == *name) else {
                diags.push(
                    Diagnostic::new(
                        Code::FixtureMissing,
                        format!("the test gives no rows for source `{name}`"),
                    )
                    .at(given_span, format!("the metrics read `{name}`"))
                    .with_help(format!(
                        "add `{name}:` with its rows under `given:`, or `{name}: []` for none"
                    )),
                );
                continue;
            };
            if let Some(t) = self.table_of(source, Some(fixture), tz, diags) {
                tables.insert(name.clone(), t);
            }
        }
        for e in entities {
            let fixture = case.given.iter().find(|f| f.source.value == e.name);
            let Some(et) = self.table_of(&e.as_source(), fixture, tz, diags) else {
                continue;
            };
            for (name, t) in tables.iter_mut() {
                if model.source(name).and_then(|s| s.linked.as_deref()) != Some(e.name.as_str()) {
                    continue;
                }
                match crate::lower::attributes::attach(t.clone(), e, &et, tz) {
                    Ok(with) => *t = with,
                    Err(err) => diags.push(crate::engine::data_error(Some(name), err)),
                }
            }
        }
        tables
    }
}

impl Runner<'_> {
    /// The in-memory table of `source` (or of an entity's table, as a
    /// source) holding the rows of `fixture`; none without one.
    fn table_of(
        &mut self,
        source: &crate::semantic::model::Source,
        fixture: Option<&spec::Fixture>,
        tz: chrono_tz::Tz,
        diags: &mut Diagnostics,
    ) -> Option<Table> {
        let name = &source.name;
        // Keyed by the files: a `define` may reuse a name for other files.
        let cache_key = format!("{name}\u{0}{:?}", source.schema.files);
        let schema = match self.schemas.get(&cache_key) {
            Some(s) => s.clone(),
            None => match self.engine.source_schema(source) {
                Ok(s) => {
                    // A column a row leaves out is null, whatever the files declare.
                    let fields: Vec<_> = s
                        .fields()
                        .iter()
                        .map(|f| f.as_ref().clone().with_nullable(true))
                        .collect();
                    let s = std::sync::Arc::new(
                        datafusion::arrow::datatypes::Schema::new_with_metadata(
                            fields,
                            s.metadata().clone(),
                        ),
                    );
                    self.schemas.insert(cache_key, s.clone());
                    s
                }
                Err(e) => {
                    diags.push(crate::engine::data_error(Some(name), e));
                    return None;
                }
            },
        };
        let batches = match fixture {
            Some(f) => vec![values::batch(f, source, &schema, tz, diags)?],
            None => Vec::new(),
        };
        match Engine::memory_table(schema, batches) {
            Ok(t) => Some(t),
            Err(e) => {
                diags.push(crate::engine::data_error(Some(name), e));
                None
            }
        }
    }
}

/// The outcome of a test that expects checking to report `want`.
fn expect_error(want: Code, diags: &Diagnostics) -> Status {
    if diags.iter().any(|d| d.code == want) {
        return Status::Passed;
    }
    let found: Vec<String> = diags
        .iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    let summary = format!("expected checking to report {want} ({})", want.name());
    if found.is_empty() {
        Status::Failed(summary, vec!["but the definitions check clean".into()])
    } else {
        let mut lines = vec!["but it reported:".to_string()];
        lines.extend(found.into_iter().map(|f| format!("  {f}")));
        Status::Failed(summary, lines)
    }
}
