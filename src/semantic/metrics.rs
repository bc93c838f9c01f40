//! Resolution of metric definitions, kind by kind.

use super::SourceInfo;
use super::expr::{Checker, Scope, unknown_column, unknown_metric};
use super::graph;
use super::model::Metric;
use super::types::SourceSchema;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, suggestion_help};
use crate::syntax::ast::*;
use std::collections::{HashMap, HashSet};

/// Resolves every metric; returns them in dependency order.
pub fn resolve(ast: &Ast, sources: &[SourceInfo], diags: &mut Diagnostics) -> Vec<Metric> {
    let mut defs: Vec<&MetricDef> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for m in &ast.metrics {
        if let Some(&first) = index.get(m.name.value.as_str()) {
            let first = defs[first];
            diags.push(
                Diagnostic::new(
                    Code::DuplicateDefinition,
                    format!("metric `{}` is defined twice", m.name.value),
                )
                .at(m.name.span, "defined again here")
                .with_secondary(first.name.span, "first defined here")
                .with_help("metric names are global to the project; rename one of the two"),
            );
            continue;
        }
        index.insert(m.name.value.as_str(), defs.len());
        defs.push(m);
    }
    let cx = Cx {
        defs: &defs,
        index: &index,
        sources,
    };
    let mut deps: Vec<Vec<(usize, Name)>> = Vec::with_capacity(defs.len());
    for def in &defs {
        let refs = cx.metric(def, diags);
        deps.push(
            refs.into_iter()
                .filter_map(|r| index.get(r.value.as_str()).map(|&i| (i, r)))
                .collect(),
        );
    }
    let name_refs: Vec<&Name> = defs.iter().map(|d| &d.name).collect();
    let order = graph::order(&name_refs, &deps, diags);
    for (i, def) in defs.iter().enumerate() {
        cx.check_uses(def, &deps[i], diags);
    }
    order
        .into_iter()
        .map(|i| {
            let d = defs[i];
            Metric {
                name: d.name.value.clone(),
                label: d.label.as_ref().map(|x| x.value.clone()),
                description: d.description.as_ref().map(|x| x.value.clone()),
                owner: d.owner.as_ref().map(|x| x.value.clone()),
                tags: d.tags.iter().map(|t| t.value.clone()).collect(),
                source: d.source.as_ref().map(|s| s.value.clone()),
                filter: d.filter.clone(),
                occurrence: d.occurrence.as_ref().map_or(Occurrence::All, |o| o.value),
                breakdown: d.breakdown.iter().map(|b| b.value.clone()).collect(),
                kind: d.kind.clone(),
                depends_on: deps[i].iter().map(|(_, n)| n.clone()).collect(),
                sources: cx
                    .base_sources(d, &mut HashSet::new(), Reach::Read)
                    .iter()
                    .map(|s| s.def.name.value.clone())
                    .collect(),
                breakdown_sources: cx
                    .base_sources(d, &mut HashSet::new(), Reach::Dimensions)
                    .iter()
                    .map(|s| s.def.name.value.clone())
                    .collect(),
                span: d.name.span,
            }
        })
        .collect()
}

struct Cx<'a> {
    defs: &'a [&'a MetricDef],
    index: &'a HashMap<&'a str, usize>,
    sources: &'a [SourceInfo<'a>],
}

/// Whether a kind reads a source directly.
fn needs_source(kind: &MetricKind) -> bool {
    !matches!(
        kind,
        MetricKind::Ratio { .. }
            | MetricKind::Formula { .. }
            | MetricKind::Cumulative { .. }
            | MetricKind::Cohort(_)
    )
}

/// Whether a kind follows entities over time (and so needs an entity column).
fn needs_entity(def: &MetricDef) -> bool {
    match &def.kind {
        MetricKind::Aggregate { .. } => def
            .occurrence
            .as_ref()
            .is_some_and(|o| o.value != Occurrence::All),
        MetricKind::Funnel(_)
        | MetricKind::TimeBetween { .. }
        | MetricKind::Active { .. }
        | MetricKind::Retention(_)
        | MetricKind::Churn { .. }
        | MetricKind::Cohort(_) => true,
        _ => false,
    }
}

impl<'a> Cx<'a> {
    fn source(&self, name: &Name, diags: &mut Diagnostics) -> Option<&'a SourceInfo<'a>> {
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

    /// Source name and schema for a scope; empty when the source is unknown.
    fn scope_parts(src: Option<&'a SourceInfo<'a>>) -> (&'a str, Option<&'a SourceSchema>) {
        src.map_or(("", None), |s| (s.def.name.value.as_str(), s.schema))
    }

    fn row_scope(src: Option<&'a SourceInfo<'a>>) -> Scope<'a> {
        let (source, schema) = Self::scope_parts(src);
        Scope::Row { source, schema }
    }

    fn entity_required(src: &SourceInfo, def: &MetricDef, diags: &mut Diagnostics) {
        if src.def.entity.is_none() {
            diags.push(
                Diagnostic::new(
                    Code::EntityRequired,
                    format!(
                        "`{}` follows entities, but source `{}` has no `entity`",
                        def.kind.key(),
                        src.def.name.value
                    ),
                )
                .at(
                    def.kind_span,
                    format!("a {} metric counts per entity", def.kind.key()),
                )
                .with_secondary(src.def.name.span, "source defined here")
                .with_help(
                    "add `entity: <column>` (who did it, e.g. `developer_id`) to the source",
                ),
            );
        }
    }

    /// Checks one metric; returns the metrics it names.
    fn metric(&self, def: &MetricDef, diags: &mut Diagnostics) -> Vec<Name> {
        if def.description.is_none() {
            diags.push(
                Diagnostic::new(
                    Code::MissingDescription,
                    format!("metric `{}` has no description", def.name.value),
                )
                .at(def.name.span, "undocumented metric")
                .with_help("add `description:` saying what the number means and how to read it"),
            );
        }
        let mut src = None;
        match (&def.source, needs_source(&def.kind)) {
            (Some(name), true) => src = self.source(name, diags),
            (Some(name), false) if !matches!(def.kind, MetricKind::Cohort(_)) => diags.push(
                Diagnostic::new(
                    Code::IncompatibleMetric,
                    format!("a `{}` metric takes no `source`", def.kind.key()),
                )
                .at(
                    name.span,
                    "it is computed from other metrics, each on its own source",
                )
                .with_help("remove `source:`"),
            ),
            (Some(name), false) => src = self.source(name, diags),
            (None, true) => diags.push(
                Diagnostic::new(
                    Code::MissingKey,
                    format!("metric `{}` has no `source`", def.name.value),
                )
                .at(
                    def.kind_span,
                    format!("a `{}` metric reads a source", def.kind.key()),
                )
                .with_help(match self.sources.first() {
                    Some(s) => format!("add `source: {}` (or another source)", s.def.name.value),
                    None => {
                        "define a source under `sources:` and name it with `source:`".to_string()
                    }
                }),
            ),
            (None, false) => {}
        }
        if let Some(s) = src
            && needs_entity(def)
        {
            Self::entity_required(s, def, diags);
        }
        if let Some(o) = &def.occurrence
            && o.value != Occurrence::All
            && !matches!(def.kind, MetricKind::Aggregate { .. })
        {
            diags.push(
                Diagnostic::new(
                    Code::IncompatibleMetric,
                    "`occurrence` applies to `measure` metrics only",
                )
                .at(
                    o.span,
                    format!("`{}` metrics define their own event order", def.kind.key()),
                )
                .with_help("remove `occurrence:`"),
            );
        }
        let row = Self::row_scope(src);
        if let Some(filter) = &def.filter
            && needs_source(&def.kind)
        {
            Checker::new(diags, row).predicate(filter, "a filter");
        }
        let mut refs = Vec::new();
        match &def.kind {
            MetricKind::Aggregate { measure } => {
                let (source, schema) = Self::scope_parts(src);
                let scope = Scope::Measure { source, schema };
                let mut c = Checker::new(diags, scope);
                c.check(measure);
                if !c.has_aggregate {
                    c.diags.push(
                        Diagnostic::new(Code::AggregateExpected, "a measure must aggregate rows")
                            .at(measure.span, "no aggregate function here")
                            .with_help("use `count(*)`, `count_distinct(col)`, `sum(col)`, `avg(col)`, `median(col)` or `percentile(col, 0.9)`"),
                    );
                }
            }
            MetricKind::Ratio {
                numerator,
                denominator,
            } => {
                for n in [numerator, denominator] {
                    self.metric_ref(n, diags, &mut refs);
                }
            }
            MetricKind::Formula { expr } => {
                let mut c = Checker::new(
                    diags,
                    Scope::Formula {
                        metrics: self.index,
                    },
                );
                let t = c.check(expr);
                refs = std::mem::take(&mut c.metric_refs);
                if !t.is_numeric() {
                    diags.push(
                        Diagnostic::new(Code::TypeMismatch, "a formula must give a number")
                            .at(expr.span, format!("this is a {t}"))
                            .with_help("combine metrics with arithmetic, e.g. `dau / mau`"),
                    );
                }
            }
            MetricKind::Cumulative { metric, .. } => self.metric_ref(metric, diags, &mut refs),
            MetricKind::Funnel(f) => self.funnel(f, def, src, diags),
            MetricKind::TimeBetween { from, to, .. } => {
                Checker::new(diags, row).predicate(from, "`from`");
                Checker::new(diags, row).predicate(to, "`to`");
            }
            MetricKind::Active { .. } | MetricKind::Churn { .. } => {}
            MetricKind::Retention(r) => {
                Checker::new(diags, row).predicate(&r.cohort, "`cohort`");
                Checker::new(diags, row).predicate(&r.returning, "`return`");
            }
            MetricKind::Cohort(c) => {
                self.metric_ref(&c.metric, diags, &mut refs);
                let cohort_src = match &c.cohort_source {
                    Some(n) => self.source(n, diags),
                    None => src,
                };
                match cohort_src {
                    Some(s) => {
                        Self::entity_required(s, def, diags);
                        Checker::new(diags, Self::row_scope(Some(s)))
                            .predicate(&c.event, "`event`");
                    }
                    None if c.cohort_source.is_none() && def.source.is_none() => diags.push(
                        Diagnostic::new(
                            Code::MissingKey,
                            "a cohort metric needs the source of its cohort event",
                        )
                        .at(def.kind_span, "which source holds `event`?")
                        .with_help("add `source: <source>` inside `cohort:` or on the metric"),
                    ),
                    None => {}
                }
            }
        }
        refs
    }

    fn metric_ref(&self, name: &Name, diags: &mut Diagnostics, refs: &mut Vec<Name>) {
        if self.index.contains_key(name.value.as_str()) {
            refs.push(name.clone());
        } else {
            diags.push(unknown_metric(
                &name.value,
                name.span,
                self.index.keys().copied(),
            ));
        }
    }

    fn funnel(
        &self,
        f: &Funnel,
        def: &MetricDef,
        src: Option<&'a SourceInfo<'a>>,
        diags: &mut Diagnostics,
    ) {
        let row = Self::row_scope(src);
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
                .with_help(
                    "add the step that converts, or use a `measure` to count a single event",
                ),
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
        if f.order.value == FunnelOrder::Any {
            for x in &f.exclude {
                diags.push(conflict(
                    "exclusions need ordered steps".into(),
                    x.after.span,
                    "an `order: any` funnel has no steps in between",
                    "use `order: ordered`, or filter the excluded events out with the metric's `filter`",
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
        if f.steps.len() > 32 {
            diags.push(conflict(
                format!("funnel `{}` has {} steps", def.name.value, f.steps.len()),
                def.kind_span,
                "the funnel engine takes at most 32 steps",
                "split the funnel in two",
            ));
        }
        if f.exclude.len() > 32 {
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
        if let Some(step) = &f.attribution_step {
            step_index(step, diags);
        }
        for x in &f.exclude {
            Checker::new(diags, row).predicate(&x.predicate, "an exclusion");
            let a = step_index(&x.after, diags);
            let b = step_index(&x.before, diags);
            if let (Some(a), Some(b)) = (a, b)
                && a >= b
            {
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
        }
        if let Some(s) = src {
            for col in &f.hold_constant {
                if let Some(schema) = s.schema
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
    }

    /// Checks that referenced metrics are of kinds the referencing metric can use,
    /// and that a filter on a derived metric fits every source below it.
    fn check_uses(&self, def: &'a MetricDef, deps: &[(usize, Name)], diags: &mut Diagnostics) {
        for (i, name) in deps {
            let target = self.defs[*i];
            let problem = match (&def.kind, &target.kind) {
                (MetricKind::Cumulative { .. }, MetricKind::Aggregate { .. }) => None,
                (MetricKind::Cumulative { .. }, other) => Some(format!(
                    "a running total needs a `measure` metric; `{}` is a {} metric",
                    name.value,
                    other.key()
                )),
                (MetricKind::Cohort(_), MetricKind::Aggregate { .. }) => None,
                (MetricKind::Cohort(_), other) => Some(format!(
                    "cohorts follow a `measure` metric; `{}` is a {} metric",
                    name.value,
                    other.key()
                )),
                (_, MetricKind::Funnel(f)) if f.value.value == FunnelValue::Steps => Some(format!(
                    "`{}` is a funnel table (one row per step), not one number",
                    name.value
                )),
                (_, MetricKind::Retention(_)) => Some(format!(
                    "`{}` is a retention matrix, not one number",
                    name.value
                )),
                _ => None,
            };
            if let Some(p) = problem {
                diags.push(
                    Diagnostic::new(
                        Code::IncompatibleMetric,
                        format!("`{}` cannot be used here", name.value),
                    )
                    .at(name.span, p)
                    .with_secondary(target.name.span, "defined here")
                    .with_help("refer to a metric that gives one number per period"),
                );
            }
        }
        if def.filter.is_none() && def.breakdown.is_empty() {
            return;
        }
        if let Some(filter) = &def.filter
            && !needs_source(&def.kind)
        {
            for base in &self.base_sources(def, &mut HashSet::new(), Reach::Rows) {
                Checker::new(diags, Self::row_scope(Some(base))).predicate(filter, "a filter");
            }
        }
        let bases = self.base_sources(def, &mut HashSet::new(), Reach::Dimensions);
        for dim in &def.breakdown {
            for base in &bases {
                check_dimension(dim, base, diags);
            }
        }
    }

    /// The sources a derived metric reads, through its dependencies.
    fn base_sources(
        &self,
        def: &'a MetricDef,
        visiting: &mut HashSet<&'a str>,
        reach: Reach,
    ) -> Vec<&'a SourceInfo<'a>> {
        if !visiting.insert(def.name.value.as_str()) {
            return Vec::new();
        }
        let mut out: Vec<&SourceInfo> = Vec::new();
        // A cohort metric's breakdown values come from its cohort event.
        if let MetricKind::Cohort(c) = &def.kind
            && reach != Reach::Rows
        {
            let name = c.cohort_source.as_ref().or(def.source.as_ref());
            if let Some(s) =
                name.and_then(|n| self.sources.iter().find(|s| s.def.name.value == n.value))
            {
                out.push(s);
                if reach == Reach::Dimensions {
                    return out;
                }
            }
        }
        if needs_source(&def.kind) {
            if let Some(n) = &def.source
                && let Some(s) = self.sources.iter().find(|s| s.def.name.value == n.value)
            {
                out.push(s);
            }
        } else {
            let refs: Vec<&Name> = match &def.kind {
                MetricKind::Ratio {
                    numerator,
                    denominator,
                } => vec![numerator, denominator],
                MetricKind::Cumulative { metric, .. } => vec![metric],
                MetricKind::Cohort(c) => vec![&c.metric],
                MetricKind::Formula { expr } => {
                    let mut names = Vec::new();
                    collect_names(expr, &mut names);
                    return names
                        .into_iter()
                        .filter_map(|n| self.index.get(n.as_str()).map(|&i| self.defs[i]))
                        .flat_map(|d| self.base_sources(d, visiting, reach))
                        .fold(out, |mut acc, s| {
                            if !acc.iter().any(|a| std::ptr::eq(*a, s)) {
                                acc.push(s);
                            }
                            acc
                        });
                }
                _ => vec![],
            };
            for r in refs {
                if let Some(d) = self.index.get(r.value.as_str()).map(|&i| self.defs[i]) {
                    for s in self.base_sources(d, visiting, reach) {
                        if !out.iter().any(|a| std::ptr::eq(*a, s)) {
                            out.push(s);
                        }
                    }
                }
            }
        }
        out
    }
}

/// Which sources [`Cx::base_sources`] collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Every source read, cohort events included.
    Read,
    /// The sources whose rows the metric's filter applies to.
    Rows,
    /// The sources that give breakdown values: a cohort's event source.
    Dimensions,
}

/// A breakdown must name a declared dimension of every source the metric reads.
pub(crate) fn check_dimension(dim: &Name, source: &SourceInfo, diags: &mut Diagnostics) {
    if source.def.dimensions.iter().any(|d| d.value == dim.value) {
        return;
    }
    let declared = source.def.dimensions.iter().map(|d| d.value.as_str());
    let is_column = source
        .schema
        .is_some_and(|s| s.column(&dim.value).is_some());
    let help = if is_column {
        format!(
            "`{}` is a column of `{}`: add it to the source's `dimensions`",
            dim.value, source.def.name.value
        )
    } else {
        suggestion_help(&dim.value, "dimensions", declared)
    };
    diags.push(
        Diagnostic::new(
            Code::DimensionNotOnSource,
            format!("cannot break down by `{}`", dim.value),
        )
        .at(
            dim.span,
            format!(
                "source `{}` declares no such dimension",
                source.def.name.value
            ),
        )
        .with_secondary(source.def.name.span, "source defined here")
        .with_help(help),
    );
}

fn collect_names(e: &Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Column(n) => out.push(n.clone()),
        ExprKind::Literal(_) => {}
        ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::IsNull { expr: x, .. } => {
            collect_names(x, out)
        }
        ExprKind::Binary { left, right, .. }
        | ExprKind::Like {
            expr: left,
            pattern: right,
            ..
        } => {
            collect_names(left, out);
            collect_names(right, out);
        }
        ExprKind::InList { expr, list, .. } => {
            collect_names(expr, out);
            list.iter().for_each(|x| collect_names(x, out));
        }
        ExprKind::Between {
            expr, low, high, ..
        } => {
            for x in [expr, low, high] {
                collect_names(x, out);
            }
        }
        ExprKind::Call { args, filter, .. } => {
            if let CallArgs::Exprs(list) = args {
                list.iter().for_each(|x| collect_names(x, out));
            }
            if let Some(f) = filter {
                collect_names(f, out);
            }
        }
    }
}
