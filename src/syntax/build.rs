//! YAML [`Node`]s -> [`ast`](super::ast) for the project file and definition files.

use super::ast::*;
use super::fields::{Cx, Fields};
use super::yaml::{Node, NodeKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::span::Spanned;

const PROJECT_KEYS: &[&str] = &[
    "name",
    "description",
    "files",
    "time_zone",
    "week_start",
    "default_range",
    "sources",
    "metrics",
];
const FILE_KEYS: &[&str] = &["sources", "metrics"];
const SOURCE_KEYS: &[&str] = &["description", "path", "time", "entity", "dimensions"];
/// Keys every metric may have, besides its kind key.
const COMMON_KEYS: &[&str] = &[
    "label",
    "description",
    "owner",
    "tags",
    "source",
    "filter",
    "occurrence",
    "breakdown",
];
/// The keys that name a metric's kind.
pub const KIND_KEYS: &[&str] = &[
    "measure",
    "ratio",
    "formula",
    "cumulative",
    "funnel",
    "time_between",
    "active",
    "retention",
    "churn",
    "cohort",
];

/// Reads the project file; its own `sources` and `metrics` go into `ast`.
pub fn project(cx: &mut Cx, root: &Node, ast: &mut Ast) {
    let Some(f) = cx.fields(root, "the project file", PROJECT_KEYS) else {
        return;
    };
    let p = &mut ast.project;
    p.file = cx.file;
    match f.get("name") {
        Some(n) => p.name = cx.name(n, "project name"),
        None => cx.missing(&f, "name", "the project file", "add `name: my_project`"),
    }
    p.description = f.get("description").and_then(|n| cx.text(n, "description"));
    if let Some(n) = f.get("files") {
        p.files = match &n.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|i| cx.text(i, "a file pattern"))
                .collect(),
            _ => cx.text(n, "files").into_iter().collect(),
        };
    }
    p.time_zone = f.get("time_zone").and_then(|n| cx.text(n, "time_zone"));
    p.week_start = f
        .get("week_start")
        .and_then(|n| cx.keyword(n, "week_start", Weekday::ALL, Weekday::parse));
    if let Some(n) = f.get("default_range")
        && let Some(r) = cx.fields(n, "default_range", &["from", "to"])
    {
        p.default_from = r.get("from").and_then(|n| cx.date(n, "default_range.from"));
        p.default_to = r.get("to").and_then(|n| cx.date(n, "default_range.to"));
        if let (Some(a), Some(b)) = (&p.default_from, &p.default_to)
            && a.value >= b.value
        {
            cx.report(
                Diagnostic::new(Code::InvalidWindow, "default_range is empty")
                    .at(b.span, "`to` must be after `from` (the range is half-open)")
                    .with_secondary(a.span, "`from` is here"),
            );
        }
    }
    definitions(cx, &f, ast);
}

/// Reads a definition file (`sources:` and `metrics:`).
pub fn file(cx: &mut Cx, root: &Node, ast: &mut Ast) {
    if let Some(f) = cx.fields(root, "a definition file", FILE_KEYS) {
        definitions(cx, &f, ast);
    }
}

fn definitions(cx: &mut Cx, f: &Fields, ast: &mut Ast) {
    if let Some(n) = f.get("sources") {
        each_entry(cx, n, "sources", |cx, name, body| {
            if let Some(s) = source(cx, name, body) {
                ast.sources.push(s);
            }
        });
    }
    if let Some(n) = f.get("metrics") {
        each_entry(cx, n, "metrics", |cx, name, body| {
            if let Some(m) = metric(cx, name, body) {
                ast.metrics.push(m);
            }
        });
    }
}

/// Calls `each` for every `name: body` pair of a mapping, checking the names.
fn each_entry(cx: &mut Cx, node: &Node, context: &str, mut each: impl FnMut(&mut Cx, Name, &Node)) {
    match &node.kind {
        NodeKind::Map(pairs) => {
            let mut seen: Vec<&Name> = Vec::new();
            let names: Vec<Option<Name>> = pairs.iter().map(|(k, _)| cx.name(k, "name")).collect();
            for (name, (_, body)) in names.iter().zip(pairs) {
                let Some(name) = name else { continue };
                if let Some(first) = seen.iter().find(|n| n.value == name.value) {
                    cx.report(
                        Diagnostic::new(
                            Code::DuplicateKey,
                            format!("duplicate key `{}`", name.value),
                        )
                        .at(name.span, "defined again here")
                        .with_secondary(first.span, "first defined here")
                        .with_help("rename or remove one of the two"),
                    );
                    continue;
                }
                seen.push(name);
                each(cx, name.clone(), body);
            }
        }
        NodeKind::Null => {}
        _ => {
            cx.report(
                Diagnostic::new(
                    Code::WrongYamlType,
                    format!("`{context}` must be a mapping from names to definitions"),
                )
                .at(node.span, format!("found {}", node.shape()))
                .with_help(format!(
                    "write `{context}:` followed by indented `name:` entries"
                )),
            );
        }
    }
}

fn source(cx: &mut Cx, name: Name, body: &Node) -> Option<SourceDef> {
    let context = format!("source `{}`", name.value);
    let f = cx.fields(body, &context, SOURCE_KEYS)?;
    let path = match f.get("path") {
        Some(n) => cx.text(n, "path"),
        None => {
            cx.missing(
                &f,
                "path",
                &context,
                "add `path: data/events.parquet` (a file, directory or glob)",
            );
            None
        }
    };
    let time = match f.get("time") {
        Some(n) => cx.text(n, "time column"),
        None => {
            cx.missing(
                &f,
                "time",
                &context,
                "add `time: ts`, the column holding each row's timestamp",
            );
            None
        }
    };
    let entity = f.get("entity").and_then(|n| cx.text(n, "entity column"));
    let dimensions = match f.get("dimensions") {
        Some(n) => match &n.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|i| cx.text(i, "dimension"))
                .collect(),
            _ => cx.text(n, "dimensions").into_iter().collect(),
        },
        None => Vec::new(),
    };
    let description = f.get("description").and_then(|n| cx.text(n, "description"));
    Some(SourceDef {
        name,
        description,
        path: path?,
        time: time?,
        entity,
        dimensions,
    })
}

fn metric(cx: &mut Cx, name: Name, body: &Node) -> Option<MetricDef> {
    let context = format!("metric `{}`", name.value);
    let allowed: Vec<&str> = COMMON_KEYS.iter().chain(KIND_KEYS).copied().collect();
    let f = cx.fields(body, &context, &allowed)?;
    let kinds: Vec<&str> = f.keys().filter(|k| KIND_KEYS.contains(k)).collect();
    let kind_key = match kinds.as_slice() {
        [] => {
            cx.report(
                Diagnostic::new(
                    Code::MetricKindMissing,
                    format!("{context} does not say what it computes"),
                )
                .at(name.span, "no kind key in this metric")
                .with_help(format!(
                    "add one of: {}",
                    KIND_KEYS
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            return None;
        }
        [one] => *one,
        [first, second, ..] => {
            let first_span = f.key_span(first).unwrap_or(name.span);
            cx.report(
                Diagnostic::new(Code::ConflictingKinds, format!("{context} has two kinds"))
                    .at(
                        f.key_span(second).unwrap_or(name.span),
                        format!("`{second}` here"),
                    )
                    .with_secondary(first_span, format!("and `{first}` here"))
                    .with_help("a metric computes one thing; split it into two metrics"),
            );
            return None;
        }
    };
    let kind_node = f.get(kind_key).expect("kind key is present");
    let kind_span = f.key_span(kind_key).expect("kind key is present");
    let kind = metric_kind(cx, kind_key, kind_node, &context);
    let filter = f.get("filter").and_then(|n| cx.expr(n, "filter"));
    let tags = f
        .get("tags")
        .map(|n| cx.names(n, "tag"))
        .unwrap_or_default();
    Some(MetricDef {
        label: f.get("label").and_then(|n| cx.text(n, "label")),
        description: f.get("description").and_then(|n| cx.text(n, "description")),
        owner: f.get("owner").and_then(|n| cx.text(n, "owner")),
        tags,
        source: f.get("source").and_then(|n| cx.name(n, "source name")),
        filter,
        occurrence: f
            .get("occurrence")
            .and_then(|n| cx.keyword(n, "occurrence", Occurrence::ALL, Occurrence::parse)),
        breakdown: f
            .get("breakdown")
            .map(|n| cx.names(n, "dimension"))
            .unwrap_or_default(),
        kind_span,
        kind: kind?,
        name,
    })
}

/// A required value read with `read`; reports the missing key.
fn required<T>(
    cx: &mut Cx,
    f: &Fields,
    key: &str,
    context: &str,
    help: &str,
    read: impl FnOnce(&mut Cx, &Node) -> Option<T>,
) -> Option<T> {
    match f.get(key) {
        Some(n) => read(cx, n),
        None => {
            cx.missing(f, key, context, help);
            None
        }
    }
}

/// A required key naming another metric.
fn required_metric(cx: &mut Cx, f: &Fields, key: &str, context: &str, help: &str) -> Option<Name> {
    required(cx, f, key, context, help, |cx, n| cx.name(n, "metric name"))
}

/// An optional keyword with a default when absent.
fn keyword_or<T: Copy>(
    cx: &mut Cx,
    f: &Fields,
    key: &str,
    all: &[&str],
    parse: impl Fn(&str) -> Option<T>,
    default: T,
) -> Option<Spanned<T>> {
    match f.get(key) {
        Some(n) => cx.keyword(n, key, all, parse),
        None => Some(Spanned::new(default, f.label_span())),
    }
}

fn metric_kind(cx: &mut Cx, key: &str, node: &Node, context: &str) -> Option<MetricKind> {
    let ctx = format!("`{key}` of {context}");
    match key {
        "measure" => Some(MetricKind::Aggregate {
            measure: cx.expr(node, "measure")?,
        }),
        "formula" => Some(MetricKind::Formula {
            expr: cx.expr(node, "formula")?,
        }),
        "ratio" => {
            let f = cx.fields(node, &ctx, &["numerator", "denominator"])?;
            let num = required_metric(cx, &f, "numerator", &ctx, "add `numerator: <metric>`");
            let den = required_metric(cx, &f, "denominator", &ctx, "add `denominator: <metric>`");
            Some(MetricKind::Ratio {
                numerator: num?,
                denominator: den?,
            })
        }
        "cumulative" => {
            let f = cx.fields(node, &ctx, &["metric", "window", "to_date"])?;
            let metric = required_metric(
                cx,
                &f,
                "metric",
                &ctx,
                "add `metric: <metric to accumulate>`",
            );
            let window = f.get("window").and_then(|n| cx.duration(n, "window"));
            let to_date = f
                .get("to_date")
                .and_then(|n| cx.keyword(n, "to_date", Grain::ALL, Grain::parse));
            if let (Some(w), Some(t)) = (&window, &to_date) {
                cx.report(
                    Diagnostic::new(Code::ConflictingKinds, "a cumulative metric has both `window` and `to_date`")
                        .at(t.span, "`to_date` here")
                        .with_secondary(w.span, "`window` here")
                        .with_help("keep `window` for a trailing total or `to_date` for a period-to-date total"),
                );
            }
            Some(MetricKind::Cumulative {
                metric: metric?,
                window,
                to_date,
            })
        }
        "funnel" => funnel(cx, node, &ctx).map(MetricKind::Funnel),
        "time_between" => {
            let f = cx.fields(node, &ctx, &["from", "to", "statistic", "unit", "within"])?;
            let from = required(
                cx,
                &f,
                "from",
                &ctx,
                "add `from: <predicate of the first event>`",
                |cx, n| cx.expr(n, "from"),
            );
            let to = required(
                cx,
                &f,
                "to",
                &ctx,
                "add `to: <predicate of the second event>`",
                |cx, n| cx.expr(n, "to"),
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
        "active" => {
            let f = cx.fields(node, &ctx, &["window", "calendar"])?;
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
                        .with_help(
                            "`window: 7d` is a trailing window; `calendar: week` the calendar week",
                        ),
                    );
                    return None;
                }
                (None, None) => {
                    cx.missing(
                        &f,
                        "window",
                        &ctx,
                        "add `window: 7d` (trailing) or `calendar: week`",
                    );
                    return None;
                }
            };
            Some(MetricKind::Active { window })
        }
        "retention" => retention(cx, node, &ctx).map(MetricKind::Retention),
        "churn" => {
            let f = cx.fields(node, &ctx, &["window", "value"])?;
            let window = required(cx, &f, "window", &ctx, "add `window: 30d`", |cx, n| {
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
        "cohort" => cohort(cx, node, &ctx).map(MetricKind::Cohort),
        _ => unreachable!("KIND_KEYS and metric_kind agree"),
    }
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
    let keys = [
        "cohort",
        "return",
        "period",
        "periods",
        "cohort_type",
        "match",
        "anchor",
    ];
    let f = cx.fields(node, ctx, &keys)?;
    let cohort = required(
        cx,
        &f,
        "cohort",
        ctx,
        "add `cohort: <predicate of the cohort event>`",
        |cx, n| cx.expr(n, "cohort"),
    );
    let returning = required(
        cx,
        &f,
        "return",
        ctx,
        "add `return: <predicate of a returning event>`",
        |cx, n| cx.expr(n, "return"),
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
    })
}

fn cohort(cx: &mut Cx, node: &Node, ctx: &str) -> Option<CohortDef> {
    let keys = [
        "metric",
        "source",
        "event",
        "period",
        "periods",
        "per_entity",
        "cumulative",
    ];
    let f = cx.fields(node, ctx, &keys)?;
    let metric = required_metric(
        cx,
        &f,
        "metric",
        ctx,
        "add `metric: <metric to follow by cohort>`",
    );
    let cohort_source = f.get("source").and_then(|n| cx.name(n, "source name"));
    let event = required(
        cx,
        &f,
        "event",
        ctx,
        "add `event: <predicate of the cohort event>`",
        |cx, n| cx.expr(n, "event"),
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

fn funnel(cx: &mut Cx, node: &Node, ctx: &str) -> Option<Funnel> {
    let keys = [
        "steps",
        "within",
        "order",
        "reuse_events",
        "exclude",
        "hold_constant",
        "attribution",
        "value",
    ];
    let f = cx.fields(node, ctx, &keys)?;
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
        "add `within: 14d`, the conversion window",
        |cx, n| cx.duration(n, "within"),
    );
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
    let exclude = f
        .get("exclude")
        .map(|n| exclusions(cx, n))
        .unwrap_or_default();
    let hold_constant = f
        .get("hold_constant")
        .map(|n| cx.names(n, "column"))
        .unwrap_or_default();
    // `first_step`, `last_step`, or `{ step: <name> }`.
    let mut attribution_step = None;
    let attribution = match f.get("attribution") {
        Some(n) if matches!(n.kind, NodeKind::Map(_)) => {
            if let Some(a) = cx.fields(n, "attribution", &["step"]) {
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
        exclude,
        hold_constant,
        attribution,
        attribution_step,
        value: value?,
    })
}

/// `- name: predicate` or `- name: {where: predicate, within: 1d}`.
fn steps(cx: &mut Cx, node: &Node) -> Option<Vec<Step>> {
    let NodeKind::Seq(items) = &node.kind else {
        cx.report(
            Diagnostic::new(Code::WrongYamlType, "funnel steps must be a list")
                .at(node.span, format!("found {}", node.shape()))
                .with_help("write each step as `- name: predicate`"),
        );
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let NodeKind::Map(pairs) = &item.kind else {
            cx.report(
                Diagnostic::new(
                    Code::WrongYamlType,
                    "a funnel step must be `name: predicate`",
                )
                .at(item.span, format!("found {}", item.shape()))
                .with_help("write the step as `- signup: event = 'signup'`"),
            );
            continue;
        };
        if pairs.len() != 1 {
            cx.report(
                Diagnostic::new(
                    Code::WrongYamlType,
                    "a funnel step must have exactly one name",
                )
                .at(item.span, format!("{} keys in this step", pairs.len()))
                .with_help("start each step with its own `-`"),
            );
            continue;
        }
        let (k, v) = &pairs[0];
        let Some(name) = cx.name(k, "step name") else {
            continue;
        };
        let (predicate, within) = match &v.kind {
            NodeKind::Map(_) => {
                let Some(sf) = cx.fields(v, "a funnel step", &["where", "within"]) else {
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
        let Some(f) = cx.fields(item, "an exclusion", &["event", "between"]) else {
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
