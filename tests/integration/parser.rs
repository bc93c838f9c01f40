//! Expression parser tests: precedence, every construct, and positions.

use metricc::span::FileId;
use metricc::syntax::ast::{CallArgs, Expr, ExprKind, Literal};
use metricc::syntax::expr::{Origin, parse_duration, parse_expr};
use metricc::syntax::scalar::OffsetMap;

/// The expression as an s-expression, for compact assertions.
fn sexp(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Literal(l) => match l {
            Literal::Int(i) => i.to_string(),
            Literal::Float(f) => format!("{f:?}"),
            Literal::String(s) => format!("'{s}'"),
            Literal::Bool(b) => b.to_string(),
            Literal::Null => "null".into(),
            Literal::Duration(d) => format!("{}ms", d.millis),
            Literal::Date(d) => format!("date:{d}"),
            Literal::Timestamp(t) => format!("ts:{t}"),
        },
        ExprKind::Column(c) => c.clone(),
        ExprKind::Neg(x) => format!("(neg {})", sexp(x)),
        ExprKind::Not(x) => format!("(not {})", sexp(x)),
        ExprKind::Binary { op, left, right } => {
            format!("({} {} {})", op.symbol(), sexp(left), sexp(right))
        }
        ExprKind::InList {
            expr,
            list,
            negated,
        } => format!(
            "({}in {} [{}])",
            if *negated { "not " } else { "" },
            sexp(expr),
            list.iter().map(sexp).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => {
            format!(
                "({}between {} {} {})",
                if *negated { "not " } else { "" },
                sexp(expr),
                sexp(low),
                sexp(high)
            )
        }
        ExprKind::IsNull { expr, negated } => format!(
            "(is{} null {})",
            if *negated { " not" } else { "" },
            sexp(expr)
        ),
        ExprKind::Like {
            expr,
            pattern,
            negated,
        } => {
            format!(
                "({}like {} {})",
                if *negated { "not " } else { "" },
                sexp(expr),
                sexp(pattern)
            )
        }
        ExprKind::Call { name, args, filter } => {
            let args = match args {
                CallArgs::Star(_) => "*".to_string(),
                CallArgs::Exprs(list) => list.iter().map(sexp).collect::<Vec<_>>().join(" "),
            };
            let filter = filter
                .as_ref()
                .map(|f| format!(" :filter {}", sexp(f)))
                .unwrap_or_default();
            format!("({} {args}{filter})", name.value)
        }
    }
}

fn parse(text: &str) -> Result<Expr, metricc::diagnostics::Diagnostic> {
    let map = OffsetMap::identity(0, text.len());
    parse_expr(
        text,
        &Origin {
            file: FileId(0),
            map: &map,
        },
    )
}

fn p(text: &str) -> String {
    sexp(&parse(text).unwrap_or_else(|d| panic!("{text}: {d:?}")))
}

#[test]
fn arithmetic_precedence_and_associativity() {
    assert_eq!(p("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(p("(1 + 2) * 3"), "(* (+ 1 2) 3)");
    assert_eq!(p("10 - 4 - 3"), "(- (- 10 4) 3)");
    assert_eq!(p("a / b % c"), "(% (/ a b) c)");
    assert_eq!(p("- - x"), "(neg (neg x))");
    assert_eq!(p("a - -b"), "(- a (neg b))");
}

#[test]
fn boolean_precedence() {
    assert_eq!(
        p("a = 1 or b = 2 and c = 3"),
        "(or (= a 1) (and (= b 2) (= c 3)))"
    );
    assert_eq!(p("not a = 1 and b"), "(and (not (= a 1)) b)");
    assert_eq!(p("NOT not x"), "(not (not x))");
    assert_eq!(p("x + 1 > y * 2"), "(> (+ x 1) (* y 2))");
}

#[test]
fn predicates() {
    assert_eq!(p("e in ('a', 'b',)"), "(in e ['a' 'b'])");
    assert_eq!(p("e not in (1)"), "(not in e [1])");
    assert_eq!(p("s between 1 and 9 and t"), "(and (between s 1 9) t)");
    assert_eq!(p("s not between 1 and 2"), "(not between s 1 2)");
    assert_eq!(p("plan is null"), "(is null plan)");
    assert_eq!(p("plan IS NOT NULL"), "(is not null plan)");
    assert_eq!(p("endpoint like '/v1/%'"), "(like endpoint '/v1/%')");
    assert_eq!(p("endpoint not like \"x\""), "(not like endpoint 'x')");
    assert_eq!(
        p("a <> 1 and b != 2 and c == 3"),
        "(and (and (!= a 1) (!= b 2)) (= c 3))"
    );
}

#[test]
fn literals() {
    assert_eq!(p("7d"), "604800000ms");
    assert_eq!(p("30m + 250ms"), "(+ 1800000ms 250ms)");
    assert_eq!(p("0.9"), "0.9");
    assert_eq!(p("1e3"), "1000.0");
    assert_eq!(p("'it''s'"), "'it's'");
    assert_eq!(p("true or FALSE"), "(or true false)");
    assert_eq!(p("date '2026-03-01'"), "date:2026-03-01");
    assert_eq!(p("timestamp '2026-03-01 09:30'"), "ts:2026-03-01 09:30:00");
    assert_eq!(p("`odd name` = 1"), "(= odd name 1)");
    assert_eq!(p("date = 1"), "(= date 1)");
    assert_eq!(p("android = 1"), "(= android 1)");
}

#[test]
fn calls() {
    assert_eq!(p("count(*)"), "(count *)");
    assert_eq!(
        p("COUNT(*) filter (where status >= 400)"),
        "(count * :filter (>= status 400))"
    );
    assert_eq!(
        p("count(*) filter (status >= 400) / count(*)"),
        "(/ (count * :filter (>= status 400)) (count *))"
    );
    assert_eq!(
        p("percentile(latency_ms, 0.99)"),
        "(percentile latency_ms 0.99)"
    );
    assert_eq!(p("date(ts)"), "(date ts)");
    assert_eq!(p("f()"), "(f )");
}

#[test]
fn errors_point_at_the_offending_token() {
    let cases = [
        ("a = = 1", 4),
        ("a and", 5),
        ("(a", 2),
        ("a 1", 2),
        ("status >= 400 && x", 14),
        ("'open", 0),
    ];
    for (text, at) in cases {
        let d = parse(text).expect_err(text);
        assert_eq!(d.code.as_str(), "E0106", "{text}");
        assert_eq!(d.span.unwrap().start as usize, at, "{text}: {}", d.label);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(parse(&deep).unwrap_err().code.as_str(), "E0107");
    let ok = format!("{}1{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(p(&ok), "1");
    // Chains without parentheses deepen the tree too; they are bounded as well.
    for deep in [
        format!("{}x", "- ".repeat(10_000)),
        format!("{}x", "not ".repeat(10_000)),
        vec!["x"; 10_000].join(" + "),
        vec!["x = 1"; 10_000].join(" or "),
    ] {
        assert_eq!(parse(&deep).unwrap_err().code.as_str(), "E0107");
    }
    assert!(parse(&vec!["x"; 200].join(" + ")).is_ok());
}

#[test]
fn durations() {
    assert_eq!(parse_duration("14d").unwrap().millis, 14 * 86_400_000);
    assert_eq!(parse_duration(" 24h ").unwrap().millis, 86_400_000);
    assert_eq!(parse_duration("2w").unwrap().millis, 14 * 86_400_000);
    assert!(parse_duration("14").is_none());
    assert!(parse_duration("2 days").is_none());
    assert!(parse_duration("1.5d").is_none());
    assert!(parse_duration("99999999999999999999d").is_none());
}

#[test]
fn spans_cover_each_node() {
    let text = "status >= 400 and endpoint = '/x'";
    let e = parse(text).unwrap();
    let ExprKind::Binary { left, right, .. } = &e.kind else {
        panic!()
    };
    assert_eq!(
        &text[left.span.start as usize..left.span.end as usize],
        "status >= 400"
    );
    assert_eq!(
        &text[right.span.start as usize..right.span.end as usize],
        "endpoint = '/x'"
    );
}
