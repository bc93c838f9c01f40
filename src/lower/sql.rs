//! lower: `LogicalPlan` -> SQL text through DataFusion's unparser, for
//! `metricc explain --sql`. Only here do plans become SQL, and only for
//! people and other engines to read: metricc never executes SQL text.
//!
//! Wall-clock conversion (`metricc_local_time` of a zoned cast) has no common SQL
//! spelling; it is rewritten into each dialect's own function first.

use crate::semantic::model::Model;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility, expr::ScalarFunction, lit,
};
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect as d;
use std::sync::Arc;

/// SQL dialects `explain --sql` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    Duckdb,
    Postgres,
    Bigquery,
    Snowflake,
}

/// The query as one SQL statement in `dialect`, preceded by the statements
/// that make the source tables exist (DuckDB views over the Parquet files) or
/// a comment saying which files each table is.
pub fn to_sql(plan: &LogicalPlan, model: &Model, dialect: Dialect) -> Result<String> {
    let plan = rewrite_local_time(plan.clone(), dialect)?;
    let (plan, inline) = name_values(plan)?;
    let statement = match dialect {
        Dialect::Duckdb => Unparser::new(&DuckDb).plan_to_sql(&plan)?,
        Dialect::Postgres => Unparser::new(&d::PostgreSqlDialect {}).plan_to_sql(&plan)?,
        Dialect::Bigquery => Unparser::new(&d::BigQueryDialect {}).plan_to_sql(&plan)?,
        Dialect::Snowflake => Unparser::new(&d::SnowflakeDialect::new()).plan_to_sql(&plan)?,
    };
    let mut out = String::new();
    out.push_str(&format!(
        "-- metricc: project `{}`, time zone {}\n",
        model.project.name,
        model.project.time_zone.name()
    ));
    // Range bounds are written as UTC instants.
    match dialect {
        Dialect::Duckdb => out.push_str("SET TimeZone = 'UTC';\n"),
        Dialect::Postgres => out.push_str("SET TIME ZONE 'UTC';\n"),
        Dialect::Bigquery | Dialect::Snowflake => {}
    }
    // Sources, then entities' attribute tables under their scans' names.
    let tables = model
        .sources
        .iter()
        .map(|s| (s.name.clone(), &s.schema))
        .chain(
            model
                .entities
                .iter()
                .map(|e| (super::attributes::scan_name(&e.name), &e.schema)),
        );
    for (name, schema) in tables {
        let files: Vec<String> = schema
            .files
            .iter()
            .map(|f| {
                std::path::absolute(f)
                    .unwrap_or_else(|_| f.clone())
                    .display()
                    .to_string()
            })
            .collect();
        match dialect {
            Dialect::Duckdb => {
                let list = files
                    .iter()
                    .map(|f| format!("'{}'", f.replace('\'', "''")))
                    .collect::<Vec<_>>()
                    .join(", ");
                let hive = schema.columns.iter().any(|c| c.partition);
                out.push_str(&format!(
                    "CREATE OR REPLACE VIEW \"{}\" AS SELECT * FROM read_parquet([{list}]{});\n",
                    name.replace('"', "\"\""),
                    if hive {
                        ", hive_partitioning = true, hive_types_autocast = false"
                    } else {
                        ""
                    }
                ));
            }
            _ => out.push_str(&format!(
                "-- table {}: Parquet files {}\n",
                name,
                files.join(", ")
            )),
        }
    }
    for (name, rows) in &inline {
        out.push_str(&inline_table(dialect, name, rows));
    }
    out.push_str(&statement.to_string());
    out.push_str(";\n");
    Ok(out)
}

/// The rows of each `VALUES` list, by the name it was given.
type NamedValues = Vec<(String, Vec<Vec<Expr>>)>;

/// The unparser cannot write `VALUES` inside a query: each one (the bucket
/// spine, running-total windows) becomes a named temporary table, created
/// before the query. Returns the plan and each table's name and rows.
fn name_values(plan: LogicalPlan) -> Result<(LogicalPlan, NamedValues)> {
    let mut tables = Vec::new();
    let plan = plan
        .transform_up(|node| {
            let LogicalPlan::Values(v) = &node else {
                return Ok(Transformed::no(node));
            };
            let name = if tables.is_empty() {
                "metricc_spine".to_string()
            } else {
                format!("metricc_windows_{}", tables.len())
            };
            tables.push((name.clone(), v.values.clone()));
            let schema = Arc::new(v.schema.as_arrow().clone());
            let table = provider_as_source(Arc::new(EmptyTable::new(schema)));
            Ok(Transformed::yes(
                LogicalPlanBuilder::scan(name, table, None)?.build()?,
            ))
        })?
        .data;
    Ok((plan, tables))
}

/// `CREATE TEMPORARY TABLE name AS ...` with the rows of a `VALUES` node.
fn inline_table(dialect: Dialect, name: &str, rows: &[Vec<Expr>]) -> String {
    let width = rows.first().map_or(0, Vec::len);
    let value = |e: &Expr| -> String {
        match e {
            Expr::Literal(ScalarValue::TimestampMicrosecond(Some(us), None), _) => {
                let t = chrono::DateTime::from_timestamp_micros(*us)
                    .map(|t| t.naive_utc())
                    .unwrap_or_default();
                let text = t.format("%Y-%m-%d %H:%M:%S");
                match dialect {
                    Dialect::Bigquery => format!("DATETIME '{text}'"),
                    _ => format!("TIMESTAMP '{text}'"),
                }
            }
            other => other.to_string(),
        }
    };
    let columns: Vec<String> = (1..=width).map(|i| format!("column{i}")).collect();
    match dialect {
        Dialect::Bigquery => {
            let structs: Vec<String> = rows
                .iter()
                .map(|r| {
                    let fields: Vec<String> = r
                        .iter()
                        .zip(&columns)
                        .map(|(v, c)| format!("{} AS {c}", value(v)))
                        .collect();
                    format!("STRUCT({})", fields.join(", "))
                })
                .collect();
            format!(
                "CREATE TEMP TABLE {name} AS SELECT * FROM UNNEST([{}]);\n",
                structs.join(", ")
            )
        }
        _ => {
            let tuples: Vec<String> = rows
                .iter()
                .map(|r| format!("({})", r.iter().map(value).collect::<Vec<_>>().join(", ")))
                .collect();
            format!(
                "CREATE TEMPORARY TABLE {name} AS SELECT * FROM (VALUES {}) AS t({});\n",
                tuples.join(", "),
                columns.join(", ")
            )
        }
    }
}

/// Replaces `metricc_local_time(CAST(CAST(t AS utc) AS zoned))` (and
/// DataFusion's `to_local_time`, its equal) by the dialect's own conversion
/// of an instant to wall-clock time.
fn rewrite_local_time(plan: LogicalPlan, dialect: Dialect) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|e| {
            e.transform_up(|e| {
                if let Expr::AggregateFunction(a) = &e
                    && a.func.name() == super::functions::PERCENTILE
                    && a.params.args.len() == 2
                {
                    // Other engines' percentile_cont is exact: write theirs.
                    let sort = datafusion::logical_expr::expr::Sort::new(
                        a.params.args[0].clone(),
                        true,
                        false,
                    );
                    let mut theirs = datafusion::functions_aggregate::expr_fn::percentile_cont(
                        sort,
                        a.params.args[1].clone(),
                    );
                    if let Expr::AggregateFunction(t) = &mut theirs {
                        t.params.filter = a.params.filter.clone();
                    }
                    return Ok(Transformed::yes(theirs));
                }
                let Expr::ScalarFunction(f) = &e else {
                    return Ok(Transformed::no(e));
                };
                let local = ["to_local_time", super::functions::wall::LOCAL_TIME];
                if !local.contains(&f.func.name()) || f.args.len() != 1 {
                    return Ok(Transformed::no(e));
                }
                let Expr::Cast(zoned) = &f.args[0] else {
                    return Ok(Transformed::no(e));
                };
                let DataType::Timestamp(_, Some(tz)) = zoned.field.data_type() else {
                    return Ok(Transformed::no(e));
                };
                // The instant: the column under the casts to a UTC timestamp.
                let instant = strip_casts((*zoned.expr).clone());
                Ok(Transformed::yes(local_time_call(
                    dialect,
                    instant,
                    &tz.clone(),
                )))
            })
        })
    })
    .map(|t| t.data)
}

fn strip_casts(e: Expr) -> Expr {
    match e {
        Expr::Cast(c) => strip_casts(*c.expr),
        other => other,
    }
}

fn local_time_call(dialect: Dialect, instant: Expr, tz: &str) -> Expr {
    let call = |name: &str, args: Vec<Expr>| {
        Expr::ScalarFunction(ScalarFunction::new_udf(
            Arc::new(ScalarUDF::new_from_impl(Spelling::new(name))),
            args,
        ))
    };
    let zone = lit(ScalarValue::Utf8(Some(tz.to_string())));
    match dialect {
        // timezone(zone, timestamptz) gives the wall-clock timestamp.
        Dialect::Duckdb | Dialect::Postgres => call("timezone", vec![zone, instant]),
        Dialect::Bigquery => call("DATETIME", vec![instant, zone]),
        Dialect::Snowflake => call("CONVERT_TIMEZONE", vec![lit("UTC"), zone, instant]),
    }
}

/// A function that exists only to be written as SQL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Spelling {
    name: String,
    signature: Signature,
}

impl Spelling {
    fn new(name: &str) -> Self {
        Spelling {
            name: name.to_string(),
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Spelling {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(super::time::LOCAL)
    }
    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        datafusion::common::internal_err!("`{}` is only written as SQL, never run", self.name)
    }
}

/// DuckDB as DataFusion's DuckDB dialect writes it, except that `/` stays
/// `/`: metricc divides only floating-point values, and DuckDB's `//` would
/// floor them.
struct DuckDb;

impl d::Dialect for DuckDb {
    fn identifier_quote_style(&self, _: &str) -> Option<char> {
        Some('"')
    }
    fn character_length_style(&self) -> d::CharacterLengthStyle {
        d::CharacterLengthStyle::Length
    }
    fn distinct_from_style(&self) -> d::DistinctFromStyle {
        d::DistinctFromStyle::FullText
    }
}
