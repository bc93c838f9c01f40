//! lower: the metric kinds. Each module turns its resolved kind into values
//! over the planner's scan groups (and, for kinds that give one, its own
//! table); the two dispatch functions here hand off to them.

mod active;
mod churn;
mod cohort;
mod conversion;
mod cumulative;
mod formula;
mod funnel;
mod measure;
mod period_over_period;
mod ratio;
mod retention;
mod sequence;
mod time_between;

use super::planner::Planner;
use super::time::Bucket;
use crate::semantic::kinds::Kind;
use crate::semantic::model::Metric;
use crate::syntax::ast;
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::{Expr, LogicalPlan};

/// The value of metric `m` per grid row, its rows under `filters` (its own
/// filter and those of the metrics above it).
pub(crate) fn value(p: &mut Planner, m: &Metric, filters: &[ast::Expr]) -> Result<Expr> {
    match &m.kind {
        Kind::Measure(k) => measure::value(p, m, k, filters),
        Kind::Ratio(k) => ratio::value(p, k, filters),
        Kind::Formula(k) => formula::value(p, k, filters),
        Kind::Cumulative(k) => cumulative::value(p, k, filters),
        Kind::Funnel(k) => funnel::value(p, m, k, filters),
        Kind::TimeBetween(k) => time_between::value(p, m, k, filters),
        Kind::Active(k) => active::value(p, m, k, filters),
        Kind::Churn(k) => churn::value(p, m, k, filters),
        Kind::Cohort(k) => cohort::value(p, m, k, filters),
        Kind::PeriodOverPeriod(k) => period_over_period::value(p, k, filters),
        Kind::Conversion(k) => conversion::value(p, m, k, filters),
        Kind::Sequence(k) => sequence::value(p, m, k, filters),
        Kind::Retention(_) => internal_err!("the retention matrix `{}` used as a column", m.name),
    }
}

/// The table of its own that metric `m` gives (its shape says whether).
pub(crate) fn table(p: &mut Planner, m: &Metric, buckets: &[Bucket]) -> Result<LogicalPlan> {
    match &m.kind {
        Kind::Funnel(k) => funnel::table(p, m, k, buckets),
        Kind::Retention(k) => retention::table(p, m, k),
        Kind::Cohort(k) => cohort::table(p, m, k),
        Kind::Measure(_)
        | Kind::Ratio(_)
        | Kind::Formula(_)
        | Kind::Cumulative(_)
        | Kind::TimeBetween(_)
        | Kind::Active(_)
        | Kind::Churn(_)
        | Kind::PeriodOverPeriod(_)
        | Kind::Conversion(_)
        | Kind::Sequence(_) => internal_err!("`{}` gives no table of its own", m.name),
    }
}
