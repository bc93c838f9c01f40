//! resolve: metric definitions. What every kind shares (names, `source`,
//! entities, filters, breakdowns, uses of other metrics) is checked here;
//! each kind's own checks and resolved form are in [`super::kinds`].

use super::SourceInfo;
use super::expr::Checker;
use super::graph;
use super::kinds::{self, Cx, Input, Reads, Resolved, Shape};
use super::model::Metric;
use super::types::Type;
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
    let shapes: Vec<Shape> = defs.iter().map(|d| kinds::shape(d)).collect();
    let mut resolved: Vec<(Option<&SourceInfo>, Resolved)> = Vec::with_capacity(defs.len());
    let mut deps: Vec<Vec<(usize, Name)>> = Vec::with_capacity(defs.len());
    for (def, shape) in defs.iter().zip(&shapes) {
        let (src, r) = metric(&cx, def, shape, diags);
        deps.push(
            r.refs
                .iter()
                .filter_map(|r| index.get(r.value.as_str()).map(|&i| (i, r.clone())))
                .collect(),
        );
        resolved.push((src, r));
    }
    let name_refs: Vec<&Name> = defs.iter().map(|d| &d.name).collect();
    let order = graph::order(&name_refs, &deps, diags);
    let uses = Uses {
        cx: &cx,
        shapes: &shapes,
        resolved: &resolved,
        deps: &deps,
    };
    for i in 0..defs.len() {
        uses.check(i, diags);
    }
    let names = |list: Vec<&SourceInfo>| list.iter().map(|s| s.def.name.value.clone()).collect();
    let mut out = Vec::with_capacity(order.len());
    for i in order {
        let d = defs[i];
        let Some(kind) = resolved[i].1.kind.clone() else {
            continue;
        };
        out.push(Metric {
            name: d.name.value.clone(),
            label: d.label.as_ref().map(|x| x.value.clone()),
            unit: d.unit.as_ref().map(|x| x.value.clone()),
            description: d.description.as_ref().map(|x| x.value.clone()),
            owner: d.owner.as_ref().map(|x| x.value.clone()),
            tags: d.tags.iter().map(|t| t.value.clone()).collect(),
            filter: d.filter.clone(),
            breakdown: d.breakdown.iter().map(|b| b.value.clone()).collect(),
            kind,
            shape: shapes[i].clone(),
            depends_on: deps[i].iter().map(|(_, n)| n.clone()).collect(),
            sources: names(uses.base_sources(i, &mut HashSet::new(), Reach::Read)),
            breakdown_sources: names(uses.base_sources(i, &mut HashSet::new(), Reach::Dimensions)),
            span: d.name.span,
        });
    }
    out
}

/// Checks what every kind shares, then the kind itself; gives the metric's
/// own source and what its kind resolved to.
fn metric<'a>(
    cx: &Cx<'a>,
    def: &'a MetricDef,
    shape: &Shape,
    diags: &mut Diagnostics,
) -> (Option<&'a SourceInfo<'a>>, Resolved<'a>) {
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
    let key = shape.key;
    let mut src = None;
    match (&def.source, shape.reads) {
        (Some(name), Reads::Source | Reads::MetricAndEvents) => src = cx.source(name, diags),
        (Some(name), Reads::Metrics) => diags.push(
            Diagnostic::new(
                Code::IncompatibleMetric,
                format!("a `{key}` metric takes no `source`"),
            )
            .at(
                name.span,
                "it is computed from other metrics, each on its own source",
            )
            .with_help("remove `source:`"),
        ),
        (None, Reads::Source) => diags.push(
            Diagnostic::new(
                Code::MissingKey,
                format!("metric `{}` has no `source`", def.name.value),
            )
            .at(def.kind_span, format!("a `{key}` metric reads a source"))
            .with_help(match cx.sources.first() {
                Some(s) => format!("add `source: {}` (or another source)", s.def.name.value),
                None => "define a source under `sources:` and name it with `source:`".to_string(),
            }),
        ),
        (None, Reads::Metrics | Reads::MetricAndEvents) => {}
    }
    if let Some(s) = src
        && shape.needs_entity
    {
        cx.entity_required(s, def, diags);
    }
    if let Some(o) = &def.occurrence
        && o.value != Occurrence::All
        && !shape.takes_occurrence
    {
        diags.push(
            Diagnostic::new(
                Code::IncompatibleMetric,
                "`occurrence` applies to `measure` metrics only",
            )
            .at(
                o.span,
                format!("`{key}` metrics define their own event order"),
            )
            .with_help("remove `occurrence:`"),
        );
    }
    if let Some(filter) = &def.filter
        && shape.reads == Reads::Source
    {
        Checker::new(diags, kinds::row_scope(src)).predicate(filter, "a filter");
    }
    (src, kinds::resolve(cx, &Input { def, src }, diags))
}

/// Uses of metrics by metrics, once every definition is resolved.
struct Uses<'u, 'a> {
    cx: &'u Cx<'a>,
    shapes: &'u [Shape],
    resolved: &'u [(Option<&'a SourceInfo<'a>>, Resolved<'a>)],
    deps: &'u [Vec<(usize, Name)>],
}

impl<'a> Uses<'_, 'a> {
    /// Checks that the metrics definition `i` uses are of kinds it can use,
    /// and that a filter or breakdown on a derived metric fits every source
    /// below it.
    fn check(&self, i: usize, diags: &mut Diagnostics) {
        let def = self.cx.defs[i];
        for (j, name) in &self.deps[i] {
            let target = self.cx.defs[*j];
            let shape = &self.shapes[*j];
            let problem = kinds::accepts(def, shape, &name.value)
                .or_else(|| match (&shape.table, shape.column) {
                    (Some(t), false) => {
                        Some(format!("`{}` is {}, not one number", name.value, t.what))
                    }
                    _ => None,
                })
                .or_else(|| match self.resolved[*j].1.value_type {
                    // Metrics built on others do arithmetic on their values.
                    Some(t) if !t.is_numeric() && t != Type::Unknown => Some(format!(
                        "`{}` gives {} {t}, and metrics built on it need a number",
                        name.value,
                        crate::semantic::expr::article(t)
                    )),
                    _ => None,
                });
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
            && self.shapes[i].reads != Reads::Source
        {
            for base in &self.base_sources(i, &mut HashSet::new(), Reach::Rows) {
                Checker::new(diags, kinds::row_scope(Some(base))).predicate(filter, "a filter");
            }
        }
        let bases = self.base_sources(i, &mut HashSet::new(), Reach::Dimensions);
        for dim in &def.breakdown {
            for base in &bases {
                check_dimension(dim, base, diags);
            }
        }
    }

    /// The sources definition `i` reads, through the metrics it uses.
    fn base_sources(
        &self,
        i: usize,
        visiting: &mut HashSet<usize>,
        reach: Reach,
    ) -> Vec<&'a SourceInfo<'a>> {
        if !visiting.insert(i) {
            return Vec::new();
        }
        let (own, resolved) = &self.resolved[i];
        let mut out: Vec<&SourceInfo> = Vec::new();
        // A cohort metric's breakdown values come from its cohort event.
        if let Some(s) = resolved.dimension_source
            && reach != Reach::Rows
        {
            out.push(s);
            if reach == Reach::Dimensions {
                return out;
            }
        }
        if self.shapes[i].reads == Reads::Source {
            out.extend(*own);
            if reach == Reach::Read {
                out.extend(resolved.also_reads);
            }
            return out;
        }
        for (j, _) in &self.deps[i] {
            for s in self.base_sources(*j, visiting, reach) {
                if !out.iter().any(|a| std::ptr::eq(*a, s)) {
                    out.push(s);
                }
            }
        }
        out
    }
}

/// Which sources [`Uses::base_sources`] collects.
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
    let unknown = |s: &super::types::SourceSchema| {
        s.column(&dim.value)
            .is_some_and(|c| c.ty == Type::Unknown && dim.value.contains('.'))
    };
    if source.def.dimensions.iter().any(|d| d.value == dim.value)
        || source.is_attribute(&dim.value)
        || source.schema.as_ref().is_some_and(unknown)
    {
        // Declared, an attribute, or an attribute of an entity with errors.
        return;
    }
    let attributes = source.resolved.iter().flat_map(|s| &s.attributes);
    let declared = source
        .def
        .dimensions
        .iter()
        .map(|d| d.value.as_str())
        .chain(attributes.map(String::as_str));
    let is_column = source
        .schema
        .as_ref()
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
