//! lower: `formula` metrics, arithmetic on other metrics' values per grid row.

use crate::lower::expr::{self, AggCall, Rows, Scope};
use crate::lower::planner::Planner;
use crate::semantic::kinds::formula::Formula;
use crate::syntax::ast;
use datafusion::common::{DFSchema, Result, internal_err};
use datafusion::logical_expr::Expr;

pub(super) fn value(p: &mut Planner, k: &Formula, filters: &[ast::Expr]) -> Result<Expr> {
    let rows = Rows {
        schema: &DFSchema::empty(),
        tz: p.cx.tz,
        functions: p.cx.functions,
    };
    let mut scope = FormulaScope {
        planner: p,
        filters,
    };
    expr::lower(&k.expr, &mut scope, &rows)
}

/// Formulas: names are metrics.
struct FormulaScope<'p, 'a> {
    planner: &'p mut Planner<'a>,
    filters: &'p [ast::Expr],
}

impl Scope for FormulaScope<'_, '_> {
    fn name(&mut self, name: &str) -> Result<Expr> {
        self.planner.value(name, self.filters)
    }
    fn aggregate(&mut self, _: AggCall) -> Result<Expr> {
        internal_err!("an aggregate in a formula passed the checker")
    }
}
