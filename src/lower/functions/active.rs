//! lower: `metricc_active(wall)`, grouped by entity (and breakdown
//! values): keeps the entity's distinct activity units and returns, per
//! bucket where its memberships start or stop holding, `{bucket, start,
//! stop, n}` ([`activity::active`], [`activity::transitions`]), `n` 1. With
//! [`ActiveSpec::counts`] (grouped by entity alone), equal changes of the
//! entities of an emission are counted instead: `n` entities each, all on
//! the first emitted entity's row and empty lists on the others. Times are
//! Int64 microseconds of local wall-clock time. The state is compact and
//! merges, so DataFusion's two-phase aggregation shrinks data early. Units
//! are kept in one store for all entities ([`Arena`]); a unit equal to the
//! entity's latest one is not kept again.

use super::activity::{self, ActiveSpec};
use super::arena::{Arena, Taken};
use super::lists::{self, GroupedAggregate, list, list_of, merged};
use super::rows_of;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Builder, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::common::Result;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, Expr, GroupsAccumulator};
use std::collections::HashMap;
use std::sync::Arc;

/// The name in plans.
pub const ACTIVE: &str = "metricc_active";

/// `metricc_active(wall)` with `spec`.
pub fn active(spec: &ActiveSpec, wall: Expr) -> Expr {
    lists::call::<Active>(spec, vec![wall])
}

/// The rows of `metricc_active`: a bucket index where memberships start
/// or stop holding.
fn active_fields() -> Fields {
    Fields::from(vec![
        Field::new("bucket", DataType::Int64, false),
        Field::new("start", DataType::Int64, false),
        Field::new("stop", DataType::Int64, false),
        Field::new("n", DataType::Int64, false),
    ])
}

/// `metricc_active` for [`lists::call`].
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Active;

impl GroupedAggregate for Active {
    const NAME: &'static str = ACTIVE;
    type Spec = ActiveSpec;
    fn return_type(_: &str, _: &[DataType]) -> Result<DataType> {
        Ok(list_of(active_fields()))
    }
    fn state_type() -> DataType {
        DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
    }
    fn groups(spec: ActiveSpec, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ActiveGroups {
            spec,
            units: Arena::default(),
            scratch: Vec::new(),
        }))
    }
}

struct ActiveGroups {
    spec: ActiveSpec,
    /// Every entity's activity units.
    units: Arena<i64>,
    /// One entity's units, reused from one entity to the next.
    scratch: Vec<i64>,
}

/// Group `g`'s activity units, sorted and distinct, into `out`.
fn distinct_units(taken: &Taken<i64>, g: usize, out: &mut Vec<i64>) {
    taken.group_into(g, out);
    out.sort_unstable();
    out.dedup();
}

impl ActiveGroups {
    fn push(&mut self, group: usize, unit: i64) -> Result<()> {
        // Rows of one entity often come in time order: most repeat the last.
        if self.units.last_mut(group).is_some_and(|u| *u == unit) {
            return Ok(());
        }
        self.units.push(group, unit)?;
        self.units.compact_when_grown(|g| {
            g.sort_unstable();
            g.dedup();
        })
    }

    /// The emitted groups' units, sorted and distinct, as `List<Int64>`.
    fn encode(&mut self, taken: &Taken<i64>) -> Result<ArrayRef> {
        let mut values = Int64Builder::with_capacity(taken.len());
        let mut lengths = Vec::with_capacity(taken.groups());
        for g in 0..taken.groups() {
            distinct_units(taken, g, &mut self.scratch);
            values.append_slice(&self.scratch);
            lengths.push(self.scratch.len());
        }
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Int64, true)),
            OffsetBuffer::from_lengths(lengths),
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
        self.units.resize(total_num_groups)?;
        let wall = values[0].as_primitive::<Int64Type>();
        for (row, group) in rows_of(group_indices, opt_filter) {
            if wall.is_valid(row) {
                let u = activity::unit(&self.spec, wall.value(row));
                self.push(group, u)?;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.units.take(emit_to)?;
        let mut lengths = Vec::with_capacity(taken.groups());
        let mut bucket = Int64Builder::new();
        let mut flags = Int64Builder::new();
        let mut stop = Int64Builder::new();
        let mut entities = Int64Builder::new();
        let n = self.spec.buckets.len();
        // Counts mode: entities per change.
        let mut counts: HashMap<(usize, u64, u64), i64> = HashMap::new();
        for g in 0..taken.groups() {
            distinct_units(&taken, g, &mut self.scratch);
            let rows = activity::transitions(n, &activity::active(&self.spec, &self.scratch));
            if self.spec.counts {
                for change in rows {
                    *counts.entry(change).or_default() += 1;
                }
                continue;
            }
            lengths.push(rows.len());
            for (b, on, off) in rows {
                bucket.append_value(b as i64);
                flags.append_value(on as i64);
                stop.append_value(off as i64);
                entities.append_value(1);
            }
        }
        if self.spec.counts {
            let mut changes: Vec<_> = counts.into_iter().collect();
            changes.sort_unstable();
            for ((b, on, off), k) in &changes {
                bucket.append_value(*b as i64);
                flags.append_value(*on as i64);
                stop.append_value(*off as i64);
                entities.append_value(*k);
            }
            lengths = lists::on_first_row(taken.groups(), changes.len(), ACTIVE, "changes")?;
        }
        list(
            active_fields(),
            vec![
                Arc::new(bucket.finish()),
                Arc::new(flags.finish()),
                Arc::new(stop.finish()),
                Arc::new(entities.finish()),
            ],
            lengths,
        )
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.units.take(emit_to)?;
        Ok(vec![self.encode(&taken)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.units.resize(total_num_groups)?;
        for (group, item) in merged(values, group_indices) {
            for u in item.as_primitive::<Int64Type>().iter().flatten() {
                self.push(group, u)?;
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
        let mut values = Int64Builder::with_capacity(wall.len());
        let lengths = (0..wall.len()).map(|row| {
            let keep = wall.is_valid(row) && super::kept(opt_filter, row);
            if keep {
                values.append_value(activity::unit(&self.spec, wall.value(row)));
            }
            usize::from(keep)
        });
        let offsets = OffsetBuffer::from_lengths(lengths.collect::<Vec<_>>());
        Ok(vec![Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Int64, true)),
            offsets,
            Arc::new(values.finish()),
            None,
        )?)])
    }

    fn size(&self) -> usize {
        self.units.bytes() + self.scratch.capacity() * 8
    }
}
