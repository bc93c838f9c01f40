//! `sequence` metrics (ClickHouse's `sequenceMatch` and `sequenceCount`)
//! through `metricc run`, on a handful of events whose every value below
//! was worked out by hand (the reasoning is in comments). The matcher's
//! rules are tested against ClickHouse's algorithm in
//! `lower::functions::pattern`.

use crate::run::{assert_csv, csv, findings_of, project, stdout_of};

// Weeks start Monday: W1 2026-03-02, W2 03-09.
// a: a 500 at 03-02 10:00:00 retried 30 s later; a 503 at 10:05 whose next
//    call comes 2 minutes later; a 500 at 03-04 08:00:00 retried 20 s later.
// b: a 502 at 03-03 09:00:00, a signup 59 s later (no condition holds: not
//    an event of the sequence), a call 60 s after the failure.
// c: two 500s 10 s apart, then a 200: the second failure is the first's
//    retry, so it is used up and its own retry does not count again.
// d: a 500 on Sunday 03-08 23:59:50 retried 20 s later, on Monday.
const EVENTS: &str = "
ts:timestamp,developer_id,event,status:int
2026-03-02T10:00:00Z,a,api_call,500
2026-03-02T10:00:30Z,a,api_call,200
2026-03-02T10:05:00Z,a,api_call,503
2026-03-02T10:07:00Z,a,api_call,200
2026-03-04T08:00:00Z,a,api_call,500
2026-03-04T08:00:20Z,a,api_call,200
2026-03-03T09:00:00Z,b,api_call,502
2026-03-03T09:00:59Z,b,signup,
2026-03-03T09:01:00Z,b,api_call,200
2026-03-10T12:00:00Z,c,api_call,500
2026-03-10T12:00:10Z,c,api_call,500
2026-03-10T12:00:20Z,c,api_call,200
2026-03-08T23:59:50Z,d,api_call,500
2026-03-09T00:00:10Z,d,api_call,200
";

const DEFS: &str = r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id }
metrics:
  retried:
    description: developers with a failed call retried within a minute
    source: events
    sequence:
      conditions:
        - failed: event = 'api_call' and status >= 500
        - call: event = 'api_call'
      pattern: (?failed)(?t<=1m)(?call)
  retries:
    description: failed calls retried within a minute
    source: events
    sequence:
      conditions:
        - failed: event = 'api_call' and status >= 500
        - call: event = 'api_call'
      pattern: (?1) (?t<=60) (?2)
      value: matches
  next_call_failed_again:
    description: a failure whose very next call fails too
    source: events
    sequence:
      conditions:
        - failed: event = 'api_call' and status >= 500
        - call: event = 'api_call'
      pattern: (?1)(?1)
      value: matches
"#;

fn fixture() -> tempfile::TempDir {
    project(
        "default_range: { from: 2026-03-02, to: 2026-03-16 }\n",
        DEFS,
        &[("data/events.parquet", EVENTS)],
    )
}

#[test]
fn matches_and_entities_per_bucket() {
    let p = fixture();
    // W1: a matches twice (10:00 and 03-04; the 10:05 failure's next call is
    // 2 minutes later), b once (the signup takes no part, the call is 60 s
    // after: `<=`); d's failure and retry fall in different weeks.
    // W2: c once; d's retry alone.
    // (?1)(?1): c's two failures in a row, in W2; a's 10:05 failure comes
    // after a success.
    let got = csv(p.path(), "--by week retried retries next_call_failed_again");
    assert_csv(
        &got,
        "week,retried,retries,next_call_failed_again
         2026-03-02,2,3,0
         2026-03-09,1,1,1",
    );
    // Over the whole range d's failure and retry are one entity's events of
    // one bucket: 4 developers, 5 retries.
    let got = csv(p.path(), "retried retries");
    assert_csv(&got, "retried,retries\n4,5");
    // The metric's filter applies first: only failures remain, and the one
    // retried within a minute is c's first (its second failure is a call).
    std::fs::write(
        p.path().join("defs.yaml"),
        DEFS.replacen(
            "    source: events\n    sequence:",
            "    source: events\n    filter: status >= 500\n    sequence:",
            1,
        ),
    )
    .unwrap();
    let got = csv(p.path(), "retried");
    assert_csv(&got, "retried\n1");
}

#[test]
fn explain_words_the_pattern() {
    let p = fixture();
    let text = stdout_of(&["explain", "retries"], p.path());
    assert!(text.contains("(?1)(?t<=1m)(?2)"), "{text}");
    assert!(text.contains("sequenceCount"), "{text}");
    assert!(
        text.contains("scan of sequences: 1 aggregate for retries"),
        "{text}"
    );
    assert!(
        text.contains("failed: event = 'api_call' and status >= 500"),
        "{text}"
    );
}

#[test]
fn patterns_that_name_no_listed_condition_are_errors() {
    let p = fixture();
    for (pattern, code, label) in [
        ("(?3)", "E0226", "there is no condition 3"),
        ("(?faild)", "E0226", "did you mean `failed`?"),
        (
            "(?t<=1m)(?1)",
            "E0226",
            "a time condition must follow an element",
        ),
        (".*", "E0226", "the pattern names no condition"),
        ("(?1)(?t!=5)(?2)", "E0114", "this pattern cannot be read"),
        ("(?1)+", "E0114", "unexpected `+`"),
    ] {
        std::fs::write(
            p.path().join("defs.yaml"),
            DEFS.replacen("(?failed)(?t<=1m)(?call)", pattern, 1),
        )
        .unwrap();
        let text = findings_of(&["check"], p.path());
        assert!(text.contains(code), "{pattern}: {text}");
        assert!(text.contains(label), "{pattern}: {text}");
    }
}

/// `(?gap ...)`: the very next event only. Calls of e: 03-02, 03-05 and
/// 03-12 10:00; of f: 03-02 and 03-09 10:00, a signup (no condition) on
/// 03-05 between; of g: 03-02 10:00 and 03-09 09:59:59; of h: 03-02, 03-06
/// and 03-10 10:00.
#[test]
fn a_gap_is_a_silence_between_two_events_in_a_row() {
    let p = project(
        "default_range: { from: 2026-03-01, to: 2026-04-01 }\n",
        r#"
sources:
  events: { path: data/events.parquet, time: ts, entity: developer_id }
metrics:
  back:
    description: a call after 7 days without one
    source: events
    sequence:
      conditions:
        - call: event = 'api_call'
      pattern: (?call)(?gap>=7d)(?call)
  later:
    description: a call 7 days or more after another, any calls between
    source: events
    sequence:
      conditions:
        - call: event = 'api_call'
      pattern: (?call)(?t>=7d)(?call)
  quiet_returns:
    description: returns after more than 3 days of silence, counted
    source: events
    sequence:
      conditions:
        - call: event = 'api_call'
      pattern: (?call)(?gap>3d)(?call)
      value: matches
"#,
        &[(
            "data/events.parquet",
            "ts:timestamp,developer_id,event
2026-03-02T10:00:00Z,e,api_call
2026-03-05T10:00:00Z,e,api_call
2026-03-12T10:00:00Z,e,api_call
2026-03-02T10:00:00Z,f,api_call
2026-03-05T10:00:00Z,f,signup
2026-03-09T10:00:00Z,f,api_call
2026-03-02T10:00:00Z,g,api_call
2026-03-09T09:59:59Z,g,api_call
2026-03-02T10:00:00Z,h,api_call
2026-03-06T10:00:00Z,h,api_call
2026-03-10T10:00:00Z,h,api_call
",
        )],
    );
    // back: e (03-05 -> 03-12, exactly 7 days, in a row) and f (the signup
    //   is no event); g is 1 s short; h's 8 days hold a call: 2.
    // later (any calls between): e, f and h: 3.
    // quiet_returns (more than 3 days, counted): e 1 (03-02 -> 03-05 is
    //   exactly 3 days; 03-05 -> 03-12 counts), f 1, g 1, h 1 (03-02 ->
    //   03-06 uses both calls; 03-10 alone is left): 4.
    let got = csv(p.path(), "back later quiet_returns");
    assert_csv(&got, "back,later,quiet_returns\n2,3,4");
    let explained = stdout_of(&["explain", "back"], p.path());
    assert!(explained.contains("(?1)(?gap>=7d)(?1)"), "{explained}");
}
