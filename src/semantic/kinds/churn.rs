//! resolve: `churn` metrics, entities active in the previous window and not
//! the current one (and the other lifecycle counts: new, returning ...).

use super::{Description, Input, Reads, Shape};
use crate::span::Spanned;
use crate::syntax::ast::{ChurnValue, Duration};

/// The YAML key of the kind.
pub const KEY: &str = "churn";

/// A resolved `churn`.
#[derive(Debug, Clone, PartialEq)]
pub struct Churn {
    pub source: String,
    pub window: Duration,
    pub value: ChurnValue,
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
    window: &Spanned<Duration>,
    value: &Spanned<ChurnValue>,
) -> Option<Churn> {
    Some(Churn {
        source: input.src?.def.name.value.clone(),
        window: window.value.clone(),
        value: value.value,
    })
}

impl Churn {
    pub(super) fn describe(&self, d: &mut Description) {
        let w = &self.window.text;
        d.line(
            "windows",
            format!(
                "current [end - {w}, end) and previous [end - 2×{w}, end - {w}) at each bucket's end, local wall-clock time"
            ),
        );
        let what = match self.value {
            ChurnValue::Churned | ChurnValue::Dormant => {
                "entities active in the previous window and not in the current one"
            }
            ChurnValue::Rate => {
                "churned / entities active in the previous window (null when none were)"
            }
            ChurnValue::New => {
                "entities active in the current window and never before it (all history is read)"
            }
            ChurnValue::Returning => "entities active in both windows",
            ChurnValue::Resurrected => {
                "entities active in the current window, not the previous one, but before it"
            }
            ChurnValue::NetGrowth => {
                "new - churned (resurrected entities are not counted; active(current) - active(previous) = new + resurrected - churned)"
            }
        };
        d.line("value", what);
    }
}
