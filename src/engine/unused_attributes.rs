//! execute: drops the join of an entity's attribute table
//! (`lower::attributes::join`) when nothing above it reads an attribute.
//!
//! Planning joins attributes only where a group's plan names them, but some
//! producers name every column of their rows (a cohort's rows, for one):
//! there DataFusion's projection pushdown is what finds the attributes
//! unread, leaving the join's table side with its key and version bounds
//! alone. Such a join gives each row of the source exactly once (the key is
//! unique, checked before the run, E0310; with `valid_from` the versions of
//! an entity do not overlap) and nothing else, so it is replaced by the
//! source's rows, with typed nulls where the table's columns were, so that
//! the schema above is unchanged.

use crate::lower::attributes::{self, SIDE_COLUMNS};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result, ScalarValue};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, Projection, cast, lit};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use std::sync::Arc;

#[derive(Debug)]
pub struct UnusedAttributes;

/// Whether `plan` reads an entity's attribute table (its scan is named by
/// `attributes::scan_name`).
fn reads_attribute_table(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(s) = node
            && attributes::is_scan_name(s.table_name.table())
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

impl OptimizerRule for UnusedAttributes {
    fn name(&self) -> &str {
        "metricc_unused_attributes"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // The table side gives only what the join itself needs.
        let only_join_columns = join
            .left
            .schema()
            .fields()
            .iter()
            .all(|f| SIDE_COLUMNS.contains(&f.name().as_str()));
        if join.join_type != JoinType::Right
            || !only_join_columns
            || !reads_attribute_table(&join.left)
        {
            return Ok(Transformed::no(plan));
        }
        let left_len = join.left.schema().fields().len();
        let exprs = join
            .schema
            .iter()
            .enumerate()
            .map(|(i, (qualifier, field))| {
                if i < left_len {
                    let null = cast(lit(ScalarValue::Null), field.data_type().clone());
                    Ok(null.alias_qualified(qualifier.cloned(), field.name()))
                } else {
                    Ok(Expr::Column(Column::new(qualifier.cloned(), field.name())))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let projection =
            Projection::try_new_with_schema(exprs, join.right.clone(), join.schema.clone())?;
        Ok(Transformed::yes(LogicalPlan::Projection(projection)))
    }
}

/// The rule as the session takes it.
pub fn rule() -> Arc<UnusedAttributes> {
    Arc::new(UnusedAttributes)
}
