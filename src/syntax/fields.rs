//! Typed access to YAML nodes with diagnostics: each reader reports what is
//! wrong and returns `None`, so the builder goes on and finds every problem.

use super::ast::{Duration, Expr, Name, Offset, PatternItem};
use super::expr::{Origin, parse_duration, parse_expr};
use super::keys::Mapping;
use super::scalar::OffsetMap;
use super::yaml::{Node, NodeKind};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean, suggestion_help};
use crate::span::{FileId, Span, Spanned};

/// Per-file context of the AST builder.
pub struct Cx<'a> {
    pub file: FileId,
    pub text: &'a str,
    pub diags: &'a mut Diagnostics,
}

/// The keys of one YAML mapping, checked against the keys allowed there.
pub struct Fields<'n> {
    pub span: Span,
    /// The table of the keys allowed.
    pub mapping: &'static Mapping,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'a> Cx<'a> {
    pub fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn wrong_type(&mut self, node: &Node, expected: &str, context: &str) {
        self.report(
            Diagnostic::new(Code::WrongYamlType, format!("{context} must be {expected}"))
                .at(node.span, format!("found {}", node.shape()))
                .with_help(format!("write {expected} here")),
        );
    }

    /// Reads a mapping; reports non-string keys, duplicates and keys not in
    /// `mapping`'s table.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        context: &str,
        mapping: &'static Mapping,
    ) -> Option<Fields<'n>> {
        let NodeKind::Map(pairs) = &node.kind else {
            self.wrong_type(node, "a mapping of keys to values", context);
            return None;
        };
        let mut entries: Vec<(&'n str, &'n Node, &'n Node)> = Vec::new();
        for (k, v) in pairs {
            let Some(key) = k.as_str() else {
                self.wrong_type(k, "a text key", &format!("a key in {context}"));
                continue;
            };
            if let Some((_, first, _)) = entries.iter().find(|(n, _, _)| *n == key) {
                self.report(
                    Diagnostic::new(Code::DuplicateKey, format!("duplicate key `{key}`"))
                        .at(k.span, "written again here")
                        .with_secondary(first.span, "first written here")
                        .with_help("remove one of the two; YAML keys must be unique in a mapping"),
                );
                continue;
            }
            if mapping.key(key).is_none() {
                // `{ measure: percentile(x, 0.5) }`: the comma ended the
                // value, and its rest (`0.5)`) reads as a key.
                let cut = key.matches(')').count() > key.matches('(').count();
                let help = if cut {
                    "this is the rest of the value before it, cut at a comma: in a `{ ... }` mapping \
                     a comma ends an unquoted value, so quote that value: `measure: \"percentile(x, 0.5)\"`"
                        .to_string()
                } else {
                    suggestion_help(key, "keys", mapping.names())
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownKey,
                        format!("unknown key `{key}` in {context}"),
                    )
                    .at(k.span, "not a key metricc knows here")
                    .with_help(help),
                );
                continue;
            }
            entries.push((key, k, v));
        }
        Some(Fields {
            span: node.span,
            mapping,
            entries,
        })
    }

    /// Reports a missing required key.
    pub fn missing(&mut self, fields: &Fields, key: &str, context: &str, help: &str) {
        // The schema tells editors which keys are required: a key a reader
        // requires must say so in its table.
        debug_assert!(
            fields.mapping.may_be_missing(key),
            "`{key}` of `{}` is read as required but not declared so in syntax::keys",
            fields.mapping.id
        );
        self.report(
            Diagnostic::new(Code::MissingKey, format!("{context} has no `{key}`"))
                .at(fields.label_span(), format!("`{key}` is required here"))
                .with_help(help.to_string()),
        );
    }

    /// A text value (numbers and booleans are accepted as their written text).
    pub fn text(&mut self, node: &Node, context: &str) -> Option<Name> {
        match &node.kind {
            NodeKind::Str(s) => Some(Spanned::new(s.clone(), node.span)),
            NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => {
                Some(Spanned::new(self.raw(node).to_string(), node.span))
            }
            _ => {
                self.wrong_type(node, "text", context);
                None
            }
        }
    }

    /// A name: an identifier of letters, digits and `_`.
    pub fn name(&mut self, node: &Node, context: &str) -> Option<Name> {
        let name = self.text(node, context)?;
        self.check_name(&name, context).then_some(name)
    }

    pub fn check_name(&mut self, name: &Name, context: &str) -> bool {
        if is_identifier(&name.value) {
            return true;
        }
        let fixed: String = name
            .value
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        self.report(
            Diagnostic::new(
                Code::InvalidName,
                format!("`{}` is not a valid {context}", name.value),
            )
            .at(
                name.span,
                "names use letters, digits and `_`, and do not start with a digit",
            )
            .with_help(format!("rename it, e.g. `{}`", {
                let trimmed = fixed.trim_start_matches(|c: char| c.is_ascii_digit());
                if trimmed.trim_matches('_').is_empty() {
                    format!("n_{}", fixed.trim_matches('_'))
                } else {
                    trimmed.to_string()
                }
            })),
        );
        false
    }

    /// A list of names; a single name is accepted as a list of one.
    pub fn names(&mut self, node: &Node, context: &str) -> Vec<Name> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|i| self.name(i, context)).collect(),
            _ => self.name(node, context).into_iter().collect(),
        }
    }

    /// Names of columns: plain names, or an entity's attribute
    /// (`developer.plan`: two names joined by a dot).
    pub fn column_names(&mut self, node: &Node, context: &str) -> Vec<Name> {
        match &node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|i| self.column_name(i, context))
                .collect(),
            _ => self.column_name(node, context).into_iter().collect(),
        }
    }

    /// A column's name: an identifier, or an entity attribute
    /// (`developer.plan`).
    pub fn column_name(&mut self, node: &Node, context: &str) -> Option<Name> {
        let name = self.text(node, context)?;
        let attribute = name
            .value
            .split_once('.')
            .is_some_and(|(e, a)| is_identifier(e) && is_identifier(a));
        (attribute || self.check_name(&name, context)).then_some(name)
    }

    pub fn bool(&mut self, node: &Node, context: &str) -> Option<Spanned<bool>> {
        match node.kind {
            NodeKind::Bool(b) => Some(Spanned::new(b, node.span)),
            _ => {
                self.wrong_type(node, "`true` or `false`", context);
                None
            }
        }
    }

    pub fn int(&mut self, node: &Node, context: &str) -> Option<Spanned<i64>> {
        match node.kind {
            NodeKind::Int(i) => Some(Spanned::new(i, node.span)),
            _ => {
                self.wrong_type(node, "a whole number", context);
                None
            }
        }
    }

    /// A keyword from a fixed set (`parse`), with a suggestion when misspelt.
    pub fn keyword<T>(
        &mut self,
        node: &Node,
        context: &str,
        all: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<Spanned<T>> {
        let text = self.text(node, context)?;
        match parse(&text.value) {
            Some(v) => Some(Spanned::new(v, node.span)),
            None => {
                let help = match did_you_mean(&text.value, all.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "use one of: {}",
                        all.iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.report(
                    Diagnostic::new(Code::InvalidValue, format!("invalid {context}"))
                        .at(node.span, format!("`{}` is not allowed here", text.value))
                        .with_help(help),
                );
                None
            }
        }
    }

    /// A duration such as `7d`.
    pub fn duration(&mut self, node: &Node, context: &str) -> Option<Spanned<Duration>> {
        let text = self.text(node, context)?;
        match parse_duration(&text.value) {
            Some(d) if d.millis > 0 => Some(Spanned::new(d, node.span)),
            Some(_) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidWindow,
                        format!("{context} must be longer than zero"),
                    )
                    .at(node.span, "a zero-length window matches nothing")
                    .with_help("give a positive duration such as `7d`"),
                );
                None
            }
            None => {
                let help = if text.value.trim().chars().all(|c| c.is_ascii_digit()) {
                    format!(
                        "add a unit: `{}d` for days, `{}h` for hours",
                        text.value.trim(),
                        text.value.trim()
                    )
                } else {
                    "write a whole number and a unit (ms, s, m, h, d, w), e.g. `7d` or `24h`"
                        .to_string()
                };
                self.report(
                    Diagnostic::new(
                        Code::InvalidDuration,
                        format!("invalid duration for {context}"),
                    )
                    .at(node.span, format!("`{}` is not a duration", text.value))
                    .with_help(help),
                );
                None
            }
        }
    }

    /// A calendar offset such as `1 week` or `12 months`.
    pub fn offset(&mut self, node: &Node, context: &str) -> Option<Spanned<Offset>> {
        let text = self.text(node, context)?;
        match Offset::parse(&text.value) {
            Some(o) if o.count > 0 => Some(Spanned::new(o, node.span)),
            Some(_) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidWindow,
                        format!("{context} must be more than zero"),
                    )
                    .at(node.span, "an offset of zero compares a period with itself")
                    .with_help("give a positive offset such as `1 week`"),
                );
                None
            }
            None => {
                self.report(
                    Diagnostic::new(Code::InvalidDuration, format!("invalid {context}"))
                        .at(node.span, format!("`{}` is not a calendar offset", text.value))
                        .with_help(
                            "write a whole number and a calendar unit (hours, days, weeks, months, quarters, years), e.g. `1 week` or `12 months`",
                        ),
                );
                None
            }
        }
    }

    /// A calendar date `YYYY-MM-DD`.
    pub fn date(&mut self, node: &Node, context: &str) -> Option<Spanned<chrono::NaiveDate>> {
        let text = self.text(node, context)?;
        match chrono::NaiveDate::parse_from_str(text.value.trim(), "%Y-%m-%d") {
            Ok(d) => Some(Spanned::new(d, node.span)),
            Err(_) => {
                self.report(
                    Diagnostic::new(Code::InvalidLiteral, format!("invalid date for {context}"))
                        .at(node.span, format!("`{}` is not a date", text.value))
                        .with_help("write the date as YYYY-MM-DD, e.g. 2026-01-31"),
                );
                None
            }
        }
    }

    /// An expression written in a YAML scalar, with spans rebased onto the file.
    /// A sequence pattern, from a string.
    pub fn pattern(&mut self, node: &Node, context: &str) -> Option<Spanned<Vec<PatternItem>>> {
        let NodeKind::Str(value) = &node.kind else {
            self.wrong_type(node, "a pattern in text, such as `(?1).*(?2)`", context);
            return None;
        };
        let raw = self.raw(node);
        let map = if raw == value {
            OffsetMap::identity(node.span.start as usize, value.len())
        } else {
            OffsetMap::new(value, raw, node.span.start as usize)
        };
        let origin = Origin {
            file: self.file,
            map: &map,
        };
        match super::expr::parse_pattern(value, &origin) {
            Ok(items) => Some(Spanned::new(items, node.span)),
            Err(d) => {
                self.report(d);
                None
            }
        }
    }

    pub fn expr(&mut self, node: &Node, context: &str) -> Option<Expr> {
        let value = match &node.kind {
            NodeKind::Str(s) => s.clone(),
            NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => self.raw(node).to_string(),
            _ => {
                self.wrong_type(node, "an expression in text", context);
                return None;
            }
        };
        if value.trim().is_empty() {
            self.report(
                Diagnostic::new(Code::ExpressionSyntax, format!("{context} is empty"))
                    .at(node.span, "an expression is expected here"),
            );
            return None;
        }
        let raw = self.raw(node);
        let map = if raw == value {
            OffsetMap::identity(node.span.start as usize, value.len())
        } else {
            OffsetMap::new(&value, raw, node.span.start as usize)
        };
        match parse_expr(
            &value,
            &Origin {
                file: self.file,
                map: &map,
            },
        ) {
            Ok(e) => Some(e),
            Err(d) => {
                self.report(d);
                None
            }
        }
    }

    pub fn raw(&self, node: &Node) -> &'a str {
        self.text
            .get(node.span.start as usize..node.span.end as usize)
            .unwrap_or("")
    }
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    /// The span of a key, for "defined here" labels.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, _)| k.span)
    }

    /// The keys present, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &'n str> + '_ {
        self.entries.iter().map(|(k, _, _)| *k)
    }

    /// Where to point when something is missing: the first key, or the mapping.
    pub fn label_span(&self) -> Span {
        self.entries.first().map_or(self.span, |(_, k, _)| k.span)
    }
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A required value read with `read`; reports the missing key.
pub(super) fn required<T>(
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

/// A required key holding an expression, named after the key in messages.
pub(super) fn required_expr(
    cx: &mut Cx,
    f: &Fields,
    key: &str,
    context: &str,
    help: &str,
) -> Option<Expr> {
    required(cx, f, key, context, help, |cx, n| cx.expr(n, key))
}

/// A required key naming another metric.
pub(super) fn required_metric(
    cx: &mut Cx,
    f: &Fields,
    key: &str,
    context: &str,
    help: &str,
) -> Option<Name> {
    required(cx, f, key, context, help, |cx, n| cx.name(n, "metric name"))
}

/// An optional keyword with a default when absent.
pub(super) fn keyword_or<T: Copy>(
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
