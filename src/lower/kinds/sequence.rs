//! lower: `sequence` metrics: one `metricc_sequence` aggregate in the plain
//! scan group of the source, over the rows for which a condition holds
//! (`lower::functions::pattern`).

use crate::lower::expr::{self, AggCall};
use crate::lower::functions::{self, PatternSpec};
use crate::lower::planner::Planner;
use crate::lower::time;
use crate::semantic::kinds::sequence::Sequence;
use crate::semantic::model::Metric;
use crate::syntax::ast::{self, SequenceValue};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::{Expr, cast};

pub(super) fn value(
    p: &mut Planner,
    m: &Metric,
    k: &Sequence,
    filters: &[ast::Expr],
) -> Result<Expr> {
    let rows = p.rows(&k.source)?;
    let conditions = k
        .conditions
        .iter()
        .map(|(_, e)| rows.lower(e))
        .collect::<Result<Vec<_>>>()?;
    let (Some(source), Some(table)) = (p.cx.model.source(&k.source), p.cx.tables.get(&k.source))
    else {
        return internal_err!("no source `{}`", k.source);
    };
    let Some(entity) = &source.entity else {
        return internal_err!("sequence `{}` on a source without an entity", m.name);
    };
    let time_ty = crate::lower::time_type(source, table)?;
    let t = time::instant_micros(expr::column(&source.time), &time_ty, p.cx.tz)?;
    let entity = cast(expr::column(entity), DataType::Utf8);
    // The rows for which some condition holds: no other takes part.
    let any = conditions.iter().cloned().reduce(Expr::or);
    let spec = PatternSpec {
        actions: k.actions.clone(),
        matches: k.value == SequenceValue::Matches,
    };
    let call = AggCall {
        aggregate: functions::sequence(&spec, entity, t, conditions),
        filter: any,
        zero_when_empty: true,
    };
    let source = k.source.clone();
    p.scan_aggregate(&m.name, &source, filters, call, true)
}
