//! resolve: `ratio` metrics, one metric over another per bucket and breakdown.

use super::{Cx, Description, Kind, Reads, Resolved, Shape};
use crate::diagnostics::Diagnostics;
use crate::syntax::ast::Name;

/// The YAML key of the kind.
pub const KEY: &str = "ratio";

/// A resolved ratio: both names are metrics of the model that give a column.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub numerator: String,
    pub denominator: String,
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
    numerator: &Name,
    denominator: &Name,
    diags: &mut Diagnostics,
) -> Resolved<'a> {
    let mut refs = Vec::new();
    let found = [numerator, denominator]
        .map(|n| super::metric_ref(cx, n, diags, &mut refs))
        .iter()
        .all(|f| *f);
    let kind = found.then(|| {
        Kind::Ratio(Ratio {
            numerator: numerator.value.clone(),
            denominator: denominator.value.clone(),
        })
    });
    Resolved {
        refs,
        ..Resolved::of(kind)
    }
}

impl Ratio {
    pub(super) fn describe(&self, d: &mut Description) {
        d.line(
            "ratio",
            format!(
                "{} / {} per bucket and breakdown (a ratio of totals, not an average of ratios); null when the denominator is 0",
                self.numerator, self.denominator
            ),
        );
    }
}
