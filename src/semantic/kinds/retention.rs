//! resolve: `retention` metrics, the matrix of entities returning in each
//! period after their cohort event.

use super::{Description, Input, Reads, Shape, TableShape, Text, describe_millis};
use crate::diagnostics::Diagnostics;
use crate::semantic::expr::Checker;
use crate::syntax::ast::{self, CohortType, Expr, Grain, PeriodAnchor, RetentionMatch};

/// The YAML key of the kind.
pub const KEY: &str = "retention";

/// A resolved retention matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    pub source: String,
    pub cohort: Expr,
    pub returning: Expr,
    pub period: Grain,
    /// The last period since the cohort's (periods 0 to `periods`).
    pub periods: i64,
    pub cohort_type: CohortType,
    pub matching: RetentionMatch,
    pub anchor: PeriodAnchor,
    /// Return events a period needs to count as a return (period 0: one).
    pub min_occurrences: i64,
}

/// A rolling period of `g` in microseconds: multiples of 24 hours.
pub fn rolling_micros(g: Grain) -> i64 {
    const DAY: i64 = 86_400_000_000;
    match g {
        Grain::Hour => DAY / 24,
        Grain::Day => DAY,
        Grain::Week => 7 * DAY,
        Grain::Month => 30 * DAY,
        Grain::Quarter => 91 * DAY,
        Grain::Year => 365 * DAY,
    }
}

pub(super) fn shape(r: &ast::Retention, name: &str) -> Shape {
    let mut columns = vec!["cohort", "period", "cohort_size"];
    // Only rolling periods can have begun for some of a cohort and not all.
    if r.anchor.value == PeriodAnchor::Rolling {
        columns.push("eligible");
    }
    columns.extend(["retained", "retention_rate"]);
    Shape {
        key: KEY,
        reads: Reads::Source,
        needs_entity: true,
        takes_occurrence: false,
        column: false,
        table: Some(TableShape {
            title: format!("{name}: retention by cohort and period"),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            keys: vec!["cohort".into(), "period".into()],
            what: "a retention matrix",
        }),
        sql: false,
    }
}

pub(super) fn resolve(
    input: &Input,
    r: &ast::Retention,
    diags: &mut Diagnostics,
) -> Option<Retention> {
    Checker::new(diags, input.row()).predicate(&r.cohort, "`cohort`");
    Checker::new(diags, input.row()).predicate(&r.returning, "`return`");
    Some(Retention {
        source: input.src?.def.name.value.clone(),
        cohort: r.cohort.clone(),
        returning: r.returning.clone(),
        period: r.period.value,
        periods: r.periods.value,
        cohort_type: r.cohort_type.value,
        matching: r.matching.value,
        anchor: r.anchor.value,
        min_occurrences: r.min_occurrences.as_ref().map_or(1, |m| m.value),
    })
}

impl Retention {
    pub(super) fn describe(&self, text: Text, d: &mut Description) {
        let g = self.period.as_str();
        d.line(
            "cohort",
            format!(
                "{} — {}; cohorts are calendar {g}s of the cohort event, in the range",
                text(self.cohort.span),
                match self.cohort_type {
                    CohortType::FirstTime => "each entity's first such event over all time",
                    CohortType::Recurring => "the first such event of every period that has one",
                }
            ),
        );
        let period = match self.anchor {
            PeriodAnchor::Calendar => format!(
                "period k is the calendar {g} k after the cohort's; period 0 counts returns at or after the cohort event"
            ),
            PeriodAnchor::Rolling => format!(
                "period k is [k, k+1) × {} of elapsed time from the cohort event",
                describe_millis(rolling_micros(self.period) / 1000)
            ),
        };
        d.line(
            "return",
            format!(
                "{} — {}; periods 0 to {}; {period}",
                text(self.returning.span),
                match self.matching {
                    RetentionMatch::On => "retained at k: a return in period k",
                    RetentionMatch::OnOrAfter =>
                        "retained at k: a return in period k or any later one",
                },
                self.periods
            ),
        );
        if self.min_occurrences > 1 {
            d.line(
                "minimum",
                format!(
                    "a return counts in periods 1 and later only with at least {} return events in that period (PostHog's minimum occurrences); period 0 and cohort sizes are unchanged",
                    self.min_occurrences
                ),
            );
        }
        d.line(
            "reads",
            "rows before the range's end only: a period not begun by then is null; --by does not change the cohort periods; a breakdown takes the cohort event's values",
        );
    }
}
