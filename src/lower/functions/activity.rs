//! lower: the activity engines behind `active`, `churn` and `retention`.
//! Pure Rust over one entity's events; the aggregates in `tracking.rs` feed
//! them, and the tests hold them against naive references.
//!
//! - [`active`]: an entity's distinct activity units (wall-clock time, cut to
//!   a resolution that every window bound is a multiple of) against the
//!   windows of every bucket: active in the current window, in the previous
//!   one, churned, new, returning, resurrected.
//! - [`retention`]: an entity's cohort and return events against the periods
//!   after each of its cohorts.
//!
//! docs/SEMANTICS.md states the rules in prose.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

/// What one membership bit of [`active`] tests, per bucket, with the bucket's
/// previous window `[p, c)` and current window `[c, e)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Test {
    /// Some activity in the current window.
    Active,
    /// Some activity in the previous window.
    Previous,
    /// Active in the previous window and not in the current one.
    Churned,
    /// Active in the current window, and never before it.
    New,
    /// Active in both windows.
    Returning,
    /// Active in the current window, not in the previous one, but before it.
    Resurrected,
}

impl Test {
    /// Whether the test needs the entity's activity before the windows.
    pub fn needs_history(self) -> bool {
        matches!(self, Test::New | Test::Resurrected)
    }
}

/// One membership: its test and, per bucket, the bounds `[p, c, e]` of the
/// previous window `[p, c)` and the current window `[c, e)` in wall-clock
/// microseconds. For [`Test::Active`] `p` is unused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub test: Test,
    pub windows: Vec<[i64; 3]>,
}

/// The `active` engine's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveSpec {
    /// Each bucket's key: the wall-clock start of its period.
    pub buckets: Vec<i64>,
    /// At most 63 memberships, bit `i` of a row's flags.
    pub members: Vec<Member>,
    /// Activity is kept at this resolution (microseconds); every window
    /// bound is a multiple of it, so cutting times to it changes no answer.
    pub resolution: i64,
    /// The aggregate counts entities with equal changes instead of
    /// returning each entity's (see `active.rs`); the engine ignores it.
    #[serde(default)]
    pub counts: bool,
}

/// The most memberships one call can report.
pub const MAX_MEMBERS: usize = 63;

/// A wall-clock time cut to the spec's resolution.
pub fn unit(spec: &ActiveSpec, wall: i64) -> i64 {
    wall.div_euclid(spec.resolution.max(1))
}

/// Per bucket index where any membership holds, its flags. `units` are the
/// entity's activity units ([`unit`]), sorted and distinct.
pub fn active(spec: &ActiveSpec, units: &[i64]) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    let Some(&first) = units.first() else {
        return out;
    };
    let res = spec.resolution.max(1);
    let any = |lo: i64, hi: i64| {
        let (lo, hi) = (lo.div_euclid(res), hi.div_euclid(res));
        let i = units.partition_point(|u| *u < lo);
        i < units.len() && units[i] < hi
    };
    let first = first * res;
    for b in 0..spec.buckets.len() {
        let mut flags = 0u64;
        for (i, m) in spec.members.iter().enumerate() {
            let Some(&[p, c, e]) = m.windows.get(b) else {
                continue;
            };
            // Nothing happened before the window's end: nothing to test.
            if first >= e {
                continue;
            }
            let cur = any(c, e);
            let hit = match m.test {
                Test::Active => cur,
                Test::Previous => any(p, c),
                Test::Churned => !cur && any(p, c),
                Test::New => cur && first >= c,
                Test::Returning => cur && any(p, c),
                Test::Resurrected => cur && first < p && !any(p, c),
            };
            if hit {
                flags |= 1 << i;
            }
        }
        if flags != 0 {
            out.push((b, flags));
        }
    }
    out
}

/// Where an entity's memberships change, from [`active`]'s rows (sorted by
/// bucket): per bucket index, the bits that start holding there and those
/// that stop. Summed over entities and run over the buckets in order, they
/// give each bucket's counts without a row per entity and bucket.
pub fn transitions(buckets: usize, rows: &[(usize, u64)]) -> Vec<(usize, u64, u64)> {
    let mut out = Vec::new();
    let mut prev: Option<(usize, u64)> = None;
    for &(b, f) in rows {
        match prev {
            Some((pb, pf)) if pb + 1 == b => {
                let (start, stop) = (f & !pf, pf & !f);
                if start | stop != 0 {
                    out.push((b, start, stop));
                }
            }
            Some((pb, pf)) => {
                out.push((pb + 1, 0, pf));
                out.push((b, f, 0));
            }
            None => out.push((b, f, 0)),
        }
        prev = Some((b, f));
    }
    if let Some((pb, pf)) = prev
        && pb + 1 < buckets
    {
        out.push((pb + 1, 0, pf));
    }
    out
}

/// Calendar periods for retention, with the week's first day (0 = Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Calendar {
    Hour,
    Day,
    Week(u32),
    Month,
    Quarter,
    Year,
}

fn wall(us: i64) -> NaiveDateTime {
    DateTime::from_timestamp_micros(us)
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

fn wall_us(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

impl Calendar {
    /// The number of the period holding wall-clock time `us`; consecutive
    /// periods have consecutive numbers.
    pub fn number(self, us: i64) -> i64 {
        const DAY: i64 = 86_400_000_000;
        match self {
            Calendar::Hour => us.div_euclid(3_600_000_000),
            Calendar::Day => us.div_euclid(DAY),
            // 1970-01-01 was a Thursday: shift so weeks start on `start`.
            Calendar::Week(start) => (us.div_euclid(DAY) + 3 - i64::from(start)).div_euclid(7),
            Calendar::Month | Calendar::Quarter | Calendar::Year => {
                let d = wall(us).date();
                let months = i64::from(d.year()) * 12 + i64::from(d.month0());
                match self {
                    Calendar::Month => months,
                    Calendar::Quarter => months.div_euclid(3),
                    _ => i64::from(d.year()),
                }
            }
        }
    }

    /// The wall-clock start of the period holding `us`.
    pub fn start(self, us: i64) -> i64 {
        let t = wall(us);
        let d = t.date();
        let midnight = |d: NaiveDate| wall_us(d.and_time(NaiveTime::MIN));
        match self {
            Calendar::Hour => us.div_euclid(3_600_000_000) * 3_600_000_000,
            Calendar::Day => midnight(d),
            Calendar::Week(start) => {
                let back = (i64::from(d.weekday().num_days_from_monday()) + 7 - i64::from(start))
                    .rem_euclid(7);
                midnight(d - chrono::Days::new(back as u64))
            }
            Calendar::Month => midnight(d.with_day(1).unwrap_or(d)),
            Calendar::Quarter => {
                midnight(NaiveDate::from_ymd_opt(d.year(), d.month0() / 3 * 3 + 1, 1).unwrap_or(d))
            }
            Calendar::Year => midnight(NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d)),
        }
    }
}

/// The `retention` engine's settings. Wall-clock times are microseconds of
/// local time; instants are microseconds since the epoch (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionSpec {
    /// Cohorts are periods of this calendar.
    pub calendar: Calendar,
    /// Periods reported after the cohort period: 0 to `periods`.
    pub periods: i64,
    /// Every period with a cohort event starts a cohort, not only the first.
    pub recurring: bool,
    /// Retained at `k` when returning in period `k` or any later one.
    pub on_or_after: bool,
    /// Periods of this many microseconds from the cohort event, not
    /// calendar periods.
    pub rolling: Option<i64>,
    /// Cohort events count from this wall-clock time ...
    pub from: i64,
    /// ... to this one, exclusive; no event at or after it is read.
    pub to: i64,
    /// The instant of `to`.
    pub to_instant: i64,
    /// Return events a period after period 0 needs to count.
    #[serde(default = "one")]
    pub min_occurrences: u32,
}

fn one() -> u32 {
    1
}

/// Bit of [`Ev::kind`]: the event matches the cohort predicate.
pub const COHORT: u8 = 1;
/// Bit of [`Ev::kind`]: the event matches the return predicate.
pub const RETURN: u8 = 2;

/// One event of one entity for [`retention`]; `prop` is a rank (its order
/// is the order of the breakdown values it stands for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ev {
    pub instant: i64,
    pub wall: i64,
    pub kind: u8,
    pub prop: u32,
}

/// One cell of an entity's retention: in cohort `cohort` (the wall-clock
/// start of the cohort period), whether period `period` had begun by `to`
/// and whether the entity returned in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    pub cohort: i64,
    pub period: i64,
    pub eligible: bool,
    pub retained: bool,
    pub prop: u32,
}

/// Drops events that cannot change [`retention`]'s answer, so an entity's
/// state stays small: of cohort events, those after the earliest (per
/// period, for recurring cohorts; ties kept); of calendar return events, all
/// but the latest per period. Leaves them sorted by kind, period and time.
pub fn compact(spec: &RetentionSpec, events: &mut Vec<Ev>) {
    compact_with(spec, events, &mut Vec::new());
}

/// [`compact`] with a reusable buffer: compacting one entity after another
/// allocates nothing once the buffer has grown.
pub fn compact_with(spec: &RetentionSpec, events: &mut Vec<Ev>, keyed: &mut Vec<Keyed>) {
    // Each event's period, computed once: (kind, period, instant, prop).
    keyed.clear();
    keyed.extend(events.iter().map(|e| {
        let period = if spec.recurring || e.kind == RETURN {
            spec.calendar.number(e.wall)
        } else {
            0
        };
        (e.kind, period, e.instant, e.prop, *e)
    }));
    keyed.sort_unstable_by_key(|k| (k.0, k.1, k.2, k.3, k.4));
    // Equal events are one, except returns counted for `min_occurrences`:
    // two rows at one instant are two occurrences.
    let counted = spec.min_occurrences > 1;
    keyed.dedup_by(|a, b| a.4 == b.4 && !(counted && a.0 & RETURN != 0));
    events.clear();
    let mut last: Option<(u8, i64, i64)> = None;
    for (i, &(kind, period, instant, _, e)) in keyed.iter().enumerate() {
        let keep = match kind {
            COHORT => match last {
                // Ties at the earliest instant of the period stay.
                Some((k, p, t)) if k == COHORT && p == period => t == instant,
                _ => true,
            },
            // Rolling periods need every return time.
            _ if spec.rolling.is_some() => true,
            // The latest return of each period: the latest
            // `min_occurrences` of them, which is enough to tell whether
            // a period has that many.
            _ => keyed
                .get(i + spec.min_occurrences.max(1) as usize)
                .is_none_or(|n| n.0 != kind || n.1 != period),
        };
        if keep {
            if last.is_none_or(|(k, p, _)| k != kind || p != period) {
                last = Some((kind, period, instant));
            }
            events.push(e);
        }
    }
}

/// An event keyed for [`compact_with`]: kind, period, instant, prop.
pub type Keyed = (u8, i64, i64, u32, Ev);

/// An entity's retention cells, periods 0 to `periods` of each of its
/// cohorts, from its events (any order). Events
/// matching both predicates come as two events, one of each kind.
pub fn retention(spec: &RetentionSpec, events: &[Ev]) -> Vec<Cell> {
    let mut out = Vec::new();
    retention_into(spec, events, &mut RetentionScratch::default(), |c| {
        out.push(c)
    });
    out
}

/// The buffers of [`retention_into`], kept from one entity to the next so
/// that the engine allocates nothing per entity.
#[derive(Debug, Default)]
pub struct RetentionScratch {
    cohorts: Vec<Ev>,
    returns: Vec<Ev>,
    starts: Vec<Ev>,
    periods: Vec<i64>,
    hit: Vec<bool>,
    /// The period of each return, under `min_occurrences`.
    ks: Vec<i64>,
}

/// [`retention`], handing each cell to `emit` instead of collecting them.
pub fn retention_into(
    spec: &RetentionSpec,
    events: &[Ev],
    scratch: &mut RetentionScratch,
    mut emit: impl FnMut(Cell),
) {
    let RetentionScratch {
        cohorts,
        returns,
        starts,
        periods,
        hit,
        ks,
    } = scratch;
    cohorts.clear();
    cohorts.extend(
        events
            .iter()
            .filter(|e| e.kind & COHORT != 0 && e.wall < spec.to),
    );
    returns.clear();
    returns.extend(
        events
            .iter()
            .filter(|e| e.kind & RETURN != 0 && e.wall < spec.to && e.instant < spec.to_instant),
    );
    cohorts.sort_unstable_by_key(|e| (e.instant, e.prop));
    returns.sort_unstable_by_key(|e| e.instant);
    let cal = spec.calendar;
    // The cohort starts: the first cohort event, or the first of each period.
    starts.clear();
    for &e in cohorts.iter() {
        match starts.last() {
            None => starts.push(e),
            Some(l) if spec.recurring && cal.number(l.wall) != cal.number(e.wall) => starts.push(e),
            Some(_) => {}
        }
    }
    starts.retain(|e| e.wall >= spec.from && e.wall < spec.to);
    if starts.is_empty() {
        return;
    }
    let last = cal.number(spec.to - 1);
    // Each return's calendar period, once.
    periods.clear();
    match spec.rolling {
        Some(_) => periods.resize(returns.len(), 0),
        None => periods.extend(returns.iter().map(|r| cal.number(r.wall))),
    }
    for c in starts.iter() {
        let cohort = cal.start(c.wall);
        let base = cal.number(c.wall);
        hit.clear();
        hit.resize(spec.periods as usize + 1, false);
        let mut latest = -1i64;
        let first = returns.partition_point(|r| r.instant < c.instant);
        let period_of = |r: &Ev, p: &i64| match spec.rolling {
            Some(len) => (r.instant - c.instant) / len.max(1),
            None => (p - base).max(0),
        };
        let mut mark = |k: i64| {
            latest = latest.max(k);
            if let Some(h) = usize::try_from(k).ok().and_then(|k| hit.get_mut(k)) {
                *h = true;
            }
        };
        if spec.min_occurrences <= 1 {
            for (r, p) in returns[first..].iter().zip(&periods[first..]) {
                mark(period_of(r, p));
            }
        } else {
            // Count the returns of each period (a repeated wall-clock hour
            // can put one period's returns apart, so they are sorted).
            ks.clear();
            ks.extend(
                returns[first..]
                    .iter()
                    .zip(&periods[first..])
                    .map(|(r, p)| period_of(r, p)),
            );
            ks.sort_unstable();
            for run in ks.chunk_by(|a, b| a == b) {
                if run[0] == 0 || run.len() >= spec.min_occurrences as usize {
                    mark(run[0]);
                }
            }
        }
        for k in 0..=spec.periods {
            let eligible = match spec.rolling {
                Some(len) => c.instant.saturating_add(k.saturating_mul(len)) < spec.to_instant,
                None => base + k <= last,
            };
            let retained = if spec.on_or_after {
                k <= latest
            } else {
                hit[k as usize]
            };
            emit(Cell {
                cohort,
                period: k,
                eligible,
                retained: eligible && retained,
                prop: c.prop,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        wall_us(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
    }

    #[test]
    fn week_numbers_follow_the_week_start() {
        // 2026-01-04 is a Sunday, 2026-01-05 a Monday.
        let mon = Calendar::Week(0);
        assert_eq!(
            mon.number(at("2026-01-05 00:00")) - mon.number(at("2026-01-04 23:59")),
            1
        );
        let sun = Calendar::Week(6);
        assert_eq!(
            sun.number(at("2026-01-04 00:00")) - sun.number(at("2026-01-03 23:59")),
            1
        );
        assert_eq!(sun.start(at("2026-01-07 12:00")), at("2026-01-04 00:00"));
        assert_eq!(mon.start(at("2026-01-04 12:00")), at("2025-12-29 00:00"));
    }

    #[test]
    fn transitions_rebuild_the_rows() {
        // Buckets 0..8: bits 1 at 1-3, bit 2 at 2-4 and 6-7.
        let rows = [(1, 1), (2, 3), (3, 3), (4, 2), (6, 2), (7, 2)];
        let t = transitions(8, &rows);
        assert_eq!(
            t,
            vec![(1, 1, 0), (2, 2, 0), (4, 0, 1), (5, 0, 2), (6, 2, 0)]
        );
        let t = transitions(9, &rows);
        assert_eq!(t.last(), Some(&(8, 0, 2)));
    }

    #[test]
    fn month_and_quarter_numbers_are_consecutive() {
        let m = Calendar::Month;
        assert_eq!(
            m.number(at("2026-01-01 00:00")) - m.number(at("2025-12-31 23:59")),
            1
        );
        let q = Calendar::Quarter;
        assert_eq!(
            q.number(at("2026-04-01 00:00")) - q.number(at("2026-03-31 23:59")),
            1
        );
        assert_eq!(q.start(at("2026-05-17 08:00")), at("2026-04-01 00:00"));
    }
}
