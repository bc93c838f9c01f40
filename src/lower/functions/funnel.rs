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
//! Result per entity: a list of `{bucket, level, t0.., a0..}` structs, one per
//! entry period: the steps its best attempt reached, when, and the breakdown
//! values it is attributed to (null when the attributed step was not reached).

use super::lists::{self, GroupedAggregate, Interner, list, list_of, merged, push_key, split_key};
use super::sweep::{self, Event, NO_PROP, Spec};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Builder, Int64Builder, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, Expr, GroupsAccumulator};
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
    groups: Vec<Vec<Event>>,
    hold_values: Interner,
    prop_values: Interner,
    key: String,
    /// Events held over all groups.
    events: usize,
}

impl FunnelGroups {
    fn new(spec: Spec, steps: usize, holds: usize, props: usize) -> Self {
        FunnelGroups {
            spec,
            steps,
            holds,
            props,
            groups: Vec::new(),
            hold_values: Interner::default(),
            prop_values: Interner::default(),
            key: String::new(),
            events: 0,
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
            self.events += 1;
            self.groups[group].push(Event {
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
            });
        }
        Ok(())
    }

    /// Events of the emitted groups as `List<Struct<event>>`.
    fn encode_events(&self, groups: &[Vec<Event>]) -> Result<ArrayRef> {
        let n: usize = groups.iter().map(Vec::len).sum();
        let mut ts = Int64Builder::with_capacity(n);
        let mut bucket = Int64Builder::with_capacity(n);
        let mut steps = Int64Builder::with_capacity(n);
        let mut excl = Int64Builder::with_capacity(n);
        let mut hold = StringBuilder::new();
        let mut prop = StringBuilder::new();
        for e in groups.iter().flatten() {
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
        list(
            event_fields(),
            columns,
            groups.iter().map(Vec::len).collect(),
        )
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
        self.groups.resize_with(total_num_groups, Vec::new);
        self.push_rows(values, super::rows_of(group_indices, opt_filter))
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut groups = emit_to.take_needed(&mut self.groups);
        self.events -= groups.iter().map(Vec::len).sum::<usize>().min(self.events);
        let (hold_rank, _) = self.hold_values.ranks();
        let (prop_rank, prop_order) = self.prop_values.ranks();
        let mut offsets = Vec::with_capacity(groups.len());
        let mut bucket = Int64Builder::new();
        let mut level = Int32Builder::new();
        let mut times: Vec<Int64Builder> = (0..self.steps).map(|_| Int64Builder::new()).collect();
        let mut attrs: Vec<StringBuilder> = (0..self.props).map(|_| StringBuilder::new()).collect();
        for events in groups.iter_mut() {
            for e in events.iter_mut() {
                if !hold_rank.is_empty() {
                    e.hold = hold_rank[e.hold as usize];
                }
                if !prop_rank.is_empty() {
                    e.prop = prop_rank[e.prop as usize];
                }
            }
            let outcomes = sweep::evaluate(&self.spec, events);
            offsets.push(outcomes.len());
            for o in outcomes {
                bucket.append_value(o.bucket);
                level.append_value(o.level as i32);
                for (s, b) in times.iter_mut().enumerate() {
                    b.append_option(o.times.get(s).copied());
                }
                let values = if o.prop == NO_PROP || self.props == 0 {
                    vec![None; self.props]
                } else {
                    let id = prop_order[o.prop as usize];
                    split_key(&self.prop_values.values[id as usize])
                };
                for (p, b) in attrs.iter_mut().enumerate() {
                    b.append_option(values.get(p).copied().flatten());
                }
            }
            *events = Vec::new();
        }
        let fields = outcome_fields(self.steps, self.props);
        let mut columns: Vec<ArrayRef> = vec![Arc::new(bucket.finish()), Arc::new(level.finish())];
        columns.extend(times.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.extend(attrs.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        list(fields, columns, offsets)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = emit_to.take_needed(&mut self.groups);
        self.events -= groups.iter().map(Vec::len).sum::<usize>().min(self.events);
        Ok(vec![self.encode_events(&groups)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
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
                self.events += 1;
                self.groups[group].push(Event {
                    ts: ts.value(i),
                    bucket: bucket.value(i),
                    steps: steps.value(i) as u32,
                    excl: excl.value(i) as u32,
                    hold: h,
                    prop: p,
                });
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
        let groups = std::mem::take(&mut scratch.groups);
        Ok(vec![scratch.encode_events(&groups)?])
    }

    fn size(&self) -> usize {
        // Called per batch: a running count, not a walk over the groups.
        self.groups.capacity() * std::mem::size_of::<Vec<Event>>()
            + self.events * std::mem::size_of::<Event>() * 3 / 2
            + self.hold_values.size()
            + self.prop_values.size()
    }
}
