//! lower: the plain row producers of scan groups: a source's rows (or
//! only each entity's first or last match), aggregated by bucket, or over
//! each bucket's window for running totals.

use super::Ctx;
use super::columns::BUCKET;
use super::columns::{ENTITY, PICKS};
use super::expr;
use super::group::Agg;
use super::time::{self, Bucket};
use crate::semantic::model::Source;
use crate::syntax::ast::Grain;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, Result, internal_err};
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder};

/// The window of a running total.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// Everything up to the bucket's end.
    AllTime,
    /// The trailing duration (milliseconds) up to the bucket's end.
    Trailing(i64),
    /// From the start of the calendar period holding the bucket's last instant.
    ToDate(Grain),
}

/// Which of a source's rows a scan group aggregates, and over what.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    /// Keep only each entity's first (`true`) or last matching row, the
    /// match being this filter.
    pub occurrence: Option<(bool, Option<Expr>)>,
    /// Aggregate over a window ending at each bucket's end, not the bucket.
    pub window: Option<Window>,
    /// Its aggregates or filters read the entity's attributes: its rows
    /// are joined to the attribute table, so metrics that read none are
    /// kept out of it (another group, a scan without the join).
    pub attributes: bool,
    /// Its aggregates hold their rows (sequence patterns) and run in one
    /// phase (`engine::one_phase`): kept out of the group of plain
    /// aggregates, which would run in one phase with them.
    pub holding: bool,
}

impl Scan {
    /// How the rows reach the aggregates, in words.
    pub fn describe(&self) -> String {
        let mut how = self.describe_rows();
        if self.holding {
            how.push_str(" of sequences");
        }
        if self.attributes {
            how.push_str(" with the entity's attributes");
        }
        how
    }

    fn describe_rows(&self) -> String {
        match (&self.occurrence, self.window) {
            (None, None) => "scan".to_string(),
            (Some((first, _)), w) => format!(
                "{} occurrence per entity{}",
                if *first { "first" } else { "last" },
                w.map(describe_window).unwrap_or_default()
            ),
            (None, Some(w)) => format!("rows{}", describe_window(w)),
        }
    }
}

/// What a scan group's plan is made from.
pub(super) struct Parts<'p> {
    pub source: &'p Source,
    pub table: &'p super::Table,
    pub time_ty: &'p DataType,
    pub dims: Vec<Expr>,
    pub aggs: &'p [Agg],
    /// The rows any aggregate needs, when not all.
    pub keep: Option<Expr>,
    pub aggregates: Vec<Expr>,
}

/// The aggregation of scan group `key`: by `__bucket` and the breakdown
/// dimensions, one column per aggregate.
pub(super) fn plan(
    cx: &Ctx,
    key: &Scan,
    p: Parts,
    buckets: &[Bucket],
) -> Result<LogicalPlanBuilder> {
    let Parts {
        source,
        table,
        time_ty,
        dims,
        aggs,
        keep,
        aggregates,
    } = p;
    let time_ty = time_ty.clone();
    let scan = || super::events(source, table);
    let time_col = expr::column(&source.time);
    let range = cx.query.range;
    // Which rows: one entity's first or last match, or all rows.
    let mut rows = scan()?;
    if let Some((first, filter)) = &key.occurrence {
        let Some(entity) = &source.entity else {
            return internal_err!("occurrence on source `{}` without an entity", source.name);
        };
        // The source's rows under a filter (`None`: all of them).
        let rows_where = |filter: Option<Expr>| -> Result<LogicalPlanBuilder> {
            let b = scan()?;
            match filter {
                Some(f) => b.filter(f),
                None => Ok(b),
            }
        };
        let matching = || rows_where(filter.clone());
        let pick = || {
            if *first {
                agg::min(time_col.clone())
            } else {
                agg::max(time_col.clone())
            }
        };
        // Counting entities whose first (last) match falls in a bucket
        // needs only each entity's time of it: one aggregate, no join of
        // the picks back to the rows.
        if entities_only(cx, key, aggs, entity) {
            // When other groups of the run pick on this source too, every
            // one reads the same picks, one column per filter, which then
            // run once for all (`Engine::once`): one pass by entity, not
            // one per filter.
            let shared = cx
                .run
                .picks
                .get(&(source.name.clone(), *first))
                .filter(|all| all.len() > 1)
                .and_then(|all| Some((all, all.iter().position(|f| f == filter)?)));
            let (picks, picked) = match shared {
                Some((all, mine)) => {
                    // Rows matching any filter; all rows when one has none.
                    let any = all
                        .iter()
                        .cloned()
                        .collect::<Option<Vec<Expr>>>()
                        .and_then(|fs| fs.into_iter().reduce(Expr::or));
                    let columns = all
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            Ok(expr::with_filter(pick(), f.clone())?.alias(format!("__picked{i}")))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let picks = rows_where(any)?
                        .aggregate(vec![expr::column(entity).alias(ENTITY)], columns)?;
                    (picks, expr::column(&format!("__picked{mine}")))
                }
                None => (
                    matching()?.aggregate(
                        vec![expr::column(entity).alias(ENTITY)],
                        vec![pick().alias("__picked")],
                    )?,
                    expr::column("__picked"),
                ),
            };
            let pred = time::in_range(picked.clone(), &time_ty, cx.tz, Some(range.from), range.to);
            let local = time::local_time(picked, &time_ty, cx.tz);
            let bucket = match cx.query.grain {
                Some(g) => time::bucket(g, cx.model.project.week_start, local),
                None => time::wall_lit(range.from),
            };
            let counts: Vec<Expr> = aggs
                .iter()
                .map(|a| agg::count(expr::column(ENTITY)).alias(&a.name))
                .collect();
            return picks
                // A derived table, so SQL writers nest the two aggregates.
                .alias(PICKS)?
                .filter(pred)?
                .aggregate(vec![bucket.alias(BUCKET)], counts);
        }
        let picks = matching()?
            .aggregate(
                vec![expr::column(entity).alias(ENTITY)],
                vec![pick().alias("__picked")],
            )?
            .alias(PICKS)?
            .build()?;
        rows = matching()?.join(
            picks,
            JoinType::Inner,
            (
                vec![
                    Column::from_name(entity.as_str()),
                    Column::from_name(source.time.as_str()),
                ],
                vec![
                    Column::new(Some(PICKS), ENTITY),
                    Column::new(Some(PICKS), "__picked"),
                ],
            ),
            None,
        )?;
    }

    let local = time::local_time(time_col.clone(), &time_ty, cx.tz);

    let grouped = match key.window {
        None => {
            let mut pred = time::in_range(time_col, &time_ty, cx.tz, Some(range.from), range.to);
            if let Some(k) = keep {
                pred = pred.and(k);
            }
            let bucket = match cx.query.grain {
                Some(g) => time::bucket(g, cx.model.project.week_start, local),
                None => time::wall_lit(range.from),
            };
            let mut group_by = vec![bucket.alias(BUCKET)];
            group_by.extend(dims.iter().cloned());
            match (&source.entity, key.holding) {
                // Aggregates that hold their rows (sequences) run per
                // entity, in parallel over the entities, each giving its
                // count, then summed per bucket: an aggregate per bucket
                // alone would be one group, on one thread.
                (Some(entity), true) => {
                    let mut per_entity = group_by.clone();
                    per_entity.push(expr::column(entity).alias(ENTITY));
                    let mut outer = vec![expr::column(BUCKET)];
                    outer.extend(dims.iter().map(|d| match d {
                        Expr::Column(c) => expr::column(&c.name),
                        other => other.clone(),
                    }));
                    let sums = aggs
                        .iter()
                        .map(|a| agg::sum(expr::column(&a.name)).alias(&a.name))
                        .collect::<Vec<_>>();
                    rows.filter(pred)?
                        .aggregate(per_entity, aggregates)?
                        .aggregate(outer, sums)?
                }
                _ => rows.filter(pred)?.aggregate(group_by, aggregates)?,
            }
        }
        Some(w) => over_windows(
            cx,
            w,
            Parts {
                source,
                table,
                time_ty: &time_ty,
                dims,
                aggs,
                keep,
                aggregates,
            },
            rows,
            buckets,
        )?,
    };
    Ok(grouped)
}

/// Each bucket's aggregates over the rows of its window (ending at the
/// bucket's end): a range join of the spine (bucket, window start, window
/// end) to the rows.
fn over_windows(
    cx: &Ctx,
    w: Window,
    p: Parts,
    rows: LogicalPlanBuilder,
    buckets: &[Bucket],
) -> Result<LogicalPlanBuilder> {
    let Parts {
        source,
        table,
        time_ty,
        dims,
        keep,
        aggregates,
        ..
    } = p;
    let time_col = expr::column(&source.time);
    let local = time::local_time(time_col.clone(), time_ty, cx.tz);
    let range = cx.query.range;
    // Each bucket aggregates the rows of its window: a range join
    // of the spine (bucket, window start, window end) to the rows.
    let windows: Vec<(Bucket, Option<chrono::NaiveDateTime>)> = buckets
        .iter()
        .map(|b| (*b, window_start(w, b, cx)))
        .collect();
    let earliest = windows.iter().filter_map(|(_, s)| *s).min();
    let lower = if w == Window::AllTime { None } else { earliest };
    let mut pred = time::in_range(time_col, time_ty, cx.tz, lower, range.to);
    if let Some(k) = keep {
        pred = pred.and(k);
    }
    let mut cols: Vec<Expr> = table
        .schema
        .columns()
        .into_iter()
        .map(|c| Expr::Column(Column::from_name(c.name)))
        .collect();
    cols.push(local.alias("__local"));
    let rows = rows.filter(pred)?.project(cols)?.alias("__rows")?.build()?;
    let values: Vec<Vec<Expr>> = windows
        .iter()
        .map(|(b, s)| {
            let mut row = vec![time::wall_lit(b.start), time::wall_lit(b.end)];
            if w != Window::AllTime {
                row.push(time::wall_lit(s.unwrap_or(b.start)));
            }
            row
        })
        .collect();
    let c = |n: &str| Expr::Column(Column::from_name(n));
    let mut names = vec![c("column1").alias("__start"), c("column2").alias("__end")];
    if w != Window::AllTime {
        names.push(c("column3").alias("__from"));
    }
    let spine = LogicalPlanBuilder::values(values)?
        .project(names)?
        .alias("__windows")?;
    let mut on = vec![c("__local").lt(c("__end"))];
    if w != Window::AllTime {
        on.push(c("__local").gt_eq(c("__from")));
    }
    let mut group_by = vec![c("__start").alias(BUCKET)];
    group_by.extend(dims);
    spine
        .join_on(rows, JoinType::Inner, on)?
        .aggregate(group_by, aggregates)
}

/// Where the window of a running total starts for bucket `b`, if it does.
fn window_start(w: Window, b: &Bucket, cx: &Ctx) -> Option<chrono::NaiveDateTime> {
    match w {
        Window::AllTime => None,
        Window::Trailing(ms) => b.end.checked_sub_signed(chrono::Duration::milliseconds(ms)),
        Window::ToDate(g) => {
            // The period holding the bucket's last instant.
            let last = b.end - chrono::Duration::microseconds(1);
            Some(time::truncate(g, cx.model.project.week_start, last))
        }
    }
}

fn describe_window(w: Window) -> String {
    match w {
        Window::AllTime => ", running total since the first row".into(),
        Window::Trailing(ms) => format!(
            ", running total over the trailing {}",
            crate::lower::describe_millis(ms)
        ),
        Window::ToDate(g) => format!(", running total {}-to-date", g.as_str()),
    }
}

/// Whether a group of first (last) matches only counts entities per bucket,
/// so that it needs each entity's time of its match and nothing else.
pub(super) fn entities_only(cx: &Ctx, key: &Scan, aggs: &[Agg], entity: &str) -> bool {
    key.occurrence.is_some()
        && cx.query.group_by.is_empty()
        && key.window.is_none()
        && aggs.iter().all(|a| {
            a.row_filter.is_none()
                && a.call.filter.is_none()
                && is_count_distinct_of(&a.call.aggregate, entity)
        })
}

/// Whether `e` is `count(DISTINCT column)` of the column named `name`.
fn is_count_distinct_of(e: &Expr, name: &str) -> bool {
    match e {
        Expr::AggregateFunction(f) => {
            f.func.name() == "count"
                && f.params.distinct
                && f.params.filter.is_none()
                && matches!(f.params.args.as_slice(), [Expr::Column(c)] if c.name == name)
        }
        _ => false,
    }
}
