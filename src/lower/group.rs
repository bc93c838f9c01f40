//! lower: scan groups. One scan and one aggregation by bucket and dimensions
//! for every aggregate that reads the same source the same way.

use super::activity::{self, Activity, Rule};
use super::cohort::{self, CohortKey};
use super::columns::BUCKET;
use super::expr::{self, AggCall};
use super::functions::activity::{MAX_MEMBERS, Test};
use super::sequence::{self, Sequence};
use super::time::{self, Bucket};
use super::{Ctx, GroupSummary};
use crate::syntax::ast::Grain;
use datafusion::common::{Column, Result, internal_err};
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, LogicalPlanBuilder};

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

/// How rows reach a group's aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupKey {
    pub source: String,
    /// Keep only each entity's first (`true`) or last matching row, the match
    /// being this filter.
    pub occurrence: Option<(bool, Option<Expr>)>,
    /// Aggregate over a window ending at each bucket's end, not the bucket.
    pub window: Option<Window>,
    /// Rows are each entity's best funnel attempt per entry period.
    pub sequence: Option<Sequence>,
    /// Rows are each entity's memberships per bucket (active, churned ...).
    pub activity: Option<Activity>,
    /// Rows are the source's rows of cohort entities in their window.
    pub cohort: Option<CohortKey>,
}

#[derive(Debug, Clone)]
struct Agg {
    name: String,
    call: AggCall,
    /// The metric's row filter (its `filter` and those of derived metrics).
    row_filter: Option<Expr>,
}

/// A scan group being filled.
#[derive(Debug, Clone)]
pub struct Group {
    pub key: GroupKey,
    aggs: Vec<Agg>,
    metrics: Vec<String>,
    /// The memberships an activity group reports, `__m0..`.
    members: Vec<(Test, Rule)>,
}

impl Group {
    pub fn new(key: GroupKey) -> Self {
        Group {
            key,
            aggs: Vec::new(),
            metrics: Vec::new(),
            members: Vec::new(),
        }
    }

    /// The column of membership `(test, rule)`, added if new; `None` when
    /// the group already reports as many as one call can.
    pub fn member(&mut self, test: Test, rule: Rule) -> Option<String> {
        let i = match self.members.iter().position(|m| *m == (test, rule)) {
            Some(i) => i,
            None if self.members.len() >= MAX_MEMBERS => return None,
            None => {
                self.members.push((test, rule));
                self.members.len() - 1
            }
        };
        Some(activity::member_column(i))
    }

    /// Adds an aggregate (or finds the same one) and returns its column name.
    pub fn add(
        &mut self,
        alias: &str,
        call: AggCall,
        row_filter: Option<Expr>,
        metric: &str,
    ) -> String {
        if !self.metrics.iter().any(|m| m == metric) {
            self.metrics.push(metric.to_string());
        }
        if let Some(a) = self
            .aggs
            .iter()
            .find(|a| a.call == call && a.row_filter == row_filter)
        {
            return a.name.clone();
        }
        let name = format!("{alias}_a{}", self.aggs.len());
        self.aggs.push(Agg {
            name: name.clone(),
            call,
            row_filter,
        });
        name
    }

    pub fn summary(&self, alias: &str) -> GroupSummary {
        let how = match (&self.key.sequence, &self.key.occurrence, &self.key.window) {
            _ if self.key.cohort.is_some() => {
                let c = self
                    .key
                    .cohort
                    .as_ref()
                    .map(|c| (c.periods, c.period, c.source.clone()));
                let (n, g, s) = c.unwrap_or((0, Grain::Month, String::new()));
                format!(
                    "rows of each cohort entity over {n} {}s from its first cohort event on `{s}`",
                    g.as_str()
                )
            }
            _ if self.key.activity.is_some() => {
                let mut rules: Vec<String> = Vec::new();
                for (_, r) in &self.members {
                    let d = r.describe();
                    if !rules.contains(&d) {
                        rules.push(d);
                    }
                }
                format!(
                    "distinct activity per entity, tested at each bucket's end over {}",
                    rules.join("; ")
                )
            }
            (Some(seq), _, _) => {
                let q = &seq.spec;
                format!(
                    "best attempt per entity and entry period: {} steps, {}{}",
                    q.steps,
                    format!("{:?}", q.order).to_lowercase(),
                    if q.first_only {
                        ", first `from` event only".to_string()
                    } else {
                        format!(
                            ", within {}",
                            crate::lower::describe_millis(q.window / 1000)
                        )
                    }
                )
            }
            (None, None, None) => "scan".to_string(),
            (None, Some((first, _)), w) => format!(
                "{} occurrence per entity{}",
                if *first { "first" } else { "last" },
                w.map(describe_window).unwrap_or_default()
            ),
            (None, None, Some(w)) => format!("rows{}", describe_window(*w)),
        };
        GroupSummary {
            alias: alias.to_string(),
            source: self.key.source.clone(),
            how,
            metrics: self.metrics.clone(),
            aggregates: self.aggs.len(),
        }
    }

    /// The group's plan: columns `__bucket`, the breakdown dimensions, and one
    /// column per aggregate; qualified by `alias`.
    pub fn plan(&self, cx: &Ctx, buckets: &[Bucket], alias: &str) -> Result<LogicalPlan> {
        let Some(table) = cx.tables.get(&self.key.source) else {
            return internal_err!("no table for source `{}`", self.key.source);
        };
        let Some(source) = cx.model.source(&self.key.source) else {
            return internal_err!("no source `{}`", self.key.source);
        };
        let scan = || LogicalPlanBuilder::scan(source.name.as_str(), table.source.clone(), None);
        let time_col = expr::column(&source.time);
        let time_ty = table
            .schema
            .field_with_unqualified_name(&source.time)?
            .data_type()
            .clone();
        let range = cx.query.range;
        let dims: Vec<Expr> = cx.query.group_by.iter().map(|d| expr::column(d)).collect();

        // A WHERE that keeps the rows any aggregate needs; when all share one
        // filter it moves out of the aggregates entirely.
        let mut distinct: Vec<&Expr> = Vec::new();
        let mut unfiltered = false;
        for a in &self.aggs {
            match &a.row_filter {
                Some(f) if !distinct.contains(&f) => distinct.push(f),
                Some(_) => {}
                None => unfiltered = true,
            }
        }
        let shared = !unfiltered && distinct.len() == 1;
        let keep = if unfiltered || distinct.is_empty() {
            None
        } else {
            distinct.iter().map(|f| (*f).clone()).reduce(Expr::or)
        };
        let aggregates: Vec<Expr> = self
            .aggs
            .iter()
            .map(|a| {
                let filter = match (shared, &a.row_filter, &a.call.filter) {
                    (true, _, m) | (false, None, m) => m.clone(),
                    (false, Some(r), None) => Some(r.clone()),
                    (false, Some(r), Some(m)) => Some(r.clone().and(m.clone())),
                };
                Ok(expr::with_filter(a.call.aggregate.clone(), filter)?.alias(&a.name))
            })
            .collect::<Result<_>>()?;

        if let Some(ck) = &self.key.cohort {
            let mut rows = cohort::rows(cx, ck, &self.key.source)?;
            if let Some(k) = keep {
                rows = rows.filter(k)?;
            }
            return rows
                .aggregate(cohort::keys(cx, cx.query.grain), aggregates)?
                .alias(alias)?
                .build();
        }

        if let Some(act) = &self.key.activity {
            let Some(entity) = &source.entity else {
                return internal_err!("activity on source `{}` without an entity", source.name);
            };
            let rows = activity::rows(
                cx,
                act,
                &self.members,
                buckets,
                scan()?,
                &source.time,
                &time_ty,
                entity,
            )?;
            let mut group_by = vec![expr::column(BUCKET)];
            group_by.extend(dims);
            return rows.aggregate(group_by, aggregates)?.alias(alias)?.build();
        }

        if let Some(seq) = &self.key.sequence {
            let Some(entity) = &source.entity else {
                return internal_err!("a funnel on source `{}` without an entity", source.name);
            };
            let dim_types = cx
                .query
                .group_by
                .iter()
                .map(|d| {
                    Ok(table
                        .schema
                        .field_with_unqualified_name(d)?
                        .data_type()
                        .clone())
                })
                .collect::<Result<Vec<_>>>()?;
            let rows =
                sequence::rows(cx, seq, scan()?, &source.time, &time_ty, entity, &dim_types)?;
            let mut group_by = vec![expr::column(BUCKET)];
            group_by.extend(dims);
            return rows.aggregate(group_by, aggregates)?.alias(alias)?.build();
        }

        // Which rows: one entity's first or last match, or all rows.
        let mut rows = scan()?;
        if let Some((first, filter)) = &self.key.occurrence {
            let Some(entity) = &source.entity else {
                return internal_err!("occurrence on source `{}` without an entity", source.name);
            };
            let matching = || -> Result<LogicalPlanBuilder> {
                let b = scan()?;
                match filter {
                    Some(f) => b.filter(f.clone()),
                    None => Ok(b),
                }
            };
            let pick = if *first {
                agg::min(time_col.clone())
            } else {
                agg::max(time_col.clone())
            };
            // Counting entities whose first (last) match falls in a bucket
            // needs only each entity's time of it: one aggregate, no join of
            // the picks back to the rows.
            let entities_only = cx.query.group_by.is_empty()
                && self.key.window.is_none()
                && self.aggs.iter().all(|a| {
                    a.row_filter.is_none()
                        && a.call.filter.is_none()
                        && is_count_distinct_of(&a.call.aggregate, entity)
                });
            if entities_only {
                let picked = expr::column("__picked");
                let pred =
                    time::in_range(picked.clone(), &time_ty, cx.tz, Some(range.from), range.to);
                let local = time::local_time(picked, &time_ty, cx.tz);
                let bucket = match cx.query.grain {
                    Some(g) => time::bucket(g, cx.model.project.week_start, local),
                    None => time::wall_lit(range.from),
                };
                let counts: Vec<Expr> = self
                    .aggs
                    .iter()
                    .map(|a| agg::count(expr::column("__entity")).alias(&a.name))
                    .collect();
                return matching()?
                    .aggregate(
                        vec![expr::column(entity).alias("__entity")],
                        vec![pick.alias("__picked")],
                    )?
                    // A derived table, so SQL writers nest the two aggregates.
                    .alias("__picks")?
                    .filter(pred)?
                    .aggregate(vec![bucket.alias(BUCKET)], counts)?
                    .alias(alias)?
                    .build();
            }
            let picks = matching()?
                .aggregate(
                    vec![expr::column(entity).alias("__entity")],
                    vec![pick.alias("__picked")],
                )?
                .alias("__picks")?
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
                        Column::new(Some("__picks"), "__entity"),
                        Column::new(Some("__picks"), "__picked"),
                    ],
                ),
                None,
            )?;
        }

        let local = time::local_time(time_col.clone(), &time_ty, cx.tz);

        let grouped = match self.key.window {
            None => {
                let mut pred =
                    time::in_range(time_col, &time_ty, cx.tz, Some(range.from), range.to);
                if let Some(k) = keep {
                    pred = pred.and(k);
                }
                let bucket = match cx.query.grain {
                    Some(g) => time::bucket(g, cx.model.project.week_start, local),
                    None => time::wall_lit(range.from),
                };
                let mut group_by = vec![bucket.alias(BUCKET)];
                group_by.extend(dims);
                rows.filter(pred)?.aggregate(group_by, aggregates)?
            }
            Some(w) => {
                // Each bucket aggregates the rows of its window: a range join
                // of the spine (bucket, window start, window end) to the rows.
                let windows: Vec<(Bucket, Option<chrono::NaiveDateTime>)> = buckets
                    .iter()
                    .map(|b| (*b, window_start(w, b, cx)))
                    .collect();
                let earliest = windows.iter().filter_map(|(_, s)| *s).min();
                let lower = if w == Window::AllTime { None } else { earliest };
                let mut pred = time::in_range(time_col, &time_ty, cx.tz, lower, range.to);
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
                    .aggregate(group_by, aggregates)?
            }
        };
        grouped.alias(alias)?.build()
    }
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
