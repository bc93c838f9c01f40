//! lower: `ratio` metrics, a division of two values per grid row.

use crate::lower::expr;
use crate::lower::planner::Planner;
use crate::semantic::kinds::ratio::Ratio;
use crate::syntax::ast;
use datafusion::common::Result;
use datafusion::logical_expr::Expr;

pub(super) fn value(p: &mut Planner, k: &Ratio, filters: &[ast::Expr]) -> Result<Expr> {
    let n = p.value(&k.numerator, filters)?;
    let d = p.value(&k.denominator, filters)?;
    Ok(expr::divide(n, d))
}
