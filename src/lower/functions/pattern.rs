//! lower: sequence patterns, ClickHouse's `sequenceMatch` and
//! `sequenceCount` (docs/SEMANTICS.md, "Sequence patterns").
//!
//! [`Search`] matches a pattern against one entity's events (time and the
//! set of conditions each holds, sorted) the way ClickHouse's backtracking
//! matcher does: the same choices in the same order, so the same first
//! match and, for counts, the same non-overlapping matches. It remembers
//! every state that failed, which ClickHouse does not: each state (action,
//! event, anchor) is tried once, so a match costs O(actions x events), where
//! ClickHouse's search can grow quadratically and gives up after a million
//! steps ("Pattern application proves too difficult").
//!
//! `metricc_sequence(entity, time, c1, ..., cn)` keeps the events of each
//! group in one store ([`Arena`]) with their entity, and on evaluation
//! matches each entity's events of the group: the entities with a match,
//! or the sum of their non-overlapping matches. The plan groups it by
//! bucket, breakdown values and entity (`lower::scan`), so that entities
//! are matched in parallel, and sums the results per bucket.

use super::arena::Arena;
use super::lists::{self, GroupedAggregate, Interner};
use super::rows_of;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Builder, StringBuilder, UInt32Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type, UInt32Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, Expr, GroupsAccumulator};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The name in plans.
pub const SEQUENCE: &str = "metricc_sequence";

pub use crate::semantic::kinds::sequence::{Action, MAX_CONDITIONS, TimeOp};

/// Whether time `t` compares with `bound` as `op` says.
fn holds(op: TimeOp, t: i64, bound: i64) -> bool {
    match op {
        TimeOp::Lt => t < bound,
        TimeOp::Le => t <= bound,
        TimeOp::Gt => t > bound,
        TimeOp::Ge => t >= bound,
        TimeOp::Eq => t == bound,
    }
}

/// Whether the action holds with no event left: ClickHouse's end of
/// pattern lets `.*`, `(?t<d)`, `(?t<=d)` and `(?t>=0)` go unmatched.
fn holds_at_end(a: Action) -> bool {
    matches!(
        a,
        Action::Star | Action::Time(TimeOp::Lt | TimeOp::Le, _) | Action::Time(TimeOp::Ge, 0)
    )
}

/// What a sequence metric asks of each entity's events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PatternSpec {
    /// The pattern as written, without ClickHouse's implicit leading `.*`.
    pub actions: Vec<Action>,
    /// Count non-overlapping matches (`sequenceCount`); else whether there
    /// is one (`sequenceMatch`), counted per entity.
    pub matches: bool,
}

/// One event of an entity: its time (microseconds) and the conditions it
/// holds, one bit each.
pub type Event = (i64, u32);

/// The non-overlapping matches of `actions` in one entity's `events`
/// (sorted as `SequenceGroups::value` sorts them), searching again after the last event of each; with
/// `first`, stops at the first (0 or 1).
pub fn count(actions: &[Action], events: &[Event], first: bool) -> u64 {
    let mut with_star = Vec::with_capacity(actions.len() + 1);
    with_star.push(Action::Star);
    with_star.extend_from_slice(actions);
    let mut search = Search::new(&with_star, events);
    let mut start = 0;
    let mut n = 0;
    while start < events.len() {
        match search.go(0, start, start) {
            Some(end) => {
                n += 1;
                if first {
                    break;
                }
                // A match that takes no event (none does: a pattern names
                // a condition) would not move on.
                start = end.max(start + 1);
            }
            None => break,
        }
    }
    n
}

/// The state of one search: the pattern (with its leading `.*`), the
/// events, and the states known to fail.
struct Search<'a> {
    actions: &'a [Action],
    events: &'a [Event],
    /// States `(action, i)` whose anchor is event `i - 1` (the event the
    /// action before took) known to fail, at `a * width + i`.
    failed_after: Vec<bool>,
    /// States `(action, j)` whose anchor is event `j` itself: a skip list
    /// per action, at `a * width + j`: `j` unless known to fail, else a
    /// later event to look at (path-compressed, so a run of failures is
    /// crossed at once).
    skip: Vec<u32>,
    /// Events plus one: the row length of both tables (one allocation
    /// each per entity, not one per action).
    width: usize,
}

impl<'a> Search<'a> {
    fn new(actions: &'a [Action], events: &'a [Event]) -> Self {
        let n = events.len();
        let m = actions.len();
        let width = n + 1;
        Search {
            actions,
            events,
            failed_after: vec![false; (m + 1) * width],
            skip: (0..(m + 1) * width).map(|k| (k % width) as u32).collect(),
            width,
        }
    }

    /// The first event at or after `j` whose state `(a, j, anchor j)` is
    /// not known to fail (`n` when none is).
    fn next_open(&mut self, a: usize, j: usize) -> usize {
        let s = &mut self.skip[a * self.width..(a + 1) * self.width];
        let mut root = j;
        while s[root] as usize != root {
            root = s[root] as usize;
        }
        let mut k = j;
        while s[k] as usize != root {
            let next = s[k] as usize;
            s[k] = root as u32;
            k = next;
        }
        root
    }

    /// Where the events after a match of actions `a..` from event `i`
    /// (anchored at event `anchor`) start, or `None` without a match; the
    /// first match in ClickHouse's order.
    fn go(&mut self, a: usize, i: usize, anchor: usize) -> Option<usize> {
        let n = self.events.len();
        if a == self.actions.len() {
            return Some(i);
        }
        if i == n {
            return self.actions[a..]
                .iter()
                .all(|x| holds_at_end(*x))
                .then_some(n);
        }
        let own = anchor == i;
        let known_failed = if own {
            self.next_open(a, i) != i
        } else {
            self.failed_after[a * self.width + i]
        };
        if known_failed {
            return None;
        }
        let found = self.step(a, i, anchor);
        if found.is_none() {
            if own {
                self.skip[a * self.width + i] = i as u32 + 1;
            } else {
                self.failed_after[a * self.width + i] = true;
            }
        }
        found
    }

    /// Tries action `a` at event `i`.
    fn step(&mut self, a: usize, i: usize, anchor: usize) -> Option<usize> {
        let n = self.events.len();
        match self.actions[a] {
            // Any number of events: the rest from each event on, nearest
            // first; the anchor becomes the event the rest starts at.
            Action::Star => {
                let mut j = i;
                loop {
                    j = self.next_open(a + 1, j);
                    if j >= n {
                        return None;
                    }
                    if let Some(end) = self.go(a + 1, j, j) {
                        return Some(end);
                    }
                    j += 1;
                }
            }
            Action::Any => self.go(a + 1, i + 1, i),
            Action::Event(c) => {
                if self.events[i].1 & (1 << c) != 0 {
                    self.go(a + 1, i + 1, i)
                } else {
                    None
                }
            }
            // The very next event only (metricc's `(?gap ...)`): the rest
            // from it when its time compares as asked, anchored there.
            Action::Gap(op, d) => {
                let bound = self.events[anchor].0.saturating_add(d);
                if holds(op, self.events[i].0, bound) {
                    self.go(a + 1, i, i)
                } else {
                    None
                }
            }
            // The next action from each event whose time compares as asked
            // with the anchor's plus `d`, nearest first; that event becomes
            // the anchor. Times are sorted: `<` and `<=` hold on a prefix,
            // `>` and `>=` on a suffix, `==` on a run.
            Action::Time(op, d) => {
                let bound = self.events[anchor].0.saturating_add(d);
                let mut j = match op {
                    TimeOp::Lt | TimeOp::Le => i,
                    TimeOp::Gt => i + self.events[i..].partition_point(|e| e.0 <= bound),
                    TimeOp::Ge | TimeOp::Eq => {
                        i + self.events[i..].partition_point(|e| e.0 < bound)
                    }
                };
                loop {
                    j = self.next_open(a + 1, j);
                    if j >= n || !holds(op, self.events[j].0, bound) {
                        return None;
                    }
                    if let Some(end) = self.go(a + 1, j, j) {
                        return Some(end);
                    }
                    j += 1;
                }
            }
        }
    }
}

/// `metricc_sequence(entity, time, c1, ..., cn)` with `spec`: per group,
/// the entities whose events match (or the sum of their matches), Int64.
/// `entity` is a string, `time` Int64 microseconds, the conditions
/// booleans (null is false); a row for which none holds is not kept.
pub fn sequence(spec: &PatternSpec, entity: Expr, time: Expr, conditions: Vec<Expr>) -> Expr {
    let mut args = vec![entity, time];
    args.extend(conditions);
    lists::call::<Sequence>(spec, args)
}

/// The fields of the state: the events of a group with their entity.
fn state_fields() -> Fields {
    Fields::from(vec![
        Field::new("entity", DataType::Utf8, false),
        Field::new("t", DataType::Int64, false),
        Field::new("m", DataType::UInt32, false),
    ])
}

/// `metricc_sequence` for [`lists::call`].
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Sequence;

impl GroupedAggregate for Sequence {
    const NAME: &'static str = SEQUENCE;
    type Spec = PatternSpec;
    fn return_type(_: &str, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn state_type() -> DataType {
        lists::list_of(state_fields())
    }
    fn groups(spec: PatternSpec, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SequenceGroups::new(spec)))
    }
}

struct SequenceGroups {
    spec: PatternSpec,
    /// Every group's events: (entity id, time, conditions).
    events: Arena<(u32, i64, u32)>,
    /// Entity ids by name, and names by id.
    entities: Interner,
}

impl SequenceGroups {
    fn new(spec: PatternSpec) -> Self {
        SequenceGroups {
            spec,
            events: Arena::default(),
            entities: Interner::default(),
        }
    }

    fn push(&mut self, group: usize, entity: &str, t: i64, m: u32) -> Result<()> {
        let id = self.entities.id(entity);
        self.events.push(group, (id, t, m))
    }

    /// The value of one group from its events (in any order).
    fn value(&self, events: &mut [(u32, i64, u32)], scratch: &mut Vec<Event>) -> i64 {
        // By entity, then time; at one instant (ClickHouse leaves the order
        // undefined) the event holding the lowest condition first, then by
        // the whole set: `(?1)(?2)` at one instant matches whatever order
        // the rows came in.
        events.sort_unstable_by_key(|&(e, t, m)| (e, t, m.trailing_zeros(), m));
        let mut total = 0u64;
        for run in events.chunk_by(|a, b| a.0 == b.0) {
            scratch.clear();
            scratch.extend(run.iter().map(|&(_, t, m)| (t, m)));
            let n = count(&self.spec.actions, scratch, !self.spec.matches);
            total += if self.spec.matches {
                n
            } else {
                u64::from(n > 0)
            };
        }
        total as i64
    }
}

impl GroupsAccumulator for SequenceGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.events.resize(total_num_groups)?;
        let (Some(entity), Some(time)) = (values.first(), values.get(1)) else {
            return exec_err!("{SEQUENCE} takes an entity, a time and conditions");
        };
        let entity = datafusion::arrow::compute::cast(entity, &DataType::Utf8)?;
        let entity = entity.as_string::<i32>();
        let time = time.as_primitive::<Int64Type>();
        let conditions: Vec<&BooleanArray> = values[2..].iter().map(|c| c.as_boolean()).collect();
        if conditions.len() > MAX_CONDITIONS {
            return exec_err!("{SEQUENCE} takes at most {MAX_CONDITIONS} conditions");
        }
        for (row, group) in rows_of(group_indices, opt_filter) {
            if entity.is_null(row) || time.is_null(row) {
                continue;
            }
            let mut m = 0u32;
            for (k, c) in conditions.iter().enumerate() {
                if c.is_valid(row) && c.value(row) {
                    m |= 1 << k;
                }
            }
            if m != 0 {
                self.push(group, entity.value(row), time.value(row), m)?;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.events.take(emit_to)?;
        let mut out = Int64Builder::with_capacity(taken.groups());
        let (mut group, mut scratch) = (Vec::new(), Vec::new());
        for g in 0..taken.groups() {
            taken.group_into(g, &mut group);
            out.append_value(self.value(&mut group, &mut scratch));
        }
        Ok(Arc::new(out.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.events.take(emit_to)?;
        let mut entity = StringBuilder::new();
        let mut t = Int64Builder::new();
        let mut m = UInt32Builder::new();
        let mut lengths = Vec::with_capacity(taken.groups());
        let mut group = Vec::new();
        for g in 0..taken.groups() {
            taken.group_into(g, &mut group);
            for &(e, time, mask) in &group {
                entity.append_value(&self.entities.values[e as usize]);
                t.append_value(time);
                m.append_value(mask);
            }
            lengths.push(group.len());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(entity.finish()),
            Arc::new(t.finish()),
            Arc::new(m.finish()),
        ];
        Ok(vec![lists::list(state_fields(), columns, lengths)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.events.resize(total_num_groups)?;
        if values.is_empty() {
            return exec_err!("{SEQUENCE}: no state to merge");
        }
        for (group, events) in lists::merged(values, group_indices) {
            let events = events.as_struct();
            let entity = events.column(0).as_string::<i32>();
            let t = events.column(1).as_primitive::<Int64Type>();
            let m = events.column(2).as_primitive::<UInt32Type>();
            for k in 0..events.len() {
                self.push(group, entity.value(k), t.value(k), m.value(k))?;
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row as a state of its own: one event, or none.
        let rows = values.first().map_or(0, |v| v.len());
        let mut one = SequenceGroups::new(self.spec.clone());
        let groups: Vec<usize> = (0..rows).collect();
        one.update_batch(values, &groups, opt_filter, rows)?;
        one.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        self.events.bytes() + self.entities.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ClickHouse's matcher as its source reads: an explicit stack of
    /// choice points, no memory of failures, the end-of-pattern rule
    /// bounded (its own reads past the end, ClickHouse issue 120729).
    fn reference(actions: &[Action], events: &[Event], first: bool) -> u64 {
        let mut with_star = vec![Action::Star];
        with_star.extend_from_slice(actions);
        let acts = &with_star;
        let n = events.len();
        let mut start = 0;
        let mut count = 0;
        while start < n {
            let (mut a, mut i, mut base) = (0usize, start, start);
            let mut stack: Vec<(usize, usize, usize)> = Vec::new();
            let backtrack = |stack: &mut Vec<(usize, usize, usize)>,
                             a: &mut usize,
                             i: &mut usize,
                             base: &mut usize| {
                while let Some((sa, si, sb)) = stack.pop() {
                    *a = sa;
                    *i = si + 1;
                    *base = sb;
                    if *i != n {
                        return true;
                    }
                }
                false
            };
            let mut failed = false;
            while a < acts.len() && i < n {
                match acts[a] {
                    Action::Event(c) => {
                        if events[i].1 & (1 << c) != 0 {
                            base = i;
                            a += 1;
                            i += 1;
                        } else if !backtrack(&mut stack, &mut a, &mut i, &mut base) {
                            failed = true;
                            break;
                        }
                    }
                    Action::Any => {
                        base = i;
                        a += 1;
                        i += 1;
                    }
                    Action::Star => {
                        stack.push((a, i, base));
                        base = i;
                        a += 1;
                    }
                    // metricc's own: the next event or nothing (no choice
                    // point), anchored there as a time condition is.
                    Action::Gap(op, d) => {
                        if holds(op, events[i].0, events[base].0.saturating_add(d)) {
                            base = i;
                            a += 1;
                        } else if !backtrack(&mut stack, &mut a, &mut i, &mut base) {
                            failed = true;
                            break;
                        }
                    }
                    Action::Time(op, d) => {
                        let bound = events[base].0.saturating_add(d);
                        if holds(op, events[i].0, bound) {
                            stack.push((a, i, base));
                            base = i;
                            a += 1;
                        } else if matches!(op, TimeOp::Lt | TimeOp::Le) {
                            if !backtrack(&mut stack, &mut a, &mut i, &mut base) {
                                failed = true;
                                break;
                            }
                        } else {
                            i += 1;
                            if i == n && !backtrack(&mut stack, &mut a, &mut i, &mut base) {
                                failed = true;
                                break;
                            }
                        }
                    }
                }
            }
            let matched = !failed
                && (a == acts.len() || (i == n && acts[a..].iter().all(|x| holds_at_end(*x))));
            if !matched {
                break;
            }
            count += 1;
            if first {
                break;
            }
            start = if i == start { start + 1 } else { i };
        }
        count
    }

    /// The order `SequenceGroups::value` gives one entity's events.
    fn sort_events(events: &mut [Event]) {
        events.sort_unstable_by_key(|&(t, m)| (t, m.trailing_zeros(), m));
    }

    fn ev(t: i64, conditions: &[u8]) -> Event {
        (t, conditions.iter().fold(0, |m, c| m | 1 << c))
    }

    #[test]
    fn clickhouse_documentation_and_test_cases() {
        use Action::*;
        // ClickHouse's documentation: rows with number 1, 3, 2 at times 1,
        // 2, 3. Conditions number = 1 and number = 2 keep only rows 1 and 3
        // (`(?1)(?2)` matches); a third condition number = 3 keeps the row
        // between them, and `(?1)(?2)` no longer matches, `(?1).(?2)` does.
        let two = [ev(1, &[0]), ev(3, &[1])];
        assert_eq!(count(&[Event(0), Event(1)], &two, true), 1);
        let three = [ev(1, &[0]), ev(2, &[2]), ev(3, &[1])];
        assert_eq!(count(&[Event(0), Event(1)], &three, true), 0);
        assert_eq!(count(&[Event(0), Any, Event(1)], &three, true), 1);
        assert_eq!(count(&[Event(0), Star, Event(1)], &three, true), 1);
        // sequenceCount('(?1).*(?2)') on 1, 3, 2, 1, 3, 2: 2.
        let events = [
            ev(1, &[0]),
            ev(2, &[2]),
            ev(3, &[1]),
            ev(4, &[0]),
            ev(5, &[2]),
            ev(6, &[1]),
        ];
        assert_eq!(count(&[Event(0), Star, Event(1)], &events, false), 2);
        // A run of five c1 events: (?1)(?1) twice, (?1)(?1)(?1) once.
        let five: Vec<(i64, u32)> = (1..=5).map(|t| ev(t, &[0])).collect();
        assert_eq!(count(&[Event(0), Event(0)], &five, false), 2);
        assert_eq!(count(&[Event(0), Event(0), Event(0)], &five, false), 1);
        assert_eq!(count(&[Event(0)], &five, false), 5);
        // One event holding both conditions takes one pattern element.
        assert_eq!(count(&[Event(0), Event(1)], &[ev(10, &[0, 1])], true), 0);
        // Time: 0 c1, 3600 c2, 50000 c1, 90000 c3, 100000 c2.
        let events = [
            ev(0, &[0]),
            ev(3600, &[1]),
            ev(50_000, &[0]),
            ev(90_000, &[2]),
            ev(100_000, &[1]),
        ];
        let within = |op, d| [Event(0), Time(op, d), Event(1)];
        assert_eq!(count(&within(TimeOp::Ge, 86_400), &events, true), 1);
        assert_eq!(count(&within(TimeOp::Le, 3_600), &events, true), 1);
        assert_eq!(count(&within(TimeOp::Lt, 3_600), &events, true), 0);
        assert_eq!(count(&[Event(0), Event(1)], &events, true), 1);
        let no_late = &events[..4];
        assert_eq!(count(&within(TimeOp::Ge, 86_400), no_late, true), 0);
        // A trailing `(?t<5)` holds when the event taken is the last.
        assert_eq!(
            count(&[Event(0), Time(TimeOp::Lt, 5)], &[ev(0, &[0])], true),
            1
        );
        assert_eq!(
            count(
                &[Event(0), Time(TimeOp::Lt, 5)],
                &[ev(0, &[0]), ev(9, &[1])],
                true
            ),
            0
        );
    }

    use proptest::prelude::*;

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            Just(Action::Star),
            Just(Action::Any),
            (0u8..3).prop_map(Action::Event),
            (0u8..3).prop_map(Action::Event),
            (time_op(), 0i64..6).prop_map(|(op, d)| Action::Time(op, d)),
            (time_op(), 0i64..6).prop_map(|(op, d)| Action::Gap(op, d)),
        ]
    }

    fn time_op() -> impl Strategy<Value = TimeOp> {
        prop_oneof![
            Just(TimeOp::Lt),
            Just(TimeOp::Le),
            Just(TimeOp::Gt),
            Just(TimeOp::Ge),
            Just(TimeOp::Eq)
        ]
    }

    fn is_time(a: Action) -> bool {
        matches!(a, Action::Time(..) | Action::Gap(..))
    }

    fn pattern() -> impl Strategy<Value = Vec<Action>> {
        // As the checker accepts them: a condition somewhere, a time
        // condition after an element, not first after another.
        prop::collection::vec(action(), 1..7).prop_filter("a valid pattern", |p| {
            p.iter().any(|a| matches!(a, Action::Event(_)))
                && p.windows(2).all(|w| !(is_time(w[0]) && is_time(w[1])))
        })
    }

    fn events() -> impl Strategy<Value = Vec<Event>> {
        prop::collection::vec((0i64..12, 1u32..8), 0..14).prop_map(|mut v| {
            sort_events(&mut v);
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// The remembered search gives what ClickHouse's matcher gives: the
        /// same matches, counted or not.
        #[test]
        fn same_answers_as_the_plain_backtracking(p in pattern(), e in events()) {
            prop_assert_eq!(count(&p, &e, false), reference(&p, &e, false));
            prop_assert_eq!(count(&p, &e, true), reference(&p, &e, true));
        }
    }

    #[test]
    fn a_state_merged_elsewhere_gives_the_same_values() {
        use datafusion::arrow::array::{BooleanArray, Int64Array, StringArray};
        // Two groups: a (failure, then a call 30 s later) and b (a
        // failure alone) in group 0; a again in group 1, a call alone.
        let spec = PatternSpec {
            actions: vec![
                Action::Event(0),
                Action::Time(TimeOp::Le, 60_000_000),
                Action::Event(1),
            ],
            matches: true,
        };
        let values: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "a", "b", "a"])),
            Arc::new(Int64Array::from(vec![0, 30_000_000, 5, 7])),
            Arc::new(BooleanArray::from(vec![true, false, true, false])),
            Arc::new(BooleanArray::from(vec![true, true, true, true])),
        ];
        let groups = [0, 0, 0, 1];
        let mut direct = SequenceGroups::new(spec.clone());
        direct.update_batch(&values, &groups, None, 2).unwrap();
        let mut partial = SequenceGroups::new(spec.clone());
        partial.update_batch(&values, &groups, None, 2).unwrap();
        let state = partial.state(EmitTo::All).unwrap();
        let mut merged = SequenceGroups::new(spec.clone());
        merged.merge_batch(&state, &[0, 1], 2).unwrap();
        let mut converted = SequenceGroups::new(spec);
        let rows = converted.convert_to_state(&values, None).unwrap();
        converted.merge_batch(&rows, &groups, 2).unwrap();
        let want = direct.evaluate(EmitTo::All).unwrap();
        assert_eq!(want.as_primitive::<Int64Type>().values(), &[1, 0]);
        assert_eq!(&merged.evaluate(EmitTo::All).unwrap(), &want);
        assert_eq!(&converted.evaluate(EmitTo::All).unwrap(), &want);
    }

    #[test]
    fn long_histories_take_linear_steps() {
        // A pattern ClickHouse gives up on: c1 then, much later, c2, over
        // 200,000 events without c2. The search remembers failures.
        let events: Vec<Event> = (0..200_000).map(|t| ev(t, &[0])).collect();
        let p = [
            Action::Event(0),
            Action::Star,
            Action::Time(TimeOp::Ge, 10),
            Action::Event(1),
        ];
        assert_eq!(count(&p, &events, false), 0);
        let p = [
            Action::Event(0),
            Action::Time(TimeOp::Le, 1_000_000),
            Action::Event(0),
        ];
        assert_eq!(count(&p, &events, false), 100_000);
    }
}
