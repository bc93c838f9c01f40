//! execute: logical plan rewrites that decide how a lowered plan runs (not
//! what it computes): repeated subplans run once, and under a memory limit
//! every aggregating subplan runs on its own.

use super::Engine;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::LogicalPlan;
use std::collections::HashMap;
use std::sync::Arc;

impl Engine {
    /// `plan` with every aliased subplan that occurs more than once (a scan
    /// group read both for its values and for the breakdown values of the
    /// grid) run once and read from memory at each place. DataFusion runs a
    /// plan tree as written, so without this such a group scans its source
    /// twice. Group results are small: one row per bucket and breakdown.
    pub fn once(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
        let key = |p: &LogicalPlan| format!("{}", p.display_indent_schema());
        let mut counts: HashMap<String, usize> = HashMap::new();
        plan.apply(|node| {
            if matches!(node, LogicalPlan::SubqueryAlias(_)) {
                *counts.entry(key(node)).or_default() += 1;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if counts.values().all(|n| *n < 2) {
            return Ok(plan);
        }
        let mut done: HashMap<String, LogicalPlan> = HashMap::new();
        plan.transform_down(|node| {
            let LogicalPlan::SubqueryAlias(alias) = &node else {
                return Ok(Transformed::no(node));
            };
            let k = key(&node);
            if counts.get(&k).is_none_or(|n| *n < 2) {
                return Ok(Transformed::no(node));
            }
            if let Some(p) = done.get(&k) {
                return Ok(Transformed::new(p.clone(), true, TreeNodeRecursion::Jump));
            }
            let scan = self.in_memory(&node, &alias.alias.to_string(), done.len())?;
            done.insert(k, scan.clone());
            Ok(Transformed::new(scan, true, TreeNodeRecursion::Jump))
        })
        .map(|t| t.data)
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
            if !aggregates {
                return Ok(Transformed::no(node));
            }
            let k = key(&node);
            if let Some(p) = done.get(&k) {
                return Ok(Transformed::yes(p.clone()));
            }
            // The scan's name is unique: an enclosing alias's key shows only
            // the names of the scans below it, and must differ when they do.
            let scan = self.in_memory(&node, &alias.alias.to_string(), done.len())?;
            done.insert(k, scan.clone());
            Ok(Transformed::yes(scan))
        })
        .map(|t| t.data)
    }

    /// Runs `node` and gives a scan of its result, aliased `name`; the
    /// table is named after `name` and `n`.
    fn in_memory(&self, node: &LogicalPlan, name: &str, n: usize) -> Result<LogicalPlan> {
        let schema = Arc::new(node.schema().as_arrow().clone());
        let batches = self
            .collect(node.clone())?
            .into_iter()
            .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let table = MemTable::try_new(Arc::clone(&schema), vec![batches])?;
        datafusion::logical_expr::LogicalPlanBuilder::scan(
            format!("__once_{name}_{n}"),
            provider_as_source(Arc::new(table)),
            None,
        )?
        .alias(name)?
        .build()
    }
}
