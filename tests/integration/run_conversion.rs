//! `conversion` metrics (MetricFlow's conversion metric) through `metricc
//! run`: hand-worked values on a handful of events, and a property test
//! against a naive reference.

use crate::run::{assert_csv, csv, project};

// Visits (base) and buys (conversion). Range 03-02 .. 03-09 (UTC days).
// a: visits 03-02 10:00 (x) and 03-03 10:00 (y), buys 03-04 09:00: the
//    most recent visit, 03-03, is credited (23 h).
// b: visits 03-02 12:00 (x), buys exactly 2 days later: the far edge is
//    exclusive, no credit.
// c: visits 03-05 08:00 (x), buys at that instant and at 20:00: both
//    credited to it (a conversion at its base's instant counts).
// d: buys with no visit: nothing.
// e: visits 03-01 23:00, before the range, buys 03-02 01:00: its visit is
//    no opportunity and its buy is credited to it, so not counted.
// f: visits 03-08 22:00 (y), buys 03-09 10:00, after the range's end but
//    within 2 days: counted on 03-08.
// g: visits 03-06 10:00 (x) in session s1, buys 03-06 11:00 in session s2.
// h: visits 03-08 20:00 (x) and 03-09 05:00 (x, after the range), buys
//    03-09 06:00: credited to the later visit, outside the range, so not
//    counted (though the first visit is less than 2 days before).
const EVENTS: &str = "
ts:timestamp,developer_id,event,channel,session
2026-03-02T10:00:00Z,a,visit,x,sa
2026-03-03T10:00:00Z,a,visit,y,sa
2026-03-04T09:00:00Z,a,buy,,sa
2026-03-02T12:00:00Z,b,visit,x,sb
2026-03-04T12:00:00Z,b,buy,,sb
2026-03-05T08:00:00Z,c,visit,x,sc
2026-03-05T08:00:00Z,c,buy,,sc
2026-03-05T20:00:00Z,c,buy,,sc
2026-03-06T09:00:00Z,d,buy,,sd
2026-03-01T23:00:00Z,e,visit,x,se
2026-03-02T01:00:00Z,e,buy,,se
2026-03-08T22:00:00Z,f,visit,y,sf
2026-03-09T10:00:00Z,f,buy,,sf
2026-03-06T10:00:00Z,g,visit,x,s1
2026-03-06T11:00:00Z,g,buy,,s2
2026-03-08T20:00:00Z,h,visit,x,sh
2026-03-09T05:00:00Z,h,visit,x,sh
2026-03-09T06:00:00Z,h,buy,,sh
";

fn conversion(name: &str, extra: &str) -> String {
    format!(
        "  {name}: {{ description: c, source: events, conversion: {{ base: event = 'visit', conversion: event = 'buy', within: 2d{extra} }} }}\n"
    )
}

fn fixture() -> tempfile::TempDir {
    let metrics = [
        conversion("rate", ""),
        conversion("conversions", ", value: conversions"),
        conversion("opportunities", ", value: opportunities"),
        conversion("entity_rate", ", count: entities"),
        conversion("same_session", ", constant_properties: [session]"),
        "  x_rate: { description: c, source: events, filter: \"channel = 'x'\", conversion: { base: event = 'visit', conversion: event = 'buy', within: 2d } }\n".to_string(),
    ];
    project(
        "default_range: { from: 2026-03-02, to: 2026-03-09 }\n",
        &format!(
            "sources:\n  events: {{ path: data/events.parquet, time: ts, entity: developer_id, dimensions: [channel] }}\nmetrics:\n{}",
            metrics.concat()
        ),
        &[("data/events.parquet", EVENTS)],
    )
}

#[test]
fn each_conversion_goes_to_the_most_recent_base_within_the_window() {
    let p = fixture();
    // Opportunities per day: 03-02 a, b; 03-03 a; 03-05 c; 03-06 g; 03-08 f,
    // h. Conversions: 03-03 a; 03-05 c twice; 03-06 g (no constant property
    // asked); 03-08 f.
    let got = csv(
        p.path(),
        "--by day rate conversions opportunities same_session",
    );
    assert_csv(
        &got,
        "day,rate,conversions,opportunities,same_session
         2026-03-02,0,0,2,0
         2026-03-03,1,1,1,1
         2026-03-04,,0,0,
         2026-03-05,2,2,1,2
         2026-03-06,1,1,1,0
         2026-03-07,,0,0,
         2026-03-08,0.5,1,2,0.5",
    );
}

#[test]
fn rows_or_entities_over_the_range() {
    let p = fixture();
    // Rows: 5 conversions (a, c twice, g, f) over 7 visits of the range.
    // Entities: 4 converted (a, c, g, f) of 6 that visited (a, b, c, g, f, h).
    let got = csv(p.path(), "rate conversions opportunities entity_rate");
    assert_csv(
        &got,
        "rate,conversions,opportunities,entity_rate\n0.7142857142857143,5,7,0.6666666666666666",
    );
}

#[test]
fn breakdowns_and_filters_are_the_base_events() {
    let p = fixture();
    // By the visit's channel: x has a's 03-02, b, c, g, h's 03-08 (5) and
    // credits c twice and g: 3. y has a's 03-03 and f (2), both credited.
    let got = csv(p.path(), "--group-by channel rate conversions");
    assert_csv(
        &got,
        "channel,rate,conversions
         x,0.6,3
         y,1,2",
    );
    // The filter keeps x visits before the credit: a's buy now goes to its
    // 03-02 visit (47 h, within 2 days): 4 conversions of 5 visits.
    let got = csv(p.path(), "x_rate");
    assert_csv(&got, "x_rate\n0.8");
}

#[test]
fn a_null_constant_property_matches_nothing() {
    // Both events of d have no session: null is no session, so with the
    // constant property the buy is not credited; without it, it is.
    let p = project(
        "default_range: { from: 2026-03-02, to: 2026-03-09 }\n",
        "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id }\nmetrics:\n  same: { description: s, source: events, conversion: { base: event = 'visit', conversion: event = 'buy', constant_properties: [session] } }\n  any: { description: a, source: events, conversion: { base: event = 'visit', conversion: event = 'buy' } }\n",
        &[(
            "data/events.parquet",
            "ts:timestamp,developer_id,event,session\n2026-03-02T10:00:00Z,d,visit,\n2026-03-02T11:00:00Z,d,buy,\n",
        )],
    );
    let got = csv(p.path(), "same any");
    assert_csv(&got, "same,any\n0,1");
}

/// One event of the property test: minutes after 2026-03-01 00:00 UTC.
#[derive(Debug, Clone)]
struct Ev {
    minute: i64,
    entity: u8,
    /// 0 a visit (base), 1 a buy (conversion), 2 anything else.
    kind: u8,
    channel: Option<u8>,
    session: u8,
}

/// The rule, written out: every visit of the range is an opportunity in its
/// day and channel; every buy goes to the entity's most recent visit at or
/// before it (in the same session with `constant`; among visits at one
/// instant, the highest channel, none lowest), and counts in that visit's
/// day and channel when the visit is in the range and the buy less than
/// `within` minutes after it. (day, channel) -> (conversions, opportunities).
fn naive(
    evs: &[Ev],
    from: i64,
    to: i64,
    within: Option<i64>,
    constant: bool,
) -> std::collections::BTreeMap<(i64, Option<u8>), (u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    for v in evs.iter().filter(|v| v.kind == 0) {
        if v.minute >= from && v.minute < to {
            out.entry((v.minute / 1440, v.channel)).or_insert((0, 0)).1 += 1;
        }
    }
    for b in evs.iter().filter(|b| b.kind == 1) {
        let credited = evs
            .iter()
            .filter(|v| v.kind == 0 && v.entity == b.entity && v.minute <= b.minute)
            .filter(|v| !constant || v.session == b.session)
            .max_by_key(|v| (v.minute, v.channel));
        if let Some(v) = credited
            && v.minute >= from
            && v.minute < to
            && within.is_none_or(|w| b.minute - v.minute < w)
        {
            out.entry((v.minute / 1440, v.channel)).or_insert((0, 0)).0 += 1;
        }
    }
    out
}

fn ev() -> impl proptest::strategy::Strategy<Value = Ev> {
    use proptest::prelude::*;
    (
        // 03-01 .. 03-06, on 30-minute steps so that instants repeat.
        (0i64..240).prop_map(|h| h * 30),
        0u8..4,
        prop_oneof![3 => Just(0u8), 3 => Just(1u8), 1 => Just(2u8)],
        prop_oneof![Just(None), Just(Some(0u8)), Just(Some(1u8))],
        0u8..2,
    )
        .prop_map(|(minute, entity, kind, channel, session)| Ev {
            minute,
            entity,
            kind,
            channel,
            session,
        })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// `metricc run` by day and channel against [`naive`], for windows of
    /// 90 minutes, a day and none, with and without a constant property.
    #[test]
    fn conversions_match_the_rule_written_out(
        evs in proptest::collection::vec(ev(), 0..40),
        within in proptest::prelude::prop_oneof![
            proptest::prelude::Just(None),
            proptest::prelude::Just(Some(90i64)),
            proptest::prelude::Just(Some(1440i64)),
        ],
        constant in proptest::prelude::any::<bool>(),
    ) {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        let mut csv_rows = String::from("ts:timestamp,developer_id,event,channel,session\n");
        // An event nobody converts on, so that the file is never empty.
        csv_rows.push_str("2026-02-01T00:00:00Z,z,other,,s0\n");
        for e in &evs {
            let t = start + chrono::Duration::minutes(e.minute);
            let kind = ["visit", "buy", "other"][e.kind as usize];
            let channel = e.channel.map(|c| format!("c{c}")).unwrap_or_default();
            csv_rows.push_str(&format!(
                "{}Z,e{},{kind},{channel},s{}\n",
                t.format("%Y-%m-%dT%H:%M:%S"),
                e.entity,
                e.session
            ));
        }
        let window = within.map(|w| format!(", within: {w}m")).unwrap_or_default();
        let props = if constant { ", constant_properties: [session]" } else { "" };
        let p = project(
            "default_range: { from: 2026-03-02, to: 2026-03-05 }\n",
            &format!(
                "sources:\n  events: {{ path: data/events.parquet, time: ts, entity: developer_id, dimensions: [channel] }}\nmetrics:\n  conversions: {{ description: c, source: events, conversion: {{ base: event = 'visit', conversion: event = 'buy', value: conversions{window}{props} }} }}\n  opportunities: {{ description: o, source: events, conversion: {{ base: event = 'visit', conversion: event = 'buy', value: opportunities{window}{props} }} }}\n"
            ),
            &[("data/events.parquet", csv_rows.as_str())],
        );
        let (from, to) = (1440, 4 * 1440);
        let want = naive(&evs, from, to, within, constant);
        // The grid: every day of the range by every channel of a visit in
        // the range (null last); 0 where nothing happened.
        let mut channels: Vec<Option<u8>> = want.keys().map(|k| k.1).collect();
        channels.sort_by_key(|c| (c.is_none(), *c));
        channels.dedup();
        let mut expected = String::from("day,channel,conversions,opportunities\n");
        for day in 1..4 {
            for c in &channels {
                let (conv, opp) = want.get(&(day, *c)).copied().unwrap_or((0, 0));
                let date = (start + chrono::Duration::days(day)).format("%Y-%m-%d");
                let c = c.map(|c| format!("c{c}")).unwrap_or_default();
                expected.push_str(&format!("{date},{c},{conv},{opp}\n"));
            }
        }
        if channels.is_empty() {
            // No visit in the range: no breakdown value, no rows.
            expected = String::from("day,channel,conversions,opportunities\n");
        }
        let got = csv(p.path(), "--by day --group-by channel conversions opportunities");
        proptest::prop_assert_eq!(got.trim(), expected.trim());
        // One total over the range: a credit to a visit outside it (after
        // its end) does not count.
        let (conv, opp) = want.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
        let got = csv(p.path(), "conversions opportunities");
        proptest::prop_assert_eq!(
            got.trim(),
            format!("conversions,opportunities\n{conv},{opp}")
        );
    }
}

// A conversion across two sources: docs page views of anonymous visitors
// (base) and signups of developers, whose row in the developers table
// names the visitor they were. Range 03-02 .. 03-09 (UTC days).
// v1 (ads): docs views 03-02 10:00 and 03-03 09:00; d1 signs up 03-03
//    12:00: credited to the 03-03 view (3 h).
// v2 (organic): docs view 03-02 12:00; d2 signs up exactly 7 days later:
//    the far edge is exclusive, no credit.
// v3 (organic): docs view 03-04 08:00; d3 signs up at that instant:
//    credited (the same instant counts).
// v4: a pricing view only (not a base event); d4 signs up: nothing.
// v5 (organic): docs view 03-06, never signs up.
// d5 signs up with no developer row (no visitor id): nothing.
const VIEWS: &str = "
ts:timestamp,visitor_id,page,channel
2026-03-02T10:00:00Z,v1,/docs,ads
2026-03-03T09:00:00Z,v1,/docs/quickstart,ads
2026-03-02T12:00:00Z,v2,/docs,organic
2026-03-04T08:00:00Z,v3,/docs,organic
2026-03-04T09:00:00Z,v4,/pricing,organic
2026-03-06T10:00:00Z,v5,/docs,organic
";
const SIGNUPS: &str = "
ts:timestamp,developer_id,event
2026-03-03T12:00:00Z,d1,signup
2026-03-09T12:00:00Z,d2,signup
2026-03-04T08:00:00Z,d3,signup
2026-03-05T08:00:00Z,d4,signup
2026-03-05T09:00:00Z,d5,signup
2026-03-03T13:00:00Z,d1,api_call
";
const DEVELOPERS: &str = "
developer_id,visitor_id,signup_channel
d1,v1,ads
d2,v2,organic
d3,v3,social
d4,v4,organic
";

fn two_sources(metrics: &str) -> tempfile::TempDir {
    project(
        "default_range: { from: 2026-03-02, to: 2026-03-09 }\n",
        &format!(
            "sources:
  page_views: {{ path: data/page_views.parquet, time: ts, entity: visitor_id, dimensions: [page, channel] }}
  events: {{ path: data/events.parquet, time: ts, entity: developer_id, dimensions: [event] }}
entities:
  developer: {{ key: developer_id, path: data/developers.parquet }}
metrics:
{metrics}"
        ),
        &[
            ("data/page_views.parquet", VIEWS),
            ("data/events.parquet", SIGNUPS),
            ("data/developers.parquet", DEVELOPERS),
        ],
    )
}

fn docs_to_signup(name: &str, extra: &str) -> String {
    format!(
        "  {name}: {{ description: d, source: page_views, conversion: {{ base: \"page like '/docs%'\", conversion: {{ source: events, where: event = 'signup', entity: developer.visitor_id }}, within: 7d{extra} }} }}\n"
    )
}

#[test]
fn a_conversion_of_another_source_through_an_attribute_of_its_entity() {
    let p = two_sources(
        &[
            docs_to_signup("rate", ""),
            docs_to_signup("conversions", ", value: conversions"),
            docs_to_signup("opportunities", ", value: opportunities"),
            docs_to_signup("visitors", ", count: entities"),
        ]
        .concat(),
    );
    // Views per day: 03-02 v1, v2; 03-03 v1; 03-04 v3; 03-06 v5.
    // Signups credited: d1 to v1's 03-03 view, d3 to v3's 03-04 view.
    let got = csv(p.path(), "--by day rate conversions opportunities");
    assert_csv(
        &got,
        "day,rate,conversions,opportunities
         2026-03-02,0,0,2
         2026-03-03,1,1,1
         2026-03-04,1,1,1
         2026-03-05,,0,0
         2026-03-06,0,0,1
         2026-03-07,,0,0
         2026-03-08,,0,0",
    );
    // Over the range: 2 of 5 views; 2 of 4 visitors (v1, v2, v3, v5).
    let got = csv(p.path(), "rate visitors");
    assert_csv(&got, "rate,visitors\n0.4,0.5");
    // The breakdown is the view's: ads 1 of 2, organic 1 of 3.
    let got = csv(p.path(), "--group-by channel rate");
    assert_csv(&got, "channel,rate\nads,0.5\norganic,0.3333333333333333");
    // Under a memory limit the credit comes from windows partitioned by
    // entity (streaming): the same answers.
    let limited = csv(p.path(), "--memory-limit 256M --group-by channel rate");
    assert_eq!(limited, got);
    let limited = csv(
        p.path(),
        "--memory-limit 256M --by day rate conversions opportunities",
    );
    let free = csv(p.path(), "--by day rate conversions opportunities");
    assert_eq!(limited, free);
}

#[test]
fn a_constant_property_pairs_a_column_with_an_attribute() {
    // d3 signed up from `social`, its visit came from `organic`: with the
    // pair, only d1's signup (ads, ads) is credited.
    let p = two_sources(&docs_to_signup(
        "same_channel",
        ", value: conversions, constant_properties: [{ base: channel, conversion: developer.signup_channel }]",
    ));
    let got = csv(p.path(), "same_channel");
    assert_csv(&got, "same_channel\n1");
    let explained = crate::run::stdout_of(&["explain", "same_channel"], p.path());
    assert!(
        explained.contains("in `events` — each such event is credited to the most recent base event whose entity is the row's `developer.visitor_id`")
            && explained.contains("with the same developer.signup_channel as the base's channel"),
        "{explained}"
    );
}

#[test]
fn the_two_sources_must_say_which_ids_meet() {
    // Without `entity:`, signups are keyed by developer_id and views by
    // visitor_id: E0227. An integer column for string ids: E0227 too.
    let p = project(
        "",
        "sources:
  page_views: { path: data/page_views.parquet, time: ts, entity: visitor_id }
  events: { path: data/events.parquet, time: ts, entity: developer_id }
metrics:
  unkeyed: { description: u, source: page_views, conversion: { base: \"page = '/docs'\", conversion: { source: events, where: event = 'signup' } } }
  typed: { description: t, source: page_views, conversion: { base: \"page = '/docs'\", conversion: { source: events, where: event = 'signup', entity: n } } }
",
        &[
            ("data/page_views.parquet", "ts:timestamp,visitor_id,page\n2026-03-02T10:00:00Z,v1,/docs\n"),
            ("data/events.parquet", "ts:timestamp,developer_id,event,n:int\n2026-03-02T11:00:00Z,d1,signup,1\n"),
        ],
    );
    let found = crate::run::findings_of(&["check"], p.path());
    assert_eq!(found.matches("E0227").count(), 2, "{found}");
    assert!(
        found.contains("the conversion's source `events` is keyed by `developer_id`")
            && found.contains("`n` of `events` is Int64")
            && found.contains("entity ids cannot match"),
        "{found}"
    );
}

/// Two sources with other column types: a base of timestamps and
/// conversions dated by day meet on local wall-clock time; a constant
/// property of integers meets one of floats as floats.
#[test]
fn two_sources_of_other_types_meet_on_one_clock_and_one_type() {
    // In Los Angeles the view at 03-03 04:00 UTC is 03-02 20:00 local; the
    // signup dated 03-03 is that day's local midnight, 4 h later: credited.
    // (Compared as instants with the date read at UTC midnight, it would
    // come first and not be.) With `constant_properties: [score]` the
    // view's score 1 does not equal the signup's 1.5.
    let p = project(
        "time_zone: America/Los_Angeles\ndefault_range: { from: 2026-03-01, to: 2026-03-08 }\n",
        r#"
sources:
  views: { path: data/views.parquet, time: ts, entity: visitor_id }
  signups: { path: data/signups.parquet, time: day, entity: visitor_id }
metrics:
  rate: { description: r, source: views, conversion: { base: "true", conversion: { source: signups, where: "true" }, within: 2d } }
  same_score: { description: s, source: views, conversion: { base: "true", conversion: { source: signups, where: "true" }, within: 2d, constant_properties: [score] } }
"#,
        &[
            (
                "data/views.parquet",
                "ts:timestamp,visitor_id,score:int\n2026-03-03T04:00:00Z,v1,1\n",
            ),
            (
                "data/signups.parquet",
                "day:date,visitor_id,score:float\n2026-03-03,v1,1.5\n",
            ),
        ],
    );
    let got = csv(p.path(), "rate same_score");
    assert_csv(&got, "rate,same_score\n1,0");
}
