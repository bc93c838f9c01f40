//! report: result batches -> columns of cells the charts and tables read.

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;

/// One cell of a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Num(f64),
    Text(String),
    Null,
}

impl Cell {
    pub fn num(&self) -> Option<f64> {
        match self {
            Cell::Num(v) if v.is_finite() => Some(*v),
            _ => None,
        }
    }

    /// The cell as a key: a bucket, a breakdown value, a step name.
    pub fn key(&self) -> String {
        match self {
            Cell::Num(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", *v as i64),
            Cell::Num(v) => v.to_string(),
            Cell::Text(s) => s.clone(),
            Cell::Null => "(none)".into(),
        }
    }
}

/// A result table by column.
#[derive(Debug, Clone)]
pub struct Frame {
    pub names: Vec<String>,
    pub columns: Vec<Vec<Cell>>,
}

impl Frame {
    pub fn from_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Frame {
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut columns: Vec<Vec<Cell>> = vec![Vec::new(); names.len()];
        for b in batches {
            for (c, out) in columns.iter_mut().enumerate() {
                cells(b.column(c), out);
            }
        }
        Frame { names, columns }
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    pub fn column(&self, name: &str) -> Option<&[Cell]> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(&self.columns[i])
    }
}

fn cells(array: &dyn Array, out: &mut Vec<Cell>) {
    let numeric = array.data_type().is_numeric();
    if numeric && let Ok(f) = cast(array, &DataType::Float64) {
        let f = f
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("a cast to Float64 gives Float64");
        out.extend((0..f.len()).map(|i| {
            if f.is_null(i) {
                Cell::Null
            } else {
                Cell::Num(f.value(i))
            }
        }));
        return;
    }
    for i in 0..array.len() {
        if array.is_null(i) {
            out.push(Cell::Null);
            continue;
        }
        let text = array_value_to_string(array, i).unwrap_or_default();
        // A bucket at midnight reads as its date.
        let text = match text.strip_suffix("T00:00:00") {
            Some(day) if matches!(array.data_type(), DataType::Timestamp(..)) => day.to_string(),
            _ => text,
        };
        out.push(Cell::Text(text));
    }
}
