//! execute: logical plan rewrites that decide how a lowered plan runs (not
//! what it computes): repeated subplans run once, and under a memory limit
//! every aggregating subplan runs on its own.

use super::Engine;
use crate::lower::columns::{COHORTS, OUTCOMES, PASSES};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use std::collections::HashMap;
use std::sync::Arc;

impl Engine {
    /// The plans of a run with their repeated subplans run once and read
    /// from memory at each place. DataFusion runs a plan tree as written,
    /// so without this a scan group read both for its values and for the
    /// grid's breakdown values scans its source twice, and a per-entity
    /// pass that several tables read runs once per table.
    ///
    /// Two steps. First the per-entity passes named for sharing
    /// (`columns::PASSES`: a source's sequence outcomes, a cohort key's
    /// entities, each entity's first or last matches), across all tables
    /// of the run: their results have a row per entity at most. Then,
    /// within each table, every other repeated aliased subplan, outermost
    /// first (a scan group's result, not the rows inside it, which can be
    /// every row of a source).
    ///
    /// Subplans are compared by their plans (equal plans give equal rows;
    /// within one run a table name is one source), not by their text: a
    /// plan's text shortens long `VALUES` lists.
    pub fn once(&self, plans: Vec<LogicalPlan>) -> Result<Vec<LogicalPlan>> {
        let mut n = 0;
        let plans = self.share(plans, &mut n, |name| PASSES.contains(&name))?;
        plans
            .into_iter()
            .map(|p| Ok(self.share(vec![p], &mut n, |_| true)?.remove(0)))
            .collect()
    }

    /// `plans` with each aliased subplan that occurs more than once among
    /// them, under an alias `eligible` accepts, run once (the outermost of
    /// nested ones); `n` numbers the tables made.
    fn share(
        &self,
        plans: Vec<LogicalPlan>,
        n: &mut usize,
        eligible: impl Fn(&str) -> bool,
    ) -> Result<Vec<LogicalPlan>> {
        use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
        fn input<'p>(
            node: &'p LogicalPlan,
            eligible: &impl Fn(&str) -> bool,
        ) -> Option<&'p LogicalPlan> {
            match node {
                LogicalPlan::SubqueryAlias(a) if eligible(a.alias.table()) => shareable(node),
                _ => None,
            }
        }
        let mut counts: HashMap<LogicalPlan, usize> = HashMap::new();
        for p in &plans {
            p.apply(|node| {
                if let Some(i) = input(node, &eligible) {
                    *counts.entry(i.clone()).or_default() += 1;
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
        }
        if counts.values().all(|c| *c < 2) {
            return Ok(plans);
        }
        let mut done: HashMap<LogicalPlan, LogicalPlan> = HashMap::new();
        plans
            .into_iter()
            .map(|plan| {
                plan.transform_down(|node| {
                    let Some(i) = input(&node, &eligible) else {
                        return Ok(Transformed::no(node));
                    };
                    if counts.get(i).is_none_or(|c| *c < 2) {
                        return Ok(Transformed::no(node));
                    }
                    let scan = match done.get(i) {
                        Some(scan) => scan.clone(),
                        None => {
                            let scan = self.in_memory(i, *n)?;
                            *n += 1;
                            done.insert(i.clone(), scan.clone());
                            scan
                        }
                    };
                    let LogicalPlan::SubqueryAlias(a) = &node else {
                        return Ok(Transformed::no(node));
                    };
                    let aliased = LogicalPlanBuilder::from(scan)
                        .alias(a.alias.clone())?
                        .build()?;
                    Ok(Transformed::new(aliased, true, TreeNodeRecursion::Jump))
                })
                .map(|t| t.data)
            })
            .collect()
    }

    /// `plan` with every aliased subplan that aggregates (a scan group, a
    /// funnel's or a retention's counts) run on its own, innermost first,
    /// and read from memory where it was; repeated ones run once. For runs
    /// under a memory limit: DataFusion's fair pool splits the limit among
    /// every spillable operator of the running plan, idle ones included, so
    /// a plan of many groups leaves each a small share (an exact
    /// `count_distinct` over one bucket cannot spill), where one group at a
    /// time gets the whole limit.
    pub fn one_at_a_time(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
        let key = |p: &LogicalPlan| format!("{}", p.display_indent_schema());
        let mut done: HashMap<String, LogicalPlan> = HashMap::new();
        plan.transform_up(|node| {
            let LogicalPlan::SubqueryAlias(alias) = &node else {
                return Ok(Transformed::no(node));
            };
            let mut aggregates = false;
            node.apply(|n| {
                aggregates |= matches!(n, LogicalPlan::Aggregate(_));
                Ok(if aggregates {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })?;
            // Per-entity passes shared by several groups stay in their
            // groups' plans: held whole, they could hold a row per entity.
            let pass = [OUTCOMES, COHORTS].contains(&alias.alias.table());
            if !aggregates || pass {
                return Ok(Transformed::no(node));
            }
            let k = key(&node);
            if let Some(p) = done.get(&k) {
                return Ok(Transformed::yes(p.clone()));
            }
            // The scan's name is unique: an enclosing alias's key shows only
            // the names of the scans below it, and must differ when they do.
            let scan = self.in_memory(&alias.input, done.len())?;
            let scan = LogicalPlanBuilder::from(scan)
                .alias(alias.alias.clone())?
                .build()?;
            done.insert(k, scan.clone());
            Ok(Transformed::yes(scan))
        })
        .map(|t| t.data)
    }

    /// Runs `plan` and gives a scan of its result, a table named after `n`.
    fn in_memory(&self, plan: &LogicalPlan, n: usize) -> Result<LogicalPlan> {
        let schema = Arc::new(plan.schema().as_arrow().clone());
        let batches = self
            .collect(plan.clone())?
            .into_iter()
            .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let table = MemTable::try_new(Arc::clone(&schema), vec![batches])?;
        LogicalPlanBuilder::scan(
            format!("__once_{n}"),
            provider_as_source(Arc::new(table)),
            None,
        )?
        .build()
    }
}

/// The input of an aliased subplan worth running once when repeated: not
/// a bare scan (reading a table twice costs less than holding it).
fn shareable(node: &LogicalPlan) -> Option<&LogicalPlan> {
    match node {
        LogicalPlan::SubqueryAlias(a) if !matches!(a.input.as_ref(), LogicalPlan::TableScan(_)) => {
            Some(a.input.as_ref())
        }
        _ => None,
    }
}
