//! resolve: `sequence` metrics, ClickHouse's `sequenceMatch` and
//! `sequenceCount`: named conditions on a source's rows and a pattern over
//! each entity's events of a bucket (docs/SEMANTICS.md, "Sequence
//! patterns"). The pattern's conditions become indices and its durations
//! microseconds; the engine is `lower::functions::pattern`.

use super::{Description, Input, Reads, Shape, Text};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, suggestion_help};
use crate::semantic::expr::Checker;
use crate::syntax::ast::{Expr, PatternKind, PatternRef, SequenceDef, SequenceValue};
use serde::{Deserialize, Serialize};

/// The YAML key of the kind.
pub const KEY: &str = "sequence";

/// Most conditions one sequence may list: ClickHouse's limit too.
pub const MAX_CONDITIONS: usize = 32;

/// A comparison of `(?t op duration)`, as written.
pub use crate::syntax::ast::PatternTimeOp as TimeOp;

/// One element of a resolved pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// `.*`: any number of events.
    Star,
    /// `.`: one event, whatever it is.
    Any,
    /// `(?N)`: one event for which condition `N` (0-based) holds.
    Event(u8),
    /// `(?t op d)`: the next event's time compared with the time of the
    /// element before plus `d` microseconds; takes no event.
    Time(TimeOp, i64),
    /// `(?gap op d)`: the same for the very next event only (no event in
    /// between); takes no event.
    Gap(TimeOp, i64),
}

/// A resolved sequence metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub source: String,
    /// The conditions' names and predicates, in order.
    pub conditions: Vec<(String, Expr)>,
    pub actions: Vec<Action>,
    pub value: SequenceValue,
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

pub(super) fn resolve(input: &Input, s: &SequenceDef, diags: &mut Diagnostics) -> Option<Sequence> {
    let errors = diags.len();
    for (i, (name, e)) in s.conditions.iter().enumerate() {
        Checker::new(diags, input.row()).predicate(e, "a condition");
        if let Some((first, _)) = s.conditions[..i]
            .iter()
            .find(|(n, _)| n.value == name.value)
        {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateDefinition,
                    format!("condition `{}` is listed twice", name.value),
                )
                .at(name.span, "listed again here")
                .with_secondary(first.span, "first listed here")
                .with_help("give each condition its own name"),
            );
        }
    }
    if s.conditions.len() > MAX_CONDITIONS {
        let extra = &s.conditions[MAX_CONDITIONS].0;
        diags.push(
            Diagnostic::new(
                Code::PatternMismatch,
                format!("a sequence has at most {MAX_CONDITIONS} conditions"),
            )
            .at(
                extra.span,
                format!("condition {} of {}", MAX_CONDITIONS + 1, s.conditions.len()),
            )
            .with_help("split the metric, or fold conditions into one with `or`"),
        );
    }
    let names = || s.conditions.iter().map(|(n, _)| n.value.as_str());
    let listed = || {
        s.conditions
            .iter()
            .enumerate()
            .map(|(i, (n, _))| format!("(?{}) `{}`", i + 1, n.value))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut actions = Vec::new();
    let mut previous: Option<&PatternKind> = None;
    for item in &s.pattern.value {
        let action = match &item.kind {
            PatternKind::Star => Some(Action::Star),
            PatternKind::Any => Some(Action::Any),
            PatternKind::Condition(r) => {
                let index = match r {
                    PatternRef::Number(n) => (1..=s.conditions.len() as u64)
                        .contains(n)
                        .then(|| *n as usize - 1),
                    PatternRef::Name(name) => names().position(|n| n == name),
                };
                if index.is_none() {
                    let (what, help) = match r {
                        PatternRef::Number(n) => (
                            format!("there is no condition {n}"),
                            format!("the conditions are {}", listed()),
                        ),
                        PatternRef::Name(name) => (
                            format!("no condition is named `{name}`"),
                            suggestion_help(name, "conditions", names()),
                        ),
                    };
                    diags.push(
                        Diagnostic::new(
                            Code::PatternMismatch,
                            "the pattern names an unknown condition",
                        )
                        .at(item.span, what)
                        .with_help(help),
                    );
                }
                index.map(|i| Action::Event(i.min(MAX_CONDITIONS - 1) as u8))
            }
            PatternKind::Time(op, d) | PatternKind::Gap(op, d) => {
                if previous
                    .is_none_or(|p| matches!(p, PatternKind::Time(..) | PatternKind::Gap(..)))
                {
                    diags.push(
                        Diagnostic::new(
                            Code::PatternMismatch,
                            "a time condition must follow an element",
                        )
                        .at(
                            item.span,
                            if previous.is_none() {
                                "first in the pattern: there is no time to compare with"
                            } else {
                                "right after another time condition"
                            },
                        )
                        .with_help("put it between two elements: `(?1)(?t<=1m)(?2)` (ClickHouse has no window of two bounds)"),
                    );
                }
                let micros = d.millis.saturating_mul(1000);
                Some(match item.kind {
                    PatternKind::Gap(..) => Action::Gap(*op, micros),
                    _ => Action::Time(*op, micros),
                })
            }
        };
        actions.extend(action);
        previous = Some(&item.kind);
    }
    if !s
        .pattern
        .value
        .iter()
        .any(|i| matches!(i.kind, PatternKind::Condition(_)))
    {
        diags.push(
            Diagnostic::new(Code::PatternMismatch, "the pattern names no condition")
                .at(s.pattern.span, "only `.`, `.*` and time conditions here")
                .with_help(format!("name at least one condition: {}", listed())),
        );
    }
    let src = input.src?;
    (diags.len() == errors).then(|| Sequence {
        source: src.def.name.value.clone(),
        conditions: s
            .conditions
            .iter()
            .map(|(n, e)| (n.value.clone(), e.clone()))
            .collect(),
        actions,
        value: s.value.value,
    })
}

impl Sequence {
    pub(super) fn describe(&self, text: Text, d: &mut Description) {
        for (i, (name, e)) in self.conditions.iter().enumerate() {
            d.line(
                &format!("(?{})", i + 1),
                format!("{name}: {}", text(e.span)),
            );
        }
        d.line(
            "events",
            "each entity's rows of a bucket for which at least one condition holds, by time (at one instant, those holding a lower-numbered condition first); other rows take no part, so `(?1)(?2)` means two such events in a row",
        );
        let pattern: Vec<String> = self.actions.iter().map(|a| describe_action(*a)).collect();
        d.line(
            "pattern",
            format!(
                "{} — ClickHouse's sequenceMatch rules: `.` one event, `.*` any events, a time condition compares the next event with the element before (`(?gap ...)`, metricc's own, the very next event only)",
                pattern.join("")
            ),
        );
        d.line(
            "value",
            match self.value {
                SequenceValue::Entities => "entities with a match in the bucket (sequenceMatch)",
                SequenceValue::Matches => {
                    "matches in the bucket, each searched for after the last event of the one before (sequenceCount)"
                }
            },
        );
    }
}

fn describe_action(a: Action) -> String {
    match a {
        Action::Star => ".*".into(),
        Action::Any => ".".into(),
        Action::Event(i) => format!("(?{})", i + 1),
        Action::Time(op, micros) | Action::Gap(op, micros) => {
            let word = if matches!(a, Action::Gap(..)) {
                "gap"
            } else {
                "t"
            };
            format!(
                "(?{word}{}{})",
                op.as_str(),
                super::describe_millis(micros / 1000)
            )
        }
    }
}
