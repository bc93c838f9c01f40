//! Exact, order-independent sums of floats, for `sum` and `avg` of
//! `double` values. DataFusion adds floats in the order batches arrive,
//! which changes with threads, partitions, spilling and timing, so the last
//! digits of a sum differed between identical runs (`ltv` 18.30994419441944
//! against 18.309944194419447). `metricc diff` compares two runs, so a
//! result must be a function of the input alone: each group here holds the
//! exact sum of its values as a wide integer, and the answer is that sum
//! correctly rounded once. The same input gives the same bits under any
//! `--threads` and `--memory-limit`.
//!
//! Written here rather than taken from a crate: no crate of the registries
//! this project uses offers an exact float sum that can be merged across
//! partial aggregates and stored in Arrow state, which DataFusion needs.
//!
//! The accumulator is a "superaccumulator" over the window of binary
//! exponents its values have used: digits of 32 bits in `i64` cells, with
//! carries propagated lazily. A double is `m * 2^e` with `m < 2^53`, so it
//! adds into at most three digits. Values of similar size (prices,
//! latencies) keep a group at a handful of digits.

use crate::lower::functions::{kept, kept_values};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, BooleanArray, Float64Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

/// Additions a digit may take before carries are propagated: each adds
/// less than 2^32 in magnitude, so 2^30 of them stay far below 2^63.
const ADDS_BEFORE_CARRY: u32 = 1 << 30;

/// The exact sum of a set of doubles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExactSum {
    /// Digit `j` weighs `2^(32 * (base + j))`.
    base: i32,
    digits: Vec<i64>,
    adds: u32,
    nan: bool,
    pos_inf: bool,
    neg_inf: bool,
}

impl ExactSum {
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            if v.is_nan() {
                self.nan = true;
            } else if v > 0.0 {
                self.pos_inf = true;
            } else {
                self.neg_inf = true;
            }
            return;
        }
        if v == 0.0 {
            return;
        }
        let bits = v.to_bits();
        let negative = bits >> 63 == 1;
        let exp_bits = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        let (m, e) = if exp_bits == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), exp_bits - 1075)
        };
        let q = e.div_euclid(32);
        let r = e.rem_euclid(32) as u32;
        let wide = u128::from(m) << r;
        let mut at = q.wrapping_sub(self.base);
        if at < 0 || at as usize + 3 > self.digits.len() {
            self.reach(q, q + 2);
            at = q - self.base;
        }
        let d = &mut self.digits[at as usize..at as usize + 3];
        let (lo, mid, hi) = (
            i64::from(wide as u32),
            i64::from((wide >> 32) as u32),
            i64::from((wide >> 64) as u32),
        );
        if negative {
            d[0] -= lo;
            d[1] -= mid;
            d[2] -= hi;
        } else {
            d[0] += lo;
            d[1] += mid;
            d[2] += hi;
        }
        self.adds += 1;
        if self.adds >= ADDS_BEFORE_CARRY {
            self.carry();
        }
    }

    /// Makes digits `lo..=hi` (by weight) exist.
    fn reach(&mut self, lo: i32, hi: i32) {
        if self.digits.is_empty() {
            self.base = lo;
            self.digits = vec![0; (hi - lo + 1) as usize];
            return;
        }
        if lo < self.base {
            let more = (self.base - lo) as usize;
            self.digits.splice(0..0, std::iter::repeat_n(0, more));
            self.base = lo;
        }
        let top = self.base + self.digits.len() as i32 - 1;
        if hi > top {
            self.digits
                .extend(std::iter::repeat_n(0, (hi - top) as usize));
        }
    }

    /// Propagates carries: every digit but the top one in `0..2^32`.
    fn carry(&mut self) {
        let mut carry = 0i64;
        for d in &mut self.digits {
            let v = *d + carry;
            carry = v >> 32;
            *d = v - (carry << 32);
        }
        // What is left (less than 2^31 in magnitude) is a new top digit,
        // which keeps the sign.
        if carry != 0 {
            self.digits.push(carry);
        }
        self.adds = 0;
    }

    /// Adds another exact sum.
    pub fn merge(&mut self, other: &ExactSum) {
        self.nan |= other.nan;
        self.pos_inf |= other.pos_inf;
        self.neg_inf |= other.neg_inf;
        if other.digits.is_empty() {
            return;
        }
        let lo = other.base;
        let hi = other.base + other.digits.len() as i32 - 1;
        self.reach(lo, hi);
        let at = (lo - self.base) as usize;
        // Each digit is below 2^62 in magnitude, so two add without overflow;
        // carrying at once brings them back below 2^32.
        for (k, d) in other.digits.iter().enumerate() {
            self.digits[at + k] += d;
        }
        self.carry();
    }

    /// The sum, correctly rounded to the nearest double (ties to even).
    pub fn value(&self) -> f64 {
        if self.nan || (self.pos_inf && self.neg_inf) {
            return f64::NAN;
        }
        if self.pos_inf {
            return f64::INFINITY;
        }
        if self.neg_inf {
            return f64::NEG_INFINITY;
        }
        let mut s = self.clone();
        s.carry();
        while s.digits.last() == Some(&0) {
            s.digits.pop();
        }
        let Some(&top) = s.digits.last() else {
            return 0.0;
        };
        let negative = top < 0;
        if negative {
            for d in &mut s.digits {
                *d = -*d;
            }
            s.carry();
            while s.digits.last() == Some(&0) {
                s.digits.pop();
            }
        }
        // Digits now in 0..2^32: the magnitude, top digit non-zero.
        let h = s.digits.len() - 1;
        let digit = |i: isize| -> u128 {
            if i < 0 {
                0
            } else {
                s.digits[i as usize] as u128
            }
        };
        let h = h as isize;
        let t: u128 = (digit(h) << 64) | (digit(h - 1) << 32) | digit(h - 2);
        let sticky = (0..(h - 2).max(0)).any(|i| s.digits[i as usize] != 0);
        let scale = 32 * (s.base + h as i32 - 2);
        let len = 128 - t.leading_zeros() as i32;
        let (mut m, mut e) = if len <= 53 {
            (t as u64, scale)
        } else {
            let shift = (len - 53) as u32;
            let kept = t >> shift;
            let rest = t & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            // Round to nearest; a tie (exactly half, nothing below) to even.
            let up = rest > half || (rest == half && (sticky || kept & 1 == 1));
            (kept as u64 + u64::from(up), scale + shift as i32)
        };
        if m == 1u64 << 53 {
            m >>= 1;
            e += 1;
        }
        let magnitude = scaled(m as f64, e);
        if negative { -magnitude } else { magnitude }
    }

    /// The state as bytes: flags, base, adds, digits.
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.nan) | u8::from(self.pos_inf) << 1 | u8::from(self.neg_inf) << 2);
        out.extend_from_slice(&self.base.to_le_bytes());
        out.extend_from_slice(&self.adds.to_le_bytes());
        for d in &self.digits {
            out.extend_from_slice(&d.to_le_bytes());
        }
    }

    fn decode(bytes: &[u8]) -> Result<ExactSum> {
        if bytes.len() < 9 || !(bytes.len() - 9).is_multiple_of(8) {
            return exec_err!("a damaged exact-sum state of {} bytes", bytes.len());
        }
        let word = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        Ok(ExactSum {
            nan: bytes[0] & 1 != 0,
            pos_inf: bytes[0] & 2 != 0,
            neg_inf: bytes[0] & 4 != 0,
            base: word(1),
            adds: word(5) as u32,
            digits: bytes[9..]
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        })
    }
}

/// `m * 2^e` for an integer `m < 2^54`, exact where the result is a normal
/// double (it is formed by multiplications by powers of two, each exact).
fn scaled(m: f64, e: i32) -> f64 {
    let pow = |k: i32| f64::from_bits(((k + 1023) as u64) << 52);
    let mut x = m;
    let mut e = e;
    while e > 1000 {
        x *= pow(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= pow(-1000);
        e += 1000;
    }
    x * pow(e)
}

/// Which aggregate: the sum, or the mean (the exact sum over the count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Sum,
    Avg,
}

pub static EXACT_SUM: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| exact(Kind::Sum));
pub static EXACT_AVG: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| exact(Kind::Avg));

fn exact(kind: Kind) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(Exact {
        kind,
        signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Exact {
    kind: Kind,
    signature: Signature,
}

impl AggregateUDFImpl for Exact {
    fn name(&self) -> &str {
        // As DataFusion's own, so plans and messages read as before.
        match self.kind {
            Kind::Sum => "sum",
            Kind::Avg => "avg",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[exact]", args.name),
                DataType::Binary,
                true,
            )),
            Arc::new(Field::new(
                format!("{}[count]", args.name),
                DataType::UInt64,
                true,
            )),
        ])
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(One {
            kind: self.kind,
            sum: ExactSum::default(),
            count: 0,
        }))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups {
            kind: self.kind,
            sums: Vec::new(),
            counts: Vec::new(),
        }))
    }
}

fn result(kind: Kind, sum: &ExactSum, count: u64) -> Option<f64> {
    (count > 0).then(|| match kind {
        Kind::Sum => sum.value(),
        Kind::Avg => sum.value() / count as f64,
    })
}

/// One group.
#[derive(Debug)]
struct One {
    kind: Kind,
    sum: ExactSum,
    count: u64,
}

impl Accumulator for One {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in values[0].as_primitive::<Float64Type>().iter().flatten() {
            self.sum.add(v);
            self.count += 1;
        }
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let sums = states[0].as_binary::<i32>();
        let counts = states[1].as_primitive::<UInt64Type>();
        for i in 0..sums.len() {
            if sums.is_valid(i) {
                self.sum.merge(&ExactSum::decode(sums.value(i))?);
                self.count += counts.value(i);
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut bytes = Vec::new();
        self.sum.encode(&mut bytes);
        Ok(vec![
            ScalarValue::Binary(Some(bytes)),
            ScalarValue::UInt64(Some(self.count)),
        ])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(result(
            self.kind, &self.sum, self.count,
        )))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.sum.digits.capacity() * 8
    }
}

/// Every group.
#[derive(Debug)]
struct Groups {
    kind: Kind,
    sums: Vec<ExactSum>,
    counts: Vec<u64>,
}

impl Groups {
    fn states(&mut self, emit_to: EmitTo) -> (BinaryArray, UInt64Array) {
        let sums = emit_to.take_needed(&mut self.sums);
        let counts = emit_to.take_needed(&mut self.counts);
        let mut b = BinaryBuilder::new();
        let mut bytes = Vec::new();
        for s in &sums {
            bytes.clear();
            s.encode(&mut bytes);
            b.append_value(&bytes);
        }
        (b.finish(), UInt64Array::from(counts))
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
        self.sums.resize_with(total_num_groups, ExactSum::default);
        self.counts.resize(total_num_groups, 0);
        let x = values[0].as_primitive::<Float64Type>();
        if opt_filter.is_none() && x.null_count() == 0 {
            for (&g, &v) in group_indices.iter().zip(x.values().iter()) {
                self.sums[g].add(v);
                self.counts[g] += 1;
            }
            return Ok(());
        }
        for (row, &g) in group_indices.iter().enumerate() {
            if kept(opt_filter, row) && x.is_valid(row) {
                self.sums[g].add(x.value(row));
                self.counts[g] += 1;
            }
        }
        Ok(())
    }
    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.sums.resize_with(total_num_groups, ExactSum::default);
        self.counts.resize(total_num_groups, 0);
        let sums = values[0].as_binary::<i32>();
        let counts = values[1].as_primitive::<UInt64Type>();
        for (row, &g) in group_indices.iter().enumerate() {
            if sums.is_valid(row) {
                self.sums[g].merge(&ExactSum::decode(sums.value(row))?);
                self.counts[g] += counts.value(row);
            }
        }
        Ok(())
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let sums = emit_to.take_needed(&mut self.sums);
        let counts = emit_to.take_needed(&mut self.counts);
        let out: Float64Array = sums
            .iter()
            .zip(counts)
            .map(|(s, n)| result(self.kind, s, n))
            .collect();
        Ok(Arc::new(out))
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (sums, counts) = self.states(emit_to);
        Ok(vec![Arc::new(sums), Arc::new(counts)])
    }
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let x = values[0].as_primitive::<Float64Type>();
        let mut b = BinaryBuilder::new();
        let mut counts = Vec::with_capacity(x.len());
        let mut bytes = Vec::new();
        for row in 0..x.len() {
            let mut s = ExactSum::default();
            let keep = kept(opt_filter, row) && x.is_valid(row);
            if keep {
                s.add(x.value(row));
            }
            bytes.clear();
            s.encode(&mut bytes);
            b.append_value(&bytes);
            counts.push(u64::from(keep));
        }
        Ok(vec![
            Arc::new(b.finish()),
            Arc::new(UInt64Array::from(counts)),
        ])
    }
    fn size(&self) -> usize {
        self.sums.capacity() * std::mem::size_of::<ExactSum>()
            + self
                .sums
                .iter()
                .map(|s| s.digits.capacity() * 8)
                .sum::<usize>()
            + self.counts.capacity() * 8
    }
}

/// Which of these `u` is, for sending it to another process by more than
/// its name (DataFusion's `sum`, `avg`, `min`, `max` share it).
pub(super) fn tag_of(u: &AggregateUDF) -> Option<&'static str> {
    let any = u.inner().as_ref() as &dyn std::any::Any;
    if let Some(e) = any.downcast_ref::<Exact>() {
        return Some(match e.kind {
            Kind::Sum => "metricc_exact_sum",
            Kind::Avg => "metricc_exact_avg",
        });
    }
    any.downcast_ref::<Extremes>().map(|e| match e.which {
        Extreme::Min => "metricc_nan_min",
        Extreme::Max => "metricc_nan_max",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(values: &[f64]) -> f64 {
        let mut s = ExactSum::default();
        for v in values {
            s.add(*v);
        }
        s.value()
    }

    #[test]
    fn sums_are_exact_and_rounded_once() {
        assert_eq!(exact(&[]), 0.0);
        assert_eq!(exact(&[0.1, 0.2]), 0.30000000000000004);
        // Naive left-to-right addition loses the 1.0 here.
        assert_eq!(exact(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(exact(&[1e308, 1e308]), f64::INFINITY);
        assert_eq!(exact(&[-3.5, 1.25]), -2.25);
        assert_eq!(exact(&[f64::MIN_POSITIVE, -f64::MIN_POSITIVE]), 0.0);
        assert_eq!(exact(&[5e-324, 5e-324]), 1e-323);
        assert!(exact(&[1.0, f64::NAN]).is_nan());
        assert!(exact(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert_eq!(exact(&[f64::INFINITY, 1.0]), f64::INFINITY);
        // Ties round to even: 2^53 + 1 is halfway between 2^53 and 2^53 + 2.
        assert_eq!(exact(&[9007199254740992.0, 1.0]), 9007199254740992.0);
        assert_eq!(
            exact(&[9007199254740992.0, 1.0, 1e-300]),
            9007199254740994.0
        );
    }

    /// Exact rational reference for small cases: all values are multiples
    /// of 2^-40 below 2^20, so their sum is an exact i128 multiple.
    fn reference(values: &[f64]) -> f64 {
        let total: i128 = values.iter().map(|v| (v * 2f64.powi(40)) as i128).sum();
        total as f64 / 2f64.powi(40)
    }

    proptest! {
        #[test]
        fn any_order_and_any_split_give_the_same_bits(
            raw in proptest::collection::vec(-(1i64 << 60)..(1i64 << 60), 0..200),
            cut in 0usize..200,
            seed in any::<u64>(),
        ) {
            let values: Vec<f64> = raw.iter().map(|r| *r as f64 / 2f64.powi(40)).collect();
            let want = reference(&values);
            prop_assert_eq!(exact(&values).to_bits(), want.to_bits());
            // Shuffled and split into two partial sums, merged.
            let mut shuffled = values.clone();
            let mut state = seed;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (state >> 33) as usize % (i + 1));
            }
            let cut = cut.min(shuffled.len());
            let (a, b) = shuffled.split_at(cut);
            let mut left = ExactSum::default();
            a.iter().for_each(|v| left.add(*v));
            let mut right = ExactSum::default();
            b.iter().for_each(|v| right.add(*v));
            let mut bytes = Vec::new();
            right.encode(&mut bytes);
            left.merge(&ExactSum::decode(&bytes).unwrap());
            prop_assert_eq!(left.value().to_bits(), want.to_bits());
        }
    }
}

/// `min` and `max` of doubles with NaN as the largest value, as DuckDB and
/// PostgreSQL order them: `max` is NaN when any value is, `min` only when
/// every value is. DataFusion 55's answer with NaNs present depends on the
/// order batches arrive (its issue 24432), so it changed with `--threads`
/// and `--memory-limit`. Zeros are ordered `-0 < +0`, so the answer is one
/// value whatever the order.
pub static NAN_MIN: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| extreme(Extreme::Min));
pub static NAN_MAX: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| extreme(Extreme::Max));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Extreme {
    Min,
    Max,
}

fn extreme(which: Extreme) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(Extremes {
        which,
        signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Extremes {
    which: Extreme,
    signature: Signature,
}

/// Whether `v` should replace `current`.
#[inline]
fn better(which: Extreme, v: f64, current: f64) -> bool {
    if !v.is_nan() && !current.is_nan() && v != current {
        return match which {
            Extreme::Min => v < current,
            Extreme::Max => v > current,
        };
    }
    let key = |x: f64| if x.is_nan() { f64::NAN } else { x };
    let order = key(v).total_cmp(&key(current));
    match which {
        Extreme::Min => order.is_lt(),
        Extreme::Max => order.is_gt(),
    }
}

impl AggregateUDFImpl for Extremes {
    fn name(&self) -> &str {
        match self.which {
            Extreme::Min => "min",
            Extreme::Max => "max",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[{}]", args.name, self.name()),
            DataType::Float64,
            true,
        ))])
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ExtremeOne {
            which: self.which,
            value: None,
        }))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ExtremeGroups {
            which: self.which,
            values: Vec::new(),
        }))
    }
}

#[derive(Debug)]
struct ExtremeOne {
    which: Extreme,
    value: Option<f64>,
}

impl ExtremeOne {
    fn take(&mut self, values: &ArrayRef) {
        for v in values.as_primitive::<Float64Type>().iter().flatten() {
            if self.value.is_none_or(|c| better(self.which, v, c)) {
                self.value = Some(v);
            }
        }
    }
}

impl Accumulator for ExtremeOne {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.take(&values[0]);
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.take(&states[0]);
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Float64(self.value)])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.value))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[derive(Debug)]
struct ExtremeGroups {
    which: Extreme,
    values: Vec<Option<f64>>,
}

impl ExtremeGroups {
    fn take(
        &mut self,
        values: &ArrayRef,
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total: usize,
    ) {
        self.values.resize(total, None);
        let x = values.as_primitive::<Float64Type>();
        if filter.is_none() && x.null_count() == 0 {
            for (&g, &v) in groups.iter().zip(x.values().iter()) {
                let current = &mut self.values[g];
                if current.is_none_or(|c| better(self.which, v, c)) {
                    *current = Some(v);
                }
            }
            return;
        }
        for (row, &g) in groups.iter().enumerate() {
            if kept(filter, row) && x.is_valid(row) {
                let v = x.value(row);
                if self.values[g].is_none_or(|c| better(self.which, v, c)) {
                    self.values[g] = Some(v);
                }
            }
        }
    }

    fn emit(&mut self, emit_to: EmitTo) -> ArrayRef {
        Arc::new(Float64Array::from(emit_to.take_needed(&mut self.values)))
    }
}

impl GroupsAccumulator for ExtremeGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.take(&values[0], group_indices, opt_filter, total_num_groups);
        Ok(())
    }
    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.take(&values[0], group_indices, None, total_num_groups);
        Ok(())
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.emit(emit_to))
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.emit(emit_to)])
    }
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        Ok(vec![kept_values::<Float64Type>(&values[0], opt_filter)])
    }
    fn size(&self) -> usize {
        self.values.capacity() * 16
    }
}

#[cfg(test)]
mod extreme_tests {
    use super::*;

    #[test]
    fn nan_is_the_largest_value_in_any_order() {
        for values in [
            vec![1.0, f64::NAN, 3.0],
            vec![f64::NAN, 3.0, 1.0],
            vec![3.0, 1.0, -f64::NAN],
        ] {
            let mut max = ExtremeOne {
                which: Extreme::Max,
                value: None,
            };
            let mut min = ExtremeOne {
                which: Extreme::Min,
                value: None,
            };
            let array: ArrayRef = Arc::new(Float64Array::from(values));
            max.take(&array);
            min.take(&array);
            assert!(max.value.unwrap().is_nan());
            assert_eq!(min.value, Some(1.0));
        }
        let mut min = ExtremeOne {
            which: Extreme::Min,
            value: None,
        };
        min.take(&(Arc::new(Float64Array::from(vec![f64::NAN, f64::NAN])) as ArrayRef));
        assert!(min.value.unwrap().is_nan());
        let mut min = ExtremeOne {
            which: Extreme::Min,
            value: None,
        };
        min.take(&(Arc::new(Float64Array::from(vec![0.0, -0.0])) as ArrayRef));
        assert!(min.value.unwrap().is_sign_negative());
    }
}
