//! lower: `metricc_running(bucket, start, stop, n)`, grouped by breakdown
//! values: sums the entities' membership changes (`n` entities each) and
//! runs them over the buckets; per bucket where any count is not 0,
//! `{bucket, c0..}`.

use super::lists::{self, GroupedAggregate, list, list_of, merged};
use super::rows_of;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Builder};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::common::Result;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, Expr, GroupsAccumulator};
use std::sync::Arc;

/// The name in plans.
pub const RUNNING: &str = "metricc_running";

/// The settings of `metricc_running`: the buckets' keys and how many
/// memberships the deltas carry (bits of `start`/`stop`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunningSpec {
    pub buckets: Vec<i64>,
    pub members: usize,
}

/// `metricc_running(bucket, start, stop, n)` with `spec`: grouped by
/// breakdown values, sums the membership changes (each row is `n` entities
/// changing alike) and runs them over the buckets; per bucket where any
/// count is not 0, `{bucket, c0..}`.
pub fn running(spec: &RunningSpec, bucket: Expr, start: Expr, stop: Expr, n: Expr) -> Expr {
    lists::call::<Running>(spec, vec![bucket, start, stop, n])
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

/// `metricc_running` for [`lists::call`].
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Running;

impl GroupedAggregate for Running {
    const NAME: &'static str = RUNNING;
    type Spec = RunningSpec;
    fn return_type(spec: &str, _: &[DataType]) -> Result<DataType> {
        let spec: RunningSpec = lists::parse(spec, RUNNING)?;
        Ok(list_of(running_fields(spec.members)))
    }
    fn state_type() -> DataType {
        list_of(delta_fields())
    }
    fn groups(spec: RunningSpec, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RunningGroups {
            spec,
            groups: Vec::new(),
            entries: 0,
        }))
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
        let n = values[3].as_primitive::<Int64Type>();
        for (row, group) in rows_of(group_indices, opt_filter) {
            if bucket.is_null(row) || n.is_null(row) {
                continue;
            }
            let (on, off) = (start.value(row) as u64, stop.value(row) as u64);
            for i in 0..self.spec.members.min(64) {
                let d = i64::from(on >> i & 1 == 1) - i64::from(off >> i & 1 == 1);
                self.add(group, bucket.value(row), i, d * n.value(row));
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
