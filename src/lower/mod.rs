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
//!
//! [`planner`] builds one result table; each metric kind's part is in
//! [`kinds`], the row producers of the groups in [`scan`], [`sequence`],
//! [`activity`], [`cohort`] and [`conversion`], chosen by
//! [`group::Producer`].

pub mod activity;
pub mod attributes;
mod cohort;
pub mod columns;
pub(crate) mod conversion;
pub mod expr;
pub mod functions;
mod grid;
mod group;
mod kinds;
mod planner;
mod scan;
mod sequence;
pub mod sql;
pub mod time;

pub use crate::semantic::kinds::describe_millis;
use crate::semantic::model::{Model, Source};
use crate::syntax::ast::Grain;
use chrono_tz::Tz;
use datafusion::common::{DFSchemaRef, Result};
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, TableSource};
use planner::Planner;
use std::collections::HashMap;
use std::sync::Arc;
pub use time::Range;

pub use crate::semantic::query::Query;

/// A source as the planner sees it: a table to scan and its Arrow schema.
#[derive(Clone)]
pub struct Table {
    pub source: Arc<dyn TableSource>,
    /// The rows' schema: the source's columns, then its entity's
    /// attributes when it has them.
    pub schema: DFSchemaRef,
    /// The attribute table joined to its rows ([`attributes`]).
    pub attributes: Option<Arc<attributes::Attributes>>,
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

/// Builds the plans for `query` over `model`, reading sources from `tables`
/// and calling `functions`:
/// the metrics table of every metric that gives a column, then the table of
/// each metric that gives one of its own (first those that are also columns).
/// With `share`, groups that can read one per-entity pass are planned to
/// (see [`Shared`]); a run under a memory limit, which runs each group
/// alone, plans without.
pub fn lower(
    model: &Model,
    query: &Query,
    tables: &HashMap<String, Table>,
    functions: &functions::Functions,
    share: bool,
) -> Result<Lowered> {
    // Planned again with only the attributes the plans use, when they use
    // fewer than the tables give; then twice more when groups of the run
    // can share a per-entity pass: first to find them, then with them
    // shared.
    let alone = Shared::default();
    let (mut lowered, mut shared) = lower_with(model, query, tables, functions, &alone)?;
    let mut used = std::collections::HashSet::new();
    for t in &lowered.tables {
        used.extend(attributes::used_columns(&t.plan));
    }
    let narrowed = attributes::narrowed(tables, &used);
    let tables = narrowed.as_ref().unwrap_or(tables);
    if narrowed.is_some() {
        (lowered, shared) = lower_with(model, query, tables, functions, &alone)?;
    }
    if !share || shared == alone {
        return Ok(lowered);
    }
    Ok(lower_with(model, query, tables, functions, &shared)?.0)
}

/// [`lower`] with the passes in `run` shared; also what could be shared.
fn lower_with(
    model: &Model,
    query: &Query,
    tables: &HashMap<String, Table>,
    functions: &functions::Functions,
    run: &Shared,
) -> Result<(Lowered, Shared)> {
    let cx = || Ctx {
        model,
        query,
        tables,
        functions,
        tz: model.project.time_zone,
        run,
    };
    let buckets = time::spine(
        query.grain,
        model.project.week_start,
        model.project.time_zone,
        query.range,
    )
    .or_else(|e| datafusion::common::plan_err!("{e}"))?;
    let metrics = query
        .metrics
        .iter()
        .map(|n| match model.metric(n) {
            Some(m) => Ok(m),
            None => datafusion::common::internal_err!("unknown metric `{n}` reached the planner"),
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = Lowered {
        tables: Vec::new(),
        groups: Vec::new(),
    };
    let mut found = Found::default();
    let columns: Vec<_> = metrics.iter().filter(|m| m.shape.column).collect();
    if !columns.is_empty() {
        let mut planner = Planner::new(cx(), "g", kinds::value);
        let mut values = Vec::new();
        for m in columns {
            values.push((m.name.clone(), planner.value(&m.name, &[])?));
        }
        let (plan, order) = planner.assemble(&buckets, values)?;
        let plan = if order.is_empty() {
            plan
        } else {
            plan.sort(order)?
        };
        out.groups.extend(planner.summaries());
        found.add(&planner);
        out.tables.push(ResultPlan {
            metric: None,
            title: "metrics".into(),
            plan: plan.build()?,
        });
    }
    // Group aliases of the tables: `c0g0..` for tables of metrics that are
    // also columns, `f0g0..` for the others.
    for (prefix, also_column) in [("c", true), ("f", false)] {
        let own = metrics
            .iter()
            .filter_map(|m| Some((m, m.shape.table.as_ref()?)))
            .filter(|(m, _)| m.shape.column == also_column);
        for (i, (m, shape)) in own.enumerate() {
            let mut planner = Planner::new(cx(), &format!("{prefix}{i}g"), kinds::value);
            let plan = kinds::table(&mut planner, m, &buckets)?;
            out.groups.extend(planner.summaries());
            found.add(&planner);
            out.tables.push(ResultPlan {
                metric: Some(m.name.clone()),
                title: shape.title.clone(),
                plan,
            });
        }
    }
    Ok((out, found.shared()))
}

/// What the tables of a run read per entity, gathered table by table.
#[derive(Default)]
struct Found {
    tables: usize,
    /// Per source: the tables with a sequence group over it, whether its
    /// values read only counts, and its sequences.
    sequences: Vec<(String, usize, bool, Vec<sequence::Sequence>)>,
    picks: Vec<((String, bool), Option<datafusion::logical_expr::Expr>)>,
}

impl Found {
    fn add(&mut self, planner: &Planner) {
        for g in &planner.groups {
            let source = &g.key.source;
            if let Some((counts, seqs)) = g.sequences() {
                self.sequences
                    .push((source.clone(), self.tables, counts, seqs.to_vec()));
            }
            if let Some((first, filter)) = g.picks(&planner.cx) {
                let key = (source.clone(), first);
                if !self.picks.iter().any(|p| p.0 == key && p.1 == filter) {
                    self.picks.push((key, filter));
                }
            }
        }
        self.tables += 1;
    }

    /// The passes to share: a source's sequences when several tables run
    /// them (and all read the same: counts, or times), picks when several
    /// groups pick on one source.
    fn shared(self) -> Shared {
        let mut out = Shared::default();
        let mut sources: Vec<&String> = Vec::new();
        for (source, ..) in &self.sequences {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        for source in sources {
            let of: Vec<_> = self.sequences.iter().filter(|s| &s.0 == source).collect();
            if of.len() < 2 || of.iter().any(|s| s.2 != of[0].2) {
                continue;
            }
            let mut all: Vec<sequence::Sequence> = Vec::new();
            for seq in of.iter().flat_map(|s| &s.3) {
                if !all.contains(seq) {
                    all.push(seq.clone());
                }
            }
            out.sequences.insert(source.clone(), all);
        }
        for (key, filter) in self.picks {
            out.picks.entry(key).or_default().push(filter);
        }
        out.picks.retain(|_, fs| fs.len() > 1);
        out
    }
}

/// The Arrow type of `source`'s time column in `table`.
pub(crate) fn time_type(
    source: &Source,
    table: &Table,
) -> Result<datafusion::arrow::datatypes::DataType> {
    Ok(table
        .schema
        .field_with_unqualified_name(&source.time)?
        .data_type()
        .clone())
}

/// The Arrow types of the query's breakdown dimensions in `table`, in
/// order: the types of typed nulls where a row has no breakdown values.
pub(crate) fn dim_types(
    cx: &Ctx,
    table: &Table,
) -> Result<Vec<datafusion::arrow::datatypes::DataType>> {
    cx.query
        .group_by
        .iter()
        .map(|d| {
            Ok(table
                .schema
                .field_with_unqualified_name(d)?
                .data_type()
                .clone())
        })
        .collect()
}

/// What group plans need to know about the run.
pub(crate) struct Ctx<'a> {
    pub model: &'a Model,
    pub query: &'a Query,
    pub tables: &'a HashMap<String, Table>,
    pub functions: &'a functions::Functions,
    pub tz: Tz,
    /// The per-entity passes that several groups of the run (in one result
    /// table or across them) should share.
    pub run: &'a Shared,
}

/// Per-entity passes shared by groups of a run, found by planning the run
/// once without them. A shared pass is planned the same in every group that
/// reads it, so `Engine::once` runs it once for the whole run.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Shared {
    /// Per source, every sequence of the run, when more than one table
    /// runs sequences over that source: each table's sequence group runs
    /// them all, in this order.
    pub sequences: HashMap<String, Vec<sequence::Sequence>>,
    /// Per source and first (`true`) or last match, the match filters of
    /// every group that only counts entities by their first (last) match,
    /// when there is more than one: each such group reads one pass that
    /// picks every filter's match.
    pub picks: HashMap<(String, bool), Vec<Option<datafusion::logical_expr::Expr>>>,
}

/// A source's rows that are events: with a time, and with an entity when the
/// source has one (docs/RUNNING.md, "Values"). The per-entity engines state
/// the same in their own predicates; files whose footers show nulls in these
/// columns are refused at check (E0222), others warned about (W0004).
pub(crate) fn events(source: &Source, table: &Table) -> Result<LogicalPlanBuilder> {
    let scan = LogicalPlanBuilder::scan(source.name.as_str(), table.source.clone(), None)?;
    let mut present = expr::column(&source.time).is_not_null();
    if let Some(entity) = &source.entity {
        present = present.and(expr::column(entity).is_not_null());
    }
    // The filter above the join: portable SQL (`explain --sql`) would
    // otherwise move it into the left join's ON, where it keeps every row.
    attributes::join(scan, source, table)?.filter(present)
}
