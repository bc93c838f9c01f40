//! Errors that help (issue 17, part 4): E0305 names the damaged file and
//! tells an overflow from damage, a comma in a flow mapping gets a "quote
//! this value" hint, a bad CSV header is one error.

use crate::run::{EVENTS, metricc, project};

const RANGE: &str = "default_range: { from: 2026-03-01, to: 2026-03-10 }\n";

fn all_output(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_data_error_names_the_damaged_file() {
    let defs = "sources:\n  events: { path: data/events, time: ts, entity: developer_id }\nmetrics:\n  n: { description: x, source: events, measure: count(*) }\n";
    let tmp = project(
        RANGE,
        defs,
        &[
            ("data/events/a.parquet", EVENTS),
            ("data/events/b.parquet", EVENTS),
        ],
    );
    // Damage b's first data page (its footer stays whole, so `check` passes):
    // overwrite the bytes after the leading magic.
    let b = tmp.path().join("data/events/b.parquet");
    let mut bytes = std::fs::read(&b).unwrap();
    for byte in &mut bytes[4..40] {
        *byte = 0xFF;
    }
    std::fs::write(&b, &bytes).unwrap();
    assert_eq!(metricc(&["check"], tmp.path()).status.code(), Some(0));
    let o = metricc(&["run", "--quiet"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("E0305") && out.contains("cannot read `data/events/b.parquet`"),
        "{out}"
    );
    assert!(!out.contains("a.parquet"), "{out}");
}

#[test]
fn a_comma_in_a_flow_mapping_gets_a_quote_hint() {
    let tmp = project(
        RANGE,
        "sources:\n  events: { path: data/events.parquet, time: ts }\nmetrics:\n  p50: { description: x, source: events, measure: percentile(latency_ms, 0.5) }\n",
        &[("data/events.parquet", EVENTS)],
    );
    let o = metricc(&["check"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("E0106") && out.contains("E0103"), "{out}");
    assert_eq!(out.matches("quote the").count(), 1, "{out}");
    assert_eq!(out.matches("quote that value").count(), 1, "{out}");
}

#[test]
fn a_bad_csv_header_is_one_error() {
    let tmp = project(
        RANGE,
        "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  n: { description: x, source: events, measure: count(*) }\n",
        &[("data/events.parquet", EVENTS)],
    );
    let mut csv = String::from("ts,developer_id,evnt\n");
    for i in 0..22 {
        csv.push_str(&format!("2026-03-02 {:02}:00,d{i},signup\n", i % 24));
    }
    std::fs::write(tmp.path().join("rows.csv"), csv).unwrap();
    std::fs::write(
        tmp.path().join("t.test.yaml"),
        "tests:\n  - name: t\n    metrics: [n]\n    given:\n      events: { csv: rows.csv }\n    expect:\n      - { n: 22 }\n",
    )
    .unwrap();
    let o = metricc(&["test"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(out.matches("E0401[").count(), 1, "{out}");
    assert!(out.contains("did you mean `event`?"), "{out}");
}

/// PostHog's cumulative unique users: the refusal of a running total over
/// `active` gives the spelling that counts distinct entities to date, and
/// that spelling is a distinct count over every row, not a sum.
#[test]
fn a_running_total_of_active_entities_points_to_a_distinct_count() {
    let defs = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  dau: { description: d, source: events, active: { window: 1d } }\n  dau_total: { description: t, cumulative: { metric: dau } }\n";
    let tmp = project(RANGE, defs, &[("data/events.parquet", EVENTS)]);
    let o = metricc(&["check"], tmp.path());
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("E0221") && out.contains("count_distinct(<entity>)"),
        "{out}"
    );
    // The spelling it gives: d1 and d2 on 03-01 and 03-02, d3 on 03-04.
    let defs = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  devs: { description: d, source: events, measure: count_distinct(developer_id) }\n  devs_to_date: { description: t, cumulative: { metric: devs } }\n";
    let tmp = project(RANGE, defs, &[("data/events.parquet", EVENTS)]);
    crate::run::assert_csv(
        &crate::run::csv(tmp.path(), "devs devs_to_date --by day --to 2026-03-05"),
        "day,devs,devs_to_date
         2026-03-01,1,1
         2026-03-02,2,2
         2026-03-03,0,2
         2026-03-04,1,3",
    );
}
