//! lower: the sequence engine behind funnels and `time_between`. One entity's
//! events in, its best attempt per entry period out, in one pass over the
//! events in time order. Pure Rust: the UDAF in `funnel.rs` feeds it, and the
//! tests hold it against a naive reference that enumerates every attempt.
//!
//! The rules (docs/SEMANTICS.md has them in prose):
//! - Events are ordered by time; at equal times an event matching a lower
//!   step comes first, then by the steps matched, then by breakdown value.
//!   Events equal in every field the funnel reads are one event.
//! - With `hold` values the funnel runs separately per held value.
//! - `ordered`/`strict`: an attempt starts at every step-1 event; each next
//!   step is the first event after the previous step's event that matches it
//!   (`strict`: the very next event, or the attempt stops), within the window
//!   from step 1 (inclusive) and the step's own window from the step before.
//!   With `reuse`, the same event may satisfy consecutive steps.
//! - `any`: an attempt starts at every event matching any step; its level is
//!   the number of distinct steps matched within the window.
//! - An exclusion event placed after step a's event and before step b is
//!   reached, while the attempt is live, disqualifies the attempt.
//! - Per entry period (the bucket of the start event), the best attempt is
//!   the one reaching the most steps; ties go to the latest start.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// At most this many steps, and this many exclusions.
pub const MAX_STEPS: usize = 32;

/// No breakdown value: the attributed step was not reached.
pub const NO_PROP: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    Ordered,
    Strict,
    /// ClickHouse's `windowFunnel` with `strict_order`.
    StrictOrder,
    Any,
}

/// Which event's breakdown value an attempt reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attribution {
    FirstStep,
    LastStep,
    /// The event of this step (0-based), if reached.
    Step(usize),
}

/// A funnel, as the engine runs it. Times are microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub steps: usize,
    pub order: Order,
    /// The window from the step-1 event; its edge is inclusive.
    pub window: i64,
    /// Per step (index 0 unused): a window of its own from the step before.
    pub step_windows: Vec<Option<i64>>,
    /// One event may satisfy consecutive steps.
    pub reuse: bool,
    /// Each step's event must be strictly later than the step before's.
    #[serde(default)]
    pub strict_increase: bool,
    /// ClickHouse's `strict_deduplication`: a repeated step ends the scan.
    #[serde(default)]
    pub strict_deduplication: bool,
    /// Of the attempts reaching the most steps, the one that reached that
    /// step first counts (PostHog's), not the latest start.
    #[serde(default)]
    pub first_complete: bool,
    /// An exclusion seen by the attempt that counts drops the entity from
    /// the period (PostHog's), instead of disqualifying that attempt only.
    #[serde(default)]
    pub exclude_entity: bool,
    /// Exclusion `k` (bit `k` of [`Event::excl`]) lies between steps `(a, b)`.
    pub exclusions: Vec<(usize, usize)>,
    pub attribution: Attribution,
    /// Only the first step-1 event (per held value) starts an attempt.
    pub first_only: bool,
    /// Attempts start at events with `start_from <= ts < start_to`.
    pub start_from: Option<i64>,
    pub start_to: Option<i64>,
}

impl Spec {
    /// An `ordered` sequence of `steps` within `window`: no step windows,
    /// reuse, exclusions or start range; attributed to the first step.
    pub fn ordered(steps: usize, window: i64) -> Spec {
        Spec {
            steps,
            order: Order::Ordered,
            window,
            step_windows: vec![None; steps],
            reuse: false,
            strict_increase: false,
            strict_deduplication: false,
            first_complete: false,
            exclude_entity: false,
            exclusions: vec![],
            attribution: Attribution::FirstStep,
            first_only: false,
            start_from: None,
            start_to: None,
        }
    }

    /// Whether ClickHouse's scan runs it ([`clickhouse_sweep`]) rather than
    /// metricc's attempts.
    pub fn clickhouse(&self) -> bool {
        self.order == Order::StrictOrder || self.strict_deduplication
    }
}

/// One event of one entity. `hold` and `prop` are ranks: their numeric
/// order is the order of the values they stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Event {
    pub ts: i64,
    /// The entry period the event falls in.
    pub bucket: i64,
    /// Bit `s` set: the event matches step `s`.
    pub steps: u32,
    /// Bit `k` set: the event matches exclusion `k`.
    pub excl: u32,
    pub hold: u32,
    pub prop: u32,
}

/// The best attempt of an entity in one entry period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub bucket: i64,
    /// Steps reached, at least 1.
    pub level: usize,
    /// When each reached step was reached (`any`: the k-th distinct step).
    pub times: Vec<i64>,
    /// The attributed breakdown value, or [`NO_PROP`].
    pub prop: u32,
}

/// Sorts events into the engine's order and makes one event of those that
/// differ in their breakdown value at most (the lowest value stays, as it
/// would win the tie): rows equal in what the funnel reads are one event,
/// so a breakdown never changes how far an entity got.
pub fn canonical(events: &mut Vec<Event>) {
    sort(events);
    events.dedup_by(|later, kept| {
        (later.hold, later.ts, later.steps, later.excl, later.bucket)
            == (kept.hold, kept.ts, kept.steps, kept.excl, kept.bucket)
    });
}

/// The engine's order: by held value and time; at one instant lower steps
/// first, events of no step last, then by breakdown value.
fn sort(events: &mut [Event]) {
    events.sort_unstable_by_key(|e| {
        let rank = if e.steps == 0 {
            u32::MAX
        } else {
            e.steps.trailing_zeros()
        };
        (e.hold, e.ts, rank, e.steps, e.prop, e.excl, e.bucket)
    });
}

/// Every entry period's best attempt, in period order.
pub fn evaluate(spec: &Spec, events: &mut Vec<Event>) -> Vec<Outcome> {
    // ClickHouse's scan reads rows as rows: a row repeated is a repeated
    // step, which `strict_deduplication` stops at.
    if spec.clickhouse() {
        sort(events);
    } else {
        canonical(events);
    }
    let mut best: BTreeMap<i64, Candidate> = BTreeMap::new();
    for part in events.chunk_by(|a, b| a.hold == b.hold) {
        combine(spec, &mut best, held_sweep(spec, part));
    }
    outcomes(best)
}

/// The best attempt per entry period of one held value's events, in the
/// engine's order.
fn held_sweep(spec: &Spec, part: &[Event]) -> BTreeMap<i64, Candidate> {
    let mut mine = BTreeMap::new();
    match spec.order {
        Order::Any => any_sweep(spec, part, &mut mine),
        _ if spec.clickhouse() => clickhouse_sweep(spec, part, &mut mine),
        _ => return ordered_sweep(spec, part),
    }
    mine
}

/// Folds one held value's best attempts into `best`, held values taken in
/// their order: more steps, then the later start; a full tie keeps the
/// lower held value, seen first.
fn combine(spec: &Spec, best: &mut BTreeMap<i64, Candidate>, mine: BTreeMap<i64, Candidate>) {
    for (bucket, c) in mine {
        let rank = |c: &Candidate| {
            let (level, reached, start, _) = key(spec, c);
            (level, reached, start)
        };
        match best.get(&bucket) {
            Some(b) if rank(b) >= rank(&c) => {}
            _ => {
                best.insert(bucket, c);
            }
        }
    }
}

fn outcomes(best: BTreeMap<i64, Candidate>) -> Vec<Outcome> {
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

/// One entity's events of one sequence arriving in time order (an entity
/// too heavy to hold, read from input sorted by entity and time): the same
/// answer as [`evaluate`] over all of them, with what is held bounded for
/// `ordered` and `strict` sequences. Those are swept an instant at a time
/// and keep only their live attempts and best attempt per entry period;
/// `any` and ClickHouse's modes, whose sweeps read ahead or rescan, keep
/// the events of each held value (in the engine's order) until the end.
///
/// Held and breakdown values are ids whose numbers need not follow the
/// values' order (more values may come): a [`ValueOrder`] compares them as
/// the values they stand for.
#[derive(Debug)]
pub struct Stream {
    spec: Spec,
    /// Per held value (an id), its sweep.
    holds: Vec<(u32, Held)>,
    /// The events at the latest instant, not yet swept.
    instant: Vec<Event>,
}

#[derive(Debug)]
enum Held {
    Sweep(OrderedSweep),
    Events(Vec<Event>),
}

/// How a [`Stream`] compares held values, and breakdown values, by id.
pub trait ValueOrder {
    fn hold(&self, a: u32, b: u32) -> std::cmp::Ordering;
    fn prop(&self, a: u32, b: u32) -> std::cmp::Ordering;
}

/// An event earlier than one a [`Stream`] already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfOrder;

impl Stream {
    pub fn new(spec: &Spec) -> Self {
        Stream {
            spec: spec.clone(),
            holds: Vec::new(),
            instant: Vec::new(),
        }
    }

    /// The next event: at or after the time of every event before it.
    pub fn push(&mut self, e: Event, order: &impl ValueOrder) -> Result<(), OutOfOrder> {
        match self.instant.first() {
            Some(f) if e.ts < f.ts => return Err(OutOfOrder),
            Some(f) if e.ts > f.ts => self.flush(order),
            _ => {}
        }
        self.instant.push(e);
        Ok(())
    }

    /// Sweeps the events of the latest instant, per held value, in the
    /// engine's order.
    fn flush(&mut self, order: &impl ValueOrder) {
        let mut at = std::mem::take(&mut self.instant);
        let rank = |e: &Event| {
            if e.steps == 0 {
                u32::MAX
            } else {
                e.steps.trailing_zeros()
            }
        };
        at.sort_by(|a, b| {
            order
                .hold(a.hold, b.hold)
                .then((rank(a), a.steps).cmp(&(rank(b), b.steps)))
                .then_with(|| order.prop(a.prop, b.prop))
                .then((a.excl, a.bucket).cmp(&(b.excl, b.bucket)))
        });
        if !self.spec.clickhouse() {
            at.dedup_by(|later, kept| {
                (later.hold, later.steps, later.excl, later.bucket)
                    == (kept.hold, kept.steps, kept.excl, kept.bucket)
            });
        }
        let spec = &self.spec;
        for part in at.chunk_by(|a, b| a.hold == b.hold) {
            let hold = part[0].hold;
            let k = match self.holds.iter().position(|(h, _)| *h == hold) {
                Some(k) => k,
                None => {
                    let held = match spec.order {
                        Order::Ordered | Order::Strict if !spec.clickhouse() => {
                            Held::Sweep(OrderedSweep::default())
                        }
                        _ => Held::Events(Vec::new()),
                    };
                    self.holds.push((hold, held));
                    self.holds.len() - 1
                }
            };
            match &mut self.holds[k].1 {
                Held::Sweep(s) => s.instant(spec, part),
                Held::Events(v) => v.extend_from_slice(part),
            }
        }
        at.clear();
        self.instant = at;
    }

    /// Every entry period's best attempt, in period order; `prop` is an id.
    pub fn finish(mut self, order: &impl ValueOrder) -> Vec<Outcome> {
        self.flush(order);
        let spec = &self.spec;
        self.holds.sort_by(|a, b| order.hold(a.0, b.0));
        let mut best = BTreeMap::new();
        for (_, held) in self.holds {
            let mine = match held {
                Held::Sweep(s) => s.finish(spec),
                Held::Events(v) => held_sweep(spec, &v),
            };
            combine(spec, &mut best, mine);
        }
        outcomes(best)
    }

    /// About the heap bytes held.
    pub fn bytes(&self) -> usize {
        let events = |n: usize| n * std::mem::size_of::<Event>();
        events(self.instant.capacity())
            + self
                .holds
                .iter()
                .map(|(_, h)| match h {
                    Held::Sweep(s) => s.bytes(),
                    Held::Events(v) => events(v.capacity()),
                })
                .sum::<usize>()
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    level: usize,
    start_ts: i64,
    start_pos: usize,
    times: Vec<i64>,
    prop: u32,
    /// Under `exclude_entity`: it saw an exclusion.
    excluded: bool,
}

/// How candidates rank: more steps; then, under `first_complete`, the
/// earlier time of reaching the last of them; then the later start.
fn key(spec: &Spec, c: &Candidate) -> (usize, i64, i64, usize) {
    let reached = if spec.first_complete {
        c.times.get(c.level.wrapping_sub(1)).map_or(0, |t| -t)
    } else {
        0
    };
    (c.level, reached, c.start_ts, c.start_pos)
}

fn offer(spec: &Spec, best: &mut BTreeMap<i64, Candidate>, bucket: i64, c: Candidate) {
    match best.get(&bucket) {
        Some(b) if key(spec, b) >= key(spec, &c) => {}
        _ => {
            best.insert(bucket, c);
        }
    }
}

fn can_start(spec: &Spec, ts: i64) -> bool {
    spec.start_from.is_none_or(|f| ts >= f) && spec.start_to.is_none_or(|t| ts < t)
}

#[derive(Debug, Clone)]
struct Attempt {
    bucket: i64,
    start_ts: i64,
    start_pos: usize,
    times: Vec<i64>,
    /// Position of each reached step's event.
    positions: Vec<usize>,
    props: Vec<u32>,
    /// Under `exclude_entity`: it saw an exclusion (and goes on).
    excluded: bool,
}

impl Attempt {
    fn level(&self) -> usize {
        self.times.len()
    }

    /// The last instant at which the next step may still happen.
    fn deadline(&self, spec: &Spec) -> i64 {
        let mut d = self.start_ts.saturating_add(spec.window);
        if let Some(Some(w)) = spec.step_windows.get(self.level()) {
            d = d.min(self.times[self.level() - 1].saturating_add(*w));
        }
        d
    }

    /// Takes `e` as the next step, and the ones after when reuse allows.
    /// `again`: `e` is the event just taken, which only reuse may take again.
    fn advance(&mut self, spec: &Spec, e: &Event, pos: usize, again: bool) -> bool {
        let mut moved = false;
        while self.level() < spec.steps
            && e.steps & (1 << self.level()) != 0
            && e.ts <= self.deadline(spec)
            && (!again || spec.reuse)
            && !(spec.strict_increase && self.times.last().is_some_and(|&t| e.ts <= t))
        {
            self.times.push(e.ts);
            self.positions.push(pos);
            self.props.push(e.prop);
            moved = true;
            if !spec.reuse {
                break;
            }
        }
        moved
    }

    fn candidate(&self, spec: &Spec) -> Candidate {
        let prop = match spec.attribution {
            Attribution::FirstStep => self.props[0],
            Attribution::LastStep => self.props[self.level() - 1],
            Attribution::Step(n) => self.props.get(n).copied().unwrap_or(NO_PROP),
        };
        Candidate {
            level: self.level(),
            start_ts: self.start_ts,
            start_pos: self.start_pos,
            times: self.times.clone(),
            prop,
            excluded: self.excluded,
        }
    }
}

/// The best attempt per entry period of one held value's events.
fn ordered_sweep(spec: &Spec, events: &[Event]) -> BTreeMap<i64, Candidate> {
    let mut sweep = OrderedSweep::default();
    for at in events.chunk_by(|a, b| a.ts == b.ts) {
        sweep.instant(spec, at);
    }
    sweep.finish(spec)
}

/// The `ordered`/`strict` sweep over one held value's events, fed one
/// instant at a time, so that a stream of events in time order can be
/// swept without holding them: what it keeps is its live attempts (without
/// exclusions, at most one per entry period and level) and the best
/// attempt per entry period so far.
#[derive(Debug, Default)]
struct OrderedSweep {
    live: Vec<Attempt>,
    seen_first: bool,
    /// Events fed so far: the position of the next one.
    pos: usize,
    best: BTreeMap<i64, Candidate>,
}

impl OrderedSweep {
    /// Feeds the events of one instant, later than any fed before, in the
    /// engine's order.
    fn instant(&mut self, spec: &Spec, events: &[Event]) {
        let strict = spec.order == Order::Strict;
        let Some(t) = events.first().map(|e| e.ts) else {
            return;
        };
        // Attempts that can no longer advance are done.
        self.live.retain(|a| {
            let keep = a.deadline(spec) >= t;
            if !keep {
                offer(spec, &mut self.best, a.bucket, a.candidate(spec));
            }
            keep
        });
        for (k, e) in events.iter().enumerate() {
            let i = self.pos + k;
            let mut j = 0;
            while j < self.live.len() {
                if !self.live[j].advance(spec, e, i, false) && strict {
                    let a = self.live.swap_remove(j);
                    offer(spec, &mut self.best, a.bucket, a.candidate(spec));
                } else {
                    j += 1;
                }
            }
            if e.steps & 1 != 0 && !(spec.first_only && self.seen_first) {
                self.seen_first = true;
                if can_start(spec, e.ts) {
                    let mut a = Attempt {
                        bucket: e.bucket,
                        start_ts: e.ts,
                        start_pos: i,
                        times: vec![e.ts],
                        positions: vec![i],
                        props: vec![e.prop],
                        excluded: false,
                    };
                    a.advance(spec, e, i, true);
                    self.live.push(a);
                }
            }
            // Exclusions: the event falls after step a and before step b.
            if e.excl != 0 {
                let hit = |a: &Attempt| {
                    spec.exclusions.iter().enumerate().any(|(x, &(from, to))| {
                        e.excl & (1 << x) != 0
                            && a.level() > from
                            && a.level() <= to
                            && a.positions[from] < i
                    })
                };
                if spec.exclude_entity {
                    for a in self.live.iter_mut() {
                        a.excluded |= hit(a);
                    }
                } else {
                    self.live.retain(|a| !hit(a));
                }
            }
            // Complete attempts are done; of the rest, per period and level
            // only the latest start can still matter: it reaches at least as
            // far as any earlier one, and wins the tie. Not with exclusions:
            // the later one's longer window may see an exclusion event the
            // earlier one would have missed.
            self.live.retain(|a| {
                let done = a.level() >= spec.steps;
                if done {
                    offer(spec, &mut self.best, a.bucket, a.candidate(spec));
                }
                !done
            });
            // With `strict_increase`, an attempt whose last step is at this
            // instant cannot take another event of it, where an earlier
            // one can: they are compared only once the instant has passed.
            if spec.exclusions.is_empty() && self.live.len() > 1 {
                let now = |a: &Attempt| spec.strict_increase && a.times.last() == Some(&t);
                self.live.sort_by(|a, b| {
                    (a.bucket, a.level(), now(a), b.start_ts, b.start_pos).cmp(&(
                        b.bucket,
                        b.level(),
                        now(b),
                        a.start_ts,
                        a.start_pos,
                    ))
                });
                // Under `first_complete` the earlier one may have reached
                // this level first: it is offered as it stands before it
                // goes (it can reach no further than the one kept).
                self.live.dedup_by(|later, kept| {
                    let same = later.bucket == kept.bucket
                        && later.level() == kept.level()
                        && now(later) == now(kept);
                    if same && spec.first_complete {
                        offer(spec, &mut self.best, later.bucket, later.candidate(spec));
                    }
                    same
                });
            }
        }
        self.pos += events.len();
    }

    /// The best attempt per entry period.
    fn finish(mut self, spec: &Spec) -> BTreeMap<i64, Candidate> {
        for a in std::mem::take(&mut self.live) {
            offer(spec, &mut self.best, a.bucket, a.candidate(spec));
        }
        self.best
    }

    fn bytes(&self) -> usize {
        let attempt = std::mem::size_of::<Attempt>() + 8 * MAX_STEPS * 3;
        let candidate = std::mem::size_of::<Candidate>() + 8 * MAX_STEPS + 48;
        self.live.capacity() * attempt + self.best.len() * candidate
    }
}

fn any_sweep(spec: &Spec, events: &[Event], best: &mut BTreeMap<i64, Candidate>) {
    let first_start = events.iter().position(|e| e.steps != 0);
    // Per step, the first event at or after the current time matching it.
    let mut next: Vec<Option<usize>> = vec![None; spec.steps];
    let mut j = events.len();
    while j > 0 {
        let t = events[j - 1].ts;
        let mut i = j;
        while i > 0 && events[i - 1].ts == t {
            i -= 1;
        }
        for pos in (i..j).rev() {
            for (s, slot) in next.iter_mut().enumerate() {
                if events[pos].steps & (1 << s) != 0 {
                    *slot = Some(pos);
                }
            }
        }
        // Starts at one time share the window; the latest of them wins ties.
        let start = (i..j)
            .rev()
            .find(|&p| events[p].steps != 0 && (!spec.first_only || Some(p) == first_start));
        if let Some(start) = start
            && can_start(spec, t)
        {
            let end = t.saturating_add(spec.window);
            let mut matched: Vec<(i64, usize, usize)> = next
                .iter()
                .enumerate()
                .filter_map(|(s, p)| p.map(|p| (events[p].ts, p, s)))
                .filter(|(ts, _, _)| *ts <= end)
                .collect();
            matched.sort_unstable();
            let prop = match spec.attribution {
                Attribution::FirstStep => events[start].prop,
                Attribution::LastStep => matched.last().map_or(NO_PROP, |m| events[m.1].prop),
                Attribution::Step(n) => matched
                    .iter()
                    .find(|m| m.2 == n)
                    .map_or(NO_PROP, |m| events[m.1].prop),
            };
            offer(
                spec,
                best,
                events[start].bucket,
                Candidate {
                    level: matched.len(),
                    start_ts: t,
                    start_pos: start,
                    times: matched.iter().map(|m| m.0).collect(),
                    prop,
                    excluded: false,
                },
            );
        }
        j = i;
    }
}

/// The chain ClickHouse keeps for one level: its start, and when (and with
/// which breakdown value) each of its steps was taken.
#[derive(Debug, Clone)]
struct Chain {
    times: Vec<i64>,
    props: Vec<u32>,
}

/// ClickHouse's `windowFunnel` scan, run per entry period. ClickHouse keeps
/// one chain per level, the latest to reach it, and reads the entity's rows
/// in time order, a row matching several steps once per step, lowest step
/// first, and (under `strict_order`) a row matching none before those at
/// its instant:
/// - a step-1 event starts a new chain at level 1;
/// - an event of step k extends the level k-1 chain when it is within the
///   window of that chain's start (and, under `strict_increase`, strictly
///   after its last step);
/// - `strict_deduplication`: an event of a step after step 1 whose level is
///   already reached ends the scan;
/// - `strict_order`: after the first step-1 event, a row matching no step,
///   or an event of a step whose step before is not reached, ends it;
/// - the result is the highest level reached (at a premature step, the
///   first level not reached).
///
/// An entry period's scan starts at its first step-1 event; step-1 events
/// of other periods (or outside the range) do not restart step 1 in it,
/// as ClickHouse grouping the same rows by period would not see them. The
/// chain that gives the level gives the times and the attributed value.
fn clickhouse_sweep(spec: &Spec, events: &[Event], best: &mut BTreeMap<i64, Candidate>) {
    let strict = spec.order == Order::StrictOrder;
    let mut periods: Vec<i64> = events
        .iter()
        .filter(|e| e.steps & 1 != 0 && can_start(spec, e.ts))
        .map(|e| e.bucket)
        .collect();
    periods.sort_unstable();
    periods.dedup();
    for period in periods {
        let starts = |e: &Event| e.steps & 1 != 0 && e.bucket == period && can_start(spec, e.ts);
        let Some(first) = events.iter().position(starts) else {
            continue;
        };
        let last_start = events.iter().rev().find(|e| starts(e)).map_or(0, |e| e.ts);
        let end = last_start.saturating_add(spec.window);
        // (time, step + 1 or 0 for none, position), in ClickHouse's order.
        let mut rows: Vec<(i64, usize, usize)> = Vec::new();
        for (pos, e) in events.iter().enumerate().skip(first) {
            if e.ts > end {
                break;
            }
            let mut steps = e.steps;
            if !starts(e) {
                steps &= !1;
            }
            if steps == 0 {
                rows.push((e.ts, 0, pos));
            }
            for s in 0..spec.steps {
                if steps & (1 << s) != 0 {
                    rows.push((e.ts, s + 1, pos));
                }
            }
        }
        rows.sort_by_key(|&(ts, idx, _)| (ts, idx));
        let mut chains: Vec<Option<Chain>> = vec![None; spec.steps];
        let mut started = false;
        let mut result = None;
        let reached = |chains: &[Option<Chain>]| {
            chains
                .iter()
                .rposition(Option::is_some)
                .map_or(0, |k| k + 1)
        };
        for &(ts, idx, pos) in &rows {
            let e = &events[pos];
            if idx == 0 {
                if strict && started {
                    break;
                }
                continue;
            }
            let k = idx - 1;
            if k == 0 {
                chains[0] = Some(Chain {
                    times: vec![ts],
                    props: vec![e.prop],
                });
                started = true;
            } else if spec.strict_deduplication && chains[k].is_some() {
                result = Some(reached(&chains));
                break;
            } else if strict && started && chains[k - 1].is_none() {
                result = Some(
                    chains
                        .iter()
                        .position(Option::is_none)
                        .unwrap_or(spec.steps),
                );
                break;
            } else if let Some(prev) = &chains[k - 1] {
                let in_window = ts <= prev.times[0].saturating_add(spec.window);
                let increasing = !spec.strict_increase || prev.times[k - 1] < ts;
                if in_window && increasing {
                    let mut next = prev.clone();
                    next.times.push(ts);
                    next.props.push(e.prop);
                    chains[k] = Some(next);
                    if k + 1 == spec.steps {
                        result = Some(spec.steps);
                        break;
                    }
                }
            }
        }
        let level = result.unwrap_or_else(|| reached(&chains));
        let Some(chain) = level.checked_sub(1).and_then(|k| chains[k].as_ref()) else {
            continue;
        };
        let prop = match spec.attribution {
            Attribution::FirstStep => chain.props[0],
            Attribution::LastStep => chain.props[level - 1],
            Attribution::Step(n) => chain.props.get(n).copied().unwrap_or(NO_PROP),
        };
        offer(
            spec,
            best,
            period,
            Candidate {
                level,
                start_ts: chain.times[0],
                start_pos: 0,
                times: chain.times.clone(),
                prop,
                excluded: false,
            },
        );
    }
}
