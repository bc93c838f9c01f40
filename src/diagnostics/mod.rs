//! Diagnostics as data: every stage returns [`Diagnostic`]s with spans; they are
//! rendered once, at the edge (see [`render`]).

mod code;
pub mod render;

pub use code::{Code, Severity};

use crate::span::Span;

/// A secondary label: another place that explains the problem ("defined here").
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in the user's project.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    /// Short phrase stating the problem.
    pub message: String,
    /// Where the problem is, if it is in a file; `label` says what was found there.
    pub span: Option<Span>,
    pub label: String,
    pub secondary: Vec<Label>,
    /// What to do about it, when concrete.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            span: None,
            label: String::new(),
            secondary: Vec::new(),
            help: None,
        }
    }

    /// Places the diagnostic on `span` with a label saying what is there.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = label.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

/// A growing list of diagnostics, passed down the stages.
pub type Diagnostics = Vec<Diagnostic>;

/// "did you mean `x`?" for the closest of `candidates` to `word`, if any is close.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, c)| (*d, c.len(), *c))
        .map(|(_, c)| c)
}

/// A help line: the suggestion if there is one, else the list of what exists.
pub fn suggestion_help<'a>(
    word: &str,
    what: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    match did_you_mean(word, candidates.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => {
            let mut all: Vec<&str> = candidates.into_iter().collect();
            all.sort_unstable();
            if all.is_empty() {
                format!("no {what} is defined")
            } else if all.len() > 20 {
                format!(
                    "available {what}: {} and {} more",
                    quoted(&all[..20]),
                    all.len() - 20
                )
            } else {
                format!("available {what}: {}", quoted(&all))
            }
        }
    }
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
