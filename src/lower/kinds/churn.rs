//! lower: `churn` metrics, memberships of the source's activity group
//! (churned, previous, new ...) and arithmetic on their counts.

use crate::lower::activity::Rule;
use crate::lower::expr;
use crate::lower::functions::activity::Test;
use crate::lower::planner::Planner;
use crate::semantic::kinds::churn::Churn;
use crate::semantic::model::Metric;
use crate::syntax::ast::{self, ChurnValue};
use datafusion::common::Result;
use datafusion::logical_expr::Expr;

pub(super) fn value(p: &mut Planner, m: &Metric, k: &Churn, filters: &[ast::Expr]) -> Result<Expr> {
    let rule = Rule::Churn(k.window.millis);
    let mut count = |test| p.members(&m.name, &k.source, filters, test, rule);
    Ok(match k.value {
        ChurnValue::Churned | ChurnValue::Dormant => count(Test::Churned)?,
        ChurnValue::Rate => {
            let churned = count(Test::Churned)?;
            expr::divide(churned, count(Test::Previous)?)
        }
        ChurnValue::New => count(Test::New)?,
        ChurnValue::Returning => count(Test::Returning)?,
        ChurnValue::Resurrected => count(Test::Resurrected)?,
        ChurnValue::NetGrowth => {
            let new = count(Test::New)?;
            new - count(Test::Churned)?
        }
    })
}
