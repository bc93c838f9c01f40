//! lower: an entity's attributes on a source's rows (docs/SEMANTICS.md,
//! "Entity attributes"). A source whose entity has an attribute table reads
//! its rows left-joined to that table on the key, each attribute as a column
//! named `entity.attribute`; with `valid_from`, each row to the version of
//! its entity that holds at the row's time. The join is built only for the
//! attributes a plan uses ([`narrowed`]): a join costs a scan of the table
//! and a hash table, and none is made for nothing.

use super::Table;
use super::expr;
use super::time;
use crate::semantic::model::{Entity, Source};
use chrono_tz::Tz;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result, internal_err};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::expr_fn::cast;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, JoinType, LogicalPlan, LogicalPlanBuilder, TableSource, lit,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The key column of the attribute side of the join.
const KEY: &str = "__attr_key";
/// When the version of a row starts and ends.
const FROM: &str = "__attr_from";
const UNTIL: &str = "__attr_until";
/// The attribute side's columns that are not attributes: what the join
/// itself reads.
pub const SIDE_COLUMNS: [&str; 3] = [KEY, FROM, UNTIL];

/// An entity's attribute table as joined to one source's rows.
#[derive(Clone)]
pub struct Attributes {
    pub entity: String,
    pub table: Arc<dyn TableSource>,
    /// The table's Arrow schema.
    pub schema: Arc<Schema>,
    /// The key column in the table.
    pub key: String,
    /// The attributes joined: the table's column, the rows' name.
    pub columns: Vec<(String, String)>,
    pub valid_from: Option<String>,
    /// The project's time zone: a `valid_from` of dates starts at local
    /// midnight.
    pub tz: Tz,
}

impl Attributes {
    /// The name of the table's scan in plans; [`used_entities`] finds it.
    pub fn scan_name(&self) -> String {
        scan_name(&self.entity)
    }
}

pub fn scan_name(entity: &str) -> String {
    format!("{SCAN_PREFIX}{entity}")
}

const SCAN_PREFIX: &str = "__entity_";

/// Whether a table scan's name is an attribute table's.
pub fn is_scan_name(name: &str) -> bool {
    name.starts_with(SCAN_PREFIX)
}

/// `table` (a source's) with the attributes of `entity`, read from
/// `attributes`: every attribute, until [`narrowed`] cuts them down.
pub fn attach(table: Table, entity: &Entity, attributes: &Table, tz: Tz) -> Result<Table> {
    let arrow = attributes.schema.as_arrow();
    let mut fields: Vec<Field> = table
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = Vec::new();
    for a in &entity.attributes {
        let field = arrow.field_with_name(a)?;
        let name = entity.qualified(a);
        fields.push(Field::new(&name, field.data_type().clone(), true));
        columns.push((a.clone(), name));
    }
    let schema = Schema::new_with_metadata(fields, table.schema.as_arrow().metadata().clone());
    Ok(Table {
        source: table.source,
        schema: Arc::new(DFSchema::try_from(schema)?),
        attributes: Some(Arc::new(Attributes {
            entity: entity.name.clone(),
            table: attributes.source.clone(),
            schema: Arc::new(arrow.clone()),
            key: entity.key.clone(),
            columns,
            valid_from: entity.valid_from.clone(),
            tz,
        })),
    })
}

/// `rows` (the events of `source`, read from `table`) with the attributes
/// of `table`, when it has any: an outer join on the rows' side, so that a
/// row whose entity has no row (or no version at its time) in the table
/// keeps its place with null attributes.
pub fn join(
    rows: LogicalPlanBuilder,
    source: &Source,
    table: &Table,
) -> Result<LogicalPlanBuilder> {
    let Some(a) = table
        .attributes
        .as_deref()
        .filter(|a| !a.columns.is_empty())
    else {
        return Ok(rows);
    };
    let Some(entity) = &source.entity else {
        return internal_err!("attributes on source `{}` without an entity", source.name);
    };
    // The key as the rows have it (`check` made sure both are strings or
    // both integers; their widths may differ).
    let key_ty = table
        .schema
        .field_with_unqualified_name(entity)?
        .data_type()
        .clone();
    let mut cols = vec![cast(expr::column(&a.key), key_ty).alias(KEY)];
    for (column, name) in &a.columns {
        cols.push(expr::column(column).alias(name));
    }
    let side = LogicalPlanBuilder::scan(a.scan_name(), a.table.clone(), None)?
        .filter(expr::column(&a.key).is_not_null())?;
    // The attribute table is the join's left input, DataFusion's build
    // side: its hash table holds the entities, not the events (which are
    // many more, and whose size after a filter the optimizer cannot know).
    let rows = rows.build()?;
    let Some(valid_from) = &a.valid_from else {
        return side.project(cols)?.join(
            rows,
            JoinType::Right,
            (vec![KEY], vec![entity.as_str()]),
            None,
        );
    };
    // Versions: each holds from its start until the next version's start.
    let from_ty = a.schema.field_with_name(valid_from)?.data_type().clone();
    let time_ty = super::time_type(source, table)?;
    let from = comparable(expr::column(valid_from), &from_ty, &time_ty, a.tz);
    let until = datafusion::functions_window::expr_fn::lead(from.clone(), Some(1), None)
        .partition_by(vec![expr::column(&a.key)])
        .order_by(vec![from.clone().sort(true, false)])
        .build()?;
    cols.push(from.alias(FROM));
    cols.push(expr::column(UNTIL));
    let side = side.window(vec![until.alias(UNTIL)])?.project(cols)?;
    let t = comparable(expr::column(&source.time), &time_ty, &from_ty, a.tz);
    let holds = expr::column(FROM)
        .lt_eq(t.clone())
        .and(expr::column(UNTIL).is_null().or(t.lt(expr::column(UNTIL))));
    side.join(
        rows,
        JoinType::Right,
        (vec![KEY], vec![entity.as_str()]),
        Some(holds),
    )
}

/// A time column of type `ty`, in a form comparable with one of type
/// `other`: two timestamps as instants (a timestamp without zone read as
/// UTC, as everywhere); with a date on either side, as wall-clock times in
/// the project's zone, a date being its local midnight (never inside a
/// daylight-saving repeat, so the order is the instants' order).
fn comparable(column: Expr, ty: &DataType, other: &DataType, tz: Tz) -> Expr {
    if time::is_date(ty) || time::is_date(other) {
        return time::local_time(column, ty, tz);
    }
    cast(
        column,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    )
}

/// The column names `plan` refers to, anywhere in it.
pub fn used_columns(plan: &LogicalPlan) -> HashSet<String> {
    let mut out = HashSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::Column(c) = e {
                    out.insert(c.name.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    out
}

/// `tables` with each source's attributes cut to those named in `used`, or
/// `None` when no table changes.
pub fn narrowed(
    tables: &HashMap<String, Table>,
    used: &HashSet<String>,
) -> Option<HashMap<String, Table>> {
    let mut changed = false;
    let out = tables
        .iter()
        .map(|(name, t)| {
            let mut t = t.clone();
            if let Some(a) = &t.attributes {
                let kept: Vec<_> = a
                    .columns
                    .iter()
                    .filter(|(_, n)| used.contains(n))
                    .cloned()
                    .collect();
                if kept.len() != a.columns.len() {
                    changed = true;
                    t.attributes = Some(Arc::new(Attributes {
                        columns: kept,
                        ..a.as_ref().clone()
                    }));
                }
            }
            (name.clone(), t)
        })
        .collect();
    changed.then_some(out)
}

/// The entities whose attribute tables `plan` reads.
pub fn used_entities(plan: &LogicalPlan, entities: &mut Vec<String>) {
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(s) = node
            && let Some(entity) = s.table_name.table().strip_prefix(SCAN_PREFIX)
            && !entities.iter().any(|e| e == entity)
        {
            entities.push(entity.to_string());
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

/// A plan giving up to three keys (with their `valid_from`) that have more
/// than one row in the attribute table of `a`, and how many rows each has.
pub fn duplicates(a: &Attributes) -> Result<LogicalPlan> {
    let mut keys = vec![expr::column(&a.key)];
    if let Some(v) = &a.valid_from {
        keys.push(expr::column(v));
    }
    LogicalPlanBuilder::scan(a.scan_name(), a.table.clone(), None)?
        .filter(expr::column(&a.key).is_not_null())?
        .aggregate(keys, vec![count(lit(1i64)).alias("__rows")])?
        .filter(expr::column("__rows").gt(lit(1i64)))?
        .sort(vec![expr::column(&a.key).sort(true, true)])?
        .limit(0, Some(3))?
        .build()
}
