//! lower: expressions. `ast::Expr` -> DataFusion `Expr`, in three scopes: row
//! expressions (filters, aggregate arguments), measures (aggregates collected
//! into a scan group, arithmetic on their results) and formulas (arithmetic on
//! other metrics).
//!
//! The language's arithmetic rules hold here: `/` is real division and gives
//! null when the divisor is 0, as does `%`; `median` and `percentile` are exact
//! and interpolate, computed in floating point.

use super::time;
use crate::syntax::ast::{BinaryOp, CallArgs, Expr as Ast, ExprKind, Literal};
use chrono_tz::Tz;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, DFSchema, Result, ScalarValue, internal_err, plan_err};
use datafusion::functions::expr_fn as f;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::{Expr, ExprSchemable, binary_expr, cast, lit, when};

/// An aggregate call met in a measure: the aggregate (without its filter) and
/// the row filter from `filter (where ...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggCall {
    pub aggregate: Expr,
    pub filter: Option<Expr>,
    /// `count` and `sum`: an empty bucket has 0, not null.
    pub zero_when_empty: bool,
}

/// How names and aggregates are lowered in the current scope.
pub trait Scope {
    /// A bare name: a column, or a metric in formulas.
    fn name(&mut self, name: &str) -> Result<Expr>;
    /// An aggregate call: an expression for its result.
    fn aggregate(&mut self, call: AggCall) -> Result<Expr>;
}

/// Lowers row expressions of one source: names are its columns.
pub struct Rows<'a> {
    pub schema: &'a DFSchema,
    pub tz: Tz,
    pub functions: &'a super::functions::Functions,
}

impl Rows<'_> {
    pub fn lower(&self, e: &Ast) -> Result<Expr> {
        lower(e, &mut RowScope, self)
    }
}

struct RowScope;

impl Scope for RowScope {
    fn name(&mut self, name: &str) -> Result<Expr> {
        Ok(column(name))
    }
    fn aggregate(&mut self, _: AggCall) -> Result<Expr> {
        internal_err!("an aggregate in a row expression passed the checker")
    }
}

/// An unqualified column reference that keeps the name exactly as written.
pub fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// Lowers `e` with names and aggregates handled by `scope`; `rows` lowers the
/// row-level parts (aggregate arguments and filters).
pub fn lower(e: &Ast, scope: &mut dyn Scope, rows: &Rows) -> Result<Expr> {
    let mut go = |e: &Ast| lower(e, scope, rows);
    Ok(match &e.kind {
        ExprKind::Literal(l) => literal(l, rows.tz),
        ExprKind::Column(n) => scope.name(n)?,
        ExprKind::Neg(x) => Expr::Negative(Box::new(go(x)?)),
        ExprKind::Not(x) => !go(x)?,
        ExprKind::Binary { op, left, right } => {
            let (l, r) = (go(left)?, go(right)?);
            binary(*op, l, r)
        }
        ExprKind::InList {
            expr,
            list,
            negated,
        } => {
            let x = go(expr)?;
            let list = list.iter().map(&mut go).collect::<Result<Vec<_>>>()?;
            x.in_list(list, *negated)
        }
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => {
            let (x, lo, hi) = (go(expr)?, go(low)?, go(high)?);
            if *negated {
                x.not_between(lo, hi)
            } else {
                x.between(lo, hi)
            }
        }
        ExprKind::IsNull { expr, negated } => {
            let x = go(expr)?;
            if *negated {
                x.is_not_null()
            } else {
                x.is_null()
            }
        }
        ExprKind::Like {
            expr,
            pattern,
            negated,
        } => {
            let (x, p) = (go(expr)?, go(pattern)?);
            if *negated { x.not_like(p) } else { x.like(p) }
        }
        ExprKind::Call { name, args, filter } => {
            let args_list: Vec<&Ast> = match args {
                CallArgs::Star(_) => Vec::new(),
                CallArgs::Exprs(list) => list.iter().collect(),
            };
            let star = matches!(args, CallArgs::Star(_));
            match crate::semantic::functions::lookup(&name.value).map(|f| f.kind) {
                Some(crate::semantic::functions::FnKind::Aggregate) => {
                    let call = aggregate(&name.value, star, &args_list, filter.as_deref(), rows)?;
                    scope.aggregate(call)?
                }
                _ => {
                    let args = args_list
                        .into_iter()
                        .map(&mut go)
                        .collect::<Result<Vec<_>>>()?;
                    scalar(&name.value, args, rows)?
                }
            }
        }
    })
}

fn literal(l: &Literal, tz: Tz) -> Expr {
    match l {
        Literal::Int(i) => lit(*i),
        Literal::Float(x) => lit(*x),
        Literal::String(s) => lit(s.clone()),
        Literal::Bool(b) => lit(*b),
        Literal::Null => lit(ScalarValue::Null),
        Literal::Duration(d) => lit(ScalarValue::new_interval_mdn(
            0,
            0,
            // At most `MAX_DURATION_MILLIS`, so this fits (checked at parse).
            d.millis.saturating_mul(1_000_000),
        )),
        Literal::Date(d) => lit(time::date_value(*d)),
        // A timestamp literal is wall-clock time in the project's zone.
        Literal::Timestamp(t) => lit(ScalarValue::TimestampMicrosecond(
            Some(time::local_to_utc_micros(tz, *t)),
            Some("UTC".into()),
        )),
    }
}

/// `a / b` as real division, null when `b` is 0.
pub fn divide(a: Expr, b: Expr) -> Expr {
    let (a, b) = (cast(a, DataType::Float64), cast(b, DataType::Float64));
    a / f::nullif(b, lit(0.0))
}

fn binary(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    use datafusion::logical_expr::Operator as O;
    match op {
        BinaryOp::Div => divide(l, r),
        BinaryOp::Mod => binary_expr(l, O::Modulo, f::nullif(r, lit(0))),
        BinaryOp::Or => l.or(r),
        BinaryOp::And => l.and(r),
        BinaryOp::Eq => l.eq(r),
        BinaryOp::NotEq => l.not_eq(r),
        BinaryOp::Lt => l.lt(r),
        BinaryOp::LtEq => l.lt_eq(r),
        BinaryOp::Gt => l.gt(r),
        BinaryOp::GtEq => l.gt_eq(r),
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
    }
}

fn aggregate(
    name: &str,
    star: bool,
    args: &[&Ast],
    filter: Option<&Ast>,
    rows: &Rows,
) -> Result<AggCall> {
    let arg = |i: usize| -> Result<Expr> {
        match args.get(i) {
            Some(a) => rows.lower(a),
            None => plan_err!("`{name}` is missing argument {}", i + 1),
        }
    };
    let float = |e: Expr| cast(e, DataType::Float64);
    let (aggregate, zero_when_empty) = match name {
        "count" if star => (agg::count(lit(1i64)), true),
        "count" => (agg::count(arg(0)?), true),
        "count_distinct" => (agg::count_distinct(arg(0)?), true),
        "sum" => (agg::sum(arg(0)?), true),
        "avg" => (agg::avg(float(arg(0)?)), false),
        "min" => (agg::min(arg(0)?), false),
        "max" => (agg::max(arg(0)?), false),
        "median" => (agg::median(float(arg(0)?)), false),
        "percentile" => {
            let x = float(arg(0)?);
            let p = match args.get(1).map(|a| &a.kind) {
                Some(ExprKind::Literal(Literal::Float(p))) => *p,
                Some(ExprKind::Literal(Literal::Int(p))) => *p as f64,
                _ => return plan_err!("`percentile` needs a literal fraction"),
            };
            (rows.functions.percentile(x, lit(p)), false)
        }
        other => return internal_err!("unknown aggregate `{other}`"),
    };
    Ok(AggCall {
        aggregate,
        filter: filter.map(|f| rows.lower(f)).transpose()?,
        zero_when_empty,
    })
}

fn scalar(name: &str, mut args: Vec<Expr>, rows: &Rows) -> Result<Expr> {
    let one = |args: &mut Vec<Expr>| -> Result<Expr> {
        if args.is_empty() {
            return plan_err!("`{name}` is missing its argument");
        }
        Ok(args.remove(0))
    };
    let local = |e: Expr| -> Result<Expr> {
        let ty = e.get_type(rows.schema)?;
        Ok(time::local_time(e, &ty, rows.tz))
    };
    Ok(match name {
        "lower" => f::lower(one(&mut args)?),
        "upper" => f::upper(one(&mut args)?),
        "length" => cast(f::character_length(one(&mut args)?), DataType::Int64),
        "starts_with" => {
            let s = one(&mut args)?;
            f::starts_with(s, one(&mut args)?)
        }
        "concat" => f::concat(args),
        "abs" => f::abs(one(&mut args)?),
        // With digits, DuckDB's rule (`functions::round`); without, none
        // can overflow.
        "round" if args.len() == 2 => super::functions::round::round().call(args),
        "round" => f::round(args),
        "coalesce" => f::coalesce(args),
        "least" => f::least(args),
        "greatest" => f::greatest(args),
        "nullif" => {
            let a = one(&mut args)?;
            f::nullif(a, one(&mut args)?)
        }
        "if" => {
            // Both branches get their common type (`if(c, 1, 0.5)` is a
            // float), as the checker promises, before any plan computes a
            // schema from the expression. Where the branches' types are not
            // known here (a formula's metrics), they are numbers: floats, as
            // the checker types a formula's metrics.
            let c = one(&mut args)?;
            let t = one(&mut args)?;
            let e = one(&mut args)?;
            let (t, e) = match (t.get_type(rows.schema), e.get_type(rows.schema)) {
                (Ok(a), Ok(b)) if a == b => (t, e),
                (Ok(a), Ok(b)) => match comparison_coercion(&a, &b) {
                    Some(common) => (cast(t, common.clone()), cast(e, common)),
                    None => (t, e),
                },
                _ => (cast(t, DataType::Float64), cast(e, DataType::Float64)),
            };
            when(c, t).otherwise(e)?
        }
        "date" => cast(local(one(&mut args)?)?, DataType::Date32),
        "hour" => cast(
            f::date_part(lit("hour"), local(one(&mut args)?)?),
            DataType::Int64,
        ),
        "day_of_week" => {
            // ISO: 1 = Monday .. 7 = Sunday, from `dow` (0 = Sunday).
            let dow = cast(
                f::date_part(lit("dow"), local(one(&mut args)?)?),
                DataType::Int64,
            );
            binary_expr(
                dow + lit(6i64),
                datafusion::logical_expr::Operator::Modulo,
                lit(7i64),
            ) + lit(1i64)
        }
        other => return internal_err!("unknown function `{other}`"),
    })
}

/// Applies an aggregate's row filter (`FILTER (WHERE ...)`), keeping its
/// other parameters (DataFusion's builder would reset `DISTINCT`).
pub fn with_filter(aggregate: Expr, filter: Option<Expr>) -> Result<Expr> {
    match (aggregate, filter) {
        (a, None) => Ok(a),
        (Expr::AggregateFunction(mut a), Some(f)) => {
            a.params.filter = Some(Box::new(match a.params.filter.take() {
                Some(old) => old.and(f),
                None => f,
            }));
            Ok(Expr::AggregateFunction(a))
        }
        (other, Some(_)) => internal_err!("a filter on `{other}`, which is not an aggregate"),
    }
}
