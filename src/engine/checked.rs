//! Integer arithmetic that fails instead of wrapping, and float `sum`,
//! `avg`, `min`, `max` that give one answer whatever the order of the rows
//! (`super::exact`).
//!
//! Integer arithmetic first. DataFusion adds,
//! subtracts and multiplies 64-bit integers with wrapping operations, and
//! its `sum` of integers wraps too: four values of 2^62 sum to 0, where
//! DuckDB gives 18446744073709551616. A wrapped number is a silent wrong
//! answer, so after DataFusion's analyzer has given every expression its
//! type, this optimizer rule replaces integer `+`, `-`, `*` with arrow's
//! checked kernels and integer `sum` with a checked sum: an overflow stops
//! the run with E0305 ("a computation overflowed"). Our own functions, not
//! DataFusion's, because DataFusion 55 has no setting for it (its
//! `enable_ansi_mode` covers Spark functions only).
//!
//! The same rule also swaps in metricc's `count(DISTINCT s)` for string
//! columns (`super::distinct`), which gives DataFusion's answer faster.
//!
//! Only plans' projections, filters and aggregates are rewritten (their
//! expressions are typed against one input); the `explain --sql` text is
//! written from the plan before optimization and keeps `+` and `sum`.

use crate::lower::functions::{kept, kept_values};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, BinaryExpr, ColumnarValue, EmitTo, Expr,
    ExprSchemable, GroupsAccumulator, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use std::sync::{Arc, LazyLock};

/// The optimizer rule.
#[derive(Debug, Default)]
pub struct CheckedIntegers;

impl OptimizerRule for CheckedIntegers {
    fn name(&self) -> &str {
        "metricc_checked_integers"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let input_schema: Arc<DFSchema> = match &plan {
            LogicalPlan::Projection(p) => Arc::clone(p.input.schema()),
            LogicalPlan::Filter(f) => Arc::clone(f.input.schema()),
            LogicalPlan::Aggregate(a) => Arc::clone(a.input.schema()),
            _ => return Ok(Transformed::no(plan)),
        };
        let rewritten = plan.map_expressions(|e| e.transform_up(|e| checked(e, &input_schema)))?;
        if rewritten.transformed {
            // The types are unchanged; the schema is recomputed all the same.
            rewritten.map_data(|p| p.recompute_schema())
        } else {
            Ok(rewritten)
        }
    }
}

fn is_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

/// `e` with checked integer arithmetic, when it is integer arithmetic.
fn checked(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply) =>
        {
            let (Ok(lt), Ok(rt)) = (left.get_type(schema), right.get_type(schema)) else {
                return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            };
            // Integers of one type, or a time moved by a duration or an
            // interval (`ts + 100000000d` wrapped to the year 2318).
            let time_shift = matches!(lt, DataType::Timestamp(..))
                && matches!(rt, DataType::Duration(_) | DataType::Interval(_))
                && op != Operator::Multiply;
            if !(time_shift || (lt == rt && is_integer(&lt))) {
                return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            }
            let f = match op {
                Operator::Plus => &*CHECKED_ADD,
                Operator::Minus => &*CHECKED_SUB,
                _ => &*CHECKED_MUL,
            };
            Ok(Transformed::yes(Expr::ScalarFunction(
                ScalarFunction::new_udf(Arc::clone(f), vec![*left, *right]),
            )))
        }
        Expr::AggregateFunction(mut a)
            if matches!(a.func.name(), "sum" | "avg")
                && !a.params.distinct
                && a.params.args.len() == 1
                && a.params.args[0]
                    .get_type(schema)
                    .is_ok_and(|t| t == DataType::Float64)
                && !Arc::ptr_eq(&a.func, &super::exact::EXACT_SUM)
                && !Arc::ptr_eq(&a.func, &super::exact::EXACT_AVG) =>
        {
            a.func = if a.func.name() == "sum" {
                Arc::clone(&super::exact::EXACT_SUM)
            } else {
                Arc::clone(&super::exact::EXACT_AVG)
            };
            Ok(Transformed::yes(Expr::AggregateFunction(a)))
        }
        Expr::AggregateFunction(mut a)
            if matches!(a.func.name(), "min" | "max")
                && a.params.args.len() == 1
                && a.params.args[0]
                    .get_type(schema)
                    .is_ok_and(|t| t == DataType::Float64)
                && !Arc::ptr_eq(&a.func, &super::exact::NAN_MIN)
                && !Arc::ptr_eq(&a.func, &super::exact::NAN_MAX) =>
        {
            a.func = if a.func.name() == "min" {
                Arc::clone(&super::exact::NAN_MIN)
            } else {
                Arc::clone(&super::exact::NAN_MAX)
            };
            Ok(Transformed::yes(Expr::AggregateFunction(a)))
        }
        Expr::AggregateFunction(mut a)
            if a.func.name() == "sum"
                && !Arc::ptr_eq(&a.func, &CHECKED_SUM)
                && !a.params.distinct
                && a.params.args.len() == 1
                && a.params.args[0]
                    .get_type(schema)
                    .is_ok_and(|t| t == DataType::Int64) =>
        {
            a.func = Arc::clone(&CHECKED_SUM);
            Ok(Transformed::yes(Expr::AggregateFunction(
                AggregateFunction {
                    func: a.func,
                    params: a.params,
                },
            )))
        }
        // Not a check: an exact `count(DISTINCT s)` that is faster on
        // string ids than DataFusion's (`super::distinct`).
        Expr::AggregateFunction(mut a)
            if a.func.name() == "count"
                && a.params.distinct
                && a.params.order_by.is_empty()
                && a.params.args.len() == 1
                && a.params.args[0]
                    .get_type(schema)
                    .is_ok_and(|t| matches!(t, DataType::Utf8View | DataType::BinaryView)) =>
        {
            a.func = Arc::clone(&super::distinct::COUNT_DISTINCT_VIEWS);
            a.params.distinct = false;
            Ok(Transformed::yes(Expr::AggregateFunction(a)))
        }
        other => Ok(Transformed::no(other)),
    }
}

pub(super) static CHECKED_ADD: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| arithmetic(Op::Add));
pub(super) static CHECKED_SUB: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| arithmetic(Op::Sub));
pub(super) static CHECKED_MUL: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| arithmetic(Op::Mul));
pub(super) static CHECKED_SUM: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
    Arc::new(AggregateUDF::new_from_impl(CheckedSum {
        signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
    }))
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Sub,
    Mul,
}

fn arithmetic(op: Op) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Checked {
        op,
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Op,
    signature: Signature,
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        match self.op {
            Op::Add => "checked_add",
            Op::Sub => "checked_sub",
            Op::Mul => "checked_mul",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (l, r): (&ArrayRef, &ArrayRef) = (&arrays[0], &arrays[1]);
        // arrow's `add`, `sub` and `mul` fail on overflow for integers.
        let out = match self.op {
            Op::Add => numeric::add(l, r)?,
            Op::Sub => numeric::sub(l, r)?,
            Op::Mul => numeric::mul(l, r)?,
        };
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// `sum` of 64-bit integers that fails on overflow. Shown as `sum` in plans.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckedSum {
    signature: Signature,
}

fn overflow<T>(a: i64, b: i64) -> Result<T> {
    exec_err!("Arithmetic overflow: the integer sum {a} + {b} is beyond 64 bits")
}

impl AggregateUDFImpl for CheckedSum {
    fn name(&self) -> &str {
        "sum"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[sum]", args.name),
            DataType::Int64,
            true,
        ))])
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SumOne { sum: None }))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SumGroups::default()))
    }
}

/// One group's checked sum.
#[derive(Debug)]
struct SumOne {
    sum: Option<i64>,
}

impl SumOne {
    fn add(&mut self, values: &Int64Array) -> Result<()> {
        for v in values.iter().flatten() {
            self.sum = Some(match self.sum {
                None => v,
                Some(s) => match s.checked_add(v) {
                    Some(n) => n,
                    None => return overflow(s, v),
                },
            });
        }
        Ok(())
    }
}

impl Accumulator for SumOne {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(values[0].as_primitive::<Int64Type>())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.add(states[0].as_primitive::<Int64Type>())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(self.sum)])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(self.sum))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// Every group's checked sum; a group that saw no value is null.
#[derive(Debug, Default)]
struct SumGroups {
    sums: Vec<i64>,
    seen: Vec<bool>,
}

impl SumGroups {
    fn add(
        &mut self,
        values: &Int64Array,
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total: usize,
    ) -> Result<()> {
        self.sums.resize(total, 0);
        self.seen.resize(total, false);
        for (row, &g) in groups.iter().enumerate() {
            if !kept(filter, row) || values.is_null(row) {
                continue;
            }
            let v = values.value(row);
            match self.sums[g].checked_add(v) {
                Some(n) => self.sums[g] = n,
                None => return overflow(self.sums[g], v),
            }
            self.seen[g] = true;
        }
        Ok(())
    }

    fn emit(&mut self, emit_to: EmitTo) -> Int64Array {
        let sums = emit_to.take_needed(&mut self.sums);
        let seen = emit_to.take_needed(&mut self.seen);
        sums.into_iter()
            .zip(seen)
            .map(|(s, seen)| seen.then_some(s))
            .collect()
    }
}

impl GroupsAccumulator for SumGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.add(
            values[0].as_primitive::<Int64Type>(),
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }
    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.add(
            values[0].as_primitive::<Int64Type>(),
            group_indices,
            None,
            total_num_groups,
        )
    }
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row its own partial sum: the value, or null when filtered out.
        Ok(vec![kept_values::<Int64Type>(&values[0], opt_filter)])
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(Arc::new(self.emit(emit_to)))
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(self.emit(emit_to))])
    }
    fn size(&self) -> usize {
        self.sums.capacity() * 8 + self.seen.capacity()
    }
}

/// The tag of `u`, when it is one of these (`sum` shares DataFusion's name).
pub(super) fn aggregate_tag(u: &AggregateUDF) -> Option<&'static str> {
    (u.inner().as_ref() as &dyn std::any::Any)
        .is::<CheckedSum>()
        .then_some("metricc_checked_sum")
}

/// The tag of `u`, when it is one of these.
pub(super) fn scalar_tag(u: &ScalarUDF) -> Option<&'static str> {
    (u.inner().as_ref() as &dyn std::any::Any)
        .downcast_ref::<Checked>()
        .map(|c| match c.op {
            Op::Add => "metricc_checked_add",
            Op::Sub => "metricc_checked_sub",
            Op::Mul => "metricc_checked_mul",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_fail_on_overflow_and_keep_nulls() {
        let mut g = SumGroups::default();
        let big = 1i64 << 62;
        let values = Int64Array::from(vec![Some(big), Some(big), None, Some(5)]);
        g.update_batch(&[Arc::new(values)], &[0, 1, 1, 2], None, 4)
            .unwrap();
        let out = g.evaluate(EmitTo::All).unwrap();
        let out = out.as_primitive::<Int64Type>();
        assert_eq!(
            out.iter().collect::<Vec<_>>(),
            [Some(big), Some(big), Some(5), None]
        );
        let mut g = SumGroups::default();
        let four = Int64Array::from(vec![big; 4]);
        let err = g
            .update_batch(&[Arc::new(four)], &[0; 4], None, 1)
            .unwrap_err();
        assert!(err.to_string().contains("overflow"), "{err}");
    }
}
