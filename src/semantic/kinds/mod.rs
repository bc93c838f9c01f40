//! resolve: the metric kinds. One module per kind holds everything the
//! front end knows about it: its resolved type, its [`Shape`] (the facts
//! later stages ask about), its checks, and how `explain` words it.
//!
//! Every `match` over [`Kind`] or `ast::MetricKind` is exhaustive and lives
//! in a dispatch function here or in `lower::kinds`: a new kind added to the
//! enums makes the compiler list each place that must handle it.

pub mod active;
pub mod churn;
pub mod cohort;
pub mod conversion;
pub mod cumulative;
pub mod formula;
pub mod funnel;
pub mod measure;
pub mod period_over_period;
pub mod ratio;
pub mod retention;
pub mod sequence;
pub mod time_between;

use super::SourceInfo;
use super::expr::Scope;
use super::types::SourceSchema;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, suggestion_help};
use crate::span::Span;
use crate::syntax::ast::{self, MetricDef, Name};
use std::collections::HashMap;

/// A resolved metric kind: names bound, options defaulted, durations in
/// milliseconds, step and metric references checked.
#[derive(Debug, Clone)]
pub enum Kind {
    Measure(measure::Measure),
    Ratio(ratio::Ratio),
    Formula(formula::Formula),
    Cumulative(cumulative::Cumulative),
    Funnel(funnel::Funnel),
    TimeBetween(time_between::TimeBetween),
    Active(active::Active),
    Retention(retention::Retention),
    Churn(churn::Churn),
    Cohort(cohort::Cohort),
    PeriodOverPeriod(period_over_period::PeriodOverPeriod),
    Conversion(conversion::Conversion),
    Sequence(sequence::Sequence),
}

/// What a metric kind is, stated once per kind: the facts every stage after
/// parsing asks about.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The YAML key that introduces the kind.
    pub key: &'static str,
    /// Where its rows come from.
    pub reads: Reads,
    /// Follows entities over time, so its source needs an `entity`.
    pub needs_entity: bool,
    /// May count only each entity's first or last row (`occurrence`).
    pub takes_occurrence: bool,
    /// Gives one number per bucket and breakdown: a column of the metrics
    /// table, usable by ratios and formulas.
    pub column: bool,
    /// Gives a table of its own as well (or instead).
    pub table: Option<TableShape>,
    /// `explain --sql` can write it as portable SQL: computed by DataFusion's
    /// own operators, not by one of metricc's per-entity engines.
    pub sql: bool,
}

/// Where a kind's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// The rows of its own `source`, which it must name.
    Source,
    /// Other metrics only; `source:` is an error.
    Metrics,
    /// Another metric, and events of a source (the metric's `source:` or one
    /// named inside the kind).
    MetricAndEvents,
}

/// A table a metric gives of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct TableShape {
    /// The table's heading in output: "funnel onboarding, step by step".
    pub title: String,
    /// Its fixed columns, which a breakdown may not reuse.
    pub columns: Vec<String>,
    /// Those of its columns that, with the breakdown, say which row is
    /// which (what `metricc test` matches expected rows on).
    pub keys: Vec<String>,
    /// What it is, for the diagnostic of a metric that uses it as a number.
    pub what: &'static str,
}

/// What the kind modules need while resolving: every definition by name and
/// every source.
pub(crate) struct Cx<'a> {
    pub defs: &'a [&'a MetricDef],
    pub index: &'a HashMap<&'a str, usize>,
    pub sources: &'a [SourceInfo<'a>],
}

impl<'a> Cx<'a> {
    /// The definition of metric `name`, if there is one.
    pub fn def(&self, name: &str) -> Option<&'a MetricDef> {
        self.index.get(name).map(|&i| self.defs[i])
    }

    /// The source named `name`, or a diagnostic that there is none.
    pub fn source(&self, name: &Name, diags: &mut Diagnostics) -> Option<&'a SourceInfo<'a>> {
        let found = self.sources.iter().find(|s| s.def.name.value == name.value);
        if found.is_none() {
            diags.push(
                Diagnostic::new(
                    Code::UnknownSource,
                    format!("unknown source `{}`", name.value),
                )
                .at(name.span, "no source has this name")
                .with_help(suggestion_help(
                    &name.value,
                    "sources",
                    self.sources.iter().map(|s| s.def.name.value.as_str()),
                )),
            );
        }
        found
    }

    /// Reports that `def` follows entities on a source without `entity`.
    pub fn entity_required(&self, src: &SourceInfo, def: &MetricDef, diags: &mut Diagnostics) {
        if src.def.entity.is_some() {
            return;
        }
        let key = def.kind.key();
        diags.push(
            Diagnostic::new(
                Code::EntityRequired,
                format!(
                    "`{key}` follows entities, but source `{}` has no `entity`",
                    src.def.name.value
                ),
            )
            .at(def.kind_span, format!("a {key} metric counts per entity"))
            .with_secondary(src.def.name.span, "source defined here")
            .with_help("add `entity: <column>` (who did it, e.g. `developer_id`) to the source"),
        );
    }
}

/// One metric's definition during resolution.
pub(crate) struct Input<'a> {
    pub def: &'a MetricDef,
    /// Its `source:`, when it names a known one.
    pub src: Option<&'a SourceInfo<'a>>,
}

impl<'a> Input<'a> {
    /// The row scope of `src`: names are its columns.
    pub fn row(&self) -> Scope<'a> {
        row_scope(self.src)
    }
}

/// The row scope of a source; names resolve nowhere when it is unknown.
pub(crate) fn row_scope<'a>(src: Option<&'a SourceInfo<'a>>) -> Scope<'a> {
    let (source, schema) = scope_parts(src);
    Scope::Row { source, schema }
}

/// Source name and schema for a scope; empty when the source is unknown.
pub(crate) fn scope_parts<'a>(
    src: Option<&'a SourceInfo<'a>>,
) -> (&'a str, Option<&'a SourceSchema>) {
    src.map_or(("", None), |s| {
        (s.def.name.value.as_str(), s.schema.as_ref())
    })
}

/// What resolving one kind gave.
pub(crate) struct Resolved<'a> {
    /// `None` when an error was reported.
    pub kind: Option<Kind>,
    /// The metrics it names, in order.
    pub refs: Vec<Name>,
    /// The source its breakdown values come from when it is not the one it
    /// reads (a cohort's event source).
    pub dimension_source: Option<&'a SourceInfo<'a>>,
    /// A source it reads besides its own whose rows neither its filter nor
    /// its breakdown reach (a conversion's events of another source).
    pub also_reads: Option<&'a SourceInfo<'a>>,
    /// The type of its value when that may be other than a number (a
    /// measure such as `max(event)` gives text); metrics built on it need a
    /// number.
    pub value_type: Option<crate::semantic::types::Type>,
}

impl<'a> Resolved<'a> {
    fn of(kind: Option<Kind>) -> Self {
        Resolved {
            kind,
            refs: Vec::new(),
            dimension_source: None,
            also_reads: None,
            value_type: None,
        }
    }
}

/// The shape of a definition's kind.
pub(crate) fn shape(def: &MetricDef) -> Shape {
    let name = def.name.value.as_str();
    match &def.kind {
        ast::MetricKind::Aggregate { .. } => measure::shape(def),
        ast::MetricKind::Ratio { .. } => ratio::shape(),
        ast::MetricKind::Formula { .. } => formula::shape(),
        ast::MetricKind::Cumulative { .. } => cumulative::shape(),
        ast::MetricKind::Funnel(f) => funnel::shape(f, name),
        ast::MetricKind::TimeBetween { .. } => time_between::shape(),
        ast::MetricKind::Active { .. } => active::shape(),
        ast::MetricKind::Retention(r) => retention::shape(r, name),
        ast::MetricKind::Churn { .. } => churn::shape(),
        ast::MetricKind::Cohort(_) => cohort::shape(name),
        ast::MetricKind::PeriodOverPeriod { .. } => period_over_period::shape(),
        ast::MetricKind::Conversion(_) => conversion::shape(),
        ast::MetricKind::Sequence(_) => sequence::shape(),
    }
}

/// Checks the kind of one definition and resolves it.
pub(crate) fn resolve<'a>(cx: &Cx<'a>, input: &Input<'a>, diags: &mut Diagnostics) -> Resolved<'a> {
    match &input.def.kind {
        ast::MetricKind::Aggregate { measure } => {
            let (resolved, ty) = measure::resolve(input, measure, diags);
            Resolved {
                value_type: Some(ty),
                ..Resolved::of(resolved.map(Kind::Measure))
            }
        }
        ast::MetricKind::Ratio {
            numerator,
            denominator,
        } => ratio::resolve(cx, numerator, denominator, diags),
        ast::MetricKind::Formula { expr } => formula::resolve(cx, expr, diags),
        ast::MetricKind::Cumulative {
            metric,
            window,
            to_date,
        } => cumulative::resolve(cx, metric, window, to_date, diags),
        ast::MetricKind::Funnel(f) => {
            Resolved::of(funnel::resolve(input, f, diags).map(Kind::Funnel))
        }
        ast::MetricKind::TimeBetween {
            from,
            to,
            statistic,
            unit,
            within,
        } => Resolved::of(
            time_between::resolve(input, from, to, statistic, unit, within, diags)
                .map(Kind::TimeBetween),
        ),
        ast::MetricKind::Active { window } => {
            Resolved::of(active::resolve(input, window).map(Kind::Active))
        }
        ast::MetricKind::Retention(r) => {
            Resolved::of(retention::resolve(input, r, diags).map(Kind::Retention))
        }
        ast::MetricKind::Churn { window, value } => {
            Resolved::of(churn::resolve(input, window, value).map(Kind::Churn))
        }
        ast::MetricKind::Cohort(c) => cohort::resolve(cx, input, c, diags),
        ast::MetricKind::PeriodOverPeriod {
            metric,
            offset,
            value,
        } => period_over_period::resolve(cx, metric, offset, value, diags),
        ast::MetricKind::Conversion(c) => conversion::resolve(cx, input, c, diags),
        ast::MetricKind::Sequence(q) => {
            Resolved::of(sequence::resolve(input, q, diags).map(Kind::Sequence))
        }
    }
}

/// Whether `def` may use a metric of shape `target` named `name`; the
/// problem in words when it may not. Using a table as a number is checked
/// for every kind by the caller.
pub(crate) fn accepts(def: &MetricDef, target: &Shape, name: &str) -> Option<String> {
    match &def.kind {
        ast::MetricKind::Cumulative { .. } => cumulative::accepts(target, name),
        ast::MetricKind::Cohort(_) => cohort::accepts(target, name),
        ast::MetricKind::Aggregate { .. }
        | ast::MetricKind::Ratio { .. }
        | ast::MetricKind::Formula { .. }
        | ast::MetricKind::Funnel(_)
        | ast::MetricKind::TimeBetween { .. }
        | ast::MetricKind::Active { .. }
        | ast::MetricKind::Retention(_)
        | ast::MetricKind::Churn { .. }
        | ast::MetricKind::Conversion(_)
        | ast::MetricKind::Sequence(_)
        | ast::MetricKind::PeriodOverPeriod { .. } => None,
    }
}

/// The sources a definition names: its `source:` and any inside its kind.
pub(crate) fn sources_named(def: &MetricDef) -> Vec<&Name> {
    let inside = match &def.kind {
        ast::MetricKind::Cohort(c) => c.cohort_source.as_ref(),
        ast::MetricKind::Conversion(c) => c.conversion.source.as_ref(),
        ast::MetricKind::Aggregate { .. }
        | ast::MetricKind::Ratio { .. }
        | ast::MetricKind::Formula { .. }
        | ast::MetricKind::Cumulative { .. }
        | ast::MetricKind::Funnel(_)
        | ast::MetricKind::TimeBetween { .. }
        | ast::MetricKind::Active { .. }
        | ast::MetricKind::Retention(_)
        | ast::MetricKind::Churn { .. }
        | ast::MetricKind::Sequence(_)
        | ast::MetricKind::PeriodOverPeriod { .. } => None,
    };
    def.source.iter().chain(inside).collect()
}

/// Renames a definition's references: every metric name `metric` maps
/// (ratio terms, formula names, cumulative and cohort metrics) and every
/// source name `source` maps. `metricc diff` uses it to put a base
/// version's metrics beside the head's in one model, under other names.
pub fn rename_references(
    def: &mut MetricDef,
    metric: &dyn Fn(&str) -> Option<String>,
    source: &dyn Fn(&str) -> Option<String>,
) {
    let rename = |n: &mut Name, f: &dyn Fn(&str) -> Option<String>| {
        if let Some(new) = f(&n.value) {
            n.value = new;
        }
    };
    if let Some(s) = &mut def.source {
        rename(s, source);
    }
    match &mut def.kind {
        ast::MetricKind::Ratio {
            numerator,
            denominator,
        } => {
            rename(numerator, metric);
            rename(denominator, metric);
        }
        ast::MetricKind::Formula { expr } => rename_columns(expr, metric),
        ast::MetricKind::Cumulative { metric: m, .. }
        | ast::MetricKind::PeriodOverPeriod { metric: m, .. } => rename(m, metric),
        ast::MetricKind::Cohort(c) => {
            rename(&mut c.metric, metric);
            if let Some(s) = &mut c.cohort_source {
                rename(s, source);
            }
        }
        ast::MetricKind::Conversion(c) => {
            if let Some(s) = &mut c.conversion.source {
                rename(s, source);
            }
        }
        ast::MetricKind::Aggregate { .. }
        | ast::MetricKind::Funnel(_)
        | ast::MetricKind::TimeBetween { .. }
        | ast::MetricKind::Active { .. }
        | ast::MetricKind::Retention(_)
        | ast::MetricKind::Churn { .. }
        | ast::MetricKind::Sequence(_) => {}
    }
}

/// Renames the names of an expression (metrics, in a formula).
fn rename_columns(e: &mut ast::Expr, f: &dyn Fn(&str) -> Option<String>) {
    use ast::ExprKind as K;
    match &mut e.kind {
        K::Column(c) => {
            if let Some(new) = f(c) {
                *c = new;
            }
        }
        K::Literal(_) => {}
        K::Neg(x) | K::Not(x) => rename_columns(x, f),
        K::Binary { left, right, .. } => {
            rename_columns(left, f);
            rename_columns(right, f);
        }
        K::InList { expr, list, .. } => {
            rename_columns(expr, f);
            list.iter_mut().for_each(|x| rename_columns(x, f));
        }
        K::Between {
            expr, low, high, ..
        } => {
            rename_columns(expr, f);
            rename_columns(low, f);
            rename_columns(high, f);
        }
        K::IsNull { expr, .. } => rename_columns(expr, f),
        K::Like { expr, pattern, .. } => {
            rename_columns(expr, f);
            rename_columns(pattern, f);
        }
        K::Call { args, filter, .. } => {
            if let ast::CallArgs::Exprs(xs) = args {
                xs.iter_mut().for_each(|x| rename_columns(x, f));
            }
            if let Some(x) = filter {
                rename_columns(x, f);
            }
        }
    }
}

/// Records a reference to metric `name`, or reports that there is none.
pub(crate) fn metric_ref(
    cx: &Cx,
    name: &Name,
    diags: &mut Diagnostics,
    refs: &mut Vec<Name>,
) -> bool {
    if cx.index.contains_key(name.value.as_str()) {
        refs.push(name.clone());
        true
    } else {
        diags.push(crate::semantic::expr::unknown_metric(
            &name.value,
            name.span,
            cx.index.keys().copied(),
        ));
        false
    }
}

/// A referenced metric's definition must be a `measure`: its resolved form.
pub(crate) fn base_measure(cx: &Cx, name: &Name) -> Option<measure::Base> {
    let def = cx.def(&name.value)?;
    match &def.kind {
        ast::MetricKind::Aggregate { measure } => measure::base(def, measure),
        ast::MetricKind::Ratio { .. }
        | ast::MetricKind::Formula { .. }
        | ast::MetricKind::Cumulative { .. }
        | ast::MetricKind::Funnel(_)
        | ast::MetricKind::TimeBetween { .. }
        | ast::MetricKind::Active { .. }
        | ast::MetricKind::Retention(_)
        | ast::MetricKind::Churn { .. }
        | ast::MetricKind::Cohort(_)
        | ast::MetricKind::Conversion(_)
        | ast::MetricKind::Sequence(_)
        | ast::MetricKind::PeriodOverPeriod { .. } => None,
    }
}

/// Text of the user's files, for `explain`: the expression at a span, with
/// its white space folded.
pub type Text<'t> = &'t dyn Fn(Span) -> String;

/// A metric in words, as `explain` prints it: lines under the metric's name
/// (`label   text`), and lines after its source and filter.
#[derive(Debug, Default)]
pub struct Description {
    pub lines: Vec<String>,
    pub after: Vec<String>,
}

impl Description {
    /// Adds a line: a label padded to ten columns, then the text.
    pub fn line(&mut self, label: &str, text: impl std::fmt::Display) {
        self.lines.push(format!("  {label:<9} {text}"));
    }
}

impl Kind {
    /// The YAML key that introduces the kind.
    pub fn key(&self) -> &'static str {
        match self {
            Kind::Measure(_) => measure::KEY,
            Kind::Ratio(_) => ratio::KEY,
            Kind::Formula(_) => formula::KEY,
            Kind::Cumulative(_) => cumulative::KEY,
            Kind::Funnel(_) => funnel::KEY,
            Kind::TimeBetween(_) => time_between::KEY,
            Kind::Active(_) => active::KEY,
            Kind::Retention(_) => retention::KEY,
            Kind::Churn(_) => churn::KEY,
            Kind::Cohort(_) => cohort::KEY,
            Kind::PeriodOverPeriod(_) => period_over_period::KEY,
            Kind::Conversion(_) => conversion::KEY,
            Kind::Sequence(_) => sequence::KEY,
        }
    }

    /// The source whose rows it reads, for kinds that read one.
    pub fn source(&self) -> Option<&str> {
        match self {
            Kind::Measure(k) => Some(&k.source),
            Kind::Funnel(k) => Some(&k.source),
            Kind::TimeBetween(k) => Some(&k.source),
            Kind::Active(k) => Some(&k.source),
            Kind::Retention(k) => Some(&k.source),
            Kind::Churn(k) => Some(&k.source),
            Kind::Conversion(k) => Some(&k.source),
            Kind::Sequence(k) => Some(&k.source),
            Kind::Ratio(_)
            | Kind::Formula(_)
            | Kind::Cumulative(_)
            | Kind::Cohort(_)
            | Kind::PeriodOverPeriod(_) => None,
        }
    }

    /// The kind in words, for `explain`.
    pub fn describe(&self, text: Text) -> Description {
        let mut d = Description::default();
        match self {
            Kind::Measure(k) => k.describe(text, &mut d),
            Kind::Ratio(k) => k.describe(&mut d),
            Kind::Formula(k) => k.describe(text, &mut d),
            Kind::Cumulative(k) => k.describe(&mut d),
            Kind::Funnel(k) => k.describe(text, &mut d),
            Kind::TimeBetween(k) => k.describe(text, &mut d),
            Kind::Active(k) => k.describe(&mut d),
            Kind::Retention(k) => k.describe(text, &mut d),
            Kind::Churn(k) => k.describe(&mut d),
            Kind::PeriodOverPeriod(k) => k.describe(&mut d),
            Kind::Conversion(k) => k.describe(text, &mut d),
            Kind::Sequence(k) => k.describe(text, &mut d),
            Kind::Cohort(k) => k.describe(text, &mut d),
        }
        d
    }
}

/// What a metric's numbers count, for labels and formats (the report's
/// axes): derived from its kind and options; a metric's `unit:` names a
/// [`Unit::Number`]'s unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A fraction of a whole, shown as a percentage.
    Share,
    /// Distinct entities.
    Entities,
    /// Rows, events or matches.
    Rows,
    /// A duration in this unit.
    Time(crate::syntax::ast::TimeUnit),
    /// A plain number (a sum, a ratio, a formula).
    Number,
}

impl Kind {
    /// What its numbers count; `None` for a kind that gives only a table.
    pub fn unit(&self) -> Option<Unit> {
        use crate::syntax::ast::{
            ChurnValue, Comparison, ConversionCount, ConversionValue, FunnelValue, SequenceValue,
        };
        Some(match self {
            Kind::Measure(_) | Kind::Ratio(_) | Kind::Formula(_) | Kind::Cumulative(_) => {
                Unit::Number
            }
            Kind::Funnel(k) => match k.value {
                FunnelValue::Steps | FunnelValue::TimeToConvert => return None,
                FunnelValue::Converted | FunnelValue::Entered => Unit::Entities,
                FunnelValue::ConversionRate => Unit::Share,
            },
            Kind::TimeBetween(k) => Unit::Time(k.unit),
            Kind::Active(_) => Unit::Entities,
            Kind::Retention(_) | Kind::Cohort(_) => return None,
            Kind::Churn(k) => match k.value {
                ChurnValue::Rate => Unit::Share,
                ChurnValue::Churned
                | ChurnValue::New
                | ChurnValue::Returning
                | ChurnValue::Resurrected
                | ChurnValue::Dormant
                | ChurnValue::NetGrowth => Unit::Entities,
            },
            Kind::PeriodOverPeriod(k) => match k.value {
                Comparison::Growth => Unit::Share,
                Comparison::Previous | Comparison::Difference | Comparison::Ratio => Unit::Number,
            },
            Kind::Conversion(k) => match (k.value, k.count) {
                (ConversionValue::Rate, _) => Unit::Share,
                (_, ConversionCount::Rows) => Unit::Rows,
                (_, ConversionCount::Entities) => Unit::Entities,
            },
            Kind::Sequence(k) => match k.value {
                SequenceValue::Entities => Unit::Entities,
                SequenceValue::Matches => Unit::Rows,
            },
        })
    }
}

/// A duration in the largest whole unit: `30d`, `36h`, `90m`, `1500ms`.
pub fn describe_millis(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}
