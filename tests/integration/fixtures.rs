//! Tiny fixtures: CSV files in `tests/fixtures/` turned into Parquet in a temp
//! directory at test time, plus deliberately broken files.

use datafusion::arrow::csv::ReaderBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The schema each fixture CSV is read with.
fn schema_of(name: &str) -> Schema {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    match name {
        "events" => Schema::new(vec![
            Field::new("ts", ts(), false),
            Field::new("developer_id", DataType::Utf8, false),
            s("event"),
            Field::new("status", DataType::Int32, true),
            s("endpoint"),
            Field::new("latency_ms", DataType::Float64, true),
            s("environment"),
            s("api_key_id"),
            s("sdk"),
        ]),
        "payments" => Schema::new(vec![
            Field::new("paid_at", ts(), false),
            s("developer_id"),
            Field::new("amount", DataType::Float64, false),
            s("kind"),
        ]),
        "spend" => Schema::new(vec![
            Field::new("day", DataType::Date32, false),
            s("channel"),
            Field::new("amount", DataType::Float64, false),
        ]),
        "developers" => Schema::new(vec![
            Field::new("developer_id", DataType::Utf8, false),
            s("plan"),
            s("country"),
            s("visitor_id"),
            s("signup_channel"),
        ]),
        "page_views" => Schema::new(vec![
            Field::new("ts", ts(), false),
            Field::new("visitor_id", DataType::Utf8, false),
            s("page"),
            s("channel"),
        ]),
        other => panic!("no schema for fixture {other}"),
    }
}

/// Converts `tests/fixtures/{name}.csv` into `out` as Parquet.
pub fn csv_to_parquet(name: &str, out: &Path) {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.csv"));
    let schema = Arc::new(schema_of(name));
    write_csv(File::open(csv).unwrap(), true, schema, out);
}

/// Reads CSV with `schema` and writes it to `out` as Parquet.
fn write_csv(csv: impl std::io::Read, header: bool, schema: Arc<Schema>, out: &Path) {
    let reader = ReaderBuilder::new(schema.clone())
        .with_header(header)
        .build(csv)
        .unwrap();
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut writer = ArrowWriter::try_new(File::create(out).unwrap(), schema, None).unwrap();
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.close().unwrap();
}

/// Writes the standard fixture data under `dir/data/`: good sources, a corrupt
/// file and a directory whose files disagree on a column type.
pub fn write_data(dir: &Path) {
    let data = dir.join("data");
    csv_to_parquet("events", &data.join("events.parquet"));
    csv_to_parquet("payments", &data.join("payments.parquet"));
    csv_to_parquet("spend", &data.join("spend.parquet"));
    csv_to_parquet("developers", &data.join("developers.parquet"));
    csv_to_parquet("page_views", &data.join("page_views.parquet"));
    std::fs::write(
        data.join("corrupt.parquet"),
        b"PAR1 this is not really parquet PAR1",
    )
    .unwrap();
    csv_to_parquet("events", &data.join("drift/part-0.parquet"));
    csv_to_parquet("payments", &data.join("drift/part-1.parquet"));
}

/// Writes `csv` as Parquet at `out`. The header names each column with its
/// type: `ts:timestamp` (UTC instants), `day:date`, `n:int`, `x:float`,
/// `s:string`, `b:bool`, `ts:naive` (a timestamp without zone),
/// `x:decimal(9;2)` (`;` as the header is split on commas). Empty fields
/// are nulls.
pub fn typed_csv_to_parquet(csv: &str, out: &Path) {
    let csv = csv.trim();
    let header = csv.lines().next().unwrap();
    let fields: Vec<Field> = header
        .split(',')
        .map(|col| {
            let (name, ty) = col.trim().split_once(':').unwrap_or((col, "string"));
            let ty = match ty {
                "timestamp" => ts(),
                "naive" => DataType::Timestamp(TimeUnit::Microsecond, None),
                "date" => DataType::Date32,
                "int" => DataType::Int64,
                "float" => DataType::Float64,
                "bool" => DataType::Boolean,
                "string" => DataType::Utf8,
                decimal if decimal.starts_with("decimal(") => {
                    let (p, s) = decimal["decimal(".len()..decimal.len() - 1]
                        .split_once(';')
                        .expect("decimal(P;S)");
                    DataType::Decimal128(p.parse().unwrap(), s.parse().unwrap())
                }
                other => panic!("unknown fixture type {other}"),
            };
            Field::new(name, ty, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let body: String = csv
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    write_csv(std::io::Cursor::new(body), false, schema, out);
}
