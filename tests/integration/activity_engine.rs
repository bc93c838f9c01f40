//! The activity engines (`active`/`churn` memberships and `retention` cells)
//! against naive references written from the definitions in
//! docs/SEMANTICS.md, not from the engines: random spines, windows and
//! activity logs with many times exactly on bucket and window edges; random
//! retention specs over event logs in New York (DST days, week starts, local
//! midnights, ties at one instant); the retention state compaction; plus
//! hand-computed cases for each rule.

use chrono::{DateTime, Duration, NaiveDateTime};
use chrono_tz::Tz;
use metricc::lower::activity::{Rule, rolling_micros, spec as active_spec};
use metricc::lower::functions::activity::{
    COHORT, Calendar, Cell, Ev, RETURN, RetentionSpec, Test, active, compact, retention, unit,
};
use metricc::lower::time::{self, Bucket, Range};
use metricc::syntax::ast::{Grain, Weekday};
use proptest::prelude::*;
use std::collections::BTreeMap;

// ------------------------------------------------------------------ helpers

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Microseconds.
const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// The zone of the retention cases: DST on 2026-03-08 (02:00 skipped) and
/// 2026-11-01 (01:00-02:00 twice).
const NY: Tz = chrono_tz::America::New_York;

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

const TESTS: [Test; 6] = [
    Test::Active,
    Test::Previous,
    Test::Churned,
    Test::New,
    Test::Returning,
    Test::Resurrected,
];

/// A wall-clock time written `YYYY-MM-DD HH:MM`.
fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn micros(n: i64) -> Duration {
    Duration::microseconds(n)
}

/// Wall-clock microseconds (or UTC instant microseconds) back to a
/// `NaiveDateTime`.
fn naive(us: i64) -> NaiveDateTime {
    DateTime::from_timestamp_micros(us).unwrap().naive_utc()
}

/// Microseconds since the epoch of a UTC time written `YYYY-MM-DD HH:MM`.
fn utc(s: &str) -> i64 {
    at(s).and_utc().timestamp_micros()
}

/// The local wall-clock time of an instant, as wall microseconds.
fn wall_of(tz: Tz, instant: i64) -> i64 {
    let local = DateTime::from_timestamp_micros(instant)
        .unwrap()
        .with_timezone(&tz)
        .naive_local();
    time::wall_micros(local)
}

fn weekday_number(w: Weekday) -> u32 {
    WEEKDAYS.iter().position(|d| *d == w).unwrap() as u32
}

/// The retention calendar of a grain (written here, not taken from the
/// planner).
fn calendar(grain: Grain, week_start: Weekday) -> Calendar {
    match grain {
        Grain::Hour => Calendar::Hour,
        Grain::Day => Calendar::Day,
        Grain::Week => Calendar::Week(weekday_number(week_start)),
        Grain::Month => Calendar::Month,
        Grain::Quarter => Calendar::Quarter,
        Grain::Year => Calendar::Year,
    }
}

fn pick<T: Copy>(xs: &[T], i: u64) -> T {
    xs[(i % xs.len() as u64) as usize]
}

/// A deterministic Fisher-Yates shuffle: input order must not matter.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((seed >> 33) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

fn sorted(mut cells: Vec<Cell>) -> Vec<Cell> {
    cells.sort();
    cells
}

// ------------------------------------------------------ reference: active

/// One membership's windows at one bucket: the current window `[c, e)` and,
/// for churn rules, the previous window `[p, c)`.
#[derive(Debug, Clone, Copy)]
struct Windows {
    previous: Option<(NaiveDateTime, NaiveDateTime)>,
    current: (NaiveDateTime, NaiveDateTime),
}

/// The windows of `rule` at a bucket ending at `e` (wall-clock arithmetic:
/// a day is 24 hours of wall-clock time whatever the zone).
fn reference_windows(rule: Rule, e: NaiveDateTime, week_start: Weekday) -> Windows {
    match rule {
        Rule::Trailing(ms) => Windows {
            previous: None,
            current: (e - Duration::milliseconds(ms), e),
        },
        Rule::ToDate(g) => Windows {
            previous: None,
            current: (time::truncate(g, week_start, e - micros(1)), e),
        },
        Rule::Churn(ms) => {
            let w = Duration::milliseconds(ms);
            Windows {
                previous: Some((e - w - w, e - w)),
                current: (e - w, e),
            }
        }
    }
}

/// `[member][bucket]` windows.
fn reference_table(
    members: &[(Test, Rule)],
    buckets: &[Bucket],
    week_start: Weekday,
) -> Vec<Vec<Windows>> {
    members
        .iter()
        .map(|(_, rule)| {
            buckets
                .iter()
                .map(|b| reference_windows(*rule, b.end, week_start))
                .collect()
        })
        .collect()
}

/// Whether an entity with activity at `times` (any order, duplicates
/// allowed) holds `test` with windows `w`, straight from the definitions.
fn reference_holds(test: Test, w: &Windows, times: &[NaiveDateTime]) -> bool {
    let any_in =
        |(lo, hi): (NaiveDateTime, NaiveDateTime)| times.iter().any(|t| lo <= *t && *t < hi);
    let any_before = |x: NaiveDateTime| times.iter().any(|t| *t < x);
    let current = any_in(w.current);
    let previous = w.previous.is_some_and(any_in);
    // Only churn rules carry a previous window; the others are only ever
    // tested for `Active`.
    let previous_start = w.previous.map_or(w.current.0, |p| p.0);
    match test {
        Test::Active => current,
        Test::Previous => previous,
        Test::Churned => previous && !current,
        Test::New => current && !any_before(w.current.0),
        Test::Returning => current && previous,
        Test::Resurrected => current && !previous && any_before(previous_start),
    }
}

/// `[bucket][member]` memberships by the reference.
fn reference_active(
    members: &[(Test, Rule)],
    buckets: &[Bucket],
    week_start: Weekday,
    times: &[NaiveDateTime],
) -> Vec<Vec<bool>> {
    let table = reference_table(members, buckets, week_start);
    (0..buckets.len())
        .map(|b| {
            members
                .iter()
                .enumerate()
                .map(|(i, (test, _))| reference_holds(*test, &table[i][b], times))
                .collect()
        })
        .collect()
}

/// The engine's rows, called as the aggregate calls it, checked for shape
/// and unpacked to `[bucket][member]`.
fn engine_rows(
    members: &[(Test, Rule)],
    buckets: &[Bucket],
    week_start: Weekday,
    times: &[NaiveDateTime],
) -> Vec<(usize, u64)> {
    let spec = active_spec(members, buckets, week_start);
    assert_eq!(
        spec.buckets,
        buckets
            .iter()
            .map(|b| time::wall_micros(b.start))
            .collect::<Vec<_>>(),
        "bucket keys are the periods' starts"
    );
    let mut units: Vec<i64> = times
        .iter()
        .map(|t| unit(&spec, time::wall_micros(*t)))
        .collect();
    units.sort();
    units.dedup();
    active(&spec, &units)
}

fn engine_active(
    members: &[(Test, Rule)],
    buckets: &[Bucket],
    week_start: Weekday,
    times: &[NaiveDateTime],
) -> Vec<Vec<bool>> {
    let rows = engine_rows(members, buckets, week_start, times);
    let mut out = vec![vec![false; members.len()]; buckets.len()];
    let mut last: Option<usize> = None;
    for (b, flags) in rows {
        assert!(b < buckets.len(), "row for bucket {b} of {}", buckets.len());
        assert!(
            last.is_none_or(|l| l < b),
            "rows in bucket order, once each"
        );
        assert_ne!(flags, 0, "a row holds some membership");
        assert_eq!(flags >> members.len(), 0, "no bits past the members");
        for (i, cell) in out[b].iter_mut().enumerate() {
            *cell = flags & (1 << i) != 0;
        }
        last = Some(b);
    }
    out
}

// ----------------------------------------------------- strategies: active

fn window_ms() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(DAY_MS),
        Just(7 * DAY_MS),
        Just(30 * DAY_MS),
        Just(36 * HOUR_MS),
        Just(90 * MINUTE_MS),
        (1i64..4000).prop_map(|m| m * MINUTE_MS),
    ]
}

fn any_grain() -> impl Strategy<Value = Grain> {
    prop_oneof![
        Just(Grain::Hour),
        Just(Grain::Day),
        Just(Grain::Week),
        Just(Grain::Month),
        Just(Grain::Quarter),
        Just(Grain::Year),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        2 => window_ms().prop_map(Rule::Trailing),
        1 => any_grain().prop_map(Rule::ToDate),
        3 => window_ms().prop_map(Rule::Churn),
    ]
}

/// A membership: any test for churn rules, `Active` for the others (the
/// only test the planner asks of them).
fn member() -> impl Strategy<Value = (Test, Rule)> {
    (rule(), 0usize..TESTS.len()).prop_map(|(rule, t)| match rule {
        Rule::Churn(_) => (TESTS[t], rule),
        _ => (Test::Active, rule),
    })
}

/// Where one activity time goes: `(place, a, b, nudge)`.
type Placement = (u8, u64, u64, u8);

fn placement() -> impl Strategy<Value = Placement> {
    (0u8..9, any::<u64>(), any::<u64>(), 0u8..8)
}

/// An activity time: on a bucket's end or start, on a window's start
/// (`e - w`, `e - 2w`, a period start), anywhere around the range, or in
/// the history before it; then often nudged by a microsecond, a second or a
/// minute (`e - 1µs` is bucket end nudged down).
fn place(
    &(kind, a, b, nudge): &Placement,
    buckets: &[Bucket],
    table: &[Vec<Windows>],
    range: Range,
) -> NaiveDateTime {
    let bi = (a % buckets.len() as u64) as usize;
    let bucket = buckets[bi];
    let w = table[(b % table.len() as u64) as usize][bi];
    let t = match kind {
        0 | 1 => bucket.end,
        2 => bucket.start,
        3 | 4 => w.current.0,
        5 => w.previous.map_or(w.current.0, |p| p.0),
        6 => {
            // To the second, from two days before the range to a day after.
            let lo = range.from - Duration::days(2);
            let span = (range.to + Duration::days(1) - lo).num_seconds() as u64;
            lo + Duration::seconds((b % span) as i64)
        }
        // History: up to 120 days before the range.
        _ => range.from - Duration::seconds(1 + (b % (120 * 86_400)) as i64),
    };
    match nudge {
        4 => t - micros(1),
        5 => t + micros(1),
        6 => t - Duration::seconds(1),
        7 => t + Duration::minutes(1),
        _ => t,
    }
}

#[derive(Debug, Clone)]
struct ActiveCase {
    grain: Grain,
    week_start: Weekday,
    range: Range,
    buckets: Vec<Bucket>,
    members: Vec<(Test, Rule)>,
    times: Vec<NaiveDateTime>,
}

fn active_case() -> impl Strategy<Value = ActiveCase> {
    (
        prop_oneof![
            1 => Just(Grain::Hour),
            3 => Just(Grain::Day),
            2 => Just(Grain::Week),
            2 => Just(Grain::Month),
        ],
        0usize..7,
        0i64..400,
        prop_oneof![Just(0i64), 1i64..1440],
        1i64..=1000,
        any::<bool>(),
        proptest::collection::vec(member(), 1..=5),
        proptest::collection::vec(placement(), 0..40),
    )
        .prop_map(
            |(grain, ws, from_day, from_minute, per_mille, whole_days, members, placements)| {
                let week_start = WEEKDAYS[ws];
                // From a midnight or an odd minute ...
                let from = at("2025-11-01 00:00")
                    + Duration::days(from_day)
                    + Duration::minutes(from_minute);
                // ... for a length that keeps the spine short (at most 48
                // hours, 31 days, 14 weeks or 8 months), in whole days or
                // odd minutes (so the last bucket is often clipped).
                let longest: i64 = match grain {
                    Grain::Hour => 2 * 1440,
                    Grain::Day => 30 * 1440,
                    Grain::Week => 90 * 1440,
                    _ => 200 * 1440,
                };
                let mut minutes = (longest * per_mille / 1000).max(1);
                if whole_days {
                    minutes = (minutes + 1439) / 1440 * 1440;
                }
                let range = Range {
                    from,
                    to: from + Duration::minutes(minutes),
                };
                let buckets =
                    time::spine(Some(grain), week_start, Tz::UTC, range).expect("a spine");
                let table = reference_table(&members, &buckets, week_start);
                let times = placements
                    .iter()
                    .map(|p| place(p, &buckets, &table, range))
                    .collect();
                ActiveCase {
                    grain,
                    week_start,
                    range,
                    buckets,
                    members,
                    times,
                }
            },
        )
}

// --------------------------------------------------- reference: retention

/// An entity's retention cells by the definitions, sorted. Calendar periods
/// come from `time::truncate` / `time::next` on wall-clock time; `grain` and
/// `week_start` are those `spec.calendar` was made from.
fn reference_retention(
    grain: Grain,
    week_start: Weekday,
    spec: &RetentionSpec,
    events: &[Ev],
) -> Vec<Cell> {
    let period_of = |wall: i64| time::truncate(grain, week_start, naive(wall));
    // The cohort starts: the earliest cohort event (lowest prop on ties),
    // overall or per calendar period.
    let mut firsts: BTreeMap<Option<NaiveDateTime>, Ev> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind & COHORT != 0) {
        let key = spec.recurring.then(|| period_of(e.wall));
        let first = firsts.entry(key).or_insert(*e);
        if (e.instant, e.prop) < (first.instant, first.prop) {
            *first = *e;
        }
    }
    // Returns that are read at all.
    let returns: Vec<Ev> = events
        .iter()
        .filter(|e| e.kind & RETURN != 0 && e.wall < spec.to && e.instant < spec.to_instant)
        .copied()
        .collect();
    let to = naive(spec.to);
    let mut out = Vec::new();
    for c in firsts.into_values() {
        if c.wall < spec.from || c.wall >= spec.to {
            continue;
        }
        let cohort = period_of(c.wall);
        // Returns at or after the cohort event's instant.
        let mine: Vec<Ev> = returns
            .iter()
            .filter(|r| r.instant >= c.instant)
            .copied()
            .collect();
        // Under `min_occurrences`: each return's period since the cohort's,
        // and whether a period has enough returns (period 0: one).
        let index = |r: &Ev| -> i64 {
            match spec.rolling {
                Some(len) => (r.instant - c.instant) / len,
                None => {
                    let (mut j, mut s) = (0, cohort);
                    while naive(r.wall) >= time::next(grain, s).unwrap() {
                        s = time::next(grain, s).unwrap();
                        j += 1;
                    }
                    j
                }
            }
        };
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        for r in &mine {
            *counts.entry(index(r)).or_default() += 1;
        }
        let enough = |j: i64, n: usize| {
            n >= if j == 0 {
                1
            } else {
                spec.min_occurrences as usize
            }
        };
        let mut start = cohort; // calendar period k's start
        for k in 0..=spec.periods {
            let end = time::next(grain, start).unwrap();
            let (eligible, returned) = match spec.rolling {
                None => {
                    let hit = mine.iter().any(|r| {
                        let w = naive(r.wall);
                        if spec.on_or_after {
                            w >= start
                        } else {
                            start <= w && w < end
                        }
                    });
                    (start < to, hit)
                }
                Some(len) => {
                    let lo = c.instant + k * len;
                    let hi = lo + len;
                    let hit = mine
                        .iter()
                        .any(|r| r.instant >= lo && (spec.on_or_after || r.instant < hi));
                    (lo < spec.to_instant, hit)
                }
            };
            let returned = if spec.min_occurrences > 1 {
                counts
                    .iter()
                    .any(|(&j, &n)| (j == k || (spec.on_or_after && j > k)) && enough(j, n))
            } else {
                returned
            };
            out.push(Cell {
                cohort: time::wall_micros(cohort),
                period: k,
                eligible,
                retained: eligible && returned,
                prop: c.prop,
            });
            start = end;
        }
    }
    sorted(out)
}

// -------------------------------------------------- strategies: retention

/// Range starts: around both DST changes, a year end, plain winter weeks.
const ANCHORS: [&str; 8] = [
    "2026-02-16 00:00",
    "2026-03-02 00:00",
    "2026-03-08 00:00",
    "2026-10-12 00:00",
    "2026-10-26 00:00",
    "2026-11-01 00:00",
    "2025-12-22 00:00",
    "2026-01-26 00:00",
];

/// Instants around New York's DST changes in 2026.
fn dst_instants() -> Vec<i64> {
    vec![
        utc("2026-03-08 05:00"),     // 03-08 00:00 EST, the short day's midnight
        utc("2026-03-08 07:00") - 1, // 01:59:59.999999 EST
        utc("2026-03-08 07:00"),     // 03:00 EDT, right after the gap
        utc("2026-03-09 04:00"),     // 03-09 00:00 EDT
        utc("2026-11-01 04:00"),     // 11-01 00:00 EDT, the long day's midnight
        utc("2026-11-01 05:30"),     // 01:30 EDT, first time
        utc("2026-11-01 06:00") - 1, // 01:59:59.999999 EDT
        utc("2026-11-01 06:00"),     // 01:00 EST, the hour again
        utc("2026-11-01 06:30"),     // 01:30 EST, second time
        utc("2026-11-02 05:00"),     // 11-02 00:00 EST
    ]
}

/// One event of the log: `(place, a, b, nudge, kind, prop)`.
type EvPlacement = (u8, u64, u64, u8, u8, u32);

fn ev_placement() -> impl Strategy<Value = EvPlacement> {
    (0u8..13, any::<u64>(), any::<u64>(), 0u8..8, 0u8..5, 0u32..4)
}

#[derive(Debug, Clone)]
struct RetentionCase {
    grain: Grain,
    week_start: Weekday,
    spec: RetentionSpec,
    events: Vec<Ev>,
    /// Bits choosing the halves of the merge property.
    split: u64,
}

fn retention_case() -> impl Strategy<Value = RetentionCase> {
    (
        prop_oneof![
            1 => Just(Grain::Hour),
            3 => Just(Grain::Day),
            3 => Just(Grain::Week),
            2 => Just(Grain::Month),
            1 => Just(Grain::Quarter),
        ],
        0usize..7,
        0i64..=6,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..ANCHORS.len(),
        0i64..21,
        1i64..=1000,
        proptest::collection::vec(ev_placement(), 0..40),
        any::<u64>(),
    )
        .prop_map(
            |(
                grain,
                ws,
                periods,
                recurring,
                on_or_after,
                rolling,
                anchor,
                from_day,
                per_mille,
                placements,
                seed,
            )| {
                let week_start = WEEKDAYS[ws];
                let from = at(ANCHORS[anchor]) + Duration::days(from_day);
                // Range length and history depth in days, by grain.
                let (shortest, longest, history): (i64, i64, i64) = match grain {
                    Grain::Hour => (1, 3, 2),
                    Grain::Day => (1, 30, 10),
                    Grain::Week => (1, 70, 40),
                    Grain::Month => (1, 150, 100),
                    _ => (30, 300, 100),
                };
                let days = (longest * per_mille / 1000).max(shortest);
                let to = from + Duration::days(days);
                let from_instant = time::local_to_utc_micros(NY, from);
                let to_instant = time::local_to_utc_micros(NY, to);
                let len = rolling_micros(grain);
                let spec = RetentionSpec {
                    calendar: calendar(grain, week_start),
                    periods,
                    recurring,
                    on_or_after,
                    rolling: rolling.then_some(len),
                    from: time::wall_micros(from),
                    to: time::wall_micros(to),
                    to_instant,
                    min_occurrences: 1 + (history as u32 % 3),
                };
                let lo = from_instant - history * DAY;
                let anywhere = |a: u64| lo + (a % (to_instant - lo) as u64) as i64;
                let mut instants: Vec<i64> = Vec::new();
                let mut events = Vec::new();
                for &(place, a, b, nudge, kind, prop) in &placements {
                    let t = match place {
                        // A local midnight from 10 days before the range to its end.
                        3 => {
                            let day = (from - Duration::days(10))
                                + Duration::days((a % (days as u64 + 11)) as i64);
                            time::local_to_utc_micros(NY, day)
                        }
                        // A calendar period start (or the next one).
                        4 => {
                            let first = from - Duration::days(history);
                            let span = (to - first).num_seconds() as u64;
                            let wall = first + Duration::seconds((a % span) as i64);
                            let mut start = time::truncate(grain, week_start, wall);
                            if b % 2 == 1 {
                                start = time::next(grain, start).unwrap();
                            }
                            time::local_to_utc_micros(NY, start)
                        }
                        5 => pick(&dst_instants(), a),
                        // The very instant of an earlier event.
                        6 | 7 if !instants.is_empty() => pick(&instants, b),
                        // k rolling periods after an earlier event.
                        8 | 9 if !instants.is_empty() => pick(&instants, b) + (a % 4) as i64 * len,
                        // After `to` (never read) ...
                        10 => to_instant + (a % (3 * DAY) as u64) as i64,
                        // ... or before `from`.
                        11 => from_instant - 1 - (a % (60 * DAY) as u64) as i64,
                        _ => anywhere(a),
                    };
                    let t = match nudge {
                        5 => t - 1,
                        6 => t + 1,
                        7 => t + HOUR,
                        _ => t,
                    };
                    instants.push(t);
                    let wall = wall_of(NY, t);
                    let kinds: &[u8] = match kind {
                        0 | 1 => &[COHORT],
                        2 | 3 => &[RETURN],
                        // Matching both predicates: one event of each kind.
                        _ => &[COHORT, RETURN],
                    };
                    for &k in kinds {
                        events.push(Ev {
                            instant: t,
                            wall,
                            kind: k,
                            prop: if k == COHORT { prop } else { 0 },
                        });
                    }
                }
                shuffle(&mut events, seed.rotate_left(29));
                RetentionCase {
                    grain,
                    week_start,
                    spec,
                    events,
                    split: seed,
                }
            },
        )
}

/// A readable log for failure messages.
fn show(events: &[Ev]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "{}Z (wall {}) {} prop {}",
                naive(e.instant),
                naive(e.wall),
                if e.kind == COHORT { "cohort" } else { "return" },
                e.prop
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// --------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Every membership of every bucket, engine against reference.
    #[test]
    fn active_matches_the_reference(case in active_case()) {
        let got = engine_active(&case.members, &case.buckets, case.week_start, &case.times);
        let want = reference_active(&case.members, &case.buckets, case.week_start, &case.times);
        let mut wrong = Vec::new();
        for (b, bucket) in case.buckets.iter().enumerate() {
            for (i, m) in case.members.iter().enumerate() {
                if got[b][i] != want[b][i] {
                    wrong.push(format!(
                        "{:?} over [{}, {}), bucket {b} [{}, {}) member {i} {m:?}: engine {}, reference {}",
                        case.grain, case.range.from, case.range.to,
                        bucket.start, bucket.end, got[b][i], want[b][i]
                    ));
                }
            }
        }
        prop_assert!(wrong.is_empty(), "{}\ntimes: {:?}", wrong.join("\n"), case.times);
    }

    /// Every cell of every cohort, engine against reference.
    #[test]
    fn retention_matches_the_reference(case in retention_case()) {
        let got = sorted(retention(&case.spec, &case.events));
        let want = reference_retention(case.grain, case.week_start, &case.spec, &case.events);
        prop_assert_eq!(got, want, "events:\n{}", show(&case.events));
    }

    /// Compaction keeps the answer, is idempotent, and merges: compacting
    /// two compacted halves together answers as the whole log does. The log
    /// holds only what the scan passes, events before `to`.
    #[test]
    fn compaction_keeps_the_answer(case in retention_case()) {
        let spec = &case.spec;
        let events: Vec<Ev> = case
            .events
            .iter()
            .filter(|e| e.instant < spec.to_instant)
            .copied()
            .collect();
        let whole = sorted(retention(spec, &events));

        let mut once = events.clone();
        compact(spec, &mut once);
        prop_assert_eq!(
            sorted(retention(spec, &once)),
            whole.clone(),
            "compacted:\n{}\nevents:\n{}",
            show(&once),
            show(&events)
        );

        let mut twice = once.clone();
        compact(spec, &mut twice);
        prop_assert_eq!(&twice, &once);

        let (mut left, mut right) = (Vec::new(), Vec::new());
        for (i, e) in events.iter().enumerate() {
            if (case.split >> (i % 64)) & 1 == 1 {
                left.push(*e);
            } else {
                right.push(*e);
            }
        }
        compact(spec, &mut left);
        compact(spec, &mut right);
        let mut merged = left;
        merged.extend(right);
        compact(spec, &mut merged);
        prop_assert_eq!(
            sorted(retention(spec, &merged)),
            whole,
            "merged:\n{}\nevents:\n{}",
            show(&merged),
            show(&events)
        );
    }
}

// ------------------------------------------------------- by hand: active

/// The spine of `grain` over `[from, to)` (weeks start on Monday; wall-clock
/// time, so no zone is needed).
fn buckets(grain: Grain, from: &str, to: &str) -> Vec<Bucket> {
    let range = Range {
        from: at(from),
        to: at(to),
    };
    time::spine(Some(grain), Weekday::Monday, Tz::UTC, range).unwrap()
}

fn rows(
    members: &[(Test, Rule)],
    buckets: &[Bucket],
    times: &[NaiveDateTime],
) -> Vec<(usize, u64)> {
    engine_rows(members, buckets, Weekday::Monday, times)
}

#[test]
fn dau_and_wau_at_the_window_edges() {
    // Two daily buckets: [01-10, 01-11) and [01-11, 01-12), so e = 01-11 and
    // e = 01-12. Bit 0: DAU (trailing 1d), bit 1: WAU (trailing 7d).
    let days = buckets(Grain::Day, "2026-01-10 00:00", "2026-01-12 00:00");
    let members = [
        (Test::Active, Rule::Trailing(DAY_MS)),
        (Test::Active, Rule::Trailing(7 * DAY_MS)),
    ];
    // Events at 01-04 00:00 (= e - 7d of bucket 0) and 01-11 00:00 (= e of
    // bucket 0). Bucket 0: DAU [01-10, 01-11) holds neither; WAU [01-04,
    // 01-11) holds 01-04 (its start is inclusive), not 01-11 (its end is
    // not). Bucket 1: DAU [01-11, 01-12) and WAU [01-05, 01-12) hold 01-11.
    let edges = [at("2026-01-04 00:00"), at("2026-01-11 00:00")];
    assert_eq!(rows(&members, &days, &edges), vec![(0, 0b10), (1, 0b11)]);
    // One microsecond before e - 7d: in no window.
    assert_eq!(
        rows(&members, &days, &[at("2026-01-04 00:00") - micros(1)]),
        vec![]
    );
    // One microsecond before e of bucket 0: in both of its windows; in
    // bucket 1 only in WAU [01-05, 01-12).
    assert_eq!(
        rows(&members, &days, &[at("2026-01-11 00:00") - micros(1)]),
        vec![(0, 0b11), (1, 0b10)]
    );
}

#[test]
fn trailing_window_of_a_clipped_bucket_ends_at_the_range_end() {
    // A week bucket [01-05, 01-12) clipped by the range to end at
    // 01-07 12:00: DAU is [01-06 12:00, 01-07 12:00).
    let weeks = buckets(Grain::Week, "2026-01-05 00:00", "2026-01-07 12:00");
    assert_eq!(weeks.len(), 1);
    let members = [(Test::Active, Rule::Trailing(DAY_MS))];
    assert_eq!(
        rows(&members, &weeks, &[at("2026-01-06 12:00")]),
        vec![(0, 1)]
    );
    assert_eq!(rows(&members, &weeks, &[at("2026-01-07 12:00")]), vec![]);
    assert_eq!(rows(&members, &weeks, &[at("2026-01-06 11:59")]), vec![]);
}

#[test]
fn month_to_date_restarts_with_the_month() {
    // Buckets [01-31, 02-01) and [02-01, 02-02). Month to date: bucket 0
    // reads [01-01, 02-01), bucket 1 reads [02-01, 02-02).
    let days = buckets(Grain::Day, "2026-01-31 00:00", "2026-02-02 00:00");
    let members = [(Test::Active, Rule::ToDate(Grain::Month))];
    assert_eq!(
        rows(&members, &days, &[at("2026-01-15 12:00")]),
        vec![(0, 1)]
    );
    assert_eq!(
        rows(&members, &days, &[at("2026-02-01 00:00")]),
        vec![(1, 1)]
    );
}

#[test]
fn churn_lifecycle_at_30_days() {
    // One daily bucket [03-01, 03-02): e = 03-02 00:00. With a 30-day
    // window (February 2026 has 28 days) the current window is
    // [01-31, 03-02) and the previous one [01-01, 01-31).
    let day = buckets(Grain::Day, "2026-03-01 00:00", "2026-03-02 00:00");
    let w = Rule::Churn(30 * DAY_MS);
    let members = [
        (Test::Active, w),      // 1
        (Test::Previous, w),    // 2
        (Test::Churned, w),     // 4
        (Test::New, w),         // 8
        (Test::Returning, w),   // 16
        (Test::Resurrected, w), // 32
    ];
    let flags = |times: &[&str]| {
        let times: Vec<NaiveDateTime> = times.iter().map(|s| at(s)).collect();
        rows(&members, &day, &times)
    };
    // Active 40 days before e (01-21) and not since: previous only, churned.
    assert_eq!(flags(&["2026-01-21 00:00"]), vec![(0, 2 | 4)]);
    // First seen in the current window: active and new.
    assert_eq!(flags(&["2026-02-15 09:30"]), vec![(0, 1 | 8)]);
    // Seen long ago (12-01), silent through the previous window, back now:
    // active and resurrected, not new.
    assert_eq!(
        flags(&["2025-12-01 10:00", "2026-02-20 10:00"]),
        vec![(0, 1 | 32)]
    );
    // In both windows: active, previous, returning.
    assert_eq!(
        flags(&["2026-01-10 10:00", "2026-02-10 10:00"]),
        vec![(0, 1 | 2 | 16)]
    );
    // On the edges: 01-01 00:00 opens the previous window, 01-31 00:00 the
    // current one.
    assert_eq!(
        flags(&["2026-01-01 00:00", "2026-01-31 00:00"]),
        vec![(0, 1 | 2 | 16)]
    );
    // A microsecond before the current window is still the previous one.
    assert_eq!(
        rows(&members, &day, &[at("2026-01-31 00:00") - micros(1)]),
        vec![(0, 2 | 4)]
    );
    // Only before both windows (dormant long ago): no membership.
    assert_eq!(flags(&["2025-12-01 10:00"]), vec![]);
}

// ---------------------------------------------------- by hand: retention

/// An event at New York wall-clock time `s`.
fn ny(s: &str, kind: u8, prop: u32) -> Ev {
    Ev {
        instant: time::local_to_utc_micros(NY, at(s)),
        wall: time::wall_micros(at(s)),
        kind,
        prop,
    }
}

/// A return `delta` microseconds of real time after event `e`.
fn return_after(e: &Ev, delta: i64) -> Ev {
    let instant = e.instant + delta;
    Ev {
        instant,
        wall: wall_of(NY, instant),
        kind: RETURN,
        prop: 0,
    }
}

/// Weekly (Monday) retention over `[from, to)` in New York, periods 0..=2.
fn weekly(from: &str, to: &str) -> RetentionSpec {
    RetentionSpec {
        calendar: Calendar::Week(0),
        periods: 2,
        recurring: false,
        on_or_after: false,
        rolling: None,
        from: time::wall_micros(at(from)),
        to: time::wall_micros(at(to)),
        to_instant: time::local_to_utc_micros(NY, at(to)),
        min_occurrences: 1,
    }
}

fn cell(cohort: &str, period: i64, eligible: bool, retained: bool, prop: u32) -> Cell {
    Cell {
        cohort: time::wall_micros(at(cohort)),
        period,
        eligible,
        retained,
        prop,
    }
}

#[test]
fn weekly_first_time_retention() {
    // Signup Wednesday 01-07 10:00 (its week starts Monday 01-05), a return
    // at the very same instant (period 0), one Tuesday 01-13 (week of 01-12:
    // period 1), none in the week of 01-19 (period 2). A second signup on
    // 01-14 is not a first time.
    let signup = ny("2026-01-07 10:00", COHORT, 1);
    let events = vec![
        ny("2026-01-13 09:00", RETURN, 0),
        signup,
        ny("2026-01-07 10:00", RETURN, 0),
        ny("2026-01-14 08:00", COHORT, 3),
    ];
    let spec = weekly("2026-01-05 00:00", "2026-02-02 00:00");
    assert_eq!(
        sorted(retention(&spec, &events)),
        vec![
            cell("2026-01-05 00:00", 0, true, true, 1),
            cell("2026-01-05 00:00", 1, true, true, 1),
            cell("2026-01-05 00:00", 2, true, false, 1),
        ]
    );

    // Only the 01-13 return (and one before the signup, which never
    // counts): `on` retains at 1 only; `on_or_after` at 0 and 1 (a return at
    // or after the start of period 0 and of period 1), not at 2.
    let events = vec![
        signup,
        ny("2026-01-07 09:59", RETURN, 0),
        ny("2026-01-13 09:00", RETURN, 0),
    ];
    assert_eq!(
        sorted(retention(&spec, &events)),
        vec![
            cell("2026-01-05 00:00", 0, true, false, 1),
            cell("2026-01-05 00:00", 1, true, true, 1),
            cell("2026-01-05 00:00", 2, true, false, 1),
        ]
    );
    let after = RetentionSpec {
        on_or_after: true,
        ..spec.clone()
    };
    assert_eq!(
        sorted(retention(&after, &events)),
        vec![
            cell("2026-01-05 00:00", 0, true, true, 1),
            cell("2026-01-05 00:00", 1, true, true, 1),
            cell("2026-01-05 00:00", 2, true, false, 1),
        ]
    );

    // With `to` = 01-19 00:00 period 2 (starting 01-19) has not begun: not
    // eligible, so not retained.
    let short = weekly("2026-01-05 00:00", "2026-01-19 00:00");
    assert_eq!(
        sorted(retention(&short, &events)),
        vec![
            cell("2026-01-05 00:00", 0, true, false, 1),
            cell("2026-01-05 00:00", 1, true, true, 1),
            cell("2026-01-05 00:00", 2, false, false, 1),
        ]
    );

    // A first signup before `from` puts the entity in no cohort.
    let early = vec![ny("2026-01-02 10:00", COHORT, 0), signup];
    assert_eq!(retention(&spec, &early), vec![]);
}

#[test]
fn rolling_weeks_count_real_time_from_the_cohort_event() {
    let spec = RetentionSpec {
        rolling: Some(7 * DAY),
        ..weekly("2026-01-05 00:00", "2026-02-02 00:00")
    };
    let signup = ny("2026-01-07 10:00", COHORT, 0);
    // 6 days 23 hours later: still period 0 ([c, c + 7d)).
    let early = vec![signup, return_after(&signup, 6 * DAY + 23 * HOUR)];
    assert_eq!(
        sorted(retention(&spec, &early)),
        vec![
            cell("2026-01-05 00:00", 0, true, true, 0),
            cell("2026-01-05 00:00", 1, true, false, 0),
            cell("2026-01-05 00:00", 2, true, false, 0),
        ]
    );
    // Exactly 7 days later: period 1, not 0 or 2.
    let week = vec![signup, return_after(&signup, 7 * DAY)];
    assert_eq!(
        sorted(retention(&spec, &week)),
        vec![
            cell("2026-01-05 00:00", 0, true, false, 0),
            cell("2026-01-05 00:00", 1, true, true, 0),
            cell("2026-01-05 00:00", 2, true, false, 0),
        ]
    );

    // Across the spring-forward change: Thursday 03-05 10:00 EST to
    // Thursday 03-12 10:00 EDT is 6 days 23 hours of real time, so the
    // same wall-clock time a week later is still rolling period 0. The
    // cohort is still labelled by its calendar week (Monday 03-02).
    let spec = RetentionSpec {
        rolling: Some(7 * DAY),
        ..weekly("2026-03-02 00:00", "2026-04-06 00:00")
    };
    let events = vec![
        ny("2026-03-05 10:00", COHORT, 2),
        ny("2026-03-12 10:00", RETURN, 0),
    ];
    assert_eq!(
        sorted(retention(&spec, &events)),
        vec![
            cell("2026-03-02 00:00", 0, true, true, 2),
            cell("2026-03-02 00:00", 1, true, false, 2),
            cell("2026-03-02 00:00", 2, true, false, 2),
        ]
    );

    // Rolling eligibility: with `to` = 01-14 00:00, period 1 would begin at
    // 01-14 10:00, after `to`: only period 0 is eligible.
    let spec = RetentionSpec {
        rolling: Some(7 * DAY),
        ..weekly("2026-01-05 00:00", "2026-01-14 00:00")
    };
    let same = vec![signup, ny("2026-01-07 10:00", RETURN, 0)];
    assert_eq!(
        sorted(retention(&spec, &same)),
        vec![
            cell("2026-01-05 00:00", 0, true, true, 0),
            cell("2026-01-05 00:00", 1, false, false, 0),
            cell("2026-01-05 00:00", 2, false, false, 0),
        ]
    );
}

#[test]
fn cohort_ties_and_recurring_cohorts() {
    // Daily cohorts over [01-05, 01-12), period 0 only, no returns.
    let spec = RetentionSpec {
        calendar: Calendar::Day,
        periods: 0,
        ..weekly("2026-01-05 00:00", "2026-01-12 00:00")
    };
    let events = vec![
        ny("2026-01-07 10:00", COHORT, 2),
        ny("2026-01-07 12:00", COHORT, 0),
        ny("2026-01-07 10:00", COHORT, 1),
        ny("2026-01-08 09:00", COHORT, 3),
    ];
    // First time: 01-07 10:00, where prop 1 beats prop 2 at the same
    // instant (the later prop 0 does not count).
    assert_eq!(
        retention(&spec, &events),
        vec![cell("2026-01-07 00:00", 0, true, false, 1)]
    );
    // Recurring: one cohort per day with a cohort event.
    let recurring = RetentionSpec {
        recurring: true,
        ..spec.clone()
    };
    assert_eq!(
        sorted(retention(&recurring, &events)),
        vec![
            cell("2026-01-07 00:00", 0, true, false, 1),
            cell("2026-01-08 00:00", 0, true, false, 3),
        ]
    );
    // A cohort event before `from` ends first-time cohorts in range, but a
    // recurring entity still has its in-range days.
    let mut early = events.clone();
    early.push(ny("2026-01-04 08:00", COHORT, 0));
    assert_eq!(retention(&spec, &early), vec![]);
    assert_eq!(
        sorted(retention(&recurring, &early)),
        vec![
            cell("2026-01-07 00:00", 0, true, false, 1),
            cell("2026-01-08 00:00", 0, true, false, 3),
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Running the start/stop changes over the buckets rebuilds every
    /// bucket's memberships: what `metricc_running` sums per breakdown value.
    #[test]
    fn transitions_rebuild_every_bucket(
        buckets in 1usize..40,
        raw in proptest::collection::btree_map(0usize..40, 0u64..8, 0..40),
    ) {
        let rows: Vec<(usize, u64)> = raw
            .into_iter()
            .filter(|(b, f)| *b < buckets && *f != 0)
            .collect();
        let changes = metricc::lower::functions::activity::transitions(buckets, &rows);
        let mut held = [0i64; 3];
        for b in 0..buckets {
            for (at, start, stop) in changes.iter().filter(|c| c.0 == b) {
                prop_assert!(*at < buckets);
                for (i, h) in held.iter_mut().enumerate() {
                    *h += i64::from(start >> i & 1 == 1) - i64::from(stop >> i & 1 == 1);
                }
            }
            let want = rows.iter().find(|r| r.0 == b).map_or(0, |r| r.1);
            for (i, h) in held.iter().enumerate() {
                prop_assert_eq!(*h, i64::from(want >> i & 1 == 1), "bucket {} bit {}", b, i);
            }
        }
    }
}
