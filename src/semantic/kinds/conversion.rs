//! resolve: `conversion` metrics (MetricFlow's conversion metric): base
//! events are opportunities, and each conversion event is credited to the
//! entity's most recent base event at or before it, within the window.

use super::{Cx, Description, Input, Reads, Resolved, Shape, Text, row_scope};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::semantic::SourceInfo;
use crate::semantic::expr::{Checker, unknown_column};
use crate::semantic::types::{Column, Type};
use crate::syntax::ast::{ConversionCount, ConversionDef, ConversionValue, Duration, Expr, Name};

/// The YAML key of the kind.
pub const KEY: &str = "conversion";

/// A resolved conversion metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// The source of the base events: the metric's.
    pub source: String,
    pub base: Expr,
    /// The source of the conversion events (`source` unless named).
    pub conversion_source: String,
    pub conversion: Expr,
    /// The column of the conversion's rows (an attribute, maybe) that
    /// holds the base source's entity ids.
    pub conversion_entity: String,
    /// A conversion counts when it comes less than this after its base
    /// (the far edge is exclusive); any time after it when `None`.
    pub within: Option<Duration>,
    /// Pairs of columns, the base's and the conversion's, whose values a
    /// conversion must share with its base.
    pub constant_properties: Vec<(String, String)>,
    pub count: ConversionCount,
    pub value: ConversionValue,
}

pub(super) fn shape() -> Shape {
    Shape {
        key: KEY,
        reads: Reads::Source,
        needs_entity: true,
        takes_occurrence: false,
        column: true,
        table: None,
        sql: false,
    }
}

pub(super) fn resolve<'a>(
    cx: &Cx<'a>,
    input: &Input<'a>,
    c: &ConversionDef,
    diags: &mut Diagnostics,
) -> Resolved<'a> {
    Checker::new(diags, input.row()).predicate(&c.base, "`base`");
    let event = &c.conversion;
    let conv_src = match &event.source {
        Some(n) => cx.source(n, diags),
        None => input.src,
    };
    Checker::new(diags, row_scope(conv_src)).predicate(&event.predicate, "`conversion`");
    if let Some(s) = conv_src
        && event.entity.is_none()
        && input.src.is_none_or(|m| !std::ptr::eq(m, s))
    {
        cx.entity_required(s, input.def, diags);
    }
    let errors = diags.len();
    let (Some(src), Some(conv_src)) = (input.src, conv_src) else {
        return Resolved::of(None);
    };
    let conversion_entity = match (&event.entity, &conv_src.def.entity) {
        (Some(e), _) => Some(e.clone()),
        (None, Some(e)) => Some(e.clone()),
        (None, None) => None,
    };
    // Which entity ids meet: the base source's, and the column of the
    // conversion's rows that holds them.
    if let (Some(base_entity), Some(conv_entity)) = (&src.def.entity, &conversion_entity) {
        if event.entity.is_none()
            && !std::ptr::eq(src, conv_src)
            && base_entity.value != conv_entity.value
        {
            let at = event
                .source
                .as_ref()
                .map_or(c.conversion.predicate.span, |n| n.span);
            diags.push(
                Diagnostic::new(
                    Code::ConversionKeyMismatch,
                    format!(
                        "the conversion's source `{}` is keyed by `{}`, the base's `{}` by `{}`",
                        conv_src.def.name.value,
                        conv_entity.value,
                        src.def.name.value,
                        base_entity.value
                    ),
                )
                .at(
                    at,
                    format!(
                        "its rows are keyed by `{}`, not by `{}`",
                        conv_entity.value, base_entity.value
                    ),
                )
                .with_secondary(base_entity.span, "the base's entity")
                .with_help(format!(
                    "add `entity: <column>` under `conversion:`, naming the column of `{}` (or an attribute, such as `developer.visitor_id`) that holds `{}` values",
                    conv_src.def.name.value, base_entity.value
                )),
            );
        } else {
            // A source's own entity column is checked with the source; only
            // a column `entity:` names is reported here.
            let quiet = |s: &'a SourceInfo<'a>, n: &Name| s.schema.as_ref()?.column(&n.value);
            let base_col = quiet(src, base_entity);
            let conv_col = match &event.entity {
                Some(_) => column(conv_src, conv_entity, diags),
                None => quiet(conv_src, conv_entity),
            };
            if let (Some(b), Some(v)) = (base_col, conv_col)
                && !(b.ty == v.ty && matches!(b.ty, Type::String | Type::Int))
                && b.ty != Type::Unknown
                && v.ty != Type::Unknown
            {
                diags.push(mismatch(
                    "entity ids",
                    (base_entity, b, &src.def.name.value),
                    (conv_entity, v, &conv_src.def.name.value),
                    "the conversion's `entity:` must name a column of the base's entity ids, of the same type (a string or an integer)",
                ));
            }
        }
    }
    for p in &c.constant_properties {
        let b = column(src, &p.base, diags);
        let v = column(conv_src, &p.conversion, diags);
        if let (Some(b), Some(v)) = (b, v)
            && !b.ty.comparable(v.ty)
        {
            diags.push(mismatch(
                "a constant property",
                (&p.base, b, &src.def.name.value),
                (&p.conversion, v, &conv_src.def.name.value),
                "pair columns whose values can be equal: `{ base: <column>, conversion: <column> }`",
            ));
        }
    }
    if diags.len() > errors {
        return Resolved::of(None);
    }
    let Some(conversion_entity) = conversion_entity else {
        return Resolved::of(None);
    };
    Resolved {
        also_reads: (!std::ptr::eq(src, conv_src)).then_some(conv_src),
        ..Resolved::of(Some(super::Kind::Conversion(Conversion {
            source: src.def.name.value.clone(),
            base: c.base.clone(),
            conversion_source: conv_src.def.name.value.clone(),
            conversion: event.predicate.clone(),
            conversion_entity: conversion_entity.value,
            within: c.within.as_ref().map(|w| w.value.clone()),
            constant_properties: c
                .constant_properties
                .iter()
                .map(|p| (p.base.value.clone(), p.conversion.value.clone()))
                .collect(),
            count: c.count.value,
            value: c.value.value,
        })))
    }
}

/// The column `name` of `src`, reported when unknown; `None` also when
/// the source's footers could not be read.
fn column<'s>(src: &'s SourceInfo, name: &Name, diags: &mut Diagnostics) -> Option<&'s Column> {
    let schema = src.schema.as_ref()?;
    let found = schema.column(&name.value);
    if found.is_none() {
        diags.push(unknown_column(
            &name.value,
            name.span,
            &src.def.name.value,
            schema,
        ));
    }
    found
}

/// E0227: two columns that must hold comparable values do not.
fn mismatch(
    what: &str,
    base: (&Name, &Column, &str),
    conv: (&Name, &Column, &str),
    help: &str,
) -> Diagnostic {
    Diagnostic::new(
        Code::ConversionKeyMismatch,
        format!(
            "{what} cannot match: `{}` of `{}` is {}, `{}` of `{}` is {}",
            base.0.value, base.2, base.1.physical, conv.0.value, conv.2, conv.1.physical
        ),
    )
    .at(conv.0.span, format!("{} here", conv.1.physical))
    .with_secondary(base.0.span, format!("{} here", base.1.physical))
    .with_help(help)
}

impl Conversion {
    pub(super) fn describe(&self, text: Text, d: &mut Description) {
        d.line(
            "base",
            format!(
                "{} — every such event is an opportunity, in the bucket it falls in (the metric's filter applies to these)",
                text(self.base.span)
            ),
        );
        let window = match &self.within {
            Some(w) => format!(
                "less than {} after it (a conversion exactly {} later does not count)",
                w.text, w.text
            ),
            None => "any time after it".to_string(),
        };
        let same = if self.constant_properties.is_empty() {
            String::new()
        } else {
            let pairs: Vec<String> = self
                .constant_properties
                .iter()
                .map(|(b, v)| {
                    if b == v {
                        b.clone()
                    } else {
                        format!("{v} as the base's {b}")
                    }
                })
                .collect();
            format!(", with the same {}", pairs.join(", "))
        };
        let whose = if self.conversion_source == self.source {
            "the entity's most recent base event".to_string()
        } else {
            format!(
                "the most recent base event whose entity is the row's `{}`",
                self.conversion_entity
            )
        };
        let of = if self.conversion_source == self.source {
            String::new()
        } else {
            format!(" in `{}`", self.conversion_source)
        };
        d.line(
            "converts",
            format!(
                "{}{of} — each such event is credited to {whose} at or before it{same}, if it comes {window}; it counts in that base's bucket and breakdown",
                text(self.conversion.span)
            ),
        );
        let what = match self.count {
            ConversionCount::Rows => {
                "events (a base may be credited with several conversions, so a rate can exceed 1)"
            }
            ConversionCount::Entities => "distinct entities",
        };
        let value = match self.value {
            ConversionValue::Rate => {
                "the rate, conversions / opportunities (null when there are none)"
            }
            ConversionValue::Conversions => "the conversions",
            ConversionValue::Opportunities => "the opportunities",
        };
        d.line("value", format!("{value}; both counted as {what}"));
    }
}
