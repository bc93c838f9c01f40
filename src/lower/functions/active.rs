//! lower: `metricc_active(wall)`, grouped by entity (and breakdown
//! values): keeps the entity's distinct activity units and returns, per
//! bucket where its memberships start or stop holding, `{bucket, start,
//! stop}` ([`activity::active`], [`activity::transitions`]). Times are
//! Int64 microseconds of local wall-clock time. The state is compact and
//! merges, so DataFusion's two-phase aggregation shrinks data early.

use super::activity::{self, ActiveSpec};
use super::lists::due;
use super::lists::{self, GroupedAggregate, list, list_of, merged};
use super::rows_of;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Builder, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::common::Result;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, Expr, GroupsAccumulator};
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
    ])
}

/// `metricc_active` for [`lists::call`].
#[derive(Debug, Default, PartialEq, Eq, Hash)]
struct Active;

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
            groups: Vec::new(),
            compacted: Vec::new(),
            units: 0,
        }))
    }
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
