//! What `run` and `explain` share: the query options, and turning them plus a
//! checked project into a `lower::Query`, with a diagnostic for every mistake.

use super::{Color, ExitStatus, project_dir};
use crate::diagnostics::render::{self, Format, Style};
use crate::diagnostics::{Code, Diagnostic, suggestion_help};
use crate::driver::{self, Checked};
use crate::engine::Failure;
use crate::lower::{self, Query, Range};
use crate::semantic::model::Model;
use crate::syntax::ast::Grain;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Options that say what to compute.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// Project directory (holding `metricc.yaml`) or the project file itself.
    #[arg(short, long)]
    pub project: Option<PathBuf>,
    /// Time buckets, in the project's time zone; one total per metric when absent.
    #[arg(long, value_enum)]
    pub by: Option<GrainArg>,
    /// Start of the range, inclusive, local time: `2026-01-05` or `2026-01-05T08:00`.
    /// Defaults to the project's `default_range`.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range, exclusive, local time. Defaults to the project's `default_range`.
    #[arg(long)]
    pub to: Option<String>,
    /// Break down by these dimensions (comma-separated); overrides each metric's `breakdown`.
    #[arg(long, value_delimiter = ',')]
    pub group_by: Vec<String>,
    /// When to use colors in diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

/// `--by` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GrainArg {
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl From<GrainArg> for Grain {
    fn from(g: GrainArg) -> Grain {
        match g {
            GrainArg::Hour => Grain::Hour,
            GrainArg::Day => Grain::Day,
            GrainArg::Week => Grain::Week,
            GrainArg::Month => Grain::Month,
            GrainArg::Quarter => Grain::Quarter,
            GrainArg::Year => Grain::Year,
        }
    }
}

/// A checked project and the query to run on it.
pub struct Prepared {
    pub checked: Checked,
    pub model: Model,
    pub query: Query,
    /// Where the range came from, for `explain`.
    pub range_origin: &'static str,
    /// Notes for stderr: metrics skipped and why.
    pub notes: Vec<String>,
}

impl Prepared {
    /// Prints a diagnostic met after checking: exit status 1.
    pub fn report(&self, color: Color, d: Diagnostic) -> ExitStatus {
        print(color, &self.checked, &[d]);
        ExitStatus::Findings
    }

    /// Reports a failed plan or run: data errors as diagnostics, planning
    /// errors as the bugs they are.
    pub fn failed(&self, color: Color, f: Failure) -> ExitStatus {
        match f {
            Failure::Data(d) => self.report(color, d),
            Failure::Internal(e) => internal(format!("failed to plan the query: {e}")),
        }
    }
}

/// Reports a bug in metricc: exit status 101.
pub fn internal(what: impl std::fmt::Display) -> ExitStatus {
    eprintln!("error: metricc {what} (a bug, please report it)");
    ExitStatus::Internal
}

/// Prints diagnostics to stderr over the project's files.
fn print(color: Color, checked: &Checked, diags: &[Diagnostic]) {
    let style = Style {
        color: color.enabled(std::io::stderr().is_terminal()),
        unicode: true,
    };
    eprint!(
        "{}",
        render::render(diags, &checked.sources, Format::Human, style)
    );
}

/// Checks the project and builds the query; on failure, prints diagnostics to
/// stderr and returns the exit status.
pub fn prepare(args: &QueryArgs, metrics: &[String]) -> Result<Prepared, ExitStatus> {
    let checked = driver::check(&project_dir(&args.project));
    let fail = |diags: &[Diagnostic], checked: &Checked| {
        print(args.color, checked, diags);
        eprintln!("error: {}", render::summary(diags));
        ExitStatus::Findings
    };
    let Some(model) = checked.model.clone() else {
        let errors: Vec<Diagnostic> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        return Err(fail(&errors, &checked));
    };
    match query(args, metrics, &model) {
        Ok((query, range_origin, notes)) => Ok(Prepared {
            checked,
            model,
            query,
            range_origin,
            notes,
        }),
        Err(diags) => Err(fail(&diags, &checked)),
    }
}

pub fn query(
    args: &QueryArgs,
    names: &[String],
    model: &Model,
) -> Result<(Query, &'static str, Vec<String>), Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut notes = Vec::new();
    let explicit = !names.is_empty();
    let mut metrics: Vec<String> = Vec::new();
    if explicit {
        for n in names {
            match model.metric(n) {
                None => diags.push(
                    Diagnostic::new(
                        Code::UnknownMetricArgument,
                        format!("no metric named `{n}`"),
                    )
                    .with_help(suggestion_help(
                        n,
                        "metrics",
                        model.metrics.iter().map(|m| m.name.as_str()),
                    )),
                ),
                Some(_) if !metrics.contains(n) => metrics.push(n.clone()),
                Some(_) => {}
            }
        }
    } else {
        metrics.extend(model.metrics.iter().map(|m| m.name.clone()));
    }

    // The breakdown: the command line's, or the one all metrics share.
    let mut group_by = args.group_by.clone();
    group_by.retain(|d| !d.trim().is_empty());
    if group_by.is_empty() {
        let mut defaults = metrics
            .iter()
            .filter_map(|n| model.metric(n))
            .map(|m| m.breakdown.clone());
        if let Some(first) = defaults.next() {
            if defaults.all(|b| b == first) {
                group_by = first;
            } else {
                notes.push("the metrics have different default breakdowns; computed without one (pass --group-by)".into());
            }
        }
    }
    if !group_by.is_empty() {
        let mut kept = Vec::new();
        let mut skipped = Vec::new();
        for n in &metrics {
            let Some(m) = model.metric(n) else { continue };
            // The first dimension some source underneath does not declare.
            let missing = group_by.iter().find_map(|d| {
                m.breakdown_sources
                    .iter()
                    .find(|s| model.source(s).is_some_and(|s| !s.dimensions.contains(d)))
                    .map(|s| (d, s))
            });
            match missing {
                None => kept.push(n.clone()),
                Some(_) if !explicit => skipped.push(n.clone()),
                Some((d, s)) => {
                    let declared: Vec<&str> = model
                        .source(s)
                        .map(|s| s.dimensions.iter().map(String::as_str).collect())
                        .unwrap_or_default();
                    let mut diag = Diagnostic::new(
                        Code::BreakdownNotPossible,
                        format!("`{n}` cannot be broken down by `{d}`"),
                    )
                    .at(
                        m.span,
                        format!("reads source `{s}`, which declares no dimension `{d}`"),
                    )
                    .with_help(suggestion_help(
                        d,
                        "dimensions",
                        declared.iter().copied(),
                    ));
                    if let Some(src) = model.source(s) {
                        diag = diag.with_secondary(src.span, "source defined here");
                    }
                    diags.push(diag);
                }
            }
        }
        if !skipped.is_empty() {
            notes.push(format!(
                "{} metrics cannot be broken down by {} and were skipped: {}",
                skipped.len(),
                group_by.join(", "),
                skipped.join(", ")
            ));
        }
        metrics = kept;
        let mut seen = Vec::new();
        for d in &group_by {
            if seen.contains(d) {
                diags.push(
                    Diagnostic::new(
                        Code::InvalidRange,
                        format!("`{d}` is given twice in --group-by"),
                    )
                    .with_help("name each dimension once"),
                );
            }
            seen.push(d.clone());
        }
        for n in &metrics {
            let columns = lower::table_columns(model, n);
            if let (Some(d), Some(m)) = (
                group_by.iter().find(|d| columns.contains(d)),
                model.metric(n),
            ) {
                diags.push(
                    Diagnostic::new(
                        Code::BreakdownNotPossible,
                        format!("`{n}` cannot be broken down by `{d}`"),
                    )
                    .at(m.span, format!("its table already has a column `{d}`"))
                    .with_help(format!(
                        "break `{n}` down by another dimension; its table's columns are {}",
                        columns
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
    }
    if metrics.is_empty() && diags.is_empty() {
        diags.push(
            Diagnostic::new(Code::MetricNotComputable, "no metric to compute")
                .with_help("name metrics that can be computed as asked (the notes above say why the others were skipped)"),
        );
    }

    // The range: command line, else the project's default.
    let parse = |flag: &str, v: &str, diags: &mut Vec<Diagnostic>| -> Option<NaiveDateTime> {
        let t = parse_local(v);
        if t.is_none() {
            diags.push(
                Diagnostic::new(
                    Code::InvalidRange,
                    format!("`--{flag} {v}` is not a date or local time"),
                )
                .with_help("write `2026-01-05` or `2026-01-05T08:00`"),
            );
        }
        t
    };
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
    let from = match &args.from {
        Some(v) => parse("from", v, &mut diags),
        None => model.project.default_from.map(midnight),
    };
    let to = match &args.to {
        Some(v) => parse("to", v, &mut diags),
        None => model.project.default_to.map(midnight),
    };
    let origin = if args.from.is_some() || args.to.is_some() {
        "from the command line"
    } else {
        "the project's `default_range`"
    };
    let range = match (from, to) {
        (Some(from), Some(to)) if from < to => Some(Range { from, to }),
        (Some(from), Some(to)) => {
            diags.push(
                Diagnostic::new(
                    Code::InvalidRange,
                    format!("the range {from} .. {to} is empty"),
                )
                .with_help(
                    "`--from` is inclusive and `--to` exclusive: `--to` must come after `--from`",
                ),
            );
            None
        }
        _ if diags.iter().any(|d| d.code == Code::InvalidRange) => None,
        _ => {
            diags.push(
                Diagnostic::new(Code::InvalidRange, "no time range")
                    .with_help("pass `--from` and `--to`, or set `default_range: { from: ..., to: ... }` in metricc.yaml"),
            );
            None
        }
    };
    match range {
        Some(range) if diags.is_empty() => Ok((
            Query {
                metrics,
                grain: args.by.map(Grain::from),
                range,
                group_by,
            },
            origin,
            notes,
        )),
        _ => Err(diags),
    }
}

/// `2026-01-05`, `2026-01-05T08:00`, `2026-01-05 08:00:30`.
pub fn parse_local(v: &str) -> Option<NaiveDateTime> {
    let v = v.trim();
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Some(d.and_time(NaiveTime::MIN));
    }
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
}
