//! A row buffer that streams to one Parquet file in row groups, so generating
//! any number of rows holds only one batch in memory.

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows buffered before they are written as one batch.
const BATCH_ROWS: usize = 65_536;

/// A cell value.
#[derive(Debug, Clone)]
pub enum Val {
    Ts(i64),
    Str(String),
    I32(i32),
    I64(i64),
    F64(f64),
    Bool(bool),
    Date(i32),
    Null,
}

/// Column types of the sample tables.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Ts,
    Str,
    I32,
    I64,
    F64,
    Bool,
    Date,
}

/// One Parquet output: written to a temporary name and renamed when complete.
pub struct Table {
    schema: Arc<Schema>,
    kinds: Vec<Kind>,
    cols: Vec<Vec<Val>>,
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    pub rows: u64,
}

impl Table {
    pub fn create(path: &Path, columns: &[(&str, Kind, bool)]) -> std::io::Result<Table> {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, kind, nullable)| {
                let t = match kind {
                    Kind::Ts => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    Kind::Str => DataType::Utf8,
                    Kind::I32 => DataType::Int32,
                    Kind::I64 => DataType::Int64,
                    Kind::F64 => DataType::Float64,
                    Kind::Bool => DataType::Boolean,
                    Kind::Date => DataType::Date32,
                };
                Field::new(*name, t, *nullable)
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let tmp = path.with_extension("parquet.tmp");
        let file = File::create(&tmp)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid level"),
            ))
            .set_max_row_group_row_count(Some(1 << 20))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(std::io::Error::other)?;
        Ok(Table {
            schema,
            kinds: columns.iter().map(|c| c.1).collect(),
            cols: vec![Vec::with_capacity(BATCH_ROWS); columns.len()],
            writer,
            tmp,
            path: path.to_path_buf(),
            rows: 0,
        })
    }

    pub fn push(&mut self, row: Vec<Val>) -> std::io::Result<()> {
        debug_assert_eq!(row.len(), self.cols.len());
        for (col, v) in self.cols.iter_mut().zip(row) {
            col.push(v);
        }
        self.rows += 1;
        if self.cols[0].len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.cols[0].is_empty() {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .zip(&self.kinds)
            .map(|(c, k)| array(std::mem::take(c), *k))
            .collect();
        let batch =
            RecordBatch::try_new(self.schema.clone(), arrays).map_err(std::io::Error::other)?;
        self.writer.write(&batch).map_err(std::io::Error::other)
    }

    /// Writes what is left, closes the file and moves it into place.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.flush()?;
        self.writer.close().map_err(std::io::Error::other)?;
        std::fs::rename(&self.tmp, &self.path)?;
        Ok(self.rows)
    }
}

fn array(vals: Vec<Val>, kind: Kind) -> ArrayRef {
    macro_rules! build {
        ($arr:ty, $variant:ident) => {
            Arc::new(
                vals.into_iter()
                    .map(|v| {
                        if let Val::$variant(x) = v {
                            Some(x)
                        } else {
                            None
                        }
                    })
                    .collect::<$arr>(),
            )
        };
    }
    match kind {
        Kind::Ts => Arc::new(
            vals.into_iter()
                .map(|v| if let Val::Ts(x) = v { Some(x) } else { None })
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ),
        Kind::Str => build!(StringArray, Str),
        Kind::I32 => build!(Int32Array, I32),
        Kind::I64 => build!(Int64Array, I64),
        Kind::F64 => build!(Float64Array, F64),
        Kind::Bool => build!(BooleanArray, Bool),
        Kind::Date => build!(Date32Array, Date),
    }
}
