//! Stage `resolve`: [`Ast`] + source schemas -> [`Model`]. Binds every name,
//! types every expression against the Parquet schemas, finds cycles, and reports
//! every user error; after it, later stages only meet internal bugs.

pub mod expr;
pub mod functions;
mod graph;
pub mod kinds;
mod metrics;
pub mod model;
pub mod query;
pub mod types;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, suggestion_help};
use crate::syntax::ast::{Ast, SourceDef, Weekday};
use model::{Model, Project, Source};
use std::collections::HashMap;
use std::path::Path;
use types::{SourceSchema, Type};

/// A source's schema, or `None` when it could not be read (already reported).
pub type Schemas = HashMap<String, Option<SourceSchema>>;

/// Resolves the AST. Returns the model only when no error was found, in this
/// stage or an earlier one (`diags` holds theirs too).
pub fn resolve(ast: &Ast, dir: &Path, schemas: &Schemas, diags: &mut Diagnostics) -> Option<Model> {
    let project = project(ast, dir, diags);
    let sources = sources(ast, schemas, diags);
    let metrics = metrics::resolve(ast, &sources, diags);
    unused_sources(ast, diags);
    unknown_limits(ast, diags);
    if diags.iter().any(|d| d.is_error()) {
        return None;
    }
    let sources = sources.into_iter().filter_map(|s| s.resolved).collect();
    Some(Model {
        project: project?,
        sources,
        metrics,
    })
}

/// An IANA time zone name, or a diagnostic with the closest name.
pub fn time_zone(tz: &crate::syntax::ast::Name) -> Result<chrono_tz::Tz, Diagnostic> {
    if let Ok(z) = tz.value.parse::<chrono_tz::Tz>() {
        return Ok(z);
    }
    let exact = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|z| z.name().eq_ignore_ascii_case(&tz.value));
    let help = match exact {
        Some(z) => format!("did you mean `{}`?", z.name()),
        None => {
            let names = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name());
            match crate::diagnostics::did_you_mean(&tz.value, names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => {
                    "use an IANA time zone name such as `UTC`, `Europe/Paris` or `America/New_York`"
                        .into()
                }
            }
        }
    };
    Err(Diagnostic::new(Code::InvalidTimeZone, "unknown time zone")
        .at(tz.span, format!("`{}` is not an IANA time zone", tz.value))
        .with_help(help))
}

fn project(ast: &Ast, dir: &Path, diags: &mut Diagnostics) -> Option<Project> {
    let p = &ast.project;
    let time_zone = match &p.time_zone {
        None => chrono_tz::UTC,
        Some(tz) => match time_zone(tz) {
            Ok(z) => z,
            Err(d) => {
                diags.push(d);
                return None;
            }
        },
    };
    Some(Project {
        name: p
            .name
            .as_ref()
            .map_or_else(String::new, |n| n.value.clone()),
        dir: dir.to_path_buf(),
        time_zone,
        week_start: p.week_start.as_ref().map_or(Weekday::Monday, |w| w.value),
        default_from: p.default_from.as_ref().map(|d| d.value),
        default_to: p.default_to.as_ref().map(|d| d.value),
        max_change: p.max_change.as_ref().map(|m| m.value),
        max_change_by_metric: p
            .max_change_by_metric
            .iter()
            .map(|(n, m)| (n.value.clone(), m.value))
            .collect(),
    })
}

/// E0203 for a `diff.metrics` limit on a metric the project does not define.
fn unknown_limits(ast: &Ast, diags: &mut Diagnostics) {
    let names = || ast.metrics.iter().map(|m| m.name.value.as_str());
    for (name, _) in &ast.project.max_change_by_metric {
        if names().any(|n| n == name.value) {
            continue;
        }
        diags.push(
            Diagnostic::new(
                Code::UnknownMetric,
                format!(
                    "`diff.metrics` sets a limit on unknown metric `{}`",
                    name.value
                ),
            )
            .at(name.span, "no metric has this name")
            .with_help(suggestion_help(&name.value, "metrics", names())),
        );
    }
}

/// A source during resolution: its definition and, if its schema is known, the result.
pub(crate) struct SourceInfo<'a> {
    pub def: &'a SourceDef,
    pub schema: Option<&'a SourceSchema>,
    pub resolved: Option<Source>,
}

fn sources<'a>(ast: &'a Ast, schemas: &'a Schemas, diags: &mut Diagnostics) -> Vec<SourceInfo<'a>> {
    let mut out: Vec<SourceInfo> = Vec::new();
    for def in &ast.sources {
        if let Some(first) = out.iter().find(|s| s.def.name.value == def.name.value) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateDefinition,
                    format!("source `{}` is defined twice", def.name.value),
                )
                .at(def.name.span, "defined again here")
                .with_secondary(first.def.name.span, "first defined here")
                .with_help("rename one of the two sources"),
            );
            continue;
        }
        let schema = schemas.get(&def.name.value).and_then(|s| s.as_ref());
        let resolved = schema.and_then(|schema| source(def, schema, diags));
        out.push(SourceInfo {
            def,
            schema,
            resolved,
        });
    }
    out
}

fn source(def: &SourceDef, schema: &SourceSchema, diags: &mut Diagnostics) -> Option<Source> {
    let errors_before = diags.len();
    let column =
        |name: &crate::syntax::ast::Name, role: &str, diags: &mut Diagnostics| -> Option<Type> {
            match schema.column(&name.value) {
                Some(c) => Some(c.ty),
                None => {
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownColumn,
                            format!("unknown {role} column `{}`", name.value),
                        )
                        .at(
                            name.span,
                            format!("source `{}` has no such column", def.name.value),
                        )
                        .with_help(suggestion_help(
                            &name.value,
                            "columns",
                            schema.names(),
                        )),
                    );
                    None
                }
            }
        };
    if let Some(t) = column(&def.time, "time", diags)
        && !t.is_temporal()
    {
        let physical = schema
            .column(&def.time.value)
            .map_or("?", |c| c.physical.as_str());
        diags.push(
            Diagnostic::new(
                Code::TimeColumnType,
                format!("time column `{}` is not a timestamp", def.time.value),
            )
            .at(def.time.span, format!("its Parquet type is {physical}"))
            .with_help(match schema.columns.iter().find(|c| c.ty.is_temporal()) {
                Some(c) => format!("did you mean `{}`? it is a {}", c.name, c.ty),
                None => "store the event time as a Parquet TIMESTAMP or DATE column".to_string(),
            }),
        );
    }
    if let Some(e) = &def.entity {
        column(e, "entity", diags);
    }
    for d in &def.dimensions {
        column(d, "dimension", diags);
    }
    (diags.len() == errors_before).then(|| Source {
        name: def.name.value.clone(),
        description: def.description.as_ref().map(|d| d.value.clone()),
        schema: schema.clone(),
        time: def.time.value.clone(),
        entity: def.entity.as_ref().map(|e| e.value.clone()),
        dimensions: def.dimensions.iter().map(|d| d.value.clone()).collect(),
        span: def.name.span,
    })
}

fn unused_sources(ast: &Ast, diags: &mut Diagnostics) {
    for s in &ast.sources {
        let used = ast.metrics.iter().any(|m| {
            kinds::sources_named(m)
                .iter()
                .any(|n| n.value == s.name.value)
        });
        if !used {
            diags.push(
                Diagnostic::new(
                    Code::UnusedSource,
                    format!("source `{}` is not used by any metric", s.name.value),
                )
                .at(s.name.span, "defined here")
                .with_help("remove it, or define a metric over it"),
            );
        }
    }
}
