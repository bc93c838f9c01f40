//! The numbers of the metrics a difference touches, base beside head, over
//! the same data, range, buckets and breakdown.

use crate::engine::Computed;
use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use std::collections::BTreeMap;

/// One cell: as printed, and as a number when it is one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Cell {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<f64>,
}

/// One row of a compared series: its key (bucket, breakdown values, step or
/// period) and the value in each version, `None` where that version has no
/// such row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub key: Vec<String>,
    pub base: Option<Cell>,
    pub head: Option<Cell>,
    /// head - base, when both are numbers.
    pub change: Option<f64>,
    /// (head - base) / |base|, when both are numbers and base is not 0.
    pub relative: Option<f64>,
}

impl Row {
    /// Whether the two versions disagree on this row.
    pub fn differs(&self) -> bool {
        match (&self.base, &self.head) {
            (Some(b), Some(h)) => match (b.number, h.number) {
                (Some(x), Some(y)) => x != y && !(x.is_nan() && y.is_nan()),
                _ => b.text != h.text,
            },
            (None, None) => false,
            _ => true,
        }
    }

    /// The size of the change, relative where it can be, for thresholds:
    /// a change from 0 or to or from nothing is infinite.
    pub fn relative_size(&self) -> f64 {
        if !self.differs() {
            return 0.0;
        }
        self.relative.map_or(f64::INFINITY, f64::abs)
    }
}

/// A metric's numbers in both versions: a column of the metrics table, or
/// one value column of a table of its own (a funnel's `converted` by step).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Series {
    /// The metric, by its head name (base name when removed).
    pub metric: String,
    /// `None` for the metric's own column; the column of its own table
    /// otherwise.
    pub column: Option<String>,
    /// Names of the key columns.
    pub keys: Vec<String>,
    pub rows: Vec<Row>,
}

/// What a series says in one line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub rows: usize,
    pub changed: usize,
    /// The row with the largest relative change (infinite for rows that
    /// appear, disappear or move from 0), by index into `rows`.
    #[serde(skip)]
    pub largest: Option<usize>,
}

impl Series {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            rows: self.rows.len(),
            ..Summary::default()
        };
        let mut best = 0.0;
        for (i, r) in self.rows.iter().enumerate() {
            if r.differs() {
                s.changed += 1;
                let size = r.relative_size();
                let abs = r.change.map_or(0.0, f64::abs);
                let better = match s.largest {
                    None => true,
                    Some(j) => {
                        size > best
                            || (size == best && abs > self.rows[j].change.map_or(0.0, f64::abs))
                    }
                };
                if better {
                    best = size;
                    s.largest = Some(i);
                }
            }
        }
        s
    }
}

/// A series' place in a run's results: (`None` for the metrics table, or
/// the metric whose own table it is; value column; key column names). Rows
/// of two versions are paired only within one key shape: a metric whose
/// breakdown changed gives a series per shape.
type SeriesKey = (Option<String>, String, Vec<String>);

/// A metric's own table: (its fixed columns, those that are keys).
pub type OwnColumns<'a> = &'a dyn Fn(&str) -> Option<(Vec<String>, Vec<String>)>;

/// One version's results in long form: (table, value column) -> key ->
/// cell; the key column names per table.
#[derive(Default)]
pub struct Long {
    /// Rows in the order the run gave them.
    cells: BTreeMap<SeriesKey, Vec<(Vec<String>, Cell)>>,
}

impl Long {
    /// `tables` of one run. In the metrics table, columns named after the
    /// metrics in `metrics` are values and the others keys; in a metric's
    /// own table, `own_keys(metric)` and the columns it does not name as
    /// its fixed ones are keys (bucket and breakdown), the rest values.
    /// Only the metrics `keep` accepts are read (a run of both versions
    /// at once holds the other version's too). `rename` gives each metric
    /// its name in the comparison.
    pub fn new(
        tables: &[Computed],
        metrics: &[String],
        keep: &dyn Fn(&str) -> bool,
        own_columns: OwnColumns,
        rename: &dyn Fn(&str) -> String,
    ) -> Result<Long, String> {
        let mut long = Long::default();
        let options = FormatOptions::default().with_null("null");
        for t in tables
            .iter()
            .filter(|t| t.metric.as_deref().is_none_or(keep))
        {
            let names: Vec<String> = t.schema.fields().iter().map(|f| f.name().clone()).collect();
            let is_value: Vec<bool> = match &t.metric {
                None => names.iter().map(|n| metrics.contains(n)).collect(),
                Some(m) => {
                    let (fixed, keys) = own_columns(m).unwrap_or_default();
                    names
                        .iter()
                        .map(|n| fixed.contains(n) && !keys.contains(n))
                        .collect()
                }
            };
            let table = t.metric.as_deref().map(rename);
            let key_names: Vec<String> = names
                .iter()
                .zip(&is_value)
                .filter(|(_, v)| !**v)
                .map(|(n, _)| n.clone())
                .collect();
            for batch in &t.batches {
                let formatters: Vec<ArrayFormatter> = batch
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?;
                let numbers: Vec<Option<ArrayRef>> = batch
                    .columns()
                    .iter()
                    .zip(&is_value)
                    .map(|(c, v)| {
                        (*v && c.data_type().is_numeric())
                            .then(|| cast(c, &DataType::Float64).ok())
                            .flatten()
                    })
                    .collect();
                for row in 0..batch.num_rows() {
                    let key: Vec<String> = (0..names.len())
                        .filter(|&i| !is_value[i])
                        .map(|i| formatters[i].value(row).to_string())
                        .collect();
                    let read = |i: &usize| is_value[*i] && (t.metric.is_some() || keep(&names[*i]));
                    for i in (0..names.len()).filter(read) {
                        let number = numbers[i].as_ref().and_then(|a| {
                            let a = a
                                .as_any()
                                .downcast_ref::<datafusion::arrow::array::Float64Array>()?;
                            (!a.is_null(row)).then(|| a.value(row))
                        });
                        // A metric's own table may name a column after it (a
                        // cohort's value): that name follows the metric's.
                        let column = match &t.metric {
                            Some(m) if *m != names[i] => names[i].clone(),
                            _ => rename(&names[i]),
                        };
                        long.cells
                            .entry((table.clone(), column, key_names.clone()))
                            .or_default()
                            .push((
                                key.clone(),
                                Cell {
                                    text: formatters[i].value(row).to_string(),
                                    number,
                                },
                            ));
                    }
                }
            }
        }
        Ok(long)
    }
}

/// The series of `metric` (its head name, or base name when removed) from
/// both versions' results: rows in the head's order, then those only the
/// base has.
pub fn compare(metric: &str, base: &Long, head: &Long) -> Vec<Series> {
    let mut out = Vec::new();
    let mut wanted: Vec<SeriesKey> = [base, head]
        .iter()
        .flat_map(|l| l.cells.keys())
        .filter(|(table, column, _)| match table {
            None => column == metric,
            Some(t) => t == metric,
        })
        .cloned()
        .collect();
    wanted.sort();
    wanted.dedup();
    for (table, column, key_names) in wanted {
        let key = (table.clone(), column.clone(), key_names.clone());
        let lookup = |l: &Long| -> std::collections::HashMap<Vec<String>, Cell> {
            l.cells.get(&key).into_iter().flatten().cloned().collect()
        };
        let (b, h) = (lookup(base), lookup(head));
        let mut seen = std::collections::HashSet::new();
        let keys: Vec<&Vec<String>> = [head, base]
            .into_iter()
            .flat_map(|l| l.cells.get(&key).into_iter().flatten().map(|(k, _)| k))
            .filter(|k| seen.insert(*k))
            .collect();
        let rows = keys
            .into_iter()
            .map(|k| {
                let (bc, hc) = (b.get(k).cloned(), h.get(k).cloned());
                let (x, y) = (
                    bc.as_ref().and_then(|c| c.number),
                    hc.as_ref().and_then(|c| c.number),
                );
                let change = x.zip(y).map(|(x, y)| y - x);
                let relative = x
                    .zip(y)
                    .filter(|(x, _)| *x != 0.0)
                    .map(|(x, y)| (y - x) / x.abs());
                Row {
                    key: k.clone(),
                    base: bc,
                    head: hc,
                    change,
                    relative,
                }
            })
            .collect();
        out.push(Series {
            metric: metric.to_string(),
            column: table.map(|_| column),
            keys: key_names,
            rows,
        });
    }
    out
}
