//! The resolved model: every name bound, every type known, sources with their
//! files and schemas, metrics in dependency order. Input of `lower`.

use super::kinds::{Kind, Shape};
use super::types::SourceSchema;
use crate::span::Span;
use crate::syntax::ast::{Name, Weekday};
use std::path::PathBuf;

/// A checked project, ready to plan.
#[derive(Debug, Clone)]
pub struct Model {
    pub project: Project,
    pub sources: Vec<Source>,
    /// Entities with attribute tables, linked to sources.
    pub entities: Vec<Entity>,
    /// Metrics in dependency order: every metric after those it uses.
    pub metrics: Vec<Metric>,
}

impl Model {
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.name == name)
    }

    /// The entity whose attributes `source`'s rows have, if any.
    pub fn entity_of(&self, source: &Source) -> Option<&Entity> {
        self.entity(source.linked.as_deref()?)
    }
}

/// Project-wide settings with defaults applied.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub dir: PathBuf,
    pub time_zone: chrono_tz::Tz,
    pub week_start: Weekday,
    pub default_from: Option<chrono::NaiveDate>,
    pub default_to: Option<chrono::NaiveDate>,
    /// `diff.max_change`: the largest relative change `metricc diff` lets
    /// pass, as a fraction.
    pub max_change: Option<f64>,
    /// `diff.metrics`: per-metric limits, as fractions.
    pub max_change_by_metric: std::collections::BTreeMap<String, f64>,
}

/// A data source with its Parquet files and schema.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub description: Option<String>,
    pub schema: SourceSchema,
    pub time: String,
    pub entity: Option<String>,
    pub dimensions: Vec<String>,
    /// The entity whose attributes its rows have: the one keyed by its
    /// entity column.
    pub linked: Option<String>,
    /// Those attributes as its rows know them (`developer.plan`); each is
    /// also a dimension.
    pub attributes: Vec<String>,
    pub span: Span,
}

impl Source {
    /// Whether `name` is a dimension: declared, or an attribute of its entity.
    pub fn has_dimension(&self, name: &str) -> bool {
        self.dimensions.iter().any(|d| d == name) || self.attributes.iter().any(|a| a == name)
    }
}

/// An entity with a table of attributes (docs/LANGUAGE.md, "Entities").
#[derive(Debug, Clone)]
pub struct Entity {
    pub name: String,
    pub description: Option<String>,
    /// The key column, in the table and in the linked sources.
    pub key: String,
    /// The table's files and columns.
    pub schema: SourceSchema,
    /// The table's columns given as attributes.
    pub attributes: Vec<String>,
    /// The column from which each row (a version) holds.
    pub valid_from: Option<String>,
    pub span: Span,
}

impl Entity {
    /// An attribute's name on the rows of linked sources: `developer.plan`.
    pub fn qualified(&self, attribute: &str) -> String {
        format!("{}.{attribute}", self.name)
    }

    /// Its table as a source keyed by the entity, with `valid_from` for a
    /// time (none without): what reads a source's files and test rows reads
    /// it the same.
    pub fn as_source(&self) -> Source {
        Source {
            name: self.name.clone(),
            description: self.description.clone(),
            schema: self.schema.clone(),
            time: self.valid_from.clone().unwrap_or_default(),
            entity: Some(self.key.clone()),
            dimensions: Vec::new(),
            linked: None,
            attributes: Vec::new(),
            span: self.span,
        }
    }
}

/// A checked metric: its kind resolved (see [`super::kinds`]), its shape
/// stated, the metrics and sources it depends on found.
#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    pub label: Option<String>,
    /// The unit its definition names, for labels (`USD`).
    pub unit: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    /// Applies to its rows, or to the rows of every source underneath.
    pub filter: Option<crate::syntax::ast::Expr>,
    pub breakdown: Vec<String>,
    pub kind: Kind,
    /// What its kind is: what it reads, whether it gives a column or a table.
    pub shape: Shape,
    /// Metrics this one is computed from.
    pub depends_on: Vec<Name>,
    /// The sources it reads, directly or through the metrics it uses.
    pub sources: Vec<String>,
    /// The sources its breakdown values come from: those it reads, except
    /// that a cohort metric's come from its cohort event's source.
    pub breakdown_sources: Vec<String>,
    pub span: Span,
}

impl Metric {
    /// The source whose rows it reads, for kinds that read one.
    pub fn source(&self) -> Option<&str> {
        self.kind.source()
    }
}
