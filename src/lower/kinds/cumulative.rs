//! lower: `cumulative` metrics, the base measure in a scan group whose rows
//! are each bucket's window (a range join of the spine to the rows).

use crate::lower::planner::Planner;
use crate::lower::scan::Window;
use crate::semantic::kinds::cumulative::{self, Cumulative};
use crate::syntax::ast;
use datafusion::common::Result;
use datafusion::logical_expr::Expr;

pub(super) fn value(p: &mut Planner, k: &Cumulative, filters: &[ast::Expr]) -> Result<Expr> {
    let w = match &k.window {
        cumulative::Window::Trailing(d) => Window::Trailing(d.millis),
        cumulative::Window::ToDate(g) => Window::ToDate(*g),
        cumulative::Window::AllTime => Window::AllTime,
    };
    let mut all = filters.to_vec();
    all.extend(k.base.filter.clone());
    p.measure(&k.base.name, &k.base.measure, &all, Some(w), None)
}
