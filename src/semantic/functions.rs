//! The function table: every function the expression language has, with its
//! kind (aggregate or scalar) and signature.

use super::types::Type;

/// Whether a function aggregates rows or works on one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FnKind {
    Aggregate,
    Scalar,
}

/// Argument and result typing of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// `count(*)` or `count(x)`: any one argument or a star; integer.
    Count,
    /// One argument of any type; integer.
    AnyToInt,
    /// One numeric argument; float result (avg, median).
    NumToFloat,
    /// One numeric argument; same type back (sum, abs).
    NumToSame,
    /// One ordered argument (number, string, time); same type back (min, max).
    OrderedToSame,
    /// A numeric column and a literal fraction in 0..=1; float.
    Percentile,
    /// One string; same back.
    StrToStr,
    /// One string; integer.
    StrToInt,
    /// Two strings; boolean.
    StrStrToBool,
    /// One or more strings; string.
    Concat,
    /// A number and an optional integer of digits.
    Round,
    /// Two or more values of a common type.
    Variadic,
    /// Two values of a common type (nullif).
    Pair,
    /// A boolean condition and two values of a common type.
    If,
    /// A timestamp or date; date.
    ToDate,
    /// A timestamp; integer (hour, day of week).
    TimePart,
}

/// One function of the language.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub name: &'static str,
    pub kind: FnKind,
    pub signature: Signature,
    pub doc: &'static str,
}

macro_rules! functions {
    ($($name:literal: $kind:ident $sig:ident, $doc:literal;)*) => {
        /// Every function, in documentation order.
        pub const FUNCTIONS: &[Function] = &[
            $(Function { name: $name, kind: FnKind::$kind, signature: Signature::$sig, doc: $doc },)*
        ];
    };
}

functions! {
    "count": Aggregate Count, "rows (`count(*)`) or non-null values (`count(x)`)";
    "count_distinct": Aggregate AnyToInt, "distinct non-null values";
    "sum": Aggregate NumToSame, "sum of non-null values";
    "avg": Aggregate NumToFloat, "mean of non-null values";
    "min": Aggregate OrderedToSame, "smallest value";
    "max": Aggregate OrderedToSame, "largest value";
    "median": Aggregate NumToFloat, "exact median (interpolated between the two middle values)";
    "percentile": Aggregate Percentile, "exact percentile `percentile(x, 0.9)`, interpolated";
    "lower": Scalar StrToStr, "lower-case text";
    "upper": Scalar StrToStr, "upper-case text";
    "length": Scalar StrToInt, "number of characters";
    "starts_with": Scalar StrStrToBool, "whether the text starts with a prefix";
    "concat": Scalar Concat, "joined text";
    "abs": Scalar NumToSame, "absolute value";
    "round": Scalar Round, "rounded to `digits` decimals (default 0)";
    "coalesce": Scalar Variadic, "first non-null argument";
    "least": Scalar Variadic, "smallest argument";
    "greatest": Scalar Variadic, "largest argument";
    "nullif": Scalar Pair, "null if both arguments are equal, else the first";
    "if": Scalar If, "`if(condition, then, else)`";
    "date": Scalar ToDate, "local calendar date of a timestamp (project time zone)";
    "hour": Scalar TimePart, "local hour 0..23 of a timestamp";
    "day_of_week": Scalar TimePart, "local day of week, 1 = Monday .. 7 = Sunday (ISO)";
}

pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Functions that have no single-value meaning in a formula over metrics.
pub fn allowed_in_formula(f: &Function) -> bool {
    f.kind == FnKind::Scalar
        && matches!(
            f.signature,
            Signature::NumToSame
                | Signature::Round
                | Signature::Variadic
                | Signature::Pair
                | Signature::If
        )
}

/// Result type of a scalar or aggregate call from its argument types, or a
/// message saying what is wrong.
pub fn result_type(f: &Function, args: &[Type]) -> Result<Type, String> {
    use Signature as S;
    let n = args.len();
    let arity = |min: usize, max: usize| -> Result<(), String> {
        if n < min || n > max {
            let want = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} or {max}")
            };
            Err(format!(
                "`{}` takes {want} argument{}, found {n}",
                f.name,
                if min == 1 && max == 1 { "" } else { "s" }
            ))
        } else {
            Ok(())
        }
    };
    let need = |i: usize, ok: bool, what: &str| -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "argument {} of `{}` must be {what}, found {}",
                i + 1,
                f.name,
                args[i]
            ))
        }
    };
    let string = |t: Type| matches!(t, Type::String | Type::Unknown | Type::Null);
    match f.signature {
        S::Count | S::AnyToInt => {
            arity(1, 1)?;
            Ok(Type::Int)
        }
        S::NumToFloat => {
            arity(1, 1)?;
            need(0, args[0].is_numeric(), "a number")?;
            Ok(Type::Float)
        }
        S::NumToSame => {
            arity(1, 1)?;
            need(
                0,
                args[0].is_numeric() || args[0] == Type::Duration,
                "a number",
            )?;
            Ok(args[0])
        }
        S::OrderedToSame => {
            arity(1, 1)?;
            need(
                0,
                !matches!(args[0], Type::Bool | Type::Other),
                "a number, text or time",
            )?;
            Ok(args[0])
        }
        S::Percentile => {
            arity(2, 2)?;
            need(0, args[0].is_numeric(), "a number")?;
            need(1, args[1].is_numeric(), "a fraction between 0 and 1")?;
            Ok(Type::Float)
        }
        S::StrToStr => {
            arity(1, 1)?;
            need(0, string(args[0]), "text")?;
            Ok(Type::String)
        }
        S::StrToInt => {
            arity(1, 1)?;
            need(0, string(args[0]), "text")?;
            Ok(Type::Int)
        }
        S::StrStrToBool => {
            arity(2, 2)?;
            need(0, string(args[0]), "text")?;
            need(1, string(args[1]), "text")?;
            Ok(Type::Bool)
        }
        S::Concat => {
            arity(1, usize::MAX)?;
            for (i, t) in args.iter().enumerate() {
                need(i, string(*t), "text")?;
            }
            Ok(Type::String)
        }
        S::Round => {
            arity(1, 2)?;
            need(0, args[0].is_numeric(), "a number")?;
            if n == 2 {
                need(
                    1,
                    matches!(args[1], Type::Int | Type::Unknown),
                    "a whole number of digits",
                )?;
            }
            Ok(if args[0] == Type::Int {
                Type::Int
            } else {
                Type::Float
            })
        }
        S::Variadic | S::Pair => {
            if f.signature == S::Pair {
                arity(2, 2)?
            } else {
                arity(1, usize::MAX)?
            };
            args.iter().skip(1).try_fold(args[0], |acc, t| {
                acc.unify(*t).ok_or_else(|| {
                    format!(
                        "the arguments of `{}` have no common type ({acc} and {t})",
                        f.name
                    )
                })
            })
        }
        S::If => {
            arity(3, 3)?;
            need(
                0,
                matches!(args[0], Type::Bool | Type::Unknown | Type::Null),
                "a condition (boolean)",
            )?;
            args[1].unify(args[2]).ok_or_else(|| {
                format!(
                    "the branches of `if` have different types ({} and {})",
                    args[1], args[2]
                )
            })
        }
        S::ToDate => {
            arity(1, 1)?;
            need(
                0,
                args[0].is_temporal() || args[0] == Type::Unknown,
                "a timestamp or date",
            )?;
            Ok(Type::Date)
        }
        S::TimePart => {
            arity(1, 1)?;
            need(
                0,
                matches!(args[0], Type::Timestamp | Type::Unknown),
                "a timestamp",
            )?;
            Ok(Type::Int)
        }
    }
}
