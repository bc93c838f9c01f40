//! `metricc run` as a command: output formats, atomic `--output`, and the
//! run-time diagnostics (E0222, E0301-E0307).

use crate::run::{metricc, project, standard};
use datafusion::arrow::array::{Array, Date32Array, Float64Array, Int64Array};
use std::path::Path;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run(dir: &Path, args: &str) -> std::process::Output {
    let mut all = vec!["run", "--quiet"];
    all.extend(args.split_whitespace());
    metricc(&all, dir)
}

#[test]
fn table_format_aligns_and_shows_null() {
    let p = standard("");
    let out = run(p.path(), "requests error_rate --by day --to 2026-03-04");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let want = "\
+------------+----------+------------+
| day        | requests | error_rate |
+------------+----------+------------+
| 2026-03-01 | 2        | 0.5        |
| 2026-03-02 | 2        | 0.5        |
| 2026-03-03 | 0        | null       |
+------------+----------+------------+
";
    assert_eq!(text, want);
}

#[test]
fn totals_print_one_metric_per_line() {
    let p = standard("");
    let out = run(p.path(), "requests error_rate cac");
    assert!(out.status.success(), "{}", stderr(&out));
    let want = "\
+------------+--------------------+
| metric     | value              |
+------------+--------------------+
| requests   | 6                  |
| error_rate | 0.3333333333333333 |
| cac        | 87.5               |
+------------+--------------------+
";
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}

#[test]
fn json_format_writes_nulls() {
    let p = standard("");
    let out = run(
        p.path(),
        "requests error_rate --by day --to 2026-03-04 --format json",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"day": "2026-03-01", "requests": 2, "error_rate": 0.5},
            {"day": "2026-03-02", "requests": 2, "error_rate": 0.5},
            {"day": "2026-03-03", "requests": 0, "error_rate": null},
        ])
    );
}

#[test]
fn parquet_output_reads_back_with_types() {
    let p = standard("");
    let file = p.path().join("out.parquet");
    let out = run(
        p.path(),
        "requests error_rate --by day --to 2026-03-04 --format parquet --output out.parquet",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&file).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let b = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let names: Vec<&str> = b
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["day", "requests", "error_rate"]);
    let day = b.column(0).as_any().downcast_ref::<Date32Array>().unwrap();
    assert_eq!(day.value_as_date(0).unwrap().to_string(), "2026-03-01");
    let req = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(req.values().to_vec(), vec![2, 2, 0]);
    let rate = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(
        (rate.value(0), rate.value(1), rate.is_null(2)),
        (0.5, 0.5, true)
    );
}

#[test]
fn output_replaces_a_file_whole_and_leaves_no_temporary() {
    let p = standard("");
    let file = p.path().join("result.csv");
    std::fs::write(&file, "old contents\n").unwrap();
    let out = run(p.path(), "requests --format csv -o result.csv");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "requests\n6\n");
    let leftovers: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_failed_run_leaves_the_output_untouched() {
    let p = standard("");
    let file = p.path().join("result.csv");
    std::fs::write(&file, "precious\n").unwrap();
    // A user error before computing.
    let out = run(p.path(), "requets --format csv -o result.csv");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("E0301") && stderr(&out).contains("did you mean `requests`?"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious\n");

    // A data error while computing: the file's data pages are damaged but its
    // footer is intact, so `check` passes and reading fails mid-run.
    let events = p.path().join("data/events.parquet");
    let meta = datafusion::parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&std::fs::File::open(&events).unwrap())
        .unwrap();
    let (start, len) = meta.row_group(0).column(0).byte_range();
    let mut bytes = std::fs::read(&events).unwrap();
    for b in &mut bytes[start as usize..(start + len) as usize] {
        *b = 0xff;
    }
    std::fs::write(&events, bytes).unwrap();
    let out = run(p.path(), "requests --format csv -o result.csv");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("E0305"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious\n");
    let names: Vec<String> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp")), "{names:?}");
}

#[test]
fn unwritable_output_is_a_diagnostic() {
    let p = standard("");
    let out = run(p.path(), "requests -o no/such/dir/out.csv");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("E0306"), "{}", stderr(&out));
}

#[test]
fn command_line_mistakes_are_diagnostics() {
    let p = standard("");
    let cases = [
        (
            "requests --group-by kind",
            "E0303",
            "reads source `events`, which declares no dimension `kind`",
        ),
        (
            "requests --from 2026-03-05 --to 2026-03-01",
            "E0304",
            "must come after",
        ),
        ("requests --from yesterday", "E0304", "write `2026-01-05`"),
        (
            "requests --by day --memory-limit 1K",
            "E0307",
            "raise `--memory-limit`",
        ),
    ];
    for (args, code, text) in cases {
        let out = run(p.path(), args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args}: {err}");
        assert!(err.contains(code) && err.contains(text), "{args}: {err}");
    }
    // Without a range anywhere.
    let q = project(
        "",
        crate::run::DEFS,
        &[
            ("data/events.parquet", crate::run::EVENTS),
            ("data/payments.parquet", crate::run::PAYMENTS),
            ("data/spend.parquet", crate::run::SPEND),
        ],
    );
    let out = run(q.path(), "requests");
    assert!(
        stderr(&out).contains("E0304") && stderr(&out).contains("default_range"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn null_times_and_entities_are_errors() {
    for (csv, column) in [
        (
            "ts:timestamp,developer_id\n2026-03-01T00:00:00Z,d1\n,d2\n",
            "time column `ts`",
        ),
        (
            "ts:timestamp,developer_id\n2026-03-01T00:00:00Z,d1\n2026-03-01T00:00:00Z,\n",
            "entity column `developer_id`",
        ),
    ] {
        let p = project(
            "default_range: { from: 2026-03-01, to: 2026-03-10 }\n",
            "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  calls: { description: c, source: events, measure: count(*) }\n",
            &[("data/events.parquet", csv)],
        );
        let out = run(p.path(), "calls");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("E0222") && err.contains(column) && err.contains("1 rows of"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn timestamps_without_zone_are_utc_and_dates_are_local_days() {
    let p = project(
        "time_zone: Asia/Tokyo\n",
        "sources:\n  naive: { path: data/naive.parquet, time: ts }\n  days: { path: data/days.parquet, time: day }\nmetrics:\n  n: { description: n, source: naive, measure: count(*) }\n  d: { description: d, source: days, measure: sum(x) }\n",
        &[
            // 15:00 UTC is midnight in Tokyo (UTC+9): the second row is 03-02 local.
            (
                "data/naive.parquet",
                "ts:naive\n2026-03-01T14:59:00\n2026-03-01T15:00:00\n",
            ),
            (
                "data/days.parquet",
                "day:date,x:int\n2026-03-01,1\n2026-03-02,2\n",
            ),
        ],
    );
    let out = run(
        p.path(),
        "n d --by day --from 2026-03-01 --to 2026-03-03 --format csv",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "day,n,d\n2026-03-01,1,1\n2026-03-02,1,2\n"
    );
}
