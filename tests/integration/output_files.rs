//! `-o` (issue 17, part 5): devices and FIFOs are written, not replaced;
//! links are written through; a file keeps its mode and its hard links;
//! the project's own files are refused; an interrupted spilling run leaves
//! no spill files behind.

use crate::run::{EVENTS, metricc, project};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

const DEFS: &str = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  requests: { description: calls, source: events, filter: event = 'api_call', measure: count(*) }\n";
const RANGE: &str = "default_range: { from: 2026-03-01, to: 2026-03-10 }\n";
/// `run --format csv` of `requests` over the range: six calls.
const WANT: &str = "requests\n6\n";

fn out(dir: &Path, to: &Path) -> std::process::Output {
    metricc(
        &[
            "run",
            "--quiet",
            "--format",
            "csv",
            "-o",
            to.to_str().unwrap(),
        ],
        dir,
    )
}

#[test]
fn devices_and_fifos_are_written_not_replaced() {
    let tmp = project(RANGE, DEFS, &[("data/events.parquet", EVENTS)]);
    let o = out(tmp.path(), Path::new("/dev/null"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );

    let fifo = tmp.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let o = out(tmp.path(), &fifo);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(reader.join().unwrap(), WANT);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    // `/dev/stdout` is the run's standard output.
    let o = out(tmp.path(), Path::new("/dev/stdout"));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout), WANT);
}

#[test]
fn links_are_written_through_and_files_keep_their_mode() {
    let tmp = project(RANGE, DEFS, &[("data/events.parquet", EVENTS)]);
    let dir = tmp.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let real = dir.join("real.csv");
    std::fs::write(&real, "old\n").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("real.csv", dir.join("link.csv")).unwrap();
    let o = out(tmp.path(), &dir.join("link.csv"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::symlink_metadata(dir.join("link.csv"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), WANT);
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A hard link keeps seeing the file.
    std::fs::write(&real, "old\n").unwrap();
    std::fs::hard_link(&real, dir.join("hard.csv")).unwrap();
    let o = out(tmp.path(), &real);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(dir.join("hard.csv")).unwrap(), WANT);
    assert_eq!(std::fs::metadata(&real).unwrap().nlink(), 2);

    // A dangling link creates its target.
    std::os::unix::fs::symlink("new.csv", dir.join("dangling.csv")).unwrap();
    let o = out(tmp.path(), &dir.join("dangling.csv"));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(dir.join("new.csv")).unwrap(), WANT);
    // No temporary file is left beside any of them.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_projects_own_files_are_refused() {
    let tmp = project(RANGE, DEFS, &[("data/events.parquet", EVENTS)]);
    for victim in ["defs.yaml", "metricc.yaml", "data/events.parquet"] {
        let path = tmp.path().join(victim);
        let before = std::fs::read(&path).unwrap();
        let o = out(tmp.path(), &path);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{victim}: {err}");
        assert!(
            err.contains("E0306") && err.contains("is a file of the project"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "{victim} changed");
    }
    std::fs::write(
        tmp.path().join("t.test.yaml"),
        "tests:\n  - name: t\n    metrics: [requests]\n    given:\n      events:\n        - { ts: 2026-03-02 09:00, developer_id: d1, event: api_call }\n    expect:\n      - { requests: 1 }\n",
    )
    .unwrap();
    let before = std::fs::read(tmp.path().join("t.test.yaml")).unwrap();
    let o = out(tmp.path(), &tmp.path().join("t.test.yaml"));
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(tmp.path().join("t.test.yaml")).unwrap(),
        before
    );
    let o = metricc(
        &["test", "--format", "junit", "-o", "t.test.yaml"],
        tmp.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(tmp.path().join("t.test.yaml")).unwrap(),
        before
    );
}

#[test]
fn an_interrupted_spilling_run_leaves_no_spill_files() {
    // The example's data under a memory limit spills; the run's temporary
    // directory is one of this test's own, so what is left can be counted.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let temp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_metricc"))
        .args(["run", "--quiet", "--memory-limit", "64M", "-p"])
        .arg(&example)
        .env("TMPDIR", temp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once the run has made its spill directory.
    let started = std::time::Instant::now();
    while std::fs::read_dir(temp.path()).unwrap().next().is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no spill directory appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    // The directory appears as the run starts, seconds before it ends.
    assert_eq!(status.code(), Some(130), "{status:?}");
    let left: Vec<_> = std::fs::read_dir(temp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
