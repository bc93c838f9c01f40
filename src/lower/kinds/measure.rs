//! lower: `measure` metrics, aggregates placed in the scan group of their
//! source (plain rows, or each entity's first or last match).

use crate::lower::planner::Planner;
use crate::semantic::kinds::measure::Measure;
use crate::semantic::model::Metric;
use crate::syntax::ast;
use datafusion::common::Result;
use datafusion::logical_expr::Expr;

pub(super) fn value(
    p: &mut Planner,
    m: &Metric,
    k: &Measure,
    filters: &[ast::Expr],
) -> Result<Expr> {
    p.measure(&m.name, k, filters, None, None)
}
