//! resolve: `conversion` metrics (MetricFlow's conversion metric): base
//! events are opportunities, and each conversion event is credited to the
//! entity's most recent base event at or before it, within the window.

use super::{Description, Input, Reads, Shape, Text};
use crate::diagnostics::Diagnostics;
use crate::semantic::expr::{Checker, unknown_column};
use crate::syntax::ast::{ConversionCount, ConversionDef, ConversionValue, Duration, Expr};

/// The YAML key of the kind.
pub const KEY: &str = "conversion";

/// A resolved conversion metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub source: String,
    pub base: Expr,
    pub conversion: Expr,
    /// A conversion counts when it comes less than this after its base
    /// (the far edge is exclusive); any time after it when `None`.
    pub within: Option<Duration>,
    /// Columns a conversion must share with its base.
    pub constant_properties: Vec<String>,
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

pub(super) fn resolve(
    input: &Input,
    c: &ConversionDef,
    diags: &mut Diagnostics,
) -> Option<Conversion> {
    Checker::new(diags, input.row()).predicate(&c.base, "`base`");
    Checker::new(diags, input.row()).predicate(&c.conversion, "`conversion`");
    let src = input.src?;
    if let Some(schema) = &src.schema {
        for col in &c.constant_properties {
            if schema.column(&col.value).is_none() {
                diags.push(unknown_column(
                    &col.value,
                    col.span,
                    &src.def.name.value,
                    schema,
                ));
            }
        }
    }
    Some(Conversion {
        source: src.def.name.value.clone(),
        base: c.base.clone(),
        conversion: c.conversion.clone(),
        within: c.within.as_ref().map(|w| w.value.clone()),
        constant_properties: c
            .constant_properties
            .iter()
            .map(|n| n.value.clone())
            .collect(),
        count: c.count.value,
        value: c.value.value,
    })
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
            format!(", with the same {}", self.constant_properties.join(", "))
        };
        d.line(
            "converts",
            format!(
                "{} — each such event is credited to the entity's most recent base event at or before it{same}, if it comes {window}; it counts in that base's bucket and breakdown",
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
