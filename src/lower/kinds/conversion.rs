//! lower: `conversion` metrics: counts of base events and of the
//! conversions credited to them, over the conversion row producer
//! (`lower::conversion`).

use crate::lower::conversion::{ConversionKey, ENTITY, KIND};
use crate::lower::expr;
use crate::lower::group::{GroupKey, Producer};
use crate::lower::planner::Planner;
use crate::semantic::kinds::conversion::Conversion;
use crate::semantic::model::Metric;
use crate::syntax::ast::{self, ConversionCount, ConversionValue};
use datafusion::common::Result;
use datafusion::functions_aggregate::expr_fn::{count, count_distinct};
use datafusion::logical_expr::{Expr, lit};

pub(super) fn value(
    p: &mut Planner,
    m: &Metric,
    k: &Conversion,
    filters: &[ast::Expr],
) -> Result<Expr> {
    let base = p.rows(&k.source)?.lower(&k.base)?;
    let conversion = p.rows(&k.conversion_source)?.lower(&k.conversion)?;
    let key = ConversionKey {
        base,
        conversion_source: k.conversion_source.clone(),
        conversion,
        conversion_entity: k.conversion_entity.clone(),
        // Filters apply to the base events, as MetricFlow's.
        filter: p.lower_filters(&k.source, filters)?,
        within_micros: k.within.as_ref().map(|w| w.millis.saturating_mul(1000)),
        constant: k.constant_properties.clone(),
    };
    let g = p.group(GroupKey {
        source: k.source.clone(),
        producer: Producer::Conversion(Box::new(key)),
    });
    let counted = |kind: i32| {
        let of = Some(expr::column(KIND).eq(lit(kind)));
        match k.count {
            ConversionCount::Rows => (count(lit(1)), of),
            ConversionCount::Entities => (count_distinct(expr::column(ENTITY)), of),
        }
    };
    let conversions = p.sequence_aggregate(g, &m.name, counted(1), true)?;
    let opportunities = p.sequence_aggregate(g, &m.name, counted(0), true)?;
    Ok(match k.value {
        ConversionValue::Rate => expr::divide(conversions, opportunities),
        ConversionValue::Conversions => conversions,
        ConversionValue::Opportunities => opportunities,
    })
}
