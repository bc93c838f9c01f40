//! lower: `Model` + `Query` -> one DataFusion `LogicalPlan` for the run.
//!
//! The plan has three layers:
//!
//! 1. **Scan groups.** Every aggregate of every requested metric is placed in
//!    a group keyed by its source and by how rows reach it (plain,
//!    first/last occurrence per entity, or a running window). A group is one
//!    scan and one aggregation by time bucket and dimensions; metrics with
//!    different filters on one source share it, each aggregate carrying its
//!    filter as `FILTER (WHERE ...)`, and the scan keeps the rows any of them
//!    needs. See [`group`].
//! 2. **The grid.** The bucket spine (every period of the range, as `VALUES`),
//!    crossed with the dimension values seen in any group, so every series has
//!    a row for every bucket.
//! 3. **Assembly.** The grid left-joined to each group on bucket and
//!    dimensions (null equal to null), then one projection computes every
//!    metric from the aggregates: measures, ratios and formulas across
//!    sources alike. Empty buckets give 0 for counts and sums, null for
//!    everything else.

pub mod activity;
mod cohort;
pub mod expr;
pub mod functions;
mod group;
mod sequence;
pub mod sql;
pub mod time;

use crate::semantic::model::{Metric, Model};
use crate::syntax::ast::{self, Grain, MetricKind, Occurrence};
use chrono_tz::Tz;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, DFSchema, DFSchemaRef, Result, ScalarValue, internal_err};
use datafusion::logical_expr::{
    Expr, JoinType, LogicalPlan, LogicalPlanBuilder, TableSource, cast, lit,
};
use expr::{AggCall, Rows, Scope};
use functions::activity::Test;
use group::{Group, GroupKey, Window};
use std::collections::HashMap;
use std::sync::Arc;
pub use time::Range;

/// What to compute: metrics, time buckets, range and breakdown.
#[derive(Debug, Clone)]
pub struct Query {
    /// Metric names, in output order; all must be [`supported`].
    pub metrics: Vec<String>,
    /// Bucket size; `None` for one total over the range.
    pub grain: Option<Grain>,
    pub range: Range,
    /// Dimensions to break down by, in output order.
    pub group_by: Vec<String>,
}

/// A source as the planner sees it: a table to scan and its Arrow schema.
#[derive(Clone)]
pub struct Table {
    pub source: Arc<dyn TableSource>,
    pub schema: DFSchemaRef,
}

/// The plans of a run: one per result table.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The metrics table first (when any requested metric is a column), then
    /// one step table per `value: steps` funnel.
    pub tables: Vec<ResultPlan>,
    /// One entry per scan group, in plan order.
    pub groups: Vec<GroupSummary>,
}

/// One result table and its plan.
#[derive(Debug, Clone)]
pub struct ResultPlan {
    /// `None` for the metrics table; for a table of its own (a funnel's
    /// steps, a retention matrix), the metric's name.
    pub metric: Option<String>,
    /// What the table holds, in words: "funnel onboarding, step by step".
    pub title: String,
    pub plan: LogicalPlan,
}

/// What a scan group reads and which metrics use it, for `explain`.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub alias: String,
    pub source: String,
    pub how: String,
    pub metrics: Vec<String>,
    pub aggregates: usize,
}

/// The name of the bucket column for `grain`: the grain itself (`day`,
/// `week`, ...), or `period` when a dimension or metric already has that name.
pub fn bucket_column(grain: Grain, taken: &[String]) -> String {
    let name = grain.as_str();
    if taken.iter().any(|t| t == name) {
        "period".into()
    } else {
        name.into()
    }
}

/// Whether metric `name` is a funnel that reports a step table.
pub fn is_step_table(model: &Model, name: &str) -> bool {
    matches!(
        model.metric(name).map(|m| &m.kind),
        Some(MetricKind::Funnel(f)) if f.value.value == ast::FunnelValue::Steps
    )
}

/// The fixed columns of the table metric `name` gives (none for a column
/// metric): a breakdown dimension may not have one of these names.
pub fn table_columns(model: &Model, name: &str) -> Vec<String> {
    let fixed: &[&str] = match model.metric(name).map(|m| &m.kind) {
        Some(MetricKind::Funnel(f)) if f.value.value == ast::FunnelValue::Steps => &[
            "step",
            "step_name",
            "entities",
            "conversion_from_previous",
            "conversion_from_first",
            "avg_hours_from_previous",
            "median_hours_from_previous",
            "p90_hours_from_previous",
            "median_hours_from_first",
        ],
        Some(MetricKind::Retention(_)) => &[
            "cohort",
            "period",
            "cohort_size",
            "eligible",
            "retained",
            "retention_rate",
        ],
        Some(MetricKind::Cohort(_)) => &["cohort", "period", "cohort_size", name],
        _ => &[],
    };
    fixed.iter().map(|c| c.to_string()).collect()
}

/// Whether metric `name` gives a table of its own, not a column.
pub fn is_table(model: &Model, name: &str) -> bool {
    is_step_table(model, name)
        || matches!(
            model.metric(name).map(|m| &m.kind),
            Some(MetricKind::Retention(_))
        )
}

/// Builds the plans for `query` over `model`, reading sources from `tables`.
pub fn lower(model: &Model, query: &Query, tables: &HashMap<String, Table>) -> Result<Lowered> {
    let cx = || Ctx {
        model,
        query,
        tables,
        tz: model.project.time_zone,
    };
    let buckets = time::spine(
        query.grain,
        model.project.week_start,
        model.project.time_zone,
        query.range,
    )
    .or_else(|e| datafusion::common::plan_err!("{e}"))?;
    let (steps, columns): (Vec<&String>, Vec<&String>) =
        query.metrics.iter().partition(|n| is_table(model, n));
    let mut out = Lowered {
        tables: Vec::new(),
        groups: Vec::new(),
    };
    if !columns.is_empty() {
        let mut planner = Planner::new(cx(), "g");
        let mut values = Vec::new();
        for name in columns {
            values.push((name.clone(), planner.value(name, &[])?));
        }
        let (plan, order) = planner.assemble(&buckets, values)?;
        let plan = if order.is_empty() {
            plan
        } else {
            plan.sort(order)?
        };
        out.groups.extend(planner.summaries());
        out.tables.push(ResultPlan {
            metric: None,
            title: "metrics".into(),
            plan: plan.build()?,
        });
    }
    let cohorts = query.metrics.iter().filter(|n| {
        matches!(
            model.metric(n).map(|m| &m.kind),
            Some(MetricKind::Cohort(_))
        )
    });
    for (i, name) in cohorts.enumerate() {
        let mut planner = Planner::new(cx(), &format!("c{i}g"));
        let plan = planner.cohort_table(name)?;
        out.tables.push(ResultPlan {
            metric: Some(name.clone()),
            title: format!("{name}: by cohort and period since"),
            plan,
        });
    }
    for (i, name) in steps.into_iter().enumerate() {
        let mut planner = Planner::new(cx(), &format!("f{i}g"));
        let (title, plan) = if is_step_table(model, name) {
            (
                format!("funnel {name}, step by step"),
                planner.step_table(name, &buckets)?,
            )
        } else {
            (
                format!("{name}: retention by cohort and period"),
                planner.retention_table(name)?,
            )
        };
        out.groups.extend(planner.summaries());
        out.tables.push(ResultPlan {
            metric: Some(name.clone()),
            title,
            plan,
        });
    }
    Ok(out)
}

/// What group plans need to know about the run.
pub(crate) struct Ctx<'a> {
    pub model: &'a Model,
    pub query: &'a Query,
    pub tables: &'a HashMap<String, Table>,
    pub tz: Tz,
}

struct Planner<'a> {
    cx: Ctx<'a>,
    groups: Vec<Group>,
    /// Value expression per (metric, extra filters).
    memo: HashMap<(String, String), Expr>,
    /// Group aliases are this prefix and a number.
    prefix: String,
}

impl<'a> Planner<'a> {
    fn new(cx: Ctx<'a>, prefix: &str) -> Self {
        Planner {
            cx,
            groups: Vec::new(),
            memo: HashMap::new(),
            prefix: prefix.to_string(),
        }
    }

    fn alias(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    fn summaries(&self) -> Vec<GroupSummary> {
        self.groups
            .iter()
            .enumerate()
            .map(|(i, g)| g.summary(&self.alias(i)))
            .collect()
    }

    /// The grid left-joined to every group, projected to the bucket, the
    /// dimensions and `values`; with the sort order of the keys.
    fn assemble(
        &self,
        buckets: &[time::Bucket],
        values: Vec<(String, Expr)>,
    ) -> Result<(LogicalPlanBuilder, Vec<datafusion::logical_expr::SortExpr>)> {
        let cx = &self.cx;
        let query = cx.query;
        let built: Vec<LogicalPlan> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| g.plan(cx, buckets, &self.alias(i)))
            .collect::<Result<_>>()?;

        // The grid: every bucket, crossed with every dimension value seen.
        let spine_rows: Vec<Vec<Expr>> = buckets
            .iter()
            .map(|b| vec![time::wall_lit(b.start)])
            .collect();
        let mut grid = LogicalPlanBuilder::values(spine_rows)?.project(vec![
            Expr::Column(Column::from_name("column1")).alias(group::BUCKET),
        ])?;
        if !query.group_by.is_empty() {
            let mut combos: Option<LogicalPlanBuilder> = None;
            for plan in &built {
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
        let keys: Vec<&str> = std::iter::once(group::BUCKET)
            .chain(query.group_by.iter().map(String::as_str))
            .collect();
        let mut plan = grid
            .project(keys.iter().map(|k| Expr::Column(Column::from_name(*k))))?
            .alias("grid")?;
        for (i, g) in built.into_iter().enumerate() {
            let alias = self.alias(i);
            // Null is a dimension value like any other: `IS NOT DISTINCT FROM`,
            // which DataFusion runs as a hash join with nulls equal.
            let on: Vec<Expr> = keys
                .iter()
                .map(|k| {
                    let l = Expr::Column(Column::new(Some("grid"), *k));
                    let r = Expr::Column(Column::new(Some(alias.as_str()), *k));
                    datafusion::logical_expr::binary_expr(
                        l,
                        datafusion::logical_expr::Operator::IsNotDistinctFrom,
                        r,
                    )
                })
                .collect();
            plan = plan.join_on(g, JoinType::Left, on)?;
        }

        // One projection: bucket, dimensions, metrics.
        let mut taken: Vec<String> = query.group_by.clone();
        taken.extend(query.metrics.iter().cloned());
        let grid_col = |n: &str| Expr::Column(Column::new(Some("grid"), n));
        let mut select = Vec::new();
        let mut order = Vec::new();
        if let Some(grain) = query.grain {
            let name = bucket_column(grain, &taken);
            let b = grid_col(group::BUCKET);
            let b = if grain == Grain::Hour {
                b
            } else {
                cast(b, DataType::Date32)
            };
            order.push(expr::column(&name).sort(true, false));
            select.push(b.alias(name));
        }
        for d in &query.group_by {
            select.push(grid_col(d).alias(d));
            order.push(expr::column(d).sort(true, false));
        }
        for (name, v) in values {
            select.push(v.alias(name));
        }
        Ok((plan.project(select)?, order))
    }
    fn metric(&self, name: &str) -> Result<&'a Metric> {
        match self.cx.model.metric(name) {
            Some(m) => Ok(m),
            None => internal_err!("unknown metric `{name}` reached the planner"),
        }
    }

    /// The value of metric `name` per grid row, with `extra` filters from the
    /// derived metrics above it applied to every source row underneath.
    fn value(&mut self, name: &str, extra: &[ast::Expr]) -> Result<Expr> {
        let key = (name.to_string(), format!("{extra:?}"));
        if let Some(v) = self.memo.get(&key) {
            return Ok(v.clone());
        }
        let m = self.metric(name)?;
        let mut filters = extra.to_vec();
        filters.extend(m.filter.clone());
        let v = match &m.kind {
            MetricKind::Aggregate { measure } => self.measure(m, measure, &filters, None, None)?,
            MetricKind::Ratio {
                numerator,
                denominator,
            } => {
                let n = self.value(&numerator.value, &filters)?;
                let d = self.value(&denominator.value, &filters)?;
                expr::divide(n, d)
            }
            MetricKind::Formula { expr: formula } => {
                let rows = Rows {
                    schema: &DFSchema::empty(),
                    tz: self.cx.tz,
                };
                let mut scope = FormulaScope {
                    planner: self,
                    filters: &filters,
                };
                expr::lower(formula, &mut scope, &rows)?
            }
            MetricKind::Cumulative {
                metric,
                window,
                to_date,
            } => {
                let base = self.metric(&metric.value)?;
                let MetricKind::Aggregate { measure } = &base.kind else {
                    return internal_err!(
                        "a running total of a non-measure metric passed the checker"
                    );
                };
                let w = match (window, to_date) {
                    (Some(w), _) => Window::Trailing(w.value.millis),
                    (None, Some(g)) => Window::ToDate(g.value),
                    (None, None) => Window::AllTime,
                };
                let mut all = filters.clone();
                all.extend(base.filter.clone());
                self.measure(base, measure, &all, Some(w), None)?
            }
            MetricKind::Funnel(f) => {
                let g = self.sequence_group(m, &filters)?;
                let n = f.steps.len();
                let entered = self.sequence_aggregate(g, m, sequence::reached(1), true)?;
                let converted = self.sequence_aggregate(g, m, sequence::reached(n), true)?;
                match f.value.value {
                    ast::FunnelValue::Entered => entered,
                    ast::FunnelValue::Converted => converted,
                    ast::FunnelValue::ConversionRate => expr::divide(converted, entered),
                    ast::FunnelValue::Steps => {
                        return internal_err!("a step table `{name}` used as a column");
                    }
                }
            }
            MetricKind::TimeBetween {
                statistic, unit, ..
            } => {
                let g = self.sequence_group(m, &filters)?;
                let d =
                    sequence::duration(statistic.value, 0, 1, sequence::unit_micros(unit.value));
                self.sequence_aggregate(g, m, d, false)?
            }
            MetricKind::Cohort(c) => {
                let base = self.metric(&c.metric.value)?;
                let MetricKind::Aggregate { measure } = &base.kind else {
                    return internal_err!("a cohort of a non-measure metric passed the checker");
                };
                let key = self.cohort_key(m, c)?;
                let mut all = filters.clone();
                all.extend(base.filter.clone());
                let v = self.measure(base, measure, &all, None, Some(key.clone()))?;
                if c.per_entity {
                    let Some(source) = &base.source else {
                        return internal_err!("measure metric `{}` without a source", base.name);
                    };
                    let g = self.group(GroupKey {
                        source: source.clone(),
                        occurrence: None,
                        window: None,
                        sequence: None,
                        activity: None,
                        cohort: Some(key),
                    });
                    let size = (
                        datafusion::functions_aggregate::expr_fn::count_distinct(expr::column(
                            cohort::ENTITY,
                        )),
                        None,
                    );
                    let size = self.sequence_aggregate(g, m, size, true)?;
                    expr::divide(v, size)
                } else {
                    v
                }
            }
            MetricKind::Active { window } => {
                let rule = match window {
                    ast::ActiveWindow::Rolling(w) => activity::Rule::Trailing(w.value.millis),
                    ast::ActiveWindow::Calendar(g) => activity::Rule::ToDate(g.value),
                };
                self.members(m, &filters, Test::Active, rule)?
            }
            MetricKind::Churn { window, value } => {
                let rule = activity::Rule::Churn(window.value.millis);
                let count = |planner: &mut Self, test| planner.members(m, &filters, test, rule);
                match value.value {
                    ast::ChurnValue::Churned | ast::ChurnValue::Dormant => {
                        count(self, Test::Churned)?
                    }
                    ast::ChurnValue::Rate => {
                        let churned = count(self, Test::Churned)?;
                        expr::divide(churned, count(self, Test::Previous)?)
                    }
                    ast::ChurnValue::New => count(self, Test::New)?,
                    ast::ChurnValue::Returning => count(self, Test::Returning)?,
                    ast::ChurnValue::Resurrected => count(self, Test::Resurrected)?,
                    ast::ChurnValue::NetGrowth => {
                        let new = count(self, Test::New)?;
                        new - count(self, Test::Churned)?
                    }
                }
            }
            other => return internal_err!("`{}` metrics cannot be planned yet", other.key()),
        };
        self.memo.insert(key, v.clone());
        Ok(v)
    }

    /// The scan group of funnel or `time_between` metric `m` under `filters`.
    fn sequence_group(&mut self, m: &Metric, filters: &[ast::Expr]) -> Result<usize> {
        let (source, filter) = self.row_filter(m, filters)?;
        let seq = sequence::sequence(&m.kind, &self.rows(&source)?, filter)?;
        Ok(self.group(GroupKey {
            source,
            occurrence: None,
            window: None,
            sequence: Some(seq),
            activity: None,
            cohort: None,
        }))
    }

    /// How row expressions of `source` are lowered.
    fn rows(&self, source: &str) -> Result<Rows<'a>> {
        let Some(table) = self.cx.tables.get(source) else {
            return internal_err!("no table for source `{source}`");
        };
        Ok(Rows {
            schema: &table.schema,
            tz: self.cx.tz,
        })
    }

    /// `filters` lowered on `source`'s rows, as one predicate.
    fn lower_filters(&self, source: &str, filters: &[&ast::Expr]) -> Result<Option<Expr>> {
        let rows = self.rows(source)?;
        Ok(filters
            .iter()
            .map(|f| rows.lower(f))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .reduce(Expr::and))
    }

    /// The source of `m` and its rows under `filters`, as one predicate.
    fn row_filter(&self, m: &Metric, filters: &[ast::Expr]) -> Result<(String, Option<Expr>)> {
        let Some(source) = &m.source else {
            return internal_err!("metric `{}` without a source", m.name);
        };
        let filters: Vec<&ast::Expr> = filters.iter().collect();
        Ok((source.clone(), self.lower_filters(source, &filters)?))
    }

    /// Entities of `m`'s activity group holding membership `(test, rule)`
    /// at each bucket.
    fn members(
        &mut self,
        m: &Metric,
        filters: &[ast::Expr],
        test: Test,
        rule: activity::Rule,
    ) -> Result<Expr> {
        let (source, filter) = self.row_filter(m, filters)?;
        // A group reports at most MAX_MEMBERS memberships; more go to the
        // next part (another scan).
        let mut part = 0;
        let (g, column) = loop {
            let g = self.group(GroupKey {
                source: source.clone(),
                occurrence: None,
                window: None,
                sequence: None,
                activity: Some(activity::Activity {
                    filter: filter.clone(),
                    part,
                }),
                cohort: None,
            });
            if let Some(column) = self.groups[g].member(test, rule) {
                break (g, column);
            }
            part += 1;
        };
        let count = (
            datafusion::functions_aggregate::expr_fn::sum(expr::column(&column)),
            None,
        );
        self.sequence_aggregate(g, m, count, true)
    }

    /// The table of cohort metric `name`, by cohort and period since.
    fn cohort_table(&mut self, name: &str) -> Result<LogicalPlan> {
        let m = self.metric(name)?;
        let MetricKind::Cohort(c) = &m.kind else {
            return internal_err!("`{name}` is not a cohort metric");
        };
        let base = self.metric(&c.metric.value)?;
        let (MetricKind::Aggregate { measure }, Some(source)) = (&base.kind, &base.source) else {
            return internal_err!("a cohort of a non-measure metric passed the checker");
        };
        let key = self.cohort_key(m, c)?;
        let rows = self.rows(source)?;
        let filters: Vec<&ast::Expr> = m.filter.iter().chain(&base.filter).collect();
        let filter = self.lower_filters(source, &filters)?;
        let mut scope = CollectScope {
            aggs: Vec::new(),
            filter,
        };
        let value = expr::lower(measure, &mut scope, &rows)?;
        cohort::table(
            &self.cx,
            cohort::TableSpec {
                key: &key,
                source,
                name,
                aggs: scope.aggs,
                value,
                cumulative: c.cumulative,
                per_entity: c.per_entity,
            },
        )
    }

    /// How cohort metric `m` finds its cohorts.
    fn cohort_key(&self, m: &Metric, c: &ast::CohortDef) -> Result<cohort::CohortKey> {
        let source = match (&c.cohort_source, &m.source) {
            (Some(s), _) => s.value.clone(),
            (None, Some(s)) => s.clone(),
            (None, None) => match self.metric(&c.metric.value)?.source.clone() {
                Some(s) => s,
                None => return internal_err!("cohort metric `{}` without a source", m.name),
            },
        };
        let event = self.rows(&source)?.lower(&c.event)?;
        Ok(cohort::CohortKey {
            source,
            event,
            period: c.period.value,
            periods: c.periods.value,
        })
    }

    /// The retention table of metric `name`.
    fn retention_table(&mut self, name: &str) -> Result<LogicalPlan> {
        let m = self.metric(name)?;
        let MetricKind::Retention(r) = &m.kind else {
            return internal_err!("`{name}` is not a retention metric");
        };
        let filters: Vec<ast::Expr> = m.filter.iter().cloned().collect();
        let (source, filter) = self.row_filter(m, &filters)?;
        let (Some(src), Some(table)) = (self.cx.model.source(&source), self.cx.tables.get(&source))
        else {
            return internal_err!("no source `{source}`");
        };
        activity::table(
            &self.cx,
            &activity::RetentionPlan {
                retention: r,
                source: src,
                table,
                filter,
            },
        )
    }

    /// The index of the group with `key`, added if new.
    fn group(&mut self, key: GroupKey) -> usize {
        match self.groups.iter().position(|g| g.key == key) {
            Some(i) => i,
            None => {
                self.groups.push(Group::new(key));
                self.groups.len() - 1
            }
        }
    }

    /// An aggregate over group `g`'s per-entity rows, `(aggregate, filter)`;
    /// `zero`: 0, not null, when a bucket has none.
    fn sequence_aggregate(
        &mut self,
        g: usize,
        m: &Metric,
        (aggregate, filter): (Expr, Option<Expr>),
        zero: bool,
    ) -> Result<Expr> {
        let alias = self.alias(g);
        let call = AggCall {
            aggregate,
            filter,
            zero_when_empty: zero,
        };
        let c = expr::column(&self.groups[g].add(&alias, call, None, &m.name));
        Ok(if zero {
            datafusion::functions::expr_fn::coalesce(vec![c, lit(0i64)])
        } else {
            c
        })
    }

    /// The step table of funnel `name`: per bucket, dimension values and
    /// step, the entities that reached it, the conversion from the step
    /// before and from the first, and the hours it took.
    fn step_table(&mut self, name: &str, buckets: &[time::Bucket]) -> Result<LogicalPlan> {
        let m = self.metric(name)?;
        let MetricKind::Funnel(f) = &m.kind else {
            return internal_err!("`{name}` has no step table");
        };
        let filters: Vec<ast::Expr> = m.filter.iter().cloned().collect();
        let g = self.sequence_group(m, &filters)?;
        let hours = sequence::unit_micros(ast::TimeUnit::Hours);
        let mut values = Vec::new();
        for k in 0..f.steps.len() {
            let v = self.sequence_aggregate(g, m, sequence::reached(k + 1), true)?;
            values.push((format!("__n{k}"), v));
            if k > 0 {
                for (label, stat) in [
                    ("avg", ast::Statistic::Avg),
                    ("median", ast::Statistic::Median),
                    ("p90", ast::Statistic::Percentile(0.9)),
                ] {
                    let d = sequence::duration(stat, k - 1, k, hours);
                    let v = self.sequence_aggregate(g, m, d, false)?;
                    values.push((format!("__{label}{k}"), v));
                }
                let d = sequence::duration(ast::Statistic::Median, 0, k, hours);
                let v = self.sequence_aggregate(g, m, d, false)?;
                values.push((format!("__first{k}"), v));
            }
        }
        let (wide, order) = self.assemble(buckets, values)?;
        let wide = wide.build()?;
        let keys: Vec<Expr> = wide
            .schema()
            .columns()
            .into_iter()
            .filter(|c| !c.name.starts_with("__"))
            .map(Expr::Column)
            .collect();
        // One row per step: the wide row crossed with the step numbers, each
        // column picked by step. A cross join, not a union of one projection
        // per step, so the funnel runs once.
        let n = f.steps.len();
        let steps = LogicalPlanBuilder::values(
            f.steps
                .iter()
                .enumerate()
                .map(|(k, s)| vec![lit((k + 1) as i64), lit(s.name.value.as_str())])
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

    /// Places the aggregates of `measure` (of metric `m`, filtered by
    /// `filters`) in their scan group; returns the measure over their results.
    fn measure(
        &mut self,
        m: &Metric,
        measure: &ast::Expr,
        filters: &[ast::Expr],
        window: Option<Window>,
        cohort: Option<cohort::CohortKey>,
    ) -> Result<Expr> {
        let (source, mut row_filter) = self.row_filter(m, filters)?;
        let rows = self.rows(&source)?;
        let occurrence = match m.occurrence {
            Occurrence::All => None,
            Occurrence::First => Some((true, row_filter.take())),
            Occurrence::Last => Some((false, row_filter.take())),
        };
        if cohort.is_some() {
            if occurrence.is_some() {
                return datafusion::common::plan_err!(
                    "a cohort of `{}`, a first/last-occurrence metric, is not supported",
                    m.name
                );
            }
            let present = expr::column(cohort::PRESENT).is_not_null();
            row_filter = Some(match row_filter {
                None => present,
                Some(f) => present.and(f),
            });
        }
        let index = self.group(GroupKey {
            source: source.clone(),
            occurrence,
            window,
            sequence: None,
            activity: None,
            cohort,
        });
        let alias = self.alias(index);
        let mut scope = MeasureScope {
            group: &mut self.groups[index],
            alias,
            row_filter,
            metric: &m.name,
        };
        expr::lower(measure, &mut scope, &rows)
    }
}

/// Measures: aggregates go to the scan group.
struct MeasureScope<'g> {
    group: &'g mut Group,
    alias: String,
    row_filter: Option<Expr>,
    metric: &'g str,
}

impl Scope for MeasureScope<'_> {
    fn name(&mut self, name: &str) -> Result<Expr> {
        internal_err!("column `{name}` outside an aggregate passed the checker")
    }
    fn aggregate(&mut self, call: AggCall) -> Result<Expr> {
        let zero = call.zero_when_empty;
        let name = self
            .group
            .add(&self.alias, call, self.row_filter.clone(), self.metric);
        let c = expr::column(&name);
        Ok(if zero {
            datafusion::functions::expr_fn::coalesce(vec![c, lit(0i64)])
        } else {
            c
        })
    }
}

/// A measure's aggregates, collected as named columns, each with the rows'
/// filter.
struct CollectScope {
    aggs: Vec<(String, Expr)>,
    filter: Option<Expr>,
}

impl Scope for CollectScope {
    fn name(&mut self, name: &str) -> Result<Expr> {
        internal_err!("column `{name}` outside an aggregate passed the checker")
    }
    fn aggregate(&mut self, call: AggCall) -> Result<Expr> {
        let filter = match (&self.filter, call.filter) {
            (None, f) => f,
            (Some(r), None) => Some(r.clone()),
            (Some(r), Some(f)) => Some(r.clone().and(f)),
        };
        let name = format!("__v{}", self.aggs.len());
        self.aggs
            .push((name.clone(), expr::with_filter(call.aggregate, filter)?));
        let c = expr::column(&name);
        Ok(if call.zero_when_empty {
            datafusion::functions::expr_fn::coalesce(vec![c, lit(0i64)])
        } else {
            c
        })
    }
}

/// Formulas: names are metrics.
struct FormulaScope<'p, 'a> {
    planner: &'p mut Planner<'a>,
    filters: &'p [ast::Expr],
}

impl Scope for FormulaScope<'_, '_> {
    fn name(&mut self, name: &str) -> Result<Expr> {
        self.planner.value(name, self.filters)
    }
    fn aggregate(&mut self, _: AggCall) -> Result<Expr> {
        internal_err!("an aggregate in a formula passed the checker")
    }
}

/// A duration in the largest whole unit: `30d`, `36h`, `90m`, `1500ms`.
pub fn describe_millis(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}
