//! lower: `retention` metrics, the retention table (see
//! [`crate::lower::activity::table`]).

use crate::lower::activity;
use crate::lower::planner::Planner;
use crate::semantic::kinds::retention::Retention;
use crate::semantic::model::Metric;
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::LogicalPlan;

pub(super) fn table(p: &mut Planner, m: &Metric, k: &Retention) -> Result<LogicalPlan> {
    let source = k.source.as_str();
    let filter = p.lower_filters(source, &m.filter)?;
    let (Some(src), Some(table)) = (p.cx.model.source(source), p.cx.tables.get(source)) else {
        return internal_err!("no source `{source}`");
    };
    activity::table(
        &p.cx,
        &activity::RetentionPlan {
            retention: k,
            source: src,
            table,
            filter,
        },
    )
}
