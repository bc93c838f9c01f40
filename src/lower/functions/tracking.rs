//! lower: the aggregates that follow entities' activity over periods.
//!
//! - `metricc_active(wall)`: grouped by entity (and breakdown values),
//!   keeps the entity's distinct activity units and returns, per bucket where
//!   any membership holds, `{bucket, flags}` ([`activity::active`]).
//! - `metricc_retention(wall, instant, cohort, return, prop...)`:
//!   grouped by entity, keeps its cohort and return events (compacted to
//!   what can change the answer) and returns its cells
//!   `{cohort, period, eligible, retained, a0..}` ([`activity::retention`]).
//!
//! The settings travel inside the function value (as JSON), not as an
//! argument. Times are Int64 microseconds: `wall` of local
//! wall-clock time, `instant` since the epoch. Both keep compact state with
//! merge, so DataFusion's two-phase aggregation shrinks data early.

use super::activity::{self, ActiveSpec, COHORT, Ev, RETURN, RetentionSpec};
use super::funnel::{Interner, list_of, push_key, split_key};
use super::rows_of;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Int64Builder, ListArray, StringArray,
    StringBuilder, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{Result, exec_err, not_impl_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, GroupsAccumulator, Signature,
    Volatility,
};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The names in plans.
pub const ACTIVE: &str = "metricc_active";
pub const RUNNING: &str = "metricc_running";
pub const RETENTION: &str = "metricc_retention";

/// `metricc_active(wall)` with `spec`.
pub fn active(spec: &ActiveSpec, wall: Expr) -> Expr {
    Arc::new(AggregateUDF::from(Udaf::new(Kind::Active, json(spec)))).call(vec![wall])
}

/// The settings of `metricc_running`: the buckets' keys and how many
/// memberships the deltas carry (bits of `start`/`stop`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunningSpec {
    pub buckets: Vec<i64>,
    pub members: usize,
}

/// `metricc_running(bucket, start, stop)` with `spec`: grouped by breakdown
/// values, sums the entities' membership changes and runs them over the
/// buckets; per bucket where any count is not 0, `{bucket, c0..}`.
pub fn running(spec: &RunningSpec, bucket: Expr, start: Expr, stop: Expr) -> Expr {
    Arc::new(AggregateUDF::from(Udaf::new(Kind::Running, json(spec))))
        .call(vec![bucket, start, stop])
}

/// `metricc_retention(wall, instant, cohort, return, props...)` with `spec`.
pub fn retention(
    spec: &RetentionSpec,
    wall: Expr,
    instant: Expr,
    cohort: Expr,
    returning: Expr,
    props: Vec<Expr>,
) -> Expr {
    let mut args = vec![wall, instant, cohort, returning];
    args.extend(props);
    Arc::new(AggregateUDF::from(Udaf::new(Kind::Retention, json(spec)))).call(args)
}

fn json<T: serde::Serialize>(spec: &T) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Active,
    Running,
    Retention,
}

/// One function value per spec: the settings live in the function, not in
/// an argument, because DataFusion turns a literal argument into an array of
/// one copy per row before an aggregate sees it (with a spec listing every
/// bucket, megabytes per batch).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Udaf {
    kind: Kind,
    /// The settings as JSON.
    spec: String,
    signature: Signature,
}

impl Udaf {
    fn new(kind: Kind, spec: String) -> Self {
        Udaf {
            kind,
            spec,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Active => ACTIVE,
            Kind::Running => RUNNING,
            Kind::Retention => RETENTION,
        }
    }
}

/// The rows of `metricc_active`: a bucket index where memberships start
/// or stop holding.
fn active_fields() -> Fields {
    Fields::from(vec![
        Field::new("bucket", DataType::Int64, false),
        Field::new("start", DataType::Int64, false),
        Field::new("stop", DataType::Int64, false),
    ])
}

/// The rows of `metricc_running`: a bucket's key and its count per membership.
fn running_fields(members: usize) -> Fields {
    let mut fields = vec![Field::new("bucket", DataType::Int64, false)];
    for i in 0..members {
        fields.push(Field::new(format!("c{i}"), DataType::Int64, false));
    }
    Fields::from(fields)
}

/// The kept deltas of `metricc_running`.
fn delta_fields() -> Fields {
    Fields::from(vec![
        Field::new("bucket", DataType::Int64, false),
        Field::new("member", DataType::Int64, false),
        Field::new("delta", DataType::Int64, false),
    ])
}

/// The cells of `metricc_retention`, with `props` breakdown values.
fn cell_fields(props: usize) -> Fields {
    let mut fields = vec![
        Field::new("cohort", DataType::Int64, false),
        Field::new("period", DataType::Int64, false),
        Field::new("eligible", DataType::Boolean, false),
        Field::new("retained", DataType::Boolean, false),
    ];
    for p in 0..props {
        fields.push(Field::new(format!("a{p}"), DataType::Utf8, true));
    }
    Fields::from(fields)
}

/// The kept events of `metricc_retention`.
fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("instant", DataType::Int64, false),
        Field::new("wall", DataType::Int64, false),
        Field::new("kind", DataType::Int64, false),
        Field::new("prop", DataType::Utf8, true),
    ])
}

const RETENTION_FIXED: usize = 4;

impl AggregateUDFImpl for Udaf {
    fn name(&self) -> &str {
        Udaf::name(self)
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Active => list_of(active_fields()),
            Kind::Running => list_of(running_fields(
                parse::<RunningSpec>(&self.spec, RUNNING)?.members,
            )),
            Kind::Retention => {
                if types.len() < RETENTION_FIXED {
                    return exec_err!("{RETENTION} needs two times and two predicates");
                }
                list_of(cell_fields(types.len() - RETENTION_FIXED))
            }
        })
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        not_impl_err!("{} runs grouped by entity only", self.name())
    }
    fn state_fields(&self, _: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let item = match self.kind {
            Kind::Active => DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
            Kind::Running => list_of(delta_fields()),
            Kind::Retention => list_of(event_fields()),
        };
        Ok(vec![Arc::new(Field::new("events", item, true))])
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let name = self.name();
        Ok(match self.kind {
            Kind::Active => Box::new(ActiveGroups {
                spec: parse(&self.spec, name)?,
                groups: Vec::new(),
                compacted: Vec::new(),
                units: 0,
            }),
            Kind::Running => Box::new(RunningGroups {
                spec: parse(&self.spec, name)?,
                groups: Vec::new(),
                entries: 0,
            }),
            Kind::Retention => Box::new(RetentionGroups::new(
                parse(&self.spec, name)?,
                args.exprs.len().saturating_sub(RETENTION_FIXED),
            )),
        })
    }
}

fn parse<T: DeserializeOwned>(spec: &str, name: &str) -> Result<T> {
    serde_json::from_str::<T>(spec).or_else(|e| exec_err!("{name}: bad spec: {e}"))
}

/// Whether a group grew enough since its last compaction to compact again.
fn due(len: usize, compacted: usize) -> bool {
    len >= 64 && len >= 2 * compacted
}

pub(super) fn list(
    fields: Fields,
    columns: Vec<ArrayRef>,
    lengths: Vec<usize>,
) -> Result<ArrayRef> {
    let structs = StructArray::try_new(fields.clone(), columns, None)?;
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(structs),
        None,
    )?))
}

/// The state lists of a merge, one per row: each non-null list with the
/// group it merges into.
pub(super) fn merged<'a>(
    values: &'a [ArrayRef],
    group_indices: &'a [usize],
) -> impl Iterator<Item = (usize, ArrayRef)> + 'a {
    let lists = values[0].as_list::<i32>();
    group_indices
        .iter()
        .enumerate()
        .filter(move |(row, _)| lists.is_valid(*row))
        .map(move |(row, group)| (*group, lists.value(row)))
}

struct ActiveGroups {
    spec: ActiveSpec,
    /// Per group, activity units; sorted and distinct up to `compacted`.
    groups: Vec<Vec<i64>>,
    compacted: Vec<usize>,
    /// Units held over all groups.
    units: usize,
}

impl ActiveGroups {
    fn push(&mut self, group: usize, unit: i64) {
        let g = &mut self.groups[group];
        g.push(unit);
        self.units += 1;
        if due(g.len(), self.compacted[group]) {
            let before = g.len();
            g.sort_unstable();
            g.dedup();
            self.units -= before - g.len();
            self.compacted[group] = g.len();
        }
    }

    fn resize(&mut self, n: usize) {
        self.groups.resize_with(n, Vec::new);
        self.compacted.resize(n, 0);
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<i64>> {
        let mut groups = emit_to.take_needed(&mut self.groups);
        let _ = emit_to.take_needed(&mut self.compacted);
        for g in &mut groups {
            self.units -= g.len().min(self.units);
            g.sort_unstable();
            g.dedup();
        }
        groups
    }

    fn encode(groups: &[Vec<i64>]) -> Result<ArrayRef> {
        let mut values = Int64Builder::with_capacity(groups.iter().map(Vec::len).sum());
        for g in groups {
            values.append_slice(g);
        }
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Int64, true)),
            OffsetBuffer::from_lengths(groups.iter().map(Vec::len)),
            Arc::new(values.finish()),
            None,
        )?))
    }
}

impl GroupsAccumulator for ActiveGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let wall = values[0].as_primitive::<Int64Type>();
        for (row, group) in rows_of(group_indices, opt_filter) {
            if wall.is_valid(row) {
                let u = activity::unit(&self.spec, wall.value(row));
                self.push(group, u);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        let mut lengths = Vec::with_capacity(groups.len());
        let mut bucket = Int64Builder::new();
        let mut flags = Int64Builder::new();
        let mut stop = Int64Builder::new();
        let n = self.spec.buckets.len();
        for units in &groups {
            let rows = activity::transitions(n, &activity::active(&self.spec, units));
            lengths.push(rows.len());
            for (b, on, off) in rows {
                bucket.append_value(b as i64);
                flags.append_value(on as i64);
                stop.append_value(off as i64);
            }
        }
        list(
            active_fields(),
            vec![
                Arc::new(bucket.finish()),
                Arc::new(flags.finish()),
                Arc::new(stop.finish()),
            ],
            lengths,
        )
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        Ok(vec![Self::encode(&groups)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        for (group, item) in merged(values, group_indices) {
            for u in item.as_primitive::<Int64Type>().iter().flatten() {
                self.push(group, u);
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let wall = values[0].as_primitive::<Int64Type>();
        let groups: Vec<Vec<i64>> = (0..wall.len())
            .map(|row| {
                let keep = wall.is_valid(row) && super::kept(opt_filter, row);
                if keep {
                    vec![activity::unit(&self.spec, wall.value(row))]
                } else {
                    Vec::new()
                }
            })
            .collect();
        Ok(vec![Self::encode(&groups)?])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Vec<i64>>()
            + self.compacted.capacity() * 8
            + self.units * 8 * 3 / 2
    }
}

struct RetentionGroups {
    spec: RetentionSpec,
    props: usize,
    groups: Vec<Vec<Ev>>,
    compacted: Vec<usize>,
    values: Interner,
    key: String,
    events: usize,
}

impl RetentionGroups {
    fn new(spec: RetentionSpec, props: usize) -> Self {
        RetentionGroups {
            spec,
            props,
            groups: Vec::new(),
            compacted: Vec::new(),
            values: Interner::default(),
            key: String::new(),
            events: 0,
        }
    }

    fn resize(&mut self, n: usize) {
        self.groups.resize_with(n, Vec::new);
        self.compacted.resize(n, 0);
    }

    fn push(&mut self, group: usize, e: Ev) {
        let g = &mut self.groups[group];
        // Of calendar returns only the latest per period matters: rows of
        // one entity often come in time order, so most fold into the last.
        if e.kind == RETURN
            && self.spec.rolling.is_none()
            && let Some(last) = g.last_mut()
            && last.kind == RETURN
            && self.spec.calendar.number(last.wall) == self.spec.calendar.number(e.wall)
        {
            if (e.instant, e.wall) > (last.instant, last.wall) {
                *last = e;
            }
            return;
        }
        g.push(e);
        self.events += 1;
        if due(g.len(), self.compacted[group]) {
            let before = g.len();
            activity::compact(&self.spec, g);
            self.events -= before - g.len();
            self.compacted[group] = g.len();
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<Ev>> {
        let mut groups = emit_to.take_needed(&mut self.groups);
        let _ = emit_to.take_needed(&mut self.compacted);
        for g in &mut groups {
            self.events -= g.len().min(self.events);
            activity::compact(&self.spec, g);
        }
        groups
    }

    fn push_rows(
        &mut self,
        values: &[ArrayRef],
        rows: impl Iterator<Item = (usize, usize)>,
    ) -> Result<()> {
        let wall = values[0].as_primitive::<Int64Type>();
        let instant = values[1].as_primitive::<Int64Type>();
        let cohort = values[2].as_boolean();
        let returning = values[3].as_boolean();
        let props: Vec<&StringArray> = values[RETENTION_FIXED..]
            .iter()
            .map(|a| a.as_string::<i32>())
            .collect();
        let truthy = |a: &BooleanArray, row: usize| a.is_valid(row) && a.value(row);
        for (row, group) in rows {
            if wall.is_null(row) || instant.is_null(row) {
                continue;
            }
            let (c, r) = (truthy(cohort, row), truthy(returning, row));
            if !c && !r {
                continue;
            }
            // Only cohort events carry a breakdown value.
            let prop = if props.is_empty() || !c {
                0
            } else {
                self.key.clear();
                for p in &props {
                    push_key(&mut self.key, p.is_valid(row).then(|| p.value(row)));
                }
                self.values.id(&self.key)
            };
            let base = Ev {
                instant: instant.value(row),
                wall: wall.value(row),
                kind: 0,
                prop: 0,
            };
            if c {
                self.push(
                    group,
                    Ev {
                        kind: COHORT,
                        prop,
                        ..base
                    },
                );
            }
            if r {
                self.push(
                    group,
                    Ev {
                        kind: RETURN,
                        ..base
                    },
                );
            }
        }
        Ok(())
    }

    fn encode(&self, groups: &[Vec<Ev>]) -> Result<ArrayRef> {
        let n: usize = groups.iter().map(Vec::len).sum();
        let mut instant = Int64Builder::with_capacity(n);
        let mut wall = Int64Builder::with_capacity(n);
        let mut kind = Int64Builder::with_capacity(n);
        let mut prop = StringBuilder::new();
        for e in groups.iter().flatten() {
            instant.append_value(e.instant);
            wall.append_value(e.wall);
            kind.append_value(i64::from(e.kind));
            if self.props == 0 || e.kind != COHORT {
                prop.append_null();
            } else {
                prop.append_value(&self.values.values[e.prop as usize]);
            }
        }
        list(
            event_fields(),
            vec![
                Arc::new(instant.finish()),
                Arc::new(wall.finish()),
                Arc::new(kind.finish()),
                Arc::new(prop.finish()),
            ],
            groups.iter().map(Vec::len).collect(),
        )
    }
}

impl GroupsAccumulator for RetentionGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        self.push_rows(values, rows_of(group_indices, opt_filter))
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut groups = self.take(emit_to);
        let (rank, order) = self.values.ranks();
        let mut lengths = Vec::with_capacity(groups.len());
        let mut cohort = Int64Builder::new();
        let mut period = Int64Builder::new();
        let mut eligible = BooleanBuilder::new();
        let mut retained = BooleanBuilder::new();
        let mut attrs: Vec<StringBuilder> = (0..self.props).map(|_| StringBuilder::new()).collect();
        for events in groups.iter_mut() {
            if self.props > 0 {
                for e in events.iter_mut().filter(|e| e.kind == COHORT) {
                    e.prop = rank[e.prop as usize];
                }
            }
            let cells = activity::retention(&self.spec, events);
            lengths.push(cells.len());
            for c in cells {
                cohort.append_value(c.cohort);
                period.append_value(c.period);
                eligible.append_value(c.eligible);
                retained.append_value(c.retained);
                if self.props > 0 {
                    let id = order[c.prop as usize];
                    let values = split_key(&self.values.values[id as usize]);
                    for (p, b) in attrs.iter_mut().enumerate() {
                        b.append_option(values.get(p).copied().flatten());
                    }
                }
            }
            *events = Vec::new();
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(cohort.finish()),
            Arc::new(period.finish()),
            Arc::new(eligible.finish()),
            Arc::new(retained.finish()),
        ];
        columns.extend(attrs.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        list(cell_fields(self.props), columns, lengths)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        Ok(vec![self.encode(&groups)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        for (group, item) in merged(values, group_indices) {
            let s = item.as_struct();
            let col = |i: usize| s.column(i).as_primitive::<Int64Type>();
            let (instant, wall, kind) = (col(0), col(1), col(2));
            let prop: &StringArray = s.column(3).as_string::<i32>();
            for i in 0..s.len() {
                let p = if prop.is_valid(i) {
                    self.values.id(prop.value(i))
                } else {
                    0
                };
                self.push(
                    group,
                    Ev {
                        instant: instant.value(i),
                        wall: wall.value(i),
                        kind: kind.value(i) as u8,
                        prop: p,
                    },
                );
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut scratch = RetentionGroups::new(self.spec.clone(), self.props);
        let n = values.first().map_or(0, |a| a.len());
        let indices: Vec<usize> = (0..n).collect();
        scratch.update_batch(values, &indices, opt_filter, n)?;
        let groups = std::mem::take(&mut scratch.groups);
        Ok(vec![scratch.encode(&groups)?])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Vec<Ev>>()
            + self.compacted.capacity() * 8
            + self.events * std::mem::size_of::<Ev>() * 3 / 2
            + self.values.size()
    }
}

struct RunningGroups {
    spec: RunningSpec,
    /// Per group: per bucket index, the change of each membership's count.
    groups: Vec<std::collections::BTreeMap<usize, Vec<i64>>>,
    /// Entries held over all groups.
    entries: usize,
}

impl RunningGroups {
    fn add(&mut self, group: usize, bucket: i64, member: usize, delta: i64) {
        let Ok(b) = usize::try_from(bucket) else {
            return;
        };
        if member >= self.spec.members || delta == 0 {
            return;
        }
        let m = self.spec.members;
        let slot = self.groups[group].entry(b).or_insert_with(|| {
            self.entries += 1;
            vec![0; m]
        });
        slot[member] += delta;
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<std::collections::BTreeMap<usize, Vec<i64>>> {
        let groups = emit_to.take_needed(&mut self.groups);
        self.entries -= groups
            .iter()
            .map(|g| g.len())
            .sum::<usize>()
            .min(self.entries);
        groups
    }
}

impl GroupsAccumulator for RunningGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Default::default);
        let bucket = values[0].as_primitive::<Int64Type>();
        let start = values[1].as_primitive::<Int64Type>();
        let stop = values[2].as_primitive::<Int64Type>();
        for (row, group) in rows_of(group_indices, opt_filter) {
            if bucket.is_null(row) {
                continue;
            }
            let (on, off) = (start.value(row) as u64, stop.value(row) as u64);
            for i in 0..self.spec.members.min(64) {
                let d = i64::from(on >> i & 1 == 1) - i64::from(off >> i & 1 == 1);
                self.add(group, bucket.value(row), i, d);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        let m = self.spec.members;
        let mut lengths = Vec::with_capacity(groups.len());
        let mut bucket = Int64Builder::new();
        let mut counts: Vec<Int64Builder> = (0..m).map(|_| Int64Builder::new()).collect();
        for deltas in &groups {
            let mut running = vec![0i64; m];
            let mut rows = 0;
            let Some(first) = deltas.keys().next().copied() else {
                lengths.push(0);
                continue;
            };
            for (b, key) in self.spec.buckets.iter().enumerate().skip(first) {
                if let Some(d) = deltas.get(&b) {
                    for (r, x) in running.iter_mut().zip(d) {
                        *r += x;
                    }
                }
                if running.iter().any(|c| *c != 0) {
                    bucket.append_value(*key);
                    for (c, r) in counts.iter_mut().zip(&running) {
                        c.append_value(*r);
                    }
                    rows += 1;
                }
            }
            lengths.push(rows);
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(bucket.finish())];
        columns.extend(counts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        list(running_fields(m), columns, lengths)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        let mut bucket = Int64Builder::new();
        let mut member = Int64Builder::new();
        let mut delta = Int64Builder::new();
        let mut lengths = Vec::with_capacity(groups.len());
        for g in &groups {
            let mut n = 0;
            for (b, d) in g {
                for (i, x) in d.iter().enumerate().filter(|(_, x)| **x != 0) {
                    bucket.append_value(*b as i64);
                    member.append_value(i as i64);
                    delta.append_value(*x);
                    n += 1;
                }
            }
            lengths.push(n);
        }
        Ok(vec![list(
            delta_fields(),
            vec![
                Arc::new(bucket.finish()),
                Arc::new(member.finish()),
                Arc::new(delta.finish()),
            ],
            lengths,
        )?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Default::default);
        for (group, item) in merged(values, group_indices) {
            let s = item.as_struct();
            let col = |i: usize| s.column(i).as_primitive::<Int64Type>();
            let (bucket, member, delta) = (col(0), col(1), col(2));
            for i in 0..s.len() {
                let m = usize::try_from(member.value(i)).unwrap_or(usize::MAX);
                self.add(group, bucket.value(i), m, delta.value(i));
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut scratch = RunningGroups {
            spec: self.spec.clone(),
            groups: Vec::new(),
            entries: 0,
        };
        let n = values.first().map_or(0, |a| a.len());
        let indices: Vec<usize> = (0..n).collect();
        scratch.update_batch(values, &indices, opt_filter, n)?;
        scratch.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<std::collections::BTreeMap<usize, Vec<i64>>>()
            + self.entries * (self.spec.members * 8 + 64)
    }
}
