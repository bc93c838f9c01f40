//! The command line: argument definitions and exit statuses. Each subcommand is
//! a module named after it with a function of the same name.

pub mod check;
pub mod completions;
pub mod diff;
#[cfg(feature = "distributed")]
pub mod executor;
pub mod explain;
pub mod init;
pub mod output;
pub mod report;
pub mod request;
pub mod run;
pub mod sample_data;
#[cfg(feature = "distributed")]
pub mod scheduler;
pub mod schema;
pub mod test;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// metricc: metrics as code. Check metric definitions like a type checker,
/// compute them over Parquet with DataFusion.
#[derive(Debug, Parser)]
#[command(name = "metricc", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a project: parse every file, resolve names and types against the
    /// Parquet schemas (footers only), and report every problem.
    Check(check::Args),
    /// Compute metrics over the project's Parquet data: by time bucket in the
    /// project's time zone, over a half-open range, optionally broken down.
    Run(run::Args),
    /// Draw metrics as one self-contained HTML page: a chart per metric
    /// over the buckets (by week unless `--by`), funnels as bars, retention
    /// as a heatmap, cohorts as curves, each with its numbers.
    Report(report::Args),
    /// Explain metrics: their meaning in words (source, filter, time zone,
    /// buckets, range), then the DataFusion plans, or SQL with `--sql`.
    Explain(explain::Args),
    /// What a change to the definitions does to the numbers: compare a git
    /// revision (or a project directory) with the working tree or another
    /// revision, by meaning, and compute the changed and affected metrics in
    /// both versions over the same data.
    Diff(diff::Args),
    /// Run the project's metric unit tests (`*.test.yaml`): fixtures in,
    /// expected tables out, in process; exit 1 on any failure.
    Test(test::Args),
    /// Scaffold a project from Parquet files: a source per table with its
    /// time and entity columns guessed (and said so), a first metric per
    /// source, and a test that passes.
    Init(init::Args),
    /// Print the JSON Schema of a kind of project file, for editors that
    /// complete and check YAML (see docs/EDITORS.md).
    Schema(schema::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    /// for `metricc`; see `metricc completions --help` for where to put it.
    Completions(completions::Args),
    /// Serve as an Apache DataFusion Ballista scheduler that plans with
    /// metricc's rules, for `run --cluster df://HOST:PORT`
    /// (docs/DISTRIBUTED.md).
    #[cfg(feature = "distributed")]
    Scheduler(scheduler::Args),
    /// Serve as an Apache DataFusion Ballista executor that computes
    /// metricc's functions, for a `metricc scheduler` (docs/DISTRIBUTED.md).
    #[cfg(feature = "distributed")]
    Executor(executor::Args),
    /// Generate the example's sample data: deterministic Parquet files for every
    /// source of the API-product catalog.
    SampleData(sample_data::Args),
}

/// How `metricc` exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success: no errors (and no warnings under `--deny-warnings`).
    Ok = 0,
    /// The project has errors (or warnings under `--deny-warnings`).
    Findings = 1,
    /// The command line was wrong.
    Usage = 2,
    /// metricc itself failed: a bug, please report it.
    Internal = 101,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}

/// When to color human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// Color when printing to a terminal and `NO_COLOR` is unset.
    Auto,
    Always,
    Never,
}

impl Color {
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

/// Where a project's files may read, shared by the commands that read one.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// Also read below this directory (repeatable). Paths in the project
    /// may not leave the project directory otherwise; see docs/RUNNING.md,
    /// "Untrusted pull requests".
    #[arg(long, value_name = "DIR")]
    pub allow_read: Vec<PathBuf>,
}

/// The project argument shared by the commands.
pub fn project_dir(p: &Option<PathBuf>) -> PathBuf {
    p.clone().unwrap_or_else(|| PathBuf::from("."))
}
