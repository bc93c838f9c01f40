//! lower: `metricc_retention(wall, instant, cohort, return, prop...)`,
//! grouped by entity: keeps its cohort and return events (compacted to what
//! can change the answer) and returns its cells `{cohort, period, eligible,
//! retained, a0..}` ([`activity::retention`]). Times are Int64
//! microseconds: `wall` of local wall-clock time, `instant` since the epoch.

use super::activity::{self, COHORT, Ev, RETURN, RetentionSpec};
use super::lists::{self, GroupedAggregate, list, list_of, merged};
use super::lists::{Interner, due, push_key, split_key};
use super::rows_of;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Int64Builder, StringArray,
    StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, Expr, GroupsAccumulator};
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

/// The arguments before the breakdown values.
const RETENTION_FIXED: usize = 4;

/// `metricc_retention` for [`lists::call`].
#[derive(Debug, Default, PartialEq, Eq, Hash)]
struct Retention;

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
