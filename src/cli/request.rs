//! What `run` and `explain` share: the query options, mapped onto a
//! [`Request`] that `semantic::query` checks against the project.

use super::{Color, ExitStatus, project_dir};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::render::{self, Format, Style};
use crate::driver::{self, Checked};
use crate::engine::Failure;
use crate::semantic::model::Model;
use crate::semantic::query::{self, Query, Request, Word};
use crate::syntax::ast::Grain;
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
    #[command(flatten)]
    pub read: super::ReadArgs,
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

    /// E0306 when `output` is a file of the project (a definition, data or
    /// test file), which writing `what` there would destroy.
    pub fn refuse_project_file(
        &self,
        color: Color,
        output: Option<&std::path::Path>,
        what: &str,
    ) -> Result<(), ExitStatus> {
        match output {
            Some(path) if super::output::is_project_file(&self.checked, path) => Err(self.report(
                color,
                Diagnostic::new(
                    crate::diagnostics::Code::OutputUnwritable,
                    format!("`{}` is a file of the project", path.display()),
                )
                .with_help(format!(
                    "write the {what} elsewhere: `-o` would replace a definition, data or test file"
                )),
            )),
            _ => Ok(()),
        }
    }

    /// Writes `bytes` to `path` (atomically); a failure is E0306 over
    /// the project's files.
    pub fn write(
        &self,
        color: Color,
        path: &std::path::Path,
        bytes: &[u8],
    ) -> Result<(), ExitStatus> {
        super::output::write_output(path, bytes).map_err(|e| {
            self.report(
                color,
                Diagnostic::new(
                    crate::diagnostics::Code::OutputUnwritable,
                    format!("cannot write `{}`", path.display()),
                )
                .with_help(format!(
                    "{e}; nothing was changed there — pick a writable path"
                )),
            )
        })
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
    let checked = driver::check_allowing(&project_dir(&args.project), &args.read.allow_read);
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
    match query::resolve(&request(args, metrics), &model) {
        Ok(r) => Ok(Prepared {
            checked,
            model,
            query: r.query,
            range_origin: r.range_origin,
            notes: r.notes,
        }),
        Err(diags) => Err(fail(&diags, &checked)),
    }
}

/// The request `args` and `metrics` make: words typed on the command line.
pub fn request(args: &QueryArgs, metrics: &[String]) -> Request {
    Request {
        metrics: metrics.iter().map(Word::typed).collect(),
        grain: args.by.map(Grain::from),
        from: args.from.as_ref().map(Word::typed),
        to: args.to.as_ref().map(Word::typed),
        group_by: args.group_by.iter().map(Word::typed).collect(),
        span: None,
    }
}
