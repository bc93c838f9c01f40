//! resolve: `funnel` metrics, ordered steps per entity within a conversion
//! window; a step table, or one number (entered, converted, rate).

use super::{Description, Input, Reads, Shape, TableShape, Text};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, suggestion_help};
use crate::semantic::expr::{Checker, unknown_column};
use crate::syntax::ast::{self, Duration, Expr, FunnelOrder, FunnelValue, Name};

/// The YAML key of the kind.
pub const KEY: &str = "funnel";

/// The most steps, and the most exclusions, the funnel engine takes.
pub const MAX_STEPS: usize = 32;

/// A resolved funnel: step references are indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Funnel {
    pub source: String,
    pub steps: Vec<Step>,
    pub within: Duration,
    pub order: FunnelOrder,
    /// Whether one event may satisfy two consecutive steps.
    pub reuse_events: bool,
    /// Each step's event must be strictly later than the step before's.
    pub strict_increase: bool,
    /// A step event repeating a step already reached ends the scan.
    pub strict_deduplication: bool,
    /// The windows' far edge is exclusive (MetricFlow's), not inclusive.
    pub edge_exclusive: bool,
    /// Of the attempts reaching the most steps, the first to reach it
    /// counts (PostHog's), not the latest start.
    pub first_complete: bool,
    /// An exclusion seen by the attempt that counts drops the entity from
    /// the period (PostHog's), not only that attempt.
    pub exclude_entity: bool,
    /// The bins of `value: time_to_convert`.
    pub time_to_convert: Option<Bins>,
    pub exclude: Vec<Exclusion>,
    pub hold_constant: Vec<String>,
    pub attribution: Attribution,
    pub value: FunnelValue,
}

/// Time-to-convert bins: the time from step `from` to step `to` (0-based),
/// in bins with upper edges `edges` and a last one without.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    pub from: usize,
    pub to: usize,
    pub edges: Vec<Duration>,
}

/// One step: a name and a row predicate, optionally its own window.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub predicate: Expr,
    pub within: Option<Duration>,
}

/// Events that disqualify an attempt between steps `after` and `before`
/// (0-based, `after < before`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exclusion {
    pub predicate: Expr,
    pub after: usize,
    pub before: usize,
}

/// Which step's event gives a breakdown value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Attribution {
    FirstStep,
    LastStep,
    /// The event of this step (0-based); null when not reached.
    Step(usize),
}

/// The columns of a step table.
pub const STEP_COLUMNS: &[&str] = &[
    "step",
    "step_name",
    "entities",
    "conversion_from_previous",
    "conversion_from_first",
    "avg_hours_from_previous",
    "median_hours_from_previous",
    "p90_hours_from_previous",
    "median_hours_from_first",
];

/// The columns of a time-to-convert table.
pub const BIN_COLUMNS: &[&str] = &["bin", "from", "to", "entities", "share"];

/// Bins of `value: time_to_convert` when `time_to_convert.bins` is not given.
pub const DEFAULT_BINS: &[&str] = &["1m", "10m", "1h", "6h", "1d", "3d", "7d"];

pub(super) fn shape(f: &ast::Funnel, name: &str) -> Shape {
    let table = match f.value.value {
        FunnelValue::Steps => Some(TableShape {
            title: format!("funnel {name}, step by step"),
            columns: STEP_COLUMNS.iter().map(|c| c.to_string()).collect(),
            keys: vec!["step".into(), "step_name".into()],
            what: "a funnel table (one row per step)",
        }),
        FunnelValue::TimeToConvert => Some(TableShape {
            title: format!("funnel {name}, time to convert"),
            columns: BIN_COLUMNS.iter().map(|c| c.to_string()).collect(),
            keys: vec!["bin".into()],
            what: "a time-to-convert table (one row per bin)",
        }),
        FunnelValue::Converted | FunnelValue::ConversionRate | FunnelValue::Entered => None,
    };
    Shape {
        key: KEY,
        reads: Reads::Source,
        needs_entity: true,
        takes_occurrence: false,
        column: table.is_none(),
        table,
        sql: false,
    }
}

pub(super) fn resolve(input: &Input, f: &ast::Funnel, diags: &mut Diagnostics) -> Option<Funnel> {
    let def = input.def;
    let row = input.row();
    if f.steps.len() < 2 {
        diags.push(
            Diagnostic::new(
                Code::TooFewSteps,
                format!(
                    "funnel `{}` has {} step{}",
                    def.name.value,
                    f.steps.len(),
                    if f.steps.len() == 1 { "" } else { "s" }
                ),
            )
            .at(def.kind_span, "a funnel needs at least two steps")
            .with_help(match f.steps.first() {
                // What ClickHouse's `windowFunnel` gives for one condition
                // (level 1 for any entity with a matching row) is a count
                // of distinct entities.
                Some(step) => format!(
                    "add the step that converts; to count the entities with a `{}` event, make its predicate the metric's `filter:` and write `measure: count_distinct({})`",
                    step.name.value,
                    input
                        .src
                        .and_then(|s| s.def.entity.as_ref())
                        .map_or("<entity>", |e| e.value.as_str())
                ),
                None => "add `steps:` with at least two `name: predicate` entries".to_string(),
            }),
        );
    }
    let mut seen: Vec<&Name> = Vec::new();
    for step in &f.steps {
        if let Some(first) = seen.iter().find(|n| n.value == step.name.value) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateDefinition,
                    format!("step `{}` appears twice", step.name.value),
                )
                .at(step.name.span, "named again here")
                .with_secondary(first.span, "first named here")
                .with_help("give each step its own name"),
            );
        }
        seen.push(&step.name);
        Checker::new(diags, row).predicate(&step.predicate, "a funnel step");
    }
    let step_names: Vec<&str> = f.steps.iter().map(|s| s.name.value.as_str()).collect();
    let step_index = |n: &Name, diags: &mut Diagnostics| {
        let i = step_names.iter().position(|s| *s == n.value);
        if i.is_none() {
            diags.push(
                Diagnostic::new(Code::UnknownStep, format!("unknown step `{}`", n.value))
                    .at(n.span, "no step of this funnel has this name")
                    .with_help(suggestion_help(
                        &n.value,
                        "steps",
                        step_names.iter().copied(),
                    )),
            );
        }
        i
    };
    let conflict = |what: String, span, label: &str, help: &str| {
        Diagnostic::new(Code::FunnelSettingsConflict, what)
            .at(span, label.to_string())
            .with_help(help.to_string())
    };
    // ClickHouse's scan (`strict_order`, `strict_deduplication`) has one
    // window, no exclusions, and takes a row matching several steps as
    // several events.
    let dedup = f.strict_deduplication.as_ref().filter(|s| s.value);
    let clickhouse = f.order.value == FunnelOrder::StrictOrder || dedup.is_some();
    if clickhouse {
        let mode = if f.order.value == FunnelOrder::StrictOrder {
            "`order: strict_order`"
        } else {
            "`strict_deduplication`"
        };
        if f.order.value == FunnelOrder::Any {
            diags.push(conflict(
                "`strict_deduplication` needs ordered steps".into(),
                dedup.map_or(f.order.span, |d| d.span),
                "an `order: any` funnel has no step before another",
                "use `order: ordered` or `order: strict_order`",
            ));
        }
        if f.order.value == FunnelOrder::Strict {
            diags.push(conflict(
                "`strict_deduplication` runs ClickHouse's scan, which has no `order: strict`".into(),
                dedup.map_or(f.order.span, |d| d.span),
                "PostHog's strict order and ClickHouse's deduplication do not go together",
                "use `order: strict_order` (ClickHouse's strict order) with it, or drop `strict_deduplication`",
            ));
        }
        for x in &f.exclude {
            diags.push(conflict(
                format!("{mode} takes no exclusions"),
                x.after.span,
                "ClickHouse's windowFunnel scan has no exclusions",
                "use `order: ordered` or `strict` for exclusions, or filter the events out with the metric's `filter`",
            ));
        }
        for step in &f.steps {
            if let Some(w) = &step.within {
                diags.push(conflict(
                    format!("{mode} takes no step windows"),
                    w.span,
                    "ClickHouse's windowFunnel has one window, from step 1",
                    "drop the step's `within` (the funnel's `within` applies), or use `order: ordered`",
                ));
            }
        }
        if let Some(b) = f
            .best_attempt
            .as_ref()
            .filter(|b| b.value == ast::BestAttempt::FirstComplete)
        {
            diags.push(conflict(
                format!("{mode} keeps one chain per level, not attempts"),
                b.span,
                "ClickHouse's scan has no choice of attempt",
                "drop `best_attempt`, or use `order: ordered` or `strict`",
            ));
        }
        if let Some(r) = f.reuse_events.as_ref().filter(|r| !r.value) {
            diags.push(conflict(
                format!("{mode} cannot take `reuse_events: false` (ClickHouse's `strict_once`)"),
                r.span,
                "metricc's ClickHouse scan takes a row matching several steps as one event per step",
                "drop `reuse_events` (ClickHouse's default); ClickHouse's `strict_once` alone is metricc's `order: ordered` without `reuse_events`, and is not available with these modes",
            ));
        }
    }
    if f.order.value == FunnelOrder::Any {
        if let Some(s) = f.strict_increase.as_ref().filter(|s| s.value) {
            diags.push(conflict(
                "`strict_increase` needs ordered steps".into(),
                s.span,
                "an `order: any` funnel has no step before another",
                "use `order: ordered` (or `strict`), or drop `strict_increase`",
            ));
        }
        for x in &f.exclude {
            diags.push(conflict(
                "exclusions need ordered steps".into(),
                x.after.span,
                "an `order: any` funnel has no steps in between",
                "use `order: ordered`, or filter the excluded events out with the metric's `filter` (PostHog resets an unordered funnel's steps at an exclusion; metricc has no such rule)",
            ));
        }
        for step in &f.steps {
            if let Some(w) = &step.within {
                diags.push(conflict(
                    "a step window needs ordered steps".into(),
                    w.span,
                    "an `order: any` funnel has no step before this one",
                    "use `order: ordered`, or drop the step's `within` (the funnel's `within` still applies)",
                ));
            }
        }
    }
    if f.steps.len() > MAX_STEPS {
        diags.push(conflict(
            format!("funnel `{}` has {} steps", def.name.value, f.steps.len()),
            def.kind_span,
            "the funnel engine takes at most 32 steps",
            "split the funnel in two",
        ));
    }
    if f.exclude.len() > MAX_STEPS {
        diags.push(conflict(
            format!(
                "funnel `{}` has {} exclusions",
                def.name.value,
                f.exclude.len()
            ),
            def.kind_span,
            "the funnel engine takes at most 32 exclusions",
            "combine exclusions with `or` in one predicate",
        ));
    }
    let bins = match (&f.time_to_convert, f.value.value) {
        (t, FunnelValue::TimeToConvert) => {
            let last = f.steps.len().saturating_sub(1);
            let from = t
                .as_ref()
                .and_then(|t| t.from.as_ref())
                .map(|s| step_index(s, diags));
            let to = t
                .as_ref()
                .and_then(|t| t.to.as_ref())
                .map(|s| step_index(s, diags));
            let (from, to) = (from.unwrap_or(Some(0)), to.unwrap_or(Some(last)));
            let edges: Vec<Duration> = match t {
                Some(t) if !t.bins.is_empty() => {
                    for w in t.bins.windows(2) {
                        if w[1].value.millis <= w[0].value.millis {
                            diags.push(conflict(
                                "time-to-convert bins must increase".into(),
                                w[1].span,
                                "not longer than the edge before it",
                                "list the bins' upper edges in increasing order, e.g. `[1h, 1d, 7d]`",
                            ));
                        }
                    }
                    t.bins.iter().map(|b| b.value.clone()).collect()
                }
                _ => DEFAULT_BINS
                    .iter()
                    .filter_map(|b| crate::syntax::expr::parse_duration(b))
                    .collect(),
            };
            match (from, to) {
                (Some(a), Some(b)) if a < b => Some(Bins {
                    from: a,
                    to: b,
                    edges,
                }),
                (Some(_), Some(_)) => {
                    diags.push(conflict(
                        "time to convert runs from a step to a later one".into(),
                        t.as_ref().map_or(f.value.span, |t| t.span),
                        "`to` does not come after `from`",
                        "name an earlier step in `from` and a later one in `to`",
                    ));
                    None
                }
                _ => None,
            }
        }
        (Some(t), _) => {
            diags.push(conflict(
                "`time_to_convert` sets the bins of `value: time_to_convert`".into(),
                t.span,
                "this funnel gives another value",
                "add `value: time_to_convert`, or remove `time_to_convert`",
            ));
            None
        }
        (None, _) => None,
    };
    if f.value.value == FunnelValue::TimeToConvert && f.order.value == FunnelOrder::Any {
        diags.push(conflict(
            "time to convert needs ordered steps".into(),
            f.value.span,
            "an `order: any` funnel reaches its steps in any order",
            "use `order: ordered` or `strict`, or another `value`",
        ));
        return None;
    }
    if f.value.value == FunnelValue::TimeToConvert && bins.is_none() {
        return None;
    }
    let attribution_step = f.attribution_step.as_ref().map(|s| step_index(s, diags));
    let mut exclude = Vec::new();
    let mut resolved = true;
    for x in &f.exclude {
        Checker::new(diags, row).predicate(&x.predicate, "an exclusion");
        let a = step_index(&x.after, diags);
        let b = step_index(&x.before, diags);
        match (a, b) {
            (Some(a), Some(b)) if a >= b => {
                resolved = false;
                diags.push(
                    Diagnostic::new(Code::UnknownStep, "exclusion steps are out of order")
                        .at(
                            x.before.span,
                            format!(
                                "`{}` does not come after `{}`",
                                x.before.value, x.after.value
                            ),
                        )
                        .with_help(format!(
                            "write `between: [{}, {}]`",
                            x.before.value, x.after.value
                        )),
                );
            }
            (Some(after), Some(before)) => exclude.push(Exclusion {
                predicate: x.predicate.clone(),
                after,
                before,
            }),
            _ => resolved = false,
        }
    }
    if let Some(s) = input.src {
        for col in &f.hold_constant {
            if let Some(schema) = &s.schema
                && schema.column(&col.value).is_none()
            {
                diags.push(unknown_column(
                    &col.value,
                    col.span,
                    &s.def.name.value,
                    schema,
                ));
            }
        }
    }
    let attribution = match (attribution_step, f.attribution.as_ref().map(|a| a.value)) {
        (Some(Some(i)), _) => Attribution::Step(i),
        (Some(None), _) => return None,
        (None, None | Some(ast::Attribution::FirstStep)) => Attribution::FirstStep,
        (None, Some(ast::Attribution::LastStep)) => Attribution::LastStep,
    };
    if !resolved {
        return None;
    }
    Some(Funnel {
        source: input.src?.def.name.value.clone(),
        steps: f
            .steps
            .iter()
            .map(|s| Step {
                name: s.name.value.clone(),
                predicate: s.predicate.clone(),
                within: s.within.as_ref().map(|w| w.value.clone()),
            })
            .collect(),
        within: f.within.value.clone(),
        order: f.order.value,
        // ClickHouse's modes take a row matching several steps as several
        // events, as `reuse_events: true` does.
        reuse_events: f.reuse_events.as_ref().map_or(clickhouse, |r| r.value),
        strict_increase: f.strict_increase.as_ref().is_some_and(|r| r.value),
        strict_deduplication: f.strict_deduplication.as_ref().is_some_and(|r| r.value),
        time_to_convert: bins,
        exclude_entity: f
            .exclude_scope
            .as_ref()
            .is_some_and(|e| e.value == ast::ExcludeScope::Entity),
        first_complete: f
            .best_attempt
            .as_ref()
            .is_some_and(|b| b.value == ast::BestAttempt::FirstComplete),
        edge_exclusive: f
            .window_edge
            .as_ref()
            .is_some_and(|e| e.value == ast::WindowEdge::Exclusive),
        exclude,
        hold_constant: f.hold_constant.iter().map(|h| h.value.clone()).collect(),
        attribution,
        value: f.value.value,
    })
}

impl Funnel {
    pub(super) fn describe(&self, text: Text, d: &mut Description) {
        for (i, step) in self.steps.iter().enumerate() {
            // `step 10` and later keep the four spaces of the others.
            d.lines.push(format!(
                "  step {}    {}: {}{}",
                i + 1,
                step.name,
                text(step.predicate.span),
                step.within
                    .as_ref()
                    .map(|w| format!(" (within {} of the step before)", w.text))
                    .unwrap_or_default()
            ));
        }
        let order = match self.order {
            FunnelOrder::Ordered => {
                "ordered: each step is the first matching event after the step before; other events may come between"
            }
            FunnelOrder::Strict => {
                "strict: each step must be the very next event of the entity (after the filter); any other event ends the attempt"
            }
            FunnelOrder::StrictOrder => {
                "strict_order (ClickHouse's windowFunnel): one scan per entity and entry bucket from its first step-1 event; after it, an event matching no step, or a step whose step before was not reached, ends the scan; repeated steps are allowed; each step-1 event restarts step 1"
            }
            FunnelOrder::Any => {
                "any: an attempt starts at any step's event; it reaches level k when k distinct steps happened in its window"
            }
        };
        d.line("order", order);
        let edge = if self.edge_exclusive {
            "edge exclusive (a step exactly that long after is out, as in MetricFlow)"
        } else {
            "edge inclusive (as in ClickHouse and PostHog)"
        };
        d.line(
            "window",
            if self.within.millis == i64::MAX {
                "unbounded: any later step counts; the range bounds where attempts start".to_string()
            } else {
                format!(
                    "{} from the attempt's first event, {edge}; the range bounds where attempts start, not where they end",
                    self.within.text
                )
            },
        );
        d.line(
            "attempts",
            format!(
                "one per step-1 event; per entity and entry bucket the best counts: the most steps, then {}; ties at one instant take lower steps first; {}",
                if self.first_complete {
                    "the first to reach them (best_attempt: first_complete, PostHog's), then the latest start"
                } else {
                    "the latest start"
                },
                if self.reuse_events {
                    "one event may satisfy consecutive steps (reuse_events)"
                } else {
                    "each event satisfies at most one step"
                }
            ),
        );
        if self.strict_deduplication {
            d.line(
                "dedup",
                "strict_deduplication (ClickHouse's): an event of a step after step 1 that was already reached ends the scan at the level reached",
            );
        }
        if self.strict_increase {
            d.line(
                "increase",
                "strict_increase: each step's event must be strictly later than the step before's; events at one instant never chain",
            );
        }
        let scope = if self.exclude_entity {
            "drops the entity from the bucket when that attempt is the one that counts (exclude_scope: entity, PostHog's)"
        } else {
            "disqualifies the attempt; the entity's other attempts still count"
        };
        for x in &self.exclude {
            d.line(
                "exclude",
                format!(
                    "{} after `{}` and before `{}` {scope}",
                    text(x.predicate.span),
                    self.steps[x.after].name,
                    self.steps[x.before].name
                ),
            );
        }
        if !self.hold_constant.is_empty() {
            d.line(
                "hold",
                format!(
                    "{}: the funnel runs separately per value (null is a value); the best attempt over them counts",
                    self.hold_constant.join(", ")
                ),
            );
        }
        let attribution = match self.attribution {
            Attribution::Step(s) => {
                format!(
                    "the event of step `{}` (null when not reached)",
                    self.steps[s].name
                )
            }
            Attribution::LastStep => "the event of the last step reached".into(),
            Attribution::FirstStep => "the step-1 event".into(),
        };
        d.line("breakdown", format!("values come from {attribution}"));
        let value = match self.value {
            FunnelValue::Steps => {
                "a step table: entities reaching each step, conversion from the step before and from step 1, hours between steps"
            }
            FunnelValue::TimeToConvert => {
                let b = self.time_to_convert.as_ref();
                let edges = b.map_or(String::new(), |b| {
                    b.edges
                        .iter()
                        .map(|e| e.text.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                let (from, to) = b.map_or((0, 0), |b| (b.from, b.to));
                return d.line(
                    "value",
                    format!(
                        "a time-to-convert table: entities whose counted attempt reached `{}`, by the time from `{}` in bins up to {edges} and a last bin beyond; share = entities / all of them",
                        self.steps[to].name, self.steps[from].name
                    ),
                );
            }
            FunnelValue::Entered => "entities that entered (reached step 1)",
            FunnelValue::Converted => "entities that reached the last step",
            FunnelValue::ConversionRate => {
                "entities that reached the last step / entities that entered; null when none entered"
            }
        };
        d.line("value", value);
    }
}
