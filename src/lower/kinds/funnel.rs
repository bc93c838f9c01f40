//! lower: funnels. A funnel is a sequence group (see
//! [`crate::lower::sequence`]): per entity and entry bucket its best
//! attempt; values are counts and durations over those rows, and the step
//! table is one row per step of them.

use crate::lower::expr;
use crate::lower::functions::sweep::{self, Order, Spec};
use crate::lower::planner::Planner;
use crate::lower::sequence::{self, Sequence};
use crate::lower::time::Bucket;
use crate::semantic::kinds::funnel::{Attribution, Bins, Funnel};
use crate::semantic::model::Metric;
use crate::syntax::ast::{self, Duration, FunnelOrder, FunnelValue};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, lit};

pub(super) fn value(
    p: &mut Planner,
    m: &Metric,
    f: &Funnel,
    filters: &[ast::Expr],
) -> Result<Expr> {
    let (g, s) = group(p, f, filters)?;
    let n = f.steps.len();
    let entered = p.sequence_aggregate(g, &m.name, sequence::reached(s, 1), true)?;
    let converted = p.sequence_aggregate(g, &m.name, sequence::reached(s, n), true)?;
    Ok(match f.value {
        FunnelValue::Entered => entered,
        FunnelValue::Converted => converted,
        FunnelValue::ConversionRate => expr::divide(converted, entered),
        FunnelValue::Steps | FunnelValue::TimeToConvert => {
            return internal_err!("the table of `{}` used as a column", m.name);
        }
    })
}

/// The scan group of funnel `f` under `filters`, and its index there.
fn group(p: &mut Planner, f: &Funnel, filters: &[ast::Expr]) -> Result<(usize, usize)> {
    let filter = p.lower_filters(&f.source, filters)?;
    let rows = p.rows(&f.source)?;
    // The engine's windows are inclusive; times are whole microseconds, so
    // an exclusive edge `t < start + w` is `t <= start + w - 1µs`. An
    // unbounded window stays the largest.
    let micros = |ms: i64| {
        let us = ms.saturating_mul(1000);
        if f.edge_exclusive && us < i64::MAX {
            us - 1
        } else {
            us
        }
    };
    let seq = Sequence {
        spec: Spec {
            steps: f.steps.len(),
            order: match f.order {
                FunnelOrder::Ordered => Order::Ordered,
                FunnelOrder::Strict => Order::Strict,
                FunnelOrder::StrictOrder => Order::StrictOrder,
                FunnelOrder::Any => Order::Any,
            },
            window: micros(f.within.millis),
            step_windows: f
                .steps
                .iter()
                .map(|s| s.within.as_ref().map(|w| micros(w.millis)))
                .collect(),
            reuse: f.reuse_events,
            strict_increase: f.strict_increase,
            strict_deduplication: f.strict_deduplication,
            first_complete: f.first_complete,
            exclude_entity: f.exclude_entity,
            exclusions: f.exclude.iter().map(|x| (x.after, x.before)).collect(),
            attribution: match f.attribution {
                Attribution::FirstStep => sweep::Attribution::FirstStep,
                Attribution::LastStep => sweep::Attribution::LastStep,
                Attribution::Step(i) => sweep::Attribution::Step(i),
            },
            first_only: false,
            start_from: None,
            start_to: None,
        },
        steps: f
            .steps
            .iter()
            .map(|s| rows.lower(&s.predicate))
            .collect::<Result<_>>()?,
        exclusions: f
            .exclude
            .iter()
            .map(|x| rows.lower(&x.predicate))
            .collect::<Result<_>>()?,
        hold: f.hold_constant.clone(),
        filter,
        names: f.steps.iter().map(|s| s.name.clone()).collect(),
    };
    p.sequence_group(&f.source, seq)
}

/// The step table of funnel `m`: per bucket, dimension values and step,
/// the entities that reached it, the conversion from the step before and
/// from the first, and the hours it took.
pub(super) fn table(
    p: &mut Planner,
    m: &Metric,
    f: &Funnel,
    buckets: &[Bucket],
) -> Result<LogicalPlan> {
    if let Some(bins) = &f.time_to_convert {
        return time_to_convert(p, m, f, bins, buckets);
    }
    let filters: Vec<ast::Expr> = m.filter.iter().cloned().collect();
    let (g, s) = group(p, f, &filters)?;
    let hours = sequence::unit_micros(ast::TimeUnit::Hours);
    let mut values = Vec::new();
    for k in 0..f.steps.len() {
        let v = p.sequence_aggregate(g, &m.name, sequence::reached(s, k + 1), true)?;
        values.push((format!("__n{k}"), v));
        if k > 0 {
            for (label, stat) in [
                ("avg", ast::Statistic::Avg),
                ("median", ast::Statistic::Median),
                ("p90", ast::Statistic::Percentile(0.9)),
            ] {
                let d = sequence::duration(p.cx.functions, stat, s, k - 1, k, hours);
                let v = p.sequence_aggregate(g, &m.name, d, false)?;
                values.push((format!("__{label}{k}"), v));
            }
            let d = sequence::duration(p.cx.functions, ast::Statistic::Median, s, 0, k, hours);
            let v = p.sequence_aggregate(g, &m.name, d, false)?;
            values.push((format!("__first{k}"), v));
        }
    }
    let (wide, keys, order) = wide_row(p, buckets, values)?;
    // One row per step: the wide row crossed with the step numbers, each
    // column picked by step. A cross join, not a union of one projection
    // per step, so the funnel runs once.
    let n = f.steps.len();
    let steps = LogicalPlanBuilder::values(
        f.steps
            .iter()
            .enumerate()
            .map(|(k, s)| vec![lit((k + 1) as i64), lit(s.name.as_str())])
            .collect(),
    )?
    .project(vec![
        expr::column("column1").alias("step"),
        expr::column("column2").alias("step_name"),
    ])?
    .build()?;
    let col = |n: String| expr::column(&n);
    let null = || lit(ScalarValue::Float64(None));
    // `pick(k)`: the expression of step k (0-based), null for step 1
    // where `from_second` is set.
    let pick = |of: &dyn Fn(usize) -> Expr, from_second: bool| -> Result<Expr> {
        let step = expr::column("step");
        let mut case = datafusion::logical_expr::when(step.clone().eq(lit(1i64)), {
            if from_second { null() } else { of(0) }
        });
        for k in 1..n {
            case = case.when(step.clone().eq(lit((k + 1) as i64)), of(k));
        }
        case.otherwise(null())
    };
    let entities = pick(&|k| cast(col(format!("__n{k}")), DataType::Int64), false)?;
    let previous = pick(
        &|k| expr::divide(col(format!("__n{k}")), col(format!("__n{}", k.max(1) - 1))),
        true,
    )?;
    let first = pick(
        &|k| expr::divide(col(format!("__n{k}")), col("__n0".into())),
        true,
    )?;
    let time = |label: &'static str| {
        pick(
            &move |k| cast(col(format!("__{label}{k}")), DataType::Float64),
            true,
        )
    };
    let mut select = keys;
    select.push(expr::column("step"));
    select.push(expr::column("step_name"));
    select.push(cast(entities, DataType::Int64).alias("entities"));
    select.push(previous.alias("conversion_from_previous"));
    select.push(first.alias("conversion_from_first"));
    select.push(time("avg")?.alias("avg_hours_from_previous"));
    select.push(time("median")?.alias("median_hours_from_previous"));
    select.push(time("p90")?.alias("p90_hours_from_previous"));
    select.push(time("first")?.alias("median_hours_from_first"));
    let mut order = order;
    order.push(expr::column("step").sort(true, false));
    LogicalPlanBuilder::from(wide)
        .cross_join(steps)?
        .project(select)?
        .sort(order)?
        .build()
}

/// The values of a funnel table per bucket and dimension values, one wide
/// row each (columns `__...`), with the key columns (bucket, dimensions) and
/// the order of the rows.
fn wide_row(
    p: &Planner,
    buckets: &[Bucket],
    values: Vec<(String, Expr)>,
) -> Result<(
    LogicalPlan,
    Vec<Expr>,
    Vec<datafusion::logical_expr::SortExpr>,
)> {
    let (wide, order) = p.assemble(buckets, values)?;
    let wide = wide.build()?;
    let keys: Vec<Expr> = wide
        .schema()
        .columns()
        .into_iter()
        .filter(|c| !c.name.starts_with("__"))
        .map(Expr::Column)
        .collect();
    Ok((wide, keys, order))
}

/// The time-to-convert table of funnel `m`: per bucket and dimension
/// values, the entities whose counted attempt reached step `bins.to`, by
/// the time it took from step `bins.from`, in bins `[0, e1)`, `[e1, e2)`,
/// ..., `[en, +inf)`; `share` is each bin's part of them.
fn time_to_convert(
    p: &mut Planner,
    m: &Metric,
    f: &Funnel,
    bins: &Bins,
    buckets: &[Bucket],
) -> Result<LogicalPlan> {
    let filters: Vec<ast::Expr> = m.filter.iter().cloned().collect();
    let (g, s) = group(p, f, &filters)?;
    let took = cast(
        expr::column(&sequence::time_column(bins.to))
            - expr::column(&sequence::time_column(bins.from)),
        DataType::Float64,
    );
    let micros = |d: &Duration| lit(d.millis as f64 * 1000.0);
    let (count, reached) = sequence::reached(s, bins.to + 1);
    let mut values = Vec::new();
    for i in 0..=bins.edges.len() {
        let mut filter = reached.clone().unwrap_or(lit(true));
        if i > 0 {
            filter = filter.and(took.clone().gt_eq(micros(&bins.edges[i - 1])));
        }
        if let Some(hi) = bins.edges.get(i) {
            filter = filter.and(took.clone().lt(micros(hi)));
        }
        let v = p.sequence_aggregate(g, &m.name, (count.clone(), Some(filter)), true)?;
        values.push((format!("__b{i}"), v));
    }
    let total = p.sequence_aggregate(g, &m.name, sequence::reached(s, bins.to + 1), true)?;
    values.push(("__total".to_string(), total));
    let (wide, keys, order) = wide_row(p, buckets, values)?;
    let n = bins.edges.len() + 1;
    let rows = LogicalPlanBuilder::values(
        (0..n)
            .map(|i| {
                let edge = |k: Option<&Duration>| match k {
                    Some(d) => lit(d.text.as_str()),
                    None => lit(ScalarValue::Utf8(None)),
                };
                vec![
                    lit((i + 1) as i64),
                    if i == 0 {
                        lit("0")
                    } else {
                        edge(bins.edges.get(i - 1))
                    },
                    edge(bins.edges.get(i)),
                ]
            })
            .collect(),
    )?
    .project(vec![
        expr::column("column1").alias("bin"),
        expr::column("column2").alias("from"),
        expr::column("column3").alias("to"),
    ])?
    .build()?;
    let bin = expr::column("bin");
    let mut entities =
        datafusion::logical_expr::when(bin.clone().eq(lit(1i64)), expr::column("__b0"));
    for i in 1..n {
        entities = entities.when(
            bin.clone().eq(lit((i + 1) as i64)),
            expr::column(&format!("__b{i}")),
        );
    }
    let entities = cast(entities.otherwise(lit(0i64))?, DataType::Int64);
    let share = expr::divide(entities.clone(), expr::column("__total"));
    let mut select = keys;
    select.push(bin.clone());
    select.push(expr::column("from"));
    select.push(expr::column("to"));
    select.push(entities.alias("entities"));
    select.push(share.alias("share"));
    let mut order = order;
    order.push(bin.sort(true, false));
    LogicalPlanBuilder::from(wide)
        .cross_join(rows)?
        .project(select)?
        .sort(order)?
        .build()
}
