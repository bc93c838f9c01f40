//! lower: `period_over_period` metrics: a metric's value per grid row
//! against its value over the same period moved back by the offset (the
//! planner's table of that offset).

use crate::lower::expr;
use crate::lower::planner::Planner;
use crate::semantic::kinds::period_over_period::PeriodOverPeriod;
use crate::syntax::ast::{self, Comparison};
use datafusion::common::Result;
use datafusion::logical_expr::Expr;

pub(super) fn value(p: &mut Planner, k: &PeriodOverPeriod, filters: &[ast::Expr]) -> Result<Expr> {
    let previous = p.previous(&k.metric, filters, k.offset);
    Ok(match k.value {
        Comparison::Previous => previous,
        Comparison::Difference => p.value(&k.metric, filters)? - previous,
        Comparison::Ratio => expr::divide(p.value(&k.metric, filters)?, previous),
        Comparison::Growth => {
            let current = p.value(&k.metric, filters)?;
            expr::divide(current - previous.clone(), previous)
        }
    })
}
