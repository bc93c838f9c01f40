//! lower: `metricc_retention(wall, instant, cohort, return, prop...)`,
//! grouped by entity: keeps its cohort and return events (folded and
//! compacted to what can change the answer, [`activity::compact`]) and, per
//! emission, returns the counts of every cell `{cohort, period, size,
//! eligible, retained, a0..}` over the entities emitted
//! ([`activity::retention`]): summed over emissions, they are the retention
//! table's counts. The list comes on the first emitted entity's row, empty
//! lists on the others, so no row per entity and period leaves the pass.
//! Times are Int64 microseconds: `wall` of local wall-clock time, `instant`
//! since the epoch.

use super::activity::{self, COHORT, Ev, RETURN, RetentionScratch, RetentionSpec};
use super::arena::Arena;
use super::lists::{self, GroupedAggregate, list, list_of, merged};
use super::lists::{Interner, push_key, split_key};
use super::rows_of;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Builder, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, Expr, GroupsAccumulator};
use std::collections::HashMap;
use std::sync::Arc;

/// The name in plans.
pub const RETENTION: &str = "metricc_retention";

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
    lists::call::<Retention>(spec, args)
}

/// The cells of `metricc_retention`, with `props` breakdown values.
fn cell_fields(props: usize) -> Fields {
    let mut fields = vec![
        Field::new("cohort", DataType::Int64, false),
        Field::new("period", DataType::Int64, false),
        Field::new("size", DataType::Int64, false),
        Field::new("eligible", DataType::Int64, false),
        Field::new("retained", DataType::Int64, false),
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

/// The arguments before the breakdown values.
const RETENTION_FIXED: usize = 4;

/// `metricc_retention` for [`lists::call`].
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Retention;

impl GroupedAggregate for Retention {
    const NAME: &'static str = RETENTION;
    type Spec = RetentionSpec;
    fn return_type(_: &str, types: &[DataType]) -> Result<DataType> {
        if types.len() < RETENTION_FIXED {
            return exec_err!("{RETENTION} needs two times and two predicates");
        }
        Ok(list_of(cell_fields(types.len() - RETENTION_FIXED)))
    }
    fn state_type() -> DataType {
        list_of(event_fields())
    }
    fn groups(spec: RetentionSpec, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RetentionGroups::new(
            spec,
            args.exprs.len().saturating_sub(RETENTION_FIXED),
        )))
    }
}

struct RetentionGroups {
    spec: RetentionSpec,
    props: usize,
    events: Arena<Ev>,
    values: Interner,
    key: String,
    scratch: RetentionScratch,
    keyed: Vec<activity::Keyed>,
}

impl RetentionGroups {
    fn new(spec: RetentionSpec, props: usize) -> Self {
        RetentionGroups {
            spec,
            props,
            events: Arena::default(),
            values: Interner::default(),
            key: String::new(),
            scratch: RetentionScratch::default(),
            keyed: Vec::new(),
        }
    }

    fn push(&mut self, group: usize, e: Ev) -> Result<()> {
        // Of calendar returns only the latest per period matters: rows of
        // one entity often come in time order, so most fold into the last.
        // Not when `min_occurrences` counts them.
        if e.kind == RETURN
            && self.spec.rolling.is_none()
            && self.spec.min_occurrences <= 1
            && let Some(last) = self.events.last_mut(group)
            && last.kind == RETURN
            && self.spec.calendar.number(last.wall) == self.spec.calendar.number(e.wall)
        {
            if (e.instant, e.wall) > (last.instant, last.wall) {
                *last = e;
            }
            return Ok(());
        }
        self.events.push(group, e)?;
        let (spec, keyed) = (&self.spec, &mut self.keyed);
        self.events
            .compact_when_grown(|g| activity::compact_with(spec, g, keyed))
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
                )?;
            }
            if r {
                self.push(
                    group,
                    Ev {
                        kind: RETURN,
                        ..base
                    },
                )?;
            }
        }
        Ok(())
    }

    /// The emitted groups' events, compacted, as `List<Struct<event>>`.
    fn encode(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.events.take(emit_to)?;
        let mut instant = Int64Builder::with_capacity(taken.len());
        let mut wall = Int64Builder::with_capacity(taken.len());
        let mut kind = Int64Builder::with_capacity(taken.len());
        let mut prop = StringBuilder::new();
        let mut lengths = Vec::with_capacity(taken.groups());
        let mut events = Vec::new();
        for g in 0..taken.groups() {
            taken.group_into(g, &mut events);
            activity::compact_with(&self.spec, &mut events, &mut self.keyed);
            lengths.push(events.len());
            for e in &events {
                instant.append_value(e.instant);
                wall.append_value(e.wall);
                kind.append_value(i64::from(e.kind));
                if self.props == 0 || e.kind != COHORT {
                    prop.append_null();
                } else {
                    prop.append_value(&self.values.values[e.prop as usize]);
                }
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
            lengths,
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
        self.events.resize(total_num_groups)?;
        self.push_rows(values, rows_of(group_indices, opt_filter))
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.events.take(emit_to)?;
        let mut events = Vec::new();
        let (rank, order) = self.values.ranks();
        // Per cohort and breakdown value: per period, size, eligible, retained.
        let mut counts: HashMap<(i64, u32), Vec<[i64; 3]>> = HashMap::new();
        let periods = self.spec.periods as usize + 1;
        for g in 0..taken.groups() {
            taken.group_into(g, &mut events);
            if self.props > 0 {
                for e in events.iter_mut().filter(|e| e.kind == COHORT) {
                    e.prop = rank[e.prop as usize];
                }
            }
            activity::retention_into(&self.spec, &events, &mut self.scratch, |c| {
                let cells = counts
                    .entry((c.cohort, c.prop))
                    .or_insert_with(|| vec![[0; 3]; periods]);
                if let Some(cell) = usize::try_from(c.period)
                    .ok()
                    .and_then(|p| cells.get_mut(p))
                {
                    cell[0] += 1;
                    cell[1] += i64::from(c.eligible);
                    cell[2] += i64::from(c.retained);
                }
            });
        }
        let mut keys: Vec<(i64, u32)> = counts.keys().copied().collect();
        keys.sort_unstable();
        let n = keys.len() * periods;
        let mut cohort = Int64Builder::with_capacity(n);
        let mut period = Int64Builder::with_capacity(n);
        let mut columns = [
            Int64Builder::with_capacity(n),
            Int64Builder::with_capacity(n),
            Int64Builder::with_capacity(n),
        ];
        let mut attrs: Vec<StringBuilder> = (0..self.props).map(|_| StringBuilder::new()).collect();
        for key in &keys {
            let values = if self.props > 0 {
                split_key(&self.values.values[order[key.1 as usize] as usize])
            } else {
                Vec::new()
            };
            for (k, cell) in counts[key].iter().enumerate() {
                cohort.append_value(key.0);
                period.append_value(k as i64);
                for (b, v) in columns.iter_mut().zip(cell) {
                    b.append_value(*v);
                }
                for (p, b) in attrs.iter_mut().enumerate() {
                    b.append_option(values.get(p).copied().flatten());
                }
            }
        }
        let mut out: Vec<ArrayRef> = vec![Arc::new(cohort.finish()), Arc::new(period.finish())];
        out.extend(columns.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        out.extend(attrs.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        let lengths = lists::on_first_row(taken.groups(), n, RETENTION, "cells")?;
        list(cell_fields(self.props), out, lengths)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.encode(emit_to)?])
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
        let mut scratch = RetentionGroups::new(self.spec.clone(), self.props);
        let n = values.first().map_or(0, |a| a.len());
        let indices: Vec<usize> = (0..n).collect();
        scratch.update_batch(values, &indices, opt_filter, n)?;
        Ok(vec![scratch.encode(EmitTo::All)?])
    }

    fn size(&self) -> usize {
        self.events.bytes() + self.values.size() + self.keyed.capacity() * 40
    }
}
