//! `metricc test`: the project's metric unit tests (docs/TESTING.md), run in
//! process on DataFusion; a line per test, the differences of each failure,
//! a summary, and optionally a JUnit XML report.

use super::output::write_output;
use super::{Color, ExitStatus};
use crate::diagnostics::render::{self, Format, Style};
use crate::driver;
use crate::engine::{self, Engine};
use crate::testing::{self, Outcome, Status, junit};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory (holding `metricc.yaml`) or the project file itself.
    /// Defaults to the current directory (or `--project`).
    pub project: Option<PathBuf>,
    /// The project, as for `run`; the positional argument wins.
    #[arg(short = 'p', long = "project", value_name = "PROJECT")]
    pub project_flag: Option<PathBuf>,
    #[command(flatten)]
    pub read: super::ReadArgs,
    /// Run only the tests whose name contains this text.
    #[arg(long, value_name = "NAME")]
    pub filter: Option<String>,
    /// Report format: lines for people, or JUnit XML for CI systems (to
    /// `--output`, or stdout with the lines on stderr).
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
    /// Write the JUnit report to this file; it is replaced once every test has run.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Threads for the query engine. Default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// When to use colors.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    Human,
    Junit,
}

pub fn test(args: &Args) -> ExitStatus {
    let started = std::time::Instant::now();
    if args.output.is_some() && args.format != TestFormat::Junit {
        eprintln!("error: `--output` writes the JUnit report; add `--format junit`");
        return ExitStatus::Usage;
    }
    let dir = args
        .project
        .clone()
        .or_else(|| args.project_flag.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    let checked = driver::check_allowing(&dir, &args.read.allow_read);
    if let Some(path) = &args.output
        && super::output::is_project_file(&checked, path)
    {
        eprintln!(
            "error[E0306]: `{}` is a file of the project; write the report elsewhere",
            path.display()
        );
        return ExitStatus::Usage;
    }
    let junit_to_stdout = args.format == TestFormat::Junit && args.output.is_none();
    // The lines for people: stdout, unless the XML goes there.
    let mut lines: Box<dyn Write> = if junit_to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let style = Style {
        color: args.color.enabled(if junit_to_stdout {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        }),
        unicode: true,
    };
    let Some(model) = checked.model.clone() else {
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        let _ = write!(
            lines,
            "{}",
            render::render(&errors, &checked.sources, Format::Human, style)
        );
        let _ = writeln!(
            lines,
            "error: the project does not check ({}); no test was run",
            render::summary(&errors)
        );
        return ExitStatus::Findings;
    };
    let project_dir = checked.dir.clone();
    let mut sources = checked.sources.clone();
    let mut file_diags = Vec::new();
    let cases = testing::load(&checked.fence, &project_dir, &mut sources, &mut file_diags);
    if !file_diags.is_empty() {
        let _ = write!(
            lines,
            "{}",
            render::render(&file_diags, &sources, Format::Human, style)
        );
    }
    let total = cases.len();
    let selected: Vec<_> = cases
        .iter()
        .filter(|(_, c)| {
            // A file that cannot be read is reported whatever the filter.
            c.whole_file
                || args
                    .filter
                    .as_ref()
                    .is_none_or(|f| c.name.value.contains(f.as_str()))
        })
        .collect();
    let engine = match Engine::new(&engine::Options {
        threads: args.threads,
        memory_limit: None,
        ..Default::default()
    }) {
        Ok(e) => e,
        Err(e) => {
            let d = engine::data_error(None, e);
            let _ = write!(
                lines,
                "{}",
                render::render(&[d], &sources, Format::Human, style)
            );
            return ExitStatus::Findings;
        }
    };
    let _ = writeln!(
        lines,
        "running {} test{} from {}",
        selected.len(),
        if selected.len() == 1 { "" } else { "s" },
        project_dir.display()
    );
    let mut runner = testing::Runner::new(&checked, &model, engine);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for (file, case) in &selected {
        let o = runner.run(*file, case);
        let tag = match &o.status {
            Status::Passed => paint(style.color, "32", "ok   "),
            Status::Failed(..) => paint(style.color, "31", "FAIL "),
            Status::Error(_) => paint(style.color, "31", "ERROR"),
        };
        let _ = writeln!(lines, "{tag} {} ({} ms)", o.name, o.elapsed.as_millis());
        outcomes.push(o);
    }
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !matches!(o.status, Status::Passed))
        .collect();
    for o in &failed {
        let (file, line, col) = render::location(&sources, o.span);
        let _ = writeln!(lines);
        let what = if matches!(o.status, Status::Error(_)) {
            "ERROR"
        } else {
            "FAIL"
        };
        let _ = writeln!(lines, "{what} {} ({file}:{line}:{col})", o.name);
        if let Some(d) = &o.description {
            let _ = writeln!(lines, "     {d}");
        }
        match &o.status {
            Status::Failed(summary, diff) => {
                let _ = writeln!(lines, "  {summary}:");
                for l in diff {
                    let _ = writeln!(lines, "  {l}");
                }
            }
            Status::Error(diags) => {
                let _ = write!(
                    lines,
                    "{}",
                    render::render(diags, &sources, Format::Human, style)
                );
            }
            Status::Passed => {}
        }
    }
    let passed = outcomes.len() - failed.len();
    let errors = failed
        .iter()
        .filter(|o| matches!(o.status, Status::Error(_)))
        .count();
    let filtered = total - selected.len();
    let mut summary = format!("{passed} passed, {} failed", failed.len());
    if errors > 0 {
        summary.push_str(&format!(" ({errors} could not run)"));
    }
    if filtered > 0 {
        summary.push_str(&format!(", {filtered} filtered out"));
    }
    let ok = failed.is_empty() && file_diags.iter().all(|d| !d.is_error());
    let _ = writeln!(lines);
    let _ = writeln!(
        lines,
        "test result: {}. {summary}; {:.2} s",
        if ok {
            paint(style.color, "32", "ok")
        } else {
            paint(style.color, "31", "FAILED")
        },
        started.elapsed().as_secs_f64()
    );
    if total == 0 {
        let _ = writeln!(
            lines,
            "note: no test files below {} (tests are in files named `*.test.yaml`, see docs/TESTING.md)",
            project_dir.display()
        );
    }
    if args.format == TestFormat::Junit {
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        let xml = junit::report(&model.project.name, &outcomes, &sources, &stamp);
        match &args.output {
            Some(path) => {
                if let Err(e) = write_output(path, xml.as_bytes()) {
                    let _ = writeln!(
                        lines,
                        "error[E0306]: cannot write `{}`: {e}; nothing was changed there",
                        path.display()
                    );
                    return ExitStatus::Findings;
                }
            }
            None => super::output::print(xml.as_bytes()),
        }
    }
    if ok {
        ExitStatus::Ok
    } else {
        ExitStatus::Findings
    }
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}
