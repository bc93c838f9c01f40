//! `metricc check`: read, parse and resolve a project; print diagnostics.

use super::{Color, ExitStatus, project_dir};
use crate::diagnostics::render::{self, Format, Style};
use crate::driver;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory (holding `metricc.yaml`) or the project file itself.
    /// Defaults to the current directory.
    pub project: Option<PathBuf>,
    /// The project, as for `run`; the positional argument wins.
    #[arg(short = 'p', long = "project", value_name = "PROJECT")]
    pub project_flag: Option<PathBuf>,
    #[command(flatten)]
    pub read: super::ReadArgs,
    /// Output format: annotated snippets, one JSON document, or GitHub Actions
    /// annotations.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Leave the test files (`*.test.yaml`) unread. By default `check` reads
    /// them and reports what is wrong with their shape.
    #[arg(long)]
    pub no_tests: bool,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// When to use colors in human output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

pub fn check(args: &Args) -> ExitStatus {
    let started = std::time::Instant::now();
    let project = args.project.clone().or_else(|| args.project_flag.clone());
    let mut checked = driver::check_allowing(&project_dir(&project), &args.read.allow_read);
    let test_files = if args.no_tests {
        0
    } else {
        driver::check_tests(&mut checked)
    };
    let tests = match test_files {
        0 => String::new(),
        1 => ", 1 test file".to_string(),
        n => format!(", {n} test files"),
    };
    let stdout = std::io::stdout();
    let style = Style {
        color: args.color.enabled(stdout.is_terminal()),
        unicode: true,
    };
    let text = render::render(&checked.diagnostics, &checked.sources, args.format, style);
    let mut out = stdout.lock();
    let _ = out.write_all(text.as_bytes());
    let errors = checked.errors();
    let warnings = checked.diagnostics.len() - errors;
    if args.format == Format::Human {
        let summary = match &checked.model {
            Some(m) if checked.diagnostics.is_empty() => format!(
                "ok: {} metrics, {} sources{tests} checked in {} ms",
                m.metrics.len(),
                m.sources.len(),
                started.elapsed().as_millis()
            ),
            Some(m) => format!(
                "{} metrics checked: {}",
                m.metrics.len(),
                render::summary(&checked.diagnostics)
            ),
            None => format!("check failed: {}", render::summary(&checked.diagnostics)),
        };
        let _ = writeln!(out, "{summary}");
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        ExitStatus::Findings
    } else {
        ExitStatus::Ok
    }
}
