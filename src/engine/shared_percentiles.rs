//! execute: percentiles of one column read once. The logical optimizer rule
//! that merges the exact percentiles and medians of one aggregate that read
//! the same values under the same filter (`latency_p50`, `latency_p95` and
//! `latency_p99` of a table) into one `metricc_percentiles` call, so that
//! their values are held once and selected once, not once per metric.
//!
//! A projection above the aggregate gives each merged metric its old name,
//! from the struct's field, so the plan's schema is unchanged. The
//! `explain --sql` text is written from the plan before optimization and
//! keeps each percentile.
//!
//! A `median` is merged when its values are `Float64` (every median metricc
//! lowers is: `median` takes its argument as a float), and it keeps
//! DataFusion's arithmetic (`Point::Median`). Under a memory limit a median
//! alone is also moved to the bounded store: DataFusion's holds all of a
//! group's values in memory however many there are.

use crate::lower::functions::{PERCENTILE, Point};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{AggregateFunction, Alias};
use datafusion::logical_expr::{
    Aggregate, AggregateUDF, Expr, ExprSchemable, LogicalPlan, Projection,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use std::sync::Arc;

/// The optimizer rule, with the function to merge into (its budget is the
/// run's).
#[derive(Debug)]
pub struct SharedPercentiles {
    pub percentiles: Arc<AggregateUDF>,
    /// Whether a lone median moves to the bounded store too (a run under a
    /// memory limit).
    pub bounded: bool,
}

/// The point an aggregate expression asks for, and what it reads: its
/// values and its filter. None when it is not a mergeable percentile.
fn point_of<'a>(e: &'a Expr, input: &DFSchema) -> Option<(Point, &'a Expr, Option<&'a Expr>)> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = strip(e) else {
        return None;
    };
    if params.distinct || !params.order_by.is_empty() || params.null_treatment.is_some() {
        return None;
    }
    let x = params.args.first()?;
    if !x
        .get_type(input)
        .is_ok_and(|t| t == datafusion::arrow::datatypes::DataType::Float64)
    {
        return None;
    }
    let point = match (func.name(), &params.args[..]) {
        ("median", [_]) => Point::Median,
        (PERCENTILE, [_, Expr::Literal(ScalarValue::Float64(Some(p)), _)]) => Point::Fraction(*p),
        _ => return None,
    };
    Some((point, x, params.filter.as_deref()))
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(Alias { expr, .. }) => expr,
        other => other,
    }
}

impl OptimizerRule for SharedPercentiles {
    fn name(&self) -> &str {
        "metricc_shared_percentiles"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(agg) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // Grouping sets add a column of their own after the groups: none
        // of metricc's plans has them, and they are left alone.
        if agg
            .group_expr
            .iter()
            .any(|g| matches!(g, Expr::GroupingSet(_)))
        {
            return Ok(Transformed::no(plan));
        }
        // Sets of aggregates reading the same values under the same filter:
        // (values, filter, members as (index, point)).
        type Set<'a> = (&'a Expr, Option<&'a Expr>, Vec<(usize, Point)>);
        let mut sets: Vec<Set> = Vec::new();
        for (i, e) in agg.aggr_expr.iter().enumerate() {
            let Some((point, x, filter)) = point_of(e, agg.input.schema()) else {
                continue;
            };
            match sets.iter_mut().find(|s| s.0 == x && s.1 == filter) {
                Some(set) => set.2.push((i, point)),
                None => sets.push((x, filter, vec![(i, point)])),
            }
        }
        sets.retain(|s| s.2.len() > 1 || (self.bounded && s.2[0].1 == Point::Median));
        if sets.is_empty() {
            return Ok(Transformed::no(plan));
        }

        let groups = agg.group_expr.len();
        let schema = Arc::clone(&agg.schema);
        // Each merged aggregate: its set's column and its field.
        let mut merged: Vec<Option<(String, usize)>> = vec![None; agg.aggr_expr.len()];
        let mut aggr_expr = Vec::new();
        for (i, e) in agg.aggr_expr.iter().enumerate() {
            let Some(set) = sets.iter().position(|s| s.2.iter().any(|m| m.0 == i)) else {
                aggr_expr.push(e.clone());
                continue;
            };
            let (x, filter, members) = &sets[set];
            let name = format!("__metricc_percentiles_{set}");
            if members[0].0 == i {
                // The merged call takes the place of the set's first member.
                let mut args = vec![(*x).clone()];
                args.extend(members.iter().map(|m| Expr::Literal(m.1.literal(), None)));
                let call = Expr::AggregateFunction(AggregateFunction::new_udf(
                    Arc::clone(&self.percentiles),
                    args,
                    false,
                    filter.map(|f| Box::new(f.clone())),
                    vec![],
                    None,
                ));
                aggr_expr.push(call.alias(&name));
            }
            let field = members.iter().position(|m| m.0 == i).unwrap_or(0) + 1;
            merged[i] = Some((name, field));
        }
        let input = Arc::clone(&agg.input);
        let new_agg = Aggregate::try_new(input, agg.group_expr.clone(), aggr_expr)?;

        // The old columns, in the old order and with the old names.
        let columns = schema
            .iter()
            .enumerate()
            .map(|(i, (qualifier, field))| {
                let old = Column::new(qualifier.cloned(), field.name());
                match i.checked_sub(groups).and_then(|a| merged[a].as_ref()) {
                    None => Expr::Column(old),
                    Some((name, p)) => datafusion::functions::core::expr_fn::get_field(
                        Expr::Column(Column::from_name(name)),
                        format!("p{p}"),
                    )
                    .alias_qualified(qualifier.cloned(), field.name()),
                }
            })
            .collect();
        let projection = Projection::try_new_with_schema(
            columns,
            Arc::new(LogicalPlan::Aggregate(new_agg)),
            schema,
        )?;
        Ok(Transformed::yes(LogicalPlan::Projection(projection)))
    }
}
