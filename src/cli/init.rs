//! `metricc init`: scaffold a project from Parquet files.

use super::ExitStatus;
use crate::engine::{Engine, Options};
use crate::scaffold::{self, Role};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project directory to create (or fill). Default: the current
    /// directory. Nothing in it is overwritten.
    pub dir: Option<PathBuf>,
    /// A Parquet file, or a directory of them, to make sources from
    /// (repeatable). In a directory each file is a table, unless all share
    /// one schema (parts of one table); each subdirectory is a table.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub from: Vec<PathBuf>,
    /// Copy files outside the project directory into its `data/`; without
    /// it such files are refused, since a project reads nothing outside
    /// its directory.
    #[arg(long)]
    pub copy: bool,
}

pub fn init(args: &Args) -> ExitStatus {
    let dir = super::project_dir(&args.dir);
    let fail = |what: String| {
        eprintln!("error: {what}");
        eprintln!("  = nothing was written");
        ExitStatus::Findings
    };
    let engine = match Engine::new(&Options::default()) {
        Ok(e) => e,
        Err(e) => return super::request::internal(format!("cannot start the engine: {e}")),
    };
    let plan = match scaffold::plan(&dir, &args.from, args.copy, &engine) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let made = chrono::Local::now().format("%Y-%m-%d").to_string();
    let files = plan.files(&made);
    // Nothing a user had is overwritten: every target must be new.
    let mut targets: Vec<PathBuf> = files.iter().map(|(p, _)| dir.join(p)).collect();
    for t in &plan.tables {
        if t.copy_from.is_some() {
            targets.push(dir.join(&t.written));
        }
    }
    if let Some(taken) = targets.iter().find(|p| p.exists()) {
        return fail(format!(
            "`{}` already exists; pick an empty directory, or move it away",
            taken.display()
        ));
    }
    for t in &plan.tables {
        if let Some(from) = &t.copy_from
            && let Err(e) = copy(from, &t.files, &dir.join(&t.written))
        {
            return fail(format!("cannot copy `{}`: {e}", from.display()));
        }
    }
    for (path, text) in &files {
        let path = dir.join(path);
        let made = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| super::output::write_output(&path, text.as_bytes()));
        if let Err(e) = made {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return ExitStatus::Findings;
        }
    }
    let count = |f: fn(&Role) -> bool| plan.tables.iter().filter(|t| f(&t.role)).count();
    let sources = count(|r| matches!(r, Role::Source { .. }));
    let entities = count(|r| matches!(r, Role::Entity { .. }));
    let skipped = count(|r| matches!(r, Role::Skipped(_)));
    eprintln!(
        "made project `{}` in {}: {sources} source{}, {entities} entit{}{}; its guesses are marked `guessed`",
        plan.name,
        dir.display(),
        if sources == 1 { "" } else { "s" },
        if entities == 1 { "y" } else { "ies" },
        if skipped > 0 {
            format!(", {skipped} table(s) left out (see sources.yaml)")
        } else {
            String::new()
        },
    );
    eprintln!(
        "next: metricc check {0} && metricc test {0} && metricc run -p {0}",
        dir.display()
    );
    ExitStatus::Ok
}

/// Copies a table's `files`, found at `from` (a file, or a directory they
/// are below), to `to`, keeping their places below the directory.
fn copy(from: &Path, files: &[PathBuf], to: &Path) -> std::io::Result<()> {
    for f in files {
        let target = match f.strip_prefix(from) {
            Ok(rel) if !rel.as_os_str().is_empty() => to.join(rel),
            _ => to.to_path_buf(),
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(f, &target)?;
    }
    Ok(())
}
