//! `percentile(x, p)`: the exact continuous percentile. The value at position
//! `p * (n - 1)` of the sorted non-null values, linearly interpolated between
//! its two neighbours (the definition of SQL's `percentile_cont` and DuckDB's
//! `quantile_cont`). DataFusion 55's `percentile_cont` truncates the
//! interpolation weight to six decimals, which is why metricc has its own.
//!
//! An exact percentile needs every value. Without a budget an accumulator
//! keeps them in one vector and selects the answer at the end. With a budget
//! (a run under `--memory-limit`), each time the unsorted values fill half of
//! it they are sorted into a run of distinct values with their counts; runs
//! are merged as they come, so values that repeat (latencies in tenths of a
//! millisecond, amounts in cents) take the room of their distinct values.
//! When the runs still fill the other half, they are merged into one and
//! written to a temporary file. The answer is then found by walking all runs,
//! in memory and on disk, in order. It is the same exact answer either way.
//!
//! `metricc_percentiles(x, p1, p2, ...)` is the same store answering several
//! points at once: fractions, and `'median'` (DataFusion's `median`, the
//! mean of the two middle values, computed as it computes it). Nothing
//! lowers to it: the engine's optimizer rule (`engine::shared_percentiles`)
//! merges the percentiles and medians of one aggregate that read the same
//! column under the same filter into one call, so their values are held
//! once and selected once. It returns a struct with a field per point
//! (`p1`, `p2`, ...).

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, ListArray, StructArray,
    UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, internal_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::Arc;

/// The function's name in plans.
pub const PERCENTILE: &str = "metricc_percentile";

/// The function holding all values in memory.
pub fn unbounded_percentile() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::from(ExactPercentile::new(None)))
}

/// The same function, holding at most about `budget` bytes (at least
/// [`MIN_BUDGET`]) of values per group in memory and writing sorted runs to
/// temporary files beyond it. The budget is per group: an aggregate of many
/// groups is bounded by DataFusion's memory pool, which spills whole group
/// states when it runs short.
pub fn bounded_percentile(budget: usize) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::from(ExactPercentile::new(Some(
        budget.max(MIN_BUDGET),
    ))))
}

/// The smallest budget: below it nearly every value would be a spill file.
pub const MIN_BUDGET: usize = 1024;

/// The name of the form answering several points at once.
pub const PERCENTILES: &str = "metricc_percentiles";

/// The several-point form, with the same budget as [`bounded_percentile`]
/// (`None`: every value in memory).
pub fn shared_percentiles(budget: Option<usize>) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::from(SharedPercentiles {
        signature: Signature::user_defined(Volatility::Immutable),
        budget: budget.map(|b| b.max(MIN_BUDGET)),
    }))
}

/// One point of [`PERCENTILES`]: its argument is the fraction (a `Float64`
/// literal) or the literal `'median'`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    /// The value at position `p * (n - 1)`, interpolated.
    Fraction(f64),
    /// DataFusion's `median`: the middle value, or the two middle values
    /// added and halved. `(a + b) / 2` may differ from the fraction 0.5's
    /// `a + (b - a) * 0.5` in the last bit, so it is a point of its own.
    Median,
}

impl Point {
    /// The argument that stands for this point.
    pub fn literal(self) -> ScalarValue {
        match self {
            Point::Fraction(p) => ScalarValue::Float64(Some(p)),
            Point::Median => ScalarValue::Utf8(Some("median".into())),
        }
    }

    fn of(value: &ScalarValue) -> Option<Point> {
        match value {
            ScalarValue::Float64(Some(p)) => Some(Point::Fraction(*p)),
            ScalarValue::Utf8(Some(m)) if m == "median" => Some(Point::Median),
            _ => None,
        }
    }

    /// The ranks (from 0, among `n > 0` sorted values) of the two values the
    /// answer is made of.
    fn ranks(self, n: u64) -> (u64, u64) {
        match self {
            Point::Fraction(p) => {
                let position = p.clamp(0.0, 1.0) * (n - 1) as f64;
                (position.floor() as u64, position.ceil() as u64)
            }
            Point::Median => ((n - 1) / 2, n / 2),
        }
    }

    /// The answer from the values at [`Point::ranks`].
    fn answer(self, n: u64, low: f64, high: f64) -> f64 {
        match self {
            Point::Fraction(p) => {
                let position = p.clamp(0.0, 1.0) * (n - 1) as f64;
                interpolate(low, high, position - position.floor())
            }
            Point::Median if n % 2 == 1 => low,
            Point::Median => (low + high) / 2.0,
        }
    }
}

/// The fields of the several-point form's struct: `p1`, `p2`, ...
fn point_fields(points: usize) -> Fields {
    (1..=points)
        .map(|i| Field::new(format!("p{i}"), DataType::Float64, true))
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SharedPercentiles {
    signature: Signature,
    budget: Option<usize>,
}

impl SharedPercentiles {
    /// The points, from the literal arguments after the values.
    fn points(args: &AccumulatorArgs) -> Result<Vec<Point>> {
        args.exprs[1..]
            .iter()
            .map(|e| {
                let any: &dyn std::any::Any = e.as_ref();
                match any
                    .downcast_ref::<Literal>()
                    .and_then(|l| Point::of(l.value()))
                {
                    Some(point) => Ok(point),
                    None => plan_err!("{PERCENTILES} takes literal fractions or 'median', not {e}"),
                }
            })
            .collect()
    }
}

impl AggregateUDFImpl for SharedPercentiles {
    fn name(&self) -> &str {
        PERCENTILES
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let points_ok = arg_types
            .iter()
            .skip(1)
            .all(|t| matches!(t, DataType::Float64 | DataType::Utf8));
        if arg_types.len() < 2 || arg_types[0] != DataType::Float64 || !points_ok {
            return plan_err!(
                "{PERCENTILES} takes a Float64 column and its points, not {arg_types:?}"
            );
        }
        Ok(arg_types.to_vec())
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(point_fields(
            arg_types.len().saturating_sub(1),
        )))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SharedValues {
            points: Self::points(&args)?,
            values: Values::new(self.budget),
        }))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups {
            groups: Vec::new(),
            fraction: None,
            points: Some(Self::points(&args)?),
            budget: self.budget,
            heap: 0,
        }))
    }
    fn state_fields(&self, _: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // The single form's state, its fraction always null.
        Ok(state_fields())
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ExactPercentile {
    signature: Signature,
    budget: Option<usize>,
}

impl ExactPercentile {
    fn new(budget: Option<usize>) -> Self {
        ExactPercentile {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Float64],
                Volatility::Immutable,
            ),
            budget,
        }
    }
}

impl AggregateUDFImpl for ExactPercentile {
    fn name(&self) -> &str {
        PERCENTILE
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Values::new(self.budget)))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups {
            groups: Vec::new(),
            fraction: None,
            points: None,
            budget: self.budget,
            heap: 0,
        }))
    }
    fn state_fields(&self, _: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields())
    }
}

/// A partial state: the values, their counts, the fraction.
fn state_fields() -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new_list(
            "values",
            Field::new_list_field(DataType::Float64, true),
            true,
        )),
        // Null: each value once; else the count of each (distinct,
        // ascending) value.
        Arc::new(Field::new_list(
            "counts",
            Field::new_list_field(DataType::UInt64, true),
            true,
        )),
        Arc::new(Field::new("fraction", DataType::Float64, true)),
    ]
}

/// A key for each f64 whose unsigned order is `f64::total_cmp`'s order.
fn key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

/// The f64 of a [`key`].
fn unkey(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Distinct values (as keys, ascending) and how often each occurs.
#[derive(Debug, Default, Clone, PartialEq)]
struct Run {
    keys: Vec<u64>,
    counts: Vec<u64>,
}

impl Run {
    /// Appends `count` of `k`, no smaller than the last key.
    fn push(&mut self, k: u64, count: u64) {
        match self.keys.last() {
            Some(&last) if last == k => *self.counts.last_mut().unwrap() += count,
            _ => {
                self.keys.push(k);
                self.counts.push(count);
            }
        }
    }

    fn from_sorted(keys: &[u64]) -> Run {
        let mut run = Run::default();
        for &k in keys {
            run.push(k, 1);
        }
        run
    }

    /// A run of `(key, count)` pairs in any order, equal keys added up.
    fn from_pairs(mut pairs: Vec<(u64, u64)>) -> Run {
        if !pairs.windows(2).all(|w| w[0].0 < w[1].0) {
            pairs.sort_unstable_by_key(|p| p.0);
        }
        let mut run = Run::default();
        for (k, c) in pairs {
            run.push(k, c);
        }
        run
    }

    fn merge(a: &Run, b: &Run) -> Run {
        let mut out = Run {
            keys: Vec::with_capacity(a.keys.len() + b.keys.len()),
            counts: Vec::with_capacity(a.keys.len() + b.keys.len()),
        };
        let (mut i, mut j) = (0, 0);
        while i < a.keys.len() || j < b.keys.len() {
            let take_a = j == b.keys.len() || (i < a.keys.len() && a.keys[i] <= b.keys[j]);
            let (k, c) = if take_a {
                i += 1;
                (a.keys[i - 1], a.counts[i - 1])
            } else {
                j += 1;
                (b.keys[j - 1], b.counts[j - 1])
            };
            out.push(k, c);
        }
        out
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn bytes(&self) -> usize {
        (self.keys.capacity() + self.counts.capacity()) * std::mem::size_of::<u64>()
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A run written to a temporary file as little-endian `(key, count)` pairs.
/// The file is open only while written or read (a percentile per group may
/// spill many runs) and removed when dropped.
#[derive(Debug)]
struct Spilled {
    path: tempfile::TempPath,
    entries: usize,
    total: u64,
}

/// Writes sorted `(key, count)` pairs to a new temporary file.
struct SpillWriter {
    out: BufWriter<File>,
    path: tempfile::TempPath,
    entries: usize,
    total: u64,
}

impl SpillWriter {
    fn new() -> Result<SpillWriter> {
        let (file, path) = tempfile::NamedTempFile::new_in(crate::spill::dir()?)?.into_parts();
        Ok(SpillWriter {
            out: BufWriter::with_capacity(1 << 16, file),
            path,
            entries: 0,
            total: 0,
        })
    }

    fn push(&mut self, k: u64, c: u64) -> Result<()> {
        self.out.write_all(&k.to_le_bytes())?;
        self.out.write_all(&c.to_le_bytes())?;
        self.entries += 1;
        self.total += c;
        Ok(())
    }

    fn finish(mut self) -> Result<Spilled> {
        self.out.flush()?;
        Ok(Spilled {
            path: self.path,
            entries: self.entries,
            total: self.total,
        })
    }
}

impl Spilled {
    fn write(run: &Run) -> Result<Spilled> {
        let mut out = SpillWriter::new()?;
        for (k, c) in run.keys.iter().zip(&run.counts) {
            out.push(*k, *c)?;
        }
        out.finish()
    }

    fn reader(&self) -> Result<SpillReader> {
        Ok(SpillReader {
            input: BufReader::with_capacity(1 << 16, File::open(&self.path)?),
            left: self.entries,
        })
    }
}

struct SpillReader {
    input: BufReader<File>,
    left: usize,
}

impl SpillReader {
    fn next(&mut self) -> Result<Option<(u64, u64)>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut pair = [0u8; 16];
        self.input.read_exact(&mut pair)?;
        let (k, c) = pair.split_at(8);
        Ok(Some((
            u64::from_le_bytes(k.try_into().unwrap()),
            u64::from_le_bytes(c.try_into().unwrap()),
        )))
    }
}

/// One sorted run being walked: in memory or on disk.
enum Cursor<'a> {
    Memory(&'a Run, usize),
    Disk(SpillReader),
}

impl Cursor<'_> {
    fn next(&mut self) -> Result<Option<(u64, u64)>> {
        match self {
            Cursor::Memory(run, at) => {
                let next = run.keys.get(*at).map(|k| (*k, run.counts[*at]));
                *at += 1;
                Ok(next)
            }
            Cursor::Disk(reader) => reader.next(),
        }
    }
}

/// Walks sorted runs as one in key order (equal keys of different runs one
/// after the other), until `visit` says stop.
fn walk(
    mut cursors: Vec<Cursor<'_>>,
    mut visit: impl FnMut(u64, u64) -> Result<bool>,
) -> Result<()> {
    let mut heap = BinaryHeap::new();
    for (i, c) in cursors.iter_mut().enumerate() {
        if let Some((k, count)) = c.next()? {
            heap.push(Reverse((k, count, i)));
        }
    }
    while let Some(Reverse((k, count, i))) = heap.pop() {
        if !visit(k, count)? {
            break;
        }
        if let Some((k, count)) = cursors[i].next()? {
            heap.push(Reverse((k, count, i)));
        }
    }
    Ok(())
}

/// Spilled runs beyond this many are merged into one file.
const MAX_SPILLED: usize = 16;

/// Every non-null value seen (see the module's documentation for how they
/// are held), and the fraction (a constant argument).
#[derive(Debug, Default)]
struct Values {
    /// Values not sorted yet.
    raw: Vec<f64>,
    /// Sorted runs in memory, each at most half the size of the one before.
    runs: Vec<Run>,
    /// Sorted runs in temporary files.
    spilled: Vec<Spilled>,
    fraction: Option<f64>,
    /// Bytes the values may take in memory; unbounded when `None`.
    budget: Option<usize>,
}

impl Values {
    fn new(budget: Option<usize>) -> Self {
        Values {
            budget,
            ..Values::default()
        }
    }

    /// Room for `more` values, growing by half at a time, not doubling: an
    /// exact percentile over 50M values holds 400 MB, and a doubling would
    /// ask a memory pool for 400 MB more at once.
    fn grow(&mut self, more: usize) {
        let free = self.raw.capacity() - self.raw.len();
        if free < more {
            let mut room = more.max(self.raw.len() / 2).max(8);
            if let Some(budget) = self.budget {
                // Not past the point where the values are sorted into a run.
                let half = budget / 2 / std::mem::size_of::<f64>();
                room = more.max(room.min(half.saturating_sub(self.raw.len())));
            }
            self.raw.reserve_exact(room);
        }
    }

    fn take_fraction(&mut self, a: &ArrayRef) {
        if self.fraction.is_none() {
            let p = a.as_primitive::<Float64Type>();
            self.fraction = p.iter().flatten().next();
        }
    }

    /// Sorts the unsorted values into a run once they fill half the budget.
    fn settle(&mut self) -> Result<()> {
        match self.budget {
            Some(budget) if self.raw.len() * std::mem::size_of::<f64>() >= budget / 2 => {
                self.sort_raw()
            }
            _ => Ok(()),
        }
    }

    fn sort_raw(&mut self) -> Result<()> {
        if self.raw.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<u64> = std::mem::take(&mut self.raw).into_iter().map(key).collect();
        keys.sort_unstable();
        let run = Run::from_sorted(&keys);
        drop(keys);
        self.push_run(run)
    }

    /// Adds a sorted run, merging runs of similar size (so each value is
    /// merged a logarithmic number of times), and writes the runs to a file
    /// when they fill half the budget.
    fn push_run(&mut self, run: Run) -> Result<()> {
        self.runs.push(run);
        while let [.., a, b] = &self.runs[..] {
            if b.len() * 2 < a.len() {
                break;
            }
            let merged = Run::merge(a, b);
            self.runs.truncate(self.runs.len() - 2);
            self.runs.push(merged);
        }
        if let Some(budget) = self.budget {
            let held: usize = self.runs.iter().map(Run::bytes).sum();
            if held > budget / 2 {
                let all = self.merged_runs();
                self.spilled.push(Spilled::write(&all)?);
                if self.spilled.len() >= MAX_SPILLED {
                    let cursors = self
                        .spilled
                        .iter()
                        .map(|s| s.reader().map(Cursor::Disk))
                        .collect::<Result<Vec<_>>>()?;
                    let mut out = SpillWriter::new()?;
                    let mut last: Option<(u64, u64)> = None;
                    walk(cursors, |k, c| {
                        match &mut last {
                            Some((lk, lc)) if *lk == k => *lc += c,
                            _ => {
                                if let Some((lk, lc)) = last.replace((k, c)) {
                                    out.push(lk, lc)?;
                                }
                            }
                        }
                        Ok(true)
                    })?;
                    if let Some((k, c)) = last {
                        out.push(k, c)?;
                    }
                    self.spilled = vec![out.finish()?];
                }
            }
        }
        Ok(())
    }

    /// The in-memory runs merged into one (and removed).
    fn merged_runs(&mut self) -> Run {
        let mut runs = std::mem::take(&mut self.runs);
        let mut all = runs.pop().unwrap_or_default();
        while let Some(r) = runs.pop() {
            all = Run::merge(&r, &all);
        }
        all
    }

    fn sorted(&self) -> bool {
        !self.runs.is_empty() || !self.spilled.is_empty()
    }

    /// Each point's answer over all runs, walked once in order.
    fn select(&self, points: &[Point]) -> Result<Vec<Option<f64>>> {
        let n: u64 = self.runs.iter().map(Run::total).sum::<u64>()
            + self.spilled.iter().map(|s| s.total).sum::<u64>();
        if n == 0 {
            return Ok(vec![None; points.len()]);
        }
        let mut ranks: Vec<u64> = points
            .iter()
            .flat_map(|p| {
                let (lo, hi) = p.ranks(n);
                [lo, hi]
            })
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        let mut cursors: Vec<Cursor> = self.runs.iter().map(|r| Cursor::Memory(r, 0)).collect();
        for s in &self.spilled {
            cursors.push(Cursor::Disk(s.reader()?));
        }
        // The value at each rank, in rank order; `before` counts the values
        // before the current entry.
        let mut found: Vec<f64> = Vec::with_capacity(ranks.len());
        let mut before = 0u64;
        walk(cursors, |k, count| {
            while found.len() < ranks.len() && ranks[found.len()] < before + count {
                found.push(unkey(k));
            }
            before += count;
            Ok(found.len() < ranks.len())
        })?;
        if found.len() < ranks.len() {
            return internal_err!("percentile runs hold fewer values than counted");
        }
        let at = |r: u64| found[ranks.partition_point(|&x| x < r)];
        Ok(points
            .iter()
            .map(|p| {
                let (lo, hi) = p.ranks(n);
                Some(p.answer(n, at(lo), at(hi)))
            })
            .collect())
    }

    /// Each point's answer over every value.
    fn answers(&mut self, points: &[Point]) -> Result<Vec<Option<f64>>> {
        if !self.sorted() {
            return Ok(exact(&mut self.raw, points));
        }
        self.sort_raw()?;
        self.select(points)
    }

    /// The single form's answer, at its fraction.
    fn answer(&mut self) -> Result<Option<f64>> {
        match self.fraction {
            Some(p) => Ok(self.answers(&[Point::Fraction(p)])?[0]),
            None => Ok(None),
        }
    }

    /// Adds a batch of values (nulls skipped).
    fn add(&mut self, a: &ArrayRef) -> Result<()> {
        let a = a.as_primitive::<Float64Type>();
        self.grow(a.len() - a.null_count());
        self.raw.extend(a.iter().flatten());
        self.settle()
    }
}

impl Values {
    /// Bytes held on the heap.
    fn heap(&self) -> usize {
        self.raw.capacity() * std::mem::size_of::<f64>()
            + self.runs.iter().map(Run::bytes).sum::<usize>()
            + self.spilled.capacity() * std::mem::size_of::<Spilled>()
    }

    /// Adds one value, growing the buffer the way [`Values::grow`] does.
    fn push(&mut self, v: f64) -> Result<()> {
        if self.raw.len() == self.raw.capacity() {
            self.grow(1);
        }
        self.raw.push(v);
        self.settle()
    }
}

/// The values of every group of an aggregate: one [`Values`] per group,
/// filled row by row, where DataFusion's adapter for a plain accumulator
/// would sort each batch by group and slice it per group.
#[derive(Debug)]
struct Groups {
    groups: Vec<Values>,
    fraction: Option<f64>,
    /// The several-point form's points; `None` for the single form.
    points: Option<Vec<Point>>,
    budget: Option<usize>,
    /// Bytes the groups hold on the heap, kept up to date.
    heap: usize,
}

impl Groups {
    fn resize(&mut self, n: usize) {
        if self.groups.len() < n {
            let budget = self.budget;
            self.groups.resize_with(n, || Values::new(budget));
        }
    }

    fn take_fraction(&mut self, a: &ArrayRef) {
        if self.fraction.is_none() {
            self.fraction = a.as_primitive::<Float64Type>().iter().flatten().next();
        }
    }

    /// The groups `emit_to` hands out, with the fraction each needs.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Values> {
        let mut out = emit_to.take_needed(&mut self.groups);
        for g in &mut out {
            self.heap -= g.heap();
            g.fraction = self.fraction;
        }
        out
    }
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        if self.points.is_none() {
            self.take_fraction(&values[1]);
        }
        let x = values[0].as_primitive::<Float64Type>();
        if self.budget.is_none() {
            // Without a budget a group's values only grow in one buffer:
            // its heap changes when the buffer's capacity does.
            for (row, g) in super::rows_of(group_indices, opt_filter) {
                if x.is_null(row) {
                    continue;
                }
                let group = &mut self.groups[g];
                if group.raw.len() == group.raw.capacity() {
                    let before = group.raw.capacity();
                    group.grow(1);
                    self.heap += (group.raw.capacity() - before) * std::mem::size_of::<f64>();
                }
                group.raw.push(x.value(row));
            }
            return Ok(());
        }
        for (row, g) in super::rows_of(group_indices, opt_filter) {
            if x.is_null(row) {
                continue;
            }
            let group = &mut self.groups[g];
            let before = group.heap();
            group.push(x.value(row))?;
            self.heap = self.heap + group.heap() - before;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let Some(points) = self.points.clone() else {
            let mut out = Float64Array::builder(self.groups.len());
            for mut g in self.take(emit_to) {
                out.append_option(g.answer()?);
            }
            return Ok(Arc::new(out.finish()));
        };
        let groups = self.take(emit_to);
        let mut columns: Vec<Float64Builder> = points
            .iter()
            .map(|_| Float64Builder::with_capacity(groups.len()))
            .collect();
        for mut g in groups {
            for (column, answer) in columns.iter_mut().zip(g.answers(&points)?) {
                column.append_option(answer);
            }
        }
        let columns: Vec<ArrayRef> = columns
            .into_iter()
            .map(|mut c| Arc::new(c.finish()) as ArrayRef)
            .collect();
        Ok(Arc::new(StructArray::try_new(
            point_fields(points.len()),
            columns,
            None,
        )?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let mut columns: [Vec<ScalarValue>; 3] = Default::default();
        for mut g in self.take(emit_to) {
            for (column, value) in columns.iter_mut().zip(g.state()?) {
                column.push(value);
            }
        }
        let kinds = [
            DataType::new_list(DataType::Float64, true),
            DataType::new_list(DataType::UInt64, true),
            DataType::Float64,
        ];
        columns
            .into_iter()
            .zip(kinds)
            .map(|(column, kind)| {
                if column.is_empty() {
                    Ok(datafusion::arrow::array::new_empty_array(&kind))
                } else {
                    ScalarValue::iter_to_array(column)
                }
            })
            .collect()
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        self.take_fraction(&values[2]);
        for (row, &g) in group_indices.iter().enumerate() {
            let one: Vec<ArrayRef> = values.iter().map(|a| a.slice(row, 1)).collect();
            let group = &mut self.groups[g];
            let before = group.heap();
            group.merge_batch(&one)?;
            self.heap = self.heap + group.heap() - before;
        }
        Ok(())
    }

    /// Each row as a state of its own: its value (none when null or
    /// filtered out), each once.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let x = values[0].as_primitive::<Float64Type>();
        let kept = (0..x.len()).map(|row| x.is_valid(row) && super::kept(opt_filter, row));
        let lengths: Vec<usize> = kept.clone().map(usize::from).collect();
        let child: Float64Array = kept
            .enumerate()
            .filter(|(_, k)| *k)
            .map(|(row, _)| x.value(row))
            .collect::<Vec<f64>>()
            .into();
        let fraction = match self.points {
            None => Arc::clone(&values[1]),
            Some(_) => datafusion::arrow::array::new_null_array(&DataType::Float64, x.len()),
        };
        let values = ListArray::new(
            Arc::new(Field::new_list_field(DataType::Float64, true)),
            OffsetBuffer::from_lengths(lengths),
            Arc::new(child),
            None,
        );
        let counts = ListArray::new_null(
            Arc::new(Field::new_list_field(DataType::UInt64, true)),
            x.len(),
        );
        Ok(vec![Arc::new(values), Arc::new(counts), fraction])
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.groups.capacity() * std::mem::size_of::<Values>()
            + self.heap
    }
}

impl Accumulator for Values {
    fn update_batch(&mut self, args: &[ArrayRef]) -> Result<()> {
        self.take_fraction(&args[1]);
        self.add(&args[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let values: &ListArray = states[0].as_list::<i32>();
        let counts: &ListArray = states[1].as_list::<i32>();
        for i in (0..values.len()).filter(|i| values.is_valid(*i)) {
            let v = values.value(i);
            let v = v.as_primitive::<Float64Type>();
            if counts.is_valid(i) {
                let c = counts.value(i);
                let c = c.as_primitive::<UInt64Type>();
                let pairs: Vec<(u64, u64)> = v
                    .iter()
                    .zip(c.iter())
                    .filter_map(|(v, c)| Some((key(v?), c?)))
                    .filter(|(_, c)| *c > 0)
                    .collect();
                self.push_run(Run::from_pairs(pairs))?;
            } else {
                self.grow(v.len() - v.null_count());
                self.raw.extend(v.iter().flatten());
                self.settle()?;
            }
        }
        self.take_fraction(&states[2]);
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = |values: ArrayRef, kind: DataType| {
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(kind, true)),
                OffsetBuffer::from_lengths([values.len()]),
                values,
                None,
            )))
        };
        let fraction = ScalarValue::Float64(self.fraction);
        if !self.sorted() {
            let values: ArrayRef = Arc::new(Float64Array::from(std::mem::take(&mut self.raw)));
            let no_counts = ScalarValue::List(Arc::new(ListArray::new_null(
                Arc::new(Field::new_list_field(DataType::UInt64, true)),
                1,
            )));
            return Ok(vec![list(values, DataType::Float64), no_counts, fraction]);
        }
        // Everything as one run: the state leaves this accumulator whole.
        self.sort_raw()?;
        let mut all = self.merged_runs();
        for s in std::mem::take(&mut self.spilled) {
            let mut reader = s.reader()?;
            let mut run = Run::default();
            while let Some((k, c)) = reader.next()? {
                run.keys.push(k);
                run.counts.push(c);
            }
            all = Run::merge(&all, &run);
        }
        let values: ArrayRef = Arc::new(Float64Array::from_iter_values(
            all.keys.iter().map(|k| unkey(*k)),
        ));
        let counts: ArrayRef = Arc::new(UInt64Array::from(all.counts));
        Ok(vec![
            list(values, DataType::Float64),
            list(counts, DataType::UInt64),
            fraction,
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.answer()?))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.heap()
    }
}

/// The several-point form without groups: the values and the points.
#[derive(Debug)]
struct SharedValues {
    values: Values,
    points: Vec<Point>,
}

impl Accumulator for SharedValues {
    fn update_batch(&mut self, args: &[ArrayRef]) -> Result<()> {
        self.values.add(&args[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.values.merge_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.values.state()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let columns: Vec<ArrayRef> = self
            .values
            .answers(&self.points)?
            .into_iter()
            .map(|a| Arc::new(Float64Array::from(vec![a])) as ArrayRef)
            .collect();
        let row = StructArray::try_new(point_fields(self.points.len()), columns, None)?;
        Ok(ScalarValue::Struct(Arc::new(row)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.heap()
    }
}

/// `weight` of the way from `low` to `high`; equal neighbours give
/// themselves, infinite ones included.
fn interpolate(low: f64, high: f64, weight: f64) -> f64 {
    if low == high {
        low
    } else {
        low + (high - low) * weight
    }
}

/// Each point's answer over `values` (reordered in place): one selection
/// per point, from the lowest rank up, each within the values at or above
/// the one before.
fn exact(values: &mut [f64], points: &[Point]) -> Vec<Option<f64>> {
    let n = values.len();
    if n == 0 {
        return vec![None; points.len()];
    }
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| points[i].ranks(n as u64).0);
    let mut out = vec![None; points.len()];
    let mut start = 0;
    for i in order {
        let (lo, hi) = points[i].ranks(n as u64);
        let (lo, hi) = (lo as usize, hi as usize);
        let (_, low, rest) = values[start..].select_nth_unstable_by(lo - start, f64::total_cmp);
        let low = *low;
        // The next value up is the smallest of the rest.
        let high = if hi == lo {
            low
        } else {
            rest.iter().copied().min_by(f64::total_cmp).unwrap_or(low)
        };
        out[i] = Some(points[i].answer(n as u64, low, high));
        start = lo;
    }
    out
}

/// The memory budget of `u`, when it is `metricc_percentile`.
pub(super) fn percentile_budget(u: &AggregateUDF) -> Option<Option<usize>> {
    (u.inner().as_ref() as &dyn std::any::Any)
        .downcast_ref::<ExactPercentile>()
        .map(|p| p.budget)
}

/// The memory budget of `u`, when it is `metricc_percentiles`.
pub(super) fn percentiles_budget(u: &AggregateUDF) -> Option<Option<usize>> {
    (u.inner().as_ref() as &dyn std::any::Any)
        .downcast_ref::<SharedPercentiles>()
        .map(|p| p.budget)
}

#[cfg(test)]
mod tests {
    use super::{Point, exact};

    fn one(values: &mut [f64], p: f64) -> Option<f64> {
        exact(values, &[Point::Fraction(p)])[0]
    }

    #[test]
    fn interpolates_exactly() {
        let mut v = vec![400.0, 10.0, 300.0, 100.0, 50.0, 200.0];
        assert_eq!(one(&mut v, 0.9), Some(350.0));
        assert_eq!(one(&mut v, 0.5), Some(150.0));
        assert_eq!(one(&mut v, 0.0), Some(10.0));
        assert_eq!(one(&mut v, 1.0), Some(400.0));
        // 8 values, p95 at 6.65: 0.65 of the way from the 7th to the 8th.
        let mut w: Vec<f64> = (1..=8).map(|i| i as f64 * 10.0).collect();
        assert!((one(&mut w, 0.95).unwrap() - 76.5).abs() < 1e-12);
        assert_eq!(one(&mut [], 0.5), None);
        // Equal neighbours are the answer, even infinite ones.
        let inf = f64::INFINITY;
        assert_eq!(one(&mut [inf, 1.0, inf], 0.75), Some(inf));
        assert_eq!(one(&mut [1.0, inf], 0.5), Some(inf));
    }
}

#[cfg(test)]
mod bounded {
    use super::{Accumulator, Values, key, unkey};
    use datafusion::arrow::array::{ArrayRef, Float64Array};
    use datafusion::common::ScalarValue;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// The definition, on a sorted copy: the reference the runs must match.
    fn naive(values: &[Option<f64>], p: f64) -> Option<f64> {
        let mut v: Vec<f64> = values.iter().flatten().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let position = p * (v.len() - 1) as f64;
        let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
        if v[lo] == v[hi] {
            return Some(v[lo]);
        }
        Some(v[lo] + (v[hi] - v[lo]) * (position - lo as f64))
    }

    fn feed(acc: &mut Values, values: &[Option<f64>], p: f64, batch: usize) {
        for chunk in values.chunks(batch.max(1)) {
            let x: ArrayRef = Arc::new(Float64Array::from(chunk.to_vec()));
            let f: ArrayRef = Arc::new(Float64Array::from(vec![p; chunk.len()]));
            acc.update_batch(&[x, f]).unwrap();
        }
    }

    fn answer(acc: &mut Values) -> Option<f64> {
        match acc.evaluate().unwrap() {
            ScalarValue::Float64(v) => v,
            other => panic!("not a float: {other:?}"),
        }
    }

    fn same(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            (a, b) => a == b,
        }
    }

    /// Values with many repeats (a small pool), or mostly distinct ones.
    fn values() -> impl Strategy<Value = Vec<Option<f64>>> {
        let repeated = prop::sample::select(vec![-3.5, -0.0, 0.0, 1.0, 2.5, 10.0, 1e9]);
        let value = prop_oneof![
            3 => repeated.prop_map(Some),
            3 => (-1e6f64..1e6).prop_map(Some),
            1 => Just(None),
            1 => prop::sample::select(vec![f64::INFINITY, f64::NEG_INFINITY]).prop_map(Some),
        ];
        prop::collection::vec(value, 0..400)
    }

    #[test]
    fn keys_keep_total_order() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -0.0,
            0.0,
            1e-300,
            2.0,
            f64::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} < {}", w[0], w[1]);
        }
        for x in xs {
            assert_eq!(unkey(key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn a_small_budget_sorts_and_spills() {
        // 64 bytes: runs of 4 values; distinct values fill the other half
        // at once, so runs go to disk.
        let values: Vec<Option<f64>> = (0..1000)
            .map(|i| Some(((i * 7919) % 1000) as f64))
            .collect();
        let mut acc = Values::new(Some(64));
        feed(&mut acc, &values, 0.9, 10);
        assert!(!acc.spilled.is_empty());
        // Hundreds of spills, merged as they pile up.
        assert!(acc.spilled.len() < super::MAX_SPILLED);
        assert_eq!(answer(&mut acc), Some(899.1));
        // Repeated values stay in memory as counts.
        let values: Vec<Option<f64>> = (0..1000).map(|i| Some((i % 3) as f64)).collect();
        let mut acc = Values::new(Some(1024));
        feed(&mut acc, &values, 0.5, 10);
        assert!(acc.spilled.is_empty() && !acc.runs.is_empty());
        assert!(acc.runs.iter().map(|r| r.len()).sum::<usize>() <= 3 * acc.runs.len());
        assert_eq!(answer(&mut acc), Some(1.0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any budget gives the definition's answer.
        #[test]
        fn bounded_matches_the_definition(
            values in values(),
            p in prop_oneof![Just(0.0), Just(0.5), Just(0.99), Just(1.0), 0.0f64..=1.0],
            budget in prop_oneof![Just(None), (16usize..512).prop_map(Some)],
            batch in 1usize..50,
        ) {
            let mut acc = Values::new(budget);
            feed(&mut acc, &values, p, batch);
            let got = answer(&mut acc);
            let want = naive(&values, p);
            prop_assert!(same(got, want), "got {got:?}, want {want:?}");
        }

        /// Partial states merged into another accumulator give the same
        /// answer, whichever accumulators are bounded.
        #[test]
        fn merged_states_match_the_definition(
            a in values(),
            b in values(),
            p in 0.0f64..=1.0,
            budgets in (prop::option::of(16usize..256), prop::option::of(16usize..256), prop::option::of(16usize..256)),
        ) {
            let mut left = Values::new(budgets.0);
            let mut right = Values::new(budgets.1);
            feed(&mut left, &a, p, 7);
            feed(&mut right, &b, p, 13);
            let mut total = Values::new(budgets.2);
            for part in [&mut left, &mut right] {
                let state: Vec<ArrayRef> = part
                    .state()
                    .unwrap()
                    .into_iter()
                    .map(|s| s.to_array().unwrap())
                    .collect();
                total.merge_batch(&state).unwrap();
            }
            let all: Vec<Option<f64>> = a.iter().chain(&b).copied().collect();
            let got = answer(&mut total);
            let want = if a.is_empty() && b.is_empty() { None } else { naive(&all, p) };
            prop_assert!(same(got, want), "got {got:?}, want {want:?}");
        }
    }
}

#[cfg(test)]
mod grouped {
    use super::{Accumulator, EmitTo, Groups, GroupsAccumulator, Point, SharedValues, Values};
    use datafusion::arrow::array::{
        Array, ArrayRef, AsArray, BooleanArray, Float64Array, StringArray,
    };
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::common::ScalarValue;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn groups(budget: Option<usize>) -> Groups {
        Groups {
            groups: Vec::new(),
            fraction: None,
            points: None,
            budget,
            heap: 0,
        }
    }

    /// Group `g`'s values that the filter keeps, sorted.
    fn sorted_values(rows: &[(usize, Option<f64>, bool)], g: usize) -> Vec<f64> {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|r| r.0 == g && r.2)
            .filter_map(|r| r.1)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The definition per group, over the rows the filter keeps.
    fn naive(rows: &[(usize, Option<f64>, bool)], g: usize, p: f64) -> Option<f64> {
        let v = sorted_values(rows, g);
        let position = p * (v.len().checked_sub(1)?) as f64;
        let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
        Some(if v[lo] == v[hi] {
            v[lo]
        } else {
            v[lo] + (v[hi] - v[lo]) * (position - lo as f64)
        })
    }

    fn args(
        rows: &[(usize, Option<f64>, bool)],
        p: f64,
    ) -> (Vec<ArrayRef>, Vec<usize>, BooleanArray) {
        let x: ArrayRef = Arc::new(rows.iter().map(|r| r.1).collect::<Float64Array>());
        let f: ArrayRef = Arc::new(Float64Array::from(vec![p; rows.len()]));
        let keep: BooleanArray = rows.iter().map(|r| Some(r.2)).collect();
        (vec![x, f], rows.iter().map(|r| r.0).collect(), keep)
    }

    fn row() -> impl Strategy<Value = (usize, Option<f64>, bool)> {
        let value = prop_oneof![
            3 => prop::sample::select(vec![-2.0, 0.0, 1.5, 7.0]).prop_map(Some),
            3 => (-1e3f64..1e3).prop_map(Some),
            1 => Just(None),
        ];
        (0usize..5, value, prop::bool::weighted(0.8))
    }

    fn results(a: ArrayRef) -> Vec<Option<f64>> {
        a.as_primitive::<Float64Type>().iter().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Row by row into groups, with a filter, under any budget: each
        /// group's answer is the definition's; and the same through partial
        /// states (state, and convert_to_state) merged into another.
        #[test]
        fn groups_match_the_definition(
            rows in prop::collection::vec(row(), 1..300),
            p in 0.0f64..=1.0,
            budget in prop_oneof![Just(None), (16usize..256).prop_map(Some)],
            batch in 1usize..40,
        ) {
            let n = 5;
            let want: Vec<Option<f64>> = (0..n).map(|g| naive(&rows, g, p)).collect();
            let mut direct = groups(budget);
            let mut through_state = groups(budget);
            for (i, chunk) in rows.chunks(batch).enumerate() {
                let (values, idx, keep) = args(chunk, p);
                direct.update_batch(&values, &idx, Some(&keep), n).unwrap();
                // Every other batch through convert_to_state, the rest
                // through a partial accumulator's state.
                let state = if i % 2 == 0 {
                    through_state.convert_to_state(&values, Some(&keep)).unwrap()
                } else {
                    let mut partial = groups(budget);
                    partial.update_batch(&values, &idx, Some(&keep), n).unwrap();
                    let s = partial.state(EmitTo::All).unwrap();
                    prop_assert_eq!(s[0].len(), n);
                    let state_idx: Vec<usize> = (0..n).collect();
                    through_state.merge_batch(&s, &state_idx, n).unwrap();
                    continue;
                };
                through_state.merge_batch(&state, &idx, n).unwrap();
            }
            prop_assert!(direct.size() > 0);
            prop_assert_eq!(results(direct.evaluate(EmitTo::All).unwrap()), want.clone());
            // Emitting the first two groups, then the rest.
            let mut first = results(through_state.evaluate(EmitTo::First(2)).unwrap());
            first.extend(results(through_state.evaluate(EmitTo::All).unwrap()));
            prop_assert_eq!(first, want);
            prop_assert_eq!(through_state.heap, 0);
        }
    }

    /// The several-point form's arguments: the values, then one column per
    /// point (its literal repeated), as DataFusion passes them.
    fn shared_args(
        rows: &[(usize, Option<f64>, bool)],
        points: &[Point],
    ) -> (Vec<ArrayRef>, Vec<usize>, BooleanArray) {
        let x: ArrayRef = Arc::new(rows.iter().map(|r| r.1).collect::<Float64Array>());
        let mut values = vec![x];
        for p in points {
            values.push(match p {
                Point::Fraction(f) => Arc::new(Float64Array::from(vec![*f; rows.len()])),
                Point::Median => Arc::new(StringArray::from(vec!["median"; rows.len()])),
            });
        }
        let keep: BooleanArray = rows.iter().map(|r| Some(r.2)).collect();
        (values, rows.iter().map(|r| r.0).collect(), keep)
    }

    /// DataFusion's `median` per group: the middle value, or the two middle
    /// values added and halved.
    fn naive_median(rows: &[(usize, Option<f64>, bool)], g: usize) -> Option<f64> {
        let v = sorted_values(rows, g);
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }

    fn point() -> impl Strategy<Value = Point> {
        prop_oneof![
            Just(Point::Median),
            prop_oneof![Just(0.5), Just(0.95), Just(0.99), 0.0f64..=1.0].prop_map(Point::Fraction),
        ]
    }

    /// A struct of one Float64 field per point, as rows of answers.
    fn struct_rows(a: ArrayRef) -> Vec<Vec<Option<f64>>> {
        let s = a.as_struct();
        (0..s.len())
            .map(|row| {
                s.columns()
                    .iter()
                    .map(|c| {
                        let c = c.as_primitive::<Float64Type>();
                        c.is_valid(row).then(|| c.value(row))
                    })
                    .collect()
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Several points answered from one store: per group, each point's
        /// answer is its own definition's (`percentile`'s, or DataFusion's
        /// `median`), directly and through partial states, under any
        /// budget; and the same without groups.
        #[test]
        fn shared_points_match_each_definition(
            rows in prop::collection::vec(row(), 1..300),
            points in prop::collection::vec(point(), 1..5),
            budget in prop_oneof![Just(None), (16usize..256).prop_map(Some)],
            batch in 1usize..40,
        ) {
            let n = 5;
            let want: Vec<Vec<Option<f64>>> = (0..n)
                .map(|g| {
                    points
                        .iter()
                        .map(|p| match p {
                            Point::Median => naive_median(&rows, g),
                            Point::Fraction(f) => naive(&rows, g, *f),
                        })
                        .collect()
                })
                .collect();
            let shared = |budget| Groups { points: Some(points.clone()), ..groups(budget) };
            let mut direct = shared(budget);
            let mut through_state = shared(budget);
            for (i, chunk) in rows.chunks(batch).enumerate() {
                let (values, idx, keep) = shared_args(chunk, &points);
                direct.update_batch(&values, &idx, Some(&keep), n).unwrap();
                if i % 2 == 0 {
                    let state = through_state.convert_to_state(&values, Some(&keep)).unwrap();
                    through_state.merge_batch(&state, &idx, n).unwrap();
                } else {
                    let mut partial = shared(budget);
                    partial.update_batch(&values, &idx, Some(&keep), n).unwrap();
                    let s = partial.state(EmitTo::All).unwrap();
                    let state_idx: Vec<usize> = (0..n).collect();
                    through_state.merge_batch(&s, &state_idx, n).unwrap();
                }
            }
            prop_assert_eq!(struct_rows(direct.evaluate(EmitTo::All).unwrap()), want.clone());
            let mut first = struct_rows(through_state.evaluate(EmitTo::First(2)).unwrap());
            first.extend(struct_rows(through_state.evaluate(EmitTo::All).unwrap()));
            prop_assert_eq!(first, want.clone());

            // Without groups: every kept row of group 0 into one accumulator.
            let group0: Vec<(usize, Option<f64>, bool)> =
                rows.iter().filter(|r| r.0 == 0 && r.2).copied().collect();
            let mut plain = SharedValues { values: Values::new(budget), points: points.clone() };
            for chunk in group0.chunks(batch) {
                plain.update_batch(&shared_args(chunk, &points).0).unwrap();
            }
            let got = match plain.evaluate().unwrap() {
                ScalarValue::Struct(s) => struct_rows(s),
                other => panic!("not a struct: {other:?}"),
            };
            prop_assert_eq!(got, vec![want[0].clone()]);
        }
    }
}
