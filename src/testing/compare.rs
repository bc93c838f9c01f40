//! Expected rows against a computed table: rows matched on their key
//! columns, cells compared with the documented rules (tolerance for numbers,
//! null distinct from 0, times as instants).

use super::spec::{Row, Value};
use super::values::{instant_micros, parse_written, wall};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, suggestion_help};
use chrono::{DateTime, NaiveDateTime};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use std::sync::Arc;

/// A cell reduced to what comparison needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Num(f64),
    Text(String),
    /// Wall-clock time (dates and timestamps without a zone).
    Wall(NaiveDateTime),
    /// µs since the epoch (timestamps with a zone).
    Instant(i64),
    Bool(bool),
}

/// A computed table: column names and types, each row's values and their
/// printed form.
#[derive(Debug, Clone)]
pub struct Actual {
    pub columns: Vec<String>,
    pub types: Vec<DataType>,
    pub rows: Vec<Vec<(Val, String)>>,
}

/// Reads a computed table's batches.
pub fn actual(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Actual, String> {
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let types: Vec<DataType> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let mut rows = Vec::new();
    let options = FormatOptions::default().with_null("null");
    for b in batches {
        let mut cols: Vec<Vec<(Val, String)>> = Vec::new();
        for a in b.columns() {
            let vals = vals(a).map_err(|e| e.to_string())?;
            let fmt = ArrayFormatter::try_new(a.as_ref(), &options).map_err(|e| e.to_string())?;
            let shown: Vec<String> = (0..a.len()).map(|i| fmt.value(i).to_string()).collect();
            cols.push(vals.into_iter().zip(shown).collect());
        }
        for i in 0..b.num_rows() {
            rows.push(cols.iter().map(|c| c[i].clone()).collect());
        }
    }
    Ok(Actual {
        columns,
        types,
        rows,
    })
}

fn is_number(ty: &DataType) -> bool {
    ty.is_numeric()
}

fn is_text(ty: &DataType) -> bool {
    match ty {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// Reads the non-null value at an index of an array.
type ReadValue = Box<dyn Fn(&ArrayRef, usize) -> Val>;

/// An array's values as [`Val`]s.
fn vals(a: &ArrayRef) -> datafusion::arrow::error::Result<Vec<Val>> {
    let ty = a.data_type();
    // Each type: the array read (cast where needed) and its non-null values.
    let (read, value): (ArrayRef, ReadValue) = if is_number(ty) {
        (
            cast(a, &DataType::Float64)?,
            Box::new(|r, i| Val::Num(r.as_primitive::<Float64Type>().value(i))),
        )
    } else if is_text(ty) {
        (
            cast(a, &DataType::Utf8)?,
            Box::new(|r, i| Val::Text(r.as_string::<i32>().value(i).to_string())),
        )
    } else if matches!(ty, DataType::Boolean) {
        (
            Arc::clone(a),
            Box::new(|r, i| Val::Bool(r.as_boolean().value(i))),
        )
    } else if matches!(
        ty,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, None)
    ) {
        let t = cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        (
            cast(&t, &DataType::Int64)?,
            Box::new(|r, i| {
                DateTime::from_timestamp_micros(r.as_primitive::<Int64Type>().value(i))
                    .map_or(Val::Null, |d| Val::Wall(d.naive_utc()))
            }),
        )
    } else if let DataType::Timestamp(_, Some(z)) = ty {
        let t = cast(
            a,
            &DataType::Timestamp(TimeUnit::Microsecond, Some(z.clone())),
        )?;
        (
            cast(&t, &DataType::Int64)?,
            Box::new(|r, i| Val::Instant(r.as_primitive::<Int64Type>().value(i))),
        )
    } else {
        let shown: Vec<String> = {
            let fmt = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())?;
            (0..a.len()).map(|i| fmt.value(i).to_string()).collect()
        };
        (
            Arc::clone(a),
            Box::new(move |_, i| Val::Text(shown[i].clone())),
        )
    };
    Ok((0..read.len())
        .map(|i| {
            if read.is_null(i) {
                Val::Null
            } else {
                value(&read, i)
            }
        })
        .collect())
}

/// A written expected value in the terms of a column of type `ty`.
pub fn expected(value: &Value, ty: &DataType, tz: Tz) -> Result<Val, String> {
    let text = match value {
        Value::Null => return Ok(Val::Null),
        Value::Number(x, _) if is_number(ty) => return Ok(Val::Num(*x)),
        Value::Bool(b) if matches!(ty, DataType::Boolean) => return Ok(Val::Bool(*b)),
        v => v.text().unwrap_or_default(),
    };
    if is_number(ty) {
        return number(&text).map(Val::Num).ok_or_else(|| {
            format!("`{text}` is not a number; write e.g. `42`, `0.25` or `1/3`, or `null`")
        });
    }
    match ty {
        DataType::Boolean => match text.trim() {
            "true" => Ok(Val::Bool(true)),
            "false" => Ok(Val::Bool(false)),
            _ => Err(format!("`{text}` is not `true` or `false`")),
        },
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, None) => parse_written(&text)
            .map(|w| Val::Wall(wall(w, tz)))
            .ok_or_else(|| {
                format!("`{text}` is not a date or time; write `2026-03-02` or `2026-03-02 09:00`")
            }),
        DataType::Timestamp(_, Some(_)) => {
            let w = parse_written(&text)
                .ok_or_else(|| format!("`{text}` is not a time; write `2026-03-02 09:00`"))?;
            instant_micros(w, tz).map(Val::Instant)
        }
        _ => Ok(Val::Text(text)),
    }
}

/// `0.25`, `1e-3`, `1/3`, `-2/3`.
pub fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    if let Some((a, b)) = t.split_once('/') {
        let (a, b): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        return (b != 0.0).then_some(a / b);
    }
    t.parse().ok()
}

/// Whether `actual` matches `expected` under `tolerance`.
pub fn matches(expected: &Val, actual: &Val, tolerance: f64) -> bool {
    match (expected, actual) {
        (Val::Num(e), Val::Num(a)) => {
            if e.is_nan() || a.is_nan() {
                return e.is_nan() && a.is_nan();
            }
            if e.is_infinite() || a.is_infinite() {
                return e == a;
            }
            (a - e).abs() <= tolerance * e.abs().max(1.0)
        }
        (e, a) => e == a,
    }
}

/// One way the result differs from the expected table.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    /// A matched row with a cell that differs.
    Cell {
        row: String,
        column: String,
        expected: String,
        actual: String,
    },
    /// An expected row the result does not have.
    Missing { row: String, cells: String },
    /// A result row no expected row names.
    Unexpected { row: String, cells: String },
}

/// The columns rows are matched on: those of `candidates` the table has.
pub fn key_columns(actual: &Actual, candidates: &[String]) -> Vec<usize> {
    actual
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| candidates.contains(c))
        .map(|(i, _)| i)
        .collect()
}

/// Reads the expected rows against the table's columns: an unknown column,
/// a missing key column or an unreadable value is a diagnostic.
pub fn read_expected(
    rows: &[Row],
    actual: &Actual,
    keys: &[usize],
    tz: Tz,
    diags: &mut Diagnostics,
) -> Vec<Vec<(usize, Val, String)>> {
    let mut out = Vec::new();
    for row in rows {
        let mut cells = Vec::new();
        for (column, cell) in &row.cells {
            let Some(i) = actual.columns.iter().position(|c| *c == column.value) else {
                diags.push(
                    Diagnostic::new(
                        Code::UnknownResultColumn,
                        format!("the result has no column `{}`", column.value),
                    )
                    .at(column.span, "not a column of the result table")
                    .with_help(suggestion_help(
                        &column.value,
                        "columns",
                        actual.columns.iter().map(String::as_str),
                    )),
                );
                continue;
            };
            match expected(&cell.value, &actual.types[i], tz) {
                Ok(v) => cells.push((i, v, written(&cell.value))),
                Err(message) => diags.push(
                    Diagnostic::new(
                        Code::InvalidFixtureValue,
                        format!("invalid expected value for `{}`", column.value),
                    )
                    .at(cell.span, message)
                    .with_help(format!("the column is {} in the result", actual.types[i])),
                ),
            }
        }
        let missing: Vec<&str> = keys
            .iter()
            .filter(|k| {
                !row.cells
                    .iter()
                    .any(|(c, _)| c.value == actual.columns[**k])
            })
            .map(|k| actual.columns[*k].as_str())
            .collect();
        if !missing.is_empty() {
            diags.push(
                Diagnostic::new(
                    Code::UnknownResultColumn,
                    format!("this expected row gives no `{}`", missing.join("`, `")),
                )
                .at(row.span, "rows are matched on their key columns")
                .with_help(format!(
                    "give every key column in every row: {}",
                    keys.iter()
                        .map(|k| format!("`{}`", actual.columns[*k]))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
        out.push(cells);
    }
    out
}

fn written(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Text(s) => s.clone(),
        Value::Number(_, raw) => raw.clone(),
        Value::Bool(b) => b.to_string(),
    }
}

/// Every difference between the expected rows and the table.
pub fn compare(
    expected: &[Vec<(usize, Val, String)>],
    actual: &Actual,
    keys: &[usize],
    tolerance: f64,
) -> Vec<Difference> {
    let mut used = vec![false; actual.rows.len()];
    let mut out = Vec::new();
    let label = |pairs: Vec<(usize, String)>, n: usize| -> String {
        if pairs.is_empty() {
            format!("{n}")
        } else {
            pairs
                .into_iter()
                .map(|(i, v)| format!("{}={v}", actual.columns[i]))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for (n, e) in expected.iter().enumerate() {
        let key_cells: Vec<&(usize, Val, String)> =
            e.iter().filter(|(i, _, _)| keys.contains(i)).collect();
        // Keys name rows: they match exactly, never within the tolerance.
        let found = (0..actual.rows.len()).find(|r| {
            !used[*r]
                && key_cells
                    .iter()
                    .all(|(i, v, _)| matches(v, &actual.rows[*r][*i].0, 0.0))
        });
        let row = label(
            key_cells.iter().map(|(i, _, w)| (*i, w.clone())).collect(),
            n + 1,
        );
        let Some(r) = found else {
            let cells = e
                .iter()
                .filter(|(i, _, _)| !keys.contains(i))
                .map(|(i, _, w)| format!("{}={w}", actual.columns[*i]))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(Difference::Missing { row, cells });
            continue;
        };
        used[r] = true;
        for (i, v, w) in e {
            if keys.contains(i) {
                continue;
            }
            let (a, shown) = &actual.rows[r][*i];
            if !matches(v, a, tolerance) {
                out.push(Difference::Cell {
                    row: row.clone(),
                    column: actual.columns[*i].clone(),
                    expected: w.clone(),
                    actual: shown.clone(),
                });
            }
        }
    }
    for (r, _) in used.iter().enumerate().filter(|(_, u)| !**u) {
        let cells = &actual.rows[r];
        let row = label(
            keys.iter().map(|k| (*k, cells[*k].1.clone())).collect(),
            r + 1,
        );
        let rest = (0..cells.len())
            .filter(|i| !keys.contains(i))
            .map(|i| format!("{}={}", actual.columns[i], cells[i].1))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(Difference::Unexpected { row, cells: rest });
    }
    out
}

/// Most differences `render` lists; the summary counts them all.
pub const SHOWN: usize = 20;

/// The differences as the lines `metricc test` prints (the first [`SHOWN`]).
pub fn render(diffs: &[Difference]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut last_row: Option<&str> = None;
    for d in diffs.iter().take(SHOWN) {
        match d {
            Difference::Cell {
                row,
                column,
                expected,
                actual,
            } => {
                if last_row != Some(row.as_str()) {
                    lines.push(format!("row {row}:"));
                    last_row = Some(row);
                }
                lines.push(format!("  {column}: expected {expected}, actual {actual}"));
            }
            Difference::Missing { row, cells } => {
                last_row = None;
                if cells.is_empty() {
                    lines.push(format!("missing row {row}: no such row in the result"));
                } else {
                    lines.push(format!(
                        "missing row {row}: expected {cells}, no such row in the result"
                    ));
                }
            }
            Difference::Unexpected { row, cells } => {
                last_row = None;
                lines.push(format!("unexpected row {row}: {cells}"));
            }
        }
    }
    if diffs.len() > SHOWN {
        lines.push(format!("... and {} more differences", diffs.len() - SHOWN));
    }
    lines
}

/// `2 cells differ, 1 row missing` and the like.
pub fn summary(diffs: &[Difference]) -> String {
    let count = |f: fn(&Difference) -> bool| diffs.iter().filter(|d| f(d)).count();
    let cells = count(|d| matches!(d, Difference::Cell { .. }));
    let missing = count(|d| matches!(d, Difference::Missing { .. }));
    let unexpected = count(|d| matches!(d, Difference::Unexpected { .. }));
    let mut parts = Vec::new();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if cells > 0 {
        parts.push(format!(
            "{cells} cell{} differ{}",
            plural(cells),
            if cells == 1 { "s" } else { "" }
        ));
    }
    if missing > 0 {
        parts.push(format!("{missing} expected row{} missing", plural(missing)));
    }
    if unexpected > 0 {
        parts.push(format!("{unexpected} unexpected row{}", plural(unexpected)));
    }
    parts.join(", ")
}
