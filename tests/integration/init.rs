//! `metricc init`: a project scaffolded from Parquet files checks, tests
//! and runs clean, its guesses are the right columns, and nothing a user
//! had is overwritten.

use crate::fixtures::typed_csv_to_parquet;
use crate::run::metricc;
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use std::path::Path;

fn copy_example_data(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics/data");
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn ok(o: &std::process::Output, what: &str) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{what}:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn rows_in(file: &Path) -> i64 {
    let r = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
    r.metadata().file_metadata().num_rows()
}

#[test]
fn the_example_data_makes_a_project_that_checks_tests_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("proj");
    copy_example_data(&p.join("data"));
    ok(
        &metricc(&["init", "proj", "--from", "proj/data"], tmp.path()),
        "init",
    );
    ok(
        &metricc(&["check", "proj", "--deny-warnings"], tmp.path()),
        "check",
    );
    let tested = ok(&metricc(&["test", "proj"], tmp.path()), "test");
    assert!(tested.contains("6 passed, 0 failed"), "{tested}");

    let sources = std::fs::read_to_string(p.join("sources.yaml")).unwrap();
    for line in [
        "    time: ts  # guessed: the only timestamp column",
        "    entity: developer_id  # guessed: an id column that 4 other tables also have",
        "    time: paid_at  # guessed: a timestamp column, chosen over `period` by its name",
        "    time: day  # guessed: the only date column",
        "    entity: visitor_id  # guessed: an id column that 1 other table also has",
        "  developer:",
        "    valid_from: valid_from  # guessed: rows are versions, each holding from this time",
    ] {
        assert!(sources.contains(line), "no `{line}` in\n{sources}");
    }
    // The sample data's 120 days from 2026-01-05 (`metricc sample-data`'s
    // defaults), read from the footers' statistics.
    let project = std::fs::read_to_string(p.join("metricc.yaml")).unwrap();
    assert!(
        project.contains("default_range: { from: 2026-01-05, to: 2026-05-05 }"),
        "{project}"
    );
    // Over that range every row counts: the months add up to the files'
    // row counts, from their footers.
    let csv = ok(
        &metricc(
            &[
                "run",
                "-p",
                "proj",
                "--by",
                "month",
                "--format",
                "csv",
                "events_rows",
                "payments_rows",
            ],
            tmp.path(),
        ),
        "run",
    );
    let mut sums = [0i64, 0];
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        sums[0] += cells[1].parse::<i64>().unwrap();
        sums[1] += cells[2].parse::<i64>().unwrap();
    }
    assert_eq!(
        sums,
        [
            rows_in(&p.join("data/events.parquet")),
            rows_in(&p.join("data/payments.parquet"))
        ]
    );
}

#[test]
fn nothing_is_overwritten_and_files_outside_need_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("elsewhere");
    copy_example_data(&data);
    let p = tmp.path().join("proj");
    // Outside the project: refused, nothing written.
    let o = metricc(
        &["init", "proj", "--from", "elsewhere/events.parquet"],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--copy") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!p.exists());
    // With --copy: into the project's data/.
    let from = [
        "init",
        "proj",
        "--copy",
        "--from",
        "elsewhere/events.parquet",
        "elsewhere/payments.parquet",
    ];
    ok(&metricc(&from, tmp.path()), "init --copy");
    assert_eq!(
        std::fs::read(p.join("data/events.parquet")).unwrap(),
        std::fs::read(data.join("events.parquet")).unwrap()
    );
    ok(
        &metricc(&["check", "proj", "--deny-warnings"], tmp.path()),
        "check",
    );
    ok(&metricc(&["test", "proj"], tmp.path()), "test");
    // Again: every file is already there, so nothing is touched.
    std::fs::write(p.join("metrics.yaml"), "metrics: {}\n# mine\n").unwrap();
    let o = metricc(&from, tmp.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(p.join("metrics.yaml")).unwrap(),
        "metrics: {}\n# mine\n"
    );
}

#[test]
fn parts_tables_keys_and_tables_without_time() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    // Two parts of one table, with one schema.
    let events =
        "ts:timestamp,account_id,kind\n2026-02-02T10:00:00Z,a1,x\n2026-02-03T10:00:00Z,a2,y\n";
    typed_csv_to_parquet(events, &d.join("clicks/part-0.parquet"));
    typed_csv_to_parquet(
        "ts:timestamp,account_id,kind\n2026-02-04T10:00:00Z,a1,z\n",
        &d.join("clicks/part-1.parquet"),
    );
    // Accounts: keyed by account_id, which clicks share, but two rows for
    // a1 and no start time: not an entity table, a source.
    typed_csv_to_parquet(
        "account_id,created_at:timestamp,tier\na1,2026-01-01T00:00:00Z,free\na1,2026-01-09T00:00:00Z,pro\na2,2026-01-02T00:00:00Z,free\n",
        &d.join("accounts.parquet"),
    );
    // No time column and no key: left out.
    typed_csv_to_parquet("code,rate:float\nEUR,1.1\n", &d.join("rates.parquet"));
    ok(
        &metricc(&["init", ".", "--from", "data"], tmp.path()),
        "init",
    );
    let sources = std::fs::read_to_string(tmp.path().join("sources.yaml")).unwrap();
    assert!(
        sources
            .contains("  clicks:\n    description: Rows of data/clicks\n    path: data/clicks\n"),
        "{sources}"
    );
    assert!(sources.contains("  accounts:\n"), "{sources}");
    assert!(!sources.contains("entities:"), "{sources}");
    assert!(
        sources.contains("# rates (data/rates.parquet) is left out: it has no timestamp or date column, which a source needs."),
        "{sources}"
    );
    ok(
        &metricc(&["check", ".", "--deny-warnings"], tmp.path()),
        "check",
    );
    let tested = ok(&metricc(&["test", "."], tmp.path()), "test");
    assert!(tested.contains("2 passed, 0 failed"), "{tested}");
    let csv = ok(
        &metricc(
            &["run", "clicks_rows", "clicks_accounts", "--format", "csv"],
            tmp.path(),
        ),
        "run",
    );
    // Three clicks of two accounts, all inside the default range
    // (2026-01-01, the first account, to 2026-02-05, after the last click).
    assert_eq!(csv, "clicks_rows,clicks_accounts\n3,2\n");
}
