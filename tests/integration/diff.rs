//! `metricc diff` on a git repository holding the example, in commits:
//! a real change of a window, a reformat, a rename. What the diff finds is
//! checked against the edits made, and its numbers against `metricc run` of
//! each revision.

use crate::run::metricc;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "`{from}` once in {path:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The example as a git repository, its project in `metrics/`.
struct Repo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics"),
            &root.join("metrics"),
        );
        git(&root, &["init", "-q"]);
        Repo { _tmp: tmp, root }
    }

    fn project(&self) -> PathBuf {
        self.root.join("metrics")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.project().join(name)
    }

    fn commit(&self, message: &str) {
        git(&self.root, &["add", "-A"]);
        git(&self.root, &["commit", "-q", "-m", message]);
    }

    fn diff(&self, args: &[&str]) -> Output {
        let mut all = vec!["diff"];
        all.extend(args);
        metricc(&all, &self.project())
    }

    /// `metricc run` of the working tree, as CSV rows keyed by bucket.
    fn run(&self, metrics: &[&str], by: &str) -> Vec<Vec<String>> {
        let mut all = vec!["run", "--quiet", "--format", "csv", "--by", by];
        all.extend(metrics);
        let out = metricc(&all, &self.project());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// The (name, status) of every metric entry of a JSON report.
fn statuses(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["definitions"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The metrics the real change touches: mau, and the two formulas over it
/// (engagement.yaml `stickiness: dau / mau`, business.yaml
/// `support_ticket_rate: 1000 * support_tickets / mau`).
const TOUCHED: [&str; 3] = ["mau", "support_ticket_rate", "stickiness"];

/// The repository in its four commits, with `run`'s numbers of the touched
/// metrics by month before and after the real change.
struct History {
    repo: Repo,
    base_numbers: Vec<Vec<String>>,
    head_numbers: Vec<Vec<String>>,
}

fn history() -> History {
    let repo = Repo::new();
    repo.commit("the example");
    let base_numbers = repo.run(&TOUCHED, "month");
    // 1. A real change: mau's window from 30 to 14 days.
    edit(
        &repo.file("engagement.yaml"),
        "    active: { window: 30d }",
        "    active: { window: 14d }",
    );
    let head_numbers = repo.run(&TOUCHED, "month");
    repo.commit("mau over 14 days");
    // 2. A reformat: keys reordered, a comment, an expression respaced and
    //    in upper case, a flow mapping written out, `30d` as `720h`, and a
    //    metric moved to a file of its own.
    edit(
        &repo.file("engagement.yaml"),
        "    source: events\n    filter: event = 'api_call'\n    active: { window: 1d }",
        "    # one day\n    active:\n      window: 24h\n    filter: \"event='api_call'\"\n    source: events",
    );
    edit(
        &repo.file("engagement.yaml"),
        "    cumulative: { metric: requests, window: 30d }",
        "    cumulative: { window: 720h, metric: requests }",
    );
    let acquisition = repo.file("acquisition.yaml");
    let text = std::fs::read_to_string(&acquisition).unwrap();
    let start = text.find("  visitors:\n").unwrap();
    let end = text.find("  signups:\n").unwrap();
    std::fs::write(
        repo.file("visitors.yaml"),
        format!("# moved here\nmetrics:\n{}", &text[start..end]),
    )
    .unwrap();
    std::fs::write(&acquisition, format!("{}{}", &text[..start], &text[end..])).unwrap();
    edit(
        &acquisition,
        "    measure: count_distinct(developer_id)\n\n  api_keys_created:",
        "    measure: COUNT_DISTINCT( developer_id )\n\n  api_keys_created:",
    );
    repo.commit("reformat");
    // 3. A rename: `first_calls` is now `first_call_developers`, and the
    //    two ratios over it name it so.
    let text = std::fs::read_to_string(&acquisition).unwrap();
    std::fs::write(
        &acquisition,
        text.replace("  first_calls:\n", "  first_call_developers:\n")
            .replace(
                "denominator: first_calls }",
                "denominator: first_call_developers }",
            )
            .replace(
                "numerator: first_calls,",
                "numerator: first_call_developers,",
            ),
    )
    .unwrap();
    repo.commit("rename first_calls");
    History {
        repo,
        base_numbers,
        head_numbers,
    }
}

#[test]
fn diff_finds_the_real_change_a_reformat_and_a_rename() {
    let h = history();
    let repo = &h.repo;

    // The real change: mau, and the formulas over it.
    let out = repo.diff(&["HEAD~3", "HEAD~2", "--by", "month", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc = json(&out);
    assert_eq!(
        statuses(&doc),
        [
            ("mau".to_string(), "changed".to_string()),
            ("support_ticket_rate".to_string(), "affected".to_string()),
            ("stickiness".to_string(), "affected".to_string())
        ]
    );
    let mau = &doc["definitions"]["metrics"][0];
    assert_eq!(mau["changes"][0]["path"], "active.window");
    assert_eq!(mau["changes"][0]["base"], "30d");
    assert_eq!(mau["changes"][0]["head"], "14d");
    assert_eq!(
        mau["changes"][0]["base_at"]["file"],
        "HEAD~3:engagement.yaml"
    );
    assert_eq!(mau["changes"][0]["base_at"]["line"], 25);
    assert_eq!(
        doc["definitions"]["metrics"][2]["because"],
        serde_json::json!(["mau", "stickiness"])
    );
    assert!(doc["definitions"]["sources"].as_array().unwrap().is_empty());
    assert!(doc["definitions"]["project"].as_array().unwrap().is_empty());

    // Its numbers are `run`'s of each revision, month by month.
    let values = doc["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    for (i, metric) in TOUCHED.iter().enumerate() {
        let series = values
            .iter()
            .find(|s| s["metric"] == *metric && s["column"].is_null())
            .unwrap();
        let rows = series["rows"].as_array().unwrap();
        assert_eq!(rows.len(), h.base_numbers.len());
        for ((row, base), head) in rows.iter().zip(&h.base_numbers).zip(&h.head_numbers) {
            assert_eq!(row["key"][0], base[0]);
            assert_eq!(row["base"]["text"], base[i + 1], "{metric} {}", base[0]);
            assert_eq!(row["head"]["text"], head[i + 1], "{metric} {}", head[0]);
        }
        let changed = series["summary"]["changed"].as_u64().unwrap();
        let differing = h
            .base_numbers
            .iter()
            .zip(&h.head_numbers)
            .filter(|(b, a)| b[i + 1] != a[i + 1])
            .count() as u64;
        assert_eq!(changed, differing);
        assert!(changed > 0, "a 14-day window changes {metric}");
    }

    // The reformat is no change at all.
    let out = repo.diff(&["HEAD~2", "HEAD~1", "--fail-on-change", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc = json(&out);
    assert!(statuses(&doc).is_empty(), "{:?}", statuses(&doc));
    assert!(doc["values"].as_array().unwrap().is_empty());

    // The rename is a rename, and the ratios over it did not change.
    let out = repo.diff(&["HEAD~1", "HEAD", "--fail-on-change", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc = json(&out);
    assert_eq!(
        statuses(&doc),
        [("first_call_developers".to_string(), "renamed".to_string())]
    );
    assert_eq!(doc["definitions"]["metrics"][0]["from"], "first_calls");
    assert!(doc["values"].as_array().unwrap().is_empty());

    // All three at once: the one real change, the rename.
    let out = repo.diff(&["HEAD~3", "HEAD", "--definitions-only", "--format", "json"]);
    let doc = json(&out);
    let names: Vec<String> = statuses(&doc)
        .into_iter()
        .map(|(n, s)| format!("{n} {s}"))
        .collect();
    assert_eq!(
        names,
        [
            "first_call_developers renamed",
            "mau changed",
            "support_ticket_rate affected",
            "stickiness affected",
        ]
    );
}

#[test]
fn thresholds_decide_the_exit_status() {
    let h = history();
    let repo = &h.repo;
    let range = ["HEAD~3", "HEAD~2", "--by", "month"];
    let status = |extra: &[&str]| {
        let mut args = range.to_vec();
        args.extend(extra);
        repo.diff(&args).status.code()
    };
    // The largest relative change of mau or stickiness, from the numbers.
    let largest = h
        .base_numbers
        .iter()
        .zip(&h.head_numbers)
        .flat_map(|(b, a)| (1..4).map(move |i| (b[i].parse::<f64>(), a[i].parse::<f64>())))
        .filter_map(|(b, a)| Some((b.ok()?, a.ok()?)))
        .filter(|(b, _)| *b != 0.0)
        .map(|(b, a)| ((a - b) / b).abs())
        .fold(0.0, f64::max);
    assert!(largest > 0.01);
    let above = format!("{:.4}%", largest * 100.0 * 1.01);
    let below = format!("{:.4}%", largest * 100.0 * 0.99);
    assert_eq!(status(&[]), Some(0));
    assert_eq!(status(&["--fail-on-change"]), Some(1));
    assert_eq!(status(&["--max-change", &above]), Some(0));
    assert_eq!(status(&["--max-change", &below]), Some(1));
    // The reformat passes any limit.
    let out = repo.diff(&["HEAD~2", "HEAD~1", "--max-change", "0%"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Limits in the base's project file: a metric's own wins over the
    // command line's, which wins over the project's default.
    let repo2 = Repo::new();
    edit(
        &repo2.file("metricc.yaml"),
        "files: [\"*.yaml\"]",
        &format!(
            "files: [\"*.yaml\"]\ndiff:\n  max_change: 0%\n  metrics:\n    mau: {above}\n    stickiness: {above}\n    support_ticket_rate: {above}"
        ),
    );
    repo2.commit("limits");
    edit(
        &repo2.file("engagement.yaml"),
        "    active: { window: 30d }",
        "    active: { window: 14d }",
    );
    let out = repo2.diff(&["HEAD", "--by", "month"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = repo2.diff(&["HEAD", "--by", "month", "--max-change", "0%"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    edit(
        &repo2.file("engagement.yaml"),
        "    formula: dau / mau",
        "    formula: dau / wau",
    );
    // stickiness now changes by more than its limit (a formula over wau).
    let out = repo2.diff(&["HEAD", "--by", "month"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("error: stickiness changed by"),
        "{}",
        stdout(&out)
    );
    // explain states the limit in force.
    let out = metricc(&["explain", "-p", ".", "mau", "dau"], &repo2.project());
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "  diff      `metricc diff` exits 1 when a value moves by more than {} (its own limit in `diff.metrics`)",
            above
                .trim_end_matches('%')
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
                + "%"
        )),
        "{text}"
    );
    assert!(
        text.contains("  diff      `metricc diff` exits 1 when a value moves by more than 0% (the project's `diff.max_change`)"),
        "{text}"
    );
    // A limit on a metric the project lacks is an error in check.
    edit(&repo2.file("metricc.yaml"), "    mau: ", "    maus: ");
    let out = metricc(&["check", "."], &repo2.project());
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("E0203"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("did you mean `mau`?"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn markdown_and_json_reports() {
    let h = history();
    let args = ["HEAD~3", "HEAD~2", "--by", "month"];
    let mut md = args.to_vec();
    md.extend(["--format", "markdown"]);
    let out = h.repo.diff(&md);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("diff_markdown", stdout(&out));
    let mut js = args.to_vec();
    js.extend(["--format", "json"]);
    let out = h.repo.diff(&js);
    insta::assert_snapshot!("diff_json", stdout(&out));
    let mut human = args.to_vec();
    human.extend(["--format", "human"]);
    let out = h.repo.diff(&human);
    insta::assert_snapshot!("diff_human", stdout(&out));
}

#[test]
fn the_working_tree_is_the_default_head_and_is_never_written() {
    let h = history();
    let repo = &h.repo;
    let before = std::fs::read_to_string(repo.file("engagement.yaml")).unwrap();
    edit(
        &repo.file("engagement.yaml"),
        "    active: { window: 7d }",
        "    active: { window: 8d }",
    );
    let edited = std::fs::read_to_string(repo.file("engagement.yaml")).unwrap();
    let out = repo.diff(&["HEAD", "--definitions-only", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc = json(&out);
    assert_eq!(
        statuses(&doc)[0],
        ("wau".to_string(), "changed".to_string())
    );
    assert_eq!(doc["head"], "working tree");
    // Reading HEAD~3 from git left the working tree as it was.
    let out = repo.diff(&["HEAD~3", "--definitions-only"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(repo.file("engagement.yaml")).unwrap(),
        edited
    );
    assert_ne!(before, edited);
}

#[test]
fn two_directories_compare_over_the_head_data() {
    let h = history();
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    copy_dir(&h.repo.project(), &old);
    // The base directory's data is not read: its files are moved away.
    std::fs::remove_dir_all(old.join("data")).unwrap();
    edit(
        &old.join("engagement.yaml"),
        "    active: { window: 14d }",
        "    active: { window: 30d }",
    );
    let out = metricc(
        &[
            "diff",
            old.to_str().unwrap(),
            ".",
            "--by",
            "month",
            "--format",
            "json",
        ],
        &h.repo.project(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc = json(&out);
    assert_eq!(
        statuses(&doc)[0],
        ("mau".to_string(), "changed".to_string())
    );
    let rows = doc["values"][0]["rows"].as_array().unwrap();
    for (row, base) in rows.iter().zip(&h.base_numbers) {
        assert_eq!(row["base"]["text"], base[1]);
    }
}

#[test]
fn versions_that_do_not_check_are_reported_not_crashed() {
    let h = history();
    let repo = &h.repo;
    // A head that does not check: exit 1 with its diagnostics.
    edit(
        &repo.file("engagement.yaml"),
        "    formula: dau / mau",
        "    formula: dau / nope",
    );
    let out = repo.diff(&["HEAD"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("working tree does not check"), "{text}");
    assert!(text.contains("E0203"), "{text}");
    // A base that does not check is reported; the head is fine: exit 0.
    repo.commit("broken");
    edit(
        &repo.file("engagement.yaml"),
        "    formula: dau / nope",
        "    formula: dau / mau",
    );
    let out = repo.diff(&["HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("HEAD does not check"),
        "{}",
        stdout(&out)
    );
    // A revision by its message, as git writes it.
    let out = repo.diff(&["--definitions-only", ":/mau over 14 days"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A revision that names no commit is a usage error.
    let out = repo.diff(&["no-such-branch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("names no commit"));
    let out = repo.diff(&["--", "-x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn git_links_are_not_followed() {
    let repo = Repo::new();
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(
        secret.path().join("secret.yaml"),
        "metrics:\n  leaked: { source: events, measure: count(*) }\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(secret.path().join("secret.yaml"), repo.file("linked.yaml"))
        .unwrap();
    repo.commit("a link");
    let out = repo.diff(&["HEAD", "HEAD", "--format", "json"]);
    let doc = json(&out);
    assert!(!stdout(&out).contains("leaked"));
    assert!(
        doc["notes"][0]
            .as_str()
            .unwrap()
            .contains("`linked.yaml` is a link")
    );
}

/// Leaves social signups out of `signups` in `acquisition.yaml`.
fn narrow_signups(acquisition: &Path) {
    edit(
        acquisition,
        "    filter: event = 'signup'\n    measure: count_distinct(developer_id)",
        "    filter: event = 'signup' and channel != 'social'\n    measure: count_distinct(developer_id)",
    );
}

/// Revision `base` and the working tree, checked, and their difference.
fn versions(
    repo: &Repo,
    base: &str,
) -> (
    metricc::diff::Version,
    metricc::diff::Version,
    metricc::diff::defs::DefDiff,
) {
    let versions = metricc::diff::Versions {
        base: base.to_string(),
        head: None,
        project: repo.project(),
        allowed: Vec::new(),
    };
    let (b, h) = metricc::diff::load(&versions).unwrap();
    let defs = metricc::diff::defs::compare(
        (&b.checked, b.model().unwrap()),
        (&h.checked, h.model().unwrap()),
    );
    (b, h, defs)
}

/// Runs `diff::numbers` (both versions in one query) and `diff::apart`
/// (one query each) over the repository's two versions.
fn together_and_apart(
    repo: &Repo,
    base: &str,
    request: metricc::semantic::query::Request,
) -> (serde_json::Value, serde_json::Value, usize) {
    use metricc::diff;
    let (b, h, defs) = versions(repo, base);
    let engine = metricc::engine::Engine::new(&Default::default()).unwrap();
    let one = diff::numbers(&engine, &b, &h, &defs, &request).unwrap();
    assert!(one.together, "the versions share a model");
    let two = diff::apart(&engine, &b, &h, &defs, &request).unwrap();
    assert!(!two.together);
    assert!(one.failed.is_empty() && two.failed.is_empty());
    let changed: usize = one.series.iter().map(|s| s.summary().changed).sum();
    (
        serde_json::to_value(&one.series).unwrap(),
        serde_json::to_value(&two.series).unwrap(),
        changed,
    )
}

#[test]
fn one_query_for_both_versions_gives_what_two_give() {
    let repo = Repo::new();
    repo.commit("the example");
    // A change of every kind of metric the example has a handle on: an
    // active window, a funnel window, a measure's filter (and the ratios
    // over it), a retention's periods, a cohort's periods; and a source's
    // dimensions (its metrics are affected, and the base reads it as a
    // source of its own).
    let engagement = repo.file("engagement.yaml");
    edit(
        &engagement,
        "    active: { window: 30d }",
        "    active: { window: 14d }",
    );
    edit(&engagement, "      periods: 8\n", "      periods: 5\n");
    edit(
        &repo.file("sources.yaml"),
        "    dimensions: [page, channel]",
        "    dimensions: [channel]",
    );
    let acquisition = repo.file("acquisition.yaml");
    edit(
        &acquisition,
        "status < 400\n      within: 7d\n",
        "status < 400\n      within: 2d\n",
    );
    narrow_signups(&acquisition);
    edit(
        &repo.file("business.yaml"),
        "      periods: 12\n",
        "      periods: 6\n",
    );
    use metricc::semantic::query::{Request, Word};
    let check = |repo: &Repo, grain, group_by: Vec<Word>| {
        let request = Request {
            grain,
            from: Some(Word::typed("2026-01-05")),
            to: Some(Word::typed("2026-05-05")),
            group_by,
            ..Request::default()
        };
        let (one, two, changed) = together_and_apart(repo, "HEAD", request);
        let (one, two) = (one.as_array().unwrap(), two.as_array().unwrap());
        let names = |v: &Vec<serde_json::Value>| -> Vec<String> {
            v.iter()
                .map(|s| format!("{} {}", s["metric"], s["column"]))
                .collect()
        };
        assert_eq!(names(one), names(two));
        for (x, y) in one.iter().zip(two) {
            assert_eq!(x["metric"], y["metric"]);
            assert_eq!(x["column"], y["column"], "{}", x["metric"]);
            let (rx, ry) = (x["rows"].as_array().unwrap(), y["rows"].as_array().unwrap());
            for (a, b) in rx.iter().zip(ry) {
                assert_eq!(a, b, "{} {}", x["metric"], x["column"]);
            }
            assert_eq!(rx.len(), ry.len(), "{} {}", x["metric"], x["column"]);
        }
        assert!(changed > 10, "{changed} rows changed");
    };
    check(&repo, Some(metricc::syntax::ast::Grain::Week), vec![]);
    check(&repo, None, vec![]);
    // With a breakdown, on a change whose metrics all have `channel`.
    let repo = Repo::new();
    repo.commit("the example");
    let acquisition = repo.file("acquisition.yaml");
    edit(
        &acquisition,
        "status < 400\n      within: 7d\n",
        "status < 400\n      within: 2d\n",
    );
    narrow_signups(&acquisition);
    check(
        &repo,
        Some(metricc::syntax::ast::Grain::Month),
        vec![Word::typed("channel")],
    );
}

#[test]
fn one_query_scans_a_shared_source_once_per_group() {
    use metricc::diff;
    let repo = Repo::new();
    repo.commit("the example");
    let acquisition = repo.file("acquisition.yaml");
    narrow_signups(&acquisition);
    let (b, h, defs) = versions(&repo, "HEAD");
    let pairs = defs.computed();
    let base_names: Vec<String> = pairs.iter().filter_map(|(x, _)| x.clone()).collect();
    let head_names: Vec<String> = pairs.iter().filter_map(|(_, x)| x.clone()).collect();
    // signups, the two ratios over it, its growth week over week, dac
    // (spend per signup) and the ratio over dac.
    assert_eq!(head_names.len(), 6, "{head_names:?}");
    let model = diff::together(&b, &h, &base_names).unwrap();
    let engine = metricc::engine::Engine::new(&Default::default()).unwrap();
    let groups = |model: &metricc::semantic::model::Model, names: &[String]| {
        let request = metricc::semantic::query::Request {
            metrics: names
                .iter()
                .map(metricc::semantic::query::Word::typed)
                .collect(),
            ..Default::default()
        };
        let q = metricc::semantic::query::resolve(&request, model)
            .unwrap()
            .query;
        let lowered = engine.plan(model, &q).unwrap();
        lowered
            .groups
            .iter()
            .filter(|g| g.source == "events")
            .count()
    };
    let both: Vec<String> = head_names
        .iter()
        .cloned()
        .chain(base_names.iter().map(|n| format!("__base__{n}")))
        .collect();
    let base_groups = groups(b.model().unwrap(), &base_names);
    let head_groups = groups(h.model().unwrap(), &head_names);
    let together = groups(&model, &both);
    // Two scans of the range, and one of the week before it for
    // `signups_wow`.
    assert_eq!(base_groups, 3);
    assert_eq!(head_groups, 3);
    assert_eq!(together, 3, "each scan of events serves both versions");
}

#[test]
fn the_ci_workflows_in_the_docs_run_on_a_pull_request() {
    let md =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/CI.md")).unwrap();
    let blocks = crate::docs::yaml_blocks(&md);
    let github = blocks.iter().find(|b| b.contains("jobs:")).unwrap();
    let gitlab = blocks.iter().find(|b| b.contains("script:")).unwrap();
    // The commands of each: `run:` values, `script:` items. Installing
    // metricc is left out (the test runs the binary it built).
    let github_lines: Vec<String> = github
        .lines()
        .filter_map(|l| l.trim().strip_prefix("run: "))
        .filter(|c| !c.starts_with("cargo install"))
        .map(str::to_string)
        .collect();
    let gitlab_lines: Vec<String> = gitlab
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|c| c.starts_with("metricc ") || c.starts_with("git "))
        .map(str::to_string)
        .collect();
    for lines in [&github_lines, &gitlab_lines] {
        let metricc_lines = lines.iter().filter(|l| l.starts_with("metricc ")).count();
        assert_eq!(metricc_lines, 3, "{lines:?}");
    }

    // A repository with `main` pushed to an origin, and a pull request's
    // branch that counts only 2xx calls as successful (a metric no unit
    // test pins, so check and test pass and the diff shows the change).
    let repo = Repo::new();
    repo.commit("the example");
    git(&repo.root, &["branch", "-M", "main"]);
    let origin = repo.root.join("origin.git");
    git(
        &repo.root,
        &["clone", "-q", "--bare", ".", origin.to_str().unwrap()],
    );
    git(
        &repo.root,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git(&repo.root, &["fetch", "-q", "origin"]);
    git(&repo.root, &["checkout", "-q", "-b", "pull-request"]);
    edit(
        &repo.file("engagement.yaml"),
        "    filter: event = 'api_call' and status < 400\n",
        "    filter: event = 'api_call' and status < 300\n",
    );
    repo.commit("successful means 2xx");

    let bin = Path::new(env!("CARGO_BIN_EXE_metricc")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let summary = repo.root.join("summary.md");
    for (i, lines) in [&github_lines, &gitlab_lines].into_iter().enumerate() {
        std::fs::write(&summary, "").unwrap();
        for line in lines.iter() {
            let line = line.replace("${{ github.base_ref }}", "main");
            let out = Command::new("sh")
                .args(["-c", &line])
                .current_dir(&repo.root)
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
                .env_remove("GIT_DIR")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "`{line}`: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let report = std::fs::read_to_string(repo.root.join("metricc-diff.md")).unwrap();
        assert!(
            report.starts_with("## metricc diff: `origin/main` → `working tree`"),
            "{report}"
        );
        assert!(
            report.contains("| metric | `successful_requests` | changed | `filter`: `event = 'api_call' and status < 400` → `event = 'api_call' and status < 300` |"),
            "{report}"
        );
        assert!(report.contains("- successful_requests: "), "{report}");
        assert!(repo.root.join("metricc-junit.xml").is_file());
        // GitHub's job summary holds the report.
        if i == 0 {
            assert_eq!(std::fs::read_to_string(&summary).unwrap(), report);
        }
        std::fs::remove_file(repo.root.join("metricc-diff.md")).unwrap();
    }
}

#[test]
fn a_metric_renamed_with_what_it_uses_is_two_renames() {
    let repo = Repo::new();
    repo.commit("the example");
    let acquisition = repo.file("acquisition.yaml");
    let text = std::fs::read_to_string(&acquisition).unwrap();
    // first_calls, and the ratio over it, both renamed; the ratio's
    // denominator follows.
    std::fs::write(
        &acquisition,
        text.replace("  first_calls:\n", "  first_call_developers:\n")
            .replace(
                "  key_to_first_call_rate:\n",
                "  key_to_first_call_share:\n",
            )
            .replace("first_calls", "first_call_developers"),
    )
    .unwrap();
    let out = repo.diff(&["HEAD", "--format", "json", "--fail-on-change"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc = json(&out);
    let mut got = statuses(&doc);
    got.sort();
    assert_eq!(
        got,
        [
            ("first_call_developers".to_string(), "renamed".to_string()),
            ("key_to_first_call_share".to_string(), "renamed".to_string()),
        ]
    );
    // A rename with an edit is a removal and an addition, both computed;
    // the ratio over it now names a metric the base lacks: changed.
    edit(
        &acquisition,
        "  key_to_first_call_share:\n",
        "  key_to_first_call_share:\n    label: share\n",
    );
    let text = std::fs::read_to_string(&acquisition).unwrap();
    std::fs::write(
        &acquisition,
        text.replacen(
            "    filter: event = 'api_call'\n    occurrence: first",
            "    filter: event = 'api_call' and environment = 'production'\n    occurrence: first",
            1,
        ),
    )
    .unwrap();
    let out = repo.diff(&["HEAD", "--format", "json"]);
    let doc = json(&out);
    let mut got = statuses(&doc);
    got.sort();
    assert_eq!(
        got,
        [
            ("first_call_developers".to_string(), "added".to_string()),
            ("first_call_success_rate".to_string(), "changed".to_string()),
            ("first_calls".to_string(), "removed".to_string()),
            ("key_to_first_call_rate".to_string(), "removed".to_string()),
            ("key_to_first_call_share".to_string(), "added".to_string()),
        ]
    );
}

/// Cases a review found: a metric whose table changes shape, a rename
/// whose name is also a column, numbers that cannot be computed under a
/// gate, a source written differently, a nested `data/` directory, and a
/// report aimed at a base directory's file.
#[test]
fn review_cases() {
    // The onboarding funnel becomes a time-to-convert table: a series per
    // key shape, no crash.
    let repo = Repo::new();
    repo.commit("the example");
    edit(
        &repo.file("acquisition.yaml"),
        "      attribution: first_step\n",
        "      attribution: first_step\n      value: time_to_convert\n      time_to_convert: { bins: [1h, 1d, 7d] }\n",
    );
    let out = repo.diff(&["HEAD", "--by", "month", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc = json(&out);
    let shapes: Vec<String> = doc["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["metric"] == "onboarding")
        .map(|s| s["keys"].to_string())
        .collect();
    assert!(shapes.len() >= 2, "{shapes:?}");
    for format in ["human", "markdown"] {
        let out = repo.diff(&["HEAD", "--by", "month", "--format", format]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    }

    // A metric renamed to a column's name: only metric references follow
    // the rename, so a measure over the column that changed is a change.
    let repo = Repo::new();
    let business = repo.file("business.yaml");
    std::fs::write(
        &business,
        std::fs::read_to_string(&business).unwrap()
            + "\n  amount_sum:\n    description: a\n    source: payments\n    measure: sum(amount)\n  twice:\n    description: t\n    source: payments\n    measure: sum(amount) * 2\n",
    )
    .unwrap();
    repo.commit("with amount_sum");
    let text = std::fs::read_to_string(&business).unwrap();
    std::fs::write(
        &business,
        text.replace("  amount_sum:\n", "  amount:\n")
            .replace("measure: sum(amount) * 2", "measure: sum(amount) * 3"),
    )
    .unwrap();
    let out = repo.diff(&["HEAD", "--definitions-only", "--format", "json"]);
    let mut got = statuses(&json(&out));
    got.sort();
    assert_eq!(
        got,
        [
            ("amount".to_string(), "renamed".to_string()),
            ("twice".to_string(), "changed".to_string())
        ]
    );

    // A gate with numbers that cannot be computed fails.
    let repo = Repo::new();
    repo.commit("the example");
    edit(
        &repo.file("engagement.yaml"),
        "    active: { window: 30d }",
        "    active: { window: 14d }",
    );
    let out = repo.diff(&["HEAD", "--group-by", "nope", "--fail-on-change"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("could not be computed"),
        "{}",
        stdout(&out)
    );

    // A source written differently with the same meaning is no change for
    // its metrics.
    let repo = Repo::new();
    repo.commit("the example");
    edit(
        &repo.file("sources.yaml"),
        "    path: data/support_tickets.parquet",
        "    path: ./data/support_tickets.parquet",
    );
    let out = repo.diff(&["HEAD", "--definitions-only", "--format", "json"]);
    let doc = json(&out);
    assert!(statuses(&doc).is_empty(), "{}", stdout(&out));

    // A definition file below a nested `data/` directory is not a
    // definition file, on disk or in git.
    let repo = Repo::new();
    std::fs::create_dir_all(repo.file("extra/data")).unwrap();
    std::fs::write(
        repo.file("extra/data/more.yaml"),
        "metrics:\n  more: { description: m, source: events, measure: count(*) }\n",
    )
    .unwrap();
    edit(&repo.file("metricc.yaml"), "files: [\"*.yaml\"]\n", "");
    repo.commit("no files key");
    let out = repo.diff(&["HEAD", "--definitions-only", "--format", "json"]);
    assert!(statuses(&json(&out)).is_empty(), "{}", stdout(&out));

    // The report may not replace a base directory's file.
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    copy_dir(&repo.project(), &old);
    let target = old.join("acquisition.yaml");
    let before = std::fs::read_to_string(&target).unwrap();
    let out = metricc(
        &[
            "diff",
            old.to_str().unwrap(),
            ".",
            "--definitions-only",
            "-o",
            target.to_str().unwrap(),
        ],
        &repo.project(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), before);
}

#[test]
fn a_pull_request_that_adds_the_project_adds_every_metric() {
    // The repository's first commit has no project; the working tree has
    // the example.
    let repo = Repo::new();
    let project = repo.project();
    let kept = repo.root.join("kept");
    std::fs::rename(&project, &kept).unwrap();
    std::fs::write(repo.root.join("README"), "metrics to come\n").unwrap();
    repo.commit("before the project");
    std::fs::rename(&kept, &project).unwrap();
    let out = repo.diff(&[
        "HEAD",
        "--by",
        "month",
        "--max-change",
        "1%",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc = json(&out);
    let got = statuses(&doc);
    assert_eq!(got.len(), 59);
    assert!(got.iter().all(|(_, s)| s == "added"), "{got:?}");
    assert!(doc["problems"].as_array().unwrap().is_empty());
    // The head's numbers, every row new.
    let signups = doc["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metric"] == "signups")
        .unwrap();
    assert!(
        signups["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["base"].is_null())
    );
    // New metrics' rows are changes: --fail-on-change fails.
    let out = repo.diff(&["HEAD", "--by", "month", "--fail-on-change"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[test]
fn a_changed_entity_table_affects_the_metrics_over_its_sources() {
    let repo = Repo::new();
    repo.commit("the example");
    // The head reads the plans from another table: one developer, on the
    // growth plan from before the range; every other developer has none.
    crate::fixtures::typed_csv_to_parquet(
        "developer_id,valid_from:timestamp,plan,country,company_size,signup_channel,visitor_id\n\
         dev000001,2026-01-01T00:00:00Z,growth,US,1-10,organic,v900000001\n",
        &repo.file("data/developers_v2.parquet"),
    );
    edit(
        &repo.file("sources.yaml"),
        "path: data/developers.parquet",
        "path: data/developers_v2.parquet",
    );
    let out = repo.diff(&["HEAD", "--by", "month", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc = json(&out);
    let got = statuses(&doc);
    assert!(
        got.contains(&("paid_plan_requests".to_string(), "affected".to_string())),
        "{got:?}"
    );
    let entry = doc["definitions"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "paid_plan_requests")
        .unwrap();
    assert_eq!(
        entry["because"],
        serde_json::json!(["entity developer", "paid_plan_requests"])
    );
    // Its numbers move; those of a metric without attributes do not.
    let summary = |metric: &str| {
        doc["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["metric"] == metric && s["column"].is_null())
            .map(|s| s["summary"]["changed"].as_u64().unwrap())
    };
    assert!(summary("paid_plan_requests").unwrap() > 0);
    assert_eq!(summary("requests").unwrap_or(0), 0);
}
