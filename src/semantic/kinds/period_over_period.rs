//! resolve: `period_over_period` metrics, a metric against its own value a
//! calendar offset earlier (MetricFlow's `offset_window`) or at the start of
//! a calendar period (`offset_to_grain`): the earlier value, the
//! difference, the ratio or the growth.

use super::{Cx, Description, Kind, Reads, Resolved, Shape};
use crate::diagnostics::Diagnostics;
use crate::span::{Span, Spanned};
use crate::syntax::ast::{Comparison, Lookback, Name};

/// The YAML key of the kind.
pub const KEY: &str = "period_over_period";

/// A resolved period-over-period metric: `metric` gives a column.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodOverPeriod {
    pub metric: String,
    pub offset: Lookback,
    /// Where the offset is written, for the diagnostic of a `--by` it does
    /// not fit.
    pub offset_span: Span,
    pub value: Comparison,
}

pub(super) fn shape() -> Shape {
    Shape {
        key: KEY,
        reads: Reads::Metrics,
        needs_entity: false,
        takes_occurrence: false,
        column: true,
        table: None,
        sql: true,
    }
}

pub(super) fn resolve<'a>(
    cx: &Cx<'a>,
    metric: &Name,
    offset: &Spanned<Lookback>,
    value: &Spanned<Comparison>,
    diags: &mut Diagnostics,
) -> Resolved<'a> {
    let mut refs = Vec::new();
    let kind = super::metric_ref(cx, metric, diags, &mut refs).then(|| {
        Kind::PeriodOverPeriod(PeriodOverPeriod {
            metric: metric.value.clone(),
            offset: offset.value,
            offset_span: offset.span,
            value: value.value,
        })
    });
    Resolved {
        refs,
        ..Resolved::of(kind)
    }
}

impl PeriodOverPeriod {
    pub(super) fn describe(&self, d: &mut Description) {
        let (m, o) = (&self.metric, self.offset.text());
        let what = match self.value {
            Comparison::Previous => format!("`{m}` {o}"),
            Comparison::Difference => format!("`{m}` minus its value {o}"),
            Comparison::Ratio => {
                format!("`{m}` over its value {o}; null when that is 0 or null")
            }
            Comparison::Growth => {
                let over = match self.offset {
                    Lookback::Offset(off) => format!("over {}", off.text()),
                    Lookback::ToGrain(g) => format!("since the start of its {}", g.as_str()),
                };
                format!(
                    "growth of `{m}` {over}: (value - value {o}) / value {o}; null when the earlier value is 0 or null"
                )
            }
        };
        d.line("compare", what);
        let earlier = match self.offset {
            Lookback::Offset(off) => {
                let o = off.text();
                format!(
                    "each bucket's value computed over the same local wall-clock period moved back {o} (read from before `--from` when it lies there); without `--by`, the range moved back {o}"
                )
            }
            Lookback::ToGrain(g) => {
                let g = g.as_str();
                format!(
                    "each bucket against the whole bucket that starts its calendar {g} (the {g}'s first bucket, itself included; read from before `--from` when it lies there); needs a `--by` whose buckets start every {g}"
                )
            }
        };
        d.line("earlier", earlier);
    }
}
