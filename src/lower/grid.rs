//! lower: the grids, one row for every cell a result table must have, to
//! which values are left-joined so that empty cells are there: every bucket
//! of the range (the metrics table) or every cohort period and period since
//! (cohort and retention tables), crossed with the breakdown values seen.

use super::columns::{BEGUN, BUCKET, COHORT, PERIOD};
use super::{Ctx, expr, time};
use crate::syntax::ast::Grain;
use datafusion::common::{Column, Result, internal_err};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, lit};

/// The grid of the metrics table, aliased `grid`: `__bucket` (every bucket)
/// and the breakdown values seen in any of the groups `built`.
pub fn buckets(
    cx: &Ctx,
    buckets: &[time::Bucket],
    built: &[LogicalPlan],
) -> Result<LogicalPlanBuilder> {
    let query = cx.query;
    let spine_rows: Vec<Vec<Expr>> = buckets
        .iter()
        .map(|b| vec![time::wall_lit(b.start)])
        .collect();
    let mut grid = LogicalPlanBuilder::values(spine_rows)?.project(vec![
        Expr::Column(Column::from_name("column1")).alias(BUCKET),
    ])?;
    if !query.group_by.is_empty() {
        let mut combos: Option<LogicalPlanBuilder> = None;
        for plan in built {
            let dims = LogicalPlanBuilder::from(plan.clone())
                .project(query.group_by.iter().map(|d| expr::column(d)))?
                .build()?;
            combos = Some(match combos {
                None => LogicalPlanBuilder::from(dims),
                Some(c) => c.union(dims)?,
            });
        }
        let Some(combos) = combos else {
            return internal_err!("a breakdown without any scan group");
        };
        grid = grid.cross_join(combos.distinct()?.alias("combos")?.build()?)?;
    }
    // The grid's columns are the join keys. A projection under the alias,
    // so SQL writers qualify the whole grid.
    let keys: Vec<&str> = std::iter::once(BUCKET)
        .chain(query.group_by.iter().map(String::as_str))
        .collect();
    grid.project(keys.iter().map(|k| Expr::Column(Column::from_name(*k))))?
        .alias("grid")
}

/// The grid of a cohort table, aliased `grid`: `__cohort` (every cohort
/// period of the range), `__period` (0 to `last`), `__begun` (whether that
/// period starts before the range's end) and the breakdown values seen in
/// `seen`.
pub fn cohorts(
    cx: &Ctx,
    period: Grain,
    last: i64,
    seen: &datafusion::logical_expr::LogicalPlan,
) -> Result<LogicalPlanBuilder> {
    let range = cx.query.range;
    let dims = &cx.query.group_by;
    let spine = time::spine(Some(period), cx.model.project.week_start, cx.tz, range)
        .or_else(|e| datafusion::common::plan_err!("{e}"))?;
    let mut rows = Vec::new();
    for c in &spine {
        let mut start = c.start;
        for k in 0..=last {
            rows.push(vec![time::wall_lit(c.start), lit(k), lit(start < range.to)]);
            start = time::next(period, start).unwrap_or(range.to);
        }
    }
    let mut grid = LogicalPlanBuilder::values(rows)?.project(vec![
        expr::column("column1").alias(COHORT),
        expr::column("column2").alias(PERIOD),
        expr::column("column3").alias(BEGUN),
    ])?;
    if !dims.is_empty() {
        let combos = LogicalPlanBuilder::from(seen.clone())
            .project(dims.iter().map(|d| expr::column(d)))?
            .distinct()?
            .alias("combos")?
            .build()?;
        grid = grid.cross_join(combos)?;
    }
    let mut keys: Vec<&str> = vec![COHORT, PERIOD, BEGUN];
    keys.extend(dims.iter().map(String::as_str));
    grid.project(keys.iter().map(|k| Expr::Column(Column::from_name(*k))))?
        .alias("grid")
}

/// `grid.k IS NOT DISTINCT FROM other.k` for each of `keys`.
pub fn on(other: &str, keys: &[&str]) -> Vec<Expr> {
    keys.iter()
        .map(|k| {
            datafusion::logical_expr::binary_expr(
                Expr::Column(Column::new(Some("grid"), *k)),
                datafusion::logical_expr::Operator::IsNotDistinctFrom,
                Expr::Column(Column::new(Some(other), *k)),
            )
        })
        .collect()
}
