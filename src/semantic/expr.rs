//! Type checking of expressions: names bound to columns (row expressions,
//! measures) or metrics (formulas), types inferred, misuse reported.

use super::functions::{self, FnKind};
use super::types::{SourceSchema, Type};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean, suggestion_help};
use crate::span::Span;
use crate::syntax::ast::{BinaryOp, CallArgs, Expr, ExprKind, Literal, Name};
use std::collections::HashMap;

/// What names mean and which functions are allowed.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    /// A row predicate or value: names are columns; no aggregates.
    Row {
        source: &'a str,
        schema: Option<&'a SourceSchema>,
    },
    /// A measure: names are columns, used inside aggregates.
    Measure {
        source: &'a str,
        schema: Option<&'a SourceSchema>,
    },
    /// A formula: names are metrics.
    Formula {
        metrics: &'a HashMap<&'a str, usize>,
    },
}

/// Checks one expression, collecting diagnostics and the metrics it names.
pub struct Checker<'a> {
    pub diags: &'a mut Diagnostics,
    scope: Scope<'a>,
    in_aggregate: Option<Span>,
    pub has_aggregate: bool,
    /// Metric names referenced by a formula, in order of appearance.
    pub metric_refs: Vec<Name>,
}

impl<'a> Checker<'a> {
    pub fn new(diags: &'a mut Diagnostics, scope: Scope<'a>) -> Self {
        Checker {
            diags,
            scope,
            in_aggregate: None,
            has_aggregate: false,
            metric_refs: Vec::new(),
        }
    }

    fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Checks a predicate: it must be boolean.
    pub fn predicate(&mut self, e: &Expr, what: &str) {
        let t = self.check(e);
        if !matches!(t, Type::Bool | Type::Unknown) {
            self.report(
                Diagnostic::new(Code::TypeMismatch, format!("{what} must be true or false"))
                    .at(e.span, format!("this is {} {t}", article(t)))
                    .with_help("compare it with something, e.g. `status >= 400`"),
            );
        }
    }

    /// Infers the type of `e`; `Unknown` after an error.
    pub fn check(&mut self, e: &Expr) -> Type {
        match &e.kind {
            ExprKind::Literal(l) => literal_type(l),
            ExprKind::Column(name) => self.name(name, e.span),
            ExprKind::Neg(inner) => {
                let t = self.check(inner);
                if t.is_numeric() || t == Type::Duration {
                    t
                } else {
                    self.mismatch(e.span, format!("cannot negate {} {t}", article(t)), None)
                }
            }
            ExprKind::Not(inner) => {
                let t = self.check(inner);
                if !matches!(t, Type::Bool | Type::Unknown | Type::Null) {
                    return self.mismatch(
                        inner.span,
                        format!("`not` needs a boolean, found {t}"),
                        None,
                    );
                }
                Type::Bool
            }
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right, e.span),
            ExprKind::InList { expr, list, .. } => {
                let t = self.check(expr);
                for item in list {
                    let it = self.check(item);
                    if !t.comparable(it) {
                        self.mismatch(
                            item.span,
                            format!("{it} in a list tested against {t}"),
                            Some(expr.span),
                        );
                    }
                }
                Type::Bool
            }
            ExprKind::Between {
                expr, low, high, ..
            } => {
                let t = self.check(expr);
                for bound in [low, high] {
                    let bt = self.check(bound);
                    if !t.comparable(bt) {
                        self.mismatch(
                            bound.span,
                            format!("{bt} bound for {} {t}", article(t)),
                            Some(expr.span),
                        );
                    }
                }
                Type::Bool
            }
            ExprKind::IsNull { expr, .. } => {
                self.check(expr);
                Type::Bool
            }
            ExprKind::Like { expr, pattern, .. } => {
                for part in [expr, pattern] {
                    let t = self.check(part);
                    if !matches!(t, Type::String | Type::Unknown | Type::Null) {
                        self.mismatch(part.span, format!("`like` works on text, found {t}"), None);
                    }
                }
                Type::Bool
            }
            ExprKind::Call { name, args, filter } => {
                self.call(name, args, filter.as_deref(), e.span)
            }
        }
    }

    fn mismatch(&mut self, span: Span, label: String, other: Option<Span>) -> Type {
        let mut d = Diagnostic::new(Code::TypeMismatch, "mismatched types").at(span, label);
        if let Some(o) = other {
            d = d.with_secondary(o, "compared with this");
        }
        self.report(d);
        Type::Unknown
    }

    fn name(&mut self, name: &str, span: Span) -> Type {
        match self.scope {
            Scope::Formula { metrics } => {
                if metrics.contains_key(name) {
                    self.metric_refs.push(Name::new(name.to_string(), span));
                } else {
                    self.report(unknown_metric(name, span, metrics.keys().copied()));
                }
                Type::Float
            }
            Scope::Row { source, schema } | Scope::Measure { source, schema } => {
                if matches!(self.scope, Scope::Measure { .. }) && self.in_aggregate.is_none() {
                    self.report(
                        Diagnostic::new(Code::AggregateExpected, format!("column `{name}` is used outside an aggregate"))
                            .at(span, "one value per row, not per period")
                            .with_help(format!("wrap it in an aggregate, e.g. `sum({name})` or `count_distinct({name})`")),
                    );
                    return Type::Unknown;
                }
                let Some(schema) = schema else {
                    return Type::Unknown;
                };
                match schema.column(name) {
                    Some(c) => c.ty,
                    None => {
                        self.report(unknown_column(name, span, source, schema));
                        Type::Unknown
                    }
                }
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, left: &Expr, right: &Expr, span: Span) -> Type {
        use BinaryOp::*;
        let l = self.check(left);
        let r = self.check(right);
        match op {
            And | Or => {
                for (t, e) in [(l, left), (r, right)] {
                    if !matches!(t, Type::Bool | Type::Unknown | Type::Null) {
                        self.mismatch(
                            e.span,
                            format!("`{}` needs booleans, found {t}", op.symbol()),
                            None,
                        );
                    }
                }
                Type::Bool
            }
            Eq | NotEq | Lt | LtEq | Gt | GtEq => {
                if l == Type::Null || r == Type::Null {
                    let null_side = if r == Type::Null {
                        right.span
                    } else {
                        left.span
                    };
                    let fix = if op == NotEq {
                        "is not null"
                    } else {
                        "is null"
                    };
                    self.report(
                        Diagnostic::new(Code::TypeMismatch, "comparison with null is never true")
                            .at(null_side, "`null` compared with `=`/`<`/... gives null")
                            .with_help(format!("write `{fix}` instead")),
                    );
                } else if !l.comparable(r) {
                    let quoted_number = [left, right].into_iter().find_map(|e| match &e.kind {
                        ExprKind::Literal(Literal::String(s))
                            if s.trim().parse::<f64>().is_ok() =>
                        {
                            Some(s.trim().to_string())
                        }
                        _ => None,
                    });
                    let help = match (l, r, quoted_number) {
                        (_, _, Some(n)) => Some(format!("write the number without quotes: `{n}`")),
                        (Type::String, t, None) | (t, Type::String, None) if t.is_numeric() => {
                            Some("compare text with text, or numbers with numbers".to_string())
                        }
                        (a, b, None) if a.is_temporal() || b.is_temporal() => Some(
                            "write a time as `timestamp '2026-03-01 09:00'` or `date '2026-03-01'`"
                                .to_string(),
                        ),
                        _ => None,
                    };
                    let mut d = Diagnostic::new(Code::TypeMismatch, "mismatched types")
                        .at(
                            right.span,
                            format!("{} {r} compared with {} {l}", article(r), article(l)),
                        )
                        .with_secondary(left.span, format!("this is {} {l}", article(l)));
                    if let Some(h) = help {
                        d = d.with_help(h);
                    }
                    self.report(d);
                }
                Type::Bool
            }
            Add | Sub | Mul | Div | Mod => self.arithmetic(op, l, r, left, right, span),
        }
    }

    fn arithmetic(
        &mut self,
        op: BinaryOp,
        l: Type,
        r: Type,
        left: &Expr,
        right: &Expr,
        span: Span,
    ) -> Type {
        use Type::*;
        match (op, l, r) {
            (_, Unknown, _) | (_, _, Unknown) => Unknown,
            (BinaryOp::Div, a, b) if a.is_numeric() && b.is_numeric() => Float,
            (_, Int, Int) => Int,
            (_, a, b) if a.is_numeric() && b.is_numeric() => Float,
            (BinaryOp::Sub, Timestamp, Timestamp) | (BinaryOp::Sub, Date, Date) => Duration,
            (BinaryOp::Add | BinaryOp::Sub, Timestamp, Duration) => Timestamp,
            (BinaryOp::Add, Duration, Timestamp) => Timestamp,
            (BinaryOp::Add | BinaryOp::Sub, Duration, Duration) => Duration,
            (BinaryOp::Mul | BinaryOp::Div, Duration, Int | Float) => Duration,
            _ => {
                let help = match (l, r) {
                    (String, String) if op == BinaryOp::Add => "join text with `concat(a, b)`".to_string(),
                    (a, b) if a.is_temporal() || b.is_temporal() => {
                        "subtract two timestamps for a duration, or add a duration such as `7d` to a timestamp".to_string()
                    }
                    _ => "arithmetic needs numbers".to_string(),
                };
                self.report(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        format!("cannot apply `{}` to {l} and {r}", op.symbol()),
                    )
                    .at(span, format!("{l} {} {r}", op.symbol()))
                    .with_secondary(left.span, format!("{}", l))
                    .with_secondary(right.span, format!("{}", r))
                    .with_help(help),
                );
                Unknown
            }
        }
    }

    fn call(&mut self, name: &Name, args: &CallArgs, filter: Option<&Expr>, span: Span) -> Type {
        let Some(f) = functions::lookup(&name.value) else {
            let help = match did_you_mean(&name.value, functions::FUNCTIONS.iter().map(|f| f.name))
            {
                Some(s) => format!("did you mean `{s}`?"),
                None => "see docs/LANGUAGE.md for the list of functions".to_string(),
            };
            self.report(
                Diagnostic::new(
                    Code::UnknownFunction,
                    format!("unknown function `{}`", name.value),
                )
                .at(name.span, "no function has this name")
                .with_help(help),
            );
            if let CallArgs::Exprs(list) = args {
                for a in list {
                    self.check(a);
                }
            }
            // It may have been meant as an aggregate: do not also report E0208.
            self.has_aggregate = true;
            return Type::Unknown;
        };
        let aggregate = f.kind == FnKind::Aggregate;
        if aggregate {
            match (self.scope, self.in_aggregate) {
                (Scope::Measure { .. }, None) => {}
                (Scope::Measure { .. }, Some(outer)) => {
                    self.report(
                        Diagnostic::new(Code::AggregateInRowContext, "aggregate inside an aggregate")
                            .at(name.span, format!("`{}` aggregates rows", name.value))
                            .with_secondary(outer, "inside this aggregate")
                            .with_help("aggregate the column once; combine aggregates with arithmetic outside them"),
                    );
                    return Type::Unknown;
                }
                (Scope::Row { .. }, _) => {
                    self.report(
                        Diagnostic::new(Code::AggregateInRowContext, format!("`{}` aggregates rows, but a row expression is expected here", name.value))
                            .at(name.span, "aggregate function")
                            .with_help("filters and steps test one row at a time; put aggregates in a metric's `measure`"),
                    );
                    return Type::Unknown;
                }
                (Scope::Formula { .. }, _) => {
                    self.report(
                        Diagnostic::new(Code::AggregateInRowContext, format!("`{}` aggregates rows, but a formula combines metrics", name.value))
                            .at(name.span, "aggregate function")
                            .with_help("define the aggregate as its own metric with `measure:` and name it here"),
                    );
                    return Type::Unknown;
                }
            }
        } else if let Scope::Formula { .. } = self.scope
            && !functions::allowed_in_formula(f)
        {
            self.report(
                Diagnostic::new(Code::WrongArguments, format!("`{}` cannot be used in a formula", f.name))
                    .at(name.span, "formulas combine numbers")
                    .with_help("use arithmetic, `abs`, `round`, `coalesce`, `least`, `greatest`, `nullif` or `if`"),
            );
            return Type::Unknown;
        }
        if let Some(filter) = filter {
            if !aggregate {
                self.report(
                    Diagnostic::new(
                        Code::WrongArguments,
                        "only aggregates take a `filter (...)`",
                    )
                    .at(filter.span, format!("`{}` works on one row", f.name))
                    .with_help("move the condition into `if(...)` or the metric's `filter`"),
                );
            } else {
                let row = row_scope(self.scope);
                let saved = std::mem::replace(&mut self.scope, row);
                self.predicate(filter, "an aggregate filter");
                self.scope = saved;
            }
        }
        let outer = self.in_aggregate;
        if aggregate {
            self.in_aggregate = Some(name.span);
            self.has_aggregate = true;
        }
        let arg_types: Vec<Type> = match args {
            CallArgs::Star(s) => {
                if f.name != "count" {
                    self.report(
                        Diagnostic::new(
                            Code::WrongArguments,
                            format!("`{}(*)` is not allowed", f.name),
                        )
                        .at(*s, "only `count` takes `*`")
                        .with_help(format!("name a column: `{}(column)`", f.name)),
                    );
                    self.in_aggregate = outer;
                    return Type::Unknown;
                }
                vec![Type::Int]
            }
            CallArgs::Exprs(list) => list.iter().map(|a| self.check(a)).collect(),
        };
        self.in_aggregate = outer;
        if f.name == "percentile"
            && let CallArgs::Exprs(list) = args
            && let Some(frac) = list.get(1)
        {
            let ok = match &frac.kind {
                ExprKind::Literal(Literal::Float(x)) => (0.0..=1.0).contains(x),
                ExprKind::Literal(Literal::Int(x)) => (0..=1).contains(x),
                _ => false,
            };
            if !ok {
                self.report(
                    Diagnostic::new(Code::InvalidWindow, "percentile fraction out of range")
                        .at(frac.span, "must be a number literal between 0 and 1")
                        .with_help("write `percentile(latency_ms, 0.99)` for the 99th percentile"),
                );
                return Type::Unknown;
            }
        }
        if arg_types.contains(&Type::Unknown)
            && !matches!(
                f.signature,
                functions::Signature::Count | functions::Signature::AnyToInt
            )
        {
            return functions::result_type(f, &arg_types).unwrap_or(Type::Unknown);
        }
        match functions::result_type(f, &arg_types) {
            Ok(t) => t,
            Err(msg) => {
                self.report(
                    Diagnostic::new(
                        Code::WrongArguments,
                        format!("wrong arguments to `{}`", f.name),
                    )
                    .at(span, msg)
                    .with_help(format!("`{}`: {}", f.name, f.doc)),
                );
                Type::Unknown
            }
        }
    }
}

/// E0203 with a suggestion among `metrics`.
pub fn unknown_metric<'m>(
    name: &str,
    span: Span,
    metrics: impl IntoIterator<Item = &'m str> + Clone,
) -> Diagnostic {
    Diagnostic::new(Code::UnknownMetric, format!("unknown metric `{name}`"))
        .at(span, "no metric has this name")
        .with_help(suggestion_help(name, "metrics", metrics))
}

/// E0202 with a suggestion among the source's columns.
/// An entity's attribute (`developer.plan`) that the source's rows do not
/// have gets its own label and, without a close name, the rule that links
/// attributes to sources.
pub fn unknown_column(name: &str, span: Span, source: &str, schema: &SourceSchema) -> Diagnostic {
    let help = suggestion_help(name, "columns", schema.names());
    match name.split_once('.') {
        Some((entity, _)) if !help.starts_with("did you mean") => Diagnostic::new(Code::UnknownColumn, format!("unknown column `{name}`"))
            .at(span, format!("source `{source}` has no attribute of an entity `{entity}`"))
            .with_help(format!("attributes reach the rows of sources whose `entity` column is the entity's `key`; check both, or {}", help.replacen("available", "use one of the", 1))),
        _ => Diagnostic::new(Code::UnknownColumn, format!("unknown column `{name}`"))
            .at(span, format!("source `{source}` has no such column"))
            .with_help(help),
    }
}

fn row_scope(scope: Scope) -> Scope {
    match scope {
        Scope::Measure { source, schema } => Scope::Row { source, schema },
        s => s,
    }
}

pub(crate) fn article(t: Type) -> &'static str {
    match t {
        Type::Int | Type::Unknown | Type::Other => "an",
        _ => "a",
    }
}

fn literal_type(l: &Literal) -> Type {
    match l {
        Literal::Int(_) => Type::Int,
        Literal::Float(_) => Type::Float,
        Literal::String(_) => Type::String,
        Literal::Bool(_) => Type::Bool,
        Literal::Null => Type::Null,
        Literal::Duration(_) => Type::Duration,
        Literal::Date(_) => Type::Date,
        Literal::Timestamp(_) => Type::Timestamp,
    }
}
