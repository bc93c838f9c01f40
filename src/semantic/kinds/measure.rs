//! resolve: `measure` metrics, aggregates over a source's rows
//! (`count_distinct(developer_id)`), optionally of each entity's first or
//! last matching row only (`occurrence`).

use super::{Description, Input, Reads, Shape, Text, scope_parts};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::semantic::expr::{Checker, Scope};
use crate::syntax::ast::{Expr, MetricDef, Occurrence};

/// The YAML key of the kind.
pub const KEY: &str = "measure";

/// A resolved measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub source: String,
    /// Aggregates over row expressions of `source`, and arithmetic on them.
    pub measure: Expr,
    /// Which of an entity's matching rows count.
    pub occurrence: Occurrence,
}

/// A measure another metric is built on (a running total, a cohort metric).
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    pub name: String,
    /// The measure metric's own filter.
    pub filter: Option<Expr>,
    pub measure: Measure,
}

pub(super) fn shape(def: &MetricDef) -> Shape {
    let occurrence = def.occurrence.as_ref().map_or(Occurrence::All, |o| o.value);
    Shape {
        key: KEY,
        reads: Reads::Source,
        needs_entity: occurrence != Occurrence::All,
        takes_occurrence: true,
        column: true,
        table: None,
        sql: true,
    }
}

/// The measure, and the type of its value.
pub(super) fn resolve(
    input: &Input,
    measure: &Expr,
    diags: &mut Diagnostics,
) -> (Option<Measure>, crate::semantic::types::Type) {
    let (source, schema) = scope_parts(input.src);
    let mut c = Checker::new(diags, Scope::Measure { source, schema });
    let ty = c.check(measure);
    if !c.has_aggregate {
        c.diags.push(
            Diagnostic::new(Code::AggregateExpected, "a measure must aggregate rows")
                .at(measure.span, "no aggregate function here")
                .with_help("use `count(*)`, `count_distinct(col)`, `sum(col)`, `avg(col)`, `median(col)` or `percentile(col, 0.9)`"),
        );
    }
    (build(input.def, measure), ty)
}

fn build(def: &MetricDef, measure: &Expr) -> Option<Measure> {
    Some(Measure {
        source: def.source.as_ref()?.value.clone(),
        measure: measure.clone(),
        occurrence: def.occurrence.as_ref().map_or(Occurrence::All, |o| o.value),
    })
}

/// The measure metric `def` as the base of another metric.
pub(super) fn base(def: &MetricDef, measure: &Expr) -> Option<Base> {
    Some(Base {
        name: def.name.value.clone(),
        filter: def.filter.clone(),
        measure: build(def, measure)?,
    })
}

impl Measure {
    pub(super) fn describe(&self, text: Text, d: &mut Description) {
        d.line("measure", text(self.measure.span));
        let which = match self.occurrence {
            Occurrence::All => return,
            Occurrence::First => "first",
            Occurrence::Last => "last",
        };
        d.after.push(format!(
            "  rows      only each entity's {which} matching row over all time (ties: every row at that instant)"
        ));
    }
}
