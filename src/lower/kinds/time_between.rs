//! lower: `time_between` metrics, a two-step sequence group of each
//! entity's first `from` event, and a statistic of the durations.

use crate::lower::functions::sweep::Spec;
use crate::lower::planner::Planner;
use crate::lower::sequence::{self, Sequence};
use crate::semantic::kinds::time_between::TimeBetween;
use crate::semantic::model::Metric;
use crate::syntax::ast;
use datafusion::common::Result;
use datafusion::logical_expr::Expr;

pub(super) fn value(
    p: &mut Planner,
    m: &Metric,
    k: &TimeBetween,
    filters: &[ast::Expr],
) -> Result<Expr> {
    let filter = p.lower_filters(&k.source, filters)?;
    let rows = p.rows(&k.source)?;
    let seq = Sequence {
        spec: Spec {
            // The `to` event may be the `from` event itself.
            reuse: true,
            first_only: true,
            ..Spec::ordered(
                2,
                k.within
                    .as_ref()
                    .map_or(i64::MAX, |w| w.millis.saturating_mul(1000)),
            )
        },
        steps: vec![rows.lower(&k.from)?, rows.lower(&k.to)?],
        exclusions: vec![],
        hold: vec![],
        filter,
        names: vec!["from".into(), "to".into()],
    };
    let (g, s) = p.sequence_group(&k.source, seq)?;
    let d = sequence::duration(
        p.cx.functions,
        k.statistic,
        s,
        0,
        1,
        sequence::unit_micros(k.unit),
    );
    p.sequence_aggregate(g, &m.name, d, false)
}
