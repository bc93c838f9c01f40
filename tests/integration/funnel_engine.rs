//! The sequence engine against a naive reference that enumerates every
//! attempt and walks each one on its own: random event logs (ties, duplicate
//! events, unsorted input, several held values, up to 24 steps), plus
//! hand-computed cases for each rule.

use metricc::lower::functions::sweep::{
    Attribution, Event, NO_PROP, Order, OutOfOrder, Outcome, Spec, Stream, ValueOrder, evaluate,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- reference

/// Held and breakdown values numbered `value ^ mask`, for a stream.
struct Scrambled(u32);

impl ValueOrder for Scrambled {
    fn hold(&self, a: u32, b: u32) -> std::cmp::Ordering {
        (a ^ self.0).cmp(&(b ^ self.0))
    }
    fn prop(&self, a: u32, b: u32) -> std::cmp::Ordering {
        (a ^ self.0).cmp(&(b ^ self.0))
    }
}

fn rank(e: &Event) -> u32 {
    if e.steps == 0 {
        u32::MAX
    } else {
        e.steps.trailing_zeros()
    }
}

/// Events that differ at most in their breakdown value are one event (the
/// first in the order above, the lowest value, stays).
fn same_event(a: &Event, b: &Event) -> bool {
    (a.hold, a.ts, a.steps, a.excl, a.bucket) == (b.hold, b.ts, b.steps, b.excl, b.bucket)
}

fn can_start(spec: &Spec, ts: i64) -> bool {
    spec.start_from.is_none_or(|f| ts >= f) && spec.start_to.is_none_or(|t| ts < t)
}

fn matches(e: &Event, step: usize) -> bool {
    e.steps & (1 << step) != 0
}

struct Walk {
    start: usize,
    positions: Vec<usize>,
}

/// The last instant the attempt may take its next step, after `level` steps.
fn deadline(spec: &Spec, ev: &[Event], w: &Walk, level: usize) -> i64 {
    let mut d = ev[w.start].ts.saturating_add(spec.window);
    if let Some(Some(sw)) = spec.step_windows.get(level) {
        d = d.min(ev[w.positions[level - 1]].ts.saturating_add(*sw));
    }
    d
}

/// One attempt from `start`, each step the first fitting event after the last.
fn walk(spec: &Spec, ev: &[Event], start: usize) -> Walk {
    let mut w = Walk {
        start,
        positions: vec![start],
    };
    while w.positions.len() < spec.steps {
        let k = w.positions.len();
        let cur = *w.positions.last().unwrap();
        let limit = deadline(spec, ev, &w, k);
        // `strict_increase`: the step's event must be strictly later, so
        // the same event never serves twice.
        let later = |p: usize| !spec.strict_increase || ev[p].ts > ev[cur].ts;
        let first = if spec.reuse && matches(&ev[cur], k) && later(cur) {
            cur
        } else {
            cur + 1
        };
        let found = if spec.order == Order::Strict {
            (first < ev.len() && matches(&ev[first], k) && later(first)).then_some(first)
        } else {
            (first..ev.len()).find(|&p| matches(&ev[p], k) && later(p))
        };
        match found {
            Some(p) if ev[p].ts <= limit => w.positions.push(p),
            _ => break,
        }
    }
    w
}

fn disqualified(spec: &Spec, ev: &[Event], w: &Walk) -> bool {
    let last = *w.positions.last().unwrap();
    (0..ev.len()).any(|q| {
        let x = &ev[q];
        spec.exclusions.iter().enumerate().any(|(k, &(a, b))| {
            if x.excl & (1 << k) == 0 {
                return false;
            }
            let level_q = w.positions.iter().filter(|p| **p <= q).count();
            if level_q <= a || level_q > b || w.positions[a] >= q {
                return false;
            }
            // Still live when the event comes.
            if spec.order == Order::Strict {
                return q <= last;
            }
            let t = x.ts;
            if ev[w.start].ts == t {
                return true;
            }
            let before = w.positions.iter().filter(|p| ev[**p].ts < t).count();
            deadline(spec, ev, w, before) >= t
        })
    })
}

struct Cand {
    level: usize,
    start_ts: i64,
    start_pos: usize,
    times: Vec<i64>,
    prop: u32,
    /// Under `exclude_entity`: the attempt saw an exclusion.
    excluded: bool,
}

/// Under `first_complete`, the earlier reach of the last step ranks higher.
fn reached(spec: &Spec, c: &Cand) -> i64 {
    if spec.first_complete {
        -c.times[c.level - 1]
    } else {
        0
    }
}

fn reference(spec: &Spec, events: &[Event]) -> Vec<Outcome> {
    let mut ev = events.to_vec();
    ev.sort_by_key(|e| (e.hold, e.ts, rank(e), e.steps, e.prop, e.excl, e.bucket));
    ev.dedup_by(|b, a| same_event(a, b));
    let mut best: BTreeMap<i64, Cand> = BTreeMap::new();
    let holds: Vec<u32> = {
        let mut h: Vec<u32> = ev.iter().map(|e| e.hold).collect();
        h.dedup();
        h
    };
    for hold in holds {
        let part: Vec<Event> = ev.iter().filter(|e| e.hold == hold).copied().collect();
        let mut mine: BTreeMap<i64, Cand> = BTreeMap::new();
        let mut consider = |bucket: i64, c: Cand| {
            let better = mine.get(&bucket).is_none_or(|b| {
                (c.level, reached(spec, &c), c.start_ts, c.start_pos)
                    > (b.level, reached(spec, b), b.start_ts, b.start_pos)
            });
            if better {
                mine.insert(bucket, c);
            }
        };
        if spec.order == Order::Any {
            let first = part.iter().position(|e| e.steps != 0);
            for (s, e) in part.iter().enumerate() {
                if e.steps == 0 || (spec.first_only && Some(s) != first) || !can_start(spec, e.ts) {
                    continue;
                }
                let end = e.ts.saturating_add(spec.window);
                let mut hits: Vec<(i64, usize, usize)> = Vec::new();
                for step in 0..spec.steps {
                    if let Some(p) = (0..part.len()).find(|&p| {
                        part[p].ts >= e.ts && part[p].ts <= end && matches(&part[p], step)
                    }) {
                        hits.push((part[p].ts, p, step));
                    }
                }
                hits.sort();
                let prop = match spec.attribution {
                    Attribution::FirstStep => e.prop,
                    Attribution::LastStep => part[hits.last().unwrap().1].prop,
                    Attribution::Step(n) => hits
                        .iter()
                        .find(|h| h.2 == n)
                        .map_or(NO_PROP, |h| part[h.1].prop),
                };
                consider(
                    e.bucket,
                    Cand {
                        level: hits.len(),
                        start_ts: e.ts,
                        start_pos: s,
                        times: hits.iter().map(|h| h.0).collect(),
                        prop,
                        excluded: false,
                    },
                );
            }
        } else {
            let first = part.iter().position(|e| matches(e, 0));
            for (s, e) in part.iter().enumerate() {
                if !matches(e, 0) || (spec.first_only && Some(s) != first) || !can_start(spec, e.ts)
                {
                    continue;
                }
                let w = walk(spec, &part, s);
                let excluded = disqualified(spec, &part, &w);
                if excluded && !spec.exclude_entity {
                    continue;
                }
                let level = w.positions.len();
                let prop = match spec.attribution {
                    Attribution::FirstStep => part[w.positions[0]].prop,
                    Attribution::LastStep => part[w.positions[level - 1]].prop,
                    Attribution::Step(n) => w.positions.get(n).map_or(NO_PROP, |p| part[*p].prop),
                };
                consider(
                    e.bucket,
                    Cand {
                        level,
                        start_ts: e.ts,
                        start_pos: s,
                        times: w.positions.iter().map(|p| part[*p].ts).collect(),
                        prop,
                        excluded,
                    },
                );
            }
        }
        for (bucket, c) in mine {
            let better = best.get(&bucket).is_none_or(|b| {
                (c.level, reached(spec, &c), c.start_ts) > (b.level, reached(spec, b), b.start_ts)
            });
            if better {
                best.insert(bucket, c);
            }
        }
    }
    // Under `exclude_entity` a counted attempt that saw an exclusion drops
    // the entity from the period.
    best.into_iter()
        .filter(|(_, c)| !c.excluded)
        .map(|(bucket, c)| Outcome {
            bucket,
            level: c.level,
            times: c.times,
            prop: c.prop,
        })
        .collect()
}

// ---------------------------------------------------------------- properties

fn spec_strategy() -> impl Strategy<Value = Spec> {
    let steps = prop_oneof![4 => 1usize..6, 1 => 20usize..25];
    (
        steps,
        prop_oneof![Just(Order::Ordered), Just(Order::Strict), Just(Order::Any)],
        prop_oneof![0i64..25, Just(i64::MAX)],
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(0i64..10),
        proptest::option::of(5i64..30),
        any::<u64>(),
    )
        .prop_map(
            |(steps, order, window, reuse, first_only, from, to, seed)| {
                let mut r = seed;
                let mut next = |n: u64| {
                    r = r
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (r >> 33) % n.max(1)
                };
                let step_windows = (0..steps)
                    .map(|s| {
                        (s > 0 && order != Order::Any && next(3) == 0).then(|| next(12) as i64)
                    })
                    .collect();
                let mut exclusions = Vec::new();
                if order != Order::Any && steps >= 2 {
                    for _ in 0..next(3) {
                        let a = next(steps as u64 - 1) as usize;
                        let b = a + 1 + next((steps - a - 1) as u64) as usize;
                        exclusions.push((a, b.min(steps - 1)));
                    }
                }
                let attribution = match next(3) {
                    0 => Attribution::FirstStep,
                    1 => Attribution::LastStep,
                    _ => Attribution::Step(next(steps as u64) as usize),
                };
                Spec {
                    steps,
                    order,
                    window,
                    step_windows,
                    reuse,
                    strict_increase: order != Order::Any && next(3) == 0,
                    strict_deduplication: false,
                    first_complete: next(3) == 0,
                    exclude_entity: next(2) == 0,
                    exclusions,
                    attribution,
                    first_only,
                    start_from: from,
                    start_to: to,
                }
            },
        )
}

fn events_strategy(steps: usize) -> impl Strategy<Value = Vec<Event>> {
    let mask = (1u64 << steps) - 1;
    let one = (
        0i64..30,
        prop_oneof![
            3 => (0..steps).prop_map(|s| 1u32 << s),
            1 => any::<u32>().prop_map(move |m| (m as u64 & mask) as u32),
            1 => Just(0u32),
        ],
        prop_oneof![4 => Just(0u32), 1 => 1u32..4],
        0u32..3,
        0u32..3,
    )
        .prop_map(|(ts, steps, excl, hold, prop)| Event {
            ts,
            bucket: ts.div_euclid(7),
            steps,
            excl,
            hold,
            prop,
        });
    proptest::collection::vec(one, 0..40)
        .prop_flat_map(|v| {
            // Duplicate some events, then shuffle: input order must not matter.
            let n = v.len();
            (Just(v), proptest::collection::vec(0..n.max(1), 0..5)).prop_map(|(mut v, dups)| {
                for d in dups {
                    if let Some(e) = v.get(d).copied() {
                        v.push(e);
                    }
                }
                v
            })
        })
        .prop_shuffle()
}

fn case_strategy() -> impl Strategy<Value = (Spec, Vec<Event>)> {
    spec_strategy().prop_flat_map(|spec| {
        let steps = spec.steps;
        (Just(spec), events_strategy(steps))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_reference((spec, events) in case_strategy()) {
        let mut input = events.clone();
        let got = evaluate(&spec, &mut input);
        let want = reference(&spec, &events);
        prop_assert_eq!(got, want);
    }

    /// Fed in time order (ties in any order), one event at a time, a
    /// stream gives the engine's answer, with held and breakdown values as
    /// ids whose numbers do not follow the values' order (`mask` scrambles
    /// them; the stream compares them through the values).
    #[test]
    fn a_stream_in_time_order_gives_the_engines_answer(
        (spec, events) in case_strategy(),
        mask in 0u32..64,
        clickhouse in 0u8..4,
    ) {
        // ClickHouse's modes (as in `clickhouse_scan_matches_its_reference`)
        // a quarter of the time each.
        let spec = match clickhouse {
            0 | 1 => spec,
            c => clickhouse_spec(spec, c == 2, c == 3),
        };
        let mut input = events.clone();
        let want = evaluate(&spec, &mut input);
        let mut in_time = events.clone();
        in_time.sort_by_key(|e| e.ts);
        let order = Scrambled(mask);
        let mut stream = Stream::new(&spec);
        for e in in_time {
            let scrambled = Event { hold: e.hold ^ mask, prop: e.prop ^ mask, ..e };
            prop_assert_eq!(stream.push(scrambled, &order), Ok(()));
        }
        let got: Vec<Outcome> = stream
            .finish(&order)
            .into_iter()
            .map(|o| Outcome { prop: if o.prop == NO_PROP { o.prop } else { o.prop ^ mask }, ..o })
            .collect();
        prop_assert_eq!(got, want);
    }

    /// Without step windows and exclusions, the first-match walk reaches as
    /// far as any ordered chain could (the windowFunnel definition).
    #[test]
    fn greedy_walk_is_the_longest_chain((spec, events) in case_strategy()) {
        let spec = Spec {
            order: Order::Ordered,
            step_windows: vec![None; spec.steps],
            exclusions: vec![],
            first_only: false,
            ..spec
        };
        let mut ev = events.clone();
        let outcomes = evaluate(&spec, &mut ev);
        let mut sorted = events.clone();
        sorted.sort_by_key(|e| (e.hold, e.ts, rank(e), e.steps, e.prop, e.excl, e.bucket));
        sorted.dedup_by(|b, a| same_event(a, b));
        for o in outcomes {
            let longest = sorted
                .iter()
                .enumerate()
                .filter(|(_, e)| matches(e, 0) && e.bucket == o.bucket && can_start(&spec, e.ts))
                .map(|(s, _)| longest_chain(&spec, &sorted, s))
                .max()
                .unwrap_or(0);
            prop_assert_eq!(o.level, longest);
        }
    }
}

/// Depth-first over every chain of distinct, ordered events from `start`.
fn longest_chain(spec: &Spec, ev: &[Event], start: usize) -> usize {
    fn go(spec: &Spec, ev: &[Event], hold: u32, end: i64, at: usize, level: usize) -> usize {
        if level == spec.steps {
            return level;
        }
        let from = if spec.reuse { at } else { at + 1 };
        let mut best = level;
        for p in from..ev.len() {
            let later = !spec.strict_increase || ev[p].ts > ev[at].ts;
            if ev[p].hold == hold && ev[p].ts <= end && matches(&ev[p], level) && later {
                best = best.max(go(spec, ev, hold, end, p, level + 1));
                if best == spec.steps {
                    break;
                }
            }
        }
        best
    }
    let end = ev[start].ts.saturating_add(spec.window);
    go(spec, ev, ev[start].hold, end, start, 1)
}

// ---------------------------------------------------------------- by hand

fn ev(ts: i64, steps: u32) -> Event {
    Event {
        ts,
        bucket: 0,
        steps,
        excl: 0,
        hold: 0,
        prop: 0,
    }
}

fn spec(steps: usize, order: Order, window: i64) -> Spec {
    Spec {
        order,
        ..Spec::ordered(steps, window)
    }
}

/// `spec` as ClickHouse's scan runs it: `strict_order` and
/// `strict_deduplication` as given, and none of what it refuses.
fn clickhouse_spec(spec: Spec, strict_order: bool, dedup: bool) -> Spec {
    Spec {
        order: if strict_order {
            Order::StrictOrder
        } else {
            Order::Ordered
        },
        strict_deduplication: dedup,
        first_complete: false,
        exclude_entity: false,
        step_windows: vec![None; spec.steps],
        exclusions: vec![],
        reuse: true,
        first_only: false,
        ..spec
    }
}

fn levels(spec: &Spec, mut events: Vec<Event>) -> Vec<(usize, Vec<i64>)> {
    evaluate(spec, &mut events)
        .into_iter()
        .map(|o| (o.level, o.times))
        .collect()
}

#[test]
fn window_edge_is_inclusive() {
    let s = spec(2, Order::Ordered, 10);
    assert_eq!(
        levels(&s, vec![ev(0, 1), ev(10, 2)]),
        vec![(2, vec![0, 10])]
    );
    assert_eq!(levels(&s, vec![ev(0, 1), ev(11, 2)]), vec![(1, vec![0])]);
}

#[test]
fn ordered_allows_other_events_strict_does_not() {
    let events = vec![ev(0, 1), ev(1, 0), ev(2, 2)];
    assert_eq!(levels(&spec(2, Order::Ordered, 9), events.clone())[0].0, 2);
    assert_eq!(levels(&spec(2, Order::Strict, 9), events)[0].0, 1);
}

#[test]
fn any_order_counts_distinct_steps() {
    // Step 3 first, then step 1, then step 2: all three within the window.
    let s = spec(3, Order::Any, 5);
    assert_eq!(
        levels(&s, vec![ev(0, 4), ev(1, 1), ev(2, 2)])[0],
        (3, vec![0, 1, 2])
    );
    let ordered = spec(3, Order::Ordered, 5);
    assert_eq!(levels(&ordered, vec![ev(0, 4), ev(1, 1), ev(2, 2)])[0].0, 2);
}

#[test]
fn reuse_lets_one_event_be_two_steps() {
    // A first call that succeeds is also the first successful call.
    let mut s = spec(3, Order::Ordered, 9);
    let events = vec![ev(0, 1), ev(1, 2 | 4)];
    assert_eq!(levels(&s, events.clone())[0].0, 2);
    s.reuse = true;
    assert_eq!(levels(&s, events)[0], (3, vec![0, 1, 1]));
}

#[test]
fn re_entry_keeps_the_best_attempt_latest_start_on_ties() {
    // Two signups; the first reaches step 2, the second reaches step 3.
    let s = spec(3, Order::Ordered, 10);
    let events = vec![ev(0, 1), ev(2, 2), ev(5, 1), ev(14, 4)];
    // Attempt at 0: step 2 at 2, step 3 at 14 > 10 (out). Attempt at 5:
    // step 2 must come after 5: none. The one at 0 (level 2) is best.
    assert_eq!(levels(&s, events)[0], (2, vec![0, 2]));
    // Equal levels: the later start wins.
    let events = vec![ev(0, 1), ev(3, 1), ev(4, 2)];
    assert_eq!(
        levels(&spec(2, Order::Ordered, 10), events)[0],
        (2, vec![3, 4])
    );
}

#[test]
fn ties_take_lower_steps_first() {
    // Signup and key at the same instant, in either input order.
    let s = spec(2, Order::Ordered, 10);
    assert_eq!(levels(&s, vec![ev(5, 2), ev(5, 1)])[0], (2, vec![5, 5]));
}

#[test]
fn exclusions_disqualify_the_attempt() {
    let mut s = spec(2, Order::Ordered, 10);
    s.exclusions = vec![(0, 1)];
    let mut x = ev(3, 0);
    x.excl = 1;
    // Between the steps: the only attempt is disqualified, nothing counts.
    assert_eq!(levels(&s, vec![ev(0, 1), x, ev(5, 2)]), vec![]);
    // After the last step: no effect.
    let mut late = x;
    late.ts = 7;
    assert_eq!(levels(&s, vec![ev(0, 1), late, ev(5, 2)])[0].0, 2);
    // A new attempt after the exclusion converts.
    assert_eq!(
        levels(&s, vec![ev(0, 1), x, ev(4, 1), ev(5, 2)])[0],
        (2, vec![4, 5])
    );
}

#[test]
fn hold_constant_runs_per_value() {
    let s = spec(2, Order::Ordered, 10);
    let mut a = ev(0, 1);
    a.hold = 1;
    let b = ev(2, 2); // another held value: does not continue the attempt
    assert_eq!(levels(&s, vec![a, b])[0].0, 1);
}

#[test]
fn attribution_picks_the_step_event() {
    let mut s = spec(3, Order::Ordered, 10);
    let mut e1 = ev(0, 1);
    e1.prop = 7;
    let mut e2 = ev(1, 2);
    e2.prop = 8;
    let events = vec![e1, e2];
    let prop = |s: &Spec| evaluate(s, &mut events.clone())[0].prop;
    assert_eq!(prop(&s), 7);
    s.attribution = Attribution::LastStep;
    assert_eq!(prop(&s), 8);
    s.attribution = Attribution::Step(2);
    assert_eq!(prop(&s), NO_PROP);
}

#[test]
fn step_window_from_the_previous_step() {
    let mut s = spec(3, Order::Ordered, 100);
    s.step_windows = vec![None, None, Some(5)];
    assert_eq!(levels(&s, vec![ev(0, 1), ev(10, 2), ev(15, 4)])[0].0, 3);
    assert_eq!(levels(&s, vec![ev(0, 1), ev(10, 2), ev(16, 4)])[0].0, 2);
}

#[test]
fn first_only_and_start_range() {
    let mut s = spec(2, Order::Ordered, i64::MAX);
    s.first_only = true;
    s.reuse = true;
    // The first step-1 event is at 0; the later one does not start again.
    assert_eq!(
        levels(&s, vec![ev(0, 1), ev(4, 1), ev(9, 2)])[0],
        (2, vec![0, 9])
    );
    // The first one falls before the range: nothing.
    s.start_from = Some(1);
    assert_eq!(levels(&s, vec![ev(0, 1), ev(4, 1), ev(9, 2)]), vec![]);
}

/// ClickHouse's own cases for `windowFunnel(10000, 'strict_increase')`
/// (its test `00632_aggregation_window_funnel`): calls 1000 at 0, 1001,
/// 1002 and 1003 at 1, 1004 at 2.
#[test]
fn strict_increase_as_clickhouse_tests_it() {
    // One step per condition `event = 1000 + k`.
    let events = vec![ev(0, 1), ev(1, 2), ev(1, 4), ev(1, 8), ev(2, 16)];
    let mut s = spec(5, Order::Ordered, 10_000);
    // Without it, steps at one instant chain: 5 (ClickHouse: 5).
    assert_eq!(levels(&s, events.clone())[0].0, 5);
    // With it, 1002 at the instant of 1001 cannot follow it: 2.
    s.strict_increase = true;
    assert_eq!(levels(&s, events.clone())[0], (2, vec![0, 1]));
    // Three conditions `event = 1004`: ClickHouse's default lets the one
    // row be all three (metricc: `reuse_events: true`), 3; `strict_once`
    // (metricc's default, no reuse) and `strict_increase` give 1.
    let same = vec![ev(2, 1 | 2 | 4)];
    let mut s = spec(3, Order::Ordered, 10_000);
    assert_eq!(levels(&s, same.clone())[0].0, 1);
    s.reuse = true;
    assert_eq!(levels(&s, same.clone())[0].0, 3);
    s.strict_increase = true;
    assert_eq!(levels(&s, same)[0].0, 1);
}

/// Of two attempts at one level, the later start usually reaches at least
/// as far; not at the instant its last step was taken, where only the
/// earlier one may take another event under `strict_increase`.
#[test]
fn strict_increase_keeps_an_earlier_attempt_at_the_instant() {
    // A: step 1 at 0, step 2 at 1. B: step 1 at 1, step 2 at 2. Step 3 at
    // 2 is strictly after A's step 2, not after B's.
    let events = vec![ev(0, 1), ev(1, 1 | 2), ev(2, 2), ev(2, 4)];
    let mut s = spec(3, Order::Ordered, 10);
    s.strict_increase = true;
    assert_eq!(levels(&s, events)[0], (3, vec![0, 1, 2]));
}

/// The levels of one entity under ClickHouse's modes.
fn clickhouse_level(spec: &Spec, events: Vec<Event>) -> usize {
    levels(spec, events).first().map_or(0, |l| l.0)
}

/// ClickHouse's own `strict_order` and `strict_deduplication` cases (its
/// test `00632_aggregation_window_funnel`, table
/// `funnel_test_strict_order`): steps a, b, c; `d` matches none.
#[test]
fn strict_order_and_deduplication_as_clickhouse_tests_them() {
    let (a, b, c, d) = (1, 2, 4, 0);
    let users: [(&[u32], [usize; 3]); 6] = [
        // rows in time order; levels: default, strict_order, both
        (&[a, b, c], [3, 3, 3]),
        (&[a, d, b, c], [3, 1, 1]),
        (&[a, a, b, b, c, c], [3, 3, 2]),
        (&[a, a, a, a, b, b, c, c], [3, 3, 2]),
        (&[a, a, b, b, d, c, c], [3, 2, 2]),
        (&[c, c, b, b, a, a], [1, 1, 1]),
    ];
    for (rows, want) in users {
        let events: Vec<Event> = rows
            .iter()
            .enumerate()
            .map(|(i, s)| ev(i as i64 + 1, *s))
            .collect();
        let mut s = spec(3, Order::Ordered, 86_400);
        s.reuse = true;
        assert_eq!(clickhouse_level(&s, events.clone()), want[0], "{rows:?}");
        s.order = Order::StrictOrder;
        assert_eq!(clickhouse_level(&s, events.clone()), want[1], "{rows:?}");
        s.strict_deduplication = true;
        assert_eq!(clickhouse_level(&s, events), want[2], "{rows:?}");
    }
    // A step whose step before was not reached ends the scan: a c b, 1.
    let mut s = spec(3, Order::StrictOrder, 10);
    s.reuse = true;
    assert_eq!(clickhouse_level(&s, vec![ev(1, a), ev(2, c), ev(3, b)]), 1);
}

#[test]
fn strict_order_allows_repeats_where_strict_does_not() {
    // a b c b d over four steps: ClickHouse's strict_order 4 (the repeated
    // b is allowed), PostHog's strict (metricc's `strict`) 3,
    // `strict_deduplication` 3 (ClickHouse's own case, table
    // `strict_BiteTheDDDD`).
    let events: Vec<Event> = [1, 2, 4, 2, 8]
        .iter()
        .enumerate()
        .map(|(i, s)| ev(i as i64 + 1, *s))
        .collect();
    let mut s = spec(4, Order::StrictOrder, 86_400);
    s.reuse = true;
    assert_eq!(clickhouse_level(&s, events.clone()), 4);
    let mut strict = spec(4, Order::Strict, 86_400);
    strict.reuse = true;
    assert_eq!(clickhouse_level(&strict, events.clone()), 3);
    let mut dedup = spec(4, Order::Ordered, 86_400);
    dedup.reuse = true;
    dedup.strict_deduplication = true;
    assert_eq!(clickhouse_level(&dedup, events), 3);
    // Seven steps 1000..1006 with 1005 twice (table `funnel_test_strict`):
    // 7, and 6 under strict_deduplication.
    let rows = [1, 2, 4, 8, 16, 32, 32, 64, 0, 0];
    let events: Vec<Event> = rows
        .iter()
        .enumerate()
        .map(|(i, s)| ev(i as i64 * 10, *s))
        .collect();
    let mut s = spec(7, Order::Ordered, 10_000);
    s.reuse = true;
    assert_eq!(clickhouse_level(&s, events.clone()), 7);
    s.strict_deduplication = true;
    assert_eq!(clickhouse_level(&s, events), 6);
}

#[test]
fn strict_order_takes_a_row_of_two_steps_as_both() {
    // begin (steps 1 and 3), view (2), complete (4): under strict_order the
    // row's step 3 comes before step 2 was reached, so the scan ends at 1
    // (ClickHouse's table `funnel_test_ecommerce`, 4 steps).
    let events = vec![ev(100, 1 | 4), ev(200, 2), ev(300, 8)];
    let mut s = spec(4, Order::StrictOrder, 600);
    s.reuse = true;
    assert_eq!(clickhouse_level(&s, events), 1);
    // `a is null` then `b = 'b3'` (table `funnel_test_non_null`, user 4):
    // a row matching neither ends a strict_order scan; default 2.
    let events = vec![ev(1, 1), ev(2, 0), ev(3, 1 | 2)];
    let mut s = spec(2, Order::StrictOrder, 86_400);
    s.reuse = true;
    assert_eq!(clickhouse_level(&s, events.clone()), 1);
    s.order = Order::Ordered;
    assert_eq!(clickhouse_level(&s, events), 2);
}

#[test]
fn clickhouse_scans_run_per_entry_period() {
    // Period 1: a b; period 2: a c (c premature) then b. Each period is
    // scanned from its own first step-1 event; the step-1 event of the
    // other period does not restart step 1 in it.
    let mut events = vec![ev(1, 1), ev(2, 2), ev(11, 1), ev(12, 4), ev(13, 2)];
    for e in &mut events {
        e.bucket = if e.ts < 10 { 0 } else { 10 };
    }
    let mut s = spec(3, Order::StrictOrder, 100);
    s.reuse = true;
    let got: Vec<(i64, usize)> = evaluate(&s, &mut events.clone())
        .into_iter()
        .map(|o| (o.bucket, o.level))
        .collect();
    // Period 0: a b, then period 1's `a` is an event of no step of this
    // period's scan, and ends it at 2. Period 10: a, then c premature: 1.
    assert_eq!(got, [(0, 2), (10, 1)]);
}

/// ClickHouse's scan written out on its own: per held value and entry
/// period, every row from the period's first step-1 instant (no early
/// stop at the end of the windows), one (time, step) pair per matching
/// step, a row matching none as step 0, sorted by (time, step).
fn clickhouse_reference(spec: &Spec, events: &[Event]) -> Vec<(i64, usize, Vec<i64>)> {
    let mut ev = events.to_vec();
    ev.sort_by_key(|e| (e.hold, e.ts, rank(e), e.steps, e.prop, e.excl, e.bucket));
    // ClickHouse reads rows as rows: no two are one.
    let mut best: BTreeMap<i64, (usize, i64, Vec<i64>)> = BTreeMap::new();
    let mut holds: Vec<u32> = ev.iter().map(|e| e.hold).collect();
    holds.dedup();
    for hold in holds {
        let part: Vec<&Event> = ev.iter().filter(|e| e.hold == hold).collect();
        let starts = |e: &Event, p: i64| matches(e, 0) && e.bucket == p && can_start(spec, e.ts);
        let mut periods: Vec<i64> = part
            .iter()
            .filter(|e| matches(e, 0) && can_start(spec, e.ts))
            .map(|e| e.bucket)
            .collect();
        periods.sort();
        periods.dedup();
        for p in periods {
            let from = part
                .iter()
                .filter(|e| starts(e, p))
                .map(|e| e.ts)
                .min()
                .unwrap();
            let mut pairs: Vec<(i64, usize)> = Vec::new();
            for e in part.iter().filter(|e| e.ts >= from) {
                let bits = if starts(e, p) { e.steps } else { e.steps & !1 };
                if bits == 0 {
                    pairs.push((e.ts, 0));
                }
                pairs.extend(
                    (0..spec.steps)
                        .filter(|s| bits & (1 << s) != 0)
                        .map(|s| (e.ts, s + 1)),
                );
            }
            pairs.sort();
            let mut level_times: Vec<Option<Vec<i64>>> = vec![None; spec.steps];
            let mut seen_first = false;
            let mut stop: Option<usize> = None;
            for (ts, idx) in pairs {
                if idx == 0 {
                    if spec.order == Order::StrictOrder && seen_first {
                        break;
                    }
                    continue;
                }
                let k = idx - 1;
                if k == 0 {
                    level_times[0] = Some(vec![ts]);
                    seen_first = true;
                    continue;
                }
                if spec.strict_deduplication && level_times[k].is_some() {
                    break;
                }
                if spec.order == Order::StrictOrder && seen_first && level_times[k - 1].is_none() {
                    // The level is the first one not reached.
                    stop = level_times.iter().position(Option::is_none);
                    break;
                }
                if let Some(prev) = level_times[k - 1].clone()
                    && ts <= prev[0].saturating_add(spec.window)
                    && (!spec.strict_increase || prev[k - 1] < ts)
                {
                    let mut t = prev;
                    t.push(ts);
                    level_times[k] = Some(t);
                    if k + 1 == spec.steps {
                        break;
                    }
                }
            }
            let level = stop.unwrap_or_else(|| level_times.iter().filter(|t| t.is_some()).count());
            let times = level_times[level - 1].clone().unwrap();
            let start = times[0];
            match best.get(&p) {
                Some(b) if (b.0, b.1) >= (level, start) => {}
                _ => {
                    best.insert(p, (level, start, times));
                }
            }
        }
    }
    best.into_iter().map(|(p, (l, _, t))| (p, l, t)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    #[test]
    fn clickhouse_scan_matches_its_reference(
        (spec, events) in case_strategy(),
        strict_order in any::<bool>(),
        dedup in any::<bool>(),
    ) {
        let spec = clickhouse_spec(spec, strict_order || !dedup, dedup);
        let got: Vec<(i64, usize, Vec<i64>)> = evaluate(&spec, &mut events.clone())
            .into_iter()
            .map(|o| (o.bucket, o.level, o.times))
            .collect();
        prop_assert_eq!(got, clickhouse_reference(&spec, &events));
    }
}

#[test]
fn first_complete_takes_the_times_of_the_first_attempt_to_finish() {
    // a@0 b@1 a@5 b@9: both attempts complete. The latest start (metricc's
    // default) gives 4 between the steps; PostHog's first complete attempt 1.
    let events = vec![ev(0, 1), ev(1, 2), ev(5, 1), ev(9, 2)];
    let mut s = spec(2, Order::Ordered, 100);
    assert_eq!(levels(&s, events.clone()), vec![(2, vec![5, 9])]);
    s.first_complete = true;
    assert_eq!(levels(&s, events.clone()), vec![(2, vec![0, 1])]);
    // Neither completes a third step: the first to reach step 2 counts.
    let mut s = spec(3, Order::Ordered, 100);
    s.first_complete = true;
    assert_eq!(levels(&s, events), vec![(2, vec![0, 1])]);
}

#[test]
fn a_stream_refuses_an_earlier_event() {
    let spec = spec(2, Order::Ordered, 10);
    let mut s = Stream::new(&spec);
    let order = Scrambled(0);
    assert_eq!(s.push(ev(5, 1), &order), Ok(()));
    assert_eq!(s.push(ev(5, 2), &order), Ok(()));
    assert_eq!(s.push(ev(4, 2), &order), Err(OutOfOrder));
    assert_eq!(s.push(ev(9, 2), &order), Ok(()));
    let out = s.finish(&order);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].level, out[0].times.clone()), (2, vec![5, 5]));
}
