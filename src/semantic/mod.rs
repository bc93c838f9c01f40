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
use crate::syntax::ast::{Ast, EntityDef, SourceDef, Weekday};
use model::{Entity, Model, Project, Source};
use std::collections::HashMap;
use std::path::Path;
use types::{SourceSchema, Type};

/// A source's schema, or `None` when it could not be read (already reported).
/// Entities' attribute tables are here too, under [`entity_table`]'s key.
pub type Schemas = HashMap<String, Option<SourceSchema>>;

/// The key of entity `name`'s attribute table in [`Schemas`]; no source
/// name has a space, so it cannot be a source's.
pub fn entity_table(name: &str) -> String {
    format!("entity {name}")
}

/// Resolves the AST. Returns the model only when no error was found, in this
/// stage or an earlier one (`diags` holds theirs too).
pub fn resolve(ast: &Ast, dir: &Path, schemas: &Schemas, diags: &mut Diagnostics) -> Option<Model> {
    let project = project(ast, dir, diags);
    let entities = entities(ast, schemas, diags);
    let sources = sources(ast, schemas, &entities, diags);
    let metrics = metrics::resolve(ast, &sources, diags);
    unused_sources(ast, diags);
    unlinked_entities(ast, &entities, diags);
    unknown_limits(ast, diags);
    if diags.iter().any(|d| d.is_error()) {
        return None;
    }
    let sources = sources.into_iter().filter_map(|s| s.resolved).collect();
    Some(Model {
        project: project?,
        sources,
        entities: entities.into_iter().flatten().collect(),
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

/// A source during resolution: its definition and, if its schema is known,
/// the result. The schema holds the attributes of its entity too, as
/// columns named `entity.attribute`: expressions and options see them as
/// any column.
pub(crate) struct SourceInfo<'a> {
    pub def: &'a SourceDef,
    pub schema: Option<SourceSchema>,
    pub resolved: Option<Source>,
}

impl SourceInfo<'_> {
    /// Whether `name` is one of its entity's attributes.
    pub fn is_attribute(&self, name: &str) -> bool {
        self.resolved
            .as_ref()
            .is_some_and(|s| s.attributes.iter().any(|a| a == name))
    }
}

/// Each entity definition resolved against its table's footers, in
/// definition order; `None` where it has an error (reported).
fn entities(ast: &Ast, schemas: &Schemas, diags: &mut Diagnostics) -> Vec<Option<Entity>> {
    let mut out = Vec::new();
    for (i, def) in ast.entities.iter().enumerate() {
        let earlier = &ast.entities[..i];
        if let Some(first) = earlier.iter().find(|e| e.name.value == def.name.value) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateDefinition,
                    format!("entity `{}` is defined twice", def.name.value),
                )
                .at(def.name.span, "defined again here")
                .with_secondary(first.name.span, "first defined here")
                .with_help("rename one of the two entities"),
            );
            out.push(None);
            continue;
        }
        if let Some(first) = earlier.iter().find(|e| e.key.value == def.key.value) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateDefinition,
                    format!(
                        "entities `{}` and `{}` have the same key `{}`",
                        first.name.value, def.name.value, def.key.value
                    ),
                )
                .at(def.key.span, "a second entity with this key")
                .with_secondary(first.key.span, "first keyed here")
                .with_help("a source's entity column names one entity: keep one of the two, with the attributes of both"),
            );
            out.push(None);
            continue;
        }
        if let Some(s) = ast.sources.iter().find(|s| s.name.value == def.name.value) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateDefinition,
                    format!("entity `{}` has the name of a source", def.name.value),
                )
                .at(def.name.span, "an entity with this name")
                .with_secondary(s.name.span, "the source")
                .with_help("rename the entity (a test's `given:` names both)"),
            );
            out.push(None);
            continue;
        }
        let schema = schemas
            .get(&entity_table(&def.name.value))
            .and_then(|s| s.as_ref());
        out.push(schema.and_then(|schema| entity(def, schema, diags)));
    }
    out
}

/// The column a definition names as its `role` (time, key ...) in
/// `schema`, or E0202 with the closest name; `owner` names the table in
/// the label (`source \`events\``).
fn declared_column<'s>(
    schema: &'s SourceSchema,
    owner: &str,
    name: &crate::syntax::ast::Name,
    role: &str,
    diags: &mut Diagnostics,
) -> Option<&'s types::Column> {
    let found = schema.column(&name.value);
    if found.is_none() {
        diags.push(
            Diagnostic::new(
                Code::UnknownColumn,
                format!("unknown {role} column `{}`", name.value),
            )
            .at(name.span, format!("{owner} has no such column"))
            .with_help(suggestion_help(&name.value, "columns", schema.names())),
        );
    }
    found
}

fn entity(def: &EntityDef, schema: &SourceSchema, diags: &mut Diagnostics) -> Option<Entity> {
    let errors_before = diags.len();
    let table = format!("the table of entity `{}`", def.name.value);
    let column = |name: &crate::syntax::ast::Name, role: &str, diags: &mut Diagnostics| {
        declared_column(schema, &table, name, role, diags)
    };
    if let Some(key) = column(&def.key, "key", diags)
        && !matches!(key.ty, Type::String | Type::Int)
    {
        diags.push(
            Diagnostic::new(
                Code::EntityKeyType,
                format!("the key `{}` of entity `{}` is not a string or an integer", def.key.value, def.name.value),
            )
            .at(def.key.span, format!("its Parquet type is {}", key.physical))
            .with_help("key the table by the entity's id, stored as a string or an integer, as in the sources"),
        );
    }
    if let Some(v) = &def.valid_from
        && let Some(c) = column(v, "valid_from", diags)
        && !c.ty.is_temporal()
    {
        diags.push(
            Diagnostic::new(
                Code::TimeColumnType,
                format!("valid_from column `{}` is not a timestamp", v.value),
            )
            .at(v.span, format!("its Parquet type is {}", c.physical))
            .with_help("store the start of each version as a Parquet TIMESTAMP or DATE column"),
        );
    }
    let mut attributes: Vec<String> = Vec::new();
    if def.attributes.is_empty() {
        let skip =
            |n: &str| n == def.key.value || def.valid_from.as_ref().is_some_and(|v| v.value == n);
        attributes.extend(schema.names().filter(|n| !skip(n)).map(String::from));
    }
    for a in &def.attributes {
        if column(a, "attribute", diags).is_none() {
            continue;
        }
        let role = if a.value == def.key.value {
            Some("key")
        } else if def.valid_from.as_ref().is_some_and(|v| v.value == a.value) {
            Some("valid_from column")
        } else {
            None
        };
        if let Some(role) = role {
            diags.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("`{}` is the entity's {role}, not an attribute", a.value),
                )
                .at(a.span, "listed as an attribute")
                .with_help("remove it from `attributes`; a source's rows already hold the entity's key and time"),
            );
        } else if !attributes.contains(&a.value) {
            attributes.push(a.value.clone());
        }
    }
    (diags.len() == errors_before).then(|| Entity {
        name: def.name.value.clone(),
        description: def.description.as_ref().map(|d| d.value.clone()),
        key: def.key.value.clone(),
        schema: schema.clone(),
        attributes,
        valid_from: def.valid_from.as_ref().map(|v| v.value.clone()),
        span: def.name.span,
    })
}

/// W0005 for each entity no source is linked to.
fn unlinked_entities(ast: &Ast, entities: &[Option<Entity>], diags: &mut Diagnostics) {
    for (def, e) in ast.entities.iter().zip(entities) {
        if e.is_none() {
            continue;
        }
        let linked = ast
            .sources
            .iter()
            .any(|s| s.entity.as_ref().is_some_and(|k| k.value == def.key.value));
        if !linked {
            diags.push(
                Diagnostic::new(
                    Code::UnlinkedEntity,
                    format!("no source has the entity `{}`", def.name.value),
                )
                .at(def.key.span, format!("no source's `entity` is `{}`", def.key.value))
                .with_help("its attributes reach the rows of sources whose `entity` column is its key: set one, or remove the entity"),
            );
        }
    }
}

fn sources<'a>(
    ast: &'a Ast,
    schemas: &'a Schemas,
    entities: &[Option<Entity>],
    diags: &mut Diagnostics,
) -> Vec<SourceInfo<'a>> {
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
        let linked = def.entity.as_ref().and_then(|k| {
            let i = ast.entities.iter().position(|e| e.key.value == k.value)?;
            Some((&ast.entities[i], entities[i].as_ref()))
        });
        let mut resolved = schema.and_then(|schema| source(def, schema, diags));
        let mut schema = schema.cloned();
        if let (Some(s), Some(schema), Some((edef, e))) = (&mut resolved, &mut schema, linked) {
            match e {
                Some(e) => {
                    if link(def, schema, edef, e, diags) {
                        s.linked = Some(e.name.clone());
                        for a in &e.attributes {
                            let c = e.schema.column(a).expect("attributes are columns");
                            schema.columns.push(types::Column {
                                name: e.qualified(a),
                                ..c.clone()
                            });
                            s.attributes.push(e.qualified(a));
                        }
                    } else {
                        resolved = None;
                    }
                }
                // The entity has errors (reported): its attributes are
                // unknown, so uses of them are not reported again.
                None => schema
                    .columns
                    .extend(edef.attributes.iter().map(|a| types::Column {
                        name: format!("{}.{}", edef.name.value, a.value),
                        ty: Type::Unknown,
                        physical: "unknown".into(),
                        partition: false,
                    })),
            }
        }
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
    let owner = format!("source `{}`", def.name.value);
    let column = |name: &crate::syntax::ast::Name, role: &str, diags: &mut Diagnostics| {
        declared_column(schema, &owner, name, role, diags).map(|c| c.ty)
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
        linked: None,
        attributes: Vec::new(),
        span: def.name.span,
    })
}

/// Checks that source `def` (of `schema`) can take the attributes of
/// entity `e`: the key types agree and no attribute name is taken.
fn link(
    def: &SourceDef,
    schema: &SourceSchema,
    edef: &EntityDef,
    e: &Entity,
    diags: &mut Diagnostics,
) -> bool {
    let key = def.entity.as_ref().expect("linked by the entity column");
    let (Some(mine), Some(theirs)) = (schema.column(&key.value), e.schema.column(&e.key)) else {
        return false;
    };
    if mine.ty != theirs.ty {
        diags.push(
            Diagnostic::new(
                Code::EntityKeyType,
                format!(
                    "source `{}` and entity `{}` store `{}` as different types",
                    def.name.value, e.name, key.value
                ),
            )
            .at(key.span, format!("{} ({}) here", mine.ty, mine.physical))
            .with_secondary(
                edef.key.span,
                format!("{} ({}) in the entity's table", theirs.ty, theirs.physical),
            )
            .with_help(
                "write the id with one type in both tables; a string never equals an integer",
            ),
        );
        return false;
    }
    let taken = e
        .attributes
        .iter()
        .find(|a| schema.column(&e.qualified(a)).is_some());
    if let Some(a) = taken {
        diags.push(
            Diagnostic::new(
                Code::DuplicateDefinition,
                format!(
                    "source `{}` has a column named `{}`",
                    def.name.value,
                    e.qualified(a)
                ),
            )
            .at(
                edef.name.span,
                format!("its attribute `{a}` would take that name"),
            )
            .with_secondary(def.name.span, "the source")
            .with_help("rename the entity, or the column in the source's files"),
        );
        return false;
    }
    true
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
