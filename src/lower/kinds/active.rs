//! lower: `active` metrics, a membership of the source's activity group.

use crate::lower::activity::Rule;
use crate::lower::functions::activity::Test;
use crate::lower::planner::Planner;
use crate::semantic::kinds::active::{Active, Window};
use crate::semantic::model::Metric;
use crate::syntax::ast;
use datafusion::common::Result;
use datafusion::logical_expr::Expr;

pub(super) fn value(
    p: &mut Planner,
    m: &Metric,
    k: &Active,
    filters: &[ast::Expr],
) -> Result<Expr> {
    let rule = match &k.window {
        Window::Rolling(w) => Rule::Trailing(w.millis),
        Window::Calendar(g) => Rule::ToDate(*g),
    };
    p.members(&m.name, &k.source, filters, Test::Active, rule)
}
