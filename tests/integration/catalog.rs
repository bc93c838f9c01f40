//! The example project's own catalog, end to end: the definitions in
//! `metrics/*.yaml` (copied unchanged, only `default_range` moved) run by
//! `metricc run` on a tiny hand-made data set of a few visitors and
//! developers, one or two rows per step of the journey. Every expected value
//! below was worked out by hand from the rows (the reasoning is in comments),
//! covering the four areas of `shared/CATALOG.md`: acquisition and
//! activation, engagement and retention, business, infrastructure.
//!
//! Calendar (UTC, weeks start Monday): 2026-03-02, 03-09, 03-16, 03-23 and
//! 03-30 are Mondays; February 2026 has 28 days. The project's range is the
//! two weeks `[2026-03-02, 2026-03-16)` unless a test says otherwise.

use crate::fixtures::typed_csv_to_parquet;
use crate::run::assert_csv;
use std::path::Path;

/// Docs and marketing site. v1 comes back in the second week; v0 is before
/// the range, v7 in its last second and v8 exactly at its end (excluded).
const PAGE_VIEWS: &str = "
ts:timestamp,visitor_id,page,channel
2026-02-27T10:00:00Z,v0,/docs,search
2026-03-02T09:00:00Z,v1,/docs,search
2026-03-02T09:30:00Z,v1,/pricing,search
2026-03-03T08:00:00Z,v2,/docs,social
2026-03-04T07:00:00Z,v3,/docs,search
2026-03-05T12:00:00Z,v4,/blog,social
2026-03-09T23:00:00Z,v5,/docs,social
2026-03-10T10:00:00Z,v6,/docs,search
2026-03-13T15:00:00Z,v1,/pricing,search
2026-03-15T23:59:59Z,v7,/docs,search
2026-03-16T00:00:00Z,v8,/docs,social
";

/// Product events, developer by developer:
///
/// - d6: one production call in January, then silence (churns).
/// - d7: one sandbox call on 02-05, then silence (churns).
/// - d0: signed up in February; production calls on 02-11, 03-02, 03-06 (a
///   503 on /v1/refunds) and 03-11, each followed a second later by a
///   webhook (delivered, failed, delivered).
/// - d1 (search): signup 03-02 10:00, key 11:00, a 401 at 12:00, first
///   success 03-03 12:00 (sandbox), first production success 03-05 10:00 on
///   /v1/refunds (and a delivered webhook), a second key 03-12 09:00, a call
///   03-12 10:00.
/// - d2 (social): signup 03-03 09:00, key 10:00, a first call that succeeds
///   03-04 09:00 (sandbox), first production success 03-10 09:00, a 404 on
///   /v1/customers 03-13 14:00 and a call without status (a timeout) 14:05.
/// - d3 (search): signup 03-04 08:00, key 03-06 08:00, no calls.
/// - d4 (social): signup 03-09 00:00, key 01:00, a 500 at 05:00; its first
///   success comes 03-17 05:00, after the range and 8 days after signup.
/// - d5 (search): signup 03-10 12:00, nothing else.
///
/// The calls in the range, with latency (ms):
///
/// | week  | call                                          |
/// |-------|-----------------------------------------------|
/// | 03-02 | d0 03-02 charges 200 100, d1 03-02 charges 401 40, d1 03-03 charges 200 60, d2 03-04 charges 200 50, d1 03-05 refunds 200 200, d0 03-06 refunds 503 900 |
/// | 03-09 | d4 03-09 charges 500 1000, d2 03-10 charges 200 70, d0 03-11 charges 200 110, d1 03-12 charges 200 100, d2 03-13 customers 404 30, d2 03-13 customers (no status, no latency) |
const EVENTS: &str = "
ts:timestamp,developer_id,event,channel,sdk,endpoint,status:int,latency_ms:float,environment,success:bool
2026-01-20T10:00:00Z,d6,api_call,,go,/v1/charges,200,80,production,
2026-02-05T10:00:00Z,d7,api_call,,go,/v1/charges,200,80,sandbox,
2026-02-10T09:00:00Z,d0,signup,search,,,,,,
2026-02-10T10:00:00Z,d0,api_key_created,,,,,,,
2026-02-11T10:00:00Z,d0,api_call,,node,/v1/charges,200,120,production,
2026-03-02T08:00:00Z,d0,api_call,,node,/v1/charges,200,100,production,
2026-03-02T08:00:01Z,d0,webhook_delivered,,,,,,,true
2026-03-06T08:00:00Z,d0,api_call,,node,/v1/refunds,503,900,production,
2026-03-06T08:00:01Z,d0,webhook_delivered,,,,,,,false
2026-03-11T08:00:00Z,d0,api_call,,node,/v1/charges,200,110,production,
2026-03-11T08:00:01Z,d0,webhook_delivered,,,,,,,true
2026-03-02T10:00:00Z,d1,signup,search,,,,,,
2026-03-02T11:00:00Z,d1,api_key_created,,,,,,,
2026-03-02T12:00:00Z,d1,api_call,,python,/v1/charges,401,40,sandbox,
2026-03-03T12:00:00Z,d1,api_call,,python,/v1/charges,200,60,sandbox,
2026-03-05T10:00:00Z,d1,api_call,,python,/v1/refunds,200,200,production,
2026-03-05T10:00:01Z,d1,webhook_delivered,,,,,,,true
2026-03-12T09:00:00Z,d1,api_key_created,,,,,,,
2026-03-12T10:00:00Z,d1,api_call,,python,/v1/charges,200,100,production,
2026-03-03T09:00:00Z,d2,signup,social,,,,,,
2026-03-03T10:00:00Z,d2,api_key_created,,,,,,,
2026-03-04T09:00:00Z,d2,api_call,,node,/v1/charges,200,50,sandbox,
2026-03-10T09:00:00Z,d2,api_call,,node,/v1/charges,200,70,production,
2026-03-13T14:00:00Z,d2,api_call,,node,/v1/customers,404,30,production,
2026-03-13T14:05:00Z,d2,api_call,,node,/v1/customers,,,production,
2026-03-04T08:00:00Z,d3,signup,search,,,,,,
2026-03-06T08:00:00Z,d3,api_key_created,,,,,,,
2026-03-09T00:00:00Z,d4,signup,social,,,,,,
2026-03-09T01:00:00Z,d4,api_key_created,,,,,,,
2026-03-09T05:00:00Z,d4,api_call,,python,/v1/charges,500,1000,sandbox,
2026-03-17T05:00:00Z,d4,api_call,,python,/v1/charges,200,90,sandbox,
2026-03-10T12:00:00Z,d5,signup,search,,,,,,
";

/// Invoice lines: subscriptions, and one overage line per month for d0 at
/// half a cent per call. d6's line is before February, d2's in the last
/// second of March, d1's second line exactly on 04-01.
const PAYMENTS: &str = "
paid_at:timestamp,developer_id,amount:float,currency,kind,plan,overage_calls:int
2026-01-31T12:00:00Z,d6,29.0,USD,subscription,starter,
2026-02-10T12:00:00Z,d0,49.0,USD,subscription,growth,
2026-03-01T00:00:00Z,d0,49.0,USD,subscription,growth,
2026-03-03T00:00:00Z,d1,29.0,USD,subscription,starter,
2026-03-05T00:00:00Z,d0,12.5,USD,overage,growth,2500
2026-03-31T23:59:59Z,d2,29.0,USD,subscription,starter,
2026-04-01T00:00:00Z,d1,29.0,USD,subscription,starter,
2026-04-02T00:00:00Z,d0,7.5,USD,overage,growth,1500
";

/// Spend per channel and day (a `date` time column). The 03-16 row is just
/// after the default range.
const MARKETING_SPEND: &str = "
day:date,channel,amount:float
2026-02-10,search,200.0
2026-03-02,search,300.0
2026-03-02,social,100.0
2026-03-09,search,150.0
2026-03-10,social,50.0
2026-03-16,search,1000.0
";

/// NPS answers: promoters 9..10, passives 7..8, detractors 0..6. The 0 of
/// 02-20 is before the range.
const SURVEY_ANSWERS: &str = "
answered_at:timestamp,developer_id,score:int
2026-02-20T10:00:00Z,d0,0
2026-03-03T10:00:00Z,d0,10
2026-03-05T10:00:00Z,d1,9
2026-03-06T10:00:00Z,d2,7
2026-03-10T10:00:00Z,d3,3
2026-03-12T10:00:00Z,d4,6
2026-03-13T10:00:00Z,d5,10
";

const SUPPORT_TICKETS: &str = "
opened_at:timestamp,developer_id,severity
2026-03-04T10:00:00Z,d1,high
2026-03-05T10:00:00Z,d2,low
2026-03-11T10:00:00Z,d4,high
2026-03-25T10:00:00Z,d0,low
";

/// The developers' attributes, a row per version: d0 moves to growth on
/// 03-05 00:00, d1 to starter on 03-03 00:00, d2 to starter on 03-10 09:00
/// (the instant of one of its calls, which sees the new plan); d6 and d7
/// have no row. Each names the visitor it was before signing up: d4 is v5,
/// d5 is v6, the others share their number.
const DEVELOPERS: &str = "
developer_id,valid_from:timestamp,plan,country,company_size,signup_channel,visitor_id
d0,2026-02-10T09:00:00Z,free,US,1-10,search,v0
d0,2026-03-05T00:00:00Z,growth,US,1-10,search,v0
d1,2026-03-02T10:00:00Z,free,DE,11-50,search,v1
d1,2026-03-03T00:00:00Z,starter,DE,11-50,search,v1
d2,2026-03-03T09:00:00Z,free,US,51-200,social,v2
d2,2026-03-10T09:00:00Z,starter,US,51-200,social,v2
d3,2026-03-04T08:00:00Z,free,IN,1-10,search,v3
d4,2026-03-09T00:00:00Z,free,IN,11-50,social,v5
d5,2026-03-10T12:00:00Z,free,US,1-10,search,v6
";

/// A copy of the example project (every YAML file of `metrics/`, unchanged
/// but for `default_range`, now the fixture's two weeks) with the fixture's
/// Parquet files at the paths `sources.yaml` reads.
fn catalog() -> tempfile::TempDir {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    let tmp = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for entry in std::fs::read_dir(&example).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == "metricc.yaml" {
            let range = "default_range: { from: 2026-03-02, to: 2026-03-16 }";
            let mut replaced = 0;
            text = text
                .lines()
                .map(|l| {
                    if l.starts_with("default_range:") {
                        replaced += 1;
                        format!("{range}\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            assert_eq!(replaced, 1, "the example's default_range line");
        }
        std::fs::write(tmp.path().join(path.file_name().unwrap()), text).unwrap();
        copied += 1;
    }
    assert_eq!(copied, 6, "the example's YAML files");
    for (name, rows) in [
        ("page_views", PAGE_VIEWS),
        ("events", EVENTS),
        ("payments", PAYMENTS),
        ("marketing_spend", MARKETING_SPEND),
        ("survey_answers", SURVEY_ANSWERS),
        ("support_tickets", SUPPORT_TICKETS),
        ("developers", DEVELOPERS),
    ] {
        typed_csv_to_parquet(rows, &tmp.path().join(format!("data/{name}.parquet")));
    }
    tmp
}

fn csv(dir: &Path, args: &str) -> String {
    crate::run::csv(dir, args)
}

// ---------------------------------------------------------------------------
// Acquisition and activation
// ---------------------------------------------------------------------------

#[test]
fn acquisition_counts_and_step_rates() {
    let p = catalog();
    // visitors (distinct): week 03-02 v1 (twice) v2 v3 v4 = 4; week 03-09 v5
    //   v6 v1 v7 (03-15 23:59:59) = 4; v0 is before, v8 at the end. Over the
    //   range v1..v7 = 7 (v1 once).
    // signups: d1 d2 d3 | d4 d5; d0 signed up in February.
    // api_keys_created (first key over all time): d1 d2 d3 (03-06) | d4; d1's
    //   second key (03-12) is not a first, d0's first is in February.
    // first_calls: d1 (the 401) d2 | d4 (the 500); d0, d6, d7 called first
    //   before the range.
    // first_successes (status < 400): d1 (03-03) d2 | nobody: d4's is 03-17.
    // production_integrations: d1 (03-05) | d2 (03-10); d4 has none.
    // Rates, ratios of the week's counts: visitor_to_signup 3/4 | 2/4;
    // signup_to_key 3/3 | 1/2; key_to_first_call 2/3 | 1/1;
    // first_call_success 2/2 | 0/1.
    // activation_rate (a first success within 7 days of a signup in the
    // week): d1 (+26h) and d2 (+24h) of three | d4 (+8d 5h, too late) and
    // d5 (none): 0 of two.
    let got = csv(
        p.path(),
        "visitors signups api_keys_created first_calls first_successes \
         production_integrations visitor_to_signup_rate signup_to_key_rate \
         key_to_first_call_rate first_call_success_rate activation_rate --by week",
    );
    assert_csv(
        &got,
        "week,visitors,signups,api_keys_created,first_calls,first_successes,production_integrations,visitor_to_signup_rate,signup_to_key_rate,key_to_first_call_rate,first_call_success_rate,activation_rate
         2026-03-02,4,3,3,2,2,1,0.75,1,0.6666666666666666,1,0.6666666666666666
         2026-03-09,4,2,1,1,0,1,0.5,0.5,1,0,0",
    );
    // docs_to_signup_rate, docs visitors whose signup (through the
    // developer's visitor_id) came within 7 days, by the view's week and
    // channel: week 03-02 search v1 (signs up 1 h later as d1) and v3 (d3,
    // 1 h) 2/2, social v2 (d2, 1 h) 1/1; week 03-09 search v6 (d5, 2 h) and
    // v7 (no signup) 1/2, social v5 0/1 (d4 signed up 23 h before the view:
    // a signup is credited to a view at or before it only). v8 views at the
    // range's end, v0 before it.
    let got = csv(p.path(), "docs_to_signup_rate --by week");
    assert_csv(
        &got,
        "week,channel,docs_to_signup_rate
         2026-03-02,search,1
         2026-03-02,social,1
         2026-03-09,search,0.5
         2026-03-09,social,0",
    );
    let got = csv(p.path(), "docs_to_signup_rate");
    assert_csv(&got, "channel,docs_to_signup_rate\nsearch,0.75\nsocial,0.5");
    // Over the two weeks: 7 visitors (v1 counted once), counts summed as
    // every developer appears in one week only; rates 5/7, 4/5, 3/4, 2/3, 2/5.
    let got = csv(
        p.path(),
        "visitors signups api_keys_created first_calls first_successes \
         production_integrations visitor_to_signup_rate signup_to_key_rate \
         key_to_first_call_rate first_call_success_rate activation_rate",
    );
    assert_csv(
        &got,
        "visitors,signups,api_keys_created,first_calls,first_successes,production_integrations,visitor_to_signup_rate,signup_to_key_rate,key_to_first_call_rate,first_call_success_rate,activation_rate
         7,5,4,3,2,2,0.7142857142857143,0.8,0.75,0.6666666666666666,0.4",
    );
    // By channel: page views and signups both carry one. search: visitors v1
    // v3 v6 v7, signups d1 d3 d5, activated d1; social: v2 v4 v5, d2 d4,
    // activated d2. The rows are the channels of the rows these metrics read
    // (the api_call rows without a channel are not read: no null row).
    let got = csv(
        p.path(),
        "visitors signups visitor_to_signup_rate activation_rate --group-by channel",
    );
    assert_csv(
        &got,
        "channel,visitors,signups,visitor_to_signup_rate,activation_rate
         search,4,3,0.75,0.3333333333333333
         social,3,2,0.6666666666666666,0.5",
    );
}

#[test]
fn onboarding_funnel_steps() {
    let p = catalog();
    // Each signup of the range starts an attempt (14 days, ordered, an event
    // may serve two steps in a row):
    //   d1: key +1h, call +1h (the 401), success +24h (03-03 12:00); from
    //       signup: call 2h, success 26h.
    //   d2: key +1h, call +23h, which succeeds: success +0h; 24h, 24h.
    //   d3: key +48h, no call: step 2.
    //   d4: key +1h, call +4h (the 500), success +192h (03-17 05:00, after
    //       --to but inside the window: the range bounds entry); 5h, 197h.
    //   d5: step 1.
    // Step 2: d1 d2 d3 d4 = 4 (4/5); hours 1 1 1 48: mean 51/4 = 12.75,
    //   median 1, p90 at 0.9*3 = 2.7: 1 + 0.7*47 = 33.9.
    // Step 3: d1 d2 d4 = 3 (3/4, 3/5); hours 1 4 23: mean 28/3, median 4,
    //   p90 at 1.8: 4 + 0.8*19 = 19.2; from signup 2 5 24: median 5.
    // Step 4: the same three (3/3, 3/5); hours 0 24 192: mean 72, median 24,
    //   p90 at 1.8: 24 + 0.8*168 = 158.4; from signup 24 26 197: median 26.
    // Step 1 leaves its conversions and times empty.
    let got = csv(p.path(), "onboarding");
    assert_csv(
        &got,
        "step,step_name,entities,conversion_from_previous,conversion_from_first,avg_hours_from_previous,median_hours_from_previous,p90_hours_from_previous,median_hours_from_first
         1,signup,5,,,,,,
         2,api_key,4,0.8,0.8,12.75,1,33.9,1
         3,first_call,3,0.75,0.6,9.333333333333334,4,19.2,5
         4,first_success,3,1,0.6,72,24,158.4,26",
    );
    // By the signup's channel (first-step attribution).
    // search: d1 (4 steps), d3 (2), d5 (1). Step 2: d1 d3, 2/3; hours 1 48:
    //   mean = median = 24.5, p90 1 + 0.9*47 = 43.3. Step 3: d1 (1/2, 1/3),
    //   1h, 2h from signup. Step 4: d1 (1/1, 1/3), 24h, 26h from signup.
    // social: d2 and d4 reach every step. Step 2: 1h each. Step 3: 23h and
    //   4h: mean = median = 13.5, p90 4 + 0.9*19 = 21.1; from signup 24 and
    //   5: 14.5. Step 4: 0h and 192h: 96, p90 0.9*192 = 172.8; from signup 24
    //   and 197: 110.5.
    let got = csv(p.path(), "onboarding --group-by channel");
    assert_csv(
        &got,
        "channel,step,step_name,entities,conversion_from_previous,conversion_from_first,avg_hours_from_previous,median_hours_from_previous,p90_hours_from_previous,median_hours_from_first
         search,1,signup,3,,,,,,
         search,2,api_key,2,0.6666666666666666,0.6666666666666666,24.5,24.5,43.3,24.5
         search,3,first_call,1,0.5,0.3333333333333333,1,1,1,2
         search,4,first_success,1,1,0.3333333333333333,24,24,24,26
         social,1,signup,2,,,,,,
         social,2,api_key,2,1,1,1,1,1,1
         social,3,first_call,2,1,1,13.5,13.5,21.1,14.5
         social,4,first_success,2,1,1,96,96,172.8,110.5",
    );
}

#[test]
fn time_to_first_call_success_and_value() {
    let p = catalog();
    // From each developer's first signup (in the range; d0's is in February)
    // to its first matching event at or after it:
    //   first call, hours: d1 2, d2 24 | d4 5 (d3, d5 never call).
    //   first success, hours: d1 26, d2 24 | d4 197 (03-17 05:00: after --to,
    //     still counted, as time_between has no window here).
    //   first production success, days: d1 3 (03-05 10:00), d2 7 (03-10
    //     09:00) | d4 none.
    // Week 03-02: ttfc median (2+24)/2 = 13, p90 2 + 0.9*22 = 21.8; first
    // success median (24+26)/2 = 25; time_to_value (3+7)/2 = 5. Week 03-09:
    // d4 alone: 5, 5, 197; no production success: null.
    let got = csv(
        p.path(),
        "ttfc_median ttfc_p90 time_to_first_success_median time_to_value --by week",
    );
    assert_csv(
        &got,
        "week,ttfc_median,ttfc_p90,time_to_first_success_median,time_to_value
         2026-03-02,13,21.8,25,5
         2026-03-09,5,5,197,",
    );
    // Over the range: ttfc 2 5 24: median 5, p90 at 1.8: 5 + 0.8*19 = 20.2;
    // first success 24 26 197: 26; value 3 7 days: 5.
    let got = csv(
        p.path(),
        "ttfc_median ttfc_p90 time_to_first_success_median time_to_value",
    );
    assert_csv(
        &got,
        "ttfc_median,ttfc_p90,time_to_first_success_median,time_to_value
         5,20.2,26,5",
    );
}

// ---------------------------------------------------------------------------
// Engagement and retention
// ---------------------------------------------------------------------------

#[test]
fn dau_wau_mau_and_stickiness_by_day() {
    let p = catalog();
    // The first week, day by day. Day D's windows end at D+1 00:00: dau
    // [D, D+1), wau [D-6, D+1), mau [D-29, D+1). Calls before it: d7 02-05,
    // d0 02-11 (d6's 01-20 is too old for every window here).
    //   03-02: dau d0 d1; wau d0 d1; mau from 02-01: d7 d0 d1.
    //   03-03: dau d1; wau d0 d1; mau from 02-02: 3.
    //   03-04: dau d2; wau d0 d1 d2; mau from 02-03: d7 d0 d1 d2.
    //   03-05: dau d1; 3; 4.   03-06: dau d0; 3; mau from 02-05 00:00 still
    //   holds d7's 10:00 call: 4.
    //   03-07, 03-08: nobody; wau d0 d1 d2; mau from 02-06 (02-07) has lost
    //   d7: d0 d1 d2.
    // stickiness dau/mau: 2/3, 1/3, 1/4, 1/4, 1/4, 0, 0.
    // requests: 2 1 1 1 1 0 0; error_rate: the 401 of two, 0, 0, 0, the 503
    // of one, then no calls: null.
    let got = csv(
        p.path(),
        "dau wau mau stickiness requests error_rate --by day --to 2026-03-09",
    );
    assert_csv(
        &got,
        "day,dau,wau,mau,stickiness,requests,error_rate
         2026-03-02,2,2,3,0.6666666666666666,2,0.5
         2026-03-03,1,2,3,0.3333333333333333,1,0
         2026-03-04,1,3,4,0.25,1,0
         2026-03-05,1,3,4,0.25,1,0
         2026-03-06,1,3,4,0.25,1,1
         2026-03-07,0,3,3,0,0,
         2026-03-08,0,3,3,0,0,",
    );
}

#[test]
fn requests_errors_and_endpoint_breadth() {
    let p = catalog();
    // Week 03-02: 6 calls; below 400: d0 200, d1 200 200, d2 200 = 4; 400 or
    //   more: the 401 and the 503 = 2; error_rate 2/6. Endpoints per
    //   developer: d0 charges+refunds, d1 charges+refunds, d2 charges: 5/3.
    // Week 03-09: 6 calls, one without a status (d2's timeout); below 400:
    //   d2 d0 d1 = 3; 400 or more: the 500 and the 404 = 2; error_rate counts
    //   only calls with a status: 2/5. Endpoints: d4 charges, d2 charges +
    //   customers, d0 charges, d1 charges: 5/4.
    let got = csv(
        p.path(),
        "requests successful_requests error_requests error_rate endpoints_per_developer --by week",
    );
    assert_csv(
        &got,
        "week,requests,successful_requests,error_requests,error_rate,endpoints_per_developer
         2026-03-02,6,4,2,0.3333333333333333,1.6666666666666667
         2026-03-09,6,3,2,0.4,1.25",
    );
    // Over the range: 12, 7, 4, 4/11; pairs d0 charges refunds, d1 charges
    // refunds, d2 charges customers, d4 charges: 7 over 4 developers.
    // Active at the range's end (03-16): dau [03-15, 03-16) nobody; wau from
    // 03-09: d4 d2 d0 d1; mau from 02-14: the same four.
    let got = csv(
        p.path(),
        "requests successful_requests error_requests error_rate endpoints_per_developer dau wau mau",
    );
    assert_csv(
        &got,
        "requests,successful_requests,error_requests,error_rate,endpoints_per_developer,dau,wau,mau
         12,7,4,0.36363636363636365,1.75,0,4,4",
    );
}

#[test]
fn attributes_of_developers_as_of_each_row() {
    let p = catalog();
    // Plans at each call (DEVELOPERS): week 03-02: d0 03-02 free, d1 03-02
    //   12:00 free, d1 03-03 starter (from 00:00), d2 03-04 free, d1 03-05
    //   starter, d0 03-06 growth (from 03-05): 3 of 6 paid.
    // Week 03-09: d4 free, d2 03-10 09:00 starter (its version starts at
    //   that instant), d0 growth, d1 starter, d2 03-13 starter twice: 5 of 6.
    let got = csv(
        p.path(),
        "requests paid_plan_requests paid_request_share --by week",
    );
    assert_csv(
        &got,
        "week,requests,paid_plan_requests,paid_request_share
         2026-03-02,6,3,0.5
         2026-03-09,6,5,0.8333333333333334",
    );
    // Signups by country: week 03-02 d1 DE, d2 US, d3 IN; week 03-09 d4
    // IN, d5 US; every country seen in the range in every week.
    let got = csv(p.path(), "signups --by week --group-by developer.country");
    assert_csv(
        &got,
        "week,developer.country,signups
         2026-03-02,DE,1
         2026-03-02,IN,1
         2026-03-02,US,1
         2026-03-09,DE,0
         2026-03-09,IN,1
         2026-03-09,US,1",
    );
    // March revenue by the plan at payment: d0 03-01 49 free (growth only
    // from 03-05), d0's overage at 03-05 00:00 growth (its first instant),
    // d1 03-03 29 starter, d2 03-31 29 starter. Requests over the range by
    // plan: d6 and d7 have no row, but call only before the range.
    let got = csv(
        p.path(),
        "revenue --by month --from 2026-03-01 --to 2026-04-01 --group-by developer.plan",
    );
    assert_csv(
        &got,
        "month,developer.plan,revenue
         2026-03-01,free,49.0
         2026-03-01,growth,12.5
         2026-03-01,starter,58.0",
    );
}

#[test]
fn churn_over_thirty_day_windows() {
    let p = catalog();
    // At each week's end E: current window [E-30d, E), previous
    // [E-60d, E-30d).
    // E = 03-09: previous [01-08, 02-07): d6 (01-20), d7 (02-05); current
    //   [02-07, 03-09): d0 (02-11 on), d1, d2 (d4's call is 03-09 05:00).
    //   Churned d6 d7: 2 of 2. New (never active before the current window):
    //   d0 d1 d2 = 3; net 3 - 2 = 1.
    // E = 03-16: previous [01-15, 02-14): d6, d7, d0 (02-11); current
    //   [02-14, 03-16): d0 d1 d2 d4. Churned d6 d7: 2/3. New d1 d2 d4 (d0
    //   was active before): net 3 - 2 = 1.
    let got = csv(
        p.path(),
        "churned_developers churn_rate net_developer_growth --by week",
    );
    assert_csv(
        &got,
        "week,churned_developers,churn_rate,net_developer_growth
         2026-03-02,2,1,1
         2026-03-09,2,0.6666666666666666,1",
    );
    // One window ending 03-30: previous [01-29, 02-28): d7, d0; current
    // [02-28, 03-30): d0 d1 d2 d4. Churned d7: 1/2; new d1 d2 d4: net 2.
    let got = csv(
        p.path(),
        "churned_developers churn_rate net_developer_growth --to 2026-03-30",
    );
    assert_csv(
        &got,
        "churned_developers,churn_rate,net_developer_growth
         1,0.5,2",
    );
}

#[test]
fn weekly_retention_by_signup_cohort() {
    let p = catalog();
    // Cohorts by first signup week: 03-02 holds d1 d2 d3; 03-09 holds d4 d5
    // (d0's first signup is in February: no cohort). A return is any call.
    // Cohort 03-02: period 0 (03-02..03-09) d1 d2; period 1 (03-09..03-16)
    //   d1 (03-12) d2 (03-10, 03-13); periods 2..8 begin at or after --to
    //   (03-16): null.
    // Cohort 03-09: period 0 d4 (03-09 05:00, after its signup); d4's
    //   03-17 call is beyond --to and period 1 has not begun: null on.
    let got = csv(p.path(), "retention");
    assert_csv(
        &got,
        "cohort,period,cohort_size,retained,retention_rate
         2026-03-02,0,3,2,0.6666666666666666
         2026-03-02,1,3,2,0.6666666666666666
         2026-03-02,2,3,,
         2026-03-02,3,3,,
         2026-03-02,4,3,,
         2026-03-02,5,3,,
         2026-03-02,6,3,,
         2026-03-02,7,3,,
         2026-03-02,8,3,,
         2026-03-09,0,2,1,0.5
         2026-03-09,1,2,,
         2026-03-09,2,2,,
         2026-03-09,3,2,,
         2026-03-09,4,2,,
         2026-03-09,5,2,,
         2026-03-09,6,2,,
         2026-03-09,7,2,,
         2026-03-09,8,2,,",
    );
}

// ---------------------------------------------------------------------------
// Business
// ---------------------------------------------------------------------------

#[test]
fn revenue_mrr_arpd_and_overage_by_month() {
    let p = catalog();
    // February: d0's subscription 49. revenue = mrr = 49, one payer, arpd 49;
    //   no overage line: 0 calls, 0 revenue. All time to 03-01: d6's 29 of
    //   January (before the range) + 49 = 78.
    // March: d0 49 (03-01 00:00), d1 29, d0's overage 12.5 (2500 calls), d2
    //   29 (03-31 23:59:59); d1's 04-01 line is April. revenue 119.5,
    //   subscriptions 49 + 29 + 29 = 107, payers d0 d1 d2, arpd 119.5/3.
    //   All time to 04-01: 78 + 119.5 = 197.5.
    let args = "revenue mrr paying_developers arpd quota_overage quota_overage_revenue \
                revenue_all_time --from 2026-02-01 --to 2026-04-01";
    let got = csv(p.path(), &format!("{args} --by month"));
    assert_csv(
        &got,
        "month,revenue,mrr,paying_developers,arpd,quota_overage,quota_overage_revenue,revenue_all_time
         2026-02-01,49,49,1,49,0,0,78
         2026-03-01,119.5,107,3,39.833333333333336,2500,12.5,197.5",
    );
    // Both months at once: 168.5 from the same three payers (d0 counted
    // once): arpd 168.5/3 = 56.1666...; subscriptions 156.
    let got = csv(p.path(), args);
    assert_csv(
        &got,
        "revenue,mrr,paying_developers,arpd,quota_overage,quota_overage_revenue,revenue_all_time
         168.5,156,3,56.166666666666664,2500,12.5,197.5",
    );
}

#[test]
fn acquisition_cost_nps_and_support_by_week() {
    let p = catalog();
    // Week 03-02: spend 300 + 100 = 400 over 3 signups: dac 133.33...;
    //   answers 10 9 7: (2 - 0)/3 = 66.66... points; tickets d1 d2 = 2 over
    //   the mau at the week's end (03-09, from 02-07: d0 d1 d2 = 3): 1000 *
    //   2/3 = 666.66...; revenue d1 29 + overage 12.5 = 41.5; month to date
    //   at 03-09 adds d0's 49 of 03-01, before the range: 90.5.
    // Week 03-09: spend 150 + 50 = 200 over 2 signups: 100; answers 3 6 10:
    //   (1 - 2)/3 = -33.33...; ticket d4 over mau 4 (d0 d1 d2 d4 from
    //   02-14): 250; no payment: 0, month to date still 90.5.
    let args = "marketing_spend signups dac nps support_tickets mau support_ticket_rate \
                revenue revenue_mtd";
    let got = csv(p.path(), &format!("{args} --by week"));
    assert_csv(
        &got,
        "week,marketing_spend,signups,dac,nps,support_tickets,mau,support_ticket_rate,revenue,revenue_mtd
         2026-03-02,400,3,133.33333333333334,66.66666666666667,2,3,666.6666666666666,41.5,90.5
         2026-03-09,200,2,100,-33.333333333333336,1,4,250,0,90.5",
    );
    // Over the range: 600/5 = 120; 3 promoters and 2 detractors of 6 answers:
    // 16.66...; 3 tickets over the 4 developers active in the 30 days to
    // 03-16: 750. The 1000 spent on 03-16 and the ticket of 03-25 are out.
    let got = csv(p.path(), args);
    assert_csv(
        &got,
        "marketing_spend,signups,dac,nps,support_tickets,mau,support_ticket_rate,revenue,revenue_mtd
         600,5,120,16.666666666666668,3,4,750,41.5,90.5",
    );
    // Spend and signups share the channel: search 300 + 150 over d1 d3 d5,
    // social 100 + 50 over d2 d4.
    let got = csv(p.path(), "marketing_spend signups dac --group-by channel");
    assert_csv(
        &got,
        "channel,marketing_spend,signups,dac
         search,450,3,150
         social,150,2,75",
    );
}

#[test]
fn ltv_and_ltv_over_dac_by_signup_month() {
    let p = catalog();
    // ltv: revenue from each developer's signup on, over 12 months and
    // before --to, per developer of the signup-month cohort.
    // February cohort: d0 (signup 02-10 09:00): 49 (02-10 12:00) + 49 +
    //   12.5 of March = 110.5 (its 04-02 overage is after --to); dac: 200
    //   spent in February over 1 signup = 200; ratio 110.5/200 = 0.5525.
    // March cohort: d1 29 (its 04-01 line is at --to: out), d2 29, d3 d4 d5
    //   nothing: 58/5 = 11.6; dac: all of March's spend, 300 + 100 + 150 +
    //   50 + 1000, over 5 signups = 320; ratio 11.6/320 = 0.03625.
    let got = csv(
        p.path(),
        "ltv dac ltv_dac_ratio --from 2026-02-01 --to 2026-04-01 --by month",
    );
    assert_csv(
        &got,
        "month,ltv,dac,ltv_dac_ratio
         2026-02-01,110.5,200,0.5525
         2026-03-01,11.6,320,0.03625",
    );
}

// ---------------------------------------------------------------------------
// Infrastructure
// ---------------------------------------------------------------------------

#[test]
fn latency_availability_and_webhooks_by_week() {
    let p = catalog();
    // Week 03-02 latencies, sorted: 40 50 60 100 200 900. p50 at 2.5: 80;
    //   p95 at 4.75: 200 + 0.75*700 = 725; p99 at 4.95: 200 + 0.95*700 = 865.
    //   Availability: one 5xx (503) of 6 calls with a status: 5/6. Webhooks
    //   03-02 ok, 03-05 ok, 03-06 failed: 2/3.
    // Week 03-09 (the timeout has no latency and no status): 30 70 100 110
    //   1000. p50 at 2: 100; p95 at 3.8: 110 + 0.8*890 = 822; p99 at 3.96:
    //   110 + 0.96*890 = 964.4. Availability: the 500 of 5: 4/5. Webhook
    //   03-11 ok: 1.
    let got = csv(
        p.path(),
        "latency_p50 latency_p95 latency_p99 availability webhook_success_rate --by week",
    );
    assert_csv(
        &got,
        "week,latency_p50,latency_p95,latency_p99,availability,webhook_success_rate
         2026-03-02,80,725,865,0.8333333333333334,0.6666666666666666
         2026-03-09,100,822,964.4,0.8,1",
    );
    // Over the range, 11 latencies: 30 40 50 60 70 100 100 110 200 900 1000.
    // p50 at 5: 100; p95 at 9.5: 950; p99 at 9.9: 990. Availability 9/11;
    // webhooks 3/4.
    let got = csv(
        p.path(),
        "latency_p50 latency_p95 latency_p99 availability webhook_success_rate",
    );
    assert_csv(
        &got,
        "latency_p50,latency_p95,latency_p99,availability,webhook_success_rate
         100,950,990,0.8181818181818182,0.75",
    );
}

#[test]
fn health_per_endpoint() {
    let p = catalog();
    // /v1/charges: 8 calls (d0 x2, d1 x3, d2 x2, d4), errors 401 and 500:
    //   2/8, the 500 is the only 5xx: 7/8. Latencies 40 50 60 70 100 100 110
    //   1000: p50 at 3.5: (70+100)/2 = 85; p95 at 6.65: 110 + 0.65*890 =
    //   688.5; p99 at 6.93: 110 + 0.93*890 = 937.7.
    // /v1/customers: the 404 and the timeout; only the 404 has a status
    //   (1/1 errors, no 5xx) and a latency (30).
    // /v1/refunds: 200 (200ms) and 503 (900ms): 1/2 both; p50 550, p95
    //   200 + 0.95*700 = 865, p99 200 + 0.99*700 = 893.
    let got = csv(
        p.path(),
        "requests error_rate availability latency_p50 latency_p95 latency_p99 --group-by endpoint",
    );
    assert_csv(
        &got,
        "endpoint,requests,error_rate,availability,latency_p50,latency_p95,latency_p99
         /v1/charges,8,0.25,0.875,85,688.5,937.7
         /v1/customers,2,1,1,30,30,30
         /v1/refunds,2,0.5,0.5,550,865,893",
    );
}
