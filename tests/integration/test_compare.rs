//! The comparison behind `metricc test`, held to its documented rules by
//! properties: a table always matches itself written out in any row order;
//! one changed cell beyond the tolerance is exactly one difference, within
//! it none; a dropped or extra row is exactly one unexpected or missing row;
//! null never matches a number. Plus the written-time rules.

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use metricc::span::{Span, Spanned};
use metricc::testing::compare::{self, Difference};
use metricc::testing::spec::{Cell, Row, Value};
use metricc::testing::values::{Written, instant_micros, parse_written};
use proptest::prelude::*;
use std::sync::Arc;

/// A table: key columns `k` (text) and `p` (integer), values `v` (float,
/// nullable) and `n` (integer).
fn table(rows: &[(String, i64, Option<f64>, i64)]) -> compare::Actual {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("p", DataType::Int64, false),
        Field::new("v", DataType::Float64, true),
        Field::new("n", DataType::Int64, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.clone()),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    compare::actual(&schema, &[batch]).unwrap()
}

fn cell(v: Value) -> Cell {
    Cell {
        value: v,
        span: Span::default(),
    }
}

fn num(x: f64) -> Value {
    Value::Number(x, format!("{x}"))
}

/// Expected rows written from table rows.
fn written(rows: &[(String, i64, Option<f64>, i64)]) -> Vec<Row> {
    rows.iter()
        .map(|(k, p, v, n)| Row {
            span: Span::default(),
            cells: vec![
                (
                    Spanned::new("k".into(), Span::default()),
                    cell(Value::Text(k.clone())),
                ),
                (
                    Spanned::new("p".into(), Span::default()),
                    cell(num(*p as f64)),
                ),
                (
                    Spanned::new("v".into(), Span::default()),
                    cell(v.map_or(Value::Null, num)),
                ),
                (
                    Spanned::new("n".into(), Span::default()),
                    cell(num(*n as f64)),
                ),
            ],
        })
        .collect()
}

fn diffs(expected: &[Row], actual: &compare::Actual, tolerance: f64) -> Vec<Difference> {
    let keys = compare::key_columns(actual, &["k".into(), "p".into()]);
    let mut diags = Vec::new();
    let read = compare::read_expected(expected, actual, &keys, chrono_tz::UTC, &mut diags);
    assert!(diags.is_empty(), "{diags:?}");
    compare::compare(&read, actual, &keys, tolerance)
}

/// Rows with unique keys.
fn rows() -> impl Strategy<Value = Vec<(String, i64, Option<f64>, i64)>> {
    prop::collection::btree_map(
        ("[a-c]{1,2}", 0i64..4),
        (prop::option::of(-1e6f64..1e6), -1000i64..1000),
        0..12,
    )
    .prop_map(|m| m.into_iter().map(|((k, p), (v, n))| (k, p, v, n)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_table_matches_itself_in_any_order(rows in rows(), seed in any::<u64>()) {
        let actual = table(&rows);
        let mut expected = written(&rows);
        // A deterministic shuffle.
        let n = expected.len();
        for i in 0..n {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % n as u64) as usize;
            expected.swap(i, j);
        }
        prop_assert!(diffs(&expected, &actual, 1e-9).is_empty());
    }

    #[test]
    fn one_changed_cell_is_one_difference(rows in rows().prop_filter("a row", |r| !r.is_empty()),
                                         pick in any::<prop::sample::Index>(),
                                         within in any::<bool>()) {
        let actual = table(&rows);
        let i = pick.index(rows.len());
        let tolerance = 1e-6;
        let mut changed = rows.clone();
        let e = changed[i].3 as f64;
        let bound = tolerance * e.abs().max(1.0);
        let moved = if within { e + bound / 2.0 } else { e + bound * 3.0 };
        let mut expected = written(&changed);
        expected[i].cells[3].1 = cell(num(moved));
        changed[i].3 = 0; // unused below
        let d = diffs(&expected, &actual, tolerance);
        if within {
            prop_assert!(d.is_empty(), "{d:?}");
        } else {
            prop_assert_eq!(d.len(), 1, "{:?}", d);
            let is_n_cell = matches!(&d[0], Difference::Cell { column, .. } if column == "n");
            prop_assert!(is_n_cell, "{:?}", d);
        }
    }

    #[test]
    fn null_never_matches_a_number(rows in rows().prop_filter("a row", |r| !r.is_empty()),
                                   pick in any::<prop::sample::Index>()) {
        let actual = table(&rows);
        let i = pick.index(rows.len());
        let mut expected = written(&rows);
        // Swap null and 0 in `v`.
        let flipped = match rows[i].2 { None => num(0.0), Some(_) => Value::Null };
        expected[i].cells[2].1 = cell(flipped);
        let d = diffs(&expected, &actual, 1e-9);
        prop_assert_eq!(d.len(), 1, "{:?}", d);
        let is_v_cell = matches!(&d[0], Difference::Cell { column, .. } if column == "v");
        prop_assert!(is_v_cell, "{:?}", d);
    }

    #[test]
    fn dropped_and_extra_rows_are_reported(rows in rows().prop_filter("a row", |r| !r.is_empty()),
                                           pick in any::<prop::sample::Index>()) {
        let actual = table(&rows);
        let i = pick.index(rows.len());
        let mut expected = written(&rows);
        expected.remove(i);
        let d = diffs(&expected, &actual, 1e-9);
        prop_assert_eq!(d.len(), 1);
        prop_assert!(matches!(&d[0], Difference::Unexpected { .. }), "{:?}", d);
        let mut extra = written(&rows);
        extra.extend(written(&[("zz".into(), 9, None, 1)]));
        let d = diffs(&extra, &actual, 1e-9);
        prop_assert_eq!(d.len(), 1);
        prop_assert!(matches!(&d[0], Difference::Missing { .. }), "{:?}", d);
    }
}

#[test]
fn fractions_and_numbers() {
    assert_eq!(compare::number("1/3"), Some(1.0 / 3.0));
    assert_eq!(compare::number(" -2/4 "), Some(-0.5));
    assert_eq!(compare::number("1e-3"), Some(0.001));
    assert_eq!(compare::number("1/0"), None);
    assert_eq!(compare::number("a/b"), None);
}

#[test]
fn written_times_and_their_instants() {
    let ny = chrono_tz::America::New_York;
    let micros = |s: &str, tz| instant_micros(parse_written(s).unwrap(), tz);
    // 2026-03-08 09:00 in New York is EDT (UTC-4) after the 02:00 jump.
    assert_eq!(micros("2026-03-08 09:00", ny), Ok(1_772_974_800_000_000));
    assert_eq!(
        micros("2026-03-08T13:00Z", chrono_tz::UTC),
        Ok(1_772_974_800_000_000)
    );
    assert_eq!(
        micros("2026-03-08T09:00:00-04:00", chrono_tz::UTC),
        Ok(1_772_974_800_000_000)
    );
    assert_eq!(
        micros("2026-03-08 13:00:00.5", chrono_tz::UTC),
        Ok(1_772_974_800_500_000)
    );
    assert!(
        micros("2026-03-08 02:30", ny)
            .unwrap_err()
            .contains("does not exist")
    );
    assert!(
        micros("2026-11-01 01:30", ny)
            .unwrap_err()
            .contains("happens twice")
    );
    assert_eq!(
        micros("2026-11-01T01:30-05:00", ny),
        Ok(1_793_514_600_000_000)
    );
    assert!(matches!(
        parse_written("2026-03-08"),
        Some(Written::Date(_))
    ));
    for bad in [
        "2026-02-30",
        "2026-03-08 25:00",
        "yesterday",
        "2026-03-08T10:00+5",
        "",
    ] {
        assert_eq!(parse_written(bad), None, "{bad}");
    }
}
