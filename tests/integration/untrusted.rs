//! Metric files from untrusted pull requests (issue 17, part 1): nothing
//! outside the project is read or printed, walks do not loop, snippets stay
//! short, and control characters never reach the terminal raw.

use crate::fixtures;
use crate::run::metricc;
use std::process::{Command, Output};

fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A project with the fixtures' data, `project` as its project file and
/// `defs` as `defs.yaml`.
fn project(project: &str, defs: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::write_data(tmp.path());
    std::fs::write(tmp.path().join("metricc.yaml"), project).unwrap();
    std::fs::write(tmp.path().join("defs.yaml"), defs).unwrap();
    tmp
}

const GOOD: &str = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  requests: { description: calls, source: events, measure: count(*) }\n";

/// A file outside every project, with a line that must never be printed.
fn secret_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.yaml");
    std::fs::write(&path, "TOP-SECRET-LINE one\nTOP-SECRET-LINE two\n").unwrap();
    (dir, path)
}

#[test]
fn project_files_outside_the_project_are_refused_unread() {
    let (_keep, secret) = secret_file();
    for pattern in [
        secret.display().to_string(),
        "/etc/passwd".to_string(),
        "/proc/self/environ".to_string(),
        "../*.yaml".to_string(),
        ".git/config".to_string(),
    ] {
        let tmp = project(&format!("name: t\nfiles: [defs.yaml, '{pattern}']\n"), GOOD);
        std::fs::create_dir_all(tmp.path().join(".git")).unwrap();
        std::fs::write(tmp.path().join(".git/config"), "TOP-SECRET-LINE git\n").unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_metricc"))
            .args(["check"])
            .current_dir(tmp.path())
            .env("NO_COLOR", "1")
            .env("METRICC_TEST_SECRET", "TOP-SECRET-LINE env")
            .output()
            .unwrap();
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(1), "{pattern}: {out}");
        assert!(
            out.contains("E0005[path-outside-project]"),
            "{pattern}: {out}"
        );
        assert!(!out.contains("TOP-SECRET-LINE"), "{pattern}: {out}");
        assert!(!out.contains("root:"), "{pattern}: {out}");
    }
}

#[test]
fn a_link_out_of_the_project_is_refused_for_definitions_data_and_fixtures() {
    let (_keep, secret) = secret_file();
    // A definition file linked to a file outside, found by the default walk.
    let tmp = project("name: t\n", GOOD);
    std::os::unix::fs::symlink(&secret, tmp.path().join("linked.yaml")).unwrap();
    let o = metricc(&["check"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("E0005")
            && out.contains("`linked.yaml` is a link to a file outside the project"),
        "{out}"
    );
    assert!(!out.contains("TOP-SECRET-LINE"), "{out}");

    // A Parquet file linked from data/ to a file outside: `check` refuses it
    // and `run` prints nothing of it.
    let outside = tempfile::tempdir().unwrap();
    fixtures::write_data(outside.path());
    let tmp = project(
        "name: t\nfiles: [defs.yaml]\n",
        "sources:\n  events: { path: data/linked, time: ts, entity: developer_id }\nmetrics:\n  requests: { description: calls, source: events, measure: count(*) }\n",
    );
    std::fs::create_dir_all(tmp.path().join("data/linked")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("data/events.parquet"),
        tmp.path().join("data/linked/events.parquet"),
    )
    .unwrap();
    for cmd in [&["check"][..], &["run", "--quiet", "--format", "csv"]] {
        let o = metricc(cmd, tmp.path());
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}: {out}");
        assert!(out.contains("E0005"), "{cmd:?}: {out}");
        assert!(!out.contains("requests\n"), "{cmd:?}: {out}");
    }
    // The user may open that directory on the command line.
    let allowed = outside.path().display().to_string();
    let o = metricc(&["check", "--allow-read", &allowed], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    let o = metricc(
        &[
            "run",
            "--quiet",
            "--format",
            "csv",
            "--from",
            "2026-03-01",
            "--to",
            "2026-04-01",
            "--allow-read",
            &allowed,
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));

    // A linked directory inside data/ is not entered.
    let tmp = project(
        "name: t\nfiles: [defs.yaml]\n",
        "sources:\n  events: { path: 'data/**/*.parquet', time: ts, entity: developer_id }\nmetrics:\n  requests: { description: calls, source: events, measure: count(*) }\n",
    );
    std::fs::remove_dir_all(tmp.path().join("data")).unwrap();
    std::fs::create_dir(tmp.path().join("data")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("data"),
        tmp.path().join("data/elsewhere"),
    )
    .unwrap();
    let o = metricc(&["check"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("E0212") && out.contains("matches no `.parquet` file"),
        "{out}"
    );
}

#[test]
fn an_absolute_source_path_is_refused_without_telling_whether_it_exists() {
    let outside = tempfile::tempdir().unwrap();
    fixtures::write_data(outside.path());
    let there = outside.path().join("data/events.parquet");
    let missing = outside.path().join("data/nothin.parquet");
    let mut outputs = Vec::new();
    for path in [&there, &missing] {
        let tmp = project(
            "name: t\nfiles: [defs.yaml]\n",
            &format!(
                "sources:\n  events: {{ path: '{}', time: ts, entity: developer_id }}\nmetrics:\n  requests: {{ description: calls, source: events, measure: count(*) }}\n",
                path.display()
            ),
        );
        let o = metricc(&["check"], tmp.path());
        let out = all_output(&o).replace(&path.display().to_string(), "PATH");
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains("E0005"), "{out}");
        assert!(
            !out.contains("developer_id` as") && !out.contains("columns"),
            "{out}"
        );
        outputs.push(out.replace(&tmp.path().display().to_string(), "DIR"));
    }
    assert_eq!(
        outputs[0], outputs[1],
        "the answer tells whether a file exists"
    );
}

#[test]
fn a_csv_fixture_outside_the_project_is_refused() {
    let (_keep, secret) = secret_file();
    let tmp = project("name: t\nfiles: [defs.yaml]\n", GOOD);
    for csv in [
        secret.display().to_string(),
        "../../etc/passwd".into(),
        "/etc/passwd".into(),
    ] {
        std::fs::write(
            tmp.path().join("t.test.yaml"),
            format!(
                "tests:\n  - name: leak\n    given:\n      events: {{ csv: '{csv}' }}\n    when: {{ metrics: [requests] }}\n    then:\n      - {{ requests: 1 }}\n"
            ),
        )
        .unwrap();
        let o = metricc(&["test"], tmp.path());
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(1), "{csv}: {out}");
        assert!(out.contains("E0005"), "{csv}: {out}");
        assert!(
            !out.contains("TOP-SECRET-LINE") && !out.contains("root:"),
            "{csv}: {out}"
        );
    }
}

#[test]
fn a_source_a_test_defines_is_held_to_the_fence() {
    let outside = tempfile::tempdir().unwrap();
    fixtures::write_data(outside.path());
    let there = outside.path().join("data/events.parquet");
    let tmp = project("name: t\nfiles: [defs.yaml]\n", GOOD);
    std::fs::write(
        tmp.path().join("t.test.yaml"),
        format!(
            "tests:\n  - name: outside\n    define:\n      sources:\n        leak: {{ path: '{}', time: ts }}\n      metrics:\n        leaked: {{ description: x, source: leak, measure: count(*) }}\n    expect_error: E0005\n",
            there.display()
        ),
    )
    .unwrap();
    let o = metricc(&["test"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
}

#[test]
fn links_back_up_the_tree_do_not_make_walks_loop() {
    let tmp = project("name: t\n", GOOD);
    for name in ["a", "b", "c"] {
        std::os::unix::fs::symlink(".", tmp.path().join(name)).unwrap();
    }
    std::os::unix::fs::symlink(".", tmp.path().join("data/again")).unwrap();
    let tmp_path = tmp.path().to_path_buf();
    // A hang would stop this thread, not the test: wait at most two minutes
    // (the walk takes milliseconds; this guards against a hang only).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let check = metricc(&["check"], &tmp_path);
        let test = metricc(&["test"], &tmp_path);
        tx.send((check, test)).unwrap();
    });
    let (check, _test) = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("check and test over linked directories ended");
    let out = all_output(&check);
    assert_eq!(check.status.code(), Some(0), "{out}");
    assert!(out.contains("ok: 1 metrics, 1 sources"), "{out}");
}

#[test]
fn snippets_show_a_few_lines_and_escape_control_characters() {
    // A definition file that is not a mapping: only its first lines show.
    let body: String = (1..=40).map(|i| format!("line number {i}\n")).collect();
    let tmp = project("name: t\n", GOOD);
    std::fs::write(tmp.path().join("notes.yaml"), &body).unwrap();
    let o = metricc(&["check"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("E0102") && out.contains("line number 3"),
        "{out}"
    );
    assert!(!out.contains("line number 6"), "{out}");

    // A line longer than miette can draw, with the label far along it.
    let long = format!(
        "sources:\n  events: {{ path: data/events.parquet, time: ts, entity: developer_id }}\nmetrics:\n  requests: {{ description: calls, source: events, measure: count(*), filter: \"endpoint != '{}' and stauts > 1\" }}\n",
        "x".repeat(80_000)
    );
    let tmp = project("name: t\nfiles: [defs.yaml]\n", &long);
    let o = metricc(&["check"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("E0202") && out.contains("stauts"), "{out}");
    assert!(out.len() < 5_000, "{} bytes of output", out.len());
    let line4 = long.lines().nth(3).unwrap();
    let column = line4.find("stauts").unwrap() + 1;
    assert!(
        out.contains(&format!("defs.yaml:4:{column}]")),
        "the header gives the real column {column}: {out}"
    );

    // Control characters in names and snippets are shown escaped.
    let tmp = project(
        "name: t\nfiles: [defs.yaml]\n",
        "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  requests: { description: calls, source: \"ev\\e[2J\\rents\", measure: count(*) }\n",
    );
    for format in ["human", "github"] {
        let o = metricc(&["check", "--format", format], tmp.path());
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains("E0111"), "{out}");
        assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
        assert!(out.contains("\\u{1b}[2J"), "{out}");
    }
}

#[test]
fn check_takes_the_project_as_a_flag_as_run_does() {
    let tmp = project("name: t\nfiles: [defs.yaml]\n", GOOD);
    let parent = tmp.path().parent().unwrap();
    let name = tmp
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for args in [
        vec!["check", "-p", &name],
        vec!["check", "--project", &name],
    ] {
        let o = metricc(&args, parent);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", all_output(&o));
    }
}

/// A source on object storage is refused unless the command line allows its
/// bucket (or a prefix of it, at a `/`), before anything is asked of the
/// network; a build without object storage says so once it is allowed.
#[test]
fn object_storage_is_read_only_where_the_command_line_allows_it() {
    let tmp = project(
        "name: t\nfiles: [defs.yaml]\n",
        "sources:\n  events: { path: 's3://some-bucket/events/', time: ts, entity: developer_id }\nmetrics:\n  requests: { description: calls, source: events, measure: count(*) }\n",
    );
    for allowed in [
        vec![],
        vec!["--allow-read", "s3://some-bucket/event"],
        vec!["--allow-read", "s3://other-bucket"],
        vec!["--allow-read", "gs://some-bucket"],
    ] {
        let mut args = vec!["check", "--format", "json"];
        args.extend(&allowed);
        let o = metricc(&args, tmp.path());
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains("\"E0005\""), "{allowed:?}: {out}");
        assert!(
            out.contains("`s3://some-bucket/events/` is on object storage, which the command line has not allowed"),
            "{out}"
        );
        assert!(out.contains("`--allow-read s3://some-bucket`"), "{out}");
    }
    // Dot segments would lead out of the allowed prefix once the URL is
    // parsed (`events/../secret` is `secret`).
    for sneaky in [
        "s3://some-bucket/events/../secret/",
        "s3://some-bucket/events/%2E%2e/secret/",
        "s3://some-bucket/events/./x/",
    ] {
        let tmp = project(
            "name: t\nfiles: [defs.yaml]\n",
            &format!(
                "sources:\n  events: {{ path: '{sneaky}', time: ts, entity: developer_id }}\nmetrics:\n  requests: {{ description: calls, source: events, measure: count(*) }}\n"
            ),
        );
        let o = metricc(
            &[
                "check",
                "--format",
                "json",
                "--allow-read",
                "s3://some-bucket/events",
            ],
            tmp.path(),
        );
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(
            out.contains("\"E0005\"") && out.contains("has a `.` or `..` segment"),
            "{sneaky}: {out}"
        );
    }
    if metricc::storage::AVAILABLE {
        return;
    }
    for allowed in [
        "s3://some-bucket",
        "s3://some-bucket/events",
        "s3://some-bucket/events/",
    ] {
        let o = metricc(
            &["check", "--format", "json", "--allow-read", allowed],
            tmp.path(),
        );
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(
            out.contains("\"E0212\"") && out.contains("no Parquet files for source `events`"),
            "{out}"
        );
        assert!(
            out.contains("which this build of metricc does not read")
                && out.contains("--features object-storage"),
            "{out}"
        );
    }
}
