//! lower: the planner of one result table. Metric values are placed in scan
//! groups (see [`super::group`]) and computed over the grid; each kind's
//! part is in `lower::kinds`, which [`Planner::value`] hands off to.

use super::columns::BUCKET;
use super::expr::{self, AggCall, Rows, Scope};
use super::functions::activity::Test;
use super::group::{Group, GroupKey, Producer};
use super::scan::{Scan, Window};
use super::{Ctx, GroupSummary, activity, bucket_column, cohort, grid, sequence, time};
use crate::semantic::kinds::measure::Measure;
use crate::semantic::model::Metric;
use crate::syntax::ast::{self, Grain, Occurrence};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, Result, internal_err};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, LogicalPlanBuilder, cast, lit};
use std::collections::HashMap;

/// A value of more expression nodes than this is computed once when a
/// second metric uses it (a ratio of two measures has about 12).
const SHARE_WHEN_REUSED: usize = 32;
/// A value of more nodes than this is computed once, used again or not: a
/// chain of formulas is planned as steps, not as one deep expression.
const SHARE_ALWAYS: usize = 128;

/// The number of nodes of an expression.
fn size(e: &Expr) -> usize {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let mut n = 0;
    let _ = e.apply(|_| {
        n += 1;
        Ok(TreeNodeRecursion::Continue)
    });
    n
}

/// Builds one result table: its scan groups, and the values over them.
pub(crate) struct Planner<'a> {
    pub cx: Ctx<'a>,
    pub groups: Vec<Group>,
    /// Value expression per (metric, extra filters).
    memo: HashMap<(String, String), Expr>,
    /// Values computed once, as a column of their own, for the metrics
    /// above them to read: (column, expression, layer). A value lands here
    /// when it is large and used again, or very large, so that a diamond of
    /// formulas (`m_i: m_(i-1) + m_(i-1)`) is planned in linear size, not
    /// as a tree with a copy of each value per path to it. Layer `k` reads
    /// the columns of layers below `k`.
    shared: Vec<(String, Expr, usize)>,
    /// Group aliases are this prefix and a number.
    prefix: String,
    /// How a metric's value is computed: `lower::kinds::value`, handed in
    /// by `lower` so that the planner does not import the kind modules
    /// that use it (no cycle between the two).
    value_of: ValueOf,
    /// Values over the range moved back by an offset (period over
    /// period): one table per offset, planned by a planner of its own over
    /// the earlier range and joined to the grid with its buckets moved
    /// forward.
    shifts: Vec<Shift>,
    /// The scan groups of those tables, for `explain`, once planned.
    shifted_groups: std::cell::RefCell<Vec<GroupSummary>>,
}

/// The values a table reads from an earlier range (moved back by an
/// offset, or from the start of a calendar period): each metric's value
/// under its filters, as a column.
struct Shift {
    offset: ast::Lookback,
    values: Vec<(String, Vec<ast::Expr>, String)>,
}

/// The value of a metric per grid row, its rows under the filters given.
pub(crate) type ValueOf = fn(&mut Planner, &Metric, &[ast::Expr]) -> Result<Expr>;

impl<'a> Planner<'a> {
    pub fn new(cx: Ctx<'a>, prefix: &str, value_of: ValueOf) -> Self {
        Planner {
            cx,
            groups: Vec::new(),
            memo: HashMap::new(),
            shared: Vec::new(),
            prefix: prefix.to_string(),
            value_of,
            shifts: Vec::new(),
            shifted_groups: std::cell::RefCell::new(Vec::new()),
        }
    }

    pub fn alias(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    pub fn summaries(&self) -> Vec<GroupSummary> {
        let mut out: Vec<GroupSummary> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| g.summary(&self.alias(i)))
            .collect();
        out.extend(self.shifted_groups.borrow().iter().cloned());
        out
    }

    /// The value of metric `name` (under `extra` filters) in the earlier
    /// bucket `offset` gives, per grid row: a column of the table of that
    /// offset, planned when the table is assembled.
    pub fn previous(&mut self, name: &str, extra: &[ast::Expr], offset: ast::Lookback) -> Expr {
        let i = match self.shifts.iter().position(|s| s.offset == offset) {
            Some(i) => i,
            None => {
                self.shifts.push(Shift {
                    offset,
                    values: Vec::new(),
                });
                self.shifts.len() - 1
            }
        };
        let shift = &mut self.shifts[i];
        let column = match shift
            .values
            .iter()
            .find(|v| v.0 == name && v.1.as_slice() == extra)
        {
            Some(v) => v.2.clone(),
            None => {
                let column = format!("__{}s{i}_v{}", self.prefix, shift.values.len());
                shift
                    .values
                    .push((name.to_string(), extra.to_vec(), column.clone()));
                column
            }
        };
        Expr::Column(Column::from_name(column))
    }

    /// The grid left-joined to every group, projected to the bucket, the
    /// dimensions and `values`; with the sort order of the keys.
    pub fn assemble(
        &self,
        buckets: &[time::Bucket],
        values: Vec<(String, Expr)>,
    ) -> Result<(LogicalPlanBuilder, Vec<datafusion::logical_expr::SortExpr>)> {
        let plan = self.joined(buckets, &[])?;
        self.projected(plan, values)
    }

    /// The grid left-joined to every group and to the table of each
    /// offset, with the shared values. The grid's breakdown values are
    /// those of the groups, of the offsets' tables and of `more` (the
    /// groups of the table whose earlier values this one gives).
    fn joined(&self, buckets: &[time::Bucket], more: &[LogicalPlan]) -> Result<LogicalPlanBuilder> {
        let cx = &self.cx;
        let query = cx.query;
        let built: Vec<LogicalPlan> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| g.plan(cx, buckets, &self.alias(i)))
            .collect::<Result<_>>()?;
        let mut seen: Vec<LogicalPlan> = built.clone();
        seen.extend(more.iter().cloned());
        let shifted = self.shifted(&seen)?;
        seen.extend(shifted.iter().map(|(_, p)| p.clone()));

        let keys: Vec<&str> = std::iter::once(BUCKET)
            .chain(query.group_by.iter().map(String::as_str))
            .collect();
        let mut plan = grid::buckets(cx, buckets, &seen)?;
        for (i, g) in built.into_iter().enumerate() {
            plan = plan.join_on(g, JoinType::Left, grid::on(&self.alias(i), &keys))?;
        }
        for ((alias, t), shift) in shifted.into_iter().zip(&self.shifts) {
            let mut on = grid::on(&alias, &keys);
            if let ast::Lookback::ToGrain(to) = shift.offset {
                // Each bucket meets the first bucket of its period.
                let week_start = cx.model.project.week_start;
                on[0] = datafusion::logical_expr::binary_expr(
                    time::bucket(
                        to,
                        week_start,
                        Expr::Column(Column::new(Some("grid"), BUCKET)),
                    ),
                    datafusion::logical_expr::Operator::IsNotDistinctFrom,
                    Expr::Column(Column::new(Some(alias.as_str()), BUCKET)),
                );
            }
            plan = plan.join_on(t, JoinType::Left, on)?;
        }
        // The shared values, a projection per layer, each keeping every
        // column below it.
        let layers = self.shared.iter().map(|s| s.2).max().unwrap_or(0);
        for layer in 1..=layers {
            let mut keep: Vec<Expr> = plan
                .schema()
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect();
            keep.extend(
                self.shared
                    .iter()
                    .filter(|s| s.2 == layer)
                    .map(|(name, e, _)| e.clone().alias(name)),
            );
            plan = plan.project(keep)?;
        }

        Ok(plan)
    }

    /// The table of each offset: its values over the earlier range,
    /// planned by a planner of their own (whose grid also has the
    /// breakdown values `seen` here). With an offset, each bucket is moved
    /// forward onto the bucket it is compared with; with a period's start,
    /// the buckets stay and the join meets each bucket with its period's
    /// first. Aliased `<prefix>s<i>`.
    fn shifted(&self, seen: &[LogicalPlan]) -> Result<Vec<(String, LogicalPlan)>> {
        let cx = &self.cx;
        let project = &cx.model.project;
        let mut out = Vec::new();
        for (i, shift) in self.shifts.iter().enumerate() {
            let range = match shift.offset {
                ast::Lookback::Offset(o) => {
                    let back = |t| match time::move_back(t, o) {
                        Some(t) => Ok(t),
                        None => datafusion::common::plan_err!(
                            "the range moved back {} leaves the calendar",
                            o.text()
                        ),
                    };
                    time::Range {
                        from: back(cx.query.range.from)?,
                        to: back(cx.query.range.to)?,
                    }
                }
                ast::Lookback::ToGrain(to) => {
                    // From the start of the period holding `--from`, so the
                    // first bucket of that period is whole; but when
                    // `--from` lies in that first bucket, from `--from`, so
                    // that it is the run's own bucket, clipped alike.
                    let Some(grain) = cx.query.grain else {
                        return datafusion::common::internal_err!(
                            "a period's start without buckets reached the planner"
                        );
                    };
                    let from = cx.query.range.from;
                    let period = time::truncate(to, project.week_start, from);
                    let first = time::truncate(grain, project.week_start, from);
                    time::Range {
                        from: if first == period { from } else { period },
                        to: cx.query.range.to,
                    }
                }
            };
            let query = super::Query {
                metrics: Vec::new(),
                grain: cx.query.grain,
                range,
                group_by: cx.query.group_by.clone(),
            };
            let buckets = time::spine(query.grain, project.week_start, cx.tz, query.range)
                .or_else(|e| datafusion::common::plan_err!("{e}"))?;
            // Passes shared across the run's tables are planned for its
            // range; this table reads another.
            let alone = super::Shared::default();
            let prefix = format!("{}s{i}g", self.prefix);
            let mut sub = Planner::new(
                super::Ctx {
                    model: cx.model,
                    query: &query,
                    tables: cx.tables,
                    functions: cx.functions,
                    tz: cx.tz,
                    run: &alone,
                },
                &prefix,
                self.value_of,
            );
            let mut values = Vec::new();
            for (metric, filters, column) in &shift.values {
                values.push(sub.value(metric, filters)?.alias(column));
            }
            let mut plan = sub.joined(&buckets, seen)?;
            if let ast::Lookback::ToGrain(to) = shift.offset {
                // Only the first bucket of each period is compared with;
                // the others' rows need not reach the join.
                let b = Expr::Column(Column::new(Some("grid"), BUCKET));
                plan = plan.filter(time::bucket(to, project.week_start, b.clone()).eq(b))?;
            }
            // Each earlier bucket onto the bucket it is compared with: a
            // whole number of buckets later (checked when the query was
            // resolved), or the range's one bucket.
            let grid_bucket = Expr::Column(Column::new(Some("grid"), BUCKET));
            let bucket = match (shift.offset, cx.query.grain) {
                (ast::Lookback::Offset(o), Some(_)) => grid_bucket + lit(time::offset_interval(o)),
                (ast::Lookback::Offset(_), None) => time::wall_lit(cx.query.range.from),
                (ast::Lookback::ToGrain(_), _) => grid_bucket,
            };
            let mut select = vec![bucket.alias(BUCKET)];
            for d in &cx.query.group_by {
                select.push(Expr::Column(Column::new(Some("grid"), d)).alias(d));
            }
            select.extend(values);
            let alias = format!("{}s{i}", self.prefix);
            let t = plan.project(select)?.alias(&alias)?.build()?;
            let earlier = format!(", {}", shift.offset.text());
            self.shifted_groups
                .borrow_mut()
                .extend(sub.summaries().into_iter().map(|mut g| {
                    g.how.push_str(&earlier);
                    g
                }));
            out.push((alias, t));
        }
        Ok(out)
    }

    /// The plan's one projection: bucket, dimensions, metrics.
    fn projected(
        &self,
        plan: LogicalPlanBuilder,
        values: Vec<(String, Expr)>,
    ) -> Result<(LogicalPlanBuilder, Vec<datafusion::logical_expr::SortExpr>)> {
        let query = self.cx.query;
        // One projection: bucket, dimensions, metrics.
        let mut taken: Vec<String> = query.group_by.clone();
        taken.extend(query.metrics.iter().cloned());
        let grid_col = |n: &str| Expr::Column(Column::new(Some("grid"), n));
        let mut select = Vec::new();
        let mut order = Vec::new();
        if let Some(grain) = query.grain {
            let name = bucket_column(grain, &taken);
            let b = grid_col(BUCKET);
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

    pub fn metric(&self, name: &str) -> Result<&'a Metric> {
        match self.cx.model.metric(name) {
            Some(m) => Ok(m),
            None => internal_err!("unknown metric `{name}` reached the planner"),
        }
    }

    /// The value of metric `name` per grid row, with `extra` filters from the
    /// derived metrics above it applied to every source row underneath.
    pub fn value(&mut self, name: &str, extra: &[ast::Expr]) -> Result<Expr> {
        let key = (name.to_string(), format!("{extra:?}"));
        if let Some(v) = self.memo.get(&key) {
            let v = v.clone();
            if size(&v) <= SHARE_WHEN_REUSED {
                return Ok(v);
            }
            let column = self.share(v);
            self.memo.insert(key, column.clone());
            return Ok(column);
        }
        let m = self.metric(name)?;
        let mut filters = extra.to_vec();
        filters.extend(m.filter.clone());
        let mut v = (self.value_of)(self, m, &filters)?;
        if size(&v) > SHARE_ALWAYS {
            v = self.share(v);
        }
        self.memo.insert(key, v.clone());
        Ok(v)
    }

    /// Computes `v` once as a column of its own (see `shared`); gives the
    /// column.
    fn share(&mut self, v: Expr) -> Expr {
        let below = v
            .column_refs()
            .into_iter()
            .filter_map(|c| self.shared.iter().find(|s| s.0 == c.name))
            .map(|s| s.2)
            .max()
            .unwrap_or(0);
        let name = format!("__{}shared{}", self.prefix, self.shared.len());
        self.shared.push((name.clone(), v, below + 1));
        Expr::Column(Column::from_name(name))
    }

    /// The scan group of a sequence (a funnel or `time_between`), the
    /// source's one sequence group, and the sequence's index in it.
    pub fn sequence_group(
        &mut self,
        source: &str,
        seq: sequence::Sequence,
    ) -> Result<(usize, usize)> {
        let key = GroupKey {
            source: source.to_string(),
            producer: Producer::Sequences,
        };
        let fresh = !self.groups.iter().any(|g| g.key == key);
        let g = self.group(key);
        // The run's sequences over this source, when shared, come first
        // and in the run's order, so every table's group is the same pass.
        if fresh {
            for s in self.cx.run.sequences.get(source).into_iter().flatten() {
                self.groups[g].seed(s.clone());
            }
        }
        Ok((g, self.groups[g].sequence(seq)))
    }

    /// How row expressions of `source` are lowered.
    pub fn rows(&self, source: &str) -> Result<Rows<'a>> {
        let Some(table) = self.cx.tables.get(source) else {
            return internal_err!("no table for source `{source}`");
        };
        Ok(Rows {
            schema: &table.schema,
            tz: self.cx.tz,
            functions: self.cx.functions,
        })
    }

    /// `filters` lowered on `source`'s rows, as one predicate.
    pub fn lower_filters<'e>(
        &self,
        source: &str,
        filters: impl IntoIterator<Item = &'e ast::Expr>,
    ) -> Result<Option<Expr>> {
        let rows = self.rows(source)?;
        Ok(filters
            .into_iter()
            .map(|f| rows.lower(f))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .reduce(Expr::and))
    }

    /// Entities of `source`'s activity group under `filters` holding
    /// membership `(test, rule)` at each bucket, for metric `metric`.
    pub fn members(
        &mut self,
        metric: &str,
        source: &str,
        filters: &[ast::Expr],
        test: Test,
        rule: activity::Rule,
    ) -> Result<Expr> {
        let filter = self.lower_filters(source, filters)?;
        // A group reports at most MAX_MEMBERS memberships; more go to the
        // next part (another scan).
        let mut part = 0;
        let (g, column) = loop {
            let g = self.group(GroupKey {
                source: source.to_string(),
                producer: Producer::Activity(activity::Activity {
                    filter: filter.clone(),
                    part,
                }),
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
        self.sequence_aggregate(g, metric, count, true)
    }

    /// The index of the group with `key`, added if new.
    pub fn group(&mut self, key: GroupKey) -> usize {
        match self.groups.iter().position(|g| g.key == key) {
            Some(i) => i,
            None => {
                self.groups.push(Group::new(key));
                self.groups.len() - 1
            }
        }
    }

    /// An aggregate over group `g`'s per-entity rows, `(aggregate, filter)`,
    /// for metric `metric`; `zero`: 0, not null, when a bucket has none.
    pub fn sequence_aggregate(
        &mut self,
        g: usize,
        metric: &str,
        (aggregate, filter): (Expr, Option<Expr>),
        zero: bool,
    ) -> Result<Expr> {
        let alias = self.alias(g);
        let call = AggCall {
            aggregate,
            filter,
            zero_when_empty: zero,
        };
        let c = expr::column(&self.groups[g].add(&alias, call, None, metric));
        Ok(if zero {
            datafusion::functions::expr_fn::coalesce(vec![c, lit(0i64)])
        } else {
            c
        })
    }

    /// Places the aggregates of `measure` (for metric `metric`, its rows
    /// under `filters`) in their scan group; returns the measure over their
    /// results.
    pub fn measure(
        &mut self,
        metric: &str,
        measure: &Measure,
        filters: &[ast::Expr],
        window: Option<Window>,
        cohort: Option<cohort::CohortKey>,
    ) -> Result<Expr> {
        let source = measure.source.as_str();
        let mut row_filter = self.lower_filters(source, filters)?;
        let rows = self.rows(source)?;
        let occurrence = match measure.occurrence {
            Occurrence::All => None,
            Occurrence::First => Some((true, row_filter.take())),
            Occurrence::Last => Some((false, row_filter.take())),
        };
        let producer = match cohort {
            None => {
                let attributes = self.reads_attributes(
                    source,
                    row_filter.as_ref(),
                    &occurrence,
                    measure,
                    &rows,
                )?;
                Producer::Scan(Scan {
                    occurrence,
                    window,
                    attributes,
                    holding: false,
                })
            }
            Some(key) => {
                if occurrence.is_some() || window.is_some() {
                    return internal_err!(
                        "a cohort of `{metric}` over first/last occurrences or windows passed the checker"
                    );
                }
                let present = expr::column(super::columns::PRESENT).is_not_null();
                row_filter = Some(match row_filter {
                    None => present,
                    Some(f) => present.and(f),
                });
                Producer::Cohort(key)
            }
        };
        let key = GroupKey {
            source: source.to_string(),
            producer,
        };
        let mut scope = self.scope(key, row_filter, metric);
        expr::lower(&measure.measure, &mut scope, &rows)
    }
}

impl Planner<'_> {
    /// Places `call` (for metric `metric`) in a plain scan group of
    /// `source`'s rows under `filters` (with `holding`, the group of
    /// aggregates that hold their rows); returns its result, 0 for an empty
    /// bucket when the call says so.
    pub fn scan_aggregate(
        &mut self,
        metric: &str,
        source: &str,
        filters: &[ast::Expr],
        call: AggCall,
        holding: bool,
    ) -> Result<Expr> {
        let row_filter = self.lower_filters(source, filters)?;
        let read = [
            Some(&call.aggregate),
            call.filter.as_ref(),
            row_filter.as_ref(),
        ];
        let attributes = self.names_attributes(source, read.into_iter().flatten());
        let key = GroupKey {
            source: source.to_string(),
            producer: Producer::Scan(Scan {
                occurrence: None,
                window: None,
                attributes,
                holding,
            }),
        };
        self.scope(key, row_filter, metric).aggregate(call)
    }

    /// The scope that places aggregates of `metric` in the group of `key`
    /// (made when new), over rows that `row_filter` keeps.
    fn scope<'s>(
        &'s mut self,
        key: GroupKey,
        row_filter: Option<Expr>,
        metric: &'s str,
    ) -> MeasureScope<'s> {
        let index = self.group(key);
        MeasureScope {
            alias: self.alias(index),
            group: &mut self.groups[index],
            row_filter,
            metric,
        }
    }

    /// Whether `exprs` over `source`'s rows name attributes of its entity,
    /// other than for the query's breakdown (which every group of the
    /// source joins anyway).
    fn names_attributes<'e>(
        &self,
        source: &str,
        mut exprs: impl Iterator<Item = &'e Expr>,
    ) -> bool {
        let Some(a) = self
            .cx
            .tables
            .get(source)
            .and_then(|t| t.attributes.as_deref())
        else {
            return false;
        };
        let is_attribute = |n: &str| a.columns.iter().any(|(_, q)| q == n);
        if self.cx.query.group_by.iter().any(|d| is_attribute(d)) {
            return false;
        }
        exprs.any(|e| e.column_refs().iter().any(|c| is_attribute(&c.name)))
    }

    /// Whether a measure over `source` under `filter` (and an occurrence's
    /// filter) reads attributes of the source's entity
    /// ([`Self::names_attributes`]).
    fn reads_attributes(
        &self,
        source: &str,
        filter: Option<&Expr>,
        occurrence: &Option<(bool, Option<Expr>)>,
        measure: &Measure,
        rows: &Rows,
    ) -> Result<bool> {
        // The measure's aggregates, lowered without placing them.
        struct Probe(Vec<Expr>);
        impl Scope for Probe {
            fn name(&mut self, name: &str) -> Result<Expr> {
                internal_err!("column `{name}` outside an aggregate passed the checker")
            }
            fn aggregate(&mut self, call: AggCall) -> Result<Expr> {
                self.0.push(call.aggregate);
                self.0.extend(call.filter);
                Ok(lit(0i64))
            }
        }
        let mut probe = Probe(Vec::new());
        expr::lower(&measure.measure, &mut probe, rows)?;
        let exprs = probe
            .0
            .iter()
            .chain(filter)
            .chain(occurrence.iter().filter_map(|(_, f)| f.as_ref()));
        Ok(self.names_attributes(source, exprs))
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
