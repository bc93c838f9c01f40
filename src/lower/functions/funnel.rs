//! lower: `metricc_funnel(ts, bucket, [mine, exclusions, step..., hold...]...,
//! prop...)`, the aggregate behind funnels and `time_between`. Grouped by
//! entity, it runs every sequence of a source in one pass: one scan, one
//! hash of the entity, one store of events per sequence
//! ([`Arena`]; 32 bytes an event, held and breakdown values interned), and
//! at the end [`sweep::evaluate`] over each entity's events of each sequence.
//!
//! The [`Sequences`] (every window and mode of every sequence) travel inside
//! the function value as JSON, not as a literal argument: DataFusion would
//! copy a literal into an array of one per row. Arguments, all per row:
//! - `ts`: Int64 microseconds; `bucket`: Int64, the entry period of the row;
//! - per sequence, a block: `mine`, Boolean, whether the row is of use to it
//!   (its filter, its time range); `exclusions`, Int64, bit `k` set when the
//!   row matches exclusion `k`; one Boolean per step (null counts as false);
//!   its held values as LargeUtf8;
//! - the breakdown values as Utf8, shared by all sequences.
//!
//! Result per entity: a list of `{seq, bucket, level, n, t0.., a0..}`
//! structs, one per sequence and entry period: the steps its best attempt
//! reached (`n` is 1), when, and the breakdown values it is attributed to
//! (null when the attributed step was not reached). With
//! [`Sequences::counts`] (no value reads the times), the entities of an
//! emission are counted instead: one struct per sequence, entry period,
//! level and breakdown values, `n` entities, times null, all on the first
//! emitted entity's row and empty lists on the others; summed over
//! emissions they are the funnels' counts, and no row per entity leaves.

use super::arena::{Arena, Taken};
use super::heavy::Heavy;
use super::lists::{self, GroupedAggregate, Interner, list, list_of, merged, push_key, split_key};
use super::sweep::{self, Event, NO_PROP, Spec, ValueOrder};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Builder, Int64Builder, LargeStringArray,
    StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, Expr, GroupsAccumulator};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// The function's name in plans.
pub const FUNNEL: &str = "metricc_funnel";

/// The sequences of one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequences {
    pub parts: Vec<Part>,
    /// Count entities inside the aggregate instead of returning a row per
    /// entity: no value reads the step times.
    pub counts: bool,
    /// The rows arrive sorted by entity (the plan sorts them under a memory
    /// limit), each entity's rows together: an entity with more than
    /// [`HEAVY`] events of a sequence leaves the store for a [`Heavy`],
    /// which writes its events to disk in sorted runs and sweeps them in
    /// time order at the end.
    #[serde(default)]
    pub sorted: bool,
}

/// With sorted rows, the events of one entity and sequence held in the
/// store before they go to a [`Heavy`]: 2 MB.
pub const HEAVY: usize = 1 << 16;

/// One sequence of a call: its engine settings and how many held values
/// its block has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub spec: Spec,
    pub holds: usize,
}

/// One sequence's arguments.
#[derive(Debug, Clone)]
pub struct Block {
    pub mine: Expr,
    pub exclusions: Expr,
    pub steps: Vec<Expr>,
    pub holds: Vec<Expr>,
}

/// The call: one block per part of `sequences`, in order; `props` Utf8.
pub fn funnel(
    sequences: &Sequences,
    ts: Expr,
    bucket: Expr,
    blocks: Vec<Block>,
    props: Vec<Expr>,
) -> Expr {
    let mut args = vec![ts, bucket];
    for b in blocks {
        args.push(b.mine);
        args.push(b.exclusions);
        args.extend(b.steps);
        args.extend(b.holds);
    }
    args.extend(props);
    lists::call::<Funnel>(sequences, args)
}

/// The arguments before the blocks.
const FIXED: usize = 2;

/// Where each part's block starts, and the number of breakdown columns,
/// checked against the argument count.
fn layout(seqs: &Sequences, args: usize) -> Result<(Vec<usize>, usize)> {
    let mut at = FIXED;
    let mut starts = Vec::with_capacity(seqs.parts.len());
    for p in &seqs.parts {
        if p.spec.steps == 0 || p.spec.steps > sweep::MAX_STEPS {
            return exec_err!("{FUNNEL} takes 1 to {} steps", sweep::MAX_STEPS);
        }
        starts.push(at);
        at += 2 + p.spec.steps + p.holds;
    }
    if seqs.parts.is_empty() || args < at {
        return exec_err!("{FUNNEL}: {args} arguments for its sequences");
    }
    Ok((starts, args - at))
}

fn steps_of(seqs: &Sequences) -> usize {
    seqs.parts.iter().map(|p| p.spec.steps).max().unwrap_or(0)
}

/// The result type: a list of per-period structs.
fn outcome_fields(steps: usize, props: usize) -> Fields {
    let mut fields = vec![
        Field::new("seq", DataType::Int32, false),
        Field::new("bucket", DataType::Int64, false),
        Field::new("level", DataType::Int32, false),
        Field::new("n", DataType::Int64, false),
    ];
    for s in 0..steps {
        fields.push(Field::new(format!("t{s}"), DataType::Int64, true));
    }
    for p in 0..props {
        fields.push(Field::new(format!("a{p}"), DataType::Utf8, true));
    }
    Fields::from(fields)
}

fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("bucket", DataType::Int64, false),
        Field::new("steps", DataType::Int64, false),
        Field::new("excl", DataType::Int64, false),
        Field::new("hold", DataType::Utf8, true),
        Field::new("prop", DataType::Utf8, true),
    ])
}

/// `metricc_funnel` for [`lists::call`].
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Funnel;

impl GroupedAggregate for Funnel {
    const NAME: &'static str = FUNNEL;
    type Spec = Sequences;
    fn return_type(spec: &str, types: &[DataType]) -> Result<DataType> {
        let seqs: Sequences = lists::parse(spec, FUNNEL)?;
        let (_, props) = layout(&seqs, types.len())?;
        Ok(list_of(outcome_fields(steps_of(&seqs), props)))
    }
    fn state_type() -> DataType {
        list_of(event_fields())
    }
    fn groups(seqs: Sequences, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        let (starts, props) = layout(&seqs, args.exprs.len())?;
        Ok(Box::new(FunnelGroups::new(seqs, starts, props)))
    }
}

/// One sequence's events and held values.
struct PartState {
    events: Store,
    hold_values: Interner,
    /// With sorted rows: the group taking events now, and how many.
    current: (usize, usize),
    /// With sorted rows: the groups with more than [`HEAVY`] events (at
    /// most a few at a time: a group ends before the next begins, and is
    /// emitted soon after).
    heavy: Vec<(usize, Heavy)>,
}

/// Held and breakdown values compared as the values their ids stand for.
struct ByValue<'a> {
    holds: &'a Interner,
    props: &'a Interner,
}

impl ValueOrder for ByValue<'_> {
    fn hold(&self, a: u32, b: u32) -> std::cmp::Ordering {
        self.holds.cmp(a, b)
    }
    fn prop(&self, a: u32, b: u32) -> std::cmp::Ordering {
        self.props.cmp(a, b)
    }
}

impl PartState {
    /// Takes one event of `group`. With sorted rows, a group past [`HEAVY`]
    /// events becomes a [`Heavy`]: its events so far leave the store.
    fn push(&mut self, sorted: bool, group: usize, e: Event) -> Result<()> {
        if !sorted {
            return self.events.push(group, e);
        }
        if let Some((_, h)) = self.heavy.iter_mut().find(|(g, _)| *g == group) {
            return h.push(e);
        }
        match self.current {
            (g, ref mut n) if g == group => *n += 1,
            (g, _) if group < g => {
                return exec_err!(
                    "{FUNNEL}: rows out of entity order where rows sorted by entity were planned"
                );
            }
            _ => self.current = (group, 1),
        }
        if self.current.1 <= HEAVY {
            return self.events.push(group, e);
        }
        let mut h = Heavy::default();
        for held in self.events.remove(group)?.into_iter().chain([e]) {
            h.push(held)?;
        }
        self.heavy.push((group, h));
        Ok(())
    }

    /// The heavy groups `emit_to` takes, by group; those left are
    /// renumbered as the store renumbers its groups.
    fn take_heavy(&mut self, emit_to: EmitTo) -> Vec<(usize, Heavy)> {
        let n = match emit_to {
            EmitTo::All => usize::MAX,
            EmitTo::First(n) => n,
        };
        let (taken, left) = std::mem::take(&mut self.heavy)
            .into_iter()
            .partition(|(g, _)| *g < n);
        self.heavy = left;
        for (g, _) in &mut self.heavy {
            *g -= n;
        }
        // The group taking events now is never emitted before it ends;
        // once it is, the next group starts a new count.
        self.current = match self.current {
            (g, count) if g >= n => (g - n, count),
            _ => (0, 0),
        };
        taken
    }

    fn bytes(&self) -> usize {
        self.events.bytes()
            + self.hold_values.size()
            + self.heavy.iter().map(|(_, h)| h.bytes()).sum::<usize>()
    }
}

/// How one sequence keeps its events.
enum Store {
    /// Every event of use.
    Events(Arena<Event>),
    /// A `time_between` (two steps, ordered, the first `from` event only,
    /// no exclusions or held values), whose answer is the first `from`
    /// event and the earliest `to` event at or after it. Per entity, those
    /// two as seen so far; the events that may still matter go to `rest`:
    /// `from` events at the first one's time (ties) and `to` events earlier
    /// than it (an earlier `from` may come). With an entity's rows in time
    /// order `rest` stays empty; in any other order it can hold most of an
    /// entity's events, so with rows sorted by entity a heavy entity leaves
    /// it for a [`Heavy`] like any other.
    FirstPair {
        pairs: Vec<[Option<Event>; 2]>,
        rest: Arena<Event>,
    },
}

impl Store {
    fn new(spec: &Spec, holds: usize) -> Self {
        let pair = spec.first_only
            && spec.steps == 2
            && spec.order == sweep::Order::Ordered
            && spec.exclusions.is_empty()
            && holds == 0;
        if pair {
            Store::FirstPair {
                pairs: Vec::new(),
                rest: Arena::default(),
            }
        } else {
            Store::Events(Arena::default())
        }
    }

    fn resize(&mut self, groups: usize) -> Result<()> {
        match self {
            Store::Events(a) => a.resize(groups),
            Store::FirstPair { pairs, rest } => {
                pairs.resize(groups, [None, None]);
                rest.resize(groups)
            }
        }
    }

    fn push(&mut self, group: usize, e: Event) -> Result<()> {
        let (pairs, rest) = match self {
            Store::Events(a) => return a.push(group, e),
            Store::FirstPair { pairs, rest } => (pairs, rest),
        };
        let [from, to] = &mut pairs[group];
        let mut as_to = e.steps & 2 != 0;
        if e.steps & 1 != 0 {
            match from {
                Some(f) if e.ts == f.ts => {
                    // A tie: the engine's order among them decides.
                    rest.push(group, e)?;
                    as_to = false;
                }
                Some(f) if e.ts > f.ts => {}
                _ => {
                    // The new first `from`, which the engine also reuses as
                    // the `to` when it matches both; the old one, later,
                    // may still be a `to`.
                    if let Some(old) = from.replace(e)
                        && old.steps & 2 != 0
                    {
                        Self::offer_to(to, old);
                    }
                    as_to = false;
                }
            }
        }
        if as_to {
            match from {
                Some(f) if e.ts >= f.ts => Self::offer_to(to, e),
                _ => rest.push(group, e)?,
            }
        }
        Ok(())
    }

    /// Keeps `e` as the `to` candidate if it is earlier.
    fn offer_to(to: &mut Option<Event>, e: Event) {
        if to.is_none_or(|t| e.ts < t.ts) {
            *to = Some(e);
        }
    }

    /// Takes `group`'s events out (see [`Arena::remove`]).
    fn remove(&mut self, group: usize) -> Result<Vec<Event>> {
        match self {
            Store::Events(a) => a.remove(group),
            Store::FirstPair { pairs, rest } => {
                let mut out: Vec<Event> =
                    pairs[group].iter_mut().filter_map(Option::take).collect();
                out.extend(rest.remove(group)?);
                Ok(out)
            }
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Result<StoreTaken> {
        Ok(match self {
            Store::Events(a) => StoreTaken {
                taken: a.take(emit_to)?,
                pairs: Vec::new(),
            },
            Store::FirstPair { pairs, rest } => {
                let n = match emit_to {
                    EmitTo::All => pairs.len(),
                    EmitTo::First(n) => n.min(pairs.len()),
                };
                StoreTaken {
                    taken: rest.take(emit_to)?,
                    pairs: pairs.drain(..n).collect(),
                }
            }
        })
    }

    fn bytes(&self) -> usize {
        match self {
            Store::Events(a) => a.bytes(),
            Store::FirstPair { pairs, rest } => {
                pairs.capacity() * std::mem::size_of::<[Option<Event>; 2]>() + rest.bytes()
            }
        }
    }
}

/// One sequence's events of the groups an emission takes.
struct StoreTaken {
    taken: Taken<Event>,
    /// For [`Store::FirstPair`], each group's pair.
    pairs: Vec<[Option<Event>; 2]>,
}

impl StoreTaken {
    fn groups(&self) -> usize {
        self.taken.groups().max(self.pairs.len())
    }

    /// About how many events: a capacity to reserve.
    fn len(&self) -> usize {
        self.taken.len() + 2 * self.pairs.len()
    }

    /// Group `g`'s events into `out` (cleared first).
    fn group_into(&self, g: usize, out: &mut Vec<Event>) {
        self.taken.group_into(g, out);
        if let Some(pair) = self.pairs.get(g) {
            out.extend(pair.iter().flatten());
        }
    }
}

struct FunnelGroups {
    seqs: Sequences,
    /// Where each part's block starts among the arguments.
    starts: Vec<usize>,
    props: usize,
    parts: Vec<PartState>,
    prop_values: Interner,
    key: String,
    /// One entity's events, reused from one entity to the next.
    scratch: Vec<Event>,
}

impl FunnelGroups {
    fn new(seqs: Sequences, starts: Vec<usize>, props: usize) -> Self {
        let parts = seqs
            .parts
            .iter()
            .map(|p| PartState {
                events: Store::new(&p.spec, p.holds),
                hold_values: Interner::default(),
                current: (0, 0),
                heavy: Vec::new(),
            })
            .collect();
        FunnelGroups {
            seqs,
            starts,
            props,
            parts,
            prop_values: Interner::default(),
            key: String::new(),
            scratch: Vec::new(),
        }
    }

    fn resize(&mut self, groups: usize) -> Result<()> {
        for p in &mut self.parts {
            p.events.resize(groups)?;
        }
        Ok(())
    }

    fn push_rows(
        &mut self,
        values: &[ArrayRef],
        rows: impl Iterator<Item = (usize, usize)>,
    ) -> Result<()> {
        let ts = values[0].as_primitive::<Int64Type>();
        let bucket = values[1].as_primitive::<Int64Type>();
        let prop_cols: Vec<&StringArray> = values[values.len() - self.props..]
            .iter()
            .map(|a| a.as_string::<i32>())
            .collect();
        struct Cols<'a> {
            mine: &'a BooleanArray,
            excl: &'a datafusion::arrow::array::Int64Array,
            steps: Vec<&'a BooleanArray>,
            holds: Vec<&'a LargeStringArray>,
            strict: bool,
        }
        let blocks: Vec<Cols> = self
            .seqs
            .parts
            .iter()
            .zip(&self.starts)
            .map(|(p, &at)| {
                let steps_at = at + 2;
                let holds_at = steps_at + p.spec.steps;
                Cols {
                    mine: values[at].as_boolean(),
                    excl: values[at + 1].as_primitive::<Int64Type>(),
                    steps: values[steps_at..holds_at]
                        .iter()
                        .map(|a| a.as_boolean())
                        .collect(),
                    holds: values[holds_at..holds_at + p.holds]
                        .iter()
                        .map(|a| a.as_string::<i64>())
                        .collect(),
                    strict: matches!(
                        p.spec.order,
                        sweep::Order::Strict | sweep::Order::StrictOrder
                    ),
                }
            })
            .collect();
        for (row, group) in rows {
            if ts.is_null(row) {
                continue;
            }
            // The breakdown values' id, found once per row when needed.
            let mut prop: Option<u32> = None;
            for (b, part) in blocks.iter().zip(self.parts.iter_mut()) {
                if !(b.mine.is_valid(row) && b.mine.value(row)) {
                    continue;
                }
                let mut mask = 0u32;
                for (s, col) in b.steps.iter().enumerate() {
                    if col.is_valid(row) && col.value(row) {
                        mask |= 1 << s;
                    }
                }
                let x = if b.excl.is_valid(row) {
                    b.excl.value(row) as u32
                } else {
                    0
                };
                if mask == 0 && x == 0 && !b.strict {
                    continue;
                }
                let hold = if b.holds.is_empty() {
                    0
                } else {
                    self.key.clear();
                    for c in &b.holds {
                        push_key(&mut self.key, c.is_valid(row).then(|| c.value(row)));
                    }
                    part.hold_values.id(&self.key)
                };
                let prop = match prop {
                    Some(p) => p,
                    None if prop_cols.is_empty() => 0,
                    None => {
                        self.key.clear();
                        for c in &prop_cols {
                            push_key(&mut self.key, c.is_valid(row).then(|| c.value(row)));
                        }
                        *prop.insert(self.prop_values.id(&self.key))
                    }
                };
                part.push(
                    self.seqs.sorted,
                    group,
                    Event {
                        ts: ts.value(row),
                        bucket: if bucket.is_valid(row) {
                            bucket.value(row)
                        } else {
                            0
                        },
                        steps: mask,
                        excl: x,
                        hold,
                        prop,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Each part's events of the emitted groups.
    fn take(&mut self, emit_to: EmitTo) -> Result<Vec<StoreTaken>> {
        self.parts
            .iter_mut()
            .map(|p| p.events.take(emit_to))
            .collect()
    }

    /// Events of the emitted groups as `List<Struct<event>>`.
    fn encode_events(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        // Sorted rows run in one phase and are never spilled (DataFusion
        // emits the groups of sorted input as they end): a heavy group's
        // events are not given back.
        if self.parts.iter().any(|p| !p.heavy.is_empty()) {
            return exec_err!("{FUNNEL}: a state asked of an entity whose events are on disk");
        }
        let taken = self.take(emit_to)?;
        let groups = taken.first().map_or(0, |t| t.groups());
        let n: usize = taken.iter().map(|t| t.len()).sum();
        let mut seq = Int64Builder::with_capacity(n);
        let mut ts = Int64Builder::with_capacity(n);
        let mut bucket = Int64Builder::with_capacity(n);
        let mut steps = Int64Builder::with_capacity(n);
        let mut excl = Int64Builder::with_capacity(n);
        let mut hold = StringBuilder::new();
        let mut prop = StringBuilder::new();
        let mut lengths = vec![0; groups];
        let mut events = Vec::new();
        for (g, length) in lengths.iter_mut().enumerate() {
            for (i, (t, part)) in taken.iter().zip(&self.parts).enumerate() {
                t.group_into(g, &mut events);
                *length += events.len();
                for e in &events {
                    seq.append_value(i as i64);
                    ts.append_value(e.ts);
                    bucket.append_value(e.bucket);
                    steps.append_value(e.steps as i64);
                    excl.append_value(e.excl as i64);
                    if self.seqs.parts[i].holds == 0 {
                        hold.append_null();
                    } else {
                        hold.append_value(&part.hold_values.values[e.hold as usize]);
                    }
                    if self.props == 0 {
                        prop.append_null();
                    } else {
                        prop.append_value(&self.prop_values.values[e.prop as usize]);
                    }
                }
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(seq.finish()),
            Arc::new(ts.finish()),
            Arc::new(bucket.finish()),
            Arc::new(steps.finish()),
            Arc::new(excl.finish()),
            Arc::new(hold.finish()),
            Arc::new(prop.finish()),
        ];
        list(event_fields(), columns, lengths)
    }
}

/// The outcome columns being built.
struct Outcomes {
    seq: Int32Builder,
    bucket: Int64Builder,
    level: Int32Builder,
    n: Int64Builder,
    times: Vec<Int64Builder>,
    attrs: Vec<StringBuilder>,
}

impl Outcomes {
    fn new(steps: usize, props: usize) -> Self {
        Outcomes {
            seq: Int32Builder::new(),
            bucket: Int64Builder::new(),
            level: Int32Builder::new(),
            n: Int64Builder::new(),
            times: (0..steps).map(|_| Int64Builder::new()).collect(),
            attrs: (0..props).map(|_| StringBuilder::new()).collect(),
        }
    }

    /// One outcome of sequence `seq`.
    fn push(&mut self, seq: usize, o: (i64, usize, i64), times: &[i64], values: &[Option<&str>]) {
        let (bucket, level, n) = o;
        self.seq.append_value(seq as i32);
        self.bucket.append_value(bucket);
        self.level.append_value(level as i32);
        self.n.append_value(n);
        for (s, b) in self.times.iter_mut().enumerate() {
            b.append_option(times.get(s).copied());
        }
        for (p, b) in self.attrs.iter_mut().enumerate() {
            b.append_option(values.get(p).copied().flatten());
        }
    }

    fn finish(mut self, steps: usize, props: usize, lengths: Vec<usize>) -> Result<ArrayRef> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.seq.finish()),
            Arc::new(self.bucket.finish()),
            Arc::new(self.level.finish()),
            Arc::new(self.n.finish()),
        ];
        columns.extend(
            self.times
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.extend(
            self.attrs
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        list(outcome_fields(steps, props), columns, lengths)
    }
}

impl GroupsAccumulator for FunnelGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups)?;
        self.push_rows(values, super::rows_of(group_indices, opt_filter))
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.take(emit_to)?;
        let groups = taken.first().map_or(0, |t| t.groups());
        let hold_ranks: Vec<Vec<u32>> =
            self.parts.iter().map(|p| p.hold_values.ranks().0).collect();
        let (prop_rank, prop_order) = self.prop_values.ranks();
        let props = self.props;
        let prop_values = |prop: u32| {
            if prop == NO_PROP || props == 0 {
                vec![None; props]
            } else {
                split_key(&self.prop_values.values[prop_order[prop as usize] as usize])
            }
        };
        let steps = steps_of(&self.seqs);
        let mut out = Outcomes::new(steps, self.props);
        let mut lengths = Vec::with_capacity(groups);
        // Counts mode: entities per sequence, entry period, level and
        // breakdown value.
        let mut counts: HashMap<(usize, i64, usize, u32), i64> = HashMap::new();
        let mut heavy: Vec<Vec<(usize, Heavy)>> = self
            .parts
            .iter_mut()
            .map(|p| p.take_heavy(emit_to))
            .collect();
        let events = &mut self.scratch;
        for g in 0..groups {
            let mut length = 0;
            for (i, t) in taken.iter().enumerate() {
                let outcomes = if let Some(k) = heavy[i].iter().position(|(hg, _)| *hg == g) {
                    let order = ByValue {
                        holds: &self.parts[i].hold_values,
                        props: &self.prop_values,
                    };
                    let spec = &self.seqs.parts[i].spec;
                    let mut outcomes = heavy[i].swap_remove(k).1.finish(spec, &order)?;
                    for o in &mut outcomes {
                        if o.prop != NO_PROP && !prop_rank.is_empty() {
                            o.prop = prop_rank[o.prop as usize];
                        }
                    }
                    outcomes
                } else {
                    t.group_into(g, events);
                    if events.is_empty() {
                        continue;
                    }
                    let hold_rank = &hold_ranks[i];
                    for e in events.iter_mut() {
                        if !hold_rank.is_empty() {
                            e.hold = hold_rank[e.hold as usize];
                        }
                        if !prop_rank.is_empty() {
                            e.prop = prop_rank[e.prop as usize];
                        }
                    }
                    sweep::evaluate(&self.seqs.parts[i].spec, events)
                };
                if self.seqs.counts {
                    for o in outcomes {
                        *counts.entry((i, o.bucket, o.level, o.prop)).or_default() += 1;
                    }
                    continue;
                }
                length += outcomes.len();
                for o in outcomes {
                    out.push(i, (o.bucket, o.level, 1), &o.times, &prop_values(o.prop));
                }
            }
            lengths.push(length);
        }
        if self.seqs.counts {
            let mut keys: Vec<_> = counts.into_iter().collect();
            keys.sort_unstable();
            for ((seq, bucket, level, prop), n) in &keys {
                out.push(*seq, (*bucket, *level, *n), &[], &prop_values(*prop));
            }
            lengths = lists::on_first_row(groups, keys.len(), FUNNEL, "outcomes")?;
        }
        out.finish(steps, self.props, lengths)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.encode_events(emit_to)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups)?;
        for (group, item) in merged(values, group_indices) {
            let s = item.as_struct();
            let col = |i: usize| s.column(i).as_primitive::<Int64Type>();
            let (seq, ts, bucket, steps, excl) = (col(0), col(1), col(2), col(3), col(4));
            let hold: &StringArray = s.column(5).as_string::<i32>();
            let prop: &StringArray = s.column(6).as_string::<i32>();
            for i in 0..s.len() {
                let Some(part) = usize::try_from(seq.value(i))
                    .ok()
                    .and_then(|p| self.parts.get_mut(p))
                else {
                    return exec_err!("{FUNNEL}: a state names sequence {}", seq.value(i));
                };
                let h = if hold.is_valid(i) {
                    part.hold_values.id(hold.value(i))
                } else {
                    0
                };
                let p = if prop.is_valid(i) {
                    self.prop_values.id(prop.value(i))
                } else {
                    0
                };
                part.events.push(
                    group,
                    Event {
                        ts: ts.value(i),
                        bucket: bucket.value(i),
                        steps: steps.value(i) as u32,
                        excl: excl.value(i) as u32,
                        hold: h,
                        prop: p,
                    },
                )?;
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // One group per row: run the rows through a scratch accumulator.
        let mut scratch = FunnelGroups::new(self.seqs.clone(), self.starts.clone(), self.props);
        let n = values.first().map_or(0, |a| a.len());
        let indices: Vec<usize> = (0..n).collect();
        scratch.update_batch(values, &indices, opt_filter, n)?;
        Ok(vec![scratch.encode_events(EmitTo::All)?])
    }

    fn size(&self) -> usize {
        self.parts.iter().map(|p| p.bytes()).sum::<usize>()
            + self.scratch.capacity() * std::mem::size_of::<Event>()
            + self.prop_values.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn time_between(window: i64, start_from: i64, start_to: i64) -> Spec {
        Spec {
            reuse: true,
            first_only: true,
            start_from: Some(start_from),
            start_to: Some(start_to),
            ..Spec::ordered(2, window)
        }
    }

    fn event(ts: i64, steps: u32, prop: u32) -> Event {
        Event {
            ts,
            bucket: ts / 10,
            steps,
            excl: 0,
            hold: 0,
            prop,
        }
    }

    proptest! {
        /// A `time_between`'s store keeps what decides its answer: the
        /// engine over the kept events answers as over all of them, in any
        /// arrival order, with ties and events matching both steps.
        #[test]
        fn first_pair_store_keeps_the_answer(
            events in prop::collection::vec((0i64..40, 1u32..4, 0u32..3), 0..24),
            window in 0i64..30,
            from in 0i64..20,
        ) {
            let spec = time_between(window, from, from + 15);
            let all: Vec<Event> = events.iter().map(|&(t, s, p)| event(t, s, p)).collect();
            let mut store = Store::new(&spec, 0);
            let pair = matches!(store, Store::FirstPair { .. });
            prop_assert!(pair, "not a pair store");
            store.resize(1).unwrap();
            for e in &all {
                store.push(0, *e).unwrap();
            }
            let taken = store.take(EmitTo::All).unwrap();
            let mut kept = Vec::new();
            taken.group_into(0, &mut kept);
            prop_assert!(kept.len() <= all.len());
            let want = sweep::evaluate(&spec, &mut all.clone());
            let got = sweep::evaluate(&spec, &mut kept);
            prop_assert_eq!(got, want, "kept {:?}", kept);
        }
    }

    fn part(spec: &Spec, groups: usize) -> PartState {
        let mut p = PartState {
            events: Store::new(spec, 0),
            hold_values: Interner::default(),
            current: (0, 0),
            heavy: Vec::new(),
        };
        p.events.resize(groups).unwrap();
        p
    }

    /// With rows sorted by entity, a group past `HEAVY` events leaves the
    /// store for a `Heavy`, which answers as the engine over all its events
    /// (in no order of time); the groups around it stay in the store, and
    /// the heavy groups left after an emission are renumbered with it.
    #[test]
    fn a_heavy_group_in_sorted_rows_leaves_the_store() {
        let mut spec = time_between(5_000, 0, i64::MAX);
        spec.steps = 3;
        spec.first_only = false;
        spec.step_windows = vec![None; 3];
        let mut p = part(&spec, 4);
        let n = 3 * HEAVY as i64;
        let heavy: Vec<Event> = (0..n)
            .map(|i| {
                // A scattered order of times.
                let t = (i * 7_919) % n;
                let steps = match t % 97 {
                    0 => 1,
                    5 | 40 => 2,
                    _ if t % 3 == 0 => 4,
                    _ => 0,
                };
                // Four entry periods.
                Event {
                    bucket: t / 50_000,
                    ..event(t, steps, 0)
                }
            })
            .filter(|e| e.steps != 0)
            .collect();
        assert!(heavy.len() > HEAVY);
        for (g, events) in [
            (0, vec![event(2, 2, 0), event(1, 1, 0)]),
            (1, heavy.clone()),
            (2, vec![event(3, 1, 0)]),
            (3, vec![event(4, 1, 0)]),
        ] {
            for e in events {
                p.push(true, g, e).unwrap();
            }
        }
        assert_eq!(p.heavy.len(), 1);
        assert_eq!(p.heavy[0].0, 1);
        // Emitting the first two groups takes it; nothing is left.
        let taken = p.events.take(EmitTo::First(2)).unwrap();
        let mut heavies = p.take_heavy(EmitTo::First(2));
        assert_eq!((heavies.len(), p.heavy.len()), (1, 0));
        let mut kept = Vec::new();
        taken.group_into(1, &mut kept);
        assert!(kept.is_empty(), "the heavy group's events left the store");
        taken.group_into(0, &mut kept);
        assert_eq!(kept.len(), 2);
        let props = Interner::default();
        let order = ByValue {
            holds: &p.hold_values,
            props: &props,
        };
        let got = heavies.remove(0).1.finish(&spec, &order).unwrap();
        assert_eq!(got, sweep::evaluate(&spec, &mut heavy.clone()));
        assert!(got.len() > 1, "several entry periods: {}", got.len());
        // Groups 2 and 3 are now 0 and 1; a row of group 0 after group 1
        // is out of entity order.
        assert_eq!(p.current.0, 1);
        p.push(true, 1, event(9, 1, 0)).unwrap();
        assert!(p.push(true, 0, event(9, 1, 0)).is_err());
    }

    #[test]
    fn first_pair_store_is_bounded_for_rows_in_time_order() {
        let spec = time_between(100, 0, 1000);
        let mut store = Store::new(&spec, 0);
        store.resize(1).unwrap();
        store.push(0, event(5, 1, 0)).unwrap();
        for t in 6..10_000 {
            store.push(0, event(t, 2, 0)).unwrap();
        }
        let taken = store.take(EmitTo::All).unwrap();
        let mut kept = Vec::new();
        taken.group_into(0, &mut kept);
        assert_eq!(kept.iter().map(|e| e.ts).collect::<Vec<_>>(), [5, 6]);
    }
}
