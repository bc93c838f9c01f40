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
) -> Result<(Vec<Computed>, Vec<String>), Problem> {
    if names.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // Metrics that compare with an offset that is not a whole number of
    // the buckets asked for are left out with a note, as a run of every
    // metric leaves them out (naming them would be an error).
    let (names, unfit): (Vec<&String>, Vec<&String>) = names
        .iter()
        .partition(|n| query::fits(model, n, request.grain));
    let unfit_note = |unfit: &[&String]| {
        let unfit: Vec<&str> = unfit
            .iter()
            .filter(|n| !n.starts_with(BASE))
            .map(|n| n.as_str())
            .collect();
        (!unfit.is_empty()).then(|| {
            format!(
                "left out, their earlier values are not buckets of the run ({}): {}",
                request.grain.map_or("no `--by`".to_string(), |g| format!(
                    "`--by {}`",
                    g.as_str()
                )),
                unfit.join(", ")
            )
        })
    };
    if names.is_empty() {
        // An empty list would mean every metric to `query::resolve`.
        return Ok((Vec::new(), unfit_note(&unfit).into_iter().collect()));
    }
    let mut request = request.clone();
    request.metrics = names.iter().map(|n| query::Word::typed(*n)).collect();
    let resolved = query::resolve(&request, model).map_err(|d| Problem::User(d.to_vec()))?;
    let mut notes: Vec<String> = resolved.notes.iter().map(|n| n.replace(BASE, "")).collect();
    notes.extend(unfit_note(&unfit));
    let tables = engine
        .compute(model, &resolved.query)
        .map_err(|f| match f {
            Failure::Data(d) => Problem::User(vec![d]),
            Failure::Internal(e) => Problem::Internal(e),
        })?;
    Ok((tables, notes))
}

/// Results of one version in long form, metrics named as in the head:
/// the metrics `keep` accepts among `names`, those of the run's metrics
/// table and own tables.
fn long(
    model: &Model,
    tables: &[Computed],
    names: &[String],
    keep: &dyn Fn(&str) -> bool,
    rename: &dyn Fn(&str) -> String,
) -> Result<values::Long, String> {
    let own = |m: &str| {
        let shape = model.metric(m)?.shape.table.clone()?;
        Some((shape.columns, shape.keys))
    };
    values::Long::new(tables, names, keep, &own, rename)
}

/// Both versions' numbers for the metrics `diff` says may change: the
/// series per metric, and each version's problems when it could not run.
pub struct Computation {
    pub series: Vec<values::Series>,
    /// (version label, diagnostics) of a version whose numbers could not be
    /// computed; its side of every series is then empty.
    pub failed: Vec<(String, Vec<Diagnostic>)>,
    /// Whether both versions ran as one query (sharing their scans).
    pub together: bool,
    /// What the queries said of the request (a breakdown left out when
    /// the metrics have different ones, say).
    pub notes: Vec<String>,
}

/// The prefix of the base's metrics and sources in a model of both
/// versions: `__base__mau`. Not a name a user can write in a definition
/// that also has it (names are identifiers, checked; a clash is looked
/// for anyway and sends both versions to their own runs).
const BASE: &str = "__base__";

/// One model holding the head's definitions and, renamed with [`BASE`],
/// the base's metrics in `base_names` with what they use. Base sources
/// that mean what the head's of the same name mean are the head's (so
/// the planner scans them once for both versions); the others are added
/// renamed. `None` when the versions cannot share a model: different
/// time zones or week starts, a name clash, or a combination that does
/// not resolve.
pub fn together(base: &Version, head: &Version, base_names: &[String]) -> Option<Model> {
    let (bm, hm) = (base.model()?, head.model()?);
    if bm.project.time_zone != hm.project.time_zone
        || bm.project.week_start != hm.project.week_start
    {
        return None;
    }
    // The base's sources would take the head's attributes.
    if !defs::changed_entities(bm, hm).is_empty() {
        return None;
    }
    let clash = |name: &str| name.starts_with(BASE);
    if hm.metrics.iter().any(|m| clash(&m.name)) || hm.sources.iter().any(|s| clash(&s.name)) {
        return None;
    }
    // The base metrics to compute, with what they use. A metric they use
    // that is not to be computed means in the base what it means in the
    // head (else the difference would list it), so the head's serves.
    let own = |n: &str| base_names.iter().any(|x| x == n) || hm.metric(n).is_none();
    let mut needed: Vec<String> = base_names.to_vec();
    let mut i = 0;
    while i < needed.len() {
        if let Some(m) = bm.metric(&needed[i]) {
            for d in &m.depends_on {
                if own(&d.value) && !needed.contains(&d.value) {
                    needed.push(d.value.clone());
                }
            }
        }
        i += 1;
    }
    let shared = |s: &str| match (bm.source(s), hm.source(s)) {
        (Some(a), Some(b)) => defs::same_source(a, b),
        _ => false,
    };
    let metric = |n: &str| needed.iter().any(|x| x == n).then(|| format!("{BASE}{n}"));
    let source = |n: &str| (!shared(n)).then(|| format!("{BASE}{n}"));
    let mut ast = head.checked.ast.clone();
    let mut schemas = head.checked.schemas.clone();
    for def in &base.checked.ast.metrics {
        if !needed.contains(&def.name.value) {
            continue;
        }
        let mut def = def.clone();
        def.name.value = format!("{BASE}{}", def.name.value);
        crate::semantic::kinds::rename_references(&mut def, &metric, &source);
        ast.metrics.push(def);
    }
    let used: std::collections::BTreeSet<&str> = needed
        .iter()
        .filter_map(|n| bm.metric(n))
        .flat_map(|m| m.sources.iter().map(String::as_str))
        .collect();
    for def in &base.checked.ast.sources {
        if !used.contains(def.name.value.as_str()) || shared(&def.name.value) {
            continue;
        }
        let schema = base.checked.schemas.get(&def.name.value)?.clone();
        let mut def = def.clone();
        def.name.value = format!("{BASE}{}", def.name.value);
        schemas.insert(def.name.value.clone(), schema);
        ast.sources.push(def);
    }
    let mut diags = Vec::new();
    crate::semantic::resolve(&ast, &head.checked.dir, &schemas, &mut diags)
}

/// The metrics a difference computes, by their names in each version.
struct Names {
    /// (base name, head name); one side `None` for added and removed.
    pairs: Vec<(Option<String>, Option<String>)>,
    base: Vec<String>,
    head: Vec<String>,
}

impl Names {
    fn of(diff: &defs::DefDiff) -> Names {
        let pairs = diff.computed();
        Names {
            base: pairs.iter().filter_map(|(b, _)| b.clone()).collect(),
            head: pairs.iter().filter_map(|(_, h)| h.clone()).collect(),
            pairs,
        }
    }

    /// The head's name of base metric `b` (its own when removed).
    fn to_head(&self, b: &str) -> String {
        self.pairs
            .iter()
            .find(|(x, _)| x.as_deref() == Some(b))
            .and_then(|(_, h)| h.clone())
            .unwrap_or_else(|| b.to_string())
    }
}

/// Computes the numbers of every metric `diff` marks as computed: both
/// versions in one query when they can share a model ([`together`]), so
/// that the sources they share are scanned once; else one query each.
pub fn numbers(
    engine: &Engine,
    base: &Version,
    head: &Version,
    diff: &defs::DefDiff,
    request: &Request,
) -> Result<Computation, String> {
    let names = Names::of(diff);
    let (pairs, base_names, head_names) = (&names.pairs, &names.base, &names.head);
    let to_head = |b: &str| names.to_head(b);
    if let Some(model) = together(base, head, base_names) {
        let prefixed: Vec<String> = base_names.iter().map(|n| format!("{BASE}{n}")).collect();
        let all: Vec<String> = head_names.iter().chain(&prefixed).cloned().collect();
        if let Ok((tables, notes)) = compute(engine, &model, request, &all) {
            let is_base = |n: &str| n.starts_with(BASE);
            let b = long(&model, &tables, &all, &is_base, &|n: &str| {
                to_head(n.strip_prefix(BASE).unwrap_or(n))
            })?;
            let h = long(&model, &tables, &all, &|n: &str| !is_base(n), &|n: &str| {
                n.to_string()
            })?;
            return Ok(Computation {
                series: compare_all(pairs, &b, &h),
                failed: Vec::new(),
                together: true,
                notes,
            });
        }
        // Whatever failed is said by the runs of each version below.
    }
    apart(engine, base, head, diff, request)
}

/// [`numbers`], each version in a query of its own.
pub fn apart(
    engine: &Engine,
    base: &Version,
    head: &Version,
    diff: &defs::DefDiff,
    request: &Request,
) -> Result<Computation, String> {
    let names = Names::of(diff);
    let (pairs, base_names, head_names) = (&names.pairs, &names.base, &names.head);
    let to_head = |b: &str| names.to_head(b);
    let mut failed = Vec::new();
    let mut notes = Vec::new();
    let mut side = |v: &Version, names: &[String], rename: &dyn Fn(&str) -> String| {
        let Some(model) = v.model() else {
            return Ok(values::Long::default());
        };
        match compute(engine, model, request, names) {
            Ok((tables, said)) => {
                notes.extend(said.into_iter().map(|n| format!("{}: {n}", v.label)));
                long(model, &tables, names, &|_| true, rename)
            }
            Err(Problem::User(d)) => {
                failed.push((v.label.clone(), d));
                Ok(values::Long::default())
            }
            Err(Problem::Internal(e)) => Err(format!("failed to plan the query: {e}")),
        }
    };
    let b = side(base, base_names, &to_head)?;
    let h = side(head, head_names, &|n: &str| n.to_string())?;
    Ok(Computation {
        series: compare_all(pairs, &b, &h),
        failed,
        together: false,
        notes,
    })
}

/// The series of every computed pair, in the difference's order.
fn compare_all(
    pairs: &[(Option<String>, Option<String>)],
    b: &values::Long,
    h: &values::Long,
) -> Vec<values::Series> {
    pairs
        .iter()
        .filter_map(|(bn, hn)| hn.clone().or_else(|| bn.clone()))
        .flat_map(|m| values::compare(&m, b, h))
        .collect()
}

/// The limit on `metric`'s relative change: its own, or the default.
pub fn limit(model: Option<&Model>, cli: Option<f64>, metric: &str) -> Option<f64> {
    let project = model.map(|m| &m.project);
    project
        .and_then(|p| p.max_change_by_metric.get(metric).copied())
        .or(cli)
        .or_else(|| project.and_then(|p| p.max_change))
}
