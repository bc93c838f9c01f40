//! `percentile(x, p)`: the exact continuous percentile. The value at position
//! `p * (n - 1)` of the sorted non-null values, linearly interpolated between
//! its two neighbours (the definition of SQL's `percentile_cont` and DuckDB's
//! `quantile_cont`). DataFusion 55's `percentile_cont` truncates the
//! interpolation weight to six decimals, which is why metricc has its own.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

/// The function's name in plans.
pub const PERCENTILE: &str = "metricc_percentile";

/// `percentile(x, p)` as an aggregate expression.
pub fn percentile(x: Expr, p: Expr) -> Expr {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(ExactPercentile::default())));
    UDAF.call(vec![x, p])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ExactPercentile {
    signature: Signature,
}

impl Default for ExactPercentile {
    fn default() -> Self {
        ExactPercentile {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Float64],
                Volatility::Immutable,
            ),
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
        Ok(Box::new(Values::default()))
    }
    fn state_fields(&self, _: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new_list(
                "values",
                Field::new_list_field(DataType::Float64, true),
                true,
            )),
            Arc::new(Field::new("fraction", DataType::Float64, true)),
        ])
    }
}

/// Every non-null value seen, and the fraction (a constant argument).
#[derive(Debug, Default)]
struct Values {
    values: Vec<f64>,
    fraction: Option<f64>,
}

impl Values {
    /// Room for `more` values, growing by half at a time, not doubling: an
    /// exact percentile over 50M values holds 400 MB, and a doubling would
    /// ask a memory pool for 400 MB more at once.
    fn grow(&mut self, more: usize) {
        let free = self.values.capacity() - self.values.len();
        if free < more {
            self.values.reserve_exact(more.max(self.values.len() / 2));
        }
    }

    fn take_fraction(&mut self, a: &ArrayRef) {
        if self.fraction.is_none() {
            let p = a.as_primitive::<Float64Type>();
            self.fraction = p.iter().flatten().next();
        }
    }
}

impl Accumulator for Values {
    fn update_batch(&mut self, args: &[ArrayRef]) -> Result<()> {
        let a = args[0].as_primitive::<Float64Type>();
        self.grow(a.len() - a.null_count());
        self.values.extend(a.iter().flatten());
        self.take_fraction(&args[1]);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: &ListArray = states[0].as_list::<i32>();
        let incoming: usize = (0..lists.len())
            .filter(|i| lists.is_valid(*i))
            .map(|i| {
                let v = lists.value(i);
                v.len() - v.null_count()
            })
            .sum();
        self.grow(incoming);
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                let v = lists.value(i);
                self.values
                    .extend(v.as_primitive::<Float64Type>().iter().flatten());
            }
        }
        self.take_fraction(&states[1]);
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values: ArrayRef = Arc::new(Float64Array::from(std::mem::take(&mut self.values)));
        Ok(vec![
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(DataType::Float64, true)),
                datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
                values,
                None,
            ))),
            ScalarValue::Float64(self.fraction),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(exact(&mut self.values, self.fraction)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * std::mem::size_of::<f64>()
    }
}

/// The interpolated percentile of `values` (reordered in place).
fn exact(values: &mut [f64], fraction: Option<f64>) -> Option<f64> {
    let p = fraction?.clamp(0.0, 1.0);
    if values.is_empty() {
        return None;
    }
    let position = p * (values.len() - 1) as f64;
    let lo = position.floor() as usize;
    let hi = position.ceil() as usize;
    let (_, low, rest) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let low = *low;
    if hi == lo {
        return Some(low);
    }
    // The next value up is the smallest of the rest.
    let high = rest.iter().copied().min_by(f64::total_cmp).unwrap_or(low);
    Some(low + (high - low) * (position - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::exact;

    #[test]
    fn interpolates_exactly() {
        let mut v = vec![400.0, 10.0, 300.0, 100.0, 50.0, 200.0];
        assert_eq!(exact(&mut v, Some(0.9)), Some(350.0));
        assert_eq!(exact(&mut v, Some(0.5)), Some(150.0));
        assert_eq!(exact(&mut v, Some(0.0)), Some(10.0));
        assert_eq!(exact(&mut v, Some(1.0)), Some(400.0));
        // 8 values, p95 at 6.65: 0.65 of the way from the 7th to the 8th.
        let mut w: Vec<f64> = (1..=8).map(|i| i as f64 * 10.0).collect();
        assert!((exact(&mut w, Some(0.95)).unwrap() - 76.5).abs() < 1e-12);
        assert_eq!(exact(&mut [], Some(0.5)), None);
    }
}
