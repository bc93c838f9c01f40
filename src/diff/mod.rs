//! `metricc diff`: what a change to the definitions does to the numbers.
//!
//! The base (a git revision, or a second project directory) and the head
//! (the working tree, or another revision) are each checked by the front
//! end; [`defs`] compares their definitions by meaning; [`values`] computes
//! the metrics whose numbers may differ in both versions over the same data
//! (always the head project directory's), range, buckets and breakdown;
//! [`render`] writes the report for a terminal, a pull-request comment
//! (Markdown) or a program (JSON).

pub mod defs;
pub mod git;
pub mod render;
pub mod values;

use crate::diagnostics::Diagnostic;
use crate::driver::{self, Checked};
use crate::engine::{Computed, Engine, Failure};
use crate::semantic::model::Model;
use crate::semantic::query::{self, Request};
use std::path::{Path, PathBuf};

/// Which two versions to compare.
#[derive(Debug, Clone)]
pub struct Versions {
    /// A git revision, or a directory holding a project.
    pub base: String,
    /// A git revision, or a directory; `None` is the project as it is on disk.
    pub head: Option<String>,
    /// The project directory (the repository's, in git mode).
    pub project: PathBuf,
    pub allowed: Vec<PathBuf>,
}

/// One version, checked.
pub struct Version {
    /// How the report names it: `HEAD~1`, `working tree`, a directory.
    pub label: String,
    pub checked: Checked,
    /// Notes on what was not read (links in git, say).
    pub notes: Vec<String>,
}

impl Version {
    pub fn model(&self) -> Option<&Model> {
        self.checked.model.as_ref()
    }

    /// Its error diagnostics.
    pub fn errors(&self) -> Vec<Diagnostic> {
        self.checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect()
    }
}

fn is_project_dir(p: &str) -> bool {
    Path::new(p).join(driver::PROJECT_FILE).is_file()
}

/// Reads and checks both versions. `Err` is a usage problem: a revision
/// that names no commit, a directory that holds no project.
pub fn load(v: &Versions) -> Result<(Version, Version), String> {
    let head_dir = match &v.head {
        Some(h) if is_project_dir(h) => PathBuf::from(h),
        _ => v.project.clone(),
    };
    if is_project_dir(&v.base) {
        // Two directories: the base's files, the head's data.
        if let Some(h) = &v.head
            && !is_project_dir(h)
        {
            return Err(format!(
                "`{}` is a project directory, so the head must be one too; `{}` is not",
                crate::fence::escape(&v.base),
                crate::fence::escape(h)
            ));
        }
        let snapshot = git::directory(Path::new(&v.base))?;
        let base = Version {
            label: snapshot.label.clone(),
            checked: driver::check_snapshot(&snapshot, &head_dir, &v.allowed),
            notes: Vec::new(),
        };
        let head = Version {
            label: crate::fence::display_name(&head_dir),
            checked: driver::check_allowing(&head_dir, &v.allowed),
            notes: Vec::new(),
        };
        return Ok((base, head));
    }
    let repo = git::Repo::open(&v.project)?;
    let version = |rev: &str| -> Result<Version, String> {
        let (snapshot, skipped) = repo.snapshot(rev)?;
        Ok(Version {
            label: rev.to_string(),
            checked: driver::check_snapshot(&snapshot, &v.project, &v.allowed),
            notes: skipped
                .iter()
                .map(|p| {
                    format!(
                        "{rev}: `{}` is a link or submodule in git and was not read",
                        crate::fence::escape(&p.display().to_string())
                    )
                })
                .collect(),
        })
    };
    let base = version(&v.base)?;
    let head = match &v.head {
        Some(rev) => version(rev)?,
        None => Version {
            label: "working tree".into(),
            checked: driver::check_allowing(&v.project, &v.allowed),
            notes: Vec::new(),
        },
    };
    Ok((base, head))
}

/// Why a version's numbers could not be computed.
enum Problem {
    /// The user's to fix: the request does not fit this version, the data
    /// cannot be read.
    User(Vec<Diagnostic>),
    /// A plan DataFusion rejects: a bug.
    Internal(String),
}

/// The numbers of `names` in one version, as the request asks.
fn compute(
    engine: &Engine,
    model: &Model,
    request: &Request,
    names: &[String],
) -> Result<Vec<Computed>, Problem> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut request = request.clone();
    request.metrics = names.iter().map(query::Word::typed).collect();
    let q = query::resolve(&request, model)
        .map_err(|d| Problem::User(d.to_vec()))?
        .query;
    engine.compute(model, &q).map_err(|f| match f {
        Failure::Data(d) => Problem::User(vec![d]),
        Failure::Internal(e) => Problem::Internal(e),
    })
}

/// Results of one version in long form, metrics named as in the head.
fn long(
    model: &Model,
    tables: &[Computed],
    names: &[String],
    rename: &dyn Fn(&str) -> String,
) -> Result<values::Long, String> {
    let own = |m: &str| {
        let shape = model.metric(m)?.shape.table.clone()?;
        Some((shape.columns, shape.keys))
    };
    values::Long::new(tables, names, &own, rename)
}

/// Both versions' numbers for the metrics `diff` says may change: the
/// series per metric, and each version's problems when it could not run.
pub struct Computation {
    pub series: Vec<values::Series>,
    /// (version label, diagnostics) of a version whose numbers could not be
    /// computed; its side of every series is then empty.
    pub failed: Vec<(String, Vec<Diagnostic>)>,
}

/// Computes the numbers of every metric `diff` marks as computed.
pub fn numbers(
    engine: &Engine,
    base: &Version,
    head: &Version,
    diff: &defs::DefDiff,
    request: &Request,
) -> Result<Computation, String> {
    let pairs = diff.computed();
    let base_names: Vec<String> = pairs.iter().filter_map(|(b, _)| b.clone()).collect();
    let head_names: Vec<String> = pairs.iter().filter_map(|(_, h)| h.clone()).collect();
    let to_head = |b: &str| -> String {
        pairs
            .iter()
            .find(|(x, _)| x.as_deref() == Some(b))
            .and_then(|(_, h)| h.clone())
            .unwrap_or_else(|| b.to_string())
    };
    let mut failed = Vec::new();
    let mut side = |v: &Version, names: &[String], rename: &dyn Fn(&str) -> String| {
        let Some(model) = v.model() else {
            return Ok(values::Long::default());
        };
        match compute(engine, model, request, names) {
            Ok(tables) => long(model, &tables, names, rename),
            Err(Problem::User(d)) => {
                failed.push((v.label.clone(), d));
                Ok(values::Long::default())
            }
            Err(Problem::Internal(e)) => Err(format!("failed to plan the query: {e}")),
        }
    };
    let b = side(base, &base_names, &to_head)?;
    let h = side(head, &head_names, &|n: &str| n.to_string())?;
    let series = pairs
        .iter()
        .filter_map(|(bn, hn)| hn.clone().or_else(|| bn.clone()))
        .flat_map(|m| values::compare(&m, &b, &h))
        .collect();
    Ok(Computation { series, failed })
}

/// The limit on `metric`'s relative change: its own, or the default.
pub fn limit(model: Option<&Model>, cli: Option<f64>, metric: &str) -> Option<f64> {
    let project = model.map(|m| &m.project);
    project
        .and_then(|p| p.max_change_by_metric.get(metric).copied())
        .or(cli)
        .or_else(|| project.and_then(|p| p.max_change))
}
