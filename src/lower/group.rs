//! lower: scan groups. One scan and one aggregation by bucket and dimensions
//! for every aggregate that reads the same source the same way; the row
//! producers are [`Producer`]s, each in its module.

use super::activity::{self, Activity, Rule};
use super::cohort::{self, CohortKey};
use super::columns::BUCKET;
use super::conversion::{self, ConversionKey};
use super::expr::{self, AggCall};
use super::functions::activity::{MAX_MEMBERS, Test};
use super::scan::{self, Scan};
use super::sequence::{self, Sequence};
use super::time::Bucket;
use super::{Ctx, GroupSummary};
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::{Expr, LogicalPlan, lit};

/// A scan group's key: its source and how rows reach its aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupKey {
    pub source: String,
    pub producer: Producer,
}

/// How rows reach a group's aggregates: the row producer.
#[derive(Debug, Clone, PartialEq)]
pub enum Producer {
    /// The source's rows, or each entity's first or last match; by bucket
    /// or over each bucket's window ([`scan`]).
    Scan(Scan),
    /// Each entity's best attempt per entry period at each of the source's
    /// funnels and `time_between`s, in one pass ([`sequence`]); the
    /// sequences are the group's.
    Sequences,
    /// Each entity's memberships per bucket: active, churned ... ([`activity`]).
    Activity(Activity),
    /// The source's rows of cohort entities in their window ([`cohort`]).
    Cohort(CohortKey),
    /// Base events and the conversions credited to them ([`conversion`]).
    Conversion(Box<ConversionKey>),
}

#[derive(Debug, Clone)]
pub(super) struct Agg {
    pub name: String,
    pub call: AggCall,
    /// The metric's row filter (its `filter` and those of derived metrics).
    pub row_filter: Option<Expr>,
}

/// A scan group being filled.
#[derive(Debug, Clone)]
pub struct Group {
    pub key: GroupKey,
    aggs: Vec<Agg>,
    metrics: Vec<String>,
    /// The memberships an activity group reports, `__m0..`.
    members: Vec<(Test, Rule)>,
    /// The sequences a sequence group runs, `__seq` 0..
    sequences: Vec<Sequence>,
    /// Those of them the table's values read (the others are the run's,
    /// run here so that the tables share one pass).
    used: Vec<usize>,
}

impl Group {
    pub fn new(key: GroupKey) -> Self {
        Group {
            key,
            aggs: Vec::new(),
            metrics: Vec::new(),
            members: Vec::new(),
            sequences: Vec::new(),
            used: Vec::new(),
        }
    }

    /// The index of sequence `seq` in the group, added if new.
    pub fn sequence(&mut self, seq: Sequence) -> usize {
        let i = self.seed(seq);
        if !self.used.contains(&i) {
            self.used.push(i);
        }
        i
    }

    /// Adds sequence `seq` to the pass (if new) without reading it: one of
    /// the run's sequences over the source, when tables share the pass.
    pub fn seed(&mut self, seq: Sequence) -> usize {
        match self.sequences.iter().position(|s| *s == seq) {
            Some(i) => i,
            None => {
                self.sequences.push(seq);
                self.sequences.len() - 1
            }
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

    /// A sequence group's sequences, and whether its values read only
    /// counts (no step times).
    pub fn sequences(&self) -> Option<(bool, &[Sequence])> {
        if self.key.producer != Producer::Sequences {
            return None;
        }
        // As the plan asks it: of the aggregates with their filters.
        let mut read: Vec<Expr> = Vec::new();
        for a in &self.aggs {
            read.push(a.call.aggregate.clone());
            read.extend(a.call.filter.clone());
            read.extend(a.row_filter.clone());
        }
        Some((!sequence::needs_times(&read), &self.sequences))
    }

    /// A group that only counts entities by their first (`true`) or last
    /// match: which, and the match filter.
    pub fn picks(&self, cx: &Ctx) -> Option<(bool, Option<Expr>)> {
        let Producer::Scan(s) = &self.key.producer else {
            return None;
        };
        let entity = cx.model.source(&self.key.source)?.entity.as_ref()?;
        let (first, filter) = s.occurrence.as_ref()?;
        scan::entities_only(cx, s, &self.aggs, entity).then(|| (*first, filter.clone()))
    }

    pub fn summary(&self, alias: &str) -> GroupSummary {
        let how = match &self.key.producer {
            Producer::Conversion(c) => c.describe(&self.key.source),
            Producer::Cohort(c) => format!(
                "rows of each cohort entity over {} {}s from its first cohort event on `{}`",
                c.periods,
                c.period.as_str(),
                c.source
            ),
            Producer::Activity(_) => {
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
            Producer::Sequences => {
                let each: Vec<String> = self
                    .sequences
                    .iter()
                    .map(|seq| {
                        let q = &seq.spec;
                        format!(
                            "{} steps, {}{}",
                            q.steps,
                            format!("{:?}", q.order).to_lowercase(),
                            if q.first_only {
                                ", first `from` event only".to_string()
                            } else {
                                match q.window {
                                    i64::MAX => ", unbounded".to_string(),
                                    // An exclusive edge: 1µs short of the window.
                                    w if w % 1000 == 999 => format!(
                                        ", within {} (edge exclusive)",
                                        crate::lower::describe_millis((w + 1) / 1000)
                                    ),
                                    w => format!(
                                        ", within {}",
                                        crate::lower::describe_millis(w / 1000)
                                    ),
                                }
                            }
                        )
                    })
                    .collect();
                format!(
                    "best attempt per entity and entry period, in one pass: {}",
                    each.join("; ")
                )
            }
            Producer::Scan(s) => s.describe(),
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
    /// column per aggregate; qualified by `alias`. Its rows carry only the
    /// entity attributes it uses: other groups of the run may use more.
    pub fn plan(&self, cx: &Ctx, buckets: &[Bucket], alias: &str) -> Result<LogicalPlan> {
        let plan = self.plan_over(cx, buckets, alias)?;
        let used = super::attributes::used_columns(&plan);
        match super::attributes::narrowed(cx.tables, &used) {
            None => Ok(plan),
            Some(tables) => {
                let cx = Ctx {
                    tables: &tables,
                    ..*cx
                };
                self.plan_over(&cx, buckets, alias)
            }
        }
    }

    fn plan_over(&self, cx: &Ctx, buckets: &[Bucket], alias: &str) -> Result<LogicalPlan> {
        let Some(table) = cx.tables.get(&self.key.source) else {
            return internal_err!("no table for source `{}`", self.key.source);
        };
        let Some(source) = cx.model.source(&self.key.source) else {
            return internal_err!("no source `{}`", self.key.source);
        };
        let scan = || super::events(source, table);
        let time_ty = super::time_type(source, table)?;
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

        let grouped = match &self.key.producer {
            Producer::Cohort(ck) => {
                let mut rows = cohort::rows(cx, ck, &self.key.source)?;
                if let Some(k) = keep {
                    rows = rows.filter(k)?;
                }
                rows.aggregate(cohort::keys(cx, cx.query.grain), aggregates)?
            }
            Producer::Activity(act) => {
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
                rows.aggregate(group_by, aggregates)?
            }
            Producer::Conversion(ck) => {
                let rows = conversion::rows(cx, ck, source, table, &time_ty)?;
                let mut group_by = vec![expr::column(BUCKET)];
                group_by.extend(dims);
                rows.aggregate(group_by, aggregates)?
            }
            Producer::Sequences => {
                let Some(entity) = &source.entity else {
                    return internal_err!("a funnel on source `{}` without an entity", source.name);
                };
                let dim_types = super::dim_types(cx, table)?;
                let counts = !sequence::needs_times(&aggregates);
                let rows = sequence::rows(
                    cx,
                    &self.sequences,
                    counts,
                    scan()?,
                    &source.time,
                    &time_ty,
                    entity,
                    &dim_types,
                )?;
                // Outcomes of the run's other sequences (a shared pass) would
                // add their breakdown values to this table's rows.
                let rows = if self.used.len() < self.sequences.len() {
                    let used = self.used.iter().map(|i| lit(*i as i32)).collect();
                    rows.filter(expr::column(sequence::SEQ).in_list(used, false))?
                } else {
                    rows
                };
                let mut group_by = vec![expr::column(BUCKET)];
                group_by.extend(dims);
                rows.aggregate(group_by, aggregates)?
            }
            Producer::Scan(s) => scan::plan(
                cx,
                s,
                scan::Parts {
                    source,
                    table,
                    time_ty: &time_ty,
                    dims,
                    aggs: &self.aggs,
                    keep,
                    aggregates,
                },
                buckets,
            )?,
        };
        grouped.alias(alias)?.build()
    }
}
