//! resolve: `cohort` metrics, a measure followed per cohort of each entity's
//! first cohort event and the periods since: a column (by the cohort
//! event's bucket) and a table (by cohort and period since).

use super::measure::Base;
use super::{Cx, Description, Input, Kind, Reads, Resolved, Shape, TableShape, Text};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::semantic::expr::Checker;
use crate::syntax::ast::{self, Expr, Grain, Occurrence};

/// The YAML key of the kind.
pub const KEY: &str = "cohort";

/// A resolved cohort metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    /// The measure it follows, over every row of the measure's source.
    pub base: Base,
    /// The source of the cohort event.
    pub source: String,
    /// The cohort event, a predicate on `source`'s rows.
    pub event: Expr,
    pub period: Grain,
    /// How many periods, from the cohort event's own.
    pub periods: i64,
    /// Divided by the cohort's size.
    pub per_entity: bool,
    /// Over the periods up to each.
    pub cumulative: bool,
}

pub(super) fn shape(name: &str) -> Shape {
    Shape {
        key: KEY,
        reads: Reads::MetricAndEvents,
        needs_entity: true,
        takes_occurrence: false,
        column: true,
        table: Some(TableShape {
            title: format!("{name}: by cohort and period since"),
            columns: ["cohort", "period", "cohort_size", name]
                .iter()
                .map(|c| c.to_string())
                .collect(),
            keys: vec!["cohort".into(), "period".into()],
            what: "a cohort table",
        }),
        sql: false,
    }
}

pub(super) fn resolve<'a>(
    cx: &Cx<'a>,
    input: &Input<'a>,
    c: &ast::CohortDef,
    diags: &mut Diagnostics,
) -> Resolved<'a> {
    let def = input.def;
    let mut refs = Vec::new();
    let found = super::metric_ref(cx, &c.metric, diags, &mut refs);
    let cohort_src = match &c.cohort_source {
        Some(n) => cx.source(n, diags),
        None => input.src,
    };
    match cohort_src {
        Some(s) => {
            cx.entity_required(s, def, diags);
            Checker::new(diags, super::row_scope(Some(s))).predicate(&c.event, "`event`");
        }
        None if c.cohort_source.is_none() && def.source.is_none() => diags.push(
            Diagnostic::new(
                Code::MissingKey,
                "a cohort metric needs the source of its cohort event",
            )
            .at(def.kind_span, "which source holds `event`?")
            .with_help("add `source: <source>` inside `cohort:` or on the metric"),
        ),
        None => {}
    }
    // Not a measure: reported with the other uses of metrics.
    let base = found.then(|| super::base_measure(cx, &c.metric)).flatten();
    if let Some(b) = &base
        && b.measure.occurrence != Occurrence::All
        && let Some(target) = cx.def(&c.metric.value)
    {
        diags.push(
            Diagnostic::new(
                Code::IncompatibleMetric,
                format!("`{}` cannot be used here", c.metric.value),
            )
            .at(
                c.metric.span,
                format!(
                    "cohorts follow every row of a measure; `{}` counts only each entity's {} occurrence",
                    c.metric.value,
                    b.measure.occurrence.as_str()
                ),
            )
            .with_secondary(target.name.span, "defined here")
            .with_help("follow a measure without `occurrence`; a cohort already starts at each entity's first cohort event"),
        );
    }
    let kind = match (base, cohort_src) {
        (Some(base), Some(s)) if base.measure.occurrence == Occurrence::All => {
            Some(Kind::Cohort(Cohort {
                base,
                source: s.def.name.value.clone(),
                event: c.event.clone(),
                period: c.period.value,
                periods: c.periods.value,
                per_entity: c.per_entity,
                cumulative: c.cumulative,
            }))
        }
        _ => None,
    };
    Resolved {
        dimension_source: cohort_src,
        refs,
        ..Resolved::of(kind)
    }
}

/// What a cohort metric may follow.
pub(crate) fn accepts(target: &Shape, name: &str) -> Option<String> {
    (target.key != super::measure::KEY).then(|| {
        format!(
            "cohorts follow a `measure` metric; `{name}` is a {} metric",
            target.key
        )
    })
}

impl Cohort {
    pub(super) fn describe(&self, text: Text, d: &mut Description) {
        d.line(
            "cohort",
            format!(
                "{} on `{}` — each entity's first such event over all time, in the range; breakdown values from that event",
                text(self.event.span),
                self.source
            ),
        );
        let g = self.period.as_str();
        d.line(
            "value",
            format!(
                "`{}` over the entity's rows from the cohort event on, for {} calendar {g}s starting with the cohort event's (and before the range's end){}",
                self.base.name,
                self.periods,
                if self.per_entity {
                    ", divided by the cohort's size"
                } else {
                    ""
                }
            ),
        );
        d.line(
            "buckets",
            format!(
                "the column: by the bucket of the cohort event; the table: by cohort {g} and {g}s since{}",
                if self.cumulative {
                    ", cumulative over the periods up to each"
                } else {
                    ""
                }
            ),
        );
    }
}
