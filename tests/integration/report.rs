//! `metricc report`: the page for a tiny project holds the numbers worked
//! out by hand, its charts have the structure each kind calls for
//! (snapshot), and, in headless Chromium, every chart renders with no
//! console error and no request.

use crate::fixtures::typed_csv_to_parquet;
use crate::run::{metricc, skipped};
use std::path::{Path, PathBuf};

const PROJECT: &str = "name: tiny
time_zone: UTC
default_range: { from: 2026-03-02, to: 2026-03-16 }
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [sdk] }
metrics:
  signups:
    description: Developers who signed up
    source: events
    filter: event = 'signup'
    measure: count(*)
  activation:
    description: Signups with a successful call within 7 days
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - success: event = 'api_call' and status < 400
      within: 7d
      value: conversion_rate
  onboarding:
    description: Signup to a first call within 7 days
    source: events
    funnel:
      steps:
        - signup: event = 'signup'
        - call: event = 'api_call'
      within: 7d
  returning:
    description: Signup cohorts calling in later weeks
    source: events
    retention: { cohort: event = 'signup', return: event = 'api_call', period: week, periods: 1 }
";

/// d1 signs up and calls at once; d2 calls 7 days 3 hours after signing
/// up (outside 7 days); d3 signs up the next week and calls the day after.
const EVENTS: &str = "ts:timestamp,developer_id,event,sdk,status:int
2026-03-02T09:00:00Z,d1,signup,python,
2026-03-02T10:00:00Z,d1,api_call,python,200
2026-03-03T09:00:00Z,d2,signup,node,
2026-03-10T09:00:00Z,d1,api_call,python,500
2026-03-10T12:00:00Z,d2,api_call,node,200
2026-03-11T09:00:00Z,d3,signup,python,
2026-03-12T09:00:00Z,d3,api_call,python,200
";

fn tiny() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metricc.yaml"), PROJECT).unwrap();
    typed_csv_to_parquet(EVENTS, &dir.path().join("data/events.parquet"));
    dir
}

fn report(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["report", "-o", "report.html", "-q"];
    args.extend(extra);
    let o = metricc(&args, dir);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(dir.join("report.html")).unwrap()
}

/// The `<figure>`s of a page: the metric of each and its text.
fn figures(page: &str) -> Vec<(String, String)> {
    page.split("<figure class=\"chart\" data-metric=\"")
        .skip(1)
        .map(|f| {
            let (name, rest) = f.split_once('"').unwrap();
            (
                name.to_string(),
                rest[..rest.find("</figure>").unwrap()].to_string(),
            )
        })
        .collect()
}

/// The body rows of a figure's table, cells joined by `|`.
fn rows(figure: &str) -> Vec<String> {
    let body = &figure[figure.find("<tbody>").unwrap()..];
    body.split("<tr>")
        .skip(1)
        .map(|r| {
            r.split("<td")
                .skip(1)
                .map(|c| {
                    let c = &c[c.find('>').unwrap() + 1..];
                    c[..c.find("</td>").unwrap()].to_string()
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// The texts of a chart's SVG: labels, ticks, values.
fn texts(figure: &str) -> Vec<String> {
    figure
        .split("<text")
        .skip(1)
        .map(|t| {
            t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()]
                .trim()
                .to_string()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// What a chart's SVG is made of: each element kind and how many, and the
/// texts written in it.
fn structure(figure: &str) -> String {
    let Some(start) = figure.find("<svg") else {
        return "no svg\n".into();
    };
    let svg = &figure[start..figure.find("</svg>").unwrap()];
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for tag in svg.split('<').skip(1).filter(|t| !t.starts_with('/')) {
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        match kinds.iter_mut().find(|(k, _)| *k == name) {
            Some((_, n)) => *n += 1,
            None => kinds.push((name, 1)),
        }
    }
    kinds.sort();
    let mut out = String::new();
    for (k, n) in kinds {
        out.push_str(&format!("{k}: {n}\n"));
    }
    out.push_str(&format!("texts: {}\n", texts(svg).join(" | ")));
    out
}

#[test]
fn a_tiny_project_draws_the_numbers_worked_by_hand() {
    let dir = tiny();
    let page = report(dir.path(), &[]);
    assert!(page.starts_with("<!doctype html>"));
    // Self-contained: no script, nothing fetched.
    for never in ["<script", "src=", "href=\"http", "@import", "url("] {
        assert!(!page.contains(never), "the page contains `{never}`");
    }
    let figs = figures(&page);
    let names: Vec<&str> = figs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["signups", "activation", "onboarding", "returning"]);
    let of = |name: &str| &figs.iter().find(|(n, _)| n == name).unwrap().1;

    // Signups by week: d1, d2 in the week of 2026-03-02; d3 the next.
    assert_eq!(rows(of("signups")), ["2026-03-02|2", "2026-03-09|1"]);
    // Activation by signup week: d1 yes, d2 no (7 days 3 hours); d3 yes.
    assert_eq!(
        rows(of("activation")),
        ["2026-03-02|50.0%", "2026-03-09|100.0%"]
    );
    // Over the range: 3 signups, 2 calls within 7 days (d1, d3).
    let steps = rows(of("onboarding"));
    assert!(steps[0].starts_with("1|signup|3|"), "{steps:?}");
    assert!(steps[1].starts_with("2|call|2|66.7%|66.7%|"), "{steps:?}");
    assert!(
        texts(of("onboarding")).contains(&"66.7%".to_string()),
        "the bar's label"
    );
    // Retention: the cohort of 2026-03-02 (d1, d2) calls in its own week
    // (d1) and the next (d1, d2); that of 2026-03-09 (d3) in its own, and
    // its next week is past the range.
    let matrix = rows(of("returning"));
    assert_eq!(
        matrix,
        [
            "2026-03-02|0|2|1|50.0%",
            "2026-03-02|1|2|2|100.0%",
            "2026-03-09|0|1|1|100.0%",
            "2026-03-09|1|1|–|–"
        ]
    );
    // A cell per value of the triangle, written in it.
    let cells: Vec<String> = texts(of("returning"))
        .into_iter()
        .filter(|t| t.ends_with('%'))
        .collect();
    assert_eq!(cells, ["50.0%", "100.0%", "100.0%"]);
    let shapes: String = figs
        .iter()
        .map(|(n, f)| format!("== {n}\n{}", structure(f)))
        .collect();
    insta::assert_snapshot!("report_structure", shapes);
}

#[test]
fn a_breakdown_draws_a_line_per_value_and_a_chart_of_nothing_says_so() {
    let dir = tiny();
    let page = report(
        dir.path(),
        &[
            "signups",
            "--group-by",
            "sdk",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-23",
        ],
    );
    let figs = figures(&page);
    let signups = &figs[0].1;
    // A legend entry per sdk, and the table by week and sdk: d2 (node)
    // and d1 (python) in the first week, d3 (python) in the second.
    assert!(signups.contains("</i>node</li><li>"));
    assert!(signups.contains("</i>python</li></ul>"));
    assert!(signups.contains("<th class=\"t\">week</th><th>node</th><th>python</th>"));
    assert_eq!(
        rows(signups),
        ["2026-03-02|1|1", "2026-03-09|0|1", "2026-03-16|0|0"]
    );
    // Never over a file of the project.
    let before = std::fs::read(dir.path().join("metricc.yaml")).unwrap();
    let o = metricc(&["report", "-o", "metricc.yaml"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("E0306"));
    assert_eq!(
        std::fs::read(dir.path().join("metricc.yaml")).unwrap(),
        before
    );
    // A week with no signup at all: the activation rate is null (not 0),
    // so there is nothing to draw, and the page says so.
    let page = report(
        dir.path(),
        &["activation", "--from", "2026-03-16", "--to", "2026-03-23"],
    );
    let figs = figures(&page);
    assert_eq!(figs.len(), 1);
    assert!(
        figs[0].1.starts_with(" data-empty=\"true\">"),
        "{}",
        figs[0].1
    );
    assert!(figs[0].1.contains("No value in this range") && !figs[0].1.contains("<svg"));
    assert_eq!(rows(&figs[0].1), ["2026-03-16|–"]);
}

/// The page in headless Chromium: no console error, no request, every
/// chart with a size, marks and labels; a screenshot is kept beside the
/// build (`target/metricc-report.png`).
#[test]
fn the_example_report_renders_in_chromium() {
    let Some(python) = std::env::var_os("METRICC_BROWSER_PYTHON")
        .or_else(|| std::env::var_os("METRICC_DUCKDB_PYTHON"))
    else {
        return skipped(
            "report in Chromium",
            "METRICC_BROWSER_PYTHON (a Python with playwright) is not set",
        );
    };
    let chromium = std::env::var("METRICC_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return skipped("report in Chromium", &format!("no Chromium at {chromium}"));
    }
    let target = PathBuf::from(env!("CARGO_BIN_EXE_metricc"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let html = target.join("metricc-report.html");
    let png = target.join("metricc-report.png");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = metricc(
        &[
            "report",
            "-p",
            "metrics",
            "-o",
            html.to_str().unwrap(),
            "-q",
        ],
        root,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    let drawn = figures(&page).iter().filter(|(_, f)| !f.is_empty()).count();
    let check = |file: &Path, shot: &Path| {
        std::process::Command::new(&python)
            .arg(root.join("tests/browser/check_report.py"))
            .arg(file)
            .arg(shot)
            .env("METRICC_CHROMIUM", &chromium)
            .output()
            .unwrap()
    };
    let out = check(&html, &png);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success()
        && String::from_utf8_lossy(&out.stderr).contains("No module named 'playwright'")
    {
        return skipped("report in Chromium", "the Python has no playwright");
    }
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let empty = page.matches("data-empty=\"true\"").count();
    assert!(
        stdout.starts_with(&format!(
            "{{\"charts\": {}, \"problems\": []",
            drawn - empty
        )),
        "{stdout}"
    );
    assert!(
        std::fs::metadata(&png).unwrap().len() > 10_000,
        "a screenshot"
    );

    // The checker fails a page with a console error or a request.
    let bad = target.join("metricc-report-bad.html");
    let doctored = page.replacen(
        "</body>",
        "<script>console.error('broken')</script><img src=\"http://127.0.0.1:9/x.png\"></body>",
        1,
    );
    std::fs::write(&bad, doctored).unwrap();
    let out = check(&bad, &target.join("metricc-report-bad.png"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("console error: broken") && err.contains("requested http://127.0.0.1:9/x.png"),
        "{err}"
    );
}
