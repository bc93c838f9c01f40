//! `metricc test`: the example's own tests pass and cover every metric kind;
//! a broken expectation fails with its difference; bad tests get diagnostics
//! at the right line and column; the JUnit report is well formed.

use crate::run::metricc;
use metricc::source::SourceSet;
use metricc::testing;
use std::path::{Path, PathBuf};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics")
}

/// A copy of the example project (definitions, data and tests) to change.
fn example_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&example(), tmp.path());
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn test_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut all = vec!["test", "."];
    all.extend_from_slice(args);
    let out = metricc(&all, dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Every file below `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(listing(&e.path()));
        } else {
            out.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn the_example_tests_pass_and_write_nothing() {
    let tmp = example_copy();
    let before = listing(tmp.path());
    let (code, out) = test_in(tmp.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
    assert_eq!(listing(tmp.path()), before, "metricc test changed files");
}

#[test]
fn the_example_tests_cover_every_metric_kind() {
    let checked = metricc::driver::check(&example());
    let model = checked.model.clone().expect("the example checks");
    let mut sources: SourceSet = checked.sources.clone();
    let mut diags = Vec::new();
    let cases = testing::load(&checked.fence, &example(), &mut sources, &mut diags);
    assert!(diags.is_empty(), "{diags:#?}");
    let mut kinds: Vec<&str> = Vec::new();
    let mut rejected = 0;
    for (_, case) in &cases {
        assert!(!case.broken(), "{}: {:#?}", case.name.value, case.problems);
        if case.expect_error.is_some() {
            rejected += 1;
        }
        for m in &case.metrics {
            let kind = model.metric(&m.value).unwrap().kind.key();
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    for k in metricc::syntax::build::KIND_KEYS {
        assert!(kinds.contains(k), "no example test runs a `{k}` metric");
    }
    assert!(
        rejected >= 2,
        "tests that a definition is rejected: {rejected}"
    );
    let named = |n: &str| {
        cases
            .iter()
            .any(|(_, c)| c.metrics.iter().any(|m| m.value == n))
    };
    for key in [
        "activation_rate",
        "onboarding",
        "ttfc_median",
        "retention",
        "churn_rate",
        "ltv_dac_ratio",
    ] {
        assert!(named(key), "no example test runs `{key}`");
    }
}

#[test]
fn a_broken_expectation_fails_with_the_difference() {
    let tmp = example_copy();
    let file = tmp.path().join("tests/acquisition.test.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = text.replacen(
        "first_call_success_rate: 1/2, activation_rate: 1/2 }",
        "first_call_success_rate: 1/2, activation_rate: 2/3 }",
        1,
    );
    assert_ne!(broken, text);
    std::fs::write(&file, broken).unwrap();
    let (code, out) = test_in(tmp.path(), &["--color", "never"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  activation_needs_a_first_success_within_seven_days"),
        "{out}"
    );
    assert!(
        out.contains("row week=2026-03-02:\n    activation_rate: expected 2/3, actual 0.5"),
        "{out}"
    );
    assert!(out.contains("1 cell differs:"), "{out}");
    assert!(out.contains(" passed, 1 failed"), "{out}");
    // --filter runs only the named tests.
    let (code, out) = test_in(tmp.path(), &["--filter", "ltv"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");
    assert!(!out.contains("activation"), "{out}");
}

/// Writes `tests/bad.test.yaml` into a copy of the example and runs it.
fn bad_test(yaml: &str) -> String {
    let tmp = example_copy();
    for e in std::fs::read_dir(tmp.path().join("tests"))
        .unwrap()
        .flatten()
    {
        if e.file_name().to_string_lossy().ends_with(".test.yaml") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    std::fs::write(tmp.path().join("tests/bad.test.yaml"), yaml).unwrap();
    let (code, out) = test_in(tmp.path(), &["--color", "never"]);
    assert_eq!(code, 1, "{out}");
    out
}

const HEAD: &str = "tests:
  - name: t
    metrics: [signups]
    from: 2026-03-02
    to: 2026-03-09
";

#[test]
fn a_fixture_column_the_source_lacks_is_e0401() {
    let out = bad_test(&format!(
        "{HEAD}    given:
      events:
        - {{ ts: 2026-03-02 09:00, developer: d1, event: signup }}
    expect:
      - {{ signups: 1 }}
"
    ));
    assert!(out.contains("E0401[unknown-fixture-column]"), "{out}");
    assert!(out.contains("tests/bad.test.yaml:8:35]"), "{out}");
    assert!(out.contains("did you mean `developer_id`?"), "{out}");
    assert!(out.contains("ERROR t"), "{out}");
}

#[test]
fn an_expected_column_the_result_lacks_is_e0402() {
    let out = bad_test(&format!(
        "{HEAD}    given:
      events:
        - {{ ts: 2026-03-02 09:00, developer_id: d1, event: signup }}
    expect:
      - {{ signup: 1 }}
"
    ));
    assert!(out.contains("E0402[unknown-result-column]"), "{out}");
    assert!(out.contains("tests/bad.test.yaml:10:11]"), "{out}");
    assert!(out.contains("did you mean `signups`?"), "{out}");
}

#[test]
fn a_missing_key_column_is_e0402() {
    let out = bad_test(
        "tests:
  - name: t
    metrics: [signups]
    from: 2026-03-02
    to: 2026-03-16
    by: week
    given:
      events: []
    expect:
      - { signups: 0 }
",
    );
    assert!(out.contains("this expected row gives no `week`"), "{out}");
    assert!(out.contains("tests/bad.test.yaml:10:9]"), "{out}");
}

#[test]
fn malformed_rows_and_values_are_e0403() {
    let out = bad_test(&format!(
        "{HEAD}    given:
      events:
        - [d1, signup]
        - {{ ts: 2026-03-02 09:00, developer_id: d1, event: signup, status: ok }}
        - {{ ts: 2026-02-30 09:00, developer_id: d2, event: signup }}
        - {{ developer_id: d3, event: signup }}
    expect:
      - {{ signups: many }}
"
    ));
    assert!(
        out.contains("a row must be a mapping of columns to values"),
        "{out}"
    );
    assert!(out.contains("tests/bad.test.yaml:8:11]"), "{out}");
    assert!(out.contains("`ok` is not a value of type Int32"), "{out}");
    assert!(out.contains("tests/bad.test.yaml:9:76]"), "{out}");
    assert!(out.contains("`2026-02-30 09:00` is not a time"), "{out}");
    assert!(out.contains("tests/bad.test.yaml:10:17]"), "{out}");
    assert!(
        out.contains("a row of `events` has no time (`ts`)"),
        "{out}"
    );
}

#[test]
fn a_local_time_skipped_by_daylight_saving_is_e0403() {
    let out = bad_test(
        "tests:
  - name: t
    metrics: [signups]
    time_zone: America/New_York
    from: 2026-03-08
    to: 2026-03-09
    given:
      events:
        - { ts: 2026-03-08 02:30, developer_id: d1, event: signup }
    expect:
      - { signups: 1 }
",
    );
    assert!(out.contains("does not exist in America/New_York"), "{out}");
    assert!(out.contains("tests/bad.test.yaml:9:17]"), "{out}");
}

#[test]
fn a_source_without_rows_is_e0404() {
    let out = bad_test(
        "tests:
  - name: t
    metrics: [visitor_to_signup_rate]
    from: 2026-03-02
    to: 2026-03-09
    given:
      events: []
      payments: []
    expect:
      - { visitor_to_signup_rate: null }
",
    );
    assert!(out.contains("E0404[fixture-missing]"), "{out}");
    assert!(
        out.contains("the test gives no rows for source `page_views`"),
        "{out}"
    );
    assert!(
        out.contains("the test's metrics do not read source `payments`"),
        "{out}"
    );
    assert!(out.contains("tests/bad.test.yaml:8:7]"), "{out}");
}

#[test]
fn test_file_mistakes_are_diagnostics() {
    let out = bad_test(
        "tests:
  - name: t
    metrics: [signupz]
    form: 2026-03-02
    given:
      events: []
    expect: []
  - name: t
    define:
      metrics:
        x: { description: d, source: events, measure: count(*) }
    expect_error: E9999
  - name: not a name
    metrics: [signups]
    expect: []
",
    );
    assert!(
        out.contains("`not a name` is not a valid test name"),
        "{out}"
    );
    assert!(out.contains("ERROR #3"), "{out}");
    assert!(out.contains("unknown key `form` in a test"), "{out}");
    assert!(out.contains("did you mean `from`?"), "{out}");
    assert!(out.contains("two tests are named `t`"), "{out}");
    assert!(out.contains("`E9999` is not a metricc code"), "{out}");
}

#[test]
fn junit_report_counts_and_escapes() {
    let tmp = example_copy();
    let file = tmp.path().join("tests/acquisition.test.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replacen(
        "signups: 2, first_calls: 2",
        "signups: 3, first_calls: 2",
        1,
    );
    let text = text.replacen("expect_error: E0217", "expect_error: E0218", 1);
    let text = text.replacen(
        "step: 1, step_name: signup,",
        "step: 1, step_name: \"<s&>\",",
        1,
    );
    std::fs::write(&file, text).unwrap();
    std::fs::write(
        tmp.path().join("tests/bad.test.yaml"),
        "tests:\n  - name: bad\n    metrics: [signups]\n    given: { events: [ { ts: nope, developer_id: d } ] }\n    expect: []\n",
    )
    .unwrap();
    let report = tmp.path().join("out/junit.xml");
    std::fs::create_dir_all(report.parent().unwrap()).unwrap();
    let (code, out) = test_in(
        tmp.path(),
        &["--format", "junit", "--output", report.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{out}");
    let xml = std::fs::read_to_string(&report).unwrap();
    let count = |s: &str| xml.matches(s).count();
    let tests = count("<testcase ");
    assert!(tests >= 18, "{xml}");
    assert_eq!(count("<failure "), 3, "{xml}");
    assert_eq!(count("<error "), 1, "{xml}");
    assert!(
        xml.contains(&format!(
            "<testsuites name=\"api_product\" tests=\"{tests}\" failures=\"3\" errors=\"1\""
        )),
        "{xml}"
    );
    assert!(
        xml.contains("missing row step=1, step_name=&lt;s&amp;&gt;"),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<error message=\"invalid value for column `ts` of `events`\" type=\"E0403\">"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("expected checking to report E0218 (unknown-step)"),
        "{xml}"
    );
    assert!(xml.contains("signups: expected 3, actual 2"), "{xml}");
    assert!(!xml.contains('\u{1b}'), "color codes in the report");
    validate_junit(&report);
}

/// Validates the report against `tests/junit/junit.xsd` with Python's
/// `xmlschema` when the test Python has it (`.ci/run` installs it), and
/// checks it is well-formed XML with the standard library otherwise.
fn validate_junit(report: &Path) {
    let python = std::env::var("METRICC_DUCKDB_PYTHON").unwrap_or_else(|_| "python3".into());
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/junit/junit.xsd");
    let script = "import sys, xml.dom.minidom\n\
        xml.dom.minidom.parse(sys.argv[1])\n\
        try:\n    import xmlschema\nexcept ImportError:\n    print('well-formed; xmlschema missing'); sys.exit(0)\n\
        xmlschema.XMLSchema(sys.argv[2]).validate(sys.argv[1])\nprint('schema-valid')\n";
    let Ok(out) = std::process::Command::new(&python)
        .args([
            "-c",
            script,
            report.to_str().unwrap(),
            xsd.to_str().unwrap(),
        ])
        .output()
    else {
        crate::run::skipped(
            "test_cmd::validate_junit",
            &format!("no `{python}` to validate the XML"),
        );
        return;
    };
    assert!(
        out.status.success(),
        "the JUnit report does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    if !said.contains("schema-valid") {
        crate::run::skipped(
            "test_cmd::validate_junit (schema)",
            "xmlschema is missing; the report was checked to be well-formed XML only",
        );
    }
    eprintln!("junit report: {said}");
}

/// A copy of the example with `files` (relative path, bytes) as its only tests.
fn project_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let tmp = example_copy();
    for e in std::fs::read_dir(tmp.path().join("tests"))
        .unwrap()
        .flatten()
    {
        if e.file_name().to_string_lossy().ends_with(".test.yaml") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    for (path, bytes) in files {
        let p = tmp.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    tmp
}

#[test]
fn key_columns_match_exactly_whatever_the_tolerance() {
    // Statuses 200 and 201 are within 1% of each other: as keys they still
    // name different rows, so swapping their counts fails.
    let tmp = project_with(&[(
        "tests/k.test.yaml",
        b"tests:
  - name: swapped
    metrics: [requests]
    from: 2026-03-02
    to: 2026-03-09
    group_by: [status]
    tolerance: 0.01
    given:
      events:
        - { ts: 2026-03-02 10:00, developer_id: a, event: api_call, status: 200 }
        - { ts: 2026-03-02 11:00, developer_id: a, event: api_call, status: 201 }
        - { ts: 2026-03-02 12:00, developer_id: a, event: api_call, status: 201 }
    expect:
      - { status: 201, requests: 1 }
      - { status: 200, requests: 2 }
",
    )]);
    let (code, out) = test_in(tmp.path(), &["--color", "never"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("row status=201:\n    requests: expected 1, actual 2"),
        "{out}"
    );
}

#[test]
fn defines_rejections_csv_spans_and_unreadable_files() {
    let tmp = project_with(&[
        (
            "tests/a.test.yaml",
            b"tests:
  - name: an_unknown_key_is_rejected
    define: { metrics: { broken: { source: events, measure: count(*), colour: red } } }
    expect_error: E0103
  - name: x_on_payments
    metrics: [x_rows]
    define:
      sources: { x: { path: data/payments.parquet, time: paid_at, entity: developer_id } }
      metrics: { x_rows: { description: rows, source: x, measure: count(*) } }
    from: 2026-03-02
    to: 2026-03-09
    given: { x: [ { paid_at: 2026-03-02, developer_id: a, amount: 1 } ] }
    expect: [ { x_rows: 1 } ]
  - name: x_on_events
    metrics: [x_rows]
    define:
      sources: { x: { path: data/events.parquet, time: ts, entity: developer_id } }
      metrics: { x_rows: { description: rows, source: x, measure: count(*) } }
    from: 2026-03-02
    to: 2026-03-09
    given: { x: [ { ts: 2026-03-02, developer_id: a, latency_ms: 7 } ] }
    expect: [ { x_rows: 1 } ]
  - name: csv_quoted
    metrics: [requests]
    from: 2026-03-02
    to: 2026-03-09
    given:
      events: { csv: fx/ev.csv }
    expect: [ { requests: 1 } ]
",
        ),
        (
            "tests/fx/ev.csv",
            b"ts,developer_id,event,status\n2026-03-02 10:00,\"dev \"\"one\"\"\",\"api_call\",abc\n",
        ),
        ("tests/bad.test.yaml", b"tests:\n  - name: \xff\xfe\n"),
        ("tests/empty.test.yaml", b"# nothing yet\n"),
    ]);
    let (code, out) = test_in(tmp.path(), &["--color", "never"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ok    an_unknown_key_is_rejected"), "{out}");
    assert!(out.contains("ok    x_on_payments"), "{out}");
    assert!(out.contains("ok    x_on_events"), "{out}");
    // The cell after a quoted field, at its real column.
    assert!(out.contains("tests/fx/ev.csv:2:43]"), "{out}");
    assert!(out.contains("the file is not UTF-8 text"), "{out}");
    assert!(out.contains("test file is empty"), "{out}");
    assert!(
        out.contains("3 passed, 2 failed (2 could not run)"),
        "{out}"
    );
    // A file that cannot be read fails the run whatever the filter.
    let (code, out) = test_in(tmp.path(), &["--filter", "x_on", "--color", "never"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("2 passed, 1 failed (1 could not run), 2 filtered out"),
        "{out}"
    );
    // `--output` is the JUnit report's.
    let (code, out) = test_in(tmp.path(), &["--output", "x.xml"]);
    assert_eq!(code, 2, "{out}");
    assert!(!tmp.path().join("x.xml").exists());
}
