//! Whatever `check` accepts, `run` runs (issue 17, part 2): definitions that
//! once passed `check` and ended `run` with exit 101 or a signal now run to
//! the right numbers, or are refused by `check` with a located diagnostic.
//! Values are worked out by hand from `run::EVENTS`: six API calls with
//! statuses 200, 500, 200, 404, 200, 200 and latencies 100, 300, 50, 200,
//! 400, 10 (sum 1060, mean 176.67).

use crate::run::{EVENTS, assert_csv, csv, metricc, project};
use std::process::Output;

const RANGE: &str = "default_range: { from: 2026-03-01, to: 2026-03-10 }\n";
const SOURCE: &str = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [event] }\nmetrics:\n  requests: { description: calls, source: events, filter: event = 'api_call', measure: count(*) }\n";

fn with(defs: &str) -> tempfile::TempDir {
    project(
        RANGE,
        &format!("{SOURCE}{defs}"),
        &[("data/events.parquet", EVENTS)],
    )
}

fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `check` and `run` both refuse with `code`, exit 1 (never 101 or a signal).
fn refused(dir: &std::path::Path, code: &str) {
    for args in [&["check"][..], &["run", "--quiet"]] {
        let o = metricc(args, dir);
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {out}");
        assert!(out.contains(code), "{args:?}: expected {code}: {out}");
    }
}

#[test]
fn if_gives_its_branches_common_type() {
    // Errors (500, 404) count 1, the four others 0.5: 2 + 2 = 4.
    let tmp = with(
        "  weighted: { description: x, source: events, filter: event = 'api_call', measure: \"sum(if(status >= 400, 1, 0.5))\" }\n",
    );
    assert_csv(&csv(tmp.path(), "weighted"), "weighted\n4.0");
}

#[test]
fn round_with_any_digits_gives_duckdbs_answer() {
    let tmp = with(concat!(
        "  far: { description: x, source: events, filter: event = 'api_call', measure: \"round(sum(latency_ms), 400)\" }\n",
        "  huge: { description: x, source: events, filter: event = 'api_call', measure: \"round(sum(latency_ms), 9223372036854775807)\" }\n",
        "  tens: { description: x, source: events, filter: event = 'api_call', measure: \"round(sum(latency_ms), -2)\" }\n",
        "  gone: { description: x, source: events, filter: event = 'api_call', measure: \"round(sum(latency_ms), -400)\" }\n",
        "  tenth: { description: x, source: events, filter: event = 'api_call', measure: \"round(avg(latency_ms), 1)\" }\n",
        "  count_tens: { description: x, source: events, filter: event = 'api_call', measure: \"round(count(*), -1)\" }\n",
        "  plain: { description: x, source: events, filter: event = 'api_call', measure: \"round(avg(latency_ms))\" }\n",
    ));
    // 1060 kept by 400 digits and by i64::MAX digits (DuckDB gives x where
    // 10^digits overflows); 1060 -> 1100 to hundreds; -400 digits round
    // everything away: 0; 176.67 -> 176.7; 6 calls -> 10; 176.67 -> 177.
    let got = csv(tmp.path(), "far huge tens gone tenth count_tens plain");
    assert_csv(
        &got,
        "far,huge,tens,gone,tenth,count_tens,plain\n1060.0,1060.0,1100.0,0.0,176.7,10,177.0",
    );
}

#[test]
fn metrics_built_on_text_or_time_metrics_are_refused_by_check() {
    for defs in [
        "  kinds: { description: x, source: events, measure: max(event) }\n  plus: { description: x, formula: kinds + 1 }\n",
        "  last_seen: { description: x, source: events, measure: max(ts) }\n  per_call: { description: x, ratio: { numerator: last_seen, denominator: requests } }\n",
        "  last_seen: { description: x, source: events, measure: max(ts) }\n  running: { description: x, cumulative: { metric: last_seen } }\n",
    ] {
        let tmp = with(defs);
        refused(tmp.path(), "E0221");
        let out = all_output(&metricc(&["check"], tmp.path()));
        assert!(
            out.contains("and metrics built on it need a number"),
            "{out}"
        );
    }
    // The text measure alone still runs (the last event name, by order).
    let tmp = with("  kinds: { description: x, source: events, measure: max(event) }\n");
    assert_csv(&csv(tmp.path(), "kinds"), "kinds\nsignup");
}

#[test]
fn more_than_a_million_buckets_is_e0304() {
    let tmp = with("");
    let o = metricc(
        &[
            "run",
            "--quiet",
            "--by",
            "hour",
            "--from",
            "1900-01-01",
            "--to",
            "2100-01-01",
        ],
        tmp.path(),
    );
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("E0304") && out.contains("more than 1000000 hour buckets"),
        "{out}"
    );
    // Just under the limit by day is still a range (273 years of days).
    let o = metricc(
        &[
            "explain",
            "requests",
            "--by",
            "day",
            "--from",
            "1800-01-01",
            "--to",
            "2073-01-01",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
}

/// `m_0` is the six requests; `m_i` is built on `m_(i-1)` by `step`.
fn chain(n: usize, step: &str) -> String {
    let mut defs = String::from("  m_0: { description: x, formula: requests }\n");
    for i in 1..=n {
        let f = step.replace("PREV", &format!("m_{}", i - 1));
        defs.push_str(&format!("  m_{i}: {{ description: x, formula: {f} }}\n"));
    }
    defs
}

#[test]
fn a_diamond_of_formulas_is_planned_once_per_metric() {
    // m_i = m_(i-1) + m_(i-1): 6 * 2^40, where a plan with a copy of each
    // metric per path to it would hold 2^40 copies of `requests`.
    let tmp = with(&chain(40, "PREV + PREV"));
    let want = 6i64 << 40;
    assert_csv(&csv(tmp.path(), "m_40"), &format!("m_40\n{want}"));
    // By day, as a test's `define:` too.
    std::fs::write(
        tmp.path().join("diamond.test.yaml"),
        format!(
            "tests:\n  - name: diamond\n    define:\n      metrics:\n        top: {{ description: x, formula: m_40 + m_40 }}\n    metrics: [top]\n    from: 2026-03-01\n    to: 2026-03-03\n    by: day\n    given:\n      events:\n        - {{ ts: 2026-03-01 09:00, developer_id: d1, event: api_call }}\n        - {{ ts: 2026-03-01 10:00, developer_id: d1, event: api_call }}\n        - {{ ts: 2026-03-01 11:00, developer_id: d2, event: api_call }}\n        - {{ ts: 2026-03-02 09:00, developer_id: d2, event: api_call }}\n        - {{ ts: 2026-03-02 10:00, developer_id: d2, event: signup }}\n    expect:\n      - {{ day: 2026-03-01, top: {} }}\n      - {{ day: 2026-03-02, top: {} }}\n",
            2 * (3i64 << 40),
            2 * (1i64 << 40)
        ),
    )
    .unwrap();
    let o = metricc(&["test"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
}

#[test]
fn a_chain_of_sixty_four_runs_and_a_longer_one_is_e0224() {
    // m_63 = 6 + 63 (m_0 is the 2nd level, under `requests`: 64 levels).
    let tmp = with(&chain(62, "PREV + 1"));
    assert_csv(&csv(tmp.path(), "m_62"), "m_62\n68");
    let tmp = with(&chain(63, "PREV + 1"));
    refused(tmp.path(), "E0224");
    let out = all_output(&metricc(&["check"], tmp.path()));
    assert!(
        out.contains("`m_63` is built on a chain of 65 metrics"),
        "{out}"
    );
    // 1,500 formulas once overflowed the planner's stack (SIGABRT).
    let tmp = with(&chain(1500, "PREV + 1"));
    refused(tmp.path(), "E0224");
    let out = all_output(&metricc(&["check"], tmp.path()));
    assert_eq!(out.matches("E0224[").count(), 1, "one report: {out}");
}

#[test]
fn a_decimal_and_a_float_file_in_one_source_are_e0214() {
    let amounts = |ty: &str| format!("paid_at:timestamp,amount:{ty}\n2026-03-02T00:00:00Z,0.004\n");
    let tmp = project(
        RANGE,
        "sources:\n  payments: { path: data/payments, time: paid_at }\nmetrics:\n  revenue: { description: x, source: payments, measure: sum(amount) }\n",
        &[
            ("data/payments/part-0.parquet", &amounts("decimal(9;2)")),
            ("data/payments/part-1.parquet", &amounts("float")),
        ],
    );
    refused(tmp.path(), "E0214");
    let out = all_output(&metricc(&["check"], tmp.path()));
    assert!(
        out.contains("Decimal128(9, 2)") && out.contains("Float64"),
        "{out}"
    );
    // Two decimals of one type are one source.
    let tmp = project(
        RANGE,
        "sources:\n  payments: { path: data/payments, time: paid_at }\nmetrics:\n  revenue: { description: x, source: payments, measure: sum(amount) }\n",
        &[
            ("data/payments/part-0.parquet", &amounts("decimal(9;3)")),
            ("data/payments/part-1.parquet", &amounts("decimal(9;3)")),
        ],
    );
    assert_csv(&csv(tmp.path(), "revenue"), "revenue\n0.008");
}

#[test]
fn an_empty_retention_cohort_retains_zero_once_its_period_has_begun() {
    // Only d1's signup (03-01 10:00) starts a cohort; d1 calls on 03-01 at
    // 11:00 and 12:00 and on 03-02 at 10:30. The cohorts of 03-02 to 03-04
    // are empty: 0 retained (rate 0 / 0, null) in every period begun
    // before 03-05, null in the periods after.
    let tmp = with(
        "  ret: { description: x, source: events, retention: { cohort: \"event = 'signup' and developer_id = 'd1'\", return: \"event = 'api_call'\", period: day, periods: 2 } }\n",
    );
    let got = csv(
        tmp.path(),
        "ret --table ret --from 2026-03-01 --to 2026-03-05",
    );
    assert_csv(
        &got,
        "cohort,period,cohort_size,retained,retention_rate
         2026-03-01,0,1,1,1.0
         2026-03-01,1,1,1,1.0
         2026-03-01,2,1,0,0.0
         2026-03-02,0,0,0,
         2026-03-02,1,0,0,
         2026-03-02,2,0,0,
         2026-03-03,0,0,0,
         2026-03-03,1,0,0,
         2026-03-03,2,0,,
         2026-03-04,0,0,0,
         2026-03-04,1,0,,
         2026-03-04,2,0,,",
    );
}

#[test]
fn a_damaged_arrow_schema_in_a_footer_falls_back_to_the_parquet_schema() {
    // `requests` over the fixture: six calls. Two files, so that a run reads
    // a damaged file and a sound one together.
    let defs = "sources:\n  events: { path: data/events, time: ts, entity: developer_id }\nmetrics:\n  requests: { description: calls, source: events, filter: event = 'api_call', measure: count(*) }\n";
    let tmp = project(
        RANGE,
        defs,
        &[
            ("data/events/a.parquet", EVENTS),
            ("data/events/b.parquet", EVENTS),
        ],
    );
    let file = tmp.path().join("data/events/a.parquet");
    let original = std::fs::read(&file).unwrap();
    let at = original
        .windows(12)
        .rposition(|w| w == b"ARROW:schema")
        .expect("the writer stores the Arrow schema");
    // Change one base64 character of the stored schema at a time: every such
    // file checks clean; those whose stored schema no longer decodes (or
    // makes arrow-ipc panic) are read from their Parquet schema, as DuckDB
    // reads them, and give the same numbers.
    let mut damaged = Vec::new();
    for offset in 16..400 {
        let mut bytes = original.clone();
        let Some(b) = bytes.get_mut(at + offset) else {
            break;
        };
        *b = if *b == b'A' { b'B' } else { b'A' };
        std::fs::write(&file, &bytes).unwrap();
        let checked = metricc::driver::check(tmp.path());
        assert!(
            checked.diagnostics.is_empty(),
            "offset {offset}: {:?}",
            checked.diagnostics
        );
        let events = checked.schemas["events"].as_ref().expect("a schema");
        if events.damaged.contains(&file) {
            damaged.push(bytes);
        }
    }
    assert!(!damaged.is_empty(), "no change damaged the stored schema");
    for bytes in damaged.iter().take(3) {
        std::fs::write(&file, bytes).unwrap();
        assert_csv(&csv(tmp.path(), "requests"), "requests\n12");
    }
}

#[test]
fn integer_overflow_is_an_error_never_a_wrapped_number() {
    let big = 1i64 << 62;
    let rows: String = (0..4)
        .map(|i| format!("2026-03-0{}T00:00:00Z,{big}\n", i + 2))
        .collect();
    let tmp = project(
        RANGE,
        "sources:\n  numbers: { path: data/numbers.parquet, time: ts }\nmetrics:\n  total: { description: x, source: numbers, measure: sum(n) }\n  as_float: { description: x, source: numbers, measure: sum(n * 1.0) }\n  two: { description: x, source: numbers, measure: max(n) + max(n) }\n  twice: { description: x, formula: total * 2 }\n  fits: { description: x, source: numbers, measure: sum(n / 4) }\n",
        &[(
            "data/numbers.parquet",
            &format!("ts:timestamp,n:int\n{rows}"),
        )],
    );
    // DataFusion's wrapping sum gave 0 for four values of 2^62.
    for metric in ["total", "two", "twice"] {
        let o = metricc(&["run", "--quiet", metric], tmp.path());
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(1), "{metric}: {out}");
        assert!(
            out.contains("E0305") && out.contains("a computation overflowed"),
            "{metric}: {out}"
        );
    }
    // By day each sum fits; in floats the total is 2^64 (DuckDB's HUGEINT
    // gives 18446744073709551616).
    assert_csv(
        &csv(tmp.path(), "as_float fits"),
        "as_float,fits\n18446744073709551616,4611686018427387904",
    );
    let by_day = csv(
        tmp.path(),
        "total --by day --from 2026-03-02 --to 2026-03-04",
    );
    assert_csv(
        &by_day,
        &format!("day,total\n2026-03-02,{big}\n2026-03-03,{big}"),
    );
}

#[test]
fn float_sums_are_exact_and_the_same_under_every_setting() {
    // Ten times 0.1 is 1.0000000000000000555 exactly, which rounds to 1.0
    // (added left to right in doubles it gives 0.9999999999999999); 1e16,
    // 1 and -1e16 sum to 1 in any order (in doubles, 0 or 1 by the order).
    let mut rows = String::from("ts:timestamp,x:float\n");
    for i in 0..10 {
        rows.push_str(&format!("2026-03-02T{i:02}:00:00Z,0.1\n"));
    }
    rows.push_str(
        "2026-03-03T00:00:00Z,1e16\n2026-03-03T01:00:00Z,1\n2026-03-03T02:00:00Z,-1e16\n",
    );
    let tmp = project(
        RANGE,
        "sources:\n  numbers: { path: data/numbers.parquet, time: ts }\nmetrics:\n  total: { description: x, source: numbers, measure: sum(x) }\n  mean: { description: x, source: numbers, measure: avg(x) }\n",
        &[("data/numbers.parquet", &rows)],
    );
    let by_day = "total mean --by day --from 2026-03-02 --to 2026-03-04";
    let want = "day,total,mean\n2026-03-02,1.0,0.1\n2026-03-03,1.0,0.3333333333333333\n";
    for settings in [
        "--threads 1",
        "--threads 3",
        "--threads 2 --memory-limit 64M",
    ] {
        let got = csv(tmp.path(), &format!("{by_day} {settings}"));
        assert_eq!(got, want, "{settings}");
    }
}

#[test]
fn the_example_gives_the_same_bits_under_every_setting() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let dir = example.to_str().unwrap();
    let runs: Vec<String> = [
        "--threads 1",
        "--threads 2",
        "--threads 4",
        "--threads 2 --memory-limit 256M",
    ]
    .iter()
    .map(|settings| {
        csv(
            std::path::Path::new("."),
            &format!("-p {dir} --by week {settings}"),
        )
    })
    .collect();
    for r in &runs[1..] {
        assert_eq!(r, &runs[0]);
    }
}

#[test]
fn nan_is_the_largest_float_for_min_and_max_under_every_setting() {
    // As DuckDB and PostgreSQL order floats: max is NaN when any value is,
    // min only when all are. Two files, so partitions see different parts.
    // Each file's statistics leave NaN out (a: min = max = 1.5, b: -2.5):
    // DataFusion read such a column as that one value throughout.
    let a = "ts:timestamp,x:float\n2026-03-02T00:00:00Z,1.5\n2026-03-02T01:00:00Z,NaN\n2026-03-03T00:00:00Z,NaN\n";
    let b = "ts:timestamp,x:float\n2026-03-02T02:00:00Z,-2.5\n2026-03-03T01:00:00Z,NaN\n";
    let tmp = project(
        RANGE,
        "sources:\n  numbers: { path: data/numbers, time: ts }\nmetrics:\n  low: { description: x, source: numbers, measure: min(x) }\n  high: { description: x, source: numbers, measure: max(x) }\n",
        &[("data/numbers/a.parquet", a), ("data/numbers/b.parquet", b)],
    );
    let args = "low high --by day --from 2026-03-02 --to 2026-03-04";
    let want = "day,low,high\n2026-03-02,-2.5,NaN\n2026-03-03,NaN,NaN\n";
    for settings in [
        "--threads 1",
        "--threads 2",
        "--threads 3 --memory-limit 64M",
    ] {
        assert_eq!(
            csv(tmp.path(), &format!("{args} {settings}")),
            want,
            "{settings}"
        );
    }
}

/// Events with a null time (one row) and a null entity (one row), written
/// with or without statistics in the footer.
fn events_with_nulls(dir: &std::path::Path, statistics: bool) {
    use datafusion::arrow::array::{StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
    use std::sync::Arc;
    let t = |h: i64| Some(1_772_442_000_000_000 + h * 3_600_000_000); // 2026-03-02 09:00 UTC
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("developer_id", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(
                TimestampMicrosecondArray::from(vec![t(0), t(1), None, t(2)]).with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![
                Some("d1"),
                None,
                Some("d2"),
                Some("d2"),
            ])),
        ],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_statistics_enabled(if statistics {
            EnabledStatistics::Page
        } else {
            EnabledStatistics::None
        })
        .build();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let file = std::fs::File::create(dir.join("data/events.parquet")).unwrap();
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn rows_without_a_time_or_an_entity_are_not_events() {
    let defs = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  rows: { description: x, source: events, measure: count(*) }\n  developers: { description: x, source: events, measure: count_distinct(developer_id) }\n";
    let tmp = project(RANGE, defs, &[]);
    // With null counts in the footer, check refuses the file.
    events_with_nulls(tmp.path(), true);
    refused(tmp.path(), "E0222");
    // Without, it warns (W0004, one per column) and every metric leaves the
    // two rows out: 2 rows (d1 at 09:00, d2 at 11:00), 2 developers.
    events_with_nulls(tmp.path(), false);
    let o = metricc(&["check"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out.matches("W0004[").count(), 2, "{out}");
    assert_eq!(
        metricc(&["check", "--deny-warnings"], tmp.path())
            .status
            .code(),
        Some(1)
    );
    assert_csv(&csv(tmp.path(), "rows developers"), "rows,developers\n2,2");
    // The run counts the rows it left out and says so.
    let o = metricc(&["run", "--format", "csv", "rows"], tmp.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("note: 2 rows of source `events` have no time or no entity and were left out"),
        "{err}"
    );
}

#[test]
fn a_duration_beyond_what_an_interval_holds_is_refused() {
    // 100,000,000 days were cut to 2^63 ns (292 years): `max(ts + ...)`
    // gave a date in 2318.
    let tmp =
        with("  far: { description: x, source: events, measure: \"max(ts + 100000000d)\" }\n");
    refused(tmp.path(), "E0113");
    let out = all_output(&metricc(&["check"], tmp.path()));
    assert!(out.contains("at most 106751d"), "{out}");
    let tmp = with(
        "  near: { description: x, source: events, measure: \"count(*) filter (where ts + 106751d > ts)\" }\n",
    );
    assert_csv(&csv(tmp.path(), "near"), "near\n8");
}

#[test]
fn control_characters_in_data_are_escaped_in_a_table() {
    let tmp = project(
        RANGE,
        "sources:\n  events: { path: data/events.parquet, time: ts }\nmetrics:\n  last: { description: x, source: events, measure: max(name) }\n",
        &[(
            "data/events.parquet",
            "ts:timestamp,name\n2026-03-02T00:00:00Z,a\u{1b}[2Jb\n",
        )],
    );
    let o = metricc(&["run", "--quiet", "last"], tmp.path());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        !out.contains('\u{1b}') && out.contains("a\\u{1b}[2Jb"),
        "{out:?}"
    );
    // CSV keeps the bytes.
    assert!(csv(tmp.path(), "last").contains("a\u{1b}[2Jb"));
}
