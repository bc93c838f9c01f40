//! parse: how each metric kind is written. One reader per kind key of
//! [`keys::KIND_KEYS`], whose keys are in [`super::keys`]; the AST of each
//! kind is in [`super::ast::MetricKind`].

use super::ast::*;
use super::fields::{Cx, Fields, keyword_or, required, required_expr, required_metric};
use super::keys;
use super::yaml::{Node, NodeKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::span::Spanned;

/// Reads the value of a kind key into its kind; `ctx` names it in messages.
type Reader = fn(&mut Cx, &Node, &str) -> Option<MetricKind>;

/// A reader per kind key of [`keys::KIND_KEYS`] (a test checks that each
/// has one).
const READERS: &[(&str, Reader)] = &[
    ("measure", measure),
    ("ratio", ratio),
    ("formula", formula),
    ("cumulative", cumulative),
    ("funnel", funnel_kind),
    ("time_between", time_between),
    ("active", active),
    ("retention", retention_kind),
    ("churn", churn),
    ("cohort", cohort_kind),
    ("period_over_period", period_over_period),
    ("conversion", conversion),
    ("sequence", sequence),
];

/// Reads kind `key` of metric `context` from `node`.
pub(super) fn read(cx: &mut Cx, key: &str, node: &Node, context: &str) -> Option<MetricKind> {
    let ctx = format!("`{key}` of {context}");
    let (_, reader) = READERS.iter().find(|(k, _)| *k == key)?;
    reader(cx, node, &ctx)
}

fn measure(cx: &mut Cx, node: &Node, _: &str) -> Option<MetricKind> {
    Some(MetricKind::Aggregate {
        measure: cx.expr(node, "measure")?,
    })
}

fn formula(cx: &mut Cx, node: &Node, _: &str) -> Option<MetricKind> {
    Some(MetricKind::Formula {
        expr: cx.expr(node, "formula")?,
    })
}

fn ratio(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    let f = cx.fields(node, ctx, &keys::RATIO)?;
    let num = required_metric(cx, &f, "numerator", ctx, "add `numerator: <metric>`");
    let den = required_metric(cx, &f, "denominator", ctx, "add `denominator: <metric>`");
    Some(MetricKind::Ratio {
        numerator: num?,
        denominator: den?,
    })
}

fn cumulative(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    let f = cx.fields(node, ctx, &keys::CUMULATIVE)?;
    let metric = required_metric(
        cx,
        &f,
        "metric",
        ctx,
        "add `metric: <metric to accumulate>`",
    );
    let window = f.get("window").and_then(|n| cx.duration(n, "window"));
    let to_date = f
        .get("to_date")
        .and_then(|n| cx.keyword(n, "to_date", Grain::ALL, Grain::parse));
    if let (Some(w), Some(t)) = (&window, &to_date) {
        cx.report(
            Diagnostic::new(
                Code::ConflictingKinds,
                "a cumulative metric has both `window` and `to_date`",
            )
            .at(t.span, "`to_date` here")
            .with_secondary(w.span, "`window` here")
            .with_help(
                "keep `window` for a trailing total or `to_date` for a period-to-date total",
            ),
        );
    }
    Some(MetricKind::Cumulative {
        metric: metric?,
        window,
        to_date,
    })
}

fn funnel_kind(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    funnel(cx, node, ctx).map(MetricKind::Funnel)
}

fn time_between(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    let f = cx.fields(node, ctx, &keys::TIME_BETWEEN)?;
    let from = required_expr(
        cx,
        &f,
        "from",
        ctx,
        "add `from: <predicate of the first event>`",
    );
    let to = required_expr(
        cx,
        &f,
        "to",
        ctx,
        "add `to: <predicate of the second event>`",
    );
    let statistic = keyword_or(
        cx,
        &f,
        "statistic",
        Statistic::ALL,
        Statistic::parse,
        Statistic::Median,
    );
    let unit = keyword_or(
        cx,
        &f,
        "unit",
        TimeUnit::ALL,
        TimeUnit::parse,
        TimeUnit::Hours,
    );
    let within = f.get("within").and_then(|n| cx.duration(n, "within"));
    Some(MetricKind::TimeBetween {
        from: from?,
        to: to?,
        statistic: statistic?,
        unit: unit?,
        within,
    })
}

fn active(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    let f = cx.fields(node, ctx, &keys::ACTIVE)?;
    let window = match (f.get("window"), f.get("calendar")) {
        (Some(w), None) => ActiveWindow::Rolling(cx.duration(w, "window")?),
        (None, Some(c)) => {
            ActiveWindow::Calendar(cx.keyword(c, "calendar", Grain::ALL, Grain::parse)?)
        }
        (Some(_), Some(_)) => {
            cx.report(
                Diagnostic::new(
                    Code::ConflictingKinds,
                    "an active metric has both `window` and `calendar`",
                )
                .at(f.key_span("calendar").unwrap_or(f.span), "`calendar` here")
                .with_help("`window: 7d` is a trailing window; `calendar: week` the calendar week"),
            );
            return None;
        }
        (None, None) => {
            cx.missing(
                &f,
                "window",
                ctx,
                "add `window: 7d` (trailing) or `calendar: week`",
            );
            return None;
        }
    };
    Some(MetricKind::Active { window })
}

fn retention_kind(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    retention(cx, node, ctx).map(MetricKind::Retention)
}

fn churn(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    let f = cx.fields(node, ctx, &keys::CHURN)?;
    let window = required(cx, &f, "window", ctx, "add `window: 30d`", |cx, n| {
        cx.duration(n, "window")
    });
    let value = keyword_or(
        cx,
        &f,
        "value",
        ChurnValue::ALL,
        ChurnValue::parse,
        ChurnValue::Churned,
    );
    Some(MetricKind::Churn {
        window: window?,
        value: value?,
    })
}

fn sequence(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    let f = cx.fields(node, ctx, &keys::SEQUENCE)?;
    let conditions = required(
        cx,
        &f,
        "conditions",
        ctx,
        "add `conditions:` with a `- name: predicate` per kind of event the pattern names",
        named_conditions,
    );
    let pattern = required(
        cx,
        &f,
        "pattern",
        ctx,
        "add `pattern: \"(?1).*(?2)\"`, in ClickHouse's sequenceMatch syntax",
        |cx, n| cx.pattern(n, "pattern"),
    );
    let value = keyword_or(
        cx,
        &f,
        "value",
        SequenceValue::ALL,
        SequenceValue::parse,
        SequenceValue::Entities,
    );
    Some(MetricKind::Sequence(SequenceDef {
        conditions: conditions?,
        pattern: pattern?,
        value: value?,
    }))
}

/// A list of `- name: predicate`: a sequence's conditions.
fn named_conditions(cx: &mut Cx, node: &Node) -> Option<Vec<(Name, Expr)>> {
    let entries = named_entries(
        cx,
        node,
        "`conditions`",
        "a condition",
        "condition",
        "failed: status >= 500",
    )?;
    Some(
        entries
            .into_iter()
            .filter_map(|(name, v)| Some((name, cx.expr(v, "a condition")?)))
            .collect(),
    )
}

/// The entries of a list of `- name: value`, each with its name, checked
/// as such (a list, maps of one key, valid names). `list` and `entry` name
/// the list and one entry in messages (`funnel steps`, `a funnel step`),
/// `each` an entry after "each" (`step`), `example` an entry written out.
fn named_entries<'n>(
    cx: &mut Cx,
    node: &'n Node,
    list: &str,
    entry: &str,
    each: &str,
    example: &str,
) -> Option<Vec<(Name, &'n Node)>> {
    let NodeKind::Seq(items) = &node.kind else {
        cx.report(
            Diagnostic::new(Code::WrongYamlType, format!("{list} must be a list"))
                .at(node.span, format!("found {}", node.shape()))
                .with_help(format!("write each {each} as `- name: predicate`")),
        );
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let NodeKind::Map(pairs) = &item.kind else {
            cx.report(
                Diagnostic::new(
                    Code::WrongYamlType,
                    format!("{entry} must be `name: predicate`"),
                )
                .at(item.span, format!("found {}", item.shape()))
                .with_help(format!("write the {each} as `- {example}`")),
            );
            continue;
        };
        if pairs.len() != 1 {
            cx.report(
                Diagnostic::new(
                    Code::WrongYamlType,
                    format!("{entry} must have exactly one name"),
                )
                .at(item.span, format!("{} keys in this {each}", pairs.len()))
                .with_help(format!("start each {each} with its own `-`")),
            );
            continue;
        }
        let (k, v) = &pairs[0];
        if let Some(name) = cx.name(k, &format!("{each} name")) {
            out.push((name, v));
        }
    }
    Some(out)
}

fn conversion(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    let f = cx.fields(node, ctx, &keys::CONVERSION)?;
    let base = required_expr(
        cx,
        &f,
        "base",
        ctx,
        "add `base: <predicate of the base event>`",
    );
    let conversion = required(
        cx,
        &f,
        "conversion",
        ctx,
        "add `conversion: <predicate of the conversion event>`",
        conversion_event,
    );
    let within = f.get("within").and_then(|n| cx.duration(n, "within"));
    let constant_properties = f
        .get("constant_properties")
        .map(|n| constant_properties(cx, n))
        .unwrap_or_default();
    let count = keyword_or(
        cx,
        &f,
        "count",
        ConversionCount::ALL,
        ConversionCount::parse,
        ConversionCount::Rows,
    );
    let value = keyword_or(
        cx,
        &f,
        "value",
        ConversionValue::ALL,
        ConversionValue::parse,
        ConversionValue::Rate,
    );
    Some(MetricKind::Conversion(ConversionDef {
        base: base?,
        conversion: conversion?,
        within,
        constant_properties,
        count: count?,
        value: value?,
    }))
}

/// `conversion:`'s event: a predicate on the metric's source, or
/// `{ source, where, entity }`.
fn conversion_event(cx: &mut Cx, node: &Node) -> Option<ConversionEvent> {
    let NodeKind::Map(_) = &node.kind else {
        return cx
            .expr(node, "conversion")
            .map(|predicate| ConversionEvent {
                source: None,
                predicate,
                entity: None,
            });
    };
    let ctx = "a conversion event";
    let f = cx.fields(node, ctx, &keys::CONVERSION_EVENT)?;
    let source = f.get("source").and_then(|n| cx.name(n, "source name"));
    let predicate = required_expr(
        cx,
        &f,
        "where",
        ctx,
        "add `where: <predicate of the conversion event>`",
    );
    let entity = f
        .get("entity")
        .and_then(|n| cx.column_name(n, "entity column"));
    Some(ConversionEvent {
        source,
        predicate: predicate?,
        entity,
    })
}

/// `constant_properties:`: column names, or `{ base, conversion }` pairs.
fn constant_properties(cx: &mut Cx, node: &Node) -> Vec<ConstantProperty> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        if let NodeKind::Map(_) = &item.kind {
            let ctx = "a constant property";
            let Some(f) = cx.fields(item, ctx, &keys::CONSTANT_PROPERTY) else {
                continue;
            };
            let column = |cx: &mut Cx, key: &str| {
                required(
                    cx,
                    &f,
                    key,
                    ctx,
                    &format!("add `{key}: <column of the {key} event>`"),
                    |cx, n| cx.column_name(n, "column"),
                )
            };
            let base = column(cx, "base");
            let conversion = column(cx, "conversion");
            if let (Some(base), Some(conversion)) = (base, conversion) {
                out.push(ConstantProperty { base, conversion });
            }
        } else if let Some(name) = cx.column_name(item, "column") {
            out.push(ConstantProperty {
                base: name.clone(),
                conversion: name,
            });
        }
    }
    out
}

fn period_over_period(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    let f = cx.fields(node, ctx, &keys::PERIOD_OVER_PERIOD)?;
    let metric = required_metric(cx, &f, "metric", ctx, "add `metric: <metric to compare>`");
    let offset = match (f.get("offset"), f.get("offset_to_grain")) {
        (Some(_), Some(_)) => {
            cx.report(
                Diagnostic::new(
                    Code::ConflictingKinds,
                    "a period_over_period metric has both `offset` and `offset_to_grain`",
                )
                .at(
                    f.key_span("offset_to_grain").unwrap_or(f.span),
                    "`offset_to_grain` here",
                )
                .with_help("keep `offset: 1 month` (the same period moved back) or `offset_to_grain: month` (the period's start)"),
            );
            None
        }
        (Some(n), None) => cx
            .offset(n, "offset")
            .map(|o| Spanned::new(Lookback::Offset(o.value), o.span)),
        (None, Some(n)) => cx
            .keyword(n, "offset_to_grain", Grain::ALL, Grain::parse)
            .map(|g| Spanned::new(Lookback::ToGrain(g.value), g.span)),
        (None, None) => {
            cx.missing(
                &f,
                "offset",
                ctx,
                "add `offset: 1 week` or `offset_to_grain: month`",
            );
            None
        }
    };
    let value = keyword_or(
        cx,
        &f,
        "value",
        Comparison::ALL,
        Comparison::parse,
        Comparison::Growth,
    );
    Some(MetricKind::PeriodOverPeriod {
        metric: metric?,
        offset: offset?,
        value: value?,
    })
}

fn cohort_kind(cx: &mut Cx, node: &Node, ctx: &str) -> Option<MetricKind> {
    cohort(cx, node, ctx).map(MetricKind::Cohort)
}

fn periods(cx: &mut Cx, f: &Fields, ctx: &str) -> Option<Spanned<i64>> {
    let p = required(cx, f, "periods", ctx, "add `periods: 8`", |cx, n| {
        cx.int(n, "periods")
    })?;
    if !(1..=1000).contains(&p.value) {
        cx.report(
            Diagnostic::new(Code::InvalidWindow, "periods out of range")
                .at(p.span, format!("{} periods", p.value))
                .with_help("give between 1 and 1000 periods"),
        );
        return None;
    }
    Some(p)
}

fn retention(cx: &mut Cx, node: &Node, ctx: &str) -> Option<Retention> {
    let f = cx.fields(node, ctx, &keys::RETENTION)?;
    let min_occurrences = f.get("min_occurrences").and_then(|n| {
        let v = cx.int(n, "min_occurrences")?;
        if v.value < 1 {
            cx.report(
                Diagnostic::new(Code::InvalidValue, "`min_occurrences` must be at least 1")
                    .at(n.span, "a return needs at least one event")
                    .with_help("write `min_occurrences: 2` to count a return only with two events in the period"),
            );
            return None;
        }
        Some(v)
    });
    let cohort = required_expr(
        cx,
        &f,
        "cohort",
        ctx,
        "add `cohort: <predicate of the cohort event>`",
    );
    let returning = required_expr(
        cx,
        &f,
        "return",
        ctx,
        "add `return: <predicate of a returning event>`",
    );
    let period = required(cx, &f, "period", ctx, "add `period: week`", |cx, n| {
        cx.keyword(n, "period", Grain::ALL, Grain::parse)
    });
    let periods = periods(cx, &f, ctx);
    let cohort_type = keyword_or(
        cx,
        &f,
        "cohort_type",
        CohortType::ALL,
        CohortType::parse,
        CohortType::FirstTime,
    );
    let matching = keyword_or(
        cx,
        &f,
        "match",
        RetentionMatch::ALL,
        RetentionMatch::parse,
        RetentionMatch::On,
    );
    let anchor = keyword_or(
        cx,
        &f,
        "anchor",
        PeriodAnchor::ALL,
        PeriodAnchor::parse,
        PeriodAnchor::Calendar,
    );
    Some(Retention {
        cohort: cohort?,
        returning: returning?,
        period: period?,
        periods: periods?,
        cohort_type: cohort_type?,
        matching: matching?,
        anchor: anchor?,
        min_occurrences,
    })
}

fn cohort(cx: &mut Cx, node: &Node, ctx: &str) -> Option<CohortDef> {
    let f = cx.fields(node, ctx, &keys::COHORT)?;
    let metric = required_metric(
        cx,
        &f,
        "metric",
        ctx,
        "add `metric: <metric to follow by cohort>`",
    );
    let cohort_source = f.get("source").and_then(|n| cx.name(n, "source name"));
    let event = required_expr(
        cx,
        &f,
        "event",
        ctx,
        "add `event: <predicate of the cohort event>`",
    );
    let period = required(cx, &f, "period", ctx, "add `period: month`", |cx, n| {
        cx.keyword(n, "period", Grain::ALL, Grain::parse)
    });
    let periods = periods(cx, &f, ctx);
    let flag = |cx: &mut Cx, key: &str| {
        f.get(key)
            .and_then(|n| cx.bool(n, key))
            .is_some_and(|b| b.value)
    };
    let per_entity = flag(cx, "per_entity");
    let cumulative = flag(cx, "cumulative");
    Some(CohortDef {
        metric: metric?,
        cohort_source,
        event: event?,
        period: period?,
        periods: periods?,
        per_entity,
        cumulative,
    })
}

/// `within: unbounded`: a funnel window with no far edge (MetricFlow's
/// conversion metrics have none). Held as the largest duration.
pub const UNBOUNDED: &str = "unbounded";

fn funnel(cx: &mut Cx, node: &Node, ctx: &str) -> Option<Funnel> {
    let f = cx.fields(node, ctx, &keys::FUNNEL)?;
    let steps = required(
        cx,
        &f,
        "steps",
        ctx,
        "add `steps:` with a list of `name: predicate`",
        steps,
    );
    let within = required(
        cx,
        &f,
        "within",
        ctx,
        "add `within: 14d`, the conversion window (or `within: unbounded`)",
        |cx, n| {
            if n.as_str().is_some_and(|s| s.trim() == UNBOUNDED) {
                Some(Spanned::new(
                    Duration {
                        millis: i64::MAX,
                        text: UNBOUNDED.into(),
                    },
                    n.span,
                ))
            } else {
                cx.duration(n, "within")
            }
        },
    );
    let window_edge = f
        .get("window_edge")
        .and_then(|n| cx.keyword(n, "window_edge", WindowEdge::ALL, WindowEdge::parse));
    let exclude_scope = f
        .get("exclude_scope")
        .and_then(|n| cx.keyword(n, "exclude_scope", ExcludeScope::ALL, ExcludeScope::parse));
    let best_attempt = f
        .get("best_attempt")
        .and_then(|n| cx.keyword(n, "best_attempt", BestAttempt::ALL, BestAttempt::parse));
    let time_to_convert = f.get("time_to_convert").and_then(|n| {
        let t = cx.fields(n, "time_to_convert", &keys::TIME_TO_CONVERT)?;
        let bins = match t.get("bins").map(|b| &b.kind) {
            Some(NodeKind::Seq(items)) => items
                .iter()
                .filter_map(|i| cx.duration(i, "a bin edge"))
                .collect(),
            Some(_) => {
                let b = t.get("bins")?;
                cx.report(
                    Diagnostic::new(Code::WrongYamlType, "`bins` must be a list of durations")
                        .at(b.span, format!("found {}", b.shape()))
                        .with_help("write the bins' upper edges, e.g. `bins: [1h, 1d, 7d]`"),
                );
                return None;
            }
            None => Vec::new(),
        };
        Some(TimeToConvert {
            from: t.get("from").and_then(|n| cx.name(n, "step")),
            to: t.get("to").and_then(|n| cx.name(n, "step")),
            bins,
            span: n.span,
        })
    });
    let order = keyword_or(
        cx,
        &f,
        "order",
        FunnelOrder::ALL,
        FunnelOrder::parse,
        FunnelOrder::Ordered,
    );
    let reuse_events = f
        .get("reuse_events")
        .and_then(|n| cx.bool(n, "reuse_events"));
    let strict_increase = f
        .get("strict_increase")
        .and_then(|n| cx.bool(n, "strict_increase"));
    let strict_deduplication = f
        .get("strict_deduplication")
        .and_then(|n| cx.bool(n, "strict_deduplication"));
    let exclude = f
        .get("exclude")
        .map(|n| exclusions(cx, n))
        .unwrap_or_default();
    let hold_constant = f
        .get("hold_constant")
        .map(|n| cx.column_names(n, "column"))
        .unwrap_or_default();
    // `first_step`, `last_step`, or `{ step: <name> }`.
    let mut attribution_step = None;
    let attribution = match f.get("attribution") {
        Some(n) if matches!(n.kind, NodeKind::Map(_)) => {
            if let Some(a) = cx.fields(n, "attribution", &keys::ATTRIBUTION) {
                attribution_step = a.get("step").and_then(|s| cx.name(s, "step"));
            }
            None
        }
        Some(n) => cx.keyword(n, "attribution", Attribution::ALL, Attribution::parse),
        None => None,
    };
    let value = keyword_or(
        cx,
        &f,
        "value",
        FunnelValue::ALL,
        FunnelValue::parse,
        FunnelValue::Steps,
    );
    Some(Funnel {
        steps: steps?,
        within: within?,
        order: order?,
        reuse_events,
        strict_increase,
        strict_deduplication,
        window_edge,
        best_attempt,
        exclude_scope,
        time_to_convert,
        exclude,
        hold_constant,
        attribution,
        attribution_step,
        value: value?,
    })
}

/// `- name: predicate` or `- name: {where: predicate, within: 1d}`.
fn steps(cx: &mut Cx, node: &Node) -> Option<Vec<Step>> {
    let entries = named_entries(
        cx,
        node,
        "funnel steps",
        "a funnel step",
        "step",
        "signup: event = 'signup'",
    )?;
    let mut out = Vec::new();
    for (name, v) in entries {
        let (predicate, within) = match &v.kind {
            NodeKind::Map(_) => {
                let Some(sf) = cx.fields(v, "a funnel step", &keys::STEP) else {
                    continue;
                };
                let p = required(
                    cx,
                    &sf,
                    "where",
                    "a funnel step",
                    "add `where: <predicate>`",
                    |cx, n| cx.expr(n, "step"),
                );
                (p, sf.get("within").and_then(|n| cx.duration(n, "within")))
            }
            _ => (cx.expr(v, "step"), None),
        };
        if let Some(predicate) = predicate {
            out.push(Step {
                name,
                predicate,
                within,
            });
        }
    }
    Some(out)
}

fn exclusions(cx: &mut Cx, node: &Node) -> Vec<Exclusion> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        let Some(f) = cx.fields(item, "an exclusion", &keys::EXCLUSION) else {
            continue;
        };
        let ctx = "an exclusion";
        let event = required(cx, &f, "event", ctx, "add `event: <predicate>`", |cx, n| {
            cx.expr(n, "event")
        });
        let between = required(
            cx,
            &f,
            "between",
            ctx,
            "add `between: [step_a, step_b]`",
            |cx, n| {
                let names = cx.names(n, "step name");
                if names.len() != 2 {
                    cx.report(
                        Diagnostic::new(Code::WrongYamlType, "`between` takes two step names")
                            .at(n.span, format!("{} names here", names.len()))
                            .with_help("write `between: [first_step, later_step]`"),
                    );
                    return None;
                }
                Some(names)
            },
        );
        if let (Some(predicate), Some(mut b)) = (event, between) {
            let before = b.pop().expect("two names");
            let after = b.pop().expect("two names");
            out.push(Exclusion {
                predicate,
                after,
                before,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_key_has_one_reader() {
        let readers: Vec<&str> = READERS.iter().map(|(k, _)| *k).collect();
        assert_eq!(readers, keys::KIND_KEYS);
    }
}
