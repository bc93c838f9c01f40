//! execute: logical plan rewrites that decide how a lowered plan runs (not
//! what it computes): repeated subplans run once, and under a memory limit
//! every aggregating subplan runs on its own.

use super::Engine;
use crate::lower::columns::{COHORTS, OUTCOMES};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use std::collections::HashMap;
use std::sync::Arc;

impl Engine {
    /// The plans of a run with every aliased subplan that occurs more than
    /// once, in one plan or across them, run once and read from memory at
    /// each place. DataFusion runs a plan tree as written, so without this a
    /// scan group read both for its values and for the grid's breakdown
    /// values scans its source twice, and the per-entity passes that several
    /// result tables use (a source's sequences, a cohort's entities, each
    /// entity's first matches) run once per table.
    ///
    /// Subplans are compared by their plans (equal plans give equal rows),
    /// not by their text: a plan's text shortens long `VALUES` lists.
    /// Repeated subplans inside a repeated subplan run first (innermost
    /// first, until none is left), so each runs once. What is kept is the
    /// results of repeated subplans: group results (a row per bucket and
    /// breakdown) and per-entity outcomes (a row per entity at most).
    pub fn once(&self, plans: Vec<LogicalPlan>) -> Result<Vec<LogicalPlan>> {
        use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
        use std::collections::HashSet;
        let mut plans = plans;
        let mut n = 0;
        loop {
            // Each aliased subplan (the alias's input), with how often it occurs.
            let mut counts: HashMap<LogicalPlan, usize> = HashMap::new();
            for p in &plans {
                p.apply(|node| {
                    if let Some(input) = shareable(node) {
                        *counts.entry(input.clone()).or_default() += 1;
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
            }
            let repeated: HashSet<&LogicalPlan> = counts
                .iter()
                .filter(|(_, c)| **c > 1)
                .map(|(p, _)| p)
                .collect();
            if repeated.is_empty() {
                return Ok(plans);
            }
            // The innermost: those holding no other repeated subplan.
            let mut innermost: Vec<&LogicalPlan> = Vec::new();
            for p in &repeated {
                let holds = p.exists(|node| {
                    Ok(shareable(node).is_some_and(|input| repeated.contains(input)))
                })?;
                if !holds {
                    innermost.push(p);
                }
            }
            let mut done: HashMap<LogicalPlan, LogicalPlan> = HashMap::new();
            for p in innermost {
                done.insert(p.clone(), self.in_memory(p, n)?);
                n += 1;
            }
            plans = plans
                .into_iter()
                .map(|plan| {
                    plan.transform_down(|node| {
                        let LogicalPlan::SubqueryAlias(alias) = &node else {
                            return Ok(Transformed::no(node));
                        };
                        match done.get(alias.input.as_ref()) {
                            Some(scan) => Ok(Transformed::new(
                                LogicalPlanBuilder::from(scan.clone())
                                    .alias(alias.alias.clone())?
                                    .build()?,
                                true,
                                TreeNodeRecursion::Jump,
                            )),
                            None => Ok(Transformed::no(node)),
                        }
                    })
                    .map(|t| t.data)
                })
                .collect::<Result<_>>()?;
        }
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
