//! Expression text -> [`Expr`], parsed with the pest grammar in
//! `grammar/metricc.pest`. Positions are rebased onto the YAML file through an
//! [`OffsetMap`], so every node's span points at its own line and column.

use super::ast::{
    BinaryOp, CallArgs, Duration, Expr, ExprKind, Literal, PatternItem, PatternKind, PatternRef,
    PatternTimeOp,
};
use super::scalar::OffsetMap;
use crate::diagnostics::{Code, Diagnostic};
use crate::span::{FileId, Span};
use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/metricc.pest"]
struct Grammar;

/// Deepest nesting of parentheses and calls an expression may have.
pub const MAX_DEPTH: usize = 64;
/// Deepest expression tree: operator chains (`a + b + ...`) and repeated
/// `not`/`-` deepen the tree without parentheses; later stages recurse on it.
pub const MAX_TREE_DEPTH: usize = 256;

/// Where an expression's text sits in its file.
pub struct Origin<'a> {
    pub file: FileId,
    pub map: &'a OffsetMap,
}

impl Origin<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        let (s, e) = self.map.range(start, end);
        Span::new(self.file, s, e)
    }
}

/// Parses an expression.
pub fn parse_expr(text: &str, origin: &Origin) -> Result<Expr, Diagnostic> {
    let depth = check_depth(text, origin)?;
    if depth <= SHALLOW {
        return parse_checked(text, origin);
    }
    // pest recurses through every precedence level per parenthesis, with large
    // frames in debug builds: parse deep expressions on a thread with room.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 * 1024 * 1024)
            .spawn_scoped(scope, || parse_checked(text, origin))
            .map_err(|e| {
                Diagnostic::new(
                    Code::ExpressionTooDeep,
                    format!("cannot parse a deep expression: {e}"),
                )
            })?
            .join()
            .unwrap_or_else(|_| {
                Err(Diagnostic::new(
                    Code::ExpressionTooDeep,
                    "expression is nested too deeply",
                ))
            })
    })
}

/// Nesting up to which the caller's stack is enough for pest.
const SHALLOW: usize = 8;

fn parse_checked(text: &str, origin: &Origin) -> Result<Expr, Diagnostic> {
    let mut pairs =
        Grammar::parse(Rule::expression, text).map_err(|e| syntax_error(e, text, origin))?;
    let expression = pairs
        .next()
        .expect("the expression rule always yields one pair");
    let expr = expression
        .into_inner()
        .next()
        .expect("expression holds expr");
    build(expr, origin, 0)
}

/// Parses a sequence pattern (`(?1).*(?t<=1m)(?2)`): its elements with
/// their spans, or E0114 at the first character that does not fit.
pub fn parse_pattern(text: &str, origin: &Origin) -> Result<Vec<PatternItem>, Diagnostic> {
    let pairs = Grammar::parse(Rule::pattern, text).map_err(|e| {
        let pos = match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
        let end = text[pos..]
            .char_indices()
            .nth(1)
            .map_or(text.len(), |(i, _)| pos + i);
        let found = text[pos..].chars().next();
        Diagnostic::new(Code::InvalidPattern, "this pattern cannot be read")
            .at(
                origin.span(pos, end.max(pos)),
                match found {
                    Some(c) => format!("unexpected `{c}`"),
                    None => "the pattern ends here".to_string(),
                },
            )
            .with_help("a pattern is made of `(?1)` or `(?name)` (a condition), `.` (any one event), `.*` (any events), `(?t<=1m)` (time since the element before: `<`, `<=`, `>`, `>=` or `==` a duration) and `(?gap>=7d)` (the same for the very next event)")
    })?;
    let mut out = Vec::new();
    for pair in pairs.flatten() {
        let (start, end) = (pair.as_span().start(), pair.as_span().end());
        let kind = match pair.as_rule() {
            Rule::pattern_star => PatternKind::Star,
            Rule::pattern_any => PatternKind::Any,
            Rule::pattern_condition => {
                let inner = pair.into_inner().next().expect("a condition holds a name");
                match inner.as_rule() {
                    Rule::pattern_number => match inner.as_str().parse() {
                        Ok(n) => PatternKind::Condition(PatternRef::Number(n)),
                        Err(_) => PatternKind::Condition(PatternRef::Number(u64::MAX)),
                    },
                    _ => PatternKind::Condition(PatternRef::Name(inner.as_str().to_string())),
                }
            }
            Rule::pattern_time | Rule::pattern_gap => {
                let gap = pair.as_rule() == Rule::pattern_gap;
                let mut inner = pair.into_inner();
                let op = inner
                    .next()
                    .and_then(|p| PatternTimeOp::parse(p.as_str()))
                    .expect("the grammar's operators are the comparisons");
                let amount = inner.next().expect("a time condition holds a duration");
                let d = match amount.as_rule() {
                    Rule::pattern_number => amount
                        .as_str()
                        .parse::<i64>()
                        .ok()
                        .and_then(|s| s.checked_mul(1000))
                        .filter(|ms| *ms <= MAX_DURATION_MILLIS)
                        .map(|millis| Duration {
                            millis,
                            text: format!("{}s", amount.as_str()),
                        }),
                    _ => duration_value(amount.as_str()),
                };
                let Some(d) = d else {
                    return Err(literal_error(
                        origin.span(start, end),
                        "this duration is too long: durations go up to about 292 years",
                    ));
                };
                if gap {
                    PatternKind::Gap(op, d)
                } else {
                    PatternKind::Time(op, d)
                }
            }
            _ => continue,
        };
        out.push(PatternItem {
            kind,
            span: origin.span(start, end),
        });
    }
    Ok(out)
}

/// Parses a duration such as `14d`; `None` if the text is not one.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut pairs = Grammar::parse(Rule::duration_setting, text.trim()).ok()?;
    let pair = pairs.next()?.into_inner().next()?;
    duration_value(pair.as_str())
}

/// The longest duration: its nanoseconds fit in 64 bits (about 292 years),
/// as DataFusion's intervals hold them. Longer ones were cut to it silently.
pub const MAX_DURATION_MILLIS: i64 = i64::MAX / 1_000_000;

fn duration_value(text: &str) -> Option<Duration> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let n: i64 = digits.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    let millis = n.checked_mul(scale)?;
    if millis > MAX_DURATION_MILLIS {
        return None;
    }
    Some(Duration {
        millis,
        text: text.to_string(),
    })
}

/// Rejects nesting deeper than [`MAX_DEPTH`] before pest recurses into it.
fn check_depth(text: &str, origin: &Origin) -> Result<usize, Diagnostic> {
    let mut max = 0usize;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => {
                depth += 1;
                max = max.max(depth);
                if depth > MAX_DEPTH {
                    return Err(Diagnostic::new(
                        Code::ExpressionTooDeep,
                        "expression is nested too deeply",
                    )
                    .at(
                        origin.span(i, i + 1),
                        format!("more than {MAX_DEPTH} levels of parentheses here"),
                    )
                    .with_help(
                        "split the expression into simpler metrics or remove redundant parentheses",
                    ));
                }
            }
            (None, ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(max)
}

fn too_deep(depth: usize, span: Span) -> Result<(), Diagnostic> {
    if depth <= MAX_TREE_DEPTH {
        return Ok(());
    }
    Err(Diagnostic::new(Code::ExpressionTooDeep, "expression is nested too deeply")
        .at(span, format!("more than {MAX_TREE_DEPTH} nested operations"))
        .with_help("split the expression into several metrics, or use `in (...)` instead of long `or` chains"))
}

fn rule_name(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of expression",
        Rule::expr | Rule::or_expr | Rule::and_expr | Rule::not_expr | Rule::predicate => {
            "an expression"
        }
        Rule::sum | Rule::product | Rule::unary => "a value",
        Rule::cmp_op | Rule::comparison => "a comparison",
        Rule::add_op | Rule::mul_op => "an operator",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::kw_in | Rule::in_list => "`in`",
        Rule::kw_is | Rule::is_null => "`is`",
        Rule::kw_between | Rule::between => "`between`",
        Rule::kw_like | Rule::like => "`like`",
        Rule::kw_not => "`not`",
        Rule::kw_null => "`null`",
        Rule::column | Rule::ident | Rule::quoted_ident | Rule::attribute => "a name",
        Rule::call | Rule::call_args => "a function call",
        Rule::filter_clause | Rule::kw_filter => "`filter (...)`",
        Rule::string => "a string",
        Rule::number => "a number",
        Rule::duration => "a duration",
        _ => return None,
    })
}

fn syntax_error(e: pest::error::Error<Rule>, text: &str, origin: &Origin) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let found = text[pos..].chars().next();
    let end = found.map_or(pos, |c| pos + c.len_utf8());
    let expected = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(rule_name).collect();
            names.sort_unstable();
            names.dedup();
            names
        }
        ErrorVariant::CustomError { .. } => vec![],
    };
    let found_text = match found {
        None => "the end of the expression".to_string(),
        Some(_) => {
            let word: String = text[pos..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .take(20)
                .collect();
            format!("`{word}`")
        }
    };
    let label = if expected.is_empty() {
        format!("unexpected {found_text}")
    } else {
        format!("expected {}, found {found_text}", join_or(&expected))
    };
    let help = if found == Some('#') {
        "`#` starts a YAML comment; put the expression in quotes".to_string()
    } else if text[pos..].starts_with("&&") || text[pos..].starts_with("||") {
        "write `and` / `or` instead of `&&` / `||`".to_string()
    } else if found.is_none() && text.matches('(').count() > text.matches(')').count() {
        "a `(` is not closed; if the value is in a `{ ... }` mapping or `[ ... ]` list, a comma \
         ended it there: quote the whole expression, e.g. `measure: \"percentile(x, 0.5)\"`"
            .to_string()
    } else {
        "see docs/LANGUAGE.md for the expression syntax".to_string()
    };
    Diagnostic::new(Code::ExpressionSyntax, "invalid expression")
        .at(origin.span(pos, end), label)
        .with_help(help)
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The span of a pair without the blanks pest keeps after its last token.
fn span_of(pair: &Pair<Rule>, origin: &Origin) -> Span {
    let s = pair.as_span();
    let trimmed = s.as_str().trim_end().len();
    origin.span(s.start(), s.start() + trimmed)
}

fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

/// Builds a left-associative chain `a op b op c` from alternating pairs.
fn chain(pair: Pair<Rule>, origin: &Origin, depth: usize) -> Result<Expr, Diagnostic> {
    let span = span_of(&pair, origin);
    let mut inner = pair.into_inner();
    let ops = inner.len() / 2;
    too_deep(depth + ops, span)?;
    let depth = depth + ops;
    let mut left = build(
        inner.next().expect("chain has a first operand"),
        origin,
        depth,
    )?;
    while let Some(op_pair) = inner.next() {
        let op = match op_pair.as_rule() {
            Rule::kw_or => BinaryOp::Or,
            Rule::kw_and => BinaryOp::And,
            _ => match op_pair.as_str() {
                "+" => BinaryOp::Add,
                "-" => BinaryOp::Sub,
                "*" => BinaryOp::Mul,
                "/" => BinaryOp::Div,
                _ => BinaryOp::Mod,
            },
        };
        let right = build(
            inner.next().expect("operator has a right operand"),
            origin,
            depth,
        )?;
        let span = left.span.to(right.span);
        left = Expr {
            kind: ExprKind::Binary {
                op,
                left: boxed(left),
                right: boxed(right),
            },
            span,
        };
    }
    Ok(left)
}

fn build(pair: Pair<Rule>, origin: &Origin, depth: usize) -> Result<Expr, Diagnostic> {
    too_deep(depth, span_of(&pair, origin))?;
    let span = span_of(&pair, origin);
    let kind = match pair.as_rule() {
        Rule::expr => {
            return build(
                pair.into_inner().next().expect("expr holds or_expr"),
                origin,
                depth,
            );
        }
        Rule::or_expr | Rule::and_expr | Rule::sum | Rule::product => {
            return chain(pair, origin, depth);
        }
        Rule::not_expr => {
            let mut inner: Vec<Pair<Rule>> = pair.into_inner().collect();
            too_deep(depth + inner.len(), span)?;
            let mut e = build(
                inner.pop().expect("not_expr ends in a predicate"),
                origin,
                depth + inner.len(),
            )?;
            for not in inner.into_iter().rev() {
                let s = span_of(&not, origin).to(e.span);
                e = Expr {
                    kind: ExprKind::Not(boxed(e)),
                    span: s,
                };
            }
            return Ok(e);
        }
        Rule::unary => {
            let mut inner: Vec<Pair<Rule>> = pair.into_inner().collect();
            too_deep(depth + inner.len(), span)?;
            let mut e = build(
                inner.pop().expect("unary ends in a primary"),
                origin,
                depth + inner.len(),
            )?;
            for neg in inner.into_iter().rev() {
                let s = span_of(&neg, origin).to(e.span);
                e = Expr {
                    kind: ExprKind::Neg(boxed(e)),
                    span: s,
                };
            }
            return Ok(e);
        }
        Rule::predicate => return predicate(pair, origin, depth),
        Rule::call => return call(pair, origin, depth),
        Rule::column => {
            let inner = pair.into_inner().next().expect("column holds a name");
            let name = match inner.as_rule() {
                Rule::quoted_ident => {
                    let s = inner.as_str();
                    s[1..s.len() - 1].replace("``", "`")
                }
                _ => inner.as_str().to_string(),
            };
            ExprKind::Column(name)
        }
        Rule::duration => match duration_value(pair.as_str()) {
            Some(d) => ExprKind::Literal(Literal::Duration(d)),
            None => {
                return Err(literal_error(
                    span,
                    "duration is too large (at most 106751d, about 292 years)",
                ));
            }
        },
        Rule::number => {
            let s = pair.as_str();
            if let Ok(i) = s.parse::<i64>() {
                ExprKind::Literal(Literal::Int(i))
            } else {
                match s.parse::<f64>() {
                    Ok(f) if f.is_finite() => ExprKind::Literal(Literal::Float(f)),
                    _ => return Err(literal_error(span, "number is out of range")),
                }
            }
        }
        Rule::string => ExprKind::Literal(Literal::String(unquote(pair.as_str()))),
        Rule::boolean => {
            let t = pair.into_inner().next().expect("boolean keyword").as_rule() == Rule::kw_true;
            ExprKind::Literal(Literal::Bool(t))
        }
        Rule::null => ExprKind::Literal(Literal::Null),
        Rule::date_lit => {
            let text = unquote(pair.into_inner().next().expect("date string").as_str());
            match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                Ok(d) => ExprKind::Literal(Literal::Date(d)),
                Err(_) => {
                    return Err(literal_error(
                        span,
                        "not a valid date; write `date 'YYYY-MM-DD'`",
                    ));
                }
            }
        }
        Rule::timestamp_lit => {
            let text = unquote(pair.into_inner().next().expect("timestamp string").as_str());
            match parse_timestamp(&text) {
                Some(t) => ExprKind::Literal(Literal::Timestamp(t)),
                None => {
                    return Err(literal_error(
                        span,
                        "not a valid timestamp; write `timestamp 'YYYY-MM-DD HH:MM[:SS]'`",
                    ));
                }
            }
        }
        r => unreachable!("grammar rule {r:?} is handled by its parent"),
    };
    Ok(Expr { kind, span })
}

/// Local date-times accepted by `timestamp '...'` and the CLI.
pub fn parse_timestamp(text: &str) -> Option<chrono::NaiveDateTime> {
    const FORMATS: [&str; 4] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ];
    FORMATS
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
}

fn literal_error(span: Span, label: &str) -> Diagnostic {
    Diagnostic::new(Code::InvalidLiteral, "invalid literal").at(span, label)
}

fn unquote(s: &str) -> String {
    let q = &s[..1];
    s[1..s.len() - 1].replace(&format!("{q}{q}"), q)
}

fn predicate(pair: Pair<Rule>, origin: &Origin, depth: usize) -> Result<Expr, Diagnostic> {
    let span = span_of(&pair, origin);
    let mut inner = pair.into_inner();
    if inner.len() == 1 {
        return build(
            inner.next().expect("predicate starts with a value"),
            origin,
            depth,
        );
    }
    let left = build(
        inner.next().expect("predicate starts with a value"),
        origin,
        depth + 1,
    )?;
    let Some(test) = inner.next() else {
        return Ok(left);
    };
    let rule = test.as_rule();
    let mut parts = test.into_inner().peekable();
    let negated = parts.peek().is_some_and(|p| p.as_rule() == Rule::kw_not);
    if negated {
        parts.next();
    }
    let kind = match rule {
        Rule::comparison => {
            let op = match parts.next().expect("comparison operator").as_str() {
                "<=" => BinaryOp::LtEq,
                ">=" => BinaryOp::GtEq,
                "<>" | "!=" => BinaryOp::NotEq,
                "<" => BinaryOp::Lt,
                ">" => BinaryOp::Gt,
                _ => BinaryOp::Eq,
            };
            let right = build(
                parts.next().expect("comparison right side"),
                origin,
                depth + 1,
            )?;
            ExprKind::Binary {
                op,
                left: boxed(left),
                right: boxed(right),
            }
        }
        Rule::in_list => {
            parts.next(); // `in`
            let list = parts
                .map(|p| build(p, origin, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            ExprKind::InList {
                expr: boxed(left),
                list,
                negated,
            }
        }
        Rule::between => {
            parts.next(); // `between`
            let low = build(parts.next().expect("between low"), origin, depth + 1)?;
            parts.next(); // `and`
            let high = build(parts.next().expect("between high"), origin, depth + 1)?;
            ExprKind::Between {
                expr: boxed(left),
                low: boxed(low),
                high: boxed(high),
                negated,
            }
        }
        Rule::is_null => {
            let negated = parts.any(|p| p.as_rule() == Rule::kw_not);
            ExprKind::IsNull {
                expr: boxed(left),
                negated,
            }
        }
        Rule::like => {
            parts.next(); // `like`
            let pattern = build(parts.next().expect("like pattern"), origin, depth + 1)?;
            ExprKind::Like {
                expr: boxed(left),
                pattern: boxed(pattern),
                negated,
            }
        }
        r => unreachable!("not a predicate test: {r:?}"),
    };
    Ok(Expr { kind, span })
}

fn call(pair: Pair<Rule>, origin: &Origin, depth: usize) -> Result<Expr, Diagnostic> {
    let span = span_of(&pair, origin);
    let mut name = None;
    let mut args = CallArgs::Exprs(Vec::new());
    let mut filter = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident => {
                name = Some(crate::span::Spanned::new(
                    p.as_str().to_lowercase(),
                    span_of(&p, origin),
                ))
            }
            Rule::call_args => {
                let mut inner = p.into_inner().peekable();
                if inner.peek().is_some_and(|a| a.as_rule() == Rule::star) {
                    let star = inner.next().expect("peeked");
                    args = CallArgs::Star(span_of(&star, origin));
                } else {
                    args = CallArgs::Exprs(
                        inner
                            .map(|a| build(a, origin, depth + 1))
                            .collect::<Result<_, _>>()?,
                    );
                }
            }
            Rule::filter_clause => {
                let e = p
                    .into_inner()
                    .find(|q| q.as_rule() == Rule::expr)
                    .expect("filter holds an expression");
                filter = Some(boxed(build(e, origin, depth + 1)?));
            }
            r => unreachable!("unexpected call part {r:?}"),
        }
    }
    let name = name.expect("a call has a name");
    Ok(Expr {
        kind: ExprKind::Call { name, args, filter },
        span,
    })
}
