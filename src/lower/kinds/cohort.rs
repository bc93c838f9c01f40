//! lower: `cohort` metrics, the base measure in a cohort group (see
//! [`crate::lower::cohort`]): a column by the cohort event's bucket, and
//! the table by cohort and period since.

use crate::lower::cohort::{self as rows, CohortKey};
use crate::lower::expr;
use crate::lower::expr::{AggCall, Scope};
use crate::lower::group::{GroupKey, Producer};
use crate::lower::planner::Planner;
use crate::semantic::kinds::cohort::Cohort;
use crate::semantic::model::Metric;
use crate::syntax::ast;
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::{Expr, LogicalPlan, lit};

pub(super) fn value(
    p: &mut Planner,
    m: &Metric,
    c: &Cohort,
    filters: &[ast::Expr],
) -> Result<Expr> {
    let key = key(p, c)?;
    let mut all = filters.to_vec();
    all.extend(c.base.filter.clone());
    let v = p.measure(&c.base.name, &c.base.measure, &all, None, Some(key.clone()))?;
    if !c.per_entity {
        return Ok(v);
    }
    let g = p.group(GroupKey {
        source: c.base.measure.source.clone(),
        producer: Producer::Cohort(key),
    });
    let size = (
        datafusion::functions_aggregate::expr_fn::count_distinct(expr::column(
            crate::lower::columns::COHORT_ENTITY,
        )),
        None,
    );
    let size = p.sequence_aggregate(g, &m.name, size, true)?;
    Ok(expr::divide(v, size))
}

/// The table of cohort metric `m`, by cohort and period since.
pub(super) fn table(p: &mut Planner, m: &Metric, c: &Cohort) -> Result<LogicalPlan> {
    let key = key(p, c)?;
    let source = c.base.measure.source.as_str();
    let rows = p.rows(source)?;
    let filter = p.lower_filters(source, m.filter.iter().chain(&c.base.filter))?;
    let mut scope = CollectScope {
        aggs: Vec::new(),
        filter,
    };
    let value = expr::lower(&c.base.measure.measure, &mut scope, &rows)?;
    rows::table(
        &p.cx,
        rows::TableSpec {
            key: &key,
            source,
            name: &m.name,
            aggs: scope.aggs,
            value,
            cumulative: c.cumulative,
            per_entity: c.per_entity,
        },
    )
}

/// How cohort metric `c` finds its cohorts.
fn key(p: &Planner, c: &Cohort) -> Result<CohortKey> {
    Ok(CohortKey {
        source: c.source.clone(),
        event: p.rows(&c.source)?.lower(&c.event)?,
        period: c.period,
        periods: c.periods,
    })
}

/// A measure's aggregates, collected as named columns, each with the rows'
/// filter.
struct CollectScope {
    aggs: Vec<(String, Expr)>,
    filter: Option<Expr>,
}

impl Scope for CollectScope {
    fn name(&mut self, name: &str) -> Result<Expr> {
        internal_err!("column `{name}` outside an aggregate passed the checker")
    }
    fn aggregate(&mut self, call: AggCall) -> Result<Expr> {
        let filter = match (&self.filter, call.filter) {
            (None, f) => f,
            (Some(r), None) => Some(r.clone()),
            (Some(r), Some(f)) => Some(r.clone().and(f)),
        };
        let name = format!("__v{}", self.aggs.len());
        self.aggs
            .push((name.clone(), expr::with_filter(call.aggregate, filter)?));
        let c = expr::column(&name);
        Ok(if call.zero_when_empty {
            datafusion::functions::expr_fn::coalesce(vec![c, lit(0i64)])
        } else {
            c
        })
    }
}
