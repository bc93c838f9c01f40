//! The engine's count of bytes read (the progress display's figure): it
//! counts what the scans fetch after pruning, not the files' sizes.

use crate::fixtures::typed_csv_to_parquet;
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use metricc::engine::{Engine, Options};
use metricc::semantic::query::{self, Request};
use std::fs::File;
use std::sync::atomic::Ordering;

#[test]
fn counts_the_column_chunks_a_run_reads_not_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // `pad` is large and read by no metric; `n` is summed.
    let mut csv = String::from("ts:timestamp,developer_id,n:int,pad\n");
    let mut x: u64 = 7;
    for i in 0..400 {
        let pad: String = (0..300)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'a' + (x >> 59) as u8 % 26)
            })
            .collect();
        csv.push_str(&format!(
            "2026-03-0{}T{:02}:00:00Z,d{},{},{pad}\n",
            1 + i % 5,
            i % 24,
            i % 7,
            i
        ));
    }
    let file = dir.path().join("data/events.parquet");
    typed_csv_to_parquet(&csv, &file);
    std::fs::write(
        dir.path().join("metricc.yaml"),
        "name: t\ntime_zone: UTC\ndefault_range: { from: 2026-03-01, to: 2026-03-08 }\n\
         sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\n\
         metrics:\n  total: { description: n summed, source: events, measure: sum(n) }\n\
         \x20 longest_pad: { description: pad, source: events, measure: max(length(pad)) }\n",
    )
    .unwrap();

    // What the run must fetch: the column chunks of `ts`, `n` and
    // `developer_id` (rows without an entity are left out of every
    // metric); what it need not: those of `pad`.
    let reader = SerializedFileReader::new(File::open(&file).unwrap()).unwrap();
    let (mut needed, mut pad) = (0u64, 0u64);
    for rg in reader.metadata().row_groups() {
        for c in rg.columns() {
            let size = c.compressed_size() as u64;
            match c.column_path().string().as_str() {
                "ts" | "n" | "developer_id" => needed += size,
                "pad" => pad += size,
                _ => {}
            }
        }
    }
    let file_len = std::fs::metadata(&file).unwrap().len();
    assert!(pad > file_len / 2, "the fixture's unread column dominates");

    // Each run on an engine of its own, so that each count starts at 0.
    let read_by = |metrics: &[&str]| {
        let checked = metricc::driver::check(dir.path());
        let model = checked.model.expect("the project checks");
        let request = Request {
            metrics: metrics.iter().map(|m| query::Word::typed(*m)).collect(),
            ..Request::default()
        };
        let q = query::resolve(&request, &model).unwrap();
        let engine = Engine::new(&Options::default()).unwrap();
        let read = engine.bytes_read();
        assert_eq!(read.load(Ordering::Relaxed), 0);
        engine.compute(&model, &q.query).unwrap();
        read.load(Ordering::Relaxed)
    };
    let n_only = read_by(&["total"]);
    let with_pad = read_by(&["total", "longest_pad"]);
    // The chunks, and the footer, fetched once with DataFusion's metadata
    // prefetch (the last 512 KiB, so all of this small file). Listing a
    // one-file source asks for the file's head, which reads nothing.
    assert_eq!(
        n_only,
        needed + file_len,
        "the chunks of ts, developer_id and n ({needed}) and one read of the footer ({file_len})"
    );
    assert_eq!(
        with_pad - n_only,
        pad,
        "a metric that reads `pad` too reads its chunks, and no more"
    );
}
