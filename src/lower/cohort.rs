//! lower: cohort metrics. A measure metric followed per cohort of first event:
//! each entity's first cohort event (over all history) puts it in a cohort;
//! the measure then aggregates the entity's rows from that event on, over
//! the `periods` calendar periods starting with the cohort event's own.
//!
//! The rows are the cohorts left-joined to the measure's source on the
//! entity: one row per cohort entity and measure row in its window (one with
//! nulls for an entity without any), so the cohort's size counts every
//! entity and the measure only real rows (`__present`).

use super::columns::{
    BEGUN, COHORT, COHORT_ENTITY, COHORT_LOCAL, COHORT_TIME, COHORTS, PERIOD, PRESENT, SINCE, SIZE,
};
use super::{Ctx, time};
use super::{expr, grid};
use crate::syntax::ast::{Grain, Weekday};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, Result, internal_err};
use datafusion::functions::expr_fn::date_part;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, cast, lit};

/// How a cohort group finds its cohorts.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortKey {
    /// The source of the cohort event.
    pub source: String,
    /// The cohort event predicate, on that source's rows.
    pub event: Expr,
    pub period: Grain,
    pub periods: i64,
}

/// A calendar period number of a wall-clock time: consecutive periods have
/// consecutive numbers.
pub fn period_number(g: Grain, week_start: Weekday, local: Expr) -> Expr {
    let int = |e: Expr| cast(e, DataType::Int64);
    let part = |p: &str, e: Expr| int(date_part(lit(p), e));
    let days = |e: Expr| int(cast(e, DataType::Date32));
    match g {
        // Times after 1970: integer division truncates toward zero.
        Grain::Hour => int(local) / lit(3_600_000_000i64),
        Grain::Day => days(local),
        // Week starts are 7 days apart: whole weeks since a day long before.
        Grain::Week => {
            (days(time::bucket(Grain::Week, week_start, local)) + lit(7_000_000i64)) / lit(7i64)
        }
        Grain::Month => part("year", local.clone()) * lit(12i64) + part("month", local),
        Grain::Quarter => {
            (part("year", local.clone()) * lit(12i64) + part("month", local) - lit(1i64))
                / lit(3i64)
        }
        Grain::Year => part("year", local),
    }
}

/// The cohorts: per entity whose first cohort event (over all history) falls
/// in the range, `__centity`, `__ctime` (its instant), `__clocal` (its
/// wall-clock time) and the breakdown values of that event as `__cd0..`.
pub fn cohorts(cx: &Ctx, key: &CohortKey) -> Result<LogicalPlanBuilder> {
    let (Some(source), Some(table)) = (cx.model.source(&key.source), cx.tables.get(&key.source))
    else {
        return internal_err!("no source `{}`", key.source);
    };
    let Some(entity) = &source.entity else {
        return internal_err!("cohorts on source `{}` without an entity", source.name);
    };
    let ty = super::time_type(source, table)?;
    let column = expr::column(&source.time);
    let range = cx.query.range;
    let pred = time::in_range(column.clone(), &ty, cx.tz, None, range.to).and(key.event.clone());
    let instant = time::instant_micros(column.clone(), &ty, cx.tz)?;
    let local = time::local_time(column, &ty, cx.tz);
    let mut cols = vec![
        expr::column(entity).alias(COHORT_ENTITY),
        instant.alias("__i"),
        local.alias("__l"),
    ];
    for (i, d) in cx.query.group_by.iter().enumerate() {
        cols.push(expr::column(d).alias(format!("__d{i}")));
    }
    // Ties at the first instant go to the lowest breakdown values.
    let mut order = vec![expr::column("__i").sort(true, false)];
    for i in 0..cx.query.group_by.len() {
        order.push(expr::column(&format!("__d{i}")).sort(true, true));
    }
    let mut aggs = vec![
        agg::min(expr::column("__i")).alias(COHORT_TIME),
        agg::first_value(expr::column("__l"), order.clone()).alias(COHORT_LOCAL),
    ];
    for i in 0..cx.query.group_by.len() {
        aggs.push(
            agg::first_value(expr::column(&format!("__d{i}")), order.clone())
                .alias(format!("__cd{i}")),
        );
    }
    let from = time::wall_lit(range.from);
    let to = time::wall_lit(range.to);
    super::events(source, table)?
        .filter(pred)?
        .project(cols)?
        .aggregate(vec![expr::column(COHORT_ENTITY)], aggs)?
        .filter(
            expr::column(COHORT_LOCAL)
                .gt_eq(from)
                .and(expr::column(COHORT_LOCAL).lt(to)),
        )?
        // Named, so that the cohorts of one key, read by the cohort's rows
        // and its sizes, in the metrics table and the metric's own table,
        // run once (`Engine::once`).
        .alias(COHORTS)
}

/// The cohorts left-joined to `source`'s rows of their entities, from the
/// cohort event's instant to the end of period `periods - 1` (and before the
/// range's end): every column of `source`, the cohort columns, `__present`
/// and `__k`, the period since the cohort's.
pub fn rows(cx: &Ctx, key: &CohortKey, source_name: &str) -> Result<LogicalPlanBuilder> {
    let (Some(source), Some(table)) = (cx.model.source(source_name), cx.tables.get(source_name))
    else {
        return internal_err!("no source `{source_name}`");
    };
    let Some(entity) = &source.entity else {
        return internal_err!(
            "cohort measure on source `{}` without an entity",
            source.name
        );
    };
    let ty = super::time_type(source, table)?;
    let column = expr::column(&source.time);
    let range = cx.query.range;
    let week_start = cx.model.project.week_start;
    let mut cols: Vec<Expr> = table
        .schema
        .columns()
        .into_iter()
        .map(|c| Expr::Column(Column::from_name(c.name)))
        .collect();
    let local = time::local_time(column.clone(), &ty, cx.tz);
    cols.push(time::instant_micros(column.clone(), &ty, cx.tz)?.alias("__mi"));
    cols.push(local.clone().alias("__ml"));
    cols.push(period_number(key.period, week_start, local).alias("__mp"));
    cols.push(lit(true).alias(PRESENT));
    let measured = super::events(source, table)?
        .filter(time::in_range(
            column,
            &ty,
            cx.tz,
            Some(range.from),
            range.to,
        ))?
        .project(cols)?
        .alias("__m")?
        .build()?;
    let c = cohorts(cx, key)?;
    let mut ccols = vec![
        expr::column(COHORT_ENTITY),
        expr::column(COHORT_TIME),
        expr::column(COHORT_LOCAL),
        period_number(key.period, week_start, expr::column(COHORT_LOCAL)).alias("__cp"),
    ];
    for i in 0..cx.query.group_by.len() {
        ccols.push(expr::column(&format!("__cd{i}")));
    }
    let m = |n: &str| Expr::Column(Column::new(Some("__m"), n));
    let cc = |n: &str| Expr::Column(Column::new(Some("__c"), n));
    let k = m("__mp") - cc("__cp");
    // "From the cohort event on" compares instants; when either time column
    // is a date (a local day, no instant), wall-clock times.
    let cohort_ty = match (cx.model.source(&key.source), cx.tables.get(&key.source)) {
        (Some(s), Some(t)) => super::time_type(s, t)?,
        _ => return internal_err!("no source `{}`", key.source),
    };
    let after = if time::is_date(&ty) || time::is_date(&cohort_ty) {
        m("__ml").gt_eq(cc(COHORT_LOCAL))
    } else {
        m("__mi").gt_eq(cc(COHORT_TIME))
    };
    let on = vec![
        cc(COHORT_ENTITY).eq(m(entity)),
        after,
        k.clone().gt_eq(lit(0i64)),
        k.clone().lt(lit(key.periods)),
    ];
    let mut out: Vec<Expr> = table
        .schema
        .columns()
        .into_iter()
        .map(|col| m(&col.name).alias(col.name))
        .collect();
    out.push(m(PRESENT).alias(PRESENT));
    out.extend(
        [COHORT_ENTITY, COHORT_TIME, COHORT_LOCAL]
            .iter()
            .map(|n| cc(n).alias(*n)),
    );
    for i in 0..cx.query.group_by.len() {
        let n = format!("__cd{i}");
        out.push(cc(&n).alias(n));
    }
    out.push(k.alias(SINCE));
    c.project(ccols)?
        .alias("__c")?
        .join_on(measured, JoinType::Left, on)?
        .project(out)
}

/// The grouping columns of cohort rows: the cohort's bucket of `grain` (or
/// the range's start) as `__bucket`, then the breakdown values.
pub fn keys(cx: &Ctx, grain: Option<Grain>) -> Vec<Expr> {
    let bucket = match grain {
        Some(g) => time::bucket(g, cx.model.project.week_start, expr::column(COHORT_LOCAL)),
        None => time::wall_lit(cx.query.range.from),
    };
    let mut keys = vec![bucket.alias(super::columns::BUCKET)];
    for (i, d) in cx.query.group_by.iter().enumerate() {
        keys.push(expr::column(&format!("__cd{i}")).alias(d));
    }
    keys
}

/// A cohort metric's table, from the measure's aggregates `aggs` (named
/// columns) and its value over them `value`: per cohort period, breakdown
/// values and period since, the cohort's size and the value (over the
/// periods up to it when `cumulative`; per entity when `per_entity`). A
/// period that had not begun by the range's end is null.
pub struct TableSpec<'a> {
    pub key: &'a CohortKey,
    pub source: &'a str,
    pub name: &'a str,
    pub aggs: Vec<(String, Expr)>,
    pub value: Expr,
    pub cumulative: bool,
    pub per_entity: bool,
}

pub fn table(cx: &Ctx, t: TableSpec) -> Result<datafusion::logical_expr::LogicalPlan> {
    use datafusion::logical_expr::when;
    let key = t.key;
    let week_start = cx.model.project.week_start;
    let dims = &cx.query.group_by;
    let cohort_bucket =
        || time::bucket(key.period, week_start, expr::column(COHORT_LOCAL)).alias(COHORT);
    let dim_keys = || -> Vec<Expr> {
        dims.iter()
            .enumerate()
            .map(|(i, d)| expr::column(&format!("__cd{i}")).alias(d))
            .collect()
    };
    let mut rows = rows(cx, key, t.source)?.filter(expr::column(PRESENT).is_not_null())?;
    let period = if t.cumulative {
        // Every row counts in its own period and each later one.
        let ks = LogicalPlanBuilder::values((0..key.periods).map(|k| vec![lit(k)]).collect())?
            .project(vec![expr::column("column1").alias("__upto")])?
            .build()?;
        rows = rows
            .cross_join(ks)?
            .filter(expr::column(SINCE).lt_eq(expr::column("__upto")))?;
        expr::column("__upto")
    } else {
        expr::column(SINCE)
    };
    let mut group = vec![cohort_bucket(), period.alias(PERIOD)];
    group.extend(dim_keys());
    let values = rows
        .aggregate(group, t.aggs.into_iter().map(|(n, a)| a.alias(n)))?
        .alias("vals")?
        .build()?;
    let mut group = vec![cohort_bucket()];
    group.extend(dim_keys());
    let sizes = cohorts(cx, key)?
        .aggregate(group, vec![agg::count(lit(1i64)).alias(SIZE)])?
        .alias("sizes")?
        .build()?;

    // The grid: cohort periods of the range x periods since x breakdown values.
    let cells = grid::cohorts(cx, key.period, key.periods - 1, &sizes)?;
    let g = |n: &str| Expr::Column(Column::new(Some("grid"), n));
    let dim_names: Vec<&str> = dims.iter().map(String::as_str).collect();
    let on_vals = grid::on("vals", &[&[COHORT, PERIOD], &dim_names[..]].concat());
    let on_sizes = grid::on("sizes", &[&[COHORT], &dim_names[..]].concat());
    let size = datafusion::functions::expr_fn::coalesce(vec![
        Expr::Column(Column::new(Some("sizes"), SIZE)),
        lit(0i64),
    ]);
    let value = if t.per_entity {
        expr::divide(t.value, size.clone())
    } else {
        t.value
    };
    let cohort_col = if key.period == Grain::Hour {
        g(COHORT)
    } else {
        cast(g(COHORT), DataType::Date32)
    };
    let mut select = vec![cohort_col.alias("cohort")];
    let mut order = vec![expr::column("cohort").sort(true, false)];
    for d in dims {
        select.push(g(d).alias(d));
        order.push(expr::column(d).sort(true, false));
    }
    select.push(g(PERIOD).alias("period"));
    order.push(expr::column("period").sort(true, false));
    select.push(size.alias("cohort_size"));
    select.push(
        when(g(BEGUN), value)
            .otherwise(lit(datafusion::common::ScalarValue::Float64(None)))?
            .alias(t.name),
    );
    cells
        .join_on(values, JoinType::Left, on_vals)?
        .join_on(sizes, JoinType::Left, on_sizes)?
        .project(select)?
        .sort(order)?
        .build()
}
