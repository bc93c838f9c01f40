//! Written values -> Arrow: fixture rows become a record batch with the
//! source's real schema; times are read in the test's time zone.

use super::spec::{Fixture, Value};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, suggestion_help};
use crate::semantic::model::Source;
use crate::span::Span;
use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, StringArray, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use std::sync::Arc;

/// A time as written: a date, a local time, or a time with an offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Written {
    Date(NaiveDate),
    Local(NaiveDateTime),
    Offset(DateTime<FixedOffset>),
}

const TIME_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Reads `2026-03-02`, `2026-03-02 09:00[:30[.250]]` (or `T`), with an
/// optional `Z` or `±HH:MM` offset.
pub fn parse_written(text: &str) -> Option<Written> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(Written::Date(d));
    }
    let (local, offset) = split_offset(t)?;
    let naive = TIME_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(local, f).ok())?;
    Some(match offset {
        None => Written::Local(naive),
        Some(o) => Written::Offset(o.from_local_datetime(&naive).single()?),
    })
}

/// Splits a trailing `Z` or `±HH[:MM]` offset from a time (after its date).
fn split_offset(t: &str) -> Option<(&str, Option<FixedOffset>)> {
    if let Some(rest) = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')) {
        return Some((rest, FixedOffset::east_opt(0)));
    }
    let tail_start = t.char_indices().nth(11).map_or(t.len(), |(i, _)| i);
    let Some(at) = t[tail_start..].rfind(['+', '-']).map(|i| i + tail_start) else {
        return Some((t, None));
    };
    let digits: String = t[at + 1..].chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits
        .get(2..)
        .filter(|m| !m.is_empty())
        .map_or(Some(0), |m| m.parse().ok())?;
    let secs = (hours * 60 + minutes) * 60;
    let offset = if &t[at..=at] == "-" {
        FixedOffset::west_opt(secs)
    } else {
        FixedOffset::east_opt(secs)
    }?;
    Some((&t[..at], Some(offset)))
}

/// The instant (µs since the epoch) of a written time, local times read in
/// `tz`; a local time that is skipped or repeated there is an error.
pub fn instant_micros(w: Written, tz: Tz) -> Result<i64, String> {
    let local = match w {
        Written::Offset(dt) => return Ok(dt.timestamp_micros()),
        Written::Date(d) => d.and_time(NaiveTime::MIN),
        Written::Local(t) => t,
    };
    match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) => Ok(dt.timestamp_micros()),
        LocalResult::Ambiguous(a, b) => Err(format!(
            "{local} happens twice in {tz} (at offsets {} and {}); write the offset, e.g. `{}`",
            a.format("%:z"),
            b.format("%:z"),
            a.format("%Y-%m-%dT%H:%M:%S%:z")
        )),
        LocalResult::None => Err(format!(
            "{local} does not exist in {tz} (the clocks skip it); write the offset of the time you mean"
        )),
    }
}

/// The wall-clock time of a written time in `tz`.
pub fn wall(w: Written, tz: Tz) -> NaiveDateTime {
    match w {
        Written::Date(d) => d.and_time(NaiveTime::MIN),
        Written::Local(t) => t,
        Written::Offset(dt) => dt.with_timezone(&tz).naive_local(),
    }
}

/// One column's written values -> an array of type `ty`. Errors are (row, message).
pub fn column(
    values: &[Option<String>],
    ty: &DataType,
    tz: Tz,
) -> Result<ArrayRef, Vec<(usize, String)>> {
    let mut errors = Vec::new();
    let array: ArrayRef = match ty {
        DataType::Timestamp(_, zone) => {
            let micros: Vec<Option<i64>> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let v = v.as_ref()?;
                    match parse_written(v)
                        .ok_or_else(|| not_a_time(v))
                        .and_then(|w| instant_micros(w, tz))
                    {
                        Ok(m) => Some(m),
                        Err(e) => {
                            errors.push((i, e));
                            None
                        }
                    }
                })
                .collect();
            Arc::new(TimestampMicrosecondArray::from(micros).with_timezone_opt(zone.clone()))
        }
        DataType::Date32 | DataType::Date64 => {
            let days: Vec<Option<i32>> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let v = v.as_ref()?;
                    match NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
                        Ok(d) => Some(days_since_epoch(d)),
                        Err(_) => {
                            errors.push((i, format!("`{v}` is not a date; write YYYY-MM-DD")));
                            None
                        }
                    }
                })
                .collect();
            Arc::new(Date32Array::from(days))
        }
        _ => Arc::new(StringArray::from(values.to_vec())),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    if array.data_type() == ty {
        return Ok(array);
    }
    let safe = CastOptions {
        safe: true,
        ..Default::default()
    };
    let cast = cast_with_options(&array, ty, &safe).map_err(|e| {
        vec![(
            values.iter().position(Option::is_some).unwrap_or(0),
            format!("a fixture cannot give values of type {ty}: {e}"),
        )]
    })?;
    let bad: Vec<(usize, String)> = values
        .iter()
        .enumerate()
        .filter(|(i, v)| v.is_some() && cast.is_null(*i))
        .map(|(i, v)| {
            (
                i,
                format!(
                    "`{}` is not a value of type {ty}",
                    v.as_deref().unwrap_or_default()
                ),
            )
        })
        .collect();
    if bad.is_empty() { Ok(cast) } else { Err(bad) }
}

fn not_a_time(v: &str) -> String {
    format!(
        "`{v}` is not a time; write `2026-03-02 09:00`, optionally with seconds and an offset (`Z`, `+01:00`)"
    )
}

pub fn days_since_epoch(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    d.signed_duration_since(epoch).num_days() as i32
}

/// A source's fixture rows as one record batch of `schema`. Every problem is
/// a diagnostic on the cell or column name that causes it.
pub fn batch(
    fixture: &Fixture,
    source: &Source,
    schema: &SchemaRef,
    tz: Tz,
    diags: &mut Diagnostics,
) -> Option<RecordBatch> {
    let before = diags.len();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // Each unknown column once, where it is first written (a CSV's header
    // names it for every row).
    let mut reported = std::collections::HashSet::new();
    for row in &fixture.rows {
        for (column, _) in &row.cells {
            if !names.contains(&column.value.as_str()) && reported.insert(column.value.as_str()) {
                diags.push(
                    Diagnostic::new(
                        Code::UnknownFixtureColumn,
                        format!("source `{}` has no column `{}`", source.name, column.value),
                    )
                    .at(column.span, "not a column of the source's Parquet files")
                    .with_help(suggestion_help(
                        &column.value,
                        "columns",
                        names.iter().copied(),
                    ))
                    .with_secondary(source.span, "source defined here"),
                );
            }
        }
    }
    let mut arrays = Vec::with_capacity(names.len());
    for field in schema.fields() {
        let cells: Vec<Option<(&Value, Span)>> = fixture
            .rows
            .iter()
            .map(|r| {
                r.cells
                    .iter()
                    .find(|(c, _)| c.value == *field.name())
                    .map(|(_, cell)| (&cell.value, cell.span))
            })
            .collect();
        let key = if *field.name() == source.time {
            Some("time")
        } else if source.entity.as_deref() == Some(field.name().as_str()) {
            Some("entity")
        } else {
            None
        };
        if let Some(role) = key {
            for (row, cell) in fixture.rows.iter().zip(&cells) {
                // A row with a misnamed column already has its diagnostic.
                let misnamed = row
                    .cells
                    .iter()
                    .any(|(c, _)| !names.contains(&c.value.as_str()));
                if !misnamed && matches!(cell, None | Some((Value::Null, _))) {
                    let span = cell.map_or(row.span, |(_, s)| s);
                    diags.push(
                        Diagnostic::new(
                            Code::InvalidFixtureValue,
                            format!(
                                "a row of `{}` has no {role} (`{}`)",
                                source.name,
                                field.name()
                            ),
                        )
                        .at(
                            span,
                            format!(
                                "`{}` is the source's {role} column and may not be null",
                                field.name()
                            ),
                        )
                        .with_help(format!("give this row a `{}`", field.name())),
                    );
                }
            }
        }
        let texts: Vec<Option<String>> = cells
            .iter()
            .map(|c| c.and_then(|(v, _)| v.text()))
            .collect();
        match column(&texts, field.data_type(), tz) {
            Ok(a) => arrays.push(a),
            Err(errors) => {
                for (i, message) in errors {
                    let span = cells[i].map_or(fixture.rows[i].span, |(_, s)| s);
                    diags.push(
                        Diagnostic::new(
                            Code::InvalidFixtureValue,
                            format!("invalid value for column `{}` of `{}`", field.name(), source.name),
                        )
                        .at(span, message)
                        .with_help(format!(
                            "the column is {} in the source's Parquet files; write a value of that type, or `null`",
                            field.data_type()
                        )),
                    );
                }
                arrays.push(new_null_array(field.data_type(), texts.len()));
            }
        }
    }
    if diags[before..].iter().any(|d| d.is_error()) {
        return None;
    }
    let options = RecordBatchOptions::new().with_row_count(Some(fixture.rows.len()));
    match RecordBatch::try_new_with_options(schema.clone(), arrays, &options) {
        Ok(b) => Some(b),
        Err(e) => {
            diags.push(
                Diagnostic::new(
                    Code::InvalidFixtureValue,
                    format!("the rows of `{}` do not fit its schema", source.name),
                )
                .at(fixture.source.span, e.to_string())
                .with_help("check the values' types against the source's Parquet files"),
            );
            None
        }
    }
}
