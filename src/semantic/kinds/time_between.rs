//! resolve: `time_between` metrics, per entity the time from its first
//! `from` event to its first `to` event at or after it, summarised.

use super::{Description, Input, Reads, Shape, Text};
use crate::diagnostics::Diagnostics;
use crate::semantic::expr::Checker;
use crate::span::Spanned;
use crate::syntax::ast::{Duration, Expr, Statistic, TimeUnit};

/// The YAML key of the kind.
pub const KEY: &str = "time_between";

/// A resolved `time_between`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeBetween {
    pub source: String,
    pub from: Expr,
    pub to: Expr,
    pub statistic: Statistic,
    pub unit: TimeUnit,
    /// The longest duration that counts, inclusive.
    pub within: Option<Duration>,
}

pub(super) fn shape() -> Shape {
    Shape {
        key: KEY,
        reads: Reads::Source,
        needs_entity: true,
        takes_occurrence: false,
        column: true,
        table: None,
        sql: false,
    }
}

pub(super) fn resolve(
    input: &Input,
    from: &Expr,
    to: &Expr,
    statistic: &Spanned<Statistic>,
    unit: &Spanned<TimeUnit>,
    within: &Option<Spanned<Duration>>,
    diags: &mut Diagnostics,
) -> Option<TimeBetween> {
    Checker::new(diags, input.row()).predicate(from, "`from`");
    Checker::new(diags, input.row()).predicate(to, "`to`");
    Some(TimeBetween {
        source: input.src?.def.name.value.clone(),
        from: from.clone(),
        to: to.clone(),
        statistic: statistic.value,
        unit: unit.value,
        within: within.as_ref().map(|w| w.value.clone()),
    })
}

impl TimeBetween {
    pub(super) fn describe(&self, text: Text, d: &mut Description) {
        d.line(
            "from",
            format!(
                "{} — each entity's first such event over all time; it enters the bucket it falls in, if in the range",
                text(self.from.span)
            ),
        );
        d.line(
            "to",
            format!(
                "{} — the first such event at or after it (the same event counts: 0){}",
                text(self.to.span),
                self.within
                    .as_ref()
                    .map(|w| format!(", at most {} later (inclusive)", w.text))
                    .unwrap_or_default()
            ),
        );
        let stat = match self.statistic {
            Statistic::Avg => "mean".to_string(),
            Statistic::Median => "median (the mean of the middle two for an even count)".into(),
            Statistic::Min => "minimum".into(),
            Statistic::Max => "maximum".into(),
            Statistic::Percentile(q) => {
                format!(
                    "{}th percentile (interpolated, like quantile_cont)",
                    q * 100.0
                )
            }
        };
        d.line(
            "value",
            format!(
                "{stat} of the durations in {}, over entities with both events",
                self.unit.as_str()
            ),
        );
    }
}
