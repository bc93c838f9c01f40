//! lower: `metricc_funnel(ts, bucket, exclusions, step..., hold..., prop...)`,
//! the aggregate behind funnels and `time_between`. Grouped by entity, it
//! keeps each entity's events compactly (32 bytes each, held and breakdown
//! values interned) and at the end runs [`sweep::evaluate`] over them.
//!
//! The [`Spec`] (every window and mode) travels inside the function value as
//! JSON, not as a literal argument: DataFusion would copy a literal into an
//! array of one per row. Arguments, all per row:
//! - `ts`: Int64 microseconds; `bucket`: Int64, the entry period of the row;
//! - `exclusions`: Int64, bit `k` set when the row matches exclusion `k`;
//! - one Boolean per step (null counts as false);
//! - the held values as LargeUtf8, then the breakdown values as Utf8.
//!
//! Result per entity: a list of `{bucket, level, n, t0.., a0..}` structs, one
//! per entry period: the steps its best attempt reached (`n` is 1), when, and
//! the breakdown values it is attributed to (null when the attributed step
//! was not reached). With [`Spec::counts`] (no value reads the times), the
//! entities of an emission are counted instead: one struct per entry period,
//! level and breakdown values, `n` entities, times null, all on the first
//! emitted entity's row and empty lists on the others; summed over
//! emissions they are the funnel's counts, and no row per entity leaves.

use super::arena::Arena;
use super::lists::{self, GroupedAggregate, Interner, list, list_of, merged, push_key, split_key};
use super::sweep::{self, Event, NO_PROP, Spec};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Builder, Int64Builder, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, Expr, GroupsAccumulator};
use std::collections::HashMap;
use std::sync::Arc;

/// The function's name in plans.
pub const FUNNEL: &str = "metricc_funnel";

/// The call: `steps` are Boolean, `holds` LargeUtf8, `props` Utf8.
pub fn funnel(
    spec: &Spec,
    ts: Expr,
    bucket: Expr,
    exclusions: Expr,
    steps: Vec<Expr>,
    holds: Vec<Expr>,
    props: Vec<Expr>,
) -> Expr {
    let mut args = vec![ts, bucket, exclusions];
    args.extend(steps);
    args.extend(holds);
    args.extend(props);
    lists::call::<Funnel>(spec, args)
}

/// How many steps, held and breakdown columns a call has, from its types.
fn shape(types: &[DataType]) -> Result<(usize, usize, usize)> {
    if types.len() < 4 {
        return exec_err!("{FUNNEL} needs a time, bucket, exclusions and steps");
    }
    let rest = &types[3..];
    let steps = rest.iter().take_while(|t| **t == DataType::Boolean).count();
    let holds = rest[steps..]
        .iter()
        .take_while(|t| **t == DataType::LargeUtf8)
        .count();
    let props = rest.len() - steps - holds;
    if steps == 0 || steps > sweep::MAX_STEPS {
        return exec_err!("{FUNNEL} takes 1 to {} steps", sweep::MAX_STEPS);
    }
    Ok((steps, holds, props))
}

/// The result type: a list of per-period structs.
fn outcome_fields(steps: usize, props: usize) -> Fields {
    let mut fields = vec![
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
struct Funnel;

impl GroupedAggregate for Funnel {
    const NAME: &'static str = FUNNEL;
    type Spec = Spec;
    fn return_type(_: &str, types: &[DataType]) -> Result<DataType> {
        let (steps, _, props) = shape(types)?;
        Ok(list_of(outcome_fields(steps, props)))
    }
    fn state_type() -> DataType {
        list_of(event_fields())
    }
    fn groups(spec: Spec, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        let types: Vec<DataType> = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let (steps, holds, props) = shape(&types)?;
        if spec.steps != steps {
            return exec_err!(
                "{FUNNEL}: the spec has {} steps, the call {steps}",
                spec.steps
            );
        }
        Ok(Box::new(FunnelGroups::new(spec, steps, holds, props)))
    }
}

struct FunnelGroups {
    spec: Spec,
    steps: usize,
    holds: usize,
    props: usize,
    events: Arena<Event>,
    hold_values: Interner,
    prop_values: Interner,
    key: String,
    /// One entity's events, reused from one entity to the next.
    scratch: Vec<Event>,
}

impl FunnelGroups {
    fn new(spec: Spec, steps: usize, holds: usize, props: usize) -> Self {
        FunnelGroups {
            spec,
            steps,
            holds,
            props,
            events: Arena::default(),
            hold_values: Interner::default(),
            prop_values: Interner::default(),
            key: String::new(),
            scratch: Vec::new(),
        }
    }

    fn push_rows(
        &mut self,
        values: &[ArrayRef],
        rows: impl Iterator<Item = (usize, usize)>,
    ) -> Result<()> {
        let ts = values[0].as_primitive::<Int64Type>();
        let bucket = values[1].as_primitive::<Int64Type>();
        let excl = values[2].as_primitive::<Int64Type>();
        let steps: Vec<&BooleanArray> = values[3..3 + self.steps]
            .iter()
            .map(|a| a.as_boolean())
            .collect();
        let hold_cols: Vec<_> = values[3 + self.steps..3 + self.steps + self.holds]
            .iter()
            .map(|a| a.as_string::<i64>())
            .collect();
        let prop_cols: Vec<_> = values[3 + self.steps + self.holds..]
            .iter()
            .map(|a| a.as_string::<i32>())
            .collect();
        let strict = self.spec.order == sweep::Order::Strict;
        for (row, group) in rows {
            if ts.is_null(row) {
                continue;
            }
            let mut mask = 0u32;
            for (s, col) in steps.iter().enumerate() {
                if col.is_valid(row) && col.value(row) {
                    mask |= 1 << s;
                }
            }
            let x = if excl.is_valid(row) {
                excl.value(row) as u32
            } else {
                0
            };
            if mask == 0 && x == 0 && !strict {
                continue;
            }
            let hold = if hold_cols.is_empty() {
                0
            } else {
                self.key.clear();
                for c in &hold_cols {
                    push_key(&mut self.key, c.is_valid(row).then(|| c.value(row)));
                }
                self.hold_values.id(&self.key)
            };
            let prop = if prop_cols.is_empty() {
                0
            } else {
                self.key.clear();
                for c in &prop_cols {
                    push_key(&mut self.key, c.is_valid(row).then(|| c.value(row)));
                }
                self.prop_values.id(&self.key)
            };
            self.events.push(
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
        Ok(())
    }

    /// Events of the emitted groups as `List<Struct<event>>`.
    fn encode_events(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.events.take(emit_to)?;
        let n = taken.len();
        let mut ts = Int64Builder::with_capacity(n);
        let mut bucket = Int64Builder::with_capacity(n);
        let mut steps = Int64Builder::with_capacity(n);
        let mut excl = Int64Builder::with_capacity(n);
        let mut hold = StringBuilder::new();
        let mut prop = StringBuilder::new();
        for e in taken.events() {
            ts.append_value(e.ts);
            bucket.append_value(e.bucket);
            steps.append_value(e.steps as i64);
            excl.append_value(e.excl as i64);
            if self.holds == 0 {
                hold.append_null();
            } else {
                hold.append_value(&self.hold_values.values[e.hold as usize]);
            }
            if self.props == 0 {
                prop.append_null();
            } else {
                prop.append_value(&self.prop_values.values[e.prop as usize]);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ts.finish()),
            Arc::new(bucket.finish()),
            Arc::new(steps.finish()),
            Arc::new(excl.finish()),
            Arc::new(hold.finish()),
            Arc::new(prop.finish()),
        ];
        list(event_fields(), columns, taken.lengths().collect())
    }
}

/// The outcome columns being built.
struct Outcomes {
    bucket: Int64Builder,
    level: Int32Builder,
    n: Int64Builder,
    times: Vec<Int64Builder>,
    attrs: Vec<StringBuilder>,
}

impl Outcomes {
    fn new(steps: usize, props: usize) -> Self {
        Outcomes {
            bucket: Int64Builder::new(),
            level: Int32Builder::new(),
            n: Int64Builder::new(),
            times: (0..steps).map(|_| Int64Builder::new()).collect(),
            attrs: (0..props).map(|_| StringBuilder::new()).collect(),
        }
    }

    fn push(&mut self, bucket: i64, level: usize, n: i64, times: &[i64], values: &[Option<&str>]) {
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
        self.events.resize(total_num_groups)?;
        self.push_rows(values, super::rows_of(group_indices, opt_filter))
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.events.take(emit_to)?;
        let (hold_rank, _) = self.hold_values.ranks();
        let (prop_rank, prop_order) = self.prop_values.ranks();
        let prop_values = |prop: u32| {
            if prop == NO_PROP || self.props == 0 {
                vec![None; self.props]
            } else {
                split_key(&self.prop_values.values[prop_order[prop as usize] as usize])
            }
        };
        let mut out = Outcomes::new(self.steps, self.props);
        let mut lengths = Vec::with_capacity(taken.groups());
        // Counts mode: entities per entry period, level and breakdown value.
        let mut counts: HashMap<(i64, usize, u32), i64> = HashMap::new();
        let events = &mut self.scratch;
        for g in 0..taken.groups() {
            taken.group_into(g, events);
            for e in events.iter_mut() {
                if !hold_rank.is_empty() {
                    e.hold = hold_rank[e.hold as usize];
                }
                if !prop_rank.is_empty() {
                    e.prop = prop_rank[e.prop as usize];
                }
            }
            let outcomes = sweep::evaluate(&self.spec, events);
            if self.spec.counts {
                for o in outcomes {
                    *counts.entry((o.bucket, o.level, o.prop)).or_default() += 1;
                }
                continue;
            }
            lengths.push(outcomes.len());
            for o in outcomes {
                out.push(o.bucket, o.level, 1, &o.times, &prop_values(o.prop));
            }
        }
        if self.spec.counts {
            let mut keys: Vec<_> = counts.into_iter().collect();
            keys.sort_unstable();
            for ((bucket, level, prop), n) in &keys {
                out.push(*bucket, *level, *n, &[], &prop_values(*prop));
            }
            // Every count on the first emitted row, none on the others.
            lengths = vec![0; taken.groups()];
            match lengths.first_mut() {
                Some(first) => *first = keys.len(),
                None if !keys.is_empty() => {
                    return exec_err!("{FUNNEL}: outcomes without an entity");
                }
                None => {}
            }
        }
        out.finish(self.steps, self.props, lengths)
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
        self.events.resize(total_num_groups)?;
        for (group, item) in merged(values, group_indices) {
            let s = item.as_struct();
            let col = |i: usize| s.column(i).as_primitive::<Int64Type>();
            let (ts, bucket, steps, excl) = (col(0), col(1), col(2), col(3));
            let hold: &StringArray = s.column(4).as_string::<i32>();
            let prop: &StringArray = s.column(5).as_string::<i32>();
            for i in 0..s.len() {
                let h = if hold.is_valid(i) {
                    self.hold_values.id(hold.value(i))
                } else {
                    0
                };
                let p = if prop.is_valid(i) {
                    self.prop_values.id(prop.value(i))
                } else {
                    0
                };
                self.events.push(
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
        let mut scratch = FunnelGroups::new(self.spec.clone(), self.steps, self.holds, self.props);
        let n = values.first().map_or(0, |a| a.len());
        let indices: Vec<usize> = (0..n).collect();
        scratch.update_batch(values, &indices, opt_filter, n)?;
        Ok(vec![scratch.encode_events(EmitTo::All)?])
    }

    fn size(&self) -> usize {
        self.events.bytes()
            + self.scratch.capacity() * std::mem::size_of::<Event>()
            + self.hold_values.size()
            + self.prop_values.size()
    }
}
