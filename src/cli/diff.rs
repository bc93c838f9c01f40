//! `metricc diff`: what a change to the definitions does to the numbers.

use super::ExitStatus;
use super::request::{GrainArg, internal};
use crate::diagnostics::render::{self, Format, Style};
use crate::diff::{self, Versions, defs::Status, render::Exceeded, render::Report};
use crate::engine::{self, Engine};
use crate::semantic::query::{Request, Word};
use crate::syntax::ast::Grain;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version to compare against: a git revision of the repository
    /// holding the project (`main`, `HEAD~1`, `origin/main`), or a project
    /// directory.
    pub base: String,
    /// The version to compare: a revision, or a project directory when BASE
    /// is one. Default: the project as it is on disk (the working tree).
    pub head: Option<String>,
    /// Project directory (holding `metricc.yaml`). Its data is what both
    /// versions are computed over.
    #[arg(short, long)]
    pub project: Option<PathBuf>,
    /// Time buckets, in the project's time zone; one total per metric when absent.
    #[arg(long, value_enum)]
    pub by: Option<GrainArg>,
    /// Start of the range, inclusive (the head's `default_range` when absent).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range, exclusive (the head's `default_range` when absent).
    #[arg(long)]
    pub to: Option<String>,
    /// Break down by these dimensions (comma-separated), in both versions.
    #[arg(long, value_delimiter = ',')]
    pub group_by: Vec<String>,
    /// Report format: for a terminal, Markdown for a pull request's comment
    /// or `$GITHUB_STEP_SUMMARY`, or JSON.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
    /// Write the report to this file (replaced atomically) instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Exit 1 when any metric's value changed.
    #[arg(long)]
    pub fail_on_change: bool,
    /// Exit 1 when a metric's value changed by more than this share in any
    /// bucket (`5%`); a metric's own limit in the base's `diff.metrics`
    /// wins over it, and it wins over the base's `diff.max_change`.
    #[arg(long, value_parser = parse_share, value_name = "SHARE")]
    pub max_change: Option<f64>,
    /// Compare the definitions only; compute no numbers.
    #[arg(long)]
    pub definitions_only: bool,
    /// Threads for the query engine. Default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub read: super::ReadArgs,
}

/// `diff` report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Human,
    Markdown,
    Json,
}

/// Parses `5%`, `0.5%` or `0.05` into a fraction.
fn parse_share(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a share; write e.g. `5%`"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` is not a share of zero or more"))
    }
}

pub fn diff(args: &Args) -> ExitStatus {
    let versions = Versions {
        base: args.base.clone(),
        head: args.head.clone(),
        project: super::project_dir(&args.project),
        allowed: args.read.allow_read.clone(),
    };
    let (base, head) = match diff::load(&versions) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::Usage;
        }
    };
    // Neither version's files may be replaced by the report (a base
    // directory's own files included).
    let in_base_dir = |path: &std::path::Path| {
        std::path::Path::new(&args.base).is_dir()
            && std::fs::canonicalize(
                path.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new(".")),
            )
            .ok()
            .zip(std::fs::canonicalize(&args.base).ok())
            .is_some_and(|(dir, base)| dir.starts_with(base))
    };
    if let Some(path) = &args.output
        && (super::output::is_project_file(&head.checked, path) || in_base_dir(path))
    {
        eprintln!(
            "error: `{}` is a file of the project; write the report elsewhere",
            path.display()
        );
        return ExitStatus::Usage;
    }
    let mut notes: Vec<String> = base.notes.iter().chain(&head.notes).cloned().collect();
    let style = Style {
        color: false,
        unicode: true,
    };
    let rendered = |v: &diff::Version, diags: &[crate::diagnostics::Diagnostic]| {
        render::render(diags, &v.checked.sources, Format::Human, style)
    };
    // A base without the project (a pull request that adds it) is an
    // empty project: every metric of the head is added.
    let base_absent = base
        .checked
        .diagnostics
        .iter()
        .any(|d| d.code == crate::diagnostics::Code::ProjectFileMissing);
    let mut problems = Vec::new();
    for v in [&base, &head] {
        if v.model().is_none() && !(base_absent && std::ptr::eq(v, &base)) {
            problems.push((v.label.clone(), rendered(v, &v.errors())));
        }
    }
    if base_absent {
        notes.push(format!(
            "{} has no project here: every metric is new",
            base.label
        ));
    }
    let defs = match (base.model(), head.model()) {
        (Some(b), Some(h)) => Some(diff::defs::compare((&base.checked, b), (&head.checked, h))),
        (None, Some(h)) if base_absent => Some(diff::defs::all_added((&head.checked, h))),
        _ => None,
    };
    // One range for both: the command line's, else the head's default.
    let head_project = head.model().map(|m| &m.project);
    let from = args.from.clone().or_else(|| {
        head_project
            .and_then(|p| p.default_from)
            .map(|d| d.to_string())
    });
    let to = args.to.clone().or_else(|| {
        head_project
            .and_then(|p| p.default_to)
            .map(|d| d.to_string())
    });
    let request = Request {
        metrics: Vec::new(),
        grain: args.by.map(Grain::from),
        from: from.as_ref().map(Word::typed),
        to: to.as_ref().map(Word::typed),
        group_by: args.group_by.iter().map(Word::typed).collect(),
        span: None,
    };
    let mut query = match args.by {
        Some(g) => format!("by {}", Grain::from(g).as_str()),
        None => "totals".to_string(),
    };
    match (&from, &to) {
        (Some(f), Some(t)) => query.push_str(&format!(", {f} to {t}")),
        (Some(f), None) => query.push_str(&format!(", from {f}")),
        (None, Some(t)) => query.push_str(&format!(", to {t}")),
        (None, None) => query.push_str(", all time"),
    }
    if !args.group_by.is_empty() {
        query.push_str(&format!(", by {}", args.group_by.join(", ")));
    }
    let mut series = Vec::new();
    let mut computed_together = None;
    // Whether a version's numbers could not be computed (its label).
    let mut not_computed: Vec<String> = Vec::new();
    if let Some(d) = &defs
        && !args.definitions_only
        && d.metrics.iter().any(|e| e.status.computes())
    {
        let engine = match Engine::new(&engine::Options {
            threads: args.threads,
            ..Default::default()
        }) {
            Ok(e) => e,
            Err(e) => return internal(format!("could not start the query engine: {e}")),
        };
        match diff::numbers(&engine, &base, &head, d, &request) {
            Ok(c) => {
                computed_together = Some(c.together);
                series = c.series;
                for (label, diags) in c.failed {
                    let v = if label == base.label { &base } else { &head };
                    not_computed.push(label.clone());
                    problems.push((label, rendered(v, &diags)));
                }
                notes.extend(c.notes);
            }
            Err(e) => return internal(e),
        }
    }
    // Limits come from the base: a pull request cannot loosen its own gate.
    let mut exceeded = Vec::new();
    for s in &series {
        let largest = s.rows.iter().map(|r| r.relative_size()).fold(0.0, f64::max);
        if args.fail_on_change && s.summary().changed > 0 {
            exceeded.push(Exceeded {
                metric: s.metric.clone(),
                limit: None,
                largest,
            });
            continue;
        }
        // A metric added or removed has no change to measure; `--fail-on-change`
        // (above) is the gate for those. Limits are the base's, under the
        // base's name of a renamed metric.
        let entry = defs
            .as_ref()
            .and_then(|d| d.metrics.iter().find(|e| e.name == s.metric));
        let base_name = match entry.map(|e| &e.status) {
            Some(Status::Added | Status::Removed) => continue,
            Some(Status::Renamed { from, .. }) => from.as_str(),
            _ => s.metric.as_str(),
        };
        if let Some(limit) = diff::limit(base.model(), args.max_change, base_name)
            && largest > limit
        {
            exceeded.push(Exceeded {
                metric: s.metric.clone(),
                limit: Some(limit),
                largest,
            });
        }
    }
    exceeded.dedup_by(|a, b| a.metric == b.metric);
    match computed_together {
        _ if !not_computed.is_empty() => notes.push(format!(
            "the numbers of {} could not be computed (below)",
            not_computed.join(" and ")
        )),
        Some(true) => notes.push(
            "both versions were computed in one query: the sources they share were scanned once"
                .into(),
        ),
        Some(false) => notes.push(
            "each version was computed in a query of its own (their time settings differ, or their metrics do not fit one query)"
                .into(),
        ),
        None => {}
    }
    let report = Report {
        base: &base.label,
        head: &head.label,
        query,
        defs: defs.as_ref(),
        series: &series,
        problems,
        exceeded,
        notes,
    };
    let text = match args.format {
        DiffFormat::Human => diff::render::human(&report),
        DiffFormat::Markdown => diff::render::markdown(&report),
        DiffFormat::Json => diff::render::json(&report),
    };
    match &args.output {
        None => super::output::print(text.as_bytes()),
        Some(path) => {
            if let Err(e) = super::output::write_output(path, text.as_bytes()) {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return ExitStatus::Findings;
            }
        }
    }
    // The head must check and compute; a base that does not is reported,
    // and fails the run only where a gate needs its numbers.
    let gated = args.fail_on_change
        || args.max_change.is_some()
        || base.model().is_some_and(|m| {
            m.project.max_change.is_some() || !m.project.max_change_by_metric.is_empty()
        });
    let head_failed = not_computed.contains(&head.label);
    let base_failed =
        not_computed.contains(&base.label) || (base.model().is_none() && !base_absent);
    if head.model().is_none()
        || head_failed
        || (gated && base_failed)
        || !report.exceeded.is_empty()
    {
        ExitStatus::Findings
    } else {
        ExitStatus::Ok
    }
}
