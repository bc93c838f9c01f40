//! resolve: `cumulative` metrics, running totals of a measure: over all
//! time, a trailing window, or to date.

use super::measure::Base;
use super::{Cx, Description, Kind, Reads, Resolved, Shape};
use crate::diagnostics::Diagnostics;
use crate::span::Spanned;
use crate::syntax::ast::{Duration, Grain, Name};

/// The YAML key of the kind.
pub const KEY: &str = "cumulative";

/// A resolved running total.
#[derive(Debug, Clone, PartialEq)]
pub struct Cumulative {
    /// The measure metric it accumulates.
    pub base: Base,
    pub window: Window,
}

/// The window of a running total, ending at each bucket's end.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// Every row before the bucket's end.
    AllTime,
    /// The trailing duration.
    Trailing(Duration),
    /// From the start of the calendar period holding the bucket's last instant.
    ToDate(Grain),
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
    window: &Option<Spanned<Duration>>,
    to_date: &Option<Spanned<Grain>>,
    diags: &mut Diagnostics,
) -> Resolved<'a> {
    let mut refs = Vec::new();
    let kind = if super::metric_ref(cx, metric, diags, &mut refs) {
        // Not a measure: reported with the other uses of metrics.
        super::base_measure(cx, metric).map(|base| {
            Kind::Cumulative(Cumulative {
                base,
                window: match (window, to_date) {
                    (Some(w), _) => Window::Trailing(w.value.clone()),
                    (None, Some(g)) => Window::ToDate(g.value),
                    (None, None) => Window::AllTime,
                },
            })
        })
    } else {
        None
    };
    Resolved {
        refs,
        ..Resolved::of(kind)
    }
}

/// What a running total may be built on.
pub(crate) fn accepts(target: &Shape, name: &str) -> Option<String> {
    if target.key == super::active::KEY {
        // PostHog's cumulative line over unique users: distinct entities
        // to date, which a sum of window counts would overcount.
        return Some(format!(
            "a running total of `{name}` would count an entity again in every window; for distinct entities to date, accumulate a `measure: count_distinct(<entity>)` with the same filter (a running total recomputes it over all rows, it does not add)"
        ));
    }
    (target.key != super::measure::KEY).then(|| {
        format!(
            "a running total needs a `measure` metric; `{name}` is a {} metric",
            target.key
        )
    })
}

impl Cumulative {
    pub(super) fn describe(&self, d: &mut Description) {
        let how = match &self.window {
            Window::Trailing(w) => format!(
                "over the trailing {} ending at each bucket's end (local time)",
                w.text
            ),
            Window::ToDate(g) => format!(
                "from the start of the {} holding each bucket's end",
                g.as_str()
            ),
            Window::AllTime => {
                "over all rows before each bucket's end, including rows before the range".into()
            }
        };
        d.line("running", format!("total of `{}` {how}", self.base.name));
    }
}
