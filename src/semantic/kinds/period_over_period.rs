//! resolve: `period_over_period` metrics, a metric against its own value a
//! calendar offset earlier (MetricFlow's `offset_window`): the earlier
//! value, the difference, the ratio or the growth.

use super::{Cx, Description, Kind, Reads, Resolved, Shape};
use crate::diagnostics::Diagnostics;
use crate::span::{Span, Spanned};
use crate::syntax::ast::{Comparison, Name, Offset};

/// The YAML key of the kind.
pub const KEY: &str = "period_over_period";

/// A resolved period-over-period metric: `metric` gives a column.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodOverPeriod {
    pub metric: String,
    pub offset: Offset,
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
    offset: &Spanned<Offset>,
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
            Comparison::Previous => format!("`{m}` {o} earlier"),
            Comparison::Difference => format!("`{m}` minus its value {o} earlier"),
            Comparison::Ratio => {
                format!("`{m}` over its value {o} earlier; null when that is 0 or null")
            }
            Comparison::Growth => format!(
                "growth of `{m}` over {o}: (value - value {o} earlier) / value {o} earlier; null when the earlier value is 0 or null"
            ),
        };
        d.line("compare", what);
        d.line(
            "earlier",
            format!(
                "each bucket's value computed over the same local wall-clock period moved back {o} (read from before `--from` when it lies there); without `--by`, the range moved back {o}"
            ),
        );
    }
}
