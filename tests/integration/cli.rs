//! The `metricc` binary: exit codes, output formats, and the read-stage errors
//! (E0001-E0004) that need files no YAML case can make.

use crate::fixtures;
use crate::run::metricc;
use std::path::Path;
use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A project with the fixtures and `defs` as its one definition file.
fn project(defs: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::write_data(tmp.path());
    std::fs::write(
        tmp.path().join("metricc.yaml"),
        "name: t\nfiles: [defs.yaml]\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("defs.yaml"), defs).unwrap();
    tmp
}

const GOOD: &str = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  requests: { description: calls, source: events, measure: count(*) }\n";
const BAD: &str = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  requests:\n    description: calls\n    source: events\n    filter: stauts >= 400\n    measure: count(*)\n";
const WARN: &str = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  requests: { source: events, measure: count(*) }\n";

#[test]
fn exit_codes() {
    let good = project(GOOD);
    let o = metricc(&["check"], good.path());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("ok: 1 metrics, 1 sources"),
        "{}",
        stdout(&o)
    );

    let bad = project(BAD);
    let o = metricc(&["check", "."], bad.path());
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("E0202")
            && out.contains("defs.yaml:7:13")
            && out.contains("did you mean `status`?"),
        "{out}"
    );

    let warn = project(WARN);
    assert_eq!(metricc(&["check"], warn.path()).status.code(), Some(0));
    assert_eq!(
        metricc(&["check", "--deny-warnings"], warn.path())
            .status
            .code(),
        Some(1)
    );

    assert_eq!(
        metricc(&["check", "--format", "yaml"], good.path())
            .status
            .code(),
        Some(2)
    );
    assert_eq!(metricc(&["frobnicate"], good.path()).status.code(), Some(2));
    assert_eq!(metricc(&["--help"], good.path()).status.code(), Some(0));
}

#[test]
fn project_path_may_be_the_project_file() {
    let good = project(GOOD);
    let file = good.path().join("metricc.yaml");
    let o = metricc(&["check", file.to_str().unwrap()], Path::new("/"));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn json_format() {
    let bad = project(BAD);
    let o = metricc(&["check", "--format", "json"], bad.path());
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E0202");
    assert_eq!(d["name"], "unknown-column");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["location"]["file"], "defs.yaml");
    assert_eq!(d["location"]["line"], 7);
    assert_eq!(d["location"]["column"], 13);
    assert_eq!(d["location"]["end_column"], 19);
    assert_eq!(d["help"], "did you mean `status`?");
}

#[test]
fn github_format() {
    let bad = project(BAD);
    let o = metricc(&["check", "--format", "github"], bad.path());
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.starts_with("::error file=defs.yaml,line=7,col=13,endLine=7,endColumn=19,title=E0202 unknown-column::unknown column `stauts`"),
        "{out}"
    );
    assert!(out.contains("%0Ahelp: did you mean `status`?"), "{out}");
    let warn = project(WARN);
    let out = stdout(&metricc(&["check", "--format", "github"], warn.path()));
    assert!(
        out.starts_with("::warning file=defs.yaml,line=4,col=3"),
        "{out}"
    );
}

#[test]
fn e0004_project_file_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let o = metricc(&["check"], tmp.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("E0004[project-file-missing]"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn e0001_file_unreadable() {
    let tmp = project(GOOD);
    std::fs::write(
        tmp.path().join("metricc.yaml"),
        "name: t\nfiles: [defs.yaml, missing/*.yaml]\n",
    )
    .unwrap();
    let o = metricc(&["check", "--format", "json"], tmp.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["diagnostics"][0]["code"], "E0001");
    assert_eq!(v["diagnostics"][0]["location"]["line"], 2);
    // A definition file that is a directory cannot be read.
    std::fs::create_dir(tmp.path().join("dir.yaml")).unwrap();
    std::fs::write(
        tmp.path().join("metricc.yaml"),
        "name: t\nfiles: [defs.yaml, dir.yaml]\n",
    )
    .unwrap();
    let o = metricc(&["check"], tmp.path());
    // A glob that matches only a directory matches no file.
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("E0001"), "{}", stdout(&o));
}

#[test]
fn e0002_not_utf8() {
    let tmp = project(GOOD);
    std::fs::write(tmp.path().join("defs.yaml"), b"metrics:\n  x: \xff\xfe\n").unwrap();
    let o = metricc(&["check"], tmp.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("E0002[file-not-utf8]") && stdout(&o).contains("offset 14"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn e0003_too_large() {
    let tmp = project(GOOD);
    let big = format!("# {}\n", "x".repeat(9 * 1024 * 1024));
    std::fs::write(tmp.path().join("defs.yaml"), big).unwrap();
    let o = metricc(&["check"], tmp.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("E0003[file-too-large]"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn duplicate_metric_across_files() {
    let tmp = project(GOOD);
    std::fs::write(
        tmp.path().join("metricc.yaml"),
        "name: t\nfiles: [\"*.yaml\"]\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("more.yaml"),
        "metrics:\n  requests: { description: again, source: events, measure: count(*) }\n",
    )
    .unwrap();
    let o = metricc(&["check", "--format", "json"], tmp.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E0204");
    assert_eq!(d["location"]["file"], "more.yaml");
    assert_eq!(d["related"][0]["location"]["file"], "defs.yaml");
}

/// `metricc completions SHELL` prints a script that names every
/// subcommand and its options, from the parser's own definitions.
#[test]
fn completions_name_the_subcommands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "_metricc()"),
        ("zsh", "#compdef metricc"),
        ("fish", "complete -c metricc"),
    ] {
        let o = metricc(&["completions", shell], dir.path());
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        for word in [
            "check",
            "run",
            "explain",
            "diff",
            "sample-data",
            "memory-limit",
            "deny-warnings",
        ] {
            assert!(script.contains(word), "{shell}: `{word}` missing");
        }
    }
    let o = metricc(&["completions", "tcsh"], dir.path());
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}
