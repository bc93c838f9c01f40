//! YAML text -> [`Node`] tree with a [`Span`] on every node, read with
//! serde-saphyr. The tree keeps duplicate keys and scalar raw text so the AST
//! builder can report every problem of a file, not only the first.

use crate::diagnostics::{Code, Diagnostic};
use crate::span::{FileId, Span};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Options, Spanned as YSpanned};

/// A YAML value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

/// The shapes a YAML value can take.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// Key/value pairs in file order; duplicates are kept (and reported later).
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl Node {
    /// A short noun for the node's shape, for "expected X, found Y" messages.
    pub fn shape(&self) -> &'static str {
        match self.kind {
            NodeKind::Map(_) => "a mapping",
            NodeKind::Seq(_) => "a list",
            NodeKind::Str(_) => "text",
            NodeKind::Int(_) | NodeKind::Float(_) => "a number",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Null => "nothing (null)",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// What serde-saphyr hands us: a node whose span is still in saphyr's terms.
struct Raw {
    kind: RawKind,
}

enum RawKind {
    Map(Vec<(YSpanned<Raw>, YSpanned<Raw>)>),
    Seq(Vec<YSpanned<Raw>>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw {
                    kind: RawKind::Str(v.to_string()),
                })
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
                Ok(Raw {
                    kind: RawKind::Str(v),
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw {
                    kind: RawKind::Int(v),
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw {
                    kind: i64::try_from(v).map_or(RawKind::Float(v as f64), RawKind::Int),
                })
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
                Ok(Raw {
                    kind: i64::try_from(v).map_or(RawKind::Float(v as f64), RawKind::Int),
                })
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
                Ok(Raw {
                    kind: i64::try_from(v).map_or(RawKind::Float(v as f64), RawKind::Int),
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw {
                    kind: RawKind::Float(v),
                })
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw {
                    kind: RawKind::Bool(v),
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
                Ok(Raw {
                    kind: RawKind::Null,
                })
            }
            fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
                Ok(Raw {
                    kind: RawKind::Null,
                })
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                Raw::deserialize(d)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
                Ok(Raw {
                    kind: RawKind::Str(String::from_utf8_lossy(v).into_owned()),
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(x) = s.next_element()? {
                    items.push(x);
                }
                Ok(Raw {
                    kind: RawKind::Seq(items),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(k) = m.next_key()? {
                    let v = m.next_value()?;
                    items.push((k, v));
                }
                Ok(Raw {
                    kind: RawKind::Map(items),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Deepest YAML nesting accepted.
pub const MAX_YAML_DEPTH: usize = 24;

fn options() -> Options {
    let mut o = Options::default();
    o.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    o.strict_booleans = true;
    o.with_snippet = false;
    // Definition files nest a handful of levels; a low limit keeps hostile
    // input (thousands of `[`) far from the stack's end.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_YAML_DEPTH;
    budget.flow_nesting_limit = MAX_YAML_DEPTH;
    o.budget = Some(budget);
    o
}

/// Parses one YAML document. An empty document gives `Ok(None)`.
pub fn parse(file: FileId, text: &str) -> Result<Option<Node>, Diagnostic> {
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(None);
    }
    match serde_saphyr::from_str_with_options::<YSpanned<Raw>>(text, options()) {
        Ok(raw) => Ok(Some(convert(file, text, raw))),
        Err(e) => {
            let offset = e
                .location()
                .and_then(|l| l.span().byte_offset())
                .map_or(text.len(), |o| o as usize)
                .min(text.len());
            let mut message = yaml_message(&e.without_snippet().to_string());
            // "unclosed bracket '[' at line 4, column 11": the cause is there, not
            // where the parser gave up; point at it.
            let mut offset = offset;
            if let Some((head, line, col)) = split_position(&message)
                && let Some(o) = offset_of(text, line, col)
            {
                offset = o;
                message = head;
            }
            let end = next_char_end(text, offset);
            Err(Diagnostic::new(Code::YamlSyntax, "malformed YAML")
                .at(Span::new(file, offset, end), message)
                .with_help("fix the YAML structure here; indentation and unclosed quotes or brackets are the usual causes"))
        }
    }
}

/// Splits "text at line L, column C" into its parts.
fn split_position(message: &str) -> Option<(String, usize, usize)> {
    let at = message.rfind(" at line ")?;
    let (head, tail) = message.split_at(at);
    let tail = tail.strip_prefix(" at line ")?;
    let (line, col) = tail.split_once(", column ")?;
    let col: String = col.chars().take_while(char::is_ascii_digit).collect();
    Some((
        head.to_string(),
        line.trim().parse().ok()?,
        col.parse().ok()?,
    ))
}

/// Byte offset of 1-based `line` and character `col`, if inside `text`.
fn offset_of(text: &str, line: usize, col: usize) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let line_text = text.get(start..)?.split('\n').next()?;
    let within = line_text
        .char_indices()
        .nth(col.checked_sub(1)?)
        .map_or(line_text.len(), |(i, _)| i);
    (start <= text.len()).then_some(start + within)
}

fn next_char_end(text: &str, offset: usize) -> usize {
    text[offset..]
        .chars()
        .next()
        .map_or(offset, |c| offset + c.len_utf8())
}

/// serde-saphyr's message, minus its own "line N column M" prefix (we show the span).
fn yaml_message(full: &str) -> String {
    let first = full.lines().next().unwrap_or(full);
    let trimmed = first.strip_prefix("error: ").unwrap_or(first);
    let msg = match trimmed.find(": ") {
        Some(i) if trimmed.starts_with("line ") => &trimmed[i + 2..],
        _ => trimmed,
    };
    msg.to_string()
}

fn convert(file: FileId, text: &str, raw: YSpanned<Raw>) -> Node {
    let loc = raw.referenced.span();
    let start = loc.byte_offset().map_or(0, |o| o as usize).min(text.len());
    let len = loc.byte_len().map_or(0, |l| l as usize);
    let mut span = Span::new(file, start, (start + len).min(text.len()));
    let kind = match raw.value.kind {
        RawKind::Map(items) => {
            let items: Vec<(Node, Node)> = items
                .into_iter()
                .map(|(k, v)| (convert(file, text, k), convert(file, text, v)))
                .collect();
            // Block mappings have an empty span at their start: widen to the content.
            if let (Some(first), Some(last)) = (items.first(), items.last()) {
                span = span.to(first.0.span).to(last.1.span);
            }
            NodeKind::Map(items)
        }
        RawKind::Seq(items) => {
            let items: Vec<Node> = items.into_iter().map(|x| convert(file, text, x)).collect();
            if let (Some(first), Some(last)) = (items.first(), items.last()) {
                span = span.to(first.span).to(last.span);
            }
            NodeKind::Seq(items)
        }
        RawKind::Str(s) => NodeKind::Str(s),
        RawKind::Int(i) => NodeKind::Int(i),
        RawKind::Float(f) => NodeKind::Float(f),
        RawKind::Bool(b) => NodeKind::Bool(b),
        RawKind::Null => NodeKind::Null,
    };
    Node { kind, span }
}
