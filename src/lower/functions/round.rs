//! `round(x, digits)` as DuckDB and PostgreSQL round: DataFusion's own
//! `round` gives NaN or infinity when `10^digits` overflows (`round(x, 400)`)
//! and fails on digits outside `i32`, where DuckDB gives `x` itself (and 0
//! for a negative count of digits that rounds everything away). metricc's
//! function is named `round` too, so that `explain --sql` writes `round`.
//!
//! Rules, for `x` a float: with `m = 10^|digits|`, `round(x * m) / m` for
//! digits >= 0 and `round(x / m) * m` below; halves round away from zero; a
//! result that is not finite gives `x` (digits >= 0) or 0 (digits < 0), as in
//! DuckDB. For `x` an integer: `x` itself for digits >= 0, else rounded to a
//! multiple of `m` (0 once `m` exceeds every integer). Null in, null out.

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::Arc;

/// The function, for a plan.
pub fn round() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Round {
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Round {
    signature: Signature,
}

/// `x` rounded to `digits` decimals, as DuckDB does for a double.
pub fn round_float(x: f64, digits: i64) -> f64 {
    // Beyond ±400 the power is infinite either way; clamping keeps `powi`'s
    // argument an `i32`.
    let d = digits.clamp(-400, 400) as i32;
    if d >= 0 {
        let m = 10f64.powi(d);
        let r = (x * m).round() / m;
        if r.is_finite() { r } else { x }
    } else {
        let m = 10f64.powi(-d);
        let r = (x / m).round() * m;
        if r.is_finite() { r } else { 0.0 }
    }
}

/// `x` rounded to `digits` decimals; `None` when the result is not an i64.
pub fn round_int(x: i64, digits: i64) -> Option<i64> {
    if digits >= 0 {
        return Some(x);
    }
    let Some(m) = u32::try_from(digits.unsigned_abs())
        .ok()
        .and_then(|e| 10i128.checked_pow(e))
    else {
        return Some(0);
    };
    let x = i128::from(x);
    let q = x / m;
    let rest = x % m;
    // Halves away from zero.
    let q = if 2 * rest.abs() >= m {
        q + rest.signum()
    } else {
        q
    };
    i64::try_from(q * m).ok()
}

impl ScalarUDFImpl for Round {
    fn name(&self) -> &str {
        "round"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [x, _] = args else {
            return plan_err!("round takes a value and a number of digits");
        };
        let x = if x.is_integer() {
            DataType::Int64
        } else {
            DataType::Float64
        };
        Ok(vec![x, DataType::Int64])
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let digits = arrays[1]
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("digits are coerced to Int64");
        let x = &arrays[0];
        let out: ArrayRef = if let Some(x) = x.as_any().downcast_ref::<Float64Array>() {
            Arc::new(
                x.iter()
                    .zip(digits.iter())
                    .map(|(x, d)| Some(round_float(x?, d?)))
                    .collect::<Float64Array>(),
            )
        } else if let Some(x) = x.as_any().downcast_ref::<Int64Array>() {
            let mut out = Vec::with_capacity(x.len());
            for (x, d) in x.iter().zip(digits.iter()) {
                out.push(match (x, d) {
                    (Some(x), Some(d)) => match round_int(x, d) {
                        Some(r) => Some(r),
                        None => return exec_err!("round({x}, {d}) is beyond a 64-bit integer"),
                    },
                    _ => None,
                });
            }
            Arc::new(Int64Array::from(out))
        } else {
            return exec_err!("round of {}", x.data_type());
        };
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            let scalar = datafusion::common::ScalarValue::try_from_array(&out, 0)?;
            return Ok(ColumnarValue::Scalar(scalar));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// Whether `u` is metricc's `round`.
pub fn is_round(u: &ScalarUDF) -> bool {
    (u.inner().as_ref() as &dyn std::any::Any).is::<Round>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_as_in_duckdb() {
        assert_eq!(round_float(2.345, 2), 2.35);
        assert_eq!(round_float(-2.5, 0), -3.0);
        assert_eq!(round_float(1234.5678, -2), 1200.0);
        // 10^400 overflows: the value itself, as DuckDB gives.
        assert_eq!(round_float(150.25, 400), 150.25);
        assert_eq!(round_float(150.25, i64::MAX), 150.25);
        assert_eq!(round_float(0.0, 400), 0.0);
        assert_eq!(round_float(150.25, -400), 0.0);
        assert_eq!(round_float(150.25, i64::MIN), 0.0);
        assert!(round_float(f64::NAN, 2).is_nan());
        assert_eq!(round_float(f64::INFINITY, 2), f64::INFINITY);
    }

    #[test]
    fn integers_round_to_tens_and_keep_their_digits() {
        assert_eq!(round_int(1234, 2), Some(1234));
        assert_eq!(round_int(1250, -2), Some(1300));
        assert_eq!(round_int(-1250, -2), Some(-1300));
        assert_eq!(round_int(1249, -2), Some(1200));
        assert_eq!(round_int(5, -1), Some(10));
        assert_eq!(round_int(i64::MAX, -40), Some(0));
        assert_eq!(round_int(i64::MAX, i64::MIN), Some(0));
        assert_eq!(round_int(i64::MAX, -1), None);
    }
}
